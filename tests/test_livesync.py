"""Live sync (issue 8): the C original's cluster packets (docs/compatibility.md,
live sync). Packet-level tests talk to one tracker over loopback with hand-built
datagrams; cluster tests run two and three trackers in network namespaces
made here, on one bridge, where they multicast to each other."""

import hashlib
import socket
import struct
import time
from urllib.parse import quote_from_bytes

import pytest

from helpers import netns
from helpers.reference import bdecode, compact_peers
from helpers.trackerproc import Tracker, free_port

SEEDING, COMPLETED, STOPPED = 0x80, 0x40, 0x20


def h(name):
    return hashlib.sha1(name.encode()).digest()


def record4(info_hash, ip, port, flags=0, age=0):
    return info_hash + socket.inet_aton(ip) + struct.pack(">HBB", port, flags, age)


def record6(info_hash, ip, port, flags=0, age=0):
    return info_hash + socket.inet_pton(socket.AF_INET6, ip) + struct.pack(">HBB", port, flags, age)


def packet(sender_id, kind, records):
    return sender_id + struct.pack(">I", kind) + b"".join(records)


def scrape(t, info_hash):
    body = t.get("/scrape?info_hash=%s" % quote_from_bytes(info_hash))[2]
    return bdecode(body)[b"files"].get(info_hash, {b"complete": 0, b"downloaded": 0, b"incomplete": 0})


def peers_of(t, info_hash, family=socket.AF_INET):
    body = bdecode(t.get("/announce?info_hash=%s&port=1&left=1&numwant=200" % quote_from_bytes(info_hash),
                         family=family)[2])
    t.get("/announce?info_hash=%s&port=1&event=stopped" % quote_from_bytes(info_hash), family=family)
    return set(compact_peers(body[b"peers"], 6)) | set(compact_peers(body.get(b"peers6", b""), 18))


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def tracker_id(t):
    body = t.get("/stats?mode=everything")[2].decode()
    return struct.pack("=I", int(body.split("<tracker_id>")[1].split("<")[0]))


# ---------------------------------------------------------------- one node, hand-built packets

@pytest.fixture(scope="module")
def node():
    sync_port = free_port()
    t = Tracker(config=["livesync.cluster.listen 127.0.0.1:%d" % sync_port,
                        "livesync.cluster.node_ip 127.0.0.1", "livesync.cluster.send_interval 1"])
    t.sync_port = sync_port
    with t:
        yield t


