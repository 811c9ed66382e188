//! The regression losses' own math, beyond what `kernels.rs` checks of every
//! elementwise loss: log-cosh where it is hard and its references, Smooth
//! L1's exact multiplication by `1/β`, and the parameters each constructor
//! rejects.

mod common;

use common::kinds::exact;
use common::{assert_ulps, filled, is_f64, same, ulps, Elem, Rng};
use fastloss::kernel::evaluate;
use fastloss::loss::regression::scalar::log_cosh_scalar;
use fastloss::{Huber, Level, LogCosh, LossError, Op, Pinball, Reduction, SmoothL1, Weights};

// ---------------------------------------------------------------- log-cosh --

/// Spot checks where log-cosh is hard: the series/asymptote switch at 1, tiny
/// arguments (whose value underflows in f32), and huge ones.
#[test]
fn log_cosh_spot_checks() {
    fn check<T: Elem>() {
        let mut ds = vec![
            0.0, 1e-6, 1e-20, 0.5, 0.999, 1.0, 1.001, 3.0, 20.0, 1e4, 1e-3, 0.3, 5.0, 19.999,
            20.001, 50.0, 400.0, 1e30, 1e-40, 1e-300,
        ];
        ds.extend([T::MAX, T::MAX / 2.0, T::MAX * (1.0 - T::EPS)]);
        ds.extend([1.0 - T::EPS / 2.0, 1.0 + T::EPS, 1.0 - T::EPS]);
        let x: Vec<T> = ds
            .iter()
            .flat_map(|&d| [T::from_f64(d), T::from_f64(-d)])
            .collect();
        let y = vec![T::ZERO; x.len()];
        let n = x.len();
        for level in Level::available() {
            let (mut v, mut g, mut h) = (filled::<T>(n), filled::<T>(n), filled::<T>(n));
            let (w, red) = (Weights::None, Reduction::None);
            evaluate(level, &LogCosh, &x, &y, w, red, Op::ValueEach(&mut v)).unwrap();
            let op = Op::GradHess(&mut g, &mut h);
            evaluate(level, &LogCosh, &x, &y, w, red, op).unwrap();
            for i in 0..n {
                let d = x[i].to_f64();
                let at = || format!("log_cosh {} {level:?} d={d:e}", T::NAME);
                let [rv, rg, rh] = exact::log_cosh(d);
                assert_ulps(v[i], rv, 4, "value", &at);
                assert_ulps(g[i], rg, 4, "grad", &at);
                assert_ulps(h[i], rh, 4, "hess", &at);
                assert!(v[i].to_f64().is_finite(), "{}: not finite", at());
            }
        }
    }
    check::<f32>();
    check::<f64>();
}

#[test]
fn log_cosh_references_agree() {
    let mut rng = Rng(4);
    for i in 0..3000 {
        let d = match i % 3 {
            0 => rng.scaled(-40.0, 0.0),
            1 => rng.scaled(-1.0, 1.5),
            _ => rng.scaled(1.0, 3.0),
        };
        let e = exact::log_cosh(d);
        // The f64 reference for f32 is within 1e-14 of exact.
        let f = exact::log_cosh_plain(d);
        for k in 0..3 {
            // Relative, or a few subnormal steps (sech² underflows).
            let err = (f[k] - e[k]).abs();
            assert!(
                err <= 1e-14 * e[k].abs() + 4.0 * f64::from_bits(1),
                "log_cosh_plain({d:e})[{k}]: {:e} vs {:e}",
                f[k],
                e[k]
            );
        }
        // The crate's scalar reference: its value within 4 ε absolute, which
        // is a relative bound where the value is not small (|d| ≥ 0.3, value
        // ≥ 0.044), its tanh within 2 ulp and its sech² within 8.
        if d.abs() >= 0.3 {
            let (v, g, h) = log_cosh_scalar(d);
            let tol = 4.0 * f64::EPSILON * e[0].max(1.0);
            assert!(
                (v - e[0]).abs() <= tol,
                "value d={d:e}: {v:e} vs {:e}",
                e[0]
            );
            assert!(ulps(g, e[1]) <= 2, "grad d={d:e}: {g:e} vs {:e}", e[1]);
            assert!(ulps(h, e[2]) <= 8, "hess d={d:e}: {h:e} vs {:e}", e[2]);
        }
    }
}

