# The event loop: one epoll set for every listener, client and the wakeup fd;
# requests are read, answered and written without the GIL. Python runs only
# between turns, when a signal or the periodic hook asks for it.
#
# Over 600 lines on purpose: this file is the request path's I/O from
# epoll_wait to the last byte sent (accept, read, answer, write, close, UDP
# batches, streaming large answers to their readers, deadlines, the fixed
# buffers they use), read top to bottom as one piece. Streaming cannot stand
# in a file of its own: it closes, watches and lists connections and answers
# UDP between sends, all defined here, and the loop calls it. The protocols
# and what the large answers hold (bulk.pyx) live in their own files.

from libc.string cimport memcpy, memset
from libc.stdint cimport int32_t


cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1


cdef enum:
    OT_EVENTS = 256               # epoll events per wait
    OT_ACCEPTS = 64               # accepts per readiness event
    OT_CLEAN_SLICE = 35           # buckets per 1-second tick: a full pass in 117 s


# ---------------------------------------------------------------- clocks and lists

cdef enum:
    # A wall clock that moves this much more or less than the monotonic one
    # between two loop turns was set, not ticking.
    OT_CLOCK_JUMP = 120


cdef inline void loop_clock(ot_server *s) noexcept nogil:
    cdef timespec ts
    cdef int64_t wall, mono, jump
    clock_gettime(CLOCK_REALTIME_COARSE, &ts)
    wall = ts.tv_sec + s.clock_offset
    clock_gettime(CLOCK_MONOTONIC, &ts)
    mono = ts.tv_sec
    s.mono_ms = ts.tv_sec * 1000 + ts.tv_nsec // 1000000
    if s.mono:
        jump = (wall - s.now) - (mono - s.mono)
        if jump > OT_CLOCK_JUMP or jump < -OT_CLOCK_JUMP:
            clock_jumped(s, jump)
    s.now = wall
    s.mono = mono
    store_set_clock(s.store, wall)


