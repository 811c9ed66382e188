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
//! The value takes **one pass** over a row: an online log-sum-exp over
//! [`LANES`] virtual lanes, each carrying `(m, s)` and updated with a single
//! `exp` per logit (`e = exp(−|z − m|)`; a new maximum rescales `s` by `e`,
//! any other logit adds `e`), in `T` at its full vector width: a plain sum
//! over blocks of 4 chunks, added to a compensated (Neumaier) sum, so that
//! `s` is good to a few roundings whatever C; the lanes are merged at the
//! end of the row by a fixed tree in `f64`. The gradient takes a second pass that writes
//! `A·exp(z_c − m)/s − a_c`. Rows of at most 32 logits are handled 16 rows
//! at a time instead, one row per lane, read once (see `small_rows`).
//! No fused multiply-add anywhere, fixed lanes and fixed trees: every SIMD
//! level gives the same bits, and rows are summed by the fixed reduction
//! tree in blocks of rows derived from C alone, so any thread count gives
//! the same bits too.
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
use crate::kernel::{Op, Weights};
use crate::math;
use crate::reduce::{tree, Reduction, BLOCK};
use crate::simd::{dispatch, Level};

/// Virtual lanes a row is processed in: fixed, so that every SIMD level
/// computes the same operations in the same order.
pub const LANES: usize = 16;

/// Elements of the leaves of the row tree: a leaf holds `max(1, ROW_BLOCK / C)`
/// rows. Fixed: it decides the summation order.
const ROW_BLOCK: usize = 4096;

/// Elements from which a second thread pays (two leaves of this size at
/// least go to different threads).
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

/// `−inf` becomes `lowest` (`T::MIN`, what `−inf` logits count as in the
/// maximum and the sum); everything else, NaN included, is kept.
#[inline(always)]
fn floor<T: Float>(x: T, lowest: T) -> T {
    if x < lowest {
        lowest
    } else {
        x
    }
}

/// Sums lanes by a fixed pairwise tree.
#[inline(always)]
fn fold(mut acc: [f64; LANES]) -> f64 {
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            acc[l] += acc[l + width];
        }
        width /= 2;
    }
    acc[0]
}

const PLAIN: u8 = 0;
const SMOOTH: u8 = 1;
const PROBS: u8 = 2;

/// Everything a block of rows needs, read-only.
struct Plan<'a, T> {
    x: &'a [T],
    classes: usize,
    labels: &'a [i64],
    probs: &'a [T],
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
    /// Rows are scaled by `s_i / denom` when `mean`, by `s_i` otherwise.
    denom: f64,
    mean: bool,
    /// Per-row values are stored (`true`) or summed.
    store: bool,
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

/// Stores the first `len` lanes of `a` at `out[o..]`.
#[inline(always)]
fn store<T: Float>(out: &mut [T], o: usize, a: &[T; LANES], len: usize) {
    for (d, v) in out[o..o + len].iter_mut().zip(a) {
        *d = *v;
    }
}

/// Row statistics of pass 1.
struct Stats<T> {
    /// m = max z (−inf counted as `T::MIN`).
    max: T,
    /// s = Σ exp(z_c − m); NaN when the row holds NaN or +inf.
    sum: f64,
    /// Σ a_c·(m − z_c) over the dense target weights (0 unless `dense`).
    dense: f64,
    /// Σ a_c over the dense target weights (0 unless `dense`).
    weight: f64,
}

/// Virtual lanes of pass 1's sums (four chunks of [`LANES`] side by side, so
/// that the adds of one chunk do not wait for the previous one's).
const WIDE: usize = 4 * LANES;

/// Rounds of [`WIDE`] logits whose terms a lane keeps in a plain `T` sum
/// before they join its compensated `f64` one.
const BLOCK_ROUNDS: usize = 4;

/// One round of [`row_max`]: only the first `valid` lanes change. The
/// lanes start at `T::MIN`, so `−inf` never wins (it counts as `T::MIN`,
/// see [`floor`]) and NaN never does either.
#[inline(always)]
fn max_round<T: Float>(m: &mut [T; WIDE], x: &[T; WIDE], valid: usize) {
    for l in 0..WIDE {
        if l < valid {
            m[l] = if x[l] > m[l] { x[l] } else { m[l] };
        }
    }
}

/// The row maximum `m` of `z[..n]` (−inf counted as `lowest`, NaN skipped):
/// exact, whatever the order.
#[inline(always)]
fn row_max<T: Float>(z: &[T], n: usize) -> T {
    let lowest = T::MIN;
    let rounds = n / WIDE;
    // Full rounds in register-sized chunks (see `Wide`).
    let mut c: Wide<T> = [[lowest; LANES]; WIDE / LANES];
    for x in z[..rounds * WIDE].chunks_exact(WIDE) {
        for (j, cj) in c.iter_mut().enumerate() {
            for l in 0..LANES {
                let v = x[j * LANES + l];
                cj[l] = if v > cj[l] { v } else { cj[l] };
            }
        }
    }
    let mut m = [lowest; WIDE];
    for (j, cj) in c.iter().enumerate() {
        m[j * LANES..(j + 1) * LANES].copy_from_slice(cj);
    }
    let (o, len) = (rounds * WIDE, n - rounds * WIDE);
    if len > 0 {
        max_round(&mut m, &window(z, o, len, T::ZERO), len);
    }
    let mut max = lowest;
    for l in 0..WIDE {
        max = if m[l] > max { m[l] } else { max };
    }
    max
}

