"""Benchmark: batch scoring 240K and 1.2M customers from a file, in one process.

Anchor: the brief's route, the whole file in memory and 1,000 posterior draws in plain NumPy
(``read_table`` + validation + design + :func:`score_draws`). Ours: ``bayescope score``'s
streaming path (:func:`score_file`: 100K-row chunks, exact Gaussian summaries, Parquet out).
Prints wall time and the peak resident memory above the starting level of each (sampled from
``/proc/self/status`` every 20 ms, so pyarrow's and NumPy's allocations both count), and
ours relative to the anchor. Each measurement runs in a fresh spawned worker, one after the
other on the same files and run, because memory a finished route freed stays resident and
would hide the next route's peak.

Usage: ``python bench/propensity_scoring.py [--customers 1200000] [--fit-rows 240000]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.generate_propensity import generate_propensity_table
from bayescope.data.propensity_table import TARGET, validate_propensity_columns
from bayescope.data.table_chunks import read_table
from bayescope.families.propensity import PropensityFitSettings, fit_propensity, load_propensity_run
from bayescope.families.propensity_batch import score_file
from bayescope.inference.propensity_scoring import score_draws


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measured(task: Callable[[], Any]) -> tuple[float, float]:
    """Wall seconds and peak RSS above the level at the start (MiB)."""
    base, peak, done = rss_mib(), [0.0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.perf_counter()
    task()
    seconds = time.perf_counter() - start
    done.set()
    watcher.join()
    return seconds, max(peak[0], rss_mib()) - base


def route(name: str, path: Path, run_dir: Path) -> tuple[float, float]:
    """Run one route in this (fresh) process: seconds and peak RSS above the start."""
    run = load_propensity_run(run_dir)
    if name == "anchor":
        draws = np.asarray(run.artifact.posterior["beta"]).reshape(-1, run.gaussian[0].size)

        def task() -> None:
            columns = validate_propensity_columns(read_table(path), require_target=False)
            x, _ = run.design.transform(columns)
            score_draws(x, draws[:1000])
    else:
        def task() -> None:
            score_file(run, path, run_dir.parent / "scores.parquet")
    return measured(task)


ROUTES = {"anchor": "in memory, 1,000 draws (NumPy)",
          "ours": "bayescope score (streamed, exact)"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_200_000)
    parser.add_argument("--fit-rows", type=int, default=240_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bayescope-bench-"))
    table = generate_propensity_table(args.fit_rows, np.random.default_rng(0)).table
    fit_propensity(validate_propensity_columns(table), PropensityFitSettings(0, 0.0),
                   folder / "run")
    del table
    big = generate_propensity_table(args.customers, np.random.default_rng(1)).table
    big = big.drop(columns=TARGET)
    sizes = sorted({min(240_000, args.customers), args.customers})
    paths = {}
    for size in sizes:
        paths[size] = folder / f"customers_{size}.parquet"
        big.iloc[:size].to_parquet(paths[size], index=False)
    del big
    rows = []
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                             max_tasks_per_child=1) as pool:
        for size in sizes:
            for name, label in ROUTES.items():
                seconds, peak = pool.submit(route, name, paths[size], folder / "run").result()
                rows.append({"customers": size, "route": label, "seconds": seconds,
                             "peak_rss_mib": peak})
    frame = pd.DataFrame(rows)
    print(frame.round(2).to_string(index=False))
    for size in sizes:
        anchor_row, ours_row = frame[frame["customers"] == size].to_dict("records")
        print(f"{size:,} customers: time x{ours_row['seconds'] / anchor_row['seconds']:.2f}, "
              f"peak memory x{ours_row['peak_rss_mib'] / anchor_row['peak_rss_mib']:.2f} "
              "(ours / anchor)")


if __name__ == "__main__":
    main()
