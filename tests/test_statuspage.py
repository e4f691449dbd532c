"""The HTML status page (statuspage.pyx) and its rate history (history.pyx),
in-process: how a request reaches it, who may see it, what it says, that
every other stats answer keeps its bytes, and the page's bound at the exact
boundary. The browser's view is tests/test_statuspage_browser.py."""

import gzip
import hashlib
import re

import pytest

from helpers.testcore import core

_core, Server = core, core.Server

HTML_HEAD = b"HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
ERR_403 = (b"HTTP/1.0 403 Access Denied\r\nContent-Type: text/html\r\nContent-Length: 29\r\n\r\n"
           b"<title>Access Denied</title>\n")


def h(i):
    return hashlib.sha1(b"page %d" % i).digest()


def announce(server, info_hash, client, port, left):
    from urllib.parse import quote_from_bytes
    req = ("GET /announce?info_hash=%s&port=%d&left=%d&peer_id=-PY0001-000000000000 HTTP/1.0\r\n\r\n"
           % (quote_from_bytes(info_hash), port, left)).encode()
    answer = server.answer_http(req, client=client)
    assert answer.startswith(b"HTTP/1.1 200 OK"), answer


def get(server, target, headers=b"", client="127.0.0.1"):
    return server.answer_http(b"GET %s HTTP/1.0\r\n%s\r\n" % (target, headers), client=client)


def body(answer):
    head, _, rest = answer.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    assert len(rest) == length
    return rest


def cell(page, name):
    m = re.search(rb'<td id="%s">(\d+)</td>' % name.encode(), page)
    assert m, name
    return int(m.group(1))


@pytest.fixture
def server():
    s = Server(seed=1)
    s.set_listen_text(b"tcp 127.0.0.1:6969, udp [::1]:6969")
    return s


# ---------------------------------------------------------------- reaching it

def test_mode_html_and_a_browser_on_the_plain_stats_path_get_the_page(server):
    for target, headers in ((b"/stats?mode=html", b""),
                            (b"/stats", b"Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"),
                            (b"/stats?mode=html", b"Accept: text/plain\r\n")):
        answer = get(server, target, headers)
        assert answer.startswith(HTML_HEAD), (target, headers)
        page = body(answer)
        assert page.startswith(b"<!DOCTYPE html>\n") and page.endswith(b"</body></html>\n")


def test_every_other_stats_answer_keeps_its_bytes(server):
    """Scripts and MRTG: without Accept: text/html, or with a mode named,
    the answer is what it was (the bytes of a server that never heard of
    the page: the mode's own answer)."""
    announce(server, h(1), "10.0.0.1", 1, 0)
    plain = get(server, b"/stats")
    assert plain == (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 46\r\n\r\n"
                     b"1\n1\nopentracker serving 1 torrents\nopentracker")
    assert get(server, b"/stats", b"Accept: */*\r\n") == plain
    assert get(server, b"/stats", b"Accept: text/plain\r\n") == plain
    assert get(server, b"/stats?mode=peer", b"Accept: text/html\r\n") == plain
    assert get(server, b"/stats?mode=torr", b"Accept: text/html\r\n") == get(server, b"/stats?mode=torr")
    assert get(server, b"/metrics", b"Accept: text/html\r\n").startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain")
    # An Accept header with text/html only in another header's value does not count.
    assert get(server, b"/stats", b"X-Note: Accept: text/html\r\n") == plain


def test_a_stranger_gets_403_blessed_networks_get_the_page(server):
    for headers in (b"", b"Accept: text/html\r\n"):
        for target in (b"/stats?mode=html", b"/stats"):
            if target == b"/stats" and not headers:
                continue
            assert get(server, target, headers, client="203.0.113.9") == ERR_403
            assert get(server, target, headers, client="2001:db8::9") == ERR_403
    server.set_networks([(bytes(10) + b"\xff\xff" + bytes([203, 0, 113, 0]), 96 + 24, _core.PERM_STATS)])
    assert get(server, b"/stats?mode=html", client="203.0.113.9").startswith(HTML_HEAD)
    assert get(server, b"/stats?mode=html", client="198.51.100.1") == ERR_403


def test_gzipped_when_the_browser_takes_gzip(server):
    answer = get(server, b"/stats?mode=html", b"Accept-Encoding: gzip, deflate\r\n")
    assert answer.startswith(HTML_HEAD + b"Content-Encoding: gzip\r\n")
    page = gzip.decompress(body(answer))
    assert page.startswith(b"<!DOCTYPE html>") and page.endswith(b"</html>\n")


# ---------------------------------------------------------------- what it says

