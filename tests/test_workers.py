"""tracker.workers N (issue 23): N - 1 UDP worker loops on threads of their
own beside the loop that serves HTTP, UDP and Python, all on one store.
What a user sees: every UDP client served whichever loop the kernel gives it
to, counts that add up over the loops, reloads that reach every loop, a
clean stop, and the loops' shares on /stats and the status page."""

import hashlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from helpers.trackerproc import Tracker, package_path, udp_announce_packet, udp_scrape_packet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def h(name):
    return hashlib.sha1(name.encode()).digest()


def _everything_workers(t):
    body = t.get("/stats?mode=everything")[2].decode()
    return [int(n) for n in re.findall(r'<worker id="\d+"><udp>(\d+)</udp></worker>', body)]


def _stat(t, mode):
    return int(t.get("/stats?mode=%s" % mode)[2].split()[0])


def _clients(t, count):
    """count UDP sockets on 127.0.0.1, each with its BEP 15 connection id."""
    out = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(2)
        out.append((s, t.udp_connect(sock=s)))
    return out


def test_clients_spread_over_two_loops_and_every_count_adds_up():
    torrents = [h("workers-%d" % i) for i in range(8)]
    with Tracker(config=["tracker.workers 2"]) as t:
        clients = _clients(t, 64)
        for n, (s, cid) in enumerate(clients):
            for k in range(5):
                s.sendto(udp_announce_packet(cid, torrents[(n + k) % 8], port=1000 + 5 * n + k,
                                             left=0 if k == 0 else 1, transaction_id=k),
                         ("127.0.0.1", t.port))
                reply = s.recv(2048)
                action, tid, interval, leechers, seeders = struct.unpack(">IIIII", reply[:20])
                assert (action, tid) == (1, k) and interval > 0 and len(reply) == 20 + 6 * (leechers + seeders)
        for s, _ in clients:
            s.close()
        per_loop = _everything_workers(t)
        assert len(per_loop) == 2
        # 64 connects and 320 announces, each read by one loop; SO_REUSEPORT
        # hashes 64 source ports, so both loops got some (chance of not: 2^-63)
        assert sum(per_loop) == 64 + 320 and min(per_loop) > 0
        assert _stat(t, "peer") == 320 and _stat(t, "torr") == 8
        udp = t.get("/stats?mode=udp4")[2].split()
        assert [int(x) for x in udp[:2]] == [384, 384]     # datagrams, answered ones
        page = t.get("/stats?mode=html")[2].decode()
        rows = re.findall(r"<tr><td>(\d)</td><td>([A-Z, ]+)</td><td>(\d+)</td><td>([\d.]+) %</td></tr>", page)
        assert [(int(a), b, int(c)) for a, b, c, _ in rows] == [(0, "HTTP, UDP", per_loop[0]), (1, "UDP", per_loop[1])]
        assert abs(sum(float(r[3]) for r in rows) - 100) < 0.15


def test_one_loop_shows_no_worker_block():
    with Tracker(config=["tracker.workers 1"]) as t:
        assert _everything_workers(t) == []
        assert 'id="workers"' not in t.get("/stats?mode=html")[2].decode()


def test_scrape_and_stop_from_any_loop():
    x = h("workers-scrape")
    with Tracker(config=["tracker.workers 3"]) as t:
        clients = _clients(t, 24)
        for n, (s, cid) in enumerate(clients):
            s.sendto(udp_announce_packet(cid, x, port=2000 + n, left=n % 2), ("127.0.0.1", t.port))
            s.recv(2048)
        for n, (s, cid) in enumerate(clients):
            s.sendto(udp_scrape_packet(cid, [x], transaction_id=n), ("127.0.0.1", t.port))
            assert s.recv(2048) == struct.pack(">IIIII", 2, n, 12, 0, 12)
        for n, (s, cid) in enumerate(clients[:10]):
            s.sendto(udp_announce_packet(cid, x, port=2000 + n, left=n % 2, event=3), ("127.0.0.1", t.port))
            assert len(s.recv(2048)) == 20
        assert _stat(t, "peer") == 14
        assert len(_everything_workers(t)) == 3
        for s, _ in clients:
            s.close()
        assert t.stop() == 0


