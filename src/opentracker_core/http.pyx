# HTTP requests (SPEC.md §3): framing, routing, the query scanner, announce
# and scrape, and every reply and error page byte for byte.
#
# A handler gets the whole request NUL-terminated at req[len] and writes one
# complete response into `out` (OT_HTTP_OUT_MAX bytes), returning where it
# starts and how long it is. Bodies are written OT_HTTP_HEAD_ROOM bytes in, so
# the status line and headers go in front without a copy.

from libc.string cimport memcmp, memcpy, memchr, memset, strlen
from libc.stdint cimport int32_t


cdef struct ot_span:
    size_t start
    size_t len


# ---------------------------------------------------------------- byte classes

cdef enum:
    SCAN_PATH = 1
    SCAN_PARAM = 2
    SCAN_VALUE = 4
    SCAN_TERMINATOR = 8

# Which scanning modes a byte may continue (SPEC.md §3.4). Hard terminators
# (NUL, CR, LF, space) and the hard-invalid bytes carry only bit 8: they end
# every mode, and only the real terminators end it without an error.
cdef uint8_t scan_class[256]


cdef void _init_scan_class():
    cdef int c
    for c in range(256):
        scan_class[c] = 0
    for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!%'()*+,-./:;<>_~":
        scan_class[c] = SCAN_PATH | SCAN_PARAM | SCAN_VALUE
    scan_class[ord("?")] = SCAN_PARAM | SCAN_VALUE
    scan_class[ord("=")] = SCAN_VALUE
    scan_class[ord("@")] = SCAN_VALUE
    for c in b" \r\n\0\"#$[\\]^`{|}":
        scan_class[c] = SCAN_TERMINATOR


_init_scan_class()


cdef inline int _hexval(uint8_t x) noexcept nogil:
    if 48 <= x <= 57:
        return x - 48
    x |= 0x20
    if 97 <= x <= 102:
        return x - 87
    return -1


cdef ssize_t scan_urlencoded(const uint8_t **sp, uint8_t *dest, int mode) noexcept nogil:
    """Decode one path, parameter name or value at *sp into dest (never longer
    than the raw text) and advance *sp past it. Returns the decoded length,
    -1 on a parse error, -2 when *sp already stood on a hard terminator.
    Names stop before '&' (left for the value scan); values consume it."""
    cdef const uint8_t *s = sp[0]
    cdef uint8_t *d = dest
    cdef uint8_t c
    cdef int hi, lo
    while True:
        c = s[0]
        s += 1
        if not (scan_class[c] & mode):
            break
        if c == 37:  # '%'
            hi = _hexval(s[0])
            if hi < 0:
                return -1
            lo = _hexval(s[1])
            if lo < 0:
                return -1
            s += 2
            c = <uint8_t>((hi << 4) | lo)
        d[0] = c
        d += 1
    if c == 0 or c == 13 or c == 10 or c == 32:
        if d == dest:
            return -2
        s -= 1
    elif c == 63:  # '?'
        if mode != SCAN_PATH:
            return -1
    elif c == 61:  # '='
        if mode != SCAN_PARAM:
            return -1
    elif c == 38:  # '&'
        if mode == SCAN_PATH:
            return -1
        if mode == SCAN_PARAM:
            s -= 1
    else:
        return -1
    sp[0] = s
    return d - dest


cdef void skip_value(const uint8_t **sp) noexcept nogil:
    """Skip an unknown parameter's value. Stops after the first byte a value
    cannot hold; terminators and hard-invalid bytes are left in place so the
    next scan sees them (a hard-invalid byte then gives 400)."""
    cdef const uint8_t *s = sp[0]
    cdef uint8_t f
    while True:
        f = scan_class[s[0]]
        s += 1
        if not (f & SCAN_VALUE):
            break
    if f & SCAN_TERMINATOR:
        s -= 1
    sp[0] = s


