//! The regression losses: per-element math only. `d = input − target`.
//!
//! Each `eval` is what one element gives; the loops, weights, reductions and
//! threads around it live in [`crate::kernel`]. Each loss has a textbook
//! scalar reference in `f64` (`*_scalar`) that the tests compare every SIMD
//! level against.

use crate::error::{require, LossError};
use crate::float::{horner, Float};
use crate::kernel::{Pointwise, Terms};

/// `x` is `2^e` for some integer `e` (a positive power of two, normal in
/// `f64`, which every `f32` and normal `f64` power of two is).
fn is_power_of_two(x: f64) -> bool {
    x > 0.0 && x.is_normal() && x.to_bits() & ((1u64 << 52) - 1) == 0
}

/// `sign(d)` with `sign(±0) = ±0` and NaN kept.
#[inline(always)]
fn sign<T: Float>(d: T) -> T {
    if d > T::ZERO {
        T::ONE
    } else if d < T::ZERO {
        -T::ONE
    } else {
        d
    }
}

/// Mean absolute error: `|d|`, gradient `sign(d)` with `sign(0) = 0`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mae;

impl<T: Float> Pointwise<T> for Mae {
    #[inline(always)]
    fn eval(&self, x: T, y: T, _: T) -> Terms<T> {
        let d = x - y;
        Terms {
            value: d.abs(),
            grad: sign(d),
            hess: T::ZERO,
        }
    }
}

/// Mean squared error: `d²`, gradient `2d`, second derivative `2`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mse;

impl<T: Float> Pointwise<T> for Mse {
    #[inline(always)]
    fn eval(&self, x: T, y: T, _: T) -> Terms<T> {
        let d = x - y;
        Terms {
            value: d * d,
            grad: d + d,
            hess: T::TWO,
        }
    }
}

/// Smooth L1 (PyTorch's `smooth_l1_loss`): `|d| < β ? 0.5d²/β : |d| − 0.5β`.
/// `β = 0` is exactly [`Mae`].
#[derive(Clone, Copy, Debug)]
pub struct SmoothL1<T> {
    beta: T,
    inv_beta: T,
    half_beta: T,
    /// β is a power of two with a normal reciprocal, so `d·(1/β)` is `d/β`
    /// bit for bit for every `d` (both round the same real `d·2^-e`) and
    /// the kernel multiplies instead of dividing.
    exact_inv: bool,
}

impl<T: Float> SmoothL1<T> {
    /// A Smooth L1 loss with threshold `beta ≥ 0`.
    pub fn new(beta: f64) -> Result<Self, LossError> {
        let b = T::from_f64(beta);
        require(beta >= 0.0 && b >= T::ZERO, "beta", beta, "beta >= 0")?;
        let beta = b;
        let inv_beta = T::ONE / beta;
        Ok(Self {
            beta,
            inv_beta,
            half_beta: T::HALF * beta,
            exact_inv: inv_beta.is_finite()
                && inv_beta >= T::MIN_POSITIVE
                && beta * inv_beta == T::ONE
                && is_power_of_two(beta.to_f64()),
        })
    }
}

impl<T: Float> Pointwise<T> for SmoothL1<T> {
    #[inline(always)]
    fn eval(&self, x: T, y: T, _: T) -> Terms<T> {
        let d = x - y;
        let a = d.abs();
        // With β = 0 the quadratic branch is never taken (|d| < 0 is false),
        // so its 0/0 is computed but never selected.
        let quad = a < self.beta;
        // 0.5·d·(d/β), not 0.5·d²/β: d² overflows for |d| < β when β is
        // large (2.5e19 in float32) although the value, below 0.5·|d|, does not.
        let r = if self.exact_inv {
            d * self.inv_beta
        } else {
            d / self.beta
        };
        Terms {
            value: if quad {
                T::HALF * d * r
            } else {
                a - self.half_beta
            },
            grad: if quad { r } else { sign(d) },
            hess: if quad { self.inv_beta } else { T::ZERO },
        }
    }
}

