"""The ``mlflow.pyfunc.PythonModel`` of an exported run and the frame-to-instances adapter it
predicts through (imports MLflow: only :func:`~bayescope.families.mlflow_model.save_mlflow`
and MLflow's loader import this module)."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from bayescope.errors import BayescopeInputError
from bayescope.families.base import ServedModel

MLFLOW_MAX_DRAWS = 1000
"""Posterior draws the exported model keeps (the API's default)."""


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-like instances: native Python values, missing cells ``None``."""
    cleaned = frame.astype(object).where(frame.notna(), None)
    return [dict(zip(cleaned.columns.astype(str), row, strict=True))
            for row in cleaned.itertuples(index=False, name=None)]


def predict_frame(model: ServedModel, frame: pd.DataFrame,
                  params: dict[str, Any] | None = None) -> pd.DataFrame:
    """The prediction table of ``frame``'s rows (one instance each) from a served model.

    ``params`` holds ``seed`` and the model's options (strings or numbers).
    """
    if not isinstance(frame, pd.DataFrame):
        raise BayescopeInputError("the MLflow model predicts a pandas DataFrame, one instance "
                                  "per row", field="model_input")
    params = dict(params or {})
    seed = int(params.pop("seed", 0))
    options = {name: str(value) for name, value in params.items()
               if str(value) != str(model.query_defaults.get(name))}
    return pd.DataFrame(model.predict(_records(frame), seed=seed, options=options))


class BayescopeModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """Loads the run directory the model folder carries and predicts with its family."""

    model: ServedModel

    def load_context(self, context: Any) -> None:
        """Load the run (its artifact checks included)."""
        from bayescope.families import load

        self.model = load(context.artifacts["run_dir"]).served("mlflow", MLFLOW_MAX_DRAWS)

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The family's prediction table for ``model_input``'s rows (module docstring of
        :mod:`bayescope.families.mlflow_model`)."""
        return predict_frame(self.model, model_input, params)
