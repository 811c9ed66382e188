//! How Python arguments become slices: array conversion, dtype promotion,
//! and every check of an argument that the kernels do not make themselves
//! (shapes, the class axis, the kind of target, `out=`), so that the binding
//! modules only plan and run a call. Arrays of the compute dtype, aligned
//! and in native byte order, are read where they lie, whatever their
//! strides; anything else is converted by NumPy once.

use numpy::npyffi::flags::{NPY_ARRAY_ALIGNED, NPY_ARRAY_C_CONTIGUOUS, NPY_ARRAY_WRITEABLE};
use numpy::{
    Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyException, PyMemoryError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PySlice, PyString, PyTuple};

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::error::LossError;
use crate::float::Float;
use crate::reduce::Reduction;
use crate::strided::{Layout, Source};

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

/// A NumPy function, looked up on first use and kept for good.
///
/// Not a `PyOnceLock`: one being filled (its filler waiting for the GIL)
/// when another thread forks the process stays "being filled" in the child,
/// whose first call needing it would wait for ever. Threads that race here
/// each look the function up; the first to store it keeps its reference.
pub(crate) struct NumpyFn(AtomicPtr<pyo3::ffi::PyObject>);

impl NumpyFn {
    pub(crate) const fn new() -> Self {
        NumpyFn(AtomicPtr::new(ptr::null_mut()))
    }
}

/// The NumPy function `name`, looked up once into `cell`.
pub(crate) fn numpy_fn<'py>(
    py: Python<'py>,
    cell: &'static NumpyFn,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let kept = cell.0.load(Ordering::Acquire);
    if !kept.is_null() {
        // SAFETY: `kept` is a strong reference that the cell owns and never
        // releases, so the object is alive.
        return Ok(unsafe { Bound::from_borrowed_ptr(py, kept) });
    }
    let f = py.import("numpy")?.getattr(name)?;
    let stored = cell.0.compare_exchange(
        ptr::null_mut(),
        f.as_ptr(),
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    if stored.is_ok() {
        // The cell's reference, never released.
        std::mem::forget(f.clone());
    }
    Ok(f)
}

/// Any array-like as a NumPy array (no copy for arrays).
pub(crate) fn array<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(arr) = obj.cast::<PyUntypedArray>() {
        if !obj.is_exact_instance_of::<PyUntypedArray>() && is_masked(obj)? {
            return Err(PyTypeError::new_err(format!(
                "{name} is a masked array (numpy.ma.MaskedArray), and fastloss does not read masks: pass plain arrays, and leave elements out with sample_weight (weight 0 where masked, e.g. sample_weight=~numpy.ma.getmaskarray(a))"
            )));
        }
        return Ok(arr.clone());
    }
    static ASARRAY: NumpyFn = NumpyFn::new();
    let py = obj.py();
    let converted = numpy_fn(py, &ASARRAY, "asarray")?
        .call1((obj,))
        .map_err(|e| not_convertible(py, e, name))?;
    Ok(converted.cast_into::<PyUntypedArray>()?)
}

/// Whether an ndarray subclass is a `numpy.ma.MaskedArray`. Until `numpy.ma`
/// is imported, none exists: it is not imported here.
fn is_masked(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let modules = obj.py().import("sys")?.getattr("modules")?;
    match modules.get_item("numpy.ma") {
        Ok(ma) => obj.is_instance(&ma.getattr("MaskedArray")?),
        Err(_) => Ok(false),
    }
}

/// A failure to convert argument `name` as a TypeError naming it, caused by
/// the original error. What is no statement about the argument passes
/// through as it is: `KeyboardInterrupt`, `SystemExit` and the other
/// `BaseException`s that are not `Exception`s, and `MemoryError`.
fn not_convertible(py: Python<'_>, e: PyErr, name: &str) -> PyErr {
    if !e.is_instance_of::<PyException>(py) || e.is_instance_of::<PyMemoryError>(py) {
        return e;
    }
    let wrapped = PyTypeError::new_err(format!("{name} cannot be converted to an array: {e}"));
    wrapped.set_cause(py, Some(e));
    wrapped
}

/// The compute dtype of two arrays: float32 when both are float32 or
/// narrower floats, float64 otherwise.
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
    contiguous::<T>(arr)
}

