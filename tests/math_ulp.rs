//! Accuracy, special-value and SIMD-consistency tests for `fastloss::math`.
//!
//! * Fast tests (run by `cargo test`): special values, special values mixed
//!   with ordinary ones inside 32-lane loops, a strided sample of `f32` bit
//!   patterns against the `f64` `std` functions, the `f64` functions against
//!   the committed mpmath reference `tests/data/math_f64.txt`, and bitwise
//!   equality of the baseline, AVX2+FMA and AVX-512 lane loops.
//! * Ignored tests (run in release by `cargo test --release -- --ignored`):
//!   every `f32` input of each `f32` function, and a large random sample of
//!   `f64` inputs, each checked against the reference and across all SIMD
//!   levels.
//!
//! Errors are measured as the distance in representable values between the
//! result and the reference (see [`ulp_f32`]); the bounds asserted are the
//! `*_MAX_ULP` constants of `fastloss::math`.

use fastloss::math::*;

/// Lanes of the loops the kernels use.
const LANES: usize = 32;

// ---------------------------------------------------------------------------
// ulp metric
// ---------------------------------------------------------------------------

/// Maps an `f32` to an integer that is monotonic in its value, with
/// `+0 ↦ 0` and `-0 ↦ 0`, so that the difference of two images counts the
/// representable values between them.
fn ordered_f32(x: f32) -> i64 {
    let i = x.to_bits() as i32;
    i64::from(if i < 0 { i32::MIN.wrapping_sub(i) } else { i })
}

/// Same as [`ordered_f32`] for `f64`.
fn ordered_f64(x: f64) -> i128 {
    let i = x.to_bits() as i64;
    i128::from(if i < 0 { i64::MIN.wrapping_sub(i) } else { i })
}

/// Distance in ulps (representable `f32` values) between `got` and `want`.
///
/// NaN must match NaN; when either value is infinite or zero the two must be
/// equal (`+0 == -0`), otherwise the distance is infinite.
fn ulp_f32(got: f32, want: f32) -> f64 {
    if got.is_nan() || want.is_nan() {
        return if got.is_nan() && want.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if got.is_infinite() || want.is_infinite() || got == 0.0 || want == 0.0 {
        return if got == want { 0.0 } else { f64::INFINITY };
    }
    (ordered_f32(got) - ordered_f32(want)).unsigned_abs() as f64
}

/// Distance in ulps (representable `f64` values); see [`ulp_f32`].
fn ulp_f64(got: f64, want: f64) -> f64 {
    if got.is_nan() || want.is_nan() {
        return if got.is_nan() && want.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if got.is_infinite() || want.is_infinite() || got == 0.0 || want == 0.0 {
        return if got == want { 0.0 } else { f64::INFINITY };
    }
    (ordered_f64(got) - ordered_f64(want)).unsigned_abs() as f64
}

#[test]
fn ulp_metric() {
    assert_eq!(ulp_f32(1.0, 1.0), 0.0);
    assert_eq!(ulp_f32(1.0, f32::from_bits(1.0f32.to_bits() + 1)), 1.0);
    assert_eq!(ulp_f32(1.0, f32::from_bits(1.0f32.to_bits() - 3)), 3.0);
    assert_eq!(ulp_f32(0.0, -0.0), 0.0);
    assert_eq!(ulp_f32(f32::from_bits(1), -f32::from_bits(1)), 2.0);
    assert_eq!(ulp_f32(f32::MIN_POSITIVE, f32::from_bits(0x007f_ffff)), 1.0);
    assert_eq!(ulp_f32(f32::from_bits(1), 0.0), f64::INFINITY);
    assert_eq!(ulp_f32(f32::MAX, f32::INFINITY), f64::INFINITY);
    assert_eq!(ulp_f32(f32::NAN, f32::NAN), 0.0);
    assert_eq!(ulp_f32(f32::NAN, 1.0), f64::INFINITY);
    assert_eq!(ulp_f32(f32::INFINITY, f32::NEG_INFINITY), f64::INFINITY);
    assert_eq!(ulp_f64(1.0, 1.0 + f64::EPSILON), 1.0);
    assert_eq!(ulp_f64(-2.0, -2.0 - 2.0 * f64::EPSILON), 1.0);
    assert_eq!(ulp_f64(f64::from_bits(1), -f64::from_bits(2)), 3.0);
    assert_eq!(ulp_f64(0.0, -0.0), 0.0);
    assert_eq!(ulp_f64(f64::MAX, f64::INFINITY), f64::INFINITY);
    assert_eq!(ulp_f64(f64::NAN, f64::NAN), 0.0);
    assert_eq!(ulp_f64(f64::NAN, 0.0), f64::INFINITY);
}

// ---------------------------------------------------------------------------
// Lane loops at every SIMD level
// ---------------------------------------------------------------------------

/// Defines a module with the 32-lane loop applying `$f` over a slice,
/// compiled at the baseline level, with AVX2+FMA and with AVX-512F.
macro_rules! lane_loops {
    ($module:ident, $t:ty, $f:path) => {
        mod $module {
            use super::LANES;

            /// `out[i] = f(x[i])`, in the loop shape of the kernels.
            #[inline(always)]
            // The indexed lane loop is the shape the kernels use.
            #[allow(clippy::needless_range_loop)]
            fn body(x: &[$t], out: &mut [$t]) {
                assert_eq!(x.len(), out.len());
                let mut xs = x.chunks_exact(LANES);
                let mut os = out.chunks_exact_mut(LANES);
                for (xc, oc) in (&mut xs).zip(&mut os) {
                    let xc: &[$t; LANES] = xc.try_into().unwrap();
                    let oc: &mut [$t; LANES] = oc.try_into().unwrap();
                    for l in 0..LANES {
                        oc[l] = $f(xc[l]);
                    }
                }
                for (xv, ov) in xs.remainder().iter().zip(os.into_remainder()) {
                    *ov = $f(*xv);
                }
            }

            pub fn base(x: &[$t], out: &mut [$t]) {
                body(x, out)
            }

            /// # Safety
            /// The CPU must support AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            pub unsafe fn avx2(x: &[$t], out: &mut [$t]) {
                body(x, out)
            }

            /// # Safety
            /// The CPU must support AVX-512F.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            pub unsafe fn avx512(x: &[$t], out: &mut [$t]) {
                body(x, out)
            }
        }
    };
}

