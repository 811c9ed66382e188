//! The binary cross-entropies: per-element math only (the loops are in
//! [`crate::kernel`]). `x` is the input, `t` the target in [0, 1].

use crate::dd;
use crate::error::{require, LossError};
use crate::float::Float;
use crate::kernel::{Pointwise, Terms};

/// Binary cross-entropy on probabilities (PyTorch's `binary_cross_entropy`):
/// `−[t·log p + (1−t)·log(1−p)]`, each log clamped at ≥ −100; gradient
/// `(p−t)/max(p(1−p), 1e−12)`. Inputs outside [0, 1], or NaN, are rejected
/// before anything is written.
#[derive(Clone, Copy, Debug, Default)]
pub struct BinaryCrossEntropy;

impl<T: Float> Pointwise<T> for BinaryCrossEntropy {
    const HEAVY: bool = true;
    const CHECKS_INPUT: bool = true;

    #[inline(always)]
    fn valid_input(&self, p: T) -> bool {
        p >= T::ZERO && p <= T::ONE
    }

    #[inline(always)]
    fn eval(&self, p: T, t: T, _: T) -> Terms<T> {
        let floor = T::from_f64(-100.0);
        let eps = T::from_f64(1e-12);
        let log_p = p.ln();
        let log_q = (-p).ln_1p();
        let log_p = if log_p > floor { log_p } else { floor };
        let log_q = if log_q > floor { log_q } else { floor };
        let q = T::ONE - p;
        let pq = p * q;
        let den = if pq > eps { pq } else { eps };
        let p2 = p * p;
        let q2 = q * q;
        let one_t = T::ONE - t;
        Terms {
            // Written so that a certain prediction (p = t ∈ {0, 1}) gives +0.
            value: -t * log_p - one_t * log_q,
            grad: (p - t) / den,
            hess: t / (if p2 > eps { p2 } else { eps }) + one_t / (if q2 > eps { q2 } else { eps }),
        }
    }
}

/// Binary cross-entropy on logits with an optional `pos_weight` per column
/// (PyTorch's `binary_cross_entropy_with_logits`): with `c = 1 + (pw − 1)·t`,
/// `(1−t)·x + c·softplus(−x)`; exact at `x = ±inf` (`x = −inf, t = 0` gives 0).
#[derive(Clone, Copy, Debug, Default)]
pub struct BinaryCrossEntropyWithLogits<'a, T> {
    pos_weight: Option<&'a [T]>,
}

impl<'a, T: Float> BinaryCrossEntropyWithLogits<'a, T> {
    /// The loss with `pos_weight[j]` for the elements of column `j` (the
    /// elements whose flat index is `j` modulo `pos_weight.len()`, i.e. the
    /// last axis of a C-order array). Each must be finite and ≥ 0.
    pub fn new(pos_weight: Option<&'a [T]>) -> Result<Self, LossError> {
        for &w in pos_weight.unwrap_or(&[]) {
            require(
                w.is_finite() && w >= T::ZERO,
                "pos_weight",
                w.to_f64(),
                "finite pos_weight >= 0",
            )?;
        }
        Ok(Self { pos_weight })
    }
}

