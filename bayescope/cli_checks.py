"""Option values checked where they are parsed (argparse ``type=`` functions), and a parser
whose errors are one line and exit 2, like every other user mistake.

An output path is refused before any work is done when it cannot be written: a file output
that is an existing folder, a folder output that is an existing file, a path under a regular
file, or a parent folder the user cannot write to.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pandas as pd

from bayescope.files import refuse_foreign_folder


class Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors (``error: ...``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {self.prog}: {message}\n")
        raise SystemExit(2)


def _writable_parent(path: Path) -> None:
    """Refuse a path under a regular file or under a folder the user cannot write to."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{path}: cannot write in {parent}")


def output_file(value: str) -> str:
    """A file to write: not an existing folder, its folder writable."""
    path = Path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a folder; give a file name")
    _writable_parent(path)
    return value


def output_path(value: str) -> str:
    """A file or a folder to write (which one depends on other options): its parent
    writable."""
    _writable_parent(Path(value))
    return value


def output_folder(value: str) -> str:
    """A folder to write (replaced whole): not an existing file, its parent writable."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is an existing file, not a folder; it "
                                         "would be replaced")
    try:
        refuse_foreign_folder(path)
    except FileExistsError as exc:
        raise argparse.ArgumentTypeError(f"{value} {exc.strerror}") from None
    _writable_parent(path)
    return value


def _integer(value: str, least: int) -> int:
    """An integer of at least ``least``."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < least:
        raise argparse.ArgumentTypeError(f"{value} must be at least {least}")
    return number


def positive_int(value: str) -> int:
    """An integer of at least 1."""
    return _integer(value, 1)


def non_negative_int(value: str) -> int:
    """An integer of at least 0 (a seed, warmup iterations)."""
    return _integer(value, 0)


def _number(value: str) -> float:
    """A float, or one error saying it is not a number."""
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None


def share(value: str) -> float:
    """A share from 0 up to, not including, 1."""
    number = _number(value)
    if not 0 <= number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be from 0 up to 1 (not 1)")
    return number


def non_negative_float(value: str) -> float:
    """A finite number of at least 0."""
    number = _number(value)
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"{value} must be a finite number of at least 0")
    return number


def horizon_list(value: str) -> str:
    """A comma-separated list of horizons (``10d,1y``) with at least one; each is read by the
    family, which names a bad one."""
    if not any(part.strip() for part in value.split(",")):
        raise argparse.ArgumentTypeError("needs at least one horizon, e.g. 10d,1y,10y,100y")
    return value


def port(value: str) -> int:
    """A TCP port, 1-65535."""
    number = positive_int(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1-65535)")
    return number


def host(value: str) -> str:
    """A host name or address this machine can resolve."""
    try:
        socket.getaddrinfo(value, None)
    except (OSError, UnicodeError):
        raise argparse.ArgumentTypeError(f"{value!r} is not a host this machine can resolve"
                                         ) from None
    return value


def positive_float(value: str) -> float:
    """A finite number above 0."""
    number = _number(value)
    if not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be a finite number above 0")
    return number


def above(bound: float) -> Callable[[str], float]:
    """A finite number above ``bound``."""
    def check(value: str) -> float:
        number = positive_float(value) if bound >= 0 else float(value)
        if number <= bound:
            raise argparse.ArgumentTypeError(f"{value} must be above {bound:g}")
        return number

    return check


def monday(value: str) -> str:
    """A date that is a Monday (weeks start on Mondays)."""
    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"{value!r} is not a date") from None
    if day is pd.NaT:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date")
    if day.dayofweek != 0:
        raise argparse.ArgumentTypeError(f"{value} is a {day.day_name()}; weeks start on "
                                         "Mondays")
    return value
