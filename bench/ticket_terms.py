"""Benchmark: what the recent-sales and listing-dynamics terms cost a ticket refit, one process.

Generated Artist Performance tables (``--process``, default ``model``); a stratified sample of
``--artists`` artists x every DMA x ``--weeks`` training weeks before the origin. For each
feature set (``static``: the first release's seven signals, the anchor; ``dynamic``: plus
recent sales and listing dynamics, the default), side by side:

the time of one log-density-and-gradient evaluation of the whole model (PyTensor's Numba mode,
mean of ``--evals``), and with ``--fit`` a NUTS fit with the package's sampler (nutpie, numba;
diagonal mass matrix, tree depth at most 6) at ``--draws``/``--tune``: wall time (compile +
sampling), leapfrog steps per kept draw, the gate and the minimum bulk ESS, and the
gradients spent in warmup (wall time over the gradient time, less the kept draws' steps).

Prints dynamic / static as ratios.

Usage: ``python bench/ticket_terms.py [--artists 30 --dmas 210 --weeks 104 --evals 60 --fit
--draws 200 --tune 200 --chains 2 --process model]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayescope.data.ticket_features import FEATURE_SETS
from bayescope.data.ticket_panel import build_panels, popularity_tiers, sample_artists
from bayescope.data.ticket_processes import generate_artist_tables
from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables
from bayescope.families.tickets import MASS_MATRIX, MAX_TREE_DEPTH
from bayescope.inference.sampling import fit_model
from bayescope.models.ticket_demand import TicketModelInputs, build_ticket_model, gated

warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--process", default="model")
    parser.add_argument("--artists", type=int, default=30)
    parser.add_argument("--population", type=int, default=80)
    parser.add_argument("--dmas", type=int, default=210)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--evals", type=int, default=60)
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--tune", type=int, default=200)
    parser.add_argument("--chains", type=int, default=2)
    args = parser.parse_args()

    n_weeks = args.weeks + 40
    generated = generate_artist_tables(args.process, args.population,
                                       np.random.default_rng(0), n_dmas=args.dmas,
                                       n_weeks=n_weeks)
    folder = Path(tempfile.mkdtemp(prefix="ticket_terms_"))
    write_ticket_tables(generated.tables, folder, "parquet")
    tables = load_ticket_tables(folder)
    origin = tables.weeks[-4]
    artists = sample_artists(popularity_tiers(tables, origin), args.artists,
                             np.random.default_rng(0))
    rows = []
    for name in ("static", "dynamic"):
        panels = build_panels(tables, artists, origin, 4, args.weeks, FEATURE_SETS[name])
        inputs = TicketModelInputs.from_panels(panels)
        model = build_ticket_model(inputs, panels.tier.size)
        row = {"features": name, "n_features": len(FEATURE_SETS[name]),
               "rows": int(inputs.tickets.size)}
        function = model.logp_dlogp_function(ravel_inputs=True, mode="NUMBA")
        function.set_extra_values({})
        point = np.concatenate([np.ravel(v) for v in model.initial_point().values()])
        function(point)
        start = time.perf_counter()
        for _ in range(args.evals):
            function(point)
        row["gradient_ms"] = 1e3 * (time.perf_counter() - start) / args.evals
        if args.fit:
            start = time.perf_counter()
            result = fit_model(model, gated(model.named_vars), "nuts", args.draws, args.tune,
                               args.chains, 0, False, None, "numba", MAX_TREE_DEPTH, MASS_MATRIX)
            row["fit_s"] = time.perf_counter() - start
            steps = float(np.asarray(result.idata["sample_stats"]["n_steps"]).mean())
            row["steps_per_draw"] = steps
            row["warmup_gradients"] = (1e3 * row["fit_s"] / row["gradient_ms"]
                                       - args.chains * args.draws * steps)
            row["gate"] = "passes" if result.gate.passed else "fails"
            row["min_bulk_ess"] = result.gate.min_ess_bulk
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows).set_index("features")
    print("\n" + table.to_string())
    for column in ("gradient_ms", "fit_s", "warmup_gradients"):
        if column in table:
            ratio = table.loc["dynamic", column] / table.loc["static", column]
            print(f"{column}, dynamic / static: {ratio:.2f}")


if __name__ == "__main__":
    main()
