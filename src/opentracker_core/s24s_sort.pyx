# s24s the quick way, while the memory lasts: gather one key per peer (4
# bytes for IPv4: the address >> 4, 8 for IPv6: the /64), sort them with an
# LSD radix sort a chunk at a time, then count runs of equal prefixes in
# address order and offer each network to the leader lists
# (s24s_leaders.pyx). It holds 8 bytes per IPv4 peer and 16 per IPv6 peer
# (keys and the radix scratch), counted in the answers' memory, and at most
# OT_S24S_SORT_BYTES_PER_SLICE_TORRENT per torrent of a slice (8 MiB at the
# default). When the budget or that bound refuses a step, s24s.pyx counts
# with s24s_table.pyx instead, whose memory does not grow with the peers.

from libc.string cimport memset


cdef enum:
    S24S_SORT_GATHER = 0
    S24S_SORT_HISTOGRAM = 1
    S24S_SORT_SCATTER = 2
    S24S_SORT_COUNT = 3
    # What a step says
    S24S_STEP_MORE = 0
    S24S_STEP_DONE = 1
    S24S_STEP_NO_ROOM = 2     # memory refused: count another way (or fail)


cdef struct ot_s24s_sort:
    void *keys[2]             # per family: uint32_t (IPv4) or uint64_t (IPv6) keys
    size_t n[2]
    size_t cap[2]
    void *tmp                 # radix scratch for the family being sorted
    size_t tmp_size
    size_t hist[8][256]       # digit counts, then scatter offsets
    uint32_t phase
    uint32_t fam
    uint32_t digit
    size_t pos
    # run state of the count, carried across steps
    uint64_t run_key[2]       # the current fine (/28, /64) and coarse (/24, /48) run
    uint64_t run_count[2]


cdef inline size_t s24s_sort_memory(const ot_s24s_sort *so) noexcept nogil:
    return so.cap[0] * 4 + so.cap[1] * 8 + so.tmp_size


cdef bint _sort_room(ot_worker *w, ot_answer *b, const ot_s24s_sort *so, size_t more) noexcept nogil:
    """May the sort take `more` bytes: inside its bound and the budget?"""
    return (s24s_sort_memory(so) + more <= <size_t>w.t.answer_slice * OT_S24S_SORT_BYTES_PER_SLICE_TORRENT
            and _may_grow(w, b, more))


cdef bint s24s_sort_fits(ot_worker *w, ot_answer *b, const ot_s24s_sort *so) noexcept nogil:
    """Would the store's peers, as they are now, fit: both families' keys and
    the larger family's scratch?"""
    cdef ot_store_counts counts
    cdef size_t keys4, keys6
    store_counts(w.t.store, &counts)
    keys4 = <size_t>counts.peers[0] * 4
    keys6 = <size_t>counts.peers[1] * 8
    return _sort_room(w, b, so, keys4 + keys6 + (keys4 if keys4 > keys6 else keys6))


cdef inline uint32_t _sort_digits(uint32_t fam) noexcept nogil:
    return 4 if fam == 0 else 8      # 28-bit keys (4 bytes, the last half-used), 64-bit keys


cdef inline uint64_t _sort_key(const ot_s24s_sort *so, uint32_t fam, size_t i) noexcept nogil:
    if fam == 0:
        return (<const uint32_t *>so.keys[0])[i]
    return (<const uint64_t *>so.keys[1])[i]


cdef bint _sort_reserve(ot_worker *w, ot_answer *b, ot_s24s_sort *so, uint32_t fam, size_t more) noexcept nogil:
    """Room for `more` keys of a family."""
    cdef size_t cap = so.cap[fam], width = 4 if fam == 0 else 8
    cdef void *keys
    if so.n[fam] + more <= cap:
        return True
    cap = cap * 2 if cap else 1024
    while cap < so.n[fam] + more:
        cap *= 2
    if not _sort_room(w, b, so, (cap - so.cap[fam]) * width):
        return False
    keys = ot_realloc(so.keys[fam], cap * width)
    if keys == NULL:
        return False
    so.keys[fam] = keys
    so.cap[fam] = cap
    return True


