"""The swarm store's rules (docs/compatibility.md, the swarm store), through
the core's Python API."""

import hashlib
import struct

import pytest

from helpers.testcore import core
from helpers.reference import bdecode, bdecode_ordered, compact_peers, udp_announce_reply

Store, SIZEOF_TORRENT = core.Store, core.SIZEOF_TORRENT

T0 = 1_700_000_020 // 60 * 60  # a whole minute
H = hashlib.sha1(b"t0").digest()
MINUTE = 60


def body(raw):
    return bdecode(raw)


def ip4(n):
    return struct.pack(">I", 0x7F000000 + n)


@pytest.fixture
def store():
    return Store(seed=7, now=T0)


def test_first_announce_creates_torrent_and_returns_self(store):
    reply = body(store.announce_http(H, "127.0.0.1", 6881))
    assert reply[b"complete"] == 0
    assert reply[b"downloaded"] == 0
    assert reply[b"incomplete"] == 1
    assert reply[b"peers"] == bytes.fromhex("7f000001") + struct.pack(">H", 6881)
    assert store.stats()["torrents"] == 1


def test_body_keys_in_spec_order(store):
    pairs = bdecode_ordered(store.announce_http(H, "127.0.0.1", 1))
    assert [k for k, _ in pairs] == [b"complete", b"downloaded", b"incomplete", b"interval",
                                     b"min interval", b"peers"]


def test_interval_range_and_min_interval_half(store):
    seen = set()
    for i in range(300):
        reply = body(store.announce_http(H, "127.0.0.1", 1))
        assert 1620 <= reply[b"interval"] <= 1979
        assert reply[b"min interval"] == reply[b"interval"] // 2
        seen.add(reply[b"interval"])
    assert len(seen) > 100  # drawn per reply, not fixed


def test_numwant_zero_counts_but_returns_no_peers(store):
    raw = store.announce_http(H, "127.0.0.1", 1, numwant=0)
    assert raw.endswith(b"5:peers0:e")
    assert body(raw)[b"incomplete"] == 1


def test_seeder_and_back_to_leecher(store):
    assert body(store.announce_http(H, "127.0.0.1", 1, seeder=True))[b"complete"] == 1
    reply = body(store.announce_http(H, "127.0.0.1", 1, seeder=False))
    assert (reply[b"complete"], reply[b"incomplete"]) == (0, 1)


def test_completed_counts_once_per_stay(store):
    assert body(store.announce_http(H, "127.0.0.1", 1, seeder=True, completed=True))[b"downloaded"] == 1
    assert body(store.announce_http(H, "127.0.0.1", 1, seeder=True, completed=True))[b"downloaded"] == 1
    # the COMPLETED flag is sticky, so a later plain announce keeps it
    store.announce_http(H, "127.0.0.1", 1, seeder=True)
    assert body(store.announce_http(H, "127.0.0.1", 1, seeder=True, completed=True))[b"downloaded"] == 1
    store.stop_http(H, "127.0.0.1", 1)
    assert body(store.announce_http(H, "127.0.0.1", 1, seeder=True, completed=True))[b"downloaded"] == 2


def test_completed_from_leecher_is_ignored(store):
    assert body(store.announce_http(H, "127.0.0.1", 1, seeder=False, completed=True))[b"downloaded"] == 0
    # and is not remembered: the real completion still counts
    assert body(store.announce_http(H, "127.0.0.1", 1, seeder=True, completed=True))[b"downloaded"] == 1


def test_completed_on_existing_leecher_counts(store):
    store.announce_http(H, "127.0.0.1", 1)
    assert store.last_outcome["new_peer"]
    reply = body(store.announce_http(H, "127.0.0.1", 1, seeder=True, completed=True))
    assert reply[b"downloaded"] == 1 and store.last_outcome["completed"]
    assert reply[b"complete"] == 1 and reply[b"incomplete"] == 0


def test_stopped_body_and_counts_after_removal(store):
    store.announce_http(H, "127.0.0.1", 1, seeder=True)
    store.announce_http(H, "127.0.0.2", 1)
    raw = store.stop_http(H, "127.0.0.1", 1)
    pairs = bdecode_ordered(raw)
    assert [k for k, _ in pairs] == [b"complete", b"incomplete", b"interval", b"min interval", b"peers"]
    d = dict(pairs)
    assert (d[b"complete"], d[b"incomplete"], d[b"peers"]) == (0, 1, b"")
    assert d[b"min interval"] == d[b"interval"] // 2
    assert raw.endswith(b"5:peers0:e")


