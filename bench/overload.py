"""Overload: paced announces beside a flood of scrapes and full scrapes (issue 25).

The `--overload` scenario of bench/announce_storm.py. On a tracker that announce_storm.py
has started (pinned to the first CPU) and populated, per implementation:

1. Capacity and costs, closed loop, each for --ov-cost-duration seconds: UDP announces only
   (the storm's mix without its scrapes) at full speed give the server CPU of one announce, and
   the capacity C = 1 s / that CPU: the announces/s one core does at full speed. (The announces/s
   reached are reported too, but on a shared machine a neighbour's burst halved them while the
   CPU per announce moved by a tenth, and the capacity sets every rate after it); 74-hash UDP scrapes at full speed, and HTTP full scrapes
   (`GET /scrape HTTP/1.0`, 2 connections back to back), give the server CPU of one of each,
   in announce-equivalents (its CPU / one announce's CPU). Server CPU is utime+stime from
   /proc/PID/stat over the run, divided by the requests answered (full scrapes: one connection
   at a time, divided by the answers that began with 200, whole or cut short: the C original
   cuts some short).
2. Idle: announces alone, open loop at --ov-announce-share x C (half by default), latency from
   kernel receive stamps (loadgen --rx-stamp 1), p50/p99, and loss: announces not answered
   within --timeout (1 s).
3. Overload: the same announces, and beside them an open-loop flood whose server cost is
   --ov-flood x C announce-equivalents a second (2 by default): --ov-fullscrape-share of that
   cost (1/4) in full scrapes, the rest (3/4) in 74-hash UDP scrapes. The announcer gets its
   connection ids first (as clients hold one for two minutes; otherwise a server that drops
   the flood's datagrams drops the connects too, and the figure measures those), then the
   floods start, and --ov-warmup seconds later the announces; the floods end after them. The
   announces' run is the measuring window (server CPU, UDP queue, /metrics).

Open loop: every generator sends at its rate whatever comes back (loadgen --open-loop 1; the
in-flight table is sized for rate x timeout, and what finds no slot is counted as lost, never
sent late), so a server that falls behind is not offered less; full scrapes start at their
rate on new connections, at most --ov-fullscrape-conns open at once (a start due beyond that is
counted as skipped).

Pinning: the server on the first allowed CPU (announce_storm.py), all three generators
(announces, UDP scrapes, full scrapes) on the second. The generators sleep to their next due
send (in steps of at least 0.1 ms) instead of spinning, so they share their CPU without
making one another's sends bursty; each reports the rate it reached (`sent/s`) so a generator
that could not keep up shows.

Load basis: by default (--ov-basis ours) every server gets the same absolute load, the one
computed from the first measured run of ours with shedding on; the report says what fraction
of each server's own capacity that load is. --ov-basis own gives each server load relative to
its own capacity.

Ours runs twice: as configured by default (shedding on, once the core has it) and with the
config line `tracker.shedding off` ("ours, shedding off"), when the core knows that key
(`--check-config` accepts it without a warning); until then the second run is skipped and
the note says so. Shed answers are counted apart from errors: a UDP BEP 15 error "overloaded",
an HTTP 503 (and whether it had Retry-After). Our own shed counters come from `GET /metrics`
(opentracker_requests_shed_total{protocol,kind}), read before and after the window; absent
lines give null.

The server's UDP receive queue is sampled every 20 ms from /proc/net/udp during the window
(largest rx_queue, drops added), with its SO_RCVBUF from `ss -uamn` when ss is there.

This module is imported by announce_storm.py, which passes itself as `st`.
"""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import fsreaders

S = "overload"
ANNOUNCE_MIX = "2,5,2,0"   # the storm's announce events, no scrapes
SCRAPE_MIX = "0,0,0,100"
FLOOD_CHECK = 16  # the flood checks every 16th full scrape's body whole; the rest by length only
VARIANTS = {"ours": "ours", "ours_off": "ours, shedding off", "c": "C original"}


def add_arguments(ap):
    g = ap.add_argument_group("overload (issue 25; replaces the storm's measurements)")
    g.add_argument("--overload", action="store_true",
                   help="paced announces beside an open-loop flood of scrapes and full scrapes")
    g.add_argument("--ov-duration", type=float, default=None,
                   help="s of announces, idle and in the flood (default 10; quick 3)")
    g.add_argument("--ov-warmup", type=float, default=None,
                   help="s of flood before the announces start (default 2; quick 1)")
    g.add_argument("--ov-cost-duration", type=float, default=None,
                   help="s of each closed-loop capacity and cost run (default 5; quick 2)")
    g.add_argument("--ov-announce-share", type=float, default=0.5,
                   help="paced announces/s as a share of the capacity (default 0.5)")
    g.add_argument("--ov-flood", type=float, default=2.0,
                   help="the flood's server cost in capacities (default 2)")
    g.add_argument("--ov-fullscrape-share", type=float, default=0.25,
                   help="share of the flood's cost in full scrapes, the rest 74-hash scrapes (default 0.25)")
    g.add_argument("--ov-scrape-hashes", type=int, default=74, help="hashes per UDP scrape (default 74)")
    g.add_argument("--ov-fullscrape-conns", type=int, default=256,
                   help="full scrapes open at once at most (default 256)")
    g.add_argument("--ov-fullscrape-timeout", type=float, default=5.0,
                   help="a full scrape not read whole in this time is lost, s (default 5)")
    g.add_argument("--ov-basis", choices=("ours", "own"), default="ours",
                   help="load from ours' capacity for every server (default), or each its own")
    g.add_argument("--ov-shedding", choices=("both", "on", "off"), default="both",
                   help="which runs of ours: shedding on (default config), off, or both (default)")
    g.add_argument("--ov-flood-nice", type=int, default=19,
                   help="nice value of the flood's senders (default 19: they get the CPU that the "
                        "kernel's receive work and the announcer leave; 0: as any process)")
    g.add_argument("--ov-announcer-fifo", type=int, default=50,
                   help="SCHED_FIFO priority of the paced announcer, idle and in the flood, where "
                        "allowed (default 50; 0: normal scheduling)")


