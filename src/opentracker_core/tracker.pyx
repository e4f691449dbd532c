from libc.string cimport memcpy, memset, strlen

# Protocol-independent announce handling shared by HTTP, UDP and live sync:
# access check, store update, and the counters that follow from it; then,
# with the store's lock given back, what the cluster and syslog hear.
#
# A handler takes the hash's group lock (store_lock), calls tracker_announce
# or tracker_stop, writes its reply from the torrent while still holding it,
# gives it back (store_unlock), and only then calls tracker_announced or
# tracker_stopped, which may send (docs/architecture.md, "The store with
# several workers").

cdef int tracker_announce(ot_worker *w, const uint8_t *hash, const ot_peer_in *p,
                          ot_announce_result *res) noexcept nogil:
    """OT_OK with `res` filled, or why not: OT_REFUSED_ACCESS,
    OT_REFUSED_MEMORY, OT_NOMEM. Under the hash's group lock."""
    cdef int rc
    if not access_allows(&w.t.access, hash):
        w.ctr.refused_access += 1
        return OT_REFUSED_ACCESS
    rc = store_announce(w.t.store, hash, p, res)
    if rc == OT_OK:
        res.interval = interval_for(w.t, ot_torrent_peers(res.torrent))
        if res.record != NULL:
            # The peer lives as long as the interval it is told asks
            # (docs/compatibility.md, "Adaptive announce intervals").
            res.record[ot_key_size(p.family)] |= ot_timeout_class(res.interval)
        if res.completed:
            w.ctr.completed += 1
        if 0 <= res.renew_age < OT_PEER_TIMEOUT:
            w.ctr.renew[res.renew_age] += 1
        if res.unstored:
            w.ctr.unstored_peers += 1
    elif rc == OT_REFUSED_MEMORY:
        w.ctr.refused_memory += 1
    return rc


cdef inline void tracker_announced(ot_worker *w, const uint8_t *hash, const ot_peer_in *p,
                                   const uint8_t *peer_id, const ot_announce_result *res) noexcept nogil:
    """After an OT_OK announce, its lock given back: the cluster's news and
    the syslog line of a completion. peer_id (20 bytes, or NULL) only goes
    to that line. res.torrent and res.record are not looked at (no lock).
    Inline: without a cluster or a completion it is two tests."""
    if w.t.sync.out_fd >= 0 or res.completed:
        _announce_news(w, hash, p, peer_id, res)


cdef void _announce_news(ot_worker *w, const uint8_t *hash, const ot_peer_in *p,
                         const uint8_t *peer_id, const ot_announce_result *res) noexcept nogil:
    # Tell the cluster what is news: a new peer, one back after a while,
    # or a fresh completion; never what came from the cluster itself. A
    # peer the budget kept out is news too: a node with room can keep it.
    if w.t.sync.out_fd >= 0 and not p.from_sync and (
            res.new_peer or res.unstored or res.renew_age > OT_SYNC_RENEW_BOUNDARY or res.completed):
        livesync_tell(w, hash, p, _sane_flags(p.flags))
    if res.completed and w.t.syslog_completed:
        syslog_completed(w, hash, p, peer_id)


cdef inline uint8_t _sane_flags(uint8_t flags) noexcept nogil:
    flags &= PEER_FLAG_SEEDING | PEER_FLAG_COMPLETED
    if not (flags & PEER_FLAG_SEEDING):
        flags &= ~PEER_FLAG_COMPLETED
    return flags


cdef inline ot_torrent *tracker_stop(ot_worker *w, const uint8_t *hash, const ot_peer_in *p) noexcept nogil:
    """event=stopped, under the hash's group lock: the torrent after the
    removal (NULL: unknown)."""
    return store_stop(w.t.store, hash, p)


cdef inline void tracker_stopped(ot_worker *w, const uint8_t *hash, const ot_peer_in *p) noexcept nogil:
    """After a stop, its lock given back: the cluster hears of every stop,
    even of peers or torrents unknown here (docs/compatibility.md, "Live
    sync")."""
    if w.t.sync.out_fd >= 0:
        livesync_tell(w, hash, p, PEER_FLAG_STOPPED)


cdef const char *OT_MEMORY_REFUSAL = b"Tracker memory limit reached: new torrents are refused for now."
cdef size_t OT_MEMORY_REFUSAL_LEN = strlen(OT_MEMORY_REFUSAL)


