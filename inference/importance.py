"""The Laplace approximation corrected by Pareto-smoothed importance sampling (PSIS).

Draws ``theta_s`` from a proposal ``q`` centred on the posterior mode with the Laplace
covariance (:mod:`bayescope.inference.laplace`), weights them by ``p(theta_s | y) / q(theta_s)``
and smooths the largest weights with a generalised Pareto fit (Vehtari, Simpson, Gelman, Yao &
Gabry 2024, "Pareto smoothed importance sampling", JMLR 25(72); arviz-stats' ``psislw``). The
fitted shape ``k`` says whether the correction can be trusted: below
``min(1 - 1 / log10(S), 0.7)`` the self-normalised estimates converge at the usual rate (their
section 3), above it the proposal misses the posterior's tails and the caller falls back to
NUTS. Draws are then resampled by their smoothed weights (systematic resampling), so what is
stored is an unweighted posterior sample like any other.

With many customers and few parameters (BTYD) the posterior is close to Gaussian in the
unconstrained coordinates, ``k`` is small and the correction costs one log density per draw:
no gradient, no warmup.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from arviz_stats.base import array_stats

from bayescope.inference.laplace import LaplaceFit

PARETO_K_CEILING = 0.7
PROPOSAL_DOF = 8.0
"""Degrees of freedom of the multivariate Student-t proposal: tails heavier than the Gaussian
the Laplace approximation implies, so that a posterior skewed or heavier-tailed than it (few
customers, a parameter near a boundary) still has its tails covered."""


def pareto_k_threshold(n_draws: int) -> float:
    """The largest ``k`` at which PSIS with ``n_draws`` draws is reliable (Vehtari et al.
    2024, eq. 13): ``min(1 - 1 / log10(S), 0.7)``."""
    return float(min(1.0 - 1.0 / np.log10(max(n_draws, 11)), PARETO_K_CEILING))


@dataclass(frozen=True)
class ImportanceDiagnostics:
    """How far the proposal was from the posterior."""

    pareto_k: float
    ess: float
    proposals: int
    threshold: float

    @property
    def reliable(self) -> bool:
        """Whether ``k`` is below the threshold for this many draws."""
        return bool(self.pareto_k <= self.threshold)

    def to_dict(self) -> dict[str, float]:
        """JSON-ready dictionary."""
        return {k: float(v) for k, v in asdict(self).items()}


def student_t_proposal(laplace: LaplaceFit, n: int, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws from a multivariate t (``PROPOSAL_DOF``) with the Laplace centre and
    covariance, and their log densities up to a constant (which self-normalisation cancels):
    ``-(nu + d) / 2 log(1 + delta^2 / nu)``, ``delta`` the Mahalanobis distance."""
    d = laplace.mode.size
    chol = np.linalg.cholesky(laplace.covariance)
    z = rng.standard_normal((n, d))
    scale = np.sqrt(rng.chisquare(PROPOSAL_DOF, n) / PROPOSAL_DOF)
    draws = laplace.mode + (z @ chol.T) / scale[:, None]
    mahalanobis = np.sum((z / scale[:, None]) ** 2, axis=1)
    log_q = -(PROPOSAL_DOF + d) / 2.0 * np.log1p(mahalanobis / PROPOSAL_DOF)
    return draws, log_q


def psis_resample(log_p: np.ndarray, log_q: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, ImportanceDiagnostics]:
    """Indices of as many posterior draws as there are proposals, resampled by their
    Pareto-smoothed importance weights, and how reliable the weights are.

    Parameters
    ----------
    log_p
        Unnormalised log posterior density of each proposal (Jacobian included).
    log_q
        Log proposal density of each, up to a constant.
    rng
        NumPy Generator (the systematic resampling's one uniform).
    """
    n = log_p.size
    log_ratio = np.where(np.isfinite(log_p), log_p - log_q, -np.inf)
    log_ratio = log_ratio - np.max(log_ratio)
    # arviz-stats' psislw takes what PSIS-LOO passes it, the log-likelihood, and smooths its
    # negation: the log ratios go in negated.
    log_weights, k_hat = array_stats.psislw(-log_ratio)
    weights = np.exp(np.asarray(log_weights, float) - np.max(log_weights))
    weights /= weights.sum()
    diagnostics = ImportanceDiagnostics(
        pareto_k=float(k_hat), ess=float(1.0 / np.sum(weights**2)), proposals=n,
        threshold=pareto_k_threshold(n))
    positions = (rng.uniform() + np.arange(n)) / n
    chosen = np.minimum(np.searchsorted(np.cumsum(weights), positions), n - 1)
    return chosen, diagnostics
