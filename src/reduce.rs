//! Deterministic reductions and the thread split.
//!
//! Work is cut into fixed blocks of items ([`BLOCK`] elements for the
//! elementwise losses; a number of rows for row-wise ones). Block results are combined
//! by a pairwise tree whose shape depends only on the number of items, never
//! on the number of threads: threads only decide *where* a subtree is
//! computed (whoever takes it first, see [`crate::threads`]), so results are
//! bitwise identical for any thread count. Tasks and their results live on
//! the caller's stack: a reduced value allocates nothing.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::strided::Source;
use crate::threads;

/// How a reduced loss is scaled: the `reduction` argument of every loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Reduction {
    /// Σ w·ℓ / Σ w (Σ w = n without weights); `NaN` for empty input.
    #[default]
    Mean,
    /// Σ w·ℓ.
    Sum,
    /// No reduction: one value per element (or per row for cross-entropy).
    None,
}

impl Reduction {
    /// Parses `"mean"`, `"sum"` or `"none"`.
    pub fn parse(s: &str) -> Option<Reduction> {
        match s {
            "mean" => Some(Reduction::Mean),
            "sum" => Some(Reduction::Sum),
            "none" => Some(Reduction::None),
            _ => None,
        }
    }
}

/// Elements per leaf of the reduction tree of the elementwise losses. Fixed:
/// it decides the summation order.
pub const BLOCK: usize = 4096;

/// Output buffers split along with the item range they belong to.
pub(crate) trait Split: Send + Sized {
    /// Splits at item `at` of a buffer covering `len` items.
    fn split(self, at: usize, len: usize) -> (Self, Self);
}

impl Split for () {
    fn split(self, _: usize, _: usize) -> ((), ()) {
        ((), ())
    }
}

/// A buffer holding `data.len() / len` values per item, possibly none at all
/// (an output that was not requested).
impl<T: Send> Split for &mut [T] {
    fn split(self, at: usize, len: usize) -> (Self, Self) {
        if self.is_empty() {
            return (self, &mut []);
        }
        let per = self.len() / len;
        self.split_at_mut(at * per)
    }
}

impl<A: Split, B: Split, C: Split> Split for (A, B, C) {
    fn split(self, at: usize, len: usize) -> (Self, Self) {
        let (a0, a1) = self.0.split(at, len);
        let (b0, b1) = self.1.split(at, len);
        let (c0, c1) = self.2.split(at, len);
        ((a0, b0, c0), (a1, b1, c1))
    }
}

/// The grain every [`tree`] uses instead of its own, when not 0: set by
/// [`force_grain`] for the benchmarks that measure where a second thread
/// pays off.
static GRAIN: AtomicUsize = AtomicUsize::new(0);

/// Makes every [`tree`] share subtrees from `grain` items (at least two
/// blocks) instead of from its caller's choice; `None` gives the choice
/// back. Results do not change: the tree is the same, only the threads
/// that compute it are.
#[cfg(feature = "python")]
pub(crate) fn force_grain(grain: Option<usize>) {
    GRAIN.store(grain.map_or(0, |g| g.max(1)), Ordering::Relaxed);
}

/// Sums `leaf` over the blocks of `block` items of `0..len` in the fixed
/// tree, handing each leaf the part of `outs` that covers its items.
/// Subtrees of at least `grain` items are shared between threads when more
/// than one is set. The tree depends on `len` and `block` only.
pub(crate) fn tree<P, F>(len: usize, block: usize, grain: usize, outs: P, leaf: &F) -> f64
where
    P: Split,
    F: Fn(Range<usize>, P) -> f64 + Sync,
{
    let block = block.max(1);
    let grain = match GRAIN.load(Ordering::Relaxed) {
        0 => grain,
        forced => forced,
    }
    .max(block.saturating_mul(2));
    let threads = threads::num_threads();
    if len < grain.saturating_mul(2) || threads == 1 {
        return threads::calling_thread_poll(|poll| walk(0..len, block, outs, &polled(poll, leaf)));
    }
    shared(threads, len, block, grain, outs, leaf)
}

