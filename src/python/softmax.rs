//! The Python functions of the softmax cross-entropy: the class axis moved
//! last (a copy only when it is not last already), class-index or
//! probability targets told apart by dtype, every check before the first
//! write, then one call of [`CrossEntropy::evaluate`].

use numpy::{
    Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use super::args::{self, Dtype};
use super::kind::{Kind, Outputs};
use super::pointwise::pointwise_pyfunctions;
use crate::error::LossError;
use crate::float::Float;
use crate::kernel::Weights;
use crate::loss::softmax::{CrossEntropy, Targets};
use crate::reduce::Reduction;
use crate::simd::Level;

/// Below this many logits the GIL is kept: releasing it costs more.
const DETACH_MIN: usize = 1 << 14;

fn numpy_fn<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    cell.import(py, "numpy", name)
}

/// `np.moveaxis(arr, from, to)`.
fn moveaxis<'py>(arr: &Bound<'py, PyAny>, from: isize, to: isize) -> PyResult<Bound<'py, PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    numpy_fn(arr.py(), &F, "moveaxis")?.call1((arr, from, to))
}

/// `np.may_share_memory(a, b)`.
fn may_share(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    numpy_fn(a.py(), &F, "may_share_memory")?
        .call1((a, b))?
        .extract()
}

/// The class indices as a C-contiguous, aligned int64 array: the array
/// itself when it is one, else a converted copy.
fn labels<'py>(target: &Bound<'py, PyUntypedArray>) -> PyResult<Bound<'py, PyArrayDyn<i64>>> {
    let py = target.py();
    if target.dtype().is_equiv_to(&numpy::dtype::<i64>(py)) && target.is_c_contiguous() {
        let arr = target.cast::<PyArrayDyn<i64>>()?;
        // SAFETY: only the Result is used; the slice is dropped at once.
        if unsafe { arr.as_slice() }.is_ok() {
            return Ok(arr.clone());
        }
    }
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", numpy::dtype::<i64>(py))?;
    kwargs.set_item("requirements", "CA")?;
    let copy = numpy_fn(py, &F, "require")?.call((target,), Some(&kwargs))?;
    Ok(copy.cast_into::<PyArrayDyn<i64>>()?)
}

/// A flat index as the position of an array of `shape`: `(3,)`, `(1, 2)`.
fn position(mut index: usize, shape: &[usize]) -> String {
    let mut pos = vec![0; shape.len()];
    for (p, &d) in pos.iter_mut().zip(shape).rev() {
        if d > 0 {
            *p = index % d;
            index /= d;
        }
    }
    args::shape_str(&pos)
}

/// A kernel error as a Python exception; label positions in the target's
/// shape.
fn error(e: LossError, target_shape: &[usize]) -> PyErr {
    match e {
        LossError::InvalidLabel {
            index,
            label,
            classes,
        } => PyValueError::new_err(format!(
            "target has label {label} at index {} but C = {classes}: a label must be in [0, {classes}) or equal ignore_index",
            position(index, target_shape)
        )),
        e => e.into(),
    }
}