/// `e^d` (`d ≤ 0`) of a softmax term: `exp`'s for the terms the gradient
/// keeps (`kept`), exact down through the subnormals, else
/// [`Float::exp_term`]'s, the same bits down to e^−87 (no sum of at least
/// 1 sees what lies below): the value is the same, bit for bit, with or
/// without the gradient.
#[inline(always)]
fn term<T: Float>(d: T, kept: bool) -> T {
    if kept {
        d.exp()
    } else {
        d.exp_term()
    }
}

/// One round of pass 1: `exp(z − m)` added to `s`. Only the first `valid`
/// lanes change. With `STORE` the terms (see [`term`]) are also written to
/// `e`, for the gradient, which then needs no exp of its own.
#[inline(always)]
fn sum_round<T: Float, const STORE: bool>(
    max: T,
    x: &[T; WIDE],
    s: &mut Wide<T>,
    e: &mut [T; WIDE],
    valid: usize,
) {
    let lowest = T::MIN;
    for (j, sj) in s.iter_mut().enumerate() {
        for l in 0..LANES {
            let i = j * LANES + l;
            let d = floor(x[i], lowest) - max;
            let t = term(d, STORE);
            if STORE {
                e[i] = t;
            }
            if i < valid {
                sj[l] = sj[l] + t;
            }
        }
    }
}

/// [`WIDE`] sums as four register-sized chunks: a `[T; WIDE]` stays in
/// memory, and each round would wait on the previous round's store.
type Wide<T> = [[T; LANES]; WIDE / LANES];

/// The dense part of one round: `a·(m − z)` added to `acc` and
/// `a = w·(keep·t + spread)` to `wa` (`t = 0` unless `probs`), every term
/// ≥ 0. Only the first `valid` lanes change.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dense_round<T: Float>(
    max: T,
    x: &[T; WIDE],
    w: &[T; WIDE],
    t: &[T; WIDE],
    acc: &mut [f64; WIDE],
    wa: &mut [f64; WIDE],
    probs: bool,
    keep: f64,
    spread: f64,
    valid: usize,
) {
    let m = max.to_f64();
    for l in 0..WIDE {
        let a = w[l].to_f64()
            * if probs {
                keep * t[l].to_f64() + spread
            } else {
                spread
            };
        let own = if a != 0.0 {
            a * (m - x[l].to_f64())
        } else {
            0.0
        };
        if l < valid {
            acc[l] += own;
            wa[l] += a;
        }
    }
}

/// Adds a block's plain sums `s` to the lane sums: `total + comp` is the
/// lane's sum to about one rounding of `f64` plus the block's own roundings,
/// however long the row. For `f64` the sums are compensated (Neumaier); for
/// `f32` the plain `f64` sum already is (its relative error, at most
/// n·2^-53, is nothing next to the terms' 2^-24).
#[inline(always)]
fn flush<T: Float>(total: &mut [f64; WIDE], comp: &mut [f64; WIDE], s: &Wide<T>) {
    for (j, sj) in s.iter().enumerate() {
        for (l, v) in sj.iter().enumerate() {
            let (i, b) = (j * LANES + l, v.to_f64());
            if T::MANTISSA_DIGITS <= 24 {
                total[i] += b;
            } else {
                let a = total[i];
                let t = a + b;
                comp[i] += if a >= b { (a - t) + b } else { (b - t) + a };
                total[i] = t;
            }
        }
    }
}

/// Sums `WIDE` lanes: four chunks lane by lane, then [`fold`].
#[inline(always)]
fn fold_wide(a: &[f64; WIDE]) -> f64 {
    let mut lanes = [0.0; LANES];
    for (j, part) in a.chunks_exact(LANES).enumerate() {
        for l in 0..LANES {
            lanes[l] = if j == 0 { part[l] } else { lanes[l] + part[l] };
        }
    }
    fold(lanes)
}

/// A full round of [`stats`] at `o`: its terms into `s` (and `e` with
/// `STORE`).
#[inline(always)]
fn full_round<T: Float, const STORE: bool>(
    z: &[T],
    max: T,
    o: usize,
    s: &mut Wide<T>,
    e: &mut [T],
) {
    let x = z[o..o + WIDE].try_into().unwrap();
    if STORE {
        let eo = (&mut e[o..o + WIDE]).try_into().unwrap();
        sum_round::<T, true>(max, x, s, eo, WIDE);
    } else {
        sum_round::<T, false>(max, x, s, &mut [T::ZERO; WIDE], WIDE);
    }
}

/// What [`dense_round`] needs of a row, beside the round.
struct DenseArgs<'a, T> {
    z: &'a [T],
    w: &'a [T],
    t: &'a [T],
    max: T,
    dense: bool,
    probs: bool,
    keep: f64,
    spread: f64,
}

impl<T: Float> DenseArgs<'_, T> {
    /// The dense part of the round at `o` (`len` logits), when `dense`.
    #[inline(always)]
    fn round(&self, o: usize, len: usize, acc: &mut [f64; WIDE], wa: &mut [f64; WIDE]) {
        if !self.dense {
            return;
        }
        let t = if self.probs {
            window(self.t, o, len, T::ZERO)
        } else {
            [T::ZERO; WIDE]
        };
        let (x, w) = (
            window(self.z, o, len, T::ZERO),
            window(self.w, o, len, T::ZERO),
        );
        dense_round(
            self.max,
            &x,
            &w,
            &t,
            acc,
            wa,
            self.probs,
            self.keep,
            self.spread,
            len,
        );
    }
}

