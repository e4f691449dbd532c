# Large answers made in slices and kept in blocks (see answers.pxd and
# docs/large-answers.md): the full scrape, tpbs in every format and statedump
# (docs/compatibility.md, "Full scrape", "tpbs", "State dump"), encoded a
# slice at a time (encode.pyx). top10/top100, s24s and the status page use
# the same machinery with their own slices. Sending is stream.pyx's; this
# file decides what is made, when, and what memory it may take.

from libc.string cimport memcpy, memset, strlen


cdef uint8_t *put_state_line(uint8_t *p, const ot_torrent *t) noexcept nogil:
    """`<40 HEX>:<base minutes>:<downloaded>\n` (docs/compatibility.md,
    "State dump"): at most 63 bytes."""
    p = put_hex_upper(p, t.hash)
    p[0] = c':'
    p = put_uint(p + 1, t.base)
    p[0] = c':'
    p = put_uint(p + 1, t.completed)
    p[0] = c'\n'
    return p + 1


cdef uint8_t *answer_entry(uint8_t *p, const ot_answer *b, const ot_torrent *t) noexcept nogil:
    """One torrent's line or entry in the answer's format."""
    cdef uint32_t seeders = ot_torrent_seeders(t), peers = ot_torrent_peers(t)
    if b.kind == ANSWER_STATEDUMP:
        return put_state_line(p, t)
    if b.format == FORMAT_BEN:
        return write_scrape_entry(p, t)
    if b.format == FORMAT_BIN:
        memcpy(p, t.hash, OT_HASH_SIZE)
        ot_store_be32(p + 20, seeders)
        ot_store_be32(p + 24, peers - seeders)
        return p + 28
    if b.format == FORMAT_URL:
        p = put_url_hash(p, t.hash)
    else:
        p = put_hex_upper(p, t.hash)
    p[0] = c':'
    p = put_uint(p + 1, seeders)
    p[0] = c':'
    p = put_uint(p + 1, peers - seeders)
    if b.format == FORMAT_TXTP:
        p[0] = c':'
        p = put_uint(p + 1, t.completed)
    p[0] = c'\n'
    return p + 1



# ---------------------------------------------------------------- blocks and memory

cdef inline uint8_t *block_data(ot_block *blk) noexcept nogil:
    return (<uint8_t *>blk) + sizeof(ot_block)


cdef inline size_t block_room() noexcept nogil:
    return OT_STREAM_BLOCK - sizeof(ot_block)


cdef size_t answer_memory(const ot_answer *b) noexcept nogil:
    """Bytes this answer holds now: itself, its blocks, its encoder's state
    (counted as allocated) and a walk's working state."""
    return (sizeof(ot_answer) + <size_t>b.blocks * OT_STREAM_BLOCK + b.enc.held
            + (b.ops.aux_memory(b.aux) if b.aux != NULL else 0))


cdef void answers_reserve_init(ot_worker *w) noexcept nogil:
    """Keep one answer's working set at its largest (the status page: five
    blocks, the biggest compressor, its leader list) in the budget for the
    large answers alone, so one is served even when the torrents have filled
    the budget. Charged from the start, whether used or not."""
    cdef size_t state = encoder_state_max(ENC_GZIP)
    if encoder_state_max(ENC_ZSTD) > state:
        state = encoder_state_max(ENC_ZSTD)
    w.t.answer_reserve = 5 * OT_STREAM_BLOCK + state + 8192
    store_charge_other(w.t.store, <int64_t>w.t.answer_reserve)


cdef void answers_reserve_free(ot_worker *w) noexcept nogil:
    store_charge_other(w.t.store, -<int64_t>_answers_charge(w, w.t.answers_held))
    w.t.answer_reserve = 0


cdef inline uint64_t _answers_charge(const ot_worker *w, uint64_t held) noexcept nogil:
    return held if held > w.t.answer_reserve else w.t.answer_reserve


cdef void answers_charge(ot_worker *w, int64_t delta) noexcept nogil:
    """Move the answers' memory by delta, and their charge in the budget
    (ot_store.mem_other) with it."""
    cdef uint64_t before = _answers_charge(w, w.t.answers_held)
    w.t.answers_held = <uint64_t>(<int64_t>w.t.answers_held + delta)
    if _answers_charge(w, w.t.answers_held) != before:
        store_charge_other(w.t.store, <int64_t>(_answers_charge(w, w.t.answers_held) - before))


