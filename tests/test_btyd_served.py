"""Repeat-purchase runs on the API routes: known customers or summaries, ?horizon=, and one
422 naming the field for an unknown customer, an impossible summary or a bad horizon."""

from __future__ import annotations

import numpy as np
import pytest

import bayescope as bs
from bayescope.api import create_app
from bayescope.data.generate_btyd import BTYDTruth, generate_btyd_transactions


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    log = generate_btyd_transactions(400, BTYDTruth(), np.random.default_rng(8)).transactions
    model = bs.BTYD(method="map", seed=0).fit(log, calibration_end="2024-12-31")
    run = model.save(tmp_path_factory.mktemp("btyd_api") / "clv")
    return model, run, create_app([run]).test_client()


def test_a_known_customer_matches_the_estimators_predictions(served) -> None:
    model, run, client = served
    customer = str(model.run_.rfm.customer_id[5])
    answer = client.post(f"/v1/models/{run.name}:predict?horizon=180",
                         json={"instances": [{"customer_id": customer}]})
    assert answer.status_code == 200, answer.get_json()
    got = answer.get_json()["predictions"][0]
    expected = model.predict(horizon=180).set_index("customer_id").loc[customer]
    # The API thins the same draws to at most 1,000 (here all of them), the CLI to 500.
    assert got["purchases_mean"] == pytest.approx(expected["purchases_mean"], rel=0.05)
    assert got["p_alive_mean"] == pytest.approx(expected["p_alive"], rel=0.05)
    assert got["purchases_low"] <= got["purchases_mean"] <= got["purchases_high"]
    assert got["spend_low"] <= got["spend_mean"] <= got["spend_high"]


def test_a_summary_instance_and_the_horizon(served) -> None:
    _, run, client = served
    body = {"instances": [{"frequency": 4, "recency": 30.0, "T": 40.0, "monetary_value": 20.0},
                          {"frequency": 4, "recency": 2.0, "T": 40.0, "monetary_value": 20.0}]}
    short = client.post(f"/v1/models/{run.name}:predict?horizon=30", json=body).get_json()
    long = client.post(f"/v1/models/{run.name}:predict?horizon=365", json=body).get_json()
    recent, lapsed = long["predictions"]
    assert recent["p_alive_mean"] > lapsed["p_alive_mean"]  # quiet for 38 weeks: likely gone
    assert long["predictions"][0]["purchases_mean"] > short["predictions"][0]["purchases_mean"]
    # P(X = 0) is the complement of P(any purchase): more likely for the lapsed customer and
    # over the shorter horizon.
    assert recent["pmf_0"] < lapsed["pmf_0"] < 1.0
    assert short["predictions"][0]["pmf_0"] > recent["pmf_0"] > 0.0


@pytest.mark.parametrize(("instance", "query", "field"), [
    ({"customer_id": "nobody"}, "", "customer_id"),
    ({"frequency": 2, "recency": 50.0, "T": 40.0, "monetary_value": 1.0}, "", "recency"),
    ({"frequency": -1, "recency": 0.0, "T": 40.0, "monetary_value": 1.0}, "", "frequency"),
    ({"frequency": 0, "recency": 3.0, "T": 40.0, "monetary_value": 0.0}, "", "recency"),
    ({"frequency": 1, "recency": 3.0, "T": "x", "monetary_value": 0.0}, "", "T"),
    ({"frequency": 1, "recency": 3.0}, "", "T"),
    ({"customer_id": "nobody"}, "?horizon=-5", "horizon"),
    ({"customer_id": "nobody"}, "?horizon=nan", "horizon"),
])
def test_bad_instances_are_422_naming_the_field(served, instance, query, field) -> None:
    _, run, client = served
    answer = client.post(f"/v1/models/{run.name}:predict{query}",
                         json={"instances": [instance]})
    assert answer.status_code == 422
    assert answer.get_json()["field"] == field


def test_summaries_beyond_the_training_customers_are_422_and_the_edge_is_finite(served):
    model, run, client = served
    rfm = model.run_.rfm
    top = {"frequency": rfm.frequency.max(), "recency": rfm.recency.max(), "T": rfm.T.max(),
           "monetary_value": rfm.monetary_value.max()}
    # Before the check, frequency 10^9 over 10^12 periods answered a negative 5% quantile
    # of purchases and T = 10^15 a NaN spend.
    for field, value in (("frequency", 10**9), ("T", 1e15), ("monetary_value", 1e300)):
        instance = {"frequency": 3, "recency": 20.0, "T": 30.0, "monetary_value": 10.0,
                    field: value}
        answer = client.post(f"/v1/models/{run.name}:predict",
                             json={"instances": [instance]})
        body = answer.get_json()
        assert answer.status_code == 422, body
        assert body["field"] == field and "outside what this model can score" in body["error"]
    # At the edge of what it scores, every number is finite and the intervals ordered; a
    # customer newer than every training customer (T near 0) is scored too.
    edge = {"frequency": int(2 * top["frequency"]), "recency": 2 * top["T"],
            "T": 2 * top["T"], "monetary_value": 2 * top["monetary_value"]}
    new = {"frequency": 0, "recency": 0.0, "T": 0.5, "monetary_value": 0.0}
    answer = client.post(f"/v1/models/{run.name}:predict?horizon=3650",
                         json={"instances": [edge, new]})
    assert answer.status_code == 200, answer.get_json()
    for prediction in answer.get_json()["predictions"]:
        numbers = {k: v for k, v in prediction.items() if k != "customer_id"}
        assert all(np.isfinite(v) for v in numbers.values()), numbers
        assert 0 <= prediction["purchases_low"] <= prediction["purchases_mean"] \
            <= prediction["purchases_high"]
        assert 0 <= prediction["spend_low"] <= prediction["spend_high"]
