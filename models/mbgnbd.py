"""MBG/NBD: modified BG/NBD (Batislam, Denizel & Filiztekin 2007; Wagner & Hoppe 2008).

As BG/NBD, but a customer may also drop out right after the first purchase (time zero), so a
customer with no repeat purchase is *not* certainly alive. This is the model the Klaviyo brief
asks for. The likelihood is pymc-marketing's
:class:`~pymc_marketing.clv.distributions.ModifiedBetaGeoNBD`.
"""

from __future__ import annotations

import numpy as np
from pymc_marketing.clv.distributions import ModifiedBetaGeoNBD as _ModifiedBetaGeoNBDDistribution

from bayescope.models.btyd_base import (
    Params,
    PurchaseModel,
    as_draws,
    hyp2f1_times_power,
    log_ratio_power,
)


class ModifiedBetaGeoModel(PurchaseModel):
    """MBG/NBD purchase model (dropout after every purchase, the first included)."""

    name = "mbgnbd"
    description = "MBG/NBD (Batislam et al. 2007)"
    distribution = _ModifiedBetaGeoNBDDistribution

    @property
    def drops_at_time_zero(self) -> bool:
        """MBG/NBD customers may drop out right after their first purchase."""
        return True

    def p_alive(self, params: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Batislam et al. (2007): ``1 / (1 + a / (b + x) ((alpha+T)/(alpha+tx))^(r+x))``."""
        r, alpha, a, b = as_draws(params, ("r", "alpha", "a", "b"))
        log_odds_dead = np.log(a) - np.log(b + x) + log_ratio_power(alpha, T, tx, r + x)
        return 1.0 / (1.0 + np.exp(log_odds_dead))

    def expected_purchases(
        self, params: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray, t: float
    ) -> np.ndarray:
        """Batislam et al. (2007) eq. (A.5): E[Y(t) | x, t_x, T]."""
        r, alpha, a, b = as_draws(params, ("r", "alpha", "a", "b"))
        z = t / (alpha + T + t)
        tail = hyp2f1_times_power(r + x, b + x + 1.0, a + b + x, z,
                                  (r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        numerator = (a + b + x) / (a - 1.0) * (1.0 - tail)
        return numerator * self.p_alive(params, x, tx, T)

    def expected_purchases_new(self, params: Params, t: float) -> np.ndarray:
        """Batislam et al. (2007), E[X(t)] for a new customer.

        ``E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))]``.
        """
        r, alpha, a, b = (np.asarray(params[n], float) for n in ("r", "alpha", "a", "b"))
        tail = hyp2f1_times_power(r, b + 1.0, a + b, t / (alpha + t),
                                  r * np.log(alpha / (alpha + t)))
        return b / (a - 1.0) * (1.0 - tail)

    def alive_dropout_beta(self, params: Params, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Alive after surviving x + 1 dropout chances: ``p ~ Beta(a, b + x + 1)``."""
        a, b = as_draws(params, ("a", "b"))
        return a + 0.0 * x, b + x + 1.0