lane_loops!(exp32, f32, fastloss::math::exp_f32);
lane_loops!(ln32, f32, fastloss::math::ln_f32);
lane_loops!(log1p32, f32, fastloss::math::log1p_f32);
lane_loops!(exp64, f64, fastloss::math::exp_f64);
lane_loops!(ln64, f64, fastloss::math::ln_f64);
lane_loops!(log1p64, f64, fastloss::math::log1p_f64);
lane_loops!(sigmoid32, f32, fastloss::math::sigmoid_f32);
lane_loops!(sigmoid64, f64, fastloss::math::sigmoid_f64);

/// A slice loop at one SIMD level.
type Loop<T> = fn(&[T], &mut [T]);
/// A scalar function of one type.
type Scalar<T> = fn(T) -> T;

/// One function under test with its reference and its lane loops.
struct Func<T: 'static> {
    name: &'static str,
    f: Scalar<T>,
    reference: Scalar<T>,
    max_ulp: f64,
    /// `(level name, loop)`, baseline first; only levels this CPU supports.
    levels: Vec<(&'static str, Loop<T>)>,
}

/// The SIMD levels of one lane-loop module that this CPU can run.
macro_rules! levels {
    ($module:ident) => {{
        #[allow(unused_mut)]
        let mut v: Vec<(&'static str, Loop<_>)> = vec![("baseline", $module::base)];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                // SAFETY: the features were detected at run time.
                v.push(("avx2+fma", |x, o| unsafe { $module::avx2(x, o) }));
            }
            if is_x86_feature_detected!("avx512f") {
                // SAFETY: the feature was detected at run time.
                v.push(("avx512f", |x, o| unsafe { $module::avx512(x, o) }));
            }
        }
        v
    }};
}

fn ref_exp_f32(x: f32) -> f32 {
    f64::from(x).exp() as f32
}
fn ref_ln_f32(x: f32) -> f32 {
    f64::from(x).ln() as f32
}
fn ref_log1p_f32(x: f32) -> f32 {
    f64::from(x).ln_1p() as f32
}
fn ref_sigmoid_f32(x: f32) -> f32 {
    ref_sigmoid_f64(f64::from(x)) as f32
}
/// `1/(1+e^−x)` with libm (as `e^x/(1+e^x)` for x < 0, where e^−x would
/// overflow); accurate to about 1 ulp of `f64`.
fn ref_sigmoid_f64(x: f64) -> f64 {
    if x < 0.0 {
        x.exp() / (1.0 + x.exp())
    } else {
        1.0 / (1.0 + (-x).exp())
    }
}

