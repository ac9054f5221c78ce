"""Where nutpie's NUTS chains start: PyMC's support points (a cold fit), or where an earlier
fit of the same model structure ended (a warm refit).

Rolling refits (the ticket backtest's origins, a weekly refit) fit one model structure to data
that differ in a few weeks. Where the earlier fit ended is then a good place to start: its
last draws lie in the typical set of a nearby posterior, and its adapted step size is close
to the one the refit will adapt to. Neither changes what NUTS samples (its stationary
distribution does not depend on the starting point or on the first step size), so both are
exact; they shorten the warmup a refit needs. nutpie takes no initial mass matrix: its
gradient-based diagonal estimate starts afresh, from draws that now start in the typical set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from bayescope.errors import ArtifactError, BayescopeInputError

# Starting points kept per chain of the earlier fit: its last draws. Each new chain picks one
# by its own seed alone (nutpie's chains start in any order), so two of four chains share a
# point with probability 1 - prod(1 - k / n), k < 4: 6% from a pool of 100, 18% from 32
# (the same start for two chains is still exact; it only weakens what R-hat can see).
POINTS_PER_CHAIN = 25
POINT = "point"
# A chain whose adapted step size is below this share of the chains' median, or that
# diverged in most of its draws, was stuck (bench/README.md: one chain in ten of nutpie's
# low-rank adaptation did so); its draws are not handed on.
STUCK_STEP_SHARE = 0.1


@dataclass(frozen=True)
class WarmStart:
    """Starting points (each the constrained value of every free variable, a draw of the
    earlier fit) and the earlier fit's adapted step size."""

    points: tuple[Mapping[str, np.ndarray], ...]
    step_size: float

    @classmethod
    def from_fit(cls, idata: Any, free_names: list[str],
                 per_chain: int = POINTS_PER_CHAIN) -> WarmStart:
        """The last ``per_chain`` posterior draws of every chain of a nutpie fit ``idata``
        that was not stuck (:data:`STUCK_STEP_SHARE`), and their median final step size."""
        posterior, stats = idata["posterior"], idata["sample_stats"]
        missing = [name for name in free_names if name not in posterior]
        if missing:
            raise ValueError(f"the fit's posterior lacks the free variables {missing}")
        values = {name: np.asarray(posterior[name].values) for name in free_names}
        draws = values[free_names[0]].shape[1]
        step = np.asarray(stats["step_size"].values)[:, -1]
        diverged = np.asarray(stats["diverging"].values).mean(axis=1)
        moving = (step >= STUCK_STEP_SHARE * np.median(step)) & (diverged <= 0.5)
        kept = np.flatnonzero(moving) if moving.any() else np.arange(step.size)
        points = tuple({name: values[name][c, d].copy() for name in free_names}
                       for c in kept for d in range(max(draws - per_chain, 0), draws))
        return cls(points, float(np.median(step[kept])))

    def thinned(self, keep: int) -> WarmStart:
        """At most ``keep`` of the points, evenly spaced over the pool (every chain's)."""
        step = max(1, -(-len(self.points) // keep))
        return WarmStart(self.points[::step], self.step_size)

    def to_dataset(self) -> xr.Dataset:
        """A labelled copy (dimension ``point`` first; the step size an attribute), for
        storing beside a fit."""
        data = {name: ((POINT, *(f"{name}_dim_{k}" for k in range(np.ndim(value)))),
                       np.stack([point[name] for point in self.points]))
                for name, value in self.points[0].items()}
        return xr.Dataset(data, attrs={"step_size": self.step_size})

    @classmethod
    def from_dataset(cls, dataset: xr.Dataset, source: str = "") -> WarmStart:
        """The inverse of :meth:`to_dataset`; one :class:`ArtifactError` naming ``source``
        when the stored points are malformed (no points, non-finite values or step size)."""
        try:
            step_size = float(dataset.attrs["step_size"])
            count = int(dataset.sizes[POINT])
            values = {str(name): np.asarray(dataset[name].values, dtype=float)
                      for name in dataset.data_vars}
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{source}: the stored warm start is malformed ({exc!r})",
                                field="warm_start") from exc
        if (count < 1 or not values or not np.isfinite(step_size) or step_size <= 0
                or not all(np.isfinite(v).all() for v in values.values())):
            raise ArtifactError(f"{source}: the stored warm start has no points, or values or "
                                "a step size that are not finite", field="warm_start")
        return cls(tuple({name: v[k] for name, v in values.items()} for k in range(count)),
                   step_size)

    def mean(self, name: str) -> float | None:
        """The mean of a scalar free variable over the points (None where they lack it)."""
        if name not in self.points[0] or np.size(self.points[0][name]) != 1:
            return None
        return float(np.mean([np.asarray(point[name]).item() for point in self.points]))

    def check_shapes(self, model: pm.Model, source: str) -> None:
        """One error naming ``source`` when the points do not fit ``model``'s free variables
        (another number of artists or DMAs, or another feature set)."""
        have = {name: np.shape(value) for name, value in self.points[0].items()}
        wrong = sorted(var.name for var in model.free_RVs if var.name in have
                       and have[var.name] != tuple(int(n) for n in var.shape.eval()))
        if wrong:
            raise BayescopeInputError(
                f"the warm start {source} does not fit this model: {', '.join(wrong)} differ "
                "in shape (another number of artists or DMAs, or another feature set); fit "
                "without it", field="warm_start")


def cold_initial_points(model: pm.Model, n_dim: int) -> Callable[[Any], np.ndarray]:
    """nutpie's per-chain starting points for ``model``: PyMC's support points with U(-1, 1)
    jitter on every free variable (nutpie's default); see :func:`_flat_points`."""
    from pymc.initial_point import make_initial_point_fn

    point_fn = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs),
                                     return_transformed=True)
    return _flat_points(model, n_dim, point_fn)


