"""End to end: two real BitTorrent clients find each other only through the
tracker and exchange a file.

Both clients are libtorrent sessions (Debian's python3-libtorrent), each in its
own /usr/bin/python3 subprocess running tests/helpers/clients/lt_peer.py: one seeds a
file of random bytes, the other starts with an empty directory. DHT, PEX, LSD,
UPnP and NAT-PMP are off and the torrent names no other tracker, so the only
way the leecher can learn the seeder's address is the tracker's peer list.

Three variants: an HTTP announce URL, a UDP announce URL, and HTTP over IPv6
(clients on ::1, peers in `peers6`; skipped for the Debian C build, which is
IPv4-only). Each checks that the leecher ends with a byte-identical file and,
through the tracker's own scrape answers, that both clients were counted and
that `downloaded` became 1 once the leecher completed.

    OT_IMPL=c python -m pytest -q tests/test_e2e_clients.py   # the C original
    python -m pytest -q tests/test_e2e_clients.py             # ours

Needs the Debian package python3-libtorrent (skipped with the reason when
/usr/bin/python3 cannot import libtorrent) and, for OT_IMPL=c, opentracker.
"""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers.trackerproc import Tracker, c_binary, udp_scrape_packet  # noqa: E402

LT_PYTHON = "/usr/bin/python3"
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers", "clients", "lt_peer.py")
FILE_SIZE = 320 * 1024          # 20 pieces of 16 KiB
SEED_UPLOAD_LIMIT = 128 * 1024  # bytes/s: the transfer takes ~2.5 s, so the
                                # tracker can be seen with the leecher mid-way
TRANSFER_TIMEOUT = 60.0
STEP_TIMEOUT = 30.0


