"""/stats (docs/compatibility.md: stats, the checklist's items 80-90): every
mode byte for byte, the counting rules, the stats path and who may ask (one
of our deliberate differences there).

Every test talks to a tracker process over loopback and checks the bytes a
client sees, but for who may ask: over loopback everyone is loopback, so
those checks ask from other addresses, in a network namespace (root) and
through the real handler in-process (helpers/shellserver.py, no root
needed). Run it against the C original with

    OT_IMPL=c python -m pytest -q tests/test_stats.py

Where we deliberately differ (docs/compatibility.md; stats open to
loopback, tpbs and statedump gzipped only on request, fscr counted for real,
numwants always on, /stats?info_hash -> 400), the test checks ours and
branches or skips for the original, saying why.
"""

import gc
import gzip
import hashlib
import os
import re
import socket
import struct
import sys
import time
import zlib
import xml.etree.ElementTree as ET
from urllib.parse import quote_from_bytes

import pytest

from helpers import shellserver
from helpers.sliced import sliced_tracker
from helpers.stranger import BLESSED4, BLESSED6, STRANGER4, STRANGER6, needs_netns, run_in_netns
from helpers.trackerproc import Tracker, split_response, udp_announce_packet, udp_scrape_packet

IMPL = os.environ.get("OT_IMPL", "ours")
ours_only = pytest.mark.skipif(IMPL == "c", reason="a deliberate difference from the original (docs/compatibility.md)")
REDIRECT_URL = "http://tracker.invalid/"

ERR_400 = (b"HTTP/1.0 400 Invalid Request\r\nContent-Type: text/html\r\nContent-Length: 31\r\n\r\n"
           b"<title>Invalid Request</title>\n")
ERR_403 = (b"HTTP/1.0 403 Access Denied\r\nContent-Type: text/html\r\nContent-Length: 29\r\n\r\n"
           b"<title>Access Denied</title>\n")
ERR_404 = (b"HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 25\r\n\r\n"
           b"<title>Not Found</title>\n")
ERR_500 = (b"HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 37\r\n\r\n"
           b"<title>Internal Server Error</title>\n")
# The Debian build's fourteen unexpanded CVS lines; ours names what it was
# built from, as the C original's current master does (docs/compatibility.md, stats).
if IMPL == "c":
    VERSION = b"$Source$: $Revision$\n" * 14
else:
    from opentracker_core._core import version_report
    VERSION = version_report()


# ---------------------------------------------------------------- helpers

def sha(label):
    return hashlib.sha1(("stats:" + label).encode()).digest()


# Every hash a test announces is one of these: the C original only serves a whitelist.
HASHES = [sha("t%d" % i) for i in range(160)]


def enc(raw):
    return quote_from_bytes(raw, safe="")


def request(target, headers=b""):
    return b"GET " + target.encode("latin-1") + b" HTTP/1.0\r\n" + headers + b"\r\n"


def answer(raw, http10=False, gzipped=False):
    """The body of a 200 answer, after checking its exact header block."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, raw
    expected = b"HTTP/1.0 200 OK\r\n" if http10 else b"HTTP/1.1 200 OK\r\n"
    expected += b"Content-Type: text/plain\r\n"
    if gzipped:
        expected += b"Content-Encoding: gzip\r\n"
    assert head == expected + b"Content-Length: %d" % len(body), raw[:300]
    return gzip.decompress(body) if gzipped else body


def stats(t, query, http10=False, gzipped=False, headers=b""):
    return answer(t.http(request("/stats?" + query, headers)), http10, gzipped)


def announce(t, info_hash, source=None, **params):
    query = "info_hash=" + enc(info_hash) + "".join("&%s=%s" % kv for kv in params.items())
    raw = t.http(request("/announce?" + query), source=source)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and b"failure reason" not in raw, raw
    return raw


def mrtg(body):
    """(value 1, value 2, uptime, description) of a four-line MRTG answer,
    after checking the third line's exact shape."""
    lines = body.decode().split("\n")
    assert len(lines) == 4, body
    m = re.fullmatch(r"(\d+) seconds \((\d+) hours\)", lines[2])
    assert m and int(m.group(2)) == int(m.group(1)) // 3600, body
    return int(lines[0]), int(lines[1]), int(m.group(1)), lines[3]


def per(total, seconds):
    """The original's rate: an integer division by the uptime, 0 taken as 1."""
    return total // (seconds or 1)


def udp_connect(t, sock):
    sock.sendto(struct.pack(">QII", 0x41727101980, 0, 0x99), ("127.0.0.1", t.port))
    reply = sock.recv(64)
    assert len(reply) == 16
    return reply[8:]


def udp(t, sock, payload):
    sock.sendto(payload, ("127.0.0.1", t.port))
    return sock.recv(2048)


# ---------------------------------------------------------------- fixtures

# The module's `tracker` (conftest.py), shared by the tests that only look at
# shapes or deltas; new_tracker(**kw) starts one like it, kw replacing these.
TRACKER = dict(whitelist=HASHES, config=["tracker.redirect_url " + REDIRECT_URL])


def new_tracker(**kw):
    return Tracker(**dict(TRACKER, **kw)).start()


@pytest.fixture
def fresh():
    """A tracker of the test's own, for exact counts."""
    t = new_tracker()
    yield t
    t.close()


# ---------------------------------------------------------------- 80: who may ask

