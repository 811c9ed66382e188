"""Command line of fastloss: ``python -m fastloss {info,demo} ...``.

- ``python -m fastloss info``: version, SIMD level in use and available, threads.
- ``python -m fastloss demo [--out DIR]``: the losses at work, as tables and PNG figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import fastloss
from fastloss import _demo


def _info(args: argparse.Namespace) -> int:
    info = fastloss.info()
    print(f"fastloss {info['version']}")
    print(f"simd: {info['simd']}")
    print(f"simd available: {', '.join(info['simd_available'])}")
    print(f"threads: {info['threads']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fastloss",
        description="fastloss: fast, exact losses with gradients and second derivatives.",
    )
    parser.add_argument("--version", action="version", version=f"fastloss {fastloss.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    info = sub.add_parser("info", help="version, SIMD level in use and available, threads")
    info.set_defaults(func=_info)

    demo = sub.add_parser(
        "demo",
        help="the losses at work: curves, a line through outliers, median vs mean",
        description=(
            "Tables of the losses at work, and PNG figures with matplotlib "
            "(pip install 'fastloss[demo]'): the loss curves, a line fitted through "
            "outliers, and constants fitted between median and mean."
        ),
    )
    _demo.add_arguments(demo)
    demo.set_defaults(func=_demo.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
