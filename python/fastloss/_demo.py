"""``python -m fastloss demo [--out DIR]``: the losses at work, on data generated here.

Four stories, each a printed table and (with matplotlib) a PNG figure in ``DIR``:

1. ``losses.png``: every loss and its gradient against the error d = input - target.
2. ``outliers.png``: a straight line fitted by gradient descent under MSE, MAE, Huber,
   Smooth L1 and Log-Cosh, on points with 5 strong outliers: MSE's line is pulled toward
   them, the robust losses' lines are not.
3. ``median_mean.png``: a constant fitted to a target that is 150 for 90% of the samples
   and uniform in 0..30 for the rest: MAE lands on the median (150), MSE on the mean
   (136.5), Huber and Log-Cosh in between, next to the median.
4. ``counts.png``: claims per policy, drawn from a Poisson model whose log-rate is a line in
   a risk score x, fitted by the same gradient descent under MSE (a line as the count) and
   under ``poisson`` (a line as the log-rate): MSE's line tilts toward the large counts and
   predicts negative counts for the safest policies; the log link stays above zero and
   recovers the rate.

Every value and gradient comes from fastloss's ``*_value_and_grad`` (the fits) and
``reduction="none"`` calls (the curves). The data is generated from a fixed seed, so the
tables are the same on every run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

import fastloss

F64 = NDArray[np.float64]
Floats = NDArray[np.floating[Any]]
ValueAndGrad = Callable[[F64, F64], tuple[float, Floats]]

SEED = 6
# The losses of the fits, with the parameters the tables and figures state.
FIT_LOSSES: dict[str, ValueAndGrad] = {
    "MSE": lambda p, t: fastloss.mse_value_and_grad(p, t),
    "MAE": lambda p, t: fastloss.mae_value_and_grad(p, t),
    "Huber (δ=1)": lambda p, t: fastloss.huber_value_and_grad(p, t, delta=1.0),
    "Smooth L1 (β=1)": lambda p, t: fastloss.smooth_l1_value_and_grad(p, t, beta=1.0),
    "Log-Cosh": lambda p, t: fastloss.log_cosh_value_and_grad(p, t),
}
COLORS = {
    "MSE": "tab:red",
    "MAE": "tab:blue",
    "Huber (δ=1)": "tab:green",
    "Smooth L1 (β=1)": "tab:orange",
    "Log-Cosh": "tab:purple",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="folder for the PNG figures (created if missing; default: the current folder)",
    )


def adam(
    value_and_grad: Callable[[F64], tuple[float, F64]],
    start: F64,
    *,
    lr: float,
    steps: int,
) -> F64:
    """Minimise by Adam steps whose size decays geometrically from ``lr`` to ``lr/10^4``.

    Adam's steps do not depend on the gradient's scale, so one schedule serves MSE's
    gradients in the hundreds and MAE's signs alike; the decay lets the non-smooth losses
    settle instead of oscillating around their minimum.
    """
    theta = start.astype(np.float64)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    b1, b2, eps = 0.9, 0.999, 1e-12
    decay = 1e-4 ** (1.0 / steps)
    for step in range(1, steps + 1):
        _, g = value_and_grad(theta)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1**step)) / (np.sqrt(v / (1 - b2**step)) + eps)
        lr *= decay
    return theta


# -- 1. the curves --------------------------------------------------------------------------


@dataclass
class Curve:
    title: str
    formula: str
    x: Floats
    value: Floats
    grad: Floats
    xlabel: str = "error d = input - target"


def curves() -> list[Curve]:
    d = np.linspace(-3.0, 3.0, 601)
    zero = np.zeros_like(d)
    out: list[Curve] = []

    def add(title: str, formula: str, fn: Any, **params: Any) -> None:
        value, grad = fn(d, zero, reduction="none", **params)
        out.append(Curve(title, formula, d, np.asarray(value), np.asarray(grad)))

    add("L1 (mae)", "|d|", fastloss.mae_value_and_grad)
    add("L2 (mse)", "d²", fastloss.mse_value_and_grad)
    add("Smooth L1 (β=1)", "0.5d²/β if |d|<β, else |d|-0.5β", fastloss.smooth_l1_value_and_grad)
    add("Huber (δ=2)", "0.5d² if |d|≤δ, else δ(|d|-0.5δ)", fastloss.huber_value_and_grad, delta=2.0)
    add("Log-Cosh", "log cosh d", fastloss.log_cosh_value_and_grad)
    add(
        "Pinball (q=0.9)",
        "q·r if r>0, else (q-1)·r; r = -d",
        fastloss.pinball_value_and_grad,
        q=0.9,
    )
    # Binary cross-entropy on a probability p: d = p - t is negative for t = 1 and positive
    # for t = 0; both halves give -log(1 - |d|). A NaN between them breaks the line at the
    # jump of the gradient.
    p = np.linspace(0.02, 0.98, 241)
    v1, g1 = fastloss.binary_cross_entropy_value_and_grad(p, np.ones_like(p), reduction="none")
    v0, g0 = fastloss.binary_cross_entropy_value_and_grad(p, np.zeros_like(p), reduction="none")
    gap = np.array([np.nan])
    out.append(
        Curve(
            "Binary cross-entropy (probability p)",
            "-log p (t=1, d<0), -log(1-p) (t=0, d>0)",
            np.concatenate([p - 1.0, gap, p]),
            np.concatenate([v1, gap, v0]),
            np.concatenate([g1, gap, g0]),
            "error d = p - t",
        )
    )
    x = np.linspace(-6.0, 6.0, 601)
    v, g = fastloss.binary_cross_entropy_with_logits_value_and_grad(
        x, np.ones_like(x), reduction="none"
    )
    out.append(Curve("BCE with logits (t=1)", "softplus(-x)", x, v, g, "logit x (target t = 1)"))
    return out


# -- 2. a line through outliers -------------------------------------------------------------


@dataclass
class LineData:
    x: F64
    y: F64
    outlier: NDArray[np.bool_]
    slope: float
    intercept: float


def line_data() -> LineData:
    rng = np.random.default_rng(SEED)
    x = np.sort(rng.uniform(0.0, 10.0, 40))
    slope, intercept = 2.0, 1.0
    y = slope * x + intercept + rng.normal(0.0, 0.5, x.size)
    # 5 strong outliers at the right end, 40 below the line.
    outlier = np.zeros(x.size, dtype=bool)
    outlier[[-9, -7, -5, -3, -1]] = True
    y[outlier] -= 40.0
    return LineData(x, y, outlier, slope, intercept)


def fit_linear(
    x: F64, y: F64, value_and_grad: ValueAndGrad, start: F64, lr: float
) -> tuple[float, float]:
    """Slope and intercept minimising the mean loss of ``slope·x + intercept`` against y, by
    Adam from ``start`` (slope and intercept of the standardised x)."""
    # Centred and scaled x: a well-conditioned problem for the same schedule on every loss.
    mx, sx = float(x.mean()), float(x.std())
    z = (x - mx) / sx

    def vg(theta: F64) -> tuple[float, F64]:
        value, g = value_and_grad(theta[0] * z + theta[1], y)
        return value, np.array([float(g @ z), float(g.sum())])

    a, b = adam(vg, start, lr=lr, steps=3000)
    return a / sx, b - a * mx / sx


def fit_line(data: LineData, value_and_grad: ValueAndGrad) -> tuple[float, float]:
    """The line of least mean loss, from the median."""
    return fit_linear(
        data.x, data.y, value_and_grad, np.array([0.0, float(np.median(data.y))]), lr=1.0
    )


# -- 3. median, mean and the robust losses in between --------------------------------------


def median_mean_target() -> F64:
    rng = np.random.default_rng(SEED)
    n = 1000
    y = np.full(n, 150.0)
    rest = rng.permutation(n)[: n // 10]
    y[rest] = rng.uniform(0.0, 30.0, rest.size)
    return y


def fit_constant(y: F64, value_and_grad: ValueAndGrad) -> float:
    def vg(theta: F64) -> tuple[float, F64]:
        value, g = value_and_grad(np.full_like(y, theta[0]), y)
        return value, np.array([float(g.sum())])

    return float(adam(vg, np.zeros(1), lr=10.0, steps=3000)[0])


# -- 4. counts: the log link ----------------------------------------------------------------

# The same linear predictor slope·x + intercept under both losses: the count itself under MSE,
# the log-rate η under poisson (value exp(η) - y·η, whose minimum in η is log y).
COUNT_LOSSES: dict[str, ValueAndGrad] = {
    "MSE": lambda p, t: fastloss.mse_value_and_grad(p, t),
    "Poisson": lambda p, t: fastloss.poisson_value_and_grad(p, t),
}
# What each loss's linear predictor means as a count.
COUNT_LINKS: dict[str, Callable[[F64], F64]] = {"MSE": lambda eta: eta, "Poisson": np.exp}
COUNT_COLORS = {"MSE": "tab:red", "Poisson": "tab:blue"}


@dataclass
class CountData:
    x: F64
    y: F64
    #: The true log-rate: intercept + slope·x.
    slope: float
    intercept: float

    def rate(self, x: F64) -> F64:
        rate: F64 = np.exp(self.intercept + self.slope * x)
        return rate


def count_data() -> CountData:
    """Claims per policy: a risk score x uniform in 0..4, claims ~ Poisson(exp(x - 2)), a
    rate from 0.14 to 7.4."""
    rng = np.random.default_rng(SEED)
    x = np.sort(rng.uniform(0.0, 4.0, 1000))
    slope, intercept = 1.0, -2.0
    y = rng.poisson(np.exp(intercept + slope * x)).astype(np.float64)
    return CountData(x, y, slope, intercept)


def fit_counts(data: CountData, value_and_grad: ValueAndGrad) -> tuple[float, float]:
    """Slope and intercept of the linear predictor minimising the mean loss, from 0."""
    # Steps of 0.1 at first: a step of 1 in a log-rate multiplies the rate by e.
    return fit_linear(data.x, data.y, value_and_grad, np.zeros(2), lr=0.1)


def predict_counts(name: str, fit: tuple[float, float], x: F64) -> F64:
    slope, intercept = fit
    return COUNT_LINKS[name](slope * x + intercept)


# -- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    out: Path = args.out

    print("fastloss demo: every number below comes from fastloss's kernels.\n")
    curve_list = curves()
    print("1. The losses and their gradients at d = -2, 0.5 and 2 (value / gradient):")
    at = (-2.0, 0.5, 2.0)
    rows = []
    for c in curve_list[:6]:
        cells = []
        for d in at:
            i = int(np.nanargmin(np.abs(c.x - d)))
            cells.append(f"{c.value[i]:6.3f} / {c.grad[i]:+6.3f}")
        rows.append([c.title, *cells])
    _table(["loss", *(f"d = {d:g}" for d in at)], rows)

    data = line_data()
    lines = {name: fit_line(data, fn) for name, fn in FIT_LOSSES.items()}
    print(
        f"\n2. A line through {data.x.size} points (y = {data.slope:g}x + {data.intercept:g} "
        f"+ noise), {int(data.outlier.sum())} of them moved 40 down:"
    )
    _table(
        ["loss", "slope", "intercept", "mean |y - line| on the inliers"],
        [
            [
                name,
                f"{a:.3f}",
                f"{b:.3f}",
                f"{np.abs(data.y - a * data.x - b)[~data.outlier].mean():.3f}",
            ]
            for name, (a, b) in lines.items()
        ]
        + [["(true line)", f"{data.slope:.3f}", f"{data.intercept:.3f}", ""]],
    )

    y = median_mean_target()
    consts = {name: fit_constant(y, fn) for name, fn in FIT_LOSSES.items()}
    print(
        f"\n3. A constant fitted to {y.size} targets: 150 for 90%, uniform in 0..30 for 10% "
        f"(median {np.median(y):g}, mean {y.mean():.2f}):"
    )
    _table(["loss", "fitted constant"], [[name, f"{c:.3f}"] for name, c in consts.items()])

    counts = count_data()
    count_fits = {name: fit_counts(counts, fn) for name, fn in COUNT_LOSSES.items()}
    at_x = (0.0, 2.0, 4.0)
    true_rate = f"exp({_line(counts.slope, counts.intercept, '.1f')})"
    print(
        f"\n4. Claims per policy: {counts.y.size} counts drawn from Poisson(rate = {true_rate}), "
        "risk score x in 0..4; a line fitted as the count (MSE) and as the log-rate (poisson), "
        "by the same gradient descent:"
    )
    rows = []
    for name, (a, b) in count_fits.items():
        pred = predict_counts(name, (a, b), counts.x)
        rows.append(
            [
                name,
                _line(a, b) if name == "MSE" else f"exp({_line(a, b)})",
                f"{np.min(pred):.3f}",
                f"{int((pred < 0).sum())} of {pred.size}",
                *(f"{float(predict_counts(name, (a, b), np.array(v))):.3f}" for v in at_x),
            ]
        )
    rows.append(
        [
            "(true rate)",
            f"exp({_line(counts.slope, counts.intercept)})",
            f"{np.min(counts.rate(counts.x)):.3f}",
            "",
            *(f"{float(counts.rate(np.array(v))):.3f}" for v in at_x),
        ]
    )
    _table(["loss", "predicted count", "lowest", "negative", *(f"x = {v:g}" for v in at_x)], rows)
    mse_slope = count_fits["MSE"][0]
    # Where the rate's own slope, slope·exp(intercept + slope·x), reaches the line's.
    steeper_below = (np.log(mse_slope / counts.slope) - counts.intercept) / counts.slope
    print(
        f"MSE's line rises by {mse_slope:.2f} claims per unit of x, faster than the rate "
        f"anywhere below x = {steeper_below:.2f}: it tilts toward the large counts, and falls "
        "below zero for the safest policies. The log link is positive everywhere, and its "
        "line is the rate's."
    )

    try:
        import matplotlib
    except ImportError:
        print(
            "\nmatplotlib is not installed, so no figures were written. For the figures:\n"
            "    pip install 'fastloss[demo]'   (from a clone: pip install '.[demo]')"
        )
    else:
        matplotlib.use("Agg")
        from fastloss import _demo_plots

        out.mkdir(parents=True, exist_ok=True)
        paths = [
            _demo_plots.plot_curves(curve_list, out / "losses.png"),
            _demo_plots.plot_outliers(data, lines, COLORS, out / "outliers.png"),
            _demo_plots.plot_median_mean(y, consts, FIT_LOSSES, COLORS, out / "median_mean.png"),
            _demo_plots.plot_counts(counts, count_fits, COUNT_COLORS, out / "counts.png"),
        ]
        print("\nFigures:")
        for path in paths:
            print(f"    {path}")
    print(f"\nDone in {time.perf_counter() - start:.1f} s.")
    return 0


def _line(slope: float, intercept: float, spec: str = ".3f") -> str:
    """``1.000x - 2.000``: the sign of the intercept written once."""
    return f"{slope:{spec}}x {'-' if intercept < 0 else '+'} {abs(intercept):{spec}}"


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))
    )
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(
            "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(r, widths))
            )
        )
