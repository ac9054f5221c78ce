"""Binned evaluation of two competing models (the Klaviyo brief, question 8).

Each model puts every customer into one of four categories by its predicted probability of
purchasing in the window: highly likely (>= 0.75), somewhat likely (0.5-0.75), unlikely
(0.25-0.5) and highly unlikely (< 0.25). Per model and bin: the size, the mean predicted
probability and the observed purchase rate; then the cross-tabulation of the two models' bins
(counts, and the observed rate in each cell), which shows where they disagree and who was right.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CATEGORIES = (
    ("highly likely", 0.75, 1.01),
    ("somewhat likely", 0.5, 0.75),
    ("unlikely", 0.25, 0.5),
    ("highly unlikely", -0.01, 0.25),
)


def categorise(prob: np.ndarray) -> np.ndarray:
    """Index into :data:`CATEGORIES` for each probability."""
    p = np.asarray(prob, float)
    if np.isnan(p).any():
        raise ValueError(f"{int(np.isnan(p).sum())} probabilities are NaN: cannot categorise")
    out = np.full(p.size, len(CATEGORIES) - 1)
    for index, (_, low, high) in enumerate(CATEGORIES):
        out[(p >= low) & (p < high)] = index
    return out


def category_table(prob: np.ndarray, outcome: np.ndarray) -> list[dict[str, Any]]:
    """Per category: size, mean predicted probability and observed rate."""
    p = np.asarray(prob, float)
    y = np.asarray(outcome, float)
    bins = categorise(p)
    rows = []
    for index, (label, _, _) in enumerate(CATEGORIES):
        mask = bins == index
        rows.append({
            "category": label, "n": int(mask.sum()),
            "mean_predicted": float(p[mask].mean()) if mask.any() else None,
            "observed_rate": float(y[mask].mean()) if mask.any() else None,
        })
    return rows


def two_model_bins(prob_a: np.ndarray, prob_b: np.ndarray, outcome: np.ndarray,
                   names: tuple[str, str]) -> dict[str, Any]:
    """Both models' category tables and their cross-tabulation (rows: ``names[0]``)."""
    bins_a, bins_b = categorise(prob_a), categorise(prob_b)
    y = np.asarray(outcome, float)
    labels = [c[0] for c in CATEGORIES]
    counts = np.zeros((len(labels), len(labels)), int)
    rates: list[list[float | None]] = [[None] * len(labels) for _ in labels]
    for i in range(len(labels)):
        for j in range(len(labels)):
            mask = (bins_a == i) & (bins_b == j)
            counts[i, j] = int(mask.sum())
            rates[i][j] = float(y[mask].mean()) if mask.any() else None
    return {
        "models": list(names),
        "categories": labels,
        names[0]: category_table(prob_a, y),
        names[1]: category_table(prob_b, y),
        "crosstab_counts": counts.tolist(),
        "crosstab_observed_rate": rates,
        "agreement": float(np.trace(counts) / max(1, counts.sum())),
    }
