"""Host side of router.sh: start what procd was asked to start, under qemu,
from the emulated root's installed files, and measure it.

    python routerrun.py TARGET ROOT RECORD PORT [--torrents T --peers P]
                        [--loadgen BIN] [--csysroot DIR] [--smoke-only]

RECORD is the procd stand-in's record of the instance (command, limits,
...). The command runs as procd would run it (its nofile limit applied),
under `qemu-<arch>-static -B BASE -L ROOT`; a script's #! line is followed
here, because qemu-user runs ELF files only.

Checks and measures, writing key=value lines to stdout:
  so_imported     the package's extension module, the root's musl libc.so and
                  libpython are mapped into the emulated process (read from
                  the qemu process's /proc/PID/maps: qemu maps guest files
                  from their host paths)
  ours_*_rss      guest RSS (memory.py's method: the Rss of the mappings
                  inside the fixed guest window, so qemu's own memory is left
                  out) with no swarm (base), after 100,000 torrents / 500,000
                  IPv4 peers announced over UDP by bench/loadgen.c from the
                  host (full), and the highest sample (peak)
  core_peer_bytes the core's own accounting from /metrics
  py_base_rss     the musl python3-light interpreter alone, idle
  c_*_rss         the C original (Debian's opentracker binary package, glibc,
                  whitelist-only) from the target's Debian sysroot under the
                  same qemu, whitelist = the load's hashes, same load
Exit 1 when the tracker does not start, the .so is not the one mapped, the
load is not fully stored, or the process does not exit 0 on SIGTERM.
"""

import argparse
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

XB = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, XB)
from build import targets  # noqa: E402
from memory import BASE, guest_rss  # noqa: E402

MIB = 1 << 20


def record(path):
    """The procd stand-in's record: {'command': [...], 'limits': [...], ...}."""
    out = {"command": []}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(" ")
            if key == "arg":
                out["command"].append(value)
            elif key != "command":
                out.setdefault(key, []).append(value)
    return out


def host_argv(root, command):
    """qemu-user runs ELF files: follow a script's #! line as the kernel does."""
    with open(os.path.join(root, command[0].lstrip("/")), "rb") as f:
        first = f.readline(256)
    if first.startswith(b"#!"):
        command = first[2:].decode().split() + command
    return [os.path.join(root, command[0].lstrip("/"))] + command[1:]


def nofile_limit(rec):
    for item in rec.get("limits", []):
        m = re.match(r'nofile="?(\d+) (\d+)"?', item)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


class Guest:
    """One emulated process with a fixed guest base; samples its peak RSS."""

    def __init__(self, qemu, root, argv, stderr_path, limits=None):
        def pre():
            if limits:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, limits)
        self.err = open(stderr_path, "wb")
        self.stderr_path = stderr_path
        # The router's environment has no PYTHON* variables of the host's.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self.p = subprocess.Popen([qemu, "-B", hex(BASE), "-L", root] + argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=self.err, preexec_fn=pre, env=env)
        self.peak = 0
        self._done = threading.Event()
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()

    def _sample(self):
        while not self._done.is_set():
            try:
                self.peak = max(self.peak, guest_rss(self.p.pid))
            except (OSError, ValueError):
                return
            time.sleep(0.02)

    def rss(self):
        return guest_rss(self.p.pid)

    def maps(self):
        with open("/proc/%d/maps" % self.p.pid) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        self._done.set()
        self._t.join(5)
        self.err.close()
        return self.p.returncode

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")


def http(port, path, timeout=5.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("GET %s HTTP/1.0\r\n\r\n" % path).encode())
        chunks = []
        while True:
            d = s.recv(65536)
            if not d:
                return b"".join(chunks)
            chunks.append(d)


