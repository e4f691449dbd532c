"""Many indexers: full scrapes by many concurrent readers, and announce latency meanwhile.

The `--fs-readers N` / `--fs-slow M` scenario of bench/announce_storm.py (issue 15). On a
tracker that announce_storm.py has started and populated, per implementation:

1. idle: the paced announce probe (the load generator's `run --rate`, UDP by default) alone;
2. storm: `fsreaders` (bench/fsreaders.c) with N fast and M slow readers, each fetching
   `GET /scrape HTTP/1.1` again and again and checking every answer whole (chunked, gzip,
   bencode, entry count); after a warm-up the same probe runs for --fs-duration seconds, and
   that span is the measuring window: server CPU (/proc/PID/stat), full scrapes completed in
   it, both cores' busy time (/proc/stat), the server's peak RSS.

Peak RSS is VmHWM after resetting it (`5 > /proc/PID/clear_refs`) at the start of the storm,
so it is the storm's own peak; when the reset is refused, the largest VmRSS sampled every
50 ms instead (the report says which).

Where the probe runs. The readers keep the generator's CPU busy (their TCP receive path
included), and a probe beside them measured that: with a mere CPU hog on the generator's
CPU the idle tracker's announce p99 went from ~0.1 ms to ~1 ms, its p99.9 to 4 ms (a
scheduler tick), partly in ksoftirqd, which sends the probe's own datagrams. So the probe
runs on the server's CPU (--fs-probe-cpu server, the default; idle and storm alike) and, for
UDP, takes reply times from kernel receive timestamps (loadgen --rx-stamp), stamped when the
server's reply enters the loopback: its own wake-ups do not count, and the hog no longer
moved p99 (0.04-0.06 ms either way). The price: the probe shares that core (500 small
requests/s), and an idle baseline without a cross-CPU wake-up (lower than with
--fs-probe-cpu generator).

This module is imported by announce_storm.py, which passes itself as `st` for its process
and /proc helpers (so every child is in its one cleanup list).
"""

import json
import os
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "fsreaders.c")


def add_arguments(ap):
    g = ap.add_argument_group("many indexers (full scrapes; replaces the storm's measurements)")
    g.add_argument("--fs-readers", type=int, default=0, metavar="N",
                   help="fast full-scrape readers; N > 0 (or --fs-slow) selects this scenario")
    g.add_argument("--fs-slow", type=int, default=0, metavar="M",
                   help="slow readers beside them (--fs-slow-chunk every --fs-slow-interval-ms)")
    g.add_argument("--fs-gzip", action="store_true", help="readers send Accept-Encoding: gzip")
    g.add_argument("--fs-duration", type=float, default=None,
                   help="measuring window, s, after the warm-up (default 10; quick 2)")
    g.add_argument("--fs-warmup", type=float, default=None,
                   help="s of readers before the window; starts are spread over it (default 2; quick 0.5)")
    g.add_argument("--fs-count", type=int, default=0,
                   help="also stop starting full scrapes after this many (default 0: no limit); a bound, "
                        "not a measure: readers that end before the window do leave it idle")
    g.add_argument("--fs-probe-rate", type=int, default=500, help="probe announces/s (default 500)")
    g.add_argument("--fs-probe-cpu", choices=("server", "generator"), default="server",
                   help="where the probe runs (default: on the server's CPU, see the module docstring)")
    g.add_argument("--fs-slow-chunk", type=int, default=16384, help="bytes per slow read (default 16384)")
    g.add_argument("--fs-slow-interval-ms", type=int, default=10, help="ms between slow reads (default 10)")
    g.add_argument("--fs-timeout", type=float, default=10.0,
                   help="a full scrape with no byte for this long is aborted, s (default 10)")
    g.add_argument("--fs-drain", type=float, default=30.0,
                   help="s given to full scrapes still running after the window (default 30)")
    g.add_argument("--fs-retry-ms", type=int, default=100,
                   help="a reader's pause after a failed full scrape, ms (default 100)")


def enabled(a):
    return a.fs_readers > 0 or a.fs_slow > 0


def enabled_params(params):
    """enabled() for a saved report's params (a dict; older reports lack the keys)."""
    return params.get("fs_readers", 0) > 0 or params.get("fs_slow", 0) > 0