/// An array argument as the kernel reads it, in `T`: the argument itself
/// wherever it lies when it holds `T` (native byte order, aligned), else a
/// C-contiguous converted copy; and where its elements are.
pub(crate) struct Read<'py, T: Element> {
    arr: Bound<'py, PyArrayDyn<T>>,
    layout: Layout,
}

impl<'py, T: Element + Copy + Default> Read<'py, T> {
    /// `arr` (argument `name`) read with its axes in `order` (all of them,
    /// in their own order, when empty): the class axis of the cross-entropy
    /// is read as if it were the last.
    pub(crate) fn new(
        arr: &Bound<'py, PyUntypedArray>,
        name: &'static str,
        order: &[usize],
    ) -> PyResult<Self> {
        let py = arr.py();
        let dtype = arr.dtype();
        // Strides in elements of `T`, which a converted copy has too.
        let size = std::mem::size_of::<T>() as isize;
        let in_place = dtype.is_equiv_to(&numpy::dtype::<T>(py))
            && has_flags(arr, NPY_ARRAY_ALIGNED)
            && arr.strides().iter().all(|s| s % size == 0);
        let arr = if in_place {
            arr.cast::<PyArrayDyn<T>>()?.clone()
        } else {
            promotes_to(arr, name)?;
            contiguous::<T>(arr)?
        };
        let (shape, strides): (Vec<usize>, Vec<isize>) = {
            let axes = arr.shape().iter().zip(arr.strides());
            let all: Vec<_> = axes.map(|(&n, &s)| (n, s / size)).collect();
            if order.is_empty() {
                all.into_iter().unzip()
            } else {
                order.iter().map(|&k| all[k]).unzip()
            }
        };
        let layout = Layout::new(name, &shape, &strides)?;
        Ok(Self { arr, layout })
    }

    /// The elements, in C order of the axes as [`new`](Self::new) ordered
    /// them.
    ///
    /// # Safety
    /// No other code may write to the array while the source is alive. The
    /// library's own outputs never alias an input (see [`check_out`]);
    /// Python code mutating an input from another thread during a call is
    /// documented as unsupported.
    pub(crate) unsafe fn source(&self) -> Source<'_, T> {
        // SAFETY: the layout is the array's own (its axes reordered), so it
        // reaches its elements and no others; the caller promises no writes.
        unsafe { Source::from_raw(self.arr.data(), &self.layout) }
    }
}

/// `arr` converted to a C-contiguous, aligned, native array of `T` by NumPy
/// (`require(..., "CA")`, not `ascontiguousarray`: that one returns a
/// contiguous array of the right dtype as it is, unaligned or not).
fn contiguous<'py, T: Element>(
    arr: &Bound<'py, PyUntypedArray>,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let py = arr.py();
    static REQUIRE: NumpyFn = NumpyFn::new();
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

/// `reduction=` as Python passes it (the `from_py_with` of every loss
/// function): a TypeError naming it for anything but a str.
pub(crate) fn reduction(obj: &Bound<'_, PyAny>) -> PyResult<Reduction> {
    let s = obj.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "reduction must be a str ('mean', 'sum' or 'none'), got {}",
            described(obj)
        ))
    })?;
    let s = s.to_cow()?;
    Reduction::parse(&s).ok_or_else(|| {
        PyValueError::new_err(format!(
            "reduction must be 'mean', 'sum' or 'none', got {s:?}"
        ))
    })
}

/// An argument as a message shows it: its repr (cut short) and its type.
fn described(obj: &Bound<'_, PyAny>) -> String {
    let repr = obj.repr().map_or_else(|_| "?".into(), |r| r.to_string());
    let repr = match repr.char_indices().nth(40) {
        Some((end, _)) => format!("{}...", &repr[..end]),
        None => repr,
    };
    let kind = obj
        .get_type()
        .name()
        .map_or_else(|_| "?".into(), |n| n.to_string());
    format!("{repr} ({kind})")
}

/// A scalar keyword parameter as Python passes it: the `from_py_with` that
/// `losses.rs` gives each, so that a wrong type is a TypeError whose message
/// names the parameter (PyO3 names it only in a note).
pub(crate) trait Param: Sized {
    /// `obj` as the parameter `name`.
    fn from_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Self>;
}

