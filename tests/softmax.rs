//! Softmax cross-entropy against its scalar reference, through the public
//! API only: `f32` and `f64`, every SIMD level this machine has, every
//! [`Op`], index and probability targets with class weights, ignored rows,
//! label smoothing and `from_logits = false`, class counts that hit every
//! tail of the 16-lane row loop, ±1e4 and ±inf logits, thread counts, and
//! errors (which must leave every output untouched).
//!
//! Reference: `scalar::cross_entropy_row_scalar`, a textbook two-pass
//! log-sum-exp in `f64` with libm, per row; reductions are composed here
//! with a compensated sum. Tolerances (the README's accuracy bounds): a
//! row's value within 4 ulp of `max(|lse|, 1)` in `T` per unit of target
//! weight; gradients within a
//! few ulp of their terms, plus the conditioning of `exp` at a rounded
//! `z − m` (`|z − m|` ulp).
//!
//! Cost: the library runs unoptimized under `cargo test`; sizes are kept to
//! a few hundred thousand logits in all.

mod common;

use common::{canonical_bits, filled, Elem, Rng, SENTINEL};
use fastloss::loss::softmax::scalar::{cross_entropy_row_scalar, index_weights, prob_weights};
use fastloss::{
    num_threads, set_num_threads, CrossEntropy, Float, Level, LossError, Op, Reduction, Targets,
    Weights,
};

// ------------------------------------------------------------- helpers --

/// The spacing of `T` at `|v|` (normal range), as f64.
fn spacing<T: Elem>(v: f64) -> f64 {
    let v = v.abs().max(T::TINY);
    2f64.powi(v.log2().floor() as i32) * T::EPS
}

impl Rng {
    fn vec<T: Float>(&mut self, n: usize, lo: f64, hi: f64) -> Vec<T> {
        (0..n)
            .map(|_| T::from_f64(lo + (hi - lo) * self.unit()))
            .collect()
    }
}

fn to64<T: Float>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// Neumaier-compensated sum. (Not `common::exact_sum`: no IEEE fallback
/// when a term is not finite.)
fn exact_sum(v: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for x in v {
        let t = s + x;
        c += if s.abs() >= x.abs() {
            (s - t) + x
        } else {
            (x - t) + s
        };
        s = t;
    }
    s + c
}

/// Options of one case, in f64 (the reference) and as the loss in `T`.
#[derive(Clone, Debug, Default)]
struct Opts {
    class_weight: Option<Vec<f64>>,
    ignore_index: Option<i64>,
    smoothing: f64,
    from_logits: bool,
}

impl Opts {
    fn logits() -> Self {
        Self {
            from_logits: true,
            ..Self::default()
        }
    }
    fn loss<T: Float>(&self) -> CrossEntropy<T> {
        let mut ce = CrossEntropy::<T>::new()
            .with_label_smoothing(self.smoothing)
            .unwrap()
            .with_from_logits(self.from_logits);
        if let Some(w) = &self.class_weight {
            let w: Vec<T> = w.iter().map(|&v| T::from_f64(v)).collect();
            ce = ce.with_class_weight(&w).unwrap();
        }
        if let Some(i) = self.ignore_index {
            ce = ce.with_ignore_index(i);
        }
        ce
    }
}

/// Targets owned by a case.
#[derive(Clone, Debug)]
enum Tgt<T> {
    Index(Vec<i64>),
    Probs(Vec<T>),
}

impl<T: Float> Tgt<T> {
    fn view(&self) -> Targets<'_, T> {
        match self {
            Tgt::Index(l) => Targets::Index(l),
            Tgt::Probs(p) => Targets::Probs(p),
        }
    }
}

/// One case: rows of `classes` logits (or probabilities), targets, options,
/// optional per-row sample weights.
struct Case<T> {
    x: Vec<T>,
    classes: usize,
    target: Tgt<T>,
    opts: Opts,
    weight: Option<Vec<T>>,
}

/// The reference of a case: per-row values (unweighted), the target
/// weights' sums A, lse, and unscaled gradients and second derivatives.
struct Ref {
    values: Vec<f64>,
    a_abs: Vec<f64>,
    lse: Vec<f64>,
    a: Vec<Vec<f64>>,
    grad: Vec<f64>,
    hess: Vec<f64>,
    /// Σ s_i ℓ_i and the mean's denominator.
    sum: f64,
    denom: f64,
    row_w: Vec<f64>,
    /// Logits (the bound is in ulp of lse), not probabilities.
    lse_based: bool,
}

impl<T: Elem> Case<T> {
    fn rows(&self) -> usize {
        match &self.target {
            Tgt::Index(l) => l.len(),
            Tgt::Probs(_) => self.x.len() / self.classes.max(1),
        }
    }

