"""A tracker process whose core builds large answers in tiny slices.

The core's slice size (torrents per loop turn for a full scrape, tpbs,
statedump, top10 and s24s; s24s scales its peer and key steps with it) has
no config key: the default suits every tracker. Tests cut it down to make a
small tracker exercise what only a huge one would otherwise: resuming a walk
after its cursor while the store changes, and multi-step sorting. The
launcher subclasses the shell's Server to pass `answer_slice` to configure().
"""

import sys

from .trackerproc import Tracker

LAUNCHER = """
import runpy, sys
import opentracker.server as shell
slice_size = int(sys.argv.pop(1))

class SlicedServer(shell.Server):
    def configure(self, **kw):
        kw["answer_slice"] = slice_size
        return super().configure(**kw)

shell.Server = SlicedServer
sys.argv[0] = "opentracker"
runpy.run_module("opentracker", run_name="__main__")
"""


def sliced_tracker(answer_slice, **kw):
    """A Tracker (ours, not started yet) whose core formats `answer_slice`
    torrents per slice."""
    t = Tracker(impl="ours", **kw)
    assert t.argv[1:3] == ["-m", "opentracker"], t.argv
    t.argv = [sys.executable, "-c", LAUNCHER, str(answer_slice)] + t.argv[3:]
    return t
