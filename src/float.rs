//! The element types fastloss computes in: `f32` and `f64`.
//!
//! Kernels are written once, generically over [`Float`]; every method is
//! `#[inline(always)]` so that it is compiled into the instruction set of the
//! kernel that calls it (a helper that is not inlined into a
//! `#[target_feature]` function runs at the baseline level).
//!
//! No method uses a fused multiply-add: Rust never contracts `a * b + c`, so
//! every SIMD level computes bit-identical per-element results.

use core::fmt::{Debug, Display};
use core::ops::{Add, Div, Mul, Neg, Sub};

use crate::math;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point element type: implemented for `f32` and `f64` only.
pub trait Float:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + Default
    + PartialOrd
    + Debug
    + Display
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + 'static
{
    /// `0`.
    const ZERO: Self;
    /// `1`.
    const ONE: Self;
    /// `0.5`.
    const HALF: Self;
    /// `2`.
    const TWO: Self;
    /// Positive infinity.
    const INFINITY: Self;
    /// The most negative finite value.
    const MIN: Self;
    /// The smallest positive normal value.
    const MIN_POSITIVE: Self;
    /// A quiet NaN.
    const NAN: Self;
    /// `ln 2` rounded to nearest.
    const LN_2: Self;
    /// Short name of the type, for messages (`"float32"`, `"float64"`).
    const NAME: &'static str;
    /// Significand bits, the implicit one included (24 or 53).
    const MANTISSA_DIGITS: u32;

    /// Rounds an `f64` to this type.
    fn from_f64(v: f64) -> Self;
    /// Widens (or keeps) to `f64`, exactly.
    fn to_f64(self) -> f64;
    /// `|self|`, by clearing the sign bit.
    fn abs(self) -> Self;
    /// `true` unless NaN or infinite.
    fn is_finite(self) -> bool;
    /// `e^self`, at most a few ulp from exact (see [`crate::math`]).
    fn exp(self) -> Self;
    /// `e^self` for [`EXP_TERM_LOWEST`](Self::EXP_TERM_LOWEST) `≤ self ≤ 0`
    /// (the caller clamps) as a term of a sum of at least 1: `exp`'s value
    /// (see [`crate::math::exp_term_f32`]).
    fn exp_term(self) -> Self;
    /// The lowest input of [`exp_term`](Self::exp_term): `−87` for `f32`,
    /// `−inf` for `f64` (whose `exp_term` is `exp`).
    const EXP_TERM_LOWEST: Self;
    /// [`exp_term`](Self::exp_term) gives [`exp`](Self::exp)'s value
    /// wherever it gives more than this (`−1`: everywhere).
    const EXP_TERM_EXACT_ABOVE: Self;
    /// `ln(1 + self)`, at most a few ulp from exact (see [`crate::math`]).
    fn ln_1p(self) -> Self;
    /// `ln(self)`, at most a few ulp from exact (see [`crate::math`]).
    fn ln(self) -> Self;
    /// `self·a + b` rounded once, at every SIMD level (see [`crate::math`]).
    fn mul_add(self, a: Self, b: Self) -> Self;
}

/// `Σ coeffs[k]·x^k` by Horner's rule, the coefficients rounded to `T` (the
/// fitted polynomials of the loss kernels). Here rather than in
/// [`crate::math`], which this module builds on: `math` works on `f32` and
/// `f64` directly and needs nothing from [`Float`].
#[inline(always)]
pub(crate) fn horner<T: Float>(x: T, coeffs: &[f64]) -> T {
    let mut p = T::from_f64(coeffs[coeffs.len() - 1]);
    for &c in coeffs[..coeffs.len() - 1].iter().rev() {
        p = p.mul_add(x, T::from_f64(c));
    }
    p
}

macro_rules! impl_float {
    ($t:ident, $name:literal, $exp:path, $exp_term:path, $lowest:expr, $exact_above:expr, $log1p:path, $ln:path) => {
        impl Float for $t {
            const EXP_TERM_LOWEST: Self = $lowest;
            const EXP_TERM_EXACT_ABOVE: Self = $exact_above;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const HALF: Self = 0.5;
            const TWO: Self = 2.0;
            const INFINITY: Self = $t::INFINITY;
            const MIN: Self = $t::MIN;
            const MIN_POSITIVE: Self = $t::MIN_POSITIVE;
            const NAN: Self = $t::NAN;
            const LN_2: Self = core::$t::consts::LN_2;
            const NAME: &'static str = $name;
            const MANTISSA_DIGITS: u32 = $t::MANTISSA_DIGITS;

            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn exp_term(self) -> Self {
                $exp_term(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                $log1p(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                $t::mul_add(self, a, b)
            }
        }
    };
}

impl_float!(
    f32,
    "float32",
    math::exp_f32,
    math::exp_term_f32,
    math::EXP_TERM_F32_LOWEST,
    math::EXP_TERM_F32_EXACT_ABOVE,
    math::log1p_f32,
    math::ln_f32
);
impl_float!(
    f64,
    "float64",
    math::exp_f64,
    math::exp_f64,
    f64::NEG_INFINITY,
    -1.0,
    math::log1p_f64,
    math::ln_f64
);
