//! Double- and triple-double arithmetic in `f64` (a value is the sum of two
//! or three `f64`, about 106 or 159 significant bits), for the slower paths
//! that repair a result which lost its digits to cancellation in the compute
//! dtype.
//!
//! Everything is branch-free, so that a lane loop over these functions
//! vectorizes. Exact products take one fused multiply-add, rounded once at
//! every SIMD level (an instruction with AVX2 and AVX-512, libm's correctly
//! rounded `fma` at the SSE2 baseline, as in [`crate::math`]), so every level
//! returns the same bits. Dekker's two-product, which needs no FMA, takes
//! seventeen operations instead of two, and two-products are most of what
//! [`exp_parts`] does. Nothing else is fused: at the baseline each FMA is a
//! call.

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
pub(crate) fn two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    let bb = s - a;
    Dd {
        hi: s,
        lo: (a - (s - bb)) + (b - bb),
    }
}

/// `a + b` exactly when `|a| ≥ |b|` (or `a = 0`).
#[inline(always)]
pub(crate) fn fast_two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    Dd {
        hi: s,
        lo: b - (s - a),
    }
}

/// `a · b` exactly, as a product and its rounding error (exact unless the
/// error is below the normals).
#[inline(always)]
pub(crate) fn two_prod(a: f64, b: f64) -> Dd {
    let p = a * b;
    Dd {
        hi: p,
        lo: a.mul_add(b, -p),
    }
}

/// `n / d` rounded to `f64`, within 2^-100 of the quotient of the two
/// double-doubles (`d.hi` normal).
#[inline(always)]
pub(crate) fn div(n: Dd, d: Dd) -> f64 {
    let q = n.hi / d.hi;
    // n − q·d, its leading part exact.
    let r = (-q).mul_add(d.hi, n.hi) + (n.lo - q * d.lo);
    q + r / d.hi
}

/// `1 − t`, exactly.
#[inline(always)]
pub(crate) fn one_minus(t: f64) -> Dd {
    two_sum(1.0, -t)
}

#[inline(always)]
pub(crate) fn neg(a: Dd) -> Dd {
    Dd {
        hi: -a.hi,
        lo: -a.lo,
    }
}

/// `a + b` to about 2^-104 of the larger operand (both parts of each
/// operand summed exactly before the low parts are rounded): safe where the
/// sum cancels.
#[inline(always)]
pub(crate) fn add(a: Dd, b: Dd) -> Dd {
    let s = two_sum(a.hi, b.hi);
    let t = two_sum(a.lo, b.lo);
    let u = fast_two_sum(s.hi, s.lo + t.hi);
    fast_two_sum(u.hi, u.lo + t.lo)
}

/// `a − b`, as [`add`].
#[inline(always)]
pub(crate) fn sub(a: Dd, b: Dd) -> Dd {
    add(a, neg(b))
}

/// `a · b` to about 2^-104 of itself.
#[inline(always)]
pub(crate) fn mul(a: Dd, b: Dd) -> Dd {
    let p = two_prod(a.hi, b.hi);
    fast_two_sum(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi))
}

/// `a · b` for an `f64` `b`, as [`mul`].
#[inline(always)]
pub(crate) fn mul_f(a: Dd, b: f64) -> Dd {
    let p = two_prod(a.hi, b);
    fast_two_sum(p.hi, p.lo + a.lo * b)
}

/// `n / d` to about 2^-104 of itself (`d.hi` normal).
#[inline(always)]
pub(crate) fn quo(n: Dd, d: Dd) -> Dd {
    let q = n.hi / d.hi;
    let r = sub(n, mul_f(d, q));
    fast_two_sum(q, r.hi / d.hi)
}

/// `e^y` for `y ≤ 0` as a double-double: [`exp_parts`], scaled (to 2^-117
/// of itself when `WIDE`, 2^-68 otherwise).
#[inline(always)]
pub(crate) fn exp<const WIDE: bool>(y: f64) -> Dd {
    let (eps, k) = exp_parts::<WIDE>(y);
    let one = two_sum(1.0, eps.hi);
    let m = fast_two_sum(one.hi, one.lo + (eps.mid + eps.lo));
    ldexp(m, k)
}

