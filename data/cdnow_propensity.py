"""A real purchase-propensity task from CDNOW, in the ShopSphere schema.

Each customer who bought on or before a cut-off gets one row; the target is whether they buy
in the ``window_days`` after it; every feature comes from purchases on or before the cut-off
(nothing later is read). CDNOW holds only purchases (date, number of CDs, value), so:

=============================================  ============================================
``orders_12m``                                 purchase days in the 12 months before
``avg_order_value``, ``total_spend_12m``       value per purchase day, total, same window
``days_since_last_order``                      days from the last purchase to the cut-off
``categories_purchased_12m``                   purchase records in the 12 months (the
                                               closest thing to breadth CDNOW's log has)
``tenure_days``                                days since the first purchase
``discount_usage_rate``, ``refund_rate``,      0: not recorded
``returns_12m``, ``tickets_12m``
behavioural counts and days                    0: no web or e-mail data
``avg_session_duration``, ``csat_score``       missing (allowed by the schema)
demographics                                   missing (allowed by the schema)
=============================================  ============================================

Constant columns carry no information and the model leaves their effects at the prior; the
real signal is recency, frequency and value, as in the BTYD models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayescope.data.cdnow import load_cdnow
from bayescope.data.propensity_table import CATEGORICAL, NUMERIC, TARGET
from bayescope.errors import BayescopeInputError

DEFAULT_CUTOFF = "1997-09-30"


def cdnow_propensity_table(cutoff: str = DEFAULT_CUTOFF, window_days: int = 30,
                           transactions: pd.DataFrame | None = None) -> pd.DataFrame:
    """The CDNOW purchase-in-window table (see module docstring), one row per customer."""
    tx = load_cdnow() if transactions is None else transactions
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)  # the cut-off day is history
    if end + pd.Timedelta(days=window_days) > tx["timestamp"].max() + pd.Timedelta(days=1):
        raise BayescopeInputError(f"the {window_days}-day window after {cutoff} runs past the "
                                  "last purchase", field="cutoff")
    before = tx[tx["timestamp"] < end].assign(day=lambda f: f["timestamp"].dt.floor("D"))
    year = before[before["day"] >= end - pd.Timedelta(days=365)]
    customers = np.sort(before["customer_id"].astype(str).unique())
    recent = year.groupby("customer_id")
    days = year.drop_duplicates(["customer_id", "day"]).groupby("customer_id").size()
    spend = recent["value"].sum()
    records = recent.size()
    first = before.groupby("customer_id")["day"].min()
    last = before.groupby("customer_id")["day"].max()
    bought = tx[(tx["timestamp"] >= end) & (tx["timestamp"] < end + pd.Timedelta(
        days=window_days))]["customer_id"].astype(str).unique()

    def per_customer(series: pd.Series) -> np.ndarray:
        return series.reindex(customers, fill_value=0).to_numpy(dtype=float)

    orders = per_customer(days)
    total = per_customer(spend)
    table: dict[str, object] = {"customer_id": customers}
    for column in CATEGORICAL:
        table[column] = None
    for column in NUMERIC:
        table[column] = 0.0
    table.update({
        "avg_session_duration": np.nan, "csat_score": np.nan,
        "orders_12m": orders, "total_spend_12m": total,
        "avg_order_value": np.where(orders > 0, total / np.maximum(orders, 1), 0.0),
        "categories_purchased_12m": per_customer(records),
        "days_since_last_order": ((end - last.reindex(customers)).dt.days - 1).to_numpy(),
        "tenure_days": ((end - first.reindex(customers)).dt.days - 1).to_numpy(),
        TARGET: np.isin(customers, bought).astype(int),
    })
    return pd.DataFrame(table)
