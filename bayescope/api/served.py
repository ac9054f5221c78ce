"""Models as the API serves them: each run loaded once through the registry.

The served objects come from the families (:meth:`~bayescope.families.base.Estimator.served`):
each knows its name, kind, metadata, the input schema of one instance, and turns a list of JSON
instances into predictions (``mean``, ``median``, ``low``, ``high`` and the family's extras),
through the same validation as files, so the API and the CLI refuse the same things.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from bayescope.errors import BayescopeInputError
from bayescope.families import ServedModel, load

log = logging.getLogger(__name__)

__all__ = ["ServedModel", "load_served"]


def load_served(run_dirs: Sequence[str | Path], max_draws: int = 1000
                ) -> dict[str, ServedModel]:
    """Load every run once; the model's name is its run directory's name (made unique)."""
    if max_draws < 1:
        raise BayescopeInputError(f"max_draws must be at least 1, not {max_draws}",
                                  field="max_draws")
    served: dict[str, ServedModel] = {}
    for run_dir in run_dirs:
        path = Path(run_dir)
        name = path.resolve().name.replace(":", "_")  # ':' separates a name from ':predict'
        while name in served:
            name += "_2"
        model = load(path).served(name, max_draws)
        served[name] = model
        if not model.info()["converged"]:
            log.warning("model %s FAILED its convergence gate: it is served, but its "
                        "predictions deserve suspicion", name)
    return served
