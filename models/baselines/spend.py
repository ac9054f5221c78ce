"""Classical rivals of the hurdle spend model, each as a predictive distribution (draws).

Every rival is scored by the same shared evaluation as the Bayesian model, so each one gives
draws of spend per customer, not just a point:

* **OLS (the stand-in for the provided model)**: least squares of spend on the raw columns,
  campaign dummies and treatment; predictive ``Normal(x b, s^2)`` (it can go negative, as the
  provided model can);
* **log-OLS**: least squares of ``log1p(spend)`` on the engineered features, campaign dummies
  and treatment x campaign; predictive ``expm1(Normal(x b, s^2))`` censored at 0;
* **gradient boosting, two-part**: scikit-learn's HistGradientBoostingClassifier for
  P(spend > 0) and HistGradientBoostingRegressor for log spend of spenders, with a log-normal
  residual of the spenders' training residual sd: the strongest classical rival.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression

from bayescope.data.campaign_spend import CAMPAIGNS, FEATURE_RULES, TARGET
from bayescope.data.spend_features import FeatureScaling

LABELS = {"bayescope": "bayescope hurdle", "ols": "OLS (provided model)",
          "log_ols": "log-OLS", "gbm_two_part": "gradient boosting two-part"}


def _campaign_dummies(table: pd.DataFrame) -> np.ndarray:
    codes = pd.Categorical(table["campaign_id"], categories=CAMPAIGNS).codes
    return np.eye(len(CAMPAIGNS))[codes][:, 1:]


def raw_design(table: pd.DataFrame) -> np.ndarray:
    """Raw numeric columns plus campaign dummies (the OLS stand-in's inputs)."""
    return np.column_stack([table[list(FEATURE_RULES)].to_numpy(float),
                            _campaign_dummies(table)])


def engineered_design(table: pd.DataFrame, scaling: FeatureScaling) -> np.ndarray:
    """Engineered features, campaign dummies, treatment and treatment x campaign."""
    dummies = _campaign_dummies(table)
    treated = table["treatment_group"].to_numpy(float)[:, None]
    return np.column_stack([scaling.transform(table), dummies, treated, treated * dummies])


@dataclass
class GaussianLinear:
    """Least squares with a Gaussian predictive; ``log_scale`` works on log1p(spend)."""

    log_scale: bool
    scaling: FeatureScaling | None = None

    def _x(self, table: pd.DataFrame) -> np.ndarray:
        if self.log_scale:
            assert self.scaling is not None
            return engineered_design(table, self.scaling)
        return raw_design(table)

    def fit(self, table: pd.DataFrame) -> GaussianLinear:
        """Fit on a training table."""
        y = table[TARGET].to_numpy(float)
        target = np.log1p(y) if self.log_scale else y
        x = self._x(table)
        self.model_ = LinearRegression().fit(x, target)
        self.sd_ = float(np.std(target - self.model_.predict(x), ddof=x.shape[1] + 1))
        return self

    def sample(self, table: pd.DataFrame, draws: int, rng: np.random.Generator) -> np.ndarray:
        """Predictive draws of spend, (draws, customers)."""
        centre = self.model_.predict(self._x(table))
        noise = rng.normal(centre, self.sd_, size=(draws, centre.size))
        return np.maximum(np.expm1(noise), 0.0) if self.log_scale else noise


@dataclass
class TwoPartBoosting:
    """Gradient-boosted classifier for any spend and regressor for log spend of spenders."""

    scaling: FeatureScaling
    seed: int = 0

    def fit(self, table: pd.DataFrame) -> TwoPartBoosting:
        """Fit both parts on a training table."""
        x = engineered_design(table, self.scaling)
        y = table[TARGET].to_numpy(float)
        positive = y > 0
        self.classifier_ = HistGradientBoostingClassifier(random_state=self.seed).fit(
            x, positive.astype(int))
        log_y = np.log(y[positive])
        # The residual spread is measured out of sample (a 20% split of the spenders): on its
        # own training rows boosting fits too closely and its intervals would be too narrow.
        rng = np.random.default_rng(self.seed)
        held = rng.random(log_y.size) < 0.2
        probe = HistGradientBoostingRegressor(random_state=self.seed).fit(
            x[positive][~held], log_y[~held])
        self.sd_ = float(np.std(log_y[held] - probe.predict(x[positive][held]), ddof=1))
        self.regressor_ = HistGradientBoostingRegressor(random_state=self.seed).fit(
            x[positive], log_y)
        return self

    def sample(self, table: pd.DataFrame, draws: int, rng: np.random.Generator) -> np.ndarray:
        """Predictive draws of spend, (draws, customers)."""
        x = engineered_design(table, self.scaling)
        p = self.classifier_.predict_proba(x)[:, 1]
        mu = self.regressor_.predict(x)
        positive = rng.random((draws, p.size)) < p
        amount = np.exp(rng.normal(mu, self.sd_, size=(draws, p.size)))
        return np.where(positive, amount, 0.0)
