"""The writers against the slow reference encoder, over random swarms."""

import struct

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402

from helpers.testcore import core  # noqa: E402
from helpers.reference import bdecode, bencode, compact_peers  # noqa: E402

Store, failure_body = core.Store, core.failure_body

pytestmark = pytest.mark.hypothesis

T0 = 1_700_000_020 // 60 * 60

v4 = st.binary(min_size=4, max_size=4)
v6 = st.binary(min_size=16, max_size=16).filter(lambda a: a[:12] != b"\0" * 10 + b"\xff\xff")
peer = st.tuples(st.one_of(v4, v6), st.integers(0, 65535), st.booleans())
hashes = st.binary(min_size=20, max_size=20)


def expected_order(peers, size):
    """Everything returned: leechers ascending, then seeders descending."""
    fam = sorted((a + struct.pack(">H", p), s) for a, p, s in peers if len(a) + 2 == size)
    return b"".join(k for k, s in fam if not s) + b"".join(k for k, s in reversed(fam) if s)


@given(h=hashes, swarm=st.lists(peer, max_size=60, unique_by=lambda x: (x[0], x[1])),
       downloads=st.integers(0, 10))
def test_full_announce_body_equals_reference(h, swarm, downloads):
    s = Store(seed=5, now=T0)
    if downloads:
        s.restore(h, T0 // 60, downloads)
    for addr, port, seeder in swarm:
        s.announce_http(h, addr, port, seeder=seeder)
    # At most 60 + 1 peers and numwant 200: the answer carries every peer.
    raw = s.announce_http(h, b"\x01\x02\x03\x04", 9, numwant=200)
    swarm = [x for x in swarm if (x[0], x[1]) != (b"\x01\x02\x03\x04", 9)] + [(b"\x01\x02\x03\x04", 9, False)]
    interval = bdecode(raw)[b"interval"]
    seeders = sum(1 for x in swarm if x[2])
    peers6 = expected_order(swarm, 18)
    # bencode() sorts keys; "peers" < "peers6", matching the writer's order
    expected = {"complete": seeders, "downloaded": downloads, "incomplete": len(swarm) - seeders,
                "interval": interval, "min interval": interval // 2, "peers": expected_order(swarm, 6)}
    if peers6:
        expected["peers6"] = peers6
    assert raw == bencode(expected)


@given(reason=st.binary(max_size=512))
def test_failure_body_equals_reference(reason):
    assert failure_body(reason) == bencode({"failure reason": reason})


@given(known=st.lists(hashes, max_size=10, unique=True), ask=st.lists(st.integers(0, 12), max_size=70))
def test_scrape_body_equals_reference(known, ask):
    s = Store(seed=5, now=T0)
    for i, h in enumerate(known):
        for n in range(i % 3 + 1):
            s.announce_http(h, bytes([10, 0, 0, n]), 1, seeder=n == 1, completed=n == 1)
    pool = known + [b"\xee" * 20, b"\x00" * 20, b"\xff" * 20]
    asked = [pool[i % len(pool)] for i in ask]
    raw = s.scrape_http(asked)
    entries = b""
    for h in asked[:64]:
        if h in known:
            n = known.index(h) % 3 + 1
            seeders = 1 if n >= 2 else 0
            entries += bencode(h) + bencode({"complete": seeders, "downloaded": seeders,
                                             "incomplete": n - seeders})
    assert raw == b"d5:filesd" + entries + b"ee"


@given(swarm=st.lists(peer, min_size=1, max_size=300, unique_by=lambda x: (x[0], x[1])),
       numwant=st.integers(0, 250))
def test_selection_is_a_subset_without_repeats(swarm, numwant):
    s = Store(seed=11, now=T0)
    h = b"\x42" * 20
    for addr, port, seeder in swarm:
        s.announce_http(h, addr, port, seeder=seeder)
    addr, port, seeder = swarm[0]
    d = bdecode(s.announce_http(h, addr, port, seeder=seeder, numwant=numwant))
    got4 = compact_peers(d[b"peers"], 6)
    got6 = compact_peers(d.get(b"peers6", b""), 18)
    everyone = {(a, p): sd for a, p, sd in swarm}
    got = got4 + got6
    assert len(got) == min(numwant, len(swarm))
    assert len(set(got)) == len(got)
    assert all(g in everyone for g in got)
    for part in (got4, got6):  # within a family: leechers, then seeders
        flags = [everyone[g] for g in part]
        assert flags == sorted(flags)
