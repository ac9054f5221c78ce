"""Benchmark: BG/NBD fits side by side in one process on the same data.

lifetimes' MLE (the anchor), pymc-marketing's ``BetaGeoModel`` NUTS and bayescope's NUTS
(nutpie, weighted unique triples), at CDNOW, 100K and 1M generated customers. Prints wall time
(ours from the RFM arrays: unique triples, model build, compile and 4 x 1000 draws after 1000
tuning steps), minimum bulk ESS per second and the ratios against lifetimes. "cold" pays the
numba compile (``bayescope_compile_s``); "warm" reuses a model compiled earlier in the process
for the same structure and swaps the data in, as a weekly batch fitting several segments
does. pymc-marketing's model uses its own defaults (1000 tuning steps). ``--rfm`` also times
the RFM summary against ``lifetimes.utils.calibration_and_holdout_data``.

``--file CASE`` times the whole command instead, from the transaction file to the saved
posterior, against lifetimes reading the same file (``read_csv``, ``to_datetime``,
``summary_data_from_transaction_data`` and the fit), each in a fresh interpreter so both pay
their imports, alternating ``--repeat`` times (medians and each run printed). ``daily`` is 1M
MBG/NBD customers acquired over a year and observed for two at daily resolution (~2.7M
transactions), ``weekly10m`` 10M customers over 78 weeks. Ours is ``bayescope fit btyd
--method psis``; ``--nuts`` adds our NUTS fit of the same file, the reference its posterior
means are measured against (in NUTS posterior sds).

Usage: ``python bench/btyd.py [--sizes cdnow,100000,1000000] [--skip-pymc-marketing-above N]``
or ``python bench/btyd.py --file daily [--nuts] [--spend]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayescope.data import CDNOW_CALIBRATION_END, load_cdnow, rfm_summary, validate_transactions
from bayescope.data.generate_btyd import BTYDTruth, generate_btyd_transactions
from bayescope.inference.sampling import compile_nuts, fit_model
from bayescope.models import BTYDModel, purchase_model

warnings.filterwarnings("ignore")


def dataset(size: str) -> pd.DataFrame:
    if size == "cdnow":
        return load_cdnow()
    raw = generate_btyd_transactions(int(size), BTYDTruth(model="bgnbd"),
                                     np.random.default_rng(0)).transactions
    return validate_transactions(raw)[0]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_rfm(tx: pd.DataFrame, cal: str, repeat: int = 3) -> tuple[float, float]:
    """Best of ``repeat`` runs of each RFM summary (same data, alternating)."""
    from lifetimes.utils import calibration_and_holdout_data

    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(timed(lambda: rfm_summary(tx, "W", cal))[1])
        theirs.append(timed(lambda: calibration_and_holdout_data(
            tx, "customer_id", "timestamp", calibration_period_end=cal, freq="W",
            monetary_value_col="value"))[1])
    return min(ours), min(theirs)


FILE_CASES = {
    # customers, time unit, observation and acquisition periods, alpha in that unit
    "daily": (1_000_000, "D", 730.0, 365.0, 28.0),
    "weekly10m": (10_000_000, "W", 78.0, 12.0, 4.0),
}

LIFETIMES_SCRIPT = """
import sys, time
start = time.perf_counter()
import pandas as pd
from lifetimes import GammaGammaFitter, ModifiedBetaGeoFitter
from lifetimes.utils import summary_data_from_transaction_data
path, freq, spend = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
tx = pd.read_csv(path)
tx["Timestamp"] = pd.to_datetime(tx["Timestamp"])
summary = summary_data_from_transaction_data(
    tx, "CustomerID", "Timestamp", monetary_value_col="PurchaseValue" if spend else None,
    freq=freq)
