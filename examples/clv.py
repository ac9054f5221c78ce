"""Repeat purchasing / CLV brief on the real CDNOW log (shipped in `lifetimes`).

Fits MBG/NBD + Gamma-Gamma with NUTS on 39 weeks of calibration, saves the run (the
InferenceData in posterior.nc), loads it back and answers the brief: the parameters with
their uncertainty, the holdout comparison against lifetimes' MLE, the top customers by
12-month spend with P(in top 100), who is still alive, and how many of 100 new customers are
alive after 10 days, 1, 10 and 100 years.

    python examples/clv.py            # about a minute on two cores
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _settings import OUT, SMALL, size

import bayescope as bs
from bayescope.data import CDNOW_CALIBRATION_END, load_cdnow

transactions = load_cdnow()  # customer_id, timestamp, value: 23,570 customers, 18 months
if SMALL:  # a random tenth of the customers, for the test suite
    keep = np.random.default_rng(0).choice(transactions["customer_id"].unique(), 1_500,
                                           replace=False)
    transactions = transactions[transactions["customer_id"].isin(keep)]

model = bs.BTYD(model="mbgnbd", time_unit="W", draws=size(1000, 200), chains=size(4, 2),
                seed=0, customer_col="customer_id", time_col="timestamp", value_col="value")
model.fit(transactions, calibration_end=CDNOW_CALIBRATION_END)
run = model.save(OUT / "clv")
model = bs.load(run)  # the saved InferenceData, back as a fitted estimator

print(f"gate {'passed' if model.converged_ else 'FAILED'}; "
      f"{model.summary_['n_customers']:,} customers")
print(pd.DataFrame(model.summary_["parameters"]).T.round(3).to_string())

comparison = pd.DataFrame({name: scores for name, scores in
                           model.metrics_["comparison"].items()}).T
print("\nHoldout (39 weeks), bayescope against lifetimes' MLE and an RFM rule:")
print(comparison[["mae", "rmse", "crps"]].round(3).to_string())

top = model.predict(horizon=365, top=size(100, 20), by="spend")
print("\nTop customers by expected 12-month spend (90% intervals, P(in the top list)):")
print(top.head(10)[["customer_id", "spend_mean", "spend_low", "spend_high", "p_alive",
                    "p_in_top"]].round(2).to_string(index=False))

everyone = model.predict(horizon=365)
print(f"\nCustomers more likely alive than not: {(everyone['p_alive'] > 0.5).mean():.1%}")

alive = model.simulate_alive(customers=100, at="10d,1y,10y,100y", runs=size(1000, 100),
                             seed=7)
print("\nOf 100 new customers, alive at each horizon (5-95% over simulated cohorts):")
print(alive[["horizon", "alive_mean", "alive_low", "alive_high", "alive_expected"]]
      .round(1).to_string(index=False))
print(f"\nrun saved to {run}; `bayescope report {run}` writes the evaluation report")
