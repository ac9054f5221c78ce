"""RFM summaries (frequency, recency, T, monetary value) with a calibration/holdout split.

Definitions follow ``lifetimes.utils.calibration_and_holdout_data`` exactly (a test compares
them on CDNOW), so numbers are interchangeable with the lifetimes ecosystem:

* timestamps are floored to periods of the time unit (``D`` = day, ``W`` = week starting
  Monday, as pandas' ``W-SUN`` periods); several purchases in one period count once and their
  values are summed;
* ``frequency`` = number of periods with a purchase, minus the first one (repeat purchases);
* ``recency`` = periods between the first and the last purchase period; ``T`` = periods between
  the first purchase period and the calibration end;
* ``monetary_value`` = mean of the summed values of the repeat periods (0 with none);
* a calibration or observation end given as a date alone includes that whole day; with weekly
  units, pick the last day of a week (a Sunday) so the holdout starts on a period boundary;
* holdout: ``frequency_holdout`` = number of distinct periods with a purchase after the
  calibration end, ``monetary_value_holdout`` = mean raw value of those purchases,
  ``duration_holdout`` = periods between calibration end and observation end.

Written with hashing and NumPy scatter reductions instead of pandas group-bys: the bench shows
it over 10x faster than lifetimes on a million customers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from bayescope.errors import BayescopeInputError, describe_rows

TIME_UNITS = {"D": 1, "W": 7}
# pandas' weekly periods (W-SUN) start on Monday; 1970-01-01 was a Thursday, three days later.
_WEEK_OFFSET_DAYS = 3
_DENSE_LIMIT = 200_000_000  # cells of the customer x period bitmap (bytes of memory)


@dataclass
class RFMSummary:
    """Per-customer sufficient statistics for BTYD models, in one time unit.

    Arrays are aligned with ``customer_id``. Holdout arrays are ``None`` when there is no
    holdout period.
    """

    customer_id: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary_value: np.ndarray
    time_unit: str
    calibration_end: pd.Timestamp
    observation_end: pd.Timestamp
    frequency_holdout: np.ndarray | None = None
    monetary_value_holdout: np.ndarray | None = None
    duration_holdout: float | None = None

    def __post_init__(self) -> None:
        check_summary(np.column_stack([self.frequency, self.recency, self.T,
                                       self.monetary_value]))

    @property
    def n_customers(self) -> int:
        """Number of customers with a purchase on or before the calibration end."""
        return int(self.customer_id.shape[0])

    def take(self, index: np.ndarray) -> RFMSummary:
        """The customers at ``index``, holdout columns included."""
        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[index]

        return replace(
            self, customer_id=self.customer_id[index], frequency=self.frequency[index],
            recency=self.recency[index], T=self.T[index],
            monetary_value=self.monetary_value[index],
            frequency_holdout=pick(self.frequency_holdout),
            monetary_value_holdout=pick(self.monetary_value_holdout))

    @property
    def has_holdout(self) -> bool:
        """Whether holdout counts exist (observation end after calibration end)."""
        return self.frequency_holdout is not None

    def to_frame(self) -> pd.DataFrame:
        """The summary as a DataFrame with lifetimes' column names, indexed by customer."""
        frame = pd.DataFrame(
            {
                "frequency_cal": self.frequency,
                "recency_cal": self.recency,
                "T_cal": self.T,
                "monetary_value_cal": self.monetary_value,
            },
            index=pd.Index(self.customer_id, name="customer_id"),
        )
        if self.frequency_holdout is not None:
            frame["frequency_holdout"] = self.frequency_holdout
            frame["monetary_value_holdout"] = self.monetary_value_holdout
            frame["duration_holdout"] = self.duration_holdout
        return frame


