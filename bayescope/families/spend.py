"""The post-campaign spend workflow: campaign table -> hurdle fit -> run directory -> answers.

``fit_spend`` holds out a random share of customers (seeded; 20% by default), fits the hurdle
log-normal model on the rest, and writes ``RUN_DIR/posterior.nc`` (posterior, the whole table
in ``constant_data`` with a holdout flag, the feature scaling), ``summary.json`` and, with a
holdout, ``metrics.json`` (bayescope against OLS, log-OLS and a gradient-boosting two-part
model). ``predict_spend_run`` scores new customers; the CLI, the report and the API call them.
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

from bayescope.data.campaign_spend import (
    CAMPAIGNS,
    FEATURE_RULES,
    TARGET,
    load_campaign_table,
    validate_campaign_columns,
    validate_campaign_table,
)
from bayescope.data.holdout import split_holdout
from bayescope.data.spend_features import FEATURES, LOG1P_COLUMNS, FeatureScaling, Table
from bayescope.data.table_chunks import read_source
from bayescope.data.validation import raise_for_repeated_ids, raise_outside_ranges, scorable_range
from bayescope.errors import ArtifactError, BayescopeInputError, describe_rows
from bayescope.families.base import (
    Estimator,
    PredictOptions,
    Progress,
    read_dask_output,
    reject_options,
)
from bayescope.families.serving import (
    artifact_info,
    instance_columns,
    json_number,
    records,
    reject_query,
)
from bayescope.files import atomic_write_frame, atomic_write_text
from bayescope.inference.artifacts import (
    Artifact,
    flat_posterior,
    load_artifact,
    run_attrs,
    save_artifact,
)
from bayescope.inference.dask_engine import check_engine, dask_client
from bayescope.inference.partitioned_output import ScoredTable, score_table_on_dask
from bayescope.inference.predictive import n_draws, thin_draws
from bayescope.inference.sampling import FitResult, fit_model
from bayescope.inference.spend_prediction import PREDICTION_DRAWS, predict_spend
from bayescope.models.spend_hurdle import HurdleSpendModel, SpendDesign
from bayescope.posterior_reports.diagnostics import labelled_draws, parameter_summary
from bayescope.posterior_reports.html import ReportContent
from bayescope.posterior_reports.spend_holdout import evaluate_spend_holdout
from bayescope.posterior_reports.spend_report import build_spend_report

log = logging.getLogger(__name__)

NUMERIC_COLUMNS = tuple(FEATURE_RULES)
MIN_TRAIN = 50


@dataclass
class SpendFitSettings:
    """Sampler settings and the holdout share."""

    draws: int = 1000
    chains: int = 4
    seed: int = 0
    holdout_share: float = 0.2
    progress: bool = True

    def stored(self) -> dict[str, Any]:
        """The settings stored with the run (restored by ``bayescope.load``)."""
        return {"draws": self.draws, "chains": self.chains, "seed": self.seed,
                "holdout_share": self.holdout_share}


def fit_spend(table: pd.DataFrame, settings: SpendFitSettings, run_dir: str | Path
              ) -> tuple[FitResult, dict[str, Any]]:
    """Fit the hurdle model to a validated campaign table and write the run directory."""
    rng = np.random.default_rng(settings.seed)
    holdout = split_holdout(len(table), settings.holdout_share, rng)
    train = table[~holdout].reset_index(drop=True)
    if len(train) < MIN_TRAIN or (train[TARGET] > 0).sum() < 10:
        raise BayescopeInputError(
            f"too little data to fit: {len(train)} training rows, "
            f"{int((train[TARGET] > 0).sum())} with spend (need {MIN_TRAIN} and 10)",
            field=TARGET)
    scaling = FeatureScaling.fit(train)
    spec = HurdleSpendModel()
    design = SpendDesign.from_table(train, scaling)
    log.info("fitting %s on %d customers (%d held out), %.1f%% with spend", spec.name,
             len(train), int(holdout.sum()), 100 * (train[TARGET] > 0).mean())
    result = fit_model(spec.build(design), spec.gate_names, "nuts", settings.draws,
                       chains=settings.chains, seed=settings.seed, progress=settings.progress,
                       cache_key=spec.cache_key)
    posterior = labelled_draws(result.idata["posterior"], spec.summary_names)
    summary = {
        "model": spec.name, "kind": spec.kind, "n_train": len(train),
        "n_holdout": int(holdout.sum()), "converged": result.gate.passed,
        "fit_seconds": round(result.seconds, 2), "diagnostics": result.gate.to_dict(),
        "parameters": parameter_summary(posterior, tuple(posterior)),
    }
    identified = treatment_identified(train)
    if not identified:
        log.warning("no campaign has both mailed and control customers: the treatment effect "
                    "and the uplift cannot be learned from these data (reported as missing)")
    summary["treatment_identified"] = identified
    attrs = run_attrs(kind=spec.kind, model=spec.name, method="nuts", gate=result.gate.to_dict(),
                      seed=settings.seed, settings=settings.stored(),
                      treatment_identified=identified, features=list(FEATURES),
                      campaigns=list(CAMPAIGNS), scaling=scaling.to_dict(),
                      holdout_share=settings.holdout_share)
    run_dir = Path(run_dir)
    save_artifact(run_dir, result.idata, table_arrays(table, holdout), attrs)
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    if holdout.any():
        flat = flat_posterior(result.idata["posterior"].to_dataset())
        metrics = evaluate_spend_holdout(flat, scaling, train, table[holdout].reset_index(
            drop=True), seed=settings.seed).metrics
        atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    return result, summary


def treatment_identified(table: pd.DataFrame) -> bool:
    """Whether some campaign has both mailed and control customers (else no uplift)."""
    arms = table.groupby("campaign_id")["treatment_group"].nunique()
    return bool((arms > 1).any())


def table_arrays(table: pd.DataFrame, holdout: np.ndarray) -> dict[str, np.ndarray]:
    """The per-customer arrays stored with a spend fit (the whole table and the split)."""
    arrays: dict[str, np.ndarray] = {
        "customer_id": table["customer_id"].to_numpy().astype(str),
        "campaign": pd.Categorical(table["campaign_id"], categories=CAMPAIGNS).codes.astype(int),
        "campaign_send_day": (table["campaign_send_date"].to_numpy("datetime64[D]")
                              .astype(np.int64)),
        "in_holdout": holdout.astype(int),
    }
    for column in (*NUMERIC_COLUMNS, TARGET):
        arrays[column] = table[column].to_numpy(float)
    return arrays


def table_from_arrays(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """Inverse of :func:`table_arrays` (without the split flag)."""
    table = pd.DataFrame({
        "customer_id": arrays["customer_id"],
        "campaign_id": np.asarray(CAMPAIGNS)[arrays["campaign"]],
        "campaign_send_date": pd.to_datetime(arrays["campaign_send_day"], unit="D"),
    })
    for column in (*NUMERIC_COLUMNS, TARGET):
        table[column] = arrays[column]
    table["treatment_group"] = table["treatment_group"].astype(int)
    table["customer_tenure_days"] = table["customer_tenure_days"].astype(int)
    return table


@dataclass
class SpendRun:
    """A stored spend fit: posterior draws by name, the feature scaling, the data, metadata."""

    artifact: Artifact

    @property
    def posterior(self) -> dict[str, np.ndarray]:
        """Flat draws (draws, ...) of every stored variable."""
        return self.artifact.posterior

    @property
    def scaling(self) -> FeatureScaling:
        """Training feature means and scales."""
        return FeatureScaling.from_dict(json.loads(self.artifact.attrs["scaling"]))

    @property
    def table(self) -> pd.DataFrame:
        """The table the run was fitted on (training and holdout rows)."""
        return table_from_arrays(self.artifact.arrays)

    def input_ranges(self) -> dict[str, tuple[float, float]]:
        """Per numeric feature, the values the model scores: the training range widened by
        its own width on each side (:func:`predict_spend_run` refuses the rest)."""
        return {column: scorable_range(self.artifact.arrays[column], column in LOG1P_COLUMNS)
                for column in NUMERIC_COLUMNS}

    @property
    def treatment_identified(self) -> bool:
        """False when the training data had no treatment contrast (uplift not learnable)."""
        return bool(int(self.artifact.attrs.get("treatment_identified", 1)))

    @property
    def holdout_mask(self) -> np.ndarray:
        """Rows held out of the fit."""
        return self.artifact.arrays["in_holdout"].astype(bool)


def load_spend_run(run_dir: str | Path, artifact: Artifact | None = None) -> SpendRun:
    """Load a spend run (or wrap ``artifact``, already read); refuses other model families."""
    artifact = artifact or load_artifact(run_dir)
    if artifact.kind != "spend":
        raise ArtifactError(f"{run_dir} is a {artifact.kind} run, not a spend fit",
                            field="run_dir")
    return SpendRun(artifact)


def predict_spend_run(run: SpendRun, table: Table, seed: int = 0,
                      max_draws: int = PREDICTION_DRAWS, progress: Any = None,
                      warn: bool = True, row_offset: int = 0,
                      thinned: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Per-customer predictions for a validated table (the target column may be absent).

    Numeric inputs beyond :meth:`SpendRun.input_ranges` are refused naming the column, the
    range and the rows (numbered from ``row_offset``: 0 for API instances, a file's first row
    number for files), and so is any row whose prediction would not be finite: no output
    ever carries a NaN or an infinity. ``thinned``: draws already thinned (the Dask engine
    thins once for all its parts), used whole.
    """
    if seed < 0:
        raise BayescopeInputError("--seed must be a non-negative integer", field="seed")
    if warn and not run.artifact.converged:
        log.warning("this run FAILED its convergence gate: treat its numbers with suspicion")
    raise_outside_ranges(table, run.input_ranges(), row_offset)
    design = SpendDesign.from_table(table, run.scaling)
    posterior = run.posterior if thinned is None else thinned
    frame = predict_spend(posterior, design, np.asarray(table["customer_id"]), seed=seed,
                          max_draws=max_draws if thinned is None else n_draws(thinned),
                          progress=progress)
    scored = frame[["spend_mean", "spend_median", "spend_low", "spend_high", "p_positive"]]
    broken = np.flatnonzero(~np.isfinite(scored.to_numpy(float)).all(axis=1)) + row_offset
    if broken.size:
        raise BayescopeInputError(f"the prediction is not a finite number for rows "
                                  f"{describe_rows(broken.tolist())}: their inputs lie where "
                                  "the model cannot score", field="instances",
                                  rows=broken.tolist())
    if not run.treatment_identified:
        # The treatment effect is prior-only: an uplift from it would be made up.
        frame[["uplift_mean", "uplift_low", "uplift_high"]] = np.nan
    return frame


