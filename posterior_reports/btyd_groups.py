"""Where a BTYD model does well and where it does poorly on the holdout (the brief's Q6).

Customers are grouped four ways: calibration frequency (0, 1, 2-3, 4-7, 8+), recency of the
repeat buyers (thirds of ``t_x / T``; no repeat purchase apart), first-purchase cohort
(quarters of T: the earliest-acquired have the largest T) and spend per repeat purchase
(deciles among the repeat buyers; no repeat purchase apart). Per group: the customers, their
mean holdout purchases and ours' mean prediction, the ratio of the two totals with a 90%
bootstrap interval (calibration), ours' 90% interval coverage, ours' CRPS and the rival's
(lifetimes' MLE of the same model), and the paired 90% interval of the CRPS difference.

The best and worst groups are named from these numbers (:func:`strengths_and_weaknesses`):
the worst is the group whose total is most off (the ratio's interval excluding 1), the best
the one where ours beats the rival by most (the CRPS interval excluding 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bayescope.data.rfm import RFMSummary
from bayescope.posterior_reports.comparison import compare_models

MIN_GROUP = 30
BOOTSTRAP = 500


def customer_groups(rfm: RFMSummary) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Grouping name -> (group index of each customer, group labels)."""
    x, ratio = rfm.frequency, rfm.recency / np.maximum(rfm.T, 1e-9)
    repeat = x > 0
    frequency = np.digitize(x, [1, 2, 4, 8])
    groups = {"frequency": (frequency, ["0", "1", "2-3", "4-7", "8+"])}
    if repeat.sum() >= 3 * MIN_GROUP:
        cuts = np.quantile(ratio[repeat], [1 / 3, 2 / 3])
        groups["recency"] = (np.where(repeat, 1 + np.digitize(ratio, cuts), 0),
                             ["no repeat", "recency: earliest third", "recency: middle third",
                              "recency: latest third"])
    cohort_cuts = np.quantile(rfm.T, [0.25, 0.5, 0.75])
    groups["cohort"] = (3 - np.digitize(rfm.T, cohort_cuts, right=True),
                        ["acquired first (largest T)", "second quarter", "third quarter",
                         "acquired last (smallest T)"])
    values = rfm.monetary_value
    if repeat.sum() >= 10 * MIN_GROUP and np.ptp(values[repeat]) > 0:
        cuts = np.quantile(values[repeat], np.arange(1, 10) / 10)
        groups["spend"] = (np.where(repeat, 1 + np.digitize(values, cuts), 0),
                           ["no repeat", *(f"spend decile {d}" for d in range(1, 11))])
    return groups


def group_table(rfm: RFMSummary, y: np.ndarray, expected: Mapping[str, np.ndarray],
                pointwise: Mapping[str, Mapping[str, np.ndarray]], covered: np.ndarray,
                rival: str, rng: np.random.Generator) -> list[dict[str, Any]]:
    """One row per (grouping, group) with at least :data:`MIN_GROUP` customers (module
    docstring); ``expected``/``pointwise`` by model name, ``covered`` ours' 90% coverage."""
    rows = []
    ours = expected["bayescope"]
    for grouping, (index, labels) in customer_groups(rfm).items():
        for g, label in enumerate(labels):
            members = np.flatnonzero(index == g)
            if members.size < MIN_GROUP:
                continue
            actual, predicted = y[members], ours[members]
            boot = rng.integers(0, members.size, (BOOTSTRAP, members.size))
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = predicted[boot].sum(axis=1) / actual[boot].sum(axis=1)
            ratios = ratios[np.isfinite(ratios)]
            low, high = ((float(v) for v in np.quantile(ratios, [0.05, 0.95]))
                         if ratios.size else (float("nan"), float("nan")))
            crps = {name: {"crps": pointwise[name]["crps"][members]}
                    for name in ("bayescope", rival)}
            paired = next(r for r in compare_models(crps, "bayescope", rng, n_boot=BOOTSTRAP)
                          if r["model"] == rival)
            rows.append({
                "grouping": grouping, "group": label, "customers": int(members.size),
                "actual_mean": float(actual.mean()), "predicted_mean": float(predicted.mean()),
                "ratio": float(predicted.sum() / actual.sum()) if actual.sum() > 0
                else float("nan"),
                "ratio_low": low, "ratio_high": high,
                "coverage_90": float(covered[members].mean()),
                "crps": float(crps["bayescope"]["crps"].mean()),
                "rival_crps": float(crps[rival]["crps"].mean()),
                "rival_minus_ours": paired["difference"],
                "rival_minus_ours_low": paired["difference_low"],
                "rival_minus_ours_high": paired["difference_high"],
            })
    return rows


def strengths_and_weaknesses(rows: list[dict[str, Any]], rival_label: str) -> list[str]:
    """Plain sentences naming the worst and best groups from :func:`group_table`'s rows."""
    out = []
    off = [r for r in rows if np.isfinite(r["ratio"]) and not (
        r["ratio_low"] <= 1.0 <= r["ratio_high"])]
    if off:
        worst = max(off, key=lambda r: abs(np.log(r["ratio"])))
        side = "over" if worst["ratio"] > 1 else "under"
        out.append(f"Where it does poorly: for {worst['grouping']} group '{worst['group']}' "
                   f"({worst['customers']:,} customers) it {side}-predicts holdout purchases, "
                   f"{worst['predicted_mean']:.3g} a customer against {worst['actual_mean']:.3g}"
                   f" bought (ratio {worst['ratio']:.2f}, 90% interval {worst['ratio_low']:.2f}"
                   f"-{worst['ratio_high']:.2f}); its 90% intervals hold "
                   f"{worst['coverage_90']:.0%} of them.")
    else:
        out.append("No customer group's holdout total is off beyond its 90% interval: the "
                   "model is calibrated by frequency, recency, cohort and spend.")
    better = [r for r in rows if r["rival_minus_ours_low"] > 0]
    if better:
        best = max(better, key=lambda r: r["rival_minus_ours"] / max(r["rival_crps"], 1e-12))
        out.append(f"Where it does best against {rival_label}: {best['grouping']} group "
                   f"'{best['group']}' ({best['customers']:,} customers), CRPS "
                   f"{best['crps']:.3g} against {best['rival_crps']:.3g} (difference "
                   f"{best['rival_minus_ours']:.3g}, 90% interval "
                   f"{best['rival_minus_ours_low']:.3g} to {best['rival_minus_ours_high']:.3g}).")
    worse = [r for r in rows if r["rival_minus_ours_high"] < 0]
    if worse:
        lost = min(worse, key=lambda r: r["rival_minus_ours"] / max(r["rival_crps"], 1e-12))
        out.append(f"Where {rival_label} does better: {lost['grouping']} group "
                   f"'{lost['group']}' ({lost['customers']:,} customers), CRPS "
                   f"{lost['rival_crps']:.3g} against ours {lost['crps']:.3g}.")
    elif better:
        out.append(f"In no group does {rival_label} beat it beyond noise.")
    return out
