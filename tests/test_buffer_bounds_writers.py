"""The fixed-buffer audit of issue 12 (helpers/bounds.py says how it proves
every bound and holds the sizes): the Store's writers and parsers called
directly: the announce body when both families are asked for, the failure
and stopped bodies, the state dump's lines, the access-list parser.
"""

import pytest

from helpers.testcore import core
from helpers.bounds import OT_ANNOUNCE_BODY_MAX, U32, h
from helpers.reference import bdecode

# ---------------------------------------------------------------- HTTP announce body (OT_ANNOUNCE_BODY_MAX)

@pytest.mark.parametrize("have4,have6", [(200, 200), (150, 50), (1, 300), (300, 1)])
def test_http_announce_mixed_families_never_pass_numwant(have4, have6):
    """announce_split never gives more than numwant (200) peers in all, so
    the body stays under 116 + 2 * 21 + 8 + 200 * 18 + 1."""
    store = core.Store(seed=3)
    x = h("mixed-%d-%d" % (have4, have6))
    for i in range(have4):
        store.announce_http(x, "10.8.%d.%d" % (i // 250, i % 250 + 1), 6881)
    for i in range(have6):
        store.announce_http(x, "2001:db8::5:%x" % (i + 1), 6881)
    body = store.announce_http(x, "10.9.0.1", 7000, numwant=200)
    d = bdecode(body)
    n4, n6 = len(d[b"peers"]) // 6, len(d.get(b"peers6", b"")) // 18
    assert n4 + n6 == 200 and n4 <= have4 + 1 and n6 <= have6
    assert len(body) < OT_ANNOUNCE_BODY_MAX


def test_failure_reason_writer():
    """write_failure writes n + 18 + digits(n) + 2 bytes; failure_body's
    buffer is 600 and takes reasons of up to 512 bytes (535 written)."""
    assert len(core.failure_body(b"r" * 512)) == 18 + 4 + 512 + 1 == 535 < 600
    assert core.failure_body(b"r" * 511) == b"d14:failure reason511:" + b"r" * 511 + b"e"
    with pytest.raises(ValueError):
        core.failure_body(b"r" * 513)


def test_stopped_body_fits_its_buffer():
    """write_http_stopped: at most 150 bytes (Store.stop_http's buffer 256)."""
    store = core.Store(seed=3)
    x = h("stopped")
    for i in range(3):
        store.announce_http(x, "10.10.0.%d" % (i + 1), 6881)
    body = store.stop_http(x, "10.10.0.1", 6881)
    d = bdecode(body)
    assert (d[b"complete"], d[b"incomplete"], d[b"peers"]) == (0, 2, b"")
    worst = len(body) + (10 - 1) + (10 - 1)     # both counters at 10 digits
    assert worst <= 150


# ---------------------------------------------------------------- buffers sized by the caller's arithmetic

def test_statedump_lines_at_their_widest():
    """_statedump_of allocates 64 bytes a torrent + 64; a line is at most
    40 + 1 + 10 + 1 + 10 + 1 = 63 bytes (base and downloaded are uint32)."""
    store = core.Store(seed=3)
    hashes = sorted(h("widest-line-%d" % i) for i in range(300))
    for x in hashes:
        store.restore(x, U32, U32)
    data, count = store.statedump()
    assert count == 300
    assert data == b"".join(b"%s:%d:%d\n" % (x.hex().upper().encode(), U32, U32) for x in hashes)
    assert len(data) == 300 * 63 <= 300 * 64 + 64


@pytest.mark.parametrize("lines", [1, 2, 3, 41, 100])
def test_access_list_parser_output_exactly_full(lines):
    """parse_hash_lines writes into (len // 41 + 1) * 20 bytes: k hash lines
    of 40 hex digits without a newline after the last are 41k - 1 bytes,
    so exactly k slots: the buffer is full to its last byte."""
    hashes = [h("list-%d" % i) for i in range(lines)]
    data = b"\n".join(x.hex().encode() for x in hashes)
    assert len(data) == 41 * lines - 1 and (len(data) // 41 + 1) == lines
    out, seen, skipped = core.parse_hash_lines(data)
    assert (out, seen, skipped) == (b"".join(sorted(hashes)), lines, 0)
