"""Concurrency (issue 5): eight Python threads calling all 36 functions at
once on shared read-only inputs get exactly the single-threaded results, bit
for bit; ``set_num_threads`` from another thread while they compute changes
nothing but speed. Inputs are large enough that the calls release the GIL
and run on the kernels' worker pool at the same time, and small enough to
keep the GIL, both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
from reference import Array, api
from test_hostile import NAMES, SUFFIXES, bits, outcome

Call = tuple[str, Callable[[], Any]]


def frozen(a: Array) -> Array:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def shared_calls(n: int, seed: int) -> list[Call]:
    """Every function of every loss, with and without weights, each
    reduction, on read-only arrays shared by all threads; one failing call
    per loss too (its exception type is the result)."""
    rng = np.random.default_rng(seed)
    x64 = frozen(rng.standard_normal(n) * 3.0)
    y64 = frozen(rng.standard_normal(n))
    p64 = frozen(rng.uniform(0.0, 1.0, n))
    t64 = frozen(rng.uniform(0.0, 1.0, n))
    w64 = frozen(rng.uniform(0.0, 2.0, n))
    c = 7
    rows = n // c
    z64 = frozen(rng.standard_normal((rows, c)) * 4.0)
    lab = frozen(rng.integers(0, c, rows))
    rw = frozen(rng.uniform(0.0, 2.0, rows))
    pw = frozen(rng.uniform(0.5, 2.0, 16))
    x2 = frozen(x64[: n // 16 * 16].reshape(-1, 16))
    t2 = frozen(t64[: n // 16 * 16].reshape(-1, 16))
    calls: list[Call] = []
    for name in NAMES:
        for suffix in SUFFIXES:
            f = api(name + suffix)
            for dt in (np.float32, np.float64):
                if name == "cross_entropy":
                    z = frozen(z64.astype(dt))
                    args: tuple[Any, ...] = (z, lab)
                    w: Array = frozen(rw.astype(dt))
                elif name == "binary_cross_entropy":
                    args = (frozen(p64.astype(dt)), frozen(t64.astype(dt)))
                    w = frozen(w64.astype(dt))
                else:
                    args = (frozen(x64.astype(dt)), frozen(y64.astype(dt)))
                    w = frozen(w64.astype(dt))
                for red in ("mean", "sum", "none"):
                    for weight in (None, w):
                        key = f"{name}{suffix} {np.dtype(dt).name} {red} w={weight is not None}"
                        kw = {"reduction": red, "sample_weight": weight}
                        calls.append((key, partial(f, *args, **kw)))
            if name == "binary_cross_entropy_with_logits":
                calls.append((f"{name}{suffix} pos_weight", partial(f, x2, t2, pos_weight=pw)))
            if name == "cross_entropy":
                call = partial(f, z64, lab, label_smoothing=0.1, axis=-1)
                calls.append((f"{name}{suffix} smoothing", call))
            bad_y = y64[:-1] if name != "cross_entropy" else lab[:-1]
            bad_x = x64 if name != "cross_entropy" else z64
            calls.append((f"{name}{suffix} fails", partial(f, bad_x, bad_y)))
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
        assert sum(1 for v in want.values() if v[0] == "raises") == len(NAMES) * len(SUFFIXES)
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