    fn weights(&self) -> Weights<'_, T> {
        match &self.weight {
            None => Weights::None,
            Some(w) => Weights::Each(w),
        }
    }

    fn reference(&self) -> Ref {
        let c = self.classes;
        let rows = self.rows();
        let cw = self.opts.class_weight.as_ref().map(|w| {
            w.iter()
                .map(|&v| T::from_f64(v).to_f64())
                .collect::<Vec<f64>>()
        });
        let tiny = T::TINY;
        let x = to64(&self.x);
        let row_w: Vec<f64> = (0..rows)
            .map(|i| self.weight.as_ref().map_or(1.0, |w| w[i].to_f64()))
            .collect();
        let mut r = Ref {
            values: vec![],
            a_abs: vec![],
            lse: vec![],
            a: vec![],
            grad: vec![],
            hess: vec![],
            sum: 0.0,
            denom: 0.0,
            row_w: row_w.clone(),
            lse_based: self.opts.from_logits,
        };
        let mut denom = vec![];
        for i in 0..rows {
            let z = &x[i * c..(i + 1) * c];
            let a = match &self.target {
                Tgt::Index(l) => {
                    let ignored = self.opts.ignore_index == Some(l[i]);
                    denom.push(if ignored {
                        0.0
                    } else {
                        row_w[i] * cw.as_ref().map_or(1.0, |w| w[l[i] as usize])
                    });
                    index_weights(
                        c,
                        l[i],
                        cw.as_deref(),
                        self.opts.ignore_index,
                        self.opts.smoothing,
                    )
                }
                Tgt::Probs(p) => {
                    denom.push(row_w[i]);
                    prob_weights(
                        &to64(&p[i * c..(i + 1) * c]),
                        cw.as_deref(),
                        self.opts.smoothing,
                    )
                }
            };
            let (v, g, h) = cross_entropy_row_scalar(z, &a, self.opts.from_logits, tiny);
            let m = z.iter().fold(f64::MIN, |m, &v| if v > m { v } else { m });
            // Probabilities: the terms −a·ln p have one sign; their sum
            // sets the scale.
            let lse = if self.opts.from_logits {
                m + z.iter().map(|&v| (v - m).exp()).sum::<f64>().ln()
            } else {
                v
            };
            r.values.push(v);
            r.a_abs.push(a.iter().map(|v| v.abs()).sum());
            r.lse.push(lse);
            r.a.push(a);
            r.grad.extend(g);
            r.hess.extend(h);
        }
        r.sum = exact_sum((0..rows).map(|i| row_w[i] * r.values[i]));
        r.denom = exact_sum(denom);
        r
    }
}

/// The outputs of every op at one level, for bitwise comparisons.
#[derive(Debug, PartialEq)]
struct Outputs {
    bits: Vec<(String, Vec<u64>)>,
}

fn bits_of<T: Elem>(v: &[T]) -> Vec<u64> {
    v.iter().map(|&x| canonical_bits(x)).collect()
}

/// Runs every op with every reduction at `level`; checks each against the
/// reference; returns the bits of everything.
fn check_case<T: Elem>(case: &Case<T>, level: Level, what: &str) -> Outputs {
    let ce = case.opts.loss::<T>();
    let r = case.reference();
    let n = case.x.len();
    let rows = case.rows();
    let c = case.classes;
    let mut out = Outputs { bits: vec![] };
    let run = |op: Op<'_, T>, red: Reduction| {
        ce.evaluate(
            level,
            &case.x,
            case.target.view(),
            c,
            case.weights(),
            red,
            op,
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"))
    };

    // Values per row.
    let mut each = filled(rows);
    run(Op::ValueEach(&mut each), Reduction::None);
    for (i, got) in each.iter().enumerate() {
        let want = r.row_w[i] * r.values[i];
        check_value::<T>(got.to_f64(), want, &r, i, &format!("{what} row {i}"));
    }
    out.bits.push(("each".into(), bits_of(&each)));

    for red in [Reduction::Sum, Reduction::Mean] {
        let scale_of = |i: usize| match red {
            Reduction::Mean => r.row_w[i] / r.denom,
            _ => r.row_w[i],
        };
        let want = match red {
            Reduction::Mean => r.sum / r.denom,
            _ => r.sum,
        };
        let tag = format!("{what} {red:?}");
        let value = run(Op::Value, red);
        check_reduced::<T>(value.to_f64(), want, &r, red, &tag);

        let mut g = filled(n);
        run(Op::Grad(&mut g), red);
        check_grad(case, &r, &g, None, &scale_of, &tag);

        let mut g2 = filled(n);
        let v2 = run(Op::ValueGrad(&mut g2), red);
        assert_eq!(v2.bits(), value.bits(), "{tag}: value_and_grad value");
        assert_eq!(bits_of(&g2), bits_of(&g), "{tag}: value_and_grad grad");

        let (mut g3, mut h3) = (filled(n), filled(n));
        run(Op::GradHess(&mut g3, &mut h3), red);
        assert_eq!(bits_of(&g3), bits_of(&g), "{tag}: grad_hess grad");
        check_grad(case, &r, &g3, Some(&h3), &scale_of, &tag);

        let v = if value.to_f64().is_nan() {
            u64::MAX
        } else {
            value.bits()
        };
        out.bits.push((format!("{red:?} value"), vec![v]));
        out.bits.push((format!("{red:?} grad"), bits_of(&g)));
        out.bits.push((format!("{red:?} hess"), bits_of(&h3)));
    }
    // Value of each row and the gradient of their sum, in one call.
    let (mut v4, mut g4) = (filled(rows), filled(n));
    run(Op::ValueEachGrad(&mut v4, &mut g4), Reduction::None);
    assert_eq!(
        bits_of(&v4),
        out.bits[0].1,
        "{what}: value_each_grad values"
    );
    check_grad(
        case,
        &r,
        &g4,
        None,
        &|i| r.row_w[i],
        &format!("{what} None"),
    );
    out.bits.push(("each grad".into(), bits_of(&g4)));
    out
}

