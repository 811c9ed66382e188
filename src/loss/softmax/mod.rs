//! Softmax cross-entropy (PyTorch's `cross_entropy`): one row of logits per
//! sample, classes contiguous within a row.
//!
//! Per row `z` (C logits), with target weights `a_c` (see [`CrossEntropy`]),
//! `A = Σ a_c`, `m = max z`, `s = Σ exp(z_c − m)`:
//!
//! * value `Σ a_c·(lse − z_c) = A·ln s + Σ a_c·(m − z_c)`, terms with
//!   `a_c == 0` skipped, accumulated in `f64` whatever `T` is;
//! * gradient `A·p_c − a_c` with `p = softmax(z)`; diagonal second derivative
//!   `A·p_c·(1 − p_c)`.
//!
//! Layout: `long` takes rows of more than 32 logits (`SMALL`) one at a time,
//! `small` takes shorter rows [`LANES`] at a time (one row per lane, read
//! once and transposed), `probs` takes probability inputs
//! (`from_logits = false`), and `scalar` holds the `f64` references of the
//! tests. This file holds the API, the checks and the row loop they share.
//!
//! A long row takes two sweeps, the second from L1: its exact maximum `m`,
//! then `s = Σ exp(z_c − m)` over [`LANES`]·4 virtual lanes, in `T` within a
//! block of rounds and in `f64` across blocks (compensated for `f64`), the
//! lanes merged at the end of the row by a fixed tree. The gradient's
//! `exp(z_c − m)` are written on the way (into the gradient's own buffer)
//! and a second pass turns them into `A·exp(z_c − m)/s − a_c`, taking
//! `exp` again only where the sum's cheaper exp may have clamped.
//!
//! Every SIMD level gives the same bits: fixed lanes and fixed trees, and
//! every multiply-add that the exp and ln kernels fuse rounds once at every
//! level (see [`crate::math`]). Rows are summed by the fixed reduction tree
//! in blocks of rows derived from C alone, so any thread count gives the
//! same bits too.
//!
//! Special values: a `−inf` logit is an exact zero of the softmax (its term
//! in the value is `+inf` where its target weight is positive, `0` where it
//! is zero); a row of `−inf` logits only is the limit of equal logits
//! (uniform softmax). A `+inf` or NaN logit makes its row NaN. A row whose
//! target weights sum to zero skips the `A·…` terms (an ignored row is
//! exactly zero in value, gradient and second derivative).

// Lane loops index several fixed-size arrays by lane: that is what lets
// them vectorize.
#![allow(clippy::needless_range_loop)]

use core::ops::Range;

use crate::error::{require, LossError};
use crate::float::Float;
use crate::kernel::{
    check_len, check_sample_weights, invalid_weight, Op, Sinks, SourceWeights, Wants, Weights,
};
use crate::math;
use crate::reduce::{first_failure, fold_lanes, tree, Reduction, BLOCK};
use crate::simd::{dispatch, Level};
use crate::strided::{Sink, Source};

mod long;
mod probs;
pub mod scalar;
mod small;
mod transpose;

use long::logits_row;
use probs::probs_row;
use small::{small_rows, SMALL};

/// Virtual lanes a row is processed in: fixed, so that every SIMD level
/// computes the same operations in the same order.
pub const LANES: usize = 16;

/// Elements of the leaves of the row tree: a leaf holds `max(1, ROW_BLOCK / C)`
/// rows. Fixed: it decides the summation order.
const ROW_BLOCK: usize = 4096;

/// Elements of the subtrees that go to other threads (a tree shares from
/// twice its grain) for a float32 value; a quarter of it for the heavier
/// work of float64 or of gradients. `benches/threads.py` measured where a
/// second thread pays off (BENCHMARKS.md has the curves).
const GRAIN: usize = 1 << 15;

