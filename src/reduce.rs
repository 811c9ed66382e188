//! Deterministic reductions and the thread split.
//!
//! Work is cut into fixed blocks of items ([`BLOCK`] elements for the
//! elementwise losses; a number of rows for row-wise ones). Block results are combined
//! by a pairwise tree whose shape depends only on the number of items, never
//! on the number of threads: threads only decide *where* a subtree is
//! computed (`rayon::join`), so results are bitwise identical for any thread
//! count. The recursion uses the stack only: a reduced value allocates nothing.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{require, LossError};

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

/// Sums `leaf` over the blocks of `block` items of `0..len` in the fixed
/// tree, handing each leaf the part of `outs` that covers its items.
/// Subtrees of at least `grain` items are computed on two threads when more
/// than one is set. The tree depends on `len` and `block` only.
pub(crate) fn tree<P, F>(len: usize, block: usize, grain: usize, outs: P, leaf: &F) -> f64
where
    P: Split,
    F: Fn(Range<usize>, P) -> f64 + Sync,
{
    let block = block.max(1);
    let grain = grain.max(block.saturating_mul(2));
    if len < grain.saturating_mul(2) || num_threads() == 1 {
        return walk(0..len, block, usize::MAX, outs, leaf);
    }
    pool().install(|| walk(0..len, block, grain, outs, leaf))
}

fn walk<P, F>(range: Range<usize>, block: usize, grain: usize, outs: P, leaf: &F) -> f64
where
    P: Split,
    F: Fn(Range<usize>, P) -> f64 + Sync,
{
    let len = range.end - range.start;
    if len <= block {
        return leaf(range, outs);
    }
    let at = split_point(len, block);
    let mid = range.start + at;
    let (lo, hi) = outs.split(at, len);
    let (a, b) = if len >= grain {
        rayon::join(
            || walk(range.start..mid, block, grain, lo, leaf),
            || walk(mid..range.end, block, grain, hi, leaf),
        )
    } else {
        (
            walk(range.start..mid, block, grain, lo, leaf),
            walk(mid..range.end, block, grain, hi, leaf),
        )
    };
    a + b
}

/// Where a range of `len > block` items splits: half of its blocks, rounded
/// down, go left. Depends on `len` and `block` alone, which fixes the tree.
fn split_point(len: usize, block: usize) -> usize {
    len.div_ceil(block) / 2 * block
}

// ---------------------------------------------------------------- threads --

static THREADS: AtomicUsize = AtomicUsize::new(0);
static POOL: Mutex<Option<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

/// Threads the kernels use: `set_num_threads`, else `FASTLOSS_NUM_THREADS`,
/// else the number of cores.
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = std::env::var("FASTLOSS_NUM_THREADS")
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            // Another thread may have set a value meanwhile; keep theirs.
            let _ = THREADS.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed);
            THREADS.load(Ordering::Relaxed)
        }
        n => n,
    }
}

/// Sets the number of threads the kernels use (at least 1). Results do not
/// depend on it; only speed does.
pub fn set_num_threads(n: usize) -> Result<(), LossError> {
    require(n >= 1, "n", n as f64, "n >= 1")?;
    THREADS.store(n, Ordering::Relaxed);
    Ok(())
}

fn pool() -> Arc<rayon::ThreadPool> {
    let n = num_threads();
    let mut slot = POOL.lock().unwrap_or_else(|e| e.into_inner());
    match &*slot {
        Some((m, p)) if *m == n => p.clone(),
        _ => {
            let p = Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("fastloss-{i}"))
                    .build()
                    .expect("fastloss: cannot start worker threads"),
            );
            *slot = Some((n, p.clone()));
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_cover_range_in_blocks() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 3, 64 * BLOCK] {
            let v = Mutex::new(Vec::new());
            walk(0..len, BLOCK, usize::MAX, (), &|r: Range<usize>, _: ()| {
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

    #[test]
    fn tree_is_thread_count_independent() {
        let n = 40 * BLOCK + 17;
        let leaf = |r: Range<usize>, _: ()| r.map(|i| 1.0 / (1.0 + i as f64)).sum::<f64>();
        let one = walk(0..n, BLOCK, usize::MAX, (), &leaf);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let three = pool.install(|| walk(0..n, BLOCK, 2 * BLOCK, (), &leaf));
        assert_eq!(one.to_bits(), three.to_bits());
    }
}
