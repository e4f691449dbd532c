# The Python face of the loop: the Server class the shell configures, feeds
# with sockets and runs (loop.pyx, conn.pyx, udpio.pyx and stream.pyx are the
# engine). It holds the tracker and its one worker; Python reaches them only
# between loop turns. The tests' in-process entry points are not here but in
# the test build (tests/testbuild/), so the router's module carries none of
# them.

import _socket                  # not socket.py: docs/memory.md, "The shell at rest"

from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from libc.string cimport memcpy, memset
from libc.stdint cimport UINT32_MAX, UINT64_MAX


def version_report():
    """What mode=version answers (package, commit, Cython, Python, zlib)."""
    cdef uint8_t buf[OT_VERSION_MAX]
    cdef uint8_t *end = write_version(buf)
    return (<char *>buf)[:end - buf]


STATUS_PAGE_MAX = OT_ANSWER_STAGE
HISTORY_BYTES = sizeof(ot_history)
WORKERS_MAX = OT_WORKERS_MAX
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


cdef int _watch_on(ot_worker *w, int fd, int kind) except -1:
    cdef epoll_event ev
    cdef ot_conn *c = conn_slot(w, fd)
    if c == NULL:
        raise MemoryError()
    if c.kind != OT_FD_FREE:
        raise ValueError("fd %d is already in the loop" % fd)
    ev.events = EPOLLIN
    ev.data.u64 = <uint32_t>fd
    if epoll_ctl(w.epfd, EPOLL_CTL_ADD, fd, &ev) < 0:
        raise OSError(errno, "epoll_ctl failed for fd %d" % fd)
    c.kind = <uint8_t>kind
    return 0


# configure()'s keyword defaults, named here only: its method has no
# __kwdefaults__ to read them back from (setup.py: binding off).
_CONFIGURE = dict(
    redirect_url=None, stats_path="stats", fullscrape=True, compression="gzip", ip_from_query=False, rate_limit=0,
    http_timeout=OT_HTTP_TIMEOUT, connid_window=OT_CONNID_WINDOW, max_connections=OT_HTTP_MAX_CONNECTIONS,
    answer_slice=OT_ANSWER_SLICE, modest_fullscrapes=False, send_timeout=OT_HTTP_SEND_TIMEOUT, shedding=True,
    fullscrape_cache=OT_FULLSCRAPE_CACHE, announce_interval=OT_ANNOUNCE_INTERVAL, adaptive_interval=False)


