"""The report of a ticket-demand run: gate, parameters, diagnostics, the forecast and a
DMA ranking for the most-streamed artist of the sample."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayescope.inference.ticket_prediction import TicketForecast
from bayescope.models.ticket_demand import gated
from bayescope.posterior_reports.diagnostics import (
    HDI_PROB,
    gate_callout,
    labelled_summary,
    parameter_frame,
    parameter_table,
    sampler_table,
)
from bayescope.posterior_reports.html import (
    Figure,
    Paragraph,
    ReportContent,
    Section,
    Table,
)
from bayescope.posterior_reports.plots import COLOURS, plot_trace_rank, save_figure
from bayescope.posterior_reports.runs import TicketsRunView
from bayescope.posterior_reports.ticket_plots import plot_dma_ranking

TRACE_NAMES = ("alpha_raw", "beta_size", "sigma_artist", "sigma_dma", "sigma_pair")


def build_tickets_report(run: TicketsRunView, out_dir: Path, forecast: TicketForecast,
                         rank: Callable[[str], pd.DataFrame]) -> ReportContent:
    """Sections and metrics of a tickets run: its gate, parameters, diagnostics, the
    ``forecast`` (national and per artist) and ``rank(artist)``'s DMA ranking of the run's
    most-streamed artist (the family computes both from the run's draws)."""
    tree = run.artifact.tree
    posterior = tree["posterior"].to_dataset()
    gate = json.loads(run.artifact.attrs["gate"])
    parameters = labelled_summary(posterior, gated(posterior))
    metrics: dict[str, Any] = {"gate": gate, "parameters": parameters}
    frame = parameter_frame(parameters)
    summary = Section("Summary", [
        gate_callout(bool(gate.get("passed")), gate.get("problems", []),
                     "Refit with more draws or tuning before trusting these numbers."),
        Paragraph(f"Origin {run.artifact.attrs['origin']}, horizon "
                  f"{run.artifact.attrs['horizon']} weeks, {len(run.artists)} artists x "
                  f"{len(run.dmas)} DMAs. Slopes are per unit of each lag-"
                  f"{run.artifact.attrs['horizon']} feature (data/README.md); phi is the "
                  "negative-binomial size by popularity tier at a mean of one ticket a "
                  "week (smaller = heavier tails), dispersion_weeks_ahead[h] the log factor "
                  "on it h weeks ahead (positive = narrower forecasts than the tier's "
                  "average) and dispersion_slope the power of the mean it grows with "
                  "(0: one size at every mean; positive: busy weeks relatively tighter). "
                  "Whether a week sells at all has its own size and slope, sale_phi and "
                  "sale_dispersion_slope (a hurdle: sale_phi = phi and equal slopes is the "
                  "plain negative binomial; a larger sale_phi = more weeks sell)."),
        Table(frame, f"Posterior of the population parameters (mean, sd, {HDI_PROB:.0%} HDI)"),
    ])
    table = parameter_table(posterior, gated(posterior))
    sampler = sampler_table(tree["sample_stats"].to_dataset())
    metrics["diagnostics"] = {"parameters": table, "sampler": sampler}
    worst = sorted(table, key=lambda r: -r["rhat"])[:8]
    diagnostics = Section("Convergence diagnostics", [
        Table(pd.DataFrame(worst).assign(flag=lambda f: ~f["ok"]).drop(columns="ok"),
              f"The 8 parameters with the highest R-hat (of {len(table)})", flag_column="flag"),
        Figure(plot_trace_rank(posterior, TRACE_NAMES, out_dir / "trace_rank.png"),
               "Trace and rank plots of the population parameters"),
    ])
    metrics["national"] = forecast.national.to_dict("records")
    sections = [summary, diagnostics, _forecast_section(forecast, out_dir)]
    popularity = np.asarray(run.attr("popularity"), float)
    star = str(run.artists[int(np.argmax(popularity))])
    ranking = rank(star)
    metrics["ranking_example"] = {"artist": star,
                                  "top": ranking.head(10)["dma_id"].tolist()}
    sections.append(Section(f"Where should {star} play next?", [
        Paragraph("Expected tickets per show over four on-sale weeks if a show were listed "
                  "now, with 90% intervals and P(in the top 10); DMAs with shows in the last "
                  "26 weeks are grey and not ranked. `bayescope rank-dmas` does this for any "
                  "artist of the run."),
        Figure(plot_dma_ranking(ranking, star, 10, out_dir / "ranking.png"),
               f"DMA ranking for {star}"),
        Table(ranking.head(15)[["rank", "dma_name", "expected_tickets_mean",
                                "expected_tickets_low", "expected_tickets_high", "p_top_k",
                                "price_per_ticket_mean", "audience_index",
                                "played_recently"]], "Top of the ranking"),
    ]))
    return ReportContent("bayescope report: ticket demand",
                         f"origin {run.artifact.attrs['origin']}, created "
                         f"{run.artifact.attrs.get('created_at', '?')}", sections, metrics)


def _forecast_section(forecast: Any, out_dir: Path) -> Section:
    national, by_artist = forecast.national, forecast.artist_week
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    x = np.arange(len(national))
    left.errorbar(x, national["tickets_mean"],
                  yerr=[national["tickets_mean"] - national["tickets_low"],
                        national["tickets_high"] - national["tickets_mean"]],
                  fmt="o", capsize=5, color=COLOURS[0])
    left.set_xticks(x, national["week_start"], rotation=20)
    left.set_ylabel("tickets (mean, 90% interval)")
    left.set_title("National tickets per week, all sampled artists")
    totals = by_artist.groupby("artist_id")["tickets_mean"].sum().sort_values().tail(12)
    right.barh(totals.index, totals.to_numpy(), color=COLOURS[1])
    right.set_xscale("symlog", linthresh=1.0)  # stars and emerging artists on one axis
    right.set_xlabel("expected tickets over the horizon (log scale)")
    right.set_title("Artists with the most expected tickets")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return Section("Forecast", [
        Figure(save_figure(fig, out_dir / "forecast.png"),
               "Totals are sums of the same posterior-predictive draws as the rows"),
        Table(national, "National totals per week"),
    ])
