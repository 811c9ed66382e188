//! Arrays read and written where they lie: any number of axes, any strides
//! (negative and zero ones included), taken in C order a block at a time, so
//! that the kernels, which run on slices, never need a contiguous copy of a
//! whole argument.

use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ops::Range;

use crate::error::LossError;
use crate::kernel::MAX_AXES;
use crate::reduce::Split;

/// Where each element of an array lies, relative to its first one: its
/// axes merged wherever the strides allow, outermost first, without the axes
/// of length 1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// (length, stride in elements) of each merged axis.
    axes: [(usize, isize); MAX_AXES],
    ndim: usize,
    len: usize,
}

impl Layout {
    /// The layout of an array of `shape` and `strides` (in elements);
    /// `name` is the argument the error names.
    pub(crate) fn new(
        name: &'static str,
        shape: &[usize],
        strides: &[isize],
    ) -> Result<Self, LossError> {
        let len = shape.iter().product();
        let mut merged = [(0usize, 0isize); MAX_AXES];
        let mut m = 0;
        if len > 0 {
            // Innermost first: an axis merges into the one inside it when its
            // stride continues that one's.
            for (&n, &s) in shape.iter().zip(strides).rev() {
                if n == 1 {
                    continue;
                }
                if m > 0 && s == merged[m - 1].1.wrapping_mul(merged[m - 1].0 as isize) {
                    merged[m - 1].0 *= n;
                } else if m == MAX_AXES {
                    return Err(LossError::TooManyAxes {
                        name,
                        ndim: shape.len(),
                    });
                } else {
                    merged[m] = (n, s);
                    m += 1;
                }
            }
        }
        let mut axes = [(0, 0); MAX_AXES];
        for (a, &b) in axes.iter_mut().zip(merged[..m].iter().rev()) {
            *a = b;
        }
        Ok(Self { axes, ndim: m, len })
    }

    /// Whether the elements are one run, in C order, from the first one.
    fn contiguous(&self) -> bool {
        self.ndim == 0 || (self.ndim == 1 && self.axes[0].1 == 1)
    }

    /// The offset of element `i` (C order) from the first.
    fn offset(&self, mut i: usize) -> isize {
        let mut offset = 0isize;
        for &(n, s) in self.axes[..self.ndim].iter().rev() {
            offset += (i % n) as isize * s;
            i /= n;
        }
        offset
    }

    /// Calls `run(k, offset, count, step)` for the runs along the innermost
    /// axis that elements `r` make up: `count` elements, the first of which
    /// is element `r.start + k` and lies at `offset`, `step` apart.
    #[inline]
    fn runs(&self, r: Range<usize>, mut run: impl FnMut(usize, isize, usize, isize)) {
        let axes = &self.axes[..self.ndim];
        let Some(&(inner, step)) = axes.last() else {
            if !r.is_empty() {
                run(0, 0, r.len(), 1);
            }
            return;
        };
        let last = axes.len() - 1;
        let mut at = [0usize; MAX_AXES];
        let mut rest = r.start;
        for (a, &(n, _)) in at.iter_mut().zip(axes).rev() {
            *a = rest % n;
            rest /= n;
        }
        let mut offset: isize = at
            .iter()
            .zip(axes)
            .map(|(&i, &(_, s))| i as isize * s)
            .sum();
        let mut k = 0;
        while k < r.len() {
            let count = (inner - at[last]).min(r.len() - k);
            run(k, offset, count, step);
            k += count;
            at[last] += count;
            offset += count as isize * step;
            if at[last] == inner {
                at[last] = 0;
                offset -= inner as isize * step;
                for (a, &(n, s)) in at[..last].iter_mut().zip(axes).rev() {
                    *a += 1;
                    offset += s;
                    if *a < n {
                        break;
                    }
                    *a = 0;
                    offset -= n as isize * s;
                }
            }
        }
    }
}

/// An array argument: a slice, or a strided view read a block at a time.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source<'a, T> {
    /// The elements, contiguous and in C order.
    Slice(&'a [T]),
    /// Any other layout.
    Strided(Strided<'a, T>),
}

/// A strided view: the element at offset `o` (see [`Layout`]) is at
/// `ptr.offset(o)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Strided<'a, T> {
    ptr: *const T,
    layout: &'a Layout,
    _data: PhantomData<&'a [T]>,
}

// SAFETY: a `Strided` is a shared borrow of the elements it reads (see
// `Source::from_raw`), which may go to other threads as `&[T]` may.
unsafe impl<T: Sync> Send for Strided<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Strided<'_, T> {}

