"""The compiled core of opentracker. There is no pure-Python fallback."""

from ._core import (SIZEOF_PEER4, SIZEOF_PEER6, SIZEOF_TORRENT, Server, Store, StoreFullError, allocation_counts,
                    failure_body,
                    parse_hash_lines, sort_hashes)

__all__ = ["SIZEOF_PEER4", "SIZEOF_PEER6", "SIZEOF_TORRENT", "Server", "Store", "StoreFullError", "allocation_counts",
           "failure_body",
           "parse_hash_lines", "sort_hashes"]
