# Shedding by priority under overload (docs/shedding.md). When requests
# come faster than a worker answers them, its UDP receive queue fills, and
# once it is full the kernel drops datagrams of every kind alike. So the
# worker watches how long requests wait: once recvmmsg batches have come
# back full OT_SHED_STREAK times in a row (the queue never emptied), it
# reads the arrival time the kernel gave each such batch's newest datagram
# (SO_TIMESTAMPNS). A level begins when the wait, at or above its threshold
# since some look without the queue emptying, has grown since then by half
# the time passed (OT_SHED_GROWTH_US at the soonest), or stayed there for
# OT_SHED_PERSIST_US: a stall (the scheduler gave the CPU away for a few
# milliseconds) leaves a wait that shrinks as the loop catches up, a flood
# one that grows, or at best stands. A level holds for the
# worker's hold time (OT_SHED_HOLD_MS, doubled up to OT_SHED_HOLD_MAX_MS
# each time the flood is found still there right after a step down) and
# then steps down one level unless renewed. Each level sheds one more kind
# of request, the costliest and least vital first:
#   1  full scrapes and the heavy stats modes (HTTP 503 with Retry-After)
#   2  scrapes too (UDP: read and dropped; HTTP: 503)
#   3  announces that would add a new peer to a swarm of OT_SHED_HUGE_SWARM
#      peers or more (the same)
# From level 2 on, a classic BPF filter on the loop's UDP sockets drops BEP
# 15 scrapes in the kernel before they are queued (includes/scrapefilter.h):
# reading a flood's datagrams only to drop them costs the loop a fifth of
# its core at twice its capacity (docs/shedding.md, "In the kernel"). What
# is still queued when it goes on, and what slips past (the filter comes off
# at each step down), is shed here as before.
# Connects, stops, and announces of peers a swarm knows are never shed:
# they are cheap, and they are what keeps swarms alive. A shed UDP request
# gets no answer: an answer costs the loop as much as the read did
# (measured, docs/shedding.md), and a client treats the silence as the
# drop the kernel would have made, retrying after 15 s (BEP 15).

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
    # request waits tens of microseconds; at 70 % load one in a thousand
    # waits a millisecond; 2 ms is some 400 announces queued. Why these
    # figures: docs/shedding.md.
    OT_SHED_HEAVY_WAIT = 2000
    OT_SHED_SCRAPE_WAIT = 4000
    OT_SHED_NEWCOMER_WAIT = 16000
    # How long (microseconds) the wait must stay at or above a threshold
    # when it does not grow. A 12 ms stall at 70 % load is caught up within
    # 28 ms, its wait under 4 ms after 20.
    OT_SHED_PERSIST_US = 20000
    # How soon a growing wait counts: 4 ms, in which a flood 1.5 times the
    # loop's capacity adds 2 ms of wait, while a loop catching up at 90 %
    # load takes 0.4 ms off; looks a batch apart jitter by less.
    OT_SHED_GROWTH_US = 4000
    # How long a level holds without a new reading that asks for it. Each
    # step down lets the shed kind back in, and while the flood lasts the
    # queue fills again within milliseconds, announces waiting meanwhile:
    # a level raised again within its hold of a step down doubles the hold,
    # so a long flood is probed every 8 s instead of every second. A step
    # to 0 forgets it.
    OT_SHED_HOLD_MS = 1000
    OT_SHED_HOLD_MAX_MS = 8000
    # A swarm this big gives a new peer plenty to start with even from a
    # later announce (a 200-peer answer is a fifth of it at most).
    OT_SHED_HUGE_SWARM = 1000
    # Seconds a shed HTTP client is asked to wait (Retry-After).
    OT_SHED_RETRY_AFTER = 30
    # How often (milliseconds) the sockets' drop counts are read while the
    # filter is on: /metrics follows a long flood, and the level holds
    # while the scrapes dropped would overload the loop (shed_flood_stays).
    OT_SHED_DROPS_EVERY_MS = 1000
    # What a scrape the filter dropped would cost, in datagrams of what the
    # loop reads meanwhile (mostly announces): a 74-hash scrape costs four
    # or five announces (bench/README.md, "Overload").
    OT_SHED_SCRAPE_COST = 4
    # The loop's CPU share (permille) that letting those scrapes back in
    # may reach before the level must hold.
    OT_SHED_BUSY_MAX = 900
    # A datagram's cost until the loop has read enough to measure it
    # (OT_SHED_COST_READS in a second): a router's announce, about.
    OT_SHED_COST_NS = 20000
    OT_SHED_COST_READS = 100


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


