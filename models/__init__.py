"""Model specifications and their NumPy predictive cores, one module per model family."""

from bayescope.models.bgnbd import BetaGeoModel
from bayescope.models.btyd import PURCHASE_MODELS, BTYDModel, purchase_model
from bayescope.models.btyd_base import PurchaseModel
from bayescope.models.gamma_gamma import GammaGammaModel
from bayescope.models.mbgnbd import ModifiedBetaGeoModel

__all__ = [
    "PURCHASE_MODELS",
    "BTYDModel",
    "BetaGeoModel",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "PurchaseModel",
    "purchase_model",
]
