# cython: language_level=3
# The one extension module: component bodies in dependency order.
include "store.pyx"
include "writers.pyx"
include "access.pyx"
include "ratelimit.pyx"
include "tracker.pyx"
include "http.pyx"
include "udp.pyx"
include "livesync.pyx"
include "stats.pyx"
include "bulk.pyx"
include "loop.pyx"
include "api.pyx"
