"""Command-line entry point ``bayescope``: thin wrappers over :mod:`bayescope.families.btyd`.

Exit codes: 0 success, 2 bad input (one message naming the field and rows), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from rich.logging import RichHandler

from bayescope.cli_checks import (
    Parser,
    above,
    horizon_list,
    host,
    non_negative_float,
    non_negative_int,
    output_file,
    output_folder,
    output_path,
    port,
    positive_float,
    positive_int,
    share,
)
from bayescope.console import console, progress_bar
from bayescope.errors import BayescopeInputError
from bayescope.files import output_lock, plot_path, truth_path
from bayescope.version import __version__

log = logging.getLogger("bayescope")


def _fit_btyd(args: argparse.Namespace) -> None:
    from bayescope.families import BTYD

    model = BTYD(model=args.model, time_unit=args.time_unit, method=args.method,
                 draws=args.draws, chains=args.chains, seed=args.seed,
                 customer_col=args.customer_col, time_col=args.time_col,
                 value_col=args.value_col or None, progress=console.is_terminal)
    model.fit(args.transactions, calibration_end=args.calibration_end, engine=args.engine,
              scheduler=args.scheduler).save(args.out)
    _print_summary(model.summary_)
    console.print(f"wrote {Path(args.out) / 'posterior.nc'} and summary.json "
                  f"in {model.summary_['fit_seconds']:.1f} s")


def _print_summary(summary: dict) -> None:
    verdict = "[green]passed[/]" if summary["converged"] else "[bold red]FAILED[/]"
    console.print(f"{summary['model']}: {summary['n_customers']} customers, gate {verdict}")
    for name, s in summary["parameters"].items():
        console.print(f"  {name:>6} {s['mean']:10.4f}  sd {s['sd']:.4f}  "
                      f"94% HDI [{s['hdi_low']:.4f}, {s['hdi_high']:.4f}]")


def _fit_spend(args: argparse.Namespace) -> None:
    import pandas as pd

    from bayescope.families import Spend

    model = Spend(draws=args.draws, chains=args.chains, seed=args.seed,
                  holdout_share=args.holdout_share, progress=console.is_terminal)
    model.fit(args.data).save(args.out)
    summary = model.summary_
    verdict = "[green]passed[/]" if summary["converged"] else "[bold red]FAILED[/]"
    console.print(f"{summary['model']}: {summary['n_train']} customers fitted, "
                  f"{summary['n_holdout']} held out, gate {verdict}")
    if model.metrics_ is not None:
        comparison = pd.DataFrame(model.metrics_["comparison"]).T
        console.print(comparison[["crps", "interval_score_90", "rmse", "mae",
                                  "top_decile_capture"]].round(3).to_string(), soft_wrap=True,
                      highlight=False)
    console.print(f"wrote {Path(args.out) / 'posterior.nc'} and summary.json "
                  f"in {summary['fit_seconds']:.1f} s")


def _fit_propensity(args: argparse.Namespace) -> None:
    import pandas as pd

    from bayescope.families import Propensity

    model = Propensity(seed=args.seed, holdout_share=args.holdout_share)
    model.fit(args.data, previous=args.previous).save(args.out)
    summary = model.summary_
    console.print(f"propensity: {summary['n_train']} customers fitted, "
                  f"{summary['n_holdout']} held out; {summary['segments']} segments: "
                  + "; ".join(summary["segment_names"]))
    if model.metrics_ is not None and "comparison" in model.metrics_:
        comparison = pd.DataFrame(model.metrics_["comparison"]).T
        console.print(comparison[["roc_auc", "pr_auc", "brier", "ece"]].astype(float)
                      .round(4).to_string(), soft_wrap=True, highlight=False)
    if "drift" in summary:
        drift = summary["drift"]
        console.print(f"drift against {args.previous}: worst feature {drift['worst_feature']}; "
                      f"major shifts (PSI > 0.25): {', '.join(drift['features_major']) or 'none'}"
                      f"; propensity PSI {drift['propensity_psi']:.3f}, segment sizes PSI "
                      f"{drift['segments_psi']:.3f}")
    console.print(f"wrote {Path(args.out) / 'posterior.nc'}, summary.json and metrics.json")


def _score(args: argparse.Namespace) -> None:
    from bayescope.families import Propensity
    from bayescope.families.propensity_batch import score_file

    run = Propensity.from_run(args.run_dir).run_
    with progress_bar() as bar:
        task = bar.add_task("scoring customers", total=None)
        report = score_file(run, args.data, args.out, engine=args.engine, rows=args.chunk_rows,
                            scheduler=args.scheduler,
                            progress=lambda k: bar.update(task, advance=k))
    unseen = sum(report.unseen.values())
    console.print(f"wrote {report.rows} customers to {args.out} in {report.chunks} chunk(s)"
                  + (f" ({unseen} unseen category values: "
                     + ", ".join(f"{k} {v}" for k, v in report.unseen.items() if v) + ")"
                     if unseen else ""))


def _predict(args: argparse.Namespace) -> None:
    from bayescope.families import PredictOptions, load
    from bayescope.inference.dask_engine import check_engine

    check_engine(args.engine, args.scheduler)
    model = load(args.run_dir)
    options = PredictOptions(args.horizon, args.data, args.top, args.by, args.seed,
                             args.discount_rate, args.pmf, args.engine, args.scheduler)
    with progress_bar() as bar:
        task = bar.add_task("predicting", total=None)
        message = model.write_predictions(
            Path(args.out), options,
            progress=lambda k, n: bar.update(task, total=n, advance=k))
    console.print(message, highlight=False)


def _simulate_alive(args: argparse.Namespace) -> None:
    from bayescope.families import BTYD
    from bayescope.files import atomic_write_frame
    from bayescope.posterior_reports.btyd_plots import plot_alive

    model = BTYD.from_run(args.run_dir)
    table = model.simulate_alive(args.customers, args.at, args.runs, args.seed, args.existing)
    atomic_write_frame(table, Path(args.out))
    plot = plot_alive(table, args.customers, plot_path(Path(args.out)))
    console.print(table.to_string(index=False), soft_wrap=True, highlight=False)
    console.print(f"wrote {args.out} and {plot}")


def _generate_btyd(args: argparse.Namespace) -> None:
    import json

    import numpy as np

    from bayescope.data.generate_btyd import BTYDTruth, generate_btyd_transactions
    from bayescope.files import atomic_write_frame, atomic_write_text

    if args.customers < 1:
        raise BayescopeInputError("--customers must be positive", field="customers")
    truth = BTYDTruth(args.model, args.r, args.alpha, args.a, args.b, args.p, args.q, args.v)
    log_ = generate_btyd_transactions(args.customers, truth, np.random.default_rng(args.seed),
                                      observation_periods=args.periods,
                                      time_unit=args.time_unit)
    out = Path(args.out)
    atomic_write_frame(log_.transactions, out)
    truth_file = truth_path(out)
    atomic_write_text(truth_file, json.dumps({**truth.to_dict(), "seed": args.seed,
                                              "time_unit": args.time_unit}, indent=2))
    console.print(f"wrote {len(log_.transactions)} transactions of {args.customers} customers "
                  f"to {out} and the truth to {truth_file}")


def _report(args: argparse.Namespace) -> None:
    from bayescope.families import load

    model = load(args.run_dir)
    columns = {"customer": args.customer_col, "time": args.time_col,
               "value": args.value_col or None}
    with console.status("building the report (simulations, scores, plots)"):
        page = model.report(args.holdout, seed=args.seed, columns=columns)
    console.print(f"wrote {page} (open it in a browser), metrics.json and the PNGs beside it")


def _export_mlflow(args: argparse.Namespace) -> None:
    from bayescope.families.mlflow_model import save_mlflow

    with console.status("writing the MLflow model"):
        out = save_mlflow(args.run_dir, args.out)
    console.print(f"wrote the MLflow model {out}: mlflow.pyfunc.load_model('{out}')"
                  ".predict(frame) gives the run's predictions, one row per instance")


def _compare(args: argparse.Namespace) -> None:
    from bayescope.families.btyd import compare_btyd_runs

    columns = {"customer": args.customer_col, "time": args.time_col,
               "value": args.value_col or None}
    with console.status("scoring both runs on the holdout"):
        page = compare_btyd_runs(args.run_a, args.run_b, args.out, args.holdout, args.seed,
                                 columns)
    verdict = json.loads((page.parent / "metrics.json").read_text())["verdict"]
    console.print(verdict, highlight=False)
    console.print(f"wrote {page} (open it in a browser), metrics.json and the PNGs beside it")


def _generate_spend(args: argparse.Namespace) -> None:
    import json

    import numpy as np

    from bayescope.data.campaign_spend import TARGET
    from bayescope.data.generate_spend import generate_spend_table
    from bayescope.files import atomic_write_frame, atomic_write_text

    out = Path(args.out)
    if args.source == "cdnow":
        from bayescope.data.cdnow_spend import cdnow_spend_table

        real = cdnow_spend_table(args.cutoff, args.window_days)
        atomic_write_frame(real.assign(campaign_send_date=real["campaign_send_date"]
                                       .dt.strftime("%Y-%m-%d")), out)
        console.print(f"wrote the CDNOW {args.window_days}-day spend task after {args.cutoff} "
                      f"({len(real)} customers, {(real[TARGET] > 0).mean():.1%} spending) "
                      f"to {out}")
        return
    if args.customers < 1:
        raise BayescopeInputError("--customers must be positive", field="customers")
    generated = generate_spend_table(args.customers, np.random.default_rng(args.seed))
    table = generated.table.assign(
        campaign_send_date=generated.table["campaign_send_date"].dt.strftime("%Y-%m-%d"))
    atomic_write_frame(table, out)
    truth_file = truth_path(out)
    atomic_write_text(truth_file, json.dumps({**generated.truth.to_dict(), "seed": args.seed},
                                             indent=2))
    console.print(f"wrote {len(table)} customers to {out} and the truth to {truth_file}")


SERVER_LIMITS = {"connection_limit": 1000, "channel_timeout": 30, "cleanup_interval": 10,
                 "channel_request_lookahead": 5}
"""waitress settings: its defaults (100 connections, 120 s before an idle one is dropped)
let about 100 idle local clients lock everyone out; the request body limit is the app's
(set below), so a larger body is refused before it is buffered, not after 1 GiB; the
lookahead keeps reading a connection while its request waits, so the app can tell that the
client hung up and skip the work (``waitress.client_disconnected``)."""


def _serve(args: argparse.Namespace) -> None:
    from waitress.server import create_server

    from bayescope.api import create_app

    app = create_app(args.run_dirs, max_instances=args.max_instances, max_draws=args.max_draws,
                     allowed_hosts=[*args.allowed_host,
                                    *([args.host] if args.host not in ("0.0.0.0", "::")
                                      else [])])
    # Bind first: a busy port or an address this machine does not have is an error before
    # anything claims to be serving.
    server = create_server(app, host=args.host, port=args.port, threads=args.threads,
                           max_request_body_size=app.config["MAX_CONTENT_LENGTH"],
                           **SERVER_LIMITS)
    console.print(f"serving {len(args.run_dirs)} model(s) on http://{args.host}:{args.port} "
                  "(GET /v1/models, POST /v1/models/<name>:predict, /openapi.json)")
    server.run()


def _generate_propensity(args: argparse.Namespace) -> None:
    import json

    import numpy as np

    from bayescope.data.generate_propensity import generate_propensity_table
    from bayescope.files import atomic_write_frame, atomic_write_text

    if args.customers < 1:
        raise BayescopeInputError("--customers must be positive", field="customers")
    from bayescope.data.generate_propensity import PropensityTruth

    truth = PropensityTruth()
    if args.type_shares is not None:
        try:
            truth.type_shares = tuple(float(v) for v in args.type_shares.split(","))
        except ValueError as exc:
            raise BayescopeInputError(f"--type-shares must be numbers: {exc}",
                                      field="type_shares") from exc
    try:
        generated = generate_propensity_table(args.customers, np.random.default_rng(args.seed),
                                              truth)
    except ValueError as exc:
        raise BayescopeInputError(str(exc), field="type_shares") from exc
    out = Path(args.out)
    atomic_write_frame(generated.table, out)
    truth_file = truth_path(out)
    atomic_write_text(truth_file, json.dumps({**generated.truth.to_dict(), "seed": args.seed},
                                             indent=2))
    console.print(f"wrote {len(generated.table)} customers "
                  f"({generated.table['purchased_next_30d'].mean():.1%} positive) to {out} "
                  f"and the truth to {truth_file}")


def _demo(args: argparse.Namespace) -> None:
    from bayescope.demo import run_demo

    run_demo(Path(args.out))


def add_engine_options(parser: argparse.ArgumentParser, work: str) -> None:
    """``--engine pandas|dask`` and ``--scheduler ADDRESS``, the same on every data-heavy
    command (:mod:`bayescope.inference.dask_engine`)."""
    parser.add_argument("--engine", choices=("pandas", "dask"), default="pandas",
                        help=f"where to {work}: pandas in this process, or dask on a cluster "
                             "(the 'scale' extra)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="a running dask.distributed scheduler, e.g. tcp://127.0.0.1:8786; "
                             "without it --engine dask starts a local cluster of processes")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its help text is the CLI reference)."""
    parser = Parser(prog="bayescope", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"bayescope {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="fit a model and write a run directory")
    fit_sub = fit.add_subparsers(dest="family", required=True)
    btyd = fit_sub.add_parser("btyd", help="BG/NBD or MBG/NBD (+ Gamma-Gamma) on transactions")
    btyd.add_argument("--transactions", required=True,
                      help="CSV or Parquet transaction log; with --engine dask also a glob or a "
                           "folder of parts")
    btyd.add_argument("--customer-col", default="CustomerID")
    btyd.add_argument("--time-col", default="Timestamp")
    btyd.add_argument("--value-col", default="PurchaseValue",
                      help="purchase value column; '' fits the purchase model alone")
    btyd.add_argument("--model", choices=["mbgnbd", "bgnbd"], default="mbgnbd")
    btyd.add_argument("--time-unit", choices=["D", "W"], default="W")
    btyd.add_argument("--calibration-end", default=None,
                      help="last calibration date (inclusive); later purchases form the holdout")
    btyd.add_argument("--method", choices=["nuts", "map", "psis"], default="nuts",
                      help="nuts: NUTS, --chains x --draws; psis: the Laplace approximation "
                      "corrected by Pareto-smoothed importance sampling, --draws in all "
                      "(seconds at a million customers; NUTS when Pareto k says it cannot "
                      "be trusted); map: the Laplace approximation alone")
    btyd.add_argument("--draws", type=positive_int, default=1000)
    btyd.add_argument("--chains", type=positive_int, default=4)
    btyd.add_argument("--seed", type=non_negative_int, default=0)
    btyd.add_argument("--out", type=output_folder, required=True, help="run directory to write")
    add_engine_options(btyd, "read and summarise the log")
    btyd.set_defaults(handler=_fit_btyd)

    spend = fit_sub.add_parser("spend", help="hurdle log-normal on a post-campaign spend table")
    spend.add_argument("--data", required=True, help="CSV or Parquet in the PostPilot schema")
    spend.add_argument("--draws", type=positive_int, default=1000)
    spend.add_argument("--chains", type=positive_int, default=4)
    spend.add_argument("--seed", type=non_negative_int, default=0)
    spend.add_argument("--holdout-share", type=share, default=0.2,
                       help="share of customers held out for the comparison (0 fits all)")
    spend.add_argument("--out", type=output_folder, required=True, help="run directory to write")
    spend.set_defaults(handler=_fit_spend)

    prop = fit_sub.add_parser("propensity", help="Bayesian logistic propensity + segments")
    prop.add_argument("--data", required=True, help="CSV or Parquet in the ShopSphere schema")
    prop.add_argument("--seed", type=non_negative_int, default=0)
    prop.add_argument("--holdout-share", type=share, default=0.2)
    prop.add_argument("--previous", default=None, metavar="RUN_DIR",
                      help="last month's propensity run: check this table for drift against it")
    prop.add_argument("--out", type=output_folder, required=True, help="run directory to write")
    prop.set_defaults(handler=_fit_propensity)

    score = sub.add_parser("score", help="batch-score customers with a propensity run")
    score.add_argument("run_dir")
    score.add_argument("--data", required=True,
                       help="CSV or Parquet (target not needed); with --engine dask also a "
                            "glob or a Parquet folder")
    score.add_argument("--chunk-rows", type=positive_int, default=100_000,
                       help="rows per chunk: memory is one chunk, whatever the file size")
    score.add_argument("--out", type=output_path, required=True,
                       help="Parquet (or CSV) to write; with --engine dask a folder of Parquet "
                            "parts")
    add_engine_options(score, "read and score the customers")
    score.set_defaults(out_by_engine=True)
    score.set_defaults(handler=_score)

    predict = sub.add_parser("predict", help="per-customer predictions from a run")
    predict.add_argument("run_dir")
    predict.add_argument("--horizon", type=positive_float, default=None,
                         help="horizon in days (repeat-purchase runs)")
    predict.add_argument("--data", default=None,
                         help="customers to score (spend runs): CSV or Parquet")
    predict.add_argument("--top", type=positive_int, default=None)
    predict.add_argument("--by", choices=["purchases", "spend"], default="purchases")
    predict.add_argument("--seed", type=non_negative_int, default=0)
    predict.add_argument("--discount-rate", type=non_negative_float, default=None,
                         help="annual rate; spend columns become discounted present values")
    predict.add_argument("--pmf", type=non_negative_int, default=None, metavar="N",
                         help="repeat-purchase runs: add pmf_0 .. pmf_N, P(n purchases in "
                         "the horizon), posterior mean")
    predict.add_argument("--out", type=output_path, required=True,
                         help="CSV (or .parquet) to write; with --engine dask a folder of "
                              "Parquet parts")
    add_engine_options(predict, "predict")
    predict.set_defaults(out_by_engine=True)
    predict.set_defaults(handler=_predict)

    alive = sub.add_parser("simulate-alive", help="simulate customers alive through time")
    alive.add_argument("run_dir")
    alive.add_argument("--customers", type=positive_int, default=100)
    alive.add_argument("--at", type=horizon_list, default="10d,1y,10y,100y",
                       help="horizons, e.g. 10d,1y,10y,100y")
    alive.add_argument("--seed", type=non_negative_int, default=7)
    alive.add_argument("--runs", type=positive_int, default=1000,
                       help="simulated cohorts for the spread")
    alive.add_argument("--existing", action="store_true",
                       help="simulate existing customers from their histories, not new ones")
    alive.add_argument("--out", type=output_file, required=True)
    alive.set_defaults(handler=_simulate_alive)

    export = sub.add_parser("export-mlflow", help="save a run as an MLflow pyfunc model (the "
                                                  "'mlflow' extra)")
    export.add_argument("run_dir")
    # An existing OUT is refused by save_mlflow, which says why (MLflow writes a new folder).
    export.add_argument("out", type=output_path, help="MLflow model folder to create")
    export.set_defaults(handler=_export_mlflow)

    report = sub.add_parser("report", help="evaluation report of a run (HTML + PNG + JSON)")
    report.add_argument("run_dir")
    report.add_argument("--holdout", default=None,
                        help="transactions after the calibration end (CSV/TSV/Parquet) to "
                             "score the run on, instead of the holdout stored with it")
    report.add_argument("--customer-col", default="CustomerID")
    report.add_argument("--time-col", default="Timestamp")
    report.add_argument("--value-col", default="PurchaseValue")
    report.add_argument("--seed", type=non_negative_int, default=0)
    report.set_defaults(handler=_report)

    compare = sub.add_parser("compare", help="two repeat-purchase runs on the same holdout "
                             "(HTML + PNG + JSON)")
    compare.add_argument("run_a")
    compare.add_argument("run_b")
    compare.add_argument("--holdout", default=None,
                         help="transactions after the calibration end (default: the runs' "
                         "stored holdout)")
    compare.add_argument("--out", type=output_folder, default=None,
                         help="folder to write (default: compare_A_vs_B beside RUN_A)")
    compare.add_argument("--customer-col", default="CustomerID")
    compare.add_argument("--time-col", default="Timestamp")
    compare.add_argument("--value-col", default="PurchaseValue")
    compare.add_argument("--seed", type=non_negative_int, default=0)
    compare.set_defaults(handler=_compare)

    generate = sub.add_parser("generate", help="seeded synthetic data with known truth")
    gen_sub = generate.add_subparsers(dest="family", required=True)
    gen = gen_sub.add_parser("btyd", help="Klaviyo-schema transactions from BG/NBD or MBG/NBD")
    gen.add_argument("--customers", type=positive_int, default=10_000)
    gen.add_argument("--model", choices=["mbgnbd", "bgnbd"], default="mbgnbd")
    gen.add_argument("--time-unit", choices=["D", "W"], default="W",
                     help="unit of alpha and of --periods")
    gen.add_argument("--periods", type=positive_float, default=78.0,
                     help="observation window length")
    for name, default in (("r", 0.25), ("alpha", 4.0), ("a", 0.8), ("b", 2.5), ("p", 6.0),
                          ("q", 4.0), ("v", 15.0)):
        # Gamma-Gamma's mean spend needs q > 1; every other parameter is positive.
        gen.add_argument(f"--{name}", type=above(1.0) if name == "q" else positive_float,
                         default=default)
    gen.add_argument("--seed", type=non_negative_int, default=0)
    gen.add_argument("--out", type=output_file, required=True,
                     help="CSV or Parquet; truth goes to *.truth.json")
    gen.set_defaults(handler=_generate_btyd)

    gen_spend = gen_sub.add_parser("spend", help="PostPilot-schema campaign table (hurdle)")
    gen_spend.add_argument("--customers", type=positive_int, default=20_000)
    gen_spend.add_argument("--seed", type=non_negative_int, default=0)
    gen_spend.add_argument("--source", choices=["synthetic", "cdnow"], default="synthetic",
                           help="cdnow: the real task (spend in the window after --cutoff)")
    gen_spend.add_argument("--cutoff", default="1997-09-30", help="CDNOW cut-off date")
    gen_spend.add_argument("--window-days", type=positive_int, default=30)
    gen_spend.add_argument("--out", type=output_file, required=True,
                           help="CSV or Parquet; truth to *.truth.json")
    gen_spend.set_defaults(handler=_generate_spend)

    serve = sub.add_parser("serve", help="serve runs over HTTP (waitress + Flask)")
    serve.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    serve.add_argument("--host", type=host, default="127.0.0.1")
    serve.add_argument("--port", type=port, default=8000)
    serve.add_argument("--threads", type=positive_int, default=4)
    serve.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                       help="a Host header to answer besides loopback names (repeatable)")
    serve.add_argument("--max-instances", type=positive_int, default=10_000)
    serve.add_argument("--max-draws", type=positive_int, default=1000,
                       help="posterior draws each prediction simulates from (at most)")
    serve.set_defaults(handler=_serve)

    gen_prop = gen_sub.add_parser("propensity", help="ShopSphere-schema table (25 features)")
    gen_prop.add_argument("--customers", type=positive_int, default=240_000)
    gen_prop.add_argument("--seed", type=non_negative_int, default=0)
    gen_prop.add_argument("--type-shares", default=None,
                          help="shares of loyal, deal seeker, browser, lapsing customers "
                               "(default 0.2,0.25,0.3,0.25); another mix makes a drifted month")
    gen_prop.add_argument("--out", type=output_file, required=True,
                          help="CSV or Parquet; truth to *.truth.json")
    gen_prop.set_defaults(handler=_generate_propensity)

    from bayescope.tickets_cli import add_commands

    add_commands(sub, fit_sub, gen_sub)

    demo = sub.add_parser("demo", help="the whole workflow on CDNOW, small draws")
    demo.add_argument("--out", type=output_folder, default="demo_out")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "out_by_engine", False):
        # A file for the pandas engine, a folder of Parquet parts for Dask.
        check = output_folder if args.engine == "dask" else output_file
        try:
            check(args.out)
        except argparse.ArgumentTypeError as exc:
            parser.error(f"argument --out: {exc}")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(message)s", handlers=[RichHandler(console=console,
                                                                    show_path=False)])
    for noisy in ("pytensor", "arviz", "pymc", "numba", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    start = time.perf_counter()
    # One writer per output: the run directory a fit or report writes, the file a command
    # writes (two fits into one --out no longer race; the second exits 2).
    target = getattr(args, "out", None) or (args.run_dir if args.command == "report" else None)
    try:
        with output_lock(Path(target)) if target else nullcontext():
            args.handler(args)
    except BayescopeInputError as exc:
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)  # one line, unwrapped
        return 2
    except OSError as exc:
        # The machine refused a file or a socket (a read-only folder, a busy port): the
        # user's to fix, not a bug.
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        console.print(f"[bold red]error:[/] {exc.strerror or exc}{where}", highlight=False,
                      soft_wrap=True)
        return 2
    log.debug("done in %.1f s", time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
