#!/usr/bin/env python3
"""Announce storm: our tracker against the C original, on loopback, one table.

    python bench/announce_storm.py [--impl ours|c|both] [--torrents T] [--peers P]
                                   [--duration S] [--repeats N] [--protocol udp|http|both]
                                   [--quick] [--json]
    python bench/announce_storm.py --fs-readers N [--fs-slow M] [--fs-gzip] [...]
    python bench/announce_storm.py --overload [--ov-duration S] [--ov-flood X] [...]
    python bench/announce_storm.py --workers 1,2,4 [--worker-cap 0.4] [...]

For each repeat and each implementation (the order alternates between repeats) it starts a
fresh tracker pinned to CPU 0 with a whitelist of the benchmark's T torrents, populates P
peers over UDP, reads VmRSS/VmHWM, then runs the compiled load generator (bench/loadgen.c,
pinned to CPU 1) for a fixed duration per protocol, and measures the tracker's CPU time
(/proc/PID/stat utime+stime) over each run. A last pair of paced runs measures announce
latency idle and while full scrapes (`GET /scrape`) are written to slow readers. Every
reply is validated by the generator; validation errors are counted and printed.

With --fs-readers N (or --fs-slow M) it runs the many-indexers scenario instead of the storm:
after population, N (and M slow) concurrent full-scrape readers for a fixed time, and the
announce probe idle and during them (bench/fsreaders.py, bench/fsreaders.c).

With --overload it runs the overload scenario instead (issue 25): capacity and request costs,
then paced announces at half the capacity idle and beside an open-loop flood of 74-hash UDP
scrapes and HTTP full scrapes worth twice the capacity; ours with shedding on and off, and the
C original (bench/overload.py).

With --workers N[,N...] it runs the multi-worker scaling scenario instead: per N, ours with
`tracker.workers N` beside the C original with `listen.udp.workers N`, UDP announces at full
speed with server and generator on the same two CPUs, then with every server thread capped
in its own cgroup (bench/workers.py).

The load generator is built with the system C compiler into a cache directory
($XDG_CACHE_HOME or ~/.cache, /opentracker-bench/), named by the hash of bench/loadgen.c.
Everything this script starts is stopped on exit, on errors and on Ctrl-C / SIGTERM.
Traffic goes to 127.0.0.1 only. See bench/README.md for what each figure means.
"""

import argparse
import ctypes
import hashlib
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import fsreaders
import overload
import workers

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LOADGEN_SRC = os.path.join(HERE, "loadgen.c")
C_CANDIDATES = ("/usr/bin/opentracker", "/usr/sbin/opentracker", "/usr/local/bin/opentracker")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

_children = []  # every Popen this script started, stopped in cleanup()


class Interrupted(Exception):
    pass


def _on_sigterm(signum, frame):
    raise Interrupted("signal %d" % signum)


def _preexec(cpu):
    """In the child: pin to one CPU (or a set of them), die with the parent, own process group."""
    cpus = None if cpu is None else set(cpu) if isinstance(cpu, (set, frozenset, list, tuple)) else {cpu}

    def fn():
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:
            pass
    return fn


def spawn(argv, cpu=None, **kw):
    p = subprocess.Popen(argv, preexec_fn=_preexec(cpu), start_new_session=True, **kw)
    _children.append(p)
    return p


