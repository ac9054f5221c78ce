"""The ticket model's sampler parametrisations leave its prior as it is: the DMA effects
sampled along market size are ``beta_size s + ZeroSumNormal(sigma_dma)``, whitened feature
coefficients are ``Normal(0, I)``, and the partially centred, feature-shifted pair effects are
zero-sum ``Normal(0, sigma_pair)`` independent of the coefficients, whatever the centring of
each pair."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from scipy import stats

from bayescope.models.ticket_demand import (
    dma_centring,
    feature_whitening,
    forecast_log_mu,
    orthogonal_basis,
    pair_centring,
    pair_interaction,
    partially_centred_pair_effects,
    pointwise_loglik,
    row_dispersion,
    row_outcome,
    size_scaled_dma_effects,
)

DMA_SIZE = np.log(np.array([9.0, 4.0, 2.5, 1.2, 0.8, 0.5, 0.3]))


def _dma_effects_model(kappa: np.ndarray) -> tuple[Any, Any]:
    """``beta_size ~ N(0, 1)``, the signed scale ``scale ~ N(0, 1)`` and the DMA effects of
    :data:`DMA_SIZE` with centring ``kappa``: the log density without Jacobian terms (no
    variable is transformed) and the effects, both functions of a point."""
    with pm.Model(coords={"dma": range(DMA_SIZE.size)}) as model:
        beta_size = pm.Normal("beta_size", 0.0, 1.0)
        scale = pm.Normal("scale", 0.0, 1.0)
        delta = size_scaled_dma_effects(beta_size, scale, pt.as_tensor(DMA_SIZE),
                                        pt.as_tensor(orthogonal_basis(DMA_SIZE)), kappa)
    logp = model.compile_logp(jacobian=False)
    effects = model.compile_fn(model.replace_rvs_by_values([delta])[0],
                               inputs=model.value_vars, on_unused_input="ignore")
    return logp, effects


@pytest.mark.parametrize("kappa", [np.ones(6), np.zeros(6),
                                   np.random.default_rng(7).uniform(size=6)])
def test_dma_effects_along_size_have_the_zero_sum_normal_prior(kappa):
    # The map (w along size, u) -> e = delta - beta_size s is affine onto the zero-sum plane
    # with Jacobian prod_j sigma^(1 - kappa_j), so the model's log density minus the intended
    # one, N(beta_size) N(t) ZeroSumNormal(e; sigma = |t|), must be sum_j (1 - kappa_j)
    # log sigma at every point, whatever the centring and the sign of the scale t. (Prior
    # MCMC would not do: without data the centred form is a funnel.)
    logp, effects = _dma_effects_model(kappa)
    rng = np.random.default_rng(4)
    for t in (0.3, -0.3, 1.7, -0.05, 0.9, -2.2):
        point = {"beta_size": rng.normal(), "scale": t,
                 "size_slope_raw": rng.normal(0, 2), "u_dma_orthogonal": rng.normal(0, 2, 5)}
        b, s = point["beta_size"], abs(t)
        e = effects(point) - b * DMA_SIZE
        assert abs(e.sum()) < 1e-10
        intended = (stats.norm.logpdf(b) + stats.norm.logpdf(t)
                    - (e @ e) / (2 * s**2) - 6 * np.log(s) - 3 * np.log(2 * np.pi))
        np.testing.assert_allclose(logp(point) - intended, np.sum(1 - kappa) * np.log(s),
                                   atol=1e-8)


def test_a_signed_dma_scale_and_its_mirror_give_the_same_effects():
    """``(t, w)`` and ``(-t, mirrored w)`` are one model: the same effects and density, so
    the sampler may cross ``t = 0`` (``sigma_dma = 0``) without a boundary."""
    kappa = np.random.default_rng(3).uniform(size=6)
    logp, effects = _dma_effects_model(kappa)
    rng = np.random.default_rng(5)
    b = rng.normal()
    mean = np.concatenate([[b * np.linalg.norm(DMA_SIZE - DMA_SIZE.mean())], np.zeros(5)])
    w = rng.normal(0, 1, 6)
    point = {"beta_size": b, "scale": 0.4, "size_slope_raw": w[0], "u_dma_orthogonal": w[1:]}
    mirrored = 2 * kappa * mean - w  # w - kappa mu -> -(w - kappa mu)
    mirror = {"beta_size": b, "scale": -0.4, "size_slope_raw": mirrored[0],
              "u_dma_orthogonal": mirrored[1:]}
    np.testing.assert_allclose(effects(mirror), effects(point), atol=1e-12)
    np.testing.assert_allclose(logp(mirror), logp(point), atol=1e-10)


def test_dma_centring_follows_what_the_data_decide():
    """Centred where DMA effects beyond size are large against their noise, non-centred
    where there are none (Papaspiliopoulos et al.'s weight, estimated by moments)."""
    rng = np.random.default_rng(8)
    n_artists, n_dmas, n_weeks = 12, 40, 30
    size = rng.normal(size=n_dmas)
    basis = orthogonal_basis(size)

    def centring(sigma_dma: float) -> np.ndarray:
        effect = 0.5 * size + sigma_dma * rng.normal(size=n_dmas)
        rate = np.exp(1.0 + rng.normal(0, 0.5, (n_artists, 1)) + effect[None, :]
                      + rng.normal(0, 0.3, (n_artists, n_dmas)))
        tickets = rng.poisson(np.repeat(rate[:, :, None], n_weeks, axis=2)).astype(float)
        inputs = SimpleNamespace(tickets=tickets.ravel(), x=np.zeros((tickets.size, 0)),
                                 features=())
        return dma_centring(inputs, n_artists, basis)  # type: ignore[arg-type]

    strong, none = centring(0.8), centring(0.0)
    assert strong.shape == (n_dmas - 1,)
    assert np.median(strong[1:]) > 0.8
    assert np.all(none[1:] == 0.0)
    assert np.all((strong >= 0) & (strong <= 1))


def test_dma_centring_leaves_what_signal_features_explain_to_them():
    """DMA levels that a listing signal explains are not the DMA effect's (non-centred); the
    same levels explained only by earlier sales stay the effect's (centred)."""
    rng = np.random.default_rng(9)
    n_artists, n_dmas, n_weeks = 12, 40, 30
    size = rng.normal(size=n_dmas)
    basis = orthogonal_basis(size)
    level = rng.normal(size=n_dmas)
    rate = np.exp(1.0 + rng.normal(0, 0.5, (n_artists, 1)) + 0.5 * size + 0.8 * level
                  + rng.normal(0, 0.3, (n_artists, n_dmas)))
    tickets = rng.poisson(np.repeat(rate[:, :, None], n_weeks, axis=2)).astype(float)
    signal = level[None, :, None] + rng.normal(0, 0.5, (n_artists, n_dmas, n_weeks))

    def centring(feature: str) -> np.ndarray:
        inputs = SimpleNamespace(tickets=tickets.ravel(), x=signal.reshape(-1, 1),
                                 features=(feature,))
        return dma_centring(inputs, n_artists, basis)  # type: ignore[arg-type]

    assert np.all(centring("log_listings")[1:] < 0.1)
    assert np.median(centring("log_recent_sales")[1:]) > 0.8


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


@pytest.mark.parametrize("centring", ["half", "per pair"])
def test_partially_centred_pair_effects_have_the_zero_sum_normal_prior(centring):
    rng = np.random.default_rng(2)
    feature = pair_interaction(rng.normal(size=(3 * 4, 1)) * 2.0, 3, 4)[..., 0]
    kappa = 0.5 if centring == "half" else rng.uniform(size=(3, 4))
    with pm.Model(coords={"artist": range(3), "dma": range(4)}) as model:
        sigma = pm.HalfNormal("sigma", 1.0)
        slope = pm.Normal("slope", 0.0, 1.0)
        partially_centred_pair_effects(sigma, slope * pt.as_tensor(feature), kappa)
    # No potential: forward draws are draws of the prior.
    prior = pm.sample_prior_predictive(draws=40_000, model=model, random_seed=3)["prior"]
    pair = prior["pair_effect"].values.reshape(-1, 12)
    sigma_draws = prior["sigma"].values.ravel()
    slope_draws = prior["slope"].values.ravel()
    np.testing.assert_allclose(pair.reshape(-1, 3, 4).sum(axis=1), 0.0, atol=1e-8)
    np.testing.assert_allclose(pair.reshape(-1, 3, 4).sum(axis=2), 0.0, atol=1e-8)
    # Given sigma, |v|^2 / sigma^2 is chi-square on (3 - 1) x (4 - 1) = 6 degrees of freedom,
    # whatever the centring of each pair.
    scaled = (pair**2).sum(axis=1) / sigma_draws**2
    assert abs(scaled.mean() - 6.0) < 0.1
    assert abs(scaled.var() - 12.0) < 0.6
    # v independent of the slope (without the shift by kappa m, v . m moves with the slope).
    projection = pair @ feature.ravel() / sigma_draws
    assert abs(np.corrcoef(projection, slope_draws)[0, 1]) < 0.02


def test_pair_centring_follows_what_each_pair_holds():
    """Near the centred form where a pair's artist and market sell much, near the
    non-centred one where they sell nothing, and more centred for larger pair effects."""
    rng = np.random.default_rng(9)
    n_artists, n_dmas, n_weeks = 6, 20, 50
    rate = np.exp(np.linspace(-4, 2, n_artists)[:, None] + np.linspace(-3, 1, n_dmas)[None, :])
    tickets = rng.poisson(np.repeat(rate[:, :, None], n_weeks, axis=2)).astype(float)
    inputs = SimpleNamespace(tickets=tickets.ravel(), size=np.zeros(n_dmas))
    kappa = pair_centring(inputs, n_artists, 0.3)  # type: ignore[arg-type]
    assert kappa.shape == (n_artists, n_dmas)
    assert np.all((kappa >= 0) & (kappa <= 1))
    assert kappa[-1, -1] > 0.9 and kappa[0, 0] < 0.05
    # Rising with the artist's and the market's sales (up to the Poisson noise of the totals).
    assert np.all(np.diff(kappa[:, -1]) > -0.05) and np.all(np.diff(kappa[-1, :]) > -0.05)
    assert kappa[-1, -1] - kappa[-1, 0] > 0.3 and kappa[-1, -1] - kappa[0, -1] > 0.3
    assert np.all(pair_centring(inputs, n_artists, 0.6) >= kappa)  # type: ignore[arg-type]
    one_artist = SimpleNamespace(tickets=tickets[:1].ravel(), size=np.zeros(n_dmas))
    assert np.all(pair_centring(one_artist, 1, 0.3) == 0.0)  # type: ignore[arg-type]


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


def _hurdle_rows_and_draws() -> tuple[SimpleNamespace, dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(6)
    n_draws, n_rows = 4, 8
    rows = SimpleNamespace(
        artist=np.array([0, 1, 0, 1, 0, 1, 0, 1]), dma=np.array([0, 1, 1, 0, 0, 1, 1, 0]),
        x=np.column_stack([rng.normal(size=n_rows),
                           np.log1p(np.array([0, 0, 1, 2, 0, 1, 1, 0]))]),
        tickets=np.array([0.0, 3.0, 0.0, 7.0, 2.0, 0.0, 12.0, 0.0]),
        features=("streams_index", "log_events_listed"), n=n_rows, weeks_ahead=None)
    draws = {"alpha_artist": rng.normal(size=(n_draws, 2)),
             "delta_dma": rng.normal(size=(n_draws, 2)),
             "pair_effect": rng.normal(0, 0.3, size=(n_draws, 2, 2)),
             "beta": rng.normal(size=(n_draws, 2)), "phi": rng.gamma(2.0, size=(n_draws, 3)),
             "listed_zero_share": rng.uniform(0.05, 0.5, size=(n_draws, 3)),
             "dispersion_slope": rng.normal(0, 0.5, size=n_draws),
             "sale_phi": rng.gamma(2.0, size=(n_draws, 3)),
             "sale_dispersion_slope": rng.normal(0, 0.5, size=n_draws)}
    return rows, draws, np.array([2, 0])


def test_pointwise_loglik_is_the_zero_inflated_hurdle():
    """``pointwise_loglik`` against scipy's negative binomial: ``P0 = NB(0 | mu, phi0)`` at
    zero and ``(1 - P0) NB(y - 1 | m, phi)`` above it with ``m = mu / (1 - P0) - 1``,
    zero-inflated by ``pi`` on the listed weeks; a run saved before the hurdle keeps the
    plain negative binomial."""
    rows, draws, tier = _hurdle_rows_and_draws()
    got = pointwise_loglik(draws, rows, np.zeros(2), 2, tier)  # type: ignore[arg-type]
    mu = np.exp(forecast_log_mu(draws, rows, np.zeros(2), n_dmas=2))  # type: ignore[arg-type]
    phi = draws["phi"][:, tier[rows.artist]] * mu ** draws["dispersion_slope"][:, None]
    phi0 = (draws["sale_phi"][:, tier[rows.artist]]
            * mu ** draws["sale_dispersion_slope"][:, None])
    no_sale = stats.nbinom.pmf(0, phi0, phi0 / (phi0 + mu))
    m = mu / (1 - no_sale) - 1
    hurdle = np.where(rows.tickets == 0, no_sale,
                      (1 - no_sale) * stats.nbinom.pmf(rows.tickets - 1, phi, phi / (phi + m)))
    pi = draws["listed_zero_share"][:, tier[rows.artist]]
    listed = rows.x[:, 1] > 0
    expected = np.log(np.where(~listed, hurdle, np.where(
        rows.tickets == 0, pi + (1 - pi) * hurdle, (1 - pi) * hurdle)))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert 0 < listed.mean() < 1 and (rows.tickets[listed] == 0).any()
    assert np.all(m > 0)
    plain = {k: v for k, v in draws.items() if not k.startswith("sale_")}
    nb = stats.nbinom.pmf(rows.tickets, phi, phi / (phi + mu))
    zi_nb = np.log(np.where(~listed, nb, np.where(rows.tickets == 0, pi + (1 - pi) * nb,
                                                   (1 - pi) * nb)))
    np.testing.assert_allclose(pointwise_loglik(plain, rows, np.zeros(2), 2, tier),  # type: ignore[arg-type]
                               zi_nb, rtol=1e-10)


def _one_draw_repeated(n: int, **tier_values: list[list[float]]) -> tuple[Any, dict, Any, Any]:
    """The first draw of :func:`_hurdle_rows_and_draws` repeated ``n`` times, with the
    per-tier values given and a unit log-normal price, and a simulator of its rows:
    ``(rows, params, tier, simulator)``."""
    from bayescope.inference.ticket_prediction import TicketSimulator

    rows, draws, tier = _hurdle_rows_and_draws()
    one = {k: np.repeat(v[:1], n, axis=0) for k, v in draws.items()}
    for name, values in tier_values.items():
        one[name] = np.repeat(np.asarray(values, float), n, axis=0)
    one["price_artist"] = np.zeros((n, 2))
    one["gamma_size"], one["sigma_price"] = np.zeros(n), np.ones(n)
    panel = SimpleNamespace(**{**vars(rows), "take": lambda index: rows})
    simulator = TicketSimulator(panel, tier, np.zeros(2), np.zeros(2))  # type: ignore[arg-type]
    return rows, one, tier, simulator


def test_simulated_tickets_follow_the_hurdle():
    """The simulator's draws of each row: P(0) is ``pi + (1 - pi) P0``, the mean is ``(1 -
    pi) mu`` whatever ``phi0`` (small, middling or large), and the counts above one follow
    ``NB(m, phi)`` (chi-square over the first counts)."""
    n = 40_000
    rows, one, tier, simulator = _one_draw_repeated(n, sale_phi=[[0.02, 5.0, 0.3]])
    sample = simulator.simulate(one, np.arange(rows.n), np.random.default_rng(3))["tickets"]
    mu = np.exp(forecast_log_mu(one, rows, np.zeros(2), n_dmas=2))[0]  # type: ignore[arg-type]
    phi = one["phi"][0, tier[rows.artist]] * mu ** one["dispersion_slope"][0]
    phi0 = one["sale_phi"][0, tier[rows.artist]] * mu ** one["sale_dispersion_slope"][0]
    pi = one["listed_zero_share"][0, tier[rows.artist]] * (rows.x[:, 1] > 0)
    no_sale = stats.nbinom.pmf(0, phi0, phi0 / (phi0 + mu))
    p0 = pi + (1 - pi) * no_sale
    assert np.all(np.abs((sample == 0).mean(axis=0) - p0)
                  < 4 * np.sqrt(p0 * (1 - p0) / n) + 1e-3)
    np.testing.assert_allclose(sample.mean(axis=0), (1 - pi) * mu,
                               rtol=6 * (sample.std(axis=0) / np.sqrt(n) / mu).max())
    m = mu / (1 - no_sale) - 1
    tested = 0
    for i in range(rows.n):
        above = sample[:, i][sample[:, i] > 0] - 1
        counts = np.bincount(above.astype(int), minlength=5)[:5]
        expected = stats.nbinom.pmf(np.arange(5), phi[i], phi[i] / (phi[i] + m[i])) * above.size
        keep = expected > 20
        if keep.sum() < 2:
            continue
        tested += 1
        chi2 = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
        assert chi2 < stats.chi2.ppf(0.999, keep.sum()), (i, counts, expected)
    assert tested >= 4


def test_row_outcome_moments_match_the_simulated_tickets():
    """``RowOutcome.expected_tickets`` and ``tickets_variance`` against 200,000 simulated
    draws of each row, with the hurdle and without it (a run saved before it)."""
    n = 200_000
    rows, one, tier, simulator = _one_draw_repeated(n, phi=[[0.8, 2.0, 0.5]])
    for params in (one, {k: v for k, v in one.items() if not k.startswith("sale_")}):
        sample = simulator.simulate(params, np.arange(rows.n),
                                    np.random.default_rng(5))["tickets"]
        part = row_outcome(params, rows, np.zeros(2), 2, tier)  # type: ignore[arg-type]
        assert part.hurdle == ("sale_phi" in params)
        mean, variance = part.expected_tickets[0], part.tickets_variance[0]
        np.testing.assert_allclose(sample.mean(axis=0), mean,
                                   atol=5 * np.sqrt(variance.max() / n))
        np.testing.assert_allclose(sample.var(axis=0), variance, rtol=0.1)


def test_row_dispersion_grows_with_the_mean_and_runs_saved_before_the_slope_keep_theirs():
    """``phi_k exp(psi_h) mu^rho`` per row; a run without ``dispersion_slope`` (saved before
    it) keeps ``phi_k exp(psi_h)`` at every mean."""
    rows = SimpleNamespace(artist=np.array([0, 1, 1]), weeks_ahead=np.array([1, 2, 9]))
    tier = np.array([2, 0])
    draws = {"phi": np.array([[0.5, 1.0, 2.0], [0.4, 0.8, 1.6]]),
             "dispersion_weeks_ahead": np.array([[0.1, -0.1], [0.2, -0.2]])}
    log_mu = np.array([[0.0, 1.0, -2.0], [3.0, 0.5, 0.0]])
    old = row_dispersion(draws, rows, tier, log_mu)  # type: ignore[arg-type]
    expected_old = np.array([[2.0 * np.exp(0.1), 0.5 * np.exp(-0.1), 0.5 * np.exp(-0.1)],
                             [1.6 * np.exp(0.2), 0.4 * np.exp(-0.2), 0.4 * np.exp(-0.2)]])
    np.testing.assert_allclose(old, expected_old, rtol=1e-12)
    slope = np.array([0.3, 0.7])
    new = row_dispersion({**draws, "dispersion_slope": slope}, rows, tier,  # type: ignore[arg-type]
                         log_mu)
    np.testing.assert_allclose(new, expected_old * np.exp(slope[:, None] * log_mu), rtol=1e-12)


def test_model_likelihood_is_the_pointwise_form_with_dispersion_by_weeks_ahead(tmp_path):
    """The fused PyMC likelihood (every-cell term plus the weeks with sales) equals the sum of
    the NumPy ``pointwise_loglik`` over the training rows, with each week's dispersion
    ``phi_k exp(psi_h + rho log mu)`` at its weeks ahead ``h`` and mean ``mu``; static
    features have no ``psi``."""
    from bayescope.data.generate_tickets import generate_ticket_tables
    from bayescope.data.ticket_features import FEATURE_SETS
    from bayescope.data.ticket_panel import build_panels, popularity_tiers
    from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables
    from bayescope.models.ticket_demand import TicketModelInputs, build_ticket_model

    generated = generate_ticket_tables(5, np.random.default_rng(4), n_dmas=6, n_weeks=70)
    write_ticket_tables(generated.tables, tmp_path, "csv")
    tables = load_ticket_tables(tmp_path)
    origin = tables.weeks[-4]
    artists = np.asarray(sorted(popularity_tiers(tables, origin).index), dtype=object)
    static = build_panels(tables, artists, origin, 4, 40, FEATURE_SETS["static"])
    model = build_ticket_model(TicketModelInputs.from_panels(static), 5)
    assert "dispersion_weeks_ahead" not in model.named_vars
    for features, leads in (("dynamic", 4),):
        panels = build_panels(tables, artists, origin, 4, 40, FEATURE_SETS[features])
        inputs = TicketModelInputs.from_panels(panels)
        model = build_ticket_model(inputs, 5)
        assert ("dispersion_weeks_ahead" in model.named_vars) == bool(leads)
        names = ["alpha_artist", "delta_dma", "pair_effect", "beta", "phi",
                 "listed_zero_share", "dispersion_slope", "sale_phi",
                 "sale_dispersion_slope"] + (
                     ["dispersion_weeks_ahead"] if leads else [])
        outputs = model.compile_fn([model[n] for n in names] + [model["tickets_loglik"]],
                                   inputs=model.value_vars, on_unused_input="ignore")
        rng = np.random.default_rng(9)
        for _ in range(2):
            point = {v.name: rng.normal(0, 0.3, model.initial_point()[v.name].shape)
                     for v in model.value_vars}
            *values, total = outputs(point)
            params = {n: np.asarray(v)[None] for n, v in zip(names, values, strict=True)}
            if leads:
                assert params["dispersion_weeks_ahead"].shape == (1, leads)
                assert abs(params["dispersion_weeks_ahead"].sum()) < 1e-10
                assert np.ptp(params["dispersion_weeks_ahead"]) > 0
            assert params["dispersion_slope"][0] != 0
            assert params["sale_dispersion_slope"][0] != params["dispersion_slope"][0]
            train = panels.train
            expected = pointwise_loglik(params, train, inputs.feature_means, 6,
                                        panels.tier).sum()
            np.testing.assert_allclose(total, expected, rtol=1e-9)


def test_a_rebound_model_is_the_model_built_for_its_data(tmp_path):
    """A model built at one origin and rebound to another origin's panel
    (``rebind_ticket_model``) has the log density of the model built there:
    every value taken from the data is ``pm.Data``, named once in ``ticket_model_data``."""
    from bayescope.data.generate_tickets import generate_ticket_tables
    from bayescope.data.ticket_features import FEATURE_SETS
    from bayescope.data.ticket_panel import build_panels, popularity_tiers
    from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables
    from bayescope.models.ticket_demand import (
        TicketModelInputs,
        build_ticket_model,
        rebind_ticket_model,
        structure_key,
        ticket_model_data,
    )

    generated = generate_ticket_tables(5, np.random.default_rng(6), n_dmas=6, n_weeks=80)
    write_ticket_tables(generated.tables, tmp_path, "csv")
    tables = load_ticket_tables(tmp_path)
    artists = np.asarray(sorted(popularity_tiers(tables, tables.weeks[-12]).index),
                         dtype=object)

    def inputs_at(weeks_back: int) -> TicketModelInputs:
        panels = build_panels(tables, artists, tables.weeks[-weeks_back], 4, 40,
                              FEATURE_SETS["dynamic"])
        return TicketModelInputs.from_panels(panels)

    early, late = inputs_at(12), inputs_at(4)
    assert structure_key(early, 5) == structure_key(late, 5)
    assert not np.array_equal(early.tickets, late.tickets)
    model = build_ticket_model(early, 5)
    assert set(ticket_model_data(early, 5)) == {var.name for var in model.data_vars}
    rebound = rebind_ticket_model(model, late, 5, pair_scale=0.7)
    fresh = build_ticket_model(late, 5, pair_scale=0.7)
    rebound_logp, fresh_logp = rebound.compile_logp(), fresh.compile_logp()
    rng = np.random.default_rng(2)
    for _ in range(3):
        point = {v.name: rng.normal(0, 0.3, np.shape(value))
                 for v, value in zip(fresh.value_vars, fresh.initial_point().values(),
                                     strict=True)}
        np.testing.assert_allclose(rebound_logp(point), fresh_logp(point), rtol=1e-10)
    assert not np.isclose(build_ticket_model(early, 5).compile_logp()(point),
                          fresh_logp(point))
