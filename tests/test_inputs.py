"""Inputs, dtypes, layouts, errors and ``out=`` (SPEC §3, §4)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pytest
from reference import (
    FLOATS,
    LOSSES,
    PARAM,
    REDUCTIONS,
    SUFFIXES,
    Array,
    DType,
    api,
    assert_bitwise,
    call,
    make_data,
    make_weight,
    shape_pattern,
    value_pattern,
)

ALL_FUNCS = [name + suffix for name in LOSSES for suffix in SUFFIXES]
OUT_FUNCS = [name + suffix for name in LOSSES for suffix in ("_grad", "_value_and_grad")]
Failing = Callable[[Array], Any]


def results_equal(got: Any, want: Any, what: str) -> None:
    """Bitwise equality of a result: float, array, or a tuple of them."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), what
        for k, (g, w) in enumerate(zip(got, want)):
            assert_bitwise(g, w, f"{what}[{k}]")
    else:
        assert_bitwise(got, want, what)


def run_all(
    x: Any, y: Any, weight: Any = None, reductions: tuple[str, ...] = REDUCTIONS
) -> dict[str, Any]:
    """Every function of every loss on (x, y), by reduction."""
    results: dict[str, Any] = {}
    for name in LOSSES:
        param = 0.5 if name in PARAM else None
        for suffix in SUFFIXES:
            for red in reductions:
                results[f"{name}{suffix} {red}"] = call(
                    name, suffix, x, y, param=param, reduction=red, sample_weight=weight
                )
    return results


def compare_runs(got: dict[str, Any], want: dict[str, Any], what: str) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        results_equal(got[key], value, f"{what}: {key}")


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
]


@pytest.mark.parametrize(
    ("xt", "yt", "compute"),
    PROMOTIONS,
    ids=[f"{a.__name__}-{b.__name__}" for a, b, _ in PROMOTIONS],
)
def test_compute_dtype(xt: Any, yt: Any, compute: DType) -> None:
    """float64 if either is float64 or integer/bool; float32 if both are
    float32/float16; results equal those on arrays converted to that dtype."""
    rng = np.random.default_rng(0)
    shape = (7, 9)
    x = (rng.standard_normal(shape) * 3).astype(xt)
    y = (rng.standard_normal(shape) * 3).astype(yt)
    if np.dtype(xt).kind == "b":
        x = rng.integers(0, 2, size=shape).astype(xt)
    if np.dtype(yt).kind == "b":
        y = rng.integers(0, 2, size=shape).astype(yt)
    got = run_all(x, y)
    want = run_all(x.astype(compute), y.astype(compute))
    compare_runs(got, want, f"{np.dtype(xt)}/{np.dtype(yt)} → {np.dtype(compute)}")
    for key, value in got.items():
        arrays = value if isinstance(value, tuple) else (value,)
        for a in arrays:
            if isinstance(a, np.ndarray):
                assert a.dtype == compute, f"{key}: dtype {a.dtype}, expected {compute}"


@pytest.mark.parametrize("wt", [np.float64, np.float32, np.float16, np.int64, np.bool_])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_sample_weight_does_not_change_compute_dtype(dtype: DType, wt: Any) -> None:
    """sample_weight is converted to the compute dtype of input and target."""
    x, y = make_data(300, dtype, seed=1)
    rng = np.random.default_rng(2)
    w = (rng.uniform(0, 3, size=300)).astype(wt)
    if np.dtype(wt).kind in "bi":
        w = rng.integers(0, 2, size=300).astype(wt)
    w[0] = 1
    got = run_all(x, y, w)
    want = run_all(x, y, w.astype(dtype))
    compare_runs(got, want, f"weights {np.dtype(wt)} with {np.dtype(dtype)}")
    for key, value in got.items():
        arrays = value if isinstance(value, tuple) else (value,)
        for a in arrays:
            if isinstance(a, np.ndarray):
                assert a.dtype == dtype, f"{key}: dtype {a.dtype}"


# ------------------------------------------------------ array-like inputs --


class ArrayLike:
    """An object NumPy converts through ``__array__`` (as a CPU torch tensor)."""

    def __init__(self, data: Array) -> None:
        self.data = data

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        return self.data if dtype is None else self.data.astype(dtype)


