"""Instructions per request of the core's HTTP and UDP handlers, counted by
valgrind's callgrind, for one checkout: the figure that stays put on a
machine shared with other work, where announces/s do not.

    python bench/handler_instructions.py --src DIR [--torrents T] [--peers P] [--requests N]

DIR is the checkout to measure, built in place (python setup.py build_ext
--inplace). Its in-process test entry point is detected:
  - the test build (tests/testbuild/, loaded by tests/helpers/testcore.py,
    built on first use): answer_udp for UDP; for HTTP both respond_http (the
    handlers alone, on a heap copy of the request) and answer_http (a socket
    pair served by the loop's own steps: conn_begin, conn_readable, sends);
  - before it (up to commit 00a6afc): the shipped module's
    Server._testhelper_http and Server._testhelper_udp.

Each measurement is a process under `valgrind --tool=callgrind`: a Server
(store seed 1, open access) is populated with P peers over T torrents by UDP
(connect once per source address, then one announce each, event=started,
numwant=0), then N requests of one kind are answered: re-announces of
existing peers (no event, numwant=50, compact; HTTP as bench/loadgen.c
writes them). The population alone is measured too, and its calls and
inclusive instructions of each function (callgrind's calls= records, every
call site summed) are subtracted, so neither the population's announces nor
the interpreter count: the figure is (I_N - I_0) / (calls_N - calls_0) for
the C functions http_respond and udp_respond (found with nm in the module
that is loaded) and, for answer_http, conn_readable (the read, the handler
and the send; what the kernel does in the syscalls is not counted).

The counts come from the module the entry points are in. Where the shipped
module has only one caller of a handler the compiler may inline it there
(at 923b436 the shipped .so has no http_respond or udp_respond symbol); the
test build keeps them as functions, since its entry points call them too.

Needs valgrind (Debian: apt-get install valgrind). About 3 minutes for a checkout
with the old entry points, 4 for one with the test build (2 cores, loaded).
"""

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

PEER_ADDRESSES = 32          # source addresses, as the load generator's --sockets
CONNECT = struct.pack(">QII", 0x41727101980, 0, 0)
FUNCTIONS = ("http_respond", "udp_respond", "conn_readable")


# ------------------------------------------------------------------ inner run