/// Pass 1 over a row of `n > SMALL` logits, in two sweeps (the row is in L1
/// for the second): the exact maximum m, then s = Σ exp(z_c − m) (terms in
/// (0, 1], plain sums in `T` within a block of rounds, compensated `f64`
/// sums across blocks) and, when `dense`, Σ a_c·(m − z_c) and Σ a_c.
/// `z`, `w` and `t` start at the row and may extend past it. With `STORE`
/// the terms exp(z_c − m) go to `e[..n]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn stats<T: Float, const STORE: bool>(
    z: &[T],
    n: usize,
    w: &[T],
    t: &[T],
    dense: bool,
    probs: bool,
    keep: f64,
    spread: f64,
    e: &mut [T],
) -> Stats<T> {
    let max = row_max(z, n);
    let mut acc = [0.0; WIDE];
    let mut wa = [0.0; WIDE];
    let mut total = [0.0; WIDE];
    let mut comp = [0.0; WIDE];
    let d = DenseArgs {
        z,
        w,
        t,
        max,
        dense,
        probs,
        keep,
        spread,
    };
    // Blocks of BLOCK_ROUNDS rounds, each in a plain sum. The full blocks
    // have a loop of fixed length (unrolled: `s` stays in registers).
    let (rounds, full) = (n.div_ceil(WIDE), n / WIDE);
    let mut k = 0;
    while k + BLOCK_ROUNDS <= full {
        let mut s: Wide<T> = [[T::ZERO; LANES]; WIDE / LANES];
        for r in 0..BLOCK_ROUNDS {
            let o = (k + r) * WIDE;
            full_round::<T, STORE>(z, max, o, &mut s, e);
            d.round(o, WIDE, &mut acc, &mut wa);
        }
        flush(&mut total, &mut comp, &s);
        k += BLOCK_ROUNDS;
    }
    // The last block: fewer full rounds, and the partial round if any.
    if k < rounds {
        let mut s: Wide<T> = [[T::ZERO; LANES]; WIDE / LANES];
        for k in k..full {
            full_round::<T, STORE>(z, max, k * WIDE, &mut s, e);
            d.round(k * WIDE, WIDE, &mut acc, &mut wa);
        }
        if rounds > full {
            let (o, len) = (full * WIDE, n - full * WIDE);
            let mut eo = [T::ZERO; WIDE];
            sum_round::<T, STORE>(max, &window(z, o, len, T::ZERO), &mut s, &mut eo, len);
            if STORE {
                e[o..o + len].copy_from_slice(&eo[..len]);
            }
            d.round(o, len, &mut acc, &mut wa);
        }
        flush(&mut total, &mut comp, &s);
    }
    let sum = if max == T::INFINITY {
        f64::NAN
    } else {
        for l in 0..WIDE {
            total[l] += comp[l];
        }
        fold_wide(&total)
    };
    let (dense, weight) = if dense {
        (fold_wide(&acc), fold_wide(&wa))
    } else {
        (0.0, 0.0)
    };
    Stats {
        max,
        sum,
        dense,
        weight,
    }
}

/// Scalars of pass 2 over a row of logits.
#[derive(Clone, Copy)]
struct Pass2<T> {
    kind: u8,
    hess: bool,
    coef: T,
    ks: T,
    keep: T,
    spread: T,
    ca: T,
    inv: T,
}

/// One chunk of pass 2: `g = coef·exp(z − m) − sub_c` (or `0 − sub_c`
/// without `SOFT`, when A = 0) and `h = ca·q·(1 − q)` with
/// `q = exp(z − m)·inv`, where `g` holds exp(z − m) on entry (pass 1 left
/// it there). `sub_c` is 0 (PLAIN), `ks·w_c` (SMOOTH) or
/// `ks·w_c·(keep·t_c + spread)` (PROBS).
#[inline(always)]
fn grad_chunk<T: Float, const SOFT: bool>(
    q: &Pass2<T>,
    w: &[T; LANES],
    t: &[T; LANES],
    g: &mut [T; LANES],
    h: &mut [T; LANES],
) {
    for l in 0..LANES {
        let sub = match q.kind {
            PLAIN => T::ZERO,
            SMOOTH => q.ks * w[l],
            _ => q.ks * w[l] * (q.keep * t[l] + q.spread),
        };
        if SOFT {
            let e = g[l];
            g[l] = q.coef * e - sub;
            if q.hess {
                let p = e * q.inv;
                h[l] = q.ca * p * (T::ONE - p);
            }
        } else {
            g[l] = T::ZERO - sub;
            if q.hess {
                h[l] = T::ZERO;
            }
        }
    }
}