impl<'a, T: Copy + Default> Source<'a, T> {
    /// The array of `layout` whose first element is at `ptr`: a slice when
    /// it is contiguous in C order.
    ///
    /// # Safety
    ///
    /// For every element of `layout`, `ptr` offset by its offset must be
    /// valid for reads of a `T` during `'a`, and not be written during `'a`.
    pub(crate) unsafe fn from_raw(ptr: *const T, layout: &'a Layout) -> Self {
        if layout.len == 0 {
            return Source::Slice(&[]);
        }
        if layout.contiguous() {
            // SAFETY: the caller's promise, for the `len` elements that
            // follow `ptr` one after another.
            return Source::Slice(unsafe { core::slice::from_raw_parts(ptr, layout.len) });
        }
        Source::Strided(Strided {
            ptr,
            layout,
            _data: PhantomData,
        })
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        match self {
            Source::Slice(s) => s.len(),
            Source::Strided(s) => s.layout.len,
        }
    }

    /// Element `i` (C order); panics beyond the end.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> T {
        match self {
            Source::Slice(s) => s[i],
            Source::Strided(s) => {
                assert!(i < s.layout.len, "index {i} of {}", s.layout.len);
                // SAFETY: element `i` of the view (see `from_raw`).
                unsafe { *s.ptr.offset(s.layout.offset(i)) }
            }
        }
    }

    /// Elements `r`: in place, or gathered into `store` (which stays
    /// unallocated for a slice).
    #[inline(always)]
    pub(crate) fn block<'b>(&self, r: Range<usize>, store: &'b mut Vec<T>) -> &'b [T]
    where
        'a: 'b,
    {
        match *self {
            Source::Slice(s) => &s[r],
            Source::Strided(s) => {
                store.clear();
                s.gather(r, store);
                store
            }
        }
    }

    /// Appends elements `r` to `out`.
    pub(crate) fn extend_into(&self, r: Range<usize>, out: &mut Vec<T>) {
        match self {
            Source::Slice(s) => out.extend_from_slice(&s[r]),
            Source::Strided(s) => s.gather(r, out),
        }
    }
}

impl<T: Copy> Strided<'_, T> {
    /// Appends elements `r` (within the view) to `out`, written once each:
    /// the room they take is not cleared first. Kept out of line, so that
    /// the leaves of contiguous calls stay as small as they were.
    #[inline(never)]
    fn gather(&self, r: Range<usize>, out: &mut Vec<T>) {
        assert!(r.end <= self.layout.len);
        let (at, len) = (out.len(), r.len());
        out.reserve(len);
        let room = &mut out.spare_capacity_mut()[..len];
        self.layout.runs(r, |k, offset, count, step| {
            let dst = &mut room[k..k + count];
            // SAFETY: every offset `runs` yields for elements within the
            // view (asserted above) is one of its elements.
            unsafe {
                let p = self.ptr.offset(offset);
                match step {
                    1 => {
                        let src = core::slice::from_raw_parts(p.cast::<MaybeUninit<T>>(), count);
                        dst.copy_from_slice(src);
                    }
                    2 => every::<T, 2>(p, dst),
                    3 => every::<T, 3>(p, dst),
                    4 => every::<T, 4>(p, dst),
                    _ => {
                        for (j, d) in dst.iter_mut().enumerate() {
                            d.write(*p.offset(j as isize * step));
                        }
                    }
                }
            }
        });
        // SAFETY: the runs of `r` cover its elements, so each of the `len`
        // elements after `at` was written.
        unsafe { out.set_len(at + len) };
    }
}

/// `dst.len()` elements from `p` on, `S` apart. A step known when compiled
/// lets the loads be vectorized (whole vectors, then shuffles).
///
/// # Safety
/// Those elements must be valid for reads.
#[inline(always)]
unsafe fn every<T: Copy, const S: usize>(p: *const T, dst: &mut [MaybeUninit<T>]) {
    let Some(last) = dst.len().checked_sub(1) else {
        return;
    };
    // SAFETY: the caller's promise, for elements 0, S, ... last * S.
    let src = unsafe { core::slice::from_raw_parts(p, last * S + 1) };
    for (d, c) in dst.iter_mut().zip(src.chunks(S)) {
        d.write(c[0]);
    }
}

/// An output: a slice, or a strided view written a block at a time.
#[derive(Debug)]
pub(crate) enum Sink<'a, T> {
    /// The elements, contiguous and in C order.
    Slice(&'a mut [T]),
    /// Elements `range` of a strided view. Only the `ndarray` API writes
    /// strided outputs: Python's are fresh arrays or a C-contiguous `out=`.
    #[cfg_attr(not(feature = "ndarray"), allow(dead_code))]
    Strided(StridedMut<'a, T>),
}

/// Elements [`range`](Self::range) (C order) of a view whose element at
/// offset `o` is at `ptr.offset(o)`.
#[derive(Debug)]
pub(crate) struct StridedMut<'a, T> {
    ptr: *mut T,
    layout: &'a Layout,
    range: Range<usize>,
    _data: PhantomData<&'a mut [T]>,
}

// SAFETY: a `StridedMut` is an exclusive borrow of the elements of its range
// (see `Sink::from_raw`; splits keep the ranges apart), which may go to
// another thread as `&mut [T]` may.
unsafe impl<T: Send> Send for StridedMut<'_, T> {}

