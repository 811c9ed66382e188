"""Inputs, dtypes, layouts, reductions and sample weights, errors and ``out=``, for every loss
of the registry: what a call accepts, what it converts to, and what it refuses before it
writes anything."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pytest
from losses import (
    FLOAT_IDS,
    FLOATS,
    FORMS,
    FUNCTIONS,
    LOSSES,
    OUT_FUNCTIONS,
    PARAM_NAMES,
    REDUCTIONS,
    Array,
    DType,
    Loss,
    array_kwargs,
    array_params,
    call,
    cast_to,
    every_result,
    function,
    ids,
    input_shape,
    inputs,
    invalid_kwargs,
    loss_of,
    loss_shape,
    names_index,
    names_value,
    out_left_alone,
    sample_kwargs,
    shape_pattern,
    value_pattern,
    weights,
)
from reference import assert_bitwise, assert_elementwise

Failing = Callable[[Array], Any]
WITH_ARRAYS = tuple(loss for loss in LOSSES if array_params(loss))
ELEMENTWISE = tuple(loss for loss in LOSSES if loss.family == "elementwise")
PROBABILITY_INPUT = tuple(loss for loss in LOSSES if loss.input == "probability")
CLASS_TARGET = tuple(loss for loss in LOSSES if loss.target == "classes")


def results_equal(got: Any, want: Any, what: str) -> None:
    """Bitwise equality of a result: float, array, or a tuple of them."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), what
        for k, (g, w) in enumerate(zip(got, want)):
            assert_bitwise(g, w, f"{what}[{k}]")
    else:
        assert_bitwise(got, want, what)


def run_loss(
    loss: Loss,
    x: Any,
    t: Any,
    weight: Any = None,
    reductions: tuple[str, ...] = REDUCTIONS,
    **kwargs: Any,
) -> dict[str, Any]:
    """Every function of ``loss`` on (x, t) with its sample parameters, by reduction."""
    kw = {**sample_kwargs(loss), **kwargs}
    return every_result(loss, x, t, reductions=reductions, sample_weight=weight, **kw)


def compare_runs(got: dict[str, Any], want: dict[str, Any], what: str) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        results_equal(got[key], value, f"{what}: {key}")


def arrays_of(results: dict[str, Any]) -> list[tuple[str, Array]]:
    out: list[tuple[str, Array]] = []
    for key, value in results.items():
        for a in value if isinstance(value, tuple) else (value,):
            if isinstance(a, np.ndarray):
                out.append((key, a))
    return out


def target_like(loss: Loss, x: Array, value: float = 0.0) -> Array:
    """A valid constant target for input ``x``: class 0, or ``value`` everywhere."""
    if loss.target == "classes":
        return np.zeros(loss_shape(loss, x.shape), dtype=np.int64)
    return np.full(x.shape, value)


# ---------------------------------------------------------------- dtypes --

PROMOTIONS: list[tuple[Any, Any, DType]] = [
    (np.float32, np.float32, np.float32),
    (np.float16, np.float16, np.float32),
    (np.float16, np.float32, np.float32),
    (np.float32, np.float16, np.float32),
    (np.float64, np.float64, np.float64),
    (np.float32, np.float64, np.float64),
    (np.float64, np.float32, np.float64),
    (np.float16, np.float64, np.float64),
    (np.int32, np.float32, np.float64),
    (np.float32, np.int64, np.float64),
    (np.bool_, np.float32, np.float64),
    (np.float32, np.bool_, np.float64),
    (np.int8, np.int8, np.float64),
    (np.uint16, np.float64, np.float64),
    (np.int64, np.uint8, np.float64),
    (np.int8, np.float32, np.float64),
    (np.bool_, np.bool_, np.float64),
]
# Class indices do not take part: the input alone sets the compute dtype. (input, class
# index dtype, compute dtype)
INDEX_PROMOTIONS: list[tuple[Any, Any, DType]] = [
    (np.float32, np.int64, np.float32),
    (np.float16, np.int8, np.float32),
    (np.float32, np.uint8, np.float32),
    (np.float64, np.int16, np.float64),
    (np.float64, np.uint16, np.float64),
    (np.int32, np.int32, np.float64),
    (np.int64, np.uint32, np.float64),
    (np.bool_, np.uint64, np.float64),
    (np.uint8, np.int64, np.float64),
]
DTYPE_CASES = [
    (loss, xt, yt, compute)
    for loss in LOSSES
    for xt, yt, compute in (INDEX_PROMOTIONS if loss.target == "classes" else PROMOTIONS)
]


@pytest.mark.parametrize(
    ("loss", "xt", "yt", "compute"),
    DTYPE_CASES,
    ids=[f"{c[0].name}-{np.dtype(c[1]).name}-{np.dtype(c[2]).name}" for c in DTYPE_CASES],
)
def test_compute_dtype(loss: Loss, xt: Any, yt: Any, compute: DType) -> None:
    """The documented dtype rules: float32 if input and target are float32 or float16,
    float64 if either is float64, integer or boolean (class indices do not count); results
    equal those on arrays converted to that dtype. Array parameters do not take part."""
    x64, y64 = inputs(loss, (7, 9), np.float64, seed=0)
    if loss.target in ("nonnegative", "positive"):
        # Counts from 1 to 100: in the domain in every dtype, booleans and int8 included.
        y64 = np.clip(np.round(y64), 1.0, 100.0)
    x = cast_to(x64, xt)
    y = y64.astype(yt) if loss.target == "classes" else cast_to(y64, yt)
    yc = y if loss.target == "classes" else y.astype(compute)
    variants: list[dict[str, Any]] = [{}]
    if array_params(loss):
        variants += [array_kwargs(loss, x, 1), array_kwargs(loss, x, 2, np.float32)]
    for kw in variants:
        got = run_loss(loss, x, y, **kw)
        kwc: dict[str, Any] = {k: np.asarray(v).astype(compute) for k, v in kw.items()}
        want = run_loss(loss, x.astype(compute), yc, **kwc)
        what = f"{np.dtype(xt)}/{np.dtype(yt)} → {np.dtype(compute)} {sorted(kw)}"
        compare_runs(got, want, what)
        for key, a in arrays_of(got):
            assert a.dtype == compute, f"{key}: dtype {a.dtype}, expected {compute}"


@pytest.mark.parametrize("wt", [np.float64, np.float32, np.float16, np.int64, np.bool_])
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_sample_weight_does_not_change_compute_dtype(loss: Loss, dtype: DType, wt: Any) -> None:
    """sample_weight is converted to the compute dtype of input and target."""
    x, y = inputs(loss, (300,), dtype, seed=1)
    rng = np.random.default_rng(2)
    w = (rng.uniform(0, 3, size=300)).astype(wt)
    if np.dtype(wt).kind in "bi":
        w = rng.integers(0, 2, size=300).astype(wt)
    w[0] = 1
    got = run_loss(loss, x, y, w)
    want = run_loss(loss, x, y, w.astype(dtype))
    compare_runs(got, want, f"weights {np.dtype(wt)} with {np.dtype(dtype)}")
    for key, a in arrays_of(got):
        assert a.dtype == dtype, f"{key}: dtype {a.dtype}"


# ------------------------------------------------------ array-like inputs --


class ArrayLike:
    """An object NumPy converts through ``__array__`` (as a CPU torch tensor)."""

    def __init__(self, data: Array) -> None:
        self.data = data

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        return self.data if dtype is None else self.data.astype(dtype)


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_lists_and_array_likes(loss: Loss) -> None:
    x, y = inputs(loss, (4, 3), np.float64, seed=5)
    w = weights((4, 3), "rows", seed=5)
    assert w is not None
    want = run_loss(loss, x, y, w)
    compare_runs(run_loss(loss, x.tolist(), y.tolist(), w.tolist()), want, "nested lists")
    compare_runs(run_loss(loss, x, y.tolist(), w), want, "array and list")
    compare_runs(run_loss(loss, ArrayLike(x), ArrayLike(y), ArrayLike(w)), want, "__array__")
    x32 = x.astype(np.float32)
    y32 = y if loss.target == "classes" else y.astype(np.float32)
    compare_runs(
        run_loss(loss, ArrayLike(x32), ArrayLike(y32), w),
        run_loss(loss, x32, y32, w),
        "__array__ float32 objects",
    )


