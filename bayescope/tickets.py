"""The ticket-demand workflow: tables -> panels at an origin -> NUTS fit -> run -> forecasts.

``fit_tickets`` picks a stratified sample of artists (:func:`sample_artists`), builds the
leakage-free panels at the origin, fits :mod:`bayescope.models.ticket_demand` with nutpie,
and writes ``RUN_DIR/posterior.nc`` (thinned posterior; the forecast rows with their features
in ``constant_data``; artists, DMAs, tiers, centring and the ranking context in the
attributes) and ``summary.json``. ``load_tickets_run`` reads it back; ``predict_tickets_run``
forecasts the rows and the artist-week and national totals from the same draws.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.ticket_features import FEATURES
from bayescope.data.ticket_panel import (
    TIERS,
    PanelPair,
    TicketPanel,
    build_panels,
    parse_origin,
    popularity_tiers,
    sample_artists,
)
from bayescope.data.ticket_tables import TicketTables
from bayescope.errors import ArtifactError, BayescopeInputError
from bayescope.inference.artifacts import Artifact, atomic_write_text, load_artifact, save_artifact
from bayescope.inference.predictive import thin_draws
from bayescope.inference.sampling import FitResult, fit_model
from bayescope.inference.ticket_prediction import TicketForecast, TicketSimulator, forecast
from bayescope.models.ticket_demand import (
    GATED,
    SAMPLER_COORDINATES,
    TicketModelInputs,
    build_ticket_model,
)
from bayescope.posterior_reports.diagnostics import labelled_summary

log = logging.getLogger(__name__)

STORED_DRAWS = 1000
# Posterior draws of the ticket model take 31 leapfrog steps (depth 5) at every size tried;
# depth 6 leaves twice that and cuts the 1,023-step trajectories of early warmup (a full-size
# fit: 2 chains x 400 iterations in 169 s instead of over 900 s).
MAX_TREE_DEPTH = 6
PREDICT_DRAWS = 1000
# A diagonal mass matrix. nutpie's low-rank adaptation (fit_model's default) once in every ten
# or so chains of this 6,600-parameter model fits a correction from too few late-warmup draws:
# after it the step size falls from 0.2 to 0.002 and every draw diverges (energy errors of
# 10^5; 3 of 32 chains in a full-size backtest, R-hat 1.5). Its ESS per draw here was no
# better than the diagonal's, on which the reparametrisations were tuned.
MASS_MATRIX = "diag"


@dataclass
class TicketFitSettings:
    """Origin, sample, horizon and sampler settings."""

    origin: str
    artists: int = 30
    horizon: int = 4
    train_weeks: int = 104
    draws: int = 500
    tune: int = 400
    chains: int = 4
    seed: int = 0
    progress: bool = True
    backend: str = "numba"
    max_tree_depth: int = MAX_TREE_DEPTH


def prepare_panels(tables: TicketTables, settings: TicketFitSettings) -> PanelPair:
    """The stratified artist sample and its panels at the origin."""
    rng = np.random.default_rng(settings.seed)
    origin = parse_origin(settings.origin, tables.weeks, tables.weekday)
    tiers = popularity_tiers(tables, origin)
    artists = sample_artists(tiers, settings.artists, rng)
    log.info("artists: %d of %d (%s)", artists.size, len(tiers),
             ", ".join(f"{(tiers[artists] == t).sum()} {t}" for t in TIERS))
    return build_panels(tables, artists, origin, settings.horizon,
                        settings.train_weeks)


def fit_ticket_model(panels: PanelPair, settings: TicketFitSettings,
                     cache_key: str | None = None) -> tuple[FitResult, TicketModelInputs]:
    """NUTS fit of the hierarchical model on the training panel."""
    inputs = TicketModelInputs.from_panels(panels)
    if (inputs.tickets > 0).sum() < 20:
        raise BayescopeInputError(
            f"only {(inputs.tickets > 0).sum()} artist-DMA-weeks with sales before the origin: "
            "too few to fit (pick a later origin or more artists)", field="origin")
    log.info("fitting the hierarchical negative binomial on %d artist-DMA-weeks (%d with "
             "sales)", inputs.tickets.size, int((inputs.tickets > 0).sum()))
    model = build_ticket_model(inputs, panels.tier.size)
    result = fit_model(model, GATED, "nuts", settings.draws, settings.tune, settings.chains,
                       settings.seed, settings.progress, cache_key, settings.backend,
                       settings.max_tree_depth, MASS_MATRIX)
    return result, inputs


def fit_tickets(tables: TicketTables, settings: TicketFitSettings, run_dir: str | Path
                ) -> tuple[FitResult, dict[str, Any]]:
    """Fit at the origin and write the run directory (see module docstring)."""
    panels = prepare_panels(tables, settings)
    result, inputs = fit_ticket_model(panels, settings)
    run_dir = Path(run_dir)
    attrs = {
        "kind": "tickets", "model": "hierarchical_negative_binomial", "method": "nuts",
        "converged": result.gate.passed, "gate": result.gate.to_dict(),
        "seed": settings.seed, "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "settings": json.dumps(settings.__dict__), "origin": str(panels.origin.date()),
        "horizon": settings.horizon, "artists": json.dumps(panels.train.artists.tolist()),
        "dmas": json.dumps(panels.train.dmas.tolist()),
        "dma_names": json.dumps(panels.dma_names.tolist()),
        "households": json.dumps(panels.households.tolist()),
        "size": json.dumps(panels.size.tolist()), "tier": json.dumps(panels.tier.tolist()),
        "popularity": json.dumps(panels.popularity.tolist()),
        "feature_means": json.dumps(inputs.feature_means.tolist()),
        "recent_events": json.dumps(panels.recent_events.tolist()),
        "audience_index": json.dumps(np.round(panels.audience_index, 4).tolist()),
        "tour_listings": json.dumps(_tour_listings(panels).tolist()),
        "forecast_weeks": json.dumps(
            panels.forecast.weeks[np.unique(panels.forecast.week)].strftime("%Y-%m-%d")
            .tolist()),
    }
    save_artifact(run_dir, _thinned(result.idata), _row_arrays(panels.forecast), attrs,
                  unit="row")
    summary = {"kind": "tickets", "origin": attrs["origin"], "horizon": settings.horizon,
               "artists": panels.tier.size, "dmas": panels.size.size,
               "training_rows": int(inputs.tickets.size),
               "training_rows_with_sales": int((inputs.tickets > 0).sum()),
               "forecast_rows": panels.forecast.n, "seconds": result.seconds,
               "gate": result.gate.to_dict(),
               "parameters": labelled_summary(result.idata["posterior"], GATED)}
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2, default=float))
    return result, summary


def _tour_listings(panels: PanelPair) -> np.ndarray:
    """Per artist: the median lagged ``log_listings`` in training weeks with events listed
    (its typical listing level on tour), the median over all artists where it never toured."""
    train = panels.train
    listings = train.x[:, FEATURES.index("log_listings")]
    touring = train.x[:, FEATURES.index("log_events_listed")] > 0
    overall = float(np.median(listings[touring])) if touring.any() else float(np.log1p(10))
    out = np.full(panels.tier.size, overall)
    for a in range(panels.tier.size):
        rows = touring & (train.artist == a)
        if rows.any():
            out[a] = float(np.median(listings[rows]))
    return out


def _thinned(idata: Any) -> Any:
    """The fit with at most ``STORED_DRAWS`` posterior draws (chains kept, draws thinned),
    without the sampler's own coordinates (the model's effects are stored as well)."""
    tree = idata.copy()
    posterior = tree["posterior"].to_dataset()
    posterior = posterior.drop_vars([name for name in SAMPLER_COORDINATES if name in posterior])
    used = {dim for var in posterior.data_vars.values() for dim in var.dims}
    posterior = posterior.drop_vars([dim for dim in posterior.coords if dim not in used])
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    step = max(1, int(np.ceil(chains * draws / STORED_DRAWS)))
    tree["posterior"] = posterior.isel(draw=slice(None, None, step))
    return tree


def _row_arrays(panel: TicketPanel) -> dict[str, np.ndarray]:
    weeks = panel.weeks[panel.week].strftime("%Y-%m-%d").to_numpy()
    arrays = {"row_id": np.asarray([f"{a}|{d}|{w}" for a, d, w in zip(
        panel.artists[panel.artist], panel.dmas[panel.dma], weeks, strict=True)]),
        "artist": panel.artist, "dma": panel.dma, "week": panel.week,
        "tickets": np.where(panel.observed, panel.tickets, np.nan),
        "order_value": np.where(panel.observed, panel.order_value, np.nan)}
    for k, name in enumerate(FEATURES):
        arrays[f"x_{name}"] = panel.x[:, k]
    return arrays


@dataclass
class TicketsRun:
    """A stored ticket-demand fit."""

    artifact: Artifact
    run_dir: Path

    def attr(self, name: str) -> Any:
        """A JSON attribute, decoded."""
        return json.loads(self.artifact.attrs[name])

    @property
    def artists(self) -> np.ndarray:
        """Artist ids in code order."""
        return np.asarray(self.attr("artists"), dtype=object)

    @property
    def dmas(self) -> np.ndarray:
        """DMA ids in code order."""
        return np.asarray(self.attr("dmas"), dtype=object)

    def forecast_panel(self) -> TicketPanel:
        """The forecast rows as stored at fit time."""
        arrays = self.artifact.arrays
        weeks = pd.DatetimeIndex(self.attr("forecast_weeks"))
        week = arrays["week"].astype(int)
        first = int(week.min())
        calendar = pd.date_range(weeks[0] - pd.Timedelta(weeks=first), periods=first
                                 + weeks.size, freq="7D")
        x = np.column_stack([arrays[f"x_{name}"] for name in FEATURES])
        tickets = arrays["tickets"]
        return TicketPanel(self.artists, self.dmas, calendar, arrays["artist"].astype(int),
                           arrays["dma"].astype(int), week, x, np.nan_to_num(tickets),
                           np.nan_to_num(arrays["order_value"]), ~np.isnan(tickets))

    def simulator(self, panel: TicketPanel | None = None) -> TicketSimulator:
        """The posterior-predictive simulator of the forecast rows (or another panel)."""
        return TicketSimulator(panel if panel is not None else self.forecast_panel(),
                               np.asarray(self.attr("tier"), int),
                               np.asarray(self.attr("size"), float),
                               np.asarray(self.attr("feature_means"), float))


def load_tickets_run(run_dir: str | Path, artifact: Artifact | None = None) -> TicketsRun:
    """Load a tickets run (or wrap ``artifact``, already read); refuses other families."""
    artifact = artifact or load_artifact(run_dir)
    if artifact.kind != "tickets":
        raise ArtifactError(f"{run_dir} is a {artifact.kind} run, not a ticket-demand fit",
                            field="run_dir")
    return TicketsRun(artifact, Path(run_dir))


def thinned_posterior(run: TicketsRun, draws: int, rng: np.random.Generator
                      ) -> dict[str, np.ndarray]:
    """At most ``draws`` of the run's stored posterior draws (flat, draws first)."""
    return thin_draws(run.artifact.posterior, draws, rng)


def predict_tickets_run(run: TicketsRun, seed: int = 0) -> TicketForecast:
    """Forecast every stored row (mean, median, 90% interval) and the totals."""
    rng = np.random.default_rng(seed)
    params = thinned_posterior(run, PREDICT_DRAWS, rng)
    return forecast(run.simulator(), params, rng)
