"""Loader validation: one clear error naming the column and rows; messy layouts accepted."""

from __future__ import annotations

import pandas as pd
import pytest

from bayescope.data import TransactionColumns, load_transactions
from bayescope.errors import BayescopeInputError

GOOD = (
    "CustomerID,Timestamp,PurchaseValue\n"
    "a,2024-01-01T10:00:00Z,10.5\n"
    "b,2024-01-02T11:00:00+02:00,3\n"
    "a,2024-02-01T10:00:00Z,0\n"
)


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_file_parses_to_utc(tmp_path):
    frame, report = load_transactions(write(tmp_path, GOOD))
    assert list(frame.columns) == ["customer_id", "timestamp", "value"]
    assert frame.loc[1, "timestamp"] == pd.Timestamp("2024-01-02 09:00:00")
    assert report.n_duplicates_dropped == 0


def test_column_order_and_names_can_vary(tmp_path):
    text = "amount,when,who,extra\n5,2024-01-01,x,zz\n7,2024-01-09,x,zz\n"
    frame, _ = load_transactions(write(tmp_path, text), TransactionColumns("who", "when", "amount"))
    assert frame["value"].tolist() == [5.0, 7.0]
    assert frame["customer_id"].tolist() == ["x", "x"]


def test_parquet_is_read(tmp_path):
    frame = pd.DataFrame({"CustomerID": ["a", "b"], "Timestamp": ["2024-01-01", "2024-01-02"],
                          "PurchaseValue": [1.0, 2.0]})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    loaded, _ = load_transactions(path)
    assert len(loaded) == 2


def test_exact_duplicates_are_dropped_and_counted(tmp_path):
    frame, report = load_transactions(write(tmp_path, GOOD + "a,2024-02-01T10:00:00Z,0\n"))
    assert len(frame) == 3
    assert report.n_duplicates_dropped == 1


@pytest.mark.parametrize(
    ("text", "column", "rows"),
    [
        ("CustomerID,Timestamp\na,2024-01-01\n", "PurchaseValue", []),
        (GOOD + "c,not-a-date,1\nd,2024-13-45,2\n", "Timestamp", [4, 5]),
        (GOOD + "c,2024-01-01,-3\n", "PurchaseValue", [4]),
        (GOOD + "c,2024-01-01,abc\n", "PurchaseValue", [4]),
        (GOOD + ",2024-01-01,1\n", "CustomerID", [4]),
        # A typo or a sentinel date would stretch T by centuries (issue 18).
        (GOOD + "c,1000-01-01,1\nd,2201-03-01,1\ne,9999-12-31T00:00:00Z,1\n", "Timestamp",
         [4, 5, 6]),
        (GOOD + "c,2200-01-01T00:00:00Z,1\n", "Timestamp", [4]),
    ],
)
def test_bad_input_names_column_and_rows(tmp_path, text, column, rows):
    with pytest.raises(BayescopeInputError) as info:
        load_transactions(write(tmp_path, text))
    assert info.value.field == column
    assert info.value.rows == rows
    assert column in str(info.value)


def test_empty_and_header_only_files(tmp_path):
    with pytest.raises(BayescopeInputError, match="empty"):
        load_transactions(write(tmp_path, ""))
    with pytest.raises(BayescopeInputError, match="no rows"):
        load_transactions(write(tmp_path, "CustomerID,Timestamp,PurchaseValue\n"))


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(BayescopeInputError, match="not found"):
        load_transactions(tmp_path / "nope.csv")
    with pytest.raises(BayescopeInputError, match="unknown file type"):
        load_transactions(write(tmp_path, "x", name="t.xlsx"))
