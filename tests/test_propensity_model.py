"""The propensity model: the Laplace posterior against NUTS on a subsample, held-out metrics
against the brief's bar and gradient boosting, and exact scoring against draws."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score

from bayescope.data.generate_propensity import generate_propensity_table
from bayescope.data.propensity_features import PropensityDesign
from bayescope.data.propensity_table import (
    CATEGORICAL,
    FEATURES,
    TARGET,
    validate_propensity_columns,
)
from bayescope.families.propensity import fit_posterior
from bayescope.inference.propensity_scoring import score_draws, score_exact
from bayescope.inference.sampling import fit_model
from bayescope.models.propensity_logistic import build_pymc, fit_laplace, prior_mean, prior_sd
from bayescope.posterior_reports.binary import expected_calibration_error


def design_of(n: int, seed: int):
    generated = generate_propensity_table(n, np.random.default_rng(seed))
    columns = validate_propensity_columns(generated.table)
    design = PropensityDesign.fit(columns)
    x, _ = design.transform(columns)
    y = columns[TARGET].astype(float)
    return generated, columns, design, x, y


def test_laplace_matches_nuts_on_a_subsample():
    """Posterior means within 0.1 NUTS sd and sds within 10%, every coefficient."""
    _, _, design, x, y = design_of(10_000, 7)
    mean0, sd0 = prior_mean(y.mean(), x.shape[1]), prior_sd(design.n_standardised, x.shape[1])
    laplace = fit_laplace(x, y, mean0, sd0)
    nuts = fit_model(build_pymc(x, y, mean0, sd0), ["beta"], draws=1000, tune=500, chains=4,
                     seed=1, progress=False)
    assert nuts.gate.passed, nuts.gate.problems
    draws = np.asarray(nuts.idata["posterior"]["beta"].values).reshape(-1, mean0.size)
    z = (laplace.mean - draws.mean(axis=0)) / draws.std(axis=0)
    ratio = laplace.sd / draws.std(axis=0)
    assert np.abs(z).max() <= 0.1, (np.abs(z).max(), int(np.abs(z).argmax()))
    assert 0.9 <= ratio.min() and ratio.max() <= 1.1, (ratio.min(), ratio.max())


def test_held_out_metrics_meet_the_brief_and_match_boosting():
    generated, columns, _, _, _ = design_of(80_000, 11)
    n = len(columns["customer_id"])
    test = np.random.default_rng(0).random(n) < 0.25
    held = {k: v[test] for k, v in columns.items()}
    design, _, _, posterior = fit_posterior({k: v[~test] for k, v in columns.items()})
    x_held, unseen = design.transform(held)
    assert unseen == dict.fromkeys(CATEGORICAL, 0)
    p_mean, p_low, p_high = score_exact(x_held, posterior.mean, posterior.chol)
    outcome = held[TARGET]
    auc = roc_auc_score(outcome, p_mean)
    assert auc >= 0.82 and average_precision_score(outcome, p_mean) >= 0.45
    assert expected_calibration_error(outcome, p_mean) <= 0.02
    assert np.all((p_low <= p_mean) & (p_mean <= p_high))
    table = generated.table
    features = table[list(FEATURES)].copy()
    for column in CATEGORICAL:
        features[column] = features[column].astype("category")
    boosting = HistGradientBoostingClassifier(categorical_features="from_dtype",
                                              random_state=0)
    boosting.fit(features[~test], table[TARGET][~test])
    boosting_auc = roc_auc_score(outcome, boosting.predict_proba(features[test])[:, 1])
    assert auc >= boosting_auc - 0.01, (auc, boosting_auc)


def test_exact_scores_equal_draw_scores_and_unseen_levels_are_counted():
    _, columns, design, x, y = design_of(5_000, 3)
    posterior = fit_laplace(x, y, prior_mean(y.mean(), x.shape[1]),
                            prior_sd(design.n_standardised, x.shape[1]))
    exact = score_exact(x, posterior.mean, posterior.chol, chunk_rows=1_234)
    drawn = score_draws(x, posterior.draws(4000, np.random.default_rng(0)), chunk_rows=999)
    for a, b in zip(exact, drawn, strict=True):  # 4,000 draws: Monte Carlo error only
        assert np.abs(a - b).max() < 0.02 and np.abs(a - b).mean() < 0.002
    scoring = {k: v[:10].copy() for k, v in columns.items()}
    scoring["region"][:3] = "atlantis"
    _, unseen = design.transform(scoring)
    assert unseen["region"] == 3
    assert pytest.approx(sum(unseen.values())) == 3


def test_real_cdnow_task_against_logistic_regression_and_boosting(cdnow):
    from sklearn.linear_model import LogisticRegression

    from bayescope.data.cdnow_propensity import cdnow_propensity_table

    table = cdnow_propensity_table(transactions=cdnow)
    columns = validate_propensity_columns(table)
    test = np.random.default_rng(0).random(len(table)) < 0.25
    held = {k: v[test] for k, v in columns.items()}
    design, _, y, posterior = fit_posterior({k: v[~test] for k, v in columns.items()})
    ours = score_exact(design.transform(held)[0], posterior.mean, posterior.chol)[0]
    outcome = held[TARGET]
    raw = table[["orders_12m", "avg_order_value", "days_since_last_order", "total_spend_12m",
                 "categories_purchased_12m", "tenure_days"]].to_numpy(float)
    rivals = [LogisticRegression(max_iter=5000).fit(raw[~test], y),
              HistGradientBoostingClassifier(random_state=0).fit(raw[~test], y)]
    our_auc = roc_auc_score(outcome, ours)
    for rival in rivals:
        assert our_auc >= roc_auc_score(outcome, rival.predict_proba(raw[test])[:, 1]) - 0.005
    assert expected_calibration_error(outcome, ours) <= 0.02
