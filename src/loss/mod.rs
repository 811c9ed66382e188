//! The losses, one file per family, and the methods every elementwise loss
//! gets from [`Pointwise`].

pub mod binary;
pub mod focal;
pub mod loglink;
pub mod regression;
pub mod softmax;

use crate::error::LossError;
use crate::float::Float;
use crate::kernel::{evaluate, Op, Pointwise, Weights};
use crate::reduce::Reduction;
use crate::simd::Level;

/// What every [`Pointwise`] loss can compute, at the active SIMD level.
///
/// `reduction` scales the value and the gradient alike: `Mean` divides by the
/// number of elements (or by Σ w with weights), `Sum` and `None` do not.
pub trait PointwiseLoss<T: Float>: Pointwise<T> {
    /// The reduced loss (`Mean` or `Sum`; `None` is an error: use
    /// [`value_each_into`](Self::value_each_into)).
    fn value(
        &self,
        input: &[T],
        target: &[T],
        reduction: Reduction,
        weights: Weights<'_, T>,
    ) -> Result<T, LossError> {
        evaluate(
            Level::active(),
            self,
            input,
            target,
            weights,
            reduction,
            Op::Value,
        )
    }

    /// The weighted loss of every element, into `out`.
    fn value_each_into(
        &self,
        input: &[T],
        target: &[T],
        weights: Weights<'_, T>,
        out: &mut [T],
    ) -> Result<(), LossError> {
        let op = Op::ValueEach(out);
        evaluate(
            Level::active(),
            self,
            input,
            target,
            weights,
            Reduction::None,
            op,
        )
        .map(drop)
    }

    /// The gradient of the reduced loss with respect to `input`, into `grad`.
    fn grad_into(
        &self,
        input: &[T],
        target: &[T],
        reduction: Reduction,
        weights: Weights<'_, T>,
        grad: &mut [T],
    ) -> Result<(), LossError> {
        let op = Op::Grad(grad);
        evaluate(Level::active(), self, input, target, weights, reduction, op).map(drop)
    }

    /// The reduced loss, returned, and its gradient, into `grad`: one pass.
    fn value_and_grad_into(
        &self,
        input: &[T],
        target: &[T],
        reduction: Reduction,
        weights: Weights<'_, T>,
        grad: &mut [T],
    ) -> Result<T, LossError> {
        let op = Op::ValueGrad(grad);
        evaluate(Level::active(), self, input, target, weights, reduction, op)
    }

    /// The gradient and the diagonal second derivative of the reduced loss.
    fn grad_hess_into(
        &self,
        input: &[T],
        target: &[T],
        reduction: Reduction,
        weights: Weights<'_, T>,
        grad: &mut [T],
        hess: &mut [T],
    ) -> Result<(), LossError> {
        let op = Op::GradHess(grad, hess);
        evaluate(Level::active(), self, input, target, weights, reduction, op).map(drop)
    }
}

impl<T: Float, L: Pointwise<T>> PointwiseLoss<T> for L {}
