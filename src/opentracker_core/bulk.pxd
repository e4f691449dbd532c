# Large answers built in slices between loop turns, so announces keep flowing
# while they grow; sent with a Content-Length once complete, as the original
# does: the full scrape, tpbs and statedump (bulk.pyx), and the stats modes
# that walk every torrent or peer, top10/top100 and s24s (stats.pyx).
#
# The loop calls bulk_slice() once per turn for every answer under
# construction; it returns True when the body is complete (len == 0 then
# means "answer 500"), and bulk_finish_header() puts the header in front.
#
# While an answer is built its memory counts against tracker.memory_limit
# (in ot_store.mem_other): a build that would take the core past its budget
# stops and is answered 500, the original's answer when memory runs out,
# instead of taking the process to the kernel's OOM killer.

from libc.stdint cimport uint8_t, uint32_t, int32_t
from opentracker_core.includes.czlib cimport z_stream


cdef enum:
    BULK_FULLSCRAPE = 1       # bencoded, ascending info_hash
    BULK_TPBS = 2             # full scrape in ot_bulk.format
    BULK_STATEDUMP = 3        # <HEX>:<base>:<downloaded> lines
    BULK_TOP = 4              # top10/top100: the leaders kept in ot_bulk.aux
    BULK_S24S = 5             # peers per network: gather keys, sort, count

    # Torrents formatted per slice by default (ot_server.bulk_slice), and the
    # staging room for one batch before compression: an entry is at most 124
    # bytes (bencoded) or 64 (text formats); the stage is flushed whenever
    # less than OT_BULK_ENTRY_MAX is left, so any slice size is safe.
    OT_BULK_SLICE = 256
    OT_BULK_STAGE = 512 * 124 + 64
    OT_BULK_ENTRY_MAX = 256

    # s24s steps scale with the slice size (ot_server.bulk_slice): peers
    # gathered per slice, at most (a slice stops after the torrent that
    # crosses it), and keys handled per sorting or counting step. At the
    # default, 65536 and 262144: a millisecond or two per loop turn.
    OT_S24S_PEERS_PER_SLICE_TORRENT = 128
    OT_S24S_KEYS_PER_SLICE_TORRENT = 512

cdef struct ot_bulk:
    int32_t fd
    uint8_t kind
    uint8_t format            # BULK_TPBS: FORMAT_*; BULK_TOP: 10 or 100
    uint8_t gzip
    uint8_t has_cursor
    uint8_t cursor[20]        # the last hash walked; the walk resumes after it
    uint8_t *data             # OT_HTTP_HEAD_ROOM bytes kept free, then the (compressed) body
    size_t len
    size_t cap
    z_stream zs
    void *aux                 # BULK_TOP / BULK_S24S working state, freed by bulk_free
    ot_store *store           # whose memory budget the answer counts against, while it is built:
    size_t accounted          # the bytes it has added to store.mem_other
    ot_bulk *next
