# Access-list lookups and network permission checks (docs/compatibility.md,
# "Access lists", "Defaults", "Peer address: proxies and ip=").

from libc.string cimport memcmp


cdef bint hashlist_contains(const ot_hashlist *l, const uint8_t *hash) noexcept nogil:
    cdef size_t lo = 0, hi = l.count, mid
    cdef int c
    while lo < hi:
        mid = (lo + hi) >> 1
        c = memcmp(l.hashes + mid * OT_HASH_SIZE, hash, OT_HASH_SIZE)
        if c < 0:
            lo = mid + 1
        elif c > 0:
            hi = mid
        else:
            return True
    return False


cdef bint access_allows(const ot_access *a, const uint8_t *hash) noexcept nogil:
    """May this hash be announced? The dynamic sets refine the file's list:
    a hash deleted through the fifo is out, one added is in."""
    cdef bint listed
    if a.mode == OT_ACCESS_OPEN:
        return True
    if hashlist_contains(&a.deleted, hash):
        listed = False
    elif hashlist_contains(&a.added, hash):
        listed = True
    else:
        listed = hashlist_contains(&a.list, hash)
    return listed if a.mode == OT_ACCESS_WHITE else not listed


cdef inline bint _prefix_match(const uint8_t *a, const uint8_t *b, uint32_t bits) noexcept nogil:
    cdef uint32_t full = bits >> 3, rest = bits & 7
    cdef uint8_t mask
    if full and memcmp(a, b, full) != 0:
        return False
    if rest:
        mask = <uint8_t>(0xFF << (8 - rest))
        return (a[full] & mask) == (b[full] & mask)
    return True


cdef uint8_t access_perms(const ot_access *a, const uint8_t *addr16) noexcept nogil:
    """The union of the permissions of every network holding this address."""
    cdef uint8_t perms = 0
    cdef size_t i
    for i in range(a.net_count):
        if _prefix_match(a.nets[i].addr, addr16, a.nets[i].bits):
            perms |= a.nets[i].perms
    return perms
