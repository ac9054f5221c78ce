"""Rank the DMAs an artist should play next, with posterior uncertainty.

For the artist and every DMA, a show scenario at the run's origin: the features the run
knows at the origin (streaming index and momentum in that DMA, social momentum, the artist's
national sales, the season of the first forecast week), with one show listed and the listing
dynamics and recent sales in the DMA at the artist's typical state on tour (the medians of
its toured weeks before the origin: listings, their growth, weeks listed, tickets per event,
recent sales; every artist's median if it never toured then). Per posterior draw:

    expected tickets per show = ON_SALE_WEEKS * E[tickets_ad(scenario)]
        (the hurdle's mean, models.ticket_demand.RowOutcome.expected_tickets)
    price per ticket = exp(pi_a + gamma_size s_d + sigma_price^2 / 2)

so each DMA gets the posterior mean and 90% interval of its expected tickets, its expected
price and revenue, and P(in the top k): the share of draws in which it is among the ``k``
best of the DMAs considered. The audience fit is the artist's streaming share in the DMA
over the DMA's share of households (x1.0 = as market size predicts). DMAs with shows listed
in the 26 weeks before the origin (played, or on sale) are flagged as played recently and,
unless asked otherwise (or every DMA is such), left out of the ranking and listed after it
without a rank.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from bayescope.data.ticket_panel import TicketPanel
from bayescope.errors import BayescopeInputError
from bayescope.inference.predictive import thin_draws
from bayescope.models.ticket_demand import expected_price, row_outcome
from bayescope.posterior_reports.runs import TicketsRunView

log = logging.getLogger(__name__)

ON_SALE_WEEKS = 4
RANK_DRAWS = 1000


def rank_dmas(run: TicketsRunView, artist: str, top: int = 10, seed: int = 0,
              include_played: bool = False) -> pd.DataFrame:
    """The ranking table of ``artist`` (see module docstring)."""
    artists = list(run.artists)
    if artist not in artists:
        shown = ", ".join(artists[:12]) + (" ..." if len(artists) > 12 else "")
        raise BayescopeInputError(f"artist {artist!r} was not in this run's sample ({shown}); "
                                  "refit with it in the tables' sample", field="artist")
    if top < 1:
        raise BayescopeInputError("--top must be positive", field="top")
    a = artists.index(artist)
    rng = np.random.default_rng(seed)
    params = thin_draws(run.artifact.posterior, RANK_DRAWS, rng)
    scenario = _scenario(run, a)
    size = np.asarray(run.attr("size"), float)
    tier = np.asarray(run.attr("tier"), int)
    tickets = ON_SALE_WEEKS * row_outcome(
        params, scenario, np.asarray(run.attr("feature_means"), float), size.size,
        tier).expected_tickets
    price = expected_price(params, np.array([a]), size)
    recent = np.asarray(run.attr("recent_events"), float)[a]
    played = recent > 0
    eligible = np.ones(size.size, bool) if include_played else ~played
    if not eligible.any():
        log.warning("every DMA had %s's shows in the 26 weeks before the origin: ranking all "
                    "of them", artist)
        eligible = np.ones(size.size, bool)
    k = min(top, int(eligible.sum()))
    order = np.argsort(-np.where(eligible, tickets, -np.inf), axis=1)
    in_top = np.zeros_like(tickets, dtype=bool)
    np.put_along_axis(in_top, order[:, :k], True, axis=1)
    low, high = np.quantile(tickets, [0.05, 0.95], axis=0)
    table = pd.DataFrame({
        "dma_id": run.dmas, "dma_name": np.asarray(run.attr("dma_names"), dtype=object),
        "tv_households": np.asarray(run.attr("households"), float),
        "expected_tickets_mean": tickets.mean(axis=0), "expected_tickets_low": low,
        "expected_tickets_high": high,
        "p_top_k": np.where(eligible, in_top.mean(axis=0), np.nan),
        "price_per_ticket_mean": price.mean(axis=0),
        "expected_revenue_mean": (tickets * price).mean(axis=0),
        "audience_index": np.asarray(run.attr("audience_index"), float)[a],
        "played_recently": played, "recent_events": recent.astype(int)})
    table = pd.concat([table[eligible].sort_values("expected_tickets_mean", ascending=False),
                       table[~eligible].sort_values("expected_tickets_mean", ascending=False)])
    table.insert(0, "rank", np.r_[np.arange(1, eligible.sum() + 1),
                                  np.full((~eligible).sum(), np.nan)])
    table["rank"] = table["rank"].astype("Int64")
    return table.reset_index(drop=True)


def _scenario(run: TicketsRunView, artist: int) -> TicketPanel:
    """One row per DMA: the artist's origin features with a show listed."""
    panel = run.forecast_panel()
    first = panel.week.min()
    rows = np.flatnonzero((panel.artist == artist) & (panel.week == first))
    rows = rows[np.argsort(panel.dma[rows])]
    scenario = panel.take(rows)  # take copies: the stored features stay as they are
    profile = (run.attr("tour_profile") if "tour_profile" in run.artifact.attrs
               else {"log_listings": run.attr("tour_listings")})
    features = scenario.features
    for name, values in profile.items():
        if name in features:
            scenario.x[:, features.index(name)] = values[artist]
    for name in ("log_events_listed", "log_events_listed_latest"):
        if name in features:
            scenario.x[:, features.index(name)] = np.log1p(1.0)
    return scenario
