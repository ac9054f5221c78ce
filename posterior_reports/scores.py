"""Pointwise proper scores shared by every model, from posterior-predictive draws.

Conventions: ``draws`` is an array (draws, units) of posterior-predictive outcomes and ``y`` the
observed outcome of each unit. Every function returns one value per unit, so the caller can
average, bootstrap (:mod:`.comparison`) or slice by segment.

* CRPS (lower is better) comes from ``scoringrules`` (Gneiting & Raftery 2007, eq. 20, the
  ensemble "quantile decomposition" estimator), not a hand-written one.
* The log score is the log predictive density or probability (higher is better):
  exactly ``log mean_s p(y | theta_s)`` when the model gives its pointwise log-likelihood
  (:func:`log_score_from_loglik`), otherwise a Monte Carlo estimate from the draws:
  the share of draws equal to ``y`` for counts (:func:`log_score_discrete`, which
  scoringrules lacks: its ensemble log score is a kernel density for continuous outcomes) and
  scoringrules' Gaussian-kernel estimate for continuous outcomes.
* The interval score of a central ``1 - alpha`` interval (Gneiting & Raftery 2007, eq. 43).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

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


def crps(y: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Continuous ranked probability score of each unit's predictive sample (lower is better)."""
    import scoringrules as sr  # ~2 s of numba compiles at import: only when scoring

    ensemble = np.sort(np.asarray(draws, float), axis=0)
    return np.asarray(sr.crps_ensemble(np.asarray(y, float), ensemble, m_axis=0,
                                       sorted_ensemble=True))


def log_score_discrete(y: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Monte Carlo log predictive probability of integer outcomes (higher is better).

    ``P(Y = y)`` is estimated by the share of draws equal to ``y``; an outcome no draw reached
    gets half a draw's mass (``1 / (2 S)``), a floor that keeps the score finite and still
    punishes it hard.
    """
    draws = np.asarray(draws)
    hits = (draws == np.asarray(y)[None, :]).sum(axis=0)
    return np.log(np.maximum(hits, 0.5) / draws.shape[0])


def log_score_continuous(y: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Log predictive density of continuous outcomes from a Gaussian kernel over the draws."""
    import scoringrules as sr

    return -np.asarray(sr.logs_ensemble(np.asarray(y, float), np.asarray(draws, float),
                                        m_axis=0))


LOG_FLOOR = float(np.log(1e-12))


def log_score_from_loglik(loglik: np.ndarray) -> np.ndarray:
    """Log predictive density ``log mean_s p(y_i | theta_s)`` from (draws, units).

    Exact given the draws (or Rao-Blackwellised, when ``p`` conditions on simulated latent
    quantities). Floored at ``log 1e-12`` (-27.6): a degenerate predictive that gives an
    observed outcome probability zero (a Poisson rate of 0 and a purchase) scores very badly
    but finitely, so means and paired comparisons stay defined.
    """
    loglik = np.asarray(loglik, float)
    return np.maximum(logsumexp(loglik, axis=0) - np.log(loglik.shape[0]), LOG_FLOOR)


def interval_score(y: np.ndarray, low: np.ndarray, high: np.ndarray, level: float) -> np.ndarray:
    """Interval score of the central ``level`` interval ``[low, high]`` (lower is better).

    ``(high - low) + 2/alpha (low - y) 1{y < low} + 2/alpha (y - high) 1{y > high}`` with
    ``alpha = 1 - level`` (Gneiting & Raftery 2007, eq. 43): width plus a penalty for misses.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"interval level must be in (0, 1), got {level}")
    y = np.asarray(y, float)
    alpha = 1.0 - level
    return ((high - low) + 2.0 / alpha * np.maximum(low - y, 0.0)
            + 2.0 / alpha * np.maximum(y - high, 0.0))
