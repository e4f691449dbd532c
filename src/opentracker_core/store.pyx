# Swarm store bodies: torrents, peers, ageing, and the operations on one
# hash. Declarations and the locking rules are in store.pxd; the accounts
# and the budget are budget.pyx's, small peer lists' slots slab.pyx's, the
# walks and the sums over every group store_walk.pyx's. The behaviour
# follows docs/compatibility.md, "Swarm semantics", the budget
# docs/memory.md. Over 500 lines on purpose: torrent and peer vectors and
# ageing share invariants (counts, sizes, accounted bytes) that are easiest
# to check in one file.

from libc.string cimport memcpy, memmove, memset


cdef inline uint32_t _grown(uint32_t space) noexcept nogil:
    # +25% (at least +1): a router's swarms are small and 2x growth would waste
    # up to half of every vector; the realloc count still grows only as log n.
    return space + 1 + (space >> 2)


cdef inline bint _too_roomy(uint32_t size, uint32_t space) noexcept nogil:
    return space > 4 and size * 2 < space


cdef inline uint32_t _trimmed(uint32_t size) noexcept nogil:
    return size + 1 + (size >> 2)


cdef ot_store *store_new(uint64_t seed) noexcept nogil:
    """A new empty store, or NULL when out of memory."""
    cdef ot_store *st = <ot_store *>ot_malloc(sizeof(ot_store))
    cdef uint32_t g
    if st == NULL:
        return NULL
    memset(st, 0, sizeof(ot_store))
    st.buckets = <ot_bucket *>ot_malloc(OT_BUCKET_COUNT * sizeof(ot_bucket))
    # The groups start on a cache line (malloc gives 16-byte alignment).
    st.groups_block = ot_malloc(OT_GROUP_COUNT * sizeof(ot_group) + 63)
    if st.buckets == NULL or st.groups_block == NULL:
        ot_free(st.buckets)
        ot_free(st.groups_block)
        ot_free(st)
        return NULL
    memset(st.buckets, 0, OT_BUCKET_COUNT * sizeof(ot_bucket))
    st.groups = <ot_group *>((<size_t>st.groups_block + 63) & ~(<size_t>63))
    memset(st.groups, 0, OT_GROUP_COUNT * sizeof(ot_group))
    for g in range(<uint32_t>OT_GROUP_COUNT):
        # Group g draws the seed's splitmix64 sequence from g * 2^40 on:
        # disjoint streams, one for each lock, one seed for the store.
        st.groups[g].rng.state = seed + ((<uint64_t>g) << 40) * 0x9E3779B97F4A7C15ULL
    st.mem_fixed = (sizeof(ot_store) + OT_BUCKET_COUNT * sizeof(ot_bucket)
                    + OT_GROUP_COUNT * sizeof(ot_group) + 63)
    return st


cdef void store_free(ot_store *st) noexcept nogil:
    """No worker may use the store any more."""
    cdef uint32_t b, i
    cdef ot_bucket *bk
    if st == NULL:
        return
    for b in range(OT_BUCKET_COUNT):
        bk = &st.buckets[b]
        for i in range(bk.size):
            # Given back one by one, so the last slot of a page unmaps it.
            _peervec_free(st, bk.data[i].peers[0], OT_FAMILY_V4)
            _peervec_free(st, bk.data[i].peers[1], OT_FAMILY_V6)
        ot_free(bk.data)
    slab_trim(st)
    ot_free(st.buckets)
    ot_free(st.groups_block)
    ot_free(st)


# ---------------------------------------------------------------- torrents
# Below, every function works on buckets of one group whose lock the caller
# holds (store.pxd, "Important"); `g` is that group, for its counts.

cdef uint32_t _torrent_search(ot_bucket *bk, const uint8_t *hash, bint *exact) noexcept nogil:
    cdef uint32_t lo = 0, hi = bk.size, mid
    cdef int c
    while lo < hi:
        mid = (lo + hi) >> 1
        c = ot_keycmp(bk.data[mid].hash, hash, OT_HASH_SIZE)
        if c < 0:
            lo = mid + 1
        elif c > 0:
            hi = mid
        else:
            exact[0] = True
            return mid
    exact[0] = False
    return lo


