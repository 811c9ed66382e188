//! The elementwise losses (every [`Pointwise`] loss) as one table, which
//! the concern tests (`tests/kernels.rs`: levels agree, op consistency,
//! sizes hitting every tail, weights, errors, thread counts), the family
//! tests and the fuzz target (`fuzz/fuzz_targets/kernels.rs`, which includes
//! this file by path) all take their losses from.
//!
//! A row is a [`Kind`]: a variant with its parameter, its samples in
//! [`KINDS`], and its arms in the `match`es of `impl Kind` and
//! [`Loss::visit`]. The compiler asks a new variant for the loss it builds
//! ([`Loss::visit`]), its name, how a parameter replaces its own
//! ([`Kind::with_param`]), its input/target [`Domain`] and the crate's scalar
//! reference ([`Kind::scalar`]); the rest have defaults: no per-column
//! parameter ([`Kind::columns`]), the large size at every level
//! ([`Kind::large`]), judged by the scalar reference in ulps
//! ([`Kind::reference`]) within its domain's bound ([`Kind::ulps`]). A new
//! elementwise loss is one more variant; every concern test and the fuzz
//! target then run it.
//!
//! This file depends on `fastloss` and on `exact.rs` beside it only, so that
//! the fuzz crate can include it.

#![allow(dead_code)]

#[path = "exact.rs"]
pub mod exact;

use fastloss::kernel::evaluate;
use fastloss::loss::binary::scalar::{
    binary_cross_entropy_scalar, binary_cross_entropy_with_logits_scalar,
};
use fastloss::loss::focal::scalar::sigmoid_focal_scalar;
use fastloss::loss::loglink::scalar::{gamma_scalar, mul_exp, poisson_scalar, tweedie_scalar};
use fastloss::loss::regression::scalar::{
    huber_scalar, log_cosh_scalar, mae_scalar, mse_scalar, pinball_scalar, smooth_l1_scalar,
};
use fastloss::{
    BinaryCrossEntropy, BinaryCrossEntropyWithLogits, Float, Gamma, Huber, Level, LogCosh,
    LossError, Mae, Mse, Op, Pinball, Pointwise, Poisson, Reduction, SigmoidFocal, SmoothL1,
    Tweedie, Weights,
};

/// An elementwise loss with its parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Mae,
    Mse,
    /// β
    SmoothL1(f64),
    /// δ
    Huber(f64),
    LogCosh,
    /// q
    Pinball(f64),
    /// On probabilities.
    Bce,
    /// On logits, with a `pos_weight` of this many columns (0: none).
    Logits(usize),
    /// Focal loss on logits: α (or none), γ.
    Focal(Option<f64>, f64),
    /// The log-link losses: Poisson, Gamma, Tweedie of power p (1 < p < 2).
    Poisson,
    Gamma,
    Tweedie(f64),
}

/// Every loss with the parameters under test. The fuzz target numbers the
/// families in this order ([`families`]).
pub const KINDS: [Kind; 26] = [
    Kind::Mae,
    Kind::Mse,
    Kind::SmoothL1(0.0),
    Kind::SmoothL1(0.5),
    Kind::SmoothL1(0.75), // not a power of two: the kernel divides by β
    Kind::SmoothL1(1.0),
    Kind::Huber(0.5),
    Kind::Huber(1.0),
    Kind::Huber(2.0),
    Kind::LogCosh,
    Kind::Pinball(0.1),
    Kind::Pinball(0.5),
    Kind::Pinball(0.9),
    Kind::Bce,
    Kind::Logits(0),
    Kind::Logits(3), // pos_weight periods that no lane count divides
    Kind::Logits(7),
    Kind::Focal(Some(0.25), 2.0),
    Kind::Focal(None, 0.0), // BCE with logits
    Kind::Focal(Some(0.7), 1.0),
    Kind::Focal(None, 0.5), // the general power
    Kind::Poisson,
    Kind::Gamma,
    Kind::Tweedie(1.5),
    Kind::Tweedie(1.2),
    Kind::Tweedie(1.9),
];