/// The targets of a cross-entropy call.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a, T> {
    /// One class index per row, in `0..C` or equal to `ignore_index`.
    Index(&'a [i64]),
    /// One probability (soft label) per logit: the input's length. Not
    /// validated or renormalised.
    Probs(&'a [T]),
}

/// Softmax cross-entropy with PyTorch's options, in `T`.
///
/// Target weights of a row, with class weights `w_c` (1 without) and label
/// smoothing `ε`: for a class index `y`,
/// `a_c = (1−ε)·w_y·[c = y] + (ε/C)·w_c` (and `a = 0` when `y` is
/// `ignore_index`); for probabilities `t`, `a_c = w_c·((1−ε)·t_c + ε/C)`.
///
/// Reductions: `Sum` is `Σ s_i·ℓ_i` with `s_i` the sample weights (1
/// without); `Mean` divides it by `Σ s_i·w_{y_i}` over the rows not ignored
/// for class indices (PyTorch's weighted mean: the number of rows kept
/// without class weights) and by `Σ s_i` for probabilities. Gradients and
/// second derivatives are those of the reduced value.
///
/// With [`with_from_logits(false)`](Self::with_from_logits) the input holds
/// probabilities `p` (not validated or renormalised): the value is
/// `−Σ a_c·ln max(p_c, tiny)` (`tiny` the smallest positive normal of `T`),
/// the gradient `−a_c / max(p_c, tiny)`, the second derivative
/// `a_c / max(p_c, tiny)²`. An input above 1 gives a negative term; where
/// terms of both signs are beyond `f64`'s range together, the value is an
/// infinity or NaN depending on where the sum overflows first (IEEE 754),
/// as in any fixed-order sum.
///
/// ```
/// use fastloss::{CrossEntropy, Reduction, Targets, Weights};
///
/// let logits = [2.0_f64, 0.0, 0.0, /* row 2 */ 0.0, 0.0, 0.0];
/// let ce = CrossEntropy::<f64>::new();
/// let loss = ce.value(&logits, Targets::Index(&[0, 2]), 3, Reduction::Sum, Weights::None)?;
/// let lse = (2.0_f64.exp() + 2.0).ln();
/// assert!((loss - ((lse - 2.0) + 3.0_f64.ln())).abs() < 1e-15);
///
/// let mut grad = [0.0; 6];
/// ce.grad_into(&logits, Targets::Index(&[0, 2]), 3, Reduction::Mean, Weights::None, &mut grad)?;
/// assert!((grad[5] - (1.0 / 3.0 - 1.0) / 2.0).abs() < 1e-15);
/// # Ok::<(), fastloss::LossError>(())
/// ```
#[derive(Clone, Debug)]
pub struct CrossEntropy<T> {
    class_weight: Option<Vec<T>>,
    /// Σ w_c, in f64.
    weight_sum: f64,
    ignore_index: Option<i64>,
    label_smoothing: f64,
    from_logits: bool,
}

impl<T: Float> Default for CrossEntropy<T> {
    fn default() -> Self {
        Self::new()
    }
}

const PLAIN: u8 = 0;
const SMOOTH: u8 = 1;
const PROBS: u8 = 2;

/// The logits, class indices, probabilities and per-row sample weights of a
/// call with a strided argument.
type Strided<'a, T> = (Source<'a, T>, Source<'a, i64>, Source<'a, T>, Source<'a, T>);

/// The arguments of a cross-entropy call, in any layout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Args<'a, T> {
    /// The logits (or probabilities), rows of C.
    pub(crate) x: Source<'a, T>,
    /// Class indices, one per row, when [`index`](Self::index).
    pub(crate) labels: Source<'a, i64>,
    /// Probabilities, one per logit, when not [`index`](Self::index).
    pub(crate) probs: Source<'a, T>,
    pub(crate) sw: SourceWeights<'a, T>,
    /// Whether the targets are class indices.
    pub(crate) index: bool,
}

