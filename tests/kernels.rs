//! The elementwise kernels against their references, through the public API
//! only: every regression loss, `f32` and `f64`, every SIMD level this
//! machine has, every [`Op`], and sizes that hit every tail of the vector
//! loops and of the 4096-element blocks.
//!
//! References: the crate's `scalar::*_scalar` (f64, libm) for the piecewise
//! polynomial losses; for log-cosh a double-double evaluation written here
//! (`exact`), and for `f32` a cheaper f64 one checked against it, because the
//! crate's `log_cosh_scalar` computes `ln(cosh d)`, which loses every digit
//! for small `|d|` (`cosh(1e-20) == 1`). Reduced values are checked against a
//! compensated f64 sum of the per-element references.
//!
//! Cost: the library runs unoptimized under `cargo test`, where log-cosh
//! takes ~0.4 µs an element. Sizes up to 4099 get every op with every
//! reduction; the large one gets one call per kernel variant.

mod common;

use common::{exact_sum, filled, is_f64, same, ulps, Elem, Rng, SENTINEL};
use fastloss::kernel::evaluate;
use fastloss::loss::regression::scalar::{
    huber_scalar, log_cosh_scalar, mae_scalar, mse_scalar, pinball_scalar, smooth_l1_scalar,
};
use fastloss::{
    num_threads, set_num_threads, Huber, Level, LogCosh, LossError, Mae, Mse, Op, Pinball,
    Reduction, SmoothL1, Weights, BLOCK,
};

/// Every tail of an 8/16/32-lane loop, a block and a bit, and many blocks.
const SIZES: [usize; 14] = [
    0,
    1,
    7,
    8,
    15,
    16,
    17,
    31,
    33,
    63,
    65,
    1000,
    4099,
    (1 << 17) + 3,
];

/// Sizes above this get the lighter op plans.
const LARGE: usize = 5000;

// ------------------------------------------------------------ element types --

fn bytes<T: Elem>(a: &[T]) -> &[u8] {
    // SAFETY: f32 and f64 have no padding, so every byte of the slice is
    // initialised, and u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(a.as_ptr().cast::<u8>(), std::mem::size_of_val(a)) }
}

/// The first index where `a` and `b` are not [`same`] (memcmp first: the
/// element loop is slow in debug builds).
fn first_difference<T: Elem>(a: &[T], b: &[T]) -> Option<usize> {
    assert_eq!(a.len(), b.len());
    if bytes(a) == bytes(b) {
        return None;
    }
    (0..a.len()).find(|&i| !same(a[i], b[i]))
}

// ------------------------------------------------------------------- losses --

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Mae,
    Mse,
    SmoothL1(f64),
    Huber(f64),
    LogCosh,
    Pinball(f64),
}

/// Every loss with the parameters under test.
const KINDS: [Kind; 13] = [
    Kind::Mae,
    Kind::Mse,
    Kind::SmoothL1(0.0),
    Kind::SmoothL1(0.5),
    Kind::SmoothL1(0.75), // not a power of two: the kernel divides by β
    Kind::SmoothL1(1.0),
    Kind::Huber(0.5),
    Kind::Huber(1.0),
    Kind::Huber(2.0),
    Kind::LogCosh,
    Kind::Pinball(0.1),
    Kind::Pinball(0.5),
    Kind::Pinball(0.9),
];

impl Kind {
    /// `[value, grad, hess]` at `d`, in f64, accurate enough to judge `T`.
    ///
    /// NaN propagates through value and gradient (SPEC §4) whatever the
    /// scalar reference says (`pinball_scalar(NaN, q)` gives the gradient
    /// `0.5 − q`).
    fn reference<T: Elem>(self, d: f64) -> [f64; 3] {
        let [v, g, h] = match self {
            Kind::Mae => mae_scalar(d).into(),
            Kind::Mse => mse_scalar(d).into(),
            Kind::SmoothL1(b) => smooth_l1_scalar(d, b).into(),
            Kind::Huber(delta) => huber_scalar(d, delta).into(),
            Kind::LogCosh if is_f64::<T>() => exact::log_cosh(d),
            Kind::LogCosh => log_cosh_plain(d),
            Kind::Pinball(q) => pinball_scalar(d, q).into(),
        };
        if d.is_nan() {
            [f64::NAN, f64::NAN, h]
        } else {
            [v, g, h]
        }
    }

    /// Whether the large size runs at every level, or at the Baseline only.
    /// Parameters are run-time values, one compiled kernel per family: the
    /// default parameter runs every level; the small sizes run every level
    /// with every parameter.
    fn every_level_when_large(self) -> bool {
        match self {
            Kind::SmoothL1(p) | Kind::Huber(p) => p == 1.0,
            Kind::Pinball(q) => q == 0.5,
            _ => true,
        }
    }

    /// Allowed distance of an elementwise output from the reference rounded
    /// to `T`. The f64 polynomial kernels evaluate the reference's very
    /// formula, so they must match it exactly; in f32 they round a few times.
    fn tolerance<T: Elem>(self) -> u64 {
        match self {
            Kind::LogCosh => 4,
            _ if is_f64::<T>() => 0,
            _ => 2,
        }
    }
}

/// Calls [`evaluate`] with the loss `kind` names.
fn eval<T: Elem>(
    kind: Kind,
    level: Level,
    x: &[T],
    y: &[T],
    w: Weights<'_, T>,
    red: Reduction,
    op: Op<'_, T>,
) -> Result<T, LossError> {
    match kind {
        Kind::Mae => evaluate(level, &Mae, x, y, w, red, op),
        Kind::Mse => evaluate(level, &Mse, x, y, w, red, op),
        Kind::SmoothL1(b) => evaluate(level, &SmoothL1::<T>::new(b)?, x, y, w, red, op),
        Kind::Huber(delta) => evaluate(level, &Huber::<T>::new(delta)?, x, y, w, red, op),
        Kind::LogCosh => evaluate(level, &LogCosh, x, y, w, red, op),
        Kind::Pinball(q) => evaluate(level, &Pinball::<T>::new(q)?, x, y, w, red, op),
    }
}

// --------------------------------------------------------------------- data --

impl Rng {
    /// `±10^u`, u uniform in `[lo, hi)`.
    fn scaled(&mut self, lo: f64, hi: f64) -> f64 {
        self.sign() * 10f64.powf(lo + (hi - lo) * self.unit())
    }
}

/// The thresholds of the losses under test (β, δ ∈ {0.5, 1, 2} and
/// log-cosh's switch at 1), first exactly, then their f32 neighbours (exact
/// in both types).
const TIES: [f64; 9] = [
    0.5,
    1.0,
    2.0,
    0.5 * (1.0 - f32::EPSILON as f64 / 2.0),
    0.5 * (1.0 + f32::EPSILON as f64),
    1.0 - f32::EPSILON as f64 / 2.0,
    1.0 + f32::EPSILON as f64,
    2.0 * (1.0 - f32::EPSILON as f64 / 2.0),
    2.0 * (1.0 + f32::EPSILON as f64),
];

const SPECIALS: [f64; 3] = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN];

