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

    def udp_turn(self, int fd):
        """The loop's UDP step on the socket fd: every datagram queued is
        read, answered or shed, and the answers sent, as on_udp does."""
        loop_clock(&self.w)
        with nogil:
            on_udp(&self.w, fd)

    @staticmethod
    def shed_level_for(long long wait_us):
        """The level a batch whose newest datagram waited this long asks for."""
        return shed_level_for(wait_us)


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
    store_unlock(g)
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

