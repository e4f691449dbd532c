"""The fixed-buffer audit of issue 12 (helpers/bounds.py says how it proves
every bound and holds the sizes): HTTP. The request buffers (rbuf, in_buf,
scratch), the multi-scrape's hashes and body, the announce body, the
redirect URL, the stats path and the error pages, all written into obuf.
"""

import select
import socket

import pytest

from helpers.testcore import core
from opentracker import config as otconfig
from helpers.bounds import (ERROR_400_PARAM, ERROR_404, ERROR_500, OT_ANNOUNCE_BODY_MAX, OT_HTTP_HEAD_ROOM,
                            OT_HTTP_OUT_MAX, OT_HTTP_REQUEST_MAX, OT_MAXMULTISCRAPE, OT_REDIRECT_MAX,
                            OT_SCRAPE_BODY_MAX, OT_SCRAPE_ENTRY_MAX, OT_STATS_PATH_MAX, OT_UDP_PEERS_V4, U32,
                            digits, h, http, new_server, padded_request, q, restore, scrape_entry, scrape_swarm,
                            split)
from helpers.reference import bdecode, bdecode_ordered
# The `tracker` of conftest.py is a subprocess: crossbuild/test-qemu.sh leaves
# out the files that import trackerproc.
from helpers.trackerproc import Tracker  # noqa: F401

# ---------------------------------------------------------------- HTTP input: rbuf, in_buf, scratch (8192 + 1)

@pytest.mark.parametrize("total", [OT_HTTP_REQUEST_MAX - 1, OT_HTTP_REQUEST_MAX, OT_HTTP_REQUEST_MAX + 1])
def test_request_size_in_process(total):
    """docs/compatibility.md, HTTP limits: a request of at most 8192 bytes is
    answered, a longer one gets 500. The whole request is scanned in place
    (its NUL at req[8192] is the buffer's last byte), and the decoded pad
    value (8100 bytes) goes into scratch, which has the same 8193 bytes."""
    srv = new_server()
    x = h("request-size")
    answer = srv.answer_http(padded_request(total, "info_hash=%s&port=1&left=1" % q(x)))
    if total > OT_HTTP_REQUEST_MAX:
        assert answer == ERROR_500
        assert srv.counters()["http_errors"][8] == 1
    else:
        status, _, body = split(answer)
        assert status == "HTTP/1.1 200 OK"
        assert bdecode(body)[b"incomplete"] == 1


TRACKER = dict(ipv6=False)   # the module's `tracker` (conftest.py)


