"""Checks for count outcomes: the hanging rootogram and the zero-frequency check.

Both accumulate over chunks of units (same posterior draw s in every chunk), so they work
on a million units in bounded memory.

* Rootogram (Kleiber & Zeileis 2016): for each count k, observed frequency against the
  expected frequency ``sum_i P(Y_i = k)`` under the posterior predictive; drawn "hanging" on
  the square-root scale, so misfit at small and large frequencies is equally visible.
* Zero check: the number of zeros observed against its posterior-predictive distribution (the
  number of zeros in each draw), with the two-sided predictive p-value. Zero inflation or
  deflation shows here first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class CountCheck:
    """Accumulator of observed and predicted count frequencies, ``max_count`` and more pooled."""

    max_count: int = 10
    n_units: int = 0
    observed: np.ndarray = field(init=False)
    expected: np.ndarray = field(init=False)
    zeros_per_draw: np.ndarray | None = field(default=None, init=False)
    observed_zeros: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.observed = np.zeros(self.max_count + 1)
        self.expected = np.zeros(self.max_count + 1)

    def add(self, y: np.ndarray, draws: np.ndarray) -> None:
        """Add a chunk: outcomes (units,) and predictive draws (draws, units)."""
        y = np.asarray(y)
        draws = np.asarray(draws)
        capped_y = np.minimum(y, self.max_count).astype(int)
        self.observed += np.bincount(capped_y, minlength=self.max_count + 1)
        capped = np.minimum(draws, self.max_count).astype(int)
        width = self.max_count + 1
        offsets = np.arange(capped.shape[0])[:, None] * width
        per_draw = np.bincount((capped + offsets).ravel(), minlength=capped.shape[0] * width)
        self.expected += per_draw.reshape(capped.shape[0], width).mean(axis=0)
        zeros = (draws == 0).sum(axis=1)
        if self.zeros_per_draw is not None and zeros.size != self.zeros_per_draw.size:
            raise ValueError(f"every chunk needs the same draws: {zeros.size} after "
                             f"{self.zeros_per_draw.size}")
        self.zeros_per_draw = zeros if self.zeros_per_draw is None else self.zeros_per_draw + zeros
        self.observed_zeros += int((y == 0).sum())
        self.n_units += y.size

    def rootogram(self) -> list[dict[str, Any]]:
        """Rows per count: observed, expected, and the hanging bar's bottom on the sqrt scale."""
        rows = []
        for k in range(self.max_count + 1):
            label = f"{k}+" if k == self.max_count else str(k)
            obs, exp = float(self.observed[k]), float(self.expected[k])
            rows.append({"count": label, "observed": obs, "expected": exp,
                         "hanging_bottom": float(np.sqrt(exp) - np.sqrt(obs))})
        return rows

    def zero_check(self) -> dict[str, Any]:
        """Observed zeros against their posterior-predictive distribution."""
        if self.zeros_per_draw is None:
            raise ValueError("no data added")
        z = self.zeros_per_draw.astype(float)
        obs = self.observed_zeros
        p_value = min(1.0, 2.0 * float(min(np.mean(z >= obs), np.mean(z <= obs))))
        low, high = (float(v) for v in np.quantile(z, [0.05, 0.95]))
        return {"observed": obs, "predicted_mean": float(z.mean()), "predicted_low": float(low),
                "predicted_high": float(high), "share_observed": obs / self.n_units,
                "p_value": p_value, "flagged": bool(p_value < 0.05)}
