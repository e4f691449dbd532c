"""Dual stack in one process (docs/compatibility.md: IPv4 and IPv6 in one
process is one of our deliberate differences, as in the C original's current
master).

IPv4 and IPv6 peers of a torrent live in two lists. HTTP answers always carry
`peers` (empty when it has none) and add `peers6` only when it carries peers;
counts are summed over both families; when numwant is smaller than the swarm,
each family gets up to a quarter of numwant and the rest goes proportionally to
what is left. UDP answers carry only the requester's family (18-byte peers
over IPv6, at most 66 of them; 6-byte peers over IPv4, at most 200) with
counts summed over both. IPv4-mapped IPv6 addresses are IPv4.

Ours only: the Debian C binary is an IPv4-only build.
"""

import hashlib
import os
import socket
import struct

import pytest

from helpers.reference import bdecode_ordered, compact_peers
from helpers.trackerproc import udp_announce_packet, udp_scrape_packet
from test_conformance_http import STOPPED_BODY, ok_body, request, target
from test_conformance_udp import MISMATCH, Client

IMPL = os.environ.get("OT_IMPL", "ours")


def ipv6_loopback_works():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.skipif(IMPL == "c", reason="the Debian C binary is an IPv4-only build; dual stack is ours only"),
    pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback (::1) on this machine"),
]

V4 = socket.AF_INET
V6 = socket.AF_INET6
LOCAL4 = socket.inet_aton("127.0.0.1")
LOCAL6 = socket.inet_pton(V6, "::1")
KEYS = [b"complete", b"downloaded", b"incomplete", b"interval", b"min interval", b"peers"]
BIG4, BIG6 = 210, 80  # the shared big swarm: IPv4 ports 30000.., IPv6 ports 40000..


def sha(label):
    return hashlib.sha1(("dualstack:" + label).encode()).digest()


class Reply:
    """A decoded HTTP announce answer."""

    def __init__(self, body):
        pairs = bdecode_ordered(body)
        self.keys = [k for k, _ in pairs]
        values = dict(pairs)
        self.counts = (values[b"complete"], values[b"downloaded"], values[b"incomplete"])
        self.peers = compact_peers(values[b"peers"], 6)
        self.peers6 = compact_peers(values[b"peers6"], 18) if b"peers6" in values else None


def announce(t, info_hash, family=V4, headers=b"", **params):
    return Reply(announce_body(t, info_hash, family, headers, **params))


def announce_body(t, info_hash, family=V4, headers=b"", **params):
    return ok_body(t.http(request(target(info_hash, **params), headers), family=family))


# The module's `tracker` (conftest.py); `h` (conftest.py) gives the tests' hashes.
TRACKER = dict(ipv6=True, config=["access.proxy 127.0.0.1", "tracker.ip_from_query on"])


@pytest.fixture
def udp4(tracker):
    c = Client(tracker, family=V4)
    yield c
    c.close()


@pytest.fixture
def udp6(tracker):
    c = Client(tracker, family=V6)
    yield c
    c.close()


@pytest.fixture(scope="module")
def big(tracker):
    """210 IPv4 and 80 IPv6 peers (announced over UDP); odd ports seed."""
    info_hash = sha("big")
    c4, c6 = Client(tracker, family=V4), Client(tracker, family=V6)
    try:
        for port in range(30000, 30000 + BIG4):
            c4.announce(info_hash, port=port, left=1 if port % 2 == 0 else 0, numwant=0)
        for port in range(40000, 40000 + BIG6):
            c6.announce(info_hash, port=port, left=1 if port % 2 == 0 else 0, numwant=0)
    finally:
        c4.close()
        c6.close()
    return info_hash


# ---------------------------------------------------------------- HTTP

def test_ipv6_peer_is_returned_in_peers6_and_peers_is_empty(tracker, h):
    reply = announce(tracker, h(), V6, port=7001, left=1)
    assert reply.keys == KEYS + [b"peers6"]
    assert reply.counts == (0, 0, 1)
    assert reply.peers == []
    assert reply.peers6 == [(LOCAL6, 7001)]


def test_ipv4_only_swarm_answer_is_the_baselines(tracker, h):
    reply = announce(tracker, h(), V4, port=7002, left=1)
    assert reply.keys == KEYS
    assert reply.peers == [(LOCAL4, 7002)]


