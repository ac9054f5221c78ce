"""``bayescope report``: the page, its PNGs and metrics.json, on NUTS and MAP runs, with the
stored holdout or a separate extract; a failed gate is shown in red; bad input changes nothing.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from bayescope.cli import main
from bayescope.files import OUTPUT_MARK
from bayescope.posterior_reports.btyd_assumptions import ASSUMPTIONS

SECTIONS = ("Summary", "Assumptions, strengths and remedies", "Convergence diagnostics",
            "Predictive checks (calibration data)",
            "Holdout scores and model comparison", "Holdout calibration", "Holdout counts",
            "Any purchase in the holdout (binary)", "Ranking",
            "Purchase-likelihood categories (Klaviyo Q8)", "Customers alive (simulation)")


def fit(log_csv: str, out: Path, *extra: str) -> Path:
    code = main(["-q", "fit", "btyd", "--transactions", log_csv, "--calibration-end",
                 "2024-12-31", "--out", str(out), *extra])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def nuts_run(tmp_path_factory, small_log_csv) -> Path:
    out = fit(small_log_csv, tmp_path_factory.mktemp("runs") / "nuts", "--draws", "500",
              "--chains", "2")
    assert main(["-q", "report", str(out)]) == 0
    return out


def test_report_has_every_section_figure_and_metric(nuts_run):
    report = nuts_run / "report"
    page = (report / "index.html").read_text()
    for title in SECTIONS:
        assert f">{title}</h2>" in page, title
    images = re.findall(r"\(([\w.]+\.png)\)</figcaption>", page)
    assert len(images) >= 10
    for name in images:
        assert (report / name).stat().st_size > 10_000, name
    assert page.count("data:image/png;base64,") == len(images)  # self-contained
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics) >= {"run", "gate", "parameters", "diagnostics", "predictive_check",
                            "holdout", "alive", "assumptions"}
    names = [row["name"] for row in metrics["assumptions"]]
    assert names == list(ASSUMPTIONS)  # the log is stored with the run: every check runs
    for row in metrics["assumptions"]:
        assert set(row) == {"name", "statistic", "low", "high", "verdict", "says"}
        assert row["verdict"] in ("holds", "doubtful", "violated")
        assert html.escape(row["says"]) in page
    at_fit = json.loads((nuts_run / "metrics.json").read_text())["assumptions"]
    assert [row["name"] for row in at_fit] == names
    holdout = metrics["holdout"]
    assert set(holdout["comparison"]) == {"bayescope", "lifetimes_mle", "lifetimes_bgnbd",
                                          "rfm_rule"}
    assert holdout["two_model_categories"]["models"] == ["bayescope", "lifetimes_bgnbd"]
    assert {r["metric"] for r in holdout["paired_comparison"]} >= {"crps", "mae", "rmse",
                                                                   "log_score", "brier"}
    ours = holdout["evaluation"]["bayescope"]
    assert [r["level"] for r in ours["coverage"]] == [0.5, 0.8, 0.9, 0.95]
    assert set(ours["zero_check"]) >= {"observed", "predicted_mean", "p_value"}
    assert metrics["predictive_check"]["loo"]["n_units"] == metrics["run"]["customers"]
    assert metrics["diagnostics"]["sampler"]["divergences"] >= 0
    assert [p.name for p in nuts_run.iterdir() if p.name.startswith(".")] == [OUTPUT_MARK]
    # Every number in the scores table is the one in metrics.json.
    mae = holdout["comparison"]["bayescope"]["mae"]
    assert f"{mae:.4g}" in page


def test_report_scores_equal_the_fit_time_holdout_metrics(nuts_run):
    at_fit = json.loads((nuts_run / "metrics.json").read_text())
    in_report = json.loads((nuts_run / "report" / "metrics.json").read_text())["holdout"]
    for model, scores in at_fit["comparison"].items():
        for name in ("mae", "crps", "brier", "coverage_90"):
            assert in_report["comparison"][model][name] == pytest.approx(scores[name])


def test_separate_holdout_extract_gives_the_stored_holdout(nuts_run, small_log_csv, tmp_path):
    stored = json.loads((nuts_run / "report" / "metrics.json").read_text())["holdout"]
    # Only the later purchases, columns reordered, plus a customer the fit never saw.
    log = pd.read_csv(small_log_csv)
    later = log[pd.to_datetime(log["Timestamp"]) > "2024-12-31 23:59:59"]
    stranger = pd.DataFrame({"PurchaseValue": [5.0], "Timestamp": [later["Timestamp"].iloc[0]],
                             "CustomerID": ["not-in-fit"]})
    extract = pd.concat([later[["PurchaseValue", "Timestamp", "CustomerID"]], stranger])
    path = tmp_path / "later.csv"
    extract.to_csv(path, index=False)
    assert main(["-q", "report", str(nuts_run), "--holdout", str(path)]) == 0
    metrics = json.loads((nuts_run / "report" / "metrics.json").read_text())
    assert metrics["holdout"]["total_actual"] == stored["total_actual"]
    assert metrics["holdout"]["holdout_periods"] == stored["holdout_periods"]
    assert metrics["holdout_source"]["unknown_customers_ignored"] == 1


def test_bad_holdout_exits_2_and_keeps_the_previous_report(nuts_run, small_log_csv, tmp_path):
    before = (nuts_run / "report" / "metrics.json").read_text()
    log = pd.read_csv(small_log_csv)
    early = log[pd.to_datetime(log["Timestamp"]) <= "2024-06-30"]
    path = tmp_path / "early.csv"
    early.to_csv(path, index=False)
    assert main(["-q", "report", str(nuts_run), "--holdout", str(path)]) == 2
    missing = tmp_path / "renamed.csv"
    early.rename(columns={"CustomerID": "cust"}).to_csv(missing, index=False)
    assert main(["-q", "report", str(nuts_run), "--holdout", str(missing)]) == 2
    assert (nuts_run / "report" / "metrics.json").read_text() == before
    assert [p.name for p in nuts_run.iterdir() if p.name.startswith(".")] == [OUTPUT_MARK]


def test_failed_gate_is_red_and_map_run_reports_without_chains(small_log_csv, tmp_path):
    short = fit(small_log_csv, tmp_path / "short", "--draws", "30", "--chains", "2")
    assert main(["-q", "report", str(short)]) == 0
    page = (short / "report" / "index.html").read_text()
    assert '<div class="callout bad">CONVERGENCE GATE FAILED' in page
    map_run = fit(small_log_csv, tmp_path / "map", "--method", "map", "--draws", "200",
                  "--chains", "1")
    assert main(["-q", "report", str(map_run)]) == 0
    page = (map_run / "report" / "index.html").read_text()
    assert "there are no Markov chains" in page


def test_report_on_missing_run_exits_2(tmp_path):
    assert main(["-q", "report", str(tmp_path / "nothing")]) == 2
