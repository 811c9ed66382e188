"""The peers' own functions, where installed, against fastloss's: scikit-learn's half
losses (in the test extra), PyTorch's `poisson_nll_loss` and torchvision's focal formula in
torch ops, optax's `sigmoid_focal_loss` (skipped where those are not installed).

The peers compute in float64 by the formulas as written, so they carry a few ulp of the
terms they add: every comparison allows 8 ulp of the sum of the terms' magnitudes
(`scale`), which is what a formula evaluated naively can be off by. Inputs stay where the
formulas are well conditioned (|x| <= 8, hard labels for the focal loss), so that a wrong
fastloss result cannot hide in that allowance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastloss as fl
import numpy as np
import pytest

Array = np.ndarray[Any, np.dtype[np.float64]]
ULP = 2.0**-52
RNG = np.random.default_rng(17)
N = 997  # the SIMD tails of every level


def assert_close(got: Any, want: Any, scale: Any, what: str) -> None:
    err = np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64))
    worst = float(np.max(err / (8.0 * ULP * scale)))
    assert worst <= 1.0, f"{what}: {worst:.2f} times the allowance of 8 ulp of the terms"


def log_link_data(positive: bool) -> tuple[Array, Array]:
    x = RNG.uniform(-8.0, 8.0, N)
    y = RNG.poisson(np.exp(RNG.uniform(-2.0, 4.0, N))).astype(np.float64)
    if positive:
        y = RNG.gamma(2.0, np.exp(RNG.uniform(-3.0, 3.0, N)))
    else:
        y[:5] = 0.0
    return x, y


def tweedie_terms(x: Array, y: Array, p: float) -> tuple[Array, Array, Array]:
    """Sums of the terms' magnitudes of value, gradient and second derivative."""
    a, b = np.exp((2.0 - p) * x), y * np.exp((1.0 - p) * x)
    if p == 1.0:
        return a + np.abs(y * x), a + y, a
    if p == 2.0:
        return np.abs(x) + b, 1.0 + b, b
    return a / (2.0 - p) + b / (p - 1.0), a + b, (2.0 - p) * a + (p - 1.0) * b


@pytest.mark.parametrize(
    ("name", "power"), [("poisson", 1.0), ("gamma", 2.0), ("tweedie", 1.5), ("tweedie", 1.2)]
)
def test_sklearn_half_losses(name: str, power: float) -> None:
    loss_module = pytest.importorskip("sklearn._loss.loss")
    peer = {
        "poisson": loss_module.HalfPoissonLoss(),
        "gamma": loss_module.HalfGammaLoss(),
        "tweedie": loss_module.HalfTweedieLoss(power=power),
    }[name]
    kw = {"power": power} if name == "tweedie" else {}
    x, y = log_link_data(positive=name == "gamma")
    value, grad = getattr(fl, name + "_value_and_grad")(x, y, reduction="none", **kw)
    _, hess = getattr(fl, name + "_grad_hess")(x, y, reduction="none", **kw)
    want_grad, want_hess = peer.gradient_hessian(y, x)
    sv, sg, sh = tweedie_terms(x, y, power)
    assert_close(value, peer.loss(y, x), sv, f"{name}({power}) value")
    assert_close(grad, want_grad, sg, f"{name}({power}) gradient")
    assert_close(hess, want_hess, sh, f"{name}({power}) second derivative")


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_torch_poisson_nll_loss(reduction: str) -> None:
    torch = pytest.importorskip("torch")

    x, y = log_link_data(positive=False)
    xt = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.poisson_nll_loss(
        xt, torch.tensor(y), log_input=True, full=False, reduction=reduction
    )
    out.sum().backward()
    assert xt.grad is not None
    value, grad = fl.poisson_value_and_grad(x, y, reduction=reduction)
    sv, sg, _ = tweedie_terms(x, y, 1.0)
    div = {"none": 1.0, "sum": 1.0, "mean": float(N)}[reduction]
    if reduction == "none":
        assert_close(value, out.detach().numpy(), sv, "poisson value")
    else:
        # A sum of N terms: each peer's rounding grows with N.
        assert_close(value, out.item(), np.sum(sv) * N / div, f"poisson value ({reduction})")
    assert_close(grad, xt.grad.numpy(), sg / div, f"poisson gradient ({reduction})")


def focal_data() -> tuple[Array, Array]:
    return RNG.uniform(-8.0, 8.0, N), RNG.integers(0, 2, N).astype(np.float64)


FOCAL_PARAMS = [(0.25, 2.0), (None, 2.0), (0.6, 0.0), (0.9, 1.5), (None, 3.0)]


def focal_scale(x: Array, gamma: float) -> tuple[Array, Array]:
    """Term scales of the value and the gradient: BCE's value and its gradient's terms,
    and the relative error of 1 - p_t (computed as 1 - p) amplified by γ."""
    bce = np.logaddexp(0.0, -np.abs(x)) + np.abs(x)
    cond = 1.0 + gamma * (1.0 + np.exp(np.abs(x)))
    return bce * cond, (1.0 + bce) * cond * (1.0 + gamma)


@pytest.mark.parametrize(("alpha", "gamma"), FOCAL_PARAMS)
def test_torchvision_focal_formula(alpha: float | None, gamma: float) -> None:
    torch = pytest.importorskip("torch")

    def torchvision(x: Any, t: Any) -> Any:
        # torchvision.ops.sigmoid_focal_loss, as written there (reduction "none").
        p = torch.sigmoid(x)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(x, t, reduction="none")
        p_t = p * t + (1 - p) * (1 - t)
        loss = ce * ((1 - p_t) ** gamma)
        if alpha is not None:
            loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
        return loss

    x, t = focal_data()
    xt = torch.tensor(x, requires_grad=True)
    out = torchvision(xt, torch.tensor(t))
    out.sum().backward()
    assert xt.grad is not None
    value, grad = fl.sigmoid_focal_value_and_grad(x, t, alpha=alpha, gamma=gamma, reduction="none")
    sv, sg = focal_scale(x, gamma)
    assert_close(value, out.detach().numpy(), sv, "sigmoid_focal value")
    assert_close(grad, xt.grad.numpy(), sg, "sigmoid_focal gradient")


@pytest.mark.parametrize(("alpha", "gamma"), FOCAL_PARAMS)
def test_optax_sigmoid_focal_loss(alpha: float | None, gamma: float) -> None:
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")

    jax.config.update("jax_enable_x64", True)
    x, t = focal_data()
    peer: Callable[[Any], Any] = lambda z: optax.sigmoid_focal_loss(  # noqa: E731
        z, t, alpha=alpha, gamma=gamma
    )
    want_value = np.asarray(peer(x))
    want_grad = np.asarray(jax.grad(lambda z: peer(z).sum())(x))
    value, grad = fl.sigmoid_focal_value_and_grad(x, t, alpha=alpha, gamma=gamma, reduction="none")
    sv, sg = focal_scale(x, gamma)
    assert_close(value, want_value, sv, "sigmoid_focal value")
    assert_close(grad, want_grad, sg, "sigmoid_focal gradient")
