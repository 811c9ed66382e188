//! How a group of small rows becomes one lane vector per class:
//! `out[k][l]` = element `k` of row `l`, the layout of [`small_rows`].

use super::{Float, Level, LANES, SMALL};

/// `out[k][l] = x[l·c + k]` for `k < c ≤ SMALL` and `l < n ≤ LANES`; `x`
/// starts at the group's first row. At `avx512` a full group of `f32` rows
/// is transposed in registers (16 masked loads and 64 shuffles per 16
/// classes); anything else moves one element at a time.
#[inline(always)]
pub(super) fn rows<T: Float>(
    level: Level,
    x: &[T],
    c: usize,
    n: usize,
    out: &mut [[T; LANES]; SMALL],
) {
    assert!(c <= SMALL && n <= LANES && x.len() >= n * c);
    #[cfg(target_arch = "x86_64")]
    if level == Level::Avx512 && n == LANES && core::mem::size_of::<T>() == 4 {
        // SAFETY: `Float` is sealed to f32 and f64, so a 4-byte T is f32;
        // `level` is capped to what the CPU has (see `Plan::level`), so
        // AVX-512 F is there; the masked loads read `x[l·c..l·c + c]` for
        // `l < 16` only, within `x` (asserted), and `out` has room for
        // `c ≤ 32` vectors of 16.
        unsafe { avx512::rows16(x.as_ptr().cast(), c, out.as_mut_ptr().cast()) };
        return;
    }
    let _ = level;
    for l in 0..n {
        for (k, &z) in x[l * c..l * c + c].iter().enumerate() {
            out[k][l] = z;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    /// Columns `0..cols` (`cols ≤ 16`) of 16 rows of `c` f32 each from `x`
    /// into `out[..cols]`: the usual 4-stage transposition (32-bit, 64-bit,
    /// 128-bit and 256-bit interleaves) of the 16 rows as loaded, with the
    /// columns past `cols` masked off (not read).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn block(x: *const f32, c: usize, cols: usize, out: *mut [f32; 16]) {
        let mask = ((1u32 << cols) - 1) as __mmask16;
        let mut r = [_mm512_setzero_ps(); 16];
        for (l, rl) in r.iter_mut().enumerate() {
            // SAFETY: the caller's (`rows16`): row `l` starts at `x + l·c`
            // and has at least `cols` readable elements; the masked-off
            // lanes are not read.
            *rl = unsafe { _mm512_maskz_loadu_ps(mask, x.add(l * c)) };
        }
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
        for (k, rk) in r.iter().enumerate().take(cols) {
            // SAFETY: the caller's: `out[..cols]` is writable.
            unsafe { _mm512_storeu_ps(out.add(k).cast(), *rk) };
        }
    }

    /// The 16 rows of `c ≤ 32` f32 at `x` (row `l` at `x + l·c`), transposed
    /// into `out[..c]`: columns 0..16, then 16..c.
    ///
    /// # Safety
    /// AVX-512 F must be there; `x[..16·c]` readable; `out[..c]` writable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rows16(x: *const f32, c: usize, out: *mut [f32; 16]) {
        // SAFETY: this function's contract; the second block reads columns
        // 16..c of each row and writes `out[16..c]`.
        unsafe {
            block(x, c, c.min(16), out);
            if c > 16 {
                block(x.add(16), c, c - 16, out.add(16));
            }
        }
    }
}
