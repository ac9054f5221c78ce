"""The backtest hands freed memory back to the system between refits
(:func:`~bayescope.families.ticket_backtest.release_freed_memory`)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from bayescope.families.ticket_backtest import _resident_memory_gb, release_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc only")
def test_memory_freed_between_survivors_goes_back_to_the_system() -> None:
    # 96 KB blocks, below glibc's mmap threshold, so they share the heap; one in fifty
    # survives, which keeps glibc from shrinking the heap on its own (a refit's pattern).
    blocks = [np.ones(12_000) for _ in range(4_000)]
    survivors = blocks[::50]
    del blocks
    held = _resident_memory_gb()
    assert release_freed_memory()
    released = held - _resident_memory_gb()
    assert released > 0.5 * 4_000 * 96e3 / 1e9, (held, released)
    assert all(block[0] == 1.0 for block in survivors)
