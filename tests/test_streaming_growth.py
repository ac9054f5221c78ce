"""Streaming growth: no feature reads a week from the origin on; a planted driver is found and a
pure echo of momentum is not; shuffling weeks within artists destroys the driver; the CLI's
run, drivers.csv, predictions and report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayescope as bs
from bayescope.cli import main
from bayescope.data.generate_tickets import generate_ticket_tables
from bayescope.data.stream_growth import CONTROLS, DRIVERS, growth_panel
from bayescope.data.ticket_tables import TicketTables, load_ticket_tables, write_ticket_tables
from bayescope.inference.sampling import fit_model
from bayescope.models.streaming_growth import GATED, GrowthInputs, build_growth_model

NAMES = ["planted", "echo"]


@pytest.fixture(scope="module")
def tables_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("artists")
    generated = generate_ticket_tables(30, np.random.default_rng(4), n_dmas=6, n_weeks=80)
    write_ticket_tables(generated.tables, folder, "parquet")
    return folder


def test_no_feature_or_training_target_reads_the_origin_week_or_later(tables_folder):
    tables = load_ticket_tables(tables_folder)
    origin = tables.weeks[60]
    panel = growth_panel(tables, origin, 3, 40)
    edited = {}
    for name, table in tables.tables.items():
        table = table.copy()
        later = table["week_start"] >= origin
        for column in table.columns:
            if column not in ("artist_id", "dma_id", "week_start"):
                table.loc[later, column] = table.loc[later, column] * 5 + 7
        edited[name] = table
    rewritten = growth_panel(TicketTables(edited, tables.dma, tables.weekday), origin, 3, 40)
    for field in ("drivers", "controls", "growth", "forecast_drivers", "forecast_controls"):
        np.testing.assert_array_equal(getattr(rewritten, field), getattr(panel, field), field)
    # Training targets stop where they would reach the origin.
    assert panel.week.max() + 3 - 1 < 60


def test_a_series_that_starts_late_is_not_read_as_zeros(tables_folder):
    tables = load_ticket_tables(tables_folder)
    origin = tables.weeks[60]
    late = tables.tables["artist_social_week"]
    cut = (late["artist_id"] == "A0001") & (late["week_start"] < tables.weeks[40])
    edited = {**tables.tables, "artist_social_week": late[~cut]}
    panel = growth_panel(TicketTables(edited, tables.dma, tables.weekday), origin, 3, 50)
    growth_columns = [j for j, name in enumerate(DRIVERS) if name.endswith("_growth")]
    assert np.isfinite(panel.drivers).all()
    # Read as zeros, the first weeks would be a log-level jump of about 10.
    assert np.abs(panel.drivers[:, growth_columns]).max() < 3
    first = panel.week[panel.artist == 0].min()
    assert first >= 40 + 1  # A0001's rows start once its 4-week social growth is measured


def _synthetic(rng: np.random.Generator, shuffle: bool = False) -> GrowthInputs:
    """30 artists x 60 weeks: AR(1) momentum, growth = mean reversion + 0.04 x planted,
    and an 'echo' driver that is the momentum plus noise (no effect of its own)."""
    n_artists, n_weeks = 30, 60
    momentum = np.zeros((n_artists, n_weeks))
    for t in range(1, n_weeks):
        momentum[:, t] = 0.8 * momentum[:, t - 1] + rng.normal(0, 0.1, n_artists)
    planted = rng.normal(0, 1, (n_artists, n_weeks))
    echo = momentum / momentum.std() + rng.normal(0, 0.3, momentum.shape)
    growth = -0.4 * momentum + 0.04 * planted + rng.normal(0, 0.08, momentum.shape)
    if shuffle:
        growth = np.stack([rng.permutation(row) for row in growth])
    lagged = np.roll(momentum, 1, axis=1)
    artist = np.repeat(np.arange(n_artists), n_weeks)
    drivers = np.column_stack([planted.ravel(), echo.ravel()])
    controls = np.column_stack([(momentum - lagged).ravel(), momentum.ravel()])
    tier = rng.integers(0, 3, n_artists)
    return GrowthInputs.standardised(drivers, controls, growth.ravel(), artist, tier)


def _effects(inputs: GrowthInputs) -> pd.DataFrame:
    model = build_growth_model(inputs, NAMES, list(CONTROLS))
    fit = fit_model(model, GATED, "nuts", 300, 300, 2, 0, False)
    beta = np.asarray(fit.idata["posterior"]["beta"]).reshape(-1, 2)
    low, high = np.quantile(beta, [0.03, 0.97], axis=0)
    return pd.DataFrame({"mean": beta.mean(axis=0), "low": low, "high": high}, index=NAMES)


def test_a_planted_driver_is_found_and_an_echo_of_momentum_is_not():
    effects = _effects(_synthetic(np.random.default_rng(1)))
    assert effects.loc["planted", "low"] > 0
    assert effects.loc["planted", "mean"] == pytest.approx(0.04, abs=0.012)
    assert effects.loc["echo", "low"] < 0 < effects.loc["echo", "high"]


def test_shuffling_weeks_within_artists_destroys_the_driver():
    effects = _effects(_synthetic(np.random.default_rng(1), shuffle=True))
    assert effects.loc["planted", "low"] < 0 < effects.loc["planted", "high"]


def test_cli_run_drivers_predictions_and_report(tables_folder, tmp_path):
    tables = load_ticket_tables(tables_folder)
    origin = str(tables.weeks[64].date())
    run = tmp_path / "streams"
    assert main(["-q", "fit", "streams", "--tables", str(tables_folder), "--origin", origin,
                 "--horizon", "2", "--train-weeks", "40", "--draws", "200", "--tune", "200",
                 "--chains", "2", "--backtest-origins", "1", "--out", str(run)]) == 0
    drivers = pd.read_csv(run / "drivers.csv")
    assert list(drivers.columns) == ["feature", "column", "table", "lag_weeks", "effect_mean",
                                     "hdi_low", "hdi_high", "p_positive", "within_artist"]
    assert (drivers["hdi_low"] <= drivers["effect_mean"]).all()
    assert (drivers["effect_mean"] <= drivers["hdi_high"]).all()
    out = tmp_path / "growth.csv"
    assert main(["-q", "predict", str(run), "--out", str(out)]) == 0
    forecast = pd.read_csv(out)
    assert len(forecast) == 30 and (forecast["growth_low"] < forecast["growth_high"]).all()
    assert main(["-q", "predict", str(run), "--horizon", "30", "--out", str(out)]) == 2
    assert main(["-q", "report", str(run)]) == 0
    page = (run / "report" / "index.html").read_text()
    assert ">What this does not show</h2>" in page and ">Backtest</h2>" in page
    loaded = bs.load(run)
    assert isinstance(loaded, bs.StreamingGrowth) and loaded.drivers_.shape[0] == 6
    assert main(["-q", "fit", "streams", "--tables", str(tables_folder), "--origin", origin,
                 "--horizon", "6", "--out", str(tmp_path / "bad")]) == 2
