"""Leakage-free weekly features for ticket demand, artist x DMA x week.

**Time alignment.** A forecast made at origin week ``o`` (the first week forecast) knows the
tables up to week ``o - 1``. With horizon ``H`` the last week forecast is ``o + H - 1``, so
every feature of target week ``w`` is computed from weeks ``<= w - H`` (lag ``L = H``): one
model serves all 1..H weeks ahead, and a training row of week ``w`` uses exactly the
information a forecast of week ``w`` made ``H`` weeks earlier would have. Nothing of week
``w - H + 1`` or later enters (``tests/test_ticket_features.py`` changes every value from the
origin on and checks that no feature of the forecast moves).

**Features** of target week ``w`` (artist ``a``, DMA ``d``), lag ``L``:

* ``streams_index``: how much more (or less) the artist is streamed in ``d`` than the
  market's size predicts: ``log1p`` of the mean weekly streams of ``a`` in ``d`` over weeks
  ``w-L-3 .. w-L`` minus ``log1p`` of the artist's global streams over those weeks times the
  DMA's share of all TV households. The artist's overall popularity and the market size
  are left to the artist and DMA effects, where they belong (as raw ``log1p`` DMA streams the
  feature was confounded with both and the sampler crawled);
* ``streams_momentum``: ``log1p`` DMA streams over weeks ``w-L-3 .. w-L`` minus over
  ``w-L-7 .. w-L-4``;
* ``social_momentum``: ``log1p`` of the artist's Instagram engagement (thousands; last
  measured value carried forward) in week ``w - L`` minus ``log1p`` of its mean over the
  eight weeks before: buzz relative to the artist's own level;
* ``log_listings``: ``log1p`` of the secondary-market listings of ``a`` in ``d`` in week
  ``w - L`` (events announced ahead show up here weeks before they happen);
* ``log_events_listed``: ``log1p`` of the number of events with listings in week ``w - L``;
* ``season_sin``, ``season_cos``: the week of the year of ``w`` (a calendar fact, known);
* ``log_recent_sales``: ``log1p`` of the artist's mean weekly tickets in ``d`` over weeks
  ``w-L-3 .. w-L`` (what a trailing mean knows);
* ``log_national_sales``: the same over all DMAs (the artist's national demand right now);
* ``listings_growth``: ``log1p`` listings in week ``w - L`` minus in week ``w - L - 1`` (a
  show approaching, or just announced);
* ``log_weeks_listed``: ``log1p`` of the weeks since listings began in ``d`` (the current
  unbroken run of listed weeks, as of ``w - L``): how far into its on-sale period a show is;
* ``log_tickets_per_event``: ``log1p`` of tickets listed per listed event in week ``w - L``.

The last five are the recent-sales and listing dynamics (sales are lagged by the horizon
exactly as every other signal, so the leakage test covers them).

**Latest-known values** (:data:`LATEST`): ``log_listings_latest``,
``log_events_listed_latest``, ``log_recent_sales_latest``, ``log_national_sales_latest``,
``streams_momentum_latest`` and ``social_momentum_latest`` are the same six quantities lagged
by the week's own weeks ahead instead of ``H``. A forecast
of week ``o + j`` knows week ``o - 1``, so its lag is ``j + 1``; a training week ``w < o``
takes the lag ``1 + (o - 1 - w) mod H``, so the training weeks cycle through every lag the
forecasts use, one row per week (:func:`weeks_ahead_lags`). A lag of ``H`` everywhere
hides a tour announced in the ``H - 1`` weeks before the origin (listed, selling, and
invisible to every lag-``H`` feature), a show played or cancelled in those weeks, and the
first weeks of a viral jump (streams and engagement move first). Measured in ``bench/README.md``.

The DMA's market size (log TV households, centred on the mean DMA; :func:`market_size`)
enters the DMA effect and the artist's popularity (:func:`popularity`) the artist effect.
The numeric core works on dense ``(artists, DMAs, weeks)`` cubes so the generator can draw
sales from the very features the model sees; :func:`cubes_from_tables` builds the cubes from
loaded tables (absent sales, listing and streaming rows are zeros; social values are carried
forward).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayescope.data.ticket_tables import TicketTables

LATEST = {"log_listings_latest": "log_listings",
          "log_events_listed_latest": "log_events_listed",
          "log_recent_sales_latest": "log_recent_sales",
          "log_national_sales_latest": "log_national_sales",
          "streams_momentum_latest": "streams_momentum",
          "social_momentum_latest": "social_momentum"}
"""Latest-known features: the named feature lagged by the week's weeks ahead instead of the
horizon (:func:`weeks_ahead_lags`)."""
FEATURES = ("streams_index", "streams_momentum", "social_momentum", "log_listings",
            "log_events_listed", "season_sin", "season_cos", "log_recent_sales",
            "log_national_sales", "listings_growth", "log_weeks_listed",
            "log_tickets_per_event", *LATEST)
ARTIST_WEEK_FEATURES = ("social_momentum", "log_national_sales", "log_national_sales_latest",
                        "social_momentum_latest")
"""Features that are the same in every DMA of an artist's week."""
SALES_FEATURES = ("log_recent_sales", "log_national_sales", "log_tickets_per_event",
                  "log_recent_sales_latest", "log_national_sales_latest")
