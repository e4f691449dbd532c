"""Start-up and shutdown around the compiled loop, in the order of
docs/compatibility.md, "Start-up order and privileges":
bind every listener -> drop privileges (chroot, setuid) -> load access list
and state -> install signals -> run the loop -> orderly stop."""

import errno
import os
import pwd
import resource
# The C module under socket.py: the shell needs only its sockets and constants, and socket.py's
# enums, selectors and friends would cost the router about 630 KiB at rest (docs/memory.md).
import _socket as socket

from opentracker_core import Server
from opentracker_core._core import PERM_ALL, PERM_PROXY, PERM_STATS, PERM_SYNC

from .config import worker_loops
from .errors import EXIT_FATAL, StartupError, say
from .signals import SignalRouter

# clusterkey, accesslist and state are imported by _run when a setting asks
# for them: a tracker without a key, an access list or a state file never
# loads them, nor the re module that state uses (docs/memory.md, "The shell
# at rest").


# ---------------------------------------------------------------- binding

def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind_listener(listen, v6only, reuseport=False):
    """A bound, non-blocking socket for one Listen (listening when TCP).
    reuseport: other sockets may bind the same address and port (the UDP
    workers' copies, bind_worker_copies)."""
    family = _family(listen.host)
    kind = socket.SOCK_STREAM if listen.proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    try:
        if listen.proto == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
        addr = (listen.host, listen.port, 0, 0) if family == socket.AF_INET6 else (listen.host, listen.port)
        if family == socket.AF_INET6 and "%" in listen.host:
            addr = socket.getaddrinfo(listen.host, listen.port, family, kind)[0][4]
        sock.bind(addr)
        if listen.proto == "tcp":
            sock.listen(1024)
            # Wake us only once a request has arrived: accept, answer and
            # close then happen in one turn of the loop.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 10)
        else:
            # Room for bursts on busy trackers (the kernel caps it at rmem_max).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_all(listens, reuseport=False):
    """Bind every listener, in order. A wildcard IPv6 socket is dual-stack
    unless an IPv4 listener shares its protocol and port. When the machine
    has no IPv6 at all, a wildcard "::" falls back to 0.0.0.0.
    reuseport: the sockets let the workers' copies share their port."""
    bound = []
    try:
        for listen in listens:
            v4_twin = any(o.proto == listen.proto and o.port == listen.port and _family(o.host) == socket.AF_INET
                          for o in listens)
            try:
                sock = bind_listener(listen, v6only=v4_twin, reuseport=reuseport)
            except OSError as e:
                if listen.host == "::" and e.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL) and not v4_twin:
                    fallback = type(listen)(listen.proto, "0.0.0.0", listen.port)
                    try:
                        sock = bind_listener(fallback, v6only=False, reuseport=reuseport)
                    except OSError as e2:
                        raise StartupError("cannot bind %s: %s" % (fallback, e2.strerror)) from None
                else:
                    raise StartupError("cannot bind %s: %s" % (listen, e.strerror)) from None
            bound.append((listen.proto, sock))
    except BaseException:
        for _, sock in bound:
            sock.close()
        raise
    return bound


