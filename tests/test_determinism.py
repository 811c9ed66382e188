"""Accuracy and determinism across every loss of the registry:

* float32 reductions of n = 10^7 same-sign terms to 1e-6 relative of the
  exact sum (``math.fsum`` of float64 terms), every loss;
* bitwise-identical results for 1, 2, 3 and 8 threads, every function, at
  sizes where the work is split between threads;
* bitwise-identical results at every ``FASTLOSS_SIMD`` level the machine
  has (each level in its own process), every function, special values
  included.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from losses import (
    FLOAT_IDS,
    FLOATS,
    FORMS,
    LOSSES,
    Array,
    DType,
    Loss,
    about,
    bits,
    call,
    ids,
    inputs,
    outcome,
)
from reference import api, loss_terms, run_child, simd_levels

N_LARGE = 10**7


#: The losses whose terms keep one sign (the log-link losses' values change sign with y).
SAME_SIGN = tuple(x for x in LOSSES if x.target not in ("nonnegative", "positive"))


@pytest.fixture(scope="module", params=SAME_SIGN, ids=ids(SAME_SIGN))
def large(request: pytest.FixtureRequest) -> Iterator[tuple[Loss, Array, Array, float]]:
    loss: Loss = request.param
    x, y = inputs(loss, about(loss, N_LARGE), np.float32, seed=7)
    terms = loss_terms(loss.name, x, y, np.float32)
    assert np.all(terms >= 0.0) and np.all(np.isfinite(terms))
    yield loss, x, y, math.fsum(terms.ravel().tolist())


def test_float32_reductions_of_ten_million(large: tuple[Loss, Array, Array, float]) -> None:
    """Relative error ≤ 1e-6 against the exact sum, n = 10^7."""
    loss, x, y, exact = large
    rows = y.size if loss.family == "rows" else x.size
    total = call(loss, "", x, y, reduction="sum")
    mean = call(loss, "", x, y, reduction="mean")
    value, _ = call(loss, "_value_and_grad", x, y, reduction="sum")
    for what, got, want in (
        ("sum", total, exact),
        ("mean", mean, exact / rows),
        ("value_and_grad sum", value, exact),
    ):
        err = abs(got - want) / want
        assert err <= 1e-6, f"{loss.name} float32 {what}: {got!r} vs exact {want!r}: {err:.3g}"


# ---------------------------------------------------------------- threads --


def image(v: Any) -> tuple[Any, str]:
    """The kind of a result and a digest of its bits: four runs of every function of every
    loss on 2^21 elements, kept as bytes, took 23 GB."""
    b = bits(v)
    return b[0], hashlib.sha256(pickle.dumps(b)).hexdigest()


def every_result(n: int, dtype: DType, seed: int) -> dict[str, Any]:
    """Every function of every loss on about ``n`` elements, with and without sample
    weights, each reduction (see ``image``)."""
    out: dict[str, Any] = {}
    for loss in LOSSES:
        x, y = inputs(loss, about(loss, n), dtype, seed)
        rng = np.random.default_rng(seed + 1)
        w = rng.uniform(0.0, 2.0, about(loss, n)).astype(dtype)
        for form in FORMS:
            f = api(loss.name + form)
            for weight in (None, w):
                for red in ("mean", "sum", "none"):
                    key = f"{loss.name}{form} {red} w={weight is not None}"
                    out[key] = image(outcome(f, x, y, reduction=red, sample_weight=weight))
    return out


@pytest.mark.parametrize("dtype", FLOATS, ids=FLOAT_IDS)
def test_thread_counts_give_the_same_bits(restore_threads: int, dtype: DType) -> None:
    """1, 2, 3 and 8 threads: the same bits, every function; about 2^21 + 777
    elements are split between threads by every kernel."""
    n = (1 << 21) + 777
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


SPECIAL_VALUES = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 1e-40, 1.0, -3.5]
UNIT_VALUES = [0.0, 1.0, 0.5, 1e-45, 1.0 - 2.0**-24, 5e-324]


def specials_result(dtype: DType) -> dict[str, Any]:
    """Every function at every pair of special values of the loss's domains (reduction
    none); a rows loss gets rows of two logits and probability targets."""
    out: dict[str, Any] = {}
    with np.errstate(all="ignore"):
        for loss in LOSSES:
            xs = np.array(UNIT_VALUES if loss.input == "probability" else SPECIAL_VALUES, dtype)
            pool = SPECIAL_VALUES if loss.target == "real" else UNIT_VALUES
            ys = np.array(pool, dtype)
            # Positive targets: none that is 0, or rounds to 0 in float32.
            ys = ys[np.array([float(v) > 0 or loss.target != "positive" for v in ys], bool)]
            x: Array = np.repeat(xs, len(ys))
            y: Array = np.tile(ys, len(xs))
            if loss.family == "rows":
                x = x[: x.size // 2 * 2].reshape(-1, 2)
                y = np.resize(np.array(UNIT_VALUES, dtype), x.shape)
            for form in FORMS:
                r = outcome(api(loss.name + form), x, y, reduction="none")
                out[f"{loss.name}{form} specials"] = bits(r)
    return out


def test_simd_levels_give_the_same_bits() -> None:
    best = run_child(CHILD, {"FASTLOSS_SIMD": None})
    for level in simd_levels(best["simd"]):
        run = run_child(CHILD, {"FASTLOSS_SIMD": level})
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
