"""Weighted BG/NBD and MBG/NBD log-likelihoods on sufficient statistics (PyTensor).

Written by hand because it is measurably faster than summing pymc-marketing's
``BetaGeoNBD`` / ``ModifiedBetaGeoNBD`` logp over the unique (x, t_x, T) triples: the
log-gamma terms depend on a customer only through x, so they are evaluated once per distinct
x (a few dozen values) instead of once per triple (thousands), and their digamma gradients
with them. On 1M customers (14,681 triples) a gradient costs ~5x less. A test checks that the
two agree to 1e-8 (relative) on CDNOW.

BG/NBD, Fader, Hardie & Lee (2005) eq. (6) with the stable form of Hardie's note 027::

    LL = D1(x) + r log(alpha) - (r + x) log(alpha + T) + d(x>0) softplus(z)
    D1(x) = lgamma(r+x) - lgamma(r) + lgamma(a+b) + lgamma(b+x) - lgamma(b) - lgamma(a+b+x)
    z = log(a) - log(b + x - 1) + (r + x) [log(alpha + T) - log(alpha + t_x)]

MBG/NBD, Batislam et al. (2007)::

    LL = D1'(x) + r log(alpha) - (r + x) log(alpha + T) + softplus(z')
    D1'(x) = lgamma(r+x) - lgamma(r) + lgamma(a+b) + lgamma(b+x+1) - lgamma(b) - lgamma(a+b+x+1)
    z' = log(a) - log(b + x) + (r + x) [log(alpha + T) - log(alpha + t_x)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor import TensorVariable


@dataclass(frozen=True)
class TripleStatistics:
    """Weighted unique triples, indexed into small grids of their distinct values (NumPy).

    ``x_index`` points into ``unique_x``; ``recency_index`` and ``T_index`` point into
    ``time_grid``. Evaluating logs on the grids and gathering them is cheaper than one log per
    triple: a million customers have ~15,000 triples but under 100 distinct times.
    """

    weight: np.ndarray
    x_index: np.ndarray
    recency_index: np.ndarray
    T_index: np.ndarray
    unique_x: np.ndarray
    weight_by_x: np.ndarray
    time_grid: np.ndarray

    @classmethod
    def from_triples(cls, triples: np.ndarray, counts: np.ndarray) -> TripleStatistics:
        """Aggregate ``(x, t_x, T)`` rows with their customer counts."""
        unique_x, x_index = np.unique(triples[:, 0], return_inverse=True)
        x_index = x_index.reshape(-1)
        time_grid, time_index = np.unique(triples[:, 1:3], return_inverse=True)
        time_index = time_index.reshape(-1, 2)
        weight_by_x = np.bincount(x_index, weights=counts, minlength=unique_x.size)
        return cls(counts, x_index, time_index[:, 0], time_index[:, 1], unique_x, weight_by_x,
                   time_grid)


def register_statistics(stats: TripleStatistics) -> dict[str, TensorVariable]:
    """Put the statistics in the current model as ``pm.Data`` (data-independent graph)."""
    return {
        "w": pm.Data("triple_count", stats.weight),
        "x_index": pm.Data("triple_x_index", stats.x_index.astype(np.int64)),
        "tx_index": pm.Data("triple_recency_index", stats.recency_index.astype(np.int64)),
        "T_index": pm.Data("triple_T_index", stats.T_index.astype(np.int64)),
        "ux": pm.Data("unique_frequency", stats.unique_x),
        "wx": pm.Data("unique_frequency_count", stats.weight_by_x),
        "times": pm.Data("time_grid", stats.time_grid),
    }


def purchase_loglik(
    data: dict[str, TensorVariable], r: TensorVariable, alpha: TensorVariable,
    a: TensorVariable, b: TensorVariable, drops_at_time_zero: bool,
) -> TensorVariable:
    """Total weighted log-likelihood of BG/NBD (``False``) or MBG/NBD (``True``)."""
    w, ux, wx, times = (data[k] for k in ("w", "ux", "wx", "times"))
    x_index, tx_index, T_index = (data[k] for k in ("x_index", "tx_index", "T_index"))
    shift = 1.0 if drops_at_time_zero else 0.0
    per_x = (pt.gammaln(r + ux) - pt.gammaln(r) + pt.gammaln(a + b) + pt.gammaln(b + ux + shift)
             - pt.gammaln(b) - pt.gammaln(a + b + ux + shift))
    # BG/NBD rows with x = 0 are switched off below; keep their log finite anyway, or the
    # switch's gradient would carry NaN * 0 = NaN.
    ux_in_log = ux if drops_at_time_zero else pt.maximum(ux, 1.0)
    log_odds_by_x = pt.log(a) - pt.log(b + ux_in_log - 1.0 + shift)
    log_alpha_time = pt.log(alpha + times)
    x = ux[x_index]
    log_alpha_T = log_alpha_time[T_index]
    z = log_odds_by_x[x_index] + (r + x) * (log_alpha_T - log_alpha_time[tx_index])
    dropout_term = pt.softplus(z)
    if not drops_at_time_zero:  # BG/NBD: a customer without repeat purchases cannot be gone
        dropout_term = pt.switch(x > 0, dropout_term, 0.0)
    per_triple = -(r + x) * log_alpha_T + dropout_term
    return pt.sum(wx * per_x) + pt.sum(wx) * r * pt.log(alpha) + pt.sum(w * per_triple)