cdef void clock_jumped(ot_server *s, int64_t jump) noexcept nogil:
    """The wall clock was set (a router's NTP sync after boot moves it by
    months). Ages are kept by moving every torrent's base along, so peers
    neither vanish at once (a jump forward) nor live on for the length of the
    jump (a jump back); uptime moves along too."""
    store_shift(s.store, jump // 60)
    s.started += jump
    s.ctr.clock_jumps += 1


cdef inline void list_push(ot_server *s, ot_fdlist *l, int32_t fd) noexcept nogil:
    cdef ot_conn *c = &s.conns[fd]
    c.prev = l.tail
    c.next = -1
    if l.tail >= 0:
        s.conns[l.tail].next = fd
    else:
        l.head = fd
    l.tail = fd


cdef inline void list_unlink(ot_server *s, ot_fdlist *l, int32_t fd) noexcept nogil:
    cdef ot_conn *c = &s.conns[fd]
    if c.prev >= 0:
        s.conns[c.prev].next = c.next
    elif l.head == fd:
        l.head = c.next
    if c.next >= 0:
        s.conns[c.next].prev = c.prev
    elif l.tail == fd:
        l.tail = c.prev
    c.prev = c.next = -1


cdef void conn_unlist(ot_server *s, ot_conn *c) noexcept nogil:
    if c.listed == OT_LISTED_READING:
        list_unlink(s, &s.reading, c.fd)
    elif c.listed == OT_LISTED_WRITING:
        list_unlink(s, &s.writing, c.fd)
    c.listed = OT_LISTED_NONE


cdef void conn_list(ot_server *s, ot_conn *c, uint8_t which, int64_t seconds) noexcept nogil:
    """(Re)start c's deadline, `seconds` from now, at the back of its list:
    every connection in a list has the same timeout, so each list stays in
    deadline order and only its head needs watching."""
    conn_unlist(s, c)
    c.deadline = s.mono_ms + seconds * 1000
    list_push(s, &s.reading if which == OT_LISTED_READING else &s.writing, c.fd)
    c.listed = which


cdef ot_conn *conn_slot(ot_server *s, int32_t fd) noexcept nogil:
    """The slot for fd, growing the table when fd is past its end (moves
    every slot: no ot_conn pointer survives this call). NULL without memory."""
    cdef int32_t cap, i
    cdef ot_conn *conns
    if fd >= s.conn_cap:
        cap = s.conn_cap * 2 if s.conn_cap else 64
        while cap <= fd:
            cap *= 2
        conns = <ot_conn *>ot_realloc(s.conns, cap * sizeof(ot_conn))
        if conns == NULL:
            return NULL
        memset(conns + s.conn_cap, 0, (cap - s.conn_cap) * sizeof(ot_conn))
        for i in range(s.conn_cap, cap):
            conns[i].prev = conns[i].next = -1
            conns[i].rnext = -1
            conns[i].fd = i
        # The table grows with the highest descriptor (bounded by the
        # descriptor limit) and is counted like the other buffers.
        s.store.mem_other += <uint64_t>(cap - s.conn_cap) * sizeof(ot_conn)
        s.conns = conns
        s.conn_cap = cap
    return &s.conns[fd]


cdef inline uint64_t _event_data(ot_conn *c) noexcept nogil:
    return (<uint64_t>c.gen << 32) | <uint32_t>c.fd


cdef int conn_unwatch(ot_server *s, ot_conn *c) noexcept nogil:
    """Stop watching c (it waits for its answer to be made, not for its
    socket); -1 when epoll refused."""
    if c.registered:
        if epoll_ctl(s.epfd, EPOLL_CTL_DEL, c.fd, NULL) < 0:
            return -1
        c.registered = 0
    return 0


cdef int conn_watch(ot_server *s, ot_conn *c, uint32_t events) noexcept nogil:
    cdef epoll_event ev
    ev.events = events
    ev.data.u64 = _event_data(c)
    if epoll_ctl(s.epfd, EPOLL_CTL_MOD if c.registered else EPOLL_CTL_ADD, c.fd, &ev) < 0:
        return -1
    c.registered = 1
    return 0


# ---------------------------------------------------------------- client connections

cdef void conn_close(ot_server *s, int32_t fd) noexcept nogil:
    cdef ot_conn *c = &s.conns[fd]
    cdef int i
    if c.kind != OT_FD_CLIENT:
        return
    conn_unlist(s, c)
    if c.bulk != NULL:
        bulk_detach_reader(s, c)
    if c.drain:
        # Unread input at close makes the kernel send a RST, which can destroy
        # the answer in flight; read what is there first.
        for i in range(8):
            if recv(fd, s.rbuf, OT_HTTP_REQUEST_MAX, MSG_DONTWAIT) <= 0:
                break
    in_free(s, c)
    ot_free(c.out_buf)
    s.store.mem_other -= c.out_held
    s.queued_held -= c.out_held
    c.out_held = 0
    c.out_buf = NULL
    c.out_len = c.out_pos = 0
    c.kind = OT_FD_FREE
    c.registered = 0
    c.drain = 0
    c.gen += 1
    close(fd)
    s.open_conns -= 1


cdef void conn_send(ot_server *s, ot_conn *c, uint8_t *owned, size_t owned_size, const uint8_t *data,
                    size_t n) noexcept nogil:
    """Send an answer and close, or queue the rest for EPOLLOUT. `owned` is a
    heap block (of owned_size bytes) holding `data` that the connection takes
    over, or NULL: the data lives in a shared buffer and is copied when it
    cannot go at once. What waits in a send queue counts against the memory
    budget: a full scrape read slowly holds its whole body."""
    cdef int32_t fd = c.fd
    cdef ssize_t w
    in_free(s, c)
    conn_unlist(s, c)
    c.state = OT_CONN_ANSWERING
    w = send(fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT)
    if <size_t>w == n or (w < 0 and errno != EAGAIN and errno != EINTR):
        ot_free(owned)
        conn_close(s, fd)
        return
    if w < 0:
        w = 0
    if owned == NULL:
        owned = <uint8_t *>ot_malloc(n - w)
        if owned == NULL:
            conn_close(s, fd)
            return
        memcpy(owned, data + w, n - w)
        c.out_pos = 0
        c.out_len = n - w
        owned_size = n - w
    else:
        c.out_pos = <size_t>(data - owned) + w
        c.out_len = <size_t>(data - owned) + n
    out_take(s, c, owned, owned_size)
    c.state = OT_CONN_WRITING
    conn_list(s, c, OT_LISTED_WRITING, s.send_timeout)
    if conn_watch(s, c, EPOLLOUT) < 0:
        conn_close(s, fd)


cdef void out_take(ot_server *s, ot_conn *c, uint8_t *owned, size_t size) noexcept nogil:
    """c owns `owned` (size bytes) until it closes; counted as answers."""
    c.out_buf = owned
    c.out_held = size
    s.store.mem_other += size
    s.queued_held += size


cdef bint in_reserve(ot_server *s, ot_conn *c, size_t need) noexcept nogil:
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
    s.store.mem_other += cap - c.in_cap
    s.in_held += cap - c.in_cap
    c.in_cap = cap
    return True


cdef void in_free(ot_server *s, ot_conn *c) noexcept nogil:
    ot_free(c.in_buf)
    s.store.mem_other -= c.in_cap
    s.in_held -= c.in_cap
    c.in_buf = NULL
    c.in_cap = 0
    c.in_len = 0


cdef void conn_answer(ot_server *s, ot_conn *c, uint8_t *req, size_t n) noexcept nogil:
    cdef ot_span span = http_respond(s, c, req, n, s.obuf)
    if span.len == 0:
        if c.state == OT_CONN_STREAMING:
            # A large answer: stop listening to the client (its socket is
            # watched again when the answer waits for it to drain).
            conn_unlist(s, c)
            c.http11 = request_is_http11(req, n)
            in_free(s, c)
            stream_socket(c.fd)
            if conn_unwatch(s, c) < 0:
                conn_close(s, c.fd)
                return
            stream_send(s, c)
        return
    conn_send(s, c, NULL, 0, s.obuf + span.start, span.len)


# ---------------------------------------------------------------- streamed answers

cdef enum:
    OT_STREAM_IOV = 16            # pieces per send: the framing and up to 15 blocks
    OT_STREAM_SENDS = 64          # sends per call, at most: the socket fills long before
    # Bytes sent to readers of large answers per loop turn, at most (and
    # then the one send that crosses it): a few hundred microseconds of
    # copying, the longest an HTTP announce waits behind them.
    OT_TURN_STREAM_BYTES = 128 * 1024
    # Between those sends the UDP sockets are looked at every this many
    # bytes (an empty look is one recvmmsg), so a UDP announce waits behind
    # tens of microseconds of copying, not the turn's.
    OT_STREAM_UDP_POLL = 32 * 1024


cdef void stream_socket(int32_t fd) noexcept nogil:
    """Cap the kernel's send buffer of a large answer's connection: the
    kernel would otherwise queue megabytes per reader (its autotuning goes
    to net.ipv4.tcp_wmem's maximum, 4 MiB), memory the router has not got,
    and would report room to write only after half of that drained, so a
    slow but steady reader would look stalled to the send deadline."""
    cdef int size = OT_STREAM_SNDBUF
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size))


