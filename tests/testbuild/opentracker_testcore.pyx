# cython: language_level=3
# The core as the tests build it: the shipped module's sources and flags
# (setup.py, OT_TESTCORE) with entry points that drive the core's own steps
# in-process, for byte-level tests and the fuzz harnesses. Never installed:
# the router's module carries none of this (docs/architecture.md, "Test
# builds"). tests/helpers/testcore.py builds and loads it.

include "opentracker_core/_core.pyx"

# One exception class with the shipped module, so the shell's code (state.py
# catches opentracker_core.StoreFullError) sees this build's refusals too.
from opentracker_core._core import StoreFullError

import socket as _socket


def siphash24_tag(bytes key, bytes msg):
    """includes/siphash.h's SipHash-2-4 tag of msg under a 16-byte key, as
    the reference writes it (little-endian): for the published vectors."""
    cdef uint64_t tag
    if len(key) != 16:
        raise ValueError("a SipHash key is 16 bytes")
    tag = ot_siphash24(<const unsigned char *><const char *>key, <const unsigned char *><const char *>msg, len(msg))
    return tag.to_bytes(8, "little")


def _addr16(str client):
    """A client address as the core keeps it, from text (Python side)."""
    cdef uint8_t addr16[16]
    cdef bytes text = client.encode()
    if not parse_ip_text(<const uint8_t *><const char *>text, len(text), addr16):
        raise ValueError("not an IP address: %r" % client)
    return (<char *>addr16)[:16]


cdef int _pack_peer(object ip, object port, ot_peer_in *out) except -1:
    cdef bytes raw
    cdef int p = port
    if not 0 <= p <= 0xFFFF:
        raise ValueError("port out of range")
    if isinstance(ip, str):
        raw = _socket.inet_pton(_socket.AF_INET6 if ":" in ip else _socket.AF_INET, ip)
    else:
        raw = bytes(ip)
    if len(raw) == 16 and raw[:12] == b"\0" * 10 + b"\xff\xff":
        raw = raw[12:]
    if len(raw) == 4:
        out.family = OT_FAMILY_V4
    elif len(raw) == 16:
        out.family = OT_FAMILY_V6
    else:
        raise ValueError("an address is 4 or 16 bytes")
    memcpy(out.key, <const char *>raw, len(raw))
    out.key[len(raw)] = <uint8_t>(p >> 8)
    out.key[len(raw) + 1] = <uint8_t>(p & 0xFF)
    out.flags = 0
    out.from_sync = 0
    return 0


def _drain_into(sock, list got):
    """What a socket pair's client end has received so far."""
    while True:
        try:
            piece = sock.recv(1 << 16)
        except BlockingIOError:
            return
        if not piece:
            return
        got.append(piece)


cdef void _make_whole(ot_worker *w, ot_answer *b) noexcept nogil:
    """Make a large answer to its end now, out of the line (its window and
    the loop's one slice a turn do not apply): failed, or done."""
    _line_remove(w, b)
    if not b.admitted and not _admit(w, b):
        b.failed = 1
    while not b.failed and not b.done:
        if answer_slice(w, b, w.answer_stage):
            b.done = 1


