# The Python face of the store: the Store class (the shell's state loading
# and dumps, counts and memory), the constants the shell reads. Announces
# and scrapes reach the store only through a Server's loop; the tests'
# in-process announces live in the test build (tests/testbuild/).

import os as _os

from libc.stdint cimport int64_t
from libc.string cimport memcpy, memset


class StoreFullError(Exception):
    """tracker.memory_limit refuses a new torrent or peer."""


cdef const uint8_t *_hash_ptr(bytes info_hash) except NULL:
    if len(info_hash) != OT_HASH_SIZE:
        raise ValueError("an info_hash is 20 bytes")
    return <const uint8_t *><const char *>info_hash


cdef class Store:
    """The swarm store with an injectable clock: its state file lines in
    and out, its counts and its memory.

    `now` is the clock in seconds since the epoch; tests move it to age peers.
    """
    cdef ot_store *st
    cdef int64_t _now

    def __cinit__(self, *, seed=None, memory_limit=0, now=None):
        cdef uint64_t s
        if seed is None:
            s = int.from_bytes(_os.urandom(8), "little")
        else:
            s = <uint64_t>(seed & 0xFFFFFFFFFFFFFFFF)
        self.st = store_new(s)
        if self.st == NULL:
            raise MemoryError()
        self.st.mem_limit = memory_limit
        import time
        self.now = int(time.time()) if now is None else now

    def __dealloc__(self):
        store_free(self.st)
        self.st = NULL

    property now:
        def __get__(self):
            return self._now

        def __set__(self, value):
            self._now = value
            store_set_clock(self.st, value)

    property memory_limit:
        def __get__(self):
            return self.st.mem_limit

        def __set__(self, value):
            self.st.mem_limit = value

    bucket_count = OT_BUCKET_COUNT

    def clean(self, unsigned int first=0, unsigned int count=OT_BUCKET_COUNT):
        """Run the clean step over `count` buckets from `first`; returns the
        number of torrents removed."""
        return store_clean(self.st, first % OT_BUCKET_COUNT, min(count, OT_BUCKET_COUNT))

    def restore(self, bytes info_hash, unsigned int base, unsigned int downloaded):
        """Add a peerless torrent from a state line (first line for a hash wins)."""
        cdef const uint8_t *h = _hash_ptr(info_hash)
        cdef ot_group *g = store_lock(self.st, h)
        cdef int rc = store_restore(self.st, h, base, downloaded)
        store_unlock(self.st, g)
        if rc == OT_REFUSED_MEMORY:
            raise StoreFullError("memory limit reached")
        if rc == OT_NOMEM:
            raise MemoryError()

    def torrents(self):
        """[(info_hash, seeders, leechers, downloaded, base_minutes)] in
        ascending info_hash order, as stored (no clean). Each torrent is
        copied under its bucket's lock, the list made without it."""
        cdef ot_walk wk
        cdef ot_torrent *t
        cdef ot_torrent copy
        cdef uint32_t s, n
        out = []
        t = store_walk_first(self.st, &wk, NULL)
        while t != NULL:
            copy = t[0]
            s = ot_torrent_seeders(t)
            n = ot_torrent_peers(t)
            # The next torrent is found before Python runs: nothing of the
            # store is held while the list grows.
            store_walk_end(&wk)
            out.append(((<char *>copy.hash)[:OT_HASH_SIZE], s, n - s, copy.completed, copy.base))
            t = store_walk_first(self.st, &wk, copy.hash)
        return out

    def peers(self, bytes info_hash):
        """[(address bytes, port, flags, age)] of a torrent, IPv4 then IPv6,
        each in stored (sorted) order; [] when unknown."""
        cdef const uint8_t *h = _hash_ptr(info_hash)
        cdef ot_group *g
        cdef ot_torrent *t
        cdef ot_peervec *v
        cdef uint8_t *rec
        cdef uint32_t i, ksize, rsize, n
        cdef bytearray raw
        cdef int family
        out = []
        for family in (OT_FAMILY_V4, OT_FAMILY_V6):
            ksize = ot_key_size(family)
            rsize = ot_rec_size(family)
            # The records are copied under the lock into room made without
            # it (one look for the size, one for the copy), the list after.
            n = 0
            while True:
                raw = bytearray(n * rsize)
                g = store_lock(self.st, h)
                t = store_find(self.st, h)
                v = t.peers[family] if t != NULL else NULL
                if v == NULL or v.size <= n:
                    n = v.size if v != NULL else 0
                    if n:
                        memcpy(<char *>raw, ot_peervec_data(v), n * rsize)
                    store_unlock(self.st, g)
                    break
                n = v.size
                store_unlock(self.st, g)
            rec = <uint8_t *><char *>raw
            for i in range(n):
                out.append(((<char *>rec)[:ksize - 2], (rec[ksize - 2] << 8) | rec[ksize - 1],
                            rec[ksize], rec[ksize + 1]))
                rec += rsize
        return out

    def stats(self):
        """Counts and memory. Memory figures are exact requested bytes:
        `fixed` (store, bucket table and lock groups), `torrents` (torrent
        slots in use), `torrent_slack` (spare slots), `peers` (peer records
        in use and the per-list headers), `peer_slack` (spare peer records).
        `lock_waits`: takes of a group lock that found it held."""
        cdef ot_store *st = self.st
        cdef ot_store_counts c
        cdef ot_store_memory m
        cdef uint64_t used_torrents, used_peers = 0, headers = 0
        cdef ot_walk wk
        cdef ot_torrent *t
        cdef int family
        with nogil:
            t = store_walk_first(st, &wk, NULL)
            while t != NULL:
                for family in range(2):
                    if t.peers[family] != NULL:
                        headers += sizeof(ot_peervec)
                        used_peers += t.peers[family].size * ot_rec_size(family)
                t = store_walk_next(st, &wk)
            store_counts(st, &c)
            store_memory(st, &m)
        used_torrents = c.torrents * sizeof(ot_torrent)
        return {
            "torrents": c.torrents,
            "peers": c.peers[0] + c.peers[1],
            "seeders": c.seeders[0] + c.seeders[1],
            "peers4": c.peers[0],
            "peers6": c.peers[1],
            "seeders4": c.seeders[0],
            "seeders6": c.seeders[1],
            "refused_memory": c.refused_memory,
            "lock_waits": c.waits,
            "memory": {
                "total": m.fixed + m.torrents + m.peers,
                "fixed": m.fixed,
                "torrents": used_torrents,
                "torrent_slack": m.torrents - used_torrents,
                "peers": used_peers + headers,
                "peer_headers": headers,
                "peer_slack": m.peers - used_peers - headers,
            },
        }

    def statedump(self):
        """(bytes, count): the state file / mode=statedump lines."""
        return _statedump_of(self)

    property torrent_count:
        """Torrents held now (a sum over the lock groups)."""
        def __get__(self):
            cdef ot_store_counts c
            store_counts(self.st, &c)
            return c.torrents

    property memory_bytes:
        """Bytes the store holds (exact requested sizes)."""
        def __get__(self):
            cdef ot_store_memory m
            store_memory(self.st, &m)
            return m.fixed + m.torrents + m.peers


