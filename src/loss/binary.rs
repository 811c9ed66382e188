//! The binary cross-entropies: per-element math only (the loops are in
//! [`crate::kernel`]). `x` is the input, `t` the target in [0, 1].

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
        let r = T::ONE / (T::ONE + e);
        let nonneg = x >= T::ZERO;
        let (sig_x, sig_neg_x) = if nonneg { (r, e * r) } else { (e * r, r) };
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
            grad: one_t * sig_x - pw * t * sig_neg_x,
            hess: c * sig_x * sig_neg_x,
        }
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