cdef class Server:
    """The tracker's loop and state. The Python shell binds the sockets,
    hands their fds over, configures, and calls run() until stop().

    Important: run() is the only place the loop runs; the other methods are
    for set-up and for Python code called from run() (signal handlers and the
    periodic hook), never from another thread.
    """
    cdef ot_tracker t
    cdef ot_worker w
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
        memset(&self.t, 0, sizeof(ot_tracker))
        memset(&self.w, 0, sizeof(ot_worker))
        self.w.t = &self.t
        self.t.worker_count = 1
        self.t.inbox_fd = -1
        self.w.epfd = -1
        self.w.wakeup_fd = -1
        self.t.sync.in_fd = self.t.sync.out_fd = -1
        self.t.sync.header = OT_SYNC_HEADER
        self.t.sync.room = OT_SYNC_BUF
        self.w.reading.head = self.w.reading.tail = -1
        self.w.writing.head = self.w.writing.tail = -1
        shed_init(&self.w)
        self._py_fds = {}
        self.store = Store(seed=seed, memory_limit=memory_limit)
        Py_INCREF(self.store)
        self._store_kept = <PyObject *>self.store
        self.t.store = self.store.st
        self.w.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.w.epfd < 0:
            raise OSError(errno, "epoll_create1 failed")
        if not loop_buffers_alloc(&self.w):
            raise MemoryError()
        # The connection table's first 64 slots (listeners, the wakeup pipe,
        # the first clients): a serving loop always has them, so a Server
        # has them from the start and its first request changes no count.
        if conn_slot(&self.w, 63) == NULL:
            raise MemoryError()
        answers_reserve_init(&self.w)
        key = _os.urandom(20)
        memcpy(self.t.connid_key, <const char *>key, 16)
        self.t.tracker_id = int.from_bytes(key[16:], "big")
        self.t.access.mode = OT_ACCESS_OPEN
        self.configure()        # the defaults, named once: configure()'s keywords
        loop_clock(&self.w)
        self.t.started = self.w.now
        self.w.next_tick = self.w.mono_ms + 1000
        history_tick(&self.t.status.hist, &self.w.ctr, self.w.mono)   # the rate history starts now

    def __dealloc__(self):
        cdef int32_t fd
        cdef uint32_t k
        if self.t.workers != NULL:
            with nogil:
                workers_stop(&self.t)
            inbox_close(&self.t)
            for k in range(1, self.t.worker_count):
                worker_free(self.t.workers[k])
            ot_free(self.t.workers)
            store_charge_other(self.t.store, -<int64_t>(self.t.worker_count * sizeof(ot_worker *)))
            self.t.workers = NULL
            self.t.worker_count = 1
        if self.w.conns != NULL:
            for fd in range(self.w.conn_cap):
                if self.w.conns[fd].kind == OT_FD_CLIENT:
                    conn_close(&self.w, fd)
                elif self.w.conns[fd].kind != OT_FD_FREE and self.w.conns[fd].kind != OT_FD_PYTHON:
                    close(fd)
        if self.t.store != NULL:
            while self.t.answers != NULL:
                answer_drop(&self.w, self.t.answers)
            answers_reserve_free(&self.w)
        if self.w.epfd >= 0:
            close(self.w.epfd)
        ot_free(self.w.conns)
        if self.t.store != NULL:
            store_charge_other(self.t.store, -<int64_t>(<uint64_t>self.w.conn_cap * sizeof(ot_conn)))
            loop_buffers_free(&self.w)
        ot_free(self.t.redirect_url)
        ot_free(self.t.access.list.hashes)
        ot_free(self.t.access.added.hashes)
        ot_free(self.t.access.deleted.hashes)
        ot_free(self.t.access.nets)
        ot_free(self.t.rate.table)
        ot_free(self.t.modest.table)
        if self.t.sync.senders != NULL:
            ot_free(self.t.sync.senders)
            if self.t.store != NULL:
                store_charge_other(self.t.store, -<int64_t>(OT_SYNC_SENDERS * sizeof(ot_sync_sender)))
        self.t.store = NULL
        Py_XDECREF(self._store_kept)
        self._store_kept = NULL

    def _watch(self, int fd, int kind):
        _watch_on(&self.w, fd, kind)

    def set_workers(self, uint32_t count):
        """Run `count` loops in all: this one and count - 1 workers on
        threads of their own (workers.pyx), started by run(). Once, before
        any listener is given to a worker; 1 changes nothing."""
        cdef uint32_t k
        cdef ot_worker *x
        if not 1 <= count <= OT_WORKERS_MAX:
            raise ValueError("1 to %d workers" % OT_WORKERS_MAX)
        if self.t.worker_count != 1 or count == 1:
            if count != self.t.worker_count:
                raise ValueError("the workers are set once")
            return
        self.t.workers = <ot_worker **>ot_malloc(count * sizeof(ot_worker *))
        if self.t.workers == NULL:
            raise MemoryError()
        memset(self.t.workers, 0, count * sizeof(ot_worker *))
        store_charge_other(self.t.store, <int64_t>(count * sizeof(ot_worker *)))
        self.t.workers[0] = &self.w
        # Where the others hand worker 0 the requests only it answers.
        self.t.inbox_fd = ot_eventfd()
        if self.t.inbox_fd < 0:
            raise OSError(errno, "eventfd failed")
        _watch_on(&self.w, self.t.inbox_fd, OT_FD_INBOX)
        for k in range(1, count):
            x = worker_new(&self.t, <int32_t>k)
            if x == NULL:
                raise MemoryError("cannot set up worker %d" % k)
            x.shed_persist = self.w.shed_persist
            self.t.workers[k] = x
            self.t.worker_count = k + 1
        # Several threads announce from now on: the store takes its locks.
        self.store.st.shared = True

    property workers:
        def __get__(self):
            return self.t.worker_count

    def add_listener(self, int fd, str kind, int worker=0):
        """Serve a bound, non-blocking socket: "tcp" (listening) or "udp".
        The server owns the fd from now on and closes it. UDP sockets learn
        each datagram's destination address, so that answers leave from it.
        `worker` is the loop that serves it (set_workers)."""
        cdef ot_worker *on = &self.w
        if worker:
            if not 0 < worker < <int>self.t.worker_count:
                raise ValueError("there is no worker %d" % worker)
            on = self.t.workers[worker]
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
            # When each datagram arrived: how long requests wait is what
            # shedding under overload follows (shed.pyx). Without it the
            # loop still sheds, on a coarser sign.
            setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one))
        _watch_on(on, fd, _FD_KINDS[kind])
        if kind == "udp" and on.udp_fd_count < OT_UDP_SOCKETS:
            on.udp_fds[on.udp_fd_count] = fd
            on.udp_fd_count += 1

    def set_wakeup_fd(self, int fd):
        """The read end of the pipe given to signal.set_wakeup_fd()."""
        self._watch(fd, OT_FD_WAKEUP)
        self.w.wakeup_fd = fd

    def configure(self, *, redirect_url=_CONFIGURE["redirect_url"], stats_path=_CONFIGURE["stats_path"],
                  fullscrape=_CONFIGURE["fullscrape"], compression=_CONFIGURE["compression"],
                  ip_from_query=_CONFIGURE["ip_from_query"], http_timeout=_CONFIGURE["http_timeout"],
                  connid_window=_CONFIGURE["connid_window"], max_connections=_CONFIGURE["max_connections"],
                  answer_slice=_CONFIGURE["answer_slice"], rate_limit=_CONFIGURE["rate_limit"],
                  modest_fullscrapes=_CONFIGURE["modest_fullscrapes"], send_timeout=_CONFIGURE["send_timeout"],
                  fullscrape_cache=_CONFIGURE["fullscrape_cache"], announce_interval=_CONFIGURE["announce_interval"],
                  adaptive_interval=_CONFIGURE["adaptive_interval"], shedding=_CONFIGURE["shedding"]):
        """Apply the settings. Those not given take their defaults, the
        tracker's, from _CONFIGURE (DEFAULTS exports them to config.py); a
        new Server starts configured with them."""
        cdef bytes path = stats_path.encode()
        cdef bytes url
        world_pause(&self.t)        # the other workers read what this changes
        try:
            if not 0 < len(path) <= OT_STATS_PATH_MAX:
                raise ValueError("stats path must be 1..%d bytes" % OT_STATS_PATH_MAX)
            memcpy(self.t.stats_path, <const char *>path, len(path))
            self.t.stats_path_len = len(path)
            ot_free(self.t.redirect_url)
            self.t.redirect_url = NULL
            self.t.redirect_len = 0
            if redirect_url:
                url = redirect_url.encode()
                if len(url) > OT_REDIRECT_MAX:
                    raise ValueError("redirect URL longer than %d bytes" % OT_REDIRECT_MAX)
                self.t.redirect_url = <uint8_t *>ot_malloc(len(url))
                if self.t.redirect_url == NULL:
                    raise MemoryError()
                memcpy(self.t.redirect_url, <const char *>url, len(url))
                self.t.redirect_len = len(url)
            self.t.fullscrape = fullscrape
            self.t.compress = compression == "gzip"
            self.t.ip_from_query = ip_from_query
            self.t.http_timeout = http_timeout
            self.t.send_timeout = send_timeout if send_timeout > 0 else OT_HTTP_SEND_TIMEOUT
            self.t.fullscrape_cache = fullscrape_cache if fullscrape_cache >= 0 else 0
            self.t.connid_window = connid_window if connid_window > 0 else OT_CONNID_WINDOW
            self.t.max_conns = max_connections
            self.t.answer_slice = answer_slice if answer_slice > 0 else OT_ANSWER_SLICE
            self.t.interval = (announce_interval if OT_INTERVAL_MIN <= announce_interval <= OT_INTERVAL_CEILING
                               else OT_ANNOUNCE_INTERVAL)
            if adaptive_interval and not self.t.adaptive_interval:
                self.t.cpu_mono_ns = 0        # the CPU share is measured from the next tick
                self.t.cpu_load = self.t.cpu_permille = self.t.mem_permille = self.t.load_steps = 0
            self.t.adaptive_interval = adaptive_interval
            self.t.shedding = shedding
            if not shedding:
                shed_off_everywhere(&self.w)
            self._set_rate_limit(rate_limit)
            self._set_modest(modest_fullscrapes)
        finally:
            world_resume(&self.t)

    def _set_modest(self, bint on):
        cdef size_t size = OT_MODEST_SLOTS * sizeof(ot_rate_entry)
        if self.t.modest.table != NULL:
            ot_free(self.t.modest.table)
            self.t.modest.table = NULL
            store_charge_other(self.t.store, -<int64_t>size)
        if on:
            self.t.modest.table = <ot_rate_entry *>ot_malloc(size)
            if self.t.modest.table == NULL:
                raise MemoryError()
            memset(self.t.modest.table, 0, size)
            store_charge_other(self.t.store, <int64_t>size)

    def _set_rate_limit(self, unsigned int per_minute):
        cdef size_t size = OT_RATE_SLOTS * sizeof(ot_rate_entry)
        if self.t.rate.table != NULL:
            ot_free(self.t.rate.table)
            self.t.rate.table = NULL
            store_charge_other(self.t.store, -<int64_t>size)
        self.t.rate.per_minute = per_minute
        if per_minute:
            self.t.rate.table = <ot_rate_entry *>ot_malloc(size)
            if self.t.rate.table == NULL:
                raise MemoryError()
            memset(self.t.rate.table, 0, size)
            store_charge_other(self.t.store, <int64_t>size)

    def set_livesync(self, int in_fd, int out_fd, str group, int port, int send_interval=OT_SYNC_MAX_AGE):
        """Join the cluster: in_fd is bound to the group's port and joined to
        the group, out_fd sends to group:port. The server owns both fds."""
        cdef bytes g = _socket.inet_aton(group)
        cdef ot_conn *c
        world_pause(&self.t)        # the other workers read what this changes
        try:
            self._watch(in_fd, OT_FD_LIVESYNC)
            c = conn_slot(&self.w, out_fd)      # not watched: only owned, so it is closed with the rest
            if c == NULL:
                raise MemoryError()
            c.kind = OT_FD_LIVESYNC
            self.t.sync.in_fd = in_fd
            self.t.sync.out_fd = out_fd
            memset(&self.t.sync.group, 0, sizeof(sockaddr_in))
            self.t.sync.group.sin_family = AF_INET
            memcpy(&self.t.sync.group.sin_addr, <const char *>g, 4)
            ot_store_be16(<uint8_t *>&self.t.sync.group.sin_port, port)
            self.t.sync.flushed_at[0] = self.t.sync.flushed_at[1] = self.w.mono
            self.t.sync.max_age = send_interval if send_interval > 0 else OT_SYNC_MAX_AGE
        finally:
            world_resume(&self.t)

    def flush_livesync(self):
        """Send what is queued for the cluster now (at shutdown)."""
        if self.t.sync.out_fd >= 0:
            livesync_flush(&self.w, 0)
            livesync_flush(&self.w, 1)

    def set_livesync_key(self, bytes key, bint accept_unsigned=False):
        """Sign and check live-sync packets with a 16-byte SipHash-2-4 key
        (docs/cluster-keys.md). Given again (a reload), the key before is
        still taken for one send interval. What is queued leaves first,
        signed as it was queued. The key is kept nowhere else."""
        cdef size_t size = OT_SYNC_SENDERS * sizeof(ot_sync_sender)
        world_pause(&self.t)        # the other workers read what this changes
        try:
            if len(key) != 16:
                raise ValueError("a cluster key is 16 bytes")
            if self.t.sync.senders == NULL:
                self.t.sync.senders = <ot_sync_sender *>ot_malloc(size)
                if self.t.sync.senders == NULL:
                    raise MemoryError()
                memset(self.t.sync.senders, 0, size)
                store_charge_other(self.t.store, <int64_t>size)
            if self.t.sync.out_fd >= 0:
                livesync_flush(&self.w, 0)
                livesync_flush(&self.w, 1)
            if self.t.sync.keyed:
                memcpy(self.t.sync.key[1], self.t.sync.key[0], 16)
                self.t.sync.old_key_until = self.w.mono + self.t.sync.max_age
            memcpy(self.t.sync.key[0], <const char *>key, 16)
            self.t.sync.keyed = 1
            self.t.sync.accept_unsigned = accept_unsigned
            self.t.sync.header = OT_SYNC_KEYED_HEADER
            self.t.sync.room = OT_SYNC_BUF - OT_SYNC_MAC
        finally:
            world_resume(&self.t)

    def livesync_counters(self):
        cdef ot_livesync *y = &self.t.sync
        return {"packets_sent": y.packets_sent, "records_sent": y.records_sent,
                "packets_received": y.packets_received, "packets_ignored": y.packets_ignored,
                "packets_bad": y.packets_bad, "records_received": self.w.ctr.syncs,
                "packets_bad_mac": y.packets_bad_mac, "packets_replay": y.packets_replay,
                "packets_unsigned": y.packets_unsigned}

    def open_syslog(self):
        """Log each completed download to syslog from now on. Call it before a
        chroot: the log socket is connected here, while /dev/log is visible."""
        openlog(b"opentracker", LOG_NDELAY, LOG_USER)
        self.t.syslog_completed = True

    def set_access(self, str mode, bytes hashes=b""):
        """Switch the info_hash list: mode "open", "white" or "black" with the
        sorted, distinct 20-byte hashes of the file. The fifo sets start
        empty again, as after the original's reload."""
        world_pause(&self.t)        # the other workers read what this changes
        try:
            _hashlist_set(&self.t.access.list, hashes)
            _hashlist_set(&self.t.access.added, b"")
            _hashlist_set(&self.t.access.deleted, b"")
            self.t.access.mode = _ACCESS_MODES[mode]
        finally:
            world_resume(&self.t)

    def set_dynamic(self, bytes added, bytes deleted):
        """The hashes added and deleted through the access fifos (sorted)."""
        world_pause(&self.t)        # the other workers read what this changes
        try:
            _hashlist_set(&self.t.access.added, added)
            _hashlist_set(&self.t.access.deleted, deleted)
        finally:
            world_resume(&self.t)

    def set_networks(self, nets):
        """[(16-byte address, prefix bits over 16 bytes, permission bits)]:
        1 stats, 2 proxy, 4 live sync."""
        cdef size_t n = len(nets), i
        cdef ot_net *arr = NULL
        world_pause(&self.t)        # the other workers read what this changes
        try:
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
            ot_free(self.t.access.nets)
            self.t.access.nets = arr
            self.t.access.net_count = n
        finally:
            world_resume(&self.t)

    def watch_fd(self, int fd, callback):
        """Call callback() from run() whenever fd is readable. The fd stays
        the caller's (unwatch_fd before closing it)."""
        self._watch(fd, OT_FD_PYTHON)
        self._py_fds[fd] = callback

    def unwatch_fd(self, int fd):
        if self._py_fds.pop(fd, None) is None:
            return
        # The shell may have closed the fd already, which took it out of the set.
        if epoll_ctl(self.w.epfd, EPOLL_CTL_DEL, fd, NULL) < 0 and errno != EBADF and errno != ENOENT:
            raise OSError(errno, "epoll_ctl failed for fd %d" % fd)
        self.w.conns[fd].kind = OT_FD_FREE
        self.w.conns[fd].py_ready = 0

    def set_hook(self, int interval, hook):
        """Call hook() from run() every `interval` seconds (0: never)."""
        self._hook = hook
        self.w.hook_interval = interval if hook is not None else 0
        self.w.next_hook = self.w.mono + interval

    def set_listen_text(self, bytes text):
        """What the status page shows as the listen addresses (the shell
        knows them; told once at start). Cut at OT_LISTEN_TEXT_MAX bytes."""
        cdef size_t n = min(len(text), OT_LISTEN_TEXT_MAX)
        memcpy(self.t.status.listen, <const char *>text, n)
        self.t.status.listen_len = <uint16_t>n

    def allows(self, bytes info_hash):
        """Would an announce of this hash pass the access list?"""
        return access_allows(&self.t.access, _hash_ptr(info_hash))

    def run(self):
        """Serve until stop(). Signal handlers and the hook run in here; an
        exception raised by one of them ends run() with that exception."""
        cdef ot_worker *w = &self.w
        cdef int failed
        w.stop = False
        failed = workers_start(&self.t)
        if failed:
            raise OSError(failed, "cannot start the worker loops: " + _os.strerror(failed))
        try:
            self._serve()
        finally:
            with nogil:
                workers_stop(&self.t)

    def _serve(self):
        cdef ot_worker *w = &self.w
        cdef int failed
        while not w.stop:
            with nogil:
                failed = loop_run(w)
            if failed:
                raise OSError(failed, "epoll_wait failed: " + _os.strerror(failed))
            if w.python_wanted:
                w.python_wanted = False
                PyErr_CheckSignals()
                for fd, callback in list(self._py_fds.items()):
                    if w.conns[fd].py_ready:
                        w.conns[fd].py_ready = 0
                        callback()
                if w.hook_due:
                    w.hook_due = False
                    if self._hook is not None:
                        self._hook()

    def stop(self):
        self.w.stop = True

    property open_connections:
        def __get__(self):
            return ot_acquire_load(&self.t.open_all)

    property now:
        def __get__(self):
            return self.w.now

    property tracker_id:
        def __get__(self):
            return self.t.tracker_id

    property started:
        def __get__(self):
            return self.t.started

    def counters(self):
        """The /stats counters as a dict (names as in ot_counters), every
        worker's summed."""
        cdef ot_counters sum
        cdef ot_counters *k = &sum
        counters_sum(&self.w, &sum)
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
            "shed": [k.shed[i] for i in range(SHED_KINDS)], "overloads": k.overloads, "shed_in_kernel": k.shed_in_kernel,
            "shed_level": self.w.shed_level,
        }

    def worker_requests(self):
        """UDP datagrams each loop has read, worker 0 first (its share on the
        status page)."""
        cdef uint32_t k
        shares = [self.w.ctr.udp_datagrams[0] + self.w.ctr.udp_datagrams[1]]
        for k in range(1, self.t.worker_count):
            shares.append(counters_udp_requests(self.t.workers[k]))
        return shares


