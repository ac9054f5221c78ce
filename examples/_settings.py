"""Sizes and output folder shared by the example scripts (not part of the package).

``BAYESCOPE_EXAMPLES_SMALL=1`` shrinks every example to test size (the test suite sets it);
``BAYESCOPE_EXAMPLES_OUT`` is where the runs are saved (``example_runs/`` by default).
"""

from __future__ import annotations

import os
from pathlib import Path

SMALL = os.environ.get("BAYESCOPE_EXAMPLES_SMALL", "") not in ("", "0")
OUT = Path(os.environ.get("BAYESCOPE_EXAMPLES_OUT", "example_runs"))


def size(full: int, small: int) -> int:
    """``full`` normally, ``small`` when the examples run at test size."""
    return small if SMALL else full
