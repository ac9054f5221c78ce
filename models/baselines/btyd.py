"""Classical rivals of the BTYD models: lifetimes' maximum likelihood of the same model and
of the competing family (the classical anchors), and an RFM rule that carries each
customer's calibration repeat rate forward as a Poisson rate."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bayescope.data.rfm import RFMSummary
from bayescope.models.btyd import purchase_model
from bayescope.models.btyd_base import PurchaseModel

log = logging.getLogger(__name__)

OTHER_FAMILY = {"bgnbd": "mbgnbd", "mbgnbd": "bgnbd"}
Params = Mapping[str, np.ndarray]


def other_family_mle(rfm: RFMSummary, model: str
                     ) -> tuple[PurchaseModel, dict[str, float]] | None:
    """The competing BTYD family and its lifetimes MLE (BG/NBD for MBG/NBD and back)."""
    other = OTHER_FAMILY[model]
    params = lifetimes_mle(rfm, other)
    return None if params is None else (purchase_model(other), params)


def lifetimes_mle(rfm: RFMSummary, model: str) -> dict[str, float] | None:
    """lifetimes' MLE of the purchase model on the same summary (the classical anchor)."""
    from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter

    fitter = BetaGeoFitter() if model == "bgnbd" else ModifiedBetaGeoFitter()
    try:
        fitter.fit(np.asarray(rfm.frequency), np.asarray(rfm.recency), np.asarray(rfm.T))
    except Exception as exc:  # lifetimes raises bare ConvergenceError/ValueError subclasses
        log.warning("lifetimes MLE failed (%s): holdout comparison without it", exc)
        return None
    return {k: float(v) for k, v in fitter.params_.items()}


@dataclass
class PoissonRateCounts:
    """The RFM rule as a predictive: Poisson counts at each customer's calibration rate."""

    rate: np.ndarray

    @property
    def n_units(self) -> int:
        """Number of customers."""
        return int(self.rate.size)

    @property
    def outcomes(self) -> tuple[str, ...]:
        """One outcome: the purchase count in the horizon."""
        return ("purchases",)

    def simulate(self, params: Params, index: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Poisson counts, (draws, customers); ``params`` only sets the number of draws."""
        draws = np.asarray(next(iter(params.values()))).shape[0]
        return {"purchases": rng.poisson(self.rate[index], size=(draws, index.size))}

    def log_prob(self, params: Params, index: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
        """Exact Poisson log-probability of ``y`` (one row: the rule has no uncertainty)."""
        with np.errstate(divide="ignore"):
            return np.asarray(stats.poisson.logpmf(y, self.rate[index]), float)[None, :]
