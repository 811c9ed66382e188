//! What the benchmarks measure the kernels against: the least time any loss
//! needs to read its arguments (and write its gradient) on the kernels'
//! threads, and a way to choose where those threads split a call. Neither is
//! part of the API: both are set on the module outside `__all__`.

use std::ops::Range;

use numpy::{PyReadonlyArray1, PyReadwriteArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::reduce::{force_grain, tree, BLOCK};
use crate::simd::{dispatch, Level};

/// Reads the bytes of `a` and `b` once, as 64-bit words, and writes their
/// wrapping sums to `out` when it is given: integer sums, which vectorise in
/// any order, so the loop runs at the speed of memory. The words go through
/// the kernels' tree and thread pool, sharing subtrees from two blocks of
/// words (64 KiB of each array) on as many threads as the kernels use.
/// Returns the sum of the leaves' sums as a float, a figure that depends on
/// every word, so that no read can be skipped.
#[pyfunction]
#[pyo3(signature = (a, b, out=None))]
fn _stream(
    py: Python<'_>,
    a: PyReadonlyArray1<'_, u8>,
    b: PyReadonlyArray1<'_, u8>,
    out: Option<PyReadwriteArray1<'_, u8>>,
) -> PyResult<f64> {
    super::guard(|| {
        let (a, b) = (a.as_slice()?, b.as_slice()?);
        let mut out = out;
        let out = out.as_mut().map(|o| o.as_slice_mut()).transpose()?;
        let lengths = [("b", Some(b.len())), ("out", out.as_ref().map(|o| o.len()))];
        for (name, len) in lengths {
            if let Some(len) = len.filter(|&len| len != a.len()) {
                return Err(PyValueError::new_err(format!(
                    "{name} must have as many bytes as a ({}), not {len}",
                    a.len()
                )));
            }
        }
        let out = out.unwrap_or(&mut []);
        let words = a.len() / 8;
        let (body, tail) = out.split_at_mut(if out.is_empty() { 0 } else { words * 8 });
        let sum = super::run_call(py, words, || {
            tree(words, BLOCK, 1, body, &|r: Range<usize>, out: &mut [u8]| {
                let bytes = r.start * 8..r.end * 8;
                stream(Level::active(), &a[bytes.clone()], &b[bytes], out) as f64
            })
        })?;
        let rest = a.len() - words * 8;
        let (mut last_a, mut last_b) = ([0u8; 8], [0u8; 8]);
        last_a[..rest].copy_from_slice(&a[words * 8..]);
        last_b[..rest].copy_from_slice(&b[words * 8..]);
        let last = u64::from_ne_bytes(last_a).wrapping_add(u64::from_ne_bytes(last_b));
        tail.copy_from_slice(&last.to_ne_bytes()[..tail.len()]);
        Ok(sum + last as f64)
    })
}

dispatch! {
    /// The wrapping sum of the 64-bit words of `a` and `b` (whole words of
    /// equal length), at `level`; the words' pairwise sums go to `out` when
    /// it is not empty.
    fn stream<>(a: &[u8], b: &[u8], out: &mut [u8]) -> u64 = stream_body;
}

/// [`stream`] at the level it was compiled for.
#[inline(always)]
fn stream_body(a: &[u8], b: &[u8], out: &mut [u8]) -> u64 {
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or_default());
    let pairs = a.chunks_exact(8).zip(b.chunks_exact(8));
    if out.is_empty() {
        return pairs.fold(0, |s, (x, y)| s.wrapping_add(word(x)).wrapping_add(word(y)));
    }
    let mut sum = 0u64;
    for (o, (x, y)) in out.chunks_exact_mut(8).zip(pairs) {
        let w = word(x).wrapping_add(word(y));
        o.copy_from_slice(&w.to_ne_bytes());
        sum = sum.wrapping_add(w);
    }
    sum
}

/// Makes every kernel share its work between threads from `grain` elements
/// (rows, for row-wise losses) instead of from its own choice, until called
/// with `None`. Results do not change, only which thread computes what.
#[pyfunction]
#[pyo3(signature = (grain))]
fn _force_grain(grain: Option<usize>) {
    force_grain(grain);
}

/// Sets the benchmarks' functions on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.setattr("_stream", wrap_pyfunction!(_stream, m)?)?;
    m.setattr("_force_grain", wrap_pyfunction!(_force_grain, m)?)?;
    Ok(())
}
