"""Operations (issue 4): access lists and their reloads and fifos, client
addresses behind proxies, state across restarts, privileges, syslog."""

import hashlib
import os
import pwd
import re
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time
from urllib.parse import quote_from_bytes

import pytest

from helpers.reference import bdecode, compact_peers
from helpers.trackerproc import Tracker, udp_announce_packet

REFUSED = b"d14:failure reason63:Requested download is not authorized for use with this tracker.e"


def h(name):
    return hashlib.sha1(name.encode()).digest()


def announce(t, info_hash, port=6881, extra="", **kw):
    status, headers, body = t.get("/announce?info_hash=%s&port=%d&left=1%s" % (quote_from_bytes(info_hash), port,
                                                                                extra), **kw)
    assert status == "HTTP/1.1 200 OK", (status, body)
    return body


def accepted(t, info_hash):
    return announce(t, info_hash) != REFUSED


def scrape(t, info_hash):
    status, _, body = t.get("/scrape?info_hash=%s" % quote_from_bytes(info_hash))
    assert status == "HTTP/1.1 200 OK"
    return bdecode(body)[b"files"].get(info_hash)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# ---------------------------------------------------------------- access lists

def test_whitelist_reload_on_sighup():
    a, b = h("white-a"), h("white-b")
    with Tracker(whitelist=[a]) as t:
        assert accepted(t, a) and not accepted(t, b)
        t.write_whitelist([a, b])
        t.signal(signal.SIGHUP)
        assert wait_for(lambda: accepted(t, b))
        t.write_whitelist([b])
        t.signal(signal.SIGHUP)
        assert wait_for(lambda: not accepted(t, a))
        assert accepted(t, b)
        # a scrape is never refused (docs/compatibility.md, access lists): a's one leecher is still there
        assert scrape(t, a) == {b"complete": 0, b"downloaded": 0, b"incomplete": 1}


def test_blacklist():
    bad, good = h("black-bad"), h("black-good")
    t = Tracker()
    t.write_whitelist([bad], path=t.path("blacklist.txt"))
    t.add_config("access.blacklist %s" % t.path("blacklist.txt"))
    with t:
        assert not accepted(t, bad)
        assert accepted(t, good)
        cid = t.udp_connect()
        assert len(t.udp(udp_announce_packet(cid, bad))) == 8
        assert len(t.udp(udp_announce_packet(cid, good))) > 8


def test_missing_whitelist_refuses_everything():
    t = Tracker(config=["access.whitelist /nonexistent/whitelist.txt"])
    with t:
        assert not accepted(t, h("anything"))
        cid = t.udp_connect()
        reply = t.udp(udp_announce_packet(cid, h("anything"), transaction_id=77))
        assert reply == struct.pack(">II", 1, 77)
        assert "Can't open accesslist file: /nonexistent/whitelist.txt" in t.stderr()


def test_unreadable_list_on_reload_keeps_the_old_one():
    a = h("keep-a")
    with Tracker(whitelist=[a]) as t:
        assert accepted(t, a)
        os.unlink(t.whitelist_path)
        os.mkdir(t.whitelist_path)  # now unreadable as a file
        t.signal(signal.SIGHUP)
        assert wait_for(lambda: "Can't open accesslist file" in t.stderr())
        assert accepted(t, a)


def test_list_line_rules():
    good = [h("rule-%d" % i) for i in range(6)]
    bad = [h("rule-bad-%d" % i) for i in range(4)]
    lines = [good[0].hex(), good[1].hex().upper() + " comment", good[2].hex() + "x", good[3].hex() + ":42",
             good[4].hex() + "\t#", " " + bad[0].hex(), bad[1].hex() + "0", "#" + bad[2].hex(),
             bad[3].hex()[:39], "", "garbage line"]
    t = Tracker(whitelist=[])
    with open(t.whitelist_path, "w") as f:
        f.write("\n".join(lines) + "\n" + good[5].hex())  # the last one without a newline
    with t:
        for x in good:
            assert accepted(t, x), x.hex()
        for x in bad:
            assert not accepted(t, x), x.hex()
        assert re.search(r"whitelist.txt: \d+ line\(s\) skipped", t.stderr())