def stop_process(p, sig=signal.SIGTERM, timeout=10.0):
    """Stop one child we started (by its pid only)."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        except ProcessLookupError:
            pass
    if p in _children:
        _children.remove(p)


def cleanup():
    # the cgroups first: a server stopped while capped would take 60 ms of every 100 to exit
    workers.release_all()
    for p in list(_children):
        stop_process(p, timeout=5.0)


# ---------------------------------------------------------------- environment

def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def find_c_binary(explicit=None):
    """The C opentracker as an ELF executable; `opentracker` on PATH may be our own
    Python entry point (a pyenv shim, a console script), so only ELF files count."""
    cands = [explicit] if explicit else []
    cands += [os.environ.get("OT_C_BINARY")] + list(C_CANDIDATES)
    cands += [os.path.join(d, "opentracker") for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK) and is_elf(c):
            return os.path.realpath(c)
    return None


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = os.path.join(base, "opentracker-bench")
    try:
        os.makedirs(d, exist_ok=True)
        if os.access(d, os.W_OK):
            return d
    except OSError:
        pass
    d = os.path.join(tempfile.gettempdir(), "opentracker-bench-%d" % os.getuid())
    os.makedirs(d, exist_ok=True)
    return d


def build_c(src, name, libs=()):
    """Compile src into the cache once per content: the name carries the hash of the source and
    of the headers beside it, since worktrees of other branches share the cache and an mtime
    test took their binary for ours."""
    h = hashlib.sha256()
    d = os.path.dirname(src)
    for path in [src] + sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".h")):
        with open(path, "rb") as f:
            h.update(f.read())
    digest = h.hexdigest()[:12]
    target = os.path.join(cache_dir(), "%s-%s" % (name, digest))
    if os.path.exists(target):
        return target
    cc = os.environ.get("CC", "cc")
    tmp = "%s.%d.tmp" % (target, os.getpid())
    log("building %s with %s" % (target, cc))
    subprocess.run([cc, "-O2", "-Wall", "-o", tmp, src] + list(libs), check=True, timeout=120)
    os.replace(tmp, target)
    return target


def build_loadgen():
    return build_c(LOADGEN_SRC, "loadgen")


def child_env():
    """Environment for `python -m opentracker`: adds src/ when the package is not installed."""
    env = dict(os.environ)
    try:
        import opentracker  # noqa: F401
        import opentracker_core  # noqa: F401
    except ImportError:
        src = os.path.join(REPO, "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if env.get("PYTHONPATH"):
        # the tracker runs in its own directory: a relative entry (PYTHONPATH=src) would miss
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) if p else p
                                            for p in env["PYTHONPATH"].split(os.pathsep))
    return env


def git_commit():
    try:
        out = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"machine": platform.machine(), "cpus": os.cpu_count(), "cpu_model": model,
            "kernel": platform.release(), "python": platform.python_version()}


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


def free_port():
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


# ---------------------------------------------------------------- /proc

def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def mem_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def python_base_rss(env, timeout=30.0):
    """VmRSS/VmHWM (kB) of an interpreter that imported our packages and does nothing."""
    code = ("import sys, opentracker_core, opentracker; sys.stdout.write('ready\\n'); "
            "sys.stdout.flush(); sys.stdin.read()")
    p = spawn([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE, env=env)
    try:
        r, _, _ = select.select([p.stdout], [], [], timeout)
        line = p.stdout.readline() if r else b""
        if line.strip() != b"ready":
            err = p.stderr.read().decode(errors="replace") if p.poll() is not None else "no answer"
            return {"error": err.strip().splitlines()[-1] if err.strip() else "no answer"}
        return mem_kb(p.pid)
    finally:
        try:
            p.stdin.close()
        except OSError:
            pass
        stop_process(p, timeout=5.0)


# ---------------------------------------------------------------- tracker

class Tracker:
    def __init__(self, impl, workdir, whitelist, c_binary, env, cpu):
        self.impl = impl
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="storm-%s-" % impl, dir=workdir)
        os.chmod(self.dir, 0o755)  # the C binary, started as root, reads as nobody
        self.config = os.path.join(self.dir, "opentracker.conf")
        with open(self.config, "w") as f:
            f.write("listen.udp 127.0.0.1:%d\n" % self.port)
            f.write("listen.tcp 127.0.0.1:%d\n" % self.port)
            f.write("access.whitelist %s\n" % whitelist)
            f.write("access.stats 127.0.0.1\n")
        if impl == "c":
            self.argv = [c_binary, "-f", self.config]
        else:
            self.argv = [sys.executable, "-m", "opentracker", "-f", self.config]
        self.env = env
        self.cpu = cpu
        self.stderr_path = os.path.join(self.dir, "stderr.txt")
        self.proc = None

    def start(self, first_hash, timeout=60.0):
        self._err = open(self.stderr_path, "wb")
        self.proc = spawn(self.argv, cpu=self.cpu, stdout=subprocess.DEVNULL, stderr=self._err,
                          cwd=self.dir, env=self.env)
        deadline = time.monotonic() + timeout
        self._wait_http(deadline)
        self._wait_whitelist(first_hash, deadline)
        return self

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")[-2000:]
        except OSError:
            return ""

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError("%s tracker exited with %s: %s" % (self.impl, self.proc.returncode,
                                                                  self.stderr().strip()))

    def _wait_http(self, deadline):
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
                    s.sendall(b"GET /ready HTTP/1.0\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s tracker did not answer HTTP in time: %s" % (self.impl, self.stderr()))

    def _wait_whitelist(self, info_hash, deadline):
        """Until an announce of a whitelisted hash is accepted (the C binary loads its list
        in a thread after start-up); the probe peer is then stopped again."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.255.255.254", 0))
            s.connect(("127.0.0.1", self.port))
            s.settimeout(0.5)
            conn = None
            while time.monotonic() < deadline:
                self._check_alive()
                try:
                    if conn is None:
                        s.send(struct.pack(">QII", 0x41727101980, 0, 7))
                        r = s.recv(64)
                        if len(r) >= 16 and struct.unpack(">II", r[:8]) == (0, 7):
                            conn = r[8:16]
                        continue
                    for event, tx in ((0, 8), (3, 9)):
                        pkt = (conn + struct.pack(">II", 1, tx) + info_hash + b"-PR0001-000000000000" +
                               struct.pack(">QQQIIIiH", 0, 0, 0, event, 0, 0, 0, 1))
                        s.send(pkt)
                        r = s.recv(2048)
                        if len(r) < 20 or struct.unpack(">II", r[:8]) != (1, tx):
                            break
                    else:
                        return
                except OSError:
                    pass
                time.sleep(0.1)
        raise RuntimeError("%s tracker did not accept a whitelisted hash in time: %s" % (self.impl,
                                                                                        self.stderr()))

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, signal.SIGINT if self.impl == "c" else signal.SIGTERM, timeout=15.0)
            self._err.close()
            self.proc = None


