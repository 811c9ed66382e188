"""The side-by-side benchmark (``benches/compare.py``) covers the registry's losses: each has its
NumPy, PyTorch and JAX versions in ``benches/peers.py``, and the NumPy one, which the benchmark
checks fastloss against before timing, agrees with fastloss."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from fastloss._registry import LOSSES

_BENCHES = str(Path(__file__).resolve().parent.parent / "benches")
if _BENCHES not in sys.path:
    sys.path.append(_BENCHES)

import peers  # noqa: E402


def test_every_registry_loss_has_its_bench_entry() -> None:
    assert [bench.name for bench in peers.benches()] == [loss.name for loss in LOSSES]


def test_a_loss_without_peers_stops_the_benchmark_naming_it() -> None:
    entries = {name: e for name, e in peers.ENTRIES.items() if name != "huber"}
    with pytest.raises(LookupError, match="'huber' has no entry"):
        peers.benches(LOSSES, entries)


def test_an_entry_the_registry_does_not_have_stops_the_benchmark_naming_it() -> None:
    entries = {**peers.ENTRIES, "gone": peers.ENTRIES["mse"]}
    with pytest.raises(LookupError, match="does not have: gone"):
        peers.benches(LOSSES, entries)


def test_an_entry_parameter_the_loss_does_not_have_is_named() -> None:
    mse = peers.ENTRIES["mse"]
    entries = {**peers.ENTRIES, "mse": peers.Entry(mse.numpy, mse.torch, mse.jax, {"beta": 1.0})}
    with pytest.raises(LookupError, match="'mse' parameters it does not have: beta"):
        peers.benches(LOSSES, entries)


@pytest.mark.parametrize("bench", peers.benches(), ids=lambda b: b.name)
@pytest.mark.parametrize("op", ["value", "value_and_grad"])
def test_numpy_version_agrees_with_fastloss(bench: peers.Bench, op: str) -> None:
    shape = (64, 8) if bench.loss.family == "rows" else (4096,)
    a, b = bench.inputs(np.random.default_rng(0), shape, "float64")
    got, ref = bench.fastloss(op)(a, b), bench.numpy(op)(a, b)
    if op == "value":
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    else:
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], ref[1], rtol=1e-10, atol=1e-16)
