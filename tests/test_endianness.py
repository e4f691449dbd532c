"""Byte order on the wire, byte for byte: compact peers (HTTP `peers`/`peers6`,
UDP peer lists), the BEP 15 reply fields, and the peer order the store keeps.

Every expectation is written out as literal bytes, never computed with the
host's own struct packing, and every multi-byte value has distinct bytes
(0x01020304, 0x89ABCDEF, ports 0x1A2B and 0x0102 versus 0x0201), so a swap of
any two bytes changes the result. On a little-endian host these tests catch a
field stored in native order; crossbuild/ runs them on big-endian MIPS too,
where native order *is* network order and a missing conversion on the read
side shows instead. OT_EXPECT_BYTEORDER / OT_EXPECT_BITS (set by
crossbuild/test-qemu.sh) make the run prove it happened on the intended target.
"""

import os
import struct
import sys

import pytest

from helpers.testcore import core
from helpers.reference import bdecode

Store = core.Store

T0 = 1_700_000_020 // 60 * 60
H = bytes(range(1, 21))
H2 = bytes(range(101, 121))


@pytest.fixture
def store():
    return Store(seed=3, now=T0)


def chunks(raw, size):
    assert len(raw) % size == 0, raw
    return [raw[i:i + size] for i in range(0, len(raw), size)]


def test_run_on_the_intended_target():
    want = os.environ.get("OT_EXPECT_BYTEORDER")
    if want is None:
        pytest.skip("not under crossbuild/test-qemu.sh")
    assert sys.byteorder == want
    assert 8 * struct.calcsize("P") == int(os.environ["OT_EXPECT_BITS"])


# ---------------------------------------------------------------- compact peers

def test_compact_ipv4_peer_is_address_then_port_big_endian(store):
    reply = bdecode(store.announce_http(H, "1.2.3.4", 0x1A2B))
    assert reply[b"peers"] == b"\x01\x02\x03\x04\x1a\x2b"
    assert store.peers(H) == [(b"\x01\x02\x03\x04", 0x1A2B, 0, 0)]


def test_byte_swapped_ports_are_two_peers_in_wire_order(store):
    store.announce_http(H, "10.0.0.1", 0x0201)
    raw = store.announce_http(H, "10.0.0.1", 0x0102)
    peers = bdecode(raw)[b"peers"]
    # Both are leechers: stored (and so listed) in ascending wire order.
    assert peers == b"\x0a\x00\x00\x01\x01\x02" b"\x0a\x00\x00\x01\x02\x01"
    assert [p[1] for p in store.peers(H)] == [0x0102, 0x0201]


def test_peer_list_is_sorted_by_network_order_bytes(store):
    # Pairs whose order flips when the address is read as a little-endian
    # integer: 1.0.0.2 < 2.0.0.1 on the wire, 0x02000001 > 0x01000002 natively.
    addrs = ["2.0.0.1", "1.0.0.2", "10.0.1.0", "10.0.0.255", "255.0.0.1", "0.255.255.254",
             "9.255.255.255", "128.0.0.0", "127.255.255.255"]
    for a in addrs:
        raw = store.announce_http(H, a, 0x1AE1)
    wire = sorted(bytes(int(x) for x in a.split(".")) + b"\x1a\xe1" for a in addrs)
    assert wire[0] == b"\x00\xff\xff\xfe\x1a\xe1" and wire[-1] == b"\xff\x00\x00\x01\x1a\xe1"
    assert chunks(bdecode(raw)[b"peers"], 6) == wire
    assert [p[0] + bytes([p[1] >> 8, p[1] & 0xFF]) for p in store.peers(H)] == wire


def test_compact_ipv6_peer(store):
    raw = store.announce_http(H, "2001:db8::102:304", 0xABCD)
    reply = bdecode(raw)
    assert reply[b"peers"] == b""
    assert reply[b"peers6"] == (b"\x20\x01\x0d\xb8" + b"\x00" * 8 + b"\x01\x02\x03\x04" + b"\xab\xcd")
    assert raw.endswith(b"5:peers0:6:peers618:" + reply[b"peers6"] + b"e")


def test_ipv4_mapped_address_is_stored_as_ipv4(store):
    reply = bdecode(store.announce_http(H, "::ffff:1.2.3.4", 0x0102))
    assert reply[b"peers"] == b"\x01\x02\x03\x04\x01\x02"
    assert b"peers6" not in reply