/// Pass 2 over a row of `n` logits (see [`grad_chunk`]): `g[..n]` holds
/// the row's exp(z − m); `w`, `t` start at the row and may extend past it.
#[inline(always)]
fn write_grad<T: Float, const SOFT: bool>(
    q: &Pass2<T>,
    n: usize,
    w: &[T],
    t: &[T],
    g: &mut [T],
    h: &mut [T],
) {
    let zero = [T::ZERO; LANES];
    let mut sh = [T::ZERO; LANES];
    let chunks = n / LANES;
    for k in 0..chunks {
        let r = k * LANES..(k + 1) * LANES;
        let arr = |s: &[T]| -> [T; LANES] { s[r.clone()].try_into().unwrap() };
        let ws = if q.kind != PLAIN { arr(w) } else { zero };
        let ts = if q.kind == PROBS { arr(t) } else { zero };
        let gs: &mut [T; LANES] = (&mut g[r.clone()]).try_into().unwrap();
        let hs: &mut [T; LANES] = if q.hess {
            (&mut h[r.clone()]).try_into().unwrap()
        } else {
            &mut sh
        };
        grad_chunk::<T, SOFT>(q, &ws, &ts, gs, hs);
    }
    let (o, len) = (chunks * LANES, n - chunks * LANES);
    if len > 0 {
        let ws = if q.kind != PLAIN {
            window(w, o, len, T::ZERO)
        } else {
            zero
        };
        let ts = if q.kind == PROBS {
            window(t, o, len, T::ZERO)
        } else {
            zero
        };
        let mut sg = window(g, o, len, T::ZERO);
        grad_chunk::<T, SOFT>(q, &ws, &ts, &mut sg, &mut sh);
        store(g, o, &sg, len);
        if q.hess {
            store(h, o, &sh, len);
        }
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

/// One row of logits: its value (when `VAL`), its gradient and second
/// derivative scaled by `scale` into `g`, `h`. `z` starts at the row and
/// extends to the end of the input.
#[inline(always)]
fn logits_row<T: Float, const VAL: bool, const GRAD: bool, const HESS: bool, const KIND: u8>(
    p: &Plan<'_, T>,
    i: usize,
    z: &[T],
    scale: f64,
    g: &mut [T],
    h: &mut [T],
) -> f64 {
    let c = p.classes;
    let Some((y, a_y)) = row_label::<T, GRAD, HESS, KIND>(p, i, g, h) else {
        return 0.0;
    };
    let t = if KIND == PROBS {
        &p.probs[i * c..]
    } else {
        &[][..]
    };
    // Index targets know Σ a in closed form; the smoothing terms of their
    // value still need the dense accumulation.
    let dense = KIND == PROBS || (KIND == SMOOTH && VAL);
    let st = stats::<T, GRAD>(z, c, p.cw, t, dense, KIND == PROBS, p.keep, p.spread, g);
    let a_total = if KIND == PROBS {
        st.weight
    } else {
        a_y + p.spread * p.weight_sum
    };
    let mut value = 0.0;
    if VAL {
        if a_total != 0.0 {
            value = a_total * math::ln_f64(st.sum);
        }
        if KIND != PROBS && a_y != 0.0 {
            value += a_y * (st.max.to_f64() - z[y].to_f64());
        }
        value += st.dense;
    }
    if GRAD {
        let q = Pass2 {
            kind: KIND,
            hess: HESS,
            coef: T::from_f64(scale * a_total / st.sum),
            ks: T::from_f64(if KIND == SMOOTH {
                scale * p.spread
            } else {
                scale
            }),
            keep: p.keep_t,
            spread: p.spread_t,
            ca: T::from_f64(scale * a_total),
            inv: T::from_f64(1.0 / st.sum),
        };
        // Without A every A·… term is skipped: what is left is −a_c.
        let soft = a_total != 0.0;
        if soft {
            write_grad::<T, true>(&q, c, p.cw, t, g, h);
        } else {
            write_grad::<T, false>(&q, c, p.cw, t, g, h);
        }
        if KIND != PROBS {
            let a_yy = if KIND == SMOOTH {
                a_y + p.spread * p.class_weight(y)
            } else {
                a_y
            };
            let sub = T::from_f64(scale * a_yy);
            g[y] = if soft {
                q.coef * (floor(z[y], T::MIN) - st.max).exp() - sub
            } else {
                T::ZERO - sub
            };
        }
    }
    value
}

/// Scalars of a dense row of probabilities (`from_logits = false`).
#[derive(Clone, Copy)]
struct Dense<T> {
    probs: bool,
    val: bool,
    grad: bool,
    hess: bool,
    keep: f64,
    spread: f64,
    keep_t: T,
    spread_t: T,
    scale: T,
}

/// One chunk of a dense row of probabilities: `−a_c·ln max(p_c, tiny)`
/// into `acc`, `−s·a_c / max(p_c, tiny)` into `g`, `s·a_c / max(p_c, tiny)²`
/// into `h`, terms with `a_c = 0` skipped. Only the first `valid` lanes are
/// accumulated.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn probs_chunk<T: Float>(
    d: &Dense<T>,
    x: &[T; LANES],
    w: &[T; LANES],
    t: &[T; LANES],
    acc: &mut [f64; LANES],
    g: &mut [T; LANES],
    h: &mut [T; LANES],
    valid: usize,
) {
    let tiny = T::MIN_POSITIVE;
    for l in 0..LANES {
        let pm = if x[l] < tiny { tiny } else { x[l] };
        if d.val {
            let a = w[l].to_f64()
                * if d.probs {
                    d.keep * t[l].to_f64() + d.spread
                } else {
                    d.spread
                };
            let term = if a != 0.0 {
                -(a * pm.ln().to_f64())
            } else {
                0.0
            };
            if l < valid {
                acc[l] += term;
            }
        }
        if d.grad {
            let a = if d.probs {
                w[l] * (d.keep_t * t[l] + d.spread_t)
            } else {
                w[l] * d.spread_t
            };
            let q = d.scale * a / pm;
            g[l] = if a != T::ZERO { -q } else { T::ZERO };
            if d.hess {
                h[l] = if a != T::ZERO { q / pm } else { T::ZERO };
            }
        }
    }
}

/// A dense row of `n` probabilities (see [`probs_chunk`]): returns Σ of the
/// value terms. `x`, `w`, `t` start at the row and may extend past it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn probs_dense<T: Float>(
    d: &Dense<T>,
    x: &[T],
    n: usize,
    w: &[T],
    t: &[T],
    g: &mut [T],
    h: &mut [T],
) -> f64 {
    let mut acc = [0.0; LANES];
    let (mut sg, mut sh) = ([T::ZERO; LANES], [T::ZERO; LANES]);
    let zero = [T::ZERO; LANES];
    let chunks = n / LANES;
    for k in 0..chunks {
        let r = k * LANES..(k + 1) * LANES;
        let arr = |s: &[T]| -> [T; LANES] { s[r.clone()].try_into().unwrap() };
        let ts = if d.probs { arr(t) } else { zero };
        let gs: &mut [T; LANES] = if d.grad {
            (&mut g[r.clone()]).try_into().unwrap()
        } else {
            &mut sg
        };
        let hs: &mut [T; LANES] = if d.hess {
            (&mut h[r.clone()]).try_into().unwrap()
        } else {
            &mut sh
        };
        probs_chunk(d, &arr(x), &arr(w), &ts, &mut acc, gs, hs, LANES);
    }
    let (o, len) = (chunks * LANES, n - chunks * LANES);
    if len > 0 {
        let ts = if d.probs {
            window(t, o, len, T::ZERO)
        } else {
            zero
        };
        let (xs, ws) = (window(x, o, len, T::ONE), window(w, o, len, T::ZERO));
        probs_chunk(d, &xs, &ws, &ts, &mut acc, &mut sg, &mut sh, len);
        if d.grad {
            store(g, o, &sg, len);
        }
        if d.hess {
            store(h, o, &sh, len);
        }
    }
    fold(acc)
}

