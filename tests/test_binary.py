"""The binary cross-entropies' math.

* ``binary_cross_entropy`` (input = probabilities p) with PyTorch's semantics:
  value -[t·max(log p, -100) + (1-t)·max(log1p(-p), -100)], gradient
  (p-t)/max(p(1-p), 1e-12), second derivative t/max(p², 1e-12) +
  (1-t)/max((1-p)², 1e-12); targets are not validated.
* ``binary_cross_entropy_with_logits`` (input = logits x), ``pos_weight``
  over the last axis: with c = 1 + (pw-1)·t, value (1-t)·x + c·softplus(-x),
  gradient (1-t)·sig(x) - pw·t·sig(-x), second derivative c·sig(x)·sig(-x); the
  limits at x = ±inf exactly.

References: float64 NumPy formulas written here (rtol 1e-12 in float64, a
few float32 ulp), measured against the magnitude of the terms where the
result cancels (the gradient of the logits loss at fractional targets);
mpmath (50 digits) for the documented bound of 4 ulp and the extremes. Then
special values, and pos_weight's own checks (its shape, values and dtype).
Arguments, ``out=``, dtypes, layouts, threads, SIMD levels and the
hypothesis properties are those of every loss, in the concern tests.
"""

from __future__ import annotations

import functools
import math
import re
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from losses import FORMS, names_value, out_left_alone, shape_pattern
from reference import (
    F64,
    FLOATS,
    REDUCTIONS,
    Array,
    DType,
    api,
    assert_bitwise,
    assert_reduced,
    assert_same_nonfinite,
    broadcast_weight,
    exact_sum,
    make_weight,
    mpmath,
    tie_positions,
    ulps_from,
)

BCE = "binary_cross_entropy"
LOGITS = "binary_cross_entropy_with_logits"
FOCAL = "sigmoid_focal"
BINARY: tuple[str, ...] = (BCE, LOGITS, FOCAL)

SIZES = (0, 1, 7, 8, 15, 16, 17, 31, 33, 63, 65, 1000, 4099, 2**17 + 3)
WEIGHT_MODES = ("none", "each", "rows")
# 2-D and 3-D (and more) shapes; pos_weight runs over the last axis.
MULTI_SHAPES = ((5, 3), (4, 2, 3), (33, 7), (2, 3, 2, 5), (1, 1), (3, 70), (1000, 3), (7, 1))
IDS = {np.float32: "f32", np.float64: "f64"}
FLOAT_IDS = ["f32", "f64"]


def fn(name: str, suffix: str = "") -> Callable[..., Any]:
    return api(name + suffix)


def run(name: str, suffix: str, x: Any, t: Any, pw: Any = None, **kwargs: Any) -> Any:
    """``fastloss.<name><suffix>(x, t, [pos_weight=pw], **kwargs)``."""
    if name == LOGITS and pw is not None:
        kwargs["pos_weight"] = pw
    return fn(name, suffix)(x, t, **kwargs)


# ------------------------------------------------------------- references --


@dataclass(frozen=True)
class Terms:
    """Per-element value, gradient, second derivative (float64) and, for each,
    the magnitude its rounding errors scale with (|result| when nothing cancels)."""

    value: F64
    grad: F64
    hess: F64
    value_scale: F64
    grad_scale: F64
    #: None: |hess|.
    hess_scale: F64 | None = None


def eps_clamp(dtype: DType) -> float:
    """The 1e-12 of the clamps, as the compute dtype holds it."""
    return float(np.asarray(1e-12).astype(dtype))


