"""Drivers of streaming growth (the artist brief's question 2): ``bayescope fit streams`` and
``bs.StreamingGrowth``.

A fit builds the growth panel at the origin (:mod:`bayescope.data.stream_growth`), samples
the hierarchical Student-t regression and its within-artist twin
(:mod:`bayescope.models.streaming_growth`) and writes the run directory: ``posterior.nc``
(posterior, one row per artist for the forecast), ``summary.json``, ``drivers.csv``
(``feature, column, table, lag_weeks, effect_mean, hdi_low, hdi_high, p_positive,
within_artist``), ``training.parquet`` (the standardised training rows, for the posterior
predictive check) and ``metrics.json``: a rolling-origin backtest of the growth forecasts
against trailing growth and zero growth (refits at ``backtest_origins`` earlier origins, 2
chains x (300 + 300): forecasts, not the gate, are scored there).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.stream_growth import CONTROLS, DRIVERS, GrowthPanel, growth_panel
from bayescope.data.ticket_tables import TicketTables, load_ticket_tables
from bayescope.errors import ArtifactError, BayescopeInputError
from bayescope.families.base import Estimator, PredictOptions, Progress, reject_options
from bayescope.families.serving import artifact_info, check_types, records, reject_query
from bayescope.files import atomic_write_frame, atomic_write_text
from bayescope.inference.artifacts import (
    Artifact,
    flat_posterior,
    run_attrs,
    save_artifact,
)
from bayescope.inference.predictive import thin_draws
from bayescope.inference.sampling import fit_model
from bayescope.models.streaming_growth import (
    GATED,
    GrowthInputs,
    build_growth_model,
    build_within_model,
    predictive_growth,
)
from bayescope.posterior_reports.diagnostics import HDI_PROB, hdi, labelled_summary
from bayescope.posterior_reports.html import ReportContent
from bayescope.posterior_reports.scores import crps
from bayescope.posterior_reports.streams_report import streams_report

log = logging.getLogger(__name__)

DRIVER_COLUMNS = ("feature", "column", "table", "lag_weeks", "effect_mean", "hdi_low",
                  "hdi_high", "p_positive", "within_artist")
PREDICT_DRAWS = 1000
BACKTEST_SAMPLER = {"draws": 300, "tune": 300, "chains": 2}


@dataclass(frozen=True)
class StreamsFitSettings:
    """Origin, horizon, training window, sampler and backtest settings."""

    origin: str
    horizon: int = 4
    train_weeks: int = 52
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 0
    backtest_origins: int = 3
    progress: bool = False

    def stored(self) -> dict[str, Any]:
        """The settings stored with the run."""
        return {k: v for k, v in self.__dict__.items() if k not in ("origin", "progress")}


def fit_growth(panel: GrowthPanel, draws: int, tune: int, chains: int, seed: int,
               progress: bool = False) -> tuple[Any, GrowthInputs]:
    """The hierarchical fit on a panel's training rows."""
    if panel.n < 50:
        raise BayescopeInputError(f"only {panel.n} artist-weeks before the origin: too few "
                                  "to fit", field="origin")
    inputs = GrowthInputs.standardised(panel.drivers, panel.controls, panel.growth,
                                       panel.artist, panel.tier)
    model = build_growth_model(inputs, list(DRIVERS), list(CONTROLS))
    return fit_model(model, GATED, "nuts", draws, tune, chains, seed, progress), inputs


def _forecast_draws(posterior: dict[str, np.ndarray], inputs: GrowthInputs,
                    panel: GrowthPanel, rng: np.random.Generator) -> np.ndarray:
    everyone = np.arange(panel.artists.size)
    drivers, controls = inputs.scale(panel.forecast_drivers, panel.forecast_controls,
                                     everyone)
    return predictive_growth(posterior, drivers, controls, everyone, panel.tier, rng)


def driver_table(posterior: Any, within: Any) -> pd.DataFrame:
    """``drivers.csv``: each driver's pooled effect with its 94% HDI and P(> 0), and the
    within-artist effect (posterior mean)."""
    beta = np.asarray(posterior["beta"]).reshape(-1, len(DRIVERS))
    within_beta = np.asarray(within["beta"]).reshape(-1, len(DRIVERS)).mean(axis=0)
    rows = []
    for j, (name, signal) in enumerate(DRIVERS.items()):
        low, high = hdi(beta[:, j], prob=HDI_PROB)
        rows.append({"feature": name, "column": signal.column, "table": signal.table,
                     "lag_weeks": signal.lag_weeks, "effect_mean": float(beta[:, j].mean()),
                     "hdi_low": float(low), "hdi_high": float(high),
                     "p_positive": float((beta[:, j] > 0).mean()),
                     "within_artist": float(within_beta[j])})
    return pd.DataFrame(rows, columns=list(DRIVER_COLUMNS))