/// A call of [`CrossEntropy::evaluate`] whose checks have all passed, with
/// everything its run needs decided: nothing has been written yet. Blocks of
/// rows read it, on whichever thread takes them.
struct Plan<'a, T> {
    /// The logits, the class indices, the probabilities and the sample
    /// weights as the blocks of rows read them: the arguments themselves
    /// when they are slices, else empty, and each leaf gathers its rows from
    /// [`strided`](Self::strided) and reads a plan of its own.
    x: &'a [T],
    classes: usize,
    /// Rows, rows per leaf of the tree, and rows from which a subtree goes
    /// to a second thread.
    rows: usize,
    block: usize,
    grain: usize,
    labels: &'a [i64],
    probs: &'a [T],
    /// [`PLAIN`], [`SMOOTH`] or [`PROBS`], and whether the input holds
    /// logits: with [`wants`](Self::wants), the kernel instance.
    kind: u8,
    logits: bool,
    /// Class weights, or ones, then [`LANES`] zeros (full-width reads of a
    /// row's last chunk).
    cw: &'a [T],
    weighted_classes: bool,
    ignore: Option<i64>,
    /// 1 − ε and ε / C, in f64 and in T.
    keep: f64,
    spread: f64,
    keep_t: T,
    spread_t: T,
    weight_sum: f64,
    /// Sample weights: one per `per` consecutive rows; `per == 0`: none.
    sw: &'a [T],
    per: usize,
    /// The arguments, when any of them is strided.
    strided: Option<Strided<'a, T>>,
    /// Rows are scaled by `s_i / denom` when `mean`, by `s_i` otherwise.
    denom: f64,
    mean: bool,
    /// What the call asks for; per-row values are stored (`wants.store`)
    /// or summed.
    wants: Wants,
    /// The SIMD level, capped to what the CPU has.
    level: Level,
}

impl<T: Float> Plan<'_, T> {
    #[inline(always)]
    fn row_weight(&self, i: usize) -> f64 {
        i.checked_div(self.per).map_or(1.0, |k| self.sw[k].to_f64())
    }

    #[inline(always)]
    fn class_weight(&self, c: usize) -> f64 {
        if self.weighted_classes {
            self.cw[c].to_f64()
        } else {
            1.0
        }
    }
}

/// `N` elements of `s` from `o` ([`LANES`] or [`WIDE`]), of which the first
/// `len` matter: read in place when the slice extends that far (the
/// following row's elements fill the other lanes, which every caller
/// masks), else copied and padded with `fill`. A full-width read avoids a
/// store-forwarding stall per row.
#[inline(always)]
fn window<T: Float, const N: usize>(s: &[T], o: usize, len: usize, fill: T) -> [T; N] {
    if s.len() >= o + N {
        s[o..o + N].try_into().unwrap()
    } else {
        let mut a = [fill; N];
        a[..len].copy_from_slice(&s[o..o + len]);
        a
    }
}

/// The floor of `z − m` for the terms of a row whose maximum is `m`, taken
/// once a row: `T::MIN − m`, as `−inf` logits count as `T::MIN` in the
/// maximum and the sum, and for the terms that take [`Float::exp_term`]
/// (`!kept`) no lower than [`Float::EXP_TERM_LOWEST`].
#[inline(always)]
fn term_floor<T: Float>(m: T, kept: bool) -> T {
    let lo = T::MIN - m;
    if kept || lo > T::EXP_TERM_LOWEST {
        lo
    } else {
        T::EXP_TERM_LOWEST
    }
}

/// `e^(z − m)` of a softmax term, `z − m` floored at `lo` (from
/// [`term_floor`]; the same number as `max(z, T::MIN) − m`, since a
/// subtraction keeps the order, in one comparison per term instead of two): `exp`'s
/// for the terms the gradient keeps (`kept`), exact down through the
/// subnormals, else [`Float::exp_term`]'s, the same bits down to e^−87 (no
/// sum of at least 1 sees what lies below): the value is the same, bit for
/// bit, with or without the gradient. NaN stays NaN.
#[inline(always)]
fn term<T: Float>(z: T, m: T, lo: T, kept: bool) -> T {
    let d = z - m;
    let d = if d < lo { lo } else { d };
    if kept {
        d.exp()
    } else {
        d.exp_term()
    }
}

/// The terms of a chunk where [`Float::exp_term`] may have clamped (a term
/// at most [`Float::EXP_TERM_EXACT_ABOVE`] among the first `valid`, about
/// e^−87 and below in `f32`), again by [`Float::exp`]: exact down through
/// the subnormals, as the gradient needs them. `m` holds each lane's row
/// maximum. Rare: one branch per chunk.
#[inline(always)]
fn exact_terms<T: Float>(z: &[T; LANES], m: &[T; LANES], e: &mut [T; LANES], valid: usize) {
    let mut clamped = false;
    for l in 0..LANES {
        clamped |= (l < valid) & (e[l] <= T::EXP_TERM_EXACT_ABOVE);
    }
    if clamped {
        for l in 0..LANES {
            e[l] = term(z[l], m[l], term_floor(m[l], true), true);
        }
    }
}

