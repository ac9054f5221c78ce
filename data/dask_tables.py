"""Read a table too large for one machine as a Dask DataFrame, validated on the workers.

A source is a file, a glob (``events/month=*/part-*.parquet``) or a folder of Parquet or CSV
parts. Every partition knows the file it came from, so that a bad value found on a worker is
reported as the single-machine loaders report it: one :class:`BayescopeInputError` naming the
column, the file and the file's row numbers. Validation and the reduction that follows run
where the data are; only small results (row counts, an error) come back to the client.

Nothing here starts a cluster: the computations run on the current ``dask.distributed``
client (see :mod:`bayescope.inference.dask_engine`), or on Dask's local scheduler without one.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from bayescope.data.table_chunks import PARQUET, table_kind
from bayescope.errors import BayescopeInputError

READ_ERRORS: tuple[type[Exception], ...] = (pd.errors.ParserError, UnicodeDecodeError,
                                          pa.ArrowException)
"""What a worker's reader raises for a file it cannot parse (a bad CSV line, a corrupt Parquet
row group): turned into one :class:`BayescopeInputError` by :func:`unreadable`."""

SOURCE_FILE = "__source_file"
"""The column every partition carries: the file its rows came from."""

CSV_BLOCK_BYTES = 64 << 20
TEXT_PARTS = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".tsv", ".tsv.gz", ".txt")


def unreadable(source: str | Path, error: Exception) -> BayescopeInputError:
    """The loaders' "cannot read" error for a source a worker could not parse."""
    return BayescopeInputError(f"cannot read {source}: {type(error).__name__}: {error}",
                               field="path")


def dask_modules() -> tuple[Any, Any]:
    """``dask`` and ``dask.dataframe``, or one clear error naming the extra to install."""
    try:
        import dask
        import dask.dataframe as dd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BayescopeInputError("the Dask engine needs dask: pip install 'bayescope[scale]'",
                                  field="engine") from exc
    return dask, dd


def source_files(source: str | Path) -> list[Path]:
    """The files a source names: itself, a glob's matches, or a folder's Parquet (else CSV)
    parts, sorted; one clear error when there are none."""
    text = str(source)
    if glob.has_magic(text):
        files = [Path(m) for m in sorted(glob.glob(text, recursive=True)) if Path(m).is_file()]
    elif Path(text).is_dir():
        parts = sorted(p for p in Path(text).rglob("*") if p.is_file()
                       and not p.name.startswith((".", "_")))  # checksums, _SUCCESS markers
        files = [p for p in parts if p.name.lower().endswith(PARQUET)]
        files = files or [p for p in parts if p.name.lower().endswith(TEXT_PARTS)]
    else:
        files = [Path(text)] if Path(text).is_file() else []
    if not files:
        raise BayescopeInputError(f"no file or folder matches {text}", field="path")
    kinds = {table_kind(f) for f in files}
    if len(kinds) > 1:
        raise BayescopeInputError(f"{text} mixes file types {sorted(kinds)}: use one",
                                  field="path")
    return files


def read_dask_table(source: str | Path) -> Any:
    """The source as a Dask DataFrame with a :data:`SOURCE_FILE` column.

    Parquet files give one partition per row group (read with pyarrow on the worker); CSV files
    are split into blocks of :data:`CSV_BLOCK_BYTES` by Dask's reader, cells kept as strings as
    :func:`bayescope.data.table_chunks.read_table` keeps them.
    """
    _, dd = dask_modules()
    files = source_files(source)
    kind = table_kind(files[0])
    if kind == "parquet":
        import pyarrow.parquet as pq

        pieces = []
        for path in files:
            try:
                groups = pq.ParquetFile(path).num_row_groups
            except (OSError, ValueError) as exc:
                raise BayescopeInputError(f"cannot read {path}: {exc}", field="path") from exc
            pieces += [(str(path), group) for group in range(groups)]
        if not pieces:
            raise BayescopeInputError(f"{source} has no rows", field="path")
        return dd.from_map(_read_row_group, pieces)
    try:
        return dd.read_csv([str(f) for f in files], sep="\t" if kind == "tsv" else ",",
                           dtype=str, keep_default_na=False, blocksize=CSV_BLOCK_BYTES,
                           include_path_column=SOURCE_FILE, assume_missing=False)
    except (ValueError, OSError) as exc:
        raise BayescopeInputError(f"cannot read {source}: {exc}", field="path") from exc


def _read_row_group(piece: tuple[str, int]) -> pd.DataFrame:
    import pyarrow.parquet as pq

    path, group = piece
    frame = pq.ParquetFile(path).read_row_group(group).to_pandas()
    frame[SOURCE_FILE] = path
    return frame


