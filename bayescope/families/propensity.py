"""The propensity workflow: customer table -> Laplace posterior + segments -> run -> scores.

``fit_propensity`` holds out a seeded share of customers (20% by default), fits the design,
the exact-Laplace logistic posterior and the segments on the rest, scores the held-out
customers against scikit-learn's logistic regression and gradient boosting, and writes
``RUN_DIR/posterior.nc`` (1,000 posterior draws; the Gaussian's mean and Cholesky factor,
the design and the segments in the attributes), ``summary.json`` and ``metrics.json``.
``score_run`` scores a file in row chunks: ``customer_id, p_mean, p_low, p_high, segment,
segment_name``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from bayescope.data.holdout import split_holdout
from bayescope.data.propensity_features import PropensityDesign, scorable_ranges
from bayescope.data.propensity_table import (
    CATEGORICAL,
    FEATURES,
    NUMERIC,
    TARGET,
    validate_propensity_columns,
)
from bayescope.data.table_chunks import read_source
from bayescope.errors import ArtifactError, BayescopeInputError
from bayescope.families.base import (
    Estimator,
    PredictOptions,
    Progress,
    read_dask_output,
    reject_options,
)
from bayescope.families.propensity_batch import (
    SCORE_COLUMNS,
    PropensityScorer,
    score_file,
    score_on_dask,
    score_run,
)
from bayescope.families.propensity_drift import (
    PROFILE_ATTR,
    drift_check,
    population_profile,
    stored_profile,
)
from bayescope.families.serving import (
    artifact_info,
    instance_columns,
    records,
    reject_query,
)
from bayescope.files import atomic_write_text
from bayescope.inference.artifacts import Artifact, load_artifact, run_attrs, save_artifact
from bayescope.inference.propensity_scoring import score_exact
from bayescope.models.baselines.propensity import classical_probabilities
from bayescope.models.propensity_logistic import (
    LaplacePosterior,
    fit_laplace,
    prior_mean,
    prior_sd,
)
from bayescope.models.segments import SegmentModel, fit_segments
from bayescope.posterior_reports.binary import binary_metrics, reliability_table
from bayescope.posterior_reports.html import ReportContent
from bayescope.posterior_reports.propensity_report import build_propensity_report
from bayescope.posterior_reports.ranking import decile_table

log = logging.getLogger(__name__)

STORED_DRAWS = 1000


@dataclass
class PropensityFitSettings:
    """Seed and holdout share."""

    seed: int = 0
    holdout_share: float = 0.2


def _take(columns: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in columns.items()}


def fit_propensity(columns: dict[str, np.ndarray], settings: PropensityFitSettings,
                   run_dir: str | Path, previous: PropensityRun | None = None
                   ) -> dict[str, Any]:
    """Fit on validated columns (:func:`validate_propensity_columns`) and write the run.

    With ``previous`` (last month's run), the table is also checked for drift against it
    (:mod:`bayescope.families.propensity_drift`) and the result goes to ``metrics.json["drift"]``.
    """
    rng = np.random.default_rng(settings.seed)
    holdout = split_holdout(len(columns["customer_id"]), settings.holdout_share, rng)
    train = _take(columns, ~holdout)
    y = train[TARGET].astype(float)
    if len(y) < 100 or not 0 < y.sum() < len(y):
        raise BayescopeInputError("need at least 100 training customers with both outcomes",
                                  field=TARGET)
    design, x, y, posterior = fit_posterior(train)
    design.ranges = scorable_ranges(columns)  # the whole file it was fitted from is scorable
    segments = fit_segments(x, design.names, rng)
    log.info("Laplace posterior in %d Newton steps; %d segments (ARI %s)",
             posterior.iterations, segments.k,
             ", ".join(f"{a:.3f}" for a in segments.stability_ari))
    summary = {"model": "laplace_logistic", "kind": "propensity", "n_train": len(y),
               "n_holdout": int(holdout.sum()), "newton_steps": posterior.iterations,
               "segments": segments.k, "segment_names": segments.segment_names,
               "stability_ari": segments.stability_ari}
    x_all, unseen = design.transform(columns)
    p_all = score_exact(x_all, posterior.mean, posterior.chol)[0]
    profile = population_profile(columns, p_all, segments.assign(x_all), segments.k)
    # Before anything is written: the previous run may live in the same folder.
    drift = None
    if previous is not None:
        # Drift measures the very shift (a column now in cents) that the range check refuses.
        drift = drift_check(previous, columns, p_all,
                            *score_run(previous, columns, within_training=False))
    if drift is not None:
        summary["drift"] = {"worst_feature": drift["worst_feature"],
                            "features_major": drift["features_major"],
                            "propensity_psi": drift["propensity"]["psi"],
                            "segments_psi": drift["segments"]["psi"]}
    draws = posterior.draws(STORED_DRAWS, rng)
    idata = az.from_dict({"posterior": {"beta": draws[None]}},
                         dims={"beta": ["coefficient"]},
                         coords={"coefficient": ["intercept", *design.names]})
    attrs = run_attrs(kind="propensity", model="laplace_logistic", method="laplace",
                      gate={"method": "laplace", "passed": True,
                            "newton_steps": posterior.iterations},
                      seed=settings.seed, settings={"seed": settings.seed,
                                                    "holdout_share": settings.holdout_share},
                      design=json.dumps(design.to_dict()),
                      segments=json.dumps(segments.to_dict()),
                      laplace_mean=json.dumps(posterior.mean.tolist()),
                      laplace_chol=json.dumps(posterior.chol.tolist()),
                      **{PROFILE_ATTR: json.dumps(profile)})
    arrays = {"customer_id": columns["customer_id"].astype(str),
              TARGET: columns[TARGET].astype(float), "in_holdout": holdout.astype(int)}
    run_dir = Path(run_dir)
    save_artifact(run_dir, idata, arrays, attrs)
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    metrics: dict[str, Any] = {"segments": segment_profiles(segments, train, x, posterior, rng)}
    if holdout.any():
        metrics.update(evaluate_holdout(columns, holdout, design, posterior, x_all, unseen,
                                        p_all, settings.seed))
    if drift is not None:
        metrics["drift"] = drift
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    return summary


PROFILE_FEATURES = ("sessions_30d", "days_since_last_session", "orders_12m",
                    "days_since_last_order", "total_spend_12m", "avg_order_value",
                    "cart_adds_30d", "email_clicks_90d", "discount_usage_rate", "tenure_days")


def segment_profiles(segments: SegmentModel, train: dict[str, np.ndarray], x: np.ndarray,
                     posterior: LaplacePosterior, rng: np.random.Generator,
                     draws: int = 400, rows: int = 5_000) -> list[dict[str, Any]]:
    """Per segment: name, description, size, median profile, mean propensity with 90% interval.

    The propensity interval is over posterior draws of the segment's mean probability
    (customers of the segment, up to ``rows`` of them).
    """
    beta = posterior.draws(draws, rng)
    out = []
    for segment in range(segments.k):
        members = np.flatnonzero(segments.labels_ == segment)
        if members.size == 0:
            continue
        sample = rng.choice(members, min(rows, members.size), replace=False)
        eta = beta[:, 0][:, None] + beta[:, 1:] @ x[sample].T
        mean_p = (1.0 / (1.0 + np.exp(-eta))).mean(axis=1)
        low, high = np.quantile(mean_p, [0.05, 0.95])
        out.append({
            "segment": segment, "name": segments.segment_names[segment],
            "description": segments.descriptions[segment],
            "customers": int(members.size), "share": float(members.size / len(x)),
            "propensity_mean": float(mean_p.mean()), "propensity_low": float(low),
            "propensity_high": float(high),
            "observed_rate": float(train[TARGET][members].mean()),
            "profile_medians": {f: float(np.nanmedian(train[f][members]))
                                for f in PROFILE_FEATURES},
        })
    return out


def fit_posterior(train: dict[str, np.ndarray]
                  ) -> tuple[PropensityDesign, np.ndarray, np.ndarray, LaplacePosterior]:
    """The design fitted on ``train``, its matrix, the outcome and the Laplace posterior."""
    design = PropensityDesign.fit(train)
    x, _ = design.transform(train)
    y = train[TARGET].astype(float)
    posterior = fit_laplace(x, y, prior_mean(y.mean(), x.shape[1]),
                            prior_sd(design.n_standardised, x.shape[1]))
    return design, x, y, posterior


def evaluate_holdout(columns: dict[str, np.ndarray], holdout: np.ndarray,
                     design: PropensityDesign, posterior: LaplacePosterior,
                     x_all: np.ndarray, unseen: dict[str, int], p_all: np.ndarray,
                     seed: int) -> dict[str, Any]:
    """ROC-AUC, PR-AUC, Brier, log score, ECE of ours, logistic regression and boosting.

    ``x_all``, ``unseen`` and ``p_all`` are the design matrix, unseen-level counts and our
    posterior mean probabilities of every row, computed once by the fit (training rows have
    no unseen levels: the levels come from them).
    """
    held = _take(columns, holdout)
    outcome = held[TARGET]
    x, x_held = x_all[~holdout], x_all[holdout]
    y = columns[TARGET][~holdout].astype(float)
    raw = pd.DataFrame({c: columns[c] for c in FEATURES})
    predictions = {"bayescope": p_all[holdout],
                   **classical_probabilities(x, y, x_held, raw, holdout, CATEGORICAL, seed)}
    rng = np.random.default_rng(seed)
    return {"n_holdout": int(holdout.sum()), "unseen_levels": unseen,
            "comparison": {name: binary_metrics(outcome, p) for name, p in
                           predictions.items()},
            "reliability": {name: reliability_table(outcome, p) for name, p in
                            predictions.items()},
            "deciles": {name: decile_table(outcome, p, rng=np.random.default_rng(seed))
                        for name, p in predictions.items()},
            "group_importance": group_importance(design, posterior, x, rng),
            "permutation_importance": permutation_importance(design, posterior, held, rng)}


def group_importance(design: PropensityDesign, posterior: LaplacePosterior, x: np.ndarray,
                     rng: np.random.Generator, rows: int = 20_000, draws: int = 400
                     ) -> list[dict[str, Any]]:
    """Standardised effect of each feature group, with its posterior interval.

    Per posterior draw, the sd across customers of the group's contribution ``x_g . b_g`` to
    the log-odds: how far the group moves customers apart, on one scale for every group
    (numeric columns are standardised; categoricals are indicators).
    """
    sample = x[rng.choice(len(x), min(rows, len(x)), replace=False)]
    beta = posterior.draws(draws, rng)[:, 1:]
    groups = np.asarray(design.groups)
    out = []
    for group in dict.fromkeys(design.groups):
        columns = np.flatnonzero(groups == group)
        spread = (sample[:, columns] @ beta[:, columns].T).std(axis=0)
        low, high = np.quantile(spread, [0.05, 0.95])
        out.append({"group": group, "columns": int(columns.size),
                    "sd_of_log_odds_mean": float(spread.mean()),
                    "low": float(low), "high": float(high)})
    return sorted(out, key=lambda r: -r["sd_of_log_odds_mean"])


def permutation_importance(design: PropensityDesign, posterior: LaplacePosterior,
                           held: dict[str, np.ndarray], rng: np.random.Generator,
                           rows: int = 20_000, repeats: int = 3) -> list[dict[str, Any]]:
    """Drop in held-out ROC-AUC when one raw feature is shuffled (mean and sd over repeats)."""
    from sklearn.metrics import roc_auc_score

    n = len(held["customer_id"])
    index = rng.choice(n, min(rows, n), replace=False)
    sample = {k: v[index] for k, v in held.items()}
    outcome = sample[TARGET]
    if not 0 < outcome.sum() < outcome.size:
        return []

    def auc(columns: dict[str, np.ndarray]) -> float:
        x, _ = design.transform(columns)
        return float(roc_auc_score(outcome, score_exact(x, posterior.mean, posterior.chol)[0]))

    base = auc(sample)
    out = []
    for feature in FEATURES:
        drops = []
        for _ in range(repeats):
            shuffled = dict(sample)
            shuffled[feature] = sample[feature][rng.permutation(outcome.size)]
            drops.append(base - auc(shuffled))
        out.append({"feature": feature, "auc_drop_mean": float(np.mean(drops)),
                    "auc_drop_sd": float(np.std(drops, ddof=1))})
    return sorted(out, key=lambda r: -r["auc_drop_mean"])


@dataclass
class PropensityRun:
    """A stored propensity fit."""

    artifact: Artifact
    run_dir: Path

    @property
    def metrics_path(self) -> Path:
        """``RUN_DIR/metrics.json`` (written by the fit)."""
        return self.run_dir / "metrics.json"

    @property
    def design(self) -> PropensityDesign:
        """The training-fitted design transform."""
        return PropensityDesign.from_dict(json.loads(self.artifact.attrs["design"]))

    @property
    def gaussian(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and Cholesky factor of the Laplace posterior."""
        attrs = self.artifact.attrs
        return (np.asarray(json.loads(attrs["laplace_mean"])),
                np.asarray(json.loads(attrs["laplace_chol"])))

    @property
    def segments(self) -> SegmentModel:
        """The fitted segmentation (centres and names)."""
        data = json.loads(self.artifact.attrs["segments"])
        return SegmentModel(data["columns"], data["names"], np.asarray(data["centres"]),
                            np.zeros(0, int), data["segment_names"], data["descriptions"],
                            {int(k): v for k, v in data["silhouette_by_k"].items()},
                            data["stability_ari"])


def load_propensity_run(run_dir: str | Path, artifact: Artifact | None = None
                        ) -> PropensityRun:
    """Load a propensity run (or wrap ``artifact``, already read); refuses other families."""
    artifact = artifact or load_artifact(run_dir)
    if artifact.kind != "propensity":
        raise ArtifactError(f"{run_dir} is a {artifact.kind} run, not a propensity fit",
                            field="run_dir")
    return PropensityRun(artifact, Path(run_dir))


class Propensity(Estimator):
    """Purchase propensity: Bayesian logistic regression on the documented design with an
    exact Laplace posterior (:mod:`bayescope.models.propensity_logistic`), plus explainable
    segments (:mod:`bayescope.models.segments`).

    Parameters
    ----------
    seed
        Seed of the holdout split, the posterior draws and the segments.
    holdout_share
        Share of customers held out for the comparison with scikit-learn's logistic
        regression and gradient boosting (0 fits on all).

    Examples
    --------
    >>> model = bs.Propensity().fit("customers.parquet")     # doctest: +SKIP
    >>> model.predict("next_month.parquet").head()           # doctest: +SKIP
    """

    kind = "propensity"

    def __init__(self, *, seed: int = 0, holdout_share: float = 0.2) -> None:
        self.seed = seed
        self.holdout_share = holdout_share

    def fit(self, table: pd.DataFrame | str | Path,
            previous: Propensity | str | Path | None = None) -> Propensity:
        """Fit on a customer table (ShopSphere schema; a DataFrame or a CSV/Parquet path).

        ``previous`` (last month's fitted estimator or run directory) adds the drift check
        against the profile it stored to ``metrics_["drift"]``.
        """
        last = None
        if isinstance(previous, Propensity):
            previous._require_fitted()
            last = previous.run_
        elif previous is not None:
            last = load_propensity_run(previous)
        if last is not None:
            stored_profile(last)
        columns = validate_propensity_columns(read_source(table))
        settings = PropensityFitSettings(self.seed, self.holdout_share)
        return self._fit_into_temporary(
            lambda work: fit_propensity(columns, settings, work, last))

    def _attach_run(self, run_dir: Path, artifact: Artifact) -> None:
        self.run_ = load_propensity_run(run_dir, artifact)

    def predict(self, table: pd.DataFrame | str | Path, *, engine: str = "pandas",
                scheduler: str | None = None, out: str | Path | None = None) -> Any:
        """``customer_id, p_mean, p_low, p_high, segment, segment_name`` per customer
        (90% interval; the target column may be absent).

        With ``engine="dask"``, ``table`` is a file, glob or folder of parts scored on a Dask
        cluster (the one at ``scheduler`` or a local one) into the Parquet folder ``out``;
        returns a Dask DataFrame reading it.
        """
        self._require_fitted()
        reader = read_dask_output(out, engine, scheduler, source=table)
        if reader is not None:
            score_on_dask(self.run_, str(table), str(out), scheduler)
            return reader()
        columns = validate_propensity_columns(read_source(table), require_target=False)
        frame, _ = score_run(self.run_, columns, row_offset=1)
        return frame[SCORE_COLUMNS]

    def write_predictions(self, out: Path, options: PredictOptions,
                          progress: Progress | None = None) -> str:
        """``bayescope predict RUN --data PATH`` (``bayescope score`` streams large files)."""
        if options.data is None:
            raise BayescopeInputError("a propensity run scores a table: pass --data PATH",
                                      field="data")
        reject_options(options, "propensity", horizon="scores a 30-day window",
                       top="scores every customer of --data", discount_rate="scores "
                       "probabilities", pmf="scores the probability of any purchase")
        report = score_file(self.run_, options.data, out, engine=options.engine,
                            scheduler=options.scheduler,
                            progress=None if progress is None else lambda k: progress(k, None))
        return f"wrote {report.rows} customers to {out} in {report.chunks} chunk(s)"

    def _report_content(self, work: Path, holdout: str | Path | None, seed: int,
                        columns: dict[str, str | None]) -> ReportContent:
        if holdout is not None:
            raise BayescopeInputError("--holdout is not supported for propensity runs yet: "
                                      "the fit's held-out customers are scored",
                                      field="holdout")
        return build_propensity_report(self.run_, work)

    def served(self, name: str, max_draws: int = 1000) -> ServedPropensityModel:
        """The API's model object."""
        self._require_fitted()
        return ServedPropensityModel(name, self.run_, self.run_dir_)


@dataclass
class ServedPropensityModel:
    """The purchase-propensity model (with its segments) behind the same routes."""

    name: str
    run: PropensityRun
    run_dir: Path
    scorer: PropensityScorer = field(init=False)
    default_route: bool = False
    query_defaults: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scorer = PropensityScorer.from_run(self.run)

    @property
    def kind(self) -> str:
        """Model family."""
        return "propensity"

    def info(self) -> dict[str, Any]:
        """Name, kind, versions, training time and gate verdict."""
        return artifact_info(self.name, self.kind, self.run.artifact)

    def schema(self) -> dict[str, Any]:
        """JSON schema of one instance: null allowed exactly where the brief allows it."""
        properties: dict[str, Any] = {"customer_id": {
            "type": "string", "minLength": 1,
            "description": "unique within a request (a repeat is a 422)"}}
        for column in CATEGORICAL:
            properties[column] = {"type": ["string", "null"]}
        for column, rule in NUMERIC.items():
            kind = "integer" if rule.integer else "number"
            properties[column] = {"type": [kind, "null"] if rule.missing_allowed else kind,
                                  "minimum": rule.low, "maximum": rule.high,
                                  "description": f"must be {rule.describe()}"}
        return {"type": "object", "required": list(properties), "properties": properties}

    def outputs(self) -> dict[str, str]:
        """What each prediction field means."""
        return {"mean": "posterior mean of P(purchase in the next 30 days)",
                "median": "posterior median of that probability",
                "low": "5% posterior quantile", "high": "95% posterior quantile",
                "segment": "segment number", "segment_name": "segment in plain words"}

    def output_types(self) -> dict[str, str]:
        """Every prediction field with its type."""
        return {"customer_id": "string", "mean": "number", "median": "number",
                "low": "number", "high": "number", "segment": "integer",
                "segment_name": "string"}

    def predict(self, instances: Sequence[Mapping[str, Any]], seed: int = 0,
                options: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Probabilities and segments (``seed`` is unused: the summaries are exact)."""
        reject_query(options)
        columns = instance_columns(instances, self.schema())
        validated = validate_propensity_columns(columns, require_target=False, row_offset=0)
        frame, _ = score_run(self.scorer, validated)
        columns_out = {"customer_id": frame["customer_id"].tolist(),
                       "mean": frame["p_mean"].tolist(), "median": frame["p_median"].tolist(),
                       "low": frame["p_low"].tolist(), "high": frame["p_high"].tolist(),
                       "segment": frame["segment"].astype(int).tolist(),
                       "segment_name": frame["segment_name"].tolist()}
        return records(columns_out)
