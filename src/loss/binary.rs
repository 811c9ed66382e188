//! The binary cross-entropies: per-element math only (the loops are in
//! [`crate::kernel`]). `x` is the input, `t` the target in [0, 1].

use crate::dd;
use crate::error::{require, LossError};
use crate::fixed;
use crate::float::{horner, Float};
use crate::kernel::{Columns, Pointwise, Terms};
use crate::math::ln_pair_f64;

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
        let (log_p, log_q) = log_p_and_q(p);
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

/// Binary cross-entropy on logits with an optional `pos_weight`, broadcast
/// to the input (PyTorch's `binary_cross_entropy_with_logits`): with
/// `c = 1 + (pw − 1)·t`, `(1−t)·x + c·softplus(−x)`; exact at `x = ±inf`
/// (`x = −inf, t = 0` gives 0).
#[derive(Clone, Copy, Debug, Default)]
pub struct BinaryCrossEntropyWithLogits<'a, T> {
    pos_weight: Option<Columns<'a, T>>,
}

impl<'a, T: Float> BinaryCrossEntropyWithLogits<'a, T> {
    /// The loss with `pos_weight[j]` for the elements of column `j` (the
    /// elements whose flat index is `j` modulo `pos_weight.len()`, i.e. the
    /// last axis of a C-order array). Each must be finite (negative values
    /// are weights too, as in PyTorch).
    pub fn new(pos_weight: Option<&'a [T]>) -> Result<Self, LossError> {
        Self::with_pos_weight(pos_weight.map(Columns::repeating))
    }

    /// The loss with `pos_weight` read through broadcasting (see
    /// [`Columns::broadcast`]: a scalar, one per element of the last axis,
    /// or any shape that broadcasts to the input's). Each must be finite.
    pub fn with_pos_weight(pos_weight: Option<Columns<'a, T>>) -> Result<Self, LossError> {
        for &w in pos_weight.as_ref().map_or(&[][..], Columns::values) {
            require(w.is_finite(), "pos_weight", w.to_f64(), "finite pos_weight")?;
        }
        Ok(Self { pos_weight })
    }
}

