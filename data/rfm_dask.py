"""RFM statistics and purchase history of a transaction log on a Dask cluster.

The same numbers as :func:`bayescope.data.rfm.rfm_summary` and
:func:`bayescope.data.purchase_history.purchase_history` on the whole log in one frame (a test
checks equality on a two-process ``LocalCluster``), computed where the data lie:

1. each partition is validated on its worker as it is read
   (:func:`~bayescope.data.dask_tables.validate_on_workers`), streaming into what follows;
2. a reduction gives the log's last timestamp, which resolves the calibration and
   observation ends as the single-machine path resolves them (in the same graph);
3. the rows are shuffled by customer (a hash shuffle), so that each partition holds every
   purchase of its customers: exact duplicates, distinct purchase periods, first-period values
   and the last inter-purchase times are all per-customer and need the customer's rows
   together, which no partial sum can give;
4. each customer partition is summarised by the single-machine code itself, and only the
   per-customer statistics and the per-period repeat counts (summed over partitions) come back
   to the client; transactions never do. All of it is one computation: the log is read once.

Customers come back in order of first appearance in the log, as ``pd.factorize`` orders them
on a single machine (each row carries its global position, ``__order``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.dask_tables import (
    READ_ERRORS,
    SOURCE_FILE,
    PartitionInputError,
    dask_modules,
    read_dask_table,
    unreadable,
    validate_on_workers,
    with_file_rows,
)
from bayescope.data.purchase_history import PurchaseHistory, purchase_history
from bayescope.data.rfm import (
    RFMSummary,
    SummaryEnds,
    check_time_unit,
    parse_end,
    period_of,
    summarise_between,
    summary_ends,
)
from bayescope.data.transaction_summary import TransactionSummary
from bayescope.data.transactions import (
    STANDARD_COLUMNS,
    LoadReport,
    TransactionColumns,
    validate_transactions,
)
from bayescope.errors import BayescopeInputError

_CUSTOMER_COLUMNS = ("frequency", "recency", "T", "monetary_value", "frequency_holdout",
                     "monetary_value_holdout", "regularity_m", "value_cv")


@dataclass(frozen=True)
class _PartSummary:
    customers: pd.DataFrame
    n_kept: int
    has_holdout_rows: bool
    first_period: int
    repeat_counts: np.ndarray


def _validator(columns: TransactionColumns) -> Any:
    def validate(raw: pd.DataFrame, first_row: int) -> pd.DataFrame:
        return validate_transactions(raw, columns, first_row)[0]
    return validate


def _summarise_part(part: pd.DataFrame, time_unit: str, ends: SummaryEnds) -> _PartSummary:
    part = part.sort_values("__order", kind="stable").drop_duplicates(
        subset=list(STANDARD_COLUMNS), ignore_index=True)
    times = part["timestamp"].to_numpy(dtype="datetime64[ns]")
    in_holdout = ((times > ends.calibration_end.to_datetime64())
                  & (times <= ends.observation_end.to_datetime64()))
    empty = _PartSummary(pd.DataFrame(columns=["customer_id", "__order", *_CUSTOMER_COLUMNS]),
                         len(part), bool(in_holdout.any()), 0, np.zeros(0))
    if not (times <= ends.calibration_end.to_datetime64()).any():
        return empty
    rfm = summarise_between(part, time_unit, ends)
    if ends.holdout and rfm.frequency_holdout is None:
        rfm = replace(rfm, frequency_holdout=np.zeros(rfm.n_customers),
                      monetary_value_holdout=np.zeros(rfm.n_customers))
    history = purchase_history(part, rfm)
    first_seen = part.groupby("customer_id", sort=False)["__order"].min()
    holdout = rfm.frequency_holdout if ends.holdout else np.full(rfm.n_customers, np.nan)
    holdout_value = rfm.monetary_value_holdout if ends.holdout \
        else np.full(rfm.n_customers, np.nan)
    customers = pd.DataFrame({
        "customer_id": rfm.customer_id, "__order": first_seen.loc[rfm.customer_id].to_numpy(),
        "frequency": rfm.frequency, "recency": rfm.recency, "T": rfm.T,
        "monetary_value": rfm.monetary_value, "frequency_holdout": holdout,
        "monetary_value_holdout": holdout_value, "regularity_m": history.regularity_m,
        "value_cv": history.value_cv})
    return _PartSummary(customers, len(part), bool(in_holdout.any()), history.first_period,
                        history.repeat_by_period)


def summarise_transactions_on_dask(
    source: str | Path | pd.DataFrame,
    columns: TransactionColumns | None = None,
    time_unit: str = "W",
    calibration_end: str | pd.Timestamp | None = None,
    observation_end: str | pd.Timestamp | None = None,
    partitions: int | None = None,
) -> TransactionSummary:
    """The RFM summary and purchase history of a log read and reduced by Dask.

    Parameters
    ----------
    source
        A file, glob or folder of CSV or Parquet parts (Klaviyo schema, columns named by
        ``columns``), or a pandas DataFrame (split across the workers).
    columns, time_unit, calibration_end, observation_end
        As for :func:`bayescope.data.transactions.load_transactions` and
        :func:`bayescope.data.rfm.rfm_summary`.
    partitions
        Customer partitions of the shuffle (default: as many as the input's).

    Raises
    ------
    BayescopeInputError
        For bad input, naming the column, the file and the rows; for ends that leave no
        customer, as :func:`~bayescope.data.rfm.rfm_summary` does.
    """
    check_time_unit(time_unit)
    dask, dd = dask_modules()
    source_name = "the data frame" if isinstance(source, pd.DataFrame) else str(source)
    columns = columns or TransactionColumns()
    for end, name in ((calibration_end, "calibration_end"), (observation_end, "observation_end")):
        if end is not None:
            parse_end(end, name)  # a bad date is refused before the log is read
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True).assign(**{SOURCE_FILE: "the data frame"})
        raw = dd.from_pandas(frame, npartitions=max(partitions or 2, 1), sort=False)
    else:
        raw = read_dask_table(source)
    meta = pd.DataFrame({"customer_id": pd.Series(dtype=object),
                         "timestamp": pd.Series(dtype="datetime64[ns]"),
                         "value": pd.Series(dtype=float)})
    table = validate_on_workers(raw, _validator(columns), meta)
    ends = dask.delayed(summary_ends, pure=True)(table.frame["timestamp"].max(),
                                                 calibration_end, observation_end)
    by_customer = table.frame.shuffle(on="customer_id",
                                      npartitions=partitions or table.frame.npartitions)
    summarise = dask.delayed(_summarise_part, pure=True)
    try:
        with warnings.catch_warnings():
            # One computation of delayed and expression pieces: the log is read once.
            warnings.filterwarnings("ignore", message="Computing mixed collections")
            n_rows, resolved, *parts = dask.compute(
                table.frame["__raw_rows"].sum(), ends,
                *[summarise(part, time_unit, ends) for part in by_customer.to_delayed()])
    except PartitionInputError as exc:
        raise with_file_rows(table, exc) from None
    except READ_ERRORS as exc:
        raise unreadable(source_name, exc) from None
    if int(n_rows) == 0:
        raise BayescopeInputError(f"{source_name} has no rows", field="path")
    return _combine(tuple(parts), time_unit, resolved, int(n_rows))


def _combine(parts: tuple[_PartSummary, ...], time_unit: str, ends: SummaryEnds,
             n_rows: int) -> TransactionSummary:
    summarised = [p for p in parts if len(p.customers)]
    if not summarised:
        raise BayescopeInputError(
            f"no transaction on or before the calibration end {ends.calibration_end}",
            field="calibration_end")
    customers = pd.concat([p.customers for p in summarised], ignore_index=True).sort_values(
        "__order", kind="stable")
    has_holdout = ends.holdout and any(p.has_holdout_rows for p in parts)
    cal_end_period = period_of(ends.calibration_end, time_unit)
    obs_end_period = period_of(ends.observation_end, time_unit)

    def column(name: str) -> np.ndarray:
        return customers[name].to_numpy(dtype=float)

    rfm = RFMSummary(
        customer_id=customers["customer_id"].to_numpy().astype(str),
        frequency=column("frequency"), recency=column("recency"), T=column("T"),
        monetary_value=column("monetary_value"), time_unit=time_unit,
        calibration_end=ends.calibration_end, observation_end=ends.observation_end)
    if has_holdout:
        rfm.frequency_holdout = column("frequency_holdout")
        rfm.monetary_value_holdout = column("monetary_value_holdout")
        rfm.duration_holdout = float(obs_end_period - cal_end_period)
    first_period = min(p.first_period for p in summarised)
    counts = np.zeros(obs_end_period - first_period + 1)
    for part in summarised:
        start = part.first_period - first_period
        counts[start:start + part.repeat_counts.size] += part.repeat_counts
    history = PurchaseHistory(column("regularity_m"), column("value_cv"), counts, first_period,
                              cal_end_period - first_period + 1)
    n_kept = sum(p.n_kept for p in parts)
    return TransactionSummary(rfm, history, LoadReport(n_rows, n_rows - n_kept))
