//! # fastloss
//!
//! Training and evaluation losses — MAE, MSE, Smooth L1, Huber, Log-Cosh,
//! pinball (quantile), binary cross-entropy (on probabilities and on logits)
//! and softmax cross-entropy — with their gradients and second derivatives,
//! computed in one pass over memory by SIMD kernels chosen at run time,
//! summed in a fixed order (bitwise identical for any thread count), on `f32`
//! or `f64` slices. The default features pull in no Python: the bindings are
//! behind the `python` feature.
//!
//! Every elementwise loss ([`Mae`], [`Mse`], [`SmoothL1`], [`Huber`],
//! [`LogCosh`], [`Pinball`], [`BinaryCrossEntropy`],
//! [`BinaryCrossEntropyWithLogits`]) implements [`Pointwise`] and so gets the
//! methods of [`PointwiseLoss`]: `value`, `value_each_into`, `grad_into`,
//! `value_and_grad_into` and `grad_hess_into`. [`CrossEntropy`] has the same
//! five, over rows of logits, with [`Targets`] holding class indices or
//! probabilities.
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
//! Gradients and second derivatives for a gradient-boosting step, with sample
//! weights, and a softmax cross-entropy over rows of 3 classes:
//!
//! ```
//! use fastloss::{CrossEntropy, LogCosh, PointwiseLoss, Reduction, Targets, Weights};
//!
//! let pred = [0.0_f32, 1.0, -2.0];
//! let label = [0.5_f32, 1.0, 0.0];
//! let weight = [1.0_f32, 2.0, 0.5];
//! let (mut g, mut h) = ([0.0_f32; 3], [0.0_f32; 3]);
//! LogCosh.grad_hess_into(&pred, &label, Reduction::Sum, Weights::Each(&weight), &mut g, &mut h)?;
//! assert_eq!(g[1], 0.0); // tanh(0), weighted
//! assert_eq!(h[1], 2.0); // 1 − tanh²(0), times the weight 2
//!
//! let logits = [2.0_f64, 0.0, 0.0, /* row 2 */ 0.0, 0.0, 0.0];
//! let ce = CrossEntropy::<f64>::new().with_label_smoothing(0.1)?;
//! let mut grad = [0.0; 6];
//! let loss = ce.value_and_grad_into(
//!     &logits,
//!     Targets::Index(&[0, 2]),
//!     3,
//!     Reduction::Mean,
//!     Weights::None,
//!     &mut grad,
//! )?;
//! assert!(loss > 0.0);
//! // Each row's gradient sums to zero: softmax minus a distribution.
//! assert!((grad[0] + grad[1] + grad[2]).abs() < 1e-15);
//! # Ok::<(), fastloss::LossError>(())
//! ```
//!
//! With the `ndarray` feature, every loss takes views of any dimension and
//! layout, read where they lie: a column of a prediction matrix, logits with
//! the classes along any axis (here PyTorch's `(N, C, d)`), a broadcast
//! target. Gradients go into views of any layout too.
//!
//! ```
//! # #[cfg(feature = "ndarray")] {
//! use fastloss::{ArrayTargets, CrossEntropy, Mse, PointwiseArray, Reduction};
//! use ndarray::{array, s, Array2, Array3, Axis};
//!
//! // Column 1 of three rows of predictions, against one broadcast target.
//! let pred: Array2<f32> = array![[0.0, 1.0], [0.0, 3.0], [0.0, 2.0]];
//! let target = array![2.0_f32];
//! let target = target.broadcast(3).unwrap();
//! let mut grad = Array2::<f32>::zeros((2, 3));
//! let loss = Mse.value_and_grad_array(pred.slice(s![.., 1]), target, Reduction::Mean, None, grad.row_mut(0))?;
//! assert_eq!(loss, 2.0 / 3.0);
//! assert_eq!(grad.row(0).to_vec(), [-2.0 / 3.0, 2.0 / 3.0, 0.0]);
//!
//! // 2 samples, 4 classes along axis 1, 5 positions: one label per (sample, position).
//! let logits = Array3::<f64>::zeros((2, 4, 5));
//! let labels = Array2::<i64>::from_elem((2, 5), 3);
//! let ce = CrossEntropy::<f64>::new();
//! let loss = ce.value_array(logits.view(), ArrayTargets::Index(labels.view()), Axis(1), Reduction::Mean, None)?;
//! assert!((loss - 4.0_f64.ln()).abs() < 1e-15);
//! # }
//! # Ok::<(), fastloss::LossError>(())
//! ```
//!
//! A complete program (a line fitted through outliers under MSE and Huber) is
//! `examples/robust_line.rs`: `cargo run --release --example robust_line`.
//!
//! Conventions (see the README): `sign(0) = 0` for MAE; shapes must match
//! exactly (no broadcasting); a weighted mean is Σ w·ℓ / Σ w. Errors are
//! [`LossError`] values naming the argument and the offending value.
//!
//! ## Features
//!
//! - `python` (off by default): the PyO3 bindings that the Python package is
//!   built from (with maturin). It adds no Rust API, only the extension
//!   module's entry point, and pulls in `pyo3` and `numpy`.
//!
//! - `ndarray` (off by default): every loss on `ndarray` views of any
//!   dimension and layout, read and written where they lie, through the
//!   same kernels (strided, reversed, transposed and broadcast views
//!   included): the trait `PointwiseArray` for the elementwise losses, and
//!   [`CrossEntropy`]'s `*_array` methods, which take the class axis.
//!
//! Items behind a feature carry its badge in these docs.

#![warn(missing_docs)]
// docs.rs builds with `--cfg docsrs` (see `[package.metadata.docs.rs]`): there
// rustdoc labels each item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "ndarray")]
mod array;
mod dd;
mod error;
mod fixed;
mod float;
pub mod kernel;
pub mod loss;
pub mod math;
mod reduce;
pub mod simd;
// Only the `ndarray` API and the Python binding make strided arguments:
// without them, the slice paths alone are used.
#[cfg_attr(not(any(feature = "ndarray", feature = "python")), allow(dead_code))]
mod strided;
mod threads;

#[cfg(feature = "python")]
mod python;

#[cfg(feature = "ndarray")]
pub use array::{ArrayTargets, PointwiseArray};
pub use error::LossError;
pub use float::Float;
pub use kernel::{Columns, Op, Pointwise, TargetDomain, Terms, Weights};
pub use loss::binary::{BinaryCrossEntropy, BinaryCrossEntropyWithLogits};
pub use loss::focal::SigmoidFocal;
pub use loss::loglink::{Gamma, Poisson, Tweedie};
pub use loss::regression::{Huber, LogCosh, Mae, Mse, Pinball, SmoothL1};
pub use loss::softmax::{CrossEntropy, Targets};
pub use loss::PointwiseLoss;
pub use reduce::{Reduction, BLOCK};
pub use simd::Level;
pub use threads::{num_threads, set_num_threads, MAX_THREADS};
