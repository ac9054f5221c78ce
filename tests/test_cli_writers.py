"""Every CLI writer against the two hazards of a shared output path: another bayescope process
writing it (exit 2 naming the lock, before any work) and kill -9 in the middle of the write
(the earlier output stays whole; only the killed writer's temporaries are left, and the next
write clears them)."""

from __future__ import annotations

import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from publishing_steps import (
    assert_killed_rewrites_leave_the_output_whole,
    counted_publishing_steps,
    exit_in_a_fork,
    run_killed_at,
    temporary,
)
from test_cli_errors import FILE_WRITERS, FOLDER_WRITERS

from bayescope import BTYD
from bayescope.cli import main
from bayescope.files import atomic_write_frame, output_lock

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
    "demo": (["demo", "--out", "OUT"], "folder"),  # its content made small (_small_demo)
}


def _small_demo(small_log_csv: str) -> Callable[[Path, int, int], dict[str, Path]]:
    """A stand-in for the demo's content (two minutes of fits and reports, tested by
    ``make demo``) that writes as it does: a CSV, then a fitted run with its report, into the
    folder :func:`bayescope.demo.run_demo` swaps in whole."""
    def demo_into(out: Path, draws: int, chains: int) -> dict[str, Path]:
        transactions = out / "transactions.csv"
        atomic_write_frame(pd.read_csv(small_log_csv), transactions)
        model = BTYD(method="map").fit(transactions, calibration_end="2024-12-31")
        model.save(out / "run")
        report = model.report()
        return {"run": out / "run", "report": report, "spend_report": report}
    return demo_into


@pytest.fixture(scope="module")
def inputs(btyd_run, small_log_csv, tmp_path_factory) -> dict[str, str]:
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
            "PROPENSITY_RUN": str(folder / "propensity_run"), "LOG": small_log_csv}


@pytest.mark.parametrize("name", list(KILLED_WRITERS))
def test_a_writer_killed_mid_write_leaves_the_earlier_output_whole(name, btyd_run, inputs,
                                                                   tmp_path, monkeypatch
                                                                   ) -> None:
    """Killed at its first and at its last publishing step, a rewrite leaves the earlier
    output byte for byte (:func:`assert_killed_rewrites_leave_the_output_whole`)."""
    import bayescope.demo

    monkeypatch.setattr(bayescope.demo, "_demo_into", _small_demo(inputs["LOG"]))
    command, kind = KILLED_WRITERS[name]
    out = tmp_path / ("out.csv" if kind == "csv" else "out")
    if kind == "report":
        shutil.copytree(btyd_run, out)
    written = out / "report" if kind == "report" else out
    arguments = ["-q", *[str(out) if a == "OUT" else inputs.get(a, a) for a in command]]
    assert_killed_rewrites_leave_the_output_whole(arguments, tmp_path, written)


def test_an_mlflow_export_killed_mid_write_leaves_no_model(btyd_run, tmp_path) -> None:
    """An export writes a new folder (it refuses an existing one): killed at its first and
    last publishing step it leaves none, only its temporaries, which the next export clears."""
    pytest.importorskip("mlflow")
    out = tmp_path / "model"
    arguments = ["-q", "export-mlflow", str(btyd_run), str(out)]
    with counted_publishing_steps(under=tmp_path) as calls:
        assert main(arguments) == 0
    steps = calls[0]
    assert steps >= 1 and (out / "MLmodel").is_file()
    shutil.rmtree(out)
    for kill_at in sorted({1, steps}):
        assert run_killed_at(arguments, kill_at, tmp_path) == -signal.SIGKILL, kill_at
        assert not out.exists()
        leftovers = {p.name for p in tmp_path.iterdir()} - {".model.lock"}
        assert leftovers and all(temporary(n) for n in leftovers), leftovers
    assert main(arguments) == 0
    assert (out / "MLmodel").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def _exit_in_a_fork_as_nobody(arguments: list[str], err_file: Path) -> tuple[int, str]:
    """Run the CLI in a forked child, as user ``nobody`` when this process is root (whom
    permissions do not stop); its exit code and standard error."""
    import os

    @contextmanager
    def as_nobody() -> Iterator[None]:
        sys.stderr = open(err_file, "w")  # not pytest's capture, which stays here
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        yield

    return exit_in_a_fork(arguments, as_nobody, 120.0), err_file.read_text()


@pytest.mark.parametrize("command", EVERY_WRITER, ids=lambda c: " ".join(c[:2]))
def test_every_writer_refuses_an_output_in_a_read_only_folder(command) -> None:
    """Issue 18 saw tracebacks for a read-only ``--out``: every writer exits 2 with one line
    naming the folder, and nothing is written."""
    import os
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="bayescope-read-only-"))
    try:
        base.chmod(0o755)  # other users may pass through
        locked = base / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        out = locked / "out"
        arguments = [str(out) if a == "OUT" else str(base / "run") if a == "RUN" else a
                     for a in command]
        code, err = _exit_in_a_fork_as_nobody(arguments, base / "stderr.txt")
        lines = err.strip().splitlines()
        assert code == 2, err[-2000:]
        assert len(lines) == 1 and "cannot write in" in lines[0] and str(locked) in lines[0], \
            lines
        assert os.listdir(locked) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_saving_a_run_into_a_folder_of_someone_elses_files_is_refused(btyd_run, tmp_path
                                                                      ) -> None:
    from bayescope import load

    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "thesis.tex").write_text("keep me")
    with pytest.raises(FileExistsError, match="did not write"):
        load(btyd_run).save(documents)
    assert [p.name for p in documents.iterdir()] == ["thesis.tex"]
    assert [p.name for p in tmp_path.iterdir()] == ["documents"]
    assert load(btyd_run).save(tmp_path / "copy") == tmp_path / "copy"  # a new folder: fine
    assert load(btyd_run).save(tmp_path / "copy") == tmp_path / "copy"  # its own output too
