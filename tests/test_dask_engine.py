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


def test_predictions_written_by_the_workers_equal_the_pandas_engine(cluster, log_parts,
                                                                    tmp_path, capsys):
    folder, _ = log_parts
    import bayescope as bs

    model = bs.BTYD(method="map", customer_col="cust", time_col="ts", value_col="amount")
    address = cluster.scheduler_address
    run = model.fit(folder, calibration_end="2024-09-01", engine="dask",
                    scheduler=address).save(tmp_path / "run")
    lazy = model.predict(90, engine="dask", scheduler=address, out=tmp_path / "py")
    pd.testing.assert_frame_equal(lazy.compute().sort_values("customer_id", ignore_index=True),
                                  model.predict(90).sort_values("customer_id",
                                                                ignore_index=True),
                                  check_dtype=False)
    common = ["predict", str(run), "--horizon", "180", "--pmf", "3", "--discount-rate", "0.1"]
    assert main([*common, "--out", str(tmp_path / "one.csv")]) == 0
    assert main([*common, "--engine", "dask", "--scheduler", cluster.scheduler_address,
                 "--out", str(tmp_path / "parts")]) == 0
    from bayescope.families import btyd

    assert len(list((tmp_path / "parts").glob("part-*.parquet"))) == 1
    expected = pd.read_csv(tmp_path / "one.csv", dtype={"customer_id": str})
    ours = pd.read_parquet(tmp_path / "parts")
    key = "customer_id"
    pd.testing.assert_frame_equal(ours.sort_values(key, ignore_index=True),
                                  expected.sort_values(key, ignore_index=True),
                                  check_exact=False, rtol=1e-12)
    assert btyd.PARTITION_CUSTOMERS > 300
    assert main([*common, "--engine", "dask", "--top", "5", "--out",
                 str(tmp_path / "top")]) == 2
    assert "--top" in capsys.readouterr().err


@pytest.fixture(scope="module")
def propensity_run(tmp_path_factory):
    from bayescope.data.generate_propensity import generate_propensity_table
    from bayescope.data.propensity_table import TARGET, validate_propensity_columns
    from bayescope.families.propensity import (
        PropensityFitSettings,
        fit_propensity,
        load_propensity_run,
    )
    from bayescope.families.propensity_batch import SCORE_COLUMNS, score_run

    folder = tmp_path_factory.mktemp("propensity")
    table = generate_propensity_table(3_000, np.random.default_rng(7)).table
    fit_propensity(validate_propensity_columns(table), PropensityFitSettings(0, 0.0),
                   folder / "run")
    new = generate_propensity_table(2_000, np.random.default_rng(8)).table.drop(columns=TARGET)
    new["customer_id"] = [f"new{i}" for i in range(len(new))]
    run = load_propensity_run(folder / "run")
    expected, _ = score_run(run, validate_propensity_columns(new, require_target=False))
    return folder / "run", run, new, expected[SCORE_COLUMNS]


def test_scores_written_by_the_workers_equal_the_pandas_engine(cluster, propensity_run,
                                                               tmp_path, capsys):
    from bayescope.families.propensity_batch import score_file

    run_dir, run, new, expected = propensity_run
    parts = tmp_path / "parts"
    parts.mkdir()
    for i in range(3):  # a glob of CSV parts, columns in another order
        new.iloc[i::3][list(new.columns[::-1])].to_csv(parts / f"p{i}.csv", index=False)
    order = np.concatenate([np.arange(i, len(new), 3) for i in range(3)])
    report = score_file(run, str(parts / "p*.csv"), tmp_path / "a", engine="dask",
                        scheduler=cluster.scheduler_address)
    assert (report.rows, report.chunks) == (len(new), 3)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a"),
                                  expected.iloc[order].reset_index(drop=True),
                                  check_dtype=False, rtol=1e-12)
    dataset = tmp_path / "dataset"  # a Parquet folder, row groups as partitions
    dataset.mkdir()
    new.to_parquet(dataset / "all.parquet", row_group_size=700, index=False)
    assert main(["-q", "score", str(run_dir), "--data", str(dataset), "--engine", "dask",
                 "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "b")]) == 0
    assert len(list((tmp_path / "b").glob("part-*.parquet"))) == 3
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "b"), expected,
                                  check_dtype=False, rtol=1e-12)


