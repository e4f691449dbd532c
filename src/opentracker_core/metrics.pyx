# /stats?mode=prometheus and GET /metrics (docs/compatibility.md, "Additions"):
# the counters and gauges of the core in the Prometheus text exposition
# format, version 0.0.4. Every metric is named opentracker_*, has HELP and
# TYPE lines, counters end in _total, and every series of a metric has the
# same labels, so a scraper sees a stable set of series from the first
# request on (zeros included).
#
# Size: about 7.5 KiB with every counter at 0 (live sync's keyed counters,
# the announce interval's gauge and the shed counters included); each of
# the 71 samples can grow by at most 19 digits, so the answer stays within
# 8.8 KiB widened, inside the answer buffer (OT_HTTP_OUT_MAX, 16 KiB) with
# the margin tests/test_buffer_bounds_stats.py keeps for new metrics.


cdef uint8_t *_metric(uint8_t *p, const char *name, const char *kind, const char *help) noexcept nogil:
    """The `# HELP` and `# TYPE` lines of one metric."""
    p = put_cstr(p, b"# HELP ")
    p = put_cstr(p, name)
    p[0] = c' '
    p = put_cstr(p + 1, help)
    p = put_cstr(p, b"\n# TYPE ")
    p = put_cstr(p, name)
    p[0] = c' '
    p = put_cstr(p + 1, kind)
    p[0] = c'\n'
    return p + 1


cdef uint8_t *_sample(uint8_t *p, const char *name, const char *labels, uint64_t value) noexcept nogil:
    """`name{labels} value` (labels: the text between the braces, or NULL)."""
    p = put_cstr(p, name)
    if labels != NULL:
        p[0] = c'{'
        p = put_cstr(p + 1, labels)
        p[0] = c'}'
        p += 1
    p[0] = c' '
    p = put_uint(p + 1, value)
    p[0] = c'\n'
    return p + 1


cdef inline uint8_t *_single(uint8_t *p, const char *name, const char *kind, const char *help,
                             uint64_t value) noexcept nogil:
    return _sample(_metric(p, name, kind, help), name, NULL, value)


cdef uint64_t building_memory(ot_worker *w) noexcept nogil:
    """The large answers' share of ot_store.mem_other: what they hold or
    have reserved, or the reserve kept for them when that is more."""
    return _answers_charge(w, w.t.answers_held)


