//! The binary cross-entropies through the public Rust API: every SIMD level
//! this machine has against the baseline (bitwise), and against the crate's
//! scalar f64 references `scalar::*_scalar`; tail sizes of the lane loops and
//! of the 4096-element blocks; `pos_weight` cycling over 3 and 7 columns;
//! the errors (`InvalidInput`, `Columns`, `InvalidParameter`) before any
//! output is written; thread counts.
//!
//! References. `binary_cross_entropy_scalar` is used as it is. The logits
//! reference evaluates `(1−t)·x + c·softplus(−x)` as written, which cancels
//! for `x ≪ 0` (two terms near `|x|` whose difference is `e^x`), so it is
//! compared with a tolerance in units of its terms' magnitude; where that
//! makes the check toothless, `stable` (written here, no cancellation)
//! judges the kernels to a few ulp. Infinite logits are judged by their
//! limits (`limit`), and the scalar reference itself by the same table.
//!
//! Cost: the library runs unoptimized under `cargo test`; sizes stay below
//! 30 000 elements per call.

use core::f64::consts::LN_2;

mod common;

use common::{canonical_bits, exact_sum, filled, is_f64, same, ulps, Elem, Rng, SENTINEL};
use fastloss::kernel::evaluate;
use fastloss::loss::binary::scalar::{
    binary_cross_entropy_scalar, binary_cross_entropy_with_logits_scalar,
};
use fastloss::{
    num_threads, set_num_threads, BinaryCrossEntropy, BinaryCrossEntropyWithLogits, Level,
    LossError, Op, Pointwise, PointwiseLoss, Reduction, Weights,
};

/// Every tail of an 8/16/32-lane loop, a block and a bit.
const SIZES: [usize; 13] = [0, 1, 7, 8, 15, 16, 17, 31, 33, 63, 65, 1000, 4099];

// ------------------------------------------------------------------- losses --

/// Which loss a run uses: the plain one, or the logits one with an optional
/// `pos_weight` (a column count only: the values come from `pos_weight`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Bce,
    Logits(usize),
}

