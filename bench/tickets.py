"""Benchmark: the hierarchical ticket-demand model against the same model in bambi, one process.

Generated Artist Performance tables; a stratified sample of artists x every DMA x the
training weeks before the origin (30 x 210 x 104 = 655,200 artist-DMA-weeks by default).
Side by side on the same rows:

* ours, nutpie (numba): the dense-grid likelihood of :mod:`bayescope.models.ticket_demand`;
* ours, nutpie (JAX), when jax is installed (on a GPU when JAX sees one);
* bambi, default settings: ``st_num_tickets ~ features + size + popularity + (1|artist) +
  (1|dma) + (1|artist:dma)``, ``family="negativebinomial"``, ``model.fit()`` (PyMC's NUTS)
  with the same draws, tune and chains. Same mean structure; one dispersion and no
  market-size-scaled or zero-sum effects (bambi's defaults).

Prints wall time (compile + sampling), the minimum bulk ESS over the slopes and the random-
effect scales, ESS per second, and ours relative to bambi.

Usage: ``python bench/tickets.py [--artists 30 --dmas 210 --weeks 104 --draws 1000
--tune 1000 --chains 4 --skip-bambi]``
"""

from __future__ import annotations

import argparse
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
from bayescope.data.ticket_panel import build_panels, popularity_tiers, sample_artists
from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables
from bayescope.inference.sampling import fit_model
from bayescope.models.ticket_demand import TicketModelInputs, build_ticket_model

warnings.filterwarnings("ignore")
COMMON = ("beta", "sigma_artist", "sigma_dma", "sigma_pair")


def min_ess(posterior: Any, names: dict[str, str]) -> float:
    """Smallest bulk ESS over the named variables (every vector entry)."""
    values = []
    for name in names.values():
        draws = np.asarray(posterior[name].values, float)
        draws = draws.reshape(draws.shape[0], draws.shape[1], -1)
        values += [float(array_stats.ess(draws[:, :, k], method="bulk"))
                   for k in range(draws.shape[2])]
    return min(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artists", type=int, default=30)
    parser.add_argument("--dmas", type=int, default=210)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--skip-bambi", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bayescope-bench-tickets-"))
    generated = generate_ticket_tables(max(args.artists, 10), np.random.default_rng(0),
                                       n_dmas=args.dmas, n_weeks=args.weeks + 20)
    write_ticket_tables(generated.tables, folder / "tables")
    tables = load_ticket_tables(folder / "tables")
    origin = tables.weeks[-4]
    artists = sample_artists(popularity_tiers(tables, origin), args.artists,
                             np.random.default_rng(0))
    panels = build_panels(tables, artists, origin, 4, args.weeks)
    inputs = TicketModelInputs.from_panels(panels)
    print(f"{inputs.tickets.size:,} artist-DMA-weeks ({artists.size} artists x {args.dmas} "
          f"DMAs x {inputs.tickets.size // (artists.size * args.dmas)} weeks), "
          f"{(inputs.tickets > 0).mean():.1%} with sales; {args.chains} chains x "
          f"({args.tune} tune + {args.draws} draws) on this machine")
    ours_names = {"beta": "beta", "sigma_artist": "sigma_artist", "sigma_dma": "sigma_dma",
                  "sigma_pair": "sigma_pair"}
    rows = []
    backends = ["numba"]
    try:
        import jax  # noqa: F401

        backends.append("jax")
    except ImportError:
        pass
    for backend in backends:
        start = time.perf_counter()
        result = fit_model(build_ticket_model(inputs, artists.size), ("beta",), "nuts",
                           args.draws, args.tune, args.chains, 0, False, None, backend)
        seconds = time.perf_counter() - start
        ess = min_ess(result.idata["posterior"], ours_names)
        rows.append({"model": f"bayescope, nutpie ({backend})", "seconds": seconds,
                     "min_bulk_ess": ess, "ess_per_s": ess / seconds})
    if not args.skip_bambi:
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
        rows.append({"model": "bambi, default settings (PyMC NUTS)", "seconds": seconds,
                     "min_bulk_ess": ess, "ess_per_s": ess / seconds})
    table = pd.DataFrame(rows)
    print(table.round(2).to_string(index=False))
    if len(table) > 1 and not args.skip_bambi:
        anchor = table.iloc[-1]
        for _, row in table.iloc[:-1].iterrows():
            print(f"{row['model']} vs bambi: time x{row['seconds'] / anchor['seconds']:.3f}, "
                  f"ESS/s x{row['ess_per_s'] / anchor['ess_per_s']:.1f}")


if __name__ == "__main__":
    main()
