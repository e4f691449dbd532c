"""What the Python shell costs at rest, module by module (docs/memory.md,
"The shell at rest").

    python3 bench/shell_imports.py                      # this checkout, this Python
    python3 bench/shell_imports.py --root ROOT --qemu qemu-mipsel-static
                                                        # an emulated router's root with
                                                        # the package installed

1. Starts the tracker on loopback with PYTHONPROFILEIMPORTTIME=1, waits until
   it answers HTTP, reads its RSS at rest, stops it. The modules it had
   imported by then (stderr, in the order their imports finished) are what
   start-up up to serving needs.
2. A fresh interpreter imports those modules one at a time in that order, so
   each import loads only its own module; after each, the RSS (read from
   outside) and, in a second interpreter, tracemalloc's traced bytes (kept
   apart: tracemalloc's own tables would show in the RSS).
3. The bare interpreter, idle, for the base.

Under --qemu, RSS is the guest's (crossbuild/memory.py's method: qemu with a
fixed guest base, the Rss of the mappings inside the guest window), and the
environment carries no PYTHON* variable of the host's but the import timer.
"""

import argparse
import os
import socket
import subprocess
import sys
import shutil
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# Imports each module named on stdin, answers with the traced bytes (0
# without tracemalloc) once it is loaded.
CHILD = r"""
import sys
trace = sys.argv[1] == "trace"
if trace:
    import tracemalloc
    tracemalloc.start()
print(" ".join(sorted(sys.modules)), flush=True)
print(tracemalloc.get_traced_memory()[0] if trace else 0, flush=True)
for line in sys.stdin:
    name = line.strip()
    try:
        __import__(name)
        ok = "ok"
    except Exception as exc:
        ok = "failed:%s" % type(exc).__name__
    print(ok, tracemalloc.get_traced_memory()[0] if trace else 0, flush=True)
"""


def bytecode_copy(work):
    """The packages as the .ipk installs them (crossbuild/mkipk.sh): legacy
    .pyc beside where the source was, no .py, so nothing is compiled at
    import (compiling leaves the parser's memory in the RSS)."""
    site = os.path.join(work, "site")
    for pkg in ("opentracker", "opentracker_core"):
        shutil.copytree(os.path.join(REPO, "src", pkg), os.path.join(site, pkg),
                        ignore=shutil.ignore_patterns("*.pyx", "*.pxd", "*.pxi", "*.c", "includes", "__pycache__"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-b", site], check=True, stdout=subprocess.DEVNULL)
    for top, _, files in os.walk(site):
        for name in files:
            if name.endswith(".py"):
                os.unlink(os.path.join(top, name))
    return site


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    """How to start a Python (and the tracker) and read a process's RSS."""

    def __init__(self, a):
        self.a = a
        if a.qemu:
            sys.path.insert(0, os.path.join(REPO, "crossbuild"))
            from memory import BASE, guest_rss
            self.prefix = [a.qemu, "-B", hex(BASE), "-L", a.root]
            self.rss = guest_rss
            self.python = [os.path.join(a.root, "usr/bin/python3")]
            self.env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
            self.tracker = self.python + ["/usr/bin/opentracker"]
        else:
            self.prefix = []
            self.rss = self._rss
            self.python = [a.python]
            self.env = dict(os.environ, PYTHONPATH=bytecode_copy(a.work))
            self.tracker = self.python + ["-m", "opentracker"]

    @staticmethod
    def _rss(pid):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def popen(self, argv, env=None, **kw):
        return subprocess.Popen(self.prefix + argv, env=env or self.env, **kw)


def settle(rss, pid, seconds=1.5):
    """RSS once it stopped moving."""
    last, since = rss(pid), time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and time.monotonic() - since < seconds:
        time.sleep(0.2)
        now = rss(pid)
        if now != last:
            last, since = now, time.monotonic()
    return last


def answered(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"GET /ready HTTP/1.0\r\n\r\n")
            return bool(s.recv(16))
    except OSError:
        return False


def run_tracker(t, work):
    """(rss at rest, [modules imported until serving, in order])."""
    port = free_port()
    conf = os.path.join(work, "shell.conf")
    with open(conf, "w") as f:
        f.write("listen.tcp 127.0.0.1:%d\nlisten.udp 127.0.0.1:%d\n" % (port, port))
    err_path = os.path.join(work, "importtime.txt")
    with open(err_path, "wb") as err:
        p = t.popen(t.tracker + ["-f", conf], env=dict(t.env, PYTHONPROFILEIMPORTTIME="1"),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 120
        while not answered(port):
            if p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the tracker did not start: %s" % open(err_path).read()[-2000:])
            time.sleep(0.1)
        with open(err_path) as f:
            text = f.read()   # what was imported by the time it serves
        rest = settle(t.rss, p.pid)
    finally:
        p.terminate()
        p.wait(60)
    names = [line.split("|")[2].strip() for line in text.splitlines()
             if line.startswith("import time:") and "imported package" not in line]
    return rest, names


def per_import(t, names, mode):
    """[(module, rss after, bytes traced by its import)] importing names one
    by one; in "trace" mode the modules tracemalloc itself imported are
    left out (already loaded)."""
    p = t.popen(t.python + ["-c", CHILD, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        have = set(p.stdout.readline().split())
        rows = [("(interpreter)", settle(t.rss, p.pid, 1.0), 0)]
        traced_before = int(p.stdout.readline())
        for name in names:
            if name in have:
                continue
            have.add(name)
            p.stdin.write(name + "\n")
            p.stdin.flush()
            ok, traced = p.stdout.readline().split()
            if ok == "failed:ModuleNotFoundError":
                continue   # a failed attempt in the tracker too (nt, _winapi)
            if ok != "ok":
                raise SystemExit("cannot import %s: %s" % (name, ok))
            traced = int(traced)
            rows.append((name, t.rss(p.pid), traced - traced_before))
            traced_before = traced
        rows.append(("(settled)", settle(t.rss, p.pid, 1.0), 0))
    finally:
        p.stdin.close()
        p.wait(60)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=sys.executable, help="the interpreter (without --qemu)")
    ap.add_argument("--root", help="the emulated router's root, the package installed")
    ap.add_argument("--qemu", help="qemu-user binary for the root's architecture")
    a = ap.parse_args()
    if bool(a.root) != bool(a.qemu):
        ap.error("--root and --qemu go together")
    with tempfile.TemporaryDirectory(prefix="shell-imports-") as work:
        a.work = work
        t = Target(a)
        rest, names = run_tracker(t, work)
        rss_rows = per_import(t, names, "rss")
        trace_rows = {name: traced for name, _, traced in per_import(t, names, "trace")}
    base = rss_rows[0][1]
    print("%-36s %10s %10s" % ("module (in import order)", "RSS KiB", "traced KiB"))
    prev_rss = base
    for name, rss, _ in rss_rows[1:-1]:
        traced = "%10.1f" % (trace_rows[name] / 1024) if name in trace_rows else "%10s" % "-"
        print("%-36s %+10.1f %s" % (name, (rss - prev_rss) / 1024, traced))
        prev_rss = rss
    imported = rss_rows[-1][1]
    print("%-36s %10.1f" % ("interpreter alone", base / 1024))
    print("%-36s %10.1f  (+%.1f over the interpreter; %d modules)"
          % ("every module above imported", imported / 1024, (imported - base) / 1024, len(rss_rows) - 2))
    print("%-36s %10.1f  (+%.1f over the imports: start-up's objects, the loop's buffers)"
          % ("the tracker at rest", rest / 1024, (rest - imported) / 1024))


if __name__ == "__main__":
    main()
