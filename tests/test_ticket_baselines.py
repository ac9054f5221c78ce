"""Ticket baselines: the boosting offset is the shrunk pair mean, and boosting stays sane."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescope.data.generate_tickets import generate_ticket_tables
from bayescope.data.ticket_panel import build_panels, popularity_tiers
from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables
from bayescope.models.baselines.tickets import (
    EXPOSURE_FLOOR,
    EXPOSURE_SHRINKAGE,
    gbm_poisson,
    pair_exposure,
    trailing_mean,
)
from bayescope.posterior_reports.scores import crps

ORIGIN = "2021-03-22"


@pytest.fixture(scope="module")
def panels(tmp_path_factory):
    folder = tmp_path_factory.mktemp("baselines") / "tables"
    result = generate_ticket_tables(12, np.random.default_rng(7), n_dmas=20, n_weeks=80)
    write_ticket_tables(result.tables, folder, "csv")
    tables = load_ticket_tables(folder)
    artists = np.asarray(sorted(popularity_tiers(tables, pd.Timestamp(ORIGIN)).index),
                         dtype=object)
    return build_panels(tables, artists, ORIGIN, horizon=4, train_weeks=60)


def test_pair_exposure_is_the_shrunk_pair_mean(panels):
    train = panels.train.take(panels.train.observed)
    n_artists, n_dmas = panels.tier.size, panels.size.size
    exposure = pair_exposure(train, n_artists, n_dmas)
    a, d = int(train.artist[np.argmax(train.tickets)]), int(train.dma[np.argmax(train.tickets)])
    pair = (train.artist == a) & (train.dma == d)
    artist_rows = train.artist == a
    artist_mean = train.tickets[artist_rows].sum() / artist_rows.sum()
    dma_share = train.tickets[train.dma == d].sum() / train.tickets.sum() * n_dmas
    prior = artist_mean * dma_share + EXPOSURE_FLOOR
    expected = (train.tickets[pair].sum() + EXPOSURE_SHRINKAGE * prior) / (
        pair.sum() + EXPOSURE_SHRINKAGE)
    assert exposure[a, d] == pytest.approx(expected, rel=1e-12)
    assert (exposure > 0).all()


def test_boosting_forecasts_stay_in_range_and_beat_the_trailing_mean(panels):
    forecast = panels.forecast
    y = forecast.tickets[forecast.observed]
    boosted = gbm_poisson(panels, 300, np.random.default_rng(0))
    trailing = trailing_mean(panels, 300, np.random.default_rng(0))
    # Raw-count boosting (artist and DMA as categories) forecast 10^9 tickets where no week
    # had sold 5,000; the offset keeps every forecast within the range seen in training.
    assert boosted.mean.max() < 3 * panels.train.tickets[panels.train.observed].max()
    ours = crps(y, boosted.draws[:, forecast.observed]).mean()
    naive = crps(y, trailing.draws[:, forecast.observed]).mean()
    assert ours < naive


def test_coverage_on_weeks_with_sales_matches_a_calibrated_forecasts_expectation():
    """Observed coverage among the weeks that sold equals the forecast's own expectation when
    the outcomes come from the forecast distribution; an over-confident one falls short."""
    from bayescope.families.ticket_backtest import MODELS, row_scores, with_sales_coverage

    rng = np.random.default_rng(3)
    n_rows, n_draws = 6000, 400
    mean = np.exp(rng.normal(-2.0, 1.5, n_rows))  # mostly quiet rows, some busy ones
    def draw(size):
        return rng.poisson(rng.gamma(0.8, mean / 0.8, size)).astype(float)
    y = draw(n_rows)
    calibrated = row_scores(y, draw((n_draws, n_rows)))
    too_narrow = row_scores(y, rng.poisson(mean, (n_draws, n_rows)).astype(float))
    rows = pd.DataFrame({"tickets": y})
    for name in MODELS:
        scores = calibrated if name == "ours" else too_narrow
        for column, values in scores.items():
            rows[f"{name}_{column}"] = values
    coverage = with_sales_coverage(rows)
    ours = coverage["models"]["ours"]
    assert coverage["n_rows"] == int((y > 0).sum())
    assert ours["coverage_90"] == pytest.approx(ours["expected_coverage_90"], abs=0.04)
    assert ours["coverage_80"] == pytest.approx(ours["expected_coverage_80"], abs=0.04)
    # A Poisson forecast of NB outcomes is over-confident: observed below its expectation.
    narrow = coverage["models"]["glm_nb"]
    assert narrow["coverage_90"] < narrow["expected_coverage_90"] - 0.1


def test_where_ours_loses_is_said_in_plain_words():
    from bayescope.families.ticket_backtest import where_ours_loses

    scores = {"ours": {"crps": 0.20}, "glm_nb": {"crps": 0.15}, "trailing_mean": {"crps": 0.3}}
    even = {"ours": {"crps": 0.10}, "glm_nb": {"crps": 0.12}, "trailing_mean": {"crps": 0.3}}
    metrics = {
        "comparison": [
            {"metric": "crps", "model": "ours", "value": 0.2, "difference": 0.0,
             "difference_low": 0.0, "difference_high": 0.0},
            {"metric": "crps", "model": "glm_nb", "value": 0.15, "difference": -0.05,
             "difference_low": -0.08, "difference_high": -0.02},
            {"metric": "crps", "model": "trailing_mean", "value": 0.3, "difference": 0.1,
             "difference_low": 0.05, "difference_high": 0.15}],
        "by_tier": {"superstar": scores, "emerging": even},
        "by_dma_size": {"1-10": even}, "by_weeks_ahead": {"1": even, "4": scores},
        "by_origin": {"2024-10-07": even, "2024-11-04": scores},
        "with_sales": {"models": {"ours": {"coverage_90": 0.73,
                                           "expected_coverage_90": 0.64}}}}
    said = where_ours_loses(metrics)
    assert len(said) == 5
    assert said[0].startswith("Overall, glm_nb has a lower CRPS than ours")
    assert said[0].endswith("beyond the noise).")
    assert "popularity tier superstar, glm_nb beats ours" in said[1]
    assert "weeks ahead 4" in said[2]
    assert said[3] == "For origin 2024-11-04, glm_nb beats ours: CRPS 0.1500 against 0.2000."
    assert "0.730" in said[4] and "wider" in said[4]
    metrics["comparison"][1]["difference_high"] = 0.01
    assert where_ours_loses(metrics)[0].endswith(
        "within the noise of the artists sampled).")
    for group in ("by_tier", "by_weeks_ahead", "by_origin"):
        metrics[group] = {"all": even}
    metrics["comparison"] = metrics["comparison"][:1]
    metrics["with_sales"]["models"]["ours"]["coverage_90"] = 0.66
    assert where_ours_loses(metrics) == []


def test_the_comparison_resamples_artists_within_the_tiers_they_were_sampled_from():
    from bayescope.families.ticket_backtest import sampling_strata

    def strata(tiers: dict[str, str]) -> list[str]:
        ids = np.repeat(list(tiers), 3)
        found = sampling_strata(ids, tiers)
        return None if found is None else list(dict.fromkeys(found))

    two_each = {"A1": "superstar", "A2": "superstar", "A3": "established",
                "A4": "established", "A5": "emerging", "A6": "emerging"}
    ids = np.array(["A6", "A1", "A3", "A6", "A2", "A4", "A5"])
    np.testing.assert_array_equal(sampling_strata(ids, two_each),
                                  [two_each[a] for a in ids])
    # A lone superstar joins the established tier; a lone emerging artist, the one above.
    assert strata({"A1": "superstar", "A3": "established", "A4": "established",
                   "A5": "emerging", "A6": "emerging"}) == ["established", "emerging"]
    assert strata({"A1": "superstar", "A2": "superstar", "A3": "established",
                   "A4": "established", "A5": "emerging"}) == ["superstar", "established"]
    # Lone at both ends of three tiers of four artists: one stratum left, no stratification.
    assert strata({"A1": "superstar", "A3": "established", "A4": "established",
                   "A5": "emerging"}) is None
    with pytest.raises(ValueError, match="no sampling tier"):
        sampling_strata(np.array(["A1", "A9"]), {"A1": "superstar"})


def test_an_artist_that_changes_tier_between_origins_keeps_its_sampling_stratum():
    from bayescope.families.ticket_backtest import MODELS, row_scores, summarise_backtest

    rng = np.random.default_rng(4)
    sampled_from = {"A1": "superstar", "A2": "superstar", "A3": "emerging", "A4": "emerging"}
    rows = pd.DataFrame({"artist_id": np.repeat(list(sampled_from), 20),
                         "origin": np.tile(np.repeat(["o1", "o2"], 10), 4),
                         "dma_id": "501", "dma_size": "DMA rank 1-10",
                         "weeks_ahead": np.tile(np.arange(1, 11), 8)})
    # A2 has fallen to the emerging tier by the second origin.
    rows["tier"] = np.where((rows["artist_id"] == "A2") & (rows["origin"] == "o2"),
                            "emerging", rows["artist_id"].map(sampled_from))
    rows["tickets"] = rng.poisson(3.0, len(rows)).astype(float)
    for name in MODELS:
        draws = rng.poisson(3.0, (200, len(rows))).astype(float)
        for column, values in row_scores(rows["tickets"].to_numpy(), draws).items():
            rows[f"{name}_{column}"] = values
    metrics = summarise_backtest(rows, rng, sampled_from)
    assert {row["method"] for row in metrics["comparison"]} == {"stratified cluster bootstrap"}
    assert set(metrics["by_tier"]) == {"superstar", "emerging"}
