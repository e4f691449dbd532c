# Live sync, the receiving side (see livesync.pxd): datagrams from blessed
# cluster nodes applied through the tracker like announces, never sent on.

from libc.string cimport memcmp, memcpy


cdef bint livesync_tag_ok(ot_worker *w, const uint8_t *pkt, size_t n) noexcept nogil:
    """A keyed packet's last 8 bytes are the tag of the rest under our key,
    or under the one before it while that is still taken: at least one send
    interval after the reload (monotonic seconds are whole: up to one more)."""
    cdef uint64_t tag = ot_sip_load_le64(pkt + n - OT_SYNC_MAC)
    if ot_siphash24(w.t.sync.key[0], pkt, n - OT_SYNC_MAC) == tag:
        return True
    return w.mono <= w.t.sync.old_key_until and ot_siphash24(w.t.sync.key[1], pkt, n - OT_SYNC_MAC) == tag


cdef bint livesync_fresh(ot_worker *w, uint32_t id, uint64_t seq) noexcept nogil:
    """Whether a keyed packet (tag checked) is new: its time within
    OT_SYNC_FRESH seconds of ours, its sequence above its sender's highest
    or one of the OT_SYNC_WINDOW below that not taken yet. A sender not in
    the table takes a free slot or the one heard from longest ago."""
    cdef int64_t secs = <int64_t>(seq >> 32)
    cdef ot_sync_sender *s = NULL
    cdef ot_sync_sender *victim = NULL
    cdef ot_sync_sender *e
    cdef uint64_t d
    cdef int i
    if secs < w.now - OT_SYNC_FRESH or secs > w.now + OT_SYNC_FRESH:
        return False
    for i in range(OT_SYNC_SENDERS):
        e = &w.t.sync.senders[i]
        if e.used and e.id == id:
            s = e
            break
        if victim == NULL or (victim.used and (not e.used or e.heard < victim.heard)):
            victim = e
    if s == NULL:
        s = victim
        s.used = 1
        s.id = id
        s.top = seq
        s.seen = 1
    elif seq > s.top:
        d = seq - s.top
        s.seen = (s.seen << d) | 1 if d < OT_SYNC_WINDOW else 1
        s.top = seq
    else:
        d = s.top - seq
        if d >= OT_SYNC_WINDOW or (s.seen >> d) & 1:
            return False
        s.seen |= (<uint64_t>1) << d
    s.heard = w.mono
    return True


cdef void livesync_apply(ot_worker *w, const uint8_t *pkt, size_t n, int family, size_t header) noexcept nogil:
    """Apply a verified packet's records (after header bytes, n of them in
    all): stops remove, the rest add or update without an answer and are
    never sent on."""
    cdef size_t rec = OT_SYNC_REC6 if family else OT_SYNC_REC4
    cdef size_t keylen, i
    cdef const uint8_t *r
    cdef ot_peer_in peer
    cdef ot_announce_result res
    cdef ot_group *g
    cdef int rc
    if (n - header) % rec:
        # A record cut off at the end: the complete ones before it are good,
        # as the C original applies them; the stub counts as a bad packet.
        w.t.sync.packets_bad += 1
        n -= (n - header) % rec
        if n == header:
            return
    keylen = ot_key_size(family)
    w.t.sync.packets_received += 1
    i = header
    while i < n:
        r = pkt + i
        peer.family = <uint8_t>family
        memcpy(peer.key, r + OT_HASH_SIZE, keylen)
        peer.flags = r[OT_HASH_SIZE + keylen]
        peer.from_sync = 1
        g = store_lock(w.t.store, r)
        if peer.flags & PEER_FLAG_STOPPED:
            store_stop(w.t.store, r, &peer)
            store_unlock(w.t.store, g)
        else:
            rc = tracker_announce(w, r, &peer, &res)
            store_unlock(w.t.store, g)
            if rc == OT_OK:
                tracker_announced(w, r, &peer, NULL, &res)
        w.ctr.syncs += 1
        i += rec


cdef void on_livesync(ot_worker *w, int32_t fd) noexcept nogil:
    cdef uint8_t pkt[2048]
    cdef sockaddr_in6 sa
    cdef socklen_t salen
    cdef ssize_t n
    cdef uint8_t addr16[16]
    cdef uint16_t port
    cdef uint32_t kind
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
        kind = ot_load_be32(pkt + 4)
        if kind <= 1:
            if w.t.sync.keyed and not w.t.sync.accept_unsigned:
                w.t.sync.packets_unsigned += 1
                continue
            livesync_apply(w, pkt, <size_t>n, <int>kind, OT_SYNC_HEADER)
        elif w.t.sync.keyed and <uint32_t>(kind - <uint32_t>OT_SYNC_KEYED) <= 1:
            # the tag first: nothing of the packet counts before it is checked
            if <size_t>n < OT_SYNC_KEYED_HEADER + OT_SYNC_MAC or not livesync_tag_ok(w, pkt, <size_t>n):
                w.t.sync.packets_bad_mac += 1
            elif not livesync_fresh(w, ot_load_be32(pkt), ot_load_be64(pkt + OT_SYNC_HEADER)):
                w.t.sync.packets_replay += 1
            elif <size_t>n > OT_SYNC_KEYED_HEADER + OT_SYNC_MAC:
                livesync_apply(w, pkt, <size_t>n - OT_SYNC_MAC, <int>(kind - OT_SYNC_KEYED), OT_SYNC_KEYED_HEADER)
        else:
            w.t.sync.packets_bad += 1       # unknown type (keyed ones without a key: as a C node)