cdef ot_torrent *store_find(ot_store *st, const uint8_t *hash) noexcept nogil:
    """The torrent with this hash, untouched (no clean), or NULL."""
    cdef bint exact
    cdef ot_bucket *bk = &st.buckets[ot_bucket_index(hash)]
    cdef uint32_t i = _torrent_search(bk, hash, &exact)
    return &bk.data[i] if exact else NULL


cdef inline uint32_t _torrents_room(ot_bucket *bk, int64_t *bytes_, int64_t *blocks) noexcept nogil:
    """The space the bucket needs for one more torrent (0: it has room), and
    what growing to it costs."""
    cdef uint32_t space
    bytes_[0] = 0
    blocks[0] = 0
    if bk.size < bk.space:
        return 0
    space = _grown(bk.space)
    bytes_[0] = (<int64_t>(space - bk.space)) * sizeof(ot_torrent)
    blocks[0] = 1 if bk.data == NULL else 0
    return space


cdef bint _torrents_grow(ot_bucket *bk, uint32_t space) noexcept nogil:
    """Grow the bucket's vector to `space` slots (charged by the caller)."""
    cdef ot_torrent *data = <ot_torrent *>ot_realloc(bk.data, space * sizeof(ot_torrent))
    if data == NULL:
        return False
    bk.data = data
    bk.space = space
    return True


cdef ot_torrent *_torrent_place(ot_group *g, ot_bucket *bk, uint32_t at, const uint8_t *hash) noexcept nogil:
    """A zeroed torrent at index `at` of a bucket with room."""
    cdef ot_torrent *t
    memmove(&bk.data[at + 1], &bk.data[at], (bk.size - at) * sizeof(ot_torrent))
    bk.size += 1
    g.torrent_count += 1
    t = &bk.data[at]
    memset(t, 0, sizeof(ot_torrent))
    memcpy(t.hash, hash, OT_HASH_SIZE)
    return t


cdef void _peervec_free(ot_store *st, ot_peervec *v, int family) noexcept nogil:
    """Give a list's block back: its slab slot, or its heap block and charge."""
    if v == NULL:
        return
    if v.space <= slab_max(family):
        slab_give(st, v)
    else:
        _budget_charge(st, 0, -<int64_t>(sizeof(ot_peervec) + (<uint64_t>v.space) * ot_rec_size(family)), -1,
                       False)
        ot_free(v)


cdef int _peervec_resize(ot_store *st, ot_peervec **at, int family, uint32_t space,
                         bint enforce) noexcept nogil:
    """Move (or make) a list into a block of `space` (>= its size) records:
    a slab slot of that capacity up to slab_max, a heap block above (the
    caller picks `space`: a slab class's capacity or a heap size). Charged
    before it is allocated, within the budget with `enforce`. OT_OK, or
    OT_REFUSED_MEMORY / OT_NOMEM with nothing changed."""
    cdef ot_peervec *old = at[0]
    cdef ot_peervec *v
    cdef uint32_t rsize = ot_rec_size(family)
    cdef int64_t bytes_
    cdef int why = OT_OK
    if space <= slab_max(family):
        v = <ot_peervec *>slab_take(st, slab_class(family, space), enforce, &why)
        if v == NULL:
            return why
    elif old != NULL and old.space > slab_max(family):
        bytes_ = (<int64_t>space - <int64_t>old.space) * rsize
        if not _budget_charge(st, 0, bytes_, 0, enforce and bytes_ > 0):
            return OT_REFUSED_MEMORY
        v = <ot_peervec *>ot_realloc(old, sizeof(ot_peervec) + space * rsize)
        if v == NULL:
            _budget_charge(st, 0, -bytes_, 0, False)
            return OT_NOMEM
        v.space = space
        at[0] = v
        return OT_OK
    else:
        bytes_ = sizeof(ot_peervec) + space * rsize
        if not _budget_charge(st, 0, bytes_, 1, enforce):
            return OT_REFUSED_MEMORY
        v = <ot_peervec *>ot_malloc(bytes_)
        if v == NULL:
            _budget_charge(st, 0, -bytes_, -1, False)
            return OT_NOMEM
    if old != NULL:
        memcpy(v, old, sizeof(ot_peervec) + old.size * rsize)
        _peervec_free(st, old, family)
    else:
        v.size = 0
        v.seeders = 0
    v.space = space
    at[0] = v
    return OT_OK


