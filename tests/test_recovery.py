"""Parameter recovery on seeded synthetic data: every true value inside its 94% HDI."""

from __future__ import annotations

import numpy as np
import pytest

from bayescope.data import rfm_summary, validate_transactions
from bayescope.data.generate_btyd import BTYDTruth, generate_btyd_transactions
from bayescope.inference.sampling import fit_model
from bayescope.models import BTYDModel, GammaGammaModel, purchase_model
from bayescope.posterior_reports.diagnostics import parameter_summary


@pytest.mark.parametrize(("model", "seed"), [("mbgnbd", 1), ("bgnbd", 2)])
def test_true_parameters_inside_94_hdi(model, seed):
    truth = BTYDTruth(model=model, alpha=28.0)  # rates per day
    raw = generate_btyd_transactions(2500, truth, np.random.default_rng(seed),
                                     observation_periods=546, acquisition_periods=84,
                                     time_unit="D").transactions
    tx, _ = validate_transactions(raw)
    rfm = rfm_summary(tx, "D")
    spec = BTYDModel(purchase_model(model), GammaGammaModel())
    result = fit_model(spec.build(rfm), spec.parameter_names, draws=1000, chains=4, seed=seed,
                       progress=False)
    assert result.gate.passed, result.gate.problems
    summary = parameter_summary(result.idata["posterior"], spec.parameter_names)
    for name in spec.parameter_names:
        s = summary[name]
        assert s["hdi_low"] <= getattr(truth, name) <= s["hdi_high"], (name, s)


def test_generator_is_deterministic_and_seeded():
    a = generate_btyd_transactions(200, BTYDTruth(), np.random.default_rng(5)).transactions
    b = generate_btyd_transactions(200, BTYDTruth(), np.random.default_rng(5)).transactions
    c = generate_btyd_transactions(200, BTYDTruth(), np.random.default_rng(6)).transactions
    assert a.equals(b)
    assert not a.equals(c)
    assert list(a.columns) == ["CustomerID", "Timestamp", "PurchaseValue"]


def test_mbgnbd_generator_has_dropout_at_time_zero():
    # With p near 1, MBG/NBD customers almost never repeat; BG/NBD customers repeat once.
    rng = np.random.default_rng(0)
    mbg = generate_btyd_transactions(2000, BTYDTruth(model="mbgnbd", a=50, b=0.5),
                                     rng).transactions
    bg = generate_btyd_transactions(2000, BTYDTruth(model="bgnbd", a=50, b=0.5),
                                    rng).transactions
    assert len(mbg) - 2000 < 0.05 * (len(bg) - 2000)


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd"])
def test_p_alive_at_true_parameters_matches_simulated_survivors(model):
    truth = BTYDTruth(model=model, alpha=28.0)
    log = generate_btyd_transactions(20_000, truth, np.random.default_rng(9),
                                     observation_periods=546, acquisition_periods=84,
                                     time_unit="D")
    rfm = rfm_summary(validate_transactions(log.transactions)[0], "D")
    params = {k: np.array([getattr(truth, k)]) for k in ("r", "alpha", "a", "b")}
    p_alive = purchase_model(model).p_alive(params, rfm.frequency, rfm.recency, rfm.T)[0]
    alive = log.customers.set_index("CustomerID").loc[rfm.customer_id, "alive_at_end"]
    standard_error = np.sqrt(np.sum(p_alive * (1 - p_alive)))
    assert abs(alive.sum() - p_alive.sum()) < 4 * standard_error
