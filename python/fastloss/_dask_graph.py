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

import math
import operator
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

import dask
import dask.array as da
import numpy as np
from dask.array import Array
from numpy.typing import NDArray

import fastloss
from fastloss._registry import BY_NAME

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
    #: Cross-entropy: the number of classes.
    classes: int
    #: Array parameters cut into blocks as the input is (see `_per_row`): they come to the block
    #: functions after the block's first row, in this order, and are not in `loss.params`.
    row_params: tuple[str, ...]


@dataclass(frozen=True)
class Prepared:
    """The arguments of a call as blocks aligned along axis 0 (classes last for cross-entropy)."""

    layout: Layout
    x: Array
    t: Array
    w: Array | None
    #: The array parameters named by `layout.row_params`, in blocks of rows.
    row_params: tuple[Array, ...]
    #: The first row of every block, one per block, for error messages.
    starts: Array
    #: Cross-entropy: where the class axis goes back to in gradients (None: it is last).
    class_axis: int | None


# ------------------------------------------------------------------ preparing a call --
# Every check of a call that needs no data is the in-memory function's own, run at call time on
# zero-filled stand-ins of the arguments (see `_stand_ins`): the same checks in the same order,
# so that a call Dask refuses is one the in-memory function refuses, with the same exception.


def _array(obj: Input) -> Array | np.ndarray[Any, Any] | None:
    """`obj` as an array, or None when NumPy cannot convert it (the in-memory call then says so,
    in its turn). Masked arrays stay masked: the in-memory call sees them as they are."""
    if isinstance(obj, (Array, np.ma.MaskedArray)):
        return obj
    try:
        return np.asarray(obj)
    except Exception:  # NumPy raises many types for objects it cannot convert
        return None


def _shape_str(shape: tuple[int, ...]) -> str:
    return f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"


def _check_known(a: Array | np.ndarray[Any, Any], name: str) -> None:
    if any(isinstance(s, float) and np.isnan(s) for s in a.shape):
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {a.shape}); call {name}.compute_chunk_sizes() "
            "first"
        )


def _class_axis(axis: object, ndim: int) -> int | None:
    """The class axis in 0..ndim, or None where the in-memory call refuses `axis` (it takes what
    Python takes as an index: an int, a bool, a NumPy integer)."""
    try:
        a = operator.index(axis)  # type: ignore[arg-type]
    except TypeError:
        return None
    a = a + ndim if a < 0 else a
    return a if 0 <= a < ndim else None


def _indices(t: Array | np.ndarray[Any, Any], rows_shape: tuple[int, ...]) -> bool:
    """Whether a cross-entropy target holds class indices: integers, or, as the in-memory call
    reads it, an empty array of the per-row loss shape whatever its dtype."""
    return t.dtype.kind in "iu" or (math.prod(t.shape) == 0 and t.shape == rows_shape)