def fit_streams(tables: TicketTables, settings: StreamsFitSettings, run_dir: Path
                ) -> dict[str, Any]:
    """Fit at the origin, back-test, and write the run directory (module docstring)."""
    panel = growth_panel(tables, settings.origin, settings.horizon, settings.train_weeks)
    log.info("fitting streaming growth on %d artist-weeks (%d artists, %d weeks ahead)",
             panel.n, panel.artists.size, settings.horizon)
    result, inputs = fit_growth(panel, settings.draws, settings.tune, settings.chains,
                                settings.seed, settings.progress)
    within_model = build_within_model(inputs, list(DRIVERS), list(CONTROLS))
    within = fit_model(within_model, ("beta", "gamma", "sigma", "nu"), "nuts",
                       settings.draws, settings.tune, settings.chains, settings.seed, False)
    posterior = result.idata["posterior"]
    drivers = driver_table(posterior, within.idata["posterior"])
    atomic_write_frame(drivers, run_dir / "drivers.csv")
    training = pd.DataFrame(inputs.drivers, columns=list(DRIVERS)).assign(
        **{name: inputs.controls[:, j] for j, name in enumerate(CONTROLS)},
        growth=inputs.growth, artist=inputs.artist)
    atomic_write_frame(training, run_dir / "training.parquet")
    metrics = {"backtest": backtest_growth(tables, settings)}
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2, default=float))
    scaled_drivers, scaled_controls = inputs.scale(
        panel.forecast_drivers, panel.forecast_controls, np.arange(panel.artists.size))
    attrs = run_attrs(kind="streams", model="hierarchical_student_t_growth", method="nuts",
                      gate=result.gate.to_dict(), seed=settings.seed,
                      settings=settings.stored(), origin=str(panel.origin.date()),
                      horizon=settings.horizon, drivers=json.dumps(list(DRIVERS)),
                      controls=json.dumps(list(CONTROLS)),
                      within_gate=json.dumps(within.gate.to_dict()))
    arrays = {"artist_id": panel.artists.astype(str), "tier": panel.tier,
              "actual_growth": panel.forecast_growth,
              **{f"driver_{n}": scaled_drivers[:, j] for j, n in enumerate(DRIVERS)},
              **{f"control_{n}": scaled_controls[:, j] for j, n in enumerate(CONTROLS)}}
    save_artifact(run_dir, result.idata, arrays, attrs, unit="artist")
    summary = {"kind": "streams", "origin": attrs["origin"], "horizon": settings.horizon,
               "artists": int(panel.artists.size), "training_rows": panel.n,
               "seconds": result.seconds, "gate": result.gate.to_dict(),
               "within_gate": within.gate.to_dict(),
               "parameters": labelled_summary(posterior, ("beta", "gamma", "sigma", "nu",
                                                          "sigma_artist"))}
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2, default=float))
    return summary


def backtest_growth(tables: TicketTables, settings: StreamsFitSettings) -> dict[str, Any]:
    """Refit at ``backtest_origins`` origins ``horizon`` weeks apart before the origin and
    score the growth forecasts of every artist against trailing growth (the last 4 weeks'
    growth scaled to ``H`` weeks and carried on) and zero growth, both with the training
    growth's spread."""
    if settings.backtest_origins < 1:
        return {}
    origin = pd.Timestamp(settings.origin)
    rows = []
    rng = np.random.default_rng(settings.seed)
    for k in range(settings.backtest_origins, 0, -1):
        at = origin - pd.Timedelta(weeks=settings.horizon * k)
        try:
            panel = growth_panel(tables, at, settings.horizon, settings.train_weeks)
            result, inputs = fit_growth(panel, seed=settings.seed, progress=False,
                                        **BACKTEST_SAMPLER)
        except BayescopeInputError as exc:
            log.info("backtest origin %s skipped: %s", at.date(), exc)
            continue
        params = thin_draws(flat_posterior(result.idata["posterior"]), 500, rng)
        ours = _forecast_draws(params, inputs, panel, rng)
        y = panel.forecast_growth
        spread = float(panel.growth.std())
        trailing = panel.forecast_controls[:, 0] * settings.horizon / 4.0
        samples = {"ours": ours,
                   "trailing_growth": trailing + spread * rng.standard_normal((500, y.size)),
                   "zero_growth": spread * rng.standard_normal((500, y.size))}
        known = np.isfinite(y)
        for name, draws in samples.items():
            low, high = np.quantile(draws[:, known], [0.05, 0.95], axis=0)
            rows.append({"origin": str(panel.origin.date()), "model": name,
                         "crps": float(crps(y[known], draws[:, known]).mean()),
                         "coverage_90": float(np.mean((y[known] >= low)
                                                      & (y[known] <= high))),
                         "artists": int(known.sum())})
    table = pd.DataFrame(rows)
    if table.empty:
        return {}
    overall = table.groupby("model")[["crps", "coverage_90"]].mean()
    return {"by_origin": rows, "overall": overall.reset_index().to_dict(orient="records"),
            "sampler": BACKTEST_SAMPLER}


