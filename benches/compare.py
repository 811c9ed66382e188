#!/usr/bin/env python3
"""Side-by-side benchmark: fastloss against NumPy, PyTorch and JAX/optax (see README.md here).

A thin wrapper: ``python benches/compare.py [options]`` runs exactly the code of
``python -m fastloss bench [options]`` (``fastloss._bench``) from the installed fastloss.
"""

from __future__ import annotations

import sys

from fastloss._bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
