//! Coverage-guided fuzzing of the kernels: arbitrary bytes become a loss
//! (any family of the elementwise losses' table, `tests/common/kinds.rs`,
//! or cross-entropy), a dtype, an operation, a reduction, weights and values
//! (small dyadic numbers, special values such as ±inf, NaN, ±0, subnormals,
//! the extremes of both types, and raw bit patterns), and are run at every
//! SIMD level this machine has. It checks that
//!
//! * every level returns the same result, bit for bit (the kernels use no
//!   fused multiply-add and fixed lanes: see `fastloss::simd`), the same
//!   error when there is one, and writes the same bits;
//! * an error leaves every output buffer untouched;
//! * the results agree with the crate's scalar `f64` references
//!   (`scalar::*_scalar`, each loss's formulas as written) within a few
//!   units of the compute type's precision, elementwise and for the reduced
//!   sum.
//!
//! A failed check panics, which libFuzzer reports as a crash with the input.

#![no_main]

/// The table of elementwise losses the integration tests use too.
#[path = "../../tests/common/kinds.rs"]
mod kinds;

use fastloss::kernel::evaluate;
use fastloss::loss::softmax::scalar::{cross_entropy_row_scalar, index_weights, prob_weights};
use fastloss::{CrossEntropy, Float, Level, Op, Pointwise, Reduction, Targets, Weights, BLOCK};
use kinds::{families, Domain, Kind, Loss, Visit};
use libfuzzer_sys::fuzz_target;

/// What output buffers hold before a call.
const SENTINEL: f64 = -1234.5;
/// Most elements a case runs on (enough for several reduction blocks).
const MAX_LEN: usize = 3 * BLOCK + 77;

/// Values a tag byte can name directly.
const SPECIALS: [f64; 32] = [
    0.0,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    1e308,
    -1e308,
    f64::MAX,
    f64::MIN_POSITIVE,
    5e-324,
    -5e-324,
    3.4028234663852886e38,
    1e-45,
    1e-40,
    1e30,
    -1e30,
    1e-30,
    0.5,
    1.0,
    1e-7,
    0.99999994,
    1e4,
    -1e4,
    88.7,
    -88.7,
    709.8,
    -745.2,
    20.0,
    -20.0,
    1e-12,
    1.0 - 1e-12,
    2.5e19,
];

/// The element types, with what the checks need beyond [`Float`].
trait Elem: Float {
    const EPS: f64;
    const TINY: f64;
    const MAX: f64;
    /// A value from raw bits of this width.
    fn raw(bytes: &mut Bytes<'_>) -> f64;
}

impl Elem for f32 {
    const EPS: f64 = f32::EPSILON as f64;
    const TINY: f64 = f32::MIN_POSITIVE as f64;
    const MAX: f64 = f32::MAX as f64;
    fn raw(b: &mut Bytes<'_>) -> f64 {
        f64::from(f32::from_bits(u32::from_le_bytes([
            b.byte(),
            b.byte(),
            b.byte(),
            b.byte(),
        ])))
    }
}

impl Elem for f64 {
    const EPS: f64 = f64::EPSILON;
    const TINY: f64 = f64::MIN_POSITIVE;
    const MAX: f64 = f64::MAX;
    fn raw(b: &mut Bytes<'_>) -> f64 {
        let mut a = [0u8; 8];
        for v in &mut a {
            *v = b.byte();
        }
        f64::from_bits(u64::from_le_bytes(a))
    }
}

/// The fuzzer's bytes, read front to back (zeros once they run out).
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn left(&self) -> bool {
        self.pos < self.data.len()
    }

    fn value<T: Elem>(&mut self) -> f64 {
        match self.byte() {
            t @ 0..=159 => (f64::from(t) - 80.0) / 8.0,
            t @ 160..=191 => SPECIALS[usize::from(t - 160)],
            _ => T::raw(self),
        }
    }
}

/// NaN-insensitive bit equality.
fn same<T: Float>(a: T, b: T) -> bool {
    let (a, b) = (a.to_f64(), b.to_f64());
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

fn same_all<T: Float>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| same(x, y))
}

/// `got` (in `T`) is `want` (exact, in f64) to `k` units of `T`'s epsilon
/// relative to `scale` (at least `|want|`), plus `k` smallest normals; an
/// infinity only where `want` is near `T`'s overflow threshold, NaN only
/// where `want` is NaN.
fn close<T: Elem>(got: T, want: f64, scale: f64, k: f64) -> bool {
    let g = got.to_f64();
    let w = T::from_f64(want).to_f64();
    if g.is_nan() || w.is_nan() {
        return g.is_nan() && w.is_nan();
    }
    if g.is_infinite() || w.is_infinite() {
        return g == w || (want.abs() > T::MAX / 16.0 && g.is_infinite() == (g.abs() > 1.0));
    }
    let scale = scale.max(want.abs());
    (g - want).abs() <= k * T::EPS * scale + k * T::TINY
}

