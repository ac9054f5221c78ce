"""Fit a PyMC model: NUTS through nutpie (default), MAP with a Laplace approximation, or the
Laplace approximation corrected by Pareto-smoothed importance sampling (PSIS).

All return an ArviZ ``DataTree`` with a ``posterior`` group holding the named parameters, so
everything downstream (gate, artifacts, prediction) is the same whatever the method.

MAP is the posterior mode in the sampler's unconstrained coordinates (log / logit), Jacobian
included, i.e. the centre of the Laplace approximation; with this package's scale-free priors
it sits next to the maximum-likelihood estimate. Its "posterior" is ``draws`` samples from the
Gaussian ``N(mode, H^-1)`` in those coordinates, mapped back: fast, approximate uncertainty
(:mod:`bayescope.inference.laplace`). PSIS reweights draws around that mode to the exact
posterior and says by Pareto ``k`` whether it could (:mod:`bayescope.inference.importance`);
where it could not, the fit falls back to NUTS.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from bayescope.errors import BayescopeInputError
from bayescope.inference.convergence import (
    ESS_MIN,
    RHAT_MAX,
    GateReport,
    announce,
    check_convergence,
)
from bayescope.inference.importance import psis_resample, student_t_proposal
from bayescope.inference.initial_points import (
    WarmStart,
    cold_initial_points,
    warm_initial_points,
)
from bayescope.inference.laplace import UnconstrainedModel, find_mode

log = logging.getLogger(__name__)

METHODS = ("nuts", "map", "psis")
BACKENDS = ("numba", "jax")
ADAPTATIONS = ("low_rank", "diag")
DEFAULT_TUNE = 1000

# Compiled nutpie models by structural key. Compiling (numba) costs 5-8 s for BTYD and about
# a minute for the ticket model; a process that fits the same model structure again
# (segments, weekly refits, backtest origins, the benchmark) swaps the data in instead. The
# few most recent are kept: each holds a copy of its model's data.
_COMPILED: OrderedDict[str, tuple[tuple[tuple[str, tuple[int, ...]], ...], Any]] = OrderedDict()
COMPILED_KEPT = 4


def free_variable_shapes(model: pm.Model) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Name and shape of every unconstrained variable of ``model``, in order."""
    point = model.initial_point()
    return tuple((var.name, tuple(point[var.name].shape)) for var in model.value_vars)


def compile_nuts(model: pm.Model, cache_key: str | None = None, backend: str = "numba"
                 ) -> Any:
    """A nutpie-compiled model, reusing a compiled one with the same ``cache_key``.

    Models sharing a key must differ only in their ``pm.Data`` values (any lengths); one
    whose free variables differ in name or shape from the cached model's is compiled anew.
    ``backend="jax"`` compiles logp and gradient with JAX (XLA fuses the elementwise work of
    large likelihoods; needs the ``jax`` extra, and runs on a GPU when JAX sees one).
    """
    if backend not in BACKENDS:
        raise BayescopeInputError(f"backend must be one of {BACKENDS}", field="backend")
    import nutpie  # here, not at the top: PSIS and MAP fits never load it (0.2 s)

    # nutpie's JAX compile freezes the data into the graph (no ``with_data``): never cached.
    key = None if cache_key is None or backend == "jax" else f"{cache_key}-{backend}"
    shapes = free_variable_shapes(model) if key is not None else ()
    if key is not None and key in _COMPILED and _COMPILED[key][0] == shapes:
        _COMPILED.move_to_end(key)
        cached = _COMPILED[key][1]
        data = {var.name: var.get_value() for var in model.data_vars}
        # The starting points (support points plus jitter) depend on the data too, and the
        # cached model's would be those of the model it was compiled from.
        return with_initial_points(cached.with_data(**data),
                                   cold_initial_points(model, cached.n_dim))
    if backend == "jax":
        try:
            import jax  # noqa: F401
        except ImportError as exc:
            raise BayescopeInputError("backend 'jax' needs jax: pip install 'bayescope[jax]'",
                                      field="backend") from exc
        compiled = nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax")
    else:
        compiled = nutpie.compile_pymc_model(model)
    if key is not None:
        _COMPILED[key] = (shapes, compiled)
        _COMPILED.move_to_end(key)
        while len(_COMPILED) > COMPILED_KEPT:
            _COMPILED.popitem(last=False)
    return compiled


