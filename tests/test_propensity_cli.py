"""The propensity CLI contract: fit writes a run, score writes the documented columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bayescope
from bayescope.cli import main
from bayescope.data.propensity_table import TARGET
from bayescope.errors import BayescopeInputError
from bayescope.inference.artifacts import load_artifact

SCORE_COLUMNS = ["customer_id", "p_mean", "p_low", "p_high", "segment", "segment_name"]


def test_fit_and_score(tmp_path):
    data = tmp_path / "shop.csv"
    assert main(["-q", "generate", "propensity", "--customers", "6000", "--seed", "3",
                 "--out", str(data)]) == 0
    run = tmp_path / "run"
    assert main(["-q", "fit", "propensity", "--data", str(data), "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["comparison"]) == {"bayescope", "logistic_regression",
                                          "gradient_boosting"}
    assert metrics["comparison"]["bayescope"]["roc_auc"] > 0.8
    # Importance: the generator's signal features lead; a feature without effect does not.
    signal = {"sessions_30d", "days_since_last_session", "orders_12m", "cart_adds_30d",
              "days_since_last_order", "email_clicks_90d", "discount_usage_rate",
              "csat_score", "acquisition_channel", "device_type"}
    ranked = [r["feature"] for r in metrics["permutation_importance"]]
    assert set(ranked[:4]) <= signal, ranked[:6]
    region = next(r for r in metrics["permutation_importance"] if r["feature"] == "region")
    assert region["auc_drop_mean"] < 0.01
    groups = {r["group"]: r for r in metrics["group_importance"]}
    assert set(groups) == {"demographics", "behavioural", "transactional", "support"}
    assert groups["behavioural"]["low"] > groups["support"]["high"]
    profiles = metrics["segments"]
    assert sum(p["share"] for p in profiles) == pytest.approx(1.0)
    for profile in profiles:
        assert profile["propensity_low"] < profile["propensity_mean"] < profile["propensity_high"]
        # The model's segment propensity agrees with the segment's observed rate.
        assert abs(profile["propensity_mean"] - profile["observed_rate"]) < 0.03
        assert set(profile["profile_medians"]) >= {"orders_12m", "sessions_30d"}
    new = pd.read_csv(data).drop(columns=TARGET).head(500)
    new.loc[:4, "region"] = "atlantis"  # a level the fit never saw
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "scores.parquet"
    assert main(["-q", "score", str(run), "--data", str(tmp_path / "new.csv"),
                 "--out", str(out)]) == 0
    scores = pd.read_parquet(out)
    assert list(scores.columns) == SCORE_COLUMNS and len(scores) == 500
    assert ((scores["p_low"] <= scores["p_mean"]) & (scores["p_mean"] <= scores["p_high"])).all()
    summary = json.loads((run / "summary.json").read_text())
    assert set(scores["segment_name"]) <= set(summary["segment_names"])
    assert main(["-q", "report", str(run)]) == 0
    page = (run / "report" / "index.html").read_text()
    for title in ("Held-out scores", "What drives propensity", "Segments marketing can explain",
                  "Clustering and classification, used together"):
        assert f">{title}</h2>" in page, title
    assert (run / "report" / "importance.png").is_file()
    # Bad input: a missing value where the brief does not allow one.
    broken = new.copy()
    broken.loc[7, "orders_12m"] = None
    broken.to_csv(tmp_path / "broken.csv", index=False)
    assert main(["-q", "score", str(run), "--data", str(tmp_path / "broken.csv"),
                 "--out", str(tmp_path / "never.parquet")]) == 2
    assert not (tmp_path / "never.parquet").exists()
    assert main(["-q", "score", str(tmp_path), "--data", str(data), "--out",
                 str(tmp_path / "never.parquet")]) == 2
    # Far beyond the training range: refused, naming the column, the range and the rows.
    extreme = new.copy()
    extreme.loc[[3, 9], "orders_12m"] = 10**6
    extreme.to_csv(tmp_path / "extreme.csv", index=False)
    assert main(["-q", "score", str(run), "--data", str(tmp_path / "extreme.csv"),
                 "--out", str(tmp_path / "never.parquet")]) == 2
    assert not (tmp_path / "never.parquet").exists()
    # The range is judged on the log1p scale the design uses, over the whole fitted file.
    low, high = json.loads(load_artifact(run).attrs["design"])["ranges"]["orders_12m"]
    trained = np.log1p(pd.read_csv(data)["orders_12m"])
    width = max(trained.max() - trained.min(), 1)
    assert (low, high) == pytest.approx((np.expm1(trained.min() - width),
                                         np.expm1(trained.max() + width)))
    # Every row it was fitted from, holdout included, is scorable (a linear widening had
    # refused a held-out order value of 480 against a training maximum of 160).
    assert main(["-q", "score", str(run), "--data", str(data),
                 "--out", str(tmp_path / "itself.parquet")]) == 0
    with pytest.raises(BayescopeInputError, match=r"orders_12m is outside .* rows 4, 10") as err:
        bayescope.load(run).predict(tmp_path / "extreme.csv")
    assert err.value.field == "orders_12m"


def test_the_api_serves_the_propensity_model_like_score(tmp_path):
    from bayescope.api import create_app

    data = tmp_path / "shop.csv"
    assert main(["-q", "generate", "propensity", "--customers", "3000", "--seed", "4",
                 "--out", str(data)]) == 0
    run = tmp_path / "shop_run"
    assert main(["-q", "fit", "propensity", "--data", str(data), "--out", str(run)]) == 0
    rows = pd.read_csv(data).drop(columns=TARGET).head(5)
    assert main(["-q", "score", str(run), "--data", str(data), "--out",
                 str(tmp_path / "s.parquet")]) == 0
    expected = pd.read_parquet(tmp_path / "s.parquet").head(5)
    instances = json.loads(rows.to_json(orient="records"))  # NaN -> null where allowed
    client = create_app([run]).test_client()
    assert client.get("/v1/models/shop_run").json["kind"] == "propensity"
    body = client.post("/v1/models/shop_run:predict", json={"instances": instances}).json
    got = pd.DataFrame(body["predictions"])
    for api, cli in (("mean", "p_mean"), ("low", "p_low"), ("high", "p_high"),
                     ("segment", "segment")):
        assert got[api].to_numpy() == pytest.approx(expected[cli].to_numpy())
    assert (got["low"] <= got["median"]).all() and (got["median"] <= got["high"]).all()
    instances[0]["orders_12m"] = None  # missing where the brief does not allow it
    bad = client.post("/v1/models/shop_run:predict", json={"instances": instances})
    assert bad.status_code == 422 and bad.json["field"] == "orders_12m"
    instances[0]["orders_12m"] = 10**6  # valid by the schema, far beyond the training data
    beyond = client.post("/v1/models/shop_run:predict", json={"instances": instances})
    assert beyond.status_code == 422 and beyond.json["field"] == "orders_12m"
    assert "outside what this model can score" in beyond.json["error"]
