"""Fuzz the query-string scanner against a slow model written from the
original's rules in docs/compatibility.md, HTTP (byte classes, escapes,
skipping; announce and scrape parameters), not from the C code.

Input: one selector byte, then the raw query string.
  bit 0     announce (0) or scrape (1)
  bits 1-2  access: open, white list (H[0..2], H[4]), black list (H[1]), open
  bit 3     tracker.ip_from_query on
  bits 4-5  what follows the query: " HTTP/1.0\\r\\n\\r\\n", "\\r\\n", nothing,
            "&x HTTP/1.1\\n\\n"
  bits 6-7  the client: 127.0.0.1, ::1, 192.0.2.9, 2001:db8::7

The model decides the outcome (400, the missing-hash failure, the access
refusal, a stop, an announce of a given peer with given flags and numwant,
a scrape of given hashes); the harness checks the answer byte for byte
where docs/compatibility.md fixes it, and checks the store for the rest: the announced
peer is stored with the right seeding flag, a stopped one is gone, counts
in the body are the store's, a scrape lists the requested known torrents
in request order.

    python tests/fuzz/fuzz_query.py -max_total_time=600
"""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from helpers.reference import bdecode_ordered  # noqa: E402

TAILS = [b" HTTP/1.0\r\n\r\n", b"\r\n", b"", b"&x HTTP/1.1\n\n"]
CLIENTS = ["127.0.0.1", "::1", "192.0.2.9", "2001:db8::7"]

# The query's byte classes (docs/compatibility.md, HTTP), one row of the table each.
ORDINARY = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!%'()*+,-./:;<>_~")
TERMINATORS = frozenset(b" \r\n\0")
HARD_INVALID = frozenset(b'"#$[\\]^`{|}')
HEX = frozenset(b"0123456789abcdefABCDEF")


class Bad(Exception):
    """The request is a 400."""


class Query:
    """A cursor over the query (NUL-terminated, as the tracker sees it)."""

    def __init__(self, raw):
        self.s = raw + b"\0"
        self.i = 0

    def scan(self, mode):
        """Decode a parameter name ("name") or value ("value"). Returns the
        bytes, or None at the end of the query (a terminator before any
        byte was taken); raises Bad on a parse error."""
        out = bytearray()
        s, i = self.s, self.i
        while True:
            c = s[i]
            i += 1
            allowed = c in ORDINARY or c == 63 or (mode == "value" and c in (61, 64))   # ? = @
            if not allowed:
                break
            if c == 37:   # '%'
                if s[i] not in HEX or s[i + 1] not in HEX:
                    raise Bad("bad escape")
                c = int(s[i:i + 2], 16)
                i += 2
            out.append(c)
        if c in TERMINATORS:
            if not out:
                return None
            i -= 1                   # left for the next scan to end on
        elif c == 61 and mode == "name":
            pass                     # '=' ends a name
        elif c == 38:                # '&': ends a value (consumed), a name (kept)
            if mode == "name":
                i -= 1
        else:
            raise Bad("byte %d in a %s" % (c, mode))
        self.i = i
        return bytes(out)

    def skip(self):
        """An unknown parameter's value: everything a value may hold, then
        the first other byte unless it is a terminator or hard-invalid."""
        s, i = self.s, self.i
        while s[i] in ORDINARY or s[i] in b"?=@":
            i += 1
        if s[i] not in TERMINATORS and s[i] not in HARD_INVALID:
            i += 1
        self.i = i


def fixed_int(value):
    """Numbers (docs/compatibility.md, HTTP): optional '-', decimal digits in 32-bit wrapping
    arithmetic. (number as int32, whole value consumed?)"""
    minus = value[:1] == b"-"
    digits = value[1:] if minus else value
    n = 0
    taken = 0
    for c in digits:
        if not 48 <= c <= 57:
            break
        n = (n * 10 + c - 48) & 0xFFFFFFFF
        taken += 1
    if minus:
        n = -n & 0xFFFFFFFF
    if n >= 1 << 31:
        n -= 1 << 32
    return n, taken == len(digits)


def parse_ip(value):
    """The address an ip= value names, as (family bytes), or None. The C
    side hands the bytes to inet_pton as a C string, so a decoded NUL ends
    the text there."""
    text = value.split(b"\0", 1)[0]
    if not text or len(value) >= 64:
        return None
    try:
        text = text.decode("ascii")
    except UnicodeDecodeError:
        return None
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            raw = socket.inet_pton(family, text)
        except OSError:
            continue
        if family == socket.AF_INET6 and raw[:12] == b"\0" * 10 + b"\xff\xff":
            raw = raw[12:]
        return raw
    return None


