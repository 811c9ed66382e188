"""Property tests over every function of every loss of the registry (hypothesis): random
shapes (1..4-D, empty sides included), memory layouts (reversed, strided, Fortran,
byte-swapped, unaligned, read-only), dtypes, parameters, sample weights, reductions and
values, against the float64 references of the loss's family: ``reference.py`` for the
regression losses, those of ``test_binary.py`` and ``test_cross_entropy.py`` for the
classification ones (each checks all four functions of a loss with every reduction, and
value_and_grad / grad_hess bitwise against value and grad). A loss of the registry without
a family reference fails ``test_every_loss_has_a_reference``.

Derandomized with 40 examples a test by default; ``.ci/run`` runs them again with
``FASTLOSS_HYPOTHESIS_EXAMPLES=1500``, still derandomized (the same examples on every run).
``FASTLOSS_HYPOTHESIS_RANDOM=1`` draws fresh random seeds, for exploring. A failure prints
the example.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import test_binary as tb
import test_cross_entropy as tce
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from losses import NAMES
from reference import (
    DYADIC_PARAMS,
    FLOATS,
    LOG_LINK,
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
    log_link,
    reference,
)
from test_hostile import unaligned

EXAMPLES = int(os.environ.get("FASTLOSS_HYPOTHESIS_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("FASTLOSS_HYPOTHESIS_RANDOM") != "1",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def layout(a: Array, kind: str) -> Array:
    """The same values in another memory layout."""
    if kind == "reversed" and a.ndim:
        return np.ascontiguousarray(a[::-1])[::-1]
    if kind == "strided" and a.ndim:
        big = np.zeros((a.shape[0] * 2, *a.shape[1:]), dtype=a.dtype)
        big[::2] = a
        return big[::2]
    if kind == "fortran":
        return np.asfortranarray(a) if a.ndim else a
    if kind == "byteswapped":
        return a.astype(a.dtype.newbyteorder("S"))
    if kind == "unaligned":
        return unaligned(a)
    if kind == "readonly":
        b = np.array(a, copy=True)
        b.flags.writeable = False
        return b
    return a


# Zero or at least 1e-3: the references scale by w·g/Σw, which underflows
# where the kernels' (w/Σw)·g does not.
WEIGHTS = st.one_of(st.just(0.0), st.floats(1e-3, 4.0))

LAYOUTS = ("contiguous", "reversed", "strided", "fortran", "byteswapped", "unaligned", "readonly")
layouts = st.sampled_from(LAYOUTS)


def values(dtype: DType, lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats in [lo, hi] exactly representable in ``dtype`` (subnormals and
    signed zeros included)."""
    if dtype == np.float32:
        return st.floats(lo, hi, width=32, allow_nan=False)
    return st.floats(lo, hi, allow_nan=False)


# ------------------------------------------------------------- regression --