/// One row of probabilities (`from_logits = false`); `x` starts at the row
/// and extends to the end of the input.
#[inline(always)]
fn probs_row<T: Float, const VAL: bool, const GRAD: bool, const HESS: bool, const KIND: u8>(
    p: &Plan<'_, T>,
    i: usize,
    x: &[T],
    scale: f64,
    g: &mut [T],
    h: &mut [T],
) -> f64 {
    let c = p.classes;
    let tiny = T::MIN_POSITIVE;
    let Some((y, a_y)) = row_label::<T, GRAD, HESS, KIND>(p, i, g, h) else {
        return 0.0;
    };
    let mut value = 0.0;
    if KIND == PLAIN {
        // Only class y has a weight.
        if GRAD {
            g.fill(T::ZERO);
        }
        if HESS {
            h.fill(T::ZERO);
        }
    } else {
        let t = if KIND == PROBS {
            &p.probs[i * c..]
        } else {
            &[][..]
        };
        let d = Dense {
            probs: KIND == PROBS,
            val: VAL,
            grad: GRAD,
            hess: HESS,
            keep: p.keep,
            spread: p.spread,
            keep_t: p.keep_t,
            spread_t: p.spread_t,
            scale: T::from_f64(scale),
        };
        value = probs_dense(&d, x, c, p.cw, t, g, h);
    }
    if KIND != PROBS {
        let pm = if x[y] < tiny { tiny } else { x[y] };
        if VAL && a_y != 0.0 {
            value += -(a_y * pm.ln().to_f64());
        }
        if GRAD {
            let a_yy = if KIND == SMOOTH {
                a_y + p.spread * p.class_weight(y)
            } else {
                a_y
            };
            if a_yy != 0.0 {
                let q = T::from_f64(scale * a_yy) / pm;
                g[y] = -q;
                if HESS {
                    h[y] = q / pm;
                }
            }
        }
    }
    value
}

/// Rows of at most this many logits go through [`small_rows`].
const SMALL: usize = 32;

