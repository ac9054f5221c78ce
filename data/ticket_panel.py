"""The modelling panel for one forecast origin: artist x DMA x week rows, features, outcomes.

``build_panels(tables, artists, origin, horizon, train_weeks)`` returns the training panel
(weeks ``origin - train_weeks .. origin - 1`` that have full feature history) and the
forecast panel (weeks ``origin .. origin + horizon - 1``), both with features at lag
``horizon`` and the latest-known features at each week's own lag
(:mod:`bayescope.data.ticket_features`), so the forecast uses nothing from the origin week
on. Outcomes of forecast weeks inside the tables' calendar are kept (for
backtests) and marked observed; weeks after the calendar are unobserved.

Popularity tiers and artist sampling also live here:

* :func:`popularity_tiers`: by mean weekly global streams over the 52 weeks before the
  origin, the top 10% of artists are superstars, the next 30% established, the rest
  emerging (the generator's shares; a data fact known at the origin, not a label).
* ``recent_events``: events listed per artist and DMA in the 26 weeks before the origin (a
  DMA with shows on sale or just played; rank-dmas flags it) and ``audience_index``: the
  artist's streaming share in a DMA against the DMA's share of households.
* :func:`sample_artists`: a seeded sample stratified by tier, proportional with at least one
  artist per tier. Why: a full NUTS fit over every artist x 210 DMAs is too slow on two cores,
  and a simple random sample of 30 from 200 would often hold no superstar or no emerging
  artist, leaving that tier's dispersion and mean unestimated; stratifying keeps every tier
  in the fit and the tier shares close to the population's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bayescope.data.ticket_features import (
    FEATURES,
    HISTORY,
    LATEST,
    SignalCubes,
    cubes_from_tables,
    feature_cubes,
    latest_feature_cubes,
    market_size,
    popularity,
    weeks_ahead_lags,
)
from bayescope.data.ticket_tables import TicketTables
from bayescope.data.validation import WIDENED, scorable_range
from bayescope.errors import BayescopeInputError

log = logging.getLogger(__name__)

TIERS = ("superstar", "established", "emerging")
TIER_SHARES = (0.1, 0.3, 0.6)
TIER_WEEKS = 52
RECENT_WEEKS = 26


@dataclass
class TicketPanel:
    """Rows of artist x DMA x week with integer codes into ``artists``, ``dmas``, ``weeks``."""

    artists: np.ndarray
    dmas: np.ndarray
    weeks: pd.DatetimeIndex
    artist: np.ndarray
    dma: np.ndarray
    week: np.ndarray
    x: np.ndarray
    tickets: np.ndarray
    order_value: np.ndarray
    observed: np.ndarray
    features: tuple[str, ...] = FEATURES
    """Names of the columns of ``x``."""
    weeks_ahead: np.ndarray | None = None
    """Per row, how many weeks ahead of what is known it lies: the lag of its latest-known
    features (:func:`~bayescope.data.ticket_features.weeks_ahead_lags`); None when unknown."""

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.artist.size)

    def take(self, index: np.ndarray) -> TicketPanel:
        """The rows at ``index`` (integer positions or a boolean mask)."""
        return TicketPanel(self.artists, self.dmas, self.weeks, self.artist[index],
                           self.dma[index], self.week[index], self.x[index],
                           self.tickets[index], self.order_value[index], self.observed[index],
                           self.features,
                           None if self.weeks_ahead is None else self.weeks_ahead[index])

    def frame(self) -> pd.DataFrame:
        """Ids, week, features and outcomes as a DataFrame (for baselines and inspection)."""
        out = pd.DataFrame({"artist_id": self.artists[self.artist],
                            "dma_id": self.dmas[self.dma],
                            "week_start": self.weeks[self.week]})
        for k, name in enumerate(self.features):
            out[name] = self.x[:, k]
        out["st_num_tickets"] = self.tickets
        out["st_order_value"] = self.order_value
        out["observed"] = self.observed
        return out


@dataclass
class PanelPair:
    """Training and forecast panels of one origin, with the DMA and tier facts."""

    train: TicketPanel
    forecast: TicketPanel
    origin: pd.Timestamp
    horizon: int
    tier: np.ndarray
    popularity: np.ndarray
    size: np.ndarray
    households: np.ndarray
    dma_names: np.ndarray
    recent_events: np.ndarray
    audience_index: np.ndarray
    feature_ranges: dict[str, tuple[float, float]] | None = None
    """Per feature, the values the forecast may use (:func:`clamp_forecast_features`)."""
    clamped_rows: dict[str, int] | None = None
    """Per feature, the forecast rows clipped to its range (features with none left out)."""


def popularity_tiers(tables: TicketTables, before: pd.Timestamp) -> pd.Series:
    """Tier of every artist by mean weekly streams in the 52 weeks before ``before``."""
    streams = tables["artist_mstreams_week"]
    window = streams[(streams["week_start"] < before)
                     & (streams["week_start"] >= before - pd.Timedelta(weeks=TIER_WEEKS))]
    artists = pd.Index(sorted(set(tables["artist_mstreams_week"]["artist_id"])))
    mean = window.groupby("artist_id")["number_of_streams"].sum().reindex(
        artists, fill_value=0.0) / TIER_WEEKS
    order = mean.rank(ascending=False, method="first").to_numpy() - 1
    n = len(artists)
    top = max(1, round(TIER_SHARES[0] * n))
    middle = top + max(1, round(TIER_SHARES[1] * n))
    tier = np.where(order < top, 0, np.where(order < middle, 1, 2))
    return pd.Series(np.asarray(TIERS, dtype=object)[tier], index=artists, name="tier")


def sample_artists(tiers: pd.Series, n: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded sample of ``n`` artists stratified by tier (see module docstring)."""
    if n < 1:
        raise BayescopeInputError("--artists must be positive", field="artists")
    if n >= len(tiers):
        return np.asarray(sorted(tiers.index), dtype=object)
    present = [t for t in TIERS if (tiers == t).any()]
    counts = {t: int((tiers == t).sum()) for t in present}
    take = {t: max(1, int(np.floor(n * counts[t] / len(tiers)))) for t in present}
    while sum(take.values()) < n:  # hand out the remainder by the largest shortfall
        gap = {t: n * counts[t] / len(tiers) - take[t] for t in present
               if take[t] < counts[t]}
        take[max(gap, key=lambda t: gap[t])] += 1
    while sum(take.values()) > n:
        largest = max(take, key=lambda t: take[t])
        take[largest] -= 1
    chosen = [a for t in present
              for a in rng.choice(np.asarray(tiers.index[tiers == t]), take[t], replace=False)]
    return np.asarray(sorted(chosen), dtype=object)


