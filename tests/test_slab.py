"""Slabs for small peer lists (docs/memory.md, "Slabs"): a list of up to
16 IPv4 / 8 IPv6 records takes a slot of exactly its class's size in a
4 KiB page of that class; the budget counts whole pages. Pinned at a page's
boundary (exactly full, one slot short, one over), at the classes' edge
(the largest slab class and the heap block past it), and on the way down:
a swarm that shrinks gives its pages back, to the kernel and the budget."""

import gc
import hashlib
import os
import struct

import pytest

from helpers.testcore import core

T0 = 1_700_000_020 // 60 * 60
PAGE = core.SLAB_PAGE
CLASSES = core.slab_classes()


def ip4(n):
    return struct.pack(">I", 0x0A000000 + n)


def ip6(n):
    return b"\x20\x01\x0d\xb8" + b"\x00" * 8 + struct.pack(">I", n)


def torrent(i):
    return hashlib.sha1(b"slab %d" % i).digest()


def klass(family, records):
    """The index and facts of the smallest class holding `records`."""
    for k, (f, cap, slot, per_page) in enumerate(CLASSES):
        if f == family and cap >= records:
            return k, slot, per_page
    raise ValueError(records)


def mem_peers(store):
    return core.store_audit(store)["counted"]["mem_peers"]


def audited(store):
    a = core.store_audit(store)
    assert a["walked"] == a["counted"] and a["disorder"] == 0, a
    return a


def fill(store, torrents, records, family=0, first=0):
    addr = ip6 if family else ip4
    for i in range(first, first + torrents):
        for n in range(records):
            store.announce_http(torrent(i), addr(n), 6881, numwant=0)


def test_the_classes_fit_a_page_and_stay_aligned():
    assert PAGE == 4096
    for family, cap, slot, per_page in CLASSES:
        assert slot == 12 + cap * (20 if family else 8) and slot % 4 == 0
        assert core.SLAB_HEAD + per_page * slot <= PAGE < core.SLAB_HEAD + (per_page + 1) * slot
    assert [c[1] for c in CLASSES if c[0] == 0] == [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16]
    assert [c[1] for c in CLASSES if c[0] == 1] == [1, 2, 3, 4, 6, 8]


@pytest.mark.parametrize("family,records", [(0, 5), (0, 16), (1, 3), (1, 8)])
@pytest.mark.parametrize("short", [1, 0, -1], ids=["one-short", "exactly-full", "one-over"])
def test_a_page_exactly_full_one_short_one_over(family, records, short):
    k, slot, per_page = klass(family, records)
    assert CLASSES[k][1] == records
    store = core.Store(seed=1, now=T0)
    lists = per_page - short
    fill(store, lists, records, family)
    # The classes each swarm grew through keep a spare page until the clean.
    store.clean()
    a = audited(store)
    state = core.slab_state(store)
    assert state["live"][k] == lists and state["live_total"] == lists and state["spares"] == 0
    pages = 1 if lists <= per_page else 2
    assert state["pages"] == pages
    assert a["counted"]["mem_peers"] == pages * PAGE
    # Every slot holds its own swarm, the last slot of a full page included.
    addr = ip6 if family else ip4
    for i in (0, lists - 1):
        assert [p[0] for p in store.peers(torrent(i))] == [addr(n) for n in range(records)]


def test_the_largest_class_and_the_heap_block_past_it():
    store = core.Store(seed=1, now=T0)
    k, slot, per_page = klass(0, 16)
    fill(store, 1, 16)
    store.clean()
    assert core.slab_state(store)["live"][k] == 1
    held16 = audited(store)["counted"]
    # One heap block: the bucket's torrent vector; the list is in the page.
    assert held16["mem_peers"] == PAGE and held16["mem_blocks"] == 1
    store.announce_http(torrent(0), ip4(16), 6881, numwant=0)        # the 17th: a heap block
    store.clean()
    a = audited(store)["counted"]
    assert core.slab_state(store)["pages"] == 0
    assert a["mem_blocks"] == 2 and a["mem_peers"] == 12 + 21 * 8  # grown by a quarter, 16 -> 21
    store.stop_http(torrent(0), ip4(16), 6881)                       # 16: still the heap block
    assert audited(store)["counted"]["mem_blocks"] == 2
    store.stop_http(torrent(0), ip4(15), 6881)                       # 15: back into the slab
    a = audited(store)["counted"]
    assert a["mem_blocks"] == 1 and core.slab_state(store)["live"][k] == 1
    assert [p[0] for p in store.peers(torrent(0))] == [ip4(n) for n in range(15)]


