//! The Python binding of the binary cross-entropy with logits, whose
//! `pos_weight` is an array broadcast to the input (the plain binary
//! cross-entropy is built from its kernel in `losses.rs`).

use numpy::PyUntypedArrayMethods;
use pyo3::prelude::*;

use super::args::{self, Dtype};
use super::kind::Kind;
use super::pointwise::Call;
use crate::kernel::Columns;
use crate::loss::binary::BinaryCrossEntropyWithLogits;
use crate::reduce::Reduction;

/// `pos_weight` broadcasts to the input's shape.
#[allow(clippy::too_many_arguments)]
pub(crate) fn call<'py>(
    kind: Kind,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    reduction: Reduction,
    sample_weight: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut call = Call::new(input, target, reduction, sample_weight, out)?;
    let pw = pos_weight
        .map(|p| args::pos_weight(p, call.shape()))
        .transpose()?;
    if let Some(p) = &pw {
        call.reads("pos_weight", p);
    }
    let shape = &call.shape().to_vec();
    macro_rules! run {
        ($t:ty) => {{
            let typed = match &pw {
                Some(p) => Some(args::typed::<$t>(p, "pos_weight")?),
                None => None,
            };
            let columns = match &typed {
                Some(p) => {
                    // SAFETY: pos_weight is only read, and `run` checks that
                    // `out` does not overlap it.
                    let values = unsafe { args::slice(p) };
                    Some(Columns::broadcast("pos_weight", values, p.shape(), shape)?)
                }
                None => None,
            };
            let loss = BinaryCrossEntropyWithLogits::with_pos_weight(columns)?;
            call.run::<$t, _>(kind, loss)
        }};
    }
    match call.dtype {
        Dtype::F32 => run!(f32),
        Dtype::F64 => run!(f64),
    }
}