cdef size_t scan_fixed_int(const uint8_t *data, size_t n, int32_t *out) noexcept nogil:
    """Optional '-' and decimal digits in 32-bit wrapping arithmetic, like the
    original's scan_fixed_int. Returns how many bytes were NOT digits (0 when
    the whole value was a number)."""
    cdef uint32_t v = 0
    cdef bint minus = False
    if n and data[0] == 45:  # '-'
        minus = True
        data += 1
        n -= 1
    while n and 48 <= data[0] <= 57:
        v = v * 10 + (data[0] - 48)
        data += 1
        n -= 1
    out[0] = <int32_t>(0u - v) if minus else <int32_t>v
    return n


cdef bint header_complete(const uint8_t *buf, size_t n) noexcept nogil:
    """True once the header has ended: LF LF or CR LF CR LF (so CR LF LF too)."""
    cdef size_t i
    for i in range(1, n):
        if buf[i] == 10:
            if buf[i - 1] == 10:
                return True
            if i >= 3 and buf[i - 1] == 13 and buf[i - 2] == 10 and buf[i - 3] == 13:
                return True
    return False


# ---------------------------------------------------------------- replies

cdef ot_span http_error(ot_server *s, uint8_t *out, int code) noexcept nogil:
    """An error page (SPEC.md §3.10), counted under its code."""
    cdef const char *title
    cdef size_t tlen
    cdef uint8_t *p = out
    s.ctr.http_errors[code] += 1
    if code == HTTPERR_302:
        p = put_raw(p, b"HTTP/1.0 302 Found\r\nContent-Length: 0\r\nLocation: ", 49)
        p = put_raw(p, <const char *>s.redirect_url, s.redirect_len)
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


cdef ot_span http_ok(uint8_t *out, size_t body_len, bint http10) noexcept nogil:
    """Put `HTTP/1.x 200 OK` and the two headers right in front of a body
    written at out + OT_HTTP_HEAD_ROOM."""
    cdef uint8_t digits[20]
    cdef size_t nd = <size_t>(put_uint(digits, body_len) - digits)
    cdef size_t head = 59 + nd + 4
    cdef uint8_t *p = out + OT_HTTP_HEAD_ROOM - head
    cdef ot_span span = ot_span(OT_HTTP_HEAD_ROOM - head, head + body_len)
    p = put_raw(p, b"HTTP/1.0 200 OK\r\n" if http10 else b"HTTP/1.1 200 OK\r\n", 17)
    p = put_raw(p, b"Content-Type: text/plain\r\nContent-Length: ", 42)
    p = put_raw(p, <const char *>digits, nd)
    put_raw(p, b"\r\n\r\n", 4)
    return span


cdef inline ot_span http_failure(uint8_t *out, const char *reason, size_t n) noexcept nogil:
    return http_ok(out, write_failure(out + OT_HTTP_HEAD_ROOM, reason, n), False)


# ---------------------------------------------------------------- routing

cdef ot_span http_respond(ot_server *s, ot_conn *c, uint8_t *req, size_t n, uint8_t *out) noexcept nogil:
    """Answer one complete request (NUL at req[n])."""
    cdef const uint8_t *p
    cdef const uint8_t *path
    cdef ssize_t plen
    cdef uint8_t *decoded = s.scratch
    if n < 5 or memcmp(req, b"GET /", 5) != 0:
        return http_error(s, out, HTTPERR_400)
    p = req + 4
    while p[0] == 47:  # '/'
        p += 1
    path = p
    plen = scan_urlencoded(&p, decoded, SCAN_PATH)
    if plen == -2 and s.redirect_len:
        return http_error(s, out, HTTPERR_302)
    if plen <= 0:
        return http_error(s, out, HTTPERR_404)
    if decoded[0] == 97 or decoded[0] == 63:  # 'a' (or a decoded '?')
        return http_announce(s, c, req, n, p, out)
    # With tracker.fullscrape off, `GET /scrape HTTP/` goes on as a scrape
    # without a query and gets its 400, as the original built without it.
    if s.fullscrape and <size_t>(req + n - path) >= 12 and memcmp(path, b"scrape HTTP/", 12) == 0:
        return fullscrape_begin(s, c, req, n, out)
    if plen >= 2 and decoded[0] == 115 and decoded[1] == 99:  # "sc"
        return http_scrape(s, c, req, n, p, out)
    if <size_t>plen == s.stats_path_len and memcmp(decoded, s.stats_path, plen) == 0:
        return stats_respond(s, c, req, n, p, out, MODE_PEER)
    # Prometheus' conventional path, beside the stats path (which wins if
    # it is configured as "metrics" itself): /stats?mode=prometheus.
    if plen == 7 and memcmp(decoded, b"metrics", 7) == 0:
        return stats_respond(s, c, req, n, p, out, MODE_PROMETHEUS)
    return http_error(s, out, HTTPERR_404)


