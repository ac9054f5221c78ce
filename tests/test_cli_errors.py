"""The CLI's one error path: every mistake in an option value, an input path, a run directory
or an output path exits 2 with one line naming it, before any work, and leaves what was there
untouched (a matrix over the commands for input files and runs; per command for the rest)."""

from __future__ import annotations

import json
import socket

import pytest

from bayescope.cli import main
from bayescope.files import OUTPUT_MARK

FILE_WRITERS = [
    ["generate", "btyd", "--customers", "10"],
    ["generate", "spend", "--customers", "10"],
    ["generate", "propensity", "--customers", "10"],
    ["predict", "RUN", "--horizon", "30"],
    ["simulate-alive", "RUN"],
    ["score", "RUN", "--data", "x.csv"],
    ["rank-dmas", "RUN", "--artist", "A0001"],
]
FOLDER_WRITERS = [
    ["fit", "btyd", "--transactions", "x.csv"],
    ["fit", "spend", "--data", "x.csv"],
    ["fit", "propensity", "--data", "x.csv"],
    ["fit", "tickets", "--tables", "t", "--origin", "2024-01-01"],
    ["fit", "streams", "--tables", "t", "--origin", "2024-01-01"],
    ["generate", "artists"],
    ["backtest", "--tables", "t"],
    ["cohorts", "--tables", "t", "--as-of", "2024-01-01"],
    ["demo"],
]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    return err[0]


@pytest.mark.parametrize("command", FILE_WRITERS, ids=lambda c: " ".join(c[:2]))
def test_file_outputs_that_cannot_be_written_exit_2(command, tmp_path, capsys) -> None:
    folder = tmp_path / "a_folder"
    folder.mkdir()
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    for out, says in ((folder, "is a folder"), (blocker / "x.csv", "is a file")):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--out", str(out)])
        assert exit_info.value.code == 2
        assert says in _one_error_line(capsys)
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize("command", FOLDER_WRITERS, ids=lambda c: " ".join(c[:2]))
def test_folder_outputs_never_replace_a_file(command, tmp_path, capsys) -> None:
    victim = tmp_path / "victim.csv"
    victim.write_text("customer,value\n1,2\n")
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--out", str(victim)])
    assert exit_info.value.code == 2
    assert "existing file" in _one_error_line(capsys)
    assert victim.read_text() == "customer,value\n1,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["victim.csv"]


@pytest.mark.parametrize("command", FOLDER_WRITERS, ids=lambda c: " ".join(c[:2]))
def test_folder_outputs_never_replace_a_folder_of_someone_elses_files(command, tmp_path,
                                                                       capsys) -> None:
    """A folder writer replaces its output whole: ``--out ~`` must not empty a home folder.
    A folder holding files bayescope did not write is refused before any work."""
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "thesis.tex").write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--out", str(documents)])
    assert exit_info.value.code == 2
    assert "holds files bayescope did not write" in _one_error_line(capsys)
    assert [p.name for p in documents.iterdir()] == ["thesis.tex"]
    assert [p.name for p in tmp_path.iterdir()] == ["documents"]