@dataclass
class StreamsRun:
    """A stored streaming-growth run."""

    artifact: Artifact
    run_dir: Path

    @property
    def drivers(self) -> pd.DataFrame:
        """``drivers.csv``."""
        return pd.read_csv(self.run_dir / "drivers.csv")

    def design(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stored forecast rows: standardised drivers and controls, and the tiers."""
        arrays = self.artifact.arrays
        return (np.column_stack([arrays[f"driver_{n}"] for n in DRIVERS]),
                np.column_stack([arrays[f"control_{n}"] for n in CONTROLS]),
                np.asarray(arrays["tier"], int))

    def predict(self, seed: int = 0) -> pd.DataFrame:
        """Per artist: growth of log streams over the horizon (mean, 90% interval) and the
        implied streams ratio."""
        rng = np.random.default_rng(seed)
        posterior = thin_draws(self.artifact.posterior, PREDICT_DRAWS, rng)
        arrays = self.artifact.arrays
        drivers, controls, tier = self.design()
        draws = predictive_growth(posterior, drivers, controls, np.arange(tier.size), tier,
                                  rng)
        low, high = np.quantile(draws, [0.05, 0.95], axis=0)
        return pd.DataFrame({
            "artist_id": arrays["artist_id"], "origin": self.artifact.attrs["origin"],
            "horizon": int(self.artifact.attrs["horizon"]),
            "growth_mean": draws.mean(axis=0), "growth_low": low, "growth_high": high,
            "streams_ratio_mean": np.exp(draws).mean(axis=0)})


class StreamingGrowth(Estimator):
    """Drivers of short-term streaming growth (module docstring).

    Parameters
    ----------
    horizon
        Weeks ahead of the growth (1-4).
    train_weeks
        Training weeks before the origin.
    draws, tune, chains, seed
        NUTS settings.
    backtest_origins
        Earlier origins the fit is back-tested at (0: none).
    progress
        Show the sampler's progress bar.

    Examples
    --------
    >>> model = bs.StreamingGrowth(horizon=4).fit("tables/", origin="2024-06-03")
    ... # doctest: +SKIP
    >>> model.drivers_                                          # doctest: +SKIP
    """

    kind = "streams"

    def __init__(self, *, horizon: int = 4, train_weeks: int = 52, draws: int = 1000,
                 tune: int = 1000, chains: int = 4, seed: int = 0, backtest_origins: int = 3,
                 progress: bool = False) -> None:
        self.horizon = horizon
        self.train_weeks = train_weeks
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.seed = seed
        self.backtest_origins = backtest_origins
        self.progress = progress

    def fit(self, tables: TicketTables | str | Path, origin: str) -> StreamingGrowth:
        """Fit at ``origin`` on the artist tables; returns self."""
        for name in ("draws", "tune", "chains", "train_weeks"):
            if getattr(self, name) < 1:
                raise BayescopeInputError(f"--{name.replace('_', '-')} must be positive",
                                          field=name)
        if self.backtest_origins < 0:
            raise BayescopeInputError("--backtest-origins must be 0 or more",
                                      field="backtest_origins")
        settings = StreamsFitSettings(origin, self.horizon, self.train_weeks, self.draws,
                                      self.tune, self.chains, self.seed,
                                      self.backtest_origins, self.progress)
        loaded = tables if isinstance(tables, TicketTables) else load_ticket_tables(tables)
        return self._fit_into_temporary(lambda work: fit_streams(loaded, settings, work))

    def _attach_run(self, run_dir: Path, artifact: Artifact) -> None:
        if artifact.kind != "streams":
            raise ArtifactError(f"{run_dir} is a {artifact.kind} run, not a streaming-growth "
                                "fit", field="run_dir")
        self.run_ = StreamsRun(artifact, run_dir)
        self.drivers_ = self.run_.drivers

    def predict(self, seed: int = 0) -> pd.DataFrame:
        """Growth forecasts per artist (see :meth:`StreamsRun.predict`)."""
        self._require_fitted()
        return self.run_.predict(seed)

    def write_predictions(self, out: Path, options: PredictOptions,
                          progress: Progress | None = None) -> str:
        """``bayescope predict RUN``: the growth forecasts."""
        reject_options(options, "streaming-growth", data="forecasts the artists at its origin",
                       horizon="forecasts the horizon it was fitted for",
                       top="forecasts every artist", discount_rate="forecasts growth",
                       pmf="forecasts growth",
                       engine="forecasts a few hundred artists in one process")
        frame = self.predict(options.seed)
        atomic_write_frame(frame, out)
        return f"wrote growth forecasts of {len(frame)} artists to {out}"

    def _report_content(self, work: Path, holdout: str | Path | None, seed: int,
                        columns: dict[str, str | None]) -> ReportContent:
        if holdout is not None:
            raise BayescopeInputError("a streaming-growth report takes no --holdout (its "
                                      "backtest is in metrics.json)", field="holdout")
        training = pd.read_parquet(self.run_dir_ / "training.parquet")
        return streams_report(self.run_, self.summary_, self.metrics_ or {}, training, work,
                              seed)

    def served(self, name: str, max_draws: int = 1000) -> ServedStreamsModel:
        """The API's model object: growth forecasts of the run's artists."""
        self._require_fitted()
        return ServedStreamsModel(name, self.run_, max_draws)


@dataclass
class ServedStreamsModel:
    """A streaming-growth run on the model routes: an instance is ``{"artist_id"}`` of one of
    the run's artists; the prediction is its growth over the run's horizon (mean, 90%
    interval) from the stored draws, thinned once at load to ``max_draws``."""

    name: str
    run: StreamsRun
    max_draws: int = 1000
    default_route: bool = False
    query_defaults: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._params = thin_draws(self.run.artifact.posterior, self.max_draws,
                                  np.random.default_rng(0))
        self._index = {str(a): i for i, a in enumerate(self.run.artifact.arrays["artist_id"])}
        self._drivers, self._controls, self._tier = self.run.design()

    @property
    def kind(self) -> str:
        """Model family."""
        return "streams"

    def info(self) -> dict[str, Any]:
        """Name, kind, versions, gate, origin and horizon."""
        attrs = self.run.artifact.attrs
        return {**artifact_info(self.name, self.kind, self.run.artifact),
                "origin": str(attrs["origin"]), "horizon": int(attrs["horizon"])}

    def schema(self) -> dict[str, Any]:
        """One instance: an artist of the run."""
        return {"type": "object", "required": ["artist_id"],
                "properties": {"artist_id": {"type": "string", "minLength": 1}}}

    def outputs(self) -> dict[str, str]:
        """What each prediction field means."""
        return {"growth_mean": "posterior-predictive mean growth of log streams over the "
                               "horizon", "growth_low": "its 5% quantile",
                "growth_high": "its 95% quantile",
                "streams_ratio_mean": "mean of streams at the horizon over streams now"}

    def output_types(self) -> dict[str, str]:
        """Every prediction field with its type (the artist, then numbers)."""
        return {"artist_id": "string", **{name: "number" for name in self.outputs()}}

    def predict(self, instances: Sequence[Mapping[str, Any]], seed: int = 0,
                options: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Growth forecasts for the instances, in order."""
        reject_query(options)
        check_types(instances, self.schema())
        index = np.empty(len(instances), dtype=int)
        for k, instance in enumerate(instances):
            if instance["artist_id"] not in self._index:
                raise BayescopeInputError(f"instance {k}: artist_id "
                                          f"{str(instance['artist_id'])[:40]!r} is not in "
                                          "this run", field="artist_id", rows=[k])
            index[k] = self._index[instance["artist_id"]]
        rng = np.random.default_rng(seed)
        draws = predictive_growth(self._params, self._drivers[index], self._controls[index],
                                  index, self._tier, rng)
        low, high = np.quantile(draws, [0.05, 0.95], axis=0)
        return records({"artist_id": [i["artist_id"] for i in instances],
                        "growth_mean": draws.mean(axis=0).tolist(),
                        "growth_low": low.tolist(), "growth_high": high.tolist(),
                        "streams_ratio_mean": np.exp(draws).mean(axis=0).tolist()})
