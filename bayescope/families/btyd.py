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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.rfm import (
    TIME_UNITS,
    RFMSummary,
    attach_holdout,
    check_summary,
)
from bayescope.data.rfm_dask import summarise_transactions_on_dask
from bayescope.data.table_chunks import read_source
from bayescope.data.transaction_summary import TransactionSummary, summarise_transactions
from bayescope.data.transactions import (
    TransactionColumns,
    load_transactions,
    validate_transactions,
)
from bayescope.data.validation import raise_outside_ranges, scorable_range
from bayescope.errors import BayescopeInputError
from bayescope.families.base import (
    Estimator,
    PredictOptions,
    Progress,
    read_dask_output,
    reject_options,
)
from bayescope.families.serving import artifact_info, records, reject_query
from bayescope.files import atomic_write_frame, atomic_write_text
from bayescope.inference.alive_simulation import AliveSimulation, simulate_alive
from bayescope.inference.artifacts import Artifact, run_attrs
from bayescope.inference.btyd_prediction import (
    PREDICTION_DRAWS,
    Discounting,
    customer_draws,
    partitions_by_triple,
    predict_customers,
    predict_partition,
    thin_draws,
)
from bayescope.inference.btyd_run import LoadedRun, load_posterior, save_posterior
from bayescope.inference.dask_engine import check_engine, dask_client
from bayescope.inference.partitioned_output import write_partitions_on_dask
from bayescope.inference.predictive import n_draws
from bayescope.inference.sampling import FitResult, fit_model
from bayescope.models.baselines.btyd import lifetimes_mle, other_family_mle
from bayescope.models.btyd import BTYDModel, purchase_model
from bayescope.models.gamma_gamma import GammaGammaModel
from bayescope.posterior_reports.btyd_assumptions import check_assumptions
from bayescope.posterior_reports.btyd_compare import ComparedRun, compare_runs
from bayescope.posterior_reports.btyd_holdout import evaluate_holdout
from bayescope.posterior_reports.btyd_plots import plot_holdout
from bayescope.posterior_reports.btyd_report import build_btyd_report
from bayescope.posterior_reports.diagnostics import parameter_summary
from bayescope.posterior_reports.html import ReportContent
from bayescope.posterior_reports.report import write_page

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

    def stored(self) -> dict[str, Any]:
        """The settings stored with the run (restored by ``bayescope.load``)."""
        return {"model": self.model, "time_unit": self.time_unit, "method": self.method,
                "draws": self.draws, "chains": self.chains, "seed": self.seed}


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
    data: TransactionSummary, settings: BTYDFitSettings, run_dir: str | Path,
    with_spend: bool = True,
) -> tuple[FitResult, dict[str, Any]]:
    """Fit a BTYD model to a summarised log and write the run directory.

    Returns the fit and the ``summary.json`` content.
    """
    rfm = data.rfm
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
    attrs = run_attrs(kind="btyd", model=spec.name, method=settings.method,
                      gate=result.gate.to_dict(), seed=settings.seed,
                      settings=settings.stored())
    history = data.history
    save_posterior(run_dir, result.idata, rfm, attrs, history)
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    if rfm.has_holdout:
        posterior = {k: np.asarray(result.idata["posterior"][k]).reshape(-1)
                     for k in spec.parameter_names}
        metrics = evaluate_holdout(spec, posterior, rfm, lifetimes_mle(rfm, settings.model),
                                   seed=settings.seed,
                                   other_family=other_family_mle(rfm, settings.model)).metrics
        metrics["assumptions"] = [check.to_dict() for check in check_assumptions(
            spec, posterior, rfm, history, np.random.default_rng(settings.seed)).checks]
        atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
        plot_holdout(metrics, run_dir / "plots")
    return result, summary


MAX_PMF = 1000
"""The largest ``--pmf``: P(X = n) columns for n = 0..1000 at most."""


