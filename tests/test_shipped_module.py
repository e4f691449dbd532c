"""The module a router installs carries the tracker and nothing of its
tests: the in-process entry points live in the test build
(tests/testbuild/, docs/architecture.md, "Test builds"), so neither the
Python classes nor the binary name them."""

import opentracker_core
from opentracker_core import _core

# What the test build adds (TestServer, TestStore) and what the shipped
# module carried before it: none of it may come back.
TEST_ONLY = ("answer_http", "answer_udp", "respond_http", "set_wall_clock", "clock_offset", "livesync_tick",
             "history_step", "history_tick", "status_page", "announce_http", "announce_udp", "stop_http",
             "scrape_http", "scrape_udp", "last_outcome", "TestServer", "TestStore")


def test_shipped_classes_have_no_test_entry_points():
    for cls in (_core.Server, _core.Store):
        names = set(dir(cls))
        assert not [n for n in names if "testhelper" in n], cls
        assert names.isdisjoint(TEST_ONLY), (cls, sorted(names & set(TEST_ONLY)))
    assert set(dir(_core)).isdisjoint(TEST_ONLY)
    assert opentracker_core.Server is _core.Server and opentracker_core.Store is _core.Store


def test_shipped_binary_names_no_test_entry_point():
    """What `strings` on the installed extension would show."""
    with open(_core.__file__, "rb") as f:
        binary = f.read()
    # clock_offset, livesync_tick and history_tick also name the core's own
    # field and functions (symbols and debug information carry them).
    core_names = {"clock_offset", "livesync_tick", "history_tick"}
    for needle in (b"_testhelper",) + tuple(n.encode() for n in TEST_ONLY if n not in core_names):
        assert needle not in binary, "%s names %r" % (_core.__file__, needle)