def check_summary(rows: np.ndarray, first_row: int = 1,
                  row_numbers: Sequence[int] | None = None) -> None:
    """Refuse impossible RFM summaries (columns frequency, recency, T, monetary value): a
    value that is not a finite number, a negative or fractional frequency, recency outside
    [0, T], recency > 0 without repeat purchases, a negative value. One error naming the
    field and the rows (numbered from ``first_row``, or ``row_numbers``)."""
    numbers = (np.asarray(row_numbers) if row_numbers is not None
               else np.arange(first_row, first_row + len(rows)))
    x, tx, T, m = np.asarray(rows, float).T
    with np.errstate(invalid="ignore"):
        checks = (
            *((name, ~np.isfinite(column), "must be a finite number")
              for name, column in (("frequency", x), ("recency", tx), ("T", T),
                                   ("monetary_value", m))),
            ("frequency", (x < 0) | (x != np.round(x)), "must be a non-negative integer"),
            ("T", T < 0, "must be non-negative"),
            ("recency", (tx < 0) | (tx > T), "must lie in [0, T]"),
            ("recency", (x == 0) & (tx > 0), "must be 0 when frequency is 0"),
            ("monetary_value", m < 0, "must be non-negative"),
        )
    for name, bad, why in checks:
        if bad.any():
            raise BayescopeInputError(f"{name} {why} (rows {describe_rows(numbers[bad])})",
                                      field=name, rows=numbers[bad].tolist())


def period_index(timestamps: np.ndarray, time_unit: str) -> np.ndarray:
    """Integer period of each timestamp: days since 1970-01-01, or Monday-start weeks."""
    check_time_unit(time_unit)
    days = np.asarray(timestamps, dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)
    if time_unit == "D":
        return days
    return np.floor_divide(days + _WEEK_OFFSET_DAYS, 7)


def period_of(instant: pd.Timestamp, time_unit: str) -> int:
    """The period (:func:`period_index`) an instant such as a calibration end falls in."""
    return int(period_index(np.array([instant.to_datetime64()]), time_unit)[0])


def parse_end(value: str | pd.Timestamp, field: str) -> pd.Timestamp:
    """A period end as a tz-naive UTC instant; a date alone means the end of that day.

    ``"2024-01-10"`` includes purchases at 15:00 that day (the CLI promises an inclusive
    date); a full timestamp is taken as given, converted to UTC if it carries an offset.
    """
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise BayescopeInputError(f"{field}: {value!r} is not a date", field=field) from exc
    if stamp is pd.NaT:
        raise BayescopeInputError(f"{field}: {value!r} is not a date", field=field)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    if isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
        stamp = stamp + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return stamp


@dataclass(frozen=True)
class SummaryEnds:
    """The calibration and observation ends of a summary, resolved against the whole log."""

    calibration_end: pd.Timestamp
    observation_end: pd.Timestamp
    holdout: bool
    """Whether a calibration end was given, so that later purchases form a holdout."""


def summary_ends(
    last_timestamp: pd.Timestamp,
    calibration_end: str | pd.Timestamp | None = None,
    observation_end: str | pd.Timestamp | None = None,
) -> SummaryEnds:
    """The ends :func:`rfm_summary` uses for a log whose last purchase is ``last_timestamp``.

    Raises
    ------
    BayescopeInputError
        For an unparseable end, or a calibration end after the observation end.
    """
    obs_end = parse_end(observation_end, "observation_end") if observation_end is not None \
        else last_timestamp
    cal_end = parse_end(calibration_end, "calibration_end") if calibration_end is not None \
        else obs_end
    if cal_end > obs_end:
        raise BayescopeInputError(
            f"calibration end {cal_end.date()} is after the observation end {obs_end.date()}",
            field="calibration_end",
        )
    return SummaryEnds(cal_end, obs_end, holdout=calibration_end is not None)


def rfm_summary(
    transactions: pd.DataFrame,
    time_unit: str = "W",
    calibration_end: str | pd.Timestamp | None = None,
    observation_end: str | pd.Timestamp | None = None,
    customers: tuple[np.ndarray, Any] | None = None,
) -> RFMSummary:
    """Summarise a tidy transaction frame into RFM statistics with an optional holdout.

    Parameters
    ----------
    transactions
        Output of :func:`bayescope.data.transactions.validate_transactions` (columns
        ``customer_id``, ``timestamp``, ``value``).
    time_unit
        ``"D"`` (days) or ``"W"`` (weeks).
    calibration_end
        Last instant of the calibration period (inclusive). Defaults to the last timestamp,
        in which case there is no holdout.
    observation_end
        Last instant of the holdout period (inclusive). Defaults to the last timestamp.
    customers
        The customer ids factorised, when the caller has them (:func:`summarise_between`).

    Raises
    ------
    BayescopeInputError
        For an unknown time unit, or a calibration end that leaves no customer.
    """
    check_time_unit(time_unit)
    last = pd.Timestamp(transactions["timestamp"].to_numpy(dtype="datetime64[ns]").max())
    return summarise_between(transactions, time_unit,
                             summary_ends(last, calibration_end, observation_end), customers)


