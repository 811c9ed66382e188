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

/// A number `m·2^(e − 126)`, `m` normalised to `[2^125, 2^126)` in
/// magnitude (or 0): 125 bits over any exponent range, for the sums whose
/// terms differ in scale by more than fixed point spans (`e^(−|x|)` next to
/// a cross-entropy of hundreds). Operations truncate, to 2^-124 of their
/// result (a sum: of its larger operand).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Big {
    m: i128,
    e: i32,
}

impl Big {
    pub(crate) const ZERO: Big = Big { m: 0, e: 0 };

    /// `m·2^(e − 126)` normalised.
    fn norm(m: i128, e: i32) -> Big {
        if m == 0 {
            return Big::ZERO;
        }
        let s = m.unsigned_abs().leading_zeros() as i32 - 2;
        if s >= 0 {
            Big {
                m: m << s,
                e: e - s,
            }
        } else {
            Big {
                m: m >> -s,
                e: e - s,
            }
        }
    }

    /// `v` exactly (finite `v`; anything else is 0).
    pub(crate) fn from_f64(v: f64) -> Big {
        if !v.is_finite() {
            return Big::ZERO;
        }
        let bits = v.to_bits();
        let field = ((bits >> 52) & 0x7ff) as i32;
        let frac = (bits & ((1 << 52) - 1)) as i128;
        let (m, e) = if field == 0 {
            (frac, -1074)
        } else {
            (frac | (1 << 52), field - 1075)
        };
        Big::norm(if v < 0.0 { -m } else { m }, e + BITS)
    }

    /// `e^y` for `y ≤ 0` (to 2^-120, from [`exp`]).
    pub(crate) fn exp(y: f64) -> Big {
        let (m, k) = exp(y);
        Big::norm(m, k as i32)
    }

    /// `m·2^s` as an `f64` (`m` an integer below 2^127 in magnitude).
    fn scaled(m: i128, s: i32) -> f64 {
        let (a, b) = (s / 2, s - s / 2);
        m as f64 * 2f64.powi(a) * 2f64.powi(b)
    }

    /// The value as a double-double (hi rounded to nearest, lo the rest).
    pub(crate) fn to_dd(self) -> crate::dd::Dd {
        let hi = self.m as f64;
        let lo = self.m - hi as i128;
        crate::dd::Dd {
            hi: Big::scaled(hi as i128, self.e - BITS),
            lo: Big::scaled(lo, self.e - BITS),
        }
    }

    pub(crate) fn to_f64(self) -> f64 {
        Big::scaled(self.m, self.e - BITS)
    }

    pub(crate) fn add(self, b: Big) -> Big {
        let (hi, lo) = if self.m == 0 || (b.m != 0 && b.e > self.e) {
            (b, self)
        } else {
            (self, b)
        };
        let d = hi.e - lo.e;
        let lm = if lo.m == 0 || d >= 127 { 0 } else { lo.m >> d };
        Big::norm(hi.m + lm, hi.e)
    }

    pub(crate) fn neg(self) -> Big {
        Big {
            m: -self.m,
            e: self.e,
        }
    }

    pub(crate) fn sub(self, b: Big) -> Big {
        self.add(b.neg())
    }

    pub(crate) fn mul(self, b: Big) -> Big {
        Big::norm(mul(self.m, b.m), self.e + b.e)
    }

    /// `self / n` for a small positive integer `n`.
    fn div_int(self, n: i128) -> Big {
        Big::norm(self.m / n, self.e)
    }

    /// `1 / self` (nonzero, its `f64` reciprocal finite and normal): two
    /// Newton steps from the `f64` one.
    pub(crate) fn recip(self) -> Big {
        let two = Big::from_f64(2.0);
        let mut y = Big::from_f64(1.0 / self.to_f64());
        for _ in 0..2 {
            y = y.mul(two.sub(self.mul(y)));
        }
        y
    }

    /// `ln(1 + self)` for `self ∈ [0, 1]`: `2·atanh(z)`, `z = e/(2 + e) ≤ 1/3`,
    /// by its series, every term positive (so relative to the result, however
    /// small `self` is).
    pub(crate) fn ln_1p(self) -> Big {
        let z = self.mul(Big::from_f64(2.0).add(self).recip());
        let z2 = z.mul(z);
        let (mut term, mut sum) = (z, z);
        for n in 1..=40 {
            term = term.mul(z2);
            sum = sum.add(term.div_int(2 * n + 1));
        }
        sum.add(sum)
    }
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

    #[test]
    fn big_round_trips_and_keeps_small_terms() {
        for v in [1.0, -0.3, 1e-300, 5e-324, 1e300, -7.25] {
            assert_eq!(Big::from_f64(v).to_f64(), v);
        }
        // (1 + 2^-100) − 1 across exponents, and 1e-200·1e-200 / 1e-200.
        let one = Big::from_f64(1.0);
        let tiny = Big::from_f64(2f64.powi(-100));
        assert_eq!(one.add(tiny).sub(one).to_f64(), 2f64.powi(-100));
        let a = Big::from_f64(3e-200);
        let q = a.mul(a).mul(a.recip()).to_f64();
        assert!((q - 3e-200).abs() < 3e-215, "{q:e}");
        // ln(1 + e) against std, and the double-double of 1/3.
        for e in [1e-300, 1e-9, 0.1, 0.5, 1.0] {
            let got = Big::from_f64(e).ln_1p().to_f64();
            let want = e.ln_1p();
            assert!((got - want).abs() <= want * 2e-16, "{e}: {got:e} {want:e}");
        }
        let third = Big::from_f64(3.0).recip().to_dd();
        assert_eq!(third.hi, 1.0 / 3.0);
        assert!((third.lo - (-3.0f64).mul_add(third.hi, 1.0) / 3.0).abs() < 1e-32);
    }
}