cdef void _peervec_release(ot_store *st, ot_group *g, ot_torrent *t, int family) noexcept nogil:
    cdef ot_peervec *v = t.peers[family]
    if v == NULL:
        return
    g.peer_count[family] -= v.size
    g.seeder_count[family] -= v.seeders
    _peervec_free(st, v, family)
    t.peers[family] = NULL


cdef void _torrent_remove(ot_store *st, ot_group *g, ot_bucket *bk, uint32_t at) noexcept nogil:
    cdef ot_torrent *t = &bk.data[at]
    cdef uint32_t space
    cdef ot_torrent *data
    _peervec_release(st, g, t, OT_FAMILY_V4)
    _peervec_release(st, g, t, OT_FAMILY_V6)
    memmove(&bk.data[at], &bk.data[at + 1], (bk.size - at - 1) * sizeof(ot_torrent))
    bk.size -= 1
    g.torrent_count -= 1
    if bk.size == 0:
        ot_free(bk.data)
        _budget_charge(st, -(<int64_t>bk.space) * sizeof(ot_torrent), 0, -1, False)
        bk.data = NULL
        bk.space = 0
    elif _too_roomy(bk.size, bk.space):
        space = _trimmed(bk.size)
        data = <ot_torrent *>ot_realloc(bk.data, space * sizeof(ot_torrent))
        if data != NULL:       # a failed shrink keeps the larger block
            _budget_charge(st, -(<int64_t>(bk.space - space)) * sizeof(ot_torrent), 0, 0, False)
            bk.data = data
            bk.space = space


# ---------------------------------------------------------------- peers

cdef uint32_t _peer_search(ot_peervec *v, const uint8_t *key, uint32_t ksize, uint32_t rsize,
                           bint *exact) noexcept nogil:
    cdef uint32_t lo = 0, hi, mid
    cdef int c
    cdef uint8_t *data
    if v == NULL:
        exact[0] = False
        return 0
    hi = v.size
    data = ot_peervec_data(v)
    while lo < hi:
        mid = (lo + hi) >> 1
        c = ot_keycmp(data + mid * rsize, key, ksize)
        if c < 0:
            lo = mid + 1
        elif c > 0:
            hi = mid
        else:
            exact[0] = True
            return mid
    exact[0] = False
    return lo


cdef bint store_knows_peer(ot_torrent *t, const ot_peer_in *p) noexcept nogil:
    """Is this peer (address and port) in the torrent's swarm? No clean:
    an expired record still counts, as the next announce would renew it."""
    cdef bint exact
    _peer_search(t.peers[p.family], p.key, ot_key_size(p.family), ot_rec_size(p.family), &exact)
    return exact


cdef inline int _peers_room(ot_store *st, ot_peervec **at, int family) noexcept nogil:
    """Room for one more peer in a list (NULL: a new one), within the
    budget: OT_OK (also when it had room), OT_REFUSED_MEMORY or OT_NOMEM.
    A slab list moves to the next class, exactly as large as it must be; a
    heap list grows by a quarter."""
    cdef ot_peervec *v = at[0]
    cdef uint32_t space = 0 if v == NULL else v.space
    if v != NULL and v.size < v.space:
        return OT_OK
    if space < slab_max(family):
        space = slab_capacity(slab_class(family, space + 1))
    else:
        space = _grown(space)
    return _peervec_resize(st, at, family, space, True)


cdef uint8_t *_peer_place(ot_group *g, ot_torrent *t, int family, uint32_t at) noexcept nogil:
    """A zeroed record at index `at` of a list with room."""
    cdef ot_peervec *v = t.peers[family]
    cdef uint32_t rsize = ot_rec_size(family)
    cdef uint8_t *data = ot_peervec_data(v)
    memmove(data + (at + 1) * rsize, data + at * rsize, (v.size - at) * rsize)
    v.size += 1
    g.peer_count[family] += 1
    memset(data + at * rsize, 0, rsize)
    return data + at * rsize