"""Features computed from earlier ticket sales (the rest are streaming, social, listing and
calendar signals)."""
WEEK_FEATURES = ("season_sin", "season_cos")
"""Features that are the same for every artist and DMA of a week."""
STATIC_FEATURES = FEATURES[:7]
"""The features of the first release (signals only; runs saved then hold these)."""
LAGGED_FEATURES = FEATURES[:12]
"""Signals, recent sales and listing dynamics, all lagged by the horizon (no latest-known
values; the default of the release before them)."""
FEATURE_SETS = {"dynamic": FEATURES, "lagged": LAGGED_FEATURES, "static": STATIC_FEATURES}
"""Named candidate feature sets (``fit tickets --features``); ``dynamic`` is the default."""
WINDOW = 4
SOCIAL_WINDOW = 8
HISTORY = SOCIAL_WINDOW + 1  # weeks of signal a feature needs up to its lag
WEEKS_PER_YEAR = 365.25 / 7


@dataclass
class SignalCubes:
    """Dense weekly signals on one calendar: ``(artists, DMAs, weeks)`` or ``(artists, weeks)``."""

    artists: np.ndarray
    dmas: np.ndarray
    weeks: pd.DatetimeIndex
    households: np.ndarray
    dma_streams: np.ndarray
    listings: np.ndarray
    events: np.ndarray
    engagement: np.ndarray
    global_streams: np.ndarray
    tickets: np.ndarray | None = None
    order_value: np.ndarray | None = None
    tickets_listed: np.ndarray | None = None

    def first_valid_week(self, lag: int) -> int:
        """Index of the first week whose features have their full history."""
        return lag + HISTORY - 1


def trailing_mean(cube: np.ndarray, end_lag: int, window: int = WINDOW) -> np.ndarray:
    """Mean over weeks ``w-end_lag-window+1 .. w-end_lag`` along the last axis (NaN before)."""
    weeks = cube.shape[-1]
    padded = np.concatenate([np.zeros((*cube.shape[:-1], 1)), np.cumsum(cube, axis=-1)],
                            axis=-1)
    out = np.full(cube.shape, np.nan)
    stop = np.arange(weeks) - end_lag + 1  # exclusive end index in the cumsum
    start = stop - window
    ok = start >= 0
    out[..., ok] = (padded[..., stop[ok]] - padded[..., start[ok]]) / window
    return out


def lagged(cube: np.ndarray, lag: int) -> np.ndarray:
    """``cube[..., w - lag]`` at week ``w`` (NaN before the start)."""
    out = np.full(cube.shape, np.nan)
    if lag < cube.shape[-1]:
        out[..., lag:] = cube[..., : cube.shape[-1] - lag]
    return out