fit = ModifiedBetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
if spend:
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
print(time.perf_counter() - start)
"""


def timed_command(command: list[str]) -> float:
    """Wall time of a command run to completion (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def bench_file(case: str, folder: Path, with_nuts: bool, with_spend: bool, repeat: int
               ) -> dict[str, object]:
    """Our CLI from the file to the posterior against lifetimes on the same file (medians of
    ``repeat`` alternating runs)."""
    customers, unit, periods, acquisition, alpha = FILE_CASES[case]
    path = folder / f"{case}.csv"
    if not path.exists():
        log = generate_btyd_transactions(customers, BTYDTruth(model="mbgnbd", alpha=alpha),
                                         np.random.default_rng(0), observation_periods=periods,
                                         acquisition_periods=acquisition, time_unit=unit)
        log.transactions.to_csv(path, index=False)
    row: dict[str, object] = {"case": case, "customers": customers, "time_unit": unit,
                              "spend": with_spend}
    cli = [sys.executable, "-m", "bayescope.cli", "-q", "fit", "btyd", "--transactions",
           str(path), "--model", "mbgnbd", "--time-unit", unit]
    if not with_spend:
        cli += ["--value-col", ""]
    theirs, ours = [], []
    for _ in range(repeat):  # alternating, so that a busy spell of the machine hits both
        theirs.append(timed_command([sys.executable, "-c", LIFETIMES_SCRIPT, str(path), unit,
                                     "1" if with_spend else "0"]))
        ours.append(timed_command([*cli, "--method", "psis", "--out",
                                   str(folder / f"{case}-psis")]))
    row["lifetimes_s"] = float(np.median(theirs))
    row["ours_psis_s"] = float(np.median(ours))
    row["runs"] = f"lifetimes {', '.join(f'{t:.1f}' for t in theirs)}; ours " + ", ".join(
        f"{t:.1f}" for t in ours)
    summary = json.loads((folder / f"{case}-psis" / "summary.json").read_text())
    importance = summary["diagnostics"].get("importance") or {}
    row["gate"] = summary["converged"]
    row["method_used"] = summary["diagnostics"]["method"]
    row["pareto_k"] = importance.get("pareto_k")
    row["importance_ess"] = importance.get("ess")
    row["ratio_vs_lifetimes"] = row["ours_psis_s"] / row["lifetimes_s"]
    if with_nuts:
        row["ours_nuts_s"] = timed_command([*cli, "--method", "nuts", "--out",
                                            str(folder / f"{case}-nuts")])
        reference = json.loads((folder / f"{case}-nuts" / "summary.json").read_text())
        row["max_mean_shift_in_nuts_sd"] = max(
            abs(summary["parameters"][k]["mean"] - v["mean"]) / v["sd"]
            for k, v in reference["parameters"].items())
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", choices=sorted(FILE_CASES),
                        help="time the CLI from a transaction file against lifetimes")
    parser.add_argument("--nuts", action="store_true", help="with --file: also our NUTS fit")
    parser.add_argument("--spend", action="store_true",
                        help="with --file: Gamma-Gamma as well, on both sides")
    parser.add_argument("--folder", help="with --file: where the generated file is kept")
    parser.add_argument("--repeat", type=int, default=3,
                        help="with --file: alternating runs of each side (medians printed)")
    parser.add_argument("--sizes", default="cdnow,100000,1000000")
    parser.add_argument("--skip-pymc-marketing-above", type=int, default=100_000)
    parser.add_argument("--rfm", action="store_true", help="also time the RFM summaries")
    parser.add_argument("--rfm-only", action="store_true", help="time only the RFM summaries")
    args = parser.parse_args()
    if args.file:
        folder = Path(args.folder or tempfile.mkdtemp(prefix="bayescope-bench-"))
        folder.mkdir(parents=True, exist_ok=True)
        row = bench_file(args.file, folder, args.nuts, args.spend, args.repeat)
        print(pd.DataFrame([row]).T.to_string(header=False), flush=True)
        return
    rows = []
    primer = BTYDModel(purchase_model("bgnbd"))
    compile_nuts(primer.build(rfm_summary(load_cdnow(), "W")), primer.cache_key)
    for size in args.sizes.split(","):
        tx = dataset(size)
        if args.rfm_only:
            ours, theirs = bench_rfm(tx, CDNOW_CALIBRATION_END if size == "cdnow"
                                     else "2024-12-31")
            print(f"{size}: RFM summary ours {ours:.3f} s, lifetimes {theirs:.3f} s, "
                  f"speed-up {theirs / ours:.1f}x (best of 3)", flush=True)
            continue
        rfm = rfm_summary(tx, "W")
        n = rfm.n_customers
        row: dict[str, object] = {"data": size, "customers": n,
                                  "unique_triples": len(np.unique(
                                      np.column_stack([rfm.frequency, rfm.recency, rfm.T]),
                                      axis=0))}
        from lifetimes import BetaGeoFitter

        _, row["lifetimes_mle_s"] = timed(
            lambda: BetaGeoFitter().fit(rfm.frequency, rfm.recency, rfm.T))
        spec = BTYDModel(purchase_model("bgnbd"))
        result, seconds = timed(lambda: fit_model(spec.build(rfm), spec.parameter_names,
                                                  draws=1000, chains=4, seed=0,
                                                  progress=False))
        row["bayescope_cold_s"] = seconds
        row["bayescope_compile_s"] = result.compile_seconds
        warm, warm_seconds = timed(lambda: fit_model(spec.build(rfm), spec.parameter_names,
                                                     draws=1000, chains=4, seed=0,
                                                     progress=False, cache_key=spec.cache_key))
        row["bayescope_warm_s"] = warm_seconds
        row["bayescope_min_ess_per_s"] = warm.gate.min_ess_bulk / warm_seconds
        row["bayescope_gate"] = result.gate.passed and warm.gate.passed
        if n <= args.skip_pymc_marketing_above:
            from pymc_marketing.clv import BetaGeoModel

            data = pd.DataFrame({"customer_id": np.arange(n), "frequency": rfm.frequency,
                                 "recency": rfm.recency, "T": rfm.T})

            def pmm() -> object:
                model = BetaGeoModel()
                return model.fit(data, method="mcmc", draws=1000, chains=4, random_seed=0,
                                 progressbar=False, nuts_sampler="nutpie")

            idata, row["pymc_marketing_nuts_s"] = timed(pmm)
            from arviz_stats import ess

            posterior = idata["posterior"]
            min_ess = min(float(ess(np.asarray(posterior[k]), chain_axis=0, draw_axis=1))
                          for k in ("r", "alpha", "a", "b"))
            row["pymc_marketing_min_ess_per_s"] = min_ess / row["pymc_marketing_nuts_s"]
        if args.rfm:
            ours, theirs = bench_rfm(tx, CDNOW_CALIBRATION_END if size == "cdnow"
                                     else "2024-12-31")
            row["rfm_ours_s"], row["rfm_lifetimes_s"] = ours, theirs
            row["rfm_speedup"] = theirs / ours
        row["cold_vs_lifetimes"] = row["bayescope_cold_s"] / row["lifetimes_mle_s"]
        row["warm_vs_lifetimes"] = row["bayescope_warm_s"] / row["lifetimes_mle_s"]
        if "pymc_marketing_nuts_s" in row:
            row["pymc_marketing_vs_ours_cold"] = (row["pymc_marketing_nuts_s"]
                                                  / row["bayescope_cold_s"])
        rows.append(row)
        print(pd.DataFrame([row]).T.to_string(header=False), flush=True)
    if rows:
        print("\n" + pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
