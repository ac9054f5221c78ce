"""The ticket model's sampler parametrisations leave its prior as it is: the DMA effects
sampled along market size are ``beta_size s + ZeroSumNormal(sigma_dma)``, whitened feature
coefficients are ``Normal(0, I)``, and the partially centred, feature-shifted pair effects are
zero-sum ``Normal(0, sigma_pair)`` independent of the coefficients."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import nutpie
import pymc as pm
import pytensor.tensor as pt
from scipy import stats

from bayescope.models.ticket_demand import (
    feature_whitening,
    forecast_log_mu,
    orthogonal_basis,
    pair_interaction,
    partially_centred_pair_effects,
    pointwise_loglik,
    size_scaled_dma_effects,
)


def test_dma_effects_along_size_have_the_zero_sum_normal_prior():
    # The map (size_slope, u) -> e = delta - beta_size s is linear onto the zero-sum plane
    # with a constant Jacobian, so the model's log density minus the intended one,
    # N(beta_size) HalfN(sigma) ZeroSumNormal(e; sigma), must be the same at every point.
    # (Prior MCMC would not do: without data the centred form is a funnel.)
    size = np.log(np.array([9.0, 4.0, 2.5, 1.2, 0.8, 0.5, 0.3]))
    with pm.Model(coords={"dma": range(size.size)}) as model:
        beta_size = pm.Normal("beta_size", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        delta = size_scaled_dma_effects(beta_size, sigma, pt.as_tensor(size),
                                        pt.as_tensor(orthogonal_basis(size)))
    logp = model.compile_logp(jacobian=False)
    effects = model.compile_fn(model.replace_rvs_by_values([delta])[0],
                               inputs=model.value_vars, on_unused_input="ignore")
    rng = np.random.default_rng(4)
    gaps = []
    for _ in range(6):
        point = {"beta_size": rng.normal(), "sigma_log__": rng.normal(0, 0.7),
                 "size_slope": rng.normal(0, 2), "u_dma_orthogonal": rng.normal(0, 2, 5)}
        b, s = point["beta_size"], np.exp(point["sigma_log__"])
        e = effects(point) - b * size
        assert abs(e.sum()) < 1e-10
        intended = (stats.norm.logpdf(b) + stats.halfnorm.logpdf(s)
                    - (e @ e) / (2 * s**2) - 6 * np.log(s) - 3 * np.log(2 * np.pi))
        gaps.append(logp(point) - intended)
    np.testing.assert_allclose(gaps, gaps[0], atol=1e-8)
    np.testing.assert_allclose(gaps[0], np.log(np.linalg.norm(size - size.mean())), atol=1e-8)


def test_whitening_carries_the_unit_prior_of_the_coefficients():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(500, 3))
    x = np.column_stack([base, base[:, 0] * 0.95 + 0.05 * rng.normal(size=500),
                         np.zeros(500)])  # a near copy and a constant feature
    prior_chol, unwhiten = feature_whitening(x)
    prior_cov = prior_chol @ prior_chol.T
    np.testing.assert_allclose(unwhiten @ prior_cov @ unwhiten.T, np.eye(5), atol=1e-6)
    # x beta = (x unwhiten) theta: the features theta multiplies are uncorrelated.
    whitened = (x - x.mean(axis=0)) @ unwhiten
    cov = np.cov(whitened[:, :4], rowvar=False)
    np.testing.assert_allclose(cov, np.eye(4), atol=1e-6)


def test_pair_interaction_is_zero_sum_over_artists_and_dmas():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3 * 4 * 5, 2)) + np.repeat(rng.normal(size=(12, 2)), 5, axis=0)
    means = pair_interaction(x, 3, 4)
    assert means.shape == (3, 4, 2)
    np.testing.assert_allclose(means.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(means.sum(axis=1), 0.0, atol=1e-12)
    raw = x.reshape(3, 4, 5, 2).mean(axis=2)
    np.testing.assert_allclose(np.diff(raw - means, axis=0)[:, 1:] - np.diff(
        raw - means, axis=0)[:, :-1], 0.0, atol=1e-12)  # only margins removed


def test_partially_centred_pair_effects_have_the_zero_sum_normal_prior():
    rng = np.random.default_rng(2)
    feature = pair_interaction(rng.normal(size=(3 * 4, 1)) * 2.0, 3, 4)[..., 0]
    with pm.Model(coords={"artist": range(3), "dma": range(4)}) as model:
        sigma = pm.HalfNormal("sigma", 1.0)
        slope = pm.Normal("slope", 0.0, 1.0)
        partially_centred_pair_effects(sigma, slope * pt.as_tensor(feature))
    idata = nutpie.sample(nutpie.compile_pymc_model(model), chains=4, draws=3000, tune=1000,
                          seed=3, progress_bar=False)
    post = idata["posterior"]
    pair = post["pair_effect"].values.reshape(-1, 12)
    sigma_draws = post["sigma"].values.ravel()
    slope_draws = post["slope"].values.ravel()
    np.testing.assert_allclose(pair.sum(axis=1), 0.0, atol=1e-8)
    # Given sigma, |v|^2 / sigma^2 is chi-square on (3 - 1) x (4 - 1) = 6 degrees of freedom.
    scaled = (pair**2).sum(axis=1) / sigma_draws**2
    assert abs(scaled.mean() - 6.0) < 0.4
    # Prior margins unchanged, and v independent of the slope (without the density
    # correction v . m correlates with the slope at about -0.5).
    assert abs(np.mean(sigma_draws) - np.sqrt(2 / np.pi)) < 0.05
    assert abs(np.std(slope_draws) - 1.0) < 0.08
    projection = pair @ feature.ravel()
    assert abs(np.corrcoef(projection, slope_draws)[0, 1]) < 0.08


def test_forecasts_read_runs_saved_before_the_reparametrisation():
    # Runs saved earlier hold sigma_pair and z_pair instead of pair_effect.
    rng = np.random.default_rng(5)
    rows = SimpleNamespace(artist=np.array([0, 1, 2, 1]), dma=np.array([3, 0, 1, 1]),
                           x=rng.normal(size=(4, 2)))
    draws = {"alpha_artist": rng.normal(size=(5, 3)), "delta_dma": rng.normal(size=(5, 4)),
             "beta": rng.normal(size=(5, 2)), "sigma_pair": rng.gamma(2.0, size=5),
             "z_pair": rng.normal(size=(5, 3, 4))}
    old = forecast_log_mu(draws, rows, np.zeros(2), n_dmas=4)  # type: ignore[arg-type]
    new = forecast_log_mu({**draws, "pair_effect": draws["sigma_pair"][:, None, None]
                           * draws["z_pair"]}, rows, np.zeros(2), n_dmas=4)  # type: ignore[arg-type]
    np.testing.assert_allclose(old, new)
    expected = (draws["alpha_artist"][:, [0, 1, 2, 1]] + draws["delta_dma"][:, [3, 0, 1, 1]]
                + draws["sigma_pair"][:, None] * draws["z_pair"][:, [0, 1, 2, 1], [3, 0, 1, 1]]
                + draws["beta"] @ rows.x.T)
    np.testing.assert_allclose(new, expected)


def test_pointwise_loglik_is_the_zero_inflated_negative_binomial():
    """``pointwise_loglik`` against scipy's negative binomial: plain off the listed weeks,
    ``log(pi + (1 - pi) NB(0))`` at zero and ``log(1 - pi) + log NB(y)`` above it on them."""
    rng = np.random.default_rng(6)
    n_draws, n_rows = 4, 8
    rows = SimpleNamespace(
        artist=np.array([0, 1, 0, 1, 0, 1, 0, 1]), dma=np.array([0, 1, 1, 0, 0, 1, 1, 0]),
        x=np.column_stack([rng.normal(size=n_rows),
                           np.log1p(np.array([0, 0, 1, 2, 0, 1, 1, 0]))]),
        tickets=np.array([0.0, 3.0, 0.0, 7.0, 2.0, 0.0, 12.0, 0.0]),
        features=("streams_index", "log_events_listed"), n=n_rows)
    draws = {"alpha_artist": rng.normal(size=(n_draws, 2)),
             "delta_dma": rng.normal(size=(n_draws, 2)),
             "pair_effect": rng.normal(0, 0.3, size=(n_draws, 2, 2)),
             "beta": rng.normal(size=(n_draws, 2)), "phi": rng.gamma(2.0, size=(n_draws, 3)),
             "listed_zero_share": rng.uniform(0.05, 0.5, size=(n_draws, 3))}
    tier = np.array([2, 0])
    got = pointwise_loglik(draws, rows, np.zeros(2), 2, tier)  # type: ignore[arg-type]
    mu = np.exp(forecast_log_mu(draws, rows, np.zeros(2), n_dmas=2))  # type: ignore[arg-type]
    phi = draws["phi"][:, tier[rows.artist]]
    nb = stats.nbinom.logpmf(rows.tickets, phi, phi / (phi + mu))
    pi = draws["listed_zero_share"][:, tier[rows.artist]]
    listed = rows.x[:, 1] > 0
    expected = np.where(~listed, nb, np.where(
        rows.tickets == 0, np.log(pi + (1 - pi) * np.exp(nb)), np.log1p(-pi) + nb))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert 0 < listed.mean() < 1 and (rows.tickets[listed] == 0).any()
