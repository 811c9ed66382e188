//! The Python functions of the binary cross-entropies.

use pyo3::prelude::*;

mod binary_cross_entropy_py {
    use super::*;
    use crate::loss::binary::BinaryCrossEntropy;
    use crate::python::pointwise::pointwise_functions;
    pointwise_functions!(
        binary_cross_entropy, binary_cross_entropy_grad,
        binary_cross_entropy_value_and_grad, binary_cross_entropy_grad_hess,
        () => Ok(BinaryCrossEntropy)
    );
}

mod binary_cross_entropy_with_logits_py {
    use super::*;
    use crate::loss::binary::BinaryCrossEntropyWithLogits;
    use crate::python::args::{self, Dtype};
    use crate::python::kind::Kind;
    use crate::python::pointwise::{pointwise_pyfunctions, Call};

    /// `pos_weight` is 1-D with one entry per element of the input's last axis.
    #[allow(clippy::too_many_arguments)]
    fn call<'py>(
        kind: Kind,
        input: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
        pos_weight: Option<&Bound<'py, PyAny>>,
        reduction: &str,
        sample_weight: Option<&Bound<'py, PyAny>>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let call = Call::new(input, target, reduction, sample_weight, out)?;
        let pw = pos_weight
            .map(|p| args::pos_weight(p, call.shape()))
            .transpose()?;
        macro_rules! run {
            ($t:ty) => {{
                let typed = match &pw {
                    Some(p) => Some(args::typed::<$t>(p, "pos_weight")?),
                    None => None,
                };
                // SAFETY: pos_weight is only read, and `run` checks that
                // `out` does not overlap it.
                let slice = typed.as_ref().map(|a| unsafe { args::slice(a) });
                let loss = BinaryCrossEntropyWithLogits::new(slice)?;
                call.run::<$t, _>(kind, loss, slice.as_slice())
            }};
        }
        match call.dtype {
            Dtype::F32 => run!(f32),
            Dtype::F64 => run!(f64),
        }
    }

    pointwise_pyfunctions!(
        binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_grad,
        binary_cross_entropy_with_logits_value_and_grad, binary_cross_entropy_with_logits_grad_hess,
        (pos_weight: Option<&Bound<'py, PyAny>> = None)
    );
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    binary_cross_entropy_py::register(m)?;
    binary_cross_entropy_with_logits_py::register(m)
}
