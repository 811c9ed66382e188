"""Softmax cross-entropy's math, with PyTorch's semantics.

Per row z (the logits along ``axis``), target weights a_c: for a class index
y, a_c = (1-eps)·w_y·[c = y] + (eps/C)·w_c (all zero for an ignored row); for
probabilities t, a_c = w_c·((1-eps)·t_c + eps/C). With A = Σ a_c:

* value Σ a_c·(lse(z) - z_c), terms with a_c = 0 skipped; gradient
  A·softmax(z) - a; diagonal second derivative A·p·(1-p);
* ``from_logits=False``: value -Σ a_c·log max(p_c, tiny), gradient
  -a_c/max(p_c, tiny), second derivative a_c/max(p_c, tiny)²;
* "mean" divides by Σ s_i·w_{y_i} over the rows kept (class indices) or by
  Σ s_i (probabilities), s the sample weights.

The reference is float64 NumPy written here (rtol 1e-12 in float64; in
float32 the documented bound, 4 ulp of max(|lse|, 1) per unit of target
weight), gradients measured against the size of their terms (A·p and a,
which cancel at the target class; exp amplifies the rounding of z - m by
|z - m|). mpmath checks the ulp bound on a few rows. Then special values,
and what belongs to this loss alone among the concerns every loss has:
class_weight, ignore_index, the class axis, probability targets and
from_logits=False in errors, ``out=``, dtypes and SIMD levels.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastloss
import numpy as np
import numpy.typing as npt
import pytest
from losses import out_left_alone, shape_pattern
from reference import (
    F64,
    FLOATS,
    REDUCTIONS,
    Array,
    DType,
    api,
    assert_bitwise,
    exact_sum,
    mpmath,
)

NAME = "cross_entropy"
FUNCS = (
    "cross_entropy",
    "cross_entropy_grad",
    "cross_entropy_value_and_grad",
    "cross_entropy_grad_hess",
)
OUT_FUNCS = ("cross_entropy_grad", "cross_entropy_value_and_grad")
I64 = npt.NDArray[np.int64]


def ce(suffix: str = "") -> Callable[..., Any]:
    return api("cross_entropy" + suffix)


# -------------------------------------------------------------- reference --


@dataclass(frozen=True)
class Options:
    class_weight: F64 | None = None
    ignore_index: int | None = None
    label_smoothing: float = 0.0
    from_logits: bool = True

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.class_weight is not None:
            kw["class_weight"] = self.class_weight
        if self.ignore_index is not None:
            kw["ignore_index"] = self.ignore_index
        if self.label_smoothing:
            kw["label_smoothing"] = self.label_smoothing
        if not self.from_logits:
            kw["from_logits"] = False
        return kw


@dataclass(frozen=True)
class Rows:
    """The reference on rows (the class axis last), in float64."""

    value: F64  # per row, unweighted
    grad: F64  # per logit, unscaled
    hess: F64
    a: F64  # target weights
    lse: F64  # the scale of the documented bound (|value| for probabilities)
    cond: F64  # per logit: what the gradient's rounding is relative to
    denom: F64  # per row: its share of the mean's denominator (before s_i)


def reference_rows(z: F64, target: Array, opts: Options, dtype: DType) -> Rows:
    """Value, gradient, second derivative of every row of ``z`` (rows, C)."""
    rows, c = z.shape
    w = np.ones(c) if opts.class_weight is None else _in(opts.class_weight, dtype)
    eps = opts.label_smoothing
    if target.dtype.kind in "iu":
        y = target.astype(np.int64)
        kept = np.ones(rows, dtype=bool) if opts.ignore_index is None else y != opts.ignore_index
        yk = np.where(kept, y, 0)
        onehot = np.zeros((rows, c))
        onehot[np.arange(rows), yk] = 1.0
        a = (1.0 - eps) * onehot * w[yk][:, None] + eps / c * w[None, :]
        a[~kept] = 0.0
        denom = np.where(kept, w[yk], 0.0)
    else:
        t = _in(target, dtype)
        a = w[None, :] * ((1.0 - eps) * t + eps / c)
        denom = np.ones(rows)
    big_a = a.sum(axis=1)
    nz = a != 0.0
    with np.errstate(all="ignore"):
        if opts.from_logits:
            lowest = float(np.finfo(dtype).min)
            zc = np.where(z == -np.inf, lowest, z)
            bad = np.isnan(z).any(axis=1) | (z == np.inf).any(axis=1)
            m = np.where(np.isnan(zc), -np.inf, zc).max(axis=1, initial=lowest)
            e = np.exp(zc - m[:, None])
            s = e.sum(axis=1)
            # Σ a·(lse - z) = A·log s + Σ a·(m - z): no cancellation in lse - z.
            value = np.where(big_a != 0, big_a * np.log(s), 0.0) + np.where(
                nz, a * (m[:, None] - z), 0.0
            ).sum(axis=1)
            value = np.where(bad & (big_a != 0), np.nan, value)
            p = e / s[:, None]
            p[bad] = np.nan
            soft = (big_a != 0)[:, None]
            grad = np.where(soft, big_a[:, None] * p, 0.0) - a
            hess = np.where(soft, big_a[:, None] * p * (1.0 - p), 0.0)
            lse = m + np.log(s)
            # exp's argument rounded (|z - m| ulp) and s summed (C/16 terms
            # per lane at most).
            dist = np.abs(zc - m[:, None])
            cond = np.abs(big_a)[:, None] * p * (dist + 64.0 + c / 16) + 4.0 * np.abs(a)
        else:
            pm = np.maximum(z, float(np.finfo(dtype).tiny))
            pm = np.where(np.isnan(z), np.nan, pm)
            value = np.where(nz, -a * np.log(pm), 0.0).sum(axis=1)
            grad = np.where(nz, -a / pm, 0.0)
            hess = np.where(nz, a / pm / pm, 0.0)
            lse = np.abs(value)
            cond = 4.0 * np.abs(grad)
    return Rows(value, grad, hess, a, lse, cond, denom)


def _in(a: Any, dtype: DType) -> F64:
    """``a`` rounded to the compute dtype, as float64."""
    out: F64 = np.asarray(a).astype(dtype).astype(np.float64)
    return out


def to_rows(x: Array, axis: int) -> F64:
    """(rows, C) float64 view of ``x`` with the class axis ``axis`` last."""
    moved = np.moveaxis(np.asarray(x), axis, -1)
    out: F64 = moved.reshape(-1, moved.shape[-1]).astype(np.float64)
    return out


def from_rows(g: F64, shape: tuple[int, ...], axis: int) -> F64:
    moved_shape = list(shape)
    c = moved_shape.pop(axis)
    out: F64 = np.moveaxis(g.reshape((*moved_shape, c)), -1, axis)
    return out


@dataclass(frozen=True)
class Expected:
    value: float | F64
    grad: F64
    hess: F64
    value_tol: float | F64
    grad_tol: F64
    hess_tol: F64


def expected(
    x: Array,
    target: Array,
    opts: Options,
    *,
    axis: int,
    dtype: DType,
    reduction: str,
    weight: Array | None = None,
) -> Expected:
    """What a call must give (in float64) and how close, with the documented
    tolerances for values (float64: 1e-12 relative)."""
    shape = np.shape(x)
    z = _in(to_rows(x, axis), dtype)
    is_index = np.asarray(target).dtype.kind in "iu"
    t = np.asarray(target).reshape(-1) if is_index else to_rows(target, axis)
    r = reference_rows(z, t, opts, dtype)
    rows = z.shape[0]
    if weight is None:
        s = np.ones(rows)
    else:
        w = _in(weight, dtype)
        per = rows // max(w.size, 1) if w.size else 1
        s = np.repeat(w.reshape(-1), per) if w.size != rows else w.reshape(-1)
    eps = float(np.finfo(dtype).eps)
    with np.errstate(all="ignore"):
        spacing = np.spacing(np.maximum(np.abs(r.lse), 1.0).astype(dtype)).astype(np.float64)
        unit = 4.0 if dtype == np.float32 else 1e-12 / eps
        a_abs = np.abs(r.a).sum(axis=1)
        row_tol = np.abs(s) * (
            unit * spacing * np.maximum(a_abs, 1.0)
            + np.spacing(np.abs(r.value).astype(dtype)).astype(np.float64)
        )
        row_tol = np.where(a_abs == 0, 0.0, row_tol)
    row_shape = tuple(d for k, d in enumerate(shape) if k != axis % len(shape))
    with np.errstate(all="ignore"):
        each = s * r.value
    if reduction == "none":
        value: float | F64 = each.reshape(row_shape)
        vtol: float | F64 = row_tol.reshape(row_shape)
        scale = s
    else:
        total = exact_sum(each)
        vtol = exact_sum(row_tol)
        scale = s
        if reduction == "mean":
            d = exact_sum(s * r.denom)
            total = total / d if d != 0 else math.nan
            vtol = vtol / abs(d) if d != 0 else 0.0
            scale = s / d if d != 0 else s * math.nan
        value = total
        with np.errstate(all="ignore"):
            vtol = float(vtol) + 2.0 * float(np.spacing(np.asarray(abs(total)).astype(dtype)))
    tiny = float(np.finfo(dtype).tiny)
    with np.errstate(all="ignore"):
        sc = scale[:, None]
        grad = sc * r.grad
        hess = sc * r.hess
        if not opts.from_logits:
            # The kernel applies the scale first: -(s·a)/p, (s·a)/p/p.
            pm = np.maximum(z, tiny)
            grad = np.where(r.a != 0, -(sc * r.a) / pm, 0.0)
            hess = np.where(r.a != 0, (sc * r.a) / pm / pm, 0.0)
        gtol = np.abs(sc) * r.cond * eps * 2.0 + 2.0 * tiny
        htol = np.abs(sc) * r.cond * eps * 2.0 + 2.0 * tiny
        if not opts.from_logits:
            gtol = 8.0 * eps * np.abs(grad)
            htol = 8.0 * eps * np.abs(hess)
    return Expected(
        value,
        from_rows(grad, shape, axis),
        from_rows(hess, shape, axis),
        vtol,
        from_rows(gtol, shape, axis),
        from_rows(htol, shape, axis),
    )


def close(got: Any, want: Any, tol: Any, dtype: DType, what: str) -> None:
    """Same NaN and inf positions (after rounding ``want`` to ``dtype``), the
    rest within ``tol``."""
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    t = np.broadcast_to(np.asarray(tol, dtype=np.float64), w.shape)
    assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
    with np.errstate(over="ignore"):
        wr = w.astype(dtype).astype(np.float64)
    w = np.where(np.isinf(wr), wr, w)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{what}: NaN positions")
    inf = np.isinf(w) | np.isinf(g)
    np.testing.assert_array_equal(g[inf], w[inf], err_msg=f"{what}: infinities")
    fin = ~(np.isnan(w) | inf)
    err = np.abs(g[fin] - w[fin])
    bad = np.flatnonzero(err > t[fin])
    if bad.size:
        i = int(bad[np.argmax(err[bad] - t[fin][bad])])
        raise AssertionError(
            f"{what}: {bad.size} of {err.size} off; worst: got {g[fin][i]!r}, want "
            f"{w[fin][i]!r}, |err| {err[i]:.3g} > {t[fin][i]:.3g}"
        )


def check_call(
    x: Array,
    target: Array,
    opts: Options,
    *,
    axis: int,
    dtype: DType,
    weight: Array | None = None,
    what: str = "",
) -> None:
    """All four functions with every reduction against the reference, and
    value_and_grad / grad_hess bitwise equal to value and grad."""
    shape = np.shape(x)
    kw = {**opts.kwargs(), "axis": axis, "sample_weight": weight}
    for red in REDUCTIONS:
        tag = f"{what} reduction={red}"
        want = expected(x, target, opts, axis=axis, dtype=dtype, reduction=red, weight=weight)
        value = ce()(x, target, reduction=red, **kw)
        grad = ce("_grad")(x, target, reduction=red, **kw)
        vg = ce("_value_and_grad")(x, target, reduction=red, **kw)
        gh = ce("_grad_hess")(x, target, reduction=red, **kw)
        if red == "none":
            assert isinstance(value, np.ndarray) and value.dtype == dtype, f"{tag}: {value!r}"
        else:
            assert type(value) is float, f"{tag}: {type(value).__name__}"
            if dtype == np.float32 and math.isfinite(value):
                assert float(np.float32(value)) == value, f"{tag}: not a float32 value"
        close(value, want.value, want.value_tol, dtype, f"{tag} value")
        for label, arr in (("grad", grad), ("grad_hess[0]", gh[0]), ("grad_hess[1]", gh[1])):
            assert isinstance(arr, np.ndarray), f"{tag}: {label} is {type(arr).__name__}"
            assert arr.dtype == dtype and arr.shape == shape, f"{tag}: {label} {arr.dtype}"
            assert arr.flags.c_contiguous, f"{tag}: {label} not C-contiguous"
        close(grad, want.grad, want.grad_tol, dtype, f"{tag} grad")
        close(gh[1], want.hess, want.hess_tol, dtype, f"{tag} hess")
        assert_bitwise(gh[0], grad, f"{tag} grad_hess grad")
        assert isinstance(vg, tuple) and len(vg) == 2
        assert_bitwise(vg[0], value, f"{tag} value_and_grad value")
        assert_bitwise(vg[1], grad, f"{tag} value_and_grad grad")


# ------------------------------------------------------------------ data --


def logits(shape: tuple[int, ...], dtype: DType, seed: int, scale: float = 3.0) -> Array:
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(shape)).astype(dtype)


def probabilities(shape: tuple[int, ...], axis: int, dtype: DType, seed: int) -> Array:
    """Rows along ``axis`` summing to 1, with some exact zeros."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 1.0, shape)
    p[p < 0.15] = 0.0
    p = p / np.maximum(p.sum(axis=axis, keepdims=True), 1e-300)
    out: Array = p.astype(dtype)
    return out