fn funcs_f32() -> Vec<Func<f32>> {
    vec![
        Func {
            name: "exp_f32",
            f: exp_f32,
            reference: ref_exp_f32,
            max_ulp: EXP_F32_MAX_ULP,
            levels: levels!(exp32),
        },
        Func {
            name: "ln_f32",
            f: ln_f32,
            reference: ref_ln_f32,
            max_ulp: LN_F32_MAX_ULP,
            levels: levels!(ln32),
        },
        Func {
            name: "log1p_f32",
            f: log1p_f32,
            reference: ref_log1p_f32,
            max_ulp: LOG1P_F32_MAX_ULP,
            levels: levels!(log1p32),
        },
        Func {
            name: "sigmoid_f32",
            f: sigmoid_f32,
            reference: ref_sigmoid_f32,
            max_ulp: SIGMOID_F32_MAX_ULP,
            levels: levels!(sigmoid32),
        },
    ]
}

/// The `f64` functions; `reference` is the `std` function (libm), which is
/// itself not always correctly rounded: the exact reference is the mpmath
/// file.
fn funcs_f64() -> Vec<Func<f64>> {
    vec![
        Func {
            name: "exp_f64",
            f: exp_f64,
            reference: f64::exp,
            max_ulp: EXP_F64_MAX_ULP,
            levels: levels!(exp64),
        },
        Func {
            name: "ln_f64",
            f: ln_f64,
            reference: f64::ln,
            max_ulp: LN_F64_MAX_ULP,
            levels: levels!(ln64),
        },
        Func {
            name: "log1p_f64",
            f: log1p_f64,
            reference: f64::ln_1p,
            max_ulp: LOG1P_F64_MAX_ULP,
            levels: levels!(log1p64),
        },
        Func {
            name: "sigmoid_f64",
            f: sigmoid_f64,
            reference: ref_sigmoid_f64,
            max_ulp: SIGMOID_F64_MAX_ULP,
            levels: levels!(sigmoid64),
        },
    ]
}

/// Runs every level over `x`, asserts that all of them agree bit for bit
/// with the baseline, and returns the baseline output.
fn run_levels_f32(func: &Func<f32>, x: &[f32]) -> Vec<f32> {
    let mut base = vec![0.0; x.len()];
    (func.levels[0].1)(x, &mut base);
    let mut out = vec![0.0; x.len()];
    for &(level, run) in &func.levels[1..] {
        run(x, &mut out);
        for i in 0..x.len() {
            assert_eq!(
                out[i].to_bits(),
                base[i].to_bits(),
                "{}({:e} = {:#010x}): {level} gives {:e}, baseline {:e}",
                func.name,
                x[i],
                x[i].to_bits(),
                out[i],
                base[i]
            );
        }
    }
    base
}

/// `f64` counterpart of [`run_levels_f32`].
fn run_levels_f64(func: &Func<f64>, x: &[f64]) -> Vec<f64> {
    let mut base = vec![0.0; x.len()];
    (func.levels[0].1)(x, &mut base);
    let mut out = vec![0.0; x.len()];
    for &(level, run) in &func.levels[1..] {
        run(x, &mut out);
        for i in 0..x.len() {
            assert_eq!(
                out[i].to_bits(),
                base[i].to_bits(),
                "{}({:e} = {:#018x}): {level} gives {:e}, baseline {:e}",
                func.name,
                x[i],
                x[i].to_bits(),
                out[i],
                base[i]
            );
        }
    }
    base
}

#[test]
fn simd_levels_are_detected() {
    #[cfg(target_arch = "x86_64")]
    {
        let levels: Vec<&str> = funcs_f32()[0].levels.iter().map(|l| l.0).collect();
        println!("SIMD levels tested: {levels:?}");
    }
}

// ---------------------------------------------------------------------------
// Special values
// ---------------------------------------------------------------------------

/// `got` must be `want` exactly: same bits, or both NaN.
fn assert_exact_f32(name: &str, x: f32, got: f32, want: f32) {
    assert!(
        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
        "{name}({x:e}) = {got:e} ({:#010x}), want {want:e} ({:#010x})",
        got.to_bits(),
        want.to_bits()
    );
}

/// `got` must be `want` exactly: same bits, or both NaN.
fn assert_exact_f64(name: &str, x: f64, got: f64, want: f64) {
    assert!(
        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
        "{name}({x:e}) = {got:e} ({:#018x}), want {want:e} ({:#018x})",
        got.to_bits(),
        want.to_bits()
    );
}