cdef void _reader_advance(ot_conn *c) noexcept nogil:
    """Keep c.blk on the block that holds c.pos."""
    while c.blk != NULL and c.blk.next != NULL and c.pos >= c.blk_at + c.blk.len:
        c.blk_at += c.blk.len
        c.blk = c.blk.next


cdef bint _stream_frame(ot_conn *c, const ot_bulk *b) noexcept nogil:
    """Frame what is ready: the next chunk's size line (chunked), or the
    last chunk once the body is complete. False when nothing is ready."""
    cdef uint64_t ready = b.produced - c.pos
    cdef uint8_t *p = c.out_buf
    if c.framing != FRAME_CHUNKED:
        c.chunk_left = <uint32_t>(ready if ready < (1u << 30) else (1u << 30))
        return ready != 0
    if ready == 0 and not (b.done and not b.failed and not c.trailer):
        return False
    if c.pos:
        p = put_raw(p, b"\r\n", 2)          # the end of the chunk before
    if ready:
        if ready > (1u << 30):
            ready = 1u << 30
        p = put_hex(p, ready)
        c.chunk_left = <uint32_t>ready
    else:
        p = put_raw(p, b"0", 1)
        c.trailer = 1
    p = put_raw(p, b"\r\n", 2)
    if c.trailer:
        p = put_raw(p, b"\r\n", 2)
    c.out_pos = 0
    c.out_len = <size_t>(p - c.out_buf)
    return True


cdef void _stream_wait_socket(ot_server *s, ot_conn *c) noexcept nogil:
    """The socket is full: wait for it to drain, within tracker.send_timeout."""
    if c.listed != OT_LISTED_WRITING:
        conn_list(s, c, OT_LISTED_WRITING, s.send_timeout)
    if conn_watch(s, c, EPOLLOUT) < 0:
        conn_close(s, c.fd)


