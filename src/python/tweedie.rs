//! The Python binding of the Tweedie loss, whose limits `power = 1` and
//! `power = 2` are the Poisson and Gamma kernels themselves (the same bits,
//! as scikit-learn defines the limits, and no division by `1 − p` or
//! `2 − p`).

use pyo3::prelude::*;

use super::args::Dtype;
use super::kind::Kind;
use super::pointwise::Call;
use crate::error::require;
use crate::loss::loglink::{Gamma, Poisson, Tweedie};
use crate::reduce::Reduction;

/// `power` in [1, 2] picks the kernel.
pub(crate) fn call<'py>(
    kind: Kind,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    power: f64,
    reduction: Reduction,
    sample_weight: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    require(
        (1.0..=2.0).contains(&power),
        "power",
        power,
        "1 <= power <= 2",
    )?;
    let call = Call::new(input, target, reduction, sample_weight, out)?;
    macro_rules! run {
        ($t:ty) => {
            if power == 1.0 {
                call.run::<$t, _>(kind, Poisson)
            } else if power == 2.0 {
                call.run::<$t, _>(kind, Gamma)
            } else {
                call.run::<$t, _>(kind, Tweedie::new(power)?)
            }
        };
    }
    match call.dtype {
        Dtype::F32 => run!(f32),
        Dtype::F64 => run!(f64),
    }
}