def apply_defaults(a, quick):
    """The scenario's own defaults: 50,000 torrents (a ~3.5 MB full scrape), 10 peers each."""
    for k, full, q in (("torrents", 50_000, 1_000), ("peers", 500_000, 10_000), ("fs_duration", 10.0, 2.0),
                       ("fs_warmup", 2.0, 0.5)):
        if getattr(a, k) is None:
            setattr(a, k, q if quick else full)
    if a.fs_readers < 0 or a.fs_slow < 0 or a.fs_readers + a.fs_slow > 60000:
        raise ValueError("--fs-readers + --fs-slow must be 0..60000")
    if a.fs_duration <= 0 or a.fs_warmup < 0 or a.fs_probe_rate < 1:
        raise ValueError("--fs-duration and --fs-probe-rate must be positive, --fs-warmup not negative")


def build(st):
    return st.build_c(SRC, "fsreaders", ["-lz"])


# ---------------------------------------------------------------- /proc

SOFTIRQ, STEAL = 6, 7  # fields of a cpuN line of /proc/stat, after its name


def cpu_fields():
    """Per CPU: the jiffies of /proc/stat's cpuN line (user, nice, system, idle, iowait, irq,
    softirq, steal, ...)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                out[int(name[3:])] = [int(x) for x in vals]
    return out


def cpu_ticks(fields=None):
    """Per CPU: (busy, total) jiffies, from cpu_fields() (read now unless given); busy counts
    irq and softirq time too, which loopback TCP spends outside any process's utime+stime."""
    return {cpu: (sum(v) - v[3] - v[4], sum(v))  # minus idle and iowait
            for cpu, v in (cpu_fields() if fields is None else fields).items()}


def busy_share(k0, k1, cpu):
    if cpu is None or cpu not in k0 or cpu not in k1:
        return None
    total = k1[cpu][1] - k0[cpu][1]
    return round((k1[cpu][0] - k0[cpu][0]) / total, 3) if total > 0 else None


def reset_hwm(pid):
    """VmHWM := VmRSS (Linux 4.0+, the process's owner or root); False when refused."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class RssSampler:
    def __init__(self, st, pid):
        self.st, self.pid, self.peak = st, pid, 0

    def sample(self):
        try:
            self.peak = max(self.peak, self.st.mem_kb(self.pid).get("VmRSS", 0))
        except OSError:
            pass

    def wait(self, proc, timeout, what):
        """Until proc exits, sampling every 50 ms; bounded by timeout."""
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if time.monotonic() > deadline:
                self.st.stop_process(proc)
                raise RuntimeError("%s did not finish within %.0f s" % (what, timeout))
            self.sample()
            time.sleep(0.05)
        self.sample()

    def sleep(self, seconds, watch=()):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.sample()
            for p, what in watch:
                if p.poll() not in (None, 0):
                    raise RuntimeError("%s failed early (status %s)" % (what, p.returncode))
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))


def _spawn(st, argv, cpu):
    """Output to files, not pipes: we poll the process and sample RSS while it runs, and a
    pipe left unread would block it on its JSON (thousands of timestamps)."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    p = st.spawn([str(x) for x in argv], cpu=cpu, stdout=out, stderr=err)
    p.out_file, p.err_file = out, err
    return p