cdef bint answers_may_take(ot_worker *w, size_t more) noexcept nogil:
    """Would `more` bytes of answers stay inside the budget? The reserve
    comes first; beyond it answers compete with the torrents."""
    cdef uint64_t extra = _answers_charge(w, w.t.answers_held + more) - _answers_charge(w, w.t.answers_held)
    return extra == 0 or not _over_budget(w.t.store, extra)


cdef void answer_account(ot_worker *w, ot_answer *b) noexcept nogil:
    """Bring the answer's share of the answers' memory up to date: its
    reservation, or what it holds when that is more."""
    cdef size_t now = answer_memory(b)
    if now < b.reserved:
        now = b.reserved
    answers_charge(w, <int64_t>now - <int64_t>b.accounted)
    b.accounted = now


cdef bint _may_grow(ot_worker *w, ot_answer *b, size_t more) noexcept nogil:
    cdef size_t now = answer_memory(b) + more
    if now <= b.accounted:
        return True
    return answers_may_take(w, now - b.accounted)


cdef ot_block *_block_new(ot_worker *w, ot_answer *b) noexcept nogil:
    cdef ot_block *blk
    if not _may_grow(w, b, OT_STREAM_BLOCK):
        return NULL
    blk = <ot_block *>ot_pages_alloc(OT_STREAM_BLOCK)
    if blk == NULL:
        return NULL
    blk.next = NULL
    blk.len = 0
    if b.last != NULL:
        b.last.next = blk
    else:
        b.first = blk
        b.first_at = b.produced
    b.last = blk
    b.blocks += 1
    answer_account(w, b)
    return blk


cdef bint answer_append(ot_answer *b, const uint8_t *src, size_t n, bint finish) noexcept nogil:
    """Append body bytes through the answer's encoder; with `finish`, end
    the coding. False when memory is short or the encoder failed."""
    cdef ot_worker *w = b.maker
    cdef uint8_t *dst
    cdef size_t room, before
    cdef int rc
    if n == 0 and not (finish and b.encoding != ENC_IDENTITY):
        return True
    while True:
        if b.last == NULL or b.last.len == block_room():
            if _block_new(w, b) == NULL:
                return False
        dst = block_data(b.last) + b.last.len
        room = block_room() - b.last.len
        before = room
        rc = encoder_run(&b.enc, &src, &n, finish, &dst, &room)
        b.last.len += before - room
        b.produced += before - room
        if rc == ENC_ERROR:
            return False
        if rc == ENC_DONE:
            break
    answer_account(w, b)
    return True


cdef void _blocks_free_before(ot_worker *w, ot_answer *b, uint64_t at) noexcept nogil:
    """Free the blocks that end at or before body offset `at` (never the
    one being filled)."""
    cdef ot_block *blk
    cdef bint freed = False
    while b.first != NULL and b.first != b.last and b.first_at + b.first.len <= at:
        blk = b.first
        b.first = blk.next
        b.first_at += blk.len
        ot_pages_free(blk, OT_STREAM_BLOCK)
        b.blocks -= 1
        freed = True
    if freed:
        answer_account(w, b)


cdef uint64_t answer_slowest(ot_worker *w, const ot_answer *b, bint block_start) noexcept nogil:
    """Where the slowest reader is: its body offset, or with block_start the
    start of the block it reads (a reader that has not begun is at 0)."""
    cdef int32_t fd = b.reader
    cdef uint64_t low = b.produced
    cdef ot_conn *c
    while fd >= 0:
        c = &w.conns[fd]
        if block_start:
            if c.rd.blk == NULL:
                return 0
            if c.rd.blk_at < low:
                low = c.rd.blk_at
        elif c.rd.pos < low:
            low = c.rd.pos
        fd = c.rd.rnext
    return low


cdef void answer_release(ot_worker *w, ot_answer *b) noexcept nogil:
    """Free what every reader has passed, unless the answer is shared (new
    readers start from its first byte)."""
    if not b.shared:
        _blocks_free_before(w, b, answer_slowest(w, b, True))


