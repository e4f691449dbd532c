# cython: language_level=3
# The core's benchmark loop, kept out of the router's .so: this module
# compiles its own copy of the core (the same sources, the same flags as
# setup.py) with one more function, a C loop of announces without sockets.
# bench/bench_core.py builds it on first use.

include "opentracker_core/_core.pyx"

import time


def announce_loop(Store store, uint32_t torrents, uint32_t peers, uint64_t announces,
                         bint write_reply=True):
    """`announces` HTTP announces spread over `torrents`
    torrents and `peers` distinct IPv4 peers, run by a C loop without the GIL
    (hash and peer chosen by a PRNG, reply body written unless disabled).
    Returns the elapsed seconds."""
    cdef ot_peer_in peer
    cdef ot_announce_result res
    cdef uint8_t hash[20]
    cdef uint8_t buf[OT_ANNOUNCE_BODY_MAX]
    cdef ot_rng pick
    cdef uint64_t i, r
    cdef uint32_t t, n, k
    cdef ot_store *st = store.st
    cdef ot_group *g
    cdef double started, elapsed
    import time
    if torrents == 0 or peers == 0:
        raise ValueError("torrents and peers must be positive")
    pick.state = 12345
    started = time.perf_counter()
    with nogil:
        for i in range(announces):
            t = rng_next(&pick) % torrents
            n = rng_next(&pick) % peers
            # A torrent's hash is a function of its number, spread over buckets.
            r = (<uint64_t>t + 1) * 0x9E3779B97F4A7C15ULL
            for k in range(20):
                hash[k] = <uint8_t>(r >> ((k % 8) * 8)) ^ <uint8_t>(k * 31 + t)
            peer.family = OT_FAMILY_V4
            peer.key[0] = 10
            peer.key[1] = <uint8_t>(n >> 16)
            peer.key[2] = <uint8_t>(n >> 8)
            peer.key[3] = <uint8_t>n
            peer.key[4] = 0x1A
            peer.key[5] = 0xE1
            peer.flags = PEER_FLAG_SEEDING if (n & 3) == 0 else 0
            peer.from_sync = 0
            # As a handler does: the hash's group lock around the store and the reply.
            g = store_lock(st, hash)
            if store_announce(st, hash, &peer, &res) == OT_OK and write_reply:
                write_http_announce(buf, res.torrent, OT_NUMWANT_DEFAULT, OT_ANNOUNCE_INTERVAL, &g.rng)
            store_unlock(st, g)
    elapsed = time.perf_counter() - started
    return elapsed