# ---------------------------------------------------------------- measurements

def run_loadgen(loadgen, args, cpu, timeout):
    p = spawn([loadgen] + [str(a) for a in args], cpu=cpu, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(p)
        raise RuntimeError("load generator did not finish within %ss" % timeout)
    finally:
        if p in _children:
            _children.remove(p)
    if p.returncode not in (0, 2) or not out.strip():
        raise RuntimeError("load generator failed (%s): %s" % (p.returncode, err.decode(errors="replace")))
    res = json.loads(out)
    if p.returncode == 2:
        raise RuntimeError("load generator: no UDP socket got a connection id (is the tracker up?)")
    return res


def summarize_run(res, cpu_s):
    answered = res["counts"]["announce_ok"] + res["counts"]["scrape_ok"] + res["counts"]["connect_ok"]
    lat = res["latency_us"]["announce"]
    return {
        "announces_per_second": res["announces_per_second"],
        "requests_per_second": res["requests_per_second"],
        "p50_ms": lat["p50"] / 1000.0,
        "p99_ms": lat["p99"] / 1000.0,
        "server_cpu_seconds": round(cpu_s, 3),
        "server_cpu_us_per_request": round(cpu_s * 1e6 / answered, 2) if answered else None,
        "answered": answered,
        "validation_errors": res["validation_errors"],
        "transport_errors": res["transport_errors"],
        "loadgen": res,
    }


def measure_impl(impl, a, loadgen, workdir, whitelist, first_hash, c_binary, env, cpus, fs_binary=None):
    server_cpu, gen_cpu = cpus
    common = ["--torrents", a.torrents, "--peers", a.peers, "--sockets", a.sockets, "--timeout", a.timeout]
    ov = overload.enabled(a)
    tr = Tracker(overload.tracker_impl(impl) if ov else impl, workdir, whitelist, c_binary, env, server_cpu)
    if ov:
        overload.prepare_config(impl, tr.config)
    out = {"impl": impl}
    try:
        t0 = time.monotonic()
        tr.start(first_hash)
        out["startup_seconds"] = round(time.monotonic() - t0, 3)
        pid = tr.proc.pid
        log("  %s: pid %d, port %d, populating %d peers over %d torrents" % (impl, pid, tr.port, a.peers,
                                                                          a.torrents))
        pop = run_loadgen(loadgen, ["populate", "--udp-port", tr.port, "--window", a.window] + common,
                          gen_cpu, timeout=a.max_populate + 60)
        out["populate"] = {"populated": pop["counts"]["populated"], "seconds": pop["elapsed_seconds"],
                           "announces_per_second": pop["announces_per_second"],
                           "validation_errors": pop["validation_errors"],
                           "transport_errors": pop["transport_errors"], "loadgen": pop}
        out["memory_kb"] = mem_kb(pid)
        log("  %s: populated %d in %.1fs; VmRSS %d kB, VmHWM %d kB" % (
            impl, pop["counts"]["populated"], pop["elapsed_seconds"], out["memory_kb"]["VmRSS"],
            out["memory_kb"]["VmHWM"]))
        if fs_binary:
            out[fsreaders.S] = fsreaders.measure(sys.modules[__name__], impl, a, pid, tr.port, loadgen, fs_binary,
                                                 gen_cpu, server_cpu)
        if ov:
            out[overload.S] = overload.measure(sys.modules[__name__], impl, a, pid, tr.port, loadgen, gen_cpu,
                                               server_cpu)
        for proto in ([] if fs_binary or ov else a.protos):
            c0 = cpu_seconds(pid)
            res = run_loadgen(loadgen, ["run", "--proto", proto, "--udp-port", tr.port, "--tcp-port", tr.port,
                                        "--duration", a.duration, "--window", a.window,
                                        "--http-conns", a.http_conns] + common,
                              gen_cpu, timeout=a.duration + 60)
            out[proto] = summarize_run(res, cpu_seconds(pid) - c0)
            log("  %s %s: %.0f announces/s, p99 %.2f ms, %s us CPU/request, errors %d/%d" % (
                impl, proto, res["announces_per_second"], out[proto]["p99_ms"],
                out[proto]["server_cpu_us_per_request"], res["validation_errors"], res["transport_errors"]))
        if a.probe_duration > 0 and not fs_binary and not ov:
            proto = "udp" if "udp" in a.protos else "http"
            probe = ["run", "--proto", proto, "--udp-port", tr.port, "--tcp-port", tr.port,
                     "--duration", a.probe_duration, "--rate", a.probe_rate, "--window", a.window,
                     "--http-conns", a.http_conns] + common
            idle = run_loadgen(loadgen, probe, gen_cpu, timeout=a.probe_duration + 60)
            c0 = cpu_seconds(pid)
            busy = run_loadgen(loadgen, probe + ["--fs-readers", a.probe_readers, "--fs-chunk", a.probe_chunk,
                                                 "--fs-interval-ms", a.probe_interval_ms],
                               gen_cpu, timeout=a.probe_duration + 60)
            busy_cpu = cpu_seconds(pid) - c0
            fsr = busy["fullscrape"]
            verr = busy["errors"]["validation"]
            fs_errors = sum(v for k, v in verr.items() if k.startswith("fullscrape"))
            i99, b99 = idle["latency_us"]["announce"]["p99"], busy["latency_us"]["announce"]["p99"]
            out["fullscrape_probe"] = {
                "protocol": proto, "rate": a.probe_rate,
                "idle_p50_ms": idle["latency_us"]["announce"]["p50"] / 1000.0, "idle_p99_ms": i99 / 1000.0,
                "busy_p50_ms": busy["latency_us"]["announce"]["p50"] / 1000.0, "busy_p99_ms": b99 / 1000.0,
                "busy_over_idle_p99": round(b99 / i99, 2) if i99 else None,
                "fullscrapes_started": fsr["started"], "fullscrapes_completed": fsr["completed"],
                "fullscrape_errors": fs_errors, "fullscrape_bytes": fsr["bytes"],
                "server_cpu_seconds_busy": round(busy_cpu, 3),
                "validation_errors": idle["validation_errors"] + busy["validation_errors"] - fs_errors,
                "transport_errors": idle["transport_errors"] + busy["transport_errors"],
                "loadgen_idle": idle, "loadgen_busy": busy,
            }
            log("  %s full scrape probe (%s, %d/s): p99 idle %.2f ms, busy %.2f ms; full scrapes %d done, "
                "%d failed" % (impl, proto, a.probe_rate, i99 / 1000.0, b99 / 1000.0, fsr["completed"], fs_errors))
        out["memory_kb_end"] = mem_kb(pid)
    finally:
        tr.stop()
        shutil.rmtree(tr.dir, ignore_errors=True)
    return out


# ---------------------------------------------------------------- report

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def collect(runs, impl, path):
    vals = []
    for r in runs:
        if r.get("impl") != impl or "error" in r:
            continue
        v = r
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        vals.append(v)
    return [v for v in vals if v is not None]


METRICS = [
    # key, label, path, scale, format
    ("udp_announces_per_second", "UDP announces/s", ("udp", "announces_per_second"), 1, "%.0f"),
    ("udp_requests_per_second", "UDP requests/s (with scrapes)", ("udp", "requests_per_second"), 1, "%.0f"),
    ("udp_p50_ms", "UDP latency p50, ms (full load)", ("udp", "p50_ms"), 1, "%.2f"),
    ("udp_p99_ms", "UDP latency p99, ms (full load)", ("udp", "p99_ms"), 1, "%.2f"),
    ("udp_cpu_us", "UDP server CPU us/request", ("udp", "server_cpu_us_per_request"), 1, "%.2f"),
    ("http_announces_per_second", "HTTP announces/s", ("http", "announces_per_second"), 1, "%.0f"),
    ("http_requests_per_second", "HTTP requests/s (with scrapes)", ("http", "requests_per_second"), 1, "%.0f"),
    ("http_p50_ms", "HTTP latency p50, ms (full load)", ("http", "p50_ms"), 1, "%.2f"),
    ("http_p99_ms", "HTTP latency p99, ms (full load)", ("http", "p99_ms"), 1, "%.2f"),
    ("http_cpu_us", "HTTP server CPU us/request", ("http", "server_cpu_us_per_request"), 1, "%.2f"),
    ("populate_per_second", "populate: UDP announces/s", ("populate", "announces_per_second"), 1, "%.0f"),
    ("vmrss_mb", "VmRSS after population, MB", ("memory_kb", "VmRSS"), 1 / 1024, "%.1f"),
    ("vmhwm_mb", "VmHWM after population, MB", ("memory_kb", "VmHWM"), 1 / 1024, "%.1f"),
    ("idle_p50_ms", "announce p50 idle, ms (paced)", ("fullscrape_probe", "idle_p50_ms"), 1, "%.3f"),
    ("busy_p50_ms", "announce p50 in full scrape, ms", ("fullscrape_probe", "busy_p50_ms"), 1, "%.3f"),
    ("idle_p99_ms", "announce p99 idle, ms (paced)", ("fullscrape_probe", "idle_p99_ms"), 1, "%.2f"),
    ("busy_p99_ms", "announce p99 in full scrape, ms", ("fullscrape_probe", "busy_p99_ms"), 1, "%.2f"),
    ("busy_over_idle", "  in full scrape / idle (p99)", ("fullscrape_probe", "busy_over_idle_p99"), 1, "%.2f"),
]


def summarize(runs, impls, metrics=None):
    summary = {}
    for impl in impls:
        s = {}
        for key, _label, path, scale, _fmt in metrics or METRICS:
            vals = [v * scale for v in collect(runs, impl, path)]
            s[key] = {"median": med(vals), "min": min(vals) if vals else None, "max": max(vals) if vals else None,
                      "n": len(vals)}
        verr = terr = 0
        fs_done = fs_fail = 0
        for r in runs:
            if r.get("impl") != impl or "error" in r:
                continue
            for part in ("populate", "udp", "http", "fullscrape_probe", fsreaders.S, overload.S):
                if part in r:
                    verr += r[part]["validation_errors"]
                    terr += r[part]["transport_errors"]
            if "fullscrape_probe" in r:
                fs_done += r["fullscrape_probe"]["fullscrapes_completed"]
                fs_fail += r["fullscrape_probe"]["fullscrape_errors"]
        s["validation_errors"] = verr
        s["transport_errors"] = terr
        s["fullscrapes_completed"] = fs_done
        s["fullscrape_errors"] = fs_fail
        s["failed_runs"] = [r["error"] for r in runs if r.get("impl") == impl and "error" in r]
        if metrics is fsreaders.METRICS:
            s.update(fsreaders.summarize_extra(runs, impl))
        if metrics is overload.METRICS:
            s.update(overload.summarize_extra(runs, impl))
        summary[impl] = s
    return summary


def fmt_cell(m, fmt, spread):
    if not m or m["median"] is None:
        return "-"
    cell = fmt % m["median"]
    if spread and m["n"] > 1:
        cell += " (%s-%s)" % (fmt % m["min"], fmt % m["max"])
    return cell


def print_table(report):
    if overload.enabled_params(report["params"]):
        overload.print_table(sys.modules[__name__], report)
        return
    if workers.enabled_params(report["params"]):
        workers.print_table(sys.modules[__name__], report)
        return
    a = report["params"]
    mi = report["machine"]
    s = report["summary"]
    fs = fsreaders.enabled_params(a)
    print("opentracker %s: T=%s torrents, P=%s peers, %ss per measurement, %d repeat(s), "
          "median (min-max)" % ("many indexers" if fs else "announce storm", format(a["torrents"], ","),
                                format(a["peers"], ","), a["fs_duration"] if fs else a["duration"], a["repeats"]))
    print("machine: %s, %s CPUs (%s), Linux %s, Python %s; commit %s; %s" % (
        mi["machine"], mi["cpus"], mi["cpu_model"], mi["kernel"], mi["python"], report["commit"],
        "server on CPU %s, generator on CPU %s" % tuple(report["cpus"]) if report["cpus"][0] is not None
        else "no CPU pinning (fewer than 2 CPUs)"))
    if report.get("uptime"):
        print("machine load at the start (/proc/loadavg; one per merged report): %s" % report["uptime"])
    if fs:
        for line in fsreaders.header_lines(a):
            print(line)
    else:
        print("load: UDP window %d over %d source addresses; HTTP %d connections; full-scrape probe %s at %d/s "
              "with %d slow readers (%d B every %d ms)" % (
                  a["window"], a["sockets"], a["http_conns"], "UDP" if "udp" in a["protos"] else "HTTP",
                  a["probe_rate"], a["probe_readers"], a["probe_chunk"], a["probe_interval_ms"]))
    print()
    spread = a["repeats"] > 1
    cols = [("ours", "ours"), ("c", "C original")]
    cols = [(k, t) for k, t in cols if k in s]
    w0 = 34
    widths = [28 if spread else 14 for _ in cols]
    header = "%-*s" % (w0, "metric") + "".join("%*s" % (w, t) for (k, t), w in zip(cols, widths))
    both = "ours" in s and "c" in s
    if both:
        header += "%10s" % "ours/C"
    print(header)
    print("-" * len(header))
    for key, label, path, _scale, fmt in fsreaders.METRICS if fs else METRICS:
        if path[0] in ("udp", "http") and path[0] not in a["protos"]:
            continue
        if path[0] == "fullscrape_probe" and a["probe_duration"] <= 0:
            continue
        if fs and fsreaders.skip_row(key, a):
            continue
        row = "%-*s" % (w0, label) + "".join("%*s" % (w, fmt_cell(s[k][key], fmt, spread))
                                              for (k, _t), w in zip(cols, widths))
        if both:
            o, c = s["ours"][key]["median"], s["c"][key]["median"]
            row += "%10s" % ("%.2f" % (o / c) if o is not None and c else "-")
        print(row)
    base = report.get("python_base_rss_kb") or {}
    if "ours" in s:
        if "VmRSS" in base:
            print("%-*s%*s" % (w0, "Python base RSS, MB (separate)", widths[0], "%.1f" % (base["VmRSS"] / 1024)))
            m = s["ours"].get("vmrss_mb", {}).get("median")
            if m is not None:
                print("%-*s%*s" % (w0, "VmRSS minus Python base, MB", widths[0], "%.1f" % (m - base["VmRSS"] / 1024)))
        else:
            print("%-*s%*s" % (w0, "Python base RSS, MB (separate)", widths[0], "-"))
    notes = []
    if fs:
        rows, notes = fsreaders.footer_rows(s, cols)
        for label, cells in rows:
            print("%-*s" % (w0, label) + "".join("%*s" % (w, c) for c, w in zip(cells, widths)))
    for label, key in (("full scrapes done / failed", None), ("validation errors (all runs)", "validation_errors"),
                       ("transport errors (all runs)", "transport_errors")):
        if key is None:
            if a["probe_duration"] <= 0 or fs:
                continue
            cells = ["%d / %d" % (s[k]["fullscrapes_completed"], s[k]["fullscrape_errors"]) for k, _t in cols]
        else:
            cells = ["%d" % s[k][key] for k, _t in cols]
        print("%-*s" % (w0, label) + "".join("%*s" % (w, c) for c, w in zip(cells, widths)))
    for n in notes:
        print(n)
    for k, t in cols:
        for e in s[k]["failed_runs"]:
            print("FAILED (%s): %s" % (t, e))


# ---------------------------------------------------------------- main

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--impl", choices=("ours", "c", "both"), default="both")
    ap.add_argument("--torrents", "-T", type=int, default=None, help="torrents (default 100000; quick 1000)")
    ap.add_argument("--peers", "-P", type=int, default=None, help="peers (default 1000000; quick 10000)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per measurement (default 10; quick 2)")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per server (default 3; quick 1)")
    ap.add_argument("--protocol", choices=("udp", "http", "both"), default="both")
    ap.add_argument("--quick", action="store_true", help="small T/P, short runs, one repeat: under a minute")
    ap.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    ap.add_argument("--save", metavar="FILE", help="also write the JSON report to FILE")
    ap.add_argument("--sockets", type=int, default=32, help="UDP sockets = source addresses (default 32)")
    ap.add_argument("--window", type=int, default=128, help="UDP requests in flight (default 128)")
    ap.add_argument("--http-conns", type=int, default=64, help="concurrent HTTP connections (default 64)")
    ap.add_argument("--timeout", type=float, default=1.0, help="per-request timeout, s (default 1)")
    ap.add_argument("--probe-duration", type=float, default=None,
                    help="seconds of each full-scrape probe run, idle and busy; 0 skips (default 10; quick 2)")
    ap.add_argument("--probe-rate", type=int, default=2000, help="announces/s during the probe (default 2000)")
    ap.add_argument("--probe-readers", type=int, default=4,
                    help="the probe's full-scrape slow readers (default 4; --fs-readers before issue 15)")
    ap.add_argument("--probe-chunk", type=int, default=4096, help="bytes per slow read (default 4096)")
    ap.add_argument("--probe-interval-ms", type=int, default=5, help="ms between slow reads (default 5)")
    ap.add_argument("--max-populate", type=float, default=900, help="cap on population time, s (default 900)")
    ap.add_argument("--c-binary", default=None, help="path of the C opentracker (default: found as an ELF file)")
    ap.add_argument("--merge", nargs="+", metavar="FILE",
                    help="measure nothing: one table from reports saved with --save by the same command "
                         "(runs taken when the machine was quiet, one repeat at a time)")
    fsreaders.add_arguments(ap)
    overload.add_arguments(ap)
    workers.add_arguments(ap)
    a = ap.parse_args(argv)
    quick = a.quick
    if workers.enabled(a) and (overload.enabled(a) or fsreaders.enabled(a)):
        ap.error("--workers, --overload and --fs-readers/--fs-slow are separate scenarios")
    if overload.enabled(a):
        if fsreaders.enabled(a):
            ap.error("--overload and --fs-readers/--fs-slow are separate scenarios")
        try:
            overload.apply_defaults(a, quick)
        except ValueError as e:
            ap.error(str(e))
    if fsreaders.enabled(a):
        try:
            fsreaders.apply_defaults(a, quick)
        except ValueError as e:
            ap.error(str(e))
    defaults = {"torrents": (100_000, 1_000), "peers": (1_000_000, 10_000), "duration": (10.0, 2.0),
                "repeats": (3, 1), "probe_duration": (10.0, 2.0)}
    for k, (full, q) in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, q if quick else full)
    if a.torrents < 1 or a.peers < 1 or a.repeats < 1 or a.duration <= 0:
        ap.error("torrents, peers, repeats and duration must be positive")
    a.protos = ["udp", "http"] if a.protocol == "both" else [a.protocol]
    if workers.enabled(a):
        try:
            workers.apply_defaults(a)
        except ValueError as e:
            ap.error(str(e))
    return a


