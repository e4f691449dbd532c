"""Memory budget of the core on one target, under qemu-user.

    python memory.py TARGET [--torrents 100000] [--peers 500000]

Runs memload.py with the target's Python and the glibc build of the core,
and measures the guest's real RSS: qemu runs with a fixed guest base (-B), and
the host sums the Rss of the qemu process's mappings inside the guest window
(/proc/PID/smaps), which leaves out qemu's own 20-40 MB. Reported:

  base_rss       the interpreter with opentracker_core imported, store empty
  full_rss       after the fill (steady state, garbage collected)
  peak_rss       highest sample (every 20 ms) over the whole run
  core_*         the core's own accounting (Store.stats()["memory"]: exact
                 requested bytes, no malloc overhead)
  bytes_per_peer     (peer records + spare records) / peers
  bytes_per_torrent  (torrent slots + spare slots + per-swarm list headers) / torrents

Budget (DESIGN.md, 32-bit targets only): bytes_per_peer <= 12,
bytes_per_torrent <= 64, full_rss <= 24 MiB. 64-bit targets are reported,
not judged. Writes $OUT/results/TARGET.mem; exit 1 when over budget.
The allocator is glibc's here; OpenWrt's musl mallocng differs (see README).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

XB = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("OT_XBUILD_CACHE", "/var/cache/opentracker-xbuild")
OUT = os.environ.get("OT_XBUILD_OUT", os.path.join(CACHE, "out"))
BASE, WINDOW = 0x100000000000, 1 << 44      # guest address g lives at host BASE + g
MIB = 1 << 20
BUDGET = {"bytes_per_peer": 12, "bytes_per_torrent": 64, "rss": 24 * MIB}

sys.path.insert(0, XB)
from build import targets  # noqa: E402

_MAP = re.compile(r"^([0-9a-f]+)-[0-9a-f]+ ")


def guest_rss(pid):
    """Bytes resident in the guest window of qemu process pid."""
    total = 0
    inside = False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = _MAP.match(line)
            if m:
                inside = BASE <= int(m.group(1), 16) < BASE + WINDOW
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1]) * 1024
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--torrents", type=int, default=100_000)
    ap.add_argument("--peers", type=int, default=500_000)
    args = ap.parse_args()
    t = targets()[args.target]
    sr = os.path.join(CACHE, "sysroot-" + t["name"])
    env = dict(os.environ, PYTHONPATH=os.path.join(OUT, "gnu-" + t["name"], "site"),
               PYTHONDONTWRITEBYTECODE="1", QEMU_LD_PREFIX=sr)
    argv = ["qemu-%s-static" % t["qemu"], "-B", hex(BASE), "-L", sr, os.path.join(sr, "usr/bin/python3.11"),
            os.path.join(XB, "memload.py"), str(args.torrents), str(args.peers)]
    started = time.time()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], guest_rss(p.pid))
            except (OSError, ValueError):
                break
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rss = {}
    stats = None
    try:
        for line in p.stdout:
            if line.startswith("PHASE "):
                phase = line.split()[1]
                rss[phase] = guest_rss(p.pid)
                p.stdin.write("\n")
                p.stdin.flush()
            elif line.startswith("STATS "):
                stats = json.loads(line[6:])
            else:
                sys.stdout.write(line)
    finally:
        done.set()
        rc = p.wait(timeout=120)
        sampler.join(timeout=5)
    if rc != 0 or stats is None or "full" not in rss:
        sys.exit("memory: %s: guest failed (rc %s)" % (t["name"], rc))
    m = stats["memory"]
    torrents, peers = stats["torrents"], stats["peers"]
    if torrents != args.torrents or abs(peers - args.peers) > args.peers // 1000:
        sys.exit("memory: %s: filled %d torrents / %d peers, asked %d / %d" % (
            t["name"], torrents, peers, args.torrents, args.peers))
    res = {
        "mem_torrents": torrents,
        "mem_peers": peers,
        "core_bytes": m["total"],
        "bytes_per_peer": round((m["peers"] - m["peer_headers"] + m["peer_slack"]) / peers, 2),
        "bytes_per_torrent": round((m["torrents"] + m["torrent_slack"] + m["peer_headers"]) / torrents, 2),
        "base_rss": rss["base"],
        "full_rss": rss["full"],
        "peak_rss": max(peak[0], rss["full"]),
        "mem_seconds": round(time.time() - started),
        "fill": stats["fill"],
    }
    over = []
    if int(t["bits"]) == 32:
        for key, limit in (("bytes_per_peer", BUDGET["bytes_per_peer"]),
                           ("bytes_per_torrent", BUDGET["bytes_per_torrent"]),
                           ("full_rss", BUDGET["rss"])):
            if res[key] > limit:
                over.append("%s %s > %s" % (key, res[key], limit))
    res["mem_budget"] = ("OVER: " + "; ".join(over)) if over else ("ok" if int(t["bits"]) == 32 else "n/a (64-bit)")
    os.makedirs(os.path.join(OUT, "results"), exist_ok=True)
    with open(os.path.join(OUT, "results", t["name"] + ".mem"), "w") as f:
        for k, v in res.items():
            f.write("%s=%s\n" % (k, v))
    print("%s: %d torrents, %d peers (%s, %ss): core %.2f MiB = %.2f B/peer + %.2f B/torrent; "
          "guest RSS base %.1f MiB, full %.1f MiB, peak %.1f MiB; budget %s" % (
              t["name"], torrents, peers, res["fill"], stats["fill_seconds"], m["total"] / MIB,
              res["bytes_per_peer"], res["bytes_per_torrent"], res["base_rss"] / MIB, res["full_rss"] / MIB,
              res["peak_rss"] / MIB, res["mem_budget"]))
    print("  core memory: " + json.dumps(m))
    sys.exit(1 if over else 0)


if __name__ == "__main__":
    main()
