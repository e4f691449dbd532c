"""The compiled core of opentracker. There is no pure-Python fallback."""

from ._core import SIZEOF_PEER4, SIZEOF_PEER6, SIZEOF_TORRENT, Store, StoreFullError, failure_body

__all__ = ["SIZEOF_PEER4", "SIZEOF_PEER6", "SIZEOF_TORRENT", "Store", "StoreFullError", "failure_body"]
