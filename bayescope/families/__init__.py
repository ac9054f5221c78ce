"""Model families and the one registry from an artifact's kind to its family.

Each family module is the only place that wires data -> model -> inference -> reports for its
model, behind the contract of :class:`~bayescope.families.base.Estimator`. The faces (CLI,
API) and :func:`load` ask :data:`REGISTRY`; none of them branches on a run's kind. A new model
is one family module plus its leaves in the layers, added to :data:`REGISTRY` here.
"""

from __future__ import annotations

from pathlib import Path

from bayescope.errors import ArtifactError
from bayescope.families.base import Estimator, PredictOptions, ServedModel
from bayescope.families.btyd import BTYD
from bayescope.families.propensity import Propensity
from bayescope.families.spend import Spend
from bayescope.families.streams import StreamingGrowth
from bayescope.families.tickets import TicketDemand
from bayescope.inference.artifacts import load_artifact

REGISTRY: dict[str, type[Estimator]] = {
    family.kind: family for family in (BTYD, Spend, Propensity, TicketDemand,
                                       StreamingGrowth)}
"""Artifact kind -> estimator class."""


def family_for(kind: str) -> type[Estimator]:
    """The estimator class of an artifact kind; an unknown kind is one ``ArtifactError``."""
    try:
        return REGISTRY[kind]
    except KeyError:
        raise ArtifactError(f"unknown model kind {kind!r}: this bayescope knows "
                            f"{', '.join(sorted(REGISTRY))}", field="run_dir") from None


def load(run_dir: str | Path) -> Estimator:
    """The fitted estimator of a run directory, whatever its family.

    Its predictions equal those of the estimator that saved the run.

    Raises
    ------
    ArtifactError
        If the run is missing, corrupt, of an unknown kind or of a different model identity.
    """
    artifact = load_artifact(run_dir)
    return family_for(artifact.kind).from_run(run_dir, artifact)


__all__ = ["BTYD", "REGISTRY", "Estimator", "PredictOptions", "Propensity", "ServedModel",
           "Spend", "StreamingGrowth", "TicketDemand", "family_for", "load"]
