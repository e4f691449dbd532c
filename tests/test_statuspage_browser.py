"""The status page in a real headless browser (Debian's chromium): it loads
with no console message and no request beyond the page itself, shows the
numbers of mode=everything taken at the same moment, and draws the chart
after traffic; a stranger gets 403. Skips only when chromium is absent
(apt-get install chromium)."""

import re
import time

import pytest

from helpers.testcore import core
from helpers.statusbrowser import chromium, make_traffic, run_chromium
from helpers.trackerproc import split_response

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install chromium)")


def everything(tracker):
    status, _, body = tracker.get("/stats?mode=everything")
    assert status == "HTTP/1.0 200 OK"
    return body.decode()


def xml_count(xml, path):
    """The number inside the nested tags of path, e.g. ("tcp", "announce")."""
    pattern = r"\s*".join("<%s>" % tag for tag in path) + r"(\d+)</%s>" % path[-1]
    return int(re.search(pattern, xml).group(1))


def dom_cell(dom, name):
    m = re.search(r'<td id="%s">(\d+)</td>' % name, dom)
    assert m, name
    return int(m.group(1))


# The module's `tracker` (conftest.py).
TRACKER = dict(impl="ours", config=["tracker.memory_limit 16M"], ipv6=False)


def test_page_in_the_browser(tracker):
    sent = make_traffic(tracker, rounds=2)
    time.sleep(1.2)         # the loop's tick has run: the step in progress has a rate
    url = "http://127.0.0.1:%d/stats" % tracker.port
    dom, console, requests = run_chromium(url, "--dump-dom")
    xml = everything(tracker)

    # Loads cleanly: no console message at all (a CSP violation or a failed
    # load would be one), and the only request is the page itself.
    assert console == []
    assert requests == [url]
    assert dom.startswith("<!DOCTYPE html>") or dom.startswith("<html")
    assert "<title>opentracker status</title>" in dom

    # Numbers: those of mode=everything taken right after, with no traffic between.
    assert dom_cell(dom, "torrents") == xml_count(xml, ("torrents", "count_mutex")) == 12
    assert dom_cell(dom, "peers") == xml_count(xml, ("peers", "count"))
    assert dom_cell(dom, "seeds") == xml_count(xml, ("seeds", "count"))
    assert dom_cell(dom, "completed") == xml_count(xml, ("completed", "count"))
    assert dom_cell(dom, "tcp_announce") == \
        int(re.search(r"<tcp>\s*<accept>\d+</accept>\s*<announce>(\d+)</announce>", xml).group(1))
    assert dom_cell(dom, "tcp_scrape") == int(re.search(r"<tcp>.*?<scrape>(\d+)</scrape>", xml, re.S).group(1))
    udp = re.search(r"<udp>\s*<overall>\d+</overall>\s*<connect>(\d+)</connect>\s*<announce>(\d+)</announce>\s*"
                    r"<scrape>(\d+)</scrape>", xml)
    assert (dom_cell(dom, "udp_connect"), dom_cell(dom, "udp_announce"), dom_cell(dom, "udp_scrape")) == \
        tuple(int(v) for v in udp.groups())
    assert dom_cell(dom, "tcp_announce") + dom_cell(dom, "udp_announce") == sent
    assert dom_cell(dom, "peers") == dom_cell(dom, "seeds") + dom_cell(dom, "leechers")
    uptime = int(re.search(r'id="uptime" data-seconds="(\d+)"', dom).group(1))
    assert abs(uptime - xml_count(xml, ("uptime",))) <= 1

    # The chart has points after traffic: HTTP and UDP announces above the base line.
    for series in (0, 1):
        pts = re.search(r'id="series%d"[^>]*points="([^"]*)"' % series, dom).group(1).split()
        assert pts, series
        assert min(int(p.split(",")[1]) for p in pts) < 160, pts
    assert "tcp 127.0.0.1:%d, udp 127.0.0.1:%d" % (tracker.port, tracker.port) in dom
    assert 'id="mem_limit">16777216<' in dom


def test_screenshot_renders(tracker, tmp_path):
    """The 1280x800 picture the README shows can be taken (a PNG of that size)."""
    shot = tmp_path / "page.png"
    _, console, _ = run_chromium("http://127.0.0.1:%d/stats?mode=html" % tracker.port, "--window-size=1280,800",
                                 "--hide-scrollbars", "--screenshot=%s" % shot)
    assert console == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[16:24] == (1280).to_bytes(4, "big") + (800).to_bytes(4, "big")


def test_a_stranger_gets_403():
    server = core.Server(seed=1)
    for target in (b"/stats?mode=html", b"/stats"):
        answer = server.answer_http(b"GET %s HTTP/1.1\r\nAccept: text/html\r\n\r\n" % target,
                                         client="203.0.113.9")
        status, _, body = split_response(answer)
        assert status == "HTTP/1.0 403 Access Denied" and body == b"<title>Access Denied</title>\n"
