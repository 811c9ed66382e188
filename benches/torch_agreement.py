"""Agreement with PyTorch (float64): value and gradient of every loss PyTorch has.

Run in the benchmark environment (benches/README.md): python benches/torch_agreement.py
"""
# mypy: ignore-errors
# ruff: noqa: E501

import fastloss as fl
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(1)
worst = {}


def check(name, fv, tv, atol=0.0):
    fv = np.asarray(fv, dtype=np.float64)
    tv = np.asarray(tv, dtype=np.float64)
    ok = np.allclose(fv, tv, rtol=1e-12, atol=atol, equal_nan=True)
    err = np.max(np.abs(fv - tv) / np.maximum(np.abs(tv), 1e-300)) if fv.size else 0
    worst[name] = max(worst.get(name, 0), err)
    assert ok, (name, err)


for n in [1, 7, 33, 1000, 4099]:
    for shape in [(n,), (n, 3)]:
        x = rng.standard_normal(shape) * 3
        y = rng.standard_normal(shape)
        x.flat[0] = y.flat[0]  # a tie
        w = rng.random(shape)
        for red in ["mean", "sum", "none"]:
            cases = [
                ("mae", {}, lambda a, b, r: F.l1_loss(a, b, reduction=r)),
                ("mse", {}, lambda a, b, r: F.mse_loss(a, b, reduction=r)),
                (
                    "smooth_l1",
                    {"beta": 0.7},
                    lambda a, b, r: F.smooth_l1_loss(a, b, reduction=r, beta=0.7),
                ),
                (
                    "smooth_l1",
                    {"beta": 0.0},
                    lambda a, b, r: F.smooth_l1_loss(a, b, reduction=r, beta=0.0),
                ),
                (
                    "huber",
                    {"delta": 1.3},
                    lambda a, b, r: F.huber_loss(a, b, reduction=r, delta=1.3),
                ),
            ]
            for name, kw, tf in cases:
                xt = torch.tensor(x, requires_grad=True)
                yt = torch.tensor(y)
                out = tf(xt, yt, red)
                out.backward(torch.ones_like(out))
                v, g = getattr(fl, name + "_value_and_grad")(x, y, reduction=red, **kw)
                check(name + " value", v, out.detach().numpy())
                check(name + " grad", g, xt.grad.numpy())
            # BCE with logits (+ pos_weight) and BCE on probabilities
            t = rng.random(shape)
            pw = rng.random(shape[-1]) * 3
            for kw in [{}, {"pos_weight": pw}]:
                xt = torch.tensor(x, requires_grad=True)
                out = F.binary_cross_entropy_with_logits(
                    xt,
                    torch.tensor(t),
                    reduction=red,
                    pos_weight=torch.tensor(kw["pos_weight"]) if kw else None,
                )
                out.backward(torch.ones_like(out))
                v, g = fl.binary_cross_entropy_with_logits_value_and_grad(x, t, reduction=red, **kw)
                check("bce_logits value", v, out.detach().numpy())
                check(
                    "bce_logits grad",
                    g,
                    xt.grad.numpy(),
                    atol=1e-15
                    * (3 if kw else 1)
                    * (n if red == "sum" else 1)
                    / (1 if red != "mean" else x.size),
                )
            p = 1 / (1 + np.exp(-x))
            pt = torch.tensor(p, requires_grad=True)
            out = F.binary_cross_entropy(pt, torch.tensor(t), reduction=red)
            out.backward(torch.ones_like(out))
            v, g = fl.binary_cross_entropy_value_and_grad(p, t, reduction=red)
            check("bce value", v, out.detach().numpy())
            check("bce grad", g, pt.grad.numpy())
print(
    "torch",
    torch.__version__,
    "all within rtol 1e-12 (bce_logits grad: + atol 1e-15 x term scale, it cancels at its zero); worst relative differences:",
)
for k, e in sorted(worst.items()):
    print(f"  {k}: {e:.2e}")

# cross_entropy: every combination of target kind, class_weight, ignore_index, smoothing
import itertools  # noqa: E402

N, C = 64, 7
worst_v = worst_g = 0.0
for probs, cw, ii, eps in itertools.product([False, True], [None, "w"], [None, 2], [0.0, 0.1]):
    if probs and ii is not None:
        continue
    z = rng.standard_normal((N, C)) * 3
    w = rng.random(C) + 0.1 if cw else None
    if probs:
        t = rng.random((N, C))
        t /= t.sum(1, keepdims=True)
    else:
        t = rng.integers(0, C, N)
        t[:5] = 2
    for red in ["mean", "sum", "none"]:
        zt = torch.tensor(z, requires_grad=True)
        kw = dict(
            weight=torch.tensor(w) if w is not None else None, label_smoothing=eps, reduction=red
        )
        if ii is not None:
            kw["ignore_index"] = ii
        out = F.cross_entropy(zt, torch.tensor(t), **kw)
        out.backward(torch.ones_like(out))
        fk = dict(class_weight=w, label_smoothing=eps, reduction=red)
        if ii is not None:
            fk["ignore_index"] = ii
        v, g = fl.cross_entropy_value_and_grad(z, t, **fk)
        tv, tg = out.detach().numpy(), zt.grad.numpy()
        ev = np.max(np.abs(np.asarray(v) - tv) / np.maximum(np.abs(tv), 1e-300))
        # gradient: relative to the size of its terms (A·p and a are <= max weight)
        scale = (max(w) if w is not None else 1.0) * (1 / (N if red == "mean" else 1))
        eg = np.max(np.abs(g - tg)) / scale
        worst_v, worst_g = max(worst_v, ev), max(worst_g, eg)
        assert ev <= 1e-12 and eg <= 1e-12 * 1, (probs, cw, ii, eps, red, ev, eg)
print(
    f"cross_entropy vs torch {torch.__version__}: worst value rel diff {worst_v:.2e}, worst grad diff / term scale {worst_g:.2e}"
)
