# /stats (SPEC.md §8): permission, mode and format parameters, the answers
# computed on the spot (the MRTG modes, herr, renew, version, numwants,
# everything; prometheus is in metrics.pyx), and the walks over every torrent
# or peer that the loop runs a slice at a time through bulk.pyx (top10/top100,
# s24s; tpbs and statedump are bulk.pyx's own).
#
# The MRTG-style modes are four lines, the last without a newline; rates are
# integer divisions by the uptime (0 taken as 1). Answers the original's
# worker thread built (peer, torr, top, s24s, everything, tpbs, statedump)
# start `HTTP/1.0 200 OK`, the immediate ones `HTTP/1.1 200 OK` (§3.11).

from libc.string cimport memcmp, memcpy, memmove, memset, strlen


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
    MODE_NUMWANTS
    MODE_PROMETHEUS

    FORMAT_NONE = 0
    FORMAT_BIN
    FORMAT_BEN
    FORMAT_URL
    FORMAT_TXT
    FORMAT_TXTP


cdef int _stats_mode(const uint8_t *v, ssize_t n) noexcept nogil:
    if name_is(v, n, b"peer", 4): return MODE_PEER
    if name_is(v, n, b"conn", 4): return MODE_CONN
    if name_is(v, n, b"scrp", 4): return MODE_SCRP
    if name_is(v, n, b"udp4", 4): return MODE_UDP4
    if name_is(v, n, b"tcp4", 4): return MODE_TCP4
    if name_is(v, n, b"busy", 4): return MODE_BUSY
    if name_is(v, n, b"torr", 4): return MODE_TORR
    if name_is(v, n, b"fscr", 4): return MODE_FSCR
    if name_is(v, n, b"s24s", 4): return MODE_S24S
    if name_is(v, n, b"tpbs", 4): return MODE_TPBS
    if name_is(v, n, b"herr", 4): return MODE_HERR
    if name_is(v, n, b"completed", 9): return MODE_COMPLETED
    if name_is(v, n, b"top100", 6): return MODE_TOP100
    if name_is(v, n, b"top10", 5): return MODE_TOP10
    if name_is(v, n, b"renew", 5): return MODE_RENEW
    if name_is(v, n, b"syncs", 5): return MODE_SYNCS
    if name_is(v, n, b"version", 7): return MODE_VERSION
    if name_is(v, n, b"everything", 10): return MODE_EVERYTHING
    if name_is(v, n, b"statedump", 9): return MODE_STATEDUMP
    if name_is(v, n, b"fulllog", 7): return MODE_FULLLOG
    if name_is(v, n, b"woodpeckers", 11): return MODE_WOODPECKERS
    # WANT_LOG_NUMWANT is a build switch of the original (Debian: off, so
    # 400); features are runtime here (DESIGN.md point 1) and this one costs
    # 201 counters, so it is always on.
    if name_is(v, n, b"numwants", 8): return MODE_NUMWANTS
    if name_is(v, n, b"prometheus", 10): return MODE_PROMETHEUS
    return 0


cdef int _stats_format(const uint8_t *v, ssize_t n) noexcept nogil:
    if name_is(v, n, b"bin", 3): return FORMAT_BIN
    if name_is(v, n, b"ben", 3): return FORMAT_BEN
    if name_is(v, n, b"url", 3): return FORMAT_URL
    if name_is(v, n, b"txt", 3): return FORMAT_TXT
    if name_is(v, n, b"txtp", 4): return FORMAT_TXTP
    return 0


cdef enum:
    STATS_KEY_MODE = 1
    STATS_KEY_FORMAT = 2
    STATS_KEY_INFO_HASH = 3


cdef int _stats_key(const uint8_t *name, ssize_t n) noexcept nogil:
    if name_is(name, n, b"mode", 4): return STATS_KEY_MODE
    if name_is(name, n, b"format", 6): return STATS_KEY_FORMAT
    if name_is(name, n, b"info_hash", 9): return STATS_KEY_INFO_HASH
    return 0


cdef bint may_stat(ot_server *s, const uint8_t *addr16) noexcept nogil:
    """Loopback and blessed networks may read /stats (DESIGN.md point 2)."""
    return addr_is_loopback(addr16) or (access_perms(&s.access, addr16) & OT_PERM_STATS) != 0


