"""fastloss.dask on a real 2-process LocalCluster against the in-memory fastloss (issue 7).

Every loss with sample weights, float64 (1e-12 relative) and float32, block sizes that do not
divide n, every reduction, the gradients; cross-entropy cut by rows with class_weight,
ignore_index and label_smoothing; NumPy arrays mixed in; the reduction tree's independence of
the scheduler; errors; and that ``import fastloss`` leaves dask alone.
"""

from __future__ import annotations

import inspect
import math
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask.base  # noqa: E402
import fastloss  # noqa: E402
import fastloss.dask as fd  # noqa: E402

N = 10_007  # blocks of 1000 rows: the last one has 7
CHUNK = 1000
POINTWISE: dict[str, dict[str, Any]] = {
    "mae": {},
    "mse": {},
    "smooth_l1": {"beta": 0.5},
    "huber": {"delta": 0.7},
    "log_cosh": {},
    "pinball": {"q": 0.3},
    "binary_cross_entropy": {},
    "binary_cross_entropy_with_logits": {},
}
REDUCTIONS = ("mean", "sum", "none")
Arr = np.ndarray[Any, Any]


@pytest.fixture(scope="module", autouse=True)
def client() -> Iterator[Any]:
    """One cluster for the module: 2 worker processes, 1 thread each; every compute() in this
    module runs on it (the client is the default scheduler while it is open)."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
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


def data(name: str, shape: tuple[int, ...], dtype: type, seed: int = 0) -> tuple[Arr, Arr]:
    rng = np.random.default_rng(seed)
    if name == "binary_cross_entropy":
        x = rng.uniform(0.001, 0.999, shape)
        t = rng.uniform(0.0, 1.0, shape)
    elif name == "binary_cross_entropy_with_logits":
        x = rng.normal(0.0, 3.0, shape)
        t = rng.uniform(0.0, 1.0, shape)
    else:
        x = rng.normal(0.0, 2.0, shape)
        t = rng.normal(0.0, 2.0, shape)
    return x.astype(dtype), t.astype(dtype)


def weights(n: int, seed: int = 1) -> Arr:
    return np.random.default_rng(seed).uniform(0.0, 2.0, n)


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def tolerance(dtype: type) -> float:
    # float32: each block's sum and the result are rounded to float32 once more than in memory.
    return 1e-12 if dtype == np.float64 else 1e-6


def check(got: Any, want: Any, dtype: type, rowwise: bool = False) -> None:
    """A computed dask result against the in-memory one: reduced values within `tolerance`,
    arrays of the same dtype and shape elementwise within it. `rowwise` (cross-entropy
    gradients): within it of the largest element, as p_c·A - a_c cancels where p_c·A ≈ a_c,
    so that a last-bit change of the denominator (summed in another order) shows there."""
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
    names = [
        n for n in fastloss.__all__ if any(n.startswith(loss) for loss in [*POINTWISE, "cross"])
    ]
    assert sorted(fd.__all__) == sorted(names) and len(names) == 36
    for name in names:
        mine = inspect.signature(fn(fd, name)).parameters
        theirs = inspect.signature(fn(fastloss, name)).parameters
        assert [(p.name, p.kind) for p in mine.values()] == [
            (p.name, p.kind) for p in theirs.values() if p.name != "out"
        ], name
        assert mine["reduction"].default == theirs["reduction"].default, name


# ---------------------------------------------------------------- elementwise losses --


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_weighted(name: str, dtype: type) -> None:
    """Value, gradient and grad_hess for every reduction, sample weights in 11 blocks."""
    params = POINTWISE[name]
    x, t = data(name, (N,), dtype)
    w = weights(N)
    dx, dt, dw = (da.from_array(a, chunks=CHUNK) for a in (x, t, w))
    lazy: list[Any] = []
    want: list[Any] = []
    for red in REDUCTIONS:
        kw = {**params, "reduction": red, "sample_weight": dw}
        mem = {**params, "reduction": red, "sample_weight": w}
        lazy += [fn(fd, name)(dx, dt, **kw), fn(fd, name + "_grad")(dx, dt, **kw)]
        lazy += list(fn(fd, name + "_grad_hess")(dx, dt, **kw))
        want += [fn(fastloss, name)(x, t, **mem), fn(fastloss, name + "_grad")(x, t, **mem)]
        want += list(fn(fastloss, name + "_grad_hess")(x, t, **mem))
    got = compute(*lazy)
    assert len(got) == len(want)
    for g, m in zip(got, want):
        check(g, m, dtype)


@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_unweighted_and_row_weights(name: str) -> None:
    """2-D inputs: no weights, then one weight per row (1-D of length shape[0])."""
    params = dict(POINTWISE[name])
    if name == "binary_cross_entropy_with_logits":
        params["pos_weight"] = np.array([0.5, 1.0, 3.0])
    x, t = data(name, (N, 3), np.float64, seed=2)
    w = weights(N, seed=3)
    dx = da.from_array(x, chunks=(CHUNK, 3))
    for sw, dsw in ((None, None), (w, da.from_array(w, chunks=CHUNK))):
        kw = {**params, "sample_weight": dsw}
        mem = {**params, "sample_weight": sw}
        got = compute(fn(fd, name)(dx, t, **kw), fn(fd, name + "_grad")(dx, t, **kw))
        check(got[0], fn(fastloss, name)(x, t, **mem), np.float64)
        check(got[1], fn(fastloss, name + "_grad")(x, t, **mem), np.float64)


def test_value_and_grad() -> None:
    x, t = data("huber", (N,), np.float64, seed=4)
    w = weights(N, seed=5)
    v, g = fd.huber_value_and_grad(da.from_array(x, chunks=999), t, delta=0.3, sample_weight=w)
    v, g = compute(v, g)
    mv, mg = fastloss.huber_value_and_grad(x, t, delta=0.3, sample_weight=w)
    check(v, mv, np.float64)
    check(g, mg, np.float64)


def test_numpy_mixed_in_and_rechunked() -> None:
    """Blocks follow the input; a target with other blocks and NumPy weights are cut to fit."""
    x, t = data("mse", (N,), np.float64, seed=6)
    w = weights(N, seed=7)
    dx = da.from_array(x, chunks=1500)
    dt = da.from_array(t, chunks=4000)
    check(one(fd.mse(dx, dt, sample_weight=w)), fastloss.mse(x, t, sample_weight=w), np.float64)
    check(one(fd.mse(x, dt)), fastloss.mse(x, t), np.float64)
    x2, t2 = x[:10_000].reshape(100, 100), t[:10_000].reshape(100, 100)
    both_axes = da.from_array(x2, chunks=(30, 40))  # cut to whole rows
    check(one(fd.mse(both_axes, t2)), fastloss.mse(x2, t2), np.float64)
    only_numpy = fd.mse_grad(x, t, sample_weight=w)
    check(one(only_numpy), fastloss.mse_grad(x, t, sample_weight=w), np.float64)


# -------------------------------------------------------------------- cross-entropy --

C = 7


def logits(shape: tuple[int, ...], dtype: type, seed: int = 8) -> Arr:
    return np.random.default_rng(seed).normal(0.0, 3.0, shape).astype(dtype)


def labels(n: int, seed: int = 9) -> Arr:
    y = np.random.default_rng(seed).integers(0, C, n)
    y[::6] = -100  # ignored rows
    return y


CE_OPTIONS: list[dict[str, Any]] = [
    {"class_weight": np.linspace(0.2, 2.0, C), "ignore_index": -100},
    {"class_weight": np.linspace(0.2, 2.0, C), "ignore_index": -100, "label_smoothing": 0.1},
    {"ignore_index": -100, "label_smoothing": 0.25},
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", CE_OPTIONS, ids=["weights", "weights+smoothing", "smoothing"])
def test_cross_entropy_by_rows(options: dict[str, Any], dtype: type) -> None:
    z = logits((N, C), dtype)
    y = labels(N)
    w = weights(N, seed=10)
    dz = da.from_array(z, chunks=(CHUNK, C))
    dy = da.from_array(y, chunks=CHUNK)
    lazy: list[Any] = []
    want: list[Any] = []
    for red in REDUCTIONS:
        kw = {**options, "reduction": red, "sample_weight": w}
        lazy += [fd.cross_entropy(dz, dy, **kw), fd.cross_entropy_grad(dz, dy, **kw)]
        lazy += list(fd.cross_entropy_grad_hess(dz, dy, **kw))
        want += [fastloss.cross_entropy(z, y, **kw), fastloss.cross_entropy_grad(z, y, **kw)]
        want += list(fastloss.cross_entropy_grad_hess(z, y, **kw))
    for g, m in zip(compute(*lazy), want):
        check(g, m, dtype, rowwise=True)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cross_entropy_class_axis(axis: int) -> None:
    """(N, C, 3) logits moved so the classes are on `axis`; rows and row weights along N
    (classes first: along the second axis)."""
    z = np.moveaxis(logits((N, 3, C), np.float64, seed=11), -1, axis)
    rows_shape = z.shape[: axis % 3] + z.shape[axis % 3 + 1 :]
    y = np.random.default_rng(12).integers(0, C, rows_shape)
    w = weights(rows_shape[0], seed=13)
    opts: dict[str, Any] = {
        "axis": axis,
        "class_weight": np.linspace(1.0, 2.0, C),
        "sample_weight": w,
    }
    chunks = tuple(500 if d == N else -1 for d in z.shape)
    dz = da.from_array(z, chunks=chunks)
    v, g, gg, hh = compute(
        fd.cross_entropy(dz, y, **opts),
        fd.cross_entropy_grad(dz, y, **opts),
        *fd.cross_entropy_grad_hess(dz, y, reduction="mean", **opts),
    )
    check(v, fastloss.cross_entropy(z, y, **opts), np.float64)
    check(g, fastloss.cross_entropy_grad(z, y, **opts), np.float64, rowwise=True)
    want_g, want_h = fastloss.cross_entropy_grad_hess(z, y, reduction="mean", **opts)
    check(gg, want_g, np.float64, rowwise=True)
    check(hh, want_h, np.float64, rowwise=True)


@pytest.mark.parametrize("from_logits", [True, False])
def test_cross_entropy_probability_targets(from_logits: bool) -> None:
    rng = np.random.default_rng(14)
    p = rng.dirichlet(np.ones(C), N)
    z = logits((N, C), np.float64) if from_logits else rng.dirichlet(np.ones(C), N)
    w = weights(N, seed=15)
    kw: dict[str, Any] = {"label_smoothing": 0.05, "from_logits": from_logits}
    dz = da.from_array(z, chunks=(CHUNK, C))
    for sw in (None, w):
        got = compute(
            fd.cross_entropy(dz, p, sample_weight=sw, **kw),
            fd.cross_entropy_grad(dz, p, sample_weight=sw, **kw),
        )
        check(got[0], fastloss.cross_entropy(z, p, sample_weight=sw, **kw), np.float64)
        want = fastloss.cross_entropy_grad(z, p, sample_weight=sw, **kw)
        check(got[1], want, np.float64, rowwise=True)


def test_cross_entropy_all_ignored() -> None:
    z = logits((50, C), np.float64)
    y = np.full(50, -1)
    dz = da.from_array(z, chunks=(7, C))
    assert math.isnan(float(one(fd.cross_entropy(dz, y, ignore_index=-1))))
    g = one(fd.cross_entropy_grad(dz, y, ignore_index=-1))
    np.testing.assert_array_equal(g, fastloss.cross_entropy_grad(z, y, ignore_index=-1))


# ------------------------------------------------------------------- determinism --


def test_result_does_not_depend_on_the_scheduler() -> None:
    """The tree is fixed by the blocks: the cluster, a thread pool and one thread give the same
    bits, whichever worker finishes first."""
    x, t = data("log_cosh", (N,), np.float64, seed=16)
    w = weights(N, seed=17)
    lazy = [
        fd.log_cosh(da.from_array(x, chunks=613), t, sample_weight=w),
        fd.cross_entropy(
            da.from_array(logits((N, C), np.float64), chunks=(613, C)),
            labels(N),
            ignore_index=-100,
            class_weight=np.arange(1.0, C + 1),
        ),
    ]
    on_cluster = [compute(*lazy) for _ in range(3)]
    threads = compute(*lazy, scheduler="threads")
    single = compute(*lazy, scheduler="sync")
    for got in [*on_cluster, threads]:
        assert [float(v) for v in got] == [float(v) for v in single]


# -------------------------------------------------------------- edges and errors --


def test_empty_and_single_element() -> None:
    e = da.zeros((0,), chunks=5)
    assert math.isnan(float(one(fd.mse(e, e))))
    assert float(one(fd.mse(e, e, reduction="sum"))) == 0.0
    assert one(fd.mse(e, e, reduction="none")).shape == (0,)
    assert float(one(fd.huber(2.5, 0.0))) == fastloss.huber(2.5, 0.0)
    z = np.array([1.0, 2.0, 0.5])
    assert float(one(fd.cross_entropy(z, 1))) == fastloss.cross_entropy(z, 1)
    np.testing.assert_array_equal(
        one(fd.cross_entropy_grad(z, 2)), fastloss.cross_entropy_grad(z, 2)
    )


def test_float32_result_keeps_float32() -> None:
    x, t = data("mse", (N,), np.float32, seed=18)
    dx = da.from_array(x, chunks=CHUNK)
    assert fd.mse(dx, t, reduction="none").dtype == np.float32
    assert one(fd.mse_grad(dx, t)).dtype == np.float32
    assert fd.mse(dx, t).dtype == np.float64  # a reduced value is a float, as in memory


def test_checks_without_data_run_at_call_time() -> None:
    x = da.zeros((20, 3), chunks=(6, 3))
    with pytest.raises(ValueError, match=r"input shape \(20, 3\) and target shape \(20, 4\)"):
        fd.mse(x, np.zeros((20, 4)))
    with pytest.raises(ValueError, match=r"sample_weight has shape \(19,\)"):
        fd.mse(x, x, sample_weight=np.ones(19))
    with pytest.raises(ValueError, match="reduction"):
        fd.mse(x, x, reduction="avg")
    with pytest.raises(ValueError, match="q"):
        fd.pinball(x, x, q=1.5)
    with pytest.raises(ValueError, match="class_weight"):
        fd.cross_entropy(x, np.zeros(20, dtype=np.int64), class_weight=np.ones(4))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        fd.cross_entropy(x, np.zeros(20, dtype=np.int64), axis=2)
    with pytest.raises(TypeError, match="complex"):
        fd.mse(x.astype(np.complex128), x)
    unknown = x[x[:, 0] > 0]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        fd.mse(unknown, unknown)


def test_checks_on_data_name_the_block() -> None:
    x = da.ones((20,), chunks=6)
    w = np.ones(20)
    w[13] = -1.0
    with pytest.raises(ValueError, match=r"sample_weight.*rows 12\.\.18"):
        one(fd.mse(x, x, sample_weight=w))
    y = np.zeros(20, dtype=np.int64)
    y[3] = 9
    with pytest.raises(ValueError, match=r"label 9.*rows 0\.\.6"):
        one(fd.cross_entropy(da.zeros((20, 3), chunks=(6, 3)), y))


def unaligned(a: Arr) -> Arr:
    """A copy of `a` at an odd address."""
    odd = np.frombuffer(bytearray(a.nbytes + 1), dtype=a.dtype, offset=1, count=a.size)
    odd[:] = a.ravel()
    assert not odd.flags.aligned
    return odd.reshape(a.shape)


def test_unaligned_blocks() -> None:
    """Blocks at odd addresses (as distributed's messages can deliver them) are copied to
    aligned memory before the kernel borrows them."""
    x, t = data("mse", (N,), np.float64, seed=19)
    w = weights(N, seed=20)
    dx, dw = (da.from_array(a, chunks=CHUNK).map_blocks(unaligned) for a in (x, w))
    got = compute(
        fd.mse(dx, t, sample_weight=dw), fd.mse_grad(dx, t, sample_weight=dw), scheduler="sync"
    )
    check(got[0], fastloss.mse(x, t, sample_weight=w), np.float64)
    check(got[1], fastloss.mse_grad(x, t, sample_weight=w), np.float64)
