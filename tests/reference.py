"""References for the losses' math, written by hand, and the helpers the family tests share.

Two kinds:

* float64 NumPy formulas for the value, gradient and second derivative of
  every regression loss, with PyTorch semantics (``sign(0) = 0``, ``smooth_l1``
  with ``beta = 0`` is ``mae``, huber's quadratic branch is ``|d| <= delta``),
  and the documented reductions and sample weights on top of them
  (Σw·l/Σw, Σw·l, w·l; weights of the input's shape or one per row);
* exact ones: ``math.fsum`` for sums and mpmath (50 digits) for ``log_cosh``
  and its gradient ``tanh``.

The library computes ``d = input - target`` in the compute dtype; so do the
references, then they widen ``d`` to float64. ``loss_terms`` gives the
per-element (per-row) value of every loss of the registry at its defaults.
The module also holds data generation, ulp measures and comparisons.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import fastloss
import numpy as np
import numpy.typing as npt
from fastloss._registry import LOSSES as REGISTRY

F64 = npt.NDArray[np.float64]
Array = npt.NDArray[Any]
DType = type[np.floating[Any]]

# mpmath ships no type information: keep it behind ``Any``.
mpmath: Any = importlib.import_module("mpmath")
mpmath.mp.dps = 50

#: The regression losses: elementwise, of a real input and a real target. Each has its
#: formulas in ``elementwise`` below (a loss without them fails there, by name).
LOSSES: tuple[str, ...] = tuple(
    loss.name
    for loss in REGISTRY
    if loss.family == "elementwise" and loss.input == "real" and loss.target == "real"
)
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")
FLOATS: tuple[DType, ...] = (np.float32, np.float64)

# The one scalar parameter of a regression loss: (keyword, default).
PARAM: dict[str, tuple[str, float]] = {
    loss.name: (loss.params[0].name, float(loss.params[0].default or 0.0))
    for loss in REGISTRY
    if loss.name in LOSSES and loss.params
}
# Parameter values exactly representable in float32 (so that rounding the
# parameter to the compute dtype changes nothing), to cycle through.
DYADIC_PARAMS: dict[str, tuple[float, ...]] = {
    "smooth_l1": (1.0, 0.5, 2.0, 0.0, 0.25),
    "huber": (1.0, 0.25, 2.0, 0.5),
    "pinball": (0.5, 0.25, 0.75, 0.125, 0.875),
}
# Values that are not dyadic: float64 checks only.
OTHER_PARAMS: dict[str, tuple[float, ...]] = {
    "smooth_l1": (0.3, 1.7, 1e-3),
    "huber": (0.3, 3.0, 1e-3),
    "pinball": (0.1, 0.9, 0.37, 0.01),
}
# The points where a loss is not twice differentiable, in d, for parameter p.
KINKS: dict[str, Callable[[float], tuple[float, ...]]] = {
    "mae": lambda p: (0.0,),
    "mse": lambda p: (),
    "smooth_l1": lambda p: (-p, p) if p > 0 else (0.0,),
    "huber": lambda p: (-p, p),
    "log_cosh": lambda p: (),
    "pinball": lambda p: (0.0,),
}

LN2 = math.log(2.0)


def api(name: str) -> Callable[..., Any]:
    """A function of the package by name (``"mse_grad"``, ``"info"``...)."""
    return cast("Callable[..., Any]", getattr(fastloss, name))


def param_kwargs(name: str, value: float | None) -> dict[str, float]:
    """The keyword arguments that set a loss's parameter (none for ``mae``...)."""
    if name not in PARAM or value is None:
        return {}
    return {PARAM[name][0]: value}


def param_value(name: str, value: float | None) -> float:
    """The parameter a call uses: ``value`` or the default (1.0 if none)."""
    if name not in PARAM:
        return 1.0
    return PARAM[name][1] if value is None else value


# --------------------------------------------------------------- formulas --