/// The accuracy bound for one row, per unit of target weight: 4 ulp of max(|lse|, 1)
/// in float32; ~1e-14 relative in float64; plus the rounding of the result.
fn row_tol<T: Elem>(r: &Ref, i: usize) -> f64 {
    if r.a_abs[i] == 0.0 {
        return 0.0;
    }
    let unit = if T::EPS > 1e-10 { 4.0 } else { 40.0 };
    if T::EPS > 1e-10 && r.a_abs[i] <= 1.0 && r.lse_based {
        // The bound itself, the rounding of the result included.
        return r.row_w[i] * 4.0 * spacing::<T>(r.lse[i].abs().max(1.0));
    }
    r.row_w[i]
        * (unit * spacing::<T>(r.lse[i].abs().max(1.0)) * r.a_abs[i].max(1.0)
            + spacing::<T>(r.values[i]))
}

fn check_value<T: Elem>(got: f64, want: f64, r: &Ref, i: usize, what: &str) {
    if want.is_nan() || got.is_nan() {
        assert!(
            want.is_nan() && got.is_nan(),
            "{what}: got {got}, want {want}"
        );
        return;
    }
    if want.is_infinite() || got.is_infinite() {
        assert_eq!(got, want, "{what}");
        return;
    }
    let tol = row_tol::<T>(r, i);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want}, |err| {:.3e} > {tol:.3e}",
        (got - want).abs()
    );
}

fn check_reduced<T: Elem>(got: f64, want: f64, r: &Ref, red: Reduction, what: &str) {
    if want.is_nan() || got.is_nan() {
        assert!(
            want.is_nan() && got.is_nan(),
            "{what}: got {got}, want {want}"
        );
        return;
    }
    if want.is_infinite() {
        assert_eq!(got, want, "{what}");
        return;
    }
    // Σ of the rows' tolerances, scaled like the value.
    let mut tol = exact_sum((0..r.values.len()).map(|i| row_tol::<T>(r, i)));
    if red == Reduction::Mean {
        tol /= r.denom;
    }
    tol += 2.0 * spacing::<T>(want);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want}, |err| {:.3e} > {tol:.3e}",
        (got - want).abs()
    );
}

fn check_grad<T: Elem>(
    case: &Case<T>,
    r: &Ref,
    g: &[T],
    h: Option<&[T]>,
    scale_of: &dyn Fn(usize) -> f64,
    what: &str,
) {
    let c = case.classes;
    let x = to64(&case.x);
    for i in 0..case.rows() {
        let z = &x[i * c..(i + 1) * c];
        let zc: Vec<f64> = z.iter().map(|&v| v.max(f64::MIN)).collect();
        let m = zc.iter().fold(f64::MIN, |m, &v| if v > m { v } else { m });
        let s: f64 = zc.iter().map(|&v| (v - m).exp()).sum();
        let a = &r.a[i];
        let big_a: f64 = a.iter().sum();
        let scale = scale_of(i);
        // Rounding of s: a sum of C/16 terms per lane and a 16-lane tree.
        let sum_err = (c / 16) as f64 + 8.0;
        let tiny = T::TINY;
        for k in 0..c {
            let j = i * c + k;
            let got = g[j].to_f64();
            // from_logits = false: the scale is applied first, as in
            // −(s·a)/p and (s·a)/p/p (a weight-0 row stays 0 at p = 0).
            let pm = z[k].max(tiny);
            let want = if case.opts.from_logits {
                scale * r.grad[j]
            } else if a[k] != 0.0 {
                -(scale * a[k]) / pm
            } else {
                0.0
            };
            let ap = (big_a * (zc[k] - m).exp() / s).abs();
            let tol = if case.opts.from_logits {
                let cond = ap * (sum_err + (zc[k] - m).abs()) + 4.0 * a[k].abs();
                scale.abs() * cond * T::EPS * 2.0 + 2.0 * T::TINY
            } else {
                8.0 * want.abs() * T::EPS
            };
            let tag = format!("{what} grad row {i} class {k}");
            close::<T>(got, want, tol, &tag);
            if let Some(h) = h {
                let got = h[j].to_f64();
                let want = if case.opts.from_logits {
                    scale * r.hess[j]
                } else if a[k] != 0.0 {
                    scale * a[k] / pm / pm
                } else {
                    0.0
                };
                let tol = if case.opts.from_logits {
                    let cond = ap * (sum_err + (zc[k] - m).abs());
                    scale.abs() * cond * T::EPS * 2.0 + 2.0 * T::TINY
                } else {
                    8.0 * want.abs() * T::EPS
                };
                close::<T>(got, want, tol, &format!("{what} hess row {i} class {k}"));
            }
        }
    }
}

