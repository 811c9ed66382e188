"""fastloss.dask on a real 2-process LocalCluster against the in-memory fastloss, for every
loss of the registry.

Every loss with sample weights, float64 (1e-12 relative) and float32, block sizes that do not
divide n, every reduction, the gradients; rows losses cut by rows with their array and
sample parameters, ignore_index, the class axis elsewhere and probability targets; NumPy
arrays mixed in; the reduction tree's independence of the scheduler; errors; and that
``import fastloss`` leaves dask alone.
"""

from __future__ import annotations

import inspect
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, Callable, Optional

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask.base  # noqa: E402
import fastloss  # noqa: E402
import fastloss.dask as fd  # noqa: E402
from fastloss import _dask_graph as _graph  # noqa: E402
from losses import (  # noqa: E402
    CLASSES,
    FORMS,
    FUNCTIONS,
    LOSSES,
    Loss,
    array_kwargs,
    array_params,
    cast_to,
    ids,
    inputs,
    invalid_kwargs,
    outcome,
    param_variants,
    sample_kwargs,
    shape_pattern,
)

N = 10_007  # blocks of 1000 rows: the last one has 7
CHUNK = 1000
REDUCTIONS = ("mean", "sum", "none")
Arr = np.ndarray[Any, Any]
# The tests run the single-machine schedulers ("sync", "threads") beside the cluster's client on
# purpose, to compare them; dask before 2024.9 (the newest there is for CPython 3.9) warns then.
pytestmark = pytest.mark.filterwarnings("ignore:Running on a single-machine scheduler:UserWarning")
ROWS = tuple(loss for loss in LOSSES if loss.family == "rows")


def has(loss: Loss, name: str) -> bool:
    return any(p.name == name for p in loss.params)