/// What one call at one level gives.
#[derive(Debug)]
struct Outcome<T> {
    result: Result<T, String>,
    bufs: [Vec<T>; 3],
}

/// The operation number `k` over fresh buffers; `per_value` is the length of
/// the value buffer (elements, or rows for cross-entropy).
fn op_of<T: Float>(k: u8, bufs: &mut [Vec<T>; 3]) -> Op<'_, T> {
    let [v, g, h] = bufs;
    match k % 6 {
        0 => Op::Value,
        1 => Op::ValueEach(v),
        2 => Op::Grad(g),
        3 => Op::ValueGrad(g),
        4 => Op::ValueEachGrad(v, g),
        _ => Op::GradHess(g, h),
    }
}

/// Runs `call` at every level and checks that they agree and that errors
/// write nothing. Returns the Baseline outcome.
fn every_level<T: Float>(
    lens: [usize; 3],
    call: impl Fn(Level, &mut [Vec<T>; 3]) -> Result<T, String>,
) -> Outcome<T> {
    let mut first: Option<Outcome<T>> = None;
    for level in Level::available() {
        let mut bufs = lens.map(|n| vec![T::from_f64(SENTINEL); n]);
        let result = call(level, &mut bufs);
        if result.is_err() {
            for b in &bufs {
                assert!(
                    b.iter().all(|&v| same(v, T::from_f64(SENTINEL))),
                    "{level:?}: an error ({result:?}) wrote into an output"
                );
            }
        }
        let out = Outcome { result, bufs };
        match &first {
            None => first = Some(out),
            Some(base) => {
                match (&base.result, &out.result) {
                    (Ok(a), Ok(b)) => assert!(same(*a, *b), "{level:?}: value {b} vs {a}"),
                    (Err(a), Err(b)) => assert_eq!(a, b, "{level:?}: errors differ"),
                    (a, b) => panic!("{level:?}: {b:?} vs Baseline {a:?}"),
                }
                for (i, (a, b)) in base.bufs.iter().zip(&out.bufs).enumerate() {
                    assert!(
                        same_all(a, b),
                        "{level:?}: output {i} differs from Baseline"
                    );
                }
            }
        }
    }
    first.expect("at least the baseline level")
}

/// The header of a case: which loss and how it is called.
struct Case {
    family: u8,
    flags: u8,
    param: u8,
    extra: u8,
    repeat: u8,
}

fn reduction(flags: u8) -> Reduction {
    match (flags >> 4) % 3 {
        0 => Reduction::Mean,
        1 => Reduction::Sum,
        _ => Reduction::None,
    }
}

/// Values cycled to `len` elements.
fn tile(v: &[f64], len: usize) -> Vec<f64> {
    if v.is_empty() {
        return Vec::new();
    }
    (0..len).map(|i| v[i % v.len()]).collect()
}

fn to_t<T: Float>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// A probability-like image of any value: finite values folded into [0, 1].
fn unit(v: f64) -> f64 {
    if v.is_finite() {
        let a = v.abs();
        if a <= 1.0 {
            a
        } else {
            a.fract()
        }
    } else {
        v
    }
}

