//! Log-cosh references for the tests: a double-double (≈ 106-bit)
//! evaluation of log-cosh, tanh and sech² (`log_cosh`), each within an ulp
//! of f64, and a cheaper plain-f64 one (`log_cosh_plain`), checked against
//! it, for f32.

/// `hi + lo`, `|lo| ≤ ulp(hi)/2`.
#[derive(Clone, Copy, Debug)]
pub struct Dd(f64, f64);

fn two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    let bb = s - a;
    Dd(s, (a - (s - bb)) + (b - bb))
}

fn fast_two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    Dd(s, b - (s - a))
}

fn two_prod(a: f64, b: f64) -> Dd {
    let p = a * b;
    Dd(p, a.mul_add(b, -p))
}

fn dd(a: f64) -> Dd {
    Dd(a, 0.0)
}

impl Dd {
    fn add(self, o: Dd) -> Dd {
        let s = two_sum(self.0, o.0);
        let t = two_sum(self.1, o.1);
        let s = fast_two_sum(s.0, s.1 + t.0);
        fast_two_sum(s.0, s.1 + t.1)
    }
    fn sub(self, o: Dd) -> Dd {
        self.add(Dd(-o.0, -o.1))
    }
    fn mul(self, o: Dd) -> Dd {
        let p = two_prod(self.0, o.0);
        fast_two_sum(p.0, p.1 + (self.0 * o.1 + self.1 * o.0))
    }
    fn mul_f(self, b: f64) -> Dd {
        let p = two_prod(self.0, b);
        fast_two_sum(p.0, p.1 + self.1 * b)
    }
    fn div_f(self, b: f64) -> Dd {
        let q1 = self.0 / b;
        let r = self.sub(two_prod(q1, b));
        fast_two_sum(q1, r.0 / b)
    }
    fn div(self, o: Dd) -> Dd {
        let q1 = self.0 / o.0;
        let r = self.sub(o.mul_f(q1));
        let q2 = r.0 / o.0;
        let r = r.sub(o.mul_f(q2));
        fast_two_sum(q1, q2).add(dd(r.0 / o.0))
    }
    /// Times a power of two.
    fn scale(self, p: f64) -> Dd {
        Dd(self.0 * p, self.1 * p)
    }
    fn value(self) -> f64 {
        self.0 + self.1
    }
}

const LN2: Dd = Dd(core::f64::consts::LN_2, 2.319_046_813_846_299_6e-17);

