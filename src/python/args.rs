//! How Python arguments become slices: array conversion, dtype promotion,
//! shape and `out=` checks. C-contiguous, aligned, native float32/float64
//! arrays are borrowed as they are; anything else is converted by NumPy once.

use numpy::npyffi::flags::{NPY_ARRAY_ALIGNED, NPY_ARRAY_C_CONTIGUOUS, NPY_ARRAY_WRITEABLE};
use numpy::{
    Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use crate::float::Float;
use crate::reduce::Reduction;

/// The dtype a call computes in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dtype {
    F32,
    F64,
}

/// Whether a dtype computes in float32 (narrow floats) or float64.
fn promotes_to(arr: &Bound<'_, PyUntypedArray>, name: &str) -> PyResult<Dtype> {
    let dtype = arr.dtype();
    match dtype.kind() {
        b'f' if dtype.itemsize() <= 4 => Ok(Dtype::F32),
        b'f' | b'i' | b'u' | b'b' => Ok(Dtype::F64),
        _ => {
            let text = dtype.str()?.to_string();
            if text == "bfloat16" {
                Ok(Dtype::F32)
            } else {
                Err(PyTypeError::new_err(format!(
                    "{name} has dtype {text}; expected a real array (float, integer or bool)"
                )))
            }
        }
    }
}

fn numpy_fn<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    cell.import(py, "numpy", name)
}

/// Any array-like as a NumPy array (no copy for arrays).
pub(crate) fn array<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(arr) = obj.cast::<PyUntypedArray>() {
        return Ok(arr.clone());
    }
    static ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let converted = numpy_fn(obj.py(), &ASARRAY, "asarray")?
        .call1((obj,))
        .map_err(|e| {
            PyTypeError::new_err(format!("{name} cannot be converted to an array: {e}"))
        })?;
    Ok(converted.cast_into::<PyUntypedArray>()?)
}

/// The compute dtype of two arrays (SPEC §4).
pub(crate) fn compute_dtype(
    input: &Bound<'_, PyUntypedArray>,
    target: &Bound<'_, PyUntypedArray>,
) -> PyResult<Dtype> {
    let a = promotes_to(input, "input")?;
    let b = promotes_to(target, "target")?;
    Ok(if a == Dtype::F32 && b == Dtype::F32 {
        Dtype::F32
    } else {
        Dtype::F64
    })
}

fn has_flags(arr: &Bound<'_, PyUntypedArray>, flags: i32) -> bool {
    // SAFETY: `as_array_ptr` points to the live array object `arr` holds.
    unsafe { (*arr.as_array_ptr()).fields.flags & flags == flags }
}

/// `arr` as a C-contiguous, aligned, native array of `T`: itself when it is
/// one already, else a converted copy.
pub(crate) fn typed<'py, T: Float + Element>(
    arr: &Bound<'py, PyUntypedArray>,
    name: &str,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let py = arr.py();
    let dtype = arr.dtype();
    if dtype.is_equiv_to(&numpy::dtype::<T>(py))
        && has_flags(arr, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED)
    {
        return Ok(arr.cast::<PyArrayDyn<T>>()?.clone());
    }
    promotes_to(arr, name)?;
    // `require(..., "CA")`, not `ascontiguousarray`: that one returns a
    // contiguous array of the right dtype as it is, unaligned or not.
    static REQUIRE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", numpy::dtype::<T>(py))?;
    kwargs.set_item("requirements", "CA")?;
    let copy = numpy_fn(py, &REQUIRE, "require")?.call((arr,), Some(&kwargs))?;
    Ok(copy.cast_into::<PyArrayDyn<T>>()?)
}

/// The elements of a C-contiguous aligned array.
///
/// # Safety
/// No other code may write to the array while the slice is alive. The
/// library's own outputs never alias an input (see [`check_out`]); Python
/// code mutating an input from another thread during a call is documented as
/// unsupported.
pub(crate) unsafe fn slice<'a, T: Element>(arr: &'a Bound<'_, PyArrayDyn<T>>) -> &'a [T] {
    // SAFETY: `typed` made the array C-contiguous, aligned and of type T; the
    // caller promises no concurrent writes.
    unsafe { arr.as_slice().expect("typed() returns contiguous arrays") }
}

/// Exact shape equality: fastloss does not broadcast.
pub(crate) fn check_shapes(input: &[usize], target: &[usize]) -> PyResult<()> {
    if input == target {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "input shape {} and target shape {} differ: fastloss does not broadcast",
            shape_str(input),
            shape_str(target)
        )))
    }
}

pub(crate) fn shape_str(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub(crate) fn reduction(s: &str) -> PyResult<Reduction> {
    Reduction::parse(s).ok_or_else(|| {
        PyValueError::new_err(format!(
            "reduction must be 'mean', 'sum' or 'none', got {s:?}"
        ))
    })
}

fn byte_range<T>(s: &[T]) -> (usize, usize) {
    let start = s.as_ptr() as usize;
    (start, start + std::mem::size_of_val(s))
}

/// Checks `out=` completely before anything is written: an ndarray of the
/// compute dtype and `shape`, C-contiguous, aligned, writable, and sharing
/// no memory with the inputs.
pub(crate) fn check_out<'py, T: Float + Element>(
    out: &Bound<'py, PyAny>,
    shape: &[usize],
    inputs: &[&[T]],
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let arr = out.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "out must be a numpy.ndarray, got {}",
            out.get_type().name().map_or("?".into(), |n| n.to_string())
        ))
    })?;
    if !arr.dtype().is_equiv_to(&numpy::dtype::<T>(out.py())) {
        return Err(PyTypeError::new_err(format!(
            "out has dtype {}, expected the compute dtype {}",
            arr.dtype().str()?,
            T::NAME
        )));
    }
    if arr.shape() != shape {
        return Err(PyValueError::new_err(format!(
            "out has shape {}, expected the input shape {}",
            shape_str(arr.shape()),
            shape_str(shape)
        )));
    }
    if !has_flags(arr, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED) {
        return Err(PyValueError::new_err(
            "out must be a C-contiguous, aligned array",
        ));
    }
    if !has_flags(arr, NPY_ARRAY_WRITEABLE) {
        return Err(PyValueError::new_err("out is read-only"));
    }
    let arr = arr.cast::<PyArrayDyn<T>>()?.clone();
    // SAFETY: checked contiguous, aligned and of type T just above; the slice
    // is only used to read the address range.
    let (lo, hi) = byte_range(unsafe { slice(&arr) });
    for s in inputs {
        let (a, b) = byte_range(s);
        if lo < b && a < hi {
            return Err(PyValueError::new_err(
                "out shares memory with an input; pass a separate array",
            ));
        }
    }
    Ok(arr)
}

/// Sample weights: `None`, the input's shape, or 1-D of length `shape[0]`.
pub(crate) enum WeightShape {
    Each,
    Rows,
}

pub(crate) fn weight_shape(w: &[usize], input: &[usize]) -> PyResult<WeightShape> {
    if w == input {
        Ok(WeightShape::Each)
    } else if w.len() == 1 && !input.is_empty() && w[0] == input[0] {
        Ok(WeightShape::Rows)
    } else {
        Err(PyValueError::new_err(format!(
            "sample_weight has shape {}; expected the input shape {} or ({},)",
            shape_str(w),
            shape_str(input),
            input.first().map_or("n".into(), |d| d.to_string())
        )))
    }
}
