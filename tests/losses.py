"""Every loss as the concern tests see it, taken from the registry.

The concern tests (arguments and errors, ``out=``, layouts and dtypes, threads, hostile
input, leaks, Dask, properties) run over ``LOSSES`` and build what they need from a loss's
registry row alone:

* valid inputs from its family and the domains of its input and target: real numbers are
  normals, probabilities lie in [0, 1], class indices lie in [0, C) with the classes along
  the last axis of a rows loss's input;
* parameter values from each parameter's ``valid`` and ``invalid`` samples and its default;
  an array parameter (``ArrayLike``) holds one positive value per element of the input's
  last axis (the columns of ``pos_weight``, the classes of ``class_weight`` on the default
  class axis);
* its four functions from ``FORMS``.

A loss added to the registry is covered by every concern with no edit to them. The shapes
here are those of the per-element (per-row) loss, which the sample weights share: a rows
loss's input has one more axis, its classes, last.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from typing import Any, cast

import fastloss
import numpy as np
from fastloss._registry import BY_NAME, FORMS, LOSSES, Loss, Param
from reference import Array, DType, canonical_nan, tie_positions
from reference import make_weight as weights

__all__ = [
    "BY_NAME",
    "FORMS",
    "LOSSES",
    "Array",
    "DType",
    "Loss",
    "Param",
    "canonical_nan",
    "tie_positions",
    "weights",
]

NAMES: tuple[str, ...] = tuple(loss.name for loss in LOSSES)
FUNCTIONS: tuple[str, ...] = tuple(f for loss in LOSSES for f in loss.functions())
#: The forms that take ``out=`` (the gradient is written there).
OUT_FORMS: tuple[str, ...] = ("_grad", "_value_and_grad")
OUT_FUNCTIONS: tuple[str, ...] = tuple(loss.name + form for loss in LOSSES for form in OUT_FORMS)
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")
FLOATS: tuple[DType, ...] = (np.float32, np.float64)
FLOAT_IDS = ["f32", "f64"]
#: Classes along the class axis of a rows loss's generated input.
CLASSES = 5
#: Every keyword parameter name of any loss.
PARAM_NAMES: frozenset[str] = frozenset(p.name for loss in LOSSES for p in loss.params)


def function(name: str) -> Callable[..., Any]:
    """A function of the package by name (``"mse_grad"``...)."""
    return cast("Callable[..., Any]", getattr(fastloss, name))


def loss_of(name: str) -> tuple[Loss, str]:
    """The loss and the form of a function name: ``"huber_grad"`` → (huber, ``"_grad"``)."""
    found = [(loss, name[len(loss.name) :]) for loss in LOSSES if name.startswith(loss.name)]
    found = [(loss, form) for loss, form in found if form in FORMS]
    assert len(found) == 1, f"{name!r} is not one function of one loss"
    return found[0]


def call(loss: Loss, form: str, x: Any, t: Any, **kwargs: Any) -> Any:
    """``fastloss.<loss><form>(x, t, **kwargs)``."""
    return function(loss.name + form)(x, t, **kwargs)


def ids(losses: tuple[Loss, ...] | list[Loss]) -> list[str]:
    return [loss.name for loss in losses]


# ------------------------------------------------------------- parameters --


def scalar_params(loss: Loss) -> tuple[Param, ...]:
    """The parameters the registry gives sample values for."""
    return tuple(p for p in loss.params if p.valid or p.invalid)


def array_params(loss: Loss) -> tuple[Param, ...]:
    """The parameters that take an array."""
    return tuple(p for p in loss.params if p.annotation.startswith("ArrayLike"))


def sample_kwargs(loss: Loss) -> dict[str, Any]:
    """Each sampled parameter at the valid value nearest its default that is not the default
    (the first such value on a tie): a call that is not the default one."""
    kwargs: dict[str, Any] = {}
    for p in scalar_params(loss):
        others = [v for v in p.valid if v != p.default and v is not None]
        if others and isinstance(p.default, (int, float)):
            default = float(p.default)
            kwargs[p.name] = min(others, key=lambda v: abs(float(v) - default))
    return kwargs


def param_variants(loss: Loss) -> list[dict[str, Any]]:
    """The defaults, then each sampled parameter at each of its valid values in turn."""
    variants: list[dict[str, Any]] = [{}]
    for p in scalar_params(loss):
        variants += [{p.name: v} for v in p.valid if v != p.default]
    return variants


def invalid_kwargs(loss: Loss) -> list[tuple[str, Any]]:
    """(parameter, value) for every value outside a parameter's domain."""
    return [(p.name, v) for p in scalar_params(loss) for v in p.invalid]


def array_kwargs(loss: Loss, x: Any, seed: int = 0, dtype: Any = np.float64) -> dict[str, Any]:
    """Each array parameter as seeded values in [0.5, 4), one per element of the input's
    last axis (none for a 0-d input)."""
    shape = np.shape(x)
    if not shape:
        return {}
    rng = np.random.default_rng(seed + 77)
    return {p.name: rng.uniform(0.5, 4.0, shape[-1]).astype(dtype) for p in array_params(loss)}


