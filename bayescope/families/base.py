"""The model contract every family follows (scikit-learn's estimator conventions).

``__init__`` takes keyword-only settings and stores them unchanged (:meth:`get_params`
returns them); ``fit`` validates through its data's one validation entry point, writes the run
directory (into a private temporary folder until :meth:`save`) and returns ``self``; fitted
state ends in ``_``; a method that needs a fit raises :class:`~bayescope.errors.NotFittedError`
naming the class. Every fitted estimator has

* ``idata_``: the ArviZ DataTree that ``posterior.nc`` holds (``az.summary(m.idata_)``);
* ``summary_``: what ``summary.json`` holds; ``metrics_``: ``metrics.json`` (or ``None``);
* ``converged_``: the convergence gate's verdict; ``run_dir_``: where the run lives now;
* :meth:`save` (the run directory the CLI writes, swapped in whole) and :meth:`report`.

The faces (CLI, API) reach a family only through this contract and the registry
(:mod:`bayescope.families`): :meth:`write_predictions` answers ``bayescope predict`` and
:meth:`served` gives the API's model object.
"""

from __future__ import annotations

import inspect
import json
import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

from bayescope.errors import ArtifactError, BayescopeInputError, NotFittedError
from bayescope.files import atomic_directory, atomic_write_text
from bayescope.inference.artifacts import Artifact, check_model_id, load_artifact
from bayescope.posterior_reports.html import ReportContent
from bayescope.posterior_reports.report import write_report

FIELD_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"}, "nullable string": {"type": ["string", "null"]},
    "integer": {"type": "integer"}, "number": {"type": "number"},
    "nullable number": {"type": ["number", "null"]}}
"""The types a prediction field may have, as JSON schemas (``ServedModel.output_types``)."""

Progress = Callable[[int, int | None], None]
"""A progress callback: ``progress(done_now, total_or_None)``."""


@dataclass(frozen=True)
class PredictOptions:
    """The options of ``bayescope predict``; each family uses the ones it needs and names any
    it cannot use (one error, exit 2)."""

    horizon: float | None = None
    data: str | None = None
    top: int | None = None
    by: str = "purchases"
    seed: int = 0
    discount_rate: float | None = None
    pmf: int | None = None
    engine: str = "pandas"
    scheduler: str | None = None


