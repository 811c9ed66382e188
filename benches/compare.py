#!/usr/bin/env python3
"""Side-by-side benchmark: fastloss against NumPy, PyTorch (CPU) and JAX/optax.

    python benches/compare.py [options]     # --help lists them; benches/README.md explains

It times the installed fastloss. Every loss of fastloss's registry runs, with the peers and
arrays that ``peers.py`` gives it. Every case (loss, op, dtype, n) creates its arrays once, hands
the very same arrays to every implementation (``torch.from_numpy`` shares the memory,
``jnp.asarray`` copies once, outside the timed region), checks fastloss against NumPy first,
then times all implementations interleaved: repeat ``r`` runs one batch of each implementation
in turn, and the table shows the median per-call time over the repeats. PyTorch and JAX are
imported only when asked for and skipped silently when they are not installed.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import fastloss
import numpy as np

# peers.py beside this file: Python puts a script's folder first on sys.path.
from peers import Array, Bench, InputGen, Shape, benches

OPS = ("value", "value_and_grad")
DTYPES = ("float32", "float64")
PEERS = ("numpy", "torch", "jax")
SIZES = (100, 10**4, 10**6, 10**7)
QUICK_SIZES = (100, 10**4, 10**6)
COLUMNS = ("fastloss", "numpy", "torch", "jax", "roofline", "roof_all")
# Relative tolerance of the correctness guard (fastloss against the NumPy expression).
RTOL = {"float32": 1e-4, "float64": 1e-10}
# Looser tolerance for the (non-fatal) sanity check of the torch / jax expressions.
PEER_RTOL = {"float32": 1e-3, "float64": 1e-8}


# --------------------------------------------------------------------------------------------
# Peer modules
# --------------------------------------------------------------------------------------------


@dataclass
class Peers:
    """The optional peer modules that were asked for and could be imported."""

    torch: Any = None
    jax: Any = None
    optax: Any = None
    missing: list[str] = field(default_factory=list)


def _try_import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a broken install: skip the peer either way
        return None


def load_peers(peers: Sequence[str], dtypes: Sequence[str]) -> Peers:
    out = Peers()
    if "torch" in peers:
        out.torch = _try_import("torch")
        if out.torch is None:
            out.missing.append("torch")
    if "jax" in peers:
        # The benchmark compares CPU implementations on the same host arrays.
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        out.jax = _try_import("jax")
        if out.jax is None:
            out.missing.append("jax")
        else:
            importlib.import_module("jax.numpy")
            if "float64" in dtypes:
                out.jax.config.update("jax_enable_x64", True)
            out.optax = _try_import("optax")
    return out


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def _autorange(call: Callable[[], Any], min_ns: int) -> float:
    """Per-call time (ns) of ``call`` from a loop lasting at least ``min_ns``.

    The caller has already called ``call`` once (the correctness checks double as the warm-up:
    JIT compilation, caches, lazy initialisation, thread pools).
    """
    k = 1
    while True:
        t0 = time.perf_counter_ns()
        for _ in range(k):
            call()
        dt = time.perf_counter_ns() - t0
        if dt >= min_ns:
            return dt / k
        k = min(100 * k, max(2 * k, math.ceil(1.2 * k * min_ns / max(dt, 1))))


def _batch(call: Callable[[], Any], number: int) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(number):
        call()
    return (time.perf_counter_ns() - t0) / number


def time_interleaved(
    calls: dict[str, Callable[[], Any]], seconds: float, repeats: int
) -> dict[str, float]:
    """Median per-call time (µs) of each call; the calls take turns within every repeat.

    Each call runs about ``seconds`` in all, in ``repeats`` batches; when a single call of some
    implementation takes longer than ``seconds``, 3 repeats (one call each) are enough.
    """
    batch_ns = seconds * 1e9 / repeats
    per_call = {name: _autorange(call, int(min(batch_ns, 5e6))) for name, call in calls.items()}
    numbers = {name: max(1, round(batch_ns / t)) for name, t in per_call.items()}
    if max(per_call.values(), default=0.0) > seconds * 1e9:
        repeats = min(repeats, 3)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(repeats):
        # Rotate the starting implementation so none always runs first after a switch.
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].append(_batch(calls[name], numbers[name]))
    return {name: statistics.median(s) / 1e3 for name, s in samples.items()}


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    loss: str
    op: str
    dtype: str
    shape: Shape
    us: dict[str, float | None]
    status: str = "ok"  # "ok", "wrong" (failed the correctness guard) or "error"
    note: str = ""

    @property
    def n_label(self) -> str:
        if len(self.shape) > 1:
            return "x".join(str(s) for s in self.shape)
        return _size_label(self.shape[0])

    @property
    def best_peer(self) -> float | None:
        peers = [t for k in PEERS if (t := self.us.get(k)) is not None]
        return min(peers) if peers else None

    @property
    def fl_over_best(self) -> float | None:
        fl, best = self.us.get("fastloss"), self.best_peer
        return fl / best if fl is not None and best else None

    @property
    def strided_over_fl(self) -> float | None:
        fl, strided = self.us.get("fastloss"), self.us.get("strided")
        return strided / fl if fl and strided is not None else None

    def _fl_over(self, column: str) -> float | None:
        fl, roof = self.us.get("fastloss"), self.us.get(column)
        return fl / roof if fl is not None and roof else None

    @property
    def fl_over_roof(self) -> float | None:
        return self._fl_over("roofline")

    @property
    def fl_over_roof_all(self) -> float | None:
        return self._fl_over("roof_all")

    def as_json(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            "op": self.op,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "n": math.prod(self.shape),
            "us": self.us,
            "fl_over_best": self.fl_over_best,
            "fl_over_roof": self.fl_over_roof,
            "fl_over_roof_all": self.fl_over_roof_all,
            "strided_over_fl": self.strided_over_fl,
            "status": self.status,
            "note": self.note,
        }


def _size_label(n: int) -> str:
    k = round(math.log10(n)) if n > 0 else 0
    return f"10^{k}" if n >= 1000 and 10**k == n else str(n)


def _scalar(v: Any) -> float:
    return float(v.item()) if hasattr(v, "item") else float(v)


def _close(got: Any, ref: Any, rtol: float) -> bool:
    g, r = _scalar(got), _scalar(ref)
    return (math.isnan(g) and math.isnan(r)) or abs(g - r) <= rtol * max(abs(r), 1e-300)


def _grad_close(got: Any, ref: Array, rtol: float) -> bool:
    g = np.asarray(got)
    if g.shape != ref.shape:
        return False
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return bool(np.allclose(g, ref, rtol=rtol, atol=rtol * scale, equal_nan=True))


def _check(got: Any, ref: Any, op: str, rtol: float) -> str:
    """Empty string when ``got`` agrees with ``ref``, else what differs."""
    if op == "value":
        return "" if _close(got, ref, rtol) else f"value {_scalar(got)!r} != {_scalar(ref)!r}"
    if not _close(got[0], ref[0], rtol):
        return f"value {_scalar(got[0])!r} != {_scalar(ref[0])!r}"
    if not _grad_close(got[1], ref[1], rtol):
        return "gradient differs"
    return ""


def _peer_calls(
    bench: Bench, op: str, a: Array, b: Array, peers: Peers, want: Sequence[str]
) -> dict[str, Callable[[], Any]]:
    """Zero-argument callables doing one full evaluation (synchronised) per peer."""
    calls: dict[str, Callable[[], Any]] = {}
    if "numpy" in want:
        npf = bench.numpy(op)
        calls["numpy"] = lambda: npf(a, b)
    torch = peers.torch
    tf = None if torch is None else bench.torch(torch)
    if tf is not None:
        tt = torch.from_numpy(b)
        if op == "value":
            xt = torch.from_numpy(a)
            calls["torch"] = lambda: tf(xt, tt)
        else:
            xl = torch.from_numpy(a).requires_grad_(True)  # leaf tensor sharing a's memory

            def torch_vg() -> tuple[Any, Any]:
                xl.grad = None
                v = tf(xl, tt)
                v.backward()
                return v, xl.grad

            calls["torch"] = torch_vg
    jax = peers.jax
    jf = None if jax is None else bench.jax(jax, peers.optax)
    if jf is not None:
        compiled = jax.jit(jf if op == "value" else jax.value_and_grad(jf))
        xj, tj = jax.numpy.asarray(a), jax.numpy.asarray(b)
        calls["jax"] = lambda: jax.block_until_ready(compiled(xj, tj))
    return calls


def strided_call(bench: Bench, op: str, a: Array, b: Array) -> Callable[[], Any]:
    """fastloss on the same values laid out as users' arrays often are, read in place: an
    elementwise input as the second column of a two-column array (``proba[:, 1]``), logits
    with the classes along axis 0 (a transposed array, ``axis=0``)."""
    fl: Callable[..., Any] = bench.fastloss(op)
    if bench.loss.family == "rows":
        at = np.ascontiguousarray(a.T)
        return lambda: fl(at, b, axis=0)
    pair = np.empty((*a.shape, 2), dtype=a.dtype)
    pair[..., 1] = a
    column = pair[..., 1]
    return lambda: fl(column, b)


def roofs(bench: Bench, op: str, a: Array, b: Array) -> dict[str, Callable[[], Any]]:
    """The least any implementation can take: reading the case's bytes, and for
    ``value_and_grad`` writing a gradient's, with NumPy on one thread (``roofline``) and with
    fastloss's threads (``roof_all``, a streaming pass in Rust on the kernels' thread pool)."""
    ra, rb = bench.roofline(a, b)
    ua, ub = ra.view(np.uint8), rb.view(np.uint8)
    stream = fastloss._native._stream
    calls: dict[str, Callable[[], Any]]
    if op == "value":
        calls = {"roofline": lambda: np.dot(ra, rb), "roof_all": lambda: stream(ua, ub)}
    else:
        g = np.empty_like(ra)
        ug = g.view(np.uint8)
        calls = {
            "roofline": lambda: np.add(ra, rb, out=g),
            "roof_all": lambda: stream(ua, ub, ug),
        }
    for call in calls.values():
        call()  # warm-up (the other calls were made once before)
    return calls


def _same(got: Any, want: Any) -> bool:
    """Bitwise equality of two results (a value, or a value and a gradient)."""
    if isinstance(want, tuple):
        return all(_same(g, w) for g, w in zip(got, want))
    return bool(np.array_equal(np.asarray(got), np.asarray(want), equal_nan=True))


def run_case(
    bench: Bench,
    op: str,
    dtype: str,
    a: Array,
    b: Array,
    peers: Peers,
    want: Sequence[str],
    seconds: float,
    repeats: int,
    strided: bool = False,
) -> Row:
    name = bench.name
    row = Row(name, op, dtype, a.shape, dict.fromkeys(COLUMNS))
    rtol = RTOL[dtype]
    try:
        ref = bench.numpy(op)(a, b)
    except Exception as e:  # a broken NumPy version should not abort the whole run
        row.status, row.note = "error", f"numpy: {e!r}"
        return row
    calls: dict[str, Callable[[], Any]] = {}
    # Correctness guard: a table never shows a fast wrong answer.
    try:
        fl = bench.fastloss(op)
        mismatch = _check(fl(a, b), ref, op, rtol)
    except Exception as e:
        row.status, row.note = "error", f"fastloss: {e!r}"
        mismatch = ""
    else:
        if mismatch:
            row.status, row.note = "wrong", f"fastloss: {mismatch}"
        else:
            calls["fastloss"] = lambda: fl(a, b)
            if strided:
                call = strided_call(bench, op, a, b)
                got = call()
                if bench.loss.family == "rows" and op != "value":
                    got = (got[0], got[1].T)
                if _same(got, fl(a, b)):
                    calls["strided"] = call
                else:
                    row.status, row.note = "wrong", "fastloss strided: differs from contiguous"
    try:
        peer_calls = _peer_calls(bench, op, a, b, peers, want)
    except Exception as e:
        print(f"  warning: {name}: setting up peers failed: {e!r}", file=sys.stderr)
        peer_calls = {}
    for peer, call in peer_calls.items():
        if peer == "numpy":
            calls[peer] = call
            continue
        try:
            out = call()
            got = out if op == "value" else out[0]
            if not _close(got, ref if op == "value" else ref[0], PEER_RTOL[dtype]):
                print(
                    f"  warning: {peer} disagrees with numpy on {name} {dtype}: "
                    f"{_scalar(got)!r} vs {_scalar(ref if op == 'value' else ref[0])!r}",
                    file=sys.stderr,
                )
            calls[peer] = call
        except Exception as e:
            print(f"  warning: {peer} failed on {name} {op} {dtype}: {e!r}", file=sys.stderr)
    calls.update(roofs(bench, op, a, b))
    del ref
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        row.us.update(time_interleaved(calls, seconds, repeats))
    finally:
        if enabled:
            gc.enable()
    return row


# --------------------------------------------------------------------------------------------
# Header and table
# --------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model", "Processor"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


# Environment variables that change how the implementations run, shown in the header.
_ENV_SHOWN = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_THREAD_TIMEOUT",
    "GOMP_SPINCOUNT",
    "XLA_FLAGS",
)


def machine_info(peers: Peers) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "fastloss": dict(fastloss.info()),
        "numpy": np.__version__,
        "env": {
            k: v for k, v in os.environ.items() if k.startswith("FASTLOSS_") or k in _ENV_SHOWN
        },
    }
    if peers.torch is not None:
        info["torch"] = {
            "version": str(peers.torch.__version__),
            "threads": int(peers.torch.get_num_threads()),
            "interop_threads": int(peers.torch.get_num_interop_threads()),
        }
    if peers.jax is not None:
        info["jax"] = {
            "version": str(peers.jax.__version__),
            "backend": str(peers.jax.default_backend()),
            "devices": len(peers.jax.devices()),
            "x64": bool(peers.jax.config.jax_enable_x64),
        }
        info["optax"] = None if peers.optax is None else str(peers.optax.__version__)
    return info


def format_header(info: dict[str, Any], settings: dict[str, Any], missing: Sequence[str]) -> str:
    fl = info["fastloss"]
    lines = [
        "# fastloss benchmark",
        "",
        f"- CPU: {info['cpu']} ({info['logical_cpus']} logical CPUs), {info['platform']}",
        f"- Python {info['python']}, numpy {info['numpy']}",
        f"- fastloss {fl['version']}: SIMD {fl['simd']} (available: "
        f"{', '.join(fl['simd_available'])}), {fl['threads']} threads",
    ]
    if "torch" in info:
        t = info["torch"]
        lines.append(
            f"- torch {t['version']} (CPU): {t['threads']} threads, "
            f"{t['interop_threads']} interop threads"
        )
    if "jax" in info:
        j = info["jax"]
        lines.append(
            f"- jax {j['version']} ({j['backend']}, {j['devices']} device(s), x64 "
            f"{'on' if j['x64'] else 'off'}), optax {info['optax'] or 'not installed'}"
        )
    if missing:
        lines.append(f"- not installed (skipped): {', '.join(missing)}")
    if info["env"]:
        lines.append("- env: " + ", ".join(f"{k}={v}" for k, v in sorted(info["env"].items())))
    secs, reps = settings["seconds"], settings["repeats"]
    cap = f" (3 when a call takes over {secs:g} s)" if reps > 3 else ""
    lines.append(
        f"- timing: median of {reps} interleaved repeats{cap}, ~{secs:g} s per implementation "
        "and case; roofline = np.dot(a, b) for a value, np.add(a, b, out=g) with a "
        "gradient; roof_all = the same bytes read (and written) on fastloss's threads"
    )
    return "\n".join(lines)


def _fmt_us(t: float | None) -> str:
    if t is None:
        return "-"
    if t < 10:
        return f"{t:.2f}"
    if t < 100:
        return f"{t:.1f}"
    return f"{t:,.0f}"


def _fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}"


def format_table(rows: Sequence[Row]) -> str:
    strided = any(r.us.get("strided") is not None for r in rows)
    head = (
        "| loss | op | dtype | n | fastloss µs | numpy µs | torch µs | jax µs | roofline µs "
        "| roof_all µs | fl/best | fl/roof | fl/roof_all |"
        + (" strided µs | strided/fl |" if strided else "")
    )
    lines = [head, "|---|---|---|---:|" + "---:|" * (9 + 2 * strided)]
    for r in rows:
        fl = {"wrong": "WRONG", "error": "ERROR"}.get(r.status) or _fmt_us(r.us["fastloss"])
        cells = [
            r.loss,
            r.op,
            r.dtype,
            r.n_label,
            fl,
            *(_fmt_us(r.us[k]) for k in COLUMNS[1:]),
            _fmt_ratio(r.fl_over_best),
            _fmt_ratio(r.fl_over_roof),
            _fmt_ratio(r.fl_over_roof_all),
        ]
        if strided:
            cells += [_fmt_us(r.us.get("strided")), _fmt_ratio(r.strided_over_fl)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_size(s: str) -> int:
    try:
        if "**" in s or "^" in s:
            base, _, exp = s.replace("**", "^").partition("^")
            n = int(int(base) ** int(exp))
        else:
            f = float(s)
            if not f.is_integer():
                raise ValueError
            n = int(f)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer size: {s!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"size must be >= 1: {s!r}")
    return n


def _parse_sizes(s: str) -> list[int]:
    """One value of ``--sizes``: a size, or several separated by commas like the other options."""
    return [_parse_size(v) for v in s.split(",") if v]


def _split(values: Sequence[str] | None, choices: Sequence[str], what: str) -> list[str] | None:
    """Accept both ``--x a b`` and ``--x a,b``; check against ``choices``."""
    if values is None:
        return None
    out = [v for value in values for v in value.split(",") if v]
    bad = [v for v in out if v not in choices]
    if bad:
        raise SystemExit(f"unknown {what}: {', '.join(bad)} (choose from {', '.join(choices)})")
    return list(dict.fromkeys(out))


def build_parser(table: Sequence[Bench]) -> argparse.ArgumentParser:
    """The options; ``--losses`` chooses from the losses of ``table``."""
    losses = [bench.name for bench in table]
    row_losses = ", ".join(bench.name for bench in table if bench.loss.family == "rows")
    parser = argparse.ArgumentParser(
        prog="python benches/compare.py",
        description="Time fastloss against NumPy, PyTorch and JAX/optax on the same arrays.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="n in (100, 10^4, 10^6), 3 repeats of ~0.03 s: a smoke run of well under a minute",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=_parse_sizes,
        metavar="N",
        help="element counts (default 100 10^4 10^6 10^7; accepts 1e6, 10**6); the row losses "
        f"({row_losses}) run their fixed shapes with at most max(N) elements",
    )
    parser.add_argument("--dtypes", nargs="+", metavar="DTYPE", help="float32 and/or float64")
    parser.add_argument(
        "--losses", nargs="+", metavar="LOSS", help=f"subset of: {', '.join(losses)}"
    )
    parser.add_argument("--ops", nargs="+", metavar="OP", help="value and/or value_and_grad")
    parser.add_argument(
        "--peers",
        nargs="+",
        metavar="PEER",
        help="subset of numpy,torch,jax (default: all that are installed)",
    )
    parser.add_argument(
        "--time",
        type=float,
        metavar="SECONDS",
        help="time per implementation and case (default 0.2, --quick 0.03)",
    )
    parser.add_argument(
        "--repeats", type=int, metavar="R", help="repeats, median taken (default 5, --quick 3)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        metavar="T",
        help="set fastloss's and torch's thread counts (default: leave both as they are)",
    )
    parser.add_argument(
        "--strided",
        action="store_true",
        help="also time fastloss on strided arrays, read in place: the input as column 1 of a "
        "two-column array (proba[:, 1]), logits transposed with axis=0",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the input arrays")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser


def run(args: argparse.Namespace, table: Sequence[Bench]) -> int:
    """Run the benchmark described by parsed ``args`` over the losses of ``table`` it names;
    0 if every fastloss result was right."""
    started = time.perf_counter()
    given: list[int] = [n for value in args.sizes or () for n in value]
    sizes = given or list(QUICK_SIZES if args.quick else SIZES)
    dtypes = _split(args.dtypes, DTYPES, "dtype") or list(DTYPES)
    ops = _split(args.ops, OPS, "op") or list(OPS)
    want = _split(args.peers, PEERS, "peer") or list(PEERS)
    every = [bench.name for bench in table]
    names = _split(args.losses, every, "loss") or every
    seconds: float = args.time if args.time is not None else (0.03 if args.quick else 0.2)
    repeats: int = max(1, args.repeats if args.repeats is not None else (3 if args.quick else 5))

    chosen = [bench for bench in table if bench.name in names]  # in the registry's order

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. overflow in a peer expression
        return _run(args, sizes, dtypes, ops, want, chosen, seconds, repeats, started)


def _run(
    args: argparse.Namespace,
    sizes: list[int],
    dtypes: list[str],
    ops: list[str],
    want: list[str],
    chosen: list[Bench],
    seconds: float,
    repeats: int,
    started: float,
) -> int:
    peers = load_peers(want, dtypes)
    if args.threads is not None:
        fastloss.set_num_threads(args.threads)
        if peers.torch is not None:
            peers.torch.set_num_threads(args.threads)
    info = machine_info(peers)
    settings = {
        "sizes": sizes,
        "dtypes": dtypes,
        "ops": ops,
        "losses": [bench.name for bench in chosen],
        "peers": [p for p in want if p not in peers.missing],
        "seconds": seconds,
        "repeats": repeats,
        "seed": args.seed,
    }
    header = format_header(info, settings, peers.missing)
    print(header, flush=True)

    # Cases grouped by (dtype, shape) so that the arrays are made once and shared by all losses
    # with the same input generator.
    groups: dict[tuple[str, Shape], list[Bench]] = {}
    for bench in chosen:
        for shape in bench.shapes(sizes):
            for dtype in dtypes:
                groups.setdefault((dtype, shape), []).append(bench)
    total = sum(len(v) for v in groups.values()) * len(ops)
    rows: list[Row] = []
    done = 0
    for (dtype, shape), group in groups.items():
        arrays: dict[InputGen, tuple[Array, Array]] = {}
        for bench in group:
            gen = bench.inputs
            if gen not in arrays:
                arrays[gen] = gen(np.random.default_rng(args.seed), shape, dtype)
            a, b = arrays[gen]
            for op in ops:
                done += 1
                t0 = time.perf_counter()
                row = run_case(bench, op, dtype, a, b, peers, want, seconds, repeats, args.strided)
                rows.append(row)
                fl = row.us["fastloss"]
                print(
                    f"[{done}/{total}] {bench.name} {op} {dtype} n={row.n_label}: "
                    f"fastloss {row.status if fl is None else _fmt_us(fl) + ' µs'}, "
                    f"fl/best {_fmt_ratio(row.fl_over_best)} ({time.perf_counter() - t0:.1f} s)"
                    + (f"  [{row.note}]" if row.note else ""),
                    file=sys.stderr,
                    flush=True,
                )
        del arrays
        gc.collect()

    order = {bench.name: i for i, bench in enumerate(chosen)}
    rows.sort(
        key=lambda r: (
            order[r.loss],
            OPS.index(r.op),
            DTYPES.index(r.dtype),
            math.prod(r.shape),
            r.shape,
        )
    )
    print()
    print(format_table(rows))
    bad = [r for r in rows if r.status != "ok"]
    for r in bad:
        print(f"\n{r.status.upper()}: {r.loss} {r.op} {r.dtype} n={r.n_label}: {r.note}")
    elapsed = time.perf_counter() - started
    print(f"\n{len(rows)} cases in {elapsed:.0f} s", file=sys.stderr)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "machine": info,
                    "settings": settings,
                    "elapsed_s": elapsed,
                    "rows": [r.as_json() for r in rows],
                },
                fh,
                indent=2,
            )
            fh.write("\n")
    return 1 if bad else 0


# Idle-thread settings the benchmark runs with (see ``quiet_blas_threads``).
_QUIET_THREADS = {"OPENBLAS_THREAD_TIMEOUT": "4", "GOMP_SPINCOUNT": "10000"}


def quiet_blas_threads() -> None:
    """Re-execute this command with the peers' idle threads told to sleep soon.

    After every threaded call (``np.dot`` of the roofline at large n), OpenBLAS's worker threads
    busy-wait for about 2^28 cycles (0.1 s) before they sleep. Interleaved with them, whichever
    implementation runs next shares the two cores of a small machine with those spinning threads:
    fastloss ``mae`` float64 at n = 10^7 measured 10.5 ms after ``np.dot`` batches against 6.1 ms
    alone, and ``np.dot`` itself 5.1 against 3.4 ms. ``OPENBLAS_THREAD_TIMEOUT=4`` (2^4 cycles)
    removes that interference and leaves ``np.dot``'s own time as it was. PyTorch's OpenMP
    (libgomp) threads do the same for 300,000 spins (milliseconds) after each parallel region:
    fastloss ``cross_entropy`` 4096x1000 took 1,551-1,552 µs interleaved with PyTorch's batches
    against 978-1,117 µs with ``GOMP_SPINCOUNT=10000``, which left PyTorch's own times as they
    were (cross_entropy 6.6-6.7 against 6.4-6.7 ms, mse at 10^6 382-419 against 381-411 µs).
    Both libraries read these when they load, before any of this runs, hence the re-execution.
    A value set by the caller is kept.
    """
    missing = {k: v for k, v in _QUIET_THREADS.items() if k not in os.environ}
    if not missing:
        return
    os.environ.update(missing)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def main(argv: Sequence[str] | None = None) -> int:
    """``python benches/compare.py [options]``; returns the exit status."""
    quiet_blas_threads()
    try:
        table = benches()
    except LookupError as e:  # a registry loss without peers: nothing to compare it with
        raise SystemExit(f"compare.py: {e}") from None
    return run(build_parser(table).parse_args(argv), table)


if __name__ == "__main__":
    sys.exit(main())
