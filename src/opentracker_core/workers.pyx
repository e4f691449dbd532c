# UDP workers: with tracker.workers N (or the C original's listen.udp.workers
# N), N - 1 loops beside worker 0 serve UDP on threads of their own, each
# with its own epoll set, its own SO_REUSEPORT sockets on every UDP address
# (the kernel spreads clients over them by their address and port), its own
# batch buffers, counters and shed level. They share the tracker: the store
# by its lock groups, the rate limiter and the cluster's queue by their
# locks. Worker 0 keeps HTTP, the once-a-second work and Python.
#
# What Python changes while they run (a reload's access list, the settings,
# the cluster key) it changes with the workers parked: world_pause raises
# the pause word, wakes every worker and waits until all have parked
# between two turns; world_resume lets them go. A worker's turn is a few
# hundred requests at most, so a pause lasts about a millisecond; readers
# therefore never see a list being replaced or freed (the C original's
# reload freed a whitelist its UDP threads could still be reading).
# docs/architecture.md, "Worker loops".

from libc.stdio cimport snprintf
from libc.string cimport memset


cdef enum:
    OT_WORKER_EVENTS = 64         # epoll events per wait: listeners and the wakeup only


cdef void world_pause(ot_tracker *t) noexcept nogil:
    """Park every UDP worker between two of its turns (none running: no-op)."""
    cdef uint32_t k
    if not t.workers_running:
        return
    ot_release_store(&t.pause, 1)
    for k in range(1, t.worker_count):
        ot_eventfd_kick(t.workers[k].wakeup_fd)
    while ot_acquire_load(&t.parked) < <int>(t.worker_count - 1):
        ot_sleep_us(20)


cdef void world_resume(ot_tracker *t) noexcept nogil:
    if not t.workers_running:
        return
    ot_release_store(&t.pause, 0)
    ot_futex_wake_all(&t.pause)


cdef void _worker_park(ot_worker *w) noexcept nogil:
    ot_release_add(&w.t.parked, 1)
    while ot_acquire_load(&w.t.pause):
        ot_futex_wait(&w.t.pause, 1)
    ot_release_add(&w.t.parked, -1)


cdef void udp_worker_run(ot_worker *w) noexcept nogil:
    """A UDP worker's loop: its sockets' batches (on_udp), until quit."""
    cdef epoll_event events[OT_WORKER_EVENTS]
    cdef int n, i
    cdef int32_t fd
    cdef uint8_t drain[8]
    while not ot_acquire_load(&w.quit):
        n = epoll_wait(w.epfd, events, OT_WORKER_EVENTS, -1)
        if ot_acquire_load(&w.t.pause):
            _worker_park(w)
            continue                      # the events are still there (level-triggered)
        loop_clock(w)
        shed_relax(w)
        for i in range(n):
            fd = <int32_t><uint32_t>events[i].data.u64
            if w.conns[fd].kind == OT_FD_UDP:
                on_udp(w, fd)
            elif w.conns[fd].kind == OT_FD_WAKEUP:
                while read(fd, drain, 8) > 0:
                    pass


cdef void *_udp_worker_main(void *arg) noexcept nogil:
    udp_worker_run(<ot_worker *>arg)
    return NULL


cdef int workers_start(ot_tracker *t) noexcept nogil:
    """Start every UDP worker's thread: 0, or pthread_create's error (the
    ones started are stopped again)."""
    cdef uint32_t k
    cdef int rc
    cdef char name[24]
    if t.workers_running or t.worker_count < 2:
        return 0
    for k in range(1, t.worker_count):
        ot_release_store(&t.workers[k].quit, 0)
        snprintf(name, 16, "ot-udp-%u", k)      # a thread name is 15 bytes at most
        rc = ot_thread_start(_udp_worker_main, t.workers[k], name, &t.workers[k].thread)
        if rc:
            t.workers_running = True
            workers_stop(t)
            return rc
    t.workers_running = True
    return 0


cdef void workers_stop(ot_tracker *t) noexcept nogil:
    """End every UDP worker's thread and wait for it."""
    cdef uint32_t k
    cdef ot_worker *x
    if not t.workers_running:
        return
    for k in range(1, t.worker_count):
        x = t.workers[k]
        if x.thread:
            ot_release_store(&x.quit, 1)
            ot_eventfd_kick(x.wakeup_fd)
    for k in range(1, t.worker_count):
        x = t.workers[k]
        if x.thread:
            ot_thread_join(x.thread)
            x.thread = 0
    t.workers_running = False


cdef ot_worker *worker_new(ot_tracker *t, int32_t index) noexcept nogil:
    """A UDP worker's state: epoll set, wakeup eventfd, batch buffers (all
    counted in mem_other); NULL when something could not be had."""
    cdef ot_worker *x = <ot_worker *>ot_malloc(sizeof(ot_worker))
    cdef epoll_event ev
    cdef ot_conn *c
    if x == NULL:
        return NULL
    memset(x, 0, sizeof(ot_worker))
    store_charge_other(t.store, <int64_t>sizeof(ot_worker))
    x.t = t
    x.index = index
    x.reading.head = x.reading.tail = -1
    x.writing.head = x.writing.tail = -1
    x.epfd = epoll_create1(EPOLL_CLOEXEC)
    x.wakeup_fd = ot_eventfd()
    shed_init(x)
    if x.epfd < 0 or x.wakeup_fd < 0 or not loop_buffers_alloc(x):
        worker_free(x)
        return NULL
    c = conn_slot(x, x.wakeup_fd)
    if c == NULL:
        worker_free(x)
        return NULL
    c.kind = OT_FD_WAKEUP
    ev.events = EPOLLIN
    ev.data.u64 = <uint32_t>x.wakeup_fd
    if epoll_ctl(x.epfd, EPOLL_CTL_ADD, x.wakeup_fd, &ev) < 0:
        worker_free(x)
        return NULL
    loop_clock(x)
    return x


cdef void worker_free(ot_worker *x) noexcept nogil:
    """Close what a UDP worker owns (its sockets too) and give its memory back."""
    cdef int32_t fd
    if x == NULL:
        return
    if x.conns != NULL:
        for fd in range(x.conn_cap):
            if x.conns[fd].kind != OT_FD_FREE:
                close(fd)
        ot_free(x.conns)
        store_charge_other(x.t.store, -<int64_t>(<uint64_t>x.conn_cap * sizeof(ot_conn)))
    elif x.wakeup_fd >= 0:
        close(x.wakeup_fd)
    if x.epfd >= 0:
        close(x.epfd)
    loop_buffers_free(x)
    store_charge_other(x.t.store, -<int64_t>sizeof(ot_worker))
    ot_free(x)