/// `(input, target)`: `d = input − target` over eight decades, exact ties
/// (`d = 0` with `±0` operands, `|d|` = each threshold or a neighbour) and,
/// with `specials`, `±inf` and NaN in either argument or both.
fn data<T: Elem>(n: usize, seed: u64, specials: bool) -> (Vec<T>, Vec<T>) {
    let mut rng = Rng(seed ^ (n as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let (mut x, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let (a, b) = match rng.below(20) {
            0 => {
                let t = rng.scaled(-3.0, 3.0);
                (t, t)
            }
            1 => [(0.0, 0.0), (-0.0, 0.0), (0.0, -0.0), (-0.0, -0.0)][rng.below(4) as usize],
            2 | 3 => {
                let k = rng.below(TIES.len() as u64) as usize;
                let tie = TIES[k] * rng.sign();
                // Multiples of 1/4 up to 25 keep `t + tie` exact in f32 for
                // the exact ties; their neighbours need `t = 0`.
                let t = if k < 3 && rng.below(2) == 0 {
                    (rng.below(201) as f64 - 100.0) * 0.25
                } else {
                    0.0
                };
                (t + tie, t)
            }
            4 if specials => {
                let s = SPECIALS[rng.below(3) as usize];
                let o = rng.scaled(-2.0, 2.0);
                match rng.below(3) {
                    0 => (s, o),
                    1 => (o, s),
                    _ => (s, SPECIALS[rng.below(3) as usize]),
                }
            }
            _ => {
                let t = rng.scaled(-3.0, 3.0);
                (t + rng.scaled(-4.0, 4.0), t)
            }
        };
        x.push(T::from_f64(a));
        y.push(T::from_f64(b));
    }
    (x, y)
}

/// Weights in `[0, 3)`, a tenth of them exact zeros; `dyadic` ones are
/// multiples of 1/16, whose sums are exact in any order.
fn weights<T: Elem>(n: usize, seed: u64, dyadic: bool) -> Vec<T> {
    let mut rng = Rng(seed.wrapping_mul(31) ^ n as u64);
    (0..n)
        .map(|_| {
            let w = match rng.below(10) {
                0 => 0.0,
                _ if dyadic => rng.below(48) as f64 / 16.0,
                _ => 3.0 * rng.unit(),
            };
            T::from_f64(w)
        })
        .collect()
}

// ------------------------------------------------------------------ running --

/// Which calls a run makes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Plan {
    /// Every op with every reduction.
    Full,
    /// One call per kernel variant (accumulate / value / grad / grad+hess /
    /// value+grad / accumulate+grad).
    Core,
    /// `ValueGrad(Mean)` and `ValueEachGrad`: every output a check needs.
    Lean,
}

/// What the calls of one run gave: `None` where the plan skips the call.
#[derive(Default)]
struct Outs<T> {
    mean: Option<T>,
    sum: Option<T>,
    each: Option<Vec<T>>,
    grad_mean: Option<Vec<T>>,
    grad_sum: Option<Vec<T>>,
    grad_none: Option<Vec<T>>,
    vg_mean: Option<(T, Vec<T>)>,
    vg_sum: Option<(T, Vec<T>)>,
    veg_none: Option<(Vec<T>, Vec<T>)>,
    veg_sum: Option<(Vec<T>, Vec<T>)>,
    gh_mean: Option<(Vec<T>, Vec<T>)>,
    gh_sum: Option<(Vec<T>, Vec<T>)>,
    gh_none: Option<(Vec<T>, Vec<T>)>,
}

/// One output of a run: (what it is, which call gave it, the numbers).
/// Outputs of one group must be bitwise equal whichever call gave them.
type Member<'a, T> = (&'static str, &'static str, &'a [T]);

fn run<T: Elem>(
    kind: Kind,
    level: Level,
    x: &[T],
    y: &[T],
    w: Weights<'_, T>,
    plan: Plan,
) -> Outs<T> {
    let n = x.len();
    let want = |core: bool, lean: bool| match plan {
        Plan::Full => true,
        Plan::Core => core,
        Plan::Lean => lean,
    };
    macro_rules! go {
        ($red:ident, $op:expr) => {
            eval(kind, level, x, y, w, Reduction::$red, $op)
                .unwrap_or_else(|e| panic!("{kind:?} {} {level:?} n={n}: {e}", T::NAME))
        };
    }
    let mut o = Outs::default();
    if want(false, false) {
        o.mean = Some(go!(Mean, Op::Value));
    }
    if want(true, false) {
        o.sum = Some(go!(Sum, Op::Value));
        let mut v = filled(n);
        go!(None, Op::ValueEach(&mut v));
        o.each = Some(v);
        let mut g = filled(n);
        go!(Mean, Op::Grad(&mut g));
        o.grad_mean = Some(g);
        let (mut g, mut h) = (filled(n), filled(n));
        go!(Sum, Op::GradHess(&mut g, &mut h));
        o.gh_sum = Some((g, h));
    }
    if want(true, true) {
        let mut g = filled(n);
        o.vg_mean = Some((go!(Mean, Op::ValueGrad(&mut g)), g));
        let (mut v, mut g) = (filled(n), filled(n));
        go!(None, Op::ValueEachGrad(&mut v, &mut g));
        o.veg_none = Some((v, g));
    }
    if want(false, false) {
        let mut g = filled(n);
        go!(Sum, Op::Grad(&mut g));
        o.grad_sum = Some(g);
        let mut g = filled(n);
        go!(None, Op::Grad(&mut g));
        o.grad_none = Some(g);
        let mut g = filled(n);
        o.vg_sum = Some((go!(Sum, Op::ValueGrad(&mut g)), g));
        let (mut v, mut g) = (filled(n), filled(n));
        go!(Sum, Op::ValueEachGrad(&mut v, &mut g));
        o.veg_sum = Some((v, g));
        let (mut g, mut h) = (filled(n), filled(n));
        go!(Mean, Op::GradHess(&mut g, &mut h));
        o.gh_mean = Some((g, h));
        let (mut g, mut h) = (filled(n), filled(n));
        go!(None, Op::GradHess(&mut g, &mut h));
        o.gh_none = Some((g, h));
    }
    o
}

