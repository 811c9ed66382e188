//! Arrays read and written where they lie: any number of axes, any strides
//! (negative and zero ones included), taken in C order a block at a time, so
//! that the kernels, which run on slices, never need a contiguous copy of a
//! whole argument.

use core::marker::PhantomData;
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
                assert!(r.end <= s.layout.len);
                store.clear();
                store.resize(r.len(), T::default());
                s.gather(r, store);
                store
            }
        }
    }

    /// Appends elements `r` to `out`.
    pub(crate) fn extend_into(&self, r: Range<usize>, out: &mut Vec<T>) {
        match self {
            Source::Slice(s) => out.extend_from_slice(&s[r]),
            Source::Strided(s) => {
                assert!(r.end <= s.layout.len);
                let at = out.len();
                out.resize(at + r.len(), T::default());
                s.gather(r, &mut out[at..]);
            }
        }
    }
}

impl<T: Copy> Strided<'_, T> {
    /// Elements `r` (within the view) into `out` (of `r.len()`). Kept out
    /// of line, so that the leaves of contiguous calls stay as small as
    /// they were.
    #[inline(never)]
    fn gather(&self, r: Range<usize>, out: &mut [T]) {
        self.layout.runs(r, |k, offset, count, step| {
            let dst = &mut out[k..k + count];
            // SAFETY: every offset `runs` yields for elements within the
            // view (checked by the callers) is one of its elements.
            unsafe {
                let p = self.ptr.offset(offset);
                if step == 1 {
                    dst.copy_from_slice(core::slice::from_raw_parts(p, count));
                } else {
                    for (j, d) in dst.iter_mut().enumerate() {
                        *d = *p.offset(j as isize * step);
                    }
                }
            }
        });
    }
}

/// An output: a slice, or a strided view written a block at a time.
#[derive(Debug)]
pub(crate) enum Sink<'a, T> {
    /// The elements, contiguous and in C order.
    Slice(&'a mut [T]),
    /// Elements `range` of a strided view.
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
