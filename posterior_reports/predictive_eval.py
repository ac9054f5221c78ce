"""Evaluation of any model on (observed y, posterior-predictive draws), chunk by chunk.

:class:`PredictiveEvaluation` takes chunks of units (outcomes and their (draws, units)
predictive sample, e.g. from :func:`bayescope.inference.predictive.iterate_predictive`) and
keeps only per-unit scores, so memory is ``units x a few`` whatever the number of draws:

* point errors of the predictive mean (or a closed-form mean the model supplies) and median;
* CRPS, log score (exact from pointwise log-likelihood when given, Monte Carlo otherwise),
  the 90% interval score;
* the randomised PIT and the equal-tailed interval ends at each coverage level;
* for counts, the rootogram and zero check (:class:`~.counts.CountCheck`).

:meth:`PredictiveEvaluation.result` turns them into the summary every report shows: MAE,
RMSE, CRPS, log score, the coverage table, the PIT uniformity check and, for counts, the
rootogram. The per-unit scores stay available for the paired model comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayescope.posterior_reports.calibration import (
    COVERAGE_LEVELS,
    PITCheck,
    coverage_table,
    pit_check,
    randomised_pit,
)
from bayescope.posterior_reports.counts import CountCheck
from bayescope.posterior_reports.scores import (
    crps,
    interval_score,
    log_score_continuous,
    log_score_discrete,
    log_score_from_loglik,
)

POINTWISE_SCORES = ("crps", "log_score", "abs_error", "abs_error_median", "squared_error",
                    "interval_score_90")


@dataclass
class EvaluationResult:
    """Summary metrics, per-unit scores and the PIT check of one model on one holdout."""

    summary: dict[str, Any]
    pointwise: dict[str, np.ndarray]
    pit: np.ndarray
    pit_check: PITCheck
    counts: CountCheck | None
    covered: dict[float, np.ndarray] = field(default_factory=dict)
    """Per unit, whether the outcome lies in the central interval of each level."""


@dataclass
class PredictiveEvaluation:
    """Accumulator of per-unit scores of one model's predictive draws.

    Parameters
    ----------
    discrete
        Integer outcomes (counts): Monte Carlo log probability, rootogram and zero check.
    rng
        Source of the PIT randomisation and the band simulation.
    levels
        Central interval levels whose coverage is reported.
    max_count
        Counts pooled from here on in the rootogram.
    with_log_score
        False where the log score is not comparable across the models evaluated (a point mass
        at zero against densities); it is then reported as NaN.
    """

    discrete: bool
    rng: np.random.Generator
    levels: tuple[float, ...] = COVERAGE_LEVELS
    max_count: int = 10
    with_log_score: bool = True
    _parts: dict[str, list[np.ndarray]] = field(default_factory=dict, init=False)
    _counts: CountCheck | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.discrete:
            self._counts = CountCheck(self.max_count)

    def add(self, y: np.ndarray, draws: np.ndarray, mean: np.ndarray | None = None,
            loglik: np.ndarray | None = None) -> None:
        """Score a chunk.

        Parameters
        ----------
        y
            Observed outcomes of the chunk's units.
        draws
            Posterior-predictive outcomes, (draws, units).
        mean
            The model's exact predictive mean when it has one (used for the point errors
            instead of the noisier mean of the draws).
        loglik
            Pointwise log-likelihood of ``y`` per posterior draw, (draws, units), for the
            exact log score.
        """
        y = np.asarray(y, float)
        draws = np.asarray(draws, float)
        centre = draws.mean(axis=0) if mean is None else np.asarray(mean, float)
        median = np.median(draws, axis=0)
        if not self.with_log_score:
            log_score = np.full(y.size, np.nan)
        elif loglik is not None:
            log_score = log_score_from_loglik(loglik)
        elif self.discrete:
            log_score = log_score_discrete(y, draws)
        else:
            log_score = log_score_continuous(y, draws)
        low90, high90 = np.quantile(draws, [0.05, 0.95], axis=0)
        part = {
            "y": y, "mean": centre, "median": median,
            "crps": crps(y, draws), "log_score": log_score,
            "abs_error": np.abs(centre - y), "abs_error_median": np.abs(median - y),
            "squared_error": (centre - y) ** 2,
            "interval_score_90": interval_score(y, low90, high90, 0.9),
            "pit": randomised_pit(y, draws, self.rng),
        }
        for level in self.levels:
            low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
            part[f"low_{level}"], part[f"high_{level}"] = low, high
        for name, values in part.items():
            self._parts.setdefault(name, []).append(values)
        if self._counts is not None:
            self._counts.add(y, draws)

    def column(self, name: str) -> np.ndarray:
        """All chunks of a per-unit column, concatenated."""
        return np.concatenate(self._parts[name])

    def result(self) -> EvaluationResult:
        """Summary metrics, per-unit scores, PIT check and count checks."""
        if not self._parts or not sum(p.size for p in self._parts["y"]):
            raise ValueError("no units were added to the evaluation")
        y = self.column("y")
        pit = self.column("pit")
        pointwise = {name: self.column(name) for name in POINTWISE_SCORES}
        intervals = {level: (self.column(f"low_{level}"), self.column(f"high_{level}"))
                     for level in self.levels}
        check = pit_check(pit, self.rng)
        coverage = coverage_table(y, pit=pit, levels=self.levels, intervals=intervals)
        summary: dict[str, Any] = {
            "n": int(y.size),
            "mae": float(pointwise["abs_error"].mean()),
            "mae_median": float(pointwise["abs_error_median"].mean()),
            "rmse": float(np.sqrt(pointwise["squared_error"].mean())),
            "crps": float(pointwise["crps"].mean()),
            "log_score": float(pointwise["log_score"].mean()),
            "interval_score_90": float(pointwise["interval_score_90"].mean()),
            "total_observed": float(y.sum()),
            "total_predicted": float(self.column("mean").sum()),
            "coverage": coverage,
            "pit": check.to_dict(),
            # The verdict rests on the one simultaneous test; the per-level coverage flags are
            # separate 95% checks shown for reading, not combined (that would over-reject).
            "calibrated": check.inside_band,
        }
        if self._counts is not None:
            summary["rootogram"] = self._counts.rootogram()
            summary["zero_check"] = self._counts.zero_check()
        covered = {level: (y >= low) & (y <= high) for level, (low, high) in intervals.items()}
        return EvaluationResult(summary, pointwise, pit, check, self._counts, covered)


def evaluate_draws(y: np.ndarray, draws: np.ndarray, rng: np.random.Generator,
                   discrete: bool | None = None, **kwargs: Any) -> EvaluationResult:
    """Evaluate one (units,) outcome vector against one (draws, units) sample in one go."""
    draws = np.asarray(draws)
    if discrete is None:
        discrete = bool(np.all(np.asarray(y) == np.round(y)) and np.all(draws == np.round(draws)))
    evaluation = PredictiveEvaluation(discrete, rng, **kwargs)
    evaluation.add(y, draws)
    return evaluation.result()