impl<T: Elem> Outs<T> {
    /// Every output the run has, grouped by what it is.
    fn members(&self) -> Vec<Member<'_, T>> {
        use std::slice::from_ref;
        fn first<T>(p: &Option<(Vec<T>, Vec<T>)>) -> Option<&[T]> {
            p.as_ref().map(|p| &p.0[..])
        }
        fn second<T>(p: &Option<(Vec<T>, Vec<T>)>) -> Option<&[T]> {
            p.as_ref().map(|p| &p.1[..])
        }
        let all: [(&'static str, &'static str, Option<&[T]>); 20] = [
            ("mean", "Value(Mean)", self.mean.as_ref().map(from_ref)),
            (
                "mean",
                "ValueGrad(Mean)",
                self.vg_mean.as_ref().map(|p| from_ref(&p.0)),
            ),
            ("sum", "Value(Sum)", self.sum.as_ref().map(from_ref)),
            (
                "sum",
                "ValueGrad(Sum)",
                self.vg_sum.as_ref().map(|p| from_ref(&p.0)),
            ),
            ("value", "ValueEach", self.each.as_deref()),
            ("value", "ValueEachGrad(None)", first(&self.veg_none)),
            ("value", "ValueEachGrad(Sum)", first(&self.veg_sum)),
            ("grad", "Grad(Sum)", self.grad_sum.as_deref()),
            ("grad", "Grad(None)", self.grad_none.as_deref()),
            (
                "grad",
                "ValueGrad(Sum)",
                self.vg_sum.as_ref().map(|p| &p.1[..]),
            ),
            ("grad", "ValueEachGrad(None)", second(&self.veg_none)),
            ("grad", "ValueEachGrad(Sum)", second(&self.veg_sum)),
            ("grad", "GradHess(Sum)", first(&self.gh_sum)),
            ("grad", "GradHess(None)", first(&self.gh_none)),
            ("mean grad", "Grad(Mean)", self.grad_mean.as_deref()),
            (
                "mean grad",
                "ValueGrad(Mean)",
                self.vg_mean.as_ref().map(|p| &p.1[..]),
            ),
            ("mean grad", "GradHess(Mean)", first(&self.gh_mean)),
            ("hess", "GradHess(Sum)", second(&self.gh_sum)),
            ("hess", "GradHess(None)", second(&self.gh_none)),
            ("mean hess", "GradHess(Mean)", second(&self.gh_mean)),
        ];
        all.into_iter()
            .filter_map(|(group, name, s)| Some((group, name, s?)))
            .collect()
    }

    /// The first output of `group`.
    fn get(&self, group: &str) -> Option<&[T]> {
        self.members()
            .into_iter()
            .find(|m| m.0 == group)
            .map(|m| m.2)
    }

    fn one(&self, group: &str) -> &[T] {
        self.get(group)
            .unwrap_or_else(|| panic!("no {group} output"))
    }

    /// Within each group, every call gives bitwise the same: the fused ops
    /// equal the separate ones, and `None` scales like `Sum`.
    fn assert_consistent(&self, ctx: &str) {
        let m = self.members();
        for (i, (group, name, s)) in m.iter().enumerate() {
            if let Some((_, first, f)) = m[..i].iter().find(|o| o.0 == *group) {
                if let Some(k) = first_difference(s, f) {
                    panic!(
                        "{ctx}: {group}[{k}]: {name} gives {:?}, {first} {:?}",
                        s[k], f[k]
                    );
                }
            }
        }
    }

    /// Bitwise the same as `other` (another level, another weight form) in
    /// every output both have, or within `close` for the groups it accepts.
    fn assert_same(&self, other: &Self, ctx: &str, close: &dyn Fn(&str, T, T) -> bool) {
        let theirs = other.members();
        let mut compared = 0;
        for (group, name, s) in self.members() {
            let Some((_, _, t)) = theirs.iter().find(|m| (m.0, m.1) == (group, name)) else {
                continue;
            };
            compared += 1;
            if let Some(k) = first_difference(s, t) {
                if let Some(k) = (k..s.len()).find(|&k| !close(group, s[k], t[k])) {
                    panic!("{ctx}: {name}: {group}[{k}]: {:?} vs {:?}", s[k], t[k]);
                }
            }
        }
        assert!(compared > 0, "{ctx}: no output in common");
    }
}

/// Only bitwise equality.
fn exactly<T>(_: &str, _: T, _: T) -> bool {
    false
}

// ------------------------------------------------------------------- checks --

/// `got` within `tol` ulp of `want` rounded to `T`.
fn assert_ulps<T: Elem>(got: T, want: f64, tol: u64, what: &str, ctx: &dyn Fn() -> String) {
    let want_t = T::from_f64(want);
    let dist = ulps(got, want_t);
    if dist > tol {
        let dist = match dist {
            u64::MAX => "NaN mismatch".to_string(),
            d => format!("{d} ulp"),
        };
        panic!(
            "{}: {what}: got {got:?}, want {want_t:?} ({want:e} in f64): {dist} > {tol}",
            ctx()
        );
    }
}

/// A reduced value within `rel` of the exact one (or both NaN, or equal
/// infinities).
fn assert_rel<T: Elem>(got: T, want: f64, rel: f64, what: &str, ctx: &str) {
    let g = got.to_f64();
    let ok = if want.is_nan() {
        g.is_nan()
    } else if want.is_infinite() {
        g == want
    } else {
        (g - want).abs() <= rel * want.abs()
    };
    assert!(
        ok,
        "{ctx}: {what}: got {g:e}, want {want:e} (relative error {:e} > {rel:e})",
        ((g - want) / want).abs()
    );
}

/// Relative error bound of reduced values (SPEC §5).
fn reduce_tol<T: Elem>() -> f64 {
    if is_f64::<T>() {
        1e-13
    } else {
        1e-6
    }
}

/// `Mean` and `Sum` against the exact Σ w·ℓ and Σ w.
fn check_reduced<T: Elem>(o: &Outs<T>, sum: f64, total: f64, ctx: &str) {
    let mean = o.one("mean")[0];
    let got_sum = o.get("sum").map(|s| s[0]);
    if total == 0.0 && sum == 0.0 {
        assert!(
            mean.nan(),
            "{ctx}: mean of nothing must be NaN, got {mean:?}"
        );
        if let Some(s) = got_sum {
            assert!(
                same(s, T::ZERO),
                "{ctx}: sum of nothing must be 0, got {s:?}"
            );
        }
        return;
    }
    assert_rel(mean, sum / total, reduce_tol::<T>(), "mean", ctx);
    if let Some(s) = got_sum {
        assert_rel(s, sum, reduce_tol::<T>(), "sum", ctx);
    }
}

/// Unweighted outputs against the per-element references `refs`.
fn check_reference<T: Elem>(
    kind: Kind,
    x: &[T],
    y: &[T],
    refs: &[[f64; 3]],
    o: &Outs<T>,
    ctx: &str,
) {
    let n = x.len();
    let tol = kind.tolerance::<T>();
    let (values, grads, mean_grads) = (o.one("value"), o.one("grad"), o.one("mean grad"));
    let (hess, mean_hess) = (o.get("hess"), o.get("mean hess"));
    for i in 0..n {
        let at = || {
            let d = x[i] - y[i];
            format!("{ctx}: [{i}] input {:?} target {:?} d {d:?}", x[i], y[i])
        };
        let [v, g, h] = refs[i];
        assert_ulps(values[i], v, tol, "value", &at);
        assert_ulps(grads[i], g, tol, "grad", &at);
        // Mean scales by 1/n: one rounded reciprocal, one product.
        let nn = n as f64;
        assert_ulps(mean_grads[i], grads[i].to_f64() / nn, 3, "mean grad", &at);
        if let Some(hess) = hess {
            assert_ulps(hess[i], h, tol, "hess", &at);
            if let Some(mean_hess) = mean_hess {
                assert_ulps(mean_hess[i], hess[i].to_f64() / nn, 3, "mean hess", &at);
            }
        }
    }
    check_reduced(o, exact_sum(refs.iter().map(|r| r[0])), n as f64, ctx);
}

