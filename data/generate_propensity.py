"""Seeded synthetic ShopSphere propensity tables from a documented process, with truth.

Per customer (all randomness from the caller's NumPy ``Generator``):

1. A latent type (loyal 20%, deal seeker 25%, browser 30%, lapsing 25% by default;
   ``PropensityTruth.type_shares`` changes the mix, which is how a drifted month is made)
   sets a mean engagement; the customer's engagement ``e`` is that mean plus Normal(0, 0.6) noise.
2. Features follow from ``e`` and the type, so they are correlated and skewed: session, e-mail,
   cart, wishlist, app and order counts are negative binomial with log-means rising in ``e``
   (deal seekers add to carts and use discounts, loyal customers order more); days since the
   last session and order are exponential with means falling in ``e``; order value is
   log-normal and rises with the income band; refunds follow returns; support tickets rise
   with orders; demographics depend on the type (age, channel, device) and on order value
   (income).
3. Missingness is not completely at random: ``avg_session_duration`` is missing for 35% of
   customers without a web session this month and 2% of the others (about 6-7%);
   ``csat_score`` is missing with a
   probability that falls with engagement (disengaged customers skip surveys), about 12%;
   each demographic is missing for about 3%, the income band more often for the young.
4. The target is Bernoulli with ``logit p = b0 + s * f(x)`` where ``f`` has non-linear and
   interacting terms on the observed features (log counts, a hinge in the days since the last
   order at 60 days, cart adds x discount use, a CSAT effect only where it was measured,
   device and channel effects) plus a latent-type residual the features do not fully reveal;
   ``b0`` is solved so 18% of customers purchase, unless the truth fixes it (a later month
   drawn with the same ``b0`` and another type mix has another purchase rate).

The truth (coefficients, ``b0``, each customer's true probability and type) is returned so
that calibration and discrimination can be judged against the best possible model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from bayescope.data.propensity_table import TARGET

TYPES = ("loyal", "deal_seeker", "browser", "lapsing")
TYPE_SHARES = (0.20, 0.25, 0.30, 0.25)
TYPE_ENGAGEMENT = (0.9, 0.3, 0.0, -0.9)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
REGIONS = ("north", "south", "east", "west", "central")
CHANNELS = ("organic", "paid_search", "social", "email", "referral", "affiliate")
DEVICES = ("desktop", "mobile", "tablet")
INCOMES = ("low", "lower_middle", "upper_middle", "high")


@dataclass
class PropensityTruth:
    """Coefficients of the true log-odds (before ``b0``) and the target share."""

    positive_share: float = 0.18
    type_shares: tuple[float, ...] = TYPE_SHARES
    coefficients: dict[str, float] = field(default_factory=lambda: {
        "log_sessions": 0.55, "log_days_since_session": -0.45, "log_cart_adds": 0.45,
        "log_orders": 0.45, "order_recency_hinge": -0.55, "log_email_clicks": 0.30,
        "cart_x_discount": 0.70, "csat_centred": 0.25, "mobile": 0.20,
        "channel_email": 0.35, "channel_affiliate": -0.25, "type_residual": 0.60,
    })
    type_residual: dict[str, float] = field(default_factory=lambda: {
        "loyal": 0.6, "deal_seeker": 0.1, "browser": -0.2, "lapsing": -0.6})
    intercept: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class GeneratedPropensity:
    """A generated table, its truth, and each customer's true probability and type."""

    table: pd.DataFrame
    truth: PropensityTruth
    latent: pd.DataFrame


def _nbinom(mean: np.ndarray, dispersion: float, rng: np.random.Generator) -> np.ndarray:
    """Negative binomial counts with the given mean and size ``dispersion``."""
    return rng.poisson(rng.gamma(dispersion, np.asarray(mean) / dispersion))


