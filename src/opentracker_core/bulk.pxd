# Large answers (full scrape, tpbs, statedump) built in slices between loop
# turns, so announces keep flowing while they grow; sent with a
# Content-Length once complete, as the original does.

from libc.stdint cimport uint8_t, uint32_t, int32_t
from opentracker_core.includes.czlib cimport z_stream


cdef enum:
    BULK_FULLSCRAPE = 1       # bencoded, ascending info_hash
    BULK_TPBS = 2             # full scrape in ot_bulk.format
    BULK_STATEDUMP = 3        # <HEX>:<base>:<downloaded> lines

    # Torrents formatted per slice, and the staging room for them: an entry
    # is at most 124 bytes (bencoded) or 64 (text formats).
    OT_BULK_SLICE = 512
    OT_BULK_STAGE = 512 * 124 + 64


cdef struct ot_bulk:
    int32_t fd
    uint8_t kind
    uint8_t format
    uint8_t gzip
    uint8_t has_cursor
    uint8_t cursor[20]        # the last hash written; the walk resumes after it
    uint8_t *data             # OT_HTTP_HEAD_ROOM bytes kept free, then the (compressed) body
    size_t len
    size_t cap
    z_stream zs
    ot_bulk *next