/// Weighted outputs `ow` against the unweighted ones `ou` of the same data:
/// each value and derivative of the sum is the product `w·ℓ` rounded once;
/// `Mean` divides by Σ w.
fn check_weighted<T: Elem>(w: &[T], refs: &[[f64; 3]], ou: &Outs<T>, ow: &Outs<T>, ctx: &str) {
    let total = exact_sum(w.iter().map(|w| w.to_f64()));
    let pairs = ["value", "grad", "hess"]
        .into_iter()
        .filter_map(|g| Some((g, ou.get(g)?, ow.get(g)?)));
    for (group, u, wt) in pairs {
        for i in 0..w.len() {
            let want = w[i] * u[i];
            assert!(
                same(wt[i], want),
                "{ctx}: [{i}] weight {:?}: weighted {group} {:?} != w·{group} {want:?}",
                w[i],
                wt[i]
            );
        }
    }
    let pairs = [("grad", "mean grad"), ("hess", "mean hess")]
        .into_iter()
        .filter_map(|(s, m)| Some((m, ou.get(s)?, ow.get(m)?)));
    for (group, u, wt) in pairs {
        for i in 0..w.len() {
            let at = || format!("{ctx}: [{i}] weight {:?}", w[i]);
            let want = u[i].to_f64() * w[i].to_f64() / total;
            assert_ulps(wt[i], want, 4, group, &at);
        }
    }
    let sum = exact_sum(w.iter().zip(refs).map(|(w, r)| w.to_f64() * r[0]));
    check_reduced(ow, sum, total, ctx);
}

/// Every check of one loss in one type, over every size and level.
fn check_kind<T: Elem>(kind: Kind) {
    let levels = Level::available();
    for (s, &n) in SIZES.iter().enumerate() {
        let large = n > LARGE;
        // Specials make the reduced values NaN or inf: a second, smaller
        // data set carries them so that the first keeps the sums finite.
        for specials in [false, true] {
            if specials && large {
                continue;
            }
            let (x, y) = data::<T>(n, 17 + s as u64, specials);
            let refs: Vec<[f64; 3]> = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| kind.reference::<T>((a - b).to_f64()))
                .collect();
            let w = weights::<T>(n, s as u64, false);
            let mut base: Option<(Outs<T>, Outs<T>)> = None;
            for &level in &levels {
                if large && base.is_some() && !kind.every_level_when_large() {
                    break;
                }
                let ctx = format!("{kind:?} {} {level:?} n={n} specials={specials}", T::NAME);
                // Large inputs: every kernel variant at the Baseline, for the
                // references; what the other levels need to be compared.
                let (plan, plan_w) = match (large, base.is_none()) {
                    (false, _) => (Plan::Full, Plan::Full),
                    (true, true) => (Plan::Core, Plan::Lean),
                    (true, false) => (Plan::Lean, Plan::Lean),
                };
                let ou = run(kind, level, &x, &y, Weights::None, plan);
                ou.assert_consistent(&ctx);
                let ctx_w = format!("{ctx} weights=each");
                let ow = run(kind, level, &x, &y, Weights::Each(&w), plan_w);
                ow.assert_consistent(&ctx_w);
                match &base {
                    None => {
                        check_reference(kind, &x, &y, &refs, &ou, &ctx);
                        check_weighted(&w, &refs, &ou, &ow, &ctx_w);
                        base = Some((ou, ow));
                    }
                    Some((bu, bw)) => {
                        ou.assert_same(bu, &format!("{ctx} vs Baseline"), &exactly);
                        ow.assert_same(bw, &format!("{ctx_w} vs Baseline"), &exactly);
                    }
                }
            }
        }
    }
}

macro_rules! kind_tests {
    ($($name:ident: $pattern:pat, $t:ty;)*) => {$(
        #[test]
        fn $name() {
            for kind in KINDS {
                if matches!(kind, $pattern) {
                    check_kind::<$t>(kind);
                }
            }
        }
    )*};
}

kind_tests! {
    mae_f32: Kind::Mae, f32;
    mae_f64: Kind::Mae, f64;
    mse_f32: Kind::Mse, f32;
    mse_f64: Kind::Mse, f64;
    smooth_l1_f32: Kind::SmoothL1(_), f32;
    smooth_l1_f64: Kind::SmoothL1(_), f64;
    huber_f32: Kind::Huber(_), f32;
    huber_f64: Kind::Huber(_), f64;
    log_cosh_f32: Kind::LogCosh, f32;
    log_cosh_f64: Kind::LogCosh, f64;
    pinball_f32: Kind::Pinball(_), f32;
    pinball_f64: Kind::Pinball(_), f64;
}

// ------------------------------------------------------------------ weights --

/// Per-row weights are the per-element weights repeated over each row.
fn check_rows<T: Elem>(kind: Kind, x: &[T], y: &[T], rows: &[T], dyadic: bool) {
    let n = x.len();
    let per = n / rows.len();
    let each: Vec<T> = rows
        .iter()
        .flat_map(|&w| std::iter::repeat_n(w, per))
        .collect();
    let plan = if n > LARGE { Plan::Core } else { Plan::Full };
    // Σ w summed in another order may differ in its last bits when the sum
    // is not exact: the reduced values and the 1/Σw of Mean then may too.
    let close = |group: &str, a: T, b: T| {
        !dyadic
            && match group {
                "mean" | "sum" if is_f64::<T>() => {
                    (a.to_f64() - b.to_f64()).abs() <= 1e-15 * b.to_f64().abs()
                }
                "mean" | "sum" => ulps(a, b) <= 1,
                "mean grad" | "mean hess" => ulps(a, b) <= 4,
                _ => false,
            }
    };
    let mut base: Option<Outs<T>> = None;
    for level in Level::available() {
        let ctx = format!(
            "{kind:?} {} {level:?} n={n} rows={} dyadic={dyadic}",
            T::NAME,
            rows.len()
        );
        let or = run(kind, level, x, y, Weights::Rows(rows), plan);
        or.assert_consistent(&ctx);
        let oe = run(kind, level, x, y, Weights::Each(&each), plan);
        or.assert_same(&oe, &format!("{ctx}: rows vs each"), &close);
        match &base {
            None => base = Some(or),
            Some(b) => or.assert_same(b, &format!("{ctx} vs Baseline"), &exactly),
        }
    }
}

#[test]
fn row_weights_equal_expanded_weights() {
    // Weights are loss-independent: two losses on every small size with
    // every row length that divides it; one on large sizes whose rows
    // straddle the 4096-element blocks (4096 = 1 mod 3 and mod 7).
    let small: &[Kind] = &[Kind::Huber(0.5), Kind::LogCosh];
    let mut cases: Vec<(usize, usize, &[Kind], &[bool])> = Vec::new();
    for n in SIZES.into_iter().filter(|&n| n > 0 && n <= LARGE) {
        for per in [1, 3, 7].into_iter().filter(|per| n % per == 0) {
            cases.push((n, per, small, &[true, false]));
        }
    }
    cases.push((3 * (BLOCK + 1), 3, &[Kind::Mse], &[true, false]));
    cases.push(((1 << 17) + 3, 7, &[Kind::Huber(1.0)], &[true]));
    for (s, (n, per, kinds, dyadic)) in cases.into_iter().enumerate() {
        for (&kind, &dyadic) in kinds
            .iter()
            .flat_map(|k| dyadic.iter().map(move |d| (k, d)))
        {
            let seed = 100 + s as u64;
            let (x, y) = data::<f64>(n, seed, false);
            let rows = weights::<f64>(n / per, seed, dyadic);
            check_rows(kind, &x, &y, &rows, dyadic);
            let (x, y) = data::<f32>(n, seed, false);
            let rows = weights::<f32>(n / per, seed, dyadic);
            check_rows(kind, &x, &y, &rows, dyadic);
        }
    }
}

