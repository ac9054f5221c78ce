"""The ticket workflow's writers killed mid-write (SIGKILL at their first and last publishing
step): the earlier output stays whole, as for every other writer (``test_cli_writers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from publishing_steps import assert_killed_rewrites_leave_the_output_whole

from bayescope.cli import main

# One sample (4 artists x 5 DMAs, horizon 2): the fit and the backtest share one compiled
# structure (models.ticket_demand.structure_key); killed rewrites run in forks of this
# process, which inherit it.
SAMPLING = ["--artists", "4", "--horizon", "2", "--draws", "30", "--tune", "30",
            "--chains", "1"]
KILLED_WRITERS = {
    "fit tickets": (["fit", "tickets", "--tables", "TABLES", "--origin", "2020-10-19",
                     *SAMPLING, "--out", "OUT"], "folder"),
    "backtest": (["backtest", "--tables", "TABLES", "--origins", "1", "--train-weeks", "30",
                  *SAMPLING, "--out", "OUT"], "folder"),
    "rank-dmas": (["rank-dmas", "RUN", "--artist", "A0001", "--out", "OUT"], "csv"),
    "fit streams": (["fit", "streams", "--tables", "TABLES", "--origin", "2020-10-19",
                     "--draws", "30", "--tune", "30", "--chains", "1",
                     "--backtest-origins", "0", "--out", "OUT"], "folder"),
    "cohorts": (["cohorts", "--tables", "COHORT_TABLES", "--as-of", "2020-10-19", "--out", "OUT"],
                "folder"),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    """Artist tables (``TABLES``), a tickets run fitted from them (``RUN``) and tables of
    enough artists for cohorts (``COHORT_TABLES``)."""
    folder = tmp_path_factory.mktemp("ticket_writers")
    tables, run, cohort_tables = folder / "tables", folder / "run", folder / "cohort_tables"
    assert main(["-q", "generate", "artists", "--artists", "12", "--dmas", "5", "--weeks",
                 "60", "--seed", "4", "--out", str(cohort_tables)]) == 0
    assert main(["-q", "generate", "artists", "--artists", "4", "--dmas", "5", "--weeks",
                 "60", "--seed", "4", "--out", str(tables)]) == 0
    assert main(["-q", "fit", "tickets", "--tables", str(tables), "--origin", "2020-10-19",
                 *SAMPLING, "--out", str(run)]) == 0
    return {"TABLES": str(tables), "RUN": str(run), "COHORT_TABLES": str(cohort_tables)}


@pytest.mark.parametrize("name", list(KILLED_WRITERS))
def test_a_ticket_writer_killed_mid_write_leaves_the_earlier_output_whole(
        name: str, inputs: dict[str, str], tmp_path: Path) -> None:
    command, kind = KILLED_WRITERS[name]
    out = tmp_path / ("out.csv" if kind == "csv" else "out")
    arguments = ["-q", *[str(out) if a == "OUT" else inputs.get(a, a) for a in command]]
    assert_killed_rewrites_leave_the_output_whole(arguments, tmp_path, out)
