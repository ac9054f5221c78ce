"""Ranking quality for top-k lists: precision@k, lift and capture by decile, P(in top k).

Marketing acts on ranked lists (the top 100 customers, the top DMAs), so a model is also judged
on the order it puts units in:

* precision@k: share of the k highest-scored units (ties in the score broken at random, so
  the list has exactly k units) whose actual value reaches the k-th largest actual value: any
  unit as good as the k-th best is a correct pick, which is what a list is for when many
  units share a count. A constant score shows the floor (the share of such units);
* deciles by predicted score: mean predicted and actual, lift (decile mean over overall mean)
  and the cumulative share of the actual total captured from the top down;
* P(in top k) calibration: units binned by their posterior probability of being in the top k
  against the observed share that were.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np


def tie_broken_order(values: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of ``values`` from largest to smallest, ties in random (seeded) order."""
    values = np.asarray(values, float)
    rng = rng or np.random.default_rng(0)
    return np.lexsort((rng.random(values.size), -values))


def actual_top(y: np.ndarray, k: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Boolean mask of exactly ``min(k, n)`` units with the largest ``y`` (ties at random)."""
    mask = np.zeros(np.asarray(y).size, bool)
    if k > 0:
        mask[tie_broken_order(y, rng)[:k]] = True
    return mask


def precision_at_k(y: np.ndarray, score: np.ndarray, k: int,
                   rng: np.random.Generator | None = None) -> float:
    """Share of the ``k`` highest-scored units that are in the actual top ``k``."""
    y = np.asarray(y, float)
    predicted = tie_broken_order(score, rng)[:k]
    if not predicted.size:
        return float("nan")
    threshold = np.sort(y)[::-1][min(k, y.size) - 1]
    return float(np.mean(y[predicted] >= threshold))


def decile_table(y: np.ndarray, score: np.ndarray, groups: int = 10,
                 rng: np.random.Generator | None = None) -> list[dict[str, Any]]:
    """Deciles by descending score: size, mean predicted and actual, lift, cumulative capture."""
    y = np.asarray(y, float)
    score = np.asarray(score, float)
    order = tie_broken_order(score, rng)
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
