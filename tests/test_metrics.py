"""Prometheus metrics: /stats?mode=prometheus and GET /metrics (beyond the
original: docs/compatibility.md, our deliberate differences), parsed with
prometheus_client's own text parser, and the counters behind them counted as
the original counts them (docs/compatibility.md, stats), per address family.

Ours only: the C original has no such mode.
"""

import gzip
import hashlib
import os
import re
import socket
import struct
import time
from urllib.parse import quote_from_bytes

import pytest

from helpers.trackerproc import Tracker, split_response, udp_announce_packet, udp_scrape_packet

pytestmark = pytest.mark.skipif(os.environ.get("OT_IMPL", "ours") == "c", reason="the original has no metrics")
parser = pytest.importorskip("prometheus_client.parser")

HEAD = re.compile(rb"HTTP/1\.1 200 OK\r\nContent-Type: text/plain; version=0\.0\.4\r\nContent-Length: (\d+)\r\n\r\n")
# The answer buffer (OT_HTTP_OUT_MAX) less the room kept for the header.
BODY_ROOM = 16384 - 96
V4, V6 = socket.AF_INET, socket.AF_INET6


def sha(label):
    return hashlib.sha1(("metrics:" + label).encode()).digest()


def request(target, headers=b""):
    return b"GET " + target.encode("latin-1") + b" HTTP/1.0\r\n" + headers + b"\r\n"


def exposition(t, target="/metrics", family=V4):
    raw = t.http(request(target), family=family)
    m = HEAD.match(raw)
    assert m, raw[:200]
    body = raw[m.end():]
    assert len(body) == int(m.group(1))
    return body.decode()


def samples(text):
    """{(name, frozenset of label pairs): value} through the real parser."""
    out = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, key
            out[key] = s.value
    return out


def value(text, name, **labels):
    return samples(text)[(name, frozenset(labels.items()))]


def announce(t, info_hash, family=V4, **params):
    query = "info_hash=" + quote_from_bytes(info_hash, safe="") + "".join("&%s=%s" % kv for kv in params.items())
    raw = t.http(request("/announce?" + query), family=family)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw


class Udp:
    def __init__(self, t, family):
        self.t, self.family = t, family
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.settimeout(3)
        self.cid = self.ask(struct.pack(">QII", 0x41727101980, 0, 5))[8:16]

    def ask(self, payload):
        self.sock.sendto(payload, (self.t.host(self.family), self.t.port))
        return self.sock.recv(2048)

    def close(self):
        self.sock.close()


@pytest.fixture
def fresh():
    t = Tracker(ipv6=True, config=["tracker.redirect_url http://tracker.invalid/"])
    t.start()
    yield t
    t.close()