cdef class TestServer(Server):
    """A Server with entry points that answer requests in-process through
    the loop's own steps, announces and scrapes through its own tracker
    (its access list, cluster and counters apply), and its clocks moved."""
    cdef readonly dict last_outcome

    def __cinit__(self, *args, **kwargs):
        self.last_outcome = {}

    def announce_http(self, bytes info_hash, ip, int port, *, bint seeder=False,
                      bint completed=False, int numwant=OT_NUMWANT_DEFAULT):
        return _announce_http(&self.w, self.last_outcome, info_hash, ip, port, seeder, completed, numwant)

    def stop_http(self, bytes info_hash, ip, int port):
        return _stop_http(&self.w, info_hash, ip, port)

    def scrape_http(self, hashes):
        return _scrape_http(&self.w, hashes)

    def announce_udp(self, bytes info_hash, ip, int port, *, bint seeder=False, int event=0,
                     unsigned int numwant=OT_UDP_PEERS_V4, unsigned int transaction_id=0):
        return _announce_udp(&self.w, self.last_outcome, info_hash, ip, port, seeder, event, numwant,
                             transaction_id)

    def scrape_udp(self, hashes, unsigned int transaction_id=0):
        return _scrape_udp(&self.w, hashes, transaction_id)

    def answer_http(self, bytes request, str client="127.0.0.1", bint whole=True):
        """Answer one HTTP request in-process through the loop's own steps:
        the request is written into one end of a socket pair, the other end
        becomes a client connection from `client` (conn_begin, as after an
        accept) and is served as the loop serves it (read, answer, send or
        queue, stream) until it closes; returns every byte it sent. A large
        answer is made whole before its first byte goes (whole=True: a
        Content-Length, as the original sends it) or slice by slice with
        the readers' sends in between (whole=False: chunked for HTTP/1.1,
        until close for HTTP/1.0). Full scrapes are never shared here."""
        cdef ot_worker *w = &self.w
        cdef ot_conn *c
        cdef ot_answer *b
        cdef int32_t fd
        cdef uint32_t gen = 0, before
        cdef uint8_t addr16[16]
        cdef int64_t cache = self.t.fullscrape_cache
        cdef long turns
        raw = _addr16(client)
        memcpy(addr16, <const char *>raw, 16)
        ours, theirs = _socket.socketpair()
        got = []
        try:
            # A socket pair takes some 200 KiB unread; past 8 KiB the loop answers 500 anyway.
            theirs.sendall(request[:65536])
            theirs.setblocking(False)
            ours.setblocking(False)
            fd = ours.detach()
            if fd < w.conn_cap:
                gen = w.conns[fd].gen
            loop_clock(w)
            self.t.fullscrape_cache = 0
            conn_begin(w, fd, addr16, 0)
            for turns in range(1 << 24):
                c = &w.conns[fd]
                if c.kind != OT_FD_CLIENT or c.gen != gen:
                    break
                _drain_into(theirs, got)
                w.turn_sent = w.turn_polled = 0
                if c.state == OT_CONN_READING:
                    # More of the request, or an unfinished one the loop
                    # would close at its header deadline.
                    before = c.in_len
                    conn_readable(w, fd)
                    c = &w.conns[fd]
                    if c.kind == OT_FD_CLIENT and c.gen == gen and c.state == OT_CONN_READING and c.in_len == before:
                        conn_close(w, fd)
                elif c.state == OT_CONN_WRITING:
                    conn_writable(w, fd)
                elif c.state == OT_CONN_STREAMING:
                    b = c.rd.answer
                    if whole and not c.rd.head_sent and not b.done:
                        _make_whole(w, b)
                        conn_stream(w, c)
                    elif c.listed == OT_LISTED_WRITING or b.done:
                        conn_stream(w, c)
                    elif w.answer_head != NULL:
                        stream_wake(w, answer_step(w))
                    else:
                        raise RuntimeError("a large answer waits for memory nothing will free")
            else:
                raise RuntimeError("the connection was not over after 2^24 turns")
            theirs.setblocking(True)
            theirs.settimeout(10)
            while True:
                piece = theirs.recv(1 << 16)
                if not piece:
                    break
                got.append(piece)
        finally:
            self.t.fullscrape_cache = cache
            theirs.close()
        return b"".join(got)

    def respond_http(self, bytes request, str client="127.0.0.1"):
        """The handlers alone (http_respond) on a heap copy of exactly the
        request's bytes and the NUL the scanner relies on, whether or not
        its header is complete: a read past the request's end is then a heap
        overflow the sanitizer run reports, where the loop's read buffer
        would hide it (the query fuzzer's and the parser regressions' entry).
        A large answer is made whole here and returned as the loop sends one
        that is complete before its first byte goes (Content-Length); it is
        never shared."""
        cdef ot_worker *w = &self.w
        cdef ot_conn c
        cdef ot_reader rd
        cdef uint8_t *req
        cdef ot_span span
        cdef size_t n = len(request)
        cdef ot_answer *b
        cdef ot_block *blk
        cdef uint8_t head[OT_FRAME_ROOM]
        cdef int64_t cache = self.t.fullscrape_cache
        memset(&c, 0, sizeof(ot_conn))
        memset(&rd, 0, sizeof(ot_reader))
        c.fd = -1
        c.prev = c.next = c.rd.rnext = -1
        c.kind = OT_FD_CLIENT
        raw = _addr16(client)
        memcpy(c.addr, <const char *>raw, 16)
        req = <uint8_t *>ot_malloc(n + 1)
        if req == NULL:
            raise MemoryError()
        memcpy(req, <const char *>request, n)
        req[n] = 0
        loop_clock(w)
        self.t.fullscrape_cache = 0
        span = http_respond(w, &c, req, n, w.obuf)
        self.t.fullscrape_cache = cache
        ot_free(req)
        b = w.handover
        w.handover = NULL
        if b == NULL:
            return (<char *>w.obuf + span.start)[:span.len]
        try:
            _make_whole(w, b)
            if b.failed:
                span = http_error(w, w.obuf, HTTPERR_500)
                return (<char *>w.obuf + span.start)[:span.len]
            answer_served(w, b)
            parts = [(<char *>head)[:<size_t>(stream_head(head, &rd, b) - head)]]
            blk = b.first
            while blk != NULL:
                parts.append((<char *>block_data(blk))[:blk.len])
                blk = blk.next
            return b"".join(parts)
        finally:
            answer_drop(w, b)

    def answer_udp(self, bytes packet, str client="127.0.0.1"):
        """Answer one datagram in-process (b"" for silence), as the loop does
        with the first OT_UDP_IN_MAX bytes of each datagram."""
        cdef uint8_t out[OT_UDP_OUT_MAX]
        cdef uint8_t addr16[16]
        cdef size_t r
        raw = _addr16(client)
        memcpy(addr16, <const char *>raw, 16)
        packet = packet[:OT_UDP_IN_MAX]
        loop_clock(&self.w)
        r = udp_respond(&self.w, <const uint8_t *><const char *>packet, len(packet), addr16, out)
        return (<char *>out)[:r]

    def livesync_tick(self, int elapsed):
        """Let `elapsed` seconds pass for the live-sync send buffers, then run
        the loop's periodic live-sync step (flush by age)."""
        loop_clock(&self.w)
        self.t.sync.flushed_at[0] -= elapsed
        self.t.sync.flushed_at[1] -= elapsed
        livesync_tick(&self.w)

    def livesync_receive(self):
        """Read and apply the datagrams waiting on the cluster socket, as the
        loop does when it is readable (keyed ones checked first)."""
        loop_clock(&self.w)
        if self.t.sync.in_fd >= 0:
            on_livesync(&self.w, self.t.sync.in_fd)

    def history_step(self, int seconds):
        """Shorten the status page's sampling step (tests: a chart in seconds)."""
        self.t.status.hist.step = <uint16_t>seconds

    def history_tick(self):
        """The loop's once-a-second history sample, now."""
        loop_clock(&self.w)
        history_tick(&self.t.status.hist, &self.w.ctr, self.w.mono)

    def status_page(self, size_t cap, bint worst=False):
        """Walk the torrents and write the status page into a buffer of cap
        bytes followed by a 64-byte guard: (length or -1 when it does not
        fit, whether the guard is untouched, the page bytes). worst=True
        first sets every number the page shows to its largest value, fills
        the history and the top list and gives the longest listen text, all
        of it to be escaped (on a throwaway server)."""
        cdef ot_statustop top
        cdef ot_torrent *t
        cdef ot_walk wk
        cdef uint8_t *buf
        cdef ssize_t n
        cdef size_t i
        cdef int k
        memset(&top, 0, sizeof(top))
        loop_clock(&self.w)
        if worst:
            memset(&self.w.ctr, 0xFF, sizeof(ot_counters))
            for k in range(1, self.t.worker_count):
                memset(&self.t.workers[k].published, 0xFF, sizeof(ot_counters))
            # The counts are summed over the lock groups: the widest in one.
            for k in range(OT_GROUP_COUNT):
                self.t.store.groups[k].torrent_count = UINT32_MAX if k == 0 else 0
                for i in range(2):
                    self.t.store.groups[k].peer_count[i] = UINT64_MAX if k == 0 else 0
                    self.t.store.groups[k].seeder_count[i] = 0
            self.t.store.mem_limit = UINT64_MAX
            self.t.status.hist.step = OT_HISTORY_STEP
            self.t.status.hist.count = OT_HISTORY_SLOTS
            self.t.status.hist.last_at = self.w.mono - OT_HISTORY_STEP + 1
            memset(self.t.status.hist.events, 0xFF, sizeof(self.t.status.hist.events))
            memset(self.t.status.hist.last, 0, sizeof(self.t.status.hist.last))
            memset(self.t.status.listen, 34, OT_LISTEN_TEXT_MAX)     # '"': 6 bytes each when escaped
            self.t.status.listen_len = OT_LISTEN_TEXT_MAX
            top.count = STATUS_TOP
            for k in range(STATUS_TOP):
                top.peers[k] = UINT32_MAX
                top.seeds[k] = 0
        else:
            t = store_walk_first(self.t.store, &wk, NULL)
            while t != NULL:
                _status_insert(&top, ot_torrent_peers(t), ot_torrent_seeders(t), t.hash)
                t = store_walk_next(self.t.store, &wk)
        buf = <uint8_t *>ot_malloc(cap + 64)
        if buf == NULL:
            raise MemoryError()
        try:
            memset(buf, 0xA5, cap + 64)
            n = status_write(&self.w, &top, buf, cap)
            guard = all(buf[cap + i] == 0xA5 for i in range(64))
            return n, guard, (<char *>buf)[:n if n > 0 else 0]
        finally:
            ot_free(buf)

    property clock_offset:
        """Seconds added to the wall clock, so tests can age swarms."""
        def __get__(self):
            return self.t.clock_offset

        def __set__(self, value):
            # Not a jump of the wall clock: the test moves time on, and
            # the swarms are meant to age.
            self.w.now += value - self.t.clock_offset
            self.t.clock_offset = value
            loop_clock(&self.w)

    def interval_tick(self):
        """Take the adaptive interval's load now, as the loop's tick does."""
        interval_load_tick(&self.w)
        return dict(cpu_permille=self.t.cpu_permille, memory_permille=self.t.mem_permille,
                    load_steps=self.t.load_steps)

    def set_wall_clock(self, int seconds):
        """Move the wall clock as an operator or NTP would (a jump)."""
        self.t.clock_offset += seconds
        loop_clock(&self.w)

    # ------------------------------------------------ shedding (shed.pyx)

    property shed_level:
        """What the worker sheds now; set, it holds OT_SHED_HOLD_MS as if
        the queue had asked for it."""
        def __get__(self):
            return self.w.shed_level

        def __set__(self, int level):
            loop_clock(&self.w)
            self.w.shed_level = 0
            shed_raise(&self.w, <uint8_t>level)

    def shed_relax(self, int ms):
        """A loop turn ms milliseconds after the last (or after the level
        was set): the level steps down if due."""
        self.w.mono_ms += ms
        shed_relax(&self.w)
        return self.w.shed_level

    property shed_cost_ns:
        """CPU nanoseconds a datagram read costs the loop, as it last measured."""
        def __get__(self):
            return self.w.shed_cost_ns

        def __set__(self, long long ns):
            self.w.shed_cost_ns = ns

    @staticmethod
    def shed_flood_stays(long long busy_ns, long long wall_ns, unsigned long long dropped, long long cost_ns):
        """Would the scrapes the filter dropped overload the loop let back in?"""
        return shed_flood_stays(busy_ns, wall_ns, dropped, cost_ns)

    def shed_renew(self):
        """A look asks for the level again now: it holds a whole hold more."""
        self.w.shed_until = self.w.mono_ms + self.w.shed_hold

    def udp_turn(self, int fd):
        """The loop's UDP step on the socket fd: every datagram queued is
        read, answered or shed, and the answers sent, as on_udp does."""
        loop_clock(&self.w)
        with nogil:
            on_udp(&self.w, fd)

    def shed_note(self, long long now_us, long long wait_us):
        """A look at the wait, as a full batch past the streak gives one, at
        monotonic time now_us: the level it leaves and the hold."""
        shed_note(&self.w, now_us, wait_us)
        return self.w.shed_level, self.w.shed_hold

    def shed_calm(self):
        """The queue was found empty."""
        shed_calm(&self.w)

    property shed_persist_us:
        """How long a wait must last before its level begins."""
        def __get__(self):
            return self.w.shed_persist

        def __set__(self, long long us):
            self.w.shed_persist = us

    @staticmethod
    def shed_level_for(long long wait_us):
        """The deepest level whose threshold (shed_wait_reaches) the wait reaches."""
        cdef int level = SHED_LEVEL_NEWCOMERS
        while level > 0 and not shed_wait_reaches(wait_us, level):
            level -= 1
        return level