def test_page_numbers_equal_everything(server):
    for i in range(5):
        for p in range(i + 1):
            announce(server, h(i), "10.0.%d.%d" % (i, p), 6881, 0 if p % 2 else 100)
    announce(server, h(9), "2001:db8::1", 1, 0)
    announce(server, h(9), "2001:db8::2", 1, 5)
    server.answer_http(b"GET /scrape?info_hash=%s HTTP/1.0\r\n\r\n" % bytes(20).hex().encode())
    page = body(get(server, b"/stats?mode=html"))
    xml = body(get(server, b"/stats?mode=everything"))

    def x(tag):
        return int(re.search(rb"<%s>(\d+)</%s>" % (tag, tag), xml).group(1))

    assert cell(page, "torrents") == x(b"count_mutex") == 6
    assert cell(page, "peers") == 17 and cell(page, "seeds") == 7      # (1+2+3+4+5) + 2; (0+1+1+2+2) + 1
    assert cell(page, "peers") == int(re.search(rb"<peers>\n    <count>(\d+)", xml).group(1))
    assert cell(page, "seeds") == int(re.search(rb"<seeds>\n    <count>(\d+)", xml).group(1))
    assert (cell(page, "peers4"), cell(page, "peers6"), cell(page, "seeds4"), cell(page, "seeds6")) == (15, 2, 6, 1)
    assert cell(page, "leechers") == 10 and cell(page, "leechers4") == 9 and cell(page, "leechers6") == 1
    assert cell(page, "tcp_announce") == 17
    tcp = re.search(rb"<tcp>\n      <accept>\d+</accept>\n      <announce>(\d+)</announce>\n      "
                    rb"<scrape>(\d+)</scrape>", xml)
    assert (cell(page, "tcp_announce"), cell(page, "tcp_scrape")) == (int(tcp.group(1)), int(tcp.group(2)))
    assert cell(page, "completed") == int(re.search(rb"<completed>\n    <count>(\d+)", xml).group(1))
    assert b'<b id="listen">tcp 127.0.0.1:6969, udp [::1]:6969</b>' in page
    assert b'<b id="access">open</b>' in page
    version = _core.version_report().decode().rstrip("\n").replace("\n", "<br>").encode()
    assert b'<span id="version">' + version + b"<br></span>" in page
    # The top list: most peers first, with seeders and leechers.
    rows = re.findall(rb'<tr><td class="hash">([0-9A-F]{40})</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>',
                      page)
    assert rows[0] == (h(4).hex().upper().encode(), b"5", b"2", b"3")
    assert [int(r[1]) for r in rows] == [5, 4, 3, 2, 2, 1]


def test_page_is_self_contained(server):
    page = body(get(server, b"/stats?mode=html")).decode()
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert re.findall(r'(?:src|href)="([^"]*)"', page) == ["data:,", "?mode=everything", "/metrics"]
    assert "default-src 'none'" in page and '<meta http-equiv="refresh" content="10">' in page