impl<T: Float> Pointwise<T> for BinaryCrossEntropyWithLogits<'_, T> {
    const HEAVY: bool = true;
    const HAS_COLUMNS: bool = true;

    fn columns(&self) -> Option<&Columns<'_, T>> {
        self.pos_weight.as_ref()
    }

    #[inline(always)]
    fn eval(&self, x: T, t: T, pw: T) -> Terms<T> {
        // e = e^(−|x|) ∈ (0, 1]: one exp serves softplus and both sigmoids.
        let e = (-x.abs()).exp();
        let soft = softplus_tail(e); // softplus(−|x|) = ln(1 + e)
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
        // terms of one sign (no cancellation), and a zero factor of k drops
        // an infinite x.
        let kx = if nonneg {
            if one_t == T::ZERO {
                T::ZERO
            } else {
                one_t * x
            }
        } else if pw == T::ZERO || t == T::ZERO {
            T::ZERO
        } else {
            -tiny_safe_product(pw, t, x)
        };
        Terms {
            value: kx + c * soft,
            grad: r * (p - q),
            hess: c * sig_x * sig_neg_x,
        }
    }

    const REFINES_GRAD: bool = true;

    #[inline(always)]
    fn grad_cancels(&self, x: T, t: T, pw: T) -> bool {
        let (p, q) = grad_terms(x, t, pw, (-x.abs()).exp());
        let d = (p - q).abs();
        // |p − q| < max(p, q)·2/3: from there on the rounding errors of p
        // and q, amplified by the cancellation, could exceed the ulp bound.
        let m = if p > q { p } else { q };
        d + d + d < m + m
    }

    /// `p − q` again, to a precision that survives its cancellation: with
    /// `e^(−|x|) = 2^k·(1 + ε)` (`dd::exp_parts`) and `1 − t`, `pw·t` exact
    /// in double-double, `(1 − t) − pw·t·2^k − pw·t·2^k·ε` for `x ≥ 0` and
    /// `2^k·((1 − t) − pw·t·2^−k + (1 − t)·ε)` below, summed so that nothing
    /// but `ε`'s own error is rounded above 2^-100 of the terms (the
    /// difference of the two exact ones is exact). That error is within
    /// 2^-117 of `ε` for `f64` (2^-68 for `f32`), plus 2^-121 (2^-72) of the
    /// terms where `k ≠ 0`, so the difference is good to 2^-54 of itself
    /// (2^-26) until it cancels below 2^-61 (2^-40) of `z·ε`, its last
    /// term, or 2^-65 (2^-44) of the terms: then `deep_grad` answers. All
    /// branch-free, in `f64` for both types.
    #[inline(always)]
    fn precise_grad(&self, x: T, t: T, pw: T) -> (T, bool) {
        let wide = T::MANTISSA_DIGITS > 24;
        let (x, t, pw) = (x.to_f64(), t.to_f64(), pw.to_f64());
        let (eps, k) = if wide {
            dd::exp_parts::<true>(-x.abs())
        } else {
            dd::exp_parts::<false>(-x.abs())
        };
        let neg = x < 0.0;
        let a = dd::one_minus(t);
        let q = dd::ldexp(dd::two_prod(pw, t), if neg { -k } else { k });
        // The difference is (a − q) + z·ε.
        let z = if neg { a } else { dd::neg(q) };
        let zeps = z.hi.abs() * (eps.hi + eps.mid).abs();
        let (d, deep) = if wide {
            // Level by level: the exact sums of the terms' high parts, then
            // of everything about 2^-53 of them, then the rest, below 2^-100.
            let d0 = dd::two_sum(a.hi, -q.hi);
            let d1 = dd::two_sum(a.lo, -q.lo);
            let p0 = dd::two_prod(z.hi, eps.hi);
            let p1 = dd::two_prod(z.hi, eps.mid);
            let p2 = dd::two_prod(z.lo, eps.hi);
            let s = dd::two_sum(d0.hi, p0.hi);
            let u1 = dd::two_sum(s.lo, d0.lo);
            let u2 = dd::two_sum(u1.hi, d1.hi);
            let u3 = dd::two_sum(u2.hi, p0.lo);
            let u4 = dd::two_sum(u3.hi, p1.hi);
            let u5 = dd::two_sum(u4.hi, p2.hi);
            let rest = (d1.lo + p1.lo + p2.lo)
                + (z.hi * eps.lo + z.lo * eps.mid)
                + (u1.lo + u2.lo + u3.lo + u4.lo + u5.lo);
            let h = dd::two_sum(s.hi, u5.hi);
            let d = dd::fast_two_sum(h.hi, h.lo + rest);
            // Without a reduction (k = 0) ε's error is relative to it.
            let floor = if k == 0.0 {
                dd::pow2i(-100)
            } else {
                dd::pow2i(-65)
            };
            (d, d.hi.abs() < zeps * dd::pow2i(-61) + z.hi.abs() * floor)
        } else {
            let d0 = dd::two_sum(a.hi, -q.hi);
            let p0 = dd::two_prod(z.hi, eps.hi);
            let s = dd::two_sum(d0.hi, p0.hi);
            let rest = (s.lo + d0.lo + (a.lo - q.lo) + p0.lo) + (z.hi * eps.mid + z.lo * eps.hi);
            let d = dd::Dd::new(s.hi + rest);
            let floor = if k == 0.0 {
                dd::pow2i(-76)
            } else {
                dd::pow2i(-44)
            };
            let bound = zeps * dd::pow2i(-40) + z.hi.abs() * floor;
            (d, d.hi.abs() < bound)
        };
        // d / (1 + e^(−|x|)), the sum in double-double: rounded once but for
        // 2^-100.
        let one_eps = dd::two_sum(1.0, eps.hi);
        let e = dd::ldexp(
            dd::Dd {
                hi: one_eps.hi,
                lo: one_eps.lo + eps.mid,
            },
            k,
        );
        let den = dd::two_sum(1.0, e.hi);
        let g = dd::div(
            d,
            dd::Dd {
                hi: den.hi,
                lo: den.lo + e.lo,
            },
        );
        let g = if neg {
            dd::ldexp(dd::Dd::new(g), k).hi
        } else {
            g
        };
        (T::from_f64(g), deep)
    }

    /// `sig(|x|)·(p − q)` with `p − q` in more precision still. For
    /// `|x| < 0.34`, where `e^(−|x|) = 1 + ε` needs no reduction and `ε` is
    /// within 2^-118 of itself (the closer the smaller it is), as
    /// `(1 − t) − pw·t + z·ε` summed exactly from its exact parts: next to a
    /// zero close to 0 the difference can cancel to 2^-110 of its terms
    /// (`pw·t` an ulp from `1 − t`, `x` an ulp from `x*`). Elsewhere in
    /// 126-bit fixed point, both terms scaled by a power of two into
    /// [0, 1/2) (`e^(−|x|)` to 2^-120).
    fn deep_grad(&self, input: T, target: T, column: T) -> T {
        let (x, t, pw) = (input.to_f64(), target.to_f64(), column.to_f64());
        let a = dd::one_minus(t);
        let b = dd::two_prod(pw, t);
        if a.hi == 0.0 || b.hi == 0.0 || !x.is_finite() {
            // One term only: nothing cancels.
            return self.eval(input, target, column).grad;
        }
        let (eps, k) = dd::exp_parts::<true>(-x.abs());
        if k == 0.0 {
            // (1 − t) − pw·t + z·ε with z = 1 − t (x < 0) or −pw·t, each
            // product as its exact two parts where they matter.
            let z = if x < 0.0 { a } else { dd::neg(b) };
            let (p0, p1, p2) = (
                dd::two_prod(z.hi, eps.hi),
                dd::two_prod(z.hi, eps.mid),
                dd::two_prod(z.lo, eps.hi),
            );
            let d = dd::sum_exact(&[
                a.hi,
                -b.hi,
                a.lo,
                -b.lo,
                p0.hi,
                p0.lo,
                p1.hi,
                p1.lo,
                p2.hi,
                p2.lo,
                z.hi * eps.lo,
                z.lo * eps.mid,
            ]);
            let den = dd::two_sum(2.0, eps.hi);
            let den = dd::Dd {
                hi: den.hi,
                lo: den.lo + eps.mid,
            };
            return T::from_f64(dd::div(dd::Dd::new(d), den));
        }
        // e^(−|x|) = 2^k·m; 2^s·max(p, q) ∈ [1/4, 1/2).
        let (m, k) = fixed::exp(-x.abs());
        let e = dd::ldexp(dd::Dd::new(fixed::to_f64(m)), k).hi;
        let (p, q) = grad_terms(x, t, pw, e);
        let big = if p > q { p } else { q };
        let s = 1021.0 - ((big.to_bits() >> 52) & 0x7ff) as f64;
        let fix = |v: dd::Dd, j: f64| {
            let v = dd::ldexp(v, j);
            fixed::from_f64(v.hi) + fixed::from_f64(v.lo)
        };
        // x ≥ 0: 2^s·((1 − t) − pw·t·2^k·m);  x < 0: 2^s·((1 − t)·2^k·m − pw·t).
        let d = if x >= 0.0 {
            fix(a, s) - fixed::mul(fix(b, k + s), m)
        } else {
            fixed::mul(fix(a, k + s), m) - fix(b, s)
        };
        let d = dd::ldexp(dd::Dd::new(fixed::to_f64(d)), -s).hi;
        T::from_f64(d / (1.0 + e))
    }
}

