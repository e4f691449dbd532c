"""The shell at rest imports only what serving needs (docs/memory.md, "The
shell at rest"): every module a tracker loads stays in its RSS for as long
as it runs, so the man-page generator, the config checker, the state file,
access-list and cluster-key code and the re module stay out of a tracker
that has no use for them.

The running tracker tells which modules it imported through the
interpreter's import timer (PYTHONPROFILEIMPORTTIME: one stderr line per
import, as it finishes), read once the tracker answers. Here the tracker
runs without site (-S): site-packages' start-up hooks of a development
machine import re and more before the tracker starts, which would hide the
tracker's own imports. Under OT_EMULATOR the installed command runs as
installed, with python3-light's site.
"""

import os
import sys

from helpers.trackerproc import Tracker

NOT_AT_REST = {
    "opentracker.manpages", "opentracker.check", "opentracker.state", "opentracker.accesslist",
    "opentracker.clusterkey", "re", "string", "textwrap", "argparse", "typing", "dataclasses", "inspect",
    "logging", "json", "tempfile", "shutil", "signal", "socket", "selectors", "enum",
}


def imported_while_serving(config=()):
    """The modules a tracker had imported by the time it answered."""
    t = Tracker(config=config, stats=False, env={"PYTHONPROFILEIMPORTTIME": "1"})
    if not os.environ.get("OT_EMULATOR"):
        assert t.argv[:2] == [sys.executable, "-m"]
        t.argv.insert(1, "-S")
    try:
        t.start()
        text = t.stderr()
    finally:
        t.stop()
    names = {line.split("|")[2].strip() for line in text.splitlines()
             if line.startswith("import time:") and "imported package" not in line}
    assert "opentracker.server" in names, text[-2000:]
    return names


def test_a_plain_tracker_loads_none_of_the_rest():
    names = imported_while_serving()
    assert not names & NOT_AT_REST


def test_what_a_setting_asks_for_is_loaded(tmp_path):
    """The same reading sees the imports a setting asks for: a whitelist
    loads the access-list code, a state file the state code. As root the
    tracker chroots to tracker.rootdir, where no library is: those imports
    happen before it does, or the tracker could not start."""
    (tmp_path / "white.txt").write_text("%s\n" % ("ab" * 20))
    os.chmod(tmp_path, 0o755)
    os.chmod(tmp_path / "white.txt", 0o644)
    chroot = os.geteuid() == 0 and not os.environ.get("OT_EMULATOR")
    root = "/" if chroot else str(tmp_path) + "/"
    config = ["access.whitelist %swhite.txt" % root, "tracker.statefile %sstate" % root]
    if chroot:
        config.append("tracker.rootdir %s" % tmp_path)
    names = imported_while_serving(config)
    assert {"opentracker.accesslist", "opentracker.state"} <= names
    assert not names & {"opentracker.manpages", "opentracker.check", "opentracker.clusterkey"}
