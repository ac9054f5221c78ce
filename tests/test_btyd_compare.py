"""``bayescope compare RUN_A RUN_B``: two repeat-purchase runs on one holdout, page + JSON; a
run compared with itself has no winner; runs that cannot be compared are one exit-2 error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayescope.cli import main
from bayescope.data.generate_btyd import BTYDTruth, generate_btyd_transactions


def _fit(log: str, out: Path, *extra: str) -> Path:
    assert main(["-q", "fit", "btyd", "--transactions", log, "--calibration-end", "2024-12-31",
                 "--method", "map", "--out", str(out), *extra]) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_log_csv):
    folder = tmp_path_factory.mktemp("compare")
    return (_fit(small_log_csv, folder / "bg", "--model", "bgnbd"),
            _fit(small_log_csv, folder / "mbg", "--model", "mbgnbd"), folder)


def test_compare_writes_scores_bins_and_a_verdict(runs, tmp_path):
    bg, mbg, _ = runs
    out = tmp_path / "cmp"
    assert main(["-q", "compare", str(bg), str(mbg), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["scores"]) == {"bg", "mbg"}
    assert metrics["scores"]["bg"]["model"] == "bgnbd+gamma_gamma"
    for scores in metrics["scores"].values():
        assert set(scores) >= {"crps", "log_score", "mae", "rmse", "brier", "coverage_90"}
    crps = {r["model"]: r for r in metrics["paired_comparison"] if r["metric"] == "crps"}
    assert crps["mbg"]["difference"] == pytest.approx(
        metrics["scores"]["mbg"]["crps"] - metrics["scores"]["bg"]["crps"])
    bins = metrics["two_model_categories"]
    assert bins["models"] == ["bg", "mbg"]
    assert np.sum(bins["crosstab_counts"]) == metrics["runs"]["bg"]["customers"]
    assert metrics["verdict"].split(":")[0] in {
        "bg predicts the holdout better than mbg (mbg minus bg",
        "mbg predicts the holdout better than bg (mbg minus bg",
        "No clear winner", "Mixed"}
    page = (out / "index.html").read_text()
    assert ">Verdict</h2>" in page and (out / "comparison.png").stat().st_size > 10_000


def test_a_run_against_itself_has_no_winner_and_the_default_folder(runs):
    bg, _, folder = runs
    assert main(["-q", "compare", str(bg), str(bg)]) == 0
    metrics = json.loads((folder / "compare_bg_(A)_vs_bg_(B)" / "metrics.json").read_text())
    assert metrics["verdict"].startswith("No clear winner")


def test_a_separate_holdout_file_scores_both_runs(runs, small_log_csv, tmp_path):
    bg, mbg, _ = runs
    later = pd.read_csv(small_log_csv)
    later = later[later["Timestamp"] > "2025-01-01"]
    path = tmp_path / "later.csv"
    later.to_csv(path, index=False)
    out = tmp_path / "cmp"
    assert main(["-q", "compare", str(bg), str(mbg), "--holdout", str(path),
                 "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["total_actual"] > 0


def test_runs_that_cannot_be_compared_exit_2_naming_why(runs, small_log_csv, small_spend,
                                                        tmp_path, capsys):
    bg, _, _ = runs
    other = _fit(small_log_csv, tmp_path / "days", "--time-unit", "D")
    assert main(["compare", str(bg), str(other), "--out", str(tmp_path / "x")]) == 2
    assert "different time units" in capsys.readouterr().err
    assert main(["compare", str(bg), str(small_spend[1]), "--out", str(tmp_path / "y")]) == 2
    assert "not a repeat-purchase" in capsys.readouterr().err
    log = generate_btyd_transactions(300, BTYDTruth(), np.random.default_rng(3)).transactions
    path = tmp_path / "others.csv"
    log.to_csv(path, index=False)
    strangers = _fit(str(path), tmp_path / "strangers")
    assert main(["compare", str(bg), str(strangers), "--out", str(tmp_path / "z")]) == 2
    assert "different customers" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "xyz")
