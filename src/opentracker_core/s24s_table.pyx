# s24s in memory that does not grow with the peers: the networks are
# counted in a hash table of bounded size, in passes over the peers (a slice
# of torrents per loop turn, as every walk). s24s.pyx counts this way when
# the sort (s24s_sort.pyx) would need more than its bound or the budget has.
#
# Each network has a position, its first address (IPv4 below IPv6), and a
# pass counts only the networks whose position is in its range. When the
# table is full and the budget will not let it grow, the range is halved
# and the networks above the half are dropped, to be counted by a later
# pass. So every count a pass keeps covers the whole walk, and the answer is
# exact whatever the table's size: with room, one pass; at a full budget, a
# few more. The table never outgrows OT_S24S_SLOTS_PER_SLICE_TORRENT slots
# per torrent of a slice (16 bytes each: 1 MiB at the default), and its
# first 8 KiB fit in what an s24s answer reserves, so s24s is served when
# the torrents have filled the budget. After each pass the counts are
# offered to the leader lists (s24s_leaders.pyx).

from libc.string cimport memset


cdef enum:
    S24S_TABLE_WALK = 0       # a pass over every torrent's peers
    S24S_TABLE_MERGE = 1      # the pass's counts into the leader lists
    # The first table: 8 KiB
    S24S_SLOTS_FIRST = 512


# Positions: an IPv4 network's first address, or 2^62 plus an IPv6
# network's first /66 (four /64s share one, which only means they are
# always counted in the same pass). A pass covers [lo, hi) of [0, S24S_POS_END).
cdef uint64_t S24S_POS_V6 = (<uint64_t>1) << 62
cdef uint64_t S24S_POS_END = (<uint64_t>1) << 63


cdef struct ot_netcount:
    uint64_t key              # as ot_netrec.key
    uint32_t count            # 0: an empty slot
    uint32_t level            # S24S_V4_28 .. S24S_V6_48


cdef struct ot_s24s_table:
    ot_netcount *table        # open addressing, linear probing
    uint32_t slots            # a power of two
    uint32_t used
    uint64_t lo               # this pass counts the networks whose position is in [lo, hi)
    uint64_t hi
    uint32_t phase
    size_t pos                # S24S_TABLE_MERGE: the next slot


cdef inline size_t s24s_table_memory(const ot_s24s_table *tb) noexcept nogil:
    return <size_t>tb.slots * sizeof(ot_netcount)


cdef inline uint64_t _net_hash(uint64_t key, uint32_t level) noexcept nogil:
    """splitmix64's finalizer over the key and its level: its low bits pick
    the slot."""
    cdef uint64_t z = key + (<uint64_t>(level + 1)) * 0x9E3779B97F4A7C15ULL
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint64_t _net_pos(uint64_t key, uint32_t level) noexcept nogil:
    if level == S24S_V4_28:
        return key << 4
    if level == S24S_V4_24:
        return key << 8
    if level == S24S_V6_64:
        return S24S_POS_V6 | (key >> 2)
    return S24S_POS_V6 | (key << 14)


cdef inline uint32_t _table_slots_max(const ot_worker *w) noexcept nogil:
    """The largest table: OT_S24S_SLOTS_PER_SLICE_TORRENT slots per torrent of
    a slice, as a power of two."""
    cdef uint64_t want = <uint64_t>w.t.answer_slice * OT_S24S_SLOTS_PER_SLICE_TORRENT
    cdef uint32_t slots = 16
    while <uint64_t>slots * 2 <= want and slots < (1u << 30):
        slots *= 2
    return slots


cdef inline void _table_put(ot_netcount *table, uint32_t mask, const ot_netcount *e) noexcept nogil:
    """Into the first empty slot from e's home (e is not in the table)."""
    cdef uint32_t i = <uint32_t>_net_hash(e.key, e.level) & mask
    while table[i].count:
        i = (i + 1) & mask
    table[i] = e[0]


cdef bint _table_resize(ot_worker *w, ot_answer *b, ot_s24s_table *tb, uint32_t slots) noexcept nogil:
    """Move the counts to a table of `slots` slots (more than now), if the
    budget and the largest size allow."""
    cdef uint32_t i
    cdef size_t size = <size_t>slots * sizeof(ot_netcount)
    cdef ot_netcount *table
    if slots > _table_slots_max(w) or not _may_grow(w, b, size):
        return False
    table = <ot_netcount *>ot_malloc(size)
    if table == NULL:
        return False
    memset(table, 0, size)
    for i in range(tb.slots):
        if tb.table[i].count:
            _table_put(table, slots - 1, &tb.table[i])
    ot_free(tb.table)
    tb.table = table
    tb.slots = slots
    return True


