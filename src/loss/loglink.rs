//! The log-link losses of counts and positive amounts (scikit-learn's
//! `HalfPoissonLoss`, `HalfGammaLoss`, `HalfTweedieLoss`): per-element math
//! only (the loops are in [`crate::kernel`]). The input `η` is the log of the
//! predicted mean, `y` the target.
//!
//! The wide path computes in `f64`: an `f32` element then rounds once, at
//! the end, and an `f64` one gets its exponentials with the rounding error
//! of their argument carried (`math::exp_mul_f64`). The differences that
//! cancel (every gradient next to its zero `η = ln y`, Poisson's value for
//! `y > e` and Gamma's for `y < 1/e` next to theirs) are marked per lane and
//! computed again in double-double, as the binary cross-entropy's gradient
//! is.
//!
//! `f32` elements first take a fast tier in `f32` lanes (twice the lanes of
//! `f64`, and an `f32` exponential): `e^x` as a pair good to 2^-31.5
//! (`math::exp_pair_f32`), the products split exactly with FMAs, so that a
//! difference is within its ulp bound unless it cancelled below 2^-7 of its
//! larger term (`FAST_CANCEL`). Those lanes, and those whose exponential or
//! products leave the range where the pair is exact, are marked through the
//! same refinement hooks and take the wide path (and its own refinement).

use crate::dd::{self, Dd};
use crate::error::{require, LossError};
use crate::float::Float;
use crate::kernel::{Pointwise, TargetDomain, Terms};
use crate::math::{exp_f32, exp_f64, exp_mul_f64, exp_pair_f32, frexp_f64};

/// Whether `a − b` (`a, b ≥ 0`, `d = |a − b|`) cancelled beyond what the
/// `f64` terms carry for `T`: for `f64`, below 2/3 of the larger term (from
/// there the terms' own ulp, amplified, could exceed the bound); for `f32`,
/// below 2^-26 of it (the `f64` errors are then still below 2^-26 of `d`).
#[inline(always)]
fn cancels<T: Float>(d: f64, a: f64, b: f64) -> bool {
    let m = if a > b { a } else { b };
    if T::MANTISSA_DIGITS > 24 {
        d + d + d < m + m
    } else {
        d * dd::pow2i(26) < m
    }
}

/// Whether `a − b`, computed from terms good to 2^-68 of themselves (the
/// `f64` fast paths of Poisson and Gamma) or rounded to `f64` (`f32`), lost
/// more than 2^-12 (2^-26) of them: only then are its errors near an ulp.
#[inline(always)]
fn cancels_wide<T: Float>(d: f64, a: f64, b: f64) -> bool {
    let m = if a > b { a } else { b };
    let bits = if T::MANTISSA_DIGITS > 24 { 12 } else { 26 };
    d * dd::pow2i(bits) < m
}

/// The `f32` fast tier's differences are kept where they are at least
/// 1/`FAST_CANCEL` of their larger term: its terms' error (2^-31.5 of
/// them) is then below 2^-24.5 of the difference, under 0.71 ulp, and the
/// result within 1.25 ulp after its rounding.
const FAST_CANCEL: f32 = 128.0;

/// Where the fast tier's exponential pair is exact in its scaling (its
/// argument's range) and its products are far from overflow.
const FAST_EXP_LOW: f32 = -80.0;
const FAST_EXP_HIGH: f32 = 88.0;
const FAST_PRODUCT_MAX: f32 = 1.329_228e36; // about 2^120 (the nearest f32 to that literal)

/// Whether `e^x` is in the fast tier's range. `&`, not `&&` (nor
/// `RangeInclusive::contains`): short-circuit branches in the lane loop
/// kept it from vectorizing.
#[allow(clippy::manual_range_contains)]
#[inline(always)]
fn in_fast_range(x: f32) -> bool {
    (x >= FAST_EXP_LOW) & (x <= FAST_EXP_HIGH)
}

