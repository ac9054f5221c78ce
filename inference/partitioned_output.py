"""Prediction tables written by Dask workers as a partitioned Parquet dataset.

Each worker computes one partition and writes it as ``part-NNNNN.parquet`` into a folder
beside the target; the folder is renamed onto the target only when every partition succeeded,
so a failure leaves nothing half-written. Two sources of partitions:

* :func:`write_partitions_on_dask`: inputs the client already holds (a run's customers),
  cut into parts and sent out, with one shared object (the thinned posterior) sent once;
* :func:`score_table_on_dask`: a file, glob or folder of parts that the workers read, validate
  and score themselves, so memory per worker is one partition and the client receives only
  row counts and small extras.

Workers must see the output folder (a local cluster does; a multi-machine cluster needs a
shared file system or a mounted bucket, as for any Dask ``to_parquet``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bayescope.data.dask_tables import (
    READ_ERRORS,
    first_rows_in_files,
    in_file,
    read_dask_table,
    split_source,
    unreadable,
)
from bayescope.errors import BayescopeInputError
from bayescope.files import atomic_directory

PART_NAME = "part-{:05d}.parquet"


def _write_frame(frame: pd.DataFrame, folder: str, number: int) -> int:
    frame.to_parquet(Path(folder) / PART_NAME.format(number), index=False)
    return len(frame)


def _write_part(compute: Callable[..., tuple[pd.DataFrame, Any]], args: tuple[Any, ...],
                folder: str, number: int) -> tuple[int, Any]:
    frame, extra = compute(*args)
    return _write_frame(frame, folder, number), extra


@contextmanager
def _partial_folder(out: str | Path) -> Iterator[Path]:
    """A folder beside ``out`` swapped in for it whole when the block succeeds
    (:func:`bayescope.files.atomic_directory`), else removed with ``out`` untouched."""
    target = Path(out).resolve()
    if target.exists() and not target.is_dir():
        raise BayescopeInputError(f"{target} is a file: the Dask engine writes a folder of "
                                  "Parquet parts", field="out")
    with atomic_directory(target) as work:
        yield work


def _client() -> Any:
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):  # no distributed client: Dask's local scheduler
        return None


def _compute_writes(tasks: list[Any]) -> list[Any]:
    """Compute tasks that write into a :func:`_partial_folder`; on any failure, cancel the
    others and wait for running ones to stop writing, so that the folder's removal, which
    follows, leaves nothing behind."""
    import dask

    client = _client()
    if client is None:
        return list(dask.compute(*tasks))
    futures = client.compute(tasks)
    try:
        return list(client.gather(futures))
    except BaseException:
        client.cancel(futures)
        for _ in range(50):  # a running task finishes its part; give it a few seconds
            if not any(f.status == "pending" for f in futures):
                break
            time.sleep(0.1)
        raise


def _scatter(shared: Any) -> Any:
    """``shared`` sent once to every worker of the current client (itself without one)."""
    if shared is None:
        return None
    client = _client()
    return shared if client is None else client.scatter(shared, broadcast=True)


@dataclass(frozen=True)
class ScoredTable:
    """What was written: rows, Parquet parts, and each part's extra, in part order."""

    rows: int
    parts: int
    extras: list[Any]


def write_partitions_on_dask(
    compute: Callable[..., tuple[pd.DataFrame, Any]], parts: Iterable[tuple[Any, ...]],
    out: str | Path, shared: Any = None,
) -> ScoredTable:
    """Run ``compute(*part, shared)`` for each part on the cluster and write its frames.

    Parameters
    ----------
    compute
        Builds one partition's table and a small extra for the client from its inputs (a
        picklable, module-level function).
    parts
        The inputs of each partition, in output order.
    out
        The folder to write (replaced whole).
    shared
        One object every partition needs (a posterior, a simulator), sent to each worker once.
    """
    import dask

    with _partial_folder(out) as work:
        write = dask.delayed(_write_part, pure=False)
        shared_future = _scatter(shared)
        written = _compute_writes([write(compute, (*part, shared_future), str(work), number)
                                   for number, part in enumerate(parts)])
    return ScoredTable(sum(rows for rows, _ in written), len(written),
                       [extra for _, extra in written])


