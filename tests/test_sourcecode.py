"""Checks over the core's source that the compiler cannot make: every byte
string written with an explicit length must have exactly that length."""

import ast
import pathlib
import re

CORE = pathlib.Path(__file__).resolve().parent.parent / "src" / "opentracker_core"
# put_raw(p, b"...", 12) / memcpy(out + 8, b"...", 25) / _herr_line(p, b"...", x) style calls
CALL = re.compile(r'(put_raw|memcpy|_mrtg|_rates|_top_section|_is|http_failure|write_failure|_ieq|find_header)'
                  r'\((?:[^()"]|\([^()]*\))*?(b"(?:[^"\\]|\\.)*")\s*,\s*(\d+)\s*[,)]')


def test_literal_lengths_match():
    checked = 0
    for path in sorted(CORE.glob("*.pyx")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for m in CALL.finditer(line):
                literal = ast.literal_eval(m.group(2))
                stated = int(m.group(3))
                assert len(literal) == stated, "%s:%d: %r is %d bytes, not %d" % (
                    path.name, lineno, literal, len(literal), stated)
                checked += 1
    assert checked > 50
