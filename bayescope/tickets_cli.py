"""The ticket-demand commands of the CLI: ``generate artists``, ``fit tickets``, ``backtest``,
``rank-dmas`` (and ``predict`` on a tickets run, dispatched from :mod:`bayescope.cli`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayescope.errors import BayescopeInputError

if TYPE_CHECKING:
    from bayescope.tickets import TicketFitSettings


def _console() -> Any:
    from bayescope.cli import console

    return console


def generate_artists(args: argparse.Namespace) -> None:
    """``bayescope generate artists``: the nine tables, the truth and the shows."""
    import numpy as np

    from bayescope.data.generate_tickets import generate_ticket_tables
    from bayescope.data.ticket_tables import write_ticket_tables

    for name in ("artists", "dmas", "weeks"):
        if getattr(args, name) < {"artists": 3, "dmas": 2, "weeks": 30}[name]:
            raise BayescopeInputError(f"--{name} is too small (at least 3 artists, 2 DMAs, "
                                      "30 weeks)", field=name)
    generated = generate_ticket_tables(args.artists, np.random.default_rng(args.seed),
                                       n_dmas=args.dmas, n_weeks=args.weeks, start=args.start)
    truth = {**generated.truth.to_dict(), "seed": args.seed}
    written = write_ticket_tables(generated.tables, args.out, args.format, extras={
        "truth/truth.json": json.dumps(truth, indent=2),
        "truth/shows.csv": generated.tours})
    sales = generated.tables["tsecondaryticket_artist_dma_week"]
    cells = args.artists * args.dmas * args.weeks
    _console().print(
        f"wrote {len(written) - 2} tables for {args.artists} artists x {args.dmas} DMAs x "
        f"{args.weeks} weeks to {args.out} ({len(sales):,} artist-DMA-weeks with sales, "
        f"{1 - len(sales) / cells:.1%} without); truth in {Path(args.out) / 'truth'}")


def fit_tickets(args: argparse.Namespace) -> None:
    """``bayescope fit tickets``: sample artists, build panels at the origin, fit, save."""
    from bayescope.data.ticket_tables import load_ticket_tables
    from bayescope.tickets import fit_tickets as fit

    console = _console()
    _require_positive_sample_options(args)
    settings = _fit_settings(args, args.origin, progress=console.is_terminal)
    tables = load_ticket_tables(args.tables)
    result, summary = fit(tables, settings, args.out)
    console.print(
        f"tickets: {summary['artists']} artists x {summary['dmas']} DMAs, "
        f"{summary['training_rows']:,} training artist-DMA-weeks "
        f"({summary['training_rows_with_sales']:,} with sales) before {summary['origin']}; "
        f"fitted in {result.seconds:.0f} s; gate "
        + ("passed" if result.gate.passed else "FAILED: " + "; ".join(result.gate.problems)))
    console.print(f"wrote {Path(args.out) / 'posterior.nc'} and summary.json "
                  f"({summary['forecast_rows']:,} forecast rows, weeks from the origin)")


def predict_tickets(args: argparse.Namespace, artifact: Any) -> None:
    """``bayescope predict`` on a tickets run: rows, artist-week and national totals."""
    from bayescope.inference.artifacts import atomic_write_frame
    from bayescope.tickets import load_tickets_run, predict_tickets_run

    if args.data is not None or args.horizon is not None:
        raise BayescopeInputError("a tickets run forecasts the weeks fixed at fit time "
                                  "(origin and horizon): drop --data/--horizon", field="data")
    run = load_tickets_run(args.run_dir, artifact)
    result = predict_tickets_run(run, seed=args.seed)
    out = Path(args.out)
    atomic_write_frame(result.rows, out)
    artist_path = out.with_name(f"{out.stem}_artist_week{out.suffix}")
    national_path = out.with_name(f"{out.stem}_national{out.suffix}")
    atomic_write_frame(result.artist_week, artist_path)
    atomic_write_frame(result.national, national_path)
    weekly = result.national
    _console().print(
        f"wrote {len(result.rows):,} artist x DMA x week forecasts to {out}, artist-week "
        f"totals to {artist_path.name} and national totals to {national_path.name}; national "
        "tickets per week (mean, 90%): " + "; ".join(
            f"{r.week_start} {r.tickets_mean:,.0f} [{r.tickets_low:,.0f}, "
            f"{r.tickets_high:,.0f}]" for r in weekly.itertuples()))


def backtest(args: argparse.Namespace) -> None:
    """``bayescope backtest``: rolling origins, ours against four baselines."""
    from bayescope.data.ticket_tables import load_ticket_tables
    from bayescope.inference.artifacts import atomic_directory, jsonable
    from bayescope.posterior_reports.ticket_plots import plot_backtest
    from bayescope.ticket_backtest import BacktestSettings, run_backtest

    console = _console()
    _require_positive_sample_options(args)
    # The fit settings' origin is replaced by each backtest origin.
    settings = BacktestSettings(_fit_settings(args, origin="", progress=False), args.origins)
    tables = load_ticket_tables(args.tables)
    from bayescope.cli import _progress

    with _progress() as bar:
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
                  f"model's own expectation:\n{covered}",
                  highlight=False)
    console.print(f"wrote {Path(args.out) / 'metrics.json'}, forecasts.parquet and backtest.png")


def rank_dmas(args: argparse.Namespace) -> None:
    """``bayescope rank-dmas``: where should the artist play next (CSV + plot)."""
    from bayescope.dma_ranking import rank_dmas as rank
    from bayescope.inference.artifacts import atomic_write_frame
    from bayescope.posterior_reports.ticket_plots import plot_dma_ranking
    from bayescope.tickets import load_tickets_run

    run = load_tickets_run(args.run_dir)
    table = rank(run, args.artist, args.top, args.seed, args.include_played)
    out = Path(args.out)
    atomic_write_frame(table, out)
    plot = plot_dma_ranking(table, args.artist, args.top, out.with_suffix(".png"))
    best = table.head(min(args.top, 5))
    played = int(table["played_recently"].sum())
    _console().print(
        f"{args.artist}: top DMAs by expected tickets per show (mean [90%], P(top "
        f"{args.top})): " + "; ".join(
            f"{r.dma_name} {r.expected_tickets_mean:,.0f} [{r.expected_tickets_low:,.0f}, "
            f"{r.expected_tickets_high:,.0f}] {r.p_top_k:.2f}" for r in best.itertuples())
        + (f"; {played} DMA(s) played recently " + ("ranked too" if args.include_played
                                                     else "left out and listed last")
           if played else ""))
    _console().print(f"wrote {out} ({len(table)} DMAs) and the plot {plot}")


def _require_positive_sample_options(args: argparse.Namespace) -> None:
    """One error for a non-positive sample or sampler option (see the helper below)."""
    for name in ("artists", "train_weeks", "draws", "tune", "chains", "max_tree_depth"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise BayescopeInputError(f"--{name.replace('_', '-')} must be positive",
                                      field=name)


def _fit_settings(args: argparse.Namespace, origin: str, progress: bool
                  ) -> TicketFitSettings:
    """The ``TicketFitSettings`` of the shared options (``--max-tree-depth`` when given;
    otherwise the settings' default stands, so the parser need not import PyMC)."""
    from bayescope.tickets import TicketFitSettings

    depth = {} if args.max_tree_depth is None else {"max_tree_depth": args.max_tree_depth}
    return TicketFitSettings(origin, args.artists, args.horizon, args.train_weeks, args.draws,
                             args.tune, args.chains, args.seed, progress=progress,
                             backend=args.backend, **depth)


def _sample_and_sampler_arguments(parser: Any, draws: int) -> None:
    """The options ``fit tickets`` and ``backtest`` share: sample, horizon and sampler."""
    parser.add_argument("--artists", type=int, default=30,
                        help="artists to sample, stratified by popularity tier")
    parser.add_argument("--horizon", type=int, default=4, help="weeks ahead (and feature lag)")
    parser.add_argument("--train-weeks", type=int, default=104)
    parser.add_argument("--draws", type=int, default=draws)
    parser.add_argument("--tune", type=int, default=400)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--max-tree-depth", type=int, default=None,
                        help="at most 2**depth - 1 leapfrog steps per draw (default 6)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=("numba", "jax"), default="numba",
                        help="nutpie compiler; jax (the 'jax' extra) fuses the likelihood "
                             "and uses a GPU when JAX sees one")