def bce_terms(p: Array, t: Array, dtype: DType) -> Terms:
    """PyTorch's binary_cross_entropy (ATen Loss.cpp), in float64."""
    p = np.asarray(p, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    eps = eps_clamp(dtype)
    with np.errstate(all="ignore"):
        lp = np.maximum(np.log(p), -100.0)
        lq = np.maximum(np.log1p(-p), -100.0)
        value = -(t * lp + (1.0 - t) * lq)
        q = 1.0 - p
        grad = (p - t) / np.maximum(p * q, eps)
        hess = t / np.maximum(p * p, eps) + (1.0 - t) / np.maximum(q * q, eps)
        vscale = np.abs(t * lp) + np.abs((1.0 - t) * lq)
    return Terms(value, grad, hess, vscale, np.abs(grad))


def sigmoids(x: F64) -> tuple[F64, F64]:
    """(sig(x), sig(-x)) without overflow, exact at ±inf."""
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        r = 1.0 / (1.0 + e)
        pos = x >= 0
        return np.where(pos, r, e * r), np.where(pos, e * r, r)


def logits_terms(x: Array, t: Array, pw: Array) -> Terms:
    """(1-t)·x + c·softplus(-x), written as (1-t)·max(x, 0) + pw·t·max(-x, 0)
    + c·log1p(e^-|x|): no cancellation, and a zero coefficient drops an
    infinite x (the limits at ±inf)."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    pw = np.broadcast_to(np.asarray(pw, dtype=np.float64), x.shape)
    with np.errstate(all="ignore"):
        a = 1.0 - t
        b = pw * t
        c = 1.0 + (pw - 1.0) * t
        lin = np.where(a == 0, 0.0, a * np.maximum(x, 0.0))
        # pw·t below the normals has lost bits: ((pw·2^54)·(t·2^54))·|x|·2^-108
        # (what the kernel does; float32 inputs never get there in float64).
        tiny = np.finfo(np.float64).tiny
        neg = np.maximum(-x, 0.0)
        scaled = ((pw * 2.0**54) * (t * 2.0**54)) * neg * 2.0**-108
        lin = lin + np.where((pw == 0) | (t == 0), 0.0, np.where(b < tiny, scaled, b * neg))
        soft = np.log1p(np.exp(-np.abs(x)))
        value = lin + c * soft
        sx, snx = sigmoids(x)
        g1, g2 = a * sx, b * snx
        grad = g1 - g2
        hess = c * sx * snx
        vscale = np.abs(lin) + np.abs(c * soft)
        gscale = np.abs(g1) + np.abs(g2)
    return Terms(value, grad, hess, vscale, gscale)


def column_weights(pw: Any, shape: tuple[int, ...], dtype: DType) -> F64:
    """pos_weight in the compute dtype, broadcast over the last axis (1 if None)."""
    if pw is None:
        return np.ones(shape, dtype=np.float64)
    w = np.asarray(pw).astype(dtype).astype(np.float64)
    return np.broadcast_to(w, shape).astype(np.float64)


def terms(name: str, x: Any, t: Any, dtype: DType, pw: Any = None) -> Terms:
    """The per-element references of ``name`` on (x, t) converted to ``dtype``."""
    xd = np.asarray(x).astype(dtype).astype(np.float64)
    td = np.asarray(t).astype(dtype).astype(np.float64)
    if name == BCE:
        return bce_terms(xd, td, dtype)
    if name == FOCAL:
        return focal_terms(xd, td)
    return logits_terms(xd, td, column_weights(pw, xd.shape, dtype))


@dataclass(frozen=True)
class Ref:
    """What one call with some reduction must give (float64), with error scales."""

    value: float | F64
    grad: F64
    hess: F64
    value_scale: F64
    grad_scale: F64
    hess_scale: F64


def reference(
    name: str,
    x: Any,
    t: Any,
    *,
    dtype: DType,
    pw: Any = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Ref:
    """The documented reductions: weighted mean Σw·l/Σw (nan when empty), sum,
    none; gradient and second derivative scaled alike."""
    e = terms(name, x, t, dtype, pw)
    w = broadcast_weight(weight, e.value.shape, dtype)
    with np.errstate(all="ignore"):
        if reduction in ("none", "sum"):
            k = w
        else:
            total = exact_sum(w)
            k = w / total
        if reduction == "none":
            value: float | F64 = w * e.value
        elif reduction == "sum":
            value = exact_sum(w * e.value)
        else:
            value = math.nan if e.value.size == 0 or total == 0 else exact_sum(w * e.value) / total
        return Ref(
            value,
            k * e.grad,
            k * e.hess,
            w * e.value_scale,
            k * e.grad_scale,
            k * (np.abs(e.hess) if e.hess_scale is None else e.hess_scale),
        )


def assert_close(
    got: Any,
    ref: Any,
    scale: Any,
    dtype: DType,
    *,
    ulps: float = 4.0,
    rtol: float = 1e-12,
    atol: float | None = None,
    what: str = "",
) -> None:
    """Same NaN/inf positions; elsewhere |got - ref| ≤ rtol·scale (float64) or
    ``ulps`` float32 spacings of ``scale`` (float32), plus ``atol`` (by default
    4 times the smallest normal: results that underflow keep fewer digits)."""
    g = np.asarray(got, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    s = np.maximum(np.abs(np.asarray(scale, dtype=np.float64)), np.abs(r))
    finite = assert_same_nonfinite(g, r, what)
    g, r, s = g[finite], r[finite], s[finite]
    if atol is None:
        atol = 4.0 * float(np.finfo(dtype).tiny)
    err = np.abs(g - r)
    if dtype == np.float64:
        tol = rtol * s + atol
    else:
        with np.errstate(all="ignore"):
            spacing = np.spacing(s.astype(np.float32)).astype(np.float64)
        tol = ulps * spacing + atol
    bad = np.flatnonzero(~(err <= tol))
    if bad.size:
        i = int(bad[np.argmax((err - tol)[bad])])
        raise AssertionError(
            f"{what}: {bad.size} of {r.size} elements off; worst at finite index {i}: "
            f"got {g[i]!r}, expected {r[i]!r} (|err| {err[i]:.3g}, tolerance {tol[i]:.3g})"
        )


# ------------------------------------------------------------------- data --


def make_probs(n: int | tuple[int, ...], dtype: DType, seed: int) -> tuple[Array, Array]:
    """Seeded probabilities (uniform, and log-uniform down to 1e-40 from either
    end) and targets (0, 1 or uniform), with the exact certain predictions,
    -0.0, p = t and the clamp region at positions over body and tail."""
    shape = (n,) if isinstance(n, int) else n
    size = math.prod(shape)
    rng = np.random.default_rng(seed)
    p = rng.random(size)
    near = rng.random(size) < 0.25
    tiny = 10.0 ** rng.uniform(-40.0, -1.0, size)
    p = np.where(near, np.where(rng.random(size) < 0.5, tiny, 1.0 - tiny), p)
    kind = rng.integers(0, 3, size)
    t = np.where(kind == 0, 0.0, np.where(kind == 1, 1.0, rng.random(size)))
    p, t = p.astype(dtype), t.astype(dtype)
    specials = [
        (0.0, 0.0),
        (1.0, 1.0),
        (0.0, 1.0),
        (1.0, 0.0),
        (-0.0, 0.0),
        (0.5, 0.5),
        (0.25, 0.25),
        (1e-30, 1.0),
        (1.0 - 2.0**-24, 0.0),
        (1e-8, 0.0),
        (1e-45, 1.0),
        (0.5, 0.25),
    ]
    for k, i in enumerate(tie_positions(size)):
        p[i], t[i] = specials[k % len(specials)]
    return p.reshape(shape), t.reshape(shape)


def focal_terms(x: Array, t: Array) -> Terms:
    """sigmoid_focal at its defaults (alpha 0.25, gamma 2) by the product rule on a·q²·B, with
    B and its derivatives from ``logits_terms`` (exact at ±inf) and q = t·σ(-x) + (1-t)·σ(x);
    a zero factor drops an infinite B. Scales: the sums of the terms' magnitudes."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    bce = logits_terms(x, t, np.ones_like(x))
    with np.errstate(all="ignore"):
        s, sc = sigmoids(x)
        q = t * sc + (1.0 - t) * s
        dq = (1.0 - 2.0 * t) * s * sc
        ddq = dq * (sc - s)
        a = 0.25 * t + 0.75 * (1.0 - t)
        qg, d1, d2 = q * q, 2.0 * q * dq, 2.0 * dq * dq + 2.0 * q * ddq

        def times_b(c: F64) -> F64:
            return np.where(c == 0, 0.0, c * bce.value)

        value = times_b(a * qg)
        grad = a * (times_b(d1) + qg * bce.grad)
        hess = a * (times_b(d2) + 2.0 * d1 * bce.grad + qg * bce.hess)
        gscale = a * (np.abs(times_b(d1)) + qg * bce.grad_scale)
        hscale = a * (
            np.abs(times_b(2.0 * dq * dq))
            + np.abs(times_b(2.0 * q * ddq))
            + np.abs(2.0 * d1 * bce.grad)
            + qg * bce.hess
        )
    return Terms(value, grad, hess, np.abs(value), gscale, hscale)


def make_logits(
    n: int | tuple[int, ...], dtype: DType, seed: int, *, specials: bool = True
) -> tuple[Array, Array]:
    """Seeded logits (normal, and log-uniform up to 1e3 with random signs) and
    targets (0, 1 or uniform); with ``specials``: ±inf, large and tiny logits,
    at positions over body and tail."""
    shape = (n,) if isinstance(n, int) else n
    size = math.prod(shape)
    rng = np.random.default_rng(seed)
    x = 4.0 * rng.standard_normal(size)
    wide = rng.random(size) < 0.25
    mags = 10.0 ** rng.uniform(-3.0, 3.0, size)
    x = np.where(wide, np.where(rng.random(size) < 0.5, -mags, mags), x)
    kind = rng.integers(0, 3, size)
    t = np.where(kind == 0, 0.0, np.where(kind == 1, 1.0, rng.random(size)))
    x, t = x.astype(dtype), t.astype(dtype)
    if specials:
        inf = math.inf
        cases = [
            (-inf, 0.0),
            (inf, 1.0),
            (-inf, 1.0),
            (inf, 0.0),
            (50.0, 1.0),
            (-50.0, 0.0),
            (0.0, 0.5),
            (-800.0, 1.0),
            (800.0, 0.25),
            (1e-30, 1.0),
            (-inf, 0.5),
            (inf, 0.75),
            (-0.0, 0.0),
        ]
        for k, i in enumerate(tie_positions(size)):
            x[i], t[i] = cases[k % len(cases)]
    return x.reshape(shape), t.reshape(shape)


def make_data(
    name: str, n: int | tuple[int, ...], dtype: DType, seed: int, *, specials: bool = True
) -> tuple[Array, Array]:
    if name == BCE:
        return make_probs(n, dtype, seed)
    return make_logits(n, dtype, seed, specials=specials)


def make_pos_weight(columns: int, seed: int) -> F64:
    """Seeded pos_weight in [0.5, 4), with an exact 1 and an exact 0 when there
    is room. (Below 0.5, 1 + (pw-1)·t itself is rounded: the small weights
    have their own test, ``test_small_pos_weight_keeps_its_digits``.)"""
    rng = np.random.default_rng(seed + 77)
    pw = rng.uniform(0.5, 4.0, columns)
    if columns > 1:
        pw[1] = 1.0
    if columns > 2:
        pw[2] = 0.0
    return pw


# ------------------------------------------------------ against reference --


def check_all(
    name: str,
    x: Array,
    t: Array,
    dtype: DType,
    *,
    pw: Any,
    weight: Any,
    what: str,
) -> None:
    """All four functions, every reduction, against the reference; types,
    dtypes and shapes; value_and_grad bitwise (value, grad); grad_hess's
    gradient bitwise the gradient."""
    shape = np.shape(x)
    for red in REDUCTIONS:
        tag = f"{what} reduction={red}"
        ref = reference(name, x, t, dtype=dtype, pw=pw, reduction=red, weight=weight)
        kw: dict[str, Any] = {"reduction": red, "sample_weight": weight}
        value = run(name, "", x, t, pw, **kw)
        grad = run(name, "_grad", x, t, pw, **kw)
        vg = run(name, "_value_and_grad", x, t, pw, **kw)
        gh = run(name, "_grad_hess", x, t, pw, **kw)
        # float32: 4 ulp for the elementwise results, more once scaled by
        # 1/n or w/Σw (two more roundings in float32).
        ulps = 4.0 if red != "mean" and weight is None else 8.0
        if red == "none":
            assert isinstance(value, np.ndarray), f"{tag}: value is {type(value).__name__}"
            assert value.dtype == dtype and value.shape == shape, f"{tag}: value array"
            assert_close(value, ref.value, ref.value_scale, dtype, ulps=ulps, what=f"{tag} value")
        else:
            assert isinstance(ref.value, float)
            assert_reduced(value, ref.value, dtype, what=f"{tag} value")
        for label, arr in (("grad", grad), ("grad_hess[0]", gh[0]), ("grad_hess[1]", gh[1])):
            assert isinstance(arr, np.ndarray), f"{tag}: {label} is {type(arr).__name__}"
            assert arr.dtype == dtype, f"{tag}: {label} dtype {arr.dtype}"
            assert arr.shape == shape, f"{tag}: {label} shape {arr.shape}"
        assert_close(grad, ref.grad, ref.grad_scale, dtype, ulps=ulps, what=f"{tag} grad")
        # no documented ulp bound for the second derivative: a product of
        # three rounded factors, twice the value's tolerance
        assert_close(gh[1], ref.hess, ref.hess_scale, dtype, ulps=2 * ulps, what=f"{tag} hess")
        assert_bitwise(gh[0], grad, f"{tag} grad_hess grad")
        assert isinstance(vg, tuple) and len(vg) == 2, f"{tag}: value_and_grad {type(vg)}"
        assert_bitwise(vg[0], value, f"{tag} value_and_grad value")
        assert_bitwise(vg[1], grad, f"{tag} value_and_grad grad")


@pytest.mark.parametrize("mode", WEIGHT_MODES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("name", BINARY)
def test_against_reference(name: str, dtype: DType, n: int, mode: str) -> None:
    """1-D, every tail size; the logits loss also with a per-element
    pos_weight (the last axis is the only one)."""
    k = SIZES.index(n)
    x, t = make_data(name, n, dtype, seed=k)
    weight = make_weight((n,), mode, seed=k)
    what = f"{name} {np.dtype(dtype).name} n={n} weight={mode}"
    check_all(name, x, t, dtype, pw=None, weight=weight, what=what)
    if name == LOGITS and n > 0:
        pw = make_pos_weight(n, seed=k)
        check_all(name, x, t, dtype, pw=pw, weight=weight, what=what + " pos_weight")


VARIANTS = [(BCE, False), (LOGITS, False), (LOGITS, True)]


@pytest.mark.parametrize("mode", WEIGHT_MODES)
@pytest.mark.parametrize("shape", MULTI_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize(("name", "with_pw"), VARIANTS, ids=["bce", "logits", "logits-pos_weight"])
def test_multidimensional(
    name: str, with_pw: bool, dtype: DType, shape: tuple[int, ...], mode: str
) -> None:
    k = MULTI_SHAPES.index(shape)
    x, t = make_data(name, shape, dtype, seed=200 + k)
    weight = make_weight(shape, mode, seed=k)
    pw = make_pos_weight(shape[-1], seed=k) if with_pw else None
    what = f"{name} {np.dtype(dtype).name} {shape} weight={mode} pos_weight={pw is not None}"
    check_all(name, x, t, dtype, pw=pw, weight=weight, what=what)


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_pos_weight_is_per_column(dtype: DType) -> None:
    """pos_weight[j] applies to column j of the last axis, for every row: the
    same as calling column by column with a scalar-like constant pos_weight."""
    x, t = make_logits((6, 5, 4), dtype, seed=3, specials=False)
    pw = np.asarray([0.5, 2.0, 1.0, 3.25])
    got = run(LOGITS, "", x, t, pw, reduction="none")
    gg, gh = run(LOGITS, "_grad_hess", x, t, pw)
    for j in range(4):
        xj = np.ascontiguousarray(x[..., j : j + 1])
        tj = np.ascontiguousarray(t[..., j : j + 1])
        one = np.asarray([pw[j]])
        assert_bitwise(got[..., j : j + 1], run(LOGITS, "", xj, tj, one, reduction="none"))
        g1, h1 = run(LOGITS, "_grad_hess", xj, tj, one)
        assert_bitwise(gg[..., j : j + 1], g1, f"grad column {j}")
        assert_bitwise(gh[..., j : j + 1], h1, f"hess column {j}")
    # pos_weight of ones is no pos_weight, bit for bit
    for suffix in FORMS:
        for red in REDUCTIONS:
            a = run(LOGITS, suffix, x, t, np.ones(4), reduction=red)
            b = run(LOGITS, suffix, x, t, None, reduction=red)
            for u, v in zip(
                a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)
            ):
                assert_bitwise(u, v, f"{suffix} {red}: pos_weight=ones vs None")


# PyTorch's pos_weight for an input of (64, 4): a scalar, (1, 4), (64, 4) (its tests), and
# every other shape that broadcasts to the input's, a zero-stride view included.
def pos_weight_shapes(shape: tuple[int, ...], seed: int) -> list[tuple[str, Any]]:
    rng = np.random.default_rng(seed)
    row = rng.uniform(0.5, 4.0, shape[-1])
    cases: list[tuple[str, Any]] = [
        ("float", 2.5),
        ("0-d", np.array(0.75)),
        ("numpy scalar", np.float32(3.0)),
        ("last axis", row),
        ("leading 1", row.reshape((1,) * (len(shape) - 1) + (-1,))),
        ("full", rng.uniform(0.5, 4.0, shape)),
        ("zero-stride view", np.broadcast_to(row, shape)),
        ("ones", np.ones((1,) * len(shape))),
    ]
    for axis in range(len(shape)):
        one = tuple(1 if k == axis else d for k, d in enumerate(shape))
        only = tuple(d if k == axis else 1 for k, d in enumerate(shape))
        cases.append((f"{one}", rng.uniform(0.5, 4.0, one)))
        cases.append((f"{only}", rng.uniform(0.5, 4.0, only)))
    return cases


BROADCAST_SHAPES = [(64, 4), (3, 50, 7), (600, 7, 5), (5, 1, 3), (9,)]


@pytest.mark.parametrize("shape", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_pos_weight_broadcasts(dtype: DType, shape: tuple[int, ...]) -> None:
    """pos_weight broadcasts to the input's shape, as in PyTorch: against the float64
    formula (1-t)·x + (1+(pw-1)·t)·softplus(-x), and bitwise the same as the full array it
    broadcasts to, with and without sample weights, at every reduction."""
    x, t = make_logits(shape, dtype, seed=len(shape))
    w = make_weight(shape, "rows", seed=3)
    for label, pw in pos_weight_shapes(shape, seed=sum(shape)):
        full = np.broadcast_to(np.asarray(pw, dtype=np.float64), shape).copy()
        what = f"{shape} pos_weight {label}"
        if shape == (64, 4):
            check_all(LOGITS, x, t, dtype, pw=full, weight=None, what=what)
        for suffix in FORMS:
            for red in REDUCTIONS:
                for weight in (None, w):
                    got = run(LOGITS, suffix, x, t, pw, reduction=red, sample_weight=weight)
                    want = run(LOGITS, suffix, x, t, full, reduction=red, sample_weight=weight)
                    for g, v in zip(
                        got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,),
                    ):
                        assert_bitwise(g, v, f"{what} {suffix} {red} w={weight is not None}")


def test_pos_weight_broadcast_is_not_copied() -> None:
    """A pos_weight that is a zero-stride view of the input's shape is read through its
    strides: no array of the input's size is made."""
    n = 1 << 18
    x, t = np.zeros((n, 4)), np.ones((n, 4))
    row = np.array([0.5, 2.0, 1.0, 3.0])
    want = run(LOGITS, "", x[:4], t[:4], row, reduction="sum")
    for pw in (np.broadcast_to(row, (n, 4)), np.broadcast_to(row[:1, None], (n, 4))):
        tracemalloc.start()
        try:
            got = run(LOGITS, "", x, t, pw, reduction="sum")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < x.nbytes // 8, f"{peak} bytes allocated"
        assert math.isfinite(got) and got > 0
    assert run(LOGITS, "", x[:4], t[:4], np.broadcast_to(row, (4, 4)), reduction="sum") == want


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_negative_pos_weight(dtype: DType) -> None:
    """Finite negative pos_weight is a weight (PyTorch takes it): the same formulas. Errors
    are measured against the size of the terms (1 - t + pw·t cancels for pw < 0)."""
    x, t = make_logits((300, 4), dtype, seed=5, specials=False)
    pw = np.array([-0.5, -2.0, 1.5, -1e-3])
    e = terms(LOGITS, x, t, dtype, pw)
    xd, td = (np.asarray(a).astype(np.float64) for a in (x, t))
    pwd = column_weights(pw, x.shape, dtype)
    soft = np.log1p(np.exp(-np.abs(xd)))
    linear = np.abs((1 - td) * xd) + np.abs(pwd * td * xd)
    scale = linear + (np.abs(1 - td) + np.abs(pwd * td)) * soft
    value = run(LOGITS, "", x, t, pw, reduction="none")
    assert_close(value, e.value, scale, dtype, ulps=8, what="value")
    grad = run(LOGITS, "_grad", x, t, pw, reduction="sum")
    assert_close(grad, e.grad, e.grad_scale, dtype, ulps=8, what="grad")
    hess = run(LOGITS, "_grad_hess", x, t, pw)[1]
    assert_close(hess, e.hess, np.abs(e.hess) + scale, dtype, ulps=8, what="hess")
    mean = run(LOGITS, "", x, t, pw)
    assert mean == pytest.approx(float(np.mean(e.value)), rel=1e-4, abs=1e-4)


# ------------------------------------------------- exact values (mpmath) --

mp = mpmath


@functools.cache
def logits_value_mp(x: float, t: float, pw: float = 1.0) -> Any:
    """(1-t)·x + c·softplus(-x) to 50 digits, by the identity
    (1-t)·max(x, 0) + pw·t·max(-x, 0) + c·log1p(e^-|x|)."""
    X, T, P = mp.mpf(x), mp.mpf(t), mp.mpf(pw)
    c = 1 + (P - 1) * T
    lin = (1 - T) * X if X >= 0 else P * T * (-X)
    return lin + c * mp.log1p(mp.exp(-abs(X)))


@functools.cache
def logits_grad_mp(x: float, t: float, pw: float = 1.0) -> Any:
    """(1-t)·sig(x) - pw·t·sig(-x) to 50 digits, however far the two terms
    cancel (the difference is recomputed with 1200 digits when it is below
    1e-40 of them: inputs are exact binary numbers, so it is never 0 by
    accident)."""

    def terms() -> tuple[Any, Any]:
        X, T, P = mp.mpf(x), mp.mpf(t), mp.mpf(pw)
        return (1 - T) / (1 + mp.exp(-X)), P * T / (1 + mp.exp(X))

    a, b = terms()
    if abs(a - b) < mp.mpf(10) ** -40 * max(abs(a), abs(b)):
        with mp.workdps(1200):
            a, b = terms()
            return +(a - b)
    return a - b


@functools.cache
def bce_value_mp(p: float, t: float, eps: float) -> Any:
    """-[t·max(log p, -100) + (1-t)·max(log1p(-p), -100)] to 50 digits."""
    P, T = mp.mpf(p), mp.mpf(t)
    lp = mp.mpf(-100) if P == 0 else max(mp.log(P), mp.mpf(-100))
    lq = mp.mpf(-100) if P == 1 else max(mp.log1p(-P), mp.mpf(-100))
    return -(T * lp + (1 - T) * lq)


@functools.cache
def bce_grad_mp(p: float, t: float, eps: float) -> Any:
    """(p-t)/max(p(1-p), eps) to 50 digits (eps: 1e-12 in the compute dtype)."""
    P, T = mp.mpf(p), mp.mpf(t)
    return (P - T) / max(P * (1 - P), mp.mpf(eps))


def worst_ulps(
    got: Array,
    points: list[float],
    ref: Callable[[float], Any],
    dtype: DType,
) -> tuple[float, float, float, Any]:
    """(worst error, at, got there, reference there), in spacings of the
    reference rounded to the dtype (``ulps_from``: results that underflow are
    compared absolutely, in subnormal spacings)."""
    result: tuple[float, float, float, Any] = (0.0, math.nan, math.nan, None)
    for g, p in zip(np.asarray(got, dtype=np.float64).tolist(), points):
        r = ref(p)
        with np.errstate(over="ignore"):
            rounded = float(np.asarray(float(r)).astype(dtype))
        if math.isinf(g) and g == rounded:
            e = 0.0  # the exact value is beyond the dtype's range: inf is right
        else:
            e = ulps_from(g, r, dtype)
        if e > result[0] or math.isnan(e):
            result = (e, p, g, r)
    return result


def logit_points(dtype: DType, count: int = 1500, seed: int = 11) -> list[float]:
    """Log-uniform |x| over [1e-30, 1e4], random signs, plus ±(0, tiny, 1e-6,
    1, 20, 88, 89, 700, 750, max) and neighbours of the exp thresholds."""
    info = np.finfo(dtype)
    named = [0.0, float(info.tiny), float(info.smallest_subnormal), 1e-6, 0.5, 1.0, 2.0, 20.0]
    named += [30.0, 36.0, 40.0, 50.0, 87.0, 88.0, 89.0, 100.0, 104.0, 110.0, 700.0, 708.0]
    named += [709.0, 710.0, 740.0, 745.0, 750.0, 1e4, 1e30, float(info.max)]
    rng = np.random.default_rng(seed)
    mags = 10.0 ** rng.uniform(-30.0, 4.0, count)
    signs = np.where(rng.random(count) < 0.5, -1.0, 1.0)
    pts = [s * v for v in named for s in (1.0, -1.0)] + list(mags * signs)
    with np.errstate(over="ignore"):
        return [float(v) for v in np.asarray(pts).astype(dtype)]


def prob_points(dtype: DType, count: int = 1000, seed: int = 12) -> list[float]:
    """Probabilities over (0, 1): log-uniform towards 0 and towards 1, uniform,
    and 0, 1, 1e-30, 1e-8, 0.5, 1 - 2**-24, the clamp region e^-100."""
    info = np.finfo(dtype)
    named = [0.0, 1.0, 1e-30, 1e-8, 0.5, 1.0 - 2.0**-24, 0.25, 0.75, 1e-3, 0.999]
    named += [float(info.smallest_subnormal), float(info.tiny), math.exp(-100.0), 1e-44]
    named += [float(np.nextafter(dtype(1.0), dtype(0.0))), 1e-12, 1.0 - 1e-12, 1e-6]
    rng = np.random.default_rng(seed)
    low = 10.0 ** rng.uniform(-45.0, -1.0, count // 3)
    high = 1.0 - 10.0 ** rng.uniform(-16.0, -1.0, count // 3)
    mid = rng.random(count - 2 * (count // 3))
    pts = named + list(low) + list(high) + list(mid)
    return [float(v) for v in np.asarray(pts).astype(dtype)]


PW_ULP = (1.0, 3.0, 0.5)


@pytest.mark.parametrize("t", [0.0, 1.0, 0.25])
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_logits_value_ulp(dtype: DType, t: float) -> None:
    """The value ≤ 4 ulp from mpmath over the whole finite range
    (with pos_weight 1, 3 and 0.5 too)."""
    pts = logit_points(dtype)
    x = np.asarray(pts).astype(dtype)
    ts = np.full_like(x, t)
    for pw in PW_ULP:
        pos_weight = None if pw == 1.0 else np.full(x.size, pw)
        for suffix in ("", "_value_and_grad"):
            got = run(LOGITS, suffix, x, ts, pos_weight, reduction="none")
            got = got[0] if isinstance(got, tuple) else got
            assert got.dtype == dtype
            e, at, g, r = worst_ulps(
                got, pts, functools.partial(logits_value_mp, t=t, pw=pw), dtype
            )
            assert e <= 4.0, (
                f"{np.dtype(dtype).name} {LOGITS}{suffix}(x={at!r}, t={t}, pos_weight={pw}) "
                f"= {g!r}: {e:.2f} ulp from {float(r)!r}"
            )


@pytest.mark.parametrize("pw", [1.0, 6.375, 1e-3])
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_logits_value_ulp_subnormal_target(dtype: DType, pw: float) -> None:
    """A subnormal target (or pw·t below the normals) and a very negative
    logit: the value pw·t·|x| is normal and ≤ 4 ulp from mpmath, not the
    product of a rounded subnormal pw·t (which is up to 6% off)."""
    info = np.finfo(dtype)
    tiny = float(info.smallest_subnormal)
    ts = [tiny, 3 * tiny, 1000 * tiny, float(info.tiny) / 2]
    xs = [-3.2e19, -1e30, -float(info.max) / 8] if dtype == np.float32 else [-1e300, -1e250]
    pts = [(x, t) for x in xs for t in ts]
    x = np.asarray([p[0] for p in pts], dtype=dtype)
    t = np.asarray([p[1] for p in pts], dtype=dtype)
    pos_weight = None if pw == 1.0 else np.full(x.size, pw, dtype=dtype)
    pw_d = float(np.asarray(pw, dtype=dtype))
    got = np.asarray(run(LOGITS, "", x, t, pos_weight, reduction="none"))
    for g, (xi, ti) in zip(got.tolist(), pts):
        want = logits_value_mp(float(np.asarray(xi, dtype=dtype)), ti, pw_d)
        e = ulps_from(g, want, dtype)
        assert e <= 4.0, f"{np.dtype(dtype).name} x={xi!r} t={ti!r} pw={pw}: {g!r}, {e:.1f} ulp"


@pytest.mark.parametrize("t", [0.0, 1.0, 0.25])
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_logits_grad_ulp(dtype: DType, t: float) -> None:
    """The gradient ≤ 4 ulp from mpmath over the whole finite range,
    fractional targets included, where (1-t)·sig(x) - pw·t·sig(-x) is a
    difference with a zero (which has tests of its own after this one)."""
    pts = logit_points(dtype)
    x = np.asarray(pts).astype(dtype)
    ts = np.full_like(x, t)
    for pw in PW_ULP:
        pos_weight = None if pw == 1.0 else np.full(x.size, pw)
        outs = {
            "grad none": run(LOGITS, "_grad", x, ts, pos_weight, reduction="none"),
            "grad sum": run(LOGITS, "_grad", x, ts, pos_weight, reduction="sum"),
            "value_and_grad none": run(
                LOGITS, "_value_and_grad", x, ts, pos_weight, reduction="none"
            )[1],
            "grad_hess": run(LOGITS, "_grad_hess", x, ts, pos_weight)[0],
        }
        for label, got in outs.items():
            e, at, g, r = worst_ulps(got, pts, functools.partial(logits_grad_mp, t=t, pw=pw), dtype)
            assert e <= 4.0, (
                f"{np.dtype(dtype).name} {label}(x={at!r}, t={t}, pos_weight={pw}) = {g!r}: "
                f"{e:.2f} ulp from {float(r)!r}"
            )


def points_near(center: float, dtype: DType) -> list[float]:
    """``center`` rounded to ``dtype``, its 8 neighbours on either side, and
    points 1e-4 .. 3e-2 (relative) away."""
    c = np.asarray(center).astype(dtype)
    pts = [c]
    up, down = c, c
    for _ in range(8):
        up, down = np.nextafter(up, dtype(math.inf)), np.nextafter(down, dtype(-math.inf))
        pts += [up, down]
    pts += [
        np.asarray(center * (1 + s * d)).astype(dtype)
        for d in (1e-4, 1e-3, 1e-2, 3e-2)
        for s in (1, -1)
    ]
    return [float(p) for p in pts]


@pytest.mark.parametrize("t", [0.25, 0.5, 0.9])
@pytest.mark.parametrize("pw", [1.0, 3.0, 1e-3])
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_logits_grad_ulp_near_zero_of_gradient(dtype: DType, t: float, pw: float) -> None:
    """Next to the gradient's zero x* = ln(pw·t/(1-t)) at a fractional target
    the two terms of (1-t)·sig(x) - pw·t·sig(-x) cancel; the gradient must
    still be ≤ 4 ulp of itself: there the library recomputes it in
    more precision. Points: x* rounded, its 8 neighbours each side, and points
    1e-4 .. 3e-2 away."""
    tt = float(dtype(t))  # the target and weight as the library sees them
    pww = float(dtype(pw))
    center = math.log(pww * tt / (1 - tt)) if pww * tt != 1 - tt else 1e-3
    pts = points_near(center, dtype)
    x = np.asarray(pts).astype(dtype)
    pos_weight = None if pw == 1.0 else np.full(x.size, pw, dtype=dtype)
    ts = np.full_like(x, t)
    for label, got in {
        "grad": run(LOGITS, "_grad", x, ts, pos_weight, reduction="none"),
        "grad_hess": run(LOGITS, "_grad_hess", x, ts, pos_weight)[0],
    }.items():
        ref = functools.partial(logits_grad_mp, t=tt, pw=pww)
        e, at, g, r = worst_ulps(got, pts, ref, dtype)
        assert e <= 4.0, (
            f"{np.dtype(dtype).name} {label}(x={at!r}, t={t}, pw={pw}) = {g!r}: "
            f"{e:.2f} ulp from {float(r)!r}"
        )


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_logits_grad_ulp_soft_targets_random(dtype: DType) -> None:
    """Random soft targets and pos_weight, logits at random distances (1e-8 ..
    3 relative) from the gradient's zero or anywhere, and the floats nearest
    to the zero and their neighbours: ≤ 4 ulp, whichever of the
    fast, precise and fixed-point formulas answers."""
    rng = np.random.default_rng(5)
    n = 1200
    t = rng.uniform(0.0, 1.0, n).astype(dtype)
    pw = np.exp(rng.uniform(-4.0, 4.0, n)).astype(dtype)
    zero = np.log(pw.astype(np.float64) * t / (1.0 - t.astype(np.float64)))
    away = 10.0 ** rng.uniform(-8.0, 0.5, n) * np.where(rng.random(n) < 0.5, -1.0, 1.0)
    x = (zero + away * np.maximum(1.0, np.abs(zero))).astype(dtype)
    x[: n // 4] = rng.normal(0.0, 6.0, n // 4).astype(dtype)
    # The deepest cancellations: x* rounded to the dtype and its neighbours
    # (x* to more than float64's digits for float64).
    with mp.workdps(40):
        for i in range(n // 4, n // 2):
            ti, pwi = mp.mpf(float(t[i])), mp.mpf(float(pw[i]))
            zero[i] = float(mp.log(pwi * ti / (1 - ti)))
    near = zero[n // 4 : n // 2].astype(dtype)
    step = rng.integers(-2, 3, near.size)
    x[n // 4 : n // 2] = near + step * np.spacing(near)
    # One call over all elements (chunks mix slow and fast lanes), pos_weight
    # per element through a 2-D layout with one column per element.
    got = run(LOGITS, "_grad", x[None, :], t[None, :], pw, reduction="none")[0]
    worst = (0.0, 0)
    for i in range(n):
        xi, ti, pwi = float(x[i]), float(t[i]), float(pw[i])
        r = logits_grad_mp(xi, ti, pwi)
        e = ulps_from(float(got[i]), r, dtype)
        worst = max(worst, (e, i))
    e, i = worst
    assert e <= 4.0, (
        f"{np.dtype(dtype).name} grad(x={float(x[i])!r}, t={float(t[i])!r}, "
        f"pw={float(pw[i])!r}) = {float(got[i])!r}: {e:.2f} ulp"
    )


@pytest.mark.parametrize("t", [0.0, 1.0, 0.25])
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_bce_value_and_grad_ulp(dtype: DType, t: float) -> None:
    """binary_cross_entropy's value and gradient ≤ 4 ulp from
    mpmath over (0, 1), its ends and the -100 clamp region included."""
    pts = prob_points(dtype)
    p = np.asarray(pts).astype(dtype)
    ts = np.full_like(p, t)
    eps = eps_clamp(dtype)
    checks: dict[str, tuple[Array, Callable[[float], Any]]] = {}
    v = run(BCE, "", p, ts, reduction="none")
    vg = run(BCE, "_value_and_grad", p, ts, reduction="none")
    value_ref: Callable[[float], Any] = lambda q: bce_value_mp(q, t, eps)  # noqa: E731
    grad_ref: Callable[[float], Any] = lambda q: bce_grad_mp(q, t, eps)  # noqa: E731
    checks["value"] = (v, value_ref)
    checks["value_and_grad value"] = (vg[0], value_ref)
    checks["value_and_grad grad"] = (vg[1], grad_ref)
    checks["grad sum"] = (run(BCE, "_grad", p, ts, reduction="sum"), grad_ref)
    checks["grad_hess grad"] = (run(BCE, "_grad_hess", p, ts)[0], grad_ref)
    for label, (got, ref) in checks.items():
        assert got.dtype == dtype
        e, at, g, r = worst_ulps(got, pts, ref, dtype)
        assert e <= 4.0, (
            f"{np.dtype(dtype).name} {BCE} {label}(p={at!r}, t={t}) = {g!r}: "
            f"{e:.2f} ulp from {float(r)!r}"
        )


@functools.cache
def logits_hess_mp(x: float, t: float, pw: float = 1.0) -> Any:
    """c·sig(x)·sig(-x) to 50 digits."""
    X, T, P = mp.mpf(x), mp.mpf(t), mp.mpf(pw)
    c = 1 + (P - 1) * T
    return c / ((1 + mp.exp(-X)) * (1 + mp.exp(X)))


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_small_pos_weight_keeps_its_digits(dtype: DType) -> None:
    """pos_weight < 1 with a hard label t = 1 (or a soft one near 1): the
    weight c = 1 + (pw-1)·t is pw (or (1-t) + pw·t), a sum of non-negative
    terms; the value c·softplus(-x) (x ≥ 0) must stay ≤ 4 ulp and
    the second derivative c·sig(x)·sig(-x) close too. Evaluating
    1 + (pw-1)·t in the compute dtype cancels: relative error ~eps/pw."""
    pws = [1e-3, 0.01, 0.1, 0.3, 0.7]
    if dtype == np.float64:
        pws.append(1e-6)
    xs = [0.0, 0.5, 2.0, 10.0, -1.0, -3.0]
    ts = [1.0, 0.9]
    pts = [(x, t, pw) for x in xs for t in ts for pw in pws]
    x = np.asarray([p[0] for p in pts]).astype(dtype)
    t = np.asarray([p[1] for p in pts]).astype(dtype)
    pw_held = np.asarray([p[2] for p in pts]).astype(dtype)
    v = run(LOGITS, "", x, t, pw_held, reduction="none")
    _, h = run(LOGITS, "_grad_hess", x, t, pw_held)
    failures = []
    for k in range(len(pts)):
        args = (float(x[k]), float(t[k]), float(pw_held[k]))
        ev = ulps_from(float(v[k]), logits_value_mp(*args), dtype)
        eh = ulps_from(float(h[k]), logits_hess_mp(*args), dtype)
        if ev > 4.0:
            failures.append(f"value(x, t, pw={args}) = {v[k]!r}: {ev:.3g} ulp")
        if eh > 8.0:
            failures.append(f"hess(x, t, pw={args}) = {h[k]!r}: {eh:.3g} ulp")
    assert not failures, f"{len(failures)} of {2 * len(pts)} off:\n" + "\n".join(failures[:12])


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_tiny_losses_are_exact(dtype: DType) -> None:
    """x = 50, t = 1 gives e^-50 (not 0), and so on down to the subnormals:
    ≤ 4 ulp (absolute, in subnormal spacings, once below the normals)."""
    far = [50.0, 60.0, 80.0, 87.0, 100.0, 103.0]
    if dtype == np.float64:
        far += [200.0, 700.0, 708.0, 720.0, 740.0, 745.0]
    cases = [(x, 1.0) for x in far] + [(-x, 0.0) for x in far]
    x = np.asarray([c[0] for c in cases]).astype(dtype)
    t = np.asarray([c[1] for c in cases]).astype(dtype)
    v = run(LOGITS, "", x, t, reduction="none")
    g = run(LOGITS, "_grad", x, t, reduction="none")
    for k, (xi, ti) in enumerate(cases):
        ev = ulps_from(float(v[k]), logits_value_mp(xi, ti), dtype)
        eg = ulps_from(float(g[k]), logits_grad_mp(xi, ti), dtype)
        assert ev <= 4.0, f"value({xi}, {ti}) = {v[k]!r}, exact {float(logits_value_mp(xi, ti))!r}"
        assert eg <= 4.0, f"grad({xi}, {ti}) = {g[k]!r}, exact {float(logits_grad_mp(xi, ti))!r}"
    assert v[0] > 0 and v[len(far)] > 0, "e^-50 flushed to 0"
    # the sum keeps them too
    s = run(LOGITS, "", x[:1], t[:1], reduction="sum")
    assert abs(s - math.exp(-50.0)) <= 4 * np.spacing(dtype(math.exp(-50.0))), s


# ------------------------------------------------------ special values --

INF = math.inf


@pytest.mark.parametrize("pw", [1.0, 2.5, 0.0, 0.25])
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_logits_at_infinity(dtype: DType, pw: float) -> None:
    """The limits: x=-inf,t=0 → 0; x=+inf,t=1 → 0; x=-inf,t=1 → +inf (0 if
    pw = 0); x=+inf,t=0 → +inf. Gradients (1-t)·sig(x) - pw·t·sig(-x) are finite:
    0, ±1, -pw, ...; second derivatives 0. Never nan."""
    cases = [(-INF, 0.0), (INF, 1.0), (-INF, 1.0), (INF, 0.0), (-INF, 0.5), (INF, 0.5)]
    cases += [(INF, 0.25), (-INF, 0.75)]
    x = np.asarray([c[0] for c in cases]).astype(dtype)
    t = np.asarray([c[1] for c in cases]).astype(dtype)
    pos_weight = np.full(len(cases), pw)
    want_v, want_g = [], []
    for xi, ti in cases:
        coef = (1 - ti) if xi > 0 else pw * ti  # of |x| in the value
        want_v.append(0.0 if coef == 0 else INF)
        want_g.append((1 - ti) if xi > 0 else -pw * ti)
    v = run(LOGITS, "", x, t, pos_weight, reduction="none")
    vv, vg = run(LOGITS, "_value_and_grad", x, t, pos_weight, reduction="none")
    g, h = run(LOGITS, "_grad_hess", x, t, pos_weight)
    g2 = run(LOGITS, "_grad", x, t, pos_weight, reduction="none")
    for k, (xi, ti) in enumerate(cases):
        what = f"{np.dtype(dtype).name} x={xi} t={ti} pos_weight={pw}"
        assert v[k] == want_v[k] and vv[k] == want_v[k], f"{what}: value {v[k]!r} {vv[k]!r}"
        if want_v[k] == 0:
            assert not np.signbit(v[k]), f"{what}: value is -0.0"
        for label, arr in (("grad", g2), ("value_and_grad", vg), ("grad_hess", g)):
            assert arr[k] == dtype(want_g[k]), f"{what}: {label} {arr[k]!r} != {want_g[k]}"
        assert h[k] == 0, f"{what}: hess {h[k]!r}"
    want_sum = INF if INF in want_v else 0.0
    assert run(LOGITS, "", x, t, pos_weight, reduction="sum") == want_sum
    # the zero-loss cases alone reduce to exactly 0
    zero = [k for k, w in enumerate(want_v) if w == 0]
    s = run(LOGITS, "", x[zero], t[zero], pos_weight[zero], reduction="mean")
    assert s == 0.0 and not math.copysign(1.0, s) < 0


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_logits_finite_for_finite_input(dtype: DType) -> None:
    """Finite logits and t ∈ [0, 1] (pos_weight ≤ 1, so the value is at most
    |x| + ln 2) never give nan or inf, up to ±max."""
    big = float(np.finfo(dtype).max)
    xs = [big, -big, big / 3, 1e30, -1e30, 1e4, -1e4, 89.0, -89.0, 750.0, -750.0]
    xs += [float(np.finfo(dtype).tiny), -float(np.finfo(dtype).smallest_subnormal), 0.0, 1.0]
    ts = [0.0, 1.0, 0.25, 0.5, 1e-3, 0.999]
    pairs = [(x, t) for x in xs for t in ts]
    x = np.asarray([p[0] for p in pairs]).astype(dtype)
    t = np.asarray([p[1] for p in pairs]).astype(dtype)
    for pw in (None, np.full(x.size, 0.5), np.zeros(x.size)):
        v = run(LOGITS, "", x, t, pw, reduction="none")
        g, h = run(LOGITS, "_grad_hess", x, t, pw)
        for label, arr in (("value", v), ("grad", g), ("hess", h)):
            bad = np.flatnonzero(~np.isfinite(arr))
            assert bad.size == 0, (
                f"{label} not finite at x={x[bad[0]]!r}, t={t[bad[0]]!r}: {arr[bad[0]]!r}"
            )
        assert np.all(v >= 0) and np.all(h >= 0)


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("name", BINARY)
def test_nan_propagates(name: str, dtype: DType) -> None:
    """NaN logits (and NaN targets, for the cross-entropies) give NaN value, gradient
    and second derivative there, and NaN reductions; no exception, no warning. (The focal
    loss refuses NaN targets: tests/test_focal.py.)"""
    n = 70
    x, t = make_data(name, n, dtype, seed=5, specials=False)
    nan_x, nan_t = [3, 40, 69], [] if name == FOCAL else [10, 64]
    if name != BCE:
        x[nan_x] = np.nan
    t[nan_t] = np.nan
    nans = sorted((nan_x if name != BCE else []) + nan_t)
    v = run(name, "", x, t, reduction="none")
    g, h = run(name, "_grad_hess", x, t)
    for label, arr in (("value", v), ("grad", g), ("hess", h)):
        assert np.flatnonzero(np.isnan(arr)).tolist() == nans, f"{label}: {arr}"
    for red in ("mean", "sum"):
        assert math.isnan(run(name, "", x, t, reduction=red))
        vg = run(name, "_value_and_grad", x, t, reduction=red)
        assert math.isnan(vg[0])
        assert np.flatnonzero(np.isnan(vg[1])).tolist() == nans


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_bce_certain_predictions(dtype: DType) -> None:
    """p = t ∈ {0, 1}: +0.0 (not -0.0), gradient 0. p = 1 - t: the clamp,
    value exactly 100, gradient ±1/1e-12. p = -0.0 is a valid probability."""
    eps = eps_clamp(dtype)
    p = np.asarray([0.0, 1.0, -0.0, 0.0, 1.0, -0.0]).astype(dtype)
    t = np.asarray([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]).astype(dtype)
    v = run(BCE, "", p, t, reduction="none")
    g, h = run(BCE, "_grad_hess", p, t)
    for k in range(3):
        assert v[k] == 0 and not np.signbit(v[k]), f"p={p[k]}, t={t[k]}: value {v[k]!r}"
        assert g[k] == 0, f"p={p[k]}, t={t[k]}: grad {g[k]!r}"
        assert h[k] == 1, f"p={p[k]}, t={t[k]}: hess {h[k]!r}"
    for k in range(3, 6):
        assert v[k] == 100, f"p={p[k]}, t={t[k]}: value {v[k]!r}"
        want_g = (float(p[k]) - float(t[k])) / eps
        assert g[k] == dtype(want_g), f"p={p[k]}, t={t[k]}: grad {g[k]!r} != {want_g!r}"
    for red in ("sum", "mean"):
        s = run(BCE, "", p[:3], t[:3], reduction=red)
        assert s == 0.0 and math.copysign(1.0, s) > 0, f"{red}: {s!r}"
    assert run(BCE, "", p, t, reduction="sum") == 300.0
    # -0.0 behaves as +0.0
    for tv in (0.0, 1.0, 0.5):
        a = run(BCE, "_value_and_grad", np.asarray([-0.0]).astype(dtype), [tv], reduction="none")
        b = run(BCE, "_value_and_grad", np.asarray([0.0]).astype(dtype), [tv], reduction="none")
        assert a[0] == b[0] and a[1] == b[1], f"t={tv}: {a} vs {b}"


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_bce_log_clamp(dtype: DType) -> None:
    """Each log is clamped at -100 (PyTorch): p < e^-100 with t = 1 costs
    exactly 100; just above the clamp, -log p."""
    tiny = [1e-50, 1e-300, 5e-324] if dtype == np.float64 else [1e-44, 1.4e-45]
    p = np.asarray([*tiny, math.exp(-99.5), math.exp(-50.0)]).astype(dtype)
    p = p[p > 0]
    t = np.ones_like(p)
    v = run(BCE, "", p, t, reduction="none")
    for k, pk in enumerate(p.tolist()):
        want = min(100.0, -math.log(pk))
        assert abs(v[k] - want) <= 4 * np.spacing(dtype(want)), f"p={pk!r}: {v[k]!r} != {want!r}"
    q = (1.0 - p).astype(dtype)  # the other log: 1 - p near 1
    assert np.all(run(BCE, "", q, np.zeros_like(q), reduction="none") <= 100.0)


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("name", [BCE, LOGITS])  # the focal loss checks: tests/test_focal.py
def test_targets_not_validated(name: str, dtype: DType) -> None:
    """Targets outside [0, 1] are computed with the same formulas (soft,
    smoothed or plain wrong labels are the caller's business)."""
    x, _ = make_data(name, 60, dtype, seed=9, specials=False)
    if name == LOGITS:
        x = np.clip(x, -30, 30)
    t = np.resize(np.asarray([-1.0, 2.0, 1.5, -0.25, 0.5, 3.0]), 60).astype(dtype)
    for red in REDUCTIONS:
        ref = reference(name, x, t, dtype=dtype, reduction=red)
        v = run(name, "", x, t, reduction=red)
        g, h = run(name, "_grad_hess", x, t, reduction=red)
        if red == "none":
            assert_close(v, ref.value, ref.value_scale, dtype, ulps=8, rtol=1e-11, what="value")
        assert_close(g, ref.grad, ref.grad_scale, dtype, ulps=8, rtol=1e-11, what=f"grad {red}")
        assert_close(h, ref.hess, ref.hess_scale, dtype, ulps=8, rtol=1e-11, what=f"hess {red}")


# ----------------------------------------------------------------- errors --


# Shapes that do not broadcast to the input's (those that do are test_pos_weight_broadcasts').
BAD_PW_SHAPES: list[tuple[tuple[int, ...], tuple[int, ...]]] = [
    ((4, 3), (2,)),
    ((4, 3), (4,)),
    ((4, 3), (3, 1)),
    ((4, 3), (0,)),
    ((4, 3), (12,)),
    ((4, 3), (2, 3)),
    ((4, 3), (4, 2)),
    ((4, 3), (1, 4, 3)),
    ((4, 3), (4, 3, 1)),
    ((5,), (4,)),
    ((5,), (5, 1)),
    ((5,), (1, 1)),
    ((2, 3, 4), (3,)),
    ((2, 3, 4), (2, 1, 3)),
    ((2, 3, 4), (3, 3, 4)),
    ((), (2,)),
    ((), (1, 1)),
]


@pytest.mark.parametrize(("xs", "ps"), BAD_PW_SHAPES, ids=str)
@pytest.mark.parametrize("suffix", FORMS)
def test_pos_weight_wrong_shape(suffix: str, xs: tuple[int, ...], ps: tuple[int, ...]) -> None:
    """ValueError naming pos_weight, its shape and the input's shape (or its last axis)."""
    x = np.zeros(xs)
    with pytest.raises(ValueError) as excinfo:
        fn(LOGITS, suffix)(x, x, pos_weight=np.ones(ps))
    text = str(excinfo.value)
    assert "pos_weight" in text, text
    assert re.search(shape_pattern(ps), text), f"{xs} / {ps}: pos_weight's shape not in {text!r}"
    expected = (xs[-1],) if xs else (1,)
    assert re.search(shape_pattern(expected), text) or re.search(shape_pattern(xs), text), (
        f"{xs} / {ps}: the input's shape or last axis not in {text!r}"
    )


BAD_PW_VALUES = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("bad", BAD_PW_VALUES, ids=str)
@pytest.mark.parametrize("suffix", FORMS)
def test_pos_weight_bad_values(suffix: str, bad: float) -> None:
    """NaN or infinite pos_weight: ValueError naming pos_weight and the value."""
    for dtype in FLOATS:
        for j in (0, 2):
            x, t = make_logits((5, 3), dtype, seed=1)
            pw = np.ones(3)
            pw[j] = bad
            with pytest.raises(ValueError) as excinfo:
                fn(LOGITS, suffix)(x, t, pos_weight=pw)
            text = str(excinfo.value)
            assert "pos_weight" in text, text
            assert names_value(text, bad, np.float64), f"{bad!r} not in {text!r}"


def test_pos_weight_negative_zero_in_float32_is_zero() -> None:
    """-0.0 is a pos_weight of 0, the same as 0.0. -1e-300 given for a float32
    computation rounds to -0.0: the same again."""
    for dtype in FLOATS:
        x, t = make_logits((5, 3), dtype, seed=1)
        want = run(LOGITS, "_value_and_grad", x, t, [0.0, 1.0, 2.0], reduction="none")
        got = run(LOGITS, "_value_and_grad", x, t, [-0.0, 1.0, 2.0], reduction="none")
        assert_bitwise(got[0], want[0], "value")
        np.testing.assert_array_equal(got[1], want[1])
    x, t = make_logits((5, 3), np.float32, seed=1)
    got = run(LOGITS, "", x, t, [-1e-300, 1.0, 2.0], reduction="none")
    assert_bitwise(got, run(LOGITS, "", x, t, [0.0, 1.0, 2.0], reduction="none"))


@pytest.mark.parametrize("suffix", FORMS)
def test_pos_weight_bad_dtype(suffix: str) -> None:
    x = np.zeros((4, 3))
    for bad, pattern in (
        (np.ones(3, dtype=complex), r"complex"),
        (np.array(["a", "b", "c"]), r"U1|str|unicode"),
        (np.array([1.0, 2.0, 3.0], dtype=object), r"object|\bO\b"),
    ):
        with pytest.raises(TypeError) as excinfo:
            fn(LOGITS, suffix)(x, x, pos_weight=bad)
        text = str(excinfo.value)
        assert "pos_weight" in text and re.search(pattern, text), text


# ---------------------------------------------------------- out=, pos_weight --

Failing = Callable[[Array], Any]
N_ERR = 3 * 4096 + 5


def bad_pos_weight_calls(suffix: str, dtype: DType) -> list[tuple[str, Failing, Array]]:
    """(label, call(out) with a bad pos_weight, the sentinel-filled ``out`` it gets)."""
    n = N_ERR
    x, t = make_logits(n, dtype, seed=1, specials=False)
    f = fn(LOGITS, suffix)

    def call(*args: Any, **kwargs: Any) -> Failing:
        arrays = args if args else (x, t)
        return lambda o: f(*arrays, out=o, **kwargs)

    def sentinel(shape: tuple[int, ...] = (n,)) -> Array:
        return np.full(shape, 7.25, dtype=dtype)

    pw_late = np.ones(n)
    pw_late[-1] = -math.inf
    pw_nan = np.ones(n)
    pw_nan[5000] = math.nan
    x2, t2 = x[:4095].reshape(819, 5), t[:4095].reshape(819, 5)
    return [
        ("bad pos_weight, last", call(pos_weight=pw_late), sentinel()),
        ("nan pos_weight", call(pos_weight=pw_nan), sentinel()),
        ("pos_weight shape", call(pos_weight=np.ones(n - 1)), sentinel()),
        ("pos_weight 2-D", call(pos_weight=np.ones((1, n - 1))), sentinel()),
        ("pos_weight dtype", call(pos_weight=np.ones(n, dtype=complex)), sentinel()),
        ("pos_weight rows", call(x2, t2, pos_weight=np.ones((5, 1))), sentinel((819, 5))),
    ]


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("suffix", ["_grad", "_value_and_grad"])
def test_out_untouched_on_bad_pos_weight(suffix: str, dtype: DType) -> None:
    """A pos_weight of the wrong shape, dtype or values (a bad one last) raises, and
    ``out`` keeps its sentinel."""
    failures = out_left_alone(bad_pos_weight_calls(suffix, dtype))
    assert not failures, f"{LOGITS}{suffix} {np.dtype(dtype).name}: " + "; ".join(failures)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pw", [1e-30, -1e-30, 2.0])
def test_infinite_logit_with_an_underflowing_pos_weight_times_target(
    dtype: type[np.floating[Any]], pw: float
) -> None:
    """At x = -inf the value is -pw·t·x: infinite with the sign of pw whenever pw·t is not 0,
    even where pw·t underflows in the dtype (found by the fuzzer: NaN before)."""
    t = 7.5e-42 if dtype == np.float32 else 1e-300
    x = np.array([-np.inf, np.inf, -np.inf], dtype=dtype)
    y = np.array([t, t, 0.0], dtype=dtype)
    v = api("binary_cross_entropy_with_logits")(
        x, y, pos_weight=np.array([pw], dtype=dtype), reduction="none"
    )
    np.testing.assert_array_equal(v, [np.copysign(np.inf, pw), np.inf, 0.0])
