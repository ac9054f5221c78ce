"""Ranking quality for top-k lists: precision@k, lift and capture by decile, P(in top k).

Marketing acts on ranked lists (the top 100 customers, the top DMAs), so a model is also judged
on the order it puts units in:

* precision@k: share of the predicted top k that are in the actual top k (ties at the k-th
  actual value count as in, as ``p_in_top`` does);
* deciles by predicted score: mean predicted and actual, lift (decile mean over overall mean)
  and the cumulative share of the actual total captured from the top down;
* P(in top k) calibration: units binned by their posterior probability of being in the top k
  against the observed share that were.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np


def actual_top(y: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the units in the actual top ``k`` (ties at the threshold are in)."""
    y = np.asarray(y, float)
    k = min(k, y.size)
    threshold = np.partition(y, y.size - k)[y.size - k]
    return y >= threshold


def precision_at_k(y: np.ndarray, score: np.ndarray, k: int) -> float:
    """Share of the ``k`` highest-scored units that are in the actual top ``k``."""
    predicted = np.argsort(-np.asarray(score, float), kind="stable")[:k]
    return float(actual_top(y, k)[predicted].mean())


def decile_table(y: np.ndarray, score: np.ndarray, groups: int = 10) -> list[dict[str, Any]]:
    """Deciles by descending score: size, mean predicted and actual, lift, cumulative capture."""
    y = np.asarray(y, float)
    score = np.asarray(score, float)
    order = np.argsort(-score, kind="stable")
    overall = y.mean() if y.size else 0.0
    total = y.sum()
    captured = 0.0
    rows = []
    for decile, part in enumerate(np.array_split(order, groups), start=1):
        if part.size == 0:
            continue
        captured += y[part].sum()
        rows.append({
            "decile": decile, "n": int(part.size),
            "mean_predicted": float(score[part].mean()), "mean_actual": float(y[part].mean()),
            "lift": float(y[part].mean() / overall) if overall > 0 else None,
            "cumulative_capture": float(captured / total) if total > 0 else None,
        })
    return rows


def top_k_calibration(p_in_top: np.ndarray, in_top: np.ndarray,
                      edges: tuple[float, ...] = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
                      ) -> list[dict[str, Any]]:
    """Units binned by P(in top k): mean predicted probability against the observed share."""
    p = np.asarray(p_in_top, float)
    hit = np.asarray(in_top, float)
    rows = []
    for low, high in pairwise(edges):
        mask = (p >= low) & ((p < high) if high < 1.0 else (p <= high))
        if mask.any():
            rows.append({"bin": f"{low:.2f}-{high:.2f}", "n": int(mask.sum()),
                         "mean_p_in_top": float(p[mask].mean()),
                         "observed_share": float(hit[mask].mean())})
    return rows