#[test]
fn special_values_f32() {
    let (inf, nan, min, max) = (f32::INFINITY, f32::NAN, f32::from_bits(1), f32::MAX);
    let cases: &[(&str, Scalar<f32>, f32, f32)] = &[
        ("exp", exp_f32, nan, nan),
        ("exp", exp_f32, -nan, nan),
        ("exp", exp_f32, inf, inf),
        ("exp", exp_f32, -inf, 0.0),
        ("exp", exp_f32, 0.0, 1.0),
        ("exp", exp_f32, -0.0, 1.0),
        ("exp", exp_f32, min, 1.0),
        ("exp", exp_f32, -min, 1.0),
        ("exp", exp_f32, 88.8, inf),
        ("exp", exp_f32, 89.0, inf),
        ("exp", exp_f32, 1000.0, inf),
        ("exp", exp_f32, max, inf),
        ("exp", exp_f32, -104.0, 0.0),
        ("exp", exp_f32, -1000.0, 0.0),
        ("exp", exp_f32, -max, 0.0),
        ("ln", ln_f32, nan, nan),
        ("ln", ln_f32, inf, inf),
        ("ln", ln_f32, -inf, nan),
        ("ln", ln_f32, 0.0, -inf),
        ("ln", ln_f32, -0.0, -inf),
        ("ln", ln_f32, -min, nan),
        ("ln", ln_f32, -1.0, nan),
        ("ln", ln_f32, -max, nan),
        ("ln", ln_f32, 1.0, 0.0),
        ("log1p", log1p_f32, nan, nan),
        ("log1p", log1p_f32, inf, inf),
        ("log1p", log1p_f32, -inf, nan),
        ("log1p", log1p_f32, -1.0, -inf),
        ("log1p", log1p_f32, -1.000_000_1, nan),
        ("log1p", log1p_f32, -2.0, nan),
        ("log1p", log1p_f32, -max, nan),
        ("log1p", log1p_f32, 0.0, 0.0),
        ("log1p", log1p_f32, -0.0, -0.0),
        ("log1p", log1p_f32, min, min),
        ("log1p", log1p_f32, -min, -min),
        ("log1p", log1p_f32, 1e-30, 1e-30),
        ("log1p", log1p_f32, -1e-30, -1e-30),
        ("log1p", log1p_f32, f32::MIN_POSITIVE, f32::MIN_POSITIVE),
    ];
    for &(name, f, x, want) in cases {
        assert_exact_f32(name, x, f(x), want);
    }
    // Edges that are not exact: compare with the reference within the bound.
    let edges: &[(Scalar<f32>, Scalar<f32>, f64, f32)] = &[
        (exp_f32, ref_exp_f32, EXP_F32_MAX_ULP, 88.722_83), // just below overflow
        (exp_f32, ref_exp_f32, EXP_F32_MAX_ULP, -87.336_55), // exp = MIN_POSITIVE
        (exp_f32, ref_exp_f32, EXP_F32_MAX_ULP, -100.0),    // subnormal result
        (exp_f32, ref_exp_f32, EXP_F32_MAX_ULP, -103.279),  // smallest subnormal
        (exp_f32, ref_exp_f32, EXP_F32_MAX_ULP, -103.972),  // rounds to min or 0
        (exp_f32, ref_exp_f32, EXP_F32_MAX_ULP, 1.0),
        (ln_f32, ref_ln_f32, LN_F32_MAX_ULP, min),
        (
            ln_f32,
            ref_ln_f32,
            LN_F32_MAX_ULP,
            f32::from_bits(0x007f_ffff),
        ),
        (ln_f32, ref_ln_f32, LN_F32_MAX_ULP, f32::MIN_POSITIVE),
        (ln_f32, ref_ln_f32, LN_F32_MAX_ULP, max),
        (ln_f32, ref_ln_f32, LN_F32_MAX_ULP, 2.0),
        (ln_f32, ref_ln_f32, LN_F32_MAX_ULP, 1.0 + f32::EPSILON),
        (ln_f32, ref_ln_f32, LN_F32_MAX_ULP, 1.0 - f32::EPSILON / 2.0),
        (log1p_f32, ref_log1p_f32, LOG1P_F32_MAX_ULP, max),
        (
            log1p_f32,
            ref_log1p_f32,
            LOG1P_F32_MAX_ULP,
            -1.0 + f32::EPSILON / 2.0,
        ),
        (log1p_f32, ref_log1p_f32, LOG1P_F32_MAX_ULP, -0.5),
        (log1p_f32, ref_log1p_f32, LOG1P_F32_MAX_ULP, 1e-7),
        (log1p_f32, ref_log1p_f32, LOG1P_F32_MAX_ULP, 16_777_216.0),
    ];
    for &(f, r, bound, x) in edges {
        let (got, want) = (f(x), r(x));
        let d = ulp_f32(got, want);
        assert!(d <= bound, "f({x:e}) = {got:e}, want {want:e}: {d} ulp");
    }
}

