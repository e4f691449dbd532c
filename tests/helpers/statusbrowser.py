"""Headless Chromium for the status page (tests/test_statuspage_browser.py
and docs/make_status_screenshot.py): the page loaded as a person's browser
would, every network request it makes recorded, and some traffic to show.

Chromium runs with no network beyond loopback: every host name but
127.0.0.1 resolves to nothing (--host-resolver-rules), and its own
background services (updates, sync, accounts) are off. Its net log then
tells which requests the page made: those whose network isolation key is
the tracker's site.
"""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile

from .trackerproc import udp_announce_packet, udp_scrape_packet

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium():
    """The browser's path, or None when none is installed."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(url, *extra, timeout=90):
    """Load url once; returns (stdout, console lines, page request URLs)."""
    work = tempfile.mkdtemp(prefix="ot-chromium-")
    netlog = os.path.join(work, "netlog.json")
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--no-default-browser-check", "--disable-domain-reliability",
            "--disable-features=MediaRouter,OptimizationHints,Translate",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--user-data-dir=" + os.path.join(work, "profile"), "--enable-logging=stderr", "--v=0",
            "--log-net-log=" + netlog] + list(extra) + [url]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=work, env=_browser_env())
        console = [line for line in proc.stderr.decode("utf-8", "replace").splitlines() if ":CONSOLE" in line]
        return proc.stdout.decode("utf-8", "replace"), console, page_requests(netlog, url)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def page_requests(netlog, url):
    """The URLs the page's own site requested (not the browser's services)."""
    with open(netlog) as f:
        text = f.read()
    if not text.rstrip().endswith("}"):     # a log cut short by the browser's exit
        text = text.rstrip().rstrip(",") + "]}"
    log = json.loads(text)
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    site = "/".join(url.split("/")[:3]).rsplit(":", 1)[0]      # http://127.0.0.1
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if names.get(event["type"]) == "URL_REQUEST_START_JOB" and site in params.get("network_isolation_key", ""):
            urls.append(params["url"])
    return urls


def info_hash(i):
    return hashlib.sha1(b"status page %d" % i).digest()


def make_traffic(tracker, rounds=1, torrents=12):
    """HTTP and UDP announces and scrapes from many loopback addresses:
    torrent i gets 2 + 3 * (torrents - i) peers per round, a third seeds."""
    from urllib.parse import quote_from_bytes
    n = 0
    for r in range(rounds):
        cid = tracker.udp_connect()
        for i in range(torrents):
            h = info_hash(i)
            for j in range(2 + 3 * (torrents - i)):
                left = 0 if j % 3 == 0 else 1000
                n += 1
                if j % 2:
                    src = "127.0.%d.%d" % (1 + (j >> 8), 1 + (j & 0xFF))
                    tracker.get("/announce?info_hash=%s&port=%d&left=%d&peer_id=-PY0001-%012d"
                                % (quote_from_bytes(h), 6881 + r, left, n), source=src)
                else:
                    tracker.udp(udp_announce_packet(cid, h, left=left, port=7000 + j, peer_id=b"-PY0001-%012d" % n))
            if i % 3 == 0:
                tracker.get("/scrape?info_hash=%s" % quote_from_bytes(h))
                tracker.udp(udp_scrape_packet(cid, [h]))
    return n


def _browser_env():
    """The browser is not under test: it runs without the sanitizer runtime
    that tests/sanitize.sh preloads into every process (Chromium under a
    preloaded ASan hangs past any timeout)."""
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC"):
        env.pop(name, None)
    return env
