"""Model-agnostic evaluation plots (matplotlib), one PNG each, readable at a glance.

Every plot has a title, labelled axes with units and a legend; colours follow one fixed order
so a model keeps its colour across the plots of a report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import rankdata

from bayescope.files import atomic_path
from bayescope.inference.convergence import scalar_series
from bayescope.posterior_reports.calibration import PITCheck

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def save_figure(fig: Any, path: Path) -> Path:
    """Write a figure atomically as PNG and close it."""
    try:
        with atomic_path(path, suffix=".tmp.png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


MARKERS = ("o", "s", "^", "D", "v", "P")


def _labels(names: Sequence[str], labels: Mapping[str, str] | None) -> list[str]:
    return [(labels or {}).get(n, n) for n in names]


def _styled(items: Mapping[str, Any], labels: Mapping[str, str] | None
            ) -> list[tuple[Any, str, str, str, int]]:
    """(value, label, colour, marker, zorder) per model, the first model drawn on top."""
    names = list(items)
    return [(items[n], label, colour, marker, 10 - i) for i, (n, label, colour, marker)
            in enumerate(zip(names, _labels(names, labels), COLOURS, MARKERS, strict=False))]


def plot_pit_ecdf(checks: Mapping[str, PITCheck], path: Path,
                  labels: Mapping[str, str] | None = None) -> Path:
    """PIT ECDF minus the uniform CDF per model, with the first model's simultaneous band."""
    fig, ax = plt.subplots(figsize=(7, 4))
    first = next(iter(checks.values()))
    ax.fill_between(first.grid, first.band_low, first.band_high, color="0.85",
                    label=f"{first.band_prob:.0%} simultaneous band (calibrated, n={first.n})")
    for check, label, colour, _, z in _styled(checks, labels):
        verdict = "inside" if check.inside_band else "OUTSIDE"
        ax.plot(check.grid, check.ecdf_difference, color=colour, lw=1 + z % 3, zorder=z,
                label=f"{label} ({verdict} band)")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("PIT value")
    ax.set_ylabel("ECDF(PIT) - uniform CDF")
    ax.set_title("Calibration: PIT ECDF difference (flat inside the band = calibrated)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_coverage(tables: Mapping[str, Sequence[Mapping[str, Any]]], path: Path,
                  labels: Mapping[str, str] | None = None) -> Path:
    """Observed coverage of central intervals against nominal, with the binomial band."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    first = next(iter(tables.values()))
    levels = np.array([r["level"] for r in first])
    ax.fill_between(levels, [r["band_low"] for r in first], [r["band_high"] for r in first],
                    color="0.85", label="95% binomial band around nominal")
    ax.plot([0.45, 1.0], [0.45, 1.0], "k:", lw=1)
    for rows, label, colour, marker, z in _styled(tables, labels):
        ax.plot(levels, [r["interval_coverage"] for r in rows], marker=marker, ls="-",
                color=colour, zorder=z, ms=9 - z % 4, label=f"{label}: interval coverage")
        if "pit_coverage" in rows[0]:
            ax.plot(levels, [r["pit_coverage"] for r in rows], marker=marker, ls="--",
                    color=colour, ms=4, zorder=z, label=f"{label}: randomised PIT coverage")
    ax.set_xlabel("nominal coverage of the central interval")
    ax.set_ylabel("observed share of outcomes inside")
    ax.set_title("Interval coverage")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_rootogram(rows: Sequence[Mapping[str, Any]], path: Path, title: str,
                   xlabel: str = "count") -> Path:
    """Hanging rootogram: observed bars hang from the expected curve on the sqrt scale."""
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(rows))
    expected = np.sqrt([r["expected"] for r in rows])
    observed = np.sqrt([r["observed"] for r in rows])
    ax.bar(x, observed, bottom=expected - observed, color="0.7", edgecolor="k",
           label="observed (hanging from expected)")
    ax.plot(x, expected, "o-", color=COLOURS[3], label="expected under the model")
    ax.axhline(0, color="k", lw=1)
    ax.set_xticks(x, [r["count"] for r in rows])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("sqrt(frequency)")
    ax.set_title(title + "\n(bars ending below 0: under-predicted, above 0: over-predicted)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, path)


def plot_reliability(tables: Mapping[str, Sequence[Mapping[str, Any]]], path: Path,
                     labels: Mapping[str, str] | None = None, what: str = "event") -> Path:
    """Reliability diagram: observed rate (90% interval) against mean predicted probability."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect calibration")
    for rows, label, colour, marker, z in _styled(tables, labels):
        pred = np.array([r["mean_predicted"] for r in rows])
        obs = np.array([r["observed_rate"] for r in rows])
        err = np.clip(np.array([[o - r["observed_low"], r["observed_high"] - o]
                                for o, r in zip(obs, rows, strict=True)]).T, 0.0, None)
        ax.errorbar(pred, obs, yerr=err, fmt=f"{marker}-", color=colour, capsize=2,
                    label=label, zorder=z, ms=9 - z % 4, alpha=0.85)
    ax.set_xlabel(f"mean predicted P({what})")
    ax.set_ylabel(f"observed share ({what})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Reliability (10 equal-count bins, 90% intervals)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_deciles(tables: Mapping[str, Sequence[Mapping[str, Any]]], path: Path,
                 labels: Mapping[str, str] | None = None) -> Path:
    """Lift by decile of predicted score (bars) and cumulative capture (lines)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(1, len(tables))
    for i, (rows, label, colour) in enumerate(zip(
            tables.values(), _labels(list(tables), labels), COLOURS, strict=False)):
        deciles = np.array([r["decile"] for r in rows])
        left.bar(deciles + (i - (len(tables) - 1) / 2) * width,
                 [r["lift"] or 0.0 for r in rows], width, color=colour, label=label)
        right.plot(np.concatenate([[0], deciles * 10]),
                   np.concatenate([[0], [r["cumulative_capture"] or 0.0 for r in rows]]),
                   "o-", color=colour, label=label)
    left.axhline(1, color="k", lw=1)
    left.set_xlabel("decile of predicted score (1 = highest)")
    left.set_ylabel("lift (decile mean / overall mean)")
    left.set_title("Lift by decile")
    left.legend(fontsize=8)
    right.plot([0, 100], [0, 1], "k:", lw=1, label="random order")
    right.set_xlabel("% of units targeted, best first")
    right.set_ylabel("share of the actual total captured")
    right.set_title("Cumulative capture")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_comparison(rows: Sequence[Mapping[str, Any]], path: Path,
                    labels: Mapping[str, str] | None = None) -> Path:
    """Forest plot: each model's metric difference to the reference with its interval."""
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    ncols = min(4, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.4 * nrows), squeeze=False)
    for ax in axes.ravel()[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        sub = [r for r in rows if r["metric"] == metric and r["verdict"] != "reference"]
        y = np.arange(len(sub))
        for j, r in enumerate(sub):
            colour = {"better": COLOURS[2], "worse": COLOURS[3]}.get(r["verdict"], "0.4")
            ax.errorbar(r["difference"], j, xerr=[[r["difference"] - r["difference_low"]],
                                                  [r["difference_high"] - r["difference"]]],
                        fmt="o", color=colour, capsize=3)
        ax.axvline(0, color="k", lw=1)
        ax.set_yticks(y, _labels([r["model"] for r in sub], labels))
        ax.set_ylim(-0.6, len(sub) - 0.4)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("model minus reference", fontsize=8)
        ax.grid(alpha=0.3)
    methods = {r["method"] for r in rows}
    method = ("paired bootstrap" if methods == {"bootstrap"}
              else "paired cluster bootstrap" if methods == {"cluster bootstrap"}
              else "paired stratified cluster bootstrap"
              if methods == {"stratified cluster bootstrap"}
              else "paired normal approximation")
    fig.suptitle(f"{method.capitalize()}: model minus reference, 90% intervals "
                 "(green better, red worse, grey within noise)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_trace_rank(posterior: Any, names: Sequence[str], path: Path) -> Path:
    """Trace (left) and per-chain rank histograms (right) of each population parameter.

    Rank plots (Vehtari et al. 2021): ranks of all draws pooled, histogrammed per chain; good
    mixing shows flat, overlapping histograms.
    """
    series = scalar_series(posterior, tuple(names))
    fig, axes = plt.subplots(len(series), 2, figsize=(10, 1.9 * len(series)), squeeze=False)
    for row, (name, draws) in zip(axes, series, strict=True):  # draws: (chain, draw)
        ranks = rankdata(draws, axis=None).reshape(draws.shape)
        bins = np.linspace(0, draws.size, 21)
        for chain, colour in zip(range(draws.shape[0]), COLOURS * 4, strict=False):
            row[0].plot(draws[chain], color=colour, lw=0.5, alpha=0.8)
            row[1].hist(ranks[chain], bins=bins, histtype="step", color=colour, lw=1.2)
        row[0].set_ylabel(name, fontsize=8 if len(name) < 20 else 6)
        row[1].axhline(draws.shape[1] / 20, color="k", ls=":", lw=1)
        row[1].set_yticks([])
    axes[0][0].set_title("trace by chain")
    axes[0][1].set_title("rank histogram by chain (flat = well mixed)")
    axes[-1][0].set_xlabel("draw")
    axes[-1][1].set_xlabel("rank of draw among all chains")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_predictive_check(rows: Sequence[Mapping[str, Any]], path: Path, title: str,
                          xlabel: str) -> Path:
    """Observed frequency per count against prior and posterior predictive 90% intervals."""
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(rows))
    for offset, kind, colour in ((-0.2, "prior", COLOURS[1]), (0.2, "posterior", COLOURS[0])):
        if f"{kind}_mean" not in rows[0]:
            continue
        mean = np.array([r[f"{kind}_mean"] for r in rows])
        err = np.clip(np.array([[m - r[f"{kind}_low"], r[f"{kind}_high"] - m]
                                for m, r in zip(mean, rows, strict=True)]).T, 0.0, None)
        ax.errorbar(x + offset, mean, yerr=err, fmt="o", color=colour, capsize=3,
                    label=f"{kind} predictive (mean, 90%)")
    ax.bar(x, [r["observed"] for r in rows], 0.5, color="0.75", label="observed")
    ax.set_xticks(x, [r["count"] for r in rows])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("number of units")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, path)
