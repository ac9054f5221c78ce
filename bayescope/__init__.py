"""bayescope: Bayesian customer and demand analytics, end to end.

Subpackages: :mod:`bayescope.data` (loaders, RFM summaries, generators),
:mod:`bayescope.models` (model specifications and their NumPy predictive core),
:mod:`bayescope.inference` (sampling, convergence gate, artifacts, simulation),
:mod:`bayescope.posterior_reports` (scores and holdout evaluation).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bayescope")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
