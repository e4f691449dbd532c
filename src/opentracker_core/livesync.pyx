# Live-sync sending and receiving, inside the loop (see livesync.pxd).

from libc.string cimport memcmp, memcpy, memset


cdef inline uint8_t *_sync_buf(ot_server *s, int family) noexcept nogil:
    if family:
        return &s.sync.buf6[0]
    return &s.sync.buf4[0]


cdef void livesync_flush(ot_server *s, int family) noexcept nogil:
    cdef size_t n = s.sync.len[family]
    s.sync.flushed_at[family] = s.mono
    if n <= OT_SYNC_HEADER:
        return
    s.sync.len[family] = 0
    if sendto(s.sync.out_fd, _sync_buf(s, family), n, MSG_DONTWAIT, <const sockaddr *>&s.sync.group,
              sizeof(sockaddr_in)) >= 0:
        s.sync.packets_sent += 1


cdef void livesync_tell(ot_server *s, const uint8_t *hash, const ot_peer_in *p, uint8_t flags) noexcept nogil:
    """Queue one peer record for the cluster; sent as soon as the datagram
    cannot take another record of its family, or at the latest sync.max_age
    seconds later."""
    cdef int family = p.family
    cdef uint8_t *buf = _sync_buf(s, family)
    cdef size_t rec = OT_SYNC_REC6 if family else OT_SYNC_REC4
    cdef size_t keylen = ot_key_size(family)
    cdef uint8_t *r
    if s.sync.out_fd < 0:
        return
    # The bound is checked where the write happens: whatever sent it here,
    # a record never lands past the datagram.
    if s.sync.len[family] + rec > OT_SYNC_BUF:
        livesync_flush(s, family)
    if s.sync.len[family] == 0:
        memcpy(buf, &s.tracker_id, 4)
        ot_store_be32(buf + 4, <uint32_t>family)
        s.sync.len[family] = OT_SYNC_HEADER
    r = buf + s.sync.len[family]
    memcpy(r, hash, OT_HASH_SIZE)
    memcpy(r + OT_HASH_SIZE, p.key, keylen)
    r[OT_HASH_SIZE + keylen] = flags
    r[OT_HASH_SIZE + keylen + 1] = 0
    s.sync.len[family] += rec
    s.sync.records_sent += 1
    # Full: no room for one more record. For IPv4 that is 52 records (1464
    # bytes), the C original's "at least 1452 bytes"; for IPv6 36 records
    # (1448 bytes), where that rule would let the 37th run past the buffer.
    if s.sync.len[family] + rec > OT_SYNC_BUF:
        livesync_flush(s, family)


cdef void livesync_tick(ot_server *s) noexcept nogil:
    cdef int family
    if s.sync.out_fd < 0:
        return
    for family in range(2):
        if s.sync.len[family] > OT_SYNC_HEADER and s.mono - s.sync.flushed_at[family] >= s.sync.max_age:
            livesync_flush(s, family)


cdef void livesync_apply(ot_server *s, const uint8_t *pkt, size_t n) noexcept nogil:
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
        s.sync.packets_bad += 1
        return
    if (n - OT_SYNC_HEADER) % rec:
        # A record cut off at the end: the complete ones before it are good,
        # as the C original applies them; the stub counts as a bad packet.
        s.sync.packets_bad += 1
        n -= (n - OT_SYNC_HEADER) % rec
        if n == OT_SYNC_HEADER:
            return
    keylen = ot_key_size(family)
    s.sync.packets_received += 1
    i = OT_SYNC_HEADER
    while i < n:
        r = pkt + i
        peer.family = <uint8_t>family
        memcpy(peer.key, r + OT_HASH_SIZE, keylen)
        peer.flags = r[OT_HASH_SIZE + keylen]
        peer.from_sync = 1
        if peer.flags & PEER_FLAG_STOPPED:
            store_stop(s.store, r, &peer)
        else:
            tracker_announce(s, r, &peer, NULL, &res)
        s.ctr.syncs += 1
        i += rec


cdef void on_livesync(ot_server *s, int32_t fd) noexcept nogil:
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
        if not (access_perms(&s.access, addr16) & OT_PERM_SYNC):
            s.sync.packets_ignored += 1
            continue
        if n <= OT_SYNC_HEADER or <size_t>n > OT_SYNC_BUF:
            s.sync.packets_bad += 1
            continue
        if memcmp(pkt, &s.tracker_id, 4) == 0:
            s.sync.packets_ignored += 1   # our own packet, come back
            continue
        livesync_apply(s, pkt, <size_t>n)
