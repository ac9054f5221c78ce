"""The CLI's publishing steps (``os.replace`` and :func:`bayescope.files.exchange_paths`),
counted, and the CLI killed with SIGKILL at one of them in a forked process (which inherits
the parent's compiled models, so a killed fit costs a sampling run, not a compile)."""

from __future__ import annotations

import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

import bayescope.files as files
from bayescope.cli import main


@contextmanager
def counted_publishing_steps(kill_at: int | Path = 0, under: Path | None = None
                             ) -> Iterator[list[int]]:
    """Count every publishing step inside the block (onto a path under ``under`` if given:
    compile caches publish too), killing this process at step number ``kill_at`` or, given a
    path, at the step onto that path; the count is the list's one item."""
    calls = [0]
    root = None if under is None else os.fspath(under)
    onto = os.fspath(kill_at) if isinstance(kill_at, Path) else None
    real_replace, real_exchange = os.replace, files.exchange_paths

    def counted(real: Callable[..., Any], destinations: slice) -> Callable[..., Any]:
        def publish(*args: Any, **kwargs: Any) -> Any:
            paths = [os.fspath(a) for a in args[:2]]
            if root is not None and not any(p.startswith(root) for p in paths):
                return real(*args, **kwargs)
            calls[0] += 1
            if calls[0] == kill_at or onto in paths[destinations]:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return publish

    # os.replace(source, destination); exchange_paths swaps its two paths.
    os.replace = counted(real_replace, slice(1, 2))
    files.exchange_paths = counted(real_exchange, slice(0, 2))
    try:
        yield calls
    finally:
        os.replace, files.exchange_paths = real_replace, real_exchange


def run_killed_at(arguments: Sequence[str], kill_at: int | Path, under: Path,
                  timeout: float = 300.0) -> int:
    """Run the CLI in a forked child that kills itself at publishing step ``kill_at`` (of
    those onto paths under ``under``; a path: the step onto it); the child's exit code, or
    minus the signal that ended it."""
    @contextmanager
    def killed() -> Iterator[None]:
        # OpenMP's thread pool (scikit-learn's boosting) does not survive a fork: one thread
        # in the child never asks it for work.
        with threadpool_limits(1), counted_publishing_steps(kill_at, under):
            yield

    return exit_in_a_fork(arguments, killed, timeout)


def exit_in_a_fork(arguments: Sequence[str], setting: Callable[[], AbstractContextManager[Any]],
                   timeout: float) -> int:
    """Run the CLI inside ``setting()`` in a forked child (which inherits this process's
    compiled models); its exit code, or minus the signal that ended it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process
        pid = os.fork()
    if pid == 0:
        code = 70
        try:
            with setting():
                code = main(list(arguments))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    return wait_for_child(pid, timeout, " ".join(arguments))


def wait_for_child(pid: int, timeout: float, what: str) -> int:
    """The forked child's exit code (minus the signal that ended it); a child still running
    after ``timeout`` seconds, or when the wait is interrupted, is killed and reaped."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} hung for {timeout} s in the fork")
            time.sleep(0.05)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise


def temporary(name: str) -> bool:
    """A writer's temporary (:func:`bayescope.files.work_prefix`) of any output."""
    return name.startswith(".") and ".bayescope-" in name


def snapshot(folder: Path, written: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (the output and what its writer writes beside it, such as
    a generator's truth or a plot) but the lock and the writers' temporaries; a CSV output
    must parse."""
    if written.suffix == ".csv":
        pd.read_csv(written)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")
            and not any(temporary(part) for part in p.relative_to(folder).parts)}


def assert_killed_rewrites_leave_the_output_whole(arguments: Sequence[str], folder: Path,
                                                  written: Path) -> None:
    """The command (which writes ``written``, inside ``folder``) writes once; a rewrite is
    killed (SIGKILL) at its first publishing step and at the swap onto ``written``; after
    each kill every file under ``folder`` is byte for byte what it was and nothing but the
    killed writer's temporaries is beside the output, and a final rewrite replaces it whole
    and clears them."""
    arguments = list(arguments)
    assert main(arguments) == 0
    before = snapshot(folder, written)
    names_before = {p.name for p in written.parent.iterdir()}
    for kill_at in (1, written):
        assert run_killed_at(arguments, kill_at, folder) == -signal.SIGKILL, kill_at
        assert snapshot(folder, written) == before, kill_at
        leftovers = {p.name for p in written.parent.iterdir()} - names_before - {
            f".{written.name}.lock"}
        assert leftovers and all(temporary(n) for n in leftovers), (kill_at, leftovers)
    assert main(arguments) == 0
    assert set(snapshot(folder, written)) == set(before)
    assert not any(temporary(p.name) for p in written.parent.iterdir())
    assert not list(folder.rglob(".*.lock"))
