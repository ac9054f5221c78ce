"""Monthly drift check for propensity runs: has the population moved since the last fit?

Each propensity run stores a profile of the table it was fitted on (every feature's bins and
shares, the distribution of its own predicted propensity, its segment sizes, the purchase
rate). When next month's table is fitted with ``--previous RUN_DIR``, the new table is
compared against that profile:

* **features**: the population stability index of each of the 25 features;
* **propensity**: the previous model scores the new table and the PSI of those scores
  against the previous month's is the shift of the scored population (same model, new
  customers); the new model's scores on the same customers say how much the refit moved
  them (mean absolute change, rank correlation);
* **segments**: the new customers are assigned to the previous segments and the segment
  shares compared (PSI and change in share per segment);
* **performance**: when the new table has outcomes, the previous model's held-out scores at
  fit time against its scores on the new month (has it decayed?).

The arithmetic is in :mod:`bayescope.posterior_reports.drift`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bayescope.data.propensity_table import CATEGORICAL, NUMERIC, TARGET
from bayescope.errors import ArtifactError
from bayescope.posterior_reports.binary import binary_metrics
from bayescope.posterior_reports.drift import (
    compare,
    profile_categorical,
    profile_numeric,
    verdict,
)
from bayescope.posterior_reports.runs import PropensityRunView as PropensityRun

PROFILE_ATTR = "population_profile"


def population_profile(columns: dict[str, np.ndarray], p_mean: np.ndarray,
                       segment: np.ndarray, n_segments: int) -> dict[str, Any]:
    """The JSON-ready profile of a month's table that the next month is compared against."""
    features: dict[str, Any] = {c: profile_categorical(columns[c]) for c in CATEGORICAL}
    features.update({c: profile_numeric(columns[c]) for c in NUMERIC})
    profile: dict[str, Any] = {
        "n": len(p_mean), "features": features, "propensity": profile_numeric(p_mean),
        "propensity_mean": float(np.mean(p_mean)),
        "segments": profile_categorical(np.asarray([str(s) for s in segment], dtype=object)),
        "segment_levels": [str(s) for s in range(n_segments)]}
    if TARGET in columns:
        profile["purchase_rate"] = float(np.mean(columns[TARGET]))
    return profile


def stored_profile(run: PropensityRun) -> dict[str, Any]:
    """The profile a run stored at fit time; refuses runs fitted before profiles existed."""
    text = run.artifact.attrs.get(PROFILE_ATTR)
    if not text:
        raise ArtifactError(f"{run.run_dir} has no population profile (it was fitted by an "
                            "older bayescope): refit it to use it as --previous",
                            field="previous")
    profile: dict[str, Any] = json.loads(text)
    return profile


def drift_check(previous: PropensityRun, columns: dict[str, np.ndarray],
                new_p_mean: np.ndarray, scored: pd.DataFrame, unseen: dict[str, int]
                ) -> dict[str, Any]:
    """Compare a new month's validated table with the previous run (see module docstring).

    ``new_p_mean`` is the new model's posterior mean propensity for the same rows;
    ``scored`` and ``unseen`` the previous run's scores of them and its unseen-level counts.
    """
    profile = stored_profile(previous)
    old_p = scored["p_mean"].to_numpy()
    features = []
    for name, reference in profile["features"].items():
        result = compare(reference, columns[name])
        features.append({"feature": name, **result})
    features.sort(key=lambda r: -r["psi"])
    propensity = compare(profile["propensity"], old_p)
    segment_labels = np.asarray([str(s) for s in scored["segment"]], dtype=object)
    segments = compare(profile["segments"], segment_labels)
    names = previous.segments.segment_names
    segment_rows = [{"segment": int(level), "name": names[int(level)],
                     "previous_share": segments["reference_shares"][i],
                     "new_share": segments["new_shares"][i],
                     "change": segments["new_shares"][i] - segments["reference_shares"][i]}
                    for i, level in enumerate(profile["segments"]["levels"])]
    varies = np.ptp(old_p) > 0 and np.ptp(new_p_mean) > 0
    rho = float(spearmanr(old_p, new_p_mean).statistic) if varies else None
    out: dict[str, Any] = {
        "previous_run": str(previous.run_dir),
        "previous_created_at": previous.artifact.attrs.get("created_at"),
        "previous_n": profile["n"], "new_n": len(old_p),
        "features": features,
        "worst_feature": features[0]["feature"] if features else None,
        "features_moderate": [f["feature"] for f in features if f["verdict"] == "moderate"],
        "features_major": [f["feature"] for f in features if f["verdict"] == "major"],
        "propensity": {**propensity,
                       "previous_month_mean": profile["propensity_mean"],
                       "new_month_mean_previous_model": float(old_p.mean()),
                       "new_month_mean_new_model": float(np.mean(new_p_mean)),
                       "refit_mean_abs_change": float(np.mean(np.abs(new_p_mean - old_p))),
                       "refit_rank_correlation": rho},
        "segments": {"psi": segments["psi"], "verdict": verdict(segments["psi"]),
                     "rows": segment_rows},
        "unseen_levels": unseen,
    }
    if TARGET in columns:
        out["performance"] = _performance(previous, columns[TARGET], old_p, profile)
    return out


def _performance(previous: PropensityRun, outcome: np.ndarray, old_p: np.ndarray,
                 profile: dict[str, Any]) -> dict[str, Any]:
    """The previous model's held-out scores at fit time and on the new month."""
    at_fit: dict[str, Any] = {}
    if previous.metrics_path.is_file():
        stored = json.loads(previous.metrics_path.read_text())
        at_fit = stored.get("comparison", {}).get("bayescope", {})
    result: dict[str, Any] = {"previous_purchase_rate": profile.get("purchase_rate"),
                              "new_purchase_rate": float(np.mean(outcome)),
                              "at_fit": at_fit}
    if 0 < outcome.sum() < outcome.size:
        result["on_new_month"] = binary_metrics(outcome, old_p)
    return result