def _libtorrent_problem():
    """None when /usr/bin/python3 imports libtorrent, else the reason."""
    if not os.path.exists(LT_PYTHON):
        return "%s does not exist (python3-libtorrent needs Debian's python3)" % LT_PYTHON
    try:
        r = subprocess.run([LT_PYTHON, "-I", "-c", "import libtorrent; print(libtorrent.__version__)"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "cannot run %s: %s" % (LT_PYTHON, e)
    if r.returncode != 0:
        return ("python3-libtorrent is not importable under %s (apt-get install python3-libtorrent): %s"
                % (LT_PYTHON, r.stderr.strip().splitlines()[-1:] or r.returncode))
    return None


LT_PROBLEM = _libtorrent_problem()
pytestmark = pytest.mark.skipif(LT_PROBLEM is not None, reason=str(LT_PROBLEM))


# ---------------------------------------------------------------- bencode

def bdecode(data):
    def item(i):
        c = data[i:i + 1]
        if c == b"i":
            end = data.index(b"e", i)
            return int(data[i + 1:end]), end + 1
        if c == b"l":
            out, i = [], i + 1
            while data[i:i + 1] != b"e":
                v, i = item(i)
                out.append(v)
            return out, i + 1
        if c == b"d":
            out, i = {}, i + 1
            while data[i:i + 1] != b"e":
                k, i = item(i)
                v, i = item(i)
                out[k] = v
            return out, i + 1
        if c.isdigit():
            colon = data.index(b":", i)
            n = int(data[i:colon])
            return data[colon + 1:colon + 1 + n], colon + 1 + n
        raise ValueError("bad bencode at %d: %r" % (i, data[i:i + 20]))

    value, end = item(0)
    if end != len(data):
        raise ValueError("trailing bytes after bencoded value: %r" % data[end:end + 20])
    return value


# ---------------------------------------------------------------- clients

class Client:
    """One lt_peer.py subprocess; events from its stdout (JSON lines in a
    file), its alert log from stderr (another file)."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.events_path = os.path.join(workdir, "%s.events" % name)
        self.log_path = os.path.join(workdir, "%s.log" % name)
        self._out = open(self.events_path, "wb")
        self._err = open(self.log_path, "wb")
        self.proc = subprocess.Popen([LT_PYTHON, "-I", DRIVER] + argv, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err, cwd=workdir,
                                     start_new_session=True)

    def events(self):
        out = []
        with open(self.events_path, "rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    out.append(json.loads(line))
        return out

    def find(self, pred):
        for e in self.events():
            if pred(e):
                return e
        return None

    def wait(self, what, pred, timeout, swarm):
        deadline = time.monotonic() + timeout
        while True:
            e = self.find(pred)
            if e is not None:
                return e
            errors = [e for e in self.events() if e["ev"] == "error"]
            if errors:
                swarm.fail("%s reported an error while waiting for %s: %s" % (self.name, what, errors))
            if self.proc.poll() is not None:
                swarm.fail("%s exited with %s while waiting for %s" % (self.name, self.proc.returncode, what))
            if time.monotonic() > deadline:
                swarm.fail("%s: no %s within %.0f s" % (self.name, what, timeout))
            time.sleep(0.05)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        lines = text.splitlines()
        if len(lines) > 150:
            lines = ["... (%d lines cut)" % (len(lines) - 150)] + lines[-150:]
        return "\n".join(lines)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._out.close()
        self._err.close()


class Swarm:
    """The tracker, the torrent and the clients of one variant; every failure
    message carries the clients' events and logs and the tracker's stderr."""

    def __init__(self, tracker, workdir):
        self.tracker = tracker
        self.workdir = workdir
        self.clients = []

    def start_client(self, name, argv):
        c = Client(name, argv, self.workdir)
        self.clients.append(c)
        return c

    def report(self):
        parts = []
        for c in self.clients:
            parts.append("----- %s (exit %s) events:\n%s" % (
                c.name, c.proc.poll(), "\n".join(json.dumps(e) for e in c.events())))
            parts.append("----- %s log:\n%s" % (c.name, c.log()))
        parts.append("----- tracker (%s, %s) stderr:\n%s" % (
            self.tracker.impl, " ".join(self.tracker.argv), self.tracker.stderr()))
        return "\n".join(parts)

    def fail(self, msg):
        pytest.fail("%s\n%s" % (msg, self.report()), pytrace=False)

    def check(self, cond, msg):
        if not cond:
            self.fail(msg)

    def stop(self):
        for c in self.clients:
            c.stop()


# ---------------------------------------------------------------- tracker answers

def http_scrape(tracker, info_hash, family):
    target = "/scrape?info_hash=" + urllib.parse.quote_from_bytes(info_hash)
    status, _, body = tracker.get(target, family=family)
    assert status.split()[1:2] == ["200"], (status, body)
    files = bdecode(body)[b"files"]
    if info_hash not in files:
        return None
    e = files[info_hash]
    return {"complete": e[b"complete"], "incomplete": e[b"incomplete"],
            "downloaded": e[b"downloaded"]}


def udp_scrape(tracker, info_hash):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        cid = tracker.udp_connect(sock=s)
        reply = tracker.udp(udp_scrape_packet(cid, [info_hash]), sock=s)
    assert reply is not None and len(reply) == 20, reply
    seeders, completed, leechers = struct.unpack(">III", reply[8:20])
    return {"complete": seeders, "incomplete": leechers, "downloaded": completed}


def http_peers(tracker, info_hash, family):
    """The (address, port) pairs of an HTTP announce answer, asked for by a
    third peer that then leaves again."""
    q = "info_hash=%s&peer_id=%s&port=%d&left=0&compact=1&numwant=50" % (
        urllib.parse.quote_from_bytes(info_hash), "-E2E000-000000000001", 9)
    _, _, body = tracker.get("/announce?" + q, family=family)
    reply = bdecode(body)
    tracker.get("/announce?" + q + "&event=stopped", family=family)
    assert b"failure reason" not in reply, reply
    key, size, fam = (b"peers6", 18, socket.AF_INET6) if family == socket.AF_INET6 else \
        (b"peers", 6, socket.AF_INET)
    raw = reply.get(key, b"")
    peers = set()
    for i in range(0, len(raw) - len(raw) % size, size):
        rec = raw[i:i + size]
        peers.add((socket.inet_ntop(fam, rec[:-2]), struct.unpack(">H", rec[-2:])[0]))
    return reply, peers


# ---------------------------------------------------------------- the test

VARIANTS = {
    # name: (announce URL template, clients' address, family)
    "http": ("http://127.0.0.1:%d/announce", "127.0.0.1", socket.AF_INET),
    "udp": ("udp://127.0.0.1:%d/announce", "127.0.0.1", socket.AF_INET),
    "ipv6": ("http://[::1]:%d/announce", "::1", socket.AF_INET6),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_clients_exchange_a_file_found_only_through_the_tracker(variant, tmp_path):
    url_template, address, family = VARIANTS[variant]
    impl = os.environ.get("OT_IMPL", "ours")
    ipv6 = family == socket.AF_INET6
    if impl == "c":
        if ipv6:
            pytest.skip("the Debian build is IPv4-only")
        if c_binary() is None:
            pytest.skip("the C opentracker is not installed (apt-get install opentracker)")

    workdir = str(tmp_path)
    seed_dir = os.path.join(workdir, "seed")
    leech_dir = os.path.join(workdir, "leech")
    os.mkdir(seed_dir)
    os.mkdir(leech_dir)
    payload = os.urandom(FILE_SIZE)
    with open(os.path.join(seed_dir, "payload.bin"), "wb") as f:
        f.write(payload)

    # The port is known before start-up, so the torrent can name the tracker
    # and the whitelist can name the torrent before the tracker reads it.
    tracker = Tracker(whitelist=[], ipv6=ipv6)
    url = url_template % tracker.port
    torrent = os.path.join(workdir, "payload.torrent")
    made = subprocess.run([LT_PYTHON, "-I", DRIVER, "make", "--file", os.path.join(seed_dir, "payload.bin"),
                           "--tracker", url, "--out", torrent],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout.splitlines()[-1])
    info_hash = bytes.fromhex(info["info_hash"])
    tracker.write_whitelist([info_hash])

    swarm = Swarm(tracker, workdir)
    try:
        tracker.start()

        def run_args(role, save, *extra):
            return ["run", "--role", role, "--torrent", torrent, "--save", save,
                    "--listen", address, "--lifetime", "240"] + list(extra)

        # 1. The seeder checks its file and announces.
        seeder = swarm.start_client("seeder", run_args("seed", seed_dir,
                                                       "--upload-limit", str(SEED_UPLOAD_LIMIT)))
        seed_port = seeder.wait("listening socket", lambda e: e["ev"] == "listening",
                                STEP_TIMEOUT, swarm)["port"]
        checked = seeder.wait("hash check", lambda e: e["ev"] == "checked", STEP_TIMEOUT, swarm)
        swarm.check(checked["seed"], "the seeder did not find its file complete: %s" % checked)
        seeder.wait("announce answered by the tracker", lambda e: e["ev"] == "announce",
                    STEP_TIMEOUT, swarm)
        s = http_scrape(tracker, info_hash, family)
        swarm.check(s == {"complete": 1, "incomplete": 0, "downloaded": 0},
                    "scrape after the seeder's announce: %s, expected 1 seeder" % s)

        # 2. The leecher, with an empty directory, announces and downloads.
        started = time.monotonic()
        leecher = swarm.start_client("leecher", run_args("leech", leech_dir))
        leech_port = leecher.wait("listening socket", lambda e: e["ev"] == "listening",
                                  STEP_TIMEOUT, swarm)["port"]
        leecher.wait("announce answered by the tracker", lambda e: e["ev"] == "announce",
                     STEP_TIMEOUT, swarm)
        # Both counted: the seeder, and the leecher that is still downloading
        # (the seeder's upload limit keeps it at that for a few seconds; should
        # this process have been starved that long, the leecher must have
        # finished and been counted as a second seeder).
        mid = http_scrape(tracker, info_hash, family)
        if mid != {"complete": 1, "incomplete": 1, "downloaded": 0}:
            time.sleep(1.0)
            finished = leecher.find(lambda e: e["ev"] == "finished") is not None
            swarm.check(finished and mid == {"complete": 2, "incomplete": 0, "downloaded": 1},
                        "scrape after the leecher's first announce: %s, expected 1 seeder and 1 leecher" % mid)

        leecher.wait("completed download", lambda e: e["ev"] == "finished", TRANSFER_TIMEOUT, swarm)
        transfer = time.monotonic() - started

        # 3. The peer came through the tracker: the leecher's connection goes to
        #    the seeder's listening address (DHT, PEX and LSD are off).
        peers = [e for e in leecher.events() if e["ev"] == "peer"]
        swarm.check(any(p["ip"] == address and p["port"] == seed_port and p["from_tracker"] for p in peers),
                    "the leecher never connected to the seeder at [%s]:%d as a tracker peer: %s"
                    % (address, seed_port, peers))

        with open(os.path.join(leech_dir, "payload.bin"), "rb") as f:
            got = f.read()
        swarm.check(got == payload, "the leecher's file differs from the seeder's (%d bytes vs %d)"
                    % (len(got), len(payload)))

        # 4. The completed event reached the tracker: 2 seeders, downloaded 1.
        leecher.wait("announce after completion", lambda e: e["ev"] == "announce" and e["after_finish"],
                     STEP_TIMEOUT, swarm)
        want = {"complete": 2, "incomplete": 0, "downloaded": 1}
        deadline = time.monotonic() + 10
        while True:
            s = http_scrape(tracker, info_hash, family)
            if s == want or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        swarm.check(s == want, "HTTP scrape after the leecher completed: %s, expected %s" % (s, want))
        if variant == "udp":
            u = udp_scrape(tracker, info_hash)
            swarm.check(u == want, "UDP scrape after the leecher completed: %s, expected %s" % (u, want))

        # 5. The tracker's peer list names both clients, in `peers6` over IPv6.
        reply, listed = http_peers(tracker, info_hash, family)
        for name, port in (("seeder", seed_port), ("leecher", leech_port)):
            swarm.check((address, port) in listed,
                        "the %s [%s]:%d is not in the tracker's %s: %s (reply %r)"
                        % (name, address, port, "peers6" if ipv6 else "peers", sorted(listed), reply))
        print("%s via %s: transfer %.1f s, scrape %s" % (variant, tracker.impl, transfer, s))
    finally:
        swarm.stop()
        tracker.close()
