"""What ``compare.py`` runs for each loss: its NumPy, PyTorch and JAX versions, and its arrays.

The losses are the registry's (``fastloss._registry.LOSSES``), in its order. :data:`ENTRIES`
holds only what the benchmark adds to a loss: the parameter values it runs and the peers'
implementations. The rest follows from the registry: the input arrays from the loss's input and
target domains, the shapes and the roofline from its family. A registry loss without an entry
here, or an entry that the registry does not know, stops the benchmark with an error naming it
(:func:`benches`; ``tests/test_benches.py`` checks the same).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import fastloss
import numpy as np
from fastloss._registry import LOSSES, Family, InputDomain, Loss, TargetDomain
from numpy.typing import NDArray

__all__ = ["ENTRIES", "Bench", "Entry", "bench", "benches"]

Array = NDArray[Any]
#: ``(input, target) -> value`` for op "value", ``-> (value, grad)`` for op "value_and_grad".
Fn = Callable[[Any, Any], Any]
Shape = tuple[int, ...]
#: ``(rng, shape, dtype name) -> (input, target)``; arrays are C-contiguous.
InputGen = Callable[[np.random.Generator, Shape, str], tuple[Array, Array]]
#: Parameter values by name, as fastloss's keywords spell them.
Params = Mapping[str, float]

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class Entry:
    """What the benchmark adds to a registry loss.

    - ``numpy(op, params)``: the NumPy reference, the value or ``(value, grad)`` of the mean; it
      is also what fastloss's results are checked against before timing.
    - ``torch(torch_module, params)``: ``f(x, t) -> 0-d tensor`` (the mean loss); the gradient
      is taken by autograd. ``None``: no PyTorch column.
    - ``jax(jax_module, optax_module_or_None, params)``: ``f(x, t) -> scalar`` (the mean loss),
      jitted as is for "value" and through ``jax.value_and_grad`` otherwise. ``None``: no JAX
      column.
    - ``params``: the parameter values the benchmark runs, passed to fastloss and to every peer.
      A parameter left out keeps fastloss's default, so the peers must compute that default.
    """

    numpy: Callable[[str, Params], Fn]
    torch: Callable[[Any, Params], Fn] | None
    jax: Callable[[Any, Any, Params], Fn] | None
    params: Params = field(default_factory=dict)


@dataclass(frozen=True)
class Bench:
    """A registry loss as the benchmark runs it: its entry, bound to its parameter values."""

    loss: Loss
    entry: Entry
    inputs: InputGen
    shapes: Callable[[Sequence[int]], list[Shape]]
    roofline: Callable[[Array, Array], tuple[Array, Array]]

    @property
    def name(self) -> str:
        return self.loss.name

    def fastloss(self, op: str) -> Fn:
        """``NAME`` for op "value", ``NAME_value_and_grad`` otherwise."""
        fn: Fn = getattr(fastloss, self.name if op == "value" else f"{self.name}_value_and_grad")
        params = self.entry.params
        return functools.partial(fn, **params) if params else fn

    def numpy(self, op: str) -> Fn:
        return self.entry.numpy(op, self.entry.params)

    def torch(self, torch: Any) -> Fn | None:
        build = self.entry.torch
        return None if build is None else build(torch, self.entry.params)

    def jax(self, jax: Any, optax: Any) -> Fn | None:
        build = self.entry.jax
        return None if build is None else build(jax, optax, self.entry.params)


# --------------------------------------------------------------------------------------------
# Arrays: from the registry's input and target domains, and the family
# --------------------------------------------------------------------------------------------


def _normal(rng: np.random.Generator, shape: Shape, dtype: str) -> Array:
    if dtype == "float32":
        return rng.standard_normal(shape, dtype=np.float32)
    return rng.standard_normal(shape, dtype=np.float64)


def _regression_inputs(rng: np.random.Generator, shape: Shape, dtype: str) -> tuple[Array, Array]:
    # d = a - b ~ N(0, 2): about half the elements on each side of |d| = 1 (Huber / Smooth L1).
    return _normal(rng, shape, dtype), _normal(rng, shape, dtype)


def _logit_inputs(rng: np.random.Generator, shape: Shape, dtype: str) -> tuple[Array, Array]:
    x = _normal(rng, shape, dtype)
    x *= 3.0
    return x, rng.integers(0, 2, size=shape).astype(dtype)


def _probability_inputs(rng: np.random.Generator, shape: Shape, dtype: str) -> tuple[Array, Array]:
    p = rng.uniform(0.001, 0.999, size=shape).astype(dtype)
    return p, rng.integers(0, 2, size=shape).astype(dtype)


def _class_inputs(rng: np.random.Generator, shape: Shape, dtype: str) -> tuple[Array, Array]:
    z = _normal(rng, shape, dtype)
    z *= 2.0
    return z, rng.integers(0, shape[-1], size=shape[:-1], dtype=np.int64)


def _count_inputs(rng: np.random.Generator, shape: Shape, dtype: str) -> tuple[Array, Array]:
    # η = log of the mean, around log 2; counts drawn from it (zeros among them).
    eta = _normal(rng, shape, dtype)
    eta *= 0.5
    eta += 0.7
    return eta, rng.poisson(2.0, size=shape).astype(dtype)


def _amount_inputs(rng: np.random.Generator, shape: Shape, dtype: str) -> tuple[Array, Array]:
    eta = _normal(rng, shape, dtype)
    eta *= 0.5
    eta += 1.0
    return eta, rng.gamma(2.0, 1.5, size=shape).astype(dtype)


#: (input domain, target domain) -> the arrays. Probability targets are 0 or 1, as a
#: classifier's labels are.
INPUTS: dict[tuple[InputDomain, TargetDomain], InputGen] = {
    ("real", "real"): _regression_inputs,
    ("real", "probability"): _logit_inputs,
    ("probability", "probability"): _probability_inputs,
    ("real", "classes"): _class_inputs,
    ("real", "nonnegative"): _count_inputs,
    ("real", "positive"): _amount_inputs,
}

#: The (rows, classes) shapes of the row losses: many classes, many rows, and very wide rows.
ROW_SHAPES: tuple[Shape, ...] = ((4096, 1000), (65536, 10), (64, 32768))


def _vector_shapes(sizes: Sequence[int]) -> list[Shape]:
    return [(n,) for n in sizes]


def _row_shapes(sizes: Sequence[int]) -> list[Shape]:
    """The fixed (rows, classes) shapes with at most ``max(sizes)`` elements."""
    limit = max(sizes, default=0)
    return [s for s in ROW_SHAPES if math.prod(s) <= limit]


def _flat_pair(a: Array, b: Array) -> tuple[Array, Array]:
    return a.reshape(-1), b.reshape(-1)


def _logits_twice(z: Array, y: Array) -> tuple[Array, Array]:
    # Reading the logits once is the least a row loss can do; its targets are one per row.
    return z.reshape(-1), z.reshape(-1)


#: family -> (the shapes for the requested sizes, the two arrays whose np.dot is the roofline).
FAMILIES: dict[
    Family,
    tuple[Callable[[Sequence[int]], list[Shape]], Callable[[Array, Array], tuple[Array, Array]]],
] = {
    "elementwise": (_vector_shapes, _flat_pair),
    "rows": (_row_shapes, _logits_twice),
}


# --------------------------------------------------------------------------------------------
# NumPy
# --------------------------------------------------------------------------------------------


def _np_mae(op: str, params: Params) -> Fn:
    if op == "value":
        return lambda a, b: np.mean(np.abs(a - b))

    def vg(a: Array, b: Array) -> tuple[Any, Array]:
        d = a - b
        return np.mean(np.abs(d)), np.sign(d) * (1.0 / d.size)

    return vg


def _np_mse(op: str, params: Params) -> Fn:
    if op == "value":
        return lambda a, b: np.mean((a - b) ** 2)

    def vg(a: Array, b: Array) -> tuple[Any, Array]:
        d = a - b
        return np.mean(d * d), d * (2.0 / d.size)

    return vg


def _np_smooth_l1(op: str, params: Params) -> Fn:
    beta = params["beta"]

    def value(a: Array, b: Array) -> Any:
        d = a - b
        ad = np.abs(d)
        return np.mean(np.where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta))

    def vg(a: Array, b: Array) -> tuple[Any, Array]:
        d = a - b
        ad = np.abs(d)
        v = np.mean(np.where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta))
        return v, np.clip(d * (1.0 / beta), -1.0, 1.0) * (1.0 / d.size)

    return value if op == "value" else vg


def _np_huber(op: str, params: Params) -> Fn:
    delta = params["delta"]

    def value(a: Array, b: Array) -> Any:
        d = a - b
        ad = np.abs(d)
        return np.mean(np.where(ad <= delta, 0.5 * d * d, delta * (ad - 0.5 * delta)))

    def vg(a: Array, b: Array) -> tuple[Any, Array]:
        d = a - b
        ad = np.abs(d)
        v = np.mean(np.where(ad <= delta, 0.5 * d * d, delta * (ad - 0.5 * delta)))
        return v, np.clip(d, -delta, delta) * (1.0 / d.size)

    return value if op == "value" else vg


def _np_log_cosh(op: str, params: Params) -> Fn:
    # logaddexp(d, -d) = log(e^d + e^-d) = log cosh d + ln 2, finite for every finite d.
    if op == "value":
        return lambda a, b: np.mean(np.logaddexp(a - b, b - a)) - _LN2

    def vg(a: Array, b: Array) -> tuple[Any, Array]:
        d = a - b
        return np.mean(np.logaddexp(d, -d)) - _LN2, np.tanh(d) * (1.0 / d.size)

    return vg


def _np_pinball(op: str, params: Params) -> Fn:
    q = params["q"]

    def value(a: Array, b: Array) -> Any:
        r = b - a
        return np.mean(np.maximum(q * r, (q - 1.0) * r))

    def vg(a: Array, b: Array) -> tuple[Any, Array]:
        r = b - a
        v = np.mean(np.maximum(q * r, (q - 1.0) * r))
        # -q where r > 0, 1 - q where r < 0, 0.5 - q where r == 0; sign(-r) = sign(a - b).
        return v, (0.5 * np.sign(-r) + (0.5 - q)) * (1.0 / r.size)

    return value if op == "value" else vg


def _np_bce_logits(op: str, params: Params) -> Fn:
    # (1 - t) x + softplus(-x); d/dx = sigmoid(x) - t, sigmoid(x) = (1 + tanh(x / 2)) / 2.
    if op == "value":
        return lambda x, t: np.mean((1.0 - t) * x + np.logaddexp(0.0, -x))

    def vg(x: Array, t: Array) -> tuple[Any, Array]:
        v = np.mean((1.0 - t) * x + np.logaddexp(0.0, -x))
        return v, (0.5 * np.tanh(0.5 * x) + (0.5 - t)) * (1.0 / x.size)

    return vg


def _np_sigmoid_focal(op: str, params: Params) -> Fn:
    # torchvision's formula as NumPy writes it: p = sigmoid(x), BCE with logits, p_t, the
    # focusing factor and alpha_t; the gradient by the product rule, with
    # d(1 - p_t)/dx = (1 - 2t) p (1 - p).
    alpha, gamma = params["alpha"], params["gamma"]

    def parts(x: Array, t: Array) -> tuple[Array, Array, Array, Array, Array]:
        p = 0.5 + 0.5 * np.tanh(0.5 * x)
        ce = (1.0 - t) * x + np.logaddexp(0.0, -x)
        q = 1.0 - (p * t + (1.0 - p) * (1.0 - t))
        a = alpha * t + (1.0 - alpha) * (1.0 - t)
        return p, ce, q, a, a * q**gamma * ce

    if op == "value":
        return lambda x, t: np.mean(parts(x, t)[4])

    def vg(x: Array, t: Array) -> tuple[Any, Array]:
        p, ce, q, a, loss = parts(x, t)
        dq = (1.0 - 2.0 * t) * p * (1.0 - p)
        g = a * (gamma * q ** (gamma - 1.0) * dq * ce + q**gamma * (p - t))
        return np.mean(loss), g * (1.0 / x.size)

    return vg


def _np_bce(op: str, params: Params) -> Fn:
    def value(p: Array, t: Array) -> Any:
        lp = np.maximum(np.log(p), -100.0)
        lq = np.maximum(np.log1p(-p), -100.0)
        return -np.mean(t * lp + (1.0 - t) * lq)

    def vg(p: Array, t: Array) -> tuple[Any, Array]:
        return value(p, t), (p - t) / np.maximum(p * (1.0 - p), 1e-12) * (1.0 / p.size)

    return value if op == "value" else vg


def _np_poisson(op: str, params: Params) -> Fn:
    if op == "value":
        return lambda x, y: np.mean(np.exp(x) - y * x)

    def vg(x: Array, y: Array) -> tuple[Any, Array]:
        e = np.exp(x)
        return np.mean(e - y * x), (e - y) * (1.0 / x.size)

    return vg


def _np_gamma(op: str, params: Params) -> Fn:
    if op == "value":
        return lambda x, y: np.mean(x + y * np.exp(-x))

    def vg(x: Array, y: Array) -> tuple[Any, Array]:
        q = y * np.exp(-x)
        return np.mean(x + q), (1.0 - q) * (1.0 / x.size)

    return vg


def _np_tweedie(op: str, params: Params) -> Fn:
    p = params["power"]

    def vg(x: Array, y: Array) -> tuple[Any, Array]:
        a = np.exp((2.0 - p) * x)
        b = y * np.exp((1.0 - p) * x)
        return np.mean(a / (2.0 - p) - b / (1.0 - p)), (a - b) * (1.0 / x.size)

    if op == "value":
        return lambda x, y: vg(x, y)[0]
    return vg


def _np_cross_entropy(op: str, params: Params) -> Fn:
    def value(z: Array, y: Array) -> Any:
        m = z.max(axis=-1, keepdims=True)
        lse = np.log(np.exp(z - m).sum(axis=-1)) + m[:, 0]
        return np.mean(lse - np.take_along_axis(z, y[:, None], axis=-1)[:, 0])

    def vg(z: Array, y: Array) -> tuple[Any, Array]:
        m = z.max(axis=-1, keepdims=True)
        e = np.exp(z - m)
        s = e.sum(axis=-1, keepdims=True)
        rows = np.arange(z.shape[0])
        v = np.mean(np.log(s[:, 0]) + m[:, 0] - z[rows, y])
        e /= s
        e[rows, y] -= 1.0
        e *= 1.0 / z.shape[0]
        return v, e

    return value if op == "value" else vg


# --------------------------------------------------------------------------------------------
# PyTorch: its functional losses where they exist (their keywords are fastloss's)
# --------------------------------------------------------------------------------------------


def _torch_functional(name: str) -> Callable[[Any, Params], Fn]:
    def build(torch: Any, params: Params) -> Fn:
        fn: Fn = getattr(torch.nn.functional, name)
        return functools.partial(fn, **params) if params else fn

    return build


def _torch_log_cosh(torch: Any, params: Params) -> Fn:
    def f(x: Any, t: Any) -> Any:
        d = x - t
        return torch.logaddexp(d, -d).mean() - _LN2

    return f


def _torch_pinball(torch: Any, params: Params) -> Fn:
    q = params["q"]

    def f(x: Any, t: Any) -> Any:
        r = t - x
        return torch.maximum(q * r, (q - 1.0) * r).mean()

    return f


def _torch_sigmoid_focal(torch: Any, params: Params) -> Fn:
    # torchvision.ops.sigmoid_focal_loss, op for op.
    alpha, gamma = params["alpha"], params["gamma"]
    functional = torch.nn.functional

    def f(x: Any, t: Any) -> Any:
        p = torch.sigmoid(x)
        ce = functional.binary_cross_entropy_with_logits(x, t, reduction="none")
        p_t = p * t + (1 - p) * (1 - t)
        loss = ce * ((1 - p_t) ** gamma)
        alpha_t = alpha * t + (1 - alpha) * (1 - t)
        return (alpha_t * loss).mean()

    return f


def _torch_poisson(torch: Any, params: Params) -> Fn:
    # exp(x) - y·x: fastloss's poisson, as PyTorch defaults it (log_input, no Stirling term).
    return functools.partial(torch.nn.functional.poisson_nll_loss, log_input=True, full=False)


def _torch_gamma(torch: Any, params: Params) -> Fn:
    return lambda x, y: (x + y * torch.exp(-x)).mean()


def _torch_tweedie(torch: Any, params: Params) -> Fn:
    p = params["power"]

    def f(x: Any, y: Any) -> Any:
        a = torch.exp((2.0 - p) * x) / (2.0 - p)
        return (a - y * torch.exp((1.0 - p) * x) / (1.0 - p)).mean()

    return f


# --------------------------------------------------------------------------------------------
# JAX: optax's losses where it has them (optax is optional), jnp expressions otherwise
# --------------------------------------------------------------------------------------------


def _jax_mae(jax: Any, optax: Any, params: Params) -> Fn:
    return lambda x, t: jax.numpy.mean(jax.numpy.abs(x - t))


def _jax_mse(jax: Any, optax: Any, params: Params) -> Fn:
    if optax is not None:
        return lambda x, t: jax.numpy.mean(optax.squared_error(x, t))
    return lambda x, t: jax.numpy.mean((x - t) ** 2)


def _jax_smooth_l1(jax: Any, optax: Any, params: Params) -> Fn:
    jnp = jax.numpy
    beta = params["beta"]

    def f(x: Any, t: Any) -> Any:
        d = x - t
        ad = jnp.abs(d)
        return jnp.mean(jnp.where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta))

    return f


def _jax_huber(jax: Any, optax: Any, params: Params) -> Fn:
    jnp = jax.numpy
    delta = params["delta"]
    if optax is not None:
        return lambda x, t: jnp.mean(optax.huber_loss(x, t, delta=delta))

    def f(x: Any, t: Any) -> Any:
        d = x - t
        ad = jnp.abs(d)
        return jnp.mean(jnp.where(ad <= delta, 0.5 * d * d, delta * (ad - 0.5 * delta)))

    return f


def _jax_log_cosh(jax: Any, optax: Any, params: Params) -> Fn:
    jnp = jax.numpy
    if optax is not None:
        return lambda x, t: jnp.mean(optax.log_cosh(x, t))
    return lambda x, t: jnp.mean(jnp.logaddexp(x - t, t - x)) - _LN2


def _jax_pinball(jax: Any, optax: Any, params: Params) -> Fn:
    jnp = jax.numpy
    q = params["q"]

    def f(x: Any, t: Any) -> Any:
        r = t - x
        return jnp.mean(jnp.maximum(q * r, (q - 1.0) * r))

    return f


def _jax_bce_logits(jax: Any, optax: Any, params: Params) -> Fn:
    jnp = jax.numpy
    if optax is not None:
        return lambda x, t: jnp.mean(optax.sigmoid_binary_cross_entropy(x, t))
    return lambda x, t: jnp.mean((1.0 - t) * x + jnp.logaddexp(0.0, -x))


def _jax_sigmoid_focal(jax: Any, optax: Any, params: Params) -> Fn:
    jnp = jax.numpy
    alpha, gamma = params["alpha"], params["gamma"]
    if optax is not None:
        return lambda x, t: jnp.mean(optax.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma))

    def f(x: Any, t: Any) -> Any:
        p = jax.nn.sigmoid(x)
        ce = (1.0 - t) * x + jnp.logaddexp(0.0, -x)
        p_t = p * t + (1.0 - p) * (1.0 - t)
        a = alpha * t + (1.0 - alpha) * (1.0 - t)
        return jnp.mean(a * (1.0 - p_t) ** gamma * ce)

    return f


def _jax_bce(jax: Any, optax: Any, params: Params) -> Fn:
    jnp = jax.numpy

    def f(p: Any, t: Any) -> Any:
        lp = jnp.maximum(jnp.log(p), -100.0)
        lq = jnp.maximum(jnp.log1p(-p), -100.0)
        return -jnp.mean(t * lp + (1.0 - t) * lq)

    return f


def _jax_poisson(jax: Any, optax: Any, params: Params) -> Fn:
    jnp = jax.numpy
    return lambda x, y: jnp.mean(jnp.exp(x) - y * x)


def _jax_gamma(jax: Any, optax: Any, params: Params) -> Fn:
    jnp = jax.numpy
    return lambda x, y: jnp.mean(x + y * jnp.exp(-x))


def _jax_tweedie(jax: Any, optax: Any, params: Params) -> Fn:
    jnp = jax.numpy
    p = params["power"]

    def f(x: Any, y: Any) -> Any:
        a = jnp.exp((2.0 - p) * x) / (2.0 - p)
        return jnp.mean(a - y * jnp.exp((1.0 - p) * x) / (1.0 - p))

    return f


def _jax_cross_entropy(jax: Any, optax: Any, params: Params) -> Fn:
    jnp = jax.numpy
    if optax is not None:
        return lambda z, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z, y))

    def f(z: Any, y: Any) -> Any:
        logp = jax.nn.log_softmax(z, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))

    return f


#: registry name -> the benchmark's parameter values and peers for that loss.
ENTRIES: dict[str, Entry] = {
    "mae": Entry(numpy=_np_mae, torch=_torch_functional("l1_loss"), jax=_jax_mae),
    "mse": Entry(numpy=_np_mse, torch=_torch_functional("mse_loss"), jax=_jax_mse),
    "smooth_l1": Entry(
        params={"beta": 1.0},
        numpy=_np_smooth_l1,
        torch=_torch_functional("smooth_l1_loss"),
        jax=_jax_smooth_l1,
    ),
    "huber": Entry(
        params={"delta": 1.0},
        numpy=_np_huber,
        torch=_torch_functional("huber_loss"),
        jax=_jax_huber,
    ),
    "log_cosh": Entry(numpy=_np_log_cosh, torch=_torch_log_cosh, jax=_jax_log_cosh),
    "pinball": Entry(params={"q": 0.5}, numpy=_np_pinball, torch=_torch_pinball, jax=_jax_pinball),
    "binary_cross_entropy": Entry(
        numpy=_np_bce, torch=_torch_functional("binary_cross_entropy"), jax=_jax_bce
    ),
    "binary_cross_entropy_with_logits": Entry(
        numpy=_np_bce_logits,
        torch=_torch_functional("binary_cross_entropy_with_logits"),
        jax=_jax_bce_logits,
    ),
    "sigmoid_focal": Entry(
        params={"alpha": 0.25, "gamma": 2.0},
        numpy=_np_sigmoid_focal,
        torch=_torch_sigmoid_focal,
        jax=_jax_sigmoid_focal,
    ),
    "poisson": Entry(numpy=_np_poisson, torch=_torch_poisson, jax=_jax_poisson),
    "gamma": Entry(numpy=_np_gamma, torch=_torch_gamma, jax=_jax_gamma),
    "tweedie": Entry(
        params={"power": 1.5}, numpy=_np_tweedie, torch=_torch_tweedie, jax=_jax_tweedie
    ),
    "cross_entropy": Entry(
        numpy=_np_cross_entropy, torch=_torch_functional("cross_entropy"), jax=_jax_cross_entropy
    ),
}


def bench(loss: Loss, entries: Mapping[str, Entry] = ENTRIES) -> Bench:
    """``loss`` with its entry and arrays; ``LookupError`` naming it when something is missing."""
    entry = entries.get(loss.name)
    if entry is None:
        raise LookupError(
            f"the registry's loss {loss.name!r} has no entry in benches/peers.py: add its "
            "NumPy version (and PyTorch's and JAX's, or None) to ENTRIES"
        )
    unknown = sorted(set(entry.params) - {p.name for p in loss.params})
    if unknown:
        raise LookupError(
            f"benches/peers.py gives {loss.name!r} parameters it does not have: "
            f"{', '.join(unknown)}"
        )
    inputs = INPUTS.get((loss.input, loss.target))
    if inputs is None:
        raise LookupError(
            f"benches/peers.py has no arrays for {loss.name!r}'s input domain {loss.input!r} "
            f"and target domain {loss.target!r}: add them to INPUTS"
        )
    shapes, roofline = FAMILIES[loss.family]
    return Bench(loss=loss, entry=entry, inputs=inputs, shapes=shapes, roofline=roofline)


def benches(losses: Sequence[Loss] = LOSSES, entries: Mapping[str, Entry] = ENTRIES) -> list[Bench]:
    """Every registry loss as the benchmark runs it, in the registry's order.

    ``LookupError`` naming the loss for a registry loss without an entry, and for an entry
    without a registry loss (a loss renamed or removed in the registry but not here).
    """
    out = [bench(loss, entries) for loss in losses]
    stale = sorted(set(entries) - {loss.name for loss in losses})
    if stale:
        raise LookupError(
            f"benches/peers.py has entries for losses the registry does not have: "
            f"{', '.join(stale)}"
        )
    return out