@pytest.mark.parametrize("loss", WITH_ARRAYS, ids=ids(WITH_ARRAYS))
def test_array_parameters_as_array_likes(loss: Loss) -> None:
    """An array parameter as a list, a tuple, integers, float32 or float64, any layout:
    the values it holds, converted to the compute dtype."""
    names = [p.name for p in array_params(loss)]
    for dtype in FLOATS:
        x, t = inputs(loss, (6, 4), dtype, seed=2)
        n = x.shape[-1]
        base = np.resize(np.asarray([0.5, 2.0, 1.0, 3.0]), n)

        def run(value: Any, x: Array = x, t: Array = t) -> dict[str, Any]:
            return run_loss(loss, x, t, **dict.fromkeys(names, value))

        want = run(base.astype(dtype))
        big = np.zeros(2 * n)
        big[::2] = base
        ro = base.copy()
        ro.flags.writeable = False
        for label, value in (
            ("list", base.tolist()),
            ("tuple", tuple(base.tolist())),
            ("float32", base.astype(np.float32)),
            ("strided", big[::2]),
            ("reversed", base[::-1].copy()[::-1]),
            ("byteswapped", base.astype(base.dtype.newbyteorder())),
            ("read-only", ro),
        ):
            compare_runs(run(value), want, f"{np.dtype(dtype)} {label}")
        ints = np.resize(np.asarray([1, 2, 0, 3]), n)
        compare_runs(run(ints.tolist()), run(ints.astype(np.float64)), "integers")


SCALARS: dict[str, list[Any]] = {
    "real": [3.0, 3, np.float32(3.0), np.float64(-2.5)],
    "probability": [0.75, 1, np.float32(0.25), np.float64(0.5)],
}
SCALAR_TARGETS: dict[str, list[Any]] = {
    "real": [1.0, 1, np.float32(1.0), 0.5],
    "probability": [1.0, 0, np.float32(1.0), 0.5],
    "nonnegative": [1.0, 0, np.float32(2.0), 0.5],
    "positive": [1.0, 2, np.float32(1.0), 0.5],
}


@pytest.mark.parametrize("loss", ELEMENTWISE, ids=ids(ELEMENTWISE))
def test_scalars_are_zero_dimensional(loss: Loss) -> None:
    """Python and NumPy scalars are 0-d arrays: "none" gives a 0-d array."""
    kw = sample_kwargs(loss)
    for a, b in zip(SCALARS[loss.input], SCALAR_TARGETS[loss.target]):
        dtype = np.float32 if isinstance(a, np.float32) else np.float64
        xa, ya = np.asarray(a).astype(dtype), np.asarray(b).astype(dtype)
        for red in REDUCTIONS:
            for form in FORMS:
                got = call(loss, form, a, b, reduction=red, **kw)
                want = call(loss, form, xa, ya, reduction=red, **kw)
                results_equal(got, want, f"{loss.name}{form}({a!r}, {b!r}) {red}")
            v = call(loss, "", a, b, reduction=red, **kw)
            if red == "none":
                assert isinstance(v, np.ndarray) and v.shape == () and v.dtype == dtype
            else:
                assert type(v) is float
        g = call(loss, "_grad", a, b, **kw)
        assert isinstance(g, np.ndarray) and g.shape == () and g.dtype == dtype


# ---------------------------------------------------------------- layouts --


def strided(a: Array) -> Array:
    """The same values, every other element of a bigger array along each axis."""
    if a.ndim == 0:
        return a.copy()
    big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    assert not view.flags.c_contiguous or a.size <= 1
    return view


def reversed_(a: Array) -> Array:
    """The same values, through negative strides on every axis."""
    flipped = np.ascontiguousarray(a[tuple(slice(None, None, -1) for _ in a.shape)])
    return flipped[tuple(slice(None, None, -1) for _ in a.shape)]


def fortran(a: Array) -> Array:
    return np.asfortranarray(a)


def readonly(a: Array) -> Array:
    b = a.copy()
    b.flags.writeable = False
    return b


def byteswapped(a: Array) -> Array:
    b = a.astype(a.dtype.newbyteorder())
    assert not b.dtype.isnative or a.dtype.itemsize == 1
    return b


def transposed(a: Array) -> Array:
    """A C-order transpose's transpose: F-contiguous memory, same values."""
    return np.ascontiguousarray(a.T).T


LAYOUTS: dict[str, Callable[[Array], Array]] = {
    "strided": strided,
    "negative": reversed_,
    "fortran": fortran,
    "readonly": readonly,
    "byteswapped": byteswapped,
    "transposed": transposed,
}
SHAPES = {1: (37,), 2: (9, 7), 3: (4, 5, 3), 4: (3, 2, 4, 5)}


@pytest.mark.parametrize("which", ["input", "target", "weight", "rows", "all"])
@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_layouts(loss: Loss, dtype: DType, layout: str, ndim: int, which: str) -> None:
    """Any layout gives bitwise the result of the C-contiguous copy."""
    shape = SHAPES[ndim]
    x, y = inputs(loss, shape, dtype, seed=ndim, specials=True)
    mode = "rows" if which == "rows" else "each"
    w = weights(shape, mode, seed=ndim)
    assert w is not None
    arrays = array_kwargs(loss, x, ndim)
    want = run_loss(loss, x, y, w, **arrays)
    f = LAYOUTS[layout]
    xl = f(x) if which in ("input", "all") else x
    yl = f(y) if which in ("target", "all") else y
    wl = f(w) if which in ("weight", "rows", "all") else w
    assert np.array_equal(xl, x, equal_nan=True) and np.array_equal(yl, y, equal_nan=True)
    got = run_loss(loss, xl, yl, wl, **arrays)
    compare_runs(got, want, f"{layout} {which} {shape} {np.dtype(dtype).name}")
    if layout == "readonly":
        return
    # the inputs are left as they were
    assert np.array_equal(xl, x, equal_nan=True) and np.array_equal(yl, y, equal_nan=True)


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_inputs_not_modified(loss: Loss) -> None:
    x, y = inputs(loss, (4099,), np.float64, seed=1, specials=True)
    w = weights((4099,), "each", seed=1)
    assert w is not None
    arrays = array_kwargs(loss, x, 1)
    given = (x, y, w, *arrays.values())
    copies = [a.copy() for a in given]
    run_loss(loss, x, y, w, **arrays)
    for before, after in zip(copies, given):
        assert before.tobytes() == after.tobytes()


# ------------------------------------------------------ read where they lie --


def column(a: Array, k: int, of: int) -> Array:
    """The same values, as column ``k`` of an array with ``of`` columns (``proba[:, 1]``)."""
    big = np.zeros((*a.shape, of), dtype=a.dtype)
    big[..., k] = a
    return big[..., k]


IN_PLACE: dict[str, Callable[[Array], Array]] = {
    # Steps 2 to 4 have gathers of their own; 7 takes the general one.
    "column of 2": lambda a: column(a, 1, 2),
    "column of 3": lambda a: column(a, 0, 3),
    "column of 4": lambda a: column(a, 3, 4),
    "column of 7": lambda a: column(a, 5, 7),
    "negative": reversed_,
    "fortran": fortran,
}


