"""Threads, SIMD levels, ``info()`` and ``__version__`` (SPEC §3, §5).

Results must be bitwise identical for any thread count and for every SIMD
level the machine has (the kernels use a fixed summation tree and no FMA).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from typing import Any

import fastloss
import numpy as np
import pytest
from reference import FLOATS, Array, DType, api, make_data, make_weight

SIMD_NAMES = ("scalar", "sse2", "avx2", "avx512", "neon")
X86 = platform.machine().lower() in ("x86_64", "amd64")


def digest(a: Any) -> str:
    """A checksum of an array's bits (NaNs made canonical: their payload is
    not part of the contract)."""
    arr = np.array(a, copy=True)
    arr[np.isnan(arr)] = np.nan
    return hashlib.sha256(arr.tobytes()).hexdigest()[:24]


def hexed(v: Any) -> str:
    assert type(v) is float
    return "nan" if v != v else v.hex()


# ------------------------------------------------------------------- api --


def test_version_and_info() -> None:
    version = fastloss.__version__
    assert isinstance(version, str) and re.match(r"^\d+\.\d+", version), version
    info = api("info")()
    assert isinstance(info, dict)
    for key in ("version", "simd", "threads"):
        assert key in info, f"info() lacks {key!r}: {info!r}"
    assert info["version"] == version
    assert isinstance(info["simd"], str) and info["simd"] in SIMD_NAMES, info["simd"]
    assert isinstance(info["threads"], int) and info["threads"] >= 1
    assert info["threads"] == api("get_num_threads")()


def test_set_and_get_num_threads(restore_threads: int) -> None:
    assert isinstance(restore_threads, int) and restore_threads >= 1
    for n in (1, 2, 3, 8, 1):
        assert api("set_num_threads")(n) is None
        assert api("get_num_threads")() == n
        assert api("info")()["threads"] == n


@pytest.mark.parametrize("bad", [0, -1, -8])
def test_set_num_threads_rejects_less_than_one(restore_threads: int, bad: int) -> None:
    with pytest.raises(ValueError):
        api("set_num_threads")(bad)
    assert api("get_num_threads")() == restore_threads


# ------------------------------------------------------------ determinism --

N_THREADED = 3_000_003


def snapshot(name: str, x: Array, y: Array, w: Array | None) -> dict[str, str]:
    """Bits of the results of one loss on (x, y, w)."""
    s: dict[str, str] = {}
    s["value sum"] = hexed(api(name)(x, y, reduction="sum", sample_weight=w))
    v, g = api(name + "_value_and_grad")(x, y, reduction="mean", sample_weight=w)
    s["value_and_grad mean"] = hexed(v) + " " + digest(g)
    g, h = api(name + "_grad_hess")(x, y, reduction="mean", sample_weight=w)
    s["grad_hess mean"] = digest(g) + " " + digest(h)
    return s


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("name", ["mse", "log_cosh"])
def test_thread_count_does_not_change_bits(restore_threads: int, name: str, dtype: DType) -> None:
    x, y = make_data(N_THREADED, dtype, seed=31)
    w = make_weight((N_THREADED,), "each", seed=31)
    results: dict[int, dict[str, str]] = {}
    for threads in (1, 2, 3, 8):
        api("set_num_threads")(threads)
        results[threads] = snapshot(name, x, y, None)
        results[threads].update({k + " weighted": v for k, v in snapshot(name, x, y, w).items()})
    for threads in (2, 3, 8):
        for key, bits in results[1].items():
            assert results[threads][key] == bits, (
                f"{name} {np.dtype(dtype).name} {key}: {threads} threads give "
                f"{results[threads][key]}, 1 thread gives {bits}"
            )


# ------------------------------------------------------- subprocess runs --

SCRIPT = r"""
import hashlib, json
import numpy as np
import fastloss

def digest(a):
    arr = np.array(a, copy=True)
    arr[np.isnan(arr)] = np.nan
    return hashlib.sha256(arr.tobytes()).hexdigest()[:24]

def hexed(v):
    assert type(v) is float, type(v)
    return "nan" if v != v else v.hex()

LOSSES = [("mae", {}), ("mse", {}), ("smooth_l1", {"beta": 0.5}), ("smooth_l1", {"beta": 0.0}),
          ("huber", {"delta": 2.0}), ("log_cosh", {}), ("pinball", {"q": 0.25})]
