"""Alive simulation: deterministic per seed and equal to the closed form within MC error."""

from __future__ import annotations

import numpy as np
import pytest

from bayescope.errors import BayescopeInputError
from bayescope.inference.alive_simulation import parse_horizon, simulate_alive
from bayescope.models import purchase_model

POSTERIOR = {"r": np.array([0.3, 0.35]), "alpha": np.array([6.0, 7.0]),
             "a": np.array([0.7, 0.8]), "b": np.array([2.4, 2.6])}
HORIZONS = ["10d", "1y", "10y", "100y"]


def test_same_seed_same_numbers_and_different_seed_differs():
    model = purchase_model("mbgnbd")
    one = simulate_alive(model, POSTERIOR, 100, HORIZONS, "W", np.random.default_rng(7), runs=50)
    two = simulate_alive(model, POSTERIOR, 100, HORIZONS, "W", np.random.default_rng(7), runs=50)
    three = simulate_alive(model, POSTERIOR, 100, HORIZONS, "W", np.random.default_rng(8),
                           runs=50)
    assert one.summary().equals(two.summary())
    assert not np.array_equal(one.alive, three.alive)


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd"])
def test_alive_fraction_matches_closed_form(name):
    model = purchase_model(name)
    single = {k: v[:1] for k, v in POSTERIOR.items()}
    n = 40_000
    sim = simulate_alive(model, single, n, HORIZONS, "W", np.random.default_rng(1), runs=1)
    fraction = sim.alive[0] / n
    expected = model.p_alive_new(single, sim.horizon_periods)[0]
    error = np.sqrt(expected * (1 - expected) / n)
    np.testing.assert_array_less(np.abs(fraction - expected), 4 * error + 1e-4)
    assert np.all(np.diff(sim.alive[0]) <= 0)  # nobody comes back
    # expected repeat purchases of a new customer agree with the closed form too
    purchases = sim.purchases[0] / n
    closed = model.expected_purchases_new(single, sim.horizon_periods)
    assert purchases[1] == pytest.approx(closed[0, 1], rel=0.05)


def test_existing_customers_alive_matches_p_alive(cdnow_rfm):
    model = purchase_model("bgnbd")
    single = {k: v[:1] for k, v in POSTERIOR.items()}
    sim = simulate_alive(model, single, 20_000, ["1d"], "W", np.random.default_rng(2), runs=1,
                         existing=cdnow_rfm)
    expected = model.p_alive(single, cdnow_rfm.frequency, cdnow_rfm.recency, cdnow_rfm.T).mean()
    assert sim.alive[0, 0] / 20_000 == pytest.approx(expected, abs=0.015)


def test_horizon_parsing():
    assert parse_horizon("10d") == 10
    assert parse_horizon("1y") == pytest.approx(365.25)
    with pytest.raises(BayescopeInputError):
        parse_horizon("ten days")


def test_p_alive_new_is_finite_for_concentrated_dropout():
    model = purchase_model("mbgnbd")
    big = {"r": np.array([0.3]), "alpha": np.array([6.0]), "a": np.array([200.0]),
           "b": np.array([2000.0])}
    value = model.p_alive_new(big, np.array([52.0]))[0, 0]
    # p is concentrated at 200/2200: alive = (1 - p) * E[(alpha / (alpha + p t)) ** r]
    p = 200 / 2200
    assert value == pytest.approx((1 - p) * (6 / (6 + p * 52)) ** 0.3, rel=1e-3)


def test_group_totals_add_up_to_the_total_draw_by_draw():
    from bayescope.inference.btyd_simulation import CalibrationCounts
    from bayescope.inference.predictive import predictive_summary, predictive_totals

    model = purchase_model("mbgnbd")
    T = np.linspace(1, 50, 1000)
    params = {"r": np.full(50, 0.3), "alpha": np.full(50, 6.0), "a": np.full(50, 0.7),
              "b": np.full(50, 2.4)}
    groups = np.arange(1000) % 7
    by_group = predictive_totals(CalibrationCounts(model, T), params,
                                 np.random.default_rng(3), groups=groups, chunk_size=130)
    total = predictive_totals(CalibrationCounts(model, T), params, np.random.default_rng(3),
                              chunk_size=130)
    np.testing.assert_allclose(by_group["frequency"].sum(axis=1), total["frequency"])
    summary = predictive_summary(CalibrationCounts(model, T), params, np.random.default_rng(3),
                                 exceed=(0,), chunk_size=130)
    assert list(summary.columns) == ["frequency_mean", "frequency_q05", "frequency_median",
                                     "frequency_q95", "frequency_p_above_0"]
    tail, head = summary["frequency_mean"].iloc[-100:], summary["frequency_mean"].iloc[:100]
    assert tail.mean() > head.mean()  # longer observation, more repeat purchases