def _send_in_parts(t, parts):
    """Send a request in parts with TCP_NODELAY (the tracker may read them
    apart or together: both must give the same answer); the whole answer."""
    with socket.create_connection(("127.0.0.1", t.port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, part in enumerate(parts):
            s.sendall(part)
            if i + 1 < len(parts):
                # Let the first part be read alone (the accumulating path);
                # the answer is the same if it is not.
                select_sleep(0.15)
        return b"".join(iter(lambda: s.recv(65536), b""))


def select_sleep(seconds):
    select.select([], [], [], seconds)


@pytest.mark.parametrize("split_at", [None, 4096, OT_HTTP_REQUEST_MAX - 1])
@pytest.mark.parametrize("total", [OT_HTTP_REQUEST_MAX - 1, OT_HTTP_REQUEST_MAX, OT_HTTP_REQUEST_MAX + 1])
def test_request_size_over_tcp(tracker, total, split_at):
    """The loop's own reads: one recv of at most 8192 bytes into rbuf, then
    accumulation in in_buf (8193 bytes) up to 8192 bytes; 8193 is 500 whether
    it arrives at once or in parts."""
    x = h("tcp-request-size-%d-%s" % (total, split_at))
    request = padded_request(total, "info_hash=%s&port=1&left=1" % q(x))
    parts = [request] if split_at is None else [request[:split_at], request[split_at:]]
    answer = _send_in_parts(tracker, parts)
    if total > OT_HTTP_REQUEST_MAX:
        assert answer == ERROR_500
    else:
        status, _, body = split(answer)
        assert status == "HTTP/1.1 200 OK"
        assert bdecode(body)[b"incomplete"] == 1
    assert tracker.proc.poll() is None


# ---------------------------------------------------------------- HTTP scrape: hashes[64 * 20], the scrape body

@pytest.mark.parametrize("count", [OT_MAXMULTISCRAPE - 1, OT_MAXMULTISCRAPE, OT_MAXMULTISCRAPE + 1])
def test_http_scrape_63_64_65_hashes(count):
    """docs/compatibility.md, scrape: at most 64 hashes answered, the 65th parsed and ignored.
    http_scrape copies a hash into hashes[64 * 20] only while count < 64."""
    srv = new_server()
    hashes = scrape_swarm(srv, OT_MAXMULTISCRAPE + 1, "scrape")
    query = "&".join("info_hash=%s" % q(x) for x in hashes[:count])
    status, _, body = split(http(srv, "/scrape?" + query))
    assert status == "HTTP/1.1 200 OK"
    answered = min(count, OT_MAXMULTISCRAPE)
    expected = b"d5:filesd" + b"".join(scrape_entry(x, 1, U32, 1) for x in hashes[:answered]) + b"ee"
    assert body == expected
    assert len(scrape_entry(hashes[0], 1, U32, 1)) == 79
    assert len(body) == 9 + answered * 79 + 2
    assert [k for k, _ in bdecode_ordered(body)[0][1]] == hashes[:answered]


def test_http_scrape_65th_hash_is_still_checked():
    srv = new_server()
    good = "&".join("info_hash=%s" % q(h("checked-%d" % i)) for i in range(OT_MAXMULTISCRAPE))
    assert http(srv, "/scrape?" + good + "&info_hash=%s" % q(b"x" * 19)) == ERROR_400_PARAM


def test_http_scrape_largest_answer_fits_the_answer_buffer():
    """The largest scrape answer: 64 entries, here one torrent repeated 64
    times with 10-digit counters in every field a client can reach
    (downloaded 2^32 - 1). An entry is 3 + 20 + 11 + 3 * (13 + i..e) + 1:
    with seeders and leechers at 3 digits and downloaded at 10, 78 bytes;
    with all three at 10 digits (uint32), 97; writers.pyx allows 124. The
    worst body, 9 + 64 * 97 + 2 = 6219, and 96 bytes of head room are far
    inside OT_HTTP_OUT_MAX (16384); Store.scrape_http's buffer is
    OT_SCRAPE_BODY_MAX = 7947."""
    srv = new_server()
    x = h("largest-scrape")
    restore(srv.store, x, U32)
    for i in range(150):
        srv.announce_http(x, "10.3.0.%d" % (i + 1), 6881, seeder=i < 100)
    query = "&".join(["info_hash=%s" % q(x)] * OT_MAXMULTISCRAPE)
    answer = http(srv, "/scrape?" + query)
    _, _, body = split(answer)
    entry = scrape_entry(x, 100, U32, 50)
    assert len(entry) == 82
    assert body == b"d5:filesd" + entry * OT_MAXMULTISCRAPE + b"ee"
    worst_entry = len(entry) + (10 - 3) + (10 - 2)    # seeders and leechers widened to 10 digits
    assert worst_entry == 97 <= OT_SCRAPE_ENTRY_MAX
    assert OT_HTTP_HEAD_ROOM + 9 + OT_MAXMULTISCRAPE * 97 + 2 < OT_HTTP_OUT_MAX
    # The Store writer's own buffer (api.pyx, OT_SCRAPE_BODY_MAX) with 65 given: 64 written.
    assert srv.scrape_http([x] * (OT_MAXMULTISCRAPE + 1)) == body
    assert len(body) <= OT_SCRAPE_BODY_MAX


# ---------------------------------------------------------------- HTTP announce body (OT_ANNOUNCE_BODY_MAX)

def test_http_announce_worst_case_body():
    """The largest announce body: 200 IPv6 peers (3600 bytes) with
    downloaded at 2^32 - 1. Its fixed part with every counter at 10 digits
    (uint32) is 116 bytes, plus `0:` for the empty peers, `6:peers6`,
    `3600:` and the closing `e`: 116 + 2 + 8 + 5 + 3600 + 1 = 3732, inside
    OT_ANNOUNCE_BODY_MAX (4096) with 364 to spare; any IPv4 share only makes
    it shorter (6 bytes a peer instead of 18). Over HTTP it goes into obuf
    at OT_HTTP_HEAD_ROOM: 96 + 3732 < 16384."""
    srv = new_server()
    x = h("http-worst")
    restore(srv.store, x, U32)
    for i in range(OT_UDP_PEERS_V4):
        srv.announce_http(x, "2001:db8::3:%x" % (i + 1), 6881)
    for numwant in (200, 201, 100000):
        answer = http(srv, "/announce?info_hash=%s&port=7000&left=1&numwant=%d" % (q(x), numwant),
                      client="2001:db8::4:1")
        status, _, body = split(answer)
        d = bdecode(body)
        assert d[b"peers"] == b"" and len(d[b"peers6"]) == 200 * 18
        assert (d[b"downloaded"], d[b"incomplete"], d[b"complete"]) == (U32, 201, 0)
        fixed = (len(body) - 3600 - len(b"0:6:peers63600:e"))
        assert fixed == 11 + 3 + 13 + 12 + 13 + 5 + 10 + 6 + 15 + 5 + 7   # 100: counters 1, 10, 3 digits
        worst = fixed + (10 - 1) + (10 - 3) + 2 + 8 + 5 + 3600 + 1
        assert worst == 3732 <= OT_ANNOUNCE_BODY_MAX - 364
        assert len(answer) == len(body) + (59 + digits(len(body)) + 4)
    # The Store writer, into its OT_ANNOUNCE_BODY_MAX stack buffer.
    body = srv.announce_http(x, "2001:db8::4:2", 7000, numwant=1000)
    assert len(bdecode(body)[b"peers6"]) == 200 * 18 and len(body) <= OT_ANNOUNCE_BODY_MAX


# ---------------------------------------------------------------- the redirect URL and the stats path

@pytest.mark.parametrize("length", [OT_REDIRECT_MAX - 1, OT_REDIRECT_MAX])
def test_redirect_url_up_to_2048_bytes(length):
    """The 302 answer is 49 + URL + 4 bytes, written into obuf (16384)."""
    url = "https://tracker.example/"
    url += "u" * (length - len(url))
    srv = new_server(redirect_url=url)
    answer = http(srv, "/")
    assert answer == b"HTTP/1.0 302 Found\r\nContent-Length: 0\r\nLocation: " + url.encode() + b"\r\n\r\n"
    assert len(answer) == 49 + length + 4 <= 49 + OT_REDIRECT_MAX + 4 < OT_HTTP_OUT_MAX


def test_redirect_url_of_2049_bytes_is_refused(tmp_path):
    url = "https://tracker.example/"
    url += "u" * (OT_REDIRECT_MAX + 1 - len(url))
    with pytest.raises(ValueError, match="longer than 2048"):
        new_server(redirect_url=url)
    for length, ok in ((OT_REDIRECT_MAX, True), (OT_REDIRECT_MAX + 1, False)):
        path = tmp_path / ("r%d.conf" % length)
        path.write_text("tracker.redirect_url %s\n" % url[:length])
        if ok:
            assert otconfig.load(str(path))[0].redirect_url == url[:length]
        else:
            with pytest.raises(otconfig.ConfigError, match="longer than 2048 bytes"):
                otconfig.load(str(path))


@pytest.mark.parametrize("length", [1, OT_STATS_PATH_MAX - 1, OT_STATS_PATH_MAX])
def test_stats_path_up_to_255_bytes(length):
    """stats_path[256] holds a path of 1..255 bytes; requests are compared
    against it in place: the path itself answers, one byte less or more 404."""
    path = "s" * length
    srv = new_server(stats_path=path)
    status, _, body = split(http(srv, "/%s?mode=version" % path))
    assert status == "HTTP/1.1 200 OK" and body == core.version_report()
    assert http(srv, "/%s?mode=version" % ("s" * (length + 1))) == ERROR_404
    if length > 1:
        assert http(srv, "/%s?mode=version" % ("s" * (length - 1))) == ERROR_404


def test_stats_path_of_256_bytes_is_refused(tmp_path):
    with pytest.raises(ValueError):
        new_server(stats_path="s" * (OT_STATS_PATH_MAX + 1))
    with pytest.raises(ValueError):
        new_server(stats_path="")
    for length, ok in ((OT_STATS_PATH_MAX, True), (OT_STATS_PATH_MAX + 1, False)):
        path = tmp_path / ("s%d.conf" % length)
        path.write_text("access.stats_path %s\n" % ("s" * length))
        if ok:
            assert otconfig.load(str(path))[0].stats_path == "s" * length
        else:
            with pytest.raises(otconfig.ConfigError, match="longer than 255 bytes"):
                otconfig.load(str(path))


def test_error_pages_exact():
    """http_error writes each page at the start of obuf: status line,
    Content-Type, Content-Length and a <title>, at most 125 bytes."""
    srv = new_server()
    assert http(srv, "/nothing-here") == ERROR_404
    assert srv.answer_http(b"POST / HTTP/1.0\r\n\r\n") == (
        b"HTTP/1.0 400 Invalid Request\r\nContent-Type: text/html\r\nContent-Length: 31\r\n\r\n"
        b"<title>Invalid Request</title>\n")
    assert http(srv, "/stats", client="10.16.0.1") == (
        b"HTTP/1.0 403 Access Denied\r\nContent-Type: text/html\r\nContent-Length: 29\r\n\r\n"
        b"<title>Access Denied</title>\n")
    assert http(srv, "/stats?mode=busy") == ERROR_500
    assert http(srv, "/announce?info_hash=%s&port=1&compact=0" % q(h("compact"))) == ERROR_400_PARAM
    for answer in (ERROR_404, ERROR_500, ERROR_400_PARAM):
        assert len(answer) <= 125