out = {"simd": fastloss.info()["simd"], "threads": fastloss.get_num_threads(), "results": {}}
for dtype in (np.float32, np.float64):
    for n in (1, 7, 8, 15, 31, 33, 63, 65, 1000, 4099, 131075):
        rng = np.random.default_rng(n)
        x = (3 * rng.standard_normal(n)).astype(dtype)
        y = rng.standard_normal(n).astype(dtype)
        idx = rng.permutation(n)[: max(1, n // 8)]
        x[idx[::4]] = y[idx[::4]]
        y[idx[1::4]] = 0
        x[idx[1::4]] = 0.5
        y[idx[2::4]] = 0
        x[idx[2::4]] = -2.0
        w = rng.uniform(0.0, 2.0, n)
        xs, ys = x.copy(), y.copy()
        xs[idx[3::4]] = np.resize(np.array([np.inf, -np.inf, np.nan, 1.0]), len(idx[3::4]))
        for name, kw in LOSSES:
            f = getattr(fastloss, name)
            fg = getattr(fastloss, name + "_grad")
            fvg = getattr(fastloss, name + "_value_and_grad")
            fgh = getattr(fastloss, name + "_grad_hess")
            for wl, wt in (("", None), (" w", w)):
                key = f"{np.dtype(dtype).name} n={n} {name}{kw}{wl}"
                r = {}
                for red in ("mean", "sum"):
                    r[red] = hexed(f(x, y, reduction=red, sample_weight=wt, **kw))
                    r[red + " grad"] = digest(fg(x, y, reduction=red, sample_weight=wt, **kw))
                    v, g = fvg(x, y, reduction=red, sample_weight=wt, **kw)
                    r[red + " vg"] = hexed(v) + " " + digest(g)
                r["none"] = digest(f(xs, ys, reduction="none", sample_weight=wt, **kw))
                g, h = fgh(xs, ys, sample_weight=wt, **kw)
                r["grad_hess"] = digest(g) + " " + digest(h)
                out["results"][key] = r
print(json.dumps(out))
"""


def run_child(env_updates: dict[str, str | None], code: str = SCRIPT) -> dict[str, Any]:
    env = dict(os.environ)
    for key, value in env_updates.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"child failed ({env_updates}):\n{proc.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def levels_available(best: str) -> list[str]:
    """The FASTLOSS_SIMD values at or below the machine's best level."""
    if not X86:
        return ["scalar", best] if best != "scalar" else ["scalar"]
    order = ["scalar", "sse2", "avx2", "avx512"]
    assert best in order, f"x86-64 machine reports simd {best!r}"
    return order[: order.index(best) + 1]


def test_simd_levels_agree_bitwise() -> None:
    """Each FASTLOSS_SIMD level the machine has, in its own process: info()
    names the forced level and every result has the same bits."""
    default = run_child({"FASTLOSS_SIMD": None})
    best = default["simd"]
    runs: dict[str, dict[str, Any]] = {}
    for level in levels_available(best):
        runs[level] = run_child({"FASTLOSS_SIMD": level})
        want_name = ("sse2" if X86 else runs[level]["simd"]) if level == "scalar" else level
        if not X86 and level == "scalar":
            assert runs[level]["simd"] in ("scalar", "neon")
        assert runs[level]["simd"] == want_name, (
            f"FASTLOSS_SIMD={level}: info()['simd'] is {runs[level]['simd']!r}"
        )
    base = default["results"]
    failures: list[str] = []
    for level, run in runs.items():
        assert run["results"].keys() == base.keys()
        for key, want in base.items():
            got = run["results"][key]
            for item, bits in want.items():
                if got[item] != bits:
                    failures.append(f"{level} vs {best}: {key} {item}: {got[item]} != {bits}")
    assert not failures, f"{len(failures)} differences:\n" + "\n".join(failures[:30])


def test_simd_level_cannot_be_raised() -> None:
    """A level above the machine's is capped to the machine's (never crashes)."""
    best = run_child({"FASTLOSS_SIMD": None})["simd"]
    if best == "avx512" or not X86:
        pytest.skip("no level above this machine's")
    capped = run_child({"FASTLOSS_SIMD": "avx512"})
    assert capped["simd"] == best


def test_num_threads_environment() -> None:
    code = (
        "import json, fastloss;"
        "print(json.dumps([fastloss.get_num_threads(), fastloss.info()['threads']]))"
    )
    for n in ("1", "3", "5"):
        env = dict(os.environ, FASTLOSS_NUM_THREADS=n)
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == [int(n), int(n)], f"FASTLOSS_NUM_THREADS={n}"


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_threads_in_parallel_python_threads(restore_threads: int, dtype: DType) -> None:
    """Calls from several Python threads at once give the single-thread bits."""
    from concurrent.futures import ThreadPoolExecutor

    api("set_num_threads")(2)
    x, y = make_data(1_200_007, dtype, seed=8)
    want = snapshot("log_cosh", x, y, None)
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(lambda _: snapshot("log_cosh", x, y, None), range(3)))
    for g in got:
        assert g == want


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fork_after_threads_have_worked(restore_threads: int) -> None:
    """A child forked after the helper threads have worked has none of them:
    its calls run on the calling thread alone, finish, and give the same
    bits."""
    import select
    import signal
    import struct

    api("set_num_threads")(2)
    x, y = make_data(1 << 21, np.float64, seed=9)
    want = float(fastloss.log_cosh(x, y))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.write(write, struct.pack("<d", float(fastloss.log_cosh(x, y))))
        finally:
            os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 60.0)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        got = os.read(read, 8) if ready else b""
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert len(got) == 8, "the forked child did not finish"
    assert hexed(struct.unpack("<d", got)[0]) == hexed(want)
