//! The one loop every elementwise loss runs in, and the driver around it:
//! argument checks, sample weights, the reduction tree, threads.
//!
//! A loss only says what one element gives ([`Pointwise::eval`]); which of
//! value, gradient and second derivative are computed, accumulated or stored
//! is decided here by const generics, so what a call does not ask for is
//! compiled away.

use core::ops::Range;

use crate::error::LossError;
use crate::float::Float;
use crate::reduce::{first_failure, fold_lanes, tree, Reduction, BLOCK};
use crate::simd::{dispatch, Level};
use crate::strided::{Sink, Source};

/// Value, first and second derivative of a loss at one element, with respect
/// to `input`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Terms<T> {
    /// ℓ(input, target).
    pub value: T,
    /// ∂ℓ/∂input.
    pub grad: T,
    /// ∂²ℓ/∂input².
    pub hess: T,
}

/// The target domains that losses check, the registry's of the same names
/// (`python/fastloss/_registry.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetDomain {
    /// Labels in [0, 1] (the focal loss).
    Probability,
    /// Counts, and amounts that may be 0: [0, inf).
    Nonnegative,
    /// Amounts: (0, inf).
    Positive,
}

impl TargetDomain {
    /// Whether `y` lies in the domain (NaN does not). Branch-free.
    #[inline(always)]
    pub fn contains<T: Float>(self, y: T) -> bool {
        match self {
            Self::Probability => y >= T::ZERO && y <= T::ONE,
            Self::Nonnegative => y >= T::ZERO && y < T::INFINITY,
            Self::Positive => y > T::ZERO && y < T::INFINITY,
        }
    }

    /// The domain as the error for a target outside it says it, after
    /// "target must be".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Probability => "in [0, 1]",
            Self::Nonnegative => "in [0, inf)",
            Self::Positive => "in (0, inf)",
        }
    }
}

/// Whether `y` is a target that `L` takes (see [`Pointwise::TARGET_DOMAIN`]).
#[inline(always)]
fn valid_target<T: Float, L: Pointwise<T>>(y: T) -> bool {
    match L::TARGET_DOMAIN {
        Some(d) => d.contains(y),
        None => true,
    }
}

/// A loss that is a function of one (input, target) pair per element.
///
/// `eval` must be branch-free in effect (value selects, no early returns, no
/// libm calls) so that the loop around it vectorizes; results it computes but
/// a call does not use are removed by the compiler.
pub trait Pointwise<T: Float>: Copy + Send + Sync {
    /// Transcendental per-element work: a second thread pays from smaller sizes.
    const HEAVY: bool = false;

    /// The loss at one element. `column` is the element's entry of
    /// [`columns`](Self::columns), or 1 when there are none.
    fn eval(&self, input: T, target: T, column: T) -> Terms<T>;

    /// A per-element parameter (such as `pos_weight`), read through
    /// broadcasting: see [`Columns`].
    fn columns(&self) -> Option<&Columns<'_, T>> {
        None
    }

    /// Whether [`columns`](Self::columns) can be `Some` (compiled out if not).
    const HAS_COLUMNS: bool = false;

    /// Whether `input` is in the loss's domain. Every element is checked
    /// before any output is written; NaN must be reported invalid here if the
    /// loss rejects it.
    #[inline(always)]
    fn valid_input(&self, input: T) -> bool {
        let _ = input;
        true
    }

    /// Whether [`valid_input`](Self::valid_input) needs to be called at all.
    const CHECKS_INPUT: bool = false;

    /// Where the loss's targets live, when it rejects the others (and NaN):
    /// every target is then checked before any output is written. `None`:
    /// every target is computed with.
    const TARGET_DOMAIN: Option<TargetDomain> = None;

    /// Whether [`eval`](Self::eval)'s value can lose digits to cancellation,
    /// so that [`value_cancels`](Self::value_cancels) must be consulted
    /// (compiled out if not).
    const REFINES_VALUE: bool = false;

    /// Whether the value that [`eval`](Self::eval) returns for this element
    /// is a difference that cancelled too far to be within the ulp bound.
    /// Branch-free, like `eval`.
    #[inline(always)]
    fn value_cancels(&self, input: T, target: T, column: T) -> bool {
        let _ = (input, target, column);
        false
    }

    /// Whether [`precise_value`](Self::precise_value) is branch-free and
    /// inlined, so that a chunk with any flagged lane computes it, and
    /// [`precise_grad`](Self::precise_grad), for every lane as vectors (only
    /// the lanes `precise_grad` finds not enough go to the second pass): for
    /// losses whose flagged lanes are common (a faster tier for some
    /// inputs), where one element at a time, at the baseline instruction
    /// set, or gathered in a second pass, costs several times as much.
    const VECTOR_REFINE: bool = false;

    /// The value where [`value_cancels`](Self::value_cancels) holds, in more
    /// precision: called one element at a time (a value cancels only next
    /// to one of its zeros, which few elements are), or for a whole chunk
    /// with [`VECTOR_REFINE`](Self::VECTOR_REFINE).
    fn precise_value(&self, input: T, target: T, column: T) -> T {
        self.eval(input, target, column).value
    }

    /// Whether [`eval`](Self::eval)'s gradient can lose digits to
    /// cancellation, so that [`grad_cancels`](Self::grad_cancels) must be
    /// consulted (compiled out if not).
    const REFINES_GRAD: bool = false;

    /// Whether the gradient that [`eval`](Self::eval) returns for this
    /// element is a difference that cancelled too far to be within the ulp
    /// bound. Branch-free, like `eval`.
    #[inline(always)]
    fn grad_cancels(&self, input: T, target: T, column: T) -> bool {
        let _ = (input, target, column);
        false
    }

    /// The gradient where [`grad_cancels`](Self::grad_cancels) holds, in
    /// more precision, and whether even that cancelled too far, so that
    /// [`deep_grad`](Self::deep_grad) must answer. Branch-free: the elements
    /// that need it are gathered a vector's worth at a time, wherever they
    /// are in a block, and run as vectors.
    #[inline(always)]
    fn precise_grad(&self, input: T, target: T, column: T) -> (T, bool) {
        (self.eval(input, target, column).grad, false)
    }

    /// The gradient where [`precise_grad`](Self::precise_grad) says it is
    /// not enough: slow, called one element at a time.
    fn deep_grad(&self, input: T, target: T, column: T) -> T {
        self.eval(input, target, column).grad
    }

    /// Whether [`eval`](Self::eval)'s second derivative can lose digits to
    /// cancellation, so that [`hess_cancels`](Self::hess_cancels) must be
    /// consulted (compiled out if not).
    const REFINES_HESS: bool = false;

    /// Whether the second derivative that [`eval`](Self::eval) returns for
    /// this element is a sum that cancelled too far to be within the ulp
    /// bound. Branch-free, like `eval`.
    #[inline(always)]
    fn hess_cancels(&self, input: T, target: T, column: T) -> bool {
        let _ = (input, target, column);
        false
    }

    /// The second derivative where [`hess_cancels`](Self::hess_cancels)
    /// holds, in more precision: called one element at a time (it cancels
    /// only next to one of its zeros, which few elements are).
    fn precise_hess(&self, input: T, target: T, column: T) -> T {
        self.eval(input, target, column).hess
    }
}

