"""Convergence gate: R-hat, bulk/tail ESS and divergences for every population parameter.

Thresholds follow Vehtari et al. (2021), "Rank-normalization, folding, and localization": a
fit passes when every R-hat <= 1.01, every bulk and tail ESS >= 400 and there is no divergent
transition. Diagnostics come from arviz-stats; this module only applies the thresholds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from arviz_stats import ess, rhat

log = logging.getLogger(__name__)

RHAT_MAX = 1.01
ESS_MIN = 400.0


@dataclass
class GateReport:
    """Verdict of the convergence gate with the numbers behind it."""

    method: str
    passed: bool
    max_rhat: float | None = None
    min_ess_bulk: float | None = None
    min_ess_tail: float | None = None
    divergences: int | None = None
    per_parameter: dict[str, dict[str, float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    importance: dict[str, float] | None = None
    """PSIS only: Pareto ``k``, importance ESS, proposals and the ``k`` threshold (kept when
    the fit fell back to NUTS, to say why)."""
    chains_added: int = 0
    """NUTS only: chains added because the first ones fell short of effective draws
    (:func:`bayescope.inference.sampling.fit_model`'s ``top_up_tune``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


def check_convergence(idata: Any, var_names: tuple[str, ...]) -> GateReport:
    """Apply the gate to a NUTS posterior (``idata`` is an ArviZ DataTree)."""
    posterior = idata["posterior"]
    per: dict[str, dict[str, float]] = {}
    for label, draws in scalar_series(posterior, var_names):
        per[label] = {
            "rhat": float(rhat(draws, chain_axis=0, draw_axis=1)),
            "ess_bulk": float(ess(draws, chain_axis=0, draw_axis=1, method="bulk")),
            "ess_tail": float(
                ess(draws, chain_axis=0, draw_axis=1, method="tail", prob=(0.05, 0.95))
            ),
        }
    divergences = int(np.asarray(idata["sample_stats"]["diverging"].values).sum())
    max_rhat = max(v["rhat"] for v in per.values())
    min_bulk = min(v["ess_bulk"] for v in per.values())
    min_tail = min(v["ess_tail"] for v in per.values())
    problems = []
    if not max_rhat <= RHAT_MAX:
        problems.append(f"max R-hat {max_rhat:.3f} > {RHAT_MAX}"
                        + failing(per, "rhat", lambda v: not v <= RHAT_MAX))
    if not min_bulk >= ESS_MIN:
        problems.append(f"min bulk ESS {min_bulk:.0f} < {ESS_MIN:.0f}"
                        + failing(per, "ess_bulk", lambda v: not v >= ESS_MIN))
    if not min_tail >= ESS_MIN:
        problems.append(f"min tail ESS {min_tail:.0f} < {ESS_MIN:.0f}"
                        + failing(per, "ess_tail", lambda v: not v >= ESS_MIN))
    if divergences:
        problems.append(f"{divergences} divergent transitions")
    return GateReport(
        method="nuts",
        passed=not problems,
        max_rhat=max_rhat,
        min_ess_bulk=min_bulk,
        min_ess_tail=min_tail,
        divergences=divergences,
        per_parameter=per,
        problems=problems,
    )


def failing(per: dict[str, dict[str, float]], statistic: str,
            fails: Callable[[float], bool], shown: int = 3) -> str:
    """`` (on a, b and 2 more)``: the parameters that fail one check, worst first (a NaN
    statistic, which no threshold passes, before all)."""
    names = [name for name, values in per.items() if fails(values[statistic])]
    sign = -1.0 if statistic == "rhat" else 1.0  # the largest R-hat, the smallest ESS first
    names.sort(key=lambda name: (not np.isnan(per[name][statistic]),
                                 sign * per[name][statistic]))
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f" (on {', '.join(names[:shown])}{more})"


def scalar_series(posterior: Any, var_names: tuple[str, ...]
                   ) -> list[tuple[str, np.ndarray]]:
    """(label, (chain, draw) draws) per scalar; vector parameters give ``name[coord]``."""
    out = []
    for name in var_names:
        variable = posterior[name]
        values = np.asarray(variable.values, dtype=float)
        if values.ndim == 2:
            out.append((name, values))
            continue
        labels = [str(v) for v in np.asarray(variable[variable.dims[2]].values)] \
            if values.ndim == 3 and variable.dims[2] in variable.coords else None
        flat = values.reshape(values.shape[0], values.shape[1], -1)
        for j in range(flat.shape[2]):
            out.append((f"{name}[{labels[j] if labels else j}]", flat[:, :, j]))
    return out


def announce(report: GateReport) -> None:
    """Say the verdict loudly: a failed gate is a warning on stderr, never silent."""
    if report.passed:
        log.info("convergence gate passed (%s)", report.method)
    else:
        log.warning("CONVERGENCE GATE FAILED (%s): %s", report.method, "; ".join(report.problems))
