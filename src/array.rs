//! The losses on [`ndarray`] arrays of any dimension and layout (the
//! `ndarray` feature): read and written where they lie, through the same
//! kernels as slices.
//!
//! Elements are taken in the arrays' logical (C) order, whatever their
//! strides, so every result has the bits of the same call on contiguous
//! copies. Views with negative strides, Fortran order, every other element
//! or a broadcast (stride 0) are read in place, a block at a time; outputs
//! are written in place too. A target or weight array that repeats along
//! an axis can be passed as a broadcast view ([`ArrayView::broadcast`]).

use ndarray::{ArrayView, ArrayViewMut, Axis, Dimension, RemoveAxis};

use crate::error::LossError;
use crate::float::Float;
use crate::kernel::{evaluate_sources, Pointwise, Sinks, SourceWeights, Wants};
use crate::loss::softmax::{Args, CrossEntropy};
use crate::reduce::Reduction;
use crate::simd::Level;
use crate::strided::{Layout, Sink, Source};

/// What the forms ask for: the reduced value; every element's value; the
/// gradient; the value and the gradient; the gradient and the second
/// derivative.
const VALUE: Wants = wants(true, false, false, false);
const VALUE_EACH: Wants = wants(true, true, false, false);
const GRAD: Wants = wants(false, false, true, false);
const VALUE_GRAD: Wants = wants(true, false, true, false);
const GRAD_HESS: Wants = wants(false, false, true, true);

const fn wants(value: bool, store: bool, grad: bool, hess: bool) -> Wants {
    Wants {
        value,
        store,
        grad,
        hess,
    }
}