cdef const uint8_t *_to_query(const uint8_t *p, const uint8_t *end) noexcept nogil:
    """Tolerate `GET /announce ?info_hash=...`: when the path did not end at
    '?', scan forward to it. NULL when a LF (or the end) comes first."""
    if (p - 1)[0] == 63:  # '?'
        return p
    while p < end and p[0] != 63 and p[0] != 10:
        p += 1
    if p >= end or p[0] == 10:
        return NULL
    return p + 1


cdef enum:
    KEY_UNKNOWN = -3
    KEY_PORT = 1
    KEY_LEFT = 2
    KEY_EVENT = 3
    KEY_NUMWANT = 4
    KEY_COMPACT = 5
    KEY_INFO_HASH = 6
    KEY_IP = 7
    KEY_PEER_ID = 9


cdef inline bint _is(const uint8_t *name, ssize_t n, const char *key, ssize_t klen) noexcept nogil:
    return n == klen and memcmp(name, key, klen) == 0


cdef int _announce_key(const uint8_t *name, ssize_t n, bint ip_from_query) noexcept nogil:
    if _is(name, n, b"info_hash", 9):
        return KEY_INFO_HASH
    if _is(name, n, b"port", 4):
        return KEY_PORT
    if _is(name, n, b"left", 4):
        return KEY_LEFT
    if _is(name, n, b"event", 5):
        return KEY_EVENT
    if _is(name, n, b"numwant", 7):
        return KEY_NUMWANT
    if _is(name, n, b"compact", 7) or _is(name, n, b"compact6", 8):
        return KEY_COMPACT
    if _is(name, n, b"peer_id", 7):
        return KEY_PEER_ID
    if ip_from_query and _is(name, n, b"ip", 2):
        return KEY_IP
    return KEY_UNKNOWN


cdef ssize_t scan_param_name(const uint8_t **p, uint8_t *dest) noexcept nogil:
    """A parameter name: its length (0 for an empty one), -1 on a parse
    error, -2 at the end of the query."""
    return scan_urlencoded(p, dest, SCAN_PARAM)


# ---------------------------------------------------------------- announce

