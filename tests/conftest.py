"""Shared pytest setup for the fastloss Python suites.

The helper modules ``reference`` and ``losses`` live beside the tests; put this
folder on ``sys.path`` so that they import whatever pytest's import mode is.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import reference  # noqa: E402


@pytest.fixture
def restore_threads() -> Iterator[int]:
    """The thread count before the test; set back afterwards, whatever happens."""
    before = int(reference.api("get_num_threads")())
    try:
        yield before
    finally:
        reference.api("set_num_threads")(before)
