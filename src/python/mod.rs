//! The `fastloss._native` extension module: bindings only. Argument handling
//! is in [`args`], what each of a loss's four functions computes and returns
//! in [`kind`], the generic call path in [`pointwise`], the losses'
//! functions in [`losses`] (generated from the registry of losses).

pub(crate) mod args;
mod binary;
pub(crate) mod kind;
mod losses;
pub(crate) mod pointwise;
mod softmax;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::LossError;
use crate::simd::Level;

impl From<LossError> for PyErr {
    fn from(e: LossError) -> PyErr {
        PyValueError::new_err(e.to_string())
    }
}

/// Runs the body of a binding, turning a Rust panic (a bug: kernels report
/// bad input as `LossError`) into `RuntimeError`. pyo3 would raise its
/// `PanicException`, a `BaseException` that `except Exception` lets through.
/// Every loss function of the module calls its body through here.
pub(crate) fn guard<R>(body: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(PyRuntimeError::new_err(format!(
            "fastloss internal error (please report it): {what}"
        )))
    })
}

/// For the tests only: panics inside a leaf of a threaded reduction over `n`
/// items (GIL released, on the worker pool when `n` is large), through
/// [`guard`], as a kernel bug would.
#[pyfunction]
fn _panic_in_kernel(py: Python<'_>, n: usize) -> PyResult<f64> {
    guard(|| {
        let last = n.saturating_sub(1) / crate::reduce::BLOCK * crate::reduce::BLOCK;
        Ok(py.detach(|| {
            crate::reduce::tree(n, crate::reduce::BLOCK, 1, (), &|r, ()| {
                if r.start == last {
                    panic!("forced panic in the leaf at {last} (test hook)");
                }
                r.len() as f64
            })
        }))
    })
}

/// Sets the number of threads the kernels use (n >= 1). Results do not
/// depend on it.
#[pyfunction]
fn set_num_threads(n: i64) -> PyResult<()> {
    let n = args::num_threads(n)?;
    Ok(crate::threads::set_num_threads(n)?)
}

/// The number of threads the kernels use.
#[pyfunction]
fn get_num_threads() -> usize {
    crate::threads::num_threads()
}

/// Version, SIMD level in use, the levels this machine has, and threads.
#[pyfunction]
fn info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("version", env!("CARGO_PKG_VERSION"))?;
    d.set_item("simd", Level::active().name())?;
    d.set_item(
        "simd_available",
        Level::available()
            .into_iter()
            .map(Level::name)
            .collect::<Vec<_>>(),
    )?;
    d.set_item("threads", crate::threads::num_threads())?;
    Ok(d)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(info, m)?)?;
    // Not in `__all__` (which `add_function` would extend): a test hook.
    m.setattr("_panic_in_kernel", wrap_pyfunction!(_panic_in_kernel, m)?)?;
    losses::register(m)
}
