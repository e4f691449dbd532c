# HTTP request parsing (docs/compatibility.md, "HTTP"): the framing check, the
# original's query scanner with its byte classes, the query-parameter loop,
# header lookup, X-Forwarded-For and Accept-Encoding. Nothing here writes an
# answer (http.pyx does), as httptools keeps its parser apart from I/O.

from libc.string cimport memcmp
from libc.stdint cimport int32_t


# ---------------------------------------------------------------- byte classes

cdef enum:
    SCAN_PATH = 1
    SCAN_PARAM = 2
    SCAN_VALUE = 4
    SCAN_TERMINATOR = 8

# Which scanning modes a byte may continue (docs/compatibility.md, "Query
# scanner"). Hard terminators (NUL, CR, LF, space) and the hard-invalid bytes
# carry only bit 8: they end every mode, and only the real terminators end it
# without an error.
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
    if c'0' <= x <= c'9':
        return x - c'0'
    x |= 0x20
    if c'a' <= x <= c'f':
        return x - c'a' + 10
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
        if c == c'%':
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
    if c == 0 or c == c'\r' or c == c'\n' or c == c' ':
        if d == dest:
            return -2
        s -= 1
    elif c == c'?':
        if mode != SCAN_PATH:
            return -1
    elif c == c'=':
        if mode != SCAN_PARAM:
            return -1
    elif c == c'&':
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
    if n and data[0] == c'-':
        minus = True
        data += 1
        n -= 1
    while n and c'0' <= data[0] <= c'9':
        v = v * 10 + (data[0] - c'0')
        data += 1
        n -= 1
    out[0] = <int32_t>(0u - v) if minus else <int32_t>v
    return n


cdef bint header_complete(const uint8_t *buf, size_t n) noexcept nogil:
    """True once the header has ended: LF LF or CR LF CR LF (so CR LF LF too)."""
    cdef size_t i
    for i in range(1, n):
        if buf[i] == c'\n':
            if buf[i - 1] == c'\n':
                return True
            if i >= 3 and buf[i - 1] == c'\r' and buf[i - 2] == c'\n' and buf[i - 3] == c'\r':
                return True
    return False


cdef const uint8_t *query_start(const uint8_t *p, const uint8_t *end) noexcept nogil:
    """Tolerate `GET /announce ?info_hash=...`: when the path did not end at
    '?', scan forward to it. NULL when a LF (or the end) comes first."""
    if (p - 1)[0] == c'?':
        return p
    while p < end and p[0] != c'?' and p[0] != c'\n':
        p += 1
    if p >= end or p[0] == c'\n':
        return NULL
    return p + 1


