"""The CLI contract: files, columns, exit codes; nothing half-written on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayescope.cli import main
from bayescope.errors import ArtifactError
from bayescope.inference.btyd_run import load_posterior


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, small_log_csv) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    code = main(["-q", "fit", "btyd", "--transactions", small_log_csv, "--method", "map",
                 "--calibration-end", "2024-12-31", "--draws", "200", "--chains", "1",
                 "--out", str(out)])
    assert code == 0
    return out


def test_fit_writes_posterior_summary_and_metrics(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary) >= {"model", "time_unit", "n_customers", "converged", "diagnostics",
                            "parameters"}
    assert summary["model"] == "mbgnbd+gamma_gamma"
    assert set(summary["parameters"]) == {"r", "alpha", "a", "b", "p", "q", "v"}
    for s in summary["parameters"].values():
        assert set(s) == {"mean", "sd", "hdi_low", "hdi_high"}
        assert s["hdi_low"] < s["mean"] < s["hdi_high"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["comparison"]) == {"bayescope", "lifetimes_mle", "lifetimes_bgnbd",
                                          "rfm_rule"}
    assert [c["category"] for c in metrics["purchase_categories"]] == [
        "highly likely", "somewhat likely", "unlikely", "highly unlikely"]
    run = load_posterior(run_dir)
    assert run.rfm.n_customers == summary["n_customers"]
    assert run.attrs["time_unit"] == "W"
    assert "pymc" in json.loads(run.attrs["library_versions"])
    assert (run_dir / "plots" / "holdout_by_frequency.png").is_file()


def test_predict_columns_and_top_list(run_dir, tmp_path):
    out = tmp_path / "p.csv"
    assert main(["-q", "predict", str(run_dir), "--horizon", "365", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == [
        "customer_id", "purchases_mean", "purchases_low", "purchases_high", "spend_mean",
        "spend_low", "spend_high", "value_mean", "value_low", "value_high", "p_alive"]
    top = tmp_path / "top.csv"
    assert main(["-q", "predict", str(run_dir), "--horizon", "365", "--top", "20", "--by",
                 "spend", "--out", str(top)]) == 0
    top_frame = pd.read_csv(top)
    assert len(top_frame) == 20 and top_frame.columns[-1] == "p_in_top"
    assert top_frame["spend_mean"].is_monotonic_decreasing


def test_predict_pmf_columns_are_a_distribution_with_the_predicted_mean(run_dir, tmp_path):
    out = tmp_path / "pmf.csv"
    assert main(["-q", "predict", str(run_dir), "--horizon", "365", "--pmf", "40",
                 "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    pmf = frame[[f"pmf_{n}" for n in range(41)]].to_numpy()
    assert list(frame.columns[-41:]) == [f"pmf_{n}" for n in range(41)]
    assert ((pmf >= 0) & (pmf <= 1)).all()
    assert (pmf.sum(axis=1) <= 1 + 1e-9).all() and pmf.sum(axis=1).min() > 0.99
    # The PMF's mean is the expected purchases (up to the mass beyond 40 purchases).
    mean = pmf @ range(41)
    assert abs(mean - frame["purchases_mean"]).max() < 0.02 * frame["purchases_mean"].max()
    top = tmp_path / "pmf_top.csv"
    assert main(["-q", "predict", str(run_dir), "--horizon", "30", "--top", "5", "--pmf", "2",
                 "--out", str(top)]) == 0
    top_frame = pd.read_csv(top)
    assert len(top_frame) == 5 and list(top_frame.columns[-4:]) == [
        "p_in_top", "pmf_0", "pmf_1", "pmf_2"]
    every = tmp_path / "pmf_every.csv"
    assert main(["-q", "predict", str(run_dir), "--horizon", "30", "--pmf", "2",
                 "--out", str(every)]) == 0
    # Sorting for the top list keeps each customer's own PMF.
    whole = pd.read_csv(every).set_index("customer_id").loc[top_frame["customer_id"]]
    columns = ["pmf_0", "pmf_1", "pmf_2"]
    np.testing.assert_allclose(top_frame[columns].to_numpy(), whole[columns].to_numpy())
    bad = tmp_path / "bad.csv"
    with pytest.raises(SystemExit) as exit_info:  # refused where the option is parsed
        main(["-q", "predict", str(run_dir), "--horizon", "30", "--pmf", "-1",
              "--out", str(bad)])
    assert exit_info.value.code == 2
    assert not bad.exists()


def test_simulate_alive_contract(run_dir, tmp_path):
    out = tmp_path / "alive.csv"
    assert main(["-q", "simulate-alive", str(run_dir), "--customers", "100", "--at",
                 "10d,1y,10y,100y", "--seed", "7", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns[:7]) == ["horizon", "alive", "purchases", "alive_low",
                                       "alive_high", "purchases_low", "purchases_high"]
    assert frame["horizon"].tolist() == ["10d", "1y", "10y", "100y"]
    again = tmp_path / "again.csv"
    main(["-q", "simulate-alive", str(run_dir), "--seed", "7", "--out", str(again)])
    assert pd.read_csv(again).equals(frame)
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("CustomerID,Timestamp,PurchaseValue\na,2024-01-01,1\nb,yesterday,2\n")
    out = tmp_path / "run"
    code = main(["fit", "btyd", "--transactions", str(bad), "--out", str(out)])
    assert code == 2
    assert not out.exists()
    assert "Timestamp" in capsys.readouterr().err


def test_predict_on_missing_run_exits_2(tmp_path):
    assert main(["predict", str(tmp_path / "none"), "--horizon", "30",
                 "--out", str(tmp_path / "x.csv")]) == 2
    assert not (tmp_path / "x.csv").exists()


def test_tampered_artifact_is_refused(run_dir, tmp_path):
    import shutil

    import xarray as xr

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    tree = xr.open_datatree(copy / "posterior.nc", engine="h5netcdf").load()
    data = tree["constant_data"].to_dataset()
    data["frequency"] = data["frequency"] + 1
    tree["constant_data"] = xr.DataTree(data)
    (copy / "posterior.nc").unlink()
    tree.to_netcdf(copy / "posterior.nc", engine="h5netcdf")
    with pytest.raises(ArtifactError, match="fingerprint"):
        load_posterior(copy)


def test_console_script_is_installed():
    result = subprocess.run([str(Path(sys.executable).parent / "bayescope"), "--help"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "simulate-alive" in result.stdout


@pytest.mark.parametrize("method", ["map", "nuts"])
def test_same_seed_gives_the_same_posterior(small_log_csv, method):
    import numpy as np

    from bayescope.data import load_transactions, rfm_summary
    from bayescope.families.btyd import model_spec_for
    from bayescope.inference.sampling import fit_model

    rfm = rfm_summary(load_transactions(small_log_csv)[0], "W")
    spec = model_spec_for(rfm, "bgnbd", with_spend=False)
    draws = [np.asarray(fit_model(spec.build(rfm), spec.parameter_names, method=method,
                                  draws=200, tune=200, chains=2, seed=seed, progress=False,
                                  cache_key=spec.cache_key).idata["posterior"]["r"])
             for seed in (3, 3, 4)]
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


def test_generate_writes_transactions_and_truth(tmp_path):
    out = tmp_path / "gen.csv"
    assert main(["-q", "generate", "btyd", "--customers", "300", "--seed", "4",
                 "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["CustomerID", "Timestamp", "PurchaseValue"]
    assert frame["CustomerID"].nunique() == 300
    truth = json.loads((tmp_path / "gen.truth.json").read_text())
    assert truth["model"] == "mbgnbd" and truth["seed"] == 4


def test_uninformative_data_is_refused(tmp_path):
    single_day = tmp_path / "one_day.csv"
    single_day.write_text("CustomerID,Timestamp,PurchaseValue\na,2024-01-01,1\nb,2024-01-01,2\n")
    assert main(["fit", "btyd", "--transactions", str(single_day), "--method", "map",
                 "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run" / "posterior.nc").exists()


def test_cached_compile_with_new_data_samples_like_a_fresh_one():
    """Swapping data into a cached compiled model changes the starting points too."""
    import numpy as np
    import pymc as pm

    from bayescope.inference.sampling import fit_model

    def model(level: float) -> pm.Model:
        with pm.Model() as m:
            centre = pm.Data("centre", np.asarray(level))
            mu = pm.Normal("mu", centre, 1.0)
            pm.Normal("y", mu, 1.0, observed=pm.Data("y_obs", np.full(5, level)))
        return m

    def draws(level: float, cache_key: str | None) -> np.ndarray:
        result = fit_model(model(level), ["mu"], draws=20, tune=20, chains=4, seed=1,
                           progress=False, cache_key=cache_key)
        return np.asarray(result.idata["posterior"]["mu"])

    draws(0.0, "swap-test")  # compiled at another level, then reused with level 50
    np.testing.assert_array_equal(draws(50.0, "swap-test"), draws(50.0, None))

    # A model whose free variables differ under the same key is compiled, not swapped into.
    with pm.Model() as wider:
        mu = pm.Normal("mu", 0.0, 1.0, shape=3)
        pm.Normal("y", mu, 1.0, observed=np.full((5, 3), 2.0))
    result = fit_model(wider, ["mu"], draws=20, tune=20, chains=2, seed=1, progress=False,
                       cache_key="swap-test")
    assert np.asarray(result.idata["posterior"]["mu"]).shape == (2, 20, 3)