/// `got` within `tol` of `want`, or the same non-finite value as `want`
/// rounded to `T`.
fn close<T: Elem>(got: f64, want: f64, tol: f64, what: &str) {
    let want = if T::from_f64(want).to_f64().is_infinite() {
        T::from_f64(want).to_f64()
    } else {
        want
    };
    if want.is_nan() || got.is_nan() {
        assert!(
            want.is_nan() && got.is_nan(),
            "{what}: got {got}, want {want}"
        );
        return;
    }
    if want.is_infinite() || got.is_infinite() {
        assert_eq!(got, want, "{what}");
        return;
    }
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, want {want:e}, |err| {:.3e} > {tol:.3e}",
        (got - want).abs()
    );
}

// --------------------------------------------------------------- cases --

/// Class counts: 1, 2, 3, the 16-lane tails and edges (the small rows'
/// transposition takes 16 classes at a time), the first long row, a long
/// row and a huge one.
const CLASSES: [usize; 10] = [1, 2, 3, 15, 16, 17, 32, 33, 1000, 32768];

/// Small rows: two full groups of 16 rows (transposed whole at `avx512`)
/// and a partial one.
fn rows_for(c: usize) -> usize {
    match c {
        0..=33 => 37,
        34..=1000 => 4,
        _ => 2,
    }
}

/// A case with random logits in [−8, 8] (a few extreme ones) and the
/// targets and options chosen by `variant`.
fn make_case<T: Elem>(c: usize, variant: usize, seed: u64) -> Case<T> {
    let mut rng = Rng(seed);
    let rows = rows_for(c);
    let mut x: Vec<T> = rng.vec(rows * c, -8.0, 8.0);
    let mut opts = Opts::logits();
    let probs_target = variant % 4 == 3;
    if variant & 1 == 1 {
        opts.class_weight = Some((0..c).map(|k| [0.5, 2.0, 0.0, 1.25][k % 4]).collect());
    }
    if variant & 2 == 2 && !probs_target {
        opts.ignore_index = Some(-100);
    }
    if variant & 4 == 4 {
        opts.smoothing = 0.1;
    }
    if variant & 8 == 8 {
        opts.from_logits = false;
        // Probabilities: positive rows summing to 1, some zeros.
        for i in 0..rows {
            let row: Vec<f64> = (0..c)
                .map(|k| if k % 7 == 5 { 0.0 } else { rng.unit() })
                .collect();
            let s: f64 = row.iter().sum::<f64>().max(1e-300);
            for k in 0..c {
                x[i * c + k] = T::from_f64(row[k] / s);
            }
        }
    }
    let target = if probs_target {
        let mut p = vec![T::ZERO; rows * c];
        for i in 0..rows {
            let row: Vec<f64> = (0..c).map(|_| rng.unit()).collect();
            let s: f64 = row.iter().sum();
            for k in 0..c {
                p[i * c + k] = T::from_f64(row[k] / s);
            }
        }
        Tgt::Probs(p)
    } else {
        Tgt::Index(
            (0..rows)
                .map(|i| {
                    if opts.ignore_index.is_some() && i % 4 == 1 {
                        -100
                    } else {
                        rng.below(c as u64) as i64
                    }
                })
                .collect(),
        )
    };
    let weight = if variant % 3 == 1 {
        Some(
            (0..rows)
                .map(|i| T::from_f64(if i == 2 { 0.0 } else { 0.25 + 2.0 * rng.unit() }))
                .collect(),
        )
    } else {
        None
    };
    Case {
        x,
        classes: c,
        target,
        opts,
        weight,
    }
}