cdef ot_span stats_respond(ot_server *s, ot_conn *c, const uint8_t *req, size_t n,
                           const uint8_t *p, uint8_t *out, int mode) noexcept nogil:
    """A request to the stats path (`mode` MODE_PEER) or to /metrics
    (MODE_PROMETHEUS); p is the query string. The permission check comes
    first, as in the original: a stranger learns nothing, not even 400."""
    cdef uint8_t *buf = s.scratch
    cdef int fmt = FORMAT_NONE
    cdef ssize_t vlen
    cdef int key
    s.ctr.stats_requests[addr_family(c.addr)] += 1
    if not may_stat(s, c.addr):
        return http_error(s, out, HTTPERR_403_IP)
    while True:
        key = query_next(&p, buf, _stats_key)
        if key == QUERY_END:
            break
        if key == QUERY_ERROR or key == STATS_KEY_INFO_HASH:
            # info_hash: a client using the stats URL as its announce URL;
            # stop it cheaply, before it triggers a heavy mode (SPEC.md §14.4).
            return http_error(s, out, HTTPERR_400_PARAM)
        vlen = scan_urlencoded(&p, buf, SCAN_VALUE)
        if key == STATS_KEY_MODE:
            mode = _stats_mode(buf, vlen) if vlen > 0 else 0
            if mode == 0:
                return http_error(s, out, HTTPERR_400_PARAM)
        else:
            fmt = _stats_format(buf, vlen) if vlen > 0 else 0
            if fmt == 0:
                return http_error(s, out, HTTPERR_400_PARAM)
    return stats_mode_answer(s, c, req, n, mode, fmt, out)