@FUZZ
@given(data=st.data())
def test_regression_against_reference(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(LOSSES))
    dtype: DType = data.draw(st.sampled_from(FLOATS))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=7))
    x = data.draw(hnp.arrays(dtype, shape, elements=values(dtype, -1e4, 1e4)))
    # Targets near the inputs too: the kinks (d = 0, ±β, ±δ) get hit.
    near = data.draw(hnp.arrays(dtype, shape, elements=st.sampled_from([0.0, 0.5, 1.0, -1.0])))
    y = data.draw(hnp.arrays(dtype, shape, elements=values(dtype, -1e4, 1e4)))
    if data.draw(st.booleans()):
        y = (x - near).astype(dtype)
    mode = data.draw(st.sampled_from(["none", "each", "rows"]))
    weight: Array | None = None
    if mode != "none":
        wshape = shape if mode == "each" else shape[:1]
        weight = data.draw(hnp.arrays(np.float64, wshape, elements=WEIGHTS))
    param: float | None = None
    if name in PARAM:
        choices = DYADIC_PARAMS[name] + (OTHER_PARAMS[name] if dtype == np.float64 else ())
        param = data.draw(st.sampled_from((None, *choices)))
    xl, yl = layout(x, data.draw(layouts)), layout(y, data.draw(layouts))
    wl = None if weight is None else layout(weight, data.draw(layouts))
    for red in REDUCTIONS:
        ref = reference(name, x, y, dtype=dtype, param=param, reduction=red, weight=weight)
        kw: dict[str, Any] = {"param": param, "reduction": red, "sample_weight": wl}
        tag = f"{name} {np.dtype(dtype).name} {shape} param={param} {mode} {red}"
        value = call(name, "", xl, yl, **kw)
        grad = call(name, "_grad", xl, yl, **kw)
        g, h = call(name, "_grad_hess", xl, yl, **kw)
        vg = call(name, "_value_and_grad", xl, yl, **kw)
        ulps = 4.0 if red != "mean" and weight is None else 8.0
        # The mean's scale 1/n (or w/Σw) adds roundings in float64 too.
        rtol = 1e-12
        if red == "none":
            assert isinstance(value, np.ndarray) and value.dtype == dtype, tag
            assert_elementwise(value, ref.value, dtype, ulps=ulps, rtol=rtol, what=f"{tag} value")
        else:
            assert isinstance(ref.value, float)
            assert_reduced(value, ref.value, dtype, what=f"{tag} value")
        tiny = float(np.finfo(dtype).tiny)
        for label, got, want in (("grad", grad, ref.grad), ("hess", h, ref.hess)):
            assert isinstance(got, np.ndarray) and got.dtype == dtype and got.shape == shape
            assert_elementwise(
                got, want, dtype, ulps=ulps, rtol=rtol, atol=4 * tiny, what=f"{tag} {label}"
            )
        assert_bitwise(g, grad, f"{tag} grad_hess grad")
        assert_bitwise(vg[0], value, f"{tag} value_and_grad value")
        assert_bitwise(vg[1], grad, f"{tag} value_and_grad grad")


# ----------------------------------------------------------------- binary --


@FUZZ
@given(data=st.data())
def test_binary_against_reference(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(tb.BINARY))
    dtype: DType = data.draw(st.sampled_from(FLOATS))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=7))
    unit = values(dtype, 0.0, 1.0)
    if name == tb.BCE:
        x = data.draw(hnp.arrays(dtype, shape, elements=unit))
    else:
        x = data.draw(hnp.arrays(dtype, shape, elements=values(dtype, -60.0, 60.0)))
    t = data.draw(hnp.arrays(dtype, shape, elements=unit))
    pw: Array | None = None
    if name == tb.LOGITS and data.draw(st.booleans()):
        pw = data.draw(
            hnp.arrays(np.float64, (shape[-1],), elements=st.sampled_from([0.5, 1.0, 3.0, 0.0]))
        )
    mode = data.draw(st.sampled_from(["none", "each", "rows"]))
    weight: Array | None = None
    if mode != "none":
        wshape = shape if mode == "each" else shape[:1]
        weight = data.draw(hnp.arrays(np.float64, wshape, elements=WEIGHTS))
    xl, tl = layout(x, data.draw(layouts)), layout(t, data.draw(layouts))
    what = f"{name} {np.dtype(dtype).name} {shape} pw={pw is not None} {mode}"
    # The reference reads the values whatever the layout; the calls get it.
    tb.check_all(name, xl, tl, dtype, pw=pw, weight=weight, what=what)


# ---------------------------------------------------------- cross-entropy --


