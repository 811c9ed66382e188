//! Fixed-point numbers with 126 fractional bits in an `i128` (|value| < 2),
//! and `e^y` to about 2^-120: the last resort of a result that cancels
//! beyond what double-double can carry. Scalar and slow (a few hundred
//! nanoseconds), for the rare elements that need it.

/// Fractional bits.
const BITS: i32 = 126;

/// `v` (|v| < 2) in fixed point, truncated toward zero.
pub(crate) fn from_f64(v: f64) -> i128 {
    // The scaling is exact; the float → integer cast truncates (saturates
    // out of range instead of panicking).
    (v * 2f64.powi(BITS)) as i128
}

/// `v` as the nearest `f64`.
pub(crate) fn to_f64(v: i128) -> f64 {
    v as f64 * 2f64.powi(-BITS)
}

/// `a · b`, truncated toward zero (|a·b| < 2).
pub(crate) fn mul(a: i128, b: i128) -> i128 {
    const LOW: u128 = u64::MAX as u128;
    let negative = (a < 0) != (b < 0);
    let (a, b) = (a.unsigned_abs(), b.unsigned_abs());
    let (a1, a0, b1, b0) = (a >> 64, a & LOW, b >> 64, b & LOW);
    // The 256-bit product hi·2^128 + lo, from four 128-bit partial products.
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    let mid = (p00 >> 64).wrapping_add(p01 & LOW).wrapping_add(p10 & LOW);
    let lo = (p00 & LOW) | (mid << 64);
    let hi = p11
        .wrapping_add(p01 >> 64)
        .wrapping_add(p10 >> 64)
        .wrapping_add(mid >> 64);
    let r = ((hi << (128 - BITS)) | (lo >> BITS)) as i128;
    if negative {
        r.wrapping_neg()
    } else {
        r
    }
}

/// `e^y = 2^k · m` for `y ≤ 0` (clamped at −1400), `m ∈ [√2/2, √2]` in fixed
/// point to about 2^-120, returned as `(m, k)`.
///
/// `y = k·ln 2 + r`: `ln 2` in three `f64` parts (138 bits), whose products
/// with `k` are exact or beyond 2^-126, summed in fixed point; then the
/// Taylor series of `e^r` (|r| ≤ 0.35) to degree 27.
pub(crate) fn exp(y: f64) -> (i128, f64) {
    use crate::dd::{LN2_HI, LN2_LO, LN2_MID};
    let y = y.max(-1400.0);
    let k = (y * core::f64::consts::LOG2_E).round();
    let mid = crate::dd::two_prod(k, LN2_MID);
    let r = from_f64(y - k * LN2_HI) // exact: k has 11 bits, HI 32
        - from_f64(mid.hi)
        - from_f64(mid.lo)
        - from_f64(k * LN2_LO);
    let one = 1i128 << BITS;
    let (mut term, mut sum) = (one, one);
    for n in 1..=27 {
        term = mul(term, r) / n;
        sum += term;
    }
    (sum, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_agrees_with_f64_and_keeps_the_low_bits() {
        for (a, b) in [(0.75, -1.25), (-0.3, -0.6), (1.0, 1.0), (1.9, 0.5)] {
            assert_eq!(to_f64(mul(from_f64(a), from_f64(b))), a * b);
        }
        // (1 + 2^-100)² = 1 + 2^-99 + 2^-200: the 2^-99 survives.
        let x = from_f64(1.0) + (1i128 << (BITS - 100));
        assert_eq!(mul(x, x) - from_f64(1.0), 1i128 << (BITS - 99));
    }

    #[test]
    fn exp_agrees_with_std_and_with_itself_to_120_bits() {
        let mut y = -745.0;
        while y <= 0.0 {
            let (m, k) = exp(y);
            let got = to_f64(m) * 2f64.powf(k);
            let want = y.exp();
            let d = (want.to_bits() as i64 - got.to_bits() as i64).abs();
            assert!(d <= 1, "exp({y}) = {got:e}, std {want:e}");
            y += 0.734_567;
        }
        // e^(−a)² = e^(−2a), to 2^-118 (mantissas compared after the same
        // power of two).
        for a in [1e-300, 1e-9, 0.1, 0.3, 0.5, 1.0, 3.7, 20.0, 300.0, 700.0] {
            let (m1, k1) = exp(-a);
            let (m2, k2) = exp(-2.0 * a);
            let sq = mul(m1, m1);
            let shift = (2.0 * k1 - k2) as i32;
            let sq = if shift >= 0 {
                sq << shift
            } else {
                sq >> -shift
            };
            let diff = to_f64(sq - m2).abs();
            assert!(diff < 2f64.powi(-118), "a = {a}: {diff:e}");
        }
    }
}
