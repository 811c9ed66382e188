"""What ``import fastloss`` adds to ``import numpy``, measured two ways in fresh interpreters.

- ``-X importtime``: the self times of the modules that ``import fastloss`` loads and
  ``import numpy`` alone does not (fastloss's own modules and what they import beyond NumPy).
- Wall clock: a fresh ``python -c "import numpy"`` against a fresh ``python -c "import
  fastloss"``, alternated so that a load on the machine falls on both.

Medians of ``--runs`` of each. ``python benches/import_time.py [--runs 40] [--python PATH]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def self_times(python: str, module: str) -> dict[str, int]:
    """Each module's self time in µs, from ``-X importtime`` of ``import module``."""
    err = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    out = {}
    for line in err.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[0].strip().isdigit():
            out[fields[2].strip()] = int(fields[0])
    return out


def wall(python: str, module: str) -> float:
    """Seconds a fresh interpreter takes to start and import ``module``."""
    start = time.perf_counter()
    subprocess.run([python, "-c", f"import {module}"], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    own, extra = [], set()
    numpy_wall, fastloss_wall = [], []
    for _ in range(args.runs):
        base, full = self_times(args.python, "numpy"), self_times(args.python, "fastloss")
        added = {m: t for m, t in full.items() if m not in base}
        own.append(sum(added.values()) / 1e3)
        extra |= set(added)
        numpy_wall.append(wall(args.python, "numpy") * 1e3)
        fastloss_wall.append(wall(args.python, "fastloss") * 1e3)
    np_ms, fl_ms = statistics.median(numpy_wall), statistics.median(fastloss_wall)
    print(f"-X importtime, fastloss's own share: {statistics.median(own):.1f} ms")
    print(f"  (modules beyond numpy's: {', '.join(sorted(extra))})")
    print(
        f"wall clock: import numpy {np_ms:.1f} ms, import fastloss {fl_ms:.1f} ms, "
        f"difference {fl_ms - np_ms:.1f} ms"
    )


if __name__ == "__main__":
    main()
