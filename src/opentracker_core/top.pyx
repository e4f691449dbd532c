# top10 / top100 (docs/compatibility.md, "top10 and top100"): the torrents
# with the most peers, the most seeders and (as the C original's current
# master) the most leechers, walked a slice at a time as a large answer
# (answers.pyx).

from libc.string cimport memcpy, memmove, memset


cdef struct ot_toprec:
    uint32_t val
    uint8_t hash[20]


cdef struct ot_topstate:
    ot_toprec peers[100]
    ot_toprec seeds[100]
    ot_toprec leechers[100]


cdef void _top_insert(ot_toprec *top, int amount, uint32_t val, const uint8_t *hash) noexcept nogil:
    """The original's insertion: the list is kept highest first, a newcomer
    goes after those with the same count (so ties keep the lower hash) and
    the last one drops off."""
    cdef int idx = amount - 1
    while idx >= 0 and val > top[idx].val:
        idx -= 1
    idx += 1
    if idx < amount:
        memmove(&top[idx + 1], &top[idx], (amount - 1 - idx) * sizeof(ot_toprec))
        top[idx].val = val
        memcpy(top[idx].hash, hash, OT_HASH_SIZE)


cdef uint8_t *_top_section(uint8_t *p, const char *title, size_t tn, int amount,
                           const ot_toprec *top) noexcept nogil:
    cdef int i
    p = put_raw(p, b"Top ", 4)
    p = put_uint(p, amount)
    p = put_raw(p, title, tn)
    for i in range(amount):
        if top[i].val:
            p[0] = c'\t'
            p = put_uint(p + 1, top[i].val)
            p[0] = c'\t'
            p = put_hex_upper(p + 1, top[i].hash)
            p[0] = c'\n'
            p += 1
    return p


cdef bint top_slice(ot_worker *w, ot_answer *b) noexcept nogil:
    """The next slice of torrents into the leader lists; at the end,
    `Top N torrents by peers:`, `by seeds:`, then `by leechers:`
    (docs/compatibility.md, "top10 and top100"), zero counts left out: at
    most 3 * (30 + 100 * 53) bytes,
    well inside the stage."""
    cdef ot_topstate *st = <ot_topstate *>b.aux
    cdef int amount = b.format
    cdef ot_walk wk
    cdef ot_torrent *t = answer_walk_first(w, b, &wk)
    cdef uint32_t n = 0
    cdef uint8_t *p
    while t != NULL and n < w.t.answer_slice:
        _top_insert(st.peers, amount, ot_torrent_peers(t), t.hash)
        _top_insert(st.seeds, amount, ot_torrent_seeders(t), t.hash)
        _top_insert(st.leechers, amount, ot_torrent_peers(t) - ot_torrent_seeders(t), t.hash)
        n += 1
        t = answer_walk_next(w, b, &wk, t)
    answer_walk_end(&wk)
    if t != NULL:
        return False
    p = _top_section(w.answer_stage, b" torrents by peers:\n", 20, amount, st.peers)
    p = _top_section(p, b" torrents by seeds:\n", 20, amount, st.seeds)
    p = _top_section(p, b" torrents by leechers:\n", 23, amount, st.leechers)
    if not answer_append(b, w.answer_stage, <size_t>(p - w.answer_stage), True):
        b.failed = 1
    return True




cdef void _top_aux_free(void *aux) noexcept nogil:
    ot_free(aux)


cdef size_t _top_aux_memory(const void *aux) noexcept nogil:
    return sizeof(ot_topstate)


cdef ot_answer_ops TOP_OPS
TOP_OPS.slice = top_slice
TOP_OPS.aux_free = _top_aux_free
TOP_OPS.aux_memory = _top_aux_memory
TOP_OPS.output_max = 3 * (30 + 100 * 53)


cdef int top_begin(ot_worker *w, ot_conn *c, int amount) noexcept nogil:
    """Start a top10 (amount 10) or top100 answer; 0, or -1 for a 500."""
    cdef void *aux = ot_malloc(sizeof(ot_topstate))
    if aux == NULL:
        return -1
    memset(aux, 0, sizeof(ot_topstate))
    return answer_begin(w, ANSWER_WALK, amount, False, &TOP_OPS, aux)