#[test]
fn special_values_f64() {
    let (inf, nan, min, max) = (f64::INFINITY, f64::NAN, f64::from_bits(1), f64::MAX);
    let cases: &[(&str, Scalar<f64>, f64, f64)] = &[
        ("exp", exp_f64, nan, nan),
        ("exp", exp_f64, -nan, nan),
        ("exp", exp_f64, inf, inf),
        ("exp", exp_f64, -inf, 0.0),
        ("exp", exp_f64, 0.0, 1.0),
        ("exp", exp_f64, -0.0, 1.0),
        ("exp", exp_f64, min, 1.0),
        ("exp", exp_f64, -min, 1.0),
        ("exp", exp_f64, 709.79, inf),
        ("exp", exp_f64, 710.0, inf),
        ("exp", exp_f64, 1e5, inf),
        ("exp", exp_f64, max, inf),
        ("exp", exp_f64, -745.2, 0.0),
        ("exp", exp_f64, -746.0, 0.0),
        ("exp", exp_f64, -1e5, 0.0),
        ("exp", exp_f64, -max, 0.0),
        ("ln", ln_f64, nan, nan),
        ("ln", ln_f64, inf, inf),
        ("ln", ln_f64, -inf, nan),
        ("ln", ln_f64, 0.0, -inf),
        ("ln", ln_f64, -0.0, -inf),
        ("ln", ln_f64, -min, nan),
        ("ln", ln_f64, -1.0, nan),
        ("ln", ln_f64, -max, nan),
        ("ln", ln_f64, 1.0, 0.0),
        ("log1p", log1p_f64, nan, nan),
        ("log1p", log1p_f64, inf, inf),
        ("log1p", log1p_f64, -inf, nan),
        ("log1p", log1p_f64, -1.0, -inf),
        ("log1p", log1p_f64, -1.000_000_000_000_000_2, nan),
        ("log1p", log1p_f64, -2.0, nan),
        ("log1p", log1p_f64, -max, nan),
        ("log1p", log1p_f64, 0.0, 0.0),
        ("log1p", log1p_f64, -0.0, -0.0),
        ("log1p", log1p_f64, min, min),
        ("log1p", log1p_f64, -min, -min),
        ("log1p", log1p_f64, 1e-300, 1e-300),
        ("log1p", log1p_f64, -1e-300, -1e-300),
        ("log1p", log1p_f64, f64::MIN_POSITIVE, f64::MIN_POSITIVE),
    ];
    for &(name, f, x, want) in cases {
        assert_exact_f64(name, x, f(x), want);
    }
}

// ---------------------------------------------------------------------------
// Special values mixed with ordinary ones inside the lane loops
// ---------------------------------------------------------------------------

/// Interleaves the values of `pool` over 32-lane blocks in every rotation,
/// so that each value lands in every lane position next to every kind of
/// neighbour.
fn rotations<T: Copy>(pool: &[T]) -> Vec<T> {
    let mut v = Vec::new();
    for shift in 0..LANES {
        for l in 0..LANES {
            v.push(pool[(l * 7 + shift) % pool.len()]);
        }
    }
    v
}

#[test]
fn mixed_lanes_f32() {
    let (inf, nan, min, max) = (f32::INFINITY, f32::NAN, f32::from_bits(1), f32::MAX);
    let pool = [
        nan,
        0.5,
        -inf,
        1.0,
        inf,
        -0.0,
        3.0,
        0.0,
        min,
        -min,
        -1.0,
        max,
        -max,
        1e-30,
        -1e-30,
        88.8,
        -104.0,
        -100.0,
        2.5e-40,
        -0.75,
        20.0,
        0.1,
        -2.0,
        -1.0 + 1e-7,
        1e7,
        1e30,
        -50.0,
        0.7,
        -0.3,
        1.5,
        f32::MIN_POSITIVE,
        1.0 + f32::EPSILON,
        -nan,
    ];
    let x = rotations(&pool);
    for func in funcs_f32() {
        let out = run_levels_f32(&func, &x);
        for (&xi, &oi) in x.iter().zip(&out) {
            // Same as the function on its own, outside any loop.
            assert_exact_f32(func.name, xi, oi, std::hint::black_box(func.f)(xi));
            let want = (func.reference)(xi);
            let d = ulp_f32(oi, want);
            assert!(
                d <= func.max_ulp,
                "{}({xi:e}) = {oi:e} in a lane loop, want {want:e} ({d} ulp)",
                func.name
            );
        }
    }
}

