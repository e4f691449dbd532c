"""Access-list files (SPEC.md §7.1): one info_hash per line as 40 hex digits.

A line counts when it starts with exactly 40 hex digits (either case)
followed by anything that is not a hex digit, or by the end of the file; the
rest of the line is a comment. Everything else is skipped and counted, so an
operator can see a broken list in the log without the tracker refusing to run.
"""

import binascii
import re

from opentracker_core import sort_hashes

_HASH_LINE = re.compile(rb"^([0-9A-Fa-f]{40})(?![0-9A-Fa-f])", re.M)


class HashList:
    """Sorted, distinct 20-byte hashes parsed from a list file."""

    __slots__ = ("blob", "count", "lines", "skipped")

    def __init__(self, blob, lines, skipped):
        self.blob = blob
        self.count = len(blob) // 20
        self.lines = lines
        self.skipped = skipped


def parse(data):
    """Parse the bytes of a list file into a HashList."""
    found = _HASH_LINE.findall(data)
    blob = sort_hashes(binascii.unhexlify(b"".join(found)))
    lines = sum(1 for line in data.splitlines() if line.strip())
    comments = sum(1 for line in data.splitlines() if line.lstrip().startswith(b"#"))
    return HashList(blob, lines, max(0, lines - comments - len(found)))


def load(path):
    """Read and parse a list file; OSError when it cannot be read."""
    with open(path, "rb") as f:
        return parse(f.read())
