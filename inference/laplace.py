"""The posterior mode and the Laplace approximation around it, in unconstrained coordinates.

The mode is found in the sampler's unconstrained coordinates (log / logit), Jacobian
included, so it is the centre of the Laplace approximation ``N(mode, H^-1)`` with ``H`` the
Hessian of the negative log density there (Gelman et al., BDA3, section 13.3); with this
package's scale-free priors it sits next to the maximum-likelihood estimate. Draws in those
coordinates are mapped to the model's parameters by one vectorised PyTensor function (a batch
of draws per call), not one call per draw.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.blocking import DictToArrayBijection, RaveledVars
from pytensor.graph.replace import vectorize_graph
from scipy import optimize

BATCH_ELEMENTS = 4_000_000
"""Draws per vectorised call: at most this many elements in a (draws x data) intermediate."""
PARALLEL_MIN_ELEMENTS = 50_000_000
"""Draws x data elements above which a batched evaluation is split over forked processes
(starting them costs ~0.1 s; 1,000 draws of a million customers' BTYD log density took 5.3 s
in one process and 2.7 s in two)."""


@dataclass
class LaplaceFit:
    """The mode of a model's log density in unconstrained coordinates and the covariance of
    the Gaussian approximation there."""

    mode: np.ndarray
    covariance: np.ndarray
    problems: list[str] = field(default_factory=list)


class UnconstrainedModel:
    """A PyMC model seen as a function of one unconstrained vector (its value variables
    raveled): log density, gradient and parameters, single or batched.

    Parameters
    ----------
    model
        The PyMC model.
    """

    def __init__(self, model: pm.Model) -> None:
        self.model = model
        raveled = DictToArrayBijection.map(model.initial_point())
        self.initial = raveled.data
        self._info = raveled.point_map_info
        # One function for both: they share every intermediate (1M customers: 8 ms for
        # the pair against 7 + 6 ms apart).
        self._value_and_grad = model.logp_dlogp_function(ravel_inputs=True)
        self._value_and_grad.set_extra_values({})
        self.data_elements = max([1, *(np.size(var.get_value()) for var in model.data_vars)])
        self.batch = max(1, BATCH_ELEMENTS // self.data_elements)

    @property
    def size(self) -> int:
        """Length of the unconstrained vector."""
        return int(self.initial.size)

    def point(self, vector: np.ndarray) -> dict[str, np.ndarray]:
        """The value variables of one unconstrained vector."""
        return DictToArrayBijection.rmap(RaveledVars(vector, self._info))

    def logp_and_gradient(self, vector: np.ndarray) -> tuple[float, np.ndarray]:
        """Log density (Jacobian included) at one vector, and its gradient."""
        value, gradient = self._value_and_grad(np.asarray(vector, dtype=float))
        return float(value), np.asarray(gradient, dtype=float)

    def _split(self, vectors: np.ndarray) -> list[np.ndarray]:
        """Batched value variables, ``(n, *shape)`` each, of ``(n, size)`` vectors."""
        out, start = [], 0
        for _, shape, size, _ in self._info:
            out.append(vectors[:, start:start + size].reshape(len(vectors), *shape))
            start += size
        return out

    def batched(self, outputs: Sequence[pt.TensorVariable]
                ) -> Callable[[np.ndarray], list[np.ndarray]]:
        """A function of ``(n, size)`` vectors giving each of ``outputs`` (expressions in the
        value variables) per vector, ``(n, *shape)``, evaluated a batch at a time."""
        value_vars = self.model.value_vars
        inputs = [pt.tensor(f"{var.name}_batch", shape=(None, *var.type.shape),
                            dtype=var.dtype) for var in value_vars]
        vectorised = vectorize_graph(list(outputs), replace=dict(zip(value_vars, inputs,
                                                                      strict=True)))
        function = pytensor.function(inputs, vectorised, on_unused_input="ignore")

        def evaluate_serially(vectors: np.ndarray) -> list[np.ndarray]:
            parts = [function(*self._split(vectors[i:i + self.batch]))
                     for i in range(0, len(vectors), self.batch)]
            return [np.concatenate([np.asarray(p[k]) for p in parts])
                    for k in range(len(outputs))]

        def evaluate(vectors: np.ndarray) -> list[np.ndarray]:
            if len(vectors) * self.data_elements < PARALLEL_MIN_ELEMENTS:
                return evaluate_serially(vectors)
            return in_forked_processes(evaluate_serially, vectors)

        return evaluate

    def _expressions(self, names: Sequence[str]) -> list[pt.TensorVariable]:
        # Deterministics and RVs expressed in the value variables; compiling the RVs
        # themselves would draw from the prior instead.
        return list(self.model.replace_rvs_by_values([self.model[name] for name in names]))

    def batched_parameters(self, names: Sequence[str]
                           ) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
        """The model's variables (free or deterministic) ``names`` at each vector."""
        evaluate = self.batched(self._expressions(names))
        return lambda vectors: dict(zip(names, evaluate(vectors), strict=True))

    def batched_logp_and_parameters(
        self, names: Sequence[str]
    ) -> Callable[[np.ndarray], tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Log density (Jacobian included) and the variables ``names`` at each vector: one
        compiled function (a compile costs a few tenths of a second; the parameters cost
        nothing beside the log density)."""
        evaluate = self.batched([self.model.logp(jacobian=True), *self._expressions(names)])

        def both(vectors: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
            logp, *values = evaluate(vectors)
            return logp.astype(float), dict(zip(names, values, strict=True))

        return both


def in_forked_processes(function: Callable[[np.ndarray], list[np.ndarray]],
                        vectors: np.ndarray) -> list[np.ndarray]:
    """``function(vectors)`` computed on equal shares of the rows in forked worker processes,
    one per usable core, which inherit the compiled ``function`` (PyTensor's C functions hold
    the GIL, so threads would take turns). In one process where forking is unavailable or
    unsafe: on a single core, without the ``fork`` start method, or with other threads
    running (a forked child gets only the calling thread, and locks other threads held).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if (cores < 2 or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()):
        return function(vectors)
    global _FORKED_FUNCTION
    shares = np.array_split(vectors, min(cores, len(vectors)))
    _FORKED_FUNCTION = function  # inherited by the children; closures do not pickle
    try:
        with multiprocessing.get_context("fork").Pool(len(shares)) as pool:
            parts = pool.map(_call_forked_function, shares)
    finally:
        _FORKED_FUNCTION = None
    return [np.concatenate([part[k] for part in parts]) for k in range(len(parts[0]))]


_FORKED_FUNCTION: Callable[[np.ndarray], list[np.ndarray]] | None = None


def _call_forked_function(rows: np.ndarray) -> list[np.ndarray]:
    assert _FORKED_FUNCTION is not None
    return _FORKED_FUNCTION(rows)


def find_mode(target: UnconstrainedModel, rng: np.random.Generator, restarts: int = 3,
              first_suffices: bool = False, ftol: float = 1e-15) -> LaplaceFit:
    """The posterior mode (multi-start L-BFGS) and the Laplace covariance there.

    Starts at the model's own initial values (scaled to the data where the model says so:
    then the mode does not depend on the data's units), at the centre of the unconstrained
    space, and at ``restarts`` standard-normal points; the priors' own initial points (e.g.
    exp(4.5) for LogNormal(0, 3)) would sit on flat, badly scaled plateaus. With
    ``first_suffices`` the first start that converges ends the search (PSIS checks the mode
    it is given; the MAP estimate has nothing else to check it). ``ftol`` is L-BFGS-B's
    relative tolerance on the log density; the default runs to float precision.
    """

    def negative(vector: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = target.logp_and_gradient(vector)
        if not np.isfinite(value):
            return 1e300, np.zeros_like(vector)
        return -value, -gradient

    def neg_grad(vector: np.ndarray) -> np.ndarray:
        return negative(vector)[1]

    zeros = np.zeros(target.size)
    starts = [target.initial, zeros] + [rng.normal(0, 1.0, target.size) for _ in range(restarts)]
    best: optimize.OptimizeResult | None = None
    for x0 in starts:
        result = optimize.minimize(negative, x0, jac=True, method="L-BFGS-B",
                                   options={"maxiter": 5000, "ftol": ftol, "gtol": 1e-10})
        if best is None or result.fun < best.fun:
            best = result
        if first_suffices and _converged(best, neg_grad):
            break
    assert best is not None
    problems = []
    hessian = numerical_hessian(neg_grad, best.x)
    try:
        covariance = np.linalg.inv(hessian)
        np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        problems.append("Hessian at the mode is not positive definite")
        covariance = np.diag(np.full(best.x.size, 1e-8))
    if not _converged(best, neg_grad):
        gradient = neg_grad(best.x)
        step = np.inf if problems else newton_step_in_sd(gradient, covariance)
        if step > MODE_STEP_SD:
            problems.append(f"optimizer stopped with gradient {np.max(np.abs(gradient)):.3g}, "
                            f"{step:.2g} posterior sd from the mode: {best.message}")
    return LaplaceFit(best.x, (covariance + covariance.T) / 2, problems)


MODE_STEP_SD = 0.05
"""The largest Newton step, in posterior sd, at which a stopped optimizer counts as at the mode."""


def newton_step_in_sd(gradient: np.ndarray, covariance: np.ndarray) -> float:
    """Largest ``|(Sigma g)_i| / sqrt(Sigma_ii)``: how far, in posterior standard deviations,
    the Newton step ``Sigma g`` from a point with log-density gradient ``g`` would move each
    coordinate (``Sigma`` the inverse Hessian there). Scale-free, unlike the gradient itself,
    which grows with the data: at 10M customers a gradient of 19.2 is a step of 0.02 sd."""
    step = covariance @ gradient
    return float(np.max(np.abs(step) / np.sqrt(np.diag(covariance))))


def _converged(result: optimize.OptimizeResult,
               neg_grad: Callable[[np.ndarray], np.ndarray]) -> bool:
    """L-BFGS-B often ends "ABNORMAL" at the optimum when the line search runs out of float
    precision: judge the result by its gradient as well as the message."""
    return bool(result.success or float(np.max(np.abs(neg_grad(result.x)))) < 1e-2)


def numerical_hessian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                      step: float = 1e-5) -> np.ndarray:
    """Central-difference Hessian of a function from its analytic gradient."""
    n = x.size
    hess = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = step
        hess[:, i] = (grad(x + e) - grad(x - e)) / (2 * step)
    return (hess + hess.T) / 2