def send(node, data, source="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.sendto(data, ("127.0.0.1", node.sync_port))


OTHER = b"\x01\x02\x03\x04"


def test_v4_records_add_update_and_stop(node):
    x = h("sync-v4")
    send(node, packet(OTHER, 0, [record4(x, "10.1.1.1", 6881), record4(x, "10.1.1.2", 6882, SEEDING)]))
    assert wait_for(lambda: scrape(node, x) == {b"complete": 1, b"downloaded": 0, b"incomplete": 1})
    assert {(bytes([10, 1, 1, 1]), 6881), (bytes([10, 1, 1, 2]), 6882)} <= peers_of(node, x)
    # a completion from a seeder counts a download
    send(node, packet(OTHER, 0, [record4(x, "10.1.1.1", 6881, SEEDING | COMPLETED)]))
    assert wait_for(lambda: scrape(node, x) == {b"complete": 2, b"downloaded": 1, b"incomplete": 0})
    send(node, packet(OTHER, 0, [record4(x, "10.1.1.2", 6882, STOPPED)]))
    assert wait_for(lambda: scrape(node, x)[b"complete"] == 1)
    assert (bytes([10, 1, 1, 2]), 6882) not in peers_of(node, x)


def test_v6_records(node):
    x = h("sync-v6")
    send(node, packet(OTHER, 1, [record6(x, "2001:db8::5", 7000, SEEDING)]))
    assert wait_for(lambda: scrape(node, x)[b"complete"] == 1)
    body = bdecode(node.get("/announce?info_hash=%s&port=9&left=1" % quote_from_bytes(x))[2])
    assert compact_peers(body[b"peers6"], 18) == [(socket.inet_pton(socket.AF_INET6, "2001:db8::5"), 7000)]


def test_unblessed_sender_and_own_packets_are_ignored(node):
    x, y = h("sync-unblessed"), h("sync-own")
    send(node, packet(OTHER, 0, [record4(x, "10.2.2.2", 1)]), source="127.0.0.2")
    send(node, packet(tracker_id(node), 0, [record4(y, "10.2.2.3", 1)]))
    probe = h("sync-probe")
    send(node, packet(OTHER, 0, [record4(probe, "10.2.2.4", 1)]))
    assert wait_for(lambda: scrape(node, probe)[b"incomplete"] == 1)  # later packets did arrive
    assert scrape(node, x)[b"incomplete"] == 0 and scrape(node, y)[b"incomplete"] == 0


@pytest.mark.parametrize("data", [
    b"", b"\x01\x02\x03\x04\x00\x00\x00\x00",                                  # header only
    packet(OTHER, 0, [record4(b"\x11" * 20, "10.3.3.3", 1)])[:-1],            # truncated record
    packet(OTHER, 0, [record4(b"\x12" * 20, "10.3.3.3", 1)] * 60),            # 1688 bytes: oversized
    packet(OTHER, 7, [record4(b"\x13" * 20, "10.3.3.3", 1)]),                 # unknown type
    packet(OTHER, 1, [record4(b"\x14" * 20, "10.3.3.3", 1)]),                 # v4 record in a v6 packet
    bytes(range(256)) * 3,
])
def test_bad_packets_are_ignored(node, data):
    before = node.get("/stats?mode=syncs")[2].split(b"\n")[0]
    send(node, data)
    probe = h("sync-after-bad-%d" % len(data))
    send(node, packet(OTHER, 0, [record4(probe, "10.4.4.4", 1)]))
    assert wait_for(lambda: scrape(node, probe)[b"incomplete"] == 1)
    # only the probe's record was applied
    assert int(node.get("/stats?mode=syncs")[2].split(b"\n")[0]) == int(before) + 1
    for fill in (b"\x11", b"\x12", b"\x13", b"\x14"):
        assert scrape(node, fill * 20)[b"incomplete"] == 0
    assert node.proc.poll() is None


def livesync_packets(node):
    """opentracker_livesync_packets_total by result, from /metrics."""
    found = {}
    for line in node.get("/metrics")[2].decode().splitlines():
        if line.startswith("opentracker_livesync_packets_total{"):
            found[line.split('"')[1]] = int(line.rsplit(" ", 1)[1])
    return found


def test_cut_off_last_record_applies_the_complete_ones(node):
    """As the C node does: the whole records before a cut-off one are
    applied; the datagram counts as bad for its stub."""
    x = h("sync-cut-off")
    before = livesync_packets(node)
    data = packet(OTHER, 0, [record4(x, "10.6.6.1", 1), record4(x, "10.6.6.2", 2, SEEDING),
                             record4(x, "10.6.6.3", 3)])[:-1]
    send(node, data)
    assert wait_for(lambda: scrape(node, x) == {b"complete": 1, b"downloaded": 0, b"incomplete": 1})
    assert {(bytes([10, 6, 6, 1]), 1), (bytes([10, 6, 6, 2]), 2)} <= peers_of(node, x)
    assert (bytes([10, 6, 6, 3]), 3) not in peers_of(node, x)
    after = livesync_packets(node)
    assert after["bad"] == before["bad"] + 1 and after["applied"] == before["applied"] + 1, (before, after)
    # IPv6 likewise: one whole 40-byte record and 39 bytes of the next
    y = h("sync-cut-off-6")
    send(node, packet(OTHER, 1, [record6(y, "2001:db8::61", 61, SEEDING), record6(y, "2001:db8::62", 62)])[:-1])
    assert wait_for(lambda: scrape(node, y) == {b"complete": 1, b"downloaded": 0, b"incomplete": 0})
    assert livesync_packets(node)["bad"] == before["bad"] + 2


def test_syncs_counts_received_records(node):
    before = int(node.get("/stats?mode=syncs")[2].split(b"\n")[0])
    x = h("sync-count")
    send(node, packet(OTHER, 0, [record4(x, "10.5.5.%d" % i, 1) for i in range(1, 11)]))
    assert wait_for(lambda: int(node.get("/stats?mode=syncs")[2].split(b"\n")[0]) == before + 10)


# ---------------------------------------------------------------- clusters in network namespaces

cluster = pytest.mark.skipif(not netns.available(), reason="needs root and iproute2 to make network namespaces "
                                                            "for the cluster's multicast")


def start_cluster(lan, blessed=None, port=9696):
    nodes = []
    for host, addr in zip(lan.hosts, lan.addresses):
        ok = blessed if blessed is not None else lan.addresses
        conf = ["livesync.cluster.listen %s:%d" % (addr, port), "livesync.cluster.send_interval 1"]
        conf += ["livesync.cluster.node_ip %s" % a for a in ok if a != addr]
        t = Tracker(config=conf, netns=host)
        t.addr = addr
        nodes.append(t.start())
    return nodes


def sniffer(lan, host_index, port=9696):
    s = None
    with netns.entered(lan.hosts[host_index]):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton("224.0.23.5") + socket.inet_aton(lan.addresses[host_index]))
    s.settimeout(0.2)
    return s


