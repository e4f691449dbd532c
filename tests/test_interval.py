"""Announce intervals that follow the load (issue 25, part 1;
docs/compatibility.md, "Adaptive announce intervals"): tracker.announce_interval
and tracker.adaptive_interval. Off, the bytes are the original's (the
conformance tests hold that); on, big swarms and a loaded tracker are told
longer intervals, and each peer lives as long as the interval it was told.
Time is moved with the test build's clock, never waited for."""

import hashlib
import re
import socket
import struct
import subprocess
import sys
from urllib.parse import quote_from_bytes

import pytest

from helpers.testcore import core
from helpers.reference import bdecode
from opentracker import config

PROTOCOL_ID = 0x41727101980


def sha(label):
    return hashlib.sha1(label.encode()).digest()


def server(**settings):
    srv = core.Server(seed=11)
    srv.configure(**settings)
    return srv


def ip(n):
    return "10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255)


def announce(srv, info_hash, n, port=6881):
    """One HTTP announce from peer n through the loop's own steps: the body."""
    raw = srv.answer_http(("GET /announce?info_hash=%s&port=%d&left=1 HTTP/1.0\r\n\r\n"
                           % (quote_from_bytes(info_hash), port)).encode(), ip(n))
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw[:200]
    return bdecode(raw.partition(b"\r\n\r\n")[2])


def udp_interval(srv, info_hash, n, port=6881):
    """One BEP 15 announce from peer n: the interval it is told."""
    reply = srv.answer_udp(struct.pack(">QII", PROTOCOL_ID, 0, 1), ip(n))
    cid = reply[8:16]
    packet = (cid + struct.pack(">II", 1, 2) + info_hash + b"-XX0001-000000000000" +
              struct.pack(">QQQIIIiH", 0, 1, 0, 0, 0, 0, 50, port))
    reply = srv.answer_udp(packet, ip(n))
    assert reply[:4] == struct.pack(">I", 1), reply
    return struct.unpack(">I", reply[8:12])[0]


def swarm(srv, info_hash, size):
    for n in range(1, size + 1):
        srv.announce_http(info_hash, ip(n), 6881)


def peers_of(srv, info_hash):
    return {(socket.inet_ntoa(a), port) for a, port, *_ in srv.store.peers(info_hash)}


# ---------------------------------------------------------------- the rule