def test_numwant_0_over_ipv6_has_an_empty_peers_and_no_peers6(tracker, h):
    body = announce_body(tracker, h(), V6, port=7003, left=0, numwant=0)
    assert body.endswith(b"e5:peers0:e")
    assert Reply(body).counts == (1, 0, 0)


def test_both_families_are_counted_and_returned(tracker, h):
    announce(tracker, h(), V4, port=7010, left=1)
    announce(tracker, h(), V4, port=7011, left=0, event="completed")
    announce(tracker, h(), V6, port=7012, left=0, event="completed")
    for family, port, left in ((V6, 7013, 1), (V4, 7010, 1), (V6, 7013, 1)):
        reply = announce(tracker, h(), family, port=port, left=left)
        assert reply.keys == KEYS + [b"peers6"]
        assert reply.counts == (2, 2, 2)
        assert reply.peers == [(LOCAL4, 7010), (LOCAL4, 7011)]  # leechers first
        assert reply.peers6 == [(LOCAL6, 7013), (LOCAL6, 7012)]


def test_same_port_in_both_families_is_two_peers(tracker, h):
    announce(tracker, h(), V4, port=7020, left=1)
    reply = announce(tracker, h(), V6, port=7020, left=1)
    assert reply.counts == (0, 0, 2)
    assert (reply.peers, reply.peers6) == ([(LOCAL4, 7020)], [(LOCAL6, 7020)])


def test_stopped_over_ipv6_has_no_peers6_and_counts_after_removal(tracker, h):
    announce(tracker, h(), V4, port=7030, left=0)
    announce(tracker, h(), V6, port=7031, left=1)
    announce(tracker, h(), V6, port=7032, left=0)
    body = announce_body(tracker, h(), V6, port=7031, event="stopped")
    match = STOPPED_BODY.match(body)
    assert match, body
    assert tuple(map(int, match.groups()[:2])) == (2, 0)
    reply = announce(tracker, h(), V4, port=7030, left=0)
    assert reply.counts == (2, 0, 0)
    assert reply.peers6 == [(LOCAL6, 7032)]


def populate(t, info_hash, n4, n6):
    for i in range(n4):
        announce_body(t, info_hash, V4, port=8000 + i, left=1, numwant=0)
    for i in range(n6):
        announce_body(t, info_hash, V6, port=9000 + i, left=1, numwant=0)


@pytest.mark.parametrize("numwant, n4, n6, want4, want6", [
    (20, 30, 30, 10, 10),     # a quarter each, the rest split evenly
    (None, 30, 30, 25, 25),   # default numwant 50
    (20, 40, 4, 16, 4),       # IPv6 has fewer than a quarter: all of them, IPv4 fills up
    (20, 4, 40, 4, 16),
    (200, 40, 4, 40, 4),      # everybody fits
])
def test_http_split_between_families(tracker, h, numwant, n4, n6, want4, want6):
    populate(tracker, h(), n4, n6)
    params = {"port": 8000, "left": 1}
    if numwant is not None:
        params["numwant"] = numwant
    for family in (V4, V6):
        params["port"] = 8000 if family == V4 else 9000  # an existing peer: counts stay
        reply = announce(tracker, h(), family, **params)
        assert reply.counts == (0, 0, n4 + n6)
        assert len(reply.peers) == len(set(reply.peers)) == want4
        assert len(reply.peers6) == len(set(reply.peers6)) == want6
        assert {a for a, _ in reply.peers} == {LOCAL4} and {a for a, _ in reply.peers6} == {LOCAL6}


