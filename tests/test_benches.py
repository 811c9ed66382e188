"""The side-by-side benchmark (``benches/compare.py``) covers the registry's losses: each has its
NumPy, PyTorch and JAX versions in ``benches/peers.py``, and the NumPy one, which the benchmark
checks fastloss against before timing, agrees with fastloss."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize("size", [0, 7, 8, 8 * 4096 * 5 + 3, 8 * 4096 * 5 + 8])
@pytest.mark.parametrize("threads", [1, 2])
def test_stream_writes_the_sums_of_words(restore_threads: int, size: int, threads: int) -> None:
    """``_stream``, the pass behind ``roof_all``, reads every word of both arrays (a tail of
    under 8 bytes padded with zeros) and writes their wrapping sums, on any thread count."""
    import fastloss

    native: Any = fastloss._native
    fastloss.set_num_threads(threads)
    rng = np.random.default_rng(size)
    a, b = (rng.integers(0, 256, size, dtype=np.uint8) for _ in range(2))
    out = np.zeros(size, dtype=np.uint8)
    native._stream(a, b, out)
    pad = (-size) % 8
    words = [np.concatenate([v, np.zeros(pad, np.uint8)]).view(np.uint64) for v in (a, b)]
    want = (words[0] + words[1]).view(np.uint8)[:size]
    np.testing.assert_array_equal(out, want)
    assert native._stream(a, b) == native._stream(a, b, out)


def test_stream_refuses_arrays_of_other_lengths() -> None:
    import fastloss

    native: Any = fastloss._native
    a = np.zeros(16, np.uint8)
    with pytest.raises(ValueError, match=r"b must have as many bytes as a \(16\), not 8"):
        native._stream(a, a[:8])
    with pytest.raises(ValueError, match=r"out must have as many bytes as a \(16\), not 24"):
        native._stream(a, a, np.zeros(24, np.uint8))


@pytest.mark.parametrize("name", ["mse", "cross_entropy"])
@pytest.mark.parametrize("op", ["value", "value_and_grad"])
def test_a_case_has_both_roofs(name: str, op: str) -> None:
    """Every row of compare.py's table, value and value_and_grad, times the one-core roofline
    and ``roof_all`` and gives fastloss's time over each."""
    import compare

    (bench,) = [b for b in peers.benches() if b.name == name]
    shape = (64, 8) if bench.loss.family == "rows" else (4096,)
    a, b = bench.inputs(np.random.default_rng(0), shape, "float32")
    row = compare.run_case(bench, op, "float32", a, b, compare.Peers(), ["numpy"], 0.002, 1)
    assert row.status == "ok", row.note
    for column in ("roofline", "roof_all"):
        assert (row.us[column] or 0) > 0, column
    assert row.fl_over_roof is not None and row.fl_over_roof_all is not None
    table = compare.format_table([row])
    assert "| roof_all µs |" in table and "| fl/roof_all |" in table