def test_stop_of_unknown_torrent_creates_nothing(store):
    d = body(store.stop_http(H, "127.0.0.1", 1))
    assert (d[b"complete"], d[b"incomplete"]) == (0, 0)
    assert store.stats()["torrents"] == 0
    assert store.scrape_http([H]) == b"d5:filesdee"


def test_stop_of_unknown_peer_keeps_counts(store):
    store.announce_http(H, "127.0.0.1", 1)
    d = body(store.stop_http(H, "127.0.0.9", 1))
    assert (d[b"complete"], d[b"incomplete"]) == (0, 1)


def test_torrent_stays_after_last_peer_stops(store):
    store.announce_http(H, "127.0.0.1", 1)
    store.stop_http(H, "127.0.0.1", 1)
    assert store.scrape_http([H]) == (b"d5:filesd20:" + H +
                                      b"d8:completei0e10:downloadedi0e10:incompletei0eeee")


def test_leechers_first_then_seeders_descending(store):
    for n in range(1, 9):
        store.announce_http(H, ip4(n), 1000, seeder=n % 2 == 0)
    d = body(store.announce_http(H, ip4(9), 1000, numwant=200))
    peers = compact_peers(d[b"peers"], 6)
    leechers = [p for p in peers if p[0][-1] % 2 == 1]
    seeders = [p for p in peers if p[0][-1] % 2 == 0]
    assert peers == leechers + seeders
    assert leechers == sorted(leechers)
    assert seeders == sorted(seeders, reverse=True)


def test_selection_is_distinct_and_evenly_spread(store):
    for n in range(300):
        store.announce_http(H, ip4(n), 2000)
    for _ in range(50):
        d = body(store.announce_http(H, ip4(0), 2000, numwant=20))
        peers = compact_peers(d[b"peers"], 6)
        assert len(peers) == 20 and len(set(peers)) == 20
        # in list order from a random rotation, each step at most one slice
        # (300 / 20 = 15) further, as the original's fixed-point walk does
        order = [struct.unpack(">I", a)[0] - 0x7F000000 for a, _ in peers]
        rot = order.index(min(order))
        rotated = order[rot:] + order[:rot]
        assert rotated == sorted(rotated)
        steps = [(b - a) % 300 for a, b in zip(order, order[1:])]
        assert all(1 <= s <= 15 for s in steps)


@pytest.mark.parametrize("numwant,expected", [(0, 0), (-5, 50), (-1, 50), (20, 20), (50, 50),
                                               (200, 200), (201, 200), (1000, 200)])
def test_numwant_caps(store, numwant, expected):
    for n in range(250):
        store.announce_http(H, ip4(n), 3000)
    d = body(store.announce_http(H, ip4(0), 3000, numwant=numwant))
    assert len(compact_peers(d[b"peers"], 6)) == expected


def test_numwant_more_than_available_returns_all(store):
    for n in range(5):
        store.announce_http(H, ip4(n), 1)
    d = body(store.announce_http(H, ip4(0), 1, numwant=100))
    assert len(compact_peers(d[b"peers"], 6)) == 5


def test_same_ip_two_ports_are_two_peers_same_ip_port_is_one(store):
    store.announce_http(H, "127.0.0.1", 1)
    store.announce_http(H, "127.0.0.1", 2)
    d = body(store.announce_http(H, "127.0.0.1", 2))
    assert d[b"incomplete"] == 2


def test_port_bytes_are_network_order(store):
    d = body(store.announce_http(H, "10.1.2.3", 0xABCD))
    assert d[b"peers"] == bytes([10, 1, 2, 3, 0xAB, 0xCD])


# ---------------------------------------------------------------- IPv6 and dual stack

def test_ipv6_peer_in_peers6_and_v4_reply_unchanged(store):
    raw = store.announce_http(H, "2001:db8::1", 6881)
    d = bdecode_ordered(raw)
    keys = [k for k, _ in d]
    assert keys == [b"complete", b"downloaded", b"incomplete", b"interval", b"min interval",
                    b"peers", b"peers6"]
    assert dict(d)[b"peers"] == b""
    assert dict(d)[b"peers6"] == bytes.fromhex("20010db8000000000000000000000001") + struct.pack(">H", 6881)


