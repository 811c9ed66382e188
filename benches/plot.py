"""Draw ``docs/bench.png`` from the JSON of one ``compare.py`` run.

    python benches/compare.py --json bench.json
    python benches/plot.py bench.json docs/bench.png [--dtype float32]

One panel per loss: time per element (ns) against n, log-log, one colour per implementation,
solid for the value and dashed for ``value_and_grad``; in grey the rooflines, the bytes read (and
written) on one core (``roofline``) and on fastloss's threads (``roof_all``). Cross-entropy's
points are its fixed shapes (rows by classes), placed at their element counts. Needs matplotlib
(not a dependency of fastloss: install it into the benchmark environment).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

IMPLEMENTATIONS = ("fastloss", "numpy", "torch", "jax", "roofline", "roof_all")
COLOURS = {
    "fastloss": "#d62728",
    "numpy": "#1f77b4",
    "torch": "#ff7f0e",
    "jax": "#2ca02c",
    "roofline": "#9a9a9a",
    "roof_all": "#cfcfcf",
}
STYLES = {"value": "-", "value_and_grad": "--"}


Points = list[tuple[int, float]]


def series(rows: list[dict[str, Any]], dtype: str) -> dict[str, dict[tuple[str, str], Points]]:
    """loss -> (implementation, op) -> sorted [(n, ns per element)]."""
    out: dict[str, dict[tuple[str, str], Points]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["dtype"] != dtype or row["status"] != "ok":
            continue
        for impl in IMPLEMENTATIONS:
            us = row["us"].get(impl)
            if us is not None:
                out[row["loss"]][(impl, row["op"])].append((row["n"], us * 1e3 / row["n"]))
    for per_loss in out.values():
        for points in per_loss.values():
            points.sort()
    return out


def panels(names: Sequence[str], draw: Callable[[Any, str], None], title: str, png: str) -> None:
    """One log-log panel of ns per element against n for each name, drawn by ``draw(ax, name)``,
    three a row, with the first panel's legend below them all; written to ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        draw(ax, name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("n (elements)", fontsize=8)
        ax.set_ylabel("ns per element", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="output of compare.py --json")
    parser.add_argument("png", help="the figure to write")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    with open(args.json, encoding="utf-8") as fh:
        run = json.load(fh)
    data = series(run["rows"], args.dtype)

    def draw(ax: Any, loss: str) -> None:
        for (impl, op), points in sorted(data[loss].items()):
            ns, per = zip(*points)
            ax.plot(
                ns, per, STYLES[op], marker="o", ms=3, color=COLOURS[impl], label=f"{impl} {op}"
            )

    machine = run.get("machine", {})
    cpu = machine.get("cpu", "") if isinstance(machine, dict) else ""
    title = f"fastloss against NumPy, PyTorch and JAX, {args.dtype} ({cpu})"
    panels(list(data), draw, title, args.png)


if __name__ == "__main__":
    main()