def test_binary_garbage_list_does_not_crash():
    a = h("garbage-a")
    t = Tracker(whitelist=[])
    with open(t.whitelist_path, "wb") as f:
        f.write(os.urandom(5000) + b"\n" + a.hex().encode() + b"\n" + bytes(range(256)) * 10)
    with t:
        assert accepted(t, a)
        assert t.proc.poll() is None


def test_million_hash_list_loads():
    """1,000,000 hashes load at start (the figure is in bench/README.md; here
    only that it works and takes no absurd time)."""
    t = Tracker(whitelist=[])
    rnd = os.urandom(20 * 1_000_000)
    with open(t.whitelist_path, "w") as f:
        f.write("\n".join(rnd[i:i + 20].hex() for i in range(0, len(rnd), 20)))
    with t:
        assert accepted(t, rnd[:20]) and accepted(t, rnd[-20:])
        assert not accepted(t, h("not in the million"))


# ---------------------------------------------------------------- fifos

def test_fifo_add_and_delete():
    a, b, c = h("fifo-a"), h("fifo-b"), h("fifo-c")
    t = Tracker(whitelist=[a])
    os.chmod(t.dir, 0o777)  # the tracker creates the fifos after dropping to nobody
    add, delete = t.path("add.fifo"), t.path("delete.fifo")
    t.add_config("access.fifo_add %s" % add, "access.fifo_delete %s" % delete)
    with t:
        assert stat.S_ISFIFO(os.stat(add).st_mode) and stat.S_ISFIFO(os.stat(delete).st_mode)
        assert not accepted(t, b)
        with open(add, "w") as f:
            f.write(b.hex() + "\n")
        assert wait_for(lambda: accepted(t, b))
        with open(delete, "w") as f:
            f.write(a.hex() + "\n" + "short\n")
        assert wait_for(lambda: not accepted(t, a))
        # a reload empties both sets: back to the file's list
        t.signal(signal.SIGHUP)
        assert wait_for(lambda: accepted(t, a) and not accepted(t, b))
        # for good: the next hash written to a fifo brings none of the old back
        with open(add, "w") as f:
            f.write(c.hex() + "\n")
        assert wait_for(lambda: accepted(t, c))
        assert accepted(t, a) and not accepted(t, b)


def test_fifo_path_that_is_not_a_fifo_is_refused():
    t = Tracker(whitelist=[])
    plain = t.path("plain-file")
    open(plain, "w").close()
    t.add_config("access.fifo_add %s" % plain)
    try:
        t.start(wait=False)
        assert t.proc.wait(20) == 111
        assert "exists and is not a fifo" in t.stderr()
    finally:
        t.close()


# ---------------------------------------------------------------- client address

def test_forwarded_for_only_from_a_proxy():
    x = h("xff")
    hdr = ["X-Forwarded-For: 10.9.8.7, 1.1.1.1"]
    with Tracker() as t:
        body = bdecode(t.get("/announce?info_hash=%s&port=1000&left=1" % quote_from_bytes(x), headers=hdr)[2])
        assert compact_peers(body[b"peers"], 6) == [(bytes([127, 0, 0, 1]), 1000)]
    with Tracker(config=["access.proxy 127.0.0.1"]) as t:
        body = bdecode(t.get("/announce?info_hash=%s&port=1000&left=1" % quote_from_bytes(x), headers=hdr)[2])
        assert compact_peers(body[b"peers"], 6) == [(bytes([10, 9, 8, 7]), 1000)]
        # a missing or broken header leaves the proxy's own address
        body = bdecode(t.get("/announce?info_hash=%s&port=1001&left=1" % quote_from_bytes(x),
                             headers=["X-Forwarded-For: nonsense"])[2])
        assert (bytes([127, 0, 0, 1]), 1001) in compact_peers(body[b"peers"], 6)