// ------------------------------------------------------------------- errors --

/// Calls `f` with every op that writes, its buffers (of length `n`) filled
/// with [`SENTINEL`]; `f` must fail, and no buffer may have been written.
fn each_writing_op<T: Elem>(n: usize, mut f: impl FnMut(Op<'_, T>) -> Result<T, LossError>) {
    for name in [
        "ValueEach",
        "Grad",
        "ValueGrad",
        "ValueEachGrad",
        "GradHess",
    ] {
        let (mut a, mut b) = (filled::<T>(n), filled::<T>(n));
        let op = match name {
            "ValueEach" => Op::ValueEach(&mut a),
            "Grad" => Op::Grad(&mut a),
            "ValueGrad" => Op::ValueGrad(&mut a),
            "ValueEachGrad" => Op::ValueEachGrad(&mut a, &mut b),
            _ => Op::GradHess(&mut a, &mut b),
        };
        assert!(f(op).is_err(), "{name}: the call must fail");
        let s = T::from_f64(SENTINEL);
        assert!(
            a.iter().chain(&b).all(|&v| same(v, s)),
            "{name}: an output was written before the error"
        );
    }
}

fn check_invalid_weights<T: Elem>() {
    let n = 42;
    let (x, y) = data::<T>(n, 5, false);
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    // (bad weights at their indices, the index the error must name)
    let cases: [(&[(usize, f64)], usize); 7] = [
        (&[(4, -1.0), (9, nan)], 4),
        (&[(0, nan), (1, -1.0)], 0),
        (&[(6, inf), (10, -2.0)], 6),
        (&[(6, -inf)], 6),
        (&[(5, nan), (2, -1e-30)], 2),
        (&[(13, -1.0)], 13),
        (&[(13, -f64::MIN_POSITIVE), (12, inf), (11, 1.0)], 12),
    ];
    for (bad, expect) in cases {
        for per in [1, 3] {
            let mut w = vec![T::from_f64(0.5); n / per];
            for &(i, v) in bad {
                w[i] = T::from_f64(v);
            }
            let weights = if per == 1 {
                Weights::Each(&w)
            } else {
                Weights::Rows(&w)
            };
            let check = |r: Result<T, LossError>| {
                match &r {
                    Err(LossError::InvalidWeight { index, value }) => {
                        assert_eq!(*index, expect, "{w:?}");
                        let value = T::from_f64(*value);
                        assert!(same(value, w[expect]), "{value:?} vs {:?}", w[expect]);
                    }
                    other => panic!("{w:?}: got {other:?}"),
                }
                r
            };
            for kind in KINDS {
                for level in Level::available() {
                    for red in [Reduction::Mean, Reduction::Sum] {
                        check(eval(kind, level, &x, &y, weights, red, Op::Value)).ok();
                        each_writing_op::<T>(n, |op| {
                            check(eval(kind, level, &x, &y, weights, red, op))
                        });
                    }
                }
            }
        }
    }
    // -0 weighs nothing; it is not negative.
    let w = vec![T::from_f64(-0.0); n];
    let (level, red) = (Level::detected(), Reduction::Sum);
    let v = eval(Kind::Mse, level, &x, &y, Weights::Each(&w), red, Op::Value);
    assert_eq!(v.map(|v| v.to_f64()), Ok(0.0));
}

#[test]
fn invalid_weights_are_rejected_before_any_write() {
    check_invalid_weights::<f32>();
    check_invalid_weights::<f64>();
}

fn check_shape_errors<T: Elem>() {
    let n = 12;
    let (x, y) = data::<T>(n, 3, false);
    let level = Level::detected();
    let none = Weights::None;
    for kind in KINDS {
        let call = |y: &[T], w: Weights<'_, T>, red: Reduction, op: Op<'_, T>| {
            eval(kind, level, &x, y, w, red, op)
        };
        let mismatch = |r: &Result<T, LossError>| {
            matches!(r, Err(LossError::LengthMismatch { expected: 12, .. }))
        };
        // target
        let short = &y[..n - 1];
        let r = call(short, none, Reduction::Mean, Op::Value);
        let want = LossError::LengthMismatch {
            name: "target",
            expected: n,
            got: n - 1,
        };
        assert_eq!(r, Err(want.clone()), "{kind:?}");
        each_writing_op::<T>(n, |op| {
            let r = call(short, none, Reduction::Sum, op);
            assert_eq!(r, Err(want.clone()), "{kind:?}");
            r
        });
        // per-element weights
        let w = vec![T::ONE; n + 1];
        let r = call(&y, Weights::Each(&w), Reduction::Mean, Op::Value);
        let want = LossError::LengthMismatch {
            name: "sample_weight",
            expected: n,
            got: n + 1,
        };
        assert_eq!(r, Err(want), "{kind:?}");
        each_writing_op::<T>(n, |op| {
            let r = call(&y, Weights::Each(&w[..n - 2]), Reduction::Sum, op);
            assert!(mismatch(&r), "{kind:?}: {r:?}");
            r
        });
        // per-row weights whose count does not divide n
        for len in [0, 5, 7, 13, 24] {
            let w = vec![T::ONE; len];
            let want = LossError::WeightRows {
                elements: n,
                weights: len,
            };
            let r = call(&y, Weights::Rows(&w), Reduction::Mean, Op::Value);
            assert_eq!(r, Err(want.clone()), "{kind:?}");
            each_writing_op::<T>(n, |op| {
                let r = call(&y, Weights::Rows(&w), Reduction::Sum, op);
                assert_eq!(r, Err(want.clone()), "{kind:?}");
                r
            });
        }
        // output buffers of the wrong length, alone or beside a good one
        for len in [0, n - 1, n + 1] {
            let (mut a, mut b) = (filled::<T>(len), filled::<T>(n));
            let r = call(&y, none, Reduction::Sum, Op::Grad(&mut a));
            assert!(mismatch(&r), "{kind:?}: {r:?}");
            let r = call(&y, none, Reduction::None, Op::ValueEach(&mut a));
            assert!(mismatch(&r), "{kind:?}: {r:?}");
            let r = call(&y, none, Reduction::Mean, Op::ValueGrad(&mut a));
            assert!(mismatch(&r), "{kind:?}: {r:?}");
            let r = call(&y, none, Reduction::None, Op::ValueEachGrad(&mut b, &mut a));
            assert!(mismatch(&r), "{kind:?}: {r:?}");
            let r = call(&y, none, Reduction::None, Op::ValueEachGrad(&mut a, &mut b));
            assert!(mismatch(&r), "{kind:?}: {r:?}");
            let r = call(&y, none, Reduction::Mean, Op::GradHess(&mut b, &mut a));
            assert!(mismatch(&r), "{kind:?}: {r:?}");
            let r = call(&y, none, Reduction::Mean, Op::GradHess(&mut a, &mut b));
            assert!(mismatch(&r), "{kind:?}: {r:?}");
            let s = T::from_f64(SENTINEL);
            assert!(
                a.iter().chain(&b).all(|&v| same(v, s)),
                "{kind:?}: written before the error"
            );
        }
        // one number cannot be the value of every element
        let r = call(&y, none, Reduction::None, Op::Value);
        assert_eq!(r, Err(LossError::NoneReduction), "{kind:?}");
        let mut g = filled::<T>(n);
        let r = call(&y, none, Reduction::None, Op::ValueGrad(&mut g));
        assert_eq!(r, Err(LossError::NoneReduction), "{kind:?}");
        assert!(g.iter().all(|&v| same(v, T::from_f64(SENTINEL))));
    }
}

#[test]
fn shape_and_reduction_errors() {
    check_shape_errors::<f32>();
    check_shape_errors::<f64>();
}

fn check_parameters<T: Elem>() {
    let param = |r: Result<(), LossError>| match r {
        Err(LossError::InvalidParameter { name, value, .. }) => (name, value),
        other => panic!("expected InvalidParameter, got {other:?}"),
    };
    for beta in [-1.0, -1e-300, f64::NAN, f64::NEG_INFINITY] {
        let (name, value) = param(SmoothL1::<T>::new(beta).map(drop));
        assert_eq!(name, "beta");
        assert!(same(value, beta), "{value} vs {beta}");
    }
    for delta in [0.0, -0.0, -1.0, f64::NAN, f64::NEG_INFINITY] {
        let (name, value) = param(Huber::<T>::new(delta).map(drop));
        assert_eq!(name, "delta");
        assert!(same(value, delta), "{value} vs {delta}");
    }
    for q in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        let (name, value) = param(Pinball::<T>::new(q).map(drop));
        assert_eq!(name, "q");
        assert!(same(value, q), "{value} vs {q}");
    }
    assert!(SmoothL1::<T>::new(0.0).is_ok());
    assert!(Huber::<T>::new(1e-3).is_ok());
    assert!(Pinball::<T>::new(1e-3).is_ok() && Pinball::<T>::new(0.999).is_ok());
    // The message names the parameter and the value.
    let e = Huber::<T>::new(-2.5).unwrap_err().to_string();
    assert!(e.contains("delta") && e.contains("-2.5"), "{e}");
}

