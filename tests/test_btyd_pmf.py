"""P(X = n) of BG/NBD and MBG/NBD, and the closed forms at the edges an outside check found.

The PMF is checked against R BTYD's published values (``bgnbd.pmf`` at the help page's
arguments; the walkthrough vignette's conditional expectations, P(alive) and calibration fit
histogram), against Fader, Hardie & Lee's (2005) published conditional expectation (its mean),
against lifetimes' new-customer PMF (FHL eq. 8 and its MBG/NBD counterpart), and against
simulation of the purchase process for new and existing customers.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter

from bayescope.data.rfm import RFMSummary
from bayescope.errors import BayescopeInputError
from bayescope.inference.btyd_simulation import CalibrationCounts, HoldoutCounts
from bayescope.models import purchase_model

FHL = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
MODELS = ("bgnbd", "mbgnbd")
# The unrounded CDNOW estimate the BTYD walkthrough prints (v2.4.1-2.4.3, LL -9582.429).
BTYD_FIT = {"r": 0.2425967, "alpha": 4.413659, "a": 0.7929869, "b": 2.426164}


def _params(values: dict[str, float], draws: int = 1) -> dict[str, np.ndarray]:
    return {k: np.full(draws, v) for k, v in values.items()}


def test_mean_of_the_conditional_pmf_is_fader_hardie_lees_published_1_226():
    # FHL (2005), section 5: x = 2, t_x = 30.43, T = 38.86 weeks, next 39 weeks: 1.226.
    model = purchase_model("bgnbd")
    n = np.arange(0, 200.0)
    pmf = model.pmf(_params(FHL), np.full(n.size, 2.0), np.full(n.size, 30.43),
                    np.full(n.size, 38.86), 39.0, n)[0]
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert float(n @ pmf) == pytest.approx(1.226, abs=5e-4)


def test_new_customer_pmf_is_r_btyds_published_bgnbd_pmf():
    # BTYD's bgnbd.pmf help-page arguments; the outputs as lifetimes' test_estimation.py
    # records them "same as R BTYD" (7 significant digits).
    model = purchase_model("bgnbd")
    assert model.pmf_new(_params(FHL), 2.0, np.array([10.0]))[0, 0] == pytest.approx(
        1.07869e-07, rel=5e-6)
    assert model.pmf_new(_params(FHL), 39.0, np.array([0.0]))[0, 0] == pytest.approx(
        0.5737864, rel=2e-7)
    published = [0.0019995214, 0.0015170236, 0.0011633150, 0.0009003148, 0.0007023638,
                 0.0005517902, 0.0004361913, 0.0003467171, 0.0002769613, 0.0002222260]
    np.testing.assert_allclose(model.pmf_new(_params(FHL), 30.0, np.arange(11, 21.0))[0],
                               published, rtol=1e-6)


@pytest.mark.parametrize(("x", "tx", "T", "published"), [
    (10.0, 20.0, 39.0, 0.3474606), (15.0, 20.0, 39.0, 0.04283391),
    (20.0, 20.0, 39.0, 0.004158973), (25.0, 20.0, 39.0, 0.0003583685),
    (26.0, 216 / 7, 31.0, 25.75659),  # customer 1516 (t.x printed as 30.85714: 216 days)
])
def test_conditional_pmf_mean_is_the_btyd_walkthroughs_printed_expectation(x, tx, T, published):
    # bgnbd.ConditionalExpectedTransactions(params, T.star = 52, x, t.x, T.cal)
    model = purchase_model("bgnbd")
    n = np.arange(0, 400.0)
    same = np.ones(n.size)
    pmf = model.pmf(_params(BTYD_FIT), x * same, tx * same, T * same, 52.0, n)[0]
    assert float(n @ pmf) == pytest.approx(published, rel=2e-7)


def test_p_alive_is_the_btyd_walkthroughs_printed_value_for_customer_1516():
    alive = purchase_model("bgnbd").p_alive(_params(BTYD_FIT), np.array([26.0]),
                                             np.array([216 / 7]), np.array([31.0]))
    assert float(alive[0, 0]) == pytest.approx(0.9688523, abs=1e-7)


def test_calibration_histogram_of_the_cdnow_cohort_is_btyds_figure():
    # The expected number of CDNOW's 2,357 customers with 0, 1, ..., 6 and 7+ repeat purchases
    # in calibration, sum_i P(X(T_i) = x), as bgnbd.PlotFrequencyInCalibration(params, cbs, 7)
    # draws it in the walkthrough (its figure 7; BTYD's 7+ bin sums x = 7 .. max(x) = 29).
    # The matrix is not printed: the bar heights were read off the vector figure to +-0.05.
    path = resources.files("lifetimes") / "datasets" / "cdnow_customers_summary.csv"
    with resources.as_file(path) as local:
        T = pd.read_csv(local)["T"].to_numpy(float)
    model = purchase_model("bgnbd")
    values, customers = np.unique(T, return_counts=True)
    n = np.arange(0, 30.0)
    expected = sum(c * model.pmf_new(_params(FHL), float(t), n)[0]
                   for t, c in zip(values, customers, strict=True))
    binned = np.r_[expected[:7], expected[7:].sum()]
    figure = [1406.5, 460.8, 192.7, 101.3, 59.9, 38.2, 25.6, 71.4]
    np.testing.assert_allclose(binned, figure, atol=0.1)


@pytest.mark.parametrize("name", MODELS)
def test_new_customer_pmf_equals_lifetimes(name):
    fitter = (BetaGeoFitter if name == "bgnbd" else ModifiedBetaGeoFitter)()
    fitter.params_ = pd.Series(FHL)
    n = np.arange(0, 12)
    ours = purchase_model(name).pmf_new(_params(FHL), 39.0, n)[0]
    theirs = [float(fitter.probability_of_n_purchases_up_to_time(39.0, int(k))) for k in n]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


@pytest.mark.parametrize("name", MODELS)
def test_pmf_sums_to_one_has_the_closed_form_mean_and_zero(name):
    model = purchase_model(name)
    params = {"r": np.array([0.243, 0.8]), "alpha": np.array([4.414, 20.0]),
              "a": np.array([0.793, 0.4]), "b": np.array([2.426, 0.3])}
    x = np.array([0.0, 0.0, 1.0, 2.0, 7.0, 40.0])
    tx = np.array([0.0, 0.0, 5.0, 30.43, 60.0, 70.0])
    T = np.array([0.0, 38.86, 20.0, 38.86, 70.0, 78.0])
    n = np.arange(0, 600.0)
    table = np.stack([model.pmf(params, x, tx, T, 26.0, k) for k in n])  # (n, draws, customers)
    np.testing.assert_allclose(table.sum(axis=0), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.tensordot(n, table, axes=1),
                               model.expected_purchases(params, x, tx, T, 26.0), rtol=1e-7)
    np.testing.assert_allclose(table[0], 1.0 - model.p_any_purchase(params, x, tx, T, 26.0),
                               rtol=1e-10)


@pytest.mark.parametrize("name", MODELS)
def test_pmf_matches_simulation_for_new_and_existing_customers(name):
    model = purchase_model(name)
    params = _params(FHL, draws=1)
    rng = np.random.default_rng(3)
    size = 400_000
    new = CalibrationCounts(model, np.full(size, 39.0)).simulate(
        _params(FHL), np.arange(size), rng)["frequency"][0]
    grid = np.arange(0, 6)
    expected = model.pmf_new(params, 39.0, grid)[0]
    observed = np.array([(new == k).mean() for k in grid])
    assert np.all(np.abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / size))

    history = RFMSummary(np.array(["c"]), np.array([3.0]), np.array([20.0]), np.array([38.0]),
                         np.zeros(1), "W", pd.Timestamp("1997-09-30"),
                         pd.Timestamp("1998-06-30"))
    draws = _params(FHL, draws=size)
    later = HoldoutCounts(model, history, 39.0).simulate(draws, np.arange(1), rng)["purchases"]
    same = np.ones(grid.size)
    expected = model.pmf(params, 3.0 * same, 20.0 * same, 38.0 * same, 39.0, grid)[0]
    observed = np.array([(later[:, 0] == k).mean() for k in grid])
    assert np.all(np.abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / size))


@pytest.mark.parametrize("name", MODELS)
def test_heavy_buyer_gone_quiet_raises_no_floating_point_error(name):
    # x = 300 purchases, the last on day 30 of 365: P(alive) ~ 1e-242, once an exp overflow.
    model = purchase_model(name)
    params = _params({"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}, draws=2)
    x, tx, T = np.array([300.0]), np.array([30.0]), np.array([365.0])
    saved = np.seterr(all="raise")
    try:
        alive = model.p_alive(params, x, tx, T)
        purchases = model.expected_purchases(params, x, tx, T, 365.0)
        zero = model.pmf(params, x, tx, T, 365.0, 0.0)
        loglik = model.loglik(params, x, tx, T)
    finally:
        np.seterr(**saved)
    assert np.all((alive >= 0) & (alive < 1e-100))
    assert np.all(np.isfinite(purchases)) and np.all(purchases < 1e-100)
    np.testing.assert_allclose(zero, 1.0)
    assert np.all(np.isfinite(loglik))


@pytest.mark.parametrize("name", MODELS)
def test_impossible_summaries_have_zero_likelihood_and_are_refused(name):
    model = purchase_model(name)
    x = np.array([1.0, -1.0, 0.0, 2.0, 1.5])
    tx = np.array([5.0, 0.0, 3.0, 50.0, 2.0])
    T = np.full(5, 10.0)
    loglik = model.loglik(_params(FHL), x, tx, T)[0]
    assert np.isfinite(loglik[0]) and np.all(loglik[1:] == -np.inf)
    with pytest.raises(BayescopeInputError, match=r"recency must lie in \[0, T\] \(rows 4\)"):
        RFMSummary(np.array(list("abcd")), x[[0, 0, 0, 3]], tx[[0, 0, 0, 3]], T[:4],
                   np.zeros(4), "W", pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-01"))
    with pytest.raises(BayescopeInputError, match="frequency must be a non-negative integer"):
        RFMSummary(np.array(["a"]), x[[1]], tx[[1]], T[:1], np.zeros(1), "W",
                   pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-01"))
    with pytest.raises(BayescopeInputError, match="must be 0 when frequency is 0"):
        RFMSummary(np.array(["a"]), x[[2]], tx[[2]], T[:1], np.zeros(1), "W",
                   pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-01"))
