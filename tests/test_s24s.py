"""s24s counted in bounded memory (issue 15): the networks are counted in a
hash table of bounded size, in as many passes over the peers as the table
needs, and the answer is still exactly the original's: the busiest 128
networks of each list, ties in address order.

The in-process tests cut the core's slice size down, which shrinks the
table (256 slots at a slice of one torrent), so that a few hundred peers
take many passes and many narrowings of a pass. The process test fills a
2 MiB budget with peers from thousands of networks through live sync, the
quickest way to store peers of arbitrary addresses, and asks for s24s
there: it used to answer 500, because it gathered a key per peer."""

import hashlib
import random
import socket
import struct
import time
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.trackerproc import Tracker, free_port, split_response


def sha(text):
    return hashlib.sha1(text.encode()).digest()


# ---------------------------------------------------------------- the model

def expected_s24s(addresses):
    """The s24s body for peers at these addresses (one per peer): /28 and
    /24 of the IPv4 ones, then /64 and /48 of the IPv6 ones when there are
    any; each list the 128 busiest, then by address."""
    lists = {28: {}, 24: {}, 64: {}, 48: {}}
    for ip in addresses:
        if ":" in ip:
            bits = int.from_bytes(socket.inet_pton(socket.AF_INET6, ip), "big")
            prefixes = ((64, bits >> 64 << 64), (48, bits >> 80 << 80))
        else:
            bits = int.from_bytes(socket.inet_aton(ip), "big")
            prefixes = ((28, bits >> 4 << 4), (24, bits >> 8 << 8))
        for length, net in prefixes:
            lists[length][net] = lists[length].get(net, 0) + 1

    def text(length, net):
        if length <= 32:
            return socket.inet_ntoa(net.to_bytes(4, "big"))
        return socket.inet_ntop(socket.AF_INET6, net.to_bytes(16, "big"))

    def section(length):
        ranked = sorted(lists[length].items(), key=lambda kv: (-kv[1], kv[0]))[:128]
        return "Networks, limit /%d:\n" % length + "".join(
            "%08d: %s\n" % (n, text(length, net)) for net, n in ranked) + "\n"
    body = section(28) + section(24)
    if lists[64]:
        body += section(64) + section(48)
    return body.encode()


# ---------------------------------------------------------------- in-process

def in_process(answer_slice, memory_limit=0):
    from helpers.testcore import core
    srv = core.Server(seed=5, memory_limit=memory_limit)
    srv.configure(ip_from_query=True, answer_slice=answer_slice)
    return srv


def announce(srv, info_hash, ip, port):
    raw = srv.answer_http(("GET /announce?info_hash=%s&port=%d&left=1&ip=%s HTTP/1.0\r\n\r\n"
                                % (quote_from_bytes(info_hash), port, ip)).encode())
    return raw.startswith(b"HTTP/1.1 200 OK") and b"failure reason" not in raw


def s24s(srv):
    status, _, body = split_response(srv.answer_http(b"GET /stats?mode=s24s HTTP/1.0\r\n\r\n"))
    assert status.startswith("HTTP/1.0 200"), (status, body)
    return body


# Networks that repeat, so that counts tie and the order by address matters.
v4_address = st.one_of(
    st.builds("10.{}.{}.{}".format, st.integers(0, 3), st.integers(0, 40), st.integers(1, 254)),
    st.builds("{}.{}.{}.{}".format, st.integers(1, 223), st.integers(0, 255), st.integers(0, 255),
              st.integers(1, 254)),
)
v6_address = st.builds("2001:db8:{:x}:{:x}::{:x}".format, st.integers(0, 5), st.integers(0, 300),
                       st.integers(1, 0xffff))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(addresses=st.lists(st.one_of(v4_address, v4_address, v6_address), min_size=0, max_size=400),
       answer_slice=st.sampled_from([1, 2, 3, 7, 256]), torrents=st.integers(1, 40),
       seed=st.integers(0, 2 ** 32))
def test_s24s_is_exact_whatever_the_table_size(addresses, answer_slice, torrents, seed):
    """At a slice of 1 or 2 torrents, a crowd of 4,200 more IPv4 peers
    bounds the sort below the keys it would need (32 KiB per torrent of a
    slice), so s24s counts in a table of 256 or 512 slots: a pass is
    narrowed again and again, and the passes that follow pick up what it
    dropped. At bigger slices, with no crowd, it sorts."""
    rng = random.Random(seed)
    if answer_slice <= 2:
        addresses = addresses + ["10.%d.%d.%d" % (rng.randrange(4), rng.randrange(60), rng.randrange(1, 255))
                                 for _ in range(4200)]
    srv = in_process(answer_slice)
    for i, ip in enumerate(addresses):
        assert announce(srv, sha("s24s-h%d" % (i % torrents)), ip, 1 + i)
    assert s24s(srv) == expected_s24s(addresses)


def test_s24s_of_thousands_of_networks_through_a_small_table():
    """6,000 peers in about 9,000 networks against a table of 192 networks
    per pass: dozens of passes, each narrowed more than once."""
    rng = random.Random(11)
    srv = in_process(1)
    addresses = []
    for i in range(6000):
        if i % 5 == 0:
            ip = "2001:db8:%x:%x::1" % (rng.randrange(40), rng.randrange(4))
        elif i % 5 == 1:
            ip = "192.168.%d.%d" % (rng.randrange(30), rng.randrange(1, 255))
        else:
            ip = "%d.%d.%d.%d" % (rng.randrange(1, 224), rng.randrange(256), rng.randrange(256),
                                  rng.randrange(1, 255))
        addresses.append(ip)
        assert announce(srv, sha("many%d" % (i % 97)), ip, 1 + i)
    assert s24s(srv) == expected_s24s(addresses)