def test_lists_and_array_likes() -> None:
    x, y = make_data((4, 3), np.float64, seed=5)
    w = make_weight((4, 3), "rows", seed=5)
    assert w is not None
    want = run_all(x, y, w)
    compare_runs(run_all(x.tolist(), y.tolist(), w.tolist()), want, "nested lists")
    compare_runs(run_all(x, y.tolist(), w), want, "array and list")
    compare_runs(run_all(ArrayLike(x), ArrayLike(y), ArrayLike(w)), want, "__array__ objects")
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    compare_runs(
        run_all(ArrayLike(x32), ArrayLike(y32), w),
        run_all(x32, y32, w),
        "__array__ float32 objects",
    )


@pytest.mark.parametrize("name", LOSSES)
def test_scalars_are_zero_dimensional(name: str) -> None:
    """Python and NumPy scalars are 0-d arrays: "none" gives a 0-d array."""
    param = 0.5 if name in PARAM else None
    for a, b, dtype in (
        (3.0, 1.0, np.float64),
        (3, 1, np.float64),
        (np.float32(3.0), np.float32(1.0), np.float32),
        (np.float64(-2.5), 0.5, np.float64),
    ):
        xa, ya = np.asarray(a).astype(dtype), np.asarray(b).astype(dtype)
        for red in REDUCTIONS:
            for suffix in SUFFIXES:
                got = call(name, suffix, a, b, param=param, reduction=red)
                want = call(name, suffix, xa, ya, param=param, reduction=red)
                results_equal(got, want, f"{name}{suffix}({a!r}, {b!r}) {red}")
            v = call(name, "", a, b, param=param, reduction=red)
            if red == "none":
                assert isinstance(v, np.ndarray) and v.shape == () and v.dtype == dtype
            else:
                assert type(v) is float
        g = call(name, "_grad", a, b, param=param)
        assert isinstance(g, np.ndarray) and g.shape == () and g.dtype == dtype


def test_scalar_values() -> None:
    mse, mae = api("mse"), api("mae")
    assert mse(3.0, 1.0) == 4.0
    assert mae(-3.0, 1.0, reduction="sum") == 4.0
    assert float(api("mse_grad")(3.0, 1.0)) == 4.0
    assert float(api("mae_grad")(1.0, 1.0)) == 0.0
    assert mse([1.0, 2.0, 3.0], [1.0, 0.0, 0.0]) == pytest.approx(13.0 / 3.0, rel=1e-15)


# ---------------------------------------------------------------- layouts --


def strided(a: Array) -> Array:
    """The same values, every other element of a bigger array along each axis."""
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
    assert not b.dtype.isnative
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
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_layouts(dtype: DType, layout: str, ndim: int, which: str) -> None:
    """Any layout gives bitwise the result of the C-contiguous copy."""
    shape = SHAPES[ndim]
    x, y = make_data(shape, dtype, seed=ndim, specials=True)
    mode = "rows" if which == "rows" else "each"
    w = make_weight(shape, mode, seed=ndim)
    assert w is not None
    want = run_all(x, y, w)
    f = LAYOUTS[layout]
    xl = f(x) if which in ("input", "all") else x
    yl = f(y) if which in ("target", "all") else y
    wl = f(w) if which in ("weight", "rows", "all") else w
    assert np.array_equal(xl, x, equal_nan=True) and np.array_equal(yl, y, equal_nan=True)
    got = run_all(xl, yl, wl)
    compare_runs(got, want, f"{layout} {which} {shape} {np.dtype(dtype).name}")
    if layout == "readonly":
        return
    # the inputs are left as they were
    assert np.array_equal(xl, x, equal_nan=True) and np.array_equal(yl, y, equal_nan=True)


def test_inputs_not_modified() -> None:
    x, y = make_data(4099, np.float64, seed=1, specials=True)
    w = make_weight((4099,), "each", seed=1)
    assert w is not None
    copies = (x.copy(), y.copy(), w.copy())
    run_all(x, y, w)
    for before, after in zip(copies, (x, y, w)):
        assert before.tobytes() == after.tobytes()


# ----------------------------------------------------------------- errors --


def message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