/// `got` must be `expected`: the shape of argument `name`.
fn same_shape(name: &'static str, expected: &[usize], got: &[usize]) -> Result<(), LossError> {
    if expected == got {
        Ok(())
    } else {
        Err(LossError::ShapeMismatch {
            name,
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}

/// The layout of a view, with its axes in `order`.
fn layout<T, D: Dimension>(
    name: &'static str,
    a: &ArrayView<'_, T, D>,
    order: &[usize],
) -> Result<Layout, LossError> {
    let (shape, strides) = reorder(a.shape(), a.strides(), order);
    Layout::new(name, &shape, &strides)
}

/// A view's elements, read in place, as `layout` (its [`layout`]) says.
fn source<'a, T: Copy + Default, D: Dimension>(
    a: &ArrayView<'a, T, D>,
    layout: &'a Layout,
) -> Source<'a, T> {
    // SAFETY: a view borrows its elements, shared, for 'a, and `layout`
    // (its own, the axes only reordered) reaches those and no others.
    unsafe { Source::from_raw(a.as_ptr(), layout) }
}

/// Outputs: the layouts of the views (in `order`), then the sinks that
/// borrow both.
struct Outs<'v, T, D: Dimension> {
    views: [Option<ArrayViewMut<'v, T, D>>; 3],
    layouts: [Option<Layout>; 3],
}

impl<'v, T: Copy + Default, D: Dimension> Outs<'v, T, D> {
    /// Checks each output's shape (`expected[k]`) and lays it out.
    fn new(
        views: [Option<ArrayViewMut<'v, T, D>>; 3],
        expected: [&[usize]; 3],
        order: [&[usize]; 3],
    ) -> Result<Self, LossError> {
        const NAMES: [&str; 3] = ["value out", "grad out", "hess out"];
        let mut layouts = [None, None, None];
        for k in 0..3 {
            if let Some(o) = &views[k] {
                same_shape(NAMES[k], expected[k], o.shape())?;
                let (shape, strides) = reorder(o.shape(), o.strides(), order[k]);
                layouts[k] = Some(Layout::new(NAMES[k], &shape, &strides)?);
            }
        }
        Ok(Self { views, layouts })
    }

    fn sinks(&mut self) -> Sinks<'_, T> {
        let mut it = self
            .views
            .iter_mut()
            .zip(&self.layouts)
            .map(|(v, l)| match (v, l) {
                // SAFETY: a mutable view borrows its elements exclusively,
                // ndarray does not let them alias, and `l` is its layout.
                (Some(v), Some(l)) => unsafe { Sink::from_raw(v.as_mut_ptr(), l) },
                _ => Sink::Slice(&mut []),
            });
        let mut next = || it.next().unwrap_or(Sink::Slice(&mut []));
        (next(), next(), next())
    }
}

/// `shape` and `strides` with the axes in `order` (all of them, in their
/// own order, when `order` is empty).
fn reorder(shape: &[usize], strides: &[isize], order: &[usize]) -> (Vec<usize>, Vec<isize>) {
    if order.is_empty() {
        return (shape.to_vec(), strides.to_vec());
    }
    order.iter().map(|&k| (shape[k], strides[k])).unzip()
}

/// A call of a [`Pointwise`] loss on views.
#[allow(clippy::too_many_arguments)]
fn pointwise<T: Float, L: Pointwise<T>, D: Dimension>(
    loss: &L,
    input: ArrayView<'_, T, D>,
    target: ArrayView<'_, T, D>,
    reduction: Reduction,
    weights: Option<ArrayView<'_, T, D>>,
    wants: Wants,
    outs: [Option<ArrayViewMut<'_, T, D>>; 3],
) -> Result<T, LossError> {
    let shape = input.shape();
    same_shape("target", shape, target.shape())?;
    let (lx, ly) = (
        layout("input", &input, &[])?,
        layout("target", &target, &[])?,
    );
    let lw = match &weights {
        Some(w) => {
            same_shape("sample_weight", shape, w.shape())?;
            Some(layout("sample_weight", w, &[])?)
        }
        None => None,
    };
    let mut outs = Outs::new(outs, [shape; 3], [&[]; 3])?;
    let weights = match (&weights, &lw) {
        (Some(w), Some(l)) => SourceWeights::Each(source(w, l)),
        _ => SourceWeights::None,
    };
    let (x, y) = (source(&input, &lx), source(&target, &ly));
    let level = Level::active();
    evaluate_sources(level, loss, x, y, weights, reduction, wants, outs.sinks())
}

/// What every [`Pointwise`] loss computes on [`ndarray`] views of any
/// dimension and layout: the methods of
/// [`PointwiseLoss`](crate::PointwiseLoss), with arrays of one shape for
/// the input, the target, the sample weights (one per element) and the
/// outputs.
///
/// ```
/// use fastloss::{Huber, PointwiseArray, PointwiseLoss, Reduction, Weights};
/// use ndarray::{array, s, Array2};
///
/// let pred: Array2<f64> = array![[0.5, 9.0], [2.0, 9.0], [-1.0, 9.0]];
/// let label = array![0.0, 0.0, 0.0];
/// let huber = Huber::<f64>::new(1.0)?;
///
/// // The first column, strided, read in place; the label broadcast.
/// let column = pred.slice(s![.., 0]);
/// let loss = huber.value_array(column, label.view(), Reduction::Mean, None)?;
/// assert_eq!(loss, huber.value(&[0.5, 2.0, -1.0], &[0.0; 3], Reduction::Mean, Weights::None)?);
///
/// // Gradients into the second column of another array.
/// let mut grad = Array2::<f64>::zeros((3, 2));
/// huber.grad_array(column, label.view(), Reduction::Sum, None, grad.slice_mut(s![.., 1]))?;
/// assert_eq!(grad.column(1).to_vec(), [0.5, 1.0, -1.0]);
/// # Ok::<(), fastloss::LossError>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "ndarray")))]
pub trait PointwiseArray<T: Float>: Pointwise<T> {
    /// The reduced loss (`Mean` or `Sum`).
    fn value_array<D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        reduction: Reduction,
        weights: Option<ArrayView<'_, T, D>>,
    ) -> Result<T, LossError> {
        pointwise(
            self,
            input,
            target,
            reduction,
            weights,
            VALUE,
            [None, None, None],
        )
    }

    /// The weighted loss of every element, into `out`.
    fn value_each_array<D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        weights: Option<ArrayView<'_, T, D>>,
        out: ArrayViewMut<'_, T, D>,
    ) -> Result<(), LossError> {
        let outs = [Some(out), None, None];
        pointwise(
            self,
            input,
            target,
            Reduction::None,
            weights,
            VALUE_EACH,
            outs,
        )
        .map(drop)
    }

    /// The gradient of the reduced loss with respect to `input`, into `grad`.
    fn grad_array<D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        reduction: Reduction,
        weights: Option<ArrayView<'_, T, D>>,
        grad: ArrayViewMut<'_, T, D>,
    ) -> Result<(), LossError> {
        let outs = [None, Some(grad), None];
        pointwise(self, input, target, reduction, weights, GRAD, outs).map(drop)
    }

    /// The reduced loss, returned, and its gradient, into `grad`: one pass.
    fn value_and_grad_array<D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        reduction: Reduction,
        weights: Option<ArrayView<'_, T, D>>,
        grad: ArrayViewMut<'_, T, D>,
    ) -> Result<T, LossError> {
        let outs = [None, Some(grad), None];
        pointwise(self, input, target, reduction, weights, VALUE_GRAD, outs)
    }

    /// The gradient and the diagonal second derivative of the reduced loss.
    fn grad_hess_array<D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        reduction: Reduction,
        weights: Option<ArrayView<'_, T, D>>,
        grad: ArrayViewMut<'_, T, D>,
        hess: ArrayViewMut<'_, T, D>,
    ) -> Result<(), LossError> {
        let outs = [None, Some(grad), Some(hess)];
        pointwise(self, input, target, reduction, weights, GRAD_HESS, outs).map(drop)
    }
}

