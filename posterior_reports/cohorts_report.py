"""The artist-cohort report: how many cohorts and why, who is in each and what sets them
apart, the rules that sort an artist, how stable the cohorts are, and who moved."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayescope.data.artist_profiles import DESCRIPTIONS
from bayescope.posterior_reports.html import Figure, Paragraph, ReportContent, Section, Table
from bayescope.posterior_reports.plots import save_figure


class FittedCohorts(Protocol):
    """What the report reads of a fitted :class:`~bayescope.families.cohorts.ArtistCohorts`."""

    profiles_: pd.DataFrame
    cohorts_: pd.DataFrame
    rules_: pd.DataFrame
    transitions_: pd.DataFrame | None
    movers_: pd.DataFrame | None

    def summary(self) -> dict[str, Any]: ...


def cohorts_report(fitted: FittedCohorts, out_dir: Path) -> ReportContent:
    """The page's content; its figures are written into ``out_dir``."""
    metrics = fitted.summary()
    cv = pd.DataFrame(metrics["cross_validation"])
    stability = metrics["stability"]
    profile = pd.DataFrame([{"cohort_name": c["cohort_name"], "artists": c["artists"],
                             **{f"{k} (z)": v for k, v in c["mean_z"].items()}}
                            for c in metrics["cohorts"]])
    opening = (f"{metrics['artists']} artists as of {metrics['as_of']} fall into "
               f"{metrics['n_cohorts']} cohort(s): "
               + "; ".join(f"{c['cohort_name']} ({c['artists']})" for c in metrics["cohorts"])
               + f". The number was chosen by 5-fold held-out likelihood (the fewest cohorts "
               f"within one standard error of the best). Refitted on bootstrap resamples the "
               f"cohorts agree with these at an adjusted Rand index of "
               f"{stability['adjusted_rand_mean']:.2f} (5-95%: "
               f"{stability['adjusted_rand_low']:.2f}-{stability['adjusted_rand_high']:.2f}).")
    sections = [
        Section("Cohorts", [
            Paragraph(opening),
            Table(profile, "Cohort sizes and mean profile (z-scores: 0 is the average artist)",
                  digits=2),
            Figure(plot_profiles(profile, out_dir / "cohort_profiles.png"),
                   "Mean z-score of each descriptor by cohort"),
            Figure(plot_scatter(fitted.profiles_, fitted.cohorts_,
                                out_dir / "cohort_scatter.png"),
                   "Artists by popularity and momentum, coloured by cohort"),
            Table(pd.DataFrame({"descriptor": list(DESCRIPTIONS),
                                "meaning": list(DESCRIPTIONS.values())}),
                  "The descriptors (weeks before the as-of date only)")]),
        Section("Rules", [
            Paragraph("A two-question rule for each artist: follow the conditions to the "
                      "cohort. 'agreement' is the share of the artists a rule covers that the "
                      "mixture puts in that cohort."),
            Table(fitted.rules_, "Depth-2 rules on the descriptors in their own units",
                  digits=3)]),
        Section("How the number of cohorts was chosen", [
            Table(cv, "Held-out log-likelihood per artist (mean and standard error over 5 "
                      "folds) by number of cohorts", digits=3)]),
    ]
    moves: list[Any] = []
    if fitted.transitions_ is not None and fitted.movers_ is not None:
        moves = [Paragraph(f"Against {metrics['compared_with']} ({len(fitted.movers_)} of "
                           f"{int(fitted.transitions_.to_numpy().sum())} artists moved), "
                           "the same cohorts applied to the earlier profiles:"),
                 Table(fitted.transitions_.reset_index(), "Artists by cohort before (rows) "
                       "and now (columns)"),
                 Table(fitted.movers_, "Artists that moved")]
    else:
        moves = [Paragraph(f"No comparison: fewer than {metrics['min_history_weeks']} weeks of "
                           f"data precede {metrics['compared_with']}.")]
    sections.append(Section("Transitions", moves))
    return ReportContent(f"bayescope cohorts as of {metrics['as_of']}",
                         f"{metrics['artists']} artists, {metrics['n_cohorts']} cohorts",
                         sections, metrics)


def plot_profiles(profile: pd.DataFrame, path: Path) -> Path:
    """Heat map of cohort mean z-scores."""
    columns = [c for c in profile.columns if c.endswith("(z)")]
    values = profile[columns].to_numpy(float)
    fig, ax = plt.subplots(figsize=(1.6 * len(columns) + 3, 0.6 * len(profile) + 1.8))
    bound = max(float(np.abs(values).max()), 0.5)
    image = ax.imshow(values, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    ax.set_xticks(range(len(columns)), [c.removesuffix(" (z)") for c in columns], rotation=20)
    ax.set_yticks(range(len(profile)),
                  [f"{n} ({a})" for n, a in zip(profile["cohort_name"], profile["artists"],
                                                strict=True)])
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, f"{values[i, j]:+.1f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, label="mean z-score")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_scatter(profiles: pd.DataFrame, cohorts: pd.DataFrame, path: Path) -> Path:
    """Popularity against momentum, one colour per cohort."""
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, part in cohorts.groupby("cohort_name", sort=False):
        rows = profiles.loc[part["artist_id"]]
        ax.scatter(rows["popularity"], rows["momentum"], s=18, label=f"{name} ({len(part)})")
    ax.set_xlabel(DESCRIPTIONS["popularity"])
    ax.set_ylabel(DESCRIPTIONS["momentum"])
    ax.axhline(0, color="grey", lw=0.8)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)