/// `a·b·x` where `a·b` may fall below the normals (a subnormal target or
/// pos_weight) while the product with `x` does not: then
/// `((a·2^s)·(b·2^s))·x·2^-2s` with `s` the mantissa's width plus one, normal
/// all the way unless `a·b` is below 2^-2s of the smallest normal (where
/// only a logit beyond 2^2s would bring the result back into the normals).
/// It cannot overflow: `a·b·2^2s·|x|` stays below `2^2s·MIN_POSITIVE·MAX`.
#[inline(always)]
fn tiny_safe_product<T: Float>(a: T, b: T, x: T) -> T {
    let ab = a * b;
    let s = T::from_f64(f64::from_bits(
        (1023 + u64::from(T::MANTISSA_DIGITS) + 1) << 52,
    ));
    let inv = T::ONE / s;
    if ab >= T::MIN_POSITIVE {
        ab * x
    } else if x.abs() == T::INFINITY {
        // An infinite logit: a·b ≠ 0 (the callers drop a zero factor), so
        // the product is infinite, of the signs' product, however far a·b
        // underflows (where the scaled product would be 0·inf).
        if (a < T::ZERO) != (b < T::ZERO) {
            T::ZERO - x
        } else {
            x
        }
    } else {
        (((a * s) * (b * s)) * x) * inv * inv
    }
}

