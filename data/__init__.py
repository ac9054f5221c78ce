"""Data: loaders, validation, RFM summaries and seeded synthetic generators.

See ``data/README.md`` (installed as package data) for the data dictionary.
"""

from bayescope.data.cdnow import (
    CDNOW_CALIBRATION_END,
    CDNOW_OBSERVATION_END,
    load_cdnow,
    load_cdnow_sample,
)
from bayescope.data.rfm import RFMSummary, rfm_summary
from bayescope.data.transactions import (
    LoadReport,
    TransactionColumns,
    load_transactions,
    validate_transactions,
)

__all__ = [
    "CDNOW_CALIBRATION_END",
    "CDNOW_OBSERVATION_END",
    "LoadReport",
    "RFMSummary",
    "TransactionColumns",
    "load_cdnow",
    "load_cdnow_sample",
    "load_transactions",
    "rfm_summary",
    "validate_transactions",
]
