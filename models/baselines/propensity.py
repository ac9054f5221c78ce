"""Classical rivals of the Bayesian propensity model: scikit-learn's logistic regression on the
same design matrix, and histogram gradient boosting on the raw columns (categoricals native)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression


def classical_probabilities(x_train: np.ndarray, y_train: np.ndarray, x_held: np.ndarray,
                            raw: pd.DataFrame, holdout: np.ndarray,
                            categorical: Sequence[str], seed: int) -> dict[str, np.ndarray]:
    """P(purchase) of the held-out rows from each rival, fitted on the training rows.

    Parameters
    ----------
    x_train, y_train, x_held
        The design matrix of the training and held-out rows and the training outcome.
    raw
        The raw feature columns of every row (boosting's input); ``holdout`` marks the
        held-out rows and ``categorical`` the columns boosting treats as categories.
    seed
        Seed of the boosting's own randomness.
    """
    logistic = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    frame = raw.copy()
    for column in categorical:
        frame[column] = frame[column].astype("category")
    boosting = HistGradientBoostingClassifier(categorical_features="from_dtype",
                                              random_state=seed)
    boosting.fit(frame[~holdout], y_train)
    return {"logistic_regression": logistic.predict_proba(x_held)[:, 1],
            "gradient_boosting": boosting.predict_proba(frame[holdout])[:, 1]}