/// `−ln(1 − u)/u` on `[0, 1/2]` for `f32`: a Chebyshev fit of degree 10,
/// 2^-28.5 relative with the coefficients rounded.
const LOG1M_HALF_F32: [f64; 11] = [
    1.0,
    0.499_999_761_581_420_9,
    0.333_351_343_870_162_96,
    0.249_448_746_442_794_8,
    0.208_572_626_113_891_6,
    0.089_877_322_316_169_74,
    0.564_341_485_500_335_7,
    -1.323_357_939_720_153_8,
    3.177_077_770_233_154_3,
    -3.617_401_838_302_612_3,
    2.157_331_228_256_225_6,
];

/// `(ln p, ln(1 − p))` for `p ∈ [0, 1]`. With `u = min(p, 1 − p)` (exact),
/// one is `ln u` and the other `ln(1 − u)`; for `f32` the latter is
/// `−u·P(u)`, a polynomial (no division), for `f64` both come from
/// [`ln_pair_f64`] (one division for the two).
#[inline(always)]
fn log_p_and_q<T: Float>(p: T) -> (T, T) {
    let low = p <= T::HALF;
    let u = if low { p } else { T::ONE - p };
    let (log_u, log_1mu) = if T::MANTISSA_DIGITS > 24 {
        let (a, b) = ln_pair_f64(u.to_f64());
        (T::from_f64(a), T::from_f64(b))
    } else {
        (u.ln(), -u * horner(u, &LOG1M_HALF_F32))
    };
    if low {
        (log_u, log_1mu)
    } else {
        (log_1mu, log_u)
    }
}

/// `ln(1 + e)/e` on `[0, 1]` for `f32`: a Chebyshev fit of degree 10,
/// 2^-28.8 relative with the coefficients rounded.
const LOG1P_UNIT_F32: [f64; 11] = [
    1.0,
    -0.499_999_791_383_743_3,
    0.333_324_968_814_849_85,
    -0.249_864_965_677_261_35,
    0.198_858_201_503_753_66,
    -0.160_876_229_405_403_14,
    0.123_779_959_976_673_13,
    -0.081_880_405_545_234_68,
    0.041_006_572_544_574_74,
    -0.013_187_826_611_101_627,
    0.001_986_696_617_677_808,
];

/// `ln(1 + e)` for `e = e^(−|x|) ∈ [0, 1]`: for `f32` a polynomial times `e`
/// (no division, no range reduction), for `f64` the general `log1p`.
#[inline(always)]
fn softplus_tail<T: Float>(e: T) -> T {
    if T::MANTISSA_DIGITS > 24 {
        return e.ln_1p();
    }
    e * horner(e, &LOG1P_UNIT_F32)
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

    /// `σ(z)` with libm, never through `e^z` for `z > 0`, which overflows
    /// first: `σ(−709.8)` is 5e-309, not `1/(1 + inf) = 0`.
    pub fn sigmoid(z: f64) -> f64 {
        if z >= 0.0 {
            1.0 / (1.0 + (-z).exp())
        } else {
            let e = z.exp();
            e / (1.0 + e)
        }
    }

    /// [`super::BinaryCrossEntropyWithLogits`] with `pos_weight = pw`.
    pub fn binary_cross_entropy_with_logits_scalar(x: f64, t: f64, pw: f64) -> (f64, f64, f64) {
        // softplus(−x) = max(−x, 0) + log1p(e^(−|x|))
        let soft = (-x.abs()).exp().ln_1p(); // softplus(−|x|)
        let c = (1.0 - t) + pw * t;
        // softplus(−x) = softplus(−|x|) + max(−x, 0): the linear part is
        // (1−t)·x for x ≥ 0 and −pw·t·x below; a zero factor drops an
        // infinite x.
        let kx = if x >= 0.0 {
            if t == 1.0 {
                0.0
            } else {
                (1.0 - t) * x
            }
        } else if pw == 0.0 || t == 0.0 {
            0.0
        } else {
            // pw·t below the normals has lost bits: scaled out of them.
            -super::tiny_safe_product(pw, t, x)
        };
        let v = kx + c * soft;
        (
            v,
            (1.0 - t) * sigmoid(x) - pw * t * sigmoid(-x),
            c * sigmoid(x) * sigmoid(-x),
        )
    }
}
