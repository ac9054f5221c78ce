"""PSIS-LOO expected log predictive density with Pareto-k diagnostics (arviz-stats core).

Vehtari, Gelman & Gabry (2017): ``elpd_loo = sum_i log p(y_i | y_-i)`` estimated by Pareto
smoothed importance sampling of each unit's pointwise log-likelihood; the Pareto shape k of
each unit's weights says whether its estimate can be trusted (k > 0.7: it cannot, refit or
use K-fold for those units).

Units with identical data have identical pointwise log-likelihoods and so identical LOO terms:
``weights`` lets a model that stores the log-likelihood once per distinct data pattern (the
BTYD triples) get the exact per-unit answer at a fraction of the cost. ``r_eff`` is taken as 1
(the draws are treated as independent), which is conservative for k and immaterial for elpd
when the convergence gate passed (ESS >= 400).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from arviz_stats.base import array_stats

log = logging.getLogger(__name__)

K_WARN = 0.7


def loo_pointwise(loglik: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-unit elpd, Pareto k and p_loo from log-likelihood (chains, draws, units)."""
    loglik = np.asarray(loglik, float)
    if loglik.ndim == 2:
        loglik = loglik[None]
    units = np.moveaxis(loglik, -1, 0)  # (units, chains, draws): arviz-stats' layout
    elpd_i, pareto_k, p_loo_i = (np.asarray(v, float) for v in array_stats.loo(units))
    return elpd_i, pareto_k, p_loo_i


def loo_summary(loglik: np.ndarray, weights: np.ndarray | None = None) -> dict[str, Any]:
    """PSIS-LOO from pointwise log-likelihood of shape (chains, draws, units).

    Returns elpd_loo, its standard error, p_loo, the number (and share) of units with
    k > 0.7 and the largest k, and logs a warning when any k exceeds 0.7.
    """
    return summarise_loo(*loo_pointwise(loglik), weights=weights)


def summarise_loo(elpd_i: np.ndarray, pareto_k: np.ndarray, p_loo_i: np.ndarray,
                  weights: np.ndarray | None = None) -> dict[str, Any]:
    """Totals and diagnostics from per-unit LOO terms (computed in one go or in chunks)."""
    w = np.ones(elpd_i.size) if weights is None else np.asarray(weights, float)
    n = w.sum()
    elpd = float(np.sum(w * elpd_i))
    mean_i = elpd / n
    se = float(np.sqrt(n * np.sum(w * (elpd_i - mean_i) ** 2) / max(n - 1, 1)))
    bad = pareto_k > K_WARN
    n_bad = int(np.sum(w[bad]))
    if n_bad:
        log.warning("PSIS-LOO: %d of %d units have Pareto k > %.1f (max %.2f): their LOO "
                    "terms are unreliable", n_bad, int(n), K_WARN, float(pareto_k.max()))
    return {
        "elpd_loo": elpd, "se": se, "p_loo": float(np.sum(w * p_loo_i)),
        "n_units": int(n), "n_k_above_0_7": n_bad, "share_k_above_0_7": n_bad / n,
        "max_k": float(pareto_k.max()),
        "k_counts": {"good (k <= 0.5)": int(np.sum(w[pareto_k <= 0.5])),
                     "ok (0.5 < k <= 0.7)": int(np.sum(w[(pareto_k > 0.5)
                                                         & (pareto_k <= K_WARN)])),
                     "bad (k > 0.7)": n_bad},
        "warning": bool(n_bad),
    }
