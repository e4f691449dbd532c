# Large answers built in slices between loop turns, so announces keep flowing
# while they grow; sent with a Content-Length once complete, as the original
# does: the full scrape, tpbs and statedump (bulk.pyx), and the stats walks
# over every torrent or peer, top10/top100 (top.pyx) and s24s (s24s.pyx).
#
# The loop calls bulk_step() once per turn: it builds one slice of the
# answer at the head of the line and hands back a finished one (len == 0
# then means "answer 500"); http_bulk_head() puts the header in front.
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
    BULK_WALK = 4             # a stats walk with its own slice (ot_bulk.ops): top10/100, s24s

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

cdef struct ot_server
cdef struct ot_bulk


cdef struct ot_bulk_ops:
    # A walk that is not a list of torrents (top.pyx, s24s.pyx): its slice,
    # and how its working state (ot_bulk.aux) is freed and counted.
    bint (*slice)(ot_server *s, ot_bulk *b) noexcept nogil
    void (*aux_free)(void *aux) noexcept nogil
    size_t (*aux_memory)(const void *aux) noexcept nogil
    const char *content_type  # the answer's Content-Type; NULL: text/plain


cdef struct ot_bulk:
    int32_t fd
    uint8_t kind
    uint8_t format            # BULK_TPBS: FORMAT_*; top10/top100: 10 or 100
    uint8_t gzip
    uint8_t has_cursor
    uint8_t cursor[20]        # the last hash walked; the walk resumes after it
    uint8_t *data             # OT_HTTP_HEAD_ROOM bytes kept free, then the (compressed) body
    size_t len
    size_t cap
    z_stream zs
    const ot_bulk_ops *ops    # BULK_WALK: the walk's slice and state
    void *aux                 # BULK_WALK: the walk's working state, freed by bulk_free
    ot_store *store           # whose memory budget the answer counts against, while it is built:
    size_t accounted          # the bytes it has added to store.mem_other
    ot_bulk *next