def enabled(a):
    return bool(getattr(a, "overload", False))


def enabled_params(params):
    return bool(params.get("overload"))


def apply_defaults(a, quick):
    for k, full, q in (("ov_duration", 10.0, 3.0), ("ov_warmup", 2.0, 1.0), ("ov_cost_duration", 5.0, 2.0)):
        if getattr(a, k) is None:
            setattr(a, k, q if quick else full)
    if a.ov_duration <= 0 or a.ov_warmup < 0 or a.ov_cost_duration <= 0:
        raise ValueError("--ov-duration and --ov-cost-duration must be positive, --ov-warmup not negative")
    if not (0 < a.ov_announce_share <= 2) or not (0 <= a.ov_flood <= 20) or not (0 <= a.ov_fullscrape_share <= 1):
        raise ValueError("--ov-announce-share 0..2, --ov-flood 0..20, --ov-fullscrape-share 0..1")
    if not (1 <= a.ov_scrape_hashes <= 74):
        raise ValueError("--ov-scrape-hashes must be 1..74")
    if not (0 <= a.ov_announcer_fifo <= 99):
        raise ValueError("--ov-announcer-fifo must be 0..99")
    if not (0 <= a.ov_flood_nice <= 19):
        raise ValueError("--ov-flood-nice must be 0..19")


def config_line_known(env, line):
    """Does our config take `line` without a word? --check-config warns about a key
    it does not handle (and a build that refuses it exits non-zero)."""
    with tempfile.NamedTemporaryFile("w", prefix="bench-check-", suffix=".conf", delete=False) as f:
        f.write(line + "\n")
        path = f.name
    try:
        r = subprocess.run([sys.executable, "-m", "opentracker", "--check-config", "-f", path], env=env,
                           capture_output=True, text=True, timeout=60)
        return r.returncode == 0 and "(0 warning(s))" in (r.stdout + r.stderr)
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        os.unlink(path)


def shedding_switch_known(st, env):
    """Does our config know `tracker.shedding`? If not, the off run cannot be made."""
    return config_line_known(env, "tracker.shedding off")


def variants(a, impls, st, env):
    """The implementations to run: ours is split into shedding on and off."""
    out, notes = [], []
    for impl in impls:
        if impl != "ours":
            out.append(impl)
            continue
        if a.ov_shedding in ("both", "on"):
            out.append("ours")
        if a.ov_shedding in ("both", "off"):
            if shedding_switch_known(st, env):
                out.append("ours_off")
            else:
                notes.append("`tracker.shedding` is unknown to this build (no shedding yet): the run "
                             "\"ours\" is the behaviour without shedding, and no separate off run was made")
                if "ours" not in out:
                    out.append("ours")
    return out, notes


def tracker_impl(impl):
    """The Tracker kind for a variant (ours_off is ours with one more config line)."""
    return "ours" if impl == "ours_off" else impl


def prepare_config(impl, config_path):
    if impl == "ours_off":
        with open(config_path, "a") as f:
            f.write("tracker.shedding off\n")


# ---------------------------------------------------------------- server side readings

def http_body(port, path, timeout=3.0, limit=1 << 20):
    """The body of GET path (HTTP/1.0) from the tracker on 127.0.0.1:port, read
    until it closes (at most `limit` bytes, `timeout` seconds); None unless 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET " + path.encode() + b" HTTP/1.0\r\n\r\n")
            data = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(data) < limit:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or head[9:12] != b"200":
        return None
    return body


def read_metrics(port, timeout=3.0):
    """opentracker_requests_shed_total{protocol,kind} from GET /metrics: {"udp/scrape": n, ...},
    and opentracker_udp_shed_in_kernel_total as "udp/scrape-in-kernel";
    {} when the lines are absent (no shedding yet), None when /metrics does not answer 200."""
    body = http_body(port, "/metrics", timeout)
    if body is None:
        return None
    out = {}
    for m in re.finditer(rb'^opentracker_requests_shed_total\{([^}]*)\}\s+([0-9.eE+]+)\s*$', body, re.M):
        labels = dict(re.findall(rb'(\w+)="([^"]*)"', m.group(1)))
        key = "%s/%s" % (labels.get(b"protocol", b"?").decode(), labels.get(b"kind", b"?").decode())
        out[key] = out.get(key, 0) + int(float(m.group(2)))
    # What the kernel's scrape filter dropped (shed level 2 and up), read by
    # the tracker once a second while the filter is on.
    m = re.search(rb'^opentracker_udp_shed_in_kernel_total\s+([0-9]+)\s*$', body, re.M)
    if m:
        out["udp/scrape-in-kernel"] = int(m.group(1))
    return out


def udp_handled(port, timeout=3.0):
    """(UDP datagrams read, UDP announces + connects handled) since start, from
    /stats?mode=udp4, which ours and the C original both serve; None if it does not answer."""
    body = http_body(port, "/stats?mode=udp4", timeout)
    if body is None:
        return None
    lines = body.split(b"\n")
    try:
        return int(lines[0]), int(lines[1])
    except (IndexError, ValueError):
        return None


def where_lost(busy, res, before, after, floods):
    """Split the announces lost into those the server never handled and those it handled whose
    answer did not reach the announcer in time. The server's count of announces (mode=udp4's
    second line, which counts connects too: the generators' own connects are taken off) is read
    before the announcer starts and after the floods end; in between only the announcer sends
    announces. What the server handled but the announcer lost was dropped in the announcer's
    socket (counted), arrived late, or was never sent (a send the kernel refused)."""
    if before is None or after is None:
        return None
    connects = res["counts"]["connect_ok"] + sum(f["counts"]["connect_ok"] for f in floods)
    handled = after[1] - before[1] - connects
    sent = busy["sent"] - busy["skipped"]  # what left the announcer
    not_handled = max(0, sent - handled)
    return {"server_handled": handled, "not_handled": not_handled,
            "not_handled_pct": round(100.0 * not_handled / busy["sent"], 3) if busy["sent"] else None,
            "handled_not_answered": max(0, busy["lost"] - busy["skipped"] - not_handled),
            "announcer_socket_drops": res.get("udp_socket_drops"),
            "server_datagrams": after[0] - before[0]}


def metrics_delta(before, after):
    if before is None or after is None:
        return None
    return {k: after.get(k, 0) - before.get(k, 0) for k in sorted(set(before) | set(after))}


def udp_queue(port):
    """(rx_queue bytes, drops) of the server's UDP socket on 127.0.0.1:port, from /proc/net/udp."""
    want = "0100007F:%04X" % port
    try:
        with open("/proc/net/udp") as f:
            for line in f:
                p = line.split()
                if len(p) > 12 and p[1] == want:
                    return int(p[4].split(":")[1], 16), int(p[12])
    except OSError:
        pass
    return None


