"""BG/NBD: beta-geometric / negative-binomial purchase model (Fader, Hardie & Lee 2005).

While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``;
after each *repeat* purchase they drop out with probability ``p ~ Beta(a, b)``. A customer
with no repeat purchase is therefore alive for sure. The likelihood is pymc-marketing's
:class:`~pymc_marketing.clv.distributions.BetaGeoNBD`.
"""

from __future__ import annotations

import numpy as np
from pymc_marketing.clv.distributions import BetaGeoNBD as _BetaGeoNBDDistribution

from bayescope.models.btyd_base import (
    Params,
    PurchaseModel,
    as_draws,
    hyp2f1_times_power,
    log_ratio_power,
)


class BetaGeoModel(PurchaseModel):
    """BG/NBD purchase model (dropout only after repeat purchases)."""

    name = "bgnbd"
    description = "BG/NBD (Fader, Hardie & Lee 2005)"
    distribution = _BetaGeoNBDDistribution

    @property
    def drops_at_time_zero(self) -> bool:
        """BG/NBD customers cannot drop out before their first repeat purchase."""
        return False

    def p_alive(self, params: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """FHL (2005) eq. (14).

        ``P(alive) = 1 / (1 + d(x>0) a / (b + x - 1) ((alpha+T)/(alpha+tx))^(r+x))``.
        """
        r, alpha, a, b = as_draws(params, ("r", "alpha", "a", "b"))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds_dead = (np.log(a) - np.log(b + x - 1.0)
                             + log_ratio_power(alpha, T, tx, r + x))
        return np.where(x > 0, 1.0 / (1.0 + np.exp(log_odds_dead)), 1.0)

    def expected_purchases(
        self, params: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray, t: float
    ) -> np.ndarray:
        """FHL (2005) eq. (10), E[Y(t) | x, t_x, T], with a numerically safe 2F1."""
        r, alpha, a, b = as_draws(params, ("r", "alpha", "a", "b"))
        z = t / (alpha + T + t)
        tail = hyp2f1_times_power(r + x, b + x, a + b + x - 1.0, z,
                                  (r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        numerator = (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail)
        return numerator * self.p_alive(params, x, tx, T)

    def expected_purchases_new(self, params: Params, t: float) -> np.ndarray:
        """FHL (2005) eq. (9): E[X(t)] for a customer acquired at time 0."""
        r, alpha, a, b = (np.asarray(params[n], float) for n in ("r", "alpha", "a", "b"))
        tail = hyp2f1_times_power(r, b, a + b - 1.0, t / (alpha + t),
                                  r * np.log(alpha / (alpha + t)))
        return (a + b - 1.0) / (a - 1.0) * (1.0 - tail)

    def alive_dropout_beta(self, params: Params, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Alive after x repeat purchases, none of which ended it: ``p ~ Beta(a, b + x)``."""
        a, b = as_draws(params, ("a", "b"))
        return a + 0.0 * x, b + x
