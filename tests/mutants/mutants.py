"""The curated mutants: each one small textual patch that breaks one thing a
user would notice, with the tests that must catch it (run by run.py).

name     short, unique, kebab-case
file     path from the top of the tree
old      text that occurs exactly once in that file (run.py and
         tests/test_mutants.py fail when it does not: keep it in step)
new      what replaces it
breaks   the behaviour broken, in a user's words
tests    pytest argument strings, run in this order until one fails
quick    in the CI subset (run.py --quick): each cheap to kill

Add one for every bug found from now on: the patch that brings the bug
back, and the test that now catches it.
"""

MUTANTS = [
    # ---------------------------------------------------------------- store: ageing and counting
    dict(
        name="peer-timeout-one-minute-late",
        file="src/opentracker_core/store.pyx",
        old="        if age < ot_peer_timeout(src[ksize]):\n",
        new="        if age <= ot_peer_timeout(src[ksize]):\n",
        breaks="peers live a minute past the 45-minute timeout",
        tests=["tests/test_store.py -k expire", "tests/test_store.py", "tests/test_store_stateful.py"],
        quick=True,
    ),
    dict(
        name="ageing-keeps-seeder-count",
        file="src/opentracker_core/store.pyx",
        old="        v.seeders -= dropped_seeders\n",
        new="",
        breaks="a torrent's seeder count keeps seeders that timed out",
        tests=["tests/test_store.py", "tests/test_store_stateful.py"],
    ),
    dict(
        name="torrent-timeout-doubled",
        file="src/opentracker_core/store.pyx",
        old="    if elapsed > OT_TORRENT_TIMEOUT:\n",
        new="    if elapsed > 2 * OT_TORRENT_TIMEOUT:\n",
        breaks="idle torrents are kept two days instead of one",
        tests=["tests/test_store.py", "tests/test_store_stateful.py"],
    ),
    dict(
        name="completed-without-finishing",
        file="src/opentracker_core/store.pyx",
        old="    if (flags & (PEER_FLAG_COMPLETED | PEER_FLAG_SEEDING)) == PEER_FLAG_COMPLETED:\n        flags = 0\n",
        new="",
        breaks="event=completed from a peer with bytes left counts as a download",
        tests=["tests/test_store.py", "tests/test_conformance_http.py", "tests/test_store_stateful.py"],
    ),
    # ---------------------------------------------------------------- peer selection
    dict(
        name="selection-not-random",
        file="src/opentracker_core/store.pyx",
        old="        offset += 1 + rng_next(rng) % diff\n",
        new="        offset += 1\n",
        breaks="a big swarm hands every client the same run of neighbouring peers",
        tests=["tests/test_selection.py"],
        quick=True,
    ),
    dict(
        name="seeders-not-last",
        file="src/opentracker_core/store.pyx",
        old="    for i in range(v.size):\n        if rec[ksize] & PEER_FLAG_SEEDING:\n",
        new="    for i in range(v.size):\n        if False:\n",
        breaks="peer lists lose the original's leechers-first order",
        tests=["tests/test_store.py", "tests/test_conformance_http.py"],
    ),
    # ---------------------------------------------------------------- access lists, stats permission
    dict(
        name="stats-open-to-everyone",
        file="src/opentracker_core/stats.pyx",
        old="    return addr_is_loopback(addr16) or (access_perms(&w.t.access, addr16) & OT_PERM_STATS) != 0\n",
        new="    return True\n",
        breaks="/stats and /metrics answer the whole internet",
        tests=["tests/test_stats.py -k test_80"],
        quick=True,
    ),
    dict(
        name="network-prefix-partial-byte",
        file="src/opentracker_core/access.pyx",
        old="        mask = <uint8_t>(0xFF << (8 - rest))\n",
        new="        mask = <uint8_t>(0xFF << (9 - rest))\n",
        breaks="access.stats 192.0.2.0/25 also blesses 192.0.2.128-255",
        tests=["tests/test_stats.py -k test_80"],
    ),
    dict(
        name="blacklist-acts-as-whitelist",
        file="src/opentracker_core/access.pyx",
        old="    return listed if a.mode == OT_ACCESS_WHITE else not listed\n",
        new="    return listed\n",
        breaks="a blacklist serves only the listed torrents",
        tests=["tests/test_operations.py -k blacklist", "tests/test_accesslist.py", "tests/test_operations.py"],
        quick=True,
    ),
    dict(
        name="fifo-delete-ignored",
        file="src/opentracker_core/access.pyx",
        old="    if hashlist_contains(&a.deleted, hash):\n",
        new="    if False:\n",
        breaks="a hash written to access.fifo_delete stays allowed",
        tests=["tests/test_operations.py -k fifo", "tests/test_accesslist.py"],
    ),
    # ---------------------------------------------------------------- UDP connection ids
    dict(
        name="connid-current-window-only",
        file="src/opentracker_core/udp.pyx",
        old="    return got == connid_for(w, addr16, window) or got == connid_for(w, addr16, window - 1)\n",
        new="    return got == connid_for(w, addr16, window)\n",
        breaks="a connection id dies at the end of its window, not one window later",
        tests=["tests/test_conformance_udp.py -k design5", "tests/test_conformance_udp.py"],
        quick=True,
    ),
    dict(
        name="connid-ignores-last-address-byte",
        file="src/opentracker_core/udp.pyx",
        old="    memcpy(msg, addr16, 16)\n",
        new="    memcpy(msg, addr16, 15)\n    msg[15] = 0\n",
        breaks="neighbouring addresses share connection ids (a spoofed source gets one without our reply)",
        tests=["tests/test_conformance_udp.py"],
    ),
    # ---------------------------------------------------------------- proxies
    dict(
        name="forwarded-for-from-anyone",
        file="src/opentracker_core/http.pyx",
        old="    if access_perms(&w.t.access, c.addr) & OT_PERM_PROXY:\n",
        new="    if True:\n",
        breaks="any client chooses its address with X-Forwarded-For",
        tests=["tests/test_operations.py -k forwarded", "tests/test_dualstack.py"],
        quick=True,
    ),
    # ---------------------------------------------------------------- memory budget
    dict(
        name="budget-ignores-new-peers",
        file="src/opentracker_core/store.pyx",
        old="        if not peer_exact and _over_budget(st, _peer_growth(t.peers[family], family)):\n",
        new="        if False:\n",
        breaks="past the budget, known swarms still grow without bound",
        tests=["tests/test_hardening.py -k flood_of_new", "tests/test_store.py"],
    ),
    dict(
        name="budget-refuses-new-peers-of-known-swarms",
        file="src/opentracker_core/store.pyx",
        old=("            res.unstored = 1\n"
             "            if flags & PEER_FLAG_COMPLETED:\n"
             "                # Counted as for a kept new peer: \"downloaded\" needs no memory,\n"
             "                # and a client reports a completion once.\n"
             "                t.completed += 1\n"
             "                res.completed = 1\n"
             "            res.torrent = t\n"
             "            return OT_OK\n"),
        new="            st.refused_memory += 1\n            return OT_REFUSED_MEMORY\n",
        breaks="at the budget a new peer of a known swarm gets a failure instead of the swarm's peers",
        tests=["tests/test_hardening.py -k known_swarm"],
    ),
    dict(
        name="budget-64k-over",
        file="src/opentracker_core/store.pyx",
        old="    return st.mem_limit != 0 and store_held(st) + extra > st.mem_limit\n",
        new="    return st.mem_limit != 0 and store_held(st) + extra > st.mem_limit + 65536\n",
        breaks="the core holds 64 KiB more than tracker.memory_limit",
        tests=["tests/test_store.py -k memory", "tests/test_hardening.py -k flood_of_new"],
        quick=True,
    ),
    # ---------------------------------------------------------------- live sync
    dict(
        name="livesync-flush-at-1452",
        file="src/opentracker_core/livesync.pyx",
        old=("    # (1448 bytes), where that rule would let the 37th run past the buffer.\n"
             "    if w.t.sync.len[family] + rec > OT_SYNC_BUF:\n"),
        new=("    # (1448 bytes), where that rule would let the 37th run past the buffer.\n"
             "    if w.t.sync.len[family] >= 1452:\n"),
        breaks="issue 12: a full IPv6 live-sync datagram waits for the next record or the timer",
        tests=["tests/test_fuzz.py -k 'seed_file and livesync'", "tests/test_fuzz.py -k livesync",
               "tests/test_livesync.py"],
        quick=True,
    ),
    dict(
        name="livesync-unblessed-sender",
        file="src/opentracker_core/livesync_in.pyx",
        old="        if not (access_perms(&w.t.access, addr16) & OT_PERM_SYNC):\n",
        new="        if False:\n",
        breaks="live-sync packets from any address change the swarm",
        tests=["tests/test_livesync.py"],
    ),
    # ---------------------------------------------------------------- writers and the HTTP scanner
    dict(
        name="udp-announce-counts-swapped",
        file="src/opentracker_core/writers.pyx",
        old="    p = put_be32(p, peers - seeders)\n    p = put_be32(p, seeders)\n",
        new="    p = put_be32(p, seeders)\n    p = put_be32(p, peers - seeders)\n",
        breaks="UDP announce answers swap leechers and seeders",
        tests=["tests/test_conformance_udp.py", "tests/test_writers.py"],
        quick=True,
    ),
    dict(
        name="http-announce-drops-peers6",
        file="src/opentracker_core/writers.pyx",
        old="    if want6:\n",
        new="    if False:\n",
        breaks="IPv6 peers are never handed out over HTTP",
        tests=["tests/test_dualstack.py", "tests/test_writers.py"],
    ),
    dict(
        name="scanner-percent-nibbles-swapped",
        file="src/opentracker_core/httpparse.pyx",
        old="            c = <uint8_t>((hi << 4) | lo)\n",
        new="            c = <uint8_t>((lo << 4) | hi)\n",
        breaks="%xx escapes decode wrongly: info_hashes are misread",
        tests=["tests/test_conformance_http.py", "tests/test_bad_input.py"],
        quick=True,
    ),
    dict(
        name="scanner-value-eats-terminator",
        file="src/opentracker_core/httpparse.pyx",
        old="    if f & SCAN_TERMINATOR:\n        s -= 1\n",
        new="",
        breaks="an unknown parameter swallows the next one's '&'",
        tests=["tests/test_conformance_http.py", "tests/test_bad_input.py"],
    ),
    dict(
        name="gzip-despite-q0",
        file="src/opentracker_core/httpparse.pyx",
        old="                zero = zero and not digits_nonzero\n",
        new="                zero = False\n",
        breaks="Accept-Encoding: gzip;q=0 still gets gzip",
        tests=["tests/test_fullscrape.py -k gzip", "tests/test_bad_input.py"],
    ),
    # ---------------------------------------------------------------- the Python shell
    dict(
        name="config-megabytes-are-kilobytes",
        file="src/opentracker/config.py",
        old='"m": 1 << 20',
        new='"m": 1 << 10',
        breaks="tracker.memory_limit 24M means 24 KiB",
        tests=["tests/test_config.py -k memory_limit", "tests/test_config.py"],
        quick=True,
    ),
    dict(
        name="ipv4-networks-lose-the-mapped-prefix",
        file="src/opentracker/server.py",
        old="96 + net.prefixlen",
        new="net.prefixlen",
        breaks="an IPv4 access.stats/access.proxy network blesses far more (or other) addresses",
        tests=["tests/test_stats.py -k test_80", "tests/test_operations.py -k forwarded"],
        quick=True,
    ),
    # ---------------------------------------------------------------- large answers (issue 15)
    dict(
        name="stream-ignores-the-window",
        file="src/opentracker_core/answers.pyx",
        old="    return b.produced - answer_slowest(w, b, False) < OT_STREAM_WINDOW\n",
        new="    return True\n",
        breaks="a reader that stops reading makes the tracker hold its whole answer",
        tests=["tests/test_fullscrape.py -k window_not_the_answer"],
        quick=True,
    ),
    dict(
        name="stream-blocks-never-freed",
        file="src/opentracker_core/answers.pyx",
        old="    if not b.shared:\n        _blocks_free_before(w, b, answer_slowest(w, b, True))\n",
        new="    pass\n",
        breaks="memory of a streamed answer is held until its end, however far the reader is",
        tests=["tests/test_fullscrape.py -k window_not_the_answer"],
    ),
    dict(
        name="chunked-without-last-chunk",
        file="src/opentracker_core/stream.pyx",
        old="    if ready == 0 and not (b.done and not b.failed and not rd.trailer):\n",
        new="    if ready == 0:\n",
        breaks="an HTTP/1.1 client cannot tell a complete full scrape from a cut-off one (no last chunk)",
        tests=["tests/test_fullscrape.py -k lists_every_torrent"],
        quick=True,
    ),
    dict(
        name="chunk-size-one-over",
        file="src/opentracker_core/stream.pyx",
        old="        p = put_hex(p, ready)\n",
        new="        p = put_hex(p, ready + 1)\n",
        breaks="every chunk of a streamed answer says one byte more than it carries: an HTTP/1.1 client "
               "reads the next size line as data",
        tests=["tests/test_fuzz.py -k 'every_seed_file and http'"],
        quick=True,
    ),
    dict(
        name="send-deadline-never-starts",
        file="src/opentracker_core/conn.pyx",
        old="        if verdict & STREAM_PROGRESS or c.listed != OT_LISTED_WRITING:\n            conn_list(w, c, OT_LISTED_WRITING, w.t.send_timeout)\n",
        new="",
        breaks="a reader that never reads is kept forever, with the memory its answer holds",
        tests=["tests/test_large_answers.py -k never_read"],
    ),
    dict(
        name="send-deadline-ignores-progress",
        file="src/opentracker_core/conn.pyx",
        old="        if verdict & STREAM_PROGRESS or c.listed != OT_LISTED_WRITING:\n",
        new="        if c.listed != OT_LISTED_WRITING:\n",
        breaks="a slow reader that keeps reading is cut off after tracker.send_timeout",
        tests=["tests/test_large_answers.py -k keeps_reading"],
    ),
    dict(
        name="full-request-buffer-per-connection",
        file="src/opentracker_core/conn.pyx",
        old="    cdef uint32_t cap = c.in_cap if c.in_cap else OT_HTTP_IN_FIRST\n",
        new="    cdef uint32_t cap = c.in_cap if c.in_cap else OT_HTTP_REQUEST_MAX + 1\n",
        breaks="every half-open connection costs a whole request's buffer (8 KiB) instead of what it sent",
        tests=["tests/test_large_answers.py -k half_open"],
    ),
    dict(
        name="header-deadline-a-millisecond-early",
        file="src/opentracker_core/loop.pyx",
        old="    while w.reading.head >= 0 and w.conns[w.reading.head].deadline < w.mono_ms:\n",
        new="    while w.reading.head >= 0 and w.conns[w.reading.head].deadline <= w.mono_ms + 300:\n",
        breaks="a client gets less than tracker.http_timeout seconds for its header",
        tests=["tests/test_large_answers.py -k whole_seconds"],
    ),
    dict(
        name="full-scrapes-never-shared",
        file="src/opentracker_core/http.pyx",
        old="    if w.t.fullscrape_cache and answer_join_shared(w, encoding):\n",
        new="    if False:\n",
        breaks="200 indexers polling at once cost 200 full scrapes of work instead of one",
        tests=["tests/test_large_answers.py -k share_one_answer"],
    ),
    dict(
        name="answers-refused-when-torrents-fill-the-budget",
        file="src/opentracker_core/answers.pyx",
        old="    return held if held > w.t.answer_reserve else w.t.answer_reserve\n",
        new="    return held\n",
        breaks="once the torrents fill the memory budget, full scrapes and statedumps answer 500",
        tests=["tests/test_fullscrape.py -k fill_the_budget"],
    ),
    dict(
        name="s24s-table-never-narrowed",
        file="src/opentracker_core/s24s_table.pyx",
        old="        if not _table_resize(w, b, tb, tb.slots * 2) and not _table_halve(tb):\n",
        new="        if not _table_resize(w, b, tb, tb.slots * 2):\n",
        breaks="once peers fill the memory budget, s24s answers 500",
        tests=["tests/test_s24s.py -k fill_the_budget"],
        quick=True,
    ),
    dict(
        name="s24s-narrowing-loses-networks",
        file="src/opentracker_core/s24s_table.pyx",
        old="            if (i < home <= j) if i <= j else (i < home or home <= j):\n                continue\n",
        new="",
        breaks="s24s at a full budget splits a network's peers over several lines, with wrong counts",
        tests=["tests/test_s24s.py -k thousands", "tests/test_s24s.py"],
    ),
    dict(
        name="s24s-ties-in-table-order",
        file="src/opentracker_core/s24s_leaders.pyx",
        old="    return count > r.count or (count == r.count and key < r.key)\n",
        new="    return count > r.count or (count == r.count and r.count == 0)\n",
        breaks="s24s lists networks of equal count out of address order when it counts in a table",
        tests=["tests/test_s24s.py -k whatever", "tests/test_s24s.py"],
    ),
    dict(
        name="stream-block-offset-off-by-one",
        file="src/opentracker_core/stream.pyx",
        old="        rd.blk_at += rd.blk.len\n",
        new="        rd.blk_at += rd.blk.len - 1\n",
        breaks="a streamed answer repeats a byte at every block boundary",
        tests=["tests/test_buffer_bounds_large_answers.py -k stream_block"],
        quick=True,
    ),
    dict(
        name="reload-keeps-fifo-hashes",
        file="src/opentracker/accesslist.py",
        old="        self.dynamic.reset()\n",
        new="",
        breaks="after SIGHUP, hashes added through the fifo stay although the file does not list them",
        tests=["tests/test_operations.py -k fifo"],
    ),
    dict(
        name="unreadable-whitelist-serves-all",
        file="src/opentracker/accesslist.py",
        old='                self.server.set_access(self.mode, b"")\n',
        new='                self.server.set_access("open", b"")\n',
        breaks="a whitelist that cannot be read at start-up lets every torrent in",
        tests=["tests/test_operations.py", "tests/test_accesslist.py"],
    ),
    # ---------------------------------------------------------------- structure (issue 22)
    dict(
        name="test-entry-point-in-the-shipped-module",
        file="src/opentracker_core/server.pyx",
        old="    def flush_livesync(self):\n",
        new="    def answer_http(self, bytes request):\n        return b\"\"\n\n    def flush_livesync(self):\n",
        breaks="the router's module carries a test entry point again (flash, and a way in past the loop)",
        tests=["tests/test_shipped_module.py"],
        quick=True,
    ),
    dict(
        name="default-exported-is-not-the-one-applied",
        file="src/opentracker_core/server.pyx",
        old='    ("tracker.udp_connid_window", "connid_window"),\n',
        new='    ("tracker.udp_connid_window", "http_timeout"),\n',
        breaks="config.py, the man pages and --check-config say one connection-id window while the core "
               "applies another",
        tests=["tests/test_defaults.py -k connid_window"],
    ),
]
