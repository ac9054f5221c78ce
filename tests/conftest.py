"""Shared fixtures: CDNOW (real, shipped in lifetimes) and small generated logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescope.data import CDNOW_CALIBRATION_END, CDNOW_OBSERVATION_END, load_cdnow, rfm_summary
from bayescope.data.generate_btyd import BTYDTruth, generate_btyd_transactions


@pytest.fixture(scope="session")
def cdnow() -> pd.DataFrame:
    return load_cdnow()


@pytest.fixture(scope="session")
def cdnow_rfm(cdnow):
    return rfm_summary(cdnow, "W", CDNOW_CALIBRATION_END, CDNOW_OBSERVATION_END)


@pytest.fixture(scope="session")
def small_log_csv(tmp_path_factory) -> str:
    """A small generated transaction CSV with a holdout (calibration end 2024-12-31)."""
    frame = generate_btyd_transactions(800, BTYDTruth(), np.random.default_rng(11)).transactions
    path = tmp_path_factory.mktemp("logs") / "transactions.csv"
    frame.to_csv(path, index=False)
    return str(path)
