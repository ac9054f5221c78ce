"""Binary outcomes: discrimination, proper scores and the reliability diagram.

ROC-AUC and PR-AUC (average precision) come from scikit-learn. The reliability diagram bins
units by predicted probability (equal-count bins, so every point rests on the same number of
units) and compares the mean prediction with the observed rate; the expected calibration
error is the size-weighted mean gap, ``ECE = sum_b n_b / n |mean p_b - mean y_b|`` (Naeini,
Cooper & Hauskrecht 2015).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from bayescope.posterior_reports.scores import binary_scores


def reliability_table(outcome: np.ndarray, prob: np.ndarray, bins: int = 10
                      ) -> list[dict[str, Any]]:
    """Equal-count bins of ``prob``: size, mean predicted, observed rate and its 90% interval."""
    y = np.asarray(outcome, float)
    p = np.asarray(prob, float)
    order = np.argsort(p, kind="stable")
    rows = []
    for part in np.array_split(order, min(bins, max(1, y.size))):
        if part.size == 0:
            continue
        k, n = y[part].sum(), part.size
        # Jeffreys interval: honest for small bins and rates near 0 or 1; it ends at 0 (or 1)
        # when no (or every) unit in the bin had the event.
        low, high = stats.beta.ppf([0.05, 0.95], k + 0.5, n - k + 0.5)
        low, high = (0.0 if k == 0 else low), (1.0 if k == n else high)
        rows.append({"n": int(n), "mean_predicted": float(p[part].mean()),
                     "observed_rate": float(k / n), "observed_low": float(low),
                     "observed_high": float(high)})
    return rows


def expected_calibration_error(outcome: np.ndarray, prob: np.ndarray, bins: int = 10) -> float:
    """Size-weighted mean |predicted - observed| over equal-count bins."""
    table = reliability_table(outcome, prob, bins)
    n = sum(row["n"] for row in table)
    return float(sum(row["n"] / n * abs(row["mean_predicted"] - row["observed_rate"])
                     for row in table))


def binary_metrics(outcome: np.ndarray, prob: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """ROC-AUC, PR-AUC, Brier, log score, ECE and the base rate."""
    y = np.asarray(outcome, float)
    p = np.asarray(prob, float)
    both_classes = 0 < y.sum() < y.size
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else None,
        "pr_auc": float(average_precision_score(y, p)) if both_classes else None,
        **binary_scores(y, p),
        "ece": expected_calibration_error(y, p, bins),
        "base_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
    }