def generate_propensity_table(n_customers: int = 240_000,
                              rng: np.random.Generator | None = None,
                              truth: PropensityTruth | None = None) -> GeneratedPropensity:
    """Generate the table (see module docstring); 240,000 rows by default."""
    rng = rng if rng is not None else np.random.default_rng(0)
    truth = truth or PropensityTruth()
    n = n_customers
    shares = np.asarray(truth.type_shares, float)
    if shares.shape != (len(TYPES),) or (shares < 0).any() or not np.isclose(shares.sum(), 1):
        raise ValueError(f"type_shares must be {len(TYPES)} non-negative shares summing to 1 "
                         f"({', '.join(TYPES)}); got {truth.type_shares}")
    kind = rng.choice(len(TYPES), size=n, p=shares)
    e = np.asarray(TYPE_ENGAGEMENT)[kind] + rng.normal(0, 0.6, n)
    deal, loyal = (kind == 1).astype(float), (kind == 0).astype(float)
    device = np.where(rng.random(n) < 0.45 + 0.1 * (e > 0), 1,
                      rng.choice([0, 2], size=n, p=[0.8, 0.2]))
    sessions = _nbinom(np.exp(1.4 + 0.8 * e), 1.5, rng)
    orders = _nbinom(np.exp(0.6 + 0.7 * e + 0.6 * loyal), 2.0, rng)
    aov_log = np.log(55) + 0.25 * rng.normal(size=n) + 0.2 * loyal
    income = np.clip(np.round(1.5 + 2.5 * (aov_log - np.log(55)) + rng.normal(0, 0.8, n)),
                     0, 3).astype(int)
    avg_order_value = np.where(orders > 0, np.exp(aov_log + 0.4 * rng.normal(size=n)), 0.0)
    cart_adds = _nbinom(np.exp(0.1 + 0.8 * e + 0.5 * deal), 1.2, rng)
    discount = np.where(orders > 0, rng.beta(1.5 + 4 * deal, 5.0), 0.0)
    opens = _nbinom(np.exp(1.8 + 0.5 * e), 2.0, rng)
    clicks = rng.binomial(opens, 1.0 / (1.0 + np.exp(1.6 - 0.5 * e)))
    days_session = np.minimum(np.round(rng.exponential(np.exp(2.3 - 0.9 * e))), 365)
    days_order = np.where(orders > 0,
                          np.minimum(np.round(rng.exponential(300.0 / (orders + 1))), 365),
                          366 + np.round(rng.exponential(120, n)))
    returns = rng.binomial(orders, 0.08)
    tickets = rng.poisson(0.15 + 0.15 * np.sqrt(orders))
    csat = np.clip(np.round(rng.normal(3.8 + 0.3 * e, 0.8)), 1, 5)
    age = np.clip(np.round(2.2 - 0.5 * deal + 0.6 * loyal + rng.normal(0, 1.2, n)), 0,
                  5).astype(int)
    # Deal seekers come disproportionately through affiliates and paid search.
    channel = np.where(rng.random(n) < 0.25 + 0.2 * deal,
                       np.where(rng.random(n) < 0.5, 5, 1), rng.choice(6, size=n))
    duration = np.exp(np.log(170) + 0.3 * e + 0.5 * rng.normal(size=n))
    table = pd.DataFrame({
        "customer_id": [f"S{i:07d}" for i in range(n)],
        "age_band": np.asarray(AGE_BANDS, dtype=object)[age],
        "region": np.asarray(REGIONS, dtype=object)[rng.choice(5, size=n)],
        "acquisition_channel": np.asarray(CHANNELS, dtype=object)[channel],
        "device_type": np.asarray(DEVICES, dtype=object)[device],
        "income_band": np.asarray(INCOMES, dtype=object)[income],
        "sessions_30d": sessions,
        "avg_session_duration": np.round(duration, 1),
        "pages_per_session": np.round(rng.gamma(4.0, np.exp(0.8 + 0.15 * e) / 4.0), 2),
        "email_opens_90d": opens,
        "email_clicks_90d": clicks,
        "cart_adds_30d": cart_adds,
        "wishlist_adds_30d": _nbinom(np.exp(-0.3 + 0.5 * e), 1.0, rng),
        "app_sessions_30d": _nbinom(np.exp(0.3 + 0.6 * e) * np.where(device == 1, 2.0, 0.6),
                                    1.0, rng),
        "days_since_last_session": days_session,
        "orders_12m": orders,
        "avg_order_value": np.round(avg_order_value, 2),
        "days_since_last_order": days_order,
        "discount_usage_rate": np.round(discount, 3),
        "total_spend_12m": np.round(orders * avg_order_value * rng.gamma(20, 1 / 20, n), 2),
        "categories_purchased_12m": np.minimum(orders, (orders > 0) * (1 + rng.poisson(
            0.4 * orders))),
        "returns_12m": returns,
        "tenure_days": (30 + rng.gamma(2.0, 400.0, n)).astype(int),
        "tickets_12m": tickets,
        "refund_rate": np.round(np.where(orders > 0, returns / np.maximum(orders, 1), 0.0), 3),
        "csat_score": csat,
    })
    c = truth.coefficients
    signal = (c["log_sessions"] * np.log1p(sessions)
              + c["log_days_since_session"] * np.log1p(days_session)
              + c["log_cart_adds"] * np.log1p(cart_adds)
              + c["log_orders"] * np.log1p(orders)
              + c["order_recency_hinge"] * np.maximum(np.log1p(days_order) - np.log(60), 0)
              + c["log_email_clicks"] * np.log1p(clicks)
              + c["cart_x_discount"] * np.log1p(cart_adds) * discount
              + c["mobile"] * (device == 1)
              + c["channel_email"] * (channel == 3) + c["channel_affiliate"] * (channel == 5)
              + c["type_residual"] * np.asarray([truth.type_residual[t] for t in TYPES])[kind])
    csat_observed = rng.random(n) >= 1.0 / (1.0 + np.exp(2.2 + 0.9 * e))
    signal = signal + c["csat_centred"] * np.where(csat_observed, csat - 3.8, 0.0)
    intercept = truth.intercept
    if np.isnan(intercept):
        intercept = optimize.brentq(
            lambda b: float(np.mean(1 / (1 + np.exp(-(b + signal))))) - truth.positive_share,
            -30, 30)
        truth.intercept = float(intercept)
    p = 1.0 / (1.0 + np.exp(-(intercept + signal)))
    table[TARGET] = (rng.random(n) < p).astype(int)
    _add_missingness(table, csat_observed, age, rng)
    latent = pd.DataFrame({"p_true": p, "type": np.asarray(TYPES)[kind], "engagement": e})
    return GeneratedPropensity(table, truth, latent)


def _add_missingness(table: pd.DataFrame, csat_observed: np.ndarray, age: np.ndarray,
                     rng: np.random.Generator) -> None:
    """Blank out values where the brief allows it, not completely at random."""
    n = len(table)
    no_session = table["sessions_30d"].to_numpy() == 0
    table.loc[rng.random(n) < np.where(no_session, 0.35, 0.02), "avg_session_duration"] = np.nan
    table.loc[~csat_observed, "csat_score"] = np.nan
    for column in ("age_band", "region", "acquisition_channel", "device_type"):
        table.loc[rng.random(n) < 0.03, column] = None
    young = age <= 1
    table.loc[rng.random(n) < np.where(young, 0.06, 0.015), "income_band"] = None
