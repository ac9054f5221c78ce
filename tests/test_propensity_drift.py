"""Monthly drift check: silent on a month from the same process, loud on real shifts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayescope.cli import main
from bayescope.data.generate_propensity import PropensityTruth, generate_propensity_table
from bayescope.data.propensity_table import validate_propensity_columns
from bayescope.families.propensity import (
    PropensityFitSettings,
    fit_propensity,
    load_propensity_run,
)
from bayescope.families.propensity_batch import score_run
from bayescope.families.propensity_drift import PROFILE_ATTR, drift_check
from bayescope.posterior_reports.drift import (
    categorical_shares,
    compare,
    numeric_shares,
    profile_categorical,
    profile_numeric,
    psi,
)

N = 15_000


def test_psi_formula_and_bins():
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    expected = (0.7 - 0.5) * np.log(0.7 / 0.5) + (0.3 - 0.5) * np.log(0.3 / 0.5)
    assert psi(np.array([0.5, 0.5]), np.array([0.7, 0.3])) == pytest.approx(expected)
    # Bins (-inf, 1], (1, 2], (2, inf), missing.
    shares = numeric_shares(np.array([0.0, 1.0, 1.5, 3.0, np.nan]), [1.0, 2.0])
    np.testing.assert_allclose(shares, [0.4, 0.2, 0.2, 0.2])
    shares = categorical_shares(np.array(["a", None, "b", "zz"], dtype=object), ["a", "b"])
    np.testing.assert_allclose(shares, [0.25, 0.25, 0.25, 0.25])  # a, b, missing, unseen
    rng = np.random.default_rng(0)
    # For a normal mean shift d the binned PSI is about d^2 (symmetric KL).
    reference = profile_numeric(rng.normal(size=50_000))
    assert compare(reference, rng.normal(size=50_000))["verdict"] == "stable"
    assert compare(reference, rng.normal(0.4, 1, size=50_000))["verdict"] == "moderate"
    assert compare(reference, rng.normal(0.7, 1, size=50_000))["verdict"] == "major"
    levels = profile_categorical(np.array(["x", "y"] * 100, dtype=object))
    assert compare(levels, np.array(["x", "y", "new"] * 100, dtype=object))["psi"] > 0.25


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    generated = generate_propensity_table(N, np.random.default_rng(1))
    run_dir = tmp_path_factory.mktemp("drift") / "month1"
    fit_propensity(validate_propensity_columns(generated.table), PropensityFitSettings(0, 0.0),
                   run_dir)
    return load_propensity_run(run_dir), generated.truth


def _check(previous_run, table):
    columns = validate_propensity_columns(table)
    return drift_check(previous_run, columns, np.random.default_rng(0).uniform(size=len(table)),
                       *score_run(previous_run, columns, within_training=False))


def test_same_process_is_stable(previous):
    run, _ = previous
    drift = _check(run, generate_propensity_table(N, np.random.default_rng(2)).table)
    assert max(f["psi"] for f in drift["features"]) < 0.02
    assert drift["features_moderate"] == drift["features_major"] == []
    assert drift["propensity"]["psi"] < 0.02
    assert drift["segments"]["psi"] < 0.02
    assert drift["performance"]["on_new_month"]["roc_auc"] > 0.82


def test_customer_mix_shift_is_flagged(previous):
    run, truth = previous
    # Same purchase process (same intercept), many more lapsing customers.
    shifted = PropensityTruth(type_shares=(0.05, 0.15, 0.2, 0.6), intercept=truth.intercept)
    drift = _check(run, generate_propensity_table(N, np.random.default_rng(3), shifted).table)
    assert drift["propensity"]["psi"] > 0.1
    assert drift["propensity"]["new_month_mean_previous_model"] < \
        drift["propensity"]["previous_month_mean"] - 0.03
    assert drift["segments"]["psi"] > 0.1
    assert drift["features_moderate"] or drift["features_major"]
    # Covariate shift only: the previous model is still calibrated on the new month.
    performance = drift["performance"]
    assert performance["new_purchase_rate"] < performance["previous_purchase_rate"] - 0.03
    assert performance["on_new_month"]["ece"] < 0.03


def test_units_change_in_one_column_is_pinned_on_it(previous):
    run, _ = previous
    table = generate_propensity_table(N, np.random.default_rng(4)).table
    table["avg_order_value"] = table["avg_order_value"] * 100  # dollars sent as cents
    drift = _check(run, table)
    assert drift["features_major"] == ["avg_order_value"]
    assert drift["worst_feature"] == "avg_order_value"
    assert sorted(f["psi"] for f in drift["features"])[-2] < 0.02


def test_cli_previous_run_and_report(tmp_path):
    month1, month2 = tmp_path / "m1.csv", tmp_path / "m2.csv"
    assert main(["-q", "generate", "propensity", "--customers", "4000", "--seed", "1",
                 "--out", str(month1)]) == 0
    assert main(["-q", "generate", "propensity", "--customers", "4000", "--seed", "2",
                 "--type-shares", "0.05,0.15,0.2,0.6", "--out", str(month2)]) == 0
    assert main(["-q", "fit", "propensity", "--data", str(month1), "--out",
                 str(tmp_path / "r1")]) == 0
    assert main(["-q", "fit", "propensity", "--data", str(month2), "--out",
                 str(tmp_path / "r2"), "--previous", str(tmp_path / "r1")]) == 0
    summary = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert summary["drift"]["propensity_psi"] > 0.1
    assert main(["-q", "report", str(tmp_path / "r2")]) == 0
    html = (tmp_path / "r2" / "report" / "index.html").read_text()
    assert "Monthly drift" in html and "PSI per feature" in html
    # The previous run can be the folder being refitted: it is read before anything is written.
    assert main(["-q", "fit", "propensity", "--data", str(month2), "--out",
                 str(tmp_path / "r1"), "--previous", str(tmp_path / "r1")]) == 0
    assert "drift" in json.loads((tmp_path / "r1" / "metrics.json").read_text())


def test_bad_drift_inputs_exit_2(tmp_path, previous):
    run, _ = previous
    month = tmp_path / "m.csv"
    assert main(["-q", "generate", "propensity", "--customers", "500", "--type-shares",
                 "0.5,0.5", "--out", str(month)]) == 2
    assert not month.exists()
    assert main(["-q", "generate", "propensity", "--customers", "500", "--out",
                 str(month)]) == 0
    assert main(["-q", "fit", "propensity", "--data", str(month), "--out",
                 str(tmp_path / "r"), "--previous", str(tmp_path / "nothing")]) == 2
    # A run without a stored profile (fitted before profiles existed) is refused by name.
    del run.artifact.attrs[PROFILE_ATTR]
    with pytest.raises(Exception, match="no population profile"):
        columns = validate_propensity_columns(
            generate_propensity_table(200, np.random.default_rng(5)).table)
        drift_check(run, columns, np.zeros(200), *score_run(run, columns))


def test_an_unfitted_previous_estimator_is_refused_by_name():
    import bayescope as bs

    table = generate_propensity_table(300, np.random.default_rng(9)).table
    with pytest.raises(bs.NotFittedError, match="This Propensity is not fitted"):
        bs.Propensity().fit(table, previous=bs.Propensity())
