"""Access-list parsing and sorting in the core, against plain Python."""

import re

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402

from opentracker_core import parse_hash_lines, sort_hashes  # noqa: E402

LINE = re.compile(rb"^([0-9A-Fa-f]{40})(?![0-9A-Fa-f])")


def reference(data):
    found, lines, skipped = [], 0, 0
    for line in data.split(b"\n"):
        if not line.strip(b" \t\r\v\f"):
            continue
        lines += 1
        m = LINE.match(line)
        if m:
            found.append(bytes.fromhex(m.group(1).decode()))
        elif not line.lstrip(b" \t").startswith(b"#"):
            skipped += 1
    return b"".join(sorted(set(found))), lines, skipped


hex_hash = st.binary(min_size=20, max_size=20).map(lambda b: b.hex().encode())
piece = st.one_of(
    hex_hash,
    hex_hash.map(bytes.upper),
    hex_hash.map(lambda x: x + b" comment"),
    hex_hash.map(lambda x: x + b"0"),           # 41 hex digits: refused
    hex_hash.map(lambda x: b" " + x),           # leading space: refused
    hex_hash.map(lambda x: x[:39]),             # too short
    hex_hash.map(lambda x: b"#" + x),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
    st.just(b""), st.just(b"\r"), st.just(b" \t "),
)


@given(st.lists(piece, max_size=40), st.booleans())
def test_parse_matches_reference(lines, trailing_newline):
    data = b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    assert parse_hash_lines(data) == reference(data)


@given(st.lists(st.one_of(st.binary(min_size=20, max_size=20),
                          st.binary(min_size=18, max_size=18).map(lambda b: b"\0\0" + b)), max_size=300))
def test_sort_hashes_matches_sorted_set(hashes):
    hashes = hashes + hashes[: len(hashes) // 3]
    assert sort_hashes(b"".join(hashes)) == b"".join(sorted(set(hashes)))


def test_crowded_prefix_and_empty():
    many = [b"\0\0" + bytes([i % 256, i // 256]) + bytes(16) for i in range(5000)]
    assert sort_hashes(b"".join(reversed(many))) == b"".join(sorted(set(many)))
    assert sort_hashes(b"") == b""
    with pytest.raises(ValueError):
        sort_hashes(b"x" * 21)
