# /stats (SPEC.md §8): permission, mode and format parameters, and the
# answers that are computed on the spot. The MRTG-style modes are four lines,
# the last without a newline; rates are integer divisions by the uptime.

from libc.string cimport memcmp, memcpy, memmove, memset


cdef enum:
    MODE_PEER = 1
    MODE_TORR
    MODE_CONN
    MODE_SCRP
    MODE_UDP4
    MODE_TCP4
    MODE_BUSY
    MODE_FSCR
    MODE_S24S
    MODE_TPBS
    MODE_HERR
    MODE_COMPLETED
    MODE_TOP100
    MODE_TOP10
    MODE_RENEW
    MODE_SYNCS
    MODE_VERSION
    MODE_EVERYTHING
    MODE_STATEDUMP
    MODE_FULLLOG
    MODE_WOODPECKERS
    MODE_PROMETHEUS

    FORMAT_NONE = 0
    FORMAT_BIN
    FORMAT_BEN
    FORMAT_URL
    FORMAT_TXT
    FORMAT_TXTP


cdef int _stats_mode(const uint8_t *v, ssize_t n) noexcept nogil:
    if _is(v, n, b"peer", 4): return MODE_PEER
    if _is(v, n, b"conn", 4): return MODE_CONN
    if _is(v, n, b"scrp", 4): return MODE_SCRP
    if _is(v, n, b"udp4", 4): return MODE_UDP4
    if _is(v, n, b"tcp4", 4): return MODE_TCP4
    if _is(v, n, b"busy", 4): return MODE_BUSY
    if _is(v, n, b"torr", 4): return MODE_TORR
    if _is(v, n, b"fscr", 4): return MODE_FSCR
    if _is(v, n, b"s24s", 4): return MODE_S24S
    if _is(v, n, b"tpbs", 4): return MODE_TPBS
    if _is(v, n, b"herr", 4): return MODE_HERR
    if _is(v, n, b"completed", 9): return MODE_COMPLETED
    if _is(v, n, b"top100", 6): return MODE_TOP100
    if _is(v, n, b"top10", 5): return MODE_TOP10
    if _is(v, n, b"renew", 5): return MODE_RENEW
    if _is(v, n, b"syncs", 5): return MODE_SYNCS
    if _is(v, n, b"version", 7): return MODE_VERSION
    if _is(v, n, b"everything", 10): return MODE_EVERYTHING
    if _is(v, n, b"statedump", 9): return MODE_STATEDUMP
    if _is(v, n, b"fulllog", 7): return MODE_FULLLOG
    if _is(v, n, b"woodpeckers", 11): return MODE_WOODPECKERS
    if _is(v, n, b"prometheus", 10): return MODE_PROMETHEUS
    return 0


cdef int _stats_format(const uint8_t *v, ssize_t n) noexcept nogil:
    if _is(v, n, b"bin", 3): return FORMAT_BIN
    if _is(v, n, b"ben", 3): return FORMAT_BEN
    if _is(v, n, b"url", 3): return FORMAT_URL
    if _is(v, n, b"txt", 3): return FORMAT_TXT
    if _is(v, n, b"txtp", 4): return FORMAT_TXTP
    return 0


cdef bint may_stat(ot_server *s, const uint8_t *addr16) noexcept nogil:
    """Loopback and blessed networks may read /stats (DESIGN.md point 2)."""
    return addr_is_loopback(addr16) or (access_perms(&s.access, addr16) & OT_PERM_STATS) != 0


cdef ot_span stats_respond(ot_server *s, ot_conn *c, const uint8_t *req, size_t n,
                           const uint8_t *p, uint8_t *out) noexcept nogil:
    cdef uint8_t *buf = s.scratch
    cdef int mode = MODE_PEER, fmt = FORMAT_NONE
    cdef ssize_t klen, vlen
    if not may_stat(s, c.addr):
        return http_error(s, out, HTTPERR_403_IP)
    while True:
        klen = scan_param_name(&p, buf)
        if klen == -2:
            break
        if klen == -1:
            return http_error(s, out, HTTPERR_400_PARAM)
        if _is(buf, klen, b"mode", 4):
            vlen = scan_urlencoded(&p, buf, SCAN_VALUE)
            mode = _stats_mode(buf, vlen) if vlen > 0 else 0
            if mode == 0:
                return http_error(s, out, HTTPERR_400_PARAM)
        elif _is(buf, klen, b"format", 6):
            vlen = scan_urlencoded(&p, buf, SCAN_VALUE)
            fmt = _stats_format(buf, vlen) if vlen > 0 else 0
            if fmt == 0:
                return http_error(s, out, HTTPERR_400_PARAM)
        elif _is(buf, klen, b"info_hash", 9):
            # A client using the stats URL as its announce URL: stop it cheaply.
            return http_error(s, out, HTTPERR_400_PARAM)
        else:
            skip_value(&p)
    return stats_mode_answer(s, c, req, n, mode, fmt, out)


