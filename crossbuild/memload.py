"""Guest side of memory.py: fill the core's store with TORRENTS torrents and
PEERS distinct IPv4 peers, the way a router's tracker holds them, and report.

    python memload.py TORRENTS PEERS

Protocol on stdout/stdin (memory.py drives it): prints `PHASE base` after the
imports and waits for a line; fills the store; prints `STATS <json>` and
`PHASE full`, waits for a line, exits. The host measures the guest's RSS at
each PHASE.

The torrents are created first (Store.restore, peerless, as a state load
does); the peers then come from the core's C benchmark loop
(_bench_announce_loop: one announce per peer, each to a random torrent, so
swarm sizes are Poisson-distributed around PEERS/TORRENTS). Without that
helper a Python loop of announces does the same, more slowly.
"""

import gc
import json
import struct
import sys
import time

# The store filled through the test build's in-process announces (the
# shipped module has none); its store code is the shipped one's.
from opentracker_testcore import TestStore as Store

try:
    from opentracker_core._core import _bench_announce_loop
except ImportError:
    _bench_announce_loop = None

GOLDEN = 0x9E3779B97F4A7C15
MASK64 = (1 << 64) - 1


def bench_hash(t):
    """The info_hash _bench_announce_loop uses for torrent number t."""
    r = ((t + 1) * GOLDEN) & MASK64
    return bytes(((r >> ((k % 8) * 8)) & 0xFF) ^ ((k * 31 + t) & 0xFF) for k in range(20))


def wait(phase):
    sys.stdout.write("PHASE %s\n" % phase)
    sys.stdout.flush()
    sys.stdin.readline()


def main():
    torrents, peers = int(sys.argv[1]), int(sys.argv[2])
    now = int(time.time()) // 60 * 60
    gc.collect()
    wait("base")
    started = time.time()
    store = Store(seed=1, now=now)
    for t in range(torrents):
        store.restore(bench_hash(t), now // 60, 0)
    if _bench_announce_loop is not None:
        _bench_announce_loop(store, torrents, peers, peers, False)
        how = "_bench_announce_loop"
    else:
        for n in range(peers):
            t = (n * 2654435761) % torrents
            store.announce_http(bench_hash(t), struct.pack(">I", 0x0A000000 + n), 6881, numwant=0)
        how = "announce_http loop"
    gc.collect()
    st = store.stats()
    st["fill_seconds"] = round(time.time() - started, 1)
    st["fill"] = how
    st["pointer_bits"] = 8 * struct.calcsize("P")
    st["byteorder"] = sys.byteorder
    sys.stdout.write("STATS %s\n" % json.dumps(st))
    wait("full")
    del store


if __name__ == "__main__":
    main()
