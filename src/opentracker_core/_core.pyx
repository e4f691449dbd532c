# cython: language_level=3
# The one extension module. Components in dependency order: each uses only
# what comes before it (tests/test_sourcecode.py checks this).
include "budget.pyx"         # the store's accounts and the memory budget
include "slab.pyx"           # slab pages for small peer lists
include "store.pyx"          # torrents and peers, ageing, lock groups
include "store_walk.pyx"     # the clean cycle, walks in hash order, counts summed over the groups
include "peers.pyx"          # peer selection for answers
include "address.pyx"        # 16-byte addresses, text, loopback
include "writers.pyx"        # bencode and BEP 15 bodies, byte writers
include "version.pyx"        # mode=version and -v: package, commit, Cython, Python, zlib
include "access.pyx"         # access lists, blessed networks
include "ratelimit.pyx"      # per-address token buckets, modest full scrapes
include "livesync.pyx"       # live sync: records queued and sent
include "tracker.pyx"        # announce and stop, shared by HTTP, UDP and live sync
include "counters.pyx"       # every worker's counters, published and summed
include "livesync_in.pyx"    # live sync: datagrams received and applied
include "shed.pyx"           # shedding by priority under overload: the level, who is shed
include "udp.pyx"            # BEP 15 requests and connection ids
include "httpparse.pyx"      # HTTP framing, query scanner, headers
include "encode.pyx"         # identity, gzip and zstd, a slice at a time
include "answers.pyx"        # large answers made in slices, their blocks, sharing and memory
include "top.pyx"            # top10 / top100
include "s24s_leaders.pyx"   # s24s: the busiest networks of each list, and their text
include "s24s_sort.pyx"      # s24s: counted by sorting a key per peer, while memory lasts
include "s24s_table.pyx"     # s24s: counted in passes over a bounded table
include "s24s.pyx"           # s24s: peers per network, one way or the other
include "http.pyx"           # HTTP answers: headers, errors, announce, scrape, full scrape
include "metrics.pyx"        # Prometheus
include "history.pyx"        # the status page's request-rate history, sampled once a second
include "statuspage.pyx"     # the HTML status page
include "stats.pyx"          # /stats modes
include "route.pyx"          # which handler answers an HTTP request
include "stream.pyx"         # large answers sent to their readers: the reader, header, framing
include "conn.pyx"           # a worker's connections: slots, deadlines, an HTTP client's life
include "udpio.pyx"          # a worker's UDP batches: recvmmsg, answers, sendmmsg
include "loop.pyx"           # a worker's epoll turn, clock, ticks and fixed buffers
include "workers.pyx"        # worker loops on threads of their own; the pause for Python
include "hashlists.pyx"      # access-list files parsed in C
include "store_api.pyx"      # the Store class
include "server.pyx"         # the Server class