/// NumPy's limit on dimensions, and so on the axes of a [`Columns`].
pub const MAX_AXES: usize = 64;

/// A per-element parameter (such as `pos_weight`) read through broadcasting,
/// without a copy: the element at a position of the input (C order) reads
/// the parameter at that position, with index 0 along every axis where the
/// parameter has length 1 (NumPy's broadcasting rules, as PyTorch applies
/// them to `pos_weight`).
///
/// Kept as the input's axes merged wherever the parameter's strides allow
/// (neighbouring broadcast axes, neighbouring contiguous axes), without the
/// outer broadcast axes: the parameter then repeats every
/// [`period`](Self::period) elements, which the number of elements must be
/// a multiple of.
#[derive(Clone, Copy)]
pub struct Columns<'a, T> {
    values: &'a [T],
    /// (length, stride in `values`) of each merged axis, outermost first.
    axes: [(usize, usize); MAX_AXES],
    ndim: usize,
    period: usize,
}

impl<T> core::fmt::Debug for Columns<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Columns")
            .field("len", &self.values.len())
            .field("axes", &&self.axes[..self.ndim])
            .field("period", &self.period)
            .finish()
    }
}

impl<'a, T: Float> Columns<'a, T> {
    /// `values` repeated every `values.len()` elements: one value per
    /// element of the last axis of a C-order input whose last axis has that
    /// length (element `i` reads `values[i % values.len()]`).
    pub fn repeating(values: &'a [T]) -> Self {
        let mut axes = [(0, 0); MAX_AXES];
        axes[0] = (values.len(), 1);
        Self {
            values,
            axes,
            ndim: 1,
            period: values.len(),
        }
    }

    /// `values`, a C-order array of `shape`, broadcast to an input of shape
    /// `input` by NumPy's rules: `shape` has at most as many axes as
    /// `input`, and each of its axes, aligned from the last, is 1 or the
    /// input's. `name` is the argument the errors name.
    pub fn broadcast(
        name: &'static str,
        values: &'a [T],
        shape: &[usize],
        input: &[usize],
    ) -> Result<Self, LossError> {
        check_len(name, shape.iter().product(), values.len())?;
        let fail = || LossError::Broadcast {
            name,
            shape: shape.to_vec(),
            input: input.to_vec(),
        };
        let pad = input.len().checked_sub(shape.len()).ok_or_else(fail)?;
        // Innermost first: each axis merges into the one inside it when its
        // stride continues that one's (0 after 0 included).
        let mut merged = [(0usize, 0usize); MAX_AXES];
        let mut m: usize = 0;
        let mut stride = 1;
        for (k, &n) in input.iter().enumerate().rev() {
            let own = if k >= pad { shape[k - pad] } else { 1 };
            if own != n && own != 1 {
                return Err(fail());
            }
            let step = if own == 1 { 0 } else { stride };
            stride *= own;
            if n == 1 {
                continue;
            }
            if m > 0 && step == merged[m - 1].0 * merged[m - 1].1 {
                merged[m - 1].0 *= n;
            } else if m == MAX_AXES {
                return Err(fail());
            } else {
                merged[m] = (n, step);
                m += 1;
            }
        }
        // The outer broadcast axes only repeat what lies inside them.
        while m > 0 && merged[m - 1].1 == 0 {
            m -= 1;
        }
        let mut axes = [(0, 0); MAX_AXES];
        for (a, &b) in axes.iter_mut().zip(merged[..m].iter().rev()) {
            *a = b;
        }
        Ok(Self {
            values,
            axes,
            ndim: m,
            period: axes[..m].iter().map(|a| a.0).product(),
        })
    }

    /// The values, as given.
    pub fn values(&self) -> &'a [T] {
        self.values
    }

    /// How many elements the pattern of values takes before it repeats.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The values of elements `r` of the input (a block at most, `r` not
    /// empty): contiguous runs copied, broadcast runs filled.
    fn fill(&self, r: Range<usize>) -> [T; BLOCK] {
        let mut out = [T::ZERO; BLOCK];
        let len = r.len();
        let axes = &self.axes[..self.ndim];
        let Some(&(inner, step)) = axes.last() else {
            out[..len].fill(self.values[0]);
            return out;
        };
        let last = axes.len() - 1;
        // Where `r.start` lies along each axis, and its offset in `values`.
        let mut at = [0usize; MAX_AXES];
        let mut rest = r.start % self.period;
        for (a, &(n, _)) in at.iter_mut().zip(axes).rev() {
            *a = rest % n;
            rest /= n;
        }
        let mut offset: usize = at.iter().zip(axes).map(|(&i, &(_, s))| i * s).sum();
        let mut k = 0;
        while k < len {
            let run = (inner - at[last]).min(len - k);
            if step == 0 {
                out[k..k + run].fill(self.values[offset]);
            } else {
                out[k..k + run].copy_from_slice(&self.values[offset..offset + run]);
            }
            k += run;
            at[last] += run;
            offset += run * step;
            if at[last] == inner {
                at[last] = 0;
                offset -= inner * step;
                for (a, &(n, s)) in at[..last].iter_mut().zip(axes).rev() {
                    *a += 1;
                    offset += s;
                    if *a < n {
                        break;
                    }
                    *a = 0;
                    offset -= n * s;
                }
            }
        }
        out
    }
}