/// Stores the first `len` lanes of `a` at `out[o..]`.
#[inline(always)]
fn store<T: Float>(out: &mut [T], o: usize, a: &[T; LANES], len: usize) {
    for (d, v) in out[o..o + len].iter_mut().zip(a) {
        *d = *v;
    }
}

/// The class index of row `i` and its weight `(1−ε)·w_y`, or `None` for an
/// ignored row.
#[inline(always)]
fn label<T: Float>(p: &Plan<'_, T>, i: usize) -> Option<(usize, f64)> {
    let y = p.labels[i];
    if p.ignore == Some(y) {
        return None;
    }
    // Validated before the first row: 0 <= y < C.
    let y = y as usize;
    Some((y, p.keep * p.class_weight(y)))
}

/// A row's label and target weight (`(0, 0)` for probability targets), or
/// `None` for an ignored row, whose gradient and hessian are zeroed here.
#[inline(always)]
fn row_label<T: Float, const GRAD: bool, const HESS: bool, const KIND: u8>(
    p: &Plan<'_, T>,
    i: usize,
    g: &mut [T],
    h: &mut [T],
) -> Option<(usize, f64)> {
    if KIND == PROBS {
        return Some((0, 0.0));
    }
    let l = label(p, i);
    if l.is_none() {
        if GRAD {
            g.fill(T::ZERO);
        }
        if HESS {
            h.fill(T::ZERO);
        }
    }
    l
}

/// A block of rows: the sum of their weighted values (or the values stored
/// into `v`), their gradients into `g` and second derivatives into `h`.
#[inline(always)]
fn block_body<
    T: Float,
    const VAL: bool,
    const GRAD: bool,
    const HESS: bool,
    const KIND: u8,
    const LOGITS: bool,
>(
    p: &Plan<'_, T>,
    rows: Range<usize>,
    v: &mut [T],
    g: &mut [T],
    h: &mut [T],
) -> f64 {
    let c = p.classes;
    if LOGITS && c <= SMALL {
        return small_rows::<T, VAL, GRAD, HESS, KIND>(p, rows, v, g, h);
    }
    let mut sum = 0.0;
    for (k, i) in rows.enumerate() {
        // The row and everything after it: full-width reads of its tail.
        let z = &p.x[i * c..];
        let sw = p.row_weight(i);
        // Weighted means divide (1/Σw overflows for a subnormal Σw).
        let scale = if p.mean { sw / p.denom } else { sw };
        let gr: &mut [T] = if GRAD {
            &mut g[k * c..(k + 1) * c]
        } else {
            &mut []
        };
        let hr: &mut [T] = if HESS {
            &mut h[k * c..(k + 1) * c]
        } else {
            &mut []
        };
        let value = if LOGITS {
            logits_row::<T, VAL, GRAD, HESS, KIND>(p, i, z, scale, gr, hr)
        } else {
            probs_row::<T, VAL, GRAD, HESS, KIND>(p, i, z, scale, gr, hr)
        };
        if VAL {
            let wv = sw * value;
            if p.wants.store {
                v[k] = T::from_f64(wv);
            } else {
                sum += wv;
            }
        }
    }
    sum
}

dispatch! {
    fn rows_block<T: Float; const VAL: bool; const GRAD: bool; const HESS: bool; const KIND: u8; const LOGITS: bool>(
        p: &Plan<'_, T>, rows: Range<usize>, v: &mut [T], g: &mut [T], h: &mut [T]
    ) -> f64 = block_body;
}

/// Whether every class index is in `0..c` or equal to `ignore`: a fold
/// without early exit, which vectorizes.
#[inline(always)]
fn labels_body(labels: &[i64], c: usize, ignore: Option<i64>) -> bool {
    let (has, ig) = (ignore.is_some(), ignore.unwrap_or(0));
    let kept = |y: i64| ((y as u64) < c as u64) | (has & (y == ig));
    labels.iter().fold(0u32, |n, &y| n + u32::from(!kept(y))) == 0
}