def test_ip_from_query_only_when_enabled():
    x = h("ipq")
    with Tracker() as t:
        body = bdecode(announce(t, x, 2000, "&ip=1.2.3.4"))
        assert compact_peers(body[b"peers"], 6) == [(bytes([127, 0, 0, 1]), 2000)]
    with Tracker(config=["tracker.ip_from_query on"]) as t:
        body = bdecode(announce(t, x, 2000, "&ip=1.2.3.4"))
        assert compact_peers(body[b"peers"], 6) == [(bytes([1, 2, 3, 4]), 2000)]
        assert t.get("/announce?info_hash=%s&ip=banana" % quote_from_bytes(x))[0] == "HTTP/1.0 400 Invalid Request"


# ---------------------------------------------------------------- state

def _complete(t, info_hash, n):
    for i in range(n):
        t.get("/announce?info_hash=%s&port=%d&left=0&event=completed" % (quote_from_bytes(info_hash), 3000 + i))


def test_statefile_survives_restart():
    a, b = h("state-a"), h("state-b")
    keep = tempfile.mkdtemp(prefix="ot-state-")
    os.chmod(keep, 0o777)  # written by the tracker after it dropped to nobody
    statefile = os.path.join(keep, "opentracker.state")
    conf = ["tracker.statefile %s" % statefile]
    with Tracker(config=conf) as t:
        _complete(t, a, 3)
        _complete(t, b, 1)
        assert t.stop() == 0
    with open(statefile) as f:
        text = f.read()
    assert re.fullmatch(r"([0-9A-F]{40}:\d+:\d+\n)+", text)
    with Tracker(config=conf) as t:
        assert scrape(t, a)[b"downloaded"] == 3
        assert scrape(t, b)[b"downloaded"] == 1
        assert scrape(t, a)[b"complete"] == 0  # peers are not saved


