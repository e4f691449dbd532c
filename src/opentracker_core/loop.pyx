# A worker's event loop: one epoll set for its listeners, clients and the
# wakeup fd; each turn reads the clock, answers what is ready without the
# GIL (conn.pyx for HTTP, udpio.pyx for UDP, livesync_in.pyx for the
# cluster), sends to large answers' readers within the turn's share
# (stream.pyx), makes one slice of a large answer (answers.pyx), closes
# connections past their deadlines, and once a second ages a slice of the
# store. Python runs only between turns, when a signal or the periodic hook
# asks for it. The worker's fixed buffers are listed here once.

from libc.string cimport memset
from libc.stdint cimport int32_t


cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1


cdef enum:
    OT_EVENTS = 256               # epoll events per wait
    OT_CLEAN_SLICE = 35           # buckets per 1-second tick: a full pass in 117 s
    # A wall clock that moves this much more or less than the monotonic one
    # between two loop turns was set, not ticking.
    OT_CLOCK_JUMP = 120


# ---------------------------------------------------------------- the clock

cdef inline void loop_clock(ot_worker *w) noexcept nogil:
    cdef timespec ts
    cdef int64_t wall, mono, jump
    clock_gettime(CLOCK_REALTIME_COARSE, &ts)
    wall = ts.tv_sec + w.t.clock_offset
    clock_gettime(CLOCK_MONOTONIC, &ts)
    mono = ts.tv_sec
    w.mono_ms = ts.tv_sec * 1000 + ts.tv_nsec // 1000000
    if w.mono and w.index == 0:           # the clock's jumps are worker 0's to handle
        jump = (wall - w.now) - (mono - w.mono)
        if jump > OT_CLOCK_JUMP or jump < -OT_CLOCK_JUMP:
            clock_jumped(w, jump)
    w.now = wall
    w.mono = mono
    store_set_clock(w.t.store, wall)