cdef int _sort_gather(ot_worker *w, ot_answer *b, ot_s24s_sort *so) noexcept nogil:
    """One slice of peers into the key arrays. They grow with the walk's
    lock given back (a growth may map memory), and the walk resumes at the
    torrent that needed the room."""
    cdef ot_walk wk
    cdef ot_torrent *t
    cdef ot_store_counts counts
    cdef uint32_t n = 0
    cdef size_t peers = 0, i, n4, n6
    cdef ot_peervec *v
    cdef const uint8_t *rec
    cdef uint32_t *k4
    cdef uint64_t *k6
    if not b.has_cursor:
        # First slice: room for the peers the store holds now.
        store_counts(w.t.store, &counts)
        if (not _sort_reserve(w, b, so, 0, counts.peers[0])
                or not _sort_reserve(w, b, so, 1, counts.peers[1])):
            return S24S_STEP_NO_ROOM
    t = answer_walk_first(w, b, &wk)
    while t != NULL and n < w.t.answer_slice and peers < <size_t>w.t.answer_slice * OT_S24S_PEERS_PER_SLICE_TORRENT:
        n4 = t.peers[0].size if t.peers[0] != NULL else 0
        n6 = t.peers[1].size if t.peers[1] != NULL else 0
        if so.n[0] + n4 > so.cap[0] or so.n[1] + n6 > so.cap[1]:
            answer_walk_end(&wk)
            if not _sort_reserve(w, b, so, 0, n4) or not _sort_reserve(w, b, so, 1, n6):
                return S24S_STEP_NO_ROOM
            t = answer_walk_first(w, b, &wk)
            continue
        v = t.peers[0]
        if n4:
            k4 = (<uint32_t *>so.keys[0]) + so.n[0]
            rec = ot_peervec_data(v)
            for i in range(n4):
                k4[i] = ot_load_be32(rec) >> 4
                rec += OT_PEER4_SIZE
            so.n[0] += n4
            peers += n4
        v = t.peers[1]
        if n6:
            k6 = (<uint64_t *>so.keys[1]) + so.n[1]
            rec = ot_peervec_data(v)
            for i in range(n6):
                k6[i] = ot_load_be64(rec)
                rec += OT_PEER6_SIZE
            so.n[1] += n6
            peers += n6
        n += 1
        t = answer_walk_next(w, b, &wk, t)
    answer_walk_end(&wk)
    return S24S_STEP_DONE if t == NULL else S24S_STEP_MORE


cdef bint _sort_next_digit(ot_s24s_sort *so) noexcept nogil:
    """Move so.digit to the next digit that orders anything (a digit on
    which every key agrees is skipped) and turn its counts into offsets.
    False when the keys are sorted."""
    cdef uint32_t d
    cdef size_t i, total, c
    while so.digit < _sort_digits(so.fam):
        d = so.digit
        for i in range(256):
            if so.hist[d][i] == so.n[so.fam]:
                break
        else:
            total = 0
            for i in range(256):
                c = so.hist[d][i]
                so.hist[d][i] = total
                total += c
            return True
        so.digit += 1
    return False


cdef void _sort_scatter(ot_s24s_sort *so, size_t lo, size_t hi) noexcept nogil:
    cdef uint32_t shift = so.digit * 8
    cdef size_t *off = so.hist[so.digit]
    cdef size_t i
    cdef uint32_t *s4
    cdef uint32_t *d4
    cdef uint64_t *s6
    cdef uint64_t *d6
    if so.fam == 0:
        s4 = <uint32_t *>so.keys[0]
        d4 = <uint32_t *>so.tmp
        for i in range(lo, hi):
            d4[off[(s4[i] >> shift) & 255]] = s4[i]
            off[(s4[i] >> shift) & 255] += 1
    else:
        s6 = <uint64_t *>so.keys[1]
        d6 = <uint64_t *>so.tmp
        for i in range(lo, hi):
            d6[off[(s6[i] >> shift) & 255]] = s6[i]
            off[(s6[i] >> shift) & 255] += 1


