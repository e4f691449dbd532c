# Live sync, the receiving side (see livesync.pxd): datagrams from blessed
# cluster nodes applied through the tracker like announces, never sent on.

from libc.string cimport memcmp, memcpy


cdef void livesync_apply(ot_worker *w, const uint8_t *pkt, size_t n) noexcept nogil:
    """Apply a verified packet's records: stops remove, the rest add or
    update without an answer and are never sent on."""
    cdef uint32_t kind = ot_load_be32(pkt + 4)
    cdef int family
    cdef size_t rec, keylen, i
    cdef const uint8_t *r
    cdef ot_peer_in peer
    cdef ot_announce_result res
    if kind == 0:
        family = OT_FAMILY_V4
        rec = OT_SYNC_REC4
    elif kind == 1:
        family = OT_FAMILY_V6
        rec = OT_SYNC_REC6
    else:
        w.t.sync.packets_bad += 1
        return
    if (n - OT_SYNC_HEADER) % rec:
        # A record cut off at the end: the complete ones before it are good,
        # as the C original applies them; the stub counts as a bad packet.
        w.t.sync.packets_bad += 1
        n -= (n - OT_SYNC_HEADER) % rec
        if n == OT_SYNC_HEADER:
            return
    keylen = ot_key_size(family)
    w.t.sync.packets_received += 1
    i = OT_SYNC_HEADER
    while i < n:
        r = pkt + i
        peer.family = <uint8_t>family
        memcpy(peer.key, r + OT_HASH_SIZE, keylen)
        peer.flags = r[OT_HASH_SIZE + keylen]
        peer.from_sync = 1
        if peer.flags & PEER_FLAG_STOPPED:
            store_stop(w.t.store, r, &peer)
        else:
            tracker_announce(w, r, &peer, NULL, &res)
        w.ctr.syncs += 1
        i += rec


cdef void on_livesync(ot_worker *w, int32_t fd) noexcept nogil:
    cdef uint8_t pkt[2048]
    cdef sockaddr_in6 sa
    cdef socklen_t salen
    cdef ssize_t n
    cdef uint8_t addr16[16]
    cdef uint16_t port
    cdef int i
    for i in range(64):
        salen = sizeof(sa)
        # MSG_TRUNC: the real length even when the datagram is larger than pkt
        n = recvfrom(fd, pkt, sizeof(pkt), MSG_DONTWAIT | MSG_TRUNC, <sockaddr *>&sa, &salen)
        if n < 0:
            return
        sockaddr_to_addr16(<sockaddr *>&sa, addr16, &port)
        if not (access_perms(&w.t.access, addr16) & OT_PERM_SYNC):
            w.t.sync.packets_ignored += 1
            continue
        if n <= OT_SYNC_HEADER or <size_t>n > OT_SYNC_BUF:
            w.t.sync.packets_bad += 1
            continue
        if memcmp(pkt, &w.t.tracker_id, 4) == 0:
            w.t.sync.packets_ignored += 1   # our own packet, come back
            continue
        livesync_apply(w, pkt, <size_t>n)
