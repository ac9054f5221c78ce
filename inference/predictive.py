"""One interface for posterior-predictive simulation, shared by every model.

A model offers a :class:`PredictiveSimulator`: given posterior draws (a mapping of flat
arrays, one value per draw) and the indices of some units, it returns outcome arrays of shape
(draws, units), vectorised NumPy over the stored draws (no PyTensor graph is compiled).
The functions here drive any simulator in chunks of units, so memory stays bounded at
``draws x chunk`` whatever the number of units, and reduce the draws to what people use:

* :func:`predictive_summary`: per unit mean, median, quantiles and exceedance probabilities;
* :func:`predictive_totals`: per draw totals over units (optionally by group), the consistent
  way to aggregate (customers alive in a cohort, tickets per artist or nationally);
* :func:`iterate_predictive`: the raw chunks, for evaluation against observed outcomes.

Every call takes a NumPy ``Generator``; the same seed gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd
from scipy import sparse

Params = Mapping[str, np.ndarray]
DEFAULT_QUANTILES = (0.05, 0.5, 0.95)
CELL_BUDGET = 4_000_000


class PredictiveSimulator(Protocol):
    """What a model implements to take part in simulation, prediction and evaluation."""

    @property
    def n_units(self) -> int:
        """Number of units (customers, artist x DMA x weeks, ...) that can be simulated."""
        ...

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Names of the outcomes :meth:`simulate` returns."""
        ...

    def simulate(self, params: Params, index: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Outcomes for the units at ``index``: arrays (draws, len(index)), one row per draw."""
        ...


def n_draws(params: Params) -> int:
    """Number of posterior draws in a flat parameter mapping."""
    return int(np.asarray(next(iter(params.values()))).shape[0])


def thin_draws(posterior: Params, max_draws: int, rng: np.random.Generator
               ) -> dict[str, np.ndarray]:
    """At most ``max_draws`` posterior draws (leading axis), chosen without replacement.

    When there are no more than ``max_draws`` the stored arrays are returned as read-only
    views, not copied: a served ticket run holds about 50 MB of draws, and the served spend
    model thins on every request.
    """
    n = n_draws(posterior)
    if n <= max_draws:
        return {name: read_only(np.asarray(values)) for name, values in posterior.items()}
    index = np.sort(rng.choice(n, max_draws, replace=False))
    return {name: np.asarray(values)[index] for name, values in posterior.items()}


def read_only(values: np.ndarray) -> np.ndarray:
    """A view of ``values`` that refuses writes, so a shared posterior cannot be altered."""
    view = values.view()
    view.flags.writeable = False
    return view


def chunk_size_for(params: Params, budget: int = CELL_BUDGET) -> int:
    """Units per chunk so that one outcome array stays within ``budget`` cells."""
    return max(1, budget // max(1, n_draws(params)))


def iterate_predictive(
    simulator: PredictiveSimulator, params: Params, rng: np.random.Generator,
    chunk_size: int | None = None, progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Yield ``(index, outcomes)`` chunk by chunk over all units."""
    n = simulator.n_units
    size = chunk_size or chunk_size_for(params)
    for start in range(0, n, size):
        index = np.arange(start, min(start + size, n))
        yield index, simulator.simulate(params, index, rng)
        if progress is not None:
            progress(index.size, n)


def summarise_draws(
    draws: np.ndarray, quantiles: Sequence[float] = DEFAULT_QUANTILES,
    exceed: Sequence[float] = (), prefix: str = "",
) -> dict[str, np.ndarray]:
    """Per-unit mean, quantiles (``q05``, ``q50``...) and P(outcome > t) of (draws, units)."""
    draws = np.asarray(draws, float)
    out = {f"{prefix}mean": draws.mean(axis=0)}
    for q, values in zip(quantiles, np.quantile(draws, quantiles, axis=0), strict=True):
        out[f"{prefix}{quantile_name(q)}"] = values
    for threshold in exceed:
        out[f"{prefix}p_above_{threshold:g}"] = (draws > threshold).mean(axis=0)
    return out


def quantile_name(q: float) -> str:
    """Column name of a quantile: 0.05 -> ``q05``, 0.5 -> ``median``, 0.975 -> ``q97.5``."""
    if q == 0.5:
        return "median"
    return f"q{100 * q:02.0f}" if float(100 * q).is_integer() else f"q{100 * q:g}"


def predictive_summary(
    simulator: PredictiveSimulator, params: Params, rng: np.random.Generator,
    quantiles: Sequence[float] = DEFAULT_QUANTILES, exceed: Sequence[float] = (),
    chunk_size: int | None = None, progress: Callable[[int, int], None] | None = None,
    means_only: Sequence[str] = (),
) -> pd.DataFrame:
    """Tidy per-unit summary of every outcome: ``{outcome}_mean``, ``{outcome}_q05``, ...

    Outcomes named in ``means_only`` get their mean alone (quantiles cost a partition).
    """
    frame, _ = predictive_summary_and_totals(simulator, params, rng, {}, quantiles, exceed,
                                             chunk_size, progress, means_only)
    return frame


def predictive_summary_and_totals(
    simulator: PredictiveSimulator, params: Params, rng: np.random.Generator,
    groupings: Mapping[str, tuple[np.ndarray, int]],
    quantiles: Sequence[float] = DEFAULT_QUANTILES, exceed: Sequence[float] = (),
    chunk_size: int | None = None, progress: Callable[[int, int], None] | None = None,
    means_only: Sequence[str] = (),
) -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """Per-unit summaries and per-draw group totals from one pass over the same draws.

    ``groupings`` maps a name to ``(codes, n_groups)``: each unit's group code. The totals
    are ``{grouping: {outcome: (draws, n_groups)}}``, so a unit's summary and its group's
    total (an artist's week, the nation's week) come from the very same simulated draws.
    """
    n = simulator.n_units
    columns: dict[str, np.ndarray] = {}
    totals: dict[str, dict[str, np.ndarray]] = {name: {} for name in groupings}
    for index, outcomes in iterate_predictive(simulator, params, rng, chunk_size, progress):
        for name, draws in outcomes.items():
            wanted = ((), ()) if name in means_only else (quantiles, exceed)
            for column, values in summarise_draws(draws, *wanted, prefix=f"{name}_").items():
                columns.setdefault(column, np.empty(n))[index] = values
            for grouping, (codes, n_groups) in groupings.items():
                acc = totals[grouping].setdefault(name, np.zeros((draws.shape[0], n_groups)))
                acc += _group_sums(np.asarray(draws, float), codes[index], n_groups)
    return pd.DataFrame(columns), totals


def _group_sums(draws: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """(draws, units) -> (draws, n_groups) sums; a sparse units x groups product."""
    membership = sparse.csr_matrix((np.ones(codes.size), (np.arange(codes.size), codes)),
                                   shape=(codes.size, n_groups))
    return np.asarray((membership.T @ draws.T).T)


def predictive_totals(
    simulator: PredictiveSimulator, params: Params, rng: np.random.Generator,
    groups: np.ndarray | None = None, chunk_size: int | None = None,
    n_groups: int | None = None,
) -> dict[str, np.ndarray]:
    """Per-draw totals of each outcome over units: (draws,) or (draws, n_groups).

    ``groups`` gives each unit's group code in ``0..n_groups-1``; totals are then per group,
    from the same draws, so group totals add up to the overall total draw by draw. Pass
    ``n_groups`` when some groups may have no units (their totals are then zero).
    """
    if groups is None:
        n_groups = 1
    elif n_groups is None:
        n_groups = int(groups.max()) + 1
    totals: dict[str, np.ndarray] = {}
    for index, outcomes in iterate_predictive(simulator, params, rng, chunk_size):
        for name, draws in outcomes.items():
            draws = np.asarray(draws, float)
            acc = totals.setdefault(name, np.zeros((draws.shape[0], n_groups)))
            if groups is None:
                acc[:, 0] += draws.sum(axis=1)
            else:
                acc += _group_sums(draws, groups[index], n_groups)
    return {k: v[:, 0] if groups is None else v for k, v in totals.items()}


def summarise_totals(totals: np.ndarray, quantiles: Sequence[float] = DEFAULT_QUANTILES
                     ) -> dict[str, float]:
    """Mean and quantiles of a per-draw total."""
    values = np.asarray(totals, float)
    out = {"mean": float(values.mean())}
    for q, v in zip(quantiles, np.quantile(values, quantiles), strict=True):
        out[quantile_name(q)] = float(v)
    return out
