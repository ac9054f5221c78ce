"""The zero-sales part of the ticket likelihood on the dense (artist, DMA, week) grid, fused.

For the negative binomial with mean ``mu`` and dispersion ``phi``,

    log NB(y | mu, phi) = phi log(phi / (phi + mu))
        + [lgamma(y + phi) - lgamma(phi) - lgamma(y + 1) + y log(mu / (phi + mu))],

and the bracket vanishes at ``y = 0``. The first term, ``-phi log(1 + mu / phi)``, is needed
for every cell of the grid (655,200 at the benchmark size), the bracket only for the few
weeks with sales (6%), which :mod:`bayescope.models.ticket_demand` writes in PyMC. This module
computes the every-cell term and its gradient in one pass:

    L = - sum_adw phi_adw log(1 + r_adw),      r = exp(eta) / phi,
    phi_adw = phi_aw exp(rho eta_adw),
    eta_adw = alpha_a + delta_d + pair_ad + sum_f x_fadw beta_f + sum_g z_gaw b_g
              + sum_k s_kw c_k,

    g_adw = dL/dphi_adw = r / (1 + r) - log(1 + r),
    dL/deta_adw = -phi_adw r / (1 + r) + rho phi_adw g_adw,
    dL/dphi_aw  = sum_d g_adw phi_adw / phi_aw,
    dL/drho     = sum_adw g_adw phi_adw eta_adw,

(In the model's hurdle, :mod:`bayescope.models.ticket_demand`, this term is the log
probability of no sale, and ``phi`` and ``rho`` are that part's own, ``phi0`` and ``rho0``.)
With cell features ``x``, artist-week features ``z`` (social momentum, national sales) and
week features ``s`` (the season), the last two added once per artist-week; the dispersion
``phi_aw`` varies by artist and week (the artist's tier and the week's weeks ahead), and each
cell's ``phi_adw`` grows with its mean as ``mu^rho`` (``rho = 0``: the plain negative
binomial; 1: variance proportional to the mean).

Written by hand, not as a PyTensor graph, because it is measurably faster: the graph
materialises several grid-sized intermediates (the linear predictor, ``exp``, ``log1p`` and
their adjoints) and took 20 ms per gradient at 655,200 cells on this machine; this loop keeps
one week-vector per artist-DMA in cache, skips feature rows that are zero in every week and
adds the artist-week and week features once per artist-week (``bench/README.md``: the whole
model's gradient 9.2 ms with twelve features; 15.5 ms with eighteen and the dispersion slope,
whose ``phi`` per cell is a second exponential). The PyTensor :class:`ZeroSalesLoglik` op
returns the value and the gradients as outputs of one node, so a logp-and-gradient evaluation
runs the loop once; it has a NumPy ``perform`` (the same kernel), a Numba implementation
(nutpie's default backend) and a JAX
one (the ``jax`` extra; on a GPU when JAX sees one).
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Sequence
from typing import Any

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key


def feature_activity(x: np.ndarray) -> np.ndarray:
    """``(feature, artist, DMA)``: 1 where the feature is non-zero in some week of the
    artist-DMA, else 0 (the kernel skips the zero rows)."""
    return np.ascontiguousarray((np.asarray(x) != 0).any(axis=-1).astype(np.int8))


@numba.njit(fastmath=True, cache=True)
def zero_sales_loglik_kernel(alpha: np.ndarray, delta: np.ndarray, pair: np.ndarray,
                             beta: np.ndarray, beta_artist: np.ndarray, beta_week: np.ndarray,
                             phi: np.ndarray, inflation: np.ndarray, slope: np.ndarray,
                             x: np.ndarray, active: np.ndarray, inflated: np.ndarray,
                             x_artist: np.ndarray, x_week: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                        np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                        np.ndarray, np.ndarray]:
    """Value and gradients of the every-cell term (module docstring).

    Features come at three levels: ``x`` per cell, laid out ``(feature, artist, DMA, week)``
    so the week loops are contiguous, with ``active`` (:func:`feature_activity`): a
    feature's rows that are zero in every week of an artist-DMA add nothing to ``eta`` or to
    its gradient and are skipped (listings and recent sales are zero for most artist-DMAs, so
    they are passed uncentred, the centring moved into ``alpha``); ``x_artist`` per artist
    and week ``(feature, artist, week)`` and ``x_week`` per week ``(feature, week)``, added
    once per artist-week and whose gradients are summed over the DMAs first. ``phi`` is
    ``(artist, week)``, scaled in each cell by ``exp(rho eta)`` with ``rho = slope[0]``.
    The cells where ``inflated`` ``(artist, DMA, week)`` is 1 (no sales
    in a week with a show listed) have the zero-inflated probability ``pi_a + (1 - pi_a)
    NB(0)`` with ``pi = inflation``. Returns ``(L, dL/dalpha, dL/ddelta, dL/dpair, dL/dbeta,
    dL/dbeta_artist, dL/dbeta_week, dL/dphi, dL/dinflation, dL/dslope)``.
    """
    n_features, n_artists, n_dmas, n_weeks = x.shape
    total = 0.0
    grad_alpha = np.zeros(n_artists)
    grad_delta = np.zeros(n_dmas)
    grad_pair = np.zeros((n_artists, n_dmas))
    grad_beta = np.zeros(n_features)
    grad_beta_artist = np.zeros(beta_artist.size)
    grad_beta_week = np.zeros(beta_week.size)
    grad_phi = np.zeros((n_artists, n_weeks))
    grad_inflation = np.zeros(n_artists)
    rho = slope[0]
    grad_rho = 0.0
    log_phi = np.empty(n_weeks)
    shared = np.empty(n_weeks)
    shared_grad = np.empty(n_weeks)
    eta = np.empty(n_weeks)
    grad_eta = np.empty(n_weeks)
    for a in range(n_artists):
        pi_a = inflation[a]
        inflation_sum = 0.0
        for w in range(n_weeks):
            log_phi[w] = math.log(phi[a, w])
            shared[w] = 0.0
            shared_grad[w] = 0.0
        for g in range(beta_artist.size):
            b = beta_artist[g]
            for w in range(n_weeks):
                shared[w] += x_artist[g, a, w] * b
        for k in range(beta_week.size):
            b = beta_week[k]
            for w in range(n_weeks):
                shared[w] += x_week[k, w] * b
        for d in range(n_dmas):
            base = alpha[a] + delta[d] + pair[a, d]
            for w in range(n_weeks):
                eta[w] = base + shared[w]
            for f in range(n_features):
                if active[f, a, d] == 0:
                    continue
                b = beta[f]
                for w in range(n_weeks):
                    eta[w] += x[f, a, d, w] * b
            cell_sum = 0.0
            eta_sum = 0.0
            for w in range(n_weeks):
                log_phi_cell = log_phi[w] + rho * eta[w]
                phi_cell = math.exp(log_phi_cell)
                r = math.exp(eta[w] - log_phi_cell)
                log_term = math.log1p(r)
                share = r / (1.0 + r)
                # d/dphi_cell of -phi_cell log(1 + r), and d/deta through mu and phi.
                grad_phi_cell = share - log_term
                grad_cell = phi_cell * (rho * grad_phi_cell - share)
                if inflated[a, d, w] != 0:
                    # log(pi + (1 - pi) e^l), l = -phi log(1 + r); weight = d/dl of it.
                    nb_zero = math.exp(-phi_cell * log_term)
                    p_zero = pi_a + (1.0 - pi_a) * nb_zero
                    weight = (1.0 - pi_a) * nb_zero / p_zero
                    total += math.log(p_zero)
                    inflation_sum += (1.0 - nb_zero) / p_zero
                    grad_phi_cell *= weight
                    grad_cell *= weight
                else:
                    cell_sum += phi_cell * log_term
                grad_phi[a, w] += grad_phi_cell * phi_cell
                grad_rho += grad_phi_cell * phi_cell * eta[w]
                grad_eta[w] = grad_cell
                shared_grad[w] += grad_eta[w]
                eta_sum += grad_eta[w]
            total -= cell_sum
            for f in range(n_features):
                if active[f, a, d] == 0:
                    continue
                acc = 0.0
                for w in range(n_weeks):
                    acc += grad_eta[w] * x[f, a, d, w]
                grad_beta[f] += acc
            grad_pair[a, d] = eta_sum
            grad_delta[d] += eta_sum
            grad_alpha[a] += eta_sum
        for g in range(beta_artist.size):
            acc = 0.0
            for w in range(n_weeks):
                acc += shared_grad[w] * x_artist[g, a, w]
            grad_beta_artist[g] += acc
        for k in range(beta_week.size):
            acc = 0.0
            for w in range(n_weeks):
                acc += shared_grad[w] * x_week[k, w]
            grad_beta_week[k] += acc
        grad_inflation[a] = inflation_sum
        for w in range(n_weeks):
            grad_phi[a, w] /= phi[a, w]
    return (np.asarray(total), grad_alpha, grad_delta, grad_pair, grad_beta, grad_beta_artist,
            grad_beta_week, grad_phi, grad_inflation, np.full(1, grad_rho))


DIMS = (("alpha", 1), ("delta", 1), ("pair", 2), ("beta", 1), ("beta_artist", 1),
        ("beta_week", 1), ("phi", 2), ("inflation", 1), ("slope", 1), ("x", 4), ("active", 3),
        ("inflated", 3), ("x_artist", 3), ("x_week", 2))
INTEGER_INPUTS = {"active": "int8", "inflated": "int8"}


class ZeroSalesLoglik(Op):
    """PyTensor op: ``(alpha, delta, pair, beta, beta_artist, beta_week, phi, inflation,
    slope, x, active, inflated, x_artist, x_week) -> (L, gradients...)``.

    Use the first output in a model; the others are its gradients with respect to the first
    nine inputs and exist so that :meth:`pullback` reuses the same evaluation. The feature
    arrays, ``active`` (:func:`feature_activity` of ``x``) and ``inflated`` are data (no
    gradient).
    """

    __props__ = ()

    def make_node(self, *inputs: Any) -> Apply:
        variables = [pt.as_tensor_variable(v, dtype=INTEGER_INPUTS.get(name, "float64"))
                     for v, (name, _) in zip(inputs, DIMS, strict=True)]
        for var, (name, ndim) in zip(variables, DIMS, strict=True):
            if var.ndim != ndim:
                raise TypeError(f"{name} must have {ndim} dimension(s), got {var.ndim}")
        outputs = [pt.dscalar(), pt.dvector(), pt.dvector(), pt.dmatrix(), pt.dvector(),
                   pt.dvector(), pt.dvector(), pt.dmatrix(), pt.dvector(), pt.dvector()]
        return Apply(self, variables, outputs)

    def perform(self, node: Apply, inputs: Sequence[Any], output_storage: list[Any]
                ) -> None:
        values = [np.ascontiguousarray(v, dtype=INTEGER_INPUTS.get(name, float))
                  for v, (name, _) in zip(inputs, DIMS, strict=True)]
        results = zero_sales_loglik_kernel(*values)
        for storage, value in zip(output_storage, results, strict=True):
            storage[0] = value

    def pullback(self, inputs: Any, outputs: Any, cotangents: Any) -> list[Any]:
        upstream = cotangents[0]
        return [upstream * gradient for gradient in outputs[1:]] + [
            grad_not_implemented(self, k, inputs[k], "features are data")
            for k in range(len(outputs) - 1, len(inputs))]


zero_sales_loglik = ZeroSalesLoglik()


# PyTensor caches compiled Numba graphs on disk under the op's class and props; the hash of
# the kernel's source joins that key, or a changed kernel would run the cached old one.
KERNEL_VERSION = int(hashlib.sha256(inspect.getsource(
    zero_sales_loglik_kernel.py_func).encode()).hexdigest()[:12], 16)


@register_funcify_default_op_cache_key(ZeroSalesLoglik)
def _numba_zero_sales_loglik(op: ZeroSalesLoglik, node: Apply | None = None, **kwargs: Any
                             ) -> Any:
    return zero_sales_loglik_kernel, KERNEL_VERSION


def _register_jax() -> None:
    """The JAX implementation, registered only when JAX is installed (the ``jax`` extra)."""
    try:
        import jax
        import jax.numpy as jnp
        from pytensor.link.jax.dispatch import jax_funcify
    except ImportError:
        return

    def value(alpha: Any, delta: Any, pair: Any, beta: Any, beta_artist: Any, beta_week: Any,
              phi: Any, inflation: Any, slope: Any, x: Any, inflated: Any, x_artist: Any,
              x_week: Any) -> Any:
        # Dense: the zero rows that the Numba kernel skips add zeros here.
        eta = (alpha[:, None, None] + delta[None, :, None] + pair[:, :, None]
               + jnp.tensordot(beta, x, axes=1)
               + jnp.tensordot(beta_artist, x_artist, axes=1)[:, None, :]
               + jnp.tensordot(beta_week, x_week, axes=1)[None, None, :])
        log_phi_cell = jnp.log(phi)[:, None, :] + slope[0] * eta
        nb_zero = -jnp.exp(log_phi_cell) * jnp.log1p(jnp.exp(eta - log_phi_cell))
        pi = inflation[:, None, None]
        zero_inflated = jnp.logaddexp(jnp.log(pi), jnp.log1p(-pi) + nb_zero)
        return jnp.sum(jnp.where(inflated != 0, zero_inflated, nb_zero))

    value_and_grad = jax.value_and_grad(value, argnums=(0, 1, 2, 3, 4, 5, 6, 7, 8))

    @jax_funcify.register(ZeroSalesLoglik)
    def _jax_zero_sales_loglik(op: ZeroSalesLoglik, **kwargs: Any) -> Any:
        def run(alpha: Any, delta: Any, pair: Any, beta: Any, beta_artist: Any,
                beta_week: Any, phi: Any, inflation: Any, slope: Any, x: Any, active: Any,
                inflated: Any, x_artist: Any, x_week: Any) -> Any:
            total, grads = value_and_grad(alpha, delta, pair, beta, beta_artist, beta_week,
                                          phi, inflation, slope, x, inflated, x_artist,
                                          x_week)
            return (total, *grads)

        return run


_register_jax()