fn every_level<T: Elem>(case: &Case<T>, what: &str) {
    let levels = Level::available();
    let base = check_case(case, levels[0], &format!("{what} {:?}", levels[0]));
    for &level in &levels[1..] {
        let other = check_case(case, level, &format!("{what} {level:?}"));
        for ((name, a), (_, b)) in base.bits.iter().zip(&other.bits) {
            assert!(
                a == b,
                "{what}: {name} differs between {:?} and {level:?}",
                levels[0]
            );
        }
    }
}

fn all_variants<T: Elem>() {
    for (ci, &c) in CLASSES.iter().enumerate() {
        for variant in 0..16 {
            // The huge rows get a few variants only (debug builds are slow).
            if c == 32768 && variant % 5 != 0 {
                continue;
            }
            let case = make_case::<T>(c, variant, (ci * 100 + variant) as u64);
            every_level(&case, &format!("{} C={c} variant={variant}", T::NAME));
        }
    }
}

#[test]
fn f64_against_reference_every_level() {
    all_variants::<f64>();
}

#[test]
fn f32_against_reference_every_level() {
    all_variants::<f32>();
}

/// ±1e4 logits (float32 included): finite, and exact to the bound.
#[test]
fn large_logits() {
    fn go<T: Elem>() {
        for &c in &[2usize, 17, 1000] {
            for variant in [0, 1, 4, 5, 3, 7] {
                let mut case = make_case::<T>(c, variant, 7 + c as u64);
                let mut rng = Rng(c as u64);
                for v in case.x.iter_mut() {
                    *v = T::from_f64(if rng.unit() < 0.5 { -1e4 } else { 1e4 } + rng.unit());
                }
                let what = format!("{} ±1e4 C={c} variant={variant}", T::NAME);
                let out = check_case(&case, Level::active(), &what);
                for (name, bits) in &out.bits {
                    assert!(!bits.contains(&u64::MAX), "{what}: {name} has NaN");
                }
                let mut each = vec![T::ZERO; case.rows()];
                case.opts
                    .loss::<T>()
                    .value_each_into(&case.x, case.target.view(), c, case.weights(), &mut each)
                    .unwrap();
                assert!(each.iter().all(|v| v.is_finite()), "{what}: {each:?}");
            }
        }
    }
    go::<f32>();
    go::<f64>();
}

/// ±inf and NaN logits: the rules of the module documentation.
#[test]
fn infinite_and_nan_logits() {
    fn go<T: Elem>() {
        let inf = f64::INFINITY;
        let c = 20;
        let mut rng = Rng(5);
        let mut x: Vec<f64> = (0..6 * c).map(|_| rng.unit() * 4.0 - 2.0).collect();
        let labels = vec![3i64, 3, 3, 3, 3, 3];
        x[c + 7] = -inf; // row 1: −inf at a zero-weight class
        x[2 * c + 3] = -inf; // row 2: −inf at the target
        for v in &mut x[3 * c..4 * c] {
            *v = -inf; // row 3: all −inf
        }
        x[4 * c + 11] = inf; // row 4: +inf
        x[5 * c + 18] = f64::NAN; // row 5: NaN
        let xt: Vec<T> = x.iter().map(|&v| T::from_f64(v)).collect();
        let ce = CrossEntropy::<T>::new();
        let mut v = vec![T::ZERO; 6];
        let mut g = vec![T::ZERO; 6 * c];
        ce.value_each_into(&xt, Targets::Index(&labels), c, Weights::None, &mut v)
            .unwrap();
        ce.grad_into(
            &xt,
            Targets::Index(&labels),
            c,
            Reduction::Sum,
            Weights::None,
            &mut g,
        )
        .unwrap();
        let row = |i: usize| &g[i * c..(i + 1) * c];
        assert!(v[0].is_finite() && v[1].is_finite(), "{v:?}");
        assert_eq!(row(1)[7].to_f64(), 0.0, "−inf logit: zero softmax");
        assert!(row(1).iter().all(|g| g.is_finite()));
        assert_eq!(v[2].to_f64(), inf, "−inf at the target");
        assert!(row(2).iter().all(|g| g.is_finite()));
        assert_eq!(row(2)[3].to_f64(), -1.0);
        assert_eq!(v[3].to_f64(), inf, "all −inf");
        for (k, gk) in row(3).iter().enumerate() {
            let want = 1.0 / c as f64 - if k == 3 { 1.0 } else { 0.0 };
            assert!(
                (gk.to_f64() - want).abs() <= 4.0 * T::EPS,
                "uniform: {gk:?}"
            );
        }
        assert!(v[4].to_f64().is_nan() && row(4).iter().all(|g| g.to_f64().is_nan()));
        assert!(v[5].to_f64().is_nan() && row(5).iter().all(|g| g.to_f64().is_nan()));

        // Smoothing: a −inf logit now has a positive target weight.
        let smooth = CrossEntropy::<T>::new().with_label_smoothing(0.2).unwrap();
        smooth
            .value_each_into(&xt, Targets::Index(&labels), c, Weights::None, &mut v)
            .unwrap();
        assert!(v[0].is_finite());
        assert_eq!(v[1].to_f64(), inf);
        // Ignored rows are exactly zero whatever their logits.
        let ignoring = CrossEntropy::<T>::new().with_ignore_index(3);
        let (mut g, mut h) = (vec![T::ONE; 6 * c], vec![T::ONE; 6 * c]);
        ignoring
            .value_each_into(&xt, Targets::Index(&labels), c, Weights::None, &mut v)
            .unwrap();
        ignoring
            .grad_hess_into(
                &xt,
                Targets::Index(&labels),
                c,
                Reduction::Sum,
                Weights::None,
                &mut g,
                &mut h,
            )
            .unwrap();
        assert!(v.iter().chain(&g).chain(&h).all(|v| v.to_f64() == 0.0));
        let mean = ignoring
            .value(
                &xt,
                Targets::Index(&labels),
                c,
                Reduction::Mean,
                Weights::None,
            )
            .unwrap();
        assert!(mean.to_f64().is_nan(), "all rows ignored: 0/0");

        // The scalar reference agrees on every row.
        let case = Case {
            x: xt.clone(),
            classes: c,
            target: Tgt::Index(labels.clone()),
            opts: Opts::logits(),
            weight: None,
        };
        for level in Level::available() {
            check_case(&case, level, &format!("{} specials {level:?}", T::NAME));
        }
    }
    go::<f32>();
    go::<f64>();
}

