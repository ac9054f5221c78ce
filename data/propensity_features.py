"""The propensity design matrix: transforms, hinges, missingness, categoricals, written down.

Every choice is fitted on the training table and stored (:class:`PropensityDesign`), so
scoring applies exactly the same transform:

* **Skewed counts and amounts** enter as ``log1p(x)``: purchase propensity responds to the
  order of magnitude of sessions or spend, not to the 200th session.
* **Non-linear effects** get a piecewise-linear spline in ``log1p(x)`` with hinges at the
  training 25/50/75% quantiles (``max(0, log1p(x) - knot)``): recency effects flatten out,
  engagement saturates. The hinges are a linear spline basis, so the model stays a GLM.
* **Rates** (discount, refund) enter as they are; ``csat_score`` is centred at 3.
* **Missing values** (``avg_session_duration``, ``csat_score``) are imputed with the training
  median *and* get a missingness indicator. Why not a joint imputation model: here the
  missingness is informative (disengaged customers skip surveys), which an indicator learns
  and an imputation model that assumes missing-at-random would wash out; and it keeps the fit
  a single fast GLM.
* **Categoricals** are one-hot over the training levels plus ``missing`` and ``unseen``
  (a level first met at scoring time goes there, counted), with a shrinkage prior in the model
  (partial pooling toward the overall mean).
* **One interaction** with a stated reason: ``log1p(cart_adds_30d) x discount_usage_rate``
  (discount users are the ones whose abandoned carts convert when an offer arrives).

Columns are standardised with the training means and sds (not the categoricals), so the
model's coefficients are per standard deviation and comparable across feature groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayescope.data.propensity_table import CATEGORICAL, FEATURE_GROUPS, NUMERIC
from bayescope.data.validation import raise_outside_ranges, scorable_range

LOG_FEATURES = ("sessions_30d", "avg_session_duration", "pages_per_session",
                "email_opens_90d", "email_clicks_90d", "cart_adds_30d", "wishlist_adds_30d",
                "app_sessions_30d", "days_since_last_session", "orders_12m", "avg_order_value",
                "days_since_last_order", "total_spend_12m", "categories_purchased_12m",
                "returns_12m", "tenure_days", "tickets_12m")
SPLINE_FEATURES = ("sessions_30d", "days_since_last_session", "days_since_last_order",
                   "orders_12m", "cart_adds_30d", "email_clicks_90d")
RAW_FEATURES = ("discount_usage_rate", "refund_rate")
MISSING_ALLOWED = ("avg_session_duration", "csat_score")
KNOT_QUANTILES = (0.25, 0.5, 0.75)
UNSEEN = "unseen"
MISSING = "missing"

Table = Mapping[str, Any]


def group_of(column: str) -> str:
    """The brief's feature group of a raw column."""
    for group, columns in FEATURE_GROUPS.items():
        if column in columns:
            return group
    raise KeyError(column)


def scorable_ranges(table: Table) -> dict[str, list[float]]:
    """Per numeric column, :func:`scorable_range` of ``table``'s values, judged on the scale
    the design uses (``log1p`` for :data:`LOG_FEATURES`)."""
    return {column: list(scorable_range(table[column], column in LOG_FEATURES))
            for column in NUMERIC}


