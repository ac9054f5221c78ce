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
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayescope.data.ticket_features import FEATURE_SETS, STATIC_FEATURES
from bayescope.data.ticket_panel import (
    TIERS,
    PanelPair,
    TicketPanel,
    build_panels,
    parse_origin,
    popularity_tiers,
    sample_artists,
)
from bayescope.data.ticket_tables import TicketTables, load_ticket_tables
from bayescope.errors import ArtifactError, BayescopeInputError
from bayescope.families.base import (
    Estimator,
    PredictOptions,
    Progress,
    read_dask_output,
    reject_options,
)
from bayescope.families.dma_ranking import rank_dmas
from bayescope.families.serving import (
    artifact_info,
    check_types,
    records,
    reject_query,
)
from bayescope.files import atomic_write_frame, atomic_write_text
from bayescope.inference.artifacts import Artifact, load_artifact, run_attrs, save_artifact
from bayescope.inference.dask_engine import check_engine, dask_client
from bayescope.inference.initial_points import WarmStart
from bayescope.inference.partitioned_output import ScoredTable, write_partitions_on_dask
from bayescope.inference.predictive import n_draws, thin_draws
from bayescope.inference.sampling import COMPILED_KEPT, FitResult, fit_model
from bayescope.inference.ticket_prediction import (
    EXPECTED,
    TicketForecast,
    TicketSimulator,
    forecast,
    forecast_artists,
    national_totals,
)
from bayescope.models.ticket_demand import (
    PAIR_SCALE_GUESS,
    SAMPLER_COORDINATES,
    TicketModelInputs,
    build_ticket_model,
    gated,
    rebind_ticket_model,
    structure_key,
)
from bayescope.posterior_reports.diagnostics import labelled_summary
from bayescope.posterior_reports.html import ReportContent
from bayescope.posterior_reports.tickets_report import build_tickets_report

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
# Warmup of a refit that starts where an earlier fit of the same sample ended (a backtest's
# next origin, a weekly refit): bench/README.md, "Warm refits".
WARM_TUNE = 150
# Starting points stored with a run for a later warm refit (8 per chain of 4; 1.7 MB at 30
# artists x 210 DMAs: 6,600 free values each).
STORED_WARM_POINTS = 32
# Models built by fits in this process, by structure (as many as compiled ones are kept):
# a refit rebinds one instead of building a graph (bench/README.md, memory across refits).
_MODELS: OrderedDict[str, pm.Model] = OrderedDict()


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
    features: str = "dynamic"
    warm_tune: int = WARM_TUNE
    """Warmup iterations, in place of ``tune``, of a fit that starts where an earlier one
    ended."""

    def warmup(self, warm: bool) -> int:
        """Warmup iterations of a fit that starts warm (``warm_tune``) or cold (``tune``)."""
        return self.warm_tune if warm else self.tune

    def stored(self) -> dict[str, Any]:
        """The settings stored with the run (restored by ``bayescope.load``)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("origin", "progress")}


def feature_set(name: str) -> tuple[str, ...]:
    """The features of a named set (:data:`FEATURE_SETS`); an unknown name is one error."""
    if name not in FEATURE_SETS:
        raise BayescopeInputError(f"--features must be one of {', '.join(FEATURE_SETS)}, "
                                  f"not {name!r}", field="features")
    return FEATURE_SETS[name]


def prepare_panels(tables: TicketTables, settings: TicketFitSettings) -> PanelPair:
    """The stratified artist sample and its panels at the origin."""
    rng = np.random.default_rng(settings.seed)
    origin = parse_origin(settings.origin, tables.weeks, tables.weekday)
    tiers = popularity_tiers(tables, origin)
    artists = sample_artists(tiers, settings.artists, rng)
    log.info("artists: %d of %d (%s)", artists.size, len(tiers),
             ", ".join(f"{(tiers[artists] == t).sum()} {t}" for t in TIERS))
    return build_panels(tables, artists, origin, settings.horizon,
                        settings.train_weeks, feature_set(settings.features))


def fit_ticket_model(panels: PanelPair, settings: TicketFitSettings,
                     warm_start: WarmStart | None = None
                     ) -> tuple[FitResult, TicketModelInputs]:
    """NUTS fit of the hierarchical model on the training panel; ``warm_start`` (the
    ``warm_start`` of an earlier fit with as many artists and DMAs) starts the chains where
    that fit ended, and they tune for ``settings.warm_tune`` iterations instead of
    ``settings.tune``, with the pair effects centred for that fit's ``sigma_pair`` (an exact
    change of variables, :func:`~bayescope.models.ticket_demand.pair_centring`). A fit of the
    same structure earlier in the process lends its compiled model
    (:func:`~bayescope.models.ticket_demand.structure_key`). A fit short of effective draws
    gets more chains, started where its chains ended and warmed up for ``warm_tune``
    (:func:`~bayescope.inference.sampling.fit_model`'s ``top_up_tune``)."""
    inputs = TicketModelInputs.from_panels(panels)
    if (inputs.tickets > 0).sum() < 20:
        raise BayescopeInputError(
            f"only {(inputs.tickets > 0).sum()} artist-DMA-weeks with sales before the origin: "
            "too few to fit (pick a later origin or more artists)", field="origin")
    log.info("fitting the hierarchical negative-binomial hurdle on %d artist-DMA-weeks (%d with "
             "sales)", inputs.tickets.size, int((inputs.tickets > 0).sum()))
    pair_scale = warm_start.mean("sigma_pair") if warm_start is not None else None
    key = structure_key(inputs, panels.tier.size)
    model = ticket_model(inputs, panels.tier.size,
                         PAIR_SCALE_GUESS if pair_scale is None else pair_scale, key)
    if warm_start is not None:
        warm_start.check_shapes(model, "(an earlier fit)")
    result = fit_model(model, gated(model.named_vars), "nuts", settings.draws,
                       settings.warmup(warm_start is not None),
                       settings.chains, settings.seed, settings.progress,
                       key,
                       settings.backend, settings.max_tree_depth, MASS_MATRIX, warm_start,
                       top_up_tune=settings.warm_tune)
    return result, inputs


def ticket_model(inputs: TicketModelInputs, n_artists: int, pair_scale: float,
                 key: str) -> pm.Model:
    """The model of ``inputs``: one built earlier in this process for the same structure
    ``key`` (:func:`~bayescope.models.ticket_demand.structure_key`) with its data set from
    ``inputs`` (:func:`~bayescope.models.ticket_demand.rebind_ticket_model`), else a new one.

    A new graph per refit left the previous one, cyclic as every PyTensor graph is and
    holding its training arrays, for the garbage collector to find."""
    earlier = _MODELS.pop(key, None)
    model = (build_ticket_model(inputs, n_artists, pair_scale) if earlier is None
             else rebind_ticket_model(earlier, inputs, n_artists, pair_scale))
    _MODELS[key] = model
    while len(_MODELS) > COMPILED_KEPT:
        _MODELS.popitem(last=False)
    return model


def fit_tickets(tables: TicketTables, settings: TicketFitSettings, run_dir: str | Path,
                warm_start: WarmStart | None = None, warm_from: str = ""
                ) -> tuple[FitResult, dict[str, Any]]:
    """Fit at the origin and write the run directory (see module docstring); with
    ``warm_start`` (an earlier run's :meth:`TicketsRun.warm_start`; ``warm_from`` its run id,
    stored in the attribute ``warm_start_from``) the chains start where that fit ended."""
    panels = prepare_panels(tables, settings)
    result, inputs = fit_ticket_model(panels, settings, warm_start=warm_start)
    run_dir = Path(run_dir)
    profile = _tour_profile(panels)
    attrs = run_attrs(
        kind="tickets", model="hierarchical_negative_binomial", method="nuts",
        gate=result.gate.to_dict(), seed=settings.seed, settings=settings.stored(),
        origin=str(panels.origin.date()), warm_start_from=warm_from, **{
        "horizon": settings.horizon, "artists": json.dumps(panels.train.artists.tolist()),
        "dmas": json.dumps(panels.train.dmas.tolist()),
        "dma_names": json.dumps(panels.dma_names.tolist()),
        "households": json.dumps(panels.households.tolist()),
        "size": json.dumps(panels.size.tolist()), "tier": json.dumps(panels.tier.tolist()),
        "popularity": json.dumps(panels.popularity.tolist()),
        "feature_means": json.dumps(inputs.feature_means.tolist()),
        "recent_events": json.dumps(panels.recent_events.tolist()),
        "audience_index": json.dumps(np.round(panels.audience_index, 4).tolist()),
        "tour_profile": json.dumps(profile),
        "features": json.dumps(list(panels.train.features)),
        "feature_ranges": json.dumps({name: bounds for name, bounds in
                                      (panels.feature_ranges or {}).items()
                                      if np.isfinite(bounds).all()}),
        "clamped_forecast_rows": json.dumps(panels.clamped_rows or {}),
        "tour_listings": json.dumps(profile["log_listings"]),
        "forecast_weeks": json.dumps(
            panels.forecast.weeks[np.unique(panels.forecast.week)].strftime("%Y-%m-%d")
            .tolist()),
    })
    save_artifact(run_dir, _thinned(result), _row_arrays(panels.forecast), attrs, unit="row")
    posterior = result.idata["posterior"]
    summary = {"kind": "tickets", "origin": attrs["origin"], "horizon": settings.horizon,
               "artists": panels.tier.size, "dmas": panels.size.size,
               "training_rows": int(inputs.tickets.size),
               "training_rows_with_sales": int((inputs.tickets > 0).sum()),
               "forecast_rows": panels.forecast.n,
               "clamped_forecast_rows": panels.clamped_rows or {}, "seconds": result.seconds,
               "gate": result.gate.to_dict(),
               "parameters": labelled_summary(posterior, gated(posterior))}
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2, default=float))
    return result, summary


