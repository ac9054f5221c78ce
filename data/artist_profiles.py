"""Artist profiles as of a date: the five descriptors the artist cohorts are built on.

Computed from the Artist Performance tables using only weeks strictly before ``as_of`` (the
cohorts may be recomputed every week without looking ahead). Streams rows that are absent
mean "not measured" and the last known value is carried forward; absent ticket rows mean
zero sales (:mod:`bayescope.data.ticket_tables`). Per artist:

``popularity``
    ``log(1 + mean weekly streams)`` over the last 13 weeks.
``momentum``
    ``log(1 + mean weekly streams)`` of the last 4 weeks minus that of the 13 weeks before
    them: recent growth (0.1 is about 10%).
``volatility``
    Standard deviation of the weekly change in ``log(1 + streams)`` over the last 26 weeks.
``concentration``
    ``log(H D)`` with ``H`` the Herfindahl index of the artist's streams across the ``D``
    DMAs over the last 13 weeks: 0 when spread evenly over DMAs, ``log D`` when all in one.
``live_demand``
    ``log((1 + tickets) / (1 + streams / 1000))`` over the last 52 weeks: secondary-market
    tickets per thousand streams, on a log scale.

:data:`DESCRIPTIONS` says what each means in words (the report and the rule table use it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayescope.data.ticket_tables import TicketTables
from bayescope.errors import BayescopeInputError

FEATURES = ("popularity", "momentum", "volatility", "concentration", "live_demand")
DESCRIPTIONS = {
    "popularity": "log(1 + mean weekly streams), last 13 weeks",
    "momentum": "log growth of weekly streams, last 4 weeks against the 13 before",
    "volatility": "sd of weekly log-stream changes, last 26 weeks",
    "concentration": "log(Herfindahl x DMAs) of streams across DMAs, last 13 weeks",
    "live_demand": "log(1 + tickets) - log(1 + streams / 1000), last 52 weeks",
}
HISTORY_WEEKS = 52
MIN_HISTORY_WEEKS = 26


def artist_profiles(tables: TicketTables, as_of: str | pd.Timestamp) -> pd.DataFrame:
    """One row per artist with streams before ``as_of``: the :data:`FEATURES` (module
    docstring), indexed by ``artist_id``.

    Raises
    ------
    BayescopeInputError
        If ``as_of`` is not a date, or fewer than 26 weeks of the tables precede it.
    """
    as_of = _as_of(as_of, tables)
    calendar = tables.weeks
    weeks = calendar[(calendar < as_of) & (calendar >= as_of - pd.Timedelta(weeks=HISTORY_WEEKS))]
    if len(weeks) < MIN_HISTORY_WEEKS:
        raise BayescopeInputError(
            f"--as-of {as_of.date()} leaves {len(weeks)} weeks of data before it; the "
            f"profiles need {MIN_HISTORY_WEEKS} (the tables start {calendar[0].date()})",
            field="as_of")
    streams = _weekly(tables["artist_mstreams_week"], "number_of_streams", weeks,
                      carry_forward=True)
    # Weeks before an artist's first streams row are not measured (NaN, not zero streams);
    # an artist needs every week of the momentum and volatility windows.
    streams = streams[streams.iloc[:, -27:].notna().all(axis=1)]
    if streams.empty:
        raise BayescopeInputError(f"no artist has streams in each of the 27 weeks before "
                                  f"--as-of {as_of.date()}", field="as_of")
    values = streams.to_numpy(float)
    log_streams = np.log1p(values)
    recent = np.log1p(values[:, -4:].mean(axis=1))
    before = np.log1p(values[:, -17:-4].mean(axis=1))
    profile = pd.DataFrame(index=streams.index)
    profile["popularity"] = np.log1p(values[:, -13:].mean(axis=1))
    profile["momentum"] = recent - before
    profile["volatility"] = np.diff(log_streams[:, -27:], axis=1).std(axis=1)
    profile["concentration"] = _concentration(tables, weeks[-13:], streams.index)
    tickets = _weekly(tables["tsecondaryticket_artist_week"], "st_num_tickets", weeks,
                      carry_forward=False).reindex(streams.index).fillna(0.0)
    profile["live_demand"] = (np.log1p(tickets.to_numpy(float).sum(axis=1))
                              - np.log1p(np.nansum(values, axis=1) / 1000.0))
    profile.index.name = "artist_id"
    return profile


def _as_of(value: str | pd.Timestamp, tables: TicketTables) -> pd.Timestamp:
    try:
        as_of = pd.Timestamp(value).normalize()
    except (ValueError, TypeError) as exc:
        raise BayescopeInputError(f"--as-of {value!r} is not a date", field="as_of") from exc
    if as_of is pd.NaT:
        raise BayescopeInputError(f"--as-of {value!r} is not a date", field="as_of")
    return as_of


def _weekly(table: pd.DataFrame, column: str, weeks: pd.DatetimeIndex, carry_forward: bool
            ) -> pd.DataFrame:
    """Artists x ``weeks`` of ``column`` (NaN where absent, or carried forward)."""
    rows = table[table["week_start"].isin(weeks)]
    wide = rows.pivot_table(index="artist_id", columns="week_start", values=column,
                            aggfunc="sum").reindex(columns=weeks)
    return wide.ffill(axis=1) if carry_forward else wide


def _concentration(tables: TicketTables, weeks: pd.DatetimeIndex, artists: pd.Index
                   ) -> np.ndarray:
    rows = tables["artist_mstreams_dma_week"]
    rows = rows[rows["week_start"].isin(weeks)]
    by_dma = rows.groupby(["artist_id", "dma_id"])["number_of_streams"].sum()
    total = by_dma.groupby(level="artist_id").transform("sum")
    share = (by_dma / total.where(total > 0)).fillna(0.0)
    herfindahl = (share**2).groupby(level="artist_id").sum().reindex(artists)
    n_dmas = max(len(tables.dma), 1)
    return np.log(np.maximum(herfindahl.fillna(1.0 / n_dmas).to_numpy(float) * n_dmas,
                             1e-12))