cdef void stream_send(ot_server *s, ot_conn *c) noexcept nogil:
    """Send a reader of a large answer what is ready for it, as far as its
    socket takes it: header, chunk framing and body straight from the
    answer's blocks. Finishes (and closes) the connection at the end of the
    body; waits for the socket or for the next slice otherwise."""
    cdef ot_bulk *b = c.bulk
    cdef iovec iov[OT_STREAM_IOV]
    cdef msghdr msg
    cdef ot_block *blk
    cdef uint8_t *buf
    cdef size_t want, take, off, left, sent
    cdef ssize_t w
    cdef int k, rounds
    cdef ot_span span
    if not c.head_sent:
        if b.failed:
            # Nothing went out yet: the original's answer when memory runs out.
            bulk_detach_reader(s, c)
            span = http_error(s, s.obuf, HTTPERR_500)
            conn_send(s, c, NULL, 0, s.obuf + span.start, span.len)
            return
        if not b.done and b.produced < OT_STREAM_WINDOW:
            return                    # small answers go whole, with a Content-Length
        if c.out_buf == NULL:
            buf = <uint8_t *>ot_malloc(OT_FRAME_ROOM)
            if buf == NULL:
                conn_close(s, c.fd)
                return
            out_take(s, c, buf, OT_FRAME_ROOM)
        c.out_pos = 0
        c.out_len = <size_t>(stream_head(c.out_buf, c, b) - c.out_buf)
        c.head_sent = 1
    memset(&msg, 0, sizeof(msg))
    msg.msg_iov = iov
    for rounds in range(OT_STREAM_SENDS):
        if c.out_pos == c.out_len and c.chunk_left == 0 and not _stream_frame(c, b):
            if b.failed:
                conn_close(s, c.fd)   # cut off: a chunked body shows it, a gzip one too
            elif b.done:
                bulk_served(s, b)
                conn_close(s, c.fd)
            else:
                # Caught up: wait for the next slice, with no deadline (the
                # wait is the tracker's, not the client's) and no events.
                conn_unlist(s, c)
                if conn_unwatch(s, c) < 0:
                    conn_close(s, c.fd)
                elif bulk_wants_slice(s, b):
                    bulk_line_push(s, b)
            return
        k = 0
        want = 0
        if c.out_pos < c.out_len:
            iov[0].iov_base = c.out_buf + c.out_pos
            iov[0].iov_len = c.out_len - c.out_pos
            want = iov[0].iov_len
            k = 1
        if c.blk == NULL:
            c.blk = b.first
            c.blk_at = b.first_at
        _reader_advance(c)
        blk = c.blk
        off = <size_t>(c.pos - c.blk_at)
        left = c.chunk_left
        while left and blk != NULL and k < OT_STREAM_IOV:
            take = blk.len - off
            if take > left:
                take = left
            iov[k].iov_base = block_data(blk) + off
            iov[k].iov_len = take
            k += 1
            want += take
            left -= take
            off = 0
            blk = blk.next
        msg.msg_iovlen = k
        w = sendmsg(c.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)
        if w < 0:
            if errno == EAGAIN or errno == EINTR:
                _stream_wait_socket(s, c)
            else:
                conn_close(s, c.fd)
            return
        sent = <size_t>w
        s.turn_sent += sent
        if c.out_pos < c.out_len:
            take = c.out_len - c.out_pos
            if take > sent:
                take = sent
            c.out_pos += take
            sent -= take
        c.pos += sent
        c.chunk_left -= <uint32_t>sent
        _reader_advance(c)
        if c.listed == OT_LISTED_WRITING:
            conn_list(s, c, OT_LISTED_WRITING, s.send_timeout)     # progress: a new deadline
        bulk_release(s, b)
        if bulk_wants_slice(s, b):
            bulk_line_push(s, b)
        if <size_t>w < want:
            _stream_wait_socket(s, c)
            return
    _stream_wait_socket(s, c)


cdef void stream_poll_udp(ot_server *s) noexcept nogil:
    """Answer the datagrams waiting, when OT_STREAM_UDP_POLL bytes went to
    large answers' readers since the last look."""
    cdef int32_t i
    if s.turn_sent - s.turn_polled < OT_STREAM_UDP_POLL:
        return
    s.turn_polled = s.turn_sent
    for i in range(s.udp_fd_count):
        on_udp(s, s.udp_fds[i])


