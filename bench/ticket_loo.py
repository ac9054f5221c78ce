"""Benchmark: PSIS-LOO between the ticket model's candidate feature sets, per sales process.

For each ``--process`` (generated tables, ``--artists`` x ``--dmas`` x ``--weeks``, seed
``--seed``) the model is fitted at the last backtest origin with each feature set (``static``,
``lagged``, ``dynamic``; the same training rows, so their elpd are comparable) and scored by
PSIS-LOO over its training artist-DMA-weeks (``models.ticket_demand.pointwise_loglik``,
``posterior_reports.loo``; leave one artist-DMA-week out). Prints elpd_loo, its standard
error, p_loo, the share of weeks with Pareto k > 0.7 and the difference to the best set with
the standard error of the paired difference.

Usage: ``python bench/ticket_loo.py [--processes tour_ramp seasonal_price regime_shift model
--artists 16 --dmas 30 --weeks 140 --train-weeks 80 --draws 300 --tune 400 --chains 2]``
"""

from __future__ import annotations

import argparse
import tempfile
import warnings

import numpy as np
import pandas as pd

from bayescope.data.ticket_processes import generate_artist_tables
from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables
from bayescope.families.ticket_backtest import backtest_origins
from bayescope.families.tickets import TicketFitSettings, fit_ticket_model, prepare_panels
from bayescope.inference.artifacts import flat_posterior
from bayescope.inference.predictive import thin_draws
from bayescope.models.ticket_demand import pointwise_loglik
from bayescope.posterior_reports.loo import loo_pointwise

warnings.filterwarnings("ignore")
FEATURE_SETS = ("static", "lagged", "dynamic")
LOO_DRAWS = 400


def loo_of_set(tables, origin: str, features: str, args: argparse.Namespace
               ) -> dict[str, np.ndarray]:
    """Per training row: elpd_loo and Pareto k of one feature set's fit."""
    settings = TicketFitSettings(origin, artists=args.artists, train_weeks=args.train_weeks,
                                 draws=args.draws, tune=args.tune, chains=args.chains,
                                 progress=False, features=features)
    panels = prepare_panels(tables, settings)
    result, inputs = fit_ticket_model(panels, settings)
    posterior = flat_posterior(result.idata["posterior"].to_dataset())
    params = thin_draws(posterior, LOO_DRAWS, np.random.default_rng(0))
    train = panels.train.take(panels.train.observed)
    loglik = pointwise_loglik(params, train, inputs.feature_means, panels.size.size,
                              panels.tier)
    elpd_i, pareto_k, p_loo_i = loo_pointwise(loglik[None])
    return {"elpd": elpd_i, "k": pareto_k, "p_loo": p_loo_i,
            "gate": np.array(result.gate.passed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", nargs="+",
                        default=["tour_ramp", "seasonal_price", "regime_shift", "model"])
    parser.add_argument("--artists", type=int, default=16)
    parser.add_argument("--dmas", type=int, default=30)
    parser.add_argument("--weeks", type=int, default=140)
    parser.add_argument("--train-weeks", type=int, default=80)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--tune", type=int, default=400)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for process in args.processes:
        folder = tempfile.mkdtemp()
        generated = generate_artist_tables(process, args.artists,
                                           np.random.default_rng(args.seed),
                                           n_dmas=args.dmas, n_weeks=args.weeks)
        write_ticket_tables(generated.tables, folder, "parquet")
        tables = load_ticket_tables(folder)
        origin = str(backtest_origins(tables, 3, 4)[-1].date())
        scores = {name: loo_of_set(tables, origin, name, args) for name in FEATURE_SETS}
        best = max(scores, key=lambda name: scores[name]["elpd"].sum())
        for name, s in scores.items():
            difference = s["elpd"] - scores[best]["elpd"]
            rows.append({
                "process": process, "features": name, "elpd_loo": s["elpd"].sum(),
                "se": np.sqrt(s["elpd"].size) * s["elpd"].std(ddof=1),
                "p_loo": s["p_loo"].sum(), "share_k_above_0.7": np.mean(s["k"] > 0.7),
                "elpd_diff": difference.sum(),
                "se_diff": np.sqrt(difference.size) * difference.std(ddof=1),
                "gate_passed": bool(s["gate"])})
        print(pd.DataFrame(rows[-len(FEATURE_SETS):]).round(3).to_string(index=False),
              flush=True)
    print("\nall processes")
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
