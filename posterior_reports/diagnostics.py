"""Sampler diagnostics of a stored run: per-parameter R-hat and ESS, divergences, E-BFMI and
tree depth, all from arviz-stats' numeric core on the stored draws.

E-BFMI below 0.3 in any chain means the momentum resampling explores the energy distribution
poorly (Betancourt 2016); a large share of transitions at the maximum tree depth means the
step size is too small for the posterior's scale. Both are reported beside the gate, which
itself stays the one defined in :mod:`bayescope.inference.convergence`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from arviz_stats import hdi
from arviz_stats.base import array_stats

from bayescope.inference.convergence import ESS_MIN, RHAT_MAX, scalar_series
from bayescope.posterior_reports.html import Callout

BFMI_MIN = 0.3
HDI_PROB = 0.94


def parameter_summary(posterior: Any, names: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Mean, sd and 94% HDI of each population parameter from flat or (chain, draw) draws."""
    out = {}
    for name in names:
        draws = np.asarray(posterior[name], dtype=float).reshape(-1)
        low, high = hdi(draws, prob=HDI_PROB)
        out[name] = {"mean": float(draws.mean()), "sd": float(draws.std(ddof=1)),
                     "hdi_low": float(low), "hdi_high": float(high)}
    return out


def gate_callout(passed: bool, problems: list[str], advice: str,
                 gate: Mapping[str, Any] | None = None) -> Callout:
    """The report's green or red banner on the convergence gate; ``advice`` ends the red.

    ``gate`` is the stored gate record: its ``method`` says which gate applied (NUTS's
    R-hat, ESS and divergences; PSIS's Pareto k and importance ESS; none for MAP), and its
    ``importance`` holds the PSIS figures, also kept when a PSIS fit fell back to NUTS.
    """
    gate = gate or {}
    importance = gate.get("importance") or {}
    method = gate.get("method", "nuts")
    fallback = (f" (NUTS, because PSIS's Pareto k {importance['pareto_k']:.2f} exceeded "
                f"{importance['threshold']:.2f})" if importance and method == "nuts" else "")
    if not passed:
        return Callout(f"CONVERGENCE GATE FAILED{fallback}: " + "; ".join(problems) + ". "
                       + advice, "bad")
    if method == "psis":
        return Callout(
            "Gate PASSED: the Laplace approximation corrected by Pareto-smoothed importance "
            f"sampling, Pareto k {importance.get('pareto_k', float('nan')):.2f} <= "
            f"{importance.get('threshold', float('nan')):.2f} and importance ESS "
            f"{importance.get('ess', float('nan')):.0f} >= 400.", "good")
    if method == "map":
        return Callout("MAP fit: the optimizer converged at a positive definite Hessian. The "
                       "draws are the uncorrected Laplace approximation, which no gate "
                       "checks; --method psis corrects and checks them.", "note")
    return Callout("Convergence gate PASSED: R-hat <= 1.01, bulk and tail ESS >= 400, no "
                   f"divergences{fallback}.", "good")


def parameter_frame(parameters: dict[str, dict[str, float]]) -> pd.DataFrame:
    """A :func:`parameter_summary` as a table: parameter, mean, sd and the HDI bounds."""
    frame = pd.DataFrame(parameters).T.reset_index(names="parameter")
    frame.columns = ["parameter", "mean", "sd", f"{HDI_PROB:.0%} HDI low",
                     f"{HDI_PROB:.0%} HDI high"]
    return frame


def labelled_summary(posterior: Any, names: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Mean, sd and 94% HDI per scalar of ``names`` (``name[coord]`` for vector entries) from
    a (chain, draw) posterior."""
    draws = labelled_draws(posterior, names)
    return parameter_summary(draws, tuple(draws))


def labelled_draws(posterior: Any, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Flat draws per scalar of ``names``; vector parameters give ``name[coord]`` entries."""
    return {label: draws.reshape(-1) for label, draws in scalar_series(posterior, names)}


def parameter_table(posterior: Any, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per scalar parameter: mean, sd, R-hat, bulk and tail ESS, and whether it passes."""
    rows = []
    for name, draws in scalar_series(posterior, names):  # draws: (chain, draw)
        rhat = float(array_stats.rhat(draws))
        bulk = float(array_stats.ess(draws, method="bulk"))
        tail = float(array_stats.ess(draws, method="tail", prob=(0.05, 0.95)))
        rows.append({"parameter": name, "mean": float(draws.mean()),
                     "sd": float(draws.std(ddof=1)), "rhat": rhat, "ess_bulk": bulk,
                     "ess_tail": tail,
                     "ok": bool(rhat <= RHAT_MAX and bulk >= ESS_MIN and tail >= ESS_MIN)})
    return rows


def sampler_table(sample_stats: Any) -> dict[str, Any]:
    """Divergences, E-BFMI per chain and tree-depth usage from NUTS sample stats."""
    out: dict[str, Any] = {}
    names = set(sample_stats.data_vars)
    if "diverging" in names:
        out["divergences"] = int(np.asarray(sample_stats["diverging"].values).sum())
    if "energy" in names:
        energy = np.asarray(sample_stats["energy"].values, float)
        bfmi = np.atleast_1d(array_stats.bfmi(energy))
        out["bfmi_per_chain"] = [float(v) for v in bfmi]
        out["bfmi_min"] = float(bfmi.min())
        out["bfmi_ok"] = bool(bfmi.min() >= BFMI_MIN)
    depth_name = "depth" if "depth" in names else "tree_depth" if "tree_depth" in names else None
    if depth_name is not None:
        depth = np.asarray(sample_stats[depth_name].values, float)
        out["tree_depth_mean"] = float(depth.mean())
        out["tree_depth_max"] = int(depth.max())
    for flag in ("maxdepth_reached", "reached_max_treedepth"):  # nutpie, PyMC
        if flag in names:
            out["share_at_max_depth"] = float(np.asarray(sample_stats[flag]).mean())
    if "step_size" in names:
        out["step_size_per_chain"] = [float(v) for v in
                                      np.asarray(sample_stats["step_size"].values)[:, -1]]
    return out
