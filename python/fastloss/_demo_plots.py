"""The demo's figures (matplotlib, imported only when it is installed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

if TYPE_CHECKING:
    from fastloss._demo import F64, CountData, Curve, LineData, ValueAndGrad

VALUE_COLOR = "tab:blue"
GRAD_COLOR = "tab:red"


def save(fig: Any, path: Path, title: str | None = None) -> Path:
    """Writes the figure, under its title, and frees it."""
    if title is not None:
        fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(curves: Sequence[Curve], path: Path) -> Path:
    cols = 4
    rows = -(-len(curves) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax, c in zip(axes.flat, curves):
        ax.axhline(0.0, color="0.75", linewidth=0.8)
        ax.axvline(0.0, color="0.75", linewidth=0.8)
        ax.plot(c.x, c.value, color=VALUE_COLOR, linewidth=2.2, label="loss")
        ax.plot(c.x, c.grad, color=GRAD_COLOR, linewidth=1.8, linestyle="--", label="gradient")
        ax.set_title(f"{c.title}\n{c.formula}", fontsize=10.5)
        ax.set_xlabel(c.xlabel, fontsize=9)
        top = min(float(np.nanmax(c.value)), 6.0) + 0.5
        low = max(min(float(np.nanmin(c.grad)), float(np.nanmin(c.value))), -4.0) - 0.5
        ax.set_ylim(low, top)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper center", fontsize=8.5, framealpha=0.9)
    for ax in list(axes.flat)[len(curves) :]:
        ax.set_visible(False)
    return save(fig, path, "Losses (solid) and their gradients (dashed), computed by fastloss")


def plot_outliers(
    data: LineData,
    lines: Mapping[str, tuple[float, float]],
    colors: Mapping[str, str],
    path: Path,
) -> Path:
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    inl = ~data.outlier
    ax.scatter(data.x[inl], data.y[inl], s=22, color="0.35", label="data", zorder=3)
    ax.scatter(
        data.x[data.outlier],
        data.y[data.outlier],
        s=60,
        marker="x",
        color="black",
        linewidths=2,
        label="5 outliers",
        zorder=3,
    )
    xs = np.array([np.min(data.x) - 0.3, np.max(data.x) + 0.3])
    ax.plot(
        xs,
        data.slope * xs + data.intercept,
        color="0.6",
        linewidth=5,
        alpha=0.5,
        label=f"true line: y = {data.slope:g}x + {data.intercept:g}",
    )
    for name, (a, b) in lines.items():
        style: dict[str, Any] = {"linewidth": 2.5 if name == "MSE" else 1.6}
        if name in ("Smooth L1 (β=1)", "Log-Cosh"):
            style["linestyle"] = (0, (4, 2))
        ax.plot(
            xs, a * xs + b, color=colors[name], label=f"{name}: y = {a:.2f}x + {b:.2f}", **style
        )
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(
        "A line fitted by gradient descent under each loss: MSE is pulled toward the outliers"
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize=9, framealpha=0.95)
    return save(fig, path)


def plot_median_mean(
    y: F64,
    consts: Mapping[str, float],
    losses: Mapping[str, ValueAndGrad],
    colors: Mapping[str, str],
    path: Path,
) -> Path:
    fig, (hist, full, zoom) = plt.subplots(
        1, 3, figsize=(18, 5.2), gridspec_kw={"width_ratios": [1.0, 1.0, 0.8]}
    )
    hist.hist(y, bins=np.arange(-1.5, 156.0, 3.0), color="0.7", edgecolor="0.5")
    hist.set_yscale("log")
    hist.set_xlabel("target value")
    hist.set_ylabel("samples (log scale)")
    hist.set_title("The target: 150 for 90% of samples, uniform in 0..30 for 10%")
    for name, c in consts.items():
        hist.axvline(c, color=colors[name], linewidth=1.8, label=f"{name}: {c:.2f}")
    hist.legend(loc="upper center", fontsize=9, title="fitted constant", framealpha=0.95)

    median, mean = float(np.median(y)), float(y.mean())
    for ax, (lo, hi), names in (
        (full, (120.0, 155.0), list(losses)),
        (zoom, (149.6, 150.15), [n for n in losses if n != "MSE"]),
    ):
        grid = np.linspace(lo, hi, 221)
        for name in names:
            fn = losses[name]
            values = np.array([fn(np.full_like(y, c), y)[0] for c in grid])
            low, span = values.min(), values.max() - values.min()
            ax.plot(grid, (values - low) / span, color=colors[name], label=name)
            c = consts[name]
            ax.plot([c], [(fn(np.full_like(y, c), y)[0] - low) / span], "o", color=colors[name])
        ax.axvline(median, color="0.3", linestyle=":", label=f"median ({median:g})")
        if lo <= mean <= hi:
            ax.axvline(mean, color="0.3", linestyle="--", label=f"mean ({mean:.1f})")
        ax.set_xlabel("constant prediction c")
        ax.set_ylabel("mean loss, scaled to [0, 1]")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper center", fontsize=9, framealpha=0.95)
    full.set_title("Mean loss of each constant (dots: the fitted constants)")
    zoom.set_title("Zoom next to the median: the robust losses\nstop short of it, toward the mean")
    return save(
        fig,
        path,
        "MAE lands on the median, MSE on the mean, Huber, Smooth L1 and Log-Cosh in between",
    )


def plot_counts(
    data: CountData,
    fits: Mapping[str, tuple[float, float]],
    colors: Mapping[str, str],
    path: Path,
) -> Path:
    from fastloss._demo import _line, predict_counts

    fig, (left, right) = plt.subplots(
        1, 2, figsize=(15, 5.4), gridspec_kw={"width_ratios": [1.3, 1.0]}
    )
    xs = np.linspace(0.0, 4.0, 401)
    # Counts are integers: a little vertical jitter shows how many policies share one (upward
    # only, so that no policy seems to have a negative count).
    jitter = np.random.default_rng(0).uniform(0.0, 0.3, data.y.size)
    left.scatter(data.x, data.y + jitter, s=7, color="0.55", alpha=0.45, label="claims per policy")
    edges = np.linspace(0.0, 4.0, 17)
    mid = 0.5 * (edges[:-1] + edges[1:])
    which = np.clip(np.digitize(data.x, edges) - 1, 0, mid.size - 1)
    mean = np.array([data.y[which == i].mean() for i in range(mid.size)])
    left.plot(
        mid, mean, "o", color="black", markersize=5, label="mean count per 0.25 of x", zorder=4
    )
    left.plot(
        xs,
        data.rate(xs),
        color="0.6",
        linewidth=5,
        alpha=0.5,
        label=f"true rate: exp({_line(data.slope, data.intercept, '.1f')})",
    )
    left.axhspan(-3.0, 0.0, color="tab:red", alpha=0.07)
    for name, (a, b) in fits.items():
        pred = predict_counts(name, (a, b), data.x)
        negative = int((pred < 0).sum())
        shape = _line(a, b, ".2f") if name == "MSE" else f"exp({_line(a, b, '.2f')})"
        note = f", negative for {negative} policies" if negative else ", > 0 everywhere"
        left.plot(
            xs,
            predict_counts(name, (a, b), xs),
            color=colors[name],
            linewidth=2.2,
            label=f"{name}: {shape}{note}",
        )
    left.axhline(0.0, color="0.3", linewidth=0.8)
    left.set_ylim(-2.0, float(np.max(data.y)) + 1.0)
    left.set_xlabel("risk score x")
    left.set_ylabel("claims")
    left.set_title("Counts fitted by the same gradient descent: the line under MSE and poisson")
    left.grid(True, alpha=0.3)
    left.legend(loc="upper left", fontsize=9, framealpha=0.95)

    right.axhline(0.0, color="0.3", linewidth=0.8)
    for name, fit in fits.items():
        pred = predict_counts(name, fit, data.x)
        resid = np.array([(data.y - pred)[which == i].mean() for i in range(mid.size)])
        right.plot(mid, resid, "o-", color=colors[name], label=name)
    right.set_xlabel("risk score x")
    right.set_ylabel("mean of (claims - prediction) per 0.25 of x")
    right.set_title("What each fit misses: MSE's line is off by a curve,\nthe log link by noise")
    right.grid(True, alpha=0.3)
    right.legend(loc="upper center", fontsize=9, framealpha=0.95)
    return save(
        fig,
        path,
        "Counts: MSE predicts negative claims and tilts toward the large counts; "
        "poisson's log link stays above zero and recovers the rate",
    )
