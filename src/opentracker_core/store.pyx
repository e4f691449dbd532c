# Swarm store bodies. Declarations and the ownership rules are in store.pxd;
# the behaviour follows docs/compatibility.md, "Swarm semantics", and the
# budget docs/memory.md. Over 500 lines on purpose: torrent and peer vectors,
# ageing and the budget share invariants (counts, sizes, accounted bytes)
# that are easiest to check in one file.

from libc.string cimport memcmp, memcpy, memmove, memset


cdef inline uint32_t _grown(uint32_t space) noexcept nogil:
    # +25% (at least +1): a router's swarms are small and 2x growth would waste
    # up to half of every vector; the realloc count still grows only as log n.
    return space + 1 + (space >> 2)


cdef inline bint _too_roomy(uint32_t size, uint32_t space) noexcept nogil:
    return space > 4 and size * 2 < space


cdef inline uint32_t _trimmed(uint32_t size) noexcept nogil:
    return size + 1 + (size >> 2)


cdef enum:
    # What malloc costs per block beyond the bytes asked for (glibc: an 8-byte
    # header and rounding to 16), charged against the budget so that the
    # process, not only the store's tables, stays within it.
    OT_BLOCK_OVERHEAD = 16


cdef inline uint64_t store_held(const ot_store *st) noexcept nogil:
    """Everything the core holds, as the memory budget counts it."""
    return (st.mem_fixed + st.mem_torrents + st.mem_peers + st.mem_other
            + st.mem_blocks * OT_BLOCK_OVERHEAD)


cdef inline bint _over_budget(ot_store *st, uint64_t extra) noexcept nogil:
    return st.mem_limit != 0 and store_held(st) + extra > st.mem_limit


cdef ot_store *store_new(uint64_t seed) noexcept nogil:
    """A new empty store, or NULL when out of memory."""
    cdef ot_store *st = <ot_store *>ot_malloc(sizeof(ot_store))
    if st == NULL:
        return NULL
    memset(st, 0, sizeof(ot_store))
    st.buckets = <ot_bucket *>ot_malloc(OT_BUCKET_COUNT * sizeof(ot_bucket))
    if st.buckets == NULL:
        ot_free(st)
        return NULL
    memset(st.buckets, 0, OT_BUCKET_COUNT * sizeof(ot_bucket))
    st.mem_fixed = sizeof(ot_store) + OT_BUCKET_COUNT * sizeof(ot_bucket)
    st.rng.state = seed
    return st


cdef void store_free(ot_store *st) noexcept nogil:
    cdef uint32_t b, i
    cdef ot_bucket *bk
    if st == NULL:
        return
    for b in range(OT_BUCKET_COUNT):
        bk = &st.buckets[b]
        for i in range(bk.size):
            ot_free(bk.data[i].peers[0])
            ot_free(bk.data[i].peers[1])
        ot_free(bk.data)
    ot_free(st.buckets)
    ot_free(st)


cdef void store_shift(ot_store *st, int64_t minutes) noexcept nogil:
    """Move every torrent's base by `minutes` (the wall clock was set)."""
    cdef uint32_t b, i
    cdef int64_t base
    for b in range(OT_BUCKET_COUNT):
        for i in range(st.buckets[b].size):
            base = st.buckets[b].data[i].base + minutes
            st.buckets[b].data[i].base = <uint32_t>(base if base > 0 else 0)


