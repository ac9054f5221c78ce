"""Artifact store: one netCDF InferenceData (ArviZ DataTree) per fit, written atomically.

``RUN_DIR/posterior.nc`` holds the posterior, sample stats (NUTS), the per-unit data the fit
saw (group ``constant_data``: one value per customer or forecast row, with the unit's id as
the coordinate) and, in the root attributes, everything needed to trust and reuse it: kind,
model, settings and model identity, package and library versions, a SHA-256 fingerprint of
the stored data, the convergence verdict and a SHA-256 fingerprint of the posterior draws and
every attribute (``content_fingerprint``: a flipped byte or an edited verdict is refused),
plus what each family adds (a BTYD run's time unit and calibration end:
:mod:`bayescope.inference.btyd_run`). Loading checks all of these. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescope.errors import ArtifactError
from bayescope.files import atomic_path
from bayescope.version import __version__

log = logging.getLogger(__name__)

ARTIFACT_FORMAT = 1
POSTERIOR_FILE = "posterior.nc"
LIBRARIES = ("pymc", "pytensor", "arviz", "pymc-marketing", "nutpie", "numpy", "pandas")
COMMON_ATTRS = ("artifact_format", "model", "data_fingerprint", "converged", "method",
                "bayescope_version")


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


CONTENT_KEY = "content_fingerprint"


def content_fingerprint(posterior: Any, attrs: dict[str, Any]) -> str:
    """SHA-256 over every posterior draw and every root attribute (the gate verdict, the
    settings, scalings, Laplace factors...) but itself: a flipped byte in the draws or an
    edited attribute changes it. Attribute values are compared as netCDF returns them
    (one-element arrays as scalars)."""
    digest = hashlib.sha256()
    for name in sorted(str(n) for n in posterior.data_vars):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(np.asarray(posterior[name].values,
                                                      dtype=np.float64)).tobytes())
    for key in sorted(str(k) for k in attrs):
        if key == CONTENT_KEY:
            continue
        value = np.asarray(attrs[key])
        plain = value.item() if value.size == 1 else value.tolist()
        digest.update(f"{key}={json.dumps(plain, default=str, sort_keys=True)}".encode())
    return digest.hexdigest()


def model_id(kind: str, model: str, settings: str) -> str:
    """A short hash of what the model is: family, specification and settings (JSON, keys
    sorted). Stored with the run and recomputed at load (pymc-marketing's ``model_builder``
    idea): a run whose identity no longer matches its settings is refused."""
    return hashlib.sha256(f"{kind}|{model}|{settings}".encode()).hexdigest()[:16]


def run_attrs(*, kind: str, model: str, method: str, gate: dict[str, Any], seed: int,
              settings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The attributes every run stores, written in one place: family, model, method, gate
    (a dict with ``passed``), seed, a fresh run id (``summary.json`` and ``metrics.json``
    carry it too, so files of two runs cannot be mixed unnoticed), creation time, the
    estimator's settings and the model identity."""
    config = json.dumps(settings, sort_keys=True, default=str)
    return {"kind": kind, "model": model, "method": method, "converged": bool(gate["passed"]),
            "gate": gate, "seed": int(seed), "run_id": uuid.uuid4().hex,
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
    tree.attrs[CONTENT_KEY] = content_fingerprint(tree["posterior"].to_dataset(), tree.attrs)
    target = run_dir / POSTERIOR_FILE
    with atomic_path(target, suffix=".nc.tmp") as tmp:
        tree.to_netcdf(tmp, engine="h5netcdf")
    return target


def _netcdf_attr(value: Any) -> Any:
    """netCDF attributes hold no dicts, lists or bools: JSON for the first two, 0/1 for bools."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return int(value) if isinstance(value, bool) else value


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
    # h5py answers corrupt bytes with whatever its C layer met first (OSError, ValueError,
    # KeyError for a bad metadata checksum, RuntimeError...): all of them mean unreadable.
    except Exception as exc:
        raise ArtifactError(f"cannot read {path}: {exc}", field="run_dir") from exc
    attrs = {str(k): v for k, v in tree.attrs.items()}
    missing = [k for k in COMMON_ATTRS if k not in attrs]
    if missing or "posterior" not in tree.children or "constant_data" not in tree.children:
        raise ArtifactError(f"{path} lacks metadata {missing} or a group: not a bayescope "
                            "artifact", field="run_dir")
    # A run without the fingerprint cannot be told from one whose fingerprint was removed to
    # hide an edit, so runs saved before it existed (2026-11-30) are refused too.
    if CONTENT_KEY not in attrs:
        raise ArtifactError(f"{path} carries no content fingerprint (saved by a bayescope "
                            "before 2026-11-30, or altered): its draws and verdict cannot be "
                            "checked: refit", field="run_dir")
    if str(attrs[CONTENT_KEY]) != content_fingerprint(tree["posterior"].to_dataset(), attrs):
        raise ArtifactError(f"{path}: the posterior draws or the run's attributes do not match "
                            "its fingerprint (file altered or corrupt): refit", field="run_dir")
    try:
        artifact_format = int(attrs["artifact_format"])
        int(attrs["converged"])
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: malformed metadata ({exc})", field="run_dir") from exc
    if artifact_format > ARTIFACT_FORMAT:
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