#[test]
fn mixed_lanes_f64() {
    let (inf, nan, min, max) = (f64::INFINITY, f64::NAN, f64::from_bits(1), f64::MAX);
    let pool = [
        nan,
        0.5,
        -inf,
        1.0,
        inf,
        -0.0,
        3.0,
        0.0,
        min,
        -min,
        -1.0,
        max,
        -max,
        1e-300,
        -1e-300,
        709.79,
        -746.0,
        -740.0,
        1e-310,
        -0.75,
        20.0,
        0.1,
        -2.0,
        -1.0 + 1e-15,
        1e16,
        1e300,
        -50.0,
        0.7,
        -0.3,
        1.5,
        f64::MIN_POSITIVE,
        1.0 + f64::EPSILON,
        -nan,
    ];
    let x = rotations(&pool);
    for func in funcs_f64() {
        let out = run_levels_f64(&func, &x);
        for (&xi, &oi) in x.iter().zip(&out) {
            assert_exact_f64(func.name, xi, oi, std::hint::black_box(func.f)(xi));
            // libm is within 1 ulp of the correctly rounded value.
            let want = (func.reference)(xi);
            let d = ulp_f64(oi, want);
            assert!(
                d <= func.max_ulp + 1.0,
                "{}({xi:e}) = {oi:e} in a lane loop, libm {want:e} ({d} ulp)",
                func.name
            );
        }
    }
}

// ---------------------------------------------------------------------------
// f32: strided sample of all bit patterns against the f64 std functions
// ---------------------------------------------------------------------------

/// Every `stride`-th `f32` bit pattern (both signs, all exponents).
fn strided_f32(stride: usize) -> Vec<f32> {
    (0..=u32::MAX).step_by(stride).map(f32::from_bits).collect()
}

#[test]
fn strided_f32_against_std() {
    let x = strided_f32(4099);
    for func in funcs_f32() {
        let mut out = vec![0.0; x.len()];
        (func.levels[0].1)(&x, &mut out);
        let mut worst = (0.0, 0.0f32);
        for (&xi, &oi) in x.iter().zip(&out) {
            let d = ulp_f32(oi, (func.reference)(xi));
            if d > worst.0 {
                worst = (d, xi);
            }
        }
        println!(
            "{}: max {} ulp over {} strided inputs (at {:e})",
            func.name,
            worst.0,
            x.len(),
            worst.1
        );
        assert!(
            worst.0 <= func.max_ulp,
            "{}({:e}) = {:e}, want {:e}: {} ulp > {}",
            func.name,
            worst.1,
            (func.f)(worst.1),
            (func.reference)(worst.1),
            worst.0,
            func.max_ulp
        );
    }
}

#[test]
fn simd_levels_bitwise_identical_f32() {
    let mut x = strided_f32(65_537);
    x.extend(rotations(&[
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        -1.0,
        1.0,
        88.72,
        -103.9,
    ]));
    for func in funcs_f32() {
        run_levels_f32(&func, &x);
    }
}

// ---------------------------------------------------------------------------
// f64: the committed mpmath reference
// ---------------------------------------------------------------------------

/// `(function, input, correctly rounded output)` from `tests/data/math_f64.txt`.
fn mpmath_reference() -> Vec<(String, f64, f64)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/math_f64.txt");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut it = line.split_whitespace();
        let (name, x, y) = match (it.next(), it.next(), it.next(), it.next()) {
            (Some(name), Some(x), Some(y), None) => (name, x, y),
            _ => panic!("{path}:{}: malformed line {line:?}", n + 1),
        };
        let hex = |s: &str| {
            f64::from_bits(
                u64::from_str_radix(s, 16)
                    .unwrap_or_else(|e| panic!("{path}:{}: {s:?}: {e}", n + 1)),
            )
        };
        rows.push((name.to_string(), hex(x), hex(y)));
    }
    rows
}

#[test]
fn f64_against_mpmath() {
    let rows = mpmath_reference();
    for func in funcs_f64() {
        let short = func.name.trim_end_matches("_f64");
        let (x, want): (Vec<f64>, Vec<f64>) = rows
            .iter()
            .filter(|r| r.0 == short)
            .map(|r| (r.1, r.2))
            .unzip();
        assert!(
            x.len() >= 2000,
            "{}: only {} reference rows",
            func.name,
            x.len()
        );
        // All levels, bit for bit, on the reference inputs too.
        let out = run_levels_f64(&func, &x);
        let mut worst = (0.0, 0.0f64);
        let mut inexact = 0;
        for i in 0..x.len() {
            let d = ulp_f64(out[i], want[i]);
            assert!(
                d <= func.max_ulp,
                "{}({:e} = {:#018x}) = {:e}, correctly rounded {:e}: {d} ulp > {}",
                func.name,
                x[i],
                x[i].to_bits(),
                out[i],
                want[i],
                func.max_ulp
            );
            if d > 0.0 {
                inexact += 1;
            }
            if d > worst.0 {
                worst = (d, x[i]);
            }
        }
        println!(
            "{}: max {} ulp over {} mpmath samples (at {:e}), {} not correctly rounded",
            func.name,
            worst.0,
            x.len(),
            worst.1,
            inexact
        );
    }
}

