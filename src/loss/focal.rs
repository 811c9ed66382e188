//! The focal loss on logits: per-element math only (the loops are in
//! [`crate::kernel`]). `x` is the logit, `t` the target in [0, 1].

use core::marker::PhantomData;

use crate::dd::{self, Dd};
use crate::error::{require, LossError};
use crate::fixed::Big;
use crate::float::Float;
use crate::kernel::{Pointwise, TargetDomain, Terms};

/// Focal loss on logits (torchvision's `sigmoid_focal_loss`, optax's
/// `sigmoid_focal_loss`): `α_t·(1 − p_t)^γ·BCE(x, t)` with `p = σ(x)`,
/// `p_t = p·t + (1 − p)(1 − t)`, `α_t = α·t + (1 − α)(1 − t)` (1 without
/// `α`). Targets outside [0, 1], or NaN, are rejected before anything is
/// written.
///
/// With `e = e^(−|x|)` and `r = σ(|x|) = 1/(1 + e)`, `1 − p_t = N·r` where
/// `N = (1 − t) + t·e` for `x ≥ 0` and `t + (1 − t)·e` below: a sum of two
/// terms of one sign, from the logit, never `1 − p`. With `Q = (1 − p_t)^γ`,
/// `B` the cross-entropy, `m = (1 − 2t)·σ(−|x|)/N` (the logarithmic
/// derivative of `1 − p_t`) and `k = γ·m`:
///
/// * value `α_t·Q·B`;
/// * gradient `α_t·Q·(k·B + σ(x) − t)`;
/// * second derivative
///   `α_t·Q·(k·B·((γ − 1)·m + 1 − 2σ(x)) + 2k·(σ(x) − t) + σ(x)·σ(−x))`.
///
/// `f32` is computed in `f64` (and rounded once from a value good to far
/// more than its precision), `f64` in double-double. `(1 − p_t)^γ` is
/// `e^(γ·ln(1 − p_t))` for every γ: a branch on γ in the lane loop keeps
/// it from vectorizing.
#[derive(Clone, Copy, Debug)]
pub struct SigmoidFocal<T> {
    /// α, when given (`has_alpha`).
    alpha: f64,
    has_alpha: bool,
    gamma: f64,
    _t: PhantomData<T>,
}

impl<T: Float> SigmoidFocal<T> {
    /// The loss with `alpha` in [0, 1] (or `None`: no class weighting) and
    /// a finite `gamma ≥ 0`.
    pub fn new(alpha: Option<f64>, gamma: f64) -> Result<Self, LossError> {
        if let Some(a) = alpha {
            require((0.0..=1.0).contains(&a), "alpha", a, "0 <= alpha <= 1")?;
        }
        require(
            gamma >= 0.0 && gamma.is_finite(),
            "gamma",
            gamma,
            "gamma >= 0 (finite)",
        )?;
        Ok(Self {
            alpha: alpha.unwrap_or(0.0),
            has_alpha: alpha.is_some(),
            gamma,
            _t: PhantomData,
        })
    }

    /// `α_t`, as two terms of one sign (`1 − α` and `1 − t` exact), or 1.
    #[inline(always)]
    fn alpha_t(&self, t: Dd, one_t: Dd) -> Dd {
        let al = self.alpha;
        let a = dd::add(dd::mul_f(t, al), dd::mul(dd::one_minus(al), one_t));
        if self.has_alpha {
            a
        } else {
            Dd::new(1.0)
        }
    }

