"""Drivers of short-term streaming growth: a hierarchical Bayesian regression with heavy tails.

For artist ``a`` (popularity tier ``k(a)``) and week ``t``, with the candidate drivers
``x_at`` and the momentum controls ``c_at`` (:mod:`bayescope.data.stream_growth`) standardised
on the training rows:

    growth_at ~ StudentT(nu, mu_at, sigma)
    mu_at     = alpha_a + c_at . gamma + x_at . beta_k(a)
    alpha_a   ~ Normal(alpha_k(a), sigma_artist)           (artists pooled by tier)
    beta_k    = beta + d_k,  d ~ ZeroSumNormal(s / 4) over tiers  (effects pooled over tiers)

``beta_j`` is driver ``j``'s effect of a one-sd change on the log growth, beyond the
artist's own lagged growth and level (``gamma``) and its stable level of growth
(``alpha_a``). The controls enter as deviations from the artist's own mean: an artist's
stream level is otherwise almost all between artists and trades places with ``alpha_a``
(R-hat 1.11, bulk ESS 26 in a first version); as deviations they carry the momentum the
drivers must beat (Mundlak 1978). Priors, on the scale ``s`` of the growth's sd:
``alpha_k, beta, gamma ~ Normal(0, s)``, ``sigma, sigma_artist ~ HalfNormal(s)``, ``nu ~
Gamma(2, 0.1)`` (Juarez & Steel 2010).

The **within-artist** specification subtracts each artist's means from the growth and every
feature, so that only changes within an artist identify an effect (stable differences between
artists, e.g. bigger artists posting more, drop out): the same likelihood without
``alpha``, with one ``beta`` (:func:`build_within_model`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayescope.data.ticket_panel import TIERS

GATED = ("beta", "gamma", "sigma", "nu", "sigma_artist", "tier_deviation")
TIER_SCALE = 0.25
"""Prior sd of a tier's deviation from a driver's average effect, in growth sds."""


@dataclass(frozen=True)
class GrowthInputs:
    """Standardised design and target (the scaling kept to apply to forecast rows)."""

    drivers: np.ndarray
    controls: np.ndarray
    growth: np.ndarray
    artist: np.ndarray
    tier: np.ndarray
    driver_mean: np.ndarray
    driver_sd: np.ndarray
    control_mean: np.ndarray
    """Per artist: the controls enter as within-artist deviations."""
    control_sd: np.ndarray

    @classmethod
    def standardised(cls, drivers: np.ndarray, controls: np.ndarray, growth: np.ndarray,
                     artist: np.ndarray, tier: np.ndarray) -> GrowthInputs:
        """Centre and scale every feature on these rows (a constant one keeps sd 1); the
        controls are first taken as deviations from each artist's mean (module docstring)."""
        means = artist_means(controls, artist, tier.size)
        controls = controls - means[artist]
        d_mean, d_sd = drivers.mean(axis=0), _sd(drivers)
        c_sd = _sd(controls)
        return cls((drivers - d_mean) / d_sd, controls / c_sd, growth, artist, tier, d_mean,
                   d_sd, means, c_sd)

    def scale(self, drivers: np.ndarray, controls: np.ndarray, artist: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
        """Other rows (the forecast's, of artists ``artist``) on the training scale; a
        missing value (a signal not measured yet) is the training mean, 0."""
        return (np.nan_to_num((drivers - self.driver_mean) / self.driver_sd),
                np.nan_to_num((controls - self.control_mean[artist]) / self.control_sd))


def artist_means(values: np.ndarray, artist: np.ndarray, n_artists: int) -> np.ndarray:
    """``(artists, columns)`` mean of each column over each artist's rows; an artist without
    rows gets the mean over all rows."""
    counts = np.bincount(artist, minlength=n_artists).astype(float)
    means = np.column_stack([np.bincount(artist, values[:, j], minlength=n_artists)
                             / np.maximum(counts, 1.0) for j in range(values.shape[1])])
    means[counts == 0] = values.mean(axis=0)
    return means


def _sd(values: np.ndarray) -> np.ndarray:
    sd = values.std(axis=0)
    return np.where(sd > 0, sd, 1.0)


def build_growth_model(inputs: GrowthInputs, driver_names: list[str],
                       control_names: list[str]) -> pm.Model:
    """The hierarchical model of the module docstring."""
    scale = float(max(inputs.growth.std(), 1e-3))
    n_artists = int(inputs.tier.size)
    coords = {"driver": driver_names, "control": control_names, "tier": list(TIERS),
              "artist": np.arange(n_artists)}
    with pm.Model(coords=coords) as model:
        # Artist levels non-centred: on streams with no lasting artist-level growth
        # ``sigma_artist`` nears 0 (centred, R-hat 2.09).
        alpha_tier = pm.Normal("alpha_tier", 0.0, scale, dims="tier")
        sigma_artist = pm.HalfNormal("sigma_artist", scale)
        alpha_raw = pm.Normal("alpha_raw", 0.0, 1.0, dims="artist")
        alpha = pm.Deterministic("alpha", alpha_tier[inputs.tier] + sigma_artist * alpha_raw,
                                 dims="artist")
        beta = pm.Normal("beta", 0.0, scale, dims="driver")
        # Tier deviations with a fixed scale: three tiers say nothing about a learnt one,
        # which then funnels to 0 (learnt tau: R-hat 1.09-1.61 and 47-129 divergences in
        # 1,000 draws, centred or not). Zero-sum, so ``beta`` is the tiers' average.
        # ZeroSumNormal sums to zero over its last axis: tiers last.
        deviation = pm.ZeroSumNormal("tier_deviation", sigma=scale * TIER_SCALE,
                                     dims=("driver", "tier"), n_zerosum_axes=1)
        beta_tier = pm.Deterministic("beta_tier", beta[None, :] + deviation.T,
                                     dims=("tier", "driver"))
        gamma = pm.Normal("gamma", 0.0, scale, dims="control")
        sigma = pm.HalfNormal("sigma", scale)
        nu = pm.Gamma("nu", 2.0, 0.1)
        tier_of_row = inputs.tier[inputs.artist]
        mu = (alpha[inputs.artist] + pt.dot(inputs.controls, gamma)
              + pt.sum(inputs.drivers * beta_tier[tier_of_row], axis=1))
        pm.StudentT("growth", nu=nu, mu=mu, sigma=sigma, observed=inputs.growth)
    return model


def build_within_model(inputs: GrowthInputs, driver_names: list[str],
                       control_names: list[str]) -> pm.Model:
    """The within-artist specification (module docstring)."""
    def demean(values: np.ndarray) -> np.ndarray:
        return values - artist_means(values, inputs.artist, inputs.tier.size)[inputs.artist]

    y = demean(inputs.growth[:, None])[:, 0]
    x, c = demean(inputs.drivers), demean(inputs.controls)
    scale = float(max(y.std(), 1e-3))
    with pm.Model(coords={"driver": driver_names, "control": control_names}) as model:
        beta = pm.Normal("beta", 0.0, scale, dims="driver")
        gamma = pm.Normal("gamma", 0.0, scale, dims="control")
        sigma = pm.HalfNormal("sigma", scale)
        nu = pm.Gamma("nu", 2.0, 0.1)
        pm.StudentT("growth", nu=nu, mu=pt.dot(x, beta) + pt.dot(c, gamma), sigma=sigma,
                    observed=y)
    return model


def predictive_growth(params: dict[str, np.ndarray], drivers: np.ndarray,
                      controls: np.ndarray, artist: np.ndarray, tier: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """``(draws, rows)`` posterior predictive growth of standardised rows: StudentT draws
    around ``mu`` of each posterior draw."""
    alpha = params["alpha"][:, artist]
    beta_tier = params["beta_tier"][:, tier[artist], :]
    mu = alpha + params["gamma"] @ controls.T + np.einsum("drj,rj->dr", beta_tier, drivers)
    nu, sigma = params["nu"][:, None], params["sigma"][:, None]
    return mu + sigma * rng.standard_t(np.broadcast_to(nu, mu.shape))