def check_predict_options(spec: BTYDModel, horizon_days: float, top: int | None = None,
                          by: str = "purchases", discount_rate: float | None = None,
                          pmf: int | None = None) -> None:
    """One clear error for the first prediction option that cannot be used."""
    if pmf is not None and not (isinstance(pmf, int) and 0 <= pmf <= MAX_PMF):
        raise BayescopeInputError(f"--pmf must be an integer from 0 to {MAX_PMF}",
                                  field="pmf")
    if not horizon_days > 0 or not np.isfinite(horizon_days):
        raise BayescopeInputError("horizon must be a positive number of days", field="horizon")
    if by == "spend" and spec.spend is None:
        raise BayescopeInputError("--by spend needs a run fitted with purchase values",
                                  field="by")
    if by not in ("purchases", "spend"):
        raise BayescopeInputError(f"--by must be purchases or spend, got {by!r}", field="by")
    if top is not None and top < 1:
        raise BayescopeInputError("--top must be a positive integer", field="top")
    if discount_rate is not None and not 0 <= discount_rate < 1:
        raise BayescopeInputError("--discount-rate must be in [0, 1), e.g. 0.1 for 10%/year",
                                  field="discount_rate")


def _discounting(run: LoadedRun, discount_rate: float | None) -> Discounting | None:
    periods_per_day = 1.0 / TIME_UNITS[run.rfm.time_unit]
    return None if discount_rate is None \
        else Discounting(discount_rate, 365.25 * periods_per_day)


def predict_run(
    run: LoadedRun, spec: BTYDModel, horizon_days: float, top: int | None = None,
    by: str = "purchases", seed: int = 0, progress: Any = None,
    discount_rate: float | None = None, pmf: int | None = None,
) -> pd.DataFrame:
    """Per-customer predictions over ``horizon_days`` from a stored run.

    With ``discount_rate`` (annual, e.g. 0.1), spend columns are discounted present values;
    with ``pmf`` N, columns ``pmf_0`` .. ``pmf_N`` hold P(n purchases in the horizon).
    """
    check_predict_options(spec, horizon_days, top, by, discount_rate, pmf)
    _warn_if_unconverged(run)
    horizon = horizon_days / TIME_UNITS[run.rfm.time_unit]
    return predict_customers(spec, run.posterior, run.rfm, horizon, top=top, by=by, seed=seed,
                             progress=progress, discounting=_discounting(run, discount_rate),
                             pmf=pmf, max_draws=PREDICTION_DRAWS)


PARTITION_CUSTOMERS = 250_000
"""Customers per partition of the Dask engine's predictions."""


def _refuse_top_on_dask(top: int | None) -> None:
    if top is not None:
        raise BayescopeInputError("a top list ranks every customer in one process: drop "
                                  "--engine dask for --top", field="top")


def predict_run_on_dask(
    run: LoadedRun, spec: BTYDModel, horizon_days: float, out: str | Path, seed: int = 0,
    discount_rate: float | None = None, pmf: int | None = None, top: int | None = None,
    partition_customers: int = PARTITION_CUSTOMERS,
) -> tuple[int, int]:
    """:func:`predict_run` on the current Dask cluster, written by the workers as Parquet
    parts of ``partition_customers`` into the folder ``out``; returns (rows, parts).

    The draws are thinned here, as :func:`predict_run` thins them, and sent to each worker
    once, so every row equals the single-process one.
    """
    _refuse_top_on_dask(top)
    check_predict_options(spec, horizon_days, None, "purchases", discount_rate, pmf)
    _warn_if_unconverged(run)
    params = thin_draws(run.posterior, PREDICTION_DRAWS, np.random.default_rng(seed))
    horizon = horizon_days / TIME_UNITS[run.rfm.time_unit]
    parts = [(part, spec, horizon, _discounting(run, discount_rate), pmf)
             for part in partitions_by_triple(run.rfm, partition_customers)]
    written = write_partitions_on_dask(predict_partition, parts, out, shared=params)
    return written.rows, written.parts


def simulate_run(
    run: LoadedRun, spec: BTYDModel, customers: int, horizons: list[str], seed: int,
    runs: int = 1000, existing: bool = False,
) -> tuple[AliveSimulation, pd.DataFrame]:
    """Alive simulation from a stored run; the table also carries the closed-form expectation."""
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


