"""Multi-worker scaling: UDP announces with N worker loops, ours beside the C original.

The `--workers N[,N...]` scenario of bench/announce_storm.py. For each repeat, each N and each
implementation (the order alternates between repeats) a fresh server is started with N
workers: ours with the config line `tracker.workers N` (no line for N = 1), the C original with
`listen.udp.workers N` (before `listen.udp`: the C binary starts its UDP threads when it binds,
so a later workers line is ignored). It is populated (P peers over T torrents, as the storm),
then measured twice with closed-loop UDP announces at full speed (`--duration` each):

1. uncapped: server and generator both allowed on the same CPUs (--worker-cpus, the first two
   allowed by default), neither capped; the scheduler shares them out;
2. capped: every thread of the server (/proc/PID/task/*, and of any child process) in its own
   cgroup v1 group /sys/fs/cgroup/cpu/ot-bench-<pid>-<tid> with cpu.cfs_quota_us = cap x
   cpu.cfs_period_us (100 ms), so N workers get at most N x cap CPUs whatever the machine has;
   the generator stays uncapped. Idle threads (ours' Python main thread when it only waits, the
   C original's whitelist loader and its TCP loop) are capped too, and cost nothing. The groups
   are removed after the run (tasks moved back to the root group first), and on errors, Ctrl-C
   and SIGTERM through announce_storm.cleanup(). Without a writable v1 cpu controller (not
   root, or a cgroup v2 only machine) the capped runs are skipped and the report says why.

Reported per N and mode: announces/s, server CPU per announce (utime+stime of the whole
process over the run, /proc/PID/stat, over every reply: announces and the BEP 15 connects,
a few dozen), the ratio to ours with one worker and to the implementation's own N = 1, ours/C
at the same N, the server's CPUs used (its CPU time over the run's time), per-thread CPU, the
UDP sockets bound to the port (ours with SO_REUSEPORT has one a worker) and, when ours exposes
one, its lock-wait counter per million requests.

The load: the storm's UDP announces without scrapes (--worker-mix, 2 % started, 5 % completed,
2 % stopped, the rest plain re-announces), --sockets source addresses (32) so that the kernel's
SO_REUSEPORT hash over the source spreads them over the workers, --window in flight per
generator process, --gen-procs generator processes (default 1 on two CPUs; on more, up to
N and half the CPUs given).

This module is imported by announce_storm.py, which passes itself as `st`.
"""

import errno
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import fsreaders
import overload

S = "workers"
MODES = ("uncapped", "capped")
ANNOUNCE_MIX = "2,5,2,0"
CG_ROOT = "/sys/fs/cgroup/cpu"
CG_PREFIX = "ot-bench-"
CG_PERIOD_US = 100000
NAMES = {"ours": "ours", "c": "C original"}


def add_arguments(ap):
    g = ap.add_argument_group("multi-worker scaling (replaces the storm's measurements)")
    g.add_argument("--workers", metavar="N[,N...]", default=None,
                   help="worker loops to measure, e.g. 1,2,4,8,16: ours with `tracker.workers N`, "
                        "the C original with `listen.udp.workers N`")
    g.add_argument("--worker-cap", type=float, default=0.4,
                   help="CPU share of each server thread in the capped runs (cgroup v1 cfs quota; default 0.4)")
    g.add_argument("--cap-period-ms", type=float, default=100,
                   help="the cfs period of the capped runs, ms (default 100, the kernel's); a shorter one "
                        "throttles in smaller steps, so a closed-loop generator stalls less behind a thread "
                        "that spent its quota early in the period")
    g.add_argument("--worker-modes", choices=("both", "uncapped", "capped"), default="both",
                   help="which runs: uncapped, capped per thread, or both (default)")
    g.add_argument("--worker-cpus", default=None, metavar="LIST",
                   help="CPUs for server and generator alike, e.g. 0,1 or 0-7 (default: the first two allowed)")
    g.add_argument("--gen-procs", type=int, default=None,
                   help="generator processes per run (default: 1 on two CPUs, else min(N, CPUs / 2))")
    g.add_argument("--worker-mix", default=ANNOUNCE_MIX,
                   help="loadgen --mix, percent started,completed,stopped,scrape (default %(default)s: "
                        "announces only)")


