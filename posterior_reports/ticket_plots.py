"""Plots of the ticket-demand backtest and the DMA ranking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayescope.posterior_reports.plots import COLOURS, save_figure


def plot_backtest(metrics: dict[str, Any], path: Path) -> Path:
    """CRPS by model overall, by DMA size and by tier; interval coverage against nominal."""
    models = list(metrics["models"])
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.8))
    panels = [("all rows", {"all": metrics["models"]}), ("by DMA size", metrics["by_dma_size"]),
              ("by popularity tier", metrics["by_tier"])]
    for ax, (title, groups) in zip(axes[:3], panels, strict=True):
        labels = list(groups)
        x = np.arange(len(labels))
        width = 0.8 / len(models)
        for k, model in enumerate(models):
            ax.bar(x + (k - (len(models) - 1) / 2) * width,
                   [groups[g][model]["crps"] for g in labels], width, label=model,
                   color=COLOURS[k % len(COLOURS)])
        ax.set_xticks(x, labels, rotation=15)
        ax.set_ylabel("CRPS (tickets, lower is better)")
        ax.set_title(f"CRPS, {title}")
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    ax = axes[3]
    with_sales = metrics.get("with_sales", {}).get("models", {})
    low, high = 78.0, 92.0
    for k, model in enumerate(models):
        scores = metrics["models"][model]
        ax.plot([80, 90], [100 * scores["coverage_80"], 100 * scores["coverage_90"]], "o-",
                color=COLOURS[k % len(COLOURS)], label=model)
        sold = with_sales.get(model)
        if sold is not None and "expected_coverage_80" in sold:
            expected = [100 * sold["expected_coverage_80"], 100 * sold["expected_coverage_90"]]
            observed = [100 * sold["coverage_80"], 100 * sold["coverage_90"]]
            ax.plot(expected, observed, "s:", color=COLOURS[k % len(COLOURS)])
            low = min(low, *expected, *observed)
            high = max(high, *expected, *observed)
    ax.plot([low, high], [low, high], "k--", linewidth=1, label="calibrated")
    ax.set_xlabel("nominal (o) / model-expected on weeks with sales (s), %")
    ax.set_ylabel("observed coverage (%)")
    ax.set_title("80% and 90% interval coverage")
    ax.grid(alpha=0.3)
    fig.suptitle(f"Rolling-origin backtest: {len(metrics['origins'])} origins x "
                 f"{metrics['horizon']} weeks, {metrics['n_rows']:,} artist-DMA-weeks")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_dma_ranking(ranking: pd.DataFrame, artist: str, top: int, path: Path,
                     shown: int = 25) -> Path:
    """Expected tickets per show with 90% intervals for the best DMAs, P(top k) beside them;
    recently played DMAs greyed out."""
    rows = ranking.head(shown).iloc[::-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.9 + 0.32 * len(rows)),
                                      gridspec_kw={"width_ratios": [3, 1]}, sharey=True)
    y = np.arange(len(rows))
    played = rows["played_recently"].to_numpy(bool)
    colour = np.where(played, "#b0b0b0", COLOURS[0])
    mean = rows["expected_tickets_mean"].to_numpy()
    left.hlines(y, rows["expected_tickets_low"], rows["expected_tickets_high"], color=colour,
                linewidth=3)
    left.scatter(mean, y, color=colour, zorder=3)
    labels = [f"{name} ({dma})" + (" - played recently" if p else "")
              for name, dma, p in zip(rows["dma_name"], rows["dma_id"], played, strict=True)]
    left.set_yticks(y, labels, fontsize=8)
    left.set_xlabel("expected tickets per show (4 on-sale weeks; posterior mean and 90%)")
    left.set_title(f"Where should {artist} play next?")
    left.grid(alpha=0.3, axis="x")
    right.barh(y, rows["p_top_k"], color=colour)
    right.set_xlim(0, 1)
    right.set_xlabel(f"P(in top {top})")
    right.grid(alpha=0.3, axis="x")
    for yi, (price, fit) in enumerate(zip(rows["price_per_ticket_mean"],
                                          rows["audience_index"], strict=True)):
        right.text(1.02, yi, f"${price:,.0f}/ticket, audience x{np.exp(fit):.1f}",
                   va="center", fontsize=7, transform=right.get_yaxis_transform())
    fig.tight_layout()
    return save_figure(fig, path)
