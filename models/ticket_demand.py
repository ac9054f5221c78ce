"""Hierarchical negative binomial of weekly secondary-market tickets, artist x DMA x week,
with a log-normal price per ticket for the order value.

For artist ``a`` (popularity tier ``k(a)``), DMA ``d`` (centred log market size ``s_d``) and
week ``w`` with lag-``H`` features ``x_adw`` (:mod:`bayescope.data.ticket_features`, centred
on their training means ``m``):

    P(tickets_adw = 0) = P0_adw = NB(0 | mu_adw, phi0_adw)              (no sale)
    tickets_adw - 1 | a sale ~ NegBinomial(m_adw, phi_adw),  m = mu / (1 - P0) - 1
                  (mean mu, whatever P0), zero-inflated by pi_k(a) where a show was
                  listed (l_adw = 1)
    log phi_adw = log phi_k(a) + psi_h(w) + rho log mu_adw
                                        (tier, weeks ahead h(w), and the mean itself)
    log phi0_adw = log phi0_k(a) + psi_h(w) + rho0 log mu_adw
    log mu_adw = alpha_a + delta_d + v_ad + (x_adw - m) . beta
    alpha_a ~ Normal(alpha + lambda q_a, sigma_artist)         (artist, pooled)
    delta_d = beta_size s_d + e_d,  e ~ ZeroSumNormal(sigma_dma)  (DMA, scaled by market size)
    v ~ ZeroSumNormal(sigma_pair) over artists and DMAs          (artist x DMA affinity)

**Listed weeks are zero-inflated.** ``l_adw = 1`` where ``log_events_listed`` is positive: a
show was listed ``H`` weeks before the target week. By the target week that show may have
been played or cancelled, and the week then sells nothing whatever the listing signals said:

    P(tickets_adw = 0) = pi_k + (1 - pi_k) NB(0 | mu_adw, phi_adw)    (l_adw = 1),
    P(tickets_adw = y) = (1 - pi_k) NB(y | mu_adw, phi_adw)           (l_adw = 1, y > 0),

with ``pi_k = listed_zero_share`` per popularity tier, ``logit pi_k ~ Normal(-2, 1.5)``.
Without it the weeks after a show (a peak listing signal, nothing sold) can only be
explained by a smaller ``phi``, which widens every forecast of the tier. The misspecification
backtests (``bench/README.md``) measure what it buys.

**Dispersion by weeks ahead.** With the latest-known features (``dynamic``), a training week
``w`` is a forecast made ``h(w)`` weeks ahead (1 .. H, cycling; :func:`~bayescope.data.
ticket_features.weeks_ahead_lags`), and a week one ahead knows last week's listings and
sales while one four ahead does not: its errors are smaller. One ``phi`` per tier gave
intervals on the weeks with sales that held 0.85 of the outcomes one week ahead against
0.71 expected, and 0.71 as expected four weeks ahead (default-size backtests of the
misspecified processes, ``bench/README.md``). So ``psi ~ ZeroSumNormal(0.5)`` over the
weeks ahead (``dispersion_weeks_ahead``; ``phi_k`` is then the tier's geometric mean over
them). Feature sets without latest-known features lag every row alike and have no ``psi``.

**Dispersion grows with the mean.** Sales the features do not explain widen every row, but
not alike: on the misspecified processes the squared error beyond Poisson, per squared
mean, fell from about 12 at a mean of 0.1 a week to about 1 from a mean of 1 up, while one
``phi`` per tier gave the same tail to all. Its intervals on the weeks with sales held 0.77
of the outcomes against 0.71 expected and its forecasts put a sale in 0.85 of the
high-mean weeks where 0.91 sold (default-size backtests, ``bench/README.md``). So ``phi``
scales as ``mu^rho`` (``dispersion_slope``; the negative binomial "NB-P" of Greene 2008,
"Functional forms for the negative binomial model for count data", with ``P = 2 - rho``):
``phi_k`` is then the tier's dispersion at a mean of one ticket a week. ``rho ~ Uniform(0, 1)``,
between the plain negative binomial (0) and variance proportional to the mean (1): on
the whole line the posterior had a second mode at ``rho = -0.31`` (chains at 0.21 and
-0.31, R-hat 1.85) whose busiest weeks have the heaviest tails, and forecasts from it had a
CRPS in the thousands. At the default size it lowered the backtest CRPS by 5-12% on the three
misspecified processes; the offset of the with-sales coverage stayed.

**Whether a week sells has a dispersion of its own (a hurdle).** With one negative binomial
the same ``phi`` sets both how often a week sells and how many it sells when it does. On the
misspecified processes at the default size that tied them wrongly: at forecast means of
0.2-0.5 the model sold in 0.158 of the weeks where 0.207 sold, and given a sale its 90%
intervals held 0.89-0.97 of the outcomes against 0.77-0.89 expected (the tail needed for the
zeros was too heavy for the sales). So the zero has its own dispersion ``phi0`` (``sale_phi``
per tier and ``sale_dispersion_slope`` ``rho0 ~ Uniform(0, 1)``, the weeks-ahead factor
shared; the fused every-cell term is the same with ``phi0`` in place of ``phi``), and a sale
sells one ticket plus a negative binomial whose mean keeps the whole mean at ``mu`` (a hurdle
model, Mullahy 1986, "Specification and testing of some modified count data models").
The usual hurdle, the negative binomial truncated at zero for the sales, was tried first and
left ``mu`` without a meaning: with a small ``phi`` the truncated count depends on ``mu /
phi`` alone, so its level and the zero's could trade with the artist, DMA and pair effects
(two chains at ``alpha_raw`` -4.2 and -1.6, ``sigma_pair`` 2.7 and 6.2, R-hat 1.85 on the
small ``tour_ramp`` world). Here ``mu`` stays the mean and the two dispersions only shape it.
``rho0`` is kept in [0, 1] for the reason ``rho`` is: below 0, ``P0`` tends to 1 as the mean
grows, and a pair could then explain its weeks by a vast mean that seldom sells (``sigma_pair``
2.7-5.5 in two disagreeing chains, against 0.22 in agreeing ones with ``rho0 >= 0``).

Artist effects are centred (each artist has hundreds of weeks of data) around a regression on
popularity. The pair deviations are a ``ZeroSumNormal`` over both axes, so the artist and DMA
effects are the row and column means and the pair effects only the interaction: with free pair
means ``sigma_dma`` had a bulk ESS of 95 in 4,000 draws (DMA and pair effects trading places);
the generator draws its pair effects the same way. The DMA deviations sum to zero too (the
intercept is then the average market's).

The rest is parametrised for the sampler; every step below is a change of variables that
leaves the prior above exactly as it is (tested: ``tests/test_ticket_parametrisation.py``).

* **DMA effects along market size, centred as far as the data decide them.** The zero-sum
  deviations are split along the size: with ``Q`` an orthonormal basis of the zero-sum
  vectors whose first column is ``(s - mean(s)) / |s - mean(s)|`` and whose others are
  orthogonal to ``1`` and ``s``,

      delta_d = beta_size mean(s) + (Q z)_d,
      z_1 ~ Normal(beta_size |s - mean(s)|, sigma_dma),    z_j ~ Normal(0, sigma_dma) (j > 1),

  each coordinate partially centred, ``w_j ~ Normal(kappa_j mu_j, sigma_dma^kappa_j)``,
  ``z_j = mu_j + sigma_dma^(1 - kappa_j) (w_j - kappa_j mu_j)``, with ``kappa_j`` the share
  of ``z_j``'s posterior the data decide, estimated from the training weeks before the fit
  (:func:`dma_centring`; what the signal features' DMA means explain is theirs, not the DMA
  effect's). Where DMAs differ beyond their size (the package's own process)
  ``kappa`` is about 0.6 and ``sigma_dma`` mixes as well as fully centred (bulk ESS 563 and
  586 in 600 draws); where they do not (the three misspecified processes: sales scale with
  size and the markets' listings) ``kappa`` is 0 and the centred form funnels (bulk ESS 3,
  R-hat 1.98 on ``seasonal_price``; here 24-60). The
  size coordinate is separate because the plain form moved ``beta_size`` by moving all
  ``z_d`` together along ``s`` (bulk ESS 7 in 1,200 draws at 210 DMAs).
* **The DMA scale signed.** ``sigma_dma = |t|`` with ``t ~ Normal(0, 1)`` (the half-normal
  prior exactly) and the coordinates above scaled by ``sign(t) sigma^(1 - kappa_j)``: ``(t,
  w)`` and ``(-t, w mirrored about kappa mu)`` are the same effects, so ``t = 0`` is an
  interior point (a redundant multiplicative parameter, Gelman, van Dyk, Huang & Boscardin
  2008, "Using redundant parameterizations to fit hierarchical models"). Where DMAs differ
  only by size (``seasonal_price``) the posterior of ``sigma_dma`` lies against zero (0.04
  +- 0.03) and ``log sigma_dma``, the half-normal's usual coordinate, has a long left tail
  that chains crossed by a random walk: at the default backtest's first origin 4 x (400 +
  500) gave R-hat 1.023 and tail ESS 314, and six added chains left R-hat at 1.023. Signed,
  the chains cross zero about 40 times in 300 draws; the same fit's first four chains passed
  R-hat and tail ESS and two added chains passed the gate (R-hat 1.004, bulk ESS 500, tail
  ESS 1,387 on ``sigma_dma``). Where a coordinate is partially centred (``kappa > 0``) the
  density of ``w`` is singular at ``t = 0``, and trajectories crossing it diverge. That is
  why ``kappa`` must not be overestimated: on ``regime_shift`` a moment estimate that
  ignored the features gave ``kappa`` 0.22-0.28 where the posterior put ``sigma_dma`` at
  0.02-0.06, and the chains never crossed zero (30, 81 and 42 divergences at the three
  default-size origins, R-hat up to 1.19 on ``sigma_dma``; ``bench/README.md``).
* **Feature coefficients whitened.** ``log_listings`` and ``log_events_listed`` correlate at
  0.95 on the weeks with sales, and their coefficients at -0.96 in the posterior (bulk ESS
  130 in 1,000 draws). With ``L L' = Cov(x)`` over the weeks with sales, the model samples
  ``theta = L' beta ~ Normal(0, L' L)`` and sets ``beta = L'^{-1} theta`` (Stan's QR
  reparametrisation with a Cholesky factor in place of R, the prior carried along; ESS 130
  -> 930).
* **Pair effects partially centred pair by pair, and shifted by the features' pair means.**
  ``streams_index`` varies mostly between pairs (81% of its variance is the artist x DMA
  interaction of its pair means ``xbar_ad``), so its coefficient trades with ``v``. With the
  interaction ``m_ad = xbar_ad . beta`` (double-centred) the model samples

      w_ad ~ Normal(kappa_ad m_ad, sigma_pair^kappa_ad),
      e_ad = sigma_pair^(1 - kappa_ad) (w_ad - kappa_ad m_ad)   (iid Normal(0, sigma_pair)),
      v = e less its artist and DMA means                       (ZeroSumNormal(sigma_pair)),

  Gorinova, Moore & Hoffman (2020, "Automatic reparameterisation of probabilistic programs",
  eq. 3) with the mean of ``w`` on the pair effect plus its feature part: the data pin
  ``v + m``, and ``w`` moves with it instead of against ``beta``. The weight ``kappa_ad`` is
  the share of the pair's posterior its data decide (:func:`pair_centring`): most pairs sell
  nothing in two years and are sampled near the non-centred form, the few that sell hundreds
  of tickets near the centred one. The artist and DMA means of ``e`` are left to their
  prior (the likelihood sees ``v`` alone), so no density correction is needed. One weight for
  every pair (``kappa = 1/2``) had given ``sigma_pair`` a bulk ESS of 326-365 on the
  package's own process (against 136 non-centred and 142 centred), but 53 and R-hat 1.069
  in 2,000 draws on ``seasonal_price`` at the default size, where the pairs' weights should
  range from 0.03 to 0.8 (1 less the ratio of each pair's posterior to prior variance);
  pair by pair it was 472 and 1.003 there (``bench/README.md``).

On the weeks with tickets, the price per ticket is

    log(order_value / tickets)_adw ~ Normal(pi_a + gamma_size s_d, sigma_price),
    pi_a = pi + pi_pop q_a + sigma_price_artist y_a,

where ``q_a`` is the artist's popularity before the origin (centred log mean weekly streams).
Popularity tiers (top 10% / next 30% / rest by streams) set the dispersion only: the artist
means regress on the continuous popularity instead, because a tier mean over the one to five
artists a tier holds in a sample is a ridge with the artist deviations (R-hat 1.12 and bulk
ESS 13 in a first version).

Priors: ``alpha ~ Normal(log mean tickets per row, 3)``, ``lambda, beta, beta_size ~
Normal(0, 1)``, scales ``HalfNormal(1)``, ``log phi_k, log phi0_k ~ Normal(0, 1)``,
``rho, rho0 ~ Uniform(0, 1)``; ``pi ~ Normal(mean log price, 2)``,
``pi_pop, gamma_size ~ Normal(0, 0.5)``,
``sigma_price_artist ~ HalfNormal(0.5)``, ``sigma_price ~ HalfNormal(1)``. ``alpha_raw``
and ``artist_effect`` are reported on the raw (uncentred) feature scale, ``alpha - m .
beta``, the scale of the generator's truth.

Raw PyMC, not bambi: bambi's formula ``tickets ~ x + (1|artist) + (1|dma) + (1|artist:dma)``
with ``family="negativebinomial"`` gives the same mean structure but one dispersion, no
market-size-scaled DMA effect and, above all, evaluates the full negative binomial on every
row through gathered indices. Most artist-DMA-weeks sell nothing, and for ``y = 0`` the
log-probability is just ``-phi log(1 + mu / phi)``; here that term is computed for every cell
of the dense (artist, DMA, week) grid in one fused pass
(:mod:`bayescope.models.ticket_likelihood`), and the rest of the negative binomial only for
the weeks with sales. Same posterior; at 655,200 cells one gradient of the whole model took
10 ms (before the latest-known features and the dispersion slope; 15.5 ms with them),
against 20 ms with the every-cell term as a broadcast PyTensor graph and about 70 ms for the
row-wise negative binomial.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayescope.data.ticket_features import (
    ARTIST_WEEK_FEATURES,
    FEATURES,
    LATEST,
    SALES_FEATURES,
    WEEK_FEATURES,
)
from bayescope.data.ticket_panel import TIERS, PanelPair, TicketPanel
from bayescope.models.ticket_likelihood import feature_activity, zero_sales_loglik

Params = Mapping[str, np.ndarray]
SCALARS = ("alpha_raw", "artist_popularity", "beta_size", "sigma_artist", "sigma_dma",
           "sigma_pair", "price_mean", "price_popularity", "gamma_size", "sigma_price_artist",
           "sigma_price", "dispersion_slope", "sale_dispersion_slope")
VECTORS = ("beta", "phi", "sale_phi", "listed_zero_share", "dispersion_weeks_ahead")
GATED = (*SCALARS, *VECTORS)
"""Every parameter the gate may check; :func:`gated` keeps those a model or run has."""
# Parameters that exist for the sampler only (the reparametrisations of the module docstring).
SAMPLER_COORDINATES = ("dma_scale_signed", "size_slope_raw", "u_dma_orthogonal", "beta_whitened",
                       "pair_raw")
LISTED_FEATURE = "log_events_listed"
"""Weeks where this feature is positive (a show listed ``H`` weeks before) are zero-inflated."""
# The guess of sigma_pair that sets the pair effects' centring in a fit that has no earlier
# one to start from (pair_centring; a guess changes how the posterior is sampled, never what
# it is). Posterior means at the default size: 0.25 on seasonal_price (bench/README.md).
PAIR_SCALE_GUESS = 0.3


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
    features: tuple[str, ...] = FEATURES
    weeks_ahead: np.ndarray | None = None
    """Per row, the lag of its latest-known features (None: every row lagged alike)."""

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
                   panels.popularity, panels.size, means, train.features,
                   None if train.weeks_ahead is None else train.weeks_ahead[keep])


def ticket_model_data(inputs: TicketModelInputs, n_artists: int,
                      pair_scale: float = PAIR_SCALE_GUESS) -> dict[str, Any]:
    """Every ``pm.Data`` value of :func:`build_ticket_model`, by name: all the model takes
    from ``inputs`` beyond its :func:`structure_key`, so a model of the same structure
    rebinds to another origin's training panel (:func:`rebind_ticket_model`)."""
    n_dmas = inputs.size.size
    if inputs.tickets.size % (n_artists * n_dmas):
        raise ValueError("the training rows are not a full artist x DMA x week grid")
    sold = inputs.tickets > 0
    priced = sold & np.isfinite(inputs.log_price)
    mean_rate = max(float(inputs.tickets.mean()), 1e-4)
    basis = orthogonal_basis(inputs.size)
    prior_chol, unwhiten = feature_whitening(inputs.x[sold])
    grids = feature_grids(inputs, n_artists, n_dmas)
    leads = week_leads(inputs, n_artists, n_dmas)
    return {
        "tier_of_artist": inputs.tier, "size": inputs.size,
        "prior_log_rate": np.log(mean_rate), "popularity": inputs.popularity,
        "dma_orthogonal_basis": basis,
        "dma_centring": dma_centring(inputs, n_artists, basis),
        "beta_whitened_prior_chol": prior_chol, "beta_unwhiten": unwhiten,
        "pair_feature_interaction": pair_interaction(inputs.x, n_artists, n_dmas),
        "pair_centring": pair_centring(inputs, n_artists, pair_scale),
        # Data, so the number of training weeks may change when a model is reused.
        "weeks_ahead_of_week": leads - 1,
        "feature_means": inputs.feature_means,
        "x_grid": grids.x, "x_active": feature_activity(grids.x),
        "zero_inflated": zero_inflated_cells(inputs, n_artists, n_dmas),
        "x_artist_week": grids.x_artist_week, "x_week": grids.x_week,
        "tickets_sold": inputs.tickets[sold], "artist_sold": inputs.artist[sold],
        "dma_sold": inputs.dma[sold], "week_sold": np.flatnonzero(sold) % leads.size,
        "x_sold": inputs.x[sold], "listed_sold": listed_weeks(inputs)[sold].astype(float),
        "prior_log_price": (float(np.mean(inputs.log_price[priced])) if priced.any()
                            else 4.0),
        "artist_priced": inputs.artist[priced], "dma_priced": inputs.dma[priced],
        "log_price_obs": inputs.log_price[priced]}


