"""The artist-table commands of the CLI: ``generate artists``, ``fit tickets``, ``backtest``,
``rank-dmas``, ``fit streams`` and ``cohorts`` (``predict`` on a tickets or streams run goes
through the registry like any run)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayescope.cli_checks import (
    monday,
    non_negative_int,
    output_file,
    output_folder,
    positive_int,
)
from bayescope.console import console, progress_bar
from bayescope.errors import BayescopeInputError
from bayescope.files import plot_path

if TYPE_CHECKING:
    from bayescope.families.tickets import TicketDemand


def generate_artists(args: argparse.Namespace) -> None:
    """``bayescope generate artists``: the nine tables, the truth and the shows."""
    import numpy as np

    from bayescope.data.ticket_processes import generate_artist_tables
    from bayescope.data.ticket_tables import write_ticket_tables

    for name in ("artists", "dmas", "weeks"):
        if getattr(args, name) < {"artists": 3, "dmas": 2, "weeks": 30}[name]:
            raise BayescopeInputError(f"--{name} is too small (at least 3 artists, 2 DMAs, "
                                      "30 weeks)", field=name)
    generated = generate_artist_tables(args.process, args.artists,
                                       np.random.default_rng(args.seed), n_dmas=args.dmas,
                                       n_weeks=args.weeks, start=args.start)
    truth = {**generated.truth.to_dict(), "seed": args.seed}
    written = write_ticket_tables(generated.tables, args.out, args.format, extras={
        "truth/truth.json": json.dumps(truth, indent=2),
        "truth/shows.csv": generated.tours})
    sales = generated.tables["tsecondaryticket_artist_dma_week"]
    cells = args.artists * args.dmas * args.weeks
    console.print(
        f"wrote {len(written) - 2} tables for {args.artists} artists x {args.dmas} DMAs x "
        f"{args.weeks} weeks to {args.out} ({len(sales):,} artist-DMA-weeks with sales, "
        f"{1 - len(sales) / cells:.1%} without); truth in {Path(args.out) / 'truth'}")


def fit_tickets(args: argparse.Namespace) -> None:
    """``bayescope fit tickets``: sample artists, build panels at the origin, fit, save."""
    if args.warm_tune is not None and args.warm_start is None:
        raise BayescopeInputError("--warm-tune sets the warmup of a fit from --warm-start; "
                                  "give both, or --tune alone", field="warm_tune")
    model = _estimator(args, progress=console.is_terminal)
    model.fit(args.tables, origin=args.origin, warm_start=args.warm_start).save(args.out)
    summary = model.summary_
    gate = summary["gate"]
    console.print(
        f"tickets: {summary['artists']} artists x {summary['dmas']} DMAs, "
        f"{summary['training_rows']:,} training artist-DMA-weeks "
        f"({summary['training_rows_with_sales']:,} with sales) before {summary['origin']}; "
        f"fitted in {summary['seconds']:.0f} s; gate "
        + ("passed" if gate["passed"] else "FAILED: " + "; ".join(gate["problems"])))
    console.print(f"wrote {Path(args.out) / 'posterior.nc'} and summary.json "
                  f"({summary['forecast_rows']:,} forecast rows, weeks from the origin)")


def backtest(args: argparse.Namespace) -> None:
    """``bayescope backtest``: rolling origins, ours against four baselines."""
    from bayescope.data.ticket_tables import load_ticket_tables
    from bayescope.families.ticket_backtest import BacktestSettings, run_backtest
    from bayescope.files import atomic_directory, jsonable
    from bayescope.posterior_reports.ticket_plots import plot_backtest

    # The fit settings' origin is replaced by each backtest origin.
    settings = BacktestSettings(_estimator(args, progress=False).fit_settings(origin=""),
                                args.origins)
    tables = load_ticket_tables(args.tables)
    with progress_bar() as bar:
        task = bar.add_task("backtest origins", total=args.origins)
        metrics, rows = run_backtest(tables, settings,
                                     progress=lambda k, n: bar.update(task, completed=k))
    with atomic_directory(Path(args.out)) as work:
        (work / "metrics.json").write_text(json.dumps(jsonable(metrics), indent=2))
        rows.to_parquet(work / "forecasts.parquet", index=False)
        plot_backtest(metrics, work / "backtest.png")
    table = "\n".join(f"  {name:15s} MAE {m['mae']:.3f}  RMSE {m['rmse']:.3f}  CRPS "
                      f"{m['crps']:.3f}  80% {m['coverage_80']:.3f}  90% {m['coverage_90']:.3f}"
                      for name, m in metrics["models"].items())
    sold = metrics["with_sales"]
    covered = "\n".join(
        f"  {name:15s} 80% {m['coverage_80']:.3f} (expected {m['expected_coverage_80']:.3f})  "
        f"90% {m['coverage_90']:.3f} (expected {m['expected_coverage_90']:.3f})"
        for name, m in sold["models"].items())
    console.print(f"backtest over {len(metrics['origins'])} origins "
                  f"({metrics['n_rows']:,} artist-DMA-weeks):\n{table}\n"
                  f"interval coverage on the {sold['n_rows']:,} weeks with sales, against each "
                  f"model's own expectation:\n{covered}\n"
                  + ("where ours loses:\n  " + "\n  ".join(metrics["where_ours_loses"])
                     if metrics["where_ours_loses"] else
                     "ours has the lowest CRPS overall and in every group"),
                  highlight=False)
    console.print(f"wrote {Path(args.out) / 'metrics.json'}, forecasts.parquet and backtest.png")


def rank_dmas(args: argparse.Namespace) -> None:
    """``bayescope rank-dmas``: where should the artist play next (CSV + plot)."""
    from bayescope.families import TicketDemand
    from bayescope.files import atomic_write_frame
    from bayescope.posterior_reports.ticket_plots import plot_dma_ranking

    model = TicketDemand.from_run(args.run_dir)
    table = model.rank_dmas(args.artist, args.top, args.seed, args.include_played)
    out = Path(args.out)
    atomic_write_frame(table, out)
    plot = plot_dma_ranking(table, args.artist, args.top, plot_path(out))
    best = table.head(min(args.top, 5))
    played = int(table["played_recently"].sum())
    console.print(
        f"{args.artist}: top DMAs by expected tickets per show (mean [90%], P(top "
        f"{args.top})): " + "; ".join(
            f"{r.dma_name} {r.expected_tickets_mean:,.0f} [{r.expected_tickets_low:,.0f}, "
            f"{r.expected_tickets_high:,.0f}] {r.p_top_k:.2f}" for r in best.itertuples())
        + (f"; {played} DMA(s) played recently " + ("ranked too" if args.include_played
                                                     else "left out and listed last")
           if played else ""))
    console.print(f"wrote {out} ({len(table)} DMAs) and the plot {plot}")


def fit_streams(args: argparse.Namespace) -> None:
    """``bayescope fit streams``: drivers of streaming growth at the origin."""
    from bayescope.families import StreamingGrowth

    model = StreamingGrowth(horizon=args.horizon, train_weeks=args.train_weeks,
                            draws=args.draws, tune=args.tune, chains=args.chains,
                            seed=args.seed, backtest_origins=args.backtest_origins,
                            progress=console.is_terminal)
    with console.status("fitting streaming growth (and its backtest)"):
        model.fit(args.tables, origin=args.origin).save(args.out)
    summary = model.summary_
    gate = summary["gate"]
    console.print(f"streams: {summary['artists']} artists, {summary['training_rows']:,} "
                  f"artist-weeks before {summary['origin']}, {summary['horizon']} weeks ahead;"
                  " gate " + ("passed" if gate["passed"] else "FAILED: "
                              + "; ".join(gate["problems"])))
    console.print(model.drivers_[["feature", "effect_mean", "hdi_low", "hdi_high",
                                  "within_artist"]].round(4).to_string(index=False),
                  soft_wrap=True, highlight=False)
    console.print(f"wrote {Path(args.out) / 'drivers.csv'}, posterior.nc, summary.json and "
                  "metrics.json (backtest)")


def cohorts(args: argparse.Namespace) -> None:
    """``bayescope cohorts``: data-driven artist cohorts as of a date (CSVs + report)."""
    from bayescope.families.cohorts import ArtistCohorts

    with console.status("profiling artists and choosing the cohorts"):
        fitted = ArtistCohorts(max_cohorts=args.max_cohorts, seed=args.seed).fit(
            args.tables, args.as_of)
        page = fitted.write(args.out)
    stability = fitted.stability_
    console.print(
        f"{len(fitted.cohorts_)} artists, {fitted.model_.n_cohorts} cohort(s) (held-out "
        f"likelihood; bootstrap adjusted Rand {stability['adjusted_rand_mean']:.2f}): "
        + "; ".join(f"{name} {count}" for name, count
                    in fitted.cohorts_["cohort_name"].value_counts(sort=False).items()),
        highlight=False)
    console.print(f"wrote cohorts.csv, profiles.csv, rules.csv and {page}")


def _estimator(args: argparse.Namespace, progress: bool) -> TicketDemand:
    """The estimator of the shared sample and sampler options (``--max-tree-depth`` when
    given; otherwise the estimator's default stands, so the parser need not import PyMC)."""
    from bayescope.families import TicketDemand

    given = {name: getattr(args, name) for name in ("max_tree_depth", "warm_tune")
             if getattr(args, name) is not None}
    return TicketDemand(artists=args.artists, horizon=args.horizon,
                        train_weeks=args.train_weeks, draws=args.draws, tune=args.tune,
                        chains=args.chains, seed=args.seed, backend=args.backend,
                        features=args.features, progress=progress, **given)


def _sample_and_sampler_arguments(parser: Any, draws: int) -> None:
    """The options ``fit tickets`` and ``backtest`` share: sample, horizon and sampler."""
    parser.add_argument("--artists", type=positive_int, default=30,
                        help="artists to sample, stratified by popularity tier")
    parser.add_argument("--horizon", type=positive_int, default=4,
                        help="weeks ahead (and the lag of the lagged features)")
    parser.add_argument("--train-weeks", type=positive_int, default=104)
    parser.add_argument("--draws", type=positive_int, default=draws)
    parser.add_argument("--tune", type=non_negative_int, default=400)
    parser.add_argument("--warm-tune", type=non_negative_int, default=None,
                        help="warmup of a fit that starts where an earlier one ended (each "
                             "backtest origin after the first; fit tickets --warm-start); "
                             "default 150 (bench/README.md, warm refits)")
    parser.add_argument("--chains", type=positive_int, default=4)
    parser.add_argument("--max-tree-depth", type=positive_int, default=None,
                        help="at most 2**depth - 1 leapfrog steps per draw (default 6)")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--features", choices=("dynamic", "lagged", "static"),
                        default="dynamic",
                        help="dynamic: signals, recent sales and listing dynamics, and the "
                             "latest listings and sales known at the origin; lagged: the same "
                             "without the latest values (every feature lagged by the horizon);"
                             " static: the signals alone (the first release's model)")
    parser.add_argument("--backend", choices=("numba", "jax"), default="numba",
                        help="nutpie compiler; jax (the 'jax' extra) fuses the likelihood "
                             "and uses a GPU when JAX sees one")


