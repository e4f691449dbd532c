# The store's accounts and the memory budget (docs/memory.md, "The budget"):
# what is held, the check and the charge as one step under the budget lock,
# and mem_other's one way to change. First of the store's files: the slab
# pages (slab.pyx) and the vectors (store.pyx) are charged here.

cdef enum:
    # What malloc costs per block beyond the bytes asked for (glibc: an 8-byte
    # header and rounding to 16), charged against the budget so that the
    # process, not only the store's tables, stays within it.
    OT_BLOCK_OVERHEAD = 16


# ---------------------------------------------------------------- the accounts and the budget

cdef inline uint64_t _held(const ot_store *st) noexcept nogil:
    # Under the budget lock.
    return (st.mem_fixed + st.mem_torrents + st.mem_peers + st.mem_other
            + st.mem_blocks * OT_BLOCK_OVERHEAD)


cdef uint64_t store_held(ot_store *st) noexcept nogil:
    """Everything the core holds, as the memory budget counts it."""
    cdef uint64_t held
    ot_lock_take(&st.budget)
    held = _held(st)
    ot_lock_give(&st.budget)
    return held


cdef bint _over_budget(ot_store *st, uint64_t extra) noexcept nogil:
    """Would `extra` more bytes pass the limit? Only a look: the large
    answers' check (answers.pyx), whose charge follows later."""
    return st.mem_limit != 0 and store_held(st) + extra > st.mem_limit


cdef inline bint _budget_charge(ot_store *st, int64_t torrents, int64_t peers, int64_t blocks,
                                bint enforce) noexcept nogil:
    """Move the store's accounts by these bytes and heap blocks. With
    `enforce`, only if what is held then stays within mem_limit (False:
    nothing charged). The check and the charge are one step under the budget
    lock, so writers in different groups never pass the limit together; a
    charge comes before the allocation it pays for and is given back if
    malloc fails. Inline for the common case: nothing to charge or check."""
    if torrents == 0 and peers == 0 and blocks == 0 and not (enforce and st.mem_limit):
        return True
    return _budget_charge_locked(st, torrents, peers, blocks, enforce)


cdef bint _budget_charge_locked(ot_store *st, int64_t torrents, int64_t peers, int64_t blocks,
                                bint enforce) noexcept nogil:
    cdef bint ok = True
    ot_lock_take(&st.budget)
    if enforce and st.mem_limit and (_held(st) + <uint64_t>(torrents + peers + blocks * OT_BLOCK_OVERHEAD)
                                     > st.mem_limit):
        ok = False
    else:
        st.mem_torrents += <uint64_t>torrents
        st.mem_peers += <uint64_t>peers
        st.mem_blocks += <uint64_t>blocks
    ot_lock_give(&st.budget)
    return ok


cdef void store_charge_other(ot_store *st, int64_t delta) noexcept nogil:
    """mem_other's only way to change (docs/memory.md, "What the budget
    counts"): every worker's buffers, connections and answers are charged
    and given back here, under the budget lock."""
    if delta == 0:
        return
    ot_lock_take(&st.budget)
    st.mem_other += <uint64_t>delta
    ot_lock_give(&st.budget)
