# The server's state in two parts: the tracker (ot_tracker: store, access
# lists, settings, cluster, large answers), shared by every loop, and a
# worker (ot_worker: one epoll loop with its connections, buffers, counters
# and clock). docs/architecture.md, "Who owns what".
#
# Worker 0 runs in Python's thread, mostly without the GIL; Python reaches
# the tracker between its turns (signals, reloads). With tracker.workers N,
# N - 1 more loops serve UDP on threads of their own (workers.pyx); Python
# changes what they read only while they are parked (world_pause).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from opentracker_core.includes.system cimport mmsghdr, iovec, sockaddr_in6


cdef enum:
    # What an fd is, in ot_conn.kind.
    OT_FD_FREE = 0
    OT_FD_TCP_LISTEN = 1
    OT_FD_UDP = 2
    OT_FD_WAKEUP = 3
    OT_FD_CLIENT = 4
    OT_FD_PYTHON = 5          # read by Python code between loop turns (access fifos)
    OT_FD_LIVESYNC = 6        # the live-sync multicast socket
    OT_FD_INBOX = 7           # worker 0's eventfd: connections handed over by the other workers

    OT_CONN_READING = 0       # waiting for a complete header (header deadline)
    OT_CONN_WRITING = 1       # answer queued, socket not yet drained (send deadline)
    OT_CONN_STREAMING = 2     # reading a large answer (ot_conn.rd, stream.pyx) as it is made
    OT_CONN_ANSWERING = 3     # its answer is being handed over (conn_send): in no list

    # Which deadline list a connection is in (ot_conn.listed).
    OT_LISTED_NONE = 0
    OT_LISTED_READING = 1     # header deadline: tracker.http_timeout from accept
    OT_LISTED_WRITING = 2     # send deadline: tracker.send_timeout without progress

    # HTTP: a request header may be 8192 bytes (more is answered 500); the
    # receive buffer has room for a terminating NUL the scanner relies on.
    OT_HTTP_REQUEST_MAX = 8192
    # Largest single answer: /metrics (8.8 KiB at its widest, metrics.pyx)
    # or a 64-hash scrape (~8 KiB), plus headers, with room for new metrics.
    OT_HTTP_OUT_MAX = 16384
    # Space kept before a body for its status line and headers, and the
    # most those take (http_head: 122 bytes at worst).
    OT_HTTP_HEAD_ROOM = 128
    OT_HTTP_HEAD_MAX = 128
    # A partial request header's buffer starts at this size and doubles as
    # more arrives, up to OT_HTTP_REQUEST_MAX + 1: an idle connection costs
    # its slot and what it has sent, not a whole request's room.
    OT_HTTP_IN_FIRST = 256
    # The header and chunk framing of a streamed answer: at most 122 bytes
    # of header, or "\r\n" + 16 hex digits + "\r\n" (or the last chunk).
    OT_FRAME_ROOM = 160
    # Settings held in fixed room: the stats path (compared in place) and the
    # redirect URL (written into one answer buffer).
    OT_STATS_PATH_MAX = 255
    OT_REDIRECT_MAX = 2048

    # UDP: datagrams per recvmmsg/sendmmsg call, and bytes kept of each. The
    # largest request we read whole is a 75-hash scrape, 1516 bytes.
    OT_UDP_BATCH = 32
    OT_UDP_IN_MAX = 2048
    OT_UDP_OUT_MAX = 1536
    # recvmmsg calls per readiness event before giving other sockets a turn.
    OT_UDP_ROUNDS = 8
    # UDP listeners the loop polls between sends to large answers' readers
    # (more are served, only through epoll).
    OT_UDP_SOCKETS = 8
    # Control-message room per datagram: the arrival time (a timespec: 32
    # bytes with its header on 64-bit) and one in6_pktinfo (40), which the
    # kernel writes in that order.
    OT_UDP_CTL = 80

    # Defaults of the settings that take a number, named once: they are
    # Server.configure()'s keyword defaults and its fallbacks for values out
    # of range, a Server starts configured with them, and config.py's table
    # reads them through DEFAULTS (server.pyx). OT_ANSWER_SLICE (answers.pxd) and
    # OT_SYNC_MAX_AGE (livesync.pxd) are the others.
    OT_HTTP_TIMEOUT = 30          # tracker.http_timeout: seconds for a request header
    OT_HTTP_SEND_TIMEOUT = 60     # tracker.send_timeout: seconds an answer may make no progress
    OT_FULLSCRAPE_CACHE = 10      # tracker.fullscrape_cache (see config.py for why 10)
    OT_CONNID_WINDOW = 3600       # tracker.udp_connid_window: seconds
    OT_HTTP_MAX_CONNECTIONS = 4096    # tracker.http_max_connections
    OT_WORKERS_MAX = 64           # tracker.workers' ceiling (config.py's WORKERS_MAX)


