"""Model comparison on one holdout with paired bootstrap intervals on every metric difference.

All models are scored on the same units, so differences are paired: resampling units with
replacement and recomputing each model's aggregate on the same resample gives an interval for
the difference that accounts for the units every model finds hard (Efron & Tibshirani 1993,
ch. 16). A model is called better or worse than the reference only when the whole interval
lies on one side of zero; otherwise the table says the difference is within noise.

Pointwise inputs are per-unit scores named by metric. Aggregates are means, except
``squared_error``, reported as RMSE. When ``units x replicates`` would exceed
``MAX_BOOTSTRAP_CELLS`` the interval uses the normal approximation to the paired difference
(delta method for RMSE), which the bootstrap converges to at that size anyway.

Units that share a source of error are not independent: a backtest's artist-DMA-weeks of one
artist all move with that artist's forecast error, and resampling them one by one gives
intervals several times too narrow (the misspecification backtests of ``bench/README.md``:
3 to 5 times at 16 artists). Given ``clusters``, whole clusters are resampled instead (the
cluster bootstrap, Davison & Hinkley 1997, sec. 3.8): with ``S_g`` the score sum and ``n_g``
the unit count of cluster ``g`` and ``W`` the multinomial counts of a resample, the resampled
mean is ``sum_g W_g S_g / sum_g W_g n_g``.

Clusters drawn by a stratified design (a backtest's artists, a fixed number from each popularity
tier) are resampled within their strata, so that every resample keeps the design's count per
stratum (Davison & Hinkley 1997, ch. 3, on stratified data; of 16 clusters resampled together, a
stratum of two vanishes from 12% of the resamples, and a given cluster from 36%). With ``n_h``
clusters in stratum ``h``, each resample draws ``n_h - 1`` of them with replacement and weighs
each draw ``n_h / (n_h - 1)`` (the rescaling bootstrap of Rao & Wu 1988, JASA 83, 231-241, with
``m_h = n_h - 1``): its variance of a stratified mean is the textbook ``sum_h (n_h / n)^2 s_h^2
/ n_h`` without the ``(n_h - 1) / n_h`` shrinkage a plain within-stratum resample gives, which
halves the variance of a stratum of two. A stratum of one cluster has no variance to resample:
the caller must merge it (``compare_models`` refuses it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

LOWER_IS_BETTER = {
    "crps": True, "abs_error": True, "abs_error_median": True, "squared_error": True,
    "brier": True, "interval_score_90": True, "log_score": False,
}
AGGREGATE_NAME = {"abs_error": "mae", "abs_error_median": "mae_median",
                  "squared_error": "rmse"}
MAX_BOOTSTRAP_CELLS = 50_000_000
BLOCK_CELLS = 2_000_000


def aggregate(metric: str, values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean of the pointwise scores (square root of it for squared errors)."""
    mean = np.mean(values, axis=axis)
    return np.sqrt(mean) if metric == "squared_error" else mean