/// Sample weights of an elementwise loss.
#[derive(Clone, Copy, Debug, Default)]
pub enum Weights<'a, T> {
    /// Every element weighs 1.
    #[default]
    None,
    /// One weight per element.
    Each(&'a [T]),
    /// One weight per row: `n / len` consecutive elements share a weight
    /// (NumPy's 1-D weights of length `shape[0]`).
    Rows(&'a [T]),
}

/// What to compute, and where to put it. Every buffer has the input's length.
#[derive(Debug)]
pub enum Op<'a, T> {
    /// The reduced value only (`Mean` or `Sum`).
    Value,
    /// The weighted value of every element (reduction `None`).
    ValueEach(&'a mut [T]),
    /// The gradient of the reduced value.
    Grad(&'a mut [T]),
    /// The reduced value and its gradient, in one pass.
    ValueGrad(&'a mut [T]),
    /// Every element's value and the gradient (scaled by the reduction like
    /// [`Op::Grad`]), in one pass.
    ValueEachGrad(&'a mut [T], &'a mut [T]),
    /// Gradient and diagonal second derivative of the reduced value.
    GradHess(&'a mut [T], &'a mut [T]),
}

/// What an [`Op`] asks the kernels for. The drivers choose the kernel
/// instance from these flags (what a call does not ask for is compiled out
/// of its loop) and check the length of exactly the buffers asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wants {
    /// The loss's value: reduced into the returned number, or stored per
    /// element when [`store`](Self::store) is set.
    pub(crate) value: bool,
    /// The value goes into a buffer, one per element (or row), instead of
    /// being summed: reduction `None`, which returns no number.
    pub(crate) store: bool,
    /// The gradient, into its buffer: every operation but the value alone
    /// writes one.
    pub(crate) grad: bool,
    /// The diagonal second derivative, into its buffer: only with the
    /// gradient, for second-order training.
    pub(crate) hess: bool,
}

impl Wants {
    /// Whether the value is summed (and returned) rather than stored.
    pub(crate) fn summed(self) -> bool {
        self.value && !self.store
    }
}

/// What an [`Op`] asks for, and its buffers `(v, g, h)`, empty where not
/// asked for.
pub(crate) type OpParts<'a, T> = (Wants, &'a mut [T], &'a mut [T], &'a mut [T]);

impl<'a, T> Op<'a, T> {
    /// What this operation asks for.
    fn wants(&self) -> Wants {
        Wants {
            value: matches!(
                self,
                Op::Value | Op::ValueEach(_) | Op::ValueGrad(_) | Op::ValueEachGrad(..)
            ),
            store: matches!(self, Op::ValueEach(_) | Op::ValueEachGrad(..)),
            grad: !matches!(self, Op::Value | Op::ValueEach(_)),
            hess: matches!(self, Op::GradHess(..)),
        }
    }

    /// What this operation asks for and its buffers (see [`OpParts`]).
    pub(crate) fn parts(self) -> OpParts<'a, T> {
        let wants = self.wants();
        let (v, g, h): (&'a mut [T], &'a mut [T], &'a mut [T]) = match self {
            Op::Value => (&mut [], &mut [], &mut []),
            Op::ValueEach(v) => (v, &mut [], &mut []),
            Op::Grad(g) | Op::ValueGrad(g) => (&mut [], g, &mut []),
            Op::ValueEachGrad(v, g) => (v, g, &mut []),
            Op::GradHess(g, h) => (&mut [], g, h),
        };
        (wants, v, g, h)
    }
}

/// Virtual lanes of the accumulation: fixed, so that every SIMD level sums
/// in the same order.
const LANES: usize = 32;

/// The lanes' sums in `T`, in pieces of [`ACC_WIDTH`] (one AVX2 register of
/// `f32`, one AVX-512 register of `f64`).
type Acc<T> = [[T; ACC_WIDTH]; LANES / ACC_WIDTH];
const ACC_WIDTH: usize = 8;

/// Adds the `T` sums to the `f64` ones, lane by lane.
///
/// The sums are read at an offset the compiler cannot see through (an
/// opaque 0), which keeps them one array in memory: read at constant
/// offsets, they were split into 32 scalars that the vectorizer put back
/// together in pieces of 2 and 4, which made the light losses about twice
/// as slow (BENCHMARKS.md has the figures).
#[inline(always)]
fn flush<T: Float>(wide: &mut [f64; LANES], acc: &Acc<T>) {
    let flat = acc.as_flattened();
    let base = core::hint::black_box(0usize);
    for lane in 0..LANES {
        wide[lane] += flat[base + lane].to_f64();
    }
}

/// Chunks of `LANES` summed in `T` before they are flushed into `f64`.
const FLUSH: usize = 8;

/// One chunk of `LANES` elements: fixed-size arrays, so that the lane loop
/// has no bounds checks and vectorizes. Only the first `valid` lanes are
/// accumulated (the tail chunk is padded); outputs not asked for are not
/// written. Returns the lanes (bit `l` for lane `l`) whose gradient
/// cancelled, for [`refine`].
// The lane loops index several fixed-size arrays by lane (that is what lets
// them vectorize).
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
#[inline(always)]
fn chunk<
    T: Float,
    L: Pointwise<T>,
    const ACC: bool,
    const V: bool,
    const G: bool,
    const H: bool,
    const W: bool,