/// The first kind of each family in [`KINDS`], in order.
pub fn families() -> Vec<Kind> {
    let mut out: Vec<Kind> = Vec::new();
    for k in KINDS {
        if !out.iter().any(|f| f.name() == k.name()) {
            out.push(k);
        }
    }
    out
}

/// Where a loss's inputs and targets live, for generating them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Domain {
    /// Any input and target; the loss is a function of `d = input − target`.
    Difference,
    /// Probabilities (others are rejected) against targets in [0, 1].
    Probability,
    /// Any logit against targets in [0, 1].
    Logit,
    /// Any logit against targets in [0, 1], others (and NaN) rejected.
    Label,
    /// Any input η (the log of a mean) against targets `0 ≤ y < inf`;
    /// others are rejected.
    Count,
    /// Any input η against targets `0 < y < inf`; others are rejected.
    Amount,
}

impl Domain {
    /// Whether inputs outside [0, 1] (and NaN) are rejected.
    pub fn input_is_probability(self) -> bool {
        self == Domain::Probability
    }
    /// Whether targets are meant to be in [0, 1] (validated for
    /// [`Domain::Label`] only).
    pub fn target_is_probability(self) -> bool {
        matches!(self, Domain::Probability | Domain::Logit | Domain::Label)
    }
    /// Whether targets outside the domain (and NaN) are rejected: labels in
    /// [0, 1], counts `y ≥ 0`, amounts `y > 0`.
    pub fn checks_target(self) -> bool {
        matches!(self, Domain::Label | Domain::Count | Domain::Amount)
    }
}

/// What one element's outputs are judged against.
#[derive(Clone, Copy, Debug)]
pub struct Ref {
    /// `[value, grad, hess]`, in f64.
    pub want: [f64; 3],
    /// `None`: each output within the kind's ulp bound ([`Kind::ulps`]) of
    /// `want` rounded to the element type. `Some(m)`: or, where the
    /// reference's own formula cancels, within as many units of the element
    /// type's epsilon of the magnitude `m` of its terms (at least `|want|`),
    /// plus 4 smallest normals.
    pub scale: Option<[f64; 3]>,
}

/// How the large size of the concern tests runs a kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Large {
    /// At every level.
    EveryLevel,
    /// At the Baseline only: parameters are run-time values of one compiled
    /// kernel per family, whose default parameter runs every level.
    Baseline,
    /// Not at all: the kind's inputs are `columns` times the size.
    Skip,
}