@pytest.mark.parametrize("layout", list(IN_PLACE))
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_layouts_over_blocks_and_threads(
    loss: Loss, dtype: DType, layout: str, restore_threads: int
) -> None:
    """Strided arguments over many blocks, split between two threads, give bitwise the
    results of their C-contiguous copies: every argument strided at once, the class
    weights too."""
    function("set_num_threads")(2)
    shape = (70_001,) if loss.family == "elementwise" else (263, 51)
    x, y = inputs(loss, shape, dtype, seed=3, specials=True)
    w = weights(loss_shape(loss, x.shape), "each", seed=3)
    assert w is not None
    arrays = array_kwargs(loss, x, 3)
    want = run_loss(loss, x, y, w, **arrays)
    f = IN_PLACE[layout]
    moved: dict[str, Any] = {k: f(v) if k == "class_weight" else v for k, v in arrays.items()}
    got = run_loss(loss, f(x), f(y), f(w), **moved)
    compare_runs(got, want, f"{layout} {shape} {np.dtype(dtype).name}")


def peak_traced(run: Callable[[], Any]) -> int:
    """The most memory Python and NumPy held at once while ``run`` ran, beyond what was
    held before (NumPy reports its arrays' data to tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_strided_arguments_are_not_copied(loss: Loss) -> None:
    """A column of a bigger array, in every argument, is read where it lies: the reduced
    value allocates nothing the size of an argument. A byte-swapped input, which must be
    converted, shows that a copy would be seen."""
    shape = (200_000,) if loss.family == "elementwise" else (20_000,)
    x, y = inputs(loss, shape, np.float32, seed=4, classes=10)
    w = weights(loss_shape(loss, x.shape), "each", seed=4)
    assert w is not None
    xs, ys, ws = column(x, 1, 2), column(y, 1, 2), column(w.astype(np.float32), 1, 2)
    kw = {**sample_kwargs(loss), **array_kwargs(loss, x, 4, np.float32)}
    value = function(loss.name)
    want = value(x, y, sample_weight=ws.copy(), **kw)
    assert value(xs, ys, sample_weight=ws, **kw) == want
    assert peak_traced(lambda: value(xs, ys, sample_weight=ws, **kw)) < x.nbytes // 8
    swapped = x.astype(x.dtype.newbyteorder())
    assert peak_traced(lambda: value(swapped, ys, sample_weight=ws, **kw)) >= x.nbytes


def test_class_axis_first_is_not_copied() -> None:
    """Logits with the classes along axis 0 (a transposed array) are read in place; the
    gradient comes back in the input's layout."""
    x, y = inputs(loss_of("cross_entropy")[0], (30_000,), np.float32, seed=5, classes=8)
    xt = np.ascontiguousarray(x.T)
    ce, vg = function("cross_entropy"), function("cross_entropy_value_and_grad")
    assert ce(xt, y, axis=0) == ce(x, y)
    assert peak_traced(lambda: ce(xt, y, axis=0)) < x.nbytes // 8
    v, g = vg(xt, y, axis=0)
    v1, g1 = vg(x, y)
    assert v == v1
    assert_bitwise(g, np.ascontiguousarray(g1.T), "axis=0 gradient")
    assert g.flags.c_contiguous and g.shape == xt.shape


# ----------------------------------------------- reductions, sample weights --

WEIGHT_MODES = ("none", "each", "rows")


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_defaults(loss: Loss) -> None:
    """Every parameter at its registry default, reduction "mean" for the value, grad and
    value_and_grad, "none" for grad_hess: the same bits as saying so."""
    x, y = inputs(loss, (100,), np.float64, seed=1)
    w = weights((100,), "each", seed=1)
    defaults = {p.name: p.default for p in loss.params}
    for form in FORMS:
        default_red = "none" if form == "_grad_hess" else "mean"
        for weight in (None, w):
            implicit = call(loss, form, x, y) if weight is None else None
            explicit = call(
                loss, form, x, y, reduction=default_red, sample_weight=weight, **defaults
            )
            no_red = call(loss, form, x, y, sample_weight=weight, **defaults)
            pairs = [(no_red, explicit)] + ([] if implicit is None else [(implicit, explicit)])
            for got, want in pairs:
                results_equal(got, want, f"{loss.name}{form} defaults")


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_empty_input(loss: Loss, dtype: DType) -> None:
    """sum → 0.0, none → an empty array, mean → nan; gradients are empty."""
    for shape in ((0,), (0, 3), (3, 0), (2, 0, 4)):
        x, y = inputs(loss, shape, dtype, seed=0)
        xs = x.shape
        for mode in WEIGHT_MODES:
            w = weights(shape, mode, seed=0)
            if w is not None:
                w = np.ones_like(w)
            tag = f"{loss.name} shape={shape} weight={mode}"
            kw: dict[str, Any] = {"sample_weight": w}
            s = call(loss, "", x, y, reduction="sum", **kw)
            assert type(s) is float and s == 0.0, f"{tag}: sum gave {s!r}"
            m = call(loss, "", x, y, reduction="mean", **kw)
            assert type(m) is float and math.isnan(m), f"{tag}: mean gave {m!r}"
            v = call(loss, "", x, y, reduction="none", **kw)
            assert isinstance(v, np.ndarray) and v.shape == shape and v.dtype == dtype, tag
            for red in REDUCTIONS:
                g = call(loss, "_grad", x, y, reduction=red, **kw)
                assert isinstance(g, np.ndarray) and g.shape == xs and g.dtype == dtype, tag
                gh = call(loss, "_grad_hess", x, y, reduction=red, **kw)
                assert all(a.shape == xs and a.dtype == dtype for a in gh), tag
                vg = call(loss, "_value_and_grad", x, y, reduction=red, **kw)
                assert vg[1].shape == xs, tag
            vm = call(loss, "_value_and_grad", x, y, reduction="mean", **kw)[0]
            assert type(vm) is float and math.isnan(vm), f"{tag}: value_and_grad mean {vm!r}"
            vs = call(loss, "_value_and_grad", x, y, reduction="sum", **kw)[0]
            assert type(vs) is float and vs == 0.0, f"{tag}: value_and_grad sum {vs!r}"


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 0), (0, 3), (2, 0, 4)], ids=str)
@pytest.mark.parametrize("loss", WITH_ARRAYS, ids=ids(WITH_ARRAYS))
def test_empty_with_array_parameters(loss: Loss, shape: tuple[int, ...]) -> None:
    """An empty input with its (possibly empty) array parameters is valid: empty results,
    sum 0.0, mean nan (never a Rust panic)."""
    x, t = inputs(loss, shape, np.float64, seed=0)
    arrays = {p.name: np.ones(x.shape[-1]) for p in array_params(loss)}
    for form in FORMS:
        for red in REDUCTIONS:
            got = call(loss, form, x, t, reduction=red, **arrays)
            parts = got if isinstance(got, tuple) else (got,)
            for k, a in enumerate(parts):
                if isinstance(a, np.ndarray):
                    is_value = form == "" or (form == "_value_and_grad" and k == 0)
                    want = shape if is_value else x.shape
                    assert a.shape == want, f"{form} {red}: shape {a.shape}"
                elif red == "sum":
                    assert a == 0.0, f"{form} {red}: {a!r}"
                else:
                    assert math.isnan(a), f"{form} {red}: {a!r}"


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_zero_total_weight_mean_is_nan(loss: Loss, dtype: DType) -> None:
    """Σw·l/Σw with Σw = 0 is 0/0: nan, as the weighted mean's formula says."""
    x, y = inputs(loss, (40,), dtype, seed=3)
    w = np.zeros(40)
    got = call(loss, "", x, y, sample_weight=w)
    assert type(got) is float and math.isnan(got), f"{loss.name}: {got!r}"
    s = call(loss, "", x, y, sample_weight=w, reduction="sum")
    assert s == 0.0
    g = call(loss, "_grad", x, y, sample_weight=w, reduction="sum")
    np.testing.assert_array_equal(g, np.zeros(x.shape, dtype=dtype))


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_negative_weights(loss: Loss, dtype: DType) -> None:
    """Finite negative weights are weights, as scikit-learn and PyTorch take them (Monte-Carlo
    event weights often are): Σw·l / Σw, Σw·l, w·l, and gradients scaled by w alike. A
    total weight of 0 divides by 0 as IEEE 754 does (±inf or nan), with no error."""
    x, y = inputs(loss, (40,), dtype, seed=8)
    rng = np.random.default_rng(8)
    w = rng.uniform(-1.0, 2.0, 40)
    w[:3] = [-2.5, -0.0, -1e-3]
    held = w.astype(dtype).astype(np.float64)
    each = call(loss, "", x, y, reduction="none").astype(np.float64)
    grad = call(loss, "_grad", x, y, reduction="sum").astype(np.float64)
    scale = held.reshape(held.shape + (1,) * (x.ndim - 1))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    total = math.fsum(held * each)
    for sw in (w, -w):
        sign = 1.0 if sw is w else -1.0
        got = call(loss, "", x, y, sample_weight=sw, reduction="sum")
        assert got == pytest.approx(sign * total, rel=rtol), f"{loss.name} sum"
        got = call(loss, "", x, y, sample_weight=sw)
        assert got == pytest.approx(total / math.fsum(held), rel=rtol), f"{loss.name} mean"
        v, g = call(loss, "_value_and_grad", x, y, sample_weight=sw, reduction="sum")
        assert v == pytest.approx(sign * total, rel=rtol), f"{loss.name} value_and_grad"
        np.testing.assert_allclose(g, sign * scale * grad, rtol=rtol, atol=0)
        none = call(loss, "", x, y, sample_weight=sw, reduction="none")
        np.testing.assert_allclose(none, sign * held * each, rtol=rtol, atol=0)
    zero = np.tile([1.0, -1.0], 20)
    m = call(loss, "", x, y, sample_weight=zero)
    assert type(m) is float and not math.isfinite(m), f"{loss.name}: {m!r}"
    g = call(loss, "_grad", x, y, sample_weight=zero)
    assert not np.isfinite(g).all()


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_integer_weights_repeat_rows(loss: Loss) -> None:
    """An integer weight k counts an element k times (weighted mean = Σwl/Σw), and scales
    its gradient by k."""
    x, y = inputs(loss, (50,), np.float64, seed=11)
    rng = np.random.default_rng(5)
    w = rng.integers(0, 4, size=50)
    w[0] = 1
    xr, yr = np.repeat(x, w, axis=0), np.repeat(y, w, axis=0)
    for red in ("mean", "sum"):
        got = call(loss, "", x, y, sample_weight=w, reduction=red)
        want = call(loss, "", xr, yr, reduction=red)
        assert got == pytest.approx(want, rel=1e-12), f"{loss.name} {red}"
    g = call(loss, "_grad", x, y, sample_weight=w, reduction="sum")
    unweighted = call(loss, "_grad", x, y, reduction="none")
    scale = w.reshape(w.shape + (1,) * (x.ndim - 1))
    np.testing.assert_allclose(g, scale * unweighted, rtol=1e-15)


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_rows_weight_equals_expanded_weight(loss: Loss) -> None:
    """1-D weights of length shape[0] weigh every element of their row."""
    shape = (37, 3, 5)
    for dtype in FLOATS:
        x, y = inputs(loss, shape, dtype, seed=2)
        w = weights(shape, "rows", seed=2)
        assert w is not None
        full = np.broadcast_to(w.reshape(-1, 1, 1), shape).copy()
        for red in REDUCTIONS:
            for form in ("", "_grad", "_grad_hess"):
                a = call(loss, form, x, y, reduction=red, sample_weight=w)
                b = call(loss, form, x, y, reduction=red, sample_weight=full)
                tag = f"{loss.name}{form} {np.dtype(dtype).name} {red}"
                if isinstance(b, float):
                    assert a == pytest.approx(b, rel=1e-6 if dtype == np.float32 else 1e-13)
                    continue
                pairs = list(zip(a, b)) if isinstance(b, tuple) else [(a, b)]
                for got, want in pairs:
                    assert got.dtype == want.dtype and got.shape == want.shape, tag
                    # Σw may be summed in another order: the mean's scale can
                    # differ in its last bit.
                    assert_elementwise(got, want, dtype, ulps=2, rtol=1e-15, what=tag)