#[test]
fn invalid_parameters_are_rejected() {
    check_parameters::<f32>();
    check_parameters::<f64>();
}

#[test]
fn empty_input() {
    fn check<T: Elem>() {
        let e: [T; 0] = [];
        for kind in KINDS {
            for level in Level::available() {
                for w in [Weights::None, Weights::Each(&e), Weights::Rows(&e)] {
                    macro_rules! go {
                        ($red:expr, $op:expr) => {
                            eval(kind, level, &e, &e, w, $red, $op).unwrap()
                        };
                    }
                    let mean = go!(Reduction::Mean, Op::Value);
                    assert!(mean.nan(), "{kind:?}: mean of nothing {mean:?}");
                    let sum = go!(Reduction::Sum, Op::Value);
                    assert!(same(sum, T::ZERO), "{kind:?}: sum of nothing {sum:?}");
                    let (mut g, mut h) = ([T::ZERO; 0], [T::ZERO; 0]);
                    assert!(go!(Reduction::Mean, Op::ValueGrad(&mut g)).nan());
                    assert!(same(go!(Reduction::Sum, Op::ValueGrad(&mut g)), T::ZERO));
                    go!(Reduction::None, Op::GradHess(&mut g, &mut h));
                    go!(Reduction::None, Op::ValueEachGrad(&mut g, &mut h));
                    go!(Reduction::None, Op::ValueEach(&mut h));
                    go!(Reduction::Sum, Op::Grad(&mut h));
                }
            }
        }
    }
    check::<f32>();
    check::<f64>();
}

// ------------------------------------------------------------------ threads --

/// The thread count is process-wide: every check that changes it is here,
/// and no other test depends on it.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    fn check<T: Elem>() {
        let n = 3_000_000;
        let mut rng = Rng(99);
        let mut gen = |scale: f64| -> Vec<T> {
            (0..n)
                .map(|_| T::from_f64(scale * rng.unit() - 0.5 * scale))
                .collect()
        };
        let (x, y, w) = (gen(8.0), gen(8.0), gen(2.0));
        let w: Vec<T> = w.into_iter().map(|w| w.abs()).collect();
        // Mse runs on threads from 2^21 elements; log-cosh from 2^16, and
        // unoptimized it takes ~1 s a pass over 3M: debug builds give it
        // 2^16 + 5 (17 blocks).
        let heavy = if cfg!(debug_assertions) {
            (1 << 16) + 5
        } else {
            n
        };
        let runs = [
            (Kind::Mse, n, false),
            (Kind::LogCosh, heavy, false),
            (Kind::LogCosh, heavy, true),
        ];
        for (kind, len, weighted) in runs {
            let (x, y) = (&x[..len], &y[..len]);
            let w = if weighted {
                Weights::Each(&w[..len])
            } else {
                Weights::None
            };
            let level = Level::detected();
            let mut first: Option<(T, T, Vec<T>)> = None;
            for k in [1, 2, 3, 8] {
                set_num_threads(k).unwrap();
                assert_eq!(num_threads(), k);
                let ctx = format!(
                    "{kind:?} {} n={len} weighted={weighted} threads={k}",
                    T::NAME
                );
                let v = eval(kind, level, x, y, w, Reduction::Mean, Op::Value).unwrap();
                let mut g = filled::<T>(len);
                let op = Op::ValueGrad(&mut g);
                let vg = eval(kind, level, x, y, w, Reduction::Mean, op).unwrap();
                assert!(v.to_f64().is_finite(), "{ctx}");
                match &first {
                    None => first = Some((v, vg, g)),
                    Some((v1, vg1, g1)) => {
                        assert!(same(v, *v1), "{ctx}: value {v:?} vs {v1:?}");
                        assert!(same(vg, *vg1), "{ctx}: value_grad {vg:?} vs {vg1:?}");
                        if let Some(i) = first_difference(&g, g1) {
                            panic!("{ctx}: grad[{i}] {:?} vs {:?}", g[i], g1[i]);
                        }
                    }
                }
            }
        }
    }
    let before = num_threads();
    check::<f32>();
    check::<f64>();
    assert!(set_num_threads(0).is_err());
    set_num_threads(before).unwrap();
}

// ----------------------------------------------------------------- log-cosh --

/// Spot checks where log-cosh is hard: the series/asymptote switch at 1, tiny
/// arguments (whose value underflows in f32), and huge ones.
#[test]
fn log_cosh_spot_checks() {
    fn check<T: Elem>() {
        let mut ds = vec![
            0.0, 1e-6, 1e-20, 0.5, 0.999, 1.0, 1.001, 3.0, 20.0, 1e4, 1e-3, 0.3, 5.0, 19.999,
            20.001, 50.0, 400.0, 1e30, 1e-40, 1e-300,
        ];
        ds.extend([T::MAX, T::MAX / 2.0, T::MAX * (1.0 - T::EPS)]);
        ds.extend([1.0 - T::EPS / 2.0, 1.0 + T::EPS, 1.0 - T::EPS]);
        let x: Vec<T> = ds
            .iter()
            .flat_map(|&d| [T::from_f64(d), T::from_f64(-d)])
            .collect();
        let y = vec![T::ZERO; x.len()];
        let n = x.len();
        for level in Level::available() {
            let (mut v, mut g, mut h) = (filled::<T>(n), filled::<T>(n), filled::<T>(n));
            let (w, red) = (Weights::None, Reduction::None);
            eval(Kind::LogCosh, level, &x, &y, w, red, Op::ValueEach(&mut v)).unwrap();
            let op = Op::GradHess(&mut g, &mut h);
            eval(Kind::LogCosh, level, &x, &y, w, red, op).unwrap();
            for i in 0..n {
                let d = x[i].to_f64();
                let at = || format!("log_cosh {} {level:?} d={d:e}", T::NAME);
                let [rv, rg, rh] = exact::log_cosh(d);
                assert_ulps(v[i], rv, 4, "value", &at);
                assert_ulps(g[i], rg, 4, "grad", &at);
                assert_ulps(h[i], rh, 4, "hess", &at);
                assert!(v[i].to_f64().is_finite(), "{}: not finite", at());
            }
        }
    }
    check::<f32>();
    check::<f64>();
}

