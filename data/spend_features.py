"""Feature engineering for the post-campaign spend model, written down with reasons.

Raw column -> model feature (then centred and scaled with the *training* means and sds, which
are stored with the fit so scoring reuses them exactly):

* ``log_lifetime_spend = log1p(historical_lifetime_spend)``: lifetime spend is heavy-tailed
  (a few customers have 100x the median); its effect on future spend is multiplicative, so it
  enters on the log scale, like the log-normal amount it predicts.
* ``log_recency = log1p(days_since_last_purchase)``: the first weeks since a purchase matter
  more than the difference between 300 and 330 days; together with log lifetime spend this is
  a recency-weighted spend on the log scale (``log spend - c log recency``).
* ``log_web_activity = log1p(web_activity_score)``: skewed count-like score.
* ``log_tenure = log1p(customer_tenure_days)``: diminishing returns of tenure.
* ``brand_affinity_score``, ``email_open_rate``, ``price_sensitivity``: bounded or symmetric,
  used as they are.

The treatment enters each part of the model with its own campaign-specific effect
(treatment x campaign interaction), not as a feature here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

FEATURES = ("log_lifetime_spend", "log_recency", "log_web_activity", "log_tenure",
            "brand_affinity_score", "email_open_rate", "price_sensitivity")


LOG1P_COLUMNS = ("historical_lifetime_spend", "days_since_last_purchase", "web_activity_score",
                 "customer_tenure_days")
"""The input columns :func:`raw_features` takes as ``log1p``."""

Table = pd.DataFrame | Mapping[str, Any]


def raw_features(table: Table) -> np.ndarray:
    """The engineered features before scaling: array (rows, len(FEATURES)).

    ``table`` is a validated DataFrame or a mapping of column name to array.
    """
    def column(name: str) -> np.ndarray:
        return np.asarray(table[name], dtype=float)

    return np.column_stack([
        np.log1p(column("historical_lifetime_spend")),
        np.log1p(column("days_since_last_purchase")),
        np.log1p(column("web_activity_score")),
        np.log1p(column("customer_tenure_days")),
        column("brand_affinity_score"),
        column("email_open_rate"),
        column("price_sensitivity"),
    ])


@dataclass(frozen=True)
class FeatureScaling:
    """Training means and sds of the engineered features (stored with the fit)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, table: Table) -> FeatureScaling:
        """Means and sds from the training table (sd 0 -> 1, so a constant column stays 0)."""
        values = raw_features(table)
        scale = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(scale > 0, scale, 1.0))

    def transform(self, table: Table) -> np.ndarray:
        """Centred and scaled features of ``table``: array (rows, len(FEATURES))."""
        return (raw_features(table) - self.mean) / self.scale

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready form for the artifact's attributes."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> FeatureScaling:
        """Inverse of :meth:`to_dict`."""
        return cls(np.asarray(data["mean"], float), np.asarray(data["scale"], float))
