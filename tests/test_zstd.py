"""zstd for large answers, in a core built with OT_ZSTD=1 (.ci/run builds
one and runs this file against it; in the default build, without libzstd,
it has nothing to test). Decoded with the zstd command-line tool."""

import shutil
import subprocess

import pytest

from opentracker_core import _core
from helpers.trackerproc import same_bytes, split_response
from test_fullscrape import full_scrape_entries, loaded_tracker, request
from test_large_answers import body_of, request11

pytestmark = [
    pytest.mark.skipif(not _core.ZSTD, reason="core built without OT_ZSTD=1 (see .ci/run's zstd stage)"),
    pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd tool decodes the answers"),
]


def unzstd(data):
    return subprocess.run(["zstd", "-d", "-c", "-q"], input=data, capture_output=True, check=True).stdout


def head_of(raw):
    return split_response(raw)[1]


def TRACKER(request):
    """The module's `tracker` (conftest.py): a loaded state."""
    return loaded_tracker(20_000, "zstd", config=["tracker.fullscrape_cache 0"])


def test_zstd_full_scrape_streamed_decodes_to_the_plain_one(tracker):
    plain = body_of(tracker.http(request11("/scrape"), timeout=30))
    assert len(full_scrape_entries(plain)) == 20_000
    raw = tracker.http(request11("/scrape", b"Accept-Encoding: zstd\r\n"), timeout=30)
    headers = head_of(raw)
    assert "Content-Encoding: zstd" in headers and "Transfer-Encoding: chunked" in headers, headers
    packed = body_of(raw)
    assert same_bytes(unzstd(packed), plain)
    assert len(packed) < len(plain) // 2


def test_zstd_preferred_when_both_are_offered_and_refused_at_q0(tracker):
    both = tracker.http(request("/stats?mode=statedump", b"Accept-Encoding: gzip, zstd\r\n"), timeout=30)
    assert "Content-Encoding: zstd" in head_of(both)
    refused = tracker.http(request("/stats?mode=statedump", b"Accept-Encoding: zstd;q=0, gzip\r\n"), timeout=30)
    assert "Content-Encoding: gzip" in head_of(refused)
    plain = tracker.http(request("/stats?mode=statedump"), timeout=30)
    assert same_bytes(unzstd(body_of(both)), body_of(plain))


def test_small_zstd_answer_has_a_length():
    with loaded_tracker(10, "zstd-small") as t:
        raw = t.http(request("/scrape", b"Accept-Encoding: zstd\r\n"))
        status, headers, body = split_response(raw)
        assert status == "HTTP/1.0 200 OK"
        assert headers == ["Content-Type: text/plain", "Content-Encoding: zstd", "Content-Length: %d" % len(body)]
        assert len(full_scrape_entries(unzstd(body))) == 10


def test_version_names_libzstd(tracker):
    body = body_of(tracker.http(request("/stats?mode=version")))
    assert body.decode().splitlines()[-1].startswith("zstd: 1.")