cdef void stream_wake(ot_server *s, ot_bulk *b) noexcept nogil:
    """An answer moved (bulk_step): its readers that wait for it, rather
    than for their sockets, get what is new, within the turn's
    OT_TURN_STREAM_BYTES; the others are watched for room to write, so
    that loop_streams serves them in the coming turns."""
    cdef int32_t fd, next
    cdef ot_conn *c
    if b == NULL:
        return
    fd = b.reader
    while fd >= 0:
        c = &s.conns[fd]
        next = c.rnext
        if c.listed != OT_LISTED_WRITING:
            if s.turn_sent < OT_TURN_STREAM_BYTES:
                stream_send(s, c)
                stream_poll_udp(s)
            elif conn_watch(s, c, EPOLLOUT) < 0:
                conn_close(s, fd)
        fd = next


cdef void conn_readable(ot_server *s, int32_t fd) noexcept nogil:
    cdef ot_conn *c = &s.conns[fd]
    cdef ssize_t n = recv(fd, s.rbuf, OT_HTTP_REQUEST_MAX, 0)
    cdef size_t scan_from
    cdef ot_span span
    if n < 0:
        if errno != EAGAIN and errno != EINTR:
            conn_close(s, fd)
        return
    if n == 0:
        conn_close(s, fd)
        return
    if c.in_len == 0:
        # The usual case: the whole request in the first read, no copy.
        if header_complete(s.rbuf, <size_t>n):
            s.rbuf[n] = 0
            conn_answer(s, c, s.rbuf, <size_t>n)
            return
        if not in_reserve(s, c, <size_t>n):
            conn_close(s, fd)
            return
        memcpy(c.in_buf, s.rbuf, n)
        c.in_len = <uint32_t>n
        return
    if c.in_len + n > OT_HTTP_REQUEST_MAX:
        c.drain = 1
        span = http_error(s, s.obuf, HTTPERR_500)
        conn_send(s, c, NULL, 0, s.obuf + span.start, span.len)
        return
    if not in_reserve(s, c, c.in_len + <size_t>n):
        conn_close(s, fd)
        return
    scan_from = c.in_len - 3 if c.in_len > 3 else 0
    memcpy(c.in_buf + c.in_len, s.rbuf, n)
    c.in_len += <uint32_t>n
    if header_complete(c.in_buf + scan_from, c.in_len - scan_from):
        c.in_buf[c.in_len] = 0
        conn_answer(s, c, c.in_buf, c.in_len)


cdef void conn_writable(ot_server *s, int32_t fd) noexcept nogil:
    cdef ot_conn *c = &s.conns[fd]
    cdef ssize_t w = send(fd, c.out_buf + c.out_pos, c.out_len - c.out_pos, MSG_NOSIGNAL | MSG_DONTWAIT)
    if w < 0:
        if errno != EAGAIN and errno != EINTR:
            conn_close(s, fd)
        return
    c.out_pos += w
    if c.out_pos >= c.out_len:
        conn_close(s, fd)
    elif w > 0:
        conn_list(s, c, OT_LISTED_WRITING, s.send_timeout)     # progress: a new deadline


cdef void on_accept(ot_server *s, int32_t lfd) noexcept nogil:
    cdef sockaddr_in6 sa
    cdef socklen_t salen
    cdef int32_t fd
    cdef int i
    cdef ot_conn *c
    for i in range(OT_ACCEPTS):
        salen = sizeof(sa)
        fd = accept4(lfd, <sockaddr *>&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC)
        if fd < 0:
            if (errno == EMFILE or errno == ENFILE) and s.reading.head >= 0:
                # Out of descriptors: the longest-waiting unfinished request goes.
                conn_close(s, s.reading.head)
                continue
            return
        if s.max_conns and s.open_conns >= s.max_conns and s.reading.head >= 0:
            conn_close(s, s.reading.head)
        c = conn_slot(s, fd)
        if c == NULL:
            close(fd)
            continue
        c.kind = OT_FD_CLIENT
        c.state = OT_CONN_READING
        c.registered = 0
        c.drain = 0
        c.bulk = NULL
        c.rnext = -1
        c.listed = OT_LISTED_NONE
        sockaddr_to_addr16(<sockaddr *>&sa, c.addr, &c.port)
        s.ctr.tcp_accepts[addr_family(c.addr)] += 1
        s.open_conns += 1
        conn_list(s, c, OT_LISTED_READING, s.http_timeout)
        # With TCP_DEFER_ACCEPT the request is usually here already: answer
        # it without an epoll round trip.
        conn_readable(s, fd)
        c = &s.conns[fd]
        if c.kind == OT_FD_CLIENT and c.state == OT_CONN_READING and not c.registered:
            if conn_watch(s, c, EPOLLIN | EPOLLRDHUP) < 0:
                conn_close(s, fd)


