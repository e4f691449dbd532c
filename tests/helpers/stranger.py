"""Requests from addresses that are not loopback, for the checks that depend
on who asks (stats permission, one of our deliberate differences in
docs/compatibility.md; full scrape open to all, docs/compatibility.md,
scrape and full scrape).

Our tracker serves /stats to loopback without any configuration, so a
refusal can only be seen from another address. `run_in_netns` starts the
tracker inside a private network namespace (`unshare -n`, needs root) whose
loopback interface also carries documentation addresses; clients bind to
them as their source. Nothing leaves the namespace.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from .trackerproc import package_path

ROOT = pathlib.Path(__file__).resolve().parents[2]

SERVER4 = "198.51.100.7"           # the tracker listens here (and on 127.0.0.1)
SERVER6 = "2001:db8::7"
BLESSED4 = "192.0.2.55"            # inside access.stats 192.0.2.0/24
BLESSED6 = "2001:db8:1::55"        # inside access.stats 2001:db8:1::/48
STRANGER4 = "203.0.113.9"          # in no access.stats network
STRANGER6 = "2001:db8:2::9"
PORT = 6969


def netns_available():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


needs_netns = pytest.mark.skipif(not netns_available(),
                                 reason="needs root, unshare and ip for a private network namespace")

_SCRIPT = textwrap.dedent(r"""
    import json, socket, subprocess, sys, time
    spec = json.load(open(sys.argv[1]))
    run = lambda *a: subprocess.run(list(a), check=True)
    run("ip", "link", "set", "lo", "up")
    for a in spec["addrs4"]:
        run("ip", "addr", "add", a + "/32", "dev", "lo")
    for a in spec["addrs6"]:
        run("ip", "-6", "addr", "add", a + "/128", "dev", "lo", "nodad")
    err = open(spec["stderr"], "wb")
    proc = subprocess.Popen([sys.executable, "-m", "opentracker", "-f", spec["config"]], stderr=err)

    def http(family, source, dest, raw):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.bind((source, 0))
            s.connect((dest, spec["port"]))
            s.sendall(raw)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return data
                data += chunk

    deadline = time.monotonic() + 20
    while True:
        try:
            http(socket.AF_INET, "127.0.0.1", "127.0.0.1", b"GET /ready HTTP/1.0\r\n\r\n")
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.05)
    out = []
    for fam, source, dest, raw in spec["requests"]:
        family = socket.AF_INET6 if fam == 6 else socket.AF_INET
        out.append(http(family, source, dest, raw.encode("latin-1")).decode("latin-1"))
    proc.terminate()
    proc.wait(15)
    print(json.dumps(out))
""")


def run_in_netns(config, requests):
    """Start our tracker in a private network namespace with `config` lines
    (listeners are added), send each (family 4 or 6, source address, raw
    request bytes) to it, and return ([raw answers], stderr text)."""
    tmp = tempfile.mkdtemp(prefix="ot-netns-")
    try:
        conf = os.path.join(tmp, "opentracker.conf")
        lines = ["listen.tcp 127.0.0.1:%d" % PORT, "listen.tcp %s:%d" % (SERVER4, PORT),
                 "listen.tcp [%s]:%d" % (SERVER6, PORT)] + list(config)
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        spec = {
            "config": conf, "port": PORT, "stderr": os.path.join(tmp, "stderr.txt"),
            "addrs4": [SERVER4, BLESSED4, STRANGER4], "addrs6": [SERVER6, BLESSED6, STRANGER6],
            "requests": [(fam, src, SERVER6 if fam == 6 else SERVER4, raw.decode("latin-1"))
                         for fam, src, raw in requests],
        }
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        env = dict(os.environ, PYTHONPATH=package_path())
        done = subprocess.run(["unshare", "-n", sys.executable, "-c", _SCRIPT, spec_path],
                              capture_output=True, timeout=60, env=env)
        with open(spec["stderr"], "rb") as f:
            stderr = f.read().decode(errors="replace")
        assert done.returncode == 0, done.stderr.decode(errors="replace") + stderr
        return [a.encode("latin-1") for a in json.loads(done.stdout)], stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