def test_http_200_peers_from_a_big_mixed_swarm(tracker, big):
    reply = announce(tracker, big, V4, port=30001, left=0, numwant=200)
    assert reply.counts == ((BIG4 + BIG6) // 2, 0, (BIG4 + BIG6) // 2)
    assert len(reply.peers) + len(reply.peers6) == 200
    assert len(reply.peers) >= 50 and len(reply.peers6) >= 50


# ---------------------------------------------------------------- UDP

def test_udp_connect_over_ipv6(tracker, udp6):
    reply = udp6.ask(struct.pack(">QII", 0x41727101980, 0, 0x6666))
    assert len(reply) == 16 and reply[:8] == struct.pack(">II", 0, 0x6666)


def test_udp_connection_ids_over_ipv6(tracker, udp4, udp6, h):
    other = Client(tracker, family=V6)
    try:
        assert udp6.connect() == other.connect()
    finally:
        other.close()
    cid4, cid6 = udp4.connect(), udp6.connect()
    assert cid4 != cid6
    mismatch = struct.pack(">II", 3, 0x6001) + MISMATCH
    assert udp6.ask(udp_announce_packet(cid4, h(), transaction_id=0x6001)) == mismatch
    assert udp4.ask(udp_scrape_packet(cid6, [h()], transaction_id=0x6001)) == mismatch


def test_udp_answers_in_the_requesters_family_with_summed_counts(tracker, udp4, udp6, h):
    announce(tracker, h(), V4, port=7040, left=0, event="completed")
    announce(tracker, h(), V4, port=7041, left=1)
    interval, leechers, seeders, peers = udp6.announce(h(), port=7042, left=1)
    assert (leechers, seeders) == (2, 1)
    assert peers == [(LOCAL6, 7042)]
    reply = udp6.ask(udp_announce_packet(udp6.cid, h(), port=7042, left=1, transaction_id=0x6002))
    assert len(reply) == 20 + 18
    interval, leechers, seeders, peers = udp4.announce(h(), port=7041, left=1)
    assert (leechers, seeders) == (2, 1)
    assert peers == [(LOCAL4, 7041), (LOCAL4, 7040)]
    assert udp6.scrape(h()) == udp4.scrape(h()) == [(1, 1, 2)]


def test_udp_ipv6_stopped_counts_both_families(tracker, udp6, h):
    announce(tracker, h(), V4, port=7050, left=0)
    udp6.announce(h(), port=7051, left=1)
    reply = udp6.ask(udp_announce_packet(udp6.cid, h(), port=7051, event=3, transaction_id=0x6003))
    assert len(reply) == 20
    assert struct.unpack(">IIxxxxII", reply) == (1, 0x6003, 0, 1)


@pytest.mark.parametrize("numwant, expected", [(0xFFFFFFFF, 66), (1000, 66), (67, 66), (66, 66), (10, 10),
                                               (0, 0)])
def test_udp_ipv6_answers_at_most_66_peers(udp6, big, numwant, expected):
    interval, leechers, seeders, peers = udp6.announce(big, port=40001, left=0, numwant=numwant)
    assert (leechers, seeders) == ((BIG4 + BIG6) // 2, (BIG4 + BIG6) // 2)
    assert len(peers) == len(set(peers)) == expected
    assert set(peers) <= {(LOCAL6, p) for p in range(40000, 40000 + BIG6)}


def test_udp_ipv4_still_answers_200_peers(udp4, big):
    interval, leechers, seeders, peers = udp4.announce(big, port=30001, left=0, numwant=0xFFFFFFFF)
    assert (leechers, seeders) == ((BIG4 + BIG6) // 2, (BIG4 + BIG6) // 2)
    assert len(peers) == len(set(peers)) == 200
    assert set(peers) <= {(LOCAL4, p) for p in range(30000, 30000 + BIG4)}


# ---------------------------------------------------------------- IPv4-mapped addresses

def test_mapped_address_from_proxy_is_ipv4(tracker, h):
    reply = announce(tracker, h(), V4, headers=b"X-Forwarded-For: ::ffff:10.1.2.3\r\n", port=7060, left=1)
    assert reply.keys == KEYS
    assert reply.peers == [(socket.inet_aton("10.1.2.3"), 7060)]
    reply = announce(tracker, h(), V4, headers=b"X-Forwarded-For: 2001:db8::5\r\n", port=7061, left=1)
    assert reply.counts == (0, 0, 2)
    assert reply.peers == [(socket.inet_aton("10.1.2.3"), 7060)]
    assert reply.peers6 == [(socket.inet_pton(V6, "2001:db8::5"), 7061)]


def test_mapped_address_from_query_is_ipv4_and_the_same_peer(tracker, h):
    announce(tracker, h(), V4, port=7070, left=1)
    reply = announce(tracker, h(), V4, port=7070, left=1, ip="::ffff:127.0.0.1")
    assert reply.counts == (0, 0, 1)
    assert reply.keys == KEYS
    assert reply.peers == [(LOCAL4, 7070)]
    reply = announce(tracker, h(), V6, port=7071, left=0, ip="::ffff:10.0.0.9")
    assert reply.counts == (1, 0, 1)
    assert reply.keys == KEYS
    assert reply.peers == [(LOCAL4, 7070), (socket.inet_aton("10.0.0.9"), 7071)]  # leecher, seeder
