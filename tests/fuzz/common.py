"""What every fuzz harness shares: the servers they start from, the checks
they make after each input, and the two ways of running them.

A harness is a module with `one_input(data: bytes)` that raises (an
AssertionError, or any unexpected exception) when the tracker misbehaves.
It is run

  * by atheris for long coverage-guided runs:
        python tests/fuzz/fuzz_http.py -max_total_time=600
    (tests/fuzz/run.sh builds a clang + ASan + libFuzzer-coverage copy of
    the core first, so the fuzzer sees the C code's branches too);
  * by hypothesis in the normal suite (tests/test_fuzz.py), a few hundred
    inputs per harness, from grammars, raw bytes and mutated seed files.

Seed inputs live in tests/fuzz/corpus/<target>/ (small real requests,
datagrams and files); atheris writes what it finds to a working directory
outside the checkout, never into the seeds.

Inputs that carry several requests separate them with SEP, and most start
with one "setup" byte that picks the server's configuration, so the fuzzer
explores configurations and request sequences as well as request bytes.
"""

import contextlib
import gzip
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)   # for helpers/reference.py (the bencode oracle)

from helpers.testcore import core  # noqa: E402
from helpers.reference import bdecode  # noqa: E402

SEP = b"\n--next--\n"          # between the requests (datagrams) of one input
MAX_PARTS = 8                  # requests per input: enough for a sequence

# Torrents every server starts with, chosen printable so seed files can name
# them (info_hash=AAAAAAAAAAAAAAAAAAAA). H[4] and up are never announced.
H = [bytes([65 + i]) * 20 for i in range(8)]
REDIRECT = "http://example.invalid/tracker"

# The error pages, byte for byte (docs/compatibility.md, HTTP).
ERROR_TITLES = [b"400 Invalid Request", b"402 Payment Required", b"403 Not Modest", b"403 Access Denied",
                b"404 Not Found", b"500 Internal Server Error"]