def with_initial_points(compiled: Any, points: Callable[[Any], np.ndarray]) -> Any:
    """A nutpie-compiled model whose chains start at ``points(seed)``: nutpie's Numba
    models call it ``initial_point_func``, its JAX (pyfunc) models ``_make_initial_points``."""
    field = ("initial_point_func" if hasattr(compiled, "initial_point_func")
             else "_make_initial_points")
    return dataclasses.replace(compiled, **{field: points})


@dataclass
class FitResult:
    """A fitted posterior with its convergence verdict and timing."""

    idata: Any
    gate: GateReport
    method: str
    seconds: float
    map_estimate: dict[str, float] | None = None
    compile_seconds: float = 0.0
    warm_start: WarmStart | None = None
    """Where this NUTS fit ended, for a refit of the same model structure (None for MAP)."""


def seed_to_int(seed: int | np.random.Generator) -> int:
    """An integer seed for samplers that want one, drawn from a Generator if given one."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**31 - 1))
    return int(seed)


def fit_model(
    model: pm.Model,
    var_names: Sequence[str],
    method: str = "nuts",
    draws: int = 1000,
    tune: int | None = None,
    chains: int = 4,
    seed: int | np.random.Generator = 0,
    progress: bool = True,
    cache_key: str | None = None,
    backend: str = "numba",
    max_tree_depth: int = 10,
    adaptation: str = "low_rank",
    warm_start: WarmStart | None = None,
    top_up_tune: int | None = None,
) -> FitResult:
    """Fit ``model`` and gate the result.

    Parameters
    ----------
    model
        The PyMC model.
    var_names
        Parameters to report and gate (deterministics allowed).
    method
        ``"nuts"`` (nutpie), ``"map"`` (mode + Laplace draws) or ``"psis"`` (Laplace draws
        importance-weighted to the posterior; NUTS when Pareto ``k`` says they cannot be).
    draws, tune, chains
        NUTS settings; ``tune`` defaults to 1000 (PyMC's default; 500 left R-hat at 1.010 on
        the Gamma-Gamma part of a recovery test). MAP uses ``draws * chains`` Laplace draws,
        PSIS ``draws`` proposals in all (each costs one log density, and one chain of
        ``draws`` resampled draws has an ESS near ``draws`` when ``k`` is small).
    seed
        Integer or NumPy Generator; the same seed gives the same draws.
    cache_key
        Reuse a model compiled earlier in this process under the same key (see
        :func:`compile_nuts`).
    backend
        nutpie's compiler for NUTS: ``"numba"`` (default) or ``"jax"``.
    max_tree_depth
        At most ``2**max_tree_depth - 1`` leapfrog steps per draw (nutpie's default 10). Any
        depth leaves NUTS exact; a lower cap only stops early-warmup trajectories that wander
        for 1,023 steps before the mass matrix is adapted (the ticket model at 655,200 cells
        spent three quarters of its time there).
    adaptation
        nutpie's mass matrix: ``"low_rank"`` (default; diagonal plus a low-rank correction
        from the draws' and gradients' leading directions) or ``"diag"``.
    warm_start
        NUTS only: start the chains at draws of an earlier fit of the same model structure,
        with its step size (:mod:`bayescope.inference.initial_points`; exact, and a shorter
        ``tune`` then suffices). The result's ``warm_start`` is this fit's, for the next.
    top_up_tune
        NUTS only: when the gate fails on effective sample size or on an R-hat at most
        ``TOP_UP_RHAT_MAX`` (no divergence), add the chains the ESS shortfall asks for
        (:func:`topped_up_chains`),
        each started where the fit's chains ended with this many warmup iterations, and gate
        all chains together (the added chains are recorded in the gate).
    """
    if method not in METHODS:
        raise BayescopeInputError(f"method must be one of {METHODS}, got {method!r}",
                                  field="method")
    if draws < 1 or chains < 1:
        raise BayescopeInputError("draws and chains must be positive", field="draws")
    if adaptation not in ADAPTATIONS:
        raise BayescopeInputError(f"adaptation must be one of {ADAPTATIONS}", field="adaptation")
    start = time.perf_counter()
    if method == "psis":
        psis_idata, psis_gate, psis_mode = _fit_psis(model, var_names, draws, seed)
        if psis_gate.passed:
            announce(psis_gate)
            return FitResult(psis_idata, psis_gate, method, time.perf_counter() - start,
                             psis_mode)
        log.warning("PSIS could not correct the Laplace approximation (%s): sampling with "
                    "NUTS instead", "; ".join(psis_gate.problems))
        fallback = fit_model(model, var_names, "nuts", draws, tune, chains, seed, progress,
                             cache_key, backend, max_tree_depth, adaptation, warm_start,
                             top_up_tune)
        fallback.gate.importance = psis_gate.importance
        return dataclasses.replace(fallback, seconds=time.perf_counter() - start)
    mode: dict[str, float] | None
    if method == "nuts":
        compiled = compile_nuts(model, cache_key, backend)
        compile_seconds = time.perf_counter() - start
        warm_settings: dict[str, float] = {}
        if warm_start is not None:
            compiled = with_initial_points(compiled, warm_initial_points(
                model, compiled.n_dim, warm_start))
            warm_settings["initial_step"] = warm_start.step_size
        idata = _sample_nuts(compiled, draws, tune if tune is not None else DEFAULT_TUNE,
                             chains, seed_to_int(seed), progress, adaptation, max_tree_depth,
                             warm_settings)
        gate = check_convergence(idata, tuple(var_names))
        mode = None
        ended = WarmStart.from_fit(idata, [var.name for var in model.free_RVs])
        if top_up_tune is not None and topped_up_chains(gate, draws, chains):
            idata, gate = _top_up(compiled, model, idata, gate, ended, var_names, draws,
                                  chains, top_up_tune, seed_to_int(seed), progress,
                                  adaptation, max_tree_depth)
    else:
        idata, gate, mode = _fit_map_laplace(model, var_names, draws * chains, seed)
        compile_seconds = 0.0
        ended = None
    announce(gate)
    return FitResult(idata, gate, method, time.perf_counter() - start, mode, compile_seconds,
                     ended)


def _sample_nuts(compiled: Any, draws: int, tune: int, chains: int, seed: int, progress: bool,
                 adaptation: str, max_tree_depth: int, warm_settings: dict[str, float]) -> Any:
    """One nutpie run (see :func:`fit_model` for the settings)."""
    import nutpie
    from threadpoolctl import threadpool_limits

    # nutpie runs each chain in its own thread: BLAS threads inside a chain's gradient
    # only contend with the other chains (a 10,000 x 78 logistic regression, 4 chains on
    # 2 cores: 86 s with OpenBLAS' own threads, 29 s with one; bench/README.md).
    with threadpool_limits(limits=1, user_api="blas"):
        return nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            progress_bar=progress,
            # A low-rank correction to the diagonal mass matrix absorbs the strong linear
            # correlations of BTYD posteriors in log space (r with alpha, p with q and v):
            # on CDNOW it raised the minimum bulk ESS from 789 to 4,525 and cut sampling from
            # 9.0 s to 2.0 s.
            adaptation=adaptation,
            maxdepth=max_tree_depth,
            # Warmup draws are never read; at 655,200 ticket cells they held 150 MB per fit.
            save_warmup=False,
            **warm_settings,
        )


# The ESS a top-up aims at, as a multiple of the gate's minimum (ESS grows about linearly
# with draws, give or take the noise of its estimate), and the most chains it adds, as a
# multiple of the fit's.
TOP_UP_MARGIN = 1.1
TOP_UP_MAX_SHARE = 2
TOP_UP_RHAT_MAX = 1.02
TOP_UP_RHAT_MARGIN = 1.5
"""The largest R-hat a top-up takes on (:func:`topped_up_chains`)."""


def topped_up_chains(gate: GateReport, draws: int, chains: int) -> int:
    """Chains of ``draws`` draws to add so that the smallest ESS reaches
    ``TOP_UP_MARGIN * ESS_MIN`` if ESS grows in proportion to the draws, and an R-hat over
    its limit falls to ``1 + (RHAT_MAX - 1) / TOP_UP_RHAT_MARGIN`` if its excess over 1
    shrinks in inverse proportion to them (the noise of the estimate for chains that agree
    shrinks more slowly: 1.013 -> 1.0100 with 1.5 times the draws on the ticket model's
    recovery test, hence the wider margin).

    0 when the gate passed, saw divergences (more draws do not mend a geometry), found
    R-hat above ``TOP_UP_RHAT_MAX``, has no finite ESS, or would need more than
    ``TOP_UP_MAX_SHARE * chains`` chains: a fit that far short (a quick look with a few
    dozen draws, a model that mixes badly) is reported as it is rather than tripled in cost
    for a gate it would still fail. An R-hat just over its limit is the noise of its
    estimate and more chains settle it; chains that truly disagree stay disagreeing when the
    added ones start where they ended (ticket model, default size: 1.011 -> 1.0095 with one
    added chain; 1.023 -> 1.023 with six, 490 s; bench/README.md).
    """
    smallest = min(gate.min_ess_bulk or 0.0, gate.min_ess_tail or 0.0)
    rhat_near = gate.max_rhat is not None and gate.max_rhat <= TOP_UP_RHAT_MAX
    if gate.passed or gate.divergences or not rhat_near or not (
            np.isfinite(smallest) and smallest > 0):
        return 0
    assert gate.max_rhat is not None  # rhat_near says so
    total = draws * chains * max(TOP_UP_MARGIN * ESS_MIN / smallest,
                                 TOP_UP_RHAT_MARGIN * (gate.max_rhat - 1.0) / (RHAT_MAX - 1.0))
    wanted = max(int(np.ceil(max(total - draws * chains, 0.0) / draws)), 1)
    return wanted if wanted <= TOP_UP_MAX_SHARE * chains else 0


def _top_up(compiled: Any, model: pm.Model, idata: Any, gate: GateReport, ended: WarmStart,
            var_names: Sequence[str], draws: int, chains: int, tune: int, seed: int,
            progress: bool, adaptation: str, max_tree_depth: int) -> tuple[Any, GateReport]:
    """More chains for a fit short of effective draws (:func:`fit_model`'s ``top_up_tune``).

    Each added chain starts at a draw of the fit (:func:`~bayescope.inference.initial_points.
    warm_initial_points`) and warms up for ``tune`` iterations before it keeps ``draws``; as
    with any set of chains, R-hat over all of them checks that they agree. Which draws are
    kept does not depend on their values, only the number of chains on the first verdict, so
    the draws stay draws of the posterior.
    """
    added = topped_up_chains(gate, draws, chains)
    log.info("the gate found %s: adding %d chains of %d draws (warmup %d) started where the "
             "first %d ended", "; ".join(gate.problems), added, draws, tune, chains)
    more = _sample_nuts(
        with_initial_points(compiled, warm_initial_points(model, compiled.n_dim, ended)),
        draws, tune, added, int(np.random.SeedSequence(seed).generate_state(1)[0]), progress,
        adaptation, max_tree_depth, {"initial_step": ended.step_size})
    combined = chains_together(idata, more)
    topped = check_convergence(combined, tuple(var_names))
    topped.chains_added = added
    return combined, topped


def chains_together(first: Any, second: Any) -> Any:
    """Two nutpie fits of one model with the same number of draws as one: the groups with a
    ``chain`` dimension joined along it (the second's chains numbered after the first's),
    the others as in ``first``."""
    groups = {"/": first.to_dataset()}
    for path, node in first.children.items():
        dataset = node.to_dataset()
        if "chain" in dataset.dims and path in second:
            extra = second[path].to_dataset()
            extra = extra.assign_coords(chain=extra["chain"].values + dataset.sizes["chain"])
            dataset = xr.concat([dataset, extra], dim="chain", combine_attrs="override")
        groups[f"/{path}"] = dataset
    return xr.DataTree.from_dict(groups)


def _fit_map_laplace(
    model: pm.Model, var_names: Sequence[str], n_draws: int, seed: int | np.random.Generator
) -> tuple[Any, GateReport, dict[str, float]]:
    """Posterior mode and ``n_draws`` draws of the Laplace approximation around it."""
    rng = np.random.default_rng(seed_to_int(seed))
    target = UnconstrainedModel(model)
    laplace = find_mode(target, rng)
    draws = rng.multivariate_normal(laplace.mode, laplace.covariance, size=n_draws)
    idata, mode = _posterior_from_vectors(target, var_names, draws, laplace.mode)
    return idata, GateReport(method="map", passed=not laplace.problems,
                             problems=laplace.problems), mode


def _fit_psis(
    model: pm.Model, var_names: Sequence[str], n_draws: int, seed: int | np.random.Generator
) -> tuple[Any, GateReport, dict[str, float]]:
    """The Laplace approximation corrected by PSIS (:mod:`bayescope.inference.importance`);
    the gate asks for a reliable ``k``, an importance ESS of at least ``ESS_MIN`` and a
    clean mode."""
    rng = np.random.default_rng(seed_to_int(seed))
    target = UnconstrainedModel(model)
    # A mode to 1e-12 of the log density is the same proposal (a million customers: the same
    # point to 6 digits, 34 evaluations instead of 47); the weights correct the rest.
    laplace = find_mode(target, rng, first_suffices=True, ftol=1e-12)
    problems = list(laplace.problems)
    proposals, log_q = student_t_proposal(laplace, n_draws, rng)
    evaluate = target.batched_logp_and_parameters(var_names)
    log_p, values = evaluate(np.vstack([laplace.mode, proposals]))  # the mode first
    chosen, diagnostics = psis_resample(log_p[1:], log_q, rng)
    if not diagnostics.reliable:
        problems.append(f"Pareto k {diagnostics.pareto_k:.2f} > {diagnostics.threshold:.2f}: "
                        "the Laplace approximation misses the posterior's tails")
    if not diagnostics.ess >= ESS_MIN:
        problems.append(f"importance-sampling ESS {diagnostics.ess:.0f} < {ESS_MIN:.0f}")
    posterior = {name: np.asarray(values[name][1:][chosen], float)[None] for name in var_names}
    mode = {name: float(np.asarray(values[name][0]).reshape(-1)[0]) for name in var_names}
    idata = az.from_dict({"posterior": posterior})
    gate = GateReport(method="psis", passed=not problems, min_ess_bulk=diagnostics.ess,
                      problems=problems, importance=diagnostics.to_dict())
    return idata, gate, mode


def _posterior_from_vectors(target: UnconstrainedModel, var_names: Sequence[str],
                            draws: np.ndarray, mode: np.ndarray
                            ) -> tuple[Any, dict[str, float]]:
    """A one-chain posterior of ``var_names`` from unconstrained draws, and their values at
    the mode."""
    parameters = target.batched_parameters(var_names)
    values = parameters(draws)
    at_mode = parameters(mode[None, :])
    posterior = {name: np.asarray(values[name], float)[None] for name in var_names}
    mode_values = {name: float(np.asarray(at_mode[name]).reshape(-1)[0]) for name in var_names}
    return az.from_dict({"posterior": posterior}), mode_values