# ---------------------------------------------------------------- the line and the list

cdef void answer_line_push(ot_worker *w, ot_answer *b) noexcept nogil:
    """Put the answer at the back of the line of answers with a slice due."""
    if b.in_line:
        return
    b.next = NULL
    if w.answer_tail != NULL:
        w.answer_tail.next = b
    else:
        w.answer_head = b
    w.answer_tail = b
    b.in_line = 1


cdef ot_answer *_line_pop(ot_worker *w) noexcept nogil:
    cdef ot_answer *b = w.answer_head
    if b == NULL:
        return NULL
    w.answer_head = b.next
    if w.answer_head == NULL:
        w.answer_tail = NULL
    b.next = NULL
    b.in_line = 0
    return b


cdef void _line_remove(ot_worker *w, ot_answer *b) noexcept nogil:
    cdef ot_answer *prev = NULL
    cdef ot_answer *x = w.answer_head
    if not b.in_line:
        return
    while x != NULL and x != b:
        prev = x
        x = x.next
    if x == NULL:
        return
    if prev == NULL:
        w.answer_head = b.next
    else:
        prev.next = b.next
    if w.answer_tail == b:
        w.answer_tail = prev
    b.next = NULL
    b.in_line = 0


cdef void answer_free(ot_worker *w, ot_answer *b) noexcept nogil:
    """Free an answer that is in no line, list or shared slot."""
    cdef ot_block *blk
    if b == NULL:
        return
    encoder_end(&b.enc)
    if b.aux != NULL:
        b.ops.aux_free(b.aux)
        b.aux = NULL
    while b.first != NULL:
        blk = b.first
        b.first = blk.next
        ot_pages_free(blk, OT_STREAM_BLOCK)
    answers_charge(w, -<int64_t>b.accounted)
    ot_free(b)


cdef void answer_drop(ot_worker *w, ot_answer *b) noexcept nogil:
    """Take an answer out of everything and free it; answers waiting for
    memory get another chance."""
    cdef ot_answer **pp = &w.t.answers
    _line_remove(w, b)
    if w.t.shared[b.encoding] == b:
        w.t.shared[b.encoding] = NULL
    while pp[0] != NULL:
        if pp[0] == b:
            pp[0] = b.next_all
            break
        pp = &pp[0].next_all
    answer_free(w, b)
    _wake_waiting(w)


cdef void _wake_waiting(ot_worker *w) noexcept nogil:
    cdef ot_answer *b = w.t.answers
    while b != NULL:
        if not b.admitted and not b.in_line and b.readers:
            answer_line_push(w, b)
        b = b.next_all


cdef void answer_unshare(ot_worker *w, ot_answer *b) noexcept nogil:
    """No new readers from now on; the blocks its readers have passed go."""
    if w.t.shared[b.encoding] == b:
        w.t.shared[b.encoding] = NULL
    b.shared = 0
    answer_release(w, b)


cdef void answer_expire(ot_worker *w) noexcept nogil:
    """Shared answers past their time stop being offered; those nobody
    reads any more are freed (each loop tick)."""
    cdef ot_answer *b = w.t.answers
    cdef ot_answer *next
    while b != NULL:
        next = b.next_all
        if b.shared and b.done and w.mono_ms >= b.expires_ms:
            answer_unshare(w, b)
            if b.readers == 0:
                answer_drop(w, b)
        b = next


# ---------------------------------------------------------------- served

cdef void answer_served(ot_worker *w, const ot_answer *b) noexcept nogil:
    """A reader got the whole body. fscr counts for real
    (docs/compatibility.md, "Quirks fixed"): full-scrape answers, GET /scrape
    and tpbs alike, and their size as sent."""
    if b.kind == ANSWER_FULLSCRAPE or b.kind == ANSWER_TPBS:
        w.ctr.fullscrapes += 1
        w.ctr.fullscrape_size += b.produced


# ---------------------------------------------------------------- starting and making

