# Reply writers: bencoded HTTP bodies and BEP 15 UDP payloads, written into a
# caller's buffer. Byte layouts are in docs/compatibility.md ("HTTP", "UDP
# (BEP 15)"); each writer states the most it may write, and callers hand it at
# least that much.

from libc.string cimport memcpy
from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef inline uint8_t *put_raw(uint8_t *p, const char *s, size_t n) noexcept nogil:
    memcpy(p, s, n)
    return p + n


cdef uint8_t *put_uint(uint8_t *p, uint64_t v) noexcept nogil:
    """Decimal digits of v (at most 20 bytes)."""
    cdef uint8_t tmp[20]
    cdef int n = 0
    while True:
        tmp[n] = <uint8_t>(c'0' + v % 10)
        n += 1
        v //= 10
        if v == 0:
            break
    while n:
        n -= 1
        p[0] = tmp[n]
        p += 1
    return p


cdef uint8_t *put_hex(uint8_t *p, uint64_t v) noexcept nogil:
    """Lower-case hex digits of v, no leading zeros (a chunk size line)."""
    cdef const char *digits = b"0123456789abcdef"
    cdef int shift = 60
    while shift > 0 and (v >> shift) == 0:
        shift -= 4
    while shift >= 0:
        p[0] = <uint8_t>digits[(v >> shift) & 15]
        p += 1
        shift -= 4
    return p


cdef inline uint8_t *put_bint(uint8_t *p, uint64_t v) noexcept nogil:
    """Bencoded non-negative integer: i<digits>e (at most 22 bytes)."""
    p[0] = c'i'
    p = put_uint(p + 1, v)
    p[0] = c'e'
    return p + 1


cdef inline uint8_t *put_blen(uint8_t *p, uint64_t n) noexcept nogil:
    """Bencoded string length prefix: <digits>: (at most 21 bytes)."""
    p = put_uint(p, n)
    p[0] = c':'
    return p + 1


cdef inline uint8_t *put_cstr(uint8_t *p, const char *text) noexcept nogil:
    """A NUL-terminated literal (the long fixed texts of everything and
    prometheus, where counting bytes by hand would be error-prone)."""
    cdef size_t n = strlen(text)
    memcpy(p, text, n)
    return p + n


cdef const char *_HEX_UPPER = b"0123456789ABCDEF"
cdef const char *_HEX_LOWER = b"0123456789abcdef"


cdef inline uint8_t *put_hex_upper(uint8_t *p, const uint8_t *hash) noexcept nogil:
    cdef int i
    for i in range(OT_HASH_SIZE):
        p[0] = _HEX_UPPER[hash[i] >> 4]
        p[1] = _HEX_UPPER[hash[i] & 15]
        p += 2
    return p


cdef uint8_t *put_url_hash(uint8_t *p, const uint8_t *hash) noexcept nogil:
    """libowfat's fmt_urlencoded: letters, digits and $/.=~-_ stay, the rest
    is %xx in lower case (the tpbs url format)."""
    cdef int i
    cdef uint8_t c
    for i in range(OT_HASH_SIZE):
        c = hash[i]
        if (c'0' <= c <= c'9') or (c'A' <= c <= c'Z') or (c'a' <= c <= c'z') or c in b"$/.=~-_":
            p[0] = c
            p += 1
        else:
            p[0] = c'%'
            p[1] = _HEX_LOWER[c >> 4]
            p[2] = _HEX_LOWER[c & 15]
            p += 3
    return p


cdef inline uint8_t *put_be32(uint8_t *p, uint32_t v) noexcept nogil:
    ot_store_be32(p, v)
    return p + 4