/// `a + b` as a rounded sum and its exact error (any order of magnitude).
#[inline(always)]
fn two_sum_f32(a: f32, b: f32) -> (f32, f32) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `v` as the `f32` it is: only called where `T` is `f32` (a widening and
/// a narrowing the compiler folds away).
#[inline(always)]
fn narrow<T: Float>(v: T) -> f32 {
    v.to_f64() as f32
}

/// The larger of two non-negative values.
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// The `f32` fast tier's answers, and which of them it keeps (the others
/// are the wide path's).
#[derive(Clone, Copy)]
struct Fast {
    value: f32,
    grad: f32,
    hess: f32,
    value_kept: bool,
    grad_kept: bool,
    hess_kept: bool,
}

/// Poisson's fast `f32` tier.
#[inline(always)]
fn poisson_fast(x: f32, y: f32) -> Fast {
    let (e, el) = exp_pair_f32(x);
    let inside = in_fast_range(x);
    // y·η exactly (0 for y = 0); below the normals its error is below the
    // ulp of any difference that keeps 2^-7 of e^η ≥ e^−80.
    let p = y * x;
    let pl = y.mul_add(x, -p);
    let (vs, vl) = two_sum_f32(e, -p);
    let v = vs + ((vl + el) - pl);
    let (gs, gl) = two_sum_f32(e, -y);
    let g = gs + (gl + el);
    // `&`, not `&&` (see `in_fast_range`).
    let v_ok =
        inside & (p.abs() <= FAST_PRODUCT_MAX) & (v.abs() * FAST_CANCEL >= larger(e, p.abs()));
    let g_ok = inside & (g.abs() * FAST_CANCEL >= larger(e, y));
    Fast {
        value: v,
        grad: g,
        // e^η is within an ulp over the whole range on its own.
        hess: exp_f32(x),
        value_kept: v_ok,
        grad_kept: g_ok,
        hess_kept: true,
    }
}

/// Gamma's fast `f32` tier.
#[inline(always)]
fn gamma_fast(x: f32, y: f32) -> Fast {
    let (e, el) = exp_pair_f32(-x);
    let inside = in_fast_range(-x);
    // y·e^−η exactly in its leading parts: y normal and the product well
    // inside the normals (its error is then representable).
    let q = y * e;
    let ql = y.mul_add(e, -q) + y * el;
    let q_ok = inside
        & (y >= f32::MIN_POSITIVE)
        & (q >= f32::MIN_POSITIVE * (1u64 << 26) as f32)
        & (q <= FAST_PRODUCT_MAX);
    let (vs, vl) = two_sum_f32(x, q);
    let v = vs + (vl + ql);
    let (gs, gl) = two_sum_f32(1.0, -q);
    let g = gs + (gl - ql);
    let v_ok = q_ok & (v.abs() * FAST_CANCEL >= larger(x.abs(), q));
    let g_ok = q_ok & (g.abs() * FAST_CANCEL >= larger(1.0, q));
    Fast {
        value: v,
        grad: g,
        hess: q + ql,
        value_kept: v_ok,
        grad_kept: g_ok,
        hess_kept: q_ok,
    }
}

/// `e^x` as `hi + lo` to 2^-68 of itself (`dd::exp_parts` without its
/// widest terms): cheap enough for every element, precise enough that a
/// difference with it cancels into the ulp bound only at 2^-12 of its terms.
#[inline(always)]
fn exp_pair(x: f64) -> Dd {
    let x = if x > 1000.0 { 1000.0 } else { x };
    let (eps, k) = dd::exp_parts::<false>(x);
    let s = dd::two_sum(1.0, eps.hi);
    dd::ldexp(dd::fast_two_sum(s.hi, s.lo + eps.mid), k)
}

/// `y·e^x` as `hi + lo` to 2^-68 of itself, `y > 0` finite: `y = m·2^j`,
/// the product `m·(1 + ε)` exact in its leading parts, then scaled.
#[inline(always)]
fn mul_exp_pair(y: f64, x: f64) -> Dd {
    // From 1500 on, y·e^x overflows whatever y (the smallest is e^−745).
    let x = if x > 1500.0 { 1500.0 } else { x };
    let (eps, k) = dd::exp_parts::<false>(x);
    let (m, j) = frexp_f64(y);
    let p = dd::two_prod(m, eps.hi);
    let s = dd::two_sum(m, p.hi);
    let q = dd::fast_two_sum(s.hi, s.lo + (p.lo + m * eps.mid));
    // Beyond ±2040 the result is inf or 0 whatever the scaling; below
    // x = −1500 it is 0 whatever y (the largest is e^709.8).
    let e = k + j;
    let e = if e > 2040.0 { 2040.0 } else { e };
    let e = if e < -2040.0 || x < -1500.0 {
        -2040.0
    } else {
        e
    };
    dd::ldexp(q, e)
}

/// `e^x` as Poisson's fast path has it (its leading part, for `f64`).
#[inline(always)]
fn poisson_exp<T: Float>(x: f64) -> f64 {
    if T::MANTISSA_DIGITS > 24 {
        exp_pair(x).hi
    } else {
        exp_f64(x)
    }
}

/// `hi + lo` rounded, or `hi` where it is infinite (its `lo` is then NaN or
/// infinite, and means nothing).
#[inline(always)]
fn fin(hi: f64, lo: f64) -> f64 {
    if hi.abs() < f64::INFINITY {
        hi + lo
    } else {
        hi
    }
}

/// `y·x` exactly, as two parts (0 for `y = 0`, also at `x = ±inf`).
#[inline(always)]
fn product(y: f64, x: f64) -> Dd {
    let p = dd::two_prod(y, x);
    if y == 0.0 {
        Dd::new(0.0)
    } else if p.hi.abs() < f64::INFINITY {
        p
    } else {
        Dd::new(p.hi)
    }
}

/// `e^a` in double-double (to about 2^-104 of itself), for `a ≥ −1500`,
/// times `2^j`.
#[inline(always)]
fn exp_dd(a: f64, j: f64) -> Dd {
    let (eps, k) = dd::exp_parts::<true>(a);
    let s = dd::two_sum(1.0, eps.hi);
    let e = dd::fast_two_sum(s.hi, s.lo + (eps.mid + eps.lo));
    dd::ldexp(e, k + j)
}

/// `y·e^a` in double-double (to about 2^-104 of itself), `y > 0` finite,
/// `a ≥ −1500`: `y = m·2^j`, `m ∈ [1, 2)`, so that the products are exact
/// whatever `y` (subnormal or near the largest float).
#[inline(always)]
fn mul_exp_dd(y: f64, a: f64) -> Dd {
    let (eps, k) = dd::exp_parts::<true>(a);
    let (m, j) = frexp_f64(y);
    let p = dd::two_prod(m, eps.hi);
    let s = dd::two_sum(m, p.hi);
    let q = dd::fast_two_sum(s.hi, s.lo + (p.lo + m * (eps.mid + eps.lo)));
    dd::ldexp(q, k + j)
}

/// Whether a double-double difference `d` of terms up to `m` cancelled
/// below 2^-48 of them, where its 2^-106 no longer makes 4 ulp: then the
/// scalar exact sum answers (`deep_grad`).
#[inline(always)]
fn too_deep(d: f64, m: f64) -> bool {
    d.abs() < m * dd::pow2i(-48)
}

/// `2^s·(1 + ε)` as the terms of an exact sum (each part scaled exactly but
/// where it falls below the normals, far beneath the sum's result).
fn exp_terms(eps: dd::Td, s: f64) -> [f64; 4] {
    let scale = |v: f64| dd::ldexp(Dd::new(v), s).hi;
    [scale(1.0), scale(eps.hi), scale(eps.mid), scale(eps.lo)]
}

/// `hi − lo` of a double-double, rounded once (but for 2^-104).
#[inline(always)]
fn dd_sub(a: Dd, b: Dd) -> f64 {
    let s = dd::two_sum(a.hi, -b.hi);
    s.hi + (s.lo + (a.lo - b.lo))
}

/// `c·x` as a rounded product and, for `f64`, its rounding error (0 where
/// the product is infinite: `e^(±inf)` needs no correction).
#[inline(always)]
fn scaled_arg<T: Float>(c: f64, x: f64) -> (f64, f64) {
    let a = c * x;
    if T::MANTISSA_DIGITS > 24 {
        let lo = c.mul_add(x, -a);
        (a, if a.abs() < f64::INFINITY { lo } else { 0.0 })
    } else {
        (a, 0.0)
    }
}

/// What each log-link loss supplies to the `eval` and refinement hooks that
/// `tiered!` writes for all three: the `f32` fast tier, the wide path and
/// its cancellation tests, and the answers for where the wide path
/// cancelled too.
trait Tiered {
    /// The `f32` fast tier.
    fn fast(&self, x: f32, y: f32) -> Fast;

    /// The wide path: every type in `f64` (see the module's docs).
    fn wide<T: Float>(&self, x: T, y: T) -> Terms<T>;

    /// Whether [`wide`](Self::wide)'s value cancelled past its bound.
    fn wide_value_cancels<T: Float>(&self, x: T, y: T) -> bool;

    /// Whether [`wide`](Self::wide)'s gradient cancelled past its bound.
    fn wide_grad_cancels<T: Float>(&self, x: T, y: T) -> bool;

    /// The value where the wide path's cancelled.
    fn cancelled_value<T: Float>(&self, x: T, y: T) -> T;

    /// The gradient in double-double where the wide path's cancelled, and
    /// whether that cancelled below its own bound (`too_deep`).
    fn dd_grad<T: Float>(&self, x: T, y: T) -> (T, bool);
}

/// `eval` and the refinement hooks of a [`Tiered`] loss, inside its
/// `Pointwise` impl. `f64` takes the wide path and asks it whether it
/// cancelled; `f32` takes the fast tier, and a lane that it hands over takes
/// the wide path, or the double-double one where that cancelled too.
macro_rules! tiered {
    () => {
        #[inline(always)]
        fn eval(&self, x: T, y: T, _: T) -> Terms<T> {
            if T::MANTISSA_DIGITS > 24 {
                return self.wide(x, y);
            }
            let f = self.fast(narrow(x), narrow(y));
            // The second derivative has no refinement hook: where the fast
            // tier does not keep it, it comes from the wide path (computed
            // only when it is asked for).
            let hess = if f.hess_kept {
                T::from_f64(f64::from(f.hess))
            } else {
                self.wide(x, y).hess
            };
            Terms {
                value: T::from_f64(f64::from(f.value)),
                grad: T::from_f64(f64::from(f.grad)),
                hess,
            }
        }

        const REFINES_VALUE: bool = true;

        #[inline(always)]
        fn value_cancels(&self, x: T, y: T, _: T) -> bool {
            if T::MANTISSA_DIGITS > 24 {
                return self.wide_value_cancels(x, y);
            }
            !self.fast(narrow(x), narrow(y)).value_kept
        }

        // Inlined, so that the `f32` lanes the fast tier hands over (about
        // one in a hundred where Poisson's value has zeros) run the wide
        // path with the kernel's instruction set, not the baseline's libm
        // `fma`; the exact sum stays out of line.
        #[inline(always)]
        fn precise_value(&self, x: T, y: T, _: T) -> T {
            if T::MANTISSA_DIGITS <= 24 && !self.wide_value_cancels(x, y) {
                return self.wide(x, y).value;
            }
            self.cancelled_value(x, y)
        }

        const REFINES_GRAD: bool = true;

        #[inline(always)]
        fn grad_cancels(&self, x: T, y: T, _: T) -> bool {
            if T::MANTISSA_DIGITS > 24 {
                return self.wide_grad_cancels(x, y);
            }
            !self.fast(narrow(x), narrow(y)).grad_kept
        }

        // Both answers computed, as the lanes run together.
        #[inline(always)]
        fn precise_grad(&self, x: T, y: T, _: T) -> (T, bool) {
            let d = self.dd_grad(x, y);
            if T::MANTISSA_DIGITS > 24 {
                return d;
            }
            let wide = (self.wide(x, y).grad, false);
            if self.wide_grad_cancels(x, y) {
                d
            } else {
                wide
            }
        }
    };
}

/// Poisson deviance on the log link (PyTorch's `poisson_nll_loss` with
/// `log_input=True, full=False`): `e^η − y·η`, gradient `e^η − y`, second
/// derivative `e^η`, for `0 ≤ y < inf`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Poisson;

impl Tiered for Poisson {
    #[inline(always)]
    fn fast(&self, x: f32, y: f32) -> Fast {
        poisson_fast(x, y)
    }

    #[inline(always)]
    fn wide<T: Float>(&self, x: T, y: T) -> Terms<T> {
        let (x, y) = (x.to_f64(), y.to_f64());
        if T::MANTISSA_DIGITS > 24 {
            // e^η to 2^-68 and y·η exact: the differences cancel into the
            // ulp bound only at 2^-12 of their terms.
            let (e, p) = (exp_pair(x), product(y, x));
            let v = dd::two_sum(e.hi, -p.hi);
            let g = dd::two_sum(e.hi, -y);
            let value = fin(v.hi, v.lo + (e.lo - p.lo));
            return Terms {
                value: T::from_f64(if e.hi == f64::INFINITY { e.hi } else { value }),
                grad: T::from_f64(fin(g.hi, g.lo + e.lo)),
                hess: T::from_f64(fin(e.hi, e.lo)),
            };
        }
        let e = exp_f64(x);
        // y = 0 has no y·η term, also at η = ±inf.
        let yx = if y == 0.0 { 0.0 } else { y * x };
        Terms {
            // e^η overflows first: the value is then infinite.
            value: T::from_f64(if e == f64::INFINITY { e } else { e - yx }),
            grad: T::from_f64(e - y),
            hess: T::from_f64(e),
        }
    }

    #[inline(always)]
    fn wide_value_cancels<T: Float>(&self, x: T, y: T) -> bool {
        let v = self.wide(x, y).value.to_f64();
        let (x, y) = (x.to_f64(), y.to_f64());
        let (e, yx) = (poisson_exp::<T>(x), y * x);
        // Both terms beyond f64 (a huge y at η > 709): which is larger
        // decides the sign of the infinity, or a finite difference.
        // (From η = 1500, e^η beats every finite y·η.)
        let both = e == f64::INFINITY && yx == f64::INFINITY && x < 1500.0;
        cancels_wide::<T>(v.abs(), e, yx) || both
    }

    #[inline(always)]
    fn wide_grad_cancels<T: Float>(&self, x: T, y: T) -> bool {
        let g = self.wide(x, y).grad.to_f64();
        let (x, y) = (x.to_f64(), y.to_f64());
        let e = poisson_exp::<T>(x);
        // Just past e^η's overflow a huge y leaves a finite difference.
        let over = e == f64::INFINITY && x < 1500.0;
        cancels_wide::<T>(g.abs(), e, y) || over
    }

    /// `e^η − y·η` summed exactly from `e^η = 2^k·(1 + ε)` (ε in
    /// triple-double) and the two parts of `y·η`, rounded once: good to
    /// ε's own error, 2^-117, where a double-double sum would stop at 2^-106
    /// of the terms (a value at its zero can cancel further). Scaled by
    /// 2^-1000 where `e^η` overflows.
    #[inline(never)]
    fn cancelled_value<T: Float>(&self, x: T, y: T) -> T {
        let (x, y) = (x.to_f64(), y.to_f64());
        let j = if x > 709.0 { 1000.0 } else { 0.0 };
        let ys = dd::ldexp(Dd::new(y), -j).hi;
        let (eps, k) = dd::exp_parts::<true>(x);
        let [a, b, c, e] = exp_terms(eps, k - j);
        let p = dd::two_prod(ys, x);
        let d = dd::sum_exact(&[a, b, c, e, -p.hi, -p.lo]);
        T::from_f64(dd::ldexp(Dd::new(d), j).hi)
    }

    /// `e^η − y` with `e^η` in double-double, scaled by 2^-1000 where it
    /// overflows.
    #[inline(always)]
    fn dd_grad<T: Float>(&self, x: T, y: T) -> (T, bool) {
        let (x, y) = (x.to_f64(), y.to_f64());
        let j = if x > 709.0 { 1000.0 } else { 0.0 };
        let ys = dd::ldexp(Dd::new(y), -j).hi;
        let e = exp_dd(x, -j);
        let d = dd_sub(e, Dd::new(ys));
        let deep = too_deep(d, if e.hi > ys { e.hi } else { ys });
        (T::from_f64(dd::ldexp(Dd::new(d), j).hi), deep)
    }
}

impl<T: Float> Pointwise<T> for Poisson {
    const HEAVY: bool = true;
    const TARGET_DOMAIN: Option<TargetDomain> = Some(TargetDomain::Nonnegative);

    tiered!();

    /// `e^η − y` summed exactly from `e^η = 2^k·(1 + ε)`.
    fn deep_grad(&self, x: T, y: T, _: T) -> T {
        let (x, y) = (x.to_f64(), y.to_f64());
        let j = if x > 709.0 { 1000.0 } else { 0.0 };
        let ys = dd::ldexp(Dd::new(y), -j).hi;
        let (eps, k) = dd::exp_parts::<true>(x);
        let [a, b, c, e] = exp_terms(eps, k - j);
        let d = dd::sum_exact(&[a, b, c, e, -ys]);
        T::from_f64(dd::ldexp(Dd::new(d), j).hi)
    }
}

/// Gamma deviance on the log link: `η + y·e^−η`, gradient `1 − y·e^−η`,
/// second derivative `y·e^−η`, for `0 < y < inf`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gamma;

impl Tiered for Gamma {
    #[inline(always)]
    fn fast(&self, x: f32, y: f32) -> Fast {
        gamma_fast(x, y)
    }

    #[inline(always)]
    fn wide<T: Float>(&self, x: T, y: T) -> Terms<T> {
        let (x, y) = (x.to_f64(), y.to_f64());
        if T::MANTISSA_DIGITS > 24 {
            // y·e^−η to 2^-68 (see Poisson).
            let q = mul_exp_pair(y, -x);
            let v = dd::two_sum(x, q.hi);
            let g = dd::two_sum(1.0, -q.hi);
            let value = fin(v.hi, v.lo + q.lo);
            return Terms {
                value: T::from_f64(if q.hi == f64::INFINITY { q.hi } else { value }),
                grad: T::from_f64(fin(g.hi, g.lo - q.lo)),
                hess: T::from_f64(fin(q.hi, q.lo)),
            };
        }
        // y·e^−η, right where it is finite though e^−η is not.
        let q = exp_mul_f64(-x, 0.0, y, 0.0);
        Terms {
            // η = −inf: the exponential wins.
            value: T::from_f64(if q == f64::INFINITY { q } else { x + q }),
            grad: T::from_f64(1.0 - q),
            hess: T::from_f64(q),
        }
    }

    #[inline(always)]
    fn wide_value_cancels<T: Float>(&self, x: T, y: T) -> bool {
        let t = self.wide(x, y);
        let (v, q) = (t.value.to_f64(), t.hess.to_f64());
        cancels_wide::<T>(v.abs(), q, -x.to_f64())
    }

    #[inline(always)]
    fn wide_grad_cancels<T: Float>(&self, x: T, y: T) -> bool {
        let t = self.wide(x, y);
        cancels_wide::<T>(t.grad.to_f64().abs(), 1.0, t.hess.to_f64())
    }

    /// `η + y·e^−η` with the product in double-double.
    #[inline(never)]
    fn cancelled_value<T: Float>(&self, x: T, y: T) -> T {
        let (x, y) = (x.to_f64(), y.to_f64());
        let q = mul_exp_dd(y, -x);
        let s = dd::two_sum(x, q.hi);
        T::from_f64(s.hi + (s.lo + q.lo))
    }

    /// `1 − y·e^−η` with the product in double-double.
    #[inline(always)]
    fn dd_grad<T: Float>(&self, x: T, y: T) -> (T, bool) {
        let (x, y) = (x.to_f64(), y.to_f64());
        let q = mul_exp_dd(y, -x);
        let d = dd_sub(Dd::new(1.0), q);
        (
            T::from_f64(d),
            too_deep(d, if q.hi > 1.0 { q.hi } else { 1.0 }),
        )
    }
}

impl<T: Float> Pointwise<T> for Gamma {
    const HEAVY: bool = true;
    const TARGET_DOMAIN: Option<TargetDomain> = Some(TargetDomain::Positive);

    tiered!();

    /// `1 − m·2^(k+j)·(1 + ε)` (`y = m·2^j`, `e^−η = 2^k·(1 + ε)`) summed
    /// exactly from the products' exact parts.
    fn deep_grad(&self, x: T, y: T, _: T) -> T {
        let (x, y) = (x.to_f64(), y.to_f64());
        let (eps, k) = dd::exp_parts::<true>(-x);
        let (m, j) = frexp_f64(y);
        let (p1, p2) = (dd::two_prod(m, eps.hi), dd::two_prod(m, eps.mid));
        let s = |v: f64| -dd::ldexp(Dd::new(v), k + j).hi;
        T::from_f64(dd::sum_exact(&[
            1.0,
            s(m),
            s(p1.hi),
            s(p1.lo),
            s(p2.hi),
            s(p2.lo),
            s(m * eps.lo),
        ]))
    }
}

/// Tweedie deviance on the log link, `1 < p < 2` (compound Poisson–Gamma):
/// `e^((2−p)η)/(2−p) − y·e^((1−p)η)/(1−p)`, gradient
/// `e^((2−p)η) − y·e^((1−p)η)`, second derivative
/// `(2−p)·e^((2−p)η) − (1−p)·y·e^((1−p)η)`, for `0 ≤ y < inf`. The limits
/// `p = 1` and `p = 2` are [`Poisson`] and [`Gamma`] (the Python functions
/// take them and dispatch there).
#[derive(Clone, Copy, Debug)]
pub struct Tweedie {
    /// `2 − p` and `p − 1`, both exact, in (0, 1).
    c2: f64,
    c1: f64,
    /// For the `f32` fast tier, as `f32` pairs (`hi + lo`, to 2^-48):
    /// `2 − p`, `p − 1`, `1/(2 − p)`, `1/(p − 1)`.
    fast: [(f32, f32); 4],
}

/// `v` as an `f32` pair, `hi + lo` to 2^-48 of `v`.
fn split_f32(v: f64) -> (f32, f32) {
    let hi = v as f32;
    (hi, (v - f64::from(hi)) as f32)
}

/// `(h + l)·(c.0 + c.1)` as a pair (`h·c.0` split exactly by an FMA).
#[inline(always)]
fn mul_pair_f32(h: f32, l: f32, c: (f32, f32)) -> (f32, f32) {
    let p = h * c.0;
    (p, h.mul_add(c.0, -p) + (h * c.1 + l * c.0))
}

/// Tweedie's fast `f32` tier. `e^(cη)` with `c·η` as a pair: its low part (the product's
/// rounding error and `c`'s own) multiplies the exponential, as `1 + lo`.
#[inline(always)]
fn tweedie_fast(c: &[(f32, f32); 4], x: f32, y: f32) -> Fast {
    let [c2, c1, i2, i1] = *c;
    let a = c2.0 * x;
    let al = c2.0.mul_add(x, -a) + c2.1 * x;
    let b = -(c1.0 * x);
    let bl = -(c1.0.mul_add(x, b) + c1.1 * x);
    let (ah, el) = exp_pair_f32(a);
    let al = el + ah * al;
    let (fh, fl) = exp_pair_f32(b);
    let fl = fl + fh * bl;
    // B = y·e^((1−p)η), exactly in its leading parts (0 for y = 0).
    let bh = y * fh;
    let bl2 = y.mul_add(fh, -bh) + y * fl;
    let inside = in_fast_range(a) & in_fast_range(b);
    let b_ok = (y == 0.0)
        | ((y >= f32::MIN_POSITIVE)
            & (bh >= f32::MIN_POSITIVE * (1u64 << 26) as f32)
            & (bh <= FAST_PRODUCT_MAX));
    let ok = inside & b_ok;
    let (va, val) = mul_pair_f32(ah, al, i2);
    let (vb, vbl) = mul_pair_f32(bh, bl2, i1);
    let (vs, vl) = two_sum_f32(va, vb);
    let v = vs + (vl + (val + vbl));
    let (ha, hal) = mul_pair_f32(ah, al, c2);
    let (hb, hbl) = mul_pair_f32(bh, bl2, c1);
    let (hs, hl) = two_sum_f32(ha, hb);
    let h = hs + (hl + (hal + hbl));
    let (gs, gl) = two_sum_f32(ah, -bh);
    let g = gs + ((gl + al) - bl2);
    // The value's terms stay below 2^120 (1/(2 − p) may reach 2^52).
    let v_ok = ok & (v <= FAST_PRODUCT_MAX) & (h <= FAST_PRODUCT_MAX);
    // Two exponentials, each with its own error: half the cancellation.
    let g_ok = ok & (g.abs() * (FAST_CANCEL * 0.5) >= larger(ah, bh));
    Fast {
        value: v,
        grad: g,
        hess: h,
        value_kept: v_ok,
        grad_kept: g_ok,
        hess_kept: v_ok,
    }
}

impl Tweedie {
    /// The Tweedie loss of power `1 < p < 2`.
    pub fn new(power: f64) -> Result<Self, LossError> {
        require(
            power > 1.0 && power < 2.0,
            "power",
            power,
            "1 < power < 2 (power 1 is Poisson, power 2 is Gamma)",
        )?;
        let (c2, c1) = (2.0 - power, power - 1.0);
        Ok(Self {
            c2,
            c1,
            fast: [
                split_f32(c2),
                split_f32(c1),
                split_f32(1.0 / c2),
                split_f32(1.0 / c1),
            ],
        })
    }

    /// `(2−p)·e^((2−p)η)` and `y·e^((1−p)η)`: each exponential of a
    /// product carries the product's rounding error, and takes its factor
    /// while normal.
    #[inline(always)]
    fn terms<T: Float>(&self, x: f64, y: f64) -> (f64, f64) {
        let (a, alo) = scaled_arg::<T>(self.c2, x);
        let (b, blo) = scaled_arg::<T>(-self.c1, x);
        (
            exp_mul_f64(a, alo, self.c2, 0.0),
            exp_mul_f64(b, blo, y, 0.0),
        )
    }

    /// `e^((2−p)η) − y·e^((1−p)η)` from both terms to 2^-68 of themselves
    /// (each exponential's argument with its rounding error carried, as
    /// `1 + lo`), as Poisson's and Gamma's `f64` fast paths have them: a
    /// difference then cancels into the ulp bound only at 2^-12 of its
    /// terms, where it needed the double-double path from 2/3. Returns the
    /// difference, whether it cancelled that far, and whether both terms
    /// are finite (elsewhere the `exp_mul_f64` terms answer, as before).
    #[inline(always)]
    fn pair_grad(&self, x: f64, y: f64) -> (f64, bool, bool) {
        let (a, alo) = scaled_arg::<f64>(self.c2, x);
        let (b, blo) = scaled_arg::<f64>(-self.c1, x);
        let e = exp_pair(a);
        // mul_exp_pair takes y > 0; y = 0 has no second term.
        let q = mul_exp_pair(if y > 0.0 { y } else { 1.0 }, b);
        let (qh, ql) = if y > 0.0 {
            (q.hi, q.lo + q.hi * blo)
        } else {
            (0.0, 0.0)
        };
        let (eh, el) = (e.hi, e.lo + e.hi * alo);
        let fine = (eh < f64::INFINITY) & (qh < f64::INFINITY);
        let s = dd::two_sum(eh, -qh);
        let g = s.hi + (s.lo + (el - ql));
        (g, cancels_wide::<f64>(g.abs(), eh, qh), fine)
    }
}

impl Tiered for Tweedie {
    #[inline(always)]
    fn fast(&self, x: f32, y: f32) -> Fast {
        tweedie_fast(&self.fast, x, y)
    }

    /// The value is a sum of positive terms: only the `f32` fast tier's
    /// range sends it to the wide path, which does not cancel.
    #[inline(always)]
    fn wide_value_cancels<T: Float>(&self, _: T, _: T) -> bool {
        false
    }

    #[inline(always)]
    fn cancelled_value<T: Float>(&self, x: T, y: T) -> T {
        self.wide(x, y).value
    }

    #[inline(always)]
    fn wide<T: Float>(&self, x: T, y: T) -> Terms<T> {
        let (x, y) = (x.to_f64(), y.to_f64());
        let (ha, b) = self.terms::<T>(x, y);
        // e^((2−p)η), and both terms of the value: positive, no cancellation.
        let a = ha / self.c2;
        // (p − 1)·y·e^((1−p)η) may be finite where y·e^((1−p)η) is not (y
        // next to the largest float): then with the factor taken inside.
        let hb = if b < f64::INFINITY {
            self.c1 * b
        } else {
            let (arg, lo) = scaled_arg::<T>(-self.c1, x);
            // y·(p − 1) rounded where it is normal: a small y lifted by 2^64.
            let small = y < 1.0;
            let lift = if small { dd::pow2i(64) } else { 1.0 };
            let shift = if small { -64.0 } else { 0.0 };
            exp_mul_f64(arg, lo, (y * lift) * self.c1, shift)
        };
        // f64: the gradient from the 2^-68 pairs where both are finite.
        let (g, _, fine) = self.pair_grad(x, y);
        let grad = if T::MANTISSA_DIGITS > 24 && fine {
            g
        } else {
            a - b
        };
        Terms {
            value: T::from_f64(a / self.c2 + b / self.c1),
            grad: T::from_f64(grad),
            hess: T::from_f64(ha + hb),
        }
    }

    #[inline(always)]
    fn wide_grad_cancels<T: Float>(&self, x: T, y: T) -> bool {
        let (x, y) = (x.to_f64(), y.to_f64());
        let (ha, b) = self.terms::<T>(x, y);
        let a = ha / self.c2;
        let (_, pair_cancels, fine) = self.pair_grad(x, y);
        if T::MANTISSA_DIGITS > 24 && fine {
            pair_cancels
        } else {
            cancels::<T>((a - b).abs(), a, b)
        }
    }

    /// `y·e^((1−p)η)·(e^η/y − 1)`: the difference in double-double, the
    /// factor as the fast path has it (no cancellation there). Near the
    /// zero `η = ln y` this overflows nowhere, whatever `y`.
    #[inline(always)]
    fn dd_grad<T: Float>(&self, x: T, y: T) -> (T, bool) {
        let (x, y) = (x.to_f64(), y.to_f64());
        let (_, b) = self.terms::<T>(x, y);
        // (e^η·2^-j − m)/m with y = m·2^j: in range whatever y.
        let (ys, j) = frexp_f64(y);
        let e = exp_dd(x, -j);
        let s = dd::two_sum(e.hi, -ys);
        let d = dd::fast_two_sum(s.hi, s.lo + e.lo);
        let deep = too_deep(d.hi, if e.hi > ys { e.hi } else { ys });
        (T::from_f64(b * dd::div(d, Dd::new(ys))), deep)
    }
}

impl<T: Float> Pointwise<T> for Tweedie {
    const HEAVY: bool = true;
    const TARGET_DOMAIN: Option<TargetDomain> = Some(TargetDomain::Nonnegative);

    tiered!();

    /// `y·e^((1−p)η)·(e^η·2^-j − m)/m` with the difference summed exactly.
    fn deep_grad(&self, x: T, y: T, _: T) -> T {
        let (x, y) = (x.to_f64(), y.to_f64());
        let (_, b) = self.terms::<T>(x, y);
        let (m, j) = frexp_f64(y);
        let (eps, k) = dd::exp_parts::<true>(x);
        let [a, c, e, f] = exp_terms(eps, k - j);
        T::from_f64(b * (dd::sum_exact(&[a, c, e, f, -m]) / m))
    }
}

/// Scalar `f64` references (libm, the textbook formulas), `(value, grad, hess)`.
pub mod scalar {
    /// [`super::Poisson`].
    pub fn poisson_scalar(x: f64, y: f64) -> (f64, f64, f64) {
        let e = x.exp();
        let yx = if y == 0.0 { 0.0 } else { y * x };
        // At η = inf, e^η − y·η is inf − inf as written: its limit is inf.
        let v = if e == f64::INFINITY { e } else { e - yx };
        (v, e - y, e)
    }

    /// `y·e^a`, `y ≥ 0`: where `e^a` is not a normal float but the product
    /// may be (a subnormal `y` at `a > 709`, a huge one at `a < −708`),
    /// from `e^(a/4)` four times, each product finite or past the result.
    pub fn mul_exp(y: f64, a: f64) -> f64 {
        let e = a.exp();
        if y == 0.0 {
            0.0
        } else if e.is_normal() {
            y * e
        } else {
            let q = (0.25 * a).exp();
            ((y * q) * q) * q * q
        }
    }

    /// [`super::Gamma`].
    pub fn gamma_scalar(x: f64, y: f64) -> (f64, f64, f64) {
        let q = mul_exp(y, -x);
        // At η = −inf, η + y·e^−η is −inf + inf as written: its limit is inf.
        let v = if q == f64::INFINITY { q } else { x + q };
        (v, 1.0 - q, q)
    }

    /// [`super::Tweedie`] of power `p`.
    pub fn tweedie_scalar(x: f64, y: f64, p: f64) -> (f64, f64, f64) {
        let a = ((2.0 - p) * x).exp();
        let b = mul_exp(y, (1.0 - p) * x);
        (
            a / (2.0 - p) - b / (1.0 - p),
            a - b,
            (2.0 - p) * a - (1.0 - p) * b,
        )
    }
}
