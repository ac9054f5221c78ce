"""Every family as an MLflow pyfunc model, for teams that score on Spark and version in a
model registry.

:func:`save_mlflow` writes an MLflow model folder holding the run directory as an artifact
and :class:`~bayescope.families.mlflow_pyfunc.BayescopeModel` as its Python model.
Its ``predict(DataFrame)`` answers with the family's prediction table: each row is one
instance of the API's ``POST /v1/models/NAME/predict`` (the same columns, the same checks), so
``mlflow.pyfunc.load_model(path).predict(df)`` equals what the API and
``model.served(...).predict`` give for those rows. A request's ``seed`` and the family's
options (a BTYD horizon) are MLflow ``params``. The signature's output schema is the
prediction's columns and types (``ServedModel.output_types``), so that
``mlflow.pyfunc.spark_udf(spark, path)`` returns them as one struct column. The folder
registers with ``mlflow.register_model``; where it is loaded, ``bayescope`` must be installed
(it is the model's pip requirement).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from bayescope.errors import BayescopeInputError
from bayescope.families.base import Estimator
from bayescope.files import work_prefix
from bayescope.inference.artifacts import load_artifact
from bayescope.version import __version__

MLFLOW_TYPES = {"string": "string", "integer": "long", "number": "double"}
"""MLflow's column type of each prediction field type (nullable or not,
:data:`bayescope.families.base.FIELD_TYPES`)."""


def _mlflow() -> Any:
    try:
        import mlflow.pyfunc
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BayescopeInputError("MLflow export needs mlflow: pip install 'bayescope[mlflow]'",
                                  field="mlflow") from exc
    return mlflow


def save_mlflow(model: Estimator | str | Path, path: str | Path) -> Path:
    """Save a fitted estimator (or a run directory) as an MLflow pyfunc model at ``path``.

    Parameters
    ----------
    model
        A fitted estimator of any family, or the run directory it was saved to.
    path
        The MLflow model folder to create; it must not exist.

    Returns
    -------
    Path
        ``path``, which ``mlflow.pyfunc.load_model`` reads.

    Raises
    ------
    BayescopeInputError
        If MLflow is missing, the estimator is not fitted, the run is unreadable, or ``path``
        exists.
    """
    mlflow = _mlflow()
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    from bayescope.families.mlflow_pyfunc import MLFLOW_MAX_DRAWS, BayescopeModel

    if isinstance(model, Estimator):
        model._require_fitted()
        run_dir = model.run_dir_
    else:
        run_dir = Path(model)
        load_artifact(run_dir)
    target = Path(path)
    if target.exists():
        raise BayescopeInputError(f"{target} exists: MLflow writes a new folder",
                                  field="out")
    from bayescope.families import load

    served = load(run_dir).served("mlflow", MLFLOW_MAX_DRAWS)
    params = ParamSchema([ParamSpec("seed", "long", 0), *(
        ParamSpec(name, "string", default) for name, default in served.query_defaults.items())])
    # The output schema lets spark_udf answer with a struct of the prediction's columns.
    outputs = Schema([ColSpec(MLFLOW_TYPES[kind.removeprefix("nullable ")], name,
                              required=not kind.startswith("nullable"))
                      for name, kind in served.output_types().items()])
    # Written whole into a temporary folder beside the target, then renamed onto it: a
    # process killed mid-write leaves no half model at the target (the next writer clears
    # the temporary, bayescope.files.output_lock).
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=work_prefix(target), dir=target.parent))
    try:
        with warnings.catch_warnings():
            # MLflow asks for an input example; the family checks every instance on predict.
            warnings.filterwarnings("ignore", message=".*input example", category=UserWarning)
            mlflow.pyfunc.save_model(
                str(work / "model"), python_model=BayescopeModel(),
                artifacts={"run_dir": str(run_dir)},
                signature=ModelSignature(inputs=None, outputs=outputs, params=params),
                pip_requirements=[f"bayescope=={__version__}"],
                metadata={"bayescope_kind": served.kind, "bayescope_version": __version__})
        os.replace(work / "model", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target

