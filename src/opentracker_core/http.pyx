# HTTP answers (docs/compatibility.md, "HTTP"): announce, scrape, the start
# of a full scrape, and every status line, header block and error page byte
# for byte. Parsing is httpparse.pyx's, choosing the handler route.pyx's.
#
# A handler gets the whole request NUL-terminated at req[len] and writes one
# complete response into `out` (OT_HTTP_OUT_MAX bytes), returning where it
# starts and how long it is. Bodies are written OT_HTTP_HEAD_ROOM bytes in, so
# the status line and headers go in front without a copy.

from libc.string cimport memcmp, memcpy, strlen
from libc.stdint cimport int32_t


cdef struct ot_span:
    size_t start
    size_t len


# ---------------------------------------------------------------- status line and headers

cdef enum:
    HEAD_HTTP10 = 1           # `HTTP/1.0` (the original's worker-built answers), else `HTTP/1.1`
    HEAD_GZIP = 2             # Content-Encoding: gzip
    HEAD_ZSTD = 4             # Content-Encoding: zstd
    HEAD_CHUNKED = 8          # Transfer-Encoding: chunked instead of Content-Length
    HEAD_UNTIL_CLOSE = 16     # no length at all: the body ends when the connection does

cdef const char *CONTENT_TEXT = b"text/plain"
cdef const char *CONTENT_PROMETHEUS = b"text/plain; version=0.0.4"


cdef uint8_t *put_http_head(uint8_t *p, int flags, const char *content_type, size_t body_len) noexcept nogil:
    """`HTTP/1.x 200 OK`, Content-Type, Content-Encoding when compressed,
    then Content-Length (or Transfer-Encoding: chunked, or nothing) and the
    blank line: at most 17 + 14 + 25 + 2 + 24 + 16 + 20 + 4 = 122 bytes."""
    p = put_cstr(p, b"HTTP/1.0 200 OK\r\nContent-Type: " if flags & HEAD_HTTP10
                 else b"HTTP/1.1 200 OK\r\nContent-Type: ")
    p = put_cstr(p, content_type)
    if flags & HEAD_GZIP:
        p = put_cstr(p, b"\r\nContent-Encoding: gzip")
    elif flags & HEAD_ZSTD:
        p = put_cstr(p, b"\r\nContent-Encoding: zstd")
    if flags & HEAD_CHUNKED:
        p = put_cstr(p, b"\r\nTransfer-Encoding: chunked")
    elif not flags & HEAD_UNTIL_CLOSE:
        p = put_cstr(p, b"\r\nContent-Length: ")
        p = put_uint(p, body_len)
    return put_raw(p, b"\r\n\r\n", 4)


cdef size_t http_head(uint8_t *body, size_t room, size_t body_len, int flags,
                      const char *content_type) noexcept nogil:
    """The header put right in front of a body that has `room` free bytes
    before it. Returns its length, or 0 when it would not fit (122 bytes at
    most, so the 128 bytes every answer keeps always suffice)."""
    cdef uint8_t head[OT_HTTP_HEAD_MAX]
    cdef size_t n = <size_t>(put_http_head(head, flags, content_type, body_len) - head)
    if n > room:
        return 0
    memcpy(body - n, head, n)
    return n


cdef ot_span http_ok_as(ot_worker *w, uint8_t *out, size_t body_len, int flags,
                        const char *content_type) noexcept nogil:
    """The answer whose body was written at out + OT_HTTP_HEAD_ROOM."""
    cdef size_t head = http_head(out + OT_HTTP_HEAD_ROOM, OT_HTTP_HEAD_ROOM, body_len, flags, content_type)
    if head == 0:
        return http_error(w, out, HTTPERR_500)
    return ot_span(OT_HTTP_HEAD_ROOM - head, head + body_len)


cdef inline ot_span http_ok(ot_worker *w, uint8_t *out, size_t body_len, bint http10) noexcept nogil:
    return http_ok_as(w, out, body_len, HEAD_HTTP10 if http10 else 0, CONTENT_TEXT)


cdef inline ot_span http_failure(ot_worker *w, uint8_t *out, const char *reason, size_t n) noexcept nogil:
    return http_ok(w, out, write_failure(out + OT_HTTP_HEAD_ROOM, reason, n), False)


cdef int answer_encoding(ot_worker *w, const uint8_t *req, size_t n) noexcept nogil:
    """The coding of a large answer: zstd when the client names it and the
    core has it, gzip when the client takes it, else none; nothing with
    tracker.compression off."""
    cdef int accepted
    if not w.t.compress:
        return ENC_IDENTITY
    accepted = accepted_codings(req, n)
    if accepted & ACCEPT_ZSTD and ot_zstd_available():
        return ENC_ZSTD
    if accepted & ACCEPT_GZIP:
        return ENC_GZIP
    return ENC_IDENTITY


