"""Peer selection in a swarm larger than numwant (docs/compatibility.md, the swarm store): one peer
from each of numwant evenly sized slices of the peer list, taken as a circle
from a random start (a step of 1 to one slice's width from one pick to the
next). What a user notices: the peers handed out are spread
over the whole swarm and differ from one announce to the next, so a big
swarm does not split into cliques that only ever see the same neighbours.

The other tests check that a selection is a subset without repeats, in
leechers-first order; a selection of numwant neighbouring peers passes all
of that (tests/mutants: selection-not-random).
"""

from helpers.testcore import core
from helpers.reference import bdecode, compact_peers

Store = core.Store

T0 = 1_700_000_020 // 60 * 60
SWARM = 1000
ADDRESS = bytes([10, 0, 0, 1])


def selected_positions(store, info_hash, numwant, port):
    """Positions in the peer list (ordered by port here) of the peers one
    announce hands out."""
    body = bdecode(store.announce_http(info_hash, ADDRESS, port, numwant=numwant))
    peers = compact_peers(body[b"peers"], 6)
    assert len(peers) == len(set(peers)) == numwant
    assert all(addr == ADDRESS for addr, _ in peers)
    return sorted(p - 1 for _, p in peers)


def largest_circular_gap(positions, size):
    gaps = [b - a for a, b in zip(positions, positions[1:])]
    return max(gaps + [positions[0] + size - positions[-1]])


def test_selection_spreads_over_the_whole_swarm_and_changes():
    store = Store(seed=3, now=T0)
    h = b"\x5e" * 20
    for port in range(1, SWARM + 1):
        store.announce_http(h, ADDRESS, port, numwant=0)
    seen = []
    for i, numwant in enumerate([50, 50, 100, 200, 199]):
        positions = selected_positions(store, h, numwant, port=1 + i)
        # Each step moves 1 to SWARM / numwant places on, half that on
        # average, so the picks span about half the circle: far more than
        # the quarter asked here, and a run of numwant neighbours spans
        # numwant places.
        assert SWARM - largest_circular_gap(positions, SWARM) >= SWARM // 4, (numwant, positions)
        seen.append(positions)
    assert seen[0] != seen[1]   # the start and the steps are random


def test_every_peer_is_handed_out_sooner_or_later():
    """Forty announces of numwant 50 in a swarm of 1000: every peer is
    somebody's neighbour at least once (a fixed pattern would leave some
    out for ever)."""
    store = Store(seed=7, now=T0)
    h = b"\x5f" * 20
    for port in range(1, SWARM + 1):
        store.announce_http(h, ADDRESS, port, numwant=0)
    handed_out = set()
    for i in range(200):
        handed_out.update(selected_positions(store, h, 50, port=1 + i % SWARM))
        if len(handed_out) == SWARM:
            break
    assert len(handed_out) == SWARM
