# The store's walks and sums, each taking one bucket's group lock at a time
# (docs/architecture.md, "The store with several workers"): the clean cycle,
# the clock's shift, walks in ascending hash order (the large answers, the
# state dump, the Store class), and the counts and accounts read whole.

from libc.string cimport memset


cdef uint32_t store_clean(ot_store *st, uint32_t first_bucket, uint32_t count) noexcept nogil:
    """Clean `count` buckets starting at `first_bucket` (wrapping), removing
    expired torrents, then give the slab's spare pages back. Returns how
    many torrents were removed."""
    cdef uint32_t n, i, b, removed = 0
    cdef ot_bucket *bk
    cdef ot_group *g
    for n in range(count):
        b = (first_bucket + n) % OT_BUCKET_COUNT
        bk = &st.buckets[b]
        g = &st.groups[b >> OT_GROUP_SHIFT]
        ot_group_take(g)
        i = 0
        while i < bk.size:
            if torrent_clean(st, g, &bk.data[i]):
                _torrent_remove(st, g, bk, i)
                removed += 1
            else:
                i += 1
        ot_lock_give(&g.lock)
    slab_trim(st)
    return removed


cdef void store_shift(ot_store *st, int64_t minutes) noexcept nogil:
    """Move every torrent's base by `minutes` (the wall clock was set)."""
    cdef uint32_t b, i
    cdef int64_t base
    cdef ot_group *g
    for b in range(OT_BUCKET_COUNT):
        g = &st.groups[b >> OT_GROUP_SHIFT]
        ot_group_take(g)
        for i in range(st.buckets[b].size):
            base = st.buckets[b].data[i].base + minutes
            st.buckets[b].data[i].base = <uint32_t>(base if base > 0 else 0)
        ot_lock_give(&g.lock)


# ---------------------------------------------------------------- walks in hash order
# A walk holds the lock of the bucket it is in and gives it back before the
# next bucket, so an announce waits at most for one bucket's share of a
# slice. Its caller reads the torrents it is given and calls nothing that
# enters the kernel before store_walk_end; a walk resumed later (by hash,
# store_walk_first) sees a torrent added or removed meanwhile or misses it,
# never visits one twice.

cdef ot_torrent *_walk_settle(ot_store *st, ot_walk *wk) noexcept nogil:
    """The torrent at (bucket, at) or the first one after it, its bucket's
    group held; NULL at the end, nothing held."""
    cdef ot_bucket *bk
    while wk.bucket < OT_BUCKET_COUNT:
        if wk.held == NULL:
            wk.held = &st.groups[wk.bucket >> OT_GROUP_SHIFT]
            ot_group_take(wk.held)
        bk = &st.buckets[wk.bucket]
        if wk.at < bk.size:
            return &bk.data[wk.at]
        ot_lock_give(&wk.held.lock)
        wk.held = NULL
        wk.bucket += 1
        wk.at = 0
    return NULL


cdef ot_torrent *store_walk_first(ot_store *st, ot_walk *wk, const uint8_t *after) noexcept nogil:
    """The torrent with the smallest hash greater than `after` (NULL: the
    first torrent), its bucket's lock held; NULL at the end, nothing held."""
    cdef bint exact
    wk.held = NULL
    wk.bucket = 0
    wk.at = 0
    if after != NULL:
        wk.bucket = ot_bucket_index(after)
        wk.held = &st.groups[wk.bucket >> OT_GROUP_SHIFT]
        ot_group_take(wk.held)
        wk.at = _torrent_search(&st.buckets[wk.bucket], after, &exact)
        if exact:
            wk.at += 1
    return _walk_settle(st, wk)


cdef ot_torrent *store_walk_next(ot_store *st, ot_walk *wk) noexcept nogil:
    """The torrent after the last one given (which must not have been
    removed since: the walk's lock was held)."""
    wk.at += 1
    return _walk_settle(st, wk)


cdef void store_walk_end(ot_walk *wk) noexcept nogil:
    """Give back the lock a walk that stops before the end still holds."""
    if wk.held != NULL:
        ot_lock_give(&wk.held.lock)
        wk.held = NULL


# ---------------------------------------------------------------- the sums

cdef void store_counts(ot_store *st, ot_store_counts *c) noexcept nogil:
    """Torrents, peers, seeders, refusals and lock waits of every group,
    each group read under its lock (exact per group; the sum is of moments
    a few nanoseconds apart)."""
    cdef uint32_t i
    cdef int f
    cdef ot_group *g
    memset(c, 0, sizeof(ot_store_counts))
    for i in range(<uint32_t>OT_GROUP_COUNT):
        g = &st.groups[i]
        ot_lock_take(&g.lock)
        c.torrents += g.torrent_count
        for f in range(2):
            c.peers[f] += g.peer_count[f]
            c.seeders[f] += g.seeder_count[f]
        c.refused_memory += g.refused_memory
        c.waits += g.waits
        ot_lock_give(&g.lock)


cdef uint64_t store_walked(ot_store *st) noexcept nogil:
    """Torrents counted bucket by bucket (the C original's count_iterator)."""
    cdef uint64_t n = 0
    cdef uint32_t b
    cdef ot_group *g
    for b in range(<uint32_t>OT_BUCKET_COUNT):
        g = &st.groups[b >> OT_GROUP_SHIFT]
        ot_lock_take(&g.lock)
        n += st.buckets[b].size
        ot_lock_give(&g.lock)
    return n


cdef void store_memory(ot_store *st, ot_store_memory *m) noexcept nogil:
    """The accounts at one moment, under the budget lock."""
    ot_lock_take(&st.budget)
    m.fixed = st.mem_fixed
    m.torrents = st.mem_torrents
    m.peers = st.mem_peers
    m.blocks = st.mem_blocks
    m.other = st.mem_other
    m.limit = st.mem_limit
    m.held = _held(st)
    ot_lock_give(&st.budget)
