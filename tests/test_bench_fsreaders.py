"""The full-scrape readers of the benchmark (bench/fsreaders.c) read every framing right
and catch every broken answer.

Neither tracker sends chunked answers yet, so a scripted server on loopback plays each
framing (Content-Length, connection close, chunked with extensions and a trailer, kept
connections, gzip) and each fault (truncation, a wrong entry count, an unfinished gzip
stream as the C original sends, gzip nobody asked for, a bad chunk size); the readers must
accept exactly the good ones. Runs in a few seconds; no tracker involved.
"""

import gzip
import json
import os
import random
import socket
import subprocess
import sys
import threading
import zlib

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
import announce_storm  # noqa: E402

ENTRIES = 300


def full_scrape(n):
    rnd = random.Random(n)
    ents = b"".join(b"20:" + rnd.randbytes(20) + b"d8:completei%de10:downloadedi%de10:incompletei%dee" % (
        rnd.randrange(30), rnd.randrange(1000), rnd.randrange(30)) for _ in range(n))
    return b"d5:filesd" + ents + b"ee"


def chunked(body, rnd):
    out, i = [], 0
    while i < len(body):
        n = rnd.choice((1, 2, 7, 100, 4096, 70000))
        ext = b";x=1" if rnd.random() < 0.2 else b""
        out.append(b"%x%s\r\n%s\r\n" % (len(body[i:i + n]), ext, body[i:i + n]))
        i += n
    return b"".join(out) + b"0\r\nX-Trailer: 1\r\n\r\n"


def unfinished_gzip(body):
    """A gzip stream flushed but never finished: the C original's large gzipped full scrape."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(body) + c.flush(zlib.Z_SYNC_FLUSH)


def answer(mode, rnd):
    """(head lines, body, keep the connection)"""
    body = full_scrape(ENTRIES - 1 if mode == "count" else ENTRIES)
    if mode in ("length", "count"):
        return [b"HTTP/1.0 200 OK", b"Content-Length: %d" % len(body)], body, False
    if mode == "close":
        return [b"HTTP/1.0 200 OK"], body, False
    if mode == "close-truncated":
        # cut right after an entry: the body still ends in "ee"
        cut = body.rindex(b"ee20:", 0, len(body) // 2) + 2
        return [b"HTTP/1.0 200 OK"], body[:cut], False
    if mode == "chunked":
        return [b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked"], chunked(body, rnd), True
    if mode == "chunked-close":
        return [b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked", b"Connection: close"], chunked(body, rnd), False
    if mode in ("chunked-gzip", "gzip-unasked"):
        return ([b"HTTP/1.1 200 OK", b"Content-Encoding: gzip", b"Transfer-Encoding: chunked"],
                chunked(gzip.compress(body, 1), rnd), True)
    if mode == "gzip-length":
        z = gzip.compress(body)
        return [b"HTTP/1.0 200 OK", b"Content-Encoding: gzip", b"Content-Length: %d" % len(z)], z, False
    if mode == "gzip-unfinished":
        z = unfinished_gzip(body)
        return [b"HTTP/1.0 200 OK", b"Content-Encoding: gzip", b"Content-Length: %d" % len(z)], z, False
    if mode == "chunked-truncated":
        data = chunked(body, rnd)
        return [b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked", b"Connection: close"], data[:len(data) // 2], False
    if mode == "length-truncated":
        return [b"HTTP/1.0 200 OK", b"Content-Length: %d" % len(body)], body[:-3], False
    if mode == "bad-chunk-size":
        return [b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked", b"Connection: close"], \
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) + 5, body), False
    raise AssertionError(mode)


class Server:
    """One thread per connection; every socket has a timeout, so nothing outlives the test."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.requests = 0
        self.threads = [threading.Thread(target=self.accept_loop, daemon=True)]
        self.threads[0].start()

    def accept_loop(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self.serve, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def serve(self, c):
        rnd = random.Random(self.port)
        c.settimeout(2.0)
        buf = b""
        try:
            while not self.stop.is_set():
                while b"\r\n\r\n" not in buf:
                    d = c.recv(4096)
                    if not d:
                        return
                    buf += d
                req, _, buf = buf.partition(b"\r\n\r\n")
                assert req.startswith((b"GET /scrape HTTP/1.1\r\n", b"GET /scrape HTTP/1.0\r\n")), req
                self.requests += 1
                head, body, keep = answer(self.mode, rnd)
                c.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
                if not keep:
                    return
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop.set()
        self.sock.close()
        for t in self.threads:
            t.join(5)


@pytest.fixture(scope="module")
def binary():
    try:
        return announce_storm.build_c(os.path.join(REPO, "bench", "fsreaders.c"), "fsreaders", ["-lz"])
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip("cannot build bench/fsreaders.c: %s" % e)


def run(binary, mode, *extra):
    srv = Server(mode)
    try:
        p = subprocess.run([binary, "--port", str(srv.port), "--expect", str(ENTRIES), "--readers", "3",
                            "--slow", "1", "--slow-chunk", "4096", "--slow-interval-ms", "1", "--duration", "0.4",
                            "--drain", "3", "--timeout", "2", "--retry-ms", "20"] + list(extra),
                           capture_output=True, text=True, timeout=30)
    finally:
        srv.close()
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout), srv