def enabled(a):
    return bool(getattr(a, "workers", None))


def enabled_params(params):
    return bool(params.get("workers"))


def parse_cpus(text):
    out = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.update(range(int(lo), int(hi) + 1))
        else:
            out.add(int(part))
    return sorted(out)


def apply_defaults(a):
    try:
        ns = [int(x) for x in str(a.workers).split(",") if x.strip()]
    except ValueError:
        raise ValueError("--workers takes numbers separated by commas, e.g. 1,2,4")
    if not ns or any(n < 1 or n > 1024 for n in ns):
        raise ValueError("--workers: each N must be 1..1024")
    a.workers_list = list(dict.fromkeys(ns))
    if not (0.01 <= a.worker_cap <= 1.0):
        raise ValueError("--worker-cap must be 0.01..1 (a share of one CPU per thread)")
    allowed = sorted(os.sched_getaffinity(0))
    if a.worker_cpus:
        try:
            cpus = parse_cpus(a.worker_cpus)
        except ValueError:
            raise ValueError("--worker-cpus: a list such as 0,1 or 0-7")
        if not cpus or not set(cpus) <= set(allowed):
            raise ValueError("--worker-cpus %s: not among the allowed CPUs %s" % (a.worker_cpus, allowed))
    else:
        cpus = allowed[:2]
    a.worker_cpu_list = cpus
    if a.gen_procs is not None and not (1 <= a.gen_procs <= 256):
        raise ValueError("--gen-procs must be 1..256")
    if not re.fullmatch(r"\d+,\d+,\d+,\d+", a.worker_mix):
        raise ValueError("--worker-mix: four percentages, e.g. 2,5,2,0")


