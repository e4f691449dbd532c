"""The fixed-buffer audit of issue 12 (helpers/bounds.py says how it proves
every bound and holds the sizes): large answers (full scrape, tpbs,
statedump): the answer stage and its flush, the gzipped header in the head
room, and the blocks of a streamed answer at their boundaries.
"""

import hashlib
import os
import re
import time
import zlib

import pytest

from helpers.bounds import (OT_ANSWER_STAGE, OT_HTTP_HEAD_ROOM, U32, digits, h, http, new_server, scrape_entry,
                            scrape_swarm, split)

# ---------------------------------------------------------------- the answer stage (OT_ANSWER_STAGE)

@pytest.mark.parametrize("gzip", [False, True])
def test_full_scrape_across_the_stage_flush(gzip):
    """_scrape_slice flushes the stage whenever less than OT_ANSWER_ENTRY_MAX
    (256) is left; with one slice taking every torrent, the widest entries
    (78 bytes) cross the 63552-byte stage twice. The body must be every
    entry, once, in hash order."""
    srv = new_server(answer_slice=100000)
    n = 2 * OT_ANSWER_STAGE // 78 + 7
    hashes = sorted(scrape_swarm(srv, n, "stage"))
    extra = b"Accept-Encoding: gzip\r\n" if gzip else b""
    status, headers, body = split(http(srv, "/scrape", extra=extra))
    assert status == "HTTP/1.0 200 OK"
    if gzip:
        assert headers["Content-Encoding"] == "gzip"
        body = zlib.decompress(body, 31)
    assert body == b"d5:filesd" + b"".join(scrape_entry(x, 1, U32, 1) for x in hashes) + b"ee"
    assert len(body) > 2 * OT_ANSWER_STAGE


def test_statedump_and_tpbs_lines_across_the_stage():
    srv = new_server(answer_slice=100000)
    n = OT_ANSWER_STAGE // 60 + 11
    hashes = sorted(scrape_swarm(srv, n, "stage-txt"))
    body = split(http(srv, "/stats?mode=tpbs&format=txt"))[2]
    assert body == b"".join(b"%s:1:1\n" % x.hex().upper().encode() for x in hashes)
    body = split(http(srv, "/stats?mode=statedump"))[2]
    lines = body.split(b"\n")[:-1]
    assert [line.split(b":")[0] for line in lines] == [x.hex().upper().encode() for x in hashes]
    assert all(line.endswith(b":%d" % U32) for line in lines)


# ---------------------------------------------------------------- found by this audit

def test_gzipped_answer_header_fits_the_head_room_for_any_body():
    """The header of a worker-built gzipped answer, as written: HTTP/1.0 200
    OK, Content-Type, Content-Encoding: gzip, Content-Length: 87 bytes plus
    the Content-Length digits. It has to fit OT_HTTP_HEAD_ROOM for every
    body length a size_t can give (20 digits). This audit found that with
    the head room at 96 a gzipped full scrape, tpbs or statedump of 10^9
    bytes or more (97 bytes of header) started its header one byte before
    its heap block; e4c197d made the room 128 and checks the bound where the
    header is written. A real 1 GB body would need some 30 million
    torrents, so the arithmetic is taken from the bytes the tracker writes
    for a small one."""
    srv = new_server()
    srv.announce_http(h("gzip-head"), "10.15.0.1", 6881)
    answer = http(srv, "/scrape", extra=b"Accept-Encoding: gzip\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [b"HTTP/1.0 200 OK", b"Content-Type: text/plain", b"Content-Encoding: gzip",
                                   b"Content-Length: %d" % len(body)]
    fixed = len(head) + 4 - digits(len(body))
    assert fixed == 87
    assert fixed + 20 == 107 <= OT_HTTP_HEAD_ROOM
    assert fixed + 10 > 96      # the old room: a 1 GB body did not fit


# ---------------------------------------------------------------- streamed answers (issue 15)

# One block of a streamed answer: OT_STREAM_BLOCK (16384) less its 16-byte
# header (answers.pxd). A statedump's body is exactly the state file's lines,
# so a state of chosen lines gives a body of exactly the length wanted.
BLOCK_ROOM = 16384 - 16


def _state_lines_of_length(total, minutes):
    """State lines whose statedump is exactly `total` bytes: each is
    `<40 hex>:<minutes>:<downloaded>\\n`, its length set by the digits of
    downloaded (1 to 4)."""
    base = 40 + 1 + len(str(minutes)) + 1 + 1
    n = total // (base + 1)
    extra = total - n * (base + 1)      # digits beyond one per line, to spread
    assert 0 <= extra <= 3 * n
    lines = []
    for i in range(n):
        digits = 1 + min(3, extra)
        extra -= digits - 1
        downloaded = 10 ** (digits - 1) + i % 9
        h = hashlib.sha1(b"block-bound %d" % i).hexdigest().upper()
        lines.append("%s:%d:%d\n" % (h, minutes, downloaded))
    assert sum(map(len, lines)) == total
    return sorted(lines)


@pytest.mark.parametrize("total", [BLOCK_ROOM - 1, BLOCK_ROOM, BLOCK_ROOM + 1,
                                   3 * BLOCK_ROOM - 1, 3 * BLOCK_ROOM, 3 * BLOCK_ROOM + 1])
def test_stream_block_boundaries(total):
    """A body one byte short of a block, exactly a block, one over (and the
    same at three blocks, past the reader's window, so that it is streamed
    while blocks are freed behind the reader): every byte arrives once, in
    order, over HTTP/1.0 (until close) and HTTP/1.1 (chunked when streamed)."""
    from helpers.trackerproc import Tracker, dechunk, same_bytes
    minutes = int(time.time()) // 60
    lines = _state_lines_of_length(total, minutes)
    t = Tracker(config=["tracker.fullscrape_cache 0"])
    path = os.path.join(t.dir, "state.txt")
    with open(path, "w") as f:
        f.writelines(lines)
    os.chmod(path, 0o644)
    t.argv += ["-l", path]
    with t:
        expected = "".join(lines).encode()
        for version in (b"1.0", b"1.1"):
            raw = t.http(b"GET /stats?mode=statedump HTTP/" + version + b"\r\n\r\n", timeout=10)
            head, _, body = raw.partition(b"\r\n\r\n")
            if b"Transfer-Encoding: chunked" in head:
                assert version == b"1.1"
                body = dechunk(body)
            elif b"Content-Length: " in head:
                assert head.endswith(b"Content-Length: %d" % len(body))
            else:
                assert version == b"1.0" and head == b"HTTP/1.0 200 OK\r\nContent-Type: text/plain"
            # A clean pass in a later minute may move a peerless torrent's
            # base minute (to that minute less 45, as many digits): compare
            # the lines without it, their lengths exactly.
            assert len(body) == total
            assert same_bytes(re.sub(rb":\d+:", b":-:", body), re.sub(rb":\d+:", b":-:", expected),
                              "HTTP/%s body of %d bytes" % (version.decode(), total))
