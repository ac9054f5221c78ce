"""Load and validate a transaction log (Klaviyo schema: one row per purchase).

The schema is ``CustomerID, Timestamp (ISO 8601, UTC), PurchaseValue``; column names can be
overridden and column order does not matter. Every loader returns the same tidy frame with the
columns ``customer_id`` (str), ``timestamp`` (tz-naive UTC ``datetime64``) and ``value``
(float), so the RFM code never sees a user's naming.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bayescope.data.table_chunks import read_table
from bayescope.data.validation import raise_for_implausible_dates, raise_for_rows
from bayescope.errors import BayescopeInputError

STANDARD_COLUMNS = ("customer_id", "timestamp", "value")


@dataclass(frozen=True)
class TransactionColumns:
    """Names of the three transaction columns in the user's file."""

    customer: str = "CustomerID"
    time: str = "Timestamp"
    value: str | None = "PurchaseValue"


@dataclass(frozen=True)
class LoadReport:
    """What the loader did to the raw rows, so the CLI can say it."""

    n_rows_read: int
    n_duplicates_dropped: int


def load_transactions(
    path: str | Path, columns: TransactionColumns | None = None
) -> tuple[pd.DataFrame, LoadReport]:
    """Load a user's transaction file and validate it.

    Parameters
    ----------
    path
        CSV (``.csv``, ``.csv.gz``, ``.tsv``) or Parquet file.
    columns
        The names of the customer, timestamp and value columns in the file.

    Returns
    -------
    transactions, report
        The tidy frame (see module docstring) and what was dropped.
    """
    return validate_transactions(read_table(path), columns or TransactionColumns())


def validate_transactions(
    raw: pd.DataFrame, columns: TransactionColumns | None = None, first_row: int = 1
) -> tuple[pd.DataFrame, LoadReport]:
    """Validate a raw transaction table: the single entry point for all transaction input.

    Missing columns, empty customer IDs, unparseable timestamps and negative or non-numeric
    values raise one :class:`BayescopeInputError` naming the column and the first offending
    rows (``first_row`` = the first data row's number, 1 for a whole file; a later part of a
    file starts further on). Exact duplicate rows are dropped and counted.
    """
    columns = columns or TransactionColumns()
    wanted = [columns.customer, columns.time] + ([columns.value] if columns.value else [])
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        raise BayescopeInputError(
            f"missing column(s) {missing}; the file has {list(raw.columns)}. "
            "Use --customer-col/--time-col/--value-col to name yours.",
            field=missing[0],
        )
    if raw.empty:
        raise BayescopeInputError("the transaction table has no rows", field=columns.customer)
    row_numbers = np.arange(first_row, first_row + len(raw))

    customer = raw[columns.customer].astype(str).str.strip()
    bad = customer.isin(["", "nan", "None", "<NA>"]).to_numpy()
    raise_for_rows(bad, row_numbers, columns.customer, "is empty")

    timestamp = _parse_timestamps(raw[columns.time], columns.time, row_numbers)

    if columns.value:
        value = _parse_values(raw[columns.value])
        raise_for_rows(~np.isfinite(value), row_numbers, columns.value,
                       "is not a finite number", raw[columns.value])
        raise_for_rows(value < 0, row_numbers, columns.value, "is negative", raw[columns.value])
    else:
        value = np.full(len(raw), np.nan)

    tidy = pd.DataFrame({"customer_id": customer.reset_index(drop=True),
                         "timestamp": timestamp,
                         "value": value})
    n_before = len(tidy)
    tidy = tidy[~_duplicate_rows(tidy)].reset_index(drop=True)
    return tidy, LoadReport(n_rows_read=n_before, n_duplicates_dropped=n_before - len(tidy))


def _duplicate_rows(tidy: pd.DataFrame) -> np.ndarray:
    """``tidy.duplicated()`` (later copies of an earlier row), computed where it can be true.

    Rows are duplicates only if their timestamps and values are, so one int64 hash of the two
    picks the candidates and the exact comparison runs on those alone: 0.2 s instead of
    ``duplicated``'s 1.2 s on 2.7M rows, where it factorises every column.
    """
    time_hash = pd.util.hash_array(tidy["timestamp"].to_numpy().view(np.int64))
    value = tidy["value"].to_numpy(dtype=float)
    # -0.0 equals 0.0 and every NaN equals every other for ``duplicated``: one bit pattern each
    canonical = np.where(np.isnan(value), np.nan, value + 0.0)
    value_hash = pd.util.hash_array(canonical.view(np.int64))
    candidate = pd.Series(time_hash ^ (value_hash * np.uint64(0x9E3779B97F4A7C15))).duplicated(
        keep=False).to_numpy()
    duplicate = np.zeros(len(tidy), dtype=bool)
    rows = np.flatnonzero(candidate)
    if rows.size:
        duplicate[rows] = tidy.iloc[rows].duplicated().to_numpy()
    return duplicate


# pyarrow's casts first, pandas' parsers where they refuse: the casts accept a subset of what
# pandas does (every value with a zone offset; plain decimal numbers) and give the same result
# on it, about 6x and 8x faster on 2.7M rows (0.09 s against 0.47 s and 0.73 s).
_ARROW_REFUSALS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError,
                   TypeError)


def _parse_values(raw: pd.Series) -> np.ndarray:
    """Numbers as floats, NaN where a value is not a number."""
    try:
        return pc.cast(pa.array(raw), pa.float64()).to_numpy(zero_copy_only=False)
    except _ARROW_REFUSALS:
        return pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)


def _parse_timestamps(raw: pd.Series, column: str, row_numbers: np.ndarray) -> np.ndarray:
    """Parse ISO 8601 timestamps (any offset) to tz-naive UTC nanoseconds; name unparseable
    rows and rows outside the plausible dates."""
    stamps = _read_timestamps(raw, column, row_numbers)
    raise_for_implausible_dates(stamps, row_numbers, column, raw.to_numpy())
    return stamps.astype("datetime64[ns]")


def _read_timestamps(raw: pd.Series, column: str, row_numbers: np.ndarray) -> np.ndarray:
    """Timestamps as tz-naive UTC in the parser's own unit (pandas reads the year 1000 in
    microseconds, beyond nanoseconds); unparseable rows named."""
    if not pd.api.types.is_datetime64_any_dtype(raw):
        try:
            utc = pc.cast(pa.array(raw), pa.timestamp("ns", tz="UTC"))
            if utc.null_count == 0:
                return utc.to_numpy(zero_copy_only=False).astype("datetime64[ns]")
        except _ARROW_REFUSALS:
            pass
    text = raw.astype(str).str.strip()
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = pd.to_datetime(raw, utc=True)
    else:
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        if parsed.isna().any():  # fall back to pandas' flexible parser for non-ISO layouts
            retry = pd.to_datetime(text[parsed.isna()], utc=True, errors="coerce", format="mixed")
            parsed = parsed.fillna(retry)
    raise_for_rows(parsed.isna().to_numpy(), row_numbers, column,
                   "is not a timestamp (expected ISO 8601, e.g. 2024-03-01T14:05:00Z)", raw)
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
