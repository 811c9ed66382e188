"""Concurrency: eight Python threads calling every function of every loss at once on
shared read-only inputs get exactly the single-threaded results, bit for bit;
``set_num_threads`` from another thread while they compute changes nothing but speed.
Inputs are large enough that the calls release the GIL and run on the kernels' worker pool
at the same time, and small enough to keep the GIL, both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
from losses import (
    FORMS,
    LOSSES,
    Array,
    about,
    array_kwargs,
    bits,
    inputs,
    outcome,
    sample_kwargs,
)
from reference import api

Call = tuple[str, Callable[[], Any]]


def frozen(a: Array) -> Array:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def shared_calls(n: int, seed: int) -> list[Call]:
    """Every function of every loss, with and without weights, each reduction, on
    read-only arrays of about ``n`` elements shared by all threads; with the loss's sample
    parameters and its array parameters (over 16 columns) where it has them; and one
    failing call per function (its exception type is the result)."""
    calls: list[Call] = []
    for loss in LOSSES:
        shape = about(loss, n)
        x64, y64 = (frozen(a) for a in inputs(loss, shape, np.float64, seed))
        w64 = frozen(np.random.default_rng(seed).uniform(0.0, 2.0, shape))
        columns = about(loss, n // 16, 16)
        xc, yc = (frozen(a) for a in inputs(loss, columns, np.float64, seed + 1))
        arrays = {k: frozen(v) for k, v in array_kwargs(loss, xc, seed).items()}
        params = sample_kwargs(loss)
        for form in FORMS:
            f = api(loss.name + form)
            for dt in (np.float32, np.float64):
                x = frozen(x64.astype(dt))
                y = y64 if loss.target == "classes" else frozen(y64.astype(dt))
                w = frozen(w64.astype(dt))
                for red in ("mean", "sum", "none"):
                    for weight in (None, w):
                        key = f"{loss.name}{form} {np.dtype(dt).name} {red} w={weight is not None}"
                        kw = {"reduction": red, "sample_weight": weight}
                        calls.append((key, partial(f, x, y, **kw)))
            if arrays:
                calls.append((f"{loss.name}{form} arrays", partial(f, xc, yc, **arrays)))
            if params:
                calls.append((f"{loss.name}{form} params", partial(f, x64, y64, **params)))
            calls.append((f"{loss.name}{form} fails", partial(f, x64, y64[:-1])))
    return calls


def run_all(calls: list[Call], start: int = 0) -> dict[str, Any]:
    """Every call once, starting at ``start`` (threads start at different
    functions, so different kernels overlap)."""
    order = calls[start:] + calls[:start]
    return {key: bits(outcome(f)) for key, f in order}


def test_eight_threads_all_functions(restore_threads: int) -> None:
    api("set_num_threads")(2)
    for n in (70_007, 301):
        calls = shared_calls(n, seed=n)
        want = run_all(calls)
        assert sum(1 for v in want.values() if v[0] == "raises") == len(LOSSES) * len(FORMS)
        barrier = threading.Barrier(8)

        def worker(
            i: int, calls: list[Call] = calls, barrier: threading.Barrier = barrier
        ) -> dict[str, Any]:
            barrier.wait()
            return run_all(calls, start=i * len(calls) // 8)

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(worker, range(8)))
        for i, got in enumerate(results):
            diff = [k for k in want if got[k] != want[k]]
            assert not diff, f"n={n}, thread {i}: {len(diff)} results differ, first {diff[:5]}"


def test_set_num_threads_while_computing(restore_threads: int) -> None:
    calls = shared_calls(70_007, seed=3)
    api("set_num_threads")(1)
    want = run_all(calls)
    stop = threading.Event()
    flips = 0

    def flipper() -> None:
        nonlocal flips
        k = 0
        while not stop.is_set():
            api("set_num_threads")((1, 2, 3, 8)[k % 4])
            k += 1
            flips = k

    def worker(i: int) -> dict[str, Any]:
        return run_all(calls, start=i * len(calls) // 6)

    t = threading.Thread(target=flipper)
    t.start()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(worker, range(6)))
    finally:
        stop.set()
        t.join()
    assert flips > 10
    for i, got in enumerate(results):
        diff = [k for k in want if got[k] != want[k]]
        assert not diff, f"thread {i}: {len(diff)} results differ, first {diff[:5]}"
