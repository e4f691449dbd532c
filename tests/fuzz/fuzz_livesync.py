"""Fuzz the live-sync sender (docs/compatibility.md, live sync) against a model of the
datagrams it must produce.

A server with live sync on sends to a UDP socket of this process on
loopback. The input is a setup byte, then operations of two bytes each
(an operation byte and an argument), at most MAX_OPS of them:

  op bits 0-2  0-2 announce as a leecher, 3 announce as a seeder,
               4 announce a completion (left=0, event=completed), 5 stop,
               6 a tick of the loop after some seconds (argument < 128:
               0-3 s, else the send interval and more), 7 move the wall
               clock 11-20 minutes on (at most twice: peers re-announcing
               after that are renewals, none expires)
  op bit 3     the peer is IPv6 (else IPv4)
  argument     which peer (address, port and torrent follow from it)

The model knows every peer it announced, whether its completion counted
and how old it is, so it predicts every record the cluster must hear (new
peers, renewals after more than 10 minutes, fresh completions, every
stop) and when each datagram must leave: as soon as it cannot take one
more record of its family (52 IPv4 or 36 IPv6 records), at a tick once
the oldest queued record has waited the send interval, and at shutdown.
Each datagram must be at most 1480 bytes, carry the tracker's id and
its family's type, and hold exactly the records the model queued, in
order. The core must give back every block after the input.

Keyed live sync (docs/cluster-keys.md). Setup bit 6: the sender has a
cluster key; every datagram must then carry the keyed type, a sequence
above the last and a right SipHash-2-4 tag, around the same records.
Setup bit 7: the keyed parser instead. The rest of the input is datagrams
(common.SEP between them) sent to a keyed server's cluster socket from a
blessed address (setup bit 0: accept_unsigned on). A datagram's first byte
says what it becomes (bits 0-1): 0 its other bytes as they are, 1 signed
right with a fresh sequence, 2 signed with another key, 3 the last signed
one again; bit 2 the family of a signed one. The model predicts the fate
of each (applied, bad, bad_mac, replay, unsigned, ignored) and the records
applied, exactly.

    python tests/fuzz/fuzz_livesync.py -max_total_time=600
"""

import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