cdef struct ot_reader:
    # A connection's place in the large answer it reads. Only stream.pyx
    # changes these fields; answers.pyx reads pos and blk_at to know what every
    # reader has passed.
    ot_answer *answer         # the answer read, NULL when none
    int32_t rnext             # the answer's next reader (fd; -1: none)
    uint8_t http11            # the request was HTTP/1.1: chunked when streamed
    uint8_t framing           # FRAME_*: how the body is delimited, once the header went
    uint8_t head_sent         # the header is written (into the connection's out_buf)
    uint8_t trailer           # the last chunk (or the end) is written
    uint32_t chunk_left       # body bytes of the current chunk not yet sent
    uint64_t pos              # body bytes sent
    ot_block *blk             # the block holding pos (NULL: not begun)
    uint64_t blk_at           # its body offset
    uint8_t *frame            # OT_FRAME_ROOM bytes: the header, then each chunk's framing
    uint16_t frame_len        # bytes of frame to send
    uint16_t frame_pos        # of which sent


cdef struct ot_conn:
    # One descriptor of a worker's loop, indexed by fd (conn.pyx).
    uint8_t kind
    uint8_t state
    uint8_t registered        # in the epoll set
    uint8_t drain             # unread input may remain: drain before close (avoids a RST)
    uint8_t py_ready          # OT_FD_PYTHON: readable, its Python callback is due
    uint32_t gen              # bumped on close; epoll events carry it to spot stale ones
    int32_t fd
    uint8_t addr[16]          # client address, IPv4 as IPv4-mapped
    uint16_t port
    int32_t prev              # neighbours in the reading or writing list (fds; -1: none)
    int32_t next
    uint8_t listed            # OT_LISTED_*: in the reading or writing deadline list
    int64_t deadline          # monotonic milliseconds
    uint8_t *in_buf           # partial header, NULL when none
    uint32_t in_len
    uint32_t in_cap           # bytes of in_buf (counted in ot_store.mem_other)
    uint8_t *out_buf          # the rest of an answer the socket did not take at once, NULL when none
    size_t out_len
    size_t out_pos
    size_t out_held           # bytes of out_buf counted in ot_store.mem_other
    ot_reader rd              # OT_CONN_STREAMING: the large answer it reads


cdef struct ot_fdlist:
    int32_t head
    int32_t tail


cdef struct ot_worker


cdef struct ot_handoff:
    # One connection on its way to worker 0 with its request (conn.pyx):
    # one block, this header and the request's len + 1 bytes after it
    # (NUL-terminated), counted in mem_other while it waits.
    ot_handoff *next
    int32_t fd
    uint8_t addr[16]
    uint16_t port
    uint32_t len