def elementwise(name: str, d: Array, param: float | None = None) -> tuple[F64, F64, F64]:
    """(value, gradient, second derivative) per element, in float64, for ``d``."""
    d = np.asarray(d, dtype=np.float64)
    p = param_value(name, param)
    a = np.abs(d)
    zeros = np.zeros_like(d)
    with np.errstate(all="ignore"):
        if name == "mae":
            return a, np.sign(d), zeros
        if name == "mse":
            return d * d, 2.0 * d, np.full_like(d, 2.0)
        if name == "smooth_l1":
            if p == 0.0:
                return elementwise("mae", d)
            quad = a < p
            # d·(d/β): d² may fall into the subnormals where the value does not.
            value = np.where(quad, 0.5 * d * (d / p), a - 0.5 * p)
            grad = np.clip(d / p, -1.0, 1.0)
            return value, grad, np.where(quad, 1.0 / p, 0.0)
        if name == "huber":
            quad = a <= p
            value = np.where(quad, 0.5 * d * d, p * (a - 0.5 * p))
            grad = np.clip(d, -p, p)
            return value, grad, np.where(quad, 1.0, 0.0)
        if name == "log_cosh":
            # cosh d - 1 = 2 sinh²(d/2) keeps the small-|d| digits; below 1e-7
            # log cosh d = (d/2)·d to 1e-14 relative, rounded once (sinh(d/2)²
            # would round twice into the subnormals); the large branch never
            # overflows.
            e = np.exp(-2.0 * a)
            small = a < 1.0
            tiny = np.where(a < 1e-7, (0.5 * d) * d, np.log1p(2.0 * np.sinh(0.5 * d) ** 2))
            value = np.where(small, tiny, a - LN2 + np.log1p(e))
            return value, np.tanh(d), 4.0 * e / (1.0 + e) ** 2
        if name == "pinball":
            r = -d
            value = np.maximum(p * r, (p - 1.0) * r)
            grad = np.select([r > 0, r < 0, r == 0], [-p, 1.0 - p, 0.5 - p], np.nan)
            return value, grad.astype(np.float64), zeros
    raise ValueError(f"unknown loss {name!r}")


def loss_terms(name: str, x: Any, t: Any, dtype: DType) -> F64:
    """The per-element (per-row) value of loss ``name`` at its default parameters, in
    float64, from the inputs as the compute dtype ``dtype`` holds them: the regression
    losses by ``elementwise``; the binary cross-entropies (logs clamped at -100 on
    probabilities; (1 - t)·x + softplus(-x) on logits); softmax cross-entropy over the last
    axis against class indices, lse(z) - z_y."""
    if name in LOSSES:
        return elementwise(name, difference(x, t, dtype))[0]
    xd = in_dtype(x, dtype).astype(np.float64)
    if name == "cross_entropy":
        y = np.asarray(t).reshape(-1)
        z = xd.reshape(y.size, -1)
        m = z.max(axis=1)
        lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
        out: F64 = (lse - z[np.arange(y.size), y]).reshape(np.shape(t))
        return out
    td = in_dtype(t, dtype).astype(np.float64)
    with np.errstate(divide="ignore"):
        if name == "binary_cross_entropy":
            lp = np.maximum(np.log(xd), -100.0)
            lq = np.maximum(np.log1p(-xd), -100.0)
            return np.asarray(-(td * lp + (1.0 - td) * lq))
        if name == "binary_cross_entropy_with_logits":
            return np.asarray((1.0 - td) * xd + np.logaddexp(0.0, -xd))
        if name == "sigmoid_focal":
            return sigmoid_focal_terms(xd, td, 0.25, 2.0)[0]
    if name in LOG_LINK:
        return log_link(name, xd, td)[0]
    raise ValueError(f"no reference for loss {name!r}")


def sigmoid_focal_terms(x: F64, t: F64, alpha: float | None, gamma: float) -> tuple[F64, F64, F64]:
    """Value, gradient and second derivative of ``sigmoid_focal`` in float64, torchvision's
    formula as written (``1 - p_t`` from the two sigmoids, not ``1 - p``) and its derivatives
    by the product rule; finite logits."""
    with np.errstate(all="ignore"):
        s = 0.5 * (1.0 + np.tanh(0.5 * x))
        sc = 0.5 * (1.0 - np.tanh(0.5 * x))
        b = np.maximum(x, 0.0) - x * t + np.log1p(np.exp(-np.abs(x)))
        q = t * sc + (1.0 - t) * s
        dq = (1.0 - 2.0 * t) * s * sc
        ddq = dq * (sc - s)
        a = 1.0 if alpha is None else alpha * t + (1.0 - alpha) * (1.0 - t)
        qg = q**gamma
        d1 = gamma * q ** (gamma - 1.0) * dq if gamma != 0.0 else np.zeros_like(q)
        d2 = (
            gamma * (gamma - 1.0) * q ** (gamma - 2.0) * dq * dq + gamma * q ** (gamma - 1.0) * ddq
            if gamma != 0.0
            else np.zeros_like(q)
        )
        value = a * qg * b
        grad = a * (d1 * b + qg * (s - t))
        hess = a * (d2 * b + 2.0 * d1 * (s - t) + qg * s * sc)
    return np.asarray(value), np.asarray(grad), np.asarray(hess)


