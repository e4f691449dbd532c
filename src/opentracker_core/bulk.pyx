# Large answers built in slices (see bulk.pxd): the full scrape (SPEC.md §6),
# tpbs in every format and statedump (§8, §9), optionally gzipped through
# zlib's C API a slice at a time. top10/top100 and s24s use the same
# machinery; their slices live in stats.pyx.

from libc.string cimport memcpy, memset, strlen


cdef const char *_HEX_UPPER = b"0123456789ABCDEF"
cdef const char *_HEX_LOWER = b"0123456789abcdef"


cdef inline uint8_t *put_hex_upper(uint8_t *p, const uint8_t *hash) noexcept nogil:
    cdef int i
    for i in range(OT_HASH_SIZE):
        p[0] = _HEX_UPPER[hash[i] >> 4]
        p[1] = _HEX_UPPER[hash[i] & 15]
        p += 2
    return p


cdef uint8_t *put_url_hash(uint8_t *p, const uint8_t *hash) noexcept nogil:
    """libowfat's fmt_urlencoded: letters, digits and $/.=~-_ stay, the rest
    is %xx in lower case (the tpbs url format)."""
    cdef int i
    cdef uint8_t c
    for i in range(OT_HASH_SIZE):
        c = hash[i]
        if (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c in b"$/.=~-_":
            p[0] = c
            p += 1
        else:
            p[0] = 37
            p[1] = _HEX_LOWER[c >> 4]
            p[2] = _HEX_LOWER[c & 15]
            p += 3
    return p


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
    bulk_aux_free(b.kind, b.aux)
    b.store.mem_other -= b.accounted
    ot_free(b.data)
    ot_free(b)


cdef size_t bulk_memory(const ot_bulk *b) noexcept nogil:
    """Bytes this answer holds now: buffer, working state, and zlib's own
    state (zlib.h: (1 << (windowBits + 2)) + (1 << (memLevel + 9)), here
    windowBits 15 and memLevel 8)."""
    cdef size_t n = sizeof(ot_bulk) + b.cap + bulk_aux_memory(b.kind, b.aux)
    if b.gzip:
        n += _ZLIB_STATE
    return n


cdef ot_span bulk_begin(ot_server *s, ot_conn *c, int kind, int fmt, bint gzip, void *aux,
                        uint8_t *out) noexcept nogil:
    """Take the connection over for a large answer; the loop builds it a
    slice per turn (bulk_step) and sends it when complete. `aux` (owned from
    here on, freed with the answer) is the working state of BULK_TOP and
    BULK_S24S. Returns an empty span, or a 500 when memory is short or the
    memory budget would be exceeded."""
    cdef ot_bulk *b
    if _over_budget(s.store, sizeof(ot_bulk) + _BULK_FIRST + (_ZLIB_STATE if gzip else 0)):
        bulk_aux_free(kind, aux)
        return http_error(s, out, HTTPERR_500)
    b = <ot_bulk *>ot_malloc(sizeof(ot_bulk))
    if b == NULL:
        bulk_aux_free(kind, aux)
        return http_error(s, out, HTTPERR_500)
    memset(b, 0, sizeof(ot_bulk))
    b.fd = c.fd
    b.kind = <uint8_t>kind
    b.format = <uint8_t>fmt
    b.aux = aux
    b.store = s.store
    b.data = <uint8_t *>ot_malloc(_BULK_FIRST)
    if b.data == NULL:
        bulk_free(b)
        return http_error(s, out, HTTPERR_500)
    b.cap = _BULK_FIRST
    b.len = OT_HTTP_HEAD_ROOM
    if gzip:
        # windowBits 31 = gzip framing. Level 1 instead of the original's 7:
        # the hashes do not compress at any level, so the answer is barely
        # larger, at a fraction of the CPU, and each slice (so each announce
        # waiting behind it) stays short.
        if deflateInit2(&b.zs, Z_BEST_SPEED, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK:
            bulk_free(b)
            return http_error(s, out, HTTPERR_500)
        b.gzip = 1
    bulk_account(b)
    if _bencoded(b) and not bulk_append(b, <const uint8_t *>b"d5:filesd", 9, False):
        bulk_free(b)
        return http_error(s, out, HTTPERR_500)
    c.bulk = b
    c.state = OT_CONN_BUILDING
    b.next = s.bulk_head
    s.bulk_head = b
    return ot_span(0, 0)


cdef inline bint _bencoded(const ot_bulk *b) noexcept nogil:
    return b.kind == BULK_FULLSCRAPE or (b.kind == BULK_TPBS and b.format == FORMAT_BEN)


cdef bint bulk_slice(ot_server *s, ot_bulk *b, uint8_t *stage) noexcept nogil:
    """Do the next slice of work. Returns True when the answer is over: the
    body is then complete (trailer and gzip end included), or b.len is 0
    when memory ran out (the caller answers 500)."""
    cdef bint done
    if b.kind == BULK_TOP:
        done = top_slice(s, b)
    elif b.kind == BULK_S24S:
        done = s24s_slice(s, b)
    else:
        done = _scrape_slice(s, b, stage)
    bulk_account(b)
    return done


cdef bint _scrape_slice(ot_server *s, ot_bulk *b, uint8_t *stage) noexcept nogil:
    """The next s.bulk_slice torrents of a full scrape, tpbs or statedump in
    ascending info_hash order, resuming after the cursor: a torrent added or
    removed between slices is seen or missed, never listed twice. Torrents
    are listed as stored, without cleaning them first (SPEC.md §6)."""
    cdef ot_torrent *t = store_next(s.store, b.cursor if b.has_cursor else NULL)
    cdef uint8_t *p = stage
    cdef uint32_t n = 0
    while t != NULL and n < s.bulk_slice:
        if p - stage > OT_BULK_STAGE - OT_BULK_ENTRY_MAX:
            if not bulk_append(b, stage, <size_t>(p - stage), False):
                b.len = 0
                return True
            p = stage
        p = bulk_entry(p, b, t)
        memcpy(b.cursor, t.hash, OT_HASH_SIZE)
        b.has_cursor = 1
        n += 1
        t = store_next(s.store, t.hash)
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


cdef size_t bulk_finish_header(ot_bulk *b) noexcept nogil:
    """Write the header in front of the finished body; returns where it
    starts. `HTTP/1.0`, as the original's worker-built answers."""
    cdef uint8_t digits[20]
    cdef size_t body = b.len - OT_HTTP_HEAD_ROOM
    cdef size_t nd = <size_t>(put_uint(digits, body) - digits)
    cdef size_t head = 43 + (24 if b.gzip else 0) + 16 + nd + 4
    cdef uint8_t *p = b.data + OT_HTTP_HEAD_ROOM - head
    p = put_raw(p, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n", 43)
    if b.gzip:
        p = put_raw(p, b"Content-Encoding: gzip\r\n", 24)
    p = put_raw(p, b"Content-Length: ", 16)
    p = put_raw(p, <const char *>digits, nd)
    put_raw(p, b"\r\n\r\n", 4)
    return OT_HTTP_HEAD_ROOM - head


# ---------------------------------------------------------------- request side

cdef inline const uint8_t *_ows(const uint8_t *v, const uint8_t *end) noexcept nogil:
    while v < end and (v[0] == 32 or v[0] == 9):
        v += 1
    return v


cdef const uint8_t *_coding(const uint8_t *v, const uint8_t *end, int *verdict) noexcept nogil:
    """Parse one `coding *( OWS ";" OWS name=value )` element of
    Accept-Encoding at v; set verdict to 1 for gzip / x-gzip, 2 for `*`
    (3 and 4 when their q is 0), 0 for anything else. Returns where the
    element ends (at ',' or the end of the line)."""
    cdef const uint8_t *tok = v
    cdef const uint8_t *name
    cdef size_t tlen, nlen
    cdef bint zero = False, digits_nonzero
    while v < end and v[0] not in b",; \t\r\n":
        v += 1
    tlen = <size_t>(v - tok)
    while True:
        v = _ows(v, end)
        if v >= end or v[0] != 59:  # ';'
            break
        v = _ows(v + 1, end)
        name = v
        while v < end and v[0] not in b"=,; \t\r\n":
            v += 1
        nlen = <size_t>(v - name)
        v = _ows(v, end)
        if v < end and v[0] == 61:  # '='
            v = _ows(v + 1, end)
            if nlen == 1 and (name[0] | 0x20) == 113:  # q: 0, 0., 0.0, 0.00, 0.000 are "not acceptable"
                zero = v < end and v[0] == 48
                digits_nonzero = False
                v += 1 if zero else 0
                if zero and v < end and v[0] == 46:
                    v += 1
                    while v < end and 48 <= v[0] <= 57:
                        digits_nonzero = digits_nonzero or v[0] != 48
                        v += 1
                zero = zero and not digits_nonzero
            while v < end and v[0] not in b",; \t\r\n":
                v += 1
    while v < end and v[0] != 44 and v[0] != 13 and v[0] != 10:
        v += 1   # junk after the element: skip it
    if (tlen == 4 and _ieq(tok, b"gzip", 4)) or (tlen == 6 and _ieq(tok, b"x-gzip", 6)):
        verdict[0] = 3 if zero else 1
    elif tlen == 1 and tok[0] == 42:  # '*'
        verdict[0] = 4 if zero else 2
    else:
        verdict[0] = 0
    return v


cdef bint wants_gzip(const uint8_t *req, size_t n) noexcept nogil:
    """Does the request accept a gzip body? DESIGN.md point 2: Accept-Encoding
    parsed (every such header, quality values honoured, `*` standing for
    gzip unless gzip is listed itself), not the original's search for `gzip`
    anywhere in the request."""
    cdef const uint8_t *end = req + n
    cdef const uint8_t *v
    cdef const uint8_t *line = req
    cdef int gzip = 0, star = 0, verdict
    while True:
        v = find_header(line, <size_t>(end - line), b"accept-encoding", 15)
        if v == NULL:
            break
        while v < end and v[0] != 13 and v[0] != 10:
            v = _ows(v, end)
            if v < end and v[0] == 44:  # empty list element
                v += 1
                continue
            v = _coding(v, end, &verdict)
            if verdict == 1 or verdict == 3:
                gzip = verdict
            elif verdict == 2 or verdict == 4:
                star = verdict
            if v < end and v[0] == 44:
                v += 1
        # find_header looks for a LF followed by the name: go on from the
        # end of this header line.
        line = v
    return gzip == 1 or (gzip == 0 and star == 2)


cdef ot_span fullscrape_begin(ot_server *s, ot_conn *c, const uint8_t *req, size_t n,
                              uint8_t *out) noexcept nogil:
    """GET /scrape: every torrent, to anyone (no stats permission needed,
    SPEC.md §6), gzipped on request. http_respond sends it here only while
    tracker.fullscrape is on."""
    cdef bint gz = s.gzip and wants_gzip(req, n)
    if not modest_allows(s, c.addr):
        return http_error(s, out, HTTPERR_402_NOTMODEST)
    s.ctr.fullscrape_requests[addr_family(c.addr)] += 1
    log_fullscrape(s, c)
    return bulk_begin(s, c, BULK_FULLSCRAPE, FORMAT_BEN, gz, NULL, out)


cdef void log_fullscrape(ot_server *s, ot_conn *c) noexcept nogil:
    """`[%08d] scrp:  <ip> - FULL SCRAPE` on stderr, minutes since start."""
    cdef uint8_t line[128]
    cdef uint8_t *p = line
    cdef uint8_t digits[20]
    cdef int64_t minutes = (s.now - s.started) // 60
    cdef size_t nd = <size_t>(put_uint(digits, <uint64_t>(minutes if minutes > 0 else 0)) - digits)
    p[0] = 91
    p += 1
    while nd < 8:
        p[0] = 48
        p += 1
        nd += 1
    p = put_uint(p, <uint64_t>(minutes if minutes > 0 else 0))
    p = put_raw(p, b"] scrp:  ", 9)
    p = put_ip_text(p, c.addr)
    p = put_raw(p, b" - FULL SCRAPE\n", 15)
    write(2, line, <size_t>(p - line))
