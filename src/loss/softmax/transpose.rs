//! How a group of small rows becomes one lane vector per class, and back:
//! `lanes[k][l]` = element `k` of row `l`, the layout of [`small_rows`].

use super::{Float, Level, LANES, SMALL};

/// Whether a group goes through the registers: a full group of `f32` rows
/// at `avx512` (16 masked loads or stores and 64 shuffles per 16 classes;
/// LLVM makes the element-by-element loops neither gathers nor shuffles).
#[inline(always)]
fn in_registers<T>(level: Level, n: usize) -> bool {
    cfg!(target_arch = "x86_64")
        && level == Level::Avx512
        && n == LANES
        && core::mem::size_of::<T>() == 4
}

/// `lanes[k][l] = x[l·c + k]` for `k < c ≤ SMALL` and `l < n ≤ LANES`;
/// `x` starts at the group's first row.
#[inline(always)]
pub(super) fn rows<T: Float>(
    level: Level,
    x: &[T],
    c: usize,
    n: usize,
    lanes: &mut [[T; LANES]; SMALL],
) {
    assert!(c <= SMALL && n <= LANES && x.len() >= n * c);
    if in_registers::<T>(level, n) {
        // SAFETY: `Float` is sealed to f32 and f64, so a 4-byte T is f32;
        // `level` is capped to what the CPU has (see `Plan::level`), so
        // AVX-512 F is there; `x[..16·c]` is readable (asserted) and
        // `lanes` has room for `c ≤ 32` vectors of 16.
        #[cfg(target_arch = "x86_64")]
        return unsafe { avx512::rows16(x.as_ptr().cast(), c, lanes.as_mut_ptr().cast()) };
    }
    for l in 0..n {
        for (k, &z) in x[l * c..l * c + c].iter().enumerate() {
            lanes[k][l] = z;
        }
    }
}

/// The converse of [`rows`]: `out[l·c + k] = lanes[k][l]`; nothing else of
/// `out` is written.
#[inline(always)]
pub(super) fn unrows<T: Float>(
    level: Level,
    lanes: &[[T; LANES]; SMALL],
    c: usize,
    n: usize,
    out: &mut [T],
) {
    assert!(c <= SMALL && n <= LANES && out.len() >= n * c);
    if in_registers::<T>(level, n) {
        // SAFETY: as in `rows`, with `out[..16·c]` writable (asserted).
        #[cfg(target_arch = "x86_64")]
        return unsafe { avx512::unrows16(lanes.as_ptr().cast(), c, out.as_mut_ptr().cast()) };
    }
    for l in 0..n {
        for (k, d) in out[l * c..l * c + c].iter_mut().enumerate() {
            *d = lanes[k][l];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    /// The 16×16 transposition of `r` (row `l` becomes lane `l` of every
    /// vector): 32-bit, 64-bit, 128-bit and 256-bit interleaves.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose(mut r: [__m512; 16]) -> [__m512; 16] {
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        for b in (0..16).step_by(4) {
            let d = |v: __m512| _mm512_castps_pd(v);
            let (a0, a1, a2, a3) = (d(t[b]), d(t[b + 1]), d(t[b + 2]), d(t[b + 3]));
            r[b] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
            r[b + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
            r[b + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
            r[b + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
        }
        for b in [0, 8] {
            for j in 0..4 {
                t[b + j] = _mm512_shuffle_f32x4::<0x88>(r[b + j], r[b + 4 + j]);
                t[b + 4 + j] = _mm512_shuffle_f32x4::<0xdd>(r[b + j], r[b + 4 + j]);
            }
        }
        for j in 0..8 {
            r[j] = _mm512_shuffle_f32x4::<0x88>(t[j], t[8 + j]);
            r[8 + j] = _mm512_shuffle_f32x4::<0xdd>(t[j], t[8 + j]);
        }
        r
    }

    /// The mask of the first `cols ≤ 16` lanes.
    #[inline(always)]
    fn first(cols: usize) -> __mmask16 {
        ((1u32 << cols) - 1) as __mmask16
    }

    /// The 16 rows of `c ≤ 32` f32 at `x` (row `l` at `x + l·c`), transposed
    /// into `lanes[..c]`: columns 0..16, then 16..c.
    ///
    /// # Safety
    /// AVX-512 F must be there; `x[..16·c]` readable; `lanes[..c]` writable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rows16(x: *const f32, c: usize, lanes: *mut [f32; 16]) {
        for first_col in (0..c).step_by(16) {
            let cols = (c - first_col).min(16);
            let mut r = [_mm512_setzero_ps(); 16];
            for (l, rl) in r.iter_mut().enumerate() {
                // SAFETY: the contract: row `l`'s columns `first_col..`
                // `first_col + cols` are readable; masked-off lanes are not
                // read.
                *rl = unsafe { _mm512_maskz_loadu_ps(first(cols), x.add(l * c + first_col)) };
            }
            for (k, v) in transpose(r).iter().enumerate().take(cols) {
                // SAFETY: the contract: `lanes[..c]` is writable.
                unsafe { _mm512_storeu_ps(lanes.add(first_col + k).cast(), *v) };
            }
        }
    }

    /// The converse of [`rows16`]: `lanes[..c]` into the 16 rows of `c` at
    /// `out`.
    ///
    /// # Safety
    /// AVX-512 F must be there; `lanes[..c]` readable; `out[..16·c]`
    /// writable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn unrows16(lanes: *const [f32; 16], c: usize, out: *mut f32) {
        for first_col in (0..c).step_by(16) {
            let cols = (c - first_col).min(16);
            let mut r = [_mm512_setzero_ps(); 16];
            for (k, rk) in r.iter_mut().enumerate().take(cols) {
                // SAFETY: the contract: `lanes[..c]` is readable.
                *rk = unsafe { _mm512_loadu_ps(lanes.add(first_col + k).cast()) };
            }
            for (l, v) in transpose(r).iter().enumerate() {
                // SAFETY: the contract: row `l`'s columns `first_col..`
                // `first_col + cols` are writable; masked-off lanes are not
                // written.
                unsafe { _mm512_mask_storeu_ps(out.add(l * c + first_col), first(cols), *v) };
            }
        }
    }
}