# ---------------------------------------------------------------- in-process announces and scrapes
#
# The functions the loop's handlers call once a request is parsed
# (tracker.pyx) and the same reply writers, for a worker: a TestServer's
# own (its access list, cluster and counters apply) or a TestStore's
# standalone one (open access, no cluster, counters of its own).

cdef ot_torrent *_announce(ot_worker *w, dict outcome, bytes info_hash, object ip, object port, bint seeder,
                           bint completed) except? NULL:
    # The handlers' order: lock, announce, unlock, news. The torrent is
    # returned for the reply writer, which runs while no worker does.
    cdef ot_peer_in peer
    cdef ot_announce_result res
    cdef const uint8_t *h = _hash_ptr(info_hash)
    cdef ot_group *g
    cdef int rc
    _pack_peer(ip, port, &peer)
    peer.flags = (PEER_FLAG_SEEDING if seeder else 0) | (PEER_FLAG_COMPLETED if completed else 0)
    g = store_lock(w.t.store, h)
    rc = tracker_announce(w, h, &peer, &res)
    store_unlock(w.t.store, g)
    if rc == OT_OK:
        tracker_announced(w, h, &peer, NULL, &res)
    if rc == OT_REFUSED_MEMORY:
        raise StoreFullError("memory limit reached")
    if rc == OT_REFUSED_ACCESS:
        raise PermissionError("the access list refuses this info_hash")
    if rc != OT_OK:
        raise MemoryError()
    outcome.clear()
    outcome.update(new_torrent=bool(res.new_torrent), new_peer=bool(res.new_peer), completed=bool(res.completed),
                   renew_age=res.renew_age, stored=not res.unstored, interval=res.interval,
                   timeout_class=(res.record[ot_key_size(peer.family)] & PEER_CLASS_MASK)
                   if res.record != NULL else None)
    return res.torrent


cdef bytes _announce_http(ot_worker *w, dict outcome, bytes info_hash, ip, int port, bint seeder, bint completed,
                          int numwant):
    cdef uint8_t buf[OT_ANNOUNCE_BODY_MAX]
    cdef ot_torrent *t = _announce(w, outcome, info_hash, ip, port, seeder, completed)
    cdef uint32_t nominal = outcome["interval"]
    if numwant < 0:
        numwant = OT_NUMWANT_DEFAULT
    elif numwant > OT_NUMWANT_MAX:
        numwant = OT_NUMWANT_MAX
    return (<char *>buf)[:write_http_announce(buf, t, numwant, nominal, &store_group(w.t.store, _hash_ptr(info_hash)).rng)]


cdef bytes _stop_http(ot_worker *w, bytes info_hash, ip, int port):
    cdef uint8_t buf[256]
    cdef ot_peer_in peer
    _pack_peer(ip, port, &peer)
    cdef ot_torrent *t = tracker_stop(w, _hash_ptr(info_hash), &peer)
    tracker_stopped(w, _hash_ptr(info_hash), &peer)
    return (<char *>buf)[:write_http_stopped(buf, t, interval_base(w.t), &store_group(w.t.store, _hash_ptr(info_hash)).rng)]