>(
    loss: &L,
    x: &[T; LANES],
    y: &[T; LANES],
    col: &[T; LANES],
    w: &[T; LANES],
    scale: T,
    valid: usize,
    acc: &mut Acc<T>,
    v: &mut [T; LANES],
    g: &mut [T; LANES],
    h: &mut [T; LANES],
) -> u32 {
    let mut vals = [T::ZERO; LANES];
    let mut cancels = [false; LANES];
    let mut any_cancels = false;
    let mut value_cancels = [false; LANES];
    let mut any_value_cancels = false;
    let mut hess_cancels = [false; LANES];
    let mut any_hess_cancels = false;
    for l in 0..LANES {
        let t = loss.eval(x[l], y[l], col[l]);
        if (ACC || V) && L::REFINES_VALUE {
            value_cancels[l] = loss.value_cancels(x[l], y[l], col[l]);
            any_value_cancels |= value_cancels[l];
        }
        // Weighted: w / Σw, a division because 1/Σw overflows when Σw is
        // subnormal. Unweighted: `scale` is 1/n (or 1), multiplied.
        let (wv, c) = if W {
            (w[l], w[l] / scale)
        } else {
            (T::ONE, scale)
        };
        let wl = wv * t.value;
        vals[l] = wl;
        if V {
            v[l] = wl;
        }
        if G {
            g[l] = c * t.grad;
            if L::REFINES_GRAD {
                cancels[l] = loss.grad_cancels(x[l], y[l], col[l]);
                any_cancels |= cancels[l];
            }
        }
        if H {
            h[l] = c * t.hess;
            if L::REFINES_HESS {
                hess_cancels[l] = loss.hess_cancels(x[l], y[l], col[l]);
                any_hess_cancels |= hess_cancels[l];
            }
        }
    }
    // Values and gradients in one lane loop, so that the work they share
    // (a loss's precise tier) is done once.
    let refine_value = (ACC || V) && L::REFINES_VALUE && any_value_cancels;
    let refine_grad = G && L::REFINES_GRAD && any_cancels;
    if L::VECTOR_REFINE && (refine_value || refine_grad) {
        let mut value = [T::ZERO; LANES];
        let mut grad = [T::ZERO; LANES];
        let mut deep = [false; LANES];
        for l in 0..LANES {
            if (ACC || V) && L::REFINES_VALUE {
                value[l] = loss.precise_value(x[l], y[l], col[l]);
            }
            if G && L::REFINES_GRAD {
                (grad[l], deep[l]) = loss.precise_grad(x[l], y[l], col[l]);
            }
        }
        any_cancels = false;
        for l in 0..LANES {
            if (ACC || V) && L::REFINES_VALUE && value_cancels[l] && l < valid {
                let wv = if W { w[l] } else { T::ONE };
                vals[l] = wv * value[l];
                if V {
                    v[l] = vals[l];
                }
            }
            if G && L::REFINES_GRAD && cancels[l] {
                let c = if W { w[l] / scale } else { scale };
                g[l] = c * grad[l];
                cancels[l] = deep[l];
                any_cancels |= deep[l];
            }
        }
    }
    if H && L::REFINES_HESS && any_hess_cancels {
        let mut m = lane_mask(&hess_cancels) & (u32::MAX >> (LANES - valid));
        while m != 0 {
            let l = m.trailing_zeros() as usize;
            m &= m - 1;
            let c = if W { w[l] / scale } else { scale };
            h[l] = c * loss.precise_hess(x[l], y[l], col[l]);
        }
    }
    if (ACC || V) && L::REFINES_VALUE && !L::VECTOR_REFINE && any_value_cancels {
        let mut m = lane_mask(&value_cancels) & (u32::MAX >> (LANES - valid));
        while m != 0 {
            let l = m.trailing_zeros() as usize;
            m &= m - 1;
            let wv = if W { w[l] } else { T::ONE };
            vals[l] = wv * loss.precise_value(x[l], y[l], col[l]);
            if V {
                v[l] = vals[l];
            }
        }
    }
    let mut cancelled = 0u32;
    if G && L::REFINES_GRAD && any_cancels {
        cancelled = lane_mask(&cancels) & (u32::MAX >> (LANES - valid));
    }
    if ACC {
        for (j, aj) in acc.iter_mut().enumerate() {
            for l in 0..ACC_WIDTH {
                let i = j * ACC_WIDTH + l;
                aj[l] = aj[l] + if i < valid { vals[i] } else { T::ZERO };
            }
        }
    }
    cancelled
}

/// A chunk's lanes are the bits of a `u32`.
const _: () = assert!(LANES == u32::BITS as usize);

/// Bit `l` set for each `true` lane `l`.
#[inline(always)]
fn lane_mask(b: &[bool; LANES]) -> u32 {
    let mut m = 0u32;
    for (l, &v) in b.iter().enumerate() {
        m |= u32::from(v) << l;
    }
    m
}