dispatch! {
    fn labels_ok<>(labels: &[i64], c: usize, ignore: Option<i64>) -> bool = labels_body;
}

impl<T: Float> CrossEntropy<T> {
    /// Cross-entropy from logits, without class weights, ignored index or
    /// smoothing.
    pub fn new() -> Self {
        Self {
            class_weight: None,
            weight_sum: 0.0,
            ignore_index: None,
            label_smoothing: 0.0,
            from_logits: true,
        }
    }

    /// Weights the classes (PyTorch's `weight`): one finite weight per
    /// class (negative ones are weights too), with a finite sum. The length is checked against C
    /// at each call.
    pub fn with_class_weight(mut self, weight: &[T]) -> Result<Self, LossError> {
        if let Some(index) = invalid_weight(weight) {
            return Err(LossError::InvalidClassWeight {
                index,
                value: weight[index].to_f64(),
            });
        }
        // In the order the reference sums them; only the mean's A uses it.
        self.weight_sum = weight.iter().map(|w| w.to_f64()).sum();
        if !self.weight_sum.is_finite() {
            return Err(LossError::ClassWeightOverflow);
        }
        self.class_weight = Some(weight.to_vec());
        Ok(self)
    }

    /// Rows whose class index equals `index` contribute nothing and leave
    /// the mean's denominator. Not allowed with probability targets.
    pub fn with_ignore_index(mut self, index: i64) -> Self {
        self.ignore_index = Some(index);
        self
    }

    /// Label smoothing `0 ≤ ε ≤ 1`: targets become `(1−ε)·t + ε/C`.
    pub fn with_label_smoothing(mut self, epsilon: f64) -> Result<Self, LossError> {
        require(
            (0.0..=1.0).contains(&epsilon),
            "label_smoothing",
            epsilon,
            "0 <= label_smoothing <= 1",
        )?;
        self.label_smoothing = epsilon;
        Ok(self)
    }

    /// `false`: the input holds probabilities, not logits (see the type's
    /// documentation).
    pub fn with_from_logits(mut self, from_logits: bool) -> Self {
        self.from_logits = from_logits;
        self
    }

    /// The reduced loss (`Mean` or `Sum`; `None` is an error: use
    /// [`value_each_into`](Self::value_each_into)). `input` holds rows of
    /// `classes` logits; `weights` weigh rows.
    pub fn value(
        &self,
        input: &[T],
        target: Targets<'_, T>,
        classes: usize,
        reduction: Reduction,
        weights: Weights<'_, T>,
    ) -> Result<T, LossError> {
        self.evaluate(
            Level::active(),
            input,
            target,
            classes,
            weights,
            reduction,
            Op::Value,
        )
    }

    /// The weighted loss of every row (`s_i·ℓ_i`), into `out` (one per row).
    pub fn value_each_into(
        &self,
        input: &[T],
        target: Targets<'_, T>,
        classes: usize,
        weights: Weights<'_, T>,
        out: &mut [T],
    ) -> Result<(), LossError> {
        let op = Op::ValueEach(out);
        self.evaluate(
            Level::active(),
            input,
            target,
            classes,
            weights,
            Reduction::None,
            op,
        )
        .map(drop)
    }

    /// The gradient of the reduced loss with respect to `input`, into `grad`.
    pub fn grad_into(
        &self,
        input: &[T],
        target: Targets<'_, T>,
        classes: usize,
        reduction: Reduction,
        weights: Weights<'_, T>,
        grad: &mut [T],
    ) -> Result<(), LossError> {
        let op = Op::Grad(grad);
        let level = Level::active();
        self.evaluate(level, input, target, classes, weights, reduction, op)
            .map(drop)
    }

    /// The reduced loss, returned, and its gradient, into `grad`: one pass
    /// for the row statistics, one for the gradient.
    pub fn value_and_grad_into(
        &self,
        input: &[T],
        target: Targets<'_, T>,
        classes: usize,
        reduction: Reduction,
        weights: Weights<'_, T>,
        grad: &mut [T],
    ) -> Result<T, LossError> {
        let op = Op::ValueGrad(grad);
        let level = Level::active();
        self.evaluate(level, input, target, classes, weights, reduction, op)
    }