cdef int answer_begin(ot_worker *w, int kind, int fmt, int encoding, const ot_answer_ops *ops,
                    void *aux) noexcept nogil:
    """Begin a large answer for the request being answered, made a slice
    per loop turn (answer_step) and streamed as it is made: it is left in
    w.handover, where the connection takes it up (conn.pyx,
    conn_stream_start). `aux` (owned from here on, freed with the answer by
    ops.aux_free) is a ANSWER_WALK's working state. Memory is reserved when
    the first slice is due, not here: a request that finds the budget taken
    waits for it. Returns 0, or -1 when even the answer's own struct cannot
    be allocated (the caller answers 500)."""
    cdef ot_answer *b = <ot_answer *>ot_malloc(sizeof(ot_answer))
    if b == NULL:
        if aux != NULL:
            ops.aux_free(aux)
        return -1
    memset(b, 0, sizeof(ot_answer))
    b.kind = <uint8_t>kind
    b.format = <uint8_t>fmt
    b.encoding = <uint8_t>encoding
    b.ops = ops
    b.aux = aux
    b.reader = -1
    b.maker = w
    b.next_all = w.t.answers
    w.t.answers = b
    answer_account(w, b)
    answer_line_push(w, b)
    w.handover = b
    return 0


cdef bint answer_join_shared(ot_worker *w, int encoding) noexcept nogil:
    """Answer with the shared full scrape of this encoding (left in
    w.handover), when there is one that is still offered: being made, or
    complete for less than tracker.fullscrape_cache seconds."""
    cdef ot_answer *b = w.t.shared[encoding]
    if b == NULL or b.failed or (b.done and w.mono_ms >= b.expires_ms):
        return False
    w.handover = b
    w.ctr.fullscrapes_shared += 1
    return True


cdef void answer_share(ot_worker *w, ot_answer *b) noexcept nogil:
    """Offer b to later requesters of its encoding, in place of an older
    shared answer (whose readers keep it)."""
    cdef ot_answer *old = w.t.shared[b.encoding]
    if old != NULL:
        answer_unshare(w, old)
        if old.readers == 0:
            answer_drop(w, old)
    w.t.shared[b.encoding] = b
    b.shared = 1


cdef inline bint _bencoded(const ot_answer *b) noexcept nogil:
    return b.kind == ANSWER_FULLSCRAPE or (b.kind == ANSWER_TPBS and b.format == FORMAT_BEN)


cdef size_t _working_set(const ot_answer *b) noexcept nogil:
    """What an answer reserves when admitted: itself, its encoder, and the
    blocks a slice and the window need (for a walk, its whole result)."""
    cdef size_t blocks = OT_STREAM_BLOCKS
    if b.kind == ANSWER_WALK:
        blocks = b.ops.output_max // block_room() + 2
    return (sizeof(ot_answer) + encoder_state_max(b.encoding) + blocks * OT_STREAM_BLOCK
            + (b.ops.aux_memory(b.aux) if b.aux != NULL else 0))


cdef bint _admit(ot_worker *w, ot_answer *b) noexcept nogil:
    """Reserve the working set and start the encoder; False when the budget
    cannot take it now (the answer waits). A failure past the budget marks
    the answer failed (its readers get 500)."""
    cdef size_t need = _working_set(b)
    if need > b.accounted and not answers_may_take(w, need - b.accounted):
        return False
    b.reserved = need
    b.admitted = 1
    answer_account(w, b)
    if not encoder_begin(&b.enc, b.encoding):
        b.failed = 1
        b.done = 1
        return True
    if _bencoded(b) and not answer_append(b, <const uint8_t *>b"d5:filesd", 9, False):
        b.failed = 1
        b.done = 1
    return True


cdef bint answer_wants_slice(ot_worker *w, ot_answer *b) noexcept nogil:
    """Is a slice due: someone reads, the body is not complete, and the
    slowest reader is close enough behind (a shared answer keeps every
    block, so it goes on while the budget lets it grow)?"""
    if b.readers == 0 or b.done:
        return False
    if not b.admitted:
        return True
    if b.shared:
        if _may_grow(w, b, 2 * OT_STREAM_BLOCK):
            return True
        answer_unshare(w, b)
    return b.produced - answer_slowest(w, b, False) < OT_STREAM_WINDOW


