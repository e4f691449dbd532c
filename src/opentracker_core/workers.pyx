# Worker loops: with tracker.workers N (or the C original's
# listen.udp.workers N), N - 1 loops beside worker 0 serve on threads of
# their own, each the same engine (loop_run) with its own epoll set, its own
# SO_REUSEPORT copies of every listener (the kernel spreads clients over
# them by their address and port), buffers, connections, counters and shed
# level. They share the tracker: the store by its lock groups, the rate
# limiter and the cluster's queue by their locks. Worker 0 keeps the large
# answers, the stats, the once-a-second work and Python; the others hand it
# those requests' connections (conn_handoff).
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


cdef void world_pause(ot_tracker *t) noexcept nogil:
    """Park every worker but 0 between two of its turns (none running: no-op)."""
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


cdef void worker_run(ot_worker *w) noexcept nogil:
    """Worker 1..'s thread: the loop (loop_run) until quit, parked while
    Python changes what it reads. loop_run returns when its wakeup eventfd
    was written (Python wants it to look at quit or the pause) or when it
    saw the pause raised; epoll_wait failing otherwise ends the thread's
    serving only after a short wait (it does not spin)."""
    cdef int failed
    while not ot_acquire_load(&w.quit):
        if ot_acquire_load(&w.t.pause):
            _worker_park(w)
            continue
        w.python_wanted = False
        failed = loop_run(w)
        if failed:
            ot_sleep_us(10000)


cdef void *_worker_main(void *arg) noexcept nogil:
    worker_run(<ot_worker *>arg)
    return NULL


cdef int workers_start(ot_tracker *t) noexcept nogil:
    """Start the thread of every worker but 0: 0, or pthread_create's error (the
    ones started are stopped again)."""
    cdef uint32_t k
    cdef int rc
    cdef char name[24]
    if t.workers_running or t.worker_count < 2:
        return 0
    for k in range(1, t.worker_count):
        ot_release_store(&t.workers[k].quit, 0)
        snprintf(name, 16, "ot-worker-%u", k)      # a thread name is 15 bytes at most
        rc = ot_thread_start(_worker_main, t.workers[k], name, &t.workers[k].thread)
        if rc:
            t.workers_running = True
            workers_stop(t)
            return rc
    t.workers_running = True
    return 0


cdef void workers_stop(ot_tracker *t) noexcept nogil:
    """End the thread of every worker but 0 and wait for it."""
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
    """Worker `index`'s state: epoll set, wakeup eventfd, buffers and its
    first 64 descriptor slots (all counted in mem_other); NULL when
    something could not be had."""
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
    # The table's first 64 slots from the start, as worker 0's (server.pyx).
    c = conn_slot(x, 63 if x.wakeup_fd < 63 else x.wakeup_fd)
    if c == NULL:
        worker_free(x)
        return NULL
    c = &x.conns[x.wakeup_fd]
    c.kind = OT_FD_WAKEUP
    ev.events = EPOLLIN
    ev.data.u64 = <uint32_t>x.wakeup_fd
    if epoll_ctl(x.epfd, EPOLL_CTL_ADD, x.wakeup_fd, &ev) < 0:
        worker_free(x)
        return NULL
    loop_clock(x)
    x.next_tick = x.mono_ms + 1000
    return x


cdef void worker_free(ot_worker *x) noexcept nogil:
    """Close what a worker owns (its listeners and clients too) and give
    its memory back."""
    cdef int32_t fd
    if x == NULL:
        return
    if x.conns != NULL:
        for fd in range(x.conn_cap):
            if x.conns[fd].kind == OT_FD_CLIENT:
                conn_close(x, fd)
            elif x.conns[fd].kind != OT_FD_FREE:
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