def test_reload_reaches_every_loop_while_they_serve():
    """SIGHUP swaps the whitelist while two UDP workers announce flat out:
    no crash, no wrong answer, and after the last reload every loop answers
    by the new list."""
    a, b = h("workers-list-a"), h("workers-list-b")
    with Tracker(config=["tracker.workers 3"], whitelist=[a]) as t:
        stop = threading.Event()
        bad = []

        def hammer(seed):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            cid = t.udp_connect(sock=s)
            # Back-to-back reloads hold worker 0 for a while under emulation
            # (the router check): its clients wait, they are not dropped.
            s.settimeout(15)
            n = 0
            while not stop.is_set() and n < 20000:
                n += 1
                s.sendto(udp_announce_packet(cid, a if n % 2 else b, port=3000 + seed, transaction_id=n),
                         ("127.0.0.1", t.port))
                try:
                    reply = s.recv(2048)
                except socket.timeout:
                    bad.append("timeout")
                    break
                # an answer (20 bytes and 6 a peer, at most the 8 hammers) or the refusal (8)
                if reply[:8] != struct.pack(">II", 1, n) or not (
                        len(reply) == 8 or (20 < len(reply) <= 20 + 6 * 8 and len(reply) % 6 == 2)):
                    bad.append(reply)
            s.close()

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        try:
            for i in range(30):
                t.write_whitelist([a] if i % 2 else [b])
                t.signal(signal.SIGHUP)
                time.sleep(0.03)
        finally:
            stop.set()
            for th in threads:
                th.join(30)
        assert bad == []
        assert t.proc.poll() is None
        t.write_whitelist([b])
        t.signal(signal.SIGHUP)
        time.sleep(0.5)
        clients = _clients(t, 32)
        for n, (s, cid) in enumerate(clients):
            s.sendto(udp_announce_packet(cid, a, port=4000 + n, transaction_id=1), ("127.0.0.1", t.port))
            assert s.recv(2048) == struct.pack(">II", 1, 1)          # refused: the bare header
            s.sendto(udp_announce_packet(cid, b, port=4000 + n, transaction_id=2), ("127.0.0.1", t.port))
            assert len(s.recv(2048)) >= 20
            s.close()
        assert t.stop() == 0


def _loadgen():
    sys.path.insert(0, os.path.join(REPO, "bench"))
    try:
        import announce_storm
    finally:
        sys.path.pop(0)
    return announce_storm.build_loadgen()


def test_a_million_peers_from_32_sources_none_lost():
    """Issue 23's lost-update check: 1,000,000 peers of 10,000 torrents, each
    announced once over UDP from 32 source addresses with two loops writing
    the store at once: the store holds exactly every one of them."""
    loadgen = _loadgen()
    with Tracker(config=["tracker.workers 2"]) as t:
        out = subprocess.run([loadgen, "populate", "--udp-port", str(t.port), "--torrents", "10000",
                              "--peers", "1000000", "--sockets", "32", "--window", "128", "--max-seconds", "240"],
                             capture_output=True, timeout=300)
        assert out.returncode == 0, out.stderr
        populated = int(re.search(rb'"populated":\s*(\d+)', out.stdout).group(1))
        assert populated == 1000000
        assert _stat(t, "peer") == 1000000 and _stat(t, "torr") == 10000
        per_loop = _everything_workers(t)
        assert min(per_loop) > 0 and sum(per_loop) >= 1000000 + 32


@pytest.mark.parametrize("value,loops", [("1", 1), ("2", 2), ("auto", len(os.sched_getaffinity(0)))])
def test_workers_key_runs_that_many_loops(value, loops):
    with Tracker(config=["tracker.workers %s" % value]) as t:
        names = []
        for tid in os.listdir("/proc/%d/task" % t.proc.pid):
            with open("/proc/%d/task/%s/comm" % (t.proc.pid, tid)) as f:
                names.append(f.read().strip())
        assert names.count("ot-worker-1") == (1 if loops > 1 else 0)
        assert len([n for n in names if n.startswith("ot-worker-")]) == loops - 1


def test_c_configs_udp_workers_give_at_least_that_many_loops():
    with Tracker(config=["listen.udp.workers 3"]) as t:
        assert len(_everything_workers(t)) == 3


@pytest.mark.parametrize("line,message", [
    ("tracker.workers 0", "tracker.workers 0: worker count 0 is out of range (1..64)"),
    ("tracker.workers 65", "tracker.workers 65: worker count 65 is out of range (1..64)"),
    ("tracker.workers many", "tracker.workers many: worker count must be"),
])
def test_bad_worker_counts_are_refused(tmp_path, line, message):
    conf = tmp_path / "w.conf"
    conf.write_text("listen.tcp_udp 127.0.0.1:0\n%s\n" % line)
    env = dict(os.environ, PYTHONPATH=package_path())     # the tree under test, installed or not
    out = subprocess.run([sys.executable, "-m", "opentracker", "-f", str(conf), "--check-config"],
                         capture_output=True, timeout=60, env=env)
    assert out.returncode != 0 and message in out.stderr.decode(), out.stderr


def test_each_worker_costs_a_fixed_counted_amount():
    """A worker's state, buffers and descriptor table are counted in the
    budget (opentracker_memory_bytes{use="buffers"}): the same bytes for
    each loop added, about 170 KiB on 64-bit (docs/memory.md, "Several
    workers")."""
    held = {}
    for n in (1, 2, 3):
        with Tracker(config=["tracker.workers %d" % n]) as t:
            metrics = t.get("/metrics")[2].decode()
            held[n] = int(re.search(r'opentracker_memory_bytes\{use="buffers"\} (\d+)', metrics).group(1))
            assert re.search(r"^opentracker_workers %d$" % n, metrics, re.M)
    one, two = held[2] - held[1], held[3] - held[2]
    # the second adds the pointer array's first two slots, the third one slot
    assert one - two == 8 and 160_000 < two < 190_000, held
