# BEP 15 over UDP as opentracker speaks it (SPEC.md §4), with connection ids
# per DESIGN.md point 5.
#
# Connection id: SipHash-2-4 under a random per-process key of the client's
# 16-byte address (IPv4 as IPv4-mapped) and the number of the current time
# window, big-endian. An id is accepted during its window and the next one,
# so it lives 1-2 windows (default window 3600 s), and a spoofed source
# cannot get one without seeing our reply.

from libc.string cimport memcpy


cdef uint64_t connid_for(ot_server *s, const uint8_t *addr16, int64_t window) noexcept nogil:
    cdef uint8_t msg[24]
    memcpy(msg, addr16, 16)
    ot_store_be64(msg + 16, <uint64_t>window)
    return ot_siphash24(s.connid_key, msg, 24)


cdef inline int64_t _window(ot_server *s) noexcept nogil:
    return s.now // s.connid_window if s.connid_window > 0 else 0


cdef bint connid_valid(ot_server *s, const uint8_t *pkt, const uint8_t *addr16) noexcept nogil:
    """Does the packet's id belong to this address, now or in the previous
    window? Each id is compared as one 64-bit word, never byte by byte; the
    previous window's id is only computed when the current one differs."""
    cdef uint64_t got = ot_load_be64(pkt)
    cdef int64_t w = _window(s)
    return got == connid_for(s, addr16, w) or got == connid_for(s, addr16, w - 1)


cdef size_t udp_respond(ot_server *s, const uint8_t *pkt, size_t n, const uint8_t *addr16,
                        uint8_t *out) noexcept nogil:
    """The reply to one datagram written to out (OT_UDP_OUT_MAX bytes), or 0
    for silence: short or unknown packets, clients' own error packets, wrong
    protocol ids and short announces are dropped without a word."""
    cdef uint32_t action, tid, numwant, cap, event, full, count, i, seeders, peers
    cdef bint v6 = not addr_is_v4mapped(addr16)
    cdef ot_peer_in peer
    cdef ot_announce_result res
    cdef ot_torrent *t
    cdef uint8_t *p
    cdef int rc
    if v6:
        s.ctr.udp_datagrams6 += 1
    else:
        s.ctr.udp_datagrams += 1
    if n < 16:
        return 0
    action = ot_load_be32(pkt + 8)
    if action > 2:
        return 0
    tid = ot_load_be32(pkt + 12)
    if action > 0 and not connid_valid(s, pkt, addr16):
        s.ctr.udp_mismatches += 1
        ot_store_be32(out, 3)
        memcpy(out + 4, pkt + 12, 4)
        memcpy(out + 8, b"Connection ID missmatch.\0", 25)
        return 33

    if action == 0:
        if ot_load_be64(pkt) != 0x41727101980ULL:
            return 0
        ot_store_be32(out, 0)
        memcpy(out + 4, pkt + 12, 4)
        ot_store_be64(out + 8, connid_for(s, addr16, _window(s)))
        if v6:
            s.ctr.udp_connects6 += 1
        else:
            s.ctr.udp_connects += 1
        return 16

    if action == 1:
        if n < 98:
            return 0
        if not rate_allows(s, addr16):
            return udp_error(out, tid, OT_RATE_REFUSAL, OT_RATE_REFUSAL_LEN)
        if v6:
            s.ctr.udp_announces6 += 1
        else:
            s.ctr.udp_announces += 1
        # The address field (84) is ignored: the source address is the peer.
        peer_from_addr(&peer, addr16, ot_load_be16(pkt + 96))
        event = ot_load_be32(pkt + 80)
        if event == 3:
            t = tracker_stop(s, pkt + 16, &peer)
            return write_udp_announce(out, tid, t, peer.family, 0, &s.store.rng)
        if (ot_load_be64(pkt + 64)) == 0:
            peer.flags |= PEER_FLAG_SEEDING
        if event == 1:
            peer.flags |= PEER_FLAG_COMPLETED
        rc = tracker_announce(s, pkt + 16, &peer, NULL, &res)
        if rc == OT_OK:
            numwant = ot_load_be32(pkt + 92)
            return write_udp_announce(out, tid, res.torrent, peer.family, numwant, &s.store.rng)
        if rc == OT_REFUSED_ACCESS:
            # The original's refusal: the bare 8-byte header.
            ot_store_be32(out, 1)
            ot_store_be32(out + 4, tid)
            return 8
        return udp_error(out, tid, OT_MEMORY_REFUSAL, OT_MEMORY_REFUSAL_LEN)

    # action == 2: scrape, up to 75 hashes; a trailing partial hash counts as
    # one and answers zeros (the original read stale buffer bytes there).
    if not rate_allows(s, addr16):
        return udp_error(out, tid, OT_RATE_REFUSAL, OT_RATE_REFUSAL_LEN)
    if v6:
        s.ctr.udp_scrapes6 += 1
    else:
        s.ctr.udp_scrapes += 1
    full = <uint32_t>((n - 16) // OT_HASH_SIZE)
    count = <uint32_t>((n - 16 + OT_HASH_SIZE - 1) // OT_HASH_SIZE)
    if count > OT_UDP_SCRAPE_MAX:
        count = OT_UDP_SCRAPE_MAX
    ot_store_be32(out, 2)
    ot_store_be32(out + 4, tid)
    p = out + 8
    for i in range(count):
        t = store_scrape(s.store, pkt + 16 + i * OT_HASH_SIZE) if i < full else NULL
        if t == NULL:
            seeders = peers = 0
            ot_store_be32(p + 4, 0)
        else:
            seeders = ot_torrent_seeders(t)
            peers = ot_torrent_peers(t)
            ot_store_be32(p + 4, t.completed)
        ot_store_be32(p, seeders)
        ot_store_be32(p + 8, peers - seeders)
        p += 12
    return <size_t>(p - out)


cdef size_t udp_error(uint8_t *out, uint32_t tid, const char *message, size_t n) noexcept nogil:
    """action 3 | transaction id | message (BEP 15 error)."""
    ot_store_be32(out, 3)
    ot_store_be32(out + 4, tid)
    memcpy(out + 8, message, n)
    return 8 + n