TOUR_PROFILE_FEATURES = ("log_listings", "listings_growth", "log_weeks_listed",
                         "log_tickets_per_event", "log_recent_sales", "log_listings_latest",
                         "log_recent_sales_latest")


def _tour_profile(panels: PanelPair) -> dict[str, list[float]]:
    """Per feature of :data:`TOUR_PROFILE_FEATURES` and artist: its median in the artist's
    training weeks with events listed (its typical state on tour), the median over all
    artists where it never toured. The DMA ranking's show scenario uses it."""
    train = panels.train
    touring = train.x[:, train.features.index("log_events_listed")] > 0
    profile = {}
    for name in TOUR_PROFILE_FEATURES:
        if name not in train.features:
            continue
        values = train.x[:, train.features.index(name)]
        fallback = float(np.log1p(10)) if name.startswith("log_listings") else 0.0
        overall = float(np.median(values[touring])) if touring.any() else fallback
        out = np.full(panels.tier.size, overall)
        for a in range(panels.tier.size):
            rows = touring & (train.artist == a)
            if rows.any():
                out[a] = float(np.median(values[rows]))
        profile[name] = np.round(out, 6).tolist()
    return profile


def _thinned(result: FitResult) -> Any:
    """The fit with at most ``STORED_DRAWS`` posterior draws (chains kept, draws thinned),
    without the sampler's own coordinates (the model's effects are stored as well), and
    ``STORED_WARM_POINTS`` of where it ended (group ``warm_start``, for a warm refit)."""
    tree = result.idata.copy()
    if result.warm_start is not None:
        tree["warm_start"] = xr.DataTree(
            result.warm_start.thinned(STORED_WARM_POINTS).to_dataset())
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
    for k, name in enumerate(panel.features):
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
        x = np.column_stack([arrays[f"x_{name}"] for name in self.features])
        tickets = arrays["tickets"]
        return TicketPanel(self.artists, self.dmas, calendar, arrays["artist"].astype(int),
                           arrays["dma"].astype(int), week, x, np.nan_to_num(tickets),
                           np.nan_to_num(arrays["order_value"]), ~np.isnan(tickets),
                           self.features, week - first + 1)

    def warm_start(self) -> WarmStart:
        """Where this run's fit ended, to start a refit of the same sample from (one error
        for runs saved before it was stored)."""
        if "warm_start" not in self.artifact.tree.children:
            raise BayescopeInputError(f"{self.run_dir} stores no warm start (saved by an "
                                      "earlier bayescope): fit without it", field="warm_start")
        return WarmStart.from_dataset(self.artifact.tree["warm_start"].to_dataset(),
                                      str(self.run_dir))

    @property
    def features(self) -> tuple[str, ...]:
        """The run's feature names (runs saved before they were stored: the first set)."""
        if "features" in self.artifact.attrs:
            return tuple(self.attr("features"))
        return STATIC_FEATURES

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