cdef ot_span http_announce(ot_server *s, ot_conn *c, const uint8_t *req, size_t n,
                           const uint8_t *p, uint8_t *out) noexcept nogil:
    cdef uint8_t *buf = s.scratch
    cdef uint8_t hash[20]
    cdef uint8_t peer_id[20]
    cdef bint have_hash = False, have_peer_id = False, stopped = False
    cdef uint8_t flags = 0
    cdef int32_t numwant = OT_NUMWANT_DEFAULT, tmp
    cdef int32_t port = 0
    cdef ssize_t klen, vlen
    cdef int key
    cdef uint8_t addr[16]
    cdef ot_peer_in peer
    cdef ot_announce_result res
    cdef ot_torrent *t
    cdef int rc

    p = _to_query(p, req + n)
    if p == NULL:
        return http_error(s, out, HTTPERR_400_PARAM)
    client_address(s, c, req, n, addr)

    while True:
        klen = scan_param_name(&p, buf)
        if klen == -2:
            break
        if klen == -1:
            return http_error(s, out, HTTPERR_400_PARAM)
        key = _announce_key(buf, klen, s.ip_from_query) if klen > 0 else KEY_UNKNOWN
        if key == KEY_UNKNOWN:
            skip_value(&p)
            continue
        if key == KEY_EVENT:
            vlen = scan_urlencoded(&p, buf, SCAN_VALUE)
            if vlen == -1:
                return http_error(s, out, HTTPERR_400_PARAM)
            if _is(buf, vlen, b"completed", 9):
                flags |= PEER_FLAG_COMPLETED
            elif _is(buf, vlen, b"stopped", 7):
                stopped = True
            continue
        vlen = scan_urlencoded(&p, buf, SCAN_VALUE)
        if key == KEY_INFO_HASH:
            if have_hash or vlen != OT_HASH_SIZE:
                return http_error(s, out, HTTPERR_400_PARAM)
            memcpy(hash, buf, OT_HASH_SIZE)
            have_hash = True
        elif key == KEY_PEER_ID:
            if vlen != 20:
                return http_error(s, out, HTTPERR_400_PARAM)
            memcpy(peer_id, buf, 20)
            have_peer_id = True
        elif key == KEY_PORT:
            if vlen <= 0 or scan_fixed_int(buf, vlen, &tmp) or tmp > 0xFFFF:
                return http_error(s, out, HTTPERR_400_PARAM)
            port = tmp
        elif key == KEY_LEFT:
            if vlen <= 0:
                return http_error(s, out, HTTPERR_400_PARAM)
            # Lenient like the original: anything but a whole number is 0.
            if scan_fixed_int(buf, vlen, &tmp):
                tmp = 0
            if tmp == 0:
                flags |= PEER_FLAG_SEEDING
            else:
                flags &= ~PEER_FLAG_SEEDING
        elif key == KEY_NUMWANT:
            if vlen <= 0 or scan_fixed_int(buf, vlen, &numwant):
                return http_error(s, out, HTTPERR_400_PARAM)
            if numwant < 0:
                numwant = OT_NUMWANT_DEFAULT
            elif numwant > OT_NUMWANT_MAX:
                numwant = OT_NUMWANT_MAX
        elif key == KEY_COMPACT:
            if vlen <= 0 or scan_fixed_int(buf, vlen, &tmp):
                return http_error(s, out, HTTPERR_400_PARAM)
            if tmp == 0:
                return http_error(s, out, HTTPERR_400_COMPACT)
        elif key == KEY_IP:
            if vlen <= 0 or not parse_ip_text(buf, vlen, addr):
                return http_error(s, out, HTTPERR_400_PARAM)

    # numwants (the original's WANT_LOG_NUMWANT): every announce that parsed,
    # by its clamped numwant, before the info_hash is even looked at.
    s.ctr.numwants[numwant] += 1
    if not have_hash:
        return http_failure(out, b"Your client forgot to send your torrent's info_hash. Please upgrade your client.", 80)
    if not rate_allows(s, addr):
        return http_failure(out, OT_RATE_REFUSAL, OT_RATE_REFUSAL_LEN)

    peer_from_addr(&peer, addr, <uint16_t>port)
    s.ctr.tcp_announces[addr_family(addr)] += 1
    if stopped:
        t = tracker_stop(s, hash, &peer)
        return http_ok(out, write_http_stopped(out + OT_HTTP_HEAD_ROOM, t, &s.store.rng), False)
    peer.flags = flags
    rc = tracker_announce(s, hash, &peer, peer_id if have_peer_id else NULL, &res)
    if rc == OT_OK:
        return http_ok(out, write_http_announce(out + OT_HTTP_HEAD_ROOM, res.torrent, <uint32_t>numwant,
                                                &s.store.rng), False)
    if rc == OT_REFUSED_ACCESS:
        return http_failure(out, b"Requested download is not authorized for use with this tracker.", 63)
    if rc == OT_REFUSED_MEMORY:
        return http_failure(out, OT_MEMORY_REFUSAL, OT_MEMORY_REFUSAL_LEN)
    return http_error(s, out, HTTPERR_500)


