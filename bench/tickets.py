"""Benchmark: the hierarchical ticket-demand model against the same model in bambi, one process.

Generated Artist Performance tables; a stratified sample of artists x every DMA x the
training weeks before the origin (30 x 210 x 104 = 655,200 artist-DMA-weeks by default).

* ours, nutpie (numba), the package's settings (400 tune + 500 draws x 4 chains, tree depth
  at most 6): the fused every-cell likelihood of :mod:`bayescope.models.ticket_likelihood`;
  also with ``--backends numba,jax`` the JAX compilation (on a GPU when JAX sees one);
* bambi, default settings: ``st_num_tickets ~ features + size + popularity + (1|artist) +
  (1|dma) + (1|artist:dma)``, ``family="negativebinomial"``, ``model.fit()`` (PyMC's NUTS)
  with the same draws, tune and chains. Same mean structure; one dispersion and no
  market-size-scaled or zero-sum effects (bambi's defaults).

bambi builds a dense design matrix for ``(1|artist:dma)``: rows x pairs x 8 bytes, 33 GB at
the full size (the process was killed for memory at 24 GiB). When that estimate exceeds half
of this machine's memory, the side-by-side comparison runs at ``--anchor-*`` size (ours and
bambi on the same rows) after ours alone at the full size.

Prints wall time (compile + sampling), mean leapfrog steps per draw, the minimum bulk ESS over
the slopes and the random-effect scales, ESS per second, whether our convergence gate passes,
and ours relative to bambi.

``--refit``: a refit instead, as a backtest's next origin or a weekly refit makes it. A fit at
the origin 4 weeks earlier (the previous origin), then at the origin a cold refit (``--tune``)
and a warm one (started where the previous fit ended, ``--warm-tune``;
:mod:`bayescope.inference.initial_points`), the same artists in all three, side by side, each
against the previous release's full-size refit (:data:`PREVIOUS_RELEASE_REFIT_S`).

Usage: ``python bench/tickets.py [--artists 30 --dmas 210 --weeks 104 --draws 500 --tune 400
--chains 4 --backends numba --anchor-artists 5 --anchor-dmas 24 --anchor-weeks 52]
[--refit --warm-tune 150]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from arviz_stats.base import array_stats

from bayescope.data.generate_tickets import generate_ticket_tables
from bayescope.data.ticket_features import FEATURES
from bayescope.data.ticket_panel import (
    PanelPair,
    build_panels,
    popularity_tiers,
    sample_artists,
)
from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables
from bayescope.families.tickets import MASS_MATRIX, MAX_TREE_DEPTH, WARM_TUNE
from bayescope.inference.initial_points import WarmStart
from bayescope.inference.sampling import fit_model
from bayescope.models.ticket_demand import TicketModelInputs, build_ticket_model, gated

warnings.filterwarnings("ignore")


def min_ess(posterior: Any, names: dict[str, str]) -> float:
    """Smallest bulk ESS over the named variables (every vector entry)."""
    values = []
    for name in names.values():
        draws = np.asarray(posterior[name].values, float)
        draws = draws.reshape(draws.shape[0], draws.shape[1], -1)
        values += [float(array_stats.ess(draws[:, :, k], method="bulk"))
                   for k in range(draws.shape[2])]
    return min(values)


# The first release's full-size refit (30 x 210 x 104, 4 x (400 + 500), 2 cores): 605-647 s at
# the eight backtest origins of 2026-11-24 (bench/README.md), their median.
PREVIOUS_RELEASE_REFIT_S = 625.0


def panel(n_artists: int, n_dmas: int, n_weeks: int, weeks_back: int = 4
          ) -> tuple[PanelPair, TicketModelInputs]:
    """Generated tables (20 weeks beyond the training window) and the training panel at the
    origin ``weeks_back`` weeks before their end (the artists sampled at 4 weeks before, so
    panels at other origins hold the same artists)."""
    folder = Path(tempfile.mkdtemp(prefix="bayescope-bench-tickets-"))
    generated = generate_ticket_tables(max(n_artists, 10), np.random.default_rng(0),
                                       n_dmas=n_dmas, n_weeks=n_weeks + 20)
    write_ticket_tables(generated.tables, folder / "tables")
    tables = load_ticket_tables(folder / "tables")
    artists = sample_artists(popularity_tiers(tables, tables.weeks[-4]), n_artists,
                             np.random.default_rng(0))
    origin = tables.weeks[-weeks_back]
    panels = build_panels(tables, artists, origin, 4, n_weeks)
    inputs = TicketModelInputs.from_panels(panels)
    print(f"{inputs.tickets.size:,} artist-DMA-weeks ({artists.size} artists x {n_dmas} DMAs "
          f"x {inputs.tickets.size // (artists.size * n_dmas)} weeks), "
          f"{(inputs.tickets > 0).mean():.1%} with sales", flush=True)
    return panels, inputs


def fit_ours(panels: PanelPair, inputs: TicketModelInputs, args: argparse.Namespace,
             backend: str, tune: int | None = None, warm_start: WarmStart | None = None,
             label: str = "") -> dict[str, Any]:
    """Our model through nutpie with the package's settings (``tune`` and ``warm_start``
    for a refit); the row also carries where the fit ended (``warm_start``)."""
    start = time.perf_counter()
    result = fit_model(model := build_ticket_model(inputs, panels.tier.size),
                       gated(model.named_vars), "nuts",
                       args.draws, args.tune if tune is None else tune, args.chains, 0, False,
                       None, backend, args.max_tree_depth, MASS_MATRIX, warm_start)
    seconds = time.perf_counter() - start
    names = {"beta": "beta", "sigma_artist": "sigma_artist", "sigma_dma": "sigma_dma",
             "sigma_pair": "sigma_pair"}
    ess = min_ess(result.idata["posterior"], names)
    steps = float(result.idata["sample_stats"]["n_steps"].mean())
    row = {"model": f"bayescope, nutpie ({backend}){label}", "seconds": seconds,
           "steps_per_draw": steps, "min_bulk_ess": ess, "ess_per_s": ess / seconds,
           "gate": "pass" if result.gate.passed else "; ".join(result.gate.problems)}
    # Each fit is printed as it ends: a full-size row takes tens of minutes.
    print("  " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                           for k, v in row.items()), flush=True)
    return {**row, "warm_start": result.warm_start}


def weekly_refit(args: argparse.Namespace) -> None:
    """The previous origin's fit, then cold and warm refits, side by side (``--refit``)."""
    before, before_inputs = panel(args.artists, args.dmas, args.weeks, weeks_back=8)
    last_week = fit_ours(before, before_inputs, args, "numba", label=", previous origin")
    panels, inputs = panel(args.artists, args.dmas, args.weeks)
    rows = [last_week,
            fit_ours(panels, inputs, args, "numba", label=", cold refit"),
            fit_ours(panels, inputs, args, "numba", tune=args.warm_tune,
                     warm_start=last_week["warm_start"],
                     label=f", warm refit ({args.warm_tune} tune)")]
    table = pd.DataFrame([{k: v for k, v in row.items() if k != "warm_start"} for row in rows])
    print(table.round(2).to_string(index=False), flush=True)
    cold, warm = rows[1]["seconds"], rows[2]["seconds"]
    print(f"warm refit vs cold refit: time x{warm / cold:.3f}, ESS/s "
          f"x{rows[2]['ess_per_s'] / rows[1]['ess_per_s']:.2f}")
    anchor = PREVIOUS_RELEASE_REFIT_S
    print(f"against the previous release's full-size refit ({anchor:.0f} s): cold "
          f"x{cold / anchor:.3f}, warm x{warm / anchor:.3f}; the target is 180 s "
          f"(x{180 / anchor:.3f})")


