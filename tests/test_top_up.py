"""A NUTS fit short of effective draws gets more chains, started where its chains ended, and
is gated on all of them (``fit_model(top_up_tune=...)``)."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from bayescope.inference.convergence import ESS_MIN, GateReport
from bayescope.inference.sampling import fit_model, topped_up_chains


def _gate(passed: bool = False, bulk: float = 222.0, tail: float = 500.0,
          divergences: int = 0, rhat: float = 1.005) -> GateReport:
    return GateReport(method="nuts", passed=passed, max_rhat=rhat, min_ess_bulk=bulk,
                      min_ess_tail=tail, divergences=divergences)


def test_the_chains_added_follow_the_ess_shortfall() -> None:
    # 2,000 draws gave ESS 222: 2,000 * 1.1 * 400 / 222 = 3,964 wanted, 1,964 more, 4 chains.
    assert topped_up_chains(_gate(), draws=500, chains=4) == 4
    assert topped_up_chains(_gate(bulk=390.0), draws=500, chains=4) == 1
    assert topped_up_chains(_gate(bulk=150.0), draws=500, chains=4) == 8  # at most twice
    assert topped_up_chains(_gate(bulk=140.0), draws=500, chains=4) == 0  # too far short
    assert topped_up_chains(_gate(bulk=23.0), draws=60, chains=1) == 0
    assert topped_up_chains(_gate(passed=True, bulk=ESS_MIN), 500, 4) == 0
    assert topped_up_chains(_gate(divergences=3), 500, 4) == 0  # a geometry, not a count
    assert topped_up_chains(_gate(rhat=1.023), 500, 4) == 0  # chains that disagree
    # R-hat over its limit with ESS to spare: draws for its excess to fall below 0.01 / 1.5
    # (1.011 at 4 x 500: 2,000 * 1.65 = 3,300, three chains; 1.013 at 4 x 1,000: 7,800,
    # four).
    assert topped_up_chains(_gate(rhat=1.011, bulk=1000.0), 500, 4) == 3
    assert topped_up_chains(_gate(rhat=1.013, bulk=767.0, tail=2000.0), 1000, 4) == 4
    assert topped_up_chains(_gate(bulk=float("nan")), 500, 4) == 0


def test_a_short_fit_is_topped_up_and_keeps_its_first_chains() -> None:
    with pm.Model() as model:
        pm.Normal("x", 1.0, 2.0, shape=3)
    settings = dict(method="nuts", draws=200, tune=300, chains=2, seed=0, progress=False)
    first = fit_model(model, ["x"], **settings)
    topped = fit_model(model, ["x"], **settings, top_up_tune=200)
    assert not first.gate.passed and first.gate.min_ess_tail < ESS_MIN
    assert topped.gate.chains_added >= 1
    assert topped.gate.passed, topped.gate.problems
    draws = topped.idata["posterior"]["x"].values
    assert draws.shape == (2 + topped.gate.chains_added, 200, 3)
    assert topped.idata["sample_stats"]["diverging"].shape[:1] == draws.shape[:1]
    np.testing.assert_array_equal(draws[:2], first.idata["posterior"]["x"].values)
    assert list(topped.idata["posterior"]["chain"].values) == list(range(draws.shape[0]))
    assert draws.mean() == pytest.approx(1.0, abs=4 * 2.0 / np.sqrt(ESS_MIN))
    assert draws.std() == pytest.approx(2.0, rel=0.1)


def test_a_passing_fit_is_left_as_it_is() -> None:
    with pm.Model() as model:
        pm.Normal("x", 0.0, 1.0)
    result = fit_model(model, ["x"], "nuts", draws=1000, tune=500, chains=2, seed=1,
                       progress=False, top_up_tune=100)
    assert result.gate.passed and result.gate.chains_added == 0
    assert result.idata["posterior"].sizes["chain"] == 2