cdef size_t udp_reply_source(msghdr *received, uint8_t *ctl) noexcept nogil:
    """A control message making the reply leave from the address the request
    was sent to, or 0 bytes when the request carried none. Without it a socket
    bound to every address answers from whatever address the route prefers,
    and a client on a router's second address drops the answer."""
    cdef cmsghdr *cm = CMSG_FIRSTHDR(received)
    cdef cmsghdr *out = <cmsghdr *>ctl
    cdef in_pktinfo *in4
    cdef in_pktinfo *out4
    cdef in6_pktinfo *in6
    cdef in6_pktinfo *out6
    while cm != NULL:
        if cm.cmsg_level == IPPROTO_IP and cm.cmsg_type == IP_PKTINFO:
            in4 = <in_pktinfo *>CMSG_DATA(cm)
            memset(ctl, 0, CMSG_SPACE(sizeof(in_pktinfo)))
            out.cmsg_level = IPPROTO_IP
            out.cmsg_type = IP_PKTINFO
            out.cmsg_len = CMSG_LEN(sizeof(in_pktinfo))
            out4 = <in_pktinfo *>CMSG_DATA(out)
            out4.ipi_spec_dst = in4.ipi_addr     # the address the client sent to
            return CMSG_SPACE(sizeof(in_pktinfo))
        if cm.cmsg_level == IPPROTO_IPV6 and cm.cmsg_type == IPV6_PKTINFO:
            in6 = <in6_pktinfo *>CMSG_DATA(cm)
            memset(ctl, 0, CMSG_SPACE(sizeof(in6_pktinfo)))
            out.cmsg_level = IPPROTO_IPV6
            out.cmsg_type = IPV6_PKTINFO
            out.cmsg_len = CMSG_LEN(sizeof(in6_pktinfo))
            out6 = <in6_pktinfo *>CMSG_DATA(out)
            out6.ipi6_addr = in6.ipi6_addr
            # A link-local source only means something on its own link.
            if in6.ipi6_addr.s6_addr[0] == 0xFE and (in6.ipi6_addr.s6_addr[1] & 0xC0) == 0x80:
                out6.ipi6_ifindex = in6.ipi6_ifindex
            return CMSG_SPACE(sizeof(in6_pktinfo))
        cm = CMSG_NXTHDR(received, cm)
    return 0


cdef void on_udp(ot_server *s, int32_t fd) noexcept nogil:
    cdef int round, i, n, k, sent
    cdef uint16_t port
    cdef uint8_t addr16[16]
    cdef size_t r, ctl
    for round in range(OT_UDP_ROUNDS):
        for i in range(OT_UDP_BATCH):
            s.udp_rmsg[i].msg_hdr.msg_namelen = sizeof(sockaddr_in6)
            s.udp_rmsg[i].msg_hdr.msg_controllen = OT_UDP_CTL
            s.udp_rmsg[i].msg_hdr.msg_flags = 0
        n = recvmmsg(fd, s.udp_rmsg, OT_UDP_BATCH, MSG_DONTWAIT, NULL)
        if n <= 0:
            return
        k = 0
        for i in range(n):
            sockaddr_to_addr16(<sockaddr *>&s.udp_names[i], addr16, &port)
            r = udp_respond(s, s.udp_in + i * OT_UDP_IN_MAX, s.udp_rmsg[i].msg_len, addr16,
                            s.udp_out + k * OT_UDP_OUT_MAX)
            if r:
                s.udp_smsg[k].msg_hdr.msg_name = &s.udp_names[i]
                s.udp_smsg[k].msg_hdr.msg_namelen = s.udp_rmsg[i].msg_hdr.msg_namelen
                s.udp_siov[k].iov_len = r
                ctl = udp_reply_source(&s.udp_rmsg[i].msg_hdr, s.udp_sctl + k * OT_UDP_CTL)
                s.udp_smsg[k].msg_hdr.msg_control = (s.udp_sctl + k * OT_UDP_CTL) if ctl else NULL
                s.udp_smsg[k].msg_hdr.msg_controllen = ctl
                k += 1
        if k:
            sent = sendmmsg(fd, s.udp_smsg, k, MSG_DONTWAIT)
            if sent < k:
                s.ctr.udp_send_failures += <uint64_t>(k - (sent if sent > 0 else 0))
        if n < OT_UDP_BATCH:
            return


# ---------------------------------------------------------------- the loop