def compare_models(
    pointwise: Mapping[str, Mapping[str, np.ndarray]], reference: str,
    rng: np.random.Generator, n_boot: int = 2000, prob: float = 0.9,
    clusters: np.ndarray | None = None, strata: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One row per (metric, model): value, difference to ``reference`` and its interval.

    Parameters
    ----------
    pointwise
        ``{model: {metric: per-unit scores}}``; every model must have the reference's units.
    reference
        The model the others are compared with (usually ours).
    rng
        Source of the bootstrap resamples.
    n_boot
        Bootstrap replicates.
    prob
        Probability of the interval on each difference.
    clusters
        Optional cluster label per unit: whole clusters are resampled (module docstring),
        whatever the number of units.
    strata
        Optional stratum label per unit (constant within a cluster; needs ``clusters``):
        clusters are resampled within their strata, each of at least two clusters (module
        docstring).
    """
    ref = pointwise[reference]
    n = next(iter(ref.values())).size
    if n < 2:
        raise ValueError("a paired comparison needs at least 2 units")
    cluster_index = None
    if clusters is not None:
        if len(clusters) != n:
            raise ValueError(f"{len(clusters)} cluster labels for {n} units")
        cluster_index = pd.factorize(np.asarray(clusters))[0]
        if cluster_index.max() < 1:
            raise ValueError("a cluster bootstrap needs at least 2 clusters")
    cluster_stratum = None
    if strata is not None:
        if cluster_index is None:
            raise ValueError("strata resample clusters: give clusters too")
        cluster_stratum = stratum_of_clusters(cluster_index, np.asarray(strata))
    use_bootstrap = cluster_index is not None or n * n_boot <= MAX_BOOTSTRAP_CELLS
    method = ("stratified cluster bootstrap" if cluster_stratum is not None
              else "cluster bootstrap" if cluster_index is not None
              else "bootstrap" if use_bootstrap else "normal")
    rows = []
    for metric in ref:
        if metric not in LOWER_IS_BETTER:
            continue
        for model, scores in pointwise.items():
            if metric not in scores:
                continue
            a, b = np.asarray(scores[metric], float), np.asarray(ref[metric], float)
            if a.size != n:
                raise ValueError(f"model {model!r} scored {a.size} units, {reference!r} {n}")
            diff = float(aggregate(metric, a) - aggregate(metric, b))
            if model == reference:
                low = high = 0.0
            elif cluster_index is not None:
                boot = _cluster_bootstrap_differences(metric, a, b, cluster_index, rng, n_boot,
                                                      cluster_stratum)
                low, high = (float(v) for v in np.quantile(boot, [(1 - prob) / 2,
                                                                 (1 + prob) / 2]))
            elif use_bootstrap:
                boot = _bootstrap_differences(metric, a, b, rng, n_boot)
                low, high = (float(v) for v in np.quantile(boot, [(1 - prob) / 2,
                                                                 (1 + prob) / 2]))
            else:
                low, high = _normal_interval(metric, a, b, diff, prob)
            rows.append({
                "metric": AGGREGATE_NAME.get(metric, metric), "model": model,
                "value": float(aggregate(metric, a)), "difference": diff,
                "difference_low": low, "difference_high": high,
                "verdict": _verdict(metric, low, high) if model != reference else "reference",
                "method": method,
            })
    return rows


def _bootstrap_differences(metric: str, a: np.ndarray, b: np.ndarray,
                           rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Aggregate(a) - aggregate(b) on ``n_boot`` paired resamples, in bounded-memory blocks."""
    n = a.size
    block = max(1, BLOCK_CELLS // n)
    out = np.empty(n_boot)
    for start in range(0, n_boot, block):
        stop = min(start + block, n_boot)
        index = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = aggregate(metric, a[index]) - aggregate(metric, b[index])
    return out


def stratum_of_clusters(cluster_index: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Stratum code of each cluster; a cluster in two strata, or a stratum of one cluster,
    is refused."""
    if len(strata) != len(cluster_index):
        raise ValueError(f"{len(strata)} stratum labels for {len(cluster_index)} units")
    stratum_index = pd.factorize(strata)[0]
    pairs = pd.DataFrame({"cluster": cluster_index, "stratum": stratum_index}).drop_duplicates()
    if pairs["cluster"].duplicated().any():
        raise ValueError("a cluster's units lie in more than one stratum")
    per_stratum = pairs.groupby("stratum").size()
    if (per_stratum < 2).any():
        lone = [str(strata[stratum_index == h][0]) for h in per_stratum.index[per_stratum < 2]]
        raise ValueError(f"stratum {', '.join(lone)} has one cluster: merge it with another")
    return pairs.sort_values("cluster")["stratum"].to_numpy()


def resample_weights(cluster_stratum: np.ndarray | None, n_clusters: int,
                     rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """``(n_boot, n_clusters)`` weights of the clusters in each resample: multinomial counts,
    or within each stratum the rescaled counts of module docstring's Rao-Wu bootstrap."""
    if cluster_stratum is None:
        return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters),
                               size=n_boot).astype(float)
    weights = np.empty((n_boot, n_clusters))
    for h in np.unique(cluster_stratum):
        members = np.flatnonzero(cluster_stratum == h)
        size = members.size
        draws = rng.multinomial(size - 1, np.full(size, 1.0 / size), size=n_boot)
        weights[:, members] = draws * (size / (size - 1))
    return weights


def _cluster_bootstrap_differences(metric: str, a: np.ndarray, b: np.ndarray,
                                   cluster: np.ndarray, rng: np.random.Generator, n_boot: int,
                                   cluster_stratum: np.ndarray | None = None) -> np.ndarray:
    """Aggregate(a) - aggregate(b) on ``n_boot`` resamples of whole clusters."""
    n_clusters = int(cluster.max()) + 1
    counts = np.bincount(cluster, minlength=n_clusters).astype(float)
    sums_a = np.bincount(cluster, a, minlength=n_clusters)
    sums_b = np.bincount(cluster, b, minlength=n_clusters)
    weights = resample_weights(cluster_stratum, n_clusters, rng, n_boot)
    units = weights @ counts
    mean_a, mean_b = (weights @ sums_a) / units, (weights @ sums_b) / units
    if metric == "squared_error":
        return np.sqrt(mean_a) - np.sqrt(mean_b)
    return mean_a - mean_b


def _normal_interval(metric: str, a: np.ndarray, b: np.ndarray, diff: float, prob: float
                     ) -> tuple[float, float]:
    n = a.size
    if metric == "squared_error":
        ma, mb = a.mean(), b.mean()
        # Delta method for sqrt(mean a) - sqrt(mean b) on paired units (undefined at 0).
        with np.errstate(divide="ignore", invalid="ignore"):
            grad_terms = a / (2 * np.sqrt(ma)) - b / (2 * np.sqrt(mb))
        se = float(np.std(grad_terms, ddof=1) / np.sqrt(n))
    else:
        se = float(np.std(a - b, ddof=1) / np.sqrt(n))
    z = float(stats.norm.ppf((1 + prob) / 2))
    return diff - z * se, diff + z * se


def _verdict(metric: str, low: float, high: float) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "undetermined"
    if low <= 0.0 <= high:
        return "within noise"
    lower_better = LOWER_IS_BETTER[metric]
    better = high < 0.0 if lower_better else low > 0.0
    return "better" if better else "worse"
