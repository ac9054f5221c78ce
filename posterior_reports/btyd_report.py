"""The report of a BTYD run: what was fitted, whether to trust it, and how well it predicts.

Sections (each figure is a PNG beside ``index.html`` and every number is in ``metrics.json``):

1. summary: data, settings, gate verdict (red when it failed), parameters with 94% HDIs;
2. assumptions: each tested on the data, with a verdict and, where it fails, the remedy
   (:mod:`bayescope.posterior_reports.btyd_assumptions_report`);
3. convergence: R-hat, ESS, divergences, E-BFMI, tree depth, trace and rank plots;
4. predictive checks of the calibration data: repeat-purchase frequencies under the prior and
   the posterior predictive, and PSIS-LOO of the purchase model with Pareto-k counts;
5. holdout (when the run has one or ``--holdout`` gives one): scores of bayescope against
   lifetimes' MLE and an RFM rule with paired bootstrap intervals, calibration (PIT, coverage),
   counts (rootogram, zeros), "any purchase" as a binary forecast, ranking, and the Klaviyo
   four-category evaluation of two competing models;
6. the model's own plots: holdout purchases by calibration frequency, customers alive.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm

from bayescope.data.rfm import RFMSummary
from bayescope.inference.alive_simulation import DEFAULT_HORIZONS, simulate_alive
from bayescope.inference.btyd_prediction import thin_draws
from bayescope.inference.btyd_run import LoadedRun
from bayescope.inference.btyd_simulation import CalibrationCounts
from bayescope.inference.predictive import (
    PredictiveSimulator,
    chunk_size_for,
    iterate_predictive,
)
from bayescope.models.baselines.btyd import lifetimes_mle, other_family_mle
from bayescope.models.btyd import BTYDModel
from bayescope.models.btyd_base import unique_triples
from bayescope.posterior_reports.btyd_assumptions_report import assumptions_section
from bayescope.posterior_reports.btyd_holdout import (
    LABELS,
    HoldoutEvaluation,
    evaluate_holdout,
)
from bayescope.posterior_reports.btyd_plots import plot_alive, plot_holdout
from bayescope.posterior_reports.diagnostics import (
    HDI_PROB,
    gate_callout,
    parameter_frame,
    parameter_summary,
    parameter_table,
    sampler_table,
)
from bayescope.posterior_reports.html import (
    Callout,
    Figure,
    Paragraph,
    ReportContent,
    Section,
    Table,
)
from bayescope.posterior_reports.loo import loo_pointwise, summarise_loo
from bayescope.posterior_reports.plots import (
    plot_comparison,
    plot_coverage,
    plot_deciles,
    plot_pit_ecdf,
    plot_predictive_check,
    plot_reliability,
    plot_rootogram,
    plot_trace_rank,
)

log = logging.getLogger(__name__)

MAX_FREQUENCY_BIN = 7
CHECK_DRAWS = 200
LOO_DRAWS = 2000
ALIVE_CUSTOMERS = 100


def build_btyd_report(run: LoadedRun, spec: BTYDModel, out_dir: Path,
                      holdout_rfm: RFMSummary | None, seed: int = 0) -> ReportContent:
    """Compute everything the BTYD report shows; figures are written into ``out_dir``."""
    rng = np.random.default_rng(seed)
    unit = {"W": "weeks", "D": "days"}[run.rfm.time_unit]
    metrics: dict[str, Any] = {}
    rfm = holdout_rfm if holdout_rfm is not None else run.rfm
    evaluation = None
    if rfm.has_holdout:
        evaluation = evaluate_holdout(spec, run.posterior, rfm,
                                      lifetimes_mle(rfm, spec.purchase.name), seed=seed,
                                      other_family=other_family_mle(rfm, spec.purchase.name))
    sections = [_summary_section(run, spec, unit, metrics),
                assumptions_section(run, spec, rfm, out_dir, rng, metrics,
                                    None if evaluation is None
                                    else evaluation.metrics["by_group"]),
                _diagnostics_section(run, spec, out_dir, metrics),
                _predictive_check_section(run, spec, out_dir, rng, metrics)]
    if evaluation is not None:
        metrics["holdout"] = evaluation.metrics
        sections.extend(_holdout_sections(evaluation, out_dir, unit))
    else:
        sections.append(Section("Holdout", [Callout(
            "This run has no holdout period, so nothing is scored out of sample. Refit with "
            "--calibration-end before the last purchase, or pass --holdout PATH with later "
            "transactions.", "note")]))
    sections.append(_alive_section(run, spec, out_dir, rng, metrics))
    title = f"bayescope report: {spec.name}"
    subtitle = (f"{run.rfm.n_customers:,} customers, calibration to "
                f"{run.rfm.calibration_end.date()}, {run.attrs.get('method', '?')} fit, "
                f"created {run.attrs.get('created_at', '?')}")
    return ReportContent(title, subtitle, sections, metrics)


# ---------------------------------------------------------------------------- sections


def _summary_section(run: LoadedRun, spec: BTYDModel, unit: str,
                     metrics: dict[str, Any]) -> Section:
    gate = _gate(run)
    passed = run.converged
    verdict = gate_callout(passed, gate.get("problems", []), "Do not use these numbers until "
                           "the fit is rerun (more draws, or check the data).", gate)
    run_info = {
        "model": spec.name, "method": run.attrs.get("method"),
        "customers": run.rfm.n_customers, "time unit": unit,
        "calibration end": str(run.rfm.calibration_end.date()),
        "repeat customers": int((run.rfm.frequency > 0).sum()),
        "mean repeat purchases": float(run.rfm.frequency.mean()),
        "seed": run.attrs.get("seed"), "bayescope version": run.attrs.get("bayescope_version"),
    }
    parameters = parameter_summary(run.posterior, spec.parameter_names)
    frame = parameter_frame(parameters)
    metrics["run"] = run_info
    metrics["gate"] = {"passed": passed, **gate}
    metrics["parameters"] = parameters
    return Section("Summary", [
        verdict,
        Table(pd.DataFrame({"item": list(run_info), "value": pd.Series(
            list(run_info.values()), dtype=object)}), "The run"),
        Table(frame, f"Population parameters (posterior mean, sd, {HDI_PROB:.0%} HDI; "
                     f"rates per {unit[:-1]})"),
    ])


def _diagnostics_section(run: LoadedRun, spec: BTYDModel, out_dir: Path,
                         metrics: dict[str, Any]) -> Section:
    tree = run.tree
    if tree is None or "sample_stats" not in tree.children:
        importance = _gate(run).get("importance")
        metrics["diagnostics"] = {"method": run.attrs.get("method"), "importance": importance}
        if importance:
            return Section("Convergence diagnostics", [
                Callout("PSIS fit: draws of the Laplace approximation at the posterior mode, "
                        "weighted to the posterior and resampled. Pareto k says whether the "
                        "weights can be trusted (below the threshold for this many draws, "
                        "Vehtari et al. 2024); the importance ESS is how many independent "
                        "draws they are worth. There are no Markov chains, so R-hat and the "
                        "sampler diagnostics do not apply.", "note"),
                Table(pd.DataFrame({"diagnostic": list(importance),
                                    "value": list(importance.values())}),
                      "Importance sampling")])
        return Section("Convergence diagnostics", [Callout(
            "MAP fit with Laplace draws: there are no Markov chains, so R-hat, ESS and the "
            "sampler diagnostics do not apply. Use --method psis or nuts for the posterior.",
            "note")])
    posterior = tree["posterior"].to_dataset()
    names = spec.parameter_names
    table = parameter_table(posterior, names)
    sampler = sampler_table(tree["sample_stats"].to_dataset())
    metrics["diagnostics"] = {"parameters": table, "sampler": sampler}
    figure = plot_trace_rank(posterior, names, out_dir / "trace_rank.png")
    sampler_rows = pd.DataFrame({"diagnostic": list(sampler), "value": [
        ", ".join(f"{v:.3g}" for v in value) if isinstance(value, list) else value
        for value in sampler.values()]})
    blocks: list[Any] = [
        Table(pd.DataFrame(table).assign(flag=lambda f: ~f["ok"]).drop(columns="ok"),
              "Per parameter (R-hat <= 1.01 and ESS >= 400 pass; failures in red)",
              flag_column="flag"),
        Table(sampler_rows, "NUTS sampler (E-BFMI < 0.3 or many transitions at the maximum "
                            "tree depth would signal trouble)"),
        Figure(figure, "Trace and rank plots of the population parameters"),
    ]
    if not sampler.get("bfmi_ok", True):
        blocks.insert(0, Callout("E-BFMI below 0.3 in a chain: the sampler explores the "
                                 "energy distribution poorly.", "bad"))
    return Section("Convergence diagnostics", blocks)


def _predictive_check_section(run: LoadedRun, spec: BTYDModel, out_dir: Path,
                              rng: np.random.Generator, metrics: dict[str, Any]) -> Section:
    rfm = run.rfm
    simulator = CalibrationCounts(spec.purchase, rfm.T)
    posterior = thin_draws(run.posterior, CHECK_DRAWS, rng)
    prior = _prior_draws(spec, rfm, rng)
    observed = np.bincount(np.minimum(rfm.frequency, MAX_FREQUENCY_BIN).astype(int),
                           minlength=MAX_FREQUENCY_BIN + 1)
    rows: list[dict[str, Any]] = []
    post_hist = _count_histograms(simulator, posterior, rng)
    prior_hist = _count_histograms(simulator, prior, rng)
    for k in range(MAX_FREQUENCY_BIN + 1):
        row: dict[str, Any] = {"count": f"{k}+" if k == MAX_FREQUENCY_BIN else str(k),
                               "observed": int(observed[k])}
        for kind, hist in (("posterior", post_hist), ("prior", prior_hist)):
            low, high = np.quantile(hist[:, k], [0.05, 0.95])
            row.update({f"{kind}_mean": float(hist[:, k].mean()), f"{kind}_low": float(low),
                        f"{kind}_high": float(high)})
        row["inside_posterior_90"] = bool(row["posterior_low"] <= row["observed"]
                                          <= row["posterior_high"])
        rows.append(row)
    figure = plot_predictive_check(
        rows, out_dir / "predictive_check_frequency.png",
        "Repeat purchases in the calibration period: prior and posterior predictive",
        "repeat purchases in calibration")
    loo = _loo(run, spec)
    metrics["predictive_check"] = {"frequency": rows, "loo": loo}
    misses = [r["count"] for r in rows if not r["inside_posterior_90"]]
    frame = pd.DataFrame(rows).assign(flag=lambda f: ~f["inside_posterior_90"]).drop(
        columns="inside_posterior_90")
    loo_rows = pd.DataFrame({"quantity": ["elpd_loo", "se", "p_loo", "max Pareto k",
                                          *loo["k_counts"]],
                             "value": [loo["elpd_loo"], loo["se"], loo["p_loo"], loo["max_k"],
                                       *loo["k_counts"].values()]})
    return Section("Predictive checks (calibration data)", [
        Paragraph("New customers with each customer's own observation length T are simulated "
                  "under prior draws and under posterior draws; the observed distribution of "
                  "repeat purchases should sit inside the posterior band. The prior band is "
                  "wide on purpose: the priors are weakly informative."),
        Callout("Observed counts outside the posterior 90% band at: " + ", ".join(misses)
                if misses else "Every observed frequency lies inside its posterior 90% band.",
                "bad" if misses else "good"),
        Figure(figure, "Prior and posterior predictive check of repeat purchase counts"),
        Table(frame, "Customers by repeat purchases in calibration: observed and predictive "
                     "(mean, 90% interval)", digits=5, flag_column="flag"),
        Table(loo_rows, "PSIS-LOO of the purchase model (per customer; k > 0.7 is unreliable)"),
        *([Callout(f"{loo['n_k_above_0_7']} customers have Pareto k > 0.7: their LOO terms "
                   "are unreliable.", "bad")] if loo["warning"] else []),
    ])


def _holdout_sections(evaluation: HoldoutEvaluation, out_dir: Path, unit: str
                      ) -> list[Section]:
    m = evaluation.metrics
    periods = f"{m['holdout_periods']:.0f} {unit}"
    comparison = pd.DataFrame(m["comparison"]).T.reset_index(names="model")
    comparison["model"] = comparison["model"].map(LABELS)
    paired = pd.DataFrame(m["paired_comparison"])
    paired = paired[paired["verdict"] != "reference"].assign(
        model=lambda f: f["model"].map(LABELS))
    figures = {
        "comparison": plot_comparison(m["paired_comparison"], out_dir / "comparison.png",
                                      LABELS),
        "pit": plot_pit_ecdf({k: r.pit_check for k, r in evaluation.results.items()},
                             out_dir / "pit_ecdf.png", LABELS),
        "coverage": plot_coverage({k: r.summary["coverage"]
                                   for k, r in evaluation.results.items()},
                                  out_dir / "coverage.png", LABELS),
        "rootogram": plot_rootogram(m["evaluation"]["bayescope"]["rootogram"],
                                    out_dir / "rootogram.png",
                                    f"Rootogram of holdout purchases ({periods}), bayescope",
                                    f"purchases in the {periods} holdout"),
        "reliability": plot_reliability(m["reliability_any_purchase"],
                                        out_dir / "reliability.png", LABELS,
                                        what="any purchase in holdout"),
        "deciles": plot_deciles({k: v["deciles"] for k, v in m["ranking"].items()
                                 if isinstance(v, dict)}, out_dir / "deciles.png", LABELS),
    }
    model_plots = plot_holdout(m, out_dir)
    ours = m["evaluation"]["bayescope"]
    calibrated = ours["calibrated"]
    coverage = pd.DataFrame(ours["coverage"])
    zero_rows = pd.DataFrame([{"model": LABELS[k], **v["zero_check"]}
                              for k, v in m["evaluation"].items()])
    binary = comparison[["model", "brier", "log_score_any", "roc_auc", "pr_auc", "ece"]]
    ranking = m["ranking"]
    precision = pd.DataFrame([{"model": LABELS[k], f"precision@{ranking['k']}":
                               v["precision_at_k"]}
                              for k, v in ranking.items() if isinstance(v, dict)])
    two = m["two_model_categories"]
    rival = two["models"][1]
    crosstab = pd.DataFrame(two["crosstab_counts"], columns=[f"{LABELS[rival]}: {c}" for c in
                                                             two["categories"]])
    crosstab.insert(0, "bayescope \\ " + LABELS[rival], two["categories"])
    rates = pd.DataFrame(two["crosstab_observed_rate"], columns=crosstab.columns[1:])
    rates.insert(0, "observed rate", two["categories"])
    verdicts = ", ".join(
        f"{r['metric']} {r['verdict']} for {r['model']}" for _, r in paired.iterrows()
        if r["verdict"] != "within noise")
    return [
        Section("Holdout scores and model comparison", [
            Paragraph(f"Each customer's purchases in the {periods} after the calibration end "
                      f"({m['n_customers']:,} customers, {m['total_actual']:,.0f} purchases) "
                      "are predicted by bayescope (posterior predictive), lifetimes' MLE "
                      "(plug-in) and an RFM rule (calibration rate carried forward). Lower is "
                      "better for MAE, RMSE, CRPS, interval score, Brier and ECE; higher for "
                      "log scores, AUCs and precision."),
            Table(comparison[["model", "mae", "rmse", "crps", "log_score", "interval_score_90",
                              "coverage_90", "pit_coverage_90", "calibrated",
                              "total_predicted"]],
                  "Scores of the holdout purchase count (binary scores of 'any purchase' are "
                  "in their own section)"),
            Table(paired, "Paired comparison: model minus bayescope, 90% interval (bootstrap; "
                          "normal approximation at large n; better / worse only when the "
                          "interval excludes 0)"),
            Paragraph("Differences beyond noise: " + (verdicts or "none")),
            Figure(figures["comparison"], "Metric differences to bayescope"),
        ]),
        Section("Holdout calibration", [
            Callout("bayescope's predictive distribution is calibrated on the holdout: the "
                    "PIT ECDF stays inside its 99% simultaneous band." if calibrated else
                    "bayescope's PIT ECDF leaves its 99% simultaneous band on this holdout: at "
                    f"{m['n_customers']:,} customers the predictive distribution is detectably "
                    "miscalibrated (see where the curve leaves the band, and the coverage).",
                    "good" if calibrated else "bad"),
            Figure(figures["pit"], "Randomised PIT ECDF difference with a 99% simultaneous "
                                   "band"),
            Figure(figures["coverage"], "Central interval coverage against nominal"),
            Table(coverage.assign(flag=coverage["flagged"]).drop(columns="flagged"),
                  "bayescope coverage (equal-tailed intervals over-cover with many zeros; "
                  "the randomised PIT coverage is the calibrated check)",
                  flag_column="flag"),
        ]),
        Section("Holdout counts", [
            Figure(figures["rootogram"], "Hanging rootogram of holdout purchase counts"),
            Table(zero_rows, "Zero check: customers without a holdout purchase, observed vs "
                             "predictive (5-95%)"),
        ]),
        Section("Any purchase in the holdout (binary)", [
            Table(binary, "Binary scores of P(any purchase in the holdout)"),
            Figure(figures["reliability"], "Reliability diagram"),
        ]),
        Section("Ranking", [
            Table(precision, f"Precision at {ranking['k']}: share of the predicted top "
                             f"{ranking['k']} in the actual top {ranking['k']} (ties in)"),
            Figure(figures["deciles"], "Lift and cumulative capture of holdout purchases"),
            *([Table(pd.DataFrame(ranking["top_k_calibration"]),
                     f"P(in top {ranking['k']}) calibration: posterior probability against "
                     "the observed share")] if "top_k_calibration" in ranking else []),
        ]),
        Section("Purchase-likelihood categories (Klaviyo Q8)", [
            Paragraph(f"Customers binned by P(any purchase in the {periods} holdout) into four "
                      "categories by bayescope and by its classical rival; per bin the mean "
                      "prediction against the observed share, then where the two disagree."),
            Table(pd.DataFrame(two["bayescope"]), "bayescope"),
            Table(pd.DataFrame(two[rival]), LABELS[rival]),
            Table(crosstab, f"Customers by category: bayescope (rows) x {LABELS[rival]} "
                            f"(columns); agreement {two['agreement']:.1%}"),
            Table(rates, "Observed purchase share in each cell of the cross-tabulation"),
            Figure(model_plots[1], "bayescope's categories: predicted vs observed"),
        ]),
        Section("Model plots", [
            Figure(model_plots[0], "Holdout purchases by calibration frequency (FHL 2005, "
                                   "fig. 4)"),
        ]),
    ]


def _alive_section(run: LoadedRun, spec: BTYDModel, out_dir: Path, rng: np.random.Generator,
                   metrics: dict[str, Any]) -> Section:
    sim = simulate_alive(spec.purchase, run.posterior, ALIVE_CUSTOMERS, list(DEFAULT_HORIZONS),
                         run.rfm.time_unit, rng, runs=1000)
    sub = thin_draws(run.posterior, 200, rng)
    expected = ALIVE_CUSTOMERS * spec.purchase.p_alive_new(sub, sim.horizon_periods).mean(axis=0)
    table = sim.summary(expected)
    metrics["alive"] = table.to_dict(orient="records")
    figure = plot_alive(table, ALIVE_CUSTOMERS, out_dir / "alive.png")
    return Section("Customers alive (simulation)", [
        Figure(figure, f"{ALIVE_CUSTOMERS} new customers simulated 1,000 times"),
        Table(table, "Alive and cumulative purchases of 100 new customers (run 0, 5-95% over "
                     "runs, mean, closed form)"),
    ])


# ---------------------------------------------------------------------------- helpers


def _gate(run: LoadedRun) -> dict[str, Any]:
    import json

    try:
        return dict(json.loads(run.attrs.get("gate", "{}")))
    except (TypeError, json.JSONDecodeError):
        return {}


def _prior_draws(spec: BTYDModel, rfm: RFMSummary, rng: np.random.Generator
                 ) -> dict[str, np.ndarray]:
    """Prior draws of the purchase parameters, from the model's own PyMC graph."""
    model = spec.purchase.build(rfm)
    names = ("r", "alpha", "a", "b")
    values = pm.draw([model[n] for n in names], draws=CHECK_DRAWS, random_seed=rng)
    return {n: np.asarray(v, float) for n, v in zip(names, values, strict=True)}