Validator = Callable[[pd.DataFrame, int], pd.DataFrame]
"""Validates one part of a file whose first row has the given number; returns the tidy rows
or raises :class:`BayescopeInputError` naming the file's rows."""


class PartitionInputError(BayescopeInputError):
    """Bad input found on a worker, its rows numbered within the partition ``part``;
    :func:`with_file_rows` turns it into the error the single-machine loader would give."""

    def __init__(self, message: str, field: str | None = None, rows: Sequence[int] = (),
                 part: int = -1) -> None:
        super().__init__(message, field, rows)
        self.part = part

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (str(self), self.field, self.rows, self.part)


def split_source(part: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """A partition of :func:`read_dask_table`: the file it came from and its raw rows."""
    file = str(part[SOURCE_FILE].iloc[0]) if len(part) else ""
    raw = part.drop(columns=[SOURCE_FILE])
    raw.columns = [str(c).strip() for c in raw.columns]
    return file, raw


def first_rows_in_files(parts: Sequence[tuple[str, int]]) -> list[int]:
    """Each partition's first row number in its file, from every partition's (file, rows) in
    order: a file's rows are numbered on across its partitions."""
    first_rows, seen = [], {}  # type: list[int], dict[str, int]
    for file, n_rows in parts:
        first_rows.append(seen.get(file, 0) + 1)
        seen[file] = seen.get(file, 0) + n_rows
    return first_rows


def in_file(file: str, error: BayescopeInputError) -> BayescopeInputError:
    """``error`` (rows numbered in ``file``) with the file named, as the loaders report it."""
    return BayescopeInputError(f"{file}: {error}", field=error.field, rows=error.rows)


def _check(part: pd.DataFrame, validate: Validator, index: int, meta: pd.DataFrame
           ) -> pd.DataFrame:
    _, raw = split_source(part)
    if raw.empty:
        return meta
    try:
        tidy = validate(raw, 1)
    except BayescopeInputError as exc:
        raise PartitionInputError(str(exc), exc.field, exc.rows, index) from None
    tidy = tidy.copy()
    tidy["__order"] = (index << 32) + np.arange(len(tidy), dtype=np.int64)
    raw_rows = np.zeros(len(tidy), dtype=np.int64)
    raw_rows[0] = len(raw)
    tidy["__raw_rows"] = raw_rows
    return tidy


def _file_and_length(part: pd.DataFrame) -> tuple[str, int]:
    file, raw = split_source(part)
    return file, len(raw)


def _revalidate(part: pd.DataFrame, validate: Validator, first_row: int) -> None:
    validate(split_source(part)[1], first_row)


@dataclass(frozen=True)
class ValidatedTable:
    """A lazily validated Dask DataFrame: the validator's columns, ``__order`` (the global row
    order, partition << 32 | row) and ``__raw_rows`` (each partition's raw row count on its
    first row, 0 elsewhere: their sum is the rows read); ``raw`` and ``validate`` to explain a
    failure (:func:`with_file_rows`)."""

    frame: Any
    raw: Any
    validate: Validator


def validate_on_workers(raw: Any, validate: Validator, meta: pd.DataFrame) -> ValidatedTable:
    """``raw`` with ``validate`` run on every partition where it lies, lazily: nothing is
    computed or held here, so the validation streams into whatever follows (a shuffle, a
    reduction), one partition in memory per task.

    A partition that fails raises :class:`PartitionInputError` from its worker; pass it to
    :func:`with_file_rows` for the error with the file named and the file's row numbers.
    """
    dask, dd = dask_modules()
    meta = meta.assign(__order=pd.Series(dtype="int64"), __raw_rows=pd.Series(dtype="int64"))
    check = dask.delayed(_check, pure=True)
    frame = dd.from_delayed([check(part, validate, i, meta)
                             for i, part in enumerate(raw.to_delayed())],
                            meta=meta, verify_meta=False)
    return ValidatedTable(frame, raw, validate)


def with_file_rows(table: ValidatedTable, error: PartitionInputError) -> BayescopeInputError:
    """The error of partition ``error.part`` as the single-machine loader gives it: the file
    named and the rows numbered in the file (the lengths of the file's earlier partitions are
    computed: a cost paid on the error path only)."""
    dask, _ = dask_modules()
    parts = table.raw.to_delayed()
    measured = dask.compute(*[dask.delayed(_file_and_length)(part)
                              for part in parts[:error.part + 1]])
    file = measured[-1][0]
    first_row = first_rows_in_files(measured)[-1]
    try:
        dask.compute(dask.delayed(_revalidate)(parts[error.part], table.validate, first_row))
    except BayescopeInputError as exc:
        return in_file(file, exc)
    return in_file(file, error)