# ----------------------------------------------------------------- errors --


def message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


BAD_DTYPES: list[tuple[str, Callable[[tuple[int, ...]], Array], str]] = [
    ("complex", lambda s: np.ones(s, dtype=np.complex128), r"complex"),
    ("complex64", lambda s: np.ones(s, dtype=np.complex64), r"complex"),
    ("object", lambda s: np.ones(s).astype(object), r"object|\bO\b"),
    ("str", lambda s: np.full(s, "a"), r"U1|str|unicode"),
    ("bytes", lambda s: np.full(s, b"a"), r"S1|bytes"),
    ("datetime", lambda s: np.ones(s, dtype=np.int64).astype("datetime64[D]"), r"datetime64"),
]


@pytest.mark.parametrize("arg", ["input", "target", "sample_weight"])
@pytest.mark.parametrize(("kind", "make", "dtype_re"), BAD_DTYPES, ids=[b[0] for b in BAD_DTYPES])
@pytest.mark.parametrize("func", FUNCTIONS)
def test_unsupported_dtype_is_type_error(
    func: str, kind: str, make: Callable[[tuple[int, ...]], Array], dtype_re: str, arg: str
) -> None:
    loss, _ = loss_of(func)
    x, t = inputs(loss, (4,), np.float64, seed=0)
    args: dict[str, Any] = {"input": x, "target": t, "sample_weight": np.ones(4)}
    args[arg] = make(np.shape(args[arg]))
    with pytest.raises(TypeError) as excinfo:
        function(func)(args["input"], args["target"], sample_weight=args["sample_weight"])
    text = message(excinfo)
    assert arg in text, f"{func}: {kind} {arg}: message does not name {arg!r}: {text!r}"
    assert re.search(dtype_re, text), f"{func}: {kind} {arg}: message lacks the dtype: {text!r}"


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_list_of_strings_and_none_are_type_errors(loss: Loss) -> None:
    x, t = inputs(loss, (2,), np.float64, seed=0)
    with pytest.raises(TypeError, match="input"):
        call(loss, "", np.full(x.shape, "a").tolist(), t)
    bad = np.asarray(t, dtype=object)
    bad.reshape(-1)[0] = None
    with pytest.raises(TypeError, match="target"):
        call(loss, "", x, bad.tolist())


SHAPE_PAIRS = [
    ((3, 1), (3,)),
    ((3,), (3, 1)),
    ((4,), (5,)),
    ((2, 3), (3, 2)),
    ((6,), (2, 3)),
    ((1,), (5,)),
    ((5,), ()),
    ((), (2,)),
    ((0,), (1,)),
]