impl Kind {
    /// The loss's name (the Python package's function).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mae => "mae",
            Kind::Mse => "mse",
            Kind::SmoothL1(_) => "smooth_l1",
            Kind::Huber(_) => "huber",
            Kind::LogCosh => "log_cosh",
            Kind::Pinball(_) => "pinball",
            Kind::Bce => "binary_cross_entropy",
            Kind::Logits(_) => "binary_cross_entropy_with_logits",
            Kind::Focal(..) => "sigmoid_focal",
            Kind::Poisson => "poisson",
            Kind::Gamma => "gamma",
            Kind::Tweedie(_) => "tweedie",
        }
    }

    /// The same family with the parameter `p` (kinds without a real
    /// parameter are unchanged).
    pub fn with_param(self, p: f64) -> Kind {
        match self {
            Kind::SmoothL1(_) => Kind::SmoothL1(p),
            Kind::Huber(_) => Kind::Huber(p),
            Kind::Pinball(_) => Kind::Pinball(p),
            Kind::Focal(a, _) => Kind::Focal(a, p),
            Kind::Tweedie(_) => Kind::Tweedie(p),
            Kind::Mae
            | Kind::Mse
            | Kind::LogCosh
            | Kind::Bce
            | Kind::Logits(_)
            | Kind::Poisson
            | Kind::Gamma => self,
        }
    }

    /// The number of per-column parameters (`pos_weight`) the kind takes:
    /// its inputs are rows of that many elements. 0 for none.
    pub fn columns(self) -> usize {
        match self {
            Kind::Logits(c) => c,
            _ => 0,
        }
    }

    /// The same kind with `c` columns, where it takes columns.
    pub fn with_columns(self, c: usize) -> Kind {
        match self {
            Kind::Logits(_) => Kind::Logits(c),
            _ => self,
        }
    }

    /// Whether the `f64` scalar reference can judge this loss at all: focal's
    /// q^γ carries γ times q's rounding, which from γ = 2^20 is beyond any
    /// bound (at γ = 1e30 it drops factors such as e^−3e-9 whole, or meets
    /// 0·inf). Those parameters are then checked against mpmath only
    /// (`tests/test_focal.py`), and across levels and threads here.
    pub fn has_f64_reference(self) -> bool {
        !matches!(self, Kind::Focal(_, gamma) if gamma >= 1_048_576.0)
    }

    /// Where its inputs and targets live.
    pub fn domain(self) -> Domain {
        match self {
            Kind::Mae
            | Kind::Mse
            | Kind::SmoothL1(_)
            | Kind::Huber(_)
            | Kind::LogCosh
            | Kind::Pinball(_) => Domain::Difference,
            Kind::Bce => Domain::Probability,
            Kind::Logits(_) => Domain::Logit,
            Kind::Focal(..) => Domain::Label,
            Kind::Poisson | Kind::Tweedie(_) => Domain::Count,
            Kind::Gamma => Domain::Amount,
        }
    }

    /// How the concern tests run it at the large size.
    pub fn large(self) -> Large {
        match self {
            Kind::SmoothL1(p) | Kind::Huber(p) if p != 1.0 => Large::Baseline,
            Kind::Pinball(q) if q != 0.5 => Large::Baseline,
            Kind::Logits(c) if c > 0 => Large::Skip,
            Kind::Focal(a, g) if a != Some(0.25) || g != 2.0 => Large::Baseline,
            Kind::Tweedie(p) if p != 1.5 => Large::Baseline,
            _ => Large::EveryLevel,
        }
    }

    /// The crate's scalar f64 reference (`scalar::*_scalar`: the loss's
    /// formulas as written, with libm) at one element, `[value, grad,
    /// hess]`, and the magnitude the gradient's rounding error scales with
    /// where it is a difference of larger terms (else 0). `column` is the
    /// element's per-column parameter (1 where there is none).
    ///
    /// A NaN difference propagates through value and gradient, whatever the
    /// scalar function says (`pinball_scalar(NaN, q)` gives the gradient
    /// `0.5 − q`).
    pub fn scalar<T: Float>(self, input: T, target: T, column: T) -> ([f64; 3], f64) {
        let d = (input - target).to_f64();
        // β and δ are held in T; pinball keeps q − 1 and 0.5 − q to f64
        // accuracy, so its reference takes q unrounded.
        let in_t = |p: f64| T::from_f64(p).to_f64();
        let by_d = |(v, g, h): (f64, f64, f64)| {
            let r = if d.is_nan() {
                [f64::NAN, f64::NAN, h]
            } else {
                [v, g, h]
            };
            (r, 0.0)
        };
        let (x, t, pw) = (input.to_f64(), target.to_f64(), column.to_f64());
        match self {
            Kind::Mae => by_d(mae_scalar(d)),
            Kind::Mse => by_d(mse_scalar(d)),
            Kind::SmoothL1(b) => by_d(smooth_l1_scalar(d, in_t(b))),
            Kind::Huber(delta) => by_d(huber_scalar(d, in_t(delta))),
            Kind::LogCosh => by_d(log_cosh_scalar(d)),
            Kind::Pinball(q) => by_d(pinball_scalar(d, q)),
            Kind::Bce => (binary_cross_entropy_scalar(x, t).into(), 0.0),
            Kind::Logits(_) => {
                let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
                // (1−t)·σ(x) − pw·t·σ(−x): measured against the larger term.
                let scale = ((1.0 - t) * sig(x)).abs().max((pw * t * sig(-x)).abs());
                (
                    binary_cross_entropy_with_logits_scalar(x, t, pw).into(),
                    scale,
                )
            }
            Kind::Focal(a, g) => {
                let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
                // σ(x) − t: measured against the larger term, times the
                // focal factor, which is at most 1.
                let scale = ((1.0 - t) * sig(x)).abs().max((t * sig(-x)).abs());
                (sigmoid_focal_scalar(x, t, a, g).into(), scale)
            }
            // The gradients are differences of two terms: measured against
            // the larger.
            Kind::Poisson => {
                let r = poisson_scalar(x, t);
                (r.into(), r.2.max(t))
            }
            Kind::Gamma => {
                let r = gamma_scalar(x, t);
                (r.into(), r.2.max(1.0))
            }
            Kind::Tweedie(p) => {
                let r = tweedie_scalar(x, t, p);
                let b = mul_exp(t, (1.0 - p) * x);
                (r.into(), ((2.0 - p) * x).exp().max(b))
            }
        }
    }

    /// The reference the integration tests judge an element by (see [`Ref`]):
    /// the crate's scalar one, except that log-cosh's is a double-double
    /// evaluation (f64) or a cheaper f64 one checked against it (f32), as
    /// `log_cosh_scalar` is itself up to 3 ulp off, too coarse for a 4-ulp
    /// bound; that the logits one is its limit at infinite logits; and that
    /// the binary ones are measured against their terms.
    pub fn reference<T: Float>(self, input: T, target: T, column: T) -> Ref {
        let (x, t, pw) = (input.to_f64(), target.to_f64(), column.to_f64());
        let ([v, g, h], gscale) = self.scalar(input, target, column);
        match self {
            Kind::LogCosh => {
                let d = (input - target).to_f64();
                let want = if T::MANTISSA_DIGITS > 24 {
                    exact::log_cosh(d)
                } else {
                    exact::log_cosh_plain(d)
                };
                Ref { want, scale: None }
            }
            Kind::Bce => {
                let lp = x.ln().max(-100.0);
                let lq = (-x).ln_1p().max(-100.0);
                let value = (t * lp).abs() + ((1.0 - t) * lq).abs();
                Ref {
                    want: [v, g, h],
                    scale: Some([value, g.abs(), h.abs()]),
                }
            }
            Kind::Logits(_) if x.is_infinite() && !t.is_nan() => Ref {
                want: limit(x, t, pw),
                scale: Some([0.0; 3]),
            },
            Kind::Focal(alpha, gamma) => {
                // The reference's derivatives are sums of terms of both
                // signs (and σ(x) − t a difference): its own rounding scales
                // with the sum of their magnitudes.
                // Its q^γ carries γ times the rounding error of q (for a
                // huge γ, where q rounds to 1, all of q^γ − 1): beyond what
                // the bounds' units cover from γ = 4 on.
                let [gs, hs] = focal_term_sizes(x, t, alpha, gamma);
                let amp = (gamma / 4.0).max(1.0);
                Ref {
                    want: [v, g, h],
                    scale: Some([v.abs() * amp, gs.max(gscale) * amp, hs * amp]),
                }
            }
            Kind::Logits(_) => {
                let softplus_neg = (-x).max(0.0) + (-x.abs()).exp().ln_1p();
                let c = 1.0 + (pw - 1.0) * t;
                let value = ((1.0 - t) * x).abs() + (c * softplus_neg).abs();
                Ref {
                    want: [v, g, h],
                    scale: Some([value, gscale, h.abs()]),
                }
            }
            // Values that are differences (Poisson's, Gamma's) measured
            // against their terms; the rest as the binary losses.
            Kind::Poisson | Kind::Gamma => {
                let value = if self == Kind::Poisson {
                    x.exp() + (t * x).abs()
                } else {
                    x.abs() + h
                };
                Ref {
                    want: [v, g, h],
                    scale: Some([value, gscale, h.abs()]),
                }
            }
            // The reference rounds (2 − p)·η and (1 − p)·η before their
            // exponentials (the kernel carries that error): its own error is
            // that many times larger.
            Kind::Tweedie(p) => {
                let amp = 1.0 + ((2.0 - p) * x).abs() + ((1.0 - p) * x).abs();
                Ref {
                    want: [v, g, h],
                    scale: Some([v.abs() * amp, gscale * amp, h.abs() * amp]),
                }
            }
            _ => Ref {
                want: [v, g, h],
                scale: None,
            },
        }
    }

    /// Allowed distance in ulps of output `k` (0 value, 1 gradient, 2 second
    /// derivative) from the reference. The f64 piecewise-polynomial kernels
    /// evaluate the reference's very formula, so they match it exactly; in
    /// f32 they round a few times. The binary losses: value and gradient 4
    /// (f32) or 8 (f64: the kernel's and the reference's errors add); their
    /// second derivative, a product of three rounded factors, twice that.
    pub fn ulps<T: Float>(self, k: usize) -> u64 {
        let f64_ = T::MANTISSA_DIGITS > 24;
        match self.domain() {
            Domain::Probability
            | Domain::Logit
            | Domain::Label
            | Domain::Count
            | Domain::Amount => {
                let base = if f64_ { 8 } else { 4 };
                if k == 2 {
                    2 * base
                } else {
                    base
                }
            }
            Domain::Difference => match self {
                Kind::LogCosh => 4,
                _ if f64_ => 0,
                _ => 2,
            },
        }
    }
}

