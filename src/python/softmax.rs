//! The Python functions of the softmax cross-entropy: the class axis read
//! in place as if it were the last (gradients written with it last, and
//! moved back by a copy when it is not), class-index or probability targets
//! told apart by dtype, every check before the first write, then one call
//! of [`CrossEntropy::evaluate`].

use numpy::{Element, PyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::args::{self, Dtype, WeightShape};
use super::kind::{Kind, Outputs};
use crate::float::Float;
use crate::kernel::SourceWeights;
use crate::loss::softmax::{Args, CrossEntropy};
use crate::reduce::Reduction;
use crate::simd::Level;
use crate::strided::{Sink, Source};

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
        // The class axis read as if it were the last, the rows in C order
        // of the other axes.
        let ndim = shape.len();
        let order: Vec<usize> = (0..ndim)
            .filter(|&k| k != self.axis)
            .chain([self.axis])
            .collect();
        let input = args::Read::<T>::new(&self.input, "input", &order)?;
        let (labels, probs) = match &self.target {
            Target::Index(t) => (Some(args::Read::<i64>::new(t, "target", &[])?), None),
            Target::Probs(t) => (None, Some(args::Read::<T>::new(t, "target", &order)?)),
        };
        let class_weight = match &self.class_weight {
            Some(w) => Some(args::Read::<T>::new(w, "class_weight", &[])?),
            None => None,
        };
        let weight = match &self.weight {
            Some((w, shape)) => Some((args::Read::<T>::new(w, "sample_weight", &[])?, shape)),
            None => None,
        };
        // SAFETY: inputs are only read; outputs are fresh arrays or `out`,
        // which `check_out` proved disjoint from them.
        let x = unsafe { input.source() };
        let (labels, probs, index) = match (&labels, &probs) {
            // SAFETY: as above.
            (Some(l), _) => (unsafe { l.source() }, Source::Slice(&[][..]), true),
            // SAFETY: as above.
            (_, Some(p)) => (Source::Slice(&[][..]), unsafe { p.source() }, false),
            _ => unreachable!("one kind of target"),
        };
        if let Target::Index(t) = &self.target {
            args::check_unsigned_labels(t, labels, self.classes, self.ignore_index)?;
        }
        // Class weights are few: gathered when strided.
        let mut cw = Vec::new();
        if let Some(w) = &class_weight {
            // SAFETY: as above.
            let w = unsafe { w.source() };
            w.extend_into(0..w.len(), &mut cw);
        }
        let sw = match &weight {
            // SAFETY: as above.
            Some((w, WeightShape::Each)) => SourceWeights::Each(unsafe { w.source() }),
            // SAFETY: as above.
            Some((w, WeightShape::Rows)) => SourceWeights::Rows(unsafe { w.source() }),
            None => SourceWeights::None,
        };
        let mut loss = CrossEntropy::<T>::new()
            .with_label_smoothing(self.label_smoothing)?
            .with_from_logits(self.from_logits);
        if class_weight.is_some() {
            loss = loss.with_class_weight(&cw)?;
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
        let new = |s: &[usize]| -> Bound<'py, PyArrayDyn<T>> {
            // SAFETY: the kernel writes every element before the array is
            // returned; on error the array is dropped unseen.
            unsafe { PyArrayDyn::<T>::new(py, s, false) }
        };
        // Gradients are written with rows contiguous: into `out` (or the
        // result) directly when the class axis is last, else into arrays of
        // the moved shape, copied back below. Written in place through the
        // input's layout, each row would scatter over C cache lines.
        let last = self.axis + 1 == ndim;
        let moved_shape: Vec<usize> = order.iter().map(|&k| shape[k]).collect();
        let direct = out.as_ref().and_then(args::Out::direct);
        let grad_buf = || match (&direct, last) {
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
        let args = Args {
            x,
            labels,
            probs,
            sw,
            index,
        };
        let value = {
            // SAFETY: the outputs are distinct fresh arrays (or `out`),
            // C-contiguous and of type T; nothing else holds them yet.
            let (wants, v, g, h) = unsafe { outputs.op(kind) }.parts();
            let outs = (Sink::Slice(v), Sink::Slice(g), Sink::Slice(h));
            let run =
                || loss.evaluate_sources(Level::active(), args, classes, reduction, wants, outs);
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
            grad: outputs
                .grad
                .map(|g| match &out {
                    Some(o) => o.store(back(g, direct.as_ref())?),
                    None => back(g, None),
                })
                .transpose()?,
            hess: outputs.hess.map(|h| back(h, None)).transpose()?,
        };
        outputs.result(py, kind, value.to_f64())
    }
}

/// `np.moveaxis(arr, from, to)`.
fn moveaxis<'py>(arr: &Bound<'py, PyAny>, from: isize, to: isize) -> PyResult<Bound<'py, PyAny>> {
    static F: args::NumpyFn = args::NumpyFn::new();
    args::numpy_fn(arr.py(), &F, "moveaxis")?.call1((arr, from, to))
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
