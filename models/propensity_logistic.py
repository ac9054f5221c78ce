"""Bayesian logistic regression for 30-day purchase propensity, with a fast exact-Laplace fit.

``y_i ~ Bernoulli(logistic(b0 + x_i . b))`` on the design of
:mod:`bayescope.data.propensity_features`. Priors: ``b0 ~ Normal(logit(base rate), 2)``;
standardised numeric effects ``b_j ~ Normal(0, 1)`` (per training sd); categorical level
effects ``Normal(0, 0.5)`` around the intercept, i.e. partially pooled toward the overall
rate with a fixed pooling scale (five to eight levels per demographic give no usable estimate
of a between-level sd, the same reasoning as the spend model's campaigns).

The posterior is approximated by Laplace's method: the mode by Newton-Raphson (the
log-posterior of a logistic GLM with Gaussian priors is strictly concave, so Newton converges
in a few steps) and the covariance by the inverse Hessian ``(X' W X + Lambda)^-1``
(Bishop 2006, sec. 4.5). With 240,000 customers and ~100 coefficients the posterior is
extremely close to Gaussian, and the fit costs a few matrix products (seconds) where NUTS
took 286 s; a test checks it against NUTS (PyMC + nutpie) on a subsample: posterior means
within 0.1 posterior sd and sds within 10%.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
from scipy import linalg

NUMERIC_PRIOR_SD = 1.0
LEVEL_PRIOR_SD = 0.5
INTERCEPT_PRIOR_SD = 2.0


@dataclass
class LaplacePosterior:
    """Gaussian posterior of (intercept, coefficients): mean and Cholesky of the covariance."""

    mean: np.ndarray
    chol: np.ndarray
    iterations: int

    @property
    def sd(self) -> np.ndarray:
        """Marginal posterior sds."""
        return np.sqrt(np.sum(self.chol**2, axis=1))

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` posterior draws, (n, parameters)."""
        return self.mean + rng.standard_normal((n, self.mean.size)) @ self.chol.T


def prior_sd(n_numeric: int, n_columns: int) -> np.ndarray:
    """Prior sds of (intercept, numeric effects, level effects)."""
    return np.concatenate([[INTERCEPT_PRIOR_SD], np.full(n_numeric, NUMERIC_PRIOR_SD),
                           np.full(n_columns - n_numeric, LEVEL_PRIOR_SD)])


def prior_mean(base_rate: float, n_columns: int) -> np.ndarray:
    """Prior means: the logit of the base rate for the intercept, 0 for the rest."""
    rate = float(np.clip(base_rate, 1e-4, 1 - 1e-4))
    return np.concatenate([[np.log(rate / (1 - rate))], np.zeros(n_columns)])


def fit_laplace(x: np.ndarray, y: np.ndarray, mean0: np.ndarray, sd0: np.ndarray,
                tol: float = 1e-8, max_iter: int = 50) -> LaplacePosterior:
    """Posterior mode by Newton-Raphson and the Laplace covariance at it."""
    design = np.column_stack([np.ones(len(y)), x])
    precision = 1.0 / sd0**2
    beta = mean0.copy()
    iterations = 0
    for _ in range(max_iter):
        iterations += 1
        eta = design @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        gradient = design.T @ (y - p) - precision * (beta - mean0)
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(precision)
        chol = linalg.cholesky(hessian, lower=True)
        step = linalg.cho_solve((chol, True), gradient)
        beta = beta + step
        if float(np.max(np.abs(step))) < tol:
            break
    p = 1.0 / (1.0 + np.exp(-(design @ beta)))
    hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(precision)
    # Covariance = H^-1; its Cholesky factor for sampling: L with L L' = H^-1.
    covariance = linalg.cho_solve((linalg.cholesky(hessian, lower=True), True),
                                  np.eye(beta.size))
    return LaplacePosterior(beta, linalg.cholesky(covariance, lower=True), iterations)


def build_pymc(x: np.ndarray, y: np.ndarray, mean0: np.ndarray, sd0: np.ndarray) -> pm.Model:
    """The same model in PyMC, for NUTS (the reference the Laplace fit is checked against)."""
    with pm.Model() as model:
        beta = pm.Normal("beta", mu=mean0, sigma=sd0, shape=mean0.size)
        design = np.column_stack([np.ones(len(y)), x])
        pm.Bernoulli("purchase", logit_p=pm.math.dot(design, beta), observed=y)
    return model