cdef inline bint shed_wait_reaches(int64_t wait_us, int level) noexcept nogil:
    """Is the wait at or above the threshold of this level (1..3)?"""
    if level == SHED_LEVEL_HEAVY:
        return wait_us >= OT_SHED_HEAVY_WAIT
    if level == SHED_LEVEL_SCRAPES:
        return wait_us >= OT_SHED_SCRAPE_WAIT
    return wait_us >= OT_SHED_NEWCOMER_WAIT


cdef void shed_note(ot_worker *w, int64_t now_us, int64_t wait_us) noexcept nogil:
    """A look at the wait (microseconds; -1: the kernel gave no stamp, and
    the streak itself counts as the scrapes' wait) at monotonic time
    now_us: raise the level whose threshold the wait has reached at every
    look since one at least OT_SHED_GROWTH_US ago and has grown since by
    half the time passed, or at every look for w.shed_persist. Within a
    hold of a step down, the first such look suffices: the flood is back,
    and every millisecond spent making sure of it is a millisecond more
    that announces wait."""
    cdef int level
    cdef uint8_t reached = 0
    cdef int64_t persist = w.shed_persist, since
    if w.shed_stepped and w.mono_ms - w.shed_stepped < w.shed_hold:
        persist = 0
    if wait_us < 0:
        wait_us = OT_SHED_SCRAPE_WAIT
    for level in range(1, SHED_LEVEL_NEWCOMERS + 1):
        if not shed_wait_reaches(wait_us, level):
            w.shed_above[level - 1] = -1
            continue
        if w.shed_above[level - 1] < 0:
            w.shed_above[level - 1] = now_us
            w.shed_above_wait[level - 1] = wait_us
        since = now_us - w.shed_above[level - 1]
        if since >= persist or (since >= OT_SHED_GROWTH_US and
                                wait_us - w.shed_above_wait[level - 1] >= since // 2):
            reached = <uint8_t>level
    shed_raise(w, reached)


cdef inline void shed_calm(ot_worker *w) noexcept nogil:
    """The queue was found empty: every wait above a threshold has ended."""
    w.shed_above[0] = w.shed_above[1] = w.shed_above[2] = -1


cdef void shed_init(ot_worker *w) noexcept nogil:
    w.shed_hold = OT_SHED_HOLD_MS
    w.shed_persist = OT_SHED_PERSIST_US
    w.shed_cost_ns = OT_SHED_COST_NS
    shed_calm(w)


cdef void shed_off(ot_worker *w) noexcept nogil:
    """tracker.shedding off: nothing is shed from now on."""
    w.shed_level = 0
    w.shed_stepped = 0
    shed_filter(w)
    shed_init(w)


cdef void shed_off_everywhere(ot_worker *w0) noexcept nogil:
    """tracker.shedding off, while no worker runs: every loop's level ends
    and its filter comes off."""
    cdef uint32_t k
    shed_off(w0)
    for k in range(1, w0.t.worker_count):
        shed_off(w0.t.workers[k])


cdef void shed_observe(ot_worker *w, msghdr *newest) noexcept nogil:
    """Another full batch in a streak was just read; newest is its last
    datagram."""
    cdef timespec mono
    clock_gettime(CLOCK_MONOTONIC, &mono)
    shed_note(w, <int64_t>mono.tv_sec * 1000000 + mono.tv_nsec // 1000, shed_wait(newest))


cdef void shed_raise(ot_worker *w, uint8_t level) noexcept nogil:
    if level == 0 or level < w.shed_level:
        return
    if w.shed_level == 0:
        w.ctr.overloads += 1
    if level > w.shed_level and w.shed_stepped and w.mono_ms - w.shed_stepped < w.shed_hold:
        # back within a hold of the last step down: the flood never left
        w.shed_hold = w.shed_hold * 2 if w.shed_hold * 2 < OT_SHED_HOLD_MAX_MS else OT_SHED_HOLD_MAX_MS
    w.shed_level = level
    w.shed_until = w.mono_ms + w.shed_hold
    shed_filter(w)


cdef inline void shed_relax(ot_worker *w) noexcept nogil:
    """Each loop turn: a level not renewed for its hold steps down. The
    filter's look comes first: it may renew the level at the very turn
    its hold ends."""
    if w.shed_filtered and w.mono_ms - w.shed_drops_read >= OT_SHED_DROPS_EVERY_MS:
        shed_filter_tick(w)
    if w.shed_level and w.mono_ms >= w.shed_until:
        w.shed_level -= 1
        w.shed_stepped = w.mono_ms
        w.shed_until = w.mono_ms + w.shed_hold
        if w.shed_level == 0:
            w.shed_hold = OT_SHED_HOLD_MS
            w.shed_stepped = 0
        shed_filter(w)


cdef inline bint shed_flood_stays(int64_t busy_ns, int64_t wall_ns, uint64_t dropped,
                                  int64_t cost_ns) noexcept nogil:
    """Would the scrapes the filter dropped in wall_ns, let back in at
    OT_SHED_SCRAPE_COST datagrams of cost_ns each, take the loop (busy_ns
    of CPU meanwhile) past OT_SHED_BUSY_MAX?"""
    return (busy_ns + <int64_t>dropped * OT_SHED_SCRAPE_COST * cost_ns) * 1000 > wall_ns * OT_SHED_BUSY_MAX


cdef int64_t _thread_cpu_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef void _shed_filter_mark(ot_worker *w) noexcept nogil:
    w.shed_cpu_seen = _thread_cpu_ns()
    w.shed_reads_seen = w.ctr.udp_datagrams[0] + w.ctr.udp_datagrams[1]


cdef void shed_filter_tick(ot_worker *w) noexcept nogil:
    """Once a second while the filter is on: count its drops, and hold the
    level while the flood they show would still overload the loop. A level
    the filter keeps is never renewed by the queue's wait (the queue holds
    no scrapes), and each step down lets the flood back in at full cost
    until the wait raises the level again: probes that cost announces tens
    of milliseconds each (docs/shedding.md, "In the kernel")."""
    cdef int64_t wall_ns = (w.mono_ms - w.shed_drops_read) * 1000000
    cdef int64_t busy = _thread_cpu_ns() - w.shed_cpu_seen
    cdef uint64_t reads = w.ctr.udp_datagrams[0] + w.ctr.udp_datagrams[1] - w.shed_reads_seen
    cdef uint64_t dropped = shed_count_drops(w)
    if reads >= OT_SHED_COST_READS:
        w.shed_cost_ns = busy // <int64_t>reads
    if dropped and shed_flood_stays(busy, wall_ns, dropped, w.shed_cost_ns):
        w.shed_until = w.mono_ms + w.shed_hold
    _shed_filter_mark(w)


cdef uint64_t shed_count_drops(ot_worker *w) noexcept nogil:
    """Add what the loop's UDP sockets dropped since the last read to the
    kernel's shed count, and return it. While the filter is on, the queue
    holds no scrapes and seldom fills, so the drops are the filter's; a
    queue that overflows meanwhile counts here too (docs/shedding.md, "In
    the kernel")."""
    cdef int i
    cdef uint32_t now
    cdef uint64_t dropped = 0
    for i in range(w.udp_fd_count):
        now = ot_socket_drops(w.udp_fds[i])
        dropped += <uint32_t>(now - w.shed_drops_seen[i])
        w.shed_drops_seen[i] = now
    w.ctr.shed_in_kernel += dropped
    w.shed_drops_read = w.mono_ms
    return dropped


cdef void shed_filter(ot_worker *w) noexcept nogil:
    """Put the kernel's scrape filter on the loop's UDP sockets from level 2
    on, and take it off below. A socket that refuses it (a kernel without
    socket filters) is left as it is: the loop still sheds what it reads."""
    cdef int i
    cdef bint want = w.shed_level >= SHED_LEVEL_SCRAPES and w.t.shedding
    if want == w.shed_filtered:
        return
    if want:
        for i in range(w.udp_fd_count):
            w.shed_drops_seen[i] = ot_socket_drops(w.udp_fds[i])
            ot_scrape_filter_set(w.udp_fds[i], 1)
        w.shed_drops_read = w.mono_ms
        _shed_filter_mark(w)
    else:
        for i in range(w.udp_fd_count):
            ot_scrape_filter_set(w.udp_fds[i], 0)
        shed_count_drops(w)
    w.shed_filtered = want


cdef inline bint shed_heavy(ot_worker *w) noexcept nogil:
    """Full scrapes and heavy stats: at level 1, or while more than three
    quarters of tracker.http_max_connections are open (an HTTP flood the
    UDP queue never sees: a full scrape holds its connection for long,
    and past the limit every new client is refused, announces too)."""
    return w.shed_level >= SHED_LEVEL_HEAVY or (
        w.t.shedding and w.t.max_conns
        and <uint64_t>ot_acquire_load(&w.t.open_all) * 4 > <uint64_t>w.t.max_conns * 3)


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