/// Terms far below the row's maximum in a long row (float32): the sum's
/// cheaper exp clamps them at e^−87, so the gradient takes `exp` again
/// there, exact down through the subnormals, at every level.
#[test]
fn tiny_terms_of_long_rows() {
    let c = 40;
    let mut z = vec![0.0f64; c];
    z[5] = -95.0; // e^z subnormal in float32
    z[6] = -87.25; // just past the clamp
    z[7] = -200.0; // underflows to 0
    z[8] = f64::NEG_INFINITY;
    let s: f64 = z.iter().map(|v| v.exp()).sum();
    let zt: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    let labels = [0i64];
    let ce = CrossEntropy::<f32>::new();
    for level in Level::available() {
        let mut g = vec![f32::NAN; c];
        ce.evaluate(
            level,
            &zt,
            Targets::Index(&labels),
            c,
            Weights::None,
            Reduction::Sum,
            Op::Grad(&mut g),
        )
        .unwrap();
        for k in 5..9 {
            let want = z[k].exp() / s;
            let tol = 2.0 * f64::from(f32::from_bits(1)); // two subnormal steps
            assert!(
                (f64::from(g[k]) - want).abs() <= tol,
                "{level:?} class {k}: {} against {want:e}",
                g[k]
            );
        }
        assert!(g[5] > 0.0 && g[7] == 0.0 && g[8] == 0.0, "{level:?}: {g:?}");
    }
}

/// Empty input and probabilities at 0 (clamped to tiny).
#[test]
fn empty_and_clamped() {
    let ce = CrossEntropy::<f32>::new();
    let sum = ce
        .value(&[], Targets::Index(&[]), 5, Reduction::Sum, Weights::None)
        .unwrap();
    assert_eq!(sum, 0.0);
    let mean = ce
        .value(&[], Targets::Index(&[]), 5, Reduction::Mean, Weights::None)
        .unwrap();
    assert!(mean.is_nan());
    let zero = ce
        .value(&[], Targets::Index(&[]), 0, Reduction::Sum, Weights::None)
        .unwrap();
    assert_eq!(zero, 0.0);

    let probs = CrossEntropy::<f32>::new().with_from_logits(false);
    let v = probs
        .value(
            &[0.6, 0.4],
            Targets::Index(&[1]),
            2,
            Reduction::Mean,
            Weights::None,
        )
        .unwrap();
    assert!(
        (v as f64 - -(0.4f32 as f64).ln()).abs() < 1e-6,
        "seed example: {v}"
    );
    let v = probs
        .value(
            &[1.0, 0.0],
            Targets::Index(&[1]),
            2,
            Reduction::Mean,
            Weights::None,
        )
        .unwrap();
    assert_eq!(v, -(f32::MIN_POSITIVE.ln()));
}

