"""Holdout evaluation of the spend model against OLS, log-OLS and gradient boosting.

Every model gives predictive draws for the held-out customers and goes through the shared
:class:`~bayescope.posterior_reports.predictive_eval.PredictiveEvaluation`. Reported per
model: MAE and RMSE of the mean, CRPS, the 90% interval score and coverage, the share of
outcomes below the predicted 5/50/95% quantiles (judged on the randomised PIT, because the
point mass at zero makes the equal-tailed interval cover more than its level), top-decile
spend capture, and a paired comparison of every score against bayescope.

The log score is left out on purpose: the hurdle and boosting models put probability mass on
exactly zero while OLS and log-OLS give densities, and a mass and a density are not on one
scale. CRPS compares all of them properly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.campaign_spend import TARGET
from bayescope.data.spend_features import FeatureScaling
from bayescope.inference.predictive import iterate_predictive, thin_draws
from bayescope.inference.spend_prediction import SpendSimulator
from bayescope.models.baselines.spend import GaussianLinear, TwoPartBoosting
from bayescope.models.spend_hurdle import SpendDesign
from bayescope.posterior_reports.comparison import compare_models
from bayescope.posterior_reports.predictive_eval import EvaluationResult, PredictiveEvaluation
from bayescope.posterior_reports.ranking import decile_table

QUANTILE_LEVELS = (0.05, 0.5, 0.95)
EVAL_DRAWS = 500


@dataclass
class SpendHoldoutEvaluation:
    """Metrics plus per-model evaluation objects and bayescope's fitted means (for plots)."""

    metrics: dict[str, Any]
    results: dict[str, EvaluationResult]
    fitted: np.ndarray


def evaluate_spend_holdout(
    posterior: Mapping[str, np.ndarray], scaling: FeatureScaling, train: pd.DataFrame,
    holdout: pd.DataFrame, seed: int = 0,
) -> SpendHoldoutEvaluation:
    """Score bayescope and the three rivals on the held-out customers."""
    rng = np.random.default_rng(seed)
    y = holdout[TARGET].to_numpy(float)
    params = thin_draws(posterior, EVAL_DRAWS, rng)
    # Independent noise per customer: the evaluation also looks at all customers together.
    simulator = SpendSimulator(SpendDesign.from_table(holdout, scaling),
                               common_random_numbers=False)
    results: dict[str, EvaluationResult] = {}
    evaluation = PredictiveEvaluation(discrete=False, rng=rng, with_log_score=False)
    fitted = np.empty(y.size)
    for index, outcomes in iterate_predictive(simulator, params, rng):
        fitted[index] = outcomes["expected"].mean(axis=0)
        evaluation.add(y[index], outcomes["spend"], mean=fitted[index])
    results["bayescope"] = evaluation.result()
    rivals = {
        "ols": GaussianLinear(log_scale=False).fit(train),
        "log_ols": GaussianLinear(log_scale=True, scaling=scaling).fit(train),
        "gbm_two_part": TwoPartBoosting(scaling, seed=seed).fit(train),
    }
    means = {"bayescope": fitted}
    for name, rival in rivals.items():
        draws = rival.sample(holdout, EVAL_DRAWS, rng)
        rival_eval = PredictiveEvaluation(discrete=False, rng=rng, with_log_score=False)
        rival_eval.add(y, draws)
        results[name] = rival_eval.result()
        means[name] = draws.mean(axis=0)
    comparison = {name: _scores(result, y, means[name], seed) for name, result in
                  results.items()}
    pointwise = {name: {k: v for k, v in r.pointwise.items() if k != "log_score"}
                 for name, r in results.items()}
    return SpendHoldoutEvaluation(
        metrics={
            "n_holdout": int(y.size), "n_train": len(train),
            "share_positive": float((y > 0).mean()), "total_observed": float(y.sum()),
            "comparison": comparison,
            "paired_comparison": compare_models(pointwise, "bayescope", rng, n_boot=1000),
            "evaluation": {name: {k: v for k, v in r.summary.items() if k != "log_score"}
                           for name, r in results.items()},
            "deciles": {name: decile_table(y, means[name], rng=np.random.default_rng(seed))
                        for name in results},
        },
        results=results, fitted=fitted)


def _scores(result: EvaluationResult, y: np.ndarray, mean: np.ndarray, seed: int
            ) -> dict[str, Any]:
    s = result.summary
    ninety = next(r for r in s["coverage"] if r["level"] == 0.9)
    deciles = decile_table(y, mean, rng=np.random.default_rng(seed))
    out = {
        "mae": s["mae"], "rmse": s["rmse"], "crps": s["crps"],
        "interval_score_90": s["interval_score_90"],
        "coverage_90": ninety["interval_coverage"], "pit_coverage_90": ninety["pit_coverage"],
        "top_decile_capture": deciles[0]["cumulative_capture"],
        "total_predicted": s["total_predicted"], "calibrated": s["calibrated"],
    }
    for q in QUANTILE_LEVELS:
        out[f"share_below_q{round(100 * q):02d}"] = float(np.mean(result.pit < q))
    return out
