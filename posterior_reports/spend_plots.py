"""Plots of the spend report: exploratory analysis, residual diagnostics, treatment effects.

* ``eda_target.png``: spend on the linear scale, log scale of the spenders with the zero mass
  stated, and the survival function on log-log axes (the tail);
* ``eda_features.png``: share spending and mean spend of spenders by decile of each feature;
* ``eda_heteroscedasticity.png``: sd of log spend among spenders by lifetime-spend decile;
* ``residuals.png``: randomised quantile residuals (Dunn & Smyth 1996) against fitted spend,
  by campaign, by treatment, and their normal Q-Q plot;
* ``treatment_effects.png``: posterior of each campaign's treatment effect on both parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from bayescope.data.campaign_spend import CAMPAIGNS, TARGET
from bayescope.posterior_reports.plots import COLOURS, save_figure

FEATURE_COLUMNS = ("historical_lifetime_spend", "days_since_last_purchase",
                   "web_activity_score", "customer_tenure_days", "brand_affinity_score",
                   "email_open_rate", "price_sensitivity")


def plot_target(table: pd.DataFrame, path: Path) -> Path:
    """Spend distribution: linear, log of spenders, and tail (survival on log-log axes)."""
    y = table[TARGET].to_numpy(float)
    positive = y[y > 0]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].hist(y, bins=60, color=COLOURS[0])
    axes[0].set_title(f"30-day spend ({(y == 0).mean():.0%} spend nothing)")
    axes[0].set_xlabel("spend")
    axes[0].set_ylabel("customers")
    if positive.size:
        axes[1].hist(np.log10(positive), bins=50, color=COLOURS[1])
        ordered = np.sort(positive)
        survival = 1.0 - np.arange(ordered.size) / ordered.size
        axes[2].loglog(ordered, survival, color=COLOURS[2])
    axes[1].set_title("spenders only, log10 scale")
    axes[1].set_xlabel("log10(spend)")
    axes[1].set_ylabel("customers")
    axes[2].set_title("tail: P(spend > x | spend > 0)")
    axes[2].set_xlabel("spend x (log)")
    axes[2].set_ylabel("survival (log)")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_features(table: pd.DataFrame, path: Path) -> Path:
    """Share spending (left axis) and median spend of spenders (right) by feature decile."""
    y = table[TARGET].to_numpy(float)
    fig, axes = plt.subplots(2, 4, figsize=(14, 6))
    for ax, column in zip(axes.ravel(), FEATURE_COLUMNS, strict=False):
        x = table[column].to_numpy(float)
        bins = pd.qcut(x, 10, labels=False, duplicates="drop")
        frame = pd.DataFrame({"bin": bins, "x": x, "y": y})
        grouped = frame.groupby("bin")
        centre = grouped["x"].median()
        ax.plot(centre, grouped["y"].apply(lambda s: (s > 0).mean()), "o-",
                color=COLOURS[0], label="share spending")
        ax.set_ylabel("share spending", color=COLOURS[0])
        twin = ax.twinx()
        twin.plot(centre, grouped["y"].apply(lambda s: s[s > 0].median() if (s > 0).any()
                                              else np.nan), "s--", color=COLOURS[1])
        twin.set_ylabel("median spend of spenders", color=COLOURS[1])
        ax.set_xlabel(column.replace("_", " ") + " (decile medians)")
        ax.grid(alpha=0.3)
    axes.ravel()[-1].set_visible(False)
    fig.suptitle("Spend against each feature: share spending (blue) and median spend of "
                 "spenders (orange)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_heteroscedasticity(table: pd.DataFrame, path: Path) -> Path:
    """Spread of log spend among spenders by decile of lifetime spend."""
    y = table[TARGET].to_numpy(float)
    mask = y > 0
    x = table["historical_lifetime_spend"].to_numpy(float)[mask]
    bins = pd.qcut(x, 10, labels=False, duplicates="drop")
    frame = pd.DataFrame({"bin": bins, "x": x, "log_y": np.log(y[mask])})
    grouped = frame.groupby("bin")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(grouped["x"].median(), grouped["log_y"].std(), "o-", color=COLOURS[3])
    ax.set_xscale("log")
    ax.set_xlabel("historical lifetime spend (decile medians, log scale)")
    ax.set_ylabel("sd of log spend (spenders)")
    ax.set_title("Heteroscedasticity: the spread of spend grows with lifetime spend")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_residuals(residual: np.ndarray, fitted: np.ndarray, campaign: np.ndarray,
                   treated: np.ndarray, path: Path) -> Path:
    """Randomised quantile residuals: vs fitted, by campaign, by treatment, normal Q-Q."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    axes[0].scatter(fitted, residual, s=3, alpha=0.3, color=COLOURS[0])
    axes[0].set_xscale("log")
    axes[0].axhline(0, color="k", lw=1)
    axes[0].set_xlabel("fitted expected spend (log scale)")
    axes[0].set_ylabel("randomised quantile residual")
    axes[0].set_title("residual vs fitted")
    axes[1].boxplot([residual[campaign == i] for i in range(len(CAMPAIGNS))],
                    tick_labels=[c.replace("RETENTION_", "") for c in CAMPAIGNS])
    axes[1].set_title("by campaign")
    axes[2].boxplot([residual[treated == 0], residual[treated == 1]],
                    tick_labels=["control", "mailed"])
    axes[2].set_title("by treatment")
    (theoretical, ordered), _ = stats.probplot(residual, dist="norm")
    axes[3].plot(theoretical, ordered, ".", ms=3, color=COLOURS[0])
    axes[3].plot(theoretical, theoretical, "k:", lw=1)
    axes[3].set_xlabel("standard normal quantile")
    axes[3].set_ylabel("residual quantile")
    axes[3].set_title("normal Q-Q (on the line = calibrated)")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_treatment_effects(draws: Mapping[str, np.ndarray], path: Path) -> Path:
    """Posterior mean and 90% interval of each campaign's treatment effect, both parts."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for ax, part, unit in ((axes[0], "any_treatment", "log-odds of any spend"),
                           (axes[1], "amount_treatment", "log spend of spenders")):
        values = np.asarray(draws[part])
        low, mean, high = np.quantile(values, 0.05, axis=0), values.mean(axis=0), \
            np.quantile(values, 0.95, axis=0)
        y = np.arange(len(CAMPAIGNS))
        ax.errorbar(mean, y, xerr=[mean - low, high - mean], fmt="o", capsize=4,
                    color=COLOURS[0])
        ax.axvline(0, color="k", lw=1)
        ax.set_yticks(y, [c.replace("RETENTION_", "") for c in CAMPAIGNS])
        ax.set_xlabel(f"treatment effect on the {unit}")
        ax.set_title(part.replace("_", " ") + " (mean, 90%)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)
