"""Leaks and long runs: 100,000 mixed calls of every function of every loss of the registry
(successful and failing ones, ``out=``, weights, conversions, calls that go to the worker
pool) grow the peak RSS (``resource.getrusage``) by less than 2 MB after a warm-up. The
calls run in a fresh child process: the peak of the pytest process is already set by other
tests' large arrays, which would hide any growth below it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

resource: Any = pytest.importorskip("resource")

CALLS = 100_000
LIMIT_KB = 2 * 1024

CHILD = r"""
import json, math, resource, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from losses import LOSSES, call, inputs, invalid_kwargs
from test_concurrency import shared_calls

calls = [f for _, f in shared_calls(257, seed=1)]
big = [f for _, f in shared_calls(20_003, seed=2)]


def extras(loss):
    # Conversions, out=, and errors raised before and after the arrays are converted
    # (each exception carries a message built in Rust).
    x, y = inputs(loss, (8, 8), np.float64, 0)
    out = np.empty(x.shape)
    found = [
        lambda: call(loss, "_grad", x, y, out=out),
        lambda: call(loss, "", x.tolist(), y.astype(np.float32) if y.dtype.kind == "f" else y),
        lambda: call(loss, "", x, y, reduction="avg"),
        lambda: call(loss, "_grad", x, y, out=np.empty(x.shape, np.float32)),
        lambda: call(loss, "", x, y, sample_weight=-np.ones(y.shape[:1])),
        lambda: call(loss, "", x, y[:-1]),
    ]
    for key, value in invalid_kwargs(loss)[:1]:
        found.append(lambda: call(loss, "", x, y, **{key: value}))
    if loss.input == "probability":
        found.append(lambda: call(loss, "", x + 2.0, y))
    if loss.target == "classes":
        found.append(lambda: call(loss, "", x, y + x.shape[-1]))
    return found


extra_calls = [f for loss in LOSSES for f in extras(loss)]


def extra(k):
    try:
        extra_calls[k % len(extra_calls)]()
    except (ValueError, TypeError):
        pass

def run(count):
    done = 0
    k = 0
    while done < count:
        f = calls[k % len(calls)]
        try:
            f()
        except (ValueError, TypeError):
            pass
        extra(k)
        done += 2
        if k % 500 == 0:
            try:
                big[(k // 500) % len(big)]()
            except (ValueError, TypeError):
                pass
            done += 1
        k += 1
    return done

run(20_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
done = run(int(sys.argv[2]))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"calls": done, "before_kb": before, "after_kb": after}))
"""


def test_100k_mixed_calls_do_not_grow_peak_rss() -> None:
    here = str(Path(__file__).resolve().parent)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, here, str(CALLS)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["calls"] >= CALLS
    grew = r["after_kb"] - r["before_kb"]
    assert grew < LIMIT_KB, (
        f"{r['calls']} calls grew the peak RSS by {grew} KiB "
        f"({r['before_kb']} -> {r['after_kb']} KiB)"
    )