fn pow2(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// `e^x − 1` for `|x| ≤ 1e-3`, Taylor.
fn expm1_small(r: Dd) -> Dd {
    let mut s = dd(1.0);
    for j in (2..=9).rev() {
        s = dd(1.0).add(s.mul(r).div_f(j as f64));
    }
    s.mul(r)
}

/// `e^x`, relative error ≈ 1e-31 (subnormal results rounded once or twice).
fn exp(x: Dd) -> Dd {
    if x.0 < -760.0 {
        return dd(0.0);
    }
    let k = (x.0 / LN2.0).round();
    // e^x = 2^k (1 + p)^1024, p = e^(r/1024) − 1; squaring 1 + p as
    // p ← 2p + p² keeps p's relative precision.
    let mut p = expm1_small(x.sub(LN2.mul_f(k)).scale(1.0 / 1024.0));
    for _ in 0..10 {
        p = p.scale(2.0).add(p.mul(p));
    }
    let s = dd(1.0).add(p);
    let k = k as i32;
    if k < -1000 {
        s.scale(pow2(-1000)).scale(pow2(k + 1000))
    } else {
        s.scale(pow2(k))
    }
}

/// `ln(1 + e)` for `0 ≤ e ≤ 1`, absolute error ≈ 1e-31.
fn ln_1p(e: Dd) -> Dd {
    if e.0 == 0.0 {
        return dd(0.0);
    }
    // One Newton step from the f64 value doubles its digits.
    let y0 = e.0.ln_1p();
    let z = dd(1.0).add(e);
    dd(y0).add(z.mul(exp(dd(-y0))).sub(dd(1.0)))
}

/// Taylor coefficients of `tanh x / x` in powers of x²; `log cosh x` has
/// `t_k / (2k + 2)` at `x^(2k+2)`. Eight reach 1e-32 for |x| < 1/64.
const TANH: [(f64, f64); 8] = [
    (1.0, 1.0),
    (-1.0, 3.0),
    (2.0, 15.0),
    (-17.0, 315.0),
    (62.0, 2835.0),
    (-1382.0, 155_925.0),
    (21_844.0, 6_081_075.0),
    (-929_569.0, 638_512_875.0),
];

/// Below this |x|, the series; above, the form in `e^(−2|x|)`, whose
/// cancellation costs at most 13 of the 106 bits.
const SERIES: f64 = 1.0 / 64.0;

/// `(log cosh a, tanh a)` from the series, `a < SERIES`.
fn series(a: f64) -> (Dd, Dd) {
    let s = two_prod(a, a);
    let (mut pv, mut pt) = (dd(0.0), dd(0.0));
    for (k, &(p, q)) in TANH.iter().enumerate().rev() {
        pt = pt.mul(s).add(dd(p).div(dd(q)));
        pv = pv.mul(s).add(dd(p).div(dd(q * (2 * k + 2) as f64)));
    }
    (pv.mul(s), pt.mul_f(a))
}

/// `(log cosh a, tanh a)` from `e = e^(−2a)`.
fn exponential(a: f64, e: Dd) -> (Dd, Dd) {
    let v = dd(a).sub(LN2).add(ln_1p(e));
    (v, dd(1.0).sub(e).div(dd(1.0).add(e)))
}

/// `[log cosh d, tanh d, sech² d]`, each within an ulp of f64.
pub fn log_cosh(d: f64) -> [f64; 3] {
    if d.is_nan() {
        return [f64::NAN; 3];
    }
    let a = d.abs();
    if a == f64::INFINITY {
        return [f64::INFINITY, d.signum(), 0.0];
    }
    if a > 1e3 {
        // e^(−2|d|) is below every subnormal.
        return [dd(a).sub(LN2).value(), d.signum(), 0.0];
    }
    let e = exp(dd(-2.0 * a));
    let four_e = if a < 300.0 {
        e.scale(4.0)
    } else {
        exp(LN2.scale(2.0).sub(dd(2.0 * a)))
    };
    let one_e = dd(1.0).add(e);
    let sech2 = four_e.div(one_e.mul(one_e)).value();
    let (value, tanh) = if a >= SERIES {
        let (v, t) = exponential(a, e);
        (v.value(), t.value())
    } else if a >= pow2(-500) {
        let (v, t) = series(a);
        (v.value(), t.value())
    } else {
        // x² underflows: the first term, scaled so that it rounds once.
        let big = a * pow2(500);
        let v = two_prod(big, big).scale(0.5 * pow2(-500)).scale(pow2(-500));
        (v.value(), a)
    };
    [value, if d < 0.0 { -tanh } else { tanh }, sech2]
}

/// Panics unless the series and the exponential form agree far beyond f64
/// where both are accurate (which checks the coefficients), and `exp` is
/// right. A function, not a `#[test]`: every test file that includes this
/// module would run the test again.
pub fn check_forms_agree() {
    // (|x|, bound): the exponential form loses log2(ln 2 / log cosh x)
    // bits to cancellation; the series converges slower as |x| grows.
    let cases = [
        (SERIES * 0.999, 1e-25),
        (SERIES * 0.5, 1e-24),
        (0.05, 1e-22),
    ];
    for (a, bound) in cases {
        let (sv, st) = series(a);
        let (ev, et) = exponential(a, exp(dd(-2.0 * a)));
        let rel = |x: Dd, y: Dd| (x.sub(y).value() / y.value()).abs();
        assert!(rel(sv, ev) < bound, "value at {a}: {:e}", rel(sv, ev));
        assert!(rel(st, et) < bound, "tanh at {a}: {:e}", rel(st, et));
    }
    assert_eq!(exp(dd(1.0)).value(), std::f64::consts::E);
    assert_eq!(exp(dd(0.5)).value(), 0.5f64.exp());
    let one = exp(dd(-1.0)).mul(exp(dd(1.0))).sub(dd(1.0));
    assert!(one.value().abs() < 1e-30, "{one:?}");
    let tiny = exp(dd(-700.0)).value();
    assert!((tiny / (-700f64).exp() - 1.0).abs() < 4e-16, "{tiny:e}");
    let half = dd(1.0).div(dd(3.0)).mul_f(3.0).sub(dd(1.0));
    assert!(half.value().abs() < 1e-31, "{half:?}");
}

/// `(log cosh d, tanh d, sech² d)` in plain f64, within ~1e-15 relative:
/// the reference for f32, checked against [`log_cosh`].
pub fn log_cosh_plain(d: f64) -> [f64; 3] {
    if d.is_nan() {
        return [f64::NAN; 3];
    }
    let a = d.abs();
    let e = (-2.0 * a).exp();
    let value = if a < 0.5 {
        // cosh a − 1 = 2 sinh²(a/2), without cancellation.
        let s = (0.5 * a).sinh();
        (2.0 * s * s).ln_1p()
    } else {
        a - core::f64::consts::LN_2 + e.ln_1p()
    };
    let sech2 = if a < 20.0 {
        1.0 / (a.cosh() * a.cosh())
    } else {
        4.0 * e
    };
    [value, d.tanh(), sech2]
}