cdef struct ot_tracker:
    # What every worker loop shares: the swarms, the access lists, the
    # settings, the cluster, the large answers and the status page's
    # history. One per process. Who may touch each group is said above it;
    # "the loop" is today's one worker, Python runs only between its turns.
    # docs/architecture.md, "Who owns what", says what a second worker needs.

    # The swarms and their memory budget: the loop (announces, ageing, large
    # answers' walks) and Python between turns (state load and save), every
    # one under the store's own locks, so several workers may share it
    # (store.pxd; docs/architecture.md, "The store with several workers").
    ot_store *store
    # Read by the loop; replaced whole by Python (reload, access fifos).
    ot_access access

    # Settings: written by Python (Server.configure) before the loop runs,
    # read by the loop.
    uint8_t *redirect_url
    size_t redirect_len
    uint8_t stats_path[OT_STATS_PATH_MAX + 1]
    size_t stats_path_len
    bint fullscrape
    bint compress             # large answers may be compressed (gzip, or zstd where built)
    bint ip_from_query
    bint syslog_completed     # one syslog line per completed download (the original's WANT_SYSLOGS)
    int64_t http_timeout      # seconds for a request header
    int64_t send_timeout      # seconds an answer may go without progress
    int64_t fullscrape_cache  # seconds a complete full scrape is shared; 0: never shared
    int64_t connid_window
    uint8_t connid_key[16]
    uint32_t max_conns        # tracker.http_max_connections; 0: no limit
    uint32_t answer_slice     # torrents per slice of a large answer
    uint32_t tracker_id       # random per process: stats "everything" and live-sync packets
    uint32_t interval         # tracker.announce_interval: nominal seconds (0: OT_ANNOUNCE_INTERVAL)
    bint adaptive_interval    # tracker.adaptive_interval (tracker.pyx, interval_for)
    bint shedding             # tracker.shedding: shed requests by priority under overload (shed.pyx)

    # The adaptive interval's inputs and its last choice (tracker.pyx):
    # written by the loop (the tick and each announce), read by /stats.
    int64_t cpu_ns            # process CPU time at the last tick
    int64_t cpu_mono_ns       # monotonic time then
    int64_t cpu_load          # the CPU share, permille times 16 (smoothed)
    uint32_t cpu_permille
    uint32_t mem_permille     # the memory budget's fill (0 without a limit)
    uint32_t load_steps       # steps the load adds to every interval now
    uint32_t last_interval    # nominal seconds the last adaptive answer told
    uint32_t last_peers       # its swarm's size
    uint32_t last_swarm_steps # the steps that size gave

    # Written by the loop as it serves (Python sets them up and flushes the
    # cluster's queue at shutdown).
    ot_livesync sync
    ot_ratelimit rate
    ot_modest modest
    ot_status status          # the status page's rate history and listen text (statuspage.pyx)
    int64_t started           # wall seconds at start (moved along when the wall clock jumps)
    int64_t clock_offset      # seconds added to the wall clock (tests age swarms without waiting)
    uint32_t clean_cursor     # the next bucket the ageing sweep visits

    # Worker loops (workers.pyx): written by Python while none runs, but
    # pause and parked, the pause's two atomics.
    ot_worker **workers       # workers[1..worker_count - 1] on threads of their own; [0] is the Server's own
    uint32_t worker_count     # loops in all (1: the Server's own only, the default)
    bint workers_running      # their threads are started
    int pause                 # 1 while Python changes shared state: the workers park (world_pause)
    int parked                # workers parked now
    # Connections the other workers hand to worker 0 (the stats path,
    # /metrics, full scrapes: docs/architecture.md, "Worker loops"), oldest
    # first; at most a worker's share of tracker.http_max_connections wait.
    ot_lock inbox_lock        # guards the three below
    ot_handoff *inbox_head
    ot_handoff *inbox_tail
    uint32_t inbox_count
    int inbox_fd              # worker 0's eventfd for them (-1: one loop)
    # Client connections open in all workers (tracker.http_max_connections
    # holds for their sum): atomic adds, as each worker accepts and closes.
    int open_all

    # Large answers (answers.pyx): made by the loop, offered to every
    # requester while shared.
    ot_answer *answers        # every large answer (made, streamed, or kept for sharing)
    ot_answer *shared[ENC_COUNT]  # the full scrape offered to new requesters, per encoding
    uint64_t answers_held     # bytes the large answers hold or have reserved
    uint64_t answer_reserve   # the budget kept for them alone (answers_reserve_init)