def _predict_partition(raw: pd.DataFrame, first_row: int, number: int,
                       shared: tuple[SpendRun, Mapping[str, np.ndarray], int]
                       ) -> tuple[pd.DataFrame, np.ndarray]:
    run, thinned, seed = shared
    table = validate_campaign_table(raw, require_target=False, row_offset=first_row)
    part_seed = int(np.random.SeedSequence([seed, number]).generate_state(1)[0])
    frame = predict_spend_run(run, table, seed=part_seed, warn=False, row_offset=first_row,
                              thinned=thinned)
    return frame, pd.util.hash_array(table["customer_id"].to_numpy())


def predict_spend_on_dask(run: SpendRun, source: str | Path, out: str | Path,
                          seed: int = 0) -> ScoredTable:
    """:func:`predict_spend_run` of a file, glob or folder of parts on the current Dask
    cluster, each worker writing its part of the Parquet folder ``out``.

    The draws are thinned here with ``seed``, as the pandas engine thins them, so the exact
    posterior means (``spend_mean``, ``p_positive``, ``uplift_mean``) equal its; part ``k``
    simulates its quantiles with a seed drawn from ``(seed, k)``: draws of the same
    distributions, not the same draws.

    Raises
    ------
    BayescopeInputError
        The first invalid part (file, column and file rows named), or a ``customer_id``
        repeated across parts; ``out`` is then untouched.
    """
    if seed < 0:
        raise BayescopeInputError("--seed must be a non-negative integer", field="seed")
    if not run.artifact.converged:
        log.warning("this run FAILED its convergence gate: treat its numbers with suspicion")

    def finish(extras: list[np.ndarray]) -> None:
        raise_for_repeated_ids(np.concatenate(extras))

    thinned = thin_draws(run.posterior, PREDICTION_DRAWS, np.random.default_rng(seed))
    return score_table_on_dask(source, _predict_partition, out, shared=(run, thinned, seed),
                               finish=finish)


