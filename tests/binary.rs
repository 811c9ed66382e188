//! The binary cross-entropies' own math, beyond what `kernels.rs` checks of
//! every elementwise loss (every level, op, tail size, weights, errors and
//! thread count, the crate's scalar references within the kinds' ulp bounds):
//! BCE with logits against a formula without cancellation, exact at infinite
//! logits (and the scalar reference's limits there), tiny losses that keep
//! their digits, a small `pos_weight` and `pos_weight` per column, spot
//! values, the errors of these losses alone (`InvalidInput` for inputs that
//! are no probabilities, `Columns` and `InvalidParameter` for `pos_weight`)
//! before any output is written, and the deep gradient path.
//!
//! Cost: the library runs unoptimized under `cargo test`; sizes stay below
//! 30 000 elements per call.

use core::f64::consts::LN_2;

mod common;

use common::kinds::{limit, Domain, Kind, Loss, KINDS};
use common::{
    assert_close, canonical_bits, data, data_sets, filled, is_f64, loss, pos_weight, same, ulps,
    weights, Elem, Rng, LARGE, SENTINEL, SIZES,
};
use fastloss::kernel::evaluate;
use fastloss::loss::binary::scalar::binary_cross_entropy_with_logits_scalar;
use fastloss::{
    num_threads, set_num_threads, BinaryCrossEntropy, BinaryCrossEntropyWithLogits, Columns, Level,
    LossError, Op, Pointwise, PointwiseLoss, Reduction, Weights,
};