/// The limits of BCE with logits at infinite logits: `x = −inf, t = 0` and
/// `x = +inf, t = 1` give 0, and so does any zero coefficient of `|x|`;
/// otherwise `+inf`. Gradients `(1−t)·σ(x) − pw·t·σ(−x)` with
/// `σ(±inf) ∈ {1, 0}`; second derivative 0.
pub fn limit(x: f64, t: f64, pw: f64) -> [f64; 3] {
    let (coef, grad) = if x > 0.0 {
        (1.0 - t, 1.0 - t)
    } else {
        (pw * t, -pw * t)
    };
    [if coef == 0.0 { 0.0 } else { f64::INFINITY }, grad, 0.0]
}

/// The sums of the magnitudes of the terms of the focal loss's gradient
/// and second derivative, as `sigmoid_focal_scalar` writes them.
pub fn focal_term_sizes(x: f64, t: f64, alpha: Option<f64>, gamma: f64) -> [f64; 2] {
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    let (s, sc) = (sig(x), sig(-x));
    let b = (x.max(0.0) - x * t + (-x.abs()).exp().ln_1p()).abs();
    let q = t * sc + (1.0 - t) * s;
    let dq = ((1.0 - 2.0 * t) * s * sc).abs();
    let ddq = dq * (sc - s).abs();
    let a = alpha.map_or(1.0, |al| al * t + (1.0 - al) * (1.0 - t));
    let gb = ((1.0 - t) * s).max(t * sc);
    let qg = q.powf(gamma);
    let (d1, d2) = if gamma == 0.0 || dq == 0.0 {
        (0.0, 0.0)
    } else {
        let q1 = gamma * q.powf(gamma - 1.0);
        (
            q1 * dq,
            (gamma * (gamma - 1.0) * q.powf(gamma - 2.0)).abs() * dq * dq + q1 * ddq,
        )
    };
    let times_b = |c: f64| if c == 0.0 { 0.0 } else { c * b };
    [
        a * (times_b(d1) + qg * gb),
        a * (times_b(d2) + 2.0 * d1 * gb + qg * s * sc),
    ]
}

