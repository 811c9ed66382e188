"""The bounds of the thread count and the environment settings.

``set_num_threads`` takes 1 to 1024 threads and raises ``ValueError`` beyond;
``FASTLOSS_NUM_THREADS`` above 1024 is clamped and one that is not a count is
ignored, each with a ``RuntimeWarning`` at import; an unknown
``FASTLOSS_SIMD`` is ignored with a ``RuntimeWarning`` at import. A call
never uses more than 64 threads (it is cut into at most 64 tasks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from reference import api

MAX_THREADS = 1024


def child(env: dict[str, str], code: str) -> dict[str, Any]:
    """Runs ``code`` in a fresh interpreter with ``env`` added; it must print
    one JSON line last."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"child failed ({env}):\n{proc.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# Imports fastloss recording its warnings, then reports them with the
# thread count and SIMD level it settled on.
IMPORT = r"""
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import fastloss
print(json.dumps({
    "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    "threads": fastloss.get_num_threads(),
    "simd": fastloss.info()["simd"],
}))
"""


@pytest.mark.parametrize("n", [MAX_THREADS + 1, 100_000, 2**63])
def test_set_num_threads_rejects_more_than_the_maximum(restore_threads: int, n: int) -> None:
    with pytest.raises(ValueError, match=rf"\bn\b.*\b{MAX_THREADS}\b.*\b{n}\b") as e:
        api("set_num_threads")(n)
    assert str(n) in str(e.value) and str(MAX_THREADS) in str(e.value)
    assert api("get_num_threads")() == restore_threads


def test_set_num_threads_takes_the_maximum(restore_threads: int) -> None:
    api("set_num_threads")(MAX_THREADS)
    assert api("get_num_threads")() == MAX_THREADS


def test_a_call_on_the_most_threads_starts_at_most_64() -> None:
    """1024 threads set: one threaded call starts no more than 63 helpers
    (the process's thread count, read from /proc), and gives the bits of
    one thread."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc")
    code = r"""
import json
import numpy as np
import fastloss

def os_threads():
    with open("/proc/self/status") as f:
        return int(next(l for l in f if l.startswith("Threads:")).split()[1])

x, t = np.linspace(-3.0, 3.0, 1 << 22), np.zeros(1 << 22)
fastloss.set_num_threads(1)
one = fastloss.mse(x, t)
before = os_threads()
fastloss.set_num_threads(1024)
many = fastloss.mse(x, t)
print(json.dumps({"started": os_threads() - before, "same": one.hex() == many.hex()}))
"""
    got = child({}, code)
    assert 1 <= got["started"] <= 63, got
    assert got["same"], got


@pytest.mark.parametrize(
    ("value", "threads", "warning"),
    [
        (str(MAX_THREADS), MAX_THREADS, None),
        ("100000", MAX_THREADS, "above the maximum"),
        ("99999999999999999999999", MAX_THREADS, "above the maximum"),
        ("0", None, "not a thread count"),
        ("-2", None, "not a thread count"),
        ("four", None, "not a thread count"),
        ("", None, None),
    ],
)
def test_num_threads_environment_bounds(
    value: str, threads: int | None, warning: str | None
) -> None:
    """A value above the maximum is clamped to it, one that is not a count
    gives the number of cores; either warns at import (an empty value is no
    value). Import never fails."""
    cores = child({"FASTLOSS_NUM_THREADS": "", "FASTLOSS_SIMD": ""}, IMPORT)["threads"]
    got = child({"FASTLOSS_NUM_THREADS": value}, IMPORT)
    assert got["threads"] == (cores if threads is None else threads), got
    ours = [w for w in got["warnings"] if "FASTLOSS_NUM_THREADS" in w[1]]
    if warning is None:
        assert ours == [], got
    else:
        assert len(ours) == 1 and ours[0][0] == "RuntimeWarning", got
        assert warning in ours[0][1] and f'"{value}"' in ours[0][1], got


def test_unknown_simd_level_warns() -> None:
    """An unknown FASTLOSS_SIMD warns at import, naming the value and the
    known levels, and the machine's best level is used."""
    best = child({"FASTLOSS_SIMD": ""}, IMPORT)
    assert best["warnings"] == [], best
    got = child({"FASTLOSS_SIMD": "avx"}, IMPORT)
    assert got["simd"] == best["simd"], got
    ours = [w for w in got["warnings"] if "FASTLOSS_SIMD" in w[1]]
    assert len(ours) == 1 and ours[0][0] == "RuntimeWarning", got
    assert '"avx"' in ours[0][1] and "avx2" in ours[0][1], got


def test_unknown_simd_level_is_an_error_under_w_error() -> None:
    """With warnings as errors (as pytest runs here), the import raises the
    RuntimeWarning instead of going on silently."""
    proc = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", "import fastloss"],
        env={**os.environ, "FASTLOSS_SIMD": "avx"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "RuntimeWarning" in proc.stderr and "FASTLOSS_SIMD" in proc.stderr, proc.stderr
