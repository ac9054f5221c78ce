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

A, D, W, F, G, K = 3, 5, 7, 4, 2, 2
PARAMETERS = 9  # alpha, delta, pair, beta, beta_artist, beta_week, phi, inflation, slope;
# then data


def _arguments(seed: int = 0) -> list[np.ndarray]:
    """Kernel inputs: cell features of which a third of the (feature, artist, DMA) rows are
    zero in every week (as listings are for artist-DMAs without a show), with their activity
    mask; the zero-inflated cells; artist-week and week features; a dispersion slope on the
    mean that is not zero."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (F, A, D, W))
    x[rng.random((F, A, D)) < 1 / 3] = 0.0
    return [rng.normal(-1.0, 1.0, A), rng.normal(0.0, 0.5, D), rng.normal(0.0, 0.3, (A, D)),
            rng.normal(0.0, 0.3, F), rng.normal(0.0, 0.3, G), rng.normal(0.0, 0.3, K),
            np.exp(rng.normal(0.0, 0.5, (A, W))), rng.uniform(0.05, 0.4, A), np.array([0.4]), x,
            feature_activity(x),
            (rng.random((A, D, W)) < 0.3).astype(np.int8), rng.normal(0.0, 1.0, (G, A, W)),
            rng.normal(0.0, 1.0, (K, W))]


def _eta(arguments: list[np.ndarray]) -> np.ndarray:
    alpha, delta, pair, beta, beta_artist, beta_week, _, _, _, x, _, _, x_artist, x_week = (
        arguments)
    return (alpha[:, None, None] + delta[None, :, None] + pair[:, :, None]
            + np.tensordot(beta, x, axes=1) + np.tensordot(beta_artist, x_artist, axes=1)[
                :, None, :] + np.tensordot(beta_week, x_week, axes=1)[None, None, :])


def test_value_is_the_negative_binomial_log_probability_of_zero_sales() -> None:
    arguments = _arguments()
    phi, inflation, slope = arguments[6], arguments[7], arguments[8]
    active, inflated = arguments[10], arguments[11]
    assert 0 < active.mean() < 1
    eta = _eta(arguments)
    mu, size = np.exp(eta), phi[:, None, :] * np.exp(slope[0] * eta)
    nb_zero = stats.nbinom.pmf(0, size, size / (size + mu))
    listed = inflated == 1
    assert 0 < listed.mean() < 1
    pi = inflation[:, None, None]
    expected = np.log(np.where(listed, pi + (1 - pi) * nb_zero, nb_zero)).sum()
    value = zero_sales_loglik_kernel(*arguments)[0]
    assert float(value) == pytest.approx(expected, rel=1e-12)
    # Skipping the zero rows changes nothing: the same with every row marked active.
    dense = zero_sales_loglik_kernel(*arguments[:10], np.ones_like(active), *arguments[11:])
    for skipped, full in zip(zero_sales_loglik_kernel(*arguments), dense, strict=True):
        np.testing.assert_allclose(skipped, full, rtol=1e-12, atol=1e-14)


def test_gradients_match_finite_differences() -> None:
    arguments = _arguments(1)
    sizes = [v.size for v in arguments[:PARAMETERS]]
    shapes = [v.shape for v in arguments[:PARAMETERS]]

    def unpack(flat: np.ndarray) -> list[np.ndarray]:
        parts = np.split(flat, np.cumsum(sizes)[:-1])
        return [p.reshape(s) for p, s in zip(parts, shapes, strict=True)]

    def value(flat: np.ndarray) -> float:
        return float(zero_sales_loglik_kernel(*unpack(flat), *arguments[PARAMETERS:])[0])

    flat = np.concatenate([v.ravel() for v in arguments[:PARAMETERS]])
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
                 pt.dvector("beta"), pt.dvector("beta_artist"), pt.dvector("beta_week"),
                 pt.dmatrix("phi"), pt.dvector("inflation"), pt.dvector("slope")]
    total = zero_sales_loglik(*variables, *(pt.constant(v) for v in
                                            arguments[PARAMETERS:]))[0]
    # A graph on top of the op, so the gradient flows through the pullback.
    objective = 2.0 * total + pt.sum(variables[0] ** 2)
    gradients = list(pytensor.grad(objective, variables))
    function = pytensor.function(variables, [objective, *gradients], mode=mode)
    outputs = function(*arguments[:PARAMETERS])
    reference = zero_sales_loglik_kernel(*arguments)
    assert float(outputs[0]) == pytest.approx(2.0 * float(reference[0])
                                              + float(np.sum(arguments[0] ** 2)), rel=1e-10)
    np.testing.assert_allclose(outputs[1], 2.0 * reference[1] + 2.0 * arguments[0],
                               rtol=1e-10)
    for got, expected in zip(outputs[2:], reference[2:], strict=True):
        np.testing.assert_allclose(got, 2.0 * expected, rtol=1e-10, atol=1e-12)


def test_features_split_by_level_give_the_dense_value_and_gradient(tmp_path) -> None:
    """The model's grids (cell, artist-week and week features, uncentred, the centring in the
    artist term) give the value and beta gradient of all features on every cell, centred."""
    from bayescope.data.generate_tickets import generate_ticket_tables
    from bayescope.data.ticket_panel import build_panels, popularity_tiers
    from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables
    from bayescope.models.ticket_demand import TicketModelInputs, feature_grids

    generated = generate_ticket_tables(5, np.random.default_rng(4), n_dmas=6, n_weeks=60)
    write_ticket_tables(generated.tables, tmp_path, "csv")
    tables = load_ticket_tables(tmp_path)
    origin = tables.weeks[-4]
    artists = np.asarray(sorted(popularity_tiers(tables, origin).index), dtype=object)
    inputs = TicketModelInputs.from_panels(build_panels(tables, artists, origin, 4, 30))
    grids = feature_grids(inputs, 5, 6)
    n_features = len(inputs.features)
    assert grids.artist_week.size == 4 and grids.week.size == 2
    assert grids.x.shape[0] == n_features - 6
    rng = np.random.default_rng(0)
    alpha, delta = rng.normal(-2, 0.5, 5), rng.normal(0, 0.3, 6)
    pair, beta = rng.normal(0, 0.2, (5, 6)), rng.normal(0, 0.2, n_features)
    centred = np.ascontiguousarray(np.moveaxis(inputs.x.reshape(5, 6, -1, n_features), 3, 0))
    phi = np.exp(rng.normal(0, 0.3, (5, centred.shape[3])))
    empty, slope = np.zeros(0), np.array([0.3])
    none, row = np.zeros(5), np.zeros(centred.shape[1:], np.int8)
    dense = zero_sales_loglik_kernel(alpha, delta, pair, beta, empty, empty, phi, none, slope,
                                     centred, feature_activity(centred), row,
                                     np.zeros((0, 5, centred.shape[3])),
                                     np.zeros((0, centred.shape[3])))
    split = zero_sales_loglik_kernel(
        alpha - beta @ inputs.feature_means, delta, pair, beta[grids.cell],
        beta[grids.artist_week], beta[grids.week], phi, none, slope, grids.x,
        feature_activity(grids.x), row, grids.x_artist_week, grids.x_week)
    assert float(split[0]) == pytest.approx(float(dense[0]), rel=1e-10)
    for k in (1, 2, 3, 7, 9):
        np.testing.assert_allclose(split[k], dense[k], rtol=1e-9, atol=1e-12)
    grad_beta = np.zeros(n_features)
    grad_beta[grids.cell], grad_beta[grids.artist_week] = split[4], split[5]
    grad_beta[grids.week] = split[6]
    # d/dbeta through the moved centring: -feature_means * dL/dalpha summed over artists.
    grad_beta -= inputs.feature_means * split[1].sum()
    np.testing.assert_allclose(grad_beta, dense[4], rtol=1e-8, atol=1e-10)