@pytest.mark.parametrize(("arguments", "says"), [
    (["serve", "RUN", "--port", "70000"], "not a port"),
    (["serve", "RUN", "--port", "-1"], "at least 1"),
    (["serve", "RUN", "--threads", "0"], "at least 1"),
    (["serve", "RUN", "--host", "not a host"], "not a host this machine can resolve"),
    (["generate", "btyd", "--periods", "0", "--out", "x.csv"], "above 0"),
    (["generate", "btyd", "--r", "-1", "--out", "x.csv"], "above 0"),
    (["generate", "btyd", "--alpha", "nan", "--out", "x.csv"], "above 0"),
    (["generate", "btyd", "--q", "1", "--out", "x.csv"], "above 1"),
    (["generate", "spend", "--window-days", "-30", "--out", "x.csv"], "at least 1"),
    (["generate", "artists", "--start", "garbage", "--out", "t"], "not a date"),
    (["generate", "artists", "--start", "2020-01-08", "--out", "t"], "Wednesday"),
    # Checked where parsed, before the run is read (issue 18 saw empty columns written).
    (["predict", "RUN", "--horizon", "nan", "--out", "x.csv"], "finite number above 0"),
    (["predict", "RUN", "--horizon", "inf", "--out", "x.csv"], "finite number above 0"),
    (["predict", "RUN", "--top", "-3", "--out", "x.csv"], "at least 1"),
    (["predict", "RUN", "--discount-rate", "-0.1", "--out", "x.csv"], "at least 0"),
    (["simulate-alive", "RUN", "--at", "", "--out", "x.csv"], "at least one horizon"),
    (["simulate-alive", "RUN", "--customers", "0", "--out", "x.csv"], "at least 1"),
    (["fit", "btyd", "--transactions", "x.csv", "--draws", "0", "--out", "r"], "at least 1"),
    (["fit", "spend", "--data", "x.csv", "--holdout-share", "1", "--out", "r"], "up to 1"),
    (["fit", "propensity", "--data", "x.csv", "--seed", "-1", "--out", "r"], "at least 0"),
    (["fit", "tickets", "--tables", "t", "--origin", "2024-01-01", "--chains", "0",
      "--out", "r"], "at least 1"),
    (["backtest", "--tables", "t", "--origins", "0", "--out", "r"], "at least 1"),
    (["generate", "btyd", "--customers", "-5", "--out", "x.csv"], "at least 1"),
])
def test_option_values_are_checked_where_parsed(arguments, says, tmp_path, capsys,
                                                monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert says in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_origin_before_the_tables_exits_2(tmp_path, capsys) -> None:
    tables = tmp_path / "tables"
    assert main(["-q", "generate", "artists", "--artists", "4", "--dmas", "3", "--weeks", "40",
                 "--out", str(tables)]) == 0
    capsys.readouterr()
    assert main(["fit", "tickets", "--tables", str(tables), "--origin", "1990-01-01",
                 "--out", str(tmp_path / "run")]) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "not after the tables' first week" in said[0]
    assert not (tmp_path / "run").exists()


def test_a_busy_port_exits_2_before_claiming_to_serve(small_log_csv, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["-q", "fit", "btyd", "--transactions", small_log_csv, "--method", "map",
                 "--calibration-end", "2024-12-31", "--out", str(run)]) == 0
    capsys.readouterr()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["serve", str(run), "--port", str(busy.getsockname()[1])]) == 2
    said = capsys.readouterr()
    assert "serving" not in said.out + said.err and "error:" in said.err


@pytest.fixture(scope="module")
def btyd_runs(small_log_csv, tmp_path_factory):
    """Two MAP runs of one log (different seeds): one to tamper with, one to swap in."""
    folder = tmp_path_factory.mktemp("tampered")
    for name, seed in (("run", "0"), ("other", "1")):
        assert main(["-q", "fit", "btyd", "--transactions", small_log_csv, "--method", "map",
                     "--seed", seed, "--calibration-end", "2024-12-31",
                     "--out", str(folder / name)]) == 0
    assert main(["-q", "predict", str(folder / "run"), "--horizon", "30",
                 "--out", str(folder / "expected.csv")]) == 0
    return folder


def _flip_verdict(handle) -> None:
    import numpy as np

    handle.attrs.modify("converged", 1 - int(np.asarray(handle.attrs["converged"]).ravel()[0]))


def _scale_draws(factor: float, where: slice | int = slice(None)):
    def edit(handle) -> None:
        values = handle["posterior/r"][...]
        values.reshape(-1)[where] *= factor
        handle["posterior/r"][...] = values
    return edit


def _nan_draw(handle) -> None:
    values = handle["posterior/alpha"][...]
    values.flat[7] = float("nan")
    handle["posterior/alpha"][...] = values


def _set_attr(name: str, value: str):
    def edit(handle) -> None:
        del handle.attrs[name]  # a value of another type, as an editor would leave it
        handle.attrs[name] = value
    return edit


def _drop(name: str):
    def edit(handle) -> None:
        if name in handle.attrs:
            del handle.attrs[name]
        else:
            del handle[name]
    return edit


