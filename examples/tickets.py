"""Ticket demand brief on generated Artist Performance tables.

Writes the tables (the layout a user's extract has), fits the hierarchical negative binomial
(artist x DMA x week, lagged leakage-free signals) at an origin, saves the run, loads it back
and answers the brief: how many secondary tickets each artist sells in each DMA over the
next four weeks (with 90% intervals), the national totals, and which DMAs the most-streamed
artist should play next.

    python examples/tickets.py         # a few minutes at the default size
"""

from __future__ import annotations

import numpy as np
from _settings import OUT, SMALL, size

import bayescope as bs
from bayescope.data.generate_tickets import generate_ticket_tables
from bayescope.data.ticket_tables import write_ticket_tables

generated = generate_ticket_tables(size(60, 6), np.random.default_rng(0), n_dmas=size(40, 8),
                                   n_weeks=size(160, 60))
folder = OUT / "artist_tables"
write_ticket_tables(generated.tables, folder, "parquet")
origin = "2020-10-19" if SMALL else "2022-06-27"

model = bs.TicketDemand(artists=size(20, 4), train_weeks=size(104, 40), draws=size(500, 100),
                        tune=size(400, 200), chains=size(4, 2), seed=0)
model.fit(folder, origin=origin)
run = model.save(OUT / "tickets")
model = bs.load(run)

print(f"gate {'passed' if model.converged_ else 'FAILED'}; {model.summary_['artists']} "
      f"artists x {model.summary_['dmas']} DMAs, origin {model.summary_['origin']}")
forecast = model.predict(seed=0)
print("\nNational secondary tickets per week (mean, 90% interval):")
print(forecast.national.round(0).to_string(index=False))
busiest = forecast.rows.sort_values("tickets_mean", ascending=False).head(8)
print("\nBusiest artist x DMA x weeks ahead:")
print(busiest[["artist_id", "dma_id", "week_start", "tickets_mean", "tickets_low",
               "tickets_high"]].round(1).to_string(index=False))

popularity = np.asarray(model.run_.attr("popularity"), float)
star = str(model.run_.artists[int(np.argmax(popularity))])
ranking = model.rank_dmas(artist=star, top=10)
print(f"\nWhere should {star} play next? Expected tickets per show (90%), P(in the top 10):")
print(ranking.head(10)[["dma_name", "expected_tickets_mean", "expected_tickets_low",
                        "expected_tickets_high", "p_top_k"]].round(2).to_string(index=False))
print(f"\nrun saved to {run}; `bayescope backtest --tables {folder}` scores it against baselines")
