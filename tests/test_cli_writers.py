"""Every CLI writer against the two hazards of a shared output path: another bayescope process
writing it (exit 2 naming the lock, before any work) and kill -9 in the middle of the write
(the earlier output stays whole; only the killed writer's temporaries are left, and the next
write clears them)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from publishing_steps import counted_publishing_steps
from test_cli_errors import FILE_WRITERS, FOLDER_WRITERS

from bayescope.cli import main
from bayescope.files import output_lock

# Writers whose output is not named ``--out``: the report (into its run directory), the
# comparison and the MLflow export (a positional folder).
OTHER_WRITERS = [
    ["report", "OUT"],
    ["compare", "RUN", "RUN", "--out", "OUT"],
    ["export-mlflow", "RUN", "OUT"],
]
EVERY_WRITER = [[*command, "--out", "OUT"] for command in FILE_WRITERS + FOLDER_WRITERS
                ] + OTHER_WRITERS


@pytest.mark.parametrize("command", EVERY_WRITER, ids=lambda c: " ".join(c[:2]))
def test_every_writer_refuses_an_output_another_process_is_writing(command, tmp_path, capsys
                                                                   ) -> None:
    out = tmp_path / "out"
    arguments = [str(out) if a == "OUT" else str(tmp_path / "run") if a == "RUN" else a
                 for a in command]
    with output_lock(out):
        code = main(arguments)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another bayescope process is writing it" in err[0], err
    assert not out.exists()
    assert {p.name for p in tmp_path.iterdir()} <= {".out.lock"}


@pytest.fixture(scope="module")
def btyd_run(small_log_csv, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("writers") / "run"
    assert main(["-q", "fit", "btyd", "--transactions", small_log_csv, "--method", "map",
                 "--calibration-end", "2024-12-31", "--out", str(run)]) == 0
    return run


# Writers killed mid-write: the command (OUT its output) and how to read a whole output.
KILLED_WRITERS = {
    "generate btyd": (["generate", "btyd", "--customers", "30000", "--out", "OUT"], "csv"),
    "generate artists": (["generate", "artists", "--artists", "40", "--dmas", "30",
                          "--weeks", "60", "--out", "OUT"], "folder"),
    "generate spend": (["generate", "spend", "--customers", "3000", "--out", "OUT"], "csv"),
    "generate propensity": (["generate", "propensity", "--customers", "3000", "--out", "OUT"],
                            "csv"),
    "predict": (["predict", "RUN", "--horizon", "30", "--out", "OUT"], "csv"),
    "simulate-alive": (["simulate-alive", "RUN", "--out", "OUT"], "csv"),
    "report": (["report", "OUT"], "report"),  # OUT: a copy of the run; writes OUT/report
    "compare": (["compare", "RUN", "RUN", "--out", "OUT"], "folder"),
    # The fits the issue saw mix an old metrics.json with a new posterior.nc when killed.
    "fit spend": (["fit", "spend", "--data", "SPEND", "--draws", "50", "--chains", "1",
                   "--out", "OUT"], "folder"),
    "fit propensity": (["fit", "propensity", "--data", "PROPENSITY", "--out", "OUT"],
                       "folder"),
    "score": (["score", "PROPENSITY_RUN", "--data", "PROPENSITY", "--out", "OUT"], "csv"),
}


@pytest.fixture(scope="module")
def inputs(btyd_run, tmp_path_factory) -> dict[str, str]:
    """What the killed writers read: ``RUN`` (a BTYD run), campaign and propensity tables
    and a propensity run."""
    folder = tmp_path_factory.mktemp("writer_inputs")
    spend, propensity = folder / "spend.csv", folder / "propensity.csv"
    assert main(["-q", "generate", "spend", "--customers", "400", "--out", str(spend)]) == 0
    assert main(["-q", "generate", "propensity", "--customers", "3000",
                 "--out", str(propensity)]) == 0
    assert main(["-q", "fit", "propensity", "--data", str(propensity),
                 "--out", str(folder / "propensity_run")]) == 0
    return {"RUN": str(btyd_run), "SPEND": str(spend), "PROPENSITY": str(propensity),
            "PROPENSITY_RUN": str(folder / "propensity_run")}


def _snapshot(folder: Path, written: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (the output and what its writer writes beside it, such as
    a generator's truth) but the lock and the writers' temporaries; a CSV output must parse."""
    if written.suffix == ".csv":
        pd.read_csv(written)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")
            and not any(_temporary(part) for part in p.relative_to(folder).parts)}


def _temporary(name: str) -> bool:
    """A writer's temporary (:func:`bayescope.files.work_prefix`) of any output."""
    return name.startswith(".") and ".bayescope-" in name


# Runs the CLI and kills it with SIGKILL at the publishing step numbered by its first argument.
RUNNER = str(Path(__file__).with_name("publishing_steps.py"))


@pytest.mark.parametrize("name", list(KILLED_WRITERS))
def test_a_writer_killed_mid_write_leaves_the_earlier_output_whole(name, btyd_run, inputs,
                                                                   tmp_path) -> None:
    """The command writes once; a rewrite is killed (SIGKILL) at its first publishing step
    and at its last (the swap onto the output); after each kill the first output is byte
    for byte what it was and nothing but the killed writer's temporaries is beside it, and
    a final rewrite replaces it whole and clears them."""
    import shutil

    command, kind = KILLED_WRITERS[name]
    out = tmp_path / ("out.csv" if kind == "csv" else "out")
    if kind == "report":
        shutil.copytree(btyd_run, out)
    written = out / "report" if kind == "report" else out
    arguments = ["-q", *[str(out) if a == "OUT" else inputs.get(a, a) for a in command]]
    assert main(arguments) == 0
    with counted_publishing_steps() as calls:  # a rewrite: every step a swap
        assert main(arguments) == 0
    steps = calls[0]
    assert steps >= 1
    before = _snapshot(tmp_path, written)
    for kill_at in sorted({1, steps}):
        process = subprocess.run([sys.executable, RUNNER, str(kill_at),
                                  *arguments], capture_output=True, timeout=300)
        assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]
        assert _snapshot(tmp_path, written) == before, kill_at
        leftovers = {p.name for p in written.parent.iterdir()} - {
            *(Path(k).parts[0 if kind != "report" else 1] for k in before),
            f".{out.name}.lock"}
        assert all(_temporary(n) for n in leftovers), leftovers
    assert main(arguments) == 0
    assert set(_snapshot(tmp_path, written)) == set(before)
    assert not any(_temporary(p.name) for p in written.parent.iterdir())
    assert not list(tmp_path.glob(".*.lock"))
