"""Rolling-origin backtest of the ticket-demand model against classical baselines.

``origins`` forecast origins, ``horizon`` weeks apart, the last one ending at the last week of
the tables. At each origin every model sees only weeks before it (the panels are rebuilt
per origin), forecasts the next ``horizon`` weeks for the same stratified artist sample and
every DMA, and is scored on what happened: MAE of the predictive median, RMSE of the
predictive mean, CRPS (scoringrules, on predictive draws), and the coverage of the
equal-tailed 80% and 90% intervals; overall, on the weeks with sales alone (``with_sales``:
an interval holding 0 covers every week that sold nothing), by DMA size (rank by TV
households: 1-10, 11-50, 51+) and by popularity tier; a rootogram per model; and the paired
comparison of the shared evaluation (bootstrap differences of per-row scores against ours).

The hierarchical model is compiled once and refitted per origin with the data swapped in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.ticket_panel import TIERS, build_panels, popularity_tiers, sample_artists
from bayescope.data.ticket_tables import TicketTables
from bayescope.errors import BayescopeInputError
from bayescope.inference.artifacts import flat_posterior
from bayescope.inference.predictive import thin_draws
from bayescope.inference.ticket_prediction import TicketSimulator
from bayescope.models.ticket_baselines import FITTERS
from bayescope.posterior_reports.comparison import compare_models
from bayescope.posterior_reports.counts import CountCheck
from bayescope.posterior_reports.scores import crps
from bayescope.tickets import TicketFitSettings, fit_ticket_model

log = logging.getLogger(__name__)

MODELS = ("ours", *FITTERS)
SIZE_GROUPS = ((1, 10, "DMA rank 1-10"), (11, 50, "DMA rank 11-50"),
               (51, 10_000, "DMA rank 51+"))


@dataclass
class BacktestSettings:
    """The fit settings (sample, horizon, sampler; their origin is replaced by each backtest
    origin), the number of origins and the predictive draws scored per model."""

    fit: TicketFitSettings = field(default_factory=lambda: TicketFitSettings(origin=""))
    origins: int = 8
    predictive_draws: int = 400


def backtest_origins(tables: TicketTables, origins: int, horizon: int) -> pd.DatetimeIndex:
    """The origins: ``horizon`` weeks apart, the last forecast week the tables' last week."""
    if origins < 1 or horizon < 1:
        raise BayescopeInputError("--origins and --horizon must be positive", field="origins")
    weeks = tables.weeks
    last = weeks.size - horizon
    first = last - (origins - 1) * horizon
    if first < 0:
        raise BayescopeInputError(f"{origins} origins x {horizon} weeks do not fit in the "
                                  f"tables' {weeks.size} weeks", field="origins")
    return weeks[first:last + 1:horizon]