/// The parameter `name` of a loss function from `obj` (see [`Param`]).
pub(crate) fn param<P: Param>(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<P> {
    P::from_arg(obj, name)
}

/// `obj` as `P`, or a `TypeError` saying what `name` must be.
fn extract_or<'py, P: for<'a> FromPyObject<'a, 'py>>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    must_be: &str,
) -> PyResult<P> {
    obj.extract().map_err(|_| {
        PyTypeError::new_err(format!("{name} must be {must_be}, got {}", described(obj)))
    })
}

impl Param for f64 {
    fn from_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        extract_or(obj, name, "a real number")
    }
}

impl Param for bool {
    fn from_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        extract_or(obj, name, "True or False")
    }
}

/// An int, not a bool (which Python counts as one): `axis=True` is a mistake.
impl Param for i64 {
    fn from_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let int = if obj.is_instance_of::<PyBool>() {
            None
        } else {
            obj.extract::<i64>().ok()
        };
        int.ok_or_else(|| {
            if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
                PyOverflowError::new_err(format!(
                    "{name} must fit in a 64-bit integer, got {}",
                    described(obj)
                ))
            } else {
                PyTypeError::new_err(format!("{name} must be an int, got {}", described(obj)))
            }
        })
    }
}

/// `None`, or the parameter.
impl<P: Param> Param for Option<P> {
    fn from_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        if obj.is_none() {
            Ok(None)
        } else {
            P::from_arg(obj, name).map(Some)
        }
    }
}

/// The bytes an array's elements may lie in, `[low, high)` (empty for no
/// elements): NumPy's bounds of `may_share_memory`.
fn extent(arr: &Bound<'_, PyUntypedArray>) -> (usize, usize) {
    if arr.shape().contains(&0) {
        return (0, 0);
    }
    // SAFETY: `as_array_ptr` points to the live array object `arr` holds.
    let data = unsafe { (*arr.as_array_ptr()).fields.data } as isize;
    let (mut low, mut high) = (data, data + arr.dtype().itemsize() as isize);
    for (&n, &stride) in arr.shape().iter().zip(arr.strides()) {
        let span = stride * (n as isize - 1);
        if span < 0 {
            low += span;
        } else {
            high += span;
        }
    }
    (low as usize, high as usize)
}

/// `np.shares_memory(a, b)`: exact, where the bounds overlap.
fn shares_memory(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    static F: NumpyFn = NumpyFn::new();
    numpy_fn(a.py(), &F, "shares_memory")?
        .call1((a, b))?
        .extract()
}

/// `out=`, checked: the gradient goes into it directly when it has the
/// compute dtype, else into a fresh array first, converted into it by
/// [`store`](Out::store).
pub(crate) enum Out<'py, T> {
    Same(Bound<'py, PyArrayDyn<T>>),
    Other(Bound<'py, PyUntypedArray>),
}

impl<'py, T: Element> Out<'py, T> {
    /// The array the kernel may write straight into.
    pub(crate) fn direct(&self) -> Option<Bound<'py, PyArrayDyn<T>>> {
        match self {
            Out::Same(a) => Some(a.clone()),
            Out::Other(_) => None,
        }
    }

    /// `out`, holding `result`: the array the kernel wrote into (`out`
    /// itself, or a fresh one whose values are converted into `out`).
    pub(crate) fn store(&self, result: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Out::Same(_) => Ok(result),
            Out::Other(out) => {
                // Under `errstate(all="ignore")`: a gradient beyond float16's
                // range rounds to inf, as the rounding is documented to,
                // without a warning from NumPy.
                static COPYTO: NumpyFn = NumpyFn::new();
                static ERRSTATE: NumpyFn = NumpyFn::new();
                let py = out.py();
                let ignore = PyDict::new(py);
                ignore.set_item("all", "ignore")?;
                let quiet = numpy_fn(py, &ERRSTATE, "errstate")?.call((), Some(&ignore))?;
                quiet.call_method0("__enter__")?;
                let casting = PyDict::new(py);
                casting.set_item("casting", "unsafe")?;
                let copied = numpy_fn(py, &COPYTO, "copyto")?.call((out, result), Some(&casting));
                let none = py.None();
                quiet.call_method1("__exit__", (&none, &none, &none))?;
                copied?;
                Ok(out.clone().into_any())
            }
        }
    }
}