def test_scoring_errors_on_workers_name_the_file_row_and_write_nothing(cluster, propensity_run,
                                                                     tmp_path):
    from bayescope.families.propensity_batch import score_file

    _, run, new, _ = propensity_run
    bad = new.copy()
    bad.loc[1_500, "refund_rate"] = 1.7
    bad.iloc[:1_000].to_csv(tmp_path / "p0.csv", index=False)
    bad.iloc[1_000:].to_csv(tmp_path / "p1.csv", index=False)
    out = tmp_path / "scores"
    with pytest.raises(BayescopeInputError, match="refund_rate") as error:
        score_file(run, str(tmp_path / "p*.csv"), out, engine="dask",
                   scheduler=cluster.scheduler_address)
    assert error.value.rows == [501] and str(error.value).startswith(str(tmp_path / "p1.csv"))
    repeated = new.copy()
    repeated.loc[1_900, "customer_id"] = repeated.loc[10, "customer_id"]
    repeated.iloc[:1_000].to_csv(tmp_path / "p0.csv", index=False)
    repeated.iloc[1_000:].to_csv(tmp_path / "p1.csv", index=False)
    with pytest.raises(BayescopeInputError, match="duplicated in 2 rows: 11, 1901"):
        score_file(run, str(tmp_path / "p*.csv"), out, engine="dask",
                   scheduler=cluster.scheduler_address)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p0.csv", "p1.csv"]


def test_spend_predictions_on_the_cluster_keep_the_exact_means(cluster, tmp_path):
    import bayescope as bs
    from bayescope.data.campaign_spend import TARGET
    from bayescope.data.generate_spend import generate_spend_table

    table = generate_spend_table(900, np.random.default_rng(5)).table
    run = bs.Spend(draws=150, chains=2, holdout_share=0.0).fit(table.iloc[:600]).save(
        tmp_path / "run")
    new = table.iloc[600:].drop(columns=TARGET)
    for part in range(3):
        new.iloc[part * 100:(part + 1) * 100].to_csv(tmp_path / f"new-{part}.csv", index=False)
    new.to_csv(tmp_path / "new.csv", index=False)
    common = ["-q", "predict", str(run), "--seed", "3"]
    assert main([*common, "--data", str(tmp_path / "new.csv"), "--out",
                 str(tmp_path / "one.csv")]) == 0
    assert main([*common, "--data", str(tmp_path / "new-*.csv"), "--engine", "dask",
                 "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "parts")]) == 0
    expected = pd.read_csv(tmp_path / "one.csv", dtype={"customer_id": str})
    ours = pd.read_parquet(tmp_path / "parts")
    assert list(ours.columns) == list(expected.columns)
    assert (ours["customer_id"] == expected["customer_id"]).all()
    exact = ["spend_mean", "p_positive", "uplift_mean"]
    pd.testing.assert_frame_equal(ours[exact], expected[exact], check_exact=False, rtol=1e-12)
    # The quantiles are simulated: the engines may differ by as much as two seeds do.
    assert main([*common[:-1], "4", "--data", str(tmp_path / "new.csv"), "--out",
                 str(tmp_path / "seed4.csv")]) == 0
    other_seed = pd.read_csv(tmp_path / "seed4.csv", dtype={"customer_id": str})
    for column in ("spend_median", "spend_low", "spend_high", "uplift_low", "uplift_high"):
        engines = np.abs(ours[column] - expected[column]).mean()
        seeds = np.abs(other_seed[column] - expected[column]).mean()
        assert engines <= 1.5 * seeds + 1e-9, (column, engines, seeds)


def test_a_frame_in_any_row_order_and_unreadable_or_empty_sources(client, log_parts, tmp_path):
    _, whole = log_parts
    shuffled = whole.sample(frac=1.0, random_state=3)  # an index out of order
    tidy, report = validate_transactions(shuffled, COLUMNS)
    assert_same_summary(summarise_transactions_on_dask(shuffled, COLUMNS, "W", "2024-09-01"),
                        summarise_transactions(tidy, report, "W", "2024-09-01"))
    (tmp_path / "empty.csv").write_text("cust,ts,amount\n")
    with pytest.raises(BayescopeInputError, match="has no rows"):
        summarise_transactions_on_dask(tmp_path / "empty.csv", COLUMNS, "W")
    (tmp_path / "broken.csv").write_text('cust,ts,amount\nA,2024-01-01,"3\nB,2024-01-02,4,9\n')
    with pytest.raises(BayescopeInputError, match="cannot read"):
        summarise_transactions_on_dask(tmp_path / "broken.csv", COLUMNS, "W")
    with pytest.raises(BayescopeInputError, match="calibration_end"):
        summarise_transactions_on_dask(tmp_path / "empty.csv", COLUMNS, "W", "not a date")