def test_80_c_restricts_stats_to_blessed_addresses():
    """Debian's build (WANT_RESTRICT_STATS) refuses even loopback unless it
    is blessed; ours serves loopback without configuration
    (docs/compatibility.md, our deliberate differences)."""
    with Tracker(whitelist=HASHES, stats=False) as t:
        raw = t.http(request("/stats?mode=tcp4"))
        if IMPL == "c":
            assert raw == ERR_403
        else:
            assert mrtg(answer(raw))[3].startswith("opentracker tcp4 stats, ")
            assert answer(t.http(request("/stats")), http10=True).endswith(b"\nopentracker")


@ours_only
def test_80_stats_from_ipv6_loopback_need_no_configuration():
    with Tracker(ipv6=True, stats=False) as t:
        raw = t.http(request("/stats?mode=conn"), family=socket.AF_INET6)
        assert mrtg(answer(raw))[3].startswith("opentracker connections, ")


@ours_only
@needs_netns
def test_80_strangers_get_403_blessed_networks_are_served():
    """From addresses that are not loopback: a stranger gets the exact 403
    page for every mode, /metrics and a stats path with a query it would
    otherwise find wrong (the permission check comes first); a member of an
    access.stats network (IPv4 and IPv6 prefixes) is served; the full scrape
    is served to the stranger too (item 63)."""
    config = ["access.stats 192.0.2.0/24", "access.stats 2001:db8:1::/48"]
    asks = [
        (4, STRANGER4, request("/stats")),
        (4, STRANGER4, request("/stats?mode=everything")),
        (4, STRANGER4, request("/stats?mode=tpbs&format=txt")),
        (4, STRANGER4, request("/stats?mode=bogus&info_hash=x")),
        (4, STRANGER4, request("/metrics")),
        (6, STRANGER6, request("/stats?mode=tcp4")),
        (6, STRANGER6, request("/metrics")),
        (4, BLESSED4, request("/stats?mode=tcp4")),
        (6, BLESSED6, request("/stats?mode=torr")),
        (4, BLESSED4, request("/metrics")),
        (4, STRANGER4, request("/scrape")),
        (6, STRANGER6, request("/scrape", b"Accept-Encoding: gzip\r\n")),
        (4, BLESSED4, request("/stats?mode=herr")),
    ]
    answers, stderr = run_in_netns(config, asks)
    assert answers[:7] == [ERR_403] * 7
    assert mrtg(answer(answers[7]))[3].startswith("opentracker tcp4 stats, ")
    assert answer(answers[8], http10=True) == b"0\n0\nopentracker serving 0 torrents\nopentracker"
    assert split_response(answers[9])[1][0] == "Content-Type: text/plain; version=0.0.4"
    assert answer(answers[10], http10=True) == b"d5:filesdee"
    assert answer(answers[11], http10=True, gzipped=True) == b"d5:filesdee"
    # herr shows the 403 counter on its mislabelled last line (item 84's quirk).
    assert answer(answers[12]).endswith(b"\n500 SRV 7\n")
    log = re.findall(r"\[(\d{8})\] scrp:  (\S+) - FULL SCRAPE\n", stderr)
    assert log == [("00000000", STRANGER4), ("00000000", STRANGER6)]



# The same rules without root: the real handler in-process, with the client
# address given (helpers/shellserver.py), the networks set up as the shell does.

STATS_ASKS = ["/stats", "/stats?mode=everything", "/stats?mode=tpbs&format=txt", "/stats?mode=bogus&info_hash=x",
              "/stats?mode=tcp4", "/metrics"]


@ours_only
@pytest.mark.parametrize("client", [STRANGER4, STRANGER6, "::ffff:" + STRANGER4, "10.0.0.1", "192.0.3.55",
                                    "2001:db8:0:ffff::55"])
def test_80_strangers_get_403_without_root(client):
    """Every stats mode and /metrics answer a stranger the exact 403 page,
    with no configuration and beside access.stats networks it is not in
    (the IPv4 /24's neighbour, the IPv6 /48's neighbour); the full scrape
    is theirs all the same (item 63)."""
    for lines in ([], ["access.stats 192.0.2.0/24", "access.stats 2001:db8:1::/48"]):
        server = shellserver.configured(lines)
        for target in STATS_ASKS:
            assert shellserver.get(server, target, client) == ERR_403, (lines, target)
        assert answer(shellserver.get(server, "/scrape", client), http10=True) == b"d5:filesdee"


@ours_only
@pytest.mark.parametrize("client", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", BLESSED4, BLESSED6,
                                    "192.0.2.255", "2001:db8:1:ffff::1"])
def test_80_loopback_and_blessed_networks_are_served_without_root(client):
    server = shellserver.configured(["access.stats 192.0.2.0/24", "access.stats 2001:db8:1::/48"])
    assert mrtg(answer(shellserver.get(server, "/stats?mode=tcp4", client)))[3] \
        .startswith("opentracker tcp4 stats, ")
    assert answer(shellserver.get(server, "/stats?mode=torr", client), http10=True) == \
        b"0\n0\nopentracker serving 0 torrents\nopentracker"
    assert split_response(shellserver.get(server, "/metrics", client))[1][0] == \
        "Content-Type: text/plain; version=0.0.4"