TAMPERING = {
    "verdict flipped": (_flip_verdict, "fingerprint"),
    "one draw nudged by 1e-9": (_scale_draws(1.0 + 1e-9, 3), "fingerprint"),
    "draws x3": (_scale_draws(3.0), "fingerprint"),
    "a NaN draw": (_nan_draw, "fingerprint"),
    "artifact_format 'x'": (_set_attr("artifact_format", "x"), "fingerprint"),
    "time_unit 'X'": (_set_attr("time_unit", "X"), "fingerprint"),
    "settings not JSON": (_set_attr("settings", "{not json"), "fingerprint"),
    "fingerprint removed": (_drop("content_fingerprint"), "no content fingerprint"),
    "verdict and fingerprint removed": (
        lambda h: (_flip_verdict(h), _drop("content_fingerprint")(h)), "no content fingerprint"),
    "posterior group removed": (_drop("posterior"), "a group"),
}


@pytest.mark.parametrize("name", TAMPERING)
def test_tampered_draws_or_attributes_are_refused_by_every_reader(btyd_runs, name, tmp_path,
                                                                   capsys) -> None:
    """Issue 18 found each of these used silently or answered with a traceback."""
    import shutil

    import h5py

    edit, says = TAMPERING[name]
    copy = tmp_path / "run"
    shutil.copytree(btyd_runs / "run", copy)
    with h5py.File(copy / "posterior.nc", "r+") as handle:
        edit(handle)
    for command in (["predict", str(copy), "--horizon", "30", "--out", str(tmp_path / "p.csv")],
                    ["report", str(copy)], ["serve", str(copy), "--port", "1"]):
        capsys.readouterr()
        assert main(command) == 2, command
        assert says in _one_error_line(capsys), command
    assert not (tmp_path / "p.csv").exists()


def test_another_runs_posterior_swapped_in_is_refused(btyd_runs, tmp_path, capsys) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(btyd_runs / "run", copy)
    shutil.copy(btyd_runs / "other" / "posterior.nc", copy / "posterior.nc")
    assert main(["predict", str(copy), "--horizon", "30", "--out", str(tmp_path / "p.csv")]) == 2
    assert "belongs to another run" in _one_error_line(capsys)


@pytest.mark.parametrize("seed", range(12))
def test_random_byte_flips_are_refused_or_change_nothing(btyd_runs, seed, tmp_path, capsys
                                                         ) -> None:
    """Eight bytes flipped anywhere in posterior.nc: exit 2 in one line, or (a flip in
    unused space) the very predictions of the intact run; never a traceback or other
    numbers."""
    import shutil

    import numpy as np

    copy = tmp_path / "run"
    shutil.copytree(btyd_runs / "run", copy)
    raw = bytearray((copy / "posterior.nc").read_bytes())
    rng = np.random.default_rng(seed)
    for offset in rng.choice(len(raw), 8, replace=False):
        raw[offset] ^= int(rng.integers(1, 256))
    (copy / "posterior.nc").write_bytes(bytes(raw))
    capsys.readouterr()
    code = main(["predict", str(copy), "--horizon", "30", "--out", str(tmp_path / "p.csv")])
    if code == 2:
        _one_error_line(capsys)
        assert not (tmp_path / "p.csv").exists()
    else:
        assert code == 0
        assert (tmp_path / "p.csv").read_bytes() == (btyd_runs / "expected.csv").read_bytes()


def test_a_second_writer_of_the_same_output_exits_2(tmp_path, capsys) -> None:
    from bayescope.files import output_lock

    out = tmp_path / "log.csv"
    with output_lock(out):
        assert main(["generate", "btyd", "--customers", "10", "--out", str(out)]) == 2
    assert "another bayescope process is writing it" in capsys.readouterr().err
    assert not out.exists()
    assert main(["-q", "generate", "btyd", "--customers", "10", "--out", str(out)]) == 0
    assert out.is_file() and not (tmp_path / ".log.csv.lock").exists()


