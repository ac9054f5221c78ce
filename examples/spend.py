"""Post-campaign spend brief on a generated PostPilot table with known truth.

Fits the hurdle log-normal model (P(any spend) and log spend given spend, each with a
campaign-varying treatment effect), saves the run, loads it back and answers the brief: what
did each campaign add, per customer, with intervals; how does it compare with OLS, log-OLS
and gradient boosting on held-out customers; what will new customers spend.

    python examples/spend.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _settings import OUT, size

import bayescope as bs
from bayescope.data.campaign_spend import TARGET
from bayescope.data.generate_spend import generate_spend_table

generated = generate_spend_table(size(20_000, 1_500), np.random.default_rng(0))
table = generated.table
model = bs.Spend(draws=size(1000, 300), chains=size(4, 2), seed=0).fit(table)
run = model.save(OUT / "spend")
model = bs.load(run)

print(f"gate {'passed' if model.converged_ else 'FAILED'}; "
      f"{model.summary_['n_train']:,} customers fitted, {model.summary_['n_holdout']:,} held out")
print("\nHeld-out customers: bayescope against the classical baselines")
comparison = pd.DataFrame(model.metrics_["comparison"]).T
print(comparison[["crps", "interval_score_90", "rmse", "mae"]].astype(float).round(3)
      .to_string())

new_customers = table.drop(columns=TARGET).head(size(2_000, 200))
predictions = model.predict(new_customers, seed=1)
print("\nPredicted 30-day spend and uplift of the first customers (90% intervals):")
print(predictions.head(8).round(2).to_string(index=False))

by_campaign = predictions.assign(campaign=new_customers["campaign_id"].to_numpy()) \
    .groupby("campaign")[["uplift_mean", "uplift_low", "uplift_high"]].mean()
print("\nWhat each campaign adds per customer (mean uplift, mean 90% bounds):")
print(by_campaign.round(2).to_string())
truth = generated.truth
print("\nThe generator's treatment effects (log-odds of any spend; log amount):",
      truth.any_treatment, truth.amount_treatment)
print(f"\nrun saved to {run}; `bayescope serve {run}` answers the same over HTTP")