    /// `(value, grad, hess)` at one element, in `f64`.
    #[inline(always)]
    fn terms(&self, x: f64, t: f64) -> (f64, f64, f64) {
        let ax = x.abs();
        let e = Float::exp(-ax);
        let sp = Float::ln_1p(e); // softplus(−|x|)
        let r = 1.0 / (1.0 + e); // σ(|x|)
        let er = e * r; // σ(−|x|)
        let nonneg = x >= 0.0;
        let one_t = 1.0 - t;
        // 1 − p_t = N·r with N = u + v·e.
        let (u, v) = if nonneg { (one_t, t) } else { (t, one_t) };
        let n = u + v * e;
        // BCE: k·x + softplus(−|x|), k = 1 − t (x ≥ 0) or −t; a zero k drops
        // an infinite x.
        let kx = if nonneg {
            if one_t == 0.0 {
                0.0
            } else {
                one_t * x
            }
        } else if t == 0.0 {
            0.0
        } else {
            -(t * x)
        };
        let bce = kx + sp;
        // σ(x) − t as r·(a − b), one subtraction (as BCE with logits).
        let (pa, pb) = if nonneg {
            (one_t, t * e)
        } else {
            (one_t * e, t)
        };
        let gb = r * (pa - pb);
        let al = self.alpha;
        let a = if self.has_alpha {
            al * t + (1.0 - al) * one_t
        } else {
            1.0
        };
        // Q = e^(γ·ln q), ln q = ln N − softplus(−|x|) in two parts (ln N =
        // −|x| exactly for hard targets, where N = e), then γ·ln q in two
        // parts: e^(hi)·(1 + lo) keeps the relative precision that a rounded
        // γ·ln q of hundreds would lose. One formula for every γ (no branch
        // in the lane loop); γ = 0 gives 1 even where ln q is −inf.
        let ln_n = if u == 0.0 { -ax } else { Float::ln(n) };
        let l = dd::two_sum(ln_n, -sp);
        let y = dd::two_prod(self.gamma, l.hi);
        let lo = y.lo + self.gamma * l.lo;
        // At x = ±inf, where ln N = −inf, the low parts are NaN: 0.
        let lo = if lo.is_nan() { 0.0 } else { lo };
        let hi = if self.gamma == 0.0 { 0.0 } else { y.hi };
        let p = Float::exp(hi);
        let big_q = p + p * lo;
        let aq = a * big_q;
        // The logarithmic derivative of 1 − p_t: σ(−|x|)/N, which is r
        // where N = e (hard targets; e may have underflowed).
        let ratio = if u == 0.0 { r } else { er / n };
        let m = (1.0 - 2.0 * t) * ratio;
        let k = self.gamma * m;
        let mb = if m == 0.0 { 0.0 } else { m * bce };
        let kb = self.gamma * mb;
        let value = if aq == 0.0 { 0.0 } else { aq * bce };
        let grad = aq * (kb + gb);
        // 1 − 2σ(x) = ∓r·(1 − e).
        let tanh = r * (1.0 - e);
        let one_m2s = if nonneg { -tanh } else { tanh };
        let inner = kb * ((self.gamma - 1.0) * m + one_m2s) + 2.0 * k * gb + er * r;
        (value, grad, aq * inner)
    }
}

impl<T: Float> SigmoidFocal<T> {
    /// `(value, grad, hess)` at one element for a finite `x`, every
    /// intermediate in double-double (about 2^-100 of itself, but
    /// `e^(−|x|)` and softplus to 2^-68), rounded once at the end:
    /// [`terms`](Self::terms)' formulas, where `f64` intermediates several
    /// ulp off each (`q^γ` from a rounded `q` or `ln q`, the sums of the
    /// derivatives with terms of both signs) leave `f64` results many ulp
    /// off. The derivatives' sums are then good to about 2^-66 of their
    /// terms, enough until they cancel to 2^-10 of them, where
    /// [`deep_sums`](Self::deep_sums) answers. Also returns `α_t·Q`.
    #[inline(always)]
    fn terms_dd(&self, x: f64, t: f64) -> (f64, f64, f64, Dd) {
        let ax = x.abs();
        let e = dd::exp::<false>(-ax);
        let one = Dd::new(1.0);
        let r = dd::quo(one, dd::add(one, e)); // σ(|x|)
                                               // σ(−|x|)
        let er = dd::mul(e, r);
        // softplus(−|x|) = ln(1 + e): the f64 one, then one Newton step,
        // (1 + e)·e^(−s0) − 1 in double-double, whose error is e^(−s0)'s:
        // to 2^-68 of the result however small (the reduction of e^(−s0)
        // is exact for s0 < 0.34). ln N and e^(γ·ln q) below only make
        // the factor q^γ, which 2^-68 leaves exact to 2^-60.
        let s0 = Float::ln_1p(e.hi);
        let corr = dd::sub(dd::mul(dd::add(one, e), dd::exp::<false>(-s0)), one);
        let sp = dd::fast_two_sum(s0, corr.hi + corr.lo);
        let nonneg = x >= 0.0;
        let tt = Dd::new(t);
        let one_t = dd::one_minus(t);
        let (u, v) = if nonneg { (one_t, tt) } else { (tt, one_t) };
        let n = dd::add(u, dd::mul(v, e));
        let kx = if nonneg {
            if one_t.hi == 0.0 {
                Dd::new(0.0)
            } else {
                dd::mul_f(one_t, x)
            }
        } else {
            dd::two_prod(-t, x)
        };
        let bce = dd::add(kx, sp);
        let (pa, pb) = if nonneg {
            (one_t, dd::mul(tt, e))
        } else {
            (dd::mul(one_t, e), tt)
        };
        let gb = dd::mul(r, dd::sub(pa, pb));
        let a = self.alpha_t(tt, one_t);
        // ln N: −|x| exactly for hard targets (N = e), else the f64 one and
        // a Newton step, e^(l0)/N − 1 in double-double; Q = e^(γ·ln q).
        let l0 = Float::ln(n.hi);
        let d = dd::sub(dd::quo(dd::exp::<false>(l0), n), one);
        let ln_n = if u.hi == 0.0 {
            Dd::new(-ax)
        } else {
            dd::sub(Dd::new(l0), d)
        };
        let y = dd::mul_f(dd::sub(ln_n, sp), self.gamma);
        let p = dd::exp::<false>(y.hi);
        let big_q = dd::add(p, dd::mul_f(p, y.lo));
        let aq = dd::mul(a, big_q);
        let ratio = if u.hi == 0.0 { r } else { dd::quo(er, n) };
        let m = dd::mul(dd::two_sum(1.0, -2.0 * t), ratio);
        let k = dd::mul_f(m, self.gamma);
        let mb = dd::mul(m, bce);
        let kb = dd::mul_f(mb, self.gamma);
        let value = dd::mul(aq, bce).hi;
        let grad = dd::mul(aq, dd::add(kb, gb)).hi;
        let tanh = dd::mul(r, dd::sub(one, e));
        let one_m2s = if nonneg { dd::neg(tanh) } else { tanh };
        let inner = dd::add(
            dd::add(
                dd::mul(kb, dd::add(dd::mul_f(m, self.gamma - 1.0), one_m2s)),
                dd::mul_f(dd::mul(k, gb), 2.0),
            ),
            dd::mul(er, r),
        );
        (value, grad, dd::mul(aq, inner).hi, aq)
    }

