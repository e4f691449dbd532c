"""Keyed live sync (issue 25, part 3; docs/cluster-keys.md): with
livesync.cluster.key every packet carries a sequence and a SipHash-2-4 tag,
and a node takes only packets signed with the cluster's key, each once.
Packet-level tests talk to one node over loopback with packets signed here
(a SipHash of the tests' own, proved with the same reference vectors as the
core's); cluster tests run two keyed nodes in network namespaces."""

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from urllib.parse import quote_from_bytes

import pytest

from helpers import netns
from helpers.testcore import core
from helpers.trackerproc import Tracker, free_port, package_path
from test_livesync import (SEEDING, STOPPED, h, livesync_packets, packet, peers_of, record4, record6, scrape, send,
                           sniffer, drain, wait_for)

KEY1 = bytes(range(16))
KEY2 = bytes(range(100, 116))
KEYED = 0x6F740000
OTHER = b"\x05\x06\x07\x08"

# The 64 SipHash-2-4 vectors of the reference implementation (vectors.h,
# vectors_sip64: key 00 01 .. 0f, message i bytes 00 01 .. i-1), tags as bytes.
SIP64 = """
310e0edd47db6f72 fd67dc93c539f874 5a4fa9d909806c0d 2d7efbd796666785 b7877127e09427cf 8da699cd64557618
cee3fe586e46c9cb 37d1018bf50002ab 6224939a79f5f593 b0e4a90bdf82009e f3b9dd94c5bb5d7a a7ad6b22462fb3f4
fbe50e86bc8f1e75 903d84c02756ea14 eef27a8e90ca23f7 e545be4961ca29a1 db9bc2577fcc2a3f 9447be2cf5e99a69
9cd38d96f0b3c14b bd6179a71dc96dbb 98eea21af25cd6be c7673b2eb0cbf2d0 883ea3e395675393 c8ce5ccd8c030ca8
94af49f6c650adb8 eab8858ade92e1bc f315bb5bb835d817 adcf6b0763612e2f a5c91da7acaa4dde 716595876650a2a6
28ef495c53a387ad 42c341d8fa92d832 ce7cf2722f512771 e37859f94623f3a7 381205bb1ab0e012 ae97a10fd434e015
b4a31508beff4d31 81396229f0907902 4d0cf49ee5d4dcca 5c73336a76d8bf9a d0a704536ba93e0e 925958fcd6420cad
a915c29bc8067318 952b79f3bc0aa6d4 f21df2e41d4535f9 87577519048f53a9 10a56cf5dfcd9adb eb75095ccd986cd0
51a9cb9ecba312e6 96afadfc2ce666c7 72fe52975a4364ee 5a1645b276d592a1 b274cb8ebf87870a 6f9bb4203de7b381
eaecb2a30b22a87f 9924a43cc1315724 bd838d3aafbf8db7 0b1a2a3265d51aea 135079a3231ce660 932b2846e4d70666
e1915f5cb1eca46c f325965ca16d629f 575ff28e60381be5 724506eb4c328a95
""".split()


def siphash24(key, msg):
    """SipHash-2-4 in Python, from the paper: the tests' own, to sign packets."""
    mask = (1 << 64) - 1

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & mask

    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rounds(n):
        for _ in range(n):
            v[0] = (v[0] + v[1]) & mask; v[1] = rotl(v[1], 13) ^ v[0]; v[0] = rotl(v[0], 32)  # noqa: E702
            v[2] = (v[2] + v[3]) & mask; v[3] = rotl(v[3], 16) ^ v[2]                           # noqa: E702
            v[0] = (v[0] + v[3]) & mask; v[3] = rotl(v[3], 21) ^ v[0]                           # noqa: E702
            v[2] = (v[2] + v[1]) & mask; v[1] = rotl(v[1], 17) ^ v[2]; v[2] = rotl(v[2], 32)  # noqa: E702

    end = len(msg) - len(msg) % 8
    blocks = [struct.unpack_from("<Q", msg, i)[0] for i in range(0, end, 8)]
    blocks.append(int.from_bytes(msg[end:], "little") | ((len(msg) & 0xFF) << 56))
    for m in blocks:
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(4)
    return struct.pack("<Q", v[0] ^ v[1] ^ v[2] ^ v[3])