def summarize_report(runs, impls, params):
    if workers.enabled_params(params):
        return workers.summarize(runs, impls, params)
    return summarize(runs, impls, scenario_metrics(params))


def scenario_metrics(params):
    if overload.enabled_params(params):
        return overload.METRICS
    return fsreaders.METRICS if fsreaders.enabled_params(params) else METRICS


def merge_reports(paths):
    """One report from several saved by the same command: their runs together."""
    reports = []
    for path in paths:
        with open(path) as f:
            reports.append(json.load(f))
    first = reports[0]
    skip = ("repeats", "save", "json", "merge")
    for r in reports[1:]:
        diff = [k for k in first["params"] if k not in skip and r["params"].get(k) != first["params"][k]]
        if diff or r["impls"] != first["impls"]:
            raise ValueError("%s was not made by the same command (%s)" % (paths[reports.index(r)],
                                                                          ", ".join(diff) or "impls"))
    merged = dict(first)
    merged["runs"] = [run for r in reports for run in r["runs"]]
    merged["params"] = dict(first["params"], repeats=sum(r["params"]["repeats"] for r in reports))
    merged["seconds"] = sum(r["seconds"] for r in reports)
    merged["uptime"] = " | ".join(r.get("uptime") or "-" for r in reports)
    merged["commit"] = " ".join(sorted({r["commit"] for r in reports}))
    merged["summary"] = summarize_report(merged["runs"], first["impls"], first["params"])
    return merged


