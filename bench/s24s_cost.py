#!/usr/bin/env python3
"""What one /stats?mode=s24s costs: our tracker against the C original, on loopback.

    python bench/s24s_cost.py [--impl ours|c|both] [--sources N] [--per-source K] [--torrents T]
                              [--repeats R] [--ours-src DIR] [--json]

Each tracker (pinned to CPU 0, with a whitelist of T torrents) is populated over UDP from N
source addresses scattered over 127.0.0.0/8 (so that the peers fall into tens of thousands
of networks, s24s's hardest case), each announcing K torrents: N * K peers. Then s24s is
asked R times: the median wall time of an answer, the tracker's CPU time per answer
(/proc/PID/stat, over all R) and its largest peak RSS growth (VmHWM reset through
/proc/PID/clear_refs before each request). The two answers must be equal, byte
for byte. --ours-src runs ours from another source tree (an older commit, for a before/after).

Traffic goes to 127.0.0.1 only, from addresses in 127.0.0.0/8; everything started is
stopped on exit.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import announce_storm as storm
import fsreaders


def source_address(i):
    """The i-th source: a bijection of the 24-bit space (odd multiplier), so
    neighbours land in different networks; never .0 or .255 last."""
    x = (i * 0x9E3779 + 0x5BD1E9) & 0xFFFFFF
    a, b, c = x >> 16, (x >> 8) & 255, x & 255
    return "127.%d.%d.%d" % (a, b, min(max(c, 1), 254))


def populate(port, hashes, sources, per_source, deadline):
    """Every source announces per_source torrents (event=started, numwant 0);
    returns the number of announces answered."""
    answered = 0
    seen = set()
    i = 0
    while len(seen) < sources:
        addr = source_address(i)
        i += 1
        if addr in seen:
            continue
        seen.add(addr)
        if time.monotonic() > deadline:
            raise RuntimeError("population took too long")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((addr, 0))
            s.connect(("127.0.0.1", port))
            s.settimeout(2.0)
            s.send(struct.pack(">QII", 0x41727101980, 0, 1))
            try:
                reply = s.recv(64)
            except socket.timeout:
                continue
            conn = reply[8:16]
            first = (len(seen) * 7) % len(hashes)
            for k in range(per_source):
                h = hashes[(first + k) % len(hashes)]
                s.send(conn + struct.pack(">II", 1, 100 + k) + h + b"-S24S01-000000000000" +
                       struct.pack(">QQQIIIiH", 0, 1, 0, 2, 0, 0, 0, 1025 + k))
            for _ in range(per_source):
                try:
                    reply = s.recv(2048)
                except socket.timeout:
                    break
                if len(reply) >= 20 and struct.unpack(">I", reply[:4])[0] == 1:
                    answered += 1
    return answered


def ask_s24s(port):
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(b"GET /stats?mode=s24s HTTP/1.0\r\n\r\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200"):
        raise RuntimeError("s24s answered %r" % head[:60])
    return body


def measure(impl, a, workdir, whitelist, hashes, c_binary, env):
    tr = storm.Tracker(impl, workdir, whitelist, c_binary, env, 0 if len(os.sched_getaffinity(0)) > 1 else None)
    out = {"impl": impl}
    try:
        tr.start(hashes[0])
        pid = tr.proc.pid
        t0 = time.monotonic()
        out["announces"] = populate(tr.port, hashes, a.sources, a.per_source, t0 + 900)
        out["populate_seconds"] = round(time.monotonic() - t0, 1)
        out["rss_kb"] = storm.mem_kb(pid)["VmRSS"]
        storm.log("  %s: %d announces in %.1f s, VmRSS %d kB" % (impl, out["announces"], out["populate_seconds"],
                                                                 out["rss_kb"]))
        walls, peaks = [], []
        body = None
        c0 = storm.cpu_seconds(pid)
        for _ in range(a.repeats):
            before = storm.mem_kb(pid)["VmRSS"]
            hwm_ok = fsreaders.reset_hwm(pid)
            w0 = time.perf_counter()
            body = ask_s24s(tr.port)
            walls.append(time.perf_counter() - w0)
            if hwm_ok:
                peaks.append(storm.mem_kb(pid)["VmHWM"] - before)
        time.sleep(0.05)          # the tracker's last ticks of the last answer
        # CPU time is counted in clock ticks (10 ms): over every repeat, then divided.
        out["cpu_ms"] = round((storm.cpu_seconds(pid) - c0) * 1000 / a.repeats, 2)
        out["wall_ms"] = round(statistics.median(walls) * 1000, 2)
        out["peak_growth_kb"] = max(peaks) if peaks else None
        out["networks_listed"] = body.count(b"\n") - 4
        out["body"] = body
        storm.log("  %s: s24s %.1f ms wall, %.1f ms CPU, peak RSS growth %s kB" % (
            impl, out["wall_ms"], out["cpu_ms"], out["peak_growth_kb"]))
    finally:
        tr.stop()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--impl", choices=("ours", "c", "both"), default="both")
    ap.add_argument("--sources", type=int, default=100_000, help="source addresses (default 100000)")
    ap.add_argument("--per-source", type=int, default=2, help="torrents each source announces (default 2)")
    ap.add_argument("--torrents", type=int, default=1000, help="whitelisted torrents (default 1000)")
    ap.add_argument("--repeats", type=int, default=20, help="s24s requests per tracker (default 20)")
    ap.add_argument("--ours-src", help="run ours from this source tree's src/ (built in place)")
    ap.add_argument("--c-binary", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, storm._on_sigterm)
    impls = ["ours", "c"] if a.impl == "both" else [a.impl]
    c_binary = storm.find_c_binary(a.c_binary)
    if "c" in impls and c_binary is None:
        storm.log("no C opentracker binary found: measuring ours only")
        impls = ["ours"]
    env = storm.child_env()
    if a.ours_src:
        env["PYTHONPATH"] = os.path.abspath(os.path.join(a.ours_src, "src"))
    workdir = tempfile.mkdtemp(prefix="s24s-cost-")
    os.chmod(workdir, 0o755)
    report = {"params": vars(a), "machine": storm.machine_info(), "commit": storm.git_commit(), "runs": []}
    try:
        loadgen = storm.build_loadgen()
        whitelist = os.path.join(workdir, "whitelist.txt")
        subprocess.run([loadgen, "hashes", "--torrents", str(a.torrents), "--out", whitelist], check=True,
                       timeout=120)
        os.chmod(whitelist, 0o644)
        with open(whitelist) as f:
            hashes = [bytes.fromhex(line.strip()) for line in f if line.strip()]
        for impl in impls:
            storm.log("%s:" % impl)
            report["runs"].append(measure(impl, a, workdir, whitelist, hashes, c_binary, env))
    except (KeyboardInterrupt, storm.Interrupted):
        storm.log("interrupted")
        return 130
    finally:
        storm.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    bodies = {r["impl"]: r.pop("body") for r in report["runs"]}
    report["same_answer"] = len(set(bodies.values())) == 1 if len(bodies) > 1 else None
    if a.json:
        json.dump(report, sys.stdout, indent=1)
        print()
        return 0
    print("s24s of %d sources x %d torrents, %s, commit %s" % (a.sources, a.per_source,
                                                              report["machine"]["cpu_model"], report["commit"]))
    print("%-6s %12s %10s %10s %16s %10s" % ("impl", "announces", "wall ms", "CPU ms", "peak growth kB",
                                            "RSS kB"))
    for r in report["runs"]:
        print("%-6s %12d %10.1f %10.1f %16s %10d" % (r["impl"], r["announces"], r["wall_ms"], r["cpu_ms"],
                                                    r["peak_growth_kb"], r["rss_kb"]))
    if report["same_answer"] is not None:
        print("answers byte-identical: %s" % report["same_answer"])
    return 0 if report["same_answer"] in (None, True) else 1


if __name__ == "__main__":
    sys.exit(main())
