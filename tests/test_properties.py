"""Properties over random inputs (hypothesis, derandomized).

* The gradient is the derivative of the reduced value, and the second
  derivative that of the gradient: central finite differences in float64,
  away from the kinks of the non-smooth losses.
* ``NAME_value_and_grad`` is bitwise ``(NAME, NAME_grad)``, for any shape,
  reduction, weights and dtype; ``NAME_grad_hess`` agrees with ``NAME_grad``.
* The reductions agree with each other: sum = Σ none, mean = sum / Σw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reference import (
    DYADIC_PARAMS,
    FLOATS,
    KINKS,
    LOSSES,
    OTHER_PARAMS,
    PARAM,
    REDUCTIONS,
    Array,
    DType,
    assert_bitwise,
    assert_elementwise,
    broadcast_weight,
    call,
    param_value,
)

PROPERTY = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Case:
    name: str
    dtype: DType
    x: Array
    y: Array
    weight: Array | None
    reduction: str
    param: float | None

    def kwargs(self) -> dict[str, Any]:
        return {"param": self.param, "reduction": self.reduction, "sample_weight": self.weight}


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Any loss, dtype, shape (1..3-D, empty sides too), weights and reduction."""
    name = draw(st.sampled_from(LOSSES))
    dtype: DType = draw(st.sampled_from(FLOATS))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=9))
    values = st.floats(-1e3, 1e3, width=32)
    x = draw(hnp.arrays(dtype, shape, elements=values))
    y = draw(hnp.arrays(dtype, shape, elements=values))
    mode = draw(st.sampled_from(["none", "each", "rows"]))
    weight: Array | None = None
    if mode != "none":
        wshape = shape if mode == "each" else shape[:1]
        # Subnormal weights have their own test (test_regression.py).
        weights = st.floats(0.0, 4.0, allow_subnormal=False)
        weight = draw(hnp.arrays(np.float64, wshape, elements=weights))
    param: float | None = None
    if name in PARAM:
        choices = DYADIC_PARAMS[name] + (OTHER_PARAMS[name] if dtype == np.float64 else ())
        param = draw(st.sampled_from((None, *choices)))
    reduction = draw(st.sampled_from(REDUCTIONS))
    return Case(name, dtype, x, y, weight, reduction, param)


@PROPERTY
@given(case=cases())
def test_value_and_grad_is_value_and_grad_bitwise(case: Case) -> None:
    c = case
    value = call(c.name, "", c.x, c.y, **c.kwargs())
    grad = call(c.name, "_grad", c.x, c.y, **c.kwargs())
    both = call(c.name, "_value_and_grad", c.x, c.y, **c.kwargs())
    assert isinstance(both, tuple) and len(both) == 2
    assert_bitwise(both[0], value, f"{c.name} value")
    assert_bitwise(both[1], grad, f"{c.name} grad")


@PROPERTY
@given(case=cases())
def test_grad_hess_gradient_is_the_gradient(case: Case) -> None:
    c = case
    grad = call(c.name, "_grad", c.x, c.y, **c.kwargs())
    g, h = call(c.name, "_grad_hess", c.x, c.y, **c.kwargs())
    assert g.dtype == grad.dtype == h.dtype == c.dtype
    assert g.shape == grad.shape == h.shape == c.x.shape
    assert_elementwise(g, grad, c.dtype, ulps=1.0, rtol=1e-15, what=f"{c.name} grad_hess")


@PROPERTY
@given(case=cases())
def test_reductions_agree(case: Case) -> None:
    """sum ≈ Σ of the "none" values; mean = sum / Σw; gradients scale alike."""
    c = case
    kw: dict[str, Any] = {"param": c.param, "sample_weight": c.weight}
    each = call(c.name, "", c.x, c.y, reduction="none", **kw)
    total = call(c.name, "", c.x, c.y, reduction="sum", **kw)
    mean = call(c.name, "", c.x, c.y, reduction="mean", **kw)
    wsum = math.fsum(broadcast_weight(c.weight, c.x.shape, c.dtype).ravel().tolist())
    rtol = 1e-5 if c.dtype == np.float32 else 1e-12
    exact = math.fsum(each.astype(np.float64).ravel().tolist())
    assert math.isclose(total, exact, rel_tol=rtol, abs_tol=1e-30), (total, exact)
    if wsum > 0:
        assert math.isclose(mean, total / wsum, rel_tol=rtol, abs_tol=1e-30), (mean, total, wsum)
    else:
        assert math.isnan(mean)
    g_sum = call(c.name, "_grad", c.x, c.y, reduction="sum", **kw)
    g_none = call(c.name, "_grad", c.x, c.y, reduction="none", **kw)
    assert_bitwise(g_none, g_sum, f"{c.name}: none and sum gradients")
    if wsum > 0:
        g_mean = call(c.name, "_grad", c.x, c.y, reduction="mean", **kw)
        expected = g_sum.astype(np.float64) / wsum
        assert_elementwise(g_mean, expected, c.dtype, ulps=3.0, rtol=1e-13, what="mean grad")


