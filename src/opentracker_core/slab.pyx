# Slabs for small peer lists (docs/memory.md, "Slabs"): most swarms hold a
# handful of peers, and as heap blocks of 20-180 bytes each would cost
# malloc's header and size-class rounding (mallocng: 4 bytes and up to a
# quarter) plus the spare records of 25 % growth. Here a list of up to
# OT_SLAB_MAX4 / OT_SLAB_MAX6 records takes a slot of exactly its class's
# size in a page of slots of that class; pages come from mmap and go back
# to the kernel as soon as their last slot is given back.
#
# One lock for all pages, not one slab per lock group: 256 groups times 18
# classes would keep up to 4,608 part-filled pages (18 MiB) where one slab
# keeps at most 18. The slab lock is taken only when a list changes class
# (inside a group lock, never the other way round), and the budget lock
# only inside it, when a page is mapped or unmapped: the order is group,
# slab, budget.


cdef inline uint32_t slab_max(int family) noexcept nogil:
    return OT_SLAB_MAX6 if family else OT_SLAB_MAX4


cdef inline uint32_t slab_class(int family, uint32_t n) noexcept nogil:
    """The class of the smallest slot for n records, 1 <= n <= slab_max."""
    cdef uint32_t split = OT_SLAB_SPLIT6 if family else OT_SLAB_SPLIT4
    cdef uint32_t k = n - 1 if n <= split else split + (n - split - 1) // 2
    return k + (OT_SLAB_CLASSES4 if family else 0)


cdef inline uint32_t slab_capacity(uint32_t cls) noexcept nogil:
    """Records a slot of this class holds."""
    cdef bint v6 = cls >= OT_SLAB_CLASSES4
    cdef uint32_t split = OT_SLAB_SPLIT6 if v6 else OT_SLAB_SPLIT4
    cdef uint32_t k = cls - OT_SLAB_CLASSES4 if v6 else cls
    return k + 1 if k < split else split + 2 * (k - split + 1)


cdef inline uint32_t slab_slot_size(uint32_t cls) noexcept nogil:
    # Multiples of 4 (12 + 8n, 12 + 20n), so every slot and its header's
    # uint32 fields stay aligned after the page head.
    return sizeof(ot_peervec) + slab_capacity(cls) * (OT_PEER6_SIZE if cls >= OT_SLAB_CLASSES4
                                                      else OT_PEER4_SIZE)


cdef inline uint32_t slab_slots_per_page(uint32_t cls) noexcept nogil:
    return (OT_SLAB_PAGE - sizeof(ot_slab_page)) // slab_slot_size(cls)


cdef inline ot_slab_page *_slab_page_of(void *slot) noexcept nogil:
    return <ot_slab_page *>((<size_t>slot) & ~(<size_t>(OT_SLAB_PAGE - 1)))


cdef inline bint _slab_page_full(ot_slab_page *p, uint32_t size) noexcept nogil:
    return p.free == 0 and p.carved + size > OT_SLAB_PAGE


cdef inline void _slab_unlink(ot_slab *sl, ot_slab_page *p) noexcept nogil:
    if p.prev != NULL:
        p.prev.next = p.next
    else:
        sl.room[p.cls] = p.next
    if p.next != NULL:
        p.next.prev = p.prev
    p.next = p.prev = NULL


cdef inline void _slab_push(ot_slab *sl, ot_slab_page *p) noexcept nogil:
    p.prev = NULL
    p.next = sl.room[p.cls]
    if p.next != NULL:
        p.next.prev = p
    sl.room[p.cls] = p


