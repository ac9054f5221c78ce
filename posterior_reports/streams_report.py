"""The streaming-growth report: which signals go with growth beyond momentum, within and
between artists, how well the model forecasts growth, and what the numbers cannot say."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayescope.inference.predictive import thin_draws
from bayescope.models.streaming_growth import predictive_growth
from bayescope.posterior_reports.diagnostics import gate_callout
from bayescope.posterior_reports.html import (
    Callout,
    Figure,
    Paragraph,
    ReportContent,
    Section,
    Table,
)
from bayescope.posterior_reports.plots import save_figure

CAUSAL_CAVEATS = (
    "These effects are associations measured beyond the artist's own momentum, not levers. "
    "Three things can produce them without any causal effect of the signal on streams: "
    "reverse causation (streams that are about to grow draw social activity first: fans "
    "follow and engage with an artist they have started playing, and a signal lagged one "
    "week can still be an early echo of that), common shocks (a release, a playlist add, a "
    "viral clip or a tour announcement lifts streams and social activity together, in the "
    "same or neighbouring weeks), and selection (artists who post more differ in ways the "
    "model does not see; the within-artist column removes stable differences, not changing "
    "ones).",
    "What would settle it: a randomised test of the lever itself, for instance a social or "
    "paid-promotion push switched on in randomly chosen DMAs or weeks and the DMA streams "
    "compared (the tables hold streams by DMA, so a geo experiment can be read directly); "
    "or a natural experiment where the signal moves for reasons unrelated to the music "
    "(a platform outage, an algorithm change, a tour announced on a date fixed months "
    "earlier) studied as an event with artists not affected as controls.",
)


class StreamsRunLike(Protocol):
    """What the report reads of a stored run."""

    @property
    def drivers(self) -> pd.DataFrame: ...

    artifact: Any


def streams_report(run: StreamsRunLike, summary: dict[str, Any], metrics: dict[str, Any],
                   training: pd.DataFrame, out_dir: Path, seed: int) -> ReportContent:
    """The page's content; its figures go into ``out_dir``."""
    rng = np.random.default_rng(seed)
    drivers = run.drivers
    gate = summary.get("gate", {})
    sections = [
        Section("Drivers of growth", [
            gate_callout(bool(gate.get("passed")), gate.get("problems", []),
                         "Do not read the effects until the fit is rerun."),
            *[Paragraph(s) for s in driver_sentences(drivers, summary)],
            Table(drivers, "Effect of a one-sd change of each signal on the growth of log "
                           "streams over the horizon, beyond momentum (94% HDI); "
                           "within_artist: the within-artist specification's effect",
                  digits=4),
            Figure(plot_effects(drivers, out_dir / "drivers.png"),
                   "Effects with 94% HDIs (dots: within-artist)")]),
        Section("What this does not show", [Callout(text, "note")
                                            for text in CAUSAL_CAVEATS]),
        posterior_predictive_section(run, training, out_dir, rng),
        backtest_section(metrics.get("backtest", {}), out_dir),
    ]
    return ReportContent(f"bayescope streaming growth at {summary.get('origin')}",
                         f"{summary.get('artists')} artists, {summary.get('horizon')} weeks "
                         f"ahead, {summary.get('training_rows', 0):,} training artist-weeks",
                         sections, {"drivers": drivers.to_dict(orient="records"), **metrics})


def driver_sentences(drivers: pd.DataFrame, summary: dict[str, Any]) -> list[str]:
    """Plain sentences: which signals go with growth beyond momentum, and whether the
    within-artist specification agrees."""
    clear = drivers[(drivers["hdi_low"] > 0) | (drivers["hdi_high"] < 0)]
    if clear.empty:
        out = [f"No signal goes with growth over the next {summary.get('horizon')} weeks "
               "beyond the artist's own momentum: every effect's 94% interval contains 0."]
    else:
        said = []
        for row in clear.to_dict(orient="records"):
            effect = float(row["effect_mean"])
            said.append(f"{row['feature']} ({row['table']}.{row['column']}, lagged "
                        f"{row['lag_weeks']} week) goes with "
                        f"{'faster' if effect > 0 else 'slower'} growth: {effect:+.4f} log "
                        f"growth per sd [{float(row['hdi_low']):+.4f}, "
                        f"{float(row['hdi_high']):+.4f}]")
        out = ["Beyond the artist's own momentum, " + "; ".join(said) + "."]
        disagree = clear[np.sign(clear["within_artist"]) != np.sign(clear["effect_mean"])]
        if len(disagree):
            out.append("Within artists the sign flips for " + ", ".join(disagree["feature"])
                       + ": the pooled effect there comes from differences between artists, "
                       "not from an artist's own weeks.")
    return out


