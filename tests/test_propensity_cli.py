"""The propensity CLI contract: fit writes a run, score writes the documented columns."""

from __future__ import annotations

import json

import pandas as pd

from bayescope.cli import main
from bayescope.data.propensity_table import TARGET

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
    # Bad input: a missing value where the brief does not allow one.
    broken = new.copy()
    broken.loc[7, "orders_12m"] = None
    broken.to_csv(tmp_path / "broken.csv", index=False)
    assert main(["-q", "score", str(run), "--data", str(tmp_path / "broken.csv"),
                 "--out", str(tmp_path / "never.parquet")]) == 2
    assert not (tmp_path / "never.parquet").exists()
    assert main(["-q", "score", str(tmp_path), "--data", str(data), "--out",
                 str(tmp_path / "never.parquet")]) == 2