def build_panels(tables: TicketTables, artists: np.ndarray, origin: str | pd.Timestamp,
                 horizon: int = 4, train_weeks: int = 104,
                 features: tuple[str, ...] = FEATURES) -> PanelPair:
    """Training and forecast panels of ``artists`` at ``origin`` (see module docstring),
    with the columns ``features`` (a subset of :data:`FEATURES`)."""
    unknown = [name for name in features if name not in FEATURES]
    if unknown or not features:
        raise BayescopeInputError(f"unknown feature(s) {unknown}: choose from "
                                  f"{', '.join(FEATURES)}", field="features")
    if horizon < 1:
        raise BayescopeInputError("--horizon must be at least 1 week", field="horizon")
    calendar = tables.weeks
    origin = parse_origin(origin, calendar, tables.weekday)
    weeks = pd.date_range(calendar[0], origin + pd.Timedelta(weeks=horizon - 1), freq="7D")
    weeks = weeks.union(calendar)
    cubes = cubes_from_tables(tables, np.asarray(artists, dtype=object), weeks)
    first_valid = cubes.first_valid_week(horizon)
    o = int(np.flatnonzero(weeks == origin)[0])
    start = max(o - train_weeks, first_valid)
    if o - start < 8:
        raise BayescopeInputError(
            f"origin {origin.date()} leaves {max(o - start, 0)} training weeks: features need "
            f"{horizon + HISTORY - 1} weeks of history, so the origin must be at least "
            f"{first_valid + 8} weeks after {calendar[0].date()}", field="origin")
    values = feature_cubes(cubes, horizon)
    if any(name in LATEST for name in features):
        values.update(latest_feature_cubes(cubes, o, horizon))
    observed_until = int(np.flatnonzero(weeks == calendar[-1])[0])
    lags = weeks_ahead_lags(weeks.size, o, horizon)
    train = _panel(cubes, values, features, np.arange(start, o), observed_until, lags)
    forecast = _panel(cubes, values, features, np.arange(o, o + horizon), observed_until, lags)
    ranges = {name: scorable_range(train.x[:, k]) for k, name in enumerate(features)}
    forecast, clamped = clamp_forecast_features(forecast, ranges)
    tiers = popularity_tiers(tables, origin).reindex(cubes.artists)
    tier = np.asarray([TIERS.index(t) for t in tiers], dtype=int)
    households = tables.dma["tv_households"].to_numpy(float)
    recent = slice(max(o - RECENT_WEEKS, 0), o)
    return PanelPair(train, forecast, origin, horizon, tier,
                     popularity(cubes.global_streams[:, :o]), market_size(households),
                     households, tables.dma["dma_name"].to_numpy(dtype=object),
                     cubes.events[:, :, recent].sum(axis=2),
                     _audience_index(cubes, households, o), ranges, clamped)