impl<T: Float, L: Pointwise<T>> PointwiseArray<T> for L {}

/// The targets of [`CrossEntropy`] on arrays.
#[cfg_attr(docsrs, doc(cfg(feature = "ndarray")))]
#[derive(Clone, Debug)]
pub enum ArrayTargets<'a, T, D: RemoveAxis> {
    /// One class index per row: the input's shape without the class axis.
    Index(ArrayView<'a, i64, D::Smaller>),
    /// One probability per logit: the input's shape.
    Probs(ArrayView<'a, T, D>),
}

/// A cross-entropy call on views: the class axis read as if it were the
/// last (the rows in C order of the other axes).
#[allow(clippy::too_many_arguments)]
fn softmax<T: Float, D: RemoveAxis>(
    loss: &CrossEntropy<T>,
    input: ArrayView<'_, T, D>,
    target: ArrayTargets<'_, T, D>,
    axis: Axis,
    reduction: Reduction,
    weights: Option<ArrayView<'_, T, D::Smaller>>,
    wants: Wants,
    value: Option<ArrayViewMut<'_, T, D::Smaller>>,
    grads: [Option<ArrayViewMut<'_, T, D>>; 2],
) -> Result<T, LossError> {
    let ndim = input.ndim();
    let a = axis.index();
    if a >= ndim {
        return Err(LossError::InvalidParameter {
            name: "axis",
            value: a as f64,
            requirement: "axis < the input's number of axes",
        });
    }
    let shape = input.shape();
    // The class axis last; the rows' shape without it.
    let order: Vec<usize> = (0..ndim).filter(|&k| k != a).chain([a]).collect();
    let rows: Vec<usize> = order[..ndim - 1].iter().map(|&k| shape[k]).collect();
    let lx = layout("input", &input, &order)?;
    let (lt, index) = match &target {
        ArrayTargets::Index(l) => {
            same_shape("target", &rows, l.shape())?;
            (layout("target", l, &[])?, true)
        }
        ArrayTargets::Probs(t) => {
            same_shape("target", shape, t.shape())?;
            (layout("target", t, &order)?, false)
        }
    };
    let lw = match &weights {
        Some(w) => {
            same_shape("sample_weight", &rows, w.shape())?;
            Some(layout("sample_weight", w, &[])?)
        }
        None => None,
    };
    let x = source(&input, &lx);
    let (labels, probs) = match &target {
        ArrayTargets::Index(l) => (source(l, &lt), Source::Slice(&[][..])),
        ArrayTargets::Probs(t) => (Source::Slice(&[][..]), source(t, &lt)),
    };
    let sw = match (&weights, &lw) {
        (Some(w), Some(l)) => SourceWeights::Each(source(w, l)),
        _ => SourceWeights::None,
    };
    // The per-row values (of the rows' shape) and the gradients (of the
    // input's, classes last).
    let mut value_outs = Outs::new([value, None, None], [&rows[..]; 3], [&[]; 3])?;
    let [g, h] = grads;
    let mut grad_outs = Outs::new([None, g, h], [shape; 3], [&order[..]; 3])?;
    let (v, _, _) = value_outs.sinks();
    let (_, g, h) = grad_outs.sinks();
    let args = Args {
        x,
        labels,
        probs,
        sw,
        index,
    };
    let c = shape[a];
    loss.evaluate_sources(Level::active(), args, c, reduction, wants, (v, g, h))
}

/// Cross-entropy on [`ndarray`] views of any dimension and layout, with the
/// classes along `axis` (PyTorch's class axis is 1, the last axis is
/// `Axis(input.ndim() - 1)`). The rows are the input's other axes: class
/// indices, sample weights and per-row values have their shape.
///
/// ```
/// use fastloss::{ArrayTargets, CrossEntropy, Reduction, Targets, Weights};
/// use ndarray::{array, Array2, Axis};
///
/// // Classes along axis 0: three classes, two rows, read in place.
/// let logits: Array2<f64> = array![[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]];
/// let labels = array![0_i64, 2];
/// let ce = CrossEntropy::<f64>::new();
/// let mut grad = Array2::<f64>::zeros((3, 2));
/// let loss = ce.value_and_grad_array(
///     logits.view(),
///     ArrayTargets::Index(labels.view()),
///     Axis(0),
///     Reduction::Mean,
///     None,
///     grad.view_mut(),
/// )?;
/// // The same as rows of classes, contiguous.
/// let rows = [2.0, 0.0, 0.0, /* row 2 */ 0.0, 0.0, 0.0];
/// let mut flat = [0.0; 6];
/// let same = ce.value_and_grad_into(&rows, Targets::Index(&[0, 2]), 3, Reduction::Mean, Weights::None, &mut flat)?;
/// assert_eq!(loss, same);
/// assert_eq!(grad.t().iter().copied().collect::<Vec<_>>(), flat);
/// # Ok::<(), fastloss::LossError>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "ndarray")))]
impl<T: Float> CrossEntropy<T> {
    /// The reduced loss (`Mean` or `Sum`).
    pub fn value_array<D: RemoveAxis>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayTargets<'_, T, D>,
        axis: Axis,
        reduction: Reduction,
        weights: Option<ArrayView<'_, T, D::Smaller>>,
    ) -> Result<T, LossError> {
        let grads = [None, None];
        softmax(
            self, input, target, axis, reduction, weights, VALUE, None, grads,
        )
    }

    /// The weighted loss of every row, into `out` (the rows' shape).
    pub fn value_each_array<D: RemoveAxis>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayTargets<'_, T, D>,
        axis: Axis,
        weights: Option<ArrayView<'_, T, D::Smaller>>,
        out: ArrayViewMut<'_, T, D::Smaller>,
    ) -> Result<(), LossError> {
        let (r, grads) = (Reduction::None, [None, None]);
        softmax(
            self,
            input,
            target,
            axis,
            r,
            weights,
            VALUE_EACH,
            Some(out),
            grads,
        )
        .map(drop)
    }

    /// The gradient of the reduced loss with respect to `input`, into `grad`.
    pub fn grad_array<D: RemoveAxis>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayTargets<'_, T, D>,
        axis: Axis,
        reduction: Reduction,
        weights: Option<ArrayView<'_, T, D::Smaller>>,
        grad: ArrayViewMut<'_, T, D>,
    ) -> Result<(), LossError> {
        let grads = [Some(grad), None];
        softmax(
            self, input, target, axis, reduction, weights, GRAD, None, grads,
        )
        .map(drop)
    }

    /// The reduced loss, returned, and its gradient, into `grad`.
    pub fn value_and_grad_array<D: RemoveAxis>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayTargets<'_, T, D>,
        axis: Axis,
        reduction: Reduction,
        weights: Option<ArrayView<'_, T, D::Smaller>>,
        grad: ArrayViewMut<'_, T, D>,
    ) -> Result<T, LossError> {
        let grads = [Some(grad), None];
        softmax(
            self, input, target, axis, reduction, weights, VALUE_GRAD, None, grads,
        )
    }

    /// The gradient and the diagonal second derivative of the reduced loss.
    #[allow(clippy::too_many_arguments)]
    pub fn grad_hess_array<D: RemoveAxis>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayTargets<'_, T, D>,
        axis: Axis,
        reduction: Reduction,
        weights: Option<ArrayView<'_, T, D::Smaller>>,
        grad: ArrayViewMut<'_, T, D>,
        hess: ArrayViewMut<'_, T, D>,
    ) -> Result<(), LossError> {
        let grads = [Some(grad), Some(hess)];
        softmax(
            self, input, target, axis, reduction, weights, GRAD_HESS, None, grads,
        )
        .map(drop)
    }
}