/// Rows of at most [`SMALL`] logits, [`LANES`] rows at a time, one row per
/// lane: each group of rows is read once, transposed into registers, and
/// processed there in two steps (the exact maximum, then `exp(z − m)`), so
/// no rescaling is needed and `value_and_grad` takes one exp per logit.
/// Same rules as the long rows (−inf counted as `T::MIN`, +inf or NaN
/// making a row NaN, zero-weight terms skipped).
#[inline(always)]
fn small_rows<T: Float, const VAL: bool, const GRAD: bool, const HESS: bool, const KIND: u8>(
    p: &Plan<'_, T>,
    rows: Range<usize>,
    v: &mut [T],
    g: &mut [T],
    h: &mut [T],
) -> f64 {
    let c = p.classes;
    let lowest = T::MIN;
    let dense = KIND == PROBS || (KIND == SMOOTH && VAL);
    let mut lane_sum = [0.0; LANES];
    // The group's transposed logits (zt[k][l] = logit k of row r0 + l; tt:
    // target probabilities), terms, gradient and second derivative: set up
    // once, each group overwrites what it reads (lanes past a short last
    // group keep the previous group's numbers, computed but never stored).
    let mut zt = [[T::ZERO; LANES]; SMALL];
    let mut tt = [[T::ZERO; LANES]; SMALL];
    let mut e = [[T::ZERO; LANES]; SMALL];
    let mut gt = [[T::ZERO; LANES]; SMALL];
    let mut ht = [[T::ZERO; LANES]; SMALL];
    // The scale of an unweighted row (exactly what 1/denom gives per row).
    let unit = if p.mean { 1.0 / p.denom } else { 1.0 };
    let mut r0 = rows.start;
    while r0 < rows.end {
        let n = (rows.end - r0).min(LANES);
        let base = r0 - rows.start;
        for l in 0..n {
            let o = (r0 + l) * c;
            for (k, &z) in p.x[o..o + c].iter().enumerate() {
                zt[k][l] = z;
            }
            if KIND == PROBS {
                for (k, &t) in p.probs[o..o + c].iter().enumerate() {
                    tt[k][l] = t;
                }
            }
        }
        // Per row: weight, scale, class index y, (1−ε)·w_y, the smoothing
        // weight ε/C (0 for an ignored row) and z_y.
        let mut sw = [0.0; LANES];
        let mut scale = [0.0; LANES];
        let mut y = [u32::MAX; LANES];
        let mut a_y = [0.0; LANES];
        let mut sp = [0.0; LANES];
        let mut zy = [0.0; LANES];
        for l in 0..n {
            let i = r0 + l;
            (sw[l], scale[l]) = if p.per == 0 {
                (1.0, unit)
            } else {
                let w = p.row_weight(i);
                (w, if p.mean { w / p.denom } else { w })
            };
            if KIND == PROBS {
                sp[l] = p.spread;
            } else if let Some((yy, ay)) = label(p, i) {
                y[l] = yy as u32;
                a_y[l] = ay;
                sp[l] = p.spread;
                zy[l] = zt[yy][l].to_f64();
            }
        }
        // From T::MIN up: −inf and NaN never win (see `max_round`).
        let mut m = [lowest; LANES];
        for zk in &zt[..c] {
            for l in 0..LANES {
                m[l] = if zk[l] > m[l] { zk[l] } else { m[l] };
            }
        }
        // The terms in T at its full width (the value alone needs
        // exp_term's), then their sums in f64.
        for (zk, ek) in zt[..c].iter().zip(e.iter_mut()) {
            for l in 0..LANES {
                let d = floor(zk[l], lowest) - m[l];
                ek[l] = term(d, GRAD);
            }
        }
        let mut s = [0.0; LANES];
        for ek in &e[..c] {
            for l in 0..LANES {
                s[l] += ek[l].to_f64();
            }
        }
        for l in 0..LANES {
            s[l] = if m[l] == T::INFINITY { f64::NAN } else { s[l] };
        }
        // Σ a and, when the value needs it, Σ a·(m − z) of the dense weights.
        let mut a_tot = [0.0; LANES];
        let mut dsum = [0.0; LANES];
        if dense {
            for k in 0..c {
                let wk = p.cw[k].to_f64();
                for l in 0..LANES {
                    let a = wk
                        * if KIND == PROBS {
                            p.keep * tt[k][l].to_f64() + sp[l]
                        } else {
                            sp[l]
                        };
                    dsum[l] += if a != 0.0 {
                        a * (m[l].to_f64() - zt[k][l].to_f64())
                    } else {
                        0.0
                    };
                    a_tot[l] += a;
                }
            }
        }
        if KIND != PROBS {
            for l in 0..LANES {
                a_tot[l] = a_y[l] + sp[l] * p.weight_sum;
            }
        }
        if VAL {
            let mut val = [0.0; LANES];
            for l in 0..LANES {
                let lse = if a_tot[l] != 0.0 {
                    a_tot[l] * math::ln_f64(s[l])
                } else {
                    0.0
                };
                let own = if KIND != PROBS && a_y[l] != 0.0 {
                    a_y[l] * (m[l].to_f64() - zy[l])
                } else {
                    0.0
                };
                val[l] = lse + own + if dense { dsum[l] } else { 0.0 };
            }
            for l in 0..LANES {
                let wv = sw[l] * val[l];
                if l < n {
                    if p.store {
                        v[base + l] = T::from_f64(wv);
                    } else {
                        lane_sum[l] += wv;
                    }
                }
            }
        }
        if GRAD {
            let mut coef = [T::ZERO; LANES];
            let mut ca = [T::ZERO; LANES];
            let mut inv = [T::ZERO; LANES];
            let mut ks = [T::ZERO; LANES];
            let mut suby = [T::ZERO; LANES];
            let mut soft = [T::ZERO; LANES];
            for l in 0..LANES {
                // One division per row: A·scale/s as (A·scale)·(1/s).
                let r = 1.0 / s[l];
                coef[l] = T::from_f64(scale[l] * a_tot[l] * r);
                ca[l] = T::from_f64(scale[l] * a_tot[l]);
                inv[l] = T::from_f64(r);
                ks[l] = T::from_f64(if KIND == SMOOTH {
                    scale[l] * sp[l]
                } else {
                    scale[l]
                });
                suby[l] = T::from_f64(scale[l] * a_y[l]);
                soft[l] = if a_tot[l] != 0.0 { T::ONE } else { T::ZERO };
            }
            for k in 0..c {
                let wk = p.cw[k];
                for l in 0..LANES {
                    let mut sub = match KIND {
                        PLAIN => T::ZERO,
                        SMOOTH => ks[l] * wk,
                        _ => ks[l] * wk * (p.keep_t * tt[k][l] + p.spread_t),
                    };
                    if KIND != PROBS && y[l] == k as u32 {
                        sub = sub + suby[l];
                    }
                    // A = 0: the A·… terms are skipped (NaN logits included).
                    let on = soft[l] != T::ZERO;
                    let ek = e[k][l];
                    gt[k][l] = if on { coef[l] * ek } else { T::ZERO } - sub;
                    if HESS {
                        let q = ek * inv[l];
                        ht[k][l] = if on {
                            ca[l] * q * (T::ONE - q)
                        } else {
                            T::ZERO
                        };
                    }
                }
            }
            for l in 0..n {
                let o = (base + l) * c;
                for (k, d) in g[o..o + c].iter_mut().enumerate() {
                    *d = gt[k][l];
                }
                if HESS {
                    for (k, d) in h[o..o + c].iter_mut().enumerate() {
                        *d = ht[k][l];
                    }
                }
            }
        }
        r0 += n;
    }
    fold(lane_sum)
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
            if p.store {
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

fn check_len(name: &'static str, expected: usize, got: usize) -> Result<(), LossError> {
    if expected == got {
        Ok(())
    } else {
        Err(LossError::LengthMismatch {
            name,
            expected,
            got,
        })
    }
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

    /// Weights the classes (PyTorch's `weight`): one finite, non-negative
    /// weight per class, with a finite sum. The length is checked against C
    /// at each call.
    pub fn with_class_weight(mut self, weight: &[T]) -> Result<Self, LossError> {
        if let Some(index) = weight
            .iter()
            .position(|w| !(w.is_finite() && *w >= T::ZERO))
        {
            return Err(LossError::InvalidClassWeight {
                index,
                value: weight[index].to_f64(),
            });
        }
        // In the order the reference sums them; only the mean's A uses it.
        self.weight_sum = weight.iter().map(|w| w.to_f64()).sum();
        if self.weight_sum == f64::INFINITY {
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
        let c = classes;
        let (rows, labels, probs): (usize, &[i64], &[T]) = match target {
            Targets::Index(labels) => {
                if c == 0 && !labels.is_empty() {
                    return Err(LossError::NoClasses { rows: labels.len() });
                }
                let expected = labels.len().saturating_mul(c);
                check_len("input", expected, input.len())?;
                (labels.len(), labels, &[])
            }
            Targets::Probs(t) => {
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
                check_len("target", input.len(), t.len())?;
                (input.len().checked_div(c).unwrap_or(0), &[], t)
            }
        };
        if let Some(w) = &self.class_weight {
            check_len("class_weight", c, w.len())?;
        }
        // (value, store values, gradient, second derivative)
        type Flags = (bool, bool, bool, bool);
        let (flags, v, g, h): (Flags, &mut [T], &mut [T], &mut [T]) = match op {
            Op::Value => ((true, false, false, false), &mut [], &mut [], &mut []),
            Op::ValueEach(v) => ((true, true, false, false), v, &mut [], &mut []),
            Op::Grad(g) => ((false, false, true, false), &mut [], g, &mut []),
            Op::ValueGrad(g) => ((true, false, true, false), &mut [], g, &mut []),
            Op::ValueEachGrad(v, g) => ((true, true, true, false), v, g, &mut []),
            Op::GradHess(g, h) => ((false, false, true, true), &mut [], g, h),
        };
        let (val, store, grad, hess) = flags;
        if store {
            check_len("value out", rows, v.len())?;
        }
        if grad {
            check_len("grad out", input.len(), g.len())?;
        }
        if hess {
            check_len("hess out", input.len(), h.len())?;
        }
        if val && !store && reduction == Reduction::None {
            return Err(LossError::NoneReduction);
        }
        let (sw, per): (&[T], usize) = match weights {
            Weights::None => (&[], 0),
            Weights::Each(w) => {
                check_len("sample_weight", rows, w.len())?;
                (w, 1)
            }
            Weights::Rows(w) if w.len() == rows => (w, 1),
            Weights::Rows(w) => {
                if w.is_empty() || !rows.is_multiple_of(w.len()) {
                    return Err(LossError::WeightRows {
                        elements: rows,
                        weights: w.len(),
                    });
                }
                (w, rows / w.len())
            }
        };
        if let Some(index) = sw.iter().position(|w| !(w.is_finite() && *w >= T::ZERO)) {
            return Err(LossError::InvalidWeight {
                index,
                value: sw[index].to_f64(),
            });
        }
        let ignore = self.ignore_index;
        let bad = |&y: &i64| !((0..c as i64).contains(&y) || ignore == Some(y));
        // The blocks at the SIMD level and on the computation's threads; the
        // position only once one fails.
        let grain = (GRAIN / c.max(1)).max(1);
        let failed = tree(labels.len(), BLOCK, grain, (), &|r: Range<usize>, ()| {
            if labels_ok(level, &labels[r], c, ignore) {
                0.0
            } else {
                1.0
            }
        });
        let first_bad = if failed == 0.0 {
            None
        } else {
            labels.iter().position(bad)
        };
        if let Some(index) = first_bad {
            return Err(LossError::InvalidLabel {
                index,
                label: labels[index],
                classes: c,
            });
        }

        // Class weights (ones without), padded for full-width reads.
        let mut cw = Vec::with_capacity(c + LANES);
        match &self.class_weight {
            Some(w) => cw.extend_from_slice(w),
            None => cw.resize(c, T::ONE),
        }
        cw.resize(c + LANES, T::ZERO);
        let weighted_classes = self.class_weight.is_some();
        let eps = self.label_smoothing;
        let spread = if c == 0 { 0.0 } else { eps / c as f64 };
        let kind = match target {
            Targets::Probs(_) => PROBS,
            Targets::Index(_) if eps != 0.0 => SMOOTH,
            Targets::Index(_) => PLAIN,
        };
        let mean = reduction == Reduction::Mean;
        let denom = if mean && per == 0 && kind != PROBS && !weighted_classes {
            // Ones and zeros: the count is the tree's sum, exactly.
            let ignored = ignore.map_or(0, |y| labels.iter().filter(|&&l| l == y).count());
            (rows - ignored) as f64
        } else if mean {
            let row_weight = |i: usize| i.checked_div(per).map_or(1.0, |k| sw[k].to_f64());
            tree(rows, BLOCK, usize::MAX, (), &|r: Range<usize>, ()| {
                let mut d = 0.0;
                for i in r {
                    d += if kind == PROBS {
                        row_weight(i)
                    } else if ignore == Some(labels[i]) {
                        0.0
                    } else if weighted_classes {
                        row_weight(i) * cw[labels[i] as usize].to_f64()
                    } else {
                        row_weight(i)
                    };
                }
                d
            })
        } else {
            1.0
        };
        let plan = Plan {
            x: input,
            classes: c,
            labels,
            probs,
            cw: &cw,
            weighted_classes,
            ignore,
            keep: 1.0 - eps,
            spread,
            keep_t: T::from_f64(1.0 - eps),
            spread_t: T::from_f64(spread),
            weight_sum: if weighted_classes {
                self.weight_sum
            } else {
                c as f64
            },
            sw,
            per,
            denom,
            mean,
            store,
        };
        let block = (ROW_BLOCK / c.max(1)).max(1);
        let logits = self.from_logits;

        macro_rules! run {
            ($val:literal, $grad:literal, $hess:literal) => {{
                macro_rules! go {
                    ($kind:expr, $logits:literal) => {
                        tree(rows, block, grain, (v, g, h), &|r: Range<usize>,
                                                              (v, g, h): (
                            &mut [T],
                            &mut [T],
                            &mut [T],
                        )| {
                            rows_block::<T, $val, $grad, $hess, { $kind }, $logits>(
                                level, &plan, r, v, g, h,
                            )
                        })
                    };
                }
                match (kind, logits) {
                    (PLAIN, true) => go!(PLAIN, true),
                    (SMOOTH, true) => go!(SMOOTH, true),
                    (_, true) => go!(PROBS, true),
                    (PLAIN, false) => go!(PLAIN, false),
                    (SMOOTH, false) => go!(SMOOTH, false),
                    (_, false) => go!(PROBS, false),
                }
            }};
        }
        let sum = match (val, grad, hess) {
            (true, false, _) => run!(true, false, false),
            (true, true, _) => run!(true, true, false),
            (false, _, false) => run!(false, true, false),
            (false, _, true) => run!(false, true, true),
        };
        if !val || store {
            return Ok(T::ZERO);
        }
        Ok(T::from_f64(if mean { sum / denom } else { sum }))
    }
}

/// Scalar `f64` references: the formulas as written, a textbook two-pass
/// log-sum-exp with libm and compensated sums, one row at a time. For tests.
pub mod scalar {
    /// Σ v, compensated (Neumaier), IEEE for non-finite terms.
    fn sum(v: impl IntoIterator<Item = f64>) -> f64 {
        let (mut s, mut comp) = (0.0f64, 0.0f64);
        for x in v {
            let t = s + x;
            comp += if s.abs() >= x.abs() {
                (s - t) + x
            } else {
                (x - t) + s
            };
            s = t;
        }
        if s.is_finite() {
            s + comp
        } else {
            s
        }
    }

    /// The target weights `a_c` of a row with class index `label`
    /// (all zero when it is `ignore_index`).
    pub fn index_weights(
        classes: usize,
        label: i64,
        class_weight: Option<&[f64]>,
        ignore_index: Option<i64>,
        epsilon: f64,
    ) -> Vec<f64> {
        let w = |c: usize| class_weight.map_or(1.0, |w| w[c]);
        if ignore_index == Some(label) {
            return vec![0.0; classes];
        }
        (0..classes)
            .map(|c| {
                let one = if c as i64 == label {
                    1.0 - epsilon
                } else {
                    0.0
                };
                one * w(label as usize) + epsilon / classes as f64 * w(c)
            })
            .collect()
    }

    /// The target weights `a_c = w_c·((1−ε)·t_c + ε/C)` of a row of
    /// probabilities `t`.
    pub fn prob_weights(t: &[f64], class_weight: Option<&[f64]>, epsilon: f64) -> Vec<f64> {
        let c = t.len();
        (0..c)
            .map(|k| {
                class_weight.map_or(1.0, |w| w[k]) * ((1.0 - epsilon) * t[k] + epsilon / c as f64)
            })
            .collect()
    }

    /// `(value, gradient, second derivative)` of one row of logits `z`
    /// (or probabilities when `!from_logits`, clamped below at `tiny`)
    /// with target weights `a`, unscaled.
    pub fn cross_entropy_row_scalar(
        z: &[f64],
        a: &[f64],
        from_logits: bool,
        tiny: f64,
    ) -> (f64, Vec<f64>, Vec<f64>) {
        let big_a = sum(a.iter().copied());
        if !from_logits {
            let mut terms = vec![0.0; z.len()];
            let mut g = vec![0.0; z.len()];
            let mut h = vec![0.0; z.len()];
            for c in 0..z.len() {
                if a[c] != 0.0 {
                    let p = if z[c] < tiny { tiny } else { z[c] };
                    terms[c] = -a[c] * p.ln();
                    g[c] = -a[c] / p;
                    h[c] = a[c] / p / p;
                }
            }
            return (sum(terms), g, h);
        }
        let zc: Vec<f64> = z
            .iter()
            .map(|&v| if v < f64::MIN { f64::MIN } else { v })
            .collect();
        let bad = z.iter().any(|v| v.is_nan() || *v == f64::INFINITY);
        let m = zc.iter().fold(f64::MIN, |m, &v| if v > m { v } else { m });
        let s = sum(zc.iter().map(|&v| (v - m).exp()));
        let lse = if bad { f64::NAN } else { m + s.ln() };
        let value = sum((0..z.len())
            .filter(|&c| a[c] != 0.0)
            .map(|c| a[c] * (lse - z[c])));
        if big_a == 0.0 {
            let g = a.iter().map(|&v| -v).collect();
            return (value, g, vec![0.0; z.len()]);
        }
        let p: Vec<f64> = zc
            .iter()
            .map(|&v| if bad { f64::NAN } else { (v - m).exp() / s })
            .collect();
        let g = (0..z.len()).map(|c| big_a * p[c] - a[c]).collect();
        let h = p.iter().map(|&p| big_a * p * (1.0 - p)).collect();
        (value, g, h)
    }
}