def season_terms(weeks: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """First harmonic of the week of the year: ``sin`` and ``cos`` of ``2 pi day / 365.25``."""
    angle = 2 * np.pi * weeks.dayofyear.to_numpy() / 365.25
    return np.sin(angle), np.cos(angle)


def feature_cubes(cubes: SignalCubes, lag: int, names: Collection[str] | None = None
                  ) -> dict[str, np.ndarray]:
    """Every feature (or those in ``names``) as an ``(artists, DMAs, weeks)`` array (see
    module docstring)."""
    if lag < 1:
        raise ValueError("the lag (horizon) must be at least one week")
    out: dict[str, np.ndarray] = {}
    if _wanted(names, "streams_index", "streams_momentum"):
        recent = np.log1p(trailing_mean(cubes.dma_streams, lag))
        before = np.log1p(trailing_mean(cubes.dma_streams, lag + WINDOW))
        share = np.asarray(cubes.households, float) / np.sum(cubes.households)
        expected = trailing_mean(cubes.global_streams, lag)[:, None, :] * share[None, :, None]
        out["streams_index"] = recent - np.log1p(expected)
        out["streams_momentum"] = recent - before
    if _wanted(names, "social_momentum"):
        engagement = cubes.engagement / 1000.0
        buzz = np.log1p(lagged(engagement, lag)) - np.log1p(
            trailing_mean(engagement, lag + 1, SOCIAL_WINDOW))
        out["social_momentum"] = np.repeat(buzz[:, None, :], cubes.dma_streams.shape[1], axis=1)
    if _wanted(names, "log_listings"):
        out["log_listings"] = np.log1p(lagged(cubes.listings, lag))
    if _wanted(names, "log_events_listed"):
        out["log_events_listed"] = np.log1p(lagged(cubes.events, lag))
    if _wanted(names, "season_sin", "season_cos"):
        sin, cos = season_terms(cubes.weeks)
        shape = cubes.dma_streams.shape
        out["season_sin"] = np.broadcast_to(sin, shape)
        out["season_cos"] = np.broadcast_to(cos, shape)
    out.update(dynamic_feature_cubes(cubes, lag, names))
    return out if names is None else {name: out[name] for name in names if name in out}


def _wanted(names: Collection[str] | None, *features: str) -> bool:
    """Whether any of ``features`` is asked for (all are when ``names`` is None)."""
    return names is None or any(name in names for name in features)


def weeks_ahead_lags(n_weeks: int, origin: int, horizon: int) -> np.ndarray:
    """Per calendar week, the lag of its features under the ``weeks-ahead`` scheme.

    A forecast week ``origin + j`` is lagged ``j + 1`` weeks: everything up to the week before
    the origin is known when it is forecast, so the first week ahead sees last week's
    listings. A training week ``w < origin`` is lagged ``1 + (origin - 1 - w) mod H``: the
    weeks cycle through the lags 1 .. H, each one a forecast made ``lag`` weeks ahead, so
    the model learns from every lag it is asked to forecast at, with one row per week.
    Weeks after the forecast window get ``H``.
    """
    week = np.arange(n_weeks)
    lags = np.where(week >= origin, week - origin + 1, 1 + (origin - 1 - week) % horizon)
    return np.minimum(lags, horizon).astype(int)


def latest_feature_cubes(cubes: SignalCubes, origin: int, horizon: int
                         ) -> dict[str, np.ndarray]:
    """The :data:`LATEST` features as ``(artists, DMAs, weeks)`` arrays, week ``w`` lagged
    by :func:`weeks_ahead_lags` (origin ``origin``, horizon ``horizon``)."""
    lags = weeks_ahead_lags(cubes.dma_streams.shape[-1], origin, horizon)
    out: dict[str, np.ndarray] = {}
    for lag in np.unique(lags):
        at_lag = feature_cubes(cubes, int(lag), set(LATEST.values()))
        weeks = lags == lag
        for name, base in LATEST.items():
            if name not in out:
                out[name] = np.empty(at_lag[base].shape)
            out[name][..., weeks] = at_lag[base][..., weeks]
    return out


def weeks_listed(listings: np.ndarray) -> np.ndarray:
    """Per cell, the weeks since listings began in the current unbroken run of listed weeks
    (1 in the first listed week, 0 in a week without listings)."""
    out = np.zeros(listings.shape)
    run = np.zeros(listings.shape[:-1])
    for week in range(listings.shape[-1]):
        run = np.where(listings[..., week] > 0, run + 1.0, 0.0)
        out[..., week] = run
    return out


def dynamic_feature_cubes(cubes: SignalCubes, lag: int, names: Collection[str] | None = None
                          ) -> dict[str, np.ndarray]:
    """Recent sales and listing dynamics at lag ``lag`` (module docstring; those in ``names``
    when given); NaN where a source is absent (a world drawn before its sales exist)."""
    shape = cubes.dma_streams.shape
    missing = np.full(shape, np.nan)
    out: dict[str, np.ndarray] = {}
    if _wanted(names, "log_recent_sales"):
        out["log_recent_sales"] = missing if cubes.tickets is None else np.log1p(
            trailing_mean(cubes.tickets, lag))
    if _wanted(names, "log_national_sales"):
        if cubes.tickets is None:
            out["log_national_sales"] = missing
        else:
            national = trailing_mean(cubes.tickets.sum(axis=1), lag)
            out["log_national_sales"] = np.repeat(np.log1p(national)[:, None, :], shape[1],
                                                  axis=1)
    if _wanted(names, "listings_growth"):
        out["listings_growth"] = (np.log1p(lagged(cubes.listings, lag))
                                  - np.log1p(lagged(cubes.listings, lag + 1)))
    if _wanted(names, "log_weeks_listed"):
        out["log_weeks_listed"] = np.log1p(lagged(weeks_listed(cubes.listings), lag))
    if _wanted(names, "log_tickets_per_event"):
        if cubes.tickets_listed is None:
            out["log_tickets_per_event"] = missing
        else:
            per_event = cubes.tickets_listed / np.maximum(cubes.events, 1.0)
            out["log_tickets_per_event"] = np.log1p(lagged(per_event, lag))
    return out


def popularity(global_streams: np.ndarray) -> np.ndarray:
    """Each artist's log mean weekly global streams, centred on a typical 1M streams a week.

    ``global_streams`` is ``(artists, weeks)``: pass only the weeks known at the origin.
    """
    return np.log(np.maximum(np.asarray(global_streams, float).mean(axis=1), 1.0)) \
        - np.log(1e6)


def market_size(households: np.ndarray) -> np.ndarray:
    """``log(tv_households)`` centred on the mean DMA."""
    logged = np.log(np.asarray(households, float))
    return logged - logged.mean()


def _index(values: pd.Series, levels: np.ndarray) -> np.ndarray:
    return pd.Index(levels).get_indexer(values.to_numpy())


def _cube(table: pd.DataFrame, column: str, artists: np.ndarray, dmas: np.ndarray,
          weeks: pd.DatetimeIndex) -> np.ndarray:
    """Dense ``(artists, DMAs, weeks)`` values; absent rows (and rows outside) are zero."""
    out = np.zeros((artists.size, dmas.size, weeks.size))
    a = _index(table["artist_id"], artists)
    d = _index(table["dma_id"], dmas)
    w = weeks.get_indexer(pd.DatetimeIndex(table["week_start"]))
    keep = (a >= 0) & (d >= 0) & (w >= 0)
    out[a[keep], d[keep], w[keep]] = table[column].to_numpy(float)[keep]
    return out


def _artist_series(table: pd.DataFrame, column: str, artists: np.ndarray,
                   weeks: pd.DatetimeIndex, carry_forward: bool) -> np.ndarray:
    """Dense ``(artists, weeks)``; absent weeks are zero or the last value before them."""
    out = np.full((artists.size, weeks.size), np.nan if carry_forward else 0.0)
    a = _index(table["artist_id"], artists)
    w = weeks.get_indexer(pd.DatetimeIndex(table["week_start"]))
    keep = (a >= 0) & (w >= 0)
    out[a[keep], w[keep]] = table[column].to_numpy(float)[keep]
    if carry_forward:
        out = pd.DataFrame(out.T).ffill().fillna(0.0).to_numpy().T
    return out


def cubes_from_tables(tables: TicketTables, artists: np.ndarray,
                      weeks: pd.DatetimeIndex | None = None) -> SignalCubes:
    """Signal cubes of the chosen artists on the tables' calendar (every DMA)."""
    weeks = tables.weeks if weeks is None else weeks
    dmas = tables.dma["dma_id"].to_numpy(dtype=object)
    sales = tables["tsecondaryticket_artist_dma_week"]
    listings = tables["lsecondaryticket_artist_dma_week"]
    return SignalCubes(
        artists=np.asarray(artists, dtype=object), dmas=dmas, weeks=weeks,
        households=tables.dma["tv_households"].to_numpy(float),
        dma_streams=_cube(tables["artist_mstreams_dma_week"], "number_of_streams", artists,
                          dmas, weeks),
        listings=_cube(listings, "sl_num_listings", artists, dmas, weeks),
        events=_cube(listings, "sl_num_events", artists, dmas, weeks),
        engagement=_artist_series(tables["artist_social_week"], "instagram_engagement",
                                  artists, weeks, carry_forward=True),
        global_streams=_artist_series(tables["artist_mstreams_week"], "number_of_streams",
                                      artists, weeks, carry_forward=False),
        tickets=_cube(sales, "st_num_tickets", artists, dmas, weeks),
        order_value=_cube(sales, "st_order_value", artists, dmas, weeks),
        tickets_listed=_cube(listings, "sl_num_tickets_listed", artists, dmas, weeks))