class ServedModel(Protocol):
    """What the API needs of a served model, whatever its family."""

    name: str
    default_route: bool
    """Whether ``POST /predict`` (the spend brief's route) answers with this model."""
    query_defaults: Mapping[str, str]
    """The request options :meth:`predict` takes, with their defaults (empty: none)."""

    @property
    def kind(self) -> str:
        """Model family."""
        ...

    def info(self) -> dict[str, Any]:
        """Name, kind, versions, training time, gate verdict."""
        ...

    def schema(self) -> dict[str, Any]:
        """JSON schema of one instance."""
        ...

    def outputs(self) -> dict[str, str]:
        """What each prediction field means."""
        ...

    def output_types(self) -> dict[str, str]:
        """Every field of a prediction, in order (identifiers too), with its type: a key of
        :data:`FIELD_TYPES`."""
        ...

    def predict(self, instances: Sequence[Mapping[str, Any]], seed: int = 0,
                options: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Predictions for the instances, in order; ``options`` are the request's query
        parameters besides ``seed`` (a model names any it does not take)."""
        ...


class Estimator:
    """Base of the four public estimators (see module docstring)."""

    kind: ClassVar[str]
    """The artifact kind this family writes and reads (the registry's key)."""

    _artifact: Artifact
    idata_: Any
    summary_: dict[str, Any]
    metrics_: dict[str, Any] | None
    converged_: bool
    run_dir_: Path

    # -- settings ------------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        """The keyword-only settings of ``__init__`` (scikit-learn's ``_get_param_names``)."""
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings as given to ``__init__`` (``deep`` is accepted for scikit-learn)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Change settings by name; an unknown name is one error naming it."""
        known = self._param_names()
        for name, value in params.items():
            if name not in known:
                raise BayescopeInputError(f"{type(self).__name__} has no setting {name!r} "
                                          f"(settings: {', '.join(known)})", field=name)
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__)
                    .parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}
        shown = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k) != v]
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- fitted state --------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :func:`bayescope.load`) has run."""
        return hasattr(self, "run_dir_")

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call "
                                 "fit(...) first, or load a run with bayescope.load(run_dir).")

    def _fit_into_temporary(self, write: Callable[[Path], object]) -> Self:
        """Run ``write(folder)`` into a private temporary run directory and attach it.

        The folder lives as long as the estimator; :meth:`save` copies it where the user
        wants it. A failed fit leaves nothing behind and the estimator as it was.
        """
        work = Path(tempfile.mkdtemp(prefix=f"bayescope-{self.kind}-"))
        try:
            write(work)
            artifact = load_artifact(work)
            _stamp_run_id(work, artifact)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        weakref.finalize(self, shutil.rmtree, work, True)
        self._attach(work, artifact)
        return self

    def _attach(self, run_dir: Path, artifact: Artifact) -> None:
        """Set the fitted attributes from a run directory and its artifact."""
        self._artifact = artifact
        self.run_dir_ = Path(run_dir)
        self.idata_ = artifact.tree
        self.converged_ = artifact.converged
        self.summary_ = _read_json(self.run_dir_ / "summary.json") or {}
        self.metrics_ = _read_json(self.run_dir_ / "metrics.json")
        run_id = artifact.attrs.get("run_id")
        for name, content in (("summary.json", self.summary_), ("metrics.json", self.metrics_)):
            if run_id is not None and content and content.get("run_id", run_id) != run_id:
                raise ArtifactError(f"{run_dir}: {name} belongs to another run than "
                                    "posterior.nc (run ids differ): refit or restore the "
                                    "run directory whole", field="run_dir")
        self._attach_run(self.run_dir_, artifact)

    def _attach_run(self, run_dir: Path, artifact: Artifact) -> None:
        """Set the family's own fitted state (its run object, ending in ``_``)."""
        raise NotImplementedError

    @classmethod
    def from_run(cls, run_dir: str | Path, artifact: Artifact | None = None) -> Self:
        """The fitted estimator of a stored run (settings restored from the run).

        Raises
        ------
        ArtifactError
            If the run is missing or corrupt, of another family, or its model identity does
            not match its stored settings.
        """
        artifact = artifact or load_artifact(run_dir)
        if artifact.kind != cls.kind:
            raise ArtifactError(f"{run_dir} is a {artifact.kind} run, not a {cls.kind} fit",
                                field="run_dir")
        check_model_id(artifact, run_dir)
        stored = _stored_settings(artifact)
        known = set(cls._param_names())
        estimator = cls(**{k: v for k, v in stored.items() if k in known})
        estimator._attach(Path(run_dir), artifact)
        return estimator

    # -- what every fitted estimator offers ----------------------------------------------
    def save(self, run_dir: str | Path) -> Path:
        """Write the run directory (``posterior.nc``, ``summary.json``, ``metrics.json``,
        plots) to ``run_dir``, built beside it and swapped in whole; returns ``run_dir``."""
        self._require_fitted()
        target = Path(run_dir)
        if target.exists() and target.resolve() == self.run_dir_.resolve():
            return target
        with atomic_directory(target) as work:
            shutil.copytree(self.run_dir_, work, dirs_exist_ok=True)
        # The files are byte copies of the ones already read and checked: reuse them.
        self._attach(target, self._artifact)
        return target

    def report(self, holdout: str | Path | None = None, *, seed: int = 0,
               columns: Mapping[str, str | None] | None = None) -> Path:
        """Write ``RUN_DIR/report/`` (HTML page, PNGs, ``metrics.json``); returns the page.

        Parameters
        ----------
        holdout
            A file replacing the holdout stored with the run, where the family takes one.
        seed
            Seed of every simulation and bootstrap in the report.
        columns
            Column names of the holdout file when they differ from the defaults.
        """
        self._require_fitted()
        return write_report(self.run_dir_, lambda work: self._report_content(
            work, holdout, seed, dict(columns or {})))

    def _report_content(self, work: Path, holdout: str | Path | None, seed: int,
                        columns: dict[str, str | None]) -> ReportContent:
        raise NotImplementedError

    def write_predictions(self, out: Path, options: PredictOptions,
                          progress: Progress | None = None) -> str:
        """``bayescope predict``: write this run's predictions to ``out``; returns the line
        the CLI prints."""
        raise NotImplementedError

    def served(self, name: str, max_draws: int = 1000) -> ServedModel:
        """The model object the API serves under ``name``."""
        raise NotImplementedError


def _stamp_run_id(run_dir: Path, artifact: Artifact) -> None:
    """Write the run's id into its ``summary.json`` and ``metrics.json``."""
    run_id = artifact.attrs.get("run_id")
    if run_id is None:
        return
    for name in ("summary.json", "metrics.json"):
        content = _read_json(run_dir / name)
        if content is not None:
            atomic_write_text(run_dir / name, json.dumps({**content, "run_id": str(run_id)},
                                                         indent=2))


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"cannot read {path}: {exc}", field="run_dir") from exc
    return value if isinstance(value, dict) else None


def _stored_settings(artifact: Artifact) -> dict[str, Any]:
    raw = artifact.attrs.get("settings")
    if raw is None:
        return {}
    try:
        settings = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"the run's stored settings are not JSON: {exc}",
                            field="run_dir") from exc
    return settings if isinstance(settings, dict) else {}


def read_dask_output(out: str | Path | None, engine: str, scheduler: str | None,
                     source: object = None) -> Any:
    """Check the Python API's engine settings for a Dask prediction and return a reader of
    its folder ``out`` (a Dask DataFrame factory), or ``None`` for the pandas engine. A
    ``source`` in memory (a DataFrame) is refused for Dask, which reads files."""
    from bayescope.inference.dask_engine import check_engine

    check_engine(engine, scheduler)
    if engine == "pandas":
        return None
    if source is not None and not isinstance(source, str | Path):
        raise BayescopeInputError("engine='dask' reads a file, a glob or a folder of parts; "
                                  "predict a table in memory with engine='pandas'",
                                  field="data")
    if out is None:
        raise BayescopeInputError("engine='dask' writes its predictions to a folder: give out=",
                                  field="out")
    import dask.dataframe as dd

    return lambda: dd.read_parquet(str(out))


def reject_options(options: PredictOptions, family: str, **unused: str) -> None:
    """One error for the first predict option that a family cannot use (``name=why``)."""
    for name, why in unused.items():
        if getattr(options, name) not in (None, PredictOptions.__dataclass_fields__[name]
                                          .default):
            raise BayescopeInputError(f"a {family} run {why}: drop --{name.replace('_', '-')}",
                                      field=name)
