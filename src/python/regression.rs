//! The Python functions of the regression losses: a parameter list and a
//! constructor each.

use pyo3::prelude::*;

use super::pointwise::pointwise_functions;

mod mae_py {
    use super::*;
    use crate::loss::regression::Mae;
    pointwise_functions!(mae, mae_grad, mae_value_and_grad, mae_grad_hess, () => Ok(Mae));
}

mod mse_py {
    use super::*;
    use crate::loss::regression::Mse;
    pointwise_functions!(mse, mse_grad, mse_value_and_grad, mse_grad_hess, () => Ok(Mse));
}

mod smooth_l1_py {
    use super::*;
    use crate::loss::regression::SmoothL1;
    pointwise_functions!(
        smooth_l1, smooth_l1_grad, smooth_l1_value_and_grad, smooth_l1_grad_hess,
        (beta: f64 = 1.0) => SmoothL1::<T>::new(beta)
    );
}

mod huber_py {
    use super::*;
    use crate::loss::regression::Huber;
    pointwise_functions!(
        huber, huber_grad, huber_value_and_grad, huber_grad_hess,
        (delta: f64 = 1.0) => Huber::<T>::new(delta)
    );
}

mod log_cosh_py {
    use super::*;
    use crate::loss::regression::LogCosh;
    pointwise_functions!(
        log_cosh, log_cosh_grad, log_cosh_value_and_grad, log_cosh_grad_hess,
        () => Ok(LogCosh)
    );
}

mod pinball_py {
    use super::*;
    use crate::loss::regression::Pinball;
    pointwise_functions!(
        pinball, pinball_grad, pinball_value_and_grad, pinball_grad_hess,
        (q: f64 = 0.5) => Pinball::<T>::new(q)
    );
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    mae_py::register(m)?;
    mse_py::register(m)?;
    smooth_l1_py::register(m)?;
    huber_py::register(m)?;
    log_cosh_py::register(m)?;
    pinball_py::register(m)
}
