"""``bayescope report RUN_DIR [--holdout PATH]``: one self-contained page per fitted run.

Writes ``RUN_DIR/report/index.html`` (summary, diagnostics, calibration, scores, comparison,
the model's own plots), the PNGs beside it and ``metrics.json`` with every figure shown. The
report is built in a temporary folder and swapped in at the end, so a failure never leaves a
half-written report and a reader never sees a mixed one.

Which sections a run gets depends on its model family; each family has one builder (BTYD
today; the spend, propensity and ticket models add theirs here).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bayescope.data.rfm import RFMSummary, attach_holdout
from bayescope.data.transactions import TransactionColumns, load_transactions
from bayescope.errors import BayescopeInputError
from bayescope.inference.artifacts import (
    Artifact,
    atomic_directory,
    atomic_write_text,
    jsonable,
    load_artifact,
    load_posterior,
)
from bayescope.models.btyd import BTYDModel
from bayescope.posterior_reports.btyd_report import build_btyd_report
from bayescope.posterior_reports.html import ReportContent, render_report

log = logging.getLogger(__name__)

REPORT_DIR = "report"


def write_report(run_dir: str | Path, holdout: str | Path | None = None, seed: int = 0,
                 columns: TransactionColumns | None = None) -> Path:
    """Build the report of a run; returns the path of ``index.html``.

    Parameters
    ----------
    run_dir
        A fitted run directory (``posterior.nc`` inside).
    holdout
        Optional file replacing the holdout stored in the run: for a repeat-purchase run a
        transaction file (same schema as the fit) with purchases after the calibration end;
        for a spend run a campaign table with the target column.
    seed
        Seed of every simulation and bootstrap in the report.
    columns
        Column names of the holdout file when they differ from the defaults.
    """
    run_dir = Path(run_dir)
    artifact = load_artifact(run_dir)
    if artifact.kind == "spend":
        return _write(run_dir, lambda work: _spend_content(run_dir, artifact, work, holdout,
                                                           seed))
    if artifact.kind == "tickets":
        if holdout is not None:
            raise BayescopeInputError("--holdout is not used for tickets runs: `bayescope "
                                      "backtest` scores forecasts on later weeks",
                                      field="holdout")
        from bayescope.posterior_reports.tickets_report import build_tickets_report
        from bayescope.tickets import load_tickets_run

        run_t = load_tickets_run(run_dir, artifact)
        return _write(run_dir, lambda work: build_tickets_report(run_t, work, seed))
    if artifact.kind == "propensity":
        if holdout is not None:
            raise BayescopeInputError("--holdout is not supported for propensity runs yet: "
                                      "the fit's held-out customers are scored",
                                      field="holdout")
        from bayescope.posterior_reports.propensity_report import build_propensity_report
        from bayescope.propensity import load_propensity_run

        run_p = load_propensity_run(run_dir, artifact)
        return _write(run_dir, lambda work: build_propensity_report(run_p, work))
    run = load_posterior(run_dir, artifact)
    spec = BTYDModel.from_name(run.model_name)
    holdout_rfm: RFMSummary | None = None
    notes: dict[str, Any] = {}
    if holdout is not None:
        transactions, report = load_transactions(holdout, columns or TransactionColumns())
        attached = attach_holdout(run.rfm, transactions)
        holdout_rfm = attached.rfm
        notes = {"holdout_file": str(holdout), "transactions_used": attached.n_transactions_used,
                 "unknown_customers_ignored": attached.n_unknown_customers,
                 "rows_before_calibration_end_ignored": attached.n_before_calibration_end,
                 "duplicates_dropped": report.n_duplicates_dropped}
        if attached.n_unknown_customers:
            log.warning("holdout: %d customers were not in the fit and are ignored",
                        attached.n_unknown_customers)

    def btyd_content(work: Path) -> ReportContent:
        content = build_btyd_report(run, spec, work, holdout_rfm, seed=seed)
        if notes:
            content.metrics["holdout_source"] = notes
        return content

    return _write(run_dir, btyd_content)


def _spend_content(run_dir: Path, artifact: Artifact, work: Path,
                   holdout: str | Path | None, seed: int) -> ReportContent:
    from bayescope.data.campaign_spend import load_campaign_table
    from bayescope.posterior_reports.spend_report import build_spend_report
    from bayescope.spend import load_spend_run

    table = load_campaign_table(holdout) if holdout is not None else None
    content = build_spend_report(load_spend_run(run_dir, artifact), work, table, seed=seed)
    if holdout is not None:
        content.metrics["holdout_source"] = {"holdout_file": str(holdout)}
    return content


def _write(run_dir: Path, build: Callable[[Path], ReportContent]) -> Path:
    """Build into a temporary folder, write metrics.json and the page, swap it in."""
    target = run_dir / REPORT_DIR
    with atomic_directory(target) as work:
        content = build(work)
        atomic_write_text(work / "metrics.json", json.dumps(jsonable(content.metrics),
                                                            indent=2))
        render_report(content.title, content.subtitle, content.sections, work / "index.html")
    log.info("report written to %s", target / "index.html")
    return target / "index.html"