cdef struct ot_worker:
    # One event loop: its epoll set, descriptors, buffers, counters and
    # clock. Only its own thread touches these (Python too, but only between
    # the loop's turns: it adds listeners and reads the counters).
    ot_tracker *t
    ot_counters ctr           # this loop's; /stats adds up every worker's (counters.pyx)
    int32_t index             # 0: the loop Python runs (large answers, ticks); 1..: another worker (workers.pyx)
    bint handoff              # the request being answered goes to worker 0 (route.pyx, conn.pyx)
    int quit                  # workers 1..: set by Python (release) to end the thread
    uint64_t thread           # workers 1..: the thread (0: not running)
    ot_lock pub_lock          # guards published
    ot_counters published     # with several workers: ctr as of its last answer, what the others read

    # clocks: wall seconds for the store and connection ids, monotonic for deadlines
    int64_t now
    int64_t mono
    int64_t mono_ms           # the same clock in milliseconds, for connection deadlines

    int epfd
    int wakeup_fd
    ot_conn *conns            # by fd (conn.pyx)
    int32_t conn_cap
    ot_fdlist reading
    ot_fdlist writing
    uint32_t open_conns
    int64_t next_tick         # monotonic milliseconds
    bint stop
    bint python_wanted        # Python must run: signal handlers are due, or the periodic hook
    bint hook_due
    int64_t hook_interval     # seconds between calls of the Python periodic hook; 0 = none
    int64_t next_hook
    ot_answer *handover       # the large answer a handler began or joined for the request
                              # being answered, until its connection takes it (conn.pyx)
    ot_answer *answer_head    # large answers with a slice due, one slice per loop turn
    ot_answer *answer_tail
    uint64_t queued_held      # bytes of answers waiting in send queues (part of mem_other)
    uint64_t in_held          # bytes of partial request headers (part of mem_other)
    uint64_t turn_sent        # bytes sent to large answers' readers this loop turn
    uint64_t turn_polled      # turn_sent when the UDP sockets were last looked at
    int32_t udp_fds[OT_UDP_SOCKETS]  # the UDP listeners, looked at between large answers' sends
    int32_t udp_fd_count
    uint32_t stream_rotor     # where the next turn's round of those readers starts
    uint8_t shed_level        # SHED_LEVEL_*: what this loop sheds now (shed.pyx)
    uint32_t full_batches     # UDP reads in a row that came back full (the queue never emptied)
    int64_t shed_until        # monotonic milliseconds: the level steps down then, unless renewed
    int64_t shed_hold         # milliseconds a level holds now (shed.pyx: doubles while a flood lasts)
    int64_t shed_stepped      # monotonic milliseconds of the last step down (0: none since level 0)
    int64_t shed_above[3]     # per level: monotonic microseconds since which every look found the wait
                              # at its threshold or above (-1: not so at the last look)
    int64_t shed_above_wait[3]  # the wait at that first look
    int64_t shed_persist      # microseconds it must stay so (OT_SHED_PERSIST_US; the tests' queues use 0)
    uint8_t shed_filtered     # the kernel's scrape filter is on this loop's UDP sockets (shed.pyx)
    int64_t shed_drops_read   # monotonic milliseconds when their drop counts were last read
    uint32_t shed_drops_seen[OT_UDP_SOCKETS]  # each socket's drop count then
    int64_t shed_cpu_seen     # the loop thread's CPU nanoseconds then
    uint64_t shed_reads_seen  # the datagrams it had read then
    int64_t shed_cost_ns      # CPU nanoseconds a datagram read cost it, as last measured

    # fixed buffers (loop.pyx: _loop_buffers lists them)
    uint8_t *answer_stage     # OT_ANSWER_STAGE bytes: one slice before compression
    uint8_t *udp_in           # OT_UDP_BATCH of each of the UDP batch's buffers
    uint8_t *udp_out
    mmsghdr *udp_rmsg
    mmsghdr *udp_smsg
    iovec *udp_riov
    iovec *udp_siov
    sockaddr_in6 *udp_names
    uint8_t *udp_rctl         # OT_UDP_CTL bytes per datagram: where it was sent to (IP_PKTINFO)
    uint8_t *udp_sctl         # the same for the replies: answer from that address
    uint8_t *rbuf             # OT_HTTP_REQUEST_MAX + 1
    uint8_t *obuf             # OT_HTTP_OUT_MAX
    uint8_t *scratch          # OT_HTTP_REQUEST_MAX + 1, for decoded values


cdef inline uint64_t server_uptime(const ot_worker *w) noexcept nogil:
    """Seconds since start (never negative, whatever the wall clock did)."""
    cdef int64_t up = w.now - w.t.started
    return <uint64_t>(up if up > 0 else 0)


cdef inline uint32_t conn_share(const ot_tracker *t) noexcept nogil:
    """Each worker's part of tracker.http_max_connections: the kernel
    spreads connections evenly over the workers' listener copies."""
    cdef uint32_t share = t.max_conns // (t.worker_count if t.worker_count else 1)
    return share if share else 1