def main(argv=None):
    a = parse_args(argv)
    if a.merge:
        try:
            report = merge_reports(a.merge)
        except (OSError, ValueError, KeyError) as e:
            log("--merge: %s" % e)
            return 2
        if a.json:
            json.dump(report, sys.stdout, indent=1)
            print()
        else:
            print_table(report)
        return 0
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    impls = ["ours", "c"] if a.impl == "both" else [a.impl]
    c_binary = find_c_binary(a.c_binary)
    if "c" in impls and c_binary is None:
        if a.impl == "c":
            log("the C opentracker is not installed (apt-get install opentracker)")
            return 2
        log("no C opentracker binary found: measuring ours only")
        impls = ["ours"]
    notes = []
    if overload.enabled(a):
        impls, notes = overload.variants(a, impls, sys.modules[__name__], child_env())
    jobs = [(impl, None) for impl in impls]
    if workers.enabled(a):
        jobs, notes = workers.jobs(a, impls, sys.modules[__name__], child_env())
    ncpu = len(os.sched_getaffinity(0))
    cpus = (0, 1) if ncpu >= 2 else (None, None)
    if ncpu >= 2:
        allowed = sorted(os.sched_getaffinity(0))
        cpus = (allowed[0], allowed[1])
    env = child_env()
    workdir = tempfile.mkdtemp(prefix="announce-storm-")
    os.chmod(workdir, 0o755)
    runs = []
    report = {"params": {k: v for k, v in vars(a).items()}, "machine": machine_info(), "commit": git_commit(),
              "cpus": list(cpus), "c_binary": c_binary, "impls": impls, "uptime": loadavg()}
    if notes:
        report["workers_notes" if workers.enabled(a) else "overload_notes"] = notes
    started = time.monotonic()
    try:
        loadgen = build_loadgen()
        fs_binary = fsreaders.build(sys.modules[__name__]) if fsreaders.enabled(a) else None
        whitelist = os.path.join(workdir, "whitelist.txt")
        subprocess.run([loadgen, "hashes", "--torrents", str(a.torrents), "--out", whitelist], check=True,
                       timeout=120)
        os.chmod(whitelist, 0o644)
        with open(whitelist) as f:
            first_hash = bytes.fromhex(f.readline().strip())
        if "ours" in impls:
            report["python_base_rss_kb"] = python_base_rss(env)
        for rep in range(a.repeats):
            order = jobs if rep % 2 == 0 else list(reversed(jobs))
            for impl, n in order:
                log("repeat %d/%d: %s%s" % (rep + 1, a.repeats, impl, "" if n is None else ", %d worker(s)" % n))
                try:
                    if n is None:
                        r = measure_impl(impl, a, loadgen, workdir, whitelist, first_hash, c_binary, env, cpus,
                                         fs_binary)
                    else:
                        r = workers.measure(sys.modules[__name__], impl, n, a, loadgen, workdir, whitelist,
                                            first_hash, c_binary, env)
                except RuntimeError as e:
                    log("  %s failed: %s" % (impl, e))
                    r = {"impl": impl, "error": str(e)}
                    if n is not None:
                        r["workers"] = n
                r["repeat"] = rep + 1
                runs.append(r)
    except (KeyboardInterrupt, Interrupted):
        log("interrupted: stopping everything")
        cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
        return 130
    finally:
        cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    report["seconds"] = round(time.monotonic() - started, 1)
    report["runs"] = runs
    report["summary"] = summarize_report(runs, impls, vars(a))
    ok = all("error" not in r for r in runs) and all(report["summary"][i]["validation_errors"] == 0 for i in impls)
    report["ok"] = ok
    if a.save:
        with open(a.save, "w") as f:
            json.dump(report, f, indent=1)
    if a.json:
        json.dump(report, sys.stdout, indent=1)
        print()
    else:
        print_table(report)
        print("\n(%.0f s in all)" % report["seconds"])
    return 0 if all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