cdef void _peervec_fit(ot_store *st, ot_group *g, ot_torrent *t, int family) noexcept nogil:
    """Free an emptied block, or shrink one that is less than half used."""
    cdef ot_peervec *v = t.peers[family]
    cdef uint32_t top = slab_max(family), space
    if v == NULL:
        return
    # Failures below keep the larger block: nothing is lost but room. A move
    # down may need a new slab page, so it waits for the budget as growth does.
    if v.size == 0:
        _peervec_release(st, g, t, family)
    elif v.space <= top:
        # Two records to spare before moving down: a peer that stops and
        # comes back does not move the list twice.
        space = slab_capacity(slab_class(family, v.size))
        if v.space >= v.size + 2 and space < v.space:
            _peervec_resize(st, &t.peers[family], family, space, True)
    elif v.size < top:
        # Back into the slabs one record short of their largest class, so
        # that a list at the boundary does not cross it at every peer.
        _peervec_resize(st, &t.peers[family], family, slab_capacity(slab_class(family, v.size)), True)
    elif _too_roomy(v.size, v.space):
        space = _trimmed(v.size)
        _peervec_resize(st, &t.peers[family], family, space if space > top else top + 1, True)


cdef uint32_t _peervec_age(ot_store *st, ot_group *g, ot_torrent *t, int family, uint32_t elapsed) noexcept nogil:
    """Add `elapsed` minutes to every peer's age and drop those reaching
    their timeout (its class's, ot_peer_timeout), keeping the order. Returns
    the number dropped."""
    cdef ot_peervec *v = t.peers[family]
    cdef uint32_t rsize = ot_rec_size(family), ksize = ot_key_size(family)
    cdef uint8_t *data
    cdef uint8_t *src
    cdef uint8_t *dst
    cdef uint8_t *end
    cdef uint32_t age, dropped = 0, dropped_seeders = 0
    if v == NULL:
        return 0
    data = ot_peervec_data(v)
    end = data + v.size * rsize
    src = dst = data
    while src < end:
        age = src[ksize + 1] + elapsed
        if age < ot_peer_timeout(src[ksize]):
            if dst != src:
                memcpy(dst, src, rsize)
            dst[ksize + 1] = <uint8_t>age
            dst += rsize
        else:
            dropped += 1
            if src[ksize] & PEER_FLAG_SEEDING:
                dropped_seeders += 1
        src += rsize
    if dropped:
        v.size -= dropped
        v.seeders -= dropped_seeders
        g.peer_count[family] -= dropped
        g.seeder_count[family] -= dropped_seeders
        _peervec_fit(st, g, t, family)
    return dropped


cdef inline bint torrent_clean(ot_store *st, ot_group *g, ot_torrent *t) noexcept nogil:
    """Lazy ageing (docs/compatibility.md, "Ageing and expiry"). True when
    the torrent is due for removal (the caller removes it). Inline for the
    common case: announced to within the minute."""
    cdef uint32_t now = store_now(st)
    if (<int64_t>now) - t.base <= 0:
        return False
    return _torrent_age(st, g, t, now)


cdef bint _torrent_age(ot_store *st, ot_group *g, ot_torrent *t, uint32_t now) noexcept nogil:
    cdef int64_t elapsed = (<int64_t>now) - t.base
    if elapsed > OT_TORRENT_TIMEOUT:
        return True
    if elapsed > OT_PEER_TIMEOUT:
        if ot_torrent_peers(t) == 0:
            return t.completed == 0
        if elapsed > OT_PEER_TIMEOUT_MAX:
            elapsed = OT_PEER_TIMEOUT_MAX     # every class's peers go
    _peervec_age(st, g, t, OT_FAMILY_V4, <uint32_t>elapsed)
    _peervec_age(st, g, t, OT_FAMILY_V6, <uint32_t>elapsed)
    if ot_torrent_peers(t):
        t.base = now
    else:
        # The last peer was last seen a peer timeout ago: an unfinished
        # torrent is then removed by the next clean.
        t.base = now - OT_PEER_TIMEOUT if now > OT_PEER_TIMEOUT else 0
    return False