/// `1/n!` for `n ≤ 25` in triple-double, as `[hi, mid, lo]` (together to
/// about 2^-160 relative).
pub(crate) const INV_FACT: [[f64; 3]; 26] = [
    [1.0, 0.0, 0.0],
    [1.0, 0.0, 0.0],
    [0.5, 0.0, 0.0],
    [
        0.166_666_666_666_666_66,
        9.251_858_538_542_97e-18,
        5.135_813_185_032_629e-34,
    ],
    [
        0.041_666_666_666_666_664,
        2.312_964_634_635_742_7e-18,
        1.283_953_296_258_157_2e-34,
    ],
    [
        0.008_333_333_333_333_333,
        1.156_482_317_317_871_4e-19,
        1.604_941_620_322_696_5e-36,
    ],
    [
        0.001_388_888_888_888_889,
        -5.300_543_954_373_577e-20,
        -1.738_686_755_349_587_8e-36,
    ],
    [
        0.000_198_412_698_412_698_4,
        1.720_955_829_342_070_5e-22,
        1.492_691_239_139_412_7e-40,
    ],
    [
        2.480_158_730_158_73e-5,
        2.151_194_786_677_588_2e-23,
        1.865_864_048_924_266e-41,
    ],
    [
        2.755_731_922_398_589_3e-6,
        -1.858_393_274_046_472e-22,
        8.491_754_604_881_993e-39,
    ],
    [
        2.755_731_922_398_589e-7,
        2.376_771_462_225_029_7e-23,
        -3.263_188_903_340_883e-40,
    ],
    [
        2.505_210_838_544_172e-8,
        -1.448_814_070_935_912e-24,
        2.042_673_514_671_445_5e-41,
    ],
    [
        2.087_675_698_786_81e-9,
        -1.207_345_059_113_26e-25,
        1.702_227_928_892_871e-42,
    ],
    [
        1.605_904_383_682_161_3e-10,
        1.258_529_458_875_209_8e-26,
        -5.313_346_027_629_85e-43,
    ],
    [
        1.147_074_559_772_972_5e-11,
        2.065_551_275_283_074_5e-28,
        6.889_079_232_466_646e-45,
    ],
    [
        7.647_163_731_819_816e-13,
        7.038_728_777_334_53e-30,
        -7.827_539_277_162_583e-48,
    ],
    [
        4.779_477_332_387_385e-14,
        4.399_205_485_834_081e-31,
        -4.892_212_048_226_615e-49,
    ],
    [
        2.811_457_254_345_520_6e-15,
        1.650_884_273_086_143_3e-31,
        -2.877_771_793_074_479e-50,
    ],
    [
        1.561_920_696_858_622_5e-16,
        1.191_067_966_027_375_4e-32,
        -4.577_506_059_629_983e-49,
    ],
    [
        8.220_635_246_624_33e-18,
        2.214_189_411_960_426_5e-34,
        -1.508_914_023_774_199e-50,
    ],
    [
        4.110_317_623_312_165e-19,
        1.441_297_337_865_952_7e-36,
        -5.285_627_548_789_812e-53,
    ],
    [
        1.957_294_106_339_126_3e-20,
        -1.364_350_383_008_790_8e-36,
        1.339_234_825_112_506_4e-53,
    ],
    [
        8.896_791_392_450_574e-22,
        -7.911_402_614_872_376e-38,
        -3.187_797_679_057_093_3e-54,
    ],
    [
        3.868_170_170_630_684e-23,
        -8.843_177_655_482_344e-40,
        3.871_815_710_617_324_7e-56,
    ],
    [
        1.611_737_571_096_118_4e-24,
        -3.684_657_356_450_976_6e-41,
        1.613_256_546_090_552e-57,
    ],
    [
        6.446_950_284_384_474e-26,
        -1.933_040_423_370_346_5e-42,
        -1.521_302_380_703_914_4e-58,
    ],
];

