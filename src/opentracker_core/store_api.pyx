# The Python face of the store: the Store class (the shell's state loading
# and dumps, tests and tools), the constants the shell reads, and the core's
# allocation counters. Its request-shaped methods go through the tracker
# functions the loop's handlers call once a request is parsed (tracker.pyx)
# and the same reply writers.

import os as _os
import socket as _socket

from libc.stdint cimport int64_t
from libc.string cimport memcpy, memset


class StoreFullError(Exception):
    """tracker.memory_limit refuses a new torrent or peer."""


cdef int _pack_peer(object ip, object port, ot_peer_in *out) except -1:
    cdef bytes raw
    cdef int p = port
    if not 0 <= p <= 0xFFFF:
        raise ValueError("port out of range")
    if isinstance(ip, str):
        raw = _socket.inet_pton(_socket.AF_INET6 if ":" in ip else _socket.AF_INET, ip)
    else:
        raw = bytes(ip)
    if len(raw) == 16 and raw[:12] == b"\0" * 10 + b"\xff\xff":
        raw = raw[12:]
    if len(raw) == 4:
        out.family = OT_FAMILY_V4
    elif len(raw) == 16:
        out.family = OT_FAMILY_V6
    else:
        raise ValueError("an address is 4 or 16 bytes")
    memcpy(out.key, <const char *>raw, len(raw))
    out.key[len(raw)] = <uint8_t>(p >> 8)
    out.key[len(raw) + 1] = <uint8_t>(p & 0xFF)
    out.flags = 0
    out.from_sync = 0
    return 0


cdef const uint8_t *_hash_ptr(bytes info_hash) except NULL:
    if len(info_hash) != OT_HASH_SIZE:
        raise ValueError("an info_hash is 20 bytes")
    return <const uint8_t *><const char *>info_hash


