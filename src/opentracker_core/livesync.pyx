# Live sync, the sending side (see livesync.pxd): records queued by the
# tracker, flushed by size and by age. Every worker queues into the same two
# datagrams, under sync.lock; a full one is sent under it too (a sendto a
# few dozen announces, one lock no store lock waits on).

from libc.string cimport memcpy


cdef inline uint8_t *_sync_buf(ot_worker *w, int family) noexcept nogil:
    if family:
        return &w.t.sync.buf6[0]
    return &w.t.sync.buf4[0]


cdef inline void _store_le64(uint8_t *p, uint64_t v) noexcept nogil:
    """A tag's bytes as SipHash's reference writes them (little-endian)."""
    cdef int i
    for i in range(8):
        p[i] = <uint8_t>(v >> (8 * i))


cdef void livesync_flush(ot_worker *w, int family) noexcept nogil:
    ot_lock_take(&w.t.sync.lock)
    _livesync_send(w, family)
    ot_lock_give(&w.t.sync.lock)


cdef void _livesync_send(ot_worker *w, int family) noexcept nogil:
    # under sync.lock
    cdef size_t n = w.t.sync.len[family]
    cdef uint8_t *buf = _sync_buf(w, family)
    cdef uint64_t seq
    w.t.sync.flushed_at[family] = w.mono
    if n <= w.t.sync.header:
        return
    w.t.sync.len[family] = 0
    if w.t.sync.keyed:
        # a sequence above every one sent: the wall second on top, so that
        # a restarted sender starts above what it sent before
        seq = (<uint64_t>w.now) << 32
        if seq <= w.t.sync.seq:
            seq = w.t.sync.seq + 1
        w.t.sync.seq = seq
        ot_store_be64(buf + OT_SYNC_HEADER, seq)
        _store_le64(buf + n, ot_siphash24(w.t.sync.key[0], buf, n))
        n += OT_SYNC_MAC
    if sendto(w.t.sync.out_fd, buf, n, MSG_DONTWAIT, <const sockaddr *>&w.t.sync.group,
              sizeof(sockaddr_in)) >= 0:
        w.t.sync.packets_sent += 1


cdef void livesync_tell(ot_worker *w, const uint8_t *hash, const ot_peer_in *p, uint8_t flags) noexcept nogil:
    """Queue one peer record for the cluster; sent as soon as the datagram
    cannot take another record of its family, or at the latest sync.max_age
    seconds later."""
    cdef int family = p.family
    cdef uint8_t *buf = _sync_buf(w, family)
    cdef size_t rec = OT_SYNC_REC6 if family else OT_SYNC_REC4
    cdef size_t keylen = ot_key_size(family)
    cdef uint8_t *r
    if w.t.sync.out_fd < 0:
        return
    ot_lock_take(&w.t.sync.lock)
    # The bound is checked where the write happens: whatever sent it here,
    # a record never lands past the datagram.
    if w.t.sync.len[family] + rec > w.t.sync.room:
        _livesync_send(w, family)
    if w.t.sync.len[family] == 0:
        memcpy(buf, &w.t.tracker_id, 4)
        ot_store_be32(buf + 4, <uint32_t>family + (OT_SYNC_KEYED if w.t.sync.keyed else 0))
        w.t.sync.len[family] = w.t.sync.header
    r = buf + w.t.sync.len[family]
    memcpy(r, hash, OT_HASH_SIZE)
    memcpy(r + OT_HASH_SIZE, p.key, keylen)
    r[OT_HASH_SIZE + keylen] = flags
    r[OT_HASH_SIZE + keylen + 1] = 0
    w.t.sync.len[family] += rec
    w.t.sync.records_sent += 1
    # Full: no room for one more record. For IPv4 that is 52 records (1464
    # bytes), the C original's "at least 1452 bytes"; for IPv6 36 records
    # (1448 bytes), where that rule would let the 37th run past the buffer.
    # Keyed: the same counts, the sequence and the tag taking 16 of the 24
    # bytes left (52 x 28 + 24 = 1480, 36 x 40 + 24 = 1464).
    if w.t.sync.len[family] + rec > w.t.sync.room:
        _livesync_send(w, family)
    ot_lock_give(&w.t.sync.lock)


cdef void livesync_tick(ot_worker *w) noexcept nogil:
    cdef int family
    if w.t.sync.out_fd < 0:
        return
    ot_lock_take(&w.t.sync.lock)
    for family in range(2):
        if w.t.sync.len[family] > w.t.sync.header and w.mono - w.t.sync.flushed_at[family] >= w.t.sync.max_age:
            _livesync_send(w, family)
    ot_lock_give(&w.t.sync.lock)