BAD_DTYPES: list[tuple[str, Callable[[], Array], str]] = [
    ("complex", lambda: np.ones(4, dtype=np.complex128), r"complex"),
    ("complex64", lambda: np.ones(4, dtype=np.complex64), r"complex"),
    ("object", lambda: np.array([1.0, 2.0, 3.0, 4.0], dtype=object), r"object|\bO\b"),
    ("str", lambda: np.array(["a", "b", "c", "d"]), r"U1|str|unicode"),
    ("bytes", lambda: np.array([b"a", b"b", b"c", b"d"]), r"S1|bytes"),
    ("datetime", lambda: np.arange(4).astype("datetime64[D]"), r"datetime64"),
]


@pytest.mark.parametrize("arg", ["input", "target", "sample_weight"])
@pytest.mark.parametrize(("kind", "make", "dtype_re"), BAD_DTYPES, ids=[b[0] for b in BAD_DTYPES])
@pytest.mark.parametrize("func", ALL_FUNCS)
def test_unsupported_dtype_is_type_error(
    func: str, kind: str, make: Callable[[], Array], dtype_re: str, arg: str
) -> None:
    good = np.ones(4)
    bad = make()
    args: dict[str, Any] = {"input": good, "target": good, "sample_weight": None}
    args[arg] = bad
    with pytest.raises(TypeError) as excinfo:
        api(func)(args["input"], args["target"], sample_weight=args["sample_weight"])
    text = message(excinfo)
    assert arg in text, f"{func}: {kind} {arg}: message does not name {arg!r}: {text!r}"
    assert re.search(dtype_re, text), f"{func}: {kind} {arg}: message lacks the dtype: {text!r}"


def test_list_of_strings_and_none_are_type_errors() -> None:
    with pytest.raises(TypeError, match="input"):
        api("mse")(["a", "b"], [1.0, 2.0])
    with pytest.raises(TypeError, match="target"):
        api("mse")([1.0, 2.0], [None, 1.0])


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
@pytest.mark.parametrize("func", ALL_FUNCS)
def test_shape_mismatch_no_broadcasting(
    func: str, xs: tuple[int, ...], ys: tuple[int, ...]
) -> None:
    """No broadcasting: a ValueError naming both shapes."""
    with pytest.raises(ValueError) as excinfo:
        api(func)(np.ones(xs), np.ones(ys))
    text = message(excinfo)
    for s in (xs, ys):
        assert re.search(shape_pattern(s), text), f"{func}: {xs} vs {ys}: {text!r} lacks {s}"


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
@pytest.mark.parametrize("func", ALL_FUNCS)
def test_bad_weight_shape(func: str, xs: tuple[int, ...], ws: tuple[int, ...]) -> None:
    """Weights have the input's shape or are 1-D of length shape[0]."""
    with pytest.raises(ValueError, match="sample_weight"):
        api(func)(np.ones(xs), np.zeros(xs), sample_weight=np.ones(ws))