def model_announce(raw, ip_from_query):
    """("bad"|"compact"|"nohash"|"stop"|"announce", details)."""
    q = Query(raw)
    info_hash = None
    port, seeder, numwant, stopped, ip = 0, False, 50, False, None
    try:
        while True:
            name = q.scan("name")
            if name is None:
                break
            known = (b"info_hash", b"port", b"left", b"event", b"numwant", b"compact", b"compact6", b"peer_id")
            if name not in known and not (ip_from_query and name == b"ip"):
                q.skip()
                continue
            value = q.scan("value")
            if name == b"event":
                stopped |= value == b"stopped"
                continue
            value = b"" if value is None else value
            if name == b"info_hash":
                if info_hash is not None or len(value) != 20:
                    raise Bad("info_hash")
                info_hash = value
            elif name == b"peer_id":
                if len(value) != 20:
                    raise Bad("peer_id")
            elif name == b"port":
                number, whole = fixed_int(value)
                if not value or not whole or number > 0xFFFF:
                    raise Bad("port")
                port = number & 0xFFFF
            elif name == b"left":
                if not value:
                    raise Bad("left")
                number, whole = fixed_int(value)
                seeder = not whole or number == 0
            elif name == b"numwant":
                number, whole = fixed_int(value)
                if not value or not whole:
                    raise Bad("numwant")
                numwant = 50 if number < 0 else min(number, 200)
            elif name in (b"compact", b"compact6"):
                number, whole = fixed_int(value)
                if not value or not whole:
                    raise Bad("compact")
                if number == 0:
                    return "compact", None
            elif name == b"ip":
                ip = parse_ip(value)
                if ip is None:
                    raise Bad("ip")
    except Bad:
        return "bad", None
    if info_hash is None:
        return "nohash", None
    return ("stop" if stopped else "announce"), (info_hash, port, seeder, numwant, ip)


def model_scrape(raw):
    q = Query(raw)
    hashes = []
    try:
        while True:
            name = q.scan("name")
            if name is None:
                break
            if name != b"info_hash":
                q.skip()
                continue
            value = q.scan("value")
            if value is None or len(value) != 20:
                raise Bad("info_hash")
            hashes.append(value)
    except Bad:
        return None
    return hashes[:64] if hashes else None


def peer_key(client, ip):
    if ip is not None:
        return ip
    if ":" in client:
        raw = socket.inet_pton(socket.AF_INET6, client)
        return raw[12:] if raw[:12] == b"\0" * 10 + b"\xff\xff" else raw
    return socket.inet_aton(client)


def one_input(data):
    if not data:
        return
    selector, query = data[0], data[1:]
    setup = ((selector >> 1) & 3) | (8 if selector & 8 else 0)
    client = CLIENTS[selector >> 6]
    request = (b"GET /scrape?" if selector & 1 else b"GET /announce?") + query + TAILS[(selector >> 4) & 3]
    if len(request) > 8192:
        return
    with common.no_leaks():
        srv = common.new_server(setup)
        resp = srv.respond_http(request, client)   # the scanner on exactly these bytes
        _, body = common.check_http(resp)
        if selector & 1:
            check_scrape(srv, model_scrape(query + TAILS[(selector >> 4) & 3]), resp, body)
        else:
            check_announce(srv, client, model_announce(query + TAILS[(selector >> 4) & 3], bool(selector & 8)),
                           resp, body, common.limited(setup))
        common.check_store(srv.store)
        common.expire(srv)
        del srv


def counts_of(store, info_hash):
    for h, seeders, leechers, completed, _ in store.torrents():
        if h == info_hash:
            return seeders, leechers, completed
    return None


def check_announce(srv, client, outcome, resp, body, limited):
    kind, details = outcome
    if kind in ("bad", "compact"):
        assert resp == common.ERR_400, (outcome, resp)
        return
    if kind == "nohash":
        assert body == common.NO_HASH, (outcome, body)
        return
    info_hash, port, seeder, numwant, ip = details
    peer = (peer_key(client, ip), port)
    stored = {(p[0], p[1]): p[2] for p in srv.store.peers(info_hash)}
    value = dict(bdecode_ordered(body))
    if kind == "stop":
        assert [k for k, _ in bdecode_ordered(body)] == [b"complete", b"incomplete", b"interval", b"min interval",
                                                          b"peers"], body
        assert peer not in stored and value[b"peers"] == b"", (outcome, body)
        counts = counts_of(srv.store, info_hash) or (0, 0, 0)
        assert (value[b"complete"], value[b"incomplete"]) == counts[:2], (counts, body)
        return
    if not srv.allows(info_hash):
        assert body == common.NOT_AUTHORIZED and peer not in stored, (outcome, body)
        return
    if limited and body == common.core.failure_body(common.MEMORY_REFUSAL):
        assert peer not in stored, (outcome, stored)      # refused under tracker.memory_limit
        return
    if limited and peer not in stored:
        common.check_unstored(srv)
        return
    assert peer in stored, (outcome, stored)
    assert bool(stored[peer] & 0x80) == seeder, (outcome, stored[peer])
    seeders, leechers, completed = counts_of(srv.store, info_hash)
    assert (value[b"complete"], value[b"incomplete"], value[b"downloaded"]) == (seeders, leechers, completed), body
    returned = len(value[b"peers"]) // 6 + len(value.get(b"peers6", b"")) // 18
    assert returned == min(numwant, seeders + leechers), (returned, numwant, seeders + leechers)