cdef inline void store_set_clock(ot_store *st, int64_t now_seconds) noexcept nogil:
    st.now_minutes = <uint32_t>(now_seconds // 60) if now_seconds > 0 else 0


# ---------------------------------------------------------------- torrents

cdef uint32_t _torrent_search(ot_bucket *bk, const uint8_t *hash, bint *exact) noexcept nogil:
    cdef uint32_t lo = 0, hi = bk.size, mid
    cdef int c
    while lo < hi:
        mid = (lo + hi) >> 1
        c = memcmp(bk.data[mid].hash, hash, OT_HASH_SIZE)
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


cdef inline uint64_t _torrent_growth(ot_bucket *bk) noexcept nogil:
    """Bytes an insert into this bucket would add."""
    if bk.size < bk.space:
        return 0
    return (<uint64_t>(_grown(bk.space) - bk.space)) * sizeof(ot_torrent) + (OT_BLOCK_OVERHEAD if bk.data == NULL else 0)


cdef ot_torrent *_torrent_insert(ot_store *st, ot_bucket *bk, uint32_t at, const uint8_t *hash) noexcept nogil:
    cdef uint32_t space
    cdef ot_torrent *data
    cdef ot_torrent *t
    if bk.size == bk.space:
        space = _grown(bk.space)
        data = <ot_torrent *>ot_realloc(bk.data, space * sizeof(ot_torrent))
        if data == NULL:
            return NULL
        if bk.data == NULL:
            st.mem_blocks += 1
        st.mem_torrents += (<uint64_t>(space - bk.space)) * sizeof(ot_torrent)
        bk.data = data
        bk.space = space
    memmove(&bk.data[at + 1], &bk.data[at], (bk.size - at) * sizeof(ot_torrent))
    bk.size += 1
    st.torrent_count += 1
    t = &bk.data[at]
    memset(t, 0, sizeof(ot_torrent))
    memcpy(t.hash, hash, OT_HASH_SIZE)
    return t


cdef void _peervec_release(ot_store *st, ot_torrent *t, int family) noexcept nogil:
    cdef ot_peervec *v = t.peers[family]
    if v == NULL:
        return
    st.peer_count[family] -= v.size
    st.seeder_count[family] -= v.seeders
    st.mem_peers -= sizeof(ot_peervec) + (<uint64_t>v.space) * ot_rec_size(family)
    st.mem_blocks -= 1
    ot_free(v)
    t.peers[family] = NULL


cdef void _torrent_remove(ot_store *st, ot_bucket *bk, uint32_t at) noexcept nogil:
    cdef ot_torrent *t = &bk.data[at]
    cdef uint32_t space
    cdef ot_torrent *data
    _peervec_release(st, t, OT_FAMILY_V4)
    _peervec_release(st, t, OT_FAMILY_V6)
    memmove(&bk.data[at], &bk.data[at + 1], (bk.size - at - 1) * sizeof(ot_torrent))
    bk.size -= 1
    st.torrent_count -= 1
    if bk.size == 0:
        ot_free(bk.data)
        st.mem_blocks -= 1
        st.mem_torrents -= (<uint64_t>bk.space) * sizeof(ot_torrent)
        bk.data = NULL
        bk.space = 0
    elif _too_roomy(bk.size, bk.space):
        space = _trimmed(bk.size)
        data = <ot_torrent *>ot_realloc(bk.data, space * sizeof(ot_torrent))
        if data != NULL:       # a failed shrink keeps the larger block
            st.mem_torrents -= (<uint64_t>(bk.space - space)) * sizeof(ot_torrent)
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
        c = memcmp(data + mid * rsize, key, ksize)
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


cdef inline uint64_t _peer_growth(ot_peervec *v, int family) noexcept nogil:
    if v == NULL:
        return sizeof(ot_peervec) + ot_rec_size(family) + OT_BLOCK_OVERHEAD
    if v.size < v.space:
        return 0
    return (<uint64_t>(_grown(v.space) - v.space)) * ot_rec_size(family)


cdef uint8_t *_peer_insert(ot_store *st, ot_torrent *t, int family, uint32_t at) noexcept nogil:
    """Open a zeroed record at index `at`; NULL when out of memory."""
    cdef ot_peervec *v = t.peers[family]
    cdef uint32_t rsize = ot_rec_size(family)
    cdef uint32_t space, old_space
    cdef uint8_t *data
    if v == NULL or v.size == v.space:
        old_space = 0 if v == NULL else v.space
        space = _grown(old_space)
        v = <ot_peervec *>ot_realloc(v, sizeof(ot_peervec) + space * rsize)
        if v == NULL:
            return NULL
        if old_space == 0:
            v.size = 0
            v.seeders = 0
            st.mem_peers += sizeof(ot_peervec)
            st.mem_blocks += 1
        st.mem_peers += (<uint64_t>(space - old_space)) * rsize
        v.space = space
        t.peers[family] = v
    data = ot_peervec_data(v)
    memmove(data + (at + 1) * rsize, data + at * rsize, (v.size - at) * rsize)
    v.size += 1
    st.peer_count[family] += 1
    memset(data + at * rsize, 0, rsize)
    return data + at * rsize


cdef void _peervec_fit(ot_store *st, ot_torrent *t, int family) noexcept nogil:
    """Free an emptied block, or shrink one that is less than half used."""
    cdef ot_peervec *v = t.peers[family]
    cdef ot_peervec *nv
    cdef uint32_t rsize = ot_rec_size(family), space
    if v == NULL:
        return
    if v.size == 0:
        _peervec_release(st, t, family)
    elif _too_roomy(v.size, v.space):
        space = _trimmed(v.size)
        nv = <ot_peervec *>ot_realloc(v, sizeof(ot_peervec) + space * rsize)
        if nv != NULL:
            st.mem_peers -= (<uint64_t>(nv.space - space)) * rsize
            nv.space = space
            t.peers[family] = nv


cdef uint32_t _peervec_age(ot_store *st, ot_torrent *t, int family, uint32_t elapsed) noexcept nogil:
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
        st.peer_count[family] -= dropped
        st.seeder_count[family] -= dropped_seeders
        _peervec_fit(st, t, family)
    return dropped


cdef bint torrent_clean(ot_store *st, ot_torrent *t) noexcept nogil:
    """Lazy ageing (docs/compatibility.md, "Ageing and expiry"). True when
    the torrent is due for removal (the caller removes it)."""
    cdef int64_t elapsed = (<int64_t>st.now_minutes) - t.base
    if elapsed <= 0:
        return False
    if elapsed > OT_TORRENT_TIMEOUT:
        return True
    if elapsed > OT_PEER_TIMEOUT:
        if ot_torrent_peers(t) == 0:
            return t.completed == 0
        if elapsed > OT_PEER_TIMEOUT_MAX:
            elapsed = OT_PEER_TIMEOUT_MAX     # every class's peers go
    _peervec_age(st, t, OT_FAMILY_V4, <uint32_t>elapsed)
    _peervec_age(st, t, OT_FAMILY_V6, <uint32_t>elapsed)
    if ot_torrent_peers(t):
        t.base = st.now_minutes
    else:
        # The last peer was last seen a peer timeout ago: an unfinished
        # torrent is then removed by the next clean.
        t.base = st.now_minutes - OT_PEER_TIMEOUT if st.now_minutes > OT_PEER_TIMEOUT else 0
    return False


# ---------------------------------------------------------------- operations

cdef int store_announce(ot_store *st, const uint8_t *hash, const ot_peer_in *p,
                        ot_announce_result *res) noexcept nogil:
    """Add or update the peer (docs/compatibility.md, "Announce processing").
    OT_OK fills `res`; at the budget (docs/memory.md, "At the budget") a new
    peer of a known torrent is OT_OK with res.unstored and not
    added. Otherwise nothing changed (OT_REFUSED_MEMORY: the budget forbids
    a new torrent; OT_NOMEM: malloc failed)."""
    cdef ot_bucket *bk = &st.buckets[ot_bucket_index(hash)]
    cdef bint exact
    cdef uint32_t at = _torrent_search(bk, hash, &exact)
    cdef ot_torrent *t
    cdef int family = p.family
    cdef uint32_t ksize = ot_key_size(family), rsize = ot_rec_size(family)
    cdef uint8_t flags = p.flags & (PEER_FLAG_SEEDING | PEER_FLAG_COMPLETED)
    cdef uint8_t old
    cdef uint8_t *rec
    cdef uint32_t pos
    cdef bint peer_exact

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
        if torrent_clean(st, t):
            # Idle for a day: start over as the clean cycle would have.
            _peervec_release(st, t, OT_FAMILY_V4)
            _peervec_release(st, t, OT_FAMILY_V6)
            t.completed = 0
        pos = _peer_search(t.peers[family], p.key, ksize, rsize, &peer_exact)
        if not peer_exact and _over_budget(st, _peer_growth(t.peers[family], family)):
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
        if _over_budget(st, _torrent_growth(bk) + _peer_growth(NULL, family)):
            st.refused_memory += 1
            return OT_REFUSED_MEMORY
        t = _torrent_insert(st, bk, at, hash)
        if t == NULL:
            return OT_NOMEM
        res.new_torrent = 1
        pos = 0
        peer_exact = False

    if peer_exact:
        rec = ot_peervec_data(t.peers[family]) + pos * rsize
        old = rec[ksize]
        res.renew_age = rec[ksize + 1]
        if (old & PEER_FLAG_SEEDING) and not (flags & PEER_FLAG_SEEDING):
            t.peers[family].seeders -= 1
            st.seeder_count[family] -= 1
        elif not (old & PEER_FLAG_SEEDING) and (flags & PEER_FLAG_SEEDING):
            t.peers[family].seeders += 1
            st.seeder_count[family] += 1
        if not (old & PEER_FLAG_COMPLETED) and (flags & PEER_FLAG_COMPLETED):
            t.completed += 1
            res.completed = 1
        # "completed" is sticky while the peer stays: one download per stay.
        flags |= old & PEER_FLAG_COMPLETED
    else:
        rec = _peer_insert(st, t, family, pos)
        if rec == NULL:
            if res.new_torrent:
                _torrent_remove(st, bk, at)
            return OT_NOMEM
        memcpy(rec, p.key, ksize)
        res.new_peer = 1
        if p.from_sync:
            flags |= PEER_FLAG_FROM_SYNC
        if flags & PEER_FLAG_SEEDING:
            t.peers[family].seeders += 1
            st.seeder_count[family] += 1
        if flags & PEER_FLAG_COMPLETED:
            t.completed += 1
            res.completed = 1

    rec[ksize] = flags            # timeout class 0 until the tracker sets it
    rec[ksize + 1] = 0
    t.base = st.now_minutes
    res.torrent = t
    res.record = rec
    return OT_OK


cdef ot_torrent *store_stop(ot_store *st, const uint8_t *hash, const ot_peer_in *p) noexcept nogil:
    """Remove the peer if present (docs/compatibility.md, "event=stopped"):
    no clean, no access check, never creates anything. Returns the torrent
    (for its counts after the removal) or NULL when it is unknown."""
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
            st.seeder_count[family] -= 1
        memmove(rec, rec + rsize, (v.size - pos - 1) * rsize)
        v.size -= 1
        st.peer_count[family] -= 1
        _peervec_fit(st, t, family)
    return t


cdef ot_torrent *store_scrape(ot_store *st, const uint8_t *hash) noexcept nogil:
    """The cleaned torrent for a scrape, or NULL when unknown or just expired."""
    cdef ot_bucket *bk = &st.buckets[ot_bucket_index(hash)]
    cdef bint exact
    cdef uint32_t at = _torrent_search(bk, hash, &exact)
    if not exact:
        return NULL
    if torrent_clean(st, &bk.data[at]):
        _torrent_remove(st, bk, at)
        return NULL
    return &bk.data[at]


cdef uint32_t store_clean(ot_store *st, uint32_t first_bucket, uint32_t count) noexcept nogil:
    """Clean `count` buckets starting at `first_bucket` (wrapping), removing
    expired torrents. Returns how many torrents were removed."""
    cdef uint32_t n, i, removed = 0
    cdef ot_bucket *bk
    for n in range(count):
        bk = &st.buckets[(first_bucket + n) % OT_BUCKET_COUNT]
        i = 0
        while i < bk.size:
            if torrent_clean(st, &bk.data[i]):
                _torrent_remove(st, bk, i)
                removed += 1
            else:
                i += 1
    return removed


cdef int store_restore(ot_store *st, const uint8_t *hash, uint32_t base, uint32_t completed) noexcept nogil:
    """Create a peerless torrent from a saved state line unless the hash is
    already known (the first line for a hash wins). OT_OK also when skipped."""
    cdef ot_bucket *bk = &st.buckets[ot_bucket_index(hash)]
    cdef bint exact
    cdef uint32_t at = _torrent_search(bk, hash, &exact)
    cdef ot_torrent *t
    if exact:
        return OT_OK
    if _over_budget(st, _torrent_growth(bk)):
        st.refused_memory += 1
        return OT_REFUSED_MEMORY
    t = _torrent_insert(st, bk, at, hash)
    if t == NULL:
        return OT_NOMEM
    t.base = base
    t.completed = completed
    return OT_OK


cdef ot_torrent *store_next(ot_store *st, const uint8_t *after) noexcept nogil:
    """The torrent with the smallest hash greater than `after` (NULL `after`:
    the first torrent), or NULL at the end. Lets a long walk (full scrape,
    statedump) resume by hash after the store changed under it."""
    cdef uint32_t b = 0, at = 0
    cdef bint exact
    cdef ot_bucket *bk
    if after != NULL:
        b = ot_bucket_index(after)
        at = _torrent_search(&st.buckets[b], after, &exact)
        if exact:
            at += 1
    while b < OT_BUCKET_COUNT:
        bk = &st.buckets[b]
        if at < bk.size:
            return &bk.data[at]
        b += 1
        at = 0
    return NULL


# ---------------------------------------------------------------- peer selection

cdef uint8_t *peers_write_all(uint8_t *out, ot_peervec *v, int family) noexcept nogil:
    """Write every peer's compact form: leechers from the front in list order,
    seeders from the back (so they end up in reverse order). Writes
    v.size * key-size bytes and returns the end."""
    cdef uint32_t ksize = ot_key_size(family), rsize = ot_rec_size(family), i
    cdef uint8_t *end = out + v.size * ksize
    cdef uint8_t *back = end
    cdef uint8_t *rec = ot_peervec_data(v)
    for i in range(v.size):
        if rec[ksize] & PEER_FLAG_SEEDING:
            back -= ksize
            memcpy(back, rec, ksize)
        else:
            memcpy(out, rec, ksize)
            out += ksize
        rec += rsize
    return end


cdef uint8_t *peers_write_selection(uint8_t *out, ot_peervec *v, int family, uint32_t amount,
                                    ot_rng *rng) noexcept nogil:
    """Write `amount` (< v.size) distinct peers, one from each of `amount`
    evenly sized slices of the list taken as a circle from a random start
    (docs/compatibility.md, "Choosing peers"), placed as in peers_write_all.
    Returns the end."""
    cdef uint32_t ksize = ot_key_size(family), rsize = ot_rec_size(family)
    cdef uint32_t count = v.size, shift = 0, offset, diff
    cdef uint64_t shifted = count, step
    cdef uint8_t *end = out + amount * ksize
    cdef uint8_t *back = end
    cdef uint8_t *data = ot_peervec_data(v)
    cdef uint8_t *rec
    # Fixed-point slice width with as much precision as 32-bit int allows.
    while not (shifted & (1 << 29)):
        shifted <<= 1
        shift += 1
    step = shifted // amount
    offset = rng_next(rng) % count
    while amount:
        amount -= 1
        diff = <uint32_t>((((amount + 1) * step) >> shift) - ((amount * step) >> shift))
        offset += 1 + rng_next(rng) % diff
        while offset >= count:
            offset -= count
        rec = data + offset * rsize
        if rec[ksize] & PEER_FLAG_SEEDING:
            back -= ksize
            memcpy(back, rec, ksize)
        else:
            memcpy(out, rec, ksize)
            out += ksize
    return end


cdef inline uint8_t *peers_write(uint8_t *out, ot_peervec *v, int family, uint32_t amount,
                                 ot_rng *rng) noexcept nogil:
    """Write min(amount, peers) peers of one family; returns the end."""
    if v == NULL or amount == 0:
        return out
    if amount >= v.size:
        return peers_write_all(out, v, family)
    return peers_write_selection(out, v, family, amount, rng)