def fit_bambi(panels: PanelPair, inputs: TicketModelInputs, args: argparse.Namespace
              ) -> dict[str, Any]:
    """The same mean structure in bambi, default settings."""
    import bambi as bmb

    train = panels.train
    frame = pd.DataFrame(inputs.x + inputs.feature_means, columns=list(FEATURES))
    frame["st_num_tickets"] = inputs.tickets.astype(int)
    frame["size"] = panels.size[train.dma]
    frame["popularity"] = panels.popularity[train.artist]
    frame["artist"] = pd.Categorical(train.artists[train.artist])
    frame["dma"] = pd.Categorical(train.dmas[train.dma])
    formula = ("st_num_tickets ~ " + " + ".join([*FEATURES, "size", "popularity"])
               + " + (1|artist) + (1|dma) + (1|artist:dma)")
    start = time.perf_counter()
    model = bmb.Model(formula, frame, family="negativebinomial")
    idata = model.fit(draws=args.draws, tune=args.tune, chains=args.chains,
                      random_seed=0, progressbar=False)
    seconds = time.perf_counter() - start
    posterior = idata["posterior"]
    names = {"beta": FEATURES[0], "sigma_artist": "1|artist_sigma",
             "sigma_dma": "1|dma_sigma", "sigma_pair": "1|artist:dma_sigma"}
    ess = min(min_ess(posterior, {k: v}) for k, v in names.items() if v in posterior)
    ess = min(ess, min_ess(posterior, {f: f for f in FEATURES}))
    steps = float(idata["sample_stats"]["n_steps"].mean())
    return {"model": "bambi, default settings (PyMC NUTS)", "seconds": seconds,
            "steps_per_draw": steps, "min_bulk_ess": ess, "ess_per_s": ess / seconds,
            "gate": ""}