@FUZZ
@given(data=st.data())
def test_cross_entropy_against_reference(data: st.DataObject) -> None:
    dtype: DType = data.draw(st.sampled_from(FLOATS))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=9))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    c = shape[axis]
    seed = data.draw(st.integers(0, 10**6))
    from_logits = data.draw(st.booleans())
    kind = data.draw(st.sampled_from(["index", "probs"]))
    ignore = kind == "index" and data.draw(st.booleans())
    weighted = data.draw(st.booleans())
    eps = data.draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    scale = data.draw(st.sampled_from([0.1, 3.0, 30.0]))
    if from_logits:
        x = tce.logits(shape, dtype, seed, scale=scale)
    else:
        x = tce.probabilities(shape, axis, dtype, seed)
    cw = None
    if weighted:
        # No zero class weights: with a mean whose denominator Σ w_y is 0
        # the kernel's gradient (nan at the target class only, second
        # derivative 0) and the reference's (all nan) differ. The value
        # (nan) is right.
        pick = st.sampled_from([0.5, 1.0, 2.5])
        cw = np.array(data.draw(st.lists(pick, min_size=c, max_size=c)))
    opts = tce.Options(
        class_weight=cw,
        ignore_index=-100 if ignore else None,
        label_smoothing=eps,
        from_logits=from_logits,
    )
    target: Array
    if kind == "index":
        target = tce.labels(shape, axis, c, seed, ignore=-100 if ignore else None)
    else:
        target = tce.probabilities(shape, axis, dtype, seed + 7)
    rows_shape = tuple(d for k, d in enumerate(shape) if k != axis % len(shape))
    wmode = data.draw(st.sampled_from(["none", "each", "rows"]))
    weight: Array | None = None
    if wmode == "each":
        weight = np.random.default_rng(seed).uniform(0.0, 2.0, rows_shape)
    elif wmode == "rows" and rows_shape:
        weight = np.arange(1.0, rows_shape[0] + 1.0)
    xl = layout(x, data.draw(layouts))
    tl = target if kind == "index" else layout(target, data.draw(layouts))
    what = (
        f"{kind} {shape} axis={axis} cw={weighted} ignore={ignore} eps={eps} logits={from_logits}"
    )
    tce.check_call(xl, tl, opts, axis=axis, dtype=dtype, weight=weight, what=what)


# ---------------------------------------------------------------- log link --


@FUZZ
@given(data=st.data())
def test_log_link_against_reference(data: st.DataObject) -> None:
    """poisson, gamma and tweedie in any layout against scikit-learn's half deviances in
    float64 NumPy (reference.log_link), per element, away from the differences' cancellation
    (test_loglink.py measures that against mpmath)."""
    name = data.draw(st.sampled_from(sorted(LOG_LINK)))
    dtype: DType = data.draw(st.sampled_from(FLOATS))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=7))
    x = data.draw(hnp.arrays(dtype, shape, elements=values(dtype, -20.0, 20.0)))
    low = 2.0**-10 if name == "gamma" else 0.0
    y = data.draw(hnp.arrays(dtype, shape, elements=values(dtype, low, 1e3)))
    power = data.draw(st.sampled_from([1.2, 1.5, 1.8])) if name == "tweedie" else None
    kw: dict[str, Any] = {} if power is None else {"power": power}
    xl, yl = layout(x, data.draw(layouts)), layout(y, data.draw(layouts))
    value = api(name)(xl, yl, reduction="none", **kw)
    g, h = api(name + "_grad_hess")(xl, yl, **kw)
    ref = log_link(name, x, y, power)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for k, got in enumerate((value, g, h)):
        # The terms' magnitude: the differences are judged against it.
        scale = np.abs(np.exp(x.astype(np.float64))) + np.abs(y * np.exp(-x.astype(np.float64)))
        scale = scale + np.abs(x.astype(np.float64) * y) + 1.0
        scale = scale + y
        err = np.abs(got.astype(np.float64) - ref[k])
        np.testing.assert_array_less(err, rtol * scale, err_msg=f"{name} {power} output {k}")


def test_every_loss_has_a_reference() -> None:
    """The four tests above cover the registry: each loss is in one family's references."""
    families = [set(LOSSES), set(tb.BINARY), {tce.NAME}, set(LOG_LINK)]
    assert sum(len(f) for f in families) == len(set().union(*families))
    assert set().union(*families) == set(NAMES)


def test_layout_helper_changes_layouts() -> None:
    a = np.arange(12.0).reshape(3, 4)
    assert not layout(a, "reversed").flags.c_contiguous
    assert layout(a, "fortran").flags.f_contiguous and not layout(a, "fortran").flags.c_contiguous
    assert not layout(a, "byteswapped").dtype.isnative
    assert not layout(a, "unaligned").flags.aligned
    assert not layout(a, "readonly").flags.writeable
    for k in LAYOUTS:
        np.testing.assert_array_equal(layout(a, k), a)
    assert math.isfinite(float(layout(a, "strided").sum()))