cdef void *slab_take(ot_store *st, uint32_t cls, bint enforce, int *why) noexcept nogil:
    """A slot of this class, or NULL with `why` OT_REFUSED_MEMORY (a new
    page would pass the budget, only with `enforce`) or OT_NOMEM. A new page
    is charged whole (OT_SLAB_PAGE bytes to mem_peers) before it is mapped,
    in the same step as the budget's check."""
    cdef ot_slab *sl = &st.slab
    cdef ot_slab_page *p
    cdef uint32_t size = slab_slot_size(cls)
    cdef uint8_t *slot
    ot_lock_take(&sl.lock)
    p = sl.room[cls]
    if p == NULL and sl.spare[cls] != NULL:
        p = sl.spare[cls]          # still mapped and charged
        sl.spare[cls] = NULL
        _slab_push(sl, p)
    if p == NULL:
        if not _budget_charge(st, 0, OT_SLAB_PAGE, 0, enforce):
            ot_lock_give(&sl.lock)
            why[0] = OT_REFUSED_MEMORY
            return NULL
        p = <ot_slab_page *>ot_pages_alloc(OT_SLAB_PAGE)
        if p == NULL:
            _budget_charge(st, 0, -OT_SLAB_PAGE, 0, False)
            ot_lock_give(&sl.lock)
            why[0] = OT_NOMEM
            return NULL
        p.free = 0
        p.used = 0
        p.carved = sizeof(ot_slab_page)
        p.cls = <uint16_t>cls
        _slab_push(sl, p)
        sl.pages += 1
    if p.free:
        slot = (<uint8_t *>p) + p.free
        p.free = <uint16_t>(<uint32_t *>slot)[0]
    else:
        # Slots past `carved` were never touched: a new page costs resident
        # memory only as far as it is used.
        slot = (<uint8_t *>p) + p.carved
        p.carved += size
    p.used += 1
    sl.live[cls] += 1
    sl.live_total += 1
    if _slab_page_full(p, size):
        _slab_unlink(sl, p)
    ot_lock_give(&sl.lock)
    return slot


cdef inline uint32_t _slab_take_spares(ot_slab *sl, ot_slab_page **gone, uint32_t n) noexcept nogil:
    # Under the slab lock: every spare page off the slab, into `gone`.
    cdef uint32_t c
    for c in range(OT_SLAB_CLASSES):
        if sl.spare[c] != NULL:
            gone[n] = sl.spare[c]
            sl.spare[c] = NULL
            sl.pages -= 1
            n += 1
    return n


cdef void _slab_unmap(ot_store *st, ot_slab_page **gone, uint32_t n) noexcept nogil:
    # Outside the slab lock: no other thread can reach these pages any more.
    cdef uint32_t i
    for i in range(n):
        ot_pages_free(gone[i], OT_SLAB_PAGE)
    if n:
        _budget_charge(st, 0, -(<int64_t>n) * OT_SLAB_PAGE, 0, False)


cdef void slab_give(ot_store *st, void *slot) noexcept nogil:
    """Give a slot back. A page whose last slot this was goes back to the
    kernel (and its charge to the budget), but for one per class kept as
    a spare until the next clean (slab_trim) while other slots live: a
    lone swarm growing through the classes would map and unmap a page at
    every peer otherwise."""
    cdef ot_slab *sl = &st.slab
    cdef ot_slab_page *p = _slab_page_of(slot)
    cdef ot_slab_page *gone[OT_SLAB_CLASSES + 1]
    cdef uint32_t size, n = 0
    cdef bint was_full
    ot_lock_take(&sl.lock)
    size = slab_slot_size(p.cls)
    was_full = _slab_page_full(p, size)
    (<uint32_t *>slot)[0] = p.free
    p.free = <uint16_t>((<uint8_t *>slot) - (<uint8_t *>p))
    p.used -= 1
    sl.live[p.cls] -= 1
    sl.live_total -= 1
    if p.used == 0:
        if not was_full:
            _slab_unlink(sl, p)
        if sl.live_total and sl.spare[p.cls] == NULL:
            sl.spare[p.cls] = p
        else:
            gone[0] = p
            sl.pages -= 1
            n = 1
            if sl.live_total == 0:
                # An empty slab keeps nothing: an emptied store holds what a new one does.
                n = _slab_take_spares(sl, gone, n)
    elif was_full:
        _slab_push(sl, p)
    ot_lock_give(&sl.lock)
    _slab_unmap(st, gone, n)


cdef void slab_trim(ot_store *st) noexcept nogil:
    """Give the spare pages back (each clean, and when the store goes)."""
    cdef ot_slab_page *gone[OT_SLAB_CLASSES]
    cdef uint32_t n
    ot_lock_take(&st.slab.lock)
    n = _slab_take_spares(&st.slab, gone, 0)
    ot_lock_give(&st.slab.lock)
    _slab_unmap(st, gone, n)