# ---------------------------------------------------------------- scrape

cdef ot_span http_scrape(ot_server *s, ot_conn *c, const uint8_t *req, size_t n,
                         const uint8_t *p, uint8_t *out) noexcept nogil:
    cdef uint8_t *buf = s.scratch
    cdef uint8_t hashes[OT_MAXMULTISCRAPE * OT_HASH_SIZE]
    cdef uint32_t count = 0
    cdef uint8_t addr[16]
    cdef bint seen = False
    cdef ssize_t klen, vlen
    p = _to_query(p, req + n)
    if p == NULL:
        return http_error(s, out, HTTPERR_400_PARAM)
    while True:
        klen = scan_param_name(&p, buf)
        if klen == -2:
            break
        if klen == -1:
            return http_error(s, out, HTTPERR_400_PARAM)
        if not _is(buf, klen, b"info_hash", 9):
            skip_value(&p)
            continue
        # Hashes past the 64th are still checked, then ignored.
        vlen = scan_urlencoded(&p, buf, SCAN_VALUE)
        if vlen != OT_HASH_SIZE:
            return http_error(s, out, HTTPERR_400_PARAM)
        seen = True
        if count < OT_MAXMULTISCRAPE:
            memcpy(hashes + count * OT_HASH_SIZE, buf, OT_HASH_SIZE)
            count += 1
    if not seen:
        return http_error(s, out, HTTPERR_400_PARAM)
    if s.rate.table != NULL:
        client_address(s, c, req, n, addr)
        if not rate_allows(s, addr):
            return http_failure(out, OT_RATE_REFUSAL, OT_RATE_REFUSAL_LEN)
    s.ctr.tcp_scrapes[addr_family(c.addr)] += 1
    return http_ok(out, write_http_scrape(out + OT_HTTP_HEAD_ROOM, s.store, hashes, count), False)


# ---------------------------------------------------------------- headers and addresses

cdef inline bint _ieq(const uint8_t *a, const char *lower, size_t n) noexcept nogil:
    """Case-insensitive compare against a lower-case ASCII key."""
    cdef size_t i
    for i in range(n):
        if (a[i] | 0x20) != <uint8_t>lower[i]:
            return False
    return True


cdef const uint8_t *find_header(const uint8_t *req, size_t n, const char *lower_name, size_t nl) noexcept nogil:
    """The value of a header (spaces and tabs after the colon skipped): the
    first line, right after a LF, whose name matches case-insensitively and
    is directly followed by ':' (SPEC.md §12). NULL when there is none."""
    cdef size_t i
    cdef const uint8_t *v
    for i in range(n):
        if req[i] == 10 and i + nl + 1 < n and req[i + nl + 1] == 58 and _ieq(req + i + 1, lower_name, nl):
            v = req + i + nl + 2
            while v < req + n and (v[0] == 32 or v[0] == 9):
                v += 1
            return v
    return NULL


cdef void client_address(ot_server *s, ot_conn *c, const uint8_t *req, size_t n,
                         uint8_t *addr16) noexcept nogil:
    """The client's address: the connection's, or behind a blessed proxy the
    first X-Forwarded-For address (SPEC.md §12)."""
    memcpy(addr16, c.addr, 16)
    if access_perms(&s.access, c.addr) & OT_PERM_PROXY:
        forwarded_address(req, n, addr16)


cdef bint forwarded_address(const uint8_t *req, size_t n, uint8_t *addr16) noexcept nogil:
    """The first address of X-Forwarded-For, if there is a parsable one."""
    cdef const uint8_t *v = find_header(req, n, b"x-forwarded-for", 15)
    cdef const uint8_t *e
    if v == NULL:
        return False
    e = v
    while e < req + n and e[0] not in b", \t\r\n":
        e += 1
    return parse_ip_text(v, e - v, addr16)