impl<'a, T: Copy> Sink<'a, T> {
    /// The output of `layout` whose first element is at `ptr`: a slice when
    /// it is contiguous in C order.
    ///
    /// # Safety
    ///
    /// For every element of `layout`, `ptr` offset by its offset must be
    /// valid for reads and writes of a `T` during `'a`, not be accessed
    /// otherwise during `'a`, and be a different address from every other
    /// element's (no stride 0, no axes that overlap).
    #[cfg_attr(not(feature = "ndarray"), allow(dead_code))]
    pub(crate) unsafe fn from_raw(ptr: *mut T, layout: &'a Layout) -> Self {
        if layout.len == 0 {
            return Sink::Slice(&mut []);
        }
        if layout.contiguous() {
            // SAFETY: the caller's promise, for `len` elements one after another.
            return Sink::Slice(unsafe { core::slice::from_raw_parts_mut(ptr, layout.len) });
        }
        Sink::Strided(StridedMut {
            ptr,
            layout,
            range: 0..layout.len,
            _data: PhantomData,
        })
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        match self {
            Sink::Slice(s) => s.len(),
            Sink::Strided(s) => s.range.len(),
        }
    }
}

impl<T: Copy + Default> Sink<'_, T> {
    /// Where a leaf writes this output: in place, or into `store`, for
    /// [`finish`](Self::finish) to scatter.
    #[inline]
    pub(crate) fn buffer<'b>(&'b mut self, store: &'b mut Vec<T>) -> &'b mut [T] {
        match self {
            Sink::Slice(s) => s,
            Sink::Strided(s) => {
                store.resize(s.range.len(), T::default());
                store
            }
        }
    }

    /// Stores what [`buffer`](Self::buffer) put into `store`.
    #[inline]
    pub(crate) fn finish(&mut self, store: &[T]) {
        if let Sink::Strided(s) = self {
            s.scatter(store);
        }
    }
}

impl<T: Copy> StridedMut<'_, T> {
    /// Stores `values` (one per element of the range, in order).
    #[inline(never)]
    pub(crate) fn scatter(&mut self, values: &[T]) {
        assert_eq!(values.len(), self.range.len());
        self.layout
            .runs(self.range.clone(), |k, offset, count, step| {
                let src = &values[k..k + count];
                // SAFETY: each offset is one of this range's elements, which
                // this value borrows exclusively (see `Sink::from_raw`).
                unsafe {
                    let p = self.ptr.offset(offset);
                    for (j, &v) in src.iter().enumerate() {
                        *p.offset(j as isize * step) = v;
                    }
                }
            });
    }
}

impl<T: Send> Split for Sink<'_, T> {
    fn split(self, at: usize, len: usize) -> (Self, Self) {
        match self {
            Sink::Slice(s) => {
                let (a, b) = s.split(at, len);
                (Sink::Slice(a), Sink::Slice(b))
            }
            Sink::Strided(s) => {
                let StridedMut {
                    ptr, layout, range, ..
                } = s;
                let mid = match range.len().checked_div(len) {
                    Some(per) if per > 0 => range.start + at * per,
                    _ => range.end,
                };
                let part = |range| {
                    Sink::Strided(StridedMut {
                        ptr,
                        layout,
                        range,
                        _data: PhantomData,
                    })
                };
                (part(range.start..mid), part(mid..range.end))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gathered blocks equal the elements one at a time, for every step the
    /// gather treats apart (contiguous, 2 to 4, others, reversed, 0).
    #[test]
    fn gather_every_step() {
        let data: Vec<f32> = (0..4096).map(|i| i as f32).collect();
        for step in [-3isize, -2, -1, 0, 1, 2, 3, 4, 5, 7] {
            for len in [0usize, 1, 2, 3, 7, 8, 9, 31, 33, 100] {
                for outer in [1usize, 3] {
                    let inner_span = step.unsigned_abs() * len;
                    let shape = [outer, len];
                    let strides = [inner_span as isize + 1, step];
                    let layout = Layout::new("x", &shape, &strides).unwrap();
                    // The first element: where the lowest offset is not below 0.
                    let start = if step < 0 { inner_span } else { 0 };
                    // SAFETY: every offset stays within `data` (at most
                    // 3 * (inner_span + 1) elements from `start`).
                    let src = unsafe { Source::from_raw(data.as_ptr().add(start), &layout) };
                    let n = outer * len;
                    let one_by_one: Vec<f32> = (0..n).map(|i| src.get(i)).collect();
                    for from in [0, n / 3] {
                        let mut store = Vec::new();
                        let got = src.block(from..n, &mut store);
                        assert_eq!(
                            got,
                            &one_by_one[from..],
                            "step {step} len {len} outer {outer}"
                        );
                    }
                }
            }
        }
    }
}
