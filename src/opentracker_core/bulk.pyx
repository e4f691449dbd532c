# Large answers built in slices (see bulk.pxd): the full scrape (SPEC.md §6),
# tpbs in every format and statedump (§8, §9), optionally gzipped.

from cpython.mem cimport PyMem_RawMalloc, PyMem_RawRealloc, PyMem_RawFree
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


cdef uint8_t *bulk_entry(uint8_t *p, const ot_bulk *b, const ot_torrent *t) noexcept nogil:
    """One torrent's line or entry in the bulk's format."""
    cdef uint32_t seeders = ot_torrent_seeders(t), peers = ot_torrent_peers(t)
    if b.kind == BULK_STATEDUMP:
        p = put_hex_upper(p, t.hash)
        p[0] = 58
        p = put_uint(p + 1, t.base)
        p[0] = 58
        p = put_uint(p + 1, t.completed)
        p[0] = 10
        return p + 1
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


cdef bint _bulk_reserve(ot_bulk *b, size_t more) noexcept nogil:
    cdef size_t cap
    cdef uint8_t *data
    if b.len + more <= b.cap:
        return True
    cap = b.cap * 2
    while cap < b.len + more:
        cap *= 2
    data = <uint8_t *>PyMem_RawRealloc(b.data, cap)
    if data == NULL:
        return False
    b.data = data
    b.cap = cap
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
    PyMem_RawFree(b.data)
    PyMem_RawFree(b)


cdef ot_span bulk_begin(ot_server *s, ot_conn *c, int kind, int fmt, bint gzip,
                        uint8_t *out) noexcept nogil:
    """Take the connection over for a large answer; the loop builds it a
    slice per turn (bulk_step) and sends it when complete. Returns an empty
    span, or a 500 when memory is short."""
    cdef ot_bulk *b = <ot_bulk *>PyMem_RawMalloc(sizeof(ot_bulk))
    if b == NULL:
        return http_error(s, out, HTTPERR_500)
    memset(b, 0, sizeof(ot_bulk))
    b.fd = c.fd
    b.kind = <uint8_t>kind
    b.format = <uint8_t>fmt
    b.cap = 65536
    b.len = OT_HTTP_HEAD_ROOM
    b.data = <uint8_t *>PyMem_RawMalloc(b.cap)
    if b.data == NULL:
        PyMem_RawFree(b)
        return http_error(s, out, HTTPERR_500)
    if gzip:
        # windowBits 31 = gzip framing; level 1 keeps each slice short so
        # announces wait little behind it.
        if deflateInit2(&b.zs, Z_BEST_SPEED, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK:
            bulk_free(b)
            return http_error(s, out, HTTPERR_500)
        b.gzip = 1
    if (kind == BULK_FULLSCRAPE or fmt == FORMAT_BEN) and not bulk_append(b, <const uint8_t *>b"d5:filesd", 9, False):
        bulk_free(b)
        return http_error(s, out, HTTPERR_500)
    c.bulk = b
    c.state = OT_CONN_BUILDING
    b.next = s.bulk_head
    s.bulk_head = b
    return ot_span(0, 0)


cdef bint bulk_slice(ot_server *s, ot_bulk *b, uint8_t *stage) noexcept nogil:
    """Format the next slice of torrents. Returns True when the walk is over
    (the body is then complete, trailer and gzip end included)."""
    cdef ot_torrent *t = store_next(s.store, b.cursor if b.has_cursor else NULL)
    cdef uint8_t *p = stage
    cdef uint32_t n = 0
    while t != NULL and n < s.bulk_slice:
        p = bulk_entry(p, b, t)
        memcpy(b.cursor, t.hash, OT_HASH_SIZE)
        b.has_cursor = 1
        n += 1
        t = store_next(s.store, t.hash)
    if t == NULL and (b.kind == BULK_FULLSCRAPE or b.format == FORMAT_BEN):
        p = put_raw(p, b"ee", 2)
    if not bulk_append(b, stage, <size_t>(p - stage), t == NULL):
        b.len = 0  # out of memory: the caller answers 500
        return True
    return t == NULL


cdef size_t bulk_finish_header(ot_bulk *b) noexcept nogil:
    """Write the header in front of the finished body; returns where it starts."""
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

cdef bint wants_gzip(const uint8_t *req, size_t n) noexcept nogil:
    """Does Accept-Encoding list gzip (or x-gzip, or *) with a non-zero q?
    DESIGN.md point 2: parsed, not the original's substring search."""
    cdef const uint8_t *v = find_header(req, n, b"accept-encoding", 15)
    cdef const uint8_t *end = req + n
    cdef const uint8_t *tok
    cdef size_t tlen
    cdef bint zero
    if v == NULL:
        return False
    while v < end and v[0] != 13 and v[0] != 10:
        while v < end and (v[0] == 32 or v[0] == 9 or v[0] == 44):
            v += 1
        tok = v
        while v < end and v[0] not in b",; \t\r\n":
            v += 1
        tlen = <size_t>(v - tok)
        zero = False
        while v < end and v[0] not in b",\r\n":
            # parameters: look for q=0, q=0.0, q=0.000
            if v[0] == 113 or v[0] == 81:  # 'q'
                if v + 1 < end and v[1] == 61 and v + 2 < end and v[2] == 48:
                    zero = True
                    v += 3
                    while v < end and (v[0] == 46 or v[0] == 48):
                        v += 1
                    if v < end and 49 <= v[0] <= 57:
                        zero = False
                    continue
            v += 1
        if not zero and ((tlen == 4 and _ieq(tok, b"gzip", 4)) or (tlen == 6 and _ieq(tok, b"x-gzip", 6))
                         or (tlen == 1 and tok[0] == 42)):
            return True
    return False


cdef ot_span fullscrape_begin(ot_server *s, ot_conn *c, const uint8_t *req, size_t n,
                              uint8_t *out) noexcept nogil:
    cdef bint gz
    if not s.fullscrape:
        return http_error(s, out, HTTPERR_404)
    gz = s.gzip and wants_gzip(req, n)
    s.ctr.fullscrapes += 1
    log_fullscrape(s, c)
    return bulk_begin(s, c, BULK_FULLSCRAPE, FORMAT_BEN, gz, out)


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