    /// The sums that cancel next to the zeros of the derivatives, in `f64`,
    /// each with a bound on its terms' magnitudes: multiplied by `N/σ(|x|)`
    /// (`N²/(e·σ(|x|)²)`), the gradient's sum `k·B + σ(x) − t` is
    /// `W = γ·c·e·B ± (u² − v²·e²)` and the second derivative's
    /// `H = γ·c·B·((γ − 1)·c·e ∓ (1 − e)·N) ± 2γ·c·(u − v·e)·N + N²`, with
    /// `c = 1 − 2t`, `e = e^(−|x|)`, `N = u + v·e` and the upper signs for
    /// `x ≥ 0`: sums of a few products, which `deep_sums` takes to 2^-120.
    #[inline(always)]
    fn sums_f64(&self, x: f64, t: f64) -> (f64, f64, f64, f64) {
        let e = Float::exp(-x.abs());
        let sp = Float::ln_1p(e);
        let nonneg = x >= 0.0;
        let one_t = 1.0 - t;
        let (u, v, s) = if nonneg {
            (one_t, t, 1.0)
        } else {
            (t, one_t, -1.0)
        };
        let n = u + v * e;
        let b = if nonneg { one_t * x } else { -(t * x) } + sp;
        let gc = self.gamma * (1.0 - 2.0 * t);
        let gcb = gc * b;
        let ve = v * e;
        let w = gcb * e + s * ((u - ve) * (u + ve));
        let w_big = (gcb * e).abs() + (u + ve) * (u + ve);
        let t1 = gcb * (self.gamma - 1.0) * (1.0 - 2.0 * t) * e;
        let h = t1 - s * gcb * (1.0 - e) * n + s * 2.0 * gc * (u - ve) * n + n * n;
        let h_big = t1.abs() + gcb.abs() * (1.0 + e) * n + 2.0 * gc.abs() * (u + ve) * n + n * n;
        (w, w_big, h, h_big)
    }

