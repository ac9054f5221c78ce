"""The repeat-purchasing workflow: transactions -> RFM -> fit -> run directory -> answers.

The CLI's ``fit btyd``, ``predict``, ``simulate-alive`` and ``demo`` are thin wrappers over the
functions here, which a notebook can call just as well.

A run directory holds ``posterior.nc`` (see :mod:`bayescope.inference.artifacts`),
``summary.json`` (model, sizes, gate verdict, parameter summaries with 94% HDIs) and, when the
data extend past the calibration end, ``metrics.json`` (holdout evaluation).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.rfm import TIME_UNITS, RFMSummary, rfm_summary
from bayescope.errors import BayescopeInputError
from bayescope.inference.alive_simulation import AliveSimulation, simulate_alive
from bayescope.inference.artifacts import (
    LoadedRun,
    atomic_write_text,
    load_posterior,
    save_posterior,
)
from bayescope.inference.btyd_prediction import Discounting, predict_customers, thin_draws
from bayescope.inference.sampling import FitResult, fit_model
from bayescope.models.btyd import BTYDModel, purchase_model
from bayescope.models.gamma_gamma import GammaGammaModel
from bayescope.posterior_reports.btyd_holdout import (
    evaluate_holdout,
    lifetimes_mle,
    other_family_mle,
)
from bayescope.posterior_reports.btyd_plots import plot_holdout
from bayescope.posterior_reports.diagnostics import parameter_summary

log = logging.getLogger(__name__)

MIN_SPEND_CUSTOMERS = 10


@dataclass
class BTYDFitSettings:
    """How to fit: model, time unit, method and sampler settings."""

    model: str = "mbgnbd"
    time_unit: str = "W"
    calibration_end: str | None = None
    method: str = "nuts"
    draws: int = 1000
    chains: int = 4
    seed: int = 0
    progress: bool = True


def model_spec_for(rfm: RFMSummary, model: str, with_spend: bool) -> BTYDModel:
    """The specification to fit: Gamma-Gamma only when enough customers inform it."""
    spend = None
    if with_spend:
        informative = int(GammaGammaModel.informative_customers(rfm).sum())
        if informative >= MIN_SPEND_CUSTOMERS:
            spend = GammaGammaModel()
        else:
            log.warning("only %d repeat customers with positive spend: Gamma-Gamma skipped",
                        informative)
    return BTYDModel(purchase_model(model), spend)


def fit_btyd(
    transactions: pd.DataFrame, settings: BTYDFitSettings, run_dir: str | Path,
    with_spend: bool = True,
) -> tuple[FitResult, dict[str, Any]]:
    """Fit a BTYD model to validated transactions and write the run directory.

    Returns the fit and the ``summary.json`` content.
    """
    rfm = rfm_summary(transactions, settings.time_unit, settings.calibration_end)
    if float(rfm.T.sum()) == 0.0:
        raise BayescopeInputError(
            "every customer's first purchase falls in the last calibration period (T = 0 for "
            "all): the data say nothing about purchase rates. Use a later --calibration-end "
            "or a finer --time-unit.", field="calibration_end")
    spec = model_spec_for(rfm, settings.model, with_spend)
    log.info("fitting %s on %d customers (%s, calibration end %s)", spec.name,
             rfm.n_customers, settings.time_unit, rfm.calibration_end.date())
    result = fit_model(spec.build(rfm), spec.parameter_names, settings.method, settings.draws,
                       chains=settings.chains, seed=settings.seed, progress=settings.progress,
                       cache_key=spec.cache_key)
    run_dir = Path(run_dir)
    summary = {
        "model": spec.name,
        "time_unit": settings.time_unit,
        "n_customers": rfm.n_customers,
        "converged": result.gate.passed,
        "method": settings.method,
        "calibration_end": str(rfm.calibration_end),
        "observation_end": str(rfm.observation_end),
        "fit_seconds": round(result.seconds, 2),
        "diagnostics": result.gate.to_dict(),
        "parameters": parameter_summary(result.idata["posterior"], spec.parameter_names),
    }
    if result.map_estimate is not None:
        summary["map_estimate"] = result.map_estimate
    attrs = {"model": spec.name, "method": settings.method, "converged": result.gate.passed,
             "gate": result.gate.to_dict(), "seed": settings.seed,
             "created_at": pd.Timestamp.now(tz="UTC").isoformat()}
    save_posterior(run_dir, result.idata, rfm, attrs)
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    if rfm.has_holdout:
        posterior = {k: np.asarray(result.idata["posterior"][k]).reshape(-1)
                     for k in spec.parameter_names}
        metrics = evaluate_holdout(spec, posterior, rfm, lifetimes_mle(rfm, settings.model),
                                   seed=settings.seed,
                                   other_family=other_family_mle(rfm, settings.model)).metrics
        atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
        plot_holdout(metrics, run_dir / "plots")
    return result, summary


def load_run(run_dir: str | Path) -> tuple[LoadedRun, BTYDModel]:
    """A stored run and its model specification."""
    run = load_posterior(run_dir)
    return run, BTYDModel.from_name(run.model_name)


def predict_run(
    run_dir: str | Path, horizon_days: float, top: int | None = None, by: str = "purchases",
    seed: int = 0, progress: Any = None, discount_rate: float | None = None,
) -> pd.DataFrame:
    """Per-customer predictions over ``horizon_days`` from a stored run.

    With ``discount_rate`` (annual, e.g. 0.1), spend columns are discounted present values.
    """
    if horizon_days <= 0:
        raise BayescopeInputError("horizon must be a positive number of days", field="horizon")
    run, spec = load_run(run_dir)
    if by == "spend" and spec.spend is None:
        raise BayescopeInputError("--by spend needs a run fitted with purchase values",
                                  field="by")
    if by not in ("purchases", "spend"):
        raise BayescopeInputError(f"--by must be purchases or spend, got {by!r}", field="by")
    if top is not None and top < 1:
        raise BayescopeInputError("--top must be a positive integer", field="top")
    _warn_if_unconverged(run)
    if discount_rate is not None and not 0 <= discount_rate < 1:
        raise BayescopeInputError("--discount-rate must be in [0, 1), e.g. 0.1 for 10%/year",
                                  field="discount_rate")
    periods_per_day = 1.0 / TIME_UNITS[run.rfm.time_unit]
    discounting = None
    if discount_rate is not None:
        discounting = Discounting(discount_rate, 365.25 * periods_per_day)
    return predict_customers(spec, run.posterior, run.rfm, horizon_days * periods_per_day,
                             top=top, by=by, seed=seed, progress=progress,
                             discounting=discounting)


def simulate_run(
    run_dir: str | Path, customers: int, horizons: list[str], seed: int, runs: int = 1000,
    existing: bool = False,
) -> tuple[AliveSimulation, pd.DataFrame]:
    """Alive simulation from a stored run; the table also carries the closed-form expectation."""
    run, spec = load_run(run_dir)
    _warn_if_unconverged(run)
    rng = np.random.default_rng(seed)
    sim = simulate_alive(spec.purchase, run.posterior, customers, horizons, run.rfm.time_unit,
                         rng, runs=runs, existing=run.rfm if existing else None)
    expected = None
    if not existing:
        sub = thin_draws(run.posterior, 200, np.random.default_rng(seed))
        expected = customers * spec.purchase.p_alive_new(sub, sim.horizon_periods).mean(axis=0)
    return sim, sim.summary(expected)


def _warn_if_unconverged(run: LoadedRun) -> None:
    if not run.converged:
        log.warning("this run FAILED its convergence gate: treat its numbers with suspicion")