# ------------------------------------------------------ finite differences --

MARGIN = 0.02


@dataclass(frozen=True)
class Smooth:
    name: str
    param: float | None
    x: Array
    y: Array
    weight: Array | None
    reduction: str


@st.composite
def smooth_cases(draw: st.DrawFn) -> Smooth:
    """float64 inputs whose differences stay ``MARGIN`` away from every kink."""
    name = draw(st.sampled_from(LOSSES))
    param: float | None = None
    if name in PARAM:
        pool = DYADIC_PARAMS[name] + OTHER_PARAMS[name]
        param = draw(st.sampled_from([p for p in pool if p == 0.0 or p >= 0.1]))
    n = draw(st.integers(1, 6))
    x = draw(hnp.arrays(np.float64, n, elements=st.floats(-4.0, 4.0)))
    d = draw(hnp.arrays(np.float64, n, elements=st.floats(-4.0, 4.0)))
    kinks = KINKS[name](param_value(name, param))
    for _ in range(3):
        for k in kinks:
            d = np.where(np.abs(d - k) < MARGIN, k + 2.5 * MARGIN, d)
    y = x - d
    weight = None
    if draw(st.booleans()):
        weights = st.floats(0.0, 2.0, allow_subnormal=False)
        weight = draw(hnp.arrays(np.float64, n, elements=weights))
    reduction = draw(st.sampled_from(["mean", "sum"]))
    return Smooth(name, param, x, y, weight, reduction)


def far_from_kinks(c: Smooth, h: float) -> bool:
    d = c.x - c.y
    kinks = KINKS[c.name](param_value(c.name, c.param))
    return all(bool(np.all(np.abs(d - k) > 10 * h)) for k in kinks)


@PROPERTY
@given(c=smooth_cases())
def test_gradient_is_derivative_of_reduced_value(c: Smooth) -> None:
    h = 1e-6
    assert far_from_kinks(c, h)
    kw: dict[str, Any] = {"param": c.param, "reduction": c.reduction, "sample_weight": c.weight}
    grad = call(c.name, "_grad", c.x, c.y, **kw)
    if c.weight is not None and c.reduction == "mean" and float(np.sum(c.weight)) == 0.0:
        return  # the mean is 0/0
    for i in range(c.x.size):
        xp, xm = c.x.copy(), c.x.copy()
        xp[i] += h
        xm[i] -= h
        fd = (call(c.name, "", xp, c.y, **kw) - call(c.name, "", xm, c.y, **kw)) / (xp[i] - xm[i])
        assert math.isclose(grad[i], fd, rel_tol=1e-5, abs_tol=1e-5), (
            f"{c.name}({c.param}) {c.reduction} d={c.x[i] - c.y[i]!r}: grad {grad[i]!r}, "
            f"finite difference {fd!r}"
        )


@PROPERTY
@given(c=smooth_cases())
def test_second_derivative_is_derivative_of_gradient(c: Smooth) -> None:
    h = 1e-5
    assert far_from_kinks(c, h)
    kw: dict[str, Any] = {"param": c.param, "reduction": "none", "sample_weight": c.weight}
    _, hess = call(c.name, "_grad_hess", c.x, c.y, **kw)
    gp = call(c.name, "_grad", c.x + h, c.y, **kw)
    gm = call(c.name, "_grad", c.x - h, c.y, **kw)
    fd = (gp - gm) / ((c.x + h) - (c.x - h))
    np.testing.assert_allclose(
        hess, fd, rtol=1e-5, atol=1e-6, err_msg=f"{c.name}({c.param}) d={c.x - c.y!r}"
    )