/// Checks `out=` completely before anything is written: an ndarray of
/// `shape`, C-contiguous, aligned, writable, and sharing no memory with any
/// argument the call reads (`reads`, by name, the input first: the arrays
/// as given, before any conversion, since the kernel reads either them or
/// fresh copies of them, made before the first write). Its dtype is the compute dtype,
/// the other of float32 and float64 (scikit-learn's loss tests pass float64
/// gradient buffers for float32 inputs), or the input's own half-precision
/// dtype; the gradient is converted into it, rounded once.
pub(crate) fn check_out<'py, T: Float + Element>(
    out: &Bound<'py, PyAny>,
    shape: &[usize],
    reads: &[(&str, &Bound<'py, PyUntypedArray>)],
) -> PyResult<Out<'py, T>> {
    let arr = out.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "out must be a numpy.ndarray, got {}",
            out.get_type().name().map_or("?".into(), |n| n.to_string())
        ))
    })?;
    let py = out.py();
    let dtype = arr.dtype();
    let same = dtype.is_equiv_to(&numpy::dtype::<T>(py));
    let input = reads.first().map(|(_, a)| a.dtype());
    let other = dtype.is_equiv_to(&numpy::dtype::<f32>(py))
        || dtype.is_equiv_to(&numpy::dtype::<f64>(py))
        || (dtype.itemsize() == 2
            && T::MANTISSA_DIGITS == 24
            && input.is_some_and(|i| dtype.is_equiv_to(&i)));
    if !same && !other {
        return Err(PyTypeError::new_err(format!(
            "out has dtype {}; expected float32 or float64 (the compute dtype here is {}), or a half-precision input's own dtype",
            dtype.str()?,
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
    // `out` is contiguous: its bounds are its bytes. Where the bounds of an
    // argument overlap them, a contiguous argument shares memory with it;
    // a strided one may fit between its elements, which NumPy decides.
    let (lo, hi) = extent(arr);
    for &(name, a) in reads {
        let (a_lo, a_hi) = extent(a);
        if lo < a_hi
            && a_lo < hi
            && (has_flags(a, NPY_ARRAY_C_CONTIGUOUS) || shares_memory(arr.as_any(), a.as_any())?)
        {
            return Err(PyValueError::new_err(format!(
                "out shares memory with {name}, which the call reads; pass a separate array"
            )));
        }
    }
    Ok(if same {
        Out::Same(arr.cast::<PyArrayDyn<T>>()?.clone())
    } else {
        Out::Other(arr.clone())
    })
}

/// Sample weights: `None`, the input's shape, or 1-D of length `shape[0]`.
pub(crate) enum WeightShape {
    Each,
    Rows,
}

/// `sample_weight` of an elementwise loss, as an array, and its shape.
pub(crate) fn sample_weight<'py>(
    w: &Bound<'py, PyAny>,
    input: &[usize],
) -> PyResult<(Bound<'py, PyUntypedArray>, WeightShape)> {
    let w = array(w, "sample_weight")?;
    let shape = weight_shape(w.shape(), input)?;
    Ok((w, shape))
}

fn weight_shape(w: &[usize], input: &[usize]) -> PyResult<WeightShape> {
    if w == input {
        Ok(WeightShape::Each)
    } else if w.len() == 1 && !input.is_empty() && w[0] == input[0] {
        Ok(WeightShape::Rows)
    } else {
        Err(PyValueError::new_err(format!(
            "sample_weight has shape {}; expected the input shape {}{}",
            shape_str(w),
            shape_str(input),
            or_rows(input)
        )))
    }
}

/// The thread count of `set_num_threads`: an integer from 1 to
/// `MAX_THREADS`, of any size (a `ValueError` rather than an
/// `OverflowError` for one past 64 bits).
pub(crate) fn num_threads(n: &Bound<'_, PyAny>) -> PyResult<usize> {
    let max = crate::threads::MAX_THREADS;
    let value: Option<i64> = match n.extract::<i64>() {
        Ok(v) => Some(v),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(n.py()) => None,
        Err(e) => {
            let why = e.value(n.py()).to_string();
            return Err(PyTypeError::new_err(format!("argument 'n': {why}")));
        }
    };
    value
        .and_then(|v| usize::try_from(v).ok())
        .filter(|v| (1..=max).contains(v))
        .ok_or_else(|| PyValueError::new_err(format!("n must be between 1 and {max}, got {n}")))
}

/// `pos_weight` of the binary cross-entropy with logits, as an array whose
/// shape broadcasts to the input's (NumPy's rules, as in PyTorch: a scalar,
/// one per element of the last axis, `(1, C)`, the input's shape...). Axes
/// along which it is a broadcast view (stride 0) are cut to length 1: the
/// kernel reads it through broadcasting, and a contiguous copy of what is
/// left holds each value once.
pub(crate) fn pos_weight<'py>(
    p: &Bound<'py, PyAny>,
    input: &[usize],
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let p = array(p, "pos_weight")?;
    let shape = p.shape();
    let fits = shape.len() <= input.len()
        && shape
            .iter()
            .rev()
            .zip(input.iter().rev())
            .all(|(&a, &b)| a == b || a == 1);
    if input.is_empty() && shape == [1] {
        // One weight per element of the last axis, which a 0-d input counts
        // as 1: the scalar it holds.
        return Ok(p.call_method1("reshape", ((),))?.cast_into()?);
    }
    if !fits {
        return Err(PyValueError::new_err(format!(
            "pos_weight has shape {}, which does not broadcast to the input's shape {}: pass a scalar, one weight per element of the last axis ({},), or a shape that broadcasts to the input's",
            shape_str(shape),
            shape_str(input),
            input.last().copied().unwrap_or(1)
        )));
    }
    let strides = p.strides();
    if !shape.iter().zip(strides).any(|(&n, &s)| n > 1 && s == 0) {
        return Ok(p);
    }
    let py = p.py();
    let index = shape
        .iter()
        .zip(strides)
        .map(|(&n, &s)| {
            let end = if n > 1 && s == 0 { 1 } else { n as isize };
            PySlice::new(py, 0, end, 1)
        })
        .collect::<Vec<_>>();
    Ok(p.get_item(PyTuple::new(py, index)?)?.cast_into()?)
}

// ---------------------------------------------------------- cross-entropy --
// `axis` is the argument as given (negative or not): messages quote it.

/// The class axis of an input of `shape`, in `0..ndim`.
pub(crate) fn class_axis(shape: &[usize], axis: i64) -> PyResult<usize> {
    let ndim = shape.len();
    if ndim == 0 {
        return Err(PyValueError::new_err(
            "input must have at least one dimension (the class axis), got a 0-d array",
        ));
    }
    usize::try_from(if axis < 0 { axis + ndim as i64 } else { axis })
        .ok()
        .filter(|&a| a < ndim)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "axis {axis} is out of range for input with {ndim} dimension{}",
                if ndim == 1 { "" } else { "s" }
            ))
        })
}