Scorer = Callable[[pd.DataFrame, int, int, Any], tuple[pd.DataFrame, Any]]
"""``score(raw, first_row, part_number, shared)``: validates and scores one part of a file
whose first row has number ``first_row`` (``part_number`` seeds any simulation); returns the
table to write and a small extra for the client (counts, hashes). Bad input raises
:class:`BayescopeInputError` naming the file's rows."""


@dataclass(frozen=True)
class _Scored:
    file: str
    n_rows: int
    failed: bool
    written: int
    extra: Any


def _score_part(part: pd.DataFrame, number: int, score: Scorer, shared: Any,
                folder: str) -> _Scored:
    file, raw = split_source(part)
    if raw.empty:
        return _Scored(file, 0, False, 0, None)
    try:
        frame, extra = score(raw, 1, number, shared)
    except BayescopeInputError as exc:
        return _Scored(file, len(raw), True, 0, exc)
    return _Scored(file, len(raw), False, _write_frame(frame, folder, number), extra)


def _rescore(part: pd.DataFrame, score: Scorer, first_row: int, number: int,
             shared: Any) -> None:
    score(split_source(part)[1], first_row, number, shared)


def score_table_on_dask(source: str | Path, score: Scorer, out: str | Path, shared: Any = None,
                        finish: Callable[[list[Any]], None] | None = None) -> ScoredTable:
    """Score a file, glob or folder of parts where its partitions lie, each worker writing its
    part of the Parquet folder ``out``.

    One pass: every partition is validated and scored on its worker with its rows numbered
    from 1; a partition that fails is validated again with its rows numbered in its file, so
    the error reads as the single-machine one, prefixed by the file. ``finish(extras)`` runs
    on the client before ``out`` is put in place and may refuse the whole table (a
    ``customer_id`` repeated across partitions).

    Raises
    ------
    BayescopeInputError
        The first failing partition's error, in file order; ``out`` is then untouched.
    """
    import dask

    if not isinstance(source, str | Path):
        raise BayescopeInputError("the Dask engine reads a file, a glob or a folder of parts; "
                                  "score a table in memory with the pandas engine",
                                  field="data")
    raw = read_dask_table(source)
    parts = raw.to_delayed()
    with _partial_folder(out) as work:
        shared_future = _scatter(shared)
        task = dask.delayed(_score_part, pure=False)
        try:
            outcomes: list[_Scored] = _compute_writes(
                [task(part, number, score, shared_future, str(work))
                 for number, part in enumerate(parts)])
        except READ_ERRORS as exc:
            raise unreadable(source, exc) from None
        first_rows = first_rows_in_files([(o.file, o.n_rows) for o in outcomes])
        for number, outcome in enumerate(outcomes):
            if outcome.failed:
                try:
                    dask.compute(dask.delayed(_rescore)(parts[number], score,
                                                        first_rows[number], number,
                                                        shared_future))
                except BayescopeInputError as exc:
                    raise in_file(outcome.file, exc) from None
                first = outcome.extra  # it passed the second time: the first error stands
                raise BayescopeInputError(f"{outcome.file}: {first} (rows counted within "
                                          "its part)", field=first.field, rows=first.rows)
        if not any(outcome.n_rows for outcome in outcomes):
            raise BayescopeInputError(f"{source} has no rows", field="path")
        extras = [outcome.extra for outcome in outcomes if outcome.n_rows]
        if finish is not None:
            finish(extras)
    return ScoredTable(sum(o.written for o in outcomes),
                       sum(1 for o in outcomes if o.n_rows), extras)