def labels(shape: tuple[int, ...], axis: int, c: int, seed: int, ignore: int | None = None) -> I64:
    rows_shape = tuple(d for k, d in enumerate(shape) if k != axis % len(shape))
    rng = np.random.default_rng(seed + 1)
    y = rng.integers(0, c, size=rows_shape, dtype=np.int64)
    if ignore is not None and y.size > 1:
        y.reshape(-1)[1 :: max(2, y.size // 3)] = ignore
    return y


SHAPES_AXES = [((4, 5, 6), -1), ((4, 5, 6), 0), ((4, 5, 6), 1), ((7, 33), -1), ((3, 40), 1)]


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("shape_axis", SHAPES_AXES, ids=lambda s: f"{s[0]}ax{s[1]}")
@pytest.mark.parametrize(
    "kind,weighted,ignore,eps,from_logits",
    [
        combo
        for combo in itertools.product(
            ("index", "probs"), (False, True), (False, True), (0.0, 0.1), (True, False)
        )
        if not (combo[0] == "probs" and combo[2])
    ],
)
def test_against_reference(
    kind: str,
    weighted: bool,
    ignore: bool,
    eps: float,
    from_logits: bool,
    shape_axis: tuple[tuple[int, ...], int],
    dtype: DType,
) -> None:
    shape, axis = shape_axis
    c = shape[axis]
    seed = sum(map(ord, repr((kind, weighted, ignore, eps, from_logits, shape, axis)))) % 1000
    if from_logits:
        x = logits(shape, dtype, seed)
    else:
        x = probabilities(shape, axis, dtype, seed)
    cw = np.array([(0.5, 2.0, 0.0, 1.25)[k % 4] for k in range(c)]) if weighted else None
    opts = Options(
        class_weight=cw,
        ignore_index=-100 if ignore else None,
        label_smoothing=eps,
        from_logits=from_logits,
    )
    target: Array
    if kind == "index":
        target = labels(shape, axis, c, seed, ignore=-100 if ignore else None)
    else:
        target = probabilities(shape, axis, dtype, seed + 7)
    rows_shape = tuple(d for k, d in enumerate(shape) if k != axis % len(shape))
    weights: list[Array | None] = [
        None,
        np.random.default_rng(seed).uniform(0.0, 2.0, rows_shape),
        np.arange(1.0, rows_shape[0] + 1.0),
    ]
    for k, w in enumerate(weights):
        what = f"{kind} cw={weighted} ignore={ignore} eps={eps} logits={from_logits} w#{k}"
        check_call(x, target, opts, axis=axis, dtype=dtype, weight=w, what=what)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("c", [1, 2, 3, 16, 17, 31, 32, 33, 100, 1000, 32768])
def test_class_counts(c: int, dtype: DType) -> None:
    """Every tail of the row loops (and the short-row path up to 32)."""
    rows = max(2, min(40, 65536 // c))
    x = logits((rows, c), dtype, seed=c)
    y = labels((rows, c), -1, c, seed=c)
    check_call(x, y, Options(), axis=-1, dtype=dtype, what=f"C={c}")
    smooth = Options(label_smoothing=0.2, class_weight=np.linspace(0.5, 2.0, c))
    check_call(x, y, smooth, axis=-1, dtype=dtype, what=f"C={c} smooth weighted")
    p = probabilities((rows, c), -1, dtype, seed=c)
    check_call(x, p, Options(), axis=-1, dtype=dtype, what=f"C={c} probs")


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_one_row_and_scalar_label(dtype: DType) -> None:
    x = logits((7,), dtype, seed=3)
    check_call(x, np.array(4), Options(), axis=0, dtype=dtype, what="1-D")
    check_call(x, np.array(4), Options(), axis=-1, dtype=dtype, what="1-D")
    v = ce()(x, 4, reduction="none")
    assert isinstance(v, np.ndarray) and v.shape == () and v.dtype == dtype


def test_seed_example_probabilities() -> None:
    """A 0.4 prediction of the true class: -log(0.4)."""
    got = ce()(np.array([[0.6, 0.4]]), np.array([1]), from_logits=False)
    assert got == pytest.approx(-math.log(0.4), rel=1e-15)
    got32 = ce()(np.array([[0.6, 0.4]], dtype=np.float32), [1], from_logits=False)
    assert got32 == pytest.approx(-math.log(np.float32(0.4)), rel=1e-6)


def test_pytorch_semantics_by_hand() -> None:
    """Small cases worked out by hand from PyTorch's definitions."""
    z = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, -1.0], [2.0, -1.0, 0.0]])
    y = np.array([2, -100, 0])
    w = np.array([2.0, 1.0, 0.5])
    lse = np.log(np.exp(z).sum(axis=1))
    nll = lse - z[np.arange(3), [2, 0, 0]]
    # ignore_index and class weights: mean over kept rows by Σ w_y.
    got = ce()(z, y, class_weight=w, ignore_index=-100)
    want = (w[2] * nll[0] + w[0] * nll[2]) / (w[2] + w[0])
    assert got == pytest.approx(want, rel=1e-14)
    # label smoothing: (1-eps)·nll + eps/C·Σ_c w_c·(lse - z_c), same denominator.
    eps = 0.3
    smooth = (1 - eps) * w[[2, 0]] * nll[[0, 2]] + eps / 3 * (
        w * (lse[[0, 2], None] - z[[0, 2]])
    ).sum(axis=1)
    got = ce()(z, y, class_weight=w, ignore_index=-100, label_smoothing=eps)
    assert got == pytest.approx(smooth.sum() / (w[2] + w[0]), rel=1e-14)
    # probability targets: mean over all rows (N), not Σ weights.
    t = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    got = ce()(z, t, class_weight=w)
    want = (w[2] * nll[0] + w[0] * (lse[1] - z[1, 0]) + w[0] * nll[2]) / 3
    assert got == pytest.approx(want, rel=1e-14)
    # reduction="none": ignored rows are 0.
    each = ce()(z, y, ignore_index=-100, reduction="none")
    assert each[1] == 0.0 and each[0] == pytest.approx(nll[0], rel=1e-14)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_negative_class_and_sample_weights(dtype: DType) -> None:
    """Finite negative class weights and sample weights are weights (PyTorch and
    scikit-learn take them): the same formulas. When the mean's denominator Σ s_i·w_{y_i}
    is 0, the mean divides by 0 (±inf or nan), with no error."""
    shape = (40, 6)
    x = logits(shape, dtype, seed=5)
    cw = np.array([1.0, -0.5, 2.0, -1.25, 0.75, 3.0])
    rng = np.random.default_rng(5)
    y = labels(shape, -1, 6, seed=5)
    y[:6] = np.arange(6)
    for kind in ("index", "probs"):
        target = y if kind == "index" else probabilities(shape, -1, dtype, 6)
        for eps in (0.0, 0.1):
            for w in (None, rng.uniform(-1.0, 2.0, 40)):
                opts = Options(class_weight=cw, label_smoothing=eps)
                what = f"{kind} eps={eps} weighted={w is not None}"
                check_call(x, target, opts, axis=-1, dtype=dtype, weight=w, what=what)
    z = logits((2, 2), dtype, seed=6)
    for red in ("mean",):
        v = ce()(z, np.array([0, 1]), class_weight=[1.0, -1.0], reduction=red)
        assert not math.isfinite(v), v
        g = ce("_grad")(z, np.array([0, 1]), class_weight=[1.0, -1.0])
        assert not np.isfinite(g).all(), g


def test_grad_hess_diagonal_by_finite_differences() -> None:
    """The gradient and the diagonal of the Hessian are derivatives."""
    rng = np.random.default_rng(5)
    z = rng.standard_normal((3, 6))
    y = np.array([1, 4, 0])
    kw: dict[str, Any] = {"class_weight": np.linspace(0.5, 1.5, 6), "label_smoothing": 0.1}
    g, h = ce("_grad_hess")(z, y, reduction="sum", **kw)
    step = 1e-5
    for i, c in itertools.product(range(3), range(6)):
        zp, zm = z.copy(), z.copy()
        zp[i, c] += step
        zm[i, c] -= step
        fd_g = (ce()(zp, y, reduction="sum", **kw) - ce()(zm, y, reduction="sum", **kw)) / (
            2 * step
        )
        gp = ce("_grad")(zp, y, reduction="sum", **kw)[i, c]
        gm = ce("_grad")(zm, y, reduction="sum", **kw)[i, c]
        assert g[i, c] == pytest.approx(fd_g, abs=1e-8)
        assert h[i, c] == pytest.approx((gp - gm) / (2 * step), abs=1e-8)
    # from_logits=False: d/dp of -a·log p.
    p = np.array([[0.2, 0.5, 0.3]])
    g, h = ce("_grad_hess")(p, np.array([1]), from_logits=False, reduction="sum")
    np.testing.assert_allclose(g, [[0.0, -2.0, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(h, [[0.0, 4.0, 0.0]], rtol=1e-15)


# --------------------------------------------------------- special values --


def test_all_rows_ignored_and_empty() -> None:
    z = logits((4, 5), np.float64, seed=1)
    y = np.full(4, -1)
    assert math.isnan(ce()(z, y, ignore_index=-1))
    assert ce()(z, y, ignore_index=-1, reduction="sum") == 0.0
    v, g = ce("_value_and_grad")(z, y, ignore_index=-1)
    assert math.isnan(v) and np.all(g == 0.0)
    g, h = ce("_grad_hess")(z, y, ignore_index=-1, reduction="mean")
    assert np.all(g == 0.0) and np.all(h == 0.0)
    empty = np.zeros((0, 5))
    none = np.zeros(0, dtype=np.int64)
    assert math.isnan(ce()(empty, none))
    assert ce()(empty, none, reduction="sum") == 0.0
    assert ce()(empty, none, reduction="none").shape == (0,)
    assert ce("_grad")(empty, none).shape == (0, 5)
    assert ce()(np.zeros((0, 0)), none, reduction="sum") == 0.0
    assert math.isnan(ce()(empty, np.zeros((0, 5))))


@pytest.mark.parametrize("c", [7, 1000])
def test_large_logits_float32(c: int) -> None:
    """Logits of ±1e4 in float32: finite, and within the documented bound."""
    rng = np.random.default_rng(c)
    x = (np.where(rng.uniform(size=(9, c)) < 0.5, -1e4, 1e4) + rng.uniform(size=(9, c))).astype(
        np.float32
    )
    y = labels((9, c), -1, c, seed=c)
    for opts in (Options(), Options(label_smoothing=0.1)):
        for f in FUNCS:
            for red in REDUCTIONS:
                out = ce(f[len("cross_entropy") :])(x, y, reduction=red, **opts.kwargs())
                for part in out if isinstance(out, tuple) else (out,):
                    assert np.all(np.isfinite(part)), f"{f} {red} {opts}"
        check_call(x, y, opts, axis=-1, dtype=np.float32, what=f"±1e4 C={c} {opts}")
        check_call(x.astype(np.float64), y, opts, axis=-1, dtype=np.float64, what="±1e4 f64")


@pytest.mark.parametrize("c", [5, 40])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_infinite_and_nan_logits(dtype: DType, c: int) -> None:
    inf = math.inf
    z = logits((6, c), np.float64, seed=2)
    y = np.full(6, 3)
    z[1, 1] = -inf  # -inf at a zero-weight class: an exact 0 of the softmax
    z[2, 3] = -inf  # at the target: +inf
    z[3, :] = -inf  # all -inf: +inf, uniform softmax
    z[4, 2] = inf  # +inf: NaN row
    z[5, 0] = math.nan  # NaN row
    x = z.astype(dtype)
    v = ce()(x, y, reduction="none")
    g = ce("_grad")(x, y, reduction="sum")
    assert np.isfinite(v[0]) and np.isfinite(v[1])
    assert g[1, 1] == 0.0 and np.all(np.isfinite(g[:4]))
    assert v[2] == inf and g[2, 3] == -1.0
    assert v[3] == inf
    np.testing.assert_allclose(g[3], np.full(c, 1.0 / c) - (np.arange(c) == 3), atol=1e-6)
    assert np.isnan(v[4]) and np.all(np.isnan(g[4]))
    assert np.isnan(v[5]) and np.all(np.isnan(g[5]))
    # Smoothing gives the -inf logit a positive weight.
    vs = ce()(x, y, label_smoothing=0.1, reduction="none")
    assert np.isfinite(vs[0]) and vs[1] == inf
    # Ignored rows are exactly zero whatever their logits.
    vi = ce()(x, y, ignore_index=3, reduction="none")
    gi, hi = ce("_grad_hess")(x, y, ignore_index=3)
    assert np.all(vi == 0.0) and np.all(gi == 0.0) and np.all(hi == 0.0)
    check_call(x, y, Options(), axis=-1, dtype=dtype, what="specials")
    check_call(x, y, Options(label_smoothing=0.1), axis=-1, dtype=dtype, what="specials eps")


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_mpmath_rows(dtype: DType) -> None:
    """A few rows' values within 4 ulp of max(|lse|, 1) of the exact value."""
    rng = np.random.default_rng(11)
    cases = [
        (rng.standard_normal(10) * 3, 4),
        (rng.standard_normal(1000) * 20, 17),
        (np.array([1e4, -1e4, 1e4 - 3.5, 0.0]), 2),
        (np.array([-50.0, -50.0, -50.0]), 0),
        (np.linspace(-30, 30, 77), 76),
        (rng.standard_normal(40000) * 5, 123),
    ]
    for z, y in cases:
        x = z.astype(dtype)
        got = ce()(x[None, :], np.array([y]), reduction="sum")
        zs = [mpmath.mpf(float(v)) for v in x]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in zs))
        exact = lse - zs[y]
        scale = max(abs(float(lse)), 1.0)
        ulp = float(np.spacing(np.asarray(scale, dtype=dtype)))
        err = abs(mpmath.mpf(got) - exact) / ulp
        assert err <= 4.0, f"C={z.size}: {float(err):.2f} ulp of max(|lse|, 1)"


# --------------------------------------------------------- inputs, dtypes --


def test_probability_targets_promote_and_the_class_axis_keeps_its_layout() -> None:
    """Class indices do not take part in the compute dtype; float targets (probabilities)
    promote with the input. The gradient comes back in the input's layout, whatever the
    class axis."""
    x = logits((6, 5), np.float64, seed=4)
    x32 = x.astype(np.float32)
    p = probabilities((6, 5), -1, np.float64, seed=1)
    assert ce("_grad")(x32, p).dtype == np.float64
    assert ce("_grad")(x32, p.astype(np.float32)).dtype == np.float32
    x3 = logits((3, 4, 5), np.float32, seed=9)
    y3 = labels((3, 4, 5), 1, 4, seed=9)
    g_axis1 = ce("_grad")(x3, y3, axis=1)
    g_last = ce("_grad")(np.ascontiguousarray(np.moveaxis(x3, 1, -1)), y3)
    assert_bitwise(g_axis1, np.ascontiguousarray(np.moveaxis(g_last, -1, 1)), "axis=1")
    assert_bitwise(ce("_grad")(x3, y3, axis=-2), g_axis1, "axis=-2")


def test_error_messages() -> None:
    x = logits((4, 5), np.float64, seed=1)
    y = np.array([0, 4, 7, 1])
    with pytest.raises(ValueError, match=r"label 7 at index \(2,\)[\s\S]*C = 5"):
        ce()(x, y)
    y2 = np.array([[0, 1], [-3, 2]])
    with pytest.raises(ValueError, match=r"label -3 at index \(1, 0\)"):
        ce()(logits((2, 2, 5), np.float64, seed=2), y2)
    with pytest.raises(ValueError, match=r"label -100"):
        ce()(x, np.array([0, 1, -100, 2]))
    ce()(x, np.array([0, 1, -100, 2]), ignore_index=-100)
    with pytest.raises(ValueError, match=r"class_weight[\s\S]*C = 5[\s\S]*\(3,\)"):
        ce()(x, np.array([0, 1, 2, 3]), class_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"class_weight[\s\S]*-inf[\s\S]*index 2"):
        ce()(x, np.array([0, 1, 2, 3]), class_weight=[1.0, 2.0, -math.inf, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"class_weight[\s\S]*(?i:nan)"):
        ce()(x, np.array([0, 1, 2, 3]), class_weight=[1.0, math.nan, 1.0, 1.0, 1.0])
    big = [1e308, 1e308, 1.0, 1.0, 1.0]  # each finite, their sum is not
    with pytest.raises(ValueError, match=r"class_weight[\s\S]*sum to inf"):
        ce()(logits((4, 5), np.float64, seed=3), np.array([0, 1, 2, 3]), class_weight=big)
    with pytest.raises(
        ValueError, match=shape_pattern((4, 4)) + r"[\s\S]*" + shape_pattern((4, 5))
    ):
        ce()(x, np.zeros((4, 4)))
    with pytest.raises(ValueError, match=shape_pattern((5,)) + r"[\s\S]*" + shape_pattern((4, 5))):
        ce()(x, np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match=shape_pattern((4, 1))):
        ce()(x, np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(TypeError, match=r"target[\s\S]*bool"):
        ce()(x, np.array([True, False, True, True]))
    with pytest.raises(ValueError, match="ignore_index"):
        ce()(x, probabilities((4, 5), -1, np.float64, 0), ignore_index=-100)
    with pytest.raises(ValueError, match=r"C = 0"):
        ce()(np.zeros((3, 0)), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"axis 2[\s\S]*2 dimensions"):
        ce()(x, np.zeros(4, dtype=np.int64), axis=2)
    with pytest.raises(ValueError, match=r"axis -3"):
        ce()(x, np.zeros(4, dtype=np.int64), axis=-3)
    with pytest.raises(ValueError, match="dimension"):
        ce()(np.float64(1.0), np.int64(0))
    with pytest.raises(ValueError, match=r"sample_weight[\s\S]*" + shape_pattern((5,))):
        ce()(x, np.zeros(4, dtype=np.int64), sample_weight=np.ones(5))
    with pytest.raises(ValueError, match=r"sample_weight[\s\S]*inf[\s\S]*index 1"):
        ce()(x, np.zeros(4, dtype=np.int64), sample_weight=[1.0, math.inf, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"(?i)sample_weight[\s\S]*nan"):
        ce()(x, np.zeros(4, dtype=np.int64), sample_weight=[1.0, 1.0, math.nan, 1.0])
    with pytest.raises(ValueError, match=r"reduction[\s\S]*avg"):
        ce()(x, np.zeros(4, dtype=np.int64), reduction="avg")


# ------------------------------------------------------------------ out= --


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("func", OUT_FUNCS)
def test_out_valid_with_the_class_axis_elsewhere(func: str, dtype: DType) -> None:
    for shape, axis in (((3, 7, 4), 1), ((5, 8), 0)):
        x = logits(shape, dtype, seed=1)
        y = labels(shape, axis, shape[axis], seed=1)
        for red in REDUCTIONS:
            out = np.full(shape, 7.25, dtype=dtype)
            want = ce(func[len("cross_entropy") :])(x, y, axis=axis, reduction=red)
            got = ce(func[len("cross_entropy") :])(x, y, axis=axis, reduction=red, out=out)
            if isinstance(want, tuple):
                assert got[1] is out
                assert_bitwise(got[0], want[0], f"{func} out= value")
                assert_bitwise(got[1], want[1], f"{func} out= grad")
            else:
                assert got is out
                assert_bitwise(got, want, f"{func} out= {red}")


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("func", OUT_FUNCS)
def test_out_rejected_before_writing(func: str, dtype: DType) -> None:
    """A bad class_weight, or out= in the input's layout with the class axis first: a
    ValueError, and ``out`` keeps its sentinel."""
    f = ce(func[len("cross_entropy") :])
    rows, c = 300, 40
    x = logits((rows, c), dtype, seed=2)
    y = labels((rows, c), -1, c, seed=2)

    def sentinel(shape: tuple[int, ...] = (rows, c)) -> Array:
        return np.full(shape, 7.25, dtype=dtype)

    xo = x.copy()
    cases: list[tuple[str, Callable[[Array], Any], Array]] = [
        ("bad class_weight", lambda o: f(x, y, class_weight=np.full(c, np.nan), out=o), sentinel()),
        ("class_weight length", lambda o: f(x, y, class_weight=np.ones(3), out=o), sentinel()),
        ("moved shape", lambda o: f(x, y[:c], axis=0, out=o), sentinel((c, rows))),
        ("out is input, axis 0", lambda o: f(o, y[:c], axis=0, out=o), xo),
    ]
    failures = out_left_alone(cases)
    assert not failures, "; ".join(failures)


def test_typed_calls() -> None:
    """The stubs' overloads (checked by mypy --strict on this file)."""
    x = np.zeros((2, 3), dtype=np.float32)
    y = np.array([0, 2], dtype=np.int64)
    v: float = fastloss.cross_entropy(x, y)
    each: npt.NDArray[np.float32] = fastloss.cross_entropy(x, y, reduction="none")
    g: npt.NDArray[np.float32] = fastloss.cross_entropy_grad(x, y, axis=-1)
    vg: tuple[float, npt.NDArray[np.float32]] = fastloss.cross_entropy_value_and_grad(x, y)
    gh = fastloss.cross_entropy_grad_hess(x, y, class_weight=[1.0, 2.0, 3.0])
    h: npt.NDArray[np.float32] = gh[1]
    v64: float = fastloss.cross_entropy([[0.6, 0.4]], [1], from_logits=False, ignore_index=-1)
    p: npt.NDArray[np.floating[Any]] = fastloss.cross_entropy_grad(
        x.astype(np.float64), x.astype(np.float64), label_smoothing=0.1
    )
    assert v == pytest.approx(math.log(3.0)) and each.shape == (2,) and g.shape == (2, 3)
    assert vg[1].dtype == np.float32 and h.dtype == np.float32 and p.dtype == np.float64
    assert v64 == pytest.approx(-math.log(0.4))


SIMD_SCRIPT = r"""
import hashlib, json, sys
import numpy as np
import fastloss

def digest(a):
    a = np.array(a, copy=True)
    a[np.isnan(a)] = np.nan
    return hashlib.sha256(a.tobytes()).hexdigest()[:24]

rng = np.random.default_rng(3)
out = {"simd": fastloss.info()["simd"]}
for rows, c in ((50, 7), (20, 100), (3, 1000)):
    p = rng.dirichlet(np.ones(c), rows)
    y = rng.integers(0, c, rows)
    for dt in (np.float32, np.float64):
        pd = p.astype(dt)
        results = []
        for target in (y, pd):
            v, g = fastloss.cross_entropy_value_and_grad(pd, target, from_logits=False)
            g2, h = fastloss.cross_entropy_grad_hess(pd, target, from_logits=False)
            e = fastloss.cross_entropy(pd, target, from_logits=False, reduction="none")
            results += [v.hex(), digest(g), digest(g2), digest(h), digest(e)]
        out[f"{rows}x{c} {dt.__name__}"] = results
print(json.dumps(out))
"""


def test_simd_levels_give_the_same_bits() -> None:
    """from_logits=False (probabilities as input) at every SIMD level this machine has
    (forced with FASTLOSS_SIMD)."""
    levels = api("info")()["simd_available"]
    runs = {}
    for level in levels:
        env = {**os.environ, "FASTLOSS_SIMD": level}
        done = subprocess.run(
            [sys.executable, "-c", SIMD_SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        runs[level] = json.loads(done.stdout)
        assert runs[level].pop("simd") == level
    first = levels[0]
    for level in levels[1:]:
        assert runs[level] == runs[first], f"{level} differs from {first}"
