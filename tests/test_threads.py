"""Threads, SIMD levels, ``info()`` and ``__version__``, for every loss of the registry.

Results must be bitwise identical for any thread count and for every SIMD
level the machine has (the kernels use a fixed summation tree and no FMA).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import fastloss
import numpy as np
import pytest
from losses import (
    FLOAT_IDS,
    FLOATS,
    LOSSES,
    DType,
    Loss,
    about,
    array_kwargs,
    call,
    digest,
    hexed,
    ids,
    inputs,
    sample_kwargs,
    weights,
)
from reference import X86, api, run_child, simd_levels

SIMD_NAMES = ("scalar", "sse2", "avx2", "avx512", "neon")
ROWS = tuple(loss for loss in LOSSES if loss.family == "rows")


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


def test_one_version_number() -> None:
    """The crate's version (``Cargo.toml``, the only place it is written) is the installed
    wheel's (maturin's dynamic version), ``__version__``, and the newest in the changelog."""
    from importlib.metadata import version

    root = Path(__file__).resolve().parents[1]
    manifest = (root / "Cargo.toml").read_text(encoding="utf-8")
    package = re.search(r"^\[package\]\n(?:[^\[].*\n)*?version = \"([^\"]+)\"", manifest, re.M)
    assert package, "no version in Cargo.toml's [package] table"
    crate = package.group(1)
    changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    newest = re.search(r"^## (\S+)", changelog, re.M)
    assert newest, "CHANGELOG.md has no release heading"
    assert (version("fastloss"), fastloss.__version__, newest.group(1)) == (crate,) * 3


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


def snapshot(loss: Loss, x: Any, y: Any, **kw: Any) -> dict[str, str]:
    """Bits of the results of one loss on (x, y)."""
    s: dict[str, str] = {}
    s["value sum"] = hexed(call(loss, "", x, y, reduction="sum", **kw))
    v, g = call(loss, "_value_and_grad", x, y, reduction="mean", **kw)
    s["value_and_grad mean"] = hexed(v) + " " + digest(g)
    g, h = call(loss, "_grad_hess", x, y, reduction="mean", **kw)
    s["grad_hess mean"] = digest(g) + " " + digest(h)
    s["none"] = digest(call(loss, "", x, y, reduction="none", **kw))
    return s


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_thread_count_does_not_change_bits(restore_threads: int, loss: Loss, dtype: DType) -> None:
    """About 3·10⁶ elements in rows of 3, with the loss's sample parameters and its array
    parameters, without and with per-row weights: 1, 2, 3 and 8 threads give the same bits."""
    shape = about(loss, N_THREADED // 3, 3)
    x, y = inputs(loss, shape, dtype, seed=31)
    w = weights(shape, "rows", seed=31)
    kw = {**sample_kwargs(loss), **array_kwargs(loss, x, 31)}
    results: dict[int, dict[str, str]] = {}
    for threads in (1, 2, 3, 8):
        api("set_num_threads")(threads)
        assert api("get_num_threads")() == threads
        results[threads] = snapshot(loss, x, y, **kw)
        weighted = snapshot(loss, x, y, sample_weight=w, **kw)
        results[threads].update({k + " weighted": v for k, v in weighted.items()})
    for threads in (2, 3, 8):
        for key, bits in results[1].items():
            assert results[threads][key] == bits, (
                f"{loss.name} {np.dtype(dtype).name} {key}: {threads} threads give "
                f"{results[threads][key]}, 1 thread gives {bits}"
            )


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_forced_split_does_not_change_bits(restore_threads: int, loss: Loss, dtype: DType) -> None:
    """About 10⁵ elements in rows of 3, with per-row weights: on 2 threads split from the
    smallest grain (``_force_grain``, what ``benches/threads.py`` measures), and as the call
    splits itself, the bits are those of 1 thread."""
    shape = about(loss, 100_003 // 3, 3)
    x, y = inputs(loss, shape, dtype, seed=37)
    kw = {
        **sample_kwargs(loss),
        **array_kwargs(loss, x, 37),
        "sample_weight": weights(shape, "rows", seed=37),
    }
    native: Any = fastloss._native
    results = {}
    try:
        for threads, grain in ((1, None), (2, None), (2, 1)):
            api("set_num_threads")(threads)
            native._force_grain(grain)
            results[threads, grain] = snapshot(loss, x, y, **kw)
    finally:
        native._force_grain(None)
    for way, got in results.items():
        assert got == results[1, None], f"{loss.name} {np.dtype(dtype).name}: {way}"


@pytest.mark.parametrize("loss", ROWS, ids=ids(ROWS))
def test_thread_count_does_not_change_bits_of_wide_and_narrow_rows(
    restore_threads: int, loss: Loss
) -> None:
    """Rows of 1000, 10 and 32768 classes (the work is split by rows, or within them),
    float32, with per-row weights or the sample parameters."""
    cases: list[tuple[Any, Any, dict[str, Any]]] = []
    for rows, c, seed in ((300, 1000, 1), (7000, 10, 2), (5, 32768, 3)):
        x, y = inputs(loss, (rows,), np.float32, seed=seed, classes=c)
        w = np.random.default_rng(seed).uniform(0.0, 2.0, rows)
        cases.append((x, y, {"sample_weight": w}))
        cases.append((x, y, sample_kwargs(loss)))
    results: dict[int, list[str]] = {}
    for threads in (1, 2, 3, 8):
        api("set_num_threads")(threads)
        got: list[str] = []
        for x, y, kw in cases:
            got.append(hexed(call(loss, "", x, y, **kw)))
            v, g = call(loss, "_value_and_grad", x, y, reduction="sum", **kw)
            got += [hexed(v), digest(g)]
            g, h = call(loss, "_grad_hess", x, y, reduction="mean", **kw)
            got += [digest(g), digest(h)]
            got.append(digest(call(loss, "", x, y, reduction="none", **kw)))
        results[threads] = got
    for threads in (2, 3, 8):
        for k, (a, b) in enumerate(zip(results[1], results[threads])):
            assert a == b, f"{loss.name}: {threads} threads, result {k}: {b} != {a}"


# ------------------------------------------------------- subprocess runs --

SCRIPT = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import fastloss
from losses import (
    LOSSES, array_kwargs, call, digest, hexed, inputs, param_variants, weights,
)

out = {"simd": fastloss.info()["simd"], "threads": fastloss.get_num_threads(), "results": {}}
for dtype in (np.float32, np.float64):
    for n in (1, 7, 8, 15, 31, 33, 63, 65, 1000, 4099, 131075):
        for loss in LOSSES:
            # Rows: every tail of the class loops, then many rows.
            shape, classes = (n,), 5
            if loss.family == "rows":
                shape, classes = ((3,), n) if n <= 4099 else ((n // 1000,), 1000)
            clean = inputs(loss, shape, dtype, n, classes=classes)
            special = inputs(loss, shape, dtype, n, classes=classes, specials=True)
            data = [("", shape, clean, special)]
            if loss.target == "classes":
                probs = inputs(loss, shape, dtype, n, classes=classes, probabilities=True)
                data.append((" probabilities", shape, probs, probs))
            if array_kwargs(loss, clean[0]) and loss.family == "elementwise" and n > 1:
                # Array parameters over the columns of a 2-D input.
                data.append((" 7 columns", (n, 7), inputs(loss, (n, 7), dtype, n + 1),
                             inputs(loss, (n, 7), dtype, n + 1, specials=True)))
            for label, s, (x, y), (xs, ys) in data:
                w = weights(s, "each", n)
                variants = [(str(kw), kw) for kw in param_variants(loss)]
                arrays = array_kwargs(loss, x, n)
                if arrays:
                    variants.append((" arrays", arrays))
                for name, kw in variants:
                    # Tweedie of power 2 is gamma: positive targets.
                    pos = kw.get("power") == 2.0
                    y_ = np.where(y == 0, 1, y).astype(y.dtype) if pos else y
                    ys_ = np.where(ys == 0, 1, ys).astype(ys.dtype) if pos else ys
                    for wl, wt in (("", None), (" w", w)):
                        key = f"{np.dtype(dtype).name} n={n} {loss.name}{label}{name}{wl}"
                        kw2 = {**kw, "sample_weight": wt}
                        r = {}
                        for red in ("mean", "sum"):
                            r[red] = hexed(call(loss, "", x, y_, reduction=red, **kw2))
                            g = call(loss, "_grad", x, y_, reduction=red, **kw2)
                            r[red + " grad"] = digest(g)
                            v, g = call(loss, "_value_and_grad", x, y_, reduction=red, **kw2)
                            r[red + " vg"] = hexed(v) + " " + digest(g)
                        r["none"] = digest(call(loss, "", xs, ys_, reduction="none", **kw2))
                        v, g = call(loss, "_value_and_grad", xs, ys_, reduction="none", **kw2)
                        r["none vg"] = digest(v) + " " + digest(g)
                        g, h = call(loss, "_grad_hess", xs, ys_, **kw2)
                        r["grad_hess"] = digest(g) + " " + digest(h)
                        out["results"][key] = r
print(json.dumps(out))
"""


