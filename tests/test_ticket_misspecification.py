"""Ticket demand on sales processes it was not written from (``data/ticket_processes.py``), at
small size: the rolling backtest against the four baselines, one world (seed 3) under each
process.

What holds is asserted: on every process ours beats the seasonal naive forecast, and the
backtest says in words where a baseline beats ours. What does not hold yet is a strict
expected failure, so the day it holds this file says so (``bench/README.md`` has the
figures):

* ours has the lowest CRPS of all five models on ``seasonal_price`` here, not yet on
  ``tour_ramp`` or ``regime_shift``;
* ours' 90% intervals on the weeks with sales hold 0.30-0.35 of the outcomes against the
  0.64-0.73 ours expects. A tour in this world is announced within four weeks of an origin,
  and no lag-4 feature shows it yet.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayescope.data.ticket_processes import generate_artist_tables
from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables
from bayescope.families.ticket_backtest import BacktestSettings, run_backtest
from bayescope.families.tickets import TicketFitSettings

PROCESSES = ("tour_ramp", "seasonal_price", "regime_shift")
NOT_YET_BEST = {"tour_ramp": "a baseline still has a lower CRPS than ours here",
                "regime_shift": "a baseline still has a lower CRPS than ours here"}
COVERAGE_TOLERANCE = 0.05


@pytest.fixture(scope="module", params=PROCESSES)
def backtest(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    generated = generate_artist_tables(request.param, 12, np.random.default_rng(3), n_dmas=20,
                                       n_weeks=130)
    write_ticket_tables(generated.tables, folder, "parquet")
    settings = BacktestSettings(TicketFitSettings("", artists=12, train_weeks=70, draws=250,
                                                  tune=300, chains=2, seed=1, progress=False),
                                origins=2, predictive_draws=300)
    metrics, _ = run_backtest(load_ticket_tables(folder), settings)
    return request.param, metrics


def _crps(metrics) -> dict[str, float]:
    return {name: m["crps"] for name, m in metrics["models"].items()}


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


def test_ours_has_the_lowest_crps(backtest, request) -> None:
    process, metrics = backtest
    if process in NOT_YET_BEST:
        request.applymarker(pytest.mark.xfail(strict=True, reason=NOT_YET_BEST[process]))
    scores = _crps(metrics)
    assert scores["ours"] == min(scores.values()), (process, scores)


@pytest.mark.xfail(strict=True, reason="a tour announced within the horizon before an origin "
                   "is invisible to lag-H features (bench/README.md: what the origin knows)")
def test_intervals_on_weeks_with_sales_are_as_wide_as_ours_expects(backtest) -> None:
    process, metrics = backtest
    ours = metrics["with_sales"]["models"]["ours"]
    assert metrics["with_sales"]["n_rows"] >= 100, process
    assert abs(ours["coverage_90"] - ours["expected_coverage_90"]) <= COVERAGE_TOLERANCE, (
        process, ours)
