# Large answers, produced a slice per loop turn and streamed to their
# readers as the sockets drain: the full scrape, tpbs and statedump
# (answers.pyx), and the stats walks over every torrent or peer, top10/top100
# (top.pyx), s24s (s24s.pyx) and the status page (statuspage.pyx).
#
# An answer's body lives in a chain of blocks. A reader (a connection,
# stream.pyx) holds its place in the body; a block is freed once every reader
# is past it, and a slice is made only while the readers are less than
# OT_STREAM_WINDOW behind. So per requester the tracker holds a slice or two
# plus what the kernel has not yet taken, never the whole body.
#
# A full scrape may be shared: while tracker.fullscrape_cache is on, the
# answer keeps every block from the start so that requesters arriving while
# it is made, or up to that many seconds after it is complete, read the
# same body instead of making their own. Its blocks count against the
# memory budget; when the budget cannot take more, it stops being shared
# and becomes a plain stream for the readers it has.
#
# Memory: an answer reserves its working set (the answer, its compressor,
# OT_STREAM_BLOCKS blocks) in the budget before its first slice, and
# accounts what it holds beyond that as it grows. The loop keeps
# ot_tracker.answer_reserve of the budget for answers alone, so a large answer is
# served even when the torrents have filled the budget; an answer that
# cannot be admitted waits for memory instead of being refused.

from libc.stdint cimport uint8_t, uint32_t, int32_t, uint64_t, int64_t


cdef enum:
    ANSWER_FULLSCRAPE = 1       # bencoded, ascending info_hash
    ANSWER_TPBS = 2             # full scrape in ot_answer.format
    ANSWER_STATEDUMP = 3        # <HEX>:<base>:<downloaded> lines
    ANSWER_WALK = 4             # a stats walk with its own slice (ot_answer.ops): top10/100, s24s, status page

    # Torrents formatted per slice by default (ot_tracker.answer_slice), and the
    # staging room for one batch before encoding: an entry is at most 124
    # bytes (bencoded) or 64 (text formats). A scrape slice also stops once
    # OT_STREAM_SLICE_OUT bytes per torrent of the slice size are staged
    # (8 KiB at the default), so one slice adds at most that plus one entry
    # to its answer; the walks write their result (at most ops.output_max)
    # into the stage once, at the end.
    OT_ANSWER_SLICE = 256
    OT_ANSWER_STAGE = 512 * 124 + 64
    OT_ANSWER_ENTRY_MAX = 256

    # One block of an answer's body, from mmap (header included). A reader
    # is sent what it has not yet taken, a chunk per send.
    OT_STREAM_BLOCK = 16384
    # Slices are made while the slowest reader is less than this behind.
    OT_STREAM_WINDOW = 16384
    OT_STREAM_SLICE_OUT = 32
    # Blocks a streamed scrape holds at most: the window touches two (the
    # one being read and the one being filled) and a slice may start a
    # third. Reserved in the budget when the answer is admitted.
    OT_STREAM_BLOCKS = 3
    # The kernel send buffer asked for on a large answer's socket (Linux
    # doubles it for its bookkeeping): 128 KiB of kernel memory per reader.
    OT_STREAM_SNDBUF = 65536


    # s24s scales with the slice size (ot_tracker.answer_slice): peers walked
    # per slice, at most (a slice stops after the torrent that crosses it);
    # keys sorted or counted, or table slots merged, per step; the sort's
    # memory, at most; and the counting table's size, at most, in slots of
    # 16 bytes. At the default: 32768 peers and 131072 keys or slots (a
    # millisecond or two per loop turn), 8 MiB and 1 MiB.
    OT_S24S_PEERS_PER_SLICE_TORRENT = 128
    OT_S24S_KEYS_PER_SLICE_TORRENT = 512
    OT_S24S_SORT_BYTES_PER_SLICE_TORRENT = 32768
    OT_S24S_SLOTS_PER_SLICE_TORRENT = 256

cdef struct ot_worker
cdef struct ot_answer


cdef struct ot_answer_ops:
    # A walk that is not a list of torrents (top.pyx, s24s.pyx,
    # statuspage.pyx): its slice, how its working state (ot_answer.aux) is
    # freed and counted, and the most its result takes.
    bint (*slice)(ot_worker *w, ot_answer *b) noexcept nogil
    void (*aux_free)(void *aux) noexcept nogil
    size_t (*aux_memory)(const void *aux) noexcept nogil
    const char *content_type  # the answer's Content-Type; NULL: text/plain
    size_t output_max


cdef struct ot_block:
    ot_block *next
    size_t len                # body bytes in this block, after the header


cdef struct ot_answer:
    uint8_t kind
    uint8_t format            # ANSWER_TPBS: FORMAT_*; top10/top100: 10 or 100
    uint8_t encoding          # ENC_*
    uint8_t has_cursor
    uint8_t cursor[20]        # the last hash walked; the walk resumes after it
    uint8_t admitted          # its working set is reserved and its encoder started
    uint8_t in_line           # in ot_worker.answer_head: a slice is due
    uint8_t done              # the body is complete (trailer and encoder end included)
    uint8_t failed            # it stopped short (memory): readers are cut off
    uint8_t shared            # ot_tracker.shared[encoding] is this answer: new readers may join
    ot_encoder enc
    const ot_answer_ops *ops  # ANSWER_WALK: the walk's slice and state
    void *aux                 # ANSWER_WALK: the walk's working state, freed by answer_free
    ot_block *first           # the oldest block still held (body offset first_at)
    ot_block *last            # the block being filled
    uint64_t first_at
    uint64_t produced         # body bytes made so far
    uint32_t blocks           # blocks held
    uint32_t readers          # connections reading it
    int32_t reader            # the first of them (fds, linked through ot_reader.rnext); -1: none
    int64_t expires_ms        # shared and done: joinable until then (monotonic ms)
    size_t reserved           # its working set, reserved when admitted
    size_t accounted          # what it counts in the answers' memory now: max(reserved, held)
    ot_worker *maker          # the worker whose line makes its slices
    ot_answer *next           # in the line of answers with a slice due
    ot_answer *next_all       # in the list of every answer (ot_tracker.answers)