# The defaults of the settings the core applies, by config key, for the
# shell: config.py's table reads them here instead of naming them again.
# They are configure()'s keyword defaults, from _CONFIGURE so that they are
# named there only (most as the OT_* numbers of server.pxd, which its
# fallbacks use too), and set_livesync()'s, OT_SYNC_MAX_AGE.
DEFAULTS = {key: _CONFIGURE[keyword] for key, keyword in (
    ("access.stats_path", "stats_path"),
    ("tracker.redirect_url", "redirect_url"),
    ("tracker.fullscrape", "fullscrape"),
    ("tracker.compression", "compression"),
    ("tracker.ip_from_query", "ip_from_query"),
    ("tracker.modest_fullscrapes", "modest_fullscrapes"),
    ("tracker.rate_limit", "rate_limit"),
    ("tracker.http_timeout", "http_timeout"),
    ("tracker.send_timeout", "send_timeout"),
    ("tracker.fullscrape_cache", "fullscrape_cache"),
    ("tracker.udp_connid_window", "connid_window"),
    ("tracker.http_max_connections", "max_connections"),
    ("tracker.announce_interval", "announce_interval"),
    ("tracker.adaptive_interval", "adaptive_interval"),
    ("tracker.shedding", "shedding"),
)}
DEFAULTS["livesync.cluster.send_interval"] = OT_SYNC_MAX_AGE
