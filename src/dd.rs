//! Double-double arithmetic in `f64` (a value is `hi + lo`, about 106
//! significant bits), for the slower paths that repair a result which lost
//! its digits to cancellation in the compute dtype.
//!
//! Everything is branch-free and free of fused multiply-adds (products are
//! split à la Dekker), so that a lane loop over these functions vectorizes and
//! every SIMD level returns the same bits.

/// A double-double `hi + lo` with `|lo| ≤ ulp(hi)/2`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dd {
    pub(crate) hi: f64,
    pub(crate) lo: f64,
}

impl Dd {
    #[inline(always)]
    pub(crate) fn new(hi: f64) -> Self {
        Self { hi, lo: 0.0 }
    }
}

/// `a + b` exactly, as a sum and its rounding error (Knuth).
#[inline(always)]
fn two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    let bb = s - a;
    Dd {
        hi: s,
        lo: (a - (s - bb)) + (b - bb),
    }
}

/// `a + b` exactly when `|a| ≥ |b|` (or `a = 0`).
#[inline(always)]
fn fast_two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    Dd {
        hi: s,
        lo: b - (s - a),
    }
}

/// `a` as two halves of 26 bits each, for exact partial products
/// (`|a| < 2^996`).
#[inline(always)]
fn split(a: f64) -> (f64, f64) {
    let c = 134_217_729.0 * a; // 2^27 + 1
    let hi = c - (c - a);
    (hi, a - hi)
}

/// `a · b` exactly, as a product and its rounding error (Dekker).
#[inline(always)]
pub(crate) fn two_prod(a: f64, b: f64) -> Dd {
    let p = a * b;
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    Dd {
        hi: p,
        lo: ((ah * bh - p) + ah * bl + al * bh) + al * bl,
    }
}

/// `1 − t`, exactly.
#[inline(always)]
pub(crate) fn one_minus(t: f64) -> Dd {
    two_sum(1.0, -t)
}

#[inline(always)]
pub(crate) fn add(a: Dd, b: Dd) -> Dd {
    let s = two_sum(a.hi, b.hi);
    fast_two_sum(s.hi, s.lo + (a.lo + b.lo))
}

#[inline(always)]
pub(crate) fn neg(a: Dd) -> Dd {
    Dd {
        hi: -a.hi,
        lo: -a.lo,
    }
}

#[inline(always)]
pub(crate) fn mul(a: Dd, b: Dd) -> Dd {
    let p = two_prod(a.hi, b.hi);
    fast_two_sum(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi))
}

/// `1/n!` for `n ≤ 7` in double-double, as `(hi, lo)`.
pub(crate) const INV_FACT: [(f64, f64); 8] = [
    (1.0, 0.0),
    (1.0, 0.0),
    (0.5, 0.0),
    (0.166_666_666_666_666_66, 9.251_858_538_542_97e-18),
    (0.041_666_666_666_666_664, 2.312_964_634_635_742_7e-18),
    (0.008_333_333_333_333_333, 1.156_482_317_317_871_4e-19),
    (0.001_388_888_888_888_889, -5.300_543_954_373_577e-20),
    (0.000_198_412_698_412_698_4, 1.720_955_829_342_070_5e-22),
];

/// `e^z − 1` for `|z| ≤ 2^-20`, to about 2^-106 relative: its Taylor series
/// to degree 6 in double-double.
pub(crate) fn expm1_tiny(z: f64) -> Dd {
    let mut p = Dd::new(INV_FACT[6].0);
    for &(hi, lo) in INV_FACT[1..6].iter().rev() {
        p = add(Dd { hi, lo }, mul(Dd::new(z), p));
    }
    mul(Dd::new(z), p)
}

/// The three parts of ln 2 (138 bits) for the extra-precise exps here and in
/// [`crate::fixed`]: `k·LN2_HI` is exact for the `k` they meet, `k·LN2_MID`
/// is exact as a [`two_prod`], `k·LN2_LO` is beyond their precision.
pub(crate) const LN2_HI: f64 = crate::math::LN2_HI_F64; // 32 significant bits
pub(crate) const LN2_MID: f64 = crate::math::LN2_LO_F64;
pub(crate) const LN2_LO: f64 = 1.161_222_722_936_253_2e-26; // ln 2 − HI − MID

/// 1.5 · 2^52: adding it rounds an `f64` below 2^51 in magnitude to an
/// integer, which then sits in the low bits.
const MAGIC: f64 = 6_755_399_441_055_744.0;

/// `2^j` for an integer-valued `j` in `[−1022, 1023]`.
#[inline(always)]
fn pow2(j: f64) -> f64 {
    f64::from_bits(((j + 1023.0 + MAGIC).to_bits() & 0x7ff) << 52)
}

/// `a · 2^k` for an integer-valued `k` with `|k| ≤ 2040`, as two exact
/// scalings by powers of two (exact unless the result is subnormal).
#[inline(always)]
pub(crate) fn ldexp(a: Dd, k: f64) -> Dd {
    // k1 = ⌊k/2⌋ (k/2 − 1/4 rounded to nearest), k2 = ⌈k/2⌉.
    let k1 = (k * 0.5 - 0.25 + MAGIC) - MAGIC;
    let (p1, p2) = (pow2(k1), pow2(k - k1));
    Dd {
        hi: a.hi * p1 * p2,
        lo: a.lo * p1 * p2,
    }
}

