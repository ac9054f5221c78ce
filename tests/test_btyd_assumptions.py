"""The BTYD assumption checks: every check holds on data drawn from the model, the regularity
check says violated on regular (Erlang-3) purchasing, published CDNOW figures are reproduced,
and the purchase history behind the checks is right on a hand-made, messy log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescope.data.cdnow import (
    CDNOW_CALIBRATION_END,
    CDNOW_OBSERVATION_END,
    load_cdnow_sample,
)
from bayescope.data.generate_btyd import BTYDTruth, generate_btyd_transactions
from bayescope.data.purchase_history import purchase_history
from bayescope.data.rfm import RFMSummary, rfm_summary
from bayescope.data.transactions import TransactionColumns, validate_transactions
from bayescope.inference.sampling import fit_model
from bayescope.models import BTYDModel, GammaGammaModel, purchase_model
from bayescope.posterior_reports.btyd_assumptions import (
    ASSUMPTIONS,
    VERDICTS,
    check_assumptions,
    regularity,
)
from bayescope.posterior_reports.btyd_assumptions_report import REMEDIES, answers
from bayescope.posterior_reports.btyd_groups import group_table, strengths_and_weaknesses

KEYS = {"name", "statistic", "low", "high", "verdict", "says"}


def _checked(log: pd.DataFrame, unit: str, calibration_end: str, model: str = "mbgnbd",
             observation_end: str | None = None):
    rfm = rfm_summary(log, unit, calibration_end, observation_end)
    history = purchase_history(log, rfm)
    spec = BTYDModel(purchase_model(model), GammaGammaModel())
    fit = fit_model(spec.build(rfm), spec.parameter_names, method="map", draws=200, chains=1,
                    seed=0, progress=False)
    posterior = {k: np.asarray(fit.idata["posterior"][k]).reshape(-1)
                 for k in spec.parameter_names}
    return check_assumptions(spec, posterior, rfm, history, np.random.default_rng(0))


def _generated(regularity_k: int, n: int = 3000) -> pd.DataFrame:
    # Days, with the weekly truth's rates: weekly periods merge same-week purchases, which
    # heavy buyers' holdout counts then show (a real effect of weekly summaries, not tested
    # here).
    truth = BTYDTruth(alpha=28.0, regularity=regularity_k)
    raw = generate_btyd_transactions(n, truth, np.random.default_rng(2), observation_periods=546,
                                     acquisition_periods=84, time_unit="D").transactions
    tidy, _ = validate_transactions(raw, TransactionColumns("CustomerID", "Timestamp",
                                                            "PurchaseValue"))
    return tidy


@pytest.fixture(scope="module")
def from_the_model():
    return _checked(_generated(1), "D", "2024-09-30")


def test_every_check_holds_on_data_from_the_model_and_keeps_the_contract(from_the_model):
    rows = [check.to_dict() for check in from_the_model.checks]
    assert [row["name"] for row in rows] == list(ASSUMPTIONS)
    assert not from_the_model.skipped
    for row in rows:
        assert set(row) == KEYS
        assert row["verdict"] in VERDICTS
        assert row["low"] <= row["high"] and len(row["says"]) > 40
    assert {row["name"]: row["verdict"] for row in rows} == dict.fromkeys(ASSUMPTIONS, "holds")
    said = answers(from_the_model)
    assert "All 7 checks hold" in said[1]


def test_regular_purchasing_violates_poisson_and_names_the_remedy():
    checked = _checked(_generated(3), "D", "2024-09-30")
    verdict = {c.name: c for c in checked.checks}
    poisson = verdict["poisson_purchasing"]
    assert poisson.verdict == "violated"
    assert 2.5 < poisson.statistic < 4.0 and poisson.low > 1.5
    # Regular buyers who went quiet are more likely gone than the model thinks.
    assert verdict["dropout_after_purchase"].verdict != "holds"
    said = " ".join(answers(checked))
    assert "Remedy for poisson purchasing (violated)" in said
    assert REMEDIES["poisson_purchasing"] in said


def test_cdnow_spend_frequency_correlation_is_the_published_0_11():
    # Fader & Hardie's Gamma-Gamma note and lifetimes' documentation: 0.11 (0.1139) on the
    # 2,357-customer sample's repeat customers.
    checked = _checked(load_cdnow_sample(), "D", CDNOW_CALIBRATION_END, "bgnbd",
                       CDNOW_OBSERVATION_END)
    check = next(c for c in checked.checks if c.name == "spend_frequency_independence")
    assert check.statistic == pytest.approx(0.1139, abs=5e-4)
    assert check.low < 0.11 < check.high and check.verdict == "holds"


def test_wheat_morrison_regularity_recovers_k():
    rng = np.random.default_rng(4)
    for k in (1, 2, 4):
        gaps = rng.gamma(k, 1.0, (20_000, 2))
        assert regularity(gaps[:, 0] / gaps.sum(axis=1)) == pytest.approx(k, rel=0.06)


def test_purchase_history_on_a_messy_hand_made_log():
    # Unsorted rows, two purchases on one day, a customer first seen in the holdout (not in
    # the summary), weekly periods.
    rows = [("b", "2024-01-03 10:00", 5.0), ("a", "2024-01-01 09:00", 10.0),
            ("a", "2024-01-11 09:00", 20.0), ("a", "2024-01-11 18:00", 2.0),
            ("a", "2024-01-15 09:00", 30.0), ("a", "2024-02-04 09:00", 40.0),
            ("c", "2024-02-20 09:00", 1.0), ("b", "2024-02-21 10:00", 7.0)]
    raw = pd.DataFrame(rows, columns=["CustomerID", "Timestamp", "PurchaseValue"])
    tidy, _ = validate_transactions(raw, TransactionColumns("CustomerID", "Timestamp",
                                                            "PurchaseValue"))
    rfm = rfm_summary(tidy, "W", "2024-02-04")
    history = purchase_history(tidy, rfm)
    a, b = (list(rfm.customer_id).index(c) for c in "ab")
    # a's purchase days 1, 11 (09:00, the day's first), 15, 35: last two gaps 4 and 20 days.
    assert history.regularity_m[a] == pytest.approx(4 / 24)
    assert np.isnan(history.regularity_m[b])
    # a's repeat weeks (Monday-start): week of Jan 8 (22), of Jan 15 (30), of Jan 29 (40).
    values = np.array([22.0, 30.0, 40.0])
    assert history.value_cv[a] == pytest.approx(values.std(ddof=1) / values.mean())
    assert np.isnan(history.value_cv[b])
    # Repeat purchases per week from the week of Jan 1: a in weeks 1, 2, 4; b in week 7
    # (holdout); c is not a customer of the summary.
    assert history.repeat_by_period.tolist() == [0, 1, 1, 0, 1, 0, 0, 1]
    assert history.calibration_periods == 5


def test_groups_name_the_worst_calibrated_and_the_best_against_the_rival():
    rng = np.random.default_rng(6)
    n = 4000
    frequency = rng.choice([0, 1, 2, 5, 9], n, p=[0.4, 0.2, 0.2, 0.1, 0.1]).astype(float)
    T = rng.uniform(10, 40, n).round()
    recency = np.where(frequency > 0, np.floor(T * rng.uniform(0.1, 1, n)), 0.0)
    rfm = RFMSummary(np.arange(n).astype(str), frequency, recency, T,
                     np.where(frequency > 0, rng.gamma(4, 10, n), 0.0), "W",
                     pd.Timestamp("2024-01-01"), pd.Timestamp("2024-06-30"))
    expected = 0.3 * frequency + 0.1
    y = rng.poisson(expected).astype(float)
    ours = expected * np.where(frequency == 9, 2.0, 1.0)  # twice too many for 8+ buyers
    crps_ours = np.abs(y - ours)
    crps_rival = crps_ours + np.where(frequency == 1, 0.5, 0.0)  # rival worse for 1-buyers
    rows = group_table(rfm, y, {"bayescope": ours},
                       {"bayescope": {"crps": crps_ours}, "lifetimes_mle": {"crps": crps_rival}},
                       np.abs(y - ours) < 2, "lifetimes_mle", rng)
    assert {r["grouping"] for r in rows} == {"frequency", "recency", "cohort", "spend"}
    eight = next(r for r in rows if r["grouping"] == "frequency" and r["group"] == "8+")
    assert eight["ratio_low"] > 1.6
    said = strengths_and_weaknesses(rows, "lifetimes' MLE")
    assert said[0].startswith("Where it does poorly: for frequency group '8+'")
    assert "over-predicts" in said[0]
    assert "frequency group '1'" in said[1]
    assert said[2] == "In no group does lifetimes' MLE beat it beyond noise."