def test_default_is_the_originals_interval_for_every_swarm_size():
    srv = core.Server(seed=11)
    h = sha("default-big")
    swarm(srv, h, 600)
    told = [announce(srv, h, 600 + i) for i in range(40)]
    assert all(1620 <= d[b"interval"] <= 1979 and d[b"min interval"] == d[b"interval"] // 2 for d in told)
    assert all(1620 <= udp_interval(srv, h, 700 + i) <= 1979 for i in range(20))
    # Every peer keeps the original's 45 minutes: the low bits of the flags byte are 0.
    assert {flags & 7 for _, _, flags, _ in srv.store.peers(h)} == {0}


def test_adaptive_tells_a_600_peer_swarm_more_and_a_3_peer_swarm_the_original():
    srv = server(adaptive_interval=True)
    big, small = sha("adaptive-big"), sha("adaptive-small")
    swarm(srv, big, 599)
    told = [announce(srv, big, 600 + i) for i in range(30)]   # 600..629 peers
    assert all(d[b"interval"] > 1979 for d in told), [d[b"interval"] for d in told]
    assert all(d[b"min interval"] == d[b"interval"] // 2 for d in told)
    # 401..800 peers: four steps of half the base, 3 x 1800 = 5400 s, a tenth either way.
    assert all(4860 <= d[b"interval"] < 5940 for d in told)
    assert all(udp_interval(srv, big, 700 + i) > 1979 for i in range(10))
    swarm(srv, small, 2)
    told = [announce(srv, small, 3) for _ in range(100)]
    assert all(1620 <= d[b"interval"] <= 1979 for d in told), [d[b"interval"] for d in told]
    assert all(udp_interval(srv, small, 3) <= 1979 for _ in range(20))


@pytest.mark.parametrize("size,nominal", [(1, 1800), (50, 1800), (51, 2700), (100, 2700), (101, 3600),
                                          (200, 3600), (201, 4500), (400, 4500), (401, 5400),
                                          (801, 6300), (1601, 7200), (5000, 7200)])
def test_steps_by_swarm_size_up_to_the_ceiling(size, nominal):
    srv = server(adaptive_interval=True)
    h = sha("steps%d" % size)
    swarm(srv, h, size)
    assert srv.last_outcome["interval"] == nominal
    assert nominal <= core.INTERVAL_CEILING == 7200


@pytest.mark.parametrize("base,size,nominal", [(3600, 51, 5400), (3600, 101, 7200), (3600, 5000, 7200),
                                               (7200, 5000, 7200), (600, 5000, 2400)])
def test_the_ceiling_holds_whatever_the_base(base, size, nominal):
    srv = server(announce_interval=base, adaptive_interval=True)
    h = sha("ceiling%d-%d" % (base, size))
    swarm(srv, h, size)
    assert srv.last_outcome["interval"] == nominal
    assert srv.last_outcome["timeout_class"] == max(0, -(-nominal // 900) - 2)


def test_configured_base_interval_and_its_spread():
    srv = server(announce_interval=3600)
    h = sha("base3600")
    told = [announce(srv, h, 1)[b"interval"] for _ in range(200)]
    assert min(told) >= 3240 and max(told) < 3960 and len(set(told)) > 50
    # told up to 66 minutes: kept 90 (timeout class 2), not the original's 45
    assert [flags & 7 for _, _, flags, _ in srv.store.peers(h)] == [2]


def test_memory_load_lengthens_every_swarms_interval():
    quiet = server(adaptive_interval=True)
    assert quiet.interval_tick()["load_steps"] == 0
    srv = core.Server(seed=11, memory_limit=_limit_for_fill(0.9))
    srv.configure(adaptive_interval=True)
    load = srv.interval_tick()
    assert load["memory_permille"] >= 875 and load["load_steps"] >= 2, load
    h = sha("loaded-small")
    told = [announce(srv, h, 1)[b"interval"] for _ in range(20)]
    assert all(t > 1979 for t in told), told


def _limit_for_fill(fill):
    """A memory limit that a new server's own buffers fill to about `fill`."""
    srv = core.Server(seed=1)
    srv.configure(adaptive_interval=True)
    held = int(re.search(rb"opentracker_memory_budget_used_bytes (\d+)",
                         srv.answer_http(b"GET /metrics HTTP/1.0\r\n\r\n")).group(1))
    return int(held / fill)


# ---------------------------------------------------------------- peers live as long as their interval

def test_peer_told_a_long_interval_is_there_when_it_comes_back():
    srv = server(adaptive_interval=True)
    h = sha("comes-back")
    swarm(srv, h, 599)
    told = announce(srv, h, 600)[b"interval"]
    assert told > 1979
    me = (ip(600), 6881)
    # The loop's clean cycle visits every torrent about every two minutes.
    elapsed = 0
    while elapsed + 120 < told - 10:
        srv.clock_offset += 120
        elapsed += 120
        srv.store.clean()
    srv.clock_offset += told - 10 - elapsed
    srv.store.clean()
    assert me in peers_of(srv, h)
    # ... and its announce finds it, not a new peer.
    srv.announce_http(h, ip(600), 6881)
    assert srv.last_outcome["new_peer"] is False and srv.last_outcome["renew_age"] >= 45


def test_long_interval_peer_still_expires_at_one_and_a_half_times_it():
    srv = server(adaptive_interval=True)
    h = sha("expires")
    swarm(srv, h, 600)
    assert srv.last_outcome["interval"] == 5400 and srv.last_outcome["timeout_class"] == 4   # 135 minutes
    me = (ip(600), 6881)
    srv.clock_offset += 134 * 60
    srv.store.clean()
    assert me in peers_of(srv, h)
    srv.clock_offset += 2 * 60
    srv.store.clean()
    assert me not in peers_of(srv, h)


def test_untouched_torrent_ages_long_peers_by_the_whole_time():
    """A torrent left alone for hours (no clean in between: a stopped clock,
    a suspended router) ages its peers by all of it, up to the longest
    timeout, so a long peer's timeout still holds."""
    for minutes in (140, 300):
        srv = server(adaptive_interval=True)
        h = sha("untouched")
        swarm(srv, h, 1601)           # the last peers are told 7200 s: 180 minutes
        srv.clock_offset += minutes * 60
        srv.store.clean()
        assert (ip(1601), 6881) in peers_of(srv, h) if minutes < 180 else peers_of(srv, h) == set()


def test_short_interval_peers_keep_the_originals_45_minutes():
    srv = server(adaptive_interval=True)
    h = sha("short")
    swarm(srv, h, 3)
    srv.clock_offset += 44 * 60
    srv.store.clean()
    assert len(peers_of(srv, h)) == 3
    srv.clock_offset += 60
    srv.store.clean()
    assert peers_of(srv, h) == set()


def test_memory_per_peer_does_not_grow():
    """The timeout class lives in spare bits of the flags byte: 8 bytes an
    IPv4 record, 20 an IPv6 one, on or off, and the same accounting."""
    assert (core.SIZEOF_PEER4, core.SIZEOF_PEER6) == (8, 20)
    held = []
    for on in (False, True):
        srv = server(adaptive_interval=on)
        swarm(srv, sha("memory"), 1000)
        held.append(srv.store.stats()["memory"])
    assert held[0] == held[1]


# ---------------------------------------------------------------- /stats

def test_stats_show_the_interval_and_how_it_was_chosen():
    srv = server(adaptive_interval=True)
    swarm(srv, sha("stats"), 600)
    body = srv.answer_http(b"GET /stats?mode=everything HTTP/1.0\r\n\r\n").partition(b"\r\n\r\n")[2]
    block = re.search(rb"  <announce_interval>\n(.*?)  </announce_interval>\n  <debug>", body, re.S)
    assert block, body
    fields = dict(re.findall(rb"<(\w+)>(\d+)</\1>", block.group(1)))
    assert fields[b"base"] == b"1800" and fields[b"adaptive"] == b"1" and fields[b"ceiling"] == b"7200"
    assert fields[b"last"] == b"5400" and fields[b"last_swarm_peers"] == b"600"
    assert fields[b"last_swarm_steps"] == b"4" and fields[b"load_steps"] == b"0"
    metrics = srv.answer_http(b"GET /metrics HTTP/1.0\r\n\r\n")
    assert b'\n# TYPE opentracker_announce_interval_seconds gauge\n' in metrics
    assert b'\nopentracker_announce_interval_seconds 5400\n' in metrics
    # Off: everything is the original's XML (no block), the gauge says 1800.
    off = core.Server(seed=1)
    assert b"announce_interval" not in off.answer_http(b"GET /stats?mode=everything HTTP/1.0\r\n\r\n")
    assert b'\nopentracker_announce_interval_seconds 1800\n' in off.answer_http(
        b"GET /metrics HTTP/1.0\r\n\r\n")


# ---------------------------------------------------------------- config

def test_config_keys_and_their_defaults(tmp_path):
    conf = tmp_path / "t.conf"
    conf.write_text("tracker.announce_interval 2400\ntracker.adaptive_interval on\n")
    settings, _ = config.load(str(conf))
    assert (settings.announce_interval, settings.adaptive_interval) == (2400, True)
    assert (config.Settings().announce_interval, config.Settings().adaptive_interval) == (1800, False)


@pytest.mark.parametrize("line,reason", [
    ("tracker.announce_interval 59", "out of range (60..7200)"),
    ("tracker.announce_interval 7201", "out of range (60..7200)"),
    ("tracker.announce_interval 30m", "must be a whole number"),
    ("tracker.adaptive_interval sometimes", "expected on or off"),
])
def test_check_config_names_file_and_line(tmp_path, line, reason):
    conf = tmp_path / "bad.conf"
    conf.write_text("# adaptive intervals\n" + line + "\n")
    proc = subprocess.run([sys.executable, "-m", "opentracker", "-f", str(conf), "--check-config"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "%s:2:" % conf in proc.stderr and reason in proc.stderr, proc.stderr
