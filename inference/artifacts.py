"""Artifact store: one netCDF InferenceData (ArviZ DataTree) per fit, written atomically.

``RUN_DIR/posterior.nc`` holds the posterior, sample stats (NUTS), the per-customer data the
fit saw (group ``constant_data``: customer_id, frequency, recency, T, monetary_value and the
holdout columns when there is a holdout) and, in the root attributes, everything needed to
trust and reuse it: model name, package and library versions, time unit, calibration and
observation ends, a SHA-256 fingerprint of the training data and the convergence verdict.
Loading checks all of these. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescope.data.rfm import RFMSummary
from bayescope.errors import ArtifactError
from bayescope.files import atomic_path
from bayescope.version import __version__

log = logging.getLogger(__name__)

ARTIFACT_FORMAT = 1
POSTERIOR_FILE = "posterior.nc"
LIBRARIES = ("pymc", "pytensor", "arviz", "pymc-marketing", "nutpie", "numpy", "pandas")
COMMON_ATTRS = ("artifact_format", "model", "data_fingerprint", "converged", "method",
                "bayescope_version")
REQUIRED_ATTRS = (*COMMON_ATTRS, "time_unit", "calibration_end")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a posterior depends on."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over named arrays, order-independent in names, sensitive to every value."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        values = np.ascontiguousarray(arrays[name])
        digest.update(name.encode())
        if values.dtype.kind in "OUS":
            digest.update("\x1f".join(map(str, values.tolist())).encode())
        else:
            digest.update(values.astype(np.float64).tobytes())
    return digest.hexdigest()


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


def model_id(kind: str, model: str, settings: str) -> str:
    """A short hash of what the model is: family, specification and settings (JSON, keys
    sorted). Stored with the run and recomputed at load (pymc-marketing's ``model_builder``
    idea): a run whose identity no longer matches its settings is refused."""
    return hashlib.sha256(f"{kind}|{model}|{settings}".encode()).hexdigest()[:16]


def run_attrs(*, kind: str, model: str, method: str, gate: dict[str, Any], seed: int,
              settings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The attributes every run stores, written in one place: family, model, method, gate
    (a dict with ``passed``), seed, creation time, the estimator's settings and the model
    identity."""
    config = json.dumps(settings, sort_keys=True, default=str)
    return {"kind": kind, "model": model, "method": method, "converged": bool(gate["passed"]),
            "gate": gate, "seed": int(seed),
            "created_at": pd.Timestamp.now(tz="UTC").isoformat(), "settings": config,
            "model_id": model_id(kind, model, config), **extra}


def check_model_id(artifact: Artifact, run_dir: str | Path) -> None:
    """Refuse a run whose stored identity does not match its kind, model and settings
    (runs written before identities were stored have none and pass)."""
    attrs = artifact.attrs
    if "model_id" not in attrs:
        return
    expected = model_id(artifact.kind, str(attrs.get("model")), str(attrs.get("settings")))
    if str(attrs["model_id"]) != expected:
        raise ArtifactError(f"{run_dir}: the run's model identity does not match its stored "
                            "model and settings (written by a different specification, or "
                            "altered)", field="run_dir")


def save_artifact(run_dir: Path, idata: Any, arrays: dict[str, np.ndarray],
                  attrs: dict[str, Any], unit: str = "customer") -> Path:
    """Write ``RUN_DIR/posterior.nc`` atomically: posterior, per-unit data, metadata.

    ``arrays`` holds one value per unit (a customer, or a forecast row; ``<unit>_id`` among
    them, the coordinate); they go to the ``constant_data`` group and into the data
    fingerprint.
    """
    key = f"{unit}_id"
    customers = xr.Dataset(
        {name: (unit, values) for name, values in arrays.items() if name != key},
        coords={unit: arrays[key]},
    )
    tree = idata.copy()
    tree["constant_data"] = xr.DataTree(customers)
    meta = {
        "artifact_format": ARTIFACT_FORMAT,
        "bayescope_version": __version__,
        "library_versions": json.dumps(library_versions()),
        "n_customers": int(arrays[key].size),
        "unit": unit,
        "data_fingerprint": fingerprint(arrays),
        **attrs,
    }
    tree.attrs = {k: _netcdf_attr(v) for k, v in meta.items()}
    target = run_dir / POSTERIOR_FILE
    with atomic_path(target, suffix=".nc.tmp") as tmp:
        tree.to_netcdf(tmp, engine="h5netcdf")
    return target


