"""BG/NBD: beta-geometric / negative-binomial purchase model (Fader, Hardie & Lee 2005).

While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``;
after each *repeat* purchase they drop out with probability ``p ~ Beta(a, b)``. A customer
with no repeat purchase is therefore alive for sure. The closed forms live in
:class:`~bayescope.models.btyd_base.PurchaseModel`; pymc-marketing's
:class:`~pymc_marketing.clv.distributions.BetaGeoNBD` is the reference likelihood.
"""

from __future__ import annotations

from bayescope.models.btyd_base import PurchaseModel


class BetaGeoModel(PurchaseModel):
    """BG/NBD purchase model (dropout only after repeat purchases)."""

    name = "bgnbd"
    description = "BG/NBD (Fader, Hardie & Lee 2005)"
    reference_distribution = "BetaGeoNBD"
    drops_at_time_zero = False
