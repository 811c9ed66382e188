//! The one error type of the crate: what was wrong with a call, said so that a
//! user can fix it (the argument, the offending value and, for arrays, where).

use core::fmt;

use crate::kernel::TargetDomain;

/// Why a loss could not be computed. Every variant is detected before any
/// output is written.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum LossError {
    /// Two slices that must have one length do not.
    LengthMismatch {
        /// The argument whose length is wrong (`"target"`, `"out"`, …).
        name: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// Per-row sample weights whose count does not divide the number of elements.
    WeightRows {
        /// Number of loss elements.
        elements: usize,
        /// Number of weights given.
        weights: usize,
    },
    /// A scalar parameter outside its domain.
    InvalidParameter {
        /// The parameter (`"beta"`, `"delta"`, `"q"`, …).
        name: &'static str,
        /// The value given.
        value: f64,
        /// What it must satisfy, e.g. `"beta >= 0"`.
        requirement: &'static str,
    },
    /// A sample weight that is NaN or infinite.
    InvalidWeight {
        /// Flat (C-order) index of the first bad weight.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// `Reduction::None` given where a single number is returned.
    NoneReduction,
    /// A per-element parameter (`pos_weight`) whose period (its length,
    /// repeated over the last axis) does not divide the number of elements.
    Columns {
        /// Number of loss elements.
        elements: usize,
        /// The parameter's period (see [`crate::kernel::Columns`]).
        columns: usize,
    },
    /// A parameter array (`pos_weight`) whose shape does not broadcast to
    /// the input's.
    Broadcast {
        /// The parameter.
        name: &'static str,
        /// Its shape.
        shape: Vec<usize>,
        /// The input's shape.
        input: Vec<usize>,
    },
    /// An input outside the loss's domain (a probability outside [0, 1]).
    InvalidInput {
        /// Flat (C-order) index of the first bad element.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// A target outside the loss's domain (a label outside [0, 1], a
    /// negative count), or NaN.
    InvalidTarget {
        /// Flat (C-order) index of the first bad element.
        index: usize,
        /// Its value.
        value: f64,
        /// The loss's target domain.
        domain: TargetDomain,
    },
    /// A cross-entropy class index outside `0..classes` that is not
    /// `ignore_index`.
    InvalidLabel {
        /// Row (flat index into the targets) of the first bad label.
        index: usize,
        /// The label.
        label: i64,
        /// The number of classes C.
        classes: usize,
    },
    /// A class weight that is NaN or infinite.
    InvalidClassWeight {
        /// Index of the first bad weight.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// Class weights, each finite, whose sum overflows (`±inf`): the
    /// targets' total weight `A` and the weighted mean's denominator would be
    /// infinite.
    ClassWeightOverflow,
    /// `ignore_index` given with probability targets (PyTorch allows only
    /// negative values there, which ignore nothing).
    IgnoreIndexWithProbabilities {
        /// The `ignore_index` given.
        ignore_index: i64,
    },
    /// Cross-entropy input whose length is not a whole number of rows.
    NotWholeRows {
        /// Length of the input.
        len: usize,
        /// The number of classes C (the row length).
        classes: usize,
    },
    /// An array whose shape is not the one the call needs (the `ndarray`
    /// API: a target of another shape than the input, an output of another
    /// shape than the result).
    ShapeMismatch {
        /// The argument whose shape is wrong.
        name: &'static str,
        /// The shape it must have.
        expected: Vec<usize>,
        /// The shape it has.
        got: Vec<usize>,
    },
    /// An array with more axes than the kernels follow (64, NumPy's limit),
    /// after merging those that lie one after another in memory.
    TooManyAxes {
        /// The argument.
        name: &'static str,
        /// Its number of axes.
        ndim: usize,
    },
    /// Cross-entropy rows without any class (C = 0).
    NoClasses {
        /// The number of rows.
        rows: usize,
    },
}

/// Numbers print in their short form (`{:?}`: `1e-300`, `-1.0`, `NaN`), as
/// Python's `repr` does, never as hundreds of digits.
impl fmt::Display for LossError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthMismatch {
                name,
                expected,
                got,
            } => write!(f, "{name} has length {got}, expected {expected}"),
            Self::WeightRows { elements, weights } => write!(
                f,
                "sample_weight has {weights} weights, which neither matches nor divides the {elements} loss elements"
            ),
            Self::InvalidParameter {
                name,
                value,
                requirement,
            } => write!(f, "{name} must satisfy {requirement}, got {value:?}"),
            Self::InvalidWeight { index, value } => write!(
                f,
                "sample_weight must be finite, got {value:?} at index {index}"
            ),
            Self::Columns { elements, columns } => write!(
                f,
                "pos_weight has length {columns}, which does not match the last axis of the {elements} elements"
            ),
            Self::Broadcast { name, shape, input } => write!(
                f,
                "{name} has shape {shape:?}, which does not broadcast to the input's shape {input:?}"
            ),
            Self::InvalidInput { index, value } => write!(
                f,
                "input must hold probabilities in [0, 1], got {value:?} at flat index {index}"
            ),
            Self::InvalidTarget {
                index,
                value,
                domain,
            } => write!(
                f,
                "target must be {}, got {value:?} at flat index {index}",
                domain.describe()
            ),
            Self::NoneReduction => write!(
                f,
                "reduction 'none' gives one value per element: use the *_into form"
            ),
            Self::InvalidLabel {
                index,
                label,
                classes,
            } => write!(
                f,
                "target has label {label} at index {index} but C = {classes}: a label must be in [0, {classes}) or equal ignore_index"
            ),
            Self::InvalidClassWeight { index, value } => write!(
                f,
                "class_weight must be finite, got {value:?} at index {index}"
            ),
            Self::ClassWeightOverflow => write!(
                f,
                "class_weight must have a finite sum, but its weights sum to inf or -inf (overflow)"
            ),
            Self::IgnoreIndexWithProbabilities { ignore_index } => write!(
                f,
                "ignore_index (= {ignore_index}) cannot be used with probability targets; pass ignore_index=None"
            ),
            Self::NotWholeRows { len, classes } => write!(
                f,
                "input has length {len}, not a whole number of rows of C = {classes} classes"
            ),
            Self::ShapeMismatch {
                name,
                expected,
                got,
            } => write!(f, "{name} has shape {got:?}, expected {expected:?}"),
            Self::TooManyAxes { name, ndim } => write!(
                f,
                "{name} has {ndim} axes whose strides do not merge below 64 axes"
            ),
            Self::NoClasses { rows } => write!(
                f,
                "input has C = 0 classes but {rows} rows: cross-entropy needs at least one class"
            ),
        }
    }
}

impl std::error::Error for LossError {}

/// `Ok` when `ok` holds, else the [`LossError::InvalidParameter`] it names.
/// Written as a positive condition so that NaN fails it.
pub(crate) fn require(
    ok: bool,
    name: &'static str,
    value: f64,
    requirement: &'static str,
) -> Result<(), LossError> {
    if ok {
        Ok(())
    } else {
        Err(LossError::InvalidParameter {
            name,
            value,
            requirement,
        })
    }
}