def test_v4_mapped_address_is_ipv4(store):
    store.announce_http(H, "::ffff:127.0.0.5", 7)
    assert store.peers(H) == [(bytes([127, 0, 0, 5]), 7, 0, 0)]
    assert store.stats()["peers4"] == 1


def test_counts_sum_both_families(store):
    store.announce_http(H, "127.0.0.1", 1, seeder=True)
    store.announce_http(H, "::2", 1)
    d = body(store.announce_http(H, "::3", 1, seeder=True))
    assert (d[b"complete"], d[b"incomplete"]) == (2, 1)
    assert len(d[b"peers"]) == 6 and len(d[b"peers6"]) == 36


def test_dual_stack_split_of_numwant(store):
    for n in range(100):
        store.announce_http(H, ip4(n), 1)
    for n in range(10):
        store.announce_http(H, "2001:db8::%x" % (n + 1), 1)
    d = body(store.announce_http(H, ip4(0), 1, numwant=40))
    # a quarter each (10 and 10: all v6), the remaining 20 in proportion to
    # what is left (90 v4, 0 v6)
    assert len(d[b"peers"]) // 6 == 30
    assert len(d[b"peers6"]) // 18 == 10


def test_stopped_v6_peer(store):
    store.announce_http(H, "::1", 1)
    d = body(store.stop_http(H, "::1", 1))
    assert (d[b"complete"], d[b"incomplete"]) == (0, 0)
    assert store.peers(H) == []


# ---------------------------------------------------------------- hashes and order

@pytest.mark.parametrize("h", [b"\x00" * 20, b"\xff" * 20, bytes(range(20)), bytes(range(255, 235, -1)),
                               b"\x00" * 19 + b"\xff", b"\xff" + b"\x00" * 19])
def test_any_hash_bytes(store, h):
    d = body(store.announce_http(h, "127.0.0.1", 1))
    assert d[b"incomplete"] == 1
    assert bdecode(store.scrape_http([h]))[b"files"] == {
        h: {b"complete": 0, b"downloaded": 0, b"incomplete": 1}}


def test_torrents_listed_in_ascending_hash_order(store):
    hashes = [hashlib.sha1(b"%d" % i).digest() for i in range(2000)]
    hashes += [b"\x00" * 20, b"\xff" * 20, b"\x00" * 19 + b"\x01"]
    for h in hashes:
        store.announce_http(h, "127.0.0.1", 1)
    assert [t[0] for t in store.torrents()] == sorted(hashes)


# ---------------------------------------------------------------- scrape

def test_scrape_request_order_duplicates_unknown(store):
    a, b = hashlib.sha1(b"a").digest(), hashlib.sha1(b"b").digest()
    store.announce_http(a, "127.0.0.1", 1, seeder=True)
    store.announce_http(b, "127.0.0.1", 1)
    raw = store.scrape_http([b, b"\x01" * 20, a, b])
    files = bdecode_ordered(raw)[0][1]
    assert [k for k, _ in files] == [b, a, b]


def test_scrape_caps_at_64(store):
    store.announce_http(H, "127.0.0.1", 1)
    files = bdecode_ordered(store.scrape_http([H] * 70))[0][1]
    assert len(files) == 64


def test_udp_announce_layout(store):
    store.announce_http(H, "127.0.0.2", 1, seeder=True)
    raw = store.announce_udp(H, "127.0.0.1", 6881, numwant=200, transaction_id=0xDEADBEEF)
    action, tid, interval, leechers, seeders, peers = udp_announce_reply(raw)
    assert (action, tid, leechers, seeders) == (1, 0xDEADBEEF, 1, 1)
    assert 1620 <= interval <= 1979
    assert len(raw) == 20 + 12


def test_udp_numwant_zero_and_caps(store):
    for n in range(250):
        store.announce_http(H, ip4(n), 1)
    assert len(store.announce_udp(H, ip4(0), 1, numwant=0)) == 20
    assert len(store.announce_udp(H, ip4(0), 1, numwant=0xFFFFFFFF)) == 20 + 6 * 200
    assert len(store.announce_udp(H, ip4(0), 1, numwant=1000)) == 20 + 6 * 200
    for n in range(100):
        store.announce_http(H, "2001:db8::%x" % (n + 1), 1)
    raw = store.announce_udp(H, "2001:db8::1", 1, numwant=1000)
    assert len(raw) == 20 + 18 * 66  # IPv6 cap, own family only