def summarise_between(transactions: pd.DataFrame, time_unit: str, ends: SummaryEnds,
                      customers: tuple[np.ndarray, Any] | None = None) -> RFMSummary:
    """:func:`rfm_summary` with its ends already resolved: the one summary computation, which
    the Dask engine runs on each customer partition of a larger log.

    ``customers`` is ``pd.factorize(transactions["customer_id"])`` when the caller has it
    (factorising 2.7M ids takes 0.6 s); the summary's customers are those with a calibration
    purchase, in the order of their codes (:func:`summary_positions`).

    Raises
    ------
    BayescopeInputError
        If no purchase falls on or before the calibration end.
    """
    check_time_unit(time_unit)
    cal_end, obs_end = ends.calibration_end, ends.observation_end
    times = transactions["timestamp"].to_numpy(dtype="datetime64[ns]")
    codes, uniques = customers or pd.factorize(transactions["customer_id"], sort=False)
    values = transactions["value"].to_numpy(dtype=float)
    periods = period_index(times, time_unit)
    cal_end_period = period_of(cal_end, time_unit)
    obs_end_period = period_of(obs_end, time_unit)

    in_cal = times <= cal_end.to_datetime64()
    if not in_cal.any():
        raise BayescopeInputError(
            f"no transaction on or before the calibration end {cal_end}", field="calibration_end"
        )
    cal = _calibration_stats(codes[in_cal], periods[in_cal], values[in_cal], cal_end_period)
    customer_codes, frequency, recency, T, monetary = cal
    summary = RFMSummary(
        customer_id=np.asarray(uniques)[customer_codes].astype(str),
        frequency=frequency,
        recency=recency,
        T=T,
        monetary_value=monetary,
        time_unit=time_unit,
        calibration_end=cal_end,
        observation_end=obs_end,
    )
    in_holdout = (times > cal_end.to_datetime64()) & (times <= obs_end.to_datetime64())
    if ends.holdout and in_holdout.any():
        freq_h, value_h = _holdout_stats(
            codes[in_holdout], periods[in_holdout], values[in_holdout], len(uniques)
        )
        summary.frequency_holdout = freq_h[customer_codes]
        summary.monetary_value_holdout = value_h[customer_codes]
        summary.duration_holdout = float(obs_end_period - cal_end_period)
    return summary


def summary_positions(codes: np.ndarray, n_codes: int, in_calibration: np.ndarray
                      ) -> np.ndarray:
    """Each row's customer's position in the summary of :func:`summarise_between` (-1 for a
    customer without a calibration purchase, who is not in it), from the rows' codes."""
    present = np.flatnonzero(np.bincount(codes[in_calibration], minlength=n_codes))
    lookup = np.full(n_codes, -1, dtype=np.int64)
    lookup[present] = np.arange(present.size)
    return lookup[codes]


@dataclass
class HoldoutAttachment:
    """What :func:`attach_holdout` matched: the new summary and the rows it could not use."""

    rfm: RFMSummary
    n_transactions_used: int
    n_unknown_customers: int
    n_before_calibration_end: int