def test_http_counters_are_decimal_of_the_whole_word(store):
    store.restore(H, T0 // 60, 0x01020304)
    reply = store.announce_http(H, "1.2.3.4", 1)
    assert b"10:downloadedi16909060e" in reply
    assert store.scrape_http([H]) == (b"d5:filesd20:" + H +
                                      b"d8:completei0e10:downloadedi16909060e10:incompletei1eeee")


# ---------------------------------------------------------------- UDP (BEP 15)

def test_udp_announce_reply_bytes(store):
    # Three leechers and two seeders: leechers come first in stored order,
    # seeders from the back (reverse order), as in the C original.
    store.announce_udp(H, "192.168.1.3", 0x0102)
    store.announce_udp(H, "192.168.1.1", 0x0304)
    store.announce_udp(H, "200.1.2.3", 0x1A2B, seeder=True)
    store.announce_udp(H, "100.1.2.3", 0xFFFE, seeder=True)
    raw = store.announce_udp(H, "192.168.1.2", 0x0506, numwant=50, transaction_id=0x89ABCDEF)
    assert raw[0:4] == b"\x00\x00\x00\x01"          # action: announce
    assert raw[4:8] == b"\x89\xab\xcd\xef"          # transaction id echoed as sent
    assert raw[8:10] == b"\x00\x00"                 # interval 1620..1979 fits 16 bits
    assert 1620 <= raw[10] * 256 + raw[11] <= 1979
    assert raw[12:16] == b"\x00\x00\x00\x03"        # leechers
    assert raw[16:20] == b"\x00\x00\x00\x02"        # seeders
    assert raw[20:] == (b"\xc0\xa8\x01\x01\x03\x04" b"\xc0\xa8\x01\x02\x05\x06" b"\xc0\xa8\x01\x03\x01\x02"
                        b"\xc8\x01\x02\x03\x1a\x2b" b"\x64\x01\x02\x03\xff\xfe")


def test_udp_counts_above_one_byte(store):
    for n in range(258):
        store.announce_udp(H, bytes([10, 0, n >> 8, n & 0xFF]), 6881)
    raw = store.announce_udp(H, "10.0.1.1", 6881, numwant=0, transaction_id=0x01020304)
    assert raw[12:20] == b"\x00\x00\x01\x02" b"\x00\x00\x00\x00"  # 258 leechers, 0 seeders
    assert raw[:8] == b"\x00\x00\x00\x01\x01\x02\x03\x04"
    assert len(raw) == 20


def test_udp_announce_ipv6_peers_are_18_bytes(store):
    store.announce_udp(H, "1.2.3.4", 1)                      # other family: not in a v6 reply
    store.announce_udp(H, "2001:db8::1", 0x0102)
    raw = store.announce_udp(H, "2001:db8::2", 0x0304, transaction_id=7)
    assert raw[12:20] == b"\x00\x00\x00\x03\x00\x00\x00\x00"  # counts cover both families
    assert chunks(raw[20:], 18) == [b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x01\x01\x02",
                                    b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x02\x03\x04"]


def test_udp_stopped_reply(store):
    store.announce_udp(H, "1.2.3.4", 1, seeder=True)
    store.announce_udp(H, "1.2.3.5", 1)
    raw = store.announce_udp(H, "1.2.3.5", 1, event=3, transaction_id=0xFEDCBA98)
    assert len(raw) == 20
    assert raw[:8] == b"\x00\x00\x00\x01\xfe\xdc\xba\x98"
    assert raw[12:] == b"\x00\x00\x00\x00\x00\x00\x00\x01"


def test_udp_scrape_reply_bytes(store):
    store.restore(H2, T0 // 60, 0x01020304)
    for n in range(3):
        store.announce_udp(H, bytes([10, 0, 0, n]), 1, seeder=(n == 0))
    raw = store.scrape_udp([H, b"\x55" * 20, H2], transaction_id=0xA1B2C3D4)
    assert raw == (b"\x00\x00\x00\x02" b"\xa1\xb2\xc3\xd4"
                   b"\x00\x00\x00\x01" b"\x00\x00\x00\x00" b"\x00\x00\x00\x02"    # H: 1 seeder, 2 leechers
                   b"\x00\x00\x00\x00" b"\x00\x00\x00\x00" b"\x00\x00\x00\x00"    # unknown
                   b"\x00\x00\x00\x00" b"\x01\x02\x03\x04" b"\x00\x00\x00\x00")   # H2: completed 0x01020304
