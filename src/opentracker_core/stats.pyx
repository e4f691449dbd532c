# /stats (docs/compatibility.md, "Stats modes"): permission, mode and format
# parameters, and the answers computed on the spot (the MRTG modes, herr,
# renew, version, numwants, everything). The rest start a large answer built
# in slices: tpbs and statedump (answers.pyx), top10/top100 (top.pyx), s24s
# (s24s.pyx); prometheus is metrics.pyx's.
#
# The MRTG-style modes are four lines, the last without a newline; rates are
# integer divisions by the uptime (0 taken as 1). Answers the original's
# worker thread built (peer, torr, top, s24s, everything, tpbs, statedump)
# start `HTTP/1.0 200 OK`, the immediate ones `HTTP/1.1 200 OK` (§3.11).

from libc.string cimport memcmp, memcpy, memmove, memset, strlen


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
    # 400); features are runtime here (docs/compatibility.md, "Features are
    # settings") and this one costs 201 counters, so it is always on.
    if name_is(v, n, b"numwants", 8): return MODE_NUMWANTS
    if name_is(v, n, b"prometheus", 10): return MODE_PROMETHEUS
    if name_is(v, n, b"html", 4): return MODE_HTML
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


cdef bint may_stat(ot_worker *w, const uint8_t *addr16) noexcept nogil:
    """Loopback and blessed networks may read /stats (docs/compatibility.md,
    "Defaults")."""
    return addr_is_loopback(addr16) or (access_perms(&w.t.access, addr16) & OT_PERM_STATS) != 0


cdef ot_span stats_respond(ot_worker *w, ot_conn *c, const uint8_t *req, size_t n,
                           const uint8_t *p, uint8_t *out, int mode) noexcept nogil:
    """A request to the stats path (`mode` MODE_PEER) or to /metrics
    (MODE_PROMETHEUS); p is the query string. The permission check comes
    first, as in the original: a stranger learns nothing, not even 400."""
    cdef uint8_t *buf = w.scratch
    cdef int fmt = FORMAT_NONE
    cdef ssize_t vlen
    cdef int key
    cdef bint named = False
    w.ctr.stats_requests[addr_family(c.addr)] += 1
    if not may_stat(w, c.addr):
        return http_error(w, out, HTTPERR_403_IP)
    while True:
        key = query_next(&p, buf, _stats_key)
        if key == QUERY_END:
            break
        if key == QUERY_ERROR or key == STATS_KEY_INFO_HASH:
            # info_hash: a client using the stats URL as its announce URL;
            # stop it cheaply, before it triggers a heavy mode
            # (docs/compatibility.md, "Permission and parameters").
            return http_error(w, out, HTTPERR_400_PARAM)
        vlen = scan_urlencoded(&p, buf, SCAN_VALUE)
        if key == STATS_KEY_MODE:
            named = True
            mode = _stats_mode(buf, vlen) if vlen > 0 else 0
            if mode == 0:
                return http_error(w, out, HTTPERR_400_PARAM)
        else:
            fmt = _stats_format(buf, vlen) if vlen > 0 else 0
            if fmt == 0:
                return http_error(w, out, HTTPERR_400_PARAM)
    # A browser (Accept: text/html) on the stats path without a mode gets
    # the status page; every other request the bytes it always got.
    if not named and mode == MODE_PEER and status_wanted(req, n):
        mode = MODE_HTML
    return stats_mode_answer(w, c, req, n, mode, fmt, out)


