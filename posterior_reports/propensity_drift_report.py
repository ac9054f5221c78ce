"""The "Monthly drift" section of a propensity report (from ``metrics.json["drift"]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayescope.posterior_reports.drift import MAJOR, MODERATE
from bayescope.posterior_reports.html import Callout, Figure, Paragraph, Section, Table
from bayescope.posterior_reports.plots import COLOURS, save_figure

VERDICT_COLOURS = {"stable": COLOURS[2], "moderate": COLOURS[1], "major": COLOURS[3]}


def drift_section(drift: dict[str, Any], out_dir: Path) -> Section:
    """Headline, the three-panel figure and the tables of the drift check."""
    propensity, segments = drift["propensity"], drift["segments"]
    major, moderate = drift["features_major"], drift["features_moderate"]
    worst = max([f["psi"] for f in drift["features"]] + [propensity["psi"], segments["psi"]])
    kind = "good" if worst < MODERATE else "note" if worst < MAJOR else "bad"
    headline = (
        f"Compared with the previous run ({drift['previous_run']}, "
        f"{drift['previous_n']:,} customers) this month's {drift['new_n']:,} customers: "
        f"{len(major)} feature(s) shifted a lot (PSI > {MAJOR}"
        + (f": {', '.join(major)}" if major else "") + f"), {len(moderate)} moderately"
        + (f" ({', '.join(moderate)})" if moderate else "")
        + f"; the previous model's propensity distribution PSI {propensity['psi']:.3f} "
        f"({propensity['verdict']}), segment sizes PSI {segments['psi']:.3f} "
        f"({segments['verdict']}).")
    blocks: list[Any] = [
        Callout(headline, kind),
        Paragraph("Population stability index, PSI = sum (new - old) ln(new / old) over the "
                  "previous month's deciles (levels for categoricals; missing and unseen "
                  f"values in bins of their own): below {MODERATE} stable, {MODERATE}-{MAJOR} "
                  f"worth a look, above {MAJOR} a major shift (check the pipeline, refit)."),
        Figure(_plot(drift, out_dir / "drift.png"),
               "Feature PSI, propensity distribution and segment sizes: previous vs new"),
        Table(pd.DataFrame([{"feature": f["feature"], "psi": f["psi"], "verdict": f["verdict"]}
                            for f in drift["features"]]), "PSI per feature"),
        Table(pd.DataFrame([
            {"quantity": "mean propensity, previous month (previous model)",
             "value": propensity["previous_month_mean"]},
            {"quantity": "mean propensity, this month (previous model)",
             "value": propensity["new_month_mean_previous_model"]},
            {"quantity": "mean propensity, this month (new model)",
             "value": propensity["new_month_mean_new_model"]},
            {"quantity": "mean |new - previous model| per customer",
             "value": propensity["refit_mean_abs_change"]},
            {"quantity": "rank correlation, new vs previous model",
             "value": propensity["refit_rank_correlation"]}]), "Propensity shift"),
        Table(pd.DataFrame(segments["rows"]), "Segment sizes (previous segments)"),
    ]
    performance = drift.get("performance")
    if performance and "on_new_month" in performance:
        rows = [{"when": "previous model at its fit (held out)", **performance["at_fit"]},
                {"when": "previous model on this month", **performance["on_new_month"]}]
        blocks.append(Table(pd.DataFrame(rows), "Has the previous model decayed? Its scores "
                            f"at fit time and on this month (purchase rate "
                            f"{performance['previous_purchase_rate']:.3f} then, "
                            f"{performance['new_purchase_rate']:.3f} now)"))
    return Section("Monthly drift", blocks)


def _plot(drift: dict[str, Any], path: Path) -> Path:
    features = drift["features"][::-1]
    fig, axes = plt.subplots(1, 3, figsize=(16, max(5.0, 0.22 * len(features))))
    left, middle, right = axes
    left.barh([f["feature"] for f in features], [f["psi"] for f in features],
              color=[VERDICT_COLOURS[f["verdict"]] for f in features])
    for line in (MODERATE, MAJOR):
        left.axvline(line, color="grey", linestyle="--", linewidth=1)
    left.set_xlabel("PSI against the previous month")
    left.set_title("Feature drift")
    left.tick_params(axis="y", labelsize=8)

    propensity = drift["propensity"]
    _paired_bars(middle, propensity["bins"][:-1], propensity["reference_shares"][:-1],
                 propensity["new_shares"][:-1])
    middle.set_xlabel("bin of the previous month's predicted propensity (its deciles)")
    middle.set_title(f"Propensity distribution (previous model), PSI {propensity['psi']:.3f}")
    middle.tick_params(axis="x", rotation=60, labelsize=7)

    rows = drift["segments"]["rows"]
    _paired_bars(right, [r["name"] for r in rows], [r["previous_share"] for r in rows],
                 [r["new_share"] for r in rows])
    right.set_title(f"Segment sizes, PSI {drift['segments']['psi']:.3f}")
    right.tick_params(axis="x", rotation=20, labelsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def _paired_bars(ax: Any, labels: list[str], previous: list[float], new: list[float]) -> None:
    x = np.arange(len(labels))
    ax.bar(x - 0.2, previous, 0.4, label="previous month", color=COLOURS[0])
    ax.bar(x + 0.2, new, 0.4, label="this month", color=COLOURS[1])
    ax.set_xticks(x, labels)
    ax.set_ylabel("share of customers")
    ax.legend(fontsize=8)
