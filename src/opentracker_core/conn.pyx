# A worker's connections: one slot per descriptor (listeners, clients, the
# wakeup pipe), the two deadline lists, epoll registration, and an HTTP
# client's life: accepted, its request read (whole in one read, usually),
# answered, the answer sent (or queued for EPOLLOUT), closed. A request
# answered by a large answer is handed to stream.pyx, whose verdicts say
# what the connection does next (conn_stream).

from libc.string cimport memcpy, memset


cdef enum:
    OT_ACCEPTS = 64               # accepts per readiness event


# ---------------------------------------------------------------- slots and deadline lists

cdef inline void list_push(ot_worker *w, ot_fdlist *l, int32_t fd) noexcept nogil:
    cdef ot_conn *c = &w.conns[fd]
    c.prev = l.tail
    c.next = -1
    if l.tail >= 0:
        w.conns[l.tail].next = fd
    else:
        l.head = fd
    l.tail = fd


cdef inline void list_unlink(ot_worker *w, ot_fdlist *l, int32_t fd) noexcept nogil:
    cdef ot_conn *c = &w.conns[fd]
    if c.prev >= 0:
        w.conns[c.prev].next = c.next
    elif l.head == fd:
        l.head = c.next
    if c.next >= 0:
        w.conns[c.next].prev = c.prev
    elif l.tail == fd:
        l.tail = c.prev
    c.prev = c.next = -1


cdef void conn_unlist(ot_worker *w, ot_conn *c) noexcept nogil:
    if c.listed == OT_LISTED_READING:
        list_unlink(w, &w.reading, c.fd)
    elif c.listed == OT_LISTED_WRITING:
        list_unlink(w, &w.writing, c.fd)
    c.listed = OT_LISTED_NONE


cdef void conn_list(ot_worker *w, ot_conn *c, uint8_t which, int64_t seconds) noexcept nogil:
    """(Re)start c's deadline, `seconds` from now, at the back of its list:
    every connection in a list has the same timeout, so each list stays in
    deadline order and only its head needs watching."""
    conn_unlist(w, c)
    c.deadline = w.mono_ms + seconds * 1000
    list_push(w, &w.reading if which == OT_LISTED_READING else &w.writing, c.fd)
    c.listed = which


cdef ot_conn *conn_slot(ot_worker *w, int32_t fd) noexcept nogil:
    """The slot for fd, growing the table when fd is past its end (moves
    every slot: no ot_conn pointer survives this call). NULL without memory."""
    cdef int32_t cap, i
    cdef ot_conn *conns
    if fd >= w.conn_cap:
        cap = w.conn_cap * 2 if w.conn_cap else 64
        while cap <= fd:
            cap *= 2
        conns = <ot_conn *>ot_realloc(w.conns, cap * sizeof(ot_conn))
        if conns == NULL:
            return NULL
        memset(conns + w.conn_cap, 0, (cap - w.conn_cap) * sizeof(ot_conn))
        for i in range(w.conn_cap, cap):
            conns[i].prev = conns[i].next = -1
            conns[i].rd.rnext = -1
            conns[i].fd = i
        # The table grows with the highest descriptor (bounded by the
        # descriptor limit) and is counted like the other buffers.
        store_charge_other(w.t.store, <int64_t>(<uint64_t>(cap - w.conn_cap) * sizeof(ot_conn)))
        w.conns = conns
        w.conn_cap = cap
    return &w.conns[fd]


cdef inline uint64_t _event_data(ot_conn *c) noexcept nogil:
    return (<uint64_t>c.gen << 32) | <uint32_t>c.fd


cdef int conn_unwatch(ot_worker *w, ot_conn *c) noexcept nogil:
    """Stop watching c (it waits for its answer to be made, not for its
    socket); -1 when epoll refused."""
    if c.registered:
        if epoll_ctl(w.epfd, EPOLL_CTL_DEL, c.fd, NULL) < 0:
            return -1
        c.registered = 0
    return 0


