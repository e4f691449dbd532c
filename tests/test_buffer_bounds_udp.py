"""The fixed-buffer audit of issue 12 (helpers/bounds.py says how it proves
every bound and holds the sizes): UDP. udp_in (2048 bytes a datagram, the
loop's recvmmsg), the reply (1536): scrapes of 74 to 76 hashes and cut-off
ones, short datagrams, announces at the most peers a reply carries, error
replies.
"""

import socket
import struct

import pytest

from helpers.testcore import core
from helpers.bounds import (OT_UDP_ANNOUNCE_MAX, OT_UDP_IN_MAX, OT_UDP_OUT_MAX, OT_UDP_PEERS_V4, OT_UDP_PEERS_V6,
                            OT_UDP_SCRAPE_MAX, U32, h, new_server, q, restore)
from helpers.reference import compact_peers
from helpers.trackerproc import Tracker

# ---------------------------------------------------------------- UDP: udp_in (2048 a datagram), the reply (1536)

CONNECT = struct.pack(">QII", 0x41727101980, 0, 0x1234)


def udp_connect(srv, client):
    reply = srv.answer_udp(CONNECT, client)
    assert len(reply) == 16 and reply[:8] == struct.pack(">II", 0, 0x1234)
    return reply[8:]


def udp_scrape_reply(hashes, known):
    """The expected reply: zeros for unknown hashes and for a cut-off one."""
    out = struct.pack(">II", 2, 0x7777)
    for x in hashes[:OT_UDP_SCRAPE_MAX]:
        out += struct.pack(">III", *known.get(x, (0, 0, 0)))
    return out


@pytest.mark.parametrize("count", [OT_UDP_SCRAPE_MAX - 1, OT_UDP_SCRAPE_MAX, OT_UDP_SCRAPE_MAX + 1])
def test_udp_scrape_74_75_76_hashes(count):
    """At most 75 hashes answered (908 bytes, inside OT_UDP_OUT_MAX 1536);
    the 76th is ignored. Every hash is a known torrent, so a 76th answered
    would show as 12 more non-zero bytes."""
    srv = new_server()
    hashes = [h("udp-scrape-%d" % i) for i in range(OT_UDP_SCRAPE_MAX + 1)]
    for i, x in enumerate(hashes):
        restore(srv.store, x, 1000 + i)
        srv.announce_http(x, "10.4.0.%d" % (i + 1), 6881, seeder=True)
    known = {x: (1, 1000 + i, 0) for i, x in enumerate(hashes)}
    cid = udp_connect(srv, "127.0.0.1")
    reply = srv.answer_udp(cid + struct.pack(">II", 2, 0x7777) + b"".join(hashes[:count]))
    answered = min(count, OT_UDP_SCRAPE_MAX)
    assert len(reply) == 8 + 12 * answered
    assert reply == udp_scrape_reply(hashes[:count], known)


@pytest.mark.parametrize("tail", [0, 1, 19])
def test_udp_scrape_cut_off_hash_counts_and_answers_zeros(tail):
    """74 whole hashes and a cut-off 75th (1 or 19 bytes): 75 answers, the
    last zeros (docs/compatibility.md, our deliberate differences); with 75
    whole hashes and a stub, the stub is the 76th and ignored. The parser
    never reads past the datagram."""
    srv = new_server()
    hashes = [h("udp-cut-%d" % i) for i in range(OT_UDP_SCRAPE_MAX)]
    for i, x in enumerate(hashes):
        srv.announce_http(x, "10.5.0.%d" % (i + 1), 6881)
    cid = udp_connect(srv, "127.0.0.1")
    head = cid + struct.pack(">II", 2, 0x7777)
    known = {x: (0, 0, 1) for x in hashes}
    # 74 whole + `tail` bytes of the 75th
    reply = srv.answer_udp(head + b"".join(hashes[:74]) + hashes[74][:tail])
    want = hashes[:74] + ([b"cut"] if tail else [])
    assert reply == udp_scrape_reply(want, known)
    # 75 whole + `tail` bytes more: still 75 answers
    reply = srv.answer_udp(head + b"".join(hashes) + b"\x00" * tail)
    assert reply == udp_scrape_reply(hashes, known)


def test_udp_short_datagrams_are_not_read_past_their_end():
    """15 bytes: silence; 16: a connect. An announce needs 98 bytes: 97 is
    silence (nothing read at 96..97, the port)."""
    srv = new_server()
    assert srv.answer_udp(CONNECT[:15]) == b""
    assert len(srv.answer_udp(CONNECT)) == 16
    cid = udp_connect(srv, "127.0.0.1")
    x = h("udp-short-announce")
    packet = (cid + struct.pack(">II", 1, 9) + x + b"-XX0001-000000000000"
              + struct.pack(">QQQIIIiH", 0, 5, 0, 0, 0, 0, -1, 6881))
    assert len(packet) == 98
    assert srv.answer_udp(packet[:97]) == b""
    reply = srv.answer_udp(packet)
    action, _, _, leechers, seeders = struct.unpack(">IIIII", reply[:20])
    assert (action, leechers, seeders) == (1, 1, 0)
    assert reply[20:] == socket.inet_aton("127.0.0.1") + struct.pack(">H", 6881)    # itself


