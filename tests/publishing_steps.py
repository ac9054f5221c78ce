"""The CLI's publishing steps (``os.replace`` and :func:`bayescope.files.exchange_paths`),
counted; run as a script (``python publishing_steps.py K ARGS...``) the CLI kills itself with
SIGKILL at step ``K`` (0: never)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import bayescope.files as files


@contextmanager
def counted_publishing_steps(kill_at: int = 0) -> Iterator[list[int]]:
    """Count every publishing step inside the block (the count is the list's one item),
    killing this process at step ``kill_at``."""
    calls = [0]
    real_replace, real_exchange = os.replace, files.exchange_paths

    def counted(real: Callable[..., Any]) -> Callable[..., Any]:
        def publish(*args: Any, **kwargs: Any) -> Any:
            calls[0] += 1
            if calls[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return publish

    os.replace, files.exchange_paths = counted(real_replace), counted(real_exchange)
    try:
        yield calls
    finally:
        os.replace, files.exchange_paths = real_replace, real_exchange


if __name__ == "__main__":
    from bayescope.cli import main

    with counted_publishing_steps(int(sys.argv[1])):
        code = main(sys.argv[2:])
    sys.exit(code)