def test_statedump_then_l_restores_downloaded():
    a = h("dump-a")
    with Tracker(whitelist=[a]) as t:
        _complete(t, a, 2)
        status, headers, dump = t.get("/stats?mode=statedump")
        assert status == "HTTP/1.0 200 OK" and "Content-Encoding: gzip" not in headers
    t2 = Tracker(whitelist=[a])
    path = os.path.join(t2.dir, "dump.txt")
    other = h("dump-not-listed")
    with open(path, "wb") as f:
        f.write(dump)
        f.write(b"%s:%d:99\n" % (a.hex().upper().encode(), int(time.time()) // 60))   # a repeat: first wins
        f.write(b"%s:%d:5\n" % (other.hex().encode(), int(time.time()) // 60))       # not on the list
        f.write(b"ZZ" * 20 + b":1:1\n" + b"not a line\n" + a.hex().encode() + b":-1:2\n" + os.urandom(100) + b"\n")
    t2.argv += ["-l", path]
    with t2:
        assert scrape(t2, a)[b"downloaded"] == 2
        assert scrape(t2, other) is None
        err = t2.stderr()
        assert "1 repeated hash(es) skipped" in err and "1 refused by the access list" in err
        assert re.search(r"\d+ bad line\(s\) skipped", err)


def test_sigterm_during_a_storm_leaves_a_complete_state_file():
    keep = tempfile.mkdtemp(prefix="ot-state-")
    os.chmod(keep, 0o777)
    statefile = os.path.join(keep, "storm.state")
    hashes = [h("storm-%d" % i) for i in range(300)]
    with Tracker(config=["tracker.statefile %s" % statefile, "tracker.statefile_interval 1"]) as t:
        _complete(t, hashes[0], 1)
        stop = threading.Event()
        sent = [0]

        def storm():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.5)
            cid = t.udp_connect(sock=s)
            for i in range(200000):
                if stop.is_set():
                    break
                s.sendto(udp_announce_packet(cid, hashes[i % len(hashes)], port=i % 60000 + 1), ("127.0.0.1", t.port))
                sent[0] += 1
                if i % 50 == 49:
                    try:
                        while True:
                            s.setblocking(False)
                            s.recv(2048)
                    except (BlockingIOError, OSError):
                        s.setblocking(True)
            s.close()

        threads = [threading.Thread(target=storm) for _ in range(3)]
        for th in threads:
            th.start()
        time.sleep(2.5)  # at least one periodic save happens under load
        rc = t.stop()
        stop.set()
        for th in threads:
            th.join(10)
        assert rc == 0
    with open(statefile) as f:
        lines = f.read().splitlines()
    assert sent[0] > 1000
    assert all(re.fullmatch(r"[0-9A-F]{40}:\d+:\d+", line) for line in lines)
    assert len(lines) == len(set(hashes))
    assert not [n for n in os.listdir(os.path.dirname(statefile)) if n.endswith(".tmp")]


# ---------------------------------------------------------------- privileges

pytestmark_root = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges can only be tested as root")


@pytestmark_root
def test_root_chroots_and_becomes_the_user():
    a = h("jail-a")
    jail = tempfile.mkdtemp(prefix="ot-jail-")
    os.chmod(jail, 0o755)
    with open(os.path.join(jail, "whitelist.txt"), "w") as f:
        f.write(a.hex() + "\n")
    user = "nobody"
    nobody = pwd.getpwnam(user)
    t = Tracker(config=["tracker.rootdir %s" % jail, "tracker.user %s" % user,
                        "access.whitelist /whitelist.txt"])
    with t:
        pid = t.proc.pid
        assert os.readlink("/proc/%d/root" % pid) == jail
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
        gids = re.search(r"^Gid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
        assert set(uids) == {str(nobody.pw_uid)} and set(gids) == {str(nobody.pw_gid)}
        assert accepted(t, a)  # the list was read inside the jail
        assert t.stop() == 0


@pytestmark_root
def test_unknown_user_is_a_clear_error():
    t = Tracker(config=["tracker.user no-such-user-here"])
    try:
        t.start(wait=False)
        assert t.proc.wait(20) == 111
        assert "user no-such-user-here does not exist" in t.stderr()
    finally:
        t.close()


@pytestmark_root
def test_root_user_is_refused():
    t = Tracker(config=["tracker.user root"])
    try:
        t.start(wait=False)
        assert t.proc.wait(20) == 111
        assert "refusing to run as root" in t.stderr()
    finally:
        t.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chroot")
@pytest.mark.skipif(os.path.exists("/dev/log"), reason="a syslog daemon owns /dev/log here; the test puts its own "
                                                       "log socket in a chroot jail instead")
def test_syslog_line_for_completed_downloads():
    """With tracker.syslog_completed on, every completion is logged as the
    original's WANT_SYSLOGS build does. The tracker runs chrooted, so its log
    socket is the jail's /dev/log, which this test listens on."""
    a = h("syslog-a")
    peer_id = b"-XX0001-abcdefghijkl"
    jail = tempfile.mkdtemp(prefix="ot-syslog-")
    os.chmod(jail, 0o755)
    os.mkdir(os.path.join(jail, "dev"))
    os.chmod(os.path.join(jail, "dev"), 0o755)
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind(os.path.join(jail, "dev", "log"))
    os.chmod(os.path.join(jail, "dev", "log"), 0o666)
    log.settimeout(10)
    try:
        with Tracker(config=["tracker.rootdir %s" % jail, "tracker.syslog_completed on"]) as t:
            t.get("/announce?info_hash=%s&peer_id=%s&port=5000&left=0&event=completed"
                  % (quote_from_bytes(a), quote_from_bytes(peer_id)))
            line = log.recv(4096).decode()
        assert line.startswith("<14>")  # LOG_USER | LOG_INFO
        m = re.search(r"opentracker: time=(\S+) event=completed info_hash=([0-9A-F]{40}) peer_id=([0-9A-F]{40}) "
                      r"ip=127\.0\.0\.1$", line)
        assert m, line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", m.group(1))
        assert m.group(2) == a.hex().upper() and m.group(3) == peer_id.hex().upper()
    finally:
        log.close()
