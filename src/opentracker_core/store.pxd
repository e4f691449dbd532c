# Swarm store: buckets -> sorted torrent vectors -> packed peer vectors,
# shared by every worker under a lock per bucket group.
#
# Important:
#   * A hash's group lock (store_lock) is held around every call that takes
#     that hash (announce, stop, scrape, find, restore) and around every use
#     of what it returns: pointers into the store (ot_torrent*, peer
#     records) and the group's RNG are valid only until store_unlock.
#     Callers write their reply under it, and do nothing that enters the
#     kernel (a send, a syslog line, a cluster datagram) until after it.
#     Walks lock one bucket at a time (store_walk.pyx); store_clean and
#     store_shift lock each bucket themselves.
#   * All functions are nogil and never raise; failures are status codes.
#   * All memory is PyMem_Raw* or slab pages (slab.pyx) and counted in the
#     accounts (mem_*), which only the budget lock guards; the counts are
#     exact requested bytes and whole pages (malloc's own overhead is
#     estimated per block, OT_BLOCK_OVERHEAD).
# docs/architecture.md, "The store with several workers", says why so.

from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t


cdef struct ot_peervec:
    # One address family's peers of one torrent, as one block: this header
    # followed by `space` records of 8 (IPv4) or 20 (IPv6) bytes, sorted by
    # their compact form (address, then port, network order). A slab slot
    # while space <= OT_SLAB_MAX4 / OT_SLAB_MAX6 (slab.pyx), a heap block
    # above.
    uint32_t size
    uint32_t space
    uint32_t seeders


cdef enum:
    # Peer lists of up to OT_SLAB_MAX4 IPv4 / OT_SLAB_MAX6 IPv6 records live
    # in slab pages of our own (slab.pyx; docs/memory.md, "Slabs"): one class
    # per record count up to the split, one per two records above it.
    OT_SLAB_PAGE = 4096
    OT_SLAB_SPLIT4 = 8
    OT_SLAB_MAX4 = 16
    OT_SLAB_CLASSES4 = 12         # 1..8, 10, 12, 14, 16 records
    OT_SLAB_SPLIT6 = 4
    OT_SLAB_MAX6 = 8
    OT_SLAB_CLASSES = 18          # and 1..4, 6, 8 IPv6 records


cdef struct ot_slab_page:
    # The head of one slab page (OT_SLAB_PAGE bytes, page-aligned by mmap,
    # so a slot finds its page by masking its address); slots of one class
    # follow it. Offsets are from the page's start.
    ot_slab_page *next        # the class's pages with room
    ot_slab_page *prev
    uint16_t free             # the first freed slot, 0: none (each links the next in its first word)
    uint16_t used             # slots in use
    uint16_t carved           # the end of the slots ever handed out; past it the page is untouched
    uint16_t cls


cdef struct ot_slab:
    # Every slab page of the store, under its own lock (slab.pyx says why
    # one lock, not one per group). pages * OT_SLAB_PAGE is in mem_peers.
    ot_lock lock
    uint32_t pages            # mapped now, spares included
    uint32_t live_total       # slots in use in every class
    ot_slab_page *room[OT_SLAB_CLASSES]   # per class, the pages with a free or never-used slot
    ot_slab_page *spare[OT_SLAB_CLASSES]  # per class, one emptied page kept until the next clean
    uint32_t live[OT_SLAB_CLASSES]        # per class, slots in use


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


cdef struct ot_group:
    # One lock group: OT_BUCKET_COUNT / OT_GROUP_COUNT consecutive buckets,
    # the lock that guards them, and what they hold, changed only under it
    # and summed when read (store_counts). 64 bytes on 32- and 64-bit, one
    # cache line each: two workers in different groups never share a line.
    ot_lock lock
    uint32_t torrent_count
    uint64_t peer_count[2]    # per family
    uint64_t seeder_count[2]
    uint64_t refused_memory   # new torrents refused because of mem_limit (announces, state lines)
    uint64_t waits            # takes of the lock that found it held (contention)
    ot_rng rng                # the draws of answers about this group's torrents


cdef struct ot_store:
    ot_bucket *buckets        # OT_BUCKET_COUNT entries
    ot_group *groups          # OT_GROUP_COUNT entries, 64-byte aligned inside groups_block
    void *groups_block
    uint32_t now_minutes      # written by the clock, read by every announce: relaxed atomics
    uint64_t mem_limit        # bytes; 0 = no limit. A setting: written only while no worker runs
    bint shared               # more than one thread may announce: store_lock takes the group's lock.
                              # A setting too; with one worker the request path skips the locks
    uint64_t mem_fixed        # the store struct, the bucket array and the groups; never changes

    # The accounts: only under the budget lock, so the budget's check and
    # the charge it allows are one step (_budget_charge).
    ot_lock budget
    uint64_t mem_torrents     # bucket vectors (torrent slots, used and spare)
    uint64_t mem_peers        # peer blocks (headers, records, spare records) and whole slab pages
    uint64_t mem_blocks       # heap blocks behind mem_torrents and mem_peers (slab pages are none)
    uint64_t mem_other        # the server's buffers, rate table, answers: store_charge_other only
    ot_slab slab              # small peer lists (slab.pyx); its pages are charged to mem_peers


cdef struct ot_store_counts:
    # What the groups hold, summed (store_counts).
    uint32_t torrents
    uint64_t peers[2]
    uint64_t seeders[2]
    uint64_t refused_memory
    uint64_t waits


cdef struct ot_store_memory:
    # The accounts at one moment (store_memory).
    uint64_t fixed
    uint64_t torrents
    uint64_t peers
    uint64_t blocks
    uint64_t other
    uint64_t limit
    uint64_t held             # what the budget counts: all of the above plus blocks' overhead


cdef struct ot_walk:
    # A walk over every torrent in ascending hash order (store_walk.pyx):
    # the bucket it is in, holding that bucket's group lock (NULL: none).
    ot_group *held
    uint32_t bucket
    uint32_t at


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


cdef inline ot_group *store_group(ot_store *st, const uint8_t *hash) noexcept nogil:
    # ot_bucket_index(hash) >> OT_GROUP_SHIFT, read from the hash's first
    # byte alone (OT_GROUP_BITS <= 8).
    return &st.groups[hash[0] >> (8 - OT_GROUP_BITS)]


cdef inline void ot_group_take(ot_group *g) noexcept nogil:
    # The take first, the count after: in `waits += take()` C may read the
    # count before the lock is held. A branch, not an add: it rarely waits.
    if ot_lock_take(&g.lock):
        g.waits += 1


cdef inline ot_group *store_lock(ot_store *st, const uint8_t *hash) noexcept nogil:
    """Take the lock of the hash's group (see "Important" above); returns
    the group, for its RNG and store_unlock."""
    cdef ot_group *g = store_group(st, hash)
    if st.shared:
        ot_group_take(g)
    return g


cdef inline void store_unlock(ot_store *st, ot_group *g) noexcept nogil:
    if st.shared:
        ot_lock_give(&g.lock)


cdef inline void store_set_clock(ot_store *st, int64_t now_seconds) noexcept nogil:
    # Written only when the minute changes: every worker sets it each turn,
    # and a store of the same value would still take the cache line from
    # the other cores' announces, which all read it.
    cdef uint32_t minutes = <uint32_t>(now_seconds // 60) if now_seconds > 0 else 0
    if ot_relaxed_load32(&st.now_minutes) != minutes:
        ot_relaxed_store32(&st.now_minutes, minutes)


cdef inline uint32_t store_now(ot_store *st) noexcept nogil:
    return ot_relaxed_load32(&st.now_minutes)


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