cdef inline bint name_is(const uint8_t *name, ssize_t n, const char *key, ssize_t klen) noexcept nogil:
    return n == klen and memcmp(name, key, klen) == 0


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
    is directly followed by ':' (docs/compatibility.md, "Peer address:
    proxies and ip="). NULL when there is none."""
    cdef size_t i
    cdef const uint8_t *v
    for i in range(n):
        if req[i] == c'\n' and i + nl + 1 < n and req[i + nl + 1] == c':' and _ieq(req + i + 1, lower_name, nl):
            v = req + i + nl + 2
            while v < req + n and (v[0] == c' ' or v[0] == c'\t'):
                v += 1
            return v
    return NULL


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


# ---------------------------------------------------------------- query parameters

cdef enum:
    QUERY_END = -2            # no more parameters
    QUERY_ERROR = -1          # a parameter name that does not scan: 400


ctypedef int (*ot_query_keys)(const uint8_t *name, ssize_t n) noexcept nogil


cdef int query_next(const uint8_t **p, uint8_t *name, ot_query_keys keys) noexcept nogil:
    """The next parameter the caller knows, by the number `keys` gives its
    name (> 0), with *p left on its value; parameters it does not know
    (keys returns 0, or an empty name) have their value skipped here.
    QUERY_END after the last one, QUERY_ERROR for a name that does not scan.
    `name` must hold as many bytes as the rest of the request."""
    cdef ssize_t n
    cdef int key
    while True:
        n = scan_urlencoded(p, name, SCAN_PARAM)
        if n == -2:
            return QUERY_END
        if n == -1:
            return QUERY_ERROR
        key = keys(name, n) if n > 0 else 0
        if key > 0:
            return key
        skip_value(p)


# ---------------------------------------------------------------- Accept-Encoding

cdef inline const uint8_t *_ows(const uint8_t *v, const uint8_t *end) noexcept nogil:
    while v < end and (v[0] == c' ' or v[0] == c'\t'):
        v += 1
    return v


cdef const uint8_t *_coding(const uint8_t *v, const uint8_t *end, int *verdict) noexcept nogil:
    """Parse one `coding *( OWS ";" OWS name=value )` element of
    Accept-Encoding at v; set verdict to 1 for gzip / x-gzip, 2 for `*`,
    5 for zstd (3, 4 and 6 when their q is 0), 0 for anything else. Returns where the
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
        if v >= end or v[0] != c';':
            break
        v = _ows(v + 1, end)
        name = v
        while v < end and v[0] not in b"=,; \t\r\n":
            v += 1
        nlen = <size_t>(v - name)
        v = _ows(v, end)
        if v < end and v[0] == c'=':
            v = _ows(v + 1, end)
            if nlen == 1 and (name[0] | 0x20) == c'q':  # q: 0, 0., 0.0, 0.00, 0.000 are "not acceptable"
                zero = v < end and v[0] == c'0'
                digits_nonzero = False
                v += 1 if zero else 0
                if zero and v < end and v[0] == c'.':
                    v += 1
                    while v < end and c'0' <= v[0] <= c'9':
                        digits_nonzero = digits_nonzero or v[0] != c'0'
                        v += 1
                zero = zero and not digits_nonzero
            while v < end and v[0] not in b",; \t\r\n":
                v += 1
    while v < end and v[0] != c',' and v[0] != c'\r' and v[0] != c'\n':
        v += 1   # junk after the element: skip it
    if (tlen == 4 and _ieq(tok, b"gzip", 4)) or (tlen == 6 and _ieq(tok, b"x-gzip", 6)):
        verdict[0] = 3 if zero else 1
    elif tlen == 1 and tok[0] == c'*':
        verdict[0] = 4 if zero else 2
    elif tlen == 4 and _ieq(tok, b"zstd", 4):
        verdict[0] = 6 if zero else 5
    else:
        verdict[0] = 0
    return v


cdef enum:
    ACCEPT_GZIP = 1
    ACCEPT_ZSTD = 2


cdef int accepted_codings(const uint8_t *req, size_t n) noexcept nogil:
    """The codings the request accepts (ACCEPT_*). docs/compatibility.md, "Quirks fixed":
    Accept-Encoding parsed (every such header, quality values honoured, `*`
    standing for gzip unless gzip is listed itself), not the original's
    search for `gzip` anywhere in the request. zstd only when named."""
    cdef const uint8_t *end = req + n
    cdef const uint8_t *v
    cdef const uint8_t *line = req
    cdef int gzip = 0, star = 0, zstd = 0, verdict
    while True:
        v = find_header(line, <size_t>(end - line), b"accept-encoding", 15)
        if v == NULL:
            break
        while v < end and v[0] != c'\r' and v[0] != c'\n':
            v = _ows(v, end)
            if v < end and v[0] == c',':  # empty list element
                v += 1
                continue
            v = _coding(v, end, &verdict)
            if verdict == 1 or verdict == 3:
                gzip = verdict
            elif verdict == 2 or verdict == 4:
                star = verdict
            elif verdict == 5 or verdict == 6:
                zstd = verdict
            if v < end and v[0] == c',':
                v += 1
        # find_header looks for a LF followed by the name: go on from the
        # end of this header line.
        line = v
    return ((ACCEPT_GZIP if gzip == 1 or (gzip == 0 and star == 2) else 0)
            | (ACCEPT_ZSTD if zstd == 5 else 0))


cdef bint request_is_http11(const uint8_t *req, size_t n) noexcept nogil:
    """Does the request line end in HTTP/1.1 (or a later 1.x)? Such a
    client reads chunked transfer coding; an HTTP/1.0 one does not."""
    cdef size_t i = 0
    while i < n and req[i] != c'\n' and req[i] != c'\r':
        i += 1
    return (i >= 8 and req[i - 8] == c'H' and req[i - 7] == c'T' and req[i - 6] == c'T' and req[i - 5] == c'P'
            and req[i - 4] == c'/' and req[i - 3] == c'1' and req[i - 2] == c'.' and c'1' <= req[i - 1] <= c'9')