    /// The gradient and the diagonal second derivative of the reduced loss.
    #[allow(clippy::too_many_arguments)]
    pub fn grad_hess_into(
        &self,
        input: &[T],
        target: Targets<'_, T>,
        classes: usize,
        reduction: Reduction,
        weights: Weights<'_, T>,
        grad: &mut [T],
        hess: &mut [T],
    ) -> Result<(), LossError> {
        let op = Op::GradHess(grad, hess);
        let level = Level::active();
        self.evaluate(level, input, target, classes, weights, reduction, op)
            .map(drop)
    }

    /// Computes what `op` asks for at the given SIMD level (capped to what
    /// the machine has). Value buffers hold one element per row, gradient
    /// and second-derivative buffers one per logit. Returns the reduced value
    /// for [`Op::Value`] and [`Op::ValueGrad`], and `0` otherwise.
    ///
    /// Every check (lengths, labels, class and sample weights, reduction)
    /// happens before the first write.
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate(
        &self,
        level: Level,
        input: &[T],
        target: Targets<'_, T>,
        classes: usize,
        weights: Weights<'_, T>,
        reduction: Reduction,
        op: Op<'_, T>,
    ) -> Result<T, LossError> {
        let (wants, v, g, h) = op.parts();
        let args = Args {
            x: Source::Slice(input),
            labels: Source::Slice(match target {
                Targets::Index(l) => l,
                Targets::Probs(_) => &[],
            }),
            probs: Source::Slice(match target {
                Targets::Index(_) => &[],
                Targets::Probs(t) => t,
            }),
            sw: SourceWeights::from(weights),
            index: matches!(target, Targets::Index(_)),
        };
        let outs = (Sink::Slice(v), Sink::Slice(g), Sink::Slice(h));
        self.evaluate_sources(level, args, classes, reduction, wants, outs)
    }

    /// [`evaluate`](Self::evaluate) on arguments of any layout.
    pub(crate) fn evaluate_sources(
        &self,
        level: Level,
        args: Args<'_, T>,
        classes: usize,
        reduction: Reduction,
        wants: Wants,
        outs: Sinks<'_, T>,
    ) -> Result<T, LossError> {
        // Class weights (ones without), padded for full-width reads.
        let c = classes;
        let mut cw = Vec::with_capacity(c + LANES);
        match &self.class_weight {
            Some(w) => cw.extend_from_slice(w),
            None => cw.resize(c, T::ONE),
        }
        cw.resize(c + LANES, T::ZERO);
        let plan = self.plan(level, args, classes, reduction, wants, &outs, &cw)?;
        Ok(plan.run(outs))
    }