def test_files_of_two_runs_are_not_mixed(small_log_csv, tmp_path) -> None:
    import shutil

    import bayescope as bs

    runs = []
    for name in ("a", "b"):
        run = tmp_path / name
        assert main(["-q", "fit", "btyd", "--transactions", small_log_csv, "--method", "map",
                     "--calibration-end", "2024-12-31", "--out", str(run)]) == 0
        runs.append(run)
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert len(summary["run_id"]) == 32
    shutil.copy(runs[1] / "metrics.json", runs[0] / "metrics.json")
    with pytest.raises(bs.ArtifactError, match=r"metrics\.json belongs to another run"):
        bs.load(runs[0])


def test_a_refit_killed_at_any_moment_leaves_one_whole_run(small_log_csv, tmp_path) -> None:
    """kill -9 at spread moments of a refit into an existing run: afterwards the run
    directory is the old run or the new one, whole (``bayescope.load`` refuses files of two
    runs or a missing one), nothing else is left beside it but the lock and the killed
    writers' temporary folders, and the next fit writes it and clears those."""
    import signal
    import subprocess
    import sys
    import time

    import bayescope as bs

    run = tmp_path / "run"
    arguments = ["-q", "fit", "btyd", "--transactions", small_log_csv, "--method", "map",
                 "--calibration-end", "2024-12-31", "--out", str(run)]
    assert main(arguments) == 0
    command = [sys.executable, "-c", "import sys; from bayescope.cli import main; "
               "sys.exit(main(sys.argv[1:]))", *arguments]
    killed = 0
    for delay in (2.0, 5.0, 8.0, 11.0):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        killed += process.wait() == -signal.SIGKILL
        bs.load(run)
        run_ids = {json.loads((run / name).read_text())["run_id"]
                   for name in ("summary.json", "metrics.json")}
        assert len(run_ids) == 1, (delay, run_ids)
        leftovers = {p.name for p in tmp_path.iterdir()} - {"run", ".run.lock"}
        assert all(name.startswith(".run.") for name in leftovers), leftovers
    assert killed >= 2
    assert main(arguments) == 0  # and clears what the killed writers left
    bs.load(run)
    assert {p.name for p in tmp_path.iterdir()} == {"run"}


def test_the_lock_clears_only_bayescope_temporaries_and_puts_a_set_aside_run_back(tmp_path
                                                                                  ) -> None:
    """A killed writer's temporaries go; a user's dot-files beside the target and another
    target's lock and temporaries stay; a run a killed writer had set aside (no atomic
    exchange on that system) comes back when the target is missing."""
    from bayescope.files import output_lock, set_aside, work_prefix

    target = tmp_path / "run"
    set_aside(target).mkdir()
    (set_aside(target) / "summary.json").write_text("{}")
    dead = tmp_path / f"{work_prefix(target)}abc123"
    dead.mkdir()
    keep = [tmp_path / ".run.swp", tmp_path / ".run.v2.lock",
            tmp_path / f"{work_prefix(tmp_path / 'run.v2')}xyz"]
    for path in keep:
        path.write_text("mine")
    with output_lock(target):
        assert (target / "summary.json").is_file()
        assert not dead.exists() and not set_aside(target).exists()
    assert all(path.read_text() == "mine" for path in keep)


# Every command that reads a user's data, with the option naming it (``DATA``: the path
# under test); the output goes to ``OUT``.
DATA_READERS = [
    ["fit", "btyd", "--transactions", "DATA", "--out", "OUT"],
    ["fit", "spend", "--data", "DATA", "--out", "OUT"],
    ["fit", "propensity", "--data", "DATA", "--out", "OUT"],
    ["fit", "tickets", "--tables", "DATA", "--origin", "2024-01-01", "--out", "OUT"],
    ["fit", "streams", "--tables", "DATA", "--origin", "2024-01-01", "--out", "OUT"],
    ["backtest", "--tables", "DATA", "--out", "OUT"],
    ["cohorts", "--tables", "DATA", "--as-of", "2024-01-01", "--out", "OUT"],
]
# Every command that reads a run directory (``RUN``).
RUN_READERS = [
    ["predict", "RUN", "--out", "OUT"],
    ["simulate-alive", "RUN", "--out", "OUT"],
    ["score", "RUN", "--data", "RUN/x.csv", "--out", "OUT"],
    ["rank-dmas", "RUN", "--artist", "A0001", "--out", "OUT"],
    ["report", "RUN", "--out", "OUT"],
    ["compare", "RUN", "RUN", "--out", "OUT"],
    ["export-mlflow", "RUN", "OUT"],
    ["serve", "RUN", "--port", "1"],
]


