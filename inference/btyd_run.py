"""A BTYD run on disk: the customers' RFM summaries stored with the posterior and read back.

The generic store is :mod:`bayescope.inference.artifacts`; this adds what a repeat-purchase
run keeps besides: the per-customer frequency, recency, T and monetary value (and the
holdout columns when there is a holdout) and the time unit, calibration and observation ends;
and, for the assumption checks, the :class:`~bayescope.data.purchase_history.PurchaseHistory`
of the log it was fitted on (per-customer arrays, and the repeat purchases per period as the
attribute ``repeat_transactions``). Runs saved before that have ``history = None``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.purchase_history import PurchaseHistory
from bayescope.data.rfm import RFMSummary
from bayescope.errors import ArtifactError
from bayescope.inference.artifacts import COMMON_ATTRS, Artifact, load_artifact, save_artifact

REQUIRED_ATTRS = (*COMMON_ATTRS, "time_unit", "calibration_end")


def rfm_arrays(rfm: RFMSummary) -> dict[str, np.ndarray]:
    """The per-customer arrays stored with a BTYD fit."""
    arrays = {
        "customer_id": rfm.customer_id.astype(str),
        "frequency": rfm.frequency,
        "recency": rfm.recency,
        "T": rfm.T,
        "monetary_value": rfm.monetary_value,
    }
    if rfm.frequency_holdout is not None and rfm.monetary_value_holdout is not None:
        arrays["frequency_holdout"] = rfm.frequency_holdout
        arrays["monetary_value_holdout"] = rfm.monetary_value_holdout
    return arrays


HISTORY_ARRAYS = ("regularity_m", "value_cv")


def save_posterior(run_dir: Path, idata: Any, rfm: RFMSummary, attrs: dict[str, Any],
                   history: PurchaseHistory | None = None) -> Path:
    """Write a BTYD run's ``posterior.nc`` with the customers' RFM data and time settings
    (and the purchase history, when given)."""
    arrays = rfm_arrays(rfm)
    if history is not None:
        arrays.update({name: getattr(history, name) for name in HISTORY_ARRAYS})
        attrs = {**attrs, "repeat_transactions": history.series_attr()}
    return save_artifact(run_dir, idata, arrays, {
        "kind": "btyd",
        "time_unit": rfm.time_unit,
        "calibration_end": str(rfm.calibration_end),
        "observation_end": str(rfm.observation_end),
        "duration_holdout": float(rfm.duration_holdout or 0.0),
        **attrs,
    })


@dataclass
class LoadedRun:
    """A fit read back from disk: posterior draws, customer data and metadata."""

    posterior: dict[str, np.ndarray]
    rfm: RFMSummary
    attrs: dict[str, Any]
    tree: Any = None  # the whole DataTree (posterior with chains, sample_stats) for reports
    history: PurchaseHistory | None = None

    @property
    def model_name(self) -> str:
        """Stored model name, e.g. ``mbgnbd+gamma_gamma``."""
        return str(self.attrs["model"])

    @property
    def converged(self) -> bool:
        """The stored convergence verdict."""
        return bool(int(self.attrs["converged"]))


def load_posterior(run_dir: str | Path, artifact: Artifact | None = None) -> LoadedRun:
    """Read and check a BTYD run's ``posterior.nc`` (see :func:`load_artifact`).

    ``artifact`` is the run already read by :func:`load_artifact` (not read again).

    Raises
    ------
    ArtifactError
        As :func:`load_artifact`, and when the run is not a BTYD fit.
    """
    artifact = artifact or load_artifact(run_dir)
    attrs, arrays = artifact.attrs, artifact.arrays
    missing = [k for k in REQUIRED_ATTRS if k not in attrs]
    if artifact.kind != "btyd" or missing:
        raise ArtifactError(f"{run_dir} is a {artifact.kind} run, not a repeat-purchase (BTYD) "
                            "fit", field="run_dir")
    holdout = attrs.get("duration_holdout", 0.0)
    rfm = RFMSummary(
        customer_id=arrays["customer_id"],
        frequency=arrays["frequency"],
        recency=arrays["recency"],
        T=arrays["T"],
        monetary_value=arrays["monetary_value"],
        time_unit=str(attrs["time_unit"]),
        calibration_end=pd.Timestamp(attrs["calibration_end"]),
        observation_end=pd.Timestamp(attrs["observation_end"]),
        frequency_holdout=arrays.get("frequency_holdout"),
        monetary_value_holdout=arrays.get("monetary_value_holdout"),
        duration_holdout=float(holdout) if "frequency_holdout" in arrays else None,
    )
    return LoadedRun(posterior=artifact.posterior, rfm=rfm, attrs=attrs, tree=artifact.tree,
                     history=_history(arrays, attrs))


def _history(arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> PurchaseHistory | None:
    """The stored purchase history, or None for a run saved without one."""
    if not all(name in arrays for name in HISTORY_ARRAYS) or "repeat_transactions" not in attrs:
        return None
    series = attrs["repeat_transactions"]
    if isinstance(series, str):
        try:
            series = json.loads(series)
        except ValueError as exc:
            raise ArtifactError("the run's repeat_transactions attribute is not JSON",
                                field="run_dir") from exc
    try:
        return PurchaseHistory(
            np.asarray(arrays["regularity_m"], float), np.asarray(arrays["value_cv"], float),
            np.asarray(series["counts"], float), int(series["first_period"]),
            int(series["calibration_periods"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"the run's repeat_transactions attribute is malformed: {exc}",
                            field="run_dir") from exc
