"""The fixed-buffer audit of issue 12 (helpers/bounds.py says how it proves
every bound and holds the sizes): the fixed text buffers: tmp[64] of the
address parsers (ip= and X-Forwarded-For), line[128] of the full-scrape log
line, and the syslog line's buffers.
"""

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap

import pytest

from helpers.bounds import ERROR_400_PARAM, h, http, new_server, q, split
from helpers.reference import bdecode
from helpers.trackerproc import package_path

# ---------------------------------------------------------------- fixed text buffers: tmp[64], line[128]

def test_ip_text_into_tmp64():
    """parse_ip_text copies an address text into tmp[64] only when it is
    shorter than 64 bytes. The longest valid text (45 bytes) is taken; 63
    and 64 bytes of junk get 400."""
    srv = new_server(ip_from_query=True)
    x = h("ip-text")
    longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
    assert len(longest) == 45
    answer = http(srv, "/announce?info_hash=%s&port=9&left=1&ip=%s" % (q(x), longest))
    assert split(answer)[0] == "HTTP/1.1 200 OK"
    assert srv.store.peers(x) == [(socket.inet_pton(socket.AF_INET6, longest), 9, 0, 0)]
    for n in (63, 64, 65, 4000):
        junk = ("1:" * n)[:n]
        assert http(srv, "/announce?info_hash=%s&port=9&left=1&ip=%s" % (q(x), junk)) == ERROR_400_PARAM


def test_forwarded_for_text_into_tmp64():
    """The same buffer through X-Forwarded-For behind a blessed proxy: a
    64-byte or longer first address is not parsed (the proxy's address is
    used); the longest valid one is."""
    srv = new_server()
    srv.set_networks([(b"\0" * 10 + b"\xff\xff" + socket.inet_aton("127.0.0.1"), 128, 2)])
    x = h("xff-text")
    longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.254"
    http(srv, "/announce?info_hash=%s&port=9&left=1" % q(x), extra=b"X-Forwarded-For: " + longest.encode() + b"\r\n")
    http(srv, "/announce?info_hash=%s&port=8&left=1" % q(x), extra=b"X-Forwarded-For: " + b"1" * 64 + b"\r\n")
    assert sorted(srv.store.peers(x)) == sorted([(socket.inet_pton(socket.AF_INET6, longest), 9, 0, 0),
                                                 (socket.inet_aton("127.0.0.1"), 8, 0, 0)])


def test_full_scrape_log_line_into_line128(capfd):
    """log_fullscrape builds `[%08d] scrp:  <ip> - FULL SCRAPE\\n` in
    line[128]: 1 + at most 20 digits + 9 + at most 39 (RFC 5952 text of a
    non-mapped IPv6 address; 45 with a dotted tail) + 15 = 90 bytes."""
    srv = new_server()
    client = "1111:2222:3333:4444:5555:6666:7777:8888"
    capfd.readouterr()
    status, _, body = split(http(srv, "/scrape", client=client))
    assert body == b"d5:filesdee"
    line = "[00000000] scrp:  %s - FULL SCRAPE\n" % client
    assert capfd.readouterr().err == line
    assert 1 + 20 + 9 + 45 + 15 <= 128


SYSLOG_CHILD = textwrap.dedent("""
    import hashlib, sys
    from helpers.testcore import core
    srv = core.Server(seed=1)
    srv.configure()
    srv.open_syslog()
    x = hashlib.sha1(b"syslog-bounds").digest()
    q = "".join("%%%02X" % b for b in x)
    pid = "".join("%%%02X" % b for b in b"\\xff" * 20)
    answer = srv.answer_http(("GET /announce?info_hash=" + q + "&peer_id=" + pid
                                   + "&port=65535&left=0&event=completed HTTP/1.0\\r\\n\\r\\n").encode(),
                                  "1111:2222:3333:4444:5555:6666:7777:8888")
    sys.stdout.buffer.write(answer.split(b"\\r\\n\\r\\n", 1)[1])
""")


def test_syslog_line_buffers():
    """syslog_completed fills when[64] (strftime, bounded), hash_hex[41] and
    id_hex[41] (40 hex digits + NUL) and ip[64] (at most 45 + NUL). The
    child runs in a user and mount namespace of its own where /dev is a
    directory of this test holding a log socket, so no root is needed."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1)")
    jail = tempfile.mkdtemp(prefix="ot-syslog-bounds-")
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        log.bind(os.path.join(jail, "log"))
        log.settimeout(10)
        probe = subprocess.run([unshare, "-Urm", sys.executable, "-c", "pass"], capture_output=True)
        if probe.returncode != 0:
            # No user namespaces, or an interpreter the namespace's root may
            # not run (one under a private home directory).
            pytest.skip("cannot run Python in a user namespace here: %s" % probe.stderr.decode().strip())
        script = 'mount --bind "$0" /dev && exec "$1" -c "$2"'
        # The child imports the test build (answer_http) through helpers/.
        tests_dir = os.path.dirname(os.path.abspath(__file__))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_path(), tests_dir]))
        child = subprocess.run([unshare, "-Urm", "sh", "-c", script, jail, sys.executable, SYSLOG_CHILD],
                               capture_output=True, env=env, timeout=60)
        assert child.returncode == 0, child.stderr.decode()
        assert bdecode(child.stdout)[b"complete"] == 1
        line = log.recv(4096).decode()
        m = re.search(r"opentracker: time=(\S+) event=completed info_hash=([0-9A-F]{40}) peer_id=([0-9A-F]{40}) "
                      r"ip=(\S+)$", line)
        assert m, line
        assert m.group(2) == hashlib.sha1(b"syslog-bounds").hexdigest().upper()
        assert m.group(3) == "FF" * 20
        assert m.group(4) == "1111:2222:3333:4444:5555:6666:7777:8888"
        assert len(m.group(1)) < 64
    finally:
        log.close()
        shutil.rmtree(jail, ignore_errors=True)
