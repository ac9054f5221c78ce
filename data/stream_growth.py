"""The streaming-growth panel (the artist brief's question 2): artist x week rows with the
growth of log streams over the next ``H`` weeks and the signals known before that week.

For a row at week ``t`` (the week a forecast is made):

* target: ``log(1 + S[t + H - 1]) - log(1 + S[t - 1])``, the change in log weekly streams from
  the last known week to ``H`` weeks later;
* controls, always in the model so a driver is judged beyond momentum: the artist's own
  ``stream_growth_4w`` (``log(1 + S[t - 1]) - log(1 + S[t - 5])``) and ``stream_level``
  (``log(1 + S[t - 1])``);
* candidate drivers (:data:`DRIVERS`), social and live-event signals from weeks before ``t``
  only: 4-week log changes of Instagram engagement and followers, TikTok and YouTube views;
  events listed last week; tickets sold in the last 4 weeks.

A training row whose signals would reach back before a series' first row is dropped; a
forecast row's missing signal is taken at the training mean
(:meth:`~bayescope.models.streaming_growth.GrowthInputs.scale`). Nothing from week ``t`` on
enters a row's features, and training rows end where their
target would reach the origin (``t + H - 1 < origin``): ``tests/test_streaming_growth.py``
rewrites every week from the origin on and checks that no training value and no forecast
feature moves. Streams and social rows that are absent carry the last value forward; absent
ticket and listing rows are zero (:mod:`bayescope.data.ticket_tables`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayescope.data.ticket_panel import TIERS, parse_origin, popularity_tiers
from bayescope.data.ticket_tables import TicketTables
from bayescope.errors import BayescopeInputError


@dataclass(frozen=True)
class Signal:
    """Where a feature comes from and how it is built."""

    table: str
    column: str
    lag_weeks: int
    build: str  # "growth_4w" | "level" | "sum_4w"
    carry_forward: bool


DRIVERS: dict[str, Signal] = {
    "instagram_engagement_growth": Signal("artist_social_week", "instagram_engagement", 1,
                                          "growth_4w", True),
    "instagram_followers_growth": Signal("artist_social_week", "instagram_followers", 1,
                                         "growth_4w", True),
    "tiktok_views_growth": Signal("artist_social_week", "tiktok_views", 1, "growth_4w", True),
    "youtube_views_growth": Signal("artist_social_week", "youtube_views", 1, "growth_4w",
                                   True),
    "events_listed": Signal("lsecondaryticket_artist_week", "sl_num_events", 1, "level",
                            False),
    "tickets_sold_4w": Signal("tsecondaryticket_artist_week", "st_num_tickets", 1, "sum_4w",
                              False),
}
"""Candidate drivers: name -> source and construction (module docstring)."""
CONTROLS: dict[str, Signal] = {
    "stream_growth_4w": Signal("artist_mstreams_week", "number_of_streams", 1, "growth_4w",
                               True),
    "stream_level": Signal("artist_mstreams_week", "number_of_streams", 1, "level", True),
}
LOOKBACK = 5
HORIZONS = (1, 2, 3, 4)


@dataclass
class GrowthPanel:
    """Training rows and forecast rows (one per artist at the origin)."""

    artists: np.ndarray
    tier: np.ndarray
    artist: np.ndarray
    week: np.ndarray
    drivers: np.ndarray
    controls: np.ndarray
    growth: np.ndarray
    forecast_drivers: np.ndarray
    forecast_controls: np.ndarray
    forecast_growth: np.ndarray
    origin: pd.Timestamp
    horizon: int
    weeks: pd.DatetimeIndex

    @property
    def n(self) -> int:
        """Training rows."""
        return int(self.growth.size)


def growth_panel(tables: TicketTables, origin: str | pd.Timestamp, horizon: int,
                 train_weeks: int) -> GrowthPanel:
    """The panel at ``origin`` (module docstring); ``forecast_growth`` is NaN where the
    tables do not reach ``origin + H - 1`` (the actual growth when they do, for backtests)."""
    if horizon not in HORIZONS:
        raise BayescopeInputError(f"--horizon must be 1 to 4 weeks, not {horizon}",
                                  field="horizon")
    if train_weeks < 10:
        raise BayescopeInputError("--train-weeks must be at least 10", field="train_weeks")
    calendar = tables.weeks
    start = parse_origin(origin, calendar, tables.weekday)
    weeks = pd.date_range(calendar[0], max(calendar[-1], start) + pd.Timedelta(
        weeks=horizon), freq="7D")
    at = int(np.flatnonzero(weeks == start)[0])
    first = max(LOOKBACK, at - horizon + 1 - train_weeks)
    rows = np.arange(first, at - horizon + 1)
    if rows.size < 10:
        raise BayescopeInputError(
            f"--origin {start.date()} leaves {rows.size} training weeks (need 10 after the "
            f"first {LOOKBACK} weeks of the tables, which start {calendar[0].date()})",
            field="origin")
    artists = np.asarray(sorted(set(tables["artist_mstreams_week"]["artist_id"])), dtype=object)
    cubes = {name: _cube(tables, signal, artists, weeks, before=at)
             for name, signal in {**CONTROLS, **DRIVERS}.items()}
    streams = _cube(tables, CONTROLS["stream_level"], artists, weeks, before=None)
    tiers = popularity_tiers(tables, start).reindex(artists).fillna(TIERS[-1])
    tier = np.asarray([TIERS.index(t) for t in tiers], dtype=np.int64)

    a, w = (g.ravel() for g in np.meshgrid(np.arange(artists.size), rows, indexing="ij"))
    log_streams = np.log1p(streams)
    growth = log_streams[a, w + horizon - 1] - log_streams[a, w - 1]
    drivers, controls = _row_features(cubes, DRIVERS, a, w), _row_features(cubes, CONTROLS, a, w)
    # A row whose signals reach back before a series' first row is not measured: dropped.
    keep = (np.isfinite(growth) & np.isfinite(drivers).all(axis=1)
            & np.isfinite(controls).all(axis=1))
    end = at + horizon - 1
    everyone, at_rows = np.arange(artists.size), np.full(artists.size, at)
    # Beyond the tables' last week the streams are only carried forward: no actual growth.
    forecast = (log_streams[:, end] - log_streams[:, at - 1] if weeks[end] <= calendar[-1]
                else np.full(artists.size, np.nan))
    return GrowthPanel(
        artists, tier, a[keep], w[keep], drivers[keep], controls[keep], growth[keep],
        _row_features(cubes, DRIVERS, everyone, at_rows),
        _row_features(cubes, CONTROLS, everyone, at_rows), forecast, start, horizon, weeks)


def _row_features(cubes: dict[str, np.ndarray], signals: dict[str, Signal], a: np.ndarray,
                  t: np.ndarray) -> np.ndarray:
    """Rows x signals: each signal's value for (artist ``a``, week ``t``)."""
    return np.column_stack([_feature_rows(cubes[name], signal.build, a, t)
                            for name, signal in signals.items()])