/// Huber: `|d| ≤ δ ? 0.5d² : δ(|d| − 0.5δ)`, gradient `clamp(d, −δ, δ)`.
#[derive(Clone, Copy, Debug)]
pub struct Huber<T> {
    delta: T,
    half_delta: T,
}

impl<T: Float> Huber<T> {
    /// A Huber loss with threshold `delta > 0`.
    pub fn new(delta: f64) -> Result<Self, LossError> {
        // Checked after rounding to T: a δ that underflows is no δ.
        let d = T::from_f64(delta);
        require(
            d > T::ZERO,
            "delta",
            delta,
            "delta > 0 (in the compute dtype)",
        )?;
        let delta = d;
        Ok(Self {
            delta,
            half_delta: T::HALF * delta,
        })
    }
}

impl<T: Float> Pointwise<T> for Huber<T> {
    #[inline(always)]
    fn eval(&self, x: T, y: T, _: T) -> Terms<T> {
        let d = x - y;
        let a = d.abs();
        let quad = a <= self.delta;
        Terms {
            value: if quad {
                T::HALF * d * d
            } else {
                self.delta * (a - self.half_delta)
            },
            grad: if d > self.delta {
                self.delta
            } else if d < -self.delta {
                -self.delta
            } else {
                d
            },
            hess: if quad { T::ONE } else { T::ZERO },
        }
    }
}

/// Log-cosh: `log(cosh d)`, gradient `tanh d`, second derivative `1 − tanh² d`;
/// finite for every finite `d`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogCosh;

/// Below this |d|, the value comes from a polynomial in d² and cosh and sinh
/// from their Taylor series, which avoids the cancellation of
/// `|d| + log1p(e^(−2|d|)) − ln 2` near 0.
const LOG_COSH_SMALL: f64 = 1.0;

/// `ln(cosh d)/d²` as a polynomial in `s = d²` on `[0, 1]` (Chebyshev fits;
/// with the coefficients rounded, 2^-29.8 (`f32`) and 2^-61.7 (`f64`)
/// relative).
const LOG_COSH_F32: [f64; 8] = [
    0.5,
    -0.083_333_298_563_957_21,
    0.022_221_464_663_743_973,
    -0.006_739_799_398_928_881,
    0.002_161_291_893_571_615_2,
    -0.000_679_409_888_107_329_6,
    0.000_176_198_620_465_584_1,
    -2.561_730_252_637_062_2e-5,
];
const LOG_COSH_F64: [f64; 17] = [
    0.5,
    -0.083_333_333_333_333_31,
    0.022_222_222_222_220_433,
    -0.006_746_031_745_963_319,
    0.002_186_948_852_234_55,
    -0.000_738_602_943_859_645_6,
    0.000_256_580_436_062_391_9,
    -9.098_886_534_348_134e-5,
    3.277_607_851_649_522e-5,
    -1.194_662_411_652_820_4e-5,
    4.382_661_442_252_829e-6,
    -1.597_166_329_657_413_7e-6,
    5.597_099_232_255_206e-7,
    -1.768_927_489_566_696_2e-7,
    4.547_865_307_668_349e-8,
    -8.111_948_227_868_486e-9,
    7.276_178_933_519_349e-10,
];
/// `ln(1 + e)/e` as a polynomial in `e = e^(−2|d|) ∈ [0, e^−2]`, for
/// `|d| ≥ 1` (2^-28.9 and 2^-58.0 relative): no division, no range reduction.
const LOG1P_F32: [f64; 6] = [
    1.0,
    -0.499_999_850_988_388_06,
    0.333_319_187_164_306_64,
    -0.249_546_334_147_453_3,
    0.193_315_491_080_284_12,
    -0.119_533_382_356_166_84,
];
const LOG1P_F64: [f64; 12] = [
    1.0,
    -0.499_999_999_999_999_67,
    0.333_333_333_333_206_64,
    -0.249_999_999_982_451_5,
    0.199_999_998_741_759_86,
    -0.166_666_613_294_223_94,
    0.142_855_702_363_728_8,
    -0.124_974_268_597_387_72,
    0.110_801_852_775_790_26,
    -0.097_508_089_022_957_45,
    0.077_794_092_870_489_54,
    -0.040_763_590_186_207_885,
];