cdef ot_span stats_mode_answer(ot_server *s, ot_conn *c, const uint8_t *req, size_t n,
                               int mode, int fmt, uint8_t *out) noexcept nogil:
    cdef uint8_t *body = out + OT_HTTP_HEAD_ROOM
    cdef uint8_t *p = body
    cdef ot_counters *k = &s.ctr
    cdef int64_t up = s.now - s.started
    cdef uint64_t t = <uint64_t>(up if up > 0 else 0)
    cdef uint64_t tcp_acc = k.tcp_accepts + k.tcp_accepts6
    cdef uint64_t tcp_ann = k.tcp_announces + k.tcp_announces6
    cdef uint64_t udp_dg = k.udp_datagrams + k.udp_datagrams6
    cdef uint64_t udp_ok = k.udp_announces + k.udp_announces6 + k.udp_connects + k.udp_connects6
    cdef int i
    cdef bint http10 = False
    if mode == MODE_PEER or mode == MODE_TORR:
        http10 = True
        if mode == MODE_PEER:
            p = put_uint(p, s.store.peer_count[0] + s.store.peer_count[1])
            p = put_raw(p, b"\n", 1)
            p = put_uint(p, s.store.seeder_count[0] + s.store.seeder_count[1])
        else:
            p = put_uint(p, s.store.torrent_count)
            p = put_raw(p, b"\n0", 2)
        p = put_raw(p, b"\nopentracker serving ", 21)
        p = put_uint(p, s.store.torrent_count)
        p = put_raw(p, b" torrents\nopentracker", 21)
    elif mode == MODE_CONN:
        p = _mrtg(p, tcp_acc + udp_dg, tcp_ann + udp_ok, t, b"opentracker connections, ", 25)
        p = _rates(p, tcp_acc + udp_dg, tcp_ann + udp_ok, t, b" success/s.", 11)
    elif mode == MODE_TCP4:
        p = _mrtg(p, tcp_acc, tcp_ann, t, b"opentracker tcp4 stats, ", 24)
        p = _rates(p, tcp_acc, tcp_ann, t, b" success/s.", 11)
    elif mode == MODE_UDP4:
        p = _mrtg(p, udp_dg, udp_ok, t, b"opentracker udp4 stats, ", 24)
        p = _rates(p, udp_dg, udp_ok, t, b" success/s.", 11)
    elif mode == MODE_SCRP:
        p = _mrtg(p, k.tcp_scrapes + k.tcp_scrapes6, k.udp_scrapes + k.udp_scrapes6, t,
                  b"opentracker scrape stats, ", 26)
        p = put_uint(p, (k.tcp_scrapes + k.tcp_scrapes6 + k.udp_scrapes + k.udp_scrapes6) // (t or 1))
        p = put_raw(p, b" scrape/s (tcp and udp)", 23)
    elif mode == MODE_FSCR:
        p = _mrtg(p, k.fullscrapes * 1000, k.fullscrape_bytes, t, b"opentracker full scrape stats, ", 31)
        p = _rates(p, k.fullscrapes, k.fullscrape_bytes, t, b" bytes/s.", 9)
    elif mode == MODE_COMPLETED:
        p = _mrtg(p, k.completed, 0, t, b"opentracker, ", 13)
        p = put_uint(p, k.completed // ((t // 3600) or 1))
        p = put_raw(p, b" completed/h.", 13)
    elif mode == MODE_SYNCS:
        p = _mrtg(p, k.syncs, 0, t, b"opentracker connections, ", 25)
        p = _rates(p, tcp_acc + udp_dg, tcp_ann + udp_ok, t, b" success/s.", 11)
    elif mode == MODE_HERR:
        # Byte-compatible with the original, including its shifted labels:
        # the last three lines show the 402, 403-not-modest and 403 counters.
        p = _herr_line(p, b"302 RED ", k.http_errors[0])
        p = _herr_line(p, b"400 ... ", k.http_errors[1])
        p = _herr_line(p, b"400 PAR ", k.http_errors[2])
        p = _herr_line(p, b"400 COM ", k.http_errors[3])
        p = _herr_line(p, b"403 IP  ", k.http_errors[4])
        p = _herr_line(p, b"404 INV ", k.http_errors[5])
        p = _herr_line(p, b"500 SRV ", k.http_errors[6])
    elif mode == MODE_RENEW:
        for i in range(OT_PEER_TIMEOUT):
            p[0] = <uint8_t>(48 + i // 10)
            p[1] = <uint8_t>(48 + i % 10)
            p[2] = 32
            p = put_uint(p + 3, k.renew[i])
            p = put_raw(p, b"\n", 1)
    elif mode == MODE_VERSION:
        p = write_version(p)
    else:
        return stats_heavy(s, c, req, n, mode, fmt, out)
    return http_ok(out, <size_t>(p - body), http10)


cdef uint8_t *write_version(uint8_t *p) noexcept nogil:
    """The original's 14 `$Source$: $Revision$` lines (MRTG scripts parse it)."""
    cdef int i
    for i in range(14):
        p = put_raw(p, b"$Source$: $Revision$\n", 21)
    return p


cdef inline uint8_t *_herr_line(uint8_t *p, const char *label, uint64_t v) noexcept nogil:
    p = put_raw(p, label, 8)
    p = put_uint(p, v)
    return put_raw(p, b"\n", 1)


cdef uint8_t *_mrtg(uint8_t *p, uint64_t a, uint64_t b, uint64_t t, const char *text,
                    size_t tn) noexcept nogil:
    """`a\\nb\\n<t> seconds (<h> hours)\\n<text>`: the first three MRTG lines
    and the start of the fourth."""
    p = put_uint(p, a)
    p = put_raw(p, b"\n", 1)
    p = put_uint(p, b)
    p = put_raw(p, b"\n", 1)
    p = put_uint(p, t)
    p = put_raw(p, b" seconds (", 10)
    p = put_uint(p, t // 3600)
    p = put_raw(p, b" hours)\n", 8)
    return put_raw(p, text, tn)


cdef uint8_t *_rates(uint8_t *p, uint64_t a, uint64_t b, uint64_t t, const char *tail,
                     size_t tn) noexcept nogil:
    p = put_uint(p, a // (t or 1))
    p = put_raw(p, b" conns/s :: ", 12)
    p = put_uint(p, b // (t or 1))
    return put_raw(p, tail, tn)


cdef ot_span stats_heavy(ot_server *s, ot_conn *c, const uint8_t *req, size_t n,
                         int mode, int fmt, uint8_t *out) noexcept nogil:
    """Modes that walk every torrent: built in slices like a full scrape
    (tpbs, statedump), or summarised in one pass."""
    cdef bint gz = s.gzip and wants_gzip(req, n)
    if mode == MODE_TPBS:
        # Without format= the original queued a task nobody took (the client
        # hung forever); we answer bencoded, as DESIGN.md point 4 says.
        return bulk_begin(s, c, BULK_TPBS, fmt if fmt else FORMAT_BEN, gz, out)
    if mode == MODE_STATEDUMP:
        return bulk_begin(s, c, BULK_STATEDUMP, FORMAT_NONE, gz, out)
    if mode == MODE_TOP10 or mode == MODE_TOP100:
        return http_ok(out, write_top(s, out + OT_HTTP_HEAD_ROOM, 10 if mode == MODE_TOP10 else 100), True)
    # busy, woodpeckers and fulllog were never implemented by the original
    # either: "the handler produced nothing" is a 500 there.
    return http_error(s, out, HTTPERR_500)


cdef struct ot_toprec:
    uint32_t val
    uint8_t hash[20]


cdef void _top_insert(ot_toprec *top, int amount, uint32_t val, const uint8_t *hash) noexcept nogil:
    cdef int idx = amount - 1
    while idx >= 0 and val > top[idx].val:
        idx -= 1
    idx += 1
    if idx < amount:
        memmove(&top[idx + 1], &top[idx], (amount - 1 - idx) * sizeof(ot_toprec))
        top[idx].val = val
        memcpy(top[idx].hash, hash, OT_HASH_SIZE)


cdef uint8_t *_top_section(uint8_t *p, const char *title, size_t tn, int amount,
                           const ot_toprec *top) noexcept nogil:
    cdef int i
    p = put_raw(p, b"Top ", 4)
    p = put_uint(p, amount)
    p = put_raw(p, title, tn)
    for i in range(amount):
        if top[i].val:
            p[0] = 9
            p = put_uint(p + 1, top[i].val)
            p[0] = 9
            p = put_hex_upper(p + 1, top[i].hash)
            p[0] = 10
            p += 1
    return p


cdef size_t write_top(ot_server *s, uint8_t *body, int amount) noexcept nogil:
    """`Top N torrents by peers:` then `by seeds:`, highest first, zero counts
    left out (SPEC.md §8). At most 2 * 100 * 53 + 60 bytes."""
    cdef ot_toprec peers[100]
    cdef ot_toprec seeds[100]
    cdef ot_torrent *t = store_next(s.store, NULL)
    memset(peers, 0, sizeof(peers))
    memset(seeds, 0, sizeof(seeds))
    while t != NULL:
        _top_insert(peers, amount, ot_torrent_peers(t), t.hash)
        _top_insert(seeds, amount, ot_torrent_seeders(t), t.hash)
        t = store_next(s.store, t.hash)
    cdef uint8_t *p = _top_section(body, b" torrents by peers:\n", 20, amount, peers)
    p = _top_section(p, b" torrents by seeds:\n", 20, amount, seeds)
    return <size_t>(p - body)