@dataclass
class PropensityDesign:
    """Training-fitted transform from a validated table to the model's design matrix."""

    medians: dict[str, float] = field(default_factory=dict)
    knots: dict[str, list[float]] = field(default_factory=dict)
    levels: dict[str, list[str]] = field(default_factory=dict)
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    n_standardised: int = 0
    ranges: dict[str, list[float]] = field(default_factory=dict)
    """Per numeric column, the values the model scores (:func:`scorable_range` of the
    training values); empty for runs saved before it was stored."""

    @classmethod
    def fit(cls, table: Table) -> PropensityDesign:
        """Learn medians, knots, levels and scales from the training table."""
        design = cls()
        design.ranges = scorable_ranges(table)
        for column in MISSING_ALLOWED:
            values = np.asarray(table[column], float)
            observed = values[~np.isnan(values)]
            design.medians[column] = float(np.median(observed)) if observed.size else 0.0
        for column in SPLINE_FEATURES:
            logged = np.log1p(np.asarray(table[column], float))
            knots = np.unique(np.quantile(logged, KNOT_QUANTILES))
            design.knots[column] = [float(k) for k in knots if k > logged.min()]
        for column in CATEGORICAL:
            labels = [v for v in np.asarray(table[column], dtype=object) if v is not None]
            design.levels[column] = sorted({str(v) for v in labels})
        numeric, names, groups = design._numeric_block(table)
        design.mean = numeric.mean(axis=0).tolist()
        scale = numeric.std(axis=0)
        design.scale = np.where(scale > 0, scale, 1.0).tolist()
        design.n_standardised = numeric.shape[1]
        design.names, design.groups = names, groups
        for column in CATEGORICAL:
            for level in [*design.levels[column], MISSING, UNSEEN]:
                design.names.append(f"{column}={level}")
                design.groups.append("demographics")
        return design

    def check_ranges(self, table: Table, row_offset: int) -> None:
        """One error naming the first column with values beyond :attr:`ranges`, the range
        and the rows (numbered from ``row_offset``)."""
        raise_outside_ranges(table, self.ranges, row_offset)

    def transform(self, table: Table) -> tuple[np.ndarray, dict[str, int]]:
        """Design matrix (rows, columns) and the count of unseen levels per categorical."""
        numeric, _, _ = self._numeric_block(table)
        standardised = (numeric - np.asarray(self.mean)) / np.asarray(self.scale)
        blocks = [standardised]
        unseen: dict[str, int] = {}
        for column in CATEGORICAL:
            levels = self.levels[column]
            index = {level: i for i, level in enumerate(levels)}
            values = np.asarray(table[column], dtype=object)
            codes = np.array([len(levels) if v is None else index.get(str(v), len(levels) + 1)
                              for v in values])
            unseen[column] = int((codes == len(levels) + 1).sum())
            blocks.append(np.eye(len(levels) + 2)[codes])
        return np.column_stack(blocks), unseen

    def _numeric_block(self, table: Table) -> tuple[np.ndarray, list[str], list[str]]:
        columns: list[np.ndarray] = []
        names: list[str] = []
        groups: list[str] = []

        def add(values: np.ndarray, name: str, source: str) -> None:
            columns.append(values)
            names.append(name)
            groups.append(group_of(source))

        filled = {}
        for column in MISSING_ALLOWED:
            values = np.asarray(table[column], float)
            missing = np.isnan(values)
            filled[column] = np.where(missing, self.medians[column], values)
            add(missing.astype(float), f"{column}_missing", column)
        for column in LOG_FEATURES:
            raw = filled.get(column, np.asarray(table[column], float))
            logged = np.log1p(raw)
            add(logged, f"log1p_{column}", column)
            for j, knot in enumerate(self.knots.get(column, [])):
                add(np.maximum(logged - knot, 0.0), f"log1p_{column}_hinge{j + 1}", column)
        for column in RAW_FEATURES:
            add(np.asarray(table[column], float), column, column)
        add(filled["csat_score"] - 3.0, "csat_centred", "csat_score")
        add(np.log1p(np.asarray(table["cart_adds_30d"], float))
            * np.asarray(table["discount_usage_rate"], float), "cart_adds_x_discount",
            "cart_adds_30d")
        return np.column_stack(columns), names, groups

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the artifact."""
        return {"medians": self.medians, "knots": self.knots, "levels": self.levels,
                "mean": self.mean, "scale": self.scale, "names": self.names,
                "groups": self.groups, "n_standardised": self.n_standardised,
                "ranges": self.ranges}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PropensityDesign:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: data[k] for k in ("medians", "knots", "levels", "mean", "scale",
                                           "names", "groups", "n_standardised")},
                   ranges=data.get("ranges", {}))