@pytest.mark.parametrize(("xs", "ys"), SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("func", FUNCTIONS)
def test_shape_mismatch_no_broadcasting(
    func: str, xs: tuple[int, ...], ys: tuple[int, ...]
) -> None:
    """No broadcasting: a target that does not fit the input is a ValueError naming both
    shapes."""
    loss, _ = loss_of(func)
    x, _ = inputs(loss, xs, np.float64, seed=0)
    _, t = inputs(loss, ys, np.float64, seed=0)
    if loss.target == "classes":
        t = np.zeros(ys, dtype=np.int64)
    with pytest.raises(ValueError) as excinfo:
        function(func)(x, t)
    text = message(excinfo)
    for s in (x.shape, t.shape):
        assert re.search(shape_pattern(s), text), f"{func}: {x.shape} vs {t.shape}: {text!r}"


BAD_WEIGHT_SHAPES: list[tuple[tuple[int, ...], tuple[int, ...]]] = [
    ((4, 3), (3,)),  # the last axis: NumPy would broadcast it
    ((4, 3), (2,)),  # divides the element count
    ((4, 3), (6,)),
    ((4, 3), (12,)),  # the flattened size
    ((4, 3), (4, 1)),
    ((4, 3), (3, 4)),
    ((4, 3), (1, 3)),
    ((4, 3), (4, 3, 1)),
    ((4, 3), ()),
    ((8,), (4,)),
    ((8,), (9,)),
    ((8,), (8, 1)),
    ((8,), ()),
    ((2, 3, 4), (2, 3)),
]


@pytest.mark.parametrize(("xs", "ws"), BAD_WEIGHT_SHAPES, ids=str)
@pytest.mark.parametrize("func", FUNCTIONS)
def test_bad_weight_shape(func: str, xs: tuple[int, ...], ws: tuple[int, ...]) -> None:
    """Weights have the loss's shape or are 1-D of length shape[0]: any other shape is a
    ValueError naming sample_weight and its shape."""
    loss, _ = loss_of(func)
    x, t = inputs(loss, xs, np.float64, seed=0)
    with pytest.raises(ValueError) as excinfo:
        function(func)(x, t, sample_weight=np.ones(ws))
    text = message(excinfo)
    assert re.search(r"sample_weight[\s\S]*" + shape_pattern(ws), text), f"{func}: {text!r}"


BAD_WEIGHT_VALUES = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("index", [0, 5, 4098])
@pytest.mark.parametrize("bad", BAD_WEIGHT_VALUES, ids=str)
@pytest.mark.parametrize("func", FUNCTIONS)
def test_bad_weight_value(func: str, bad: float, index: int) -> None:
    """NaN or infinite weights: ValueError naming sample_weight, then the value and the
    index."""
    loss, _ = loss_of(func)
    for dtype in FLOATS:
        x, y = inputs(loss, (4099,), dtype, seed=index)
        w = np.ones(4099)
        w[index] = bad
        with pytest.raises(ValueError) as excinfo:
            function(func)(x, y, sample_weight=w)
        text = message(excinfo)
        assert "sample_weight" in text, f"{func}: {text!r}"
        after = text[text.index("sample_weight") :]
        assert re.search(value_pattern(bad), after), f"{func}: value {bad} not in {text!r}"
        assert re.search(rf"(?<![\d.]){index}(?![\d.])", after), (
            f"{func}: index {index} not in {text!r}"
        )


@pytest.mark.parametrize("func", FUNCTIONS)
def test_bad_weight_value_rows_and_2d(func: str) -> None:
    loss, _ = loss_of(func)
    x, y = inputs(loss, (50, 4), np.float32, seed=1)
    w = np.ones(50)
    w[37] = -math.inf
    with pytest.raises(ValueError, match=r"sample_weight[\s\S]*-inf|-inf[\s\S]*sample_weight"):
        function(func)(x, y, sample_weight=w)
    w2 = np.ones((50, 4))
    w2[10, 3] = math.nan
    with pytest.raises(ValueError, match=r"(?i)sample_weight[\s\S]*nan|nan[\s\S]*sample_weight"):
        function(func)(x, y, sample_weight=w2)


BAD_PARAMS = [(loss, key, value) for loss in LOSSES for key, value in invalid_kwargs(loss)]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("loss", "key", "value"),
    BAD_PARAMS,
    ids=[f"{loss.name}-{key}={value!r}" for loss, key, value in BAD_PARAMS],
)
def test_bad_parameter(loss: Loss, key: str, value: float, form: str) -> None:
    """A parameter outside its domain: ValueError naming the parameter, then the value."""
    x, y = inputs(loss, (10,), np.float64, seed=0)
    with pytest.raises(ValueError) as excinfo:
        call(loss, form, x, y, **{key: value})
    text = message(excinfo)
    assert key in text, f"{loss.name}{form}({key}={value}): {text!r}"
    after = text[text.index(key) + len(key) :]
    assert names_value(after, value), f"{loss.name}{form}({key}={value}): {text!r}"


@pytest.mark.parametrize("bad", ["avg", "Mean", "", "batchmean", "mean "])
@pytest.mark.parametrize("func", FUNCTIONS)
def test_bad_reduction(func: str, bad: str) -> None:
    loss, _ = loss_of(func)
    x, t = inputs(loss, (3,), np.float64, seed=0)
    with pytest.raises(ValueError) as excinfo:
        function(func)(x, t, reduction=bad)
    text = message(excinfo)
    assert "reduction" in text, f"{func}: {text!r}"
    assert repr(bad)[1:-1] in text[text.index("reduction") :], f"{func}: {text!r}"


@pytest.mark.parametrize("func", FUNCTIONS)
def test_keyword_only_and_unknown_keywords(func: str) -> None:
    """Parameters, reduction and sample_weight are keyword-only; another loss's parameter,
    a misspelt one and a missing target are TypeErrors."""
    loss, _ = loss_of(func)
    f = function(func)
    x, y = inputs(loss, (3,), np.float64, seed=0)
    for p in loss.params:
        with pytest.raises(TypeError):
            f(x, y, p.default)
    with pytest.raises(TypeError):
        f(x, y, "mean")
    with pytest.raises(TypeError):
        f(x, y, "mean", None)
    for unknown in ("not_a_parameter", "weight", "weights"):
        with pytest.raises(TypeError):
            f(x, y, **{unknown: 1.0})
    for other in sorted(PARAM_NAMES - {p.name for p in loss.params}):
        with pytest.raises(TypeError):
            f(x, y, **{other: 0.5})
    with pytest.raises(TypeError):
        f(x)


# ------------------------------------------------- probability inputs --

N_ERR = 3 * 4096 + 5


def bad_probabilities(dtype: DType) -> list[float]:
    one_up = float(np.nextafter(dtype(1.0), dtype(2.0)))
    sub = float(np.finfo(dtype).smallest_subnormal)
    return [1.2, -0.5, one_up, -sub, math.nan, math.inf, -math.inf, 2.0, -1e-30]


@pytest.mark.parametrize("index", [0, 5, 4098, N_ERR - 1])
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", PROBABILITY_INPUT, ids=ids(PROBABILITY_INPUT))
def test_probability_input_outside_unit_interval(
    loss: Loss, form: str, dtype: DType, index: int
) -> None:
    """An input outside [0, 1] or NaN where the input is a probability: ValueError naming
    ``input``, the value and the flat index of the first bad element; ``out=`` untouched."""
    failures: list[str] = []
    for bad in bad_probabilities(dtype):
        p, t = inputs(loss, (N_ERR,), dtype, seed=index)
        flat = p.reshape(-1)
        flat[index] = bad
        if index != N_ERR - 1:
            flat[-1] = 3.0  # a later bad one: not the first
        for red in REDUCTIONS:
            kwargs: dict[str, Any] = {"reduction": red}
            out = np.full(p.shape, 7.25, dtype=dtype)
            if form in ("_grad", "_value_and_grad"):
                kwargs["out"] = out
            try:
                call(loss, form, p, t, **kwargs)
            except ValueError as exc:
                text = str(exc)
                if "input" not in text:
                    failures.append(f"{bad!r} {red}: 'input' not in {text!r}")
                if not names_value(text, bad, dtype):
                    failures.append(f"{bad!r} {red}: value not in {text!r}")
                if not names_index(text, index):
                    failures.append(f"{bad!r} {red}: index {index} not in {text!r}")
            else:
                failures.append(f"{bad!r} {red}: no error")
            if np.any(out != 7.25):
                failures.append(f"{bad!r} {red}: out was written")
    assert not failures, f"{loss.name}{form} {np.dtype(dtype).name}:\n" + "\n".join(failures[:20])


