"""Hardening (issue 9): memory budget, per-address rate limit, connection
limit, and a leak check of the core under a long storm."""

import hashlib
import os
import re
import socket
import struct
import subprocess
import sys
import textwrap
import time
from urllib.parse import quote_from_bytes

import pytest

from helpers.reference import bdecode, compact_peers
from helpers.trackerproc import Tracker, udp_announce_packet, udp_scrape_packet

MEMORY_REFUSAL = b"Tracker memory limit reached: new torrents are refused for now."
RATE_REFUSAL = b"Too many requests from this address; announce less often."


def h(name):
    return hashlib.sha1(name.encode()).digest()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def budget_used(t):
    body = t.get("/metrics")[2].decode()
    return int(re.search(r"^opentracker_memory_budget_used_bytes (\d+)$", body, re.M).group(1))


def interpreter_base_kib():
    """RSS of an idle interpreter with the tracker's modules imported: the
    'interpreter base' of the memory budget."""
    code = ("import opentracker_core, opentracker.server, opentracker.cli, time\n"
            "print(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])")
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                              text=True).stdout)


# ---------------------------------------------------------------- rate limit

def test_one_address_flooding_past_its_rate_while_another_is_served():
    x = h("rate")
    with Tracker(config=["tracker.rate_limit 30"]) as t:
        def announce(source, port):
            body = t.get("/announce?info_hash=%s&port=%d&left=1" % (quote_from_bytes(x), port), source=source)[2]
            return body

        flood = [announce("127.0.0.1", 1000 + i) for i in range(45)]
        ok = [b for b in flood if b.startswith(b"d8:complete")]
        refused = [b for b in flood if b == b"d14:failure reason%d:%se" % (len(RATE_REFUSAL), RATE_REFUSAL)]
        assert len(ok) == 30 and len(refused) == 15
        # another address is served normally, and sees the admitted peers only
        other = bdecode(announce("127.0.0.2", 2000))
        assert other[b"incomplete"] == 31
        # UDP shares the same buckets and answers with an error packet
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.3", 0))
        s.settimeout(2)
        cid = t.udp_connect(sock=s)
        kinds = []
        for i in range(40):
            s.sendto(udp_announce_packet(cid, x, port=3000 + i, transaction_id=i), ("127.0.0.1", t.port))
            reply = s.recv(2048)
            assert struct.unpack(">I", reply[4:8])[0] == i
            kinds.append(struct.unpack(">I", reply[:4])[0])
        s.sendto(udp_scrape_packet(cid, [x], transaction_id=99), ("127.0.0.1", t.port))
        scrape = s.recv(2048)
        s.close()
        assert kinds.count(1) == 30 and kinds.count(3) == 10
        assert scrape == struct.pack(">II", 3, 99) + RATE_REFUSAL


def test_rate_refills_over_time():
    x = h("rate-refill")
    with Tracker(config=["tracker.rate_limit 60"]) as t:
        get = lambda p: t.get("/announce?info_hash=%s&port=%d&left=1" % (quote_from_bytes(x), p))[2]
        # The burst is 60; a slow build (the sanitizer's) may spend more than
        # a second on it, and each second refills one request, so count the
        # admissions up to the first refusal against the time they took.
        start = time.monotonic()
        admitted = 0
        for i in range(300):
            if get(1 + i).startswith(b"d14:failure reason"):
                break
            admitted += 1
        else:
            raise AssertionError("300 announces in a row were admitted under rate_limit 60")
        took = time.monotonic() - start
        assert 60 <= admitted <= 60 + int(took) + 1
        time.sleep(2.2)  # one request per second comes back
        assert get(100).startswith(b"d8:complete")


# ---------------------------------------------------------------- memory budget

# glibc's malloc keeps up to M_TOP_PAD (128 KiB) spare at the top of each
# heap and rounds to pages, and the freed blocks of the 4096 bucket vectors,
# each regrown by a quarter many times over in a flood of new torrents, stay
# resident between the live ones: the budget counts blocks live, not the
# holes they left. Since small peer lists moved to slab pages charged
# exactly (docs/memory.md, "Slabs"), nothing over-counted hides those holes;
# measured 569 KiB past the budget in a fresh venv's install. A store that
# kept memory the budget does not count passes 1 MiB by megabytes.
ALLOCATOR_SLACK_KIB = 1024