/// `(log cosh d, tanh d, sech² d)` in plain f64, within ~1e-15 relative:
/// the reference for f32, checked against `exact` below.
fn log_cosh_plain(d: f64) -> [f64; 3] {
    if d.is_nan() {
        return [f64::NAN; 3];
    }
    let a = d.abs();
    let e = (-2.0 * a).exp();
    let value = if a < 0.5 {
        // cosh a − 1 = 2 sinh²(a/2), without cancellation.
        let s = (0.5 * a).sinh();
        (2.0 * s * s).ln_1p()
    } else {
        a - core::f64::consts::LN_2 + e.ln_1p()
    };
    let sech2 = if a < 20.0 {
        1.0 / (a.cosh() * a.cosh())
    } else {
        4.0 * e
    };
    [value, d.tanh(), sech2]
}

#[test]
fn log_cosh_references_agree() {
    let mut rng = Rng(4);
    for i in 0..3000 {
        let d = match i % 3 {
            0 => rng.scaled(-40.0, 0.0),
            1 => rng.scaled(-1.0, 1.5),
            _ => rng.scaled(1.0, 3.0),
        };
        let e = exact::log_cosh(d);
        // The f64 reference for f32 is within 1e-14 of exact.
        let f = log_cosh_plain(d);
        for k in 0..3 {
            // Relative, or a few subnormal steps (sech² underflows).
            let err = (f[k] - e[k]).abs();
            assert!(
                err <= 1e-14 * e[k].abs() + 4.0 * f64::from_bits(1),
                "log_cosh_plain({d:e})[{k}]: {:e} vs {:e}",
                f[k],
                e[k]
            );
        }
        // The crate's scalar reference, where ln(cosh d) is well conditioned
        // (|d| ≥ 0.3: absolute error of ln near 1, a few ε).
        if d.abs() >= 0.3 {
            let (v, g, h) = log_cosh_scalar(d);
            let tol = 4.0 * f64::EPSILON * e[0].max(1.0);
            assert!(
                (v - e[0]).abs() <= tol,
                "value d={d:e}: {v:e} vs {:e}",
                e[0]
            );
            assert!(ulps(g, e[1]) <= 2, "grad d={d:e}: {g:e} vs {:e}", e[1]);
            assert!(ulps(h, e[2]) <= 8, "hess d={d:e}: {h:e} vs {:e}", e[2]);
        }
    }
}

/// Double-double (≈ 106-bit) log-cosh, tanh and sech², for the references.
mod exact {
    /// `hi + lo`, `|lo| ≤ ulp(hi)/2`.
    #[derive(Clone, Copy, Debug)]
    pub struct Dd(f64, f64);

    fn two_sum(a: f64, b: f64) -> Dd {
        let s = a + b;
        let bb = s - a;
        Dd(s, (a - (s - bb)) + (b - bb))
    }

    fn fast_two_sum(a: f64, b: f64) -> Dd {
        let s = a + b;
        Dd(s, b - (s - a))
    }

    fn two_prod(a: f64, b: f64) -> Dd {
        let p = a * b;
        Dd(p, a.mul_add(b, -p))
    }

    fn dd(a: f64) -> Dd {
        Dd(a, 0.0)
    }

    impl Dd {
        fn add(self, o: Dd) -> Dd {
            let s = two_sum(self.0, o.0);
            let t = two_sum(self.1, o.1);
            let s = fast_two_sum(s.0, s.1 + t.0);
            fast_two_sum(s.0, s.1 + t.1)
        }
        fn sub(self, o: Dd) -> Dd {
            self.add(Dd(-o.0, -o.1))
        }
        fn mul(self, o: Dd) -> Dd {
            let p = two_prod(self.0, o.0);
            fast_two_sum(p.0, p.1 + (self.0 * o.1 + self.1 * o.0))
        }
        fn mul_f(self, b: f64) -> Dd {
            let p = two_prod(self.0, b);
            fast_two_sum(p.0, p.1 + self.1 * b)
        }
        fn div_f(self, b: f64) -> Dd {
            let q1 = self.0 / b;
            let r = self.sub(two_prod(q1, b));
            fast_two_sum(q1, r.0 / b)
        }
        fn div(self, o: Dd) -> Dd {
            let q1 = self.0 / o.0;
            let r = self.sub(o.mul_f(q1));
            let q2 = r.0 / o.0;
            let r = r.sub(o.mul_f(q2));
            fast_two_sum(q1, q2).add(dd(r.0 / o.0))
        }
        /// Times a power of two.
        fn scale(self, p: f64) -> Dd {
            Dd(self.0 * p, self.1 * p)
        }
        fn value(self) -> f64 {
            self.0 + self.1
        }
    }

    const LN2: Dd = Dd(core::f64::consts::LN_2, 2.319_046_813_846_299_6e-17);

    fn pow2(k: i32) -> f64 {
        f64::from_bits(((k + 1023) as u64) << 52)
    }

    /// `e^x − 1` for `|x| ≤ 1e-3`, Taylor.
    fn expm1_small(r: Dd) -> Dd {
        let mut s = dd(1.0);
        for j in (2..=9).rev() {
            s = dd(1.0).add(s.mul(r).div_f(j as f64));
        }
        s.mul(r)
    }

    /// `e^x`, relative error ≈ 1e-31 (subnormal results rounded once or twice).
    fn exp(x: Dd) -> Dd {
        if x.0 < -760.0 {
            return dd(0.0);
        }
        let k = (x.0 / LN2.0).round();
        // e^x = 2^k (1 + p)^1024, p = e^(r/1024) − 1; squaring 1 + p as
        // p ← 2p + p² keeps p's relative precision.
        let mut p = expm1_small(x.sub(LN2.mul_f(k)).scale(1.0 / 1024.0));
        for _ in 0..10 {
            p = p.scale(2.0).add(p.mul(p));
        }
        let s = dd(1.0).add(p);
        let k = k as i32;
        if k < -1000 {
            s.scale(pow2(-1000)).scale(pow2(k + 1000))
        } else {
            s.scale(pow2(k))
        }
    }

    /// `ln(1 + e)` for `0 ≤ e ≤ 1`, absolute error ≈ 1e-31.
    fn ln_1p(e: Dd) -> Dd {
        if e.0 == 0.0 {
            return dd(0.0);
        }
        // One Newton step from the f64 value doubles its digits.
        let y0 = e.0.ln_1p();
        let z = dd(1.0).add(e);
        dd(y0).add(z.mul(exp(dd(-y0))).sub(dd(1.0)))
    }