def bind_worker_copies(bound, workers):
    """For each worker 1..workers-1, a copy of every bound listener: the
    same address and port (the one the kernel gave included), protocol and
    dual-stack setting: [(proto, worker, socket)]. SO_REUSEPORT spreads
    clients over the copies by their address and port (docs/architecture.md,
    "Worker loops")."""
    copies = []
    try:
        for proto, sock in bound:
            addr = sock.getsockname()
            v6only = (sock.family == socket.AF_INET6
                      and sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
            for worker in range(1, workers):
                copy = socket.socket(sock.family, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
                copies.append((proto, worker, copy))
                if proto == "tcp":
                    copy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                copy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if sock.family == socket.AF_INET6:
                    copy.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
                copy.bind(addr)
                if proto == "tcp":
                    copy.listen(1024)
                    copy.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 10)
                else:
                    copy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                copy.setblocking(False)
    except OSError as e:
        for _, _, copy in copies:
            copy.close()
        raise StartupError("cannot bind a worker's copy of a listener: %s" % e.strerror) from None
    return copies


def listen_text(bound):
    """The bound sockets as the status page lists them: `tcp 0.0.0.0:6969,
    udp [::]:6969` (the addresses the kernel gave, so port 0 shows its port)."""
    parts = []
    for proto, sock in bound:
        host, port = sock.getsockname()[:2]
        parts.append("%s %s:%d" % (proto, "[%s]" % host if ":" in host else host, port))
    return ", ".join(parts)


# ---------------------------------------------------------------- live sync

def open_livesync(settings):
    """(inbound, outbound) sockets of the cluster, or None when live sync is
    off. Inbound is bound to the group's port on every address and joins the
    group on the configured interface address; outbound sends to the group
    from that address, TTL as configured, without looping back to us."""
    listen = settings.livesync_listen
    if listen is None:
        return None
    iface = "0.0.0.0" if listen.host in ("0.0.0.0", "::") else listen.host
    group = socket.inet_aton(settings.livesync_group)
    inbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        inbound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        inbound.bind(("0.0.0.0", listen.port))
        inbound.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group + socket.inet_aton(iface))
        outbound.bind((iface, 0))
        outbound.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, settings.livesync_ttl)
        outbound.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        outbound.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
        inbound.setblocking(False)
        outbound.setblocking(False)
    except OSError as e:
        inbound.close()
        outbound.close()
        raise StartupError("cannot set up live sync on %s:%d (group %s): %s"
                           % (iface, listen.port, settings.livesync_group, e.strerror)) from None
    return inbound, outbound


# ---------------------------------------------------------------- privileges

def drop_privileges(settings):
    """As docs/compatibility.md, "Start-up order and privileges" says: look
    the user up first; as root chroot to the root dir (if any), chdir to /,
    and become the user, refusing to go on as uid or gid 0; as anyone else
    just chdir to the root dir."""
    if os.geteuid() != 0:
        if settings.rootdir:
            try:
                os.chdir(settings.rootdir)
            except OSError as e:
                raise StartupError("cannot change to directory %s: %s" % (settings.rootdir, e.strerror))
        return
    try:
        pw = pwd.getpwnam(settings.user)
    except KeyError:
        # The original ran as uid -2 then; an identity nobody chose is worse
        # than not starting.
        raise StartupError("user %s does not exist (set tracker.user or -u)" % settings.user) from None
    uid, gid = pw.pw_uid, pw.pw_gid
    try:
        if settings.rootdir:
            os.chroot(settings.rootdir)
        os.chdir("/")
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    except OSError as e:
        raise StartupError("cannot drop privileges to %s: %s" % (settings.user, e.strerror))
    if os.getuid() == 0 or os.getgid() == 0:
        raise StartupError("refusing to run as root (user %s has uid or gid 0); choose another user with -u"
                           % settings.user)


# ---------------------------------------------------------------- networks

_V4_MAPPED = bytes(10) + b"\xff\xff"   # ::ffff:0:0/96


def reload_cluster_key(server, settings):
    """SIGHUP: the cluster key file again. The key before it is still taken
    for one send interval; a file that cannot be used keeps the old key."""
    from . import clusterkey   # in sys.modules since start-up, before any chroot
    try:
        key = clusterkey.read(settings.livesync_key)
    except ValueError as e:
        say("opentracker: livesync.cluster.key not reloaded, the key in use stays: %s" % e)
        return
    server.set_livesync_key(key, settings.livesync_accept_unsigned)


def network_entries(settings):
    """The blessed networks as the core wants them: 16-byte address (IPv4
    as IPv4-mapped), prefix length over 16 bytes, permission bits."""
    out = []

    def add(nets, perms):
        for net in nets:
            if net.version == 4:
                out.append((_V4_MAPPED + net.network_address.packed, 96 + net.prefixlen, perms))
            else:
                out.append((net.network_address.packed, net.prefixlen, perms))

    add(settings.stats_nets, PERM_STATS)
    add(settings.proxy_nets, PERM_PROXY)
    add(settings.livesync_nodes, PERM_SYNC)
    add(settings.admin_nets, PERM_ALL)
    return out


