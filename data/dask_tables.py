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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bayescope.data.table_chunks import PARQUET, table_kind
from bayescope.errors import BayescopeInputError

SOURCE_FILE = "__source_file"
"""The column every partition carries: the file its rows came from."""

CSV_BLOCK_BYTES = 64 << 20


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
        folder = Path(text)
        files = sorted(p for p in folder.rglob("*") if p.is_file()
                       and "".join(p.suffixes).lower().endswith(PARQUET))
        files = files or sorted(p for p in folder.rglob("*") if p.is_file()
                                and ".csv" in "".join(p.suffixes).lower())
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
    frame.columns = [str(c).strip() for c in frame.columns]
    frame[SOURCE_FILE] = path
    return frame


Validator = Callable[[pd.DataFrame, int], pd.DataFrame]
"""Validates one part of a file whose first row has the given number; returns the tidy rows
or raises :class:`BayescopeInputError` naming the file's rows."""


@dataclass(frozen=True)
class _Checked:
    """One partition after validation, held on its worker."""

    tidy: pd.DataFrame | None
    file: str
    n_rows: int
    failed: bool


def _check(part: pd.DataFrame, validate: Validator, index: int) -> _Checked:
    file = str(part[SOURCE_FILE].iloc[0]) if len(part) else ""
    raw = part.drop(columns=[SOURCE_FILE])
    raw.columns = [str(c).strip() for c in raw.columns]
    if raw.empty:
        return _Checked(None, file, 0, failed=False)
    try:
        tidy = validate(raw, 1)
    except BayescopeInputError:
        return _Checked(None, file, len(raw), failed=True)
    tidy = tidy.copy()
    tidy["__order"] = (index << 32) + pd.RangeIndex(len(tidy)).to_numpy()
    return _Checked(tidy, file, len(raw), failed=False)


def _outcome(checked: _Checked) -> tuple[str, int, bool]:
    return checked.file, checked.n_rows, checked.failed


def _tidy(checked: _Checked, empty: pd.DataFrame) -> pd.DataFrame:
    return empty if checked.tidy is None else checked.tidy


def _revalidate(part: pd.DataFrame, validate: Validator, first_row: int) -> None:
    raw = part.drop(columns=[SOURCE_FILE])
    raw.columns = [str(c).strip() for c in raw.columns]
    validate(raw, first_row)


@dataclass(frozen=True)
class ValidatedTable:
    """A validated Dask DataFrame (the validator's columns plus ``__order``, the global row
    order as partition << 32 | row) and the number of raw rows read."""

    frame: Any
    n_rows: int


def validate_on_workers(raw: Any, validate: Validator, meta: pd.DataFrame) -> ValidatedTable:
    """Run ``validate`` on every partition where it lies and keep the results there.

    Parameters
    ----------
    raw
        From :func:`read_dask_table`.
    validate
        The single-machine validation of the table's schema, taking the first row's number.
    meta
        An empty frame with the validator's output columns and dtypes.

    Raises
    ------
    BayescopeInputError
        The first failing partition's error (in file order), with the file named and the rows
        numbered in the file, as the single-machine loader would number them.
    """
    dask, dd = dask_modules()
    parts = raw.to_delayed()
    check = dask.delayed(_check, pure=True)
    checked = dask.persist(*[check(part, validate, i) for i, part in enumerate(parts)])
    outcomes = dask.compute(*[dask.delayed(_outcome)(c) for c in checked])
    first_rows, seen = [], {}  # type: list[int], dict[str, int]
    for file, n_rows, _ in outcomes:
        first_rows.append(seen.get(file, 0) + 1)
        seen[file] = seen.get(file, 0) + n_rows
    for index, (file, _, failed) in enumerate(outcomes):
        if failed:
            try:
                dask.compute(dask.delayed(_revalidate)(parts[index], validate,
                                                       first_rows[index]))
            except BayescopeInputError as exc:
                raise BayescopeInputError(f"{file}: {exc}", field=exc.field,
                                          rows=exc.rows) from None
    n_rows = sum(n for _, n, _ in outcomes)
    if n_rows == 0:
        raise BayescopeInputError("the table has no rows", field="path")
    meta = meta.assign(__order=pd.Series(dtype="int64"))
    frame = dd.from_delayed([dask.delayed(_tidy)(c, meta) for c in checked], meta=meta,
                            verify_meta=False)
    return ValidatedTable(frame, n_rows)