cdef void clock_jumped(ot_worker *w, int64_t jump) noexcept nogil:
    """The wall clock was set (a router's NTP sync after boot moves it by
    months). Ages are kept by moving every torrent's base along, so peers
    neither vanish at once (a jump forward) nor live on for the length of the
    jump (a jump back); uptime moves along too."""
    store_shift(w.t.store, jump // 60)
    w.t.started += jump
    w.ctr.clock_jumps += 1


# ---------------------------------------------------------------- large answers' share of a turn

cdef void stream_poll_udp(ot_worker *w) noexcept nogil:
    """Answer the datagrams waiting, when OT_STREAM_UDP_POLL bytes went to
    large answers' readers since the last look."""
    cdef int32_t i
    if w.turn_sent - w.turn_polled < OT_STREAM_UDP_POLL:
        return
    w.turn_polled = w.turn_sent
    for i in range(w.udp_fd_count):
        on_udp(w, w.udp_fds[i])


cdef void stream_wake(ot_worker *w, ot_answer *b) noexcept nogil:
    """An answer moved (answer_step): its readers that wait for it, rather
    than for their sockets, get what is new, within the turn's
    OT_TURN_STREAM_BYTES; the others are watched for room to write, so
    that loop_streams serves them in the coming turns."""
    cdef int32_t fd, next
    cdef ot_conn *c
    if b == NULL:
        return
    fd = b.reader
    while fd >= 0:
        c = &w.conns[fd]
        next = c.rd.rnext
        if c.listed != OT_LISTED_WRITING:
            if w.turn_sent < OT_TURN_STREAM_BYTES:
                conn_stream(w, c)
                stream_poll_udp(w)
            elif conn_watch(w, c, EPOLLOUT) < 0:
                conn_close(w, fd)
        fd = next


cdef void loop_streams(ot_worker *w, epoll_event *events, int n) noexcept nogil:
    """Send to the large answers' readers whose sockets have room, after the
    turn's announces, accepts and requests, and only OT_TURN_STREAM_BYTES a
    turn: 200 fast indexers could otherwise fill every turn with 25 MB of
    copying while the next announce waits. The readers left over are still
    ready next turn (epoll is level-triggered, in the same order), so the
    turn starts where this one stopped: each gets its turn in rotation."""
    cdef int k, i, visited = 0, start = <int>(w.stream_rotor % <uint32_t>n)
    cdef uint64_t data
    cdef int32_t fd
    cdef ot_conn *c
    for k in range(n):
        if w.turn_sent >= OT_TURN_STREAM_BYTES:
            break
        i = (start + k) % n
        visited += 1
        data = events[i].data.u64
        fd = <int32_t><uint32_t>data
        c = &w.conns[fd]
        if (c.kind == OT_FD_CLIENT and c.gen == <uint32_t>(data >> 32) and c.state == OT_CONN_STREAMING
                and events[i].events & EPOLLOUT):
            conn_stream(w, c)
            stream_poll_udp(w)
    w.stream_rotor = <uint32_t>(start + visited)


# ---------------------------------------------------------------- the turn

cdef void loop_expire(ot_worker *w) noexcept nogil:
    """Close the connections past their deadline (each loop turn: only the
    lists' heads are looked at)."""
    # Strictly past: the clock is read in whole milliseconds, so a deadline
    # set at 5.9 ms reads as 5, and "<=" would close a client up to 1 ms early.
    while w.reading.head >= 0 and w.conns[w.reading.head].deadline < w.mono_ms:
        conn_close(w, w.reading.head)
    while w.writing.head >= 0 and w.conns[w.writing.head].deadline < w.mono_ms:
        conn_close(w, w.writing.head)


cdef int loop_timeout(ot_worker *w) noexcept nogil:
    """Milliseconds epoll may wait: none while a slice is due, else until
    the next tick or the first deadline."""
    cdef int64_t wake = w.next_tick
    if w.answer_head != NULL:
        return 0
    if w.reading.head >= 0 and w.conns[w.reading.head].deadline + 1 < wake:
        wake = w.conns[w.reading.head].deadline + 1
    if w.writing.head >= 0 and w.conns[w.writing.head].deadline + 1 < wake:
        wake = w.conns[w.writing.head].deadline + 1
    return <int>(wake - w.mono_ms) if wake > w.mono_ms else 0


cdef void loop_tick(ot_worker *w) noexcept nogil:
    cdef ot_counters summed
    w.next_tick = w.mono_ms + 1000
    if w.index:
        return                            # the once-a-second work is worker 0's
    answer_expire(w)
    livesync_tick(w)
    history_tick(&w.t.status.hist, counters_summed(w, &summed), w.mono)
    if w.t.adaptive_interval:
        interval_load_tick(w)
    store_clean(w.t.store, w.t.clean_cursor, OT_CLEAN_SLICE)
    w.t.clean_cursor = (w.t.clean_cursor + OT_CLEAN_SLICE) % OT_BUCKET_COUNT
    if w.hook_interval and w.mono >= w.next_hook:
        w.next_hook = w.mono + w.hook_interval
        w.hook_due = True
        w.python_wanted = True


cdef int loop_run(ot_worker *w) noexcept nogil:
    """Serve until a stop is requested or Python is wanted (0), or until
    epoll_wait fails for another reason than a signal: its errno, which
    the caller raises, instead of retrying at full CPU forever."""
    cdef epoll_event events[OT_EVENTS]
    cdef int n, i, timeout
    cdef uint64_t data
    cdef int32_t fd
    cdef ot_conn *c
    cdef uint32_t ev
    cdef uint8_t drain[64]
    cdef int streams
    while not w.stop and not w.python_wanted:
        n = epoll_wait(w.epfd, events, OT_EVENTS, loop_timeout(w))
        if w.index and ot_acquire_load(&w.t.pause):
            w.python_wanted = True        # park first (workers.pyx): Python changes what we read
            return 0
        loop_clock(w)
        shed_relax(w)
        w.turn_sent = w.turn_polled = 0
        if n < 0:
            if errno != EINTR:
                return errno
            w.python_wanted = True        # a signal: its Python handler is due
            continue
        streams = 0
        for i in range(n):
            data = events[i].data.u64
            fd = <int32_t><uint32_t>data
            c = &w.conns[fd]
            ev = events[i].events
            if c.kind == OT_FD_CLIENT:
                if c.gen != <uint32_t>(data >> 32):
                    continue              # the fd was closed and reused in this batch
                if c.state == OT_CONN_READING:
                    conn_readable(w, fd)
                elif c.state == OT_CONN_WRITING:
                    if ev & (EPOLLERR | EPOLLHUP) and not (ev & EPOLLOUT):
                        conn_close(w, fd)
                    else:
                        conn_writable(w, fd)
                elif c.state == OT_CONN_STREAMING:
                    if ev & EPOLLOUT:
                        streams += 1      # after everything else (loop_streams)
                    elif ev & (EPOLLERR | EPOLLHUP):
                        conn_close(w, fd)
            elif c.kind == OT_FD_UDP:
                on_udp(w, fd)
            elif c.kind == OT_FD_TCP_LISTEN:
                on_accept(w, fd)
            elif c.kind == OT_FD_WAKEUP:
                while read(fd, drain, 64) > 0:
                    pass
                w.python_wanted = True
            elif c.kind == OT_FD_PYTHON:
                c.py_ready = 1
                w.python_wanted = True
            elif c.kind == OT_FD_LIVESYNC:
                on_livesync(w, fd)
            elif c.kind == OT_FD_INBOX:
                inbox_take(w)
        if streams:
            loop_streams(w, events, n)
        if w.answer_head != NULL:
            stream_wake(w, answer_step(w))
        loop_expire(w)
        if w.mono_ms >= w.next_tick:
            loop_tick(w)
    return 0


# ---------------------------------------------------------------- fixed buffers

cdef enum:
    OT_LOOP_BUFFERS = 13


cdef size_t _loop_buffers(ot_worker *w, void ***where, size_t *size) noexcept nogil:
    """The server's fixed buffers, each listed once: where its pointer lives
    and its size. Allocation, the memory budget and freeing all read this."""
    where[0] = <void **>&w.rbuf;         size[0] = OT_HTTP_REQUEST_MAX + 1
    where[1] = <void **>&w.obuf;         size[1] = OT_HTTP_OUT_MAX
    where[2] = <void **>&w.scratch;      size[2] = OT_HTTP_REQUEST_MAX + 1
    where[3] = <void **>&w.answer_stage;   size[3] = OT_ANSWER_STAGE
    where[4] = <void **>&w.udp_in;       size[4] = OT_UDP_BATCH * OT_UDP_IN_MAX
    where[5] = <void **>&w.udp_out;      size[5] = OT_UDP_BATCH * OT_UDP_OUT_MAX
    where[6] = <void **>&w.udp_rmsg;     size[6] = OT_UDP_BATCH * sizeof(mmsghdr)
    where[7] = <void **>&w.udp_smsg;     size[7] = OT_UDP_BATCH * sizeof(mmsghdr)
    where[8] = <void **>&w.udp_riov;     size[8] = OT_UDP_BATCH * sizeof(iovec)
    where[9] = <void **>&w.udp_siov;     size[9] = OT_UDP_BATCH * sizeof(iovec)
    where[10] = <void **>&w.udp_names;   size[10] = OT_UDP_BATCH * sizeof(sockaddr_in6)
    where[11] = <void **>&w.udp_rctl;    size[11] = OT_UDP_BATCH * OT_UDP_CTL
    where[12] = <void **>&w.udp_sctl;    size[12] = OT_UDP_BATCH * OT_UDP_CTL
    return OT_LOOP_BUFFERS


cdef inline bint _loop_buffer_needed(ot_worker *w, size_t i) noexcept nogil:
    # Workers 1.. make no large answers (route.pyx hands those requests to
    # worker 0): they go without its stage.
    return i != 3 or w.index == 0


cdef bint loop_buffers_alloc(ot_worker *w) noexcept nogil:
    """Allocate every fixed buffer (zeroed), count it in the memory budget,
    and wire the UDP batch's messages to their buffers. False when memory
    is short (loop_buffers_free then frees what was taken)."""
    cdef void **where[OT_LOOP_BUFFERS]
    cdef size_t size[OT_LOOP_BUFFERS]
    cdef size_t i, n = _loop_buffers(w, where, size)
    for i in range(n):
        if not _loop_buffer_needed(w, i):
            continue
        where[i][0] = ot_malloc(size[i])
        if where[i][0] == NULL:
            return False
        memset(where[i][0], 0, size[i])
        store_charge_other(w.t.store, <int64_t>size[i])
    for i in range(OT_UDP_BATCH):
        w.udp_riov[i].iov_base = w.udp_in + i * OT_UDP_IN_MAX
        w.udp_riov[i].iov_len = OT_UDP_IN_MAX
        w.udp_rmsg[i].msg_hdr.msg_iov = &w.udp_riov[i]
        w.udp_rmsg[i].msg_hdr.msg_iovlen = 1
        w.udp_rmsg[i].msg_hdr.msg_name = &w.udp_names[i]
        w.udp_rmsg[i].msg_hdr.msg_control = w.udp_rctl + i * OT_UDP_CTL
        w.udp_siov[i].iov_base = w.udp_out + i * OT_UDP_OUT_MAX
        w.udp_smsg[i].msg_hdr.msg_iov = &w.udp_siov[i]
        w.udp_smsg[i].msg_hdr.msg_iovlen = 1
    return True


cdef void loop_buffers_free(ot_worker *w) noexcept nogil:
    cdef void **where[OT_LOOP_BUFFERS]
    cdef size_t size[OT_LOOP_BUFFERS]
    cdef size_t i, n = _loop_buffers(w, where, size)
    for i in range(n):
        if where[i][0] != NULL:
            ot_free(where[i][0])
            where[i][0] = NULL
            store_charge_other(w.t.store, -<int64_t>size[i])