cdef int conn_watch(ot_worker *w, ot_conn *c, uint32_t events) noexcept nogil:
    cdef epoll_event ev
    ev.events = events
    ev.data.u64 = _event_data(c)
    if epoll_ctl(w.epfd, EPOLL_CTL_MOD if c.registered else EPOLL_CTL_ADD, c.fd, &ev) < 0:
        return -1
    c.registered = 1
    return 0


# ---------------------------------------------------------------- an HTTP client

cdef bint in_reserve(ot_worker *w, ot_conn *c, size_t need) noexcept nogil:
    """Room for `need` bytes of request header and the NUL after them,
    grown by doubling from OT_HTTP_IN_FIRST; counted in the budget."""
    cdef uint32_t cap = c.in_cap if c.in_cap else OT_HTTP_IN_FIRST
    cdef uint8_t *buf
    if need + 1 <= c.in_cap:
        return True
    while cap < need + 1:
        cap *= 2
    if cap > OT_HTTP_REQUEST_MAX + 1:
        cap = OT_HTTP_REQUEST_MAX + 1
    buf = <uint8_t *>ot_realloc(c.in_buf, cap)
    if buf == NULL:
        return False
    c.in_buf = buf
    store_charge_other(w.t.store, <int64_t>(cap - c.in_cap))
    w.in_held += cap - c.in_cap
    c.in_cap = cap
    return True


cdef void in_free(ot_worker *w, ot_conn *c) noexcept nogil:
    ot_free(c.in_buf)
    store_charge_other(w.t.store, -<int64_t>c.in_cap)
    w.in_held -= c.in_cap
    c.in_buf = NULL
    c.in_cap = 0
    c.in_len = 0


cdef void conn_close(ot_worker *w, int32_t fd) noexcept nogil:
    cdef ot_conn *c = &w.conns[fd]
    cdef int i
    if c.kind != OT_FD_CLIENT:
        return
    conn_unlist(w, c)
    if c.state == OT_CONN_STREAMING:
        stream_detach(w, c)
    if c.drain:
        # Unread input at close makes the kernel send a RST, which can destroy
        # the answer in flight; read what is there first.
        for i in range(8):
            if recv(fd, w.rbuf, OT_HTTP_REQUEST_MAX, MSG_DONTWAIT) <= 0:
                break
    in_free(w, c)
    ot_free(c.out_buf)
    store_charge_other(w.t.store, -<int64_t>c.out_held)
    w.queued_held -= c.out_held
    c.out_held = 0
    c.out_buf = NULL
    c.out_len = c.out_pos = 0
    c.kind = OT_FD_FREE
    c.registered = 0
    c.drain = 0
    c.gen += 1
    close(fd)
    w.open_conns -= 1
    ot_release_add(&w.t.open_all, -1)


cdef void conn_send(ot_worker *w, ot_conn *c, const uint8_t *data, size_t n) noexcept nogil:
    """Send an answer and close, or keep what the socket did not take for
    EPOLLOUT. The data lives in a worker's buffer, so the rest is copied;
    what waits in a send queue counts against the memory budget."""
    cdef int32_t fd = c.fd
    cdef ssize_t wrote
    cdef uint8_t *rest
    in_free(w, c)
    conn_unlist(w, c)
    c.state = OT_CONN_ANSWERING
    wrote = send(fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT)
    if <size_t>wrote == n or (wrote < 0 and errno != EAGAIN and errno != EINTR):
        conn_close(w, fd)
        return
    if wrote < 0:
        wrote = 0
    rest = <uint8_t *>ot_malloc(n - wrote)
    if rest == NULL:
        conn_close(w, fd)
        return
    memcpy(rest, data + wrote, n - wrote)
    c.out_buf = rest
    c.out_pos = 0
    c.out_len = c.out_held = n - wrote
    store_charge_other(w.t.store, <int64_t>c.out_held)
    w.queued_held += c.out_held
    c.state = OT_CONN_WRITING
    conn_list(w, c, OT_LISTED_WRITING, w.t.send_timeout)
    if conn_watch(w, c, EPOLLOUT) < 0:
        conn_close(w, fd)


