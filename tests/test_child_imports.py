"""Subprocess tests run the code under test (issue 17).

A tracker child runs in its own temporary directory. If its PYTHONPATH were
this process's, a relative entry (`PYTHONPATH=src`) would mean nothing
there and the child would import whatever copy is installed, so every
subprocess test would test that copy instead. trackerproc gives the child
the directories this process imported opentracker and opentracker_core
from, as absolute paths; these tests check what the child really imports.
"""

import os
import subprocess
import sys

import opentracker
import opentracker_core
from helpers.trackerproc import Tracker, package_path

REPORT = "import opentracker, opentracker_core; print(opentracker.__file__); print(opentracker_core._core.__file__)"


def imported_by_child(tracker):
    """(opentracker, opentracker_core._core) files a child started with the
    tracker's environment, in its directory, imports."""
    done = subprocess.run([sys.executable, "-c", REPORT], cwd=tracker.dir, env=tracker.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return tuple(os.path.realpath(line) for line in done.stdout.split())


def under_test():
    return (os.path.realpath(opentracker.__file__), os.path.realpath(opentracker_core._core.__file__))


def test_tracker_child_imports_the_tree_under_test():
    t = Tracker()
    try:
        assert imported_by_child(t) == under_test()
        assert all(os.path.isabs(p) for p in t.env["PYTHONPATH"].split(os.pathsep))
    finally:
        t.close()


def test_relative_pythonpath_from_another_directory(monkeypatch, tmp_path):
    """The way a developer runs `PYTHONPATH=src pytest` from the checkout:
    a relative entry, resolved against the directory the tests started in,
    still names the tree under test in the child, which runs elsewhere."""
    src = os.path.dirname(os.path.dirname(os.path.abspath(opentracker.__file__)))
    monkeypatch.chdir(os.path.dirname(src))
    monkeypatch.setenv("PYTHONPATH", os.path.basename(src) + os.pathsep + "no-such-dir")
    assert src in package_path().split(os.pathsep)
    t = Tracker()
    try:
        assert imported_by_child(t) == under_test()
        assert t.dir != os.getcwd()
    finally:
        t.close()
