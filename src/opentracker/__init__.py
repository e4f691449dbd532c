"""opentracker: a BitTorrent tracker with a Cython core (Python shell)."""

from ._version import __version__

__all__ = ["__version__"]
