"""Write one self-contained report page per fitted run, whatever its family.

``write_report(run_dir, build)`` writes ``RUN_DIR/report/index.html`` (summary, diagnostics,
calibration, scores, comparison, the model's own plots), the PNGs beside it and
``metrics.json`` with every figure shown. ``build`` is the family's section builder (each
family module passes its own; this module knows none of them). The report is built in a
temporary folder and swapped in at the end, so a failure never leaves a half-written report
and a reader never sees a mixed one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from bayescope.files import atomic_directory, atomic_write_text, jsonable
from bayescope.posterior_reports.html import ReportContent, render_report

log = logging.getLogger(__name__)

REPORT_DIR = "report"


def write_report(run_dir: str | Path, build: Callable[[Path], ReportContent]) -> Path:
    """Build into a temporary folder, write metrics.json and the page, swap it in.

    Parameters
    ----------
    run_dir
        The fitted run directory; the report goes to ``RUN_DIR/report``.
    build
        Called with the working folder (where its PNGs go); returns the page's content.

    Returns
    -------
    Path
        ``RUN_DIR/report/index.html``.
    """
    return write_page(Path(run_dir) / REPORT_DIR, build)


def write_page(target: Path, build: Callable[[Path], ReportContent]) -> Path:
    """Build into a temporary folder beside ``target``, write ``metrics.json`` and
    ``index.html`` there, and swap it in as ``target``; returns the page."""
    with atomic_directory(target) as work:
        content = build(work)
        atomic_write_text(work / "metrics.json", json.dumps(jsonable(content.metrics),
                                                            indent=2))
        render_report(content.title, content.subtitle, content.sections, work / "index.html")
    log.info("report written to %s", target / "index.html")
    return target / "index.html"
