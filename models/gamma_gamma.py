"""Gamma-Gamma model of the value per purchase (Fader, Hardie & Lee 2005, "RFM and CLV").

Each purchase value of a customer is ``z ~ Gamma(p, nu)`` with a customer-specific rate
``nu ~ Gamma(q, v)``. Only repeat customers with a positive mean repeat value inform it. The
likelihood of a customer's mean value ``m`` over ``x`` purchases, with ``nu`` integrated out
(FHL 2005 note, eq. 1a; the same Potential as pymc-marketing's ``GammaGammaModel``):

``log L = lgamma(p x + q) - lgamma(p x) - lgamma(q) + q log v + (p x - 1) log m
          + p x log x - (p x + q) log(x m + v)``.

Priors: ``p, q - 1 ~ LogNormal(0, 3)`` (``q > 1``: the mean value per purchase exists) and
the mean rate of nu, ``q / v ~ LogNormal(0, 3)`` (scale-free, weak); sampling the mean rate
instead of ``v`` decorrelates the posterior.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayescope.data.rfm import RFMSummary
from bayescope.models.btyd_base import Params, as_draws

SPEND_PARAMETERS = ("p", "q", "v")


class GammaGammaModel:
    """Gamma-Gamma spend-per-purchase model.

    Parameters
    ----------
    priors
        Log-scale sds of the LogNormal priors of ``p``, ``q`` and ``v`` (default 3).
    """

    name = "gamma_gamma"
    parameter_names = SPEND_PARAMETERS

    def __init__(self, priors: Mapping[str, float] | None = None) -> None:
        self.priors = {"log_sigma": 3.0, **(priors or {})}

    @staticmethod
    def informative_customers(rfm: RFMSummary) -> np.ndarray:
        """Mask of customers that inform the model: a repeat purchase and a positive mean."""
        return (rfm.frequency > 0) & (rfm.monetary_value > 0)

    def add_to_model(self, rfm: RFMSummary) -> None:
        """Add priors and the Gamma-Gamma likelihood to the current PyMC model context."""
        mask = self.informative_customers(rfm)
        x = rfm.frequency[mask]
        m = rfm.monetary_value[mask]
        sigma = self.priors["log_sigma"]
        # q and v are strongly correlated (the data pin down the mean rate q / v of nu far
        # better than its shape q), so NUTS samples the mean rate and q; v is derived. Start
        # where the population mean value p v / (q - 1) equals the sample mean.
        # q > 1 so that the mean value per purchase, p v / (q - 1), exists (FHL 2005 note).
        p = pm.LogNormal("p", 0.0, sigma, initval=2.0)
        q_excess = pm.LogNormal("q_minus_one", 0.0, sigma, initval=2.0)
        q = pm.Deterministic("q", 1.0 + q_excess)
        nu_mean = pm.LogNormal("nu_mean", 0.0, sigma, initval=3.0 / float(np.mean(m)))
        v = pm.Deterministic("v", q / nu_mean)
        # Terms that depend only on the data are dropped; x-only terms are grouped by x.
        values, counts = np.unique(x, return_counts=True)
        xs = pm.Data("spend_unique_frequency", values.astype(float))
        weight = pm.Data("spend_unique_count", counts.astype(float))
        x_data = pm.Data("spend_frequency", x)
        m_data = pm.Data("spend_mean_value", m)
        px = p * xs
        by_x = (pt.gammaln(px + q) - pt.gammaln(px) + px * pt.log(xs)) * weight
        loglik = (
            by_x.sum()
            + weight.sum() * (q * pt.log(v) - pt.gammaln(q))
            + p * pt.sum(x_data * pt.log(m_data))
            - pt.sum((p * x_data + q) * pt.log(x_data * m_data + v))
        )
        pm.Potential("spend_loglik", loglik)

    def build(self, rfm: RFMSummary) -> pm.Model:
        """The PyMC model for ``rfm`` on its own."""
        with pm.Model() as model:
            self.add_to_model(rfm)
        return model

    def expected_value(self, params: Params, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """E[value per purchase | x, m] = p (v + x m) / (p x + q - 1), shape (draws, customers).

        For x = 0 this is the population mean ``p v / (q - 1)`` (FHL 2005 note, eq. 5).
        """
        p, q, v = as_draws(params, SPEND_PARAMETERS)
        m = np.where(x > 0, m, 0.0)
        return p * (v + x * m) / (p * x + q - 1.0)
