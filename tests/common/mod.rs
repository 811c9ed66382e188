//! Helpers shared by the integration tests (`kernels`, `regression`,
//! `binary`, `softmax`): the table of elementwise losses ([`kinds`]), the
//! element types' bits and ulps, the output sentinel, a seeded generator,
//! the inputs of each loss's domain and a compensated sum. Not every test
//! uses every helper.

#![allow(dead_code)]

pub mod kinds;

use fastloss::Float;
use kinds::{Domain, Kind, Loss};

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

/// `got` within `tol` ulp of `want` rounded to `T`; `ctx` says where.
pub fn assert_ulps<T: Elem>(got: T, want: f64, tol: u64, what: &str, ctx: &dyn Fn() -> String) {
    let want_t = T::from_f64(want);
    let dist = ulps(got, want_t);
    if dist > tol {
        let dist = match dist {
            u64::MAX => "NaN mismatch".to_string(),
            d => format!("{d} ulp"),
        };
        panic!(
            "{}: {what}: got {got:?}, want {want_t:?} ({want:e} in f64): {dist} > {tol}",
            ctx()
        );
    }
}

/// `got` against the f64 reference `want`: within `tol` ulps of `want`
/// rounded to `T`, or, where the reference's own formula cancels, within
/// `tol` units of `T`'s epsilon of the magnitude `scale` (at least `|want|`)
/// plus `4 × TINY` for results that underflow; NaN where `want` is NaN.
pub fn assert_close<T: Elem>(got: T, want: f64, scale: f64, tol: u64, what: &dyn Fn() -> String) {
    if want.is_nan() {
        assert!(got.nan(), "{}: got {got:?}, expected NaN", what());
        return;
    }
    let rounded = T::from_f64(want);
    if ulps(got, rounded) <= tol {
        return;
    }
    let err = (got.to_f64() - want).abs();
    let allowed = tol as f64 * T::EPS * scale.max(want.abs()) + 4.0 * T::TINY;
    assert!(
        err <= allowed,
        "{}: got {got:?}, expected {want:?} ({} ulps; |err| {err:.3e} > {allowed:.3e})",
        what(),
        ulps(got, rounded)
    );
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

/// Every tail of an 8/16/32-lane loop, a block and a bit, and many blocks.
pub const SIZES: [usize; 14] = [
    0,
    1,
    7,
    8,
    15,
    16,
    17,
    31,
    33,
    63,
    65,
    1000,
    4099,
    (1 << 17) + 3,
];

/// Sizes above this get lighter checks.
pub const LARGE: usize = 5000;

/// SplitMix64. A test may add the draws of its own data as inherent methods.
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
    /// `10^u`, u uniform in `[lo, hi)`. By the library's `exp`, not the
    /// platform's `powf`: the same bits on every target (`digests.rs`).
    pub fn decade(&mut self, lo: f64, hi: f64) -> f64 {
        fastloss::math::exp_f64((lo + (hi - lo) * self.unit()) * core::f64::consts::LN_10)
    }
    /// `±10^u`, u uniform in `[lo, hi)`.
    pub fn scaled(&mut self, lo: f64, hi: f64) -> f64 {
        self.sign() * self.decade(lo, hi)
    }
    /// 0, 1 or uniform in [0, 1).
    pub fn target(&mut self) -> f64 {
        match self.below(3) {
            0 => 0.0,
            1 => 1.0,
            _ => self.unit(),
        }
    }
}

/// The thresholds of the regression losses under test (β, δ ∈ {0.5, 1, 2}
/// and log-cosh's switch at 1), first exactly, then their f32 neighbours
/// (exact in both types).
const TIES: [f64; 9] = [
    0.5,
    1.0,
    2.0,
    0.5 * (1.0 - f32::EPSILON as f64 / 2.0),
    0.5 * (1.0 + f32::EPSILON as f64),
    1.0 - f32::EPSILON as f64 / 2.0,
    1.0 + f32::EPSILON as f64,
    2.0 * (1.0 - f32::EPSILON as f64 / 2.0),
    2.0 * (1.0 + f32::EPSILON as f64),
];

const SPECIALS: [f64; 3] = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN];

/// Whether [`data`] with `specials` differs from the data without them.
pub fn has_specials(domain: Domain) -> bool {
    domain != Domain::Probability
}

