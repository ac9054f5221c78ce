"""Artist cohorts: the CLI's files, the generator's popularity tiers found again, one cohort
when the profiles have no structure, profiles that never look past the as-of date, and one
exit-2 error for a bad date."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import bayescope as bs
from bayescope.cli import main
from bayescope.data.artist_profiles import FEATURES, artist_profiles
from bayescope.data.generate_tickets import generate_ticket_tables
from bayescope.data.ticket_tables import TicketTables, load_ticket_tables, write_ticket_tables
from bayescope.errors import NotFittedError
from bayescope.models.artist_cohorts import fit_cohorts


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("artists")
    generated = generate_ticket_tables(90, np.random.default_rng(5), n_dmas=15, n_weeks=90)
    write_ticket_tables(generated.tables, folder, "parquet")
    tables = load_ticket_tables(folder)
    as_of = tables.weeks[-1] + pd.Timedelta(weeks=1)
    return folder, tables, as_of, generated.truth.artist_tier


def test_cli_writes_the_cohort_table_and_finds_the_tiers(world, tmp_path):
    folder, _, as_of, tiers = world
    out = tmp_path / "cohorts"
    assert main(["-q", "cohorts", "--tables", str(folder), "--as-of", str(as_of.date()),
                 "--out", str(out)]) == 0
    table = pd.read_csv(out / "cohorts.csv", dtype={"artist_id": str})
    assert list(table.columns) == ["artist_id", "cohort", "cohort_name", "probability"]
    assert table["probability"].between(0, 1).all() and len(table) == 90
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_cohorts"] >= 2
    assert metrics["cross_validation"][0]["cohorts"] == 1
    # The generator draws streams by popularity tier: the cohorts find that split again.
    truth = table["artist_id"].map(tiers)
    assert adjusted_rand_score(truth, table["cohort"]) > 0.5
    rules = pd.read_csv(out / "rules.csv")
    assert list(rules.columns) == ["rule", "cohort_name", "artists", "agreement"]
    assert (rules["artists"] * rules["agreement"]).sum() / rules["artists"].sum() > 0.8
    assert (out / "index.html").is_file() and (out / "cohort_profiles.png").is_file()


def test_profiles_without_structure_make_one_cohort():
    rng = np.random.default_rng(2)
    noise = pd.DataFrame(rng.normal(size=(200, len(FEATURES))), columns=list(FEATURES))
    assert fit_cohorts(noise, 6, np.random.default_rng(0)).n_cohorts == 1


def test_profiles_use_only_weeks_before_the_as_of_date(world):
    _, tables, as_of, _ = world
    cut = as_of - pd.Timedelta(weeks=20)
    before = artist_profiles(tables, cut)
    changed = {}
    for name, table in tables.tables.items():
        later = table["week_start"] >= cut
        edited = table.copy()
        for column in edited.columns:
            if column not in ("artist_id", "dma_id", "week_start"):
                edited.loc[later, column] = edited.loc[later, column] * 3 + 1
        changed[name] = edited
    rewritten = TicketTables(changed, tables.dma, tables.weekday)
    pd.testing.assert_frame_equal(artist_profiles(rewritten, cut), before)
    # ... and the week just before does move them.
    assert not artist_profiles(rewritten, cut + pd.Timedelta(weeks=1)).equals(
        artist_profiles(tables, cut + pd.Timedelta(weeks=1)))


def test_python_form_and_errors(world, tmp_path, capsys):
    folder, tables, as_of, _ = world
    with pytest.raises(NotFittedError):
        bs.ArtistCohorts().write(tmp_path / "x")
    fitted = bs.ArtistCohorts(max_cohorts=3, seed=1).fit(tables, as_of)
    assert fitted.model_.n_cohorts <= 3 and set(fitted.cohorts_["cohort"]) <= {0, 1, 2}
    assert fitted.transitions_ is not None
    assert int(fitted.transitions_.to_numpy().sum()) == len(fitted.cohorts_)
    too_early = str(tables.weeks[10].date())
    assert main(["cohorts", "--tables", str(folder), "--as-of", too_early,
                 "--out", str(tmp_path / "y")]) == 2
    assert "as-of" in capsys.readouterr().err
    assert main(["cohorts", "--tables", str(folder), "--as-of", "someday",
                 "--out", str(tmp_path / "z")]) == 2
    assert not (tmp_path / "y").exists() and not (tmp_path / "z").exists()