def _check_shapes(
    loss: Loss,
    x: Array | np.ndarray[Any, Any],
    t: Array | np.ndarray[Any, Any],
    w: Array | np.ndarray[Any, Any] | None,
    axis: int,
) -> None:
    """The in-memory checks of the shapes of input, target and weights, with its messages, on the
    full shapes: what a block is cut from."""
    if loss.softmax:
        rows_shape = x.shape[:axis] + x.shape[axis + 1 :]
        given = loss.params["axis"]
        if t.shape != (rows_shape if _indices(t, rows_shape) else x.shape):
            raise ValueError(
                f"target shape {_shape_str(t.shape)} does not fit input shape "
                f"{_shape_str(x.shape)} with axis={given}: class indices need "
                f"shape {_shape_str(rows_shape)}, probabilities shape {_shape_str(x.shape)}"
            )
        if x.shape[axis] == 0 and math.prod(rows_shape) > 0:
            raise ValueError(
                f"input has C = 0 classes along axis={given} (shape {_shape_str(x.shape)}): "
                "cross-entropy needs at least one class"
            )
    else:
        rows_shape = x.shape
        if t.shape != x.shape:
            raise ValueError(
                f"input shape {_shape_str(x.shape)} and target shape {_shape_str(t.shape)} "
                "differ: fastloss does not broadcast"
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


def _array_params(loss: Loss) -> dict[str, np.ndarray[Any, Any]]:
    """The parameters given as arrays of one or more dimensions (class_weight, pos_weight), as
    NumPy arrays; one NumPy cannot convert is left to the in-memory call to refuse."""
    out: dict[str, np.ndarray[Any, Any]] = {}
    for name, v in loss.params.items():
        if v is None or isinstance(v, (bool, int, float, complex, str, bytes, np.generic)):
            continue
        try:
            a = np.asarray(v)
        except Exception:  # as in _array
            continue
        if a.ndim:
            out[name] = a
    return out


def _per_row(loss: Loss, x: Array | np.ndarray[Any, Any], p: np.ndarray[Any, Any]) -> bool:
    """Whether an array parameter goes to each block cut as the input is: one with the input's
    dimensions and rows (a pos_weight of the input's shape, or one broadcasting along its other
    axes). Any other is whole in every block's call, which applies its own rules to it."""
    return not loss.softmax and x.ndim > 0 and p.ndim == x.ndim and p.shape[0] == x.shape[0]


#: Stand-ins of at most this many elements have their arguments' shapes, and the in-memory
#: messages name those; larger ones have fewer rows.
_SMALL = 1 << 16


def _stand_in_rows(lengths: set[int], avoid: set[int]) -> dict[int, int]:
    """Row counts for stand-ins: 0 stays 0 and 1 stays 1 (an empty array is empty, one row
    broadcasts); other lengths become distinct small numbers equal to no dimension of any
    argument. Every comparison of shapes the in-memory call makes (equal, empty, broadcasting,
    the input's last axis against pos_weight) then comes out as it does on the arguments."""
    rows: dict[int, int] = {}
    k = 2
    for n in sorted(lengths):
        if n < 2:
            rows[n] = n
            continue
        while k in avoid:
            k += 1
        rows[n] = k
        k += 1
    return rows


def _stand_ins(
    x: Array | np.ndarray[Any, Any],
    t: Array | np.ndarray[Any, Any] | None,
    w: Array | np.ndarray[Any, Any] | None,
    arrays: dict[str, np.ndarray[Any, Any]],
    row_params: tuple[str, ...],
    rows_axis: int | None,
    target_fill: float = 0.0,
) -> tuple[list[np.ndarray[Any, Any] | None], dict[str, np.ndarray[Any, Any]], dict[int, int]]:
    """Zero-filled arrays of the dtypes of x, t, w and the per-row parameters, and of their shapes
    but for the rows (`rows_axis` of the input, the same axis of an argument of its dimensions,
    axis 0 of the others): few of those when there are many. Zeros are valid data for every
    loss but as the target of a loss whose targets are positive (gamma), whose target stand-in
    holds `target_fill` (1) instead, so the in-memory call on them raises only what the call's
    data cannot change. Also returns the stand-ins' row count for each of the arguments'."""
    per_row = [arrays[name] for name in row_params]
    present = [a for a in (x, t, w, *per_row) if a is not None]

    def axis_of(a: Array | np.ndarray[Any, Any]) -> int | None:
        if rows_axis is None or a.ndim == 0:
            return None
        return rows_axis if a.ndim == x.ndim else 0

    small = rows_axis is None or max(math.prod(a.shape) for a in present) <= _SMALL
    lengths = {a.shape[ax] for a in present if (ax := axis_of(a)) is not None}
    if small:
        rows = {n: n for n in lengths}
    else:
        avoid = {d for a in (*present, *arrays.values()) for d in a.shape}
        rows = _stand_in_rows(lengths, avoid)

    def stand_in(
        a: Array | np.ndarray[Any, Any] | None, fill: float = 0.0
    ) -> np.ndarray[Any, Any] | None:
        if a is None:
            return None
        shape = list(a.shape)
        ax = axis_of(a)
        if ax is not None:
            shape[ax] = rows[shape[ax]]
        out: np.ndarray[Any, Any] = np.full(shape, fill, dtype=a.dtype)
        meta = a._meta if isinstance(a, Array) else a
        return np.ma.masked_array(out) if isinstance(meta, np.ma.MaskedArray) else out

    params = {name: stand_in(a) for name, a in zip(row_params, per_row)}
    return [stand_in(x), stand_in(t, target_fill), stand_in(w)], params, rows  # type: ignore[return-value]


def _caller_shapes(message: str, rows: dict[int, int]) -> str:
    """A message of the in-memory call on stand-ins, with the arguments' row counts for the
    stand-ins' in the shapes it names. Shapes are the only parenthesized integers of its
    messages (values are named by flat index), and a stand-in's row count equals no dimension
    of any argument."""
    back = {k: n for n, k in rows.items() if k != n}

    def shape(m: re.Match[str]) -> str:
        return re.sub(r"\d+", lambda d: str(back.get(int(d[0]), d[0])), m[0])

    return re.sub(r"\((?:\d+, )*\d+,?\)", shape, message)


def _probe(loss: Loss, reduction: object, args: list[Any], params: dict[str, Any]) -> np.dtype[Any]:
    """The in-memory call on `args` (stand-ins, or an argument NumPy cannot convert): its errors
    are the call's. Returns the compute dtype."""
    x, t, w = args
    kwargs = {**loss.params, **params}
    out = loss.fn()(x, t, reduction=reduction, sample_weight=w, **kwargs)
    if reduction != "none":
        out = loss.fn()(x, t, reduction="none", sample_weight=w, **kwargs)
    dtype: np.dtype[Any] = np.asarray(out).dtype
    return dtype


def _reduction(reduction: object) -> str:
    if not isinstance(reduction, str):
        raise TypeError(f"reduction must be a str, got {type(reduction).__name__}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


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


def _rows_axis(loss: Loss, ndim: int, axis: int | None) -> int | None:
    """The input's axis of rows; None when the loss is a single number (a 0-d input, a 1-D input
    of cross-entropy)."""
    if loss.softmax:
        return (1 if axis == 0 else 0) if ndim > 1 else None
    return 0 if ndim else None


def _check_call(
    loss: Loss,
    reduction: object,
    given: list[Any],
    converted: list[Array | np.ndarray[Any, Any] | None],
    axis: int | None,
    arrays: dict[str, np.ndarray[Any, Any]],
    row_params: tuple[str, ...],
) -> np.dtype[Any]:
    """Runs the in-memory call on stand-ins (`_stand_ins`) of the arguments. Returns the compute
    dtype."""
    x, t, w = converted
    if x is None:
        args: list[Any] = [None, np.zeros(0), None if w is None else np.zeros(0)]
        params: dict[str, Any] = {}
        rows: dict[int, int] = {}
    else:
        rows_axis = _rows_axis(loss, x.ndim, axis)
        # (tweedie's targets are positive at power 2: 1 is valid at every power.)
        fill = 1.0 if BY_NAME[loss.name].target in ("positive", "nonnegative") else 0.0
        args, params, rows = _stand_ins(x, t, w, arrays, row_params, rows_axis, fill)
    # An argument NumPy cannot convert goes as it is: the in-memory call refuses it where it
    # converts it.
    for k, (a, raw) in enumerate(zip(converted, given)):
        if a is None and raw is not None:
            args[k] = raw
    try:
        return _probe(loss, reduction, args, params)
    except (ValueError, TypeError) as e:
        if all(k == n for n, k in rows.items()):
            raise
        raise type(e)(_caller_shapes(str(e), rows)) from None


def prepare(
    loss: Loss, input: Input, target: Input, sample_weight: Input | None, reduction: object
) -> Prepared | tuple[Loss, list[Any], np.dtype[Any]]:
    """Checks a call and cuts its arrays into aligned blocks of rows. A call whose loss is a
    single number (0-d input; 1-D input of cross-entropy) has no rows to cut: it comes back as
    the loss, its arguments and the compute dtype, for one task that runs the in-memory call."""
    given = [input, target, sample_weight]
    converted = [None if a is None else _array(a) for a in given]
    for a, name in zip(converted, ("input", "target", "sample_weight")):
        if a is not None:
            _check_known(a, name)
    x, t, w = converted
    axis = _class_axis(loss.params["axis"], x.ndim) if loss.softmax and x is not None else None
    arrays = _array_params(loss)
    row_params = tuple(k for k, p in arrays.items() if x is not None and _per_row(loss, x, p))
    dtype = _check_call(loss, reduction, given, converted, axis, arrays, row_params)
    if x is None or t is None or (w is None and sample_weight is not None):
        raise TypeError("input, target and sample_weight must convert to arrays")
    if loss.softmax and axis is None:
        raise TypeError(f"axis must be an integer, got {loss.params['axis']!r}")
    _check_shapes(loss, x, t, w, axis or 0)
    if _rows_axis(loss, x.ndim, axis) is None:
        return loss, [x, t, w], dtype
    rows_shape = x.shape[:axis] + x.shape[axis + 1 :] if axis is not None else x.shape
    class_axis: int | None = None
    index = False
    # Arrays go to the workers converted, rather than as the caller's lists; the per-row ones
    # in blocks.
    params = {k: arrays.get(k, v) for k, v in loss.params.items() if k not in row_params}
    if loss.softmax:
        assert axis is not None
        index = _indices(t, rows_shape)
        if axis != x.ndim - 1:
            # The classes last, so that rows are along axis 0 and blocks cut between them.
            class_axis = axis
            x = x.rechunk({axis: -1}) if isinstance(x, Array) else x  # type: ignore[no-untyped-call]
            x = da.moveaxis(x, axis, -1) if isinstance(x, Array) else np.moveaxis(x, axis, -1)
            if not index:
                t = t.rechunk({axis: -1}) if isinstance(t, Array) else t  # type: ignore[no-untyped-call]
                t = da.moveaxis(t, axis, -1) if isinstance(t, Array) else np.moveaxis(t, axis, -1)
        params["axis"] = -1
    rows = _row_chunks([x, t, w])
    starts = np.cumsum((0, *rows[:-1]), dtype=np.int64)
    lay = Layout(
        loss=Loss(loss.name, params),
        dtype=dtype,
        count=math.prod(rows_shape),
        index=index,
        classes=int(x.shape[-1]) if loss.softmax else 0,
        row_params=row_params,
    )
    return Prepared(
        layout=lay,
        x=_aligned(x, rows),
        t=_aligned(t, rows),
        w=None if w is None else _aligned(w, rows),
        row_params=tuple(_aligned(arrays[k], rows) for k in row_params),
        starts=da.from_array(starts, chunks=1),  # type: ignore[no-untyped-call]
        class_axis=class_axis,
    )


# ------------------------------------------------------------------- block functions --


def _aligned_memory(a: NDArray[Any]) -> NDArray[Any]:
    """`a`, copied when its data is not aligned to its dtype. Blocks that arrive through
    dask.distributed's serialization can sit at any byte offset of a message, and the kernels
    borrow only aligned memory (for such an array fastloss 0.1.0 panics instead of copying).
    The copy keeps the array's class (a masked block stays masked)."""
    return a if a.flags.aligned else a.copy()


def _params(lay: Layout, row: tuple[NDArray[Any], ...]) -> dict[str, Any]:
    """The loss parameters of a block's call, with the block's part of the per-row ones; their
    arrays in aligned memory."""
    params = {**lay.loss.params, **dict(zip(lay.row_params, row))}
    return {k: _aligned_memory(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}


@contextmanager
def _block(start: NDArray[np.int64], rows: int) -> Iterator[None]:
    """Errors of a block's call, saying which rows the block holds."""
    try:
        yield
    except (ValueError, TypeError) as e:
        first = int(start[0])
        raise type(e)(f"{e} (in the block of rows {first}..{first + rows})") from None


def _label_masks(lay: Layout, t: NDArray[Any]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(rows not ignored, labels in [0, C)) of a block of class indices. Each label is compared
    as the integer it is, in its own dtype: a uint64 label of 2^63 or more is no negative
    number, and equals no negative ignore_index."""
    labels = t if t.dtype.kind in "iu" else t.astype(np.int64)  # not integers: no labels
    info = np.iinfo(labels.dtype)
    keep = np.ones(labels.shape, dtype=bool)
    ignore = lay.loss.params.get("ignore_index")
    if ignore is not None:
        i = operator.index(ignore)
        if info.min <= i <= info.max:
            keep = labels != labels.dtype.type(i)
    valid = np.ones(labels.shape, dtype=bool)
    if lay.classes <= info.max:
        valid = labels < labels.dtype.type(lay.classes)
    if info.min < 0:
        valid &= labels >= 0
    return keep, valid


def _check_labels(lay: Layout, t: NDArray[Any]) -> None:
    """The kernel's check of the class indices, by their true values (the kernel reads them as
    int64, and a uint64 of 2^63 or more as a negative number)."""
    labels = np.asarray(t)
    keep, valid = _label_masks(lay, labels)
    bad = np.flatnonzero(keep & ~valid)
    if bad.size:
        i = int(bad[0])
        at = tuple(int(k) for k in np.unravel_index(i, labels.shape))
        c = lay.classes
        raise ValueError(
            f"target has label {labels.reshape(-1)[i].item()} at index {_shape_str(at)} "
            f"but C = {c}: a label must be in [0, {c}) or equal ignore_index"
        )


def _kernel(
    lay: Layout,
    suffix: str,
    start: NDArray[np.int64],
    x: _Float,
    t: NDArray[Any],
    w: NDArray[Any] | None,
    row: tuple[NDArray[Any], ...],
    reduction: str,
) -> Any:
    """One in-memory call on a block; its errors say which rows the block holds."""
    x, t = _aligned_memory(x), _aligned_memory(t)
    w = None if w is None else _aligned_memory(w)
    with _block(start, x.shape[0]):
        if lay.index:
            _check_labels(lay, t)
        return lay.loss.fn(suffix)(x, t, reduction=reduction, sample_weight=w, **_params(lay, row))


def _block_denominator(lay: Layout, t: NDArray[Any], w: NDArray[Any] | None) -> float:
    """The block's share of the mean's denominator, as the kernel computes the whole one: the
    weights in the compute dtype, summed in float64."""
    rows = t.shape[:-1] if lay.loss.softmax and not lay.index else t.shape
    if w is None:
        weights: NDArray[np.float64] | None = None
    else:
        # The kernel reads a masked array's data, masked values too.
        weights = np.asarray(w).astype(lay.dtype).astype(np.float64)
        if weights.shape != rows:
            weights = np.broadcast_to(weights.reshape(-1, *(1,) * (len(rows) - 1)), rows)
    if lay.loss.softmax and lay.index:
        labels = np.asarray(t)
        keep, valid = _label_masks(lay, labels)
        cw = lay.loss.params.get("class_weight")
        terms = np.where(keep, 1.0, 0.0) if weights is None else np.where(keep, weights, 0.0)
        if cw is not None:
            cw64 = np.asarray(cw).astype(lay.dtype).astype(np.float64)
            # Labels out of range are reported by the block's call; here they weigh nothing.
            valid &= keep
            terms = np.where(valid, terms * cw64[np.where(valid, labels, 0)], 0.0)
        return float(np.sum(terms, dtype=np.float64))
    if weights is None:
        return float(math.prod(rows))
    return float(np.sum(weights, dtype=np.float64))


def block_sums(
    x: _Float,
    t: NDArray[Any],
    w: NDArray[Any] | None,
    start: NDArray[np.int64],
    *row: NDArray[Any],
    lay: Layout,
) -> NDArray[np.float64]:
    """(sum of w * loss, denominator) of a block, shape (1, 2)."""
    if lay.dtype == np.float32 and x.size:
        # The kernel rounds a reduced float32 value to float32; its per-element values
        # summed in float64 keep the digits the whole-array sum has.
        each: _Float = _kernel(lay, "", start, x, t, w, row, "none")
        num = float(np.sum(each, dtype=np.float64))
    else:
        num = float(_kernel(lay, "", start, x, t, w, row, "sum"))
    return np.array([[num, _block_denominator(lay, t, w)]])


def block_denominator(
    t: NDArray[Any], w: NDArray[Any] | None, start: NDArray[np.int64], lay: Layout
) -> NDArray[np.float64]:
    """The block's share of the denominator alone (the input is not read). The labels it reads
    are checked as the block's call checks them: this task may run before that call."""
    if lay.index:
        with _block(start, t.shape[0]):
            _check_labels(lay, t)
    return np.array([_block_denominator(lay, t, w)])


def block_values(
    x: _Float,
    t: NDArray[Any],
    w: NDArray[Any] | None,
    start: NDArray[np.int64],
    *row: NDArray[Any],
    lay: Layout,
) -> _Float:
    out: _Float = _kernel(lay, "", start, x, t, w, row, "none")
    return out


def block_grads(
    x: _Float,
    t: NDArray[Any],
    w: NDArray[Any] | None,
    start: NDArray[np.int64],
    row: tuple[NDArray[Any], ...],
    denominator: NDArray[np.float64] | None,
    lay: Layout,
    hess: bool,
) -> Any:
    """The gradient (and second derivative) of a block: `denominator` is the global one for
    "mean", None for "sum" and "none"."""
    suffix = "_grad_hess" if hess else "_grad"
    if denominator is None:
        return _kernel(lay, suffix, start, x, t, w, row, "sum")
    d = float(denominator)
    if d == 0.0:
        # Every block's denominator is 0 as well: the kernel's own mean gives the whole one's.
        return _kernel(lay, suffix, start, x, t, w, row, "mean")
    # Weights the kernel refuses (inf, nan) become nan here without a warning; the kernel then
    # refuses those.
    with np.errstate(invalid="ignore", over="ignore"):
        if lay.loss.softmax:
            # Rows are scaled by s_i / denominator in float64.
            s = (
                np.ones(x.shape[0])
                if w is None
                else np.asarray(w).astype(lay.dtype).astype(np.float64)
            )
            return _kernel(lay, suffix, start, x, t, s / d, row, "sum")
        if w is None:
            # Unweighted: multiplied by 1/n in the compute dtype.
            scale = lay.dtype.type(1.0 / d)
            out = _kernel(lay, suffix, start, x, t, None, row, "sum")
            return tuple(a * scale for a in out) if hess else out * scale
        # Weighted: w / Σw in the compute dtype.
        scaled = np.asarray(w).astype(lay.dtype) / lay.dtype.type(d)
        return _kernel(lay, suffix, start, x, t, scaled, row, "sum")


def finish(totals: NDArray[np.float64], mean: bool, compute: np.dtype[Any]) -> NDArray[np.float64]:
    """The reduced value from (sum of w * loss, denominator), rounded to the compute dtype as the
    in-memory function rounds it."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        value = totals[0] / totals[1] if mean else totals[0]
        return np.asarray(np.float64(compute.type(value)))


def whole(loss: Loss, suffix: str, reduction: str, x: Any, t: Any, w: Any) -> Any:
    """A call with no rows to cut, in one task."""
    x, t, w = (_aligned_memory(a) if isinstance(a, np.ndarray) else a for a in (x, t, w))
    params = {
        k: _aligned_memory(v) if isinstance(v, np.ndarray) else v for k, v in loss.params.items()
    }
    out = loss.fn(suffix)(x, t, reduction=reduction, sample_weight=w, **params)
    return np.asarray(np.float64(out)) if isinstance(out, float) else out


# --------------------------------------------------------------------- graph builders --


def _ind(prefix: str, ndim: int) -> tuple[str, ...]:
    """Blockwise index of an array: its rows are "i", its other axes its own (and whole)."""
    return ("i", *(f"{prefix}{k}" for k in range(1, ndim)))


def _indexed(p: Prepared, *more: Any) -> list[Any]:
    """(x, t, w, first rows, `more`, per-row parameters) as blockwise arguments: rows are index
    "i", other axes are whole."""

    def ind(a: Array | None, prefix: str) -> list[Any]:
        if a is None:
            return [None, None]
        return [a, _ind(prefix, a.ndim)]

    rows = [arg for k, a in enumerate(p.row_params) for arg in ind(a, f"p{k}_")]
    return [*ind(p.x, "x"), *ind(p.t, "t"), *ind(p.w, "w"), p.starts, ("i",), *more, *rows]


def value(loss: Loss, input: Input, target: Input, sample_weight: Input | None, red: str) -> Array:
    p = prepare(loss, input, target, sample_weight, red)
    reduction = _reduction(red)
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
    args += [p.starts, ("i",)]
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
    p = prepare(loss, input, target, sample_weight, red)
    reduction = _reduction(red)
    if not isinstance(p, Prepared):
        suffix = "_grad_hess" if hess else "_grad"
        return _whole_array(p, suffix, reduction, p[1][0].shape, 2 if hess else 1)
    return _grads(p, reduction, hess)


def value_and_grad(
    loss: Loss, input: Input, target: Input, sample_weight: Input | None, red: str
) -> tuple[Array, Array]:
    """The value and the gradient from one preparation: they share their blocks."""
    p = prepare(loss, input, target, sample_weight, red)
    reduction = _reduction(red)
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
        *_indexed(p, *extra),
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
    *row: NDArray[Any],
    hess: bool,
    den_value: float | None,
    lay: Layout,
) -> _Float:
    d = np.asarray(den_value) if den_value is not None else den
    out = block_grads(x, t, w, start, row, d, lay, hess)
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