cdef void conn_answer(ot_worker *w, ot_conn *c, uint8_t *req, size_t n) noexcept nogil:
    cdef ot_span span = http_respond(w, c, req, n, w.obuf)
    cdef ot_answer *b = w.handover
    if w.t.worker_count > 1:
        counters_publish(w)           # before the answer leaves (counters.pyx)
    if w.handoff:
        w.handoff = False
        conn_handoff(w, c, req, n)
    elif b != NULL:
        w.handover = NULL
        conn_stream_start(w, c, b, request_is_http11(req, n))
    elif span.len:
        conn_send(w, c, w.obuf + span.start, span.len)


# ---------------------------------------------------------------- connections handed to worker 0

cdef void conn_handoff(ot_worker *w, ot_conn *c, uint8_t *req, size_t n) noexcept nogil:
    """Give c and its request to worker 0 (route.pyx's _to_worker0): a copy
    of the request joins the tracker's inbox, the fd leaves this worker's
    epoll set and table, and worker 0's eventfd is written. With a
    worker's share of tracker.http_max_connections already waiting (worker
    0 far behind), the request is answered 503 here instead."""
    cdef ot_tracker *t = w.t
    cdef int32_t fd = c.fd
    cdef ot_span span
    cdef size_t size = sizeof(ot_handoff) + n + 1
    cdef ot_handoff *h = <ot_handoff *>ot_malloc(size)
    cdef uint8_t *copy
    if h == NULL:
        conn_close(w, fd)
        return
    store_charge_other(t.store, <int64_t>size)
    h.next = NULL
    h.fd = fd
    memcpy(h.addr, c.addr, 16)
    h.port = c.port
    h.len = <uint32_t>n
    copy = (<uint8_t *>h) + sizeof(ot_handoff)
    memcpy(copy, req, n)
    copy[n] = 0
    # Out of this worker first: once in the inbox, worker 0 may watch it.
    if c.registered and epoll_ctl(w.epfd, EPOLL_CTL_DEL, fd, NULL) < 0:
        _handoff_free(t, h)
        conn_close(w, fd)
        return
    c.registered = 0
    ot_lock_take(&t.inbox_lock)
    if t.inbox_count >= conn_share(t):
        ot_lock_give(&t.inbox_lock)
        _handoff_free(t, h)
        span = http_shed(w, w.obuf, SHED_HTTP_STATS)
        conn_send(w, c, w.obuf + span.start, span.len)
        return
    if t.inbox_tail != NULL:
        t.inbox_tail.next = h
    else:
        t.inbox_head = h
    t.inbox_tail = h
    t.inbox_count += 1
    ot_lock_give(&t.inbox_lock)
    conn_unlist(w, c)
    in_free(w, c)
    c.kind = OT_FD_FREE
    c.drain = 0
    c.gen += 1
    w.open_conns -= 1
    ot_eventfd_kick(t.inbox_fd)


cdef inline void _handoff_free(ot_tracker *t, ot_handoff *h) noexcept nogil:
    store_charge_other(t.store, -<int64_t>(sizeof(ot_handoff) + h.len + 1))
    ot_free(h)


cdef ot_handoff *_inbox_detach(ot_tracker *t) noexcept nogil:
    """Everything waiting in the inbox, oldest first; the inbox empty."""
    cdef ot_handoff *h
    ot_lock_take(&t.inbox_lock)
    h = t.inbox_head
    t.inbox_head = t.inbox_tail = NULL
    t.inbox_count = 0
    ot_lock_give(&t.inbox_lock)
    return h


