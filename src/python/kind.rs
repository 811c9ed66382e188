//! Which of the four functions of a loss was called, and what that asks of a
//! call: the arrays it fills, the kernel [`Op`] over them, and what the
//! Python function returns. The elementwise and the softmax bindings both go
//! through here, so that a kind means the same for every loss.

use numpy::{Element, PyArrayDyn, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyFloat;
use pyo3::IntoPyObjectExt;

use crate::kernel::Op;
use crate::reduce::Reduction;

/// Which of the four functions of a loss was called.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Value,
    Grad,
    ValueAndGrad,
    GradHess,
}

/// The arrays a call fills, each `None` where its kind and reduction do not
/// ask for it.
pub(crate) struct Outputs<A> {
    /// One value per element (or row): reduction `"none"` only, since a
    /// reduced value is returned as a float.
    pub(crate) value: Option<A>,
    /// The gradient: every kind but the value alone.
    pub(crate) grad: Option<A>,
    /// The diagonal second derivative: `grad_hess` only.
    pub(crate) hess: Option<A>,
}

impl<A> Outputs<A> {
    /// The arrays a call of `kind` with `reduction` fills, made by `value`,
    /// `grad` and `hess` (in that order) where they are needed.
    pub(crate) fn new(
        kind: Kind,
        reduction: Reduction,
        value: impl FnOnce() -> A,
        grad: impl FnOnce() -> A,
        hess: impl FnOnce() -> A,
    ) -> Self {
        let each = reduction == Reduction::None;
        Outputs {
            value: (each && matches!(kind, Kind::Value | Kind::ValueAndGrad)).then(value),
            grad: (kind != Kind::Value).then(grad),
            hess: (kind == Kind::GradHess).then(hess),
        }
    }

    /// Every array passed through `f`.
    pub(crate) fn map<B>(self, mut f: impl FnMut(A) -> B) -> Outputs<B> {
        Outputs {
            value: self.value.map(&mut f),
            grad: self.grad.map(&mut f),
            hess: self.hess.map(&mut f),
        }
    }
}

impl<T: Element> Outputs<Bound<'_, PyArrayDyn<T>>> {
    /// The kernel operation of `kind` that fills these arrays.
    ///
    /// # Safety
    /// The arrays are C-contiguous and distinct (fresh arrays, or `out=`
    /// checked by `args::check_out`), and nothing else reads or writes them
    /// while the returned [`Op`] is alive.
    pub(crate) unsafe fn op(&self, kind: Kind) -> Op<'_, T> {
        let v = self
            .value
            .as_ref()
            // SAFETY: the caller's promise.
            .map(|a| unsafe { a.as_slice_mut() }.expect("contiguous"));
        let g = self
            .grad
            .as_ref()
            // SAFETY: as above.
            .map(|a| unsafe { a.as_slice_mut() }.expect("contiguous"));
        let h = self
            .hess
            .as_ref()
            // SAFETY: as above.
            .map(|a| unsafe { a.as_slice_mut() }.expect("contiguous"));
        match (kind, v, g, h) {
            (Kind::Value, None, _, _) => Op::Value,
            (Kind::Value, Some(v), _, _) => Op::ValueEach(v),
            (Kind::Grad, _, Some(g), _) => Op::Grad(g),
            (Kind::ValueAndGrad, None, Some(g), _) => Op::ValueGrad(g),
            (Kind::ValueAndGrad, Some(v), Some(g), _) => Op::ValueEachGrad(v, g),
            (Kind::GradHess, _, Some(g), Some(h)) => Op::GradHess(g, h),
            _ => unreachable!("buffers match the kind"),
        }
    }
}

impl<'py> Outputs<Bound<'py, PyAny>> {
    /// What the Python function of `kind` returns: the arrays, with the
    /// reduced `value` as a float where the kind returns a value and no
    /// array holds it.
    pub(crate) fn result(
        self,
        py: Python<'py>,
        kind: Kind,
        value: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let float = || PyFloat::new(py, value).into_any();
        match (kind, self.value, self.grad, self.hess) {
            (Kind::Value, None, _, _) => Ok(float()),
            (Kind::Value, Some(v), _, _) => Ok(v),
            (Kind::Grad, _, Some(g), _) => Ok(g),
            (Kind::ValueAndGrad, None, Some(g), _) => (float(), g).into_bound_py_any(py),
            (Kind::ValueAndGrad, Some(v), Some(g), _) => (v, g).into_bound_py_any(py),
            (Kind::GradHess, _, Some(g), Some(h)) => (g, h).into_bound_py_any(py),
            _ => unreachable!("buffers match the kind"),
        }
    }
}
