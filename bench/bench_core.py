"""Microbenchmark of the core alone: announces per second through the store
and the HTTP body writer in a C loop (no sockets), and the store's bytes per
peer and per torrent as it accounts them.

    python bench/bench_core.py [--torrents T] [--peers P] [--announces N]

The loop is not in the shipped module: bench/corebench/ compiles the same
core sources with it (about a minute the first time, cached in build/).
"""

import argparse
import json
import platform
import time

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "corebench"))
import build as corebench_build  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torrents", type=int, default=100_000)
    ap.add_argument("--peers", type=int, default=1_000_000, help="distinct peer addresses")
    ap.add_argument("--announces", type=int, default=3_000_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    corebench = corebench_build.load()
    Store, _bench_announce_loop = corebench.Store, corebench.announce_loop
    store = Store(seed=1, now=int(time.time()))
    # Populate: every announce of the warm-up pass makes (mostly) new peers.
    fill = _bench_announce_loop(store, args.torrents, args.peers, args.peers, False)
    st = store.stats()
    m = st["memory"]
    populated = {
        "torrents": st["torrents"],
        "peers": st["peers"],
        "fill_seconds": round(fill, 3),
        "bytes_total": m["total"],
        "bytes_per_peer": round((m["peers"] - m["peer_headers"] + m["peer_slack"]) / max(st["peers"], 1), 2),
        "bytes_per_torrent": round((m["torrents"] + m["torrent_slack"] + m["peer_headers"]) / max(st["torrents"], 1), 2),
    }
    with_reply = _bench_announce_loop(store, args.torrents, args.peers, args.announces, True)
    store_only = _bench_announce_loop(store, args.torrents, args.peers, args.announces, False)
    result = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "populated": populated,
        "announces": args.announces,
        "announces_per_second_with_reply": round(args.announces / with_reply),
        "announces_per_second_store_only": round(args.announces / store_only),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("populated: %(torrents)d torrents, %(peers)d peers in %(fill_seconds)ss" % populated)
    print("memory: %d bytes total, %.2f B/peer, %.2f B/torrent (64-bit)" % (
        populated["bytes_total"], populated["bytes_per_peer"], populated["bytes_per_torrent"]))
    print("announce + HTTP body: %d/s" % result["announces_per_second_with_reply"])
    print("announce, store only: %d/s" % result["announces_per_second_store_only"])


if __name__ == "__main__":
    main()
