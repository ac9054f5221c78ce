"""A small writer of self-contained HTML reports: sections of text, tables and figures.

The page embeds every PNG as a data URI, so ``index.html`` can be mailed or attached on its
own; the PNGs are also written beside it for slides. No template engine: the structure is a
list of :class:`Section` objects and the styling one inline stylesheet.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bayescope.files import atomic_write_text

STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5em 2em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } .subtitle { color: #555; margin-top: 0; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.3em; }
figure { margin: 0.8em 0 1.6em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
.callout { padding: 0.7em 1em; border-radius: 6px; margin: 0.8em 0; }
.good { background: #e7f6e7; border-left: 6px solid #2ca02c; }
.bad { background: #fde8e8; border-left: 6px solid #d62728; color: #8b0000; font-weight: 600; }
.note { background: #eef3fb; border-left: 6px solid #1f77b4; }
nav a { margin-right: 1em; } .scroll { overflow-x: auto; max-width: 100%; }
td.flag { background: #fde8e8; color: #8b0000; }
"""


@dataclass
class Paragraph:
    """Plain text (escaped)."""

    text: str


@dataclass
class Callout:
    """A highlighted message: ``good`` (green), ``bad`` (red) or ``note`` (blue)."""

    text: str
    kind: str = "note"


@dataclass
class Table:
    """A table with a caption; cells in ``flag_column`` that are True are shaded red."""

    frame: pd.DataFrame
    caption: str
    digits: int = 4
    flag_column: str | None = None


@dataclass
class Figure:
    """A PNG written beside the page and embedded in it."""

    path: Path
    caption: str


Block = Paragraph | Callout | Table | Figure


@dataclass
class Section:
    """A titled part of the report."""

    title: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        """Id used by the navigation links."""
        return "".join(c if c.isalnum() else "-" for c in self.title.lower())


@dataclass
class ReportContent:
    """A whole report: title, subtitle, sections, and the metrics behind them (JSON)."""

    title: str
    subtitle: str
    sections: list[Section]
    metrics: dict[str, Any]


def _table_html(table: Table) -> str:
    frame = table.frame.copy()
    flags = None
    if table.flag_column is not None and table.flag_column in frame:
        flags = frame[table.flag_column].astype(bool).to_numpy()
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, record in enumerate(frame.itertuples(index=False)):
        cells = []
        for value in record:
            text = _format(value, table.digits)
            cls = ' class="flag"' if flags is not None and flags[i] else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='scroll'><table><caption>{html.escape(table.caption)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _format(value: object, digits: int) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) < 10.0 ** -digits:
            return f"{value:.2e}"
        return f"{value:.{digits}g}"
    return str(value)


def _figure_html(figure: Figure) -> str:
    data = base64.b64encode(figure.path.read_bytes()).decode()
    return (f'<figure><img alt="{html.escape(figure.caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(figure.caption)} '
            f"({html.escape(figure.path.name)})</figcaption></figure>")


def _block_html(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Callout):
        return f'<div class="callout {block.kind}">{html.escape(block.text)}</div>'
    if isinstance(block, Table):
        return _table_html(block)
    return _figure_html(block)


def render_report(title: str, subtitle: str, sections: Sequence[Section], path: Path) -> Path:
    """Write the self-contained page to ``path`` (atomically) and return it."""
    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<h2 id="{s.anchor}">{html.escape(s.title)}</h2>' + "".join(map(_block_html, s.blocks))
        for s in sections)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='subtitle'>{html.escape(subtitle)}</p><nav>{nav}</nav>{body}"
            "</body></html>")
    atomic_write_text(path, page)
    return path
