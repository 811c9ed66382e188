//! The Python functions of the softmax cross-entropy: the class axis moved
//! last (a copy only when it is not last already), class-index or
//! probability targets told apart by dtype, every check before the first
//! write, then one call of [`CrossEntropy::evaluate`].

use numpy::{Element, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::args::{self, Dtype, WeightShape};
use super::kind::{Kind, Outputs};
use crate::float::Float;
use crate::kernel::Weights;
use crate::loss::softmax::{CrossEntropy, Targets};
use crate::reduce::Reduction;
use crate::simd::Level;

/// `np.moveaxis(arr, from, to)`.
fn moveaxis<'py>(arr: &Bound<'py, PyAny>, from: isize, to: isize) -> PyResult<Bound<'py, PyAny>> {
    static F: args::NumpyFn = args::NumpyFn::new();
    args::numpy_fn(arr.py(), &F, "moveaxis")?.call1((arr, from, to))
}

/// The targets of a call.
enum Target<'py> {
    Index(Bound<'py, PyUntypedArray>),
    Probs(Bound<'py, PyUntypedArray>),
}

/// The arguments of a call, converted to arrays and checked.
struct Call<'py> {
    dtype: Dtype,
    input: Bound<'py, PyUntypedArray>,
    target: Target<'py>,
    /// The class axis, in 0..ndim.
    axis: usize,
    /// Shape of the per-row loss: the input's without the class axis.
    rows_shape: Vec<usize>,
    classes: usize,
    class_weight: Option<Bound<'py, PyUntypedArray>>,
    ignore_index: Option<i64>,
    label_smoothing: f64,
    from_logits: bool,
    weight: Option<(Bound<'py, PyUntypedArray>, WeightShape)>,
    reduction: Reduction,
    out: Option<Bound<'py, PyAny>>,
}

impl<'py> Call<'py> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        input: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
        axis: i64,
        class_weight: Option<&Bound<'py, PyAny>>,
        ignore_index: Option<i64>,
        label_smoothing: f64,
        from_logits: bool,
        reduction: Reduction,
        sample_weight: Option<&Bound<'py, PyAny>>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let input = args::array(input, "input")?;
        let target = args::array(target, "target")?;
        // The compute dtype follows the input (class indices do not count).
        let dtype = args::compute_dtype(&input, &input)?;
        let shape = input.shape().to_vec();
        let given = axis;
        let axis = args::class_axis(&shape, axis)?;
        let classes = shape[axis];
        let mut rows_shape = shape.clone();
        rows_shape.remove(axis);
        let rows: usize = rows_shape.iter().product();

        let indices = args::class_indices(&target, &rows_shape)?;
        let (target, dtype) = if indices {
            (Target::Index(target), dtype)
        } else {
            // Probabilities take part in the dtype promotion.
            let dtype = args::compute_dtype(&input, &target)?;
            (Target::Probs(target), dtype)
        };
        let t = match &target {
            Target::Index(t) | Target::Probs(t) => t,
        };
        args::check_class_target_shape(t, indices, &shape, &rows_shape, given)?;
        args::check_classes(classes, rows, &shape, given)?;
        let class_weight = class_weight
            .map(|w| args::class_weight(w, classes, given))
            .transpose()?;
        let weight = sample_weight
            .map(|w| args::row_sample_weight(w, &rows_shape))
            .transpose()?;
        Ok(Self {
            dtype,
            input,
            target,
            axis,
            rows_shape,
            classes,
            class_weight,
            ignore_index,
            label_smoothing,
            from_logits,
            weight,
            reduction,
            out: out.cloned(),
        })
    }

    /// Runs `kind` in `T`, the compute dtype.
    fn run<T: Float + Element>(self, kind: Kind) -> PyResult<Bound<'py, PyAny>> {
        let py = self.input.py();
        let shape = self.input.shape().to_vec();
        let last = self.axis + 1 == shape.len();
        // Rows contiguous: the class axis last, by a copy only when it is not.
        let to_rows = |a: &Bound<'py, PyUntypedArray>, name: &str| {
            if last {
                args::typed::<T>(a, name)
            } else {
                let moved = moveaxis(a.as_any(), self.axis as isize, -1)?;
                args::typed::<T>(moved.cast::<PyUntypedArray>()?, name)
            }
        };
        let input = to_rows(&self.input, "input")?;
        let (labels, probs) = match &self.target {
            Target::Index(t) => (Some(args::labels(t)?), None),
            Target::Probs(t) => (None, Some(to_rows(t, "target")?)),
        };
        let class_weight = match &self.class_weight {
            Some(w) => Some(args::typed::<T>(w, "class_weight")?),
            None => None,
        };
        let weight = match &self.weight {
            Some((w, shape)) => Some((args::typed::<T>(w, "sample_weight")?, shape)),
            None => None,
        };
        // SAFETY: inputs are only read; outputs are fresh arrays or `out`,
        // which `check_out` proved disjoint from them.
        let x = unsafe { args::slice(&input) };
        let target = match (&labels, &probs) {
            // SAFETY: `labels` returns C-contiguous aligned int64 arrays.
            (Some(l), _) => Targets::Index(unsafe { l.as_slice() }.expect("contiguous")),
            // SAFETY: as above.
            (_, Some(p)) => Targets::Probs(unsafe { args::slice(p) }),
            _ => unreachable!("one kind of target"),
        };
        if let (Target::Index(t), Targets::Index(l)) = (&self.target, target) {
            args::check_unsigned_labels(t, l, self.classes, self.ignore_index)?;
        }
        // SAFETY: as above.
        let cw = class_weight.as_ref().map(|w| unsafe { args::slice(w) });
        let w = match &weight {
            // SAFETY: as above.
            Some((w, WeightShape::Each)) => Weights::Each(unsafe { args::slice(w) }),
            // SAFETY: as above.
            Some((w, WeightShape::Rows)) => Weights::Rows(unsafe { args::slice(w) }),
            None => Weights::None,
        };
        let mut loss = CrossEntropy::<T>::new()
            .with_label_smoothing(self.label_smoothing)?
            .with_from_logits(self.from_logits);
        if let Some(cw) = cw {
            loss = loss.with_class_weight(cw)?;
        }
        if let Some(i) = self.ignore_index {
            loss = loss.with_ignore_index(i);
        }

        let out = match &self.out {
            Some(out) => {
                let mut reads = vec![("input", &self.input)];
                match &self.target {
                    Target::Index(t) | Target::Probs(t) => reads.push(("target", t)),
                }
                if let Some(w) = &self.class_weight {
                    reads.push(("class_weight", w));
                }
                if let Some((w, _)) = &self.weight {
                    reads.push(("sample_weight", w));
                }
                Some(args::check_out::<T>(out, &shape, &reads)?)
            }
            None => None,
        };
        // Gradients are computed with rows contiguous: into `out` (or the
        // result) directly when the class axis is last.
        let mut moved_shape = self.rows_shape.clone();
        moved_shape.push(self.classes);
        let new = |s: &[usize]| -> Bound<'py, PyArrayDyn<T>> {
            // SAFETY: the kernel writes every element before the array is
            // returned; on error the array is dropped unseen.
            unsafe { PyArrayDyn::<T>::new(py, s, false) }
        };
        let grad_buf = || match (&out, last) {
            (Some(o), true) => o.clone(),
            (_, true) => new(&shape),
            (_, false) => new(&moved_shape),
        };
        let reduction = self.reduction;
        let outputs = Outputs::new(
            kind,
            reduction,
            || new(&self.rows_shape),
            grad_buf,
            || new(&moved_shape),
        );
        let classes = self.classes;
        let value = {
            // SAFETY: the outputs are distinct fresh arrays (or `out`),
            // C-contiguous and of type T; nothing else holds them yet.
            let op = unsafe { outputs.op(kind) };
            let run = || loss.evaluate(Level::active(), x, target, classes, w, reduction, op);
            super::run_call(py, x.len(), run)?
                .map_err(|e| args::label_error(e, &self.rows_shape))?
        };
        // Back to the input's layout.
        let back = |a: Bound<'py, PyArrayDyn<T>>, into: Option<&Bound<'py, PyArrayDyn<T>>>| {
            if last {
                return Ok(a.into_any());
            }
            let view = moveaxis(a.as_any(), -1, self.axis as isize)?;
            let dst = match into {
                Some(o) => o.clone(),
                None => new(&shape),
            };
            static COPYTO: args::NumpyFn = args::NumpyFn::new();
            args::numpy_fn(py, &COPYTO, "copyto")?.call1((&dst, view))?;
            PyResult::Ok(dst.into_any())
        };
        let outputs = Outputs {
            value: outputs.value.map(|v| v.into_any()),
            grad: outputs.grad.map(|g| back(g, out.as_ref())).transpose()?,
            hess: outputs.hess.map(|h| back(h, None)).transpose()?,
        };
        outputs.result(py, kind, value.to_f64())
    }
}

/// The binding of `cross_entropy` and its three siblings (`losses.rs`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn call<'py>(
    kind: Kind,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    axis: i64,
    class_weight: Option<&Bound<'py, PyAny>>,
    ignore_index: Option<i64>,
    label_smoothing: f64,
    from_logits: bool,
    reduction: Reduction,
    sample_weight: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let call = Call::new(
        input,
        target,
        axis,
        class_weight,
        ignore_index,
        label_smoothing,
        from_logits,
        reduction,
        sample_weight,
        out,
    )?;
    match call.dtype {
        Dtype::F32 => call.run::<f32>(kind),
        Dtype::F64 => call.run::<f64>(kind),
    }
}