MAX_OPS = 400
SEND_INTERVAL = 1000          # seconds; small ticks never add up to it
DATAGRAM_MAX = 1480
HEADER = 8
RECORD = (28, 40)             # IPv4, IPv6
CAPACITY = tuple((DATAGRAM_MAX - HEADER) // r for r in RECORD)   # 52, 36
SEEDING, COMPLETED, STOPPED = 0x80, 0x40, 0x20
KEY, OTHER_KEY = bytes(range(16)), bytes(range(16, 32))
KEYED = 0x6F740000
KEYED_HEADER, TAG = 16, 8
KEYED_SENDER, KEYED_PARSER = 0x40, 0x80
RENEW_MINUTES = 10            # a re-announce older than this is news
MAX_JUMPS = 2                 # 2 x 20 minutes + 1 stays below the 45-minute timeout


def peer_of(family, arg):
    """(client address text, 16- or 4-byte address, port, info_hash)."""
    port = 1024 + arg
    info_hash = common.H[arg & 3]
    if family:
        text = "2001:db8::%x:%x" % (arg >> 4, arg & 15)
        return text, socket.inet_pton(socket.AF_INET6, text), port, info_hash
    text = "10.9.%d.%d" % (arg >> 4, (arg & 15) + 1)
    return text, socket.inet_aton(text), port, info_hash


def record(info_hash, raw, port, flags):
    return info_hash + raw + struct.pack(">HBB", port, flags, 0)


class Cluster:
    """The socket standing for the cluster, and what it has heard."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.port = self.sock.getsockname()[1]

    def take(self, expected):
        """The datagrams that arrived: exactly `expected` of them (waiting
        up to 0.5 s for each), then none more."""
        got = []
        for _ in range(expected):
            if not select.select([self.sock], [], [], 0.5)[0]:
                break
            got.append(self.sock.recv(65536))
        while select.select([self.sock], [], [], 0)[0]:
            got.append(self.sock.recv(65536))
        assert len(got) == expected, "expected %d datagrams, got %d" % (expected, len(got))
        return got

    def close(self):
        self.sock.close()


def new_server(setup, cluster):
    srv = common.core.Server(seed=setup + 1)
    srv.configure()
    inbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.set_livesync(inbound.detach(), outbound.detach(), "127.0.0.1", cluster.port, SEND_INTERVAL)
    if setup & KEYED_SENDER:
        srv.set_livesync_key(KEY)
    return srv


def one_input(data):
    if not data:
        return
    if data[0] & KEYED_PARSER:
        return receive(data[0], data[1:])
    setup, ops = data[0], data[1:1 + 2 * MAX_OPS]
    cluster = Cluster()
    try:
        with common.no_leaks():
            srv = new_server(setup, cluster)
            run(srv, cluster, ops, keyed=bool(setup & KEYED_SENDER))
            del srv
    finally:
        cluster.close()


def run(srv, cluster, ops, keyed=False):
    tracker_id = struct.pack("=I", srv.tracker_id)
    last_seq = [0]
    peers = {}                  # (family, raw, port, hash) -> [age in minutes, completion counted]
    queued = ([], [])           # records the model expects in the next datagram, per family
    waited = [0, 0]             # seconds since the family's last flush
    jumps = 0

    def check(datagram, family):
        assert len(datagram) <= DATAGRAM_MAX, len(datagram)
        assert datagram[:4] == tracker_id, datagram[:8]
        if keyed:
            assert struct.unpack(">I", datagram[4:8])[0] == KEYED + family, datagram[:8]
            seq = struct.unpack(">Q", datagram[8:16])[0]
            assert seq > last_seq[0], (seq, last_seq[0])
            last_seq[0] = seq
            assert common.core.siphash24_tag(KEY, datagram[:-TAG]) == datagram[-TAG:], "bad tag"
            datagram = datagram[:4] + struct.pack(">I", family) + datagram[KEYED_HEADER:-TAG]
        assert struct.unpack(">I", datagram[4:8])[0] == family, datagram[:8]
        body = datagram[HEADER:]
        assert body and len(body) % RECORD[family] == 0, len(datagram)
        want = b"".join(queued[family])
        assert body == want, "family %d: sent %d bytes, model queued %d" % (family, len(body), len(want))
        del queued[family][:]
        waited[family] = 0

    def expect(families):
        got = cluster.take(len(families))
        for datagram, family in zip(got, families):
            check(datagram, family)

    for i in range(0, len(ops) - 1, 2):
        op, arg = ops[i], ops[i + 1]
        kind, family = op & 7, (op >> 3) & 1
        if kind == 6:
            elapsed = arg & 3 if arg < 128 else SEND_INTERVAL + (arg - 128)
            waited[0] += elapsed
            waited[1] += elapsed
            srv.livesync_tick(elapsed)
            expect([f for f in (0, 1) if queued[f] and waited[f] >= SEND_INTERVAL])
            continue
        if kind == 7:
            if jumps < MAX_JUMPS:
                jumps += 1
                minutes = 11 + arg % 10
                srv.clock_offset += minutes * 60
                for state in peers.values():
                    state[0] += minutes
            continue
        text, raw, port, info_hash = peer_of(family, arg)
        key = (family, raw, port, info_hash)
        query = "info_hash=%s&port=%d" % (common.pct(info_hash).decode(), port)
        if kind == 5:
            query += "&event=stopped"
            peers.pop(key, None)
            news = STOPPED
        else:
            seeding = kind >= 3
            completing = kind == 4
            query += "&left=%d" % (0 if seeding else 1)
            if completing:
                query += "&event=completed"
            flags = (SEEDING if seeding else 0) | (COMPLETED if completing else 0)
            state = peers.get(key)
            if state is None:
                peers[key] = [0, completing]
                news = flags
            else:
                fresh_completion = completing and not state[1]
                news = flags if fresh_completion or state[0] > RENEW_MINUTES else None
                state[0] = 0
                state[1] = state[1] or completing
        reply = srv.answer_http(("GET /announce?%s HTTP/1.0\r\n\r\n" % query).encode(), text)
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and b"failure reason" not in reply, reply[:200]
        if news is not None:
            queued[family].append(record(info_hash, raw, port, news))
        expect([family] if len(queued[family]) == CAPACITY[family] else [])
        common.check_store(srv.store)
    # Shutdown: whatever is queued goes out, IPv4 first.
    srv.flush_livesync()
    expect([f for f in (0, 1) if queued[f]])
    counters = srv.livesync_counters()
    assert counters["records_sent"] >= 0 and counters["packets_bad"] == 0, counters


# ---------------------------------------------------------------- the keyed parser

V4_MAPPED_LOOPBACK = bytes(10) + b"\xff\xff" + bytes([127, 0, 0, 1])
PERM_SYNC = 4
SENDER = b"\x01\x02\x03\x04"


def receive(setup, body):
    parts = common.split(body)
    inbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inbound.bind(("127.0.0.1", 0))
    port = inbound.getsockname()[1]
    sink = Cluster()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    try:
        with common.no_leaks():
            srv = common.core.Server(seed=setup + 1)
            srv.configure()
            outbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            srv.set_livesync(inbound.detach(), outbound.detach(), "127.0.0.1", sink.port, SEND_INTERVAL)
            srv.set_networks([(V4_MAPPED_LOOPBACK, 128, PERM_SYNC)])
            srv.set_livesync_key(KEY, bool(setup & 1))
            apply_parts(srv, sender, port, parts, bool(setup & 1))
            del srv
    finally:
        inbound.close()
        sender.close()
        sink.close()


def predict_records(n, header, rec, fate):
    """An authentic packet of n bytes whose records start at header: its
    fate and the records applied (the original's rule for a cut-off one)."""
    whole, stub = divmod(n - header, rec)
    if stub:
        fate["bad"] += 1
    if whole:
        fate["applied"] += 1
    return whole


def apply_parts(srv, sender, port, parts, accept_unsigned):
    own = struct.pack("=I", srv.tracker_id)
    sender_id = SENDER if SENDER != own else b"\x04\x03\x02\x01"
    seq = int(time.time()) << 32
    last = None
    for part in parts:
        how = part[0] if part else 0
        payload = part[1:]
        fate = dict.fromkeys(("applied", "bad", "bad_mac", "replay", "unsigned", "ignored"), 0)
        records = 0
        if how & 3 == 0:
            data = payload
            n = len(data)
            kind = struct.unpack(">I", data[4:8])[0] if n >= 8 else None
            if n <= HEADER or n > DATAGRAM_MAX:
                fate["bad"] += 1
            elif data[:4] == own:
                fate["ignored"] += 1
            elif kind in (0, 1):
                if accept_unsigned:
                    records = predict_records(n, HEADER, RECORD[kind], fate)
                else:
                    fate["unsigned"] += 1
            elif kind - KEYED in (0, 1):
                fate["bad_mac"] += 1        # a right tag by chance: 2^-64
            else:
                fate["bad"] += 1
        elif how & 3 == 3 and last is not None:
            data = last
            fate["replay"] += 1
        else:
            family = (how >> 2) & 1
            seq += 1
            head = sender_id + struct.pack(">IQ", KEYED + family, seq) + payload[:DATAGRAM_MAX - KEYED_HEADER - TAG]
            data = head + common.core.siphash24_tag(KEY if how & 3 != 2 else OTHER_KEY, head)
            if how & 3 == 2:
                fate["bad_mac"] += 1
            else:
                last = data
                records = predict_records(len(data) - TAG, KEYED_HEADER, RECORD[family], fate)
        before = srv.livesync_counters()
        sender.sendto(data, ("127.0.0.1", port))
        srv.livesync_receive()
        after = srv.livesync_counters()
        got = {"applied": after["packets_received"] - before["packets_received"],
               "bad": after["packets_bad"] - before["packets_bad"],
               "bad_mac": after["packets_bad_mac"] - before["packets_bad_mac"],
               "replay": after["packets_replay"] - before["packets_replay"],
               "unsigned": after["packets_unsigned"] - before["packets_unsigned"],
               "ignored": after["packets_ignored"] - before["packets_ignored"]}
        assert got == fate, (how, len(data), data[:24].hex(), got, fate)
        assert after["records_received"] - before["records_received"] == records, (records, after, before)
        common.check_store(srv.store)


# ---------------------------------------------------------------- grammar (hypothesis)

def inputs():
    """Hypothesis strategy: random operation sequences, bursts of new peers
    of one family (the IPv6 burst past 36 records is the crash of issue 12),
    raw bytes, mutated seed files."""
    from hypothesis import strategies as st

    op = st.builds(lambda kind, v6, arg: bytes([kind | (v6 << 3), arg]),
                   st.sampled_from([0, 0, 1, 2, 3, 4, 4, 5, 5, 6, 7]), st.integers(0, 1), st.integers(0, 255))
    burst = st.builds(lambda v6, seeding, start, n: b"".join(
        bytes([(3 if seeding else 0) | (v6 << 3), (start + k) & 255]) for k in range(n)),
        st.integers(0, 1), st.booleans(), st.integers(0, 255), st.integers(30, 120))
    ops = st.lists(st.one_of(op, op, op, burst), min_size=1, max_size=60).map(b"".join)
    many = st.builds(lambda setup, body: bytes([setup]) + body, st.integers(0, 255), ops)
    datagram = st.builds(lambda how, body: bytes([how]) + body, st.integers(0, 255),
                         st.one_of(st.binary(max_size=64), st.binary(min_size=1400, max_size=1500),
                                   st.builds(lambda n, fill: bytes([fill]) * n, st.integers(0, 1600),
                                             st.integers(0, 255))))
    parsed = st.builds(lambda setup, parts: bytes([KEYED_PARSER | setup]) + common.SEP.join(parts),
                       st.integers(0, 127), st.lists(datagram, min_size=1, max_size=common.MAX_PARTS))
    return st.one_of(many, many, many, parsed, parsed, st.binary(max_size=300),
                     common.mutated(common.seeds("livesync")))


if __name__ == "__main__":
    common.main(one_input, "livesync")
