"""Holdout evaluation of a BTYD fit against lifetimes' MLE and a simple RFM rule.

For each customer the holdout outcome is the number of purchase periods after the
calibration end (``frequency_holdout``). Three predictors are compared on it:

* **bayescope**: posterior mean of the expected count and of P(any purchase); a 90%
  posterior-predictive interval of the count from simulating each customer's future given
  their history (parameter and process uncertainty);
* **lifetimes MLE**: the same closed forms at lifetimes' point estimate; its interval is the
  plug-in predictive (process uncertainty only);
* **RFM rule**: each customer's calibration repeat rate ``frequency / T`` carried forward as a
  Poisson rate.

Scores: MAE of the count, Brier and log score of "any purchase in holdout", 90% interval
coverage; predicted vs actual by calibration frequency; and the four categories of the Klaviyo
brief by P(any purchase in the window).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayescope.data.rfm import RFMSummary
from bayescope.inference.btyd_prediction import thin_draws
from bayescope.models.btyd import BTYDModel
from bayescope.models.btyd_base import PurchaseModel
from bayescope.posterior_reports.scores import binary_scores, interval_coverage

CATEGORIES = (
    ("highly likely", 0.75, 1.01),
    ("somewhat likely", 0.5, 0.75),
    ("unlikely", 0.25, 0.5),
    ("highly unlikely", -0.01, 0.25),
)


def simulate_future_counts(
    model: PurchaseModel, params: Mapping[str, np.ndarray], rfm: RFMSummary, horizon: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Posterior-predictive purchase counts in (T, T + horizon]: array (draws, customers).

    Per draw: alive with P(alive | history); then ``lambda ~ Gamma(r + x, alpha + T)`` and
    ``p`` from the alive Beta; the count is the Poisson count capped at the geometric number
    of purchases before dropout.
    """
    x, tx, T = rfm.frequency, rfm.recency, rfm.T
    r, alpha = (np.asarray(params[k], float)[:, None] for k in ("r", "alpha"))
    alive = rng.random((r.shape[0], x.size)) < model.p_alive(params, x, tx, T)
    lam = rng.gamma(r + x, 1.0 / (alpha + T))
    beta_a, beta_b = model.alive_dropout_beta(params, x)
    p = rng.beta(np.broadcast_to(beta_a, lam.shape), np.broadcast_to(beta_b, lam.shape))
    count = np.minimum(rng.poisson(lam * horizon), rng.geometric(np.clip(p, 1e-12, 1.0)))
    return np.where(alive, count, 0)


def _chunked_predictions(
    model: PurchaseModel, params: Mapping[str, np.ndarray], rfm: RFMSummary, horizon: float,
    rng: np.random.Generator, chunk_size: int = 20_000,
) -> dict[str, np.ndarray]:
    """Expected count, P(any) and the 90% predictive interval, in customer chunks."""
    n = rfm.n_customers
    out = {name: np.empty(n) for name in ("expected", "p_any", "low", "high")}
    for start in range(0, n, chunk_size):
        index = np.arange(start, min(start + chunk_size, n))
        part = rfm.take(index)
        x, tx, T = part.frequency, part.recency, part.T
        counts = simulate_future_counts(model, params, part, horizon, rng)
        out["expected"][index] = model.expected_purchases(params, x, tx, T, horizon).mean(axis=0)
        out["p_any"][index] = model.p_any_purchase(params, x, tx, T, horizon).mean(axis=0)
        out["low"][index], out["high"][index] = np.quantile(counts, [0.05, 0.95], axis=0)
    return out


def evaluate_holdout(
    spec: BTYDModel,
    posterior: Mapping[str, np.ndarray],
    rfm: RFMSummary,
    mle_params: Mapping[str, float] | None,
    seed: int = 0,
    max_draws: int = 300,
) -> dict[str, Any]:
    """Holdout metrics as a JSON-ready dictionary (see module docstring)."""
    if rfm.frequency_holdout is None or rfm.duration_holdout is None:
        raise ValueError("the RFM summary has no holdout period")
    rng = np.random.default_rng(seed)
    horizon = float(rfm.duration_holdout)
    y = rfm.frequency_holdout
    x, T = rfm.frequency, rfm.T
    params = thin_draws(posterior, max_draws, rng)
    model = spec.purchase

    predictors: dict[str, dict[str, np.ndarray]] = {}
    predictors["bayescope"] = _chunked_predictions(model, params, rfm, horizon, rng)
    if mle_params is not None:
        point = {k: np.repeat(float(v), max_draws) for k, v in mle_params.items()}
        # Plug-in: the same draws-by-customers machinery with every draw at the MLE.
        predictors["lifetimes_mle"] = _chunked_predictions(model, point, rfm, horizon, rng)
    rate = x / np.maximum(T, 1e-9) * horizon
    predictors["rfm_rule"] = {
        "expected": rate,
        "p_any": 1.0 - np.exp(-rate),
        "low": stats.poisson.ppf(0.05, rate),
        "high": stats.poisson.ppf(0.95, rate),
    }
    any_purchase = (y > 0).astype(float)
    comparison = {}
    for name, pred in predictors.items():
        comparison[name] = {
            "mae": float(np.mean(np.abs(pred["expected"] - y))),
            **binary_scores(any_purchase, pred["p_any"]),
            "coverage_90": interval_coverage(y, pred["low"], pred["high"]),
            "total_predicted": float(pred["expected"].sum()),
        }
    return {
        "holdout_periods": horizon,
        "time_unit": rfm.time_unit,
        "n_customers": rfm.n_customers,
        "total_actual": float(y.sum()),
        "comparison": comparison,
        "by_calibration_frequency": _by_frequency(x, y, predictors),
        "purchase_categories": _categories(predictors["bayescope"]["p_any"], any_purchase),
    }


def _by_frequency(x: np.ndarray, y: np.ndarray,
                  predictors: Mapping[str, Mapping[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Mean predicted and actual holdout purchases by calibration frequency (7+ pooled)."""
    group = np.minimum(x, 7).astype(int)
    rows = []
    for g in np.unique(group):
        mask = group == g
        row: dict[str, Any] = {"frequency": f"{g}+" if g == 7 else str(g),
                               "n": int(mask.sum()), "actual": float(y[mask].mean())}
        for name, pred in predictors.items():
            row[name] = float(pred["expected"][mask].mean())
        rows.append(row)
    return rows


def _categories(p_any: np.ndarray, outcome: np.ndarray) -> list[dict[str, Any]]:
    """The Klaviyo brief's four bins by P(any purchase), with observed holdout rates."""
    rows = []
    for label, low, high in CATEGORIES:
        mask = (p_any >= low) & (p_any < high)
        rows.append({
            "category": label,
            "n": int(mask.sum()),
            "mean_predicted": float(p_any[mask].mean()) if mask.any() else None,
            "observed_rate": float(outcome[mask].mean()) if mask.any() else None,
        })
    return rows


def comparison_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """The comparison block of :func:`evaluate_holdout` as a printable table."""
    return pd.DataFrame(metrics["comparison"]).T
