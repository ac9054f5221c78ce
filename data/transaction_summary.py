"""What a BTYD fit needs of a transaction log, whichever engine read it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bayescope.data.purchase_history import PurchaseHistory, purchase_history
from bayescope.data.rfm import RFMSummary, rfm_summary, summary_positions
from bayescope.data.transactions import LoadReport


@dataclass(frozen=True)
class TransactionSummary:
    """A log's RFM summary, the purchase history its assumption checks read, and what the
    loader dropped."""

    rfm: RFMSummary
    history: PurchaseHistory
    report: LoadReport


def summarise_transactions(
    transactions: pd.DataFrame, report: LoadReport, time_unit: str = "W",
    calibration_end: str | pd.Timestamp | None = None,
    observation_end: str | pd.Timestamp | None = None,
) -> TransactionSummary:
    """The summary of a validated log held in one frame (the pandas engine); see
    :func:`bayescope.data.rfm_dask.summarise_transactions_on_dask` for the Dask engine."""
    codes, uniques = pd.factorize(transactions["customer_id"], sort=False)
    rfm = rfm_summary(transactions, time_unit, calibration_end, observation_end,
                      customers=(codes, uniques))
    in_calibration = (transactions["timestamp"].to_numpy(dtype="datetime64[ns]")
                      <= rfm.calibration_end.to_datetime64())
    positions = summary_positions(codes, len(uniques), in_calibration)
    return TransactionSummary(rfm, purchase_history(transactions, rfm, positions), report)
