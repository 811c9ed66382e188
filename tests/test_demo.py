"""``python -m fastloss demo``: fits that land where mathematics says, tables and figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fastloss
import numpy as np
import pytest
from fastloss import _demo
from fastloss.__main__ import main

FIGURES = ("losses.png", "outliers.png", "median_mean.png", "counts.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_constants_land_on_median_mean_and_in_between() -> None:
    y = _demo.median_mean_target()
    fits = {name: _demo.fit_constant(y, fn) for name, fn in _demo.FIT_LOSSES.items()}
    assert np.median(y) == 150.0
    assert fits["MAE"] == pytest.approx(150.0, abs=0.01)
    assert fits["MSE"] == pytest.approx(float(y.mean()), abs=1e-3)
    # Huber and Smooth L1 (δ = β = 1): 900 targets at 150 pull with c - 150, the 100 far
    # below push with 1 each, so 900·(c - 150) + 100 = 0.
    assert fits["Huber (δ=1)"] == pytest.approx(150.0 - 1.0 / 9.0, abs=0.01)
    assert fits["Smooth L1 (β=1)"] == pytest.approx(150.0 - 1.0 / 9.0, abs=0.01)
    # Log-Cosh: Σ tanh(c - y) = 0, solved by bisection.
    lo, hi = 140.0, 150.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.tanh(mid - y).sum() < 0 else (lo, mid)
    assert fits["Log-Cosh"] == pytest.approx(lo, abs=0.01)
    assert fits["MSE"] < fits["Log-Cosh"] < fits["MAE"]


def test_line_fits_are_minima_and_only_mse_is_pulled() -> None:
    data = _demo.line_data()
    assert int(data.outlier.sum()) == 5
    slope, intercept = np.polyfit(data.x, data.y, 1)
    for name, fn in _demo.FIT_LOSSES.items():
        a, b = _demo.fit_line(data, fn)
        if name == "MSE":
            assert (a, b) == pytest.approx((slope, intercept), abs=1e-3)
            assert a < 0.0  # the outliers drag the line down
        else:
            assert abs(a - data.slope) < 0.2 and abs(b - data.intercept) < 0.6, (name, a, b)

        def mean_loss(a: float, b: float) -> float:
            return fn(a * data.x + b, data.y)[0]  # noqa: B023

        # A minimum: no nearby line does better.
        best = mean_loss(a, b)
        for da, db in ((1e-3, 0), (-1e-3, 0), (0, 1e-2), (0, -1e-2)):
            assert best <= mean_loss(a + da, b + db) + 1e-9, (name, da, db)


def test_counts_mse_goes_negative_and_poisson_recovers_the_rate() -> None:
    """Part 4 (needs fastloss.poisson_value_and_grad): MSE's line is the least-squares line,
    below zero for the safest policies and steeper than the rate over the lower half of x;
    poisson's is the maximum-likelihood fit, positive everywhere, near the true rate."""
    data = _demo.count_data()
    assert np.min(data.y) == 0.0 and (data.y == np.round(data.y)).all()
    fits = {name: _demo.fit_counts(data, fn) for name, fn in _demo.COUNT_LOSSES.items()}

    a, b = fits["MSE"]
    assert (a, b) == pytest.approx(tuple(np.polyfit(data.x, data.y, 1)), abs=1e-3)
    mse = _demo.predict_counts("MSE", fits["MSE"], data.x)
    np.testing.assert_allclose(mse, a * data.x + b)
    # Negative counts: every policy below the line's zero, over a tenth of them.
    assert (mse < 0).sum() == (data.x < -b / a).sum() > 0.1 * data.x.size
    assert np.min(mse) < -0.5
    # Tilted toward the large counts: steeper than the rate's own slope up to x = 2.
    assert a > data.slope * np.exp(data.intercept + 2.0 * data.slope)

    # The Poisson maximum likelihood by Newton's method on the log-likelihood: the reference.
    design = np.stack([data.x, np.ones_like(data.x)], axis=1)
    theta = np.array([0.0, np.log(data.y.mean())])
    for _ in range(30):
        mu = np.exp(design @ theta)
        theta += np.linalg.solve(design.T @ (mu[:, None] * design), design.T @ (data.y - mu))
    assert fits["Poisson"] == pytest.approx(tuple(theta), abs=1e-3)
    poisson = _demo.predict_counts("Poisson", fits["Poisson"], data.x)
    np.testing.assert_allclose(poisson, np.exp(fits["Poisson"][0] * data.x + fits["Poisson"][1]))
    assert (poisson > 0).all()
    # The rate recovered: slope and intercept of the log-rate near the true 1 and -2 (their
    # standard errors on 1000 policies are about 0.02 and 0.07).
    assert abs(fits["Poisson"][0] - data.slope) < 0.05
    assert abs(fits["Poisson"][1] - data.intercept) < 0.15
    # The mean count is matched, as the Poisson likelihood's score equation demands.
    assert poisson.mean() == pytest.approx(data.y.mean(), rel=1e-3)


def test_curves_come_from_the_kernels() -> None:
    curves = {c.title: c for c in _demo.curves()}
    assert len(curves) == 8
    huber = curves["Huber (δ=2)"]
    d = np.asarray(huber.x)
    np.testing.assert_allclose(
        huber.value, np.where(np.abs(d) <= 2, 0.5 * d**2, 2 * (np.abs(d) - 1))
    )
    np.testing.assert_allclose(huber.grad, np.clip(d, -2, 2))
    bce = curves["Binary cross-entropy (probability p)"]
    ok = ~np.isnan(bce.x)
    np.testing.assert_allclose(bce.value[ok], -np.log1p(-np.abs(bce.x[ok])), rtol=1e-12)


def test_demo_without_matplotlib_prints_tables_and_how_to_get_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["demo", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "fitted constant" in text and "slope" in text and "(true rate)" in text
    assert "pip install '.[demo]'" in text
    assert not list(tmp_path.iterdir())


def test_python_m_fastloss_demo_writes_figures_and_info_works(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # in the test extra; the test above covers its absence
    out = tmp_path / "new" / "folder"
    run = subprocess.run(
        [sys.executable, "-m", "fastloss", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    for needle in (
        "slope",
        "fitted constant",
        "MAE",
        "Log-Cosh",
        "(true line)",
        "Claims per policy",
        "(true rate)",
        "Done in",
    ):
        assert needle in run.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(FIGURES)
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 20_000, name
        assert str(out / name) in run.stdout
    info = subprocess.run(
        [sys.executable, "-m", "fastloss", "info"], capture_output=True, text=True, check=True
    )
    assert f"fastloss {fastloss.__version__}" in info.stdout