#[test]
fn log_cosh_exact_reference_forms_agree() {
    exact::check_forms_agree();
}

// --------------------------------------------------------------- smooth L1 --

/// Smooth L1 multiplies by `1/β` where β is a power of two with a normal
/// reciprocal: the quadratic side's value `0.5·d·(d/β)` and gradient `d/β`
/// must be the divided ones bit for bit, down through the subnormals and up
/// to overflow, at every level, for such β and for the β next to them.
fn check_smooth_l1_power_of_two_beta<T: Elem>() {
    let emax = if is_f64::<T>() { 1023 } else { 127 };
    let emin = if is_f64::<T>() { -1022 } else { -126 };
    let mut betas = Vec::new();
    for e in [emin, emin + 1, -60, -1, 0, 1, 60, emax - 1, emax] {
        let b = 2f64.powi(e);
        betas.extend([b, b * (1.0 + T::EPS), b * (1.0 - T::EPS / 2.0)]);
    }
    let mut rng = Rng(7);
    for beta in betas {
        let b = T::from_f64(beta);
        if b <= T::ZERO || !b.is_finite() {
            continue;
        }
        // |d| < β from β down to the smallest subnormal, both signs.
        let mut x: Vec<T> = (0..600)
            .map(|i| {
                let f = 2f64.powf(-(i as f64) * 1.8 * rng.unit());
                T::from_f64(rng.sign() * beta * f * (1.0 - T::EPS))
            })
            .collect();
        x.extend([T::ZERO, -T::ZERO, T::MIN_POSITIVE, -T::MIN_POSITIVE]);
        let y = vec![T::ZERO; x.len()];
        let sl = SmoothL1::<T>::new(beta).unwrap();
        for level in Level::available() {
            let mut v = filled::<T>(x.len());
            let mut g = filled::<T>(x.len());
            evaluate(
                level,
                &sl,
                &x,
                &y,
                Weights::None,
                Reduction::Sum,
                Op::ValueEachGrad(&mut v, &mut g),
            )
            .unwrap();
            for i in 0..x.len() {
                let d = x[i];
                if d.abs() >= b {
                    continue;
                }
                let r = d / b;
                let want = T::HALF * d * r;
                assert!(
                    same(v[i], want) && same(g[i], r),
                    "{level:?} beta {beta:e} d {:e}: value {:e} grad {:e}, want {:e} {:e}",
                    d.to_f64(),
                    v[i].to_f64(),
                    g[i].to_f64(),
                    want.to_f64(),
                    r.to_f64()
                );
            }
        }
    }
}

#[test]
fn smooth_l1_power_of_two_beta_multiplies_exactly() {
    check_smooth_l1_power_of_two_beta::<f32>();
    check_smooth_l1_power_of_two_beta::<f64>();
}

// -------------------------------------------------------------- parameters --

fn check_parameters<T: Elem>() {
    let param = |r: Result<(), LossError>| match r {
        Err(LossError::InvalidParameter { name, value, .. }) => (name, value),
        other => panic!("expected InvalidParameter, got {other:?}"),
    };
    for beta in [-1.0, -1e-300, f64::NAN, f64::NEG_INFINITY] {
        let (name, value) = param(SmoothL1::<T>::new(beta).map(drop));
        assert_eq!(name, "beta");
        assert!(same(value, beta), "{value} vs {beta}");
    }
    for delta in [0.0, -0.0, -1.0, f64::NAN, f64::NEG_INFINITY] {
        let (name, value) = param(Huber::<T>::new(delta).map(drop));
        assert_eq!(name, "delta");
        assert!(same(value, delta), "{value} vs {delta}");
    }
    for q in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        let (name, value) = param(Pinball::<T>::new(q).map(drop));
        assert_eq!(name, "q");
        assert!(same(value, q), "{value} vs {q}");
    }
    assert!(SmoothL1::<T>::new(0.0).is_ok());
    assert!(Huber::<T>::new(1e-3).is_ok());
    assert!(Pinball::<T>::new(1e-3).is_ok() && Pinball::<T>::new(0.999).is_ok());
    // The message names the parameter and the value.
    let e = Huber::<T>::new(-2.5).unwrap_err().to_string();
    assert!(e.contains("delta") && e.contains("-2.5"), "{e}");
}

#[test]
fn invalid_parameters_are_rejected() {
    check_parameters::<f32>();
    check_parameters::<f64>();
}
