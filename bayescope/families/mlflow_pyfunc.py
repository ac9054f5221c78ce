"""The ``mlflow.pyfunc.PythonModel`` of an exported run (imports MLflow: only
:func:`~bayescope.families.mlflow_model.save_mlflow` and MLflow's loader import this module)."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from bayescope.families.base import ServedModel
from bayescope.families.mlflow_model import MLFLOW_MAX_DRAWS, predict_frame


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