/// The sum of `terms` rounded once (Shewchuk's exact partial sums, then
/// the rounding of Python's `math.fsum`), for at most 16 finite terms whose
/// partial sums do not overflow. Scalar: for the rarest elements only.
pub(crate) fn sum_exact(terms: &[f64]) -> f64 {
    // Non-overlapping partial sums, smallest first; their count never
    // exceeds the number of terms.
    let mut partials = [0.0f64; 16];
    let mut n = 0;
    for &v in terms {
        let mut x = v;
        let mut kept = 0;
        for j in 0..n {
            let y = partials[j];
            let (hi, lo) = if x.abs() < y.abs() { (y, x) } else { (x, y) };
            let s = two_sum(hi, lo);
            if s.lo != 0.0 {
                partials[kept] = s.lo;
                kept += 1;
            }
            x = s.hi;
        }
        partials[kept] = x;
        n = kept + 1;
    }
    // The largest partial, corrected by the next ones until one is exact.
    let mut hi = partials[n - 1];
    let mut lo = 0.0;
    let mut j = n - 1;
    while j > 0 {
        j -= 1;
        let (x, y) = (hi, partials[j]);
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    // Halfway between two floats: what lies below decides.
    if j > 0 && ((lo < 0.0 && partials[j - 1] < 0.0) || (lo > 0.0 && partials[j - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
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

/// `2^e` for a normal power of two, as a constant.
pub(crate) const fn pow2i(e: i32) -> f64 {
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// `2^j` for an integer-valued `j` in `[−1022, 1023]`.
#[inline(always)]
fn pow2(j: f64) -> f64 {
    f64::from_bits(((j + 1023.0 + MAGIC).to_bits() & 0x7ff) << 52)
}

/// `a · 2^k` for an integer-valued `k`, as two exact scalings by powers of
/// two (exact unless the result is subnormal). `k` is taken within
/// `[−2044, 2046]`, where both halves are normal powers of two: beyond, the
/// result is 0 or inf for every `a` the callers scale (`|a| < 2^970`).
#[inline(always)]
pub(crate) fn ldexp(a: Dd, k: f64) -> Dd {
    let k = k.clamp(-2044.0, 2046.0);
    // k1 = ⌊k/2⌋ (k/2 − 1/4 rounded to nearest), k2 = ⌈k/2⌉.
    let k1 = (k * 0.5 - 0.25 + MAGIC) - MAGIC;
    let (p1, p2) = (pow2(k1), pow2(k - k1));
    Dd {
        hi: a.hi * p1 * p2,
        lo: a.lo * p1 * p2,
    }
}

/// A triple-double `hi + mid + lo`, not necessarily normalized: `mid` within
/// a few ulp of `hi` and `lo` of `mid`, or smaller.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Td {
    pub(crate) hi: f64,
    pub(crate) mid: f64,
    pub(crate) lo: f64,
}

/// One Horner step `c + r·g` in double-double, for `|r·g| ≤ |c|`: the
/// product's high part exactly, and every error below 2^-105 of the result.
#[inline(always)]
fn dd_step(c: [f64; 3], r: f64, g: Dd) -> Dd {
    let p = two_prod(r, g.hi);
    let s = fast_two_sum(c[0], p.hi);
    Dd {
        hi: s.hi,
        lo: s.lo + (c[1] + (r * g.lo + p.lo)),
    }
}

/// One Horner step `c + r·g` in triple-double, for `|r·g| ≤ |c|`: the sums
/// of the first two levels exactly, so that what is rounded is below 2^-150
/// of the result.
#[inline(always)]
fn td_step(c: [f64; 3], r: f64, g: Td) -> Td {
    let p = two_prod(r, g.hi);
    let q = two_prod(r, g.mid);
    let s = fast_two_sum(c[0], p.hi);
    let u = two_sum(c[1], p.lo);
    let v = two_sum(u.hi, q.hi);
    let w = two_sum(v.hi, s.lo);
    Td {
        hi: s.hi,
        mid: w.hi,
        lo: c[2] + q.lo + r * g.lo + u.lo + v.lo + w.lo,
    }
}

/// `e^r − 1` for `|r| ≤ 0.35`, to about 2^-119 of itself (`WIDE`) or 2^-69:
/// `r·G1` with `G_n = 1/n! + r·G_(n+1)` by Horner's rule, each `G_n` in the
/// least precision its share of the result needs (about 2^-120·n!/r^(n−1)):
/// `f64` for the last terms, double-double for the middle ones and, when
/// `WIDE`, triple-double for `G4` to `G1`. Fixed trip counts and no
/// division, so that it unrolls and a lane loop around it vectorizes.
#[inline(always)]
pub(crate) fn expm1_poly<const WIDE: bool>(r0: f64) -> Td {
    let (last, dd_from) = if WIDE { (25, 15) } else { (16, 5) };
    let mut g = INV_FACT[last][0];
    for c in INV_FACT[dd_from + 1..last].iter().rev() {
        g = g * r0 + c[0];
    }
    let mut gd = Dd::new(g);
    let dd_to = if WIDE { 5 } else { 1 };
    for &c in INV_FACT[dd_to..=dd_from].iter().rev() {
        gd = dd_step(c, r0, gd);
    }
    if WIDE {
        let mut gt = Td {
            hi: gd.hi,
            mid: gd.lo,
            lo: 0.0,
        };
        for &c in INV_FACT[1..5].iter().rev() {
            gt = td_step(c, r0, gt);
        }
        // E = r0·G1
        let p = two_prod(r0, gt.hi);
        let q = two_prod(r0, gt.mid);
        let u = two_sum(p.lo, q.hi);
        Td {
            hi: p.hi,
            mid: u.hi,
            lo: u.lo + q.lo + r0 * gt.lo,
        }
    } else {
        let p = two_prod(r0, gd.hi);
        Td {
            hi: p.hi,
            mid: r0 * gd.lo + p.lo,
            lo: 0.0,
        }
    }
}

/// `e^y = 2^k·(1 + ε)` for `y ≤ 0` (clamped at −1500: a product with the
/// largest float, e^709.8, underflows to 0 from y = −1455), returned as `(ε, k)`
/// with `ε ∈ [−0.3, 0.42]` as a triple-double: within 2^-117 of
/// `max(|ε|, 1/16)` when `WIDE`, 2^-68 otherwise (measured: 2^-118.4 and
/// 2^-69.7), and for `k = 0` (`|y| < 0.34`), where the reduction is exact,
/// within that of `|ε|` itself however small.
///
/// `y = k·ln 2 + r0 + δ` with ln 2 in three parts (`r0 + δ` exact but for
/// 2^-127, `|δ| ≤ 2^-54`), `E = e^r0 − 1` by [`expm1_poly`], then
/// `ε = E + (e^δ − 1)·(1 + E)`.
#[inline(always)]
pub(crate) fn exp_parts<const WIDE: bool>(y: f64) -> (Td, f64) {
    let y = if y < -1500.0 { -1500.0 } else { y };
    let k = (y * core::f64::consts::LOG2_E + MAGIC) - MAGIC;
    // Exact: k has 12 bits and LN2_HI 32, and y − k·LN2_HI is below 1/2.
    let s = y - k * LN2_HI;
    let p = two_prod(k, LN2_MID);
    let r = two_sum(s, -p.hi);
    let (r0, delta) = (r.hi, two_sum(r.lo, -(p.lo + k * LN2_LO)));
    let e = expm1_poly::<WIDE>(r0);
    // ε = E + (e^δ − 1)·(1 + E), |δ| ≤ 2^-54 (δ²/2 is not negligible: 2^-109).
    let f = two_prod(e.hi, delta.hi);
    let u = two_sum(e.mid, delta.hi);
    let v = two_sum(u.hi, f.hi);
    let lo = (e.lo + delta.lo + f.lo + u.lo + v.lo)
        + (e.mid * delta.hi + e.hi * delta.lo + (0.5 * delta.hi * delta.hi) * (1.0 + e.hi));
    (
        Td {
            hi: e.hi,
            mid: v.hi,
            lo,
        },
        k,
    )
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
    fn sum_exact_rounds_once() {
        let tiny = 2f64.powi(-60);
        // 1 + 2^-60 − 1 = 2^-60, which plain addition loses.
        assert_eq!(sum_exact(&[1.0, tiny, -1.0]), tiny);
        assert_eq!(sum_exact(&[1e300, 1.0, -1e300, 3.0]), 4.0);
        // 1 + 2^-53 is a tie, rounded to even (1); a little more rounds up.
        assert_eq!(sum_exact(&[1.0, 2f64.powi(-53)]), 1.0);
        assert_eq!(
            sum_exact(&[1.0, 2f64.powi(-53), 2f64.powi(-120)]),
            1.0 + f64::EPSILON
        );
        assert_eq!(sum_exact(&[0.1, 0.2, -0.3]), 2.775_557_561_562_891_4e-17);
        assert_eq!(sum_exact(&[-0.0]), -0.0);
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
        // Beyond the halves' range: 0 and inf, not the bits of a wrapped
        // exponent (e^−1500 has k = −2164).
        for k in [-2045.0, -2164.0, -3200.0] {
            assert_eq!(ldexp(Dd::new(1.9), k).hi, 0.0, "k = {k}");
        }
        assert_eq!(ldexp(Dd::new(2f64.powi(900)), -1900.0).hi, 2f64.powi(-1000));
        assert_eq!(ldexp(Dd::new(1.0), 2100.0).hi, f64::INFINITY);
    }

    #[test]
    fn exp_parts_reaches_1500() {
        // y·e^−1450 with y the largest float is about 2^-1068, a subnormal:
        // e^−1450 must not be taken at a clamp.
        let (eps, k) = exp_parts::<true>(-1450.0);
        let (m, j) = (f64::MAX / 2f64.powi(1023), 1023.0);
        let got = ldexp(Dd::new(m * (1.0 + eps.hi)), k + j).hi;
        // mpmath: 3.3707e-322, 67.9 times the smallest subnormal.
        assert_eq!(got, f64::from_bits(68), "{got:e}");
    }

    /// `v·2^s` (`|v·2^s| < 2`) in 126-bit fixed point, each part truncated.
    fn fix(v: Td, s: i32) -> i128 {
        let f = |x: f64| crate::fixed::from_f64(x * 2f64.powi(s));
        f(v.hi) + f(v.mid) + f(v.lo)
    }

    /// The error of `ε` against 126-bit fixed point: for `k = 0` against
    /// `y·Σ y^(n−1)/n!` with `y` scaled to `[1/4, 1/2)`, in units of `|ε|`;
    /// otherwise against `fixed::exp` (to 2^-120 absolute), in units of
    /// `max(|ε|, 1/16)` (what the reduction leaves is absolute there).
    fn exp_parts_error<const WIDE: bool>(y: f64) -> f64 {
        use crate::fixed;
        let (eps, k) = exp_parts::<WIDE>(y);
        let size = eps.hi.abs();
        if k == 0.0 {
            let s = -1 - y.abs().log2().floor() as i32;
            let (one, yf) = (fixed::from_f64(1.0), fixed::from_f64(y));
            let (mut term, mut sum) = (one, one);
            for n in 2..=30 {
                term = fixed::mul(term, yf) / n;
                sum += term;
            }
            let want = fixed::mul(fixed::from_f64(y * 2f64.powi(s)), sum);
            let err = fixed::to_f64(fix(eps, s) - want) * 2f64.powi(-s);
            return err.abs() / size;
        }
        let (m, kf) = fixed::exp(y);
        if kf != k {
            // A tie of y/ln 2, rounded the other way: nothing to compare.
            return 0.0;
        }
        let err = fixed::to_f64(fix(eps, 0) - (m - fixed::from_f64(1.0)));
        err.abs() / size.max(1.0 / 16.0)
    }

    #[test]
    fn exp_parts_agrees_with_std() {
        let mut y = -745.0;
        while y <= 0.0 {
            for wide in [false, true] {
                let (eps, k) = if wide {
                    exp_parts::<true>(y)
                } else {
                    exp_parts::<false>(y)
                };
                let got = ldexp(Dd::new(1.0 + eps.hi), k).hi;
                let want = y.exp();
                let d = (want.to_bits() as i64 - got.to_bits() as i64).abs();
                assert!(d <= 1, "exp({y}) = {got:e}, std {want:e}");
            }
            y += 0.734_567;
        }
    }

    #[test]
    fn exp_parts_keeps_its_relative_precision() {
        // Seeded: every binade of |y| from 2^-60 to 2^9, and the ends of the
        // reduced range next to the multiples of ln 2.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut unit = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut worst_wide, mut worst_narrow, mut worst_k0) = (0f64, 0f64, 0f64);
        for _ in 0..20_000 {
            let y = -(2f64.powf(-60.0 + 69.5 * unit()));
            let near = -(core::f64::consts::LN_2 * ((unit() * 20.0).floor() + 0.5));
            for y in [y, near, near * (1.0 + 1e-15)] {
                if y < -740.0 {
                    continue;
                }
                let e = exp_parts_error::<true>(y);
                worst_wide = worst_wide.max(e);
                if exp_parts::<true>(y).1 == 0.0 {
                    worst_k0 = worst_k0.max(e);
                }
                worst_narrow = worst_narrow.max(exp_parts_error::<false>(y));
            }
        }
        // Measured: 2^-118.4 (2^-119.1 where k = 0) and 2^-69.7.
        assert!(worst_k0 < 2f64.powi(-118), "k = 0: {:.2}", worst_k0.log2());
        assert!(
            worst_wide < 2f64.powi(-117),
            "wide: {:.2}",
            worst_wide.log2()
        );
        assert!(
            worst_narrow < 2f64.powi(-68),
            "narrow: {:.2}",
            worst_narrow.log2()
        );
    }
}
