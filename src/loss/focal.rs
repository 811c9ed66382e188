//! The focal loss on logits: per-element math only (the loops are in
//! [`crate::kernel`]). `x` is the logit, `t` the target in [0, 1].

use core::marker::PhantomData;

use crate::dd::{self, Dd};
use crate::error::{require, LossError};
use crate::fixed::Big;
use crate::float::Float;
use crate::kernel::{Pointwise, TargetDomain, Terms};
use crate::math::log_r_f64;

/// `ln(1 + e)` for a double-double `e` in [0, 1], to about 2^-60 absolute
/// and relative: fdlibm's kernel `ln(1 + f) = f − f²/2 + s·(f²/2 + R(s²))`,
/// `s = f/(2 + f)`, on `1 + e = 2^k·(1 + f)` (`f` exact), with `f²/2`, `s`
/// and the sums in double-double. Only `s·R` (below 2^-8) is rounded in
/// `f64`, and `R` is within 2^-58.45 of its target, `s` ≤ 0.18: 2^-60 in
/// all. Half the work of `ln_1p` and a Newton step through a double-double
/// `exp`.
#[inline(always)]
fn ln_1p_dd(e: Dd) -> Dd {
    const LN2_LO: f64 = 2.319_046_813_846_299_6e-17; // ln 2 − LN2
    let u = dd::two_sum(1.0, e.hi);
    // 1 + e = u.hi + c, |c| ≤ 2^-52.
    let c = u.lo + e.lo;
    let big = u.hi > core::f64::consts::SQRT_2;
    let m = if big { 0.5 * u.hi } else { u.hi };
    let k = if big { 1.0 } else { 0.0 };
    // Exact (Sterbenz: m in [√2/2, √2]).
    let f = m - 1.0;
    let d = dd::two_sum(2.0, f);
    let s = f / d.hi;
    let s_lo = ((-s).mul_add(d.hi, f) - s * d.lo) / d.hi;
    let r = log_r_f64(s * s);
    let ff = dd::two_prod(f, f);
    let hfsq = Dd {
        hi: 0.5 * ff.hi,
        lo: 0.5 * ff.lo,
    };
    let tsum = dd::add(hfsq, Dd::new(r));
    let st = dd::mul(Dd { hi: s, lo: s_lo }, tsum);
    let l = dd::add(dd::sub(Dd::new(f), hfsq), st);
    let l = dd::add(
        l,
        Dd {
            hi: k * core::f64::consts::LN_2,
            lo: k * LN2_LO,
        },
    );
    // ln(u.hi + c) = ln(u.hi) + c/u.hi, to (c/u.hi)²/2 ≤ 2^-105.
    dd::add(l, Dd::new(c / u.hi))
}

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
/// more than its precision), `f64` by a fast tier for hard targets
/// (`terms_fast`) and in double-double elsewhere. `(1 − p_t)^γ` is
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
        // Where α_t·q^γ is 0 (α_t = 0, or q^γ below the subnormals), so is
        // every result: q^γ = e^−Y falls faster than the factors it meets
        // (B, γ·m ≈ Y and their products) grow, which may overflow to inf.
        let zero = aq == 0.0;
        let value = if zero { 0.0 } else { aq * bce };
        let grad = if zero { 0.0 } else { aq * (kb + gb) };
        // 1 − 2σ(x) = ∓r·(1 − e).
        let tanh = r * (1.0 - e);
        let one_m2s = if nonneg { -tanh } else { tanh };
        let inner = kb * ((self.gamma - 1.0) * m + one_m2s) + 2.0 * k * gb + er * r;
        (value, grad, if zero { 0.0 } else { aq * inner })
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
        // A subnormal N (a subnormal target) is taken as N·2^600, where the
        // step's e^(l0) keeps its digits, and ln 2^600 subtracted.
        let shift = if n.hi < dd::pow2i(-500) { 600.0 } else { 0.0 };
        let ns = dd::ldexp(n, shift);
        let l0 = Float::ln(ns.hi);
        let d = dd::sub(dd::quo(dd::exp::<false>(l0), ns), one);
        let ln2s = dd::two_prod(shift, dd::LN2_MID);
        let ln2s = dd::add(
            Dd::new(shift * dd::LN2_HI),
            Dd {
                hi: ln2s.hi,
                lo: ln2s.lo + shift * dd::LN2_LO,
            },
        );
        let ln_n = if u.hi == 0.0 {
            Dd::new(-ax)
        } else {
            dd::sub(dd::sub(Dd::new(l0), d), ln2s)
        };
        let y = dd::mul_f(dd::sub(ln_n, sp), self.gamma);
        let p = dd::exp::<false>(y.hi);
        // γ·ln q beyond f64 (a huge γ times a huge |x|) is −inf with a NaN
        // low part; e^(−inf) = 0 needs none.
        let lo = if y.hi.is_finite() { y.lo } else { 0.0 };
        let big_q = dd::add(p, dd::mul_f(p, lo));
        let aq = dd::mul(a, big_q);
        let ratio = if u.hi == 0.0 { r } else { dd::quo(er, n) };
        let m = dd::mul(dd::two_sum(1.0, -2.0 * t), ratio);
        let k = dd::mul_f(m, self.gamma);
        let mb = dd::mul(m, bce);
        let kb = dd::mul_f(mb, self.gamma);
        // Where α_t·q^γ is 0, so is every result (see `terms`).
        let zero = aq.hi == 0.0;
        let value = if zero { 0.0 } else { dd::mul(aq, bce).hi };
        let grad = if zero {
            0.0
        } else {
            dd::mul(aq, dd::add(kb, gb)).hi
        };
        let tanh = dd::mul(r, dd::sub(one, e));
        let one_m2s = if nonneg { dd::neg(tanh) } else { tanh };
        let inner = dd::add(
            dd::add(
                dd::mul(kb, dd::add(dd::mul_f(m, self.gamma - 1.0), one_m2s)),
                dd::mul_f(dd::mul(k, gb), 2.0),
            ),
            dd::mul(er, r),
        );
        let hess = if zero { 0.0 } else { dd::mul(aq, inner).hi };
        (value, grad, hess, aq)
    }

    /// Whether [`terms_fast`](Self::terms_fast) answers for this element:
    /// a hard target (0 or 1), `|x| ≤ 700` (so that `e^(−|x|)` and the
    /// results stay in the normals; NaN fails) and `γ ≤ 16` (so that the
    /// 2^-60 of `ln q` stays 2^-56 of `q^γ`).
    #[inline(always)]
    fn fast_ok(&self, x: f64, t: f64) -> bool {
        ((t == 0.0) | (t == 1.0)) & (x.abs() <= 700.0) & (self.gamma <= 16.0)
    }

    /// `(value, grad)` for a hard target (see [`fast_ok`](Self::fast_ok);
    /// elsewhere a meaningless finite pair), within about 2 ulp: the
    /// cheaper tier for the common case. With `z = (1 − 2t)·x`, `1 − p_t =
    /// σ(z)`, `B = max(z, 0) + L` and `−ln(1 − p_t) = max(−z, 0) + L`, `L =
    /// ln(1 + e^(−|x|)) ≤ ln 2`: sums of two terms of one sign, `L` to 2^-60
    /// ([`ln_1p_dd`] of a double-double `e^(−|x|)`), so `γ·ln(1 − p_t)` is a
    /// double-double good to 2^-56 whatever its size, and `exp_mul_f64`
    /// takes its low part into the reduction, where a rounded `γ·ln q` of
    /// hundreds would lose γ times its ulp. The gradient's sum `k·B + σ(x) −
    /// t` has terms of one sign for these targets (`|m|·γ·B + |σ(x) − t|`,
    /// sign `1 − 2t`): no cancellation. Each result is then `e^Y·M` with
    /// `Y` good to 2^-56, `M = α_t·B` (or `α_t·S`) rounded once, and
    /// `exp_mul_f64`'s 1.5 ulp: within 2.2 ulp.
    #[inline(always)]
    fn terms_fast(&self, x: f64, t: f64) -> (f64, f64) {
        let x = if x.abs() <= 700.0 { x } else { 0.0 };
        let one = Dd::new(1.0);
        let pos = t == 1.0;
        let z = if pos { -x } else { x };
        let e = dd::exp::<false>(-x.abs());
        let r = dd::quo(one, dd::add(one, e)); // σ(|x|)
        let er = dd::mul(e, r); // σ(−|x|)
        let l = ln_1p_dd(e);
        let zp = if z > 0.0 { z } else { 0.0 };
        let zn = if z < 0.0 { -z } else { 0.0 };
        let b = dd::add(Dd::new(zp), l);
        let y = dd::mul_f(dd::add(Dd::new(zn), l), -self.gamma);
        // |m| and |σ(x) − t|: σ(−|x|) and σ(|x|) by the side of z.
        let (m, d) = if z >= 0.0 { (er, r) } else { (r, er) };
        let sum = dd::add(dd::mul_f(dd::mul(m, b), self.gamma), d);
        let al = self.alpha;
        let a = if !self.has_alpha {
            one
        } else if pos {
            Dd::new(al)
        } else {
            dd::one_minus(al)
        };
        let vm = dd::mul(a, b).hi;
        let gm = dd::mul(a, sum).hi;
        let v = crate::math::exp_mul_f64(y.hi, y.lo, vm, 0.0);
        let g = crate::math::exp_mul_f64(y.hi, y.lo, gm, 0.0);
        (v, if pos { -g } else { g })
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

/// `v`, or 0 where it is NaN at a finite logit: there the formulas met
/// 0·inf or inf − inf, which for a finite logit and γ only arise where
/// q^γ = e^−Y has underflowed past the factors it multiplies (B, γ·m ≈ Y
/// and their products, which overflowed), so the result is 0.
#[inline(always)]
fn settle(v: f64, x: f64) -> f64 {
    if v.is_nan() & x.is_finite() {
        0.0
    } else {
        v
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
            // The value and gradient from the fast tier (the other lanes
            // are flagged by the hooks); the second derivative, whose sum
            // can cancel even for hard targets, in double-double (dropped
            // by the compiler where it is not asked for).
            let fast = self.terms_fast(x, t);
            let fine = self.terms_dd(if x.is_finite() { x } else { 0.0 }, t);
            (fast.0, fast.1, fine.2)
        } else {
            self.terms(x, t)
        };
        Terms {
            value: T::from_f64(settle(v, x)),
            grad: T::from_f64(settle(g, x)),
            hess: T::from_f64(settle(h, x)),
        }
    }

    const REFINES_VALUE: bool = true;

    /// `f64`: outside the fast tier (see `fast_ok`).
    #[inline(always)]
    fn value_cancels(&self, x: T, t: T, _: T) -> bool {
        T::MANTISSA_DIGITS > 24 && !self.fast_ok(x.to_f64(), t.to_f64())
    }

    /// Soft targets are common (label smoothing): their chunks' values and
    /// gradients in double-double as vectors.
    const VECTOR_REFINE: bool = true;

    /// In double-double, or `f64` for an infinite or NaN logit (where the
    /// double-double formulas meet inf − inf); branch-free (see
    /// `VECTOR_REFINE`).
    #[inline(always)]
    fn precise_value(&self, x: T, t: T, _: T) -> T {
        let (x, t) = (x.to_f64(), t.to_f64());
        let finite = x.is_finite();
        let fine = self.terms_dd(if finite { x } else { 0.0 }, t).0;
        let coarse = self.terms(x, t).0;
        T::from_f64(settle(if finite { fine } else { coarse }, x))
    }

    const REFINES_GRAD: bool = true;

    /// `f32`: where the gradient's sum `k·B + σ(x) − t`, in `f64`,
    /// cancelled below 2^-20 of its largest term, so that its rounding
    /// errors could show in an `f32` result. `f64`: outside the fast tier
    /// (see `fast_ok`), whose sums never cancel; those
    /// lanes go to double-double, and to `deep_sums`
    /// where `sums_cancel` says so.
    #[inline(always)]
    fn grad_cancels(&self, x: T, t: T, _: T) -> bool {
        let (x, t) = (x.to_f64(), t.to_f64());
        if T::MANTISSA_DIGITS > 24 {
            return !self.fast_ok(x, t);
        }
        let (sum, big) = self.bracket(x, t);
        sum.abs() < big * dd::pow2i(-20)
    }

    /// The gradient in double-double (finite `x`: an infinite one has no
    /// cancellation), unless its sum cancelled below 2^-10 of its terms
    /// (see `sums_cancel`): then `deep_grad` answers.
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
        (T::from_f64(settle(g, x)), self.sums_cancel(x, t.to_f64()).0)
    }

    fn deep_grad(&self, x: T, t: T, _: T) -> T {
        if !x.is_finite() {
            return T::from_f64(self.terms(x.to_f64(), t.to_f64()).1);
        }
        T::from_f64(settle(self.deep_sums(x.to_f64(), t.to_f64()).0, x.to_f64()))
    }

    const REFINES_HESS: bool = true;

    /// `f64` only (`f32` rounds an `f64` sum good to 2^-50 of its terms,
    /// 2^-26 of itself where it cancels to 2^-24 of them): see
    /// `sums_cancel`; and an infinite or NaN logit
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
        T::from_f64(settle(self.deep_sums(x.to_f64(), t.to_f64()).1, x.to_f64()))
    }
}

/// Scalar `f64` references (libm), `(value, grad, hess)`.
pub mod scalar {
    /// [`super::SigmoidFocal`]: torchvision's formula as written, in `f64`
    /// with libm, `p_t` and `1 − p_t` each from its own sigmoid (no
    /// `1 − p`), and the derivatives by the product rule.
    pub fn sigmoid_focal_scalar(x: f64, t: f64, alpha: Option<f64>, gamma: f64) -> (f64, f64, f64) {
        use crate::loss::binary::scalar::{binary_cross_entropy_with_logits_scalar, sigmoid};
        let (s, sc) = (sigmoid(x), sigmoid(-x));
        let (b, gb, hb) = binary_cross_entropy_with_logits_scalar(x, t, 1.0);
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
