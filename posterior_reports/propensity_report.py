"""The report of a propensity run: scores against the classical rivals, calibration,
importance with uncertainty, segments with their propensity, and how the two fit together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayescope.posterior_reports.html import (
    Callout,
    Figure,
    Paragraph,
    ReportContent,
    Section,
    Table,
)
from bayescope.posterior_reports.plots import COLOURS, plot_deciles, plot_reliability, save_figure
from bayescope.posterior_reports.propensity_drift_report import drift_section
from bayescope.posterior_reports.runs import PropensityRunView as PropensityRun

LABELS = {"bayescope": "bayescope (Laplace posterior)",
          "logistic_regression": "logistic regression (MLE)",
          "gradient_boosting": "gradient boosting"}

COMPARISON_TEXT = (
    "Classification (the propensity model) and clustering (the segments) answer different "
    "questions. Objective: the classifier predicts a labelled outcome, purchase in the next "
    "30 days; clustering has no label and groups customers who look alike. Inputs: the "
    "classifier uses every feature, weighted by how much it predicts; the segments use the "
    "behavioural and transactional features marketing can act on, weighted equally after "
    "scaling. Evaluation: the classifier is judged on held-out customers (ROC-AUC, PR-AUC, "
    "calibration); clusters have no ground truth, so they are judged by separation "
    "(silhouette) and stability across resamples (adjusted Rand), and by whether marketing "
    "can explain them. When to use which: rank or target individuals by propensity; design "
    "messages, offers and creative by segment. Together: within each segment, rank customers "
    "by propensity and mail the top of each; a segment with a high mean propensity gets a "
    "retention message, one with a low propensity but high value a win-back offer; and the "
    "segment-level propensity interval says how sure we are of that ordering.")


def build_propensity_report(run: PropensityRun, out_dir: Path) -> ReportContent:
    """Sections and metrics for a propensity run (from its stored metrics.json)."""
    metrics_path = run.metrics_path
    metrics: dict[str, Any] = json.loads(metrics_path.read_text()) if metrics_path.is_file() \
        else {}
    sections = [_summary(run, metrics)]
    if "comparison" in metrics:
        sections.append(_scores(metrics, out_dir))
        sections.append(_importance(metrics, out_dir))
    sections.append(_segments(run, metrics, out_dir))
    if "drift" in metrics:
        sections.append(drift_section(metrics["drift"], out_dir))
    sections.append(Section("Clustering and classification, used together",
                            [Paragraph(COMPARISON_TEXT)]))
    return ReportContent("bayescope report: purchase propensity and segments",
                         f"{run.artifact.attrs.get('n_customers', '?')} customers, created "
                         f"{run.artifact.attrs.get('created_at', '?')}", sections, metrics)


def _summary(run: PropensityRun, metrics: dict[str, Any]) -> Section:
    gate = json.loads(run.artifact.attrs.get("gate", "{}"))
    return Section("Summary", [
        Callout(f"Exact Laplace posterior: Newton converged in {gate.get('newton_steps', '?')} "
                "steps; the approximation is checked against NUTS in the test suite (means "
                "within 0.1 sd, sds within 10%).", "good"),
        Paragraph("Bayesian logistic regression of purchase in the next 30 days on 25 "
                  "features (log transforms, hinge splines, missingness indicators, pooled "
                  "categoricals; data/propensity_features.py says why), with every customer's "
                  "probability reported as a posterior mean and 90% interval."),
    ])


def _scores(metrics: dict[str, Any], out_dir: Path) -> Section:
    comparison = pd.DataFrame(metrics["comparison"]).T.reset_index(names="model")
    comparison["model"] = comparison["model"].map(LABELS)
    unseen = {k: v for k, v in metrics.get("unseen_levels", {}).items() if v}
    notes: list[Any] = [Callout(
        "Category levels the training customers never had were scored as 'unseen': "
        + ", ".join(f"{column} {count}" for column, count in unseen.items()), "note")] \
        if unseen else []
    return Section("Held-out scores", [*notes,
        Table(comparison[["model", "roc_auc", "pr_auc", "brier", "log_score", "ece",
                          "base_rate", "mean_predicted"]],
              f"{metrics['n_holdout']:,} held-out customers"),
        Figure(plot_reliability(metrics["reliability"], out_dir / "reliability.png", LABELS,
                                what="purchase in 30 days"), "Reliability of the probabilities"),
        Figure(plot_deciles(metrics["deciles"], out_dir / "deciles.png", LABELS),
               "Lift and capture of buyers by decile of predicted propensity"),
    ])


def _importance(metrics: dict[str, Any], out_dir: Path) -> Section:
    groups = pd.DataFrame(metrics["group_importance"])
    permutation = pd.DataFrame(metrics["permutation_importance"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    y = np.arange(len(groups))
    left.errorbar(groups["sd_of_log_odds_mean"], y,
                  xerr=[groups["sd_of_log_odds_mean"] - groups["low"],
                        groups["high"] - groups["sd_of_log_odds_mean"]], fmt="o", capsize=4,
                  color=COLOURS[0])
    left.set_yticks(y, groups["group"])
    left.set_xlabel("sd of the group's contribution to the log-odds (posterior mean, 90%)")
    left.set_title("Standardised effect by feature group")
    top = permutation.head(12).iloc[::-1]
    right.barh(top["feature"], top["auc_drop_mean"], xerr=top["auc_drop_sd"],
               color=COLOURS[1])
    right.set_xlabel("drop in held-out ROC-AUC when shuffled (mean, sd over repeats)")
    right.set_title("Permutation importance (top 12)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    figure = save_figure(fig, out_dir / "importance.png")
    return Section("What drives propensity", [
        Figure(figure, "Feature groups and features by importance, with uncertainty"),
        Table(groups, "Feature groups"),
        Table(permutation, "Permutation importance on held-out ROC-AUC"),
    ])


def _segments(run: PropensityRun, metrics: dict[str, Any], out_dir: Path) -> Section:
    segments = run.segments
    profiles = metrics.get("segments", [])
    blocks: list[Any] = [Paragraph(
        f"{segments.k} segments, chosen by silhouette over k = "
        f"{', '.join(str(k) for k in segments.silhouette_by_k)} (fewest within 0.01 of the "
        f"best); stability across bootstrap refits: adjusted Rand "
        f"{', '.join(f'{a:.3f}' for a in segments.stability_ari)}.")]
    if profiles:
        fig, ax = plt.subplots(figsize=(8, 0.8 + 0.6 * len(profiles)))
        y = np.arange(len(profiles))
        mean = np.array([p["propensity_mean"] for p in profiles])
        ax.errorbar(mean, y, xerr=[mean - [p["propensity_low"] for p in profiles],
                                   [p["propensity_high"] for p in profiles] - mean],
                    fmt="o", capsize=4, color=COLOURS[0], label="posterior mean, 90%")
        ax.plot([p["observed_rate"] for p in profiles], y, "kx", label="observed rate")
        ax.set_yticks(y, [f"{p['name']} ({p['share']:.0%})" for p in profiles])
        ax.set_xlabel("mean P(purchase in 30 days)")
        ax.set_title("Propensity by segment")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        blocks.append(Figure(save_figure(fig, out_dir / "segments.png"),
                             "Mean propensity of each segment"))
        table = pd.DataFrame([{"segment": p["name"], "customers": p["customers"],
                               "share": p["share"], "propensity": p["propensity_mean"],
                               "90% low": p["propensity_low"], "90% high": p["propensity_high"],
                               "observed": p["observed_rate"], **p["profile_medians"]}
                              for p in profiles])
        blocks.append(Table(table, "Segment profiles (feature medians)"))
        for profile in profiles:
            blocks.append(Paragraph(f"{profile['name']}: {profile['description']}"))
    return Section("Segments marketing can explain", blocks)