def _udp_announce(srv, cid, info_hash, client, port, numwant, seeder=False):
    packet = (cid + struct.pack(">II", 1, 9) + info_hash + b"-XX0001-000000000000"
              + struct.pack(">QQQIIIiH", 0, 0 if seeder else 5, 0, 0, 0, 0, numwant, port))
    return srv.answer_udp(packet, client)


@pytest.mark.parametrize("swarm", [OT_UDP_PEERS_V4 - 1, OT_UDP_PEERS_V4, OT_UDP_PEERS_V4 + 1])
@pytest.mark.parametrize("numwant", [-1, 199, 200, 201])
def test_udp_announce_ipv4_peers(swarm, numwant):
    """An IPv4 reply carries at most 200 peers: 20 + 200 * 6 = 1220 bytes
    (OT_UDP_ANNOUNCE_MAX), inside OT_UDP_OUT_MAX. The requester counts as a
    member of its swarm (kept on purpose, docs/compatibility.md, UDP)."""
    srv = new_server()
    x = h("udp4-%d" % swarm)
    for i in range(swarm - 1):
        srv.announce_http(x, "10.6.%d.%d" % (i // 250, i % 250 + 1), 6881)
    cid = udp_connect(srv, "10.7.0.1")
    reply = _udp_announce(srv, cid, x, "10.7.0.1", 7000, numwant)
    want = min(swarm, OT_UDP_PEERS_V4, numwant if numwant >= 0 else 2 ** 32)
    assert struct.unpack(">IIIII", reply[:20])[3:] == (swarm, 0)
    assert len(reply) == 20 + 6 * want <= OT_UDP_ANNOUNCE_MAX
    assert len(set(compact_peers(reply[20:], 6))) == want


@pytest.mark.parametrize("swarm", [OT_UDP_PEERS_V6 - 1, OT_UDP_PEERS_V6, OT_UDP_PEERS_V6 + 1])
def test_udp_announce_ipv6_peers(swarm):
    """An IPv6 reply carries at most 66 peers: 20 + 66 * 18 = 1208 bytes."""
    srv = new_server()
    x = h("udp6-%d" % swarm)
    for i in range(swarm - 1):
        srv.announce_http(x, "2001:db8::1:%x" % (i + 1), 6881)
    client = "2001:db8::2:1"
    cid = udp_connect(srv, client)
    reply = _udp_announce(srv, cid, x, client, 7000, -1)
    want = min(swarm, OT_UDP_PEERS_V6)
    assert struct.unpack(">IIIII", reply[:20])[3:] == (swarm, 0)
    assert len(reply) == 20 + 18 * want
    assert len(reply) <= 20 + 18 * OT_UDP_PEERS_V6 == 1208 < OT_UDP_OUT_MAX
    assert len(set(compact_peers(reply[20:], 18))) == want
    # The Store's UDP writer (api.pyx buffer OT_UDP_ANNOUNCE_MAX) agrees.
    assert len(srv.announce_udp(x, client, 7000, numwant=U32)) == 20 + 18 * want


def test_udp_error_replies_fit():
    """The longest error texts (memory refusal) and the id mismatch."""
    srv = core.Server(seed=7, memory_limit=1)
    srv.configure()
    cid = udp_connect(srv, "127.0.0.1")
    reply = _udp_announce(srv, cid, h("refused"), "127.0.0.1", 7000, -1)
    assert reply[:4] == struct.pack(">I", 3)
    assert reply[8:].startswith(b"Tracker memory limit reached")
    assert len(reply) < OT_UDP_OUT_MAX
    mismatch = srv.answer_udp(b"\x00" * 8 + struct.pack(">II", 2, 5) + b"\x01" * 20)
    assert mismatch == struct.pack(">II", 3, 5) + b"Connection ID missmatch.\x00"


@pytest.fixture(scope="module")
def udp_tracker():
    with Tracker() as t:
        yield t


@pytest.mark.parametrize("size", [OT_UDP_IN_MAX - 1, OT_UDP_IN_MAX, OT_UDP_IN_MAX + 1, 9000])
def test_udp_datagram_at_and_past_the_receive_buffer(udp_tracker, size):
    """recvmmsg keeps the first OT_UDP_IN_MAX (2048) bytes of each datagram;
    a scrape that long holds 101 hashes and more, of which 75 are answered
    (908 bytes). The reply is the same for 2047, 2048, 2049 and 9000 bytes,
    and the tracker lives."""
    t = udp_tracker
    x = h("udp-big-datagram")
    t.get("/announce?info_hash=%s&port=1&left=0" % q(x))
    cid = t.udp_connect()
    head = cid + struct.pack(">II", 2, 0x7777)
    body = (x * ((size - len(head)) // 20 + 1))[:size - len(head)]
    reply = t.udp(head + body)
    assert reply == struct.pack(">II", 2, 0x7777) + struct.pack(">III", 1, 0, 0) * OT_UDP_SCRAPE_MAX
    assert t.proc.poll() is None
