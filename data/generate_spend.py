"""Seeded synthetic PostPilot campaign tables from a documented hurdle process, with truth.

The process, per customer (all randomness from the caller's NumPy ``Generator``):

1. A latent engagement ``u ~ N(0, 1)`` drives correlated features: lifetime spend is log-normal
   (heavy-tailed, ``log spend = 5 + 0.9 (0.6 u + 0.8 e)``), brand affinity and email open rate
   are logistic in ``u`` plus noise, web activity is Gamma with a scale rising in ``u``, days
   since the last purchase are exponential with a mean falling in ``u``, tenure is 30 days plus
   a Gamma, price sensitivity is Beta(2, 2).
2. Campaign (SUMMER 40%, FALL 35%, WINTER 25%) with its send date; treatment (mailed) with
   probability 0.8: treated and control are imbalanced, as in a direct-mail test.
3. The engineered, standardised features ``z`` of :mod:`bayescope.data.spend_features` (log
   transforms: effects are non-linear in the raw columns) enter two parts:

   * any spend: ``logit P(spend > 0) = alpha_c + tau_c * treated + z @ gamma``;
   * amount given spend: ``log spend ~ Normal(beta_c + kappa_c * treated + z @ delta, sigma)``
     with ``log sigma = sigma_0 + sigma_1 * z_log_lifetime_spend`` (heteroscedastic).

   Campaign intercepts (``alpha_c``, ``beta_c``) and treatment effects (``tau_c``,
   ``kappa_c``) differ by campaign: the treatment effect on both parts varies by campaign.
4. Amounts are rounded to cents (at least 0.01); most customers spend nothing (about 70%).

The truth is returned with the table so that recovery can be tested; the standardisation uses
the generated table's own means and sds, so a model fitted to the whole table has the same
features.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.campaign_spend import CAMPAIGNS, TARGET
from bayescope.data.spend_features import FEATURES, FeatureScaling

SEND_DATES = {"RETENTION_SUMMER": "2025-07-01", "RETENTION_FALL": "2025-10-01",
              "RETENTION_WINTER": "2026-01-15"}
CAMPAIGN_SHARES = (0.40, 0.35, 0.25)
TREATED_SHARE = 0.8


def _by_campaign(values: tuple[float, float, float]) -> dict[str, float]:
    return dict(zip(CAMPAIGNS, values, strict=True))


def _by_feature(values: tuple[float, ...]) -> dict[str, float]:
    return dict(zip(FEATURES, values, strict=True))


@dataclass
class SpendTruth:
    """True parameters of the hurdle process (slopes per standardised feature)."""

    any_intercept: dict[str, float] = field(
        default_factory=lambda: _by_campaign((-1.0, -1.3, -1.6)))
    any_treatment: dict[str, float] = field(
        default_factory=lambda: _by_campaign((0.55, 0.35, 0.15)))
    any_slopes: dict[str, float] = field(
        default_factory=lambda: _by_feature((0.5, -0.6, 0.25, 0.1, 0.3, 0.2, -0.1)))
    amount_intercept: dict[str, float] = field(
        default_factory=lambda: _by_campaign((3.7, 3.6, 3.45)))
    amount_treatment: dict[str, float] = field(
        default_factory=lambda: _by_campaign((0.25, 0.12, 0.0)))
    amount_slopes: dict[str, float] = field(
        default_factory=lambda: _by_feature((0.45, -0.1, 0.1, 0.05, 0.2, 0.05, -0.25)))
    log_sigma_intercept: float = float(np.log(0.8))
    log_sigma_slope: float = 0.15

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class GeneratedSpend:
    """A generated table, the truth, and each customer's latent P(spend > 0), mu and sigma."""

    table: pd.DataFrame
    truth: SpendTruth
    latent: pd.DataFrame


def generate_spend_table(n_customers: int, rng: np.random.Generator,
                         truth: SpendTruth | None = None) -> GeneratedSpend:
    """Generate ``n_customers`` rows in the PostPilot schema (see module docstring)."""
    truth = truth or SpendTruth()
    n = n_customers
    u = rng.normal(size=n)
    lifetime = np.exp(5.0 + 0.9 * (0.6 * u + 0.8 * rng.normal(size=n)))
    campaign = rng.choice(len(CAMPAIGNS), size=n, p=CAMPAIGN_SHARES)
    names = np.asarray(CAMPAIGNS)[campaign]
    table = pd.DataFrame({
        "customer_id": [f"C{i:07d}" for i in range(n)],
        "campaign_id": names,
        "campaign_send_date": pd.to_datetime([SEND_DATES[c] for c in names]),
        "treatment_group": (rng.random(n) < TREATED_SHARE).astype(int),
        "historical_lifetime_spend": np.round(lifetime, 2),
        "brand_affinity_score": _sigmoid(0.8 * u + 0.8 * rng.normal(size=n)),
        "web_activity_score": rng.gamma(2.0, 5.0 * np.exp(0.4 * u)),
        "days_since_last_purchase": np.round(rng.exponential(90.0 * np.exp(-0.5 * u))),
        "price_sensitivity": rng.beta(2.0, 2.0, size=n),
        "email_open_rate": _sigmoid(-1.0 + 0.5 * u + 0.7 * rng.normal(size=n)),
        "customer_tenure_days": (30 + rng.gamma(2.0, 400.0, size=n)).astype(int),
    })
    z = FeatureScaling.fit(table).transform(table)
    treated = table["treatment_group"].to_numpy(float)
    any_eta = (_lookup(truth.any_intercept, campaign) + _lookup(truth.any_treatment, campaign)
               * treated + z @ np.array([truth.any_slopes[f] for f in FEATURES]))
    mu = (_lookup(truth.amount_intercept, campaign) + _lookup(truth.amount_treatment, campaign)
          * treated + z @ np.array([truth.amount_slopes[f] for f in FEATURES]))
    sigma = np.exp(truth.log_sigma_intercept + truth.log_sigma_slope * z[:, 0])
    p_positive = _sigmoid(any_eta)
    positive = rng.random(n) < p_positive
    amount = np.maximum(np.round(np.exp(mu + sigma * rng.normal(size=n)), 2), 0.01)
    table[TARGET] = np.where(positive, amount, 0.0)
    latent = pd.DataFrame({"p_positive": p_positive, "mu": mu, "sigma": sigma})
    return GeneratedSpend(table, truth, latent)


def _lookup(values: dict[str, float], campaign: np.ndarray) -> np.ndarray:
    return np.array([values[c] for c in CAMPAIGNS])[campaign]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