    /// Taylor coefficients of `tanh x / x` in powers of x²; `log cosh x` has
    /// `t_k / (2k + 2)` at `x^(2k+2)`. Eight reach 1e-32 for |x| < 1/64.
    const TANH: [(f64, f64); 8] = [
        (1.0, 1.0),
        (-1.0, 3.0),
        (2.0, 15.0),
        (-17.0, 315.0),
        (62.0, 2835.0),
        (-1382.0, 155_925.0),
        (21_844.0, 6_081_075.0),
        (-929_569.0, 638_512_875.0),
    ];

    /// Below this |x|, the series; above, the form in `e^(−2|x|)`, whose
    /// cancellation costs at most 13 of the 106 bits.
    const SERIES: f64 = 1.0 / 64.0;

    /// `(log cosh a, tanh a)` from the series, `a < SERIES`.
    fn series(a: f64) -> (Dd, Dd) {
        let s = two_prod(a, a);
        let (mut pv, mut pt) = (dd(0.0), dd(0.0));
        for (k, &(p, q)) in TANH.iter().enumerate().rev() {
            pt = pt.mul(s).add(dd(p).div(dd(q)));
            pv = pv.mul(s).add(dd(p).div(dd(q * (2 * k + 2) as f64)));
        }
        (pv.mul(s), pt.mul_f(a))
    }

    /// `(log cosh a, tanh a)` from `e = e^(−2a)`.
    fn exponential(a: f64, e: Dd) -> (Dd, Dd) {
        let v = dd(a).sub(LN2).add(ln_1p(e));
        (v, dd(1.0).sub(e).div(dd(1.0).add(e)))
    }

    /// `[log cosh d, tanh d, sech² d]`, each within an ulp of f64.
    pub fn log_cosh(d: f64) -> [f64; 3] {
        if d.is_nan() {
            return [f64::NAN; 3];
        }
        let a = d.abs();
        if a == f64::INFINITY {
            return [f64::INFINITY, d.signum(), 0.0];
        }
        if a > 1e3 {
            // e^(−2|d|) is below every subnormal.
            return [dd(a).sub(LN2).value(), d.signum(), 0.0];
        }
        let e = exp(dd(-2.0 * a));
        let four_e = if a < 300.0 {
            e.scale(4.0)
        } else {
            exp(LN2.scale(2.0).sub(dd(2.0 * a)))
        };
        let one_e = dd(1.0).add(e);
        let sech2 = four_e.div(one_e.mul(one_e)).value();
        let (value, tanh) = if a >= SERIES {
            let (v, t) = exponential(a, e);
            (v.value(), t.value())
        } else if a >= pow2(-500) {
            let (v, t) = series(a);
            (v.value(), t.value())
        } else {
            // x² underflows: the first term, scaled so that it rounds once.
            let big = a * pow2(500);
            let v = two_prod(big, big).scale(0.5 * pow2(-500)).scale(pow2(-500));
            (v.value(), a)
        };
        [value, if d < 0.0 { -tanh } else { tanh }, sech2]
    }

    /// The series and the exponential form agree far beyond f64 where both
    /// are accurate (which checks the coefficients), and `exp` is right.
    #[test]
    fn series_and_exponential_forms_agree() {
        // (|x|, bound): the exponential form loses log2(ln 2 / log cosh x)
        // bits to cancellation; the series converges slower as |x| grows.
        let cases = [
            (SERIES * 0.999, 1e-25),
            (SERIES * 0.5, 1e-24),
            (0.05, 1e-22),
        ];
        for (a, bound) in cases {
            let (sv, st) = series(a);
            let (ev, et) = exponential(a, exp(dd(-2.0 * a)));
            let rel = |x: Dd, y: Dd| (x.sub(y).value() / y.value()).abs();
            assert!(rel(sv, ev) < bound, "value at {a}: {:e}", rel(sv, ev));
            assert!(rel(st, et) < bound, "tanh at {a}: {:e}", rel(st, et));
        }
        assert_eq!(exp(dd(1.0)).value(), std::f64::consts::E);
        assert_eq!(exp(dd(0.5)).value(), 0.5f64.exp());
        let one = exp(dd(-1.0)).mul(exp(dd(1.0))).sub(dd(1.0));
        assert!(one.value().abs() < 1e-30, "{one:?}");
        let tiny = exp(dd(-700.0)).value();
        assert!((tiny / (-700f64).exp() - 1.0).abs() < 4e-16, "{tiny:e}");
        let half = dd(1.0).div(dd(3.0)).mul_f(3.0).sub(dd(1.0));
        assert!(half.value().abs() < 1e-31, "{half:?}");
    }
}

/// Smooth L1 multiplies by `1/β` where β is a power of two with a normal
/// reciprocal: the quadratic side's value `0.5·d·(d/β)` and gradient `d/β`
/// must be the divided ones bit for bit, down through the subnormals and up
/// to overflow, at every level, for such β and for the β next to them.
fn check_smooth_l1_power_of_two_beta<T: Elem>() {
    let emax = if is_f64::<T>() { 1023 } else { 127 };
    let emin = if is_f64::<T>() { -1022 } else { -126 };
    let mut betas = Vec::new();
    for e in [emin, emin + 1, -60, -1, 0, 1, 60, emax - 1, emax] {
        let b = 2f64.powi(e);
        betas.extend([b, b * (1.0 + T::EPS), b * (1.0 - T::EPS / 2.0)]);
    }
    let mut rng = Rng(7);
    for beta in betas {
        let b = T::from_f64(beta);
        if b <= T::ZERO || !b.is_finite() {
            continue;
        }
        // |d| < β from β down to the smallest subnormal, both signs.
        let mut x: Vec<T> = (0..600)
            .map(|i| {
                let f = 2f64.powf(-(i as f64) * 1.8 * rng.unit());
                T::from_f64(rng.sign() * beta * f * (1.0 - T::EPS))
            })
            .collect();
        x.extend([T::ZERO, -T::ZERO, T::MIN_POSITIVE, -T::MIN_POSITIVE]);
        let y = vec![T::ZERO; x.len()];
        let sl = SmoothL1::<T>::new(beta).unwrap();
        for level in Level::available() {
            let mut v = filled::<T>(x.len());
            let mut g = filled::<T>(x.len());
            evaluate(
                level,
                &sl,
                &x,
                &y,
                Weights::None,
                Reduction::Sum,
                Op::ValueEachGrad(&mut v, &mut g),
            )
            .unwrap();
            for i in 0..x.len() {
                let d = x[i];
                if d.abs() >= b {
                    continue;
                }
                let r = d / b;
                let want = T::HALF * d * r;
                assert!(
                    same(v[i], want) && same(g[i], r),
                    "{level:?} beta {beta:e} d {:e}: value {:e} grad {:e}, want {:e} {:e}",
                    d.to_f64(),
                    v[i].to_f64(),
                    g[i].to_f64(),
                    want.to_f64(),
                    r.to_f64()
                );
            }
        }
    }
}

#[test]
fn smooth_l1_power_of_two_beta_multiplies_exactly() {
    check_smooth_l1_power_of_two_beta::<f32>();
    check_smooth_l1_power_of_two_beta::<f64>();
}