/// Thread counts 1, 2, 3 and 8 give the same bits (one test: the count is
/// global).
#[test]
fn thread_count_does_not_change_bits() {
    let before = num_threads();
    let shapes = [(300usize, 1000usize, 0usize), (7000, 10, 5), (5, 32768, 7)];
    let mut results: Vec<Vec<Outputs>> = vec![];
    for threads in [1, 2, 3, 8] {
        set_num_threads(threads).unwrap();
        let mut this = vec![];
        for (k, &(rows, c, variant)) in shapes.iter().enumerate() {
            let mut case = make_case::<f32>(c, variant, 40 + k as u64);
            let mut rng = Rng(k as u64);
            case.x = rng.vec(rows * c, -6.0, 6.0);
            case.target = Tgt::Index((0..rows).map(|_| rng.below(c as u64) as i64).collect());
            case.weight = Some(rng.vec(rows, 0.0, 2.0));
            this.push(run_all_fast(&case));
        }
        results.push(this);
    }
    set_num_threads(before).unwrap();
    for (t, r) in results.iter().enumerate().skip(1) {
        assert!(r == &results[0], "thread count #{t} changes bits");
    }
}

/// Every op once (no reference: for bitwise comparisons of big cases).
fn run_all_fast<T: Elem>(case: &Case<T>) -> Outputs {
    let ce = case.opts.loss::<T>();
    let (n, c, rows) = (case.x.len(), case.classes, case.rows());
    let mut out = Outputs { bits: vec![] };
    let t = case.target.view();
    let w = case.weights();
    let v = ce.value(&case.x, t, c, Reduction::Mean, w).unwrap();
    out.bits.push(("mean".into(), vec![canonical_bits(v)]));
    let mut g = vec![T::ZERO; n];
    let mut h = vec![T::ZERO; n];
    let v = ce
        .value_and_grad_into(&case.x, t, c, Reduction::Sum, w, &mut g)
        .unwrap();
    out.bits.push(("sum".into(), vec![canonical_bits(v)]));
    out.bits.push(("grad".into(), bits_of(&g)));
    ce.grad_hess_into(&case.x, t, c, Reduction::Mean, w, &mut g, &mut h)
        .unwrap();
    out.bits.push(("gh".into(), bits_of(&g)));
    out.bits.push(("h".into(), bits_of(&h)));
    let mut each = vec![T::ZERO; rows];
    ce.value_each_into(&case.x, t, c, w, &mut each).unwrap();
    out.bits.push(("each".into(), bits_of(&each)));
    out
}

// -------------------------------------------------------------- errors --

