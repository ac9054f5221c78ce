"""Rolling-origin backtest of the ticket-demand model against classical baselines.

``origins`` forecast origins, ``horizon`` weeks apart, the last one ending at the last week of
the tables. At each origin every model sees only weeks before it (the panels are rebuilt
per origin), forecasts the next ``horizon`` weeks for the same stratified artist sample and
every DMA, and is scored on what happened: MAE of the predictive median, RMSE of the
predictive mean, CRPS (scoringrules, on predictive draws), and the coverage of the
equal-tailed 80% and 90% intervals; overall, on the weeks with sales alone (``with_sales``,
see :func:`with_sales_coverage`), by DMA size (rank by TV households: 1-10, 11-50, 51+) and
by popularity tier; a rootogram per model; and the paired comparison of the shared
evaluation (differences of per-row scores against ours, bootstrapped by artist: the rows of
one artist share its forecast errors, and row-by-row resampling gave intervals 3 to 5 times
too narrow on the misspecification backtests).

The hierarchical model is compiled once and refitted per origin with the data swapped in.
Consecutive origins share all but ``horizon`` of their training weeks, so each refit after the
first starts where the previous one ended (its last draws and step size,
:mod:`bayescope.inference.initial_points`) and tunes for the fit settings' ``warm_tune``
iterations instead of ``tune`` (``bench/README.md``, "Warm refits", measures what that buys).
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.ticket_panel import TIERS, build_panels, popularity_tiers, sample_artists
from bayescope.data.ticket_tables import TicketTables
from bayescope.errors import BayescopeInputError
from bayescope.families.tickets import TicketFitSettings, feature_set, fit_ticket_model
from bayescope.inference.artifacts import flat_posterior
from bayescope.inference.initial_points import WarmStart
from bayescope.inference.predictive import thin_draws
from bayescope.inference.ticket_prediction import EXPECTED, TicketSimulator
from bayescope.models.baselines.tickets import FITTERS
from bayescope.posterior_reports.comparison import compare_models
from bayescope.posterior_reports.counts import CountCheck
from bayescope.posterior_reports.scores import crps

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
    warm: WarmStart | None = None
    for k, origin in enumerate(origins):
        frame, gate, warm = _backtest_origin(tables, settings, artists, origin, checks, rng,
                                             warm)
        frames.append(frame)
        gates.append(gate)
        # The fit's trace and every model's predictive draws (about 0.5 GB at the full size)
        # are freed when _backtest_origin returns, not held through the next refit;
        # collecting also frees what sits in reference cycles before that refit allocates.
        gc.collect()
        release_freed_memory()
        log.info("origin %s: %s; resident memory %.2f GB, peak %.2f GB", origin.date(),
                 ", ".join(f"{m} CRPS {frame[f'{m}_crps'].mean():.3f}" for m in MODELS),
                 _resident_memory_gb(), _peak_memory_gb())
        if progress is not None:
            progress(k + 1, len(origins))
    rows = pd.concat(frames, ignore_index=True)
    sampled_from = {a: str(tiers[a]) for a in artists}
    metrics = summarise_backtest(rows, rng, sampled_from)
    metrics["rootograms"] = {name: check.rootogram() for name, check in checks.items()}
    metrics["zero_checks"] = {name: check.zero_check() for name, check in checks.items()}
    metrics.update({"origins": [str(o.date()) for o in origins], "horizon": fit_settings.horizon,
                    "artists": artists.tolist(), "gates": gates,
                    "artist_tiers": sampled_from})
    return metrics, rows


def _backtest_origin(tables: TicketTables, settings: BacktestSettings, artists: np.ndarray,
                     origin: pd.Timestamp, checks: dict[str, CountCheck],
                     rng: np.random.Generator, warm: WarmStart | None
                     ) -> tuple[pd.DataFrame, dict[str, Any], WarmStart | None]:
    """Fit, forecast and score every model at one origin: ``(per-row scores, our gate,
    where our fit ended)``; ``warm`` is where the previous origin's fit ended."""
    fit_settings = replace(settings.fit, origin=str(origin.date()))
    panels = build_panels(tables, artists, origin, fit_settings.horizon,
                          fit_settings.train_weeks, feature_set(fit_settings.features))
    result, inputs = fit_ticket_model(panels, fit_settings, warm_start=warm)
    gate = {"origin": str(origin.date()),
            "tune": fit_settings.warmup(warm is not None),
            "fit_seconds": round(result.seconds, 1), **result.gate.to_dict()}
    warm = result.warm_start
    posterior = flat_posterior(result.idata["posterior"].to_dataset())
    del result
    # As many predictive draws at every origin, whatever chains a top-up added: the zero
    # check adds up the zeros of draw s across origins.
    count = min(settings.predictive_draws, fit_settings.draws * fit_settings.chains)
    params = thin_draws(posterior, count, rng)
    simulator = TicketSimulator(panels.forecast, panels.tier, panels.size, inputs.feature_means)
    ours = simulator.simulate(params, np.arange(panels.forecast.n), rng)
    draws = {"ours": ours["tickets"]}
    for name, fitter in FITTERS.items():
        draws[name] = fitter(panels, count, rng).draws
    # Our mean is the one `predict` reports, the draws' expectations (ticket_prediction).
    means = {"ours": ours[EXPECTED["tickets"]].mean(axis=0)}
    return _score_origin(panels, draws, origin, checks, means), gate, warm