def error_page(title):
    body = b"<title>" + title[4:] + b"</title>\n"
    return (b"HTTP/1.0 " + title + b"\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body)


# "403 Not Modest" has a title but no code path that sends it (docs/compatibility.md, HTTP).
ERROR_PAGES = frozenset(error_page(title) for title in ERROR_TITLES if title != b"403 Not Modest")
ERR_400 = error_page(b"400 Invalid Request")
ERR_404 = error_page(b"404 Not Found")
ERR_500 = error_page(b"500 Internal Server Error")
REDIRECT_PAGE = b"HTTP/1.0 302 Found\r\nContent-Length: 0\r\nLocation: " + REDIRECT.encode() + b"\r\n\r\n"
NO_HASH = b"d14:failure reason80:Your client forgot to send your torrent's info_hash. Please upgrade your client.e"
NOT_AUTHORIZED = b"d14:failure reason63:Requested download is not authorized for use with this tracker.e"
RATE_REFUSAL = b"Too many requests from this address; announce less often."
MEMORY_REFUSAL = b"Tracker memory limit reached: new torrents are refused for now."
FAILURES = frozenset([NO_HASH, NOT_AUTHORIZED, core.failure_body(RATE_REFUSAL), core.failure_body(MEMORY_REFUSAL)])

# Addresses a request may come from: loopback (may read /stats), a blessed
# proxy and stats network (10/8), strangers of both families.
CLIENTS = ["127.0.0.1", "10.1.2.3", "::1", "2001:db8::7", "192.0.2.9", "10.200.0.1", "fe80::1", "::ffff:7f00:1"]
PROXY_NET = (b"\0" * 10 + b"\xff\xff" + bytes([10, 0, 0, 0]), 104, 1 | 2)   # 10.0.0.0/8: stats + proxy


# ---------------------------------------------------------------- inputs

def split(data, limit=MAX_PARTS):
    """The parts of a multi-request input (at most `limit`; the rest is
    dropped, so no input runs unbounded)."""
    return data.split(SEP, limit)[:limit]


def seeds(target):
    """The seed files of a target as bytes, in name order."""
    folder = os.path.join(CORPUS, target)
    out = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            out.append(f.read())
    return out


# ---------------------------------------------------------------- servers

# A streamed server's extra torrents: peerless ones from state lines, enough
# that a full scrape or statedump outgrows the stream's window (16 KiB)
# before it is complete, so its readers get it chunked or until close.
STREAM_TORRENTS = 400


def new_server(setup, populate=True, streamed=False):
    """A fresh server configured from the setup byte:
    bits 0-1 access (open, white list of H[0..2] + H[4], black list of H[1], or
    open but limited: 3 requests a minute per address, modest full scrapes,
    and a memory budget 400 bytes above what the server holds after
    populating), bit 2 redirect URL, bit 3 ip_from_query,
    bit 4 full scrape off, bit 5 compression off, bits 6-7 clock offset
    (0, +31 min, +2 h, +3 days: ages the populated swarms). A streamed
    server makes its large answers a torrent a slice and holds
    STREAM_TORRENTS more torrents."""
    srv = core.Server(seed=setup + 1)
    access = setup & 3
    srv.configure(redirect_url=REDIRECT if setup & 4 else None,
                  ip_from_query=bool(setup & 8),
                  fullscrape=not setup & 16,
                  compression="off" if setup & 32 else "gzip",
                  rate_limit=3 if access == 3 else 0,
                  modest_fullscrapes=access == 3,
                  answer_slice=1 if streamed else 0)
    # The swarms first: the access list below then decides what answers see
    # of them, as after a reload that drops a torrent the store still holds.
    if populate:
        populate_swarms(srv)
    if streamed:
        for i in range(STREAM_TORRENTS):
            srv.store.restore(hashlib.sha1(b"stream-%d" % i).digest(), 0, i)
    if access == 1:
        srv.set_access("white", core.sort_hashes(H[0] + H[1] + H[2] + H[4]))
    elif access == 2:
        srv.set_access("black", H[1])
    srv.set_networks([PROXY_NET])
    if access == 3:
        srv.store.memory_limit = budget_used(srv) + 400
    srv.clock_offset = (0, 31 * 60, 7200, 3 * 86400)[setup >> 6]
    return srv


def limited(setup):
    """Does the setup byte ask for the rate limit and the memory budget?"""
    return setup & 3 == 3


def budget_used(srv):
    """What the memory budget counts now (from /metrics)."""
    for line in srv.answer_http(b"GET /metrics HTTP/1.0\r\n\r\n").split(b"\n"):
        if line.startswith(b"opentracker_memory_budget_used_bytes "):
            return int(line.split()[1])
    raise AssertionError("no opentracker_memory_budget_used_bytes in /metrics")


def check_unstored(srv):
    """A new peer of a known swarm answered but not kept: only when keeping
    it could pass the budget, its list needing a new slab page (or a larger
    heap block, less than a page) (docs/memory.md, "At the budget", "Slabs")."""
    assert budget_used(srv) + core.SLAB_PAGE > srv.store.memory_limit, (budget_used(srv), srv.store.memory_limit)


def populate_swarms(srv):
    """Swarms to answer with: H[0] with IPv4 and IPv6 peers (seeders,
    leechers, one completed), H[1] with one IPv4 leecher, H[2] known but
    peerless (restored from a state line), H[3] with 60 IPv4 peers."""
    for i in range(6):
        srv.announce_http(H[0], "10.0.0.%d" % (i + 1), 6881 + i, seeder=i % 2 == 0, completed=i == 0)
    for i in range(3):
        srv.announce_http(H[0], "2001:db8::%x" % (i + 1), 7000 + i, seeder=i == 0)
    srv.announce_http(H[1], "192.0.2.1", 51413)
    srv.store.restore(H[2], 100, 7)
    for i in range(60):
        srv.announce_http(H[3], "198.51.100.%d" % i, 1024 + i, seeder=i < 20)


def check_store(store):
    """The store's counters agree with what it holds, and its memory
    figures add up (unsigned figures that went negative show as huge)."""
    stats = store.stats()
    torrents = store.torrents()
    assert stats["torrents"] == len(torrents), (stats, len(torrents))
    assert stats["peers"] == sum(t[1] + t[2] for t in torrents), stats
    assert stats["seeders"] == sum(t[1] for t in torrents), stats
    assert [t[0] for t in torrents] == sorted({t[0] for t in torrents}), "torrents out of order or repeated"
    peers4 = peers6 = seeders = 0
    for t in torrents:
        peers = store.peers(t[0])
        assert len(peers) == t[1] + t[2], (t, peers)
        assert len({(p[0], p[1]) for p in peers}) == len(peers), "a peer is stored twice"
        peers4 += sum(len(p[0]) == 4 for p in peers)
        peers6 += sum(len(p[0]) == 16 for p in peers)
        seeders += sum(p[2] & 0x80 != 0 for p in peers)   # PEER_FLAG_SEEDING
    assert (stats["peers4"], stats["peers6"]) == (peers4, peers6), stats
    assert stats["seeders"] == seeders, stats
    mem = stats["memory"]
    for key, value in mem.items():
        assert 0 <= value < 1 << 40, (key, mem)
    assert mem["total"] == store.memory_bytes


@contextlib.contextmanager
def no_leaks():
    """The core's blocks allocated and freed balance over the block: use it
    around everything that creates and drops a server."""
    before = core.allocation_counts()
    yield
    after = core.allocation_counts()
    live = (after[0] - after[1]) - (before[0] - before[1])
    assert live == 0, "%d core block(s) not given back" % live


def expire(srv):
    """Age everything out and clean: every torrent that has no peers and
    no recent restore goes, and the store's accounting must still hold."""
    srv.clock_offset += 3 * 86400
    srv.store.clean()
    check_store(srv.store)


# ---------------------------------------------------------------- HTTP answers

def parse_http(resp):
    """(status line, headers dict, body) of one of the tracker's answers,
    asserting the framing: status line, CRLF headers, blank line, and a
    body delimited one of three ways: exactly as long as Content-Length
    says; chunked (HTTP/1.1), every chunk's size right and the last chunk
    last; or, for a streamed HTTP/1.0 answer, until the connection closed.
    The body returned is the decoded one."""
    assert resp.startswith((b"HTTP/1.0 ", b"HTTP/1.1 ")), resp[:80]
    head, sep, body = resp.partition(b"\r\n\r\n")
    assert sep, "no blank line after the header: %r" % resp[:200]
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b": ")
        assert colon and name and b"\n" not in line and b"\r" not in line, line
        assert name not in headers, "header %r twice" % name
        headers[name] = value
    if b"Transfer-Encoding" in headers:
        assert headers[b"Transfer-Encoding"] == b"chunked" and b"Content-Length" not in headers, head
        assert lines[0].startswith(b"HTTP/1.1 "), head
        return lines[0], headers, dechunk(body)
    if b"Content-Length" not in headers:
        # Until close: only a large answer still being made for an HTTP/1.0 client.
        assert lines[0] == b"HTTP/1.0 200 OK", head
        return lines[0], headers, body
    assert headers[b"Content-Length"].isdigit(), head
    assert int(headers[b"Content-Length"]) == len(body), (head, len(body))
    return lines[0], headers, body


