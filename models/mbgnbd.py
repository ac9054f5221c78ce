"""MBG/NBD: modified BG/NBD (Batislam, Denizel & Filiztekin 2007; Wagner & Hoppe 2008).

As BG/NBD, but a customer may also drop out right after the first purchase (time zero), so a
customer with no repeat purchase is *not* certainly alive. This is the model the Klaviyo brief
asks for. The closed forms live in :class:`~bayescope.models.btyd_base.PurchaseModel`;
pymc-marketing's :class:`~pymc_marketing.clv.distributions.ModifiedBetaGeoNBD` is the
reference likelihood.
"""

from __future__ import annotations

from bayescope.models.btyd_base import PurchaseModel


class ModifiedBetaGeoModel(PurchaseModel):
    """MBG/NBD purchase model (dropout after every purchase, the first included)."""

    name = "mbgnbd"
    description = "MBG/NBD (Batislam et al. 2007)"
    reference_distribution = "ModifiedBetaGeoNBD"
    drops_at_time_zero = True