ARTISTS_PER_PART = 8
"""Artists per part of the Dask engine's forecasts (every DMA and week of each)."""


def predict_tickets_on_dask(run: TicketsRun, out: str | Path, seed: int = 0,
                            artists_per_part: int | None = None
                            ) -> tuple[ScoredTable, pd.DataFrame, pd.DataFrame]:
    """:func:`predict_tickets_run` on the current Dask cluster: the rows of each group of
    artists simulated and written by a worker into the Parquet folder ``out``; returns what
    was written, the artist-week totals and the national totals (summed draw by draw over
    the parts, so their intervals are those of the sum).

    The draws are thinned here, as the pandas engine thins them; part ``k`` simulates with a
    seed drawn from ``(seed, k)``, so its numbers are draws of the same distributions as the
    pandas engine's, not the same draws.
    """
    params = thinned_posterior(run, PREDICT_DRAWS, np.random.default_rng(seed))
    simulator = run.simulator()
    codes = np.unique(simulator.panel.artist)
    size = artists_per_part or ARTISTS_PER_PART
    parts = [(codes[start:start + size], number, seed) for number, start in
             enumerate(range(0, codes.size, size))]
    written = write_partitions_on_dask(forecast_artists, parts, out,
                                       shared=(simulator, params))
    artist_week = pd.concat([extra[0] for extra in written.extras], ignore_index=True)
    national = national_totals([extra[1] for extra in written.extras])
    return written, artist_week, national


