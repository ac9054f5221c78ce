"""Forecasts of tickets and order value per artist x DMA x week, and their consistent totals.

:class:`TicketSimulator` draws, for each posterior draw ``s`` and forecast row ``i``,

    tickets_si = 0 with probability pi + (1 - pi) P0_si (no sale: listed weeks' zero share
                 pi, and the hurdle's P0 = NB(0 | mu_si, phi0_si)), else
                 1 + NegBinomial(m_si, phi_si),   m = mu / (1 - P0) - 1,
                 phi_si = phi_k exp(psi_h + rho log mu_si), phi0 likewise with its own
                 phi0_k and slope
    order_value_si = tickets_si * exp(pi_s,a(i) + gamma_s s_d(i) + sigma_s eps_si)

(:mod:`bayescope.models.ticket_demand`), vectorised over the stored draws. :func:`forecast`
summarises the rows (mean, median, 90% interval) and sums the same draws to artist-week and
national-week totals, so every aggregate is the distribution of the sum, not a sum of
quantiles.

**Means are the draws' expectations, not the simulated counts' average.** Each draw's
expected tickets ``(1 - pi) mu_si`` and order value ``(1 - pi) mu_si exp(pi_s,a + gamma_s s_d
+ sigma_s^2 / 2)`` are averaged over the draws (Rao-Blackwellised): the same mean in
expectation, without the simulation's noise. That noise can be large: where a row's mean is
small its sale dispersion ``phi`` is small too (``rho log mu``), and one simulated week in
about 100,000 then sells ~90 tickets where the 95% quantile is 0, which moved a row's
500-draw mean from 0.01 to 0.2 (a small test fit). The quantiles come from the simulation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bayescope.data.ticket_panel import TicketPanel
from bayescope.inference.predictive import predictive_summary_and_totals, summarise_totals
from bayescope.models.ticket_demand import expected_price, forecast_mu, log_price, row_outcome

QUANTILES = (0.05, 0.5, 0.95)
OUTCOMES = ("tickets", "order_value")
EXPECTED = {outcome: f"expected_{outcome}" for outcome in OUTCOMES}
"""Each simulated outcome's per-draw expectation, the source of its mean (module docstring)."""
SIMULATED = (*OUTCOMES, *EXPECTED.values())
"""What :meth:`TicketSimulator.simulate` returns per draw and row, summed into totals."""