class Spend(Estimator):
    """Post-campaign spend: a hurdle log-normal model with a campaign-varying treatment effect
    on both parts (:class:`~bayescope.models.spend_hurdle.HurdleSpendModel`), NUTS.

    Parameters
    ----------
    draws, chains
        NUTS draws per chain and chains.
    seed
        Seed of the holdout split and the sampler.
    holdout_share
        Share of customers held out for the comparison with OLS, log-OLS and boosting
        (0 fits on all).
    progress
        Show the sampler's progress bar.

    Examples
    --------
    >>> model = bs.Spend(draws=500).fit("campaign.csv")        # doctest: +SKIP
    >>> model.predict("new_customers.csv").head()              # doctest: +SKIP
    """

    kind = "spend"

    def __init__(self, *, draws: int = 1000, chains: int = 4, seed: int = 0,
                 holdout_share: float = 0.2, progress: bool = False) -> None:
        self.draws = draws
        self.chains = chains
        self.seed = seed
        self.holdout_share = holdout_share
        self.progress = progress

    def fit(self, table: pd.DataFrame | str | Path) -> Spend:
        """Fit on a campaign table (PostPilot schema; a DataFrame or a CSV/Parquet path)."""
        validated = validate_campaign_table(read_source(table))
        settings = SpendFitSettings(self.draws, self.chains, self.seed, self.holdout_share,
                                    self.progress)
        return self._fit_into_temporary(lambda work: fit_spend(validated, settings, work))

    def _attach_run(self, run_dir: Path, artifact: Artifact) -> None:
        self.run_ = load_spend_run(run_dir, artifact)

    def predict(self, table: pd.DataFrame | str | Path, seed: int = 0,
                progress: Progress | None = None, *, engine: str = "pandas",
                scheduler: str | None = None, out: str | Path | None = None) -> Any:
        """``customer_id, spend_mean, spend_median, spend_low, spend_high, p_positive,
        uplift_mean, uplift_low, uplift_high`` per customer (the target may be absent).

        With ``engine="dask"``, ``table`` is a file, glob or folder of parts predicted on a
        Dask cluster (the one at ``scheduler`` or a local one) into the Parquet folder
        ``out`` (:func:`predict_spend_on_dask`); returns a Dask DataFrame reading it.
        """
        self._require_fitted()
        reader = read_dask_output(out, engine, scheduler, source=table)
        if reader is not None:
            with dask_client(scheduler):
                predict_spend_on_dask(self.run_, str(table), str(out), seed)
            return reader()
        validated = validate_campaign_table(read_source(table), require_target=False)
        return predict_spend_run(self.run_, validated, seed=seed, progress=progress,
                                 row_offset=1)

    def write_predictions(self, out: Path, options: PredictOptions,
                          progress: Progress | None = None) -> str:
        """``bayescope predict RUN --data PATH``."""
        if options.data is None:
            raise BayescopeInputError("a spend run predicts for a table: pass --data PATH",
                                      field="data")
        reject_options(options, "spend", horizon="predicts the 30-day window it was fitted on",
                       top="predicts every customer of --data",
                       discount_rate="predicts a 30-day window",
                       pmf="predicts spend, not purchase counts")
        if options.engine == "dask":
            check_engine(options.engine, options.scheduler)
            with dask_client(options.scheduler):
                scored = predict_spend_on_dask(self.run_, options.data, out, options.seed)
            return f"wrote {scored.rows} customers to {out} in {scored.parts} Parquet part(s)"
        frame = self.predict(options.data, seed=options.seed, progress=progress)
        atomic_write_frame(frame, out)
        return f"wrote {len(frame)} customers to {out}"

    def _report_content(self, work: Path, holdout: str | Path | None, seed: int,
                        columns: dict[str, str | None]) -> ReportContent:
        table = load_campaign_table(holdout) if holdout is not None else None
        content = build_spend_report(self.run_, work, table, seed=seed)
        if holdout is not None:
            content.metrics["holdout_source"] = {"holdout_file": str(holdout)}
        return content

    def served(self, name: str, max_draws: int = 1000) -> ServedSpendModel:
        """The API's model object (also the default of ``POST /predict``)."""
        self._require_fitted()
        return ServedSpendModel(name, self.run_, self.run_dir_, max_draws)


