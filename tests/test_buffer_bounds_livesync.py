"""The fixed-buffer audit of issue 12 (helpers/bounds.py says how it proves
every bound and holds the sizes): live sync. The sender's buf4[1480] and
buf6[1480] flushed at their boundaries, the receiver's datagram sizes.
"""

import os
import select
import socket
import struct
import sys

import pytest

from helpers.bounds import OT_SYNC_BUF, OT_SYNC_HEADER, h, http, q, split
from helpers.reference import bdecode
# `node` is a subprocess: crossbuild/test-qemu.sh leaves out the files that
# import trackerproc.
from helpers.trackerproc import Tracker  # noqa: F401
from test_livesync import livesync_packets, node, record4, send  # noqa: F401 (node: a fixture)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz"))
import fuzz_livesync  # noqa: E402 (the sender harness: its cluster socket and server set-up)

# ---------------------------------------------------------------- live sync: buf4[1480], buf6[1480]

@pytest.fixture
def sync_server():
    """A server whose live sync sends to a socket of this test on loopback,
    as the sender's fuzz harness sets it up (send interval 1000 s: only
    size and flush_livesync() send)."""
    cluster = fuzz_livesync.Cluster()
    try:
        yield fuzz_livesync.new_server(0, cluster), cluster
    finally:
        cluster.close()


@pytest.mark.parametrize("family,count", [(6, 35), (6, 36), (6, 37), (6, 72), (6, 73),
                                          (4, 51), (4, 52), (4, 53), (4, 104), (4, 105)])
def test_livesync_flush_boundaries(sync_server, family, count):
    """A datagram goes out as soon as it cannot take one more record: 36
    IPv6 records (8 + 36 * 40 = 1448 bytes; a 37th would need 1488 > 1480)
    or 52 IPv4 records (8 + 52 * 28 = 1464; a 53rd would need 1492). One
    short stays queued until the flush; one over starts the next datagram.
    Random interleavings: tests/fuzz/fuzz_livesync.py."""
    srv, cluster = sync_server
    rec = 40 if family == 6 else 28
    capacity = (OT_SYNC_BUF - OT_SYNC_HEADER) // rec
    assert capacity == (36 if family == 6 else 52)
    x = h("sync-bounds")
    records = []
    for i in range(count):
        if family == 6:
            text = "2001:db8::6:%x" % (i + 1)
            raw = socket.inet_pton(socket.AF_INET6, text)
        else:
            text = "10.13.%d.%d" % (i // 250, i % 250 + 1)
            raw = socket.inet_aton(text)
        answer = http(srv, "/announce?info_hash=%s&port=%d&left=1" % (q(x), 1000 + i), client=text)
        assert split(answer)[0] == "HTTP/1.1 200 OK"
        records.append(x + raw + struct.pack(">HBB", 1000 + i, 0, 0))
    full, rest = divmod(count, capacity)
    sent = cluster.take(full)
    assert [len(d) for d in sent] == [OT_SYNC_HEADER + capacity * rec] * full
    srv.flush_livesync()
    tail = cluster.take(1 if rest else 0)
    assert [len(d) for d in tail] == ([OT_SYNC_HEADER + rest * rec] if rest else [])
    kind = struct.pack(">I", 1 if family == 6 else 0)
    tid = struct.pack("=I", srv.tracker_id)
    for d in sent + tail:
        assert d[:8] == tid + kind and len(d) <= OT_SYNC_BUF
    assert b"".join(d[8:] for d in sent + tail) == b"".join(records)
    assert srv.livesync_counters()["packets_sent"] == full + (1 if rest else 0)


def _wait(predicate):
    for _ in range(200):
        if predicate():
            return True
        select.select([], [], [], 0.05)
    return predicate()


@pytest.mark.parametrize("size", [OT_SYNC_BUF - 1, OT_SYNC_BUF, OT_SYNC_BUF + 1, 2048, 2049, 9000])
def test_livesync_receive_sizes(node, size):
    """on_livesync reads into pkt[2048] with MSG_TRUNC, so a longer datagram
    is seen at its real length and refused like anything over 1480 bytes.
    A datagram of 1480 (52 whole IPv4 records and a 16-byte stub) is taken:
    its whole records applied, the stub counted bad (issue 12). (`node` is
    test_livesync's one-node tracker.)"""
    x = h("sync-receive-%d" % size)
    body = b"".join(record4(x, "10.14.%d.%d" % (i // 250, i % 250 + 1), 2000 + i) for i in range(size // 28 + 1))
    datagram = (b"\x01\x02\x03\x04" + struct.pack(">I", 0) + body)[:size]
    before = livesync_packets(node)
    send(node, datagram)
    assert _wait(lambda: livesync_packets(node) != before)
    after = livesync_packets(node)
    files = bdecode(node.get("/scrape?info_hash=%s" % q(x))[2])[b"files"]
    if size <= OT_SYNC_BUF:
        assert after["applied"] == before["applied"] + 1
        assert after["bad"] == before["bad"] + (1 if (size - OT_SYNC_HEADER) % 28 else 0)
        assert files[x][b"incomplete"] == (size - OT_SYNC_HEADER) // 28 == 52
    else:
        assert after["bad"] == before["bad"] + 1 and after["applied"] == before["applied"]
        assert x not in files
    assert node.proc.poll() is None
