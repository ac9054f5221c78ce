"""Load and validate the post-campaign spend table (PostPilot schema: one row per customer).

Columns (CSV or Parquet, any order, extra columns ignored):

=================================  ==========================================================
``customer_id``                    str, non-empty, unique
``campaign_id``                    one of RETENTION_SUMMER, RETENTION_FALL, RETENTION_WINTER
``campaign_send_date``             date
``treatment_group``                0 (control) or 1 (mailed)
``historical_lifetime_spend``      >= 0, currency
``brand_affinity_score``           0-1
``web_activity_score``             >= 0
``days_since_last_purchase``       >= 0
``price_sensitivity``              finite
``email_open_rate``                0-1
``customer_tenure_days``           integer >= 0
``total_30d_post_campaign_spend``  >= 0 (the target; not needed for scoring)
=================================  ==========================================================

:func:`validate_campaign_columns` is the one entry point for files *and* API instances: the first
problem found raises one :class:`~bayescope.errors.BayescopeInputError` naming the column and
the offending rows (1 = first data row; the API reports them as 0-based instance indices).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas._libs.tslibs.nattype import NaTType

from bayescope.data.table_chunks import read_table
from bayescope.data.validation import (
    NumericRule,
    numeric_column,
    raise_for_implausible_dates,
    raise_for_rows,
)
from bayescope.errors import BayescopeInputError

CAMPAIGNS = ("RETENTION_SUMMER", "RETENTION_FALL", "RETENTION_WINTER")
TARGET = "total_30d_post_campaign_spend"


# Upper bounds are generous domain limits (a century of days, a billion in spend): they keep
# absurd values from overflowing the model into NaN or infinite predictions.
FEATURE_RULES: dict[str, NumericRule] = {
    "treatment_group": NumericRule(0, 1, integer=True),
    "historical_lifetime_spend": NumericRule(0, 1e9),
    "brand_affinity_score": NumericRule(0, 1),
    "web_activity_score": NumericRule(0, 1e6),
    "days_since_last_purchase": NumericRule(0, 36_525),
    "price_sensitivity": NumericRule(-1e6, 1e6),
    "email_open_rate": NumericRule(0, 1),
    "customer_tenure_days": NumericRule(0, 36_525, integer=True),
}
TARGET_RULE = NumericRule(0, 1e9)
RELATIVE_DATES = ("now", "today", "tomorrow", "yesterday")
REQUIRED = ("customer_id", "campaign_id", "campaign_send_date", *FEATURE_RULES)


def load_campaign_table(path: str | Path, require_target: bool = True) -> pd.DataFrame:
    """Read and validate a campaign table file (see module docstring)."""
    return validate_campaign_table(read_table(path), require_target=require_target)


Columns = Mapping[str, Any]


def validate_campaign_table(raw: pd.DataFrame | Columns, require_target: bool = True,
                            row_offset: int = 1) -> pd.DataFrame:
    """Validate a raw table and return it typed, in schema order (a DataFrame)."""
    return pd.DataFrame(validate_campaign_columns(raw, require_target, row_offset))


def validate_campaign_columns(raw: pd.DataFrame | Columns, require_target: bool = True,
                              row_offset: int = 1) -> dict[str, np.ndarray]:
    """The one validation of campaign data: typed NumPy columns in schema order.

    ``raw`` is a DataFrame (files) or a mapping of column name to sequence (API instances,
    which never become a DataFrame: that saves about 1 ms per request). ``row_offset`` is
    the number given to the first row in error messages (1 for files, 0 for API instances).
    """
    names = list(raw.columns) if isinstance(raw, pd.DataFrame) else list(raw)
    wanted = list(REQUIRED) + ([TARGET] if require_target else [])
    missing = [c for c in wanted if c not in names]
    if missing:
        raise BayescopeInputError(
            f"missing column(s) {missing}; the table has {names}", field=missing[0])
    n = len(raw) if isinstance(raw, pd.DataFrame) else len(raw[wanted[0]])
    if n == 0:
        raise BayescopeInputError("the campaign table has no rows", field="customer_id")
    rows = np.arange(row_offset, row_offset + n)
    out: dict[str, np.ndarray] = {}
    ids = np.char.strip(np.asarray(raw["customer_id"]).astype(str))
    raise_for_rows(np.isin(ids, ["", "nan", "None", "<NA>"]), rows, "customer_id", "is empty")
    if n > 1:
        raise_for_rows(pd.Series(ids).duplicated(keep=False).to_numpy(), rows, "customer_id",
               "is duplicated")
    out["customer_id"] = ids
    given = np.asarray(raw["campaign_id"])
    campaign = np.char.upper(np.char.strip(given.astype(str)))
    raise_for_rows(~np.isin(campaign, CAMPAIGNS), rows, "campaign_id",
           f"is not one of {', '.join(CAMPAIGNS)}", given)
    out["campaign_id"] = campaign
    given = np.asarray(raw["campaign_send_date"])
    dates = _parse_dates(given)
    raise_for_rows(dates.isna().to_numpy(), rows, "campaign_send_date", "is not a date", given)
    raise_for_implausible_dates(dates.to_numpy(), rows, "campaign_send_date", given)
    out["campaign_send_date"] = dates.to_numpy()
    rules = {**FEATURE_RULES, **({TARGET: TARGET_RULE} if require_target else {})}
    for column, rule in rules.items():
        out[column] = numeric_column(np.asarray(raw[column]), rows, column, rule)
    out["treatment_group"] = out["treatment_group"].astype(int)
    out["customer_tenure_days"] = out["customer_tenure_days"].astype(int)
    return out


def _parse_dates(given: np.ndarray) -> pd.Series:
    """Dates as tz-naive UTC; unparseable, relative ('now') or mixed-offset trouble -> NaT."""
    text = pd.Series(given).astype(str).str.strip()
    relative = text.str.lower().isin(RELATIVE_DATES)
    try:
        dates = pd.to_datetime(text.where(~relative), errors="coerce", format="mixed", utc=True)
    except (ValueError, OverflowError):
        # Mixed offsets and naive dates can defeat the vectorised parser: parse one by one.
        parsed = [_one_date(v) for v in text.where(~relative)]
        dates = pd.Series(parsed, dtype="datetime64[ns, UTC]")
    return dates.dt.tz_localize(None)


def _one_date(value: object) -> pd.Timestamp | NaTType:
    try:
        stamp = pd.Timestamp(str(value))
    except (ValueError, OverflowError, TypeError):
        return pd.NaT
    if stamp is pd.NaT:
        return pd.NaT
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
