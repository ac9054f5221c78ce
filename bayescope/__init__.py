"""bayescope: Bayesian customer and demand analytics, end to end.

The public API is four estimators on one contract (scikit-learn's conventions: keyword-only
settings, ``fit`` returns ``self``, fitted attributes end in ``_``) and :func:`load`::

    import bayescope as bs

    model = bs.BTYD(draws=500).fit("transactions.csv", calibration_end="2024-06-30")
    model.predict(horizon=365, top=100, by="spend")
    model.save("runs/clv")
    same = bs.load("runs/clv")

:class:`BTYD` (repeat purchasing / CLV), :class:`Spend` (post-campaign spend),
:class:`Propensity` (purchase propensity and segments), :class:`TicketDemand` (live-event
ticket demand), :class:`StreamingGrowth` (drivers of streaming growth);
:class:`ArtistCohorts` groups artists (not a posterior, so no run
directory). Subpackages: :mod:`bayescope.data`, :mod:`bayescope.models`,
:mod:`bayescope.inference`, :mod:`bayescope.posterior_reports`, :mod:`bayescope.families`.
The estimators are imported on first use, so ``import bayescope`` (and the CLI's start) stays
fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bayescope.errors import ArtifactError, BayescopeInputError, NotFittedError
from bayescope.version import __version__

if TYPE_CHECKING:
    from bayescope.families import BTYD, Propensity, Spend, StreamingGrowth, TicketDemand, load
    from bayescope.families.cohorts import ArtistCohorts
    from bayescope.families.mlflow_model import save_mlflow

_LAZY = ("BTYD", "Spend", "Propensity", "TicketDemand", "StreamingGrowth", "load")

__all__ = ["BTYD", "ArtifactError", "ArtistCohorts", "BayescopeInputError", "NotFittedError",
           "Propensity", "Spend", "StreamingGrowth", "TicketDemand", "__version__", "load",
           "save_mlflow"]


def __getattr__(name: str) -> Any:
    if name == "ArtistCohorts":
        from bayescope.families.cohorts import ArtistCohorts

        return ArtistCohorts
    if name == "save_mlflow":
        from bayescope.families.mlflow_model import save_mlflow

        return save_mlflow
    if name in _LAZY:
        from bayescope import families

        return getattr(families, name)
    raise AttributeError(f"module 'bayescope' has no attribute {name!r}")
