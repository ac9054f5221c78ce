"""File helpers (a leaf: imports nothing of the package): atomic writes and JSON-safe values.

Every file bayescope writes goes through a temporary path beside the target and a rename, so
a reader never sees a half-written file and a failure leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A reader never sees a half-written file and a failure leaves nothing behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=work_prefix(path), suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the permissions of a normal file.
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; swap it in for ``target`` on success.

    On Linux an existing ``target`` and the new folder trade places in one atomic rename
    (:func:`exchange_paths`), so a process killed at any moment leaves either the old run or
    the new one under ``target``, never neither; elsewhere the old ``target`` is renamed aside
    and removed only after the new one is in place. A failure removes the temporary folder
    and leaves ``target`` as it was. A ``target`` that is a file is refused
    (``NotADirectoryError``), never put aside, and so is a folder of files bayescope did not
    write (:func:`refuse_foreign_folder`); the folder written carries :data:`OUTPUT_MARK`.
    """
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(20, "is a file, not a folder: refusing to replace it",
                                 str(target))
    refuse_foreign_folder(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=work_prefix(target), dir=target.parent))
    try:
        yield work
        (work / OUTPUT_MARK).write_text("written by bayescope; replaced whole by its next "
                                        "write\n")
        os.chmod(work, 0o777 & ~umask())  # mkdtemp makes it private
        old = None
        if target.exists() and exchange_paths(work, target):
            shutil.rmtree(work, ignore_errors=True)  # it holds the old run now
            return
        if target.exists():
            old = set_aside(target)
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        work.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


# A folder holding this file was written by atomic_directory and may be replaced whole.
OUTPUT_MARK = ".written-by-bayescope"
# What marks outputs written before OUTPUT_MARK: run directories, reports and backtests
# (summary.json, metrics.json), cohorts, the demo and generated artist tables.
_EARLIER_OUTPUT_FILES = frozenset({"summary.json", "metrics.json", "posterior.nc",
                                   "cohorts.csv", "cdnow_transactions.csv", "truth"})


def refuse_foreign_folder(target: Path) -> None:
    """Raise ``FileExistsError`` if ``target`` is a folder with files bayescope did not write
    (``--out ~`` must never empty the home folder); missing, empty and earlier bayescope
    outputs pass."""
    if not target.is_dir():
        return
    names = {entry.name for entry in target.iterdir()}
    if names and OUTPUT_MARK not in names and not names & _EARLIER_OUTPUT_FILES:
        raise FileExistsError(17, "holds files bayescope did not write: refusing to replace "
                                  "it (give a new or empty folder)", str(target))


def exchange_paths(first: Path, second: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``);
    False, with nothing changed, where the system or the file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_current_directory, rename_exchange = -100, 2
    return renameat2(at_current_directory, os.fsencode(first), at_current_directory,
                     os.fsencode(second), rename_exchange) == 0


@contextmanager
def output_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` (a file ``.<name>.lock`` beside it) while a
    command writes it: a second writer of the same path fails at once with an ``OSError``
    naming the path, instead of racing the first and silently winning. Once locked, what
    writers killed before they finished left beside it is cleared
    (:func:`remove_stale_work`)."""
    import errno
    import fcntl

    lock_path = target.parent / f".{target.name}.lock"
    while True:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+")
        except PermissionError:
            raise OSError(errno.EACCES, f"cannot write in {target.parent}", str(target)
                          ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise OSError(errno.EBUSY, "another bayescope process is writing it (lock "
                          f"{lock_path.name})", str(target)) from None
        # The holder before us unlinks the file before it unlocks; if we locked a file that
        # is no longer the one at the path, take the new one.
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    remove_stale_work(target)
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)  # while still holding the lock
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def work_prefix(target: Path) -> str:
    """Name prefix of the temporaries a write of ``target`` builds beside it."""
    return f".{target.name}.bayescope-"


def set_aside(target: Path) -> Path:
    """Where :func:`atomic_directory` puts the old ``target`` while the new one moves in
    (systems without an atomic exchange only)."""
    return target.with_name(f".{target.name}.bayescope-old")


def truth_path(out: Path) -> Path:
    """Where a generator writing ``out`` writes the truth it drew from."""
    return out.with_name(out.stem + ".truth.json")


def plot_path(out: Path) -> Path:
    """Where a command writing the table ``out`` writes its plot."""
    return out.with_suffix(".png")


def remove_stale_work(target: Path) -> None:
    """Remove what writers of ``target`` killed before they finished left: their temporaries
    (:func:`work_prefix`) beside ``target`` and beside its companions (:func:`truth_path`,
    :func:`plot_path`), and inside ``target`` when it is a folder (a report written into a
    run); a run set aside by a writer killed between its two renames is put back first when
    ``target`` is missing. Call it holding :func:`output_lock`: CLI writers of ``target`` and
    its companions take that lock, so none of them is live (a Python-API writer of the same
    path at the same moment, without the lock, is not protected)."""
    old = set_aside(target)
    if old.is_dir() and not target.exists():
        old.rename(target)
    patterns = [(target.parent, glob.escape(work_prefix(path)) + "*")
                for path in (target, truth_path(target), plot_path(target))]
    if target.is_dir() and not target.is_symlink():
        patterns.append((target, ".*.bayescope-*"))
    for folder, pattern in patterns:
        for stale in folder.glob(pattern):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def jsonable(value: Any) -> Any:
    """NumPy scalars and arrays to plain Python for json; non-finite floats to ``None``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def atomic_write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV or Parquet (by suffix) through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
