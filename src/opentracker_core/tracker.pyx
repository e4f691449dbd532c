from libc.string cimport memcpy, memset, strlen

# Protocol-independent announce handling shared by HTTP, UDP and live sync:
# access check, store update, and the counters that follow from it.

cdef int tracker_announce(ot_worker *w, const uint8_t *hash, const ot_peer_in *p,
                          const uint8_t *peer_id, ot_announce_result *res) noexcept nogil:
    """OT_OK with `res` filled, or why not: OT_REFUSED_ACCESS,
    OT_REFUSED_MEMORY, OT_NOMEM. peer_id (20 bytes, or NULL) only goes to
    the syslog line of a completion."""
    cdef int rc
    if not access_allows(&w.t.access, hash):
        w.ctr.refused_access += 1
        return OT_REFUSED_ACCESS
    rc = store_announce(w.t.store, hash, p, res)
    if rc == OT_OK:
        # Tell the cluster what is news: a new peer, one back after a while,
        # or a fresh completion; never what came from the cluster itself. A
        # peer the budget kept out is news too: a node with room can keep it.
        if w.t.sync.out_fd >= 0 and not p.from_sync and (
                res.new_peer or res.unstored or res.renew_age > OT_SYNC_RENEW_BOUNDARY or res.completed):
            livesync_tell(w, hash, p, _sane_flags(p.flags))
        if res.completed:
            w.ctr.completed += 1
            if w.t.syslog_completed:
                syslog_completed(w, hash, p, peer_id)
        if 0 <= res.renew_age < OT_PEER_TIMEOUT:
            w.ctr.renew[res.renew_age] += 1
        if res.unstored:
            w.ctr.unstored_peers += 1
    elif rc == OT_REFUSED_MEMORY:
        w.ctr.refused_memory += 1
    return rc


cdef inline uint8_t _sane_flags(uint8_t flags) noexcept nogil:
    flags &= PEER_FLAG_SEEDING | PEER_FLAG_COMPLETED
    if not (flags & PEER_FLAG_SEEDING):
        flags &= ~PEER_FLAG_COMPLETED
    return flags


cdef ot_torrent *tracker_stop(ot_worker *w, const uint8_t *hash, const ot_peer_in *p) noexcept nogil:
    """event=stopped: the cluster hears of every stop, even of peers or
    torrents unknown here (docs/compatibility.md, "Live sync")."""
    if w.t.sync.out_fd >= 0:
        livesync_tell(w, hash, p, PEER_FLAG_STOPPED)
    return store_stop(w.t.store, hash, p)


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