cdef void _table_delete(ot_s24s_table *tb, uint32_t i) noexcept nogil:
    """Empty slot i and move later entries of its cluster back, so each stays
    reachable from its home (Knuth's algorithm R for linear probing)."""
    cdef uint32_t mask = tb.slots - 1, j = i, home
    while True:
        tb.table[i].count = 0
        while True:
            j = (j + 1) & mask
            if tb.table[j].count == 0:
                tb.used -= 1
                return
            home = <uint32_t>_net_hash(tb.table[j].key, tb.table[j].level) & mask
            # The entry at j stays when its home lies cyclically in (i, j].
            if (i < home <= j) if i <= j else (i < home or home <= j):
                continue
            break
        tb.table[i] = tb.table[j]
        i = j


cdef bint _table_halve(ot_s24s_table *tb) noexcept nogil:
    """Narrow the pass to the lower half of what its networks span, dropping
    those above it (a later pass counts them), until the table is at most
    half full. False when they all share one position."""
    cdef uint64_t mid, low, top, pos
    cdef uint32_t i
    while tb.used > tb.slots // 2:
        low = tb.hi
        top = tb.lo
        for i in range(tb.slots):
            if tb.table[i].count:
                pos = _net_pos(tb.table[i].key, tb.table[i].level)
                if pos < low:
                    low = pos
                if pos > top:
                    top = pos
        # Halving what the networks span, not the range, splits clustered
        # networks at once: low < mid <= top, so both halves keep some.
        if top <= low:
            return False
        mid = low + (top - low + 1) // 2
        i = 0
        while i < tb.slots:
            # Deleting moves a later entry into slot i: look at it again.
            if tb.table[i].count and _net_pos(tb.table[i].key, tb.table[i].level) >= mid:
                _table_delete(tb, i)
            else:
                i += 1
        tb.hi = mid
    return True


cdef bint _table_count(ot_worker *w, ot_answer *b, ot_s24s_table *tb, uint64_t key, uint32_t level,
                       uint64_t pos) noexcept nogil:
    """One peer for a network, if its position is in this pass's range.
    False when the table can neither grow nor be narrowed."""
    cdef uint64_t h
    cdef uint32_t i
    if pos < tb.lo or pos >= tb.hi:
        return True
    h = _net_hash(key, level)
    i = <uint32_t>h & (tb.slots - 1)
    while tb.table[i].count:
        if tb.table[i].key == key and tb.table[i].level == level:
            tb.table[i].count += 1
            return True
        i = (i + 1) & (tb.slots - 1)
    if (tb.used + 1) * 4 > tb.slots * 3:
        # At three quarters full: a bigger table, or half the range.
        if not _table_resize(w, b, tb, tb.slots * 2) and not _table_halve(tb):
            return False
        if pos >= tb.hi:
            return True
        i = <uint32_t>h & (tb.slots - 1)
        while tb.table[i].count:
            i = (i + 1) & (tb.slots - 1)
    tb.table[i].key = key
    tb.table[i].level = level
    tb.table[i].count = 1
    tb.used += 1
    return True


