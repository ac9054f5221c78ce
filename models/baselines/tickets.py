"""Classical baselines for weekly ticket forecasts, each with a predictive distribution.

Every baseline sees only the training panel (weeks before the origin) and the forecast rows'
lag-``H`` features, like the hierarchical model, and returns predictive draws so that all
models are scored the same way (CRPS, coverage):

* ``seasonal_naive``: the same artist-DMA's tickets 52 weeks before the target week (the
  trailing mean where that week is before the training window);
* ``trailing_mean``: the artist-DMA's mean over the last 8 training weeks;
* ``glm_nb``: a non-hierarchical negative-binomial GLM (statsmodels ``NegativeBinomial``,
  NB2, dispersion estimated) of tickets on the same features plus market size, popularity
  and tier indicators, without artist, DMA or pair effects;
* ``gbm_poisson``: scikit-learn's ``HistGradientBoostingRegressor`` with a Poisson loss on
  the features, market size, popularity and tier, boosting from an offset: each artist-DMA's
  training mean, shrunk towards its artist's mean times the DMA's share of all sales (see
  :func:`pair_exposure`).

The two naive forecasts are points; their predictive distribution is a negative binomial
around the point with one dispersion estimated by moments from their own errors on the last
26 training weeks (so their intervals are as honest as their points). The GLM's is its own
negative binomial, the boosting model's a Poisson (its loss).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bayescope.data.ticket_panel import PanelPair, TicketPanel

BASELINES = ("seasonal_naive", "trailing_mean", "glm_nb", "gbm_poisson")
SEASON = 52
TRAILING = 8
CALIBRATION_WEEKS = 26
GLM_MAX_ROWS = 300_000
EXPOSURE_SHRINKAGE = 4.0  # weeks of prior weight on the pair's own mean
EXPOSURE_FLOOR = 1e-3
RATE_CAP = 1e9  # numpy's Poisson refuses rates near 1e19; no artist-DMA-week sells 1e9


@dataclass
class BaselineForecast:
    """Predictive mean and draws ``(draws, rows)`` of one baseline."""

    mean: np.ndarray
    draws: np.ndarray


def negative_binomial_draws(mean: np.ndarray, dispersion: float, n_draws: int,
                            rng: np.random.Generator) -> np.ndarray:
    """``(n_draws, rows)`` negative-binomial draws (size ``dispersion``; Poisson if inf)."""
    mean = np.broadcast_to(np.clip(mean, 1e-9, RATE_CAP), (n_draws, np.size(mean)))
    if not np.isfinite(dispersion):
        return rng.poisson(mean).astype(float)
    rate = np.minimum(rng.gamma(dispersion, mean / dispersion), RATE_CAP)
    return rng.poisson(rate).astype(float)


def moment_dispersion(y: np.ndarray, mean: np.ndarray) -> float:
    """NB2 size from ``Var(y) = m + m^2 / phi`` by moments; inf when not over-dispersed."""
    excess = float(np.sum((y - mean) ** 2 - mean))
    return float(np.sum(mean**2) / excess) if excess > 0 else float("inf")


class _History:
    """The training panel's tickets as a dense (artist, DMA, week) array."""

    def __init__(self, train: TicketPanel) -> None:
        self.first = int(train.week.min())
        weeks = int(train.week.max()) - self.first + 1
        self.tickets = np.full((train.artists.size, train.dmas.size, weeks), np.nan)
        self.tickets[train.artist, train.dma, train.week - self.first] = np.where(
            train.observed, train.tickets, np.nan)

    def value(self, artist: np.ndarray, dma: np.ndarray, week: np.ndarray) -> np.ndarray:
        """Tickets of those rows' weeks (NaN outside the training weeks)."""
        index = week - self.first
        ok = (index >= 0) & (index < self.tickets.shape[2])
        out = np.full(artist.size, np.nan)
        out[ok] = self.tickets[artist[ok], dma[ok], index[ok]]
        return out

    def trailing(self, artist: np.ndarray, dma: np.ndarray, before: int) -> np.ndarray:
        """Mean of the ``TRAILING`` weeks before week ``before`` (absolute index)."""
        end = before - self.first
        window = self.tickets[:, :, max(end - TRAILING, 0):end]
        means = np.nan_to_num(np.nanmean(window, axis=2)) if window.shape[2] else \
            np.zeros(self.tickets.shape[:2])
        return means[artist, dma]


def _naive(point: Callable[[TicketPanel, int], np.ndarray], panels: PanelPair,
           n_draws: int, rng: np.random.Generator) -> BaselineForecast:
    """A point forecast, with an NB dispersion from its own errors on recent training weeks."""
    train = panels.train
    origin = int(panels.forecast.week.min())
    recent = train.observed & (train.week >= origin - CALIBRATION_WEEKS)
    calibration_origin = origin - CALIBRATION_WEEKS
    sub = train.take(recent)
    fitted = point(sub, calibration_origin)
    dispersion = moment_dispersion(sub.tickets, fitted)
    mean = point(panels.forecast, origin)
    return BaselineForecast(mean, negative_binomial_draws(mean, dispersion, n_draws, rng))


def seasonal_naive(panels: PanelPair, n_draws: int, rng: np.random.Generator
                   ) -> BaselineForecast:
    """Same week last year (see module docstring)."""
    history = _History(panels.train)

    def point(rows: TicketPanel, origin: int) -> np.ndarray:
        last_year = history.value(rows.artist, rows.dma, rows.week - SEASON)
        fallback = history.trailing(rows.artist, rows.dma, origin)
        return np.where(np.isnan(last_year), fallback, last_year)

    return _naive(point, panels, n_draws, rng)


