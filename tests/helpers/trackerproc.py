"""Start a tracker process on loopback and talk to it with raw sockets.

Used by every test that crosses the network. `Tracker(impl="ours")` runs this
project (`python -m opentracker -f <generated config>`); `impl="c"` runs the
Debian package's C binary (whitelist-only, IPv4-only) with the same config, so
a conformance test can be checked against the original by hand:

    OT_IMPL=c python -m pytest tests/test_conformance_http.py

`OT_WORKERS=N` adds `tracker.workers N` to every config of ours that does not
set it (the network tests with several worker loops).

Every wait here is bounded; a tracker that does not come up fails the test.

Under an emulator (crossbuild/router.sh: the .ipk installed in an emulated
OpenWrt root), `impl="ours"` runs the installed command instead of this
checkout's, from the host's point of view:

    OT_EMULATOR="qemu-mips-static -L /path/root"   the prefix (shell words)
    OT_EMULATOR_ROOT=/path/root                    the target's root
    OT_EMULATOR_COMMAND=/usr/bin/opentracker       the command, a path in the
                                                   root (default as shown)

qemu-user runs ELF files only, so a script's `#!` line is followed here as
the kernel would: `/usr/bin/opentracker -f X` becomes `PREFIX
ROOT/usr/bin/python3 /usr/bin/opentracker -f X` (the interpreter as a host
path, the script as the guest sees it).
"""

import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

C_BINARY = "/usr/bin/opentracker"


def c_binary():
    """The Debian package's binary, or None when it is not installed."""
    return C_BINARY if os.path.exists(C_BINARY) else None


def package_path():
    """PYTHONPATH for a child interpreter that must import the same
    opentracker this test process imports (an installed copy in CI, src/ in
    an editable checkout)."""
    import opentracker
    import opentracker_core
    # Absolute paths: the child runs in another working directory.
    dirs = {os.path.dirname(os.path.dirname(os.path.abspath(m.__file__))) for m in (opentracker, opentracker_core)}
    extra = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(sorted(dirs) + [p for p in extra if p not in dirs])


def emulated_command():
    """argv prefix of the installed tracker under OT_EMULATOR, or None."""
    prefix = os.environ.get("OT_EMULATOR")
    if not prefix:
        return None
    root = os.environ["OT_EMULATOR_ROOT"]
    cmd = shlex.split(os.environ.get("OT_EMULATOR_COMMAND", "/usr/bin/opentracker"))
    with open(os.path.join(root, cmd[0].lstrip("/")), "rb") as f:
        first = f.readline(256)
    if first.startswith(b"#!"):
        cmd = first[2:].decode().split() + cmd
    return shlex.split(prefix) + [os.path.join(root, cmd[0].lstrip("/"))] + cmd[1:]


