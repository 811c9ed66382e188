"""Leaks and long runs (issue 5): 100,000 mixed calls of all 36 functions
(successful and failing ones, ``out=``, weights, conversions, calls that go
to the worker pool) grow the peak RSS (``resource.getrusage``) by less than
2 MB after a warm-up. The calls run in a fresh child process: the peak of
the pytest process is already set by other tests' large arrays, which would
hide any growth below it.
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
from test_concurrency import shared_calls

calls = [f for _, f in shared_calls(257, seed=1)]
big = [f for _, f in shared_calls(20_003, seed=2)]
rng = np.random.default_rng(0)
x = rng.standard_normal(64)
y = rng.standard_normal(64)
out64 = np.empty(64)
import fastloss

def extra(k):
    # Conversions, out=, and errors raised before and after the arrays are
    # converted (each exception carries a message built in Rust).
    m = k % 8
    try:
        if m == 0:
            fastloss.mse_grad(x, y, out=out64)
        elif m == 1:
            fastloss.huber(x.tolist(), y.astype(np.float32), delta=0.5)
        elif m == 2:
            fastloss.huber(x, y, delta=-1.0)
        elif m == 3:
            fastloss.binary_cross_entropy(x, y)
        elif m == 4:
            fastloss.cross_entropy(x.reshape(8, 8), np.full(8, 9))
        elif m == 5:
            fastloss.mae(x, y, reduction="avg")
        elif m == 6:
            fastloss.mse_grad(x, y, out=np.empty(64, np.float32))
        else:
            fastloss.log_cosh(x, y, sample_weight=-np.ones(64))
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
