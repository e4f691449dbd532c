# Swarm store: buckets -> sorted torrent vectors -> packed peer vectors.
#
# Important:
#   * Every pointer into the store (ot_torrent*, peer records) is valid only
#     until the next call that may insert or remove: announce, stop, scrape,
#     clean, restore. Callers write their reply before touching the store again.
#   * All functions are nogil and never raise; failures are status codes.
#   * All memory is PyMem_Raw* and counted in ot_store.mem_*; the counts are
#     exact requested bytes (malloc's own overhead is not included).

from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t


cdef struct ot_peervec:
    # One address family's peers of one torrent, as one heap block: this
    # header followed by `space` records of 8 (IPv4) or 20 (IPv6) bytes,
    # sorted by their compact form (address, then port, network order).
    uint32_t size
    uint32_t space
    uint32_t seeders


cdef struct ot_torrent:
    # Kept inline in the bucket vector; 48 bytes on 64-bit, 36 on 32-bit.
    uint8_t hash[20]
    uint32_t base             # minutes since the epoch of the last announce (or the clean's adjusted value)
    uint32_t completed        # the torrent's "downloaded" counter
    ot_peervec *peers[2]      # per family, NULL while empty


cdef struct ot_bucket:
    ot_torrent *data
    uint32_t size
    uint32_t space


cdef struct ot_rng:
    uint64_t state


cdef struct ot_store:
    ot_bucket *buckets        # OT_BUCKET_COUNT entries
    uint32_t now_minutes
    uint32_t torrent_count
    uint64_t peer_count[2]    # per family, all torrents
    uint64_t seeder_count[2]
    uint64_t mem_limit        # bytes; 0 = no limit
    uint64_t mem_fixed        # the store struct and the bucket array
    uint64_t mem_torrents     # bucket vectors (torrent slots, used and spare)
    uint64_t mem_peers        # peer blocks (headers, records, spare records)
    uint64_t mem_blocks       # heap blocks behind mem_torrents and mem_peers
    uint64_t mem_other        # the server's buffers, rate table, answers in progress
    uint64_t refused_memory   # new torrents refused because of mem_limit (announces, state lines)
    ot_rng rng


cdef struct ot_peer_in:
    # A peer as an announce (or a live-sync record) describes it.
    uint8_t family            # OT_FAMILY_V4 or OT_FAMILY_V6
    uint8_t key[18]           # compact form: 6 bytes for IPv4, 18 for IPv6
    uint8_t flags             # PEER_FLAG_SEEDING | PEER_FLAG_COMPLETED as requested
    uint8_t from_sync         # 1 when applied from a live-sync packet


cdef struct ot_announce_result:
    ot_torrent *torrent       # the updated torrent (see "Important" above)
    uint8_t new_torrent
    uint8_t new_peer
    uint8_t completed         # this announce added one to "downloaded"
    uint8_t unstored          # a new peer answered but not kept: mem_limit reached
    int renew_age             # the peer's age in minutes before this announce; -1 if it is new
    uint8_t *record           # the peer's record (see "Important" above); NULL when not stored
    uint32_t interval         # nominal seconds the answer tells (tracker_announce fills it)


cdef inline uint32_t ot_key_size(int family) noexcept nogil:
    return OT_PEER6_KEY if family else OT_PEER4_KEY


cdef inline uint32_t ot_rec_size(int family) noexcept nogil:
    return OT_PEER6_SIZE if family else OT_PEER4_SIZE


cdef inline uint8_t *ot_peervec_data(ot_peervec *v) noexcept nogil:
    return (<uint8_t *>v) + sizeof(ot_peervec)


cdef inline uint32_t ot_bucket_index(const uint8_t *hash) noexcept nogil:
    return ((<uint32_t>hash[0]) << 4) | (hash[1] >> 4)


cdef inline uint32_t ot_torrent_peers(const ot_torrent *t) noexcept nogil:
    cdef uint32_t n = 0
    if t.peers[0] != NULL:
        n += t.peers[0].size
    if t.peers[1] != NULL:
        n += t.peers[1].size
    return n


cdef inline uint32_t ot_torrent_seeders(const ot_torrent *t) noexcept nogil:
    cdef uint32_t n = 0
    if t.peers[0] != NULL:
        n += t.peers[0].seeders
    if t.peers[1] != NULL:
        n += t.peers[1].seeders
    return n


cdef inline uint32_t rng_next(ot_rng *r) noexcept nogil:
    # splitmix64: fast, tiny state, good enough for peer sampling and intervals.
    cdef uint64_t z
    r.state += 0x9E3779B97F4A7C15ULL
    z = r.state
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return <uint32_t>((z ^ (z >> 31)) >> 32)


cdef inline uint32_t ot_interval(ot_rng *r, uint32_t nominal) noexcept nogil:
    """The interval one answer tells: nominal -/+ a tenth, drawn per answer
    (1620..1979 for the original's 1800, the same draw)."""
    cdef uint32_t tenth = nominal // 10
    if tenth == 0:
        return nominal
    return nominal - tenth + rng_next(r) % (2 * tenth)


cdef inline uint32_t ot_peer_timeout(uint8_t flags) noexcept nogil:
    """Minutes a peer lives without announcing, by the timeout class in its
    flags byte: 45, 68, 90, 113, 135, 158, 180, 203 (class 0 the original's)."""
    return (OT_PEER_TIMEOUT * (2 + (flags & PEER_CLASS_MASK)) + 1) // 2


cdef inline uint8_t ot_timeout_class(uint32_t nominal) noexcept nogil:
    """The smallest timeout class whose timeout is at least 1.5 times the
    nominal interval (the original's 45 minutes for 30), so a peer told up
    to nominal + a tenth outlives its next announce by a third of it."""
    cdef uint32_t c = (nominal + 899) // 900
    if c <= 2:
        return 0
    return <uint8_t>(c - 2 if c - 2 < PEER_CLASS_MASK else PEER_CLASS_MASK)
