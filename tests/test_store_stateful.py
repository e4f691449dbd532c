"""Random announce/stop/scrape/clean/time sequences against a plain Python
model of the swarms: counts, peer sets, ages and torrent lists must match."""

import pytest

pytest.importorskip("hypothesis")
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule  # noqa: E402

from helpers.testcore import core  # noqa: E402
from helpers.reference import bdecode, compact_peers, udp_announce_reply  # noqa: E402

Store = core.Store

pytestmark = pytest.mark.hypothesis

T0 = 1_700_000_020 // 60 * 60
SEEDING, COMPLETED = 0x80, 0x40
# A few hashes in the same and in different buckets (top 12 bits), with extreme bytes.
HASHES = [b"\x00" * 20, b"\x00" * 19 + b"\x01", b"\x00\x0f" + b"\xff" * 18, b"\x80" + b"\x00" * 19,
          b"\xff" * 20, b"\xff" * 19 + b"\xfe"]
ADDRS = [bytes([127, 0, 0, 1]), bytes([127, 0, 0, 2]), bytes([10, 0, 0, 1]), b"\xff\xff\xff\xff",
         bytes(15) + b"\x01", bytes.fromhex("20010db8" + "00" * 11 + "07")]
PORTS = [0, 1, 6881, 65535]


class ModelTorrent:
    def __init__(self, base):
        self.base = base
        self.completed = 0
        self.peers = {}  # (addr, port) -> [flags, age]

    def seeders(self):
        return sum(1 for f, _ in self.peers.values() if f & SEEDING)


class Model:
    """The store's rules written plainly: a dict per torrent, lazy ageing."""

    def __init__(self):
        self.torrents = {}
        self.now = T0 // 60
        self.seen = {}  # (hash, (addr, port)) -> minute of the last announce, until a stop

    def clean_one(self, h):
        t = self.torrents[h]
        elapsed = self.now - t.base
        if elapsed <= 0:
            return False
        if elapsed > 1440:
            return True
        if elapsed > 45:
            if not t.peers:
                return t.completed == 0
            elapsed = 45
        for key in list(t.peers):
            age = t.peers[key][1] + elapsed
            if age >= 45:
                del t.peers[key]
            else:
                t.peers[key][1] = age
        t.base = self.now if t.peers else self.now - 45
        return False

    def announce(self, h, key, seeder, completed):
        flags = (SEEDING if seeder else 0) | (COMPLETED if completed and seeder else 0)
        t = self.torrents.get(h)
        if t is not None and self.clean_one(h):
            t.peers.clear()
            t.completed = 0
        if t is None:
            t = self.torrents[h] = ModelTorrent(self.now)
        old = t.peers.get(key)
        if old is None:
            if flags & COMPLETED:
                t.completed += 1
        else:
            if not old[0] & COMPLETED and flags & COMPLETED:
                t.completed += 1
            flags |= old[0] & COMPLETED
        t.peers[key] = [flags, 0]
        self.seen[h, key] = self.now
        t.base = self.now
        return t

    def stop(self, h, key):
        t = self.torrents.get(h)
        self.seen.pop((h, key), None)
        if t is not None:
            t.peers.pop(key, None)
        return t

    def scrape(self, h):
        if h not in self.torrents:
            return None
        if self.clean_one(h):
            del self.torrents[h]
            return None
        return self.torrents[h]

    def clean(self):
        for h in sorted(self.torrents):
            if self.clean_one(h):
                del self.torrents[h]


class StoreMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.store = Store(seed=3, now=T0)
        self.model = Model()
        self.empty_memory = self.store.memory_bytes

    @rule(h=st.sampled_from(HASHES), addr=st.sampled_from(ADDRS), port=st.sampled_from(PORTS),
          seeder=st.booleans(), completed=st.booleans(), numwant=st.integers(-3, 250))
    def announce_http(self, h, addr, port, seeder, completed, numwant):
        reply = bdecode(self.store.announce_http(h, addr, port, seeder=seeder, completed=completed,
                                                 numwant=numwant))
        t = self.model.announce(h, (addr, port), seeder, completed)
        seeders = t.seeders()
        assert reply[b"complete"] == seeders
        assert reply[b"incomplete"] == len(t.peers) - seeders
        assert reply[b"downloaded"] == t.completed
        want = 50 if numwant < 0 else min(numwant, 200)
        got = compact_peers(reply[b"peers"], 6) + compact_peers(reply.get(b"peers6", b""), 18)
        assert len(got) == min(want, len(t.peers))
        assert len(set(got)) == len(got)
        assert set(got) <= set(t.peers)
        if want >= len(t.peers):
            assert set(got) == set(t.peers)

    @rule(h=st.sampled_from(HASHES), addr=st.sampled_from(ADDRS), port=st.sampled_from(PORTS),
          seeder=st.booleans(), event=st.sampled_from([0, 1, 2, 3]), numwant=st.integers(0, 2**32 - 1),
          tid=st.integers(0, 2**32 - 1))
    def announce_udp(self, h, addr, port, seeder, event, numwant, tid):
        raw = self.store.announce_udp(h, addr, port, seeder=seeder, event=event, numwant=numwant,
                                      transaction_id=tid)
        action, got_tid, interval, leechers, seeders, blob = udp_announce_reply(raw)
        assert (action, got_tid) == (1, tid)
        assert 1620 <= interval <= 1979
        if event == 3:
            t = self.model.stop(h, (addr, port))
            assert blob == b""
        else:
            t = self.model.announce(h, (addr, port), seeder, event == 1)
            size = 6 if len(addr) == 4 else 18
            family = [k for k in t.peers if len(k[0]) == len(addr)]
            cap = 200 if size == 6 else 66
            got = compact_peers(blob, size)
            assert len(got) == min(numwant, cap, len(family))
            assert set(got) <= set(family)
        s = 0 if t is None else t.seeders()
        n = 0 if t is None else len(t.peers)
        assert (leechers, seeders) == (n - s, s)

    @rule(h=st.sampled_from(HASHES), addr=st.sampled_from(ADDRS), port=st.sampled_from(PORTS))
    def stop(self, h, addr, port):
        reply = bdecode(self.store.stop_http(h, addr, port))
        t = self.model.stop(h, (addr, port))
        s = 0 if t is None else t.seeders()
        n = 0 if t is None else len(t.peers)
        assert (reply[b"complete"], reply[b"incomplete"]) == (s, n - s)

    @rule(hs=st.lists(st.sampled_from(HASHES), max_size=5))
    def scrape(self, hs):
        files = bdecode(self.store.scrape_http(hs))[b"files"]
        expected = {}
        for h in hs:
            t = self.model.scrape(h)
            if t is not None:
                s = t.seeders()
                expected[h] = {b"complete": s, b"downloaded": t.completed, b"incomplete": len(t.peers) - s}
        assert files == expected

    @rule(minutes=st.sampled_from([0, 1, 2, 10, 30, 44, 45, 46, 120, 1441]))
    def advance(self, minutes):
        self.model.now += minutes
        self.store.now = self.model.now * 60

    @rule()
    def clean(self):
        self.store.clean()
        self.model.clean()
        # Independent of how ageing is done: after a full clean, exactly the
        # peers announced less than 45 minutes ago (and not stopped) remain.
        for (h, key), seen in self.model.seen.items():
            present = key in {(a, p) for a, p, _, _ in self.store.peers(h)}
            assert present == (self.model.now - seen < 45)

    @precondition(lambda self: self.model.torrents)
    @rule(first=st.integers(0, 4095), count=st.integers(1, 4096))
    def clean_slice(self, first, count):
        # A slice cleans a subset: compare after finishing the rest of the pass.
        self.store.clean(first, count)
        if count < 4096:
            self.store.clean((first + count) % 4096, 4096 - count)
        self.model.clean()

    @invariant()
    def same_torrents_and_peers(self):
        got = self.store.torrents()
        expected = []
        for h in sorted(self.model.torrents):
            t = self.model.torrents[h]
            s = t.seeders()
            expected.append((h, s, len(t.peers) - s, t.completed, t.base))
        assert got == expected
        for h, t in self.model.torrents.items():
            peers = {(a, p): [f & (SEEDING | COMPLETED), age] for a, p, f, age in self.store.peers(h)}
            assert peers == t.peers
        stats = self.store.stats()
        assert stats["torrents"] == len(self.model.torrents)
        assert stats["peers"] == sum(len(t.peers) for t in self.model.torrents.values())
        assert stats["seeders"] == sum(t.seeders() for t in self.model.torrents.values())
        if not self.model.torrents:
            assert self.store.memory_bytes == self.empty_memory


TestStoreMachine = StoreMachine.TestCase