def plot_effects(drivers: pd.DataFrame, path: Path) -> Path:
    """Forest plot of the driver effects, with the within-artist effects as dots."""
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(drivers) + 1.5))
    y = np.arange(len(drivers))
    ax.errorbar(drivers["effect_mean"], y,
                xerr=[drivers["effect_mean"] - drivers["hdi_low"],
                      drivers["hdi_high"] - drivers["effect_mean"]],
                fmt="s", capsize=3, label="pooled (94% HDI)")
    ax.plot(drivers["within_artist"], y, "o", mfc="none", label="within artist")
    ax.axvline(0, color="k", lw=1)
    ax.set_yticks(y, drivers["feature"])
    ax.set_xlabel("effect of one sd on the log growth")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def posterior_predictive_section(run: StreamsRunLike, training: pd.DataFrame, out_dir: Path,
                                 rng: np.random.Generator) -> Section:
    """Observed growth against growth replicated from the posterior (quantiles, tails)."""
    params = thin_draws(run.artifact.posterior, 100, rng)
    drivers = json_list(run.artifact.attrs["drivers"])
    controls = json_list(run.artifact.attrs["controls"])
    tier = np.asarray(run.artifact.arrays["tier"], int)
    artist = training["artist"].to_numpy(int)
    replicated = predictive_growth(params, training[drivers].to_numpy(float),
                                   training[controls].to_numpy(float), artist, tier, rng)
    observed = training["growth"].to_numpy(float)
    levels = np.array([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    rep_q = np.quantile(replicated, levels, axis=1)
    table = pd.DataFrame({"quantile": levels, "observed": np.quantile(observed, levels),
                          "replicated_low": np.quantile(rep_q, 0.05, axis=1),
                          "replicated_high": np.quantile(rep_q, 0.95, axis=1)})
    table["inside"] = ((table["observed"] >= table["replicated_low"])
                       & (table["observed"] <= table["replicated_high"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    low, high = np.quantile(observed, [0.002, 0.998])
    bins = np.linspace(float(low), float(high), 60).tolist()
    for row in replicated[:20]:
        ax.hist(row, bins=bins, histtype="step", color="tab:blue", alpha=0.2, density=True)
    ax.hist(observed, bins=bins, histtype="step", color="k", lw=2, density=True,
            label="observed")
    ax.set_xlabel("growth of log streams")
    ax.set_title("Posterior predictive check (blue: 20 replicates)")
    ax.legend()
    figure = save_figure(fig, out_dir / "growth_ppc.png")
    return Section("Posterior predictive check", [
        Table(table, "Quantiles of the training growth against the replicated 90% range "
                     "(Student-t errors: the tails should match)", digits=4,
              flag_column=None),
        Figure(figure, "Observed and replicated growth")])


def backtest_section(backtest: dict[str, Any], out_dir: Path) -> Section:
    """CRPS and 90% coverage of ours against trailing and zero growth."""
    if not backtest:
        return Section("Backtest", [Paragraph("No backtest was run (--backtest-origins 0, or "
                                              "too little history before the origin).")])
    overall = pd.DataFrame(backtest["overall"])
    by_origin = pd.DataFrame(backtest["by_origin"])
    fig, ax = plt.subplots(figsize=(7, 4))
    for model, part in by_origin.groupby("model"):
        ax.plot(part["origin"], part["crps"], "o-", label=model)
    ax.set_ylabel("CRPS (lower is better)")
    ax.set_title("Growth forecasts by origin")
    ax.legend()
    ax.grid(alpha=0.3)
    best = overall.sort_values("crps").iloc[0]["model"]
    return Section("Backtest", [
        Paragraph(f"Refitted at {by_origin['origin'].nunique()} earlier origins "
                  f"({backtest['sampler']['chains']} chains x ({backtest['sampler']['tune']} + "
                  f"{backtest['sampler']['draws']})), every artist's growth forecast scored "
                  f"against what happened. Lowest mean CRPS: {best}."),
        Table(overall, "Mean CRPS and 90% coverage over origins", digits=4),
        Table(by_origin, "By origin", digits=4),
        Figure(save_figure(fig, out_dir / "growth_backtest.png"), "CRPS by origin")])


def json_list(value: Any) -> list[str]:
    """A list stored as a JSON attribute."""
    import json

    return [str(v) for v in (json.loads(value) if isinstance(value, str) else value)]