cdef void inbox_take(ot_worker *w) noexcept nogil:
    """Worker 0: adopt every connection the others handed over and answer
    its request, as if it had been accepted here."""
    cdef ot_tracker *t = w.t
    cdef ot_handoff *h
    cdef ot_handoff *next
    cdef int32_t fd
    cdef uint32_t n
    cdef ot_conn *c
    cdef uint8_t drain[8]
    while read(t.inbox_fd, drain, 8) > 0:
        pass
    h = _inbox_detach(t)
    while h != NULL:
        next = h.next
        fd = h.fd
        n = h.len
        # The request into this worker's buffer (free between events), its
        # copy given back before it is answered: a /metrics it asks for
        # counts what an answer here would.
        memcpy(w.rbuf, (<uint8_t *>h) + sizeof(ot_handoff), n + 1)
        c = conn_slot(w, fd)
        if c == NULL:
            close(fd)
            _handoff_free(t, h)
        else:
            c.kind = OT_FD_CLIENT
            c.state = OT_CONN_READING
            c.registered = 0
            c.drain = 0
            c.listed = OT_LISTED_NONE
            memcpy(c.addr, h.addr, 16)
            c.port = h.port
            _handoff_free(t, h)
            w.open_conns += 1
            conn_list(w, c, OT_LISTED_READING, w.t.http_timeout)
            conn_answer(w, c, w.rbuf, n)
        h = next


cdef void inbox_close(ot_tracker *t) noexcept nogil:
    """Close what is still waiting (the server is going away)."""
    cdef ot_handoff *h = _inbox_detach(t)
    cdef ot_handoff *next
    while h != NULL:
        next = h.next
        close(h.fd)
        _handoff_free(t, h)
        h = next


cdef void conn_stream_start(ot_worker *w, ot_conn *c, ot_answer *b, bint http11) noexcept nogil:
    """The request is answered by a large answer (a handler left it in
    w.handover): c becomes its reader and stops being listened to (its
    socket is watched again when the answer waits for it to drain)."""
    stream_attach(w, b, c, http11)
    conn_unlist(w, c)
    in_free(w, c)
    stream_socket(c.fd)
    if conn_unwatch(w, c) < 0:
        conn_close(w, c.fd)
        return
    conn_stream(w, c)


cdef void conn_stream(ot_worker *w, ot_conn *c) noexcept nogil:
    """Send a large answer's reader what is ready (stream_send) and do what
    its verdict asks of the connection."""
    cdef int verdict = stream_send(w, c)
    cdef int what = verdict & STREAM_VERDICT
    cdef ot_span span
    if what == STREAM_OVER:
        conn_close(w, c.fd)
    elif what == STREAM_REFUSED:
        stream_detach(w, c)
        span = http_error(w, w.obuf, HTTPERR_500)
        conn_send(w, c, w.obuf + span.start, span.len)
    elif what == STREAM_WAIT_SLICE:
        # Caught up: wait for the next slice, with no deadline (the wait is
        # the tracker's, not the client's) and no events.
        conn_unlist(w, c)
        if conn_unwatch(w, c) < 0:
            conn_close(w, c.fd)
    elif what == STREAM_WAIT_SOCKET:
        # The socket is full: wait for it to drain, within
        # tracker.send_timeout of the last progress.
        if verdict & STREAM_PROGRESS or c.listed != OT_LISTED_WRITING:
            conn_list(w, c, OT_LISTED_WRITING, w.t.send_timeout)
        if conn_watch(w, c, EPOLLOUT) < 0:
            conn_close(w, c.fd)