/// The second pass of a block whose gradient cancelled somewhere (never
/// with hard targets, often with soft ones, everywhere at worst): the gradient
/// again where [`chunk`] found that it cancelled (`cancelled`, one mask per
/// chunk), by [`Pointwise::precise_grad`] as vectors and, where that is not
/// enough, [`Pointwise::deep_grad`] one element at a time; scaled like the
/// first gradient and stored over it.
///
/// The lanes of a chunk most of which cancelled stay in place; those of the
/// others are gathered, `LANES` at a time from as many chunks as it takes,
/// so that the slow paths cost what the cancelled lanes need rather than
/// what their chunks hold. An element's result does not depend on the lanes
/// it is computed with, so the bits do not depend on the grouping.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn refine<T: Float, L: Pointwise<T>, const W: bool>(
    loss: &L,
    x: &[T],
    y: &[T],
    col: &[T],
    w: &[T],
    scale: T,
    g: &mut [T],
    cancelled: &[u32],
) {
    let column = |i: usize| if col.is_empty() { T::ONE } else { col[i] };
    let whole = x.len() / LANES;
    // The lanes of one run: lane l is element at[l] of the block, stored
    // if bit l of `keep` is set (the others are stale or padding).
    let (mut lx, mut ly, mut lc) = ([T::ZERO; LANES], [T::ZERO; LANES], [T::ONE; LANES]);
    let mut at = [0usize; LANES];
    // The next chunk to look at, and the lanes of the last one looked at
    // that are not gathered yet.
    let (mut next, mut rest, mut base) = (0, 0u32, 0);
    loop {
        let (mut len, mut keep) = (0, 0u32);
        while len < LANES {
            if rest == 0 {
                if next == cancelled.len() {
                    break;
                }
                (base, rest) = (next * LANES, cancelled[next]);
                next += 1;
                if len == 0 && next <= whole && rest.count_ones() as usize > LANES / 2 {
                    for l in 0..LANES {
                        let i = base + l;
                        (lx[l], ly[l], lc[l], at[l]) = (x[i], y[i], column(i), i);
                    }
                    (len, keep, rest) = (LANES, rest, 0);
                }
                continue;
            }
            let i = base + rest.trailing_zeros() as usize;
            rest &= rest - 1;
            (lx[len], ly[len], lc[len], at[len]) = (x[i], y[i], column(i), i);
            keep |= 1 << len;
            len += 1;
        }
        if keep == 0 {
            return;
        }
        let mut grad = [T::ZERO; LANES];
        let mut deep = [false; LANES];
        for l in 0..LANES {
            (grad[l], deep[l]) = loss.precise_grad(lx[l], ly[l], lc[l]);
        }
        let deep = lane_mask(&deep);
        while keep != 0 {
            let l = keep.trailing_zeros() as usize;
            keep &= keep - 1;
            let i = at[l];
            let c = if W { w[i] / scale } else { scale };
            let v = if deep >> l & 1 == 1 {
                loss.deep_grad(lx[l], ly[l], lc[l])
            } else {
                grad[l]
            };
            g[i] = c * v;
        }
    }
}

/// `s[..len]` as whole chunks (`len` a multiple of `LANES`), or none
/// unless `on`.
#[inline(always)]
fn whole<T>(s: &[T], len: usize, on: bool) -> &[[T; LANES]] {
    if on {
        s[..len].as_chunks().0
    } else {
        &[]
    }
}

/// [`whole`] for an output.
#[inline(always)]
fn whole_mut<T>(s: &mut [T], len: usize, on: bool) -> &mut [[T; LANES]] {
    if on {
        s[..len].as_chunks_mut().0
    } else {
        &mut []
    }
}

/// One block of elements.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block_body<
    T: Float,
    L: Pointwise<T>,
    const ACC: bool,
    const V: bool,
    const G: bool,
    const H: bool,
    const W: bool,
>(
    loss: &L,
    x: &[T],
    y: &[T],
    col: &[T],
    w: &[T],
    scale: T,
    v: &mut [T],
    g: &mut [T],
    h: &mut [T],
) -> f64 {
    let n = x.len();
    // Elements get their column parameter, or 1 when the loss has none.
    let ones = [T::ONE; LANES];
    let mut wide = [0f64; LANES];
    let mut acc: Acc<T> = [[T::ZERO; ACC_WIDTH]; LANES / ACC_WIDTH];
    // Stand-ins for the outputs a call does not write, and for the tail.
    let (mut sv, mut sg, mut sh, sw) = (
        [T::ZERO; LANES],
        [T::ZERO; LANES],
        [T::ZERO; LANES],
        [T::ZERO; LANES],
    );
    let chunks = n / LANES;
    // Every slice as its whole chunks, all `chunks` long: the chunk loop
    // has no bounds checks, whose panics made the sums go back to memory
    // after every chunk: one store more per output store, which a gradient
    // written to DRAM pays for dearly.
    let body = chunks * LANES;
    let (xc, yc) = (whole(x, body, true), whole(y, body, true));
    let (wc, cc) = (
        whole(w, body, W),
        whole(col, body, L::HAS_COLUMNS && !col.is_empty()),
    );
    let (vc, gc, hc) = (
        whole_mut(v, body, V),
        whole_mut(g, body, G),
        whole_mut(h, body, H),
    );
    // The lanes of each chunk whose gradient cancelled, for `refine`: a
    // block has at most BLOCK elements (the reduction tree's leaves), which
    // the check tells the compiler, so that the chunk loop has no bounds
    // check on the masks.
    let mut cancelled = [0u32; BLOCK / LANES];
    if G && L::REFINES_GRAD {
        assert!(n <= BLOCK, "a block of {n} elements");
    }
    let mut any_cancelled = 0u32;
    // Groups of FLUSH chunks: the inner loop stays free of the flush.
    for group in (0..chunks).step_by(FLUSH) {
        for k in group..(group + FLUSH).min(chunks) {
            let mask = chunk::<T, L, ACC, V, G, H, W>(
                loss,
                &xc[k],
                &yc[k],
                if cc.is_empty() { &ones } else { &cc[k] },
                if W { &wc[k] } else { &sw },
                scale,
                LANES,
                &mut acc,
                if V { &mut vc[k] } else { &mut sv },
                if G { &mut gc[k] } else { &mut sg },
                if H { &mut hc[k] } else { &mut sh },
            );
            if G && L::REFINES_GRAD {
                cancelled[k] = mask;
                any_cancelled |= mask;
            }
        }
        if ACC {
            flush(&mut wide, &acc);
            acc = [[T::ZERO; ACC_WIDTH]; LANES / ACC_WIDTH];
        }
    }
    let (o, len) = (chunks * LANES, n - chunks * LANES);
    if len > 0 {
        let pad = |s: &[T]| {
            let mut a = [T::ZERO; LANES];
            a[..len].copy_from_slice(&s[o..o + len]);
            a
        };
        let ws = if W { pad(w) } else { sw };
        let cs = if L::HAS_COLUMNS && !col.is_empty() {
            pad(col)
        } else {
            ones
        };
        let mask = chunk::<T, L, ACC, V, G, H, W>(
            loss,
            &pad(x),
            &pad(y),
            &cs,
            &ws,
            scale,
            len,
            &mut acc,
            &mut sv,
            &mut sg,
            &mut sh,
        );
        if V {
            v[o..].copy_from_slice(&sv[..len]);
        }
        if G {
            g[o..].copy_from_slice(&sg[..len]);
        }
        if H {
            h[o..].copy_from_slice(&sh[..len]);
        }
        if G && L::REFINES_GRAD {
            cancelled[chunks] = mask;
            any_cancelled |= mask;
        }
    }
    if G && L::REFINES_GRAD && any_cancelled != 0 {
        let used = n.div_ceil(LANES);
        refine::<T, L, W>(loss, x, y, col, w, scale, g, &cancelled[..used]);
    }
    if !ACC {
        return 0.0;
    }
    // The reduced value alone checks its inputs here (see `Plan::fused_check`).
    if L::CHECKS_INPUT && !G && !valid_body(loss, x) {
        return f64::NAN;
    }
    if L::TARGET_DOMAIN.is_some() && !G && !valid_target_body(loss, y) {
        return f64::NAN;
    }
    flush(&mut wide, &acc);
    fold_lanes(wide)
}