def _count_histograms(simulator: PredictiveSimulator, params: dict[str, np.ndarray],
                      rng: np.random.Generator) -> np.ndarray:
    """Per draw, the number of units at each count 0..MAX (MAX pooled): (draws, MAX + 1)."""
    width = MAX_FREQUENCY_BIN + 1
    total: np.ndarray | None = None
    for _, outcomes in iterate_predictive(simulator, params, rng):
        (draws,) = outcomes.values()
        capped = np.minimum(draws, MAX_FREQUENCY_BIN).astype(int)
        offsets = np.arange(capped.shape[0])[:, None] * width
        hist = np.bincount((capped + offsets).ravel(), minlength=capped.shape[0] * width)
        hist = hist.reshape(capped.shape[0], width)
        total = hist if total is None else total + hist
    assert total is not None
    return total


def _loo(run: LoadedRun, spec: BTYDModel) -> dict[str, Any]:
    """PSIS-LOO on the unique (x, t_x, T) triples, weighted by how many customers share each."""
    triples, counts = unique_triples(run.rfm)
    draws = thin_draws(run.posterior, LOO_DRAWS, np.random.default_rng(0))
    size = chunk_size_for(draws)  # PSIS works unit by unit: chunks keep memory bounded
    parts = [loo_pointwise(spec.purchase.loglik(draws, *triples[start:start + size].T))
             for start in range(0, len(triples), size)]
    elpd_i, pareto_k, p_loo_i = (np.concatenate(column) for column in zip(*parts, strict=True))
    return summarise_loo(elpd_i, pareto_k, p_loo_i, weights=counts)
