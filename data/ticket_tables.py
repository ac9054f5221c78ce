"""The Artist Performance tables: eight weekly tables and a DMA reference, loaded and checked.

A folder holds one file per table, named after it (``artist_mstreams_dma_week.csv``,
``.csv.gz``, ``.tsv`` or ``.parquet``). Column order is free, extra columns are ignored, a
missing required column is an error. ``week_start`` is a date; every table must use the same
weekday for its weeks (the first table read sets it), so weeks join without shifting.

Sparse by design: a week without sales or listings usually has no row. In the sales and
listing tables an absent artist(-DMA)-week **means zero**; in the streaming and social tables
it means "not measured" and the feature code carries the last known value forward
(:mod:`bayescope.data.ticket_features`). ``data/README.md`` is the data dictionary.

:func:`load_ticket_tables` is the one entry point: the first problem raises one
:class:`~bayescope.errors.BayescopeInputError` naming the table, the column and the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayescope.data.table_chunks import read_table
from bayescope.data.validation import (
    MISSING_TEXT,
    NumericRule,
    numeric_column,
    raise_for_implausible_dates,
    raise_for_rows,
)
from bayescope.errors import BayescopeInputError

COUNT = NumericRule(0, 1e13, integer=True)
AMOUNT = NumericRule(0, 1e13)
SHARE = NumericRule(0, 1, missing_allowed=True)
PRICE = NumericRule(0, 1e6, missing_allowed=True)


@dataclass(frozen=True)
class TableSchema:
    """Keys (ids and ``week_start``) and the value columns with their rules."""

    name: str
    keys: tuple[str, ...]
    values: dict[str, NumericRule]
    absent_means_zero: bool = False


SCHEMAS: dict[str, TableSchema] = {s.name: s for s in (
    TableSchema("artist_instagram", ("artist_id", "week_start"), {
        "followers": COUNT, "pct_female": SHARE, "pct_age_18_24": SHARE,
        "pct_age_25_34": SHARE, "pct_age_35_44": SHARE, "pct_age_45_plus": SHARE,
        "pct_us": SHARE}),
    TableSchema("artist_social_week", ("artist_id", "week_start"), {
        "instagram_followers": COUNT, "instagram_engagement": AMOUNT,
        "tiktok_followers": COUNT, "tiktok_views": COUNT, "youtube_subscribers": COUNT,
        "youtube_views": COUNT}),
    TableSchema("artist_mstreams_week", ("artist_id", "week_start"), {
        "number_of_streams": COUNT, "cleaned_cumulative_spotify_streams": COUNT}),
    TableSchema("artist_mstreams_dma_week", ("artist_id", "dma_id", "week_start"), {
        "number_of_streams": COUNT}),
    TableSchema("tsecondaryticket_artist_week", ("artist_id", "week_start"), {
        "st_num_tickets": COUNT, "st_num_orders": COUNT, "st_order_value": AMOUNT},
        absent_means_zero=True),
    TableSchema("tsecondaryticket_artist_dma_week", ("artist_id", "dma_id", "week_start"), {
        "st_num_tickets": COUNT, "st_num_orders": COUNT, "st_order_value": AMOUNT},
        absent_means_zero=True),
    TableSchema("lsecondaryticket_artist_week", ("artist_id", "week_start"), {
        "sl_num_listings": COUNT, "sl_num_tickets_listed": COUNT,
        "sl_median_list_price": PRICE, "sl_num_events": COUNT}, absent_means_zero=True),
    TableSchema("lsecondaryticket_artist_dma_week", ("artist_id", "dma_id", "week_start"), {
        "sl_num_listings": COUNT, "sl_num_tickets_listed": COUNT,
        "sl_median_list_price": PRICE, "sl_num_events": COUNT}, absent_means_zero=True),
)}
DMA_VALUES = {"tv_households": NumericRule(1, 1e9)}
SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz", ".tsv", ".tsv.gz")


@dataclass
class TicketTables:
    """The validated tables (``week_start`` as dates, ids as strings) and the week weekday."""

    tables: dict[str, pd.DataFrame]
    dma: pd.DataFrame
    weekday: int
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    @property
    def weeks(self) -> pd.DatetimeIndex:
        """Every week from the first to the last seen in any weekly table."""
        starts = [t["week_start"].min() for t in self.tables.values() if len(t)]
        ends = [t["week_start"].max() for t in self.tables.values() if len(t)]
        return pd.date_range(min(starts), max(ends), freq="7D")


def find_table_file(folder: Path, name: str) -> Path:
    """The file of table ``name`` in ``folder`` (any supported suffix)."""
    for suffix in SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    raise BayescopeInputError(
        f"table {name!r} not found in {folder}: expected {name}.csv, .csv.gz, .tsv or "
        ".parquet", field=name)


def load_ticket_tables(folder: str | Path) -> TicketTables:
    """Read and validate every table in ``folder`` (see module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BayescopeInputError(f"tables folder not found: {folder}", field="tables")
    dma, ignored = _validate_dma(read_table(find_table_file(folder, "dma")))
    ignored_columns = {"dma": ignored} if ignored else {}
    known_dmas = set(dma["dma_id"])
    weekday: int | None = None
    tables = {}
    for name, schema in SCHEMAS.items():
        raw = read_table(find_table_file(folder, name))
        table, ignored = validate_table(raw, schema)
        if ignored:
            ignored_columns[name] = ignored
        days = table["week_start"].dt.dayofweek.to_numpy()
        weekday = int(days[0]) if weekday is None and len(days) else weekday
        rows = np.arange(1, len(table) + 1)
        raise_for_rows(days != weekday, rows, f"{name}.week_start",
                       f"is not on the weekday the other weeks start on "
                       f"({pd.Timestamp(2024, 1, 1 + (weekday or 0)).day_name()})",
                       table["week_start"].dt.date.to_numpy())
        if "dma_id" in schema.keys:
            raise_for_rows(~table["dma_id"].isin(known_dmas).to_numpy(), rows,
                           f"{name}.dma_id", "is not in the dma table",
                           table["dma_id"].to_numpy())
        tables[name] = table.sort_values(list(schema.keys), ignore_index=True)
    return TicketTables(tables, dma, weekday or 0, ignored_columns)


def validate_table(raw: pd.DataFrame, schema: TableSchema) -> tuple[pd.DataFrame, list[str]]:
    """One table, typed: string ids, dates, floats, in file order (row ``i`` is file row
    ``i + 1``); duplicated keys are an error."""
    wanted = [*schema.keys, *schema.values]
    _require_columns(raw, wanted, schema.name)
    rows = np.arange(1, len(raw) + 1)
    out = pd.DataFrame({key: _ids(raw[key], rows, f"{schema.name}.{key}")
                        for key in schema.keys if key != "week_start"})
    out["week_start"] = _dates(raw["week_start"], rows, f"{schema.name}.week_start")
    for column, rule in schema.values.items():
        out[column] = numeric_column(np.asarray(raw[column]), rows,
                                     f"{schema.name}.{column}", rule)
    raise_for_rows(out.duplicated(list(schema.keys), keep=False).to_numpy(), rows,
                   f"{schema.name}.{'/'.join(schema.keys)}", "is duplicated")
    ignored = [c for c in raw.columns if c not in wanted]
    return out, ignored


def _validate_dma(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    _require_columns(raw, ["dma_id", "dma_name", "tv_households"], "dma")
    rows = np.arange(1, len(raw) + 1)
    out = pd.DataFrame({"dma_id": _ids(raw["dma_id"], rows, "dma.dma_id"),
                        "dma_name": raw["dma_name"].astype(str).str.strip().to_numpy()})
    out["tv_households"] = numeric_column(np.asarray(raw["tv_households"]), rows,
                                          "dma.tv_households", DMA_VALUES["tv_households"])
    raise_for_rows(out["dma_id"].duplicated(keep=False).to_numpy(), rows, "dma.dma_id",
                   "is duplicated")
    ignored = [c for c in raw.columns if c not in ("dma_id", "dma_name", "tv_households")]
    return out, ignored


def _require_columns(raw: pd.DataFrame, wanted: list[str], table: str) -> None:
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        raise BayescopeInputError(
            f"table {table!r} is missing column(s) {missing}; it has {list(raw.columns)}",
            field=f"{table}.{missing[0]}")


def _ids(values: pd.Series, rows: np.ndarray, column: str) -> np.ndarray:
    text = values.astype(str).str.strip()
    # Integer-like ids read from Parquet as floats ("12.0") are the same id as "12".
    text = text.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True)
    raise_for_rows((values.isna() | text.str.lower().isin(MISSING_TEXT)).to_numpy(), rows,
                   column, "is empty")
    return text.to_numpy(dtype=object)


def _dates(values: pd.Series, rows: np.ndarray, column: str) -> pd.Series:
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    raise_for_rows(parsed.isna().to_numpy(), rows, column, "is not a date",
                   values.to_numpy())
    raise_for_implausible_dates(parsed.to_numpy(), rows, column, values.to_numpy())
    return parsed.dt.normalize().astype("datetime64[ns]")


def write_ticket_tables(tables: dict[str, pd.DataFrame], folder: str | Path,
                        file_format: str = "parquet",
                        extras: dict[str, str | pd.DataFrame] | None = None) -> list[Path]:
    """Write the tables as ``folder/<name>.<format>``, all or nothing.

    ``extras`` maps relative paths (``truth/truth.json``) to text or frames (CSV) written
    alongside, in the same swap.

    The files are written into a temporary folder swapped in for ``folder``; an existing
    ``folder`` is replaced only if it is empty or holds a tables set (a ``dma`` file), so a
    mistyped path never wipes unrelated files.
    """
    from bayescope.files import atomic_directory

    if file_format not in ("parquet", "csv"):
        raise BayescopeInputError("--format must be parquet or csv", field="format")
    target = Path(folder)
    if target.exists() and (not target.is_dir() or (
            any(target.iterdir()) and not any(target.glob("dma.*")))):
        raise BayescopeInputError(f"{target} exists and is not a tables folder; choose a new "
                                  "--out", field="out")
    written = []
    with atomic_directory(target) as work:
        for name, frame in tables.items():
            path = work / f"{name}.{file_format}"
            if file_format == "parquet":
                frame.to_parquet(path, index=False)
            else:
                frame.to_csv(path, index=False, date_format="%Y-%m-%d")
            written.append(target / path.name)
        for relative, content in (extras or {}).items():
            path = work / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, pd.DataFrame):
                content.to_csv(path, index=False)
            else:
                path.write_text(content)
            written.append(target / relative)
    return written