@pytest.fixture(scope="module", autouse=True)
def client() -> Iterator[Any]:
    """One cluster for the module: 2 worker processes, 1 thread each; every compute() in this
    module runs on it (the client is the default scheduler while it is open)."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    c = distributed.Client(cluster)
    try:
        assert len(c.scheduler_info()["workers"]) == 2
        yield c
    finally:
        c.close()
        cluster.close()


def compute(*lazy: Any, **kwargs: Any) -> tuple[Any, ...]:
    """dask.compute, typed (dask's is not)."""
    out: tuple[Any, ...] = dask.base.compute(*lazy, **kwargs)  # type: ignore[no-untyped-call]
    return out


def one(lazy: Any) -> Any:
    return compute(lazy)[0]


def fn(module: Any, name: str) -> Callable[..., Any]:
    f: Callable[..., Any] = getattr(module, name)
    return f


def weights(n: int, seed: int = 1) -> Arr:
    return np.random.default_rng(seed).uniform(0.0, 2.0, n)


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def tolerance(dtype: type) -> float:
    # float32: each block's sum and the result are rounded to float32 once more than in memory.
    return 1e-12 if dtype == np.float64 else 1e-6


def check(got: Any, want: Any, dtype: type, rowwise: bool = False) -> None:
    """A computed dask result against the in-memory one: reduced values within `tolerance`,
    arrays of the same dtype and shape elementwise within it. `rowwise` (gradients of a rows
    loss): within it of the largest element, as p_c·A - a_c cancels where p_c·A ≈ a_c, so
    that a last-bit change of the denominator (summed in another order) shows there."""
    tol = tolerance(dtype)
    if isinstance(want, float):
        assert np.ndim(got) == 0
        if math.isnan(want):
            assert math.isnan(float(got))
        else:
            assert rel(float(got), want) <= tol, (float(got), want)
    else:
        assert isinstance(got, np.ndarray)
        assert got.dtype == want.dtype and got.shape == want.shape
        atol = tol * float(np.max(np.abs(want), initial=0.0)) if rowwise else 0.0
        np.testing.assert_allclose(got, want, rtol=tol, atol=atol)


# ------------------------------------------------------------------ import isolation --


def test_import_fastloss_does_not_import_dask() -> None:
    code = (
        "import sys, fastloss\n"
        "fastloss.mse([1.0], [2.0])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not bad and 'fastloss.dask' not in sys.modules, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_same_functions_and_parameters() -> None:
    """Every loss function of fastloss, with its parameter names, kinds and order (no out=)."""
    names = [n for n in fastloss.__all__ if n in FUNCTIONS]
    assert sorted(fd.__all__) == sorted(names) and len(names) == 4 * len(LOSSES)
    for name in names:
        mine = inspect.signature(fn(fd, name)).parameters
        theirs = inspect.signature(fn(fastloss, name)).parameters
        assert [(p.name, p.kind) for p in mine.values()] == [
            (p.name, p.kind) for p in theirs.values() if p.name != "out"
        ], name
        assert mine["reduction"].default == theirs["reduction"].default, name


def chunked(x: Arr, rows: int = CHUNK) -> Any:
    """``x`` as a dask array in blocks of ``rows`` rows (the other axes whole)."""
    return da.from_array(x, chunks=(rows, *x.shape[1:]))


# --------------------------------------------------------------------------- losses --


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_weighted(loss: Loss, dtype: type) -> None:
    """Value, gradient and grad_hess for every reduction, sample weights in 11 blocks."""
    params = sample_kwargs(loss)
    x, t = inputs(loss, (N,), dtype)
    w = weights(N)
    dx, dt, dw = (chunked(a) for a in (x, t, w))
    lazy: list[Any] = []
    want: list[Any] = []
    for red in REDUCTIONS:
        kw = {**params, "reduction": red, "sample_weight": dw}
        mem = {**params, "reduction": red, "sample_weight": w}
        lazy += [fn(fd, loss.name)(dx, dt, **kw), fn(fd, loss.name + "_grad")(dx, dt, **kw)]
        lazy += list(fn(fd, loss.name + "_grad_hess")(dx, dt, **kw))
        want += [fn(fastloss, loss.name)(x, t, **mem)]
        want += [fn(fastloss, loss.name + "_grad")(x, t, **mem)]
        want += list(fn(fastloss, loss.name + "_grad_hess")(x, t, **mem))
    got = compute(*lazy)
    assert len(got) == len(want)
    for g, m in zip(got, want):
        check(g, m, dtype, rowwise=loss.family == "rows")


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_unweighted_and_row_weights(loss: Loss) -> None:
    """2-D per-element losses with the array parameters over their last axis: no weights,
    then one weight per row (1-D of length shape[0])."""
    x, t = inputs(loss, (N, 3), np.float64, seed=2)
    params = {**sample_kwargs(loss), **array_kwargs(loss, x, 2)}
    w = weights(N, seed=3)
    dx = chunked(x)
    for sw, dsw in ((None, None), (w, chunked(w))):
        kw = {**params, "sample_weight": dsw}
        mem = {**params, "sample_weight": sw}
        got = compute(fn(fd, loss.name)(dx, t, **kw), fn(fd, loss.name + "_grad")(dx, t, **kw))
        check(got[0], fn(fastloss, loss.name)(x, t, **mem), np.float64)
        rowwise = loss.family == "rows"
        check(got[1], fn(fastloss, loss.name + "_grad")(x, t, **mem), np.float64, rowwise)


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_value_and_grad(loss: Loss) -> None:
    x, t = inputs(loss, (N,), np.float64, seed=4)
    w = weights(N, seed=5)
    for params in param_variants(loss):
        # Tweedie of power 2 is gamma: positive targets.
        t = np.where(t == 0, 1.0, t) if params.get("power") == 2.0 else t
        lazy = fn(fd, loss.name + "_value_and_grad")(chunked(x, 999), t, sample_weight=w, **params)
        v, g = compute(*lazy)
        mv, mg = fn(fastloss, loss.name + "_value_and_grad")(x, t, sample_weight=w, **params)
        check(v, mv, np.float64)
        check(g, mg, np.float64, rowwise=loss.family == "rows")


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_numpy_mixed_in_and_rechunked(loss: Loss) -> None:
    """Blocks follow the input; a target with other blocks and NumPy weights are cut to fit."""
    f, g = fn(fd, loss.name), fn(fd, loss.name + "_grad")
    mf, mg = fn(fastloss, loss.name), fn(fastloss, loss.name + "_grad")
    x, t = inputs(loss, (N,), np.float64, seed=6)
    w = weights(N, seed=7)
    dx = chunked(x, 1500)
    dt = chunked(t, 4000)
    check(one(f(dx, dt, sample_weight=w)), mf(x, t, sample_weight=w), np.float64)
    check(one(f(x, dt)), mf(x, t), np.float64)
    x2, t2 = inputs(loss, (100, 100), np.float64, seed=6)
    both_axes = da.from_array(x2, chunks=(30, 40, 2)[: x2.ndim])  # cut to whole rows
    check(one(f(both_axes, t2)), mf(x2, t2), np.float64)
    only_numpy = g(x, t, sample_weight=w)
    check(one(only_numpy), mg(x, t, sample_weight=w), np.float64, loss.family == "rows")


# ------------------------------------------------------------------------ rows losses --


def row_options(loss: Loss, x: Arr) -> list[dict[str, Any]]:
    """The array parameters; with the sample parameters; the last valid value of each
    sampled parameter; all with ignore_index -100 where the loss has it."""
    base: dict[str, Any] = {"ignore_index": -100} if has(loss, "ignore_index") else {}
    arrays = {k: np.linspace(0.2, 2.0, x.shape[-1]) for k in array_kwargs(loss, x)}
    return [
        {**base, **arrays},
        {**base, **arrays, **sample_kwargs(loss)},
        {**base, **param_variants(loss)[-1]},
    ]


def row_labels(loss: Loss, n: int, seed: int = 9) -> Arr:
    y = np.random.default_rng(seed).integers(0, CLASSES, n)
    if has(loss, "ignore_index"):
        y[::6] = -100  # ignored rows
    return y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", ROWS, ids=ids(ROWS))
def test_rows_with_options(loss: Loss, dtype: type) -> None:
    z, _ = inputs(loss, (N,), dtype, seed=8)
    y = row_labels(loss, N)
    w = weights(N, seed=10)
    dz = chunked(z)
    dy = chunked(y)
    for options in row_options(loss, z):
        lazy: list[Any] = []
        want: list[Any] = []
        for red in REDUCTIONS:
            kw = {**options, "reduction": red, "sample_weight": w}
            lazy += [fn(fd, loss.name)(dz, dy, **kw), fn(fd, loss.name + "_grad")(dz, dy, **kw)]
            lazy += list(fn(fd, loss.name + "_grad_hess")(dz, dy, **kw))
            want += [fn(fastloss, loss.name)(z, y, **kw)]
            want += [fn(fastloss, loss.name + "_grad")(z, y, **kw)]
            want += list(fn(fastloss, loss.name + "_grad_hess")(z, y, **kw))
        for g, m in zip(compute(*lazy), want):
            check(g, m, dtype, rowwise=True)


AXIS_LOSSES = tuple(loss for loss in ROWS if has(loss, "axis"))


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("loss", AXIS_LOSSES, ids=ids(AXIS_LOSSES))
def test_class_axis(loss: Loss, axis: int) -> None:
    """(N, C, 3) logits moved so the classes are on `axis`; rows and row weights along N
    (classes first: along the second axis)."""
    z = np.moveaxis(np.random.default_rng(11).normal(0.0, 3.0, (N, 3, CLASSES)), -1, axis)
    rows_shape = z.shape[: axis % 3] + z.shape[axis % 3 + 1 :]
    y = np.random.default_rng(12).integers(0, CLASSES, rows_shape)
    w = weights(rows_shape[0], seed=13)
    arrays = {k: np.linspace(1.0, 2.0, CLASSES) for k in array_kwargs(loss, np.ones(CLASSES))}
    opts: dict[str, Any] = {"axis": axis, "sample_weight": w, **arrays}
    chunks = tuple(500 if d == N else -1 for d in z.shape)
    dz = da.from_array(z, chunks=chunks)
    v, g, gg, hh = compute(
        fn(fd, loss.name)(dz, y, **opts),
        fn(fd, loss.name + "_grad")(dz, y, **opts),
        *fn(fd, loss.name + "_grad_hess")(dz, y, reduction="mean", **opts),
    )
    check(v, fn(fastloss, loss.name)(z, y, **opts), np.float64)
    check(g, fn(fastloss, loss.name + "_grad")(z, y, **opts), np.float64, rowwise=True)
    want_g, want_h = fn(fastloss, loss.name + "_grad_hess")(z, y, reduction="mean", **opts)
    check(gg, want_g, np.float64, rowwise=True)
    check(hh, want_h, np.float64, rowwise=True)


@pytest.mark.parametrize("loss", ROWS, ids=ids(ROWS))
def test_probability_targets(loss: Loss) -> None:
    """Rows of probabilities as targets; with from_logits=False (where the loss has it)
    probabilities as input too."""
    rng = np.random.default_rng(14)
    p = rng.dirichlet(np.ones(CLASSES), N)
    w = weights(N, seed=15)
    inputs_kw: list[tuple[Arr, dict[str, Any]]] = [(inputs(loss, (N,), np.float64)[0], {})]
    if has(loss, "from_logits"):
        inputs_kw.append((rng.dirichlet(np.ones(CLASSES), N), {"from_logits": False}))
    for z, extra in inputs_kw:
        kw: dict[str, Any] = {**sample_kwargs(loss), **extra}
        dz = chunked(z)
        for sw in (None, w):
            got = compute(
                fn(fd, loss.name)(dz, p, sample_weight=sw, **kw),
                fn(fd, loss.name + "_grad")(dz, p, sample_weight=sw, **kw),
            )
            check(got[0], fn(fastloss, loss.name)(z, p, sample_weight=sw, **kw), np.float64)
            want = fn(fastloss, loss.name + "_grad")(z, p, sample_weight=sw, **kw)
            check(got[1], want, np.float64, rowwise=True)


IGNORE_LOSSES = tuple(loss for loss in ROWS if has(loss, "ignore_index"))


@pytest.mark.parametrize("loss", IGNORE_LOSSES, ids=ids(IGNORE_LOSSES))
def test_all_rows_ignored(loss: Loss) -> None:
    z, _ = inputs(loss, (50,), np.float64)
    y = np.full(50, -1)
    dz = chunked(z, 7)
    assert math.isnan(float(one(fn(fd, loss.name)(dz, y, ignore_index=-1))))
    g = one(fn(fd, loss.name + "_grad")(dz, y, ignore_index=-1))
    np.testing.assert_array_equal(g, fn(fastloss, loss.name + "_grad")(z, y, ignore_index=-1))


# ------------------------------------------------------------------- determinism --


def test_result_does_not_depend_on_the_scheduler() -> None:
    """The tree is fixed by the blocks: the cluster, a thread pool and one thread give the same
    bits, whichever worker finishes first."""
    w = weights(N, seed=17)
    lazy = []
    for loss in LOSSES:
        x, t = inputs(loss, (N,), np.float64, seed=16)
        kw = {**sample_kwargs(loss)}
        if loss.family == "rows":
            kw.update({k: np.arange(1.0, CLASSES + 1) for k in array_kwargs(loss, x)})
        lazy.append(fn(fd, loss.name)(chunked(x, 613), t, sample_weight=w, **kw))
    on_cluster = [compute(*lazy) for _ in range(3)]
    threads = compute(*lazy, scheduler="threads")
    single = compute(*lazy, scheduler="sync")
    for got in [*on_cluster, threads]:
        assert [float(v) for v in got] == [float(v) for v in single]


# -------------------------------------------------------------- edges and errors --


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_empty_and_single_element(loss: Loss) -> None:
    f, mf = fn(fd, loss.name), fn(fastloss, loss.name)
    x, t = inputs(loss, (0,), np.float64)
    e, te = chunked(x, 5), chunked(t, 5)
    assert math.isnan(float(one(f(e, te))))
    assert float(one(f(e, te, reduction="sum"))) == 0.0
    assert one(f(e, te, reduction="none")).shape == (0,)
    x1, t1 = inputs(loss, (), np.float64, seed=1)
    assert float(one(f(x1, t1))) == mf(x1, t1)
    np.testing.assert_array_equal(
        one(fn(fd, loss.name + "_grad")(x1, t1)), fn(fastloss, loss.name + "_grad")(x1, t1)
    )


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_float32_result_keeps_float32(loss: Loss) -> None:
    x, t = inputs(loss, (N,), np.float32, seed=18)
    dx = chunked(x)
    assert fn(fd, loss.name)(dx, t, reduction="none").dtype == np.float32
    assert one(fn(fd, loss.name + "_grad")(dx, t)).dtype == np.float32
    assert fn(fd, loss.name)(dx, t).dtype == np.float64  # a reduced value is a float


@pytest.fixture(params=["own shapes", "fewer rows"])
def stand_ins(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The call-time checks on stand-ins of the arguments' shapes (small arguments), or of
    fewer rows than the arguments (large ones)."""
    if request.param == "fewer rows":
        monkeypatch.setattr(_graph, "_SMALL", 0)
    mode: str = request.param
    return mode


@pytest.mark.usefixtures("stand_ins")
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_checks_without_data_run_at_call_time(loss: Loss) -> None:
    f = fn(fd, loss.name)
    x0, t0 = inputs(loss, (20, 3), np.float64)
    x = chunked(x0, 6)
    _, bad_t = inputs(loss, (20, 4), np.float64)
    if loss.family == "elementwise":
        with pytest.raises(ValueError, match=r"input shape \(20, 3\) and target shape \(20, 4\)"):
            f(x, bad_t)
    else:
        with pytest.raises(ValueError) as excinfo:
            f(x, bad_t)
        for s in (x0.shape, bad_t.shape):
            assert re.search(shape_pattern(s), str(excinfo.value)), str(excinfo.value)
    with pytest.raises(ValueError, match=r"sample_weight has shape \(19,\)"):
        f(x, t0, sample_weight=np.ones(19))
    with pytest.raises(ValueError, match="reduction"):
        f(x, t0, reduction="avg")
    for key, value in invalid_kwargs(loss):
        with pytest.raises(ValueError, match=key):
            f(x, t0, **{key: value})
    for p in array_params(loss):
        with pytest.raises(ValueError, match=p.name):
            f(x, t0, **{p.name: np.ones(x0.shape[-1] + 1)})
    if has(loss, "axis"):
        with pytest.raises(ValueError, match=f"axis {x0.ndim} is out of range"):
            f(x, t0, axis=x0.ndim)
    with pytest.raises(TypeError, match="complex"):
        f(x.astype(np.complex128), t0)
    unknown = x[x[:, 0, ...].sum(axis=-1) > 0] if x.ndim > 2 else x[x[:, 0] > 0]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        f(unknown, unknown if loss.target != "classes" else t0)


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_checks_on_data_name_the_block(loss: Loss) -> None:
    x0, t = inputs(loss, (20,), np.float64)
    x = chunked(x0, 6)
    w = np.ones(20)
    w[13] = np.nan
    with pytest.raises(ValueError, match=r"sample_weight.*rows 12\.\.18"):
        one(fn(fd, loss.name)(x, t, sample_weight=w))
    if loss.target == "classes":
        y = np.zeros(20, dtype=np.int64)
        y[3] = x0.shape[-1] + 4
        with pytest.raises(ValueError, match=rf"label {y[3]}.*rows 0\.\.6"):
            one(fn(fd, loss.name)(x, y))


def unaligned(a: Arr) -> Arr:
    """A copy of `a` at an odd address."""
    odd = np.frombuffer(bytearray(a.nbytes + 1), dtype=a.dtype, offset=1, count=a.size)
    odd[:] = a.ravel()
    assert not odd.flags.aligned
    return odd.reshape(a.shape)


@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_unaligned_blocks(loss: Loss) -> None:
    """Blocks at odd addresses (as distributed's messages can deliver them) are copied to
    aligned memory before the kernel borrows them."""
    x, t = inputs(loss, (N,), np.float64, seed=19)
    w = weights(N, seed=20)
    dx, dw = (chunked(a).map_blocks(unaligned) for a in (x, w))
    f, g = fn(fd, loss.name), fn(fd, loss.name + "_grad")
    got = compute(f(dx, t, sample_weight=dw), g(dx, t, sample_weight=dw), scheduler="sync")
    check(got[0], fn(fastloss, loss.name)(x, t, sample_weight=w), np.float64)
    want = fn(fastloss, loss.name + "_grad")(x, t, sample_weight=w)
    check(got[1], want, np.float64, rowwise=loss.family == "rows")


# ------------------------------------------------------ edge inputs: the in-memory outcome --

#: Rows of the edge inputs, in blocks of 3 (3, 3, 1).
EDGE_N = 7
EDGE_CHUNK = 3
#: (input, target, keyword arguments) of a call.
Call = tuple[Any, Any, dict[str, Any]]
Edge = Callable[[Loss], Optional[Call]]


def edge_data(loss: Loss, shape: tuple[int, ...] = (EDGE_N,), **kw: Any) -> tuple[Arr, Arr]:
    return inputs(loss, shape, np.float64, seed=21, **kw)


def _changed(change: Callable[[Arr, Arr], Call], shape: tuple[int, ...] = (EDGE_N,)) -> Edge:
    """The edge data of `shape`, changed."""
    return lambda loss: change(*edge_data(loss, shape))


def _shaped(shape: tuple[int, ...], rows_only: bool = False, **kw: Any) -> Edge:
    """Valid data of `shape` (only for rows losses)."""

    def case(loss: Loss) -> Call | None:
        if rows_only and loss.family != "rows":
            return None
        return (*edge_data(loss, shape, **kw), {})

    return case


def _with(name: str, value: Any) -> Edge:
    """The edge data with parameter `name` set to `value`, for the losses that have it."""

    def case(loss: Loss) -> Call | None:
        return (*edge_data(loss), {name: value}) if has(loss, name) else None

    return case


def _weighted(make: Callable[[int], Any]) -> Edge:
    return lambda loss: (*edge_data(loss), {"sample_weight": make(EDGE_N)})


def _empty_float_labels(loss: Loss) -> Call | None:
    if loss.family != "rows":
        return None
    return edge_data(loss, (0,))[0], np.zeros(0), {}


def _bad_label(loss: Loss) -> Call | None:
    if loss.target != "classes":
        return None
    x, t = edge_data(loss)
    t[4] = CLASSES
    return x, t, {}


def _small_labels_big_ignore(loss: Loss) -> Call | None:
    """int8 labels with an ignore_index no int8 equals: no row is ignored."""
    if not has(loss, "ignore_index"):
        return None
    x, t = edge_data(loss)
    return x, t.astype(np.int8), {"ignore_index": 1000}


def _pos_weight_per_element(ndim: int) -> Edge:
    def case(loss: Loss) -> Call | None:
        if not has(loss, "pos_weight"):
            return None
        x, t = edge_data(loss, (EDGE_N, 3)[:ndim])
        return x, t, {"pos_weight": np.linspace(0.5, 3.0, x.size).reshape(x.shape)}

    return case


def _every_third(x: Arr) -> Arr:
    every: Arr = np.arange(x.size).reshape(x.shape) % 3 == 0
    return every


EDGES: dict[str, Edge] = {
    "bool target": _changed(lambda x, t: (x, cast_to(t, bool), {})),
    "bool input": _changed(lambda x, t: (cast_to(x, bool), t, {})),
    "int8 target": _changed(lambda x, t: (x, cast_to(t, np.int8), {})),
    "uint8 target": _changed(lambda x, t: (x, cast_to(abs(t), np.uint8), {})),
    "float16": _changed(lambda x, t: (x.astype(np.float16), t.astype(np.float16), {})),
    "float32 input, float64 target": _changed(lambda x, t: (x.astype(np.float32), t, {})),
    "empty": _shaped((0,)),
    "empty 2-D": _shaped((0, 3)),
    "no columns": _shaped((4, 0)),
    "no classes": _shaped((EDGE_N,), rows_only=True, classes=0),
    "empty float labels": _empty_float_labels,
    "empty probabilities": _shaped((0,), rows_only=True, probabilities=True),
    "one row": _shaped((1,)),
    "0-d": _shaped(()),
    "lists": _changed(lambda x, t: (x.tolist(), t.tolist(), {})),
    "Fortran order": _changed(
        lambda x, t: (np.asfortranarray(x), np.asfortranarray(t), {}), (EDGE_N, 2)
    ),
    "masked input": _changed(lambda x, t: (np.ma.masked_array(x, mask=_every_third(x)), t, {})),
    "nan input": _changed(lambda x, t: (np.where(_every_third(x), np.nan, x), t, {})),
    "target None": _changed(lambda x, t: (x, None, {})),
    "target of strings": _changed(lambda x, t: (x, np.full(t.shape, "a"), {})),
    "target too short": _changed(lambda x, t: (x, t[:-1], {})),
    "complex input, target too long": _changed(
        lambda x, t: (x.astype(np.complex128), np.concatenate([t, t[:1]]), {})
    ),
    "label out of range": _bad_label,
    "weight 0-d": _weighted(lambda n: np.float64(2.0)),
    "weight list": _weighted(lambda n: [1.0 + k for k in range(n)]),
    "weight bool": _weighted(lambda n: np.arange(n) % 2 == 0),
    "weight all zero": _weighted(np.zeros),
    "weight negative": _weighted(lambda n: np.linspace(-1.0, 2.0, n)),
    "weight inf": _weighted(lambda n: np.where(np.arange(n) == 5, np.inf, 1.0)),
    "reduction None": _changed(lambda x, t: (x, t, {"reduction": None})),
    "reduction 'Mean'": _changed(lambda x, t: (x, t, {"reduction": "Mean"})),
    "axis=True": _with("axis", True),
    "axis=np.int64(-1)": _with("axis", np.int64(-1)),
    "axis=1.0": _with("axis", 1.0),
    "ignore_index=True": _with("ignore_index", True),
    "ignore_index=2**63": _with("ignore_index", 2**63),
    "int8 labels, ignore_index=1000": _small_labels_big_ignore,
    "class_weight list": _with("class_weight", [1.0, 2.0, 0.5, 1.0, 3.0]),
    "class_weight too long": _with("class_weight", np.ones(CLASSES + 1)),
    "pos_weight scalar": _with("pos_weight", 2.0),
    "pos_weight [2.0]": _with("pos_weight", [2.0]),
    "pos_weight per element": _pos_weight_per_element(1),
    "pos_weight per element, 2-D": _pos_weight_per_element(2),
}
EDGE_CASES = [(loss, case) for loss in LOSSES for case in EDGES if EDGES[case](loss) is not None]


def _dask_arg(a: Any) -> Any:
    """NumPy arrays with rows as dask arrays in blocks of EDGE_CHUNK rows; anything else as is."""
    if isinstance(a, np.ndarray) and a.ndim:
        return da.from_array(a, chunks=(EDGE_CHUNK, *a.shape[1:]))
    return a


def computed(lazy: Any) -> Any:
    """A dask function's result, computed in this thread."""
    if isinstance(lazy, tuple):
        return compute(*lazy, scheduler="sync")
    return compute(lazy, scheduler="sync")[0]


def dask_outcome(f: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, bool]:
    """The outcome of a dask function, computed, and whether it raised when called."""
    lazy = outcome(f, *args, **kwargs)
    if isinstance(lazy, BaseException):
        return lazy, True
    return outcome(computed, lazy), False


def assert_same_outcome(got: Any, want: Any, what: str, called: bool = False) -> None:
    """The same exception type, or the same value (to the reduction tree's last bits). An
    exception raised when the dask function is called (not in a block) is the in-memory call's
    own: the same message too."""
    if isinstance(want, BaseException):
        assert type(got) is type(want), f"{what}: in memory {want!r}, dask {got!r}"
        assert not called or str(got) == str(want), f"{what}: in memory {want!r}, dask {got!r}"
        return
    assert not isinstance(got, BaseException), f"{what}: in memory {want!r}, dask {got!r}"
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), what
        for k, (g, w) in enumerate(zip(got, want)):
            assert_same_outcome(g, w, f"{what}[{k}]")
        return
    if isinstance(want, float):
        # A reduced value: a float in memory, a 0-d float64 array from Dask.
        assert isinstance(got, np.ndarray) and (got.shape, got.dtype) == ((), np.float64), what
        v = float(got)
        same = (math.isnan(v) and math.isnan(want)) or v == pytest.approx(want, rel=1e-6, abs=0)
        assert same, (what, v, want)
        return
    assert isinstance(got, np.ndarray) and isinstance(want, np.ndarray), (what, got, want)
    assert (got.dtype, got.shape) == (want.dtype, want.shape), (what, got, want)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0.0, equal_nan=True, err_msg=what)


@pytest.mark.parametrize(
    ("loss", "case"), EDGE_CASES, ids=[f"{loss.name}-{case}" for loss, case in EDGE_CASES]
)
def test_edge_inputs_have_the_in_memory_outcome(loss: Loss, case: str, stand_ins: str) -> None:
    """Every function and reduction on an edge input: the exception the in-memory call raises
    (its type), whether Dask raises it at call time or in a block, or the value it returns.
    The four forms share their call-time checks: on fewer rows, the value's are enough."""
    made = EDGES[case](loss)
    assert made is not None
    x, t, kwargs = made
    reductions = [kwargs.pop("reduction")] if "reduction" in kwargs else list(REDUCTIONS)
    w = kwargs.pop("sample_weight", None)
    dx, dt, dw = (_dask_arg(a) for a in (x, t, w))
    for form in FORMS if stand_ins == "own shapes" else ("",):
        name = loss.name + form
        for red in reductions:
            kw = {**kwargs, "reduction": red}
            want = outcome(fn(fastloss, name), x, t, sample_weight=w, **kw)
            got, called = dask_outcome(fn(fd, name), dx, dt, sample_weight=dw, **kw)
            assert_same_outcome(got, want, f"{case}: {name} reduction={red!r}", called)


@pytest.mark.parametrize("ndim", [1, 2])
def test_pos_weight_per_element(ndim: int) -> None:
    """pos_weight of the input's shape goes to every block cut as the input is (the last axis
    of a 1-D input is its rows): the in-memory outcome, at call time and in 11 blocks."""
    (loss,) = (loss for loss in LOSSES if has(loss, "pos_weight"))
    x, t = inputs(loss, (N, 3)[:ndim], np.float64, seed=22)
    pw = np.random.default_rng(23).uniform(0.5, 3.0, x.shape)
    for form in FORMS:
        name = loss.name + form
        for red in REDUCTIONS:
            kw = {"pos_weight": pw, "reduction": red}
            want = outcome(fn(fastloss, name), x, t, **kw)
            got, called = dask_outcome(fn(fd, name), chunked(x), t, **kw)
            assert_same_outcome(got, want, f"{name} {red}", called)


@pytest.mark.parametrize("loss", IGNORE_LOSSES, ids=ids(IGNORE_LOSSES))
def test_uint64_labels_keep_their_value(loss: Loss) -> None:
    """A uint64 label of 2^63 or more is no negative number: with ignore_index=-1 the label
    2^64 - 1 is not ignored but out of range, in every path that reads labels (the mean's
    denominator with and without class weights, the blocks' calls), and the error names it."""
    z, _ = inputs(loss, (20,), np.float64)
    dz = chunked(z, 6)
    for big in (2**64 - 1, 2**63):
        y = np.zeros(20, dtype=np.uint64)
        y[13] = big
        dy = chunked(y, 6)
        for kw in ({}, {"class_weight": np.arange(1.0, CLASSES + 1)}):
            for form in FORMS:
                for red in REDUCTIONS:
                    f = fn(fd, loss.name + form)
                    with pytest.raises(
                        ValueError, match=rf"label {big} at index \(1,\).*rows 12\.\.18"
                    ):
                        computed(f(dz, dy, reduction=red, ignore_index=-1, **kw))
    # In range, they weigh as int64 labels do: ignored rows leave the mean's denominator.
    labels = np.random.default_rng(24).integers(0, CLASSES, 20)
    options: dict[str, Any] = {"ignore_index": 3, "class_weight": np.arange(1.0, CLASSES + 1)}
    unsigned = chunked(labels.astype(np.uint64), 6)
    for form in FORMS:
        want = fn(fastloss, loss.name + form)(z, labels, **options)
        got = computed(fn(fd, loss.name + form)(dz, unsigned, **options))
        assert_same_outcome(got, want, form)