cdef void announce_split(const ot_torrent *t, uint32_t numwant, uint32_t *want4,
                         uint32_t *want6) noexcept nogil:
    """How many IPv4 and IPv6 peers an HTTP answer carries: all of both when
    they fit, else up to a quarter of numwant from each family and the rest in
    proportion to what each family has left (current upstream's rule)."""
    cdef uint32_t have4 = 0 if t.peers[0] == NULL else t.peers[0].size
    cdef uint32_t have6 = 0 if t.peers[1] == NULL else t.peers[1].size
    cdef uint32_t a4 = have4, a6 = have6, left, left4, left6
    cdef uint64_t pct4 = 0, pct6 = 0
    if have4 + have6 > numwant:
        if numwant // 4 <= a4:
            a4 = numwant // 4
        if numwant // 4 <= a6:
            a6 = numwant // 4
        left = numwant - (a4 + a6)
        left4 = have4 - a4
        left6 = have6 - a6
        if left4 + left6:
            pct4 = (1024 * <uint64_t>left4) // (left4 + left6)
            pct6 = (1024 * <uint64_t>left6) // (left4 + left6)
        a4 += <uint32_t>((left * pct4) // 1024)
        a6 += <uint32_t>((left * pct6) // 1024)
        # Rounding can leave one slot free.
        if a4 + a6 < numwant and a6 < have6:
            a6 += 1
        if a4 + a6 < numwant and a4 < have4:
            a4 += 1
    want4[0] = a4
    want6[0] = a6


cdef size_t write_http_announce(uint8_t *buf, const ot_torrent *t, uint32_t numwant,
                                uint32_t nominal, ot_rng *rng) noexcept nogil:
    """The announce success body (docs/compatibility.md, "Announce answer"
    and "Dual stack"): `peers` always present, `peers6` only when it carries
    peers; the interval drawn around `nominal` seconds (ot_interval). numwant
    <= 200 and nominal < 2^32, so at most OT_ANNOUNCE_BODY_MAX bytes."""
    cdef uint32_t seeders = ot_torrent_seeders(t), peers = ot_torrent_peers(t)
    cdef uint32_t interval = ot_interval(rng, nominal), want4, want6
    cdef uint8_t *p = buf
    announce_split(t, numwant, &want4, &want6)
    p = put_raw(p, b"d8:complete", 11)
    p = put_bint(p, seeders)
    p = put_raw(p, b"10:downloaded", 13)
    p = put_bint(p, t.completed)
    p = put_raw(p, b"10:incomplete", 13)
    p = put_bint(p, peers - seeders)
    p = put_raw(p, b"8:interval", 10)
    p = put_bint(p, interval)
    p = put_raw(p, b"12:min interval", 15)
    p = put_bint(p, interval // 2)
    p = put_raw(p, b"5:peers", 7)
    p = put_blen(p, want4 * OT_PEER4_KEY)
    p = peers_write(p, t.peers[0], OT_FAMILY_V4, want4, rng)
    if want6:
        p = put_raw(p, b"6:peers6", 8)
        p = put_blen(p, want6 * OT_PEER6_KEY)
        p = peers_write(p, t.peers[1], OT_FAMILY_V6, want6, rng)
    p[0] = c'e'
    return <size_t>(p + 1 - buf)


cdef size_t write_http_stopped(uint8_t *buf, const ot_torrent *t, uint32_t nominal,
                               ot_rng *rng) noexcept nogil:
    """The event=stopped body (docs/compatibility.md, "event=stopped"): counts
    after removal (0/0 for an unknown torrent, t == NULL), no downloaded key,
    empty peers. At most 150 bytes."""
    cdef uint32_t seeders = 0, peers = 0
    cdef uint32_t interval = ot_interval(rng, nominal)
    cdef uint8_t *p = buf
    if t != NULL:
        seeders = ot_torrent_seeders(t)
        peers = ot_torrent_peers(t)
    p = put_raw(p, b"d8:complete", 11)
    p = put_bint(p, seeders)
    p = put_raw(p, b"10:incomplete", 13)
    p = put_bint(p, peers - seeders)
    p = put_raw(p, b"8:interval", 10)
    p = put_bint(p, interval)
    p = put_raw(p, b"12:min interval", 15)
    p = put_bint(p, interval // 2)
    p = put_raw(p, b"5:peers0:e", 10)
    return <size_t>(p - buf)


cdef inline uint8_t *write_scrape_entry(uint8_t *p, const ot_torrent *t) noexcept nogil:
    """One `20:<hash>d8:complete..e` entry of a scrape or full scrape body
    (docs/compatibility.md, "Scrape"): at most 23 + 3 * 22 + 35 = 124 bytes."""
    cdef uint32_t seeders = ot_torrent_seeders(t), peers = ot_torrent_peers(t)
    p = put_raw(p, b"20:", 3)
    p = put_raw(p, <const char *>t.hash, OT_HASH_SIZE)
    p = put_raw(p, b"d8:complete", 11)
    p = put_bint(p, seeders)
    p = put_raw(p, b"10:downloaded", 13)
    p = put_bint(p, t.completed)
    p = put_raw(p, b"10:incomplete", 13)
    p = put_bint(p, peers - seeders)
    p[0] = c'e'
    return p + 1


cdef enum:
    OT_SCRAPE_ENTRY_MAX = 124
    # d5:filesd + 64 entries + ee
    OT_SCRAPE_BODY_MAX = 9 + OT_MAXMULTISCRAPE * OT_SCRAPE_ENTRY_MAX + 2


cdef size_t write_http_scrape(uint8_t *buf, ot_store *st, const uint8_t *hashes,
                              uint32_t count) noexcept nogil:
    """A scrape body for `count` (<= 64) hashes in request order; unknown
    hashes are left out, repeats repeated. At most OT_SCRAPE_BODY_MAX bytes."""
    cdef uint8_t *p = put_raw(buf, b"d5:filesd", 9)
    cdef ot_torrent *t
    cdef ot_group *g
    cdef uint32_t i
    for i in range(count):
        g = store_lock(st, hashes + i * OT_HASH_SIZE)
        t = store_scrape(st, hashes + i * OT_HASH_SIZE)
        if t != NULL:
            p = write_scrape_entry(p, t)
        store_unlock(st, g)
    p = put_raw(p, b"ee", 2)
    return <size_t>(p - buf)


cdef size_t write_failure(uint8_t *buf, const char *reason, size_t n) noexcept nogil:
    """d14:failure reason<n>:<reason>e: at most n + 42 bytes."""
    cdef uint8_t *p = put_raw(buf, b"d14:failure reason", 18)
    p = put_blen(p, n)
    p = put_raw(p, reason, n)
    p[0] = c'e'
    return <size_t>(p + 1 - buf)


# ---------------------------------------------------------------- UDP (BEP 15)

cdef enum:
    # 20-byte header + 200 IPv4 peers (1220) or 66 IPv6 peers (1208)
    OT_UDP_ANNOUNCE_MAX = 1220
    OT_UDP_SCRAPE_REPLY_MAX = 8 + OT_UDP_SCRAPE_MAX * 12


cdef size_t write_udp_announce(uint8_t *buf, uint32_t transaction_id, const ot_torrent *t,
                               int family, uint32_t numwant, uint32_t nominal, ot_rng *rng) noexcept nogil:
    """action 1 | transaction id | interval | leechers | seeders | peers of the
    requester's family (200 IPv4 or 66 IPv6 at most). t == NULL (a stop of an
    unknown torrent) gives zero counts. At most OT_UDP_ANNOUNCE_MAX bytes."""
    cdef uint32_t seeders = 0, peers = 0
    cdef uint32_t cap = OT_UDP_PEERS_V6 if family else OT_UDP_PEERS_V4
    cdef uint8_t *p = buf
    if t != NULL:
        seeders = ot_torrent_seeders(t)
        peers = ot_torrent_peers(t)
    p = put_be32(p, BEP15_ANNOUNCE)
    p = put_be32(p, transaction_id)
    p = put_be32(p, ot_interval(rng, nominal))
    p = put_be32(p, peers - seeders)
    p = put_be32(p, seeders)
    if t != NULL and numwant:
        p = peers_write(p, t.peers[family], family, numwant if numwant < cap else cap, rng)
    return <size_t>(p - buf)


cdef size_t write_udp_connect(uint8_t *buf, uint32_t transaction_id, uint64_t connection_id) noexcept nogil:
    """action 0 | transaction id | connection id: 16 bytes."""
    cdef uint8_t *p = put_be32(buf, BEP15_CONNECT)
    p = put_be32(p, transaction_id)
    ot_store_be64(p, connection_id)
    return 16


cdef size_t write_udp_scrape(uint8_t *buf, uint32_t transaction_id, ot_store *st,
                             const uint8_t *hashes, uint32_t full, uint32_t count) noexcept nogil:
    """action 2 | transaction id | (seeders, completed, leechers) for `count`
    (<= 75) hashes in request order: the first `full` are looked up, unknown
    ones and the rest (a trailing partial hash) answer zeros."""
    cdef uint8_t *p = buf
    cdef ot_torrent *t
    cdef ot_group *g
    cdef uint32_t i, seeders, peers, completed
    p = put_be32(p, BEP15_SCRAPE)
    p = put_be32(p, transaction_id)
    for i in range(count):
        seeders = peers = completed = 0
        if i < full:
            g = store_lock(st, hashes + i * OT_HASH_SIZE)
            t = store_scrape(st, hashes + i * OT_HASH_SIZE)
            if t != NULL:
                seeders = ot_torrent_seeders(t)
                peers = ot_torrent_peers(t)
                completed = t.completed
            store_unlock(st, g)
        p = put_be32(p, seeders)
        p = put_be32(p, completed)
        p = put_be32(p, peers - seeders)
    return <size_t>(p - buf)