# ------------------------------------------------------------------ shapes --


def input_shape(loss: Loss, shape: tuple[int, ...], classes: int = CLASSES) -> tuple[int, ...]:
    """The input's shape for a per-element (per-row) loss of ``shape``."""
    return (*shape, classes) if loss.family == "rows" else shape


def loss_shape(loss: Loss, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The per-element (per-row) loss's shape for an input of ``input_shape`` (the class
    axis last)."""
    return input_shape[:-1] if loss.family == "rows" else input_shape


def about(loss: Loss, n: int, *rest: int) -> tuple[int, ...]:
    """A loss shape (n, *rest) for an input of about n·Π rest elements: a rows loss has
    n // CLASSES rows."""
    return (max(n // CLASSES, 1) if loss.family == "rows" else n, *rest)


# -------------------------------------------------------------------- data --


# Special values placed at the tie positions, by domain: the edges of each domain, and
# with ``specials`` the infinities and NaN where the domain takes them.
_EDGES: dict[str, list[float]] = {
    "real": [0.0, -0.0, 1.0, -1.0, 0.5, 50.0, -800.0, 1e-30],
    "probability": [0.0, 1.0, -0.0, 0.5, 0.25, 1e-30, 1.0 - 2.0**-24, 1e-8, 1e-45],
    "nonnegative": [0.0, -0.0, 1.0, 3.0, 1e-30, 1e-45, 1e30, 0.5],
    "positive": [1.0, 3.0, 1e-30, 1e-45, 1e30, 0.5, 2.0**-20],
}
_SPECIALS: dict[str, list[float]] = {
    "real": [math.inf, -math.inf, math.nan, 0.0, 3.0, -math.inf, math.inf, 2.0],
    "probability": [],
    "nonnegative": [],
    "positive": [],
}


def _values(domain: str, size: int, rng: np.random.Generator, scale: float) -> Array:
    if domain == "probability":
        p = rng.random(size)
        near = rng.random(size) < 0.2
        tiny = 10.0 ** rng.uniform(-12.0, -1.0, size)
        return np.where(near, np.where(rng.random(size) < 0.5, tiny, 1.0 - tiny), p)
    if domain in ("nonnegative", "positive"):
        # Counts (zeros among them) and positive amounts spread over decades.
        counts = rng.poisson(3.0, size).astype(np.float64)
        amounts = 10.0 ** rng.uniform(-3.0, 3.0, size)
        if domain == "positive":
            counts = np.maximum(counts, 1.0)
        return np.where(rng.random(size) < 0.5, counts, amounts)
    return scale * rng.standard_normal(size)


def inputs(
    loss: Loss,
    shape: tuple[int, ...],
    dtype: Any,
    seed: int = 0,
    *,
    specials: bool = False,
    classes: int = CLASSES,
    probabilities: bool = False,
) -> tuple[Array, Array]:
    """Seeded valid (input, target) for a per-element (per-row) loss of ``shape``, in
    ``dtype`` (class indices stay int64). Elementwise: the domains' edges at positions over
    the SIMD body and tail, exact ties input = target where both are real, and with
    ``specials`` ±inf and NaN where a domain is the reals. Rows: logits along the last axis,
    with ``specials`` -inf, +inf and NaN logits in some rows; class indices, or with
    ``probabilities`` rows of probabilities of the input's shape (a class target may be
    given either way)."""
    rng = np.random.default_rng(seed)
    size = math.prod(shape)
    if loss.family == "rows":
        xs = input_shape(loss, shape, classes)
        x = 3.0 * rng.standard_normal(xs)
        flat = x.reshape(-1, classes) if classes else x.reshape(size, 0)
        if specials and classes > 1:
            marks = [math.inf, -math.inf, math.nan]
            for k, i in enumerate(tie_positions(size)):
                flat[i, k % classes] = marks[k % 3] if k % 4 == 3 else -math.inf
        if probabilities or loss.target != "classes":
            p = rng.uniform(0.0, 1.0, xs)
            p[p < 0.15] = 0.0
            p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-300)
            return x.astype(dtype), p.astype(dtype)
        return x.astype(dtype), rng.integers(0, max(classes, 1), shape, dtype=np.int64)
    x = _values(loss.input, size, rng, 2.0)
    t = _values(loss.target, size, rng, 1.0)
    xe = _EDGES[loss.input] + (_SPECIALS[loss.input] if specials else [])
    if loss.target in ("nonnegative", "positive"):
        # η is a log: at ±800 every exponential of it is 0 or inf, and 0·inf is NaN.
        xe = [30.0 if v == 50.0 else -30.0 if v == -800.0 else v for v in xe]
    te = _EDGES[loss.target] + (_SPECIALS[loss.target] if specials else [])
    both_real = loss.input == "real" and loss.target == "real"
    for k, i in enumerate(tie_positions(size)):
        if both_real and k % 5 == 4:
            t[i] = x[i]
            continue
        x[i], t[i] = xe[k % len(xe)], te[(k // 2) % len(te)]
    with np.errstate(all="ignore"):
        return x.reshape(shape).astype(dtype), t.reshape(shape).astype(dtype)


def cast_to(a: Any, dtype: Any) -> Array:
    """``a`` in ``dtype``; booleans and integers of a [0, 1] domain as 0 and 1."""
    arr = np.asarray(a)
    kind = np.dtype(dtype).kind
    if kind == "b":
        return arr > 0.5
    if kind in "iu" and arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(np.round(arr)).astype(dtype)
    return arr.astype(dtype)


# ----------------------------------------------------------------- results --


def every_result(
    loss: Loss,
    x: Any,
    t: Any,
    *,
    reductions: tuple[str, ...] = REDUCTIONS,
    **kwargs: Any,
) -> dict[str, Any]:
    """Every function of ``loss`` on (x, t), each reduction, keyed by form and reduction."""
    return {
        f"{loss.name}{form} {red}": call(loss, form, x, t, reduction=red, **kwargs)
        for form in FORMS
        for red in reductions
    }


def outcome(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The result, or the exception (anything but ValueError/TypeError is returned too,
    and judged by the caller)."""
    try:
        return func(*args, **kwargs)
    except BaseException as e:  # PanicException is a BaseException
        if isinstance(e, KeyboardInterrupt):
            raise
        return e


def bits(v: Any) -> Any:
    """A comparable image of a result: exception type, float bits, array bytes."""
    if isinstance(v, BaseException):
        return ("raises", type(v).__name__)
    if isinstance(v, tuple):
        return tuple(bits(x) for x in v)
    if isinstance(v, float):
        return ("float", "nan" if math.isnan(v) else v.hex())
    if isinstance(v, np.ndarray):
        data = canonical_nan(v) if v.dtype.kind == "f" else np.array(v, copy=True)
        return ("array", str(v.dtype), v.shape, data.tobytes())
    return ("other", type(v).__name__)


def digest(a: Any) -> str:
    """A checksum of an array's bits (NaNs made canonical)."""
    return hashlib.sha256(canonical_nan(np.asarray(a)).tobytes()).hexdigest()[:24]


def hexed(v: Any) -> str:
    """A reduced value's bits."""
    assert type(v) is float, type(v)
    return "nan" if v != v else v.hex()


# ---------------------------------------------------------------- messages --


def shape_pattern(shape: tuple[int, ...] | list[int]) -> str:
    """A regex for a shape as Python ``(3, 1)`` or Rust/list ``[3, 1]`` prints it."""
    inner = r"\s*,\s*".join(str(s) for s in shape)
    return r"[\(\[]\s*" + inner + r"\s*,?\s*[\)\]]"


def value_pattern(v: float) -> str:
    """A regex for a number as Python or Rust prints it (``0.0`` or ``0``)."""
    if math.isnan(v):
        return r"(?i:nan)"
    if math.isinf(v):
        return r"-?(?i:inf)" if v > 0 else r"-(?i:inf)"
    if v == int(v):
        return rf"(?<![\d.]){int(v)}(\.0*)?(?![\d.])"
    return rf"(?<![\d.]){re.escape(repr(v))}(?!\d)"


def numbers_in(text: str) -> list[float]:
    """Every number in a message, however printed (1.2, 1e-300, 0.000…5, NaN, inf)."""
    found = re.findall(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|(?i:nan|inf(?:inity)?))", text)
    out: list[float] = []
    for s in found:
        try:
            out.append(float(s))
        except ValueError:
            pass
    return out


def names_value(text: str, value: float, dtype: Any = np.float64) -> bool:
    """Whether the message holds ``value`` (as the dtype holds it; float32 values may be
    printed widened or shortest)."""
    with np.errstate(over="ignore"):
        held = float(np.asarray(value).astype(dtype))
    for v in numbers_in(text):
        if math.isnan(held) and math.isnan(v):
            return True
        if v == held and math.copysign(1.0, v) == math.copysign(1.0, held):
            return True
        if dtype == np.float32 and np.float32(v) == np.float32(held) and v != 0:
            return True
    return False


def names_index(text: str, index: int) -> bool:
    return re.search(rf"(?<![\d.]){index}(?![\d.])", text) is not None


def out_left_alone(cases: Any) -> list[str]:
    """Runs each ``(label, call, out)`` of ``cases``, a call that must fail, on its ``out``
    filled with a sentinel; returns what went wrong: a call that did not raise, or one that
    wrote ``out`` before raising."""
    failures: list[str] = []
    for label, fail, out in cases:
        before = out.copy()
        try:
            fail(out)
        except (ValueError, TypeError):
            pass
        else:
            failures.append(f"{label}: no error")
            continue
        if out.tobytes() != before.tobytes():
            failures.append(f"{label}: out was written")
    return failures
