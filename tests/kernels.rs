//! Every elementwise loss of the table in `common/kinds.rs` (the regression
//! losses and the binary cross-entropies, with their parameter samples)
//! through the public API, one concern at a time: `f32` and `f64`; every
//! SIMD level this machine has, bitwise equal to the Baseline; every [`Op`]
//! with every reduction, the fused ops bitwise equal to the separate ones;
//! sizes that hit every tail of the vector loops and of the 4096-element
//! blocks; each element against the kind's reference within its ulp bound,
//! reduced values against a compensated f64 sum of the references; weights
//! per element and per row; the errors, before any output is written; the
//! trait methods; thread counts. What is particular to a family's math is in
//! `regression.rs` and `binary.rs`.
//!
//! Cost: the library runs unoptimized under `cargo test`, where log-cosh
//! takes ~0.4 µs an element. Sizes up to 4099 get every op with every
//! reduction; the large one gets one call per kernel variant.

mod common;

use common::kinds::{Kind, Large, Loss, Ref, Visit, KINDS};
use common::{
    assert_close, assert_ulps, data, data_sets, exact_sum, filled, is_f64, loss, same, ulps,
    weights, Elem, LARGE, SENTINEL, SIZES,
};
use fastloss::{
    num_threads, set_num_threads, Level, LossError, Op, Pointwise, PointwiseLoss, Reduction,
    Weights, BLOCK,
};
use std::sync::Mutex;

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
    loss: &Loss<T>,
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
            loss.eval(level, x, y, w, Reduction::$red, $op)
                .unwrap_or_else(|e| panic!("{:?} {} {level:?} n={n}: {e}", loss.kind, T::NAME))
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

/// Relative error bound of reduced values, which the crate promises:
/// float32 lanes are summed in float64 blocks, combined by a pairwise tree.
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

/// Unweighted outputs against the per-element references `refs`, each
/// within the kind's bound ([`Kind::ulps`]).
fn check_reference<T: Elem>(
    loss: &Loss<T>,
    x: &[T],
    y: &[T],
    refs: &[Ref],
    o: &Outs<T>,
    ctx: &str,
) {
    let n = x.len();
    let kind = loss.kind;
    let (values, grads, mean_grads) = (o.one("value"), o.one("grad"), o.one("mean grad"));
    let (hess, mean_hess) = (o.get("hess"), o.get("mean hess"));
    for i in 0..n {
        let at = || {
            let c = loss.column(i);
            format!(
                "{ctx}: [{i}] input {:?} target {:?} column {c:?}",
                x[i], y[i]
            )
        };
        let r = refs[i];
        let judge = |k: usize, got: T, what: &str| {
            let tol = kind.ulps::<T>(k);
            match r.scale {
                None => assert_ulps(got, r.want[k], tol, what, &at),
                Some(m) => {
                    let at = || format!("{}: {what}", at());
                    assert_close(got, r.want[k], m[k], tol, &at)
                }
            }
        };
        judge(0, values[i], "value");
        judge(1, grads[i], "grad");
        // Mean scales by 1/n: one rounded reciprocal, one product.
        let nn = n as f64;
        assert_ulps(mean_grads[i], grads[i].to_f64() / nn, 3, "mean grad", &at);
        if let Some(hess) = hess {
            judge(2, hess[i], "hess");
            if let Some(mean_hess) = mean_hess {
                assert_ulps(mean_hess[i], hess[i].to_f64() / nn, 3, "mean hess", &at);
            }
        }
    }
    check_reduced(o, exact_sum(refs.iter().map(|r| r.want[0])), n as f64, ctx);
}

/// Weighted outputs `ow` against the unweighted ones `ou` of the same data,
/// `w` the weight of each element: each value and derivative of the sum is
/// the product `w·ℓ` rounded once; `Mean` divides by Σ w.
fn check_weighted<T: Elem>(w: &[T], refs: &[Ref], ou: &Outs<T>, ow: &Outs<T>, ctx: &str) {
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
    let sum = exact_sum(w.iter().zip(refs).map(|(w, r)| w.to_f64() * r.want[0]));
    check_reduced(ow, sum, total, ctx);
}