cdef ot_span stats_mode_answer(ot_worker *w, ot_conn *c, const uint8_t *req, size_t n,
                               int mode, int fmt, uint8_t *out) noexcept nogil:
    cdef uint8_t *body = out + OT_HTTP_HEAD_ROOM
    cdef uint8_t *p = body
    cdef ot_counters summed
    cdef ot_counters *k = counters_summed(w, &summed)    # every worker's
    cdef uint64_t t = server_uptime(w)
    # Each total is the sum over both families: the original's v4 build
    # counted everything it served, and so did its v6 build under the same
    # mode names (tcp4, udp4); per-family numbers are in mode=prometheus.
    cdef uint64_t tcp_acc = _both(k.tcp_accepts)
    cdef uint64_t tcp_ann = _both(k.tcp_announces)
    cdef uint64_t udp_dg = _both(k.udp_datagrams)
    cdef uint64_t udp_ok = _both(k.udp_announces) + _both(k.udp_connects)
    cdef int i
    cdef bint http10 = False
    cdef ot_store_counts held
    if mode == MODE_PEER or mode == MODE_TORR:
        http10 = True
        store_counts(w.t.store, &held)
        if mode == MODE_PEER:
            p = put_uint(p, held.peers[0] + held.peers[1])
            p = put_raw(p, b"\n", 1)
            p = put_uint(p, held.seeders[0] + held.seeders[1])
        else:
            p = put_uint(p, held.torrents)
            p = put_raw(p, b"\n0", 2)
        p = put_raw(p, b"\nopentracker serving ", 21)
        p = put_uint(p, held.torrents)
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
            p[0] = c' '
            p = put_uint(p + 1, k.renew[i])
            p = put_raw(p, b"\n", 1)
    elif mode == MODE_VERSION:
        p = write_version(p)
    elif mode == MODE_NUMWANTS:
        # 201 lines `%03d => %lld`: 201 * 28 bytes at most.
        for i in range(201):
            p[0] = <uint8_t>(c'0' + i // 100)
            p = _two_digits(p + 1, i % 100)
            p = put_raw(p, b" => ", 4)
            p = put_uint(p, k.numwants[i])
            p = put_raw(p, b"\n", 1)
    elif mode == MODE_EVERYTHING:
        http10 = True
        p = write_everything(w, p)
    elif mode == MODE_PROMETHEUS:
        return prometheus_answer(w, out)
    else:
        return stats_heavy(w, c, req, n, mode, fmt, out)
    return http_ok(w, out, <size_t>(p - body), http10)


cdef inline uint64_t _both(const uint64_t *per_family) noexcept nogil:
    return per_family[0] + per_family[1]


cdef inline uint64_t _per(uint64_t t) noexcept nogil:
    """The original's events_per_time divisor: the uptime, 0 taken as 1."""
    return t if t else 1


cdef inline uint8_t *_two_digits(uint8_t *p, int v) noexcept nogil:
    p[0] = <uint8_t>(c'0' + v // 10)
    p[1] = <uint8_t>(c'0' + v % 10)
    return p + 2


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


cdef uint8_t *write_everything(ot_worker *w, uint8_t *p) noexcept nogil:
    """The original's XML, byte for byte (2-space indentation, no newline
    after </stats>). The torrents are counted twice, as there: the running
    counter, and by walking the buckets. At most ~4.6 KiB with 20-digit
    counters, well inside the answer buffer."""
    cdef ot_counters summed
    cdef ot_counters *k = counters_summed(w, &summed)    # every worker's
    cdef uint64_t walked = store_walked(w.t.store)
    cdef ot_store_counts c
    cdef int i
    store_counts(w.t.store, &c)
    p = put_cstr(p, b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<stats>\n")
    p = _xml_count(p, b"  <tracker_id>", w.t.tracker_id, b"</tracker_id>\n")
    p = put_cstr(p, b"  <version>\n")
    p = write_version(p)
    p = put_cstr(p, b"  </version>\n")
    p = _xml_count(p, b"  <uptime>", server_uptime(w), b"</uptime>\n")
    p = put_cstr(p, b"  <torrents>\n")
    p = _xml_count(p, b"    <count_mutex>", c.torrents, b"</count_mutex>\n")
    p = _xml_count(p, b"    <count_iterator>", walked, b"</count_iterator>\n")
    p = put_cstr(p, b"  </torrents>\n")
    p = _xml_count(p, b"  <peers>\n    <count>", c.peers[0] + c.peers[1],
                   b"</count>\n  </peers>\n")
    p = _xml_count(p, b"  <seeds>\n    <count>", c.seeders[0] + c.seeders[1],
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
    p = put_cstr(p, b"  </connections>\n")
    if w.t.adaptive_interval or interval_base(w.t) != OT_ANNOUNCE_INTERVAL:
        p = _everything_interval(w.t, p)
    if k.overloads:
        p = _everything_shed(w, p)
    if w.t.worker_count > 1:
        p = _everything_workers(w, p)
    p = put_cstr(p, b"  <debug>\n    <renew>\n")
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


cdef uint8_t *_everything_interval(ot_tracker *t, uint8_t *p) noexcept nogil:
    """How announce intervals are chosen (docs/compatibility.md, "Adaptive
    announce intervals"): only when they differ from the original's, so its
    XML stays byte for byte. At most ~420 bytes."""
    p = put_cstr(p, b"  <announce_interval>\n")
    p = _xml_count(p, b"    <base>", interval_base(t), b"</base>\n")
    p = _xml_count(p, b"    <adaptive>", 1 if t.adaptive_interval else 0, b"</adaptive>\n")
    p = _xml_count(p, b"    <ceiling>", OT_INTERVAL_CEILING if t.adaptive_interval else interval_base(t),
                   b"</ceiling>\n")
    p = _xml_count(p, b"    <last>", t.last_interval if t.adaptive_interval else interval_base(t), b"</last>\n")
    p = _xml_count(p, b"    <last_swarm_peers>", t.last_peers, b"</last_swarm_peers>\n")
    p = _xml_count(p, b"    <last_swarm_steps>", t.last_swarm_steps, b"</last_swarm_steps>\n")
    p = _xml_count(p, b"    <load_steps>", t.load_steps, b"</load_steps>\n")
    p = _xml_count(p, b"    <cpu_permille>", t.cpu_permille, b"</cpu_permille>\n")
    p = _xml_count(p, b"    <memory_permille>", t.mem_permille, b"</memory_permille>\n")
    return put_cstr(p, b"  </announce_interval>\n")


cdef uint8_t *_everything_shed(ot_worker *w, uint8_t *p) noexcept nogil:
    """What shedding under overload refused (docs/shedding.md): only once
    it has happened, so the original's XML stays byte for byte until then.
    At most ~530 bytes."""
    cdef ot_counters summed
    cdef ot_counters *k = counters_summed(w, &summed)    # every worker's
    p = put_cstr(p, b"  <shed>\n")
    p = _xml_count(p, b"    <level>", w.shed_level, b"</level>\n")
    p = _xml_count(p, b"    <overloads>", k.overloads, b"</overloads>\n")
    p = _xml_count(p, b"    <udp_scrape>", k.shed[SHED_UDP_SCRAPE], b"</udp_scrape>\n")
    p = _xml_count(p, b"    <udp_scrape_in_kernel>", k.shed_in_kernel, b"</udp_scrape_in_kernel>\n")
    p = _xml_count(p, b"    <udp_announce>", k.shed[SHED_UDP_ANNOUNCE], b"</udp_announce>\n")
    p = _xml_count(p, b"    <tcp_fullscrape>", k.shed[SHED_HTTP_FULLSCRAPE], b"</tcp_fullscrape>\n")
    p = _xml_count(p, b"    <tcp_stats>", k.shed[SHED_HTTP_STATS], b"</tcp_stats>\n")
    p = _xml_count(p, b"    <tcp_scrape>", k.shed[SHED_HTTP_SCRAPE], b"</tcp_scrape>\n")
    p = _xml_count(p, b"    <tcp_announce>", k.shed[SHED_HTTP_ANNOUNCE], b"</tcp_announce>\n")
    return put_cstr(p, b"  </shed>\n")


cdef uint8_t *_everything_workers(ot_worker *w, uint8_t *p) noexcept nogil:
    """The UDP datagrams each worker loop read (tracker.workers > 1 only, so
    the original's XML stays as it was with one): at most 61 bytes a
    worker, 3.9 KiB for OT_WORKERS_MAX."""
    cdef uint32_t i
    p = put_cstr(p, b"  <workers>\n")
    for i in range(w.t.worker_count):
        p = put_cstr(p, b"    <worker id=\"")
        p = put_uint(p, i)
        p = _xml_count(p, b"\"><udp>", (_both(w.ctr.udp_datagrams) if i == 0 else
                                           counters_udp_requests(w.t.workers[i])), b"</udp></worker>\n")
    return put_cstr(p, b"  </workers>\n")


# ---------------------------------------------------------------- heavy modes

cdef ot_span stats_heavy(ot_worker *w, ot_conn *c, const uint8_t *req, size_t n,
                         int mode, int fmt, uint8_t *out) noexcept nogil:
    """Modes that walk every torrent or every peer, built in slices by the
    loop (answers.pyx) so announces keep flowing meanwhile."""
    cdef int encoding = answer_encoding(w, req, n)
    cdef int rc = -1
    # The status page is spared: it is how whoever runs the tracker
    # watches an overload (and one person's page costs little).
    if mode != MODE_HTML and shed_heavy(w):
        return http_shed(w, out, SHED_HTTP_STATS)
    if mode == MODE_TPBS:
        # Without format= the original queued a task nobody took (the client
        # hung forever); we answer bencoded (docs/compatibility.md, "Quirks
        # fixed"). And
        # gzip only on request, not always as the Debian build.
        rc = answer_begin(w, ANSWER_TPBS, fmt if fmt else FORMAT_BEN, encoding, NULL, NULL)
    elif mode == MODE_STATEDUMP:
        rc = answer_begin(w, ANSWER_STATEDUMP, FORMAT_NONE, encoding, NULL, NULL)
    elif mode == MODE_TOP10 or mode == MODE_TOP100:
        rc = top_begin(w, c, 10 if mode == MODE_TOP10 else 100)
    elif mode == MODE_S24S:
        rc = s24s_begin(w, c)
    elif mode == MODE_HTML:
        rc = status_begin(w, c, req, n)
    # busy, woodpeckers and fulllog: the original never implemented busy,
    # and Debian's build has neither of the others; "the handler produced
    # nothing" is a 500 there.
    if rc < 0:
        return http_error(w, out, HTTPERR_500)
    return ot_span(0, 0)