/// The targets of a call.
enum Target<'py> {
    Index(Bound<'py, PyUntypedArray>),
    Probs(Bound<'py, PyUntypedArray>),
}

/// The arguments of a call, converted to arrays and checked.
struct Call<'py> {
    dtype: Dtype,
    input: Bound<'py, PyUntypedArray>,
    target: Target<'py>,
    /// The class axis, in 0..ndim.
    axis: usize,
    /// Shape of the per-row loss: the input's without the class axis.
    rows_shape: Vec<usize>,
    classes: usize,
    class_weight: Option<Bound<'py, PyUntypedArray>>,
    ignore_index: Option<i64>,
    label_smoothing: f64,
    from_logits: bool,
    weight: Option<(Bound<'py, PyUntypedArray>, bool)>,
    reduction: Reduction,
    out: Option<Bound<'py, PyAny>>,
}

impl<'py> Call<'py> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        input: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
        axis: i64,
        class_weight: Option<&Bound<'py, PyAny>>,
        ignore_index: Option<i64>,
        label_smoothing: f64,
        from_logits: bool,
        reduction: &str,
        sample_weight: Option<&Bound<'py, PyAny>>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let reduction = args::reduction(reduction)?;
        let input = args::array(input, "input")?;
        let target = args::array(target, "target")?;
        // The compute dtype follows the input (class indices do not count).
        let dtype = args::compute_dtype(&input, &input)?;
        let shape = input.shape().to_vec();
        let ndim = shape.len();
        if ndim == 0 {
            return Err(PyValueError::new_err(
                "input must have at least one dimension (the class axis), got a 0-d array",
            ));
        }
        let given = axis;
        let axis = usize::try_from(if axis < 0 { axis + ndim as i64 } else { axis })
            .ok()
            .filter(|&a| a < ndim)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "axis {axis} is out of range for input with {ndim} dimension{}",
                    if ndim == 1 { "" } else { "s" }
                ))
            })?;
        let classes = shape[axis];
        let mut rows_shape = shape.clone();
        rows_shape.remove(axis);
        let rows: usize = rows_shape.iter().product();

        let kind = target.dtype().kind();
        let target = if kind == b'b' {
            return Err(PyTypeError::new_err(
                "target has dtype bool; expected integer class indices or float probabilities",
            ));
        } else if kind == b'i'
            || kind == b'u'
            || (target.len() == 0 && target.shape() == rows_shape)
        {
            Target::Index(target)
        } else {
            // Probabilities take part in the dtype promotion (SPEC §4).
            args::compute_dtype(&input, &target)?;
            Target::Probs(target)
        };
        let dtype = match &target {
            Target::Probs(t) => args::compute_dtype(&input, t)?,
            Target::Index(_) => dtype,
        };
        let (tshape, want) = match &target {
            Target::Index(t) => (t.shape(), &rows_shape),
            Target::Probs(t) => (t.shape(), &shape),
        };
        if tshape != want.as_slice() {
            return Err(PyValueError::new_err(format!(
                "target shape {} does not fit input shape {} with axis={given}: class indices need shape {}, probabilities shape {}",
                args::shape_str(tshape),
                args::shape_str(&shape),
                args::shape_str(&rows_shape),
                args::shape_str(&shape),
            )));
        }
        if classes == 0 && rows > 0 {
            return Err(PyValueError::new_err(format!(
                "input has C = 0 classes along axis={given} (shape {}): cross-entropy needs at least one class",
                args::shape_str(&shape)
            )));
        }
        let class_weight = match class_weight {
            None => None,
            Some(w) => {
                let w = args::array(w, "class_weight")?;
                if w.shape() != [classes] {
                    return Err(PyValueError::new_err(format!(
                        "class_weight must be 1-D of length C = {classes} (the size of input along axis={given}), got shape {}",
                        args::shape_str(w.shape())
                    )));
                }
                Some(w)
            }
        };
        let weight = match sample_weight {
            None => None,
            Some(w) => {
                let w = args::array(w, "sample_weight")?;
                let each = w.shape() == rows_shape.as_slice();
                let rows = w.ndim() == 1 && rows_shape.first() == Some(&w.shape()[0]);
                if !(each || rows) {
                    return Err(PyValueError::new_err(format!(
                        "sample_weight has shape {}; expected the per-row loss shape {}{}",
                        args::shape_str(w.shape()),
                        args::shape_str(&rows_shape),
                        rows_shape
                            .first()
                            .map_or(String::new(), |d| format!(" or ({d},)"))
                    )));
                }
                Some((w, each))
            }
        };
        Ok(Self {
            dtype,
            input,
            target,
            axis,
            rows_shape,
            classes,
            class_weight,
            ignore_index,
            label_smoothing,
            from_logits,
            weight,
            reduction,
            out: out.cloned(),
        })
    }

    /// Runs `kind` in `T`, the compute dtype.
    fn run<T: Float + Element>(self, kind: Kind) -> PyResult<Bound<'py, PyAny>> {
        let py = self.input.py();
        let shape = self.input.shape().to_vec();
        let last = self.axis + 1 == shape.len();
        // Rows contiguous: the class axis last, by a copy only when it is not.
        let to_rows = |a: &Bound<'py, PyUntypedArray>, name: &str| {
            if last {
                args::typed::<T>(a, name)
            } else {
                let moved = moveaxis(a.as_any(), self.axis as isize, -1)?;
                args::typed::<T>(moved.cast::<PyUntypedArray>()?, name)
            }
        };
        let input = to_rows(&self.input, "input")?;
        let (labels, probs) = match &self.target {
            Target::Index(t) => (Some(labels(t)?), None),
            Target::Probs(t) => (None, Some(to_rows(t, "target")?)),
        };
        let class_weight = match &self.class_weight {
            Some(w) => Some(args::typed::<T>(w, "class_weight")?),
            None => None,
        };
        let weight = match &self.weight {
            Some((w, each)) => Some((args::typed::<T>(w, "sample_weight")?, *each)),
            None => None,
        };
        // SAFETY: inputs are only read; outputs are fresh arrays or `out`,
        // which `check_out` proved disjoint from them.
        let x = unsafe { args::slice(&input) };
        let target = match (&labels, &probs) {
            // SAFETY: `labels` returns C-contiguous aligned int64 arrays.
            (Some(l), _) => Targets::Index(unsafe { l.as_slice() }.expect("contiguous")),
            // SAFETY: as above.
            (_, Some(p)) => Targets::Probs(unsafe { args::slice(p) }),
            _ => unreachable!("one kind of target"),
        };
        // SAFETY: as above.
        let cw = class_weight.as_ref().map(|w| unsafe { args::slice(w) });
        let w = match &weight {
            // SAFETY: as above.
            Some((w, true)) => Weights::Each(unsafe { args::slice(w) }),
            // SAFETY: as above.
            Some((w, false)) => Weights::Rows(unsafe { args::slice(w) }),
            None => Weights::None,
        };
        let mut loss = CrossEntropy::<T>::new()
            .with_label_smoothing(self.label_smoothing)?
            .with_from_logits(self.from_logits);
        if let Some(cw) = cw {
            loss = loss.with_class_weight(cw)?;
        }
        if let Some(i) = self.ignore_index {
            loss = loss.with_ignore_index(i);
        }

        let out = match &self.out {
            Some(out) => {
                let mut inputs = vec![x];
                if let Targets::Probs(p) = target {
                    inputs.push(p);
                }
                if let Weights::Each(s) | Weights::Rows(s) = w {
                    inputs.push(s);
                }
                inputs.extend(cw);
                let checked = args::check_out::<T>(out, &shape, &inputs)?;
                if !last {
                    // The kernel read copies: compare with the originals.
                    let mut originals = vec![self.input.as_any()];
                    if let Target::Probs(t) = &self.target {
                        originals.push(t.as_any());
                    }
                    for o in originals {
                        if may_share(out, o)? {
                            return Err(PyValueError::new_err(
                                "out shares memory with an input; pass a separate array",
                            ));
                        }
                    }
                }
                Some(checked)
            }
            None => None,
        };
        // Gradients are computed with rows contiguous: into `out` (or the
        // result) directly when the class axis is last.
        let mut moved_shape = self.rows_shape.clone();
        moved_shape.push(self.classes);
        let new = |s: &[usize]| -> Bound<'py, PyArrayDyn<T>> {
            // SAFETY: the kernel writes every element before the array is
            // returned; on error the array is dropped unseen.
            unsafe { PyArrayDyn::<T>::new(py, s, false) }
        };
        let grad_buf = || match (&out, last) {
            (Some(o), true) => o.clone(),
            (_, true) => new(&shape),
            (_, false) => new(&moved_shape),
        };
        let reduction = self.reduction;
        let outputs = Outputs::new(
            kind,
            reduction,
            || new(&self.rows_shape),
            grad_buf,
            || new(&moved_shape),
        );
        let classes = self.classes;
        let value = {
            // SAFETY: the outputs are distinct fresh arrays (or `out`),
            // C-contiguous and of type T; nothing else holds them yet.
            let op = unsafe { outputs.op(kind) };
            let run = || loss.evaluate(Level::active(), x, target, classes, w, reduction, op);
            let result = if x.len() >= DETACH_MIN {
                py.detach(run)
            } else {
                run()
            };
            result.map_err(|e| error(e, &self.rows_shape))?
        };
        // Back to the input's layout.
        let back = |a: Bound<'py, PyArrayDyn<T>>, into: Option<&Bound<'py, PyArrayDyn<T>>>| {
            if last {
                return Ok(a.into_any());
            }
            let view = moveaxis(a.as_any(), -1, self.axis as isize)?;
            let dst = match into {
                Some(o) => o.clone(),
                None => new(&shape),
            };
            static COPYTO: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
            numpy_fn(py, &COPYTO, "copyto")?.call1((&dst, view))?;
            PyResult::Ok(dst.into_any())
        };
        let outputs = Outputs {
            value: outputs.value.map(|v| v.into_any()),
            grad: outputs.grad.map(|g| back(g, out.as_ref())).transpose()?,
            hess: outputs.hess.map(|h| back(h, None)).transpose()?,
        };
        outputs.result(py, kind, value.to_f64())
    }
}

#[allow(clippy::too_many_arguments)]
fn call<'py>(
    kind: Kind,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    axis: i64,
    class_weight: Option<&Bound<'py, PyAny>>,
    ignore_index: Option<i64>,
    label_smoothing: f64,
    from_logits: bool,
    reduction: &str,
    sample_weight: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let call = Call::new(
        input,
        target,
        axis,
        class_weight,
        ignore_index,
        label_smoothing,
        from_logits,
        reduction,
        sample_weight,
        out,
    )?;
    match call.dtype {
        Dtype::F32 => call.run::<f32>(kind),
        Dtype::F64 => call.run::<f64>(kind),
    }
}

/// The four `#[pyfunction]`s and `register`: PyTorch's options make more
/// arguments than clippy likes.
#[allow(clippy::too_many_arguments)]
mod functions {
    use super::*;

    pointwise_pyfunctions!(
        cross_entropy, cross_entropy_grad, cross_entropy_value_and_grad, cross_entropy_grad_hess,
        (
            axis: i64 = -1,
            class_weight: Option<&Bound<'py, PyAny>> = None,
            ignore_index: Option<i64> = None,
            label_smoothing: f64 = 0.0,
            from_logits: bool = true
        )
    );
}

pub(crate) use functions::register;
