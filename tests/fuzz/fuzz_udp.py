"""Fuzz the UDP dispatcher (BEP 15 as docs/compatibility.md, UDP gives it) against a
model of what each datagram must get.

Input: one setup byte (common.new_server), then up to 8 parts separated by
common.SEP. Each part is a control byte and a datagram:
  bits 0-2  the client (common.CLIENTS)
  bit 3     put a valid connection id for that client over bytes 0-7
            (the fuzzer cannot forge one: it is a keyed hash)
  bits 4-5  move the clock first: 0, +10 min, +1 h, +2 h (ids expire)
  bit 6     with bit 3: reuse the last id handed out in this input instead
            of connecting anew (from another client, or after the clock
            moved, it must be refused)

The model knows every connection id the tracker has handed out in this
input and when, so it predicts exactly: silence (short, unknown action,
wrong protocol id, short announce), the mismatch error, a connect reply
with a fresh id, the access refusal's bare header, announce and scrape
replies whose counts are the store's (after the request) and whose peers
are whole, or the rate-limit and memory-budget errors where limits are
configured. The store's
counters must agree with its contents after each datagram, and the core
must give back every block after the input.

    python tests/fuzz/fuzz_udp.py -max_total_time=600
"""

import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

PROTOCOL_ID = 0x41727101980
IN_MAX = 2048            # the loop reads at most this much of a datagram
WINDOW = 3600            # connection id window (the default)
MISMATCH = b"Connection ID missmatch.\0"
STEPS = (0, 600, 3600, 7200)


def addr16(client):
    if ":" in client:
        return socket.inet_pton(socket.AF_INET6, client)
    return b"\0" * 10 + b"\xff\xff" + socket.inet_aton(client)


def counts(store, info_hash):
    """(seeders, leechers, completed) as stored now; zeros when unknown."""
    for h, seeders, leechers, completed, _ in store.torrents():
        if h == info_hash:
            return seeders, leechers, completed
    return 0, 0, 0


def connect(srv, client):
    reply = srv.answer_udp(struct.pack(">QII", PROTOCOL_ID, 0, 0x5EED), client)
    assert len(reply) == 16 and reply[:8] == struct.pack(">II", 0, 0x5EED), reply
    return reply[8:]


