"""A real zero-inflated spend task from CDNOW, in the PostPilot campaign schema.

Each customer who bought on or before a cut-off gets one row: the target is their spend in
the ``window_days`` after the cut-off (most spend nothing; spenders are heavy-tailed), and
every feature is computed from purchases on or before the cut-off only (nothing after it is
read, so nothing leaks).

CDNOW has no campaigns, mailings, web or e-mail data, so the schema's columns are filled as
follows (the report says so too):

==============================  ==========================================================
``campaign_id``                 RETENTION_FALL for everyone (one pseudo-campaign)
``campaign_send_date``          the cut-off date
``treatment_group``             0 for everyone: no mailing, so no treatment effect or uplift
                                can be learned (the fit marks it not identified)
``historical_lifetime_spend``   total spend before the cut-off
``days_since_last_purchase``    days from the last purchase to the cut-off
``customer_tenure_days``        days from the first purchase to the cut-off
``web_activity_score``          number of purchase days before the cut-off (the activity
                                signal CDNOW has)
``brand_affinity_score``        share of the customer's tenure months with a purchase
``price_sensitivity``           log of the mean spend per purchase day
``email_open_rate``             0 for everyone (no e-mail data; a constant feature)
==============================  ==========================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayescope.data.campaign_spend import TARGET
from bayescope.data.cdnow import load_cdnow
from bayescope.errors import BayescopeInputError

DEFAULT_CUTOFF = "1997-09-30"


def cdnow_spend_table(cutoff: str = DEFAULT_CUTOFF, window_days: int = 30,
                      transactions: pd.DataFrame | None = None) -> pd.DataFrame:
    """The CDNOW 30-day spend table (see module docstring), one row per customer."""
    tx = load_cdnow() if transactions is None else transactions
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)  # the whole cut-off day is history
    if end + pd.Timedelta(days=window_days) > tx["timestamp"].max() + pd.Timedelta(days=1):
        raise BayescopeInputError(
            f"the {window_days}-day window after {cutoff} runs past the last purchase "
            f"({tx['timestamp'].max().date()}): the target would be cut short",
            field="cutoff")
    before = tx[tx["timestamp"] < end]
    after = tx[(tx["timestamp"] >= end) & (tx["timestamp"] < end + pd.Timedelta(
        days=window_days))]
    days = before.assign(day=before["timestamp"].dt.floor("D"))
    per_day = days.groupby(["customer_id", "day"], sort=False)["value"].sum().reset_index()
    grouped = per_day.groupby("customer_id", sort=True)
    first, last = grouped["day"].min(), grouped["day"].max()
    total, occasions = grouped["value"].sum(), grouped["day"].size()
    months = per_day.assign(month=per_day["day"].dt.to_period("M")).groupby(
        "customer_id")["month"].nunique()
    tenure = (end - first).dt.days
    tenure_months = np.maximum(np.ceil(tenure / 30.44), 1.0)
    spend_after = after.groupby("customer_id")["value"].sum().reindex(total.index,
                                                                      fill_value=0.0)
    return pd.DataFrame({
        "customer_id": total.index.astype(str),
        "campaign_id": "RETENTION_FALL",
        "campaign_send_date": pd.Timestamp(cutoff),
        "treatment_group": 0,
        "historical_lifetime_spend": total.to_numpy(),
        "brand_affinity_score": np.clip(months.to_numpy() / tenure_months.to_numpy(), 0, 1),
        "web_activity_score": occasions.to_numpy().astype(float),
        "days_since_last_purchase": ((end - last).dt.days - 1).to_numpy().astype(float),
        "price_sensitivity": np.log1p(total.to_numpy() / occasions.to_numpy()),
        "email_open_rate": 0.0,
        "customer_tenure_days": (tenure - 1).to_numpy().astype(int),
        TARGET: spend_after.to_numpy(),
    }).reset_index(drop=True)