cdef void _sort_count(ot_s24s_sort *so, ot_netrec (*top)[128], size_t lo, size_t hi) noexcept nogil:
    """Runs of equal fine and coarse prefixes over sorted keys [lo, hi)."""
    cdef uint32_t fam = so.fam
    cdef uint32_t coarse_shift = 4 if fam == 0 else 16   # /28 -> /24, /64 -> /48
    cdef ot_netrec *fine = top[2 * fam]
    cdef ot_netrec *coarse = top[2 * fam + 1]
    cdef size_t i
    cdef uint64_t key
    for i in range(lo, hi):
        key = _sort_key(so, fam, i)
        if so.run_count[0] and key == so.run_key[0]:
            so.run_count[0] += 1
        else:
            if so.run_count[0]:
                net_offer(fine, so.run_key[0], so.run_count[0])
            so.run_key[0] = key
            so.run_count[0] = 1
        key >>= coarse_shift
        if so.run_count[1] and key == so.run_key[1]:
            so.run_count[1] += 1
        else:
            if so.run_count[1]:
                net_offer(coarse, so.run_key[1], so.run_count[1])
            so.run_key[1] = key
            so.run_count[1] = 1


cdef int s24s_sort_step(ot_worker *w, ot_answer *b, ot_s24s_sort *so, ot_netrec (*top)[128]) noexcept nogil:
    """One step: a slice of the gathering, or a chunk of a radix pass, or a
    chunk of the counting (which offers networks to `top`)."""
    cdef size_t hi, i, n
    cdef uint32_t d, digits
    cdef uint64_t key
    cdef void *swap
    cdef int rc
    if so.phase == S24S_SORT_GATHER:
        rc = _sort_gather(w, b, so)
        if rc != S24S_STEP_DONE:
            return rc
        so.phase = S24S_SORT_HISTOGRAM
        so.fam = 0
        so.pos = 0
        memset(so.hist, 0, sizeof(so.hist))
        return S24S_STEP_MORE
    n = so.n[so.fam]
    hi = so.pos + <size_t>w.t.answer_slice * OT_S24S_KEYS_PER_SLICE_TORRENT
    if hi > n:
        hi = n
    if so.phase == S24S_SORT_HISTOGRAM:
        digits = _sort_digits(so.fam)
        for i in range(so.pos, hi):
            key = _sort_key(so, so.fam, i)
            for d in range(digits):
                so.hist[d][(key >> (8 * d)) & 255] += 1
        so.pos = hi
        if hi < n:
            return S24S_STEP_MORE
        so.digit = 0
        so.pos = 0
        if n and _sort_next_digit(so):
            i = n * (4 if so.fam == 0 else 8)
            if not _sort_room(w, b, so, i):
                return S24S_STEP_NO_ROOM
            so.tmp = ot_malloc(i)
            if so.tmp == NULL:
                return S24S_STEP_NO_ROOM
            so.tmp_size = i
            so.phase = S24S_SORT_SCATTER
        else:
            so.phase = S24S_SORT_COUNT
        return S24S_STEP_MORE
    if so.phase == S24S_SORT_SCATTER:
        _sort_scatter(so, so.pos, hi)
        so.pos = hi
        if hi < n:
            return S24S_STEP_MORE
        # The sorted keys are in the scratch block now: swap the two.
        swap = so.keys[so.fam]
        so.keys[so.fam] = so.tmp
        so.tmp = swap
        i = so.cap[so.fam] * (4 if so.fam == 0 else 8)
        so.cap[so.fam] = n
        so.tmp_size = i
        so.pos = 0
        so.digit += 1
        if not _sort_next_digit(so):
            ot_free(so.tmp)
            so.tmp = NULL
            so.tmp_size = 0
            so.phase = S24S_SORT_COUNT
        return S24S_STEP_MORE
    # S24S_SORT_COUNT
    _sort_count(so, top, so.pos, hi)
    so.pos = hi
    if hi < n:
        return S24S_STEP_MORE
    if so.run_count[0]:
        net_offer(top[2 * so.fam], so.run_key[0], so.run_count[0])
        net_offer(top[2 * so.fam + 1], so.run_key[1], so.run_count[1])
    so.run_count[0] = so.run_count[1] = 0
    # The keys are spent: give their memory back before the next family.
    ot_free(so.keys[so.fam])
    so.keys[so.fam] = NULL
    so.cap[so.fam] = 0
    if so.fam == 0:
        so.fam = 1
        so.pos = 0
        so.phase = S24S_SORT_HISTOGRAM
        memset(so.hist, 0, sizeof(so.hist))
        return S24S_STEP_MORE
    return S24S_STEP_DONE


cdef void s24s_sort_free(ot_s24s_sort *so) noexcept nogil:
    ot_free(so.keys[0])
    ot_free(so.keys[1])
    ot_free(so.tmp)
    memset(so, 0, sizeof(ot_s24s_sort))
