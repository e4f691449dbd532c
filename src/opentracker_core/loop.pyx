# The event loop: one epoll set for every listener, client and the wakeup fd;
# requests are read, answered and written without the GIL. Python runs only
# between turns, when a signal or the periodic hook asks for it.

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
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
    mono = ts.tv_sec
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
            conns[i].fd = i
        s.conns = conns
        s.conn_cap = cap
    return &s.conns[fd]


cdef inline uint64_t _event_data(ot_conn *c) noexcept nogil:
    return (<uint64_t>c.gen << 32) | <uint32_t>c.fd


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
    if c.state == OT_CONN_READING:
        list_unlink(s, &s.reading, fd)
    elif c.state == OT_CONN_WRITING:
        list_unlink(s, &s.writing, fd)
    elif c.state == OT_CONN_BUILDING and c.bulk != NULL:
        bulk_detach(s, c.bulk)
    if c.drain:
        # Unread input at close makes the kernel send a RST, which can destroy
        # the answer in flight; read what is there first.
        for i in range(8):
            if recv(fd, s.rbuf, OT_HTTP_REQUEST_MAX, MSG_DONTWAIT) <= 0:
                break
    ot_free(c.in_buf)
    ot_free(c.out_buf)
    s.store.mem_other -= c.out_held
    s.queued_held -= c.out_held
    c.out_held = 0
    bulk_free(c.bulk)
    c.in_buf = NULL
    c.out_buf = NULL
    c.bulk = NULL
    c.in_len = 0
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
    ot_free(c.in_buf)
    c.in_buf = NULL
    c.in_len = 0
    if c.state == OT_CONN_READING:
        list_unlink(s, &s.reading, fd)
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
    c.out_buf = owned
    c.out_held = owned_size
    s.store.mem_other += owned_size
    s.queued_held += owned_size
    c.state = OT_CONN_WRITING
    c.deadline = s.mono + OT_HTTP_SEND_TIMEOUT
    list_push(s, &s.writing, fd)
    if conn_watch(s, c, EPOLLOUT) < 0:
        conn_close(s, fd)


cdef void conn_answer(ot_server *s, ot_conn *c, uint8_t *req, size_t n) noexcept nogil:
    cdef ot_span span = http_respond(s, c, req, n, s.obuf)
    if span.len == 0:
        # A large answer is being built; stop listening to the client.
        if c.state == OT_CONN_BUILDING:
            list_unlink(s, &s.reading, c.fd)
            if c.registered:
                epoll_ctl(s.epfd, EPOLL_CTL_DEL, c.fd, NULL)
                c.registered = 0
            ot_free(c.in_buf)
            c.in_buf = NULL
            c.in_len = 0
        return
    conn_send(s, c, NULL, 0, s.obuf + span.start, span.len)


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
        c.in_buf = <uint8_t *>ot_malloc(OT_HTTP_REQUEST_MAX + 1)
        if c.in_buf == NULL:
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
        sockaddr_to_addr16(<sockaddr *>&sa, c.addr, &c.port)
        s.ctr.tcp_accepts[addr_family(c.addr)] += 1
        s.open_conns += 1
        c.deadline = s.mono + s.http_timeout
        list_push(s, &s.reading, fd)
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


# ---------------------------------------------------------------- bulk answers

cdef void bulk_detach(ot_server *s, ot_bulk *b) noexcept nogil:
    cdef ot_bulk **pp = &s.bulk_head
    while pp[0] != NULL:
        if pp[0] == b:
            pp[0] = b.next
            b.next = NULL
            return
        pp = &pp[0].next