def one_input(data):
    if not data:
        return
    setup = data[0]
    rate_limited = common.limited(setup)
    with common.no_leaks():
        srv = common.new_server(setup)
        issued = {}      # connection id -> (16-byte address, window it was made in)
        last = None
        for part in common.split(data[1:]):
            if not part:
                continue
            control, packet = part[0], part[1:]
            client = common.CLIENTS[control & 7]
            addr = addr16(client)
            step = STEPS[(control >> 4) & 3]
            if step:
                srv.clock_offset += step
            if control & 8 and len(packet) >= 8:
                if not (control & 64 and last):
                    last = connect(srv, client)
                    issued[last] = (addr, srv.now // WINDOW)
                packet = last + packet[8:]
            reply = srv.answer_udp(packet, client)
            check_reply(srv, issued, addr, packet[:IN_MAX], reply, rate_limited)
            if len(reply) == 16 and reply[:4] == b"\0\0\0\0":
                last = reply[8:]
            common.check_store(srv.store)
        common.expire(srv)
        del srv


def check_reply(srv, issued, addr, pkt, reply, rate_limited):
    n = len(pkt)
    if n < 16:
        assert reply == b"", reply
        return
    action = struct.unpack(">I", pkt[8:12])[0]
    tid = pkt[12:16]
    if action > 2:
        assert reply == b"", reply
        return
    if action == 0:
        if struct.unpack(">Q", pkt[:8])[0] != PROTOCOL_ID:
            assert reply == b"", reply
            return
        assert len(reply) == 16 and reply[:4] == b"\0\0\0\0" and reply[4:8] == tid, reply
        issued[reply[8:]] = (addr, srv.now // WINDOW)
        return
    made = issued.get(pkt[:8])
    valid = made is not None and made[0] == addr and srv.now // WINDOW - made[1] in (0, 1)
    if not valid:
        assert reply == struct.pack(">I", 3) + tid + MISMATCH, reply
        return
    if action == 1 and n < 98:
        assert reply == b"", reply
        return
    if rate_limited and reply[:4] == b"\0\0\0\x03":
        # Refused for the rate, or (announces only) for the memory budget.
        assert reply in (struct.pack(">I", 3) + tid + common.RATE_REFUSAL,
                         struct.pack(">I", 3) + tid + common.MEMORY_REFUSAL), reply
        assert action == 1 or common.MEMORY_REFUSAL not in reply, reply
        return
    assert reply[4:8] == tid, reply
    if action == 1:
        check_announce(srv, addr, pkt, reply, rate_limited)
    else:
        check_scrape(srv, pkt, reply)


def check_announce(srv, addr, pkt, reply, limited):
    info_hash = pkt[16:36]
    event, numwant, port = struct.unpack(">I8xIH", pkt[80:98])
    v4 = addr[:12] == b"\0" * 10 + b"\xff\xff"
    peer = (addr[12:] if v4 else addr, port)
    stored = {(p[0], p[1]): p[2] for p in srv.store.peers(info_hash)}
    if event != 3 and not srv.allows(info_hash):
        assert reply == b"\0\0\0\x01" + pkt[12:16], reply      # the original's bare header
        assert peer not in stored
        return
    assert reply[:4] == b"\0\0\0\x01" and len(reply) >= 20, reply
    interval, leechers, seeders = struct.unpack(">III", reply[8:20])
    assert 1620 <= interval <= 1979, interval
    expected = counts(srv.store, info_hash)
    assert (seeders, leechers) == expected[:2], (seeders, leechers, expected)
    size = 6 if v4 else 18
    body = reply[20:]
    assert len(body) % size == 0, len(body)
    if event == 3:
        assert body == b"" and peer not in stored, (body, stored)
        return
    if limited and peer not in stored:
        common.check_unstored(srv)
        return
    assert peer in stored, (peer, stored)
    seeding = pkt[64:72] == b"\0" * 8
    assert bool(stored[peer] & 0x80) == seeding, (stored[peer], seeding)
    family = sum(len(a) == len(peer[0]) for a, _ in stored)
    assert len(body) // size == min(numwant, 200 if v4 else 66, family), (len(body), numwant, family)
    for i in range(0, len(body), size):
        assert (body[i:i + size - 2], struct.unpack(">H", body[i + size - 2:i + size])[0]) in stored


def check_scrape(srv, pkt, reply):
    n = len(pkt)
    full = (n - 16) // 20
    count = min((n - 16 + 19) // 20, 75)
    assert reply[:4] == b"\0\0\0\x02" and len(reply) == 8 + 12 * count, (len(reply), count)
    for i in range(count):
        got = struct.unpack(">III", reply[8 + 12 * i:20 + 12 * i])
        if i < full:
            seeders, leechers, completed = counts(srv.store, pkt[16 + 20 * i:36 + 20 * i])
            assert got == (seeders, completed, leechers), (i, got)
        else:
            assert got == (0, 0, 0), got      # a trailing partial hash answers zeros


# ---------------------------------------------------------------- grammar (hypothesis)

def inputs():
    """Hypothesis strategy: sequences of connects, announces, scrapes and
    junk, with and without valid ids and clock steps; raw bytes; mutated
    seed files."""
    from hypothesis import strategies as st

    u32 = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2, 3, 200, 201, 2**32 - 1]))
    info_hash = st.one_of(st.sampled_from(common.H), st.binary(min_size=20, max_size=20))
    connect_pkt = st.builds(lambda pid, tid, extra: struct.pack(">QII", pid, 0, tid) + extra,
                            st.sampled_from([PROTOCOL_ID, PROTOCOL_ID, 0, PROTOCOL_ID + 1]), u32,
                            st.binary(max_size=4))
    announce_pkt = st.builds(
        lambda tid, h, left, event, numwant, port, extra, cut: (
            struct.pack(">QII", 0, 1, tid) + h + b"-XX0001-000000000000"
            + struct.pack(">QQQIIIiH", 0, left, 0, event, 0, 0, numwant, port) + extra)[:cut],
        u32, info_hash, st.sampled_from([0, 0, 1, 2**64 - 1, 2**63]), st.sampled_from([0, 1, 2, 3, 4, 2**32 - 1]),
        st.sampled_from([0, 1, 5, 50, 66, 67, 200, 201, -1]), st.integers(0, 65535),
        st.binary(max_size=12), st.sampled_from([200, 200, 200, 97, 98, 50]))
    scrape_pkt = st.builds(lambda tid, hashes, tail: struct.pack(">QII", 0, 2, tid) + b"".join(hashes) + tail,
                           u32, st.lists(info_hash, max_size=80), st.binary(max_size=19))
    junk = st.binary(max_size=120)
    part = st.builds(lambda control, pkt: bytes([control]) + pkt,
                     st.integers(0, 255), st.one_of(connect_pkt, announce_pkt, announce_pkt, scrape_pkt, junk))
    many = st.builds(lambda setup, parts: bytes([setup]) + common.SEP.join(parts),
                     st.integers(0, 255), st.lists(part, min_size=1, max_size=6))
    return st.one_of(many, many, many, st.binary(max_size=200), common.mutated(common.seeds("udp")))


if __name__ == "__main__":
    common.main(one_input, "udp")