def _run(command: list[str], replace: dict[str, str], capsys) -> tuple[int, str]:
    arguments = [replace.get(a, a) for a in command]
    arguments = [a.replace("RUN/", replace.get("RUN", "RUN") + "/") for a in arguments]
    try:
        code = main(arguments)
    except SystemExit as exit_info:
        code = exit_info.code
    return code, _one_error_line(capsys)


def _bad_inputs(tmp_path) -> dict[str, object]:
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\xff\xfe not,a\n\x89PNG table \x00\x01\n")
    empty_folder = tmp_path / "empty_folder"
    empty_folder.mkdir()
    wrong_columns = tmp_path / "wrong_columns.csv"
    wrong_columns.write_text("a,b\n1,2\n3,4\n")
    return {"missing": tmp_path / "nothing_here.csv", "garbage": garbage,
            "empty folder": empty_folder, "wrong columns": wrong_columns}


@pytest.mark.parametrize("command", DATA_READERS, ids=lambda c: " ".join(c[:2]))
def test_every_data_reader_refuses_a_bad_path_in_one_line(command, tmp_path, capsys) -> None:
    for case, path in _bad_inputs(tmp_path).items():
        out = tmp_path / f"out_{case.replace(' ', '_')}"
        code, line = _run(command, {"DATA": str(path), "OUT": str(out)}, capsys)
        assert code == 2, (case, line)
        assert not out.exists(), case


def _bad_runs(tmp_path) -> dict[str, object]:
    not_there = tmp_path / "no_run"
    empty = tmp_path / "empty_run"
    empty.mkdir()
    tampered = tmp_path / "tampered_run"
    tampered.mkdir()
    (tampered / "posterior.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    (tampered / "summary.json").write_text(json.dumps({"kind": "btyd"}))
    for folder in (empty, tampered):
        (folder / "x.csv").write_text("customer_id\nc1\n")
    return {"missing": not_there, "not a run": empty, "tampered": tampered}


@pytest.mark.parametrize("command", RUN_READERS, ids=lambda c: " ".join(c[:1]))
def test_every_run_reader_refuses_a_missing_or_tampered_run_in_one_line(command, tmp_path,
                                                                         capsys) -> None:
    for case, run in _bad_runs(tmp_path).items():
        out = tmp_path / f"out_{case.replace(' ', '_')}"
        code, line = _run(command, {"RUN": str(run), "OUT": str(out)}, capsys)
        assert code == 2, (case, line)
        assert not out.exists(), case


def test_a_refit_without_a_holdout_keeps_nothing_of_the_earlier_fit(tmp_path) -> None:
    """Issue 18: a refit with --holdout-share 0 printed the earlier fit's held-out table."""
    data, run = tmp_path / "shop.csv", tmp_path / "run"
    assert main(["-q", "generate", "propensity", "--customers", "2000", "--out", str(data)]) == 0
    assert main(["-q", "fit", "propensity", "--data", str(data), "--out", str(run)]) == 0
    first = json.loads((run / "metrics.json").read_text())
    assert set(first) - {"run_id", "segments"}, "the first fit scored no held-out customers"
    assert main(["-q", "fit", "propensity", "--data", str(data), "--holdout-share", "0",
                 "--out", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert summary["n_holdout"] == 0 and set(metrics) == {"run_id", "segments"}
    assert metrics["run_id"] == summary["run_id"] != first["run_id"]
    assert sorted(p.name for p in run.iterdir()) == [OUTPUT_MARK, "metrics.json",
                                                     "posterior.nc", "summary.json"]
