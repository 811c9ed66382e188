"""The numbers fastloss must be right about: the documented accuracy of the regression
losses.

* Reductions at n = 10**7 against ``math.fsum`` of float64 terms: relative
  error ≤ 1e-6 for float32, ≤ 1e-13 for float64.
* ``log_cosh`` and its gradient ``tanh`` ≤ 4 ulp from mpmath, both dtypes,
  over the finite range.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from reference import (
    F64,
    FLOATS,
    Array,
    DType,
    assert_elementwise,
    call,
    difference,
    elementwise,
    log_cosh_mp,
    tanh_mp,
    ulps_from,
)

N_LARGE = 10**7


@pytest.fixture(scope="module")
def large() -> Iterator[tuple[F64, F64]]:
    """10**7 (input, target) pairs whose differences have one sign mostly and
    a large mean: a naive float32 running sum loses several digits."""
    rng = np.random.default_rng(2024)
    x = rng.standard_normal(N_LARGE) + 3.0
    y = 0.25 * rng.standard_normal(N_LARGE)
    yield x, y


@pytest.mark.parametrize("name", ["mse", "mae"])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_large_reductions(large: tuple[F64, F64], name: str, dtype: DType) -> None:
    x64, y64 = large
    x, y = x64.astype(dtype), y64.astype(dtype)
    d = (x - y).astype(np.float64)  # in dtype, as the library computes it
    # float64 terms: exact for float32 d; the library's own terms for float64
    terms = d * d if name == "mse" else np.abs(d)
    exact = math.fsum(terms.tolist())
    del d, terms
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for red, want in (("sum", exact), ("mean", exact / N_LARGE)):
        got = call(name, "", x, y, reduction=red)
        assert type(got) is float
        rel = abs(got - want) / want
        assert rel <= tol, (
            f"{name} {np.dtype(dtype).name} {red}: got {got!r}, exact {want!r}, rel {rel:.3g}"
        )
        v, _ = call(name, "_value_and_grad", x, y, reduction=red)
        assert v == got, f"{name} value_and_grad {red}: {v!r} != {got!r}"


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_large_weighted_mean(large: tuple[F64, F64], dtype: DType) -> None:
    """Σw·l/Σw at 2·10**6 with weights in [0, 2): both sums exact to the bound."""
    n = 2 * 10**6
    x64, y64 = large
    x, y = x64[:n].astype(dtype), y64[:n].astype(dtype)
    w = np.random.default_rng(9).uniform(0.0, 2.0, n).astype(dtype)
    d = (x - y).astype(np.float64)
    terms = w.astype(np.float64) * (d * d)
    want = math.fsum(terms.tolist()) / math.fsum(w.astype(np.float64).tolist())
    got = call("mse", "", x, y, sample_weight=w)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    assert abs(got - want) <= tol * want, f"{got!r} vs {want!r}"


# ------------------------------------------------------------- log_cosh --


def named_points(dtype: DType) -> list[float]:
    """Points where log_cosh changes formula or range (0, the subnormals, 1, the
    thresholds of exp, the largest float), with their neighbours and signs."""
    info = np.finfo(dtype)
    one = dtype(1.0)
    pts: list[float] = [
        0.0,
        1e-6,
        1e-20,
        0.5,
        float(np.nextafter(one, dtype(0))),
        1.0,
        float(np.nextafter(one, dtype(2))),
        3.0,
        20.0,
        1e4,
        1e-3,
        0.1,
        0.6,
        0.75,
        2.0,
        8.0,
        9.0,
        9.5,
        10.0,
        15.0,
        19.0,
        30.0,
        44.0,
        88.0,
        100.0,
        400.0,
        710.0,
        1e6,
        1e30,
        float(info.tiny),
        float(info.smallest_subnormal),
        float(info.max),
    ]
    pts += [float(np.nextafter(dtype(p), dtype(0))) for p in (0.5, 2.0, 20.0)]
    return [float(np.asarray(s * p).astype(dtype)) for p in pts for s in (1.0, -1.0)]


def sweep(dtype: DType, count: int, seed: int) -> list[float]:
    """Log-uniform |d| over the range where log_cosh is not trivial, plus a
    sparse sweep over the whole finite range; random signs."""
    rng = np.random.default_rng(seed)
    lo, hi = (-12.0, 3.0)
    dense = 10.0 ** rng.uniform(lo, hi, count)
    top = math.log10(float(np.finfo(dtype).max))
    bottom = math.log10(float(np.finfo(dtype).tiny))
    sparse = 10.0 ** rng.uniform(bottom, top, count // 10)
    mags = np.concatenate([dense, sparse]).astype(dtype)
    signs = np.where(rng.random(mags.size) < 0.5, -1, 1).astype(dtype)
    return [float(v) for v in mags * signs]


def worst(got: Array, points: list[float], dtype: DType, ref: Any) -> tuple[float, float, float]:
    """(worst ulp error, at d, got there) of ``got`` against ``ref(d)``."""
    result = (0.0, math.nan, math.nan)
    for g, p in zip(np.asarray(got, dtype=np.float64).tolist(), points):
        e = ulps_from(g, ref(p), dtype)
        if e > result[0] or math.isnan(e):
            result = (e, p, g)
    return result


@pytest.fixture(scope="module", params=FLOATS, ids=["f32", "f64"])
def log_cosh_points(request: pytest.FixtureRequest) -> Iterator[tuple[DType, list[float]]]:
    dtype: DType = request.param
    yield dtype, named_points(dtype) + sweep(dtype, 2000, seed=17)


def test_log_cosh_value_ulp(log_cosh_points: tuple[DType, list[float]]) -> None:
    dtype, pts = log_cosh_points
    d = np.asarray(pts).astype(dtype)
    got = call("log_cosh", "", d, np.zeros_like(d), reduction="none")
    assert got.dtype == dtype
    e, at, g = worst(got, pts, dtype, log_cosh_mp)
    assert e <= 4.0, f"log_cosh({at!r}) = {g!r}: {e:.2f} ulp from {float(log_cosh_mp(at))!r}"


def test_log_cosh_grad_ulp(log_cosh_points: tuple[DType, list[float]]) -> None:
    dtype, pts = log_cosh_points
    d = np.asarray(pts).astype(dtype)
    for red in ("sum", "none"):
        got = call("log_cosh", "_grad", d, np.zeros_like(d), reduction=red)
        e, at, g = worst(got, pts, dtype, tanh_mp)
        assert e <= 4.0, f"log_cosh_grad({at!r}) = {g!r}: {e:.2f} ulp from {float(tanh_mp(at))!r}"
    v, g2 = call("log_cosh", "_value_and_grad", d, np.zeros_like(d), reduction="none")
    e, at, g = worst(g2, pts, dtype, tanh_mp)
    assert e <= 4.0, f"log_cosh_value_and_grad grad({at!r}) = {g!r}: {e:.2f} ulp"
    e, at, g = worst(v, pts, dtype, log_cosh_mp)
    assert e <= 4.0, f"log_cosh_value_and_grad value({at!r}) = {g!r}: {e:.2f} ulp"


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_log_cosh_with_target(dtype: DType) -> None:
    """d = input - target is rounded in the dtype first, as the library does."""
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(600) * 10 ** rng.uniform(-4, 1.5, 600)).astype(dtype)
    y = (rng.standard_normal(600) * 10 ** rng.uniform(-4, 1.5, 600)).astype(dtype)
    pts = difference(x, y, dtype).tolist()
    got = call("log_cosh", "", x, y, reduction="none")
    e, at, g = worst(got, pts, dtype, log_cosh_mp)
    assert e <= 4.0, f"log_cosh at d={at!r}: {g!r} is {e:.2f} ulp off"
    grad = call("log_cosh", "_grad", x, y, reduction="sum")
    e, at, g = worst(grad, pts, dtype, tanh_mp)
    assert e <= 4.0, f"tanh at d={at!r}: {g!r} is {e:.2f} ulp off"


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_log_cosh_hessian(dtype: DType) -> None:
    """1 - tanh² = sech², against the float64 formula 4e/(1+e)² (e = exp(-2|d|))."""
    pts = named_points(dtype) + sweep(dtype, 500, seed=5)
    d = np.asarray(pts).astype(dtype)
    _, h = call("log_cosh", "_grad_hess", d, np.zeros_like(d))
    ref = elementwise("log_cosh", d.astype(np.float64))[2]
    atol = float(np.finfo(dtype).tiny) * 4
    assert_elementwise(h, ref, dtype, ulps=8.0, rtol=1e-13, atol=atol, what="sech²")
    assert np.all((h >= 0) & (h <= 1))


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_log_cosh_finite_for_finite_input(dtype: DType) -> None:
    big = float(np.finfo(dtype).max)
    d = np.asarray([big, -big, big / 3, 1e30, -88.8, 89.0, 710.0, 1e4]).astype(dtype)
    v = call("log_cosh", "", d, np.zeros_like(d), reduction="none")
    assert np.all(np.isfinite(v)), v
    g = call("log_cosh", "_grad", d, np.zeros_like(d), reduction="sum")
    np.testing.assert_array_equal(np.abs(g), np.ones_like(g))