// ---------------------------------------------------------------------------
// Release-mode sweeps (`cargo test --release -- --ignored`)
// ---------------------------------------------------------------------------

/// Checks every `f32` input: all SIMD levels bit-identical, and the result
/// within `func.max_ulp` of the `f64` `std` function rounded to `f32`.
fn exhaustive_f32(func: &Func<f32>) {
    const CHUNK: u64 = 1 << 16;
    let start = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let next = std::sync::atomic::AtomicU64::new(0);
    // Per thread: (max ulp, its input, inputs over 0 ulp).
    let results: Vec<(f64, f32, u64)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut worst = (0.0, 0.0f32, 0u64);
                    let mut x = vec![0.0f32; CHUNK as usize];
                    loop {
                        let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if c >= (1u64 << 32) / CHUNK {
                            break worst;
                        }
                        for (i, xi) in x.iter_mut().enumerate() {
                            *xi = f32::from_bits((c * CHUNK + i as u64) as u32);
                        }
                        let out = run_levels_f32(func, &x);
                        for (&xi, &oi) in x.iter().zip(&out) {
                            let d = ulp_f32(oi, (func.reference)(xi));
                            if d > 0.0 {
                                worst.2 += 1;
                            }
                            if d > worst.0 {
                                worst.0 = d;
                                worst.1 = xi;
                            }
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let inexact: u64 = results.iter().map(|r| r.2).sum();
    let worst = results
        .iter()
        .fold((0.0, 0.0f32), |w, r| if r.0 > w.0 { (r.0, r.1) } else { w });
    println!(
        "{}: max {} ulp over all 2^32 inputs (at {:e} = {:#010x}), {} results not the \
         rounded reference; levels {:?}; {:.1} s",
        func.name,
        worst.0,
        worst.1,
        worst.1.to_bits(),
        inexact,
        func.levels.iter().map(|l| l.0).collect::<Vec<_>>(),
        start.elapsed().as_secs_f64()
    );
    assert!(
        worst.0 <= func.max_ulp,
        "{}({:e}) = {:e}, want {:e}: {} ulp > {}",
        func.name,
        worst.1,
        (func.f)(worst.1),
        (func.reference)(worst.1),
        worst.0,
        func.max_ulp
    );
}

#[test]
#[ignore = "exhaustive; run with `cargo test --release -- --ignored`"]
fn exhaustive_exp_f32() {
    exhaustive_f32(&funcs_f32()[0]);
}

#[test]
#[ignore = "exhaustive; run with `cargo test --release -- --ignored`"]
fn exhaustive_ln_f32() {
    exhaustive_f32(&funcs_f32()[1]);
}

#[test]
#[ignore = "exhaustive; run with `cargo test --release -- --ignored`"]
fn exhaustive_log1p_f32() {
    exhaustive_f32(&funcs_f32()[2]);
}

#[test]
#[ignore = "exhaustive; run with `cargo test --release -- --ignored`"]
fn exhaustive_sigmoid_f32() {
    exhaustive_f32(&funcs_f32()[3]);
}

/// xorshift64: deterministic random bits.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Random `f64` inputs: uniform bit patterns (log-uniform magnitudes, both
/// signs) and uniform values in the interesting range of each function.
fn random_f64(name: &str, n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            let r = xorshift(&mut s);
            let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
            match (i % 2, name) {
                (0, _) => f64::from_bits(r),
                (_, "exp_f64") => unit * 1460.0 - 748.0,
                (_, "ln_f64") => 0.5 + 1.5 * unit,
                _ => unit * 2.0 - 1.0,
            }
        })
        .collect()
}

