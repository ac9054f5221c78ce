"""Holdout evaluation of a BTYD fit against lifetimes' MLE and a simple RFM rule.

For each customer the holdout outcome is the number of purchase periods after the
calibration end (``frequency_holdout``). Three predictors are compared on it, each as a
posterior-predictive (or plug-in predictive) distribution of the count, through the shared
evaluation of :mod:`bayescope.posterior_reports.predictive_eval`:

* **bayescope**: simulated future counts given each customer's history over posterior draws
  (parameter and process uncertainty); point predictions are the closed-form posterior mean of
  the expected count and of P(any purchase);
* **lifetimes MLE**: the same simulator and closed forms at lifetimes' point estimate (process
  uncertainty only);
* **RFM rule**: each customer's calibration repeat rate ``frequency / T`` carried forward as a
  Poisson rate.

Reported: MAE/RMSE of the mean, CRPS, log score and 90% interval score of the count, PIT and
coverage, rootogram and zero check; Brier, log score, ROC/PR-AUC and reliability of "any
purchase in the holdout"; precision@k, lift by decile and P(in top k) calibration; a paired
bootstrap comparison of every metric against bayescope; predicted vs actual by calibration
frequency; and the four categories of the Klaviyo brief for bayescope against its classical
rival, with their cross-tabulation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.rfm import RFMSummary
from bayescope.inference.btyd_prediction import thin_draws
from bayescope.inference.btyd_simulation import HoldoutCounts
from bayescope.inference.predictive import Params, chunk_size_for, iterate_predictive
from bayescope.models.baselines.btyd import PoissonRateCounts
from bayescope.models.btyd import BTYDModel
from bayescope.models.btyd_base import PurchaseModel
from bayescope.posterior_reports.binary import binary_metrics, reliability_table
from bayescope.posterior_reports.binned import category_table, two_model_bins
from bayescope.posterior_reports.btyd_groups import group_table
from bayescope.posterior_reports.comparison import compare_models
from bayescope.posterior_reports.predictive_eval import EvaluationResult, PredictiveEvaluation
from bayescope.posterior_reports.ranking import (
    actual_top,
    decile_table,
    precision_at_k,
    top_k_calibration,
)

log = logging.getLogger(__name__)

LABELS = {"bayescope": "bayescope", "lifetimes_mle": "lifetimes MLE (same model)",
          "rfm_rule": "RFM rule", "lifetimes_bgnbd": "lifetimes BG/NBD MLE",
          "lifetimes_mbgnbd": "lifetimes MBG/NBD MLE"}
MAX_TOP_K_CELLS = 10_000_000


@dataclass
class HoldoutEvaluation:
    """JSON-ready metrics plus the per-model evaluation objects the report plots."""

    metrics: dict[str, Any]
    results: dict[str, EvaluationResult]
    p_any: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]


def evaluate_holdout(
    spec: BTYDModel,
    posterior: Mapping[str, np.ndarray],
    rfm: RFMSummary,
    mle_params: Mapping[str, float] | None,
    seed: int = 0,
    max_draws: int = 300,
    top_k: int = 100,
    other_family: tuple[PurchaseModel, Mapping[str, float]] | None = None,
) -> HoldoutEvaluation:
    """Evaluate bayescope, lifetimes' MLE and the RFM rule on the holdout counts.

    ``other_family`` (the other BTYD model and its MLE, e.g. BG/NBD for an MBG/NBD run) adds
    the competing model of the Klaviyo brief: the four-category evaluation then sets
    bayescope against it.
    """
    if rfm.frequency_holdout is None or rfm.duration_holdout is None:
        raise ValueError("the RFM summary has no holdout period")
    rng = np.random.default_rng(seed)
    horizon = float(rfm.duration_holdout)
    y = np.asarray(rfm.frequency_holdout, float)
    x, tx, T = rfm.frequency, rfm.recency, rfm.T
    model = spec.purchase
    params = thin_draws(posterior, max_draws, rng)
    plans: dict[str, tuple[Any, Mapping[str, np.ndarray], Any]] = {}
    plans["bayescope"] = (HoldoutCounts(model, rfm, horizon), params, model)
    if mle_params is not None:
        point = {k: np.repeat(float(v), max_draws) for k, v in mle_params.items()}
        plans["lifetimes_mle"] = (HoldoutCounts(model, rfm, horizon), point, model)
    if other_family is not None:
        other, other_params = other_family
        point = {k: np.repeat(float(v), max_draws) for k, v in other_params.items()}
        plans[f"lifetimes_{other.name}"] = (HoldoutCounts(other, rfm, horizon), point, other)
    rate = x / np.maximum(T, 1e-9) * horizon
    plans["rfm_rule"] = (PoissonRateCounts(rate), params, None)

    results: dict[str, EvaluationResult] = {}
    p_any: dict[str, np.ndarray] = {}
    expected: dict[str, np.ndarray] = {}
    in_top_hits: np.ndarray | None = None
    keep_for_top = rfm.n_customers * max_draws <= MAX_TOP_K_CELLS
    triples, inverse = np.unique(np.column_stack([x, tx, T]), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for name, (simulator, draws_params, closed_form) in plans.items():
        evaluation = PredictiveEvaluation(discrete=True, rng=rng)
        if closed_form is not None:
            # Closed forms depend on a customer only through (x, t_x, T): once per triple,
            # in chunks of triples so memory stays at draws x chunk.
            mean, prob = closed_form_means(closed_form, draws_params, triples, horizon)
            mean, prob = mean[inverse], prob[inverse]
        else:
            mean, prob = rate, -np.expm1(-rate)
        kept = []
        for index, outcomes in iterate_predictive(simulator, draws_params, rng):
            loglik = simulator.log_prob(draws_params, index, y[index], rng)
            evaluation.add(y[index], outcomes["purchases"], mean=mean[index], loglik=loglik)
            if name == "bayescope" and keep_for_top:
                kept.append(outcomes["purchases"])
        results[name], p_any[name], expected[name] = evaluation.result(), prob, mean
        if kept:
            in_top_hits = _p_in_top_from_draws(np.concatenate(kept, axis=1), top_k, rng)

    any_purchase = (y > 0).astype(float)
    comparison = {}
    pointwise = {}
    for name, result in results.items():
        binary = binary_metrics(any_purchase, p_any[name])
        ninety = next(r for r in result.summary["coverage"] if r["level"] == 0.9)
        comparison[name] = {
            "mae": result.summary["mae"], "rmse": result.summary["rmse"],
            "crps": result.summary["crps"], "log_score": result.summary["log_score"],
            "interval_score_90": result.summary["interval_score_90"],
            "brier": binary["brier"], "log_score_any": binary["log_score"],
            "roc_auc": binary["roc_auc"], "pr_auc": binary["pr_auc"], "ece": binary["ece"],
            "coverage_90": ninety["interval_coverage"], "pit_coverage_90": ninety["pit_coverage"],
            "calibrated": result.summary["calibrated"],
            "total_predicted": float(expected[name].sum()),
        }
        pointwise[name] = {**result.pointwise, "brier": (p_any[name] - any_purchase) ** 2}
    rival = next((n for n in (f"lifetimes_{other_family[0].name}" if other_family else "",
                              "lifetimes_mle") if n in results), "rfm_rule")
    ranking: dict[str, Any] = {
        name: {"precision_at_k": precision_at_k(y, expected[name], top_k,
                                                np.random.default_rng(seed)),
               "deciles": decile_table(y, expected[name], rng=np.random.default_rng(seed))}
        for name in results}
    ranking["k"] = top_k
    if in_top_hits is not None:
        ranking["top_k_calibration"] = top_k_calibration(
            in_top_hits, actual_top(y, top_k, np.random.default_rng(seed)))
    return HoldoutEvaluation(
        metrics={
            "holdout_periods": horizon,
            "time_unit": rfm.time_unit,
            "n_customers": rfm.n_customers,
            "total_actual": float(y.sum()),
            "comparison": comparison,
            "paired_comparison": compare_models(pointwise, "bayescope", rng, n_boot=1000),
            "evaluation": {name: result.summary for name, result in results.items()},
            "reliability_any_purchase": {name: reliability_table(any_purchase, p_any[name])
                                         for name in results},
            "ranking": ranking,
            "by_calibration_frequency": _by_frequency(x, y, expected),
            "purchase_categories": category_table(p_any["bayescope"], any_purchase),
            "two_model_categories": two_model_bins(p_any["bayescope"], p_any[rival],
                                                   any_purchase, ("bayescope", rival)),
            "by_group": group_table(
                rfm, y, expected, pointwise, results["bayescope"].covered[0.9],
                "lifetimes_mle" if "lifetimes_mle" in results else "rfm_rule",
                np.random.default_rng(seed)),
        },
        results=results, p_any=p_any, expected=expected)


def closed_form_means(model: PurchaseModel, params: Params, triples: np.ndarray,
                       horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean of expected purchases and of P(any purchase) per unique triple."""
    mean, prob = np.empty(len(triples)), np.empty(len(triples))
    size = chunk_size_for(params)
    for start in range(0, len(triples), size):
        part = slice(start, start + size)
        x, tx, T = triples[part].T
        mean[part] = model.expected_purchases(params, x, tx, T, horizon).mean(axis=0)
        prob[part] = model.p_any_purchase(params, x, tx, T, horizon).mean(axis=0)
    return mean, prob


def _p_in_top_from_draws(draws: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Share of draws in which each customer's simulated count is in the top ``k``.

    Ties are broken at random within each draw, as for the actual top ``k``: integer counts
    plus a uniform jitter below 1 keep the order of different counts.
    """
    k = min(k, draws.shape[1])
    jittered = draws + rng.random(draws.shape) * 0.5
    threshold = -np.partition(-jittered, k - 1, axis=1)[:, k - 1:k]
    return (jittered >= threshold).mean(axis=0)


def _by_frequency(x: np.ndarray, y: np.ndarray,
                  expected: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """Mean predicted and actual holdout purchases by calibration frequency (7+ pooled)."""
    group = np.minimum(x, 7).astype(int)
    rows = []
    for g in np.unique(group):
        mask = group == g
        row: dict[str, Any] = {"frequency": f"{g}+" if g == 7 else str(g),
                               "n": int(mask.sum()), "actual": float(y[mask].mean())}
        for name, values in expected.items():
            row[name] = float(values[mask].mean())
        rows.append(row)
    return rows


def comparison_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """The comparison block of :func:`evaluate_holdout`'s metrics as a printable table."""
    return pd.DataFrame(metrics["comparison"]).T