/// `leaf`, after a tick of `poll` (the calling thread's, see
/// [`threads::with_poll`]) when there is one.
fn polled<'a, 'b, P, F>(
    poll: Option<&'a threads::Poll<'b>>,
    leaf: &'a F,
) -> impl Fn(Range<usize>, P) -> f64 + use<'a, 'b, P, F>
where
    F: Fn(Range<usize>, P) -> f64,
{
    move |range, outs| {
        if let Some(poll) = poll {
            poll.tick();
        }
        leaf(range, outs)
    }
}

/// Most tasks a shared call is cut into.
const MAX_TASKS: usize = 64;

/// A task of a shared call: a subtree to compute, then its sum.
enum Task<P> {
    Empty,
    Todo(Range<usize>, P),
    Done(f64),
}

/// [`tree`] on `threads` threads: the top of the tree is cut into tasks
/// (the subtrees at depth `3 + log2(threads)`, at most [`MAX_TASKS`], or
/// higher ones of fewer than `grain` items), the threads take them in turn,
/// and the caller adds up their sums along the same tree.
fn shared<P, F>(threads: usize, len: usize, block: usize, grain: usize, outs: P, leaf: &F) -> f64
where
    P: Split,
    F: Fn(Range<usize>, P) -> f64 + Sync,
{
    let depth = (threads.next_power_of_two().trailing_zeros() + 3).min(MAX_TASKS.ilog2());
    let mut tasks: [Mutex<Task<P>>; MAX_TASKS] = std::array::from_fn(|_| Mutex::new(Task::Empty));
    let mut count = 0;
    cut(0..len, block, grain, depth, outs, &mut tasks, &mut count);
    let next = AtomicUsize::new(0);
    // Set when a thread's task unwinds (the call was interrupted, or a leaf
    // panicked): the call is over, so the other threads skip the leaves
    // left in their tasks and take no more, and `run` returns soon.
    let abandoned = AtomicBool::new(false);
    let leaf = |range: Range<usize>, outs: P| {
        if abandoned.load(Ordering::Relaxed) {
            return 0.0;
        }
        leaf(range, outs)
    };
    // More threads than tasks would find nothing to do.
    threads::run(threads.min(MAX_TASKS), &|| {
        struct Abandon<'a>(&'a AtomicBool);
        impl Drop for Abandon<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let unwinding = Abandon(&abandoned);
        threads::calling_thread_poll(|poll| loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count || abandoned.load(Ordering::Relaxed) {
                break;
            }
            let mut task = tasks[i].lock().unwrap_or_else(|e| e.into_inner());
            if let Task::Todo(range, outs) = std::mem::replace(&mut *task, Task::Empty) {
                *task = Task::Done(walk(range, block, outs, &polled(poll, &leaf)));
            }
        });
        std::mem::forget(unwinding);
    });
    let mut sums =
        tasks[..count]
            .iter_mut()
            .map(|t| match t.get_mut().unwrap_or_else(|e| e.into_inner()) {
                Task::Done(sum) => *sum,
                _ => unreachable!("every task is done when threads::run returns"),
            });
    combine(len, block, grain, depth, &mut sums)
}

/// Whether a subtree of `len` items at `depth` levels above the deepest
/// tasks is one task of [`shared`]: the rule [`cut`] and [`combine`] share.
fn is_task(len: usize, grain: usize, depth: u32) -> bool {
    depth == 0 || len < grain
}

/// Lays the tasks of [`shared`] out in order.
fn cut<P: Split>(
    range: Range<usize>,
    block: usize,
    grain: usize,
    depth: u32,
    outs: P,
    tasks: &mut [Mutex<Task<P>>],
    count: &mut usize,
) {
    let len = range.end - range.start;
    if is_task(len, grain, depth) {
        *tasks[*count].get_mut().unwrap_or_else(|e| e.into_inner()) = Task::Todo(range, outs);
        *count += 1;
        return;
    }
    let at = split_point(len, block);
    let mid = range.start + at;
    let (lo, hi) = outs.split(at, len);
    cut(range.start..mid, block, grain, depth - 1, lo, tasks, count);
    cut(mid..range.end, block, grain, depth - 1, hi, tasks, count);
}