BAD_WEIGHT_VALUES = [-1.5, -0.25, math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("index", [0, 5, 4098])
@pytest.mark.parametrize("bad", BAD_WEIGHT_VALUES, ids=str)
@pytest.mark.parametrize("func", ALL_FUNCS)
def test_bad_weight_value(func: str, bad: float, index: int) -> None:
    """Negative, NaN or inf weights: ValueError naming sample_weight, the value
    and the index."""
    for dtype in FLOATS:
        x, y = make_data(4099, dtype, seed=index)
        w = np.ones(4099)
        w[index] = bad
        with pytest.raises(ValueError) as excinfo:
            api(func)(x, y, sample_weight=w)
        text = message(excinfo)
        assert "sample_weight" in text, f"{func}: {text!r}"
        assert re.search(value_pattern(bad), text), f"{func}: value {bad} not in {text!r}"
        assert re.search(rf"(?<![\d.]){index}(?![\d.])", text), (
            f"{func}: index {index} not in {text!r}"
        )


@pytest.mark.parametrize("func", ALL_FUNCS)
def test_bad_weight_value_rows_and_2d(func: str) -> None:
    x, y = make_data((50, 4), np.float32, seed=1)
    w = np.ones(50)
    w[37] = -2.5
    with pytest.raises(ValueError, match=r"sample_weight[\s\S]*-2\.5|-2\.5[\s\S]*sample_weight"):
        api(func)(x, y, sample_weight=w)
    w2 = np.ones((50, 4))
    w2[10, 3] = math.nan
    with pytest.raises(ValueError, match=r"(?i)sample_weight[\s\S]*nan|nan[\s\S]*sample_weight"):
        api(func)(x, y, sample_weight=w2)


BAD_PARAMS: list[tuple[str, float]] = [
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


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize(("name", "value"), BAD_PARAMS, ids=str)
def test_bad_parameter(name: str, value: float, suffix: str) -> None:
    """β < 0 or NaN, δ ≤ 0, q ∉ (0, 1): ValueError naming the parameter and value."""
    x, y = make_data(10, np.float64, seed=0)
    key = PARAM[name][0]
    with pytest.raises(ValueError) as excinfo:
        api(name + suffix)(x, y, **{key: value})
    text = message(excinfo)
    assert key in text, f"{name}{suffix}({key}={value}): {text!r}"
    assert re.search(value_pattern(value), text), f"{name}{suffix}({key}={value}): {text!r}"


@pytest.mark.parametrize("bad", ["avg", "Mean", "", "batchmean", "mean "])
@pytest.mark.parametrize("func", ALL_FUNCS)
def test_bad_reduction(func: str, bad: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        api(func)(np.ones(3), np.zeros(3), reduction=bad)
    text = message(excinfo)
    assert "reduction" in text and repr(bad)[1:-1] in text, f"{func}: {text!r}"


@pytest.mark.parametrize("func", ALL_FUNCS)
def test_keyword_only_and_unknown_keywords(func: str) -> None:
    name = func.split("_grad")[0].split("_value_and")[0]
    f = api(func)
    x, y = np.ones(3), np.zeros(3)
    if name in PARAM:
        with pytest.raises(TypeError):
            f(x, y, PARAM[name][1])
    with pytest.raises(TypeError):
        f(x, y, "mean")
    with pytest.raises(TypeError):
        f(x, y, not_a_parameter=1.0)
    other = {"smooth_l1": "delta", "huber": "beta", "pinball": "beta"}.get(name, "q")
    with pytest.raises(TypeError):
        f(x, y, **{other: 0.5})
    with pytest.raises(TypeError):
        f(x)


# ------------------------------------------------------------------- out= --


@pytest.mark.parametrize("shape", [(17,), (5, 7), (2, 3, 4), (0,), ()], ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("func", OUT_FUNCS)
def test_out_valid(func: str, dtype: DType, shape: tuple[int, ...]) -> None:
    """A valid ``out`` receives the gradient and is returned itself."""
    x, y = make_data(shape, dtype, seed=3) if shape else (dtype(2.0), dtype(0.5))
    name = func.rsplit("_grad", 1)[0].removesuffix("_value_and")
    for red in REDUCTIONS:
        out = np.full(shape, 7.25, dtype=dtype)
        want = call(name, func[len(name) :], x, y, reduction=red)
        got = call(name, func[len(name) :], x, y, reduction=red, out=out)
        if isinstance(want, tuple):
            assert got[1] is out, f"{func}: value_and_grad did not return out"
            results_equal(got, want, f"{func} out= {red}")
        else:
            assert got is out, f"{func}: grad did not return out"
            assert_bitwise(got, want, f"{func} out= {red}")


def failing_calls(name: str, suffix: str, dtype: DType) -> list[tuple[str, Failing, Array]]:
    """(label, call(out) that must fail, the sentinel-filled ``out`` it writes to)."""
    n = 3 * 4096 + 5
    x, y = make_data(n, dtype, seed=1)
    f = api(name + suffix)
    param = {PARAM[name][0]: 0.5} if name in PARAM else {}
    wrong_dtype = np.float32 if dtype == np.float64 else np.float64

    def run(*args: Any, **kwargs: Any) -> Failing:
        """A call of ``f`` with ``out=o``; (x, y) unless other arrays are given."""
        arrays = args if args else (x, y)
        return lambda o: f(*arrays, out=o, **{**param, **kwargs})

    def sentinel(
        shape: tuple[int, ...] = (n,), dt: Any = dtype, order: Literal["C", "F"] = "C"
    ) -> Array:
        return np.full(shape, 7.25, dtype=dt, order=order)

    def late_bad_weight(value: float) -> Array:
        """A bad weight at the last element: a kernel that checks weights as it
        goes would have written every earlier block."""
        w = np.ones(n)
        w[-1] = value
        return w

    x2, y2 = x[:4095].reshape(5, 819), y[:4095].reshape(5, 819)
    cases: list[tuple[str, Failing, Array]] = [
        ("wrong dtype", run(), sentinel(dt=wrong_dtype)),
        ("int dtype", run(), sentinel(dt=np.int64)),
        ("complex dtype", run(), sentinel(dt=np.complex128)),
        ("too short", run(), sentinel((n - 1,))),
        ("too long", run(), sentinel((n + 1,))),
        ("2-D, same size", run(), sentinel((1, n))),
        ("transposed shape", run(x2, y2), sentinel((819, 5))),
        ("flattened shape", run(x2, y2), sentinel((4095,))),
        ("bad weight nan", run(sample_weight=late_bad_weight(math.nan)), sentinel()),
        ("bad weight < 0", run(sample_weight=late_bad_weight(-1.0)), sentinel()),
        ("bad weight inf", run(sample_weight=late_bad_weight(math.inf)), sentinel()),
        ("bad weight shape", run(sample_weight=np.ones(n - 1)), sentinel()),
        ("bad weight dtype", run(sample_weight=np.ones(n, dtype=complex)), sentinel()),
        ("bad reduction", run(reduction="avg"), sentinel()),
        ("target shape", run(x, y[:-1]), sentinel()),
        ("target dtype", run(x, y.astype(complex)), sentinel()),
    ]
    rows = 4097
    xr, yr = x[: rows * 3].reshape(rows, 3), y[: rows * 3].reshape(rows, 3)
    wr = np.ones(rows)
    wr[-1] = -3.0
    cases.append(("bad row weight", run(xr, yr, sample_weight=wr), sentinel((rows, 3))))
    if name in PARAM:
        bad = {"smooth_l1": -1.0, "huber": 0.0, "pinball": 1.0}[name]
        cases.append(("bad param", run(**{PARAM[name][0]: bad}), sentinel()))
    # non-contiguous, Fortran order, read-only, byte-swapped
    cases.append(("strided", run(), sentinel((2 * n,))[::2]))
    cases.append(("reversed", run(), sentinel()[::-1]))
    x3, y3 = x[:4096].reshape(64, 64), y[:4096].reshape(64, 64)
    cases.append(("fortran", run(x3, y3), sentinel((64, 64), order="F")))
    ro = sentinel()
    ro.flags.writeable = False
    cases.append(("read-only", run(), ro))
    cases.append(("byte-swapped", run(), sentinel().astype(np.dtype(dtype).newbyteorder())))
    # overlapping the inputs
    xo, yo = x.copy(), y.copy()
    cases.append(("out is input", lambda o: f(o, yo, out=o, **param), xo))
    cases.append(("out is target", lambda o: f(xo, o, out=o, **param), yo))
    buf = sentinel((2 * n,))
    cases.append(("out overlaps input", run(buf[:n], y), buf[n // 2 : n // 2 + n]))
    return cases


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("func", OUT_FUNCS)
def test_out_rejected_before_writing(func: str, dtype: DType) -> None:
    """Every invalid call with ``out`` raises, and ``out`` keeps its sentinel."""
    name = func.rsplit("_grad", 1)[0].removesuffix("_value_and")
    suffix = func[len(name) :]
    failures: list[str] = []
    for label, fail, out in failing_calls(name, suffix, dtype):
        before = out.copy()
        try:
            fail(out)
        except (ValueError, TypeError):
            pass
        else:
            failures.append(f"{label}: no error")
            continue
        if out.tobytes() != before.tobytes():
            failures.append(f"{label}: out was written")
    assert not failures, f"{func} {np.dtype(dtype).name}: " + "; ".join(failures)


@pytest.mark.parametrize("func", OUT_FUNCS)
def test_out_must_be_an_ndarray(func: str) -> None:
    out: Any
    for out in ([0.0, 0.0, 0.0], (0.0, 0.0, 0.0), 3.0, "out"):
        with pytest.raises((TypeError, ValueError)):
            api(func)(np.ones(3), np.zeros(3), out=out)
