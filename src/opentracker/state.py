"""Saved tracker state: the `/stats?mode=statedump` format (docs/compatibility.md,
"State dump"), one line per torrent, `<40 hex>:<base minutes>:<downloaded>`.

Loading validates strictly (the original let a stray non-hex byte through):
a bad line is skipped, counted and reported, never fatal. Saving goes to a
temporary file in the same directory, then fsync and rename, so a reader or a
restart after a crash sees the old file or the new one, never half of one.
"""

import io
import os
import re

from opentracker_core import StoreFullError

from .errors import say

_LINE = re.compile(rb"([0-9A-Fa-f]{40}):([0-9]{1,10}):([0-9]{1,10})")
_U32 = 2**32


class LoadReport:
    __slots__ = ("loaded", "duplicates", "refused", "bad", "first_bad", "over_budget")

    def __init__(self):
        self.loaded = self.duplicates = self.refused = self.bad = self.over_budget = 0
        self.first_bad = []  # (line number, text) of the first few bad lines

    def describe(self, path):
        text = "%s: %d torrent(s) restored" % (path, self.loaded)
        if self.duplicates:
            text += ", %d repeated hash(es) skipped (the first line wins)" % self.duplicates
        if self.refused:
            text += ", %d refused by the access list" % self.refused
        if self.bad:
            text += ", %d bad line(s) skipped" % self.bad
        if self.over_budget:
            text += ", %d left out: tracker.memory_limit reached" % self.over_budget
        return text


def load(server, path):
    """Restore torrents from a state file into the server's store; returns a
    LoadReport. OSError when the file cannot be read."""
    with open(path, "rb") as f:
        data = f.read()
    store = server.store
    report = LoadReport()
    # The store skips a hash it already holds (the first line wins), so the
    # repeats are the lines it was handed that neither added a torrent nor
    # hit the budget. Counting torrents before and after spares a set of
    # every hash, and reading lines from the one buffer a list of every
    # line: each would cost more than the file itself.
    handed = 0
    before = store.stats()["torrents"]
    for number, line in enumerate(io.BytesIO(data), 1):
        line = line.rstrip(b"\r\n")
        if not line:
            continue
        m = _LINE.fullmatch(line)
        if m is None or int(m.group(2)) >= _U32 or int(m.group(3)) >= _U32:
            report.bad += 1
            if len(report.first_bad) < 5:
                report.first_bad.append((number, line[:80]))
            continue
        info_hash = bytes.fromhex(m.group(1).decode())
        if not server.allows(info_hash):
            report.refused += 1
            continue
        handed += 1
        try:
            store.restore(info_hash, int(m.group(2)), int(m.group(3)))
        except StoreFullError:
            report.over_budget += 1
    report.loaded = store.stats()["torrents"] - before
    report.duplicates = handed - report.loaded - report.over_budget
    return report


def save(server, path):
    """Write the state atomically; returns the number of torrents saved."""
    blob, count = server.store.statedump()
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)
    return count


class StateKeeper:
    """-l and tracker.statefile: load at start, save periodically and at the
    end (docs/compatibility.md, "State dump" and "Additions")."""

    def __init__(self, server, settings):
        self.server = server
        self.load_path = settings.load_state
        self.path = settings.statefile
        self.interval = settings.statefile_interval

    def load(self):
        # -l first (the operator asked for it), then our own state file; a
        # hash already restored keeps its first line.
        for path, must_exist in ((self.load_path, True), (self.path, False)):
            if not path:
                continue
            try:
                report = load(self.server, path)
            except FileNotFoundError:
                if must_exist:
                    say("Warning: Can't open state file: %s." % path)
                continue
            except OSError as e:
                say("Warning: Can't read state file: %s (%s)." % (path, e.strerror))
                continue
            for number, text in report.first_bad:
                say("Warning: %s:%d: not a state line (<40 hex>:<minutes>:<downloaded>): %s"
                    % (path, number, text.decode("latin-1")))
            if report.bad or report.refused or report.duplicates or report.over_budget:
                say("Warning: " + report.describe(path))

    def save(self):
        if not self.path:
            return
        try:
            save(self.server, self.path)
        except OSError as e:
            say("Warning: cannot write state file %s: %s" % (self.path, e.strerror or e))
