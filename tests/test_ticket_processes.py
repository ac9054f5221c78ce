"""Sales processes written apart from the ticket model: each writes tables the loader reads,
is seeded, and shows its own mechanism in the sales it draws."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bayescope.cli import main
from bayescope.data.ticket_processes import PROCESSES, generate_artist_tables
from bayescope.data.ticket_tables import load_ticket_tables, write_ticket_tables


def _draw(process: str, seed: int = 3):
    return generate_artist_tables(process, 10, np.random.default_rng(seed), n_dmas=12,
                                  n_weeks=120)


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_every_process_writes_loadable_seeded_tables(process, tmp_path) -> None:
    first, again = _draw(process), _draw(process)
    for name, frame in first.tables.items():
        pd.testing.assert_frame_equal(frame, again.tables[name])
    assert first.truth.process == process
    write_ticket_tables(first.tables, tmp_path / "t", "csv")
    tables = load_ticket_tables(tmp_path / "t")
    sales = tables["tsecondaryticket_artist_dma_week"]
    assert len(sales) > 50 and (sales["st_num_tickets"] > 0).all()
    share_zero = 1 - len(sales) / (10 * 12 * 120)
    assert 0.75 < share_zero < 0.995  # sparse, as real extracts are


def test_processes_differ_from_the_model_and_from_each_other() -> None:
    sales = {p: _draw(p).cubes.tickets for p in PROCESSES}
    for a in PROCESSES:
        for b in PROCESSES:
            if a < b:
                assert not np.array_equal(sales[a], sales[b])


def test_tour_ramp_sales_rise_to_the_show_and_stop_after_it() -> None:
    generated = _draw("tour_ramp")
    tickets = generated.cubes.tickets
    artists, dmas = list(generated.cubes.artists), list(generated.cubes.dmas)
    early, late, after = [], [], []
    for show in generated.tours.itertuples():
        a, d = artists.index(show.artist_id), dmas.index(show.dma_id)
        s, n = show.show_week, max(show.announce_week, 0)
        if s + 3 >= tickets.shape[2] or s - n < 8:
            continue
        early.append(tickets[a, d, n:n + 2].mean())
        late.append(tickets[a, d, s - 1:s + 1].mean())
        after.append(tickets[a, d, s + 1:s + 3].mean())
    assert np.mean(late) > 4 * np.mean(early)
    assert np.mean(after) < 0.1 * np.mean(late)


def test_regime_shift_cancels_tours_and_boosts_streams() -> None:
    generated = _draw("regime_shift")
    parameters = generated.truth.process_parameters
    assert parameters["cancelled_shows"] and parameters["viral_moments"]
    cubes = generated.cubes
    artists, dmas = list(cubes.artists), list(cubes.dmas)
    for artist, dma, show_week, cancelled_at in parameters["cancelled_shows"]:
        a, d = artists.index(artist), dmas.index(dma)
        stop = min(show_week + 1, cubes.listings.shape[2])
        overlapping = generated.tours[(generated.tours["artist_id"] == artist)
                                      & (generated.tours["dma_id"] == dma)]
        if len(overlapping) == 1:  # another show in the same DMA could still be listed
            assert not cubes.listings[a, d, cancelled_at:stop].any()
    artist, week, _ = parameters["viral_moments"][0]
    a = artists.index(artist)
    if 2 <= week < cubes.global_streams.shape[1] - 2:
        assert cubes.global_streams[a, week] > cubes.global_streams[a, week - 1]


def test_seasonal_price_has_a_season_per_dma() -> None:
    generated = _draw("seasonal_price")
    phase = np.asarray(generated.truth.process_parameters["season_phase"])
    assert phase.size == 12 and np.ptp(phase) > 1.0  # DMAs peak at different times


def test_cli_writes_a_process_and_refuses_an_unknown_one(tmp_path, capsys) -> None:
    out = tmp_path / "tables"
    assert main(["-q", "generate", "artists", "--process", "tour_ramp", "--artists", "5",
                 "--dmas", "6", "--weeks", "60", "--format", "csv", "--out", str(out)]) == 0
    truth = json.loads((out / "truth" / "truth.json").read_text())
    assert truth["process"] == "tour_ramp" and truth["process_parameters"]["steepness"] > 0
    with pytest.raises(SystemExit) as exit_info:
        main(["-q", "generate", "artists", "--process", "nonsense", "--out", str(out)])
    assert exit_info.value.code == 2
    assert "--process" in capsys.readouterr().err
