"""Column checks shared by the table loaders (campaign spend, propensity).

Each check raises one :class:`~bayescope.errors.BayescopeInputError` naming the column, how
many rows are at fault, the first of them and a few of their values, so every loader (and the
API, which reports the rows as instance indices) speaks the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayescope.errors import BayescopeInputError, describe_rows

MISSING_TEXT = ("", "na", "nan", "null", "none", "<na>")
SHOWN_VALUE_CHARS = 40


@dataclass(frozen=True)
class NumericRule:
    """A numeric column's closed range, whether it is whole, whether it may be missing."""

    low: float = -np.inf
    high: float = np.inf
    integer: bool = False
    missing_allowed: bool = False

    def describe(self) -> str:
        """Human-readable range, for error messages and the API's input schemas."""
        if np.isinf(self.low) and np.isinf(self.high):
            text = "a finite number"
        elif np.isinf(self.high):
            text = f">= {self.low:g}"
        else:
            text = f"between {self.low:g} and {self.high:g}"
        return ("a whole number " if self.integer else "") + text


def raise_for_rows(bad: np.ndarray, rows: np.ndarray, column: str, problem: str,
                   values: np.ndarray | None = None) -> None:
    """Raise one error naming ``column`` and the first offending rows (and their values)."""
    if not bad.any():
        return
    where = rows[bad]
    shown = ""
    if values is not None:
        sample = [_short(repr(v)) for v in np.asarray(values)[bad][:3]]
        shown = f" (values {', '.join(sample)})"
    raise BayescopeInputError(
        f"column {column!r} {problem} in {int(bad.sum())} row(s): {describe_rows(list(where))}"
        f"{shown}", field=column, rows=where[:20])


def numeric_column(values: np.ndarray, rows: np.ndarray, column: str, rule: NumericRule
                   ) -> np.ndarray:
    """Floats (NaN where missing and allowed) after checking presence, type and range."""
    if values.dtype.kind in "iufb":
        number = values.astype(float)
        blank = np.isnan(number)
    else:
        text = pd.Series(values, dtype=object)
        blank = (text.isna() | text.astype(str).str.strip().str.lower().isin(
            MISSING_TEXT)).to_numpy()
        try:
            number = pd.to_numeric(text.where(~blank), errors="coerce").to_numpy(dtype=float)
        except (OverflowError, ValueError, TypeError):  # e.g. a 400-digit integer
            number = np.array([_to_float(v) for v in text.where(~blank)], dtype=float)
    if not rule.missing_allowed:
        raise_for_rows(blank, rows, column, "is missing (not allowed in this column)", values)
    raise_for_rows(~blank & ~np.isfinite(number), rows, column, "is not a number", values)
    present = np.isfinite(number)
    outside = present & ((number < rule.low) | (number > rule.high))
    if rule.integer:
        outside |= present & (number != np.round(number))
    raise_for_rows(outside, rows, column, f"must be {rule.describe()}", values)
    return number


def _to_float(value: object) -> float:
    """A float from a cell; anything unreadable (or too large for a float) is NaN."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return float("nan")


def _short(text: str) -> str:
    return text if len(text) <= SHOWN_VALUE_CHARS else text[:SHOWN_VALUE_CHARS] + "..."


def raise_for_repeated_ids(hashes: np.ndarray, shown: int = 10) -> None:
    """Name the rows (1 = the first of all parts, in order) whose ``customer_id`` hash appears
    more than once: the duplicate check of a table read in parts (64-bit hashes compared)."""
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    repeated = np.zeros(hashes.size, bool)
    same = ordered[1:] == ordered[:-1]
    repeated[order[1:][same]] = True
    repeated[order[:-1][same]] = True
    if repeated.any():
        rows = np.flatnonzero(repeated) + 1
        listed = ", ".join(str(r) for r in rows[:shown])
        more = f" and {rows.size - shown} more" if rows.size > shown else ""
        raise BayescopeInputError(
            f"column 'customer_id' is duplicated in {rows.size} rows: {listed}{more}",
            field="customer_id", rows=rows[:shown].tolist())


PLAUSIBLE_DATES = (np.datetime64("1900-01-01"), np.datetime64("2200-01-01"))
"""Dates any of the package's inputs may carry, as ``[first, end)``: a year-1000 timestamp
is a typo or a sentinel, and would stretch a customer's T or a weekly calendar by centuries."""


def raise_for_implausible_dates(dates: np.ndarray, rows: np.ndarray, column: str,
                                values: np.ndarray | None = None) -> None:
    """One error naming ``column`` and the rows of dates outside :data:`PLAUSIBLE_DATES`
    (missing dates pass: their own check names them)."""
    stamps = np.asarray(dates)  # compared in the dates' own unit: year 1000 overflows ns
    first, end = PLAUSIBLE_DATES
    raise_for_rows(~np.isnat(stamps) & ((stamps < first) | (stamps >= end)), rows, column,
                   f"is outside {PLAUSIBLE_DATES[0]} to {PLAUSIBLE_DATES[1] - 1}", values)


def scorable_range(values: np.ndarray, log1p_scale: bool = False) -> tuple[float, float]:
    """The values a model fitted on ``values`` may score: their observed range (NaN left
    out) widened by its own width, at least 1, on each side; with ``log1p_scale`` (a
    non-negative feature the model sees as ``log1p(x)``) widened on that scale and mapped
    back, so that a heavy tail is judged as the model sees it (order values up to 160 in
    training admit 26,000, not 480)."""
    observed = np.asarray(values, float)
    observed = observed[~np.isnan(observed)]
    if observed.size == 0:
        return (-np.inf, np.inf)
    if log1p_scale:
        low, high = scorable_range(np.log1p(observed))
        return (float(np.expm1(low)), float(np.expm1(high)))
    low, high = float(observed.min()), float(observed.max())
    width = max(high - low, 1.0)
    return (low - width, high + width)


WIDENED = "its training range widened by its width each side, on the scale the model sees"


def raise_outside_ranges(table: Mapping[str, Any], ranges: Mapping[str, Sequence[float]],
                         row_offset: int, basis: str = WIDENED) -> None:
    """One error for the first column of ``table`` with values outside its range in
    ``ranges`` (by default :func:`scorable_range`, which ``basis`` describes), naming the
    range and the rows (numbered from ``row_offset``); missing values pass."""
    for column, (low, high) in ranges.items():
        values = np.asarray(table[column], float)
        outside = np.flatnonzero((values < low) | (values > high)) + row_offset
        if outside.size:
            raise BayescopeInputError(
                f"{column} is outside what this model can score, {low:.4g} to {high:.4g} "
                f"({basis}), in rows {describe_rows(outside.tolist())}", field=column,
                rows=outside.tolist())