/// Every error, and outputs untouched by it.
#[test]
fn errors_leave_outputs_untouched() {
    let c = 5;
    let x: Vec<f64> = (0..4 * c).map(|k| k as f64 * 0.1).collect();
    let labels = [0i64, 4, 7, 1];
    let ce = CrossEntropy::<f64>::new();
    let mut g = vec![SENTINEL; 4 * c];
    let mut h = vec![SENTINEL; 4 * c];
    let untouched = |g: &[f64]| g.iter().all(|&v| v == SENTINEL);

    let e = ce
        .grad_into(
            &x,
            Targets::Index(&labels),
            c,
            Reduction::Mean,
            Weights::None,
            &mut g,
        )
        .unwrap_err();
    assert_eq!(
        e,
        LossError::InvalidLabel {
            index: 2,
            label: 7,
            classes: 5
        }
    );
    let msg = e.to_string();
    assert!(
        msg.contains("label 7") && msg.contains("index 2") && msg.contains("C = 5"),
        "{msg}"
    );
    assert!(untouched(&g));

    // A label equal to ignore_index is fine; a negative one is not.
    let ok = [0i64, 4, -100, 1];
    let ignoring = CrossEntropy::<f64>::new().with_ignore_index(-100);
    ignoring
        .grad_into(
            &x,
            Targets::Index(&ok),
            c,
            Reduction::Mean,
            Weights::None,
            &mut g,
        )
        .unwrap();
    g.fill(SENTINEL);
    let e = ce
        .grad_into(
            &x,
            Targets::Index(&ok),
            c,
            Reduction::Mean,
            Weights::None,
            &mut g,
        )
        .unwrap_err();
    assert!(matches!(
        e,
        LossError::InvalidLabel {
            index: 2,
            label: -100,
            ..
        }
    ));
    assert!(untouched(&g));

    // Class weights: length at the call, values at construction.
    let weighted = CrossEntropy::<f64>::new()
        .with_class_weight(&[1.0, 2.0, 3.0])
        .unwrap();
    let good = [0i64, 1, 2, 1];
    let e = weighted
        .grad_hess_into(
            &x,
            Targets::Index(&good),
            c,
            Reduction::Sum,
            Weights::None,
            &mut g,
            &mut h,
        )
        .unwrap_err();
    assert_eq!(
        e,
        LossError::LengthMismatch {
            name: "class_weight",
            expected: 5,
            got: 3
        }
    );
    assert!(untouched(&g) && untouched(&h));
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let e = CrossEntropy::<f64>::new()
            .with_class_weight(&[1.0, bad])
            .unwrap_err();
        assert!(
            matches!(e, LossError::InvalidClassWeight { index: 1, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("class_weight"));
    }
    // Each weight finite, their sum not.
    let e = CrossEntropy::<f64>::new()
        .with_class_weight(&[1.0, f64::MAX, f64::MAX])
        .unwrap_err();
    assert_eq!(e, LossError::ClassWeightOverflow);
    assert!(e.to_string().contains("class_weight"), "{e}");
    for bad in [-0.1, 1.5, f64::NAN] {
        let e = CrossEntropy::<f64>::new()
            .with_label_smoothing(bad)
            .unwrap_err();
        assert!(e.to_string().contains("label_smoothing"), "{e}");
    }

    // Negative class weights are weights; a sum of -inf overflows too.
    assert!(CrossEntropy::<f64>::new()
        .with_class_weight(&[1.0, -2.0])
        .is_ok());
    let e = CrossEntropy::<f64>::new()
        .with_class_weight(&[1.0, -f64::MAX, -f64::MAX])
        .unwrap_err();
    assert_eq!(e, LossError::ClassWeightOverflow);

    // Sample weights: infinite, NaN, wrong count.
    for (w, index) in [
        (vec![1.0, f64::NEG_INFINITY, 1.0, 1.0], 1),
        (vec![1.0, 1.0, 1.0, f64::NAN], 3),
    ] {
        let e = ce
            .grad_into(
                &x,
                Targets::Index(&good),
                c,
                Reduction::Mean,
                Weights::Each(&w),
                &mut g,
            )
            .unwrap_err();
        assert!(
            matches!(e, LossError::InvalidWeight { index: i, .. } if i == index),
            "{e}"
        );
        assert!(untouched(&g));
    }
    let e = ce
        .grad_into(
            &x,
            Targets::Index(&good),
            c,
            Reduction::Mean,
            Weights::Rows(&[1.0, 2.0, 3.0]),
            &mut g,
        )
        .unwrap_err();
    assert!(matches!(e, LossError::WeightRows { .. }), "{e}");

    // Probability targets: ignore_index rejected; lengths.
    let probs = vec![0.2; 4 * c];
    let e = ignoring
        .grad_into(
            &x,
            Targets::Probs(&probs),
            c,
            Reduction::Mean,
            Weights::None,
            &mut g,
        )
        .unwrap_err();
    assert_eq!(
        e,
        LossError::IgnoreIndexWithProbabilities { ignore_index: -100 }
    );
    let e = ce
        .grad_into(
            &x,
            Targets::Probs(&probs[1..]),
            c,
            Reduction::Mean,
            Weights::None,
            &mut g,
        )
        .unwrap_err();
    assert!(
        matches!(e, LossError::LengthMismatch { name: "target", .. }),
        "{e}"
    );
    let e = ce
        .value(
            &x[1..],
            Targets::Probs(&probs[1..]),
            c,
            Reduction::Mean,
            Weights::None,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            LossError::NotWholeRows {
                len: 19,
                classes: 5
            }
        ),
        "{e}"
    );
    assert!(untouched(&g));

    // Shapes, C = 0, reductions, buffer lengths.
    let e = ce
        .value(
            &x,
            Targets::Index(&good[..3]),
            c,
            Reduction::Mean,
            Weights::None,
        )
        .unwrap_err();
    assert!(
        matches!(e, LossError::LengthMismatch { name: "input", .. }),
        "{e}"
    );
    let e = ce
        .value(
            &[],
            Targets::Index(&good),
            0,
            Reduction::Mean,
            Weights::None,
        )
        .unwrap_err();
    assert_eq!(e, LossError::NoClasses { rows: 4 });
    let e = ce
        .value(&x, Targets::Index(&good), c, Reduction::None, Weights::None)
        .unwrap_err();
    assert_eq!(e, LossError::NoneReduction);
    let mut short = vec![SENTINEL; 3];
    let e = ce
        .value_each_into(&x, Targets::Index(&good), c, Weights::None, &mut short)
        .unwrap_err();
    assert!(
        matches!(
            e,
            LossError::LengthMismatch {
                name: "value out",
                ..
            }
        ),
        "{e}"
    );
    assert!(untouched(&short));
    let mut g_short = vec![SENTINEL; 4 * c - 1];
    let e = ce
        .value_and_grad_into(
            &x,
            Targets::Index(&good),
            c,
            Reduction::Sum,
            Weights::None,
            &mut g_short,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            LossError::LengthMismatch {
                name: "grad out",
                ..
            }
        ),
        "{e}"
    );
    assert!(untouched(&g_short));
}
