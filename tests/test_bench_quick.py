"""The benchmark harness runs end to end and every reply it got was valid.

Runs `python bench/announce_storm.py --quick --impl ours --json` (and the same against the
Debian C binary when it is installed) as a subprocess and checks that the run completed,
that the load generator validated every reply (no validation errors, no failed full scrape)
and that each phase counted something; then the same for the many-indexers scenario
(`--fs-readers`, small) and for the overload scenario (`--overload`, short). It asserts no
speed: the figures are printed only.
"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STORM = os.path.join(REPO, "bench", "announce_storm.py")
sys.path.insert(0, os.path.join(REPO, "bench"))
import announce_storm  # noqa: E402


def run_quick(impl, *extra):
    proc = subprocess.run([sys.executable, STORM, "--quick", "--impl", impl, "--json"] + list(extra),
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.stdout.strip(), "no JSON output; stderr:\n%s" % proc.stderr
    report = json.loads(proc.stdout)
    return proc, report


def check_report(proc, report, impl):
    runs = [r for r in report["runs"] if r["impl"] == impl]
    assert runs, report
    for r in runs:
        assert "error" not in r, r.get("error")
    assert proc.returncode == 0, proc.stderr
    p = report["params"]
    for r in runs:
        # population: every peer announced once and accepted
        assert r["populate"]["populated"] == p["peers"]
        assert r["populate"]["validation_errors"] == 0, r["populate"]["loadgen"]["errors"]
        assert r["memory_kb"]["VmRSS"] > 0 and r["memory_kb"]["VmHWM"] > 0
        for proto in ("udp", "http"):
            m = r[proto]
            lg = m["loadgen"]
            assert m["validation_errors"] == 0, (proto, lg["errors"])
            assert lg["counts"]["announce_ok"] > 0, (proto, lg["counts"])
            assert lg["counts"]["scrape_ok"] > 0, (proto, lg["counts"])
            assert sum(lg["events_sent"].values()) > 0
            assert m["server_cpu_us_per_request"] is not None
            assert lg["latency_us"]["announce"]["n"] == lg["counts"]["announce_ok"]
        assert r["udp"]["loadgen"]["counts"]["connect_ok"] > 0
        fp = r["fullscrape_probe"]
        assert fp["validation_errors"] == 0, (fp["loadgen_idle"]["errors"], fp["loadgen_busy"]["errors"])
        assert fp["fullscrape_errors"] == 0, fp["loadgen_busy"]["errors"]
        assert fp["fullscrapes_completed"] > 0
        assert fp["loadgen_idle"]["counts"]["announce_ok"] > 0
        assert fp["loadgen_busy"]["counts"]["announce_ok"] > 0
    s = report["summary"][impl]
    assert s["validation_errors"] == 0 and not s["failed_runs"]
    assert report["ok"] is True
    # printed for the log, never asserted
    print(json.dumps({k: v["median"] for k, v in s.items() if isinstance(v, dict)}, indent=1))


def test_bench_quick_ours():
    proc, report = run_quick("ours")
    check_report(proc, report, "ours")
    base = report["python_base_rss_kb"]
    assert base.get("VmRSS", 0) > 0, base


@pytest.mark.skipif(announce_storm.find_c_binary() is None, reason="the C opentracker is not installed")
def test_bench_quick_c():
    proc, report = run_quick("c")
    check_report(proc, report, "c")


FS_QUICK = ("--fs-readers", "4", "--fs-slow", "1", "--fs-duration", "1")


def check_fs_report(proc, report, impl):
    runs = [r for r in report["runs"] if r["impl"] == impl]
    assert runs, report
    for r in runs:
        assert "error" not in r, r.get("error")
        assert "udp" not in r and "http" not in r, "the scenario replaces the storm's runs"
        m = r["fullscrape_storm"]
        for phase in ("loadgen_idle", "loadgen_busy"):
            assert m[phase]["counts"]["announce_ok"] > 0, m[phase]["counts"]
        assert m["validation_errors"] == 0, (m["loadgen_idle"]["errors"], m["loadgen_busy"]["errors"])
        assert m["fullscrapes_completed"] > 0 and m["slow_fullscrapes_completed"] > 0, m["fsreaders"]
        assert m["fsreaders"]["entries_min"] == report["params"]["torrents"]
        assert m["fullscrapes_in_window"] > 0 and m["server_cpu_ms_per_fullscrape"] is not None
        assert m["peak_rss_kb"] >= m["rss_before_kb"] * 0.9 > 0
        assert m["busy_over_idle_p99"] is not None
    assert proc.returncode == 0, proc.stderr
    assert report["ok"] is True
    print(json.dumps({k: v["median"] for k, v in report["summary"][impl].items()
                      if isinstance(v, dict) and "median" in v}, indent=1))
    return runs


def test_bench_fsreaders_quick_ours(tmp_path):
    proc, report = run_quick("ours", *FS_QUICK)
    for r in check_fs_report(proc, report, "ours"):
        assert r["fullscrape_storm"]["fullscrape_failures"] == 0, r["fullscrape_storm"]["fullscrape_errors"]
    # --merge: one table from reports of the same command
    paths = []
    for i in range(2):
        paths.append(str(tmp_path / ("r%d.json" % i)))
        with open(paths[-1], "w") as f:
            json.dump(report, f)
    merged = announce_storm.merge_reports(paths)
    assert len(merged["runs"]) == 2 * len(report["runs"]) and merged["params"]["repeats"] == 2
    assert merged["summary"]["ours"]["fs_per_second"]["n"] == 2


@pytest.mark.skipif(announce_storm.find_c_binary() is None, reason="the C opentracker is not installed")
def test_bench_fsreaders_quick_c():
    """The original may drop a full scrape asked for while it sends another: counted, not failed."""
    proc, report = run_quick("c", *FS_QUICK)
    check_fs_report(proc, report, "c")


OV_QUICK = ("--overload", "--ov-duration", "1.5", "--ov-warmup", "0.5", "--ov-cost-duration", "1")


def test_bench_overload_quick_ours():
    """The overload scenario end to end on ours: every phase counted something, no reply was
    invalid, and with shedding on the flood was shed in part (full scrapes answered 503 with
    Retry-After, UDP scrapes read and dropped: counted by /metrics) while the paced announces
    were still answered."""
    proc, report = run_quick("ours", *OV_QUICK)
    assert proc.returncode == 0, proc.stderr
    impls = report["impls"]
    assert impls[0] == "ours", impls
    shedding = "ours_off" in impls  # the core knows `tracker.shedding`
    for impl in impls:
        runs = [r for r in report["runs"] if r["impl"] == impl]
        assert runs, (impl, report["summary"])
        for r in runs:
            assert "error" not in r, r.get("error")
            assert "udp" not in r and "fullscrape_probe" not in r, "the scenario replaces the storm's runs"
            m = r["overload"]
            cap = m["capacity"]
            assert cap["announces_per_second"] > 0 and cap["scrape_eq"] and cap["fullscrape_eq"], cap
            assert m["load"]["announce_rate"] > 0 and m["load"]["scrape_rate"] > 0 and m["load"]["fullscrape_rate"] > 0
            assert m["idle"]["answered"] > 0 and m["idle"]["p99_ms"] > 0
            assert m["busy"]["answered"] > 0, m["busy"]
            assert m["busy"]["sent"] >= m["busy"]["answered"] + m["busy"]["shed"]
            # every lost announce is placed: never sent, never handled by the server (its own
            # count, mode=udp4), or handled and its answer lost on the way back
            w = m["busy"]["where_lost"]
            assert w is not None, "ours serves /stats?mode=udp4 to the benchmark"
            b = m["busy"]
            # (a connect the generators retried is counted twice by the server: at most one a socket)
            assert b["answered"] <= w["server_handled"] <= b["sent"] - b["skipped"] + 2 * 32, (b, w)
            assert w["not_handled"] + w["handled_not_answered"] <= b["lost"] - b["skipped"], (b, w)
            assert w["announcer_socket_drops"] is not None and w["announcer_socket_drops"] >= 0, w
            # the announcer asked for SCHED_FIFO: granted, or refused with the kernel's reason
            # (a container's root may lack CAP_SYS_NICE)
            sched = b["announcer_scheduling"]
            assert sched == "fifo 50" or sched.startswith("other (fifo refused: "), sched
            assert m["scrapes"]["sent"] > 0, m["scrapes"]
            if impl != "ours" or not shedding:
                # with shedding on, the whole flood may be shed: counted by /metrics below
                assert m["scrapes"]["answered"] > 0, m["scrapes"]
            f = m["fullscrapes"]
            assert f["started"] > 0 and f["ok"] + f["status_503"] > 0, f
            assert f["bad_body"] == 0, f
            assert m["validation_errors"] == 0, (m["loadgen_idle"]["errors"], m["loadgen_busy"]["errors"])
            assert m["busy"]["metrics_shed"] is not None, "ours answers GET /metrics"
            shed = m["scrapes"]["shed"] + f["status_503"] + m["busy"]["shed"]
            if impl == "ours" and shedding:
                assert shed > 0, (m["scrapes"], f, m["busy"])
                assert f["retry_after"] == f["status_503"], f
                assert sum(m["busy"]["metrics_shed"].values()) > 0, m["busy"]["metrics_shed"]
            if impl == "ours_off" or not shedding:
                assert shed == 0, (m["scrapes"], f, m["busy"])
    assert report["ok"] is True
    print(json.dumps({i: {k: v["median"] for k, v in report["summary"][i].items()
                          if isinstance(v, dict) and "median" in v} for i in impls}, indent=1))


def test_find_c_binary_ignores_non_elf(tmp_path, monkeypatch):
    """A Python entry point called `opentracker` on PATH is not the C original."""
    fake = tmp_path / "opentracker"
    fake.write_text("#!/usr/bin/env python3\nprint('ours')\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("OT_C_BINARY", raising=False)
    monkeypatch.setattr(announce_storm, "C_CANDIDATES", ())
    assert announce_storm.find_c_binary() is None
    assert announce_storm.find_c_binary(str(fake)) is None