class TicketDemand(Estimator):
    """Live-event ticket demand: a hierarchical negative-binomial hurdle over artist x DMA x week
    with lagged, leakage-free signals (:mod:`bayescope.models.ticket_demand`), NUTS.

    Parameters
    ----------
    artists
        Artists in the stratified sample (by popularity tier).
    horizon
        Weeks forecast after the origin (the lag of the lagged features; the latest-known
        ones are lagged by each week's weeks ahead).
    train_weeks
        Training weeks before the origin.
    draws, tune, chains, seed, max_tree_depth
        NUTS settings.
    warm_tune
        Warmup iterations of a fit given a ``warm_start`` (:meth:`fit`), in place of ``tune``.
    backend
        ``"numba"`` (CPU) or ``"jax"`` (the ``jax`` extra; a GPU when there is one).
    features
        ``"dynamic"`` (signals, recent sales and listing dynamics, and the latest listings
        and sales known at the origin), ``"lagged"`` (the same without the latest values) or
        ``"static"`` (the signals alone, the first release's model); see
        ``data/README.md``.
    progress
        Show the sampler's progress bar.

    Examples
    --------
    >>> model = bs.TicketDemand(artists=30).fit("tables/", origin="2024-06-03")
    ... # doctest: +SKIP
    >>> model.predict().national                               # doctest: +SKIP
    >>> model.rank_dmas(artist="A0001", top=10)                # doctest: +SKIP
    """

    kind = "tickets"

    def __init__(self, *, artists: int = 30, horizon: int = 4, train_weeks: int = 104,
                 draws: int = 500, tune: int = 400, warm_tune: int = WARM_TUNE,
                 chains: int = 4, seed: int = 0, backend: str = "numba",
                 max_tree_depth: int = MAX_TREE_DEPTH, features: str = "dynamic",
                 progress: bool = False) -> None:
        self.artists = artists
        self.horizon = horizon
        self.train_weeks = train_weeks
        self.draws = draws
        self.tune = tune
        self.warm_tune = warm_tune
        self.chains = chains
        self.seed = seed
        self.backend = backend
        self.max_tree_depth = max_tree_depth
        self.features = features
        self.progress = progress

    def fit_settings(self, origin: str) -> TicketFitSettings:
        """These settings at ``origin``, as the workflow takes them; a non-positive sample or
        sampler option is one error naming it."""
        for name in ("artists", "horizon", "train_weeks", "draws", "tune", "warm_tune",
                     "chains", "max_tree_depth"):
            if getattr(self, name) < 1:
                raise BayescopeInputError(f"--{name.replace('_', '-')} must be positive, not "
                                          f"{getattr(self, name)}", field=name)
        feature_set(self.features)
        return TicketFitSettings(origin, self.artists, self.horizon, self.train_weeks,
                                 self.draws, self.tune, self.chains, self.seed, self.progress,
                                 self.backend, self.max_tree_depth, self.features,
                                 self.warm_tune)

    def fit(self, tables: TicketTables | str | Path, origin: str, *,
            warm_start: TicketDemand | str | Path | None = None) -> TicketDemand:
        """Fit at ``origin`` (a date; the forecast weeks start there) on the artist tables
        (a folder written by ``generate artists`` or the user's, or tables already loaded).

        ``warm_start``, an earlier fit of the same sample size and features (a fitted
        ``TicketDemand`` or its run directory; last week's, say), starts the chains where it
        ended and tunes for ``warm_tune`` iterations instead of ``tune``
        (:mod:`bayescope.inference.initial_points`; the posterior is the same).
        """
        settings = self.fit_settings(origin)
        start, source = None, ""
        if warm_start is not None:
            if isinstance(warm_start, TicketDemand):
                warm_start._require_fitted()
                run = warm_start.run_
            else:
                run = load_tickets_run(warm_start)
            start, source = run.warm_start(), str(run.artifact.attrs.get("run_id", ""))
        loaded = tables if isinstance(tables, TicketTables) else load_ticket_tables(tables)
        return self._fit_into_temporary(
            lambda work: fit_tickets(loaded, settings, work, start, source))

    def _attach_run(self, run_dir: Path, artifact: Artifact) -> None:
        self.run_ = load_tickets_run(run_dir, artifact)

    def predict(self, seed: int = 0, *, engine: str = "pandas", scheduler: str | None = None,
                out: str | Path | None = None) -> TicketForecast:
        """Forecasts of the weeks fixed at fit time: ``.rows`` (artist x DMA x week),
        ``.artist_week`` and ``.national`` totals, each with mean, median and 90% interval.

        With ``engine="dask"`` the rows are simulated on a Dask cluster (the one at
        ``scheduler`` or a local one) and written to the Parquet folder ``out``
        (:func:`predict_tickets_on_dask`); ``.rows`` is then a Dask DataFrame reading it.
        """
        self._require_fitted()
        reader = read_dask_output(out, engine, scheduler)
        if reader is None:
            return predict_tickets_run(self.run_, seed=seed)
        with dask_client(scheduler):
            _, artist_week, national = predict_tickets_on_dask(self.run_, str(out), seed)
        return TicketForecast(reader(), artist_week, national)

    def rank_dmas(self, artist: str, top: int = 10, seed: int = 0,
                  include_played: bool = False) -> pd.DataFrame:
        """Where ``artist`` should play next: DMAs by expected tickets per show, with 90%
        intervals, price, revenue and P(in the top ``top``)."""
        self._require_fitted()
        return rank_dmas(self.run_, artist, top, seed, include_played)

    def write_predictions(self, out: Path, options: PredictOptions,
                          progress: Progress | None = None) -> str:
        """``bayescope predict RUN``: rows to ``out``, totals beside it."""
        reject_options(options, "tickets", data="forecasts the weeks fixed at fit time "
                       "(origin and horizon)", horizon="forecasts the weeks fixed at fit time "
                       "(origin and horizon)", pmf="writes ticket quantiles, not a PMF")
        if options.engine == "dask":
            check_engine(options.engine, options.scheduler)
            with dask_client(options.scheduler):
                written, artist_week, national = predict_tickets_on_dask(self.run_, out,
                                                                         options.seed)
            artist_path = out.with_name(f"{out.name}_artist_week.parquet")
            national_path = out.with_name(f"{out.name}_national.parquet")
            where = f"{out} ({written.parts} Parquet parts)"
            n_rows = written.rows
        else:
            result = self.predict(seed=options.seed)
            artist_week, national = result.artist_week, result.national
            atomic_write_frame(result.rows, out)
            artist_path = out.with_name(f"{out.stem}_artist_week{out.suffix}")
            national_path = out.with_name(f"{out.stem}_national{out.suffix}")
            where, n_rows = str(out), len(result.rows)
        atomic_write_frame(artist_week, artist_path)
        atomic_write_frame(national, national_path)
        return (f"wrote {n_rows:,} artist x DMA x week forecasts to {where}, "
                f"artist-week totals to {artist_path.name} and national totals to "
                f"{national_path.name}; national tickets per week (mean, 90%): " + "; ".join(
                    f"{r.week_start} {r.tickets_mean:,.0f} [{r.tickets_low:,.0f}, "
                    f"{r.tickets_high:,.0f}]" for r in national.itertuples()))

    def _report_content(self, work: Path, holdout: str | Path | None, seed: int,
                        columns: dict[str, str | None]) -> ReportContent:
        if holdout is not None:
            raise BayescopeInputError("--holdout is not used for tickets runs: `bayescope "
                                      "backtest` scores forecasts on later weeks",
                                      field="holdout")
        return build_tickets_report(self.run_, work, self.predict(seed=seed),
                                    lambda artist: self.rank_dmas(artist, 10, seed))

    def served(self, name: str, max_draws: int = 1000) -> ServedTicketsModel:
        """The API's model object (draws thinned once, here)."""
        self._require_fitted()
        return ServedTicketsModel(name, self.run_, self.run_dir_, max_draws)


