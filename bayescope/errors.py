"""Errors that bayescope raises on purpose, each with the field and rows at fault.

The CLI maps :class:`BayescopeInputError` to exit code 2 and the API to a 4xx JSON body,
so a user always learns *which* column and *which* rows to fix.
"""

from __future__ import annotations

from collections.abc import Sequence


class BayescopeInputError(ValueError):
    """Input that cannot be used as given (bad file, column, value or argument).

    Parameters
    ----------
    message
        What is wrong, in one sentence.
    field
        The column, option or field at fault, if there is one.
    rows
        Offending data rows (1 = first row after the header), at most the first few.
    """

    def __init__(self, message: str, field: str | None = None, rows: Sequence[int] = ()) -> None:
        self.field = field
        self.rows = [int(r) for r in rows]
        super().__init__(message)

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        # Raised on a Dask worker, the error travels pickled: keep the field and the rows.
        return type(self), (str(self), self.field, self.rows)


class ArtifactError(BayescopeInputError):
    """A run directory or artifact that is missing, corrupt or from an incompatible version."""


def describe_rows(rows: Sequence[int], limit: int = 5) -> str:
    """Format the first ``limit`` row numbers as ``'3, 17, 20 (and 4 more)'``."""
    shown = ", ".join(str(r) for r in rows[:limit])
    extra = len(rows) - limit
    return shown + (f" (and {extra} more)" if extra > 0 else "")


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called on an estimator that has not been fitted
    (scikit-learn's ``NotFittedError``: a ``ValueError`` and an ``AttributeError``)."""