def run_backtest(tables: TicketTables, settings: BacktestSettings,
                 progress: Callable[[int, int], None] | None = None
                 ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Forecast and score every model at every origin: ``(metrics, per-row frame)``."""
    fit_settings = settings.fit
    rng = np.random.default_rng(fit_settings.seed)
    origins = backtest_origins(tables, settings.origins, fit_settings.horizon)
    tiers = popularity_tiers(tables, origins[0])
    artists = sample_artists(tiers, fit_settings.artists, rng)
    frames, gates = [], []
    checks: dict[str, CountCheck] = {}
    for k, origin in enumerate(origins):
        panels = build_panels(tables, artists, origin, fit_settings.horizon,
                              fit_settings.train_weeks)
        result, inputs = fit_ticket_model(panels, replace(fit_settings, origin=str(origin.date())),
                                          cache_key=f"tickets-backtest-{id(tables)}")
        gates.append({"origin": str(origin.date()), **result.gate.to_dict()})
        posterior = flat_posterior(result.idata["posterior"].to_dataset())
        params = thin_draws(posterior, settings.predictive_draws, rng)
        simulator = TicketSimulator(panels.forecast, panels.tier, panels.size,
                                    inputs.feature_means)
        draws = {"ours": simulator.simulate(params, np.arange(panels.forecast.n),
                                            rng)["tickets"]}
        for name, fitter in FITTERS.items():
            draws[name] = fitter(panels, settings.predictive_draws, rng).draws
        frames.append(_score_origin(panels, draws, origin, checks))
        log.info("origin %s: %s; peak memory %.1f GB", origin.date(), ", ".join(
            f"{m} CRPS {frames[-1][f'{m}_crps'].mean():.3f}" for m in MODELS),
            _peak_memory_gb())
        if progress is not None:
            progress(k + 1, len(origins))
    rows = pd.concat(frames, ignore_index=True)
    metrics = summarise_backtest(rows, rng)
    metrics["rootograms"] = {name: check.rootogram() for name, check in checks.items()}
    metrics["zero_checks"] = {name: check.zero_check() for name, check in checks.items()}
    metrics.update({"origins": [str(o.date()) for o in origins], "horizon": fit_settings.horizon,
                    "artists": artists.tolist(), "gates": gates,
                    "artist_tiers": {a: tiers[a] for a in artists}})
    return metrics, rows


def _peak_memory_gb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _score_origin(panels: Any, draws: dict[str, np.ndarray], origin: pd.Timestamp,
                  checks: dict[str, CountCheck]) -> pd.DataFrame:
    """Per-row scores of every model at one origin; rootogram counts go to ``checks``."""
    forecast = panels.forecast
    y = forecast.tickets
    rank = pd.Series(-panels.households).rank(method="first").to_numpy().astype(int)
    size_group = np.empty(rank.size, dtype=object)
    for low, high, label in SIZE_GROUPS:
        size_group[(rank >= low) & (rank <= high)] = label
    frame = pd.DataFrame({
        "origin": str(origin.date()), "artist_id": forecast.artists[forecast.artist],
        "dma_id": forecast.dmas[forecast.dma],
        "week_start": forecast.weeks[forecast.week].strftime("%Y-%m-%d"),
        "weeks_ahead": forecast.week - forecast.week.min() + 1,
        "tier": np.asarray(TIERS, dtype=object)[panels.tier[forecast.artist]],
        "dma_size": size_group[forecast.dma], "tickets": y})
    for name, sample in draws.items():
        q05, q10, q50, q90, q95 = np.quantile(sample, [0.05, 0.1, 0.5, 0.9, 0.95], axis=0)
        frame[f"{name}_mean"] = sample.mean(axis=0)
        frame[f"{name}_median"] = q50
        frame[f"{name}_crps"] = crps(y, sample)
        frame[f"{name}_in_80"] = (y >= q10) & (y <= q90)
        frame[f"{name}_in_90"] = (y >= q05) & (y <= q95)
        checks.setdefault(name, CountCheck(max_count=10)).add(y, sample)
    return frame


def _model_scores(rows: pd.DataFrame, name: str) -> dict[str, float]:
    y = rows["tickets"].to_numpy(float)
    return {"mae": float(np.mean(np.abs(y - rows[f"{name}_median"]))),
            "rmse": float(np.sqrt(np.mean((y - rows[f"{name}_mean"]) ** 2))),
            "crps": float(rows[f"{name}_crps"].mean()),
            "coverage_80": float(rows[f"{name}_in_80"].mean()),
            "coverage_90": float(rows[f"{name}_in_90"].mean())}


def summarise_backtest(rows: pd.DataFrame, rng: np.random.Generator) -> dict[str, Any]:
    """Scores overall and by group, and the paired comparison against ours."""
    metrics: dict[str, Any] = {
        "n_rows": len(rows),
        "models": {name: _model_scores(rows, name) for name in MODELS}}
    # Most rows sell nothing and any interval containing 0 covers them: the scores on the
    # weeks that sold are the honest check of the intervals.
    with_sales = rows[rows["tickets"] > 0]
    metrics["with_sales"] = {"n_rows": len(with_sales),
                             "models": {name: _model_scores(with_sales, name)
                                        for name in MODELS}}
    for column, key in (("dma_size", "by_dma_size"), ("tier", "by_tier"),
                        ("weeks_ahead", "by_weeks_ahead")):
        metrics[key] = {str(group): {name: _model_scores(part, name) for name in MODELS}
                        for group, part in rows.groupby(column, sort=True)}
    y = rows["tickets"].to_numpy(float)
    pointwise = {name: {"crps": rows[f"{name}_crps"].to_numpy(float),
                        "abs_error_median": np.abs(y - rows[f"{name}_median"].to_numpy()),
                        "squared_error": (y - rows[f"{name}_mean"].to_numpy()) ** 2}
                 for name in MODELS}
    metrics["comparison"] = compare_models(pointwise, "ours", rng)
    return metrics
