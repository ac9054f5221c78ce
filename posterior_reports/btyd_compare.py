"""Two repeat-purchase runs scored on one holdout (the brief's Q8 as a tool:
``bayescope compare RUN_A RUN_B``).

Both runs must hold the same customers, time unit and calibration end, so that their holdout
counts are the same numbers. Each run is scored as the report scores it (posterior predictive
draws of the holdout counts, the exact PMF for the log score, closed-form means and
P(any purchase)); then, side by side:

* proper scores (CRPS, log score, MAE, RMSE, Brier of "any purchase") with the paired 90%
  bootstrap interval of each difference (B minus A; customers are independent units);
* the Klaviyo four-category bins of P(any purchase) per run, with the observed rate in each,
  and their cross-tabulation (where the runs disagree, and who was right);
* a verdict: a run is better when it wins CRPS or the log score beyond the interval and loses
  neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.rfm import RFMSummary
from bayescope.errors import BayescopeInputError
from bayescope.inference.btyd_simulation import HoldoutCounts
from bayescope.inference.predictive import iterate_predictive, thin_draws
from bayescope.models.btyd import BTYDModel
from bayescope.posterior_reports.binary import binary_metrics
from bayescope.posterior_reports.binned import two_model_bins
from bayescope.posterior_reports.btyd_holdout import closed_form_means
from bayescope.posterior_reports.comparison import compare_models
from bayescope.posterior_reports.html import (
    Callout,
    Figure,
    Paragraph,
    ReportContent,
    Section,
    Table,
)
from bayescope.posterior_reports.plots import plot_comparison
from bayescope.posterior_reports.predictive_eval import PredictiveEvaluation

DECIDING = ("crps", "log_score")


@dataclass
class ComparedRun:
    """One side of the comparison: a name, the model and its posterior, and the customers
    with the holdout both runs are scored on."""

    name: str
    spec: BTYDModel
    posterior: dict[str, np.ndarray]
    rfm: RFMSummary


def check_comparable(a: RFMSummary, b: RFMSummary) -> None:
    """One error naming what differs between two runs' customers and holdouts."""
    if a.time_unit != b.time_unit:
        raise BayescopeInputError(f"the runs use different time units ({a.time_unit} and "
                                  f"{b.time_unit}): their holdout counts differ", field="run_b")
    if a.calibration_end != b.calibration_end:
        raise BayescopeInputError(f"the runs end calibration at different times "
                                  f"({a.calibration_end} and {b.calibration_end})",
                                  field="run_b")
    if not np.array_equal(a.customer_id, b.customer_id):
        only = np.setxor1d(a.customer_id, b.customer_id)
        raise BayescopeInputError(f"the runs hold different customers ({only.size} in one "
                                  f"only, e.g. {only[0] if only.size else '(order differs)'})",
                                  field="customer_id")
    if a.frequency_holdout is None or b.frequency_holdout is None:
        raise BayescopeInputError("a run has no holdout: pass --holdout PATH with purchases "
                                  "after the calibration end", field="holdout")
    if not np.array_equal(a.frequency_holdout, b.frequency_holdout):
        raise BayescopeInputError("the runs' stored holdouts differ: pass --holdout PATH to "
                                  "score both on the same purchases", field="holdout")


def score_run(run: ComparedRun, seed: int, max_draws: int = 300
              ) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(EvaluationResult, P(any purchase), expected purchases)`` of one run's holdout."""
    rfm = run.rfm
    rng = np.random.default_rng(seed)
    horizon = float(rfm.duration_holdout or 0.0)
    y = np.asarray(rfm.frequency_holdout, float)
    params = thin_draws(run.posterior, max_draws, rng)
    triples, inverse = np.unique(np.column_stack([rfm.frequency, rfm.recency, rfm.T]), axis=0,
                                 return_inverse=True)
    mean, prob = closed_form_means(run.spec.purchase, params, triples, horizon)
    mean, prob = mean[inverse.reshape(-1)], prob[inverse.reshape(-1)]
    simulator = HoldoutCounts(run.spec.purchase, rfm, horizon)
    evaluation = PredictiveEvaluation(discrete=True, rng=rng)
    for index, outcomes in iterate_predictive(simulator, params, rng):
        evaluation.add(y[index], outcomes["purchases"], mean=mean[index],
                       loglik=simulator.log_prob(params, index, y[index], rng))
    return evaluation.result(), prob, mean