def parse_horizons(at: str | Sequence[str]) -> list[str]:
    """``"10d,1y,10y,100y"`` (or a list of such strings) as a list; empty is one error."""
    horizons = [h.strip() for h in (at.split(",") if isinstance(at, str) else at)
                if str(h).strip()]
    if not horizons:
        raise BayescopeInputError("--at needs at least one horizon, e.g. 10d,1y,10y,100y",
                                  field="at")
    return horizons


class BTYD(Estimator):
    """Repeat purchasing: BG/NBD or MBG/NBD for purchases, Gamma-Gamma for spend per purchase
    (when purchase values are given), fitted on the customers' RFM sufficient statistics.

    Parameters
    ----------
    model
        ``"mbgnbd"`` (Batislam et al. 2007) or ``"bgnbd"`` (Fader, Hardie & Lee 2005).
    time_unit
        ``"W"`` (weeks) or ``"D"`` (days): the unit of recency, T and the rate.
    method
        ``"nuts"`` (full posterior), ``"psis"`` (the Laplace approximation corrected to the
        posterior by Pareto-smoothed importance sampling; NUTS where Pareto k says the
        correction cannot be trusted; seconds at a million customers) or ``"map"`` (posterior
        mode plus the uncorrected Laplace approximation).
    draws, chains, seed
        Sampler settings (NUTS: draws per chain; PSIS: draws in all).
    customer_col, time_col, value_col
        Column names of the transaction table; ``value_col=None`` fits purchases alone.
    progress
        Show the sampler's progress bar.

    Examples
    --------
    >>> model = bs.BTYD(draws=500).fit("transactions.csv", calibration_end="2024-06-30")
    ... # doctest: +SKIP
    >>> model.predict(horizon=365, top=100, by="spend")     # doctest: +SKIP
    """

    kind = "btyd"

    def __init__(self, *, model: str = "mbgnbd", time_unit: str = "W", method: str = "nuts",
                 draws: int = 1000, chains: int = 4, seed: int = 0,
                 customer_col: str = "CustomerID", time_col: str = "Timestamp",
                 value_col: str | None = "PurchaseValue", progress: bool = False) -> None:
        self.model = model
        self.time_unit = time_unit
        self.method = method
        self.draws = draws
        self.chains = chains
        self.seed = seed
        self.customer_col = customer_col
        self.time_col = time_col
        self.value_col = value_col
        self.progress = progress

    def _columns(self) -> TransactionColumns:
        return TransactionColumns(self.customer_col, self.time_col, self.value_col or None)

    def fit(self, transactions: pd.DataFrame | str | Path,
            calibration_end: str | None = None, *, engine: str = "pandas",
            scheduler: str | None = None) -> BTYD:
        """Fit on a transaction log (Klaviyo schema; a DataFrame or a CSV/Parquet path).

        Purchases after ``calibration_end`` (inclusive end of calibration) form the holdout
        that ``metrics.json`` scores; ``None`` calibrates on everything. With ``engine="dask"``
        the log (a file, a glob or a folder of parts) is read and summarised on a Dask cluster,
        the one at ``scheduler`` or a local one (:mod:`bayescope.data.rfm_dask`); only the
        per-customer statistics reach this process. Both engines give the same summary.
        """
        if self.model not in ("mbgnbd", "bgnbd"):
            raise BayescopeInputError(f"model must be mbgnbd or bgnbd, not {self.model!r}",
                                      field="model")
        check_engine(engine, scheduler)
        data = self._summarise(transactions, calibration_end, engine, scheduler)
        report = data.report
        if report.n_duplicates_dropped:
            log.warning("dropped %d exact duplicate rows of %d", report.n_duplicates_dropped,
                        report.n_rows_read)
        settings = BTYDFitSettings(self.model, self.time_unit, calibration_end, self.method,
                                   self.draws, self.chains, self.seed, self.progress)
        with_spend = bool(self.value_col)
        return self._fit_into_temporary(
            lambda work: fit_btyd(data, settings, work, with_spend=with_spend))

    def _summarise(self, transactions: pd.DataFrame | str | Path, calibration_end: str | None,
                   engine: str, scheduler: str | None) -> TransactionSummary:
        if engine == "dask":
            source = transactions if isinstance(transactions, pd.DataFrame) \
                else str(transactions)
            with dask_client(scheduler):
                return summarise_transactions_on_dask(source, self._columns(), self.time_unit,
                                                      calibration_end)
        tidy, report = validate_transactions(read_source(transactions), self._columns())
        return summarise_transactions(tidy, report, self.time_unit, calibration_end)

    def _attach_run(self, run_dir: Path, artifact: Artifact) -> None:
        self.run_ = load_posterior(run_dir, artifact)
        self.spec_ = BTYDModel.from_name(self.run_.model_name)

    def predict(self, horizon: float = 365, top: int | None = None, by: str = "purchases",
                discount_rate: float | None = None, seed: int = 0,
                progress: Progress | None = None, pmf: int | None = None, *,
                engine: str = "pandas", scheduler: str | None = None,
                out: str | Path | None = None) -> Any:
        """Per customer over ``horizon`` days: ``purchases``, ``spend`` and ``value``
        (``_mean, _low, _high``, 90%), ``p_alive``; with ``top``, ``p_in_top``, sorted by
        ``by``. With ``discount_rate`` (annual), spend is a discounted present value. With
        ``pmf`` N, ``pmf_0`` .. ``pmf_N``: P(n purchases in the horizon), posterior mean.

        With ``engine="dask"`` the customers are predicted on a Dask cluster (the one at
        ``scheduler`` or a local one) and written by the workers to the folder ``out`` as
        Parquet parts, customers sorted by (frequency, recency, T) so that each triple's
        closed forms are evaluated once; the rows equal the pandas engine's. Returns a Dask
        DataFrame reading ``out`` (a pandas DataFrame with the pandas engine).
        """
        self._require_fitted()
        reader = read_dask_output(out, engine, scheduler)
        if reader is None:
            return predict_run(self.run_, self.spec_, horizon, top=top, by=by, seed=seed,
                               progress=progress, discount_rate=discount_rate, pmf=pmf)
        self._predict_on_dask(str(out), horizon, by, seed, discount_rate, pmf, top, scheduler)
        return reader()

    def _predict_on_dask(self, out: str | Path, horizon: float, by: str, seed: int,
                         discount_rate: float | None, pmf: int | None, top: int | None,
                         scheduler: str | None) -> tuple[int, int]:
        """:func:`predict_run_on_dask` on the cluster at ``scheduler`` (or a local one), its
        options refused before a cluster starts; returns (rows, parts)."""
        _refuse_top_on_dask(top)
        check_predict_options(self.spec_, horizon, None, by, discount_rate, pmf)
        with dask_client(scheduler):
            return predict_run_on_dask(self.run_, self.spec_, horizon, out, seed=seed,
                                       discount_rate=discount_rate, pmf=pmf)

    def simulate_alive(self, customers: int = 100, at: str | Sequence[str] = "10d,1y,10y,100y",
                       runs: int = 1000, seed: int = 7, existing: bool = False
                       ) -> pd.DataFrame:
        """How many of ``customers`` new customers (or the existing ones) are alive and how
        many purchases they make by each horizon: one row per horizon (see the CLI)."""
        self._require_fitted()
        _, table = simulate_run(self.run_, self.spec_, customers, parse_horizons(at), seed,
                                runs, existing)
        return table

    def write_predictions(self, out: Path, options: PredictOptions,
                          progress: Progress | None = None) -> str:
        """``bayescope predict RUN --horizon DAYS [--top N --by ... --pmf N]``."""
        if options.horizon is None:
            raise BayescopeInputError("a repeat-purchase run needs --horizon DAYS",
                                      field="horizon")
        reject_options(options, "repeat-purchase",
                       data="predicts the customers it was fitted on")
        if options.engine == "dask":
            check_engine(options.engine, options.scheduler)
            rows, parts = self._predict_on_dask(
                out, options.horizon, options.by, options.seed, options.discount_rate,
                options.pmf, options.top, options.scheduler)
            return f"wrote {rows} customers to {out} in {parts} Parquet part(s)"
        frame = self.predict(options.horizon, options.top, options.by, options.discount_rate,
                             options.seed, progress, options.pmf)
        atomic_write_frame(frame, out)
        return f"wrote {len(frame)} customers to {out}"

    def _report_content(self, work: Path, holdout: str | Path | None, seed: int,
                        columns: dict[str, str | None]) -> ReportContent:
        holdout_rfm: RFMSummary | None = None
        notes: dict[str, Any] = {}
        if holdout is not None:
            names = TransactionColumns(columns.get("customer") or self.customer_col,
                                       columns.get("time") or self.time_col,
                                       columns.get("value", self.value_col) or None)
            transactions, report = load_transactions(holdout, names)
            attached = attach_holdout(self.run_.rfm, transactions)
            holdout_rfm = attached.rfm
            notes = {"holdout_file": str(holdout),
                     "transactions_used": attached.n_transactions_used,
                     "unknown_customers_ignored": attached.n_unknown_customers,
                     "rows_before_calibration_end_ignored": attached.n_before_calibration_end,
                     "duplicates_dropped": report.n_duplicates_dropped}
            if attached.n_unknown_customers:
                log.warning("holdout: %d customers were not in the fit and are ignored",
                            attached.n_unknown_customers)
        content = build_btyd_report(self.run_, self.spec_, work, holdout_rfm, seed=seed)
        if notes:
            content.metrics["holdout_source"] = notes
        return content

    def served(self, name: str, max_draws: int = 1000) -> ServedBTYDModel:
        """The API's model object (draws thinned once, here)."""
        self._require_fitted()
        return ServedBTYDModel(name, self.run_, self.spec_, max_draws)