def rebind_ticket_model(model: pm.Model, inputs: TicketModelInputs, n_artists: int,
                        pair_scale: float = PAIR_SCALE_GUESS) -> pm.Model:
    """``model`` (built by :func:`build_ticket_model` for inputs of the same
    :func:`structure_key`) with every ``pm.Data`` set from ``inputs``: the model that
    :func:`build_ticket_model` would build for them, without a new graph. A refit that
    builds a new model leaves the previous one's graph, which is cyclic and holds its
    training arrays, to the garbage collector (``bench/README.md``, memory across refits)."""
    pm.set_data(ticket_model_data(inputs, n_artists, pair_scale), model=model)
    return model


def build_ticket_model(inputs: TicketModelInputs, n_artists: int,
                       pair_scale: float = PAIR_SCALE_GUESS) -> pm.Model:
    """The PyMC model of the module docstring.

    ``inputs`` must hold the full (artist, DMA, week) grid in that order (a training panel).
    ``pair_scale`` is a guess of ``sigma_pair`` that sets the pair effects' centring
    (:func:`pair_centring`; a refit passes the earlier fit's posterior mean): it changes how
    the posterior is sampled, not what it is. Everything taken from the data is ``pm.Data``
    (:func:`ticket_model_data`), so a model and its compiled form can be reused for another
    origin with the same artists and DMAs (the backtest swaps data, not graphs).
    """
    data = ticket_model_data(inputs, n_artists, pair_scale)
    n_dmas = inputs.size.size
    n_leads = int(data["weeks_ahead_of_week"].max()) + 1
    cell, artist_week, week = feature_levels(inputs.features)
    coords = {"artist": np.arange(n_artists), "dma": np.arange(n_dmas),
              "feature": list(inputs.features),
              "tier": list(TIERS)}
    with pm.Model(coords=coords) as model:
        tier = pm.Data("tier_of_artist", data["tier_of_artist"])
        size = pm.Data("size", data["size"])
        alpha_mean = pm.Normal("alpha", pm.Data("prior_log_rate", data["prior_log_rate"]), 3.0)
        sigma_artist = pm.HalfNormal("sigma_artist", 1.0)
        artist_popularity = pm.Normal("artist_popularity", 0.0, 1.0)
        popularity = pm.Data("popularity", data["popularity"])
        alpha = pm.Normal("alpha_artist", alpha_mean + artist_popularity * popularity,
                          sigma_artist, dims="artist")
        beta_size = pm.Normal("beta_size", 0.0, 1.0)
        # sigma_dma ~ HalfNormal(1) as |t|, t ~ Normal(0, 1): module docstring.
        dma_scale = pm.Normal("dma_scale_signed", 0.0, 1.0)
        pm.Deterministic("sigma_dma", pt.abs(dma_scale))
        delta = size_scaled_dma_effects(
            beta_size, dma_scale, size,
            pm.Data("dma_orthogonal_basis", data["dma_orthogonal_basis"]),
            pm.Data("dma_centring", data["dma_centring"]))
        beta_whitened = pm.MvNormal("beta_whitened", 0.0, chol=pm.Data(
            "beta_whitened_prior_chol", data["beta_whitened_prior_chol"]))
        beta = pm.Deterministic("beta", pt.dot(pm.Data("beta_unwhiten", data["beta_unwhiten"]),
                                               beta_whitened), dims="feature")
        sigma_pair = pm.HalfNormal("sigma_pair", 1.0)
        interaction = pm.Data("pair_feature_interaction", data["pair_feature_interaction"])
        pair = partially_centred_pair_effects(
            sigma_pair, pt.dot(interaction, beta),
            pm.Data("pair_centring", data["pair_centring"]))
        log_phi = pm.Normal("log_phi", 0.0, 1.0, dims="tier")
        pm.Deterministic("phi", pt.exp(log_phi), dims="tier")
        lead_of_week = pm.Data("weeks_ahead_of_week", data["weeks_ahead_of_week"])
        log_phi_week = pt.zeros(lead_of_week.shape[0])
        if n_leads > 1:
            model.add_coord("weeks_ahead", np.arange(1, n_leads + 1))
            dispersion_ahead = pm.ZeroSumNormal("dispersion_weeks_ahead", 0.5,
                                                dims="weeks_ahead")
            log_phi_week = dispersion_ahead[lead_of_week]
        log_phi_grid = log_phi[tier][:, None] + log_phi_week[None, :]
        slope = pm.Uniform("dispersion_slope", 0.0, 1.0)
        log_sale_phi = pm.Normal("log_sale_phi", 0.0, 1.0, dims="tier")
        pm.Deterministic("sale_phi", pt.exp(log_sale_phi), dims="tier")
        sale_slope = pm.Uniform("sale_dispersion_slope", 0.0, 1.0)
        log_sale_phi_grid = log_sale_phi[tier][:, None] + log_phi_week[None, :]
        logit_zero = pm.Normal("logit_listed_zero", -2.0, 1.5, dims="tier")
        zero_share = pm.Deterministic("listed_zero_share", pm.math.sigmoid(logit_zero),
                                      dims="tier")
        offset = pt.dot(beta, pm.Data("feature_means", data["feature_means"]))
        pm.Deterministic("alpha_raw", alpha_mean - offset)
        pm.Deterministic("artist_effect", alpha - offset, dims="artist")

        every_cell = zero_sales_loglik(
            alpha - offset, delta, pair, beta[cell], beta[artist_week], beta[week],
            pt.exp(log_sale_phi_grid), zero_share[tier], sale_slope[None],
            *(pm.Data(name, data[name]) for name in (
                "x_grid", "x_active", "zero_inflated", "x_artist_week", "x_week")))[0]
        y = pm.Data("tickets_sold", data["tickets_sold"])
        a_s = pm.Data("artist_sold", data["artist_sold"])
        d_s = pm.Data("dma_sold", data["dma_sold"])
        w_s = pm.Data("week_sold", data["week_sold"])
        eta_sold = (alpha[a_s] + delta[d_s] + pair[a_s, d_s]
                    + pt.dot(pm.Data("x_sold", data["x_sold"]), beta))
        log_phi_sold = log_phi_grid[a_s, w_s] + slope * eta_sold
        # The every-cell term gave these weeks log P(no sale); they need log P(sale) and the
        # count above one (the hurdle of the module docstring).
        log_no_sale = nb_log_zero(log_sale_phi_grid[a_s, w_s] + sale_slope * eta_sold,
                                  eta_sold)
        log_sale = pt.log1mexp(log_no_sale)
        log_excess = pt.log(excess_mean(eta_sold, log_sale))
        listed_sold = pm.Data("listed_sold", data["listed_sold"])
        with_sales = pt.sum(nb_logpmf(y - 1.0, log_excess, log_phi_sold)
                            - log_no_sale + log_sale
                            + listed_sold * pt.log1p(-zero_share[tier[a_s]]))
        pm.Potential("tickets_loglik", every_cell + with_sales)

        price_mean = pm.Normal("price_mean",
                               pm.Data("prior_log_price", data["prior_log_price"]), 2.0)
        price_popularity = pm.Normal("price_popularity", 0.0, 0.5)
        sigma_price_artist = pm.HalfNormal("sigma_price_artist", 0.5)
        price_artist = pm.Normal("price_artist", price_mean + price_popularity * popularity,
                                 sigma_price_artist, dims="artist")
        gamma_size = pm.Normal("gamma_size", 0.0, 0.5)
        sigma_price = pm.HalfNormal("sigma_price", 1.0)
        a_p = pm.Data("artist_priced", data["artist_priced"])
        d_p = pm.Data("dma_priced", data["dma_priced"])
        pm.Normal("log_price", price_artist[a_p] + gamma_size * size[d_p], sigma_price,
                  observed=pm.Data("log_price_obs", data["log_price_obs"]))
    return model