def drain(s, seconds):
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data, src = s.recvfrom(4096)
        except socket.timeout:
            continue
        got.append((src[0], data))
    return got


@cluster
def test_two_nodes_share_announces_stops_and_completions():
    x = h("cluster-two")
    with netns.Lan(2) as lan:
        a, b = start_cluster(lan)
        try:
            a.get("/announce?info_hash=%s&port=5001&left=100" % quote_from_bytes(x))
            assert wait_for(lambda: scrape(b, x)[b"incomplete"] == 1)
            assert (bytes([127, 0, 0, 1]), 5001) in peers_of(b, x)
            # a completion on A is a download on B too
            a.get("/announce?info_hash=%s&port=5001&left=0&event=completed" % quote_from_bytes(x))
            assert wait_for(lambda: scrape(b, x) == {b"complete": 1, b"downloaded": 1, b"incomplete": 0})
            # a stop sent to B removes the peer on A
            b.get("/announce?info_hash=%s&port=5001&event=stopped" % quote_from_bytes(x))
            assert wait_for(lambda: scrape(a, x)[b"complete"] == 0)
            assert scrape(a, x)[b"downloaded"] == 1
        finally:
            for t in (a, b):
                t.close()


@cluster
def test_three_nodes_no_rebroadcast_and_unblessed_ignored():
    x, y = h("cluster-three"), h("cluster-unblessed")
    with netns.Lan(3) as lan:
        # C is not blessed by A and B; A and B bless each other and C trusts both
        blessed = lan.addresses[:2]
        nodes = []
        try:
            for i, (host, addr) in enumerate(zip(lan.hosts, lan.addresses)):
                conf = ["livesync.cluster.listen %s:9696" % addr, "livesync.cluster.send_interval 1"]
                conf += ["livesync.cluster.node_ip %s" % o for o in (blessed if i < 2 else lan.addresses[:2])
                         if o != addr]
                t = Tracker(config=conf, netns=host)
                nodes.append(t.start())
            a, b, c = nodes
            sniff = sniffer(lan, 2)     # in C's namespace: hears A and B
            a.get("/announce?info_hash=%s&port=5002&left=1" % quote_from_bytes(x))
            assert wait_for(lambda: scrape(b, x)[b"incomplete"] == 1 and scrape(c, x)[b"incomplete"] == 1)
            seen = drain(sniff, 2.5)
            senders = {src for src, data in seen if x in data}
            assert senders == {lan.addresses[0]}   # B did not send A's peer on
            sniff.close()
            # C's news reach the wire but nobody takes them: C is not blessed
            sniff = sniffer(lan, 1)
            c.get("/announce?info_hash=%s&port=5003&left=1" % quote_from_bytes(y))
            assert any(y in data and src == lan.addresses[2] for src, data in drain(sniff, 2.5))
            sniff.close()
            assert scrape(a, y)[b"incomplete"] == 0 and scrape(b, y)[b"incomplete"] == 0
        finally:
            for t in nodes:
                t.close()


