"""Sales processes for the artist tables that the ticket model was *not* written from.

The package's own generator (``process="model"``, :func:`generate_ticket_tables`) draws sales
from the very features the model computes, so a fit on it can only confirm the model. The
processes here share its world (markets, tiers, streams, social engagement, tours announced
8-16 weeks ahead with listings growing toward each show; :func:`generate_world`) but draw
sales from mechanisms of their own, none of them a log-linear function of the model's
features, with noise that is not the model's negative binomial:

* ``tour_ramp``: secondary sales of a show ramp up toward the show week (convex in the time
  since the announcement, peaking in the show week, zero after it), scaled by the artist's
  popularity, the market's size and the artist's affinity there; a small background rate
  elsewhere that saturates in streaming momentum (``tanh``); Poisson-log-normal noise.
* ``seasonal_price``: demand with a DMA-level season (each DMA its own amplitude and phase,
  e.g. a snow-belt winter dip against a sun-belt summer dip, which one national harmonic
  cannot describe), dynamic prices that rise with that season, and a price response
  (elasticity -1.2 to the price's deviation from the artist's level); sales follow listings
  with diminishing returns (``listings^0.6``); gamma-Poisson noise with its own dispersion.
* ``regime_shift``: viral moments (a few per artist and five years: demand jumps by a factor
  of 3 to 7 and decays with a 10-week half-life; streams jump with it, by its square root)
  and cancelled tours (a quarter of the tours are cancelled between announcement and show:
  listings and sales stop from the cancellation week on); sales within a tour rise linearly
  toward each show.

Every process writes the same nine tables as ``generate artists`` and a truth with the
process's name and parameters (``bayescope generate artists --process NAME``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayescope.data.generate_tickets import (
    LISTING_LEVEL,
    GeneratedTickets,
    TicketTruth,
    TicketWorld,
    finish_tables,
    generate_ticket_tables,
    generate_world,
)
from bayescope.data.ticket_features import popularity
from bayescope.data.ticket_panel import TIERS

WEEKS_PER_YEAR = 365.25 / 7


@dataclass
class ProcessSales:
    """A process's sales: tickets and log price per ticket, ``(artists, DMAs, weeks)``, and
    the parameters it used (they go to the truth)."""

    tickets: np.ndarray
    log_price: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)


def _price(world: TicketWorld, rng: np.random.Generator, shift: np.ndarray | float = 0.0
           ) -> tuple[np.ndarray, np.ndarray]:
    """Artist price levels and the log price per ticket of every cell (plus ``shift``)."""
    quality = popularity(world.global_streams)
    level = 4.3 + 0.25 * quality + rng.normal(0, 0.2, world.artists.size)
    log_price = (level[:, None, None] + 0.08 * world.size[None, :, None] + shift
                 + rng.normal(0, 0.25, world.listings.shape))
    return level, log_price


def _reach(world: TicketWorld, rng: np.random.Generator) -> np.ndarray:
    """``(artists, DMAs)`` demand scale: popularity, market size and affinity, with noise."""
    quality = popularity(world.global_streams)
    return (0.9 * quality[:, None] + 0.5 * world.size[None, :] + 0.8 * world.affinity
            + rng.normal(0, 0.3, world.affinity.shape))


def _background(world: TicketWorld, base: float) -> np.ndarray:
    """A small rate outside tours, saturating in streaming momentum."""
    quality = popularity(world.global_streams)
    return np.exp(base + 0.9 * quality[:, None, None] + 0.5 * world.size[None, :, None]
                  + 1.5 * np.tanh(5.0 * world.momentum)[:, None, :])


def tour_ramp(world: TicketWorld, rng: np.random.Generator) -> ProcessSales:
    """Sales ramping to each show (module docstring)."""
    peak_scale, steepness, background, noise = 1.6, 3.0, -5.5, 0.5
    reach = _reach(world, rng)
    mu = _background(world, background)
    for show in world.shows.itertuples():
        start = max(show.announce_week, 0)
        stop = min(show.show_week + 1, world.weeks.size)
        if start >= stop:
            continue
        t = (np.arange(start, stop) - show.announce_week) / max(
            show.show_week - show.announce_week, 1)
        mu[show.artist, show.dma, start:stop] += np.exp(
            peak_scale + reach[show.artist, show.dma] - steepness * (1.0 - t))
    tickets = rng.poisson(mu * np.exp(rng.normal(-noise**2 / 2, noise, mu.shape))).astype(float)
    _, log_price = _price(world, rng)
    return ProcessSales(tickets, log_price, {
        "peak_scale": peak_scale, "steepness": steepness, "background": background,
        "lognormal_noise_sd": noise})


def seasonal_price(world: TicketWorld, rng: np.random.Generator) -> ProcessSales:
    """DMA-level seasons, dynamic prices and a price response (module docstring)."""
    base, elasticity, listing_power, dispersion = -0.6, -1.2, 0.6, 2.0
    n_dmas = world.dmas.size
    amplitude = rng.uniform(0.3, 0.9, n_dmas)
    phase = rng.uniform(0, 2 * np.pi, n_dmas)
    week = np.arange(world.weeks.size)
    season = amplitude[:, None] * np.sin(2 * np.pi * week[None, :] / WEEKS_PER_YEAR
                                         + phase[:, None])
    price_shift = 0.3 * season[None, :, :] + rng.normal(0, 0.15, world.listings.shape)
    _, log_price = _price(world, rng, shift=price_shift)
    reach = _reach(world, rng)
    level = _listing_level(world)
    listed = world.listings / level[:, None, None]
    drive = np.where(world.listings > 0, listed**listing_power, 0.0)
    mu = (np.exp(base + reach[:, :, None] + season[None, :, :] + elasticity * price_shift)
          * drive + _background(world, -5.5))
    tickets = rng.poisson(rng.gamma(dispersion, mu / dispersion)).astype(float)
    return ProcessSales(tickets, log_price, {
        "base": base, "elasticity": elasticity, "listing_power": listing_power,
        "dispersion": dispersion, "season_amplitude": amplitude.round(3).tolist(),
        "season_phase": phase.round(3).tolist()})


def _listing_level(world: TicketWorld) -> np.ndarray:
    """Each artist's typical listings per show-week (its tier's level)."""
    return np.asarray(LISTING_LEVEL)[world.tier]


def regime_shift(world: TicketWorld, rng: np.random.Generator) -> ProcessSales:
    """Viral moments and cancelled tours (module docstring)."""
    peak_scale, half_life, cancel_share, noise = 1.3, 10.0, 0.25, 0.6
    n_artists, n_weeks = world.artists.size, world.weeks.size
    boost = np.zeros((n_artists, n_weeks))
    decay = 0.5 ** (1.0 / half_life)
    moments = []
    for a in range(n_artists):
        for start in np.sort(rng.integers(0, n_weeks, rng.poisson(n_weeks / 130))):
            jump = float(rng.uniform(np.log(3.0), np.log(7.0)))
            boost[a, start:] += jump * decay ** np.arange(n_weeks - start)
            moments.append((str(world.artists[a]), int(start), round(jump, 3)))
    world.global_streams = np.round(world.global_streams * np.exp(0.5 * boost))
    world.dma_streams = np.round(world.dma_streams * np.exp(0.5 * boost)[:, None, :])
    world.engagement = np.round(world.engagement * np.exp(0.5 * boost))

    reach = _reach(world, rng)
    mu = _background(world, -5.5)
    listings, events = world.listings.copy(), world.events.copy()
    cancelled = []
    for show in world.shows.itertuples():
        start = max(show.announce_week, 0)
        stop = min(show.show_week + 1, n_weeks)
        if start >= stop:
            continue
        end = stop
        if rng.random() < cancel_share:
            end = int(rng.integers(start, stop))
            listings[show.artist, show.dma, end:stop] = 0.0
            events[show.artist, show.dma, end:stop] = 0.0
            cancelled.append((str(world.artists[show.artist]), str(world.dmas[show.dma]),
                              int(show.show_week), end))
        t = (np.arange(start, end) - show.announce_week) / max(
            show.show_week - show.announce_week, 1)
        mu[show.artist, show.dma, start:end] += np.exp(
            peak_scale + reach[show.artist, show.dma]) * (0.2 + 0.8 * t)
    world.listings, world.events = listings, events
    mu = mu * np.exp(boost)[:, None, :]
    tickets = rng.poisson(mu * np.exp(rng.normal(-noise**2 / 2, noise, mu.shape))).astype(float)
    _, log_price = _price(world, rng)
    return ProcessSales(tickets, log_price, {
        "peak_scale": peak_scale, "viral_half_life_weeks": half_life,
        "cancelled_share": cancel_share, "lognormal_noise_sd": noise,
        "viral_moments": moments, "cancelled_shows": cancelled})


PROCESSES: dict[str, Callable[[TicketWorld, np.random.Generator], ProcessSales] | None] = {
    "model": None, "tour_ramp": tour_ramp, "seasonal_price": seasonal_price,
    "regime_shift": regime_shift}
"""Process name -> sales process (``model``: the package's own generator)."""


def generate_artist_tables(process: str = "model", n_artists: int = 200,
                           rng: np.random.Generator | None = None, n_dmas: int = 210,
                           n_weeks: int = 260, start: str = "2020-01-06") -> GeneratedTickets:
    """The nine tables drawn with sales process ``process`` (module docstring).

    Raises
    ------
    ValueError
        For an unknown process or a world too small to draw.
    """
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}: one of {', '.join(PROCESSES)}")
    rng = rng if rng is not None else np.random.default_rng(0)
    sales_process = PROCESSES[process]
    if sales_process is None:
        return generate_ticket_tables(n_artists, rng, n_dmas, n_weeks, start)
    world = generate_world(n_artists, rng, n_dmas, n_weeks, start)
    sales = sales_process(world, rng)
    tables, cubes, tours = finish_tables(world, sales.tickets, sales.log_price, rng)
    truth = TicketTruth(process=process, process_parameters=sales.parameters,
                        artist_tier={a: TIERS[t] for a, t in zip(world.artists, world.tier,
                                                                 strict=True)})
    return GeneratedTickets(tables, truth, cubes, np.zeros(world.affinity.shape), tours)