# ---------------------------------------------------------------- error pages

cdef ot_span http_shed(ot_worker *w, uint8_t *out, int kind) noexcept nogil:
    """503 with Retry-After: the request was shed under overload (shed.pyx),
    counted by its kind; not an error page of the original's table."""
    cdef uint8_t *p = out
    w.ctr.shed[kind] += 1
    p = put_raw(p, b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/html\r\nRetry-After: ", 72)
    p = put_uint(p, OT_SHED_RETRY_AFTER)
    p = put_raw(p, b"\r\nContent-Length: 35\r\n\r\n<title>Service Unavailable</title>\n", 59)
    return ot_span(0, <size_t>(p - out))


cdef ot_span http_error(ot_worker *w, uint8_t *out, int code) noexcept nogil:
    """An error page (docs/compatibility.md, "Error pages"), counted under its code."""
    cdef const char *title
    cdef size_t tlen
    cdef uint8_t *p = out
    w.ctr.http_errors[code] += 1
    if code == HTTPERR_302:
        p = put_raw(p, b"HTTP/1.0 302 Found\r\nContent-Length: 0\r\nLocation: ", 49)
        p = put_raw(p, <const char *>w.t.redirect_url, w.t.redirect_len)
        p = put_raw(p, b"\r\n\r\n", 4)
        return ot_span(0, <size_t>(p - out))
    if code == HTTPERR_400 or code == HTTPERR_400_PARAM or code == HTTPERR_400_COMPACT:
        title = b"400 Invalid Request"
    elif code == HTTPERR_402_NOTMODEST:
        title = b"402 Payment Required"
    elif code == HTTPERR_403_NOTMODEST:
        title = b"403 Not Modest"
    elif code == HTTPERR_403_IP:
        title = b"403 Access Denied"
    elif code == HTTPERR_404:
        title = b"404 Not Found"
    else:
        title = b"500 Internal Server Error"
    tlen = strlen(title)
    p = put_raw(p, b"HTTP/1.0 ", 9)
    p = put_raw(p, title, tlen)
    p = put_raw(p, b"\r\nContent-Type: text/html\r\nContent-Length: ", 43)
    p = put_uint(p, tlen + 12)
    p = put_raw(p, b"\r\n\r\n<title>", 11)
    p = put_raw(p, title + 4, tlen - 4)
    p = put_raw(p, b"</title>\n", 9)
    return ot_span(0, <size_t>(p - out))


cdef enum:
    KEY_PORT = 1
    KEY_LEFT = 2
    KEY_EVENT = 3
    KEY_NUMWANT = 4
    KEY_COMPACT = 5
    KEY_INFO_HASH = 6
    KEY_IP = 7
    KEY_PEER_ID = 9


cdef int _announce_key(const uint8_t *name, ssize_t n) noexcept nogil:
    if name_is(name, n, b"info_hash", 9):
        return KEY_INFO_HASH
    if name_is(name, n, b"port", 4):
        return KEY_PORT
    if name_is(name, n, b"left", 4):
        return KEY_LEFT
    if name_is(name, n, b"event", 5):
        return KEY_EVENT
    if name_is(name, n, b"numwant", 7):
        return KEY_NUMWANT
    if name_is(name, n, b"compact", 7) or name_is(name, n, b"compact6", 8):
        return KEY_COMPACT
    if name_is(name, n, b"peer_id", 7):
        return KEY_PEER_ID
    if name_is(name, n, b"ip", 2):
        return KEY_IP
    return 0


# ---------------------------------------------------------------- announce

cdef ot_span http_announce(ot_worker *w, ot_conn *c, const uint8_t *req, size_t n,
                           const uint8_t *p, uint8_t *out) noexcept nogil:
    cdef uint8_t *buf = w.scratch
    cdef uint8_t hash[20]
    cdef uint8_t peer_id[20]
    cdef bint have_hash = False, have_peer_id = False, stopped = False
    cdef uint8_t flags = 0
    cdef int32_t numwant = OT_NUMWANT_DEFAULT, tmp
    cdef int32_t port = 0
    cdef ssize_t vlen
    cdef int key
    cdef uint8_t addr[16]
    cdef ot_peer_in peer
    cdef ot_announce_result res
    cdef ot_torrent *t
    cdef ot_group *g
    cdef size_t body = 0
    cdef int rc

    p = query_start(p, req + n)
    if p == NULL:
        return http_error(w, out, HTTPERR_400_PARAM)
    client_address(w, c, req, n, addr)

    while True:
        key = query_next(&p, buf, _announce_key)
        if key == QUERY_END:
            break
        if key == QUERY_ERROR:
            return http_error(w, out, HTTPERR_400_PARAM)
        if key == KEY_IP and not w.t.ip_from_query:
            skip_value(&p)       # an unknown parameter unless tracker.ip_from_query
            continue
        if key == KEY_EVENT:
            vlen = scan_urlencoded(&p, buf, SCAN_VALUE)
            if vlen == -1:
                return http_error(w, out, HTTPERR_400_PARAM)
            if name_is(buf, vlen, b"completed", 9):
                flags |= PEER_FLAG_COMPLETED
            elif name_is(buf, vlen, b"stopped", 7):
                stopped = True
            continue
        vlen = scan_urlencoded(&p, buf, SCAN_VALUE)
        if key == KEY_INFO_HASH:
            if have_hash or vlen != OT_HASH_SIZE:
                return http_error(w, out, HTTPERR_400_PARAM)
            memcpy(hash, buf, OT_HASH_SIZE)
            have_hash = True
        elif key == KEY_PEER_ID:
            if vlen != 20:
                return http_error(w, out, HTTPERR_400_PARAM)
            memcpy(peer_id, buf, 20)
            have_peer_id = True
        elif key == KEY_PORT:
            if vlen <= 0 or scan_fixed_int(buf, vlen, &tmp) or tmp > 0xFFFF:
                return http_error(w, out, HTTPERR_400_PARAM)
            port = tmp
        elif key == KEY_LEFT:
            if vlen <= 0:
                return http_error(w, out, HTTPERR_400_PARAM)
            # Lenient like the original: anything but a whole number is 0.
            if scan_fixed_int(buf, vlen, &tmp):
                tmp = 0
            if tmp == 0:
                flags |= PEER_FLAG_SEEDING
            else:
                flags &= ~PEER_FLAG_SEEDING
        elif key == KEY_NUMWANT:
            if vlen <= 0 or scan_fixed_int(buf, vlen, &numwant):
                return http_error(w, out, HTTPERR_400_PARAM)
            if numwant < 0:
                numwant = OT_NUMWANT_DEFAULT
            elif numwant > OT_NUMWANT_MAX:
                numwant = OT_NUMWANT_MAX
        elif key == KEY_COMPACT:
            if vlen <= 0 or scan_fixed_int(buf, vlen, &tmp):
                return http_error(w, out, HTTPERR_400_PARAM)
            if tmp == 0:
                return http_error(w, out, HTTPERR_400_COMPACT)
        elif key == KEY_IP:
            if vlen <= 0 or not parse_ip_text(buf, vlen, addr):
                return http_error(w, out, HTTPERR_400_PARAM)

    # numwants (the original's WANT_LOG_NUMWANT): every announce that parsed,
    # by its clamped numwant, before the info_hash is even looked at.
    w.ctr.numwants[numwant] += 1
    if not have_hash:
        return http_failure(w, out, b"Your client forgot to send your torrent's info_hash. Please upgrade your client.", 80)
    if not rate_allows(w, addr):
        return http_failure(w, out, OT_RATE_REFUSAL, OT_RATE_REFUSAL_LEN)

    peer_from_addr(&peer, addr, <uint16_t>port)
    w.ctr.tcp_announces[addr_family(addr)] += 1
    # The body is written under the hash's group lock, the rest after it.
    g = store_lock(w.t.store, hash)
    if stopped:
        t = tracker_stop(w, hash, &peer)
        body = write_http_stopped(out + OT_HTTP_HEAD_ROOM, t, interval_base(w.t), &g.rng)
        store_unlock(w.t.store, g)
        tracker_stopped(w, hash, &peer)
        return http_ok(w, out, body, False)
    peer.flags = flags
    if shed_newcomer(w, hash, &peer):
        store_unlock(w.t.store, g)
        return http_shed(w, out, SHED_HTTP_ANNOUNCE)
    rc = tracker_announce(w, hash, &peer, &res)
    if rc == OT_OK:
        body = write_http_announce(out + OT_HTTP_HEAD_ROOM, res.torrent, <uint32_t>numwant, res.interval, &g.rng)
    store_unlock(w.t.store, g)
    if rc == OT_OK:
        tracker_announced(w, hash, &peer, peer_id if have_peer_id else NULL, &res)
        return http_ok(w, out, body, False)
    if rc == OT_REFUSED_ACCESS:
        return http_failure(w, out, b"Requested download is not authorized for use with this tracker.", 63)
    if rc == OT_REFUSED_MEMORY:
        return http_failure(w, out, OT_MEMORY_REFUSAL, OT_MEMORY_REFUSAL_LEN)
    return http_error(w, out, HTTPERR_500)


# ---------------------------------------------------------------- scrape

cdef int _scrape_key(const uint8_t *name, ssize_t n) noexcept nogil:
    return KEY_INFO_HASH if name_is(name, n, b"info_hash", 9) else 0


cdef ot_span http_scrape(ot_worker *w, ot_conn *c, const uint8_t *req, size_t n,
                         const uint8_t *p, uint8_t *out) noexcept nogil:
    cdef uint8_t *buf = w.scratch
    cdef uint8_t hashes[OT_MAXMULTISCRAPE * OT_HASH_SIZE]
    cdef uint32_t count = 0
    cdef uint8_t addr[16]
    cdef bint seen = False
    cdef ssize_t vlen
    cdef int key
    p = query_start(p, req + n)
    if p == NULL:
        return http_error(w, out, HTTPERR_400_PARAM)
    while True:
        key = query_next(&p, buf, _scrape_key)
        if key == QUERY_END:
            break
        if key == QUERY_ERROR:
            return http_error(w, out, HTTPERR_400_PARAM)
        # Hashes past the 64th are still checked, then ignored.
        vlen = scan_urlencoded(&p, buf, SCAN_VALUE)
        if vlen != OT_HASH_SIZE:
            return http_error(w, out, HTTPERR_400_PARAM)
        seen = True
        if count < OT_MAXMULTISCRAPE:
            memcpy(hashes + count * OT_HASH_SIZE, buf, OT_HASH_SIZE)
            count += 1
    if not seen:
        return http_error(w, out, HTTPERR_400_PARAM)
    if w.shed_level >= SHED_LEVEL_SCRAPES:
        return http_shed(w, out, SHED_HTTP_SCRAPE)
    if w.t.rate.table != NULL:
        client_address(w, c, req, n, addr)
        if not rate_allows(w, addr):
            return http_failure(w, out, OT_RATE_REFUSAL, OT_RATE_REFUSAL_LEN)
    w.ctr.tcp_scrapes[addr_family(c.addr)] += 1
    return http_ok(w, out, write_http_scrape(out + OT_HTTP_HEAD_ROOM, w.t.store, hashes, count), False)


# ---------------------------------------------------------------- headers and addresses

cdef void client_address(ot_worker *w, ot_conn *c, const uint8_t *req, size_t n,
                         uint8_t *addr16) noexcept nogil:
    """The client's address: the connection's, or behind a blessed proxy the
    first X-Forwarded-For address (docs/compatibility.md, "Peer address:
    proxies and ip=")."""
    memcpy(addr16, c.addr, 16)
    if access_perms(&w.t.access, c.addr) & OT_PERM_PROXY:
        forwarded_address(req, n, addr16)


# ---------------------------------------------------------------- full scrape

cdef ot_span fullscrape_begin(ot_worker *w, ot_conn *c, const uint8_t *req, size_t n,
                              uint8_t *out) noexcept nogil:
    """GET /scrape: every torrent, to anyone (no stats permission needed,
    docs/compatibility.md, "Full scrape"), compressed on request. http_respond
    sends it here only while tracker.fullscrape is on. Requesters within
    tracker.fullscrape_cache of each other read one shared answer
    (docs/large-answers.md, "Sharing")."""
    cdef int encoding = answer_encoding(w, req, n)
    if not modest_allows(w, c.addr):
        return http_error(w, out, HTTPERR_402_NOTMODEST)
    w.ctr.fullscrape_requests[addr_family(c.addr)] += 1
    if shed_heavy(w):
        return http_shed(w, out, SHED_HTTP_FULLSCRAPE)
    log_fullscrape(w, c)
    if w.t.fullscrape_cache and answer_join_shared(w, encoding):
        return ot_span(0, 0)
    if answer_begin(w, ANSWER_FULLSCRAPE, FORMAT_BEN, encoding, NULL, NULL) < 0:
        return http_error(w, out, HTTPERR_500)
    if w.t.fullscrape_cache:
        answer_share(w, w.handover)
    return ot_span(0, 0)


cdef void log_fullscrape(ot_worker *w, ot_conn *c) noexcept nogil:
    """`[%08d] scrp:  <ip> - FULL SCRAPE` on stderr, minutes since start."""
    cdef uint8_t line[128]
    cdef uint8_t *p = line
    cdef uint8_t digits[20]
    cdef int64_t minutes = (w.now - w.t.started) // 60
    cdef size_t nd = <size_t>(put_uint(digits, <uint64_t>(minutes if minutes > 0 else 0)) - digits)
    p[0] = c'['
    p += 1
    while nd < 8:
        p[0] = c'0'
        p += 1
        nd += 1
    p = put_uint(p, <uint64_t>(minutes if minutes > 0 else 0))
    p = put_raw(p, b"] scrp:  ", 9)
    p = put_ip_text(p, c.addr)
    p = put_raw(p, b" - FULL SCRAPE\n", 15)
    write(2, line, <size_t>(p - line))