cdef ot_span prometheus_answer(ot_worker *w, uint8_t *out) noexcept nogil:
    cdef uint8_t *body = out + OT_HTTP_HEAD_ROOM
    cdef uint8_t *p = body
    cdef ot_counters summed
    cdef ot_counters *k = counters_summed(w, &summed)    # every worker's
    cdef ot_store_counts c
    cdef ot_store_memory m
    cdef const char *name
    cdef uint64_t building

    store_counts(w.t.store, &c)
    store_memory(w.t.store, &m)
    p = _single(p, b"opentracker_uptime_seconds", b"gauge", b"Seconds since the tracker started.",
                server_uptime(w))
    p = _single(p, b"opentracker_start_time_seconds", b"gauge",
                b"Start time, in seconds since the epoch.", <uint64_t>w.t.started)

    p = _single(p, b"opentracker_torrents", b"gauge", b"Torrents held (peerless ones too).",
                c.torrents)
    name = b"opentracker_peers"
    p = _metric(p, name, b"gauge", b"Peers held (seeds included), by address family.")
    p = _sample(p, name, b"family=\"ipv4\"", c.peers[0])
    p = _sample(p, name, b"family=\"ipv6\"", c.peers[1])
    p = _single(p, b"opentracker_workers", b"gauge", b"Event loops serving requests (tracker.workers).",
                w.t.worker_count)
    p = _single(p, b"opentracker_store_lock_waits_total", b"counter",
                b"Takes of a store lock group that found another worker holding it (0 with one loop).",
                c.waits)
    name = b"opentracker_seeds"
    p = _metric(p, name, b"gauge", b"Seeding peers held, by address family.")
    p = _sample(p, name, b"family=\"ipv4\"", c.seeders[0])
    p = _sample(p, name, b"family=\"ipv6\"", c.seeders[1])
    p = _single(p, b"opentracker_completed_total", b"counter",
                b"Downloads completed since start.", k.completed)
    p = _single(p, b"opentracker_clock_jumps_total", b"counter",
                b"Wall clock jumps while running (ages kept).", k.clock_jumps)

    name = b"opentracker_requests_total"
    p = _metric(p, name, b"counter", b"Requests handled, by protocol, address family and kind.")
    p = _sample(p, name, b"protocol=\"tcp\",family=\"ipv4\",kind=\"announce\"", k.tcp_announces[0])
    p = _sample(p, name, b"protocol=\"tcp\",family=\"ipv6\",kind=\"announce\"", k.tcp_announces[1])
    p = _sample(p, name, b"protocol=\"tcp\",family=\"ipv4\",kind=\"scrape\"", k.tcp_scrapes[0])
    p = _sample(p, name, b"protocol=\"tcp\",family=\"ipv6\",kind=\"scrape\"", k.tcp_scrapes[1])
    p = _sample(p, name, b"protocol=\"tcp\",family=\"ipv4\",kind=\"fullscrape\"", k.fullscrape_requests[0])
    p = _sample(p, name, b"protocol=\"tcp\",family=\"ipv6\",kind=\"fullscrape\"", k.fullscrape_requests[1])
    p = _sample(p, name, b"protocol=\"tcp\",family=\"ipv4\",kind=\"stats\"", k.stats_requests[0])
    p = _sample(p, name, b"protocol=\"tcp\",family=\"ipv6\",kind=\"stats\"", k.stats_requests[1])
    p = _sample(p, name, b"protocol=\"udp\",family=\"ipv4\",kind=\"connect\"", k.udp_connects[0])
    p = _sample(p, name, b"protocol=\"udp\",family=\"ipv6\",kind=\"connect\"", k.udp_connects[1])
    p = _sample(p, name, b"protocol=\"udp\",family=\"ipv4\",kind=\"announce\"", k.udp_announces[0])
    p = _sample(p, name, b"protocol=\"udp\",family=\"ipv6\",kind=\"announce\"", k.udp_announces[1])
    p = _sample(p, name, b"protocol=\"udp\",family=\"ipv4\",kind=\"scrape\"", k.udp_scrapes[0])
    p = _sample(p, name, b"protocol=\"udp\",family=\"ipv6\",kind=\"scrape\"", k.udp_scrapes[1])

    name = b"opentracker_connections_total"
    p = _metric(p, name, b"counter",
                b"TCP accepts and UDP datagrams, by protocol and address family.")
    p = _sample(p, name, b"protocol=\"tcp\",family=\"ipv4\"", k.tcp_accepts[0])
    p = _sample(p, name, b"protocol=\"tcp\",family=\"ipv6\"", k.tcp_accepts[1])
    p = _sample(p, name, b"protocol=\"udp\",family=\"ipv4\"", k.udp_datagrams[0])
    p = _sample(p, name, b"protocol=\"udp\",family=\"ipv6\"", k.udp_datagrams[1])

    # One series per status the core sends; the reason tells the three 400s
    # apart. (The original's "403 Not Modest" is never sent, so not listed.)
    name = b"opentracker_http_errors_total"
    p = _metric(p, name, b"counter", b"HTTP error answers, by status code and reason.")
    p = _sample(p, name, b"code=\"302\",reason=\"redirect\"", k.http_errors[HTTPERR_302])
    p = _sample(p, name, b"code=\"400\",reason=\"invalid_request\"", k.http_errors[HTTPERR_400])
    p = _sample(p, name, b"code=\"400\",reason=\"invalid_parameter\"", k.http_errors[HTTPERR_400_PARAM])
    p = _sample(p, name, b"code=\"400\",reason=\"compact_0\"", k.http_errors[HTTPERR_400_COMPACT])
    p = _sample(p, name, b"code=\"402\",reason=\"not_modest\"", k.http_errors[HTTPERR_402_NOTMODEST])
    p = _sample(p, name, b"code=\"403\",reason=\"access_denied\"", k.http_errors[HTTPERR_403_IP])
    p = _sample(p, name, b"code=\"404\",reason=\"not_found\"", k.http_errors[HTTPERR_404])
    p = _sample(p, name, b"code=\"500\",reason=\"internal_error\"", k.http_errors[HTTPERR_500])
    p = _single(p, b"opentracker_udp_connection_id_mismatches_total", b"counter",
                b"UDP announces and scrapes answered \"Connection ID missmatch.\".", k.udp_mismatches)
    p = _single(p, b"opentracker_udp_send_failures_total", b"counter",
                b"UDP answers the kernel refused (send buffer full).", k.udp_send_failures)
    name = b"opentracker_refused_total"
    p = _metric(p, name, b"counter", b"Announces refused, by reason.")
    p = _sample(p, name, b"reason=\"access_list\"", k.refused_access)
    p = _sample(p, name, b"reason=\"memory_limit\"", k.refused_memory)
    p = _sample(p, name, b"reason=\"rate_limit\"", k.refused_rate)
    p = _single(p, b"opentracker_peers_not_stored_total", b"counter",
                b"New peers of known torrents not stored at tracker.memory_limit (still answered).",
                k.unstored_peers)

    p = _single(p, b"opentracker_fullscrapes_total", b"counter",
                b"Full scrapes sent whole (GET /scrape, mode=tpbs).", k.fullscrapes)
    p = _single(p, b"opentracker_fullscrape_bytes_total", b"counter",
                b"Bytes of those as sent (compressed when gzipped).", k.fullscrape_size)
    p = _single(p, b"opentracker_fullscrapes_shared_total", b"counter",
                b"Full scrapes shared with an earlier request (tracker.fullscrape_cache).",
                k.fullscrapes_shared)
    p = _single(p, b"opentracker_livesync_records_total", b"counter",
                b"Peer records received from live-sync cluster nodes.", k.syncs)
    name = b"opentracker_livesync_packets_total"
    # bad: truncated, oversized, unknown type; bad_mac, replay, unsigned: refused
    # with a cluster key (docs/cluster-keys.md, "Counted"). The help is short:
    # the body's margin in the answer buffer (tests/test_buffer_bounds_stats.py).
    p = _metric(p, name, b"counter", b"Live-sync datagrams, by fate (docs/cluster-keys.md).")
    p = _sample(p, name, b"result=\"sent\"", w.t.sync.packets_sent)
    p = _sample(p, name, b"result=\"applied\"", w.t.sync.packets_received)
    p = _sample(p, name, b"result=\"ignored\"", w.t.sync.packets_ignored)
    p = _sample(p, name, b"result=\"bad\"", w.t.sync.packets_bad)
    p = _sample(p, name, b"result=\"bad_mac\"", w.t.sync.packets_bad_mac)
    p = _sample(p, name, b"result=\"replay\"", w.t.sync.packets_replay)
    p = _sample(p, name, b"result=\"unsigned\"", w.t.sync.packets_unsigned)

    # The budget's own accounting (store_held), split by use, plus the
    # answers queued for sending, which it does not count.
    building = building_memory(w)
    name = b"opentracker_memory_bytes"
    p = _metric(p, name, b"gauge", b"Memory held by the core, by use.")
    p = _sample(p, name, b"use=\"store\"", m.fixed)
    p = _sample(p, name, b"use=\"torrents\"", m.torrents)
    p = _sample(p, name, b"use=\"peers\"", m.peers)
    p = _sample(p, name, b"use=\"allocator\"", m.blocks * OT_BLOCK_OVERHEAD)
    p = _sample(p, name, b"use=\"buffers\"", m.other - building - w.queued_held)
    p = _sample(p, name, b"use=\"answers\"", building + w.queued_held)
    p = _single(p, b"opentracker_memory_budget_used_bytes", b"gauge",
                b"Memory counted against tracker.memory_limit: all of the above.",
                m.held)
    p = _single(p, b"opentracker_memory_limit_bytes", b"gauge",
                b"tracker.memory_limit (0: no limit).", m.limit)
    p = _single(p, b"opentracker_memory_answer_reserve_bytes", b"gauge",
                b"Budget kept for large answers alone (in use=answers, used or not).",
                w.t.answer_reserve)
    # The interval last told (tracker.pyx, interval_for); how it was chosen
    # is in mode=everything. One sample: the margin test_buffer_bounds_stats
    # keeps for new metrics is nearly used up.
    p = _single(p, b"opentracker_announce_interval_seconds", b"gauge",
                b"Announce interval last told, before its spread.",
                w.t.last_interval if w.t.adaptive_interval and w.t.last_interval else interval_base(w.t))
    name = b"opentracker_requests_shed_total"
    p = _metric(p, name, b"counter", b"Requests shed under overload, by protocol and kind (docs/shedding.md).")
    p = _sample(p, name, b"protocol=\"udp\",kind=\"scrape\"", k.shed[SHED_UDP_SCRAPE])
    p = _sample(p, name, b"protocol=\"udp\",kind=\"announce\"", k.shed[SHED_UDP_ANNOUNCE])
    p = _sample(p, name, b"protocol=\"tcp\",kind=\"fullscrape\"", k.shed[SHED_HTTP_FULLSCRAPE])
    p = _sample(p, name, b"protocol=\"tcp\",kind=\"stats\"", k.shed[SHED_HTTP_STATS])
    p = _sample(p, name, b"protocol=\"tcp\",kind=\"scrape\"", k.shed[SHED_HTTP_SCRAPE])
    p = _sample(p, name, b"protocol=\"tcp\",kind=\"announce\"", k.shed[SHED_HTTP_ANNOUNCE])
    p = _single(p, b"opentracker_udp_shed_in_kernel_total", b"counter",
                b"UDP datagrams the kernel dropped while its scrape filter was on (docs/shedding.md).",
                k.shed_in_kernel)
    p = _single(p, b"opentracker_shed_level", b"gauge",
                b"What overload sheds now: 0 nothing, 1 heavy, 2 +scrapes, 3 +new peers of huge swarms.",
                w.shed_level)
    p = _single(p, b"opentracker_open_connections", b"gauge", b"TCP client connections open now.",
                <uint64_t>ot_acquire_load(&w.t.open_all))
    p = _single(p, b"opentracker_answers_in_progress", b"gauge",
                b"Large answers (full scrapes, heavy stats) being made.", _answer_count(w))

    # The exposition format's content type: its version parameter tells
    # scrapers which text format this is.
    return http_ok_as(w, out, <size_t>(p - body), 0, CONTENT_PROMETHEUS)


cdef uint64_t _answer_count(ot_worker *w) noexcept nogil:
    """Large answers still being made."""
    cdef uint64_t n = 0
    cdef ot_answer *b = w.t.answers
    while b != NULL:
        if not b.done:
            n += 1
        b = b.next_all
    return n