#: The log-link losses (input η, the log of the predicted mean) and their default power.
LOG_LINK: dict[str, float] = {"poisson": 1.0, "gamma": 2.0, "tweedie": 1.5}


def log_link(name: str, x: Any, t: Any, power: float | None = None) -> tuple[F64, F64, F64]:
    """(value, gradient, second derivative) of a log-link loss in float64, as scikit-learn's
    HalfPoissonLoss, HalfGammaLoss and HalfTweedieLoss write them (tweedie of power 1 and 2
    are poisson and gamma); a zero target has no y·η term."""
    p = LOG_LINK[name] if power is None else power
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(t, dtype=np.float64)
    with np.errstate(all="ignore"):
        if p == 1.0:
            e = np.exp(x)
            return e - np.where(y == 0.0, 0.0, y * x), e - y, e
        if p == 2.0:
            q = y * np.exp(-x)
            return x + q, 1.0 - q, q
        a = np.exp((2.0 - p) * x)
        b = np.where(y == 0.0, 0.0, y * np.exp((1.0 - p) * x))
        value = a / (2.0 - p) - b / (1.0 - p)
        return value, a - b, (2.0 - p) * a - (1.0 - p) * b


def in_dtype(a: Any, dtype: DType) -> Array:
    """``a`` as NumPy converts it to the compute dtype."""
    return np.asarray(a).astype(dtype)


def difference(x: Any, y: Any, dtype: DType) -> F64:
    """``input - target`` computed in ``dtype``, as the library does, widened."""
    with np.errstate(all="ignore"):
        d = in_dtype(x, dtype) - in_dtype(y, dtype)
    return d.astype(np.float64)


def broadcast_weight(weight: Any, shape: tuple[int, ...], dtype: DType) -> F64:
    """Per-element weights: same shape, or 1-D per row, in ``dtype``."""
    if weight is None:
        return np.ones(shape, dtype=np.float64)
    w = in_dtype(weight, dtype).astype(np.float64)
    if w.shape != shape:
        assert w.ndim == 1 and len(shape) >= 1 and w.shape[0] == shape[0]
        w = w.reshape((shape[0],) + (1,) * (len(shape) - 1))
    return np.broadcast_to(w, shape).astype(np.float64)


def exact_sum(terms: Array) -> float:
    """Σ terms, correctly rounded (``math.fsum``), IEEE when not all finite."""
    flat = np.asarray(terms, dtype=np.float64).ravel()
    if not np.all(np.isfinite(flat)):
        with np.errstate(all="ignore"):
            return float(np.sum(flat))
    return math.fsum(flat.tolist())


@dataclass(frozen=True)
class Ref:
    """What a call with some reduction must give, in float64."""

    value: float | F64
    grad: F64
    hess: F64