def compare_runs(a: ComparedRun, b: ComparedRun, out_dir: Path, seed: int = 0
                 ) -> ReportContent:
    """Score both runs and build the page (figures into ``out_dir``) and its metrics."""
    check_comparable(a.rfm, b.rfm)
    y = np.asarray(a.rfm.frequency_holdout, float)
    any_purchase = (y > 0).astype(float)
    results, p_any, expected, pointwise = {}, {}, {}, {}
    for run in (a, b):
        result, prob, mean = score_run(run, seed)
        results[run.name], p_any[run.name], expected[run.name] = result, prob, mean
        pointwise[run.name] = {**result.pointwise, "brier": (prob - any_purchase) ** 2}
    scores = {}
    for run in (a, b):
        summary = results[run.name].summary
        binary = binary_metrics(any_purchase, p_any[run.name])
        scores[run.name] = {
            "model": run.spec.name, "crps": summary["crps"], "log_score": summary["log_score"],
            "mae": summary["mae"], "rmse": summary["rmse"], "brier": binary["brier"],
            "roc_auc": binary["roc_auc"],
            "coverage_90": next(r["interval_coverage"] for r in summary["coverage"]
                                if r["level"] == 0.9),
            "total_predicted": float(expected[run.name].sum())}
    paired = compare_models(pointwise, a.name, np.random.default_rng(seed), n_boot=1000)
    bins = two_model_bins(p_any[a.name], p_any[b.name], any_purchase, (a.name, b.name))
    verdict = comparison_verdict(paired, a.name, b.name)
    metrics = {"runs": {run.name: {"model": run.spec.name, "customers": run.rfm.n_customers}
                        for run in (a, b)},
               "holdout_periods": float(a.rfm.duration_holdout or 0.0),
               "time_unit": a.rfm.time_unit, "total_actual": float(y.sum()),
               "scores": scores, "paired_comparison": paired, "two_model_categories": bins,
               "verdict": verdict}
    figure = plot_comparison(paired, out_dir / "comparison.png")
    crosstab = pd.DataFrame(bins["crosstab_counts"],
                            columns=[f"{b.name}: {c}" for c in bins["categories"]])
    crosstab.insert(0, f"{a.name} \\ {b.name}", bins["categories"])
    rates = pd.DataFrame(bins["crosstab_observed_rate"], columns=crosstab.columns[1:])
    rates.insert(0, "observed rate", bins["categories"])
    differences = pd.DataFrame([r for r in paired if r["verdict"] != "reference"])
    sections = [
        Section("Verdict", [Callout(verdict, "note"), Table(
            pd.DataFrame(scores).T.reset_index(names="run"),
            f"Holdout scores ({metrics['holdout_periods']:.0f} periods, "
            f"{a.rfm.n_customers:,} customers, {y.sum():,.0f} purchases)")]),
        Section("Paired differences", [
            Paragraph(f"{b.name} minus {a.name} on the same customers; a run is better or "
                      "worse only when the whole 90% bootstrap interval is on one side of 0."),
            Table(differences, "Paired comparison (90% intervals)"),
            Figure(figure, "Differences with 90% intervals")]),
        Section("Purchase-likelihood categories", [
            Table(pd.DataFrame(bins[a.name]), a.name), Table(pd.DataFrame(bins[b.name]), b.name),
            Table(crosstab, f"Customers by category, agreement {bins['agreement']:.1%}"),
            Table(rates, "Observed purchase share in each cell")]),
    ]
    return ReportContent(f"bayescope compare: {a.name} against {b.name}",
                         f"{a.spec.name} and {b.spec.name}, same {a.rfm.n_customers:,} "
                         f"customers, calibration to {a.rfm.calibration_end.date()}",
                         sections, metrics)


def comparison_verdict(paired: list[dict[str, Any]], a: str, b: str) -> str:
    """Which run predicts the holdout better, from the deciding scores' paired intervals."""
    rows = {r["metric"]: r for r in paired if r["model"] == b}
    said = [f"{name} {rows[name]['difference']:+.4g} [{rows[name]['difference_low']:+.4g}, "
            f"{rows[name]['difference_high']:+.4g}]" for name in DECIDING if name in rows]
    verdicts = {rows[name]["verdict"] for name in DECIDING if name in rows}
    detail = f" ({b} minus {a}: " + "; ".join(said) + ")"
    if "better" in verdicts and "worse" not in verdicts:
        return f"{b} predicts the holdout better than {a}" + detail + "."
    if "worse" in verdicts and "better" not in verdicts:
        return f"{a} predicts the holdout better than {b}" + detail + "."
    if verdicts == {"better", "worse"}:
        return "Mixed: the proper scores disagree" + detail + "."
    return "No clear winner: the differences are within noise" + detail + "."