cdef int _table_walk(ot_worker *w, ot_answer *b, ot_s24s_table *tb) noexcept nogil:
    """One slice of the pass. The table grows for a torrent's networks (two
    a peer) before it is counted, with the walk's lock given back (a bigger
    table may be mapped), and the walk resumes at that torrent. Once the
    table is as large as it may be, a halving of the pass (no allocation,
    only the table looked at) happens while the bucket is held, as before."""
    cdef ot_walk wk
    cdef ot_torrent *t = answer_walk_first(w, b, &wk)
    cdef uint32_t n = 0
    cdef size_t peers = 0, i
    cdef uint64_t np
    cdef ot_peervec *v
    cdef const uint8_t *rec
    cdef uint32_t a4
    cdef uint64_t a6
    cdef bint made_room = False
    while t != NULL and n < w.t.answer_slice and peers < <size_t>w.t.answer_slice * OT_S24S_PEERS_PER_SLICE_TORRENT:
        np = ot_torrent_peers(t)
        if not made_room and (tb.used + 2 * np) * 4 > <uint64_t>tb.slots * 3:
            answer_walk_end(&wk)
            while (tb.used + 2 * np) * 4 > <uint64_t>tb.slots * 3 and _table_resize(w, b, tb, tb.slots * 2):
                pass
            made_room = True
            t = answer_walk_first(w, b, &wk)
            continue
        made_room = False
        v = t.peers[0]
        if v != NULL and v.size:
            rec = ot_peervec_data(v)
            for i in range(v.size):
                a4 = ot_load_be32(rec)
                if (not _table_count(w, b, tb, a4 >> 4, S24S_V4_28, a4 & 0xFFFFFFF0u)
                        or not _table_count(w, b, tb, a4 >> 8, S24S_V4_24, a4 & 0xFFFFFF00u)):
                    answer_walk_end(&wk)
                    return S24S_STEP_NO_ROOM
                rec += OT_PEER4_SIZE
            peers += v.size
        v = t.peers[1]
        if v != NULL and v.size:
            rec = ot_peervec_data(v)
            for i in range(v.size):
                a6 = ot_load_be64(rec)
                if (not _table_count(w, b, tb, a6, S24S_V6_64, S24S_POS_V6 | (a6 >> 2))
                        or not _table_count(w, b, tb, a6 >> 16, S24S_V6_48,
                                            S24S_POS_V6 | ((a6 >> 16) << 14))):
                    answer_walk_end(&wk)
                    return S24S_STEP_NO_ROOM
                rec += OT_PEER6_SIZE
            peers += v.size
        n += 1
        t = answer_walk_next(w, b, &wk, t)
    answer_walk_end(&wk)
    return S24S_STEP_DONE if t == NULL else S24S_STEP_MORE


cdef bint s24s_table_start(ot_worker *w, ot_answer *b, ot_s24s_table *tb) noexcept nogil:
    """The table for a first pass over every network: room for two per peer
    at three quarters full if the budget has it (one pass, and no copying
    while it grows), else the first 8 KiB. False when not even that."""
    cdef ot_store_counts counts
    cdef uint64_t networks
    cdef uint32_t most = _table_slots_max(w)
    cdef uint32_t first = most if most < S24S_SLOTS_FIRST else S24S_SLOTS_FIRST
    cdef uint32_t slots = first
    memset(tb, 0, sizeof(ot_s24s_table))
    store_counts(w.t.store, &counts)
    networks = 2 * (counts.peers[0] + counts.peers[1])
    while <uint64_t>slots * 3 < networks * 4 and slots < most:
        slots *= 2
    if slots > first and not _may_grow(w, b, <size_t>slots * sizeof(ot_netcount)):
        slots = first
    if not _may_grow(w, b, <size_t>slots * sizeof(ot_netcount)):
        return False
    tb.table = <ot_netcount *>ot_malloc(<size_t>slots * sizeof(ot_netcount))
    if tb.table == NULL:
        return False
    memset(tb.table, 0, <size_t>slots * sizeof(ot_netcount))
    tb.slots = slots
    tb.hi = S24S_POS_END
    return True


cdef int s24s_table_step(ot_worker *w, ot_answer *b, ot_s24s_table *tb, ot_netrec (*top)[128]) noexcept nogil:
    """One step: a slice of a pass, or a part of its merge into `top`.
    S24S_STEP_NO_ROOM when a pass cannot go on (the networks of a single
    position outnumber the table: not with 16 slots or more)."""
    cdef size_t hi, i
    cdef int rc
    if tb.phase == S24S_TABLE_WALK:
        rc = _table_walk(w, b, tb)
        if rc != S24S_STEP_DONE:
            return rc
        tb.phase = S24S_TABLE_MERGE
        tb.pos = 0
        return S24S_STEP_MORE
    hi = tb.pos + <size_t>w.t.answer_slice * OT_S24S_KEYS_PER_SLICE_TORRENT
    if hi > tb.slots:
        hi = tb.slots
    for i in range(tb.pos, hi):
        if tb.table[i].count:
            net_offer(top[tb.table[i].level], tb.table[i].key, tb.table[i].count)
    tb.pos = hi
    if hi < tb.slots:
        return S24S_STEP_MORE
    if tb.hi == S24S_POS_END:
        return S24S_STEP_DONE
    # The next pass: the networks above this one's range, from the first torrent.
    memset(tb.table, 0, <size_t>tb.slots * sizeof(ot_netcount))
    tb.used = 0
    tb.lo = tb.hi
    tb.hi = S24S_POS_END
    tb.phase = S24S_TABLE_WALK
    b.has_cursor = 0
    return S24S_STEP_MORE


cdef void s24s_table_free(ot_s24s_table *tb) noexcept nogil:
    ot_free(tb.table)
    memset(tb, 0, sizeof(ot_s24s_table))