def udp_rcvbuf(port):
    """The server socket's receive buffer (ss's skmem rb), or None."""
    try:
        r = subprocess.run(["ss", "-uamnH", "sport = :%d" % port], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\brb(\d+)\b", r.stdout)
    return int(m.group(1)) if m else None


class QueueSampler:
    def __init__(self, port):
        self.port, self.max_rx, self.samples, self.first, self.last = port, 0, 0, None, None
        self.rx_sum = 0

    def sample(self):
        q = udp_queue(self.port)
        if q is None:
            return
        rx, drops = q
        self.max_rx = max(self.max_rx, rx)
        self.rx_sum += rx
        self.samples += 1
        if self.first is None:
            self.first = drops
        self.last = drops

    def wait(self, st, proc, timeout, what):
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if time.monotonic() > deadline:
                st.stop_process(proc)
                raise RuntimeError("%s did not finish within %.0f s" % (what, timeout))
            self.sample()
            time.sleep(0.02)
        self.sample()

    def result(self):
        return {"rx_queue_max_bytes": self.max_rx,
                "rx_queue_mean_bytes": round(self.rx_sum / self.samples) if self.samples else None,
                "drops": (self.last - self.first) if self.first is not None else None,
                "samples": self.samples}


# ---------------------------------------------------------------- generators

def _common(a, port):
    return ["--udp-port", port, "--tcp-port", port, "--torrents", a.torrents, "--peers", a.peers,
            "--sockets", a.sockets, "--timeout", a.timeout]


def _closed(st, a, port, pid, loadgen, gen_cpu, extra):
    args = [str(x) for x in ["run", "--duration", a.ov_cost_duration, "--window", a.window] + _common(a, port) + extra]
    c0 = st.cpu_seconds(pid)
    res = st.run_loadgen(loadgen, args, gen_cpu, timeout=a.ov_cost_duration + 60)
    return res, st.cpu_seconds(pid) - c0


def _per(cpu_s, n, scale=1e6):
    return round(cpu_s * scale / n, 3) if n else None


def wait_calm(port, timeout=40.0):
    """Wait (bounded) until our tracker sheds nothing (opentracker_shed_level 0 in /metrics);
    at once for a server without it. A closed loop 128 deep can make the loop's queue wait past
    the shedding thresholds on a busy host, and a level then holds for seconds (docs/shedding.md):
    a cost run that starts inside it measures the shedding, not the cost."""
    end = time.time() + timeout
    while time.time() < end:
        body = http_body(port, "/metrics", 3.0)
        m = body and re.search(rb"^opentracker_shed_level (\d+)\s*$", body, re.M)
        if not m or m.group(1) == b"0":
            return
        time.sleep(0.2)


# Requests in flight for the scrape cost run: 32 74-hash scrapes queue well under the 2 ms at
# which shedding begins, where 128 queue about 3 ms and a stall of the host's does the rest.
SCRAPE_COST_WINDOW = 32


def capacity(st, a, port, pid, loadgen, gen_cpu):
    ann, ann_cpu = _closed(st, a, port, pid, loadgen, gen_cpu, ["--proto", "udp", "--mix", ANNOUNCE_MIX])
    wait_calm(port)
    scr, scr_cpu = _closed(st, a, port, pid, loadgen, gen_cpu,
                           ["--proto", "udp", "--mix", SCRAPE_MIX, "--scrape-hashes", a.ov_scrape_hashes,
                            "--scrape-exact", 1, "--window", min(a.window, SCRAPE_COST_WINDOW)])
    wait_calm(port)
    fsc, fsc_cpu = _closed(st, a, port, pid, loadgen, gen_cpu,
                           ["--proto", "none", "--fullscrape-conns", 1,
                            "--fullscrape-timeout", a.ov_fullscrape_timeout])
    ff = fsc["fullscrape_flood"]
    n_ann, n_scr, n_fs = ann["counts"]["announce_ok"], scr["counts"]["scrape_ok"], ff["ok"] + ff["bad_body"]
    us_ann, us_scr, us_fs = _per(ann_cpu, n_ann), _per(scr_cpu, n_scr), _per(fsc_cpu, n_fs)
    ok = us_ann and us_scr and us_fs
    return {
        "announces_per_second": round(1e6 / us_ann) if us_ann else None,
        "announces_per_second_reached": ann["announces_per_second"],
        "announce_cpu_us": us_ann,
        "announce_server_busy": round(ann_cpu / ann["elapsed_seconds"], 3) if ann["elapsed_seconds"] else None,
        "scrapes_per_second": scr["requests_per_second"], "scrape_cpu_us": us_scr,
        "scrape_eq": round(us_scr / us_ann, 3) if ok else None,
        "fullscrapes_per_second": round(n_fs / fsc["window_seconds"], 2) if fsc["window_seconds"] else None,
        "fullscrape_cpu_us": us_fs,
        "fullscrape_eq": round(us_fs / us_ann, 2) if ok else None,
        "fullscrape_bytes": round(ff["bytes"] / n_fs) if n_fs else None,
        "fullscrapes_cut_short": ff["bad_body"],
        "validation_errors": ann["validation_errors"] + scr["validation_errors"] + fsc["validation_errors"] - ff["bad_body"],
        "transport_errors": ann["transport_errors"] + scr["transport_errors"] + fsc["transport_errors"],
        "shed": {"announce": ann["shed"], "scrape": scr["shed"],
                 "fullscrape_503": fsc["fullscrape_flood"]["status_503"]},
        "loadgen": {"announce": ann, "scrape": scr, "fullscrape": fsc},
    }


def prober_args(a, port, rate, duration, delay=0.0):
    return [str(x) for x in ["run", "--proto", "udp", "--mix", ANNOUNCE_MIX, "--rate", rate, "--open-loop", 1,
                             "--rx-stamp", 1, "--duration", duration, "--delay", delay,
                             "--fifo", a.ov_announcer_fifo] + _common(a, port)]


def announce_figures(res):
    """Loss counts an announce not answered within the timeout (or never sent for want of a
    slot); a shed one ("overloaded") is answered but not served: both are given."""
    sent = res["sent"]["announce"] + res["open_loop"]["skipped"]
    lost = res["lost"]["announce"] + res["open_loop"]["skipped"]
    shed = res["shed"]["udp_announce"]
    lat = res["latency_us"]["announce"]
    return {"sent": sent, "answered": res["counts"]["announce_ok"], "lost": lost, "shed": shed,
            "skipped": res["open_loop"]["skipped"], "announcer_socket_drops": res.get("udp_socket_drops"),
            "announcer_scheduling": res.get("scheduling"),
            "lost_pct": round(100.0 * lost / sent, 3) if sent else None,
            "shed_pct": round(100.0 * shed / sent, 3) if sent else None,
            "p50_ms": lat["p50"] / 1000.0, "p99_ms": lat["p99"] / 1000.0, "p999_ms": lat["p999"] / 1000.0,
            "max_ms": lat["max"] / 1000.0, "sent_per_second": res["sent"]["per_second"],
            "sockets_without_connection_id": res["errors"]["transport"].get("udp_no_connection_id", 0),
            "late_replies": res["errors"]["transport"].get("late_reply", 0)}


def _spawn(st, argv, cpu, nice=0):
    """Output to a file: the floods run while we sample, and a full pipe would stall them."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    if nice:
        argv = ["nice", "-n", nice] + list(argv)
    p = st.spawn([str(x) for x in argv], cpu=cpu, stdout=out, stderr=err)
    p.out_file, p.err_file = out, err
    return p


def _collect(st, proc, what, timeout):
    res = fsreaders.collect(st, proc, what, timeout)
    if proc.returncode == 2:
        raise RuntimeError("%s: no UDP socket got a connection id" % what)
    return res


def load_for(a, impl, cap):
    """The rates for impl: from the reference capacity (ours, first run) or its own."""
    ref = getattr(a, "_ov_reference", None)
    basis = "own"
    if a.ov_basis == "ours" and ref is not None:
        basis, use = "ours", ref
    else:
        use = cap
    c, eq_s, eq_f = use["announces_per_second"], use["scrape_eq"], use["fullscrape_eq"]
    flood = a.ov_flood * c
    rates = {"basis": basis, "capacity": c, "scrape_eq": eq_s, "fullscrape_eq": eq_f,
             "announce_rate": round(a.ov_announce_share * c),
             "scrape_rate": round(flood * (1 - a.ov_fullscrape_share) / eq_s) if eq_s else 0,
             "fullscrape_rate": round(flood * a.ov_fullscrape_share / eq_f, 2) if eq_f else 0}
    # the same load in this server's own announce-equivalents, over its own capacity
    if cap["announces_per_second"] and cap["scrape_eq"] and cap["fullscrape_eq"]:
        own = cap["announces_per_second"]
        rates["announces_of_own_capacity"] = round(rates["announce_rate"] / own, 3)
        rates["flood_of_own_capacity"] = round((rates["scrape_rate"] * cap["scrape_eq"] +
                                                rates["fullscrape_rate"] * cap["fullscrape_eq"]) / own, 3)
    return rates


def measure(st, impl, a, pid, port, loadgen, gen_cpu, server_cpu):
    """The scenario on one server. This process (it samples the queue every 20 ms and reads
    /metrics) moves to the generators' CPU meanwhile, so it takes nothing from the server's."""
    mine = os.sched_getaffinity(0)
    if gen_cpu is not None:
        os.sched_setaffinity(0, {gen_cpu})
    try:
        return _measure(st, impl, a, pid, port, loadgen, gen_cpu, server_cpu)
    finally:
        os.sched_setaffinity(0, mine)


def _measure(st, impl, a, pid, port, loadgen, gen_cpu, server_cpu):
    st.log("  %s overload: capacity and costs (%g s each, closed loop)" % (impl, a.ov_cost_duration))
    cap = capacity(st, a, port, pid, loadgen, gen_cpu)
    if impl == "ours" and getattr(a, "_ov_reference", None) is None and cap["scrape_eq"] and cap["fullscrape_eq"]:
        a._ov_reference = {k: cap[k] for k in ("announces_per_second", "scrape_eq", "fullscrape_eq")}
    st.log("  %s: capacity %.0f announces/s (%.2f us CPU each); a %d-hash scrape %.2f us = %s announces; a full "
           "scrape %.0f us = %s announces" % (impl, cap["announces_per_second"], cap["announce_cpu_us"] or 0,
                                               a.ov_scrape_hashes, cap["scrape_cpu_us"] or 0, cap["scrape_eq"],
                                               cap["fullscrape_cpu_us"] or 0, cap["fullscrape_eq"]))
    load = load_for(a, impl, cap)
    if not load["scrape_rate"] and not load["fullscrape_rate"] and a.ov_flood > 0:
        raise RuntimeError("no cost figures, so no flood rates: %s" % json.dumps(cap)[:300])
    st.log("  %s load (%s basis): announces %d/s, 74-hash scrapes %d/s, full scrapes %.1f/s" % (
        impl, load["basis"], load["announce_rate"], load["scrape_rate"], load["fullscrape_rate"]))

    # idle
    c0, f0, rd0 = st.cpu_seconds(pid), fsreaders.cpu_fields(), run_delay_ns(pid)
    idle_res = st.run_loadgen(loadgen, prober_args(a, port, load["announce_rate"], a.ov_duration), gen_cpu,
                              timeout=a.ov_duration + 60)
    idle_cpu, f1, rd1 = st.cpu_seconds(pid) - c0, fsreaders.cpu_fields(), run_delay_ns(pid)
    idle = announce_figures(idle_res)
    idle["server_cpu_seconds"] = round(idle_cpu, 3)
    idle["server_cpu_us_per_request"] = _per(idle_cpu, idle["answered"])
    idle["server_busy"] = round(idle_cpu / idle_res["elapsed_seconds"], 3)
    idle["server_core_steal"] = _share(f0, f1, server_cpu, STEAL)
    idle["server_runqueue_wait_ms"] = _ms_between(rd0, rd1)
    idle["generator_core_steal"] = _share(f0, f1, gen_cpu, STEAL)

    # overload
    connect_s = 0.5  # the announcer's connects, on an idle server, take milliseconds
    flood_s = a.ov_warmup + a.ov_duration + 2.0  # the announces' drain inside it
    floods = []
    m0 = read_metrics(port)
    h0 = udp_handled(port)
    rcvbuf = udp_rcvbuf(port)
    prober = None
    try:
        t_spawn = time.monotonic()
        prober = _spawn(st, [loadgen] + prober_args(a, port, load["announce_rate"], a.ov_duration,
                                                    connect_s + a.ov_warmup), gen_cpu)
        time.sleep(connect_s)
        if prober.poll() is not None:
            raise RuntimeError("the announcer ended early (status %s)" % prober.returncode)
        if load["scrape_rate"] > 0:
            floods.append(("scrapes", _spawn(st, [loadgen, "run", "--proto", "udp", "--mix", SCRAPE_MIX,
                                                  "--scrape-hashes", a.ov_scrape_hashes, "--scrape-exact", 1,
                                                  "--rate", load["scrape_rate"], "--open-loop", 1,
                                                  "--duration", flood_s] + _common(a, port), gen_cpu,
                                             a.ov_flood_nice)))
        if load["fullscrape_rate"] > 0:
            floods.append(("full scrapes", _spawn(st, [loadgen, "run", "--proto", "none",
                                                       "--fullscrape-rate", load["fullscrape_rate"],
                                                       "--fullscrape-conns", a.ov_fullscrape_conns,
                                                       "--fullscrape-timeout", a.ov_fullscrape_timeout,
                                                       "--fullscrape-check", FLOOD_CHECK,
                                                       "--duration", flood_s] + _common(a, port), gen_cpu,
                                                  a.ov_flood_nice)))
        end = t_spawn + connect_s + a.ov_warmup
        while time.monotonic() < end:
            for what, p in floods:
                if p.poll() not in (None, 0):
                    raise RuntimeError("the %s flood failed early (status %s)" % (what, p.returncode))
            time.sleep(0.05)
        sampler = QueueSampler(port)
        f0, c0, t0 = fsreaders.cpu_fields(), st.cpu_seconds(pid), time.monotonic()
        ut0, ks0, rd0 = _utime_stime(pid), ksoftirqd_seconds(gen_cpu), run_delay_ns(pid)
        sampler.wait(st, prober, a.ov_duration + 60, "the announces")
        f1, c1, t1 = fsreaders.cpu_fields(), st.cpu_seconds(pid), time.monotonic()
        ut1, ks1, rd1 = _utime_stime(pid), ksoftirqd_seconds(gen_cpu), run_delay_ns(pid)
        m1 = read_metrics(port)
        busy_res = _collect(st, prober, "the announces", 30)
        flood_res = {}
        for what, p in floods:
            flood_res[what] = _collect(st, p, "the %s flood" % what, flood_s + 60)
        h1 = udp_handled(port)
    finally:
        for p in [p for _what, p in floods] + [prober]:
            if p is not None and p.poll() is None:
                st.stop_process(p)
    busy = announce_figures(busy_res)
    win = t1 - t0
    busy["p99_over_idle"] = round(busy["p99_ms"] / idle["p99_ms"], 2) if idle["p99_ms"] else None
    busy["server_cpu_seconds"] = round(c1 - c0, 3)
    busy["server_busy"] = round((c1 - c0) / win, 3) if win > 0 else None
    busy["server_user_seconds"], busy["server_system_seconds"] = (round(ut1[0] - ut0[0], 3), round(ut1[1] - ut0[1], 3))
    k0, k1 = fsreaders.cpu_ticks(f0), fsreaders.cpu_ticks(f1)
    busy["server_core_busy"] = fsreaders.busy_share(k0, k1, server_cpu)
    busy["generator_core_busy"] = fsreaders.busy_share(k0, k1, gen_cpu)
    busy["server_core_softirq"] = _share(f0, f1, server_cpu, SOFTIRQ)
    busy["generator_core_softirq"] = _share(f0, f1, gen_cpu, SOFTIRQ)
    busy["server_core_steal"] = _share(f0, f1, server_cpu, STEAL)
    busy["server_runqueue_wait_ms"] = _ms_between(rd0, rd1)
    busy["generator_core_steal"] = _share(f0, f1, gen_cpu, STEAL)
    busy["generator_ksoftirqd"] = round((ks1 - ks0) / (t1 - t0), 3) if ks0 is not None and ks1 is not None else None
    busy["window_seconds"] = round(win, 3)
    busy["udp_queue"] = sampler.result()
    busy["udp_rcvbuf"] = rcvbuf
    busy["metrics_shed"] = metrics_delta(m0, m1)
    busy["where_lost"] = where_lost(busy, busy_res, h0, h1, list(flood_res.values()))

    sc = flood_res.get("scrapes")
    scrapes = None
    if sc:
        sent = sc["sent"]["scrape"] + sc["open_loop"]["skipped"]
        scrapes = {"rate": load["scrape_rate"], "sent": sent, "sent_per_second": sc["sent"]["per_second"],
                   "answered": sc["counts"]["scrape_ok"], "shed": sc["shed"]["udp_scrape"],
                   "lost": sc["lost"]["scrape"] + sc["open_loop"]["skipped"],
                   "skipped": sc["open_loop"]["skipped"], "seconds": sc["window_seconds"],
                   "validation_errors": sc["validation_errors"]}
        scrapes["lost_pct"] = round(100.0 * scrapes["lost"] / sent, 2) if sent else None
    fl = flood_res.get("full scrapes")
    full = None
    if fl:
        f = fl["fullscrape_flood"]
        full = {"rate": load["fullscrape_rate"], "started": f["started"], "ok": f["ok"], "status_503": f["status_503"],
                "retry_after": f["retry_after"],
                "failed": f["refused"] + f["reset"] + f["timeout"] + f["status_other"] + f["bad_body"],
                "refused": f["refused"], "reset": f["reset"], "timeout": f["timeout"],
                "status_other": f["status_other"], "bad_body": f["bad_body"], "skipped": f["skipped"],
                "unfinished_at_end": f["unfinished_at_end"], "seconds_p50": f["seconds_p50"],
                "seconds_p99": f["seconds_p99"], "seconds": fl["window_seconds"],
                # a full scrape cut short (the C original's) is a failed one, counted above
                "validation_errors": fl["validation_errors"] - f["bad_body"]}
    # what the generators reached, in the load's announce-equivalents over its capacity: one CPU
    # sends all of it, and a flood it cannot send must not pass for one the server withstood
    offered = busy["sent_per_second"] or 0
    flood = 0.0
    if scrapes:
        flood += scrapes["sent_per_second"] * (load["scrape_eq"] or 0)
    if full and full["seconds"]:
        flood += full["started"] / full["seconds"] * (load["fullscrape_eq"] or 0)
    busy["flood_sent_of_capacity"] = round(flood / load["capacity"], 3) if load["capacity"] else None
    busy["announces_sent_of_capacity"] = round(offered / load["capacity"], 3) if load["capacity"] else None
    busy["server_cpu_us_per_request"] = _per(c1 - c0, busy["answered"] + _in_window(scrapes, win) +
                                             _in_window(full, win, "ok"))

    verr = (cap["validation_errors"] + idle_res["validation_errors"] + busy_res["validation_errors"] +
            (scrapes["validation_errors"] if scrapes else 0) + (full["validation_errors"] if full else 0))
    out = {
        "capacity": cap, "load": load, "idle": idle, "busy": busy, "scrapes": scrapes, "fullscrapes": full,
        "validation_errors": verr,
        # where none is expected: the closed-loop cost runs and the idle announces
        "transport_errors": cap["transport_errors"] + idle_res["transport_errors"],
        "loadgen_idle": idle_res, "loadgen_busy": busy_res, "loadgen_floods": flood_res,
    }
    st.log("  %s overload: announces lost %.2f %% (idle %.2f %%), shed %.2f %%, p99 %.2f ms (idle %.2f ms, x%s); "
           "scrapes %s answered / %s shed / %s lost; full scrapes %s ok / %s 503 / %s failed; server %.0f %% busy" % (
               impl, busy["lost_pct"] or 0, idle["lost_pct"] or 0, busy["shed_pct"] or 0, busy["p99_ms"],
               idle["p99_ms"], busy["p99_over_idle"], scrapes and scrapes["answered"], scrapes and scrapes["shed"],
               scrapes and scrapes["lost"], full and full["ok"], full and full["status_503"], full and full["failed"],
               100 * (busy["server_busy"] or 0)))
    return out


def _in_window(part, win, key="answered"):
    """A flood's answers scaled to the window (the floods run longer than it)."""
    if not part or not part["seconds"]:
        return 0
    return part[key] * min(1.0, win / part["seconds"])


# Two of /proc/stat's fields are shown per window: softirq (on loopback the receive work of a
# datagram, the scrape filter's drops among it, runs on the sender's CPU, not the server's) and
# steal (time the hypervisor gave this virtual CPU to someone else: a stall no process here caused).
SOFTIRQ, STEAL = fsreaders.SOFTIRQ, fsreaders.STEAL


def _share(f0, f1, cpu, field):
    if cpu is None or cpu not in f0 or cpu not in f1 or len(f1[cpu]) <= field:
        return None
    total = sum(f1[cpu]) - sum(f0[cpu])
    return round((f1[cpu][field] - f0[cpu][field]) / total, 4) if total > 0 else None


def run_delay_ns(pid):
    """Nanoseconds the process's threads have waited, runnable, for a CPU (schedstat's second
    field, summed): a stall of the server that this grows by was another task's, not its own
    work's; steal does not show here (the hypervisor's, above)."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    except OSError:
        return None
    return total


def _ms_between(a, b):
    return round((b - a) / 1e6, 2) if a is not None and b is not None else None


def ksoftirqd_seconds(cpu):
    """CPU seconds of ksoftirqd/<cpu>: the receive work the kernel put off to a thread, which
    then waits for that CPU like any process; None if not found."""
    if cpu is None:
        return None
    want = "ksoftirqd/%d\n" % cpu
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read() != want:
                    continue
            return sum(_utime_stime(int(d)))
        except OSError:
            continue
    return None


def _utime_stime(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


# ---------------------------------------------------------------- report

METRICS = [
    # key, label, path, scale, format (as announce_storm.METRICS)
    ("cap", "capacity: announces/s (1 s / CPU)", (S, "capacity", "announces_per_second"), 1, "%.0f"),
    ("cap_cpu", "  server CPU us/announce", (S, "capacity", "announce_cpu_us"), 1, "%.2f"),
    ("cap_reached", "  closed loop reached, announces/s", (S, "capacity", "announces_per_second_reached"), 1, "%.0f"),
    ("scr_cpu", "74-hash scrape: server CPU us", (S, "capacity", "scrape_cpu_us"), 1, "%.2f"),
    ("scr_eq", "  in announces", (S, "capacity", "scrape_eq"), 1, "%.2f"),
    ("fs_cpu", "full scrape: server CPU us", (S, "capacity", "fullscrape_cpu_us"), 1, "%.0f"),
    ("fs_eq", "  in announces", (S, "capacity", "fullscrape_eq"), 1, "%.1f"),
    ("rate_ann", "load: announces/s (paced)", (S, "load", "announce_rate"), 1, "%.0f"),
    ("rate_scr", "load: 74-hash scrapes/s", (S, "load", "scrape_rate"), 1, "%.0f"),
    ("rate_fs", "load: full scrapes/s", (S, "load", "fullscrape_rate"), 1, "%.1f"),
    ("own_ann", "  announces, of own capacity", (S, "load", "announces_of_own_capacity"), 1, "%.2f"),
    ("own_flood", "  flood, of own capacity", (S, "load", "flood_of_own_capacity"), 1, "%.2f"),
    ("idle_lost", "idle: announces lost, %", (S, "idle", "lost_pct"), 1, "%.2f"),
    ("idle_p50", "idle: announce p50, ms", (S, "idle", "p50_ms"), 1, "%.3f"),
    ("idle_p99", "idle: announce p99, ms", (S, "idle", "p99_ms"), 1, "%.3f"),
    ("idle_cpu", "idle: server CPU us/announce", (S, "idle", "server_cpu_us_per_request"), 1, "%.2f"),
    ("idle_busy", "idle: server process CPU, %", (S, "idle", "server_busy"), 100, "%.0f"),
    ("idle_sent", "idle: announces sent/s", (S, "idle", "sent_per_second"), 1, "%.0f"),
    ("idle_steal", "idle: steal, server's core, %", (S, "idle", "server_core_steal"), 100, "%.2f"),
    ("idle_gsteal", "idle: steal, generators' core, %", (S, "idle", "generator_core_steal"), 100, "%.2f"),
    ("idle_rq", "idle: server waited for its CPU, ms", (S, "idle", "server_runqueue_wait_ms"), 1, "%.1f"),
    ("ov_lost", "overload: announces lost, %", (S, "busy", "lost_pct"), 1, "%.2f"),
    ("ov_shed", "overload: announces shed, %", (S, "busy", "shed_pct"), 1, "%.2f"),
    ("ov_p50", "overload: announce p50, ms", (S, "busy", "p50_ms"), 1, "%.3f"),
    ("ov_p99", "overload: announce p99, ms", (S, "busy", "p99_ms"), 1, "%.3f"),
    ("ov_ratio", "  p99 / idle p99", (S, "busy", "p99_over_idle"), 1, "%.2f"),
    ("ov_sent", "overload: announces sent/s", (S, "busy", "sent_per_second"), 1, "%.0f"),
    ("ov_skip", "  lost: no slot, never sent", (S, "busy", "skipped"), 1, "%.0f"),
    ("ov_unhandled", "  lost: never handled by the server", (S, "busy", "where_lost", "not_handled"), 1, "%.0f"),
    ("ov_handled_lost", "  lost: handled, answer not in time", (S, "busy", "where_lost", "handled_not_answered"),
     1, "%.0f"),
    ("ov_gen_drops", "  announcer's socket drops", (S, "busy", "announcer_socket_drops"), 1, "%.0f"),
    ("ov_noid", "  sockets without conn. id", (S, "busy", "sockets_without_connection_id"), 1, "%.0f"),
    ("ov_flood_sent", "  flood sent, capacities", (S, "busy", "flood_sent_of_capacity"), 1, "%.2f"),
    ("sc_sent", "scrapes sent/s", (S, "scrapes", "sent_per_second"), 1, "%.0f"),
    ("sc_ok", "scrapes answered", (S, "scrapes", "answered"), 1, "%.0f"),
    ("sc_shed", "scrapes shed (overloaded)", (S, "scrapes", "shed"), 1, "%.0f"),
    ("sc_lost", "scrapes lost", (S, "scrapes", "lost"), 1, "%.0f"),
    ("fs_started", "full scrapes started", (S, "fullscrapes", "started"), 1, "%.0f"),
    ("fs_ok", "full scrapes 200", (S, "fullscrapes", "ok"), 1, "%.0f"),
    ("fs_503", "full scrapes 503", (S, "fullscrapes", "status_503"), 1, "%.0f"),
    ("fs_ra", "  with Retry-After", (S, "fullscrapes", "retry_after"), 1, "%.0f"),
    ("fs_failed", "full scrapes failed", (S, "fullscrapes", "failed"), 1, "%.0f"),
    ("fs_skipped", "full scrapes skipped (cap)", (S, "fullscrapes", "skipped"), 1, "%.0f"),
    ("fs_short", "  failed: cut short", (S, "fullscrapes", "bad_body"), 1, "%.0f"),
    ("fs_timeout", "  failed: timeout", (S, "fullscrapes", "timeout"), 1, "%.0f"),
    ("ov_busy", "overload: server process CPU, %", (S, "busy", "server_busy"), 100, "%.0f"),
    ("ov_sys", "  of it system, s", (S, "busy", "server_system_seconds"), 1, "%.2f"),
    ("ov_core", "  server's core busy, %", (S, "busy", "server_core_busy"), 100, "%.0f"),
    ("ov_gen", "  generators' core busy, %", (S, "busy", "generator_core_busy"), 100, "%.0f"),
    ("ov_gen_sirq", "    of it softirq, %", (S, "busy", "generator_core_softirq"), 100, "%.0f"),
    ("ov_gen_ksirq", "    of it ksoftirqd, %", (S, "busy", "generator_ksoftirqd"), 100, "%.0f"),
    ("ov_steal", "  steal, server's core, %", (S, "busy", "server_core_steal"), 100, "%.2f"),
    ("ov_gsteal", "  steal, generators' core, %", (S, "busy", "generator_core_steal"), 100, "%.2f"),
    ("ov_rq", "  server waited for its CPU, ms", (S, "busy", "server_runqueue_wait_ms"), 1, "%.1f"),
    ("ov_cpu", "overload: server CPU us/answer", (S, "busy", "server_cpu_us_per_request"), 1, "%.2f"),
    ("ov_rxq", "UDP rx queue max, KB", (S, "busy", "udp_queue", "rx_queue_max_bytes"), 1 / 1024, "%.0f"),
    ("ov_drops", "UDP drops in the window", (S, "busy", "udp_queue", "drops"), 1, "%.0f"),
]


def pooled_percentile(hists, q):
    """The q-quantile (ms) of the announces of several runs together, from loadgen's buckets:
    one stall in one run of many weighs as much as it did in that run, no more."""
    counts = {}
    for h in hists:
        for v, c in h.get("buckets") or ():
            counts[v] = counts.get(v, 0) + c
    n = sum(counts.values())
    if not n:
        return None
    want, seen = max(1, int(q * n + 0.999999)), 0
    for v in sorted(counts):
        seen += counts[v]
        if seen >= want:
            return v / 1000.0
    return None


def summarize_extra(runs, impl):
    shed = {}
    have = False
    mine = [r for r in runs if r.get("impl") == impl and "error" not in r and S in r]
    pooled = {}
    for part in ("idle", "busy"):
        hists = [r[S]["loadgen_" + part]["latency_us"]["announce"] for r in mine]
        pooled[part] = pooled_percentile(hists, 0.99)
    pooled["ratio"] = round(pooled["busy"] / pooled["idle"], 2) if pooled["idle"] and pooled["busy"] else None
    pooled["repeats"] = len(mine)
    for r in mine:
        d = r[S]["busy"].get("metrics_shed")
        if d is None:
            continue
        have = True
        for k, v in d.items():
            shed[k] = shed.get(k, 0) + v
    return {"ov_metrics_shed": shed if have else None, "ov_pooled_p99": pooled}


def print_table(st, report):
    a = report["params"]
    mi = report["machine"]
    s = report["summary"]
    print("opentracker overload (issue 25): T=%s torrents, P=%s peers, %g s per window, %d repeat(s), "
          "median (min-max)" % (format(a["torrents"], ","), format(a["peers"], ","), a["ov_duration"], a["repeats"]))
    print("machine: %s, %s CPUs (%s), Linux %s, Python %s; commit %s; %s" % (
        mi["machine"], mi["cpus"], mi["cpu_model"], mi["kernel"], mi["python"], report["commit"],
        "server on CPU %s, all generators on CPU %s" % tuple(report["cpus"]) if report["cpus"][0] is not None
        else "no CPU pinning (fewer than 2 CPUs)"))
    if report.get("uptime"):
        print("machine load at the start (/proc/loadavg): %s" % report["uptime"])
    print("load: announces open loop at %g x capacity; flood %g x capacity in server cost, %g of it in full "
          "scrapes (HTTP/1.0, at most %d open), the rest in %d-hash UDP scrapes; basis: %s; timeout %g s" % (
              a["ov_announce_share"], a["ov_flood"], a["ov_fullscrape_share"], a["ov_fullscrape_conns"],
              a["ov_scrape_hashes"], "ours' capacity for every server" if a["ov_basis"] == "ours" else "each its own",
              a["timeout"]))
    sched = sorted({r[S][part]["announcer_scheduling"] for r in report["runs"] if S in r and "error" not in r
                    for part in ("idle", "busy") if r[S][part].get("announcer_scheduling")})
    if sched:
        print("the paced announcer's scheduling (--ov-announcer-fifo %d): %s" % (a.get("ov_announcer_fifo", 0),
                                                                              ", ".join(sched)))
    for n in report.get("overload_notes", []):
        print("note: %s" % n)
    print()
    spread = a["repeats"] > 1
    cols = [(k, VARIANTS.get(k, k)) for k in report["impls"] if k in s]
    w0 = 36
    widths = [26 if spread else 20 for _ in cols]
    header = "%-*s" % (w0, "metric") + "".join("%*s" % (w, t) for (_k, t), w in zip(cols, widths))
    print(header)
    print("-" * len(header))
    for key, label, _path, _scale, fmt in METRICS:
        print("%-*s" % (w0, label) + "".join("%*s" % (w, st.fmt_cell(s[k][key], fmt, spread))
                                              for (k, _t), w in zip(cols, widths)))

    def shed_cell(k):
        d = s[k].get("ov_metrics_shed")
        if d is None:
            return "-"
        d = {kk: v for kk, v in d.items() if v}
        return ", ".join("%s %d" % kv for kv in sorted(d.items())) or "0"
    def pooled_cell(k):
        p = s[k].get("ov_pooled_p99") or {}
        if not p.get("idle") or not p.get("busy"):
            return "-"
        return "%.3f / %.3f = %.2f" % (p["busy"], p["idle"], p["ratio"])
    for label, cells in (("all repeats' p99, ms: overload/idle", [pooled_cell(k) for k, _t in cols]),
                         ("/metrics shed (all windows)", [shed_cell(k) for k, _t in cols]),
                         ("validation errors (all runs)", ["%d" % s[k]["validation_errors"] for k, _t in cols]),
                         ("transport errors (cost, idle)", ["%d" % s[k]["transport_errors"] for k, _t in cols])):
        print("%-*s" % (w0, label) + "".join("%*s" % (w, c) for c, w in zip(cells, widths)))
    for k, t in cols:
        for e in s[k]["failed_runs"]:
            print("FAILED (%s): %s" % (t, e))