/// Something to do with a loss, whatever its type.
pub trait Visit<T: Float> {
    type Out;
    fn visit<L: Pointwise<T>>(self, loss: &L) -> Self::Out;
}

/// A kind with the values of its per-column parameter (empty for none).
#[derive(Clone, Debug)]
pub struct Loss<T> {
    pub kind: Kind,
    pub columns: Vec<T>,
}

impl<T: Float> Loss<T> {
    /// `columns` must hold `kind.columns()` values.
    pub fn new(kind: Kind, columns: Vec<T>) -> Self {
        assert_eq!(columns.len(), kind.columns(), "{kind:?}");
        Loss { kind, columns }
    }

    /// A kind without per-column parameters.
    pub fn plain(kind: Kind) -> Self {
        Loss::new(kind, Vec::new())
    }

    /// Builds the loss and hands it to `v`; an invalid parameter is the
    /// constructor's error.
    pub fn visit<V: Visit<T>>(&self, v: V) -> Result<V::Out, LossError> {
        let columns = Some(&self.columns[..]).filter(|c| !c.is_empty());
        Ok(match self.kind {
            Kind::Mae => v.visit(&Mae),
            Kind::Mse => v.visit(&Mse),
            Kind::SmoothL1(b) => v.visit(&SmoothL1::<T>::new(b)?),
            Kind::Huber(delta) => v.visit(&Huber::<T>::new(delta)?),
            Kind::LogCosh => v.visit(&LogCosh),
            Kind::Pinball(q) => v.visit(&Pinball::<T>::new(q)?),
            Kind::Bce => v.visit(&BinaryCrossEntropy),
            Kind::Logits(_) => v.visit(&BinaryCrossEntropyWithLogits::new(columns)?),
            Kind::Focal(a, g) => v.visit(&SigmoidFocal::<T>::new(a, g)?),
            Kind::Poisson => v.visit(&Poisson),
            Kind::Gamma => v.visit(&Gamma),
            Kind::Tweedie(p) => v.visit(&Tweedie::new(p)?),
        })
    }

