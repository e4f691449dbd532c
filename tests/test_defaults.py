"""The defaults of the settings the core applies are named once, in the core
(issue 22): configure()'s keyword defaults and the OT_* numbers they use,
exported as opentracker_core.DEFAULTS by config key. These tests hold the
two sides of that together: config.py's table (and so Settings(), the man
pages and --check-config) says what the core exports, and a Server left to
its defaults behaves as the exported values say, so the export cannot say
one thing while the core applies another."""

import hashlib
import socket
import struct
import zlib
from urllib.parse import quote_from_bytes

import pytest

from opentracker import config
from opentracker_core import DEFAULTS

PROTOCOL_ID = 0x41727101980


def sha(label):
    return hashlib.sha1(label.encode()).digest()


# ---------------------------------------------------------------- config.py reads the core's

def test_every_core_default_is_a_config_key():
    assert set(DEFAULTS) <= config.KEYS, set(DEFAULTS) - config.KEYS


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_config_default_is_the_cores(key):
    """The table's default, and Settings()' value of its field, are the
    value the core exports."""
    entry = next(e for e in config.KEYS_TABLE if e.key == key)
    assert (entry.default, type(entry.default)) == (DEFAULTS[key], type(DEFAULTS[key])), key
    assert getattr(config.Settings(), entry.field) == DEFAULTS[key], key


def test_the_shell_applies_every_core_default():
    """config.load() of an empty file gives the core's defaults: what a
    tracker started with no settings hands to configure()."""
    settings, warnings = config.Builder().build()
    fields = {e.key: e.field for e in config.KEYS_TABLE if e.key}
    assert warnings == []
    assert {key: getattr(settings, fields[key]) for key in DEFAULTS} == DEFAULTS


# ---------------------------------------------------------------- the core applies what it exports

@pytest.fixture(scope="module")
def core():
    from helpers.testcore import core
    return core


@pytest.fixture(params=["new", "configure()"])
def srv(request, core):
    """A Server left to its defaults: as made (it starts configured with
    them), and after configure() with no arguments."""
    server = core.Server(seed=3)
    if request.param == "configure()":
        server.configure()
    return server


def http(srv, target, headers=b"", client="127.0.0.1"):
    raw = srv.answer_http(b"GET " + target.encode("latin-1") + b" HTTP/1.0\r\n" + headers + b"\r\n", client)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return int(lines[0].split()[1]), dict(line.split(": ", 1) for line in lines[1:]), body


def announce(srv, info_hash, port, client="127.0.0.1", extra=""):
    return http(srv, "/announce?info_hash=%s&peer_id=-XX0001-%012d&port=%d&left=0&compact=1%s"
                % (quote_from_bytes(info_hash), port, port, extra), client=client)


def test_stats_path(srv):
    assert http(srv, "/%s?mode=version" % DEFAULTS["access.stats_path"])[0] == 200


def test_redirect_url(srv):
    assert DEFAULTS["tracker.redirect_url"] is None
    assert http(srv, "/")[0] == 404


def test_fullscrape_and_compression(srv):
    for i in range(40):
        assert announce(srv, sha("defaults%d" % i), 6000 + i)[0] == 200
    status, headers, body = http(srv, "/scrape", b"Accept-Encoding: gzip\r\n")
    if not DEFAULTS["tracker.fullscrape"]:
        assert status != 200
        return
    assert status == 200
    gzipped = headers.get("Content-Encoding") == "gzip"
    assert gzipped == (DEFAULTS["tracker.compression"] == "gzip"), headers
    if gzipped:
        body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
    assert body.startswith(b"d5:filesd20:")


def test_modest_fullscrapes(srv):
    statuses = [http(srv, "/scrape")[0] for _ in range(3)]
    if DEFAULTS["tracker.modest_fullscrapes"]:
        assert statuses[0] == 200 and statuses[1:] != [200, 200]
    else:
        assert statuses == [200, 200, 200]