/// Taylor coefficients 1/(2k)! of `(cosh d − 1)/d² = Σ s^(k−1)/(2k)!`, s = d².
/// Enough terms for 0.5 ulp of f64 at s = 1.
const COSH_M1: [f64; 10] = [
    1.0 / 2.0,
    1.0 / 24.0,
    1.0 / 720.0,
    1.0 / 40320.0,
    1.0 / 3628800.0,
    1.0 / 479001600.0,
    1.0 / 87178291200.0,
    1.0 / 20922789888000.0,
    1.0 / 6402373705728000.0,
    1.0 / 2432902008176640000.0,
];
/// Taylor coefficients 1/(2k+1)! of `(sinh d)/d − 1 = Σ s^k/(2k+1)!`.
const SINH: [f64; 9] = [
    1.0 / 6.0,
    1.0 / 120.0,
    1.0 / 5040.0,
    1.0 / 362880.0,
    1.0 / 39916800.0,
    1.0 / 6227020800.0,
    1.0 / 1307674368000.0,
    1.0 / 355687428096000.0,
    1.0 / 121645100408832000.0,
];

impl<T: Float> Pointwise<T> for LogCosh {
    const HEAVY: bool = true;

    #[inline(always)]
    fn eval(&self, x: T, y: T, _: T) -> Terms<T> {
        // f32 needs fewer series terms than f64 for its half ulp.
        let (n_cosh, n_sinh) = if T::MANTISSA_DIGITS <= 24 {
            (6, 5)
        } else {
            (10, 9)
        };
        let (log_cosh, log1p): (&[f64], &[f64]) = if T::MANTISSA_DIGITS <= 24 {
            (&LOG_COSH_F32, &LOG1P_F32)
        } else {
            (&LOG_COSH_F64, &LOG1P_F64)
        };
        let d = x - y;
        let a = d.abs();
        let s = d * d;
        let small = a < T::from_f64(LOG_COSH_SMALL);
        let e = (-(a + a)).exp();
        // ln 2 split in two so that |d| − ln 2 keeps its low bits.
        let ln2_hi = T::from_f64(0.693_145_751_953_125);
        let ln2_lo = T::from_f64(1.428_606_820_309_417_3e-6);
        let value = if small {
            // |d|·(|d|·P): one rounding into the subnormals, not two (d², then ·P).
            a * (a * horner(s, log_cosh))
        } else {
            (a - ln2_hi) - ln2_lo + e * horner(e, log1p)
        };
        // The derivatives: c = cosh d − 1 and sinh |d| from series (small),
        // e = e^(−2|d|) (large); cosh d = 1 + c, or e^|d|(1 + e)/2: one
        // denominator.
        let c = T::HALF * s + s * s * horner(s, &COSH_M1[1..n_cosh]);
        let sh = a + a * s * horner(s, &SINH[..n_sinh]);
        let arg = if small { c } else { e };
        let den = T::ONE + arg;
        let tanh_abs = if small { sh } else { T::ONE - e } / den;
        let sech2 = if small {
            T::ONE / (den * den)
        } else {
            (e + e + e + e) / (den * den)
        };
        Terms {
            value,
            grad: if d < T::ZERO { -tanh_abs } else { tanh_abs },
            hess: sech2,
        }
    }
}

/// Pinball (quantile) loss at quantile `q`: with `r = target − input`,
/// `max(q·r, (q−1)·r)`; gradient `−q` (r > 0), `1−q` (r < 0), `0.5−q` (r = 0).
#[derive(Clone, Copy, Debug)]
pub struct Pinball<T> {
    q: T,
    q_minus_1: T,
    half_minus_q: T,
}