    /// [`evaluate`] with this loss.
    pub fn eval(
        &self,
        level: Level,
        input: &[T],
        target: &[T],
        weights: Weights<'_, T>,
        reduction: Reduction,
        op: Op<'_, T>,
    ) -> Result<T, LossError> {
        struct Eval<'a, 'o, T> {
            level: Level,
            input: &'a [T],
            target: &'a [T],
            weights: Weights<'a, T>,
            reduction: Reduction,
            op: Op<'o, T>,
        }
        impl<T: Float> Visit<T> for Eval<'_, '_, T> {
            type Out = Result<T, LossError>;
            fn visit<L: Pointwise<T>>(self, loss: &L) -> Self::Out {
                evaluate(
                    self.level,
                    loss,
                    self.input,
                    self.target,
                    self.weights,
                    self.reduction,
                    self.op,
                )
            }
        }
        self.visit(Eval {
            level,
            input,
            target,
            weights,
            reduction,
            op,
        })?
    }

    /// Element `i`'s per-column parameter, or 1.
    pub fn column(&self, i: usize) -> T {
        if self.columns.is_empty() {
            T::ONE
        } else {
            self.columns[i % self.columns.len()]
        }
    }

    /// [`Kind::scalar`] at element `i`.
    pub fn scalar(&self, i: usize, input: T, target: T) -> ([f64; 3], f64) {
        self.kind.scalar(input, target, self.column(i))
    }

    /// [`Kind::reference`] at element `i`.
    pub fn reference(&self, i: usize, input: T, target: T) -> Ref {
        self.kind.reference(input, target, self.column(i))
    }
}
