#!/usr/bin/env python3
"""This machine's memory bandwidth, as the kernels can use it: one core and every core.

    python benches/bandwidth.py [--repeats R]

Times ``fastloss._native._stream`` (the pass behind compare.py's ``roof_all``: two arrays read
as 64-bit words on the kernels' thread pool, and a third written when a gradient is) on arrays
sized to sit in L2, in L3 and in DRAM, on one thread and on all. Prints GB/s of the bytes read
(and written), the median of the repeats. The sizes are the arrays' total bytes: 512 KiB fits
the L2 of any core the kernels run on, 8 MiB the L3 of a server part but no L2, 512 MiB no
cache.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import fastloss
import numpy as np

# compare.py beside this file: Python puts a script's folder first on sys.path.
from compare import cpu_model

LEVELS = (("L2", 512 << 10), ("L3", 8 << 20), ("DRAM", 512 << 20))


def per_call(call: Callable[[], Any], repeats: int, min_s: float = 0.02) -> float:
    """Median seconds per call over ``repeats`` batches of at least ``min_s`` each."""
    call()
    number = 1
    while True:
        t = time.perf_counter()
        for _ in range(number):
            call()
        if (dt := time.perf_counter() - t) >= min_s:
            break
        number *= 2
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(number):
            call()
        samples.append((time.perf_counter() - t) / number)
    return statistics.median(samples) if samples else dt / number


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    stream: Any = fastloss._native._stream
    every = fastloss.get_num_threads()
    print(f"# bandwidth.py: {cpu_model()}, fastloss {fastloss.__version__}, GB/s\n")
    print(
        f"| arrays in | bytes | read, 1 thread | read, {every} threads | read + write, 1 thread "
        f"| read + write, {every} threads |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for level, total in LEVELS:
        # Read: two arrays of total/2 bytes; read + write: two read and one written, total/3.
        cells = []
        for arrays in (2, 3):
            size = total // arrays // 64 * 64
            a, b, g = (np.ones(size, dtype=np.uint8) for _ in range(3))
            for threads in (1, every):
                fastloss.set_num_threads(threads)
                call = functools.partial(stream, a, b, *([g] if arrays == 3 else []))
                cells.append(f"{arrays * size / per_call(call, args.repeats) / 1e9:.1f}")
        fastloss.set_num_threads(every)
        print(f"| {level} | {total >> 10:,} KiB | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