/// An elementwise loss of `family` (a kind of the table, whose parameter the
/// case replaces).
fn elementwise<T: Elem>(family: Kind, case: &Case, bytes: &mut Bytes<'_>) {
    let mut raw = Vec::new();
    while bytes.left() && raw.len() < 3 * 1024 {
        raw.push(bytes.value::<T>());
    }
    let n0 = raw.len() / 3;
    let len = (n0 * (1 + usize::from(case.repeat % 8) * 700)).min(MAX_LEN);
    let bounded = case.extra & 1 != 0;
    let x: Vec<T> = to_t(&tile(&raw[..n0], len));
    let mut yv = tile(&raw[n0..2 * n0], len);
    let wv = tile(&raw[2 * n0..3 * n0], len);
    let domain = family.domain();
    // Targets in their domain, or, where the loss checks them and the case is
    // not bounded, any (those outside must be rejected, writing nothing).
    if bounded || !domain.checks_target() {
        if domain.target_is_probability() {
            yv.iter_mut().for_each(|v| *v = unit(*v));
        } else if domain.checks_target() {
            // Counts and amounts (a zero amount is still rejected).
            yv.iter_mut().for_each(|v| *v = v.abs());
        }
    }
    let x: Vec<T> = if domain.input_is_probability() && bounded {
        x.iter().map(|&v| T::from_f64(unit(v.to_f64()))).collect()
    } else {
        x
    };
    let y: Vec<T> = to_t(&yv);
    let wmode = (case.flags >> 6) % 4;
    let w: Vec<T> = match wmode {
        0 => Vec::new(),
        // Non-negative weights, or any (invalid ones must be rejected).
        1 if bounded => wv.iter().map(|v| T::from_f64(v.abs())).collect(),
        1 => to_t(&wv),
        _ => {
            let k = 1 + usize::from(case.extra >> 1) % len.max(1);
            wv.iter().take(k).map(|v| T::from_f64(v.abs())).collect()
        }
    };
    let weights = match (wmode, w.is_empty()) {
        (0, _) => Weights::None,
        (1, _) => Weights::Each(&w),
        _ => Weights::Rows(&w),
    };
    let red = reduction(case.flags);
    let op = (case.flags >> 1) % 8;
    let lens = [len, len, len];
    const PARAMS: [f64; 12] = [
        1.0, 0.5, 2.0, 0.25, 0.1, 0.9, 1e-3, 3.0, 0.0, 1e-30, 1e30, 0.999,
    ];
    let p = PARAMS[usize::from(case.param) % PARAMS.len()];
    let pw_raw: Vec<f64> = (0..usize::from(case.param % 4))
        .map(|i| raw.get(i).copied().unwrap_or(1.0).abs())
        .collect();
    let pw: Vec<T> = to_t(&pw_raw);
    let kind = family.with_param(p).with_columns(pw.len());
    let loss = Loss::new(kind, if kind.columns() > 0 { pw } else { Vec::new() });
    let run = Run {
        table: &loss,
        lens,
        op,
        red,
        x: &x,
        y: &y,
        weights,
    };
    // An invalid parameter is the constructor's error: no case.
    let _ = loss.visit(run);
}

/// One elementwise case, run with the loss that `table` builds.
struct Run<'a, T> {
    table: &'a Loss<T>,
    lens: [usize; 3],
    op: u8,
    red: Reduction,
    x: &'a [T],
    y: &'a [T],
    weights: Weights<'a, T>,
}

impl<T: Elem> Visit<T> for Run<'_, T> {
    type Out = ();
    fn visit<L: Pointwise<T>>(self, loss: &L) {
        let Run {
            table,
            lens,
            op,
            red,
            x,
            y,
            weights,
        } = self;
        let o = every_level::<T>(lens, |level, bufs| {
            evaluate(level, loss, x, y, weights, red, op_of(op, bufs)).map_err(|e| format!("{e:?}"))
        });
        check_elementwise::<T>(&o, op, red, x, y, weights, table);
    }
}