def attach_holdout(
    rfm: RFMSummary, transactions: pd.DataFrame,
    observation_end: str | pd.Timestamp | None = None,
) -> HoldoutAttachment:
    """Holdout counts for ``rfm``'s customers from a separate transaction extract.

    The extract may hold the whole log or only the later purchases: rows on or before the
    calibration end are ignored, as are customers the fit never saw (both counted). A fitted
    customer without a later row made no purchase (an absent row means zero). The holdout
    runs to ``observation_end`` (default: the last timestamp), in the fit's time unit.

    Raises
    ------
    BayescopeInputError
        If no purchase falls after the calibration end.
    """
    times = transactions["timestamp"].to_numpy(dtype="datetime64[ns]")
    cal_end = rfm.calibration_end
    after = times > cal_end.to_datetime64()
    if not after.any():
        raise BayescopeInputError(
            f"the holdout extract has no purchase after the calibration end {cal_end}: "
            f"its last timestamp is {pd.Timestamp(times.max())}", field="timestamp")
    obs_end = (parse_end(observation_end, "observation_end") if observation_end is not None
               else pd.Timestamp(times[after].max()))
    use = after & (times <= obs_end.to_datetime64())
    position = pd.Index(rfm.customer_id).get_indexer(
        transactions["customer_id"].astype(str).to_numpy()[use])
    known = position >= 0
    if not known.any():
        raise BayescopeInputError(
            "none of the holdout extract's customers after the calibration end were in the "
            "fit: check the customer id column", field="customer_id")
    periods = period_index(times[use][known], rfm.time_unit)
    values = transactions["value"].to_numpy(dtype=float)[use][known]
    frequency, mean_value = _holdout_stats(position[known], periods, values, rfm.n_customers)
    cal_end_period = period_of(cal_end, rfm.time_unit)
    obs_end_period = period_of(obs_end, rfm.time_unit)
    summary = RFMSummary(
        customer_id=rfm.customer_id, frequency=rfm.frequency, recency=rfm.recency, T=rfm.T,
        monetary_value=rfm.monetary_value, time_unit=rfm.time_unit, calibration_end=cal_end,
        observation_end=obs_end, frequency_holdout=frequency,
        monetary_value_holdout=mean_value,
        duration_holdout=float(max(obs_end_period - cal_end_period, 1)))
    return HoldoutAttachment(summary, int(known.sum()), int(np.unique(
        transactions["customer_id"].astype(str).to_numpy()[use][~known]).size),
        int((~after).sum()))


def _calibration_stats(
    codes: np.ndarray, periods: np.ndarray, values: np.ndarray, end_period: int
) -> tuple[np.ndarray, ...]:
    """Frequency, recency, T and monetary value per customer from calibration purchases.

    Hash- and scatter-based (``pd.unique``, ``np.minimum.at``, ``np.bincount``) rather than a
    sort: per-customer minima, maxima and sums need no ordering.
    """
    n = int(codes.max()) + 1
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(first, codes, periods)
    np.maximum.at(last, codes, periods)
    n_periods = _distinct_periods(codes, periods, n)
    present = np.flatnonzero(n_periods > 0)
    clean = np.nan_to_num(values)
    total = np.bincount(codes, weights=clean, minlength=n)
    in_first = periods == first[codes]
    first_value = np.bincount(codes[in_first], weights=clean[in_first], minlength=n)
    frequency = (n_periods[present] - 1).astype(float)
    repeat_value = (total - first_value)[present]
    monetary = np.where(frequency > 0, repeat_value / np.maximum(frequency, 1), 0.0)
    return (
        present,
        frequency,
        (last[present] - first[present]).astype(float),
        (end_period - first[present]).astype(float),
        monetary,
    )


def _holdout_stats(
    codes: np.ndarray, periods: np.ndarray, values: np.ndarray, n_customers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct purchase periods and mean raw purchase value per customer in the holdout."""
    frequency = _distinct_periods(codes, periods, n_customers).astype(float)
    n_purchases = np.bincount(codes, minlength=n_customers)
    totals = np.bincount(codes, weights=np.nan_to_num(values), minlength=n_customers)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_value = np.where(n_purchases > 0, totals / np.maximum(n_purchases, 1), 0.0)
    return frequency, mean_value


def _distinct_periods(codes: np.ndarray, periods: np.ndarray, n_customers: int) -> np.ndarray:
    """Number of distinct periods with a purchase, per customer code."""
    low = int(periods.min())
    span = int(periods.max()) - low + 1
    keys = codes.astype(np.int64) * span + (periods - low)
    if n_customers * span <= _DENSE_LIMIT:
        # A customers x periods bitmap: a scatter and a row sum, ~4x faster than hashing.
        seen = np.zeros(n_customers * span, dtype=bool)
        seen[keys] = True
        return seen.reshape(n_customers, span).sum(axis=1)
    return np.bincount(pd.unique(keys) // span, minlength=n_customers)


def check_time_unit(time_unit: str) -> None:
    """One clear error for a time unit other than ``D`` or ``W``."""
    if time_unit not in TIME_UNITS:
        raise BayescopeInputError(
            f"time unit must be one of {sorted(TIME_UNITS)}, got {time_unit!r}", field="time_unit"
        )
