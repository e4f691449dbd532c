"""The multi-worker benchmark (`bench/announce_storm.py --workers`) runs end to end.

Runs `--workers 1 --quick --impl ours --json` with 1-second runs (and N = 1, 2 of the Debian
C binary when it is installed) and checks the report: every phase counted announces, no reply
was invalid, the capped run stayed within its cgroup quota (when this machine lets us make
cgroups; else the report says why it skipped them), the ratios are there and no cgroup was left
behind. It asserts no speed. Plus the parts that need no server: the lock-wait parser and the
check for a usable cgroup v1 cpu controller.
"""

import json
import os
import subprocess  # noqa: F401  (the benchmark runs processes: crossbuild/test-qemu.sh leaves such files out)
import sys

import pytest

from test_bench_quick import REPO, run_quick

sys.path.insert(0, os.path.join(REPO, "bench"))
import announce_storm  # noqa: E402
import workers  # noqa: E402

SHORT = ("--duration", "1")


def leftover_groups(pid):
    try:
        names = os.listdir(workers.CG_ROOT)
    except OSError:
        return []
    return [n for n in names if n.startswith("%s%d-" % (workers.CG_PREFIX, pid))]


def check_workers_report(proc, report, impl, ns):
    assert proc.returncode == 0, proc.stderr
    assert report["ok"] is True, report["summary"]
    can_cap = workers.cgroup_problem() is None
    notes = " ".join(report.get("workers_notes", []))
    if not can_cap:
        assert "capped runs skipped" in notes, notes
    runs = [r for r in report["runs"] if r["impl"] == impl]
    assert sorted(r["workers"] for r in runs) == sorted(ns), runs
    p = report["params"]
    for r in runs:
        assert "error" not in r, r.get("error")
        assert r["populate"]["populated"] == p["peers"] and r["populate"]["validation_errors"] == 0
        assert r["thread_names"] and r["udp_sockets"] >= 1
        for mode in ("uncapped", "capped") if can_cap else ("uncapped",):
            m = r[mode]
            assert m["validation_errors"] == 0, [g["errors"] for g in m["loadgen"]]
            assert m["counts"]["announce_ok"] > 0 and m["announces_per_second"] > 0, m["counts"]
            assert m["server_cpu_us_per_announce"] > 0 and m["server_cpus_used"] > 0
            assert sum(t["cpu_seconds"] for t in m["threads"]) > 0, m["threads"]
        if can_cap:
            c = r["capped"]
            assert c["capped_threads"] == len(r["thread_names"]), (c["capped_threads"], r["thread_names"])
            # the quota holds (CFS may run a thread a little past it at a period's edge)
            assert c["server_cpus_used"] <= c["cap"] * c["capped_threads"] * 1.25 + 0.05, c["server_cpus_used"]
        else:
            assert "capped" not in r
        assert not leftover_groups(r["pid"])
    s = report["summary"][impl]
    assert s["validation_errors"] == 0 and not s["failed_runs"]
    for n in ns:
        assert s["workers"][str(n)]["uncapped"]["announces_per_second"]["median"] > 0
    print(json.dumps({n: {m: {k: v["median"] for k, v in per[m].items() if isinstance(v, dict)}
                          for m in ("uncapped", "capped") if m in per}
                      for n, per in s["workers"].items()}, indent=1))
    return runs


def test_bench_workers_quick_ours(capsys, tmp_path):
    proc, report = run_quick("ours", "--workers", "1", *SHORT)
    check_workers_report(proc, report, "ours", [1])
    m = report["summary"]["ours"]["workers"]["1"]["uncapped"]
    assert m["vs_ours_1"] == 1.0 and m["vs_own_1"] == 1.0
    # the table and --merge from the same report
    announce_storm.print_table(report)
    out = capsys.readouterr().out
    assert "uncapped 1" in out and "ours" in out, out
    paths = []
    for i in range(2):
        paths.append(str(tmp_path / ("r%d.json" % i)))
        with open(paths[-1], "w") as f:
            json.dump(report, f)
    merged = announce_storm.merge_reports(paths)
    assert merged["summary"]["ours"]["workers"]["1"]["uncapped"]["announces_per_second"]["n"] == 2


@pytest.mark.skipif(announce_storm.find_c_binary() is None, reason="the C opentracker is not installed")
def test_bench_workers_quick_c():
    proc, report = run_quick("c", "--workers", "1,2", *SHORT)
    runs = check_workers_report(proc, report, "c", [1, 2])
    by_n = {r["workers"]: r for r in runs}
    # listen.udp.workers took effect: one more thread with two UDP workers
    assert len(by_n[2]["thread_names"]) == len(by_n[1]["thread_names"]) + 1, by_n
    assert report["summary"]["c"]["workers"]["2"]["uncapped"]["vs_own_1"] is not None


def test_parse_lock_waits():
    metrics = ("# HELP opentracker_clock_jumps_total Wall clock jumps\n"
               "opentracker_clock_jumps_total 3\n"
               'opentracker_store_lock_waits_total{group="0"} 5\n'
               'opentracker_store_lock_waits_total{group="1"} 7\n')
    assert workers.parse_lock_waits(metrics, None) == (12, "/metrics")
    assert workers.parse_lock_waits("opentracker_clock_jumps_total 3\n", None) is None
    stats = "<stats><uptime>3</uptime><store><lock_waits>42</lock_waits></store></stats>"
    assert workers.parse_lock_waits("opentracker_clock_jumps_total 3\n", stats) == (42, "/stats?mode=everything")
    assert workers.parse_lock_waits(None, "<stats><clock>1</clock></stats>") is None


def test_cgroup_problem_without_v1_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(workers, "CG_ROOT", str(tmp_path))
    assert "cpu controller" in workers.cgroup_problem()


def test_workers_option_checks():
    with pytest.raises(SystemExit):
        announce_storm.parse_args(["--workers", "0"])
    with pytest.raises(SystemExit):
        announce_storm.parse_args(["--workers", "1", "--overload"])
    a = announce_storm.parse_args(["--workers", "1,2,2,4", "--quick"])
    assert a.workers_list == [1, 2, 4] and a.torrents == 1000 and a.peers == 10000
    assert len(a.worker_cpu_list) == min(2, len(os.sched_getaffinity(0)))
