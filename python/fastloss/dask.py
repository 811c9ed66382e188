"""Every fastloss loss over dask arrays: data that outgrows one machine.

The functions of `fastloss` (SPEC §3), with the same names and parameters, on ``dask.array``
inputs chunked along axis 0 (NumPy arrays may be mixed in: they are cut into the same blocks).
Each returns a lazy dask array; ``.compute()`` on a ``dask.distributed`` cluster runs the fastloss
kernel on every block where the block lives.

- ``"mean"`` / ``"sum"``: a 0-d float64 dask array. Each block gives its weighted sum and its
  share of the mean's denominator (Σw; for ``cross_entropy`` Σ s_i·w_{y_i} over rows that are not
  ``ignore_index``), and the pairs are added by a pairwise tree over the block index, so the
  result does not depend on which worker finishes first. It equals the in-memory value to the
  last few bits (rounded to float32 for float32 inputs, as the in-memory value is).
- ``"none"``: the per-element (per-row) losses, block by block.
- ``NAME_grad``, ``NAME_value_and_grad``, ``NAME_grad_hess``: the global denominator is reduced
  first (from the weights and labels alone), then every block is scaled by it as the in-memory
  kernel scales it. There is no ``out=``.

Checks that need no data (shapes, dtypes, parameters) run when the function is called; those
that read the data (weights, labels, probabilities) run in the block's task and name the block.
Dask is an optional dependency (``pip install 'fastloss[dask]'``): ``import fastloss`` does not
import it, ``import fastloss.dask`` does.
"""

from __future__ import annotations

from typing import Union

from dask.array import Array
from numpy.typing import ArrayLike

from fastloss import _dask_graph as _graph
from fastloss._dask_graph import Loss as _Loss

_In = Union[Array, ArrayLike]
"""A dask array, or anything NumPy turns into an array."""

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_grad_hess",
    "binary_cross_entropy_value_and_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_with_logits_grad_hess",
    "binary_cross_entropy_with_logits_value_and_grad",
    "cross_entropy",
    "cross_entropy_grad",
    "cross_entropy_grad_hess",
    "cross_entropy_value_and_grad",
    "huber",
    "huber_grad",
    "huber_grad_hess",
    "huber_value_and_grad",
    "log_cosh",
    "log_cosh_grad",
    "log_cosh_grad_hess",
    "log_cosh_value_and_grad",
    "mae",
    "mae_grad",
    "mae_grad_hess",
    "mae_value_and_grad",
    "mse",
    "mse_grad",
    "mse_grad_hess",
    "mse_value_and_grad",
    "pinball",
    "pinball_grad",
    "pinball_grad_hess",
    "pinball_value_and_grad",
    "smooth_l1",
    "smooth_l1_grad",
    "smooth_l1_grad_hess",
    "smooth_l1_value_and_grad",
]