cdef void bulk_step(ot_server *s) noexcept nogil:
    """One slice of one answer under construction per loop turn, taking the
    answers in turn: however many full scrapes are being built, an announce
    waits behind at most one slice. A finished answer goes to its client."""
    cdef ot_bulk *b = s.bulk_head
    cdef ot_bulk *last
    cdef ot_conn *c
    cdef size_t start
    cdef ot_span span
    if b == NULL:
        return
    if not bulk_slice(s, b, s.bulk_stage):
        # Not done: to the back of the line.
        if b.next != NULL:
            s.bulk_head = b.next
            last = b.next
            while last.next != NULL:
                last = last.next
            last.next = b
            b.next = NULL
        return
    bulk_detach(s, b)
    c = &s.conns[b.fd]
    c.bulk = NULL
    c.state = OT_CONN_ANSWERING
    if b.len == 0:
        bulk_free(b)
        span = http_error(s, s.obuf, HTTPERR_500)
        conn_send(s, c, NULL, 0, s.obuf + span.start, span.len)
    else:
        start = http_bulk_head(b)
        conn_send(s, c, b.data, b.cap, b.data + start, b.len - start)
        b.data = NULL
        bulk_free(b)


# ---------------------------------------------------------------- the loop

cdef void loop_tick(ot_server *s) noexcept nogil:
    while s.reading.head >= 0 and s.conns[s.reading.head].deadline <= s.mono:
        conn_close(s, s.reading.head)
    while s.writing.head >= 0 and s.conns[s.writing.head].deadline <= s.mono:
        conn_close(s, s.writing.head)
    livesync_tick(s)
    store_clean(s.store, s.clean_cursor, OT_CLEAN_SLICE)
    s.clean_cursor = (s.clean_cursor + OT_CLEAN_SLICE) % OT_BUCKET_COUNT
    s.next_tick = s.mono + 1
    if s.hook_interval and s.mono >= s.next_hook:
        s.next_hook = s.mono + s.hook_interval
        s.hook_due = True
        s.python_wanted = True


cdef void loop_run(ot_server *s) noexcept nogil:
    """Serve until a stop is requested or Python is wanted."""
    cdef epoll_event events[OT_EVENTS]
    cdef int n, i, timeout
    cdef uint64_t data
    cdef int32_t fd
    cdef ot_conn *c
    cdef uint32_t ev
    cdef uint8_t drain[64]
    while not s.stop and not s.python_wanted:
        timeout = 0 if s.bulk_head != NULL else <int>((s.next_tick - s.mono) * 1000 if s.next_tick > s.mono else 0)
        n = epoll_wait(s.epfd, events, OT_EVENTS, timeout)
        loop_clock(s)
        if n < 0:
            if errno == EINTR:
                s.python_wanted = True    # a signal: its Python handler is due
            continue
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
        if s.bulk_head != NULL:
            bulk_step(s)
        if s.mono >= s.next_tick:
            loop_tick(s)


# ---------------------------------------------------------------- Python side

_ACCESS_MODES = {"open": OT_ACCESS_OPEN, "white": OT_ACCESS_WHITE, "black": OT_ACCESS_BLACK}
_FD_KINDS = {"tcp": OT_FD_TCP_LISTEN, "udp": OT_FD_UDP}


cdef int _hashlist_set(ot_hashlist *l, bytes blob) except -1:
    """Replace a hash list with `blob` (sorted, distinct 20-byte hashes)."""
    cdef uint8_t *data = NULL
    cdef size_t n = len(blob)
    if n % OT_HASH_SIZE:
        raise ValueError("a hash list is a multiple of 20 bytes")
    if n:
        data = <uint8_t *>ot_malloc(n)
        if data == NULL:
            raise MemoryError()
        memcpy(data, <const char *>blob, n)
    ot_free(l.hashes)
    l.hashes = data
    l.count = n // OT_HASH_SIZE
    return 0


