"""Accuracy and determinism of SPEC §5 across all nine losses (issue 5; the
per-loss suites cover parts: mae/mse reductions in test_accuracy.py, thread
counts and SIMD levels of the regression losses in test_threads.py and of
cross-entropy in test_cross_entropy.py, the ulp bounds against mpmath in
test_accuracy.py, test_binary.py and test_cross_entropy.py):

* float32 reductions of n = 10^7 same-sign terms to 1e-6 relative of the
  exact sum (``math.fsum`` of float64 terms), every loss;
* bitwise-identical results for 1, 2, 3 and 8 threads, all 36 functions, at
  sizes where the work is split between threads;
* bitwise-identical results at every ``FASTLOSS_SIMD`` level the machine
  has (each level in its own process), all 36 functions, special values
  included.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reference import FLOATS, Array, DType, api, difference, elementwise
from test_hostile import NAMES, SUFFIXES, bits, outcome

N_LARGE = 10**7
CLASSES = 10


def data(name: str, n: int, dtype: DType, seed: int) -> tuple[Array, Array]:
    """(input, target) of ``n`` elements for ``name`` in ``dtype``."""
    rng = np.random.default_rng(seed)
    if name == "cross_entropy":
        z = (3.0 * rng.standard_normal((n // CLASSES, CLASSES))).astype(dtype)
        return z, rng.integers(0, CLASSES, n // CLASSES)
    if name == "binary_cross_entropy":
        return rng.uniform(0.0, 1.0, n).astype(dtype), rng.uniform(0.0, 1.0, n).astype(dtype)
    if name == "binary_cross_entropy_with_logits":
        return (4.0 * rng.standard_normal(n)).astype(dtype), rng.uniform(0, 1, n).astype(dtype)
    return (3.0 * rng.standard_normal(n)).astype(dtype), rng.standard_normal(n).astype(dtype)


def exact_terms(name: str, x: Array, y: Array) -> Array:
    """The per-element (per-row) losses in float64 from the float32 inputs."""
    if name == "cross_entropy":
        z = x.astype(np.float64)
        m = z.max(axis=1)
        lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
        return np.asarray(lse - z[np.arange(len(y)), y])
    p, t = x.astype(np.float64), y.astype(np.float64)
    if name == "binary_cross_entropy":
        with np.errstate(divide="ignore"):
            lp = np.maximum(np.log(p), -100.0)
            lq = np.maximum(np.log1p(-p), -100.0)
        return np.asarray(-(t * lp + (1.0 - t) * lq))
    if name == "binary_cross_entropy_with_logits":
        return np.asarray((1.0 - t) * p + np.logaddexp(0.0, -p))
    v, _, _ = elementwise(name, difference(x, y, np.float32))
    return v


@pytest.fixture(scope="module", params=NAMES)
def large(request: pytest.FixtureRequest) -> Iterator[tuple[str, Array, Array, float]]:
    name: str = request.param
    x, y = data(name, N_LARGE, np.float32, seed=7)
    terms = exact_terms(name, x, y)
    assert np.all(terms >= 0.0) and np.all(np.isfinite(terms))
    yield name, x, y, math.fsum(terms.tolist())


def test_float32_reductions_of_ten_million(large: tuple[str, Array, Array, float]) -> None:
    """SPEC §5: relative error ≤ 1e-6 against the exact sum, n = 10^7."""
    name, x, y, exact = large
    rows = len(y) if name == "cross_entropy" else x.size
    total = api(name)(x, y, reduction="sum")
    mean = api(name)(x, y, reduction="mean")
    value, _ = api(name + "_value_and_grad")(x, y, reduction="sum")
    for what, got, want in (
        ("sum", total, exact),
        ("mean", mean, exact / rows),
        ("value_and_grad sum", value, exact),
    ):
        err = abs(got - want) / want
        assert err <= 1e-6, f"{name} float32 {what}: {got!r} vs exact {want!r}: {err:.3g}"


# ---------------------------------------------------------------- threads --


def every_result(n: int, dtype: DType, seed: int) -> dict[str, Any]:
    """Every function of every loss, with and without sample weights."""
    out: dict[str, Any] = {}
    for name in NAMES:
        x, y = data(name, n, dtype, seed)
        rng = np.random.default_rng(seed + 1)
        w = rng.uniform(0.0, 2.0, len(y)).astype(dtype)
        for suffix in SUFFIXES:
            f = api(name + suffix)
            for weight in (None, w):
                for red in ("mean", "sum", "none"):
                    key = f"{name}{suffix} {red} w={weight is not None}"
                    out[key] = bits(outcome(f, x, y, reduction=red, sample_weight=weight))
    return out


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_thread_counts_give_the_same_bits(restore_threads: int, dtype: DType) -> None:
    """1, 2, 3 and 8 threads: the same bits, all 36 functions; 2^21 + 777
    elements are split between threads by every kernel."""
    n = (1 << 21) + 777 - ((1 << 21) + 777) % CLASSES
    runs = {}
    for threads in (1, 2, 3, 8):
        api("set_num_threads")(threads)
        runs[threads] = every_result(n, dtype, seed=11)
    for threads in (2, 3, 8):
        diff = [k for k in runs[1] if runs[threads][k] != runs[1][k]]
        assert not diff, f"{threads} threads differ from 1 thread: {diff[:5]}"
    assert not any(v[0] == "raises" for v in runs[1].values())


# ------------------------------------------------------------ SIMD levels --

CHILD = r"""
import hashlib, json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import fastloss
from test_determinism import every_result, specials_result