/// BCE with logits with `pos_weight` (none if empty).
fn logits<T: Elem>(pos_weight: &[T]) -> Loss<T> {
    Loss::new(Kind::Logits(pos_weight.len()), pos_weight.to_vec())
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

/// BCE with logits against [`stable`], at the same sizes (the large one
/// aside) and on the same data as `kernels.rs` checks every kind against
/// its reference. That one,
/// `binary_cross_entropy_with_logits_scalar`, is judged in units of the
/// terms of `(1−t)·x + c·softplus(−x)`, which cancel for `x ≪ 0` (two terms
/// near `|x|` whose difference is `e^x`): `stable` judges the value and the
/// second derivative to the kind's ulp bound there too, the gradient in
/// units of its larger term. Finite logits, targets in [0, 1]; one level
/// (`kernels.rs` finds every level bitwise equal to it).
fn check_stable<T: Elem>(kind: Kind) {
    let cols = kind.columns();
    for (s, &size) in SIZES.iter().enumerate() {
        if size > LARGE {
            continue;
        }
        let n = size * cols.max(1);
        let seed = s as u64 + 17 * cols as u64;
        let loss = loss::<T>(kind, seed);
        for specials in data_sets(kind, size) {
            let (x, y) = data::<T>(kind, n, 17 + seed, specials);
            let o = run_all(&loss, Level::Baseline, &x, &y, Weights::None);
            let outs = [
                get(&o, "value none"),
                get(&o, "grad none"),
                get(&o, "grad_hess none hess"),
            ];
            for i in 0..n {
                let (xi, ti) = (x[i].to_f64(), y[i].to_f64());
                if !xi.is_finite() || !(0.0..=1.0).contains(&ti) {
                    continue;
                }
                let p = loss.column(i).to_f64();
                let want = stable(xi, ti, p);
                let (_, gscale) = loss.scalar(i, x[i], y[i]);
                for k in 0..3 {
                    let what = || {
                        format!(
                            "{} n={n} {kind:?} {} at {i}: x={:?} t={:?} pw={p:?}",
                            T::NAME,
                            ["value", "grad", "hess"][k],
                            x[i],
                            y[i]
                        )
                    };
                    let scale = if k == 1 { gscale } else { want[k].abs() };
                    assert_close(outs[k][i], want[k], scale, kind.ulps::<T>(k), &what);
                }
            }
        }
    }
}

#[test]
fn logits_against_the_formula_without_cancellation() {
    for kind in KINDS.into_iter().filter(|k| k.domain() == Domain::Logit) {
        check_stable::<f32>(kind);
        check_stable::<f64>(kind);
    }
}

// ------------------------------------------------------------------ running --

/// Every output of every op with every reduction it takes, labelled; reduced
/// values as one-element vectors.
type Outputs<T> = Vec<(&'static str, Vec<T>)>;

fn run_all<T: Elem>(
    loss: &Loss<T>,
    level: Level,
    x: &[T],
    y: &[T],
    w: Weights<'_, T>,
) -> Outputs<T> {
    let n = x.len();
    let go = |red: Reduction, op: Op<'_, T>| -> T {
        loss.eval(level, x, y, w, red, op).expect("valid call")
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

/// `pos_weight` of ones is no `pos_weight`; column `j` gets `pos_weight[j]`.
fn check_columns<T: Elem>() {
    let (x, y) = data::<T>(Kind::Logits(5), 5 * 41, 3, true);
    let ones = vec![T::ONE; 5];
    let level = Level::active();
    let none = run_all(&logits::<T>(&[]), level, &x, &y, Weights::None);
    let with = run_all(&logits(&ones), level, &x, &y, Weights::None);
    assert_same_outputs(&with, &none, "pos_weight of ones");
    let pw = pos_weight::<T>(5, 9);
    let all = run_all(&logits(&pw), level, &x, &y, Weights::None);
    for (j, &pwj) in pw.iter().enumerate() {
        let xs: Vec<T> = x.iter().skip(j).step_by(5).copied().collect();
        let ys: Vec<T> = y.iter().skip(j).step_by(5).copied().collect();
        let one = [pwj];
        let col = run_all(&logits(&one), level, &xs, &ys, Weights::None);
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
            let o = run_all(&logits(&pw), level, &x, &y, Weights::None);
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
        let o = run_all(&logits(&[]), level, &x, &y, Weights::None);
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
                let o = run_all(&logits(&pw), Level::active(), &x, &y, Weights::None);
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
    let bce = Loss::plain(Kind::Bce);
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
                let w = weights::<T>(n, 1, false);
                for weights in [Weights::None, Weights::Each(&w)] {
                    let results = each_writing_op::<T>(n, |op, red| {
                        bce.eval(level, &x, &y, weights, red, op)
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
        for (label, r, _) in
            each_writing_op::<T>(4, |op, red| bce.eval(level, &x, &y, Weights::None, red, op))
        {
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
        let loss = loss::<T>(Kind::Logits(cols), 2);
        for level in Level::available() {
            for (label, r, untouched) in each_writing_op::<T>(n, |op, red| {
                loss.eval(level, &x, &y, Weights::None, red, op)
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
    let (x, y) = data::<T>(Kind::Logits(0), 5, 2, false);
    let loss = BinaryCrossEntropyWithLogits::<T>::new(Some(&[])).unwrap();
    let r = evaluate(
        Level::active(),
        &loss,
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
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
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
    // Negative values are weights too, as in PyTorch.
    for good in [0.0, -0.0, 1e-30, 1.0, 1e30, -1.0, -1e-30] {
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

/// `values` of `shape` broadcast to `input` by NumPy's rules, written out.
fn broadcast_out(values: &[f64], shape: &[usize], input: &[usize]) -> Vec<f64> {
    let n: usize = input.iter().product();
    let pad = input.len() - shape.len();
    (0..n)
        .map(|mut i| {
            let (mut offset, mut stride) = (0, 1);
            for (k, &d) in input.iter().enumerate().rev() {
                let at = i % d;
                i /= d;
                if k >= pad {
                    let own = shape[k - pad];
                    offset += if own == 1 { 0 } else { at * stride };
                    stride *= own;
                }
            }
            values[offset]
        })
        .collect()
}

/// `pos_weight` read through broadcasting gives the bits of the full array
/// it stands for, over blocks and threads; shapes that do not broadcast are
/// `LossError::Broadcast`, and a length that does not match the shape
/// `LengthMismatch`.
#[test]
fn pos_weight_broadcasts() {
    let shapes: [(&[usize], &[&[usize]]); 3] = [
        (
            &[3, 5, 4],
            &[
                &[],
                &[4],
                &[1, 4],
                &[5, 1],
                &[3, 1, 4],
                &[3, 1, 1],
                &[3, 5, 4],
                &[1, 5, 1],
                &[1],
            ],
        ),
        (
            &[37, 101, 3],
            &[&[37, 1, 3], &[101, 1], &[37, 1, 1], &[3], &[1, 101, 3]],
        ),
        (&[7], &[&[], &[1], &[7]]),
    ];
    for (input, pshapes) in shapes {
        let n: usize = input.iter().product();
        let mut rng = Rng(n as u64);
        let x: Vec<f64> = (0..n).map(|_| 8.0 * rng.unit() - 4.0).collect();
        let t: Vec<f64> = (0..n).map(|_| rng.unit()).collect();
        for &shape in pshapes {
            let len: usize = shape.iter().product();
            let values: Vec<f64> = (0..len).map(|i| 0.5 + 0.25 * i as f64).collect();
            let full = broadcast_out(&values, shape, input);
            let read = Columns::broadcast("pos_weight", &values, shape, input).unwrap();
            let a = BinaryCrossEntropyWithLogits::with_pos_weight(Some(read)).unwrap();
            let whole = Columns::broadcast("pos_weight", &full, input, input).unwrap();
            let b = BinaryCrossEntropyWithLogits::with_pos_weight(Some(whole)).unwrap();
            let (mut ga, mut gb) = (vec![0.0; n], vec![0.0; n]);
            let (mut va, mut vb) = (vec![0.0; n], vec![0.0; n]);
            a.grad_into(&x, &t, Reduction::Mean, Weights::None, &mut ga)
                .unwrap();
            b.grad_into(&x, &t, Reduction::Mean, Weights::None, &mut gb)
                .unwrap();
            a.value_each_into(&x, &t, Weights::None, &mut va).unwrap();
            b.value_each_into(&x, &t, Weights::None, &mut vb).unwrap();
            let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&ga), bits(&gb), "{input:?} <- {shape:?}: grad");
            assert_eq!(bits(&va), bits(&vb), "{input:?} <- {shape:?}: value");
        }
    }
    let values = [1.0; 60];
    for (shape, input) in [
        (&[2][..], &[3, 5, 4][..]),
        (&[1, 3, 5, 4], &[3, 5, 4]),
        (&[5, 4, 1], &[3, 5, 4]),
        (&[3, 4], &[3, 5, 4]),
    ] {
        let len: usize = shape.iter().product();
        let e = Columns::broadcast("pos_weight", &values[..len], shape, input);
        assert!(
            matches!(e, Err(LossError::Broadcast { .. })),
            "{shape:?}: {e:?}"
        );
    }
    let e = Columns::broadcast("pos_weight", &values[..3], &[4], &[3, 4]);
    assert!(matches!(e, Err(LossError::LengthMismatch { .. })), "{e:?}");
}

// ------------------------------------------------ the gradient next to its zero --

/// `[x, t, pw, hi, lo]` of `dtype` (`"f32"` or `"f64"`) from
/// `tests/data/bce_logits_grad.txt`: the floats nearest the gradient's zero
/// `x* = ln(pw·t/(1−t))` and their neighbours, with the exact gradient as
/// `hi + lo` (mpmath; see `tests/gen_bce_logits_reference.py`).
fn zero_reference(dtype: &str) -> Vec<[f64; 5]> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/bce_logits_grad.txt"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 6, "{path}:{}: malformed line {line:?}", n + 1);
        if fields[0] != dtype {
            continue;
        }
        let mut row = [0.0; 5];
        for (v, s) in row.iter_mut().zip(&fields[1..]) {
            let b = u64::from_str_radix(s, 16)
                .unwrap_or_else(|e| panic!("{path}:{}: {s:?}: {e}", n + 1));
            *v = f64::from_bits(b);
        }
        rows.push(row);
    }
    rows
}

/// `|got − (hi + lo)|` in units of the spacing of `T` at `hi` (subnormal
/// spacing at the bottom).
fn ulps_from_exact<T: Elem>(got: T, hi: f64, lo: f64) -> f64 {
    let digits = T::MANTISSA_DIGITS as i32;
    let lowest = if is_f64::<T>() { -1074 } else { -149 };
    let e = if hi == 0.0 {
        lowest
    } else {
        (hi.abs().log2().floor() as i32 - (digits - 1)).max(lowest)
    };
    let spacing = if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1 << (e + 1074))
    };
    // got − hi is exact: the two are within a factor of two.
    ((got.to_f64() - hi) - lo).abs() / spacing
}

/// The gradient at every reference row, through `evaluate` at `level`:
/// one `pos_weight` column per element; with `filler` hard-label elements
/// after each row (so that the rows' chunks cancel only in part and their
/// lanes are gathered), the rows' gradients alone.
fn zero_gradients<T: Elem>(rows: &[[f64; 5]], level: Level, filler: usize, op: usize) -> Vec<T> {
    let (mut x, mut y, mut pw) = (Vec::new(), Vec::new(), Vec::new());
    for (i, r) in rows.iter().enumerate() {
        x.push(T::from_f64(r[0]));
        y.push(T::from_f64(r[1]));
        pw.push(T::from_f64(r[2]));
        for j in 0..filler {
            x.push(T::from_f64(r[0]));
            y.push(if (i + j) % 2 == 0 { T::ZERO } else { T::ONE });
            pw.push(T::from_f64(r[2]));
        }
    }
    let loss = BinaryCrossEntropyWithLogits::new(Some(&pw)).expect("valid pos_weight");
    let (mut g, mut other) = (filled(x.len()), filled(x.len()));
    let op = match op {
        0 => Op::Grad(&mut g),
        1 => Op::ValueGrad(&mut g),
        2 => Op::ValueEachGrad(&mut other, &mut g),
        _ => Op::GradHess(&mut g, &mut other),
    };
    let red = if let Op::ValueEachGrad(..) = op {
        Reduction::None
    } else {
        Reduction::Sum
    };
    evaluate(level, &loss, &x, &y, Weights::None, red, op).expect("valid call");
    g.into_iter().step_by(filler + 1).collect()
}

/// Where the two terms of the gradient cancel hardest (the floats nearest
/// its zero, a few ulp from it, the zero next to 0 and far out): within 4 ulp
/// of the exact value at every SIMD level, the same bits at every level, for
/// every op that writes a gradient, whether the slow paths take the lanes in
/// their chunks or gathered from several.
fn check_next_to_zero<T: Elem>() -> f64 {
    let rows = zero_reference(if is_f64::<T>() { "f64" } else { "f32" });
    assert!(rows.len() > 1000, "{}: {} rows", T::NAME, rows.len());
    let want = zero_gradients::<T>(&rows, Level::Baseline, 0, 0);
    for level in Level::available() {
        for filler in [0, 2] {
            for op in 0..4 {
                let got = zero_gradients::<T>(&rows, level, filler, op);
                if let Some(i) = (0..rows.len()).find(|&i| !same(got[i], want[i])) {
                    panic!(
                        "{} {level:?} filler {filler} op {op}: row {i} {:?} gives {:?}, baseline {:?}",
                        T::NAME,
                        rows[i],
                        got[i],
                        want[i]
                    );
                }
            }
        }
    }
    let mut worst = 0.0f64;
    for (r, &g) in rows.iter().zip(&want) {
        let e = ulps_from_exact(g, r[3], r[4]);
        assert!(
            e <= 4.0,
            "{} x={:e} t={:e} pw={:e}: gradient {g:?}, exact {:e}: {e:.2} ulp",
            T::NAME,
            r[0],
            r[1],
            r[2],
            r[3] + r[4]
        );
        worst = worst.max(e);
    }
    worst
}

#[test]
fn gradient_next_to_its_zero_within_4_ulp() {
    let w32 = check_next_to_zero::<f32>();
    let w64 = check_next_to_zero::<f64>();
    println!("worst: float32 {w32:.3} ulp, float64 {w64:.3} ulp");
}

/// The bits of gradients next to their zero do not depend on the thread
/// count: the reference rows repeated past the size that splits a call over
/// threads, every third element a hard label, one `pos_weight` column per
/// element.
fn check_next_to_zero_threads<T: Elem>() {
    let rows = zero_reference(if is_f64::<T>() { "f64" } else { "f32" });
    let n = 70_000;
    let (mut x, mut y, mut pw) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let r = rows[i % rows.len()];
        x.push(T::from_f64(r[0]));
        y.push(T::from_f64(if i % 3 == 2 { 1.0 } else { r[1] }));
        pw.push(T::from_f64(r[2]));
    }
    let loss = BinaryCrossEntropyWithLogits::new(Some(&pw)).expect("valid pos_weight");
    let snapshot = || {
        let mut g = vec![T::ZERO; n];
        let v = evaluate(
            Level::active(),
            &loss,
            &x,
            &y,
            Weights::None,
            Reduction::Mean,
            Op::ValueGrad(&mut g),
        )
        .expect("valid call");
        let mut s = vec![canonical_bits(v)];
        s.extend(g.iter().map(|&v| canonical_bits(v)));
        s
    };
    let before = num_threads();
    set_num_threads(1).unwrap();
    let one = snapshot();
    for threads in [2, 3] {
        set_num_threads(threads).unwrap();
        assert!(
            snapshot() == one,
            "{} threads change the bits ({})",
            threads,
            T::NAME
        );
    }
    set_num_threads(before).unwrap();
}

#[test]
fn gradient_next_to_its_zero_does_not_depend_on_the_thread_count() {
    check_next_to_zero_threads::<f32>();
    check_next_to_zero_threads::<f64>();
}
