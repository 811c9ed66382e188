"""Type stubs of the compiled module `fastloss._native` (checked by mypy.stubtest)."""

from typing import Any, Literal, TypedDict, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str
__all__ = [
    "__version__",
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
    "get_num_threads",
    "huber",
    "huber_grad",
    "huber_grad_hess",
    "huber_value_and_grad",
    "info",
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
    "set_num_threads",
    "smooth_l1",
    "smooth_l1_grad",
    "smooth_l1_grad_hess",
    "smooth_l1_value_and_grad",
]

_F32 = NDArray[np.float32]
_Float = NDArray[np.floating[Any]]
_Reduce = Literal["mean", "sum"]

class _Info(TypedDict):
    version: str
    simd: str
    simd_available: list[str]
    threads: int

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def info() -> _Info: ...

# Test hook (tests/test_hostile.py): a forced panic inside a threaded
# reduction over n items, which must surface as RuntimeError.
def _panic_in_kernel(n: int) -> float: ...

# mae
@overload
def mae(
    input: _F32,
    target: _F32,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def mae(
    input: _F32,
    target: _F32,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _F32: ...
@overload
def mae(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def mae(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _Float: ...
@overload
def mae(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
) -> float | _Float: ...
@overload
def mae_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> _F32: ...
@overload
def mae_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> _Float: ...
@overload
def mae_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[float, _F32]: ...
@overload
def mae_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def mae_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float, _Float]: ...
@overload
def mae_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[_Float, _Float]: ...
@overload
def mae_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float | _Float, _Float]: ...
@overload
def mae_grad_hess(
    input: _F32,
    target: _F32,
    *,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def mae_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_Float, _Float]: ...

# mse
@overload
def mse(
    input: _F32,
    target: _F32,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def mse(
    input: _F32,
    target: _F32,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _F32: ...
@overload
def mse(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def mse(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _Float: ...
@overload
def mse(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
) -> float | _Float: ...
@overload
def mse_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> _F32: ...
@overload
def mse_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> _Float: ...
@overload
def mse_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[float, _F32]: ...
@overload
def mse_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def mse_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float, _Float]: ...
@overload
def mse_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[_Float, _Float]: ...
@overload
def mse_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float | _Float, _Float]: ...
@overload
def mse_grad_hess(
    input: _F32,
    target: _F32,
    *,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def mse_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_Float, _Float]: ...

# smooth_l1
@overload
def smooth_l1(
    input: _F32,
    target: _F32,
    *,
    beta: float = 1.0,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def smooth_l1(
    input: _F32,
    target: _F32,
    *,
    beta: float = 1.0,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _F32: ...
@overload
def smooth_l1(
    input: ArrayLike,
    target: ArrayLike,
    *,
    beta: float = 1.0,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def smooth_l1(
    input: ArrayLike,
    target: ArrayLike,
    *,
    beta: float = 1.0,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _Float: ...
@overload
def smooth_l1(
    input: ArrayLike,
    target: ArrayLike,
    *,
    beta: float = 1.0,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
) -> float | _Float: ...
@overload
def smooth_l1_grad(
    input: _F32,
    target: _F32,
    *,
    beta: float = 1.0,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> _F32: ...
@overload
def smooth_l1_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    beta: float = 1.0,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> _Float: ...
@overload
def smooth_l1_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    beta: float = 1.0,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[float, _F32]: ...
@overload
def smooth_l1_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    beta: float = 1.0,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def smooth_l1_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    beta: float = 1.0,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float, _Float]: ...
@overload
def smooth_l1_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    beta: float = 1.0,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[_Float, _Float]: ...
@overload
def smooth_l1_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    beta: float = 1.0,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float | _Float, _Float]: ...
@overload
def smooth_l1_grad_hess(
    input: _F32,
    target: _F32,
    *,
    beta: float = 1.0,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def smooth_l1_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    *,
    beta: float = 1.0,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_Float, _Float]: ...

# huber
@overload
def huber(
    input: _F32,
    target: _F32,
    *,
    delta: float = 1.0,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def huber(
    input: _F32,
    target: _F32,
    *,
    delta: float = 1.0,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _F32: ...
@overload
def huber(
    input: ArrayLike,
    target: ArrayLike,
    *,
    delta: float = 1.0,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def huber(
    input: ArrayLike,
    target: ArrayLike,
    *,
    delta: float = 1.0,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _Float: ...
@overload
def huber(
    input: ArrayLike,
    target: ArrayLike,
    *,
    delta: float = 1.0,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
) -> float | _Float: ...
@overload
def huber_grad(
    input: _F32,
    target: _F32,
    *,
    delta: float = 1.0,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> _F32: ...
@overload
def huber_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    delta: float = 1.0,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> _Float: ...
@overload
def huber_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    delta: float = 1.0,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[float, _F32]: ...
@overload
def huber_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    delta: float = 1.0,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def huber_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    delta: float = 1.0,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float, _Float]: ...
@overload
def huber_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    delta: float = 1.0,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[_Float, _Float]: ...
@overload
def huber_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    delta: float = 1.0,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float | _Float, _Float]: ...
@overload
def huber_grad_hess(
    input: _F32,
    target: _F32,
    *,
    delta: float = 1.0,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def huber_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    *,
    delta: float = 1.0,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_Float, _Float]: ...

# log_cosh
@overload
def log_cosh(
    input: _F32,
    target: _F32,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def log_cosh(
    input: _F32,
    target: _F32,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _F32: ...
@overload
def log_cosh(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def log_cosh(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _Float: ...
@overload
def log_cosh(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
) -> float | _Float: ...
@overload
def log_cosh_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> _F32: ...
@overload
def log_cosh_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> _Float: ...
@overload
def log_cosh_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[float, _F32]: ...
@overload
def log_cosh_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def log_cosh_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float, _Float]: ...
@overload
def log_cosh_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[_Float, _Float]: ...
@overload
def log_cosh_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float | _Float, _Float]: ...
@overload
def log_cosh_grad_hess(
    input: _F32,
    target: _F32,
    *,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def log_cosh_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_Float, _Float]: ...

# pinball
@overload
def pinball(
    input: _F32,
    target: _F32,
    *,
    q: float = 0.5,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def pinball(
    input: _F32,
    target: _F32,
    *,
    q: float = 0.5,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _F32: ...
@overload
def pinball(
    input: ArrayLike,
    target: ArrayLike,
    *,
    q: float = 0.5,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def pinball(
    input: ArrayLike,
    target: ArrayLike,
    *,
    q: float = 0.5,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _Float: ...
@overload
def pinball(
    input: ArrayLike,
    target: ArrayLike,
    *,
    q: float = 0.5,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
) -> float | _Float: ...
@overload
def pinball_grad(
    input: _F32,
    target: _F32,
    *,
    q: float = 0.5,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> _F32: ...
@overload
def pinball_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    q: float = 0.5,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> _Float: ...
@overload
def pinball_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    q: float = 0.5,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[float, _F32]: ...
@overload
def pinball_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    q: float = 0.5,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def pinball_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    q: float = 0.5,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float, _Float]: ...
@overload
def pinball_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    q: float = 0.5,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[_Float, _Float]: ...
@overload
def pinball_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    q: float = 0.5,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float | _Float, _Float]: ...
@overload
def pinball_grad_hess(
    input: _F32,
    target: _F32,
    *,
    q: float = 0.5,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def pinball_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    *,
    q: float = 0.5,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_Float, _Float]: ...

# binary_cross_entropy
@overload
def binary_cross_entropy(
    input: _F32,
    target: _F32,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def binary_cross_entropy(
    input: _F32,
    target: _F32,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _F32: ...
@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _Float: ...
@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
) -> float | _Float: ...
@overload
def binary_cross_entropy_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> _F32: ...
@overload
def binary_cross_entropy_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> _Float: ...
@overload
def binary_cross_entropy_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[float, _F32]: ...
@overload
def binary_cross_entropy_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def binary_cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float, _Float]: ...
@overload
def binary_cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[_Float, _Float]: ...
@overload
def binary_cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float | _Float, _Float]: ...
@overload
def binary_cross_entropy_grad_hess(
    input: _F32,
    target: _F32,
    *,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def binary_cross_entropy_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_Float, _Float]: ...

# binary_cross_entropy_with_logits
@overload
def binary_cross_entropy_with_logits(
    input: _F32,
    target: _F32,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def binary_cross_entropy_with_logits(
    input: _F32,
    target: _F32,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _F32: ...
@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _Float: ...
@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
) -> float | _Float: ...
@overload
def binary_cross_entropy_with_logits_grad(
    input: _F32,
    target: _F32,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> _F32: ...
@overload
def binary_cross_entropy_with_logits_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> _Float: ...
@overload
def binary_cross_entropy_with_logits_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[float, _F32]: ...
@overload
def binary_cross_entropy_with_logits_value_and_grad(
    input: _F32,
    target: _F32,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def binary_cross_entropy_with_logits_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float, _Float]: ...
@overload
def binary_cross_entropy_with_logits_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[_Float, _Float]: ...
@overload
def binary_cross_entropy_with_logits_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float | _Float, _Float]: ...
@overload
def binary_cross_entropy_with_logits_grad_hess(
    input: _F32,
    target: _F32,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def binary_cross_entropy_with_logits_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_Float, _Float]: ...

# cross_entropy: class indices (any integer dtype, the input's shape without
# `axis`) or probabilities (the input's shape); a float32 input with integer
# or float32 targets computes in float32. With from_logits=False the input
# holds probabilities, clamped below at the dtype's smallest normal and
# neither validated nor renormalised.
_F32Target = NDArray[np.integer[Any]] | _F32

@overload
def cross_entropy(
    input: _F32,
    target: _F32Target,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def cross_entropy(
    input: _F32,
    target: _F32Target,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _F32: ...
@overload
def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
) -> float: ...
@overload
def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
) -> _Float: ...
@overload
def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
) -> float | _Float: ...
@overload
def cross_entropy_grad(
    input: _F32,
    target: _F32Target,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> _F32: ...
@overload
def cross_entropy_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> _Float: ...
@overload
def cross_entropy_value_and_grad(
    input: _F32,
    target: _F32Target,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[float, _F32]: ...
@overload
def cross_entropy_value_and_grad(
    input: _F32,
    target: _F32Target,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _F32 | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: _Reduce = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float, _Float]: ...
@overload
def cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: Literal["none"],
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[_Float, _Float]: ...
@overload
def cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: str = "mean",
    sample_weight: ArrayLike | None = None,
    out: _Float | None = None,
) -> tuple[float | _Float, _Float]: ...
@overload
def cross_entropy_grad_hess(
    input: _F32,
    target: _F32Target,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_F32, _F32]: ...
@overload
def cross_entropy_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    reduction: str = "none",
    sample_weight: ArrayLike | None = None,
) -> tuple[_Float, _Float]: ...
