"""Fuzz the whole HTTP path in-process: framing limit, routing, the query
scanner, announce, scrape, /stats in every mode, full scrape, error pages.

Input: one setup byte (common.new_server), one client byte (bits 0-2: the
client of even requests, bits 4-6: of odd ones when bit 3 is set; bit 7:
large answers streamed slice by slice from a server with more torrents, so
that they go chunked or until close, rather than made whole first), then
up to 8 requests separated by common.SEP, answered in order by one server
through the loop's own steps (conn_begin, the stream, answer_step).

After every request: the answer is a documented error page, the redirect,
or a 200 whose Content-Length is right and whose body is well-formed
(bencode decodes whole, gzip inflates); exactly one error is counted per
error page; the store's counters agree with its contents. After the input:
everything ages out cleanly and the core gives back every block it took.

    python tests/fuzz/fuzz_http.py -max_total_time=600
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

REQUEST_MAX = 8192


def client_of(selector, index):
    if selector & 8 and index % 2:
        return common.CLIENTS[(selector >> 4) & 7]
    return common.CLIENTS[selector & 7]


def one_input(data):
    if len(data) < 2:
        return
    setup, selector = data[0], data[1]
    streamed = bool(selector & 0x80)
    with common.no_leaks():
        srv = common.new_server(setup, streamed=streamed)
        for index, request in enumerate(common.split(data[2:])):
            errors = sum(srv.counters()["http_errors"])
            resp = srv.answer_http(request, client_of(selector, index), whole=not streamed)
            # The loop reads at most REQUEST_MAX bytes at once and answers once
            # the header has ended in them; a longer unfinished one is a 500,
            # a shorter one waits for the header deadline and gets nothing.
            head = request[:REQUEST_MAX]
            if not (b"\n\n" in head or b"\r\n\r\n" in head):
                assert resp == (common.ERR_500 if len(request) > REQUEST_MAX else b""), resp[:100]
                assert sum(srv.counters()["http_errors"]) - errors == (len(request) > REQUEST_MAX)
                common.check_store(srv.store)
                continue
            status, _ = common.check_http(resp, redirect=bool(setup & 4))
            counted = sum(srv.counters()["http_errors"]) - errors
            is_error = not status.endswith(b" 200 OK")
            assert counted == is_error, (counted, resp[:100])
            if not request.startswith(b"GET /"):
                assert resp == common.ERR_400
            common.check_store(srv.store)
        common.expire(srv)
        del srv


# ---------------------------------------------------------------- grammar (hypothesis)

STATS_MODES = [b"peer", b"conn", b"scrp", b"udp4", b"tcp4", b"busy", b"torr", b"fscr", b"s24s", b"tpbs",
               b"herr", b"completed", b"top100", b"top10", b"renew", b"syncs", b"version", b"everything",
               b"statedump", b"fulllog", b"woodpeckers", b"numwants", b"prometheus", b"nonsense", b""]
FORMATS = [b"bin", b"ben", b"url", b"txt", b"txtp", b"xml", b""]
HEADERS = [b"Accept-Encoding: gzip", b"Accept-Encoding: gzip;q=0", b"accept-encoding: identity, GZIP ; q=0.5",
           b"Accept-Encoding: *", b"Accept-Encoding: deflate, x-gzip", b"Accept-Encoding:gzip;q=1.000",
           b"X-Forwarded-For: 203.0.113.5", b"X-Forwarded-For: 2001:db8::99, 10.0.0.1",
           b"x-forwarded-for:\t198.51.100.7", b"X-Forwarded-For: garbage", b"Host: tracker",
           b"Connection: keep-alive", b"User-Agent: fuzz/1.0"]


def inputs():
    """Hypothesis strategy for whole inputs: mostly grammatical requests,
    some raw bytes, some mutated seed files."""
    from hypothesis import strategies as st

    def number():
        return st.one_of(st.integers(-2**33, 2**33).map(lambda v: str(v).encode()),
                         st.sampled_from([b"", b"-", b"0", b"65535", b"65536", b"4294967296", b"12abc", b"0x5",
                                          b"%30", b"-0"]))

    hashes = st.one_of(st.sampled_from(common.H).map(common.pct), st.sampled_from(common.H),
                       st.binary(min_size=18, max_size=22).map(common.pct), st.binary(max_size=30))
    values = {
        b"info_hash": hashes, b"peer_id": st.one_of(hashes, st.just(b"-XX0001-abcdefghijkl")),
        b"port": number(), b"left": number(), b"numwant": number(), b"compact": number(),
        b"compact6": number(), b"uploaded": number(),
        b"event": st.sampled_from([b"started", b"completed", b"stopped", b"paused", b"", b"%73topped", b"%zz"]),
        b"ip": st.sampled_from([b"1.2.3.4", b"::1", b"2001:db8::1", b"1.2.3", b"300.1.1.1", b"::ffff:1.2.3.4",
                                b"1.2.3.4%00x", b"fe80::1%25eth0", b""]),
        b"mode": st.sampled_from(STATS_MODES), b"format": st.sampled_from(FORMATS),
    }
    param = st.one_of(
        st.sampled_from(sorted(values)).flatmap(
            lambda k: st.tuples(st.just(k), values[k]).map(lambda kv: kv[0] + b"=" + kv[1])),
        st.sampled_from(sorted(values)),                                  # a name without a value
        st.binary(max_size=12),                                           # anything
        st.sampled_from([b"", b"=", b"&", b"key=a@b", b"key=[1]", b"x=a?b", b"INFO_HASH=x"]))
    path = st.one_of(st.sampled_from([b"announce", b"announce.php", b"a", b"%61nnounce", b"scrape", b"scrape.php",
                                      b"sc", b"stats", b"metrics", b"", b"Announce", b"stats/", b"x", b"%zz",
                                      b"passkey/announce", b"?"]),
                     st.binary(max_size=10))
    request = st.builds(
        lambda method, slashes, path, query_sep, params, amp, tail, headers, end: (
            method + slashes + path + query_sep + amp.join(params) + tail + b"".join(h + b"\r\n" for h in headers)
            + end),
        st.sampled_from([b"GET /"] * 8 + [b"POST /", b"get /", b"GET ", b"", b"GET /\0"]),
        st.sampled_from([b"", b"", b"/", b"//"]),
        path,
        st.sampled_from([b"?", b"?", b" ?", b"", b"??"]),
        st.lists(param, max_size=8),
        st.sampled_from([b"&", b"&", b"&&", b"&amp;"]),
        st.sampled_from([b" HTTP/1.0\r\n", b" HTTP/1.1\r\n", b"\r\n", b"\n", b"", b" HTTP/1.0"]),
        st.lists(st.sampled_from(HEADERS), max_size=3),
        st.sampled_from([b"\r\n", b"\n", b"", b"\r\n\r\nbody"]))
    many = st.builds(lambda head, reqs: head + common.SEP.join(reqs),
                     st.binary(min_size=2, max_size=2),
                     st.lists(st.one_of(request, request, st.binary(max_size=64)), min_size=1, max_size=5))
    return st.one_of(many, many, many, st.binary(max_size=300), common.mutated(common.seeds("http")))


if __name__ == "__main__":
    common.main(one_input, "http")