    /// Checks a call of [`evaluate`](Self::evaluate) and decides how it
    /// runs: every error the call can return is found here.
    #[allow(clippy::too_many_arguments)]
    fn plan<'a>(
        &self,
        level: Level,
        args: Args<'a, T>,
        classes: usize,
        reduction: Reduction,
        wants: Wants,
        (v, g, h): &Sinks<'_, T>,
        cw: &'a [T],
    ) -> Result<Plan<'a, T>, LossError> {
        let c = classes;
        let input = args.x;
        let (labels, probs) = (args.labels, args.probs);
        let rows = if args.index {
            if c == 0 && labels.len() > 0 {
                return Err(LossError::NoClasses { rows: labels.len() });
            }
            let expected = labels.len().saturating_mul(c);
            check_len("input", expected, input.len())?;
            labels.len()
        } else {
            if let Some(ignore_index) = self.ignore_index {
                return Err(LossError::IgnoreIndexWithProbabilities { ignore_index });
            }
            if c == 0 {
                check_len("input", 0, input.len())?;
            } else if !input.len().is_multiple_of(c) {
                return Err(LossError::NotWholeRows {
                    len: input.len(),
                    classes: c,
                });
            }
            check_len("target", input.len(), probs.len())?;
            input.len().checked_div(c).unwrap_or(0)
        };
        if let Some(w) = &self.class_weight {
            check_len("class_weight", c, w.len())?;
        }
        if wants.store {
            check_len("value out", rows, v.len())?;
        }
        if wants.grad {
            check_len("grad out", input.len(), g.len())?;
        }
        if wants.hess {
            check_len("hess out", input.len(), h.len())?;
        }
        if wants.summed() && reduction == Reduction::None {
            return Err(LossError::NoneReduction);
        }
        let (sw, per) = match args.sw {
            SourceWeights::None => (Source::Slice(&[][..]), 0),
            SourceWeights::Each(w) => {
                check_len("sample_weight", rows, w.len())?;
                (w, 1)
            }
            SourceWeights::Rows(w) if w.len() == rows => (w, 1),
            SourceWeights::Rows(w) => {
                if w.len() == 0 || !rows.is_multiple_of(w.len()) {
                    return Err(LossError::WeightRows {
                        elements: rows,
                        weights: w.len(),
                    });
                }
                (w, rows / w.len())
            }
        };
        check_sample_weights(sw)?;
        let ignore = self.ignore_index;
        let heavy = T::MANTISSA_DIGITS > 24 || wants.grad || wants.hess;
        let grain = ((if heavy { GRAIN / 4 } else { GRAIN }) / c.max(1)).max(1);
        let block_ok = |b: &[i64]| labels_ok(level, b, c, ignore);
        let ok = |&y: &i64| (0..c as i64).contains(&y) || ignore == Some(y);
        if let Some(index) = first_failure(labels, grain, block_ok, ok) {
            return Err(LossError::InvalidLabel {
                index,
                label: labels.get(index),
                classes: c,
            });
        }

        let weighted_classes = self.class_weight.is_some();
        let eps = self.label_smoothing;
        let spread = if c == 0 { 0.0 } else { eps / c as f64 };
        let kind = match (args.index, eps != 0.0) {
            (false, _) => PROBS,
            (true, true) => SMOOTH,
            (true, false) => PLAIN,
        };
        let mean = reduction == Reduction::Mean;
        let denom = if mean && per == 0 && kind != PROBS && !weighted_classes {
            // Ones and zeros: the count is the tree's sum, exactly.
            let ignored = ignore.map_or(0, |y| match labels {
                Source::Slice(l) => l.iter().filter(|&&l| l == y).count(),
                _ => (0..rows).filter(|&i| labels.get(i) == y).count(),
            });
            (rows - ignored) as f64
        } else if mean {
            tree(rows, BLOCK, usize::MAX, (), &|r: Range<usize>, ()| {
                // The leaf's labels and weights as slices (gathered if strided).
                let (mut lb, mut wb) = (Vec::new(), Vec::new());
                let l = if kind == PROBS {
                    &[][..]
                } else {
                    labels.block(r.clone(), &mut lb)
                };
                let w = if per == 1 {
                    sw.block(r.clone(), &mut wb)
                } else {
                    &[][..]
                };
                let row_weight = |i: usize, k: usize| match per {
                    0 => 1.0,
                    1 => w[k].to_f64(),
                    _ => sw.get(i / per).to_f64(),
                };
                let mut d = 0.0;
                for (k, i) in r.enumerate() {
                    d += if kind == PROBS {
                        row_weight(i, k)
                    } else if ignore == Some(l[k]) {
                        0.0
                    } else if weighted_classes {
                        row_weight(i, k) * cw[l[k] as usize].to_f64()
                    } else {
                        row_weight(i, k)
                    };
                }
                d
            })
        } else {
            1.0
        };
        let weight_sum = if weighted_classes {
            self.weight_sum
        } else {
            c as f64
        };
        let (x, labels, probs, sw, strided) = match (input, labels, probs, sw) {
            (Source::Slice(x), Source::Slice(l), Source::Slice(t), Source::Slice(w)) => {
                (x, l, t, w, None)
            }
            _ => (
                &[][..],
                &[][..],
                &[][..],
                &[][..],
                Some((input, labels, probs, sw)),
            ),
        };
        Ok(Plan {
            x,
            classes: c,
            rows,
            block: (ROW_BLOCK / c.max(1)).max(1),
            grain,
            labels,
            probs,
            kind,
            logits: self.from_logits,
            cw,
            weighted_classes,
            ignore,
            keep: 1.0 - eps,
            spread,
            keep_t: T::from_f64(1.0 - eps),
            spread_t: T::from_f64(spread),
            weight_sum,
            sw,
            per,
            strided,
            denom,
            mean,
            wants,
            level: level.min(Level::detected()),
        })
    }
}