@cluster
def test_packet_layout_on_the_wire():
    """What a node sends: its id, type 0, 28-byte records with the peer's
    address, port, flags; stops carry 0x20 even for unknown torrents."""
    x, unknown = h("wire-x"), h("wire-unknown")
    with netns.Lan(2) as lan:
        a, b = start_cluster(lan)
        try:
            sniff = sniffer(lan, 1)
            a.get("/announce?info_hash=%s&port=6001&left=0" % quote_from_bytes(x))
            a.get("/announce?info_hash=%s&port=6002&event=stopped" % quote_from_bytes(unknown))
            seen = [d for src, d in drain(sniff, 2.5) if src == lan.addresses[0]]
            assert seen, "node A sent nothing"
            records = b"".join(d[8:] for d in seen)
            assert all(struct.unpack(">I", d[4:8])[0] == 0 and (len(d) - 8) % 28 == 0 for d in seen)
            assert len({d[:4] for d in seen}) == 1
            assert x + bytes([127, 0, 0, 1]) + struct.pack(">HBB", 6001, SEEDING, 0) in records
            assert unknown + bytes([127, 0, 0, 1]) + struct.pack(">HBB", 6002, STOPPED, 0) in records
            sniff.close()
        finally:
            for t in (a, b):
                t.close()


@cluster
def test_ipv6_burst_then_ipv4_traffic():
    """Issue 12: 37 new IPv6 peers in one send interval ran past the IPv6
    send buffer (36 records fit a 1480-byte datagram), went out as a
    1488-byte datagram every receiver drops, and the next IPv4 record was
    written wherever the overwritten fill count pointed: a crash. Now the
    node lives, no datagram passes 1480 bytes, and the other node learns
    every peer."""
    x, y = h("cluster-v6-burst"), h("cluster-v4-after")
    with netns.Lan(2) as lan:
        nodes = []
        try:
            for host, addr, other in zip(lan.hosts, lan.addresses, reversed(lan.addresses)):
                t = Tracker(config=["livesync.cluster.listen %s:9696" % addr, "livesync.cluster.send_interval 5",
                                    "livesync.cluster.node_ip %s" % other], netns=host, ipv6=True)
                nodes.append(t.start())
            a, b = nodes
            sniff = sniffer(lan, 0)        # in A's namespace: hears B
            for i in range(60):
                b.get("/announce?info_hash=%s&port=%d&left=0" % (quote_from_bytes(x), 7000 + i),
                      family=socket.AF_INET6)
            for i in range(5):
                b.get("/announce?info_hash=%s&port=%d&left=1" % (quote_from_bytes(y), 8000 + i))
            assert wait_for(lambda: scrape(a, x)[b"complete"] == 60 and scrape(a, y)[b"incomplete"] == 5,
                            timeout=15)
            assert b.proc.poll() is None, b.stderr()
            seen = [d for src, d in drain(sniff, 0.5) if src == lan.addresses[1]]
            sniff.close()
            assert seen and max(len(d) for d in seen) <= 1480, sorted(len(d) for d in seen)
            loop6 = socket.inet_pton(socket.AF_INET6, "::1")
            assert {(loop6, 7000 + i) for i in range(60)} <= peers_of(a, x, socket.AF_INET6)
            assert {(bytes([127, 0, 0, 1]), 8000 + i) for i in range(5)} <= peers_of(a, y)
            assert b.get("/stats?mode=peer")[0].endswith("200 OK")   # B still answers
        finally:
            for t in nodes:
                t.close()