@ours_only
def test_80_network_prefixes_end_inside_a_byte_without_root():
    """/25 and /49: the prefix ends inside a byte, and so does the blessing."""
    server = shellserver.configured(["access.stats 198.51.100.0/25", "access.stats 2001:db8:5::/49",
                                     "access.stats 203.0.113.77"])
    served = ["198.51.100.0", "198.51.100.127", "2001:db8:5::1", "2001:db8:5:7fff::1", "203.0.113.77"]
    refused = ["198.51.100.128", "198.51.100.255", "198.51.101.1", "2001:db8:5:8000::1", "203.0.113.76",
               "203.0.113.78"]
    for client in served:
        assert split_response(shellserver.get(server, "/stats?mode=conn", client))[0] == "HTTP/1.1 200 OK", client
    for client in refused:
        assert shellserver.get(server, "/stats?mode=conn", client) == ERR_403, client


@ours_only
def test_80_a_blessed_proxy_does_not_bless_its_clients_stats():
    """access.proxy changes whose address an announce stores, not who may
    read /stats: a stranger's request through a blessed proxy that is not a
    stats network is refused; from loopback (always blessed) it is served."""
    server = shellserver.configured(["access.proxy 192.0.2.1"])
    forwarded = b"X-Forwarded-For: 127.0.0.1\r\n"
    assert shellserver.get(server, "/stats?mode=conn", "192.0.2.1", forwarded) == ERR_403
    stranger = b"X-Forwarded-For: %s\r\n" % STRANGER4.encode()
    assert split_response(shellserver.get(server, "/stats?mode=conn", "127.0.0.1", stranger))[0] == "HTTP/1.1 200 OK"


# ---------------------------------------------------------------- 81-82: MRTG modes

def test_81_default_mode_is_peer(fresh):
    t = fresh
    for port, left in ((6001, 0), (6002, 1), (6003, 0)):
        announce(t, HASHES[0], port=port, left=left)
    announce(t, HASHES[1], port=6004, left=5)
    expected = b"4\n2\nopentracker serving 2 torrents\nopentracker"
    assert stats(t, "", http10=True) == expected
    assert answer(t.http(request("/stats")), http10=True) == expected
    assert stats(t, "mode=peer", http10=True) == expected
    assert stats(t, "mode=torr", http10=True) == b"2\n0\nopentracker serving 2 torrents\nopentracker"


def test_82_tcp4_counts_accepts_and_announces(tracker):
    a0, b0, _, _ = mrtg(stats(tracker, "mode=tcp4"))
    for port in (1, 2, 3):
        announce(tracker, HASHES[2], port=port, left=1)
    # Neither counted as announces: a refusal is (it was handled), the
    # missing-info_hash failure is not.
    tracker.http(request("/announce?port=1"))
    tracker.http(request("/scrape?info_hash=" + enc(HASHES[2])))
    a1, b1, t, text = mrtg(stats(tracker, "mode=tcp4"))
    assert (a1 - a0, b1 - b0) == (6, 3)
    assert text == "opentracker tcp4 stats, %d conns/s :: %d success/s." % (per(a1, t), per(b1, t))