cdef void syslog_completed(ot_worker *w, const uint8_t *hash, const ot_peer_in *p,
                           const uint8_t *peer_id) noexcept nogil:
    """`time=<%FT%T%z> event=completed info_hash=<HEX> peer_id=<HEX or empty>
    ip=<address>` at LOG_USER|LOG_INFO, as the original's WANT_SYSLOGS build."""
    cdef char when[64]
    cdef char hash_hex[41]
    cdef char id_hex[41]
    cdef char ip[64]
    cdef time_t t = <time_t>w.now
    cdef tm local
    cdef uint8_t addr16[16]
    when[0] = 0
    if localtime_r(&t, &local) != NULL:
        strftime(when, 64, "%FT%T%z", &local)
    put_hex_upper(<uint8_t *>hash_hex, hash)[0] = 0
    if peer_id != NULL:
        put_hex_upper(<uint8_t *>id_hex, peer_id)[0] = 0
    else:
        id_hex[0] = 0
    addr_of_peer(addr16, p)
    put_ip_text(<uint8_t *>ip, addr16)[0] = 0
    syslog(LOG_INFO, "time=%s event=completed info_hash=%s peer_id=%s ip=%s", when, hash_hex, id_hex, ip)


# ---------------------------------------------------------------- announce intervals
# docs/compatibility.md, "Adaptive announce intervals". Off (the default),
# every answer tells tracker.announce_interval (1800: the original's bytes).
# On, the interval grows by half the base per step, up to OT_INTERVAL_CEILING:
# a step for each doubling of the swarm past 50 peers (a numwant's worth),
# and the load's steps, taken once a second by interval_load_tick.

cdef inline uint32_t interval_base(const ot_tracker *t) noexcept nogil:
    return t.interval if t.interval else OT_ANNOUNCE_INTERVAL


cdef inline uint32_t swarm_steps(uint32_t peers) noexcept nogil:
    """0 up to 50 peers, then one per doubling: 51..100 1, ..., over 1600 6."""
    cdef uint32_t steps = 0, limit = OT_NUMWANT_DEFAULT
    while peers > limit and steps < OT_INTERVAL_STEPS_MAX:
        steps += 1
        limit *= 2
    return steps


cdef uint32_t interval_for(ot_tracker *t, uint32_t peers) noexcept nogil:
    """The nominal interval an announce to a swarm of `peers` is told, and
    what it was made of (kept for /stats)."""
    cdef uint32_t base = interval_base(t), steps, nominal
    if not t.adaptive_interval:
        return base
    steps = swarm_steps(peers)
    # What the last answer was made of, for /stats: every worker writes it,
    # so a word at a time (a reader may mix two answers' words; each is one).
    ot_relaxed_store32(&t.last_swarm_steps, steps)
    ot_relaxed_store32(&t.last_peers, peers)
    steps += ot_relaxed_load32(&t.load_steps)
    if steps > OT_INTERVAL_STEPS_MAX:
        steps = OT_INTERVAL_STEPS_MAX
    nominal = base + base * steps // 2
    if nominal > OT_INTERVAL_CEILING:
        nominal = OT_INTERVAL_CEILING if base < OT_INTERVAL_CEILING else base
    ot_relaxed_store32(&t.last_interval, nominal)
    return nominal


cdef void interval_load_tick(ot_worker *w) noexcept nogil:
    """Once a second: the loop's CPU share (process CPU time over monotonic
    time, smoothed over about 16 s) and the memory budget's fill, in
    permille, and the steps they add to every interval: CPU from 50 % (one
    step, and one more per 12.5 %), memory from 75 % (the same)."""
    cdef ot_tracker *t = w.t
    cdef timespec ts
    cdef int64_t cpu_ns, mono_ns, share
    cdef uint64_t held, cpu_steps = 0, mem_steps = 0
    if clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0:
        return
    cpu_ns = <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec
    mono_ns = w.mono_ms * 1000000
    if t.cpu_mono_ns and mono_ns > t.cpu_mono_ns:
        # the process's CPU over the cores its loops can use
        share = (cpu_ns - t.cpu_ns) * 1000 // ((mono_ns - t.cpu_mono_ns) * (t.worker_count if t.worker_count > 1 else 1))
        share = 0 if share < 0 else (1000 if share > 1000 else share)
        # fixed point: cpu_load is permille times 16
        t.cpu_load += share - t.cpu_load // 16
    t.cpu_ns = cpu_ns
    t.cpu_mono_ns = mono_ns
    t.cpu_permille = <uint32_t>(t.cpu_load // 16)
    t.mem_permille = 0
    if t.store.mem_limit:
        held = store_held(t.store) * 1000 // t.store.mem_limit
        t.mem_permille = <uint32_t>(held if held < 1000 else 1000)
    if t.cpu_permille >= 500:
        cpu_steps = 1 + (t.cpu_permille - 500) // 125
    if t.mem_permille >= 750:
        mem_steps = 1 + (t.mem_permille - 750) // 125
    ot_relaxed_store32(&t.load_steps, <uint32_t>(cpu_steps if cpu_steps > mem_steps else mem_steps))