def compare_btyd_runs(run_a: str | Path, run_b: str | Path, out: str | Path | None = None,
                      holdout: str | Path | None = None, seed: int = 0,
                      columns: Mapping[str, str | None] | None = None) -> Path:
    """``bayescope compare RUN_A RUN_B``: both repeat-purchase runs scored on one holdout
    (the stored one, or ``holdout``'s purchases after the calibration end), written as
    ``index.html`` + ``metrics.json`` + PNGs to ``out`` (default: beside ``RUN_A``,
    ``compare_<A>_vs_<B>``). Returns the page."""
    from bayescope.families import load

    sides = []
    for field_name, path in (("run_a", run_a), ("run_b", run_b)):
        model = load(path)
        if not isinstance(model, BTYD):
            raise BayescopeInputError(f"{path} is not a repeat-purchase (BTYD) run",
                                      field=field_name)
        sides.append(model)
    a = sides[0]
    names = [Path(run_a).resolve().name, Path(run_b).resolve().name]
    if names[0] == names[1]:
        names = [f"{names[0]} (A)", f"{names[1]} (B)"]
    rfms = [model.run_.rfm for model in sides]
    if holdout is not None:
        given = dict(columns or {})
        cols = TransactionColumns(given.get("customer") or a.customer_col,
                                  given.get("time") or a.time_col,
                                  given.get("value", a.value_col) or None)
        transactions, _ = load_transactions(holdout, cols)
        rfms = [attach_holdout(rfm, transactions).rfm for rfm in rfms]
    target = Path(out) if out is not None else (
        Path(run_a).resolve().parent / f"compare_{names[0]}_vs_{names[1]}".replace(" ", "_"))
    compared = [ComparedRun(name, model.spec_, model.run_.posterior, rfm)
                for name, model, rfm in zip(names, sides, rfms, strict=True)]
    return write_page(target, lambda work: compare_runs(compared[0], compared[1], work, seed))


