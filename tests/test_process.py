"""The tracker as a process: the README's run command, signals, exit codes."""

import json
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from helpers.trackerproc import package_path, Tracker, split_response

ROOT = pathlib.Path(__file__).resolve().parent.parent
H = bytes.fromhex("aa" * 20)


def _netns_available():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


NETNS_SCRIPT = textwrap.dedent(r"""
    import json, os, signal, socket, struct, subprocess, sys, time
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    proc = subprocess.Popen([sys.executable, "-m", "opentracker", "-f", sys.argv[1]],
                            stderr=subprocess.PIPE)
    out = {}
    def http(family, host):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect((host, 6969))
            s.sendall(b"GET /announce?info_hash=" + b"%AA" * 20 + b"&port=6881&left=1 HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return data.decode("latin-1")
                data += chunk
    def udp_connect(family, host):
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(struct.pack(">QII", 0x41727101980, 0, 7), (host, 6969))
            return len(s.recv(100))
    deadline = time.monotonic() + 20
    while True:
        try:
            out["http4"] = http(socket.AF_INET, "127.0.0.1")
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.1)
    out["http6"] = http(socket.AF_INET6, "::1")
    out["udp4"] = udp_connect(socket.AF_INET, "127.0.0.1")
    out["udp6"] = udp_connect(socket.AF_INET6, "::1")
    proc.send_signal(signal.SIGTERM)
    out["rc"] = proc.wait(15)
    out["stderr"] = proc.stderr.read().decode(errors="replace")
    print(json.dumps(out))
""")


@pytest.mark.skipif(not _netns_available(), reason="needs root and unshare to give the tracker a private network "
                                                  "namespace for the sample config's wildcard port 6969")
def test_readme_run_command_serves_on_the_sample_config():
    """`opentracker -f opentracker.conf.sample` binds TCP and UDP on every
    address, port 6969, IPv4 and IPv6, and answers; run inside a network
    namespace of its own so the wildcard bind touches nothing else."""
    env = dict(os.environ, PYTHONPATH=package_path())
    done = subprocess.run(["unshare", "-n", sys.executable, "-c", NETNS_SCRIPT,
                           str(ROOT / "opentracker.conf.sample")],
                          capture_output=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    out = json.loads(done.stdout)
    for key in ("http4", "http6"):
        status, headers, body = split_response(out[key].encode("latin-1"))
        assert status == "HTTP/1.1 200 OK"
        assert body.startswith(b"d8:completei0e10:downloadedi0e10:incompletei")
    assert "5:peers6:\x7f\x00\x00\x01\x1a\xe1" in out["http4"] and "6:peers618:" in out["http6"]
    assert out["udp4"] == out["udp6"] == 16
    assert out["rc"] == 0, out["stderr"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signals_exit_zero(sig):
    with Tracker() as t:
        assert t.get("/announce?info_hash=%s&port=1&left=0" % ("%AA" * 20))[0] == "HTTP/1.1 200 OK"
        assert t.stop(sig) == 0
        assert "Traceback" not in t.stderr()


def test_sighup_keeps_serving():
    with Tracker() as t:
        for _ in range(3):
            t.signal(signal.SIGHUP)
            time.sleep(0.1)
        assert t.proc.poll() is None
        assert t.get("/stats?mode=tcp4")[0] == "HTTP/1.1 200 OK"


def test_port_in_use_is_fatal_with_status_111():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        t = Tracker(port=port, listen=False, config=["listen.tcp 127.0.0.1:%d" % port])
        try:
            t.start(wait=False)
            assert t.proc.wait(20) == 111
            assert "cannot bind tcp 127.0.0.1:%d: Address already in use" % port in t.stderr()
        finally:
            t.close()


def test_dual_stack_wildcard_beside_ipv4_listener():
    """`[::]:P` next to `127.0.0.1:P` cannot both be dual-stack: the wildcard
    IPv6 socket is made IPv6-only so both bind, and both answer."""
    from helpers.trackerproc import free_port
    port = free_port()
    with Tracker(port=port, listen=False, config=["listen.tcp 127.0.0.1:%d" % port, "listen.tcp [::]:%d" % port,
                                                  "listen.udp 127.0.0.1:%d" % port]) as t:
        assert t.get("/stats?mode=tcp4")[0] == "HTTP/1.1 200 OK"
        assert t.get("/stats?mode=tcp4", family=socket.AF_INET6)[0] == "HTTP/1.1 200 OK"


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "[::]"])
def test_udp_answers_leave_from_the_address_asked(wildcard):
    """A UDP socket bound to every address answers from the address the
    client sent to (IP_PKTINFO), not from whatever the route prefers: on a
    router with several addresses a client talking to the second one would
    otherwise drop the answer. Loopback has 127.0.0.2 besides 127.0.0.1,
    which the route prefers for answers to 127.0.0.1."""
    from helpers.trackerproc import free_port
    port = free_port()
    with Tracker(port=port, listen=False, config=["listen.udp %s:%d" % (wildcard, port),
                                                  "listen.tcp 127.0.0.1:%d" % port]) as t:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.connect(("127.0.0.2", port))   # only answers from 127.0.0.2 get through
            client.settimeout(3)
            client.send(struct.pack(">QII", 0x41727101980, 0, 9))
            reply = client.recv(100)
        assert reply[:8] == struct.pack(">II", 0, 9) and len(reply) == 16
