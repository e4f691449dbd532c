"""Inputs the fuzzers (tests/fuzz/) and the sanitizer run (tests/sanitize.sh)
found to break the tracker, one test each, kept so they stay fixed.

Some of these misbehave only where a sanitizer can see it (a read past the
end of a buffer returns garbage, not an error): they fail under
tests/sanitize.sh, which aborts the process on the first ASan report.
"""

import os
import sys

import pytest

from helpers.testcore import core
from opentracker import config
from helpers.trackerproc import Tracker

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz"))

import common  # noqa: E402


# ---------------------------------------------------------------- http.pyx: the full-scrape test reads past the request

# http_respond compares the path with b"scrape HTTP/" over 12 bytes whatever
# the request's length: a short request ("GET /sc", or a path that starts
# near the end of a full 8192-byte buffer after many slashes) is read past its
# end. Found by fuzz_http in its first seconds (ASan: heap-buffer-overflow,
# READ of size 12 in memcmp from http_respond).
SHORT_PATHS = [b"GET /sc", b"GET /x", b"GET /scrape", b"GET /scrape HTTP", b"GET " + b"/" * 8185 + b"x\n\n",
               b"GET " + b"/" * 8180 + b"scrape\n\n"]


@pytest.mark.parametrize("request_bytes", SHORT_PATHS, ids=["sc", "x", "scrape", "scrape-HTTP", "slashes-x",
                                                            "slashes-scrape"])
def test_short_path_is_not_read_past_its_end(request_bytes):
    srv = core.Server(seed=1)
    resp = srv.respond_http(request_bytes)     # on a buffer of exactly these bytes
    assert resp in (common.ERR_400, common.ERR_404), resp[:80]


def test_short_path_over_the_wire():
    """The same on the wire: the request fills the read buffer and its path
    starts 4 bytes before the end; the tracker (under ASan in
    tests/sanitize.sh) must answer 404 and keep running."""
    with Tracker() as t:
        raw = b"GET " + b"/" * 8185 + b"x\n\n"
        assert len(raw) == 8192
        assert t.http(raw) == common.ERR_404
        assert t.http(b"GET /sc\n\n") == common.ERR_400
        assert t.proc.poll() is None, t.stderr()


# ---------------------------------------------------------------- config.py: values the core refuses at start-up

# config accepts an access.stats_path of 256 bytes or more and a
# tracker.redirect_url of more than 2048 bytes; Server.configure then raises
# ValueError at start-up (after the sockets are bound), a traceback instead of
# "file:line: Parse error in config file: ... : reason". Found by reading
# Server.configure's limits while writing fuzz_config's invariants; the
# fuzzer's check_settings now asserts them.
@pytest.mark.parametrize("line", [b"access.stats_path " + b"s" * 256, b"tracker.redirect_url http://x/" + b"y" * 2040],
                         ids=["stats_path-256", "redirect_url-2049"])
def test_config_refuses_values_the_core_cannot_take(line):
    builder = config.Builder()
    try:
        builder.read_text(line + b"\n", "long.conf")
        settings, _ = builder.build()
    except config.ConfigError as exc:
        assert exc.lineno == 1, exc
        return
    core.Server(seed=1).configure(stats_path=settings.stats_path, redirect_url=settings.redirect_url)


# ---------------------------------------------------------------- state.py: a state file larger than the memory budget

# state.load lets StoreFullError out of store.restore: with tracker.memory_limit
# set and a state file that does not fit, StateKeeper.load (which catches only
# OSError) ends start-up with a traceback, after the sockets are bound. A
# state line that does not fit should be counted and reported like the other
# skipped lines. Found by fuzz_state with its memory-budget setup.
def test_state_file_larger_than_the_memory_budget(tmp_path):
    from opentracker import state
    srv = core.Server(seed=1)
    srv.store.memory_limit = common.budget_used(srv) + 4096
    lines = [b"%040x:%d:%d\n" % (i * 7919 + 1, 29925199, i) for i in range(2000)]
    path = tmp_path / "state"
    path.write_bytes(b"".join(lines))
    report = state.load(srv, str(path))       # must not raise
    kept = len(srv.store.torrents())
    assert 0 < kept < len(lines)
    assert report.loaded == kept
    assert report.bad == report.duplicates == report.refused == 0
    assert str(len(lines) - kept) in report.describe(str(path)), report.describe(str(path))
