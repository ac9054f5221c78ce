"""The report of a post-campaign spend run.

Sections: summary and gate; convergence diagnostics; exploratory analysis of the data the model
saw (target with its zero mass and tail, spend against each feature, heteroscedasticity,
campaign and treatment balance) with the feature engineering and its reasons; treatment
effects and uplift by campaign; a posterior predictive check of the training data; and, on
the held-out customers, the comparison with OLS, log-OLS and gradient boosting (CRPS,
interval score, RMSE, MAE, quantile calibration, top-decile capture, paired bootstrap),
calibration (PIT, coverage) and randomised quantile residuals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayescope.data.campaign_spend import CAMPAIGNS, TARGET
from bayescope.data.spend_features import __doc__ as FEATURE_NOTES
from bayescope.inference.predictive import predictive_totals, thin_draws
from bayescope.inference.spend_prediction import SpendSimulator
from bayescope.models.baselines.spend import LABELS
from bayescope.models.spend_hurdle import HurdleSpendModel, SpendDesign
from bayescope.posterior_reports.diagnostics import (
    HDI_PROB,
    gate_callout,
    labelled_summary,
    parameter_frame,
    parameter_table,
    sampler_table,
)
from bayescope.posterior_reports.html import (
    Callout,
    Figure,
    Paragraph,
    ReportContent,
    Section,
    Table,
)
from bayescope.posterior_reports.plots import (
    plot_comparison,
    plot_coverage,
    plot_deciles,
    plot_pit_ecdf,
    plot_trace_rank,
)
from bayescope.posterior_reports.runs import SpendRunView as SpendRun
from bayescope.posterior_reports.spend_holdout import evaluate_spend_holdout
from bayescope.posterior_reports.spend_plots import (
    plot_features,
    plot_heteroscedasticity,
    plot_residuals,
    plot_target,
    plot_treatment_effects,
)

TRACE_NAMES = ("any_intercept", "any_treatment", "amount_intercept", "amount_treatment",
               "log_sigma_intercept", "log_sigma_slope")
CHECK_DRAWS = 200


def build_spend_report(run: SpendRun, out_dir: Path, holdout: pd.DataFrame | None = None,
                       seed: int = 0) -> ReportContent:
    """Compute everything the spend report shows; figures are written into ``out_dir``."""
    rng = np.random.default_rng(seed)
    table = run.table
    mask = run.holdout_mask
    train = table[~mask].reset_index(drop=True)
    if holdout is None and mask.any():
        holdout = table[mask].reset_index(drop=True)
    metrics: dict[str, Any] = {}
    sections = [_summary(run, train, metrics), _diagnostics(run, out_dir, metrics),
                _eda(train, out_dir, metrics), _treatment(run, train, out_dir, rng, metrics),
                _predictive_check(run, train, rng, metrics)]
    if holdout is not None and len(holdout):
        sections.extend(_holdout(run, train, holdout, out_dir, seed, metrics))
    else:
        sections.append(Section("Holdout", [Callout(
            "This run was fitted on every customer (--holdout-share 0): nothing is scored out "
            "of sample. Pass --holdout PATH with a table that has the target.", "note")]))
    subtitle = (f"{len(train):,} customers fitted, {0 if holdout is None else len(holdout):,} "
                f"held out, created {run.artifact.attrs.get('created_at', '?')}")
    return ReportContent("bayescope report: post-campaign spend (hurdle log-normal)",
                         subtitle, sections, metrics)


def _summary(run: SpendRun, train: pd.DataFrame, metrics: dict[str, Any]) -> Section:
    attrs = run.artifact.attrs
    gate = json.loads(attrs.get("gate", "{}"))
    passed = run.artifact.converged
    parameters = labelled_summary(run.artifact.tree["posterior"].to_dataset(),
                                  HurdleSpendModel.summary_names)
    metrics.update({"gate": {"passed": passed, **gate}, "parameters": parameters})
    frame = parameter_frame(parameters)
    return Section("Summary", [
        gate_callout(passed, gate.get("problems", []),
                     "Rerun with more draws before trusting these numbers."),
        Paragraph(f"Training data: {len(train):,} customers, "
                  f"{(train[TARGET] > 0).mean():.1%} spent in the 30 days after the mailing, "
                  f"mean spend {train[TARGET].mean():.2f}. Slopes are per standard deviation "
                  "of each engineered feature; intercepts and treatment effects are per "
                  "campaign, on the log-odds (any spend) and log (amount) scales."),
        Table(frame, f"Posterior of the population parameters (mean, sd, {HDI_PROB:.0%} HDI)"),
    ])


def _diagnostics(run: SpendRun, out_dir: Path, metrics: dict[str, Any]) -> Section:
    tree = run.artifact.tree
    posterior = tree["posterior"].to_dataset()
    table = parameter_table(posterior, HurdleSpendModel.gate_names)
    sampler = sampler_table(tree["sample_stats"].to_dataset())
    metrics["diagnostics"] = {"parameters": table, "sampler": sampler}
    figure = plot_trace_rank(posterior, TRACE_NAMES, out_dir / "trace_rank.png")
    worst = sorted(table, key=lambda r: -r["rhat"])[:8]
    return Section("Convergence diagnostics", [
        Table(pd.DataFrame(worst).assign(flag=lambda f: ~f["ok"]).drop(columns="ok"),
              f"The 8 parameters with the highest R-hat (of {len(table)}; all are in "
              "metrics.json)", flag_column="flag"),
        Table(pd.DataFrame({"diagnostic": list(sampler), "value": [
            ", ".join(f"{v:.3g}" for v in value) if isinstance(value, list) else value
            for value in sampler.values()]}), "NUTS sampler"),
        Figure(figure, "Trace and rank plots of the campaign-level parameters"),
    ])


def _eda(train: pd.DataFrame, out_dir: Path, metrics: dict[str, Any]) -> Section:
    y = train[TARGET].to_numpy(float)
    treated = train["treatment_group"].to_numpy(int)
    balance = []
    for campaign in CAMPAIGNS:
        part = train[train["campaign_id"] == campaign]
        arms = [part[part["treatment_group"] == arm] for arm in (1, 0)]
        lifetime = [np.log1p(a["historical_lifetime_spend"]) for a in arms]
        pooled = np.sqrt((lifetime[0].var() + lifetime[1].var()) / 2) or 1.0
        balance.append({
            "campaign": campaign, "customers": len(part),
            "share mailed": float(part["treatment_group"].mean()) if len(part) else None,
            "share spending, mailed": float((arms[0][TARGET] > 0).mean()) if len(arms[0])
            else None,
            "share spending, control": float((arms[1][TARGET] > 0).mean()) if len(arms[1])
            else None,
            "mean spend, mailed": float(arms[0][TARGET].mean()) if len(arms[0]) else None,
            "mean spend, control": float(arms[1][TARGET].mean()) if len(arms[1]) else None,
            "std. mean diff. log lifetime spend": float((lifetime[0].mean()
                                                         - lifetime[1].mean()) / pooled),
        })
    metrics["eda"] = {"share_zero": float((y == 0).mean()), "mean": float(y.mean()),
                      "p99": float(np.quantile(y, 0.99)), "max": float(y.max()),
                      "share_mailed": float(treated.mean()), "balance": balance}
    return Section("Exploratory analysis and feature engineering", [
        Figure(plot_target(train, out_dir / "eda_target.png"),
               "The target: zero mass, log scale of the spenders, heavy tail"),
        Figure(plot_features(train, out_dir / "eda_features.png"),
               "Spend against each feature (deciles)"),
        Figure(plot_heteroscedasticity(train, out_dir / "eda_heteroscedasticity.png"),
               "Spread of log spend by lifetime spend: the model lets sigma grow with it"),
        Table(pd.DataFrame(balance), "Campaign and treatment balance (a standardised mean "
                                     "difference near 0 means the arms are comparable)"),
        Paragraph(" ".join((FEATURE_NOTES or "").replace("``", "").split())),
    ])


def _treatment(run: SpendRun, train: pd.DataFrame, out_dir: Path, rng: np.random.Generator,
               metrics: dict[str, Any]) -> Section:
    if not run.treatment_identified:
        metrics["uplift_by_campaign"] = None
        return Section("Treatment effect and uplift", [Callout(
            "No campaign in the training data has both mailed and control customers, so the "
            "treatment effect is its prior and no uplift can be learned: predictions leave the "
            "uplift columns empty.", "note")])
    draws = run.posterior
    params = thin_draws(draws, 1000, rng)
    design = SpendDesign.from_table(train, run.scaling)
    # Mean uplift per campaign, draw by draw: the same draws summed by campaign.
    totals = predictive_totals(SpendSimulator(design), params, rng, groups=design.campaign,
                               n_groups=len(CAMPAIGNS))
    counts = np.bincount(design.campaign, minlength=len(CAMPAIGNS))
    rows = []
    for index, campaign in enumerate(CAMPAIGNS):
        per_customer = totals["uplift"][:, index] / max(counts[index], 1)
        low, high = np.quantile(per_customer, [0.05, 0.95])
        rows.append({"campaign": campaign, "customers": int(counts[index]),
                     "mean uplift per customer": float(per_customer.mean()),
                     "90% low": float(low), "90% high": float(high),
                     "P(uplift > 0)": float((per_customer > 0).mean())})
    metrics["uplift_by_campaign"] = rows
    return Section("Treatment effect and uplift", [
        Paragraph("Uplift is the expected 30-day spend if mailed minus if not, averaged over "
                  "the campaign's customers, for each posterior draw; the interval is over "
                  "draws. It combines the effect on whether a customer spends and on how much."),
        Table(pd.DataFrame(rows), "Mean uplift per customer by campaign (currency)"),
        Figure(plot_treatment_effects(draws, out_dir / "treatment_effects.png"),
               "Campaign treatment effects on both parts of the model"),
    ])


def _predictive_check(run: SpendRun, train: pd.DataFrame, rng: np.random.Generator,
                      metrics: dict[str, Any]) -> Section:
    params = thin_draws(run.posterior, CHECK_DRAWS, rng)
    design = SpendDesign.from_table(train, run.scaling)
    simulated = HurdleSpendModel.simulate(params, design, rng)
    y = train[TARGET].to_numpy(float)
    rows = []
    checks = {"share spending nothing": lambda v: float(np.mean(v == 0)),
              "mean spend": lambda v: float(np.mean(v)),
              "median spend of spenders": lambda v: float(np.median(v[v > 0])),
              "90th percentile of spenders": lambda v: float(np.quantile(v[v > 0], 0.9)),
              "99th percentile of spenders": lambda v: float(np.quantile(v[v > 0], 0.99))}
    for name, statistic in checks.items():
        values = np.array([statistic(row) for row in simulated])
        observed = statistic(y)
        low, high = np.quantile(values, [0.05, 0.95])
        rows.append({"statistic": name, "observed": observed, "predictive mean":
                     float(values.mean()), "90% low": float(low), "90% high": float(high),
                     "flag": not low <= observed <= high})
    metrics["posterior_predictive_check"] = rows
    return Section("Posterior predictive check (training data)", [
        Table(pd.DataFrame(rows), "Statistics of the training data against 200 replicated "
                                  "data sets (red: outside the 90% band)", flag_column="flag"),
    ])


def _holdout(run: SpendRun, train: pd.DataFrame, holdout: pd.DataFrame, out_dir: Path,
             seed: int, metrics: dict[str, Any]) -> list[Section]:
    evaluation = evaluate_spend_holdout(run.posterior, run.scaling, train, holdout, seed=seed)
    m = evaluation.metrics
    metrics["holdout"] = m
    comparison = pd.DataFrame(m["comparison"]).T.reset_index(names="model")
    comparison["model"] = comparison["model"].map(LABELS)
    paired = pd.DataFrame(m["paired_comparison"])
    paired = paired[paired["verdict"] != "reference"].assign(
        model=lambda f: f["model"].map(LABELS))
    ours = evaluation.results["bayescope"]
    residual = stats.norm.ppf(np.clip(ours.pit, 1e-9, 1 - 1e-9))
    design = SpendDesign.from_table(holdout, run.scaling)
    metrics["residuals"] = {"mean": float(residual.mean()), "sd": float(residual.std()),
                            "shapiro_like_skew": float(stats.skew(residual))}
    figures = {
        "comparison": plot_comparison(m["paired_comparison"], out_dir / "comparison.png",
                                      LABELS),
        "pit": plot_pit_ecdf({k: r.pit_check for k, r in evaluation.results.items()},
                             out_dir / "pit_ecdf.png", LABELS),
        "coverage": plot_coverage({k: r.summary["coverage"]
                                   for k, r in evaluation.results.items()},
                                  out_dir / "coverage.png", LABELS),
        "deciles": plot_deciles(m["deciles"], out_dir / "deciles.png", LABELS),
        "residuals": plot_residuals(residual, evaluation.fitted, design.campaign,
                                    design.treated, out_dir / "residuals.png"),
    }
    calibrated = ours.summary["calibrated"]
    return [
        Section("Holdout comparison", [
            Paragraph(f"{m['n_holdout']:,} held-out customers ({m['share_positive']:.1%} "
                      "spent). Lower is better for CRPS, interval score, RMSE and MAE; higher "
                      "for top-decile capture; share_below_qXX should equal XX%. The log "
                      "score is left out: the hurdle and boosting models put mass on exactly "
                      "0, OLS and log-OLS give densities, which are not on one scale."),
            Table(comparison, "Scores on the holdout"),
            Table(paired, "Paired comparison: model minus bayescope, 90% interval (better / "
                          "worse only when the interval excludes 0)"),
            Figure(figures["comparison"], "Metric differences to bayescope"),
            Figure(figures["deciles"], "Lift and capture by decile of predicted spend"),
        ]),
        Section("Holdout calibration and residuals", [
            Callout("bayescope's predictive distribution is calibrated on the holdout (PIT "
                    "ECDF inside its 99% band)." if calibrated else
                    "bayescope's PIT ECDF leaves its 99% band on this holdout: the predictive "
                    "distribution is detectably off.", "good" if calibrated else "bad"),
            Figure(figures["pit"], "Randomised PIT ECDF difference (the point mass at 0 is "
                                   "randomised, so a calibrated model is flat)"),
            Figure(figures["coverage"], "Central interval coverage against nominal"),
            Figure(figures["residuals"], "Randomised quantile residuals of bayescope"),
        ]),
    ]