cdef void loop_expire(ot_server *s) noexcept nogil:
    """Close the connections past their deadline (each loop turn: only the
    lists' heads are looked at)."""
    # Strictly past: the clock is read in whole milliseconds, so a deadline
    # set at 5.9 ms reads as 5, and "<=" would close a client up to 1 ms early.
    while s.reading.head >= 0 and s.conns[s.reading.head].deadline < s.mono_ms:
        conn_close(s, s.reading.head)
    while s.writing.head >= 0 and s.conns[s.writing.head].deadline < s.mono_ms:
        conn_close(s, s.writing.head)


cdef int loop_timeout(ot_server *s) noexcept nogil:
    """Milliseconds epoll may wait: none while a slice is due, else until
    the next tick or the first deadline."""
    cdef int64_t wake = s.next_tick
    if s.bulk_head != NULL:
        return 0
    if s.reading.head >= 0 and s.conns[s.reading.head].deadline + 1 < wake:
        wake = s.conns[s.reading.head].deadline + 1
    if s.writing.head >= 0 and s.conns[s.writing.head].deadline + 1 < wake:
        wake = s.conns[s.writing.head].deadline + 1
    return <int>(wake - s.mono_ms) if wake > s.mono_ms else 0


cdef void loop_tick(ot_server *s) noexcept nogil:
    bulk_expire(s)
    livesync_tick(s)
    history_tick(&s.status.hist, &s.ctr, s.mono)
    store_clean(s.store, s.clean_cursor, OT_CLEAN_SLICE)
    s.clean_cursor = (s.clean_cursor + OT_CLEAN_SLICE) % OT_BUCKET_COUNT
    s.next_tick = s.mono_ms + 1000
    if s.hook_interval and s.mono >= s.next_hook:
        s.next_hook = s.mono + s.hook_interval
        s.hook_due = True
        s.python_wanted = True


cdef void loop_streams(ot_server *s, epoll_event *events, int n) noexcept nogil:
    """Send to the large answers' readers whose sockets have room, after the
    turn's announces, accepts and requests, and only OT_TURN_STREAM_BYTES a
    turn: 200 fast indexers could otherwise fill every turn with 25 MB of
    copying while the next announce waits. The readers left over are still
    ready next turn (epoll is level-triggered, in the same order), so the
    turn starts where this one stopped: each gets its turn in rotation."""
    cdef int k, i, visited = 0, start = <int>(s.stream_rotor % <uint32_t>n)
    cdef uint64_t data
    cdef int32_t fd
    cdef ot_conn *c
    for k in range(n):
        if s.turn_sent >= OT_TURN_STREAM_BYTES:
            break
        i = (start + k) % n
        visited += 1
        data = events[i].data.u64
        fd = <int32_t><uint32_t>data
        c = &s.conns[fd]
        if (c.kind == OT_FD_CLIENT and c.gen == <uint32_t>(data >> 32) and c.state == OT_CONN_STREAMING
                and events[i].events & EPOLLOUT):
            stream_send(s, c)
            stream_poll_udp(s)
    s.stream_rotor = <uint32_t>(start + visited)


cdef int loop_run(ot_server *s) noexcept nogil:
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
    while not s.stop and not s.python_wanted:
        n = epoll_wait(s.epfd, events, OT_EVENTS, loop_timeout(s))
        loop_clock(s)
        s.turn_sent = s.turn_polled = 0
        if n < 0:
            if errno != EINTR:
                return errno
            s.python_wanted = True        # a signal: its Python handler is due
            continue
        streams = 0
        for i in range(n):
            data = events[i].data.u64
            fd = <int32_t><uint32_t>data
            c = &s.conns[fd]
            ev = events[i].events
            if c.kind == OT_FD_CLIENT:
                if c.gen != <uint32_t>(data >> 32):
                    continue              # the fd was closed and reused in this batch
                if c.state == OT_CONN_READING:
                    conn_readable(s, fd)
                elif c.state == OT_CONN_WRITING:
                    if ev & (EPOLLERR | EPOLLHUP) and not (ev & EPOLLOUT):
                        conn_close(s, fd)
                    else:
                        conn_writable(s, fd)
                elif c.state == OT_CONN_STREAMING:
                    if ev & EPOLLOUT:
                        streams += 1      # after everything else (loop_streams)
                    elif ev & (EPOLLERR | EPOLLHUP):
                        conn_close(s, fd)
            elif c.kind == OT_FD_UDP:
                on_udp(s, fd)
            elif c.kind == OT_FD_TCP_LISTEN:
                on_accept(s, fd)
            elif c.kind == OT_FD_WAKEUP:
                while read(fd, drain, 64) > 0:
                    pass
                s.python_wanted = True
            elif c.kind == OT_FD_PYTHON:
                c.py_ready = 1
                s.python_wanted = True
            elif c.kind == OT_FD_LIVESYNC:
                on_livesync(s, fd)
        if streams:
            loop_streams(s, events, n)
        if s.bulk_head != NULL:
            stream_wake(s, bulk_step(s))
        loop_expire(s)
        if s.mono_ms >= s.next_tick:
            loop_tick(s)
    return 0


