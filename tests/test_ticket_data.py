"""Artist Performance tables: loader on messy extracts, features without leakage, sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescope.cli import main
from bayescope.data.generate_tickets import generate_ticket_tables
from bayescope.data.ticket_features import FEATURES, cubes_from_tables
from bayescope.data.ticket_panel import (
    TIERS,
    build_panels,
    popularity_tiers,
    sample_artists,
)
from bayescope.data.ticket_tables import SCHEMAS, load_ticket_tables, write_ticket_tables
from bayescope.errors import BayescopeInputError

ORIGIN = "2021-03-22"  # week 63 of 80 (a Monday, as the generator's weeks)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tickets") / "tables"
    result = generate_ticket_tables(12, np.random.default_rng(5), n_dmas=20, n_weeks=80)
    write_ticket_tables(result.tables, folder, "csv")
    return folder, result


def _copy(folder, target, change=None):
    tables = {name: pd.read_csv(next(folder.glob(f"{name}.*")), dtype=str)
              for name in [*SCHEMAS, "dma"]}
    if change is not None:
        change(tables)
    target.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(target / f"{name}.csv", index=False)
    return target


def test_generated_tables_are_sparse_and_consistent(generated):
    _, result = generated
    tables = result.tables
    sales = tables["tsecondaryticket_artist_dma_week"]
    assert (sales["st_num_tickets"] > 0).all()  # only weeks with sales have rows
    assert len(sales) < 0.3 * 12 * 20 * 80
    artist_week = tables["tsecondaryticket_artist_week"].set_index(["artist_id", "week_start"])
    summed = sales.groupby(["artist_id", "week_start"])["st_num_tickets"].sum()
    pd.testing.assert_series_equal(artist_week["st_num_tickets"].loc[summed.index], summed,
                                   check_names=False)
    assert len(tables["artist_social_week"]) < 12 * 80  # some weeks unmeasured
    tier_counts = pd.Series(result.truth.artist_tier).value_counts()
    assert tier_counts.to_dict() == {"emerging": 7, "established": 4, "superstar": 1}


def test_messy_extract_loads_the_same(generated, tmp_path):
    folder, _ = generated
    clean = load_ticket_tables(folder)

    def mess(tables):
        for name, frame in tables.items():
            frame["exported_by"] = "warehouse"  # extra column, ignored
            tables[name] = frame[list(frame.columns[::-1])]  # other column order
        sales = tables["tsecondaryticket_artist_dma_week"]
        sales["dma_id"] = sales["dma_id"] + ".0"  # ids that went through a float
        sales["week_start"] = pd.to_datetime(sales["week_start"]).dt.strftime("%m/%d/%Y")

    messy = load_ticket_tables(_copy(folder, tmp_path / "messy", mess))
    for name in SCHEMAS:
        pd.testing.assert_frame_equal(messy[name], clean[name], check_dtype=False)
    assert messy.ignored_columns["dma"] == ["exported_by"]
    parquet = tmp_path / "pq"
    write_ticket_tables({name: clean[name] for name in SCHEMAS} | {"dma": clean.dma}, parquet)
    pd.testing.assert_frame_equal(load_ticket_tables(parquet)["artist_mstreams_week"],
                                  clean["artist_mstreams_week"], check_dtype=False)


@pytest.mark.parametrize(("change", "field", "row"), [
    (lambda t: t["tsecondaryticket_artist_dma_week"].drop(columns="st_num_tickets",
                                                          inplace=True),
     "tsecondaryticket_artist_dma_week.st_num_tickets", None),
    (lambda t: t["tsecondaryticket_artist_dma_week"].loc.__setitem__((4, "st_num_tickets"),
                                                                     "-3"),
     "tsecondaryticket_artist_dma_week.st_num_tickets", 5),
    (lambda t: t["lsecondaryticket_artist_dma_week"].loc.__setitem__((0, "dma_id"), "999"),
     "lsecondaryticket_artist_dma_week.dma_id", 1),
    (lambda t: t["artist_social_week"].loc.__setitem__((2, "week_start"), "2020-01-07"),
     "artist_social_week.week_start", 3),
    (lambda t: t["dma"].loc.__setitem__((1, "tv_households"), "lots"),
     "dma.tv_households", 2),
    (lambda t: t["artist_social_week"].loc.__setitem__((2, "week_start"), "1000-01-06"),
     "artist_social_week.week_start", 3),
])
def test_bad_tables_name_table_column_and_row(generated, tmp_path, change, field, row):
    folder, _ = generated
    bad = _copy(folder, tmp_path / "bad", change)
    with pytest.raises(BayescopeInputError) as error:
        load_ticket_tables(bad)
    assert error.value.field == field
    if row is not None:
        assert row in error.value.rows


def test_duplicate_rows_and_missing_tables(generated, tmp_path):
    folder, _ = generated

    def duplicate(tables):
        listings = tables["lsecondaryticket_artist_dma_week"]
        tables["lsecondaryticket_artist_dma_week"] = pd.concat([listings, listings.iloc[[3]]])

    with pytest.raises(BayescopeInputError, match="is duplicated"):
        load_ticket_tables(_copy(folder, tmp_path / "dup", duplicate))
    (tmp_path / "dup" / "artist_instagram.csv").unlink()
    with pytest.raises(BayescopeInputError, match="artist_instagram"):
        load_ticket_tables(tmp_path / "dup")


def test_absent_rows_mean_zero_sales_and_carried_social(generated):
    folder, result = generated
    tables = load_ticket_tables(folder)
    artists = np.asarray(sorted(result.truth.artist_tier), dtype=object)
    cubes = cubes_from_tables(tables, artists)
    np.testing.assert_array_equal(cubes.tickets, result.cubes.tickets)
    np.testing.assert_array_equal(cubes.dma_streams, result.cubes.dma_streams)
    social = tables["artist_social_week"]
    measured = set(zip(social["artist_id"], social["week_start"], strict=True))
    a, w = next((a, w) for a in range(12) for w in range(1, 80)
                if (artists[a], cubes.weeks[w]) not in measured)
    assert cubes.engagement[a, w] == cubes.engagement[a, w - 1]  # last value carried forward


def test_no_feature_uses_the_origin_week_or_later(generated, tmp_path):
    folder, _ = generated
    tables = load_ticket_tables(folder)
    artists = np.asarray(sorted(popularity_tiers(tables, pd.Timestamp(ORIGIN)).index),
                         dtype=object)
    before = build_panels(tables, artists, ORIGIN, horizon=4, train_weeks=40)

    def rewrite_future(frames):
        for name, frame in frames.items():
            if name == "dma":
                continue
            future = pd.to_datetime(frame["week_start"]) >= pd.Timestamp(ORIGIN)
            for column, rule in SCHEMAS[name].values.items():
                values = pd.to_numeric(frame[column], errors="coerce")[future]
                changed = 1 - values if rule.high <= 1 else (values * 7 + 1000).round()
                frame.loc[future, column] = changed.astype(str)

    future = load_ticket_tables(_copy(folder, tmp_path / "future", rewrite_future))
    after = build_panels(future, artists, ORIGIN, horizon=4, train_weeks=40)
    np.testing.assert_array_equal(after.train.x, before.train.x)
    np.testing.assert_array_equal(after.train.tickets, before.train.tickets)
    np.testing.assert_array_equal(after.forecast.x, before.forecast.x)
    np.testing.assert_array_equal(after.popularity, before.popularity)
    np.testing.assert_array_equal(after.tier, before.tier)
    assert not np.array_equal(after.forecast.tickets, before.forecast.tickets)  # y did change
    # And the features do move when a week before the origin changes (the test can fail).
    last_known = pd.Timestamp(ORIGIN) - pd.Timedelta(weeks=4)

    def rewrite_known(frames):
        frame = frames["lsecondaryticket_artist_dma_week"]
        known = pd.to_datetime(frame["week_start"]) == last_known
        frame.loc[known, "sl_num_listings"] = "5000"

    known = load_ticket_tables(_copy(folder, tmp_path / "known", rewrite_known))
    moved = build_panels(known, artists, ORIGIN, horizon=4, train_weeks=40)
    for name in ("log_listings", "listings_growth"):
        column = FEATURES.index(name)
        assert not np.array_equal(moved.forecast.x[:, column], before.forecast.x[:, column])

    # Recent sales are lagged like every signal: sales of the last known week move the
    # forecast rows' sales features, and (above) sales from the origin on move nothing.
    def rewrite_sales(frames):
        frame = frames["tsecondaryticket_artist_dma_week"]
        known = pd.to_datetime(frame["week_start"]) == last_known
        frame.loc[known, "st_num_tickets"] = "900"

    sold = load_ticket_tables(_copy(folder, tmp_path / "sold", rewrite_sales))
    moved = build_panels(sold, artists, ORIGIN, horizon=4, train_weeks=40)
    for name in ("log_recent_sales", "log_national_sales"):
        column = FEATURES.index(name)
        assert not np.array_equal(moved.forecast.x[:, column], before.forecast.x[:, column])

    # The latest-known features of the first forecast week see the week before the origin;
    # the lag-4 features of the first three weeks do not.
    week_before = pd.Timestamp(ORIGIN) - pd.Timedelta(weeks=1)

    def rewrite_last_week(frames):
        for name, column, value in (("lsecondaryticket_artist_dma_week", "sl_num_listings",
                                     "5000"),
                                    ("tsecondaryticket_artist_dma_week", "st_num_tickets",
                                     "900")):
            frame = frames[name]
            frame.loc[pd.to_datetime(frame["week_start"]) == week_before, column] = value

    last = load_ticket_tables(_copy(folder, tmp_path / "last", rewrite_last_week))
    moved = build_panels(last, artists, ORIGIN, horizon=4, train_weeks=40)
    ahead = moved.forecast.week - moved.forecast.week.min() + 1
    for name in ("log_listings_latest", "log_recent_sales_latest", "log_national_sales_latest"):
        column = FEATURES.index(name)
        first = ahead == 1
        assert not np.array_equal(moved.forecast.x[first, column],
                                  before.forecast.x[first, column]), name
    for name in ("log_listings", "log_recent_sales"):
        column = FEATURES.index(name)
        early = ahead < 4
        np.testing.assert_array_equal(moved.forecast.x[early, column],
                                      before.forecast.x[early, column])


def test_stratified_artist_sample(generated):
    folder, result = generated
    tables = load_ticket_tables(folder)
    tiers = popularity_tiers(tables, pd.Timestamp(ORIGIN))
    assert (tiers == pd.Series(result.truth.artist_tier)[tiers.index]).all()
    sample = sample_artists(tiers, 6, np.random.default_rng(0))
    assert len(sample) == 6 and set(tiers[sample]) == set(TIERS)
    assert list(sample) == list(sample_artists(tiers, 6, np.random.default_rng(0)))
    assert list(sample) != list(sample_artists(tiers, 6, np.random.default_rng(1)))


def test_origin_errors_exit_2(generated, tmp_path):
    folder, _ = generated
    base = ["-q", "fit", "tickets", "--tables", str(folder), "--out", str(tmp_path / "r")]
    assert main([*base, "--origin", "2021-03-23"]) == 2  # a Tuesday
    assert main([*base, "--origin", "2020-02-03"]) == 2  # no history before it
    assert main([*base, "--origin", "2030-01-07"]) == 2  # long after the tables end
    assert main([*base, "--origin", "soon"]) == 2
    assert not (tmp_path / "r").exists()


def test_forecast_features_beyond_the_training_weeks_are_clipped_and_counted(generated,
                                                                              tmp_path):
    folder, _ = generated
    origin = pd.Timestamp(ORIGIN)
    last_known = (origin - pd.Timedelta(weeks=1)).strftime("%Y-%m-%d")

    def spike(tables):
        listings = tables["lsecondaryticket_artist_dma_week"]
        week = listings["week_start"].str[:10] == last_known
        listings.loc[week, "sl_num_listings"] = "1000000000000"

    spiked = load_ticket_tables(_copy(folder, tmp_path / "spiked", spike))
    artists = np.asarray(sorted(spiked["artist_mstreams_week"]["artist_id"].unique()))[:6]
    panels = build_panels(spiked, artists, ORIGIN, horizon=2, train_weeks=40)
    assert panels.clamped_rows, "a listings count 10^12 reached no forecast feature's edge"
    for k, name in enumerate(panels.forecast.features):
        low, high = panels.feature_ranges[name]
        observed = panels.train.x[:, k]
        width = max(observed.max() - observed.min(), 1.0)
        assert (low, high) == pytest.approx((observed.min() - width, observed.max() + width))
        assert low <= panels.forecast.x[:, k].min() and panels.forecast.x[:, k].max() <= high
    clipped = next(iter(panels.clamped_rows))
    assert clipped.startswith(("log_listings", "listings_growth", "log_tickets_per_event"))
    unspiked = build_panels(load_ticket_tables(folder), artists, ORIGIN, horizon=2,
                            train_weeks=40)
    assert not set(panels.clamped_rows) & set(unspiked.clamped_rows or {})
