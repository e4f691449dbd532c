# s24s: peers counted per network, the busiest 128 first
# (docs/compatibility.md, "s24s"), built in steps as a large answer
# (answers.pyx): IPv4 by /28 and /24 as the original's v4 build; IPv6, which
# the original's dual-stack upstream leaves out, by /64 (one LAN: the
# smallest network a site is given) and /48 (a
# site's usual allocation), in two more sections that appear only when
# there are IPv6 peers, so a v4-only tracker answers the baseline's bytes.
# (The original's v6 build printed /68 and /48: /68 was an artefact of its
# 4-bit tree, not a network anybody is given.)
#
# The original grew a 16-way tree per address nibble (over 100 bytes per
# network) while it held each bucket's lock. Here the networks are counted
# one of two ways, and both give the same bytes (s24s_leaders.pyx):
# - by sorting one key per peer (s24s_sort.pyx): quick, but 8 to 16 bytes
#   per peer, so only while that fits its bound and the budget;
# - in passes over a hash table of bounded size (s24s_table.pyx): slower,
#   but its memory does not grow with the peers, so s24s is served when the
#   torrents have filled the budget.
# The sort is tried first; if a step of it finds no room, what it counted
# is thrown away and the table starts over.

from libc.string cimport memset


cdef enum:
    S24S_UNDECIDED = 0
    S24S_BY_SORT = 1
    S24S_BY_TABLE = 2


cdef struct ot_s24s:
    uint32_t way              # S24S_BY_*
    ot_s24s_sort sort
    ot_s24s_table table
    ot_netrec top[4][128]     # per level: ranks ascending, top[127] the busiest


cdef bint _s24s_by_table(ot_worker *w, ot_answer *b, ot_s24s *st) noexcept nogil:
    """Start over with the table: nothing the sort counted is kept."""
    s24s_sort_free(&st.sort)
    memset(st.top, 0, sizeof(st.top))
    b.has_cursor = 0
    st.way = S24S_BY_TABLE
    return s24s_table_start(w, b, &st.table)


cdef bint s24s_slice(ot_worker *w, ot_answer *b) noexcept nogil:
    """One step of s24s; True when the answer is over (done or failed)."""
    cdef ot_s24s *st = <ot_s24s *>b.aux
    cdef int rc
    cdef uint8_t *p
    if st.way == S24S_UNDECIDED:
        if s24s_sort_fits(w, b, &st.sort):
            st.way = S24S_BY_SORT
        elif not _s24s_by_table(w, b, st):
            b.failed = 1
            return True
    if st.way == S24S_BY_SORT:
        rc = s24s_sort_step(w, b, &st.sort, st.top)
        if rc == S24S_STEP_NO_ROOM:
            if not _s24s_by_table(w, b, st):
                b.failed = 1
                return True
            return False
    else:
        rc = s24s_table_step(w, b, &st.table, st.top)
        if rc == S24S_STEP_NO_ROOM:
            b.failed = 1
            return True
    if rc == S24S_STEP_MORE:
        return False
    # Counted: the working memory goes before the text takes blocks.
    s24s_sort_free(&st.sort)
    s24s_table_free(&st.table)
    p = s24s_text(w.answer_stage, st.top)
    if not answer_append(b, w.answer_stage, <size_t>(p - w.answer_stage), True):
        b.failed = 1
    return True


cdef void _s24s_aux_free(void *aux) noexcept nogil:
    cdef ot_s24s *st = <ot_s24s *>aux
    s24s_sort_free(&st.sort)
    s24s_table_free(&st.table)
    ot_free(aux)


cdef size_t _s24s_aux_memory(const void *aux) noexcept nogil:
    cdef const ot_s24s *st = <const ot_s24s *>aux
    return sizeof(ot_s24s) + s24s_sort_memory(&st.sort) + s24s_table_memory(&st.table)


cdef ot_answer_ops S24S_OPS
S24S_OPS.slice = s24s_slice
S24S_OPS.aux_free = _s24s_aux_free
S24S_OPS.aux_memory = _s24s_aux_memory
S24S_OPS.output_max = 4 * (22 + S24S_LIMIT * 64)


cdef int s24s_begin(ot_worker *w, ot_conn *c) noexcept nogil:
    """Start an s24s answer; 0, or -1 for a 500."""
    cdef void *aux = ot_malloc(sizeof(ot_s24s))
    if aux == NULL:
        return -1
    memset(aux, 0, sizeof(ot_s24s))
    return answer_begin(w, ANSWER_WALK, FORMAT_NONE, False, &S24S_OPS, aux)
