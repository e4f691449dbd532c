# The status page (mode=html, or the stats path asked for text/html without
# a mode): one self-contained HTML document for a person with a browser, no
# script, no outside style, font or image (a Content-Security-Policy of
# default-src 'none' says so to the browser too). It refreshes itself.
#
# It walks the torrents a slice at a time for the top ten, like top10
# (answers.pyx), and at the end writes the page in one go into the answer stage
# (OT_ANSWER_STAGE bytes) through a writer that checks the room left at every
# write: a page that would not fit is answered 500, never written past the
# buffer. Most of the page is fixed text with numbers in it, written from
# templates (pw_template) rather than a call per piece: one loop instead of
# hundreds of inlined writes keeps the shipped module small
# (docs/architecture.md, "Module size"). The largest page possible (every counter at 2^64-1, a full history,
# ten top torrents, the longest listen text, all of it to be escaped) is
# about 13 KiB; tests/test_statuspage.py builds it and checks the bound at
# the exact boundary.

from libc.stdint cimport UINT32_MAX
from libc.string cimport memcpy, memmove, memset, strlen


cdef enum:
    STATUS_TOP = 10
    # The chart's plot area in SVG units, inside a 1200 x 196 view box.
    CHART_X = 56
    CHART_Y = 10
    CHART_W = 1124
    CHART_H = 150


cdef struct ot_statustop:
    uint32_t count
    uint32_t peers[STATUS_TOP]
    uint32_t seeds[STATUS_TOP]
    uint8_t hash[STATUS_TOP][20]


# ---------------------------------------------------------------- bounded writer

cdef struct ot_pw:
    uint8_t *p
    uint8_t *end
    bint over                  # a write did not fit: the page is not sent


cdef void pw_raw(ot_pw *pw, const void *src, size_t n) noexcept nogil:
    if pw.over or <size_t>(pw.end - pw.p) < n:
        pw.over = True
        return
    memcpy(pw.p, src, n)
    pw.p += n


cdef inline void pw_cstr(ot_pw *pw, const char *text) noexcept nogil:
    pw_raw(pw, text, strlen(text))


cdef void pw_uint(ot_pw *pw, uint64_t v) noexcept nogil:
    cdef uint8_t tmp[24]
    pw_raw(pw, tmp, <size_t>(put_uint(tmp, v) - tmp))