def test_s24s_in_process_when_peers_fill_the_budget():
    """Peers of many networks fill a 2 MiB budget (new torrents are then
    refused): their keys would not fit in what is left, so s24s counts in a
    table out of the answers' reserve, exactly, and the budget is where it
    was."""
    srv = in_process(256, memory_limit=2 << 20)
    rng = random.Random(3)
    stored = []
    refused = 0
    i = 0
    while refused < 50:
        ip = "%d.%d.%d.%d" % (rng.randrange(1, 224), rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
        if announce(srv, sha("fill%d" % i), ip, 1 + i % 60000):
            stored.append(ip)
        else:
            refused += 1
        i += 1
    assert len(stored) > 15_000
    used = srv.store.stats()["memory"]["total"]
    assert s24s(srv) == expected_s24s(stored)
    assert srv.store.stats()["memory"]["total"] == used


# ---------------------------------------------------------------- a tracker process at its budget

def _record4(info_hash, ip, port):
    return info_hash + socket.inet_aton(ip) + struct.pack(">HBB", port, 0, 0)


def _record6(info_hash, ip, port):
    return info_hash + socket.inet_pton(socket.AF_INET6, ip) + struct.pack(">HBB", port, 0, 0)


def _metrics(t):
    body = split_response(t.http(b"GET /metrics HTTP/1.0\r\n\r\n"))[2].decode()
    return {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1])
            for line in body.splitlines() if line and not line.startswith("#")}


def _syncs(t):
    return int(split_response(t.http(b"GET /stats?mode=syncs HTTP/1.0\r\n\r\n"))[2].split(b"\n")[0])


def _wait_for_records(t, count, timeout=20):
    deadline = time.monotonic() + timeout
    while _syncs(t) < count:
        assert time.monotonic() < deadline, "live sync records not applied"
        time.sleep(0.02)


def _full_scrape_hashes(body):
    """The info_hashes of a plain full scrape with at least one peer."""
    found = set()
    at = body.index(b"5:filesd") + 8
    while body[at:at + 3] == b"20:":
        info_hash = body[at + 3:at + 23]
        end = body.index(b"ee", at + 23) + 2
        entry = body[at + 23:end]
        if b"8:completei0e" not in entry or b"10:incompletei0e" not in entry:
            found.add(info_hash)
        at = end
    return found


def test_s24s_when_peers_fill_the_budget():
    """A 2 MiB budget filled by peers of thousands of IPv4 and IPv6
    networks (one per torrent, through live sync, until new torrents are
    refused): s24s is served, exactly the model's answer for the peers the
    tracker stored, and the budget comes back to where it was."""
    sync_port = free_port()
    config = ["livesync.cluster.listen 127.0.0.1:%d" % sync_port, "livesync.cluster.node_ip 127.0.0.1",
              "tracker.memory_limit 2M", "tracker.fullscrape_cache 0"]
    rng = random.Random(7)
    sent = {}
    with Tracker(config=config) as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        out.bind(("127.0.0.1", 0))
        sender = b"\x05\x06\x07\x08"
        records = _syncs(t)
        while True:
            # Skewed: a few busy networks, many with a peer or two.
            for _ in range(25):
                v6 = rng.random() < 0.2
                recs = []
                for _ in range(40 if not v6 else 30):
                    info_hash = sha("budget-s24s-%d" % len(sent))
                    # Half from a few busy networks, half from all of 10/8.
                    net = min(int(rng.paretovariate(0.8)), 5000) if rng.random() < 0.5 else rng.randrange(65536)
                    if v6:
                        ip = "2001:db8:%x:%x::%x" % (net, rng.randrange(3), rng.randrange(1, 65535))
                        recs.append(_record6(info_hash, ip, 1 + len(sent) % 60000))
                    else:
                        ip = "10.%d.%d.%d" % (net // 256, net % 256, rng.randrange(1, 255))
                        recs.append(_record4(info_hash, ip, 1 + len(sent) % 60000))
                    sent[info_hash] = ip
                out.sendto(sender + struct.pack(">I", 1 if v6 else 0) + b"".join(recs),
                           ("127.0.0.1", sync_port))
                records += len(recs)
            _wait_for_records(t, records)
            m = _metrics(t)
            if m["opentracker_torrents"] < len(sent) - 500:
                break             # new torrents are being refused
            assert records < 200_000, m
        used = m["opentracker_memory_budget_used_bytes"]
        assert 2 * 1024 * 1024 - used < 8192, m
        status, _, scrape = split_response(t.http(b"GET /scrape HTTP/1.0\r\n\r\n", timeout=30))
        assert status.startswith("HTTP/1.0 200"), status
        stored = [sent[h] for h in _full_scrape_hashes(scrape)]
        assert len(stored) > 10_000 and sum(":" in ip for ip in stored) > 1000
        status, _, body = split_response(t.http(b"GET /stats?mode=s24s HTTP/1.0\r\n\r\n", timeout=30))
        assert status.startswith("HTTP/1.0 200"), (status, body)
        assert body == expected_s24s(stored)
        deadline = time.monotonic() + 10
        while _metrics(t)["opentracker_memory_budget_used_bytes"] != used:
            assert time.monotonic() < deadline, "the answer's memory was not given back"
            time.sleep(0.05)