@dataclass(frozen=True)
class FeatureGrids:
    """The training features on the dense grid, uncentred (the centring is moved into the
    artist term, exact), split by level for the fused likelihood: per cell ``x``
    ``(feature, artist, DMA, week)``, per artist-week ``(feature, artist, week)``, per week
    ``(feature, week)``; ``cell``, ``artist_week``, ``week`` index each level's features in
    the model's feature order."""

    x: np.ndarray
    x_artist_week: np.ndarray
    x_week: np.ndarray
    cell: np.ndarray
    artist_week: np.ndarray
    week: np.ndarray


def structure_key(inputs: TicketModelInputs, n_artists: int) -> str:
    """What the graph of :func:`build_ticket_model` depends on beyond its ``pm.Data``: the
    numbers of artists and DMAs, the features and the longest weeks-ahead lag. Fits with the
    same key share one compiled model (:func:`bayescope.inference.sampling.compile_nuts`)."""
    leads = week_leads(inputs, n_artists, inputs.size.size)
    return (f"tickets-{n_artists}x{inputs.size.size}-{','.join(inputs.features)}"
            f"-lead{int(leads.max())}")


def feature_levels(features: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of ``features`` that vary by cell, by artist-week
    (:data:`ARTIST_WEEK_FEATURES`) and by week (:data:`WEEK_FEATURES`)."""
    names = list(features)
    artist_week = np.asarray([names.index(n) for n in ARTIST_WEEK_FEATURES if n in names], int)
    week = np.asarray([names.index(n) for n in WEEK_FEATURES if n in names], int)
    cell = np.asarray([k for k in range(len(names)) if k not in artist_week and k not in week],
                      int)
    return cell, artist_week, week


def feature_grids(inputs: TicketModelInputs, n_artists: int, n_dmas: int) -> FeatureGrids:
    """:class:`FeatureGrids` of a training panel (a full artist x DMA x week grid)."""
    n_weeks = inputs.tickets.size // (n_artists * n_dmas)
    raw = (inputs.x + inputs.feature_means).reshape(n_artists, n_dmas, n_weeks, -1)
    cell, artist_week, week = feature_levels(inputs.features)
    shared = np.concatenate([artist_week, week])
    if not np.allclose(raw[:, :, :, shared], raw[:, :1, :, shared]):
        raise ValueError("an artist-week or week feature differs between DMAs")
    if week.size and not np.allclose(raw[:, :, :, week], raw[:1, :1, :, week]):
        raise ValueError("a week feature differs between artists")
    return FeatureGrids(
        np.ascontiguousarray(np.moveaxis(raw[:, :, :, cell], 3, 0)),
        np.ascontiguousarray(np.moveaxis(raw[:, 0][:, :, artist_week], 2, 0)),
        np.ascontiguousarray(raw[0, 0][:, week].T), cell, artist_week, week)


def size_scaled_dma_effects(beta_size: pt.TensorVariable, scale: pt.TensorVariable,
                            size: pt.TensorVariable, basis: pt.TensorVariable,
                            centring: pt.TensorVariable | np.ndarray) -> pt.TensorVariable:
    """DMA effects ``beta_size s + e``, ``e ~ ZeroSumNormal(sigma)``, sampled along size.

    ``scale`` is the signed scale ``t`` of the module docstring, ``sigma = |t|`` (a positive
    ``sigma`` may be passed as it is). ``basis`` is :func:`orthogonal_basis` of ``size``: its
    first column the unit vector along the centred size, the rest orthogonal to it and to
    ``1``. ``centring`` (one weight ``kappa`` per column, :func:`dma_centring`; 1 is centred)
    partially centres each coordinate ``z_j`` of ``e + beta_size (s - mean(s))`` on the
    basis, whose prior is ``Normal(mu_j, sigma)`` (``mu = beta_size |s - mean(s)|`` along
    size, 0 elsewhere): the sampler sees ``w_j ~ Normal(kappa_j mu_j, sigma^kappa_j)`` and
    ``z_j = mu_j + sign(t) sigma^(1 - kappa_j) (w_j - kappa_j mu_j)``, the same prior exactly
    (``w_j - kappa_j mu_j`` is symmetric about 0, so the sign leaves it as it is).
    Registers ``w`` along size as ``size_slope_raw``, the orthogonal ``w`` as
    ``u_dma_orthogonal`` and the effects as ``delta_dma`` (module docstring).
    """
    kappa = pt.as_tensor(centring)
    sigma = pt.abs(scale)
    sign = pt.sign(scale)
    centred_size = size - size.mean()
    size_norm = pt.linalg.norm(centred_size)
    along_mean = beta_size * size_norm
    along_raw = pm.Normal("size_slope_raw", kappa[0] * along_mean, sigma ** kappa[0])
    along = along_mean + sign * sigma ** (1.0 - kappa[0]) * (along_raw - kappa[0] * along_mean)
    raw = pm.Normal("u_dma_orthogonal", 0.0, sigma ** kappa[1:], shape=basis.shape[1] - 1)
    coordinates = pt.concatenate([along[None], sign * sigma ** (1.0 - kappa[1:]) * raw])
    return pm.Deterministic("delta_dma", beta_size * size.mean()
                            + pt.dot(basis, coordinates), dims="dma")


def centring_weight(information: np.ndarray, variance: float) -> np.ndarray:
    """Weight of the centred form, ``kappa = I sigma^2 / (1 + I sigma^2)``, for a normal
    effect of prior variance ``sigma^2`` measured with precision ``I`` (Papaspiliopoulos,
    Roberts & Skold 2007, section 3): the share of its posterior that the data decide,
    clipped to [0, 1] (0 where the moments gave no number)."""
    kappa = information * variance / (1.0 + information * variance)
    return np.clip(np.nan_to_num(kappa), 0.0, 1.0)


def dma_centring(inputs: TicketModelInputs, n_artists: int, basis: np.ndarray) -> np.ndarray:
    """Weight ``kappa_j`` of the centred form for each DMA coordinate along ``basis``.

    For a normal effect ``z ~ Normal(mu, sigma)`` measured with precision ``I`` the best
    weight is the share of the posterior that the data decide, ``kappa = I sigma^2 / (1 + I
    sigma^2)`` (Papaspiliopoulos, Roberts & Skold 2007, "A general framework for the
    parametrization of hierarchical models", section 3): centred where the data pin each
    effect, non-centred where the prior does. Both come from the training weeks before the
    fit, by moments on the artist-DMA log totals ``l_ad = log(n_ad + 1/2)`` with
    sampling variance ``1 / (n_ad + 1/2)``: the pair variance ``tau^2`` beyond that after the
    artist and DMA means are removed; the DMA means ``m_d`` with variance ``v_d = sum_a (tau^2
    + 1 / (n_ad + 1/2)) / A^2``; ``sigma^2`` the mean square of ``m`` off ``1``, size and
    the DMA means of the signal features (:func:`beyond_features`; not those computed from
    earlier sales, :data:`~bayescope.data.ticket_features.SALES_FEATURES`) less the mean
    ``v_d`` (0 if negative); ``I_j = sum_d Q_dj^2 / v_d``. A moment estimate only picks
    coordinates: the prior and the posterior are the same for every ``kappa``. With one
    artist or too few DMAs to estimate a spread, ``kappa`` is 0 (non-centred).

    The features matter because the model's DMA effect is what is left of a market's level
    after them. On ``regime_shift``'s tables at the default size the plain mean square gave
    ``sigma^2`` 0.025-0.037 and ``kappa`` 0.22-0.28, where the posterior put ``sigma_dma`` at
    0.02-0.06; with the signed scale, that ``kappa`` made ``t = 0`` a wall the chains could not
    cross (no sign change in 4 x 300 draws, 30 divergences, R-hat 1.19). Past sales are left
    out because their DMA means carry every market's level whatever its cause: with them, the
    package's own process (``sigma_dma = 0.3``) got ``kappa = 0`` too, without them 0.14-0.62
    (``bench/README.md``).
    """
    n_dmas = basis.shape[0]
    if n_artists < 2 or basis.shape[1] < 2:
        return np.zeros(basis.shape[1])
    counts = inputs.tickets.reshape(n_artists, n_dmas, -1).sum(axis=2) + 0.5
    log_rates = np.log(counts)
    noise = 1.0 / counts
    residual = (log_rates - log_rates.mean(axis=0, keepdims=True)
                - log_rates.mean(axis=1, keepdims=True) + log_rates.mean())
    shrink = (1.0 - 1.0 / n_artists) * (1.0 - 1.0 / n_dmas)
    pair_variance = max(float(np.mean(residual**2)) / shrink - float(noise.mean()), 0.0)
    dma_variance = (pair_variance + noise).sum(axis=0) / n_artists**2
    off_size = basis[:, 1:].T @ log_rates.mean(axis=0)
    signals = [k for k, name in enumerate(inputs.features) if name not in SALES_FEATURES]
    feature_means = np.zeros((off_size.size, 0))
    if signals:
        feature_means = basis[:, 1:].T @ np.asarray(inputs.x)[:, signals].reshape(
            n_artists, n_dmas, -1, len(signals)).mean(axis=(0, 2))
    residual_variance = beyond_features(off_size, feature_means)
    variance = max(residual_variance - float(np.mean(dma_variance)), 0.0)
    information = (basis**2).T @ (1.0 / dma_variance)
    return centring_weight(information, variance)


DMAS_PER_FEATURE = 10
"""Fewest DMAs per signal feature for :func:`beyond_features` to regress on the features
(nine vary by DMA in the default feature set: 90 of the 210 DMAs)."""


def beyond_features(means: np.ndarray, feature_means: np.ndarray) -> float:
    """Mean square of the DMA ``means`` (off ``1`` and size) beyond what the features' DMA
    means explain: the residual variance of their least-squares regression, on its degrees of
    freedom; the plain mean square where there are fewer than :data:`DMAS_PER_FEATURE` DMAs
    per feature, too few for the residual to estimate a variance (the regression's noise)."""
    varying = feature_means[:, feature_means.std(axis=0) > 1e-9]
    if varying.shape[1] == 0 or means.size < DMAS_PER_FEATURE * varying.shape[1]:
        return float(np.mean(means**2))
    coefficients, _, rank, _ = np.linalg.lstsq(varying, means, rcond=None)
    residual = means - varying @ coefficients
    return float(np.sum(residual**2) / (means.size - rank))


def pair_centring(inputs: TicketModelInputs, n_artists: int, sigma: float) -> np.ndarray:
    """``(artists, DMAs)`` weight ``kappa_ad`` of the centred form for each pair effect.

    The weight of :func:`dma_centring`, ``kappa = I sigma^2 / (1 + I sigma^2)``, pair by
    pair, for pair effects of scale ``sigma`` (a guess: :data:`PAIR_SCALE_GUESS`, or a
    refit's earlier posterior mean). ``I_ad`` is the information the training weeks hold on
    the pair's log mean, that of ``W`` negative-binomial weeks of mean ``E_ad / W``, ``I = E /
    (1 + E / (W phi))``, with ``E_ad = n_a. n_.d / n_..`` the pair's expected total from its
    artist's and DMA's totals (a pair that sold nothing where its artist and market sell much
    is informed too) and ``phi`` the pooled moment estimate of the weekly counts' dispersion.
    With one artist or one DMA, or no sales, ``kappa`` is 0 (non-centred).
    """
    n_dmas = inputs.size.size
    weekly = np.asarray(inputs.tickets, dtype=float).reshape(n_artists, n_dmas, -1)
    counts = weekly.sum(axis=2)
    total = counts.sum()
    if n_artists < 2 or n_dmas < 2 or total <= 0:
        return np.zeros((n_artists, n_dmas))
    weeks = weekly.shape[2]
    expected = counts.sum(axis=1, keepdims=True) * counts.sum(axis=0, keepdims=True) / total
    means = counts / weeks
    excess = np.maximum(weekly.var(axis=2) - means, 0.0)[means > 0].sum()
    dispersion = float((means[means > 0] ** 2).sum() / excess) if excess > 0 else np.inf
    information = expected / (1.0 + expected / (weeks * dispersion))
    return centring_weight(information, sigma**2)


def partially_centred_pair_effects(sigma: pt.TensorVariable, feature_part: pt.TensorVariable,
                                   centring: Any) -> pt.TensorVariable:
    """Zero-sum ``Normal(0, sigma)`` pair effects ``v`` (``artist x dma``), sampled as ``w``.

    ``w_ad ~ Normal(kappa_ad m_ad, sigma^kappa_ad)``, ``e_ad = sigma^(1 - kappa_ad) (w_ad -
    kappa_ad m_ad)`` (so ``e`` is iid ``Normal(0, sigma)``) and ``v`` is ``e`` less its artist
    and DMA means, with ``m = feature_part`` (zero-sum over both axes) and ``kappa =
    centring`` (a scalar or one weight per pair, :func:`pair_centring`); see the module
    docstring. Registers ``w`` as ``pair_raw`` and ``v`` as ``pair_effect``.
    """
    scale = sigma**centring
    mean = centring * feature_part
    raw = pm.Normal("pair_raw", mean, scale, dims=("artist", "dma"))
    effects = sigma ** (1.0 - centring) * (raw - mean)
    effects = effects - effects.mean(axis=0, keepdims=True)
    return pm.Deterministic("pair_effect", effects - effects.mean(axis=1, keepdims=True),
                            dims=("artist", "dma"))


def pair_interaction(x: np.ndarray, n_artists: int, n_dmas: int) -> np.ndarray:
    """``(artists, DMAs, features)`` pair means of the features over the weeks of a full
    grid, double-centred (zero mean over artists and over DMAs for every feature)."""
    means = x.reshape(n_artists, n_dmas, -1, x.shape[1]).mean(axis=2)
    means = means - means.mean(axis=0, keepdims=True)
    return np.ascontiguousarray(means - means.mean(axis=1, keepdims=True))


def feature_whitening(x_sold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(prior_chol, unwhiten)`` for ``beta = unwhiten @ theta``, ``theta ~ Normal(0,
    prior_chol prior_chol')``, which is ``beta ~ Normal(0, I)``.

    ``L L' = Cov(x_sold)``; ``theta = L' beta`` has covariance ``L' L`` and ``unwhiten =
    L'^{-1}``. A feature constant on the weeks with sales gets a unit row (left as it is).
    """
    n_features = x_sold.shape[1]
    cov = np.cov(x_sold, rowvar=False) if x_sold.shape[0] > 1 else np.eye(n_features)
    cov = np.atleast_2d(cov)
    constant = np.diag(cov) < 1e-8
    cov[constant, :] = 0.0
    cov[:, constant] = 0.0
    cov[constant, constant] = 1.0
    lower = np.linalg.cholesky(cov + 1e-9 * np.eye(n_features))
    prior_chol = np.linalg.cholesky(lower.T @ lower)
    return prior_chol, np.linalg.inv(lower.T)


def orthogonal_basis(size: np.ndarray) -> np.ndarray:
    """``(D, D - 1)`` orthonormal basis of the zero-sum vectors: first the unit vector along
    ``size - mean(size)``, then a basis of the vectors orthogonal to ``1`` and ``size``."""
    centred = size - size.mean()
    constraints = np.column_stack([np.ones_like(size), centred])
    q, _ = np.linalg.qr(constraints, mode="complete")
    return np.ascontiguousarray(np.column_stack([centred / np.linalg.norm(centred), q[:, 2:]]))


def forecast_log_mu(params: Params, panel: TicketPanel, feature_means: np.ndarray,
                    n_dmas: int) -> np.ndarray:
    """``(draws, rows)`` log means of the forecast rows from posterior draws (NumPy).

    ``params`` holds ``alpha_artist``, ``delta_dma``, ``pair_effect`` and ``beta`` with draws
    first (the model's own parameters; features centred as in training).
    """
    if "pair_effect" in params:
        pair_effect = params["pair_effect"].reshape(params["pair_effect"].shape[0], -1)
    else:  # runs saved before the pair effects were reparametrised: sigma_pair z_pair
        z_pair = params["z_pair"].reshape(params["z_pair"].shape[0], -1)
        pair_effect = params["sigma_pair"][:, None] * z_pair
    pair = panel.artist * n_dmas + panel.dma
    return (params["alpha_artist"][:, panel.artist] + params["delta_dma"][:, panel.dma]
            + pair_effect[:, pair]
            + params["beta"] @ (panel.x - feature_means).T)


def listed_weeks(inputs: TicketModelInputs) -> np.ndarray:
    """Training rows with a show listed (:data:`LISTED_FEATURE` positive; none when the
    feature set lacks it)."""
    if LISTED_FEATURE not in inputs.features:
        return np.zeros(inputs.tickets.size, bool)
    listed = list(inputs.features).index(LISTED_FEATURE)
    return inputs.x[:, listed] + inputs.feature_means[listed] > 0


def week_leads(inputs: TicketModelInputs, n_artists: int, n_dmas: int) -> np.ndarray:
    """Per training week, the lag of its latest-known features (1 .. horizon), all 1 when
    the feature set has none (every feature lagged alike: one dispersion serves)."""
    n_weeks = inputs.tickets.size // (n_artists * n_dmas)
    if inputs.weeks_ahead is None or not any(name in LATEST for name in inputs.features):
        return np.ones(n_weeks, int)
    return np.asarray(inputs.weeks_ahead, int).reshape(n_artists, n_dmas, n_weeks)[0, 0]


def row_dispersion(params: Params, panel: TicketPanel, tier: np.ndarray,
                   log_mu: np.ndarray, sale: bool = False) -> np.ndarray:
    """``(draws, rows)`` negative-binomial dispersion ``phi_k(a) exp(psi_h + rho log mu)``
    of each row with log mean ``log_mu`` ``(draws, rows)``: its tier's ``phi``, scaled by
    ``dispersion_weeks_ahead`` at its weeks ahead ``h`` when the run has it (models with
    latest-known features; ``h`` beyond the fitted leads takes the last) and by ``mu`` to the
    power ``dispersion_slope`` (0 for runs saved before it). ``sale=True``: the dispersion
    ``phi0`` of whether the week sells (``sale_phi``, ``sale_dispersion_slope``), or the
    count's for runs saved before the hurdle."""
    count_only = not sale or "sale_phi" not in params
    phi = params["phi" if count_only else "sale_phi"][:, tier[panel.artist]]
    slope = "dispersion_slope" if count_only else "sale_dispersion_slope"
    if slope in params:
        phi = phi * np.exp(params[slope][:, None] * log_mu)
    psi = params.get("dispersion_weeks_ahead")
    if psi is None:
        return phi
    if panel.weeks_ahead is None:
        raise ValueError("the run's dispersion varies by weeks ahead; the rows carry none")
    lead = np.clip(np.asarray(panel.weeks_ahead, int), 1, psi.shape[1]) - 1
    return phi * np.exp(psi[:, lead])


def nb_log_zero(log_phi: Any, log_mu: Any) -> Any:
    """``log NB(0 | mu, phi) = -phi log(1 + mu / phi)``, from the logs, on PyTensor
    variables or NumPy arrays alike."""
    if isinstance(log_phi, pt.TensorVariable) or isinstance(log_mu, pt.TensorVariable):
        return -pt.exp(log_phi) * pt.softplus(log_mu - log_phi)
    return -np.exp(log_phi) * np.logaddexp(0.0, log_mu - log_phi)


def log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x < 0``, accurate at both ends (Machler 2012)."""
    x = np.asarray(x, float)
    with np.errstate(divide="ignore"):
        return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


MIN_EXCESS = 1e-10
"""Floor of the hurdle's excess mean (it is 0 only where ``1 - P0 = mu``, a Poisson zero at
a vanishing mean; the floor keeps its logarithm finite)."""


def excess_mean(log_mu: Any, log_sale: Any) -> Any:
    """The mean of ``tickets - 1`` given a sale that keeps the hurdle's mean at ``mu``:
    ``m = mu / (1 - P0) - 1`` with ``log_sale = log(1 - P0)`` (``m >= 0``: ``1 - P0 <= mu``
    for a negative binomial's zero, by Bernoulli's inequality), on PyTensor variables or
    NumPy arrays alike."""
    if isinstance(log_mu, pt.TensorVariable) or isinstance(log_sale, pt.TensorVariable):
        return pt.maximum(pt.expm1(log_mu - log_sale), MIN_EXCESS)
    return np.maximum(np.expm1(log_mu - log_sale), MIN_EXCESS)


@dataclass(frozen=True)
class RowOutcome:
    """The hurdle's parts for ``(draws, rows)``: log mean, the count's dispersion, log
    P(no sale) and the listed weeks' zero share; ``hurdle`` is False for runs saved before
    the hurdle (the plain negative binomial, ``log_no_sale`` its zero)."""

    log_mu: np.ndarray
    phi: np.ndarray
    log_no_sale: np.ndarray
    zero_share: np.ndarray
    hurdle: bool

    @property
    def excess(self) -> np.ndarray:
        """The mean of ``tickets - 1`` given a sale, :func:`excess_mean`."""
        return excess_mean(self.log_mu, log1mexp(self.log_no_sale))

    @property
    def expected_tickets(self) -> np.ndarray:
        """``E[tickets] = (1 - pi) mu``."""
        return (1.0 - self.zero_share) * forecast_mu(self.log_mu)

    @property
    def tickets_variance(self) -> np.ndarray:
        """``Var[tickets]`` given the draw. With a sale ``B ~ Bernoulli(q)``, ``q = (1 - pi)
        (1 - P0)`` and ``N ~ NegBinomial(m, phi)``, ``tickets = B (1 + N)`` and ``E[tickets^2]
        = q ((1 + m)^2 + m + m^2 / phi)``; without the hurdle ``tickets = B N`` with ``q = 1 -
        pi`` and ``N`` of mean ``mu``, so ``E[tickets^2] = q (mu^2 + mu + mu^2 / phi)``."""
        if self.hurdle:
            count_mean = self.excess
            sold = (1.0 - self.zero_share) * -np.expm1(self.log_no_sale)
            given_sale = 1.0 + count_mean
        else:
            count_mean = given_sale = forecast_mu(self.log_mu)
            sold = 1.0 - self.zero_share
        second_moment = sold * (given_sale ** 2 + count_mean + count_mean ** 2 / self.phi)
        return second_moment - self.expected_tickets ** 2


def row_outcome(params: Params, panel: TicketPanel, feature_means: np.ndarray, n_dmas: int,
                tier: np.ndarray) -> RowOutcome:
    """:class:`RowOutcome` of the rows of ``panel`` (log means capped at
    :data:`MAX_LOG_MU` and 5 times it below: a runaway draw would make a dispersion 0 or
    infinite)."""
    log_mu = np.clip(forecast_log_mu(params, panel, feature_means, n_dmas),
                     -5 * MAX_LOG_MU, MAX_LOG_MU)
    phi = row_dispersion(params, panel, tier, log_mu)
    hurdle = "sale_phi" in params
    sale_phi = row_dispersion(params, panel, tier, log_mu, sale=True) if hurdle else phi
    return RowOutcome(log_mu, phi, nb_log_zero(np.log(sale_phi), log_mu),
                      listed_zero_share(params, panel, tier), hurdle)


def gated(available: Collection[str]) -> tuple[str, ...]:
    """The :data:`GATED` parameters among ``available`` (a model's or a posterior's names)."""
    return tuple(name for name in GATED if name in available)


def zero_inflated_cells(inputs: TicketModelInputs, n_artists: int, n_dmas: int) -> np.ndarray:
    """``(artists, DMAs, weeks)`` int8: 1 where a show was listed and nothing sold, the cells
    whose zero is inflated."""
    cells = listed_weeks(inputs) & (inputs.tickets == 0)
    return np.ascontiguousarray(cells.reshape(n_artists, n_dmas, -1).astype(np.int8))


def listed_zero_share(params: Params, panel: TicketPanel, tier: np.ndarray) -> np.ndarray:
    """``(draws, rows)`` probability that a row sells nothing beyond the negative binomial:
    ``listed_zero_share`` of the artist's tier where a show was listed (``LISTED_FEATURE``
    positive), else 0 (and 0 everywhere for runs saved before the zero inflation)."""
    draws = next(iter(params.values())).shape[0]
    if "listed_zero_share" not in params or LISTED_FEATURE not in panel.features:
        return np.zeros((draws, panel.n))
    listed = panel.x[:, list(panel.features).index(LISTED_FEATURE)] > 0
    return params["listed_zero_share"][:, tier[panel.artist]] * listed


def pointwise_loglik(params: Params, panel: TicketPanel, feature_means: np.ndarray,
                     n_dmas: int, tier: np.ndarray) -> np.ndarray:
    """``(draws, rows)`` log-likelihood of each row's tickets (NumPy): the hurdle of the
    module docstring, ``log[pi + (1 - pi) P0]`` at zero and ``log(1 - pi) + log(1 - P0) +
    log NB(y - 1 | m, phi)`` above it, with ``pi = 0`` off the listed weeks (the plain
    negative binomial for runs saved before the hurdle). For PSIS-LOO between candidate
    models (``bench/ticket_loo.py``)."""
    part = row_outcome(params, panel, feature_means, n_dmas, tier)
    y = panel.tickets[None, :]
    if part.hurdle:
        count = log1mexp(part.log_no_sale) + nb_logpmf(y - 1.0, np.log(part.excess),
                                                         np.log(part.phi))
    else:
        count = nb_logpmf(y, part.log_mu, np.log(part.phi))
    share = part.zero_share
    with np.errstate(divide="ignore"):
        return np.where(y == 0, np.logaddexp(np.log(share), np.log1p(-share)
                                             + part.log_no_sale),
                        np.log1p(-share) + count)


def nb_logpmf(y: Any, log_mu: Any, log_phi: Any) -> Any:
    """``log NB(y | mu, phi)`` from the logs of ``mu`` and ``phi``, on PyTensor variables or
    NumPy arrays alike (``y >= 0``; NumPy gives any value where ``y < 0``)."""
    if any(isinstance(v, pt.TensorVariable) for v in (y, log_mu, log_phi)):
        phi = pt.exp(log_phi)
        return (pt.gammaln(y + phi) - pt.gammaln(phi) - pt.gammaln(y + 1)
                + y * (log_mu - pt.logaddexp(log_phi, log_mu)) + nb_log_zero(log_phi, log_mu))
    from scipy.special import gammaln

    y = np.maximum(y, 0.0)
    phi = np.exp(log_phi)
    return (gammaln(y + phi) - gammaln(phi) - gammaln(y + 1)
            + y * (log_mu - np.logaddexp(log_phi, log_mu)) + nb_log_zero(log_phi, log_mu))


MAX_LOG_MU = 20.0
"""Log means are capped here before exponentiating (e^20 tickets a week: a runaway draw)."""


def forecast_mu(log_mu: np.ndarray) -> np.ndarray:
    """Expected tickets ``exp(min(log mu, MAX_LOG_MU))``."""
    return np.exp(np.minimum(log_mu, MAX_LOG_MU))


def log_price(params: Params, artist: np.ndarray, dma_size: np.ndarray,
              noise: np.ndarray | None = None) -> np.ndarray:
    """``(draws, rows)`` log price per ticket: ``pi_a + gamma_size s_d`` (the model's
    ``log_price`` mean), plus ``sigma_price * noise`` when standard-normal ``noise`` is given
    (a posterior-predictive draw). The one NumPy form of the price formula."""
    mean = params["price_artist"][:, artist] + params["gamma_size"][:, None] * dma_size
    return mean if noise is None else mean + params["sigma_price"][:, None] * noise


def expected_price(params: Params, artist: np.ndarray, dma_size: np.ndarray) -> np.ndarray:
    """``(draws, rows)`` expected price per ticket, ``exp(log_price + sigma_price^2 / 2)``."""
    return np.exp(log_price(params, artist, dma_size) + params["sigma_price"][:, None] ** 2 / 2)