/// Adds the sums of the tasks laid out by [`cut`] along the same tree.
fn combine(
    len: usize,
    block: usize,
    grain: usize,
    depth: u32,
    sums: &mut impl Iterator<Item = f64>,
) -> f64 {
    if is_task(len, grain, depth) {
        return sums.next().expect("one sum per task");
    }
    let at = split_point(len, block);
    let a = combine(at, block, grain, depth - 1, sums);
    let b = combine(len - at, block, grain, depth - 1, sums);
    a + b
}

/// The index of the first item that fails `ok`, if any. Blocks of [`BLOCK`]
/// items are tested whole by `block_ok` (a fold without early exit, which
/// vectorizes), on two threads from `grain` items as in [`tree`]; the items
/// are searched one by one only once a block has failed.
pub(crate) fn first_failure<X: Copy + Default + Sync>(
    items: Source<'_, X>,
    grain: usize,
    block_ok: impl Fn(&[X]) -> bool + Sync,
    ok: impl Fn(&X) -> bool,
) -> Option<usize> {
    let failed = tree(items.len(), BLOCK, grain, (), &|r: Range<usize>, ()| {
        f64::from(u8::from(!block_ok(items.block(r, &mut Vec::new()))))
    });
    if failed == 0.0 {
        None
    } else {
        (0..items.len()).find(|&i| !ok(&items.get(i)))
    }
}

/// The subtree over `range`, on the calling thread.
fn walk<P, F>(range: Range<usize>, block: usize, outs: P, leaf: &F) -> f64
where
    P: Split,
    F: Fn(Range<usize>, P) -> f64,
{
    let len = range.end - range.start;
    if len <= block {
        return leaf(range, outs);
    }
    let at = split_point(len, block);
    let mid = range.start + at;
    let (lo, hi) = outs.split(at, len);
    walk(range.start..mid, block, lo, leaf) + walk(mid..range.end, block, hi, leaf)
}

/// Sums `N` lanes (a power of two) by a fixed pairwise tree: lane `l` and
/// lane `l + N/2`, and so on down to one.
#[inline(always)]
pub(crate) fn fold_lanes<const N: usize>(mut acc: [f64; N]) -> f64 {
    let mut width = N / 2;
    while width > 0 {
        for l in 0..width {
            acc[l] += acc[l + width];
        }
        width /= 2;
    }
    acc[0]
}

