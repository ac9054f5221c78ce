"""Purchase propensity and segments brief on a generated ShopSphere table (25 features).

Fits the Bayesian logistic regression (exact Laplace posterior) and the explainable
segments, saves the run, loads it back and answers the brief: who buys in the next 30 days
(with intervals), how well that ranks against scikit-learn on held-out customers, which
features matter (with uncertainty), and what each segment is.

    python examples/propensity.py      # 240,000 customers in seconds
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _settings import OUT, size

import bayescope as bs
from bayescope.data.generate_propensity import generate_propensity_table

table = generate_propensity_table(size(240_000, 4_000), np.random.default_rng(0)).table
model = bs.Propensity(seed=0).fit(table)
run = model.save(OUT / "propensity")
model = bs.load(run)

print(f"{model.summary_['n_train']:,} customers fitted, {model.summary_['n_holdout']:,} held out")
print("\nHeld-out customers: bayescope against scikit-learn")
print(pd.DataFrame(model.metrics_["comparison"]).T[["roc_auc", "pr_auc", "brier", "ece"]]
      .astype(float).round(4).to_string())

print("\nFeature groups by how far they move customers apart (sd of log-odds, 90%):")
print(pd.DataFrame(model.metrics_["group_importance"])[
    ["group", "sd_of_log_odds_mean", "low", "high"]].round(3).to_string(index=False))

print("\nSegments:")
for segment in model.metrics_["segments"]:
    print(f"  {segment['name']}: propensity "
          f"{segment["propensity_mean"]:.2f} [{segment['propensity_low']:.2f}, "
          f"{segment['propensity_high']:.2f}]; {segment['description']}")

scores = model.predict(table.drop(columns="purchased_next_30d").head(size(50_000, 500)))
print("\nMost likely buyers next month (90% intervals):")
print(scores.sort_values("p_mean", ascending=False).head(8).round(3).to_string(index=False))
print(f"\nrun saved to {run}; `bayescope score {run} --data FILE` scores any size in chunks")
