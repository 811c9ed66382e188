"""Properties over random inputs of every loss of the registry (hypothesis, derandomized).

* ``NAME_value_and_grad`` is bitwise ``(NAME, NAME_grad)``, for any shape, reduction,
  weights, parameters and dtype; ``NAME_grad_hess``'s gradient is bitwise ``NAME_grad``.
* The reductions agree with each other: sum = Σ none, mean = sum / Σw.
* Where the registry says the second derivative is exact (the loss is smooth), the gradient
  is the derivative of the reduced value, and the second derivative that of the gradient:
  central finite differences in float64. (The regression losses with kinks have theirs,
  away from the kinks, in test_regression.py.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from losses import (
    FLOATS,
    LOSSES,
    REDUCTIONS,
    Array,
    DType,
    Loss,
    array_params,
    call,
    ids,
    input_shape,
    scalar_params,
)
from reference import assert_bitwise, assert_elementwise, broadcast_weight

PROPERTY = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SMOOTH = tuple(loss for loss in LOSSES if loss.hessian == "exact")
TINY32 = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class Case:
    loss: Loss
    dtype: DType
    x: Array
    y: Array
    weight: Array | None
    reduction: str
    params: dict[str, Any]
    arrays: dict[str, Array]

    def kwargs(self, arrays: bool = True) -> dict[str, Any]:
        kw: dict[str, Any] = {"reduction": self.reduction, "sample_weight": self.weight}
        return {**kw, **self.params, **(self.arrays if arrays else {})}

    @property
    def shape(self) -> tuple[int, ...]:
        """The per-element (per-row) loss's shape."""
        return self.x.shape[:-1] if self.loss.family == "rows" else self.x.shape


def domain(kind: str, smooth: bool, target: bool = False) -> st.SearchStrategy[float]:
    """Values of a domain; ``smooth``: inputs away from the steep ends, and no
    infinities (a probability target does not make a loss steep)."""
    if kind == "probability":
        return st.floats(0.02, 0.98) if smooth and not target else st.floats(0.0, 1.0, width=32)
    if kind in ("nonnegative", "positive"):
        # Counts and amounts; a zero only where the domain has it.
        low = 0.0 if kind == "nonnegative" else 2.0**-20
        return st.floats(low, 50.0 if smooth else 1e6, width=32)
    if smooth:
        return st.floats(-8.0, 8.0)
    return st.floats(-1e3, 1e3, width=32)