def collect(st, proc, what, timeout=30):
    """A generator's JSON result, once it ended (stopped after timeout seconds); its exit status
    must be 0 or 2 (loadgen: no UDP socket got a connection id) and its output not empty.
    bench/overload.py collects its generators here too."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        st.stop_process(proc)
        raise RuntimeError("%s did not finish in time" % what)
    if proc in st._children:
        st._children.remove(proc)
    proc.out_file.seek(0)
    proc.err_file.seek(0)
    out, err = proc.out_file.read(), proc.err_file.read()
    proc.out_file.close()
    proc.err_file.close()
    if proc.returncode not in (0, 2) or not out.strip():
        raise RuntimeError("%s failed (%s): %s" % (what, proc.returncode, err.decode(errors="replace")[-500:]))
    return json.loads(out)


# ---------------------------------------------------------------- the scenario

def unanswered_pct(res):
    """Share of the probe's requests never answered (timed out, or open at the end): the
    latency percentiles are over answered ones only, so a server that drops announces
    under load must show it here."""
    t = res["errors"]["transport"]
    sent = res["counts"]["sent"]
    return round(100.0 * (t.get("timeout", 0) + t.get("unanswered_at_end", 0)) / sent, 2) if sent else None


def measure(st, impl, a, pid, port, loadgen, binary, gen_cpu, server_cpu):
    proto = "udp" if "udp" in a.protos else "http"
    probe = ["run", "--proto", proto, "--udp-port", port, "--tcp-port", port, "--duration", a.fs_duration,
             "--rate", a.fs_probe_rate, "--window", a.window, "--http-conns", a.http_conns,
             "--torrents", a.torrents, "--peers", a.peers, "--sockets", a.sockets, "--timeout", a.timeout]
    if proto == "udp":
        probe += ["--rx-stamp", 1]
    probe = [str(x) for x in probe]
    probe_cpu = server_cpu if a.fs_probe_cpu == "server" else gen_cpu
    idle = st.run_loadgen(loadgen, probe, probe_cpu, timeout=a.fs_duration + 60)

    rss_before = st.mem_kb(pid)
    hwm_reset = reset_hwm(pid)
    sampler = RssSampler(st, pid)
    sampler.sample()
    prober = None
    readers_argv = [binary, "--port", port, "--expect", a.torrents, "--readers", a.fs_readers,
                    "--slow", a.fs_slow, "--duration", a.fs_warmup + a.fs_duration, "--drain", a.fs_drain,
                    "--timeout", a.fs_timeout, "--retry-ms", a.fs_retry_ms, "--spread", a.fs_warmup,
                    "--slow-chunk", a.fs_slow_chunk, "--slow-interval-ms", a.fs_slow_interval_ms]
    if a.fs_count:
        readers_argv += ["--count", a.fs_count]
    if a.fs_gzip:
        readers_argv.append("--gzip")
    readers = _spawn(st, readers_argv, gen_cpu)
    try:
        sampler.sleep(a.fs_warmup, watch=[(readers, "fsreaders")])
        k0, c0, t0 = cpu_ticks(), st.cpu_seconds(pid), time.monotonic_ns()
        prober = _spawn(st, [loadgen] + probe, probe_cpu)
        sampler.wait(prober, a.fs_duration + 60, "the probe")
        k1, c1, t1 = cpu_ticks(), st.cpu_seconds(pid), time.monotonic_ns()
        busy = collect(st, prober, "the probe")
        sampler.wait(readers, a.fs_duration + a.fs_drain + 60, "fsreaders")
        fsr = collect(st, readers, "fsreaders")
    finally:
        for p in (readers, prober):
            if p is not None and p.poll() is None:
                st.stop_process(p)
    mem_after = st.mem_kb(pid)

    win_ms = (t0 // 1_000_000, t1 // 1_000_000)
    window_s = (t1 - t0) / 1e9
    in_win = sum(1 for t in fsr["completed_ms"] if win_ms[0] <= t <= win_ms[1])
    in_win_slow = sum(1 for t in fsr["completed_slow_ms"] if win_ms[0] <= t <= win_ms[1])
    cpu_s = c1 - c0
    done = in_win + in_win_slow
    peak_kb = mem_after.get("VmHWM", 0) if hwm_reset else max(sampler.peak, rss_before.get("VmRSS", 0))
    i99, b99 = idle["latency_us"]["announce"]["p99"], busy["latency_us"]["announce"]["p99"]
    idle_lost, busy_lost = unanswered_pct(idle), unanswered_pct(busy)
    size = fsr["body_bytes"] / max(1, fsr["completed"] + fsr["completed_slow"])
    wire = fsr["wire_bytes"]
    out = {
        "window_seconds": round(window_s, 3),
        "fullscrapes_per_second": round(in_win / window_s, 2) if window_s > 0 else None,
        "fullscrapes_in_window": in_win, "slow_fullscrapes_in_window": in_win_slow,
        "fullscrapes_completed": fsr["completed"], "slow_fullscrapes_completed": fsr["completed_slow"],
        "fullscrapes_started": fsr["started"],
        "fullscrape_failures": fsr["validation_errors"] + fsr["transport_errors"],
        "fullscrape_errors": fsr["errors"],
        "fullscrape_seconds_p50": fsr["seconds"]["p50"], "fullscrape_seconds_max": fsr["seconds"]["max"],
        "slow_fullscrape_seconds_p50": fsr["seconds"]["slow_p50"],
        "answer_mb": round(size / 1e6, 3) if fsr["body_bytes"] else None,
        "wire_mb": round(wire / 1e6, 1),
        "framing": fsr["framing"], "gzipped": fsr["gzipped"],
        "server_cpu_seconds": round(cpu_s, 3),
        "server_cpu_ms_per_fullscrape": round(cpu_s * 1e3 / done, 2) if done else None,
        "server_process_busy": round(cpu_s / window_s, 3) if window_s > 0 else None,
        "server_core_busy": busy_share(k0, k1, server_cpu),
        "readers_core_busy": busy_share(k0, k1, gen_cpu),
        "readers_cpu_seconds": fsr["cpu_seconds"],
        "rss_before_kb": rss_before.get("VmRSS"),
        "peak_rss_kb": peak_kb, "peak_rss_source": "VmHWM" if hwm_reset else "VmRSS/50ms",
        "rss_growth_kb": peak_kb - rss_before.get("VmRSS", 0),
        "idle_p50_ms": idle["latency_us"]["announce"]["p50"] / 1000.0, "idle_p99_ms": i99 / 1000.0,
        "busy_p50_ms": busy["latency_us"]["announce"]["p50"] / 1000.0, "busy_p99_ms": b99 / 1000.0,
        "busy_over_idle_p99": round(b99 / i99, 2) if i99 else None,
        "idle_unanswered_pct": idle_lost, "busy_unanswered_pct": busy_lost,
        "probe": proto, "probe_rx_stamps": proto == "udp", "probe_cpu": probe_cpu,
        "validation_errors": idle["validation_errors"] + busy["validation_errors"],
        "transport_errors": idle["transport_errors"] + busy["transport_errors"],
        "loadgen_idle": idle, "loadgen_busy": busy,
        "fsreaders": {k: v for k, v in fsr.items() if not k.endswith("_ms")},
    }
    st.log("  %s many indexers: %s full scrapes/s (%d in %.1f s; %d failed), %s ms server CPU each; "
           "peak RSS %.1f MB (+%.1f); announce p99 idle %.2f ms, storm %.2f ms" % (
               impl, out["fullscrapes_per_second"], in_win, window_s, out["fullscrape_failures"],
               out["server_cpu_ms_per_fullscrape"], peak_kb / 1024, out["rss_growth_kb"] / 1024,
               i99 / 1000.0, b99 / 1000.0))
    return out


# ---------------------------------------------------------------- report

S = "fullscrape_storm"
METRICS = [
    # key, label, path, scale, format (as announce_storm.METRICS)
    ("fs_per_second", "full scrapes/s (fast readers)", (S, "fullscrapes_per_second"), 1, "%.1f"),
    ("fs_slow_in_window", "slow full scrapes in the window", (S, "slow_fullscrapes_in_window"), 1, "%.0f"),
    ("fs_seconds_p50", "full scrape time p50, s", (S, "fullscrape_seconds_p50"), 1, "%.2f"),
    ("fs_seconds_max", "full scrape time max, s", (S, "fullscrape_seconds_max"), 1, "%.2f"),
    ("fs_slow_seconds_p50", "slow readers' time p50, s", (S, "slow_fullscrape_seconds_p50"), 1, "%.2f"),
    ("fs_answer_mb", "answer body, MB (decoded)", (S, "answer_mb"), 1, "%.2f"),
    ("fs_cpu_ms", "server CPU ms/full scrape", (S, "server_cpu_ms_per_fullscrape"), 1, "%.2f"),
    ("fs_proc_busy", "server process CPU, % of a core", (S, "server_process_busy"), 100, "%.0f"),
    ("fs_core_busy", "server's core busy (+softirq), %", (S, "server_core_busy"), 100, "%.0f"),
    ("fs_readers_busy", "readers' core busy, %", (S, "readers_core_busy"), 100, "%.0f"),
    ("fs_rss_before", "VmRSS before the storm, MB", (S, "rss_before_kb"), 1 / 1024, "%.1f"),
    ("fs_rss_peak", "peak RSS in the storm, MB", (S, "peak_rss_kb"), 1 / 1024, "%.1f"),
    ("fs_rss_growth", "  growth, MB", (S, "rss_growth_kb"), 1 / 1024, "%.1f"),
    ("fs_idle_p50", "announce p50 idle, ms", (S, "idle_p50_ms"), 1, "%.3f"),
    ("fs_busy_p50", "announce p50 in the storm, ms", (S, "busy_p50_ms"), 1, "%.3f"),
    ("fs_idle_p99", "announce p99 idle, ms", (S, "idle_p99_ms"), 1, "%.3f"),
    ("fs_busy_p99", "announce p99 in the storm, ms", (S, "busy_p99_ms"), 1, "%.3f"),
    ("fs_ratio", "  in the storm / idle (p99)", (S, "busy_over_idle_p99"), 1, "%.2f"),
    ("fs_lost_idle", "unanswered announces idle, %", (S, "idle_unanswered_pct"), 1, "%.2f"),
    ("fs_lost", "unanswered announces, storm, %", (S, "busy_unanswered_pct"), 1, "%.2f"),
]


FAST_ONLY = ("fs_per_second", "fs_seconds_p50", "fs_seconds_max")


def skip_row(key, params):
    """Rows of readers the run did not have."""
    return ((key in FAST_ONLY and not params.get("fs_readers")) or
            (key in ("fs_slow_in_window", "fs_slow_seconds_p50") and not params.get("fs_slow")))


def summarize_extra(runs, impl):
    """Totals over every run of impl: completed and failed full scrapes, failure kinds, framing."""
    done = slow = failed = 0
    kinds, framing, sources = {}, {}, set()
    for r in runs:
        if r.get("impl") != impl or "error" in r or S not in r:
            continue
        m = r[S]
        done += m["fullscrapes_completed"]
        slow += m["slow_fullscrapes_completed"]
        failed += m["fullscrape_failures"]
        for part in ("validation", "transport"):
            for k, v in m["fullscrape_errors"][part].items():
                kinds[k] = kinds.get(k, 0) + v
        for k, v in m["framing"].items():
            framing[k] = framing.get(k, 0) + v
        sources.add(m["peak_rss_source"])
    return {"fs_done": done, "fs_slow_done": slow, "fs_failed": failed, "fs_failure_kinds": kinds,
            "fs_framing": framing, "fs_rss_sources": sorted(sources)}


def header_lines(a):
    proto = "UDP" if "udp" in a["protos"] else "HTTP"
    return ["many indexers: %d fast + %d slow readers (%d B every %d ms), GET /scrape HTTP/1.1%s; "
            "%g s warm-up, %g s window;" % (
                a["fs_readers"], a["fs_slow"], a["fs_slow_chunk"], a["fs_slow_interval_ms"],
                " with Accept-Encoding: gzip" if a["fs_gzip"] else "", a["fs_warmup"], a["fs_duration"]),
            "probe: %s announces at %d/s on the %s's CPU%s, idle first, then in the window" % (
                proto, a["fs_probe_rate"], a["fs_probe_cpu"],
                " (kernel receive timestamps)" if proto == "UDP" else "")]


def footer_rows(s, cols):
    """(label, cells) rows after the metrics."""
    def fmt_kinds(d):
        return ", ".join("%s %d" % kv for kv in sorted(d.items())) or "-"
    rows = [("full scrapes done / failed", ["%d / %d" % (s[k]["fs_done"] + s[k]["fs_slow_done"], s[k]["fs_failed"])
                                            for k, _t in cols]),
            ("framing (len/chunked/close)", ["%d/%d/%d" % (s[k]["fs_framing"].get("content_length", 0),
                                                           s[k]["fs_framing"].get("chunked", 0),
                                                           s[k]["fs_framing"].get("close", 0)) for k, _t in cols]),
            ("peak RSS from", [" ".join(s[k]["fs_rss_sources"]) or "-" for k, _t in cols])]
    notes = ["failures (%s): %s" % (t, fmt_kinds(s[k]["fs_failure_kinds"])) for k, t in cols
             if s[k]["fs_failure_kinds"]]
    return rows, notes
