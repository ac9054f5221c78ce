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

from bayescope.data.table_chunks import read_table
from bayescope.data.validation import raise_for_rows
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
        value = pd.to_numeric(raw[columns.value], errors="coerce").to_numpy(dtype=float)
        raise_for_rows(~np.isfinite(value), row_numbers, columns.value,
                       "is not a finite number", raw[columns.value])
        raise_for_rows(value < 0, row_numbers, columns.value, "is negative", raw[columns.value])
    else:
        value = np.full(len(raw), np.nan)

    tidy = pd.DataFrame({"customer_id": customer.to_numpy(), "timestamp": timestamp,
                         "value": value})
    n_before = len(tidy)
    tidy = tidy.drop_duplicates(ignore_index=True)
    return tidy, LoadReport(n_rows_read=n_before, n_duplicates_dropped=n_before - len(tidy))


def _parse_timestamps(raw: pd.Series, column: str, row_numbers: np.ndarray) -> np.ndarray:
    """Parse ISO 8601 timestamps (any offset) to tz-naive UTC; name unparseable rows."""
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
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
