"""Network namespaces made by a test: several hosts on one bridge, for
traffic that must cross a network (live-sync multicast). Nothing here
touches the host's own namespace except creating and deleting the named
namespaces; every address lives inside them (10.199.0.0/24).

Sockets are opened inside a namespace by switching the calling thread into
it for the socket() call only; a socket stays in the namespace it was
created in.
"""

import contextlib
import ctypes
import os
import shutil
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def available():
    """Root, iproute2 and a kernel that lets us make namespaces and veths."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    name = "ot-probe-%d" % os.getpid()
    ok = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0
    if ok:
        ok = subprocess.run(["ip", "-n", name, "link", "add", "p0", "type", "veth", "peer", "name", "p1"],
                            capture_output=True).returncode == 0
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return ok


def _ip(*args):
    subprocess.run(["ip"] + list(args), check=True, capture_output=True)


@contextlib.contextmanager
def entered(name):
    """Run the body with this thread in namespace `name`."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/var/run/netns/%s" % name, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into %s failed" % name)
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back failed")
    finally:
        os.close(target)
        os.close(own)


class Lan:
    """`count` hosts, each in its own namespace with eth0 = 10.199.0.<i+1>,
    wired to a bridge in one more namespace. Multicast is routed out eth0."""

    def __init__(self, count):
        tag = "ot%d" % os.getpid()
        self.bridge = "%s-br" % tag
        self.hosts = ["%s-h%d" % (tag, i) for i in range(count)]
        self.addresses = ["10.199.0.%d" % (i + 1) for i in range(count)]

    def __enter__(self):
        try:
            _ip("netns", "add", self.bridge)
            _ip("-n", self.bridge, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
            _ip("-n", self.bridge, "link", "set", "br0", "up")
            for i, (host, addr) in enumerate(zip(self.hosts, self.addresses)):
                _ip("netns", "add", host)
                _ip("-n", host, "link", "add", "eth0", "type", "veth", "peer", "name", "port%d" % i,
                    "netns", self.bridge)
                _ip("-n", self.bridge, "link", "set", "port%d" % i, "master", "br0", "up")
                _ip("-n", host, "link", "set", "lo", "up")
                _ip("-n", host, "addr", "add", addr + "/24", "dev", "eth0")
                _ip("-n", host, "link", "set", "eth0", "up")
                _ip("-n", host, "route", "add", "224.0.0.0/4", "dev", "eth0")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for name in self.hosts + [self.bridge]:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