# ---------------------------------------------------------------- the run

def run(settings):
    """Run the tracker until SIGINT/SIGTERM; returns the exit status."""
    try:
        return _run(settings)
    except StartupError as e:
        say("opentracker: %s" % e)
        return EXIT_FATAL


# Descriptors beyond the HTTP connections: listeners, epoll, the wakeup
# pipe, access-list fifos, live sync, the state file, stdio.
_SPARE_FDS = 64


def raise_fd_limit(settings):
    """Let the soft descriptor limit cover tracker.http_max_connections, as
    far as the hard limit allows: a service manager's default soft limit
    (often 1024, procd's included) would otherwise refuse connections long
    before the configured count. Returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = settings.http_max_connections + _SPARE_FDS
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (OSError, ValueError):
            pass
    return soft


def _run(settings):
    raise_fd_limit(settings)
    workers = worker_loops(settings)
    bound = bind_all(settings.listens, reuseport=workers > 1)
    copies = bind_worker_copies(bound, workers)
    server = Server(memory_limit=settings.memory_limit)
    server.set_workers(workers)
    server.set_listen_text(listen_text(bound).encode("utf-8", "replace"))
    for proto, sock in bound:
        server.add_listener(sock.detach(), proto)
    for proto, worker, sock in copies:
        server.add_listener(sock.detach(), proto, worker)
    sync = open_livesync(settings)
    if sync is not None:
        server.set_livesync(sync[0].detach(), sync[1].detach(), settings.livesync_group,
                            settings.livesync_listen.port, settings.livesync_send_interval)
        if settings.livesync_key:
            # read before privileges are dropped: the file may be root's alone
            from . import clusterkey
            try:
                server.set_livesync_key(clusterkey.read(settings.livesync_key), settings.livesync_accept_unsigned)
            except ValueError as e:
                raise StartupError("livesync.cluster.key: %s" % e) from None
    if settings.syslog_completed:
        server.open_syslog()
    # Imported before privileges are dropped: after a chroot or a setuid the
    # library may be out of reach.
    accesslist = state = None
    if settings.whitelist or settings.blacklist or settings.fifo_add or settings.fifo_delete:
        from . import accesslist
    if settings.load_state or settings.statefile:
        from . import state
    drop_privileges(settings)
    server.configure(
        redirect_url=settings.redirect_url,
        stats_path=settings.stats_path,
        fullscrape=settings.fullscrape,
        compression=settings.compression,
        ip_from_query=settings.ip_from_query,
        http_timeout=settings.http_timeout,
        send_timeout=settings.send_timeout,
        fullscrape_cache=settings.fullscrape_cache,
        connid_window=settings.udp_connid_window,
        max_connections=settings.http_max_connections,
        rate_limit=settings.rate_limit,
        modest_fullscrapes=settings.modest_fullscrapes,
        announce_interval=settings.announce_interval,
        adaptive_interval=settings.adaptive_interval,
        shedding=settings.shedding,
    )
    server.set_networks(network_entries(settings))
    access = None
    if accesslist is not None:
        access = accesslist.AccessControl(server, settings)
        access.load(first=True)
        access.open_fifos()
    keeper = None
    if state is not None:
        keeper = state.StateKeeper(server, settings)
        keeper.load()
        if keeper.path:
            server.set_hook(keeper.interval, keeper.save)

    def stop(signum):
        server.stop()

    def reload():
        if access is not None:
            access.load()
        if sync is not None and settings.livesync_key:
            reload_cluster_key(server, settings)

    router = SignalRouter(server, on_reload=reload, on_stop=stop)
    router.install()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        router.uninstall()
        if access is not None:
            access.close_fifos()
    server.flush_livesync()
    if keeper is not None:
        keeper.save()
    return 0