def failure_body(bytes reason):
    """The bencoded failure reply for `reason` (docs/compatibility.md,
    "Announce failures")."""
    cdef uint8_t buf[600]
    if len(reason) > 512:
        raise ValueError("reason too long")
    return (<char *>buf)[:write_failure(buf, reason, len(reason))]


SIZEOF_TORRENT = sizeof(ot_torrent)
SIZEOF_GROUP = sizeof(ot_group)            # one lock group (docs/memory.md)
SIZEOF_PEER4 = OT_PEER4_SIZE
SIZEOF_PEER6 = OT_PEER6_SIZE

# Constants the Python shell needs, named once here so they cannot drift
# (the settings' defaults: DEFAULTS, at the end of server.pyx).
PERM_STATS = OT_PERM_STATS
PERM_PROXY = OT_PERM_PROXY
PERM_SYNC = OT_PERM_SYNC
PERM_ALL = OT_PERM_ALL
MAX_STATS_PATH = OT_STATS_PATH_MAX
MAX_REDIRECT_URL = OT_REDIRECT_MAX
INTERVAL_MIN = OT_INTERVAL_MIN              # tracker.announce_interval's range, seconds
INTERVAL_CEILING = OT_INTERVAL_CEILING      # and the adaptive interval's ceiling


def _statedump_of(Store store):
    """(bytes, count): every torrent as `<HEX>:<base>:<downloaded>\\n` in
    ascending info_hash order, formatted in C (a million torrents take a
    few tens of milliseconds, so the loop barely pauses for a state save)."""
    cdef ot_store *st = store.st
    cdef ot_store_counts c
    cdef size_t n, count = 0
    cdef bytearray out
    cdef uint8_t *base
    cdef uint8_t *p
    cdef ot_torrent *t
    cdef ot_walk wk
    store_counts(st, &c)
    # Room for the torrents held now; with workers announcing, a walk that
    # finds more stops there (they are in the next save).
    n = c.torrents
    out = bytearray(n * 64 + 64)
    base = <uint8_t *><char *>out
    p = base
    with nogil:
        t = store_walk_first(st, &wk, NULL)
        while t != NULL and count < n:
            p = put_state_line(p, t)
            count += 1
            t = store_walk_next(st, &wk)
        store_walk_end(&wk)
    return bytes(out[:p - base]), count


def allocation_counts():
    """(blocks allocated, blocks freed) by the core since the module loaded."""
    return ot_blocks_allocated, ot_blocks_freed
