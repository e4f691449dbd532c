# The Python face of the loop: the Server class the shell configures, feeds
# with sockets and runs (see loop.pyx for the engine), and the in-process
# test entry points, which go through the same handlers the loop calls.

from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from libc.string cimport memcpy, memset
from libc.stdint cimport UINT32_MAX, UINT64_MAX


def version_report():
    """What mode=version answers (package, commit, Cython, Python, zlib)."""
    cdef uint8_t buf[OT_VERSION_MAX]
    cdef uint8_t *end = write_version(buf)
    return (<char *>buf)[:end - buf]


STATUS_PAGE_MAX = OT_BULK_STAGE
HISTORY_BYTES = sizeof(ot_history)
# Built with OT_ZSTD=1: large answers offered as zstd to clients that ask.
ZSTD = bool(ot_zstd_available())


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
    # A reference the garbage collector does not see: __dealloc__ gives the
    # bytes of buffers, connections and answers back to the store's budget,
    # so the Store must outlive a Server that the collector clears out of a
    # reference cycle (its hook is often one of its own bound methods).
    cdef PyObject *_store_kept
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
        Py_INCREF(self.store)
        self._store_kept = <PyObject *>self.store
        self.s.store = self.store.st
        self.s.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.s.epfd < 0:
            raise OSError(errno, "epoll_create1 failed")
        if not loop_buffers_alloc(&self.s):
            raise MemoryError()
        answers_reserve_init(&self.s)
        key = _os.urandom(20)
        memcpy(self.s.connid_key, <const char *>key, 16)
        self.s.tracker_id = int.from_bytes(key[16:], "big")
        self.s.stats_path_len = 5
        memcpy(self.s.stats_path, b"stats", 5)
        self.s.fullscrape = True
        self.s.gzip = True
        self.s.http_timeout = 30
        self.s.send_timeout = OT_HTTP_SEND_TIMEOUT
        self.s.fullscrape_cache = OT_FULLSCRAPE_CACHE
        self.s.connid_window = 3600
        self.s.bulk_slice = OT_BULK_SLICE
        self.s.access.mode = OT_ACCESS_OPEN
        loop_clock(&self.s)
        self.s.started = self.s.now
        self.s.next_tick = self.s.mono_ms + 1000
        history_tick(&self.s.status.hist, &self.s.ctr, self.s.mono)   # the rate history starts now

    def __dealloc__(self):
        cdef int32_t fd
        if self.s.conns != NULL:
            for fd in range(self.s.conn_cap):
                if self.s.conns[fd].kind == OT_FD_CLIENT:
                    conn_close(&self.s, fd)
                elif self.s.conns[fd].kind != OT_FD_FREE and self.s.conns[fd].kind != OT_FD_PYTHON:
                    close(fd)
        if self.s.store != NULL:
            while self.s.answers != NULL:
                bulk_drop(&self.s, self.s.answers)
            answers_reserve_free(&self.s)
        if self.s.epfd >= 0:
            close(self.s.epfd)
        ot_free(self.s.conns)
        if self.s.store != NULL:
            self.s.store.mem_other -= <uint64_t>self.s.conn_cap * sizeof(ot_conn)
        if self.s.store != NULL:
            loop_buffers_free(&self.s)
        ot_free(self.s.redirect_url)
        ot_free(self.s.access.list.hashes)
        ot_free(self.s.access.added.hashes)
        ot_free(self.s.access.deleted.hashes)
        ot_free(self.s.access.nets)
        ot_free(self.s.rate.table)
        ot_free(self.s.modest.table)
        self.s.store = NULL
        Py_XDECREF(self._store_kept)
        self._store_kept = NULL

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
        cdef int one = 1, rc
        if kind == "udp":
            if getsockname(fd, <sockaddr *>&sa, &salen) < 0:
                raise OSError(errno, "getsockname failed for fd %d" % fd)
            if sa.sin6_family == AF_INET6:
                rc = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))
            else:
                rc = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
            if rc < 0:
                raise OSError(errno, "cannot learn datagrams' destination on fd %d" % fd)
        self._watch(fd, _FD_KINDS[kind])
        if kind == "udp" and self.s.udp_fd_count < OT_UDP_SOCKETS:
            self.s.udp_fds[self.s.udp_fd_count] = fd
            self.s.udp_fd_count += 1

    def set_wakeup_fd(self, int fd):
        """The read end of the pipe given to signal.set_wakeup_fd()."""
        self._watch(fd, OT_FD_WAKEUP)
        self.s.wakeup_fd = fd

    def configure(self, *, redirect_url=None, stats_path="stats", fullscrape=True, compression="gzip",
                  ip_from_query=False, http_timeout=30, connid_window=3600, max_connections=0,
                  bulk_slice=OT_BULK_SLICE, rate_limit=0, modest_fullscrapes=False,
                  send_timeout=OT_HTTP_SEND_TIMEOUT, fullscrape_cache=OT_FULLSCRAPE_CACHE):
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
        self.s.send_timeout = send_timeout if send_timeout > 0 else OT_HTTP_SEND_TIMEOUT
        self.s.fullscrape_cache = fullscrape_cache if fullscrape_cache >= 0 else 0
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
        # The shell may have closed the fd already, which took it out of the set.
        if epoll_ctl(self.s.epfd, EPOLL_CTL_DEL, fd, NULL) < 0 and errno != EBADF and errno != ENOENT:
            raise OSError(errno, "epoll_ctl failed for fd %d" % fd)
        self.s.conns[fd].kind = OT_FD_FREE
        self.s.conns[fd].py_ready = 0

    def set_hook(self, int interval, hook):
        """Call hook() from run() every `interval` seconds (0: never)."""
        self._hook = hook
        self.s.hook_interval = interval if hook is not None else 0
        self.s.next_hook = self.s.mono + interval

    def set_listen_text(self, bytes text):
        """What the status page shows as the listen addresses (the shell
        knows them; told once at start). Cut at OT_LISTEN_TEXT_MAX bytes."""
        cdef size_t n = min(len(text), OT_LISTEN_TEXT_MAX)
        memcpy(self.s.status.listen, <const char *>text, n)
        self.s.status.listen_len = <uint16_t>n

    def _testhelper_history_step(self, int seconds):
        """Shorten the status page's sampling step (tests: a chart in seconds)."""
        self.s.status.hist.step = <uint16_t>seconds

    def _testhelper_history_tick(self):
        """The loop's once-a-second history sample, now."""
        loop_clock(&self.s)
        history_tick(&self.s.status.hist, &self.s.ctr, self.s.mono)

    def _testhelper_status_page(self, size_t cap, bint worst=False):
        """Walk the torrents and write the status page into a buffer of cap
        bytes followed by a 64-byte guard: (length or -1 when it does not
        fit, whether the guard is untouched, the page bytes). worst=True
        first sets every number the page shows to its largest value, fills
        the history and the top list and gives the longest listen text, all
        of it to be escaped (on a throwaway server)."""
        cdef ot_statustop top
        cdef ot_torrent *t
        cdef uint8_t *buf
        cdef ssize_t n
        cdef size_t i
        cdef int k
        memset(&top, 0, sizeof(top))
        loop_clock(&self.s)
        if worst:
            memset(&self.s.ctr, 0xFF, sizeof(ot_counters))
            self.s.store.torrent_count = UINT32_MAX
            for k in range(2):
                self.s.store.peer_count[k] = UINT64_MAX
                self.s.store.seeder_count[k] = 0
            self.s.store.mem_limit = UINT64_MAX
            self.s.status.hist.step = OT_HISTORY_STEP
            self.s.status.hist.count = OT_HISTORY_SLOTS
            self.s.status.hist.last_at = self.s.mono - OT_HISTORY_STEP + 1
            memset(self.s.status.hist.events, 0xFF, sizeof(self.s.status.hist.events))
            memset(self.s.status.hist.last, 0, sizeof(self.s.status.hist.last))
            memset(self.s.status.listen, 34, OT_LISTEN_TEXT_MAX)     # '"': 6 bytes each when escaped
            self.s.status.listen_len = OT_LISTEN_TEXT_MAX
            top.count = STATUS_TOP
            for k in range(STATUS_TOP):
                top.peers[k] = UINT32_MAX
                top.seeds[k] = 0
        else:
            t = store_next(self.s.store, NULL)
            while t != NULL:
                _status_insert(&top, ot_torrent_peers(t), ot_torrent_seeders(t), t.hash)
                t = store_next(self.s.store, t.hash)
        buf = <uint8_t *>ot_malloc(cap + 64)
        if buf == NULL:
            raise MemoryError()
        try:
            memset(buf, 0xA5, cap + 64)
            n = status_write(&self.s, &top, buf, cap)
            guard = all(buf[cap + i] == 0xA5 for i in range(64))
            return n, guard, (<char *>buf)[:n if n > 0 else 0]
        finally:
            ot_free(buf)

    def allows(self, bytes info_hash):
        """Would an announce of this hash pass the access list?"""
        return access_allows(&self.s.access, _hash_ptr(info_hash))

    def run(self):
        """Serve until stop(). Signal handlers and the hook run in here; an
        exception raised by one of them ends run() with that exception."""
        cdef ot_server *s = &self.s
        cdef int failed
        s.stop = False
        while not s.stop:
            with nogil:
                failed = loop_run(s)
            if failed:
                raise OSError(failed, "epoll_wait failed: " + _os.strerror(failed))
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
            "unstored_peers": k.unstored_peers,
            "refused_rate": k.refused_rate,
            "http_errors": [k.http_errors[i] for i in range(HTTPERR_COUNT)],
            "renew": [k.renew[i] for i in range(OT_PEER_TIMEOUT)],
        }

    # ------------------------------------------------------------ test hooks

    def _testhelper_http(self, bytes request, str client="127.0.0.1"):
        """Answer one HTTP request in-process, as the loop would: for fuzzing
        and byte-level tests of the parser. A large answer (full scrape,
        tpbs, statedump) is made to completion here and returned as the
        loop sends one that is complete before its first byte goes (with a
        Content-Length); it is never shared. Returns the bytes."""
        cdef ot_conn c
        cdef uint8_t *req
        cdef ot_span span
        cdef size_t n = len(request)
        cdef ot_bulk *b
        cdef ot_block *blk
        cdef uint8_t head[OT_FRAME_ROOM]
        cdef int64_t cache = self.s.fullscrape_cache
        if n > OT_HTTP_REQUEST_MAX:
            span = http_error(&self.s, self.s.obuf, HTTPERR_500)
            return (<char *>self.s.obuf + span.start)[:span.len]
        memset(&c, 0, sizeof(ot_conn))
        c.fd = -1
        c.prev = c.next = c.rnext = -1
        c.kind = OT_FD_CLIENT
        raw = _addr16(client)
        memcpy(c.addr, <const char *>raw, 16)
        req = <uint8_t *>ot_malloc(n + 1)
        if req == NULL:
            raise MemoryError()
        memcpy(req, <const char *>request, n)
        req[n] = 0
        loop_clock(&self.s)
        self.s.fullscrape_cache = 0
        span = http_respond(&self.s, &c, req, n, self.s.obuf)
        self.s.fullscrape_cache = cache
        ot_free(req)
        if span.len:
            return (<char *>self.s.obuf + span.start)[:span.len]
        b = c.bulk
        if b == NULL:
            return b""
        # The helper's connection is no reader the loop knows: take it off.
        b.reader = -1
        b.readers = 0
        _line_remove(&self.s, b)
        try:
            if not b.admitted and not _admit(&self.s, b):
                b.failed = 1
            while not b.failed and not b.done:
                if bulk_slice(&self.s, b, self.s.bulk_stage):
                    b.done = 1
            if b.failed:
                span = http_error(&self.s, self.s.obuf, HTTPERR_500)
                return (<char *>self.s.obuf + span.start)[:span.len]
            bulk_served(&self.s, b)
            parts = [(<char *>head)[:<size_t>(stream_head(head, &c, b) - head)]]
            blk = b.first
            while blk != NULL:
                parts.append((<char *>block_data(blk))[:blk.len])
                blk = blk.next
            return b"".join(parts)
        finally:
            bulk_drop(&self.s, b)

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
