"""Seeded synthetic Artist Performance tables (8 weekly tables + DMAs) with known effects.

The process, per artist ``a``, DMA ``d`` and week ``w`` (all randomness from the caller's
NumPy ``Generator``):

1. **Markets.** ``D`` DMAs (210 by default) with TV households falling like a power law of
   rank (7.5M for the largest, about 20K for the 210th); market size ``s_d`` is the centred
   log of households.
2. **Popularity tiers.** Exactly 10% superstars, 30% established and 60% emerging artists
   (shuffled), with typical weekly global streams of 20M, 2M and 200K.
3. **Streaming momentum.** Global log streams follow the tier level plus an AR(1) momentum
   (0.9, sd 0.1) and a mild summer bump; 45% of streams are in the US (``pct_us`` varies by
   artist), shared over DMAs in proportion to households times an artist x DMA affinity
   (log-normal, sd 0.5), with negative-binomial noise. Social engagement follows followers and
   the same momentum.
4. **Tours.** Every artist tours about once every 78 / 60 / 52 weeks (by tier), playing 30 /
   20 / 10 DMAs chosen by size and affinity, three shows a week. Shows are announced 8-16
   weeks ahead; from then on listings appear in the show's DMA and grow toward the show
   (``sl_num_events`` counts the listed shows), and vanish after it.
5. **Sales** (``st_num_tickets``) are negative binomial, ``NB(mu, phi_tier)``, with

       log mu_adw = alpha_a + beta_size s_d + u_d + v_ad + x_adw . beta

   where ``alpha_a = alpha + lambda q_a + sigma_artist z_a`` with ``q_a`` the artist's
   popularity (:func:`~bayescope.data.ticket_features.popularity`: centred log mean weekly
   streams over the whole calendar; the model measures it before its origin),
   ``u_d ~ N(0, sigma_dma)`` centred to sum to zero, ``v_ad`` is ``N(0, sigma_pair)``
   double-centred (zero mean over artists and over DMAs, the model's ``ZeroSumNormal``) and
   ``x_adw`` are exactly the features the model computes
   (:mod:`bayescope.data.ticket_features`, lag = the truth's horizon, 4 weeks) from the
   generated streams, social and listing tables. Tours therefore drive sales through the
   signals a forecaster can see, and the model can be checked for recovery. Most
   artist-DMA-weeks sell nothing; sales are heavy-tailed (small ``phi``).
6. **Order value.** The price per ticket is log-normal, ``log p = pi_a + gamma_size s_d +
   N(0, sigma_price)`` with ``pi_a = pi + pi_pop q_a + N(0, sigma_price_artist)``, where
   ``q_a`` is the same popularity, so stars charge more; ``st_order_value = tickets x p``;
   orders are ``1 + Binomial(tickets - 1, 0.45)``.

Tables are written sparse, as real extracts are: sales and listing rows only where something
happened, DMA streams only where positive, and 2% of the artist-level social weeks missing.
The artist-week tables are the sums over DMAs. :class:`TicketTruth` holds every effect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.ticket_features import (
    FEATURES,
    SignalCubes,
    feature_cubes,
    market_size,
    popularity,
)
from bayescope.data.ticket_panel import TIER_SHARES, TIERS

TIER_STREAMS = (2.0e7, 2.0e6, 2.0e5)
TOUR_PERIOD = (78, 60, 52)
TOUR_SHOWS = (30, 20, 10)
LISTING_LEVEL = (120.0, 40.0, 10.0)


@dataclass
class TicketTruth:
    """Every effect of the sales and price processes (log scale)."""

    lag: int = 4
    artist_mean: float = -3.3
    artist_popularity: float = 0.9
    sigma_artist: float = 0.4
    beta_size: float = 0.6
    sigma_dma: float = 0.3
    sigma_pair: float = 0.5
    coefficients: dict[str, float] = field(default_factory=lambda: {
        "streams_index": 0.6, "streams_momentum": 0.8, "social_momentum": 0.5,
        "log_listings": 0.9, "log_events_listed": 0.8, "season_sin": 0.15,
        "season_cos": -0.1, "log_recent_sales": 0.0, "log_national_sales": 0.0,
        "listings_growth": 0.0, "log_weeks_listed": 0.0, "log_tickets_per_event": 0.0})
    dispersion: tuple[float, ...] = (3.0, 1.5, 0.8)
    price_mean: float = 4.3
    price_popularity: float = 0.25
    sigma_price_artist: float = 0.2
    price_size: float = 0.08
    sigma_price: float = 0.25
    artist_effect: dict[str, float] = field(default_factory=dict)
    dma_effect: dict[str, float] = field(default_factory=dict)
    artist_tier: dict[str, str] = field(default_factory=dict)
    artist_price: dict[str, float] = field(default_factory=dict)
    process: str = "model"
    process_parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class GeneratedTickets:
    """The nine tables (by name), the truth, the dense cubes the sales came from, the
    artist x DMA effects and the shows (week indices of announcement and show)."""

    tables: dict[str, pd.DataFrame]
    truth: TicketTruth
    cubes: SignalCubes
    pair_effect: np.ndarray
    tours: pd.DataFrame


def _nbinom(mean: np.ndarray, size: np.ndarray | float, rng: np.random.Generator
            ) -> np.ndarray:
    size = np.broadcast_to(np.asarray(size, float), np.shape(mean))
    return rng.poisson(rng.gamma(size, np.asarray(mean) / size)).astype(float)


@dataclass
class TicketWorld:
    """Everything of the generated world but its sales: markets, artists, streams, social
    engagement and tours (listings, listed events and the shows). Shared by every sales
    process (:mod:`bayescope.data.ticket_processes`)."""

    artists: np.ndarray
    dmas: np.ndarray
    weeks: pd.DatetimeIndex
    households: np.ndarray
    size: np.ndarray
    tier: np.ndarray
    affinity: np.ndarray
    global_streams: np.ndarray
    momentum: np.ndarray
    dma_streams: np.ndarray
    pct_us: np.ndarray
    followers: np.ndarray
    engagement: np.ndarray
    listings: np.ndarray
    events: np.ndarray
    shows: pd.DataFrame

    def cubes(self) -> SignalCubes:
        """The signal cubes of the world (no sales yet)."""
        return SignalCubes(self.artists, self.dmas, self.weeks, self.households,
                           self.dma_streams, self.listings, self.events, self.engagement,
                           self.global_streams)


def generate_world(n_artists: int, rng: np.random.Generator, n_dmas: int = 210,
                   n_weeks: int = 260, start: str = "2020-01-06") -> TicketWorld:
    """Markets, tiers, streams, social engagement and tours (steps 1-4 of the module
    docstring), drawn in this order from ``rng``."""
    if n_artists < 3 or n_dmas < 2 or n_weeks < 30:
        raise ValueError("need at least 3 artists, 2 DMAs and 30 weeks")
    weeks = pd.date_range(start, periods=n_weeks, freq="7D")
    artists = np.asarray([f"A{i:04d}" for i in range(1, n_artists + 1)], dtype=object)
    dmas = np.asarray([str(500 + r) for r in range(1, n_dmas + 1)], dtype=object)
    households = np.round(7.5e6 * np.arange(1, n_dmas + 1) ** -1.05
                          * np.exp(rng.normal(0, 0.05, n_dmas)))
    counts = np.round(np.asarray(TIER_SHARES) * n_artists).astype(int)
    counts[2] = n_artists - counts[:2].sum()
    tier = rng.permutation(np.repeat(np.arange(3), counts))

    affinity = rng.normal(0, 0.5, (n_artists, n_dmas))
    global_streams, momentum = _streams(tier, weeks, rng)
    pct_us = np.clip(rng.normal(0.45, 0.08, n_artists), 0.15, 0.8)
    share = households[None, :] * np.exp(affinity)
    share /= share.sum(axis=1, keepdims=True)
    dma_streams = _nbinom(global_streams[:, None, :] * (pct_us[:, None] * share)[:, :, None],
                          20.0, rng)
    followers = np.asarray(TIER_STREAMS)[tier] * np.exp(rng.normal(0, 0.3, n_artists))
    engagement = np.round(followers[:, None] * 0.03
                          * np.exp(0.8 * momentum + rng.normal(0, 0.2, momentum.shape)))
    listings, events, shows = _tours(tier, households, affinity, n_weeks, rng)
    return TicketWorld(artists, dmas, weeks, households, market_size(households), tier,
                       affinity, global_streams, momentum, dma_streams, pct_us, followers,
                       engagement, listings, events, shows)


def finish_tables(world: TicketWorld, tickets: np.ndarray, log_price: np.ndarray,
                  rng: np.random.Generator) -> tuple[dict[str, pd.DataFrame], SignalCubes,
                                                     pd.DataFrame]:
    """The sparse tables of a world with its sales (``tickets``, log price per ticket), the
    full cubes, and the show list with artist and DMA ids."""
    cubes = world.cubes()
    cubes.tickets = tickets
    cubes.order_value = np.round(tickets * np.exp(log_price), 2)
    tables = _tables(cubes, world.households, world.followers, world.pct_us, log_price, rng)
    tours = world.shows.copy()
    tours["artist_id"] = world.artists[tours.pop("artist")]
    tours["dma_id"] = world.dmas[tours.pop("dma")]
    return tables, cubes, tours


def generate_ticket_tables(n_artists: int = 200, rng: np.random.Generator | None = None,
                           n_dmas: int = 210, n_weeks: int = 260,
                           start: str = "2020-01-06",
                           truth: TicketTruth | None = None) -> GeneratedTickets:
    """Generate the tables (see module docstring)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    truth = truth or TicketTruth()
    world = generate_world(n_artists, rng, n_dmas, n_weeks, start)
    artists, dmas, tier, size = world.artists, world.dmas, world.tier, world.size
    cubes = world.cubes()

    quality = popularity(world.global_streams)
    alpha = (truth.artist_mean + truth.artist_popularity * quality
             + rng.normal(0, truth.sigma_artist, n_artists))
    dma_effect = rng.normal(0, truth.sigma_dma, n_dmas)
    dma_effect -= dma_effect.mean()  # zero-sum, as the model's DMA deviations
    pair = rng.normal(0, truth.sigma_pair, (n_artists, n_dmas))
    # Double-centred, as the model's ZeroSumNormal: pair effects are pure interactions.
    pair = pair - pair.mean(axis=0) - pair.mean(axis=1, keepdims=True) + pair.mean()
    features = feature_cubes(cubes, truth.lag)
    log_mu = (alpha[:, None, None] + (truth.beta_size * size + dma_effect)[None, :, None]
              + pair[:, :, None])
    for name in FEATURES:
        if name in features:  # the latest-known features depend on an origin: not drawn from
            log_mu = log_mu + truth.coefficients.get(name, 0.0) * np.nan_to_num(features[name])
    mu = np.exp(np.minimum(log_mu, 12.0))
    phi = np.asarray(truth.dispersion)[tier][:, None, None]
    tickets = _nbinom(mu, np.broadcast_to(phi, mu.shape), rng)
    valid = cubes.first_valid_week(truth.lag)
    tickets[:, :, :valid] = 0.0  # no sales before the features exist (keeps the truth exact)
    price_level = (truth.price_mean + truth.price_popularity * quality
                   + rng.normal(0, truth.sigma_price_artist, n_artists))
    log_price = (price_level[:, None, None] + truth.price_size * size[None, :, None]
                 + rng.normal(0, truth.sigma_price, tickets.shape))

    truth.artist_effect = dict(zip(artists, alpha.tolist(), strict=True))
    truth.dma_effect = dict(zip(dmas, dma_effect.tolist(), strict=True))
    truth.artist_tier = {a: TIERS[t] for a, t in zip(artists, tier, strict=True)}
    truth.artist_price = dict(zip(artists, price_level.tolist(), strict=True))
    tables, cubes, tours = finish_tables(world, tickets, log_price, rng)
    return GeneratedTickets(tables, truth, cubes, pair, tours)


