//! Helpers shared by the integration tests (`kernels`, `binary`, `softmax`):
//! the element types' bits and ulps, the output sentinel, a seeded
//! generator and a compensated sum. Not every test uses every helper.

#![allow(dead_code)]

use fastloss::Float;

/// What output buffers hold before a call: a finite value no loss produces
/// on the test data, so an element left unwritten fails the comparisons.
pub const SENTINEL: f64 = -1234.5;

// ------------------------------------------------------------ element types --

/// What the tests need of an element type beyond [`Float`].
pub trait Elem: Float {
    /// Machine epsilon, as f64.
    const EPS: f64;
    /// The largest finite value, as f64.
    const MAX: f64;
    /// The smallest positive normal, as f64.
    const TINY: f64;
    /// The bits, widened.
    fn bits(self) -> u64;
    fn nan(self) -> bool;
    /// A monotone integer image: neighbours differ by one, `±0` map to 0.
    fn ord(self) -> i64;
}

impl Elem for f32 {
    const EPS: f64 = f32::EPSILON as f64;
    const MAX: f64 = f32::MAX as f64;
    const TINY: f64 = f32::MIN_POSITIVE as f64;
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn nan(self) -> bool {
        self.is_nan()
    }
    fn ord(self) -> i64 {
        let b = self.to_bits() as i32;
        i64::from(if b < 0 { i32::MIN - b } else { b })
    }
}

impl Elem for f64 {
    const EPS: f64 = f64::EPSILON;
    const MAX: f64 = f64::MAX;
    const TINY: f64 = f64::MIN_POSITIVE;
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn nan(self) -> bool {
        self.is_nan()
    }
    fn ord(self) -> i64 {
        let b = self.to_bits() as i64;
        if b < 0 {
            i64::MIN - b
        } else {
            b
        }
    }
}

pub fn is_f64<T: Elem>() -> bool {
    T::MANTISSA_DIGITS > 24
}

/// Distance in units in the last place; NaN is at distance 0 from NaN and
/// infinitely far from everything else.
pub fn ulps<T: Elem>(a: T, b: T) -> u64 {
    match (a.nan(), b.nan()) {
        (true, true) => 0,
        (false, false) => (i128::from(a.ord()) - i128::from(b.ord())).unsigned_abs() as u64,
        _ => u64::MAX,
    }
}

/// Bitwise equal, NaN payloads aside.
pub fn same<T: Elem>(a: T, b: T) -> bool {
    a.bits() == b.bits() || (a.nan() && b.nan())
}

/// The bits, with every NaN made one: a NaN's sign and payload are not part
/// of the contract (the operand order of an add, which decides them, is the
/// compiler's choice).
pub fn canonical_bits<T: Elem>(v: T) -> u64 {
    if v.nan() {
        u64::MAX
    } else {
        v.bits()
    }
}

/// `n` elements holding [`SENTINEL`].
pub fn filled<T: Elem>(n: usize) -> Vec<T> {
    vec![T::from_f64(SENTINEL); n]
}

// --------------------------------------------------------------------- data --

/// SplitMix64. Each test adds the draws of its own data as inherent methods.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// `±1`, evenly.
    pub fn sign(&mut self) -> f64 {
        if self.next() & 1 == 0 {
            1.0
        } else {
            -1.0
        }
    }
}

/// Compensated (Neumaier) f64 sum: the exact sum, give or take an ulp; `inf`
/// or NaN as IEEE addition says when a term is not finite.
pub fn exact_sum(terms: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c, mut plain) = (0.0f64, 0.0f64, 0.0f64);
    for t in terms {
        plain += t;
        let u = s + t;
        c += if s.abs() >= t.abs() {
            (s - u) + t
        } else {
            (t - u) + s
        };
        s = u;
    }
    if plain.is_finite() {
        s + c
    } else {
        plain
    }
}