def test_82_udp4_and_conn_count_datagrams_and_successes(tracker):
    a0, b0, _, _ = mrtg(stats(tracker, "mode=udp4"))
    c0, d0, _, _ = mrtg(stats(tracker, "mode=conn"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        cid = udp_connect(tracker, s)                                          # counted: datagram, success
        udp(tracker, s, udp_announce_packet(cid, HASHES[3], port=1))          # datagram, success
        udp(tracker, s, udp_announce_packet(cid, HASHES[3], port=1, event=3))  # a stop is an announce too
        udp(tracker, s, udp_scrape_packet(cid, [HASHES[3]]))                  # datagram only
        udp(tracker, s, udp_announce_packet(b"\0" * 8, HASHES[3]))            # mismatch: datagram only
    a1, b1, t, text = mrtg(stats(tracker, "mode=udp4"))
    assert (a1 - a0, b1 - b0) == (5, 3)
    assert text == "opentracker udp4 stats, %d conns/s :: %d success/s." % (per(a1, t), per(b1, t))
    announce(tracker, HASHES[3], port=2, left=1)
    c1, d1, t, text = mrtg(stats(tracker, "mode=conn"))
    # + the udp4 request above, the announce, this request; + 3 UDP, 1 TCP successes
    assert (c1 - c0, d1 - d0) == (5 + 3, 3 + 1)
    assert text == "opentracker connections, %d conns/s :: %d success/s." % (per(c1, t), per(d1, t))


def test_82_scrp_counts_requests_not_hashes(tracker):
    a0, b0, _, _ = mrtg(stats(tracker, "mode=scrp"))
    tracker.http(request("/scrape?info_hash=%s&info_hash=%s" % (enc(HASHES[4]), enc(HASHES[5]))))
    tracker.http(request("/scrape?info_hash=short"))                          # 400: not counted
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        cid = udp_connect(tracker, s)
        udp(tracker, s, udp_scrape_packet(cid, HASHES[4:9]))
        udp(tracker, s, udp_scrape_packet(cid, []))
    a1, b1, t, text = mrtg(stats(tracker, "mode=scrp"))
    assert (a1 - a0, b1 - b0) == (1, 2)
    assert text == "opentracker scrape stats, %d scrape/s (tcp and udp)" % per(a1 + b1, t)


def test_82_fscr_counts_full_scrapes_and_their_bytes(fresh):
    t = fresh
    announce(t, HASHES[6], port=1, left=0)
    assert mrtg(stats(t, "mode=fscr"))[:2] == (0, 0)
    plain = t.http(request("/scrape"))
    packed = t.http(request("/scrape", b"Accept-Encoding: gzip\r\n"))
    tpbs = t.http(request("/stats?mode=tpbs&format=txt"))
    t.http(request("/stats?mode=statedump"))          # a dump, not a scrape
    a, b, up, text = mrtg(stats(t, "mode=fscr"))
    if IMPL == "c":
        # The original never raises its counting event (docs/compatibility.md, stats).
        assert (a, b) == (0, 0)
        return
    sizes = [len(split_response(raw)[2]) for raw in (plain, packed, tpbs)]
    assert (a, b) == (3000, sum(sizes))
    assert text == "opentracker full scrape stats, %d conns/s :: %d bytes/s." % (per(3, up), per(b, up))


def test_82_completed_counts_downloads(fresh):
    t = fresh
    announce(t, HASHES[7], port=1, left=0, event="completed")
    announce(t, HASHES[7], port=1, left=0, event="completed")     # the same peer: once
    announce(t, HASHES[7], port=2, left=3, event="completed")     # still leeching: no
    announce(t, HASHES[8], port=1, left=0, event="completed")
    a, b, up, text = mrtg(stats(t, "mode=completed"))
    assert (a, b) == (2, 0)
    assert text == "opentracker, %d completed/h." % (2 // ((up // 3600) or 1))


def test_82_syncs_shows_received_records_and_conns_description(tracker):
    a, b, up, text = mrtg(stats(tracker, "mode=syncs"))
    assert (a, b) == (0, 0)            # no live sync configured
    conn = mrtg(stats(tracker, "mode=conn"))
    assert re.fullmatch(r"opentracker connections, \d+ conns/s :: \d+ success/s\.", text)
    assert text.split(",")[0] == conn[3].split(",")[0]


# ---------------------------------------------------------------- 83-85: renew, herr, version

def test_83_renew_counts_reannounces_by_age_in_minutes(fresh):
    t = fresh
    body = stats(t, "mode=renew")
    assert body == b"".join(b"%02d 0\n" % i for i in range(45))
    announce(t, HASHES[9], port=1, left=1)        # new: not a renewal
    announce(t, HASHES[9], port=1, left=1)
    announce(t, HASHES[9], port=1, left=0)
    assert stats(t, "mode=renew") == b"00 2\n" + b"".join(b"%02d 0\n" % i for i in range(1, 45))


def test_84_herr_lines_and_counters(fresh):
    t = fresh
    zero = b"302 RED 0\n400 ... 0\n400 PAR 0\n400 COM 0\n403 IP  0\n404 INV 0\n500 SRV 0\n"
    assert stats(t, "mode=herr") == zero
    t.http(b"GET / HTTP/1.0\r\n\r\n")                                  # 302
    t.http(b"POST / HTTP/1.0\r\n\r\n")                                 # 400
    t.http(request("/announce?info_hash=x"))                           # 400 PAR
    t.http(request("/announce?info_hash=%s&compact=0" % enc(HASHES[10])))   # 400 COM
    t.http(request("/announce?info_hash=%s&compact=0" % enc(HASHES[10])))
    t.http(request("/nothing"))                                        # 404: not shown by herr
    assert stats(t, "mode=herr") == (b"302 RED 1\n400 ... 1\n400 PAR 1\n400 COM 2\n"
                                     b"403 IP  0\n404 INV 0\n500 SRV 0\n")


def test_85_version(tracker):
    assert stats(tracker, "mode=version") == VERSION
    if IMPL != "c":
        from opentracker._version import __version__
        lines = VERSION.decode().split("\n")
        assert len(lines) == 5 and lines[4] == ""
        assert lines[0].startswith("opentracker-py %s (" % __version__)
        assert re.fullmatch(r"core: commit ([0-9a-f]{12}(-dirty)?|unknown), generated by Cython \d+\.\d+\S*", lines[1])
        assert lines[2] == "python: compiled for %d.%d.%d" % sys.version_info[:3]
        assert re.fullmatch(r"zlib: %s \(compiled with \d+\.\d+[.\d]*\)" % re.escape(zlib.ZLIB_RUNTIME_VERSION),
                            lines[3])


# ---------------------------------------------------------------- 86: everything

EVERYTHING = re.compile(
    rb'<\?xml version="1\.0" encoding="UTF-8"\?>\n<stats>\n'
    rb"  <tracker_id>(?P<id>\d+)</tracker_id>\n"
    rb"  <version>\n" + re.escape(VERSION) + rb"  </version>\n"
    rb"  <uptime>(?P<uptime>\d+)</uptime>\n"
    rb"  <torrents>\n    <count_mutex>(?P<tm>\d+)</count_mutex>\n"
    rb"    <count_iterator>(?P<ti>\d+)</count_iterator>\n  </torrents>\n"
    rb"  <peers>\n    <count>(?P<peers>\d+)</count>\n  </peers>\n"
    rb"  <seeds>\n    <count>(?P<seeds>\d+)</count>\n  </seeds>\n"
    rb"  <completed>\n    <count>(?P<completed>\d+)</count>\n  </completed>\n"
    rb"  <connections>\n"
    rb"    <tcp>\n      <accept>(?P<accept>\d+)</accept>\n      <announce>(?P<tann>\d+)</announce>\n"
    rb"      <scrape>(?P<tscr>\d+)</scrape>\n    </tcp>\n"
    rb"    <udp>\n      <overall>(?P<udp>\d+)</overall>\n      <connect>(?P<uconn>\d+)</connect>\n"
    rb"      <announce>(?P<uann>\d+)</announce>\n      <scrape>(?P<uscr>\d+)</scrape>\n"
    rb"      <missmatch>(?P<miss>\d+)</missmatch>\n    </udp>\n"
    rb"    <livesync>\n      <count>(?P<sync>\d+)</count>\n    </livesync>\n"
    rb"  </connections>\n"
    rb"  <debug>\n    <renew>\n"
    + b"".join(rb'      <count interval="%02d">(?P<r%d>\d+)</count>\n' % (i, i) for i in range(45)) +
    rb"    </renew>\n    <http_error>\n"
    + b"".join(rb'      <count code="%s">(?P<e%d>\d+)</count>\n' % (re.escape(name), i) for i, name in enumerate(
        [b"302 Redirect", b"400 Parse Error", b"400 Invalid Parameter", b"400 Invalid Parameter (compact=0)",
         b"400 Not Modest", b"402 Payment Required", b"403 Access Denied", b"404 Not found",
         b"500 Internal Server Error"])) +
    rb"    </http_error>\n    <mutex_stall>\n      <count>0</count>\n    </mutex_stall>\n"
    rb"  </debug>\n</stats>\Z")


def test_86_everything_is_the_originals_xml(fresh):
    t = fresh
    announce(t, HASHES[11], port=1, left=0, event="completed")
    announce(t, HASHES[11], port=2, left=1)
    announce(t, HASHES[11], port=2, left=1)
    announce(t, HASHES[12], port=1, left=1)
    t.http(request("/scrape?info_hash=" + enc(HASHES[11])))
    t.http(request("/nothing"))
    t.http(request("/announce?info_hash=%s&compact=0" % enc(HASHES[11])))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        cid = udp_connect(t, s)
        udp(t, s, udp_announce_packet(cid, HASHES[12], port=9))
        udp(t, s, udp_scrape_packet(cid, [HASHES[12]]))
        udp(t, s, udp_scrape_packet(b"\1" * 8, [HASHES[12]]))
    body = stats(t, "mode=everything", http10=True)
    # With several worker loops (OT_WORKERS) ours adds their shares, which
    # the original never shows (docs/architecture.md, "Worker loops").
    loops = re.search(rb"  <workers>\n(?:    <worker id=\"\d+\"><udp>\d+</udp></worker>\n)+  </workers>\n", body)
    if loops:
        assert t.impl == "ours" and int(os.environ.get("OT_WORKERS", "1")) > 1, body
        body = body[:loops.start()] + body[loops.end():]
    m = EVERYTHING.fullmatch(body)
    assert m, body
    v = {k: int(x) for k, x in m.groupdict().items()}
    assert v["tm"] == v["ti"] == 2 and (v["peers"], v["seeds"], v["completed"]) == (4, 2, 1)
    assert (v["tann"], v["tscr"]) == (4, 1)
    assert (v["udp"], v["uconn"], v["uann"], v["uscr"], v["miss"], v["sync"]) == (4, 1, 1, 1, 1, 0)
    assert v["r0"] == 1 and sum(v["r%d" % i] for i in range(45)) == 1
    assert [v["e%d" % i] for i in range(9)] == [0, 0, 0, 1, 0, 0, 0, 2, 0]   # the ready check's 404 too
    assert v["accept"] >= 8 and 0 < v["id"] < 2 ** 32 and v["uptime"] < 60
    ET.fromstring(body)             # well-formed


# ---------------------------------------------------------------- 87: top10, top100

def test_87_top10_and_top100(fresh):
    t = fresh
    # HASHES[20 + i] gets i + 1 peers, every third of them a seed, except
    # twelve torrents of 3 peers to tie; one torrent with no seeds at all.
    swarms = {HASHES[20 + i]: i + 1 for i in range(14)}
    swarms.update({HASHES[40 + i]: 3 for i in range(12)})
    for h, n in swarms.items():
        for port in range(n):
            announce(t, h, port=1000 + port, left=0 if port % 3 == 2 else 1)
    seeds = {h: n // 3 for h, n in swarms.items()}

    def section(title, counts, amount):
        ranked = sorted(((-n, h) for h, n in counts.items() if n), key=lambda x: x[0])  # stable: walk order
        return b"Top %d torrents by %s:\n" % (amount, title) + b"".join(
            b"\t%d\t%s\n" % (-n, h.hex().upper().encode()) for n, h in ranked[:amount])

    def walk_order(counts):
        return dict(sorted(counts.items()))      # the tracker walks in ascending hash order

    leechers = {h: n - seeds[h] for h, n in swarms.items()}
    for amount in (10, 100):
        expected = section(b"peers", walk_order(swarms), amount) + section(b"seeds", walk_order(seeds), amount)
        if IMPL != "c":
            # The C original's current master adds a third section (docs/compatibility.md, stats).
            expected += section(b"leechers", walk_order(leechers), amount)
        assert stats(t, "mode=top%d" % amount, http10=True) == expected


# ---------------------------------------------------------------- 88-89: statedump, tpbs

def test_88_statedump_lines(fresh):
    t = fresh
    before = int(time.time()) // 60
    announce(t, HASHES[30], port=1, left=0, event="completed")
    announce(t, HASHES[31], port=1, left=1)
    after = int(time.time()) // 60
    raw = t.http(request("/stats?mode=statedump"))
    # The Debian build gzips it whatever the client says; ours on request only.
    body = answer(raw, http10=True, gzipped=IMPL == "c")
    lines = body.decode().splitlines()
    assert body.endswith(b"\n") and len(lines) == 2
    parsed = [line.split(":") for line in lines]
    assert [p[0] for p in parsed] == sorted(h.hex().upper() for h in HASHES[30:32])
    downloaded = {HASHES[30].hex().upper(): "1", HASHES[31].hex().upper(): "0"}
    for hexhash, base, down in parsed:
        assert before <= int(base) <= after and down == downloaded[hexhash]
    if IMPL != "c":
        assert answer(t.http(request("/stats?mode=statedump", b"Accept-Encoding: gzip\r\n")),
                      http10=True, gzipped=True) == body


def _url_hash(h):
    # libowfat's fmt_urlencoded: letters, digits and $/.=~-_ as they are
    return "".join(chr(c) if chr(c).isalnum() and c < 128 or chr(c) in "$/.=~-_" else "%%%02x" % c
                   for c in h).encode()


def test_89_tpbs_formats(fresh):
    t = fresh
    swarms = {HASHES[50]: (2, 1, 1), HASHES[51]: (0, 3, 0), HASHES[52]: (1, 0, 1)}   # seeds, leechers, done
    for h, (s, leech, done) in swarms.items():
        for i in range(s):
            announce(t, h, port=100 + i, left=0, **({"event": "completed"} if i < done else {}))
        for i in range(leech):
            announce(t, h, port=200 + i, left=5)
    order = sorted(swarms)
    expected = {
        "txt": b"".join(b"%s:%d:%d\n" % (h.hex().upper().encode(), *swarms[h][:2]) for h in order),
        "txtp": b"".join(b"%s:%d:%d:%d\n" % (h.hex().upper().encode(), *swarms[h]) for h in order),
        "bin": b"".join(h + struct.pack(">II", *swarms[h][:2]) for h in order),
        "url": b"".join(b"%s:%d:%d\n" % (_url_hash(h), *swarms[h][:2]) for h in order),
        "ben": b"d5:filesd" + b"".join(
            b"20:%sd8:completei%de10:downloadedi%de10:incompletei%dee" % (h, swarms[h][0], swarms[h][2],
                                                                            swarms[h][1])
            for h in order) + b"ee",
    }
    for fmt, body in expected.items():
        raw = t.http(request("/stats?mode=tpbs&format=" + fmt))
        assert answer(raw, http10=True, gzipped=IMPL == "c") == body, fmt
    assert len(expected["bin"]) == 3 * 28
    if IMPL != "c":
        # Gzip on request only; without format= the original hangs, we answer bencoded.
        raw = t.http(request("/stats?mode=tpbs&format=txtp", b"Accept-Encoding: gzip\r\n"))
        assert answer(raw, http10=True, gzipped=True) == expected["txtp"]
        assert answer(t.http(request("/stats?mode=tpbs")), http10=True) == expected["ben"]


# ---------------------------------------------------------------- 90 and bad input

@pytest.mark.parametrize("mode", ["busy", "woodpeckers", "fulllog"])
def test_90_modes_never_implemented_are_500(tracker, mode):
    assert tracker.http(request("/stats?mode=" + mode)) == ERR_500


@pytest.mark.parametrize("query", ["mode=bogus", "mode=", "mode=startstop", "mode=toraddrem", "mode=PEER",
                                   "mode=peer%00", "mode=top1000", "mode=tpbs&format=bogus",
                                   "mode=tpbs&format=", "format=TXT", "mode=%zz", "mode=peer&x=[1]",
                                   "mode=s24s&format=html"])
def test_90_unknown_modes_and_formats_are_400(tracker, query):
    assert tracker.http(request("/stats?" + query)) == ERR_400


def test_90_numwants(fresh):
    raw = fresh.http(request("/stats?mode=numwants"))
    if IMPL == "c":
        assert raw == ERR_400        # not compiled into the Debian build
        return
    body = answer(raw)
    assert body == b"".join(b"%03d => 0\n" % i for i in range(201))


@ours_only
def test_90_numwants_counts_http_announces_by_clamped_numwant(fresh):
    t = fresh
    announce(t, HASHES[60], port=1, left=1)                  # default 50
    announce(t, HASHES[60], port=1, left=1, numwant=0)
    announce(t, HASHES[60], port=1, left=1, numwant=1000)    # 200
    announce(t, HASHES[60], port=1, left=1, numwant=-3)      # 50
    t.http(request("/announce?numwant=7"))                  # no info_hash: counted, as in the original
    counts = dict.fromkeys(range(201), 0)
    counts.update({50: 2, 0: 1, 200: 1, 7: 1})
    assert answer(t.http(request("/stats?mode=numwants"))) == b"".join(
        b"%03d => %d\n" % (i, counts[i]) for i in range(201))


def test_stats_with_info_hash_is_400(tracker):
    raw = tracker.http(request("/stats?mode=tpbs&format=bin&info_hash=" + enc(HASHES[0])))
    if IMPL == "c":
        # The baseline ignores it; current upstream and we answer 400 (docs/compatibility.md, stats).
        assert raw.startswith(b"HTTP/1.0 200 OK\r\n")
    else:
        assert raw == ERR_400
        assert tracker.http(request("/stats?info_hash=x&mode=peer")) == ERR_400


def test_stats_parameters(tracker):
    # Unknown parameters are skipped, the last mode wins, format is ignored
    # outside tpbs, empty parameters are harmless, a space before ? too.
    assert stats(tracker, "foo=bar&mode=peer&mode=version&format=bin&&") == VERSION
    assert stats(tracker, "mode=%76ersion") == VERSION
    assert answer(tracker.http(b"GET /stats ?mode=version HTTP/1.0\r\n\r\n"), http10=True).endswith(b"opentracker")
    assert answer(tracker.http(b"GET //stats?mode=version\n\n")) == VERSION


@pytest.mark.parametrize("path", ["/stats/", "/STATS", "/statsx", "/stat", "/x/stats"])
def test_other_paths_are_404(tracker, path):
    assert tracker.http(request(path + "?mode=tcp4")) == ERR_404


def test_stats_path_is_configurable():
    with Tracker(whitelist=HASHES, config=["access.stats_path secret/place"]) as t:
        assert t.http(request("/stats?mode=version")) == ERR_404
        assert answer(t.http(request("/secret/place?mode=version"))) == VERSION
        assert answer(t.http(request("/secret%2Fplace?mode=version"))) == VERSION


# ---------------------------------------------------------------- s24s

def test_s24s_groups_peers_by_network(fresh):
    """Loopback sources (any 127/8 address) make networks both trackers see."""
    t = fresh
    sources = ["127.0.0.1", "127.0.0.2", "127.0.0.17", "127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.2.200"]
    for i, src in enumerate(sources):
        announce(t, HASHES[70 + i % 2], source=src, port=5000 + i, left=1)
    announce(t, HASHES[72], source="127.0.2.201", port=1, left=0)
    announce(t, HASHES[72], source="127.0.2.201", port=2, left=0)
    body = stats(t, "mode=s24s", http10=True)
    assert body == (b"Networks, limit /28:\n"
                    b"00000003: 127.0.1.0\n"
                    b"00000003: 127.0.2.192\n"
                    b"00000002: 127.0.0.0\n"
                    b"00000001: 127.0.0.16\n"
                    b"\n"
                    b"Networks, limit /24:\n"
                    b"00000003: 127.0.0.0\n"
                    b"00000003: 127.0.1.0\n"
                    b"00000003: 127.0.2.0\n"
                    b"\n")


def test_s24s_empty_tracker(fresh):
    assert stats(fresh, "mode=s24s", http10=True) == b"Networks, limit /28:\n\nNetworks, limit /24:\n\n"


@ours_only
def test_s24s_keeps_the_busiest_128_and_adds_ipv6_sections():
    """130 /24 networks (ip= from the query) where the counts tie in groups:
    the original's order is count first, then address; 128 lines at most.
    IPv6 peers get /64 and /48 sections of their own."""
    with Tracker(ipv6=True, config=["tracker.ip_from_query on"]) as t:
        expected24 = []
        for net in range(130):
            n = 1 + (net % 3)
            for host in range(n):
                announce(t, HASHES[net % 100], ip="10.%d.%d.%d" % (net // 100, net % 100, 16 * host + 1),
                         port=1 + host, left=1)
            expected24.append((n, "10.%d.%d.0" % (net // 100, net % 100)))
        for i, ip in enumerate(["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:3::1", "2001:db8:2::1",
                                "2001:db8:1:2:8000::1"]):
            announce(t, HASHES[100], ip=ip, port=7000 + i, left=1)
        body = stats(t, "mode=s24s", http10=True).decode()
        sections = body.split("\n\n")
        assert sections[-1] == "" and len(sections) == 5
        head28, *lines28 = sections[0].split("\n")
        head24, *lines24 = sections[1].split("\n")
        assert (head28, head24) == ("Networks, limit /28:", "Networks, limit /24:")
        # Every host of a /24 is in its own /28 (16 * host): 1 per /28.
        assert len(lines28) == 128 and all(line.startswith("00000001: 10.") for line in lines28)

        def key(entry):
            return (-entry[0], tuple(int(x) for x in entry[1].split(".")))
        assert lines24 == ["%08d: %s" % e for e in sorted(expected24, key=key)[:128]]
        assert sections[2] == ("Networks, limit /64:\n00000003: 2001:db8:1:2::\n"
                               "00000001: 2001:db8:1:3::\n00000001: 2001:db8:2::")
        assert sections[3] == "Networks, limit /48:\n00000004: 2001:db8:1::\n00000001: 2001:db8:2::"


@ours_only
def test_s24s_of_many_peers_built_in_many_small_steps():
    """24,000 IPv4 peers over UDP from 600 loopback hosts, with the core's
    slice size cut to 5 torrents, so that gathering, each radix pass and the
    count run in many steps; the answer must equal a model's."""
    with sliced_tracker(5, ipv6=True) as t:
        per_host = 40
        hosts = ["127.%d.%d.%d" % (1 + i % 3, (i * 37) % 256, 1 + (i * 101) % 254) for i in range(600)]
        hosts = sorted(set(hosts))
        for h_i, host in enumerate(hosts):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                s.bind((host, 0))
                cid = udp_connect(t, s)
                for port in range(per_host):
                    s.sendto(udp_announce_packet(cid, sha("big%d" % ((h_i + port) % 300)), port=1 + port,
                                                 transaction_id=port), ("127.0.0.1", t.port))
                for _ in range(per_host):
                    s.recv(2048)
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(struct.pack(">QII", 0x41727101980, 0, 1), ("::1", t.port))
            cid = s.recv(64)[8:]
            s.sendto(udp_announce_packet(cid, sha("v6"), port=1), ("::1", t.port))
            s.recv(2048)
        nets28, nets24 = {}, {}
        for host in hosts:
            a, b, c, d = map(int, host.split("."))
            nets28[(a, b, c, d & 0xF0)] = nets28.get((a, b, c, d & 0xF0), 0) + per_host
            nets24[(a, b, c, 0)] = nets24.get((a, b, c, 0), 0) + per_host

        def section(bits, nets):
            ranked = sorted(nets.items(), key=lambda kv: (-kv[1], kv[0]))[:128]
            return "Networks, limit /%d:\n" % bits + "".join(
                "%08d: %s\n" % (n, ".".join(map(str, net))) for net, n in ranked) + "\n"
        expected = (section(28, nets28) + section(24, nets24) +
                    "Networks, limit /64:\n00000001: ::\n\nNetworks, limit /48:\n00000001: ::\n\n")
        assert stats(t, "mode=s24s", http10=True).decode() == expected
        assert len(hosts) * per_host == int(stats(t, "mode=peer", http10=True).split(b"\n")[0]) - 1


# ---------------------------------------------------------------- in-process: blocks and bad queries

def _in_process_server():
    """A core Server answering in-process (no sockets), with IPv4 and IPv6
    peers from many networks."""
    from helpers.testcore import core
    srv = core.Server(seed=3)
    srv.configure(ip_from_query=True)
    for i in range(3000):
        ip = "10.%d.%d.%d" % (i % 5, i % 37, i % 251) if i % 4 else "2001:db8:%x::%x" % (i % 9, i)
        q = enc(sha("inproc%d" % (i % 200)))
        raw = srv.answer_http(("GET /announce?info_hash=%s&port=%d&left=%d&ip=%s HTTP/1.0\r\n\r\n"
                                    % (q, 1 + i, i % 3, ip)).encode())
        assert raw.startswith(b"HTTP/1.1 200 OK"), raw
    return core, srv


HEAVY = ["s24s", "top10", "top100", "everything", "prometheus", "tpbs&format=bin", "tpbs&format=url",
         "tpbs&format=txtp", "tpbs", "statedump", "peer", "numwants", "busy"]


@ours_only
def test_heavy_modes_give_back_every_block_and_their_budget_share():
    core, srv = _in_process_server()

    def budget():
        body = srv.answer_http(b"GET /metrics HTTP/1.0\r\n\r\n").partition(b"\r\n\r\n")[2].decode()
        return int(re.search(r"^opentracker_memory_budget_used_bytes (\d+)$", body, re.M).group(1))

    before_budget = budget()
    gc.collect()        # earlier tests' cyclic garbage is not freed inside the count
    before = core.allocation_counts()
    for round_no in range(3):
        for mode in HEAVY:
            for headers in (b"", b"Accept-Encoding: gzip\r\n"):
                raw = srv.answer_http(("GET /stats?mode=%s HTTP/1.0\r\n" % mode).encode() + headers + b"\r\n")
                status = raw.split(b"\r\n", 1)[0]
                assert status.endswith(b" 500 Internal Server Error" if mode == "busy" else b" 200 OK"), (mode, raw)
        srv.answer_http(b"GET /scrape HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n")
    after = core.allocation_counts()
    assert after[0] - before[0] == after[1] - before[1] > 0
    assert budget() == before_budget
    s24s = srv.answer_http(b"GET /stats?mode=s24s HTTP/1.0\r\n\r\n").partition(b"\r\n\r\n")[2].decode()
    assert [line for line in s24s.split("\n") if line.startswith("Networks")] == [
        "Networks, limit /28:", "Networks, limit /24:", "Networks, limit /64:", "Networks, limit /48:"]


@ours_only
def test_random_stats_queries_never_hurt():
    """Random query strings (bytes a URL may and may not hold) to the stats
    path and /metrics: always a whole answer of the known kinds."""
    import random
    core, srv = _in_process_server()
    rng = random.Random(11)
    words = [b"mode=", b"format=", b"info_hash=", b"&", b"=", b"%", b"%4", b"%zz", b"%00", b"peer", b"s24s",
             b"tpbs", b"txt", b"bin", b"everything", b"top10", b"prometheus", b"[", b"\x80", b"?", b"+", b" "]
    allowed = (b"HTTP/1.1 200 OK\r\n", b"HTTP/1.0 200 OK\r\n", b"HTTP/1.0 400 Invalid Request\r\n",
               b"HTTP/1.0 404 Not Found\r\n", b"HTTP/1.0 500 Internal Server Error\r\n")
    for _ in range(1500):
        query = b"".join(rng.choice(words) for _ in range(rng.randrange(0, 8)))
        path = rng.choice([b"/stats?", b"/metrics?", b"//stats?", b"/stats"])
        raw = srv.answer_http(b"GET " + path + query + b" HTTP/1.0\r\n\r\n")
        assert raw.startswith(allowed), (path, query, raw[:80])
        head, _, body = raw.partition(b"\r\n\r\n")
        assert int(re.search(rb"Content-Length: (\d+)", head).group(1)) == len(body)
