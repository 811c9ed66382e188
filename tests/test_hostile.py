"""Hostile input: every function of every loss of the registry, called with empty, 0-d and
0-length-axis arrays; ±inf, NaN, ±1e308, subnormals and signed zeros; bool and integer
arrays, byte-swapped, non-aligned (a view at byte offset 1 of a uint8 buffer), huge, zero
and negative strides, read-only arrays, 1 to 6 dimensions; parameters inside and outside
their domains, and ``out=`` arrays of every wrong kind. Each call must either

* return what the same call on clean copies returns (C-contiguous, aligned, native arrays
  of the compute dtype), bit for bit, with the documented result types and shapes, and
  leave its inputs unchanged; or
* raise ``ValueError`` or ``TypeError`` (and then the clean call raises the same type);

never crash, hang, or raise anything else. The sweep of each loss runs in a child process
(``python tests/test_hostile.py NAME``) so that a crash fails its test instead of killing
pytest. A Rust panic surfaces as ``RuntimeError`` (tested through the extension's test
hook).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fastloss
from losses import (
    BY_NAME,
    FORMS,
    LOSSES,
    OUT_FORMS,
    Array,
    Loss,
    Param,
    bits,
    function,
    ids,
    outcome,
)

SPECIALS = [
    0.0,
    -0.0,
    math.inf,
    -math.inf,
    math.nan,
    1e308,
    -1e308,
    5e-324,
    -5e-324,
    1e-310,
    1e-45,
    -1e-40,
    3.4e38,
    1.0,
    -2.5,
    0.5,
    88.5,
    -710.0,
]
UNIT = [0.0, -0.0, 1.0, 0.5, 5e-324, 1e-45, 1e-310, 1.0 - 2.0**-24, 1.0 - 2.0**-53, 0.25]
SHAPES: list[tuple[int, ...]] = [
    (),
    (0,),
    (1,),
    (7,),
    (0, 3),
    (3, 0),
    (2, 3),
    (3, 1, 2),
    (1, 2, 1, 3),
    (2, 1, 2, 1, 2),
    (1, 2, 1, 2, 1, 2),
    (2, 0, 1, 2, 1, 1),
]
DTYPES: list[Any] = [
    np.float64,
    np.float32,
    np.float16,
    np.int64,
    np.int32,
    np.uint8,
    np.int8,
    np.bool_,
]
# Numbers any scalar parameter is tried at, besides the registry's samples of it.
HOSTILE_NUMBERS: list[Any] = [0.0, -0.0, 1e30, 1e-50, 5e-324, 1e-9, 0.999, 1.0 - 1e-12]
HOSTILE_NUMBERS += [-1.0, math.nan, math.inf, -math.inf]
HOSTILE_INTEGERS = [-1, -2, 0, 1, 2, 3, -4, 10**12]


# ------------------------------------------------------------- layouts --


def unaligned(a: Array) -> Array:
    """The same values in a view at byte offset 1 of a uint8 buffer (writable)."""
    if a.dtype.itemsize == 1:
        return a
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    view = buf[1:].view(a.dtype).reshape(a.shape)
    view[...] = a
    assert a.size <= 1 or not view.flags.aligned
    return view


def huge_stride(a: Array) -> Array:
    """A view with a 1 MiB stride on the last axis and 2**40-byte strides on
    the axes of length 1 (only their index 0 is ever read)."""
    if a.ndim == 0:
        return a
    big = np.zeros((*a.shape, (1 << 20) // a.itemsize), dtype=a.dtype)
    big[..., 0] = a
    view = big[..., 0]
    strides = tuple(1 << 40 if n == 1 else s for n, s in zip(view.shape, view.strides))
    return np.lib.stride_tricks.as_strided(view, shape=view.shape, strides=strides, writeable=False)


def readonly(a: Array) -> Array:
    b = np.array(a, copy=True)
    b.flags.writeable = False
    return b


def byteswapped(a: Array) -> Array:
    return a.astype(a.dtype.newbyteorder("S"))


def reversed_(a: Array) -> Array:
    if a.ndim == 0:
        return a
    return np.ascontiguousarray(a[::-1])[::-1]


def strided(a: Array) -> Array:
    if a.ndim == 0:
        return a
    big = np.zeros((a.shape[0] * 3, *a.shape[1:]), dtype=a.dtype)
    big[::3] = a
    return big[::3]


def fortran(a: Array) -> Array:
    return np.asfortranarray(a) if a.ndim else a


def broadcast(a: Array) -> Array:
    """Zero strides: the first element everywhere (values change, so the
    clean copy is taken of this array, not of ``a``)."""
    if a.size == 0:
        return a
    return np.broadcast_to(a.reshape(-1)[:1].reshape((1,) * a.ndim), a.shape)


LAYOUTS: dict[str, Callable[[Array], Array]] = {
    "contiguous": lambda a: a,
    "unaligned": unaligned,
    "huge_stride": huge_stride,
    "readonly": readonly,
    "byteswapped": byteswapped,
    "reversed": reversed_,
    "strided": strided,
    "fortran": fortran,
    "broadcast": broadcast,
}


# -------------------------------------------------------------- helpers --


def compute_dtype(*arrays: Array) -> Any:
    """The documented rule: float32 when every array is a float of at most 4 bytes."""
    if all(a.dtype.kind == "f" and a.dtype.itemsize <= 4 for a in arrays):
        return np.float32
    return np.float64


def clean(a: Array, dtype: Any) -> Array:
    """A C-contiguous, aligned, native, writable copy in ``dtype``."""
    return np.array(a, dtype=dtype, order="C", copy=True)


def describe(v: Any) -> str:
    text = repr(v)
    return text if len(text) < 300 else text[:300] + "..."


def check_types(
    loss: Loss, suffix: str, got: Any, shape: tuple[int, ...], kw: dict[str, Any]
) -> str:
    """'' when a successful result has the documented types and shapes."""
    red = kw.get("reduction", "none" if suffix == "_grad_hess" else "mean")
    rows_shape = shape
    if loss.family == "rows":
        axis = kw.get("axis", -1)
        rows_shape = tuple(d for i, d in enumerate(shape) if i != axis % max(len(shape), 1))

    def value_ok(v: Any) -> bool:
        if red == "none":
            return isinstance(v, np.ndarray) and v.shape == rows_shape
        return type(v) is float

    def array_ok(v: Any) -> bool:
        return isinstance(v, np.ndarray) and v.shape == shape

    if suffix == "":
        ok = value_ok(got)
    elif suffix == "_grad":
        ok = array_ok(got)
    elif suffix == "_value_and_grad":
        ok = isinstance(got, tuple) and len(got) == 2 and value_ok(got[0]) and array_ok(got[1])
    else:
        ok = isinstance(got, tuple) and len(got) == 2 and all(array_ok(g) for g in got)
    return "" if ok else f"result types/shapes wrong: {describe(got)}"


# ---------------------------------------------------------------- cases --


def values_for(shape: tuple[int, ...], rng: np.random.Generator, kind: str) -> Array:
    n = math.prod(shape)
    pool = UNIT if kind == "unit" else SPECIALS
    if kind == "random":
        v = rng.standard_normal(n) * 10.0 ** rng.integers(-5, 6, n)
    else:
        v = np.array([pool[int(i)] for i in rng.integers(0, len(pool), n)], dtype=np.float64)
    return v.reshape(shape)


def pick(rng: np.random.Generator, pool: list[Any]) -> Any:
    return pool[int(rng.integers(0, len(pool)))]


def param_value(
    p: Param, x: Array, axis: int, rng: np.random.Generator, layouts: list[str]
) -> tuple[bool, Any]:
    """(whether to pass it, a value) for parameter ``p`` of a call on ``x``: samples
    from the registry and hostile numbers, integers in and out of range, either boolean,
    or an array of hostile magnitudes with one element per entry of ``axis``."""
    if p.name == "axis":
        return False, None  # drawn with the class axis
    if p.annotation.startswith("ArrayLike"):
        if x.ndim == 0 or not -x.ndim <= axis < x.ndim:
            return False, None
        a = np.abs(values_for((x.shape[axis],), rng, pick(rng, ["specials", "unit"])))
        return rng.random() < 0.4, LAYOUTS[pick(rng, layouts)](a)
    if p.annotation == "bool":
        return rng.random() < 0.3, bool(rng.random() < 0.5)
    if p.annotation.startswith("int"):
        size = x.shape[axis] if x.ndim and -x.ndim <= axis < x.ndim else 1
        return rng.random() < 0.3, pick(rng, [*HOSTILE_INTEGERS, size])
    return rng.random() < 0.5, pick(rng, [*p.valid, *p.invalid, *HOSTILE_NUMBERS])


def cases(loss: Loss, count: int, seed: int) -> Iterator[tuple[Array, Array, dict[str, Any]]]:
    """(input, target, keyword arguments) drawn at random from the hostile sets."""
    rng = np.random.default_rng(seed)
    layouts = list(LAYOUTS)
    for k in range(count):
        shape = SHAPES[k % len(SHAPES)]
        kinds = ["specials", "random", "unit"]
        xkind = kinds[int(rng.integers(0, 3))]
        ykind = "unit" if loss.target == "probability" and rng.random() < 0.7 else kinds[k % 3]
        with np.errstate(all="ignore"):
            x = values_for(shape, rng, xkind).astype(DTYPES[int(rng.integers(0, 3))])
            ydt = DTYPES[int(rng.integers(0, len(DTYPES)))]
            y = values_for(shape, rng, ykind)
            y = y.astype(ydt) if ydt != np.bool_ else (y > 0.3)
            if rng.random() < 0.15:
                xdt = DTYPES[int(rng.integers(3, len(DTYPES)))]
                x = x.astype(xdt) if xdt != np.bool_ else (x > 0.3)
        kw: dict[str, Any] = {"reduction": ["mean", "sum", "none"][int(rng.integers(0, 3))]}
        axis = -1
        rows = x.shape
        if loss.family == "rows":
            x, y, axis, rows = rows_case(loss, x, rng, kw)
        for p in loss.params:
            given, value = param_value(p, x, axis, rng, layouts)
            if given:
                kw[p.name] = value
        wmode = int(rng.integers(0, 4))
        if wmode and x.ndim > 0:
            wshape = rows if wmode == 1 else rows[:1]
            pool = "unit" if rng.random() < 0.7 else "specials"
            w = np.abs(values_for(wshape, rng, pool)) if wmode < 3 else -np.ones(wshape)
            kw["sample_weight"] = LAYOUTS[layouts[int(rng.integers(0, len(layouts)))]](w)
        x = LAYOUTS[layouts[int(rng.integers(0, len(layouts)))]](x)
        y = LAYOUTS[layouts[int(rng.integers(0, len(layouts)))]](y)
        yield x, y, kw


def rows_case(
    loss: Loss, x: Array, rng: np.random.Generator, kw: dict[str, Any]
) -> tuple[Array, Array, int, tuple[int, ...]]:
    """A class axis (out of range sometimes, given as ``axis`` when the loss has it) and a
    target: class indices of any integer dtype, out-of-range ones too, or probabilities of
    the input's shape. Returns (input, target, axis, the per-row loss's shape)."""
    ndim = x.ndim
    axis = -1
    if any(p.name == "axis" for p in loss.params):
        axis = int(rng.integers(-ndim - 1, ndim + 1)) if ndim else 0
        if ndim and rng.random() < 0.8:
            axis = int(rng.integers(-ndim, ndim))
        kw["axis"] = axis
    ok_axis = ndim > 0 and -ndim <= axis < ndim
    c = x.shape[axis] if ok_axis else 1
    rows_shape = tuple(d for i, d in enumerate(x.shape) if not ok_axis or i != axis % ndim)
    if rng.random() < 0.5:
        y: Array = rng.integers(-2, c + 2, rows_shape).astype(
            [np.int64, np.int32, np.uint8, np.int16][int(rng.integers(0, 4))]
        )
        return x, y, axis, rows_shape
    y = np.abs(values_for(x.shape, rng, "unit")).astype(x.dtype)
    return x, y, axis, rows_shape


def clean_kwargs(kw: dict[str, Any], dtype: Any) -> dict[str, Any]:
    out = {}
    for k, v in kw.items():
        if isinstance(v, np.ndarray):
            v = clean(v, dtype)
        out[k] = v
    return out


def sweep(name: str, count: int = 500, seed: int = 5) -> list[str]:
    """Runs every function of loss ``name`` over the hostile cases; the failures."""
    loss = BY_NAME[name]
    failures: list[str] = []
    for k, (x, y, kw) in enumerate(cases(loss, count, seed)):
        # Class indices (and bool targets, a TypeError) keep their dtype.
        index_target = loss.target == "classes" and y.dtype.kind in "iub"
        dt = compute_dtype(x) if index_target else compute_dtype(x, y)
        cx = clean(x, dt)
        cy = clean(y, y.dtype.newbyteorder("=")) if index_target else clean(y, dt)
        ckw = clean_kwargs(kw, dt)
        before = [bits(a) for a in (x, y, *kw.values()) if isinstance(a, np.ndarray)]
        for suffix in FORMS:
            func = function(name + suffix)
            what = f"{name}{suffix} case {k} shape {x.shape} {x.dtype}/{y.dtype} {sorted(kw)}"
            got = outcome(func, x, y, **kw)
            want = outcome(func, cx, cy, **ckw)
            if isinstance(got, BaseException) and not isinstance(got, (ValueError, TypeError)):
                failures.append(f"{what}: raised {type(got).__name__}: {got}")
                continue
            if bits(got) != bits(want):
                failures.append(f"{what}: {describe(got)} but clean copies give {describe(want)}")
                continue
            if isinstance(got, BaseException):
                continue
            bad = check_types(loss, suffix, got, x.shape, kw)
            if bad:
                failures.append(f"{what}: {bad}")
            if suffix in OUT_FORMS:
                failures += check_out(func, cx, cy, ckw, got, dt, what)
        after = [bits(a) for a in (x, y, *kw.values()) if isinstance(a, np.ndarray)]
        if before != after:
            failures.append(f"{name} case {k}: an input was modified")
    return failures


def bad_outs(shape: tuple[int, ...], dt: Any, x: Array) -> list[tuple[str, Any]]:
    """Every kind of wrong ``out=``."""
    outs: list[tuple[str, Any]] = [
        # float16 only for a float16 input; any other float dtype takes the converted result.
        ("half dtype", np.zeros(shape, dtype=np.float16 if x.dtype != np.float16 else np.int8)),
        ("integer", np.zeros(shape, dtype=np.int64)),
        ("wrong shape", np.zeros((*shape, 2), dtype=dt)),
        ("list", np.zeros(shape, dtype=dt).tolist()),
        ("byteswapped", np.zeros(shape, dtype=np.dtype(dt).newbyteorder("S"))),
    ]
    if x.size and x.dtype == dt:
        outs.append(("aliases input", x))
    if math.prod(shape) > 1:
        outs.append(("fortran/strided", np.zeros((*shape, 2), dtype=dt)[..., 0]))
        outs.append(("unaligned", unaligned(np.zeros(shape, dtype=dt))))
    ro = np.zeros(shape, dtype=dt)
    ro.flags.writeable = False
    outs.append(("read-only", ro))
    return outs


def check_out(
    func: Callable[..., Any], x: Array, y: Array, kw: dict[str, Any], want: Any, dt: Any, what: str
) -> list[str]:
    failures = []
    out = np.full(x.shape, -7.0, dtype=dt)
    got = outcome(func, x, y, out=out, **kw)
    grad = got[1] if isinstance(got, tuple) else got
    if bits(got) != bits(want) or grad is not out:
        failures.append(f"{what}: out= gives {describe(got)}, not {describe(want)} in out")
    for label, bad in bad_outs(x.shape, dt, x):
        keep = bits(np.asarray(bad))
        r = outcome(func, x, y, out=bad, **kw)
        if not isinstance(r, (ValueError, TypeError)):
            failures.append(f"{what}: out={label} gives {describe(r)}, not ValueError/TypeError")
        if label != "aliases input" and bits(np.asarray(bad)) != keep:
            failures.append(f"{what}: rejected out={label} was written")
    return failures


# ---------------------------------------------------------------- tests --


def run_sweep(name: str) -> list[str]:
    """The sweep of one loss in a child process: a crash or hang fails here."""
    proc = subprocess.run(
        [sys.executable, __file__, name], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (
        f"the sweep of {name} died with exit status {proc.returncode}:\n{proc.stderr[-4000:]}"
    )
    result: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_hostile_sweep(loss: Loss) -> None:
    failures = run_sweep(loss.name)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:20])


@pytest.mark.parametrize("suffix", FORMS)
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_special_values_propagate(loss: Loss, suffix: str) -> None:
    """±inf, NaN, ±1e308, subnormals, ±0 in float64 and float32, 1..6-D (the domains'
    special values): the elementwise results of a loss at those values equal those at the
    same values one at a time (no cross-talk between lanes, blocks or rows), and NaN input
    gives NaN value where the input is real. A rows loss gets rows of two logits and
    probability targets."""
    func = function(loss.name + suffix)
    rows = loss.family == "rows"
    for dt in (np.float64, np.float32):
        with np.errstate(all="ignore"):
            xs = np.array(UNIT if loss.input == "probability" else SPECIALS, dt)
            pool = SPECIALS if loss.target == "real" else UNIT
            ys = np.array(pool, dt)
            # Positive targets: none that is 0, or rounds to 0 in float32.
            ys = ys[np.array([float(v) > 0 or loss.target != "positive" for v in ys], bool)]
        # Every (input, target) pair.
        x, y = np.repeat(xs, len(ys)), np.tile(ys, len(xs))
        if rows:
            x, y = x.reshape(-1, 2), y.reshape(-1, 2)
        whole = outcome(func, x, y, reduction="none")
        assert not isinstance(whole, BaseException), f"{loss.name}{suffix}: {whole!r}"
        parts = whole if isinstance(whole, tuple) else (whole,)
        for i in range(x.shape[0]):
            one = outcome(func, x[i : i + 1], y[i : i + 1], reduction="none")
            got = tuple(np.asarray(p)[i : i + 1] for p in parts)
            want = one if isinstance(one, tuple) else (one,)
            assert bits(got) == bits(want), (
                f"{loss.name}{suffix} {np.dtype(dt).name} at x={x[i]}, y={y[i]}: "
                f"{describe(got)} alone gives {describe(want)}"
            )
        if rows:
            continue
        # The same elements as 2..6-D arrays: the same bits.
        for ndim in range(2, 7):
            shape = (1,) * (ndim - 2) + (len(xs), len(ys))
            r = func(x.reshape(shape), y.reshape(shape), reduction="none")
            got = tuple(a.reshape(-1) for a in (r if isinstance(r, tuple) else (r,)))
            assert bits(got) == bits(parts), f"{loss.name}{suffix} {ndim}-D"
    if suffix in ("", "_value_and_grad") and loss.input == "real":
        x1 = np.array([[math.nan, 1.0]]) if rows else np.array([math.nan, 1.0])
        y1 = np.array([0]) if rows else np.array([0.5, 0.5])
        v = func(x1, y1)
        v = v[0] if isinstance(v, tuple) else v
        assert math.isnan(v), f"{loss.name}{suffix}: NaN input gives {v}"


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_empty_and_zero_d(loss: Loss) -> None:
    """Empty input: "sum" 0.0, "none" empty, "mean" nan; 0-d works for the elementwise
    losses and is a ValueError for a rows loss (it has no class axis), as is a class axis
    of length 0 with rows."""
    f = function(loss.name)
    rows_family = loss.family == "rows"
    for shape in [(0,), (0, 3), (3, 0), (2, 0, 4)]:
        x = np.zeros(shape)
        if rows_family:
            y: Array = np.zeros(shape[:-1], dtype=np.int64)
            rows = shape[:-1]
            if shape[-1] == 0 and math.prod(rows) > 0:
                with pytest.raises(ValueError, match="class"):
                    f(x, y)
                continue
        else:
            y = np.zeros(shape)
            rows = shape
        if math.prod(rows) == 0:
            assert math.isnan(f(x, y))
            assert f(x, y, reduction="sum") == 0.0
            assert f(x, y, reduction="none").shape == rows
    zero_d = np.float64(0.25)
    if rows_family:
        with pytest.raises(ValueError, match="0-d"):
            f(np.array(0.5), np.array(0))
    else:
        v = f(zero_d, np.float64(0.5))
        assert type(v) is float and math.isfinite(v)
        assert f(zero_d, np.float64(0.5), reduction="none").shape == ()


# --------------------------------------------------------------- panics --


def test_panic_in_kernel_is_runtime_error() -> None:
    """A Rust panic inside a kernel (forced by the test hook, in a worker
    thread of the pool with the GIL released) reaches Python as a
    RuntimeError, which ``except Exception`` catches; the module keeps
    working afterwards, the pool included."""
    native: Any = fastloss._native
    old = fastloss.get_num_threads()
    try:
        for threads in (1, 3):
            fastloss.set_num_threads(threads)
            for n in (1, 4096 * 5 + 3, 1 << 17):
                with pytest.raises(RuntimeError, match="forced panic"):
                    native._panic_in_kernel(n)
                try:
                    native._panic_in_kernel(n)
                except Exception as e:  # the point: a plain except Exception catches it
                    assert "internal error" in str(e)
            x = np.linspace(-3, 3, 1 << 17)
            assert fastloss.mse(x, np.zeros_like(x)) == pytest.approx(float(np.mean(x * x)))
    finally:
        fastloss.set_num_threads(old)


PANIC_SCRIPT = """
import fastloss
native = fastloss._native
for threads in (1, 3):
    fastloss.set_num_threads(threads)
    for n in (1, 4096 * 5 + 3, 1 << 17):
        try:
            native._panic_in_kernel(n)
        except RuntimeError as e:
            assert "forced panic" in str(e), e
        else:
            raise SystemExit("no error")
print("ok")
"""


def test_caught_panic_prints_nothing() -> None:
    """A panic that the bindings catch and raise as RuntimeError (which carries its
    message) writes nothing to stderr, on the calling thread or a helper."""
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
    done = subprocess.run(
        [sys.executable, "-c", PANIC_SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "ok", done.stdout
    assert done.stderr == "", done.stderr


if __name__ == "__main__":
    print(json.dumps(sweep(sys.argv[1])))