cdef bytes _scrape_http(ot_worker *w, hashes):
    cdef uint8_t buf[OT_SCRAPE_BODY_MAX]
    cdef bytes joined = b"".join(hashes[:OT_MAXMULTISCRAPE])
    for h in hashes[:OT_MAXMULTISCRAPE]:
        _hash_ptr(h)
    return (<char *>buf)[:write_http_scrape(buf, w.t.store, <const uint8_t *><const char *>joined,
                                             len(joined) // OT_HASH_SIZE)]


cdef bytes _announce_udp(ot_worker *w, dict outcome, bytes info_hash, ip, int port, bint seeder, int event,
                         unsigned int numwant, unsigned int transaction_id):
    cdef uint8_t buf[OT_UDP_ANNOUNCE_MAX]
    cdef ot_peer_in peer
    cdef ot_torrent *t
    if event == 3:
        _pack_peer(ip, port, &peer)
        t = tracker_stop(w, _hash_ptr(info_hash), &peer)
        tracker_stopped(w, _hash_ptr(info_hash), &peer)
        return (<char *>buf)[:write_udp_announce(buf, transaction_id, t, peer.family, 0, interval_base(w.t),
                                                                &store_group(w.t.store, _hash_ptr(info_hash)).rng)]
    t = _announce(w, outcome, info_hash, ip, port, seeder, event == 1)
    _pack_peer(ip, port, &peer)
    return (<char *>buf)[:write_udp_announce(buf, transaction_id, t, peer.family, numwant,
                                                            <uint32_t>outcome["interval"],
                                                            &store_group(w.t.store, _hash_ptr(info_hash)).rng)]


cdef bytes _scrape_udp(ot_worker *w, hashes, unsigned int transaction_id):
    cdef uint8_t buf[OT_UDP_SCRAPE_REPLY_MAX]
    cdef bytes joined = b"".join(hashes[:OT_UDP_SCRAPE_MAX])
    for h in hashes[:OT_UDP_SCRAPE_MAX]:
        _hash_ptr(h)
    return (<char *>buf)[:write_udp_scrape(buf, transaction_id, w.t.store, <const uint8_t *><const char *>joined,
                                            len(joined) // OT_HASH_SIZE, len(joined) // OT_HASH_SIZE)]


cdef struct ot_standalone:
    # A tracker and its one worker for a TestStore's announces.
    ot_tracker t
    ot_worker w


cdef class TestStore(Store):
    """A Store that can be announced into and scraped without a Server, as
    the bytes the tracker would put on the wire."""
    cdef ot_standalone *_tracker
    cdef readonly dict last_outcome

    def __cinit__(self, *args, **kwargs):
        self.last_outcome = {}

    def __dealloc__(self):
        ot_free(self._tracker)
        self._tracker = NULL

    cdef ot_worker *_worker(self) except NULL:
        """Its standalone tracker and worker, made on first use."""
        if self._tracker == NULL:
            self._tracker = <ot_standalone *>ot_malloc(sizeof(ot_standalone))
            if self._tracker == NULL:
                raise MemoryError()
            memset(self._tracker, 0, sizeof(ot_standalone))
            self._tracker.w.t = &self._tracker.t
            self._tracker.t.store = self.st
            self._tracker.t.access.mode = OT_ACCESS_OPEN
            self._tracker.t.sync.in_fd = self._tracker.t.sync.out_fd = -1
        return &self._tracker.w

    def announce_http(self, bytes info_hash, ip, int port, *, bint seeder=False,
                      bint completed=False, int numwant=OT_NUMWANT_DEFAULT):
        """Announce and return the HTTP body. numwant follows the HTTP rules:
        negative means the default 50, more than 200 means 200."""
        return _announce_http(self._worker(), self.last_outcome, info_hash, ip, port, seeder, completed, numwant)

    def stop_http(self, bytes info_hash, ip, int port):
        """event=stopped: remove the peer and return the stopped body."""
        return _stop_http(self._worker(), info_hash, ip, port)

    def scrape_http(self, hashes):
        """Scrape body for up to 64 hashes (extra ones are ignored)."""
        return _scrape_http(self._worker(), hashes)

    def announce_udp(self, bytes info_hash, ip, int port, *, bint seeder=False, int event=0,
                     unsigned int numwant=OT_UDP_PEERS_V4, unsigned int transaction_id=0):
        """A BEP 15 announce (event 1 completed, 3 stopped); returns the reply."""
        return _announce_udp(self._worker(), self.last_outcome, info_hash, ip, port, seeder, event, numwant,
                             transaction_id)

    def scrape_udp(self, hashes, unsigned int transaction_id=0):
        return _scrape_udp(self._worker(), hashes, transaction_id)


# ================================================================ store threads
# tests/test_store_threads.py: N workers on one shared tracker, each on a
# thread of its own without the GIL, announcing, completing, stopping and
# scraping through the handlers (udp_respond, http_respond), while another
# thread walks the store (the clean cycle, full scrape, top10, status page,
# s24s, statedump) and moves the store's clock. Each worker's peers are its
# own (addresses 10.<worker>.0.<slot> and fd00::<worker>:<slot>), so each keeps
# an exact model of what its requests did to the store; the torrents crowd
# into a few lock groups so the workers meet. docs/architecture.md, "The
# store with several workers".

cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    ctypedef struct pthread_barrier_t:
        pass
    int pthread_create(pthread_t *thread, const void *attr, void *(*start)(void *) noexcept nogil, void *arg)
    int pthread_join(pthread_t thread, void **retval)
    int pthread_barrier_init(pthread_barrier_t *barrier, const void *attr, unsigned count)
    int pthread_barrier_wait(pthread_barrier_t *barrier)
    int pthread_barrier_destroy(pthread_barrier_t *barrier)

cdef enum:
    OT_STRESS_WORKERS = 16        # announcing workers, at most
    OT_STRESS_SLOTS = 32          # peers per worker (odd slots IPv6); each may join every torrent
    OT_STRESS_GROUPS = 16         # the lock groups the torrents crowd into
    OT_STRESS_MINUTES = 40        # the walker moves the clock at most this far: no peer times out
    STRESS_PRESENT = 1            # a worker's model of one (torrent, slot)
    STRESS_SEEDING = 2
    STRESS_DONE = 4               # its completion counted (sticky while it stays)
    STRESS_TRIED = 8              # ever announced (with a budget: stopped at the end whatever became of it)


cdef struct ot_stress:
    ot_tracker t
    ot_worker w[OT_STRESS_WORKERS + 1]          # the announcers, then the walker
    uint8_t buffered[OT_STRESS_WORKERS + 1]     # loop_buffers_alloc done
    pthread_barrier_t start
    uint32_t workers
    uint32_t torrents
    uint32_t phase                # 0: random requests, 1: every worker stops all its peers
    bint answers                  # the walker makes large answers (not under a tight budget:
                                  # their check and charge are apart, docs/memory.md)
    uint64_t ops
    uint64_t seed
    int64_t now0
    uint32_t done[OT_STRESS_WORKERS]            # relaxed flags: announcer i is finished
    uint8_t *state[OT_STRESS_WORKERS]           # torrents * OT_STRESS_SLOTS, STRESS_* bits
    uint32_t *completed[OT_STRESS_WORKERS]      # per torrent: completions its requests made
    uint64_t errors[OT_STRESS_WORKERS]          # replies that were not what the model expects
    uint64_t fails[OT_STRESS_WORKERS][6]        # of them: UDP, HTTP announces; stops; UDP, HTTP scrapes
    uint64_t requests[OT_STRESS_WORKERS][4]     # announces, stops, scrapes, of them over HTTP
    # the walker's
    uint64_t rounds
    uint64_t listed               # torrents in its full scrapes
    uint64_t disorder             # a full scrape's hashes not strictly ascending, or a bad entry
    uint64_t failed               # walks (answers) that failed
    uint64_t removed              # torrents its clean cycle removed
    uint32_t minutes              # how far it moved the clock
    uint64_t held_max             # the most the budget counted at a round's end
    uint64_t over_limit           # rounds that found it past mem_limit


cdef struct ot_stress_arg:
    ot_stress *s
    uint32_t index


cdef void _stress_hash(uint32_t tt, uint8_t *h) noexcept nogil:
    """Torrent tt's info_hash: random bytes, the first (its lock group) one
    of OT_STRESS_GROUPS, the last two its number (distinct)."""
    cdef ot_rng r
    cdef int k
    r.state = 0xC0FFEE + tt
    for k in range(OT_HASH_SIZE):
        h[k] = <uint8_t>rng_next(&r)
    h[0] = <uint8_t>((tt % OT_STRESS_GROUPS) * (256 // OT_STRESS_GROUPS))
    h[18] = <uint8_t>(tt >> 8)
    h[19] = <uint8_t>tt


cdef void _stress_addr(uint32_t worker, uint32_t slot, uint8_t *addr16) noexcept nogil:
    memset(addr16, 0, 16)
    if slot & 1:
        addr16[0] = 0xFD
        addr16[13] = <uint8_t>(worker + 1)
        addr16[15] = <uint8_t>slot
    else:
        addr16[10] = addr16[11] = 0xFF
        addr16[12] = 10
        addr16[13] = <uint8_t>(worker + 1)
        addr16[15] = <uint8_t>slot


cdef inline uint16_t _stress_port(uint32_t slot) noexcept nogil:
    return <uint16_t>(1000 + slot)


cdef bint _stress_announce_udp(ot_worker *w, const uint8_t *addr16, const uint8_t *hash, uint16_t port,
                               bint seeding, uint32_t event, uint32_t numwant) noexcept nogil:
    cdef uint8_t pkt[BEP15_ANNOUNCE_SIZE]
    cdef uint8_t out[OT_UDP_OUT_MAX]
    cdef size_t n
    ot_store_be64(pkt, connid_for(w, addr16, _window(w)))
    ot_store_be32(pkt + BEP15_ACTION, BEP15_ANNOUNCE)
    ot_store_be32(pkt + BEP15_TRANSACTION_ID, 0x5EED)
    memcpy(pkt + BEP15_INFO_HASH, hash, OT_HASH_SIZE)
    memset(pkt + BEP15_PEER_ID, c'P', 20)
    ot_store_be64(pkt + BEP15_DOWNLOADED, 0)
    ot_store_be64(pkt + BEP15_LEFT, 0 if seeding else 1000)
    ot_store_be64(pkt + BEP15_UPLOADED, 0)
    ot_store_be32(pkt + BEP15_EVENT, event)
    ot_store_be32(pkt + BEP15_IP, 0)
    ot_store_be32(pkt + BEP15_KEY, 0)
    ot_store_be32(pkt + BEP15_NUMWANT, numwant)
    ot_store_be16(pkt + BEP15_PORT, port)
    n = udp_respond(w, pkt, BEP15_ANNOUNCE_SIZE, addr16, out)
    return n >= 20 and ot_load_be32(out) == BEP15_ANNOUNCE and ot_load_be32(out + 4) == 0x5EED


cdef bint _stress_scrape_udp(ot_worker *w, const uint8_t *addr16, const uint8_t *hashes,
                             uint32_t count) noexcept nogil:
    cdef uint8_t pkt[BEP15_SCRAPE_HASHES + 8 * OT_HASH_SIZE]
    cdef uint8_t out[OT_UDP_OUT_MAX]
    cdef size_t n
    cdef uint32_t i
    ot_store_be64(pkt, connid_for(w, addr16, _window(w)))
    ot_store_be32(pkt + BEP15_ACTION, BEP15_SCRAPE)
    ot_store_be32(pkt + BEP15_TRANSACTION_ID, 0x5CA)
    memcpy(pkt + BEP15_SCRAPE_HASHES, hashes, count * OT_HASH_SIZE)
    n = udp_respond(w, pkt, BEP15_SCRAPE_HASHES + count * OT_HASH_SIZE, addr16, out)
    if n != BEP15_REPLY_HEADER + count * BEP15_SCRAPE_ENTRY or ot_load_be32(out) != BEP15_SCRAPE:
        return False
    for i in range(count):
        # seeders, completed, leechers: read under the group's lock, so never
        # more seeders than peers (leechers would wrap) whatever it raced with.
        if ot_load_be32(out + 8 + 12 * i) > 0xFFFF or ot_load_be32(out + 16 + 12 * i) > 0xFFFF:
            return False
    return True


cdef uint8_t *_stress_put_hash(uint8_t *p, const uint8_t *hash) noexcept nogil:
    """Every byte %XX, as many clients send an info_hash."""
    cdef int i
    cdef const char *digits = b"0123456789ABCDEF"   # a C string: indexed without the GIL by any Cython
    for i in range(OT_HASH_SIZE):
        p[0] = c'%'
        p[1] = <uint8_t>digits[hash[i] >> 4]
        p[2] = <uint8_t>digits[hash[i] & 15]
        p += 3
    return p


cdef bint _stress_http(ot_worker *w, const uint8_t *addr16, const uint8_t *req, size_t n,
                       const char *body_start) noexcept nogil:
    """A request through the HTTP handlers from addr16; True when the body
    begins with body_start."""
    cdef ot_conn c
    cdef ot_span span
    cdef const uint8_t *p
    cdef const uint8_t *end
    memset(&c, 0, sizeof(ot_conn))
    c.fd = -1
    c.prev = c.next = c.rd.rnext = -1
    c.kind = OT_FD_CLIENT
    memcpy(c.addr, addr16, 16)
    span = http_respond(w, &c, req, n, w.obuf)
    if w.handover != NULL or span.len < 16:
        return False
    p = w.obuf + span.start
    end = p + span.len - 4
    while p < end and memcmp(p, b"\r\n\r\n", 4) != 0:
        p += 1
    return p < end and memcmp(p + 4, body_start, strlen(body_start)) == 0


cdef bint _stress_announce_http(ot_worker *w, const uint8_t *addr16, const uint8_t *hash, uint16_t port,
                                bint seeding, uint32_t event, uint32_t numwant) noexcept nogil:
    cdef uint8_t req[512]
    cdef uint8_t *p = put_raw(req, b"GET /announce?info_hash=", 24)
    p = _stress_put_hash(p, hash)
    p = put_raw(p, b"&peer_id=-OT0001-abcdefghijkl&port=", 35)
    p = put_uint(p, port)
    p = put_raw(p, b"&left=0" if seeding else b"&left=1000", 7 if seeding else 10)
    if event == BEP15_EVENT_COMPLETED:
        p = put_raw(p, b"&event=completed", 16)
    elif event == BEP15_EVENT_STOPPED:
        p = put_raw(p, b"&event=stopped", 14)
    p = put_raw(p, b"&numwant=", 9)
    p = put_uint(p, numwant)
    p = put_raw(p, b"&compact=1 HTTP/1.1\r\nHost: t\r\n\r\n", 32)
    p[0] = 0
    return _stress_http(w, addr16, req, <size_t>(p - req), b"d8:complete")


cdef bint _stress_scrape_http(ot_worker *w, const uint8_t *addr16, const uint8_t *hashes,
                              uint32_t count) noexcept nogil:
    cdef uint8_t req[1024]
    cdef uint8_t *p = put_raw(req, b"GET /scrape?", 12)
    cdef uint32_t i
    for i in range(count):
        p = put_raw(p, b"info_hash=" if i == 0 else b"&info_hash=", 10 if i == 0 else 11)
        p = _stress_put_hash(p, hashes + i * OT_HASH_SIZE)
    p = put_raw(p, b" HTTP/1.1\r\nHost: t\r\n\r\n", 22)
    p[0] = 0
    return _stress_http(w, addr16, req, <size_t>(p - req), b"d5:filesd")


cdef bint _stress_request(ot_stress *s, uint32_t i, bint http, uint32_t tt, uint32_t slot, bint seeding,
                          uint32_t event, uint32_t numwant) noexcept nogil:
    cdef uint8_t hash[OT_HASH_SIZE]
    cdef uint8_t addr16[16]
    _stress_hash(tt, hash)
    _stress_addr(i, slot, addr16)
    if http:
        s.requests[i][3] += 1
        return _stress_announce_http(&s.w[i], addr16, hash, _stress_port(slot), seeding, event, numwant)
    return _stress_announce_udp(&s.w[i], addr16, hash, _stress_port(slot), seeding, event, numwant)


cdef void _stress_model_announce(ot_stress *s, uint32_t i, uint32_t tt, uint32_t slot, bint seeding,
                                 bint complete) noexcept nogil:
    """What store_announce does to a peer of this worker (docs/compatibility.md,
    "Announce processing"), written out apart from it."""
    cdef uint8_t *st = &s.state[i][tt * OT_STRESS_SLOTS + slot]
    if complete and not seeding:
        complete = False          # a completion only counts from a peer with nothing left
    if not (st[0] & STRESS_PRESENT):
        st[0] = STRESS_TRIED | STRESS_PRESENT | (STRESS_SEEDING if seeding else 0) | (STRESS_DONE if complete else 0)
        if complete:
            s.completed[i][tt] += 1
        return
    if complete and not (st[0] & STRESS_DONE):
        s.completed[i][tt] += 1
        st[0] |= STRESS_DONE
    st[0] = (st[0] & ~STRESS_SEEDING) | (STRESS_SEEDING if seeding else 0)


cdef void _stress_ops(ot_stress *s, uint32_t i) noexcept nogil:
    """s.ops random requests of worker i: 55 % announces (half of them
    seeding, an eighth with event=completed), 25 % stops, 20 % scrapes of
    one to eight torrents; a quarter over HTTP, the rest UDP."""
    cdef ot_rng r
    cdef uint64_t n
    cdef uint32_t x, tt, slot, event, count, k
    cdef bint http, seeding, ok
    cdef uint8_t hashes[8 * OT_HASH_SIZE]
    cdef uint8_t addr16[16]
    r.state = s.seed * 1000003 + i
    for n in range(s.ops):
        x = rng_next(&r)
        tt = rng_next(&r) % s.torrents
        slot = rng_next(&r) % OT_STRESS_SLOTS
        http = (x & 3) == 0
        x = (x >> 2) % 100
        if x < 55:
            seeding = rng_next(&r) & 1
            event = BEP15_EVENT_COMPLETED if rng_next(&r) % 8 == 0 else 0
            s.state[i][tt * OT_STRESS_SLOTS + slot] |= STRESS_TRIED
            ok = _stress_request(s, i, http, tt, slot, seeding, event, rng_next(&r) % 60)
            s.requests[i][0] += 1
            if ok:
                _stress_model_announce(s, i, tt, slot, seeding, event == BEP15_EVENT_COMPLETED)
            else:
                s.fails[i][http] += 1
        elif x < 80:
            ok = _stress_request(s, i, http, tt, slot, False, BEP15_EVENT_STOPPED, 0)
            s.requests[i][1] += 1
            if ok:
                s.state[i][tt * OT_STRESS_SLOTS + slot] &= STRESS_TRIED
            else:
                s.fails[i][2 + http] += 1
        else:
            count = 1 + rng_next(&r) % 8
            for k in range(count):
                _stress_hash(rng_next(&r) % s.torrents, hashes + k * OT_HASH_SIZE)
            _stress_addr(i, slot, addr16)
            if http:
                s.requests[i][3] += 1
                ok = _stress_scrape_http(&s.w[i], addr16, hashes, count)
            else:
                ok = _stress_scrape_udp(&s.w[i], addr16, hashes, count)
            s.requests[i][2] += 1
            if not ok:
                s.fails[i][4 + http] += 1
        if not ok:
            s.errors[i] += 1


cdef void _stress_stop_all(ot_stress *s, uint32_t i) noexcept nogil:
    """Worker i stops every peer it ever announced, alternately over UDP and HTTP."""
    cdef uint32_t tt, slot
    cdef uint8_t *st
    for tt in range(s.torrents):
        for slot in range(OT_STRESS_SLOTS):
            st = &s.state[i][tt * OT_STRESS_SLOTS + slot]
            if st[0] & STRESS_TRIED:
                if not _stress_request(s, i, (tt + slot) & 1, tt, slot, False, BEP15_EVENT_STOPPED, 0):
                    s.errors[i] += 1
                s.requests[i][1] += 1
                st[0] &= STRESS_TRIED


cdef bint _stress_fullscrape_sane(ot_stress *s, ot_answer *b) noexcept nogil:
    """The body's hashes strictly ascending, each entry whole."""
    cdef uint8_t *body = <uint8_t *>ot_malloc(b.produced + 1)
    cdef uint8_t *p
    cdef uint8_t *end
    cdef uint8_t last[OT_HASH_SIZE]
    cdef ot_block *blk = b.first
    cdef bint ok = True, first = True
    if body == NULL:
        return False
    p = body
    while blk != NULL:
        memcpy(p, block_data(blk), blk.len)
        p += blk.len
        blk = blk.next
    end = p
    p = body + 9
    if end - body < 11 or memcmp(body, b"d5:filesd", 9) != 0 or memcmp(end - 2, b"ee", 2) != 0:
        ok = False
    while ok and end - p > 23 and memcmp(p, b"20:", 3) == 0:
        if not first and memcmp(last, p + 3, OT_HASH_SIZE) >= 0:
            ok = False
        memcpy(last, p + 3, OT_HASH_SIZE)
        first = False
        s.listed += 1
        p += 23
        if memcmp(p, b"d8:completei", 12) != 0:
            ok = False
        while p + 1 < end and not (p[0] == c'e' and p[1] == c'e'):
            p += 1
        p += 2
    if ok and p != end - 2:
        ok = False
    ot_free(body)
    return ok


cdef void _stress_walk_once(ot_stress *s, ot_worker *w, int kind) noexcept nogil:
    """Make one large answer whole (a full scrape, top10, the status page,
    s24s or statedump) while the announcers run, and drop it."""
    cdef ot_answer *b
    cdef void *aux = NULL
    cdef int rc
    if kind == 0:
        rc = answer_begin(w, ANSWER_FULLSCRAPE, FORMAT_BEN, ENC_IDENTITY, NULL, NULL)
    elif kind == 1:
        rc = top_begin(w, NULL, 10)
    elif kind == 2:
        aux = ot_malloc(sizeof(ot_statustop))
        if aux == NULL:
            s.failed += 1
            return
        memset(aux, 0, sizeof(ot_statustop))
        rc = answer_begin(w, ANSWER_WALK, FORMAT_NONE, ENC_IDENTITY, &STATUS_OPS, aux)
    elif kind == 3:
        rc = s24s_begin(w, NULL)
    else:
        rc = answer_begin(w, ANSWER_STATEDUMP, FORMAT_NONE, ENC_IDENTITY, NULL, NULL)
    if rc < 0:
        s.failed += 1
        return
    b = w.handover
    w.handover = NULL
    _make_whole(w, b)
    if b.failed:
        s.failed += 1
    elif kind == 0 and not _stress_fullscrape_sane(s, b):
        s.disorder += 1
    answer_drop(w, b)


cdef void _stress_walker(ot_stress *s) noexcept nogil:
    """Rounds until every announcer is done (one at least): the whole
    clean cycle a tick's slice at a time, each kind of walk once, a look at
    the budget, and the clock a minute on."""
    cdef ot_worker *w = &s.w[s.workers]
    cdef uint32_t b, i
    cdef int kind
    cdef bint all_done
    cdef uint64_t held
    while True:
        all_done = True
        for i in range(s.workers):
            if not ot_relaxed_load32(&s.done[i]):
                all_done = False
        b = 0
        while b < OT_BUCKET_COUNT:
            s.removed += store_clean(s.t.store, b, OT_CLEAN_SLICE if b + OT_CLEAN_SLICE <= OT_BUCKET_COUNT
                                     else OT_BUCKET_COUNT - b)
            b += OT_CLEAN_SLICE
        if s.answers:
            for kind in range(5):
                _stress_walk_once(s, w, kind)
        held = store_held(s.t.store)
        if held > s.held_max:
            s.held_max = held
        if s.t.store.mem_limit and held > s.t.store.mem_limit:
            s.over_limit += 1
        if s.minutes < OT_STRESS_MINUTES:
            s.minutes += 1
            store_set_clock(s.t.store, s.now0 + 60 * s.minutes)
        s.rounds += 1
        if all_done:
            return


cdef void *_stress_thread(void *arg) noexcept nogil:
    cdef ot_stress_arg *a = <ot_stress_arg *>arg
    cdef ot_stress *s = a.s
    pthread_barrier_wait(&s.start)
    if a.index == s.workers:
        _stress_walker(s)
    elif s.phase == 0:
        _stress_ops(s, a.index)
    else:
        _stress_stop_all(s, a.index)
    if a.index < s.workers:
        ot_relaxed_store32(&s.done[a.index], 1)
    return NULL


cdef class StoreThreads:
    """Workers on threads sharing one tracker and the Store's swarms
    (tests/test_store_threads.py). run() releases them at once, without the
    GIL, and returns when all are done; model() and the walker's figures
    say what they did."""
    cdef ot_stress *s
    cdef readonly Store store

    def __cinit__(self, Store store, *, uint32_t workers=4, uint32_t torrents=200, uint64_t seed=1,
                  uint32_t answer_slice=16, int64_t now=0, bint answers=True):
        cdef uint32_t i
        cdef ot_stress *s
        if not 1 <= workers <= OT_STRESS_WORKERS or torrents == 0 or torrents > 65535:
            raise ValueError("1 to %d workers, 1 to 65535 torrents" % OT_STRESS_WORKERS)
        self.store = store
        self.s = <ot_stress *>ot_malloc(sizeof(ot_stress))
        if self.s == NULL:
            raise MemoryError()
        memset(self.s, 0, sizeof(ot_stress))
        s = self.s
        s.workers = workers
        s.torrents = torrents
        s.seed = seed
        s.now0 = now
        s.answers = answers
        s.t.store = store.st
        store.st.shared = True        # the workers below announce at once: every lock is taken
        s.t.access.mode = OT_ACCESS_OPEN
        s.t.sync.in_fd = s.t.sync.out_fd = -1
        s.t.sync.header = OT_SYNC_HEADER
        s.t.sync.room = OT_SYNC_BUF
        s.t.answer_slice = answer_slice
        s.t.connid_window = OT_CONNID_WINDOW
        s.t.started = now
        store_set_clock(store.st, now)
        for i in range(workers + 1):
            s.w[i].t = &s.t
            s.w[i].epfd = s.w[i].wakeup_fd = -1
            s.w[i].reading.head = s.w[i].reading.tail = -1
            s.w[i].writing.head = s.w[i].writing.tail = -1
            s.w[i].now = now
            s.w[i].mono = 1
            if not loop_buffers_alloc(&s.w[i]):
                raise MemoryError()
            s.buffered[i] = 1
        for i in range(workers):
            s.state[i] = <uint8_t *>ot_malloc(torrents * OT_STRESS_SLOTS)
            s.completed[i] = <uint32_t *>ot_malloc(torrents * sizeof(uint32_t))
            if s.state[i] == NULL or s.completed[i] == NULL:
                raise MemoryError()
            memset(s.state[i], 0, torrents * OT_STRESS_SLOTS)
            memset(s.completed[i], 0, torrents * sizeof(uint32_t))

    def __dealloc__(self):
        cdef uint32_t i
        if self.s == NULL:
            return
        for i in range(OT_STRESS_WORKERS + 1):
            if self.s.buffered[i]:
                loop_buffers_free(&self.s.w[i])
        for i in range(OT_STRESS_WORKERS):
            ot_free(self.s.state[i])
            ot_free(self.s.completed[i])
        ot_free(self.s)
        self.s = NULL

    def run(self, uint64_t ops, *, bint stop_all=False):
        """Every worker makes `ops` random requests (stop_all: stops every
        peer it ever announced instead) while the walker walks; returns
        when all threads are joined."""
        cdef ot_stress *s = self.s
        cdef ot_stress_arg args[OT_STRESS_WORKERS + 1]
        cdef pthread_t tids[OT_STRESS_WORKERS + 1]
        cdef uint32_t i, n = s.workers + 1, started = 0
        cdef int rc = 0
        s.ops = ops
        s.phase = 1 if stop_all else 0
        for i in range(s.workers):
            s.done[i] = 0
        if pthread_barrier_init(&s.start, NULL, n) != 0:
            raise OSError("pthread_barrier_init failed")
        with nogil:
            for i in range(n):
                args[i].s = s
                args[i].index = i
                rc = pthread_create(&tids[i], NULL, _stress_thread, &args[i])
                if rc != 0:
                    break
                started += 1
            # Threads started wait at the barrier for all n: only when all
            # started can they be joined.
            if started == n:
                for i in range(n):
                    pthread_join(tids[i], NULL)
        if started != n:
            raise OSError(rc, "pthread_create failed after %d threads (they wait forever)" % started)
        pthread_barrier_destroy(&s.start)

    def model(self):
        """What the workers' requests must have left in the store: {info_hash:
        (set of (address bytes, port, seeding)), completed}} for every
        torrent, and per worker (announces, stops, scrapes, of them HTTP,
        unexpected replies)."""
        cdef ot_stress *s = self.s
        cdef uint32_t i, tt, slot
        cdef uint8_t h[OT_HASH_SIZE]
        cdef uint8_t addr16[16]
        cdef uint8_t st
        swarms = {}
        for tt in range(s.torrents):
            _stress_hash(tt, h)
            peers = set()
            completed = 0
            for i in range(s.workers):
                completed += s.completed[i][tt]
                for slot in range(OT_STRESS_SLOTS):
                    st = s.state[i][tt * OT_STRESS_SLOTS + slot]
                    if st & STRESS_PRESENT:
                        _stress_addr(i, slot, addr16)
                        raw = (<char *>addr16)[:16]
                        peers.add((raw[12:] if raw[:12] == b"\0" * 10 + b"\xff\xff" else raw,
                                   _stress_port(slot), bool(st & STRESS_SEEDING)))
            swarms[(<char *>h)[:OT_HASH_SIZE]] = (peers, completed)
        workers = [tuple(s.requests[i][k] for k in range(4)) + (s.errors[i], tuple(s.fails[i][k] for k in range(6)))
                   for i in range(s.workers)]
        return swarms, workers

    def counters(self):
        """Every worker's counters, summed: what /stats would add up."""
        cdef ot_stress *s = self.s
        cdef uint32_t i
        cdef uint64_t completed = 0, announces = 0, scrapes = 0, unstored = 0
        for i in range(s.workers):
            completed += s.w[i].ctr.completed
            unstored += s.w[i].ctr.unstored_peers
            announces += s.w[i].ctr.udp_announces[0] + s.w[i].ctr.udp_announces[1]
            announces += s.w[i].ctr.tcp_announces[0] + s.w[i].ctr.tcp_announces[1]
            scrapes += s.w[i].ctr.udp_scrapes[0] + s.w[i].ctr.udp_scrapes[1]
            scrapes += s.w[i].ctr.tcp_scrapes[0] + s.w[i].ctr.tcp_scrapes[1]
        return dict(completed=completed, announces=announces, scrapes=scrapes, unstored=unstored)

    def walker(self):
        cdef ot_stress *s = self.s
        return dict(rounds=s.rounds, listed=s.listed, disorder=s.disorder, failed=s.failed,
                    removed=s.removed, minutes=s.minutes, held_max=s.held_max, over_limit=s.over_limit)

    def torrent_hash(self, uint32_t tt):
        cdef uint8_t h[OT_HASH_SIZE]
        _stress_hash(tt, h)
        return (<char *>h)[:OT_HASH_SIZE]


SLAB_PAGE = OT_SLAB_PAGE
SLAB_HEAD = sizeof(ot_slab_page)


def slab_classes():
    """[(family, records, slot bytes, slots a page)] of every slab class, in
    class order (docs/memory.md, "Slabs")."""
    cdef uint32_t k
    return [(1 if k >= OT_SLAB_CLASSES4 else 0, slab_capacity(k), slab_slot_size(k), slab_slots_per_page(k))
            for k in range(OT_SLAB_CLASSES)]


def slab_state(Store store):
    """The slab's own counts: pages mapped (spares included), spares, and
    slots in use per class."""
    cdef ot_slab *sl = &store.st.slab
    cdef uint32_t k
    ot_lock_take(&sl.lock)
    out = dict(pages=sl.pages, spares=sum(1 for k in range(OT_SLAB_CLASSES) if sl.spare[k] != NULL),
               live=[sl.live[k] for k in range(OT_SLAB_CLASSES)], live_total=sl.live_total)
    ot_lock_give(&sl.lock)
    return out


def store_audit(Store store):
    """The store counted from what it holds, bucket by bucket under each
    group's lock, beside its own counts and accounts: torrents, peers and
    seeders per family, the bytes of the bucket vectors and peer lists and
    their heap blocks; and whether every bucket and list is in order and
    every list's seeder count is its seeders. Lists in slab slots are
    counted per class against the slab's own counts (a mismatch is
    disorder), their pages at OT_SLAB_PAGE bytes each, as the budget counts
    them (docs/memory.md, "Slabs")."""
    cdef ot_store *st = store.st
    cdef ot_store_counts c
    cdef ot_store_memory m
    cdef uint32_t b, i, j, torrents = 0
    cdef uint64_t peers[2]
    cdef uint64_t seeders[2]
    cdef uint64_t tbytes = 0, pbytes = 0, blocks = 0, disorder = 0, slab_pages = 0
    cdef uint32_t in_slab[OT_SLAB_CLASSES]
    cdef uint32_t k
    cdef uint32_t seeding, rsize, ksize
    cdef int f
    cdef ot_bucket *bk
    cdef ot_peervec *v
    cdef uint8_t *rec
    cdef ot_group *g
    peers[0] = peers[1] = seeders[0] = seeders[1] = 0
    memset(in_slab, 0, sizeof(in_slab))
    with nogil:
        for b in range(OT_BUCKET_COUNT):
            g = &st.groups[b >> OT_GROUP_SHIFT]
            ot_lock_take(&g.lock)
            bk = &st.buckets[b]
            if bk.data != NULL:
                blocks += 1
                tbytes += bk.space * sizeof(ot_torrent)
            torrents += bk.size
            for i in range(bk.size):
                if ot_bucket_index(bk.data[i].hash) != b or (i and memcmp(bk.data[i - 1].hash, bk.data[i].hash,
                                                                            OT_HASH_SIZE) >= 0):
                    disorder += 1
                for f in range(2):
                    v = bk.data[i].peers[f]
                    if v == NULL:
                        continue
                    rsize = ot_rec_size(f)
                    ksize = ot_key_size(f)
                    if v.space <= slab_max(f):
                        k = slab_class(f, v.space)
                        in_slab[k] += 1
                        if slab_capacity(k) != v.space:
                            disorder += 1
                    else:
                        blocks += 1
                        pbytes += sizeof(ot_peervec) + v.space * rsize
                    if v.size == 0 or v.size > v.space:
                        disorder += 1
                    seeding = 0
                    rec = ot_peervec_data(v)
                    for j in range(v.size):
                        if rec[j * rsize + ksize] & PEER_FLAG_SEEDING:
                            seeding += 1
                        if j and memcmp(rec + (j - 1) * rsize, rec + j * rsize, ksize) >= 0:
                            disorder += 1
                    if seeding != v.seeders:
                        disorder += 1
                    peers[f] += v.size
                    seeders[f] += seeding
            ot_lock_give(&g.lock)
        ot_lock_take(&st.slab.lock)
        slab_pages = st.slab.pages
        for k in range(OT_SLAB_CLASSES):
            if in_slab[k] != st.slab.live[k]:
                disorder += 1
        ot_lock_give(&st.slab.lock)
        pbytes += slab_pages * OT_SLAB_PAGE
        store_counts(st, &c)
        store_memory(st, &m)
    return dict(
        walked=dict(torrents=torrents, peers=(peers[0], peers[1]), seeders=(seeders[0], seeders[1]),
                    mem_torrents=tbytes, mem_peers=pbytes, mem_blocks=blocks),
        counted=dict(torrents=c.torrents, peers=(c.peers[0], c.peers[1]), seeders=(c.seeders[0], c.seeders[1]),
                     mem_torrents=m.torrents, mem_peers=m.peers, mem_blocks=m.blocks),
        disorder=disorder, other=m.other, fixed=m.fixed, held=m.held, limit=m.limit, waits=c.waits)