/// Baseline against the scalar reference: elementwise outputs when they are
/// unscaled (`Sum`, `None`), the reduced sum.
fn check_elementwise<T: Elem>(
    o: &Outcome<T>,
    op: u8,
    red: Reduction,
    x: &[T],
    y: &[T],
    weights: Weights<'_, T>,
    loss: &Loss<T>,
) {
    let Ok(value) = o.result else { return };
    if !loss.kind.has_f64_reference() {
        return;
    }
    if red == Reduction::Mean {
        return;
    }
    let n = x.len();
    let weight = |i: usize| match weights {
        Weights::None => 1.0,
        Weights::Each(w) => w[i].to_f64(),
        Weights::Rows(w) => w[i / (n / w.len())].to_f64(),
    };
    // Σ w·ℓ, compensated (Neumaier): the reference must beat the kernel's
    // own blocked sum.
    let (mut sum, mut comp, mut scale) = (0.0f64, 0.0f64, 0.0f64);
    // The positive and the negative terms apart: weights may be negative, and
    // where both parts pass T's range, terms or partial sums of T overflow to
    // +inf and to -inf and meet as NaN, whatever the sum of them all.
    let (mut above, mut below) = (0.0f64, 0.0f64);
    for i in 0..n {
        let (xi, yi) = (x[i].to_f64(), y[i].to_f64());
        // NaN differences propagate through value and gradient; the
        // gradient of BCE with logits is measured against the larger of
        // its two terms.
        let ([v, g, h], gscale) = loss.scalar(i, x[i], y[i]);
        // Where the f64 reference's own formula cancels or amplifies its
        // rounding (a value that is a difference of terms, as the log-link
        // losses' at their zeros; focal's q^γ for a large γ), each output
        // is measured against the magnitude Kind::reference gives, as the
        // kernel tests measure it.
        let [vscale, gref, hscale] = loss.reference(i, x[i], y[i]).scale.unwrap_or([0.0; 3]);
        let gscale = gscale.max(gref);
        // An infinite target is no label: its gradient (1−t)·σ(x) −
        // pw·t·σ(−x) is ±inf or, where σ(−|x|) underflows in `T` and
        // ∞·0 appears, NaN. Either is IEEE's answer.
        let nan_grad_ok = loss.kind.domain() == Domain::Logit && yi.is_infinite();
        let w = weight(i);
        // The loss is computed in T, then weighted: a term that overflows T
        // times a zero weight is NaN, as IEEE says.
        let in_t = |v: f64| T::from_f64(v).to_f64();
        let (wv, wg, wh) = (w * in_t(v), w * in_t(g), w * in_t(h));
        if wv > 0.0 {
            above += wv;
        } else if wv < 0.0 {
            below += wv;
        }
        let t = sum + wv;
        comp += if sum.abs() >= wv.abs() {
            (sum - t) + wv
        } else {
            (wv - t) + sum
        };
        sum = t;
        scale += wv.abs().max(w.abs() * vscale);
        let what = |k: &str, got: T, want: f64| {
            format!(
                "{:?} {}, op {op}, {red:?}: element {i}: {k} {got} vs reference {want} \
                 (x={xi:e}, y={yi:e}, w={w:e})",
                loss.kind,
                T::NAME
            )
        };
        let k = 16.0;
        let [vb, gb, hb] = &o.bufs;
        let wants_v = matches!(op % 6, 1 | 4);
        let wants_g = matches!(op % 6, 2..=5);
        let wants_h = op % 6 == 5;
        if wants_v {
            assert!(
                close(vb[i], wv, w.abs() * vscale, k),
                "{}",
                what("value", vb[i], wv)
            );
        }
        if wants_g {
            assert!(
                (nan_grad_ok && gb[i].to_f64().is_nan()) || close(gb[i], wg, w.abs() * gscale, k),
                "{}",
                what("grad", gb[i], wg)
            );
        }
        if wants_h {
            assert!(
                close(hb[i], wh, w.abs() * hscale, 4.0 * k),
                "{}",
                what("hess", hb[i], wh)
            );
        }
    }
    if sum.is_finite() {
        sum += comp;
    }
    if red == Reduction::Sum && matches!(op % 6, 0 | 3) {
        let both_overflow = above > T::MAX && below < -T::MAX;
        let ok = if both_overflow && !value.to_f64().is_finite() {
            true
        } else if sum.is_finite() {
            close(value, sum, scale, 16.0 + 2.0 * (n.max(1) as f64).log2())
        } else {
            close(value, sum, 0.0, 0.0) || value.to_f64().is_infinite()
        };
        assert!(ok, "sum {value} vs reference {sum} (n = {n})");
    }
}

