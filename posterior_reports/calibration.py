"""Calibration of posterior-predictive distributions: PIT and central-interval coverage.

A predictive distribution is calibrated when the probability integral transform (PIT) of the
outcomes is uniform (Dawid 1984; Gneiting, Balabdaoui & Raftery 2007). From S draws the PIT of
an outcome is its randomised rank among the draws,

    PIT = (#{draws < y} + V (#{draws == y} + 1)) / (S + 1),   V ~ U(0, 1),

which is exactly uniform when ``y`` is exchangeable with the draws, for discrete outcomes too
(the randomisation spreads the point masses; Czado, Gneiting & Held 2009).

Uniformity is judged with the ECDF of the PIT minus the identity and a *simultaneous* band
(Säilynoja, Bürkner & Vehtari 2022), computed with arviz-stats' simulation method: a calibrated
model stays inside the band with the band's probability over the whole curve.

Coverage is reported twice: the share of outcomes inside the equal-tailed interval of the
draws (what a user sees; it over-covers when there are point masses such as many zeros), and
the share of PITs inside the central ``level`` band (randomised, so nominal under calibration
even with point masses). Each comes with a binomial band around the nominal level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from arviz_stats.ecdf_utils import (
    compute_ecdf,
    get_pointwise_confidence_band,
    simulate_confidence_bands,
)
from scipy import stats

COVERAGE_LEVELS = (0.5, 0.8, 0.9, 0.95)
BAND_PROB = 0.99
MAX_PIT_FOR_BAND = 20_000
GRID_POINTS = 199


def randomised_pit(y: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomised PIT of each outcome among its (draws, units) predictive sample."""
    draws = np.asarray(draws)
    y = np.asarray(y)[None, :]
    below = (draws < y).sum(axis=0)
    equal = (draws == y).sum(axis=0)
    return (below + rng.random(below.shape) * (equal + 1)) / (draws.shape[0] + 1)


@dataclass
class PITCheck:
    """PIT ECDF minus the uniform CDF on a grid, with its simultaneous band and verdict."""

    grid: np.ndarray
    ecdf_difference: np.ndarray
    band_low: np.ndarray
    band_high: np.ndarray
    band_prob: float
    n: int
    inside_band: bool
    uniformity_p_value: float

    def to_dict(self) -> dict[str, Any]:
        """Scalars for metrics.json (the curves go to the plot)."""
        return {"n": self.n, "band_prob": self.band_prob, "inside_band": self.inside_band,
                "max_abs_ecdf_difference": float(np.max(np.abs(self.ecdf_difference))),
                "ks_p_value": self.uniformity_p_value}


def pit_check(pit: np.ndarray, rng: np.random.Generator, band_prob: float = BAND_PROB,
              n_simulations: int = 500) -> PITCheck:
    """ECDF difference of ``pit`` with a simultaneous ``band_prob`` band on a fixed grid.

    More than ``MAX_PIT_FOR_BAND`` PIT values are subsampled (seeded) for the band: the band's
    cost grows with n and its width shrinks like 1/sqrt(n), so the verdict is already sharp.
    """
    pit = np.asarray(pit, float)
    if pit.size > MAX_PIT_FOR_BAND:
        pit = rng.choice(pit, MAX_PIT_FOR_BAND, replace=False)
    n = pit.size
    grid = np.arange(1, GRID_POINTS + 1) / (GRID_POINTS + 1)
    ecdf = compute_ecdf(pit, grid)
    gamma = simulate_confidence_bands(n, 1, grid, band_prob, n_simulations, rng)
    low, high = get_pointwise_confidence_band(gamma, n, grid)
    inside = bool(np.all((ecdf >= low) & (ecdf <= high)))
    p_value = float(stats.kstest(pit, "uniform").pvalue)
    return PITCheck(grid, ecdf - grid, low - grid, high - grid, band_prob, n, inside, p_value)


def binomial_band(level: float, n: int, prob: float = 0.95) -> tuple[float, float]:
    """Range of coverage a calibrated ``level`` interval shows on ``n`` units, w.p. ``prob``."""
    low, high = stats.binom.interval(prob, n, level)
    return float(low / n), float(high / n)


def coverage_table(
    y: np.ndarray, draws: np.ndarray | None = None, pit: np.ndarray | None = None,
    levels: tuple[float, ...] = COVERAGE_LEVELS, intervals: dict[float, tuple[np.ndarray,
                                                                             np.ndarray]]
    | None = None,
) -> list[dict[str, Any]]:
    """Coverage of central intervals at each level, with the 95% binomial band around nominal.

    Interval ends come from ``intervals`` (level -> (low, high)) or the draws' quantiles.
    ``flagged`` is judged on the PIT coverage when PITs are given (it is nominal under
    calibration even for discrete outcomes), else on the interval coverage.
    """
    y = np.asarray(y, float)
    n = y.size
    rows = []
    for level in levels:
        if intervals is not None and level in intervals:
            low, high = intervals[level]
        elif draws is not None:
            low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        else:
            raise ValueError("coverage_table needs draws or intervals")
        band_low, band_high = binomial_band(level, n)
        row: dict[str, Any] = {
            "level": level,
            "interval_coverage": float(np.mean((y >= low) & (y <= high))),
            "band_low": band_low, "band_high": band_high,
        }
        judged = row["interval_coverage"]
        if pit is not None:
            half = level / 2
            row["pit_coverage"] = float(np.mean(np.abs(np.asarray(pit) - 0.5) <= half))
            judged = row["pit_coverage"]
        row["flagged"] = not band_low <= judged <= band_high
        rows.append(row)
    return rows
