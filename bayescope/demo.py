"""``bayescope demo``: the repeat-purchasing and spend workflows end to end on CDNOW.

Writes to ``OUT``: ``cdnow_transactions.csv`` (the embedded data in the Klaviyo schema),
``run/`` (fit with holdout metrics, and ``run/report/index.html``: the evaluation report),
``top100_spend.csv``, ``predictions_1y.csv`` and
``alive.csv``; then the spend model on the real CDNOW task (``cdnow_spend_30d.csv``,
``spend_run/`` with its report, ``spend_predictions.csv``). Finishes in about two minutes on
two cores.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from rich.console import Console

from bayescope.data.campaign_spend import TARGET, load_campaign_table
from bayescope.data.cdnow import CDNOW_CALIBRATION_END, load_cdnow
from bayescope.data.cdnow_spend import cdnow_spend_table
from bayescope.data.transactions import load_transactions
from bayescope.families import BTYD, Spend
from bayescope.files import atomic_directory, atomic_write_frame
from bayescope.posterior_reports.btyd_holdout import comparison_table
from bayescope.posterior_reports.btyd_plots import plot_alive

log = logging.getLogger(__name__)
console = Console(stderr=True)


def show(title: str, table: pd.DataFrame) -> None:
    """Print a titled table in full width (not squeezed into a log line)."""
    console.print(f"\n[bold]{title}[/]")
    console.print(table.to_string(), soft_wrap=True, highlight=False)


def run_demo(out: Path, draws: int = 1000, chains: int = 4) -> dict[str, Path]:
    """Run the demo and return the paths it wrote.

    Everything is built in a temporary folder beside ``out`` and swapped in whole
    (:func:`bayescope.files.atomic_directory`): a demo stopped at any moment leaves the earlier
    ``out`` as it was, never a mix of two runs. An ``out`` holding files bayescope did not
    write is refused, never replaced.
    """
    with atomic_directory(out) as work, _logged_as_published(work, out):
        written = _demo_into(work, draws, chains)
    paths = {name: out / path.relative_to(work) for name, path in written.items()}
    log.info("demo outputs in %s; the reports are %s and %s", out, paths["report"],
             paths["spend_report"])
    return paths


class _PublishedPaths(logging.Filter):
    """Rewrites the temporary folder's path in log lines to the path it is published at."""

    def __init__(self, work: Path, out: Path) -> None:
        super().__init__()
        self.work, self.out = str(work), str(out)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.work in message:
            record.msg, record.args = message.replace(self.work, self.out), ()
        return True


@contextmanager
def _logged_as_published(work: Path, out: Path) -> Iterator[None]:
    """Log lines written inside the block name ``out`` where they say ``work``."""
    rewrite = _PublishedPaths(work, out)
    handlers = logging.getLogger().handlers
    for handler in handlers:
        handler.addFilter(rewrite)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(rewrite)


def _demo_into(out: Path, draws: int, chains: int) -> dict[str, Path]:
    """The demo's outputs, written into the folder ``out``."""
    transactions = load_cdnow()
    csv = out / "cdnow_transactions.csv"
    atomic_write_frame(pd.DataFrame({
        "CustomerID": transactions["customer_id"],
        "Timestamp": transactions["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "PurchaseValue": transactions["value"],
    }), csv)
    log.info("CDNOW: %d transactions of %d customers -> %s", len(transactions),
             transactions["customer_id"].nunique(), csv.name)
    # Fit from the CSV just written, through the same loader a user's export goes through.
    run = out / "run"
    clv = BTYD(model="mbgnbd", time_unit="W", draws=draws, chains=chains, seed=0)
    clv.fit(csv, calibration_end=CDNOW_CALIBRATION_END).save(run)
    summary = clv.summary_
    log.info("gate: %s; parameters: %s", "passed" if summary["converged"] else "FAILED",
             {k: round(v["mean"], 3) for k, v in summary["parameters"].items()})
    metrics = clv.metrics_ or {}
    show("holdout comparison, 39 weeks (metrics.json)", comparison_table(metrics).round(4))
    show("holdout purchases by calibration frequency",
         pd.DataFrame(metrics["by_calibration_frequency"]).round(3))
    show("purchase categories (P(any purchase in the 39-week holdout))",
         pd.DataFrame(metrics["purchase_categories"]).round(3))
    paths = {"run": run, "report": clv.report()}
    top = clv.predict(horizon=365.0, top=100, by="spend")
    paths["top100"] = out / "top100_spend.csv"
    atomic_write_frame(top, paths["top100"])
    everyone = clv.predict(horizon=365.0)
    paths["predictions"] = out / "predictions_1y.csv"
    atomic_write_frame(everyone, paths["predictions"])
    alive = clv.simulate_alive(customers=100, at="10d,1y,10y,100y", seed=7)
    paths["alive"] = out / "alive.csv"
    atomic_write_frame(alive, paths["alive"])
    paths["alive_plot"] = plot_alive(alive, 100, out / "alive.png")
    show("top 10 of the top-100 by 12-month spend", top.head(10).round(2))
    show("alive out of 100 new customers (run 0, 5-95% over runs)", alive.round(1))
    paths.update(spend_demo(out, load_transactions(csv)[0], draws=max(draws // 2, 200),
                            chains=chains))
    return paths


def spend_demo(out: Path, transactions: pd.DataFrame, draws: int, chains: int
               ) -> dict[str, Path]:
    """The spend workflow on the real CDNOW task: 30-day spend after 1997-09-30."""
    table_path = out / "cdnow_spend_30d.csv"
    real = cdnow_spend_table(transactions=transactions)
    atomic_write_frame(real.assign(campaign_send_date=real["campaign_send_date"]
                                   .dt.strftime("%Y-%m-%d")), table_path)
    table = load_campaign_table(table_path)
    run = out / "spend_run"
    Spend(draws=draws, chains=chains, seed=0).fit(table_path).save(run)
    model = Spend.from_run(run)
    log.info("spend model gate: %s", "passed" if model.converged_ else "FAILED")
    metrics = model.metrics_ or {}
    show("30-day spend after 1997-09-30 on held-out CDNOW customers (metrics.json)",
         pd.DataFrame(metrics["comparison"]).T[["crps", "interval_score_90", "rmse", "mae",
                                                "share_below_q05", "share_below_q50",
                                                "share_below_q95", "top_decile_capture"]]
         .astype(float).round(3))
    predictions = model.predict(table.drop(columns=TARGET))
    paths = {"spend_run": run, "spend_predictions": out / "spend_predictions.csv"}
    atomic_write_frame(predictions, paths["spend_predictions"])
    paths["spend_report"] = model.report()
    return paths
