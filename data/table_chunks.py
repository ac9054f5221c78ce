"""Read a customer table in row chunks, so a file of any size fits in bounded memory.

:func:`iter_file_chunks` gives ``(first_row_number, DataFrame)`` chunks of one CSV/TSV
(optionally compressed) or Parquet file, streamed with pandas' chunked CSV reader or pyarrow's
record batches, whose cells are what :func:`read_table` would give (CSV cells as strings,
Parquet values typed), so the same validation runs on each chunk and errors name file rows.
Sources larger than one machine (globs, folders of parts) are read on a Dask cluster by
:mod:`bayescope.data.dask_tables`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from bayescope.errors import BayescopeInputError

PARQUET = (".parquet", ".pq")


def table_kind(path: Path) -> str:
    """``parquet``, ``csv`` or ``tsv`` from a file's suffixes (a folder of Parquet files is
    ``parquet``); anything else is one clear error."""
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith(PARQUET) or (path.is_dir() and any(path.glob("*.parquet"))):
        return "parquet"
    if ".tsv" in suffixes:
        return "tsv"
    if ".csv" in suffixes or ".txt" in suffixes:
        return "csv"
    raise BayescopeInputError(
        f"unknown file type '{suffixes or path.name}': use .csv, .csv.gz, .tsv or .parquet",
        field="path")


def readable_table_kind(path: Path) -> str:
    """:func:`table_kind` of an existing, non-empty file; one clear error otherwise."""
    if not path.is_file():
        raise BayescopeInputError(f"file not found: {path}", field="path")
    if path.stat().st_size == 0:
        raise BayescopeInputError(f"file is empty: {path}", field="path")
    return table_kind(path)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file into a DataFrame of strings/values.

    Raises
    ------
    BayescopeInputError
        If the file is missing, empty or of an unknown type.
    """
    path = Path(path)
    kind = readable_table_kind(path)
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = _read_csv_as_text(path, "\t" if kind == "tsv" else ",")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise BayescopeInputError(f"cannot read {path}: {exc}", field="path") from exc
    if frame.empty:
        raise BayescopeInputError(f"file has a header but no rows: {path}", field="path")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_csv_as_text(path: Path, sep: str) -> pd.DataFrame:
    """Every column as text, blanks kept as empty strings. pyarrow's multi-threaded reader
    first (2.7M rows: 0.37 s against the C parser's 1.70 s, the same frame); where it refuses
    a file (it is stricter, e.g. about ragged rows), the C parser decides."""
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, engine="pyarrow")
    except (ValueError, OSError, pd.errors.ParserError):
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)


def read_source(source: pd.DataFrame | str | Path) -> pd.DataFrame:
    """A DataFrame as given, or the file at ``source`` read by :func:`read_table`: the one way
    the Python API accepts "a DataFrame or a path"."""
    if isinstance(source, pd.DataFrame):
        if source.empty:
            raise BayescopeInputError("the table has no rows", field="data")
        return source
    return read_table(source)


def _clean_columns(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def iter_file_chunks(path: str | Path, rows: int = 100_000
                     ) -> Iterator[tuple[int, pd.DataFrame]]:
    """Chunks of ``rows`` rows of one file, with the file row number of each chunk's first."""
    path = Path(path)
    kind = readable_table_kind(path)
    first = 1
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
                frame = _clean_columns(batch.to_pandas())
                yield first, frame
                first += len(frame)
        else:
            reader = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", dtype=str,
                                 keep_default_na=False, chunksize=rows)
            with reader:
                for frame in reader:
                    yield first, _clean_columns(frame)
                    first += len(frame)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise BayescopeInputError(f"cannot read {path}: {exc}", field="path") from exc
    if first == 1:
        raise BayescopeInputError(f"file has a header but no rows: {path}", field="path")