out = {"simd": fastloss.info()["simd"], "results": {}}
for dtype in (np.float32, np.float64):
    for n in (1, 33, 4099, 70_010):
        r = every_result(n, dtype, seed=n)
        r.update(specials_result(dtype))
        for k, v in r.items():
            out["results"][f"{np.dtype(dtype).name} n={n} {k}"] = hashlib.sha256(
                repr(v).encode()).hexdigest()[:20]
print(json.dumps(out))
"""


def specials_result(dtype: DType) -> dict[str, Any]:
    """Every function at every pair of special values (reduction none)."""
    vals = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 1e-40, 1.0, -3.5]
    units = [0.0, 1.0, 0.5, 1e-45, 1.0 - 2.0**-24, 5e-324]
    out: dict[str, Any] = {}
    with np.errstate(all="ignore"):
        for name in NAMES:
            xs = np.array(units if name == "binary_cross_entropy" else vals, dtype)
            ys = np.array(units if name.startswith("binary") else vals, dtype)
            x: Array = np.repeat(xs, len(ys))
            y: Array = np.tile(ys, len(xs))
            if name == "cross_entropy":
                # Rows of two logits, probability targets.
                x = x[: x.size // 2 * 2].reshape(-1, 2)
                y = np.resize(np.array(units, dtype), x.shape)
            for suffix in SUFFIXES:
                r = outcome(api(name + suffix), x, y, reduction="none")
                out[f"{name}{suffix} specials"] = bits(r)
    return out


def levels(best: str) -> list[str]:
    order = ["scalar", "sse2", "avx2", "avx512"]
    if best not in order:  # not x86-64: the baseline and the detected level
        return ["scalar", best]
    return order[: order.index(best) + 1]


def run_level(level: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("FASTLOSS_SIMD", None)
    if level is not None:
        env["FASTLOSS_SIMD"] = level
    here = str(Path(__file__).resolve().parent)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, here], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"FASTLOSS_SIMD={level}: {proc.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_simd_levels_give_the_same_bits() -> None:
    best = run_level(None)
    for level in levels(best["simd"]):
        run = run_level(level)
        diff = [k for k in best["results"] if run["results"][k] != best["results"][k]]
        assert not diff, (
            f"FASTLOSS_SIMD={level} ({run['simd']}) differs from {best['simd']}: "
            f"{len(diff)} results, first {diff[:5]}"
        )


def test_digest_sees_a_difference() -> None:
    """The comparison of the SIMD test is not blind: one bit changes it."""
    a = np.array([1.0, 2.0])
    b = a.copy()
    b.view(np.uint64)[1] ^= 1
    assert (
        hashlib.sha256(repr(bits(a)).encode()).digest()
        != hashlib.sha256(repr(bits(b)).encode()).digest()
    )
