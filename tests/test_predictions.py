"""NumPy closed forms agree with lifetimes and with simulation; top-N lists are coherent."""

from __future__ import annotations

import numpy as np
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter

from bayescope.inference.btyd_prediction import predict_customers
from bayescope.inference.btyd_simulation import HoldoutCounts
from bayescope.models import BTYDModel, GammaGammaModel, purchase_model

FITTERS = {"bgnbd": BetaGeoFitter, "mbgnbd": ModifiedBetaGeoFitter}


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd"])
def test_closed_forms_match_lifetimes(cdnow_rfm, name):
    rfm = cdnow_rfm
    fitter = FITTERS[name]().fit(rfm.frequency, rfm.recency, rfm.T)
    params = {k: np.array([v]) for k, v in fitter.params_.items()}
    model = purchase_model(name)
    ours = model.expected_purchases(params, rfm.frequency, rfm.recency, rfm.T, 52.0)[0]
    theirs = fitter.conditional_expected_number_of_purchases_up_to_time(
        52.0, rfm.frequency, rfm.recency, rfm.T)
    np.testing.assert_allclose(ours, theirs, rtol=1e-8)
    alive = model.p_alive(params, rfm.frequency, rfm.recency, rfm.T)[0]
    np.testing.assert_allclose(alive, fitter.conditional_probability_alive(
        rfm.frequency, rfm.recency, rfm.T), rtol=1e-8)
    new = model.expected_purchases_new(params, 39.0)
    np.testing.assert_allclose(new, fitter.expected_number_of_purchases_up_to_time(39.0),
                               rtol=1e-8)


def test_gamma_gamma_expected_value_matches_lifetimes(cdnow_rfm):
    rfm = cdnow_rfm
    mask = GammaGammaModel.informative_customers(rfm)
    ggf = GammaGammaFitter().fit(rfm.frequency[mask], rfm.monetary_value[mask])
    params = {k: np.array([v]) for k, v in ggf.params_.items()}
    ours = GammaGammaModel().expected_value(params, rfm.frequency, rfm.monetary_value)[0]
    theirs = ggf.conditional_expected_average_profit(rfm.frequency, rfm.monetary_value)
    np.testing.assert_allclose(ours, theirs, rtol=1e-8)


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd"])
def test_conditional_simulation_matches_closed_form(cdnow_rfm, name):
    model = purchase_model(name)
    params = {"r": np.full(400, 0.3), "alpha": np.full(400, 6.0), "a": np.full(400, 0.7),
              "b": np.full(400, 2.4)}
    simulator = HoldoutCounts(model, cdnow_rfm, 39.0)
    counts = simulator.simulate(params, np.arange(cdnow_rfm.n_customers),
                                np.random.default_rng(0))["purchases"]
    closed = model.expected_purchases({k: v[:1] for k, v in params.items()}, cdnow_rfm.frequency,
                                      cdnow_rfm.recency, cdnow_rfm.T, 39.0)[0]
    simulated = counts.mean()
    standard_error = counts.mean(axis=1).std() / np.sqrt(counts.shape[0])
    assert abs(simulated - closed.mean()) < 4 * standard_error + 1e-3


def test_top_list_is_sorted_and_probabilities_coherent(cdnow_rfm):
    rng = np.random.default_rng(3)
    posterior = {"r": rng.normal(0.95, 0.05, 200), "alpha": rng.normal(12, 0.5, 200),
                 "a": rng.normal(0.68, 0.05, 200), "b": rng.normal(0.83, 0.05, 200),
                 "p": rng.normal(6.1, 0.2, 200), "q": rng.normal(3.4, 0.1, 200),
                 "v": rng.normal(15, 0.5, 200)}
    spec = BTYDModel(purchase_model("mbgnbd"), GammaGammaModel())
    everyone = predict_customers(spec, posterior, cdnow_rfm, 52.0, top=None)
    top = predict_customers(spec, posterior, cdnow_rfm, 52.0, top=100, by="spend")
    assert len(top) == 100
    assert top["spend_mean"].is_monotonic_decreasing
    assert (top["spend_low"] <= top["spend_mean"]).all()
    assert (top["spend_mean"] <= top["spend_high"]).all()
    assert top["p_in_top"].between(0, 1).all() and top["p_in_top"].iloc[0] > 0.9
    full = predict_customers(spec, posterior, cdnow_rfm, 52.0, top=cdnow_rfm.n_customers,
                             by="spend")
    assert full["p_in_top"].sum() == pytest.approx(cdnow_rfm.n_customers)
    assert everyone["p_alive"].between(0, 1).all()


