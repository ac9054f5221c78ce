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


@pytest.fixture(scope="session")
def small_spend(tmp_path_factory):
    """A generated 1,500-customer campaign table and a small spend fit of it (CLI)."""
    from bayescope.cli import main

    folder = tmp_path_factory.mktemp("spend_cli")
    data = folder / "table.csv"
    assert main(["-q", "generate", "spend", "--customers", "1500", "--seed", "4",
                 "--out", str(data)]) == 0
    run = folder / "run"
    assert main(["-q", "fit", "spend", "--data", str(data), "--draws", "300", "--chains", "2",
                 "--out", str(run)]) == 0
    return data, run
