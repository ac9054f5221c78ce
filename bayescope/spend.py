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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.campaign_spend import CAMPAIGNS, FEATURE_RULES, TARGET
from bayescope.data.spend_features import FEATURES, FeatureScaling, Table
from bayescope.errors import ArtifactError, BayescopeInputError
from bayescope.inference.artifacts import (
    Artifact,
    atomic_write_text,
    flat_posterior,
    load_artifact,
    save_artifact,
)
from bayescope.inference.sampling import FitResult, fit_model
from bayescope.inference.spend_prediction import predict_spend
from bayescope.models.spend_hurdle import HurdleSpendModel, SpendDesign
from bayescope.posterior_reports.diagnostics import labelled_draws, parameter_summary
from bayescope.posterior_reports.spend_holdout import evaluate_spend_holdout

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


def split_holdout(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of held-out rows: ``round(share * n)`` rows chosen at random."""
    if not 0.0 <= share < 1.0:
        raise BayescopeInputError("--holdout-share must be in [0, 1)", field="holdout_share")
    mask = np.zeros(n, bool)
    mask[rng.choice(n, round(share * n), replace=False)] = True
    return mask


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
    attrs = {"kind": spec.kind, "model": spec.name, "method": "nuts",
             "treatment_identified": identified,
             "converged": result.gate.passed, "gate": result.gate.to_dict(),
             "seed": settings.seed, "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
             "features": list(FEATURES), "campaigns": list(CAMPAIGNS),
             "scaling": scaling.to_dict(), "holdout_share": settings.holdout_share}
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
                      max_draws: int = 1000, progress: Any = None,
                      warn: bool = True) -> pd.DataFrame:
    """Per-customer predictions for a validated table (the target column may be absent)."""
    if seed < 0:
        raise BayescopeInputError("--seed must be a non-negative integer", field="seed")
    if warn and not run.artifact.converged:
        log.warning("this run FAILED its convergence gate: treat its numbers with suspicion")
    design = SpendDesign.from_table(table, run.scaling)
    frame = predict_spend(run.posterior, design, np.asarray(table["customer_id"]), seed=seed,
                          max_draws=max_draws, progress=progress)
    if not run.treatment_identified:
        # The treatment effect is prior-only: an uplift from it would be made up.
        frame[["uplift_mean", "uplift_low", "uplift_high"]] = np.nan
    return frame