impl<T: Float> Pointwise<T> for BinaryCrossEntropyWithLogits<'_, T> {
    const HEAVY: bool = true;
    const HAS_COLUMNS: bool = true;

    fn columns(&self) -> Option<&[T]> {
        self.pos_weight
    }

    #[inline(always)]
    fn eval(&self, x: T, t: T, pw: T) -> Terms<T> {
        // e = e^(−|x|) ∈ (0, 1]: one exp serves softplus and both sigmoids.
        let e = (-x.abs()).exp();
        let soft = e.ln_1p(); // softplus(−|x|)
        let r = T::ONE / (T::ONE + e); // sig(|x|)
        let nonneg = x >= T::ZERO;
        let (sig_x, sig_neg_x) = if nonneg { (r, e * r) } else { (e * r, r) };
        let (p, q) = grad_terms(x, t, pw, e);
        let one_t = T::ONE - t;
        // c = 1 + (pw − 1)·t, as two terms of one sign (no cancellation for
        // a small pw).
        let c = one_t + pw * t;
        // softplus(−x) = softplus(−|x|) + max(−x, 0), so the value is
        // k·x + c·softplus(−|x|) with k = 1−t (x ≥ 0) or −pw·t (x < 0): two
        // terms of one sign (no cancellation), and k = 0 drops an infinite x.
        let k = if nonneg { one_t } else { -(pw * t) };
        let kx = if k == T::ZERO { T::ZERO } else { k * x };
        Terms {
            value: kx + c * soft,
            grad: r * (p - q),
            hess: c * sig_x * sig_neg_x,
        }
    }

    /// `f32` only: for `f64` the fast formula stands (see the README on
    /// accuracy).
    const REFINES_GRAD: bool = T::MANTISSA_DIGITS <= 24;

    #[inline(always)]
    fn grad_cancels(&self, x: T, t: T, pw: T) -> bool {
        let (p, q) = grad_terms(x, t, pw, (-x.abs()).exp());
        let d = (p - q).abs();
        // |p − q| < max(p, q)·2/3: from there on the rounding errors of p
        // and q, amplified by the cancellation, could exceed the ulp bound.
        let m = if p > q { p } else { q };
        d + d + d < m + m
    }

    /// The same formula in `f64`, where `1 − t` and `pw·t` are exact for
    /// `f32` inputs: good to 1 ulp of `f32` until the difference cancels to
    /// 2^-24 of its terms.
    #[inline(always)]
    fn precise_grad(&self, x: T, t: T, pw: T) -> (T, bool) {
        let (x, t, pw) = (x.to_f64(), t.to_f64(), pw.to_f64());
        let e = crate::math::exp_f64(-x.abs());
        let (p, q) = grad_terms(x, t, pw, e);
        let d = p - q;
        let m = if p > q { p } else { q };
        let g = d / (1.0 + e);
        (T::from_f64(g), d.abs() < m * (1.0 / 16_777_216.0))
    }

    /// `sig(|x|)·(p − q)` with `p − q` in double-double: `1 − t` and
    /// `pw·t` exactly, `e^(−|x|)` to about 2^-104, scaled by powers of two so
    /// that nothing under- or overflows where the difference cancels.
    fn deep_grad(&self, x: T, t: T, pw: T) -> T {
        let (x, t, pw) = (x.to_f64(), t.to_f64(), pw.to_f64());
        let a = dd::one_minus(t);
        let b = dd::two_prod(pw, t);
        // e^(−|x|) = 2^k·m.
        let (m, k) = dd::exp(-x.abs());
        let r = 1.0 / (1.0 + dd::ldexp(m, k).hi);
        if x >= 0.0 {
            // (1 − t) − pw·t·e
            let d = dd::add(a, dd::neg(dd::mul(dd::ldexp(b, k), m)));
            T::from_f64(r * d.hi)
        } else {
            // 2^k·((1 − t)·m − pw·t·2^−k)
            let d = dd::add(dd::mul(a, m), dd::neg(dd::ldexp(b, -k)));
            T::from_f64(dd::ldexp(dd::Dd::new(r * d.hi), k).hi)
        }
    }
}

/// The gradient `(1−t)·sig(x) − pw·t·sig(−x)` is `sig(|x|)·(p − q)`, with
/// `(p, q) = (1−t, pw·t·e)` for `x ≥ 0` and `((1−t)·e, pw·t)` below, where
/// `e = e^(−|x|)`: one subtraction, which cancels only next to the
/// gradient's zero `x* = ln(pw·t/(1−t))` (see `grad_cancels`).
#[inline(always)]
fn grad_terms<T: Float>(x: T, t: T, pw: T, e: T) -> (T, T) {
    let (a, b) = (T::ONE - t, pw * t);
    if x >= T::ZERO {
        (a, b * e)
    } else {
        (a * e, b)
    }
}

/// Scalar `f64` references (libm), `(value, grad, hess)`.
pub mod scalar {
    /// [`super::BinaryCrossEntropy`].
    pub fn binary_cross_entropy_scalar(p: f64, t: f64) -> (f64, f64, f64) {
        let lp = p.ln().max(-100.0);
        let lq = (-p).ln_1p().max(-100.0);
        let den = (p * (1.0 - p)).max(1e-12);
        let h = t / (p * p).max(1e-12) + (1.0 - t) / ((1.0 - p) * (1.0 - p)).max(1e-12);
        (-(t * lp + (1.0 - t) * lq), (p - t) / den, h)
    }

    /// [`super::BinaryCrossEntropyWithLogits`] with `pos_weight = pw`.
    pub fn binary_cross_entropy_with_logits_scalar(x: f64, t: f64, pw: f64) -> (f64, f64, f64) {
        let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
        // softplus(−x) = max(−x, 0) + log1p(e^(−|x|))
        let soft = (-x.abs()).exp().ln_1p(); // softplus(−|x|)
        let c = (1.0 - t) + pw * t;
        // softplus(−x) = softplus(−|x|) + max(−x, 0): the linear part is
        // (1−t)·x for x ≥ 0 and −pw·t·x below; a zero factor drops an
        // infinite x.
        let k = if x >= 0.0 { 1.0 - t } else { -pw * t };
        let v = if k == 0.0 { 0.0 } else { k * x } + c * soft;
        (
            v,
            (1.0 - t) * sig(x) - pw * t * sig(-x),
            c * sig(x) * sig(-x),
        )
    }
}