def mae(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The mean absolute error over dask arrays: a 0-d dask array (`"mean"`, `"sum"`) or the
    per-element losses (`"none"`), as `fastloss.mae`.
    """
    return _graph.value(_Loss("mae", {}), input, target, sample_weight, reduction)


def mae_grad(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The gradient of `mae(...)` with respect to `input`, a dask array of its shape, as
    `fastloss.mae_grad` (no `out=`).
    """
    grad: Array = _graph.grads(
        _Loss("mae", {}), input, target, sample_weight, reduction, hess=False
    )
    return grad


def mae_value_and_grad(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """`(mae(...), mae_grad(...))`, from the same blocks, as `fastloss.mae_value_and_grad` (no
    `out=`).
    """
    return _graph.value_and_grad(_Loss("mae", {}), input, target, sample_weight, reduction)


def mae_grad_hess(
    input: _In,
    target: _In,
    *,
    reduction: str = "none",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """The gradient and diagonal second derivative, scaled by the reduction, as
    `fastloss.mae_grad_hess`.
    """
    gh: tuple[Array, Array] = _graph.grads(
        _Loss("mae", {}), input, target, sample_weight, reduction, hess=True
    )
    return gh


def mse(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The mean squared error over dask arrays: a 0-d dask array (`"mean"`, `"sum"`) or the
    per-element losses (`"none"`), as `fastloss.mse`.
    """
    return _graph.value(_Loss("mse", {}), input, target, sample_weight, reduction)


def mse_grad(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The gradient of `mse(...)` with respect to `input`, a dask array of its shape, as
    `fastloss.mse_grad` (no `out=`).
    """
    grad: Array = _graph.grads(
        _Loss("mse", {}), input, target, sample_weight, reduction, hess=False
    )
    return grad


def mse_value_and_grad(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """`(mse(...), mse_grad(...))`, from the same blocks, as `fastloss.mse_value_and_grad` (no
    `out=`).
    """
    return _graph.value_and_grad(_Loss("mse", {}), input, target, sample_weight, reduction)


def mse_grad_hess(
    input: _In,
    target: _In,
    *,
    reduction: str = "none",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """The gradient and diagonal second derivative, scaled by the reduction, as
    `fastloss.mse_grad_hess`.
    """
    gh: tuple[Array, Array] = _graph.grads(
        _Loss("mse", {}), input, target, sample_weight, reduction, hess=True
    )
    return gh


def smooth_l1(
    input: _In,
    target: _In,
    *,
    beta: float = 1.0,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The Smooth L1 over dask arrays: a 0-d dask array (`"mean"`, `"sum"`) or the per-element
    losses (`"none"`), as `fastloss.smooth_l1`.
    """
    return _graph.value(_Loss("smooth_l1", {"beta": beta}), input, target, sample_weight, reduction)


def smooth_l1_grad(
    input: _In,
    target: _In,
    *,
    beta: float = 1.0,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The gradient of `smooth_l1(...)` with respect to `input`, a dask array of its shape, as
    `fastloss.smooth_l1_grad` (no `out=`).
    """
    grad: Array = _graph.grads(
        _Loss("smooth_l1", {"beta": beta}), input, target, sample_weight, reduction, hess=False
    )
    return grad


def smooth_l1_value_and_grad(
    input: _In,
    target: _In,
    *,
    beta: float = 1.0,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """`(smooth_l1(...), smooth_l1_grad(...))`, from the same blocks, as
    `fastloss.smooth_l1_value_and_grad` (no `out=`).
    """
    return _graph.value_and_grad(
        _Loss("smooth_l1", {"beta": beta}), input, target, sample_weight, reduction
    )


def smooth_l1_grad_hess(
    input: _In,
    target: _In,
    *,
    beta: float = 1.0,
    reduction: str = "none",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """The gradient and diagonal second derivative, scaled by the reduction, as
    `fastloss.smooth_l1_grad_hess`.
    """
    gh: tuple[Array, Array] = _graph.grads(
        _Loss("smooth_l1", {"beta": beta}), input, target, sample_weight, reduction, hess=True
    )
    return gh


def huber(
    input: _In,
    target: _In,
    *,
    delta: float = 1.0,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The Huber loss over dask arrays: a 0-d dask array (`"mean"`, `"sum"`) or the per-element
    losses (`"none"`), as `fastloss.huber`.
    """
    return _graph.value(_Loss("huber", {"delta": delta}), input, target, sample_weight, reduction)


def huber_grad(
    input: _In,
    target: _In,
    *,
    delta: float = 1.0,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The gradient of `huber(...)` with respect to `input`, a dask array of its shape, as
    `fastloss.huber_grad` (no `out=`).
    """
    grad: Array = _graph.grads(
        _Loss("huber", {"delta": delta}), input, target, sample_weight, reduction, hess=False
    )
    return grad


def huber_value_and_grad(
    input: _In,
    target: _In,
    *,
    delta: float = 1.0,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """`(huber(...), huber_grad(...))`, from the same blocks, as
    `fastloss.huber_value_and_grad` (no `out=`).
    """
    return _graph.value_and_grad(
        _Loss("huber", {"delta": delta}), input, target, sample_weight, reduction
    )


def huber_grad_hess(
    input: _In,
    target: _In,
    *,
    delta: float = 1.0,
    reduction: str = "none",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """The gradient and diagonal second derivative, scaled by the reduction, as
    `fastloss.huber_grad_hess`.
    """
    gh: tuple[Array, Array] = _graph.grads(
        _Loss("huber", {"delta": delta}), input, target, sample_weight, reduction, hess=True
    )
    return gh


def log_cosh(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The log-cosh loss over dask arrays: a 0-d dask array (`"mean"`, `"sum"`) or the per-
    element losses (`"none"`), as `fastloss.log_cosh`.
    """
    return _graph.value(_Loss("log_cosh", {}), input, target, sample_weight, reduction)


def log_cosh_grad(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The gradient of `log_cosh(...)` with respect to `input`, a dask array of its shape, as
    `fastloss.log_cosh_grad` (no `out=`).
    """
    grad: Array = _graph.grads(
        _Loss("log_cosh", {}), input, target, sample_weight, reduction, hess=False
    )
    return grad


def log_cosh_value_and_grad(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """`(log_cosh(...), log_cosh_grad(...))`, from the same blocks, as
    `fastloss.log_cosh_value_and_grad` (no `out=`).
    """
    return _graph.value_and_grad(_Loss("log_cosh", {}), input, target, sample_weight, reduction)


def log_cosh_grad_hess(
    input: _In,
    target: _In,
    *,
    reduction: str = "none",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """The gradient and diagonal second derivative, scaled by the reduction, as
    `fastloss.log_cosh_grad_hess`.
    """
    gh: tuple[Array, Array] = _graph.grads(
        _Loss("log_cosh", {}), input, target, sample_weight, reduction, hess=True
    )
    return gh


def pinball(
    input: _In,
    target: _In,
    *,
    q: float = 0.5,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The pinball (quantile) loss over dask arrays: a 0-d dask array (`"mean"`, `"sum"`) or
    the per-element losses (`"none"`), as `fastloss.pinball`.
    """
    return _graph.value(_Loss("pinball", {"q": q}), input, target, sample_weight, reduction)


def pinball_grad(
    input: _In,
    target: _In,
    *,
    q: float = 0.5,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The gradient of `pinball(...)` with respect to `input`, a dask array of its shape, as
    `fastloss.pinball_grad` (no `out=`).
    """
    grad: Array = _graph.grads(
        _Loss("pinball", {"q": q}), input, target, sample_weight, reduction, hess=False
    )
    return grad


def pinball_value_and_grad(
    input: _In,
    target: _In,
    *,
    q: float = 0.5,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """`(pinball(...), pinball_grad(...))`, from the same blocks, as
    `fastloss.pinball_value_and_grad` (no `out=`).
    """
    return _graph.value_and_grad(
        _Loss("pinball", {"q": q}), input, target, sample_weight, reduction
    )


def pinball_grad_hess(
    input: _In,
    target: _In,
    *,
    q: float = 0.5,
    reduction: str = "none",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """The gradient and diagonal second derivative, scaled by the reduction, as
    `fastloss.pinball_grad_hess`.
    """
    gh: tuple[Array, Array] = _graph.grads(
        _Loss("pinball", {"q": q}), input, target, sample_weight, reduction, hess=True
    )
    return gh


def binary_cross_entropy(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The binary cross-entropy on probabilities over dask arrays: a 0-d dask array (`"mean"`,
    `"sum"`) or the per-element losses (`"none"`), as `fastloss.binary_cross_entropy`.
    """
    return _graph.value(_Loss("binary_cross_entropy", {}), input, target, sample_weight, reduction)


def binary_cross_entropy_grad(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The gradient of `binary_cross_entropy(...)` with respect to `input`, a dask array of its
    shape, as `fastloss.binary_cross_entropy_grad` (no `out=`).
    """
    grad: Array = _graph.grads(
        _Loss("binary_cross_entropy", {}), input, target, sample_weight, reduction, hess=False
    )
    return grad


def binary_cross_entropy_value_and_grad(
    input: _In,
    target: _In,
    *,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """`(binary_cross_entropy(...), binary_cross_entropy_grad(...))`, from the same blocks, as
    `fastloss.binary_cross_entropy_value_and_grad` (no `out=`).
    """
    return _graph.value_and_grad(
        _Loss("binary_cross_entropy", {}), input, target, sample_weight, reduction
    )


def binary_cross_entropy_grad_hess(
    input: _In,
    target: _In,
    *,
    reduction: str = "none",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """The gradient and diagonal second derivative, scaled by the reduction, as
    `fastloss.binary_cross_entropy_grad_hess`.
    """
    gh: tuple[Array, Array] = _graph.grads(
        _Loss("binary_cross_entropy", {}), input, target, sample_weight, reduction, hess=True
    )
    return gh


def binary_cross_entropy_with_logits(
    input: _In,
    target: _In,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The binary cross-entropy on logits over dask arrays: a 0-d dask array (`"mean"`,
    `"sum"`) or the per-element losses (`"none"`), as
    `fastloss.binary_cross_entropy_with_logits`.
    """
    return _graph.value(
        _Loss("binary_cross_entropy_with_logits", {"pos_weight": pos_weight}),
        input,
        target,
        sample_weight,
        reduction,
    )


def binary_cross_entropy_with_logits_grad(
    input: _In,
    target: _In,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The gradient of `binary_cross_entropy_with_logits(...)` with respect to `input`, a dask
    array of its shape, as `fastloss.binary_cross_entropy_with_logits_grad` (no `out=`).
    """
    grad: Array = _graph.grads(
        _Loss("binary_cross_entropy_with_logits", {"pos_weight": pos_weight}),
        input,
        target,
        sample_weight,
        reduction,
        hess=False,
    )
    return grad


def binary_cross_entropy_with_logits_value_and_grad(
    input: _In,
    target: _In,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """`(binary_cross_entropy_with_logits(...), binary_cross_entropy_with_logits_grad(...))`,
    from the same blocks, as `fastloss.binary_cross_entropy_with_logits_value_and_grad` (no
    `out=`).
    """
    return _graph.value_and_grad(
        _Loss("binary_cross_entropy_with_logits", {"pos_weight": pos_weight}),
        input,
        target,
        sample_weight,
        reduction,
    )


def binary_cross_entropy_with_logits_grad_hess(
    input: _In,
    target: _In,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: str = "none",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """The gradient and diagonal second derivative, scaled by the reduction, as
    `fastloss.binary_cross_entropy_with_logits_grad_hess`.
    """
    gh: tuple[Array, Array] = _graph.grads(
        _Loss("binary_cross_entropy_with_logits", {"pos_weight": pos_weight}),
        input,
        target,
        sample_weight,
        reduction,
        hess=True,
    )
    return gh


def cross_entropy(
    input: _In,
    target: _In,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The softmax cross-entropy over dask arrays: a 0-d dask array (`"mean"`, `"sum"`) or the
    per-element (per-row) losses (`"none"`), as `fastloss.cross_entropy`.
    """
    return _graph.value(
        _Loss(
            "cross_entropy",
            {
                "axis": axis,
                "class_weight": class_weight,
                "ignore_index": ignore_index,
                "label_smoothing": label_smoothing,
                "from_logits": from_logits,
            },
        ),
        input,
        target,
        sample_weight,
        reduction,
    )


def cross_entropy_grad(
    input: _In,
    target: _In,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> Array:
    """The gradient of `cross_entropy(...)` with respect to `input`, a dask array of its shape,
    as `fastloss.cross_entropy_grad` (no `out=`).
    """
    grad: Array = _graph.grads(
        _Loss(
            "cross_entropy",
            {
                "axis": axis,
                "class_weight": class_weight,
                "ignore_index": ignore_index,
                "label_smoothing": label_smoothing,
                "from_logits": from_logits,
            },
        ),
        input,
        target,
        sample_weight,
        reduction,
        hess=False,
    )
    return grad


def cross_entropy_value_and_grad(
    input: _In,
    target: _In,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: str = "mean",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """`(cross_entropy(...), cross_entropy_grad(...))`, from the same blocks, as
    `fastloss.cross_entropy_value_and_grad` (no `out=`).
    """
    return _graph.value_and_grad(
        _Loss(
            "cross_entropy",
            {
                "axis": axis,
                "class_weight": class_weight,
                "ignore_index": ignore_index,
                "label_smoothing": label_smoothing,
                "from_logits": from_logits,
            },
        ),
        input,
        target,
        sample_weight,
        reduction,
    )


def cross_entropy_grad_hess(
    input: _In,
    target: _In,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: str = "none",
    sample_weight: _In | None = None,
) -> tuple[Array, Array]:
    """The gradient and diagonal second derivative, scaled by the reduction, as
    `fastloss.cross_entropy_grad_hess`.
    """
    gh: tuple[Array, Array] = _graph.grads(
        _Loss(
            "cross_entropy",
            {
                "axis": axis,
                "class_weight": class_weight,
                "ignore_index": ignore_index,
                "label_smoothing": label_smoothing,
                "from_logits": from_logits,
            },
        ),
        input,
        target,
        sample_weight,
        reduction,
        hess=True,
    )
    return gh