dispatch! {
    #[allow(clippy::too_many_arguments)]
    fn block<T: Float, L: Pointwise<T>; const ACC: bool; const V: bool; const G: bool; const H: bool; const W: bool>(
        loss: &L, x: &[T], y: &[T], col: &[T], w: &[T], scale: T, v: &mut [T], g: &mut [T], h: &mut [T]
    ) -> f64 = block_body;
}

/// Σ w over a block (a NaN or infinite weight makes it non-finite).
#[inline(always)]
fn weight_body<T: Float>(w: &[T]) -> f64 {
    let mut sum = [0f64; LANES];
    let chunks = w.len() / LANES;
    for c in 0..chunks {
        for lane in 0..LANES {
            sum[lane] += w[c * LANES + lane].to_f64();
        }
    }
    for (i, &v) in w.iter().enumerate().skip(chunks * LANES) {
        sum[i % LANES] += v.to_f64();
    }
    fold_lanes(sum)
}

dispatch! {
    fn weight_block<T: Float>(w: &[T]) -> f64 = weight_body;
}

/// The first weight that is NaN or infinite. Negative weights are weights
/// (scikit-learn and PyTorch take them; Monte-Carlo event weights often are).
pub(crate) fn invalid_weight<T: Float>(w: &[T]) -> Option<usize> {
    w.iter().position(|v| !v.is_finite())
}

/// Every sample weight must be finite.
pub(crate) fn check_sample_weights<T: Float>(w: Source<'_, T>) -> Result<(), LossError> {
    let bad = match w {
        Source::Slice(s) => invalid_weight(s),
        _ => (0..w.len()).find(|&i| !w.get(i).is_finite()),
    };
    match bad {
        Some(index) => Err(LossError::InvalidWeight {
            index,
            value: w.get(index).to_f64(),
        }),
        None => Ok(()),
    }
}

/// Σ w, after checking that every weight is finite (the search runs only
/// when the sum is not finite; finite weights whose sum overflows, or is 0
/// or negative, give the mean what IEEE 754 gives Σw·ℓ / Σw).
fn weight_total<T: Float>(level: Level, w: Source<'_, T>) -> Result<f64, LossError> {
    let total = tree(w.len(), BLOCK, usize::MAX, (), &|r: Range<usize>, ()| {
        weight_block(level, w.block(r, &mut Vec::new()))
    });
    if !total.is_finite() {
        check_sample_weights(w)?;
    }
    Ok(total)
}

/// Elements `r` of `w` with each weight repeated `rows` times (a block at most).
fn repeat_rows<T: Float>(w: Source<'_, T>, rows: usize, r: Range<usize>) -> [T; BLOCK] {
    let mut out = [T::ZERO; BLOCK];
    let (mut k, mut row) = (0, r.start / rows);
    while k < r.len() {
        let end = ((row + 1) * rows - r.start).min(r.len());
        out[k..end].fill(w.get(row));
        (k, row) = (end, row + 1);
    }
    out
}

/// Whether every input of a block lies in the loss's domain: a fold without
/// early exit, which vectorizes.
#[inline(always)]
fn valid_body<T: Float, L: Pointwise<T>>(loss: &L, x: &[T]) -> bool {
    x.iter().fold(true, |ok, &v| ok & loss.valid_input(v))
}

dispatch! {
    fn valid_block<T: Float, L: Pointwise<T>>(loss: &L, x: &[T]) -> bool = valid_body;
}

/// The first input outside the loss's domain, as an error.
fn check_input<T: Float, L: Pointwise<T>>(
    level: Level,
    loss: &L,
    input: Source<'_, T>,
    grain: usize,
) -> Result<(), LossError> {
    let block_ok = |x: &[T]| valid_block(level, loss, x);
    match first_failure(input, grain, block_ok, |&x| loss.valid_input(x)) {
        Some(index) => Err(LossError::InvalidInput {
            index,
            value: input.get(index).to_f64(),
        }),
        None => Ok(()),
    }
}

/// Whether every target of a block lies in the loss's domain (see
/// [`valid_body`]).
#[inline(always)]
fn valid_target_body<T: Float, L: Pointwise<T>>(loss: &L, y: &[T]) -> bool {
    let _ = loss;
    y.iter().fold(true, |ok, &v| ok & valid_target::<T, L>(v))
}

dispatch! {
    fn valid_target_block<T: Float, L: Pointwise<T>>(loss: &L, y: &[T]) -> bool = valid_target_body;
}