cdef ot_span stats_mode_answer(ot_server *s, ot_conn *c, const uint8_t *req, size_t n,
                               int mode, int fmt, uint8_t *out) noexcept nogil:
    cdef uint8_t *body = out + OT_HTTP_HEAD_ROOM
    cdef uint8_t *p = body
    cdef ot_counters *k = &s.ctr
    cdef uint64_t t = stats_uptime(s)
    # Each total is the sum over both families: the original's v4 build
    # counted everything it served, and so did its v6 build under the same
    # mode names (tcp4, udp4); per-family numbers are in mode=prometheus.
    cdef uint64_t tcp_acc = _both(k.tcp_accepts)
    cdef uint64_t tcp_ann = _both(k.tcp_announces)
    cdef uint64_t udp_dg = _both(k.udp_datagrams)
    cdef uint64_t udp_ok = _both(k.udp_announces) + _both(k.udp_connects)
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
        p = _mrtg(p, _both(k.tcp_scrapes), _both(k.udp_scrapes), t,
                  b"opentracker scrape stats, ", 26)
        p = put_uint(p, (_both(k.tcp_scrapes) + _both(k.udp_scrapes)) // _per(t))
        p = put_raw(p, b" scrape/s (tcp and udp)", 23)
    elif mode == MODE_FSCR:
        # The original's shape (count * 1000, then bytes); its counting event
        # was never raised, ours counts full-scrape answers and their bytes.
        p = _mrtg(p, k.fullscrapes * 1000, k.fullscrape_size, t, b"opentracker full scrape stats, ", 31)
        p = _rates(p, k.fullscrapes, k.fullscrape_size, t, b" bytes/s.", 9)
    elif mode == MODE_COMPLETED:
        p = _mrtg(p, k.completed, 0, t, b"opentracker, ", 13)
        p = put_uint(p, k.completed // _per(t // 3600))
        p = put_raw(p, b" completed/h.", 13)
    elif mode == MODE_SYNCS:
        # The description line is conn's, rates included, as in the original.
        p = _mrtg(p, k.syncs, 0, t, b"opentracker connections, ", 25)
        p = _rates(p, tcp_acc + udp_dg, tcp_ann + udp_ok, t, b" success/s.", 11)
    elif mode == MODE_HERR:
        # Byte-compatible with the original, including its shifted labels:
        # the last three lines show the 402, 403-not-modest and 403
        # counters. Correct figures are in everything and prometheus.
        p = _herr_line(p, b"302 RED ", k.http_errors[0])
        p = _herr_line(p, b"400 ... ", k.http_errors[1])
        p = _herr_line(p, b"400 PAR ", k.http_errors[2])
        p = _herr_line(p, b"400 COM ", k.http_errors[3])
        p = _herr_line(p, b"403 IP  ", k.http_errors[4])
        p = _herr_line(p, b"404 INV ", k.http_errors[5])
        p = _herr_line(p, b"500 SRV ", k.http_errors[6])
    elif mode == MODE_RENEW:
        for i in range(OT_PEER_TIMEOUT):
            p = _two_digits(p, i)
            p[0] = 32
            p = put_uint(p + 1, k.renew[i])
            p = put_raw(p, b"\n", 1)
    elif mode == MODE_VERSION:
        p = write_version(p)
    elif mode == MODE_NUMWANTS:
        # 201 lines `%03d => %lld`: 201 * 28 bytes at most.
        for i in range(201):
            p[0] = <uint8_t>(48 + i // 100)
            p = _two_digits(p + 1, i % 100)
            p = put_raw(p, b" => ", 4)
            p = put_uint(p, k.numwants[i])
            p = put_raw(p, b"\n", 1)
    elif mode == MODE_EVERYTHING:
        http10 = True
        p = write_everything(s, p)
    elif mode == MODE_PROMETHEUS:
        return prometheus_answer(s, out)
    else:
        return stats_heavy(s, c, req, n, mode, fmt, out)
    return http_ok(s, out, <size_t>(p - body), http10)


cdef inline uint64_t _both(const uint64_t *per_family) noexcept nogil:
    return per_family[0] + per_family[1]


cdef inline uint64_t stats_uptime(ot_server *s) noexcept nogil:
    cdef int64_t up = s.now - s.started
    return <uint64_t>(up if up > 0 else 0)


cdef inline uint64_t _per(uint64_t t) noexcept nogil:
    """The original's events_per_time divisor: the uptime, 0 taken as 1."""
    return t if t else 1


cdef inline uint8_t *_two_digits(uint8_t *p, int v) noexcept nogil:
    p[0] = <uint8_t>(48 + v // 10)
    p[1] = <uint8_t>(48 + v % 10)
    return p + 2


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
    p = put_uint(p, a // _per(t))
    p = put_raw(p, b" conns/s :: ", 12)
    p = put_uint(p, b // _per(t))
    return put_raw(p, tail, tn)


# ---------------------------------------------------------------- everything

cdef const char *httperr_name(int code) noexcept nogil:
    """The original's http_error names, in counter order (they line up with
    the counters, unlike herr's labels)."""
    if code == HTTPERR_302: return b"302 Redirect"
    if code == HTTPERR_400: return b"400 Parse Error"
    if code == HTTPERR_400_PARAM: return b"400 Invalid Parameter"
    if code == HTTPERR_400_COMPACT: return b"400 Invalid Parameter (compact=0)"
    if code == HTTPERR_402_NOTMODEST: return b"400 Not Modest"
    if code == HTTPERR_403_NOTMODEST: return b"402 Payment Required"
    if code == HTTPERR_403_IP: return b"403 Access Denied"
    if code == HTTPERR_404: return b"404 Not found"
    return b"500 Internal Server Error"


cdef inline uint8_t *_xml_count(uint8_t *p, const char *open_, uint64_t v, const char *close) noexcept nogil:
    p = put_cstr(p, open_)
    p = put_uint(p, v)
    return put_cstr(p, close)


cdef uint8_t *write_everything(ot_server *s, uint8_t *p) noexcept nogil:
    """The original's XML, byte for byte (2-space indentation, no newline
    after </stats>). The torrents are counted twice, as there: the running
    counter, and by walking the buckets. At most ~4.6 KiB with 20-digit
    counters, well inside the answer buffer."""
    cdef ot_counters *k = &s.ctr
    cdef uint64_t walked = 0
    cdef int b, i
    for b in range(OT_BUCKET_COUNT):
        walked += s.store.buckets[b].size
    p = put_cstr(p, b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<stats>\n")
    p = _xml_count(p, b"  <tracker_id>", s.tracker_id, b"</tracker_id>\n")
    p = put_cstr(p, b"  <version>\n")
    p = write_version(p)
    p = put_cstr(p, b"  </version>\n")
    p = _xml_count(p, b"  <uptime>", stats_uptime(s), b"</uptime>\n")
    p = put_cstr(p, b"  <torrents>\n")
    p = _xml_count(p, b"    <count_mutex>", s.store.torrent_count, b"</count_mutex>\n")
    p = _xml_count(p, b"    <count_iterator>", walked, b"</count_iterator>\n")
    p = put_cstr(p, b"  </torrents>\n")
    p = _xml_count(p, b"  <peers>\n    <count>", s.store.peer_count[0] + s.store.peer_count[1],
                   b"</count>\n  </peers>\n")
    p = _xml_count(p, b"  <seeds>\n    <count>", s.store.seeder_count[0] + s.store.seeder_count[1],
                   b"</count>\n  </seeds>\n")
    p = _xml_count(p, b"  <completed>\n    <count>", k.completed, b"</count>\n  </completed>\n")
    p = put_cstr(p, b"  <connections>\n")
    p = _xml_count(p, b"    <tcp>\n      <accept>", _both(k.tcp_accepts), b"</accept>\n")
    p = _xml_count(p, b"      <announce>", _both(k.tcp_announces), b"</announce>\n")
    p = _xml_count(p, b"      <scrape>", _both(k.tcp_scrapes), b"</scrape>\n    </tcp>\n")
    p = _xml_count(p, b"    <udp>\n      <overall>", _both(k.udp_datagrams), b"</overall>\n")
    p = _xml_count(p, b"      <connect>", _both(k.udp_connects), b"</connect>\n")
    p = _xml_count(p, b"      <announce>", _both(k.udp_announces), b"</announce>\n")
    p = _xml_count(p, b"      <scrape>", _both(k.udp_scrapes), b"</scrape>\n")
    p = _xml_count(p, b"      <missmatch>", k.udp_mismatches, b"</missmatch>\n    </udp>\n")
    p = _xml_count(p, b"    <livesync>\n      <count>", k.syncs, b"</count>\n    </livesync>\n")
    p = put_cstr(p, b"  </connections>\n  <debug>\n    <renew>\n")
    for i in range(OT_PEER_TIMEOUT):
        p = put_cstr(p, b"      <count interval=\"")
        p = _two_digits(p, i)
        p = _xml_count(p, b"\">", k.renew[i], b"</count>\n")
    p = put_cstr(p, b"    </renew>\n    <http_error>\n")
    for i in range(HTTPERR_COUNT):
        p = put_cstr(p, b"      <count code=\"")
        p = put_cstr(p, httperr_name(i))
        p = _xml_count(p, b"\">", k.http_errors[i], b"</count>\n")
    p = put_cstr(p, b"    </http_error>\n")
    # No mutex here to stall on (one loop thread): always 0, as the
    # original's counter, which nothing incremented either.
    p = put_cstr(p, b"    <mutex_stall>\n      <count>0</count>\n    </mutex_stall>\n")
    return put_cstr(p, b"  </debug>\n</stats>")


# ---------------------------------------------------------------- heavy modes

cdef ot_span stats_heavy(ot_server *s, ot_conn *c, const uint8_t *req, size_t n,
                         int mode, int fmt, uint8_t *out) noexcept nogil:
    """Modes that walk every torrent or every peer, built in slices by the
    loop (bulk.pyx) so announces keep flowing meanwhile."""
    cdef bint gz = s.gzip and wants_gzip(req, n)
    cdef void *aux
    if mode == MODE_TPBS:
        # Without format= the original queued a task nobody took (the client
        # hung forever); we answer bencoded, as DESIGN.md point 4 says. And
        # gzip only on request, not always as the Debian build.
        return bulk_begin(s, c, BULK_TPBS, fmt if fmt else FORMAT_BEN, gz, NULL, out)
    if mode == MODE_STATEDUMP:
        return bulk_begin(s, c, BULK_STATEDUMP, FORMAT_NONE, gz, NULL, out)
    if mode == MODE_TOP10 or mode == MODE_TOP100:
        aux = ot_malloc(sizeof(ot_topstate))
        if aux == NULL:
            return http_error(s, out, HTTPERR_500)
        memset(aux, 0, sizeof(ot_topstate))
        return bulk_begin(s, c, BULK_TOP, 10 if mode == MODE_TOP10 else 100, False, aux, out)
    if mode == MODE_S24S:
        aux = ot_malloc(sizeof(ot_s24s))
        if aux == NULL:
            return http_error(s, out, HTTPERR_500)
        memset(aux, 0, sizeof(ot_s24s))
        return bulk_begin(s, c, BULK_S24S, FORMAT_NONE, False, aux, out)
    # busy, woodpeckers and fulllog: the original never implemented busy,
    # and Debian's build has neither of the others; "the handler produced
    # nothing" is a 500 there.
    return http_error(s, out, HTTPERR_500)


cdef void bulk_aux_free(int kind, void *aux) noexcept nogil:
    cdef ot_s24s *st
    if aux == NULL:
        return
    if kind == BULK_S24S:
        st = <ot_s24s *>aux
        ot_free(st.keys[0])
        ot_free(st.keys[1])
        ot_free(st.tmp)
    ot_free(aux)


cdef size_t bulk_aux_memory(int kind, const void *aux) noexcept nogil:
    cdef const ot_s24s *st
    if aux == NULL:
        return 0
    if kind == BULK_TOP:
        return sizeof(ot_topstate)
    st = <const ot_s24s *>aux
    return sizeof(ot_s24s) + st.cap[0] * 4 + st.cap[1] * 8 + st.tmp_size


# ---------------------------------------------------------------- top10, top100

cdef struct ot_toprec:
    uint32_t val
    uint8_t hash[20]


cdef struct ot_topstate:
    ot_toprec peers[100]
    ot_toprec seeds[100]


cdef void _top_insert(ot_toprec *top, int amount, uint32_t val, const uint8_t *hash) noexcept nogil:
    """The original's insertion: the list is kept highest first, a newcomer
    goes after those with the same count (so ties keep the lower hash) and
    the last one drops off."""
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


cdef bint top_slice(ot_server *s, ot_bulk *b) noexcept nogil:
    """The next slice of torrents into the leader lists; at the end,
    `Top N torrents by peers:` then `by seeds:` (SPEC.md §8), zero counts
    left out: at most 2 * (30 + 100 * 53) bytes, well inside the stage."""
    cdef ot_topstate *st = <ot_topstate *>b.aux
    cdef int amount = b.format
    cdef ot_torrent *t = store_next(s.store, b.cursor if b.has_cursor else NULL)
    cdef uint32_t n = 0
    cdef uint8_t *p
    while t != NULL and n < s.bulk_slice:
        _top_insert(st.peers, amount, ot_torrent_peers(t), t.hash)
        _top_insert(st.seeds, amount, ot_torrent_seeders(t), t.hash)
        memcpy(b.cursor, t.hash, OT_HASH_SIZE)
        b.has_cursor = 1
        n += 1
        t = store_next(s.store, t.hash)
    if t != NULL:
        return False
    p = _top_section(s.bulk_stage, b" torrents by peers:\n", 20, amount, st.peers)
    p = _top_section(p, b" torrents by seeds:\n", 20, amount, st.seeds)
    if not bulk_append(b, s.bulk_stage, <size_t>(p - s.bulk_stage), True):
        b.len = 0
    return True


# ---------------------------------------------------------------- s24s
#
# Peers counted per network, the busiest 128 first (SPEC.md §8): IPv4 by /28
# and /24 as the original's v4 build; IPv6, which the original's dual-stack
# upstream leaves out, by /64 (one LAN: the smallest network a site is given)
# and /48 (a site's usual allocation), in two more sections that appear only
# when there are IPv6 peers, so a v4-only tracker answers the baseline's
# bytes. (The original's v6 build printed /68 and /48: /68 was an artefact of
# its 4-bit tree, not a network anybody is given.)
#
# The original grew a 16-way tree per address nibble (over 100 bytes per
# network) while it held each bucket's lock. Here the loop does it in steps:
# gather one key per peer (4 bytes for IPv4: the address >> 4, 8 for IPv6:
# the /64), sort them with an LSD radix sort a chunk at a time, then count
# runs of equal prefixes in address order. Picking the leaders the way the
# original does (a strictly higher count evicts the lowest) gives "highest
# count first, ties in address order", exactly its output. While it runs it
# holds 8 bytes per IPv4 peer and 16 per IPv6 peer (keys and the radix
# scratch), counted in the answers memory of mode=prometheus.

cdef enum:
    S24S_GATHER = 0
    S24S_HISTOGRAM = 1
    S24S_SCATTER = 2
    S24S_COUNT = 3
    S24S_LIMIT = 128


cdef struct ot_netrec:
    uint64_t key              # the network's prefix bits, right-aligned
    uint64_t count


cdef struct ot_s24s:
    void *keys[2]             # per family: uint32_t (IPv4) or uint64_t (IPv6) keys
    size_t n[2]
    size_t cap[2]
    void *tmp                 # radix scratch for the family being sorted
    size_t tmp_size
    size_t hist[8][256]       # digit counts, then scatter offsets
    uint32_t phase
    uint32_t fam
    uint32_t digit
    size_t pos
    # run state of the count, carried across steps
    uint64_t run_key[2]       # the current fine (/28, /64) and coarse (/24, /48) run
    uint64_t run_count[2]
    ot_netrec top[4][128]     # /28, /24, /64, /48: counts ascending, as the original keeps them


cdef inline uint32_t _s24s_digits(uint32_t fam) noexcept nogil:
    return 4 if fam == 0 else 8      # 28-bit keys (4 bytes, the last half-used), 64-bit keys


cdef inline uint64_t _s24s_key(const ot_s24s *st, uint32_t fam, size_t i) noexcept nogil:
    if fam == 0:
        return (<const uint32_t *>st.keys[0])[i]
    return (<const uint64_t *>st.keys[1])[i]


cdef bint _s24s_reserve(ot_store *store, ot_s24s *st, uint32_t fam, size_t more) noexcept nogil:
    """Room for `more` keys of a family, within the memory budget."""
    cdef size_t cap = st.cap[fam]
    cdef void *keys
    if st.n[fam] + more <= cap:
        return True
    cap = cap * 2 if cap else 1024
    while cap < st.n[fam] + more:
        cap *= 2
    if _over_budget(store, (cap - st.cap[fam]) * (4 if fam == 0 else 8)):
        return False
    keys = ot_realloc(st.keys[fam], cap * (4 if fam == 0 else 8))
    if keys == NULL:
        return False
    st.keys[fam] = keys
    st.cap[fam] = cap
    return True


cdef bint _s24s_gather(ot_server *s, ot_bulk *b, ot_s24s *st) noexcept nogil:
    """One slice of peers into the key arrays; True when every torrent is
    done. Sets b.len = 0 when memory runs out."""
    cdef ot_torrent *t = store_next(s.store, b.cursor if b.has_cursor else NULL)
    cdef uint32_t n = 0
    cdef size_t peers = 0, i
    cdef ot_peervec *v
    cdef const uint8_t *rec
    cdef uint32_t *k4
    cdef uint64_t *k6
    if not b.has_cursor:
        # First slice: room for the peers the store holds now.
        if (not _s24s_reserve(s.store, st, 0, s.store.peer_count[0])
                or not _s24s_reserve(s.store, st, 1, s.store.peer_count[1])):
            b.len = 0
            return True
    while t != NULL and n < s.bulk_slice and peers < <size_t>s.bulk_slice * OT_S24S_PEERS_PER_SLICE_TORRENT:
        v = t.peers[0]
        if v != NULL and v.size:
            if not _s24s_reserve(s.store, st, 0, v.size):
                b.len = 0
                return True
            k4 = (<uint32_t *>st.keys[0]) + st.n[0]
            rec = ot_peervec_data(v)
            for i in range(v.size):
                k4[i] = ot_load_be32(rec) >> 4
                rec += OT_PEER4_SIZE
            st.n[0] += v.size
            peers += v.size
        v = t.peers[1]
        if v != NULL and v.size:
            if not _s24s_reserve(s.store, st, 1, v.size):
                b.len = 0
                return True
            k6 = (<uint64_t *>st.keys[1]) + st.n[1]
            rec = ot_peervec_data(v)
            for i in range(v.size):
                k6[i] = ot_load_be64(rec)
                rec += OT_PEER6_SIZE
            st.n[1] += v.size
            peers += v.size
        memcpy(b.cursor, t.hash, OT_HASH_SIZE)
        b.has_cursor = 1
        n += 1
        t = store_next(s.store, t.hash)
    return t == NULL


cdef bint _s24s_next_digit(ot_s24s *st) noexcept nogil:
    """Move st.digit to the next digit that orders anything (a digit on
    which every key agrees is skipped) and turn its counts into offsets.
    False when the keys are sorted."""
    cdef uint32_t d
    cdef size_t i, total, c
    while st.digit < _s24s_digits(st.fam):
        d = st.digit
        for i in range(256):
            if st.hist[d][i] == st.n[st.fam]:
                break
        else:
            total = 0
            for i in range(256):
                c = st.hist[d][i]
                st.hist[d][i] = total
                total += c
            return True
        st.digit += 1
    return False


cdef void _s24s_scatter(ot_s24s *st, size_t lo, size_t hi) noexcept nogil:
    cdef uint32_t shift = st.digit * 8
    cdef size_t *off = st.hist[st.digit]
    cdef size_t i
    cdef uint32_t *s4
    cdef uint32_t *d4
    cdef uint64_t *s6
    cdef uint64_t *d6
    if st.fam == 0:
        s4 = <uint32_t *>st.keys[0]
        d4 = <uint32_t *>st.tmp
        for i in range(lo, hi):
            d4[off[(s4[i] >> shift) & 255]] = s4[i]
            off[(s4[i] >> shift) & 255] += 1
    else:
        s6 = <uint64_t *>st.keys[1]
        d6 = <uint64_t *>st.tmp
        for i in range(lo, hi):
            d6[off[(s6[i] >> shift) & 255]] = s6[i]
            off[(s6[i] >> shift) & 255] += 1


cdef void _net_insert(ot_netrec *top, uint64_t key, uint64_t count) noexcept nogil:
    """The original's leader list: counts ascending, top[0] the lowest. A
    newcomer must beat the lowest, and goes below those it ties with."""
    cdef int j = 1
    if count <= top[0].count:
        return
    while j < S24S_LIMIT and count > top[j].count:
        j += 1
    j -= 1
    memmove(&top[0], &top[1], j * sizeof(ot_netrec))
    top[j].key = key
    top[j].count = count


cdef void _s24s_count(ot_s24s *st, size_t lo, size_t hi) noexcept nogil:
    """Runs of equal fine and coarse prefixes over sorted keys [lo, hi)."""
    cdef uint32_t fam = st.fam
    cdef uint32_t coarse_shift = 4 if fam == 0 else 16   # /28 -> /24, /64 -> /48
    cdef ot_netrec *fine = st.top[2 * fam]
    cdef ot_netrec *coarse = st.top[2 * fam + 1]
    cdef size_t i
    cdef uint64_t key
    for i in range(lo, hi):
        key = _s24s_key(st, fam, i)
        if st.run_count[0] and key == st.run_key[0]:
            st.run_count[0] += 1
        else:
            if st.run_count[0]:
                _net_insert(fine, st.run_key[0], st.run_count[0])
            st.run_key[0] = key
            st.run_count[0] = 1
        key >>= coarse_shift
        if st.run_count[1] and key == st.run_key[1]:
            st.run_count[1] += 1
        else:
            if st.run_count[1]:
                _net_insert(coarse, st.run_key[1], st.run_count[1])
            st.run_key[1] = key
            st.run_count[1] = 1


cdef uint8_t *_s24s_section(uint8_t *p, const char *title, const ot_netrec *top, int fam,
                            uint32_t shift) noexcept nogil:
    """`Networks, limit /N:` and up to 128 lines `%08zd: <network>`, then an
    empty line. shift turns a key back into address bits."""
    cdef uint8_t addr16[16]
    cdef uint8_t v4[4]
    cdef uint8_t digits[20]
    cdef size_t nd
    cdef int i
    cdef uint64_t net
    p = put_cstr(p, title)
    for i in range(S24S_LIMIT - 1, -1, -1):
        if top[i].count == 0:
            continue
        nd = <size_t>(put_uint(digits, top[i].count) - digits)
        while nd < 8:
            p[0] = 48
            p += 1
            nd += 1
        p = put_uint(p, top[i].count)
        p = put_raw(p, b": ", 2)
        net = top[i].key << shift
        if fam == 0:
            ot_store_be32(v4, <uint32_t>net)
            addr_set_v4(addr16, v4)
        else:
            memset(addr16, 0, 16)
            ot_store_be64(addr16, net)
        p = put_ip_text(p, addr16)
        p[0] = 10
        p += 1
    p[0] = 10
    return p + 1


cdef bint s24s_slice(ot_server *s, ot_bulk *b) noexcept nogil:
    """One step of s24s: a slice of the gathering, or a chunk of a radix
    pass, or a chunk of the counting; at the end the text (at most 4 * (22
    + 128 * 50 + 1) bytes, inside the stage)."""
    cdef ot_s24s *st = <ot_s24s *>b.aux
    cdef size_t hi, i, n
    cdef uint32_t d, digits
    cdef uint64_t key
    cdef void *swap
    cdef uint8_t *p
    if st.phase == S24S_GATHER:
        if not _s24s_gather(s, b, st):
            return False
        if b.len == 0:
            return True
        st.phase = S24S_HISTOGRAM
        st.fam = 0
        st.pos = 0
        memset(st.hist, 0, sizeof(st.hist))
        return False
    n = st.n[st.fam]
    hi = st.pos + <size_t>s.bulk_slice * OT_S24S_KEYS_PER_SLICE_TORRENT
    if hi > n:
        hi = n
    if st.phase == S24S_HISTOGRAM:
        digits = _s24s_digits(st.fam)
        for i in range(st.pos, hi):
            key = _s24s_key(st, st.fam, i)
            for d in range(digits):
                st.hist[d][(key >> (8 * d)) & 255] += 1
        st.pos = hi
        if hi < n:
            return False
        st.digit = 0
        st.pos = 0
        if n and _s24s_next_digit(st):
            st.tmp_size = n * (4 if st.fam == 0 else 8)
            st.tmp = ot_malloc(st.tmp_size) if not _over_budget(s.store, st.tmp_size) else NULL
            if st.tmp == NULL:
                st.tmp_size = 0
                b.len = 0
                return True
            st.phase = S24S_SCATTER
        else:
            st.phase = S24S_COUNT
        return False
    if st.phase == S24S_SCATTER:
        _s24s_scatter(st, st.pos, hi)
        st.pos = hi
        if hi < n:
            return False
        # The sorted keys are in the scratch block now: swap the two.
        swap = st.keys[st.fam]
        st.keys[st.fam] = st.tmp
        st.tmp = swap
        i = st.cap[st.fam] * (4 if st.fam == 0 else 8)
        st.cap[st.fam] = n
        st.tmp_size = i
        st.pos = 0
        st.digit += 1
        if not _s24s_next_digit(st):
            ot_free(st.tmp)
            st.tmp = NULL
            st.tmp_size = 0
            st.phase = S24S_COUNT
        return False
    # S24S_COUNT
    _s24s_count(st, st.pos, hi)
    st.pos = hi
    if hi < n:
        return False
    if st.run_count[0]:
        _net_insert(st.top[2 * st.fam], st.run_key[0], st.run_count[0])
        _net_insert(st.top[2 * st.fam + 1], st.run_key[1], st.run_count[1])
    st.run_count[0] = st.run_count[1] = 0
    # The keys are spent: give their memory back before the next family.
    ot_free(st.keys[st.fam])
    st.keys[st.fam] = NULL
    st.cap[st.fam] = 0
    if st.fam == 0:
        st.fam = 1
        st.pos = 0
        st.phase = S24S_HISTOGRAM
        memset(st.hist, 0, sizeof(st.hist))
        return False
    p = _s24s_section(s.bulk_stage, b"Networks, limit /28:\n", st.top[0], 0, 4)
    p = _s24s_section(p, b"Networks, limit /24:\n", st.top[1], 0, 8)
    if st.n[1]:
        p = _s24s_section(p, b"Networks, limit /64:\n", st.top[2], 1, 0)
        p = _s24s_section(p, b"Networks, limit /48:\n", st.top[3], 1, 16)
    if not bulk_append(b, s.bulk_stage, <size_t>(p - s.bulk_stage), True):
        b.len = 0
    return True
