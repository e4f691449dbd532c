# Counters kept by the loop and read by /stats (docs/compatibility.md, "MRTG
# lines and counters"). Process-lifetime totals; the loop is single-threaded,
# so plain integers suffice.

from libc.stdint cimport uint64_t


cdef enum:
    # Internal HTTP error codes, in the order of the original's table
    # (docs/compatibility.md, "Error pages"); herr and everything report them
    # by these indices.
    HTTPERR_302 = 0
    HTTPERR_400 = 1
    HTTPERR_400_PARAM = 2
    HTTPERR_400_COMPACT = 3
    HTTPERR_402_NOTMODEST = 4
    HTTPERR_403_NOTMODEST = 5
    HTTPERR_403_IP = 6
    HTTPERR_404 = 7
    HTTPERR_500 = 8
    HTTPERR_COUNT = 9

    # What shedding under overload refused, by kind (ot_counters.shed;
    # shed.pyx): metrics.pyx and stats.pyx name them in this order.
    SHED_UDP_SCRAPE = 0
    SHED_UDP_ANNOUNCE = 1
    SHED_HTTP_FULLSCRAPE = 2
    SHED_HTTP_STATS = 3
    SHED_HTTP_SCRAPE = 4
    SHED_HTTP_ANNOUNCE = 5
    SHED_KINDS = 6


cdef struct ot_counters:
    # Indexed by the client's address family (addr_family: 0 IPv4, 1 IPv6).
    uint64_t tcp_accepts[2]
    uint64_t tcp_announces[2]
    uint64_t tcp_scrapes[2]
    uint64_t udp_datagrams[2]
    uint64_t udp_connects[2]
    uint64_t udp_announces[2]
    uint64_t udp_scrapes[2]
    uint64_t udp_mismatches
    uint64_t udp_send_failures
    uint64_t fullscrapes              # full-scrape answers sent whole: GET /scrape and mode=tpbs (answers.pyx)
    uint64_t fullscrapes_shared       # GET /scrape requests that read an answer made for another
    uint64_t completed
    uint64_t syncs
    uint64_t refused_access
    uint64_t refused_memory           # new torrents refused at tracker.memory_limit
    uint64_t unstored_peers           # new peers of known torrents served but not kept there
    uint64_t refused_rate
    uint64_t clock_jumps              # times the wall clock was set (loop_clock)
    uint64_t shed[6]                  # requests shed under overload, by SHED_* kind (shed.pyx)
    uint64_t overloads                # times the shed level rose from 0
    uint64_t shed_in_kernel           # UDP datagrams dropped by the kernel while its scrape filter was on
    uint64_t http_errors[9]
    uint64_t renew[45]
    # Kept by stats.pyx and answers.pyx:
    uint64_t fullscrape_size          # body bytes of those answers as sent (gzipped size when gzipped): fscr
    uint64_t fullscrape_requests[2]   # GET /scrape requests, by the client's family (0 IPv4, 1 IPv6)
    uint64_t stats_requests[2]        # requests to the stats path and /metrics, by family
    # HTTP announces by numwant after clamping to 0..200, counted right after
    # the query is parsed, before the info_hash check (the original's
    # WANT_LOG_NUMWANT; mode=numwants). Incremented in http_announce.
    uint64_t numwants[201]


# /stats modes and tpbs formats (stats.pyx parses them; answers.pyx writes tpbs).
cdef enum:
    MODE_PEER = 1
    MODE_TORR
    MODE_CONN
    MODE_SCRP
    MODE_UDP4
    MODE_TCP4
    MODE_BUSY
    MODE_FSCR
    MODE_S24S
    MODE_TPBS
    MODE_HERR
    MODE_COMPLETED
    MODE_TOP100
    MODE_TOP10
    MODE_RENEW
    MODE_SYNCS
    MODE_VERSION
    MODE_EVERYTHING
    MODE_STATEDUMP
    MODE_FULLLOG
    MODE_WOODPECKERS
    MODE_NUMWANTS
    MODE_PROMETHEUS
    MODE_HTML                 # the status page (statuspage.pyx)

    FORMAT_NONE = 0
    FORMAT_BIN
    FORMAT_BEN
    FORMAT_URL
    FORMAT_TXT
    FORMAT_TXTP
