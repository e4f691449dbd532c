# BEP 15 over UDP as opentracker speaks it (docs/compatibility.md, "UDP (BEP
# 15)"), with connection ids as "UDP connection ids" there says. Offsets are
# named in udp.pxd; reply bodies are written by writers.pyx.
#
# Connection id: SipHash-2-4 under a random per-process key of the client's
# 16-byte address (IPv4 as IPv4-mapped) and the number of the current time
# window, big-endian. An id is accepted during its window and the next one,
# so it lives 1-2 windows (default window 3600 s), and a spoofed source
# cannot get one without seeing our reply.

from libc.string cimport memcpy


cdef uint64_t BEP15_PROTOCOL_ID = 0x41727101980ULL
cdef const char *OT_CONNID_MISMATCH = b"Connection ID missmatch.\0"   # the original's spelling and NUL
cdef size_t OT_CONNID_MISMATCH_LEN = 25


cdef uint64_t connid_for(ot_worker *w, const uint8_t *addr16, int64_t window) noexcept nogil:
    cdef uint8_t msg[24]
    memcpy(msg, addr16, 16)
    ot_store_be64(msg + 16, <uint64_t>window)
    return ot_siphash24(w.t.connid_key, msg, 24)


cdef inline int64_t _window(ot_worker *w) noexcept nogil:
    return w.now // w.t.connid_window if w.t.connid_window > 0 else 0


cdef bint connid_valid(ot_worker *w, const uint8_t *pkt, const uint8_t *addr16) noexcept nogil:
    """Does the packet's id belong to this address, now or in the previous
    window? Each id is compared as one 64-bit word, never byte by byte; the
    previous window's id is only computed when the current one differs."""
    cdef uint64_t got = ot_load_be64(pkt + BEP15_CONNECTION_ID)
    cdef int64_t window = _window(w)
    return got == connid_for(w, addr16, window) or got == connid_for(w, addr16, window - 1)


cdef size_t udp_respond(ot_worker *w, const uint8_t *pkt, size_t n, const uint8_t *addr16,
                        uint8_t *out) noexcept nogil:
    """The reply to one datagram written to out (OT_UDP_OUT_MAX bytes), or 0
    for silence: short or unknown packets, clients' own error packets, wrong
    protocol ids and short announces are dropped without a word."""
    cdef uint32_t action, tid
    cdef int family = addr_family(addr16)
    w.ctr.udp_datagrams[family] += 1
    if n < BEP15_HEADER:
        return 0
    action = ot_load_be32(pkt + BEP15_ACTION)
    if action > BEP15_SCRAPE:
        return 0
    tid = ot_load_be32(pkt + BEP15_TRANSACTION_ID)
    if action != BEP15_CONNECT and not connid_valid(w, pkt, addr16):
        w.ctr.udp_mismatches += 1
        return udp_error(out, tid, OT_CONNID_MISMATCH, OT_CONNID_MISMATCH_LEN)
    if action == BEP15_CONNECT:
        if ot_load_be64(pkt + BEP15_CONNECTION_ID) != BEP15_PROTOCOL_ID:
            return 0
        w.ctr.udp_connects[family] += 1
        return write_udp_connect(out, tid, connid_for(w, addr16, _window(w)))
    if action == BEP15_ANNOUNCE:
        if n < BEP15_ANNOUNCE_SIZE:
            return 0
        if not rate_allows(w, addr16):
            return udp_error(out, tid, OT_RATE_REFUSAL, OT_RATE_REFUSAL_LEN)
        w.ctr.udp_announces[family] += 1
        return _udp_announce(w, pkt, addr16, tid, out)
    if w.shed_level >= SHED_LEVEL_SCRAPES:
        w.ctr.shed[SHED_UDP_SCRAPE] += 1
        return 0                      # silence: docs/shedding.md, "UDP: silence"
    if not rate_allows(w, addr16):
        return udp_error(out, tid, OT_RATE_REFUSAL, OT_RATE_REFUSAL_LEN)
    w.ctr.udp_scrapes[family] += 1
    return _udp_scrape(w, pkt, n, tid, out)


cdef size_t _udp_announce(ot_worker *w, const uint8_t *pkt, const uint8_t *addr16, uint32_t tid,
                          uint8_t *out) noexcept nogil:
    cdef ot_peer_in peer
    cdef ot_announce_result res
    cdef ot_torrent *t
    cdef const uint8_t *hash = pkt + BEP15_INFO_HASH
    cdef uint32_t event = ot_load_be32(pkt + BEP15_EVENT)
    cdef ot_group *g
    cdef size_t n = 0
    cdef int rc
    peer_from_addr(&peer, addr16, ot_load_be16(pkt + BEP15_PORT))
    # The reply is written under the hash's group lock, the rest after it.
    g = store_lock(w.t.store, hash)
    if event == BEP15_EVENT_STOPPED:
        t = tracker_stop(w, hash, &peer)
        n = write_udp_announce(out, tid, t, peer.family, 0, interval_base(w.t), &g.rng)
        store_unlock(w.t.store, g)
        tracker_stopped(w, hash, &peer)
        return n
    if ot_load_be64(pkt + BEP15_LEFT) == 0:
        peer.flags |= PEER_FLAG_SEEDING
    if event == BEP15_EVENT_COMPLETED:
        peer.flags |= PEER_FLAG_COMPLETED
    if shed_newcomer(w, hash, &peer):
        store_unlock(w.t.store, g)
        w.ctr.shed[SHED_UDP_ANNOUNCE] += 1
        return 0
    rc = tracker_announce(w, hash, &peer, &res)
    if rc == OT_OK:
        n = write_udp_announce(out, tid, res.torrent, peer.family, ot_load_be32(pkt + BEP15_NUMWANT),
                               res.interval, &g.rng)
    store_unlock(w.t.store, g)
    if rc == OT_OK:
        tracker_announced(w, hash, &peer, NULL, &res)
        return n
    if rc == OT_REFUSED_ACCESS:
        # The original's refusal: the bare 8-byte header of an announce reply.
        ot_store_be32(out, BEP15_ANNOUNCE)
        ot_store_be32(out + 4, tid)
        return BEP15_REPLY_HEADER
    return udp_error(out, tid, OT_MEMORY_REFUSAL, OT_MEMORY_REFUSAL_LEN)


cdef size_t _udp_scrape(ot_worker *w, const uint8_t *pkt, size_t n, uint32_t tid, uint8_t *out) noexcept nogil:
    """Up to 75 hashes; a trailing partial hash counts as one and answers
    zeros (the original read stale buffer bytes there)."""
    cdef size_t bytes_ = n - BEP15_SCRAPE_HASHES
    cdef size_t full = bytes_ // OT_HASH_SIZE
    cdef size_t count = (bytes_ + OT_HASH_SIZE - 1) // OT_HASH_SIZE
    if count > OT_UDP_SCRAPE_MAX:
        count = OT_UDP_SCRAPE_MAX
    if full > count:
        full = count
    return write_udp_scrape(out, tid, w.t.store, pkt + BEP15_SCRAPE_HASHES, <uint32_t>full, <uint32_t>count)


cdef size_t udp_error(uint8_t *out, uint32_t tid, const char *message, size_t n) noexcept nogil:
    """action 3 | transaction id | message (BEP 15 error)."""
    ot_store_be32(out, BEP15_ERROR)
    ot_store_be32(out + 4, tid)
    memcpy(out + BEP15_REPLY_HEADER, message, n)
    return BEP15_REPLY_HEADER + n