def release_freed_memory() -> bool:
    """Hand the memory the C allocator holds free back to the system (glibc's
    ``malloc_trim(0)``; False where there is none, as on macOS).

    A refit frees its trace, its predictive draws and its compiled graphs' buffers, but
    glibc keeps freed memory in its heaps for reuse, and scattered survivors stop it from
    shrinking them. Without this, the resident memory after a small backtest's origins
    climbed 1.09 -> 1.23 GB over eight refits and each refit's peak 1.30 -> 1.40 GB; with
    it, 0.81 -> 0.83 GB and 1.19-1.23 GB (``bench/README.md``, memory across refits).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return False
    trim(0)
    return True


def _peak_memory_gb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _resident_memory_gb() -> float:
    """This process's resident memory now (``VmRSS``; NaN where ``/proc`` has none): with
    the peak, it tells memory held across refits from one refit's transient peak."""
    try:
        with open("/proc/self/status") as status:
            line = next(entry for entry in status if entry.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return float("nan")
    return int(line.split()[1]) / 1e6


def _score_origin(panels: Any, draws: dict[str, np.ndarray], origin: pd.Timestamp,
                  checks: dict[str, CountCheck], means: Mapping[str, np.ndarray]
                  ) -> pd.DataFrame:
    """Per-row scores of every model at one origin; rootogram counts go to ``checks``;
    ``means`` holds the means of models that report one other than their draws' average."""
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
        for column, values in row_scores(y, sample, means.get(name)).items():
            frame[f"{name}_{column}"] = values
        checks.setdefault(name, CountCheck(max_count=10)).add(y, sample)
    return frame


def row_scores(y: np.ndarray, sample: np.ndarray, mean: np.ndarray | None = None
               ) -> dict[str, np.ndarray]:
    """Per row, from ``(draws, rows)`` predictive draws: mean (``mean`` where given, else the
    draws'), median, CRPS, whether ``y`` is inside the equal-tailed 80% and 90% intervals,
    and the forecast's own probabilities of a sale (``p_sold``) and of a sale inside each
    interval (``p_in_80_sold``, ...)."""
    q05, q10, q50, q90, q95 = np.quantile(sample, [0.05, 0.1, 0.5, 0.9, 0.95], axis=0)
    positive = sample > 0
    return {"mean": sample.mean(axis=0) if mean is None else mean, "median": q50,
            "crps": crps(y, sample),
            "in_80": (y >= q10) & (y <= q90), "in_90": (y >= q05) & (y <= q95),
            "p_sold": positive.mean(axis=0),
            "p_in_80_sold": (positive & (sample >= q10) & (sample <= q90)).mean(axis=0),
            "p_in_90_sold": (positive & (sample >= q05) & (sample <= q95)).mean(axis=0)}


def _model_scores(rows: pd.DataFrame, name: str) -> dict[str, float]:
    y = rows["tickets"].to_numpy(float)
    return {"mae": float(np.mean(np.abs(y - rows[f"{name}_median"]))),
            "rmse": float(np.sqrt(np.mean((y - rows[f"{name}_mean"]) ** 2))),
            "crps": float(rows[f"{name}_crps"].mean()),
            "coverage_80": float(rows[f"{name}_in_80"].mean()),
            "coverage_90": float(rows[f"{name}_in_90"].mean())}


def with_sales_coverage(rows: pd.DataFrame) -> dict[str, Any]:
    """Scores on the weeks that sold, with each model's own expected interval coverage.

    Most rows sell nothing and an interval holding 0 covers them all, so overall coverage
    says little about the weeks that matter. On the weeks that sold, coverage is not the
    nominal level even for a calibrated forecast (a row with P(0) = 0.9 has the 90% interval
    [0, q95], which holds a positive week with probability 1/2), so it is set against what
    the model itself expects: ``sum_i P_i(low <= Y <= high, Y > 0) / sum_i P_i(Y > 0)``
    over all rows, from its draws (``expected_coverage_80``, ``expected_coverage_90``).
    """
    sold = rows[rows["tickets"] > 0]
    models: dict[str, dict[str, float]] = {}
    if len(sold):
        for name in MODELS:
            expected_sold = float(rows[f"{name}_p_sold"].sum())
            models[name] = {**_model_scores(sold, name), **{
                f"expected_coverage_{level}": (
                    float(rows[f"{name}_p_in_{level}_sold"].sum()) / expected_sold
                    if expected_sold > 0 else float("nan"))
                for level in (80, 90)}}
    return {"n_rows": len(sold), "models": models}


def summarise_backtest(rows: pd.DataFrame, rng: np.random.Generator,
                       sampled_from: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Scores overall and by group, and the paired comparison against ours (artists resampled
    within the tiers they were sampled from, ``{artist: tier}``, when given)."""
    metrics: dict[str, Any] = {
        "n_rows": len(rows),
        "models": {name: _model_scores(rows, name) for name in MODELS}}
    metrics["with_sales"] = with_sales_coverage(rows)
    for column, key in (("dma_size", "by_dma_size"), ("tier", "by_tier"),
                        ("weeks_ahead", "by_weeks_ahead"), ("origin", "by_origin")):
        metrics[key] = {str(group): {name: _model_scores(part, name) for name in MODELS}
                        for group, part in rows.groupby(column, sort=True)}
    y = rows["tickets"].to_numpy(float)
    pointwise = {name: {"crps": rows[f"{name}_crps"].to_numpy(float),
                        "abs_error_median": np.abs(y - rows[f"{name}_median"].to_numpy()),
                        "squared_error": (y - rows[f"{name}_mean"].to_numpy()) ** 2}
                 for name in MODELS}
    artists = rows["artist_id"].to_numpy()
    several = np.unique(artists).size > 1
    metrics["comparison"] = compare_models(
        pointwise, "ours", rng, clusters=artists if several else None,
        strata=sampling_strata(artists, sampled_from) if several and sampled_from else None)
    metrics["where_ours_loses"] = where_ours_loses(metrics)
    return metrics


def sampling_strata(artist_ids: np.ndarray, sampled_from: Mapping[str, str]
                    ) -> np.ndarray | None:
    """Per row, the tier its artist was sampled from (``sample_artists`` takes a fixed number
    per tier at the first origin; a row's own ``tier`` may differ at later origins), for the
    comparison's stratified resample; a tier of one artist joins the next tier down in
    :data:`TIERS` (the last, the one above). ``None`` when fewer than two tiers of two artists
    remain."""
    present = pd.unique(pd.Series(artist_ids))
    if any(artist not in sampled_from for artist in present):
        raise ValueError("an artist of the rows has no sampling tier")
    counts = Counter(sampled_from[artist] for artist in present)
    order = [t for t in TIERS if counts[t]]
    merged = {t: t for t in order}
    for position, tier in enumerate(order):
        # Merges only run forward, except the last tier's: a tier never joins one merged away.
        if counts[tier] >= 2 or len(order) == 1:
            continue
        target = order[position + 1] if position + 1 < len(order) else order[position - 1]
        merged = {t: target if m == tier else m for t, m in merged.items()}
        counts[target] += counts[tier]
    stratum = {artist: merged[sampled_from[artist]] for artist in present}
    sizes = Counter(stratum.values())
    if len(sizes) < 2 or min(sizes.values()) < 2:
        return None
    return pd.Series(artist_ids).map(stratum).to_numpy()


GROUP_LABELS = {"by_tier": "popularity tier", "by_dma_size": "DMA size",
                "by_weeks_ahead": "weeks ahead", "by_origin": "origin"}
COVERAGE_TOLERANCE = 0.05


def where_ours_loses(metrics: dict[str, Any]) -> list[str]:
    """Plain sentences, one per place where a baseline beats ours: overall CRPS (saying
    whether the paired interval excludes zero), a group's CRPS (tier, DMA size, weeks
    ahead, origin), and on the weeks with sales a 90% coverage more than
    :data:`COVERAGE_TOLERANCE` from ours' own expectation. Empty when ours is best
    everywhere."""
    out = []
    for row in metrics["comparison"]:
        if row["metric"] == "crps" and row["model"] != "ours" and row["difference"] < 0:
            beyond = ("beyond the noise" if row["difference_high"] < 0
                      else "within the noise of the artists sampled")
            out.append(f"Overall, {row['model']} has a lower CRPS than ours "
                       f"({row['value']:.4f} against {row['value'] - row['difference']:.4f}; "
                       f"difference {row['difference']:.4f}, 90% interval "
                       f"[{row['difference_low']:.4f}, {row['difference_high']:.4f}], "
                       f"{beyond}).")
    for key, label in GROUP_LABELS.items():
        for group, scores in metrics.get(key, {}).items():
            ours = scores["ours"]["crps"]
            best = min((name for name in scores if name != "ours"),
                       key=lambda name: scores[name]["crps"])
            if scores[best]["crps"] < ours:
                out.append(f"For {label} {group}, {best} beats ours: CRPS "
                           f"{scores[best]['crps']:.4f} against {ours:.4f}.")
    sold = metrics["with_sales"]["models"].get("ours")
    if sold is not None:
        gap = sold["coverage_90"] - sold["expected_coverage_90"]
        if abs(gap) > COVERAGE_TOLERANCE:
            side = "wider" if gap > 0 else "narrower"
            out.append(f"On the weeks with sales ours' 90% intervals hold "
                       f"{sold['coverage_90']:.3f} of the outcomes against the "
                       f"{sold['expected_coverage_90']:.3f} it expects: they are {side} "
                       "than they should be.")
    return out