@pytest.mark.parametrize("loss", PROBABILITY_INPUT, ids=ids(PROBABILITY_INPUT))
def test_probability_error_message_example(loss: Loss) -> None:
    x = np.asarray([0.5, 1.2])
    with pytest.raises(ValueError) as excinfo:
        call(loss, "", x, target_like(loss, x, 1.0))
    text = str(excinfo.value)
    assert "input" in text and "1.2" in text and names_index(text, 1), text
    assert "[0, 1]" in text, text


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", PROBABILITY_INPUT, ids=ids(PROBABILITY_INPUT))
def test_probability_error_index_is_c_order(loss: Loss, form: str) -> None:
    """The flat index is the C-order index of the logical array, whatever its memory
    layout; the first bad element in C order is reported."""
    base = np.full((4, 5), 0.5)
    base[0, 4] = 1.5  # C index 4 (Fortran memory index 16)
    base[3, 0] = -2.0  # C index 15 (Fortran memory index 3)
    t = target_like(loss, base)
    big = np.full((8, 10), 0.5)
    big[::2, ::2] = base
    layouts = {
        "C": base,
        "F": np.asfortranarray(base),
        "strided": big[::2, ::2],
        "reversed": np.ascontiguousarray(base[::-1, ::-1])[::-1, ::-1],
        "byteswapped": base.astype(base.dtype.newbyteorder()),
    }
    for label, arr in layouts.items():
        with pytest.raises(ValueError) as excinfo:
            call(loss, form, arr, t)
        text = str(excinfo.value)
        assert names_index(text, 4) and names_value(text, 1.5, np.float64), f"{label}: {text!r}"
    x3 = np.full((2, 3, 4), 0.25)
    x3[1, 2, 3] = math.nan
    with pytest.raises(ValueError) as excinfo:
        call(loss, form, np.asfortranarray(x3), target_like(loss, x3))
    assert names_index(str(excinfo.value), 23), str(excinfo.value)


@pytest.mark.parametrize("loss", PROBABILITY_INPUT, ids=ids(PROBABILITY_INPUT))
def test_probability_edges_do_not_raise(loss: Loss) -> None:
    """0, -0.0, 1, the smallest subnormal and 1 - ulp are valid probabilities."""
    for dtype in FLOATS:
        edges = [0.0, -0.0, 1.0, float(np.finfo(dtype).smallest_subnormal)]
        edges.append(float(np.nextafter(dtype(1.0), dtype(0.0))))
        p = np.asarray(edges).astype(dtype)
        for form in FORMS:
            out = call(loss, form, p, target_like(loss, p))
            for a in out if isinstance(out, tuple) else (out,):
                assert np.all(np.isfinite(a)), f"{form}: {a}"


# ------------------------------------------------------------------- out= --


OUT_SHAPES = [(17,), (5, 7), (2, 3, 4), (0,), (0, 3), ()]