def reference(
    name: str,
    x: Any,
    y: Any,
    *,
    dtype: DType,
    param: float | None = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Ref:
    """Value (reduced), gradient and hessian (scaled) of one call, in float64."""
    d = difference(x, y, dtype)
    p = None if param is None else float(np.asarray(param).astype(dtype))
    v, g, h = elementwise(name, d, p)
    w = broadcast_weight(weight, d.shape, dtype)
    with np.errstate(all="ignore"):
        wv = w * v
        if reduction == "none":
            return Ref(wv, w * g, w * h)
        if reduction == "sum":
            return Ref(exact_sum(wv), w * g, w * h)
        assert reduction == "mean"
        total = exact_sum(w)
        if d.size == 0 or total == 0.0:
            value = math.nan
        else:
            value = exact_sum(wv) / total
        return Ref(value, w * g / total, w * h / total)


# ------------------------------------------------------------ mpmath refs --


@functools.cache
def log_cosh_mp(d: float) -> Any:
    """log(cosh d) to 50 digits (an mpf)."""
    x = mpmath.mpf(d)
    if abs(x) < 1:
        return mpmath.log1p(2 * mpmath.sinh(x / 2) ** 2)
    a = abs(x)
    return a - mpmath.log(2) + mpmath.log1p(mpmath.exp(-2 * a))


@functools.cache
def tanh_mp(d: float) -> Any:
    """tanh d to 50 digits (an mpf)."""
    return mpmath.tanh(mpmath.mpf(d))


def ulps_from(got: float, ref: Any, dtype: DType) -> float:
    """|got - ref| in units of the spacing of ``ref`` rounded to ``dtype``."""
    if math.isnan(got):
        return math.inf
    nearest = float(ref)
    if math.isinf(got):
        return 0.0 if got == nearest else math.inf
    with np.errstate(over="ignore"):
        rounded = np.abs(np.asarray(nearest).astype(dtype))
    big = np.finfo(dtype).max
    if rounded >= big:  # spacing(max) overflows: the step below it
        spacing = float(big) - float(np.nextafter(big, dtype(0)))
    else:
        spacing = float(np.spacing(rounded))
    return float(abs(mpmath.mpf(got) - ref) / mpmath.mpf(spacing))


# ------------------------------------------------------------ comparisons --


def ulp_tolerance(ref: F64, dtype: DType, ulps: float) -> F64:
    """``ulps`` spacings of ``ref`` rounded to ``dtype``, per element."""
    with np.errstate(all="ignore"):
        rounded = np.abs(ref).astype(dtype)
    spacing: F64 = np.spacing(rounded).astype(np.float64)
    return ulps * spacing


def assert_same_nonfinite(got: F64, ref: F64, what: str) -> F64:
    """Same NaN and ±inf positions; returns the mask of finite reference values."""
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{what}: NaN")
    inf = np.isinf(ref)
    np.testing.assert_array_equal(got[inf], ref[inf], err_msg=f"{what}: inf")
    return cast("F64", np.isfinite(ref))


def assert_elementwise(
    got: Any,
    ref: Any,
    dtype: DType,
    *,
    ulps: float = 4.0,
    rtol: float = 1e-12,
    atol: float = 0.0,
    what: str = "",
) -> None:
    """float64: ``rtol``; float32: ``ulps`` float32 spacings of the reference."""
    g = np.asarray(got, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    finite = assert_same_nonfinite(g, r, what)
    g, r = g[finite], r[finite]
    err = np.abs(g - r)
    if dtype == np.float64:
        tol = rtol * np.abs(r) + atol
    else:
        tol = ulp_tolerance(r, dtype, ulps) + atol
    bad = np.flatnonzero(err > tol)
    if bad.size:
        i = int(bad[np.argmax((err - tol)[bad])])
        raise AssertionError(
            f"{what}: {bad.size} of {r.size} elements off; worst at finite "
            f"index {i}: got {g[i]!r}, expected {r[i]!r} (|err| {err[i]:.3g}, "
            f"tolerance {tol[i]:.3g})"
        )


def assert_reduced(got: Any, ref: float, dtype: DType, *, what: str = "") -> None:
    """A reduced value: a Python float, float32-representable for float32,
    relative error ≤ 1e-12 (float64) or ≤ 1e-6 (float32) from the exact one,
    plus the smallest subnormal (a subnormal result has fewer digits)."""
    assert type(got) is float, f"{what}: {type(got).__name__} is not a Python float"
    if math.isnan(ref) or math.isinf(ref):
        assert got == ref or (math.isnan(got) and math.isnan(ref)), (
            f"{what}: got {got!r}, expected {ref!r}"
        )
        return
    if dtype == np.float32 and math.isfinite(got):
        assert float(np.float32(got)) == got, f"{what}: {got!r} is not a float32 value"
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    sub = float(np.finfo(dtype).smallest_subnormal)
    assert abs(got - ref) <= rtol * abs(ref) + sub, (
        f"{what}: got {got!r}, expected {ref!r} (relative error "
        f"{abs(got - ref) / abs(ref) if ref else math.inf:.3g}, allowed {rtol})"
    )


def canonical_nan(a: Array) -> Array:
    """A copy with every NaN the same NaN: IEEE 754 gives a NaN's sign and
    payload no meaning, so "bitwise" compares everything else."""
    c = np.array(a, copy=True)
    c[np.isnan(c)] = np.nan
    return c


def assert_bitwise(got: Any, expected: Any, what: str = "") -> None:
    """Identical bits (NaNs aside): float.hex for Python floats, tobytes for arrays."""
    if isinstance(expected, float):
        assert type(got) is float, f"{what}: {type(got).__name__} is not a float"
        if math.isnan(expected):
            assert math.isnan(got), f"{what}: {got!r} is not nan"
            return
        assert got.hex() == expected.hex(), f"{what}: {got.hex()} != {expected.hex()}"
        return
    g, e = np.asarray(got), np.asarray(expected)
    assert g.dtype == e.dtype, f"{what}: dtype {g.dtype} != {e.dtype}"
    assert g.shape == e.shape, f"{what}: shape {g.shape} != {e.shape}"
    g, e = canonical_nan(g), canonical_nan(e)
    if g.tobytes() != e.tobytes():
        diff = np.flatnonzero(g.view(np.uint8).reshape(-1) != e.view(np.uint8).reshape(-1))
        i = int(diff[0]) // g.dtype.itemsize
        raise AssertionError(
            f"{what}: bits differ first at flat index {i}: "
            f"{g.reshape(-1)[i]!r} != {e.reshape(-1)[i]!r}"
        )


# ------------------------------------------------------------------- data --


def tie_positions(n: int) -> list[int]:
    """Indices spread over the SIMD body and the tail of an ``n``-array."""
    cand = [0, 1, 7, 8, 15, 16, 31, 32, 33, 63, 64, n // 2, n - 3, n - 2, n - 1]
    return sorted({i for i in cand if 0 <= i < n})


def make_data(
    n: int | tuple[int, ...],
    dtype: DType,
    seed: int,
    *,
    tie: float = 1.0,
    specials: bool = False,
) -> tuple[Array, Array]:
    """Seeded (input, target) in ``dtype`` with exact ties d = 0, ±``tie`` and,
    with ``specials``, ±inf and NaN, at positions spread over body and tail."""
    shape = (n,) if isinstance(n, int) else n
    size = math.prod(shape)
    rng = np.random.default_rng(seed)
    x = (2.0 * rng.standard_normal(size)).astype(dtype)
    y = rng.standard_normal(size).astype(dtype)
    t = float(np.asarray(tie).astype(dtype))
    kinds: list[tuple[float, float]] = [(0.5, 0.5), (t, 0.0), (0.0, t), (-t, 0.0)]
    if t == 0.0:
        kinds = [(0.5, 0.5), (0.0, 0.0), (-0.0, 0.0)]
    nan, inf = math.nan, math.inf
    if specials:
        kinds += [(inf, 0.0), (-inf, 1.0), (0.0, inf), (nan, 0.0), (1.0, nan)]
        kinds += [(inf, inf), (-inf, 2.0), (3.0, -inf)]
    for k, i in enumerate(tie_positions(size)):
        if k % 5 == 4:  # d = 0 at a random value too
            y[i] = x[i]
            continue
        x[i], y[i] = kinds[k % len(kinds)]
    return x.reshape(shape), y.reshape(shape)


def make_weight(shape: tuple[int, ...], mode: str, seed: int) -> Array | None:
    """Seeded non-negative weights: ``none``, ``each`` (input's shape) or
    ``rows`` (1-D of length shape[0]); some exact zeros included."""
    if mode == "none":
        return None
    rng = np.random.default_rng(seed + 1000)
    wshape = shape if mode == "each" else shape[:1]
    w = rng.uniform(0.0, 3.0, size=wshape)
    if w.size > 2:
        w.reshape(-1)[1] = 0.0
    return w


def call(
    name: str,
    suffix: str,
    x: Any,
    y: Any,
    *,
    param: float | None = None,
    **kwargs: Any,
) -> Any:
    """``fastloss.<name><suffix>(x, y, <param>, **kwargs)``."""
    return api(name + suffix)(x, y, **param_kwargs(name, param), **kwargs)


X86 = platform.machine().lower() in ("x86_64", "amd64")


def run_child(code: str, env_updates: Mapping[str, str | None]) -> dict[str, Any]:
    """Runs ``code`` in a fresh interpreter (the tests' folder as ``argv[1]``), with the
    environment changed as given (``None`` removes a variable): the library reads its
    settings at import. The child's last line of output is its JSON result."""
    env = dict(os.environ)
    for key, value in env_updates.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    here = str(Path(__file__).resolve().parent)
    proc = subprocess.run(
        [sys.executable, "-c", code, here], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"child failed ({dict(env_updates)}):\n{proc.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def simd_levels(best: str) -> list[str]:
    """The FASTLOSS_SIMD values at or below the machine's best level."""
    if not X86:
        return ["scalar", best] if best != "scalar" else ["scalar"]
    order = ["scalar", "sse2", "avx2", "avx512"]
    assert best in order, f"x86-64 machine reports simd {best!r}"
    return order[: order.index(best) + 1]
