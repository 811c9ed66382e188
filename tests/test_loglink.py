"""The log-link losses (poisson, gamma, tweedie) against mpmath and against the references
they are defined by.

* Values, gradients and second derivatives within 4 ulp of mpmath (400 digits), float32 and
  float64, over the whole finite range: η out where the exponentials overflow, targets from
  the subnormals to the largest floats, and the points where a difference cancels (every
  gradient next to η = ln y, poisson's value for y > e and gamma's for y < 1/e next to
  their zeros), at every SIMD level the machine has, which give the same bits.
* ``tweedie(power=1)`` and ``tweedie(power=2)`` are ``poisson`` and ``gamma``, bit for bit.
* scikit-learn's half deviances, written out in float64 NumPy (``reference.log_link``).
* Targets outside the domain, or NaN, and powers outside [1, 2]: ValueError naming the
  value (and the index), with nothing written.

``python tests/test_loglink.py`` prints the worst ulp per function and dtype.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest
from reference import (
    FLOATS,
    Array,
    DType,
    api,
    log_link,
    mpmath,
    run_child,
    simd_levels,
    ulps_from,
)

#: (name, power) of every case measured: tweedie at its default and towards either end.
CASES: tuple[tuple[str, float], ...] = (
    ("poisson", 1.0),
    ("gamma", 2.0),
    ("tweedie", 1.5),
    ("tweedie", 1.3),
    ("tweedie", 1.9),
)
OUTPUTS = ("value", "grad", "hess")


def kwargs(name: str, power: float) -> dict[str, float]:
    return {"power": power} if name == "tweedie" else {}


@functools.cache
def exact(power: float, x: float, y: float) -> tuple[Any, Any, Any]:
    """(value, gradient, second derivative) at (η, y), to 400 digits: next to their zeros
    the differences cancel by as much as 2^-1074 (e^η - y at a subnormal η)."""
    with mpmath.workdps(400):
        return _exact(power, x, y)


def _exact(power: float, x: float, y: float) -> tuple[Any, Any, Any]:
    eta, t, p = mpmath.mpf(x), mpmath.mpf(y), mpmath.mpf(power)
    if power == 1.0:
        e = mpmath.exp(eta)
        return e - t * eta, e - t, e
    if power == 2.0:
        q = t * mpmath.exp(-eta)
        return eta + q, 1 - q, q
    a = mpmath.exp((2 - p) * eta)
    b = t * mpmath.exp((1 - p) * eta)
    return a / (2 - p) - b / (1 - p), a - b, (2 - p) * a - (1 - p) * b


def named(dtype: DType, positive: bool) -> tuple[list[float], list[float]]:
    """Inputs η and targets y at the edges: zero, the exponentials' overflow and underflow in
    either dtype, the largest floats; targets from the smallest subnormal up."""
    info = np.finfo(dtype)
    big = float(info.max)
    etas = [0.0, 1e-30, 0.5, 1.0, 3.0, 10.0, 50.0, 88.0, 89.0, 100.0, 700.0, 709.7]
    etas += [710.0, 745.0, 800.0, 1400.0, 1e30, big]
    etas = [s * v for v in etas for s in (1.0, -1.0)]
    ys = [1.0, 3.0, 0.5, 2.0**-20, 1e-30, float(info.smallest_subnormal), float(info.tiny)]
    ys += [1e6, 1e30, big / 4, big]
    if not positive:
        ys.append(0.0)
    return etas, ys


def cancelling(dtype: DType, name: str, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(η, y) in ``dtype`` next to the zeros of the gradient (η = ln y) and, for poisson and
    gamma, of the value: each zero rounded, and a few of its neighbours."""
    ys = np.concatenate([10.0 ** rng.uniform(-30, 30, 40), np.arange(1.0, 30.0)])
    out: list[tuple[float, float]] = []

    def around(eta: float, y: float) -> None:
        e = np.asarray(eta).astype(dtype)
        y_ = float(np.asarray(y).astype(dtype))
        for k in range(-3, 4):
            v = e
            for _ in range(abs(k)):
                v = np.nextafter(v, dtype(np.inf if k > 0 else -np.inf))
            out.append((float(v), y_))

    for y in ys:
        y = float(np.asarray(y).astype(dtype))
        if y > 0:
            around(math.log(y), y)
        if name == "poisson" and y > math.e:
            # e^η = y·η: one zero on either side of ln y.
            for start in (1.0, math.log(y) + math.log(math.log(y)) + 1.0):
                root = mpmath.findroot(lambda t, y=y: mpmath.exp(t) - y * t, start, verify=False)
                around(float(root), y)
        if name == "gamma" and 0 < y < 1 / math.e:
            # η = -y·e^-η: zeros at η < 0.
            for start in (-y, -math.log(1 / y) - 1.0):
                root = mpmath.findroot(lambda t, y=y: t + y * mpmath.exp(-t), start, verify=False)
                around(float(root), y)
    return out


