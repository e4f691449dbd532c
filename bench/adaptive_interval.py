"""Announces/s per 1 M peers with tracker.adaptive_interval off and on
(issue 25, part 1; docs/compatibility.md, "Adaptive announce intervals").

A simulated population, paced as clients pace themselves: N peers in T
torrents whose sizes follow Zipf's law (torrent i has about N / (H_T * i)
peers, at least one: a few huge swarms, a long tail of tiny ones, as on a
public tracker). Every peer announces once at a random moment of the first
base interval, then again exactly when the interval its last answer told it
is over (the drawn value, spread included). The tracker is the in-process
test build (tests/helpers/testcore.py): the same core, its clock moved on
instead of waited for, the clean cycle run every simulated 2 minutes as the
loop runs it. After a warm-up of one ceiling (7200 s, so every peer has been
told its steady-state interval at least once), announces are counted for
`--measure` simulated seconds; announces/s is that count over that time,
scaled to 1 M peers.

Also counted: announces that found their peer gone (it expired before it
came back, which the per-peer timeout must prevent: expected 0), and the
mean interval told.

The load's steps are not simulated (no loop runs, so the CPU share is not
measured, and there is no memory limit): the ratio is what swarm size
alone saves; under load the saving is larger.

    python bench/adaptive_interval.py                  # N=200,000, T=20,000
    python bench/adaptive_interval.py -N 50000 -T 5000 --measure 3600
"""

import argparse
import hashlib
import heapq
import os
import random
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from helpers.testcore import core  # noqa: E402

CLEAN_EVERY = 120       # seconds: a full clean pass of the loop takes 117 s
CEILING = core.INTERVAL_CEILING


def sizes(peers, torrents):
    harmonic = sum(1.0 / i for i in range(1, torrents + 1))
    out = [max(1, int(round(peers / (harmonic * i)))) for i in range(1, torrents + 1)]
    return out


def run(adaptive, peers, torrents, measure, seed):
    rng = random.Random(seed)
    srv = core.Server(seed=seed)
    srv.configure(adaptive_interval=adaptive)
    population = []            # (info_hash, ip text, port)
    for t, size in enumerate(sizes(peers, torrents)):
        h = hashlib.sha1(b"bench-%d" % t).digest()
        for k in range(size):
            n = len(population)
            population.append((h, "10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255), 1024 + (n >> 24)))
    base = 1800
    queue = [(rng.uniform(0, base), i) for i in range(len(population))]
    heapq.heapify(queue)
    start, warm, end = 0.0, float(CEILING), float(CEILING + measure)
    now = 0.0
    next_clean = CLEAN_EVERY
    counted = lost = 0
    told_sum = 0
    wall = time.perf_counter()
    while queue and queue[0][0] < end:
        at, i = heapq.heappop(queue)
        while next_clean <= at:
            srv.clock_offset += int(next_clean - now)
            now = float(int(next_clean))
            srv.store.clean()
            next_clean += CLEAN_EVERY
        if int(at) > now:
            srv.clock_offset += int(at) - int(now)
            now = float(int(at))
        h, ip, port = population[i]
        body = srv.announce_http(h, ip, port, numwant=0)
        j = body.index(b"8:intervali") + 11
        told = int(body[j:body.index(b"e", j)])
        if at >= warm:
            counted += 1
            told_sum += told
            if srv.last_outcome["new_peer"]:
                lost += 1
        heapq.heappush(queue, (at + told, i))
    wall = time.perf_counter() - wall
    n = len(population)
    rate = counted / measure
    return dict(adaptive=adaptive, peers=n, torrents=torrents, announces=counted, seconds=measure,
                per_second=rate, per_second_per_million=rate * 1e6 / n,
                mean_interval=told_sum / counted if counted else 0, lost=lost, wall=wall)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-N", "--peers", type=int, default=200_000)
    ap.add_argument("-T", "--torrents", type=int, default=20_000)
    ap.add_argument("--measure", type=int, default=7200, help="simulated seconds counted after the warm-up")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    results = [run(on, args.peers, args.torrents, args.measure, args.seed) for on in (False, True)]
    big = sum(1 for s in sizes(args.peers, args.torrents) if s > 50)
    print("population: %d peers in %d torrents (Zipf), %d swarms over 50 peers holding %d peers"
          % (results[0]["peers"], args.torrents, big,
             sum(s for s in sizes(args.peers, args.torrents) if s > 50)))
    print("%-9s %12s %14s %12s %6s %8s" % ("adaptive", "announces/s", "per 1 M peers", "mean told s",
                                             "lost", "wall s"))
    for r in results:
        print("%-9s %12.1f %14.1f %12.0f %6d %8.1f" % ("on" if r["adaptive"] else "off", r["per_second"],
                                                        r["per_second_per_million"], r["mean_interval"],
                                                        r["lost"], r["wall"]))
    print("ratio on/off: %.3f" % (results[1]["per_second"] / results[0]["per_second"]))
    return results


if __name__ == "__main__":
    main()