def _streams(tier: np.ndarray, weeks: pd.DatetimeIndex, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray]:
    """Weekly global streams and the AR(1) momentum behind them, ``(artists, weeks)``."""
    n, w = tier.size, weeks.size
    momentum = np.zeros((n, w))
    shocks = rng.normal(0, 0.1, (n, w))
    momentum[:, 0] = rng.normal(0, 0.1 / np.sqrt(1 - 0.9**2), n)
    for t in range(1, w):
        momentum[:, t] = 0.9 * momentum[:, t - 1] + shocks[:, t]
    level = np.log(np.asarray(TIER_STREAMS)[tier]) + rng.normal(0, 0.4, n)
    summer = 0.08 * np.cos(2 * np.pi * (weeks.dayofyear.to_numpy() - 196) / 365.25)
    streams = np.round(np.exp(level[:, None] + momentum + summer[None, :]))
    return streams, momentum


def _tours(tier: np.ndarray, households: np.ndarray, affinity: np.ndarray, n_weeks: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Listing and listed-event cubes from tours; the show list."""
    n, d = affinity.shape
    listings, events = np.zeros((n, d, n_weeks)), np.zeros((n, d, n_weeks))
    shows = []
    for a in range(n):
        period = TOUR_PERIOD[tier[a]]
        first_show = int(rng.integers(0, period))
        while first_show < n_weeks + 16:
            n_shows = min(TOUR_SHOWS[tier[a]], d)
            weight = households**0.7 * np.exp(affinity[a])
            chosen = rng.choice(d, n_shows, replace=False, p=weight / weight.sum())
            lead = int(rng.integers(8, 17))
            announce = first_show - lead
            for k, dma in enumerate(chosen):
                show = first_show + k // 3
                shows.append((a, dma, show, announce))
                for week in range(max(announce, 0), min(show + 1, n_weeks)):
                    closeness = 1.0 - (show - week) / max(show - announce, 1)
                    events[a, dma, week] += 1
                    listings[a, dma, week] += rng.poisson(
                        LISTING_LEVEL[tier[a]] * (0.2 + closeness))
            first_show += period + int(rng.integers(-8, 9))
    frame = pd.DataFrame(shows, columns=["artist", "dma", "show_week", "announce_week"])
    return listings, events, frame


def _tables(cubes: SignalCubes, households: np.ndarray, followers: np.ndarray,
            pct_us: np.ndarray, log_price: np.ndarray, rng: np.random.Generator
            ) -> dict[str, pd.DataFrame]:
    """The sparse tables, as an extract would deliver them."""
    artists, dmas, weeks = cubes.artists, cubes.dmas, cubes.weeks
    n, d, w = cubes.dma_streams.shape
    assert cubes.tickets is not None and cubes.order_value is not None
    a_idx, d_idx, w_idx = np.meshgrid(np.arange(n), np.arange(d), np.arange(w), indexing="ij")

    def sparse(mask: np.ndarray, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        frame = pd.DataFrame({"artist_id": artists[a_idx[mask]], "dma_id": dmas[d_idx[mask]],
                              "week_start": weeks[w_idx[mask]]})
        for name, cube in columns.items():
            frame[name] = cube[mask]
        return frame

    tickets, value = cubes.tickets, cubes.order_value
    orders = np.where(tickets > 0, 1 + rng.binomial(np.maximum(tickets - 1, 0).astype(int),
                                                    0.45), 0).astype(float)
    sold = tickets > 0
    listed = (cubes.listings > 0) | (cubes.events > 0)
    list_price = np.where(listed, np.round(np.exp(log_price + 0.3 + rng.normal(
        0, 0.2, log_price.shape)), 2), np.nan)
    tickets_listed = np.round(cubes.listings * rng.uniform(1.8, 2.6, cubes.listings.shape))
    tables = {
        "dma": pd.DataFrame({"dma_id": dmas, "dma_name": [f"Market {i:03d}" for i in
                                                          range(1, d + 1)],
                             "tv_households": households}),
        "artist_mstreams_dma_week": sparse(cubes.dma_streams > 0,
                                           {"number_of_streams": cubes.dma_streams}),
        "tsecondaryticket_artist_dma_week": sparse(sold, {
            "st_num_tickets": tickets, "st_num_orders": orders, "st_order_value": value}),
        "lsecondaryticket_artist_dma_week": sparse(listed, {
            "sl_num_listings": cubes.listings, "sl_num_tickets_listed": tickets_listed,
            "sl_median_list_price": list_price, "sl_num_events": cubes.events}),
    }
    for name in ("tsecondaryticket_artist_dma_week", "lsecondaryticket_artist_dma_week"):
        per_artist = tables[name].drop(columns="dma_id").groupby(
            ["artist_id", "week_start"], as_index=False)
        summed = per_artist.sum(numeric_only=True)
        if "sl_median_list_price" in summed:
            summed["sl_median_list_price"] = per_artist["sl_median_list_price"].median()[
                "sl_median_list_price"].to_numpy()
        tables[name.replace("_dma_week", "_week")] = summed
    aw_a, aw_w = np.meshgrid(np.arange(n), np.arange(w), indexing="ij")
    cumulative = np.cumsum(cubes.global_streams, axis=1) + (followers * 50)[:, None]
    tables["artist_mstreams_week"] = pd.DataFrame({
        "artist_id": artists[aw_a.ravel()], "week_start": weeks[aw_w.ravel()],
        "number_of_streams": cubes.global_streams.ravel(),
        "cleaned_cumulative_spotify_streams": np.round(cumulative).ravel()})
    growth = np.exp(np.cumsum(rng.normal(0.002, 0.004, (n, w)), axis=1))
    measured = rng.random((n, w)) >= 0.02
    social = pd.DataFrame({
        "artist_id": artists[aw_a.ravel()], "week_start": weeks[aw_w.ravel()],
        "instagram_followers": np.round(followers[:, None] * growth).ravel(),
        "instagram_engagement": cubes.engagement.ravel(),
        "tiktok_followers": np.round(0.6 * followers[:, None] * growth**1.5).ravel(),
        "tiktok_views": np.round(cubes.engagement * rng.lognormal(2.0, 0.4, (n, w))).ravel(),
        "youtube_subscribers": np.round(0.3 * followers[:, None] * growth).ravel(),
        "youtube_views": np.round(cubes.global_streams * 0.1
                                  * rng.lognormal(0, 0.3, (n, w))).ravel()})
    tables["artist_social_week"] = social[measured.ravel()].reset_index(drop=True)
    female = np.clip(rng.normal(0.5, 0.15, n), 0.05, 0.95)
    ages = rng.dirichlet([3, 4, 2.5, 1.5], n)
    instagram = pd.DataFrame({
        "artist_id": artists[aw_a.ravel()], "week_start": weeks[aw_w.ravel()],
        "followers": np.round(followers[:, None] * growth).ravel(),
        "pct_female": np.repeat(female, w), "pct_age_18_24": np.repeat(ages[:, 0], w),
        "pct_age_25_34": np.repeat(ages[:, 1], w), "pct_age_35_44": np.repeat(ages[:, 2], w),
        "pct_age_45_plus": np.repeat(ages[:, 3], w), "pct_us": np.repeat(pct_us, w)})
    tables["artist_instagram"] = instagram[measured.ravel()].reset_index(drop=True)
    return tables