cdef void conn_readable(ot_worker *w, int32_t fd) noexcept nogil:
    cdef ot_conn *c = &w.conns[fd]
    cdef ssize_t n = recv(fd, w.rbuf, OT_HTTP_REQUEST_MAX, 0)
    cdef size_t scan_from
    cdef ot_span span
    if n < 0:
        if errno != EAGAIN and errno != EINTR:
            conn_close(w, fd)
        return
    if n == 0:
        conn_close(w, fd)
        return
    if c.in_len == 0:
        # The usual case: the whole request in the first read, no copy.
        if header_complete(w.rbuf, <size_t>n):
            w.rbuf[n] = 0
            conn_answer(w, c, w.rbuf, <size_t>n)
            return
        if not in_reserve(w, c, <size_t>n):
            conn_close(w, fd)
            return
        memcpy(c.in_buf, w.rbuf, n)
        c.in_len = <uint32_t>n
        return
    if c.in_len + n > OT_HTTP_REQUEST_MAX:
        c.drain = 1
        span = http_error(w, w.obuf, HTTPERR_500)
        conn_send(w, c, w.obuf + span.start, span.len)
        return
    if not in_reserve(w, c, c.in_len + <size_t>n):
        conn_close(w, fd)
        return
    scan_from = c.in_len - 3 if c.in_len > 3 else 0
    memcpy(c.in_buf + c.in_len, w.rbuf, n)
    c.in_len += <uint32_t>n
    if header_complete(c.in_buf + scan_from, c.in_len - scan_from):
        c.in_buf[c.in_len] = 0
        conn_answer(w, c, c.in_buf, c.in_len)


cdef void conn_writable(ot_worker *w, int32_t fd) noexcept nogil:
    cdef ot_conn *c = &w.conns[fd]
    cdef ssize_t wrote = send(fd, c.out_buf + c.out_pos, c.out_len - c.out_pos, MSG_NOSIGNAL | MSG_DONTWAIT)
    if wrote < 0:
        if errno != EAGAIN and errno != EINTR:
            conn_close(w, fd)
        return
    c.out_pos += wrote
    if c.out_pos >= c.out_len:
        conn_close(w, fd)
    elif wrote > 0:
        conn_list(w, c, OT_LISTED_WRITING, w.t.send_timeout)     # progress: a new deadline


cdef void conn_begin(ot_worker *w, int32_t fd, const uint8_t *addr16, uint16_t port) noexcept nogil:
    """A new client connection on fd (owned from here on) from addr16:port:
    its slot, its header deadline, and its request answered at once when it
    is already here (with TCP_DEFER_ACCEPT it usually is), else watched."""
    cdef ot_conn *c = conn_slot(w, fd)
    if c == NULL:
        close(fd)
        return
    c.kind = OT_FD_CLIENT
    c.state = OT_CONN_READING
    c.registered = 0
    c.drain = 0
    c.listed = OT_LISTED_NONE
    memcpy(c.addr, addr16, 16)
    c.port = port
    w.ctr.tcp_accepts[addr_family(c.addr)] += 1
    w.open_conns += 1
    ot_release_add(&w.t.open_all, 1)
    conn_list(w, c, OT_LISTED_READING, w.t.http_timeout)
    conn_readable(w, fd)
    c = &w.conns[fd]
    if c.kind == OT_FD_CLIENT and c.state == OT_CONN_READING and not c.registered:
        if conn_watch(w, c, EPOLLIN | EPOLLRDHUP) < 0:
            conn_close(w, fd)


cdef void on_accept(ot_worker *w, int32_t lfd) noexcept nogil:
    cdef sockaddr_in6 sa
    cdef socklen_t salen
    cdef int32_t fd
    cdef int i
    cdef uint8_t addr16[16]
    cdef uint16_t port
    for i in range(OT_ACCEPTS):
        salen = sizeof(sa)
        fd = accept4(lfd, <sockaddr *>&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC)
        if fd < 0:
            if (errno == EMFILE or errno == ENFILE) and w.reading.head >= 0:
                # Out of descriptors: the longest-waiting unfinished request goes.
                conn_close(w, w.reading.head)
                continue
            return
        if w.t.max_conns and <uint32_t>ot_acquire_load(&w.t.open_all) >= w.t.max_conns and w.reading.head >= 0:
            conn_close(w, w.reading.head)
        sockaddr_to_addr16(<sockaddr *>&sa, addr16, &port)
        conn_begin(w, fd, addr16, port)