def peer(p, torrents):
    """Peer p as bench/loadgen.c lays them out: torrent p % T, address and
    port from its index in the torrent, so (address, port) is unique per torrent."""
    k = p // torrents
    a = k % PEER_ADDRESSES
    return p % torrents, "127.1.%d.%d" % (a // 250, 1 + a % 250), 1025 + k // PEER_ADDRESSES


def info_hash(t):
    return struct.pack(">I", t) + b"\x5a" * 16


def pct(raw):
    return "".join("%%%02X" % b for b in raw)


def http_announce(p, torrents):
    t, _addr, port = peer(p, torrents)
    seeder = p % 3 == 0
    return ("GET /announce?info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=%d&left=%d&numwant=50"
            "&compact=1&key=%d HTTP/1.0\r\nHost: 127.0.0.1:6969\r\nUser-Agent: loadgen\r\n\r\n"
            % (pct(info_hash(t)), pct(b"-LG0001-" + struct.pack(">IQ", 0, p)), port,
               1000000 if seeder else 0, 0 if seeder else 1000000, p)).encode()


def udp_announce(connid, p, torrents, event, numwant):
    t, _addr, port = peer(p, torrents)
    seeder = p % 3 == 0
    return (connid + struct.pack(">II", 1, p & 0xFFFFFFFF) + info_hash(t) + b"-LG0001-" + struct.pack(">IQ", 0, p)
            + struct.pack(">qqqIIIiH", 0 if seeder else 1000000, 0, 0, event, 0, p & 0xFFFFFFFF, numwant, port))


def load(src):
    """(Server class, module file, http entry names, udp entry name, kind)."""
    src = os.path.abspath(src)
    sys.path.insert(0, os.path.join(src, "src"))
    if os.path.exists(os.path.join(src, "tests", "testbuild", "opentracker_testcore.pyx")):
        sys.path.insert(0, os.path.join(src, "tests"))
        from helpers.testcore import core
        return core.Server, core.__file__, {"respond_http": "respond_http", "answer_http": "answer_http"}, \
            "answer_udp", "testbuild"
    import opentracker_core._core as shipped
    if not hasattr(shipped.Server, "_testhelper_http"):
        raise SystemExit("%s: neither tests/testbuild/ nor Server._testhelper_http" % src)
    return shipped.Server, shipped.__file__, {"respond_http": "_testhelper_http"}, "_testhelper_udp", "testhelper"


def check(ok, what, reply):
    if not ok:
        raise SystemExit("unexpected %s reply: %r" % (what, reply[:300]))


def inner(args):
    Server, module_file, http_entries, udp_entry, kind = load(args.src)
    if args.mode == "probe":
        print(json.dumps({"module": module_file, "kind": kind, "http": sorted(http_entries)}))
        return
    srv = Server(seed=1)
    udp = getattr(srv, udp_entry)
    connids = {}
    for a in range(PEER_ADDRESSES):
        addr = peer(a * args.torrents, args.torrents)[1]
        reply = udp(CONNECT, addr)
        check(len(reply) == 16 and reply[:4] == b"\0\0\0\0", "connect", reply)
        connids[addr] = reply[8:16]
    for p in range(args.peers):
        addr = peer(p, args.torrents)[1]
        reply = udp(udp_announce(connids[addr], p, args.torrents, 2, 0), addr)
        check(reply[:4] == b"\0\0\0\1", "UDP announce", reply)
    n, step = args.requests, 7919      # a prime stride: peers in a scattered order
    if args.mode == "udp":
        for i in range(n):
            p = (i * step) % args.peers
            addr = peer(p, args.torrents)[1]
            reply = udp(udp_announce(connids[addr], p, args.torrents, 0, 50), addr)
            check(reply[:4] == b"\0\0\0\1" and len(reply) > 20, "UDP announce", reply)
    elif args.mode != "none":
        http = getattr(srv, http_entries[args.mode])
        for i in range(n):
            p = (i * step) % args.peers
            reply = http(http_announce(p, args.torrents), peer(p, args.torrents)[1])
            check(reply[:5] == b"HTTP/" and reply[8:13] == b" 200 " and b"5:peers" in reply, "HTTP announce", reply)


# ------------------------------------------------------------------ outer run

def run_inner(args, mode, requests, out=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--inner", "--src", args.src, "--mode", mode,
           "--torrents", str(args.torrents), "--peers", str(args.peers), "--requests", str(requests)]
    if out:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + cmd
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit("%s failed:\n%s%s" % (" ".join(cmd), done.stdout[-2000:], done.stderr[-4000:]))
    return done.stdout


def symbols(module_file):
    """The C names Cython gives FUNCTIONS in the loaded module: the shipped
    module's __pyx_f_16opentracker_core_5_core_<f>, the test build's
    __pyx_f_20opentracker_testcore_<f>. A function that the compiler inlined
    everywhere has no symbol and is left out."""
    names = subprocess.run(["nm", module_file], capture_output=True, text=True, check=True).stdout.split()
    found = {}
    for f in FUNCTIONS:
        hits = [s for s in names if re.fullmatch(r"__pyx_f_\d+opentracker_(core_5_core|testcore)_" + f, s)]
        if len(hits) == 1:
            found[f] = hits[0]
    return found


def inclusive(out, wanted):
    """{function: (calls, inclusive instructions)} for the wanted symbols,
    summed over every call site in a callgrind output file (its calls= lines
    and the inclusive cost on the line after each)."""
    names, result = {}, {}
    target = None
    take = False
    with open(out) as f:
        for line in f:
            m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if m:
                kind, ident, name = m.groups()
                if name:
                    names[ident] = name
                if kind == "cfn":
                    target = names.get(ident)
                continue
            m = re.match(r"calls=(\d+)", line)
            if m:
                take = False
                for f_, sym in wanted.items():
                    if target == sym:
                        calls, cost = result.get(f_, (0, 0))
                        result[f_] = (calls + int(m.group(1)), cost)
                        take = f_
                continue
            if take:
                calls, cost = result[take]
                result[take] = (calls, cost + int(line.split()[1]))
                take = False
    return result


def outer(args):
    probe = json.loads(run_inner(args, "probe", 0).strip().splitlines()[-1])   # builds the test core if needed
    syms = symbols(probe["module"])
    modes = ["udp"] + probe["http"]
    result = {"src": os.path.abspath(args.src), "entry": probe["kind"], "module": probe["module"],
              "symbols": syms, "torrents": args.torrents, "peers": args.peers, "requests": args.requests,
              "per_request": {}}
    for mode in modes:
        run_inner(args, mode, 200)          # the replies are checked, quickly, without valgrind
    with tempfile.TemporaryDirectory(prefix="handler-instr-") as tmp:
        base = inclusive(_measured(args, tmp, "none", 0), syms)
        for mode in modes:
            cost = inclusive(_measured(args, tmp, mode, args.requests), syms)
            per = {}
            for f in syms:
                calls = cost.get(f, (0, 0))[0] - base.get(f, (0, 0))[0]
                if calls > 0:
                    per[f] = {"calls": calls,
                              "instructions": round((cost[f][1] - base.get(f, (0, 0))[1]) / calls)}
            result["per_request"][mode] = per
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("%s (%s entry points; %d torrents, %d peers, %d re-announces per kind)"
          % (result["src"], result["entry"], args.torrents, args.peers, args.requests))
    for mode, per in result["per_request"].items():
        print("  %-13s " % mode + ", ".join("%s %d instructions per call (%d calls)"
                                            % (f, v["instructions"], v["calls"]) for f, v in sorted(per.items())))


def _measured(args, tmp, mode, requests):
    out = os.path.join(tmp, "%s.out" % mode)
    run_inner(args, mode, requests, out)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", required=True, help="the checkout to measure (built in place)")
    ap.add_argument("--torrents", type=int, default=1000, help="torrents (default 1000)")
    ap.add_argument("--peers", type=int, default=10000, help="peers, P/T per torrent (default 10000)")
    ap.add_argument("--requests", type=int, default=20000, help="requests of each kind (default 20000)")
    ap.add_argument("--json", action="store_true", help="the result as JSON")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="probe", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        inner(args)
    else:
        outer(args)


if __name__ == "__main__":
    main()
