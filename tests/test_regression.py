"""The regression losses against their references.

Every loss, all four functions, every reduction, with and without sample
weights (both weight shapes), float32 and float64, sizes that hit every SIMD
tail, exact ties at the kinks, ±inf and NaN; the values at the kinks, the
parameters' domains, and the derivatives away from the kinks.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from losses import value_pattern
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
    api,
    assert_bitwise,
    assert_elementwise,
    assert_reduced,
    call,
    elementwise,
    make_data,
    make_weight,
    param_value,
    reference,
)

SIZES = (0, 1, 7, 8, 15, 16, 17, 31, 33, 63, 65, 1000, 4099, 2**17 + 3)
WEIGHT_MODES = ("none", "each", "rows")
MULTI_SHAPES = ((5, 3), (4, 2, 3), (2, 3, 2, 5), (33, 1), (1, 1), (3, 70))


def ulps_for(name: str) -> float:
    """float32 tolerance of an elementwise result (log_cosh is transcendental)."""
    return 8.0 if name == "log_cosh" else 4.0


def pick_param(name: str, k: int) -> float | None:
    """The k-th parameter of the cycle (None: the default) for ``name``."""
    if name not in PARAM:
        return None
    choices = (None, *DYADIC_PARAMS[name])
    return choices[k % len(choices)]


def check_all(
    name: str,
    x: Array,
    y: Array,
    dtype: DType,
    *,
    param: float | None,
    weight: Any,
    what: str,
) -> None:
    """All four functions, all reductions, against the reference; value_and_grad
    bitwise equal to value and grad; types, dtypes and shapes."""
    shape = np.shape(x)
    tol = ulps_for(name)
    for red in REDUCTIONS:
        tag = f"{what} reduction={red}"
        ref = reference(name, x, y, dtype=dtype, param=param, reduction=red, weight=weight)
        kw: dict[str, Any] = {"param": param, "reduction": red, "sample_weight": weight}
        value = call(name, "", x, y, **kw)
        grad = call(name, "_grad", x, y, **kw)
        vg = call(name, "_value_and_grad", x, y, **kw)
        gh = call(name, "_grad_hess", x, y, **kw)

        if red == "none":
            assert isinstance(value, np.ndarray), f"{tag}: value is {type(value).__name__}"
            assert value.dtype == dtype and value.shape == shape, f"{tag}: value array"
            assert_elementwise(value, ref.value, dtype, ulps=tol, what=f"{tag} value")
        else:
            assert isinstance(ref.value, float)
            assert_reduced(value, ref.value, dtype, what=f"{tag} value")
        for label, arr in (("grad", grad), ("grad_hess[0]", gh[0]), ("grad_hess[1]", gh[1])):
            assert isinstance(arr, np.ndarray), f"{tag}: {label} is {type(arr).__name__}"
            assert arr.dtype == dtype, f"{tag}: {label} dtype {arr.dtype}"
            assert arr.shape == shape, f"{tag}: {label} shape {arr.shape}"
        assert_elementwise(grad, ref.grad, dtype, ulps=tol, what=f"{tag} grad")
        assert_elementwise(gh[0], ref.grad, dtype, ulps=tol, what=f"{tag} grad_hess grad")
        # sech² underflows: allow the smallest normal as absolute slack.
        atol = float(np.finfo(dtype).tiny) * 4
        assert_elementwise(gh[1], ref.hess, dtype, ulps=tol, atol=atol, what=f"{tag} hess")

        assert isinstance(vg, tuple) and len(vg) == 2, f"{tag}: value_and_grad {type(vg)}"
        assert_bitwise(vg[0], value, f"{tag} value_and_grad value")
        assert_bitwise(vg[1], grad, f"{tag} value_and_grad grad")


@pytest.mark.parametrize("mode", WEIGHT_MODES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("name", LOSSES)
def test_against_reference(name: str, dtype: DType, n: int, mode: str) -> None:
    k = SIZES.index(n)
    param = pick_param(name, k)
    tie = 1.0 if param is None else param
    x, y = make_data(n, dtype, seed=k, tie=tie if name in PARAM else 1.0)
    weight = make_weight((n,), mode, seed=k)
    what = f"{name}({param}) {np.dtype(dtype).name} n={n} weight={mode}"
    check_all(name, x, y, dtype, param=param, weight=weight, what=what)


@pytest.mark.parametrize("mode", WEIGHT_MODES)
@pytest.mark.parametrize("shape", MULTI_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("name", LOSSES)
def test_multidimensional(name: str, dtype: DType, shape: tuple[int, ...], mode: str) -> None:
    k = MULTI_SHAPES.index(shape)
    param = pick_param(name, k + 1)
    x, y = make_data(shape, dtype, seed=100 + k, tie=1.0 if param is None else param)
    weight = make_weight(shape, mode, seed=k)
    what = f"{name}({param}) {np.dtype(dtype).name} shape={shape} weight={mode}"
    check_all(name, x, y, dtype, param=param, weight=weight, what=what)


@pytest.mark.parametrize("mode", WEIGHT_MODES)
@pytest.mark.parametrize("name", ["smooth_l1", "huber", "pinball"])
def test_other_parameters_float64(name: str, mode: str) -> None:
    for k, param in enumerate(OTHER_PARAMS[name]):
        x, y = make_data(1037, np.float64, seed=200 + k, tie=param)
        weight = make_weight((1037,), mode, seed=k)
        what = f"{name}({param}) weight={mode}"
        check_all(name, x, y, np.float64, param=param, weight=weight, what=what)


@pytest.mark.parametrize("n", [1, 17, 65, 4099])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("name", LOSSES)
def test_inf_and_nan_propagate(name: str, dtype: DType, n: int) -> None:
    """±inf and NaN go through values and gradients per IEEE, with no warning."""
    param = pick_param(name, n)
    x, y = make_data(n, dtype, seed=n, tie=1.0 if param is None else param, specials=True)
    for mode in WEIGHT_MODES:
        weight = make_weight((n,), mode, seed=n)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            what = f"{name}({param}) {np.dtype(dtype).name} n={n} weight={mode} specials"
            check_all(name, x, y, dtype, param=param, weight=weight, what=what)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("name", LOSSES)
def test_single_rounding_results_are_exact(name: str, dtype: DType) -> None:
    """Where the documented formula is one rounding (d², |d|, 2d, sign, clamp, q·r, the
    constant gradients) the result is the correctly rounded one: bitwise."""
    n = 4099
    param = pick_param(name, 3)
    x, y = make_data(n, dtype, seed=7, tie=1.0 if param is None else param)
    with np.errstate(all="ignore"):
        d = x - y  # in dtype
    p = float(np.asarray(param if param is not None else 1.0).astype(dtype))
    w = make_weight((n,), "each", seed=3)
    assert w is not None
    wd = w.astype(dtype)
    exact_value: Array | None = None
    exact_grad: Array | None = None
    exact_hess: Array | None = None
    if name == "mae":
        exact_value, exact_grad, exact_hess = np.abs(d), np.sign(d), np.zeros_like(d)
    elif name == "mse":
        exact_value, exact_grad, exact_hess = d * d, d + d, np.full_like(d, 2)
    elif name == "huber":
        exact_grad = np.clip(d, -p, p).astype(dtype)
        exact_hess = (np.abs(d) <= p).astype(dtype)
    elif name == "smooth_l1" and p > 0:
        exact_grad = np.clip(d / dtype(p), -1, 1).astype(dtype)
    elif name == "pinball":
        r = y - x
        q, qm1 = dtype(p), dtype(p - 1.0)
        exact_value = np.where(r >= 0, q * r, qm1 * r).astype(dtype)
        exact_grad = np.select([r > 0, r < 0], [-q, -qm1], dtype(0.5 - p)).astype(dtype)
        exact_hess = np.zeros_like(d)
    for weight, wv in ((None, np.ones_like(d)), (w, wd)):
        tag = f"{name}({param}) {np.dtype(dtype).name} weighted={weight is not None}"
        kw: dict[str, Any] = {"param": param, "sample_weight": weight}
        if exact_value is not None:
            got = call(name, "", x, y, reduction="none", **kw)
            assert_bitwise(got, wv * exact_value, f"{tag} value none")
        for red in ("sum", "none"):
            if exact_grad is not None:
                got = call(name, "_grad", x, y, reduction=red, **kw)
                assert_bitwise(got, wv * exact_grad, f"{tag} grad {red}")
                gh = call(name, "_grad_hess", x, y, reduction=red, **kw)
                assert_bitwise(gh[0], wv * exact_grad, f"{tag} grad_hess grad {red}")
            if exact_hess is not None:
                gh = call(name, "_grad_hess", x, y, reduction=red, **kw)
                assert_bitwise(gh[1], wv * exact_hess, f"{tag} grad_hess hess {red}")


TIES: list[tuple[str, float, float, tuple[float, float, float]]] = [
    # (loss, param, d, (value, grad, hess)) with PyTorch's choices at the kinks
    ("mae", 1.0, 0.0, (0.0, 0.0, 0.0)),
    ("mae", 1.0, -2.0, (2.0, -1.0, 0.0)),
    ("mse", 1.0, 0.0, (0.0, 0.0, 2.0)),
    ("smooth_l1", 0.5, 0.5, (0.25, 1.0, 0.0)),
    ("smooth_l1", 0.5, -0.5, (0.25, -1.0, 0.0)),
    ("smooth_l1", 0.5, 0.25, (0.0625, 0.5, 2.0)),
    ("smooth_l1", 0.5, 0.0, (0.0, 0.0, 2.0)),
    ("smooth_l1", 0.0, 0.0, (0.0, 0.0, 0.0)),
    ("smooth_l1", 0.0, -3.0, (3.0, -1.0, 0.0)),
    ("huber", 2.0, 2.0, (2.0, 2.0, 1.0)),
    ("huber", 2.0, -2.0, (2.0, -2.0, 1.0)),
    ("huber", 2.0, 4.0, (6.0, 2.0, 0.0)),
    ("huber", 2.0, 0.0, (0.0, 0.0, 1.0)),
    ("log_cosh", 1.0, 0.0, (0.0, 0.0, 1.0)),
    ("pinball", 0.25, 0.0, (0.0, 0.25, 0.0)),
    ("pinball", 0.25, -2.0, (0.5, -0.25, 0.0)),
    ("pinball", 0.25, 2.0, (1.5, 0.75, 0.0)),
    ("pinball", 0.75, 0.0, (0.0, -0.25, 0.0)),
]


@pytest.mark.parametrize("n", [1, 8, 33, 67])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize(("name", "param", "d", "expected"), TIES)
def test_kinks_in_body_and_tail(
    name: str,
    param: float,
    d: float,
    expected: tuple[float, float, float],
    dtype: DType,
    n: int,
) -> None:
    """Hand-computed values at the kinks, identical at every position of the
    array (SIMD body and scalar tail must agree)."""
    y = np.full(n, 1.5, dtype=dtype)
    x = (y + dtype(d)).astype(dtype)
    assert np.all(x - y == d)
    p = param if name in PARAM else None
    value = call(name, "", x, y, param=p, reduction="none")
    grad = call(name, "_grad", x, y, param=p, reduction="sum")
    gh = call(name, "_grad_hess", x, y, param=p)
    for label, got, want in (
        ("value", value, expected[0]),
        ("grad", grad, expected[1]),
        ("grad_hess grad", gh[0], expected[1]),
        ("hess", gh[1], expected[2]),
    ):
        np.testing.assert_array_equal(
            got, np.full(n, want, dtype=dtype), err_msg=f"{name}({param}) d={d} {label}"
        )


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_smooth_l1_beta_zero_is_mae(dtype: DType) -> None:
    """β = 0 is exactly mae (PyTorch reroutes it): every function, bitwise."""
    for n in (0, 1, 33, 4099):
        x, y = make_data(n, dtype, seed=n, tie=0.0, specials=n > 32)
        for mode in WEIGHT_MODES:
            weight = make_weight((n,), mode, seed=n)
            for red in REDUCTIONS:
                kw: dict[str, Any] = {"reduction": red, "sample_weight": weight}
                for suffix in ("", "_grad", "_value_and_grad", "_grad_hess"):
                    got = call("smooth_l1", suffix, x, y, param=0.0, **kw)
                    want = call("mae", suffix, x, y, **kw)
                    tag = f"smooth_l1{suffix} n={n} weight={mode} {red}"
                    if isinstance(want, tuple):
                        assert_bitwise(got[0], want[0], tag)
                        assert_bitwise(got[1], want[1], tag)
                    else:
                        assert_bitwise(got, want, tag)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("name", LOSSES)
def test_tiny_weights_mean(name: str, dtype: DType) -> None:
    """Weights whose total is subnormal: the mean's gradient is still w·g/Σw
    (1/Σw overflows, w/Σw does not)."""
    tiny = float(np.finfo(dtype).tiny)
    w = np.array([0.25, 0.5, 0.0, 0.125, 0.125]) * tiny / 4  # subnormal in dtype
    x = np.array([0.0, 3.0, -1.0, 0.5, -0.25], dtype=dtype)
    y = np.array([1.0, 1.0, 1.0, 0.0, 0.0], dtype=dtype)
    what = f"{name} {np.dtype(dtype).name} subnormal weights"
    check_all(name, x, y, dtype, param=None, weight=w, what=what)


def test_scalar_values() -> None:
    mse, mae = api("mse"), api("mae")
    assert mse(3.0, 1.0) == 4.0
    assert mae(-3.0, 1.0, reduction="sum") == 4.0
    assert float(api("mse_grad")(3.0, 1.0)) == 4.0
    assert float(api("mae_grad")(1.0, 1.0)) == 0.0
    assert mse([1.0, 2.0, 3.0], [1.0, 0.0, 0.0]) == pytest.approx(13.0 / 3.0, rel=1e-15)


@pytest.mark.parametrize("name", LOSSES)
def test_integer_weights_scale_the_formula_gradient(name: str) -> None:
    """An integer weight k gives k times the float64 formula's gradient."""
    x, y = make_data(50, np.float64, seed=11)
    rng = np.random.default_rng(5)
    w = rng.integers(0, 4, size=50)
    w[0] = 1
    g = call(name, "_grad", x, y, sample_weight=w, reduction="sum")
    _, gref, _ = elementwise(name, x - y)
    np.testing.assert_allclose(g, w * gref, rtol=1e-15)