def save_posterior(run_dir: Path, idata: Any, rfm: RFMSummary, attrs: dict[str, Any]) -> Path:
    """Write a BTYD run's ``posterior.nc`` with the customers' RFM data and time settings."""
    return save_artifact(run_dir, idata, rfm_arrays(rfm), {
        "kind": "btyd",
        "time_unit": rfm.time_unit,
        "calibration_end": str(rfm.calibration_end),
        "observation_end": str(rfm.observation_end),
        "duration_holdout": float(rfm.duration_holdout or 0.0),
        **attrs,
    })


def _netcdf_attr(value: Any) -> Any:
    """netCDF attributes hold no dicts, lists or bools: JSON for the first two, 0/1 for bools."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return int(value) if isinstance(value, bool) else value


@dataclass
class LoadedRun:
    """A fit read back from disk: posterior draws, customer data and metadata."""

    posterior: dict[str, np.ndarray]
    rfm: RFMSummary
    attrs: dict[str, Any]
    tree: Any = None  # the whole DataTree (posterior with chains, sample_stats) for reports

    @property
    def model_name(self) -> str:
        """Stored model name, e.g. ``mbgnbd+gamma_gamma``."""
        return str(self.attrs["model"])

    @property
    def converged(self) -> bool:
        """The stored convergence verdict."""
        return bool(int(self.attrs["converged"]))


@dataclass
class Artifact:
    """A stored fit of any model: the DataTree, flat posterior draws, customer data, metadata."""

    tree: Any
    posterior: dict[str, np.ndarray]
    arrays: dict[str, np.ndarray]
    attrs: dict[str, Any]

    @property
    def kind(self) -> str:
        """Model family: ``btyd`` (runs written before the attribute existed) or ``spend``."""
        return str(self.attrs.get("kind", "btyd"))

    @property
    def converged(self) -> bool:
        """The stored convergence verdict."""
        return bool(int(self.attrs["converged"]))


def load_artifact(run_dir: str | Path) -> Artifact:
    """Read and check ``RUN_DIR/posterior.nc`` whatever the model.

    Raises
    ------
    ArtifactError
        If the file is missing or unreadable, lacks metadata, is of a newer format, or its
        customer data no longer matches the stored fingerprint.
    """
    path = Path(run_dir) / POSTERIOR_FILE
    if not path.is_file():
        raise ArtifactError(f"no fitted run at {run_dir}: {POSTERIOR_FILE} is missing",
                            field="run_dir")
    try:
        tree = xr.open_datatree(path, engine="h5netcdf").load()
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read {path}: {exc}", field="run_dir") from exc
    attrs = {str(k): v for k, v in tree.attrs.items()}
    missing = [k for k in COMMON_ATTRS if k not in attrs]
    if missing:
        raise ArtifactError(f"{path} lacks metadata {missing}: not a bayescope artifact",
                            field="run_dir")
    if int(attrs["artifact_format"]) > ARTIFACT_FORMAT:
        raise ArtifactError(
            f"{path} has artifact format {attrs['artifact_format']}; this bayescope reads up to "
            f"{ARTIFACT_FORMAT}: upgrade bayescope", field="run_dir")
    _warn_on_version_drift(path, attrs)
    customers = tree["constant_data"].to_dataset()
    arrays = {str(name): np.asarray(customers[name].values) for name in customers.data_vars}
    unit = str(attrs.get("unit", "customer"))
    arrays[f"{unit}_id"] = np.asarray(customers[unit].values).astype(str)
    if fingerprint(arrays) != attrs["data_fingerprint"]:
        raise ArtifactError(f"{path}: stored customer data does not match its fingerprint "
                            "(file altered or corrupt)", field="run_dir")
    return Artifact(tree, flat_posterior(tree["posterior"].to_dataset()), arrays, attrs)


def flat_posterior(posterior: Any) -> dict[str, np.ndarray]:
    """(chain, draw, ...) -> (draws, ...) per variable: scalars flat, vectors keep dims."""
    out = {}
    for name in posterior.data_vars:
        values = np.asarray(posterior[name].values, dtype=float)
        out[str(name)] = values.reshape(-1, *values.shape[2:])
    return out


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
    return LoadedRun(posterior=artifact.posterior, rfm=rfm, attrs=attrs, tree=artifact.tree)


def _warn_on_version_drift(path: Path, attrs: dict[str, Any]) -> None:
    """Warn when the libraries that wrote the artifact differ from the installed ones."""
    try:
        stored = json.loads(attrs.get("library_versions", "{}"))
    except json.JSONDecodeError:
        stored = {}
    now = library_versions()
    drift = {k: (v, now.get(k)) for k, v in stored.items() if now.get(k) != v}
    if drift:
        log.warning("%s was written with other library versions (stored -> installed): %s",
                    path, ", ".join(f"{k} {a} -> {b}" for k, (a, b) in drift.items()))
