//! # fastloss
//!
//! Training and evaluation losses — MAE, MSE, Smooth L1, Huber, Log-Cosh and
//! pinball — with their gradients and second derivatives, computed in one
//! pass over memory by SIMD kernels chosen at run time, summed in a fixed
//! order (bitwise identical for any thread count), on `f32` or `f64` slices.
//!
//! ```
//! use fastloss::{Huber, PointwiseLoss, Reduction, Weights};
//!
//! let input = [0.5_f64, 2.0, -1.0, 4.0];
//! let target = [0.0_f64, 0.0, 0.0, 0.0];
//! let huber = Huber::<f64>::new(1.0)?;
//!
//! let loss = huber.value(&input, &target, Reduction::Mean, Weights::None)?;
//! assert_eq!(loss, (0.125 + 1.5 + 0.5 + 3.5) / 4.0);
//!
//! let mut grad = [0.0; 4];
//! let same = huber.value_and_grad_into(&input, &target, Reduction::Mean, Weights::None, &mut grad)?;
//! assert_eq!(same, loss);
//! assert_eq!(grad, [0.125, 0.25, -0.25, 0.25]);
//! # Ok::<(), fastloss::LossError>(())
//! ```
//!
//! Conventions (see the README): `sign(0) = 0` for MAE; shapes must match
//! exactly (no broadcasting); a weighted mean is Σ w·ℓ / Σ w.

#![warn(missing_docs)]

mod error;
mod float;
pub mod kernel;
pub mod loss;
pub mod math;
mod reduce;
pub mod simd;

#[cfg(feature = "python")]
mod python;

pub use error::LossError;
pub use float::Float;
pub use kernel::{Op, Pointwise, Terms, Weights};
pub use loss::binary::{BinaryCrossEntropy, BinaryCrossEntropyWithLogits};
pub use loss::regression::{Huber, LogCosh, Mae, Mse, Pinball, SmoothL1};
pub use loss::softmax::{CrossEntropy, Targets};
pub use loss::PointwiseLoss;
pub use reduce::{num_threads, set_num_threads, Reduction, BLOCK};
pub use simd::Level;