    /// The gradient and second derivative of a finite `x` from `W` and `H`
    /// (see [`sums_f64`](Self::sums_f64)) summed in [`Big`], to 2^-120 of
    /// their terms, then scaled by `α_t·Q·σ(|x|)/N` and
    /// `α_t·Q·e·σ(|x|)²/N²`: good to an ulp until they cancel below 2^-65
    /// of their terms, which no double next to a zero does. Scalar and
    /// slow (a few microseconds), for the few elements next to a zero.
    fn deep_sums(&self, x: f64, t: f64) -> (f64, f64) {
        let aq = self.terms_dd(x, t).3;
        let e = Big::exp(-x.abs());
        let one = Big::from_f64(1.0);
        let tb = Big::from_f64(t);
        let one_t = one.sub(tb);
        let nonneg = x >= 0.0;
        let (u, v) = if nonneg { (one_t, tb) } else { (tb, one_t) };
        let sign = |b: Big| if nonneg { b } else { b.neg() };
        let c = one_t.sub(tb);
        let n = u.add(v.mul(e));
        let kx = if nonneg { one_t } else { tb.neg() }.mul(Big::from_f64(x));
        let b = kx.add(e.ln_1p());
        let g = Big::from_f64(self.gamma);
        let gcb = g.mul(c).mul(b);
        let ve = v.mul(e);
        let w = gcb.mul(e).add(sign(u.mul(u).sub(ve.mul(ve))));
        let inner = g.sub(one).mul(c).mul(e).sub(sign(one.sub(e).mul(n)));
        let two_gc = g.mul(c).add(g.mul(c));
        let h = gcb
            .mul(inner)
            .add(sign(two_gc.mul(u.sub(ve)).mul(n)))
            .add(n.mul(n));
        // 1/((1 + e)·N) = σ(|x|)/N.
        let rn = one.add(e).mul(n).recip();
        let grad = dd::mul(aq, w.mul(rn).to_dd()).hi;
        let hess = dd::mul(aq, h.mul(e).mul(rn).mul(rn).to_dd()).hi;
        (grad, hess)
    }

    /// Whether `(W, H)` (see [`sums_f64`](Self::sums_f64)) cancelled below
    /// 2^-10 of their terms' magnitudes: the `f64` sums are good to about
    /// 2^-50 of those, the ones of `terms_dd` to about 2^-66, which is then
    /// 2^-56 of the result.
    #[inline(always)]
    fn sums_cancel(&self, x: f64, t: f64) -> (bool, bool) {
        let (w, w_big, h, h_big) = self.sums_f64(x, t);
        let floor = dd::pow2i(-10);
        (w.abs() < w_big * floor, h.abs() < h_big * floor)
    }

    /// The gradient's sum `k·B + σ(x) − t` as [`terms`](Self::terms)
    /// computes it (in `f64`), and the largest magnitude of its terms.
    #[inline(always)]
    fn bracket(&self, x: f64, t: f64) -> (f64, f64) {
        let ax = x.abs();
        let e = Float::exp(-ax);
        let sp = Float::ln_1p(e);
        let r = 1.0 / (1.0 + e);
        let nonneg = x >= 0.0;
        let one_t = 1.0 - t;
        let (u, v) = if nonneg { (one_t, t) } else { (t, one_t) };
        let n = u + v * e;
        let bce = if nonneg { one_t * x } else { -(t * x) } + sp;
        let (pa, pb) = if nonneg {
            (one_t, t * e)
        } else {
            (one_t * e, t)
        };
        let ratio = if u == 0.0 { r } else { e * r / n };
        let kb = self.gamma * ((1.0 - 2.0 * t) * ratio) * bce;
        let (ra, rb) = (r * pa, r * pb);
        let big = kb.abs().max(ra).max(rb);
        (kb + (ra - rb), big)
    }
}

impl<T: Float> Pointwise<T> for SigmoidFocal<T> {
    const HEAVY: bool = true;
    const TARGET_DOMAIN: Option<TargetDomain> = Some(TargetDomain::Probability);

    #[inline(always)]
    fn eval(&self, x: T, t: T, _: T) -> Terms<T> {
        let (x, t) = (x.to_f64(), t.to_f64());
        let (v, g, h) = if T::MANTISSA_DIGITS > 24 {
            // f64: in double-double. The infinite logits (and NaN), where
            // the double-double formulas meet inf − inf, are answered by
            // the f64 ones in the refinement hooks: computed here for every
            // lane, those cost an eighth of the time.
            let fine = self.terms_dd(if x.is_finite() { x } else { 0.0 }, t);
            (fine.0, fine.1, fine.2)
        } else {
            self.terms(x, t)
        };
        Terms {
            value: T::from_f64(v),
            grad: T::from_f64(g),
            hess: T::from_f64(h),
        }
    }

    const REFINES_VALUE: bool = true;

    /// `f64`: an infinite or NaN logit (see `eval`).
    #[inline(always)]
    fn value_cancels(&self, x: T, _: T, _: T) -> bool {
        T::MANTISSA_DIGITS > 24 && !x.is_finite()
    }

    fn precise_value(&self, x: T, t: T, _: T) -> T {
        T::from_f64(self.terms(x.to_f64(), t.to_f64()).0)
    }

    const REFINES_GRAD: bool = true;

