"""Access lists (docs/compatibility.md, "Access lists"): the whitelist or
blacklist file, its SIGHUP reloads and its fifos.

A file holds one info_hash per line as 40 hex digits. A line counts when it
starts with exactly 40 hex digits (either case) followed by anything that is
not a hex digit, or by the end of the file; the rest of the line is a comment.
Everything else is skipped and counted, so an operator can see a broken list
in the log without the tracker refusing to run.
"""

import os
import stat

from opentracker_core import parse_hash_lines, sort_hashes

from .errors import StartupError, say

_HEX = frozenset(b"0123456789abcdefABCDEF")


def line_hash(line):
    """The 20 bytes a fifo line (without its newline) names, or None: the
    rule of a list file's lines, in Python since a fifo carries a few lines
    at a time (and without the re module: docs/memory.md, "The shell at
    rest")."""
    if len(line) < 40 or (len(line) > 40 and line[40] in _HEX):
        return None
    head = line[:40]
    if not all(c in _HEX for c in head):
        return None
    return bytes.fromhex(head.decode("ascii"))


class HashList:
    """Sorted, distinct 20-byte hashes parsed from a list file."""

    __slots__ = ("blob", "count", "lines", "skipped")

    def __init__(self, blob, lines, skipped):
        self.blob = blob
        self.count = len(blob) // 20
        self.lines = lines
        self.skipped = skipped


def parse(data):
    """Parse the bytes of a list file into a HashList (in C: a million lines
    take well under a second)."""
    return HashList(*parse_hash_lines(data))


def load(path):
    """Read and parse a list file; OSError when it cannot be read."""
    with open(path, "rb") as f:
        return parse(f.read())


class DynamicLists:
    """access.fifo_add / access.fifo_delete (current upstream; docs/compatibility.md,
    "Reload and access fifos"): hashes written to the fifos join or leave the list
    until the next reload.
    A hash added is taken out of the deleted set and the other way round."""

    def __init__(self, server):
        self.server = server
        self.added = set()
        self.deleted = set()

    def reset(self):
        self.added.clear()
        self.deleted.clear()

    def add(self, hashes):
        for h in hashes:
            self.deleted.discard(h)
            self.added.add(h)
        self._push()

    def delete(self, hashes):
        for h in hashes:
            self.added.discard(h)
            self.deleted.add(h)
        self._push()

    def _push(self):
        self.server.set_dynamic(sort_hashes(b"".join(self.added)), sort_hashes(b"".join(self.deleted)))


class Fifo:
    """A named pipe that an operator writes hash lines into.

    Created (mode 0755, as the original) when missing; anything else at the
    path is refused. Opened read-write so that the last writer closing it
    does not leave it at end-of-file for ever."""

    MAX_LINE = 4096

    def __init__(self, path, on_hashes):
        self.path = path
        self.on_hashes = on_hashes
        self.fd = None
        self._partial = b""

    def open(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            os.mkfifo(self.path, 0o755)
        else:
            if not stat.S_ISFIFO(st.st_mode):
                raise OSError("%s exists and is not a fifo" % self.path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        return self.fd

    def readable(self):
        chunks = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
        data = self._partial + b"".join(chunks)
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > self.MAX_LINE:
            self._partial = b""  # a runaway line without a newline is dropped
        hashes = [h for h in map(line_hash, lines) if h is not None]
        if hashes:
            self.on_hashes(hashes)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class AccessControl:
    """The whitelist or blacklist file, its reloads and its fifos."""

    def __init__(self, server, settings):
        self.server = server
        self.path = settings.whitelist or settings.blacklist
        self.mode = "white" if settings.whitelist else "black" if settings.blacklist else "open"
        self.dynamic = DynamicLists(server)
        self.fifos = []
        if settings.fifo_add:
            self.fifos.append(Fifo(settings.fifo_add, self.dynamic.add))
        if settings.fifo_delete:
            self.fifos.append(Fifo(settings.fifo_delete, self.dynamic.delete))

    def open_fifos(self):
        for fifo in self.fifos:
            try:
                fd = fifo.open()
            except OSError as e:
                raise StartupError("cannot open access fifo %s: %s" % (fifo.path, e.strerror or e)) from None
            self.server.watch_fd(fd, fifo.readable)

    def close_fifos(self):
        for fifo in self.fifos:
            if fifo.fd is not None:
                self.server.unwatch_fd(fifo.fd)
                fifo.close()

    def load(self, first=False):
        """Read the list file and swap it in whole. On a reload that cannot
        read the file, the list in force stays."""
        if self.mode == "open":
            return
        try:
            hashes = load(self.path)
        except OSError as e:
            say("Warning: Can't open accesslist file: %s (but will try to create it later, if necessary and "
                "possible). (%s)" % (self.path, e.strerror))
            say("PWD: %s" % os.getcwd())
            if first:
                # An unreadable whitelist refuses everything; a blacklist nothing.
                self.server.set_access(self.mode, b"")
            return
        self.server.set_access(self.mode, hashes.blob)
        self.dynamic.reset()
        if hashes.skipped:
            say("Warning: %s: %d line(s) skipped: not 40 hex digits at the start of the line"
                % (self.path, hashes.skipped))
