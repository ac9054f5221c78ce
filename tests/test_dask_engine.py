"""The Dask engine on a real distributed scheduler: a ``LocalCluster`` of two worker processes.

Every engine path is compared with the pandas path on the same data: equal, not close.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayescope.cli import main
from bayescope.data.generate_btyd import BTYDTruth, generate_btyd_transactions
from bayescope.data.rfm_dask import summarise_transactions_on_dask
from bayescope.data.transaction_summary import summarise_transactions
from bayescope.data.transactions import TransactionColumns, validate_transactions
from bayescope.errors import BayescopeInputError

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """A scheduler and two single-threaded worker processes, shared by this module."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster) as connected:
        yield connected


@pytest.fixture(scope="module")
def log_parts(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A generated log with repeated rows, shuffled into three CSV parts with renamed columns
    and string cells, and the same rows concatenated as the single-machine path reads them."""
    log = generate_btyd_transactions(300, BTYDTruth(), np.random.default_rng(1)).transactions
    rows = pd.concat([log, log.iloc[:40]]).sample(frac=1.0, random_state=2)
    rows = rows.rename(columns={"CustomerID": "cust", "Timestamp": "ts",
                                "PurchaseValue": "amount"})
    folder = tmp_path_factory.mktemp("log_parts")
    for part in range(3):
        rows.iloc[part::3].to_csv(folder / f"part-{part}.csv", index=False)
    whole = pd.concat([pd.read_csv(folder / f"part-{p}.csv", dtype=str, keep_default_na=False)
                       for p in range(3)], ignore_index=True)
    return folder, whole


COLUMNS = TransactionColumns("cust", "ts", "amount")


def assert_same_summary(ours, theirs) -> None:
    pd.testing.assert_frame_equal(ours.rfm.to_frame(), theirs.rfm.to_frame(), check_exact=True)
    for name in ("regularity_m", "value_cv", "repeat_by_period"):
        np.testing.assert_array_equal(getattr(ours.history, name),
                                      getattr(theirs.history, name))
    assert ours.history.first_period == theirs.history.first_period
    assert ours.history.calibration_periods == theirs.history.calibration_periods
    assert ours.report == theirs.report


@pytest.mark.parametrize(("unit", "calibration_end"), [("W", "2024-09-01"), ("D", None)])
def test_summary_on_the_cluster_equals_the_pandas_path(client, log_parts, unit,
                                                       calibration_end):
    folder, whole = log_parts
    tidy, report = validate_transactions(whole, COLUMNS)
    expected = summarise_transactions(tidy, report, unit, calibration_end)
    ours = summarise_transactions_on_dask(str(folder / "part-*.csv"), COLUMNS, unit,
                                          calibration_end)
    assert_same_summary(ours, expected)
    assert report.n_duplicates_dropped == 40
    assert ours.rfm.has_holdout == (calibration_end is not None)


def test_a_parquet_folder_with_row_groups_gives_the_same_summary(client, log_parts, tmp_path):
    _, whole = log_parts
    for part in range(2):
        whole.iloc[part::2].to_parquet(tmp_path / f"part-{part}.parquet", row_group_size=100)
    reordered = pd.concat([whole.iloc[0::2], whole.iloc[1::2]], ignore_index=True)
    tidy, report = validate_transactions(reordered, COLUMNS)
    expected = summarise_transactions(tidy, report, "W", "2024-09-01")
    assert_same_summary(
        summarise_transactions_on_dask(tmp_path, COLUMNS, "W", "2024-09-01"), expected)


def test_a_bad_value_on_a_worker_names_the_file_the_column_and_the_files_row(client, log_parts,
                                                                          tmp_path):
    folder, _ = log_parts
    for part in range(3):
        frame = pd.read_csv(folder / f"part-{part}.csv", dtype=str, keep_default_na=False)
        if part == 2:
            frame.loc[[57, 58], "amount"] = ["-3", "lots"]
        frame.to_csv(tmp_path / f"part-{part}.csv", index=False)
    bad = tmp_path / "part-2.csv"
    with pytest.raises(BayescopeInputError) as caught:
        summarise_transactions_on_dask(str(tmp_path / "part-*.csv"), COLUMNS, "W")
    single_machine = pytest.raises(BayescopeInputError)
    with single_machine as expected:
        validate_transactions(pd.read_csv(bad, dtype=str, keep_default_na=False), COLUMNS)
    assert str(caught.value) == f"{bad}: {expected.value}"
    assert (caught.value.field, caught.value.rows) == ("amount", [59])


def test_cli_fit_on_a_scheduler_matches_the_pandas_engine(cluster, log_parts, tmp_path):
    folder, _ = log_parts
    common = ["-q", "fit", "btyd", "--customer-col", "cust", "--time-col", "ts", "--value-col",
              "amount", "--calibration-end", "2024-09-01", "--method", "map"]
    assert main([*common, "--transactions", str(folder / "part-*.csv"), "--engine", "dask",
                 "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "dask")]) == 0
    one_file = tmp_path / "log.csv"
    pd.concat([pd.read_csv(folder / f"part-{p}.csv", dtype=str) for p in range(3)]).to_csv(
        one_file, index=False)
    assert main([*common, "--transactions", str(one_file), "--out",
                 str(tmp_path / "pandas")]) == 0
    ours, theirs = (json.loads((tmp_path / run / "summary.json").read_text())
                    for run in ("dask", "pandas"))
    assert ours["n_customers"] == theirs["n_customers"] == 300
    assert ours["map_estimate"] == theirs["map_estimate"]
    metrics = json.loads((tmp_path / "dask" / "metrics.json").read_text())
    assert {check["name"] for check in metrics["assumptions"]} >= {"poisson_purchasing",
                                                                  "stationarity"}


def test_cli_engine_errors_exit_2(log_parts, tmp_path, capsys):
    folder, _ = log_parts
    base = ["fit", "btyd", "--transactions", str(folder / "part-*.csv"), "--out",
            str(tmp_path / "run")]
    assert main([*base, "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "--scheduler needs --engine dask" in capsys.readouterr().err
    assert main([*base, "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