@dataclass
class ServedSpendModel:
    """The hurdle spend model behind ``/v1/models/<name>:predict`` and ``/predict``."""

    name: str
    run: SpendRun
    run_dir: Path
    max_draws: int = 1000
    default_route: bool = True
    query_defaults: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """Model family."""
        return "spend"

    def info(self) -> dict[str, Any]:
        """Name, kind, versions, training time and gate verdict."""
        stored = n_draws(self.run.artifact.posterior)
        return {**artifact_info(self.name, self.kind, self.run.artifact),
                "draws_used": min(stored, self.max_draws)}

    def schema(self) -> dict[str, Any]:
        """JSON schema of one instance (also used in the OpenAPI description)."""
        properties: dict[str, Any] = {
            "customer_id": {"type": "string", "minLength": 1,
                            "description": "unique within a request (a repeat is a 422)"},
            "campaign_id": {"type": "string", "enum": list(CAMPAIGNS)},
            "campaign_send_date": {"type": "string", "format": "date"},
        }
        for column, rule in FEATURE_RULES.items():
            spec: dict[str, Any] = {"type": "integer" if rule.integer else "number",
                                    "description": f"must be {rule.describe()}"}
            if rule.low > float("-inf"):
                spec["minimum"] = rule.low
            if rule.high < float("inf"):
                spec["maximum"] = rule.high
            properties[column] = spec
        return {"type": "object", "required": list(properties), "properties": properties}

    def outputs(self) -> dict[str, str]:
        """What each prediction field means."""
        return {
            "mean": "posterior mean of the expected 30-day spend",
            "median": "median of the posterior-predictive spend",
            "low": "5% quantile of the posterior-predictive spend",
            "high": "95% quantile of the posterior-predictive spend",
            "p_positive": "posterior mean of P(spend > 0)",
            "uplift_mean": "expected spend if mailed minus if not (posterior mean)",
            "uplift_low": "5% quantile of the uplift", "uplift_high": "95% quantile",
        }

    def output_types(self) -> dict[str, str]:
        """Every prediction field with its type; the uplift is null where it is not
        identified."""
        return {"customer_id": "string", **{
            name: "nullable number" if name.startswith("uplift") else "number"
            for name in self.outputs()}}

    def predict(self, instances: Sequence[Mapping[str, Any]], seed: int = 0,
                options: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Predictions for validated instances, in order."""
        reject_query(options)
        columns = instance_columns(instances, self.schema())
        table = validate_campaign_columns(columns, require_target=False, row_offset=0)
        frame = predict_spend_run(self.run, table, seed=seed, max_draws=self.max_draws,
                                  warn=False)
        names = {"customer_id": "customer_id", "mean": "spend_mean",
                 "median": "spend_median", "low": "spend_low", "high": "spend_high",
                 "p_positive": "p_positive", "uplift_mean": "uplift_mean",
                 "uplift_low": "uplift_low", "uplift_high": "uplift_high"}
        return records({key: [json_number(v) for v in frame[column].tolist()]
                        for key, column in names.items()})