/// Seeded `pos_weight` of `cols` entries in `[0.5, 4)` with an exact 1 and 0.
/// (Smaller weights have their own test: `small_pos_weight_keeps_its_digits`.)
fn pos_weight<T: Elem>(cols: usize, seed: u64) -> Vec<T> {
    let mut rng = Rng(seed ^ 0x5eed ^ cols as u64);
    (0..cols)
        .map(|j| match j {
            1 => T::ONE,
            2 => T::ZERO,
            _ => T::from_f64(0.5 + 3.5 * rng.unit()),
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn eval<T: Elem>(
    kind: Kind,
    pw: &[T],
    level: Level,
    x: &[T],
    y: &[T],
    w: Weights<'_, T>,
    red: Reduction,
    op: Op<'_, T>,
) -> Result<T, LossError> {
    match kind {
        Kind::Bce => evaluate(level, &BinaryCrossEntropy, x, y, w, red, op),
        Kind::Logits(0) => {
            let loss = BinaryCrossEntropyWithLogits::<T>::new(None)?;
            evaluate(level, &loss, x, y, w, red, op)
        }
        Kind::Logits(_) => {
            let loss = BinaryCrossEntropyWithLogits::new(Some(pw))?;
            evaluate(level, &loss, x, y, w, red, op)
        }
    }
}

/// The limits at infinite logits: `x = −inf, t = 0` and `x = +inf, t = 1` give
/// 0, and so does any zero coefficient of `|x|`; otherwise `+inf`. Gradients
/// `(1−t)·σ(x) − pw·t·σ(−x)` with `σ(±inf) ∈ {1, 0}`; second derivative 0.
fn limit(x: f64, t: f64, pw: f64) -> [f64; 3] {
    let (coef, grad) = if x > 0.0 {
        (1.0 - t, 1.0 - t)
    } else {
        (pw * t, -pw * t)
    };
    [if coef == 0.0 { 0.0 } else { f64::INFINITY }, grad, 0.0]
}

/// `(1−t)·x + c·softplus(−x)` without cancellation:
/// `(1−t)·max(x, 0) + pw·t·max(−x, 0) + c·log1p(e^−|x|)`, and its gradient
/// and second derivative, in f64, for finite `x` and `t ∈ [0, 1]`.
fn stable(x: f64, t: f64, pw: f64) -> [f64; 3] {
    let e = (-x.abs()).exp();
    let c = (1.0 - t) + pw * t;
    let v = (1.0 - t) * x.max(0.0) + pw * t * (-x).max(0.0) + c * e.ln_1p();
    let r = 1.0 / (1.0 + e);
    let (sx, snx) = if x >= 0.0 { (r, e * r) } else { (e * r, r) };
    [v, (1.0 - t) * sx - pw * t * snx, c * sx * snx]
}

/// One element's reference and the magnitudes its rounding errors scale with
/// (`[value, grad, hess]` each).
fn reference(kind: Kind, x: f64, t: f64, pw: f64) -> ([f64; 3], [f64; 3]) {
    match kind {
        Kind::Bce => {
            let (v, g, h) = binary_cross_entropy_scalar(x, t);
            let lp = x.ln().max(-100.0);
            let lq = (-x).ln_1p().max(-100.0);
            let scale = [(t * lp).abs() + ((1.0 - t) * lq).abs(), g.abs(), h.abs()];
            ([v, g, h], scale)
        }
        Kind::Logits(_) if x.is_infinite() && !t.is_nan() => (limit(x, t, pw), [0.0; 3]),
        Kind::Logits(_) => {
            let (v, g, h) = binary_cross_entropy_with_logits_scalar(x, t, pw);
            let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
            let softplus_neg = (-x).max(0.0) + (-x.abs()).exp().ln_1p();
            let c = 1.0 + (pw - 1.0) * t;
            let scale = [
                ((1.0 - t) * x).abs() + (c * softplus_neg).abs(),
                ((1.0 - t) * sig(x)).abs() + (pw * t * sig(-x)).abs(),
                h.abs(),
            ];
            ([v, g, h], scale)
        }
    }
}

// --------------------------------------------------------------------- data --

/// `(input, target)` for `kind`: probabilities (uniform, near 0 and 1 down to
/// 1e-40, exact 0, 1, −0.0, certain predictions) or logits (±10^[−3, 3],
/// ±inf, ±50, ±800, 0, and NaN when `nan`).
fn data<T: Elem>(kind: Kind, n: usize, seed: u64, nan: bool) -> (Vec<T>, Vec<T>) {
    let mut rng = Rng(seed ^ (n as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let (mut x, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = rng.target();
        let (a, b) = match kind {
            Kind::Bce => match rng.below(12) {
                0 => (rng.decade(-40.0, -1.0), t),
                1 => (1.0 - rng.decade(-16.0, -1.0), t),
                2 => ([0.0, 1.0, -0.0][rng.below(3) as usize], t),
                3 => {
                    let p = [0.0, 1.0][rng.below(2) as usize];
                    (p, p)
                }
                4 => (t, t),
                _ => (rng.unit(), t),
            },
            Kind::Logits(_) => match rng.below(16) {
                0 => {
                    let s = [f64::INFINITY, f64::NEG_INFINITY][rng.below(2) as usize];
                    (s, [0.0, 1.0, 0.5][rng.below(3) as usize])
                }
                1 => (rng.sign() * [50.0, 800.0, 0.0][rng.below(3) as usize], t),
                2 if nan => (f64::NAN, t),
                3 if nan => (rng.sign(), f64::NAN),
                4..=7 => (rng.sign() * rng.decade(-3.0, 3.0), t),
                _ => (rng.sign() * 4.0 * rng.unit(), t),
            },
        };
        x.push(T::from_f64(a));
        y.push(T::from_f64(b));
    }
    (x, y)
}

/// Weights in `[0, 3)`, a tenth of them exact zeros.
fn weights<T: Elem>(n: usize, seed: u64) -> Vec<T> {
    let mut rng = Rng(seed.wrapping_mul(31) ^ n as u64);
    (0..n)
        .map(|_| match rng.below(10) {
            0 => T::ZERO,
            _ => T::from_f64(3.0 * rng.unit()),
        })
        .collect()
}

// ------------------------------------------------------------------ running --

/// Every output of every op with every reduction it takes, labelled; reduced
/// values as one-element vectors.
type Outputs<T> = Vec<(&'static str, Vec<T>)>;

fn run_all<T: Elem>(
    kind: Kind,
    pw: &[T],
    level: Level,
    x: &[T],
    y: &[T],
    w: Weights<'_, T>,
) -> Outputs<T> {
    let n = x.len();
    let go = |red: Reduction, op: Op<'_, T>| -> T {
        eval(kind, pw, level, x, y, w, red, op).expect("valid call")
    };
    let mut out: Outputs<T> = Vec::new();
    out.push(("value mean", vec![go(Reduction::Mean, Op::Value)]));
    out.push(("value sum", vec![go(Reduction::Sum, Op::Value)]));
    let mut v = filled(n);
    go(Reduction::None, Op::ValueEach(&mut v));
    out.push(("value none", v));
    for (label, red) in [
        ("grad mean", Reduction::Mean),
        ("grad sum", Reduction::Sum),
        ("grad none", Reduction::None),
    ] {
        let mut g = filled(n);
        go(red, Op::Grad(&mut g));
        out.push((label, g));
    }
    for (label, glabel, red) in [
        ("value_grad mean", "value_grad mean grad", Reduction::Mean),
        ("value_grad sum", "value_grad sum grad", Reduction::Sum),
    ] {
        let mut g = filled(n);
        let value = go(red, Op::ValueGrad(&mut g));
        out.push((label, vec![value]));
        out.push((glabel, g));
    }
    let (mut v, mut g) = (filled(n), filled(n));
    go(Reduction::None, Op::ValueEachGrad(&mut v, &mut g));
    out.push(("value_each_grad value", v));
    out.push(("value_each_grad grad", g));
    for (gl, hl, red) in [
        (
            "grad_hess mean grad",
            "grad_hess mean hess",
            Reduction::Mean,
        ),
        ("grad_hess sum grad", "grad_hess sum hess", Reduction::Sum),
        (
            "grad_hess none grad",
            "grad_hess none hess",
            Reduction::None,
        ),
    ] {
        let (mut g, mut h) = (filled(n), filled(n));
        go(red, Op::GradHess(&mut g, &mut h));
        out.push((gl, g));
        out.push((hl, h));
    }
    out
}

fn get<'a, T>(o: &'a Outputs<T>, label: &str) -> &'a [T] {
    &o.iter().find(|(l, _)| *l == label).expect(label).1
}

fn assert_same_outputs<T: Elem>(got: &Outputs<T>, want: &Outputs<T>, ctx: &str) {
    assert_eq!(got.len(), want.len());
    for ((lg, g), (lw, w)) in got.iter().zip(want) {
        assert_eq!(lg, lw);
        assert_eq!(g.len(), w.len(), "{ctx} {lg}: length");
        if let Some(i) = (0..g.len()).find(|&i| !same(g[i], w[i])) {
            panic!("{ctx} {lg}: element {i} is {:?}, expected {:?}", g[i], w[i]);
        }
    }
}

/// Outputs that must be the same bits whichever op computed them.
fn check_consistent<T: Elem>(o: &Outputs<T>, ctx: &str) {
    let groups: [&[&str]; 7] = [
        &["value mean", "value_grad mean"],
        &["value sum", "value_grad sum"],
        &["value none", "value_each_grad value"],
        &["grad mean", "value_grad mean grad", "grad_hess mean grad"],
        &["grad sum", "value_grad sum grad", "grad_hess sum grad"],
        &[
            "grad none",
            "value_each_grad grad",
            "grad_hess none grad",
            "grad sum",
        ],
        &["grad_hess none hess", "grad_hess sum hess"],
    ];
    for group in groups {
        let first = get(o, group[0]);
        for label in &group[1..] {
            let other = get(o, label);
            if let Some(i) = (0..first.len()).find(|&i| !same(first[i], other[i])) {
                panic!(
                    "{ctx}: {} and {label} differ at {i}: {:?} vs {:?}",
                    group[0], first[i], other[i]
                );
            }
        }
    }
}

/// `got` against the f64 reference `want`: within `tol` ulps of `want`
/// rounded to `T`, or, where the reference's own formula cancels, within
/// `tol` ulps of the magnitude `scale`; `4 × TINY` absolute for results that
/// underflow.
fn assert_close<T: Elem>(got: T, want: f64, scale: f64, tol: u64, what: &dyn Fn() -> String) {
    if want.is_nan() {
        assert!(got.nan(), "{}: got {got:?}, expected NaN", what());
        return;
    }
    let rounded = T::from_f64(want);
    if ulps(got, rounded) <= tol {
        return;
    }
    let err = (got.to_f64() - want).abs();
    let allowed = tol as f64 * T::EPS * scale.max(want.abs()) + 4.0 * T::TINY;
    assert!(
        err <= allowed,
        "{}: got {got:?}, expected {want:?} ({} ulps; |err| {err:.3e} > {allowed:.3e})",
        what(),
        ulps(got, rounded)
    );
}

/// Elementwise tolerance in ulps: value and gradient 4 (f32, SPEC §5) or 8
/// (f64: the kernel's and the reference's errors add); the second derivative,
/// a product of three rounded factors, twice that.
fn tolerance<T: Elem>(k: usize) -> u64 {
    let base = if is_f64::<T>() { 8 } else { 4 };
    if k == 2 {
        2 * base
    } else {
        base
    }
}

/// The unscaled outputs (`Sum` and `None` without weights) against the
/// references, and the reduced sum against their compensated sum.
fn check_reference<T: Elem>(kind: Kind, pw: &[T], x: &[T], y: &[T], o: &Outputs<T>, ctx: &str) {
    let n = x.len();
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        let (xi, ti) = (x[i].to_f64(), y[i].to_f64());
        let p = if pw.is_empty() {
            1.0
        } else {
            pw[i % pw.len()].to_f64()
        };
        let (want, scale) = reference(kind, xi, ti, p);
        values.push(want[0]);
        let outs = [
            get(o, "value none")[i],
            get(o, "grad none")[i],
            get(o, "grad_hess none hess")[i],
        ];
        for k in 0..3 {
            let what = || {
                format!(
                    "{ctx} {kind:?} {} at {i}: x={:?} t={:?} pw={p:?}",
                    ["value", "grad", "hess"][k],
                    x[i],
                    y[i]
                )
            };
            assert_close(outs[k], want[k], scale[k], tolerance::<T>(k), &what);
            // The cancelling reference is toothless for x ≪ 0: judge the
            // kernels by the formula without cancellation there too.
            if let Kind::Logits(_) = kind {
                if xi.is_finite() && (0.0..=1.0).contains(&ti) {
                    let s = stable(xi, ti, p);
                    let sscale = if k == 1 { scale[1] } else { s[k].abs() };
                    assert_close(outs[k], s[k], sscale, tolerance::<T>(k), &what);
                }
            }
        }
    }
    let sum = get(o, "value sum")[0].to_f64();
    let want = exact_sum(values.iter().copied());
    let rel = if is_f64::<T>() { 1e-13 } else { 2e-6 };
    if want.is_nan() {
        assert!(sum.is_nan(), "{ctx} sum: {sum:?}, expected NaN");
    } else if want.is_infinite() {
        assert_eq!(sum, want, "{ctx} sum");
    } else {
        assert!(
            (sum - want).abs() <= rel * want.abs() + 4.0 * T::TINY,
            "{ctx} sum: {sum:?}, exact {want:?}"
        );
    }
    let mean = get(o, "value mean")[0].to_f64();
    if n == 0 {
        assert!(mean.is_nan(), "{ctx}: mean of nothing is {mean:?}");
    }
}

/// The weighted outputs against the unweighted ones: `w·ℓ`, `w·g`, `w·h`
/// (one rounding in `T`) and Σw·ℓ / Σw.
fn check_weighted<T: Elem>(w: &[T], rows: usize, plain: &Outputs<T>, o: &Outputs<T>, ctx: &str) {
    let n = get(plain, "value none").len();
    for (label, k) in [
        ("value none", 0),
        ("grad none", 1),
        ("grad_hess none hess", 2),
    ] {
        let (a, b) = (get(plain, label), get(o, label));
        for i in 0..n {
            let wi = w[i / rows];
            let want = wi * a[i];
            let what = || format!("{ctx} weighted {label} at {i}: w={wi:?}");
            assert_close(b[i], want.to_f64(), want.to_f64(), 1, &what);
            let _ = k;
        }
    }
    let terms = get(o, "value none").iter().map(|v| v.to_f64());
    let total = exact_sum((0..n).map(|i| w[i / rows].to_f64()));
    let want = exact_sum(terms) / total;
    let mean = get(o, "value mean")[0].to_f64();
    let rel = if is_f64::<T>() { 1e-13 } else { 2e-6 };
    if want.is_finite() {
        assert!(
            (mean - want).abs() <= rel * want.abs() + 4.0 * T::TINY,
            "{ctx} weighted mean: {mean:?}, exact {want:?}"
        );
    }
}

fn check_kind<T: Elem>(kind: Kind) {
    let levels = Level::available();
    let cols = match kind {
        Kind::Logits(c) => c,
        Kind::Bce => 0,
    };
    for (s, &size) in SIZES.iter().enumerate() {
        // with columns, `size` rows of `cols` elements
        let n = size * cols.max(1);
        let seed = s as u64 + 17 * cols as u64;
        let (x, y) = data::<T>(kind, n, seed, true);
        let pw = pos_weight::<T>(cols, seed);
        let each = weights::<T>(n, seed);
        let rows = weights::<T>(size, seed + 1);
        let ctx = format!("{} n={n} {kind:?}", T::NAME);
        let cases: [(&str, Weights<'_, T>); 3] = [
            ("unweighted", Weights::None),
            ("each", Weights::Each(&each)),
            ("rows", Weights::Rows(&rows)),
        ];
        let mut plain = None;
        for (wl, w) in cases {
            let base = run_all(kind, &pw, Level::Baseline, &x, &y, w);
            let ctx = format!("{ctx} {wl}");
            for &level in &levels[1..] {
                let got = run_all(kind, &pw, level, &x, &y, w);
                assert_same_outputs(&got, &base, &format!("{ctx} {level:?} vs Baseline"));
            }
            check_consistent(&base, &ctx);
            match w {
                Weights::None => check_reference(kind, &pw, &x, &y, &base, &ctx),
                Weights::Each(w) => {
                    check_weighted(w, 1, plain.as_ref().expect("unweighted first"), &base, &ctx)
                }
                Weights::Rows(w) if n > 0 => check_weighted(
                    w,
                    n / w.len(),
                    plain.as_ref().expect("unweighted first"),
                    &base,
                    &ctx,
                ),
                Weights::Rows(_) => {}
            }
            if let Weights::None = w {
                plain = Some(base);
            }
        }
    }
}

#[test]
fn bce_every_level_against_reference() {
    check_kind::<f32>(Kind::Bce);
    check_kind::<f64>(Kind::Bce);
}

#[test]
fn logits_every_level_against_reference() {
    check_kind::<f32>(Kind::Logits(0));
    check_kind::<f64>(Kind::Logits(0));
}

#[test]
fn logits_pos_weight_three_columns() {
    check_kind::<f32>(Kind::Logits(3));
    check_kind::<f64>(Kind::Logits(3));
}

#[test]
fn logits_pos_weight_seven_columns() {
    check_kind::<f32>(Kind::Logits(7));
    check_kind::<f64>(Kind::Logits(7));
}

/// `pos_weight` of ones is no `pos_weight`; column `j` gets `pos_weight[j]`.
fn check_columns<T: Elem>() {
    let (x, y) = data::<T>(Kind::Logits(5), 5 * 41, 3, false);
    let ones = vec![T::ONE; 5];
    let none = run_all(Kind::Logits(0), &[], Level::active(), &x, &y, Weights::None);
    let with = run_all(
        Kind::Logits(5),
        &ones,
        Level::active(),
        &x,
        &y,
        Weights::None,
    );
    assert_same_outputs(&with, &none, "pos_weight of ones");
    let pw = pos_weight::<T>(5, 9);
    let all = run_all(Kind::Logits(5), &pw, Level::active(), &x, &y, Weights::None);
    for (j, &pwj) in pw.iter().enumerate() {
        let xs: Vec<T> = x.iter().skip(j).step_by(5).copied().collect();
        let ys: Vec<T> = y.iter().skip(j).step_by(5).copied().collect();
        let one = [pwj];
        let col = run_all(
            Kind::Logits(1),
            &one,
            Level::active(),
            &xs,
            &ys,
            Weights::None,
        );
        for label in ["value none", "grad none", "grad_hess none hess"] {
            let a: Vec<T> = get(&all, label)
                .iter()
                .skip(j)
                .step_by(5)
                .copied()
                .collect();
            let b = get(&col, label);
            assert!(
                a.iter().zip(b).all(|(p, q)| same(*p, *q)),
                "{} column {j} {label}",
                T::NAME
            );
        }
    }
}

#[test]
fn pos_weight_applies_per_column() {
    check_columns::<f32>();
    check_columns::<f64>();
}

// ------------------------------------------------------------ exact values --

fn check_infinities<T: Elem>() {
    let inf = f64::INFINITY;
    let cases = [
        (-inf, 0.0),
        (inf, 1.0),
        (-inf, 1.0),
        (inf, 0.0),
        (-inf, 0.5),
        (inf, 0.5),
        (inf, 0.25),
        (-inf, 0.75),
    ];
    for pwv in [1.0, 2.5, 0.0, 0.25] {
        let x: Vec<T> = cases.iter().map(|c| T::from_f64(c.0)).collect();
        let y: Vec<T> = cases.iter().map(|c| T::from_f64(c.1)).collect();
        let pw = vec![T::from_f64(pwv); cases.len()];
        for level in Level::available() {
            let o = run_all(Kind::Logits(cases.len()), &pw, level, &x, &y, Weights::None);
            for (i, &(xi, ti)) in cases.iter().enumerate() {
                let [v, g, h] = limit(xi, ti, pwv);
                let ctx = format!("{} {level:?} x={xi} t={ti} pw={pwv}", T::NAME);
                let got_v = get(&o, "value none")[i];
                assert!(got_v.to_f64() == v, "{ctx}: value {got_v:?} != {v}");
                assert!(
                    v != 0.0 || got_v.bits() == 0,
                    "{ctx}: value {got_v:?} is not +0"
                );
                let got_g = get(&o, "grad none")[i];
                assert!(
                    got_g.to_f64() == T::from_f64(g).to_f64(),
                    "{ctx}: grad {got_g:?}"
                );
                let got_h = get(&o, "grad_hess none hess")[i];
                assert!(got_h.to_f64() == h, "{ctx}: hess {got_h:?}");
            }
        }
    }
}

#[test]
fn logits_exact_at_infinity() {
    check_infinities::<f32>();
    check_infinities::<f64>();
}

/// The crate's scalar reference gives the limits at infinite logits too.
#[test]
fn scalar_reference_limits_at_infinity() {
    let inf = f64::INFINITY;
    let mut wrong = Vec::new();
    for (x, t) in [
        (-inf, 0.0),
        (inf, 1.0),
        (-inf, 1.0),
        (inf, 0.0),
        (-inf, 0.5),
        (inf, 0.5),
    ] {
        for pw in [1.0, 2.5, 0.0] {
            let (v, g, h) = binary_cross_entropy_with_logits_scalar(x, t, pw);
            let want = limit(x, t, pw);
            if v != want[0] || g != want[1] || h != want[2] {
                wrong.push(format!(
                    "binary_cross_entropy_with_logits_scalar({x}, {t}, {pw}) = ({v}, {g}, {h}), \
                     expected ({}, {}, {})",
                    want[0], want[1], want[2]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `x = 50, t = 1` gives `e^−50`, not 0 (and so on down to the subnormals).
fn check_tiny<T: Elem>() {
    let far: &[f64] = if is_f64::<T>() {
        &[50.0, 100.0, 700.0, 740.0]
    } else {
        &[50.0, 80.0, 87.0, 100.0]
    };
    let mut x = Vec::new();
    let mut y = Vec::new();
    for &d in far {
        x.extend([T::from_f64(d), T::from_f64(-d)]);
        y.extend([T::ONE, T::ZERO]);
    }
    for level in Level::available() {
        let o = run_all(Kind::Logits(0), &[], level, &x, &y, Weights::None);
        for (i, xi) in x.iter().enumerate() {
            let d = xi.to_f64().abs();
            let want = (-d).exp().ln_1p(); // e^−d, to an ulp
            let got = get(&o, "value none")[i];
            let what = || format!("{} {level:?} x={xi:?}", T::NAME);
            assert_close(got, want, want, 4, &what);
            assert!(
                got > T::ZERO || want < T::TINY * T::EPS,
                "{}: flushed to 0",
                what()
            );
        }
    }
}

#[test]
fn tiny_losses_are_exact() {
    check_tiny::<f32>();
    check_tiny::<f64>();
}

/// With `t = 1` the weight `c = 1 + (pw − 1)·t` is `pw` itself, and with
/// `t ∈ [0, 1]` it is `(1 − t) + pw·t`, a sum of non-negative terms: a small
/// `pos_weight` must not cost digits in the value `c·softplus(−x)` or the
/// second derivative `c·σ(x)·σ(−x)`.
fn check_small_pos_weight<T: Elem>() -> Vec<String> {
    let pws: &[f64] = if is_f64::<T>() {
        &[1e-6, 1e-3, 0.01, 0.1, 0.3]
    } else {
        &[1e-3, 0.01, 0.1, 0.3]
    };
    let mut bad = Vec::new();
    for &pwv in pws {
        for &xv in &[0.0, 0.5, 2.0, 10.0, -1.0] {
            for &tv in &[1.0, 0.9] {
                let (x, y, pw) = ([T::from_f64(xv)], [T::from_f64(tv)], [T::from_f64(pwv)]);
                let o = run_all(Kind::Logits(1), &pw, Level::active(), &x, &y, Weights::None);
                let s = stable(xv, y[0].to_f64(), pw[0].to_f64());
                let v = get(&o, "value none")[0];
                let h = get(&o, "grad_hess none hess")[0];
                for (label, got, want, tol) in [("value", v, s[0], 4), ("hess", h, s[2], 8)] {
                    let d = ulps(got, T::from_f64(want));
                    if d > tol {
                        bad.push(format!(
                            "{} {label}(x={xv}, t={tv}, pw={pwv}) = {got:?}, expected {want:?} \
                             ({d} ulps)",
                            T::NAME
                        ));
                    }
                }
            }
        }
    }
    bad
}

#[test]
fn small_pos_weight_keeps_its_digits() {
    let mut bad = check_small_pos_weight::<f32>();
    bad.extend(check_small_pos_weight::<f64>());
    assert!(bad.is_empty(), "{} cases:\n{}", bad.len(), bad.join("\n"));
}

/// Spot values: ln 2 at x = 0 (any t, pw = 1), 100 at the clamp, +0 for a
/// certain correct prediction.
fn check_spots<T: Elem>() {
    let bce = BinaryCrossEntropy;
    let p = [T::ZERO, T::ONE, -T::ZERO, T::ZERO, T::ONE, T::HALF];
    let t = [T::ZERO, T::ONE, T::ZERO, T::ONE, T::ZERO, T::HALF];
    let mut v = filled::<T>(6);
    bce.value_each_into(&p, &t, Weights::None, &mut v).unwrap();
    for i in 0..3 {
        assert!(
            v[i].bits() == 0,
            "{} p=t={:?}: {:?} is not +0",
            T::NAME,
            p[i],
            v[i]
        );
    }
    assert!(v[3].to_f64() == 100.0 && v[4].to_f64() == 100.0, "{v:?}");
    assert!(ulps(v[5], T::LN_2) <= 1, "{:?} vs ln 2", v[5]);
    assert!((v[5].to_f64() - LN_2).abs() <= T::EPS, "{:?}", v[5]);
    let logits = BinaryCrossEntropyWithLogits::<T>::new(None).unwrap();
    let x = [T::ZERO; 3];
    let y = [T::ZERO, T::ONE, T::HALF];
    let mut v = filled::<T>(3);
    logits
        .value_each_into(&x, &y, Weights::None, &mut v)
        .unwrap();
    for vi in v {
        assert!(
            ulps(vi, T::from_f64(LN_2)) <= 1,
            "{} {vi:?} vs ln 2",
            T::NAME
        );
    }
}

#[test]
fn spot_values() {
    check_spots::<f32>();
    check_spots::<f64>();
}

// ------------------------------------------------------------------ errors --

/// Every op that writes, on fresh sentinel buffers, with what the call gave.
fn each_writing_op<T: Elem>(
    n: usize,
    mut f: impl FnMut(Op<'_, T>, Reduction) -> Result<T, LossError>,
) -> Vec<(&'static str, Result<T, LossError>, bool)> {
    let untouched = |b: &[T]| b.iter().all(|v| v.to_f64() == SENTINEL);
    let mut out = Vec::new();
    let r = f(Op::Value, Reduction::Mean);
    out.push(("Value", r, true));
    let mut v = filled(n);
    let r = f(Op::ValueEach(&mut v), Reduction::None);
    out.push(("ValueEach", r, untouched(&v)));
    let mut g = filled(n);
    let r = f(Op::Grad(&mut g), Reduction::Mean);
    out.push(("Grad", r, untouched(&g)));
    let mut g = filled(n);
    let r = f(Op::ValueGrad(&mut g), Reduction::Sum);
    out.push(("ValueGrad", r, untouched(&g)));
    let (mut v, mut g) = (filled(n), filled(n));
    let r = f(Op::ValueEachGrad(&mut v, &mut g), Reduction::None);
    out.push(("ValueEachGrad", r, untouched(&v) && untouched(&g)));
    let (mut g, mut h) = (filled(n), filled(n));
    let r = f(Op::GradHess(&mut g, &mut h), Reduction::Mean);
    out.push(("GradHess", r, untouched(&g) && untouched(&h)));
    out
}

fn check_invalid_input<T: Elem>() {
    let n = 3 * 4096 + 5;
    let bad_values = [
        1.5,
        -0.5,
        1.0 + T::EPS,
        -f64::from(f32::MIN_POSITIVE),
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for level in Level::available() {
        for &index in &[0, 5, 1023, 1024, 1025, 4095, 4096, 5000, n - 1] {
            for &bad in &bad_values {
                let (mut x, y) = data::<T>(Kind::Bce, n, index as u64, false);
                x[index] = T::from_f64(bad);
                if index + 7 < n {
                    x[index + 7] = T::from_f64(2.0); // a later one is not reported
                    x[n - 1] = T::from_f64(-3.0);
                }
                let w = weights::<T>(n, 1);
                for weights in [Weights::None, Weights::Each(&w)] {
                    let results = each_writing_op::<T>(n, |op, red| {
                        eval(Kind::Bce, &[], level, &x, &y, weights, red, op)
                    });
                    for (label, r, untouched) in results {
                        let ctx = format!("{} {level:?} {label} bad={bad} at {index}", T::NAME);
                        match r {
                            Err(LossError::InvalidInput { index: i, value }) => {
                                assert_eq!(i, index, "{ctx}: reported index");
                                let held = T::from_f64(bad).to_f64();
                                assert!(
                                    value == held || (value.is_nan() && held.is_nan()),
                                    "{ctx}: reported value {value}"
                                );
                            }
                            other => panic!("{ctx}: {other:?}"),
                        }
                        assert!(untouched, "{ctx}: an output was written");
                    }
                }
            }
        }
    }
    // −0.0, 0, 1 and the smallest subnormal are probabilities
    let x = [
        -T::ZERO,
        T::ZERO,
        T::ONE,
        T::from_f64(f64::from(f32::MIN_POSITIVE) * 2f64.powi(-23)),
    ];
    let y = [T::ZERO; 4];
    for level in Level::available() {
        for (label, r, _) in each_writing_op::<T>(4, |op, red| {
            eval(Kind::Bce, &[], level, &x, &y, Weights::None, red, op)
        }) {
            assert!(r.is_ok(), "{} {level:?} {label}: {r:?}", T::NAME);
        }
    }
    // the message names input, value and index
    let e = LossError::InvalidInput {
        index: 1,
        value: 1.2,
    };
    assert_eq!(
        e.to_string(),
        "input must hold probabilities in [0, 1], got 1.2 at flat index 1"
    );
}

#[test]
fn bad_probabilities_are_rejected_before_any_write() {
    check_invalid_input::<f32>();
    check_invalid_input::<f64>();
}

fn check_columns_error<T: Elem>() {
    for (n, cols) in [(10, 3), (7, 2), (1, 3), (4099, 7), (6, 4)] {
        let (x, y) = data::<T>(Kind::Logits(cols), n, 2, false);
        let pw = pos_weight::<T>(cols, 2);
        for level in Level::available() {
            for (label, r, untouched) in each_writing_op::<T>(n, |op, red| {
                eval(
                    Kind::Logits(cols),
                    &pw,
                    level,
                    &x,
                    &y,
                    Weights::None,
                    red,
                    op,
                )
            }) {
                let ctx = format!("{} {level:?} {label} n={n} cols={cols}", T::NAME);
                assert_eq!(
                    r,
                    Err(LossError::Columns {
                        elements: n,
                        columns: cols
                    }),
                    "{ctx}"
                );
                assert!(untouched, "{ctx}: an output was written");
            }
        }
    }
    // an empty pos_weight for a non-empty input
    let (x, y) = data::<T>(Kind::Logits(1), 5, 2, false);
    let r = eval(
        Kind::Logits(1),
        &[],
        Level::active(),
        &x,
        &y,
        Weights::None,
        Reduction::Sum,
        Op::Value,
    );
    assert_eq!(
        r,
        Err(LossError::Columns {
            elements: 5,
            columns: 0
        })
    );
    // an empty input divides by any column count
    let pw = pos_weight::<T>(3, 1);
    let s = eval(
        Kind::Logits(3),
        &pw,
        Level::active(),
        &[],
        &[],
        Weights::None,
        Reduction::Sum,
        Op::Value,
    );
    assert_eq!(s, Ok(T::ZERO));
}

#[test]
fn pos_weight_that_does_not_divide_is_rejected() {
    check_columns_error::<f32>();
    check_columns_error::<f64>();
}

/// An empty input with an empty `pos_weight` (a `(k, 0)` array and its
/// last axis): a result (or an error), never a panic.
fn check_empty_with_empty_pos_weight<T: Elem>() {
    let empty: [T; 0] = [];
    let loss = BinaryCrossEntropyWithLogits::new(Some(&empty)).expect("no bad weight");
    let r = loss.value(&empty, &empty, Reduction::Sum, Weights::None);
    assert!(
        matches!(r, Ok(v) if v.to_f64() == 0.0) || matches!(r, Err(LossError::Columns { .. })),
        "{r:?}"
    );
    let mut g: [T; 0] = [];
    let r = loss.grad_into(&empty, &empty, Reduction::Mean, Weights::None, &mut g);
    assert!(
        r.is_ok() || matches!(r, Err(LossError::Columns { .. })),
        "{r:?}"
    );
}

#[test]
fn empty_input_with_empty_pos_weight() {
    check_empty_with_empty_pos_weight::<f32>();
    check_empty_with_empty_pos_weight::<f64>();
}

fn check_bad_pos_weight<T: Elem>() {
    for bad in [-1.0, -1e-30, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let pw = [T::ONE, T::from_f64(bad), T::ONE];
        let r = BinaryCrossEntropyWithLogits::new(Some(&pw));
        match r {
            Err(LossError::InvalidParameter { name, value, .. }) => {
                assert_eq!(name, "pos_weight");
                let held = T::from_f64(bad).to_f64();
                assert!(
                    value == held || (value.is_nan() && held.is_nan()),
                    "{value}"
                );
                let text = LossError::InvalidParameter {
                    name,
                    value,
                    requirement: "",
                }
                .to_string();
                assert!(text.contains("pos_weight"), "{text}");
            }
            other => panic!("{} pos_weight {bad}: {other:?}", T::NAME),
        }
    }
    for good in [0.0, -0.0, 1e-30, 1.0, 1e30] {
        let pw = [T::from_f64(good)];
        assert!(
            BinaryCrossEntropyWithLogits::new(Some(&pw)).is_ok(),
            "{} {good}",
            T::NAME
        );
    }
}

#[test]
fn bad_pos_weight_values_are_rejected() {
    check_bad_pos_weight::<f32>();
    check_bad_pos_weight::<f64>();
}

fn check_shape_errors<T: Elem>() {
    let (x, y) = data::<T>(Kind::Bce, 10, 1, false);
    for kind in [Kind::Bce, Kind::Logits(0)] {
        let r = eval(
            kind,
            &[],
            Level::active(),
            &x,
            &y[..9],
            Weights::None,
            Reduction::Sum,
            Op::Value,
        );
        assert!(
            matches!(r, Err(LossError::LengthMismatch { name: "target", .. })),
            "{r:?}"
        );
        let r = eval(
            kind,
            &[],
            Level::active(),
            &x,
            &y,
            Weights::None,
            Reduction::None,
            Op::Value,
        );
        assert_eq!(r, Err(LossError::NoneReduction));
        let w = weights::<T>(3, 1);
        let mut g = filled::<T>(10);
        let r = eval(
            kind,
            &[],
            Level::active(),
            &x,
            &y,
            Weights::Rows(&w),
            Reduction::Sum,
            Op::Grad(&mut g),
        );
        assert!(matches!(r, Err(LossError::WeightRows { .. })), "{r:?}");
        assert!(g.iter().all(|v| v.to_f64() == SENTINEL));
        let mut w = weights::<T>(10, 1);
        w[9] = T::from_f64(-1.0);
        let r = eval(
            kind,
            &[],
            Level::active(),
            &x,
            &y,
            Weights::Each(&w),
            Reduction::Sum,
            Op::Grad(&mut g),
        );
        assert!(
            matches!(r, Err(LossError::InvalidWeight { index: 9, .. })),
            "{r:?}"
        );
        assert!(g.iter().all(|v| v.to_f64() == SENTINEL));
    }
}

#[test]
fn shape_and_weight_errors() {
    check_shape_errors::<f32>();
    check_shape_errors::<f64>();
}

// -------------------------------------------------------------- public API --

/// The `PointwiseLoss` methods are `evaluate` at the active level.
fn check_trait<T: Elem>() {
    let (x, y) = data::<T>(Kind::Logits(4), 4 * 300, 5, false);
    let pw = pos_weight::<T>(4, 5);
    let loss = BinaryCrossEntropyWithLogits::new(Some(&pw)).unwrap();
    let o = run_all(Kind::Logits(4), &pw, Level::active(), &x, &y, Weights::None);
    let v = loss.value(&x, &y, Reduction::Mean, Weights::None).unwrap();
    assert!(same(v, get(&o, "value mean")[0]));
    let mut g = vec![T::ZERO; x.len()];
    let mut h = vec![T::ZERO; x.len()];
    let v = loss
        .value_and_grad_into(&x, &y, Reduction::Sum, Weights::None, &mut g)
        .unwrap();
    assert!(same(v, get(&o, "value sum")[0]));
    assert!(g.iter().zip(get(&o, "grad sum")).all(|(a, b)| same(*a, *b)));
    loss.grad_hess_into(&x, &y, Reduction::None, Weights::None, &mut g, &mut h)
        .unwrap();
    assert!(h
        .iter()
        .zip(get(&o, "grad_hess none hess"))
        .all(|(a, b)| same(*a, *b)));
    let (p, t) = data::<T>(Kind::Bce, 999, 5, false);
    let o = run_all(Kind::Bce, &[], Level::active(), &p, &t, Weights::None);
    let mut g = vec![T::ZERO; p.len()];
    BinaryCrossEntropy
        .grad_into(&p, &t, Reduction::Mean, Weights::None, &mut g)
        .unwrap();
    assert!(g
        .iter()
        .zip(get(&o, "grad mean"))
        .all(|(a, b)| same(*a, *b)));
}

#[test]
fn trait_methods_are_evaluate_at_the_active_level() {
    check_trait::<f32>();
    check_trait::<f64>();
}

/// Bits do not depend on the thread count.
fn check_threads<T: Elem>() {
    let rows = 40_001;
    let (x, y) = data::<T>(Kind::Logits(3), 3 * rows, 8, true);
    let pw = pos_weight::<T>(3, 8);
    let w = weights::<T>(rows, 8);
    let (p, t) = data::<T>(Kind::Bce, 3 * rows, 8, false);
    let snapshot = || {
        let mut s = Vec::new();
        for (kind, a, b) in [(Kind::Logits(3), &x, &y), (Kind::Bce, &p, &t)] {
            for red in [Reduction::Mean, Reduction::Sum] {
                let mut g = vec![T::ZERO; a.len()];
                let v = eval(kind, &pw, Level::active(), a, b, Weights::Rows(&w), red, {
                    Op::ValueGrad(&mut g)
                })
                .unwrap();
                s.push(canonical_bits(v));
                s.extend(g.iter().map(|&v| canonical_bits(v)));
            }
        }
        s
    };
    let before = num_threads();
    set_num_threads(1).unwrap();
    let one = snapshot();
    for n in [2, 3, 8] {
        set_num_threads(n).unwrap();
        assert!(
            snapshot() == one,
            "{} threads change the bits ({})",
            n,
            T::NAME
        );
    }
    set_num_threads(before).unwrap();
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    check_threads::<f32>();
    check_threads::<f64>();
}

/// The slowest gradient path (126-bit fixed point, for gradients that cancel
/// even in the precise path) agrees with the precise one where both are
/// good: within 1 ulp (f32) or 2 (f64).
fn check_deep_gradient<T: Elem>() {
    let mut rng = Rng(41);
    let loss = BinaryCrossEntropyWithLogits::<T>::new(None).unwrap();
    let tol = if is_f64::<T>() { 2 } else { 1 };
    for _ in 0..20_000 {
        let t = T::from_f64(rng.unit());
        let pw = T::from_f64((rng.unit() * 8.0 - 4.0).exp());
        let zero = (pw.to_f64() * t.to_f64() / (1.0 - t.to_f64())).ln();
        let x = T::from_f64(zero + (rng.unit() - 0.5) * 6.0);
        let deep = loss.deep_grad(x, t, pw);
        let (precise, _) = loss.precise_grad(x, t, pw);
        assert!(
            ulps(deep, precise) <= tol,
            "x={x:?} t={t:?} pw={pw:?}: deep {deep:?}, precise {precise:?}"
        );
    }
}

#[test]
fn deep_gradient_agrees_with_the_precise_one() {
    check_deep_gradient::<f32>();
    check_deep_gradient::<f64>();
}