/// Every check of one kind in one type, over every size and level: without
/// weights, with a weight per element, and for a kind with columns with a
/// weight per row of them (rows of one element are weights per element:
/// `evaluate` makes them so).
fn check_kind<T: Elem>(kind: Kind) {
    let levels = Level::available();
    let cols = kind.columns();
    for (s, &size) in SIZES.iter().enumerate() {
        let large = size > LARGE;
        if large && kind.large() == Large::Skip {
            continue;
        }
        // A kind with columns takes `size` rows of them.
        let n = size * cols.max(1);
        let seed = s as u64 + 17 * cols as u64;
        let loss = loss::<T>(kind, seed);
        let each = weights::<T>(n, seed, false);
        let rows = weights::<T>(size, seed + 1, false);
        let rows_each: Vec<T> = rows
            .iter()
            .flat_map(|&w| std::iter::repeat_n(w, cols))
            .collect();
        let mut weighted = vec![("each", Weights::Each(&each), &each[..])];
        if cols > 0 {
            weighted.push(("rows", Weights::Rows(&rows), &rows_each[..]));
        }
        for specials in data_sets(kind, size) {
            let (x, y) = data::<T>(kind, n, 17 + seed, specials);
            let refs: Vec<Ref> = (0..n).map(|i| loss.reference(i, x[i], y[i])).collect();
            let mut base: Option<Vec<Outs<T>>> = None;
            for &level in &levels {
                if large && base.is_some() && kind.large() == Large::Baseline {
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
                let ou = run(&loss, level, &x, &y, Weights::None, plan);
                ou.assert_consistent(&ctx);
                let mut outs = vec![(ctx.clone(), ou)];
                for &(label, w, _) in &weighted {
                    let ctx = format!("{ctx} weights={label}");
                    let o = run(&loss, level, &x, &y, w, plan_w);
                    o.assert_consistent(&ctx);
                    outs.push((ctx, o));
                }
                match &base {
                    None => {
                        check_reference(&loss, &x, &y, &refs, &outs[0].1, &ctx);
                        for ((ctx, o), &(_, _, w)) in outs[1..].iter().zip(&weighted) {
                            check_weighted(w, &refs, &outs[0].1, o, ctx);
                        }
                        base = Some(outs.into_iter().map(|(_, o)| o).collect());
                    }
                    Some(b) => {
                        for ((ctx, o), bo) in outs.iter().zip(b) {
                            o.assert_same(bo, &format!("{ctx} vs Baseline"), &exactly);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn every_kind_against_its_reference_f32() {
    for kind in KINDS {
        check_kind::<f32>(kind);
    }
}

#[test]
fn every_kind_against_its_reference_f64() {
    for kind in KINDS {
        check_kind::<f64>(kind);
    }
}

// ------------------------------------------------------------------ weights --

/// Per-row weights are the per-element weights repeated over each row.
fn check_rows<T: Elem>(kind: Kind, x: &[T], y: &[T], rows: &[T], dyadic: bool) {
    let loss = Loss::plain(kind);
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
        let or = run(&loss, level, x, y, Weights::Rows(rows), plan);
        or.assert_consistent(&ctx);
        let oe = run(&loss, level, x, y, Weights::Each(&each), plan);
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
            let (x, y) = data::<f64>(kind, n, seed, false);
            let rows = weights::<f64>(n / per, seed, dyadic);
            check_rows(kind, &x, &y, &rows, dyadic);
            let (x, y) = data::<f32>(kind, n, seed, false);
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
    // A multiple of every kind's column count.
    let n = 42;
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    // (bad weights at their indices, the index the error must name); finite
    // negative weights are weights.
    let cases: [(&[(usize, f64)], usize); 7] = [
        (&[(4, -1.0), (9, nan)], 9),
        (&[(0, nan), (1, -1.0)], 0),
        (&[(6, inf), (10, -2.0)], 6),
        (&[(6, -inf)], 6),
        (&[(5, nan), (2, -1e-30)], 5),
        (&[(13, -inf)], 13),
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
                let (x, y) = data::<T>(kind, n, 5, false);
                let loss = loss::<T>(kind, 5);
                for level in Level::available() {
                    for red in [Reduction::Mean, Reduction::Sum] {
                        check(loss.eval(level, &x, &y, weights, red, Op::Value)).ok();
                        each_writing_op::<T>(n, |op| {
                            check(loss.eval(level, &x, &y, weights, red, op))
                        });
                    }
                }
            }
        }
    }
    // -0 weighs nothing; it is not negative.
    let w = vec![T::from_f64(-0.0); n];
    let (x, y) = data::<T>(Kind::Mse, n, 5, false);
    let (level, red) = (Level::detected(), Reduction::Sum);
    let mse = Loss::plain(Kind::Mse);
    let v = mse.eval(level, &x, &y, Weights::Each(&w), red, Op::Value);
    assert_eq!(v.map(|v| v.to_f64()), Ok(0.0));
}

#[test]
fn invalid_weights_are_rejected_before_any_write() {
    check_invalid_weights::<f32>();
    check_invalid_weights::<f64>();
}

fn check_shape_errors<T: Elem>() {
    // A multiple of every kind's column count.
    let n = 84;
    let level = Level::detected();
    let none = Weights::None;
    for kind in KINDS {
        let (x, y) = data::<T>(kind, n, 3, false);
        let loss = loss::<T>(kind, 3);
        let call = |y: &[T], w: Weights<'_, T>, red: Reduction, op: Op<'_, T>| {
            loss.eval(level, &x, y, w, red, op)
        };
        let mismatch = |r: &Result<T, LossError>| matches!(r, Err(LossError::LengthMismatch { expected, .. }) if *expected == n);
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
        for len in [0, 5, 8, 13, 24] {
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

#[test]
fn empty_input() {
    fn check<T: Elem>() {
        let e: [T; 0] = [];
        for kind in KINDS {
            // An empty input divides by any column count.
            let loss = loss::<T>(kind, 1);
            for level in Level::available() {
                for w in [Weights::None, Weights::Each(&e), Weights::Rows(&e)] {
                    macro_rules! go {
                        ($red:expr, $op:expr) => {
                            loss.eval(level, &e, &e, w, $red, $op).unwrap()
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

// ---------------------------------------------------------------- trait API --

/// What the [`PointwiseLoss`] methods give, as the outputs of a run.
struct Methods<'a, T> {
    x: &'a [T],
    y: &'a [T],
}

impl<T: Elem> Visit<T> for Methods<'_, T> {
    type Out = Outs<T>;
    fn visit<L: Pointwise<T>>(self, loss: &L) -> Outs<T> {
        let (x, y, n, none) = (self.x, self.y, self.x.len(), Weights::None);
        let mut o = Outs {
            mean: Some(loss.value(x, y, Reduction::Mean, none).unwrap()),
            ..Outs::default()
        };
        let mut v = filled(n);
        loss.value_each_into(x, y, none, &mut v).unwrap();
        o.each = Some(v);
        let mut g = filled(n);
        loss.grad_into(x, y, Reduction::Mean, none, &mut g).unwrap();
        o.grad_mean = Some(g);
        let mut g = filled(n);
        let v = loss
            .value_and_grad_into(x, y, Reduction::Sum, none, &mut g)
            .unwrap();
        o.vg_sum = Some((v, g));
        let (mut g, mut h) = (filled(n), filled(n));
        loss.grad_hess_into(x, y, Reduction::None, none, &mut g, &mut h)
            .unwrap();
        o.gh_none = Some((g, h));
        o
    }
}

/// The `PointwiseLoss` methods are `evaluate` at the active level.
#[test]
fn trait_methods_are_evaluate_at_the_active_level() {
    fn check<T: Elem>() {
        for kind in KINDS {
            let n = 333 * kind.columns().max(1);
            let (x, y) = data::<T>(kind, n, 5, true);
            let loss = loss::<T>(kind, 5);
            let o = run(&loss, Level::active(), &x, &y, Weights::None, Plan::Full);
            let m = loss.visit(Methods { x: &x, y: &y }).unwrap();
            let ctx = format!("{kind:?} {}: methods vs evaluate", T::NAME);
            m.assert_same(&o, &ctx, &exactly);
        }
    }
    check::<f32>();
    check::<f64>();
}

// ------------------------------------------------------------------ threads --

/// Whether the loss is one of the transcendental ones, which go to threads
/// from smaller sizes.
struct Heavy;

impl<T: Elem> Visit<T> for Heavy {
    type Out = bool;
    fn visit<L: Pointwise<T>>(self, _: &L) -> bool {
        L::HEAVY
    }
}

/// The kinds the thread count is checked on: a parameter is a run-time
/// value of its family's one kernel, so the default parameters (whose large
/// size runs at every level) and every column count.
fn thread_kinds() -> impl Iterator<Item = Kind> {
    KINDS.into_iter().filter(|k| k.large() != Large::Baseline)
}

/// The thread count is process-wide: the tests that change it hold this,
/// and no other test of this file depends on it.
static THREADS: Mutex<()> = Mutex::new(());

/// Bitwise the same results on 1, 2, 3 and 8 threads, on `size` elements
/// (rounded up to whole rows of the weights), without weights, with a
/// weight per element and per row (of the columns, or of 3 elements), the
/// reduced values finite and, from data with specials, NaN.
fn check_threads<T: Elem>(kind: Kind, size: usize) {
    let level = Level::detected();
    let loss = loss::<T>(kind, 8);
    let per = if kind.columns() > 0 {
        kind.columns()
    } else {
        3
    };
    let n = size.div_ceil(per) * per;
    let (x, y) = data::<T>(kind, n, 99, false);
    let (xs, ys) = data::<T>(kind, n, 98, true);
    let each = weights::<T>(n, 99, false);
    let rows = weights::<T>(n / per, 98, false);
    // (data, weights, reduction, value only)
    let calls = [
        (&x, &y, Weights::None, Reduction::Mean, true),
        (&x, &y, Weights::None, Reduction::Mean, false),
        (&x, &y, Weights::Each(&each), Reduction::Mean, false),
        (&xs, &ys, Weights::Rows(&rows), Reduction::Mean, false),
        (&xs, &ys, Weights::Rows(&rows), Reduction::Sum, false),
    ];
    let mut first: Option<Vec<(T, Vec<T>)>> = None;
    for k in [1, 2, 3, 8] {
        set_num_threads(k).unwrap();
        assert_eq!(num_threads(), k);
        let ctx = format!("{kind:?} {} n={n} threads={k}", T::NAME);
        let got: Vec<(T, Vec<T>)> = calls
            .iter()
            .map(|&(x, y, w, red, value_only)| {
                if value_only {
                    (loss.eval(level, x, y, w, red, Op::Value).unwrap(), vec![])
                } else {
                    let mut g = filled::<T>(n);
                    let op = Op::ValueGrad(&mut g);
                    (loss.eval(level, x, y, w, red, op).unwrap(), g)
                }
            })
            .collect();
        for (c, (v, _)) in got.iter().enumerate().take(3) {
            assert!(v.to_f64().is_finite(), "{ctx}: call {c}: {v:?}");
        }
        match &first {
            None => first = Some(got),
            Some(want) => {
                for (c, ((v, g), (v1, g1))) in got.iter().zip(want).enumerate() {
                    assert!(same(*v, *v1), "{ctx}: call {c}: value {v:?} vs {v1:?}");
                    if let Some(i) = first_difference(g, g1) {
                        panic!("{ctx}: call {c}: grad[{i}] {:?} vs {:?}", g[i], g1[i]);
                    }
                }
            }
        }
    }
}

/// Runs `check` with the thread count to itself, and restores it.
fn with_threads(check: impl FnOnce()) {
    let _lock = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    let before = num_threads();
    check();
    assert!(set_num_threads(0).is_err());
    set_num_threads(before).unwrap();
}

/// Elements that put a kind on threads: heavy losses share subtrees from
/// 2^16 elements, the others from 2^21 (f32; 2^19 in f64). `quick`:
/// unoptimized, a heavy loss takes ~1 s a pass over 3M, so debug builds give
/// it 2^16 + 5 (17 blocks).
fn thread_size<T: Elem>(kind: Kind, quick: bool) -> (usize, bool) {
    let heavy = loss::<T>(kind, 8).visit(Heavy).unwrap();
    let size = if heavy && quick && cfg!(debug_assertions) {
        (1 << 16) + 5
    } else {
        3_000_000
    };
    (size, heavy)
}

/// Every heavy kind, and of the others (whose kernels share all that the
/// thread count could change: the tree, its grain and the weights) Mse: the
/// others take ~3 s each unoptimized, and run in the ignored test below.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    fn check<T: Elem>() {
        for kind in thread_kinds() {
            let (size, heavy) = thread_size::<T>(kind, true);
            if heavy || kind == Kind::Mse {
                check_threads::<T>(kind, size);
            }
        }
    }
    with_threads(|| {
        check::<f32>();
        check::<f64>();
    });
}

#[test]
#[ignore = "minutes unoptimized: run with --release"]
fn results_do_not_depend_on_the_thread_count_for_any_kind() {
    fn check<T: Elem>() {
        for kind in thread_kinds() {
            check_threads::<T>(kind, thread_size::<T>(kind, false).0);
        }
    }
    with_threads(|| {
        check::<f32>();
        check::<f64>();
    });
}

/// Finite negative sample weights are weights (scikit-learn and PyTorch take
/// them): Σw·ℓ / Σw, whatever the sign of Σw, and Σw = 0 divides by zero as
/// IEEE 754 does, with no error.
#[test]
fn negative_weights_are_weights() {
    let x = [0.5_f64, 2.0, -1.0, 4.0];
    let y = [0.0_f64; 4];
    let w = [1.0, -0.5, 2.0, -0.25];
    let sq: Vec<f64> = x.iter().map(|v| v * v).collect();
    let num: f64 = sq.iter().zip(&w).map(|(l, w)| l * w).sum();
    let den: f64 = w.iter().sum();
    let each = Weights::Each(&w);
    let mean = fastloss::Mse.value(&x, &y, Reduction::Mean, each).unwrap();
    assert!(
        (mean - num / den).abs() <= 1e-15 * (num / den).abs(),
        "{mean}"
    );
    let sum = fastloss::Mse.value(&x, &y, Reduction::Sum, each).unwrap();
    assert!((sum - num).abs() <= 1e-15 * num.abs(), "{sum}");
    let mut g = [0.0; 4];
    fastloss::Mse
        .grad_into(&x, &y, Reduction::Sum, each, &mut g)
        .unwrap();
    assert_eq!(g, [1.0, -2.0, -4.0, -2.0]);
    let zero = [1.0, -1.0, 2.0, -2.0];
    let mean = fastloss::Mse
        .value(&x, &y, Reduction::Mean, Weights::Each(&zero))
        .unwrap();
    assert!(mean.is_infinite() || mean.is_nan(), "{mean}");
}