@pytest.mark.parametrize("shape", OUT_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("func", OUT_FUNCTIONS)
def test_out_valid(func: str, dtype: DType, shape: tuple[int, ...]) -> None:
    """A valid ``out`` receives the gradient and is returned itself."""
    loss, form = loss_of(func)
    x: Any
    t: Any
    x, t = inputs(loss, shape, dtype, seed=3)
    if x.ndim == 0:  # NumPy scalars
        x, t = x[()], t[()]
    variants: list[dict[str, Any]] = [sample_kwargs(loss)]
    if array_params(loss) and np.ndim(x) and np.shape(x)[-1] > 0:
        variants.append({**variants[0], **array_kwargs(loss, x, 1)})
    for kw in variants:
        for red in REDUCTIONS:
            out = np.full(np.shape(x), 7.25, dtype=dtype)
            want = call(loss, form, x, t, reduction=red, **kw)
            got = call(loss, form, x, t, reduction=red, out=out, **kw)
            if isinstance(want, tuple):
                assert got[1] is out, f"{func}: value_and_grad did not return out"
                results_equal(got, want, f"{func} out= {red} {sorted(kw)}")
            else:
                assert got is out, f"{func}: grad did not return out"
                assert_bitwise(got, want, f"{func} out= {red} {sorted(kw)}")


@pytest.mark.parametrize("func", OUT_FUNCTIONS)
def test_out_of_another_float_dtype(func: str) -> None:
    """``out=`` of the other float dtype, or of a half-precision input's own, holds the
    result converted from the compute dtype (rounded once), and is what is returned."""
    loss, form = loss_of(func)
    # float16 inputs: the float32 ones that stay finite, and zero or not, when rounded (the
    # domains' bounds 0 and 1 are float16 values, so each element stays in its domain).
    # Cross-entropy: float16 logits (moderate ones), int64 class indices.
    x32, t32 = inputs(loss, (4099,), np.float32, seed=6)
    with np.errstate(over="ignore"):
        x16 = x32.astype(np.float16)
        t16 = t32 if loss.family == "rows" else t32.astype(np.float16)
    if loss.family != "rows":
        keep = np.isfinite(x16) & ((x16 != 0) == (x32 != 0))
        keep &= np.isfinite(t16) & ((t16 != 0) == (t32 != 0))
        x16, t16 = x16[keep], t16[keep]
    cases = [
        (*inputs(loss, (4099,), np.float32, seed=6), np.float64),
        (*inputs(loss, (4099,), np.float64, seed=6), np.float32),
        (x16, t16, np.float16),
    ]
    for x, t, out_dtype in cases:
        kw = sample_kwargs(loss)
        want = call(loss, form, x, t, **kw)
        out = np.full(x.shape, 7.25, dtype=out_dtype)
        got = call(loss, form, x, t, out=out, **kw)
        grad = got[1] if isinstance(got, tuple) else got
        assert grad is out, f"{func}: did not return out"
        want_grad = want[1] if isinstance(want, tuple) else want
        what = f"{func} {x.dtype} into {np.dtype(out_dtype).name}"
        with np.errstate(over="ignore"):
            assert_bitwise(out, want_grad.astype(out_dtype), what)
        if isinstance(want, tuple):
            assert_bitwise(got[0], want[0], what)


def failing_calls(loss: Loss, form: str, dtype: DType) -> list[tuple[str, Failing, Array]]:
    """(label, call(out) that must fail, the sentinel-filled ``out`` it writes to)."""
    n = N_ERR
    x, y = inputs(loss, (n,), dtype, seed=1)
    xs = x.shape
    f = function(loss.name + form)
    param = sample_kwargs(loss)

    def run(*args: Any, **kwargs: Any) -> Failing:
        """A call of ``f`` with ``out=o``; (x, y) unless other arrays are given."""
        arrays = args if args else (x, y)
        return lambda o: f(*arrays, out=o, **{**param, **kwargs})

    def sentinel(
        shape: tuple[int, ...] = xs, dt: Any = dtype, order: Literal["C", "F"] = "C"
    ) -> Array:
        return np.full(shape, 7.25, dtype=dt, order=order)

    def late_bad_weight(value: float) -> Array:
        """A bad weight at the last element: a kernel that checks weights as it
        goes would have written every earlier block."""
        w = np.ones(n)
        w[-1] = value
        return w

    x2, y2 = inputs(loss, (6, 819), dtype, seed=2)
    cases: list[tuple[str, Failing, Array]] = [
        ("half dtype, input not half", run(), sentinel(dt=np.float16)),
        ("int dtype", run(), sentinel(dt=np.int64)),
        ("complex dtype", run(), sentinel(dt=np.complex128)),
        ("too short", run(), sentinel(input_shape(loss, (n - 1,)))),
        ("too long", run(), sentinel(input_shape(loss, (n + 1,)))),
        ("2-D, same size", run(), sentinel((1, *xs))),
        ("transposed shape", run(x2, y2), sentinel(x2.shape[::-1])),
        ("flattened shape", run(x2, y2), sentinel((x2.size,))),
        ("bad weight nan", run(sample_weight=late_bad_weight(math.nan)), sentinel()),
        ("bad weight -inf", run(sample_weight=late_bad_weight(-math.inf)), sentinel()),
        ("bad weight inf", run(sample_weight=late_bad_weight(math.inf)), sentinel()),
        ("bad weight shape", run(sample_weight=np.ones(n - 1)), sentinel()),
        ("bad weight dtype", run(sample_weight=np.ones(n, dtype=complex)), sentinel()),
        ("bad reduction", run(reduction="avg"), sentinel()),
        ("target shape", run(x, y[:-1]), sentinel()),
        ("target dtype", run(x, y.astype(complex)), sentinel()),
    ]
    rows = 4097
    xr, yr = inputs(loss, (rows, 3), dtype, seed=3)
    wr = np.ones(rows)
    wr[-1] = math.nan
    cases.append(("bad row weight", run(xr, yr, sample_weight=wr), sentinel(xr.shape)))
    for key, bad in invalid_kwargs(loss):
        cases.append((f"bad {key}={bad!r}", run(**{key: bad}), sentinel()))
    if loss.input == "probability":
        p_late = x.copy()
        p_late.reshape(-1)[-1] = 1.5
        cases.append(("bad probability, last", run(p_late, y), sentinel()))
        p_nan = x.copy()
        p_nan.reshape(-1)[4097] = math.nan
        cases.append(("nan probability", run(p_nan, y), sentinel()))
    if loss.target == "classes":
        late = y.copy()
        late.reshape(-1)[-1] = xs[-1]  # one past the last class, in the last row
        cases.append(("late bad label", run(x, late), sentinel()))
    # non-contiguous, Fortran order, read-only, byte-swapped
    cases.append(("strided", run(), sentinel((2 * xs[0], *xs[1:]))[::2]))
    cases.append(("reversed", run(), sentinel()[::-1]))
    x3, y3 = inputs(loss, (64, 64), dtype, seed=4)
    cases.append(("fortran", run(x3, y3), sentinel(x3.shape, order="F")))
    ro = sentinel()
    ro.flags.writeable = False
    cases.append(("read-only", run(), ro))
    cases.append(("byte-swapped", run(), sentinel().astype(np.dtype(dtype).newbyteorder())))
    # overlapping the inputs and the parameters
    xo, yo = x.copy(), y.copy()
    cases.append(("out is input", lambda o: f(o, yo, out=o, **param), xo))
    cases.append(("out is target", lambda o: f(xo, o, out=o, **param), yo))
    buf = sentinel((2 * n, *xs[1:]))
    cases.append(("out overlaps input", run(buf[:n], y), buf[n // 2 : n // 2 + n]))
    for p in array_params(loss):
        cases.append((f"out is {p.name}", out_is(f, x, y, p.name), np.ones(xs[-1], dtype=dtype)))
    return cases


def out_is(f: Callable[..., Any], x: Array, y: Array, key: str) -> Failing:
    """A call whose ``out`` is also its parameter ``key``."""
    return lambda o: f(x, y, out=o, **{key: o})


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("func", OUT_FUNCTIONS)
def test_out_rejected_before_writing(func: str, dtype: DType) -> None:
    """Every invalid call with ``out`` raises, and ``out`` keeps its sentinel."""
    loss, form = loss_of(func)
    failures = out_left_alone(failing_calls(loss, form, dtype))
    assert not failures, f"{func} {np.dtype(dtype).name}: " + "; ".join(failures)


@pytest.mark.parametrize("func", OUT_FUNCTIONS)
def test_out_must_be_an_ndarray(func: str) -> None:
    loss, _ = loss_of(func)
    x, t = inputs(loss, (3,), np.float64, seed=0)
    out: Any
    for out in ([0.0] * x.size, tuple([0.0] * x.size), 3.0, "out"):
        with pytest.raises((TypeError, ValueError)):
            function(func)(x, t, out=out)


def _overlapping(
    loss: Loss, dtype: DType
) -> list[tuple[str, Callable[[Array], dict[str, Any]], tuple[int, ...]]]:
    """(argument, a function that makes the call's arguments from ``out``'s memory, the
    input's shape): every argument a call reads, as memory shared with ``out``, read in
    place or through a converted copy."""
    rows = 8
    # Elementwise: 3 columns, so that a strided array parameter fits in ``out``.
    x, t = inputs(loss, (rows,) if loss.family == "rows" else (rows, 3), dtype, seed=4)
    xs = x.shape

    def raw(out: Array, dt: Any, count: int) -> Array:
        """The first ``count`` items of ``out``'s bytes, as ``dt``."""
        return out.reshape(-1).view(np.uint8)[: count * np.dtype(dt).itemsize].view(dt)

    def reversed_input(out: Array) -> dict[str, Any]:
        out[...] = x[::-1]
        return {"input": out[::-1], "target": t}

    def reversed_target(out: Array) -> dict[str, Any]:
        out[...] = t[::-1]
        return {"input": x, "target": out[::-1]}

    def labels(dt: Any) -> Callable[[Array], dict[str, Any]]:
        def make(out: Array) -> dict[str, Any]:
            y = raw(out, dt, rows)
            y[...] = np.arange(rows) % xs[-1]
            return {"input": x, "target": y}

        return make

    def weight(strided: bool) -> Callable[[Array], dict[str, Any]]:
        def make(out: Array) -> dict[str, Any]:
            out[...] = 1.0
            if loss.family == "rows":
                w = out[:, 0] if strided else raw(out, dtype, rows)
            else:
                w = out[::-1] if strided else out
            return {"input": x, "target": t, "sample_weight": w}

        return make

    def param(name: str, strided: bool) -> Callable[[Array], dict[str, Any]]:
        def make(out: Array) -> dict[str, Any]:
            out[...] = 1.0
            flat = out.reshape(-1)
            p = flat[: 2 * xs[-1] : 2] if strided else flat[: xs[-1]]
            return {"input": x, "target": t, name: p}

        return make

    cases: list[tuple[str, Callable[[Array], dict[str, Any]], tuple[int, ...]]] = [
        ("input", reversed_input, xs),
        ("sample_weight", weight(False), xs),
        ("sample_weight", weight(True), xs),
    ]
    if loss.target == "classes":
        cases += [("target", labels(dt), xs) for dt in (np.int64, np.int32, np.uint8)]
    else:
        cases.append(("target", reversed_target, xs))
    for p in array_params(loss):
        cases += [(p.name, param(p.name, strided), xs) for strided in (False, True)]
    return cases


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("func", OUT_FUNCTIONS)
def test_out_sharing_memory_with_any_argument(func: str, dtype: DType) -> None:
    """``out`` sharing memory with anything the call reads (the input, the target, class
    indices in any integer dtype, the sample weights, an array parameter), read in place or
    through a converted copy: ValueError naming the argument, and ``out`` untouched."""
    loss, _ = loss_of(func)
    failures: list[str] = []
    for k, (name, make, shape) in enumerate(_overlapping(loss, dtype)):
        out = np.zeros(shape, dtype=dtype)
        kwargs = make(out)
        before = out.copy()
        x, t = kwargs.pop("input"), kwargs.pop("target")
        try:
            function(func)(x, t, out=out, **{**sample_kwargs(loss), **kwargs})
        except ValueError as e:
            if name not in str(e) or "out" not in str(e):
                failures.append(f"{k} {name}: {e}")
        else:
            failures.append(f"{k} {name}: no error")
        if out.tobytes() != before.tobytes():
            failures.append(f"{k} {name}: out was written")
    assert not failures, f"{func} {np.dtype(dtype).name}: " + "; ".join(failures)


@pytest.mark.parametrize("loss", CLASS_TARGET, ids=ids(CLASS_TARGET))
def test_out_sharing_memory_with_class_indices(loss: Loss) -> None:
    """Class indices that are ``out``'s own memory would be overwritten while they are
    read: the call is refused."""
    buf = np.zeros(128)
    y = buf.view(np.int64)[:64]
    y[32:] = 1
    x = np.tile([0.0, -1e4], (64, 1))
    assert call(loss, "_value_and_grad", x, y.copy())[0] == 5000.0
    with pytest.raises(ValueError, match="target"):
        call(loss, "_value_and_grad", x, y, out=buf.reshape(64, 2))
    assert not buf.view(np.int64)[:32].any() and (buf.view(np.int64)[32:64] == 1).all()


# ------------------------------------------------------------ class indices --


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", CLASS_TARGET, ids=ids(CLASS_TARGET))
def test_uint64_labels_beyond_int64(loss: Loss, form: str) -> None:
    """A uint64 label of 2^63 or more is out of range, whatever ``ignore_index`` is (its
    int64 image, which is negative, included): ValueError naming its true value and its
    position. Smaller uint64 labels are those labels."""
    x, _ = inputs(loss, (2, 3), np.float64, seed=1)
    y = np.zeros((2, 3), dtype=np.uint64)
    y[1, 2] = 1
    want = call(loss, form, x, y.astype(np.int64))
    results_equal(call(loss, form, x, y), want, f"{loss.name}{form} uint64")
    for big in (2**63, 2**63 + 5, 2**64 - 1):
        y[1, 1] = big
        for ignore in (None, big - 2**64, -1):
            with pytest.raises(ValueError) as excinfo:
                call(loss, form, x, y, ignore_index=ignore)
            text = message(excinfo)
            assert f"label {big} " in text and re.search(shape_pattern((1, 1)), text), (
                f"{big} ignore_index={ignore}: {text!r}"
            )


# ------------------------------------------------------ conversion errors --


class Raising:
    """An array-like whose conversion raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        raise self.error


def convertible_arguments(loss: Loss) -> tuple[dict[str, Any], list[str]]:
    """Valid arguments of a call, by name, and the names of those converted to arrays."""
    x, t = inputs(loss, (6, 4), np.float64, seed=3)
    w = weights((6, 4), "rows", seed=3)
    args: dict[str, Any] = {"input": x, "target": t, "sample_weight": w}
    args.update(array_kwargs(loss, x, 3))
    return args, list(args)


def call_with(loss: Loss, form: str, args: dict[str, Any]) -> Any:
    rest = {k: v for k, v in args.items() if k not in ("input", "target")}
    return call(loss, form, args["input"], args["target"], **rest)


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit, MemoryError])
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_interrupts_while_converting_pass_through(loss: Loss, error: type[BaseException]) -> None:
    """Ctrl-C, ``sys.exit`` and running out of memory while an argument is converted (in
    its ``__array__``, or in a list) reach the caller as they are; only a failure to
    convert is a TypeError naming the argument."""
    base, names = convertible_arguments(loss)
    for name in names:
        for bad in (Raising(error()), [Raising(error())]):
            with pytest.raises(error) as excinfo:
                call_with(loss, "", {**base, name: bad})
            assert type(excinfo.value) is error, f"{name}: {excinfo.value!r}"
        with pytest.raises(TypeError, match=name):
            call_with(loss, "", {**base, name: Raising(ValueError("no"))})


# --------------------------------------------------------- masked arrays --


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_masked_arrays_are_refused(loss: Loss) -> None:
    """A masked array (whose mask the kernels would not see) for any argument: TypeError
    naming it and pointing to sample_weight, which is how to leave elements out."""
    base, names = convertible_arguments(loss)
    for name in names:
        data = np.asarray(base[name])
        mask = np.zeros(data.shape, dtype=bool)
        mask.reshape(-1)[0] = data.size > 0
        for masked in (np.ma.masked_array(data, mask=mask), np.ma.masked_array(data)):
            for form in FORMS:
                with pytest.raises(TypeError) as excinfo:
                    call_with(loss, form, {**base, name: masked})
                text = message(excinfo)
                assert text.startswith(name) and "sample_weight" in text, f"{name}: {text!r}"


# ------------------------------------------------------ parameter messages --

SCALAR_PARAMS = [
    (loss, p) for loss in LOSSES for p in loss.params if not p.annotation.startswith("ArrayLike")
]


@pytest.mark.parametrize(
    ("loss", "param"), SCALAR_PARAMS, ids=[f"{lo.name}-{p.name}" for lo, p in SCALAR_PARAMS]
)
def test_parameter_type_error_names_the_parameter(loss: Loss, param: Any) -> None:
    """A parameter of the wrong type: TypeError whose message (not only a note) names the
    parameter and what it got. An int parameter refuses a bool."""
    x, t = inputs(loss, (4,), np.float64, seed=0)
    bad: list[Any] = ["a", [1.0], None] if "None" not in param.annotation else ["a", [1.0]]
    if param.annotation.startswith("int"):
        bad += [True, False, 1.5]
    for value in bad:
        for form in FORMS:
            with pytest.raises(TypeError) as excinfo:
                call(loss, form, x, t, **{param.name: value})
            text = message(excinfo)
            assert text.startswith(param.name), f"{param.name}={value!r}: {text!r}"
            assert type(value).__name__ in text, f"{param.name}={value!r}: {text!r}"


@pytest.mark.parametrize("func", FUNCTIONS)
def test_reduction_type_error_names_it(func: str) -> None:
    loss, _ = loss_of(func)
    x, t = inputs(loss, (4,), np.float64, seed=0)
    for value in (1, None, b"mean"):
        with pytest.raises(TypeError) as excinfo:
            function(func)(x, t, reduction=value)
        assert message(excinfo).startswith("reduction"), message(excinfo)


FLOAT_PARAMS = [(loss, p) for loss, p in SCALAR_PARAMS if p.annotation == "float"]


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize(
    ("loss", "param"), FLOAT_PARAMS, ids=[f"{lo.name}-{p.name}" for lo, p in FLOAT_PARAMS]
)
def test_tiny_parameter_values_print_short(loss: Loss, param: Any, dtype: DType) -> None:
    """A parameter refused for its value (1e-300 rounds to 0 in float32) is named in its
    short form, never as hundreds of digits."""
    x, t = inputs(loss, (4,), dtype, seed=0)
    for value in (1e-300, -1e-300, 5e-324, 1e300, -1e300):
        try:
            call(loss, "", x, t, **{param.name: value})
        except ValueError as e:
            text = str(e)
            assert not re.search(r"\d{18}", text), f"{param.name}={value!r}: {text!r}"
            assert names_value(text[text.index(param.name) + len(param.name) :], value), text


@pytest.mark.parametrize("func", FUNCTIONS)
def test_weight_shape_message_says_each_shape_once(func: str) -> None:
    """A 1-D input's shape and its shape[0] are the same: said once."""
    loss, _ = loss_of(func)
    x, t = inputs(loss, (8,), np.float64, seed=0)
    with pytest.raises(ValueError) as excinfo:
        function(func)(x, t, sample_weight=np.ones(3))
    text = message(excinfo)
    assert not re.search(r"(\(\d+,\)) or \1", text), text
    assert re.search(shape_pattern((8,)), text), text


@pytest.mark.parametrize("loss", CLASS_TARGET, ids=ids(CLASS_TARGET))
def test_class_target_kind_messages(loss: Loss) -> None:
    """An integer target of the input's shape (one-hot labels) and a float target of the
    class indices' shape: the message says what each kind of target needs, never that a
    shape does not fit itself."""
    x = np.zeros((6, 4))
    one_hot = np.eye(4, dtype=np.int64)[[0, 1, 2, 3, 0, 1]]
    with pytest.raises(ValueError) as excinfo:
        call(loss, "", x, one_hot)
    text = message(excinfo)
    assert "class indices" in text and re.search(shape_pattern((6,)), text), text
    assert "float" in text, text
    assert not re.search(r"\(6, 4\)[^()]*fit[^()]*\(6, 4\)", text), text
    with pytest.raises(ValueError) as excinfo:
        call(loss, "", x, np.zeros(6))
    text = message(excinfo)
    assert "integer" in text and re.search(shape_pattern((6, 4)), text), text