def test_siphash_reference_vectors():
    """The core's SipHash-2-4 and the tests' own give the reference's 64 tags."""
    assert len(SIP64) == 64
    for i, want in enumerate(SIP64):
        msg = bytes(range(i))
        assert core.siphash24_tag(KEY1, msg).hex() == want, i
        assert siphash24(KEY1, msg).hex() == want, i


_seq = [int(time.time()) << 32]


def next_seq(now=None):
    _seq[0] = max(_seq[0] + 1, int(now if now is not None else time.time()) << 32)
    return _seq[0]


def signed(sender_id, family, records, key=KEY1, seq=None):
    """A keyed packet: id, type, sequence, records, tag."""
    body = sender_id + struct.pack(">IQ", KEYED + family, next_seq() if seq is None else seq) + b"".join(records)
    return body + siphash24(key, body)


def key_file(directory, key, name="cluster.key"):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(key.hex() + "\n")
    return path


def keyed_node(key=KEY1, extra=()):
    sync_port = free_port()
    t = Tracker(config=["livesync.cluster.listen 127.0.0.1:%d" % sync_port,
                        "livesync.cluster.node_ip 127.0.0.1", "livesync.cluster.send_interval 1",
                        "tracker.statefile_interval 1"] + list(extra))
    os.mkdir(t.path("state"))
    os.chmod(t.path("state"), 0o777)        # the tracker, started as root, writes as nobody
    t.add_config("tracker.statefile %s" % t.path("state/state.txt"))
    t.key_path = key_file(t.dir, key)
    t.add_config("livesync.cluster.key %s" % t.key_path)
    t.sync_port = sync_port
    return t


@pytest.fixture(scope="module")
def node():
    t = keyed_node()
    with t:
        yield t


def settle(node, before):
    """Wait until the node has counted one more packet, whatever its fate."""
    assert wait_for(lambda: sum(livesync_packets(node).values()) > sum(before.values())), before
    return livesync_packets(node)


# ---------------------------------------------------------------- one keyed node, packets signed here

def test_signed_packets_are_applied(node):
    x = h("keyed-v4")
    send(node, signed(OTHER, 0, [record4(x, "10.7.1.1", 6881), record4(x, "10.7.1.2", 6882, SEEDING)]))
    assert wait_for(lambda: scrape(node, x) == {b"complete": 1, b"downloaded": 0, b"incomplete": 1})
    y = h("keyed-v6")
    send(node, signed(OTHER, 1, [record6(y, "2001:db8::77", 7000, SEEDING)]))
    assert wait_for(lambda: scrape(node, y)[b"complete"] == 1)
    send(node, signed(OTHER, 0, [record4(x, "10.7.1.2", 6882, STOPPED)]))
    assert wait_for(lambda: scrape(node, x)[b"complete"] == 0)


def test_forged_unsigned_packet_is_refused_and_counted(node):
    x = h("keyed-forged")
    before = livesync_packets(node)
    send(node, packet(OTHER, 0, [record4(x, "10.7.2.1", 1)]))       # the original's type 0, blessed source
    after = settle(node, before)
    assert after["unsigned"] == before["unsigned"] + 1, (before, after)
    assert after["applied"] == before["applied"]
    assert scrape(node, x)[b"incomplete"] == 0


@pytest.mark.parametrize("where", ["record", "type", "sequence", "tag", "id"])
def test_flipped_bit_is_dropped_and_counted(node, where):
    x = h("keyed-flip-" + where)
    data = bytearray(signed(OTHER, 0, [record4(x, "10.7.3.1", 1)]))
    data[{"record": 16 + 20, "type": 7, "sequence": 15, "tag": len(data) - 3, "id": 0}[where]] ^= 0x01
    before = livesync_packets(node)
    send(node, bytes(data))
    after = settle(node, before)
    if where == "type":     # type 0x6f740001 with an IPv4 record: the tag is checked first all the same
        pass
    assert after["bad_mac"] == before["bad_mac"] + 1, (before, after)
    assert after["applied"] == before["applied"]
    assert scrape(node, x)[b"incomplete"] == 0