/// `e^y = 2^k · m` for `−1400 ≤ y ≤ 0` (clamped there), with `m ∈ [√2/2,
/// √2]` to about 2^-76 relative, returned as `(m, k)`: enough for a
/// difference that cancels to 2^-20 of its terms to keep 2^-55.
///
/// `y = k·ln 2 + r` with ln 2 in three parts (the first times `k` and its
/// difference from `y` are exact), then the Taylor series of `e^r` in
/// Horner's form: `f64` for the terms below 2^-22 (degree 8 to 18), double-
/// double for the first ones. Fixed trip counts and no division, so that it
/// unrolls and a lane loop around it vectorizes.
#[inline(always)]
pub(crate) fn exp(y: f64) -> (Dd, f64) {
    let y = if y < -1400.0 { -1400.0 } else { y };
    let k = (y * core::f64::consts::LOG2_E + MAGIC) - MAGIC;
    let r = y - k * LN2_HI;
    let r = add(Dd::new(r), neg(two_prod(k, LN2_MID)));
    let r = add(r, Dd::new(-k * LN2_LO));
    // 1/n! for n = 8..18 in f64 (n ≤ 7: INV_FACT).
    const TAIL: [f64; 11] = [
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
        1.0 / 87_178_291_200.0,
        1.0 / 1_307_674_368_000.0,
        1.0 / 20_922_789_888_000.0,
        1.0 / 355_687_428_096_000.0,
        1.0 / 6_402_373_705_728_000.0,
    ];
    let mut tail = 0.0;
    for &c in TAIL.iter().rev() {
        tail = tail * r.hi + c;
    }
    let mut p = Dd::new(tail);
    for &(hi, lo) in INV_FACT.iter().rev() {
        p = add(Dd { hi, lo }, mul(r, p));
    }
    (p, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x = m · 2^e` with an integer `m`.
    fn parts(x: f64) -> (i128, i32) {
        let bits = x.to_bits();
        let e = ((bits >> 52) & 0x7ff) as i32;
        let m = (bits & ((1 << 52) - 1)) | (1 << 52);
        let m = if bits >> 63 == 1 {
            -(m as i128)
        } else {
            m as i128
        };
        (m, e - 1075)
    }

    #[test]
    fn two_prod_is_exact() {
        for (a, b) in [
            (0.1, 3.0 / 7.0),
            (-1.0 / 3.0, 2.0f64.sqrt()),
            (1e10 + 1.0, 1e-7),
        ] {
            let p = two_prod(a, b);
            let ((ma, ea), (mb, eb)) = (parts(a), parts(b));
            let ((mh, eh), (ml, el)) = (parts(p.hi), parts(p.lo));
            // a·b = hi + lo, all scaled to the exponent of a·b.
            let e = (ea + eb).min(eh).min(el);
            let at = |m: i128, x: i32| m << (x - e);
            assert_eq!(at(ma * mb, ea + eb), at(mh, eh) + at(ml, el), "{a} · {b}");
        }
    }

    #[test]
    fn expm1_tiny_keeps_every_digit() {
        // e^z − 1 = z + z²/2 + …: for z = ±2^-30 the second term is 2^-31
        // of the first; against the series summed in plain f64 with the
        // first term split off exactly.
        for z in [
            1e-300,
            -1e-300,
            2f64.powi(-30),
            -(2f64.powi(-30)),
            9e-7,
            -9e-7,
        ] {
            let m = expm1_tiny(z);
            let rest = z * z / 2.0 + z * z * z / 6.0 + z * z * z * z / 24.0;
            let d = add(m, Dd::new(-z));
            assert!(((d.hi + d.lo) - rest).abs() <= rest.abs() * 1e-15, "{z:e}");
        }
    }

    #[test]
    fn ldexp_reaches_both_ends() {
        assert_eq!(ldexp(Dd::new(1.5), -2000.0).hi, 0.0);
        assert_eq!(ldexp(Dd::new(1.5), -1074.0).hi, f64::from_bits(2)); // 2^-1073
        assert_eq!(
            ldexp(Dd::new(0.75), 1024.0).hi,
            0.75 * 2f64.powi(1023) * 2.0
        );
        assert_eq!(ldexp(Dd::new(1.0), -7.0).hi, 1.0 / 128.0);
        assert_eq!(ldexp(Dd::new(3.0), 0.0).hi, 3.0);
    }

    #[test]
    fn exp_agrees_with_std_and_with_itself_to_75_bits() {
        // hi within 1 ulp of std's exp (itself within 1 ulp).
        let mut y = -745.0;
        while y <= 0.0 {
            let (m, k) = exp(y);
            let got = ldexp(m, k).hi;
            let want = y.exp();
            let d = (want.to_bits() as i64 - got.to_bits() as i64).abs();
            assert!(d <= 1, "exp({y}) = {got:e}, std {want:e}");
            y += 0.734_567;
        }
        // e^(−a)² = e^(−2a) to about 2^-75, which no f64 evaluation could show.
        for a in [1e-300, 1e-9, 0.1, 0.5, 1.0, 3.7, 20.0, 300.0, 700.0] {
            let (m1, k1) = exp(-a);
            let (m2, k2) = exp(-2.0 * a);
            let d = add(ldexp(mul(m1, m1), 2.0 * k1 - k2), neg(m2));
            assert!(
                (d.hi / m2.hi).abs() < 2f64.powi(-75),
                "a = {a}: {:e}",
                d.hi / m2.hi
            );
        }
    }
}
