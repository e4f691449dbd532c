"""Byte-exact bodies as the C original writes them (docs/compatibility.md: HTTP
announce, stopped, scrape and failure bodies; UDP replies)."""

import hashlib
import re
import struct

from helpers.testcore import core

Store, failure_body = core.Store, core.failure_body

T0 = 1_700_000_020 // 60 * 60
H = hashlib.sha1(b"t1").digest()


def test_failure_bodies_exact():
    assert failure_body(b"Your client forgot to send your torrent's info_hash. Please upgrade your client.") == (
        b"d14:failure reason80:Your client forgot to send your torrent's info_hash. Please upgrade your client.e")
    assert failure_body(b"Requested download is not authorized for use with this tracker.") == (
        b"d14:failure reason63:Requested download is not authorized for use with this tracker.e")
    assert failure_body(b"") == b"d14:failure reason0:e"


def test_announce_body_exact_bytes():
    s = Store(seed=1, now=T0)
    s.announce_http(H, "127.0.0.2", 0x1234, seeder=True, completed=True)
    raw = s.announce_http(H, "127.0.0.1", 6881)
    m = re.fullmatch(rb"d8:completei1e10:downloadedi1e10:incompletei1e8:intervali(\d+)e"
                     rb"12:min intervali(\d+)e5:peers12:(.{12})e", raw, re.S)
    assert m, raw
    assert int(m.group(2)) == int(m.group(1)) // 2
    assert m.group(3) == bytes([127, 0, 0, 1, 0x1A, 0xE1, 127, 0, 0, 2, 0x12, 0x34])


def test_stopped_body_exact_bytes():
    s = Store(seed=1, now=T0)
    raw = s.stop_http(H, "127.0.0.1", 1)
    assert re.fullmatch(rb"d8:completei0e10:incompletei0e8:intervali\d{4}e12:min intervali\d{3}e5:peers0:e", raw)


def test_scrape_body_exact_bytes():
    s = Store(seed=1, now=T0)
    s.announce_http(H, "127.0.0.1", 1, seeder=True, completed=True)
    s.announce_http(H, "127.0.0.2", 1)
    assert s.scrape_http([H]) == (b"d5:filesd20:" + H + b"d8:completei1e10:downloadedi1e10:incompletei1eeee")
    assert s.scrape_http([b"\x07" * 20]) == b"d5:filesdee"


def test_large_counters_print_in_full():
    s = Store(seed=1, now=T0)
    s.restore(H, T0 // 60, 4294967295)
    assert b"10:downloadedi4294967295e" in s.scrape_http([H])


def test_udp_reply_byte_layout():
    s = Store(seed=1, now=T0)
    raw = s.announce_udp(H, "127.0.0.1", 0xBEEF, numwant=10, transaction_id=0x01020304)
    assert raw[:8] == bytes.fromhex("00000001" "01020304")
    assert raw[12:20] == struct.pack(">II", 1, 0)
    assert raw[20:] == bytes([127, 0, 0, 1, 0xBE, 0xEF])
