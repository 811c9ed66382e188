"""A weighted loss over 10^8 elements held as dask arrays on a LocalCluster, against fastloss
in memory on the same numbers.

    pip install '.[dask]'
    python examples/dask_loss.py              # n = 10^8 float32: about 1.2 GB on the workers
    python examples/dask_loss.py --n 1000000  # a quick run

The inputs are generated on the workers and kept there (``persist``); the loss is computed
where the blocks live and only one pair of numbers per block travels. Then the arrays are
gathered into this process and ``fastloss`` computes the same loss in memory: the two values,
their relative difference and both times are printed. Times on a shared or busy machine are
indicative only.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import dask.array as da
import dask.base
import distributed
import fastloss
import fastloss.dask
import numpy as np

LOSSES = ("huber", "mse", "mae", "log_cosh", "pinball", "smooth_l1")


def count(text: str) -> int:
    """A positive element count; accepts 1e8 and 100_000_000."""
    value = float(text.replace("_", ""))
    if not (value >= 1 and value == int(value)):
        raise argparse.ArgumentTypeError(f"--n must be a positive integer, got {text!r}")
    return int(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=count, default=10**8, help="elements (default 1e8)")
    parser.add_argument("--chunk", type=count, default=5 * 10**6, help="elements per block")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--loss", choices=LOSSES, default="huber")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)

    cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)  # type: ignore[no-untyped-call]
    try:
        rng = da.random.default_rng(42)  # type: ignore[no-untyped-call]
        shape, chunks = (args.n,), (args.chunk,)
        lazy = (
            rng.standard_normal(shape, chunks=chunks, dtype=dtype),
            rng.standard_normal(shape, chunks=chunks, dtype=dtype),
            rng.uniform(0.0, 2.0, shape, chunks=chunks).astype(dtype),
        )
        arrays: tuple[Any, ...] = dask.base.persist(*lazy)  # type: ignore[no-untyped-call]
        distributed.wait(arrays)  # type: ignore[no-untyped-call]
        x, t, w = arrays
        blocks = x.numblocks[0]
        print(
            f"{args.n:,} {dtype} elements in {blocks} blocks on {args.workers} worker processes "
            f"({len(client.scheduler_info()['workers'])} up)"
        )

        loss = getattr(fastloss.dask, args.loss)
        start = time.perf_counter()
        on_cluster = float(loss(x, t, sample_weight=w).compute())
        cluster_s = time.perf_counter() - start
        print(f"fastloss.dask.{args.loss}: {on_cluster!r} in {cluster_s:.2f} s")

        start = time.perf_counter()
        gathered = dask.base.compute(x, t, w)  # type: ignore[no-untyped-call]
        # Arrays unpickled from distributed's messages may sit at unaligned addresses, which
        # the fastloss 0.1.0 binding does not copy (it panics): give it aligned copies.
        xn, tn, wn = (np.array(a) if not a.flags.aligned else a for a in gathered)
        print(f"gathered into this process in {time.perf_counter() - start:.2f} s")
    finally:
        client.close()  # type: ignore[no-untyped-call]
        cluster.close()

    start = time.perf_counter()
    in_memory = getattr(fastloss, args.loss)(xn, tn, sample_weight=wn)
    memory_s = time.perf_counter() - start
    print(f"fastloss.{args.loss} in memory: {in_memory!r} in {memory_s:.2f} s")
    rel = abs(on_cluster - in_memory) / abs(in_memory)
    print(f"relative difference: {rel:.3g}")


if __name__ == "__main__":
    main()