def test_memory_gauge_only_with_a_budget():
    s = Server(seed=1)
    page = body(get(s, b"/stats?mode=html"))
    assert b"No budget set" in page and b'id="mem_used"' not in page
    s = Server(seed=1, memory_limit=8 << 20)
    announce(s, h(1), "10.0.0.1", 1, 0)
    page = body(get(s, b"/stats?mode=html"))
    used, left, limit = cell(page, "mem_used"), cell(page, "mem_left"), cell(page, "mem_limit")
    assert limit == 8 << 20 and used + left == limit and used > 0
    # /metrics, answered on the spot, counts no answer in progress; the
    # page's working set (walk state, compressor, blocks) comes out of the
    # reserve the budget keeps for large answers, charged whether used or not.
    metrics = body(get(s, b"/metrics")).decode()
    idle = int(re.search(r"opentracker_memory_budget_used_bytes (\d+)\n", metrics).group(1))
    reserve = int(re.search(r"opentracker_memory_answer_reserve_bytes (\d+)\n", metrics).group(1))
    assert used == idle and reserve >= 5 * 16384
    width = int(used * 1000 / limit)
    assert b'style="width:%d.%d%%"' % (width // 10, width % 10) in page


def test_listen_text_is_escaped_and_bounded(server):
    server.set_listen_text(b'<script>"&' + b"x" * 1000)
    page = body(get(server, b"/stats?mode=html"))
    listen = re.search(rb'<b id="listen">(.*?)</b>', page).group(1)
    assert listen == b"&lt;script&gt;&quot;&amp;" + b"x" * (512 - 10)


# ---------------------------------------------------------------- the history

def points(page, series):
    text = re.search(rb'<polyline class="series" id="series%d"[^>]* points="([^"]*)"' % series, page).group(1)
    return [tuple(map(int, p.split(b","))) for p in text.split()] if text else []


def test_history_is_sampled_per_step_and_drawn(server):
    assert _core.HISTORY_BYTES == 60 * 4 * 4 + 4 * 8 + 8 + 3 * 2 + 2
    server.history_step(1)
    server.history_tick()          # starts the history
    page = body(get(server, b"/stats?mode=html"))
    assert points(page, 0) == [] and b"no samples yet" in page
    for i in range(3):
        announce(server, h(i), "10.0.0.%d" % (i + 1), 1, 0)
    # Let a step pass on the monotonic clock, then sample.
    import time
    deadline = time.monotonic() + 5
    before = len(points(body(get(server, b"/stats?mode=html")), 0))
    while time.monotonic() < deadline:
        server.history_tick()
        page = body(get(server, b"/stats?mode=html"))
        if len(points(page, 0)) >= 2:
            break
        time.sleep(0.05)
    p = points(page, 0)
    assert before <= 1 and len(p) >= 2
    # HTTP announces rose: some point of series 0 is above the base line
    # (y 160), the others (UDP, scrapes) stayed on it.
    assert min(y for _, y in p) < 160
    assert all(y == 160 for _, y in points(page, 1))
    assert p[-1][0] == 1180


def test_announces_do_not_touch_the_history(server):
    """The history is read and written by the once-a-second tick only: a
    thousand announces between two ticks change nothing in it."""
    server.history_step(3600)
    server.history_tick()
    first = body(get(server, b"/stats?mode=html"))
    for i in range(1000):
        announce(server, h(i % 7), "10.1.%d.%d" % (i >> 8, i & 255), 1, 1)
    page = body(get(server, b"/stats?mode=html"))
    # The point in progress at the right edge (x 1180) is drawn from the live
    # counters once a second has passed, which on a slow machine (qemu) it
    # may have; the samples the history holds must not change.
    completed = [[p for p in points(q, 0) if p[0] != 1180] for q in (first, page)]
    assert completed[0] == completed[1] == [], completed


# ---------------------------------------------------------------- the bound

def test_worst_page_fits_and_the_bound_holds_at_the_boundary():
    n, guard, page = Server(seed=1).status_page(1 << 20, worst=True)
    assert guard and 12000 < n < _core.STATUS_PAGE_MAX // 4, n
    assert page.count(b"18446744073709551615") >= 10 and page.count(b"&quot;") == 512
    assert len(points(page, 0)) == 61
    for cap in (n, n + 1):
        assert Server(seed=1).status_page(cap, worst=True)[:2] == (n, True)
    for cap in (n - 1, n // 2, 100, 0):
        assert Server(seed=1).status_page(cap, worst=True)[:2] == (-1, True)


def test_worst_page_with_the_most_worker_loops_fits_at_the_boundary():
    """tracker.workers at its ceiling adds a row per loop, each count at 20
    digits: the page still fits its buffer, and the bound holds there."""
    def worst():
        srv = Server(seed=1)
        srv.set_workers(_core.WORKERS_MAX)
        return srv
    n, guard, page = worst().status_page(1 << 20, worst=True)
    assert guard and n < _core.STATUS_PAGE_MAX // 2, n
    rows = re.findall(rb"<tr><td>(\d+)</td><td>(?:HTTP, )?UDP</td><td>(\d+)</td>", page)
    assert len(rows) == _core.WORKERS_MAX and all(len(c) >= 19 for _, c in rows)
    assert worst().status_page(n, worst=True)[:2] == (n, True)
    assert worst().status_page(n - 1, worst=True)[:2] == (-1, True)


def test_ordinary_page_at_the_boundary(server):
    for i in range(12):
        announce(server, h(i), "10.2.0.%d" % (i + 1), 1, 0)
    n, guard, page = server.status_page(1 << 16)
    assert guard and page.endswith(b"</html>\n")
    assert server.status_page(n)[:2] == (n, True)
    assert server.status_page(n - 1)[:2] == (-1, True)


def test_history_counts_from_the_servers_start(server):
    """Requests before the loop's first tick are in the chart: the history
    starts with the server, so a second later the step in progress shows."""
    import time
    for i in range(3):
        announce(server, h(i), "10.3.0.%d" % (i + 1), 1, 0)
    time.sleep(1.05)
    p = points(body(get(server, b"/stats?mode=html")), 0)
    assert len(p) == 1 and p[0][0] == 1180 and p[0][1] < 160


def axis_labels(page):
    """The chart's y-axis labels, top to bottom, and its legend's rates."""
    axis = re.findall(rb'<text x="48" text-anchor="end" y="\d+">([^<]*)</text>', page)
    legend = re.findall(rb'</span>[^<]* ([^ <]*)/s', page)
    return [a.decode() for a in axis], [r.decode() for r in legend]


def test_chart_labels_fit_their_column_at_any_load():
    """The y axis' labels are right-aligned in 48 of the chart's 1200 units:
    rates are written as a person reads them (no "200000000.0"), whole
    numbers without ".0", thousands and millions with k and M. At the
    largest (2^32 - 1 a minute) the top is 80M/s."""
    _, _, page = Server(seed=1).status_page(1 << 20, worst=True)
    axis, legend = axis_labels(page)
    assert axis == ["80M", "60M", "40M", "20M", "0"], axis
    assert legend and all(re.fullmatch(r"\d+(\.\d)?[kM]?", r) and len(r) <= 5 for r in legend), legend
    _, _, page = Server(seed=1).status_page(1 << 20)
    axis, legend = axis_labels(page)
    assert axis == ["0.4", "0.3", "0.2", "0.1", "0"], axis
    assert legend == ["0"] * 4, legend
