"""Fuzz the access-list reader in C against a model written from the
original's list-file rules (docs/compatibility.md, access lists), and the
hash sorter against Python's sort.

Input: a selector byte, then
  bit 0 clear: the bytes of a list file. parse_hash_lines (and the shell's
               accesslist.parse over it) must give exactly the model's
               sorted distinct hashes, non-blank line count and skipped
               count; the hashes, loaded as a white or black list, must
               decide Server.allows as the list says.
  bit 0 set:   a blob for sort_hashes: sorted(set(20-byte slices)) when
               its length is a multiple of 20, ValueError otherwise.
The core gives back every block it took.

    python tests/fuzz/fuzz_accesslist.py -max_total_time=600
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

with common.instrumented(__name__):
    from opentracker import accesslist

core = common.core
HEX = frozenset(b"0123456789abcdefABCDEF")
BLANK = frozenset(b" \t\r\v\f")


def model(data):
    """(sorted distinct hashes, non-blank lines, skipped lines): a line
    counts when it starts with 40 hex digits not followed by a 41st; '#'
    lines (after spaces and tabs) are comments; the rest is skipped."""
    hashes, lines, skipped = set(), 0, 0
    for line in data.split(b"\n"):
        if all(c in BLANK for c in line):
            continue
        lines += 1
        head = line[:40]
        if len(head) == 40 and all(c in HEX for c in head) and (len(line) == 40 or line[40] not in HEX):
            hashes.add(bytes.fromhex(head.decode()))
        elif not line.lstrip(b" \t").startswith(b"#"):
            skipped += 1
    return sorted(hashes), lines, skipped


def one_input(data):
    if not data:
        return
    body = data[1:]
    with common.no_leaks():
        if data[0] & 1:
            check_sort(body)
        else:
            check_list(body, data[0])


def check_sort(blob):
    if len(blob) % 20:
        try:
            core.sort_hashes(blob)
        except ValueError:
            return
        raise AssertionError("sort_hashes took %d bytes" % len(blob))
    expected = b"".join(sorted({blob[i:i + 20] for i in range(0, len(blob), 20)}))
    assert core.sort_hashes(blob) == expected


def check_list(data, selector):
    hashes, lines, skipped = model(data)
    blob, got_lines, got_skipped = core.parse_hash_lines(data)
    assert (got_lines, got_skipped) == (lines, skipped), ((got_lines, got_skipped), (lines, skipped))
    assert blob == b"".join(hashes), "hashes differ from the model's"
    parsed = accesslist.parse(data)
    assert (parsed.blob, parsed.count, parsed.lines, parsed.skipped) == (blob, len(hashes), lines, skipped)
    srv = core.Server(seed=1)
    mode = "white" if selector & 2 else "black"
    srv.set_access(mode, blob)
    listed = set(hashes)
    probes = hashes[:8] + [bytes(20), b"\xff" * 20] + [h[:19] + bytes([h[19] ^ 1]) for h in hashes[:4]]
    for h in probes:
        assert srv.allows(h) == ((h in listed) == (mode == "white")), (mode, h.hex())
    del srv


# ---------------------------------------------------------------- grammar (hypothesis)

def inputs():
    """Hypothesis strategy: list files of hash lines with comments, blank
    lines, CRLF, junk and near-misses (39 or 41 hex digits); raw bytes;
    sort_hashes blobs with repeats; mutated seed files."""
    from hypothesis import strategies as st

    hexes = st.binary(min_size=20, max_size=20).map(lambda b: b.hex())
    hex_line = st.builds(lambda h, upper, tail: (h.upper() if upper else h) + tail, hexes, st.booleans(),
                         st.sampled_from(["", "", " # name", "\r", "\tcomment", "g", "0", ":1:2", " "]))
    line = st.one_of(hex_line, hex_line, hex_line,
                     st.sampled_from(["", "   ", "\t\r", "# comment", "  # indented comment", "#", "\v\f",
                                      "not a hash", "0" * 39, "f" * 41, "0x" + "1" * 40, " " + "a" * 40]),
                     hexes.map(lambda h: h[:39]), st.text(max_size=50))
    listing = st.builds(lambda lines, final: "\n".join(lines).encode("utf-8", "surrogateescape") + final,
                        st.lists(line, max_size=30), st.sampled_from([b"", b"\n", b"\r\n"]))
    blob = st.lists(st.binary(min_size=20, max_size=20), max_size=40).flatmap(
        lambda hs: st.permutations(hs + hs[: len(hs) // 3])).map(b"".join)
    return st.one_of(st.builds(lambda s, b: bytes([s & 0xFE]) + b, st.integers(0, 255), listing),
                     st.builds(lambda s, b: bytes([s & 0xFE]) + b, st.integers(0, 255), listing),
                     st.builds(lambda b, cut: b"\1" + b[:len(b) - cut], blob, st.sampled_from([0, 0, 0, 1, 7])),
                     st.binary(max_size=200), common.mutated(common.seeds("accesslist")))


if __name__ == "__main__":
    common.main(one_input, "accesslist")
