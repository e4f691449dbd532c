"""Issue 23's concurrency stress test against a whole tracker with four
worker loops (tracker.workers 4) on this machine's cores: UDP clients
announce, complete, stop and scrape random swarms from many source
addresses (so every loop gets some), an HTTP client does the same, while
full scrapes are read and SIGHUP reloads swap the whitelist. At the end the
tracker's swarms equal the clients' model (peers, seeders and downloads per
torrent), every counter equals what was sent, and once every peer has
stopped the peers' memory account is back at its empty value.

tests/tsan.sh runs this file against a ThreadSanitizer build of the core;
OT_WORKERS_STRESS_OPS sets the requests per client (default 1500)."""

import gzip
import hashlib
import os
import random
import re
import signal
import socket
import struct
import threading
import time
from urllib.parse import quote_from_bytes

from helpers.reference import bdecode
from helpers.trackerproc import Tracker, udp_announce_packet, udp_scrape_packet

OPS = int(os.environ.get("OT_WORKERS_STRESS_OPS", "1500"))
TORRENTS = [hashlib.sha1(b"stress-%d" % i).digest() for i in range(48)]
SPARE = [hashlib.sha1(b"stress-spare-%d" % i).digest() for i in range(16)]
UDP_CLIENTS = 4
SOCKETS_PER_CLIENT = 6
PEERS_PER_CLIENT = 40


class Model:
    """One client's peers: (torrent index, peer key) -> [seeding, completed
    flag], and the downloads it caused per torrent. Each client owns its
    peers, so the clients' models add up to the tracker's swarms."""

    def __init__(self):
        self.peers = {}
        self.downloads = [0] * len(TORRENTS)

    def announce(self, ti, key, event, seeding):
        state = self.peers.get((ti, key))
        if event == "stopped":
            self.peers.pop((ti, key), None)
            return
        if state is None:
            state = self.peers[(ti, key)] = [seeding, False]
        state[0] = seeding
        if event == "completed" and not state[1]:
            state[1] = True
            self.downloads[ti] += 1


def _plan(rng):
    ti = rng.randrange(len(TORRENTS))
    roll = rng.random()
    if roll < 0.1:
        return ti, "stopped", False
    if roll < 0.2:
        return ti, "completed", True
    return ti, "none", rng.random() < 0.3


def udp_client(t, n, model, counts, failures):
    rng = random.Random(n)
    socks = []
    for k in range(SOCKETS_PER_CLIENT):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.%d.%d" % (10 + n, 2 + k), 0))
        s.settimeout(5)
        socks.append((s, t.udp_connect(sock=s), "127.0.%d.%d" % (10 + n, 2 + k)))
        counts["udp"] += 1
    events = {"none": 0, "completed": 1, "started": 2, "stopped": 3}
    for op in range(OPS):
        s, cid, addr = socks[rng.randrange(len(socks))]
        if rng.random() < 0.1:
            hashes = rng.sample(TORRENTS, rng.randint(1, 8))
            s.sendto(udp_scrape_packet(cid, hashes, transaction_id=op), ("127.0.0.1", t.port))
            counts["udp"] += 1
            reply = s.recv(2048)
            if reply[:8] != struct.pack(">II", 2, op) or len(reply) != 8 + 12 * len(hashes):
                failures.append(("scrape", reply[:16]))
            continue
        ti, event, seeding = _plan(rng)
        port = 1000 + rng.randrange(PEERS_PER_CLIENT)
        s.sendto(udp_announce_packet(cid, TORRENTS[ti], left=0 if seeding else 1, event=events[event],
                                     port=port, transaction_id=op), ("127.0.0.1", t.port))
        counts["udp"] += 1
        reply = s.recv(2048)
        if reply[:8] != struct.pack(">II", 1, op) or len(reply) < 20 or (len(reply) - 20) % 6:
            failures.append(("announce", reply[:16]))
            continue
        model.announce(ti, (addr, port), event, seeding)
    for s, _, _ in socks:
        s.close()