def test_flood_of_new_torrents_under_a_memory_limit():
    """At the budget new torrents are refused (UDP error packet, HTTP failure
    reason), the existing swarm is served, and the budget holds: exactly in
    the core's own accounting, and in the process's resident memory, which
    grows by no more than what the accounting says it holds. The RSS margin
    is a fixed allocator slack, so what decides is the accounting: a store
    that kept memory the budget does not count would pass it by megabytes."""
    kept = h("kept-swarm")
    limit = 8 << 20
    with Tracker(config=["tracker.memory_limit %d" % limit]) as t:
        # Buffers and tables allocated at start-up are counted already
        # (used0) but only become resident as they are first touched.
        rss0, used0 = rss_kib(t.proc.pid), budget_used(t)
        for i in range(5):
            t.get("/announce?info_hash=%s&port=%d&left=%d" % (quote_from_bytes(kept), 100 + i, i))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        cid = t.udp_connect(sock=s)
        refused = admitted = 0
        for i in range(200000):
            s.sendto(udp_announce_packet(cid, h("flood-%d" % i), port=1 + i % 60000, transaction_id=i, numwant=0),
                     ("127.0.0.1", t.port))
            reply = s.recv(2048)
            if reply[:4] == struct.pack(">I", 3):
                assert reply == struct.pack(">II", 3, i) + MEMORY_REFUSAL
                refused += 1
            else:
                admitted += 1
            if refused > 2000:
                break
        s.close()
        assert admitted > 50000 and refused > 2000
        # new torrents over HTTP get the documented failure reason
        body = t.get("/announce?info_hash=%s&port=1&left=1" % quote_from_bytes(h("one-more")))[2]
        assert body == b"d14:failure reason%d:%se" % (len(MEMORY_REFUSAL), MEMORY_REFUSAL)
        # the existing swarm is served: counts, peers, updates
        d = bdecode(t.get("/announce?info_hash=%s&port=104&left=0" % quote_from_bytes(kept))[2])
        assert (d[b"complete"], d[b"incomplete"]) == (2, 3)
        assert len(compact_peers(d[b"peers"], 6)) == 5
        # new peers of the known swarm are stored only while its peer list
        # has room: it does not grow past the budget (what they are told:
        # test_new_peer_of_a_known_swarm_at_the_budget_gets_its_peers)
        for port in range(200, 240):
            t.get("/announce?info_hash=%s&port=%d&left=1" % (quote_from_bytes(kept), port))
        d = bdecode(t.get("/announce?info_hash=%s&port=104&left=0" % quote_from_bytes(kept))[2])
        assert d[b"complete"] == 2 and 3 <= d[b"incomplete"] < 3 + 40 // 2
        rss, used = rss_kib(t.proc.pid), budget_used(t)
        report = "RSS %d -> %d KiB, budget used %d -> %d of %d KiB" % (rss0, rss, used0 // 1024, used // 1024,
                                                                       limit // 1024)
        print(report)
    # The accounting: never past the budget, and refusing only at it (a new
    # torrent with its first peer costs well under 4 KiB).
    assert used <= limit, report
    assert limit - used < 4096, report
    if os.environ.get("OT_SANITIZED"):
        return  # ASan's shadow memory and quarantine make RSS say nothing about the core
    assert rss - rss0 <= used // 1024 + ALLOCATOR_SLACK_KIB, report
    # and the process before the flood is the interpreter, give or take the
    # core's code pages
    assert rss0 - used0 // 1024 <= interpreter_base_kib() + 2048, report


def test_new_peer_of_a_known_swarm_at_the_budget_gets_its_peers():
    """The memory budget (docs/memory.md): at the budget, a new peer of a
    known swarm gets that swarm's peers without being stored. In-process: new torrents until the
    budget refuses one, then new peers of a known swarm over HTTP and UDP get
    its peers, and the store (peers, torrents, bytes held) does not change.
    A completion from such a peer still counts a download, as for a new peer
    the store keeps; existing peers are still updated."""
    from helpers.testcore import core
    server = core.Server(seed=3, memory_limit=1 << 20)
    store = server.store
    kept = h("known-at-budget")

    def http(path):
        return server.answer_http(("GET %s HTTP/1.0\r\n\r\n" % path).encode()).partition(b"\r\n\r\n")[2]

    def get(info_hash, port, left=1, event=""):
        return http("/announce?info_hash=%s&port=%d&left=%d%s" % (quote_from_bytes(info_hash), port, left, event))

    def held():
        return int(re.search(rb"^opentracker_memory_budget_used_bytes (\d+)$", http("/metrics"), re.M).group(1))

    def snapshot():
        stats = store.stats()
        return stats["torrents"], stats["peers"], stats["seeders"], store.peers(kept), held()

    # Six peers leave no spare slot in the swarm's list (its space grows
    # 1, 2, 3, 4, 6): a seventh needs memory.
    for port in range(1, 7):
        assert b"5:peers" in get(kept, port)
    for i in range(100000):
        if MEMORY_REFUSAL in get(h("fill-%d" % i), 1):
            break
    else:
        raise AssertionError("the budget never refused a torrent")
    # The refused torrent needed more than the swarm's next peer would: pin
    # the budget to what is held, so that no new peer fits anywhere.
    store.memory_limit = held()
    before = snapshot()
    counters = server.counters()
    downloaded = dict((x, d) for x, _, _, d, _ in store.torrents())[kept]

    for port in range(100, 140):
        body = bdecode(get(kept, port))
        assert b"failure reason" not in body, (port, body)
        assert (body[b"complete"], body[b"incomplete"]) == (0, 6)
        assert sorted(p for _, p in compact_peers(body[b"peers"], 6)) == list(range(1, 7))
    cid = server.answer_udp(struct.pack(">QII", 0x41727101980, 0, 1))[8:]
    for port in range(200, 240):
        reply = server.answer_udp(udp_announce_packet(cid, kept, left=1, port=port, transaction_id=port))
        action, tid, _interval, leechers, seeders = struct.unpack(">IIIII", reply[:20])
        assert (action, tid, leechers, seeders) == (1, port, 6, 0), reply
        assert sorted(p for _, p in compact_peers(reply[20:], 6)) == list(range(1, 7))
    # a stopped from a peer that was never stored: the swarm, unchanged
    assert bdecode(get(kept, 100, event="&event=stopped"))[b"incomplete"] == 6
    assert snapshot() == before

    # A completion from an unstored peer is one more download, and only that.
    reply = server.answer_udp(udp_announce_packet(cid, kept, left=0, event=1, port=300, transaction_id=7))
    assert struct.unpack(">II", reply[:8]) == (1, 7) and len(reply) == 20 + 6 * 6
    assert dict((x, d) for x, _, _, d, _ in store.torrents())[kept] == downloaded + 1
    assert snapshot() == before

    # New torrents are still refused, over HTTP and UDP.
    assert MEMORY_REFUSAL in get(h("one-more"), 1)
    reply = server.answer_udp(udp_announce_packet(cid, h("one-more"), port=1, transaction_id=8))
    assert reply == struct.pack(">II", 3, 8) + MEMORY_REFUSAL
    # Operators see both: refused counts the torrents only, the rest apart.
    after = server.counters()
    assert after["refused_memory"] == counters["refused_memory"] + 2
    assert after["unstored_peers"] == counters["unstored_peers"] + 81
    assert after["completed"] == counters["completed"] + 1
    assert re.search(rb"^opentracker_peers_not_stored_total %d$" % after["unstored_peers"], http("/metrics"), re.M)
    assert snapshot() == before

    # An existing peer is still updated: it becomes a seeder, in place.
    assert (bdecode(get(kept, 3, left=0))[b"complete"], store.stats()["peers"]) == (1, before[1])
    assert held() == before[4]


# ---------------------------------------------------------------- connections

def test_oldest_idle_connection_goes_first_at_the_limit():
    # One loop, whatever OT_WORKERS says: with several, the limit counts
    # every loop's connections but a loop at it closes the oldest unfinished
    # request among its own (docs/architecture.md, "Worker loops").
    with Tracker(config=["tracker.http_max_connections 10", "tracker.workers 1"]) as t:
        idle = []
        for i in range(10):
            c = socket.create_connection(("127.0.0.1", t.port))
            c.sendall(b"GET /announce?info_hash=")   # never finished
            idle.append(c)
            time.sleep(0.02)
        status = t.get("/stats?mode=tcp4")[0]
        assert status == "HTTP/1.1 200 OK"
        idle[0].settimeout(5)
        try:
            closed = idle[0].recv(10) == b""
        except ConnectionResetError:
            closed = True
        assert closed
        idle[-1].setblocking(False)
        with pytest.raises(BlockingIOError):
            idle[-1].recv(10)      # the newest idle one is still open
        for c in idle:
            c.close()


# ---------------------------------------------------------------- leaks

LEAK_STORM = textwrap.dedent(r"""
    import hashlib, os, struct, sys
    from helpers.testcore import core

    def rss():
        return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])

    srv = core.Server(seed=1)
    srv.configure(rate_limit=0)
    baseline = core.allocation_counts()

    def storm(round_no):
        hashes = [hashlib.sha1(b"%d-%d" % (round_no, i)).digest() for i in range(400)]
        srv.set_access("black", core.sort_hashes(b"".join(hashes[:10])))
        srv.set_dynamic(core.sort_hashes(b"".join(hashes[10:20])), b"")
        cid = srv.answer_udp(struct.pack(">QII", 0x41727101980, 0, 1))[8:]
        for i in range(6000):
            x = hashes[i % 400]
            q = "".join("%%%02X" % b for b in x)
            ip = "10.%d.%d.%d" % (i % 7, i % 11, i % 13)
            if i % 3 == 0:
                srv.answer_http(("GET /announce?info_hash=%s&port=%d&left=%d HTTP/1.0\r\n\r\n"
                                      % (q, 1000 + i % 50, i % 2)).encode(), ip)
            elif i % 3 == 1:
                pkt = (cid + struct.pack(">II", 1, i) + x + b"-XX0001-000000000000" +
                       struct.pack(">QQQIIIiH", 0, i % 2, 0, (2, 1, 3)[i % 3], 0, 0, 50, 2000 + i % 50))
                srv.answer_udp(pkt, ip)
            else:
                srv.answer_http(("GET /scrape?info_hash=%s HTTP/1.0\r\n\r\n" % q).encode(), ip)
            if i % 1000 == 0:
                srv.answer_http(b"GET /scrape HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n")
                srv.answer_http(b"GET /stats?mode=statedump HTTP/1.0\r\n\r\n")
            if i % 97 == 0:
                srv.answer_http(os.urandom(200))
        srv.set_access("open")
        # everything expires: two days on, a full clean
        srv.clock_offset += 2 * 86400
        srv.store.clean()
        assert srv.store.stats()["torrents"] == 0, srv.store.stats()

    storm(0)
    first = rss()
    for r in range(1, 4):
        storm(r)
    after = rss()
    allocated, freed = core.allocation_counts()
    live = (allocated - freed) - (baseline[0] - baseline[1])
    print(first, after, live, srv.store.memory_bytes, core.Store(seed=1).memory_bytes)
""")


def test_long_storm_returns_to_baseline():
    """Announces, stops, scrapes, full scrapes, statedumps, access-list
    swaps and expiry, four times over: the core ends with exactly the blocks
    it started with and the process does not grow between rounds."""
    # The child imports the test build (answer_http) through helpers/.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.abspath(__file__))] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    out = subprocess.run([sys.executable, "-c", LEAK_STORM], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    first, after, live, held, empty = map(int, out.stdout.split())
    assert live == 0, "%d blocks not given back" % live
    assert held == empty
    if not os.environ.get("OT_SANITIZED"):  # ASan quarantines freed memory: RSS grows by design
        assert after - first < 2048, "RSS grew from %d KiB to %d KiB" % (first, after)


def test_modest_full_scrapes():
    """tracker.modest_fullscrapes: one full scrape per address per 5 minutes,
    the rest answered as the original's WANT_MODEST_FULLSCRAPES build does."""
    with Tracker(config=["tracker.modest_fullscrapes on"]) as t:
        assert t.get("/scrape")[0] == "HTTP/1.0 200 OK"
        again = t.http(b"GET /scrape HTTP/1.0\r\n\r\n")
        assert again == (b"HTTP/1.0 402 Payment Required\r\nContent-Type: text/html\r\nContent-Length: 32\r\n\r\n"
                         b"<title>Payment Required</title>\n")
        assert t.get("/scrape", source="127.0.0.2")[0] == "HTTP/1.0 200 OK"
        # ordinary scrapes are not affected
        assert t.get("/scrape?info_hash=%s" % ("%AA" * 20))[0] == "HTTP/1.1 200 OK"


@pytest.mark.parametrize("jump_days", [200, -200])
def test_wall_clock_set_by_ntp_keeps_ages(jump_days):
    """A router's clock is set by NTP after boot, often by months. Peers must
    neither vanish at once (forward) nor outlive their 45 minutes by the size
    of the jump (backward): ages follow the monotonic clock."""
    from helpers.testcore import core
    srv = core.Server(seed=1)
    x = h("clock-jump")
    q = "".join("%%%02X" % b for b in x)
    srv.answer_http(("GET /announce?info_hash=%s&port=7&left=1 HTTP/1.0\r\n\r\n" % q).encode())
    srv.set_wall_clock(jump_days * 86400)
    srv.store.clean()
    assert [p[1] for p in srv.store.peers(x)] == [7]
    srv.clock_offset += 44 * 60
    srv.store.clean()
    assert len(srv.store.peers(x)) == 1
    srv.clock_offset += 2 * 60
    srv.store.clean()
    assert srv.store.peers(x) == []
    assert b"opentracker_clock_jumps_total 1" in srv.answer_http(b"GET /metrics HTTP/1.0\r\n\r\n")
