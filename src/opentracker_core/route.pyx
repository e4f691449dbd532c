# Which handler answers an HTTP request (docs/compatibility.md, "Routing"):
# announce, scrape, full scrape, the stats path, /metrics, the redirect, 404;
# and which worker: the last three only worker 0 (_to_worker0).
# The handlers are in http.pyx, stats.pyx and metrics.pyx; this is the one
# place that knows them all.

from libc.string cimport memcmp


cdef ot_span http_respond(ot_worker *w, ot_conn *c, uint8_t *req, size_t n, uint8_t *out) noexcept nogil:
    """Answer one complete request (NUL at req[n])."""
    cdef const uint8_t *p
    cdef const uint8_t *path
    cdef ssize_t plen
    cdef uint8_t *decoded = w.scratch
    if n < 5 or memcmp(req, b"GET /", 5) != 0:
        return http_error(w, out, HTTPERR_400)
    p = req + 4
    while p[0] == c'/':
        p += 1
    path = p
    plen = scan_urlencoded(&p, decoded, SCAN_PATH)
    if plen == -2 and w.t.redirect_len:
        return http_error(w, out, HTTPERR_302)
    if plen <= 0:
        return http_error(w, out, HTTPERR_404)
    if decoded[0] == c'a' or decoded[0] == c'?':  # (or a decoded '?')
        return http_announce(w, c, req, n, p, out)
    # With tracker.fullscrape off, `GET /scrape HTTP/` goes on as a scrape
    # without a query and gets its 400, as the original built without it.
    if w.t.fullscrape and <size_t>(req + n - path) >= 12 and memcmp(path, b"scrape HTTP/", 12) == 0:
        if w.index:
            return _to_worker0(w)
        return fullscrape_begin(w, c, req, n, out)
    if plen >= 2 and decoded[0] == c's' and decoded[1] == c'c':
        return http_scrape(w, c, req, n, p, out)
    if <size_t>plen == w.t.stats_path_len and memcmp(decoded, w.t.stats_path, plen) == 0:
        if w.index:
            return _to_worker0(w)
        return stats_respond(w, c, req, n, p, out, MODE_PEER)
    # Prometheus' conventional path, beside the stats path (which wins if
    # it is configured as "metrics" itself): /stats?mode=prometheus.
    if plen == 7 and memcmp(decoded, b"metrics", 7) == 0:
        if w.index:
            return _to_worker0(w)
        return stats_respond(w, c, req, n, p, out, MODE_PROMETHEUS)
    return http_error(w, out, HTTPERR_404)


cdef ot_span _to_worker0(ot_worker *w) noexcept nogil:
    """Full scrapes, the stats and /metrics are worker 0's: it makes the
    large answers, sums the counters and reads what only it writes. Another
    worker hands the connection over (conn_handoff) instead of answering."""
    cdef ot_span none
    none.start = none.len = 0
    w.handoff = True
    return none