/// The first target outside the loss's domain, as an error.
fn check_target<T: Float, L: Pointwise<T>>(
    level: Level,
    loss: &L,
    target: Source<'_, T>,
    grain: usize,
) -> Result<(), LossError> {
    let Some(domain) = L::TARGET_DOMAIN else {
        return Ok(());
    };
    let block_ok = |y: &[T]| valid_target_block(level, loss, y);
    match first_failure(target, grain, block_ok, |&y| domain.contains(y)) {
        Some(index) => Err(LossError::InvalidTarget {
            index,
            value: target.get(index).to_f64(),
            domain,
        }),
        None => Ok(()),
    }
}

/// `got` must be `expected`: the length of argument `name`.
pub(crate) fn check_len(name: &'static str, expected: usize, got: usize) -> Result<(), LossError> {
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

/// Computes what `op` asks for at the given SIMD level (capped to what the
/// machine has). Returns the reduced value for [`Op::Value`] and
/// [`Op::ValueGrad`]; for the other operations the returned number carries
/// no meaning.
///
/// Every check (lengths, weights, reduction) happens before the first write.
pub fn evaluate<T: Float, L: Pointwise<T>>(
    level: Level,
    loss: &L,
    input: &[T],
    target: &[T],
    weights: Weights<'_, T>,
    reduction: Reduction,
    op: Op<'_, T>,
) -> Result<T, LossError> {
    let (wants, v, g, h) = op.parts();
    let (input, target) = (Source::Slice(input), Source::Slice(target));
    let weights = SourceWeights::from(weights);
    let outs = (Sink::Slice(v), Sink::Slice(g), Sink::Slice(h));
    evaluate_sources(level, loss, input, target, weights, reduction, wants, outs)
}

/// [`Weights`] of any layout.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SourceWeights<'a, T> {
    None,
    Each(Source<'a, T>),
    Rows(Source<'a, T>),
}

impl<'a, T> From<Weights<'a, T>> for SourceWeights<'a, T> {
    fn from(w: Weights<'a, T>) -> Self {
        match w {
            Weights::None => SourceWeights::None,
            Weights::Each(w) => SourceWeights::Each(Source::Slice(w)),
            Weights::Rows(w) => SourceWeights::Rows(Source::Slice(w)),
        }
    }
}

/// The outputs of a call: values, gradients, second derivatives (empty where
/// not asked for).
pub(crate) type Sinks<'a, T> = (Sink<'a, T>, Sink<'a, T>, Sink<'a, T>);

/// [`evaluate`] on arguments of any layout.
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate_sources<T: Float, L: Pointwise<T>>(
    level: Level,
    loss: &L,
    input: Source<'_, T>,
    target: Source<'_, T>,
    weights: SourceWeights<'_, T>,
    reduction: Reduction,
    wants: Wants,
    outs: Sinks<'_, T>,
) -> Result<T, LossError> {
    let plan = Plan::new(level, loss, input, target, weights, reduction, wants, &outs)?;
    plan.run(outs)
}

/// A call of [`evaluate`] whose checks have all passed, with everything its
/// run needs decided: nothing has been written yet.
struct Plan<'a, T, L> {
    level: Level,
    loss: &'a L,
    input: Source<'a, T>,
    target: Source<'a, T>,
    /// What the call asks for, which picks the kernel instance.
    wants: Wants,
    /// Sample weights, each covering `rows` consecutive elements.
    w: Option<Source<'a, T>>,
    rows: usize,
    /// What the sum is divided by: Σ w (or n) for a mean, else 1.
    denominator: f64,
    /// Unweighted, every element's factor (1/denominator); weighted, what
    /// each weight is divided by (the denominator itself: 1/Σw overflows
    /// when Σw is subnormal).
    scale: T,
    /// Subtrees from this many elements go to two threads.
    grain: usize,
    columns: Option<&'a Columns<'a, T>>,
    /// The input's and the target's domain checks run inside the blocks,
    /// and in full only when the sum comes out NaN.
    fused_check: bool,
}

impl<'a, T: Float, L: Pointwise<T>> Plan<'a, T, L> {
    /// Checks the call and decides how it runs: every error the call can
    /// return is found here, but for an input or target outside its domain
    /// that only the fused check (see `fused_check`) finds, in the run.
    #[allow(clippy::too_many_arguments)]
    fn new(
        level: Level,
        loss: &'a L,
        input: Source<'a, T>,
        target: Source<'a, T>,
        weights: SourceWeights<'a, T>,
        reduction: Reduction,
        wants: Wants,
        (v, g, h): &Sinks<'_, T>,
    ) -> Result<Self, LossError> {
        let n = input.len();
        check_len("target", n, target.len())?;
        for (name, wanted, buf) in [
            ("value out", wants.store, v),
            ("grad out", wants.grad, g),
            ("hess out", wants.hess, h),
        ] {
            if wanted {
                check_len(name, n, buf.len())?;
            }
        }
        // A reduced value is accumulated; a value per element is stored.
        let acc = wants.summed();
        if acc && reduction == Reduction::None {
            return Err(LossError::NoneReduction);
        }
        // Per-row weights become per-element ones when rows are single elements.
        let (w, rows) = match weights {
            SourceWeights::None => (None, 1),
            SourceWeights::Each(w) => {
                check_len("sample_weight", n, w.len())?;
                (Some(w), 1)
            }
            SourceWeights::Rows(w) if w.len() == n => (Some(w), 1),
            SourceWeights::Rows(w) => {
                if w.len() == 0 || !n.is_multiple_of(w.len()) {
                    return Err(LossError::WeightRows {
                        elements: n,
                        weights: w.len(),
                    });
                }
                (Some(w), n / w.len())
            }
        };
        let total = match w {
            Some(w) => weight_total(level, w)? * rows as f64,
            None => n as f64,
        };
        let denominator = if reduction == Reduction::Mean {
            total
        } else {
            1.0
        };
        // Unweighted calls multiply by 1/n; weighted ones divide by Σw.
        let scale = if w.is_some() {
            T::from_f64(denominator)
        } else {
            T::from_f64(1.0 / denominator)
        };
        // Subtrees from `grain` elements go to other threads (a tree shares
        // from twice its grain): the transcendental losses from four blocks,
        // the others from 1 MiB of input and target (2^17 float32 elements,
        // 2^16 float64), where `benches/threads.py` measured a second thread
        // paying off (BENCHMARKS.md has the curves).
        let grain = if L::HEAVY {
            2 * BLOCK
        } else {
            (1 << 18) / std::mem::size_of::<T>()
        };
        let columns = loss.columns();
        if let Some(c) = columns {
            if n > 0 && (c.period() == 0 || !n.is_multiple_of(c.period())) {
                return Err(LossError::Columns {
                    elements: n,
                    columns: c.period(),
                });
            }
        }
        // The reduced value alone writes nothing, so its blocks check their own
        // inputs after computing (in L1), and a NaN sum sends the call to the
        // full check; every other operation checks before its first write.
        let fused_check =
            (L::CHECKS_INPUT || L::TARGET_DOMAIN.is_some()) && acc && !wants.grad && !wants.hess;
        if L::CHECKS_INPUT && !fused_check {
            check_input(level, loss, input, grain)?;
        }
        if L::TARGET_DOMAIN.is_some() && !fused_check {
            check_target(level, loss, target, grain)?;
        }
        Ok(Plan {
            level,
            loss,
            input,
            target,
            wants,
            w,
            rows,
            denominator,
            scale,
            grain,
            columns,
            fused_check,
        })
    }

