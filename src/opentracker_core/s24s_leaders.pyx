# s24s's leader lists: the 128 busiest networks of each of its four lists
# (/28, /24, /64, /48), and their text (docs/compatibility.md, "s24s"). Both
# ways of counting (s24s_sort.pyx, s24s_table.pyx) offer every network they
# have counted here, in whatever order they find them.
#
# The original picked leaders in address order with "a strictly higher
# count evicts the lowest", which keeps the 128 first by count, then by
# address. The comparison below says exactly that, so the order the
# networks come in does not change the bytes.

from libc.string cimport memmove, memset


cdef enum:
    S24S_LIMIT = 128
    # The lists, and a network's level in them
    S24S_V4_28 = 0
    S24S_V4_24 = 1
    S24S_V6_64 = 2
    S24S_V6_48 = 3


cdef struct ot_netrec:
    uint64_t key              # the network's prefix bits, right-aligned
    uint64_t count


cdef inline bint _ranks_above(uint64_t count, uint64_t key, const ot_netrec *r) noexcept nogil:
    """Busier first, then the lower address (an empty entry ranks last)."""
    return count > r.count or (count == r.count and key < r.key)


cdef void net_offer(ot_netrec *top, uint64_t key, uint64_t count) noexcept nogil:
    """Into a leader list kept in ascending rank (top[0] the lowest, top[127]
    the busiest), if the newcomer outranks its lowest."""
    cdef int j = 1
    if not _ranks_above(count, key, &top[0]):
        return
    while j < S24S_LIMIT and _ranks_above(count, key, &top[j]):
        j += 1
    j -= 1
    memmove(&top[0], &top[1], j * sizeof(ot_netrec))
    top[j].key = key
    top[j].count = count


cdef uint8_t *_s24s_section(uint8_t *p, const char *title, const ot_netrec *top, int fam,
                            uint32_t shift) noexcept nogil:
    """`Networks, limit /N:` and up to 128 lines `%08zd: <network>`, then an
    empty line. shift turns a key back into address bits."""
    cdef uint8_t addr16[16]
    cdef uint8_t v4[4]
    cdef uint8_t digits[20]
    cdef size_t nd
    cdef int i
    cdef uint64_t net
    p = put_cstr(p, title)
    for i in range(S24S_LIMIT - 1, -1, -1):
        if top[i].count == 0:
            continue
        nd = <size_t>(put_uint(digits, top[i].count) - digits)
        while nd < 8:
            p[0] = c'0'
            p += 1
            nd += 1
        p = put_uint(p, top[i].count)
        p = put_raw(p, b": ", 2)
        net = top[i].key << shift
        if fam == 0:
            ot_store_be32(v4, <uint32_t>net)
            addr_set_v4(addr16, v4)
        else:
            memset(addr16, 0, 16)
            ot_store_be64(addr16, net)
        p = put_ip_text(p, addr16)
        p[0] = c'\n'
        p += 1
    p[0] = c'\n'
    return p + 1


cdef uint8_t *s24s_text(uint8_t *p, ot_netrec (*top)[128]) noexcept nogil:
    """The answer: the IPv4 sections, then the IPv6 ones when some IPv6 peer
    was counted (its /64 is then among the leaders). At most
    4 * (22 + 128 * 62 + 1) bytes."""
    p = _s24s_section(p, b"Networks, limit /28:\n", top[S24S_V4_28], 0, 4)
    p = _s24s_section(p, b"Networks, limit /24:\n", top[S24S_V4_24], 0, 8)
    if top[S24S_V6_64][S24S_LIMIT - 1].count:
        p = _s24s_section(p, b"Networks, limit /64:\n", top[S24S_V6_64], 1, 0)
        p = _s24s_section(p, b"Networks, limit /48:\n", top[S24S_V6_48], 1, 16)
    return p
