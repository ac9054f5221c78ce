"""Benchmark: a transaction log larger than one process's comfort, read and reduced on Dask.

1. Generates ``--transactions`` purchases of ``--customers`` customers over two years as a
   folder of monthly Parquet parts (``month=YYYY-MM/part-0.parquet``; a customer's purchases
   spread over many parts, as in a real export), vectorised and seeded.
2. RFM statistics and purchase history of the whole log (weekly, calibration end one year
   before the last purchase), each engine in its own process so that its peak memory is its
   own, started from this one and timed side by side:

   * the pandas engine (the folder read by ``pd.read_parquet`` + ``validate_transactions`` +
     ``summarise_transactions``), or its failure (out of memory, time limit);
   * the Dask engine on a ``LocalCluster`` of ``--workers`` processes
     (:func:`bayescope.data.rfm_dask.summarise_transactions_on_dask`), with the peak memory
     of the client and of each worker;
   * lifetimes' ``summary_data_from_transaction_data`` on the log read into pandas, under
     ``--lifetimes-timeout``.
3. BTYD predictions of every customer (MBG/NBD + Gamma-Gamma, a MAP fit of the summary):
   ``predict --engine dask`` (Parquet parts written by the workers) against the pandas
   engine (one frame, one file).

Prints wall time, peak memory, throughput per core and the ratios against the anchors.

Usage: ``python bench/scale.py [--transactions 100000000] [--customers 10000000]
[--workers 2] [--dir /tmp/bayescope-scale] [--skip pandas,lifetimes]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2023-01-01")
MONTHS = 24
CALIBRATION_END = "2023-12-31"


def generate(folder: Path, transactions: int, customers: int, seed: int = 0) -> None:
    """Monthly Parquet parts: customers acquired over the first year, each buying at a
    gamma-distributed rate, purchase values log-normal (the layout, not a BTYD truth)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.6, 1.0, customers)
    first_day = rng.integers(0, 365, customers)
    per_month = np.full(MONTHS, transactions // MONTHS)
    per_month[: transactions % MONTHS] += 1
    for month in range(MONTHS):
        start = START + pd.DateOffset(months=month)
        days = (start + pd.DateOffset(months=1) - start).days
        offset = (start - START).days
        active = np.flatnonzero(first_day <= offset + days - 1)
        weight = rate[active] / rate[active].sum()
        who = active[rng.choice(active.size, per_month[month], p=weight)]
        low = np.maximum(first_day[who] - offset, 0)
        day = low + (rng.random(who.size) * (days - low)).astype(np.int64)
        seconds = day * 86_400 + rng.integers(0, 86_400, who.size)
        part = folder / f"month={start:%Y-%m}"
        part.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({
            "CustomerID": who.astype(np.int64),
            "Timestamp": START + pd.to_timedelta(offset * 86_400 + seconds, unit="s"),
            "PurchaseValue": np.round(rng.lognormal(3.0, 0.8, who.size), 2),
        }).to_parquet(part / "part-0.parquet", index=False, row_group_size=1_000_000)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pandas(folder: str) -> dict:
    from bayescope.data.transaction_summary import summarise_transactions
    from bayescope.data.transactions import validate_transactions

    tidy, report = validate_transactions(pd.read_parquet(folder).drop(columns="month"))
    summary = summarise_transactions(tidy, report, "W", CALIBRATION_END)
    return {"customers": summary.rfm.n_customers, "peak_mb": peak_mb()}


def run_dask(folder: str, workers: int) -> dict:
    from distributed import Client, LocalCluster

    from bayescope.data.rfm_dask import summarise_transactions_on_dask

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, memory_limit="auto") as cluster, \
            Client(cluster) as client:
        summary = summarise_transactions_on_dask(folder, None, "W", CALIBRATION_END)
        worker_peaks = client.run(peak_mb)
        frame = summary.rfm.to_frame()
        frame.to_parquet(Path(folder).parent / "rfm.parquet")
    return {"customers": summary.rfm.n_customers, "peak_mb": peak_mb(),
            "worker_peak_mb": sorted(worker_peaks.values())}


def run_lifetimes(folder: str) -> dict:
    from lifetimes.utils import summary_data_from_transaction_data

    log = pd.read_parquet(folder, columns=["CustomerID", "Timestamp", "PurchaseValue"])
    summary = summary_data_from_transaction_data(
        log, "CustomerID", "Timestamp", monetary_value_col="PurchaseValue", freq="W",
        observation_period_end=CALIBRATION_END)
    return {"customers": len(summary), "peak_mb": peak_mb()}


def run_predict(folder: str, engine: str, workers: int) -> dict:
    from bayescope.cli import main

    run = Path(folder).parent / "run"
    out = Path(folder).parent / ("pred_parts" if engine == "dask" else "pred.parquet")
    args = ["-q", "predict", str(run), "--horizon", "365", "--out", str(out)]
    if engine == "dask":
        from distributed import LocalCluster

        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            code = main([*args, "--engine", "dask", "--scheduler", cluster.scheduler_address])
    else:
        code = main(args)
    if code:
        raise SystemExit(code)
    return {"peak_mb": peak_mb()}


