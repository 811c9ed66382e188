"""Custom objectives for XGBoost and LightGBM, computed by fastloss's ``*_grad_hess`` kernels.

``xgboost_objective(name, **params)`` returns ``obj(preds, dtrain) -> (grad, hess)`` for
``xgboost.train(..., obj=obj)``; ``lightgbm_objective(name, **params)`` returns
``fobj(preds, train_data) -> (grad, hess)`` for ``params["objective"] = fobj`` in
``lightgbm.train``. The same callables serve the scikit-learn wrappers
(``XGBRegressor(objective=obj)``, ``LGBMClassifier(objective=fobj)`` ...), which call them
as ``(y_true, y_pred)`` or ``(y_true, y_pred, sample_weight)``. Neither library is imported
here: the callables only use ``get_label()`` and ``get_weight()`` of the DMatrix / Dataset
they are given, or the arrays.

Both libraries take per-sample derivatives of the *summed* loss, with the sample weights
multiplied in (they leave weighting to a custom objective): that is ``NAME_grad_hess`` with
``reduction="none"`` and ``sample_weight`` = the dataset's weights.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from fastloss import _native
from fastloss._names import BOOSTING, FLAT_HESSIAN, ROWS

# For the annotations only, which are never evaluated (``from __future__ import
# annotations``): ``import fastloss`` does not pay for numpy.typing and a Protocol class.
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from numpy.typing import NDArray

    GradHess = tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]]]
    Objective = Callable[..., GradHess]

    class _GradHess(Protocol):
        def __call__(
            self, input: NDArray[Any], target: NDArray[Any], **kwargs: Any
        ) -> GradHess: ...


__all__ = ["GRADIENT_BOOSTING_LOSSES", "lightgbm_objective", "xgboost_objective"]


# Losses whose second derivative is zero, or vanishes away from d = 0 (FLAT_HESSIAN): a
# Newton step -G/H is unbounded there, so their hessian is floored at 1 by default
# (LightGBM's choice for L1, Huber and quantile regression, scikit-learn's for its non-smooth
# losses). The others keep their exact hessian, floored at XGBoost's 1e-16 so that a
# saturated leaf cannot divide by 0.
GRADIENT_BOOSTING_LOSSES: tuple[str, ...] = BOOSTING

# Set by the objective itself, from the dataset: a caller passing them is a mistake.
_RESERVED = ("reduction", "sample_weight", "out", "axis", "from_logits")

# What the two calling conventions name the raw scores and the labels, for the errors.
_NATIVE = ("preds", "label")
_SKLEARN = ("y_pred", "y_true")


def _grad_hess_of(name: str) -> _GradHess:
    if not isinstance(name, str) or name not in GRADIENT_BOOSTING_LOSSES:
        raise ValueError(
            f"name: unknown loss {name!r}; expected one of {', '.join(GRADIENT_BOOSTING_LOSSES)}"
        )
    fn: _GradHess = getattr(_native, f"{name}_grad_hess")
    return fn


def _check_min_hessian(name: str, min_hessian: float | None) -> float:
    if min_hessian is None:
        return 1.0 if name in FLAT_HESSIAN else 1e-16
    if isinstance(min_hessian, bool) or not isinstance(min_hessian, (int, float)):
        raise TypeError(f"min_hessian: expected a float, got {type(min_hessian).__name__}")
    if not (math.isfinite(min_hessian) and min_hessian >= 0.0):
        raise ValueError(f"min_hessian: must be finite and >= 0, got {min_hessian!r}")
    return float(min_hessian)


def _array_lengths(params: dict[str, Any], unit: str) -> dict[str, int]:
    """The length of each parameter given as an array (class_weight, pos_weight): one value
    per class or output, so 1-D."""
    lengths: dict[str, int] = {}
    for key, value in params.items():
        try:
            shape = np.shape(value)
        except ValueError:  # ragged: the kernel refuses it, when probed
            continue
        if len(shape) > 1:
            raise ValueError(
                f"{key}: expected a 1-D array, one value per {unit}, got shape {shape}"
            )
        if len(shape) == 1:
            lengths[key] = shape[0]
    return lengths


def _make_objective(
    name: str, min_hessian: float | None, params: dict[str, Any], library: str
) -> Objective:
    grad_hess = _grad_hess_of(name)
    floor = _check_min_hessian(name, min_hessian)
    for key in _RESERVED:
        if key in params:
            raise TypeError(
                f"{library}_objective: {key}={params[key]!r} is not a parameter here: the "
                "objective sets it from the dataset (raw scores, per-sample weights)"
            )
    multiclass = name in ROWS
    # The kernel sees the raw scores as rows of K columns (classes, or outputs of a
    # multi-output model; 1 for one output), so that an array parameter has one value per
    # column: its length is checked against K in the first round, when K is known.
    unit = "class" if multiclass else "output"
    lengths = _array_lengths(params, unit)
    # Everything else (unknown names, delta <= 0, q outside (0, 1), the values of the array
    # parameters ...) fails now, with the kernel's own message, rather than inside the first
    # boosting round: the probe has as many columns as the arrays have values.
    columns = next(iter(lengths.values()), 2 if multiclass else 1)
    rows = 1 if columns else 0
    if multiclass:
        grad_hess(np.zeros((rows, columns)), np.zeros(rows, dtype=np.int64), **params)
    else:
        probe = np.full((rows, columns), 0.5)
        grad_hess(probe, probe, **params)

    def objective(
        preds_or_y_true: Any, dataset_or_y_pred: Any, sample_weight: Any = None
    ) -> GradHess:
        # Two calling conventions, told apart by the second argument: the native APIs pass
        # (raw scores, DMatrix / Dataset); the scikit-learn wrappers pass (labels, raw scores)
        # and the weights given to fit. Three parameters, the third named sample_weight: the
        # XGBoost wrapper passes the weights only to an objective with a parameter of that
        # name, the LightGBM wrapper passes (y_true, y_pred, weight) to one with three.
        if hasattr(dataset_or_y_pred, "get_label"):
            if sample_weight is not None:
                raise TypeError(
                    f"sample_weight: the native form ({library}_objective(...)(preds, "
                    "dataset)) takes the weights of the dataset; give them to the dataset"
                )
            dataset = dataset_or_y_pred
            return derivatives(preds_or_y_true, dataset.get_label(), dataset.get_weight(), _NATIVE)
        return derivatives(dataset_or_y_pred, preds_or_y_true, sample_weight, _SKLEARN)

    def derivatives(preds: Any, labels: Any, weights: Any, names: tuple[str, str]) -> GradHess:
        scores = np.asarray(preds)
        label = np.asarray(labels)
        weight = None if weights is None or np.size(weights) == 0 else np.asarray(weights)
        pred_name, label_name = names
        if multiclass:
            target = _class_indices(label, scores, library, pred_name, label_name)
            table = scores
        else:
            if label.size != scores.size:
                raise ValueError(
                    f"{pred_name}: shape {scores.shape} does not match the {label.size} "
                    f"labels; for several classes use {library}_objective('cross_entropy')"
                )
            table = scores.reshape(-1, scores.shape[-1] if scores.ndim == 2 else 1)
            target = label.reshape(table.shape)
        k = table.shape[1]
        for key, length in lengths.items():
            if length != k:
                hint = f" (num_class in the {library} parameters)" if multiclass else ""
                raise ValueError(
                    f"{key}: has length {length}, but the raw scores have K = {k} "
                    f"{'classes' if multiclass else 'outputs'}{hint}: one value per {unit}"
                )
        grad, hess = grad_hess(table, target, reduction="none", sample_weight=weight, **params)
        grad, hess = grad.reshape(scores.shape), hess.reshape(scores.shape)
        if floor > 0.0:
            # The kernel returns w·h; the floor goes on h: w·max(h, floor), which is
            # max(w·h, w·floor) for w >= 0 and min(w·h, w·floor) for w < 0 (a negative weight
            # keeps its sign, as in the libraries' built-in objectives), rounded once either way.
            if weight is None:
                hess = np.maximum(hess, np.asarray(floor, dtype=hess.dtype))
            else:
                w = weight.reshape(-1, *[1] * (hess.ndim - 1))
                low = np.asarray(floor * w, dtype=hess.dtype)
                hess = np.where(w < 0, np.minimum(hess, low), np.maximum(hess, low))
        return grad, hess

    objective.__name__ = f"fastloss_{name}"
    objective.__qualname__ = objective.__name__
    objective.__doc__ = (
        f"{library} custom objective: fastloss.{name}_grad_hess, {params or ''}; called as "
        "(preds, dataset) by the native API, (y_true, y_pred[, sample_weight]) by the "
        "scikit-learn wrapper"
    )
    return objective


def _class_indices(
    label: NDArray[Any], scores: NDArray[Any], library: str, pred_name: str, label_name: str
) -> NDArray[np.int64]:
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(
            f"{pred_name}: cross_entropy needs raw scores of shape (n, K) with K >= 2, got "
            f"{scores.shape}; set num_class in the {library} parameters"
        )
    if label.shape != (scores.shape[0],):
        raise ValueError(
            f"{label_name}: expected {scores.shape[0]} class indices, got shape {label.shape}"
        )
    index = label.astype(np.int64)
    bad = np.flatnonzero(index != label)
    if bad.size:
        raise ValueError(
            f"{label_name}: class indices must be integers, got {label[bad[0]].item()!r} at "
            f"index {bad[0]}"
        )
    return index


def xgboost_objective(name: str, *, min_hessian: float | None = None, **params: Any) -> Objective:
    """An XGBoost custom objective ``obj(preds, dtrain) -> (grad, hess)`` for loss ``name``.

    Use it as ``xgboost.train(params, dtrain, obj=xgboost_objective("huber", delta=1.0))``.
    ``name`` is any fastloss loss (``mae``, ``mse``, ``smooth_l1``, ``huber``, ``log_cosh``,
    ``pinball``, ``binary_cross_entropy``, ``binary_cross_entropy_with_logits``,
    ``cross_entropy``); ``params`` are its parameters (``delta=``, ``q=``, ``pos_weight=``,
    ``class_weight=``, ``label_smoothing=`` ...), checked now. An array parameter has one
    value per column of the raw scores (``class_weight`` one per class, ``pos_weight`` one
    per output: ``[w]`` for a one-output model); its length is checked against the K of the
    raw scores in the first round, which raises ``ValueError`` naming it.

    - ``preds`` are raw scores: ``(n,)`` for one output, ``(n, K)`` for ``cross_entropy``
      (set ``num_class=K``; labels are class indices 0..K-1). ``grad`` and ``hess`` have the
      shape of ``preds``.
    - The DMatrix's weights (``dtrain.get_weight()``) multiply both, as in XGBoost's
      built-in objectives; a negative weight (LightGBM takes them) too.
    - ``hess`` is the exact second derivative, floored at ``min_hessian``, times the weight:
      w·max(h, min_hessian).
      The default floor is 1.0 for ``mae``, ``pinball``, ``huber``, ``smooth_l1`` and
      ``log_cosh``, whose second derivative is zero or vanishes away from d = 0 (LightGBM
      uses 1 for L1, Huber and quantile); 1e-16 otherwise.
    - Scales are those of fastloss's formulas: ``mse`` gives 2d and 2, twice
      ``reg:squarederror``'s (same trees with ``reg_lambda=0``, ``min_child_weight=0``);
      ``cross_entropy``'s hessian is the exact p(1-p), half of ``multi:softprob``'s 2p(1-p)
      (same trees at half the learning rate).
    - ``binary_cross_entropy`` reads the raw scores as probabilities and raises
      ``ValueError`` if one leaves [0, 1]; ``binary_cross_entropy_with_logits`` is the
      usual choice (it matches ``binary:logistic``).

    The same callable is a scikit-learn wrapper's objective:
    ``XGBRegressor(objective=xgboost_objective("huber"))``, ``XGBClassifier(objective=
    xgboost_objective("cross_entropy"))``. The wrapper calls it as ``(y_true, y_pred)``, or
    ``(y_true, y_pred, sample_weight=w)`` with the weights given to ``fit`` (XGBoost >= 2.1;
    older wrappers leave the weights out). ``predict(X, output_margin=True)`` gives the raw
    scores. The regressor reads ``base_score`` as a raw score, as ``xgboost.train`` does. The
    classifier runs ``binary:logistic`` (``multi:softprob`` for K > 2 classes) beside the
    objective: ``predict_proba`` is the sigmoid (softmax) of the raw scores, and with two
    classes ``base_score`` is a probability (0.5 is a margin of 0). So the classifier takes
    the losses on logits (``binary_cross_entropy_with_logits``, ``cross_entropy``);
    ``binary_cross_entropy``, whose raw scores are the probabilities, goes in the regressor.
    """
    return _make_objective(name, min_hessian, params, "xgboost")


def lightgbm_objective(name: str, *, min_hessian: float | None = None, **params: Any) -> Objective:
    """A LightGBM (>= 4) custom objective ``fobj(preds, train_data) -> (grad, hess)``.

    Use it as ``lightgbm.train({"objective": lightgbm_objective("huber", delta=1.0), ...},
    train_set)``; predictions are raw scores. Everything else is as in
    :func:`xgboost_objective`: the same losses and parameters, ``(n, K)`` scores for
    ``cross_entropy`` (set ``num_class=K``), the Dataset's weights applied, the same
    ``min_hessian`` floor. With the default floor, ``huber`` gives LightGBM's built-in
    ``objective="huber"`` exactly (gradient clamp(d, -δ, δ), hessian 1).

    The same callable is a scikit-learn wrapper's objective: ``LGBMRegressor(objective=
    lightgbm_objective("huber"))``, ``LGBMClassifier(objective=lightgbm_objective(
    "cross_entropy"))``, called as ``(y_true, y_pred, weight)`` with the weights given to
    ``fit``. With a custom objective, LightGBM's wrappers predict raw scores:
    ``predict(X, raw_score=True)`` (the classifier's ``predict`` and ``predict_proba`` return
    them too, with a warning).
    """
    return _make_objective(name, min_hessian, params, "lightgbm")