def _feature_rows(cube: np.ndarray, build: str, a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """One value per (artist ``a``, week ``t``) row from weeks before ``t``."""
    logged = np.log1p(cube)  # NaN before a series' first row stays NaN (row dropped)
    if build == "growth_4w":
        return logged[a, t - 1] - logged[a, t - 5]
    if build == "level":
        return logged[a, t - 1]
    if build == "sum_4w":
        values = np.nan_to_num(cube)
        return np.log1p(values[a, t - 1] + values[a, t - 2] + values[a, t - 3]
                        + values[a, t - 4])
    raise ValueError(build)


def _cube(tables: TicketTables, signal: Signal, artists: np.ndarray, weeks: pd.DatetimeIndex,
          before: int | None) -> np.ndarray:
    """Artists x weeks of one column; weeks from ``before`` on are blanked (NaN), so no
    feature can read them even by mistake."""
    table = tables[signal.table]
    wide = table.pivot_table(index="artist_id", columns="week_start", values=signal.column,
                             aggfunc="sum").reindex(index=artists, columns=weeks)
    if signal.carry_forward:
        wide = wide.ffill(axis=1)
    else:
        wide = wide.fillna(0.0)
    values = wide.to_numpy(float, copy=True)
    if before is not None:
        values[:, before:] = np.nan
    return values
