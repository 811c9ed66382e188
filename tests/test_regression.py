"""The regression losses against their references (SPEC §2, §3).

Every loss, all four functions, every reduction, with and without sample
weights (both weight shapes), float32 and float64, sizes that hit every SIMD
tail, exact ties at the kinks, ±inf and NaN.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from reference import (
    DYADIC_PARAMS,
    FLOATS,
    LOSSES,
    OTHER_PARAMS,
    PARAM,
    REDUCTIONS,
    Array,
    DType,
    assert_bitwise,
    assert_elementwise,
    assert_reduced,
    call,
    elementwise,
    make_data,
    make_weight,
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
    """Where SPEC's formula is one rounding (d², |d|, 2d, sign, clamp, q·r, the
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


@pytest.mark.parametrize("name", LOSSES)
def test_defaults(name: str) -> None:
    """Default parameter (β = δ = 1, q = 0.5), reduction "mean" for the value,
    grad and value_and_grad, "none" for grad_hess."""
    x, y = make_data(100, np.float64, seed=1)
    w = make_weight((100,), "each", seed=1)
    default_param = PARAM[name][1] if name in PARAM else None
    for suffix in ("", "_grad", "_value_and_grad", "_grad_hess"):
        default_red = "none" if suffix == "_grad_hess" else "mean"
        for weight in (None, w):
            implicit = call(name, suffix, x, y) if weight is None else None
            explicit = call(
                name, suffix, x, y, param=default_param, reduction=default_red, sample_weight=weight
            )
            no_red = call(name, suffix, x, y, param=default_param, sample_weight=weight)
            pairs = [(no_red, explicit)] + ([] if implicit is None else [(implicit, explicit)])
            for got, want in pairs:
                if isinstance(want, tuple):
                    assert_bitwise(got[0], want[0], f"{name}{suffix} defaults")
                    assert_bitwise(got[1], want[1], f"{name}{suffix} defaults")
                else:
                    assert_bitwise(got, want, f"{name}{suffix} defaults")


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("name", LOSSES)
def test_empty_input(name: str, dtype: DType) -> None:
    """sum → 0.0, none → an empty array, mean → nan; gradients are empty."""
    for shape in ((0,), (0, 3), (3, 0), (2, 0, 4)):
        x = np.zeros(shape, dtype=dtype)
        for mode in WEIGHT_MODES:
            w = make_weight(shape, mode, seed=0)
            if w is not None:
                w = np.ones_like(w)
            tag = f"{name} shape={shape} weight={mode}"
            kw: dict[str, Any] = {"sample_weight": w}
            s = call(name, "", x, x, reduction="sum", **kw)
            assert type(s) is float and s == 0.0, f"{tag}: sum gave {s!r}"
            m = call(name, "", x, x, reduction="mean", **kw)
            assert type(m) is float and math.isnan(m), f"{tag}: mean gave {m!r}"
            v = call(name, "", x, x, reduction="none", **kw)
            assert isinstance(v, np.ndarray) and v.shape == shape and v.dtype == dtype, tag
            for red in REDUCTIONS:
                g = call(name, "_grad", x, x, reduction=red, **kw)
                assert isinstance(g, np.ndarray) and g.shape == shape and g.dtype == dtype, tag
                gh = call(name, "_grad_hess", x, x, reduction=red, **kw)
                assert all(a.shape == shape and a.dtype == dtype for a in gh), tag
                vg = call(name, "_value_and_grad", x, x, reduction=red, **kw)
                assert vg[1].shape == shape, tag
            vm = call(name, "_value_and_grad", x, x, reduction="mean", **kw)[0]
            assert type(vm) is float and math.isnan(vm), f"{tag}: value_and_grad mean {vm!r}"
            vs = call(name, "_value_and_grad", x, x, reduction="sum", **kw)[0]
            assert type(vs) is float and vs == 0.0, f"{tag}: value_and_grad sum {vs!r}"


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("name", LOSSES)
def test_zero_total_weight_mean_is_nan(name: str, dtype: DType) -> None:
    """Σw·l/Σw with Σw = 0 is 0/0: nan, as the weighted mean's formula says."""
    x, y = make_data(40, dtype, seed=3)
    w = np.zeros(40)
    got = call(name, "", x, y, sample_weight=w)
    assert type(got) is float and math.isnan(got), f"{name}: {got!r}"
    s = call(name, "", x, y, sample_weight=w, reduction="sum")
    assert s == 0.0
    g = call(name, "_grad", x, y, sample_weight=w, reduction="sum")
    np.testing.assert_array_equal(g, np.zeros(40, dtype=dtype))


@pytest.mark.parametrize("name", LOSSES)
def test_integer_weights_repeat_rows(name: str) -> None:
    """An integer weight k counts an element k times (weighted mean = Σwl/Σw)."""
    x, y = make_data(50, np.float64, seed=11)
    rng = np.random.default_rng(5)
    w = rng.integers(0, 4, size=50)
    w[0] = 1
    xr, yr = np.repeat(x, w), np.repeat(y, w)
    for red in ("mean", "sum"):
        got = call(name, "", x, y, sample_weight=w, reduction=red)
        want = call(name, "", xr, yr, reduction=red)
        assert got == pytest.approx(want, rel=1e-12), f"{name} {red}"
    g = call(name, "_grad", x, y, sample_weight=w, reduction="sum")
    _, gref, _ = elementwise(name, x - y)
    np.testing.assert_allclose(g, w * gref, rtol=1e-15)


@pytest.mark.parametrize("name", LOSSES)
def test_rows_weight_equals_expanded_weight(name: str) -> None:
    """1-D weights of length shape[0] weigh every element of their row."""
    shape = (37, 3, 5)
    for dtype in FLOATS:
        x, y = make_data(shape, dtype, seed=2)
        w = make_weight(shape, "rows", seed=2)
        assert w is not None
        full = np.broadcast_to(w.reshape(-1, 1, 1), shape).copy()
        for red in REDUCTIONS:
            for suffix in ("", "_grad", "_grad_hess"):
                a = call(name, suffix, x, y, reduction=red, sample_weight=w)
                b = call(name, suffix, x, y, reduction=red, sample_weight=full)
                tag = f"{name}{suffix} {np.dtype(dtype).name} {red}"
                if isinstance(b, float):
                    assert a == pytest.approx(b, rel=1e-6 if dtype == np.float32 else 1e-13)
                    continue
                pairs = list(zip(a, b)) if isinstance(b, tuple) else [(a, b)]
                for got, want in pairs:
                    assert got.dtype == want.dtype and got.shape == want.shape, tag
                    # Σw may be summed in another order: the mean's scale can
                    # differ in its last bit.
                    assert_elementwise(got, want, dtype, ulps=2, rtol=1e-15, what=tag)


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