def test_simd_levels_agree_bitwise() -> None:
    """Each FASTLOSS_SIMD level the machine has, in its own process: info()
    names the forced level and every result has the same bits."""
    default = run_child(SCRIPT, {"FASTLOSS_SIMD": None})
    best = default["simd"]
    runs: dict[str, dict[str, Any]] = {}
    for level in simd_levels(best):
        runs[level] = run_child(SCRIPT, {"FASTLOSS_SIMD": level})
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
    best = run_child(SCRIPT, {"FASTLOSS_SIMD": None})["simd"]
    if best == "avx512" or not X86:
        pytest.skip("no level above this machine's")
    capped = run_child(SCRIPT, {"FASTLOSS_SIMD": "avx512"})
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


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
@pytest.mark.parametrize("loss", LOSSES, ids=ids(LOSSES))
def test_threads_in_parallel_python_threads(restore_threads: int, loss: Loss, dtype: DType) -> None:
    """Calls from several Python threads at once give the single-thread bits."""
    from concurrent.futures import ThreadPoolExecutor

    api("set_num_threads")(2)
    x, y = inputs(loss, about(loss, 1_200_007), dtype, seed=8)
    want = snapshot(loss, x, y)
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(lambda _: snapshot(loss, x, y), range(3)))
    for g in got:
        assert g == want


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fork_after_threads_have_worked(restore_threads: int) -> None:
    """A child forked after the helper threads have worked has none of them:
    its calls run on the calling thread alone, finish, and give the same
    bits, for every loss."""
    import select
    import signal
    import struct

    api("set_num_threads")(2)
    data = [(loss, *inputs(loss, about(loss, 1 << 21), np.float64, seed=9)) for loss in LOSSES]

    def values() -> list[float]:
        return [float(call(loss, "", x, y)) for loss, x, y in data]

    want = values()
    size = 8 * len(want)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.write(write, struct.pack(f"<{len(want)}d", *values()))
        finally:
            os._exit(0)
    os.close(write)
    try:
        got = b""
        while len(got) < size:
            ready, _, _ = select.select([read], [], [], 60.0)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(read, size - len(got))
            if not chunk:
                break
            got += chunk
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert len(got) == size, "the forked child did not finish"
    for loss, g, w in zip(LOSSES, struct.unpack(f"<{len(want)}d", got), want):
        assert hexed(g) == hexed(w), loss.name
