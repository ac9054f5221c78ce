"""Hierarchical negative binomial of weekly secondary-market tickets, artist x DMA x week,
with a log-normal price per ticket for the order value.

For artist ``a`` (popularity tier ``k(a)``), DMA ``d`` (centred log market size ``s_d``) and
week ``w`` with lag-``H`` features ``x_adw`` (:mod:`bayescope.data.ticket_features`, centred
on their training means ``m``):

    tickets_adw ~ NegBinomial(mu_adw, phi_k(a))          (mean mu, variance mu + mu^2 / phi)
    log mu_adw = alpha_a + delta_d + v_ad + (x_adw - m) . beta
    alpha_a ~ Normal(alpha + lambda q_a, sigma_artist)         (artist, pooled)
    delta_d = beta_size s_d + sigma_dma z_d                    (DMA, scaled by market size)
    v_ad = sigma_pair z_ad                                     (artist x DMA affinity)

Artist effects are centred (each artist has hundreds of weeks of data) around a regression on
popularity; the DMA and pair effects are non-centred (``z ~ Normal(0, 1)``; a DMA's effect is
learnt from a handful of artists' pairs, a pair's from its few weeks with sales, and the
centred form sat in a funnel, one chain stuck at R-hat 2.05). The pair deviations ``z_ad``
are a ``ZeroSumNormal`` over both axes, so the artist and DMA effects are the row and column
means and the pair effects only the interaction: with free pair means ``sigma_dma`` had a
bulk ESS of 95 in 4,000 draws (DMA and pair effects trading places); the generator draws its
pair effects the same way. The DMA deviations sum to zero too (the intercept is then the
average market's; bulk ESS of ``sigma_dma`` 158 -> 215 per 1,000 draws).

The zero-sum ``z`` is split along the market size: ``z = (z . s / |s|^2) s + Q u`` with
``Q`` an orthonormal basis of the vectors orthogonal to ``1`` and ``s``, so

    delta_d = c s_d + sigma_dma (Q u)_d,    c ~ Normal(beta_size, sigma_dma / |s|),
    u ~ Normal(0, I_{D-2}),

which is the same prior, exactly. The data pin the DMA effects, hence their slope ``c`` on
size; in the plain non-centred form moving ``beta_size`` meant moving all ``z_d`` together
along ``s`` (bulk ESS 7 for ``beta_size`` in 1,200 draws at 210 DMAs), here it is one
centred coordinate.

On the weeks with tickets, the price per ticket is

    log(order_value / tickets)_adw ~ Normal(pi_a + gamma_size s_d, sigma_price),
    pi_a = pi + pi_pop q_a + sigma_price_artist y_a,

where ``q_a`` is the artist's popularity before the origin (centred log mean weekly streams).
Popularity tiers (top 10% / next 30% / rest by streams) set the dispersion only: the artist
means regress on the continuous popularity instead, because a tier mean over the one to five
artists a tier holds in a sample is a ridge with the artist deviations (R-hat 1.12 and bulk
ESS 13 in a first version).

Priors: ``alpha ~ Normal(log mean tickets per row, 3)``, ``lambda, beta, beta_size ~
Normal(0, 1)``,
scales ``HalfNormal(1)``, ``log phi_k ~ Normal(0, 1)``; ``pi ~ Normal(mean log price, 2)``,
``pi_pop, gamma_size ~ Normal(0, 0.5)``, ``sigma_price_artist ~ HalfNormal(0.5)``,
``sigma_price ~ HalfNormal(1)``. ``alpha_raw`` and ``artist_effect`` are reported on the raw
(uncentred) feature scale, ``alpha - m . beta``, the scale of the generator's truth.

Raw PyMC, not bambi: bambi's formula ``tickets ~ x + (1|artist) + (1|dma) + (1|artist:dma)``
with ``family="negativebinomial"`` gives the same mean structure but one dispersion, no
market-size-scaled DMA effect and, above all, evaluates the full negative binomial on every
row through gathered indices. Most artist-DMA-weeks sell nothing, and for ``y = 0`` the
log-probability is just ``-phi log(1 + mu / phi)``; here that term is computed for every cell
of the dense (artist, DMA, week) grid in one fused pass
(:mod:`bayescope.models.ticket_likelihood`), and the rest of the negative binomial only for
the weeks with sales. Same posterior; at 655,200 cells one gradient of the whole model takes
10 ms, against 20 ms with the every-cell term as a broadcast PyTensor graph and about 70 ms
for the row-wise negative binomial.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayescope.data.ticket_features import FEATURES
from bayescope.data.ticket_panel import TIERS, PanelPair, TicketPanel
from bayescope.models.ticket_likelihood import zero_sales_loglik

Params = Mapping[str, np.ndarray]
SCALARS = ("alpha_raw", "artist_popularity", "beta_size", "sigma_artist", "sigma_dma",
           "sigma_pair", "price_mean", "price_popularity", "gamma_size", "sigma_price_artist",
           "sigma_price")
VECTORS = ("beta", "phi")
GATED = (*SCALARS, *VECTORS)


@dataclass(frozen=True)
class TicketModelInputs:
    """Arrays the PyMC model needs, from a training panel."""

    artist: np.ndarray
    dma: np.ndarray
    pair: np.ndarray
    x: np.ndarray
    tickets: np.ndarray
    log_price: np.ndarray
    tier: np.ndarray
    popularity: np.ndarray
    size: np.ndarray
    feature_means: np.ndarray

    @classmethod
    def from_panels(cls, panels: PanelPair) -> TicketModelInputs:
        """Training rows (observed weeks only), features centred on their means."""
        train = panels.train
        keep = train.observed
        x = train.x[keep]
        means = x.mean(axis=0)
        tickets = train.tickets[keep]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_price = np.where(tickets > 0, np.log(train.order_value[keep] / tickets), np.nan)
        n_dmas = panels.size.size
        return cls(train.artist[keep], train.dma[keep], train.artist[keep] * n_dmas
                   + train.dma[keep], x - means, tickets, log_price, panels.tier,
                   panels.popularity, panels.size, means)


def build_ticket_model(inputs: TicketModelInputs, n_artists: int) -> pm.Model:
    """The PyMC model of the module docstring.

    ``inputs`` must hold the full (artist, DMA, week) grid in that order (a training panel).
    """
    n_dmas = inputs.size.size
    if inputs.tickets.size % (n_artists * n_dmas):
        raise ValueError("the training rows are not a full artist x DMA x week grid")
    priced = (inputs.tickets > 0) & np.isfinite(inputs.log_price)
    mean_rate = max(float(inputs.tickets.mean()), 1e-4)
    mean_log_price = float(np.mean(inputs.log_price[priced])) if priced.any() else 4.0
    # Everything that depends on the data is pm.Data, so a compiled model can be reused for
    # another origin with the same artists and DMAs (the backtest swaps data, not graphs).
    coords = {"artist": np.arange(n_artists), "dma": np.arange(n_dmas),
              "feature": list(FEATURES),
              "tier": list(TIERS)}
    with pm.Model(coords=coords) as model:
        tier = pm.Data("tier_of_artist", inputs.tier)
        size = pm.Data("size", inputs.size)
        alpha_mean = pm.Normal("alpha", pm.Data("prior_log_rate", np.log(mean_rate)), 3.0)
        sigma_artist = pm.HalfNormal("sigma_artist", 1.0)
        artist_popularity = pm.Normal("artist_popularity", 0.0, 1.0)
        popularity = pm.Data("popularity", inputs.popularity)
        alpha = pm.Normal("alpha_artist", alpha_mean + artist_popularity * popularity,
                          sigma_artist, dims="artist")
        beta_size = pm.Normal("beta_size", 0.0, 1.0)
        sigma_dma = pm.HalfNormal("sigma_dma", 1.0)
        # delta = beta_size s + sigma_dma z with z zero-sum, split along s (see docstring):
        # the slope of delta on s is sampled centred, the deviations orthogonal to s
        # non-centred. The same prior, without the ridge between beta_size and z . s.
        centred_size = size - size.mean()
        size_slope = pm.Normal("size_slope", beta_size, sigma_dma / pt.linalg.norm(centred_size))
        z_dma = pm.Normal("z_dma_orthogonal", 0.0, 1.0, shape=n_dmas - 2)
        basis = pm.Data("dma_orthogonal_basis", orthogonal_basis(inputs.size))
        delta = pm.Deterministic("delta_dma", beta_size * size.mean() + size_slope * centred_size
                                 + sigma_dma * pt.dot(basis, z_dma), dims="dma")
        sigma_pair = pm.HalfNormal("sigma_pair", 1.0)
        z_pair = pm.ZeroSumNormal("z_pair", 1.0, dims=("artist", "dma"), n_zerosum_axes=2)
        beta = pm.Normal("beta", 0.0, 1.0, dims="feature")
        log_phi = pm.Normal("log_phi", 0.0, 1.0, dims="tier")
        phi = pm.Deterministic("phi", pt.exp(log_phi), dims="tier")
        offset = pt.dot(beta, pm.Data("feature_means", inputs.feature_means))
        pm.Deterministic("alpha_raw", alpha_mean - offset)
        pm.Deterministic("artist_effect", alpha - offset, dims="artist")

        pair = sigma_pair * z_pair
        n_weeks = inputs.tickets.size // (n_artists * n_dmas)
        grid = np.moveaxis(inputs.x.reshape(n_artists, n_dmas, n_weeks, len(FEATURES)), 3, 0)
        every_cell = zero_sales_loglik(alpha, delta, pair, beta, phi[tier],
                                       pm.Data("x_grid", np.ascontiguousarray(grid)))[0]
        sold = inputs.tickets > 0
        y = pm.Data("tickets_sold", inputs.tickets[sold])
        a_s = pm.Data("artist_sold", inputs.artist[sold])
        d_s = pm.Data("dma_sold", inputs.dma[sold])
        eta_sold = (alpha[a_s] + delta[d_s] + pair[a_s, d_s]
                    + pt.dot(pm.Data("x_sold", inputs.x[sold]), beta))
        phi_sold = phi[tier[a_s]]
        with_sales = pt.sum(pt.gammaln(y + phi_sold) - pt.gammaln(phi_sold) - pt.gammaln(y + 1)
                            + y * (eta_sold - pt.log(phi_sold + pt.exp(eta_sold))))
        pm.Potential("tickets_loglik", every_cell + with_sales)

        price_mean = pm.Normal("price_mean", pm.Data("prior_log_price", mean_log_price), 2.0)
        price_popularity = pm.Normal("price_popularity", 0.0, 0.5)
        sigma_price_artist = pm.HalfNormal("sigma_price_artist", 0.5)
        price_artist = pm.Normal("price_artist", price_mean + price_popularity * popularity,
                                 sigma_price_artist, dims="artist")
        gamma_size = pm.Normal("gamma_size", 0.0, 0.5)
        sigma_price = pm.HalfNormal("sigma_price", 1.0)
        a_p = pm.Data("artist_priced", inputs.artist[priced])
        d_p = pm.Data("dma_priced", inputs.dma[priced])
        pm.Normal("log_price", price_artist[a_p] + gamma_size * size[d_p], sigma_price,
                  observed=pm.Data("log_price_obs", inputs.log_price[priced]))
    return model


def orthogonal_basis(size: np.ndarray) -> np.ndarray:
    """``(D, D - 2)`` orthonormal basis of the vectors orthogonal to ``1`` and ``size``."""
    constraints = np.column_stack([np.ones_like(size), size - size.mean()])
    q, _ = np.linalg.qr(constraints, mode="complete")
    return np.ascontiguousarray(q[:, 2:])


def forecast_log_mu(params: Params, panel: TicketPanel, feature_means: np.ndarray,
                    n_dmas: int) -> np.ndarray:
    """``(draws, rows)`` log means of the forecast rows from posterior draws (NumPy).

    ``params`` holds ``alpha_artist``, ``delta_dma``, ``sigma_pair``, ``z_pair`` and ``beta``
    with draws first (the model's own parameters; features centred as in training).
    """
    z_pair = params["z_pair"].reshape(params["z_pair"].shape[0], -1)
    pair = panel.artist * n_dmas + panel.dma
    return (params["alpha_artist"][:, panel.artist] + params["delta_dma"][:, panel.dma]
            + params["sigma_pair"][:, None] * z_pair[:, pair]
            + params["beta"] @ (panel.x - feature_means).T)