def trailing_mean(panels: PanelPair, n_draws: int, rng: np.random.Generator
                  ) -> BaselineForecast:
    """Mean of the last eight weeks before the origin."""
    history = _History(panels.train)

    def point(rows: TicketPanel, origin: int) -> np.ndarray:
        return history.trailing(rows.artist, rows.dma, origin)

    return _naive(point, panels, n_draws, rng)


def _covariates(panels: PanelPair, rows: TicketPanel) -> np.ndarray:
    tiers = np.eye(3)[panels.tier[rows.artist]][:, 1:]
    return np.column_stack([rows.x, panels.size[rows.dma], panels.popularity[rows.artist],
                            tiers])


def glm_nb(panels: PanelPair, n_draws: int, rng: np.random.Generator) -> BaselineForecast:
    """Non-hierarchical NB2 GLM (statsmodels), same features, no group effects."""
    import statsmodels.api as sm

    train = panels.train.take(panels.train.observed)
    keep = np.arange(train.n)
    if keep.size > GLM_MAX_ROWS:
        keep = np.sort(rng.choice(keep, GLM_MAX_ROWS, replace=False))
    x = sm.add_constant(_covariates(panels, train)[keep], has_constant="add")
    y = train.tickets[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # statsmodels' default start (a Poisson fit plus a method-of-moments alpha) can put
        # alpha at infinity on sparse counts; start from the Poisson GLM and alpha = 1.
        poisson = sm.GLM(y, x, family=sm.families.Poisson()).fit()
        fit = sm.NegativeBinomial(y, x).fit(start_params=np.append(poisson.params, 1.0),
                                            method="bfgs", disp=0, maxiter=500)
    params = np.asarray(fit.params)
    if not np.all(np.isfinite(params)):
        raise RuntimeError("the negative-binomial GLM baseline did not converge")
    coefficients, alpha = params[:-1], float(params[-1])
    x_new = sm.add_constant(_covariates(panels, panels.forecast), has_constant="add")
    # A GLM without group effects can extrapolate wildly; cap at 10x the largest week seen.
    ceiling = np.log(10.0 * max(float(train.tickets.max()), 1.0))
    mean = np.exp(np.minimum(x_new @ coefficients, ceiling))
    dispersion = 1.0 / alpha if alpha > 0 else float("inf")
    return BaselineForecast(mean, negative_binomial_draws(mean, dispersion, n_draws, rng))


def pair_exposure(train: TicketPanel, n_artists: int, n_dmas: int) -> np.ndarray:
    """``(artists, DMAs)`` expected weekly tickets from the training weeks alone.

    ``(s_ad + K m_ad) / (n_ad + K)``: the pair's ticket sum ``s_ad`` over its ``n_ad`` observed
    weeks, shrunk with weight ``K = EXPOSURE_SHRINKAGE`` weeks towards ``m_ad`` = the artist's
    mean per DMA-week times the DMA's share of all sales relative to an average DMA (a
    multiplicative artist x DMA prior); a small floor keeps pairs that never sold positive.
    """
    sums = np.zeros((n_artists, n_dmas))
    weeks = np.zeros((n_artists, n_dmas))
    np.add.at(sums, (train.artist, train.dma), train.tickets)
    np.add.at(weeks, (train.artist, train.dma), 1.0)
    artist_mean = sums.sum(axis=1) / np.maximum(weeks.sum(axis=1), 1.0)
    dma_share = sums.sum(axis=0) / max(float(sums.sum()), 1.0) * n_dmas
    prior = np.outer(artist_mean, dma_share) + EXPOSURE_FLOOR
    return (sums + EXPOSURE_SHRINKAGE * prior) / (weeks + EXPOSURE_SHRINKAGE)


def gbm_poisson(panels: PanelPair, n_draws: int, rng: np.random.Generator
                ) -> BaselineForecast:
    """Gradient boosting with a Poisson loss from a per-pair exposure offset.

    scikit-learn's histogram boosting takes Newton steps ``(Y - E) / (E + l2)`` on the log
    scale and, unlike LightGBM (``poisson_max_delta_step``), does not bound them: a leaf holding a
    superstar's 4,000-ticket week among rows fitted at 0.5 jumps by hundreds of log units
    (a fit on raw counts, with the artist and DMA as categories, forecast 10^9 tickets). The
    offset ``e`` = :func:`pair_exposure` makes ``Y / E`` order one; it enters as Poisson
    regression of ``y / e`` with sample weight ``e``, whose deviance equals the Poisson
    deviance of ``y`` with mean ``e * f(x)`` (the standard exposure formulation). Forecasts
    are still capped at 10x the largest week seen, as the GLM's.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor

    train = panels.train.take(panels.train.observed)
    exposure = pair_exposure(train, panels.tier.size, panels.size.size)

    def design(rows: TicketPanel) -> np.ndarray:
        return np.column_stack([_covariates(panels, rows),
                                np.log(exposure[rows.artist, rows.dma])])

    train_exposure = exposure[train.artist, train.dma]
    model = HistGradientBoostingRegressor(
        loss="poisson", max_iter=300, learning_rate=0.1, min_samples_leaf=100,
        l2_regularization=1.0, random_state=int(rng.integers(1_000_000_000)))
    model.fit(design(train), train.tickets / train_exposure, sample_weight=train_exposure)
    forecast = panels.forecast
    mean = np.minimum(model.predict(design(forecast)) * exposure[forecast.artist, forecast.dma],
                      10.0 * max(float(train.tickets.max()), 1.0))
    return BaselineForecast(mean, negative_binomial_draws(mean, float("inf"), n_draws, rng))


FITTERS: dict[str, Callable[[PanelPair, int, np.random.Generator], BaselineForecast]] = {
    "seasonal_naive": seasonal_naive, "trailing_mean": trailing_mean, "glm_nb": glm_nb,
    "gbm_poisson": gbm_poisson}
