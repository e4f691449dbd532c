# Per-address token buckets. An address gets `per_minute` requests at once
# and one more every 60/per_minute seconds. The table is fixed: a new address
# takes a free slot among its probes or the least recently seen one, so a
# busy client keeps its slot while one-off clients come and go.

from libc.string cimport memcmp, memcpy, strlen


cdef inline uint32_t _rate_hash(const uint8_t *addr16) noexcept nogil:
    # FNV-1a over the address; the table index needs spread, not secrecy
    # (an attacker who collides addresses only shares buckets with himself).
    cdef uint32_t h = 2166136261u
    cdef int i
    for i in range(16):
        h = (h ^ addr16[i]) * 16777619u
    return h


cdef bint rate_allows(ot_worker *w, const uint8_t *addr16) noexcept nogil:
    """Take one request from this address's bucket; False when it is empty."""
    cdef ot_ratelimit *r = &w.t.rate
    cdef uint32_t now = <uint32_t>(w.mono if w.mono > 0 else 1)
    cdef uint32_t i, slot, victim = 0, oldest = 0xFFFFFFFFu
    cdef uint64_t tokens, full
    cdef ot_rate_entry *e = NULL
    if r.table == NULL:
        return True
    slot = _rate_hash(addr16)
    ot_lock_take(&r.lock)
    for i in range(OT_RATE_PROBES):
        e = &r.table[(slot + i) & (OT_RATE_SLOTS - 1)]
        if e.seen and memcmp(e.addr, addr16, 16) == 0:
            break
        if e.seen < oldest:
            oldest = e.seen
            victim = (slot + i) & (OT_RATE_SLOTS - 1)
        e = NULL
    full = <uint64_t>r.per_minute * OT_RATE_ONE
    if e == NULL:
        e = &r.table[victim]
        memcpy(e.addr, addr16, 16)
        e.tokens = <uint32_t>full
    else:
        tokens = e.tokens + (<uint64_t>(now - e.seen)) * full // 60
        e.tokens = <uint32_t>(tokens if tokens < full else full)
    e.seen = now
    if e.tokens < OT_RATE_ONE:
        ot_lock_give(&r.lock)
        w.ctr.refused_rate += 1
        return False
    e.tokens -= OT_RATE_ONE
    ot_lock_give(&r.lock)
    return True


# The failure reason (HTTP) and error message (UDP) of a refused request.
cdef const char *OT_RATE_REFUSAL = b"Too many requests from this address; announce less often."
cdef size_t OT_RATE_REFUSAL_LEN = strlen(OT_RATE_REFUSAL)


cdef bint modest_allows(ot_worker *w, const uint8_t *addr16) noexcept nogil:
    """tracker.modest_fullscrapes: one full scrape per address per
    OT_MODEST_SECONDS; the original answers the rest 402 Payment Required."""
    cdef uint32_t now = <uint32_t>(w.mono if w.mono > 0 else 1)
    cdef uint32_t i, slot, victim = 0, oldest = 0xFFFFFFFFu
    cdef ot_rate_entry *e
    if w.t.modest.table == NULL:
        return True
    slot = _rate_hash(addr16)
    for i in range(OT_RATE_PROBES):
        e = &w.t.modest.table[(slot + i) & (OT_MODEST_SLOTS - 1)]
        if e.seen and memcmp(e.addr, addr16, 16) == 0:
            if now - e.seen < OT_MODEST_SECONDS:
                return False
            e.seen = now
            return True
        if e.seen < oldest:
            oldest = e.seen
            victim = (slot + i) & (OT_MODEST_SLOTS - 1)
    e = &w.t.modest.table[victim]
    memcpy(e.addr, addr16, 16)
    e.seen = now
    return True
