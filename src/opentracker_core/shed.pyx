# Shedding by priority under overload (docs/shedding.md). When requests
# come faster than a worker answers them, its UDP receive queue fills, and
# once it is full the kernel drops datagrams of every kind alike. So the
# worker watches how long requests wait: once recvmmsg batches have come
# back full OT_SHED_STREAK times in a row (the queue never emptied), it
# reads the arrival time the kernel gave each such batch's newest datagram
# (SO_TIMESTAMPNS) and sets a level by that wait, held for
# OT_SHED_HOLD_MS and then stepped down one at a time unless renewed. Each
# level sheds one more kind of request, the costliest and least vital
# first:
#   1  full scrapes and the heavy stats modes (HTTP 503 with Retry-After)
#   2  scrapes too (UDP: the BEP 15 error "overloaded"; HTTP: 503)
#   3  announces that would add a new peer to a swarm of OT_SHED_HUGE_SWARM
#      peers or more
# Connects, stops, and announces of peers a swarm knows are never shed:
# they are cheap, and they are what keeps swarms alive. A shed request
# costs its read and a short answer instead of its work.

cdef enum:
    SHED_LEVEL_HEAVY = 1
    SHED_LEVEL_SCRAPES = 2
    SHED_LEVEL_NEWCOMERS = 3
    # Full batches in a row before the wait is looked at: 256 datagrams
    # read without the queue emptying. A burst, or a turn the scheduler
    # delayed, at a load the loop keeps up with, empties the queue sooner;
    # a flood never does.
    OT_SHED_STREAK = 8
    # The wait, in microseconds, at which each level begins. Idle, a
    # request waits tens of microseconds; a millisecond is some 200
    # announces queued. Why these figures: docs/shedding.md.
    OT_SHED_HEAVY_WAIT = 1000
    OT_SHED_SCRAPE_WAIT = 2000
    OT_SHED_NEWCOMER_WAIT = 8000
    # How long a level holds without a new reading that asks for it: the
    # queue drains fast once the costly requests are shed, and a level
    # dropped at once would let the flood back in at the next batch.
    OT_SHED_HOLD_MS = 1000
    # A swarm this big gives a new peer plenty to start with even from a
    # later announce (a 200-peer answer is a fifth of it at most).
    OT_SHED_HUGE_SWARM = 1000
    # Seconds a shed HTTP client is asked to wait (Retry-After).
    OT_SHED_RETRY_AFTER = 30


cdef const char *OT_SHED_REFUSAL = b"overloaded"
cdef size_t OT_SHED_REFUSAL_LEN = 10


cdef int64_t shed_wait(msghdr *received) noexcept nogil:
    """Microseconds since the datagram arrived, by the kernel's stamp
    (never negative: a wall clock set back reads as no wait), or -1 when
    it carries none."""
    cdef cmsghdr *cm = CMSG_FIRSTHDR(received)
    cdef timespec now, arrived
    cdef int64_t us
    while cm != NULL:
        if cm.cmsg_level == SOL_SOCKET and cm.cmsg_type == SCM_TIMESTAMPNS:
            memcpy(&arrived, CMSG_DATA(cm), sizeof(timespec))
            clock_gettime(CLOCK_REALTIME, &now)
            us = (<int64_t>now.tv_sec - <int64_t>arrived.tv_sec) * 1000000 + (now.tv_nsec - arrived.tv_nsec) // 1000
            return us if us > 0 else 0
        cm = CMSG_NXTHDR(received, cm)
    return -1


cdef uint8_t shed_level_for(int64_t wait_us) noexcept nogil:
    if wait_us >= OT_SHED_NEWCOMER_WAIT:
        return SHED_LEVEL_NEWCOMERS
    if wait_us >= OT_SHED_SCRAPE_WAIT:
        return SHED_LEVEL_SCRAPES
    if wait_us >= OT_SHED_HEAVY_WAIT:
        return SHED_LEVEL_HEAVY
    return 0


cdef void shed_observe(ot_worker *w, msghdr *newest) noexcept nogil:
    """Another full batch in a streak was just read; newest is its last
    datagram. Set the level its wait asks for (a higher one at once; the
    same one renewed). Without stamps the streak itself is the only sign,
    and counts as the scrapes' level."""
    cdef int64_t wait_us = shed_wait(newest)
    shed_raise(w, SHED_LEVEL_SCRAPES if wait_us < 0 else shed_level_for(wait_us))


cdef void shed_raise(ot_worker *w, uint8_t level) noexcept nogil:
    if level == 0 or level < w.shed_level:
        return
    if w.shed_level == 0:
        w.ctr.overloads += 1
    w.shed_level = level
    w.shed_until = w.mono_ms + OT_SHED_HOLD_MS


cdef inline void shed_relax(ot_worker *w) noexcept nogil:
    """Each loop turn: a level not renewed for OT_SHED_HOLD_MS steps down."""
    if w.shed_level and w.mono_ms >= w.shed_until:
        w.shed_level -= 1
        w.shed_until = w.mono_ms + OT_SHED_HOLD_MS


cdef inline bint shed_heavy(ot_worker *w) noexcept nogil:
    """Full scrapes and heavy stats: at level 1, or while more than three
    quarters of tracker.http_max_connections are open (an HTTP flood the
    UDP queue never sees: a full scrape holds its connection for long,
    and past the limit every new client is refused, announces too)."""
    return w.shed_level >= SHED_LEVEL_HEAVY or (
        w.t.shedding and w.t.max_conns and <uint64_t>w.open_conns * 4 > <uint64_t>w.t.max_conns * 3)


cdef bint shed_newcomer(ot_worker *w, const uint8_t *hash, const ot_peer_in *p) noexcept nogil:
    """At the worst level: would this announce add a new peer to a huge
    swarm? Then it is shed (and counted by the caller, which knows the
    protocol). Costs a bucket and a peer search, no store change."""
    cdef ot_torrent *t
    if w.shed_level < SHED_LEVEL_NEWCOMERS:
        return False
    t = store_find(w.t.store, hash)
    if t == NULL or ot_torrent_peers(t) < OT_SHED_HUGE_SWARM:
        return False
    return not store_knows_peer(t, p)
