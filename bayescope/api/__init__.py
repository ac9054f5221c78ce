"""The uncertainty-aware prediction API (Flask app factory, served by waitress)."""

from bayescope.api.app import create_app

__all__ = ["create_app"]