def test_udp_stop_and_completed(store):
    store.announce_udp(H, "127.0.0.1", 1, event=1, seeder=True)
    assert store.torrents()[0][3] == 1
    raw = store.announce_udp(H, "127.0.0.1", 1, event=3, transaction_id=5)
    assert len(raw) == 20
    assert udp_announce_reply(raw)[3:5] == (0, 0)


def test_udp_scrape(store):
    store.announce_http(H, "127.0.0.1", 1, seeder=True, completed=True)
    store.announce_http(H, "127.0.0.2", 1)
    raw = store.scrape_udp([H, b"\x02" * 20], transaction_id=9)
    assert raw == struct.pack(">IIIIIIII", 2, 9, 1, 1, 1, 0, 0, 0)
    assert store.scrape_udp([], transaction_id=1) == struct.pack(">II", 2, 1)
    assert len(store.scrape_udp([H] * 100)) == 8 + 12 * 75


# ---------------------------------------------------------------- ageing and expiry

def test_peer_expires_at_45_minutes(store):
    store.announce_http(H, "127.0.0.1", 1)
    store.announce_http(H, "127.0.0.2", 1)
    store.now = T0 + 30 * MINUTE
    store.announce_http(H, "127.0.0.2", 1)   # renews .2, ages .1 to 30
    store.now = T0 + 44 * MINUTE
    store.clean()
    assert len(store.peers(H)) == 2
    store.now = T0 + 45 * MINUTE
    store.clean()
    assert [p[0] for p in store.peers(H)] == [bytes([127, 0, 0, 2])]
    assert store.stats()["peers"] == 1


def test_renew_reports_previous_age(store):
    store.announce_http(H, "127.0.0.1", 1)
    store.now = T0 + 7 * MINUTE
    store.announce_http(H, "127.0.0.1", 1)
    assert store.last_outcome["renew_age"] == 7
    assert store.last_outcome["new_peer"] is False


def test_empty_unfinished_torrent_removed_after_peer_timeout(store):
    store.announce_http(H, "127.0.0.1", 1)
    store.stop_http(H, "127.0.0.1", 1)
    store.now = T0 + 2 * MINUTE
    assert store.clean() == 0          # base moves back a peer timeout
    assert store.stats()["torrents"] == 1
    store.now = T0 + 4 * MINUTE
    assert store.clean() == 1
    assert store.torrents() == []


def test_expired_peers_then_unfinished_torrent_removed(store):
    store.announce_http(H, "127.0.0.1", 1)
    store.now = T0 + 46 * MINUTE
    store.clean()                      # drops the peer, base = now - 45
    assert store.torrents()[0][1:3] == (0, 0)
    store.now = T0 + 47 * MINUTE
    store.clean()
    assert store.torrents() == []


def test_finished_torrent_kept_for_a_day(store):
    store.announce_http(H, "127.0.0.1", 1, seeder=True, completed=True)
    store.now = T0 + 46 * MINUTE
    store.clean()
    base = store.torrents()[0][4]
    assert base == (T0 + 46 * MINUTE) // 60 - 45
    store.now = (base + 1440) * 60
    store.clean()
    assert len(store.torrents()) == 1
    store.now = (base + 1441) * 60
    store.clean()
    assert store.torrents() == []


def test_scrape_runs_the_lazy_clean(store):
    store.announce_http(H, "127.0.0.1", 1)
    store.now = T0 + 50 * MINUTE
    # the scrape ages the torrent (peer gone) and reports it empty
    assert bdecode(store.scrape_http([H]))[b"files"][H][b"incomplete"] == 0
    store.now = T0 + 52 * MINUTE
    assert store.scrape_http([H]) == b"d5:filesdee"
    assert store.torrents() == []


def test_announce_to_day_old_torrent_starts_over(store):
    store.announce_http(H, "127.0.0.1", 1, seeder=True, completed=True)
    store.now = T0 + 1500 * MINUTE
    d = body(store.announce_http(H, "127.0.0.2", 1))
    assert (d[b"complete"], d[b"downloaded"], d[b"incomplete"]) == (0, 0, 1)