    /// `f32`: where the gradient's sum `k·B + σ(x) − t`, in `f64`,
    /// cancelled below 2^-20 of its largest term, so that its rounding
    /// errors could show in an `f32` result. `f64` (computed in
    /// double-double): see [`sums_cancel`](Self::sums_cancel). Both
    /// types: the test is on `f64` values, where `T` makes no difference.
    #[inline(always)]
    fn grad_cancels(&self, x: T, t: T, _: T) -> bool {
        let (x, t) = (x.to_f64(), t.to_f64());
        if T::MANTISSA_DIGITS > 24 {
            return !x.is_finite() | self.sums_cancel(x, t).0;
        }
        let (sum, big) = self.bracket(x, t);
        sum.abs() < big * dd::pow2i(-20)
    }

    /// The gradient in double-double (finite `x`: an infinite one has no
    /// cancellation), unless its sum cancelled below 2^-10 of its terms
    /// (see [`sums_cancel`](Self::sums_cancel)): then `deep_grad` answers.
    #[inline(always)]
    fn precise_grad(&self, x: T, t: T, _: T) -> (T, bool) {
        let x = x.to_f64();
        let finite = x.is_finite();
        let fine = self.terms_dd(if finite { x } else { 0.0 }, t.to_f64()).1;
        let g = if finite {
            fine
        } else {
            self.terms(x, t.to_f64()).1
        };
        (T::from_f64(g), self.sums_cancel(x, t.to_f64()).0)
    }

    fn deep_grad(&self, x: T, t: T, _: T) -> T {
        if !x.is_finite() {
            return T::from_f64(self.terms(x.to_f64(), t.to_f64()).1);
        }
        T::from_f64(self.deep_sums(x.to_f64(), t.to_f64()).0)
    }

    const REFINES_HESS: bool = true;

    /// `f64` only (`f32` rounds an `f64` sum good to 2^-50 of its terms,
    /// 2^-26 of itself where it cancels to 2^-24 of them): see
    /// [`sums_cancel`](Self::sums_cancel); and an infinite or NaN logit
    /// (see `eval`).
    #[inline(always)]
    fn hess_cancels(&self, x: T, t: T, _: T) -> bool {
        let x = x.to_f64();
        T::MANTISSA_DIGITS > 24 && (!x.is_finite() | self.sums_cancel(x, t.to_f64()).1)
    }

    fn precise_hess(&self, x: T, t: T, _: T) -> T {
        if !x.is_finite() {
            return T::from_f64(self.terms(x.to_f64(), t.to_f64()).2);
        }
        T::from_f64(self.deep_sums(x.to_f64(), t.to_f64()).1)
    }
}

/// Scalar `f64` references (libm), `(value, grad, hess)`.
pub mod scalar {
    /// [`super::SigmoidFocal`]: torchvision's formula as written, in `f64`
    /// with libm, `p_t` and `1 − p_t` each from its own sigmoid (no
    /// `1 − p`), and the derivatives by the product rule.
    pub fn sigmoid_focal_scalar(x: f64, t: f64, alpha: Option<f64>, gamma: f64) -> (f64, f64, f64) {
        let sig = |z: f64| {
            if z >= 0.0 {
                1.0 / (1.0 + (-z).exp())
            } else {
                let e = z.exp();
                e / (1.0 + e)
            }
        };
        let (s, sc) = (sig(x), sig(-x));
        let (b, gb, hb) =
            crate::loss::binary::scalar::binary_cross_entropy_with_logits_scalar(x, t, 1.0);
        let q = t * sc + (1.0 - t) * s;
        let dq = (1.0 - 2.0 * t) * s * sc;
        let ddq = dq * (sc - s);
        let a = alpha.map_or(1.0, |al| al * t + (1.0 - al) * (1.0 - t));
        // (q^γ)' = γ·q^(γ−1)·q', written with q^γ/q so that γ = 0 gives 0.
        let qg = q.powf(gamma);
        let (d1, d2) = if gamma == 0.0 {
            (0.0, 0.0)
        } else {
            let qg1 = gamma * q.powf(gamma - 1.0);
            let qg2 = if gamma == 1.0 {
                0.0
            } else {
                gamma * (gamma - 1.0) * q.powf(gamma - 2.0)
            };
            // q' = 0 (t = 1/2, or σ(x)·σ(−x) below the numbers) makes
            // both 0, whatever q^(γ−1) gives where q is 0 too.
            if dq == 0.0 {
                (0.0, 0.0)
            } else {
                (qg1 * dq, qg2 * dq * dq + qg1 * ddq)
            }
        };
        // A zero factor drops an infinite cross-entropy (x = ±inf).
        let times_b = |c: f64| if c == 0.0 { 0.0 } else { c * b };
        let v = times_b(a * qg);
        let g = a * (times_b(d1) + qg * gb);
        let h = a * (times_b(d2) + 2.0 * d1 * gb + qg * hb);
        (v, g, h)
    }
}
