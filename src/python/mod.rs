//! The `fastloss._native` extension module: bindings only. Argument handling
//! is in [`args`], what each of a loss's four functions computes and returns
//! in [`kind`], the generic call path in [`pointwise`], the losses'
//! functions in [`losses`] (generated from the registry of losses).

pub(crate) mod args;
mod bench;
mod binary;
pub(crate) mod kind;
mod losses;
pub(crate) mod pointwise;
mod softmax;
mod tweedie;

use std::ffi::CString;

use numpy::PyArrayDescrMethods;
use pyo3::exceptions::{PyRuntimeError, PyRuntimeWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use crate::error::LossError;
use crate::simd::Level;

impl From<LossError> for PyErr {
    fn from(e: LossError) -> PyErr {
        PyValueError::new_err(e.to_string())
    }
}

/// Calls of [`guard`] under way, in the process; those on this thread.
static GUARDED: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static GUARDED_HERE: Cell<usize> = const { Cell::new(0) };
}

/// One call of [`guard`] under way, until dropped (unwinding included).
struct Guarded;

impl Guarded {
    fn enter() -> Self {
        GUARDED.fetch_add(1, Ordering::SeqCst);
        GUARDED_HERE.with(|n| n.set(n.get() + 1));
        Guarded
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        GUARDED_HERE.with(|n| n.set(n.get() - 1));
        GUARDED.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Installs (once) the panic hook of the module: silent for the panics that
/// [`guard`] catches, whose exception carries the message, and the default
/// report for any other. A panic is guard's when this thread is inside a
/// guarded call, or when it is a helper thread of the pool and a guarded
/// call is under way: helpers run only the tasks of kernels, and every
/// kernel this module runs is called through `guard`. The hook is this
/// extension's own (each Rust library loaded into Python has its own
/// standard library), so other extensions' panics are not affected.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let here = GUARDED_HERE.with(Cell::get) > 0;
            let helper = GUARDED.load(Ordering::SeqCst) > 0 && !PYTHON_THREAD.with(Cell::get);
            if !(here || helper) {
                report(info);
            }
        }));
    });
}

thread_local! {
    /// Whether this thread has called into the module: a Python thread, not
    /// a helper of the pool.
    static PYTHON_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Runs the body of a binding, turning a Rust panic (a bug: kernels report
/// bad input as `LossError`) into `RuntimeError`, with nothing written to
/// stderr (see [`install_panic_hook`]). pyo3 would raise its
/// `PanicException`, a `BaseException` that `except Exception` lets through.
/// Every loss function of the module calls its body through here.
pub(crate) fn guard<R>(body: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
    PYTHON_THREAD.with(|t| t.set(true));
    let entered = Guarded::enter();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    drop(entered);
    caught.unwrap_or_else(|payload| {
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

/// Below this many elements a call keeps the GIL: releasing it costs more.
const DETACH_MIN: usize = 1 << 14;

/// From this many elements a call stops for Ctrl-C (see [`run_call`]).
/// Smaller calls end within about 20 ms even at the slowest losses' 10-20 ns
/// an element, so polling them would only cost.
const POLL_MIN: usize = 1 << 20;

/// Runs the kernel call `f` over `elements` elements: with the GIL held
/// when it is small, else with it released; and from [`POLL_MIN`] elements
/// stopped when a signal handler raises (Ctrl-C's `KeyboardInterrupt`):
/// between leaves of its reductions, about every 10 ms, the calling thread
/// takes the GIL back and runs the pending handlers, and the first
/// exception one raises ends the call and is returned as it is.
pub(crate) fn run_call<T: Send>(
    py: Python<'_>,
    elements: usize,
    f: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    if elements < DETACH_MIN {
        return Ok(f());
    }
    if elements < POLL_MIN {
        return Ok(py.detach(f));
    }
    let mut raised = None;
    let result = py.detach(|| {
        // Only Python's main thread runs signal handlers; elsewhere
        // `check_signals` returns at once. It runs no Python code of ours:
        // code run here could meet the pending handler itself and lose its
        // exception.
        let mut ask = || {
            Python::attach(|py| match py.check_signals() {
                Err(e) => {
                    raised = Some(e);
                    false
                }
                Ok(()) => true,
            })
        };
        crate::threads::with_poll(&mut ask, f)
    });
    result.map_err(|_| {
        raised.unwrap_or_else(|| PyRuntimeError::new_err("fastloss: call interrupted"))
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

/// Sets the number of threads the kernels use (1 <= n <= 1024). Results do not
/// depend on it.
#[pyfunction]
fn set_num_threads(n: &Bound<'_, PyAny>) -> PyResult<()> {
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
    install_panic_hook();
    // NumPy's C API and the dtypes the bindings use, fetched now: the numpy
    // crate keeps them in `PyOnceLock`s, and one that a thread is filling
    // when another forks the process stays unfilled in the child for ever.
    let py = m.py();
    for dtype in [
        numpy::dtype::<f32>(py),
        numpy::dtype::<f64>(py),
        numpy::dtype::<i64>(py),
    ] {
        dtype.itemsize();
    }
    // Settings that cannot be used as given are not silently ignored: they
    // warn here, once, and the import goes on (an error only under `-W
    // error`).
    let problems = [
        crate::threads::env_threads().1,
        crate::simd::env_level().err(),
    ];
    for problem in problems.into_iter().flatten() {
        let message = CString::new(problem).unwrap_or_default();
        // Attributed to the package, not to the import machinery's frame
        // that runs this: `-W ignore::RuntimeWarning:fastloss` filters it.
        PyErr::warn_explicit(
            py,
            &py.get_type::<PyRuntimeWarning>(),
            &message,
            c"fastloss",
            0,
            Some(c"fastloss"),
            None,
        )?;
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(info, m)?)?;
    // Not in `__all__` (which `add_function` would extend): a test hook.
    m.setattr("_panic_in_kernel", wrap_pyfunction!(_panic_in_kernel, m)?)?;
    bench::register(m)?;
    losses::register(m)
}