impl<T: Float> Pinball<T> {
    /// A pinball loss at quantile `0 < q < 1`.
    pub fn new(q: f64) -> Result<Self, LossError> {
        let qt = T::from_f64(q);
        require(
            q > 0.0 && q < 1.0 && qt > T::ZERO && qt < T::ONE,
            "q",
            q,
            "0 < q < 1 (in the compute dtype)",
        )?;
        Ok(Self {
            q: T::from_f64(q),
            q_minus_1: T::from_f64(q - 1.0),
            half_minus_q: T::from_f64(0.5 - q),
        })
    }
}

impl<T: Float> Pointwise<T> for Pinball<T> {
    #[inline(always)]
    fn eval(&self, x: T, y: T, _: T) -> Terms<T> {
        let r = y - x;
        Terms {
            value: if r >= T::ZERO {
                self.q * r
            } else {
                self.q_minus_1 * r
            },
            grad: if r > T::ZERO {
                -self.q
            } else if r < T::ZERO {
                -self.q_minus_1
            } else if r == T::ZERO {
                self.half_minus_q
            } else {
                r
            },
            hess: T::ZERO,
        }
    }
}

/// Scalar `f64` references: the formulas of the README's table as written,
/// with libm.
/// They return `(value, grad, hess)` for `d = input − target`.
pub mod scalar {
    /// [`super::Mae`].
    pub fn mae_scalar(d: f64) -> (f64, f64, f64) {
        let s = if d > 0.0 {
            1.0
        } else if d < 0.0 {
            -1.0
        } else {
            d
        };
        (d.abs(), s, 0.0)
    }
    /// [`super::Mse`].
    pub fn mse_scalar(d: f64) -> (f64, f64, f64) {
        (d * d, 2.0 * d, 2.0)
    }
    /// [`super::SmoothL1`].
    pub fn smooth_l1_scalar(d: f64, beta: f64) -> (f64, f64, f64) {
        if beta == 0.0 {
            return mae_scalar(d);
        }
        if d.abs() < beta {
            // d·(d/β), not d²/β: d² may fall into the subnormals (or
            // overflow) where the value does not.
            (0.5 * d * (d / beta), d / beta, 1.0 / beta)
        } else {
            (d.abs() - 0.5 * beta, d.signum(), 0.0)
        }
    }
    /// [`super::Huber`].
    pub fn huber_scalar(d: f64, delta: f64) -> (f64, f64, f64) {
        if d.abs() <= delta {
            (0.5 * d * d, d, 1.0)
        } else {
            (delta * (d.abs() - 0.5 * delta), delta * d.signum(), 0.0)
        }
    }
    /// [`super::LogCosh`], from libm's `cosh`/`tanh` where they are exact
    /// enough and the asymptotic form where `cosh` overflows.
    pub fn log_cosh_scalar(d: f64) -> (f64, f64, f64) {
        let a = d.abs();
        // cosh d − 1 = 2 sinh²(d/2) keeps the digits that ln(cosh d) loses
        // near 0.
        let v = if a < 20.0 {
            (2.0 * (a / 2.0).sinh().powi(2)).ln_1p()
        } else {
            a - core::f64::consts::LN_2 + (-2.0 * a).exp()
        };
        let t = d.tanh();
        let c = if a < 20.0 {
            1.0 / (a.cosh() * a.cosh())
        } else {
            4.0 * (-2.0 * a).exp()
        };
        (v, t, c)
    }
    /// [`super::Pinball`].
    pub fn pinball_scalar(d: f64, q: f64) -> (f64, f64, f64) {
        let r = -d;
        let v = (q * r).max((q - 1.0) * r);
        let g = if r.is_nan() {
            r
        } else if r > 0.0 {
            -q
        } else if r < 0.0 {
            1.0 - q
        } else {
            0.5 - q
        };
        (v, g, 0.0)
    }
}