#[test]
#[ignore = "large random sample; run with `cargo test --release -- --ignored`"]
fn random_f64_release() {
    for func in funcs_f64() {
        let start = std::time::Instant::now();
        let mut worst = (0.0, 0.0f64);
        let n = 1 << 20;
        for round in 0..16 {
            let x = random_f64(func.name, n, 0x9e37_79b9_7f4a_7c15 ^ round);
            let out = run_levels_f64(&func, &x);
            for (&xi, &oi) in x.iter().zip(&out) {
                // libm is itself within 1 ulp of the correctly rounded value.
                let d = ulp_f64(oi, (func.reference)(xi));
                if d > worst.0 {
                    worst = (d, xi);
                }
            }
        }
        println!(
            "{}: max {} ulp from libm over {} random inputs (at {:e}); {:.1} s",
            func.name,
            worst.0,
            16 * n,
            worst.1,
            start.elapsed().as_secs_f64()
        );
        assert!(
            worst.0 <= func.max_ulp + 1.0,
            "{}({:e}) = {:e}, libm {:e}",
            func.name,
            worst.1,
            (func.f)(worst.1),
            (func.reference)(worst.1)
        );
    }
}

// ---------------------------------------------------------------------------
// exp_term_f32: the softmax denominator's exp
// ---------------------------------------------------------------------------

/// `exp_term_f32` is `exp_f32` bit for bit on [−87, 0] (a strided sample of
/// every bit pattern there, both ends included, and the 127 patterns around
/// each −(j + ½)·ln 2, where k changes), and NaN for NaN. Below −87 its
/// callers clamp (`EXP_TERM_F32_LOWEST`).
#[test]
fn exp_term_f32_matches_exp_f32() {
    let (lo, hi) = ((-0.0f32).to_bits(), (-87.0f32).to_bits());
    let mut bits = lo;
    while bits <= hi {
        let x = f32::from_bits(bits);
        assert_eq!(
            exp_term_f32(x).to_bits(),
            exp_f32(x).to_bits(),
            "exp_term_f32({x:e})"
        );
        bits += if hi - bits > 997 {
            997
        } else {
            (hi - bits).max(1)
        };
    }
    for j in 0..126 {
        let p = -(j as f32 + 0.5) * core::f32::consts::LN_2;
        for bits in p.to_bits() - 63..=p.to_bits() + 63 {
            let x = f32::from_bits(bits);
            if x >= EXP_TERM_F32_LOWEST {
                assert_eq!(
                    exp_term_f32(x).to_bits(),
                    exp_f32(x).to_bits(),
                    "exp_term_f32({x:e})"
                );
            }
        }
    }
    assert!(exp_term_f32(f32::NAN).is_nan());
    assert!(exp_term_f32(-f32::NAN).is_nan());
}

#[test]
fn ln_pair_f64_within_bound() {
    // (ln u, ln(1 − u)) on [0, 1/2], against libm's log and log1p: two
    // million samples, half uniform on [0, 1/2], half uniform in the bits
    // (so every binade down to the subnormals), and the edges.
    let near = 0.292_893_218_813_452_4f64;
    let mut edges = vec![
        0.0,
        f64::from_bits(1),
        f64::MIN_POSITIVE,
        f64::from_bits(f64::MIN_POSITIVE.to_bits() - 1),
        f64::EPSILON / 4.0,
        0.25,
        0.5,
        f64::from_bits(0.5f64.to_bits() - 1),
    ];
    for d in 0..4u64 {
        edges.push(f64::from_bits(near.to_bits() - d));
        edges.push(f64::from_bits(near.to_bits() + 1 + d));
    }
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let sample = (0..2_000_000u32).map(|i| {
        let r = next();
        if i % 2 == 0 {
            (r >> 11) as f64 / (1u64 << 53) as f64 * 0.5
        } else {
            f64::from_bits(r % (0.5f64.to_bits() + 1))
        }
    });
    for u in edges.into_iter().chain(sample) {
        let (a, b) = ln_pair_f64(u);
        let (da, db) = (ulp_f64(a, u.ln()), ulp_f64(b, (-u).ln_1p()));
        assert!(
            da <= LN_PAIR_F64_MAX_ULP && db <= LN_PAIR_F64_MAX_ULP,
            "ln_pair_f64({u:e} = {:#018x}) = ({a:e}, {b:e}): {da} and {db} ulp",
            u.to_bits()
        );
    }
    assert_eq!(ln_pair_f64(0.0), (f64::NEG_INFINITY, 0.0));
    assert_eq!(ln_pair_f64(0.5).0, ln_pair_f64(0.5).1);
    for bad in [-f64::from_bits(1), 0.75, 1.0, f64::INFINITY, f64::NAN] {
        let (a, b) = ln_pair_f64(bad);
        assert!(a.is_nan() && b.is_nan(), "ln_pair_f64({bad:e})");
    }
}
