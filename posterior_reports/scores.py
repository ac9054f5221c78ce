"""Scores shared by every model: binary scores and interval coverage.

Kept tiny and NumPy-only; the shared evaluation issue extends this with CRPS (scoringrules),
PIT and LOO.
"""

from __future__ import annotations

import numpy as np

PROB_CLIP = 1e-6


def binary_scores(outcome: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """Brier score and mean log score (log predictive probability, higher is better).

    Probabilities are clipped to ``[1e-6, 1 - 1e-6]`` so a single overconfident zero does not
    make the log score minus infinity.
    """
    y = np.asarray(outcome, float)
    p = np.clip(np.asarray(prob, float), PROB_CLIP, 1 - PROB_CLIP)
    return {
        "brier": float(np.mean((p - y) ** 2)),
        "log_score": float(np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))),
    }


def interval_coverage(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of outcomes inside their closed interval ``[low, high]``."""
    y = np.asarray(y, float)
    return float(np.mean((y >= low) & (y <= high)))
