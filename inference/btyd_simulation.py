"""BTYD posterior-predictive simulators (the :class:`~.predictive.PredictiveSimulator` kind).

The BG/NBD / MBG/NBD process for one customer (Fader, Hardie & Lee 2005): purchases arrive as
a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after each purchase the customer
drops out with probability ``p ~ Beta(a, b)`` (MBG/NBD: also right after the first purchase,
at time zero). The number of purchases made before dropping out is therefore geometric, and
the count in a window is the Poisson count capped at it. Three simulators use this:

* :class:`CalibrationCounts`: repeat purchases of *new* customers over their own observation
  length T (prior and posterior predictive checks of the calibration data);
* :class:`HoldoutCounts`: purchases of *existing* customers in (T, T + horizon] given their
  history: alive with P(alive | x, t_x, T), ``lambda ~ Gamma(r + x, alpha + T)`` and ``p``
  from the posterior Beta of a customer still alive;
* :class:`CohortAlive`: alive indicators and cumulative purchases of a cohort at several
  horizons, consistent across horizons within a draw (Klaviyo question 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from bayescope.data.rfm import RFMSummary
from bayescope.models.btyd_base import PurchaseModel

Params = Mapping[str, np.ndarray]


def _column(params: Params, name: str) -> np.ndarray:
    return np.asarray(params[name], float)[:, None]


def purchases_before_dropout(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Geometric number of purchases up to and including the one after which a customer leaves."""
    return rng.geometric(np.clip(p, 1e-12, 1.0))


@dataclass
class CalibrationCounts:
    """Repeat purchases in (0, T_i] of new customers with the given observation lengths."""

    model: PurchaseModel
    T: np.ndarray

    @property
    def n_units(self) -> int:
        """Number of customers."""
        return int(self.T.size)

    @property
    def outcomes(self) -> tuple[str, ...]:
        """One outcome: the repeat purchase count."""
        return ("frequency",)

    def simulate(self, params: Params, index: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Repeat purchase counts, (draws, customers)."""
        r, alpha, a, b = (_column(params, k) for k in ("r", "alpha", "a", "b"))
        shape = (r.shape[0], index.size)
        lam = rng.gamma(np.broadcast_to(r, shape), 1.0 / alpha)
        p = rng.beta(np.broadcast_to(a, shape), np.broadcast_to(b, shape))
        counts = np.minimum(rng.poisson(lam * self.T[index][None, :]),
                            purchases_before_dropout(p, rng))
        if self.model.drops_at_time_zero:
            counts = np.where(rng.random(shape) < p, 0, counts)
        return {"frequency": counts}


@dataclass
class HoldoutCounts:
    """Purchases in the ``horizon`` after the calibration end, given each customer's history."""

    model: PurchaseModel
    rfm: RFMSummary
    horizon: float

    @property
    def n_units(self) -> int:
        """Number of customers."""
        return self.rfm.n_customers

    @property
    def outcomes(self) -> tuple[str, ...]:
        """One outcome: the purchase count in the horizon."""
        return ("purchases",)

    def simulate(self, params: Params, index: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Future purchase counts, (draws, customers)."""
        x, tx, T = self.rfm.frequency[index], self.rfm.recency[index], self.rfm.T[index]
        r, alpha = _column(params, "r"), _column(params, "alpha")
        alive = rng.random((r.shape[0], x.size)) < self.model.p_alive(params, x, tx, T)
        lam = rng.gamma(r + x, 1.0 / (alpha + T))
        beta_a, beta_b = self.model.alive_dropout_beta(params, x)
        p = rng.beta(np.broadcast_to(beta_a, lam.shape), np.broadcast_to(beta_b, lam.shape))
        count = np.minimum(rng.poisson(lam * self.horizon), purchases_before_dropout(p, rng))
        return {"purchases": np.where(alive, count, 0)}

    def log_prob(self, params: Params, index: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
        """log P(Y = y) per draw, (draws, customers): the model's exact conditional PMF
        (:meth:`~bayescope.models.btyd_base.PurchaseModel.pmf`; ``rng`` is unused)."""
        x, tx, T = self.rfm.frequency[index], self.rfm.recency[index], self.rfm.T[index]
        with np.errstate(divide="ignore"):
            return np.log(self.model.pmf(params, x, tx, T, self.horizon,
                                         np.asarray(y, float)))


@dataclass
class CohortAlive:
    """Alive indicator and cumulative purchases of a cohort at each horizon (in periods).

    With ``existing``, each of the ``n_customers`` slots is a customer drawn at random from
    those histories and horizons count from the calibration end; otherwise slots are new
    customers and horizons count from acquisition.
    """

    model: PurchaseModel
    n_customers: int
    horizon_periods: np.ndarray
    existing: RFMSummary | None = None

    @property
    def n_units(self) -> int:
        """Cohort size."""
        return self.n_customers

    @property
    def outcomes(self) -> tuple[str, ...]:
        """``alive_{j}`` and ``purchases_{j}`` for each horizon index j."""
        return tuple(f"{kind}_{j}" for j in range(self.horizon_periods.size)
                     for kind in ("alive", "purchases"))

    def simulate(self, params: Params, index: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Alive (0/1) and purchases made by each horizon, (draws, customers) per horizon."""
        r, alpha, a, b = (_column(params, k) for k in ("r", "alpha", "a", "b"))
        shape = (r.shape[0], index.size)
        if self.existing is None:
            lam = rng.gamma(np.broadcast_to(r, shape), 1.0 / alpha)
            p = rng.beta(np.broadcast_to(a, shape), np.broadcast_to(b, shape))
            alive_now = ((rng.random(shape) >= p) if self.model.drops_at_time_zero
                         else np.ones(shape, bool))
        else:
            who = rng.integers(0, self.existing.n_customers, size=shape)
            x = self.existing.frequency[who]
            tx, T = self.existing.recency[who], self.existing.T[who]
            alive_now = rng.random(shape) < self.model.p_alive(
                {"r": r, "alpha": alpha, "a": a, "b": b}, x, tx, T)
            lam = rng.gamma(r + x, 1.0 / (alpha + T))
            beta_a, beta_b = (np.broadcast_to(v, shape) for v in
                              self.model.alive_dropout_beta({"a": a, "b": b}, x))
            p = rng.beta(beta_a, beta_b)
        to_dropout = purchases_before_dropout(p, rng)
        counts = np.zeros(shape)
        out: dict[str, np.ndarray] = {}
        previous = 0.0
        for j in np.argsort(self.horizon_periods):
            counts += rng.poisson(lam * (self.horizon_periods[j] - previous))
            previous = float(self.horizon_periods[j])
            out[f"alive_{j}"] = (alive_now & (counts < to_dropout)).astype(float)
            out[f"purchases_{j}"] = np.where(alive_now, np.minimum(counts, to_dropout), 0.0)
        return out
