# Client and peer addresses. The core keeps every address in one 16-byte
# form, IPv4 as IPv4-mapped (::ffff:a.b.c.d), so one table, one hash and one
# comparison serve both families; a peer record keeps the wire form (4 or 16
# bytes and the port). The helpers that convert between them live here and
# nowhere else.

from libc.stdint cimport uint8_t, uint16_t
from libc.string cimport memcpy, memset


cdef inline bint addr_is_v4mapped(const uint8_t *a) noexcept nogil:
    return (a[0] | a[1] | a[2] | a[3] | a[4] | a[5] | a[6] | a[7] | a[8] | a[9]) == 0 \
        and a[10] == 0xFF and a[11] == 0xFF


cdef inline int addr_family(const uint8_t *addr16) noexcept nogil:
    """OT_FAMILY_V4 (0) for IPv4-mapped addresses, OT_FAMILY_V6 (1) otherwise:
    the index of per-family counters and peer lists."""
    return 0 if addr_is_v4mapped(addr16) else 1


cdef inline void addr_set_v4(uint8_t *addr16, const void *v4) noexcept nogil:
    """The 16-byte form of a 4-byte IPv4 address (network order)."""
    memset(addr16, 0, 10)
    addr16[10] = 0xFF
    addr16[11] = 0xFF
    memcpy(addr16 + 12, v4, 4)


cdef inline void peer_from_addr(ot_peer_in *p, const uint8_t *addr16, uint16_t port) noexcept nogil:
    """Fill address, port and family from a 16-byte address; IPv4-mapped
    addresses are IPv4 peers."""
    if addr_is_v4mapped(addr16):
        p.family = OT_FAMILY_V4
        memcpy(p.key, addr16 + 12, 4)
        p.key[4] = <uint8_t>(port >> 8)
        p.key[5] = <uint8_t>port
    else:
        p.family = OT_FAMILY_V6
        memcpy(p.key, addr16, 16)
        p.key[16] = <uint8_t>(port >> 8)
        p.key[17] = <uint8_t>port
    p.flags = 0
    p.from_sync = 0


cdef inline void addr_of_peer(uint8_t *addr16, const ot_peer_in *p) noexcept nogil:
    """The 16-byte form of a peer's address."""
    if p.family == OT_FAMILY_V4:
        addr_set_v4(addr16, p.key)
    else:
        memcpy(addr16, p.key, 16)
