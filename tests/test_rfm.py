"""RFM summaries equal lifetimes' calibration_and_holdout_data, on CDNOW and messy input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes.utils import calibration_and_holdout_data

from bayescope.data import (
    CDNOW_CALIBRATION_END,
    CDNOW_OBSERVATION_END,
    rfm_summary,
    validate_transactions,
)
from bayescope.errors import BayescopeInputError


def lifetimes_summary(tx, unit, cal, obs):
    return calibration_and_holdout_data(
        tx, "customer_id", "timestamp", calibration_period_end=cal,
        observation_period_end=obs, freq=unit, monetary_value_col="value")


def assert_same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert sorted(ours.index) == sorted(theirs.index.astype(str))
    theirs = theirs.set_axis(theirs.index.astype(str)).loc[ours.index]
    for column in theirs.columns:
        np.testing.assert_allclose(ours[column], theirs[column], rtol=1e-10, atol=1e-9,
                                   err_msg=column)


@pytest.mark.parametrize("unit", ["W", "D"])
def test_matches_lifetimes_on_cdnow(cdnow, unit):
    ours = rfm_summary(cdnow, unit, CDNOW_CALIBRATION_END, CDNOW_OBSERVATION_END).to_frame()
    theirs = lifetimes_summary(cdnow, unit, CDNOW_CALIBRATION_END, CDNOW_OBSERVATION_END)
    assert len(ours) == 23_570
    assert_same(ours, theirs)


def test_matches_lifetimes_on_messy_hand_written_log():
    # Unsorted rows, same-day and same-week repeats, a customer seen only in the holdout,
    # a purchase exactly at the calibration end, a Sunday/Monday week boundary.
    raw = pd.DataFrame({
        "CustomerID": ["z", "a", "a", "a", "b", "c", "a", "b", "d", "a"],
        "Timestamp": ["2024-03-03", "2024-01-07", "2024-01-08", "2024-01-08T23:00:00Z",
                      "2024-02-29", "2024-04-01", "2024-01-01", "2024-03-31T00:00:00Z",
                      "2024-01-31", "2024-03-15"],
        "PurchaseValue": [5, 10, 20, 1, 7, 9, 3, 4, 8, 2],
    })
    tx, _ = validate_transactions(raw)
    for unit in ("W", "D"):
        ours = rfm_summary(tx, unit, "2024-03-03", "2024-04-01").to_frame()
        assert_same(ours, lifetimes_summary(tx, unit, "2024-03-03", "2024-04-01"))
        assert "c" not in ours.index  # first purchase after the calibration end


def test_without_calibration_end_there_is_no_holdout(cdnow):
    summary = rfm_summary(cdnow, "W")
    assert not summary.has_holdout
    assert summary.T.max() == pytest.approx(77.0, abs=1)


def test_rejects_bad_time_unit_and_early_calibration_end(cdnow):
    with pytest.raises(BayescopeInputError, match="time unit"):
        rfm_summary(cdnow, "M")
    with pytest.raises(BayescopeInputError, match="no transaction"):
        rfm_summary(cdnow, "W", "1990-01-01")


def test_hashing_path_equals_bitmap_path(cdnow, monkeypatch):
    from bayescope.data import rfm as rfm_module

    dense = rfm_summary(cdnow, "D", CDNOW_CALIBRATION_END, CDNOW_OBSERVATION_END).to_frame()
    monkeypatch.setattr(rfm_module, "_DENSE_LIMIT", 0)
    hashed = rfm_summary(cdnow, "D", CDNOW_CALIBRATION_END, CDNOW_OBSERVATION_END).to_frame()
    pd.testing.assert_frame_equal(dense, hashed)


def test_calibration_end_date_includes_the_whole_day_and_bad_ends_are_input_errors():
    raw = pd.DataFrame({"CustomerID": ["a", "a", "a"],
                        "Timestamp": ["2024-01-01T09:00:00Z", "2024-01-10T15:00:00Z",
                                      "2024-01-20T10:00:00Z"],
                        "PurchaseValue": [1, 2, 3]})
    tx, _ = validate_transactions(raw)
    summary = rfm_summary(tx, "D", "2024-01-10")
    assert summary.frequency.tolist() == [1.0]
    assert summary.frequency_holdout.tolist() == [1.0]
    aware = rfm_summary(tx, "D", "2024-01-10T16:00:00+02:00")  # 14:00 UTC: before 15:00
    assert aware.frequency.tolist() == [0.0]
    with pytest.raises(BayescopeInputError, match="not a date"):
        rfm_summary(tx, "D", "end of January")