# Values beyond those of the registry at the edges of each parameter's domain: β < 0 or
# NaN, δ ≤ 0, q ∉ (0, 1).
DOMAIN_EDGES: list[tuple[str, float]] = [
    ("smooth_l1", -0.5),
    ("smooth_l1", -1.0),
    ("smooth_l1", math.nan),
    ("smooth_l1", -math.inf),
    ("huber", 0.0),
    ("huber", -0.5),
    ("huber", math.nan),
    ("huber", -math.inf),
    ("pinball", 0.0),
    ("pinball", 1.0),
    ("pinball", 1.5),
    ("pinball", -0.25),
    ("pinball", math.nan),
    ("pinball", math.inf),
]


@pytest.mark.parametrize("suffix", ("", "_grad", "_value_and_grad", "_grad_hess"))
@pytest.mark.parametrize(("name", "value"), DOMAIN_EDGES, ids=str)
def test_parameter_outside_its_domain(name: str, value: float, suffix: str) -> None:
    """ValueError naming the parameter and the value."""
    x, y = make_data(10, np.float64, seed=0)
    key = PARAM[name][0]
    with pytest.raises(ValueError) as excinfo:
        api(name + suffix)(x, y, **{key: value})
    text = str(excinfo.value)
    assert key in text, f"{name}{suffix}({key}={value}): {text!r}"
    assert re.search(value_pattern(value), text), f"{name}{suffix}({key}={value}): {text!r}"


def test_smooth_l1_large_beta_float32_does_not_overflow() -> None:
    """0.5·d²/β must not overflow float32 in d² for |d| < β when β > ~2.6e19: the value is
    below 0.5·|d|."""
    x = np.array([1e20, -3e25, 2.0], dtype=np.float32)
    y = np.zeros(3, dtype=np.float32)
    beta = 1e30
    got = api("smooth_l1")(x, y, beta=beta, reduction="none")
    d = x.astype(np.float64)
    b = float(np.float32(beta))
    want = 0.5 * d * d / b
    assert np.all(np.isfinite(got)), got
    np.testing.assert_allclose(got, want, rtol=1e-6)
    total = api("smooth_l1")(x, y, beta=beta, reduction="sum")
    assert math.isclose(total, float(np.sum(want)), rel_tol=1e-6)


PROPERTY = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ------------------------------------- finite differences, away from the kinks --

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