def dechunk(raw):
    """The body of a chunked answer: each chunk a hex size line, the data and
    CRLF; a last chunk of size 0 and the blank line end it, nothing after."""
    out = []
    pos = 0
    while True:
        end = raw.find(b"\r\n", pos)
        assert end > pos, "no chunk size line at %d: %r" % (pos, raw[pos:pos + 40])
        line = raw[pos:end]
        assert all(c in b"0123456789abcdefABCDEF" for c in line), line
        size = int(line, 16)
        pos = end + 2
        if size == 0:
            assert raw[pos:] == b"\r\n", "after the last chunk: %r" % raw[pos:pos + 40]
            return b"".join(out)
        assert len(raw) >= pos + size + 2, "a chunk of %d cut off" % size
        out.append(raw[pos:pos + size])
        assert raw[pos + size:pos + size + 2] == b"\r\n", "no CRLF after a chunk of %d" % size
        pos += size + 2


def check_http(resp, redirect=False):
    """Every HTTP answer is either one of the documented error pages (exact
    bytes), the redirect, or a 200 with a correct framing whose body is well
    formed (bencode, gzip, text). Returns (status line, body)."""
    assert resp, "no answer at all"
    status, headers, body = parse_http(resp)
    if status == b"HTTP/1.0 302 Found":
        assert redirect, "302 without a redirect URL configured"
        assert resp == REDIRECT_PAGE, resp
        return status, body
    if not status.endswith(b" 200 OK"):
        assert resp in ERROR_PAGES, resp[:200]
        return status, body
    ctype = headers.get(b"Content-Type")
    assert ctype in (b"text/plain", b"text/plain; version=0.0.4"), headers
    expected = {b"Content-Type"} | ({b"Content-Length"} & set(headers)) | ({b"Transfer-Encoding"} & set(headers))
    if headers.get(b"Content-Encoding") is not None:
        assert headers[b"Content-Encoding"] == b"gzip", headers
        # The original's gzip answers are HTTP/1.0; only a chunked stream says 1.1.
        assert status == (b"HTTP/1.1 200 OK" if b"Transfer-Encoding" in headers else b"HTTP/1.0 200 OK"), status
        expected.add(b"Content-Encoding")
        body = gzip.decompress(body)
    assert set(headers) == expected, headers
    if body[:1] == b"d" and ctype == b"text/plain":
        check_bencoded(body)
    return status, body