def http_client(t, model, counts, failures):
    rng = random.Random(99)
    addr = "127.0.99.2"
    for op in range(OPS // 4):
        ti, event, seeding = _plan(rng)
        port = 2000 + rng.randrange(PEERS_PER_CLIENT)
        query = "/announce?info_hash=%s&port=%d&left=%d&compact=1%s" % (
            quote_from_bytes(TORRENTS[ti]), port, 0 if seeding else 1,
            "" if event == "none" else "&event=" + event)
        status, _, body = t.get(query, source=addr)
        counts["http"] += 1
        if not status.endswith("200 OK") or b"failure" in body:
            failures.append(("http", status, body[:80]))
            continue
        model.announce(ti, (addr, port), event, seeding)


def full_scraper(t, stop, failures, done):
    while not stop.is_set():
        status, headers, body = t.get("/scrape", headers=["Accept-Encoding: gzip"])
        if not status.endswith("200 OK"):
            failures.append(("fullscrape", status))
            break
        if any(h.lower().startswith("content-encoding: gzip") for h in headers):
            body = gzip.decompress(body)
        files = bdecode(body)[b"files"]
        if not set(files) <= set(TORRENTS):
            failures.append(("fullscrape", "unknown hash"))
        done.append(len(files))
        time.sleep(0.02)


def reloader(t, stop, done):
    i = 0
    while not stop.is_set() and i < 200:
        t.write_whitelist(TORRENTS + SPARE[: (i % 2) * 16])
        t.signal(signal.SIGHUP)
        done.append(i)
        i += 1
        time.sleep(0.05)


def _metric(text, name):
    return int(re.search(r"^%s (\d+)$" % re.escape(name), text, re.M).group(1))


def test_four_loops_against_the_model():
    with Tracker(config=["tracker.workers 4"], whitelist=TORRENTS) as t:
        empty_peers = _metric(t.get("/metrics")[2].decode(), 'opentracker_memory_bytes{use="peers"}')
        models = [Model() for _ in range(UDP_CLIENTS + 1)]
        counts = {"udp": 0, "http": 0}
        failures, scrapes, reloads = [], [], []
        stop = threading.Event()
        side = [threading.Thread(target=full_scraper, args=(t, stop, failures, scrapes)),
                threading.Thread(target=reloader, args=(t, stop, reloads))]
        client_counts = [{"udp": 0, "http": 0} for _ in models]
        clients = [threading.Thread(target=udp_client, args=(t, n, models[n], client_counts[n], failures))
                   for n in range(UDP_CLIENTS)]
        clients.append(threading.Thread(target=http_client, args=(t, models[-1], client_counts[-1], failures)))
        for th in side + clients:
            th.start()
        for th in clients:
            th.join(600)
        stop.set()
        for th in side:
            th.join(60)
        assert failures == []
        assert scrapes and reloads, "full scrapes and reloads ran meanwhile"
        counts = {k: sum(c[k] for c in client_counts) for k in counts}

        # Every swarm as the clients' models say it must be.
        hashes = "&".join("info_hash=" + quote_from_bytes(x) for x in TORRENTS)
        files = bdecode(t.get("/scrape?" + hashes)[2])[b"files"]
        for ti, x in enumerate(TORRENTS):
            peers = [s for m in models for (i, _), s in m.peers.items() if i == ti]
            seeders = sum(1 for s in peers if s[0])
            got = files.get(x, {b"complete": 0, b"incomplete": 0, b"downloaded": 0})
            assert (got[b"complete"], got[b"incomplete"], got[b"downloaded"]) == (
                seeders, len(peers) - seeders, sum(m.downloads[ti] for m in models)), ti
        everything = t.get("/stats?mode=everything")[2].decode()
        overall = int(re.search(r"<udp>\s*<overall>(\d+)</overall>", everything).group(1))
        tcp_announces = int(re.search(r"<tcp>.*?<announce>(\d+)</announce>", everything, re.S).group(1))
        loops = [int(n) for n in re.findall(r'<worker id="\d+"><udp>(\d+)</udp>', everything)]
        assert overall == counts["udp"] == sum(loops) and len(loops) == 4
        assert tcp_announces == counts["http"]

        # Every peer stops: the peers' account is back where it started.
        for m in models:
            for (ti, (addr, port)), _ in list(m.peers.items()):
                status, _, _ = t.get("/announce?info_hash=%s&port=%d&left=1&event=stopped" % (
                    quote_from_bytes(TORRENTS[ti]), port), source=addr)
                assert status.endswith("200 OK")
        assert int(t.get("/stats?mode=peer")[2].split()[0]) == 0
        assert _metric(t.get("/metrics")[2].decode(), 'opentracker_memory_bytes{use="peers"}') == empty_peers
        assert t.stop() == 0
