"""The installed package version (a leaf: imports nothing of the package)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bayescope")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