@pytest.mark.parametrize("how", ["wrong key", "tag cut off", "no tag", "header only"])
def test_packets_without_a_good_tag_are_dropped(node, how):
    x = h("keyed-bad-" + how)
    good = signed(OTHER, 0, [record4(x, "10.7.4.1", 1)], key=KEY2 if how == "wrong key" else KEY1)
    data = {"wrong key": good, "tag cut off": good[:-3], "no tag": good[:-8], "header only": good[:12]}[how]
    before = livesync_packets(node)
    send(node, data)
    after = settle(node, before)
    assert after["bad_mac"] == before["bad_mac"] + 1, (before, after)
    assert scrape(node, x)[b"incomplete"] == 0


def test_replays_are_dropped_and_counted(node):
    x = h("keyed-replay")
    add = signed(OTHER, 0, [record4(x, "10.7.5.1", 1)])
    send(node, add)
    assert wait_for(lambda: scrape(node, x)[b"incomplete"] == 1)
    send(node, signed(OTHER, 0, [record4(x, "10.7.5.1", 1, STOPPED)]))
    assert wait_for(lambda: scrape(node, x)[b"incomplete"] == 0)
    before = livesync_packets(node)
    send(node, add)                                                  # the captured add, again
    after = settle(node, before)
    assert after["replay"] == before["replay"] + 1, (before, after)
    assert scrape(node, x)[b"incomplete"] == 0


def test_replay_window_takes_late_packets_once(node):
    """Out of order within the window: each packet once; below the window
    or with a time far from ours: never."""
    x = h("keyed-window")
    first, second = next_seq(), next_seq()
    send(node, signed(OTHER, 0, [record4(x, "10.7.6.2", 2)], seq=second))
    assert wait_for(lambda: scrape(node, x)[b"incomplete"] == 1)
    late = signed(OTHER, 0, [record4(x, "10.7.6.1", 1)], seq=first)
    send(node, late)
    assert wait_for(lambda: scrape(node, x)[b"incomplete"] == 2)
    before = livesync_packets(node)
    send(node, late)
    after = settle(node, before)
    assert after["replay"] == before["replay"] + 1
    for i in range(70):                                              # move the window past `first`
        next_seq()
    send(node, signed(OTHER, 0, [record4(x, "10.7.6.3", 3)], seq=next_seq()))
    assert wait_for(lambda: scrape(node, x)[b"incomplete"] == 3)
    y = h("keyed-window-old")
    # below the window; an hour old from a sender never heard; an hour ahead
    for sender, seq in ((OTHER, first + 3), (b"\x09\x09\x09\x09", (int(time.time()) - 3600) << 32),
                        (b"\x0a\x0a\x0a\x0a", (int(time.time()) + 3600) << 32)):
        before = livesync_packets(node)
        send(node, signed(sender, 0, [record4(y, "10.7.6.9", 9)], seq=seq))
        after = settle(node, before)
        assert after["replay"] == before["replay"] + 1, seq
    assert scrape(node, y)[b"incomplete"] == 0


def test_unblessed_sender_is_ignored_even_when_signed(node):
    x = h("keyed-unblessed")
    before = livesync_packets(node)
    send(node, signed(OTHER, 0, [record4(x, "10.7.7.1", 1)]), source="127.0.0.2")
    after = settle(node, before)
    assert after["ignored"] == before["ignored"] + 1
    assert scrape(node, x)[b"incomplete"] == 0


def test_the_key_is_shown_nowhere(node):
    texts = [node.get(path)[2] for path in ("/stats?mode=everything", "/metrics", "/stats?mode=prometheus",
                                            "/stats?mode=version", "/")]
    texts.append(node.stderr().encode())
    assert wait_for(lambda: os.path.exists(node.path("state/state.txt")))
    with open(node.path("state/state.txt"), "rb") as f:
        texts.append(f.read())
    for text in texts:
        assert KEY1.hex().encode() not in text and KEY1 not in text