/// `(input, target)`, `n` of each, in `kind`'s domain:
///
/// * differences: `d = input − target` over eight decades, exact ties
///   (`d = 0` with `±0` operands, `|d|` = each threshold or a neighbour)
///   and, with `specials`, `±inf` and NaN in either argument or both;
/// * probabilities: uniform, near 0 and 1 down to 1e-40, exact 0, 1, −0.0,
///   certain predictions, against targets 0, 1 or uniform (no specials:
///   they are invalid inputs);
/// * logits: ±10^[−3, 3], ±50, ±800, 0, and with `specials` ±inf, and NaN
///   inputs and targets.
///
/// The reduced values of data without specials are finite.
pub fn data<T: Elem>(kind: Kind, n: usize, seed: u64, specials: bool) -> (Vec<T>, Vec<T>) {
    let mut rng = Rng(seed ^ (n as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let (mut x, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let (a, b) = match kind.domain() {
            Domain::Difference => difference(&mut rng, specials),
            Domain::Probability => {
                let t = rng.target();
                match rng.below(12) {
                    0 => (rng.decade(-40.0, -1.0), t),
                    1 => (1.0 - rng.decade(-16.0, -1.0), t),
                    2 => ([0.0, 1.0, -0.0][rng.below(3) as usize], t),
                    3 => {
                        let p = [0.0, 1.0][rng.below(2) as usize];
                        (p, p)
                    }
                    4 => (t, t),
                    _ => (rng.unit(), t),
                }
            }
            Domain::Count | Domain::Amount => {
                // Counts (zeros among them, but for amounts), amounts over
                // decades; η over its useful range, at the exponentials'
                // overflow, next to the gradient's zero ln y, and with
                // `specials` infinite or NaN.
                let y = match rng.below(4) {
                    0 if kind.domain() == Domain::Count => 0.0,
                    0 | 1 => rng.below(20) as f64 + 1.0,
                    _ => rng.decade(-6.0, 6.0),
                };
                let x = match rng.below(16) {
                    0 if specials => {
                        [f64::INFINITY, f64::NEG_INFINITY, f64::NAN][rng.below(3) as usize]
                    }
                    // Beyond the exponentials' range only with the specials:
                    // without them the sums stay finite.
                    // (±1e4: every exponential overflows, or underflows, in
                    // both types alike.)
                    1 if specials => rng.sign() * 1e4,
                    1 => rng.sign() * [30.0, 0.0][rng.below(2) as usize],
                    2 | 3 if y > 0.0 => {
                        fastloss::math::ln_f64(y) + rng.sign() * rng.decade(-8.0, -1.0)
                    }
                    4..=7 => rng.sign() * rng.decade(-3.0, 1.5),
                    _ => rng.sign() * 4.0 * rng.unit(),
                };
                (x, y)
            }
            Domain::Logit | Domain::Label => {
                let t = rng.target();
                match rng.below(16) {
                    0 if specials => {
                        let s = [f64::INFINITY, f64::NEG_INFINITY][rng.below(2) as usize];
                        (s, [0.0, 1.0, 0.5][rng.below(3) as usize])
                    }
                    1 => (rng.sign() * [50.0, 800.0, 0.0][rng.below(3) as usize], t),
                    2 if specials => (f64::NAN, t),
                    // A NaN label is an error where labels are checked.
                    3 if specials && kind.domain() == Domain::Logit => (rng.sign(), f64::NAN),
                    4..=7 => (rng.sign() * rng.decade(-3.0, 3.0), t),
                    _ => (rng.sign() * 4.0 * rng.unit(), t),
                }
            }
        };
        x.push(T::from_f64(a));
        y.push(T::from_f64(b));
    }
    (x, y)
}

/// Which data sets (`specials` of [`data`]) the checks of `kind` at `size`
/// run. Specials make the reduced values NaN or inf: a second data set
/// carries them, so that the first keeps the sums finite. It is left out at
/// the large sizes and where the domain has none. A kind with columns takes
/// `columns` times the size, and runs the second only: its family without
/// columns runs both.
pub fn data_sets(kind: Kind, size: usize) -> Vec<bool> {
    let second = size <= LARGE && has_specials(kind.domain());
    let first = kind.columns() == 0 || !second;
    [(first, false), (second, true)]
        .into_iter()
        .filter_map(|(run, specials)| run.then_some(specials))
        .collect()
}

/// One `(input, target)` of the difference domain (see [`data`]).
fn difference(rng: &mut Rng, specials: bool) -> (f64, f64) {
    match rng.below(20) {
        0 => {
            let t = rng.scaled(-3.0, 3.0);
            (t, t)
        }
        1 => [(0.0, 0.0), (-0.0, 0.0), (0.0, -0.0), (-0.0, -0.0)][rng.below(4) as usize],
        2 | 3 => {
            let k = rng.below(TIES.len() as u64) as usize;
            let tie = TIES[k] * rng.sign();
            // Multiples of 1/4 up to 25 keep `t + tie` exact in f32 for
            // the exact ties; their neighbours need `t = 0`.
            let t = if k < 3 && rng.below(2) == 0 {
                (rng.below(201) as f64 - 100.0) * 0.25
            } else {
                0.0
            };
            (t + tie, t)
        }
        4 if specials => {
            let s = SPECIALS[rng.below(3) as usize];
            let o = rng.scaled(-2.0, 2.0);
            match rng.below(3) {
                0 => (s, o),
                1 => (o, s),
                _ => (s, SPECIALS[rng.below(3) as usize]),
            }
        }
        _ => {
            let t = rng.scaled(-3.0, 3.0);
            (t + rng.scaled(-4.0, 4.0), t)
        }
    }
}

/// Weights in `[0, 3)`, a tenth of them exact zeros; `dyadic` ones are
/// multiples of 1/16, whose sums are exact in any order.
pub fn weights<T: Elem>(n: usize, seed: u64, dyadic: bool) -> Vec<T> {
    let mut rng = Rng(seed.wrapping_mul(31) ^ n as u64);
    (0..n)
        .map(|_| {
            let w = match rng.below(10) {
                0 => 0.0,
                _ if dyadic => rng.below(48) as f64 / 16.0,
                _ => 3.0 * rng.unit(),
            };
            T::from_f64(w)
        })
        .collect()
}

/// Seeded `pos_weight` of `cols` entries in `[0.5, 4)` with an exact 1 and 0.
/// (Smaller weights have their own test in `binary.rs`.)
pub fn pos_weight<T: Elem>(cols: usize, seed: u64) -> Vec<T> {
    let mut rng = Rng(seed ^ 0x5eed ^ cols as u64);
    (0..cols)
        .map(|j| match j {
            1 => T::ONE,
            2 => T::ZERO,
            _ => T::from_f64(0.5 + 3.5 * rng.unit()),
        })
        .collect()
}

/// `kind` with [`pos_weight`] values for its columns.
pub fn loss<T: Elem>(kind: Kind, seed: u64) -> Loss<T> {
    Loss::new(kind, pos_weight(kind.columns(), seed))
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