@pytest.mark.parametrize("mode, framing, extra", [
    ("length", "content_length", ()),
    ("close", "close", ()),
    ("chunked", "chunked", ()),
    ("chunked-close", "chunked", ()),
    ("chunked-gzip", "chunked", ("--gzip",)),
    ("gzip-length", "content_length", ("--gzip",)),
])
def test_good_answers(binary, mode, framing, extra):
    r, srv = run(binary, mode, *extra)
    assert r["validation_errors"] == 0 and r["transport_errors"] == 0, r["errors"]
    assert r["completed"] > 0 and r["completed_slow"] > 0, r
    assert r["entries_min"] == r["entries_max"] == ENTRIES
    assert r["framing"][framing] == r["completed"] + r["completed_slow"]
    assert r["gzipped"] == (r["completed"] + r["completed_slow"] if extra else 0)
    assert len(r["completed_ms"]) == r["completed"]
    if mode == "chunked" or mode == "chunked-gzip":
        # kept connections: fewer connections than answers
        assert r["reused"] > 0


@pytest.mark.parametrize("mode, kinds, extra", [
    ("count", {"count"}, ()),
    ("chunked-truncated", {"truncated"}, ()),
    ("length-truncated", {"truncated"}, ()),
    ("gzip-unfinished", {"gzip"}, ("--gzip",)),
    ("gzip-unasked", {"encoding"}, ()),
    # the chunk takes in the last-chunk line, which then spoils the bencode
    ("bad-chunk-size", {"bencode", "framing", "truncated"}, ()),
    ("close-truncated", {"truncated"}, ()),
])
def test_bad_answers(binary, mode, kinds, extra):
    r, srv = run(binary, mode, *extra)
    assert r["completed"] == 0 and r["completed_slow"] == 0, r
    found = r["errors"]["validation"]
    assert found and set(found) <= kinds, r["errors"]
    assert sum(found.values()) >= 2


@pytest.mark.parametrize("mode, good", [("length", True), ("close", True), ("length-truncated", False),
                                        ("close-truncated", False)])
def test_loadgen_slow_readers(mode, good):
    """The storm's own slow readers (loadgen, HTTP/1.0) take a body that ends with the
    connection, as streamed answers to HTTP/1.0 will, and still see a truncation at an entry's
    end, which their old first-and-last-bytes check took for a whole body."""
    loadgen = announce_storm.build_loadgen()
    srv = Server(mode)
    try:
        p = subprocess.run([loadgen, "run", "--proto", "http", "--tcp-port", str(srv.port), "--http-conns", "0",
                            "--duration", "0.5", "--torrents", str(ENTRIES), "--fs-readers", "2",
                            "--fs-chunk", "65536", "--fs-interval-ms", "1"], capture_output=True, text=True, timeout=30)
    finally:
        srv.close()
    r = json.loads(p.stdout)
    fs_errors = {k: v for k, v in r["errors"]["validation"].items() if k.startswith("fullscrape")}
    if good:
        assert r["fullscrape"]["completed"] > 0 and not fs_errors, r
    else:
        assert r["fullscrape"]["completed"] == 0 and fs_errors, r


def test_nothing_listening(binary):
    """Refused connections are transport errors, retried after --retry-ms, and the run ends."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        p = subprocess.run([binary, "--port", str(port), "--expect", "1", "--readers", "2", "--duration", "0.3",
                            "--retry-ms", "50"], capture_output=True, text=True, timeout=30)
    r = json.loads(p.stdout)
    assert r["completed"] == 0 and r["validation_errors"] == 0
    assert 2 <= r["errors"]["transport"]["connect"] <= 40, r["errors"]