def test_a_swarm_grows_exactly_and_shrinks_with_two_to_spare():
    store = core.Store(seed=1, now=T0)
    for n in range(8):
        store.announce_http(torrent(0), ip4(n), 6881, numwant=0)
        assert core.slab_state(store)["live"] == [1 if c == n else 0 for c in range(len(CLASSES))]
    store.stop_http(torrent(0), ip4(7), 6881)        # 7 in a slot of 8: kept
    assert core.slab_state(store)["live"][7] == 1
    store.stop_http(torrent(0), ip4(6), 6881)        # 6 in a slot of 8: moved down
    assert core.slab_state(store)["live"][5] == 1 and core.slab_state(store)["live_total"] == 1
    audited(store)


def test_swarms_that_shrink_give_their_pages_back():
    # earlier tests' cyclic garbage (a Hypothesis example's stores among it) would be freed
    # inside the count if the collector ran there: collected first, and again at the end
    gc.collect()
    blocks_before = core.allocation_counts()
    store = core.Store(seed=1, now=T0)
    empty = core.store_audit(store)["held"]
    fill(store, 2000, 8)
    store.clean()
    k8, _, per_page = klass(0, 8)
    full = audited(store)
    assert core.slab_state(store)["pages"] == -(-2000 // per_page)
    # Half the swarms lose six of eight peers: they move to the class of two,
    # and the pages of eight they leave go back.
    for i in range(1000):
        for n in range(2, 8):
            store.stop_http(torrent(i), ip4(n), 6881)
    store.clean()
    k2, _, per_page2 = klass(0, 2)
    state = core.slab_state(store)
    assert state["live"][k8] == 1000 and state["live"][k2] == 1000
    assert state["pages"] <= -(-1000 // per_page) + 1 + -(-1000 // per_page2)
    half = audited(store)
    assert half["counted"]["mem_peers"] == state["pages"] * PAGE < full["counted"]["mem_peers"] * 0.75
    # All of them stop: no page is left, and the store holds what an empty one
    # does once the peerless torrents age out.
    for i in range(2000):
        for n in range(2 if i < 1000 else 8):
            store.stop_http(torrent(i), ip4(n), 6881)
    assert core.slab_state(store) == dict(pages=0, spares=0, live=[0] * len(CLASSES), live_total=0)
    store.now = T0 + 2 * 86400
    store.clean()
    a = audited(store)
    assert a["counted"]["mem_peers"] == 0 and a["held"] == empty
    del store, a, full, half
    gc.collect()
    allocated, freed = core.allocation_counts()
    assert allocated - blocks_before[0] == freed - blocks_before[1]


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@pytest.mark.skipif(bool(os.environ.get("OT_SANITIZED")),
                    reason="a sanitizer's shadow memory and quarantine move the resident size by design")
def test_the_pages_leave_the_process():
    """What a user sees: the resident memory falls when the swarms go."""
    store = core.Store(seed=1, now=T0)
    fill(store, 20000, 8)
    store.clean()
    held = mem_peers(store)
    assert held > 1_500_000
    before = _rss()
    for i in range(20000):
        for n in range(8):
            store.stop_http(torrent(i), ip4(n), 6881)
    assert mem_peers(store) == 0
    assert before - _rss() >= held * 0.9


def test_a_new_page_waits_for_the_budget_a_free_slot_does_not():
    store = core.Store(seed=1, now=T0)
    k, slot, per_page = klass(0, 5)
    fill(store, per_page - 1, 5)                      # one slot of five left in the page
    fill(store, 1, 4, first=per_page - 1)             # and a swarm of four ready to move up
    store.clean()
    store.memory_limit = core.store_audit(store)["held"]
    pages = core.slab_state(store)["pages"]
    # The fifth peer takes the page's last slot: no new page, so it is kept
    # (and the slot of four it leaves is given back).
    store.announce_http(torrent(per_page - 1), ip4(4), 6881, numwant=0)
    assert store.last_outcome["stored"] is True
    assert core.slab_state(store)["live"][k] == per_page
    assert core.store_audit(store)["held"] <= store.memory_limit
    # A sixth peer in any of them would need a new page: answered, not kept.
    store.announce_http(torrent(0), ip4(5), 6881, numwant=0)
    assert store.last_outcome["stored"] is False
    assert len(store.peers(torrent(0))) == 5
    assert core.slab_state(store)["pages"] <= pages
    assert core.store_audit(store)["held"] <= store.memory_limit
    audited(store)