def wait_ready(g, port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if g.p.poll() is not None:
            return False
        try:
            if http(port, "/ready", timeout=2.0):
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def settle(g, seconds=3.0):
    """RSS once it stopped moving (the loop frees answers, the allocator returns pages)."""
    last, stable_since = g.rss(), time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = g.rss()
        if abs(now - last) > 64 * 1024:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= seconds:
            break
    return g.rss()


def populate(loadgen, port, torrents, peers, out_path):
    # One socket a source address; 64 sockets keep 100k torrents x 5 peers
    # unique (address, port) pairs inside each swarm (loadgen.c's scheme).
    argv = [loadgen, "populate", "--udp-port", str(port), "--torrents", str(torrents), "--peers",
            str(peers), "--sockets", "64", "--window", "256", "--timeout", "10", "--max-seconds", "900"]
    with open(out_path, "wb") as f:
        subprocess.run(argv, stdout=f, check=True, timeout=960)
    with open(out_path) as f:
        return json.load(f)


def metrics(port):
    body = http(port, "/metrics", timeout=30).partition(b"\r\n\r\n")[2].decode()
    out = {}
    for line in body.splitlines():
        m = re.match(r'^(opentracker_[a-z_]+)(\{[^}]*\})? ([0-9.e+]+)$', line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("root")
    ap.add_argument("record")
    ap.add_argument("port", type=int)
    ap.add_argument("--torrents", type=int, default=100_000)
    ap.add_argument("--peers", type=int, default=500_000)
    ap.add_argument("--loadgen")
    ap.add_argument("--csysroot")
    ap.add_argument("--work", default=tempfile.gettempdir())
    ap.add_argument("--smoke-only", action="store_true")
    ap.add_argument("--tag", default="ours",
                    help="prefix of the keys written; not 'ours': measure the running service only (no "
                         "python3-light base, no C original, no budget verdict), e.g. w2 with tracker.workers 2")
    a = ap.parse_args()
    t = targets()[a.target]
    qemu = "qemu-%s-static" % t["qemu"]
    root = os.path.realpath(a.root)
    rec = record(a.record)
    res = {}

    def out(k, v):
        res[k] = v
        print("%s=%s" % (k, v), flush=True)

    argv = host_argv(root, rec["command"])
    out("command", shlex.join(rec["command"]))
    out("qemu_argv", shlex.join([qemu, "-B", hex(BASE), "-L", root] + argv))
    g = Guest(qemu, root, argv, os.path.join(a.work, a.tag + ".stderr"), nofile_limit(rec))
    started = time.monotonic()
    if not wait_ready(g, a.port, 120):
        rc = g.stop()
        sys.stderr.write(g.stderr())
        sys.exit("routerrun: the installed tracker did not start (exit %s)" % rc)
    out(a.tag + "_start_seconds", round(time.monotonic() - started, 1))
    maps = g.maps()
    want = {
        "so": os.path.join(root, "usr/lib/python3.11/site-packages/opentracker_core/"),
        "libc": os.path.join(root, "lib/libc.so"),
        "libpython": os.path.join(root, "usr/lib/libpython3.11.so"),
    }
    mapped = {k: any(p.startswith(v) and p.endswith(".so") or p.startswith(v + ".")
                     for p in re.findall(r"(/\S+)$", maps, re.M)) for k, v in want.items()}
    sos = sorted({p for p in re.findall(r"(/\S+\.so)$", maps, re.M) if p.startswith(want["so"])})
    out("so_mapped", ",".join(os.path.relpath(p, root) for p in sos) or "none")
    out("so_imported", "yes" if all(mapped.values()) else "NO (%s)" % ", ".join(k for k, v in mapped.items() if not v))
    if not all(mapped.values()):
        g.stop()
        sys.exit("routerrun: not running on the installed files: %s" % mapped)
    status = http(a.port, "/stats?mode=version").split(b"\r\n", 1)[0]
    out("stats_status", status.decode(errors="replace").replace(" ", "_"))
    if a.smoke_only:
        rc = g.stop()
        out(a.tag + "_exit", rc)
        sys.exit(0 if rc == 0 else 1)

    base = settle(g)
    out(a.tag + "_base_rss", base)
    pop = populate(a.loadgen, a.port, a.torrents, a.peers, os.path.join(a.work, "populate-%s.json" % a.tag))
    out(a.tag + "_populate_seconds", pop.get("elapsed_seconds"))
    out(a.tag + "_populated", pop["counts"]["populated"])
    full = settle(g)
    m = metrics(a.port)
    stored_peers = int(m.get("opentracker_peers", m.get('opentracker_peers{family="ipv4"}', 0)))
    out(a.tag + "_full_rss", full)
    out(a.tag + "_peak_rss", max(g.peak, full))
    out("core_peer_bytes", int(m.get('opentracker_memory_bytes{use="peers"}', 0)))
    out("core_torrent_bytes", int(m.get('opentracker_memory_bytes{use="torrents"}', 0)))
    out("core_budget_bytes", int(m.get("opentracker_memory_budget_used_bytes", 0)))
    torrents_seen = int(m.get("opentracker_torrents", 0))
    out(a.tag + "_torrents", torrents_seen)
    out(a.tag + "_peers", stored_peers)
    rc = g.stop()
    out(a.tag + "_exit", rc)
    ok = rc == 0 and pop["counts"]["populated"] >= a.peers and torrents_seen == a.torrents
    if stored_peers:
        ok = ok and stored_peers == a.peers
    out(a.tag + "_loops", int(m.get("opentracker_workers", 1)))
    if a.tag != "ours":
        sys.exit(0 if ok else 1)

    # python3-light's own base: the interpreter, idle, nothing imported.
    py = Guest(qemu, root, [os.path.join(root, "usr/bin/python3.11"), "-c", "import sys; sys.stdin.readline()"],
               os.path.join(a.work, "py.stderr"))
    time.sleep(1.0)
    out("py_base_rss", settle(py, 1.5))
    py.p.stdin.close()
    py.stop()

    if a.csysroot:
        wl = os.path.join(a.work, "whitelist.txt")
        subprocess.run([a.loadgen, "hashes", "--torrents", str(a.torrents), "--out", wl], check=True,
                       stdout=subprocess.DEVNULL)
        conf = os.path.join(a.work, "c.conf")
        with open(conf, "w") as f:
            f.write("listen.tcp 127.0.0.1:%d\nlisten.udp 127.0.0.1:%d\naccess.whitelist %s\n" % (a.port, a.port, wl))
        os.chmod(a.work, 0o755)
        os.chmod(wl, 0o644)
        c = Guest(qemu, os.path.realpath(a.csysroot), [os.path.join(a.csysroot, "usr/bin/opentracker"), "-f", conf],
                  os.path.join(a.work, "c.stderr"))
        if not wait_ready(c, a.port, 60):
            c.stop(signal.SIGKILL)
            sys.exit("routerrun: the C original did not start: %s" % c.stderr())
        # Its whitelist loads in a thread after start-up: wait until the
        # last hash of the list is accepted.
        with open(wl) as f:
            last = bytes.fromhex(f.read().split()[-1])
        q = "".join("%%%02x" % b for b in last)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            body = http(a.port, "/announce?info_hash=%s&port=1&peer_id=%s&left=0&event=stopped" % (q, "x" * 20))
            if b"failure" not in body:
                break
            time.sleep(0.5)
        out("c_base_rss", settle(c))
        pop = populate(a.loadgen, a.port, a.torrents, a.peers, os.path.join(a.work, "populate-c.json"))
        out("c_populated", pop["counts"]["populated"])
        out("c_populate_seconds", pop.get("elapsed_seconds"))
        full = settle(c)
        out("c_full_rss", full)
        out("c_peak_rss", max(c.peak, full))
        c.stop(signal.SIGINT)
        ok = ok and pop["counts"]["populated"] >= a.peers

    # DESIGN.md's router budget, on the emulated router: the whole process
    # at most 24 MiB at 100k torrents / 500k peers on 32-bit targets, and at
    # most the C original plus python3-light's own base where there is one.
    over = []
    if int(t["bits"]) == 32 and max(res["ours_full_rss"], res["ours_peak_rss"]) > 24 * MIB:
        over.append("ours %.1f MiB > 24 MiB" % (max(res["ours_full_rss"], res["ours_peak_rss"]) / MIB))
    if "c_full_rss" in res and res["ours_full_rss"] > res["c_full_rss"] + res["py_base_rss"]:
        over.append("ours %.1f MiB > C %.1f + python3-light %.1f MiB" % (
            res["ours_full_rss"] / MIB, res["c_full_rss"] / MIB, res["py_base_rss"] / MIB))
    judged = int(t["bits"]) == 32 or "c_full_rss" in res
    out("router_budget", ("OVER: " + "; ".join(over)) if over else ("ok" if judged else "n/a"))
    sys.exit(0 if ok and not over else 1)


if __name__ == "__main__":
    main()
