"""How `fastloss.dask` turns a loss over dask arrays into a graph of fastloss kernel calls.

Every array is cut into the same blocks of rows (axis 0 of the per-element or per-row loss).
A reduced value is, per block, the kernel's weighted sum and the mean's denominator (Σw, n, or
for cross-entropy Σ s_i·w_{y_i} over rows that are not ignored), both in float64; the pairs are
added by a pairwise tree over the block index (dask's tree reduction with ``split_every=2``), so
the result depends on the blocks alone, never on which worker finishes first. A reduced gradient
first reduces the denominator alone (from the weights and labels; the input is not read), then
scales each block by it exactly as the in-memory kernel does.

The functions run on the workers: they are module-level, and only fastloss and NumPy are needed
to unpickle their arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import dask
import dask.array as da
import numpy as np
from dask.array import Array
from numpy.typing import NDArray

import fastloss

#: Blocks combined per node of the reduction tree: a pairwise tree, fixed by the block count.
SPLIT_EVERY = 2

#: A dask array, or anything NumPy turns into an array (dask arrays are not typed enough to say
#: more here; the public signatures in fastloss.dask say it).
Input = Any

_Float = NDArray[np.floating[Any]]


@dataclass(frozen=True)
class Loss:
    """A loss and its parameters, as the in-memory function takes them."""

    name: str
    params: dict[str, Any]

    @property
    def softmax(self) -> bool:
        return self.name == "cross_entropy"

    def fn(self, suffix: str = "") -> Callable[..., Any]:
        f: Callable[..., Any] = getattr(fastloss, self.name + suffix)
        return f


@dataclass(frozen=True)
class Layout:
    """What the block functions need to know besides the blocks: all of it small."""

    loss: Loss
    #: The compute dtype (what the in-memory call computes and returns arrays in).
    dtype: np.dtype[Any]
    #: Loss elements (per-row losses for cross-entropy) in all: the unweighted denominator.
    count: int
    #: Cross-entropy: targets are class indices.
    index: bool


@dataclass(frozen=True)
class Prepared:
    """The arguments of a call as blocks aligned along axis 0 (classes last for cross-entropy)."""

    layout: Layout
    x: Array
    t: Array
    w: Array | None
    #: The first row of every block, one per block, for error messages.
    starts: Array
    #: Cross-entropy: where the class axis goes back to in gradients (None: it is last).
    class_axis: int | None


# ------------------------------------------------------------------ preparing a call --


def _array(obj: Input, name: str) -> Array | np.ndarray[Any, Any]:
    if isinstance(obj, Array):
        return obj
    try:
        return np.asarray(obj)
    except Exception as e:  # NumPy raises many types for objects it cannot convert
        raise TypeError(f"{name} cannot be converted to an array: {e}") from e


def _shape_str(shape: tuple[int, ...]) -> str:
    return f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"


def _check_known(a: Array | np.ndarray[Any, Any], name: str) -> None:
    if any(isinstance(s, float) and np.isnan(s) for s in a.shape):
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {a.shape}); call {name}.compute_chunk_sizes() "
            "first"
        )


def _check_shapes(
    loss: Loss,
    x: Array | np.ndarray[Any, Any],
    t: Array | np.ndarray[Any, Any],
    w: Array | np.ndarray[Any, Any] | None,
    rows_shape: tuple[int, ...],
) -> None:
    """The in-memory checks of shapes, on the full shapes (the probe sees none of axis 0)."""
    if loss.softmax:
        want = rows_shape if t.dtype.kind in "iu" else x.shape
        if t.shape != want:
            raise ValueError(
                f"target shape {_shape_str(t.shape)} does not fit input shape "
                f"{_shape_str(x.shape)} with axis={loss.params['axis']}: class indices need "
                f"shape {_shape_str(rows_shape)}, probabilities shape {_shape_str(x.shape)}"
            )
    elif t.shape != x.shape:
        raise ValueError(
            f"input shape {_shape_str(x.shape)} and target shape {_shape_str(t.shape)} differ: "
            "fastloss does not broadcast"
        )
    if (
        w is not None
        and w.shape != rows_shape
        and not (w.ndim == 1 and len(rows_shape) > 0 and w.shape[0] == rows_shape[0])
    ):
        first = f" or ({rows_shape[0]},)" if rows_shape else ""
        raise ValueError(
            f"sample_weight has shape {_shape_str(w.shape)}; expected the "
            f"{'per-row loss' if loss.softmax else 'input'} shape {_shape_str(rows_shape)}{first}"
        )


def _probe(
    loss: Loss,
    reduction: str,
    arrays: list[Array | np.ndarray[Any, Any] | None],
    cut: bool,
) -> np.dtype[Any]:
    """Runs the in-memory function on zero-filled stand-ins (no rows when `cut`): its own checks
    of dtypes and parameters, before any graph is built. Returns the compute dtype."""

    def stand_in(a: Array | np.ndarray[Any, Any] | None) -> np.ndarray[Any, Any] | None:
        if a is None:
            return None
        shape = (0, *a.shape[1:]) if cut else a.shape
        return np.zeros(shape, dtype=a.dtype)

    x, t, w = (stand_in(a) for a in arrays)
    if reduction != "none":
        loss.fn()(x, t, reduction=reduction, sample_weight=w, **loss.params)
    out: _Float = loss.fn()(x, t, reduction="none", sample_weight=w, **loss.params)
    return out.dtype


def _reduction(reduction: object) -> str:
    if not isinstance(reduction, str):
        raise TypeError(f"reduction must be a str, got {type(reduction).__name__}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _class_axis(axis: object, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if ndim == 0:
        raise ValueError("input must have at least one dimension (the class axis), got a 0-d array")
    a = int(axis) + ndim if axis < 0 else int(axis)
    if not 0 <= a < ndim:
        raise ValueError(
            f"axis {axis} is out of range for input with {ndim} dimension"
            + ("" if ndim == 1 else "s")
        )
    return a


def _row_chunks(arrays: list[Array | np.ndarray[Any, Any] | None]) -> tuple[int, ...]:
    """The blocks of rows: those of the first dask array (the input's when it is one)."""
    for a in arrays:
        if isinstance(a, Array):
            return tuple(int(c) for c in a.chunks[0])
    x = arrays[0]
    assert x is not None
    chunks = da.core.normalize_chunks(  # type: ignore[no-untyped-call]
        ("auto",) + (-1,) * (x.ndim - 1), x.shape, dtype=x.dtype
    )
    return tuple(int(c) for c in chunks[0])


def _aligned(a: Array | np.ndarray[Any, Any], rows: tuple[int, ...]) -> Array:
    chunks = (rows, *((d,) for d in a.shape[1:]))
    if isinstance(a, Array):
        if a.chunks == chunks:
            return a
        out: Array = a.rechunk(chunks)  # type: ignore[no-untyped-call]
        return out
    arr: Array = da.from_array(a, chunks=chunks)  # type: ignore[no-untyped-call]
    return arr


def prepare(
    loss: Loss, input: Input, target: Input, sample_weight: Input | None, reduction: str
) -> Prepared | tuple[Loss, list[Any], np.dtype[Any]]:
    """Checks a call and cuts its arrays into aligned blocks of rows. A call whose loss is a
    single number (0-d input; 1-D input of cross-entropy) has no rows to cut: it comes back as
    the loss, its arguments and the compute dtype, for one task that runs the in-memory call."""
    x = _array(input, "input")
    t = _array(target, "target")
    w = None if sample_weight is None else _array(sample_weight, "sample_weight")
    for a, name in ((x, "input"), (t, "target"), (w, "sample_weight")):
        if a is not None:
            _check_known(a, name)
    class_axis: int | None = None
    if loss.softmax:
        axis = _class_axis(loss.params["axis"], x.ndim)
        rows_shape = x.shape[:axis] + x.shape[axis + 1 :]
    else:
        rows_shape = x.shape
    _check_shapes(loss, x, t, w, rows_shape)
    arrays: list[Array | np.ndarray[Any, Any] | None] = [x, t, w]
    if len(rows_shape) == 0:
        return loss, arrays, _probe(loss, reduction, arrays, cut=False)
    index = False
    if loss.softmax:
        index = t.dtype.kind in "iu"
        params = dict(loss.params)
        if axis != x.ndim - 1:
            # The kernel moves the classes last too (a copy); rows are then along axis 0.
            class_axis = axis
            x = x.rechunk({axis: -1}) if isinstance(x, Array) else x  # type: ignore[no-untyped-call]
            x = da.moveaxis(x, axis, -1) if isinstance(x, Array) else np.moveaxis(x, axis, -1)
            if not index:
                t = t.rechunk({axis: -1}) if isinstance(t, Array) else t  # type: ignore[no-untyped-call]
                t = da.moveaxis(t, axis, -1) if isinstance(t, Array) else np.moveaxis(t, axis, -1)
        params["axis"] = -1
        if params.get("class_weight") is not None:
            params["class_weight"] = np.asarray(params["class_weight"])
        loss = Loss(loss.name, params)
        arrays = [x, t, w]
    elif loss.params.get("pos_weight") is not None:
        loss = Loss(loss.name, {**loss.params, "pos_weight": np.asarray(loss.params["pos_weight"])})
    dtype = _probe(loss, reduction, arrays, cut=True)
    rows = _row_chunks(arrays)
    count = int(np.prod(rows_shape))
    starts = np.cumsum((0, *rows[:-1]), dtype=np.int64)
    return Prepared(
        layout=Layout(loss, dtype, count, index),
        x=_aligned(x, rows),
        t=_aligned(t, rows),
        w=None if w is None else _aligned(w, rows),
        starts=da.from_array(starts, chunks=1),  # type: ignore[no-untyped-call]
        class_axis=class_axis,
    )


# ------------------------------------------------------------------- block functions --


def _aligned_memory(a: NDArray[Any]) -> NDArray[Any]:
    """`a`, copied when its data is not aligned to its dtype. Blocks that arrive through
    dask.distributed's serialization can sit at any byte offset of a message, and the kernels
    borrow only aligned memory (for such an array fastloss 0.1.0 panics instead of copying)."""
    return a if a.flags.aligned else np.array(a)


def _params(loss: Loss) -> dict[str, Any]:
    """The loss parameters, their arrays (class_weight, pos_weight) in aligned memory."""
    return {
        k: _aligned_memory(v) if isinstance(v, np.ndarray) else v for k, v in loss.params.items()
    }


def _kernel(
    lay: Layout,
    suffix: str,
    start: NDArray[np.int64],
    x: _Float,
    t: NDArray[Any],
    w: NDArray[Any] | None,
    reduction: str,
) -> Any:
    """One in-memory call on a block; its errors say which rows the block holds."""
    x, t = _aligned_memory(x), _aligned_memory(t)
    w = None if w is None else _aligned_memory(w)
    try:
        return lay.loss.fn(suffix)(x, t, reduction=reduction, sample_weight=w, **_params(lay.loss))
    except (ValueError, TypeError) as e:
        first = int(start[0])
        raise type(e)(f"{e} (in the block of rows {first}..{first + x.shape[0]})") from None


def _block_denominator(lay: Layout, t: NDArray[Any], w: NDArray[Any] | None) -> float:
    """The block's share of the mean's denominator, as the kernel computes the whole one: the
    weights in the compute dtype, summed in float64."""
    rows = t.shape[:-1] if lay.loss.softmax and not lay.index else t.shape
    if w is None:
        weights: NDArray[np.float64] | None = None
    else:
        weights = w.astype(lay.dtype).astype(np.float64)
        if weights.shape != rows:
            weights = np.broadcast_to(weights.reshape(-1, *(1,) * (len(rows) - 1)), rows)
    if lay.loss.softmax and lay.index:
        labels = t.astype(np.int64)
        ignore = lay.loss.params.get("ignore_index")
        keep = labels != ignore if ignore is not None else np.ones(rows, dtype=bool)
        cw = lay.loss.params.get("class_weight")
        terms = np.where(keep, 1.0, 0.0) if weights is None else np.where(keep, weights, 0.0)
        if cw is not None:
            cw64 = np.asarray(cw).astype(lay.dtype).astype(np.float64)
            # Labels out of range are the kernel's to report; here they weigh nothing.
            valid = keep & (labels >= 0) & (labels < cw64.shape[0])
            terms = np.where(valid, terms * cw64[np.where(valid, labels, 0)], 0.0)
        return float(np.sum(terms, dtype=np.float64))
    if weights is None:
        return float(np.prod(rows))
    return float(np.sum(weights, dtype=np.float64))


def block_sums(
    x: _Float, t: NDArray[Any], w: NDArray[Any] | None, start: NDArray[np.int64], lay: Layout
) -> NDArray[np.float64]:
    """(sum of w * loss, denominator) of a block, shape (1, 2)."""
    if lay.dtype == np.float32 and x.size:
        # The kernel rounds a reduced float32 value to float32; its per-element values
        # summed in float64 keep the digits the whole-array sum has.
        each: _Float = _kernel(lay, "", start, x, t, w, "none")
        num = float(np.sum(each, dtype=np.float64))
    else:
        num = float(_kernel(lay, "", start, x, t, w, "sum"))
    return np.array([[num, _block_denominator(lay, t, w)]])


def block_denominator(t: NDArray[Any], w: NDArray[Any] | None, lay: Layout) -> NDArray[np.float64]:
    return np.array([_block_denominator(lay, t, w)])


def block_values(
    x: _Float, t: NDArray[Any], w: NDArray[Any] | None, start: NDArray[np.int64], lay: Layout
) -> _Float:
    out: _Float = _kernel(lay, "", start, x, t, w, "none")
    return out


def block_grads(
    x: _Float,
    t: NDArray[Any],
    w: NDArray[Any] | None,
    start: NDArray[np.int64],
    denominator: NDArray[np.float64] | None,
    lay: Layout,
    hess: bool,
) -> Any:
    """The gradient (and second derivative) of a block: `denominator` is the global one for
    "mean", None for "sum" and "none"."""
    suffix = "_grad_hess" if hess else "_grad"
    if denominator is None:
        return _kernel(lay, suffix, start, x, t, w, "sum")
    d = float(denominator)
    if d == 0.0:
        # Every block's denominator is 0 as well: the kernel's own mean gives the whole one's.
        return _kernel(lay, suffix, start, x, t, w, "mean")
    if lay.loss.softmax:
        # Rows are scaled by s_i / denominator in float64.
        s = np.ones(x.shape[0]) if w is None else np.asarray(w).astype(lay.dtype).astype(np.float64)
        return _kernel(lay, suffix, start, x, t, s / d, "sum")
    if w is None:
        # Unweighted: multiplied by 1/n in the compute dtype.
        scale = lay.dtype.type(1.0 / d)
        out = _kernel(lay, suffix, start, x, t, None, "sum")
        return tuple(a * scale for a in out) if hess else out * scale
    # Weighted: w / Σw in the compute dtype.
    scaled = np.asarray(w).astype(lay.dtype) / lay.dtype.type(d)
    return _kernel(lay, suffix, start, x, t, scaled, "sum")


def finish(totals: NDArray[np.float64], mean: bool, compute: np.dtype[Any]) -> NDArray[np.float64]:
    """The reduced value from (sum of w * loss, denominator), rounded to the compute dtype as the
    in-memory function rounds it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = totals[0] / totals[1] if mean else totals[0]
    return np.asarray(np.float64(compute.type(value)))


def whole(loss: Loss, suffix: str, reduction: str, x: Any, t: Any, w: Any) -> Any:
    """A call with no rows to cut, in one task."""
    x, t, w = (_aligned_memory(a) if isinstance(a, np.ndarray) else a for a in (x, t, w))
    out = loss.fn(suffix)(x, t, reduction=reduction, sample_weight=w, **_params(loss))
    return np.asarray(np.float64(out)) if isinstance(out, float) else out


# --------------------------------------------------------------------- graph builders --


def _ind(prefix: str, ndim: int) -> tuple[str, ...]:
    """Blockwise index of an array: its rows are "i", its other axes its own (and whole)."""
    return ("i", *(f"{prefix}{k}" for k in range(1, ndim)))


def _indexed(p: Prepared) -> list[Any]:
    """(x, t, w) as blockwise arguments: rows are index "i", other axes are whole."""

    def ind(a: Array | None, prefix: str) -> list[Any]:
        if a is None:
            return [None, None]
        return [a, _ind(prefix, a.ndim)]

    return [*ind(p.x, "x"), *ind(p.t, "t"), *ind(p.w, "w"), p.starts, ("i",)]


def value(loss: Loss, input: Input, target: Input, sample_weight: Input | None, red: str) -> Array:
    reduction = _reduction(red)
    p = prepare(loss, input, target, sample_weight, reduction)
    if not isinstance(p, Prepared):
        whole_value: Array = _whole_array(p, "", reduction, ())
        return whole_value
    return _value(p, reduction)


def _value(p: Prepared, reduction: str) -> Array:
    lay = p.layout
    if reduction == "none":
        loss_ndim = p.x.ndim - 1 if lay.loss.softmax else p.x.ndim
        out_ind = _ind("x", loss_ndim)
        values: Array = da.blockwise(  # type: ignore[no-untyped-call]
            block_values,
            out_ind,
            *_indexed(p),
            lay=lay,
            dtype=lay.dtype,
            align_arrays=False,
            concatenate=True,
            meta=np.empty((0,) * loss_ndim, dtype=lay.dtype),
        )
        return values
    sums: Array = da.blockwise(  # type: ignore[no-untyped-call]
        block_sums,
        ("i", "k"),
        *_indexed(p),
        new_axes={"k": 2},
        adjust_chunks={"i": 1},
        lay=lay,
        dtype=np.float64,
        align_arrays=False,
        concatenate=True,
        meta=np.empty((0, 0), dtype=np.float64),
    )
    totals = sums.sum(axis=0, split_every=SPLIT_EVERY)  # type: ignore[no-untyped-call]
    result: Array = totals.map_blocks(
        finish,
        mean=reduction == "mean",
        compute=lay.dtype,
        drop_axis=0,
        dtype=np.float64,
        meta=np.empty((), dtype=np.float64),
    )
    return result


def _denominator(p: Prepared) -> Array:
    lay = p.layout
    args: list[Any] = [p.t, _ind("t", p.t.ndim)]
    args += [None, None] if p.w is None else [p.w, _ind("w", p.w.ndim)]
    parts: Array = da.blockwise(  # type: ignore[no-untyped-call]
        block_denominator,
        ("i",),
        *args,
        adjust_chunks={"i": 1},
        lay=lay,
        dtype=np.float64,
        align_arrays=False,
        concatenate=True,
        meta=np.empty((0,), dtype=np.float64),
    )
    total: Array = parts.sum(split_every=SPLIT_EVERY)  # type: ignore[no-untyped-call]
    return total


def grads(
    loss: Loss,
    input: Input,
    target: Input,
    sample_weight: Input | None,
    red: str,
    hess: bool,
) -> Any:
    """The gradient (`hess`: and second derivative) as dask arrays of the input's shape."""
    reduction = _reduction(red)
    p = prepare(loss, input, target, sample_weight, reduction)
    if not isinstance(p, Prepared):
        suffix = "_grad_hess" if hess else "_grad"
        return _whole_array(p, suffix, reduction, p[1][0].shape, 2 if hess else 1)
    return _grads(p, reduction, hess)


def value_and_grad(
    loss: Loss, input: Input, target: Input, sample_weight: Input | None, red: str
) -> tuple[Array, Array]:
    """The value and the gradient from one preparation: they share their blocks."""
    reduction = _reduction(red)
    p = prepare(loss, input, target, sample_weight, reduction)
    if not isinstance(p, Prepared):
        both: tuple[Array, Array] = (
            _whole_array(p, "", reduction, ()),
            _whole_array(p, "_grad", reduction, p[1][0].shape, 1),
        )
        return both
    grad: Array = _grads(p, reduction, hess=False)
    return _value(p, reduction), grad


def _grads(p: Prepared, reduction: str, hess: bool) -> Any:
    lay = p.layout
    den: Array | float | None
    if reduction != "mean":
        den = None
    elif p.w is None and not (lay.loss.softmax and lay.index):
        den = float(lay.count)
    else:
        den = _denominator(p)
    x_ind = _ind("x", p.x.ndim)
    extra: list[Any] = [den, ()] if isinstance(den, Array) else [None, None]
    # grad_hess: both stacked along a new leading axis of length 2, one kernel call per block.
    arr: Array = da.blockwise(  # type: ignore[no-untyped-call]
        _block_grads,
        ("k", *x_ind) if hess else x_ind,
        *_indexed(p),
        *extra,
        new_axes={"k": 2} if hess else None,
        hess=hess,
        den_value=den if isinstance(den, float) else None,
        lay=lay,
        dtype=lay.dtype,
        align_arrays=False,
        concatenate=True,
        meta=np.empty((0,) * (p.x.ndim + hess), dtype=lay.dtype),
    )
    outs = [arr[0], arr[1]] if hess else [arr]
    if p.class_axis is not None:
        outs = [da.moveaxis(a, -1, p.class_axis) for a in outs]
    return tuple(outs) if hess else outs[0]


def _block_grads(
    x: _Float,
    t: NDArray[Any],
    w: NDArray[Any] | None,
    start: NDArray[np.int64],
    den: NDArray[np.float64] | None,
    *,
    hess: bool,
    den_value: float | None,
    lay: Layout,
) -> _Float:
    d = np.asarray(den_value) if den_value is not None else den
    out = block_grads(x, t, w, start, d, lay, hess)
    result: _Float = np.stack(out) if hess else out
    return result


def _whole_array(
    p: tuple[Loss, list[Any], np.dtype[Any]],
    suffix: str,
    reduction: str,
    shape: tuple[int, ...],
    outputs: int = 0,
) -> Any:
    loss, (x, t, w), dtype = p
    task = dask.delayed(whole, pure=True)(loss, suffix, reduction, x, t, w)  # type: ignore[attr-defined]
    if outputs == 0:
        value: Array = da.from_delayed(  # type: ignore[no-untyped-call]
            task, shape=(), dtype=np.float64 if reduction != "none" else dtype
        )
        return value
    arrays = [
        da.from_delayed(task[k] if outputs == 2 else task, shape=shape, dtype=dtype)  # type: ignore[no-untyped-call]
        for k in range(outputs)
    ]
    return tuple(arrays) if outputs == 2 else arrays[0]