def test_discounting_lowers_spend_and_zero_rate_changes_nothing(cdnow_rfm):
    from bayescope.inference.btyd_prediction import Discounting

    posterior = {"r": np.full(20, 0.95), "alpha": np.full(20, 12.0), "a": np.full(20, 0.68),
                 "b": np.full(20, 0.83), "p": np.full(20, 6.1), "q": np.full(20, 3.4),
                 "v": np.full(20, 15.0)}
    spec = BTYDModel(purchase_model("mbgnbd"), GammaGammaModel())
    plain = predict_customers(spec, posterior, cdnow_rfm, 104.0)
    zero = predict_customers(spec, posterior, cdnow_rfm, 104.0,
                             discounting=Discounting(0.0, 52.18))
    ten = predict_customers(spec, posterior, cdnow_rfm, 104.0,
                            discounting=Discounting(0.10, 52.18))
    np.testing.assert_allclose(zero["spend_mean"], plain["spend_mean"], rtol=1e-9)
    # Every month's purchases are discounted by a factor between the first month's
    # (1.1 ** -(1/12)) and the last month's (1.1 ** -2), for every customer.
    ratio = ten["spend_mean"] / plain["spend_mean"]
    assert (ratio > 1.1**-2).all() and (ratio < 1.1 ** (-1 / 12)).all()
    # Purchases spread over both years: the mean factor sits strictly inside the range.
    assert 1.1**-1.9 < ten["spend_mean"].sum() / plain["spend_mean"].sum() < 1.1**-0.1
    # Exactly: each month's increment of the undiscounted expected spend (from the public
    # predictions at the month ends), discounted at the month's end.
    ends = np.minimum(np.arange(1, 25) * 52.18 / 12, 104.0)
    cumulative = np.array([predict_customers(spec, posterior, cdnow_rfm, end)["spend_mean"]
                           for end in ends])
    increments = np.diff(cumulative, axis=0, prepend=0.0)
    expected = (increments * 1.1 ** -(ends / 52.18)[:, None]).sum(axis=0)
    np.testing.assert_allclose(ten["spend_mean"], expected, rtol=1e-6)


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd"])
def test_sufficient_statistic_likelihood_equals_pymc_marketing(cdnow_rfm, name):
    model = purchase_model(name)
    params = {"r": 0.3, "alpha": 6.0, "a": 0.7, "b": 2.4}
    pymc_model = model.build(cdnow_rfm)
    logp = pymc_model.compile_fn(pymc_model.potentiallogp, inputs=pymc_model.value_vars,
                                 on_unused_input="ignore")
    point = {"r_log__": np.log(0.3), "alpha_log__": np.log(6.0),
             "phi_dropout_interval__": np.log(0.7 / 2.4), "kappa_dropout_log__": np.log(3.1)}
    ours = float(logp(point))
    assert ours == pytest.approx(model.reference_loglik(cdnow_rfm, params), rel=1e-8)


def test_unique_triples_fast_path_equals_numpy_unique(cdnow_rfm):
    from dataclasses import replace

    from bayescope.models.btyd_base import unique_triples

    fast, fast_counts = unique_triples(cdnow_rfm)
    slow, slow_counts = np.unique(
        np.column_stack([cdnow_rfm.frequency, cdnow_rfm.recency, cdnow_rfm.T]), axis=0,
        return_counts=True)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(fast_counts, slow_counts)
    fractional = replace(cdnow_rfm, T=cdnow_rfm.T + 0.5)
    triples, counts = unique_triples(fractional)
    assert counts.sum() == cdnow_rfm.n_customers and np.all(triples[:, 2] % 1 == 0.5)


@pytest.mark.parametrize(("name", "shift"), [("bgnbd", 0), ("mbgnbd", 1)])
def test_expected_purchases_new_when_a_plus_b_below_one(name, shift):
    # c = a + b - 1 < 0 makes 2F1 negative: the closed form must keep its sign (no NaN).
    rng = np.random.default_rng(0)
    n = 1_000_000
    params = {"r": np.array([0.5]), "alpha": np.array([2.0]), "a": np.array([0.3]),
              "b": np.array([0.4])}
    lam, p = rng.gamma(0.5, 1 / 2.0, n), rng.beta(0.3, 0.4, n)
    simulated = np.minimum(rng.poisson(lam * 10), rng.geometric(p) - shift)
    closed = purchase_model(name).expected_purchases_new(params, 10.0)[0]
    assert np.isfinite(closed)
    assert abs(closed - simulated.mean()) < 4 * simulated.std() / np.sqrt(n)


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd"])
def test_holdout_log_prob_is_a_distribution_matching_simulation(cdnow_rfm, name):
    model = purchase_model(name)
    draws = 400
    params = {"r": np.full(draws, 0.3), "alpha": np.full(draws, 6.0),
              "a": np.full(draws, 0.7), "b": np.full(draws, 2.4)}
    simulator = HoldoutCounts(model, cdnow_rfm, 39.0)
    index = np.arange(200)
    rng = np.random.default_rng(1)
    grid = np.arange(0, 80)
    pmf = np.stack([np.exp(simulator.log_prob(params, index, np.full(index.size, k),
                                              np.random.default_rng(5))).mean(axis=0)
                    for k in grid])
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, atol=1e-6)
    counts = np.concatenate([simulator.simulate(params, index, rng)["purchases"]
                             for _ in range(10)])
    empirical = np.stack([(counts == k).mean(axis=0) for k in grid[:4]])
    # Per-customer frequencies of 0..3 purchases within Monte Carlo error of the pmf.
    se = np.sqrt(pmf[:4] * (1 - pmf[:4]) / counts.shape[0]) + 1e-3
    assert np.mean(np.abs(empirical - pmf[:4]) < 4 * se) > 0.97
