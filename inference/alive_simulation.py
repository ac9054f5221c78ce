"""Forward simulation of customers alive and purchases made through time (Klaviyo Q5).

Each run takes one posterior draw of (r, alpha, a, b) at random and simulates ``n`` customers
with :class:`~bayescope.inference.btyd_simulation.CohortAlive` through the shared
:func:`~bayescope.inference.predictive.predictive_totals` (per-run totals over customers):

* *new* customers draw ``lambda ~ Gamma(r, alpha)`` and ``p ~ Beta(a, b)``;
* *existing* customers (optional) draw from their exact posterior given (x, t_x, T): with
  probability P(alive) they are alive with ``lambda ~ Gamma(r + x, alpha + T)`` and ``p`` from
  :meth:`PurchaseModel.alive_dropout_beta`, otherwise they are already gone.

Between horizons the Poisson purchase count of an alive customer grows by
``Poisson(lambda * dt)``; each purchase ends the relationship with probability ``p`` (and an
MBG/NBD customer may end it at time zero). The number of purchases before dropout is
geometric, so a customer is alive at t iff its cumulative purchase count is below that number.
This is exact, vectorised over customers and runs, and consistent across horizons within a run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayescope.data.rfm import TIME_UNITS, RFMSummary
from bayescope.errors import BayescopeInputError
from bayescope.inference.btyd_simulation import CohortAlive
from bayescope.inference.predictive import n_draws, predictive_totals
from bayescope.models.btyd_base import PurchaseModel

DEFAULT_HORIZONS = ("10d", "1y", "10y", "100y")
_DAYS_PER = {"d": 1.0, "w": 7.0, "m": 365.25 / 12, "y": 365.25}


def parse_horizon(text: str) -> float:
    """Parse ``10d``, ``6w``, ``3m`` or ``1y`` into days."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dwmy])\s*", text.lower())
    if not match:
        raise BayescopeInputError(
            f"horizon {text!r} is not like 10d, 6w, 3m or 1y", field="at")
    return float(match.group(1)) * _DAYS_PER[match.group(2)]


@dataclass
class AliveSimulation:
    """Simulated alive counts and cumulative purchases: arrays (runs, horizons)."""

    horizons: list[str]
    horizon_periods: np.ndarray
    alive: np.ndarray
    purchases: np.ndarray

    def summary(self, expected_alive: np.ndarray | None = None) -> pd.DataFrame:
        """One row per horizon: run 0's counts and the 5-95% spread over runs."""
        frame = pd.DataFrame({
            "horizon": self.horizons,
            "alive": self.alive[0],
            "purchases": self.purchases[0],
            "alive_low": np.quantile(self.alive, 0.05, axis=0),
            "alive_high": np.quantile(self.alive, 0.95, axis=0),
            "purchases_low": np.quantile(self.purchases, 0.05, axis=0),
            "purchases_high": np.quantile(self.purchases, 0.95, axis=0),
            "alive_mean": self.alive.mean(axis=0),
            "purchases_mean": self.purchases.mean(axis=0),
        })
        if expected_alive is not None:
            frame["alive_expected"] = expected_alive
        return frame


def simulate_alive(
    model: PurchaseModel,
    posterior: Mapping[str, np.ndarray],
    n_customers: int,
    horizons: list[str],
    time_unit: str,
    rng: np.random.Generator,
    runs: int = 1000,
    existing: RFMSummary | None = None,
) -> AliveSimulation:
    """Simulate ``runs`` cohorts of ``n_customers`` and count alive customers at each horizon.

    Parameters
    ----------
    model
        The purchase model (BG/NBD or MBG/NBD) whose process is simulated.
    posterior
        Flat posterior draws of r, alpha, a, b.
    n_customers
        Cohort size.
    horizons
        Horizons like ``10d``, ``1y``; counted from acquisition (new customers) or from the
        calibration end (existing customers).
    time_unit
        The model's time unit (``D`` or ``W``).
    rng
        Source of all randomness.
    runs
        Number of simulated cohorts; run 0 is "the" run reported for the seed.
    existing
        When given, simulate ``n_customers`` customers sampled from these histories instead
        of new ones.
    """
    if n_customers < 1 or runs < 1:
        raise BayescopeInputError("customers and runs must be positive", field="customers")
    days = np.array([parse_horizon(h) for h in horizons])
    periods = days / TIME_UNITS[time_unit]
    pick = rng.integers(0, n_draws(posterior), size=runs)
    one_draw_per_run = {k: np.asarray(posterior[k], float)[pick] for k in ("r", "alpha", "a", "b")}
    cohort = CohortAlive(model, n_customers, periods, existing)
    totals = predictive_totals(cohort, one_draw_per_run, rng)
    alive = np.column_stack([totals[f"alive_{j}"] for j in range(len(horizons))])
    made = np.column_stack([totals[f"purchases_{j}"] for j in range(len(horizons))])
    return AliveSimulation(list(horizons), periods, alive, made)
