# Large answers built in slices (see bulk.pxd): the full scrape (SPEC.md §6),
# tpbs in every format and statedump (§8, §9), optionally gzipped through
# zlib's C API a slice at a time. top10/top100 and s24s use the same
# machinery; their slices live in stats.pyx.

from libc.string cimport memcpy, memset, strlen


cdef uint8_t *put_state_line(uint8_t *p, const ot_torrent *t) noexcept nogil:
    """`<40 HEX>:<base minutes>:<downloaded>\n` (SPEC.md §9): at most 63 bytes."""
    p = put_hex_upper(p, t.hash)
    p[0] = 58
    p = put_uint(p + 1, t.base)
    p[0] = 58
    p = put_uint(p + 1, t.completed)
    p[0] = 10
    return p + 1


cdef uint8_t *bulk_entry(uint8_t *p, const ot_bulk *b, const ot_torrent *t) noexcept nogil:
    """One torrent's line or entry in the bulk's format."""
    cdef uint32_t seeders = ot_torrent_seeders(t), peers = ot_torrent_peers(t)
    if b.kind == BULK_STATEDUMP:
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
    p[0] = 58
    p = put_uint(p + 1, seeders)
    p[0] = 58
    p = put_uint(p + 1, peers - seeders)
    if b.format == FORMAT_TXTP:
        p[0] = 58
        p = put_uint(p + 1, t.completed)
    p[0] = 10
    return p + 1


cdef enum:
    _ZLIB_STATE = (1 << 17) + (1 << 17)     # deflate's state at windowBits 15, memLevel 8 (zlib.h)
    _BULK_FIRST = 65536                     # the buffer an answer starts with


cdef void bulk_account(ot_bulk *b) noexcept nogil:
    """Bring the answer's share of store.mem_other up to date."""
    cdef size_t now = bulk_memory(b)
    b.store.mem_other = b.store.mem_other - b.accounted + now
    b.accounted = now


cdef bint _bulk_reserve(ot_bulk *b, size_t more) noexcept nogil:
    """Room for `more` bytes after b.len, within the memory budget."""
    cdef size_t cap
    cdef uint8_t *data
    if b.len + more <= b.cap:
        return True
    cap = b.cap * 2
    while cap < b.len + more:
        cap *= 2
    if _over_budget(b.store, cap - b.cap):
        return False
    data = <uint8_t *>ot_realloc(b.data, cap)
    if data == NULL:
        return False
    b.data = data
    b.cap = cap
    bulk_account(b)
    return True


cdef bint bulk_append(ot_bulk *b, const uint8_t *src, size_t n, bint finish) noexcept nogil:
    """Append body bytes, through the compressor when gzipping."""
    cdef int rc
    if not b.gzip:
        if not _bulk_reserve(b, n):
            return False
        memcpy(b.data + b.len, src, n)
        b.len += n
        return True
    b.zs.next_in = <Bytef *>src
    b.zs.avail_in = <uInt>n
    while True:
        if not _bulk_reserve(b, 16384):
            return False
        b.zs.next_out = b.data + b.len
        b.zs.avail_out = <uInt>(b.cap - b.len)
        rc = deflate(&b.zs, Z_FINISH if finish else Z_NO_FLUSH)
        b.len = b.cap - b.zs.avail_out
        if finish:
            if rc == Z_STREAM_END:
                return True
            if rc != Z_OK and rc != Z_BUF_ERROR:
                return False
        elif b.zs.avail_in == 0 and b.zs.avail_out != 0:
            return True
        elif rc != Z_OK and rc != Z_BUF_ERROR:
            return False


cdef void bulk_free(ot_bulk *b) noexcept nogil:
    if b == NULL:
        return
    if b.gzip:
        deflateEnd(&b.zs)
    if b.aux != NULL:
        b.ops.aux_free(b.aux)
    b.store.mem_other -= b.accounted
    ot_free(b.data)
    ot_free(b)


cdef size_t bulk_memory(const ot_bulk *b) noexcept nogil:
    """Bytes this answer holds now: buffer, working state, and zlib's own
    state (zlib.h: (1 << (windowBits + 2)) + (1 << (memLevel + 9)), here
    windowBits 15 and memLevel 8)."""
    cdef size_t n = sizeof(ot_bulk) + b.cap + (b.ops.aux_memory(b.aux) if b.aux != NULL else 0)
    if b.gzip:
        n += _ZLIB_STATE
    return n