def clamp_forecast_features(forecast: TicketPanel, ranges: dict[str, tuple[float, float]]
                            ) -> tuple[TicketPanel, dict[str, int]]:
    """The forecast rows with each feature clipped to what the training weeks support, and
    per feature the number of rows clipped (a warning names them).

    The model is log-linear in its features, so a forecast week far outside the training
    weeks (a streaming spike 100 times the largest seen) would be extrapolated exponentially,
    to millions of tickets or beyond what a float holds. Each feature is held to its
    training range widened by its own width each side
    (:func:`~bayescope.data.validation.scorable_range`): a stated clamp, stored with the run.
    """
    x = forecast.x.copy()
    clamped: dict[str, int] = {}
    for k, name in enumerate(forecast.features):
        low, high = ranges[name]
        outside = int(((x[:, k] < low) | (x[:, k] > high)).sum())
        if outside:
            clamped[name] = outside
            x[:, k] = np.clip(x[:, k], low, high)
            log.warning("%s is outside what the training weeks support (%.4g to %.4g: %s) in "
                        "%d forecast rows: clipped to it", name, low, high, WIDENED, outside)
    if not clamped:
        return forecast, clamped
    return replace(forecast, x=x), clamped


def _audience_index(cubes: SignalCubes, households: np.ndarray, origin: int) -> np.ndarray:
    """``(artists, DMAs)``: log of the artist's streaming share in each DMA over its share of
    TV households, over the eight weeks before the origin (0 = streams as market size
    predicts, +0.7 = twice as many)."""
    window = slice(max(origin - 8, 0), origin)
    streams = cubes.dma_streams[:, :, window].sum(axis=2) + 0.5
    share = streams / streams.sum(axis=1, keepdims=True)
    return np.log(share / (households / households.sum())[None, :])


def parse_origin(value: str | pd.Timestamp, calendar: pd.DatetimeIndex, weekday: int
                 ) -> pd.Timestamp:
    """The origin as a week start of the tables' calendar, or one clear error."""
    try:
        origin = pd.Timestamp(value).normalize()
    except (ValueError, TypeError) as exc:
        raise BayescopeInputError(f"--origin {value!r} is not a date", field="origin") from exc
    if origin.dayofweek != weekday:
        raise BayescopeInputError(
            f"--origin {origin.date()} is a {origin.day_name()}; the tables' weeks start on "
            f"{calendar[0].day_name()}s", field="origin")
    if origin <= calendar[0]:
        raise BayescopeInputError(
            f"--origin {origin.date()} is not after the tables' first week "
            f"({calendar[0].date()}): nothing before it to learn from", field="origin")
    if origin > calendar[-1] + pd.Timedelta(weeks=1):
        raise BayescopeInputError(
            f"--origin {origin.date()} is after the week following the last week in the "
            f"tables ({calendar[-1].date()}): nothing would be known about the weeks between",
            field="origin")
    return origin


def _panel(cubes: SignalCubes, values: dict[str, np.ndarray], features: tuple[str, ...],
           week_index: np.ndarray, observed_until: int, lags: np.ndarray) -> TicketPanel:
    n_a, n_d = cubes.dma_streams.shape[:2]
    a, d, w = (g.ravel() for g in np.meshgrid(np.arange(n_a), np.arange(n_d), week_index,
                                              indexing="ij"))
    x = np.column_stack([values[name][a, d, w] for name in features])
    assert cubes.tickets is not None and cubes.order_value is not None
    return TicketPanel(cubes.artists, cubes.dmas, cubes.weeks, a, d, w, x,
                       cubes.tickets[a, d, w], cubes.order_value[a, d, w],
                       w <= observed_until, tuple(features), lags[w])