cdef class Store:
    """The swarm store with an injectable clock.

    `now` is the clock in seconds since the epoch; tests move it to age peers.
    Replies are returned as the bytes the tracker would put on the wire.
    """
    cdef ot_store *st
    cdef ot_server *_tracker
    cdef int64_t _now
    cdef readonly dict last_outcome

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
        self.last_outcome = {}
        import time
        self.now = int(time.time()) if now is None else now

    def __dealloc__(self):
        ot_free(self._tracker)
        store_free(self.st)
        self.st = NULL

    cdef ot_server *_tracker_of(self) except NULL:
        """The tracker the request-shaped methods go through: open access,
        no cluster, counters of its own. Made on first use, so the Store of
        a Server never carries one."""
        if self._tracker == NULL:
            self._tracker = <ot_server *>ot_malloc(sizeof(ot_server))
            if self._tracker == NULL:
                raise MemoryError()
            memset(self._tracker, 0, sizeof(ot_server))
            self._tracker.store = self.st
            self._tracker.access.mode = OT_ACCESS_OPEN
            self._tracker.sync.in_fd = self._tracker.sync.out_fd = -1
        return self._tracker

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

    cdef ot_torrent *_announce(self, bytes info_hash, object ip, object port, bint seeder,
                               bint completed) except? NULL:
        cdef ot_peer_in peer
        cdef ot_announce_result res
        cdef const uint8_t *h = _hash_ptr(info_hash)
        cdef int rc
        _pack_peer(ip, port, &peer)
        peer.flags = (PEER_FLAG_SEEDING if seeder else 0) | (PEER_FLAG_COMPLETED if completed else 0)
        rc = tracker_announce(self._tracker_of(), h, &peer, NULL, &res)
        if rc == OT_REFUSED_MEMORY:
            raise StoreFullError("memory limit reached")
        if rc == OT_NOMEM:
            raise MemoryError()
        self.last_outcome = {
            "new_torrent": bool(res.new_torrent),
            "new_peer": bool(res.new_peer),
            "completed": bool(res.completed),
            "renew_age": res.renew_age,
            "stored": not res.unstored,
        }
        return res.torrent

    def announce_http(self, bytes info_hash, ip, int port, *, bint seeder=False,
                      bint completed=False, int numwant=OT_NUMWANT_DEFAULT):
        """Announce and return the HTTP body. numwant follows the HTTP rules:
        negative means the default 50, more than 200 means 200."""
        cdef uint8_t buf[OT_ANNOUNCE_BODY_MAX]
        cdef ot_torrent *t = self._announce(info_hash, ip, port, seeder, completed)
        if numwant < 0:
            numwant = OT_NUMWANT_DEFAULT
        elif numwant > OT_NUMWANT_MAX:
            numwant = OT_NUMWANT_MAX
        return (<char *>buf)[:write_http_announce(buf, t, numwant, &self.st.rng)]

    def stop_http(self, bytes info_hash, ip, int port):
        """event=stopped: remove the peer and return the stopped body."""
        cdef uint8_t buf[256]
        cdef ot_peer_in peer
        _pack_peer(ip, port, &peer)
        cdef ot_torrent *t = tracker_stop(self._tracker_of(), _hash_ptr(info_hash), &peer)
        return (<char *>buf)[:write_http_stopped(buf, t, &self.st.rng)]

    def scrape_http(self, hashes):
        """Scrape body for up to 64 hashes (extra ones are ignored)."""
        cdef uint8_t buf[OT_SCRAPE_BODY_MAX]
        cdef bytes joined = b"".join(hashes[:OT_MAXMULTISCRAPE])
        for h in hashes[:OT_MAXMULTISCRAPE]:
            _hash_ptr(h)
        return (<char *>buf)[:write_http_scrape(buf, self.st, <const uint8_t *><const char *>joined,
                                                 len(joined) // OT_HASH_SIZE)]

    def announce_udp(self, bytes info_hash, ip, int port, *, bint seeder=False, int event=0,
                     unsigned int numwant=OT_UDP_PEERS_V4, unsigned int transaction_id=0):
        """A BEP 15 announce (event 1 completed, 3 stopped); returns the reply."""
        cdef uint8_t buf[OT_UDP_ANNOUNCE_MAX]
        cdef ot_peer_in peer
        cdef ot_torrent *t
        if event == 3:
            _pack_peer(ip, port, &peer)
            t = tracker_stop(self._tracker_of(), _hash_ptr(info_hash), &peer)
            return (<char *>buf)[:write_udp_announce(buf, transaction_id, t, peer.family, 0, &self.st.rng)]
        t = self._announce(info_hash, ip, port, seeder, event == 1)
        _pack_peer(ip, port, &peer)
        return (<char *>buf)[:write_udp_announce(buf, transaction_id, t, peer.family, numwant, &self.st.rng)]

    def scrape_udp(self, hashes, unsigned int transaction_id=0):
        cdef uint8_t buf[OT_UDP_SCRAPE_REPLY_MAX]
        cdef bytes joined = b"".join(hashes[:OT_UDP_SCRAPE_MAX])
        for h in hashes[:OT_UDP_SCRAPE_MAX]:
            _hash_ptr(h)
        return (<char *>buf)[:write_udp_scrape(buf, transaction_id, self.st,
                                                <const uint8_t *><const char *>joined,
                                                len(joined) // OT_HASH_SIZE, len(joined) // OT_HASH_SIZE)]

    def clean(self, unsigned int first=0, unsigned int count=OT_BUCKET_COUNT):
        """Run the clean step over `count` buckets from `first`; returns the
        number of torrents removed."""
        return store_clean(self.st, first % OT_BUCKET_COUNT, min(count, OT_BUCKET_COUNT))

    def restore(self, bytes info_hash, unsigned int base, unsigned int downloaded):
        """Add a peerless torrent from a state line (first line for a hash wins)."""
        rc = store_restore(self.st, _hash_ptr(info_hash), base, downloaded)
        if rc == OT_REFUSED_MEMORY:
            raise StoreFullError("memory limit reached")
        if rc == OT_NOMEM:
            raise MemoryError()

    def torrents(self):
        """[(info_hash, seeders, leechers, downloaded, base_minutes)] in
        ascending info_hash order, as stored (no clean)."""
        out = []
        cdef ot_torrent *t = store_next(self.st, NULL)
        cdef uint32_t s, n
        while t != NULL:
            s = ot_torrent_seeders(t)
            n = ot_torrent_peers(t)
            out.append(((<char *>t.hash)[:OT_HASH_SIZE], s, n - s, t.completed, t.base))
            t = store_next(self.st, t.hash)
        return out

    def peers(self, bytes info_hash):
        """[(address bytes, port, flags, age)] of a torrent, IPv4 then IPv6,
        each in stored (sorted) order; [] when unknown."""
        cdef ot_torrent *t = store_find(self.st, _hash_ptr(info_hash))
        cdef ot_peervec *v
        cdef uint8_t *rec
        cdef uint32_t i, ksize, rsize
        out = []
        if t == NULL:
            return out
        for family in (OT_FAMILY_V4, OT_FAMILY_V6):
            v = t.peers[family]
            if v == NULL:
                continue
            ksize = ot_key_size(family)
            rsize = ot_rec_size(family)
            rec = ot_peervec_data(v)
            for i in range(v.size):
                out.append(((<char *>rec)[:ksize - 2], (rec[ksize - 2] << 8) | rec[ksize - 1],
                            rec[ksize], rec[ksize + 1]))
                rec += rsize
        return out

    def stats(self):
        """Counts and memory. Memory figures are exact requested bytes:
        `fixed` (store and bucket table), `torrents` (torrent slots in use),
        `torrent_slack` (spare slots), `peers` (peer records in use and the
        per-list headers), `peer_slack` (spare peer records)."""
        cdef ot_store *st = self.st
        cdef uint64_t used_torrents = st.torrent_count * sizeof(ot_torrent)
        cdef uint64_t used_peers = 0, headers = 0
        cdef ot_torrent *t = store_next(st, NULL)
        cdef int family
        while t != NULL:
            for family in range(2):
                if t.peers[family] != NULL:
                    headers += sizeof(ot_peervec)
                    used_peers += t.peers[family].size * ot_rec_size(family)
            t = store_next(st, t.hash)
        return {
            "torrents": st.torrent_count,
            "peers": st.peer_count[0] + st.peer_count[1],
            "seeders": st.seeder_count[0] + st.seeder_count[1],
            "peers4": st.peer_count[0],
            "peers6": st.peer_count[1],
            "seeders4": st.seeder_count[0],
            "seeders6": st.seeder_count[1],
            "refused_memory": st.refused_memory,
            "memory": {
                "total": st.mem_fixed + st.mem_torrents + st.mem_peers,
                "fixed": st.mem_fixed,
                "torrents": used_torrents,
                "torrent_slack": st.mem_torrents - used_torrents,
                "peers": used_peers + headers,
                "peer_headers": headers,
                "peer_slack": st.mem_peers - used_peers - headers,
            },
        }

    def statedump(self):
        """(bytes, count): the state file / mode=statedump lines."""
        return _statedump_of(self)

    property torrent_count:
        """Torrents held now (constant time)."""
        def __get__(self):
            return self.st.torrent_count

    property memory_bytes:
        """Bytes the store holds (exact requested sizes)."""
        def __get__(self):
            return self.st.mem_fixed + self.st.mem_torrents + self.st.mem_peers


def failure_body(bytes reason):
    """The bencoded failure reply for `reason` (docs/compatibility.md,
    "Announce failures")."""
    cdef uint8_t buf[600]
    if len(reason) > 512:
        raise ValueError("reason too long")
    return (<char *>buf)[:write_failure(buf, reason, len(reason))]


SIZEOF_TORRENT = sizeof(ot_torrent)
SIZEOF_PEER4 = OT_PEER4_SIZE
SIZEOF_PEER6 = OT_PEER6_SIZE

# Constants the Python shell needs, named once here so they cannot drift.
PERM_STATS = OT_PERM_STATS
PERM_PROXY = OT_PERM_PROXY
PERM_SYNC = OT_PERM_SYNC
PERM_ALL = OT_PERM_ALL
MAX_STATS_PATH = OT_STATS_PATH_MAX
MAX_REDIRECT_URL = OT_REDIRECT_MAX
LIVESYNC_SEND_INTERVAL = OT_SYNC_MAX_AGE


def _statedump_of(Store store):
    """(bytes, count): every torrent as `<HEX>:<base>:<downloaded>\\n` in
    ascending info_hash order, formatted in C (a million torrents take a
    few tens of milliseconds, so the loop barely pauses for a state save)."""
    cdef ot_store *st = store.st
    cdef size_t n = st.torrent_count, count = 0
    cdef bytearray out = bytearray(n * 64 + 64)
    cdef uint8_t *base = <uint8_t *><char *>out
    cdef uint8_t *p = base
    cdef ot_torrent *t
    with nogil:
        t = store_next(st, NULL)
        while t != NULL and count < n:
            p = put_state_line(p, t)
            count += 1
            t = store_next(st, t.hash)
    return bytes(out[:p - base]), count


def allocation_counts():
    """(blocks allocated, blocks freed) by the core since the module loaded."""
    return ot_blocks_allocated, ot_blocks_freed