def test_accept_unsigned_takes_the_originals_packets():
    """The migration window: C nodes' packets taken, signed ones too."""
    t = keyed_node(extra=["livesync.cluster.accept_unsigned on"])
    with t:
        x = h("keyed-migration")
        send(t, packet(OTHER, 0, [record4(x, "10.7.8.1", 1)]))
        send(t, signed(OTHER, 0, [record4(x, "10.7.8.2", 2)]))
        assert wait_for(lambda: scrape(t, x)[b"incomplete"] == 2)
        assert livesync_packets(t)["unsigned"] == 0


def test_reload_takes_the_new_key_and_the_old_one_for_one_send_interval():
    t = keyed_node()
    with t:
        x = h("keyed-rotation")
        key_file(t.dir, KEY2)
        t.signal(signal.SIGHUP)
        assert wait_for(lambda: send(t, signed(OTHER, 0, [record4(x, "10.7.9.1", 1)], key=KEY2))
                        or scrape(t, x)[b"incomplete"] == 1)                # once the reload is through
        send(t, signed(OTHER, 0, [record4(x, "10.7.9.2", 2)], key=KEY1))       # in flight: still taken
        assert wait_for(lambda: scrape(t, x)[b"incomplete"] == 2)
        time.sleep(2.5)                                                      # the send interval is 1 s
        before = livesync_packets(t)
        send(t, signed(OTHER, 0, [record4(x, "10.7.9.3", 3)], key=KEY1))
        after = settle(t, before)
        assert after["bad_mac"] == before["bad_mac"] + 1, (before, after)
        send(t, signed(OTHER, 0, [record4(x, "10.7.9.4", 4)], key=KEY2))
        assert wait_for(lambda: scrape(t, x)[b"incomplete"] == 3)
        # a file that cannot be used keeps the key in use
        with open(t.key_path, "w"):
            pass
        t.signal(signal.SIGHUP)
        assert wait_for(lambda: "not reloaded" in t.stderr())
        send(t, signed(OTHER, 0, [record4(x, "10.7.9.5", 5)], key=KEY2))
        assert wait_for(lambda: scrape(t, x)[b"incomplete"] == 4)
        assert KEY2.hex() not in t.stderr()


def test_replay_table_is_counted_in_the_budget():
    """The senders' table: 64 slots of 32 bytes, in mem_other (the buffers'
    share of /metrics) from the first key on, once."""
    srv = core.Server()
    srv.configure()

    def buffers():
        body = srv.answer_http(b"GET /metrics HTTP/1.0\r\n\r\n", "127.0.0.1").decode()
        return int(body.split('opentracker_memory_bytes{use="buffers"} ')[1].split()[0])

    before = buffers()
    srv.set_livesync_key(KEY1)
    assert buffers() == before + 2048
    srv.set_livesync_key(KEY2)
    assert buffers() == before + 2048
    del srv


# ---------------------------------------------------------------- the key file

def check_config(tmp_path, key_text):
    conf = tmp_path / "ot.conf"
    lines = ["livesync.cluster.listen 127.0.0.1"]
    if key_text is not None:
        (tmp_path / "k").write_text(key_text)
    lines.append("livesync.cluster.key %s" % (tmp_path / "k"))
    conf.write_text("\n".join(lines) + "\n")
    return subprocess.run([sys.executable, "-m", "opentracker", "--check-config", "-f", str(conf)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=package_path()))


@pytest.mark.parametrize("text, reason", [("", "is empty"), ("\n  \n", "is empty"), (None, "cannot be read"),
                                          ("0123", "32 hexadecimal digits"),
                                          ("zz" * 16, "32 hexadecimal digits")])
def test_check_config_refuses_a_bad_key_file(tmp_path, text, reason):
    r = check_config(tmp_path, text)
    assert r.returncode == 1, r
    assert "ot.conf:2" in r.stderr and str(tmp_path / "k") in r.stderr and reason in r.stderr, r.stderr
    if text and text.strip():
        assert text.strip() not in r.stderr


def test_check_config_takes_a_good_key_file(tmp_path):
    r = check_config(tmp_path, KEY1.hex() + "\n")
    assert r.returncode == 0, r.stderr
    assert KEY1.hex() not in r.stderr + r.stdout


