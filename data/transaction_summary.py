"""What a BTYD fit needs of a transaction log, whichever engine read it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bayescope.data.purchase_history import PurchaseHistory, purchase_history
from bayescope.data.rfm import RFMSummary, rfm_summary
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
    rfm = rfm_summary(transactions, time_unit, calibration_end, observation_end)
    return TransactionSummary(rfm, purchase_history(transactions, rfm), report)
