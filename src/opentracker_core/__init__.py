"""The compiled core of opentracker. There is no pure-Python fallback."""

from ._core import (DEFAULTS, INTERVAL_CEILING, INTERVAL_MIN, MAX_REDIRECT_URL, MAX_STATS_PATH, PERM_ALL, PERM_PROXY, PERM_STATS, PERM_SYNC,
                    SIZEOF_PEER4, SIZEOF_PEER6, SIZEOF_TORRENT, Server, Store, StoreFullError, allocation_counts,
                    failure_body, parse_hash_lines, sort_hashes, WORKERS_MAX)

__all__ = ["DEFAULTS", "INTERVAL_CEILING", "INTERVAL_MIN", "MAX_REDIRECT_URL", "MAX_STATS_PATH", "PERM_ALL", "PERM_PROXY", "PERM_STATS", "PERM_SYNC",
           "SIZEOF_PEER4", "SIZEOF_PEER6", "SIZEOF_TORRENT", "Server", "Store", "StoreFullError",
           "allocation_counts", "failure_body", "parse_hash_lines", "sort_hashes", "WORKERS_MAX"]