/// Cross-entropy: rows of `C` logits, index or probability targets, every
/// option.
fn cross_entropy<T: Elem>(case: &Case, bytes: &mut Bytes<'_>) {
    let c = if case.param >= 240 {
        33 + usize::from(case.param - 240) * 5
    } else {
        1 + usize::from(case.param) % 16
    };
    let probs = case.extra & 1 != 0;
    let logits = case.extra & 2 == 0;
    let eps = [0.0, 0.1, 0.5, 1.0][usize::from(case.extra >> 2) % 4];
    let ignore = (case.extra & 16 != 0).then_some(-1i64);
    let weighted = case.extra & 32 != 0;
    let mut raw = Vec::new();
    while bytes.left() && raw.len() < 2 * 1024 {
        raw.push(bytes.value::<T>());
    }
    let rows0 = raw.len() / (2 * c);
    let rows = (rows0 * (1 + usize::from(case.repeat % 8) * 300)).min(MAX_LEN / c);
    let n = rows * c;
    let x: Vec<T> = to_t(&tile(&raw[..rows0 * c], n));
    let tv = tile(&raw[rows0 * c..2 * rows0 * c], n);
    let labels: Vec<i64> = tv
        .iter()
        .step_by(c.max(1))
        .map(|v| {
            let v = if v.is_finite() { v.abs() as i64 } else { 0 };
            v % (c as i64 + 2) - 1
        })
        .collect();
    let p: Vec<T> = tv.iter().map(|&v| T::from_f64(unit(v))).collect();
    let target = if probs {
        Targets::Probs(&p)
    } else {
        Targets::Index(&labels)
    };
    let cw: Vec<T> = (0..c)
        .map(|k| T::from_f64(raw.get(k).map_or(1.0, |v| v.abs())))
        .collect();
    let sw: Vec<T> = labels
        .iter()
        .map(|&l| T::from_f64(0.25 * (l + 1) as f64))
        .collect();
    let wmode = (case.flags >> 6) % 3;
    let weights = match wmode {
        0 => Weights::None,
        1 => Weights::Each(&sw),
        _ => Weights::Rows(&sw[..rows.min(1)]),
    };
    let mut loss = CrossEntropy::<T>::new().with_from_logits(logits);
    match loss.with_label_smoothing(eps) {
        Ok(l) => loss = l,
        Err(_) => return,
    }
    if weighted {
        match loss.with_class_weight(&cw) {
            Ok(l) => loss = l,
            Err(_) => return,
        }
    }
    if let Some(i) = ignore {
        loss = loss.with_ignore_index(i);
    }
    let red = reduction(case.flags);
    let op = (case.flags >> 1) % 8;
    let o = every_level::<T>([rows, n, n], |level, bufs| {
        loss.evaluate(level, &x, target, c, weights, red, op_of(op, bufs))
            .map_err(|e| format!("{e:?}"))
    });
    // The reference, per row, for unscaled outputs of finite logits.
    if o.result.is_err() || red == Reduction::Mean || wmode != 0 {
        return;
    }
    let cw64: Vec<f64> = cw.iter().map(|v| v.to_f64()).collect();
    let cwr = weighted.then_some(&cw64[..]);
    for r in 0..rows {
        let z: Vec<f64> = x[r * c..(r + 1) * c].iter().map(|v| v.to_f64()).collect();
        if !z.iter().all(|v| v.is_finite()) {
            continue;
        }
        let a = if probs {
            let t: Vec<f64> = p[r * c..(r + 1) * c].iter().map(|v| v.to_f64()).collect();
            prob_weights(&t, cwr, eps)
        } else {
            index_weights(c, labels[r], cwr, ignore, eps)
        };
        if !a.iter().all(|v| v.is_finite()) {
            // Infinite target weights: the kernel's and the textbook's
            // formulas are different IEEE expressions (inf·0 in one only).
            continue;
        }
        let (v, g, h) = cross_entropy_row_scalar(&z, &a, logits, T::TINY);
        let big_a: f64 = a.iter().map(|v| v.abs()).sum();
        let m = z.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let what = |k: &str| format!("row {r} (C = {c}): {k} (z = {z:?}, a = {a:?})");
        let [vb, gb, hb] = &o.bufs;
        if matches!(op % 6, 1 | 4) {
            let scale = if logits {
                big_a * (2.0 * m + 1.0 + (c as f64).ln())
            } else {
                a.iter()
                    .zip(&z)
                    .map(|(a, p)| a.abs() * (p.max(T::TINY).ln().abs() + 1.0))
                    .sum()
            };
            // Probabilities above 1 give negative terms: where the terms'
            // magnitudes overflow together, where the sum first overflows
            // (to either infinity, then NaN) depends on its order.
            let overflow = !logits && scale.is_infinite() && !vb[r].to_f64().is_finite();
            assert!(
                overflow || close(vb[r], v, scale, 32.0),
                "{} {} vs {v}",
                what("value"),
                vb[r]
            );
        }
        if logits && matches!(op % 6, 2..=5) {
            for k in 0..c {
                let i = r * c + k;
                assert!(
                    close(gb[i], g[k], big_a + a[k].abs(), 32.0),
                    "{} {} vs {}",
                    what("grad"),
                    gb[i],
                    g[k]
                );
                if op % 6 == 5 {
                    assert!(
                        close(hb[i], h[k], big_a, 64.0),
                        "{} {} vs {}",
                        what("hess"),
                        hb[i],
                        h[k]
                    );
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The table's families, then cross-entropy.
    let families = families();
    let mut bytes = Bytes { data, pos: 0 };
    let case = Case {
        family: bytes.byte() % (families.len() as u8 + 1),
        flags: bytes.byte(),
        param: bytes.byte(),
        extra: bytes.byte(),
        repeat: bytes.byte(),
    };
    let f64_ = case.flags & 1 != 0;
    match (families.get(usize::from(case.family)), f64_) {
        (None, false) => cross_entropy::<f32>(&case, &mut bytes),
        (None, true) => cross_entropy::<f64>(&case, &mut bytes),
        (Some(&f), false) => elementwise::<f32>(f, &case, &mut bytes),
        (Some(&f), true) => elementwise::<f64>(f, &case, &mut bytes),
    }
});
