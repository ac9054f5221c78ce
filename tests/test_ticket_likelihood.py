"""The fused zero-sales term of the ticket likelihood: its value is scipy's negative binomial
at zero, its gradients are the finite differences of its value, and the NumPy, Numba and
(when installed) JAX implementations agree inside a compiled model."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import optimize, stats

from bayescope.models.ticket_likelihood import (
    feature_activity,
    zero_sales_loglik,
    zero_sales_loglik_kernel,
)

A, D, W, F = 3, 5, 7, 4


def _arguments(seed: int = 0) -> list[np.ndarray]:
    """Kernel inputs; a third of the (feature, artist, DMA) rows are zero in every week (as
    listings are for artist-DMAs without a show), with their activity mask."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (F, A, D, W))
    x[rng.random((F, A, D)) < 1 / 3] = 0.0
    return [rng.normal(-1.0, 1.0, A), rng.normal(0.0, 0.5, D), rng.normal(0.0, 0.3, (A, D)),
            rng.normal(0.0, 0.3, F), np.exp(rng.normal(0.0, 0.5, A)), x, feature_activity(x)]


def test_value_is_the_negative_binomial_log_probability_of_zero_sales() -> None:
    alpha, delta, pair, beta, phi, x, active = _arguments()
    assert 0 < active.mean() < 1
    eta = (alpha[:, None, None] + delta[None, :, None] + pair[:, :, None]
           + np.tensordot(beta, x, axes=1))
    mu, size = np.exp(eta), phi[:, None, None]
    expected = stats.nbinom.logpmf(0, size, size / (size + mu)).sum()
    value = zero_sales_loglik_kernel(alpha, delta, pair, beta, phi, x, active)[0]
    assert float(value) == pytest.approx(expected, rel=1e-12)
    # Skipping the zero rows changes nothing: the same with every row marked active.
    dense = zero_sales_loglik_kernel(alpha, delta, pair, beta, phi, x, np.ones_like(active))
    for skipped, full in zip(zero_sales_loglik_kernel(alpha, delta, pair, beta, phi, x,
                                                      active), dense, strict=True):
        np.testing.assert_allclose(skipped, full, rtol=1e-12, atol=1e-14)


def test_gradients_match_finite_differences() -> None:
    arguments = _arguments(1)
    sizes = [v.size for v in arguments[:5]]
    shapes = [v.shape for v in arguments[:5]]

    def unpack(flat: np.ndarray) -> list[np.ndarray]:
        parts = np.split(flat, np.cumsum(sizes)[:-1])
        return [p.reshape(s) for p, s in zip(parts, shapes, strict=True)]

    def value(flat: np.ndarray) -> float:
        return float(zero_sales_loglik_kernel(*unpack(flat), *arguments[5:])[0])

    flat = np.concatenate([v.ravel() for v in arguments[:5]])
    analytic = np.concatenate([g.ravel() for g in
                               zero_sales_loglik_kernel(*arguments)[1:]])
    numeric = optimize.approx_fprime(flat, value, 1e-7)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "NUMBA", "JAX"])
def test_backends_agree_on_value_and_gradient(mode: str) -> None:
    if mode == "JAX":
        pytest.importorskip("jax")
    arguments = _arguments(2)
    variables = [pt.dvector("alpha"), pt.dvector("delta"), pt.dmatrix("pair"),
                 pt.dvector("beta"), pt.dvector("phi")]
    total = zero_sales_loglik(*variables, pt.constant(arguments[5]),
                              pt.constant(arguments[6]))[0]
    # A graph on top of the op, so the gradient flows through the pullback.
    objective = 2.0 * total + pt.sum(variables[0] ** 2)
    gradients = list(pytensor.grad(objective, variables))
    function = pytensor.function(variables, [objective, *gradients], mode=mode)
    outputs = function(*arguments[:5])
    reference = zero_sales_loglik_kernel(*arguments)
    assert float(outputs[0]) == pytest.approx(2.0 * float(reference[0])
                                              + float(np.sum(arguments[0] ** 2)), rel=1e-10)
    np.testing.assert_allclose(outputs[1], 2.0 * reference[1] + 2.0 * arguments[0],
                               rtol=1e-10)
    for got, expected in zip(outputs[2:], reference[2:], strict=True):
        np.testing.assert_allclose(got, 2.0 * expected, rtol=1e-10, atol=1e-12)
