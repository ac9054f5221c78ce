"""Per-customer purchase probabilities from a Gaussian (Laplace) posterior, chunked.

For customer i the linear predictor under the posterior is ``eta_i ~ Normal(m_i, s_i^2)``
with ``m_i = x_i . mu`` and ``s_i^2 = x_i Sigma x_i'``. Two ways to summarise
``p_i = logistic(eta_i)``:

* ``exact`` (default): the 5% / 95% quantiles are ``logistic(m_i -+ 1.645 s_i)`` (the logistic
  is monotone) and the mean is a 20-node Gauss-Hermite integral: the summaries infinitely many
  draws would give, at the cost of one ``(rows x p) (p x p)`` product;
* ``draws``: ``n_draws`` posterior draws, the classic route, for posteriors stored as draws.
  Quantiles are read from one partition of the linear predictor (monotone, so no logistic
  of the whole draws x customers array is needed for them).

Both work in row chunks, so memory is bounded whatever the file size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit, roots_hermitenorm

Z95 = 1.6448536269514722
HERMITE_NODES, HERMITE_WEIGHTS = roots_hermitenorm(20)
HERMITE_WEIGHTS = HERMITE_WEIGHTS / HERMITE_WEIGHTS.sum()


def score_exact(x: np.ndarray, mean: np.ndarray, chol: np.ndarray, chunk_rows: int = 50_000,
                progress: Callable[[int, int], None] | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``p_mean, p_low, p_high`` per row from the Gaussian posterior (intercept first)."""
    n = x.shape[0]
    p_mean, p_low, p_high = np.empty(n), np.empty(n), np.empty(n)
    for start in range(0, n, chunk_rows):
        part = slice(start, min(start + chunk_rows, n))
        design = np.column_stack([np.ones(part.stop - part.start), x[part]])
        m = design @ mean
        s = np.sqrt(np.sum((design @ chol) ** 2, axis=1))
        p_mean[part] = expit(m[:, None] + s[:, None] * HERMITE_NODES) @ HERMITE_WEIGHTS
        p_low[part], p_high[part] = expit(m - Z95 * s), expit(m + Z95 * s)
        if progress is not None:
            progress(part.stop - part.start, n)
    return p_mean, p_low, p_high


def score_draws(x: np.ndarray, draws: np.ndarray, chunk_rows: int = 20_000,
                progress: Callable[[int, int], None] | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``p_mean, p_low, p_high`` per row from posterior draws (draws, 1 + p)."""
    n, s = x.shape[0], draws.shape[0]
    # Linear-interpolated 5% / 95% order statistics (numpy's default quantile rule).
    positions = np.array([0.05, 0.95]) * (s - 1)
    below = np.floor(positions).astype(int)
    kth = np.unique(np.concatenate([below, np.minimum(below + 1, s - 1)]))
    frac = positions - below
    weights = draws[:, 1:].T.astype(np.float32)
    intercept = draws[:, 0].astype(np.float32)
    p_mean, p_low, p_high = np.empty(n), np.empty(n), np.empty(n)
    for start in range(0, n, chunk_rows):
        part = slice(start, min(start + chunk_rows, n))
        eta = x[part].astype(np.float32) @ weights + intercept  # (rows, draws)
        p_mean[part] = expit(eta).mean(axis=1)
        ordered = np.partition(eta, kth, axis=1)
        q = [(1 - f) * ordered[:, b] + f * ordered[:, min(b + 1, s - 1)]
             for b, f in zip(below, frac, strict=True)]
        p_low[part], p_high[part] = expit(q[0]), expit(q[1])
        if progress is not None:
            progress(part.stop - part.start, n)
    return p_mean, p_low, p_high