def free_port(host="127.0.0.1"):
    """A port free for both TCP and UDP on host (and on ::1 when asked)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as t:
            t.bind((host, 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as u:
                    u.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


class Tracker:
    """A tracker subprocess bound to 127.0.0.1:port (TCP and UDP) and, with
    ipv6=True, to [::1]:port as well.

    config: extra config-file lines; args: extra command-line arguments.
    whitelist: an iterable of 20-byte hashes written to a whitelist file and
    configured (required for impl="c", whose build refuses everything else).
    """

    def __init__(self, impl=None, config=(), args=(), whitelist=None, ipv6=False, stats=True,
                 port=None, listen=True, env=None, netns=None):
        self.impl = impl or os.environ.get("OT_IMPL", "ours")
        self.netns = netns   # run inside this (test-made) network namespace
        self.dir = tempfile.mkdtemp(prefix="ot-test-")
        # The C binary, started as root, drops to nobody before reading lists.
        os.chmod(self.dir, 0o755)
        self.port = port or free_port()
        self.ipv6 = ipv6
        lines = []
        if listen:
            lines += ["listen.tcp 127.0.0.1:%d" % self.port, "listen.udp 127.0.0.1:%d" % self.port]
            if ipv6:
                lines += ["listen.tcp [::1]:%d" % self.port, "listen.udp [::1]:%d" % self.port]
        if stats:
            lines.append("access.stats 127.0.0.1")
        self.whitelist_path = os.path.join(self.dir, "whitelist.txt")
        if whitelist is not None:
            self.write_whitelist(whitelist)
            lines.append("access.whitelist %s" % self.whitelist_path)
        lines += list(config)
        # OT_WORKERS=N runs every test's tracker with N worker loops (.ci/run
        # runs the network tests so), unless the test chose its own.
        workers = os.environ.get("OT_WORKERS")
        if workers and self.impl != "c" and not any(line.startswith("tracker.workers") for line in lines):
            lines.append("tracker.workers %s" % workers)
        self.config_path = os.path.join(self.dir, "opentracker.conf")
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        if self.impl == "c":
            binary = c_binary()
            if binary is None:
                raise RuntimeError("the C opentracker is not installed (apt-get install opentracker)")
            self.argv = [binary, "-f", self.config_path] + list(args)
        else:
            program = emulated_command() or [sys.executable, "-m", "opentracker"]
            self.argv = program + ["-f", self.config_path] + list(args)
        if netns:
            self.argv = ["ip", "netns", "exec", netns] + self.argv
        self.env = dict(os.environ, **(env or {}))
        if self.impl != "c" and not os.environ.get("OT_EMULATOR") and "PYTHONPATH" not in (env or {}):
            self.env["PYTHONPATH"] = package_path()   # the tree under test, whatever the cwd
        self.proc = None
        self.stderr_path = os.path.join(self.dir, "stderr.txt")

    # ------------------------------------------------------------ lifecycle

    def path(self, name):
        """A path in the tracker's own temporary directory."""
        return os.path.join(self.dir, name)

    def add_config(self, *lines):
        """Append config lines (before start); paths may use self.path()."""
        with open(self.config_path, "a") as f:
            f.write("".join(line + "\n" for line in lines))

    def write_whitelist(self, hashes, path=None):
        path = path or self.whitelist_path
        with open(path, "w") as f:
            for h in hashes:
                f.write(h.hex() + "\n")
        os.chmod(path, 0o644)

    def start(self, wait=True, timeout=20.0):
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                     cwd=self.dir, env=self.env)
        if wait:
            try:
                self.wait_ready(timeout)
            except BaseException:
                self.stop()
                raise
        return self

    def wait_ready(self, timeout=20.0):
        """Until an HTTP request on the TCP port gets an answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("tracker exited with %s: %s" % (self.proc.returncode, self.stderr()))
            try:
                if self.http(b"GET /ready HTTP/1.0\r\n\r\n", timeout=1.0):
                    if self.impl == "c":
                        time.sleep(0.3)  # its access list loads in a thread after start-up
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("tracker did not answer within %ss: %s" % (timeout, self.stderr()))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=None, timeout=15.0):
        """Stop the process (SIGTERM; SIGINT for the C binary, which ignores
        SIGTERM's orderly path) and return its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if sig is None:
                sig = signal.SIGINT if self.impl == "c" else signal.SIGTERM
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not self._stderr.closed:
            self._stderr.close()
        return self.proc.returncode

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ HTTP

    def open_socket(self, family=socket.AF_INET, kind=socket.SOCK_STREAM):
        """A socket in the tracker's network namespace."""
        if not self.netns:
            return socket.socket(family, kind)
        from .netns import entered
        with entered(self.netns):
            return socket.socket(family, kind)

    def host(self, family=socket.AF_INET):
        return "::1" if family == socket.AF_INET6 else "127.0.0.1"

    def http(self, raw, timeout=5.0, family=socket.AF_INET, source=None):
        """Send raw bytes on a new connection; return everything received
        until the tracker closes it."""
        with self.open_socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            if source:
                s.bind((source, 0))
            s.connect((self.host(family), self.port))
            s.sendall(raw)
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks)

    def get(self, target, headers=(), **kw):
        """GET target; returns (status line, [header lines], body)."""
        raw = ("GET %s HTTP/1.0\r\n" % target).encode("latin-1")
        raw += b"".join(h.encode("latin-1") + b"\r\n" for h in headers) + b"\r\n"
        return split_response(self.http(raw, **kw))

    # ------------------------------------------------------------ UDP

    def udp(self, payload, timeout=2.0, family=socket.AF_INET, source=None, sock=None):
        """Send one datagram; return the reply, or None when none comes."""
        own = sock is None
        if own:
            sock = self.open_socket(family, socket.SOCK_DGRAM)
            if source:
                sock.bind((source, 0))
        try:
            sock.settimeout(timeout)
            sock.sendto(payload, (self.host(family), self.port))
            try:
                return sock.recv(65536)
            except socket.timeout:
                return None
        finally:
            if own:
                sock.close()

    def udp_connect(self, family=socket.AF_INET, source=None, sock=None):
        """BEP 15 connect; returns the 8-byte connection id."""
        reply = self.udp(struct.pack(">QII", 0x41727101980, 0, 0x1234), family=family,
                         source=source, sock=sock)
        assert reply is not None and len(reply) == 16, reply
        assert struct.unpack(">II", reply[:8]) == (0, 0x1234)
        return reply[8:]


def split_response(raw):
    """(status line, [header lines], body) of a raw HTTP/1.x response."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return raw.decode("latin-1"), [], b""
    lines = head.decode("latin-1").split("\r\n")
    return lines[0], lines[1:], body


def same_bytes(got, expected, what="body"):
    """got == expected, or an AssertionError that says where they part (a
    plain assert on megabytes makes pytest compute a diff for minutes)."""
    if got == expected:
        return True
    at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
    raise AssertionError("%s differs at byte %d of %d (expected %d bytes): got %r, expected %r" % (
        what, at, len(got), len(expected), got[max(0, at - 40):at + 40], expected[max(0, at - 40):at + 40]))


def dechunk(body):
    """The body of a chunked transfer coding (RFC 9112 §7.1), checked
    strictly: size lines in hex, CRLF after every chunk, the last chunk and
    the final CRLF present and nothing after them. A cut-off body fails."""
    out = []
    i = 0
    while True:
        j = body.index(b"\r\n", i)
        line = body[i:j]
        assert line and all(c in b"0123456789abcdef" for c in line), line[:20]
        size = int(line, 16)
        i = j + 2
        if size == 0:
            assert body[i:] == b"\r\n", body[i:i + 20]
            return b"".join(out)
        assert len(body) >= i + size + 2, "cut off"
        out.append(body[i:i + size])
        i += size
        assert body[i:i + 2] == b"\r\n", body[i:i + 20]
        i += 2


def udp_announce_packet(connection_id, info_hash, peer_id=b"-XX0001-000000000000", downloaded=0,
                        left=0, uploaded=0, event=0, ip=0, key=0, numwant=0xFFFFFFFF, port=6881,
                        transaction_id=0x5555):
    """A 98-byte BEP 15 announce."""
    return (connection_id + struct.pack(">II", 1, transaction_id) + info_hash + peer_id +
            struct.pack(">QQQIIIiH", downloaded, left, uploaded, event, ip, key,
                        numwant if numwant < 2**31 else numwant - 2**32, port))


def udp_scrape_packet(connection_id, hashes, transaction_id=0x7777):
    return connection_id + struct.pack(">II", 2, transaction_id) + b"".join(hashes)