def check_bencoded(body):
    """A bencoded body decodes whole, and announce answers carry whole
    compact peers of each family."""
    try:
        value = bdecode(body)
    except (ValueError, IndexError) as exc:
        # Only bodies meant as bencode are checked: a text stats mode could
        # start with "d" in principle; ours do not.
        raise AssertionError("body is not bencode: %r (%s)" % (body[:200], exc))
    assert isinstance(value, dict), body[:200]
    if b"failure reason" in value:
        assert body in FAILURES, body
        return value
    if b"interval" in value:
        assert 1620 <= value[b"interval"] <= 1979, value
        assert value[b"min interval"] == value[b"interval"] // 2, value
        assert len(value[b"peers"]) % 6 == 0, value
        assert len(value.get(b"peers6", b"")) % 18 == 0, value
        count = len(value[b"peers"]) // 6 + len(value.get(b"peers6", b"")) // 18
        assert count <= 200 and count <= value[b"complete"] + value[b"incomplete"], value
    return value


# ---------------------------------------------------------------- hypothesis

def pct(raw):
    """Percent-encode every byte (what clients do with an info_hash)."""
    return "".join("%%%02X" % b for b in raw).encode()


def mutated(bases):
    """A hypothesis strategy: one of `bases` with up to four byte-level
    edits (overwrite, insert, delete, truncate, repeat a slice), as a
    mutation fuzzer would make them."""
    from hypothesis import strategies as st

    @st.composite
    def build(draw):
        data = bytearray(draw(st.sampled_from(bases)))
        for _ in range(draw(st.integers(0, 4))):
            op = draw(st.sampled_from(["set", "insert", "delete", "truncate", "repeat"]))
            pos = draw(st.integers(0, len(data)))
            if op == "set" and pos < len(data):
                data[pos] = draw(st.integers(0, 255))
            elif op == "insert":
                data[pos:pos] = draw(st.binary(max_size=8))
            elif op == "delete":
                del data[pos:pos + draw(st.integers(1, 8))]
            elif op == "truncate":
                del data[pos:]
            elif op == "repeat":
                data[pos:pos] = data[pos:pos + draw(st.integers(1, 40))] * draw(st.integers(1, 3))
        return bytes(data)

    return build()


# ---------------------------------------------------------------- atheris

def instrumented(module_name):
    """A context for the harness' imports: atheris instruments the Python
    modules imported in it when the harness runs under atheris, nothing
    otherwise (under pytest, or without atheris)."""
    if module_name == "__main__":
        try:
            import atheris
        except ImportError:
            pass
        else:
            return atheris.instrument_imports()
    return contextlib.nullcontext()


def main(one_input, target):
    """Run a harness under atheris (libFuzzer flags from the command line).
    New inputs go to $OT_FUZZ_WORK/<target> (default /tmp/ot-fuzz/<target>),
    the seeds are read from tests/fuzz/corpus/<target>; give corpus
    directories yourself to override both."""
    import atheris
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):
        work = os.path.join(os.environ.get("OT_FUZZ_WORK", "/tmp/ot-fuzz"), target)
        os.makedirs(work, exist_ok=True)
        argv += [work, os.path.join(CORPUS, target)]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
