"""The BTYD model: a purchase process (BG/NBD or MBG/NBD) plus, with spend, Gamma-Gamma.

Fader, Hardie & Lee (2005) assume the value per purchase is independent of the purchase
process, so the joint posterior factorises; both parts are still put in one PyMC model so one
NUTS run (one compile, one convergence gate, one artifact) covers every parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import pymc as pm

from bayescope.data.rfm import RFMSummary
from bayescope.errors import BayescopeInputError
from bayescope.models.bgnbd import BetaGeoModel
from bayescope.models.btyd_base import PurchaseModel
from bayescope.models.gamma_gamma import GammaGammaModel
from bayescope.models.mbgnbd import ModifiedBetaGeoModel

PURCHASE_MODELS: dict[str, type[PurchaseModel]] = {
    BetaGeoModel.name: BetaGeoModel,
    ModifiedBetaGeoModel.name: ModifiedBetaGeoModel,
}


def purchase_model(name: str) -> PurchaseModel:
    """The purchase model called ``name`` (``bgnbd`` or ``mbgnbd``)."""
    try:
        return PURCHASE_MODELS[name]()
    except KeyError:
        raise BayescopeInputError(
            f"unknown model {name!r}; choose one of {sorted(PURCHASE_MODELS)}", field="model"
        ) from None


@dataclass
class BTYDModel:
    """Specification of a BTYD fit: which purchase model, with or without Gamma-Gamma."""

    purchase: PurchaseModel
    spend: GammaGammaModel | None = None

    @property
    def name(self) -> str:
        """Model name as stored in artifacts (``mbgnbd``, ``bgnbd+gamma_gamma``, ...)."""
        return self.purchase.name + ("+gamma_gamma" if self.spend else "")

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Population parameters reported in summaries, purchase first."""
        return self.purchase.parameter_names + (self.spend.parameter_names if self.spend else ())

    @property
    def cache_key(self) -> str:
        """Structural key: equal keys give PyMC graphs that differ only in their data."""
        spend_priors = sorted(self.spend.priors.items()) if self.spend else None
        return f"{self.name}|{sorted(self.purchase.priors.items())}|{spend_priors}"

    def build(self, rfm: RFMSummary) -> pm.Model:
        """One PyMC model with every part of the specification."""
        with pm.Model() as model:
            self.purchase.add_to_model(rfm)
            if self.spend is not None:
                self.spend.add_to_model(rfm)
        return model

    @classmethod
    def from_name(cls, name: str) -> BTYDModel:
        """Rebuild a specification from :attr:`name` (used when loading artifacts)."""
        purchase_name, _, spend_name = name.partition("+")
        spend = GammaGammaModel() if spend_name == GammaGammaModel.name else None
        return cls(purchase_model(purchase_name), spend)