/// Whether a cross-entropy target holds class indices (integers, or an
/// empty array of the per-row loss shape `rows`) rather than probabilities.
/// A bool target is neither.
pub(crate) fn class_indices(target: &Bound<'_, PyUntypedArray>, rows: &[usize]) -> PyResult<bool> {
    let kind = target.dtype().kind();
    if kind == b'b' {
        return Err(PyTypeError::new_err(
            "target has dtype bool; expected integer class indices or float probabilities",
        ));
    }
    Ok(kind == b'i' || kind == b'u' || (target.len() == 0 && target.shape() == rows))
}

/// The target's shape: `rows` (the input's `shape` without the class axis)
/// for class indices, `shape` for probabilities. A target whose shape is the
/// other kind's is told what its dtype makes it.
pub(crate) fn check_class_target_shape(
    target: &Bound<'_, PyUntypedArray>,
    indices: bool,
    shape: &[usize],
    rows: &[usize],
    axis: i64,
) -> PyResult<()> {
    let got = target.shape();
    let want = if indices { rows } else { shape };
    if got == want {
        return Ok(());
    }
    let dtype = target.dtype().str()?.to_string();
    let message = if indices && got == shape {
        format!(
            "target has shape {} and dtype {dtype}: an integer target holds class indices, of the input's shape without the class axis (axis={axis}), {}; a target of the input's shape holds probabilities, which must be float (for one-hot labels, pass target.argmax(axis={axis}) or target.astype(float))",
            shape_str(got),
            shape_str(rows),
        )
    } else if !indices && got == rows {
        format!(
            "target has shape {} and dtype {dtype}: class indices, of the input's shape without the class axis (axis={axis}), must be integers; probabilities need the input's shape {}",
            shape_str(got),
            shape_str(shape),
        )
    } else {
        format!(
            "target shape {} does not fit input shape {} with axis={axis}: class indices need shape {}, probabilities shape {}",
            shape_str(got),
            shape_str(shape),
            shape_str(rows),
            shape_str(shape),
        )
    };
    Err(PyValueError::new_err(message))
}