def warm_initial_points(model: pm.Model, n_dim: int, warm: WarmStart
                        ) -> Callable[[Any], np.ndarray]:
    """nutpie's per-chain starting points for ``model`` from ``warm``: the point the chain's
    seed picks. The pick depends on the seed alone (nutpie's chains call this in any order),
    so the same sampler seed gives the same starts. Free variables the points lack (a model
    that gained one) start at PyMC's support point, as in a cold fit; values of variables the
    model lacks are left out. See :func:`_flat_points`."""
    from pymc.initial_point import make_initial_point_fn

    names = {var.name for var in model.free_RVs}

    def point(seed: Any) -> dict[str, np.ndarray]:
        index = int(np.random.default_rng(seed).integers(len(warm.points)))
        overrides = {k: v for k, v in warm.points[index].items() if k in names}
        return make_initial_point_fn(model=model, overrides=overrides, jitter_rvs=set(),
                                     return_transformed=True)(seed)

    return _flat_points(model, n_dim, point)


def _flat_points(model: pm.Model, n_dim: int, point: Callable[[Any], Mapping[str, Any]]
                 ) -> Callable[[Any], np.ndarray]:
    """``point(seed)`` on the sampler's unconstrained scale, flattened in the order of
    ``model.free_RVs`` (nutpie's); ``n_dim`` values or one error.

    Locked as nutpie's own: PyMC's seeded functions reseed shared generators and then
    evaluate, and nutpie's chains call this from parallel threads.
    """
    names = [model.rvs_to_values[var].name for var in model.free_RVs]
    lock = threading.Lock()

    def flat(seed: Any = None) -> np.ndarray:
        with lock:
            values = point(seed)
        out = np.concatenate([np.asarray(values[name], dtype="float64").ravel()
                              for name in names])
        if out.size != n_dim:
            raise BayescopeInputError(
                f"the model has {out.size} free values where the compiled model or the warm "
                f"start has {n_dim}: they come from another model structure (use another "
                "cache_key)", field="cache_key")
        return out

    return flat
