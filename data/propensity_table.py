"""Load and validate the ShopSphere customer table for purchase propensity (25 features).

One row per customer, CSV or Parquet, any column order, extra columns ignored. Columns:

* ``customer_id``: non-empty, unique;
* demographics (categorical, any labels; missing allowed): ``age_band``, ``region``,
  ``acquisition_channel``, ``device_type``, ``income_band``;
* behavioural: ``sessions_30d``, ``email_opens_90d``, ``email_clicks_90d``,
  ``cart_adds_30d``, ``wishlist_adds_30d``, ``app_sessions_30d``,
  ``days_since_last_session`` (whole numbers >= 0), ``avg_session_duration`` (seconds >= 0;
  missing allowed), ``pages_per_session`` (>= 0);
* transactional: ``orders_12m``, ``categories_purchased_12m``, ``returns_12m``,
  ``tenure_days``, ``days_since_last_order`` (whole numbers >= 0), ``avg_order_value``,
  ``total_spend_12m`` (>= 0), ``discount_usage_rate`` (0-1);
* support: ``tickets_12m`` (whole number >= 0), ``refund_rate`` (0-1), ``csat_score`` (1-5;
  missing allowed);
* target ``purchased_next_30d`` (0/1; not needed to score).

Missing values are allowed exactly where the brief has them (the demographics,
``avg_session_duration``, ``csat_score``) and are an error anywhere else. Empty strings,
``NA``, ``NaN`` and ``null`` read as missing. :func:`validate_propensity_columns` is the one
validation for files and API instances: the first problem raises one
:class:`~bayescope.errors.BayescopeInputError` naming the column and the offending rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.table_chunks import read_table
from bayescope.data.validation import (
    MISSING_TEXT,
    NumericRule,
    numeric_column,
    raise_for_rows,
)
from bayescope.errors import BayescopeInputError

TARGET = "purchased_next_30d"
CATEGORICAL = ("age_band", "region", "acquisition_channel", "device_type", "income_band")


TARGET_RULE = NumericRule(0, 1, integer=True)
COUNT = NumericRule(0, 1e7, integer=True)
DAYS = NumericRule(0, 36_525, integer=True)
NUMERIC: dict[str, NumericRule] = {
    "sessions_30d": COUNT,
    "avg_session_duration": NumericRule(0, 86_400, missing_allowed=True),
    "pages_per_session": NumericRule(0, 1e5),
    "email_opens_90d": COUNT,
    "email_clicks_90d": COUNT,
    "cart_adds_30d": COUNT,
    "wishlist_adds_30d": COUNT,
    "app_sessions_30d": COUNT,
    "days_since_last_session": DAYS,
    "orders_12m": COUNT,
    "avg_order_value": NumericRule(0, 1e7),
    "days_since_last_order": DAYS,
    "discount_usage_rate": NumericRule(0, 1),
    "total_spend_12m": NumericRule(0, 1e9),
    "categories_purchased_12m": COUNT,
    "returns_12m": COUNT,
    "tenure_days": DAYS,
    "tickets_12m": COUNT,
    "refund_rate": NumericRule(0, 1),
    "csat_score": NumericRule(1, 5, missing_allowed=True),
}
FEATURE_GROUPS = {
    "demographics": CATEGORICAL,
    "behavioural": ("sessions_30d", "avg_session_duration", "pages_per_session",
                    "email_opens_90d", "email_clicks_90d", "cart_adds_30d",
                    "wishlist_adds_30d", "app_sessions_30d", "days_since_last_session"),
    "transactional": ("orders_12m", "avg_order_value", "days_since_last_order",
                      "discount_usage_rate", "total_spend_12m", "categories_purchased_12m",
                      "returns_12m", "tenure_days"),
    "support": ("tickets_12m", "refund_rate", "csat_score"),
}
FEATURES = tuple(c for group in FEATURE_GROUPS.values() for c in group)


def load_propensity_table(path: str | Path, require_target: bool = True) -> pd.DataFrame:
    """Read and validate a propensity table file (see module docstring)."""
    return pd.DataFrame(validate_propensity_columns(read_table(path), require_target))


def validate_propensity_columns(raw: pd.DataFrame | Mapping[str, Any],
                                require_target: bool = True, row_offset: int = 1
                                ) -> dict[str, np.ndarray]:
    """Typed columns in schema order: strings (None where missing) and floats (NaN)."""
    names = list(raw.columns) if isinstance(raw, pd.DataFrame) else list(raw)
    wanted = ["customer_id", *FEATURES] + ([TARGET] if require_target else [])
    missing = [c for c in wanted if c not in names]
    if missing:
        raise BayescopeInputError(f"missing column(s) {missing}; the table has {names}",
                                  field=missing[0])
    n = len(raw) if isinstance(raw, pd.DataFrame) else len(raw["customer_id"])
    if n == 0:
        raise BayescopeInputError("the propensity table has no rows", field="customer_id")
    rows = np.arange(row_offset, row_offset + n)
    out: dict[str, np.ndarray] = {}
    ids = np.asarray(pd.Series(np.asarray(raw["customer_id"])).astype(str).str.strip(),
                     dtype=object)
    raise_for_rows(pd.Series(ids).str.lower().isin(MISSING_TEXT).to_numpy(), rows, "customer_id",
           "is empty")
    raise_for_rows(pd.Series(ids).duplicated(keep=False).to_numpy(), rows, "customer_id",
           "is duplicated")
    out["customer_id"] = ids
    for column in CATEGORICAL:
        out[column] = _categorical(np.asarray(raw[column], dtype=object))
    for column, rule in NUMERIC.items():
        out[column] = numeric_column(np.asarray(raw[column]), rows, column, rule)
    if require_target:
        target = numeric_column(np.asarray(raw[TARGET]), rows, TARGET, TARGET_RULE)
        out[TARGET] = target.astype(int)
    return out


def _categorical(values: np.ndarray) -> np.ndarray:
    """Stripped labels as objects; missing markers become None."""
    text = pd.Series(values, dtype=object)
    is_missing = text.isna() | text.astype(str).str.strip().str.lower().isin(MISSING_TEXT)
    labels = text.astype(str).str.strip()
    return np.asarray(labels.where(~is_missing, None), dtype=object)