def add_commands(sub: Any, fit_sub: Any, gen_sub: Any) -> None:
    """Register the ticket commands on the CLI's subparsers."""
    gen = gen_sub.add_parser("artists", help="Artist Performance tables (8 weekly + DMA)")
    gen.add_argument("--artists", type=int, default=200)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--dmas", type=int, default=210)
    gen.add_argument("--weeks", type=int, default=260)
    gen.add_argument("--start", default="2020-01-06", help="first week_start (a Monday)")
    gen.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    gen.add_argument("--out", required=True, help="folder to write (one file per table)")
    gen.set_defaults(handler=generate_artists)

    fit = fit_sub.add_parser("tickets", help="hierarchical negative binomial of ticket demand")
    fit.add_argument("--tables", required=True, help="folder of the Artist Performance tables")
    fit.add_argument("--origin", required=True,
                     help="first week to forecast (a week_start date); only earlier weeks used")
    _sample_and_sampler_arguments(fit, draws=500)
    fit.add_argument("--out", required=True, help="run directory to write")
    fit.set_defaults(handler=fit_tickets)

    bt = sub.add_parser("backtest", help="rolling-origin backtest of ticket demand vs baselines")
    bt.add_argument("--tables", required=True, help="folder of the Artist Performance tables")
    bt.add_argument("--origins", type=int, default=8)
    _sample_and_sampler_arguments(bt, draws=500)
    bt.add_argument("--out", required=True, help="folder for metrics.json, forecasts, plots")
    bt.set_defaults(handler=backtest)

    rk = sub.add_parser("rank-dmas", help="rank the DMAs an artist should play next")
    rk.add_argument("run_dir")
    rk.add_argument("--artist", required=True, help="artist_id (in the run's sample)")
    rk.add_argument("--top", type=int, default=10, help="k of P(in the top k)")
    rk.add_argument("--include-played", action="store_true",
                    help="rank DMAs with shows in the last 26 weeks too (flagged)")
    rk.add_argument("--seed", type=int, default=0)
    rk.add_argument("--out", required=True, help="CSV to write (and a .png beside it)")
    rk.set_defaults(handler=rank_dmas)
