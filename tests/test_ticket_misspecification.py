"""Ticket demand on sales processes it was not written from (``data/ticket_processes.py``), at
small size: the rolling backtest against the four baselines, the world and settings of
``bench/README.md``'s table (16 artists x 30 DMAs x 140 weeks, seed 1; 4 origins, 80 training
weeks, 2 chains x (400 + 300)).

Asserted on every process: ours' 90% intervals on the weeks with sales cover what ours
itself expects (within 0.05); ours beats the seasonal naive forecast; the backtest says in
words where a baseline beats ours; no baseline beats ours overall beyond the paired interval
of the CRPS difference (bootstrapped by artist, the unit that shares forecast errors); and
ours' CRPS is at most 2% above the best baseline's. With 16 artists the interval alone is
wide (about +-0.03 on a CRPS of 0.4), so the 2% bound is the sharper check: the model of the
first release fails it on ``tour_ramp`` (17% behind boosting) and ``regime_shift`` (7%
behind the trailing mean), and the model before the dispersion grew with the mean on
``seasonal_price`` (4.2% behind boosting). With the hurdle ours is lowest on all three:
``tour_ramp`` 0.3104 against boosting's 0.3264, ``seasonal_price`` 0.1553 against boosting's
0.1590 and ``regime_shift`` 0.6154 against the trailing mean's 0.6824; the with-sales coverage
is within 0.04 of expectation (0.799 / 0.833, 0.780 / 0.789, 0.837 / 0.819;
``bench/README.md``). Four origins, not three: at three, one superstar's unforeseen ramp at
the second origin put ``tour_ramp``'s gap at -0.051.

Another world (12 x 20 x 130, seed 3, in ``bench/README.md``) has a superstar's tour announced
inside a forecast window. Nothing in the tables foretells it, and ours' intervals carry no
chance of an announcement. There ours' with-sales coverage is 0.46-0.51 against 0.74-0.78
expected, and the GLM is 0.2-3% better.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayescope.data.ticket_processes import generate_artist_tables
from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables
from bayescope.families.ticket_backtest import BacktestSettings, run_backtest
from bayescope.families.tickets import TicketFitSettings

PROCESSES = ("tour_ramp", "seasonal_price", "regime_shift")
COVERAGE_TOLERANCE = 0.05
BEST_BASELINE_MARGIN = 1.02


@pytest.fixture(scope="module", params=PROCESSES)
def backtest(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    generated = generate_artist_tables(request.param, 16, np.random.default_rng(1), n_dmas=30,
                                       n_weeks=140)
    write_ticket_tables(generated.tables, folder, "parquet")
    settings = BacktestSettings(TicketFitSettings("", artists=16, train_weeks=80, draws=300,
                                                  tune=400, chains=2, progress=False),
                                origins=4)
    metrics, _ = run_backtest(load_ticket_tables(folder), settings)
    return request.param, metrics


def _crps(metrics) -> dict[str, float]:
    return {name: m["crps"] for name, m in metrics["models"].items()}


def test_intervals_on_weeks_with_sales_are_as_wide_as_ours_expects(backtest) -> None:
    process, metrics = backtest
    ours = metrics["with_sales"]["models"]["ours"]
    assert metrics["with_sales"]["n_rows"] >= 300, process
    assert abs(ours["coverage_90"] - ours["expected_coverage_90"]) <= COVERAGE_TOLERANCE, (
        process, ours)


def test_ours_beats_last_years_week_and_says_where_it_loses(backtest) -> None:
    process, metrics = backtest
    scores = _crps(metrics)
    assert scores["ours"] < scores["seasonal_naive"], (process, scores)
    losses = metrics["where_ours_loses"]
    if min(scores.values()) < scores["ours"]:
        # a lower CRPS overall is a lower CRPS in at least one popularity tier
        assert any(s.startswith("For popularity tier") for s in losses), (process, losses)
    for sentence in losses:
        if sentence.startswith("Overall, "):
            assert scores[sentence.split()[1]] < scores["ours"], (process, sentence)


def test_no_baseline_beats_ours_beyond_the_paired_interval_or_by_2_percent(backtest) -> None:
    process, metrics = backtest
    crps_rows = [row for row in metrics["comparison"]
                 if row["metric"] == "crps" and row["model"] != "ours"]
    assert {row["method"] for row in crps_rows} <= {"cluster bootstrap",
                                                    "stratified cluster bootstrap"}
    better = [row for row in crps_rows if row["difference_high"] < 0]
    assert not better, (process, better, _crps(metrics))
    scores = _crps(metrics)
    best = min(score for name, score in scores.items() if name != "ours")
    assert scores["ours"] <= BEST_BASELINE_MARGIN * best, (process, scores)