def add_commands(sub: Any, fit_sub: Any, gen_sub: Any) -> None:
    """Register the ticket commands on the CLI's subparsers."""
    gen = gen_sub.add_parser("artists", help="Artist Performance tables (8 weekly + DMA)")
    gen.add_argument("--artists", type=positive_int, default=200)
    gen.add_argument("--seed", type=non_negative_int, default=0)
    gen.add_argument("--dmas", type=positive_int, default=210)
    gen.add_argument("--weeks", type=positive_int, default=260)
    gen.add_argument("--start", type=monday, default="2020-01-06",
                     help="first week_start (a Monday)")
    gen.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    gen.add_argument("--process", default="model",
                     choices=("model", "tour_ramp", "seasonal_price", "regime_shift"),
                     help="sales process: model (drawn from the model's own features) or one "
                          "written apart from it (data/ticket_processes.py)")
    gen.add_argument("--out", type=output_folder, required=True,
                     help="folder to write (one file per table)")
    gen.set_defaults(handler=generate_artists)

    fit = fit_sub.add_parser("tickets",
                             help="hierarchical negative-binomial hurdle of ticket demand")
    fit.add_argument("--tables", required=True, help="folder of the Artist Performance tables")
    fit.add_argument("--origin", required=True,
                     help="first week to forecast (a week_start date); only earlier weeks used")
    _sample_and_sampler_arguments(fit, draws=500)
    fit.add_argument("--warm-start", metavar="RUN_DIR", default=None,
                     help="an earlier tickets run of the same sample size and features (last "
                          "week's): start where its fit ended, tuning --warm-tune iterations")
    fit.add_argument("--out", type=output_folder, required=True, help="run directory to write")
    fit.set_defaults(handler=fit_tickets)

    st = fit_sub.add_parser("streams", help="drivers of short-term streaming growth")
    st.add_argument("--tables", required=True, help="folder of the Artist Performance tables")
    st.add_argument("--origin", required=True,
                    help="forecast week (a week_start date); only earlier weeks used")
    st.add_argument("--horizon", type=positive_int, default=4,
                    help="weeks ahead of the growth (1-4)")
    st.add_argument("--train-weeks", type=positive_int, default=52)
    st.add_argument("--draws", type=positive_int, default=1000)
    st.add_argument("--tune", type=non_negative_int, default=1000)
    st.add_argument("--chains", type=positive_int, default=4)
    st.add_argument("--seed", type=non_negative_int, default=0)
    st.add_argument("--backtest-origins", type=non_negative_int, default=3,
                    help="earlier origins to back-test the growth forecasts at (0: none)")
    st.add_argument("--out", type=output_folder, required=True, help="run directory to write")
    st.set_defaults(handler=fit_streams)

    bt = sub.add_parser("backtest", help="rolling-origin backtest of ticket demand vs baselines")
    bt.add_argument("--tables", required=True, help="folder of the Artist Performance tables")
    bt.add_argument("--origins", type=positive_int, default=8)
    _sample_and_sampler_arguments(bt, draws=500)
    bt.add_argument("--out", type=output_folder, required=True,
                    help="folder for metrics.json, forecasts, plots")
    bt.set_defaults(handler=backtest)

    rk = sub.add_parser("rank-dmas", help="rank the DMAs an artist should play next")
    rk.add_argument("run_dir")
    rk.add_argument("--artist", required=True, help="artist_id (in the run's sample)")
    rk.add_argument("--top", type=positive_int, default=10, help="k of P(in the top k)")
    rk.add_argument("--include-played", action="store_true",
                    help="rank DMAs with shows in the last 26 weeks too (flagged)")
    rk.add_argument("--seed", type=non_negative_int, default=0)
    rk.add_argument("--out", type=output_file, required=True,
                    help="CSV to write (and a .png beside it)")
    rk.set_defaults(handler=rank_dmas)

    co = sub.add_parser("cohorts", help="data-driven artist cohorts as of a date")
    co.add_argument("--tables", required=True, help="folder of the Artist Performance tables")
    co.add_argument("--as-of", required=True,
                    help="profiles use the weeks before this date only")
    co.add_argument("--max-cohorts", type=positive_int, default=8,
                    help="largest number tried (the number is chosen on held-out likelihood)")
    co.add_argument("--seed", type=non_negative_int, default=0)
    co.add_argument("--out", type=output_folder, required=True,
                    help="folder for cohorts.csv and the report")
    co.set_defaults(handler=cohorts)