cdef int bulk_begin(ot_server *s, ot_conn *c, int kind, int fmt, bint gzip, const ot_bulk_ops *ops,
                    void *aux) noexcept nogil:
    """Take the connection over for a large answer; the loop builds it a
    slice per turn (bulk_step) and sends it when complete. `aux` (owned from
    here on, freed with the answer by ops.aux_free) is a BULK_WALK's working
    state. Returns 0, or -1 when memory is short or the memory budget would
    be exceeded (the caller answers 500)."""
    cdef ot_bulk *b
    if _over_budget(s.store, sizeof(ot_bulk) + _BULK_FIRST + (_ZLIB_STATE if gzip else 0)):
        if aux != NULL:
            ops.aux_free(aux)
        return -1
    b = <ot_bulk *>ot_malloc(sizeof(ot_bulk))
    if b == NULL:
        if aux != NULL:
            ops.aux_free(aux)
        return -1
    memset(b, 0, sizeof(ot_bulk))
    b.fd = c.fd
    b.kind = <uint8_t>kind
    b.format = <uint8_t>fmt
    b.ops = ops
    b.aux = aux
    b.store = s.store
    b.data = <uint8_t *>ot_malloc(_BULK_FIRST)
    if b.data == NULL:
        bulk_free(b)
        return -1
    b.cap = _BULK_FIRST
    b.len = OT_HTTP_HEAD_ROOM
    if gzip:
        # windowBits 31 = gzip framing. Level 1 instead of the original's 7:
        # the hashes do not compress at any level, so the answer is barely
        # larger, at a fraction of the CPU, and each slice (so each announce
        # waiting behind it) stays short.
        if deflateInit2(&b.zs, Z_BEST_SPEED, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK:
            bulk_free(b)
            return -1
        b.gzip = 1
    bulk_account(b)
    if _bencoded(b) and not bulk_append(b, <const uint8_t *>b"d5:filesd", 9, False):
        bulk_free(b)
        return -1
    c.bulk = b
    c.state = OT_CONN_BUILDING
    b.next = s.bulk_head
    s.bulk_head = b
    return 0


cdef inline bint _bencoded(const ot_bulk *b) noexcept nogil:
    return b.kind == BULK_FULLSCRAPE or (b.kind == BULK_TPBS and b.format == FORMAT_BEN)


cdef bint bulk_slice(ot_server *s, ot_bulk *b, uint8_t *stage) noexcept nogil:
    """Do the next slice of work. Returns True when the answer is over: the
    body is then complete (trailer and gzip end included), or b.len is 0
    when memory ran out (the caller answers 500)."""
    cdef bint done
    if b.kind == BULK_WALK:
        done = b.ops.slice(s, b)
    else:
        done = _scrape_slice(s, b, stage)
    bulk_account(b)
    return done


cdef inline ot_torrent *bulk_walk_first(ot_server *s, const ot_bulk *b) noexcept nogil:
    """Where a walk over every torrent resumes: the torrent after the
    cursor, in ascending info_hash order (NULL: the walk is over). A torrent
    added or removed between slices is seen or missed, never visited twice."""
    return store_next(s.store, b.cursor if b.has_cursor else NULL)


cdef inline ot_torrent *bulk_walk_next(ot_server *s, ot_bulk *b, const ot_torrent *t) noexcept nogil:
    """Mark t walked (the cursor) and return the torrent after it."""
    memcpy(b.cursor, t.hash, OT_HASH_SIZE)
    b.has_cursor = 1
    return store_next(s.store, t.hash)


cdef bint _scrape_slice(ot_server *s, ot_bulk *b, uint8_t *stage) noexcept nogil:
    """The next s.bulk_slice torrents of a full scrape, tpbs or statedump in
    ascending info_hash order, resuming after the cursor: a torrent added or
    removed between slices is seen or missed, never listed twice. Torrents
    are listed as stored, without cleaning them first (SPEC.md §6)."""
    cdef ot_torrent *t = bulk_walk_first(s, b)
    cdef uint8_t *p = stage
    cdef uint32_t n = 0
    while t != NULL and n < s.bulk_slice:
        if p - stage > OT_BULK_STAGE - OT_BULK_ENTRY_MAX:
            if not bulk_append(b, stage, <size_t>(p - stage), False):
                b.len = 0
                return True
            p = stage
        p = bulk_entry(p, b, t)
        n += 1
        t = bulk_walk_next(s, b, t)
    if t == NULL and _bencoded(b):
        p = put_raw(p, b"ee", 2)
    if not bulk_append(b, stage, <size_t>(p - stage), t == NULL):
        b.len = 0
        return True
    if t == NULL and b.kind != BULK_STATEDUMP:
        # fscr counts for real (DESIGN.md point 4): full-scrape answers,
        # GET /scrape and tpbs alike, and their size as sent.
        s.ctr.fullscrapes += 1
        s.ctr.fullscrape_size += b.len - OT_HTTP_HEAD_ROOM
    return t == NULL


# ---------------------------------------------------------------- scheduling

cdef void bulk_detach(ot_server *s, ot_bulk *b) noexcept nogil:
    cdef ot_bulk **pp = &s.bulk_head
    while pp[0] != NULL:
        if pp[0] == b:
            pp[0] = b.next
            b.next = NULL
            return
        pp = &pp[0].next


cdef ot_bulk *bulk_step(ot_server *s) noexcept nogil:
    """One slice of one answer under construction per loop turn, taking the
    answers in turn: however many full scrapes are being built, an announce
    waits behind at most one slice. Returns a finished answer, out of the
    line, for the loop to send (b.len == 0: answer 500), or NULL."""
    cdef ot_bulk *b = s.bulk_head
    cdef ot_bulk *last
    if b == NULL:
        return NULL
    if not bulk_slice(s, b, s.bulk_stage):
        # Not done: to the back of the line.
        if b.next != NULL:
            s.bulk_head = b.next
            last = b.next
            while last.next != NULL:
                last = last.next
            last.next = b
            b.next = NULL
        return NULL
    bulk_detach(s, b)
    return b
