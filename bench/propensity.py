"""Benchmark: purchase propensity side by side in one process on the same generated split.

scikit-learn LogisticRegression (on the same design matrix) and HistGradientBoosting (raw
columns, native categoricals and missing values), PyMC + nutpie NUTS of the same Bayesian
model (on ``--nuts-rows`` training rows, since the full 180K takes minutes), and bayescope's
exact-Laplace posterior. Prints fit time, time to score the held-out rows, ROC-AUC, PR-AUC
and expected calibration error, and ours relative to each.

Usage: ``python bench/propensity.py [--customers 240000] [--nuts-rows 20000]``
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from bayescope.data.generate_propensity import generate_propensity_table
from bayescope.data.propensity_features import PropensityDesign
from bayescope.data.propensity_table import (
    CATEGORICAL,
    FEATURES,
    TARGET,
    validate_propensity_columns,
)
from bayescope.inference.propensity_scoring import score_draws, score_exact
from bayescope.inference.sampling import fit_model
from bayescope.models.propensity_logistic import build_pymc, fit_laplace, prior_mean, prior_sd
from bayescope.posterior_reports.binary import expected_calibration_error

warnings.filterwarnings("ignore")


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"roc_auc": roc_auc_score(y, p), "pr_auc": average_precision_score(y, p),
            "ece": expected_calibration_error(y, p)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=240_000)
    parser.add_argument("--nuts-rows", type=int, default=20_000, help="0 skips NUTS")
    args = parser.parse_args()
    generated = generate_propensity_table(args.customers, np.random.default_rng(0))
    columns = validate_propensity_columns(generated.table)
    test = np.random.default_rng(1).random(args.customers) < 0.25
    train = {k: v[~test] for k, v in columns.items()}
    held = {k: v[test] for k, v in columns.items()}
    y, y_held = train[TARGET].astype(float), held[TARGET]
    rows = []

    start = time.perf_counter()
    design = PropensityDesign.fit(train)
    x, _ = design.transform(train)
    mean0, sd0 = prior_mean(y.mean(), x.shape[1]), prior_sd(design.n_standardised, x.shape[1])
    posterior = fit_laplace(x, y, mean0, sd0)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    x_held, _ = design.transform(held)
    p = score_exact(x_held, posterior.mean, posterior.chol)[0]
    rows.append({"model": "bayescope Laplace posterior", "fit_s": fit_s,
                 "score_s": time.perf_counter() - start, **metrics(y_held, p)})
    draws = posterior.draws(1000, np.random.default_rng(0))
    start = time.perf_counter()
    p = score_draws(x_held, draws)[0]
    rows.append({"model": "bayescope, 1,000-draw scoring", "fit_s": fit_s,
                 "score_s": time.perf_counter() - start, **metrics(y_held, p)})

    start = time.perf_counter()
    logistic = LogisticRegression(max_iter=5000).fit(x, y)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    p = logistic.predict_proba(x_held)[:, 1]
    rows.append({"model": "sklearn LogisticRegression (same design)", "fit_s": fit_s,
                 "score_s": time.perf_counter() - start, **metrics(y_held, p)})

    table = generated.table[list(FEATURES)].copy()
    for column in CATEGORICAL:
        table[column] = table[column].astype("category")
    start = time.perf_counter()
    boosting = HistGradientBoostingClassifier(categorical_features="from_dtype",
                                              random_state=0).fit(table[~test], y)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    p = boosting.predict_proba(table[test])[:, 1]
    rows.append({"model": "sklearn HistGradientBoosting", "fit_s": fit_s,
                 "score_s": time.perf_counter() - start, **metrics(y_held, p)})

    if args.nuts_rows:
        sub = np.random.default_rng(2).choice(len(y), min(args.nuts_rows, len(y)),
                                              replace=False)
        start = time.perf_counter()
        nuts = fit_model(build_pymc(x[sub], y[sub], mean0, sd0), ["beta"], draws=1000,
                         chains=4, seed=1, progress=False)
        fit_s = time.perf_counter() - start
        beta = np.asarray(nuts.idata["posterior"]["beta"].values).reshape(-1, mean0.size)
        start = time.perf_counter()
        p = score_draws(x_held, beta[np.random.default_rng(0).choice(len(beta), 1000)])[0]
        rows.append({"model": f"PyMC + nutpie NUTS ({len(sub):,} rows)", "fit_s": fit_s,
                     "score_s": time.perf_counter() - start, **metrics(y_held, p)})
    frame = pd.DataFrame(rows)
    print(f"{args.customers:,} customers, {int((~test).sum()):,} fitted, "
          f"{int(test.sum()):,} held out; true-probability ROC-AUC "
          f"{roc_auc_score(y_held, generated.latent['p_true'][test]):.4f}")
    print(frame.round(4).to_string(index=False))
    ours = frame.iloc[0]
    for _, row in frame.iloc[2:].iterrows():
        print(f"ours vs {row['model']}: fit time x{ours['fit_s'] / row['fit_s']:.2f}, "
              f"ROC-AUC {ours['roc_auc'] - row['roc_auc']:+.4f}")


if __name__ == "__main__":
    main()
