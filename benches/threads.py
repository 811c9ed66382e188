#!/usr/bin/env python3
"""Where a second thread pays off: time per element against n, on one thread and on all.

    python benches/threads.py [--losses L ...] [--dtypes D ...] [--ops OP ...] [--json PATH]
    python benches/threads.py --json PATH --plot docs/threads.png [--plot-op value_and_grad]

For every loss, dtype and op, n runs from 10^4 to 10^7, four sizes a decade (cross-entropy:
rows of 1000 classes). Each size is timed three ways, taking turns within every repeat: on one
thread (``one``); on every thread, the call split from its smallest grain (``all``, through
``fastloss._native._force_grain``); and as fastloss splits it by itself (``auto``). The table
gives nanoseconds per element and ``all/one``. ``split from`` is the smallest measured n from
which three sizes in a row are at least 5% faster on all threads than on one: where the
kernel's grain should let the other threads in (a tree shares its subtrees from twice the
grain).
Results do not depend on the split; only the time does.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
from collections.abc import Callable, Sequence
from typing import Any

import fastloss
import numpy as np

# compare.py, peers.py and plot.py beside this file (a script's folder is first on sys.path).
from compare import _autorange, _batch, cpu_model
from peers import Bench, benches
from plot import panels

SIZES = [round(10 ** (4 + k / 4)) for k in range(13)]
WAYS = ("one", "all", "auto")
GAIN = 0.95
CLASSES = 1000


def shape_of(bench: Bench, n: int) -> tuple[int, ...]:
    return (max(1, n // CLASSES), CLASSES) if bench.loss.family == "rows" else (n,)


def time_ways(
    call: Callable[[], Any], threads: int, seconds: float, repeats: int
) -> dict[str, float]:
    """Median ns per call of ``call`` in each way, the ways taking turns within every repeat."""
    native: Any = fastloss._native
    settings = {"one": (1, None), "all": (threads, 1), "auto": (threads, None)}

    def use(way: str) -> None:
        count, grain = settings[way]
        fastloss.set_num_threads(count)
        native._force_grain(grain)

    numbers = {}
    for way in WAYS:
        use(way)
        call()
        numbers[way] = max(1, round(seconds * 1e9 / repeats / _autorange(call, int(2e6))))
    samples: dict[str, list[float]] = {way: [] for way in WAYS}
    try:
        for r in range(repeats):
            for way in WAYS[r % 3 :] + WAYS[: r % 3]:
                use(way)
                samples[way].append(_batch(call, numbers[way]))
    finally:
        use("auto")
    return {way: statistics.median(s) for way, s in samples.items()}


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    threads = fastloss.get_num_threads()
    rng = np.random.default_rng(args.seed)
    rows = []
    for bench in benches():
        if args.losses and bench.name not in args.losses:
            continue
        for dtype in args.dtypes:
            for op in args.ops:
                fn = bench.fastloss(op)
                for n in args.sizes:
                    shape = shape_of(bench, n)
                    a, b = bench.inputs(rng, shape, dtype)
                    ns = time_ways(functools.partial(fn, a, b), threads, args.time, args.repeats)
                    elements = int(np.prod(shape))
                    row = {"loss": bench.name, "dtype": dtype, "op": op, "n": elements}
                    row.update({f"{way}_ns": ns[way] / elements for way in WAYS})
                    rows.append(row)
                    print(
                        f"  {bench.name} {dtype} {op} {elements}: "
                        + ", ".join(f"{w} {row[f'{w}_ns']:.3f}" for w in WAYS),
                        file=sys.stderr,
                    )
    return rows


Key = tuple[str, str, str]


def curves(rows: Sequence[dict[str, Any]]) -> dict[Key, list[dict[str, Any]]]:
    out: dict[Key, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault((row["loss"], row["dtype"], row["op"]), []).append(row)
    for points in out.values():
        points.sort(key=lambda r: r["n"])
    return out


def split_from(points: Sequence[dict[str, Any]]) -> int | None:
    """The smallest n from which all threads are at least 5% faster than one at three sizes in
    a row (a single slow size at 10^7, where fresh pages of the gradient are faulted in, is not
    a reason to stay on one thread below it)."""
    gains = [p["all_ns"] <= GAIN * p["one_ns"] for p in points]
    for i, p in enumerate(points):
        if all(gains[i : i + 3]):
            return int(p["n"])
    return None


def format_tables(rows: Sequence[dict[str, Any]]) -> str:
    lines = []
    for (loss, dtype, op), points in curves(rows).items():
        split = split_from(points)
        lines.append(f"\n{loss} {dtype} {op}: split from {split if split else 'never'}\n")
        lines.append("| n | one ns/el | all ns/el | auto ns/el | all/one | auto/best |")
        lines.append("|---:|---:|---:|---:|---:|---:|")
        for p in points:
            best = min(p["one_ns"], p["all_ns"])
            lines.append(
                f"| {p['n']:,} | {p['one_ns']:.3f} | {p['all_ns']:.3f} | {p['auto_ns']:.3f} "
                f"| {p['all_ns'] / p['one_ns']:.2f} | {p['auto_ns'] / best:.2f} |"
            )
    return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], png: str, cpu: str, op: str) -> None:
    """Time per element against n for ``op``: per loss, each dtype on one thread (dashed) and
    on all, split from the smallest grain (solid); a thin line where the split pays."""
    data = curves(rows)
    colours = {"float32": "#d62728", "float64": "#1f77b4"}

    def draw(ax: Any, loss: str) -> None:
        for (name, dtype, key_op), points in data.items():
            if name != loss or key_op != op:
                continue
            ns = [p["n"] for p in points]
            for way, style in (("one", "--"), ("all", "-")):
                per = [p[f"{way}_ns"] for p in points]
                label = f"{dtype}, {'one thread' if way == 'one' else 'all threads'}"
                ax.plot(ns, per, style, marker="o", ms=2.5, color=colours[dtype], label=label)
            split = split_from(points)
            if split:
                ax.axvline(split, color=colours[dtype], lw=0.6, alpha=0.5)

    losses = sorted({k[0] for k in data}, key=[b.name for b in benches()].index)
    title = f"{op}: time per element on one thread and on all; thin lines: split from ({cpu})"
    panels(losses, draw, title, png)


def main(argv: Sequence[str] | None = None) -> int:
    names = [b.name for b in benches()]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", nargs="+", choices=names, metavar="LOSS")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--ops", nargs="+", default=["value", "value_and_grad"])
    parser.add_argument("--sizes", nargs="+", type=int, default=SIZES)
    parser.add_argument("--time", type=float, default=0.06, help="seconds per way and size")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the measurements here (or, with --plot, read them)")
    parser.add_argument("--plot", metavar="PNG", help="draw the curves of --json into PNG")
    parser.add_argument("--plot-op", default="value", help="the op --plot draws")
    args = parser.parse_args(argv)
    if args.plot:
        with open(args.json, encoding="utf-8") as fh:
            run = json.load(fh)
        plot(run["rows"], args.plot, run["cpu"], args.plot_op)
        return 0
    rows = measure(args)
    cpu = cpu_model()
    print(
        f"# threads.py: {cpu}, {fastloss.get_num_threads()} threads, "
        f"fastloss {fastloss.__version__}"
    )
    print(format_tables(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"cpu": cpu, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
