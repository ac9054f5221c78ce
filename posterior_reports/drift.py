"""Population drift between a reference month and a new one: the population stability index.

For a variable binned into ``B`` bins with reference shares ``e_b`` and new shares ``a_b``,

    PSI = sum_b (a_b - e_b) * ln(a_b / e_b)                                   (Siddiqi 2006)

(the symmetrised Kullback-Leibler divergence of the binned distributions). Shares are floored
at ``SHARE_FLOOR`` so an empty bin does not give an infinite index. The usual reading, kept
here: below 0.1 stable, 0.1 to 0.25 a moderate shift worth a look, above 0.25 a major shift
(refit, and check the pipeline that made the data).

Numeric variables are binned at the reference's deciles (ties merged) with missing values in
a bin of their own; categorical variables by level, missing and unseen levels included. A
profile of the reference (:func:`profile_numeric`, :func:`profile_categorical`) is small and
JSON-ready, so a fitted run stores it and the next month is compared against it without the
old data.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

SHARE_FLOOR = 1e-4
MODERATE, MAJOR = 0.1, 0.25
MISSING, UNSEEN = "(missing)", "(unseen)"


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, float), SHARE_FLOOR)
    a = np.maximum(np.asarray(actual, float), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def verdict(value: float) -> str:
    """``stable``, ``moderate`` or ``major`` by the conventional thresholds."""
    return "stable" if value < MODERATE else "moderate" if value < MAJOR else "major"


def decile_edges(values: np.ndarray, bins: int = 10) -> list[float]:
    """Inner bin edges at the quantiles of the observed values (duplicates merged)."""
    observed = values[~np.isnan(values)]
    if observed.size == 0:
        return []
    return np.unique(np.quantile(observed, np.linspace(0, 1, bins + 1)[1:-1])).tolist()


def numeric_shares(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Shares of ``values`` in the bins ``(-inf, e1], (e1, e2], ..., (ek, inf)``, then missing."""
    values = np.asarray(values, float)
    missing = np.isnan(values)
    index = np.searchsorted(np.asarray(edges, float), values[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(float)
    return np.append(counts, missing.sum()) / max(values.size, 1)


def profile_numeric(values: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """The reference bins of a numeric variable and its shares in them."""
    edges = decile_edges(np.asarray(values, float), bins)
    return {"kind": "numeric", "edges": edges,
            "shares": numeric_shares(values, edges).tolist()}


def categorical_shares(values: np.ndarray, levels: Sequence[str]) -> np.ndarray:
    """Shares of each reference level, then missing, then levels the reference never had."""
    labels = np.asarray([MISSING if v is None else str(v) for v in values], dtype=object)
    counts = [np.count_nonzero(labels == level) for level in levels]
    missing = np.count_nonzero(labels == MISSING)
    unseen = labels.size - sum(counts) - missing
    return np.asarray([*counts, missing, unseen], float) / max(labels.size, 1)


def profile_categorical(values: np.ndarray) -> dict[str, Any]:
    """The reference levels of a categorical variable and its shares."""
    levels = sorted({str(v) for v in values if v is not None})
    return {"kind": "categorical", "levels": levels,
            "shares": categorical_shares(values, levels).tolist()}


def bin_labels(profile: dict[str, Any]) -> list[str]:
    """Readable names of a profile's bins, in order."""
    if profile["kind"] == "categorical":
        return [*profile["levels"], MISSING, UNSEEN]
    edges = [f"{e:.3g}" for e in profile["edges"]]
    if not edges:
        return ["all", MISSING]
    return ([f"<= {edges[0]}"] + [f"({a}, {b}]" for a, b in itertools.pairwise(edges)]
            + [f"> {edges[-1]}", MISSING])


def compare(profile: dict[str, Any], values: np.ndarray) -> dict[str, Any]:
    """PSI of ``values`` against a stored profile, with both share vectors."""
    if profile["kind"] == "categorical":
        actual = categorical_shares(values, profile["levels"])
    else:
        actual = numeric_shares(values, profile["edges"])
    value = psi(np.asarray(profile["shares"]), actual)
    return {"psi": value, "verdict": verdict(value), "bins": bin_labels(profile),
            "reference_shares": list(profile["shares"]), "new_shares": actual.tolist()}