def fit_run(folder: Path) -> float:
    """A MAP fit of the RFM summary the Dask engine wrote (the prediction benchmark's run)."""
    from bayescope.data.purchase_history import PurchaseHistory
    from bayescope.data.rfm import RFMSummary
    from bayescope.data.transaction_summary import TransactionSummary
    from bayescope.data.transactions import LoadReport
    from bayescope.families.btyd import BTYDFitSettings, fit_btyd

    frame = pd.read_parquet(folder.parent / "rfm.parquet")
    n = len(frame)
    rfm = RFMSummary(frame.index.to_numpy().astype(str), frame["frequency_cal"].to_numpy(),
                     frame["recency_cal"].to_numpy(), frame["T_cal"].to_numpy(),
                     frame["monetary_value_cal"].to_numpy(), "W",
                     pd.Timestamp(CALIBRATION_END), pd.Timestamp(CALIBRATION_END))
    history = PurchaseHistory(np.full(n, np.nan), np.full(n, np.nan), np.zeros(1), 0, 1)
    start = time.perf_counter()
    run = folder.parent / "run"
    shutil.rmtree(run, ignore_errors=True)
    fit_btyd(TransactionSummary(rfm, history, LoadReport(n, 0)),
             BTYDFitSettings(method="map", progress=False), run)
    return time.perf_counter() - start


def child(case: str, folder: str, workers: int, timeout: float) -> dict:
    """Run one case in a fresh process; its wall time and result, or why it failed."""
    command = [sys.executable, __file__, "--child", case, "--dir", folder, "--workers",
               str(workers)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"failed": f"did not finish in {timeout:.0f} s"}
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        killed = done.returncode < 0 or "MemoryError" in done.stderr
        return {"failed": ("out of memory: " if killed else "") + tail[:160],
                "returncode": done.returncode}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=100_000_000)
    parser.add_argument("--customers", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", default="/tmp/bayescope-scale")
    parser.add_argument("--skip", default="", help="comma-separated: pandas,lifetimes,predict")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds before a case counts as not finishing")
    parser.add_argument("--reuse", action="store_true", help="keep an existing log")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    log_folder = Path(args.dir) / "log"
    if args.child:
        cases = {"pandas": lambda: run_pandas(str(log_folder)),
                 "dask": lambda: run_dask(str(log_folder), args.workers),
                 "lifetimes": lambda: run_lifetimes(str(log_folder)),
                 "predict_pandas": lambda: run_predict(str(log_folder), "pandas", args.workers),
                 "predict_dask": lambda: run_predict(str(log_folder), "dask", args.workers)}
        print(json.dumps(cases[args.child]()))
        return
    skip = set(filter(None, args.skip.split(",")))
    if not (args.reuse and log_folder.is_dir()):
        shutil.rmtree(log_folder, ignore_errors=True)
        start = time.perf_counter()
        generate(log_folder, args.transactions, args.customers)
        print(f"generated {args.transactions:,} transactions of up to {args.customers:,} "
              f"customers in {MONTHS} monthly parts ({time.perf_counter() - start:.0f} s, "
              f"{sum(p.stat().st_size for p in log_folder.rglob('*.parquet')) / 1e9:.2f} GB)")
    cores = os.cpu_count() or 1
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"machine: {cores} cores, {memory:.0f} GiB; Dask: {args.workers} worker processes "
          "x 1 thread")
    results = {"dask": child("dask", args.dir, args.workers, args.timeout)}
    for case in ("pandas", "lifetimes"):
        results[case] = ({"failed": "skipped"} if case in skip
                         else child(case, args.dir, args.workers, args.timeout))
    print("\nRFM statistics of the whole log (weekly, calibration and holdout):")
    print("| engine | wall s | client peak GB | worker peak GB | customers | "
          "transactions/s/core | vs Dask |")
    print("|---|---|---|---|---|---|---|")
    dask_wall = results["dask"].get("wall_s")
    for case in ("dask", "pandas", "lifetimes"):
        r = results[case]
        if "failed" in r:
            print(f"| {case} | {r['failed']} | | | | | |")
            continue
        used = args.workers if case == "dask" else 1
        workers = ", ".join(f"{m / 1024:.1f}" for m in r.get("worker_peak_mb", [])) or "-"
        ratio = f"{r['wall_s'] / dask_wall:.2f}x" if dask_wall else "-"
        print(f"| {case} | {r['wall_s']:.0f} | {r['peak_mb'] / 1024:.1f} | {workers} | "
              f"{r['customers']:,} | {args.transactions / r['wall_s'] / used:,.0f} | {ratio} |")
    if "predict" in skip or "failed" in results["dask"]:
        return
    fit_s = fit_run(log_folder)
    customers = results["dask"]["customers"]
    print(f"\nMAP fit of {customers:,} customers' summary: {fit_s:.0f} s")
    predictions = {engine: child(f"predict_{engine}", args.dir, args.workers, args.timeout)
                   for engine in ("dask", "pandas")}
    print("\nBTYD predictions of every customer (365 days, 500 draws):")
    print("| engine | wall s | client peak GB | customers/s/core | vs pandas |")
    print("|---|---|---|---|---|")
    anchor = predictions["pandas"].get("wall_s")
    for engine, r in predictions.items():
        if "failed" in r:
            print(f"| {engine} | {r['failed']} | | | |")
            continue
        used = args.workers if engine == "dask" else 1
        ratio = f"{r['wall_s'] / anchor:.2f}x" if anchor else "-"
        print(f"| {engine} | {r['wall_s']:.0f} | {r['peak_mb'] / 1024:.1f} | "
              f"{customers / r['wall_s'] / used:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
