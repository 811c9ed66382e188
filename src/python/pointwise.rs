//! How a Python call of an elementwise loss becomes a kernel call: one
//! generic path for all of them; the per-loss `#[pyfunction]`s are generated
//! by [`pointwise_functions!`].

use numpy::{Element, PyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::args::{self, Dtype, WeightShape};
use super::kind::{Kind, Outputs};
use crate::float::Float;
use crate::kernel::{evaluate_sources, Pointwise, SourceWeights};
use crate::reduce::Reduction;
use crate::simd::Level;
use crate::strided::Sink;

/// The arguments of a call, converted to arrays and checked.
pub(crate) struct Call<'py> {
    pub(crate) dtype: Dtype,
    input: Bound<'py, PyUntypedArray>,
    target: Bound<'py, PyUntypedArray>,
    weight: Option<(Bound<'py, PyUntypedArray>, WeightShape)>,
    reduction: Reduction,
    out: Option<Bound<'py, PyAny>>,
    /// Array parameters the loss reads, by name, as given.
    params: Vec<(&'static str, Bound<'py, PyUntypedArray>)>,
}

impl<'py> Call<'py> {
    pub(crate) fn new(
        input: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
        reduction: Reduction,
        sample_weight: Option<&Bound<'py, PyAny>>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let input = args::array(input, "input")?;
        let target = args::array(target, "target")?;
        let dtype = args::compute_dtype(&input, &target)?;
        args::check_shapes(input.shape(), target.shape())?;
        let weight = sample_weight
            .map(|w| args::sample_weight(w, input.shape()))
            .transpose()?;
        Ok(Self {
            dtype,
            input,
            target,
            weight,
            reduction,
            out: out.cloned(),
            params: Vec::new(),
        })
    }

    /// Records that the loss reads `param` (an array parameter, as given):
    /// `out=` must not share memory with it.
    pub(crate) fn reads(&mut self, name: &'static str, param: &Bound<'py, PyUntypedArray>) {
        self.params.push((name, param.clone()));
    }

    /// The input's shape.
    pub(crate) fn shape(&self) -> &[usize] {
        self.input.shape()
    }

    /// Runs `kind` of `loss` in `T`, the compute dtype.
    pub(crate) fn run<T: Float + Element, L: Pointwise<T>>(
        self,
        kind: Kind,
        loss: L,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = self.input.py();
        let input = args::Read::<T>::new(&self.input, "input", &[])?;
        let target = args::Read::<T>::new(&self.target, "target", &[])?;
        let weight = match &self.weight {
            None => None,
            Some((w, shape)) => Some((args::Read::<T>::new(w, "sample_weight", &[])?, shape)),
        };
        // SAFETY: inputs are only read; outputs are fresh arrays or `out`,
        // which `check_out` proved disjoint from them.
        let (x, y) = unsafe { (input.source(), target.source()) };
        let w = match &weight {
            None => SourceWeights::None,
            // SAFETY: as above.
            Some((w, WeightShape::Each)) => SourceWeights::Each(unsafe { w.source() }),
            // SAFETY: as above.
            Some((w, WeightShape::Rows)) => SourceWeights::Rows(unsafe { w.source() }),
        };
        let shape = self.input.shape().to_vec();
        let out = match &self.out {
            Some(out) => {
                let mut reads = vec![("input", &self.input), ("target", &self.target)];
                if let Some((w, _)) = &self.weight {
                    reads.push(("sample_weight", w));
                }
                reads.extend(self.params.iter().map(|(name, p)| (*name, p)));
                Some(args::check_out::<T>(out, &shape, &reads)?)
            }
            None => None,
        };
        let new = || -> Bound<'py, PyArrayDyn<T>> {
            // SAFETY: the kernel writes every element before the array is
            // returned; on error the array is dropped unseen.
            unsafe { PyArrayDyn::<T>::new(py, shape.as_slice(), false) }
        };
        let grad = || out.as_ref().and_then(args::Out::direct).unwrap_or_else(new);
        let reduction = self.reduction;
        let outputs = Outputs::new(kind, reduction, new, grad, new);
        let value = {
            // SAFETY: the outputs are distinct fresh arrays (or `out`),
            // C-contiguous and of type T; nothing else holds them yet.
            let (wants, v, g, h) = unsafe { outputs.op(kind) }.parts();
            let outs = (Sink::Slice(v), Sink::Slice(g), Sink::Slice(h));
            let run = || evaluate_sources(Level::active(), &loss, x, y, w, reduction, wants, outs);
            super::run_call(py, x.len(), run)??
        };
        let mut outputs = outputs.map(|a| a.into_any());
        if let Some(out) = &out {
            outputs.grad = outputs.grad.map(|g| out.store(g)).transpose()?;
        }
        outputs.result(py, kind, value.to_f64())
    }
}