def fast_tier(name: str, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(η, y) at the edges of float32's fast tier: its exponential's range (η or -η at
    ±80, ±88, and past them to f32's overflow and underflow near ±88.7 and ±103.9), the
    products at the largest and smallest it keeps (2^120, 2^-100), and differences that
    cancelled to either side of the 2^-7 of their terms where it hands over."""
    out: list[tuple[float, float]] = []
    sign = -1.0 if name == "gamma" else 1.0
    edges = [80.0, 88.0, 88.5, 88.72, 89.0, 103.0, 103.9, 104.0]
    ys = [0.0, 1e-45, 1.2e-38, 1e-30, 1.0, 3.0, 7.5e35, 1.3e36, 2e36, 3e38]
    for e in edges:
        for v in (e, float(np.nextafter(np.float32(e), np.float32(0))), -e):
            for y in ys:
                out.append((sign * v, y))
    for q in (2.0**-100, 2.0**120):
        for f in (0.999, 1.0, 1.001):
            out.append((0.0, q * f))
            out.append((sign * 40.0, q * f * math.exp(40.0)))
    # Differences at 2^-k of their terms, k around 7.
    for k in np.linspace(5.0, 9.0, 17):
        d = 2.0 ** -float(k)
        for y in 10.0 ** rng.uniform(-5, 5, 4):
            for s in (1.0, -1.0):
                # The gradient: e^η = y·(1 ± d) (poisson), y·e^-η = 1 ± d (gamma).
                out.append((math.log(y * (1 + s * d)), y))
        if name == "poisson":
            for y in (3.0, 5.0, 40.0):
                root = float(mpmath.findroot(lambda t, y=y: mpmath.exp(t) - y * t, 1.0))
                # v ≈ (e^r - y)·δ near the root r: δ for v = ±d·y·r.
                slope = math.exp(root) - y
                for s in (1.0, -1.0):
                    out.append((root + s * d * y * root / abs(slope), y))
        if name == "gamma":
            for y in (0.01, 0.2, 0.3):
                root = float(mpmath.findroot(lambda t, y=y: t + y * mpmath.exp(-t), -y))
                slope = 1 - y * math.exp(-root)
                for s in (1.0, -1.0):
                    out.append((root + s * d * abs(root) / abs(slope), y))
    # Targets float32 holds (and gamma's positive ones).
    return [(x, y) for x, y in out if (y > 0 or name != "gamma") and y < 3.4e38]


def points(dtype: DType, name: str) -> tuple[Array, Array]:
    """Every (η, y) measured for ``name`` in ``dtype``."""
    return _points(np.dtype(dtype).name, name)


@functools.cache
def _points(dtype_name: str, name: str) -> tuple[Array, Array]:
    dtype: DType = np.dtype(dtype_name).type
    rng = np.random.default_rng(17)
    etas, ys = named(dtype, positive=name == "gamma")
    pairs = [(e, y) for e in etas for y in ys]
    # The useful range: η over ±30, y over twelve decades, counts.
    n = 600
    eta = rng.uniform(-30.0, 30.0, n)
    y = np.where(rng.random(n) < 0.5, rng.poisson(3.0, n), 10.0 ** rng.uniform(-6, 6, n))
    if name == "gamma":
        y = np.maximum(y, 0.5)
    pairs += list(zip(eta.tolist(), y.tolist()))
    pairs += cancelling(dtype, name, rng)
    pairs += fast_tier(name, rng)
    with np.errstate(over="ignore"):
        x = np.array([p[0] for p in pairs]).astype(dtype)
        t = np.array([p[1] for p in pairs]).astype(dtype)
    return x, t


def outputs(name: str, power: float, x: Array, y: Array) -> tuple[Array, Array, Array]:
    kw = kwargs(name, power)
    value = api(name)(x, y, reduction="none", **kw)
    grad, hess = api(name + "_grad_hess")(x, y, **kw)
    return value, grad, hess


def worst(name: str, power: float, dtype: DType) -> dict[str, tuple[float, float, float, Any]]:
    """Per output: (worst ulp, η, y, what was returned there)."""
    x, y = points(dtype, name)
    got = outputs(name, power, x, y)
    result: dict[str, tuple[float, float, float, Any]] = {}
    for k, out in enumerate(OUTPUTS):
        assert got[k].dtype == dtype
        w = (0.0, math.nan, math.nan, math.nan)
        for g, xi, yi in zip(got[k].tolist(), x.tolist(), y.tolist()):
            ref = exact(power, xi, yi)[k]
            with np.errstate(over="ignore"):
                rounded = float(np.asarray(float(ref)).astype(dtype))
            if math.isinf(rounded):
                # Beyond the dtype's range: the infinity of its sign, exactly.
                e = 0.0 if g == rounded else math.inf
            else:
                e = ulps_from(g, ref, dtype)
            if e > w[0] or math.isnan(e):
                w = (e, xi, yi, g)
        result[out] = w
    return result


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize(("name", "power"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_within_4_ulp_of_mpmath(name: str, power: float, dtype: DType) -> None:
    for out, (e, x, y, g) in worst(name, power, dtype).items():
        ref = float(exact(power, x, y)[OUTPUTS.index(out)]) if not math.isnan(x) else math.nan
        assert e <= 4.0, (
            f"{name}({power}) {out} at η={x!r}, y={y!r}: {g!r} is {e:.2f} ulp from {ref!r}"
        )


def test_gamma_second_derivative_beyond_eta_1400() -> None:
    """y·e^-η for 1400 < η < 1455 and y > e^656 lies between the smallest subnormal and
    e^-690: the exponential must not be taken at a clamp of its argument."""
    big = float(np.finfo(np.float64).max)
    x = np.array([1400.5, 1420.0, 1450.0, 1454.0, 1454.9, 1455.5, 1499.0])
    for y in (big, big / 3, 1e300, 1.5e285):
        _, h = api("gamma_grad_hess")(x, np.full_like(x, y))
        for xi, hi in zip(x, h):
            want = exact(2.0, float(xi), y)[2]
            assert ulps_from(float(hi), want, np.float64) <= 4.0, (xi, y, hi, want)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize(("name", "power"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_every_form_gives_the_same_numbers(name: str, power: float, dtype: DType) -> None:
    """The gradient of every form, and the value of value_and_grad, are those measured
    above (refined the same way whichever form asks)."""
    x, y = points(dtype, name)
    kw = kwargs(name, power)
    value, grad, _ = outputs(name, power, x, y)
    np.testing.assert_array_equal(api(name + "_grad")(x, y, reduction="sum", **kw), grad)
    v, g = api(name + "_value_and_grad")(x, y, reduction="none", **kw)
    np.testing.assert_array_equal(v, value)
    np.testing.assert_array_equal(g, grad)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_tweedie_limits_are_poisson_and_gamma(dtype: DType) -> None:
    for power, name in ((1.0, "poisson"), (2.0, "gamma")):
        x, y = points(dtype, name)
        for form in ("", "_grad", "_value_and_grad", "_grad_hess"):
            for red in ("none", "sum", "mean"):
                a = api("tweedie" + form)(x, y, power=power, reduction=red)
                b = api(name + form)(x, y, reduction=red)
                for u, v in zip(
                    a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)
                ):
                    np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize(("name", "power"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_numpy_reference(name: str, power: float, dtype: DType) -> None:
    """scikit-learn's half deviances in float64 NumPy, on the useful range (no cancellation
    to speak of): within 1e-6 (float32) or 1e-12 (float64) relative."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-5.0, 5.0, 4099).astype(dtype)
    y = np.where(rng.random(4099) < 0.5, rng.poisson(2.0, 4099), rng.gamma(2.0, 2.0, 4099))
    y = (np.maximum(y, 0.25) if name == "gamma" else y).astype(dtype)
    ref = log_link(name, x, y, power)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    got = outputs(name, power, x, y)
    for k in range(3):
        scale = np.abs(ref[k]).max()
        np.testing.assert_allclose(got[k], ref[k], rtol=rtol, atol=rtol * scale * 1e-3)
    assert api(name)(x, y, **kwargs(name, power)) == pytest.approx(ref[0].mean(), rel=rtol)


def test_torch_poisson_nll_loss_formula() -> None:
    """PyTorch's poisson_nll_loss(log_input=True, full=False) is mean(exp(x) - y·x)."""
    x = np.array([-1.0, 0.0, 2.0, 0.5])
    y = np.array([0.0, 1.0, 4.0, 2.0])
    assert api("poisson")(x, y) == pytest.approx(float(np.mean(np.exp(x) - y * x)), rel=1e-15)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_infinite_not_nan_where_the_exponential_overflows(dtype: DType) -> None:
    big = float(np.finfo(dtype).max)
    x = np.array([1000.0, big, -big, -1000.0, np.inf, -np.inf]).astype(dtype)
    for name, power in CASES:
        y = np.ones_like(x)
        v, g = api(name + "_value_and_grad")(x, y, reduction="none", **kwargs(name, power))
        _, h = api(name + "_grad_hess")(x, y, **kwargs(name, power))
        assert not np.isnan(v).any() and not np.isnan(g).any() and not np.isnan(h).any(), name
        # η = +inf (gamma: -inf), and η = 1000 (gamma: -1000) where the exponential overflows
        # (tweedie's e^((2-p)·1000) overflows float32 only).
        far, inf = (3, 5) if name == "gamma" else (0, 4)
        assert v[inf] == np.inf, (name, v)
        assert v[far] == np.inf or (name, dtype) == ("tweedie", np.float64), (name, v)


@pytest.mark.parametrize("name", ["poisson", "gamma", "tweedie"])
@pytest.mark.parametrize("form", ["", "_grad", "_value_and_grad", "_grad_hess"])
def test_target_outside_the_domain_is_rejected_before_writing(name: str, form: str) -> None:
    bad = [-1.0, math.nan, math.inf] + ([0.0] if name == "gamma" else [])
    for dtype in FLOATS:
        for value in bad:
            x = np.zeros(100, dtype)
            y = np.ones(100, dtype)
            y[37] = value
            kw: dict[str, Any] = {"reduction": "sum"}
            out = None
            if form in ("_grad", "_value_and_grad"):
                out = np.full(100, 7.0, dtype)
                kw["out"] = out
            with pytest.raises(ValueError, match=r"target .*at flat index 37") as err:
                api(name + form)(x, y, **kw)
            assert repr(float(dtype(value))).lower() in str(err.value).lower()
            if out is not None:
                assert np.all(out == 7.0)


@pytest.mark.parametrize("power", [0.0, 0.999, 2.001, 3.0, math.inf, -math.inf, math.nan])
def test_power_outside_1_2_is_rejected(power: float) -> None:
    with pytest.raises(ValueError, match="power"):
        api("tweedie")([0.0], [1.0], power=power)


def test_zero_target_has_no_log_term() -> None:
    """y = 0: poisson and tweedie are finite at η = -inf (the y·η term is absent)."""
    x = np.array([-np.inf, -800.0, 0.0])
    y = np.zeros(3)
    np.testing.assert_array_equal(api("poisson")(x, y, reduction="none"), np.exp(x))
    v = api("tweedie")(x, y, reduction="none", power=1.5)
    np.testing.assert_array_equal(v, np.exp(0.5 * x) / 0.5)


# ----------------------------------------------------------- SIMD levels --

CHILD = """
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
import fastloss
import numpy as np
from test_loglink import CASES, FLOATS, outputs, points
digest = {}
for dtype in FLOATS:
    for name, power in CASES:
        x, y = points(dtype, name)
        got = outputs(name, power, x, y)
        digest[f"{name}-{power}-{dtype.__name__}"] = hashlib.sha256(
            b"".join(np.ascontiguousarray(g).tobytes() for g in got)).hexdigest()
print(json.dumps({"simd": fastloss.info()["simd"], "digest": digest}))
"""


def test_every_simd_level_gives_the_measured_bits() -> None:
    """The points measured above give the same bits at every level the machine has (the
    accuracy test runs at the best one)."""
    best = run_child(CHILD, {"FASTLOSS_SIMD": None})
    for level in simd_levels(best["simd"]):
        run = run_child(CHILD, {"FASTLOSS_SIMD": level})
        assert run["digest"] == best["digest"], f"FASTLOSS_SIMD={level} differs"


if __name__ == "__main__":
    for dtype in FLOATS:
        for name, power in CASES:
            w = worst(name, power, dtype)
            row = ", ".join(f"{out} {w[out][0]:.2f}" for out in OUTPUTS)
            print(f"{name}(power={power}) {dtype.__name__}: {row}")