/// At least one class, unless there are no rows either.
pub(crate) fn check_classes(
    classes: usize,
    rows: usize,
    shape: &[usize],
    axis: i64,
) -> PyResult<()> {
    if classes == 0 && rows > 0 {
        return Err(PyValueError::new_err(format!(
            "input has C = 0 classes along axis={axis} (shape {}): cross-entropy needs at least one class",
            shape_str(shape)
        )));
    }
    Ok(())
}

/// `class_weight`, as an array: 1-D, one weight per class.
pub(crate) fn class_weight<'py>(
    w: &Bound<'py, PyAny>,
    classes: usize,
    axis: i64,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let w = array(w, "class_weight")?;
    if w.shape() != [classes] {
        return Err(PyValueError::new_err(format!(
            "class_weight must be 1-D of length C = {classes} (the size of input along axis={axis}), got shape {}",
            shape_str(w.shape())
        )));
    }
    Ok(w)
}

/// `sample_weight` of the cross-entropy, as an array: one weight per row
/// (the per-row loss shape `rows`), or 1-D of length `rows[0]`.
pub(crate) fn row_sample_weight<'py>(
    w: &Bound<'py, PyAny>,
    rows: &[usize],
) -> PyResult<(Bound<'py, PyUntypedArray>, WeightShape)> {
    let w = array(w, "sample_weight")?;
    if w.shape() == rows {
        return Ok((w, WeightShape::Each));
    }
    if w.ndim() == 1 && rows.first() == Some(&w.shape()[0]) {
        return Ok((w, WeightShape::Rows));
    }
    Err(PyValueError::new_err(format!(
        "sample_weight has shape {}; expected the per-row loss shape {}{}",
        shape_str(w.shape()),
        shape_str(rows),
        or_rows(rows)
    )))
}

/// The other shape sample weights may have, one per row (`" or (n,)"`),
/// where it is another shape than `shape`.
fn or_rows(shape: &[usize]) -> String {
    match shape {
        [] | [_] => String::new(),
        [n, ..] => format!(" or ({n},)"),
    }
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
    shape_str(&pos)
}

/// A class index out of range, at flat index `index` of a target of `shape`.
fn label_out_of_range(
    label: impl std::fmt::Display,
    index: usize,
    classes: usize,
    shape: &[usize],
) -> PyErr {
    PyValueError::new_err(format!(
        "target has label {label} at index {} but C = {classes}: a label must be in [0, {classes}) or equal ignore_index",
        position(index, shape)
    ))
}

/// A cross-entropy kernel error as a Python exception: the kernel checks the
/// class indices, and a bad one is reported at its position in the target's
/// shape.
pub(crate) fn label_error(e: LossError, target_shape: &[usize]) -> PyErr {
    match e {
        LossError::InvalidLabel {
            index,
            label,
            classes,
        } => label_out_of_range(label, index, classes, target_shape),
        e => e.into(),
    }
}

/// uint64 class indices from 2^63 on, which the int64 copy that the kernel
/// reads turns negative (one of them could then equal `ignore_index`): the
/// first label out of range, in flat order, with its own value. `labels`
/// is that copy of `target`.
pub(crate) fn check_unsigned_labels(
    target: &Bound<'_, PyUntypedArray>,
    labels: Source<'_, i64>,
    classes: usize,
    ignore: Option<i64>,
) -> PyResult<()> {
    let dtype = target.dtype();
    if dtype.kind() != b'u' || dtype.itemsize() < 8 {
        return Ok(());
    }
    let bad = |y: i64| y < 0 || ((y as u64) >= classes as u64 && ignore != Some(y));
    match (0..labels.len()).find(|&i| bad(labels.get(i))) {
        Some(index) => Err(label_out_of_range(
            labels.get(index) as u64,
            index,
            classes,
            target.shape(),
        )),
        None => Ok(()),
    }
}