# ---------------------------------------------------------------- fixed buffers

cdef enum:
    OT_LOOP_BUFFERS = 13


cdef size_t _loop_buffers(ot_server *s, void ***where, size_t *size) noexcept nogil:
    """The server's fixed buffers, each listed once: where its pointer lives
    and its size. Allocation, the memory budget and freeing all read this."""
    where[0] = <void **>&s.rbuf;         size[0] = OT_HTTP_REQUEST_MAX + 1
    where[1] = <void **>&s.obuf;         size[1] = OT_HTTP_OUT_MAX
    where[2] = <void **>&s.scratch;      size[2] = OT_HTTP_REQUEST_MAX + 1
    where[3] = <void **>&s.bulk_stage;   size[3] = OT_BULK_STAGE
    where[4] = <void **>&s.udp_in;       size[4] = OT_UDP_BATCH * OT_UDP_IN_MAX
    where[5] = <void **>&s.udp_out;      size[5] = OT_UDP_BATCH * OT_UDP_OUT_MAX
    where[6] = <void **>&s.udp_rmsg;     size[6] = OT_UDP_BATCH * sizeof(mmsghdr)
    where[7] = <void **>&s.udp_smsg;     size[7] = OT_UDP_BATCH * sizeof(mmsghdr)
    where[8] = <void **>&s.udp_riov;     size[8] = OT_UDP_BATCH * sizeof(iovec)
    where[9] = <void **>&s.udp_siov;     size[9] = OT_UDP_BATCH * sizeof(iovec)
    where[10] = <void **>&s.udp_names;   size[10] = OT_UDP_BATCH * sizeof(sockaddr_in6)
    where[11] = <void **>&s.udp_rctl;    size[11] = OT_UDP_BATCH * OT_UDP_CTL
    where[12] = <void **>&s.udp_sctl;    size[12] = OT_UDP_BATCH * OT_UDP_CTL
    return OT_LOOP_BUFFERS


cdef bint loop_buffers_alloc(ot_server *s) noexcept nogil:
    """Allocate every fixed buffer (zeroed), count it in the memory budget,
    and wire the UDP batch's messages to their buffers. False when memory
    is short (loop_buffers_free then frees what was taken)."""
    cdef void **where[OT_LOOP_BUFFERS]
    cdef size_t size[OT_LOOP_BUFFERS]
    cdef size_t i, n = _loop_buffers(s, where, size)
    for i in range(n):
        where[i][0] = ot_malloc(size[i])
        if where[i][0] == NULL:
            return False
        memset(where[i][0], 0, size[i])
        s.store.mem_other += size[i]
    for i in range(OT_UDP_BATCH):
        s.udp_riov[i].iov_base = s.udp_in + i * OT_UDP_IN_MAX
        s.udp_riov[i].iov_len = OT_UDP_IN_MAX
        s.udp_rmsg[i].msg_hdr.msg_iov = &s.udp_riov[i]
        s.udp_rmsg[i].msg_hdr.msg_iovlen = 1
        s.udp_rmsg[i].msg_hdr.msg_name = &s.udp_names[i]
        s.udp_rmsg[i].msg_hdr.msg_control = s.udp_rctl + i * OT_UDP_CTL
        s.udp_siov[i].iov_base = s.udp_out + i * OT_UDP_OUT_MAX
        s.udp_smsg[i].msg_hdr.msg_iov = &s.udp_siov[i]
        s.udp_smsg[i].msg_hdr.msg_iovlen = 1
    return True


cdef void loop_buffers_free(ot_server *s) noexcept nogil:
    cdef void **where[OT_LOOP_BUFFERS]
    cdef size_t size[OT_LOOP_BUFFERS]
    cdef size_t i, n = _loop_buffers(s, where, size)
    for i in range(n):
        if where[i][0] != NULL:
            ot_free(where[i][0])
            where[i][0] = NULL
            s.store.mem_other -= size[i]
