"""The CDNOW transaction log (Fader & Hardie), the default real dataset.

23,570 customers who made their first purchase at CDNOW in the first quarter of 1997, with
every purchase until the end of June 1998. The file ships inside the ``lifetimes`` wheel; it is
read with :mod:`importlib.resources` because ``lifetimes.datasets`` imports ``pkg_resources``,
which recent setuptools no longer ships. This module loads the *master* log (69,659 rows);
the 2,357-customer sample that Fader, Hardie & Lee (2005) fit is :func:`load_cdnow_sample`.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from bayescope.data.transactions import TransactionColumns, validate_transactions

CDNOW_CALIBRATION_END = "1997-09-30"
CDNOW_OBSERVATION_END = "1998-06-30"


def _read_cdnow_file(name: str, names: list[str], has_header: bool) -> pd.DataFrame:
    path = resources.files("lifetimes") / "datasets" / name
    with resources.as_file(path) as local:
        return pd.read_csv(
            local, sep=r"\s+", header=0 if has_header else None, names=names,
            dtype={"customer_id": str, "date": str},
        )


def load_cdnow() -> pd.DataFrame:
    """The full CDNOW master log as a tidy transaction frame (customer_id, timestamp, value).

    Same-day purchases of a customer are summed on load, so rows that repeat a customer, day
    and amount are not dropped as duplicates and no purchase value is lost.
    """
    raw = _read_cdnow_file("CDNOW_master.txt", ["customer_id", "date", "n_cds", "value"], True)
    return _to_transactions_keep_repeats(raw)


def load_cdnow_sample() -> pd.DataFrame:
    """The 2,357-customer CDNOW sample (``CDNOW_sample.txt``) used in Fader, Hardie & Lee (2005)."""
    raw = _read_cdnow_file(
        "CDNOW_sample.txt", ["master_id", "customer_id", "date", "n_cds", "value"], False
    )
    return _to_transactions_keep_repeats(raw)


def _to_transactions_keep_repeats(raw: pd.DataFrame) -> pd.DataFrame:
    # Same-day purchases of one customer collapse into one period anyway; summing them first
    # keeps their value when exact duplicate rows would otherwise be dropped by validation.
    grouped = raw.groupby(["customer_id", "date"], sort=False)["value"].sum().reset_index()
    tidy = pd.DataFrame({
        "CustomerID": grouped["customer_id"].str.lstrip("0"),
        "Timestamp": pd.to_datetime(grouped["date"], format="%Y%m%d"),
        "PurchaseValue": grouped["value"].astype(float),
    })
    frame, _ = validate_transactions(tidy, TransactionColumns())
    return frame