cdef class Server:
    """The tracker's loop and state. The Python shell binds the sockets,
    hands their fds over, configures, and calls run() until stop().

    Important: run() is the only place the loop runs; the other methods are
    for set-up and for Python code called from run() (signal handlers and the
    periodic hook), never from another thread.
    """
    cdef ot_server s
    cdef readonly Store store
    cdef object _hook
    cdef dict _py_fds

    def __cinit__(self, *, seed=None, memory_limit=0):
        cdef int i
        memset(&self.s, 0, sizeof(ot_server))
        self.s.epfd = -1
        self.s.wakeup_fd = -1
        self.s.sync.in_fd = self.s.sync.out_fd = -1
        self.s.reading.head = self.s.reading.tail = -1
        self.s.writing.head = self.s.writing.tail = -1
        self._py_fds = {}
        self.store = Store(seed=seed, memory_limit=memory_limit)
        self.s.store = self.store.st
        self.s.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.s.epfd < 0:
            raise OSError(errno, "epoll_create1 failed")
        self.s.rbuf = <uint8_t *>ot_malloc(OT_HTTP_REQUEST_MAX + 1)
        self.s.obuf = <uint8_t *>ot_malloc(OT_HTTP_OUT_MAX)
        self.s.scratch = <uint8_t *>ot_malloc(OT_HTTP_REQUEST_MAX + 1)
        self.s.bulk_stage = <uint8_t *>ot_malloc(OT_BULK_STAGE)
        self.s.udp_in = <uint8_t *>ot_malloc(OT_UDP_BATCH * OT_UDP_IN_MAX)
        self.s.udp_out = <uint8_t *>ot_malloc(OT_UDP_BATCH * OT_UDP_OUT_MAX)
        self.s.udp_rmsg = <mmsghdr *>ot_malloc(OT_UDP_BATCH * sizeof(mmsghdr))
        self.s.udp_smsg = <mmsghdr *>ot_malloc(OT_UDP_BATCH * sizeof(mmsghdr))
        self.s.udp_riov = <iovec *>ot_malloc(OT_UDP_BATCH * sizeof(iovec))
        self.s.udp_siov = <iovec *>ot_malloc(OT_UDP_BATCH * sizeof(iovec))
        self.s.udp_names = <sockaddr_in6 *>ot_malloc(OT_UDP_BATCH * sizeof(sockaddr_in6))
        self.s.udp_rctl = <uint8_t *>ot_malloc(OT_UDP_BATCH * OT_UDP_CTL)
        self.s.udp_sctl = <uint8_t *>ot_malloc(OT_UDP_BATCH * OT_UDP_CTL)
        if (self.s.rbuf == NULL or self.s.obuf == NULL or self.s.scratch == NULL or self.s.bulk_stage == NULL
                or self.s.udp_in == NULL or self.s.udp_out == NULL or self.s.udp_rmsg == NULL
                or self.s.udp_smsg == NULL or self.s.udp_riov == NULL or self.s.udp_siov == NULL
                or self.s.udp_names == NULL or self.s.udp_rctl == NULL or self.s.udp_sctl == NULL):
            raise MemoryError()
        self.s.store.mem_other += (3 * (OT_HTTP_REQUEST_MAX + 1) + OT_HTTP_OUT_MAX + OT_BULK_STAGE
                                   + OT_UDP_BATCH * (OT_UDP_IN_MAX + OT_UDP_OUT_MAX + 2 * sizeof(mmsghdr)
                                                     + 2 * sizeof(iovec) + sizeof(sockaddr_in6)
                                                     + 2 * OT_UDP_CTL))
        memset(self.s.udp_rmsg, 0, OT_UDP_BATCH * sizeof(mmsghdr))
        memset(self.s.udp_smsg, 0, OT_UDP_BATCH * sizeof(mmsghdr))
        for i in range(OT_UDP_BATCH):
            self.s.udp_riov[i].iov_base = self.s.udp_in + i * OT_UDP_IN_MAX
            self.s.udp_riov[i].iov_len = OT_UDP_IN_MAX
            self.s.udp_rmsg[i].msg_hdr.msg_iov = &self.s.udp_riov[i]
            self.s.udp_rmsg[i].msg_hdr.msg_iovlen = 1
            self.s.udp_rmsg[i].msg_hdr.msg_name = &self.s.udp_names[i]
            self.s.udp_rmsg[i].msg_hdr.msg_control = self.s.udp_rctl + i * OT_UDP_CTL
            self.s.udp_siov[i].iov_base = self.s.udp_out + i * OT_UDP_OUT_MAX
            self.s.udp_smsg[i].msg_hdr.msg_iov = &self.s.udp_siov[i]
            self.s.udp_smsg[i].msg_hdr.msg_iovlen = 1
        key = _os.urandom(20)
        memcpy(self.s.connid_key, <const char *>key, 16)
        self.s.tracker_id = int.from_bytes(key[16:], "big")
        self.s.stats_path_len = 5
        memcpy(self.s.stats_path, b"stats", 5)
        self.s.fullscrape = True
        self.s.gzip = True
        self.s.http_timeout = 30
        self.s.connid_window = 3600
        self.s.bulk_slice = OT_BULK_SLICE
        self.s.access.mode = OT_ACCESS_OPEN
        loop_clock(&self.s)
        self.s.started = self.s.now
        self.s.next_tick = self.s.mono + 1

    def __dealloc__(self):
        cdef int32_t fd
        cdef ot_bulk *b
        if self.s.conns != NULL:
            for fd in range(self.s.conn_cap):
                if self.s.conns[fd].kind == OT_FD_CLIENT:
                    conn_close(&self.s, fd)
                elif self.s.conns[fd].kind != OT_FD_FREE and self.s.conns[fd].kind != OT_FD_PYTHON:
                    close(fd)
        while self.s.bulk_head != NULL:
            b = self.s.bulk_head
            self.s.bulk_head = b.next
            bulk_free(b)
        if self.s.epfd >= 0:
            close(self.s.epfd)
        ot_free(self.s.conns)
        ot_free(self.s.rbuf)
        ot_free(self.s.obuf)
        ot_free(self.s.scratch)
        ot_free(self.s.bulk_stage)
        ot_free(self.s.udp_in)
        ot_free(self.s.udp_out)
        ot_free(self.s.udp_rmsg)
        ot_free(self.s.udp_smsg)
        ot_free(self.s.udp_riov)
        ot_free(self.s.udp_siov)
        ot_free(self.s.udp_names)
        ot_free(self.s.udp_rctl)
        ot_free(self.s.udp_sctl)
        ot_free(self.s.redirect_url)
        ot_free(self.s.access.list.hashes)
        ot_free(self.s.access.added.hashes)
        ot_free(self.s.access.deleted.hashes)
        ot_free(self.s.access.nets)
        ot_free(self.s.rate.table)
        ot_free(self.s.modest.table)

    def _watch(self, int fd, int kind):
        cdef epoll_event ev
        cdef ot_conn *c = conn_slot(&self.s, fd)
        if c == NULL:
            raise MemoryError()
        if c.kind != OT_FD_FREE:
            raise ValueError("fd %d is already in the loop" % fd)
        ev.events = EPOLLIN
        ev.data.u64 = <uint32_t>fd
        if epoll_ctl(self.s.epfd, EPOLL_CTL_ADD, fd, &ev) < 0:
            raise OSError(errno, "epoll_ctl failed for fd %d" % fd)
        c.kind = <uint8_t>kind

    def add_listener(self, int fd, str kind):
        """Serve a bound, non-blocking socket: "tcp" (listening) or "udp".
        The server owns the fd from now on and closes it. UDP sockets learn
        each datagram's destination address, so that answers leave from it."""
        cdef sockaddr_in6 sa
        cdef socklen_t salen = sizeof(sa)
        cdef int one = 1
        if kind == "udp":
            if getsockname(fd, <sockaddr *>&sa, &salen) < 0:
                raise OSError(errno, "getsockname failed for fd %d" % fd)
            if sa.sin6_family == AF_INET6:
                setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))
            else:
                setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
        self._watch(fd, _FD_KINDS[kind])

    def set_wakeup_fd(self, int fd):
        """The read end of the pipe given to signal.set_wakeup_fd()."""
        self._watch(fd, OT_FD_WAKEUP)
        self.s.wakeup_fd = fd

    def configure(self, *, redirect_url=None, stats_path="stats", fullscrape=True, compression="gzip",
                  ip_from_query=False, http_timeout=30, connid_window=3600, max_connections=0,
                  bulk_slice=OT_BULK_SLICE, rate_limit=0, modest_fullscrapes=False):
        cdef bytes path = stats_path.encode()
        cdef bytes url
        if not 0 < len(path) <= OT_STATS_PATH_MAX:
            raise ValueError("stats path must be 1..%d bytes" % OT_STATS_PATH_MAX)
        memcpy(self.s.stats_path, <const char *>path, len(path))
        self.s.stats_path_len = len(path)
        ot_free(self.s.redirect_url)
        self.s.redirect_url = NULL
        self.s.redirect_len = 0
        if redirect_url:
            url = redirect_url.encode()
            if len(url) > OT_REDIRECT_MAX:
                raise ValueError("redirect URL longer than %d bytes" % OT_REDIRECT_MAX)
            self.s.redirect_url = <uint8_t *>ot_malloc(len(url))
            if self.s.redirect_url == NULL:
                raise MemoryError()
            memcpy(self.s.redirect_url, <const char *>url, len(url))
            self.s.redirect_len = len(url)
        self.s.fullscrape = fullscrape
        self.s.gzip = compression == "gzip"
        self.s.ip_from_query = ip_from_query
        self.s.http_timeout = http_timeout
        self.s.connid_window = connid_window if connid_window > 0 else 3600
        self.s.max_conns = max_connections
        self.s.bulk_slice = bulk_slice if bulk_slice > 0 else OT_BULK_SLICE
        self._set_rate_limit(rate_limit)
        self._set_modest(modest_fullscrapes)

    def _set_modest(self, bint on):
        cdef size_t size = OT_MODEST_SLOTS * sizeof(ot_rate_entry)
        if self.s.modest.table != NULL:
            ot_free(self.s.modest.table)
            self.s.modest.table = NULL
            self.s.store.mem_other -= size
        if on:
            self.s.modest.table = <ot_rate_entry *>ot_malloc(size)
            if self.s.modest.table == NULL:
                raise MemoryError()
            memset(self.s.modest.table, 0, size)
            self.s.store.mem_other += size

    def _set_rate_limit(self, unsigned int per_minute):
        cdef size_t size = OT_RATE_SLOTS * sizeof(ot_rate_entry)
        if self.s.rate.table != NULL:
            ot_free(self.s.rate.table)
            self.s.rate.table = NULL
            self.s.store.mem_other -= size
        self.s.rate.per_minute = per_minute
        if per_minute:
            self.s.rate.table = <ot_rate_entry *>ot_malloc(size)
            if self.s.rate.table == NULL:
                raise MemoryError()
            memset(self.s.rate.table, 0, size)
            self.s.store.mem_other += size

    def set_livesync(self, int in_fd, int out_fd, str group, int port, int send_interval=OT_SYNC_MAX_AGE):
        """Join the cluster: in_fd is bound to the group's port and joined to
        the group, out_fd sends to group:port. The server owns both fds."""
        cdef bytes g = _socket.inet_aton(group)
        cdef ot_conn *c
        self._watch(in_fd, OT_FD_LIVESYNC)
        c = conn_slot(&self.s, out_fd)      # not watched: only owned, so it is closed with the rest
        if c == NULL:
            raise MemoryError()
        c.kind = OT_FD_LIVESYNC
        self.s.sync.in_fd = in_fd
        self.s.sync.out_fd = out_fd
        memset(&self.s.sync.group, 0, sizeof(sockaddr_in))
        self.s.sync.group.sin_family = AF_INET
        memcpy(&self.s.sync.group.sin_addr, <const char *>g, 4)
        ot_store_be16(<uint8_t *>&self.s.sync.group.sin_port, port)
        self.s.sync.flushed_at[0] = self.s.sync.flushed_at[1] = self.s.mono
        self.s.sync.max_age = send_interval if send_interval > 0 else OT_SYNC_MAX_AGE

    def flush_livesync(self):
        """Send what is queued for the cluster now (at shutdown)."""
        if self.s.sync.out_fd >= 0:
            livesync_flush(&self.s, 0)
            livesync_flush(&self.s, 1)

    def _testhelper_livesync_tick(self, int elapsed):
        """Let `elapsed` seconds pass for the live-sync send buffers, then run
        the loop's periodic live-sync step (flush by age)."""
        loop_clock(&self.s)
        self.s.sync.flushed_at[0] -= elapsed
        self.s.sync.flushed_at[1] -= elapsed
        livesync_tick(&self.s)

    def livesync_counters(self):
        cdef ot_livesync *y = &self.s.sync
        return {"packets_sent": y.packets_sent, "records_sent": y.records_sent,
                "packets_received": y.packets_received, "packets_ignored": y.packets_ignored,
                "packets_bad": y.packets_bad, "records_received": self.s.ctr.syncs}

    def open_syslog(self):
        """Log each completed download to syslog from now on. Call it before a
        chroot: the log socket is connected here, while /dev/log is visible."""
        openlog(b"opentracker", LOG_NDELAY, LOG_USER)
        self.s.syslog_completed = True

    def set_access(self, str mode, bytes hashes=b""):
        """Switch the info_hash list: mode "open", "white" or "black" with the
        sorted, distinct 20-byte hashes of the file. The fifo sets start
        empty again, as after the original's reload."""
        _hashlist_set(&self.s.access.list, hashes)
        _hashlist_set(&self.s.access.added, b"")
        _hashlist_set(&self.s.access.deleted, b"")
        self.s.access.mode = _ACCESS_MODES[mode]

    def set_dynamic(self, bytes added, bytes deleted):
        """The hashes added and deleted through the access fifos (sorted)."""
        _hashlist_set(&self.s.access.added, added)
        _hashlist_set(&self.s.access.deleted, deleted)

    def set_networks(self, nets):
        """[(16-byte address, prefix bits over 16 bytes, permission bits)]:
        1 stats, 2 proxy, 4 live sync."""
        cdef size_t n = len(nets), i
        cdef ot_net *arr = NULL
        if n:
            arr = <ot_net *>ot_malloc(n * sizeof(ot_net))
            if arr == NULL:
                raise MemoryError()
            for i, (addr, bits, perms) in enumerate(nets):
                if len(addr) != 16 or not 0 <= bits <= 128:
                    ot_free(arr)
                    raise ValueError("bad network %r/%r" % (addr, bits))
                memcpy(arr[i].addr, <const char *>addr, 16)
                arr[i].bits = bits
                arr[i].perms = perms
        ot_free(self.s.access.nets)
        self.s.access.nets = arr
        self.s.access.net_count = n

    def watch_fd(self, int fd, callback):
        """Call callback() from run() whenever fd is readable. The fd stays
        the caller's (unwatch_fd before closing it)."""
        self._watch(fd, OT_FD_PYTHON)
        self._py_fds[fd] = callback

    def unwatch_fd(self, int fd):
        if self._py_fds.pop(fd, None) is None:
            return
        epoll_ctl(self.s.epfd, EPOLL_CTL_DEL, fd, NULL)
        self.s.conns[fd].kind = OT_FD_FREE
        self.s.conns[fd].py_ready = 0

    def set_hook(self, int interval, hook):
        """Call hook() from run() every `interval` seconds (0: never)."""
        self._hook = hook
        self.s.hook_interval = interval if hook is not None else 0
        self.s.next_hook = self.s.mono + interval

    def allows(self, bytes info_hash):
        """Would an announce of this hash pass the access list?"""
        return access_allows(&self.s.access, _hash_ptr(info_hash))

    def run(self):
        """Serve until stop(). Signal handlers and the hook run in here; an
        exception raised by one of them ends run() with that exception."""
        cdef ot_server *s = &self.s
        s.stop = False
        while not s.stop:
            with nogil:
                loop_run(s)
            if s.python_wanted:
                s.python_wanted = False
                PyErr_CheckSignals()
                for fd, callback in list(self._py_fds.items()):
                    if s.conns[fd].py_ready:
                        s.conns[fd].py_ready = 0
                        callback()
                if s.hook_due:
                    s.hook_due = False
                    if self._hook is not None:
                        self._hook()

    def stop(self):
        self.s.stop = True

    property open_connections:
        def __get__(self):
            return self.s.open_conns

    property now:
        def __get__(self):
            return self.s.now

    property _testhelper_clock_offset:
        """Seconds added to the wall clock, so tests can age swarms."""
        def __get__(self):
            return self.s.clock_offset

        def __set__(self, value):
            # Not a jump of the wall clock: the test moves time on, and
            # the swarms are meant to age.
            self.s.now += value - self.s.clock_offset
            self.s.clock_offset = value
            loop_clock(&self.s)

    def _testhelper_set_wall_clock(self, int seconds):
        """Move the wall clock as an operator or NTP would (a jump)."""
        self.s.clock_offset += seconds
        loop_clock(&self.s)

    property tracker_id:
        def __get__(self):
            return self.s.tracker_id

    property started:
        def __get__(self):
            return self.s.started

    def counters(self):
        """The /stats counters as a dict (names as in ot_counters)."""
        cdef ot_counters *k = &self.s.ctr
        return {
            "tcp_accepts": k.tcp_accepts[0], "tcp_accepts6": k.tcp_accepts[1],
            "tcp_announces": k.tcp_announces[0], "tcp_announces6": k.tcp_announces[1],
            "tcp_scrapes": k.tcp_scrapes[0], "tcp_scrapes6": k.tcp_scrapes[1],
            "udp_datagrams": k.udp_datagrams[0], "udp_datagrams6": k.udp_datagrams[1],
            "udp_connects": k.udp_connects[0], "udp_connects6": k.udp_connects[1],
            "udp_announces": k.udp_announces[0], "udp_announces6": k.udp_announces[1],
            "udp_scrapes": k.udp_scrapes[0], "udp_scrapes6": k.udp_scrapes[1],
            "udp_mismatches": k.udp_mismatches, "udp_send_failures": k.udp_send_failures,
            "fullscrapes": k.fullscrapes, "fullscrape_size": k.fullscrape_size,
            "completed": k.completed, "syncs": k.syncs,
            "refused_access": k.refused_access, "refused_memory": k.refused_memory,
            "refused_rate": k.refused_rate,
            "http_errors": [k.http_errors[i] for i in range(HTTPERR_COUNT)],
            "renew": [k.renew[i] for i in range(OT_PEER_TIMEOUT)],
        }

    # ------------------------------------------------------------ test hooks

    def _testhelper_http(self, bytes request, str client="127.0.0.1"):
        """Answer one HTTP request in-process, as the loop would: for fuzzing
        and byte-level tests of the parser. A large answer (full scrape,
        tpbs, statedump) is built to completion here. Returns the bytes."""
        cdef ot_conn c
        cdef uint8_t *req
        cdef ot_span span
        cdef size_t n = len(request)
        cdef ot_bulk *b
        cdef size_t start
        if n > OT_HTTP_REQUEST_MAX:
            span = http_error(&self.s, self.s.obuf, HTTPERR_500)
            return (<char *>self.s.obuf + span.start)[:span.len]
        memset(&c, 0, sizeof(ot_conn))
        c.fd = -1
        c.prev = c.next = -1
        c.kind = OT_FD_CLIENT
        raw = _addr16(client)
        memcpy(c.addr, <const char *>raw, 16)
        req = <uint8_t *>ot_malloc(n + 1)
        if req == NULL:
            raise MemoryError()
        memcpy(req, <const char *>request, n)
        req[n] = 0
        loop_clock(&self.s)
        span = http_respond(&self.s, &c, req, n, self.s.obuf)
        ot_free(req)
        if span.len:
            return (<char *>self.s.obuf + span.start)[:span.len]
        b = c.bulk
        if b == NULL:
            return b""
        bulk_detach(&self.s, b)
        while not bulk_slice(&self.s, b, self.s.bulk_stage):
            pass
        try:
            if b.len == 0:
                span = http_error(&self.s, self.s.obuf, HTTPERR_500)
                return (<char *>self.s.obuf + span.start)[:span.len]
            start = http_bulk_head(b)
            return (<char *>b.data + start)[:b.len - start]
        finally:
            bulk_free(b)

    def _testhelper_udp(self, bytes packet, str client="127.0.0.1"):
        """Answer one datagram in-process (b"" for silence), as the loop does
        with the first OT_UDP_IN_MAX bytes of each datagram."""
        cdef uint8_t out[OT_UDP_OUT_MAX]
        cdef uint8_t addr16[16]
        cdef size_t r
        raw = _addr16(client)
        memcpy(addr16, <const char *>raw, 16)
        packet = packet[:OT_UDP_IN_MAX]
        loop_clock(&self.s)
        r = udp_respond(&self.s, <const uint8_t *><const char *>packet, len(packet), addr16, out)
        return (<char *>out)[:r]
