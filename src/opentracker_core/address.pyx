# Address conversions that are not one-liners (see address.pxd): socket
# addresses, text in both directions, loopback.

from libc.string cimport memcpy, strlen


cdef void sockaddr_to_addr16(const sockaddr *sa, uint8_t *addr16, uint16_t *port) noexcept nogil:
    cdef const sockaddr_in *v4
    cdef const sockaddr_in6 *v6
    if sa.sa_family == AF_INET:
        v4 = <const sockaddr_in *>sa
        addr_set_v4(addr16, &v4.sin_addr)
        port[0] = ot_load_be16(<const uint8_t *>&v4.sin_port)
    else:
        v6 = <const sockaddr_in6 *>sa
        memcpy(addr16, v6.sin6_addr.s6_addr, 16)
        port[0] = ot_load_be16(<const uint8_t *>&v6.sin6_port)


cdef bint parse_ip_text(const uint8_t *text, ssize_t n, uint8_t *addr16) noexcept nogil:
    """An IPv4 or IPv6 address in text into 16-byte form (IPv4-mapped)."""
    cdef char tmp[OT_IP_TEXT_MAX]
    cdef uint8_t raw[16]
    if n <= 0 or n >= OT_IP_TEXT_MAX:
        return False
    memcpy(tmp, text, n)
    tmp[n] = 0
    if inet_pton(AF_INET, tmp, raw) == 1:
        addr_set_v4(addr16, raw)
        return True
    if inet_pton(AF_INET6, tmp, raw) == 1:
        memcpy(addr16, raw, 16)
        return True
    return False


cdef uint8_t *put_ip_text(uint8_t *p, const uint8_t *addr16) noexcept nogil:
    """Dotted IPv4 for IPv4-mapped addresses, RFC 5952 text otherwise: at
    most INET6_ADDRSTRLEN - 1 (45) bytes."""
    cdef char tmp[OT_IP_TEXT_MAX]
    cdef size_t n
    if addr_is_v4mapped(addr16):
        inet_ntop(AF_INET, addr16 + 12, tmp, OT_IP_TEXT_MAX)
    else:
        inet_ntop(AF_INET6, addr16, tmp, OT_IP_TEXT_MAX)
    n = strlen(tmp)
    memcpy(p, tmp, n)
    return p + n


cdef bint addr_is_loopback(const uint8_t *addr16) noexcept nogil:
    """127.0.0.0/8 or ::1."""
    cdef int i
    if addr_is_v4mapped(addr16):
        return addr16[12] == 127
    for i in range(15):
        if addr16[i] != 0:
            return False
    return addr16[15] == 1