@st.composite
def cases(draw: st.DrawFn, loss: Loss, smooth: bool = False) -> Case:
    """For ``loss``: any dtype, shape (1..3-D, sides up to 9, empty ones too), values of its
    domains, weights, parameters from the registry's samples, array parameters and
    reduction. ``smooth``: float64, sides 1 to 6, inputs away from the domains' ends,
    weights ≥ 0.25."""
    dtype: DType = np.float64 if smooth else draw(st.sampled_from(FLOATS))
    sides = {"min_side": 1, "max_side": 6} if smooth else {"min_side": 0, "max_side": 9}
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, **sides))
    classes = draw(st.integers(1, 6))
    xs = input_shape(loss, shape, classes)
    values = domain(loss.input, smooth)
    if loss.input == "real" and loss.target == "probability" and not smooth:
        values = values | st.sampled_from([math.inf, -math.inf, 0.0, 60.0])
    x = draw(hnp.arrays(dtype, xs, elements=values))
    y: Array
    if loss.target == "classes":
        y = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, classes - 1)))
    else:
        y = draw(hnp.arrays(dtype, shape, elements=domain(loss.target, smooth, target=True)))
    mode = draw(st.sampled_from(["none", "each", "rows"]))
    weight: Array | None = None
    if mode != "none":
        wshape = shape if mode == "each" else shape[:1]
        # Subnormal weights (in float32 too) have their own test (test_regression.py).
        weights = st.floats(0.25 if smooth else 0.0, 4.0, allow_subnormal=False).filter(
            lambda w: w == 0.0 or w >= TINY32
        )
        weight = draw(hnp.arrays(np.float64, wshape, elements=weights))
    params: dict[str, Any] = {}
    for p in scalar_params(loss):
        value = draw(st.sampled_from((None, *p.valid)))
        if value is not None:
            params[p.name] = value
    arrays: dict[str, Array] = {}
    # A rows loss's class weights enter its mean's denominator: none near 0 when smooth.
    lowest = 0.25 if smooth and loss.family == "rows" else 0.0
    for p in array_params(loss):
        if draw(st.booleans()):
            elements = st.floats(lowest, 4.0)
            arrays[p.name] = draw(hnp.arrays(np.float64, (xs[-1],), elements=elements))
    if loss.name == "tweedie" and params.get("power") == 2.0:
        # Tweedie of power 2 is gamma: its targets are positive.
        y = np.where(y == 0, np.ones_like(y), y)
    reduction = draw(st.sampled_from(REDUCTIONS))
    return Case(loss, dtype, x, y, weight, reduction, params, arrays)


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
@PROPERTY
@given(data=st.data())
def test_value_and_grad_is_value_and_grad_bitwise(loss: Loss, data: st.DataObject) -> None:
    c = data.draw(cases(loss))
    value = call(c.loss, "", c.x, c.y, **c.kwargs())
    grad = call(c.loss, "_grad", c.x, c.y, **c.kwargs())
    both = call(c.loss, "_value_and_grad", c.x, c.y, **c.kwargs())
    assert isinstance(both, tuple) and len(both) == 2
    assert_bitwise(both[0], value, f"{c.loss.name} value")
    assert_bitwise(both[1], grad, f"{c.loss.name} grad")


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
@PROPERTY
@given(data=st.data())
def test_grad_hess_gradient_is_the_gradient(loss: Loss, data: st.DataObject) -> None:
    c = data.draw(cases(loss))
    grad = call(c.loss, "_grad", c.x, c.y, **c.kwargs())
    g, h = call(c.loss, "_grad_hess", c.x, c.y, **c.kwargs())
    assert g.dtype == grad.dtype == h.dtype == c.dtype
    assert g.shape == grad.shape == h.shape == c.x.shape
    assert_bitwise(g, grad, f"{c.loss.name} grad_hess grad")


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
@PROPERTY
@given(data=st.data())
def test_reductions_agree(loss: Loss, data: st.DataObject) -> None:
    """sum ≈ Σ of the "none" values; mean = sum / Σw; gradients scale alike (without array
    parameters: a class weight enters the mean's denominator)."""
    c = data.draw(cases(loss))
    kw = c.kwargs(arrays=False)
    del kw["reduction"]
    each = call(c.loss, "", c.x, c.y, reduction="none", **kw)
    total = call(c.loss, "", c.x, c.y, reduction="sum", **kw)
    mean = call(c.loss, "", c.x, c.y, reduction="mean", **kw)
    wsum = math.fsum(broadcast_weight(c.weight, c.shape, c.dtype).ravel().tolist())
    rtol = 1e-5 if c.dtype == np.float32 else 1e-12
    exact = math.fsum(each.astype(np.float64).ravel().tolist())
    if math.isnan(exact):  # an infinite value weighted 0
        assert math.isnan(total) and math.isnan(mean), (total, mean)
    else:
        assert math.isclose(total, exact, rel_tol=rtol, abs_tol=1e-30), (total, exact)
    if wsum > 0 and not math.isnan(exact):
        assert math.isclose(mean, total / wsum, rel_tol=rtol, abs_tol=1e-30), (mean, total, wsum)
    elif wsum == 0:
        assert math.isnan(mean)
    g_sum = call(c.loss, "_grad", c.x, c.y, reduction="sum", **kw)
    g_none = call(c.loss, "_grad", c.x, c.y, reduction="none", **kw)
    assert_bitwise(g_none, g_sum, f"{c.loss.name}: none and sum gradients")
    weight = broadcast_weight(c.weight, c.shape, c.dtype)
    # The kernel scales each gradient by one float32 factor w/Σw; where that factor is
    # subnormal it carries fewer bits than the ulp bound assumes (a known limit).
    tiny = (
        c.dtype == np.float32
        and wsum > 0
        and bool(np.any((weight != 0) & (np.abs(weight) / wsum < np.finfo(np.float32).tiny)))
    )
    if wsum > 0 and not tiny:
        g_mean = call(c.loss, "_grad", c.x, c.y, reduction="mean", **kw)
        expected = g_sum.astype(np.float64) / wsum
        if c.loss.family == "elementwise":
            assert_elementwise(g_mean, expected, c.dtype, ulps=3.0, rtol=1e-13, what="mean grad")
        else:
            # A row's gradient A·p - a is a difference of terms up to its weight (A = 1
            # without class weights), scaled by weight/Σw: its rounding is relative to that.
            w = broadcast_weight(c.weight, c.shape, c.dtype)[..., None] / wsum
            assert_close_to_scale(g_mean, expected, w, c.dtype, ulps=3.0, rtol=1e-13)


