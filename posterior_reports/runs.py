"""What a report section needs of a stored run, as protocols (the family modules' run
classes satisfy them; sections never import those classes: imports flow one way)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bayescope.data.spend_features import FeatureScaling
from bayescope.inference.artifacts import Artifact
from bayescope.models.segments import SegmentModel


class StoredRun(Protocol):
    """Any stored fit: its artifact (DataTree, flat draws, per-unit arrays, attributes)."""

    @property
    def artifact(self) -> Artifact:
        """The run's artifact."""
        ...


class SpendRunView(StoredRun, Protocol):
    """A stored spend fit."""

    @property
    def posterior(self) -> dict[str, np.ndarray]:
        """Flat draws (draws, ...) of every stored variable."""
        ...

    @property
    def scaling(self) -> FeatureScaling:
        """Training feature means and scales."""
        ...

    @property
    def table(self) -> pd.DataFrame:
        """The table the run was fitted on (training and holdout rows)."""
        ...

    @property
    def holdout_mask(self) -> np.ndarray:
        """Rows held out of the fit."""
        ...

    @property
    def treatment_identified(self) -> bool:
        """False when the training data had no treatment contrast."""
        ...


class PropensityRunView(StoredRun, Protocol):
    """A stored propensity fit."""

    run_dir: Path

    @property
    def metrics_path(self) -> Path:
        """``RUN_DIR/metrics.json`` (written by the fit)."""
        ...

    @property
    def segments(self) -> SegmentModel:
        """The fitted segmentation."""
        ...


class TicketsRunView(StoredRun, Protocol):
    """A stored ticket-demand fit."""

    @property
    def artists(self) -> np.ndarray:
        """Artist ids in code order."""
        ...

    @property
    def dmas(self) -> np.ndarray:
        """DMA ids in code order."""
        ...

    def attr(self, name: str) -> Any:
        """A JSON attribute, decoded."""
        ...