@dataclass
class ServedTicketsModel:
    """A ticket-demand run: forecasts of its artist x DMA x week rows (the weeks after its
    origin, fixed at fit time), simulated per request from the stored draws.

    The draws are thinned to ``max_draws`` once, at load (seed 0), not per request: the pair
    effects alone are about 50 MB per 1,000 draws, and copying them for every request cost
    more than the simulation. A request's seed drives the predictive simulation.
    """

    name: str
    run: TicketsRun
    run_dir: Path
    max_draws: int = 1000
    default_route: bool = False
    query_defaults: Mapping[str, str] = field(default_factory=dict)
    _rows: dict[tuple[str, str, str], int] = field(init=False, repr=False)
    _params: dict[str, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.simulator = self.run.simulator()
        self._params = thinned_posterior(self.run, self.max_draws, np.random.default_rng(0))
        panel = self.simulator.panel
        weeks = panel.weeks[panel.week].strftime("%Y-%m-%d")
        self._rows = {(str(a), str(d), w): i for i, (a, d, w) in enumerate(zip(
            panel.artists[panel.artist], panel.dmas[panel.dma], weeks, strict=True))}
        self._weeks = sorted(set(weeks))
        self._known = {"artist_id": {str(a) for a in panel.artists},
                       "dma_id": {str(d) for d in panel.dmas}, "week_start": set(self._weeks)}

    @property
    def kind(self) -> str:
        """Model family."""
        return "tickets"

    def info(self) -> dict[str, Any]:
        """Name, kind, versions, training time, gate verdict and the weeks it forecasts."""
        return {**artifact_info(self.name, self.kind, self.run.artifact),
                "origin": str(self.run.artifact.attrs["origin"]),
                "forecast_weeks": self._weeks, "draws_used": n_draws(self._params)}

    def schema(self) -> dict[str, Any]:
        """JSON schema of one instance: an artist, a DMA and one of the forecast weeks."""
        properties: dict[str, Any] = {
            "artist_id": {"type": "string", "minLength": 1},
            "dma_id": {"type": "string", "minLength": 1},
            "week_start": {"type": "string", "format": "date", "enum": self._weeks}}
        return {"type": "object", "required": list(properties), "properties": properties}

    def outputs(self) -> dict[str, str]:
        """What each prediction field means."""
        return {"mean": "posterior-predictive mean of the week's tickets",
                "median": "its median", "low": "its 5% quantile", "high": "its 95% quantile",
                "order_value_mean": "posterior-predictive mean order value",
                "order_value_low": "5% quantile", "order_value_high": "95% quantile"}

    def output_types(self) -> dict[str, str]:
        """Every prediction field with its type (the cell, then numbers)."""
        return {"artist_id": "string", "dma_id": "string", "week_start": "string",
                **{name: "number" for name in self.outputs()}}

    def predict(self, instances: Sequence[Mapping[str, Any]], seed: int = 0,
                options: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Forecasts for the instances, in order (one simulation, ``seed`` as given; the means
        are the draws' expectations, :mod:`bayescope.inference.ticket_prediction`)."""
        reject_query(options)
        check_types(instances, self.schema())
        index = np.empty(len(instances), dtype=int)
        for k, instance in enumerate(instances):
            key = (instance["artist_id"], instance["dma_id"], instance["week_start"])
            for field_name, known in self._known.items():
                if instance[field_name] not in known:
                    listed = self._weeks if field_name == "week_start" else None
                    raise BayescopeInputError(
                        f"instance {k}: {field_name} {instance[field_name]!r} is not in this "
                        "run" + (f" (it forecasts {', '.join(listed)})" if listed else ""),
                        field=field_name, rows=[k])
            index[k] = self._rows[key]
        rng = np.random.default_rng(seed)
        draws = self.simulator.simulate(self._params, index, rng)
        tickets, value = draws["tickets"], draws["order_value"]
        low, median, high = np.quantile(tickets, [0.05, 0.5, 0.95], axis=0)
        value_low, value_high = np.quantile(value, [0.05, 0.95], axis=0)
        return records({
            "artist_id": [i["artist_id"] for i in instances],
            "dma_id": [i["dma_id"] for i in instances],
            "week_start": [i["week_start"] for i in instances],
            "mean": draws[EXPECTED["tickets"]].mean(axis=0).tolist(),
            "median": median.tolist(), "low": low.tolist(), "high": high.tolist(),
            "order_value_mean": draws[EXPECTED["order_value"]].mean(axis=0).tolist(),
            "order_value_low": value_low.tolist(), "order_value_high": value_high.tolist()})