def bambi_design_gb(inputs: TicketModelInputs, n_artists: int) -> float:
    """Memory of bambi's dense group-specific design matrices (dominated by artist x DMA)."""
    n_dmas = inputs.size.size
    return inputs.tickets.size * (n_artists * n_dmas + n_artists + n_dmas) * 8 / 1e9


def side_by_side(rows: list[dict[str, Any]]) -> None:
    """The table and ours relative to the last row (bambi) when there is one."""
    table = pd.DataFrame([{k: v for k, v in row.items() if k != "warm_start"} for row in rows])
    print(table.round(2).to_string(index=False), flush=True)
    anchor = table.iloc[-1]
    if str(anchor["model"]).startswith("bambi"):
        for _, row in table.iloc[:-1].iterrows():
            print(f"{row['model']} vs bambi: time x{row['seconds'] / anchor['seconds']:.3f}, "
                  f"ESS/s x{row['ess_per_s'] / anchor['ess_per_s']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artists", type=int, default=30)
    parser.add_argument("--dmas", type=int, default=210)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=400)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--max-tree-depth", type=int, default=MAX_TREE_DEPTH)
    parser.add_argument("--backends", default="numba", help="comma-separated: numba,jax")
    parser.add_argument("--anchor-artists", type=int, default=5)
    parser.add_argument("--anchor-dmas", type=int, default=24)
    parser.add_argument("--anchor-weeks", type=int, default=52)
    parser.add_argument("--skip-bambi", action="store_true")
    parser.add_argument("--refit", action="store_true",
                        help="the previous origin's fit, then a cold and a warm refit")
    parser.add_argument("--warm-tune", type=int, default=WARM_TUNE)
    args = parser.parse_args()
    print(f"{args.chains} chains x ({args.tune} tune + {args.draws} draws), "
          f"{os.cpu_count()} cores")
    if args.refit:
        weekly_refit(args)
        return
    panels, inputs = panel(args.artists, args.dmas, args.weeks)
    backends = args.backends.split(",")
    rows = [fit_ours(panels, inputs, args, backend) for backend in backends]
    if args.skip_bambi:
        side_by_side(rows)
        return
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    needed = bambi_design_gb(inputs, panels.tier.size)
    if needed < memory_gb / 2:
        side_by_side([*rows, fit_bambi(panels, inputs, args)])
        return
    side_by_side(rows)
    print(f"bambi's dense design would need {needed:.0f} GB (machine: {memory_gb:.0f} GB): "
          f"side by side at {args.anchor_artists} x {args.anchor_dmas} x {args.anchor_weeks}")
    small_panels, small_inputs = panel(args.anchor_artists, args.anchor_dmas, args.anchor_weeks)
    side_by_side([*(fit_ours(small_panels, small_inputs, args, b) for b in backends),
                  fit_bambi(small_panels, small_inputs, args)])


if __name__ == "__main__":
    main()