def test_ip_from_query(srv):
    h = sha("ip_from_query")
    assert announce(srv, h, 7001, extra="&ip=10.9.8.7")[0] == 200
    status, _, body = announce(srv, h, 7002, client="127.0.0.2")
    assert status == 200
    claimed = socket.inet_aton("10.9.8.7") + struct.pack(">H", 7001)
    seen = socket.inet_aton("127.0.0.1") + struct.pack(">H", 7001)
    assert (claimed in body, seen in body) == ((True, False) if DEFAULTS["tracker.ip_from_query"] else (False, True))


def test_rate_limit(srv):
    limit = DEFAULTS["tracker.rate_limit"]
    tries = limit + 1 if limit else 120
    statuses = [http(srv, "/scrape?info_hash=%s" % quote_from_bytes(sha("rate")))[0] for _ in range(tries)]
    assert statuses[:limit or tries] == [200] * (limit or tries)
    assert srv.counters()["refused_rate"] == (1 if limit else 0)


def _udp_scrape_works(srv, cid, tid):
    reply = srv.answer_udp(cid + struct.pack(">II", 2, tid) + sha("window"))
    assert reply[4:8] == struct.pack(">I", tid), reply
    return reply[:4] == struct.pack(">I", 2)


def test_udp_connid_window(srv):
    """An id works in the window it was issued in and the next, of the
    exported length: up to the last second of the next window, not from the
    first second after it. Judged by the window the core was in when it
    answered (srv.now), so the wall clock ticking cannot fool the test."""
    window = DEFAULTS["tracker.udp_connid_window"]
    reply = srv.answer_udp(struct.pack(">QII", PROTOCOL_ID, 0, 0x77))
    assert reply[:8] == struct.pack(">II", 0, 0x77)
    cid, issued = reply[8:], srv.now // window
    into = srv.now % window
    ages = []
    for tid, offset in enumerate([2 * window - into - 1, 2 * window - into, 5 * window]):
        srv.clock_offset = offset
        works = _udp_scrape_works(srv, cid, tid)
        age = srv.now // window - issued
        ages.append(age)
        assert works == (age <= 1), (offset, age)
    assert 1 in ages and 2 in ages


def test_livesync_send_interval(core):
    """A record waits the exported interval, not less, not (much) more,
    before set_livesync()'s default sends it. The cluster is a socket on
    loopback here: the core sends to group:port, whatever the address."""
    interval = DEFAULTS["livesync.cluster.send_interval"]
    srv = core.Server(seed=4)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    listening = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listening.bind(("127.0.0.1", 0))
    sending = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        srv.set_livesync(listening.detach(), sending.detach(), "127.0.0.1", receiver.getsockname()[1])
        assert announce(srv, sha("livesync"), 7100)[0] == 200

        def sent():
            try:
                return len(receiver.recv(2048)) > 0
            except BlockingIOError:
                return False

        # Two seconds short: a second of the real clock passing meanwhile
        # still leaves the record waiting.
        srv.livesync_tick(interval - 2)
        assert not sent() and srv.livesync_counters()["packets_sent"] == 0
        srv.livesync_tick(2)
        assert sent() and srv.livesync_counters()["packets_sent"] == 1
    finally:
        receiver.close()
        del srv


def test_announce_interval_and_adaptive_interval(srv):
    """The interval told is the exported base, a tenth either way, whatever
    the swarm's size unless the adaptive interval is on by default."""
    base = DEFAULTS["tracker.announce_interval"]
    h = sha("interval")
    told = [int(body.split(b"8:intervali", 1)[1].split(b"e", 1)[0])
            for body in (announce(srv, h, 7000 + i)[2] for i in range(120))]
    assert all(base - base // 10 <= t < base + base // 10 for t in told[:50]), told
    assert (max(told[-20:]) > base + base // 10) == DEFAULTS["tracker.adaptive_interval"]