@dataclass
class TicketSimulator:
    """Posterior-predictive tickets and order value of a forecast panel."""

    panel: TicketPanel
    tier: np.ndarray
    size: np.ndarray
    feature_means: np.ndarray

    @property
    def n_units(self) -> int:
        """Forecast rows (artist x DMA x week)."""
        return self.panel.n

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Simulated outcomes, then each draw's expected tickets and order value."""
        return SIMULATED

    def simulate(self, params: Mapping[str, np.ndarray], index: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``(draws, len(index))`` tickets and order values, and each draw's expectations of
        them (:data:`EXPECTED`)."""
        rows = self.panel.take(index)
        part = row_outcome(params, rows, self.feature_means, self.size.size, self.tier)
        phi, share = part.phi, part.zero_share
        if part.hurdle:
            tickets = 1.0 + rng.poisson(rng.gamma(phi, part.excess / phi)).astype(float)
            no_sale = share + (1.0 - share) * np.exp(part.log_no_sale)
        else:  # a run saved before the hurdle: the plain negative binomial
            tickets = rng.poisson(rng.gamma(phi, forecast_mu(part.log_mu) / phi)).astype(float)
            no_sale = share
        tickets[rng.random(tickets.shape) < no_sale] = 0.0
        price = log_price(params, rows.artist, self.size[rows.dma],
                          rng.standard_normal(tickets.shape))
        expected = part.expected_tickets
        return {"tickets": tickets, "order_value": tickets * np.exp(price),
                EXPECTED["tickets"]: expected,
                EXPECTED["order_value"]: expected * expected_price(params, rows.artist,
                                                                   self.size[rows.dma])}


@dataclass
class TicketForecast:
    """Per-row summaries and the artist-week and national-week totals."""

    rows: pd.DataFrame
    artist_week: pd.DataFrame
    national: pd.DataFrame


def forecast(simulator: TicketSimulator, params: Mapping[str, np.ndarray],
             rng: np.random.Generator) -> TicketForecast:
    """Summaries per row and totals per artist-week and week, from the same draws."""
    return forecast_with_week_draws(simulator, params, rng)[0]


WeekDraws = dict[str, dict[str, np.ndarray]]
"""Per-draw national totals by week start and outcome."""


def forecast_with_week_draws(
    simulator: TicketSimulator, params: Mapping[str, np.ndarray], rng: np.random.Generator,
) -> tuple[TicketForecast, WeekDraws]:
    """:func:`forecast` and the per-draw national totals behind it: ``{week_start: {outcome:
    (draws,)}}``, which add up across parts of the panel draw by draw."""
    panel = simulator.panel
    n_weeks = int(panel.week.max() - panel.week.min() + 1)
    week = panel.week - panel.week.min()
    artist_week = panel.artist * n_weeks + week
    n_artists = panel.artists.size
    summary, totals = predictive_summary_and_totals(
        simulator, params, rng,
        {"artist_week": (artist_week, n_artists * n_weeks), "week": (week, n_weeks)},
        QUANTILES, means_only=tuple(EXPECTED.values()))
    rows = pd.DataFrame({
        "artist_id": panel.artists[panel.artist], "dma_id": panel.dmas[panel.dma],
        "week_start": panel.weeks[panel.week].strftime("%Y-%m-%d"),
        "tickets_mean": summary["expected_tickets_mean"],
        "tickets_median": summary["tickets_median"],
        "tickets_low": summary["tickets_q05"], "tickets_high": summary["tickets_q95"],
        "order_value_mean": summary["expected_order_value_mean"],
        "order_value_low": summary["order_value_q05"],
        "order_value_high": summary["order_value_q95"]})
    first = int(panel.week.min())
    week_labels = panel.weeks[first:first + n_weeks].strftime("%Y-%m-%d")
    by_artist = []
    for code in range(n_artists * n_weeks):
        a, w = divmod(code, n_weeks)
        by_artist.append({"artist_id": panel.artists[a], "week_start": week_labels[w],
                          **_total_columns(totals["artist_week"], code)})
    national = [{"week_start": week_labels[w], **_total_columns(totals["week"], w)}
                for w in range(n_weeks)]
    week_draws = {str(week_labels[w]): {outcome: totals["week"][outcome][:, w]
                                        for outcome in simulator.outcomes}
                  for w in range(n_weeks)}
    return TicketForecast(rows, pd.DataFrame(by_artist), pd.DataFrame(national)), week_draws


def forecast_artists(artists: np.ndarray, number: int, seed: int,
                     shared: tuple[TicketSimulator, Mapping[str, np.ndarray]]
                     ) -> tuple[pd.DataFrame, tuple[pd.DataFrame, WeekDraws]]:
    """One part of the Dask engine's forecast: the rows of the artists (codes) ``artists``,
    their artist-week totals and their per-draw national-week totals, simulated with a seed
    drawn from ``(seed, number)``."""
    simulator, params = shared
    part = replace(simulator, panel=simulator.panel.take(np.isin(simulator.panel.artist,
                                                                 artists)))
    rng = np.random.default_rng(np.random.SeedSequence([seed, number]))
    result, week_draws = forecast_with_week_draws(part, params, rng)
    names = set(part.panel.artists[artists])
    artist_week = result.artist_week[result.artist_week["artist_id"].isin(names)]
    return result.rows, (artist_week.reset_index(drop=True), week_draws)


def national_totals(parts: Sequence[WeekDraws]) -> pd.DataFrame:
    """The national-week summary of per-draw week totals summed over parts."""
    weeks = sorted({week for part in parts for week in part})
    rows = []
    for week in weeks:
        summed = {outcome: sum(part[week][outcome] for part in parts if week in part)
                  for outcome in SIMULATED}
        columns = {outcome: np.asarray(values)[:, None] for outcome, values in summed.items()}
        rows.append({"week_start": week, **_total_columns(columns, 0)})
    return pd.DataFrame(rows)


def _total_columns(totals: dict[str, np.ndarray], code: int) -> dict[str, float]:
    out = {}
    for outcome in OUTCOMES:
        summary = summarise_totals(totals[outcome][:, code], QUANTILES)
        mean = float(totals[EXPECTED[outcome]][:, code].mean())
        out.update({f"{outcome}_mean": mean, f"{outcome}_median": summary["median"],
                    f"{outcome}_low": summary["q05"], f"{outcome}_high": summary["q95"]})
    return out