def test_format_names_help_type_and_labels(fresh):
    """Every metric: opentracker_ prefix, one HELP and one TYPE line before its
    samples, counters named *_total, one label set per metric, no sample
    without its metric's lines; the parser reads it all."""
    text = exposition(fresh)
    assert text.endswith("\n") and "\n\n" not in text
    declared, kinds, label_names = [], {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name.startswith("opentracker_") and name not in declared
            declared.append(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == declared[-1] and kind in ("counter", "gauge")
            assert name.endswith("_total") == (kind == "counter"), name
            kinds[name] = kind
        else:
            m = re.fullmatch(r'([a-z_]+)(?:\{((?:[a-z]+="[a-z0-9_]+",?)+)\})? (\d+)', line)
            assert m, line
            assert m.group(1) == declared[-1] and m.group(1) in kinds, line
            names = tuple(re.findall(r'([a-z]+)="', m.group(2) or ""))
            assert label_names.setdefault(m.group(1), names) == names, line
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    # The parser strips _total from counter families.
    assert set(families) == {n[:-len("_total")] if kinds[n] == "counter" else n for n in declared}
    assert {f.type for f in families.values()} == {"counter", "gauge"}
    assert len(families) >= 19


def test_metrics_path_and_stats_mode_give_the_same_metrics(fresh):
    a = samples(exposition(fresh, "/stats?mode=prometheus"))
    b = samples(exposition(fresh, "/metrics"))
    assert a.keys() == b.keys()
    # Only what the second request itself changed differs.
    moving = {"opentracker_requests_total", "opentracker_connections_total", "opentracker_uptime_seconds",
              "opentracker_memory_bytes"}
    assert {k for k in a if a[k] != b[k]} <= {k for k in a if k[0] in moving}
    assert value(exposition(fresh, "/metrics?foo=bar"), "opentracker_torrents") == 0


def test_metrics_path_rules(fresh):
    err400 = (b"HTTP/1.0 400 Invalid Request\r\nContent-Type: text/html\r\nContent-Length: 31\r\n\r\n"
              b"<title>Invalid Request</title>\n")
    assert fresh.http(request("/metrics?info_hash=" + "%41" * 20)) == err400
    assert fresh.http(request("/metrics?mode=nope")) == err400
    assert fresh.http(request("/metrics/")).startswith(b"HTTP/1.0 404 Not Found\r\n")
    assert fresh.http(request("/Metrics")).startswith(b"HTTP/1.0 404 Not Found\r\n")
    with Tracker(config=["access.stats_path metrics"]) as t:
        # The configured stats path wins: /metrics is then the stats path itself.
        assert split_response(t.http(request("/metrics")))[2] == b"0\n0\nopentracker serving 0 torrents\nopentracker"


def test_counts_by_protocol_family_and_kind(fresh):
    t = fresh
    base = samples(exposition(t))
    h = [sha("h%d" % i) for i in range(4)]
    announce(t, h[0], port=1, left=0, event="completed")
    announce(t, h[0], port=2, left=5)
    announce(t, h[1], V6, port=3, left=0)
    announce(t, h[1], V6, port=3, left=0, event="stopped")
    announce(t, h[2], V6, port=4, left=7)
    t.http(request("/scrape?info_hash=" + quote_from_bytes(h[0], safe="")), family=V6)
    plain = t.http(request("/scrape"))
    packed = t.http(request("/scrape", b"Accept-Encoding: gzip\r\n"), family=V6)
    tpbs = t.http(request("/stats?mode=tpbs&format=bin"))
    t.http(request("/stats?mode=statedump"))
    assert gzip.decompress(split_response(packed)[2]) == split_response(plain)[2]
    u4, u6 = Udp(t, V4), Udp(t, V6)
    try:
        u4.ask(udp_announce_packet(u4.cid, h[3], port=9, left=0))
        u4.ask(udp_scrape_packet(u4.cid, h[:3]))
        u6.ask(udp_announce_packet(u6.cid, h[3], port=9, left=3))
        u6.ask(udp_announce_packet(u6.cid, h[3], port=10, left=3))
        u6.ask(udp_scrape_packet(b"\0" * 8, h[:1]))                      # mismatch
    finally:
        u4.close()
        u6.close()
    t.http(b"GET / HTTP/1.0\r\n\r\n")                                     # 302
    t.http(b"HEAD / HTTP/1.0\r\n\r\n")                                    # 400
    t.http(request("/announce?info_hash=short"), family=V6)               # 400 parameter
    t.http(request("/announce?compact=0&info_hash=" + "%41" * 20))        # 400 compact=0
    t.http(request("/nowhere"))                                           # 404
    t.http(request("/stats?mode=busy"))                                   # 500
    now = samples(exposition(t, family=V6))

    def delta(name, **labels):
        key = (name, frozenset(labels.items()))
        return now[key] - base.get(key, 0)

    req = "opentracker_requests_total"
    assert delta(req, protocol="tcp", family="ipv4", kind="announce") == 2     # 400s are not announces
    assert delta(req, protocol="tcp", family="ipv6", kind="announce") == 3
    assert delta(req, protocol="tcp", family="ipv4", kind="scrape") == 0
    assert delta(req, protocol="tcp", family="ipv6", kind="scrape") == 1
    assert delta(req, protocol="tcp", family="ipv4", kind="fullscrape") == 1
    assert delta(req, protocol="tcp", family="ipv6", kind="fullscrape") == 1
    assert delta(req, protocol="tcp", family="ipv4", kind="stats") == 3           # tpbs, statedump, busy
    assert delta(req, protocol="tcp", family="ipv6", kind="stats") == 1           # this one
    assert delta(req, protocol="udp", family="ipv4", kind="connect") == 1
    assert delta(req, protocol="udp", family="ipv6", kind="connect") == 1
    assert delta(req, protocol="udp", family="ipv4", kind="announce") == 1
    assert delta(req, protocol="udp", family="ipv6", kind="announce") == 2
    assert delta(req, protocol="udp", family="ipv4", kind="scrape") == 1
    assert delta(req, protocol="udp", family="ipv6", kind="scrape") == 0
    conn = "opentracker_connections_total"
    assert delta(conn, protocol="udp", family="ipv4") == 3
    assert delta(conn, protocol="udp", family="ipv6") == 4
    assert delta(conn, protocol="tcp", family="ipv6") == 7      # this request's too
    assert delta(conn, protocol="tcp", family="ipv4") == 10
    err = "opentracker_http_errors_total"
    assert [delta(err, code=c, reason=r) for c, r in [
        ("302", "redirect"), ("400", "invalid_request"), ("400", "invalid_parameter"), ("400", "compact_0"),
        ("402", "not_modest"), ("403", "access_denied"), ("404", "not_found"), ("500", "internal_error")]] \
        == [1, 1, 1, 1, 0, 0, 1, 1]
    assert delta("opentracker_udp_connection_id_mismatches_total") == 1
    assert now[("opentracker_torrents", frozenset())] == 4
    assert value_of(now, "opentracker_peers", family="ipv4") == 3       # h0: 2, h3: 1 (UDP v4)
    assert value_of(now, "opentracker_peers", family="ipv6") == 3       # h2: 1, h3: 2 (UDP v6)
    assert value_of(now, "opentracker_seeds", family="ipv4") == 2
    assert value_of(now, "opentracker_seeds", family="ipv6") == 0
    assert delta("opentracker_completed_total") == 1
    assert delta("opentracker_fullscrapes_total") == 3                  # two full scrapes and tpbs
    sizes = [len(split_response(raw)[2]) for raw in (plain, packed, tpbs)]
    assert delta("opentracker_fullscrape_bytes_total") == sum(sizes)
    assert value_of(now, "opentracker_refused_total", reason="access_list") == 0


def value_of(s, name, **labels):
    return s[(name, frozenset(labels.items()))]


def test_memory_and_time_gauges(fresh):
    t = fresh
    empty = samples(exposition(t))
    uses = ("store", "torrents", "peers", "allocator", "buffers", "answers")
    mem = {use: value_of(empty, "opentracker_memory_bytes", use=use) for use in uses}
    # The budget kept for large answers is charged from the start.
    reserve = value_of(empty, "opentracker_memory_answer_reserve_bytes")
    assert mem["store"] > 0 and mem["buffers"] > 0 and mem["answers"] == reserve > 0
    assert mem["torrents"] == mem["peers"] == 0
    # At rest (no answer queued) the uses add up to what the budget counts.
    assert sum(mem.values()) == value_of(empty, "opentracker_memory_budget_used_bytes")
    for i in range(50):
        announce(t, sha("m%d" % (i % 10)), port=1 + i, left=i % 2)
    full = samples(exposition(t))
    assert value_of(full, "opentracker_memory_bytes", use="torrents") > 0
    assert value_of(full, "opentracker_memory_bytes", use="peers") >= 50 * 8
    assert value_of(full, "opentracker_memory_limit_bytes") == 0
    assert sum(value_of(full, "opentracker_memory_bytes", use=use) for use in uses) == \
        value_of(full, "opentracker_memory_budget_used_bytes")
    up = value_of(full, "opentracker_uptime_seconds")
    start = value_of(full, "opentracker_start_time_seconds")
    assert 0 <= up < 120 and abs(start + up - time.time()) < 5
    assert value_of(full, "opentracker_open_connections") == 1
    assert value_of(full, "opentracker_answers_in_progress") == 0
    with Tracker(config=["tracker.memory_limit 3M"]) as limited:
        assert value(exposition(limited), "opentracker_memory_limit_bytes") == 3 * 1024 * 1024


def test_the_answer_fits_its_buffer_whatever_the_counters(fresh):
    """Each sample can grow by at most 19 digits (from 1 to 20): even then
    the answer fits the fixed answer buffer."""
    text = exposition(fresh)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(text) + 19 * len(lines) < BODY_ROOM