cdef bint answer_slice(ot_worker *w, ot_answer *b, uint8_t *stage) noexcept nogil:
    """Make the next slice. Returns True when the answer is over: the body
    is complete (trailer and encoder end included), or b.failed is set."""
    cdef bint done
    if b.kind == ANSWER_WALK:
        done = b.ops.slice(w, b)
    else:
        done = _scrape_slice(w, b, stage)
    answer_account(w, b)
    return done or b.failed


cdef inline ot_torrent *answer_walk_first(ot_worker *w, const ot_answer *b, ot_walk *wk) noexcept nogil:
    """Where a walk over every torrent resumes: the torrent after the
    cursor, in ascending info_hash order (NULL: the walk is over). A torrent
    added or removed between slices is seen or missed, never visited twice.
    The walk holds the torrent's bucket lock (store_walk.pyx): a slice ends
    it with answer_walk_end before anything that may enter the kernel."""
    return store_walk_first(w.t.store, wk, b.cursor if b.has_cursor else NULL)


cdef inline ot_torrent *answer_walk_next(ot_worker *w, ot_answer *b, ot_walk *wk,
                                         const ot_torrent *t) noexcept nogil:
    """Mark t walked (the cursor) and return the torrent after it."""
    memcpy(b.cursor, t.hash, OT_HASH_SIZE)
    b.has_cursor = 1
    return store_walk_next(w.t.store, wk)


cdef inline void answer_walk_end(ot_walk *wk) noexcept nogil:
    store_walk_end(wk)


cdef bint _scrape_slice(ot_worker *w, ot_answer *b, uint8_t *stage) noexcept nogil:
    """The next w.t.answer_slice torrents (or their OT_STREAM_SLICE_OUT bytes each) of a
    full scrape, tpbs or statedump in ascending info_hash order, resuming
    after the cursor: a torrent added or removed between slices is seen or
    missed, never listed twice. Torrents are listed as stored, without
    cleaning them first (docs/compatibility.md, "Full scrape")."""
    cdef ot_walk wk
    cdef ot_torrent *t = answer_walk_first(w, b, &wk)
    cdef uint8_t *p = stage
    cdef uint32_t n = 0
    cdef uint64_t out_max = <uint64_t>w.t.answer_slice * OT_STREAM_SLICE_OUT
    while t != NULL and n < w.t.answer_slice and <uint64_t>(p - stage) < out_max:
        if p - stage > OT_ANSWER_STAGE - OT_ANSWER_ENTRY_MAX:
            # Only with a slice size past the default (a test's control that
            # makes answers whole): the stage goes into the answer first,
            # the walk's lock given back (a new block is mapped), and the
            # walk resumes after the cursor.
            answer_walk_end(&wk)
            if not answer_append(b, stage, <size_t>(p - stage), False):
                b.failed = 1
                return True
            out_max -= <uint64_t>(p - stage)
            p = stage
            t = answer_walk_first(w, b, &wk)
            if t == NULL:
                break
        p = answer_entry(p, b, t)
        n += 1
        t = answer_walk_next(w, b, &wk, t)
    answer_walk_end(&wk)
    if t == NULL and _bencoded(b):
        p = put_raw(p, b"ee", 2)
    if not answer_append(b, stage, <size_t>(p - stage), t == NULL):
        b.failed = 1
        return True
    return t == NULL


cdef ot_answer *answer_step(ot_worker *w) noexcept nogil:
    """One slice of the answer at the head of the line, per loop turn:
    however many large answers are being made, an announce waits behind at
    most one slice. Returns the answer that moved (the loop sends its
    readers what is new), or NULL."""
    cdef ot_answer *b = _line_pop(w)
    if b == NULL:
        return NULL
    if not answer_wants_slice(w, b):
        return NULL
    if not b.admitted:
        if not _admit(w, b):
            if w.t.answers_held > b.accounted:
                return NULL           # waits for the others' memory (_wake_waiting)
            # Nothing else holds answer memory: waiting would be forever.
            b.failed = 1
            b.done = 1
            return b
        if b.done:
            return b                  # failed at the start: its readers get 500
    if answer_slice(w, b, w.answer_stage):
        b.done = 1
        if b.shared:
            b.expires_ms = w.mono_ms + w.t.fullscrape_cache * 1000
    elif answer_wants_slice(w, b):
        answer_line_push(w, b)
    return b