def assert_close_to_scale(
    got: Any, want: Array, scale: Array, dtype: DType, *, ulps: float, rtol: float
) -> None:
    """|got - want| ≤ ``ulps`` spacings (float32) or ``rtol`` (float64) of max(|want|,
    ``scale``), elementwise; the same NaN positions."""
    g = np.asarray(got, dtype=np.float64)
    size = np.maximum(np.abs(want), np.broadcast_to(scale, want.shape))
    np.testing.assert_array_equal(np.isnan(g), np.isnan(want))
    if dtype == np.float64:
        tol = rtol * size
    else:
        tol = ulps * np.spacing(size.astype(np.float32)).astype(np.float64)
    fin = np.isfinite(want)
    bad = np.flatnonzero(~(np.abs(g - want)[fin] <= tol[fin]))
    assert bad.size == 0, f"mean grad: {g[fin][bad]} != {want[fin][bad]} within {tol[fin][bad]}"


# ------------------------------------------------------ finite differences --


def element(c: Case, v: Any, i: int) -> Any:
    """The value of flat input element ``i``: itself, or its row's (classes last)."""
    if c.reduction != "none":
        return v
    flat = np.asarray(v).reshape(-1)
    return flat[i // c.x.shape[-1]] if c.loss.family == "rows" else flat[i]


@pytest.mark.parametrize("loss", SMOOTH, ids=ids(SMOOTH))
@PROPERTY
@given(data=st.data())
def test_gradient_is_derivative_of_value(loss: Loss, data: st.DataObject) -> None:
    """Central differences of the (reduced) value, element by element, match the gradient;
    those of the gradient match the second derivative."""
    c = data.draw(cases(loss, smooth=True))
    kw = c.kwargs()
    grad = call(c.loss, "_grad", c.x, c.y, **kw)
    _, hess = call(c.loss, "_grad_hess", c.x, c.y, **kw)
    flat = c.x.reshape(-1)
    h = 1e-7 if c.loss.input == "probability" else 1e-6
    fd = np.empty(flat.size)
    fd2 = np.empty(flat.size)
    noise = np.empty(flat.size)
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        xu, xd = up.reshape(c.x.shape), down.reshape(c.x.shape)
        hi = element(c, call(c.loss, "", xu, c.y, **kw), i)
        lo = element(c, call(c.loss, "", xd, c.y, **kw), i)
        step = float(up[i] - down[i])
        fd[i] = (hi - lo) / step
        noise[i] = 1e-15 * (abs(hi) + abs(lo) + 1.0) / step
        gu = call(c.loss, "_grad", xu, c.y, **kw).reshape(-1)[i]
        gd = call(c.loss, "_grad", xd, c.y, **kw).reshape(-1)[i]
        fd2[i] = (gu - gd) / step
    g, hh = grad.reshape(-1), hess.reshape(-1)
    tol = 1e-6 * np.abs(g) + 8 * noise + 1e-12
    assert np.all(np.abs(fd - g) <= tol), (
        f"{c.loss.name} {c.reduction}: finite differences {fd} vs gradient {g}"
    )
    tol2 = 1e-5 * np.abs(hh) + 1e-8 * (np.abs(g).max() + 1.0) / h + 1e-12
    assert np.all(np.abs(fd2 - hh) <= tol2), (
        f"{c.loss.name} {c.reduction}: finite differences {fd2} vs hessian {hh}"
    )