def check_scrape(srv, hashes, resp, body):
    if hashes is None:
        assert resp == common.ERR_400, resp
        return
    expected = b"d5:filesd"
    for h in hashes:
        counts = counts_of(srv.store, h)
        if counts is not None:
            expected += b"20:%sd8:completei%de10:downloadedi%de10:incompletei%dee" % (
                h, counts[0], counts[2], counts[1])
    assert body == expected + b"ee", (hashes, body)


# ---------------------------------------------------------------- grammar (hypothesis)

def inputs():
    """Hypothesis strategy: parameter lists drawn from the cases of
    docs/compatibility.md, HTTP (escapes good and bad, every byte class,
    numbers at their edges)."""
    from hypothesis import strategies as st

    escaped = st.binary(max_size=24).map(common.pct)
    bytes_of_every_class = st.lists(st.sampled_from([b"a", b"%", b"%4", b"%4g", b"%41", b"?", b"=", b"@", b"&",
                                                     b" ", b"\r", b"\n", b"\0", b"#", b"[", b"\x7f", b"\xff",
                                                     b"\x01", b"+", b"~"]), max_size=6).map(b"".join)
    number = st.one_of(st.integers(-2**33, 2**33).map(lambda v: str(v).encode()),
                       st.sampled_from([b"", b"-", b"-0", b"0", b"65535", b"65536", b"-65536", b"4294967296",
                                        b"4294967295", b"2147483648", b"12abc", b"0x5", b"%30", b"%2D1"]))
    hashes = st.one_of(st.sampled_from(common.H).map(common.pct), st.sampled_from(common.H),
                       st.binary(min_size=19, max_size=21).map(common.pct))
    value = st.one_of(number, hashes, escaped, bytes_of_every_class,
                      st.sampled_from([b"completed", b"stopped", b"started", b"%73topped", b"1.2.3.4", b"::1",
                                       b"2001:db8::1", b"::ffff:10.0.0.1", b"1.2.3.4%00x", b"01.2.3.4"]))
    name = st.one_of(st.sampled_from([b"info_hash", b"info%5Fhash", b"port", b"left", b"event", b"numwant",
                                      b"compact", b"compact6", b"peer_id", b"ip", b"key", b"INFO_HASH", b""]),
                     bytes_of_every_class)
    typed = {b"info_hash": hashes, b"port": number, b"left": number, b"numwant": number, b"compact": number,
             b"compact6": number, b"peer_id": hashes, b"ip": value,
             b"event": st.sampled_from([b"completed", b"stopped", b"started", b"%73topped", b"", b"%zz"])}
    wild = st.one_of(st.sampled_from(sorted(typed)).flatmap(lambda k: typed[k].map(lambda v: k + b"=" + v)),
                     st.builds(lambda n, v: n + b"=" + v, name, value), name, bytes_of_every_class)
    # Mostly well-formed announces, so the model's later branches (stop,
    # access, flags, numwant) are reached, with now and then a wild one.
    edges = st.sampled_from([-1, -65535, 65536, 2**31, 2**32 - 1, 2**32, 2**32 + 6881])
    good = {b"port": st.one_of(st.integers(0, 65535), st.integers(0, 65535), edges),
            b"left": st.sampled_from([0, 0, 1, 4096, 2**40]), b"numwant": st.one_of(st.integers(-3, 260), edges),
            b"compact": st.just(1), b"peer_id": st.just(b"-XX0001-abcdefghijkl"),
            b"event": st.sampled_from([b"started", b"completed", b"stopped", b"stopped", b"paused"]),
            b"ip": st.sampled_from([b"10.0.0.1", b"2001:db8::3", b"::ffff:10.0.0.2", b"198.51.100.4"]),
            b"uploaded": st.integers(0, 10**12), b"key": st.just(b"abcdef")}
    good_param = st.sampled_from(sorted(good)).flatmap(
        lambda k: good[k].map(lambda v: k + b"=" + (v if isinstance(v, bytes) else str(v).encode())))
    first = st.sampled_from(common.H).map(lambda h: b"info_hash=" + common.pct(h))
    params = st.builds(lambda first, rest, extra, at: [first] + rest[:at] + extra + rest[at:],
                       st.one_of(first, first, first, good_param), st.lists(good_param, max_size=6), st.lists(wild, max_size=1), st.integers(0, 6))
    query = st.builds(lambda params, seps: b"".join(p + s for p, s in zip(params, seps)),
                      params, st.lists(st.sampled_from([b"&"] * 6 + [b"&&", b"", b" "]), min_size=8, max_size=8))
    selected = st.builds(lambda sel, q: bytes([sel]) + q, st.integers(0, 255), query)
    return st.one_of(selected, selected, selected, st.binary(max_size=200), common.mutated(common.seeds("query")))


if __name__ == "__main__":
    common.main(one_input, "query")