# ---------------------------------------------------------------- operations on one hash

cdef int store_announce(ot_store *st, const uint8_t *hash, const ot_peer_in *p,
                        ot_announce_result *res) noexcept nogil:
    """Add or update the peer (docs/compatibility.md, "Announce processing").
    OT_OK fills `res`; at the budget (docs/memory.md, "At the budget") a new
    peer of a known torrent is OT_OK with res.unstored and not
    added. Otherwise nothing changed (OT_REFUSED_MEMORY: the budget forbids
    a new torrent; OT_NOMEM: malloc failed)."""
    cdef ot_group *g = store_group(st, hash)
    cdef ot_bucket *bk = &st.buckets[ot_bucket_index(hash)]
    cdef bint exact
    cdef uint32_t at = _torrent_search(bk, hash, &exact)
    cdef ot_torrent *t
    cdef int family = p.family
    cdef uint32_t ksize = ot_key_size(family), rsize = ot_rec_size(family)
    cdef uint8_t flags = p.flags & (PEER_FLAG_SEEDING | PEER_FLAG_COMPLETED)
    cdef uint8_t old
    cdef uint8_t *rec
    cdef uint32_t pos, tspace
    cdef int64_t tbytes, tblocks
    cdef bint peer_exact
    cdef ot_peervec *first = NULL
    cdef int rc

    res.new_torrent = 0
    res.new_peer = 0
    res.completed = 0
    res.unstored = 0
    res.renew_age = -1
    res.torrent = NULL
    res.record = NULL

    # A completion only counts from a peer that has nothing left.
    if (flags & (PEER_FLAG_COMPLETED | PEER_FLAG_SEEDING)) == PEER_FLAG_COMPLETED:
        flags = 0

    if exact:
        t = &bk.data[at]
        if torrent_clean(st, g, t):
            # Idle for a day: start over as the clean cycle would have.
            _peervec_release(st, g, t, OT_FAMILY_V4)
            _peervec_release(st, g, t, OT_FAMILY_V6)
            t.completed = 0
        pos = _peer_search(t.peers[family], p.key, ksize, rsize, &peer_exact)
        if not peer_exact:
            rc = _peers_room(st, &t.peers[family], family)
            if rc == OT_NOMEM:
                return OT_NOMEM
            if rc != OT_OK:
                # The budget degrades service, it does not refuse it
                # (docs/memory.md, "At the budget").
                # The swarm's peers cost nothing to hand out; only keeping this
                # one would. Its next announce finds it new again.
                res.unstored = 1
                if flags & PEER_FLAG_COMPLETED:
                    # Counted as for a kept new peer: "downloaded" needs no memory,
                    # and a client reports a completion once.
                    t.completed += 1
                    res.completed = 1
                res.torrent = t
                return OT_OK
    else:
        # The torrent's slot and its first peer list: both or neither.
        tspace = _torrents_room(bk, &tbytes, &tblocks)
        if not _budget_charge(st, tbytes, 0, tblocks, True):
            g.refused_memory += 1
            return OT_REFUSED_MEMORY
        rc = _peers_room(st, &first, family)
        if rc == OT_OK and tspace and not _torrents_grow(bk, tspace):
            _peervec_free(st, first, family)
            rc = OT_NOMEM
        if rc != OT_OK:
            _budget_charge(st, -tbytes, 0, -tblocks, False)
            if rc == OT_REFUSED_MEMORY:
                g.refused_memory += 1
            return rc
        t = _torrent_place(g, bk, at, hash)
        t.peers[family] = first
        res.new_torrent = 1
        pos = 0
        peer_exact = False

    if peer_exact:
        rec = ot_peervec_data(t.peers[family]) + pos * rsize
        old = rec[ksize]
        res.renew_age = rec[ksize + 1]
        if (old & PEER_FLAG_SEEDING) and not (flags & PEER_FLAG_SEEDING):
            t.peers[family].seeders -= 1
            g.seeder_count[family] -= 1
        elif not (old & PEER_FLAG_SEEDING) and (flags & PEER_FLAG_SEEDING):
            t.peers[family].seeders += 1
            g.seeder_count[family] += 1
        if not (old & PEER_FLAG_COMPLETED) and (flags & PEER_FLAG_COMPLETED):
            t.completed += 1
            res.completed = 1
        # "completed" is sticky while the peer stays: one download per stay.
        flags |= old & PEER_FLAG_COMPLETED
    else:
        rec = _peer_place(g, t, family, pos)
        memcpy(rec, p.key, ksize)
        res.new_peer = 1
        if p.from_sync:
            flags |= PEER_FLAG_FROM_SYNC
        if flags & PEER_FLAG_SEEDING:
            t.peers[family].seeders += 1
            g.seeder_count[family] += 1
        if flags & PEER_FLAG_COMPLETED:
            t.completed += 1
            res.completed = 1

    rec[ksize] = flags            # timeout class 0 until the tracker sets it
    rec[ksize + 1] = 0
    t.base = store_now(st)
    res.torrent = t
    res.record = rec
    return OT_OK


