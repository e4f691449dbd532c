"""The fixed-buffer audit of issue 12 (tests/test_buffer_bounds_*.py, one
file a component; here what they share): every fixed-size buffer the core
writes into, proven at its boundary (exactly full, one record or byte short,
one over) through the paths the server runs: the in-process hooks
TestServer.answer_http / answer_udp (the test build) (the loop's own http_respond and
udp_respond into the loop's obuf / an OT_UDP_OUT_MAX buffer), the Store
writers of api.pyx, and tracker subprocesses where the loop's own socket
reads matter (recv into rbuf, recvmmsg into udp_in, recvfrom into the
live-sync pkt).

Each test asserts what a user sees: answer lengths, counts and exact bytes.
Where a bound cannot be reached from outside (a 20-digit counter), the test
computes the worst case from the answer it gets (every number widened to its
type's most digits) and checks it against the buffer with the arithmetic in
a comment.

The live-sync sender's random interleavings are fuzzed against a model by
tests/fuzz/fuzz_livesync.py; test_buffer_bounds_livesync.py only pins the
flush boundaries (35/36/37 IPv6 records, 51/52/53 IPv4) and the receiver's
size limits.

The buffers, their sizes and how each bound is held are listed in the audit
table of issue 12's note; the constants below mirror the core's
(server.pxd, consts.pxi, writers.pyx, livesync.pxd, answers.pxd), and
test_buffer_bounds_sizes.py checks that they still do.
"""

import hashlib
import time
from urllib.parse import quote_from_bytes

from helpers.testcore import core

from .trackerproc import split_response

# ---------------------------------------------------------------- the core's sizes

OT_HTTP_REQUEST_MAX = 8192        # server.pxd: rbuf, in_buf, scratch are this + 1
OT_HTTP_OUT_MAX = 16384           # server.pxd: obuf, the one answer buffer
OT_HTTP_HEAD_ROOM = 128           # server.pxd: status line and headers in front of a body (96 before e4c197d)
OT_HTTP_HEAD_MAX = 128            # server.pxd: http_head's head[128], at most 122 written
OT_STATS_PATH_MAX = 255           # server.pxd: stats_path[256]
OT_REDIRECT_MAX = 2048            # server.pxd: the Location of a 302, written into obuf
OT_UDP_IN_MAX = 2048              # server.pxd: bytes kept of each datagram
OT_UDP_OUT_MAX = 1536             # server.pxd: one reply
OT_ANNOUNCE_BODY_MAX = 4096       # consts.pxi: Store.announce_http's buffer
OT_MAXMULTISCRAPE = 64            # consts.pxi: http.pyx hashes[64 * 20]
OT_UDP_SCRAPE_MAX = 75            # consts.pxi
OT_UDP_PEERS_V4, OT_UDP_PEERS_V6 = 200, 66
OT_IP_TEXT_MAX = 64               # consts.pxi: tmp[64] of parse_ip_text and put_ip_text
OT_SCRAPE_ENTRY_MAX = 124         # writers.pyx
OT_SCRAPE_BODY_MAX = 9 + OT_MAXMULTISCRAPE * OT_SCRAPE_ENTRY_MAX + 2
OT_UDP_ANNOUNCE_MAX = 1220        # writers.pyx
OT_SYNC_BUF, OT_SYNC_HEADER = 1480, 8   # livesync.pxd
OT_ANSWER_STAGE, OT_ANSWER_ENTRY_MAX = 512 * 124 + 64, 256   # answers.pxd

U32 = 2 ** 32 - 1
U64 = 2 ** 64 - 1

ERROR_500 = (b"HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 37\r\n\r\n"
             b"<title>Internal Server Error</title>\n")
ERROR_400_PARAM = (b"HTTP/1.0 400 Invalid Request\r\nContent-Type: text/html\r\nContent-Length: 31\r\n\r\n"
                   b"<title>Invalid Request</title>\n")
ERROR_404 = (b"HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 25\r\n\r\n"
             b"<title>Not Found</title>\n")


def h(name):
    return hashlib.sha1(name.encode()).digest()


def q(raw):
    return quote_from_bytes(raw, safe="")


def split(answer):
    """(status line, {header: value}, body) of a whole answer; the body's
    length is checked against Content-Length."""
    status, lines, body = split_response(answer)
    headers = dict(line.split(": ", 1) for line in lines)
    assert int(headers["Content-Length"]) == len(body), (headers, len(body))
    return status, headers, body


def new_server(**settings):
    srv = core.Server(seed=7)
    srv.configure(**settings)
    return srv


def http(srv, target, client="127.0.0.1", extra=b""):
    return srv.answer_http(b"GET " + target.encode("latin-1") + b" HTTP/1.0\r\n" + extra + b"\r\n", client)


def padded_request(total, query):
    """`GET /announce?<query>&pad=xxx HTTP/1.0\\r\\n\\r\\n`, exactly `total` bytes."""
    head = b"GET /announce?" + query.encode() + b"&pad="
    tail = b" HTTP/1.0\r\n\r\n"
    pad = total - len(head) - len(tail)
    assert pad > 0
    request = head + b"x" * pad + tail
    assert len(request) == total
    return request


def restore(store, info_hash, downloaded):
    """A peerless torrent from a state line, fresh (base: now in minutes),
    with its downloaded counter."""
    store.restore(info_hash, int(time.time()) // 60, downloaded)


def digits(v):
    return len(str(v))


def scrape_entry(info_hash, seeders, completed, leechers):
    return (b"20:" + info_hash + b"d8:completei%de10:downloadedi%de10:incompletei%dee"
            % (seeders, completed, leechers))


def scrape_swarm(srv, n, tag):
    """n torrents, each with one seeder and one leecher and a downloaded
    counter of 2^32 - 1 (the widest a torrent can carry: a state line)."""
    hashes = [h("%s-%d" % (tag, i)) for i in range(n)]
    for i, x in enumerate(hashes):
        restore(srv.store, x, U32)
        srv.announce_http(x, "10.1.%d.%d" % (i // 250, i % 250 + 1), 6881, seeder=True)
        srv.announce_http(x, "10.2.%d.%d" % (i // 250, i % 250 + 1), 6881)
    return hashes
