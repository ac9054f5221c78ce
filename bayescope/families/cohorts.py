"""Artist cohorts (the artist brief's question 4): ``bayescope cohorts`` and
``bs.ArtistCohorts``.

Profiles as of a date (:mod:`bayescope.data.artist_profiles`), a mixture whose size is chosen
on held-out likelihood (:mod:`bayescope.models.artist_cohorts`), names, a depth-2 rule table,
bootstrap stability, and the moves between this as-of date and one ``compare_weeks`` earlier
(the same mixture applied to the earlier profiles). Not a posterior, so not a run directory:
the output folder holds ``cohorts.csv`` (``artist_id, cohort, cohort_name, probability``),
``profiles.csv``, ``rules.csv``, ``transitions.csv``, ``metrics.json`` and the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescope.data.artist_profiles import MIN_HISTORY_WEEKS, artist_profiles
from bayescope.data.ticket_tables import TicketTables, load_ticket_tables
from bayescope.errors import BayescopeInputError, NotFittedError
from bayescope.files import atomic_write_frame
from bayescope.models.artist_cohorts import (
    CohortModel,
    bootstrap_stability,
    fit_cohorts,
    rule_table,
)
from bayescope.posterior_reports.cohorts_report import cohorts_report
from bayescope.posterior_reports.report import write_page

COHORT_COLUMNS = ("artist_id", "cohort", "cohort_name", "probability")


class ArtistCohorts:
    """Data-driven artist cohorts as of a date.

    Parameters
    ----------
    max_cohorts
        Largest number of cohorts tried (the number used is chosen by cross-validation).
    seed
        Seed of the mixtures, folds and bootstrap.
    compare_weeks
        The transition table compares with the profiles this many weeks before ``as_of``.

    Examples
    --------
    >>> cohorts = bs.ArtistCohorts().fit("artist_tables/", as_of="2024-12-30")
    >>> cohorts.cohorts_.head()      # artist_id, cohort, cohort_name, probability
    >>> cohorts.write("cohorts/")    # CSVs, metrics.json and the report
    """

    def __init__(self, *, max_cohorts: int = 8, seed: int = 0, compare_weeks: int = 13
                 ) -> None:
        self.max_cohorts = max_cohorts
        self.seed = seed
        self.compare_weeks = compare_weeks

    def fit(self, tables: TicketTables | str | Path, as_of: str | pd.Timestamp
            ) -> ArtistCohorts:
        """Profile the artists as of ``as_of`` and find the cohorts; returns self."""
        if not isinstance(self.max_cohorts, int) or self.max_cohorts < 1:
            raise BayescopeInputError("--max-cohorts must be a positive integer",
                                      field="max_cohorts")
        if not isinstance(self.compare_weeks, int) or self.compare_weeks < 1:
            raise BayescopeInputError("compare_weeks must be a positive integer",
                                      field="compare_weeks")
        if not isinstance(tables, TicketTables):
            tables = load_ticket_tables(tables)
        rng = np.random.default_rng(self.seed)
        self.as_of_ = pd.Timestamp(as_of).normalize() if _is_date(as_of) else as_of
        self.profiles_ = artist_profiles(tables, as_of)
        if len(self.profiles_) < 10:
            raise BayescopeInputError(f"only {len(self.profiles_)} artists have streams "
                                      "before --as-of; cohorts need 10", field="as_of")
        self.model_: CohortModel = fit_cohorts(self.profiles_, self.max_cohorts, rng)
        probabilities = self.model_.probabilities(self.profiles_)
        self.labels_ = probabilities.argmax(axis=1)
        names = np.asarray(self.model_.names, dtype=object)
        self.cohorts_ = pd.DataFrame({
            "artist_id": self.profiles_.index.to_numpy(), "cohort": self.labels_,
            "cohort_name": names[self.labels_],
            "probability": probabilities[np.arange(len(self.labels_)), self.labels_]})
        self.rules_ = rule_table(self.profiles_, self.labels_, self.model_.names, rng)
        self.stability_ = bootstrap_stability(self.profiles_, self.model_, self.labels_, rng)
        self.transitions_, self.movers_ = self._transitions(tables)
        return self

    def _transitions(self, tables: TicketTables) -> tuple[pd.DataFrame | None,
                                                            pd.DataFrame | None]:
        earlier = pd.Timestamp(self.as_of_) - pd.Timedelta(weeks=self.compare_weeks)
        try:
            before = artist_profiles(tables, earlier)
        except BayescopeInputError:
            return None, None  # fewer than MIN_HISTORY_WEEKS weeks before the earlier date
        before = before.reindex(self.profiles_.index).dropna()
        if before.empty:
            return None, None
        was = self.model_.probabilities(before).argmax(axis=1)
        now = self.labels_[self.profiles_.index.get_indexer(before.index)]
        names = self.model_.names
        table = pd.crosstab(pd.Categorical([names[k] for k in was], categories=names),
                            pd.Categorical([names[k] for k in now], categories=names),
                            rownames=["before"], colnames=["now"], dropna=False)
        moved = was != now
        movers = pd.DataFrame({"artist_id": before.index[moved],
                               "cohort_before": [names[k] for k in was[moved]],
                               "cohort_now": [names[k] for k in now[moved]]})
        return table, movers

    def write(self, out: str | Path) -> Path:
        """Write the CSVs, ``metrics.json`` and the report to ``out`` (swapped in whole);
        returns the page."""
        if not hasattr(self, "cohorts_"):
            raise NotFittedError("this ArtistCohorts is not fitted yet: call fit(...) first")

        def build(work: Path) -> Any:
            atomic_write_frame(self.cohorts_, work / "cohorts.csv")
            atomic_write_frame(self.profiles_.reset_index(), work / "profiles.csv")
            atomic_write_frame(self.rules_, work / "rules.csv")
            if self.transitions_ is not None:
                atomic_write_frame(self.transitions_.reset_index(), work / "transitions.csv")
            return cohorts_report(self, work)

        return write_page(Path(out), build)

    def summary(self) -> dict[str, Any]:
        """What ``metrics.json`` holds: the choice, the cohorts, rules, stability, moves."""
        if not hasattr(self, "cohorts_"):
            raise NotFittedError("this ArtistCohorts is not fitted yet: call fit(...) first")
        z = (self.profiles_ - self.model_.mean) / self.model_.scale
        cohorts = []
        for k, name in enumerate(self.model_.names):
            members = self.labels_ == k
            cohorts.append({"cohort": k, "cohort_name": name, "artists": int(members.sum()),
                            "mean": self.profiles_[members].mean().to_dict(),
                            "mean_z": z[members].mean().to_dict()})
        return {
            "as_of": str(pd.Timestamp(self.as_of_).date()), "artists": len(self.profiles_),
            "n_cohorts": self.model_.n_cohorts, "cross_validation": self.model_.cv_loglik,
            "cohorts": cohorts, "rules": self.rules_.to_dict(orient="records"),
            "stability": self.stability_,
            "moved": None if self.movers_ is None else len(self.movers_),
            "compared_with": str((pd.Timestamp(self.as_of_)
                                  - pd.Timedelta(weeks=self.compare_weeks)).date()),
            "min_history_weeks": MIN_HISTORY_WEEKS,
        }


def _is_date(value: Any) -> bool:
    try:
        return pd.Timestamp(value) is not pd.NaT
    except (ValueError, TypeError):
        return False
