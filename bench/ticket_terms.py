"""Benchmark: what the recent-sales and listing-dynamics terms cost a ticket refit, one process.

Generated Artist Performance tables (``--process``, default ``model``); a stratified sample of
``--artists`` artists x every DMA x ``--weeks`` training weeks before the origin. For each
feature set (``static``: the first release's seven signals, the anchor; ``dynamic``: plus
recent sales and listing dynamics, the default), side by side:

a NUTS fit with the package's sampler (nutpie, numba; diagonal mass matrix, tree depth at
most 6) at ``--draws``/``--tune``: wall time (compile + sampling), leapfrog steps per kept
draw, milliseconds per leapfrog step (wall time over chains x (draws + tune) x steps per draw:
the cost of one gradient, compile included), the gate and the minimum bulk ESS.

Prints dynamic / static as ratios.

Usage: ``python bench/ticket_terms.py [--artists 30 --dmas 210 --weeks 104 --draws 300
--tune 300 --chains 2 --process model]``
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
from bayescope.models.ticket_demand import GATED, TicketModelInputs, build_ticket_model

warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--process", default="model")
    parser.add_argument("--artists", type=int, default=30)
    parser.add_argument("--population", type=int, default=80)
    parser.add_argument("--dmas", type=int, default=210)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--tune", type=int, default=300)
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
        start = time.perf_counter()
        result = fit_model(model, GATED, "nuts", args.draws, args.tune, args.chains, 0,
                           False, None, "numba", MAX_TREE_DEPTH, MASS_MATRIX)
        row["fit_s"] = time.perf_counter() - start
        steps = float(np.asarray(result.idata["sample_stats"]["n_steps"]).mean())
        row["steps_per_draw"] = steps
        row["ms_per_step"] = 1e3 * row["fit_s"] / (args.chains * (args.draws + args.tune)
                                                  * steps)
        row["gate"] = "passes" if result.gate.passed else "fails"
        row["min_bulk_ess"] = result.gate.min_ess_bulk
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows).set_index("features")
    print("\n" + table.to_string())
    for column in ("fit_s", "ms_per_step", "steps_per_draw"):
        ratio = table.loc["dynamic", column] / table.loc["static", column]
        print(f"{column}, dynamic / static: {ratio:.2f}")


if __name__ == "__main__":
    main()