SUMMARY_FIELDS = ("frequency", "recency", "T", "monetary_value")


@dataclass
class ServedBTYDModel:
    """A repeat-purchase run behind the model routes.

    An instance is ``{"customer_id"}`` of one of the run's customers, or ``{"frequency",
    "recency", "T", "monetary_value"}`` (the run's time unit; ``monetary_value`` the mean
    value of the repeat purchases, 0 without any). ``?horizon=`` is in days (365 by
    default). Predictions are closed forms per posterior draw (the draws thinned once at
    load to ``max_draws``), summarised as the mean and 90% interval.
    """

    name: str
    run: LoadedRun
    spec: BTYDModel
    max_draws: int = 1000
    default_route: bool = False
    query_defaults: Mapping[str, str] = field(default_factory=lambda: {"horizon": "365"})
    _params: dict[str, np.ndarray] = field(init=False, repr=False)
    _index: dict[str, int] = field(init=False, repr=False)
    _ranges: dict[str, tuple[float, float]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._params = thin_draws(self.run.posterior, self.max_draws, np.random.default_rng(0))
        self._index = {str(c): i for i, c in enumerate(self.run.rfm.customer_id)}
        self._ranges = {name: summary_range(getattr(self.run.rfm, name))
                        for name in SUMMARY_FIELDS}
        self._ranges["recency"] = self._ranges["T"]  # any recency up to T is a customer

    @property
    def kind(self) -> str:
        """Model family."""
        return "btyd"

    def info(self) -> dict[str, Any]:
        """Name, kind, versions, gate verdict, time unit and draws used."""
        return {**artifact_info(self.name, self.kind, self.run),
                "time_unit": self.run.rfm.time_unit, "draws_used": n_draws(self._params)}

    def schema(self) -> dict[str, Any]:
        """One of two instance shapes: a known customer, or a summary."""
        return {"oneOf": [
            {"type": "object", "required": ["customer_id"],
             "properties": {"customer_id": {"type": "string", "minLength": 1}}},
            {"type": "object", "required": list(SUMMARY_FIELDS), "properties": {
                "customer_id": {"type": "string"},
                "frequency": {"type": "integer", "minimum": 0,
                              "description": "repeat purchases in calibration"},
                "recency": {"type": "number", "minimum": 0,
                            "description": "first to last purchase (0 when frequency is 0)"},
                "T": {"type": "number", "minimum": 0,
                      "description": "first purchase to calibration end, >= recency"},
                "monetary_value": {"type": "number", "minimum": 0}}}],
            }

    def outputs(self) -> dict[str, str]:
        """What each prediction field means, in the order :meth:`predict` gives them."""
        out = {"purchases_mean": "expected purchases in the horizon (posterior mean)",
               "purchases_low": "5% posterior quantile", "purchases_high": "95% quantile",
               "p_alive_mean": "P(alive) at the calibration end (posterior mean)",
               "p_alive_low": "5% posterior quantile", "p_alive_high": "95% quantile"}
        if self.spec.spend is not None:
            out.update({"spend_mean": "expected spend in the horizon (posterior mean)",
                        "spend_low": "5% posterior quantile", "spend_high": "95% quantile"})
        out["pmf_0"] = "P(no purchase in the horizon) (posterior mean; predict --pmf's pmf_0)"
        return out

    def output_types(self) -> dict[str, str]:
        """Every prediction field with its type; a summary instance may have no
        ``customer_id``."""
        return {"customer_id": "nullable string", **dict.fromkeys(self.outputs(), "number")}

    def predict(self, instances: Sequence[Mapping[str, Any]], seed: int = 0,
                options: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Predictions for the instances, in order (``seed`` unused: closed forms)."""
        horizon_days = self._horizon({**self.query_defaults, **(options or {})})
        rfm = self._instances_rfm(instances)
        horizon = horizon_days / TIME_UNITS[rfm.time_unit]
        draws = customer_draws(self.spec, self._params, rfm, horizon,
                               np.arange(rfm.n_customers))
        columns: dict[str, list[Any]] = {"customer_id": [
            instance.get("customer_id") for instance in instances]}
        for quantity in ("purchases", "p_alive", "spend"):
            if quantity not in draws:
                continue
            low, high = np.quantile(draws[quantity], [0.05, 0.95], axis=0)
            columns[f"{quantity}_mean"] = draws[quantity].mean(axis=0).tolist()
            columns[f"{quantity}_low"] = low.tolist()
            columns[f"{quantity}_high"] = high.tolist()
        columns["pmf_0"] = self.spec.purchase.pmf(
            self._params, rfm.frequency, rfm.recency, rfm.T, horizon, 0.0).mean(axis=0).tolist()
        return records(columns)

    @staticmethod
    def _horizon(options: Mapping[str, str]) -> float:
        reject_query(options, allowed=("horizon",))
        raw = options["horizon"]
        try:
            days = float(raw)
        except ValueError:
            days = float("nan")
        if not (np.isfinite(days) and 0 < days <= 365.25 * 200):
            raise BayescopeInputError(f"horizon must be a number of days in (0, 73050], got "
                                      f"{str(raw)[:40]!r}", field="horizon")
        return days

    def _instances_rfm(self, instances: Sequence[Mapping[str, Any]]) -> RFMSummary:
        """The instances as RFM summaries: looked up by id, or checked as given."""
        stored = self.run.rfm
        rows = np.zeros((len(instances), 4))
        for k, instance in enumerate(instances):
            if not isinstance(instance, Mapping):
                raise BayescopeInputError(f"instance {k} is not a JSON object",
                                          field="instances", rows=[k])
            if all(name in instance for name in SUMMARY_FIELDS):
                label = instance.get("customer_id")
                if label is not None and not isinstance(label, str):
                    raise BayescopeInputError(f"instance {k}: customer_id must be a string "
                                              f"(or absent), got {str(label)[:40]!r}",
                                              field="customer_id", rows=[k])
                rows[k] = [_number(instance, name, k) for name in SUMMARY_FIELDS]
                check_summary(rows[k:k + 1], first_row=k, row_numbers=[k])
                continue
            if "customer_id" not in instance:
                missing = [name for name in SUMMARY_FIELDS if name not in instance]
                raise BayescopeInputError(
                    f"instance {k} needs customer_id or all of {', '.join(SUMMARY_FIELDS)} "
                    f"(lacks {missing[0]!r})", field=missing[0], rows=[k])
            key = instance["customer_id"]
            if not isinstance(key, str) or key not in self._index:
                raise BayescopeInputError(f"instance {k}: customer_id {str(key)[:40]!r} is not "
                                          "a customer of this run", field="customer_id",
                                          rows=[k])
            i = self._index[key]
            rows[k] = [stored.frequency[i], stored.recency[i], stored.T[i],
                       stored.monetary_value[i]]
        raise_outside_ranges(dict(zip(SUMMARY_FIELDS, rows.T, strict=True)), self._ranges, 0,
                             SUMMARY_RANGE)
        ids = np.asarray([str(instance.get("customer_id", "")) for instance in instances])
        return RFMSummary(ids, rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3],
                          stored.time_unit, stored.calibration_end, stored.observation_end)


SUMMARY_RANGE = ("0 to the larger of twice the training maximum and the training range "
                 "widened by its width")


def summary_range(values: np.ndarray) -> tuple[float, float]:
    """The summaries a served BTYD run scores, per field (:data:`SUMMARY_RANGE`).

    Far beyond the training customers the closed forms lose every digit (frequency 10^9
    over 10^12 periods gave a negative 5% quantile of purchases, T = 10^15 a NaN spend);
    anything from 0 is a customer the model describes (a customer acquired last week has a
    T below every training customer's), so only the top is held.
    """
    return (0.0, max(scorable_range(values)[1], 2.0 * float(np.nanmax(values))))


def _number(instance: Mapping[str, Any], name: str, index: int) -> float:
    value = instance[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise BayescopeInputError(f"field {name!r} of instance {index} must be a finite JSON "
                                  f"number, got {str(value)[:40]!r}", field=name, rows=[index])
    return float(value)