def test_unreadable_key_file_stops_start_up(tmp_path):
    t = keyed_node()
    os.unlink(t.key_path)
    t.start(wait=False)
    assert t.proc.wait(timeout=20) != 0
    assert "livesync.cluster.key" in t.stderr() and t.key_path in t.stderr()
    t.close()


# ---------------------------------------------------------------- two keyed nodes in network namespaces

cluster = pytest.mark.skipif(not netns.available(), reason="needs root and iproute2 to make network namespaces "
                                                            "for the cluster's multicast")


def start_keyed_cluster(lan, key=KEY1):
    nodes = []
    for host, addr, other in zip(lan.hosts, lan.addresses, reversed(lan.addresses)):
        t = Tracker(config=["livesync.cluster.listen %s:9696" % addr, "livesync.cluster.send_interval 1",
                            "livesync.cluster.node_ip %s" % other], netns=host)
        t.key_path = key_file(t.dir, key)
        t.add_config("livesync.cluster.key %s" % t.key_path)
        t.addr = addr
        nodes.append(t.start())
    return nodes


def announce(t, info_hash, port, query="left=1"):
    t.get("/announce?info_hash=%s&port=%d&%s" % (quote_from_bytes(info_hash), port, query))


@cluster
def test_two_keyed_nodes_share_swarms_both_ways_and_replays_are_dropped():
    x, y = h("keyed-cluster-x"), h("keyed-cluster-y")
    with netns.Lan(2) as lan:
        a, b = start_keyed_cluster(lan)
        try:
            sniff = sniffer(lan, 1)                                   # in B's namespace: hears A
            announce(a, x, 5101)
            assert wait_for(lambda: scrape(b, x)[b"incomplete"] == 1)
            announce(b, y, 5102, "left=0")
            assert wait_for(lambda: scrape(a, y)[b"complete"] == 1)
            assert (bytes([127, 0, 0, 1]), 5101) in peers_of(b, x)
            captured = [d for src, d in drain(sniff, 1.5) if src == lan.addresses[0] and x in d]
            sniff.close()
            assert captured, "A sent nothing B could hear"
            d = captured[0]
            assert struct.unpack(">I", d[4:8])[0] == KEYED and (len(d) - 24) % 28 == 0
            assert siphash24(KEY1, d[:-8]) == d[-8:]
            # A's peer stops; the captured add, sent again from A's address, changes nothing
            announce(a, x, 5101, "event=stopped")
            assert wait_for(lambda: scrape(b, x)[b"incomplete"] == 0)
            before = livesync_packets(b)
            with netns.entered(lan.hosts[0]):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with s:
                s.bind((lan.addresses[0], 0))
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(lan.addresses[0]))
                s.sendto(d, ("224.0.23.5", 9696))
            assert wait_for(lambda: livesync_packets(b)["replay"] == before["replay"] + 1)
            assert scrape(b, x)[b"incomplete"] == 0
        finally:
            for t in (a, b):
                t.close()


@cluster
def test_key_rotation_keeps_the_cluster_in_sync():
    with netns.Lan(2) as lan:
        a, b = start_keyed_cluster(lan)
        try:
            x = h("keyed-rotate-before")
            announce(a, x, 5201)
            assert wait_for(lambda: scrape(b, x)[b"incomplete"] == 1)
            for t in (a, b):
                key_file(t.dir, KEY2)
                t.signal(signal.SIGHUP)
            time.sleep(0.5)
            for i, (src, dst) in enumerate(((a, b), (b, a))):
                y = h("keyed-rotate-after-%d" % i)
                announce(src, y, 5210 + i)
                assert wait_for(lambda: scrape(dst, y)[b"incomplete"] == 1)
            time.sleep(2.5)                                           # the old key is gone by now
            z = h("keyed-rotate-later")
            announce(b, z, 5220)
            assert wait_for(lambda: scrape(a, z)[b"incomplete"] == 1)
            assert livesync_packets(a)["bad_mac"] == 0 and livesync_packets(b)["bad_mac"] == 0
        finally:
            for t in (a, b):
                t.close()