    /// One leaf of the tree: elements `r`, whose input and target are `x`
    /// and `y`, into `v`, `g` and `h`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn leaf<const ACC: bool, const V: bool, const G: bool, const H: bool>(
        &self,
        r: Range<usize>,
        x: &[T],
        y: &[T],
        v: &mut [T],
        g: &mut [T],
        h: &mut [T],
    ) -> f64 {
        let (level, loss, scale) = (self.level, self.loss, self.scale);
        let cstore;
        let col: &[T] = match self.columns {
            // An empty input has one empty leaf and no columns to read.
            _ if r.is_empty() => &[],
            None => &[],
            Some(c) => {
                cstore = c.fill(r.clone());
                &cstore[..r.len()]
            }
        };
        let (mut ws, wstore);
        match self.w {
            None => block::<T, L, ACC, V, G, H, false>(level, loss, x, y, col, &[], scale, v, g, h),
            // rows == 0 only for empty input, whose one leaf is empty.
            Some(w) if self.rows <= 1 => {
                ws = Vec::new();
                let w = w.block(r, &mut ws);
                block::<T, L, ACC, V, G, H, true>(level, loss, x, y, col, w, scale, v, g, h)
            }
            Some(w) => {
                wstore = repeat_rows(w, self.rows, r.clone());
                let w = &wstore[..r.len()];
                block::<T, L, ACC, V, G, H, true>(level, loss, x, y, col, w, scale, v, g, h)
            }
        }
    }

    /// Runs the call into the buffers it was planned with.
    fn run(self, outs: Sinks<'_, T>) -> Result<T, LossError> {
        let Plan {
            level,
            loss,
            input,
            target,
            wants,
            denominator,
            grain,
            fused_check,
            ..
        } = self;
        let n = input.len();
        let acc = wants.summed();
        let plan = &self;

        macro_rules! run {
            ($acc:literal, $v:literal, $g:literal, $h:literal) => {
                match (input, target, outs) {
                    // Slices, as they come.
                    (
                        Source::Slice(x),
                        Source::Slice(y),
                        (Sink::Slice(v), Sink::Slice(g), Sink::Slice(h)),
                    ) => tree(n, BLOCK, grain, (v, g, h), &|r: Range<usize>,
                                                            (v, g, h): (
                        &mut [T],
                        &mut [T],
                        &mut [T],
                    )| {
                        let (x, y) = (&x[r.clone()], &y[r.clone()]);
                        plan.leaf::<$acc, $v, $g, $h>(r, x, y, v, g, h)
                    }),
                    // Strided arguments gathered, strided outputs computed into
                    // buffers and then stored.
                    (_, _, outs) => {
                        tree(n, BLOCK, grain, outs, &|r: Range<usize>,
                                                      (mut vs, mut gs, mut hs): Sinks<
                            '_,
                            T,
                        >| {
                            let (mut xs, mut ys) = (Vec::new(), Vec::new());
                            let (x, y) = (
                                input.block(r.clone(), &mut xs),
                                target.block(r.clone(), &mut ys),
                            );
                            let (mut vb, mut gb, mut hb) = (Vec::new(), Vec::new(), Vec::new());
                            let (v, g, h) =
                                (vs.buffer(&mut vb), gs.buffer(&mut gb), hs.buffer(&mut hb));
                            let sum = plan.leaf::<$acc, $v, $g, $h>(r, x, y, v, g, h);
                            vs.finish(&vb);
                            gs.finish(&gb);
                            hs.finish(&hb);
                            sum
                        })
                    }
                }
            };
        }
        let sum = match (acc, wants.store, wants.grad, wants.hess) {
            (true, _, false, _) => run!(true, false, false, false),
            (true, _, true, _) => run!(true, false, true, false),
            (false, true, false, _) => run!(false, true, false, false),
            (false, true, true, _) => run!(false, true, true, false),
            (false, false, _, false) => run!(false, false, true, false),
            (false, false, _, true) => run!(false, false, true, true),
        };
        if fused_check && sum.is_nan() {
            if L::CHECKS_INPUT {
                check_input(level, loss, input, grain)?;
            }
            if L::TARGET_DOMAIN.is_some() {
                check_target(level, loss, target, grain)?;
            }
        }
        Ok(T::from_f64(sum / denominator))
    }
}
