"""Plots of a BTYD run that people read at a glance (matplotlib, written as PNG).

* ``holdout_by_frequency.png``: mean holdout purchases by calibration frequency, actual vs
  each predictor (the classic BTYD validation plot of Fader, Hardie & Lee 2005, fig. 4);
* ``purchase_categories.png``: predicted vs observed purchase rate in the four categories;
* ``alive.png``: customers alive by horizon with the 5-95% band over runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayescope.posterior_reports.plots import save_figure as _save

LABELS = {"bayescope": "bayescope (posterior mean)", "lifetimes_mle": "lifetimes MLE",
          "lifetimes_bgnbd": "lifetimes BG/NBD MLE", "lifetimes_mbgnbd": "lifetimes MBG/NBD MLE",
          "rfm_rule": "RFM rule"}


def plot_holdout(metrics: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """The two holdout plots from a ``metrics.json`` dictionary."""
    unit = {"W": "week", "D": "day"}.get(metrics["time_unit"], metrics["time_unit"])
    by_freq = pd.DataFrame(metrics["by_calibration_frequency"])
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(by_freq["frequency"], by_freq["actual"], "ko-", lw=2, label="actual")
    styles = {"bayescope": ("s-", 7), "lifetimes_mle": ("o--", 4), "rfm_rule": ("^:", 5),
              "lifetimes_bgnbd": ("v-.", 5), "lifetimes_mbgnbd": ("v-.", 5)}
    for name, label in LABELS.items():
        if name in by_freq:
            style, size = styles[name]
            ax.plot(by_freq["frequency"], by_freq[name], style, ms=size, label=label)
    ax.set_xlabel("repeat purchases in calibration")
    ax.set_ylabel(f"mean purchases in the {metrics['holdout_periods']:.0f}-{unit} holdout")
    ax.set_title("Holdout purchases by calibration frequency")
    ax.legend()
    ax.grid(alpha=0.3)
    paths = [_save(fig, out_dir / "holdout_by_frequency.png")]

    cats = pd.DataFrame(metrics["purchase_categories"])
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(cats))
    ax.bar(x - 0.2, cats["mean_predicted"].astype(float), 0.4, label="predicted P(any purchase)")
    ax.bar(x + 0.2, cats["observed_rate"].astype(float), 0.4, label="observed share")
    ax.set_xticks(x, [f"{c}\n(n={n})" for c, n in zip(cats["category"], cats["n"], strict=True)])
    ax.set_ylabel("share purchasing in holdout")
    ax.set_ylim(0, 1)
    ax.set_title("Purchase-likelihood categories: predicted vs observed")
    ax.legend()
    paths.append(_save(fig, out_dir / "purchase_categories.png"))
    return paths


def plot_alive(table: pd.DataFrame, customers: int, path: Path) -> Path:
    """Customers alive by horizon: run 0, mean over runs and the 5-95% band."""
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(table))
    ax.fill_between(x, table["alive_low"], table["alive_high"], alpha=0.3,
                    label="5-95% over runs and posterior draws")
    ax.plot(x, table["alive_mean"], "o-", label="mean over runs")
    ax.plot(x, table["alive"], "ks", label="run 0 (this seed)")
    if "alive_expected" in table:
        ax.plot(x, table["alive_expected"], "r+", ms=12, label="closed form")
    ax.set_xticks(x, table["horizon"])
    ax.set_xlabel("time since acquisition")
    ax.set_ylabel(f"customers alive (of {customers})")
    ax.set_ylim(0, customers)
    ax.set_title("Customers still alive")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)