def gen_procs(a, n):
    if a.gen_procs:
        return a.gen_procs
    ncpu = len(a.worker_cpu_list)
    # on two CPUs a second generator only takes time from the server it measures
    return 1 if ncpu <= 2 else max(1, min(n, ncpu // 2))


def workers_key_known(env):
    """Does our config know `tracker.workers`? If not, N > 1 cannot be made."""
    return overload.config_line_known(env, "tracker.workers 2")


def jobs(a, impls, st, env):
    """(impl, N) pairs to run in each repeat, and notes for the report."""
    notes = []
    a.workers_ours_known = True
    if "ours" in impls and any(n > 1 for n in a.workers_list):
        a.workers_ours_known = workers_key_known(env)
        if not a.workers_ours_known:
            notes.append("`tracker.workers` is unknown to this build of ours: ours was measured at N = 1 only")
    a.cgroup_problem = None
    if a.worker_modes in ("both", "capped"):
        a.cgroup_problem = cgroup_problem()
        if a.cgroup_problem:
            notes.append("capped runs skipped: %s; uncapped figures only" % a.cgroup_problem)
        else:
            remove_stale_groups()
    for note in notes:
        st.log("note: " + note)
    out = []
    for n in a.workers_list:
        for impl in impls:
            if impl == "ours" and n > 1 and not a.workers_ours_known:
                continue
            out.append((impl, n))
    return out, notes


def modes(a):
    want = MODES if a.worker_modes == "both" else (a.worker_modes,)
    return [m for m in want if m != "capped" or not getattr(a, "cgroup_problem", None)]


# ---------------------------------------------------------------- /proc

def _stat_fields(path):
    with open(path) as f:
        data = f.read()
    comm = data[data.index("(") + 1:data.rindex(")")]
    return comm, data.rsplit(")", 1)[1].split()


def process_tree(pid):
    """pid and its live descendants: ours might fork its workers instead of starting threads."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            _comm, f = _stat_fields("/proc/%s/stat" % name)
        except (OSError, ValueError):
            continue
        children.setdefault(int(f[1]), []).append(int(name))
    out, todo = [], [pid]
    while todo and len(out) < 10000:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def tree_cpu_seconds(pids):
    total = 0.0
    for p in pids:
        try:
            _comm, f = _stat_fields("/proc/%d/stat" % p)
        except (OSError, ValueError):
            continue
        total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return total


def threads(pids):
    """{tid: (pid, comm, cpu seconds)} of every thread of pids."""
    tck = os.sysconf("SC_CLK_TCK")
    out = {}
    for p in pids:
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tids:
            try:
                comm, f = _stat_fields("/proc/%d/task/%s/stat" % (p, t))
            except (OSError, ValueError):
                continue
            out[int(t)] = (p, comm, (int(f[11]) + int(f[12])) / tck)
    return out


def thread_deltas(before, after):
    rows = []
    for tid, (pid, comm, cpu) in sorted(after.items()):
        c0 = before.get(tid, (pid, comm, 0.0))[2]
        rows.append({"tid": tid, "pid": pid, "comm": comm, "cpu_seconds": round(cpu - c0, 3)})
    return rows


def udp_sockets(port):
    """Sockets bound to 127.0.0.1:port in /proc/net/udp: one a worker with SO_REUSEPORT, one
    shared by every thread otherwise (the C original)."""
    want = "0100007F:%04X" % port
    n = 0
    try:
        with open("/proc/net/udp") as f:
            for line in f:
                p = line.split()
                if len(p) > 2 and p[1] == want:
                    n += 1
    except OSError:
        return None
    return n


# ---------------------------------------------------------------- lock waits

_LOCKWAIT = re.compile(r"(^|[^a-z])lock.*wait|wait.*(^|[^a-z])lock", re.I)


def parse_lock_waits(metrics_text=None, stats_text=None):
    """The sum of every counter whose name says lock and wait (not "clock"): /metrics lines
    first, then XML elements of /stats?mode=everything. None when there is none."""
    if metrics_text:
        total, seen = 0.0, False
        for line in metrics_text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+)\s*$", line)
            if m and _LOCKWAIT.search(m.group(1)):
                total += float(m.group(3))
                seen = True
        if seen:
            return int(total), "/metrics"
    if stats_text:
        vals = [int(v) for tag, v in re.findall(r"<([A-Za-z_][\w.-]*)[^>]*>\s*(\d+)\s*</\1>", stats_text)
                if _LOCKWAIT.search(tag)]
        if vals:
            return sum(vals), "/stats?mode=everything"
    return None


def _http_get(port, path, timeout=3.0):
    body = overload.http_body(port, path, timeout, limit=4 << 20)
    return None if body is None else body.decode(errors="replace")


def read_lock_waits(port):
    return parse_lock_waits(_http_get(port, "/metrics"), _http_get(port, "/stats?mode=everything"))


# ---------------------------------------------------------------- cgroups

_groups = []  # groups this process made and has not removed yet


def _write(path, value):
    with open(path, "w") as f:
        f.write("%s\n" % value)


def cgroup_problem():
    """None when per-thread caps can be set here, else why not (probed by making one group)."""
    if not os.path.isfile(os.path.join(CG_ROOT, "cpu.cfs_quota_us")):
        if os.path.isfile("/sys/fs/cgroup/cgroup.controllers"):
            return "this machine has cgroup v2 only (no v1 cpu controller at %s)" % CG_ROOT
        return "no cgroup v1 cpu controller mounted at %s" % CG_ROOT
    if not os.access(CG_ROOT, os.W_OK):
        return "%s is not writable (run as root)" % CG_ROOT
    probe = os.path.join(CG_ROOT, "%sprobe-%d" % (CG_PREFIX, os.getpid()))
    try:
        os.mkdir(probe)
        _write(os.path.join(probe, "cpu.cfs_period_us"), CG_PERIOD_US)
    except OSError as e:
        return "cannot make a group under %s: %s" % (CG_ROOT, e.strerror)
    finally:
        try:
            os.rmdir(probe)
        except OSError:
            pass
    return None


def remove_stale_groups():
    """Groups of ours left by a run killed with SIGKILL: their server is gone, they are empty."""
    try:
        names = os.listdir(CG_ROOT)
    except OSError:
        return
    for name in names:
        m = re.fullmatch(re.escape(CG_PREFIX) + r"(\d+)-(\d+)", name)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            try:
                os.rmdir(os.path.join(CG_ROOT, name))
            except OSError:
                pass


def cap_threads(pid, pids, cap, period_us=CG_PERIOD_US):
    """Each thread of pids into its own group with quota cap x period; returns the groups."""
    made = []
    quota = int(round(cap * period_us))
    for tid, (owner, comm, _cpu) in sorted(threads(pids).items()):
        d = os.path.join(CG_ROOT, "%s%d-%d" % (CG_PREFIX, pid, tid))
        os.mkdir(d)
        _groups.append(d)
        _write(os.path.join(d, "cpu.cfs_period_us"), period_us)
        _write(os.path.join(d, "cpu.cfs_quota_us"), quota)
        try:
            _write(os.path.join(d, "tasks"), tid)
        except OSError as e:
            if e.errno != errno.ESRCH:  # a thread that ended meanwhile needs no cap
                raise
        made.append({"group": d, "tid": tid, "pid": owner, "comm": comm})
    return made


def throttle_stats(groups):
    """cpu.stat of each group: periods, throttled periods, throttled time (the cap did bite)."""
    out = []
    for g in groups:
        st = {}
        try:
            with open(os.path.join(g["group"], "cpu.stat")) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    st[k] = int(v)
        except (OSError, ValueError):
            pass
        out.append({"tid": g["tid"], "comm": g["comm"], "nr_periods": st.get("nr_periods"),
                    "nr_throttled": st.get("nr_throttled"),
                    "throttled_ms": round(st["throttled_time"] / 1e6, 1) if "throttled_time" in st else None})
    return out


def release(group):
    """Tasks back to the root group, then the group removed (bounded: 2 s)."""
    root_tasks = os.path.join(CG_ROOT, "tasks")
    deadline = time.monotonic() + 2.0
    while True:
        try:
            with open(os.path.join(group, "tasks")) as f:
                tids = [t.strip() for t in f if t.strip()]
        except OSError:
            tids = []
        for t in tids:
            try:
                _write(root_tasks, t)
            except OSError:
                pass  # ended meanwhile
        try:
            os.rmdir(group)
            break
        except FileNotFoundError:
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.stderr.write("warning: could not remove %s\n" % group)
                break
            time.sleep(0.05)
    if group in _groups:
        _groups.remove(group)


def release_all():
    for g in list(reversed(_groups)):
        release(g)


# ---------------------------------------------------------------- measuring

def configure(tracker, impl, n):
    """The workers line first: the C original starts its UDP threads when it reads listen.udp."""
    if impl == "c":
        line = "listen.udp.workers %d\n" % n
    elif n > 1:
        line = "tracker.workers %d\n" % n
    else:
        return
    with open(tracker.config) as f:
        rest = f.read()
    with open(tracker.config, "w") as f:
        f.write(line + rest)


def _spawn(st, argv, cpus):
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    p = st.spawn([str(x) for x in argv], cpu=cpus, stdout=out, stderr=err)
    p.out_file, p.err_file = out, err
    return p


def run_load(st, a, impl, port, pid, loadgen, cpus, procs):
    """K generators at full speed for --duration; the server's CPU and threads around them."""
    args = [loadgen, "run", "--proto", "udp", "--mix", a.worker_mix, "--udp-port", port, "--tcp-port", port,
            "--duration", a.duration, "--window", a.window, "--torrents", a.torrents, "--peers", a.peers,
            "--sockets", a.sockets, "--timeout", a.timeout]
    lw0 = read_lock_waits(port) if impl == "ours" else None
    pids = process_tree(pid)
    th0 = threads(pids)
    c0, t0 = tree_cpu_seconds(pids), time.monotonic()
    gens = []
    try:
        for _ in range(procs):
            gens.append(_spawn(st, args, cpus))
        results = [fsreaders.collect(st, g, "load generator", a.duration + 60) for g in gens]
    finally:
        for g in gens:
            if g.poll() is None:
                st.stop_process(g)
    pids = process_tree(pid)
    c1, t1 = tree_cpu_seconds(pids), time.monotonic()
    th1 = threads(pids)
    lw1 = read_lock_waits(port) if lw0 is not None else None
    if any(g.returncode == 2 for g in gens):
        raise RuntimeError("a load generator got no connection id on any socket (is the server up?)")
    cpu_s = c1 - c0
    counts = {k: sum(r["counts"].get(k, 0) for r in results) for k in ("announce_ok", "scrape_ok", "connect_ok")}
    replies = counts["announce_ok"] + counts["scrape_ok"] + counts["connect_ok"]
    out = {
        "announces_per_second": round(sum(r["announces_per_second"] for r in results), 1),
        "requests_per_second": round(sum(r["requests_per_second"] for r in results), 1),
        # every generator's own percentiles; the worst one is the figure
        "p50_ms": max(r["latency_us"]["announce"]["p50"] for r in results) / 1000.0,
        "p99_ms": max(r["latency_us"]["announce"]["p99"] for r in results) / 1000.0,
        "replies": replies, "counts": counts,
        "server_cpu_seconds": round(cpu_s, 3),
        "server_cpu_us_per_announce": round(cpu_s * 1e6 / replies, 3) if replies else None,
        "server_cpus_used": round(cpu_s / (t1 - t0), 3) if t1 > t0 else None,
        "threads": thread_deltas(th0, th1),
        "gen_procs": procs,
        "validation_errors": sum(r["validation_errors"] for r in results),
        "transport_errors": sum(r["transport_errors"] for r in results),
        "loadgen": results,
    }
    if lw0 is not None and lw1 is not None:
        out["lock_waits"] = lw1[0] - lw0[0]
        out["lock_waits_source"] = lw1[1]
        out["lock_waits_per_million"] = round(out["lock_waits"] * 1e6 / replies, 2) if replies else None
    busiest = max(out["threads"], key=lambda t: t["cpu_seconds"], default=None)
    out["busiest_thread_share"] = (round(busiest["cpu_seconds"] / cpu_s, 3)
                                   if busiest and cpu_s > 0 else None)
    return out


def measure(st, impl, n, a, loadgen, workdir, whitelist, first_hash, c_binary, env):
    cpus = a.worker_cpu_list
    procs = gen_procs(a, n)
    tr = st.Tracker(impl, workdir, whitelist, c_binary, env, cpus)
    configure(tr, impl, n)
    out = {"impl": impl, "workers": n, "cpus": cpus}
    groups = []
    try:
        t0 = time.monotonic()
        tr.start(first_hash)
        out["startup_seconds"] = round(time.monotonic() - t0, 3)
        pid = tr.proc.pid
        out["pid"] = pid
        st.log("  %s N=%d: pid %d, port %d, populating %d peers over %d torrents" % (
            impl, n, pid, tr.port, a.peers, a.torrents))
        pop = st.run_loadgen(loadgen, ["populate", "--udp-port", tr.port, "--window", a.window, "--torrents",
                                       a.torrents, "--peers", a.peers, "--sockets", a.sockets, "--timeout",
                                       a.timeout], cpus, timeout=a.max_populate + 60)
        out["populate"] = {"populated": pop["counts"]["populated"], "seconds": pop["elapsed_seconds"],
                           "announces_per_second": pop["announces_per_second"],
                           "validation_errors": pop["validation_errors"],
                           "transport_errors": pop["transport_errors"]}
        tids = threads(process_tree(pid))
        out["thread_names"] = sorted(c for _p, c, _cpu in tids.values())
        out["udp_sockets"] = udp_sockets(tr.port)
        for mode in modes(a):
            if mode == "capped":
                try:
                    groups = cap_threads(pid, process_tree(pid), a.worker_cap, int(a.cap_period_ms * 1000))
                except OSError as e:
                    release_all()
                    out["capped_error"] = "could not cap the server's threads: %s" % e
                    st.log("  %s N=%d: %s" % (impl, n, out["capped_error"]))
                    continue
            try:
                r = run_load(st, a, impl, tr.port, pid, loadgen, cpus, procs)
                if mode == "capped":
                    r["cap"] = a.worker_cap
                    r["cap_period_ms"] = a.cap_period_ms
                    r["capped_threads"] = len(groups)
                    r["throttling"] = throttle_stats(groups)
                    # a thread started while capped lands in its creator's group: shown, not fixed
                    r["threads_not_in_own_group"] = sorted(set(t["tid"] for t in r["threads"]) -
                                                           set(g["tid"] for g in groups))
            finally:
                for g in groups:
                    release(g["group"])
                groups = []
            out[mode] = r
            st.log("  %s N=%d %s: %.0f announces/s, %s us CPU/announce, %.2f CPUs, lock waits/M %s, "
                   "errors %d/%d" % (impl, n, mode, r["announces_per_second"], r["server_cpu_us_per_announce"],
                                     r["server_cpus_used"] or 0, r.get("lock_waits_per_million", "-"),
                                     r["validation_errors"], r["transport_errors"]))
        out["udp_sockets_end"] = udp_sockets(tr.port)
    finally:
        release_all()
        tr.stop()
        shutil.rmtree(tr.dir, ignore_errors=True)
    return out


# ---------------------------------------------------------------- report

FIGURES = [
    # key, path in a mode's result, format
    ("announces_per_second", ("announces_per_second",), "%.0f"),
    ("cpu_us", ("server_cpu_us_per_announce",), "%.2f"),
    ("cpus_used", ("server_cpus_used",), "%.2f"),
    ("p99_ms", ("p99_ms",), "%.2f"),
    ("lock_waits_per_million", ("lock_waits_per_million",), "%.1f"),
    ("busiest_thread_share", ("busiest_thread_share",), "%.2f"),
]


def _stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def _ratio(x, y, digits=3):
    return round(x / y, digits) if x is not None and y else None


def summarize(runs, impls, params):
    summary = {}
    for impl in impls:
        mine = [r for r in runs if r.get("impl") == impl]
        ok = [r for r in mine if "error" not in r]
        s = {"validation_errors": 0, "transport_errors": 0, "workers": {},
             "failed_runs": ["N=%s: %s" % (r.get("workers"), r["error"]) for r in mine if "error" in r]}
        for r in ok:
            for part in ("populate",) + MODES:
                if part in r:
                    s["validation_errors"] += r[part]["validation_errors"]
                    s["transport_errors"] += r[part]["transport_errors"]
        for n in sorted({r["workers"] for r in ok}):
            per = {}
            for mode in MODES:
                rs = [r[mode] for r in ok if r["workers"] == n and mode in r]
                if not rs:
                    continue
                m = {}
                for key, path, _fmt in FIGURES:
                    vals = []
                    for x in rs:
                        for k in path:
                            x = x.get(k) if isinstance(x, dict) else None
                        vals.append(x)
                    m[key] = _stats(vals)
                per[mode] = m
            rr = [r for r in ok if r["workers"] == n]
            per["udp_sockets"] = max((r.get("udp_sockets") or 0) for r in rr)
            per["threads"] = max(len(r.get("thread_names", ())) for r in rr)
            per["capped_errors"] = [r["capped_error"] for r in rr if "capped_error" in r]
            s["workers"][str(n)] = per
        summary[impl] = s

    def med(impl, n, mode, key):
        try:
            return summary[impl]["workers"][str(n)][mode][key]["median"]
        except KeyError:
            return None
    for impl in impls:
        for n, per in summary[impl]["workers"].items():
            for mode in MODES:
                if mode not in per:
                    continue
                m = per[mode]
                aps = m["announces_per_second"]["median"]
                m["vs_ours_1"] = _ratio(aps, med("ours", 1, mode, "announces_per_second"))
                m["vs_own_1"] = _ratio(aps, med(impl, 1, mode, "announces_per_second"))
                if impl == "ours":
                    m["ours_over_c"] = _ratio(aps, med("c", n, mode, "announces_per_second"))
                    m["ours_over_c_cpu"] = _ratio(m["cpu_us"]["median"], med("c", n, mode, "cpu_us"))
    return summary


def print_table(st, report):
    a = report["params"]
    mi = report["machine"]
    s = report["summary"]
    cpus = ",".join(str(c) for c in a.get("worker_cpu_list") or [])
    print("opentracker workers: T=%s torrents, P=%s peers, %g s per run, %d repeat(s), median (min-max)" % (
        format(a["torrents"], ","), format(a["peers"], ","), a["duration"], a["repeats"]))
    print("machine: %s, %s CPUs (%s), Linux %s, Python %s; commit %s" % (
        mi["machine"], mi["cpus"], mi["cpu_model"], mi["kernel"], mi["python"], report["commit"]))
    if report.get("uptime"):
        print("machine load at the start (/proc/loadavg): %s" % report["uptime"])
    print("server and generator(s) both on CPUs %s; capped: each server thread in its own cgroup at %g CPU "
          "(cfs period %g ms), generator uncapped" % (cpus, a["worker_cap"], a.get("cap_period_ms", 100)))
    print("load: UDP, mix %s (started,completed,stopped,scrape %%), window %d per generator over %d source "
          "addresses; ours: tracker.workers N, C: listen.udp.workers N" % (a["worker_mix"], a["window"], a["sockets"]))
    for note in report.get("workers_notes", []):
        print("note: %s" % note)
    print()
    spread = a["repeats"] > 1

    def cell(m, key, fmt):
        if not m or key not in m:
            return "-"
        return st.fmt_cell(m[key], fmt, spread)
    cols = [("mode", -9), ("N", -4), ("server", -12), ("announces/s", 26 if spread else 12),
            ("x ours@1", 9), ("x own@1", 8), ("CPU us/ann", 20 if spread else 11), ("CPUs used", 19 if spread else 10),
            ("lock waits/M", 13), ("threads", 8), ("sockets", 8), ("ours/C", 7), ("ours/C CPU", 11)]

    def line(cells):
        return "".join("%*s" % (w, c) for (_t, w), c in zip(cols, cells))

    def ratio(v):
        return "%.2f" % v if v is not None else "-"
    header = line([t for t, _w in cols])
    print(header)
    print("-" * len(header))
    impls = [i for i in ("ours", "c") if i in s]
    ns = sorted({int(n) for i in impls for n in s[i]["workers"]})
    any_lock = False
    for mode in MODES:
        for n in ns:
            for impl in impls:
                per = s[impl]["workers"].get(str(n))
                if not per or mode not in per:
                    continue
                m = per[mode]
                any_lock = any_lock or m["lock_waits_per_million"]["median"] is not None
                print(line([mode, n, NAMES.get(impl, impl), cell(m, "announces_per_second", "%.0f"),
                            ratio(m.get("vs_ours_1")), ratio(m.get("vs_own_1")), cell(m, "cpu_us", "%.2f"),
                            cell(m, "cpus_used", "%.2f"), cell(m, "lock_waits_per_million", "%.1f"),
                            per["threads"], per["udp_sockets"], ratio(m.get("ours_over_c")),
                            ratio(m.get("ours_over_c_cpu"))]))
    print()
    if "ours" in s and not any_lock:
        print("lock waits: ours exposes no lock-wait counter (no /metrics name nor /stats?mode=everything "
              "element with 'lock' and 'wait')")
    for label, key in (("validation errors (all runs)", "validation_errors"),
                       ("transport errors (all runs)", "transport_errors")):
        print("%-30s %s" % (label, ", ".join("%s %d" % (NAMES.get(i, i), s[i][key]) for i in impls)))
    for impl in impls:
        for n, per in sorted(s[impl]["workers"].items(), key=lambda kv: int(kv[0])):
            for e in per.get("capped_errors", ()):
                print("capped run missing (%s, N=%s): %s" % (NAMES.get(impl, impl), n, e))
        for e in s[impl]["failed_runs"]:
            print("FAILED (%s): %s" % (NAMES.get(impl, impl), e))