/// Where a range of `len > block` items splits: half of its blocks, rounded
/// down, go left. Depends on `len` and `block` alone, which fixes the tree.
fn split_point(len: usize, block: usize) -> usize {
    len.div_ceil(block) / 2 * block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_cover_range_in_blocks() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 3, 64 * BLOCK] {
            let v = Mutex::new(Vec::new());
            walk(0..len, BLOCK, (), &|r: Range<usize>, _: ()| {
                v.lock().unwrap().push(r);
                0.0
            });
            let mut next = 0;
            for r in v.into_inner().unwrap() {
                assert_eq!(r.start, next);
                assert!(r.end - r.start <= BLOCK);
                assert_eq!(r.start % BLOCK, 0, "leaves start on block boundaries");
                next = r.end;
            }
            assert_eq!(next, len);
        }
    }

    #[test]
    fn planner_arithmetic_past_u32() {
        // Plan a range of more than 2^32 items without allocating it: walk
        // only the split points down the leftmost and rightmost paths.
        for len in [
            (1usize << 32) + 7,
            (1usize << 33) + BLOCK * 3 + 1,
            usize::MAX / 2,
        ] {
            let mut range = 0..len;
            while range.end - range.start > BLOCK {
                let mid = range.start + split_point(range.end - range.start, BLOCK);
                assert!(mid > range.start && mid < range.end);
                assert_eq!((mid - range.start) % BLOCK, 0);
                range = mid..range.end;
            }
            assert_eq!(range.end, len);
        }
    }

    /// The leaves of a walk over `len` items in leaves of `block`, without
    /// touching memory: (leaf count, end of the last leaf, whether each
    /// leaf starts on a block boundary where the previous one ended, is not
    /// empty and not longer than `block`). Checks that the leaf lengths add
    /// up to `len`.
    fn plan(len: usize, block: usize, threads: usize) -> (usize, usize, bool) {
        let leaves = Mutex::new(Vec::with_capacity(len / block + 1));
        let leaf = |r: Range<usize>, ()| {
            leaves.lock().unwrap().push((r.start, r.end));
            r.len() as f64
        };
        let total = if threads == 1 {
            walk(0..len, block, (), &leaf)
        } else {
            shared(threads, len, block, 1 << 20, (), &leaf)
        };
        let mut leaves = leaves.into_inner().unwrap();
        leaves.sort_unstable();
        let mut next = 0;
        let mut ok = true;
        for &(start, end) in &leaves {
            ok &= start == next && start % block == 0 && end > start && end - start <= block;
            next = end;
        }
        assert_eq!(
            total, len as f64,
            "leaf lengths sum to len (exact in f64 below 2^53)"
        );
        (leaves.len(), next, ok)
    }

    #[test]
    fn every_leaf_of_a_range_past_u32() {
        // The whole plan of 2^32 + 4097 items (a million leaves): each leaf
        // in place, none past the end; nothing of that size is allocated.
        let len = (1usize << 32) + BLOCK + 1;
        let (count, end, ok) = plan(len, BLOCK, 1);
        assert!(ok);
        assert_eq!(end, len);
        assert_eq!(count, len.div_ceil(BLOCK));
        // Row blocks of cross-entropy (ROW_BLOCK / C rows a leaf: 1170
        // rows at C = 3, 2^32 + 1 rows).
        let rows = (1usize << 32) + 1;
        let (count, end, ok) = plan(rows, 4096 / 3, 1);
        assert!(ok && end == rows && count == rows.div_ceil(4096 / 3));
    }

    #[test]
    fn threaded_plan_past_u32_is_the_same_tree() {
        // The same range on three threads: the same leaves, the same sum.
        let len = (1usize << 32) + 3 * BLOCK + 7;
        let one = plan(len, BLOCK, 1);
        let three = plan(len, BLOCK, 3);
        assert_eq!(one, three);
    }

    #[test]
    fn split_points_near_usize_max() {
        // split_point never overflows: len.div_ceil(block) / 2 * block < len.
        for block in [1, 7, BLOCK, 1 << 20] {
            for len in [
                usize::MAX,
                usize::MAX - 1,
                usize::MAX / 2 + 1,
                (1 << 32) + 1,
            ] {
                let at = split_point(len, block);
                assert!(at > 0 && at < len, "len {len} block {block}: at {at}");
                assert_eq!(at % block, 0);
            }
        }
    }

    #[test]
    fn output_split_keeps_items_per_element() {
        // A buffer of 3 values per item splits at 3·at; an empty one stays
        // empty on both sides (an output that was not requested).
        let mut buf = [0u8; 30];
        let (lo, hi) = (&mut buf[..]).split(4, 10);
        assert_eq!((lo.len(), hi.len()), (12, 18));
        let empty: &mut [u8] = &mut [];
        let (lo, hi) = empty.split(1 << 40, usize::MAX);
        assert!(lo.is_empty() && hi.is_empty());
    }

    #[test]
    fn tree_is_thread_count_independent() {
        let n = 40 * BLOCK + 17;
        let leaf = |r: Range<usize>, _: ()| r.map(|i| 1.0 / (1.0 + i as f64)).sum::<f64>();
        let one = walk(0..n, BLOCK, (), &leaf);
        for (threads, grain) in [
            (2, 2 * BLOCK),
            (3, 2 * BLOCK),
            (8, 2 * BLOCK),
            (2, 16 * BLOCK),
        ] {
            let many = shared(threads, n, BLOCK, grain, (), &leaf);
            assert_eq!(
                one.to_bits(),
                many.to_bits(),
                "{threads} threads, grain {grain}"
            );
        }
    }

    #[test]
    fn shared_outputs_and_concurrent_callers() {
        // Four callers at once on three threads each (one gets the helpers,
        // the others work alone or join later): every item written once,
        // every sum the single-threaded one.
        let n = 50 * BLOCK + 5;
        let leaf = |r: Range<usize>, out: &mut [f64]| {
            let mut s = 0.0;
            for (i, o) in r.zip(out.iter_mut()) {
                *o += 1.0;
                s += (i as f64).sqrt();
            }
            s
        };
        let one = walk(0..n, BLOCK, &mut vec![0.0; n][..], &leaf);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        let mut out = vec![0.0; n];
                        let sum = shared(3, n, BLOCK, 2 * BLOCK, &mut out[..], &leaf);
                        assert_eq!(sum.to_bits(), one.to_bits());
                        assert!(out.iter().all(|&x| x == 1.0));
                    }
                });
            }
        });
    }

    #[test]
    fn a_poll_that_says_stop_ends_the_call() {
        // A poll that says stop at its first look (10 ms in): the call, on
        // one thread or split, unwinds out as `Interrupted` long before its
        // leaves are done; the next call, without a poll, gives every bit.
        let n = 128 * BLOCK;
        let slow = |r: Range<usize>, out: &mut [f64]| {
            std::thread::sleep(std::time::Duration::from_millis(1));
            out.fill(1.0);
            r.len() as f64
        };
        for threads in [1, 3] {
            let mut out = vec![0.0; n];
            let mut asked = 0;
            let mut ask = || {
                asked += 1;
                false
            };
            let start = std::time::Instant::now();
            let stopped = threads::with_poll(&mut ask, || {
                if threads == 1 {
                    tree(n, BLOCK, usize::MAX, &mut out[..], &slow)
                } else {
                    shared(threads, n, BLOCK, 2 * BLOCK, &mut out[..], &slow)
                }
            });
            assert!(stopped.is_err(), "{threads} threads: not interrupted");
            assert_eq!(asked, 1);
            assert!(start.elapsed().as_secs_f64() < 5.0);
            assert!(out.contains(&0.0), "{threads} threads: every leaf ran");
            let sum = shared(threads.max(2), n, BLOCK, 2 * BLOCK, &mut out[..], &slow);
            assert_eq!(sum, n as f64);
            assert!(out.iter().all(|&x| x == 1.0));
        }
    }

    #[test]
    fn a_poll_that_says_go_on_changes_nothing() {
        let n = 40 * BLOCK + 17;
        let leaf = |r: Range<usize>, _: ()| r.map(|i| 1.0 / (1.0 + i as f64)).sum::<f64>();
        let one = walk(0..n, BLOCK, (), &leaf);
        let mut ask = || true;
        let got = threads::with_poll(&mut ask, || shared(3, n, BLOCK, 2 * BLOCK, (), &leaf));
        assert_eq!(got.map(f64::to_bits).ok(), Some(one.to_bits()));
    }

    #[test]
    fn a_panicking_task_reaches_the_caller() {
        // Whichever thread runs the bad leaf, the caller panics, and the
        // threads serve the next call.
        let n = 40 * BLOCK;
        for bad in [0, 39 * BLOCK] {
            let leaf = |r: Range<usize>, ()| {
                assert!(r.start != bad, "bad leaf");
                1.0
            };
            let caught = std::panic::catch_unwind(|| shared(2, n, BLOCK, 2 * BLOCK, (), &leaf));
            assert!(caught.is_err());
        }
        let sum = shared(2, n, BLOCK, 2 * BLOCK, (), &|_: Range<usize>, ()| 1.0);
        assert_eq!(sum, 40.0);
    }
}
