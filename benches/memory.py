#!/usr/bin/env python3
"""Peak-memory budget of fastloss: a reduced value allocates nothing O(n), whatever n is.

For n = 10^7 float32 (``--n``, ``--dtype`` to change), each case runs in a fresh child process:

1. allocate ``input`` and ``target`` and write every element (so their pages are resident);
2. warm up the same function on the first 2^22 elements (starts the thread pool, resolves
   lazy initialisation; if the function allocated O(n), the warm-up could hide at most 42% of
   it, so the full call still shows the rest);
3. reset the kernel's peak-RSS mark where Linux allows it (``/proc/self/clear_refs``), read the
   baseline ``ru_maxrss`` and check that it equals the current RSS (no hidden headroom);
4. call the function once on all n elements and read ``ru_maxrss`` again.

Budgets: a reduced value (``"mean"``, ``"sum"``) and ``value_and_grad(..., out=...)`` must grow
the peak by less than 1 MB; ``value_and_grad`` without ``out`` by the gradient's size plus less
than 1 MB. Prints the figures; exit status 1 if a budget is exceeded, 2 if a measurement could
not be made.

    python benches/memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import fastloss
import numpy as np

MB = 1_000_000
WARMUP = 1 << 22


@dataclass(frozen=True)
class Case:
    function: str
    reduction: str
    out: bool = False  # value_and_grad writing into a preallocated gradient
    strided: bool = False  # the input as column 1 of a two-column array, read in place

    @property
    def label(self) -> str:
        extra = ", out=g" if self.out else ""
        a = "p[:, 1]" if self.strided else "a"
        return f'{self.function}({a}, b, reduction="{self.reduction}"{extra})'

    @property
    def allocates_grad(self) -> bool:
        return self.function.endswith("_value_and_grad") and not self.out


CASES: tuple[Case, ...] = (
    Case("mse", "mean"),
    Case("mse", "sum"),
    Case("log_cosh", "mean"),
    Case("log_cosh", "sum"),
    Case("mse_value_and_grad", "mean"),
    Case("log_cosh_value_and_grad", "mean"),
    Case("mse_value_and_grad", "mean", out=True),
    Case("mse", "mean", strided=True),
    Case("log_cosh_value_and_grad", "mean", strided=True),
)


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # bytes vs KiB


def _current_rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _reset_peak() -> bool:
    """Set the peak-RSS mark to the current RSS (Linux >= 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def child(case: Case, n: int, dtype: str) -> dict[str, Any]:
    """Measure one case in this process (run through ``--child``)."""
    rng = np.random.default_rng(0)
    pair = np.empty((n, 2) if case.strided else (0, 2), dtype=dtype)
    a = pair[:, 1] if case.strided else np.empty(n, dtype=dtype)
    b = np.empty(n, dtype=dtype)
    # Filled in place: no temporary arrays that would leave headroom under the peak mark.
    if case.strided:
        rng.standard_normal(out=pair, dtype=pair.dtype.type)
    else:
        rng.standard_normal(out=a, dtype=a.dtype.type)
    rng.standard_normal(out=b, dtype=b.dtype.type)
    fn = getattr(fastloss, case.function)
    kwargs: dict[str, Any] = {"reduction": case.reduction}
    out = None
    if case.out:
        out = np.empty_like(a)
        out.fill(0.0)  # touch every page before the baseline
    w = min(WARMUP, n)
    fn(a[:w], b[:w], **kwargs, **({"out": out[:w]} if out is not None else {}))
    if out is not None:
        kwargs["out"] = out

    reset = _reset_peak()
    current = _current_rss_bytes()
    base = _maxrss_bytes()
    result = fn(a, b, **kwargs)
    peak = _maxrss_bytes()
    grad_bytes = int(result[1].nbytes) if isinstance(result, tuple) else 0
    del result
    return {
        "baseline": base,
        "headroom": None if current is None else base - current,
        "peak_reset": reset,
        "growth": peak - base,
        "grad_bytes": grad_bytes,
    }


def _fmt_mb(x: float) -> str:
    return f"{x / MB:,.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=10**7, help="elements (default 10^7)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        print(json.dumps(child(CASES[args.child], args.n, args.dtype)))
        return 0

    itemsize = np.dtype(args.dtype).itemsize
    arrays = 2 * args.n * itemsize
    print(f"fastloss {fastloss.__version__}: {fastloss.info()}")
    print(
        f"peak RSS growth (ru_maxrss) of one call at n = {args.n:,} {args.dtype} "
        f"(inputs: {_fmt_mb(arrays)} MB, allocated and touched before the baseline)"
    )
    print()
    print("| call | growth MB | gradient MB | excess MB | budget MB | headroom MB | ok |")
    print("|---|---:|---:|---:|---:|---:|---|")
    status = 0
    for i, case in enumerate(CASES):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", str(i)]
        cmd += ["--n", str(args.n), "--dtype", args.dtype]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"| {case.label} | error | | | | | no |")
            sys.stderr.write(proc.stderr)
            status = max(status, 2)
            continue
        r = json.loads(proc.stdout)
        expected = r["grad_bytes"] if case.allocates_grad else 0
        excess = r["growth"] - expected
        headroom = r["headroom"]
        ok = excess < MB
        if not r["peak_reset"] and headroom is not None and headroom >= MB:
            verdict = "inconclusive (peak mark above current RSS)"
            status = max(status, 2)
        elif ok:
            verdict = "yes"
        else:
            verdict = "**NO**"
            status = max(status, 1)
        print(
            f"| {case.label} | {_fmt_mb(r['growth'])} | {_fmt_mb(expected)} | "
            f"{_fmt_mb(excess)} | < 1 | "
            f"{'-' if headroom is None else _fmt_mb(headroom)} | {verdict} |"
        )
    print()
    print(
        "growth = peak after the call - peak before; excess = growth - the gradient the call "
        "returns; budget: excess < 1 MB."
    )
    print("FAIL: a budget is exceeded" if status == 1 else "OK" if status == 0 else "ERROR")
    return status


if __name__ == "__main__":
    sys.exit(main())