/// The rows of one leaf of a call with strided arguments, gathered: the
/// sample weights one per row (none if the call has none).
struct Leaf<T> {
    x: Vec<T>,
    labels: Vec<i64>,
    probs: Vec<T>,
    sw: Vec<T>,
}

impl<T: Float> Leaf<T> {
    fn gather(
        (x, labels, probs, sw): &Strided<'_, T>,
        r: Range<usize>,
        c: usize,
        per: usize,
    ) -> Self {
        let mut leaf = Leaf {
            x: Vec::with_capacity(r.len() * c),
            labels: Vec::new(),
            probs: Vec::new(),
            sw: Vec::new(),
        };
        x.extend_into(r.start * c..r.end * c, &mut leaf.x);
        if labels.len() > 0 {
            labels.extend_into(r.clone(), &mut leaf.labels);
        }
        if probs.len() > 0 {
            probs.extend_into(r.start * c..r.end * c, &mut leaf.probs);
        }
        if per > 0 {
            leaf.sw.extend(r.map(|i| sw.get(i / per)));
        }
        leaf
    }
}

impl<'a, T: Float> Plan<'a, T> {
    /// The plan of one leaf whose rows `leaf` gathered, numbered from 0.
    fn leaf<'b>(&'b self, leaf: &'b Leaf<T>) -> Plan<'b, T> {
        Plan {
            x: &leaf.x,
            labels: &leaf.labels,
            probs: &leaf.probs,
            sw: &leaf.sw,
            per: usize::from(self.per > 0),
            strided: None,
            cw: self.cw,
            ..*self
        }
    }
}

impl<T: Float> Plan<'_, T> {
    /// Runs the call into the buffers it was planned with. Returns the
    /// reduced value when the value is summed, and `0` otherwise.
    fn run(&self, outs: Sinks<'_, T>) -> T {
        let (rows, block, grain, level) = (self.rows, self.block, self.grain, self.level);
        macro_rules! run {
            ($val:literal, $grad:literal, $hess:literal) => {{
                macro_rules! go {
                    ($kind:expr, $logits:literal) => {
                        tree(
                            rows,
                            block,
                            grain,
                            outs,
                            &|r: Range<usize>, (mut vs, mut gs, mut hs): Sinks<'_, T>| {
                                // Strided outputs are computed into buffers, then stored.
                                let (mut vb, mut gb, mut hb) = (Vec::new(), Vec::new(), Vec::new());
                                let (v, g, h) =
                                    (vs.buffer(&mut vb), gs.buffer(&mut gb), hs.buffer(&mut hb));
                                let sum = match &self.strided {
                                    None => {
                                        rows_block::<T, $val, $grad, $hess, { $kind }, $logits>(
                                            level, self, r, v, g, h,
                                        )
                                    }
                                    Some(args) => {
                                        let leaf =
                                            Leaf::gather(args, r.clone(), self.classes, self.per);
                                        let p = self.leaf(&leaf);
                                        rows_block::<T, $val, $grad, $hess, { $kind }, $logits>(
                                            level,
                                            &p,
                                            0..r.len(),
                                            v,
                                            g,
                                            h,
                                        )
                                    }
                                };
                                vs.finish(&vb);
                                gs.finish(&gb);
                                hs.finish(&hb);
                                sum
                            },
                        )
                    };
                }
                match (self.kind, self.logits) {
                    (PLAIN, true) => go!(PLAIN, true),
                    (SMOOTH, true) => go!(SMOOTH, true),
                    (_, true) => go!(PROBS, true),
                    (PLAIN, false) => go!(PLAIN, false),
                    (SMOOTH, false) => go!(SMOOTH, false),
                    (_, false) => go!(PROBS, false),
                }
            }};
        }
        let wants = self.wants;
        let sum = match (wants.value, wants.grad, wants.hess) {
            (true, false, _) => run!(true, false, false),
            (true, true, _) => run!(true, true, false),
            (false, _, false) => run!(false, true, false),
            (false, _, true) => run!(false, true, true),
        };
        if !wants.summed() {
            return T::ZERO;
        }
        T::from_f64(if self.mean { sum / self.denom } else { sum })
    }
}