def test_incremental_clean_slices_cover_everything(store):
    hashes = [hashlib.sha1(b"%d" % i).digest() for i in range(500)]
    for h in hashes:
        store.announce_http(h, "127.0.0.1", 1)
    store.now = T0 + 46 * MINUTE
    removed = sum(store.clean(first, 256) for first in range(0, Store.bucket_count, 256))
    assert removed == 0 and store.stats()["peers"] == 0
    store.now = T0 + 47 * MINUTE
    removed = sum(store.clean(first, 100) for first in range(0, Store.bucket_count, 100))
    assert removed == 500


def test_clock_going_backwards_is_harmless(store):
    store.announce_http(H, "127.0.0.1", 1)
    store.now = T0 - 3600
    store.clean()
    assert store.stats()["peers"] == 1


# ---------------------------------------------------------------- state restore

def test_restore_first_line_wins_and_does_not_override(store):
    store.restore(H, T0 // 60, 17)
    store.restore(H, T0 // 60, 99)
    assert store.torrents() == [(H, 0, 0, 17, T0 // 60)]
    other = hashlib.sha1(b"x").digest()
    store.announce_http(other, "127.0.0.1", 1)
    store.restore(other, 1, 5)
    assert [t for t in store.torrents() if t[0] == other][0][3] == 0


def test_restored_counter_is_kept_and_grows(store):
    store.restore(H, T0 // 60, 17)
    d = body(store.announce_http(H, "127.0.0.1", 1, seeder=True, completed=True))
    assert d[b"downloaded"] == 18


# ---------------------------------------------------------------- memory accounting

def test_memory_grows_and_returns_to_empty_value():
    store = Store(seed=1, now=T0)
    empty = store.memory_bytes
    assert store.stats()["memory"]["total"] == empty
    hashes = [hashlib.sha1(b"%d" % i).digest() for i in range(3000)]
    previous = empty
    for i, h in enumerate(hashes):
        for n in range(i % 7 + 1):
            store.announce_http(h, ip4(n), 1)
        if i % 500 == 499:
            assert store.memory_bytes > previous
            previous = store.memory_bytes
    m = store.stats()["memory"]
    assert m["torrents"] == 3000 * SIZEOF_TORRENT
    assert m["total"] == m["fixed"] + m["torrents"] + m["torrent_slack"] + m["peers"] + m["peer_slack"]
    full = store.memory_bytes
    for i, h in enumerate(hashes[:1500]):
        for n in range(i % 7 + 1):
            store.stop_http(h, ip4(n), 1)
    assert store.memory_bytes < full
    store.now = T0 + 50 * MINUTE
    store.clean()
    store.now = T0 + 52 * MINUTE
    store.clean()
    assert store.stats()["torrents"] == 0
    assert store.memory_bytes == empty


def test_memory_per_peer_and_torrent_within_budget():
    # docs/memory.md: <= 12 bytes per IPv4 peer, <= 64 per torrent on 32-bit; the
    # 64-bit figures are larger only by pointer width.
    store = Store(seed=1, now=T0)
    for i in range(2000):
        h = hashlib.sha1(b"%d" % i).digest()
        for n in range(5):
            store.announce_http(h, ip4(n + i), 1)
    m = store.stats()["memory"]
    per_peer = (m["peers"] - m["peer_headers"] + m["peer_slack"]) / 10000
    per_torrent = (m["torrents"] + m["torrent_slack"] + m["peer_headers"]) / 2000
    assert per_peer <= 12
    assert per_torrent <= 80


def test_memory_limit_refuses_new_but_serves_existing():
    StoreFullError = core.StoreFullError
    store = Store(seed=1, now=T0)
    store.memory_limit = store.memory_bytes + 20_000
    admitted = 0
    for i in range(1000):
        try:
            store.announce_http(hashlib.sha1(b"%d" % i).digest(), "127.0.0.1", 1)
            admitted += 1
        except StoreFullError:
            break
    assert 0 < admitted < 1000
    assert store.memory_bytes <= store.memory_limit
    assert store.stats()["refused_memory"] == 1
    first = hashlib.sha1(b"0").digest()
    d = body(store.announce_http(first, "127.0.0.1", 1, seeder=True))  # update: allowed
    assert d[b"complete"] == 1
