# Content codings of streamed answers (answers.pyx): identity, gzip through
# zlib's C API, and zstd when the core is built with it (OT_ZSTD=1).

from libc.stdint cimport uint8_t


cdef enum:
    ENC_IDENTITY = 0
    ENC_GZIP = 1
    ENC_ZSTD = 2
    ENC_COUNT = 3

    # gzip sized for routers: a 4 KiB window (windowBits 12) and memLevel 5
    # take 16 KiB + 16 KiB of deflate state instead of 256 KiB at zlib's
    # defaults. The hashes in a full scrape do not compress at all and the
    # bencoded keys repeat every 70 bytes, so a bigger window finds nothing
    # more: 50,000 torrents give 43.9 % of the plain size here against 42.5 %
    # at windowBits 15 / memLevel 8 (and 38.0 % at the original's level 7,
    # memLevel 9, at several times the CPU). Level 1, as before.
    OT_GZIP_WINDOW_BITS = 12
    OT_GZIP_MEM_LEVEL = 5
    # The state zlib allocates at those settings (counted exactly through
    # ot_zalloc; this is the bound an answer reserves): zlib.h's formula,
    # (1 << (windowBits + 2)) + (1 << (memLevel + 9)), plus its ~6 KiB
    # deflate_state and our 16-byte size prefixes.
    OT_GZIP_STATE_MAX = (1 << (OT_GZIP_WINDOW_BITS + 2)) + (1 << (OT_GZIP_MEM_LEVEL + 9)) + 8192

    # encoder_run's results.
    ENC_MORE_ROOM = 0         # the output room is full: give more and call again
    ENC_DONE = 1              # all input taken (and, when finishing, the stream ended)
    ENC_ERROR = 2


cdef struct ot_encoder:
    uint8_t kind
    uint8_t ready             # initialised: encoder_end has something to free
    size_t held               # bytes the compressor allocated (ot_zalloc counts them)
    z_stream zs
    void *zstd                # ZSTD_CStream *, with OT_ZSTD