/// Generates the four `#[pyfunction]`s of a loss, each with the text
/// signature and doc the registry gives it (`losses.rs` invokes this), and the
/// `register` function that adds them to the module. Each calls
/// `call(kind, input, target, <params>, reduction, sample_weight, out)`, which
/// must be in scope; [`pointwise_functions!`] writes it for losses whose
/// parameters are numbers. A parameter may carry its `#[pyo3(from_py_with =
/// ...)]` (scalar parameters do: their type errors name them); `reduction`
/// is converted by [`args::reduction`], for the same reason.
macro_rules! pointwise_pyfunctions {
    (
        $value:ident: $value_sig:literal $value_doc:literal,
        $grad:ident: $grad_sig:literal $grad_doc:literal,
        $vg:ident: $vg_sig:literal $vg_doc:literal,
        $gh:ident: $gh_sig:literal $gh_doc:literal,
        ($($(#[$($m:tt)*])* $p:ident: $pt:ty = $pd:expr),*)
    ) => {
        #[pyfunction]
        #[pyo3(
            signature = (input, target, *, $($p = $pd,)* reduction = $crate::reduce::Reduction::Mean, sample_weight = None),
            text_signature = $value_sig
        )]
        #[doc = $value_doc]
        fn $value<'py>(
            input: &Bound<'py, PyAny>,
            target: &Bound<'py, PyAny>,
            $($(#[$($m)*])* $p: $pt,)*
            #[pyo3(from_py_with = $crate::python::args::reduction)] reduction: $crate::reduce::Reduction,
            sample_weight: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyAny>> {
            use $crate::python::kind::Kind;
            $crate::python::guard(|| call(Kind::Value, input, target, $($p,)* reduction, sample_weight, None))
        }

        #[pyfunction]
        #[pyo3(
            signature = (input, target, *, $($p = $pd,)* reduction = $crate::reduce::Reduction::Mean, sample_weight = None, out = None),
            text_signature = $grad_sig
        )]
        #[doc = $grad_doc]
        fn $grad<'py>(
            input: &Bound<'py, PyAny>,
            target: &Bound<'py, PyAny>,
            $($(#[$($m)*])* $p: $pt,)*
            #[pyo3(from_py_with = $crate::python::args::reduction)] reduction: $crate::reduce::Reduction,
            sample_weight: Option<&Bound<'py, PyAny>>,
            out: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyAny>> {
            use $crate::python::kind::Kind;
            $crate::python::guard(|| call(Kind::Grad, input, target, $($p,)* reduction, sample_weight, out))
        }

        #[pyfunction]
        #[pyo3(
            signature = (input, target, *, $($p = $pd,)* reduction = $crate::reduce::Reduction::Mean, sample_weight = None, out = None),
            text_signature = $vg_sig
        )]
        #[doc = $vg_doc]
        fn $vg<'py>(
            input: &Bound<'py, PyAny>,
            target: &Bound<'py, PyAny>,
            $($(#[$($m)*])* $p: $pt,)*
            #[pyo3(from_py_with = $crate::python::args::reduction)] reduction: $crate::reduce::Reduction,
            sample_weight: Option<&Bound<'py, PyAny>>,
            out: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyAny>> {
            use $crate::python::kind::Kind;
            $crate::python::guard(|| call(Kind::ValueAndGrad, input, target, $($p,)* reduction, sample_weight, out))
        }

        #[pyfunction]
        #[pyo3(
            signature = (input, target, *, $($p = $pd,)* reduction = $crate::reduce::Reduction::None, sample_weight = None),
            text_signature = $gh_sig
        )]
        #[doc = $gh_doc]
        fn $gh<'py>(
            input: &Bound<'py, PyAny>,
            target: &Bound<'py, PyAny>,
            $($(#[$($m)*])* $p: $pt,)*
            #[pyo3(from_py_with = $crate::python::args::reduction)] reduction: $crate::reduce::Reduction,
            sample_weight: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyAny>> {
            use $crate::python::kind::Kind;
            $crate::python::guard(|| call(Kind::GradHess, input, target, $($p,)* reduction, sample_weight, None))
        }

        pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
            m.add_function(wrap_pyfunction!($value, m)?)?;
            m.add_function(wrap_pyfunction!($grad, m)?)?;
            m.add_function(wrap_pyfunction!($vg, m)?)?;
            m.add_function(wrap_pyfunction!($gh, m)?)?;
            Ok(())
        }
    };
}
pub(crate) use pointwise_pyfunctions;

/// [`pointwise_pyfunctions!`] for a loss whose parameters are numbers:
/// `$make` builds the loss in `T` from them.
macro_rules! pointwise_functions {
    (
        $value:ident: $value_sig:literal $value_doc:literal,
        $grad:ident: $grad_sig:literal $grad_doc:literal,
        $vg:ident: $vg_sig:literal $vg_doc:literal,
        $gh:ident: $gh_sig:literal $gh_doc:literal,
        ($($(#[$($m:tt)*])* $p:ident: $pt:ty = $pd:expr),*) => $make:expr
    ) => {
        fn make<T: $crate::float::Float>($($p: $pt),*)
            -> Result<impl $crate::kernel::Pointwise<T>, $crate::error::LossError> {
            $make
        }

        #[allow(clippy::too_many_arguments)]
        fn call<'py>(
            kind: $crate::python::kind::Kind,
            input: &Bound<'py, PyAny>,
            target: &Bound<'py, PyAny>,
            $($p: $pt,)*
            reduction: $crate::reduce::Reduction,
            sample_weight: Option<&Bound<'py, PyAny>>,
            out: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyAny>> {
            use $crate::python::args::Dtype;
            let call = $crate::python::pointwise::Call::new(input, target, reduction, sample_weight, out)?;
            match call.dtype {
                Dtype::F32 => call.run::<f32, _>(kind, make::<f32>($($p),*)?),
                Dtype::F64 => call.run::<f64, _>(kind, make::<f64>($($p),*)?),
            }
        }

        $crate::python::pointwise::pointwise_pyfunctions!(
            $value: $value_sig $value_doc,
            $grad: $grad_sig $grad_doc,
            $vg: $vg_sig $vg_doc,
            $gh: $gh_sig $gh_doc,
            ($($(#[$($m)*])* $p: $pt = $pd),*)
        );
    };
}
pub(crate) use pointwise_functions;