cdef ot_torrent *store_stop(ot_store *st, const uint8_t *hash, const ot_peer_in *p) noexcept nogil:
    """Remove the peer if present (docs/compatibility.md, "event=stopped"):
    no clean, no access check, never creates anything. Returns the torrent
    (for its counts after the removal) or NULL when it is unknown."""
    cdef ot_group *g = store_group(st, hash)
    cdef ot_bucket *bk = &st.buckets[ot_bucket_index(hash)]
    cdef bint exact
    cdef uint32_t at = _torrent_search(bk, hash, &exact)
    cdef ot_torrent *t
    cdef ot_peervec *v
    cdef int family = p.family
    cdef uint32_t rsize = ot_rec_size(family), pos
    cdef uint8_t *rec
    if not exact:
        return NULL
    t = &bk.data[at]
    v = t.peers[family]
    pos = _peer_search(v, p.key, ot_key_size(family), rsize, &exact)
    if exact:
        rec = ot_peervec_data(v) + pos * rsize
        if rec[ot_key_size(family)] & PEER_FLAG_SEEDING:
            v.seeders -= 1
            g.seeder_count[family] -= 1
        memmove(rec, rec + rsize, (v.size - pos - 1) * rsize)
        v.size -= 1
        g.peer_count[family] -= 1
        _peervec_fit(st, g, t, family)
    return t


cdef ot_torrent *store_scrape(ot_store *st, const uint8_t *hash) noexcept nogil:
    """The cleaned torrent for a scrape, or NULL when unknown or just expired."""
    cdef ot_group *g = store_group(st, hash)
    cdef ot_bucket *bk = &st.buckets[ot_bucket_index(hash)]
    cdef bint exact
    cdef uint32_t at = _torrent_search(bk, hash, &exact)
    if not exact:
        return NULL
    if torrent_clean(st, g, &bk.data[at]):
        _torrent_remove(st, g, bk, at)
        return NULL
    return &bk.data[at]


cdef int store_restore(ot_store *st, const uint8_t *hash, uint32_t base, uint32_t completed) noexcept nogil:
    """Create a peerless torrent from a saved state line unless the hash is
    already known (the first line for a hash wins). OT_OK also when skipped."""
    cdef ot_group *g = store_group(st, hash)
    cdef ot_bucket *bk = &st.buckets[ot_bucket_index(hash)]
    cdef bint exact
    cdef uint32_t at = _torrent_search(bk, hash, &exact)
    cdef ot_torrent *t
    cdef uint32_t space
    cdef int64_t bytes_, blocks
    if exact:
        return OT_OK
    space = _torrents_room(bk, &bytes_, &blocks)
    if not _budget_charge(st, bytes_, 0, blocks, True):
        g.refused_memory += 1
        return OT_REFUSED_MEMORY
    if space and not _torrents_grow(bk, space):
        _budget_charge(st, -bytes_, 0, -blocks, False)
        return OT_NOMEM
    t = _torrent_place(g, bk, at, hash)
    t.base = base
    t.completed = completed
    return OT_OK
