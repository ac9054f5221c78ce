"""The Laplace approximation corrected by PSIS: exact where Pareto k allows, NUTS where not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pymc as pm
import pytest

from bayescope.cli import main
from bayescope.data.generate_btyd import BTYDTruth, generate_btyd_transactions
from bayescope.data.rfm import rfm_summary
from bayescope.data.transactions import validate_transactions
from bayescope.inference.importance import pareto_k_threshold
from bayescope.inference.laplace import UnconstrainedModel, newton_step_in_sd
from bayescope.inference.sampling import fit_model
from bayescope.models.btyd import BTYDModel, purchase_model
from bayescope.models.gamma_gamma import GammaGammaModel


@pytest.fixture(scope="module")
def daily_model():
    """MBG/NBD + Gamma-Gamma on 3,000 customers acquired over a year, observed for two,
    at daily resolution (the case the method is for, small)."""
    log = generate_btyd_transactions(3000, BTYDTruth(model="mbgnbd", alpha=28.0),
                                     np.random.default_rng(5), observation_periods=730,
                                     acquisition_periods=365, time_unit="D")
    rfm = rfm_summary(validate_transactions(log.transactions)[0], "D")
    spec = BTYDModel(purchase_model("mbgnbd"), GammaGammaModel())
    return spec, rfm


def test_psis_agrees_with_a_long_nuts_run_within_a_tenth_of_a_posterior_sd(daily_model):
    spec, rfm = daily_model
    names = spec.parameter_names
    nuts = fit_model(spec.build(rfm), names, "nuts", draws=2500, chains=4, seed=1,
                     progress=False)
    psis = fit_model(spec.build(rfm), names, "psis", draws=2000, seed=2)
    assert nuts.gate.passed
    assert psis.method == "psis" and psis.gate.passed, psis.gate.problems
    importance = psis.gate.importance
    assert importance is not None
    assert importance["pareto_k"] < pareto_k_threshold(2000)
    assert importance["ess"] > 1000
    for name in names:
        reference = np.asarray(nuts.idata["posterior"][name]).reshape(-1)
        draws = np.asarray(psis.idata["posterior"][name]).reshape(-1)
        assert draws.size == 2000
        sd = reference.std()
        assert abs(draws.mean() - reference.mean()) < 0.1 * sd, name
        assert 0.85 < draws.std() / sd < 1.15, name


def test_psis_is_seeded(daily_model):
    spec, rfm = daily_model
    first, second = (fit_model(spec.build(rfm), ("r", "alpha"), "psis", draws=500, seed=7)
                     for _ in range(2))
    np.testing.assert_array_equal(first.idata["posterior"]["r"], second.idata["posterior"]["r"])


def test_psis_falls_back_to_nuts_when_pareto_k_says_the_tails_are_missed():
    # A Cauchy posterior: the Laplace curvature at the mode implies tails far lighter than
    # the target's, so the importance ratios have no finite variance.
    with pm.Model() as model:
        pm.StudentT("x", nu=1.0, mu=0.0, sigma=1.0)
    result = fit_model(model, ("x",), "psis", draws=1000, chains=2, seed=3, progress=False)
    assert result.method == "nuts"
    assert result.gate.method == "nuts"
    importance = result.gate.importance
    assert importance is not None
    assert importance["pareto_k"] > importance["threshold"]


def test_batched_log_density_equals_the_models_own(daily_model):
    spec, rfm = daily_model
    model = spec.build(rfm)
    target = UnconstrainedModel(model)
    vectors = target.initial + np.random.default_rng(0).normal(0.0, 0.1, (5, target.size))
    logp = model.compile_logp(jacobian=True)
    batched, values = target.batched_logp_and_parameters(("r", "a"))(vectors)
    np.testing.assert_allclose(batched, [float(logp(target.point(v))) for v in vectors],
                               rtol=1e-10)
    points = [target.point(v) for v in vectors]
    # r = exp(log r); a = phi kappa, phi on (0, 1) through the logistic, kappa through exp
    np.testing.assert_allclose(values["r"], [np.exp(p["r_log__"]) for p in points], rtol=1e-12)
    np.testing.assert_allclose(values["a"], [np.exp(p["kappa_dropout_log__"])
                                             / (1.0 + np.exp(-p["phi_dropout_interval__"]))
                                             for p in points], rtol=1e-12)


FORK_CHECK = """
import os
import numpy as np
from bayescope.inference.laplace import in_forked_processes

rows = np.arange(12.0).reshape(6, 2)
out = in_forked_processes(lambda x: [x.sum(axis=1), np.full(len(x), os.getpid())], rows)
assert np.array_equal(out[0], rows.sum(axis=1))
print(int((out[1] == os.getpid()).sum()))
"""


def test_forked_evaluation_runs_in_child_processes_and_keeps_the_row_order():
    # Run in a fresh interpreter: a pytest-xdist worker has other threads, where forking is
    # refused (and the evaluation stays in the calling process).
    done = subprocess.run([sys.executable, "-c", FORK_CHECK], capture_output=True, text=True,
                          check=True)
    rows_in_the_parent = int(done.stdout.strip().splitlines()[-1])
    # every row computed in a child (which child takes which share is the pool's choice)
    assert rows_in_the_parent == (6 if len(os.sched_getaffinity(0)) < 2 else 0)


def test_cli_fits_btyd_by_psis_and_records_pareto_k(small_log_csv, tmp_path):
    out = tmp_path / "run"
    assert main(["-q", "fit", "btyd", "--transactions", small_log_csv, "--method", "psis",
                 "--draws", "600", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "psis"
    diagnostics = summary["diagnostics"]
    assert diagnostics["method"] in ("psis", "nuts")
    assert diagnostics["importance"]["proposals"] == 600
    assert main(["-q", "predict", str(out), "--horizon", "90",
                 "--out", str(tmp_path / "p.csv")]) == 0
    # The report says which gate applied: PSIS's, or NUTS's and why PSIS gave way.
    assert main(["-q", "report", str(out)]) == 0
    page = (out / "report" / "index.html").read_text()
    if diagnostics["method"] == "psis":
        assert "corrected by Pareto-smoothed importance sampling" in page
    else:
        assert "because PSIS&#x27;s Pareto k" in page or "because PSIS's Pareto k" in page


def test_a_stopped_optimizer_is_judged_by_its_newton_step_in_posterior_sd():
    # Gaussian log density with precision P: the Newton step from x is exactly m - x, so the
    # criterion reads the distance to the mode in sds whatever the data's size (P's scale).
    rng = np.random.default_rng(0)
    root = rng.normal(size=(3, 3))
    for scale in (1.0, 1e8):
        precision = scale * (root @ root.T + 3 * np.eye(3))
        covariance = np.linalg.inv(precision)
        sd = np.sqrt(np.diag(covariance))
        offset = np.array([0.02, -0.01, 0.005]) * sd
        gradient = precision @ offset  # gradient of the negative log density at m + offset
        assert newton_step_in_sd(gradient, covariance) == pytest.approx(0.02, rel=1e-6)
