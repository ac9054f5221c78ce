"""The report's opening answers to "which assumptions does the model make and do they hold
here" (the repeat-purchasing brief's Q4), "what does it do well and poorly on these data"
(Q6) and "what would remedy the weaknesses" (Q7), from the checks of
:mod:`bayescope.posterior_reports.btyd_assumptions` and the holdout groups of
:mod:`bayescope.posterior_reports.btyd_groups`.

Remedies come from :data:`REMEDIES`, one per check, and are named only for the checks whose
verdict is not ``holds``, citing that check's numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from bayescope.inference.btyd_run import LoadedRun
from bayescope.models.btyd import BTYDModel
from bayescope.posterior_reports.btyd_assumptions import (
    ASSUMPTIONS,
    CheckedAssumptions,
    check_assumptions,
)
from bayescope.posterior_reports.btyd_groups import strengths_and_weaknesses
from bayescope.posterior_reports.html import Figure, Paragraph, Section, Table
from bayescope.posterior_reports.plots import save_figure

ASSUMED = {
    "poisson_purchasing": "while alive, a customer buys at random times (a Poisson process)",
    "gamma_heterogeneity": "purchase rates vary across customers as a gamma distribution and "
                           "dropout probabilities as a beta distribution",
    "dropout_after_purchase": "customers can leave only right after a purchase (MBG/NBD: also "
                              "right after the first)",
    "rate_dropout_independence": "how often a customer buys says nothing about how likely "
                                 "they are to leave",
    "stationarity": "these processes do not change over time",
    "spend_frequency_independence": "spend per purchase is unrelated to how often a customer "
                                    "buys (Gamma-Gamma)",
    "spend_stability": "each customer's purchase values scatter around a stable mean with a "
                       "gamma spread (Gamma-Gamma)",
}
"""What each checked assumption says, in words."""

REMEDIES = {
    "poisson_purchasing": "a regularity-aware purchase model: the (M)BG/CNBD-k of Reutterer, "
                          "Platzer & Schroeder (2020; R BTYDplus), whose Erlang-k gaps take k "
                          "from the data",
    "gamma_heterogeneity": "a richer mixing distribution: covariates on the purchase rate and "
                           "dropout (Fader & Hardie 2007), or a latent-class mixture of "
                           "BG/NBDs",
    "dropout_after_purchase": "a dropout that can happen at any time: the Pareto/NBD "
                              "(Schmittlein, Morrison & Colombo 1987); for a BG/NBD run, the "
                              "MBG/NBD (dropout also after the first purchase)",
    "rate_dropout_independence": "a model where rate and dropout are correlated: Abe's (2009) "
                                 "hierarchical Pareto/NBD with a bivariate log-normal for "
                                 "them",
    "stationarity": "covariates or a time-varying rate (seasonality, campaigns: BG/NBD with "
                    "time-varying covariates, as in R CLVTools), or a refit on a recent "
                    "window",
    "spend_frequency_independence": "a spend model conditional on frequency: log spend "
                                    "regressed on frequency, or a joint model of spend and "
                                    "purchasing (Glady, Lemmens & Croux 2015)",
    "spend_stability": "a spend model that lets a customer's values drift or spread more: a "
                       "per-customer log-normal, or a hierarchical model of spend over time",
}
"""The documented remedy of each failed check (the brief's Q7)."""

def assumptions_section(run: LoadedRun, spec: BTYDModel, rfm: Any, out_dir: Path,
                        rng: np.random.Generator, metrics: dict[str, Any],
                        groups: list[dict[str, Any]] | None = None) -> Section:
    """The report's opening answers: checks, verdicts, remedies and their figure, and with
    a holdout the best and worst customer groups (``groups``, from
    :func:`~bayescope.posterior_reports.btyd_groups.group_table`). ``metrics["assumptions"]``
    (the contract) and ``metrics["assumptions_skipped"]`` are filled in."""
    checked = check_assumptions(spec, run.posterior, rfm, run.history, rng)
    metrics["assumptions"] = [check.to_dict() for check in checked.checks]
    metrics["assumptions_skipped"] = checked.skipped
    sentences = answers(checked)
    # Q4 (what is assumed, what holds), then Q6 (where it does well and poorly), then Q7.
    if groups is not None:
        sentences[2:2] = strengths_and_weaknesses(groups, "lifetimes' MLE")
    else:
        sentences.insert(2, "Where it does well and poorly needs a holdout: refit with an "
                            "earlier --calibration-end, or pass --holdout PATH.")
    blocks: list[Any] = [Paragraph(sentence) for sentence in sentences]
    frame = pd.DataFrame([{**c.to_dict(), "failed": c.verdict != "holds"}
                          for c in checked.checks])
    if len(frame):
        blocks.append(Table(frame[["name", "statistic", "low", "high", "verdict", "says",
                                   "failed"]],
                            "Each assumption tested on the data: statistic, 90% interval "
                            "(estimates) or replicated 90% band (predictive checks), verdict",
                            digits=3, flag_column="failed"))
    figure = plot_assumptions(checked, out_dir / "assumptions.png")
    if figure is not None:
        blocks.append(Figure(figure, "Regularity of inter-purchase times, P(alive) against "
                                     "who came back, and repeat purchases per period with "
                                     "the model's 90% bands"))
    if groups:
        frame = pd.DataFrame(groups)
        frame["off"] = ~((frame["ratio_low"] <= 1.0) & (frame["ratio_high"] >= 1.0))
        blocks.append(Table(frame, "Holdout by customer group: mean purchases, predicted / "
                                   "actual total with 90% interval, ours' 90% coverage, CRPS "
                                   "against lifetimes' MLE (paired 90% interval)",
                            digits=3, flag_column="off"))
        blocks.append(Figure(plot_groups(groups, out_dir / "groups.png"),
                             "Predicted over actual holdout purchases by customer group "
                             "(90% intervals; 1 is calibrated)"))
    return Section("Assumptions, strengths and remedies", blocks)


def answers(checked: CheckedAssumptions) -> list[str]:
    """The opening sentences: what is assumed, what holds here, what to do about the rest."""
    verdict = {c.name: c.verdict for c in checked.checks}
    assumed = "; ".join(f"{ASSUMED[name]} ({verdict.get(name, 'not checked')})"
                        for name in ASSUMPTIONS if name in verdict or name in checked.skipped)
    out = [f"What the model assumes, and whether it holds for these customers: {assumed}."]
    failed = checked.failed()
    holding = [c.name for c in checked.checks if c.verdict == "holds"]
    if not failed:
        out.append(f"All {len(holding)} checks hold: nothing in these data contradicts the "
                   "model's assumptions.")
    else:
        out.append(f"{len(holding)} of {len(checked.checks)} checks hold; "
                   + "; ".join(f"{c.name.replace('_', ' ')} is {c.verdict}" for c in failed)
                   + ".")
        for check in failed:
            out.append(f"Remedy for {check.name.replace('_', ' ')} ({check.verdict}): "
                       f"{REMEDIES[check.name]}. Why: {check.says}")
    if checked.skipped:
        out.append("Not checked: " + "; ".join(f"{name.replace('_', ' ')} ({why})"
                                               for name, why in checked.skipped.items()) + ".")
    return out


def plot_assumptions(checked: CheckedAssumptions, path: Path) -> Path | None:
    """Up to four panels: regularity, P(alive) calibration, tracking per period and
    cumulative, with the model's 90% bands."""
    data = checked.plot_data
    panels = [k for k in ("regularity_m", "alive_calibration", "tracking", "cumulative")
              if k in data or (k == "cumulative" and "tracking" in data)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel == "regularity_m":
            k = data["regularity_k"]
            ax.hist(data["regularity_m"], bins=20, range=(0, 1), density=True, alpha=0.5,
                    label="customers' M = t1 / (t1 + t2)")
            grid = np.linspace(0.005, 0.995, 200)
            ax.plot(grid, np.ones_like(grid), "k--", label="Poisson (k = 1)")
            ax.plot(grid, stats.beta.pdf(grid, max(k, 0.05), max(k, 0.05)), "r-",
                    label=f"fitted k = {k:.2f}")
            ax.set_xlabel("M")
            ax.set_title("Regularity of inter-purchase times")
        elif panel == "alive_calibration":
            shares = data["alive_calibration"]
            x = np.asarray(shares["p_alive"])
            ax.fill_between(x, shares["low"], shares["high"], alpha=0.3,
                            label="model, 90% band")
            ax.plot(x, shares["expected"], "b-", label="model P(any purchase)")
            ax.plot(x, shares["observed"], "ko", label="observed share")
            ax.set_xlabel("mean P(alive) of the decile")
            ax.set_ylabel("share buying in the holdout")
            ax.set_title("Dropout: P(alive) against who came back")
        elif panel == "cumulative":
            track = data["tracking"]
            periods = np.arange(np.asarray(track["observed"]).size)
            ax.fill_between(periods, track["cumulative_low"], track["cumulative_high"],
                            alpha=0.3, label="model, 90% band")
            ax.plot(periods, np.cumsum(track["expected"]), "b-", label="model expectation")
            ax.plot(periods, np.cumsum(track["observed"]), "k-", label="observed")
            ax.axvline(track["calibration_periods"] - 0.5, color="grey", ls=":",
                       label="calibration end")
            ax.set_xlabel(f"{track['unit']}s since the first purchase {track['unit']}")
            ax.set_ylabel("cumulative repeat purchases")
            ax.set_title("Tracking, cumulative")
        else:
            track = data["tracking"]
            periods = np.arange(np.asarray(track["observed"]).size)
            ax.fill_between(periods, track["low"], track["high"], alpha=0.3,
                            label="model, 90% band")
            ax.plot(periods, track["expected"], "b-", label="model expectation")
            ax.plot(periods, track["observed"], "k.-", lw=0.8, label="observed")
            ax.axvline(track["calibration_periods"] - 0.5, color="grey", ls=":",
                       label="calibration end")
            ax.set_xlabel(f"{track['unit']}s since the first purchase {track['unit']}")
            ax.set_ylabel(f"repeat purchases per {track['unit']}")
            ax.set_title("Tracking (stationarity)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_groups(groups: list[dict[str, Any]], path: Path) -> Path:
    """Predicted / actual holdout totals with 90% intervals, one panel per grouping."""
    frame = pd.DataFrame(groups)
    groupings = list(dict.fromkeys(frame["grouping"]))
    fig, axes = plt.subplots(1, len(groupings), figsize=(4.2 * len(groupings), 4),
                             squeeze=False)
    for ax, grouping in zip(axes[0], groupings, strict=True):
        part = frame[frame["grouping"] == grouping].reset_index(drop=True)
        y = np.arange(len(part))
        off = ~((part["ratio_low"] <= 1.0) & (part["ratio_high"] >= 1.0))
        ax.errorbar(part["ratio"], y, xerr=[part["ratio"] - part["ratio_low"],
                                            part["ratio_high"] - part["ratio"]],
                    fmt="none", ecolor="grey", capsize=3)
        ax.scatter(part["ratio"], y, c=np.where(off, "tab:red", "tab:green"), zorder=3)
        ax.axvline(1.0, color="k", lw=1)
        ax.set_yticks(y, part["group"], fontsize=7)
        ax.set_title(grouping, fontsize=10)
        ax.set_xlabel("predicted / actual")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)