cdef void pw_tenths(ot_pw *pw, uint64_t v) noexcept nogil:
    """v / 10 with one decimal."""
    cdef uint8_t tmp[24]
    cdef uint8_t *p = put_uint(tmp, v // 10)
    p[0] = c'.'
    p[1] = <uint8_t>(c'0' + v % 10)
    pw_raw(pw, tmp, <size_t>(p + 2 - tmp))


cdef void pw_rate(ot_pw *pw, uint64_t tenths) noexcept nogil:
    """A rate given in tenths per second as a person reads it on a chart:
    "0.4", "15", "2.5k", "200k", "1.2M" (one decimal at most, none when it
    is 0), so that the y axis' labels fit its 48 units at any load."""
    cdef uint64_t unit = 10
    cdef uint8_t suffix = 0
    cdef uint64_t scaled
    if tenths >= 10000000:
        unit, suffix = 10000000, c'M'
    elif tenths >= 10000:
        unit, suffix = 10000, c'k'
    scaled = (tenths * 10 + unit // 2) // unit          # tenths of the unit, rounded
    if scaled >= 1000 or scaled % 10 == 0:
        pw_uint(pw, (scaled + 5) // 10 if scaled >= 1000 else scaled // 10)
    else:
        pw_tenths(pw, scaled)
    if suffix:
        pw_raw(pw, &suffix, 1)


cdef void pw_text(ot_pw *pw, const uint8_t *text, size_t n) noexcept nogil:
    """Text into HTML: & < > " escaped, control bytes shown as '?'."""
    cdef size_t i
    cdef uint8_t c
    for i in range(n):
        c = text[i]
        if c == c'&':
            pw_raw(pw, b"&amp;", 5)
        elif c == c'<':
            pw_raw(pw, b"&lt;", 4)
        elif c == c'>':
            pw_raw(pw, b"&gt;", 4)
        elif c == c'"':
            pw_raw(pw, b"&quot;", 6)
        elif c == c'\n':
            pw_raw(pw, b"<br>", 4)
        elif c < 32 or c == 127:
            pw_raw(pw, b"?", 1)
        else:
            pw_raw(pw, &c, 1)


cdef void pw_mib(ot_pw *pw, uint64_t bytes_) noexcept nogil:
    """Bytes as MiB with one decimal."""
    pw_tenths(pw, <uint64_t>(<double>bytes_ / 104857.6))
    pw_raw(pw, b" MiB", 4)


cdef enum:
    # Template slots: the byte after one names a number, 'A' for the first
    # (a letter, so that no template holds a NUL).
    PW_SLOT_UINT = 1           # the number in decimal
    PW_SLOT_MIB = 2            # bytes as MiB with one decimal (pw_mib)


cdef void pw_template(ot_pw *pw, const char *tpl, const uint64_t *v) noexcept nogil:
    """The template's text, with v's numbers at its slots."""
    cdef const char *run = tpl
    cdef char c
    while True:
        c = tpl[0]
        if c != 0 and c != PW_SLOT_UINT and c != PW_SLOT_MIB:
            tpl += 1
            continue
        pw_raw(pw, run, <size_t>(tpl - run))
        if c == 0:
            return
        if c == PW_SLOT_UINT:
            pw_uint(pw, v[tpl[1] - c'A'])
        else:
            pw_mib(pw, v[tpl[1] - c'A'])
        tpl += 2
        run = tpl


# ---------------------------------------------------------------- the walk

cdef void _status_insert(ot_statustop *top, uint32_t peers, uint32_t seeds, const uint8_t *hash) noexcept nogil:
    """Most peers first; a newcomer goes after those with as many (so ties
    keep the lower hash, as top10 does); torrents without peers stay out."""
    cdef int idx = <int>top.count - 1
    cdef int last
    if peers == 0:
        return
    while idx >= 0 and peers > top.peers[idx]:
        idx -= 1
    idx += 1
    if idx >= STATUS_TOP:
        return
    last = <int>top.count if top.count < STATUS_TOP else STATUS_TOP - 1
    memmove(&top.peers[idx + 1], &top.peers[idx], (last - idx) * sizeof(uint32_t))
    memmove(&top.seeds[idx + 1], &top.seeds[idx], (last - idx) * sizeof(uint32_t))
    memmove(&top.hash[idx + 1], &top.hash[idx], (last - idx) * 20)
    top.peers[idx] = peers
    top.seeds[idx] = seeds
    memcpy(top.hash[idx], hash, OT_HASH_SIZE)
    if top.count < STATUS_TOP:
        top.count += 1


cdef bint status_slice(ot_worker *w, ot_answer *b) noexcept nogil:
    cdef ot_statustop *top = <ot_statustop *>b.aux
    cdef ot_walk wk
    cdef ot_torrent *t = answer_walk_first(w, b, &wk)
    cdef uint32_t n = 0
    cdef ssize_t len_
    while t != NULL and n < w.t.answer_slice:
        _status_insert(top, ot_torrent_peers(t), ot_torrent_seeders(t), t.hash)
        n += 1
        t = answer_walk_next(w, b, &wk, t)
    answer_walk_end(&wk)
    if t != NULL:
        return False
    len_ = status_write(w, top, w.answer_stage, OT_ANSWER_STAGE)
    if len_ < 0 or not answer_append(b, w.answer_stage, <size_t>len_, True):
        b.failed = 1
    return True


cdef size_t _status_aux_memory(const void *aux) noexcept nogil:
    return sizeof(ot_statustop)


cdef ot_answer_ops STATUS_OPS
STATUS_OPS.slice = status_slice
STATUS_OPS.aux_free = _top_aux_free        # a plain ot_free, as top10's
STATUS_OPS.aux_memory = _status_aux_memory
STATUS_OPS.content_type = b"text/html; charset=utf-8"
STATUS_OPS.output_max = OT_ANSWER_STAGE


cdef bint status_wanted(const uint8_t *req, size_t n) noexcept nogil:
    """Does the first Accept header name text/html (as every browser's does)?"""
    cdef const uint8_t *v = find_header(req, n, b"accept", 6)
    cdef const uint8_t *end = req + n
    if v == NULL:
        return False
    while v + 9 <= end and v[0] != c'\r' and v[0] != c'\n':
        if _ieq(v, b"text/html", 9):
            return True
        v += 1
    return False


cdef int status_begin(ot_worker *w, ot_conn *c, const uint8_t *req, size_t n) noexcept nogil:
    """Start the page (gzipped when the client takes gzip); 0, or -1 for a 500."""
    cdef void *aux = ot_malloc(sizeof(ot_statustop))
    if aux == NULL:
        return -1
    memset(aux, 0, sizeof(ot_statustop))
    return answer_begin(w, ANSWER_WALK, FORMAT_NONE, answer_encoding(w, req, n), &STATUS_OPS, aux)


# ---------------------------------------------------------------- the page

cdef const char *_PAGE_HEAD = (
    b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    b"<meta http-equiv=\"refresh\" content=\"10\">\n"
    b"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
    b"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
    b"<link rel=\"icon\" href=\"data:,\">\n<title>opentracker status</title>\n<style>\n"
    b"body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0 auto;"
    b"max-width:1240px;padding:10px 20px;color:#1d2330;background:#f3f5f8}\n"
    b"h1{font-size:22px;margin:6px 0 2px}h2{font-size:15px;margin:0 0 8px;color:#444}\n"
    b"p.sub{margin:0 0 12px;color:#555}p.sub b{color:#1d2330}\n"
    b".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(270px,1fr));gap:12px;margin-bottom:12px}\n"
    b".card{background:#fff;border:1px solid #dce1e8;border-radius:7px;padding:10px 14px}\n"
    b"table{border-collapse:collapse;width:100%}td,th{padding:2px 6px;text-align:right;"
    b"font-variant-numeric:tabular-nums}th{font-weight:600;color:#667}\n"
    b"td:first-child,th:first-child{text-align:left}tr+tr td{border-top:1px solid #eef0f3}\n"
    b".hash{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:13px}\n"
    b".bar{height:16px;background:#e3e7ed;border-radius:4px;overflow:hidden;margin:6px 0}"
    b".bar div{height:100%;background:#2f9e6e}.bar div.hi{background:#d9822b}\n"
    b"svg{width:100%;height:auto}svg text{font-size:12px;fill:#556}.key{display:inline-block;width:14px;"
    b"height:4px;margin:0 5px 3px 12px;vertical-align:middle}\nfooter{color:#778;font-size:13px;margin:8px 0}\n"
    b"</style></head><body>\n<h1>opentracker</h1>\n"
)

# HTTP announces, UDP announces, HTTP scrapes, UDP scrapes (history order).
cdef const char *_SERIES_NAME[4]
_SERIES_NAME[0] = b"HTTP announces"
_SERIES_NAME[1] = b"UDP announces"
_SERIES_NAME[2] = b"HTTP scrapes"
_SERIES_NAME[3] = b"UDP scrapes"
cdef const char *_SERIES_COLOUR[4]
_SERIES_COLOUR[0] = b"#2763d6"
_SERIES_COLOUR[1] = b"#16a085"
_SERIES_COLOUR[2] = b"#d9822b"
_SERIES_COLOUR[3] = b"#8e44ad"

# The swarms, requests and refused cards (pw_template), after the access
# mode; the letters are status_write's v[], 'A' its first.
cdef const char *_PAGE_CARDS = (
    b"</b></p>\n<div class=\"grid\">\n<div class=\"card\"><h2>Swarms</h2><table>\n"
    b"<tr><th></th><th>IPv4</th><th>IPv6</th><th>total</th></tr>\n"
    b"<tr><td>torrents</td><td></td><td></td><td id=\"torrents\">\x01A</td></tr>\n"
    b"<tr><td>peers</td><td id=\"peers4\">\x01B</td><td id=\"peers6\">\x01C</td><td id=\"peers\">\x01D</td></tr>\n"
    b"<tr><td>seeders</td><td id=\"seeds4\">\x01E</td><td id=\"seeds6\">\x01F</td><td id=\"seeds\">\x01G</td></tr>\n"
    b"<tr><td>leechers</td><td id=\"leechers4\">\x01H</td><td id=\"leechers6\">\x01I</td>"
    b"<td id=\"leechers\">\x01J</td></tr>\n"
    b"<tr><td>completed</td><td></td><td></td><td id=\"completed\">\x01K</td></tr>\n"
    b"</table></div>\n<div class=\"card\"><h2>Requests since start</h2><table>\n"
    b"<tr><th></th><th>HTTP</th><th>UDP</th></tr>\n"
    b"<tr><td>announces</td><td id=\"tcp_announce\">\x01L</td><td id=\"udp_announce\">\x01M</td></tr>\n"
    b"<tr><td>scrapes</td><td id=\"tcp_scrape\">\x01N</td><td id=\"udp_scrape\">\x01O</td></tr>\n"
    b"<tr><td>connects</td><td></td><td id=\"udp_connect\">\x01P</td></tr>\n"
    b"<tr><td>full scrapes</td><td id=\"fullscrapes\">\x01Q</td><td></td></tr>\n"
    b"</table></div>\n<div class=\"card\"><h2>Refused</h2><table>\n"
    b"<tr><td>rate limit</td><td id=\"refused_rate\">\x01R</td></tr>\n"
    b"<tr><td>memory budget</td><td id=\"refused_memory\">\x01S</td></tr>\n"
    b"<tr><td>access list</td><td id=\"refused_access\">\x01T</td></tr>\n"
    b"<tr><td>HTTP 403 (stats)</td><td id=\"http_403\">\x01U</td></tr>\n"
    b"<tr><td>shed (overload)</td><td id=\"shed\">\x01V</td></tr>\n"
    b"</table></div>\n"
)


cdef void _status_uptime(ot_pw *pw, uint64_t t) noexcept nogil:
    if t >= 86400:
        pw_uint(pw, t // 86400)
        pw_raw(pw, b"d ", 2)
    if t >= 3600:
        pw_uint(pw, t // 3600 % 24)
        pw_raw(pw, b"h ", 2)
    pw_uint(pw, t // 60 % 60)
    pw_raw(pw, b"m", 1)


cdef uint64_t _chart_value(const ot_worker *w, int point, int points, bint partial, int series) noexcept nogil:
    """Events in one step for chart point `point` (0: the oldest)."""
    cdef uint64_t v
    cdef ot_counters summed
    if partial and point == points - 1:
        v = history_partial(&w.t.status.hist, counters_summed(w, &summed), w.mono, series)
    else:
        v = history_at(&w.t.status.hist, points - 1 - point - (1 if partial else 0), series)
    return v if v < UINT32_MAX else UINT32_MAX


cdef uint64_t _chart_scale(uint64_t tenths) noexcept nogil:
    """The y axis' top in tenths of a request per second: the first of 0.4,
    0.8, 2, 4, 8, 20, 40, ... at or above `tenths`, so that its quarters
    are round numbers."""
    cdef uint64_t decade = 1
    while True:
        if 4 * decade >= tenths:
            return 4 * decade
        if 8 * decade >= tenths:
            return 8 * decade
        if 20 * decade >= tenths:
            return 20 * decade
        if decade >= <uint64_t>1 << 40:
            return 20 * decade
        decade *= 10


cdef void _status_chart(ot_pw *pw, const ot_worker *w) noexcept nogil:
    """Announces/s and scrapes/s per protocol as four polylines: the
    completed steps and the one in progress, the newest on the right, a dot
    on the newest point."""
    cdef const ot_history *h = &w.t.status.hist
    cdef uint64_t step = h.step if h.step else OT_HISTORY_STEP
    cdef bint partial = h.last_at > 0 and w.mono > h.last_at
    cdef int points = h.count + (1 if partial else 0)
    cdef uint64_t most = 0, v, scale
    cdef int i, k
    cdef uint64_t x, y
    cdef uint64_t grid[2]            # a grid line's y, its label's
    for i in range(points):
        for k in range(OT_HISTORY_SERIES):
            v = _chart_value(w, i, points, partial, k)
            if v > most:
                most = v
    scale = _chart_scale((most * 10 + step - 1) // step)       # tenths per second
    pw_cstr(pw, b"<div class=\"card\"><h2>Requests per second, the last ")
    pw_uint(pw, step * OT_HISTORY_SLOTS // 60)
    pw_cstr(pw, b" minutes</h2>\n<svg id=\"chart\" viewBox=\"0 0 1200 196\" role=\"img\" "
               b"aria-label=\"requests per second\">\n")
    for i in range(5):
        grid[0] = CHART_Y + CHART_H * <uint64_t>i // 4
        grid[1] = grid[0] + 4
        pw_template(pw, b"<line x1=\"56\" x2=\"1180\" y1=\"\x01A\" y2=\"\x01A\" stroke=\"#e3e7ed\"/>"
                        b"<text x=\"48\" text-anchor=\"end\" y=\"\x01B\">", grid)
        pw_rate(pw, scale * <uint64_t>(4 - i) // 4)
        pw_cstr(pw, b"</text>\n")
    pw_cstr(pw, b"<text x=\"56\" y=\"180\">")
    pw_uint(pw, step * OT_HISTORY_SLOTS // 60)
    pw_cstr(pw, b" min ago</text><text x=\"618\" y=\"180\" text-anchor=\"middle\">")
    pw_uint(pw, step * OT_HISTORY_SLOTS // 120)
    pw_cstr(pw, b" min ago</text><text x=\"1180\" y=\"180\" text-anchor=\"end\">now</text>\n")
    for k in range(OT_HISTORY_SERIES):
        pw_cstr(pw, b"<polyline class=\"series\" id=\"series")
        pw_uint(pw, <uint64_t>k)
        pw_cstr(pw, b"\" fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke=\"")
        pw_cstr(pw, _SERIES_COLOUR[k])
        pw_cstr(pw, b"\" points=\"")
        for i in range(points):
            x = CHART_X + CHART_W - <uint64_t>(points - 1 - i) * CHART_W // OT_HISTORY_SLOTS
            v = _chart_value(w, i, points, partial, k)
            y = CHART_Y + CHART_H - v * 10 * CHART_H // (step * scale)
            if i:
                pw_raw(pw, b" ", 1)
            pw_uint(pw, x)
            pw_raw(pw, b",", 1)
            pw_uint(pw, y)
        pw_cstr(pw, b"\"/>\n")
        if points:
            pw_cstr(pw, b"<circle r=\"3\" cx=\"1180\" cy=\"")
            pw_uint(pw, y)
            pw_cstr(pw, b"\" fill=\"")
            pw_cstr(pw, _SERIES_COLOUR[k])
            pw_cstr(pw, b"\"/>\n")
    if points == 0:
        pw_cstr(pw, b"<text x=\"618\" y=\"90\" text-anchor=\"middle\">no samples yet</text>\n")
    pw_cstr(pw, b"</svg>\n<div>")
    for k in range(OT_HISTORY_SERIES):
        pw_cstr(pw, b"<span class=\"key\" style=\"background:")
        pw_cstr(pw, _SERIES_COLOUR[k])
        pw_cstr(pw, b"\"></span>")
        pw_cstr(pw, _SERIES_NAME[k])
        pw_raw(pw, b" ", 1)
        pw_rate(pw, (_chart_value(w, points - 1, points, partial, k) if points else 0) * 10 // step)
        pw_cstr(pw, b"/s")
    pw_cstr(pw, b"</div></div>\n")


cdef void _status_memory(ot_pw *pw, const ot_worker *w) noexcept nogil:
    cdef uint64_t limit = w.t.store.mem_limit
    cdef uint64_t used = store_held(w.t.store)
    cdef uint64_t permille
    cdef uint64_t v[3]               # used, left, budget
    pw_cstr(pw, b"<div class=\"card\"><h2>Memory budget</h2>\n")
    if limit == 0:
        pw_cstr(pw, b"<p>No budget set (tracker.memory_limit). Held now: ")
        pw_mib(pw, used)
        pw_cstr(pw, b".</p></div>\n")
        return
    permille = <uint64_t>(1000.0 * <double>used / <double>limit) if used < limit else 1000
    pw_cstr(pw, b"<div class=\"bar\"><div")
    if permille >= 900:
        pw_cstr(pw, b" class=\"hi\"")
    pw_cstr(pw, b" style=\"width:")
    pw_tenths(pw, permille)
    v[0] = used
    v[1] = limit - used if used < limit else 0
    v[2] = limit
    pw_template(pw, b"%\"></div></div>\n<table>"
                    b"<tr><td>used</td><td id=\"mem_used\">\x01A</td><td>\x02A</td></tr>"
                    b"<tr><td>left</td><td id=\"mem_left\">\x01B</td><td>\x02B</td></tr>"
                    b"<tr><td>budget</td><td id=\"mem_limit\">\x01C</td><td>\x02C</td></tr>"
                    b"</table></div>\n", v)


cdef void _status_workers(ot_pw *pw, const ot_worker *w) noexcept nogil:
    """Each worker loop's share of the UDP datagrams read so far, in
    percent with one decimal (tracker.workers > 1 only)."""
    cdef uint64_t n[OT_WORKERS_MAX]
    cdef uint64_t total = 0          # wraps only past 1.8e19 datagrams: a wrong share, never a fault
    cdef uint32_t i
    for i in range(w.t.worker_count):
        n[i] = (w.ctr.udp_datagrams[0] + w.ctr.udp_datagrams[1] if i == 0 else
                counters_udp_requests(w.t.workers[i]))
        total += n[i]
    pw_cstr(pw, b"<div class=\"card\"><h2>Worker loops</h2><table id=\"workers\">\n"
                b"<tr><th>loop</th><th>serves</th><th>UDP datagrams</th><th>share</th></tr>\n")
    for i in range(w.t.worker_count):
        pw_cstr(pw, b"<tr><td>")
        pw_uint(pw, i)
        pw_cstr(pw, b"</td><td>HTTP, UDP</td>" if i == 0 else b"</td><td>UDP</td>")
        pw_raw(pw, b"<td>", 4)
        pw_uint(pw, n[i])
        pw_raw(pw, b"</td><td>", 9)
        pw_tenths(pw, <uint64_t>(<double>n[i] * 1000.0 / <double>total) if total else 0)
        pw_cstr(pw, b" %</td></tr>\n")
    pw_cstr(pw, b"</table></div>\n")


cdef ssize_t status_write(const ot_worker *w, const ot_statustop *top, uint8_t *buf, size_t cap) noexcept nogil:
    """The page into buf; its length, or -1 when it does not fit in cap."""
    cdef ot_pw pw
    cdef ot_counters summed
    cdef const ot_counters *k = counters_summed(w, &summed)    # every worker's
    cdef ot_store_counts c
    cdef uint8_t ver[OT_VERSION_MAX]
    cdef uint8_t *vend
    cdef uint32_t i
    cdef uint64_t v[22]              # the numbers of _PAGE_CARDS, in its letters' order
    pw.p = buf
    pw.end = buf + cap
    pw.over = False
    store_counts(w.t.store, &c)
    pw_cstr(&pw, _PAGE_HEAD)
    pw_cstr(&pw, b"<p class=\"sub\">up <b id=\"uptime\" data-seconds=\"")
    pw_uint(&pw, server_uptime(w))
    pw_raw(&pw, b"\">", 2)
    _status_uptime(&pw, server_uptime(w))
    pw_cstr(&pw, b"</b> &middot; listening on <b id=\"listen\">")
    if w.t.status.listen_len:
        pw_text(&pw, w.t.status.listen, w.t.status.listen_len)
    else:
        pw_cstr(&pw, b"(not told)")
    pw_cstr(&pw, b"</b> &middot; access <b id=\"access\">")
    pw_cstr(&pw, b"whitelist" if w.t.access.mode == OT_ACCESS_WHITE else
            b"blacklist" if w.t.access.mode == OT_ACCESS_BLACK else b"open")
    v[0] = c.torrents
    v[1] = c.peers[0]
    v[2] = c.peers[1]
    v[3] = c.peers[0] + c.peers[1]
    v[4] = c.seeders[0]
    v[5] = c.seeders[1]
    v[6] = c.seeders[0] + c.seeders[1]
    v[7] = c.peers[0] - c.seeders[0]
    v[8] = c.peers[1] - c.seeders[1]
    v[9] = c.peers[0] + c.peers[1] - c.seeders[0] - c.seeders[1]
    v[10] = k.completed
    v[11] = k.tcp_announces[0] + k.tcp_announces[1]
    v[12] = k.udp_announces[0] + k.udp_announces[1]
    v[13] = k.tcp_scrapes[0] + k.tcp_scrapes[1]
    v[14] = k.udp_scrapes[0] + k.udp_scrapes[1]
    v[15] = k.udp_connects[0] + k.udp_connects[1]
    v[16] = k.fullscrapes
    v[17] = k.refused_rate
    v[18] = k.refused_memory
    v[19] = k.refused_access
    v[20] = k.http_errors[HTTPERR_403_IP]
    v[21] = k.shed[0] + k.shed[1] + k.shed[2] + k.shed[3] + k.shed[4] + k.shed[5]
    pw_template(&pw, _PAGE_CARDS, v)
    if w.t.worker_count > 1:
        _status_workers(&pw, w)
    _status_memory(&pw, w)
    pw_cstr(&pw, b"</div>\n")
    _status_chart(&pw, w)
    pw_cstr(&pw, b"<div class=\"card\"><h2>Top torrents by peers</h2><table id=\"top\">\n"
                b"<tr><th>info_hash</th><th>peers</th><th>seeders</th><th>leechers</th></tr>\n")
    for i in range(top.count):
        pw_cstr(&pw, b"<tr><td class=\"hash\">")
        vend = put_hex_upper(ver, top.hash[i])
        pw_raw(&pw, ver, 40)
        v[0] = top.peers[i]
        v[1] = top.seeds[i]
        v[2] = top.peers[i] - top.seeds[i]
        pw_template(&pw, b"</td><td>\x01A</td><td>\x01B</td><td>\x01C</td></tr>\n", v)
    if top.count == 0:
        pw_cstr(&pw, b"<tr><td colspan=\"4\">no torrent has peers</td></tr>\n")
    pw_cstr(&pw, b"</table></div>\n<footer><span id=\"version\">")
    vend = write_version(ver)
    pw_text(&pw, ver, <size_t>(vend - ver))
    pw_cstr(&pw, b"</span><br>Counts since start; this page reloads every 10 seconds. For scripts: "
                b"<a href=\"?mode=everything\">mode=everything</a> (XML), "
                b"<a href=\"/metrics\">/metrics</a> (Prometheus).</footer>\n</body></html>\n")
    if pw.over:
        return -1
    return <ssize_t>(pw.p - buf)
