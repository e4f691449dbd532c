"""opentracker config files and option values -> one frozen Settings object.

The syntax is the C original's (docs/compatibility.md, "Config file syntax"):
one `key value` per line, leading whitespace skipped, `#` lines and empty lines
ignored, no inline comments, trailing whitespace stripped, and a key counts only
when whitespace follows it. Where we differ (docs/compatibility.md, "Features
are settings"): every WANT_* key is always accepted, an invalid value stops
start-up with file, line and reason instead of being skipped, out of range
ports are refused, and long lines are read whole instead of being cut into
511-byte pieces.

`KEYS_TABLE` holds everything about each key (its Settings field, how its value
is read, parser, default, documentation); Settings, its defaults, `KEYS` and
the parsing are derived from it. `Builder` collects settings in command-line
order; cli.py feeds it options and `-f` files, `load()` is the shortcut for
config files alone. Both give back `(settings, warnings)`: warnings are
finished lines for stderr.

Over 600 lines on purpose: about half is KEYS_TABLE itself, one entry with a
documentation line per key (the man page opentracker.conf(5) is written from
it), and splitting the table from the value parsers it names would put one
key's definition in two files.
"""

import ipaddress
import os
from collections import namedtuple

from opentracker_core._core import DEFAULTS as CORE_DEFAULTS, INTERVAL_CEILING, INTERVAL_MIN, MAX_REDIRECT_URL, \
    MAX_STATS_PATH, WORKERS_MAX

__all__ = [
    "DEFAULT_ADDRESS", "DEFAULT_PORT", "LIVESYNC_PORT", "KEYS", "KEYS_TABLE",
    "Key", "Listen", "Settings", "ConfigError", "Builder", "load",
    "parse_address", "parse_endpoint", "parse_port", "parse_net", "parse_size",
    "option_origin", "printable",
]

DEFAULT_ADDRESS = "::"      # dual stack: every IPv4 and IPv6 address
DEFAULT_PORT = 6969
LIVESYNC_PORT = 9696

# A config file is a few kilobytes; these bounds keep `-f /dev/zero` or a
# binary passed by mistake from eating memory or flooding the terminal.
MAX_FILE_BYTES = 1 << 20
MAX_LINE_BYTES = 8192
MAX_UNHANDLED_SHOWN = 20

# C isspace() in the C locale. str.isspace() would also take \x1c-\x1f and
# Unicode spaces, which the original treats as ordinary characters.
_SPACE = " \t\n\v\f\r"


# Plain string tests rather than the re module: a tracker that serves never
# needs re otherwise, and importing it costs a few hundred KiB of RSS on a
# router (docs/memory.md, "The shell at rest").
def _digits(text):
    """text is one or more of 0-9 (str.isdigit alone takes other scripts' digits)."""
    return text.isascii() and text.isdigit()


# Listen and Settings are named tuples rather than dataclasses: importing
# dataclasses pulls in inspect, ast and tokenize, about a megabyte of RSS that
# a router would pay for nothing.

class Listen(namedtuple("Listen", "proto host port")):
    """proto: "tcp" or "udp"; host: numeric address text ("0.0.0.0", "::",
    "127.0.0.1", "fe80::1%eth0"); port: 0..65535."""

    __slots__ = ()

    def __str__(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s %s:%d" % (self.proto, host, self.port)


def _default_listens(host=DEFAULT_ADDRESS):
    return (Listen("tcp", host, DEFAULT_PORT), Listen("udp", host, DEFAULT_PORT))


class _Origin:
    """Where a value came from: a config line or a command-line option."""

    __slots__ = ("filename", "lineno", "line", "option", "arg")

    def __init__(self, filename=None, lineno=None, line=None, option=None, arg=None):
        self.filename, self.lineno, self.line = filename, lineno, line
        self.option, self.arg = option, arg

    @property
    def label(self):
        if self.option is not None:
            return "option %s %s" % (self.option, printable(self.arg))
        return "%s:%d" % (printable(self.filename), self.lineno)


def option_origin(flag, arg):
    """The origin of a value given as a command-line option."""
    return _Origin(option=flag, arg=arg)


class ConfigError(Exception):
    """An invalid value: start-up stops. str() is the whole message for stderr.

    filename/lineno are set for config lines, option (e.g. "-p") for options.
    """

    def __init__(self, reason, origin=None):
        self.reason = reason
        self.filename = origin.filename if origin else None
        self.lineno = origin.lineno if origin else None
        self.line = origin.line if origin else None
        self.option = origin.option if origin else None
        if origin is None:
            message = reason
        elif origin.line is not None:
            # The original's words first, so greps for them keep working.
            message = "%s: Parse error in config file: %s: %s" % (origin.label, printable(origin.line), reason)
        else:
            message = "%s: %s" % (origin.label, reason)
        super().__init__(message)


def printable(text):
    """Text safe to print on a terminal: control bytes, NUL and undecodable
    bytes (surrogate escapes) become \\xNN."""
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append("\\x%02x" % (code - 0xDC00))
        elif ch == "\t" or (ch.isprintable() and not 0xD800 <= code <= 0xDFFF):
            out.append(ch)
        elif code < 0x100:
            out.append("\\x%02x" % code)
        else:
            out.append("\\u%04x" % code)
    return "".join(out)


def _quote(text):
    return "'%s'" % printable(text)


# ---------------------------------------------------------------- values
# Each parser takes the value text and returns the value or raises ValueError
# whose message is the reason shown to the user.

def _uint(text, what, low=0, high=2**31 - 1):
    if not _digits(text):
        raise ValueError("%s must be a whole number, not %s" % (what, _quote(text)))
    if len(text.lstrip("0")) > 20 or not low <= int(text) <= high:
        raise ValueError("%s %s is out of range (%d..%d)" % (what, text, low, high))
    return int(text)


def parse_port(text):
    """Port text -> int; refuses what is not 0..65535 (the original's
    scan_ushort silently made 99999 into 9999)."""
    if text == "":
        raise ValueError("missing port number")
    return _uint(text, "port", 0, 65535)


def _ip(text):
    """ipaddress object for numeric IPv4/IPv6 text; an IPv4-mapped IPv6
    address becomes IPv4, since it names the same peers
    (docs/compatibility.md, "Dual stack")."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError("%s is not a numeric IPv4 or IPv6 address" % _quote(text)) from None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def parse_address(text):
    """An address alone (`-i`): IPv4, IPv6, or IPv6 in brackets -> host text."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return str(_ip(text))


def parse_endpoint(text, default_port):
    """`ip[:port]` -> (host text, port). Forms, as the original's scan_ip6_port:
    1.2.3.4  1.2.3.4:80  ::1  [::1]  [::1]:80  ::1.80  [::1].80
    A bare `addr:port` with an IPv6 address is refused: the colon is ambiguous.
    (Beware: `::1:6969` is itself a valid IPv6 address and is taken as one.)"""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("missing ']' after the IPv6 address")
        addr, rest = _ip(text[1:end]), text[end + 1:]
        if rest == "":
            return str(addr), default_port
        if rest[0] == ":" or (rest[0] == "." and addr.version == 6):
            return str(addr), parse_port(rest[1:])
        raise ValueError("expected ':port' after ']', not %s" % _quote(rest))
    try:
        return str(_ip(text)), default_port
    except ValueError:
        pass
    head, colon, tail = text.rpartition(":")
    if colon:
        try:
            addr = ipaddress.ip_address(head)
        except ValueError:
            addr = None
        if addr is not None and addr.version == 4:
            return str(addr), parse_port(tail)
        if addr is not None and _digits(tail):
            raise ValueError("an IPv6 address with a port needs brackets: [%s]:%s" % (head, tail))
    head, dot, tail = text.rpartition(".")
    if dot and "." not in head and _digits(tail):
        try:
            addr = ipaddress.IPv6Address(head)
        except ValueError:
            addr = None
        if addr is not None and addr.ipv4_mapped is None:
            return str(addr), parse_port(tail)
    raise ValueError("%s is not ip[:port] (forms: 1.2.3.4, 1.2.3.4:6969, ::1, [::1]:6969)" % _quote(text))


def parse_net(text):
    """`ip` or `ip/bits` -> IPv4Network or IPv6Network. As upstream, the bits
    of an IPv4-mapped IPv6 address count within its IPv4 part."""
    addr_text, slash, bits_text = text.partition("/")
    if "%" in addr_text:
        raise ValueError("a network cannot carry a zone index (%s)" % _quote(addr_text))
    addr = _ip(addr_text)
    bits = addr.max_prefixlen
    if slash:
        bits = _uint(bits_text, "prefix length", 0, addr.max_prefixlen)
    return ipaddress.ip_network((addr, bits), strict=False)


_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text):
    """Bytes: `24M`, `512K`, `1G`, `24MB`, `24MiB` or plain `25165824`
    (binary multiples)."""
    end = len(text) - len(text.lstrip("0123456789"))
    number, suffix = text[:end], text[end:].lower()
    unit = suffix[:1] if suffix[:1] in ("k", "m", "g", "t") and suffix[1:] in ("", "b", "ib") else None
    if not number or (unit is None and suffix not in ("", "b")):
        raise ValueError("%s is not a size (forms: 25165824, 512K, 24M, 1G)" % _quote(text))
    if len(number.lstrip("0")) > 19:
        raise ValueError("size %s is too large" % text)
    size = int(number) * _UNITS[unit]
    if size >= 2**63:
        raise ValueError("size %s is too large" % text)
    return size


_SWITCH = {"on": True, "yes": True, "true": True, "1": True,
           "off": False, "no": False, "false": False, "0": False}


def _switch(text):
    try:
        return _SWITCH[text.lower()]
    except KeyError:
        raise ValueError("expected on or off, not %s" % _quote(text)) from None


def _compression(text):
    value = text.lower()
    if value not in ("gzip", "off"):
        raise ValueError("expected gzip or off, not %s" % _quote(text))
    return value


def _multicast_group(text):
    addr = _ip(text)
    if addr.version != 4 or not addr.is_multicast:
        raise ValueError("%s is not an IPv4 multicast group (224.0.0.0/4)" % text)
    return str(addr)


def _whole(what, low=0, high=2**31 - 1):
    """A parser of whole numbers low..high; `what` names them in errors."""
    return lambda text: _uint(text, what, low, high)


def _workers(text):
    if text.lower() == "auto":
        return "auto"
    return _uint(text, "worker count", 1, WORKERS_MAX)


def worker_loops(settings):
    """How many loops run: tracker.workers (auto: the CPUs this process may
    use), at least listen.udp.workers, at most WORKERS_MAX."""
    want = settings.workers
    if want == "auto":
        want = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(WORKERS_MAX, max(want, settings.udp_workers)))


def _listens(*protos):
    """A parser of `ip[:port]` into one Listen per protocol."""
    def parse(text):
        host, port = parse_endpoint(text, DEFAULT_PORT)
        return tuple(Listen(proto, host, port) for proto in protos)
    return parse


def _livesync_endpoint(text):
    return parse_endpoint(text, LIVESYNC_PORT)


def _stats_path(text):
    # Requests are matched after their leading slashes are skipped, so
    # "/stats" could never match; it clearly means "stats".
    path = text.lstrip("/")
    if path == "":
        raise ValueError("the stats path needs at least one character besides '/'")
    if len(path.encode("utf-8", "surrogateescape")) > MAX_STATS_PATH:
        raise ValueError("the stats path is longer than %d bytes" % MAX_STATS_PATH)
    return path


def _redirect_url(text):
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        # It goes into a Location: header line.
        raise ValueError("the URL contains control characters")
    if len(text.encode("utf-8", "surrogateescape")) > MAX_REDIRECT_URL:
        raise ValueError("the URL is longer than %d bytes" % MAX_REDIRECT_URL)
    return text


# A budget this small given without a unit is most likely a missing "M".
_SMALL_MEMORY = 1 << 20
# BEP 15: a tracker should accept a connection id for two minutes.
_BEP15_CONNID_SECONDS = 120


def _small_budget(value, token):
    if 0 < value < _SMALL_MEMORY and _digits(token):
        return "tracker.memory_limit %s means %d bytes, a very small budget; did you mean %sM?" % (token, value, token)
    return None


def _short_connid_window(value, token):
    if value < _BEP15_CONNID_SECONDS:
        return ("UDP connection ids then live only %d-%d seconds; BEP 15 clients may use one for 2 minutes "
                "and would get 'Connection ID missmatch'" % (value, 2 * value))
    return None


# ---------------------------------------------------------------- keys

# The default of a setting the core applies is the core's: a Server that is
# not told otherwise applies it, so it is named there only
# (opentracker_core.DEFAULTS, by config key) and the table says CORE.
CORE = object()

# One config key, or (key None) a setting that only an option gives.
#   field    the Settings field it sets. Several keys may share one; the
#            first entry of a field gives its default and its place.
#   kind     how the value is read and kept:
#              "string"    the whole rest of the line (spaces and # included)
#              "token"     one word; text after it is ignored with a warning,
#                          as the original's scanners stop at whitespace
#              "net"       one word, ip[/bits]; each line adds a network
#              "listen"    one word, ip[:port]; each line adds its listeners
#              "livesync"  one word, ip[:port]; at most once
#            A "string" or "token" value replaces what an earlier line said.
#   parse    value text -> value; ValueError's message is the reason shown.
#            A "string" without one is kept as given.
#   default  the value in Settings() when nothing sets it; CORE (above)
#            for a setting the core applies.
#   arg, doc the value's form and one line on what the key does, for
#            listings and opentracker.conf(5).
#   warn     (value, token) -> a warning for a valid value that is most
#            likely a mistake, or None.
# A class with slots rather than a named tuple: a named tuple class costs
# about 8 KiB more (x86-64), on a router too.
class Key:
    __slots__ = ("key", "field", "kind", "parse", "default", "arg", "doc", "warn")

    def __init__(self, key, field, kind, parse, default, arg, doc, warn=None):
        if default is CORE:
            default = CORE_DEFAULTS[key]
        self.key, self.field, self.kind, self.parse = key, field, kind, parse
        self.default, self.arg, self.doc, self.warn = default, arg, doc, warn


KEYS_TABLE = (
    Key("listen.tcp_udp", "listens", "listen", _listens("tcp", "udp"), _default_listens(), "ip[:port]",
        "serve HTTP (TCP) and UDP announces on this address, port 6969 unless given; with no listen line "
        "and no -p or -P, TCP and UDP port 6969 of every IPv4 and IPv6 address"),
    Key("listen.tcp", "listens", "listen", _listens("tcp"), _default_listens(), "ip[:port]",
        "serve HTTP announces on this address"),
    Key("listen.udp", "listens", "listen", _listens("udp"), _default_listens(), "ip[:port]",
        "serve UDP (BEP 15) announces on this address"),
    Key("access.whitelist", "whitelist", "string", None, None, "file",
        "track only the torrents listed in this file (40 hex digits a line); reread on SIGHUP"),
    Key("access.blacklist", "blacklist", "string", None, None, "file",
        "track every torrent but those listed in this file; reread on SIGHUP; not with access.whitelist"),
    Key("access.fifo_add", "fifo_add", "string", None, None, "fifo",
        "hashes written to this named pipe join the access list until the next SIGHUP"),
    Key("access.fifo_delete", "fifo_delete", "string", None, None, "fifo",
        "hashes written to this named pipe leave the access list until the next SIGHUP"),
    Key("access.stats", "stats_nets", "net", parse_net, (), "ip[/bits]",
        "may read /stats, as loopback always may"),
    Key("access.proxy", "proxy_nets", "net", parse_net, (), "ip[/bits]",
        "a reverse proxy: the client is the first address of its X-Forwarded-For header"),
    Key(None, "admin_nets", "net", parse_net, (), "ip[/bits]",
        "every permission: stats, proxy and live sync"),
    Key("livesync.cluster.node_ip", "livesync_nodes", "net", parse_net, (), "ip[/bits]",
        "a live sync node whose packets are taken"),
    Key("access.stats_path", "stats_path", "string", _stats_path, CORE, "path",
        "the path the stats are served under (a leading / is ignored)"),
    Key("tracker.rootdir", "rootdir", "string", None, None, "dir",
        "started as root, chroot here after binding; otherwise chdir here"),
    Key("tracker.user", "user", "string", None, "nobody", "user",
        "started as root, run as this user (not one with uid or gid 0)"),
    Key("tracker.redirect_url", "redirect_url", "string", _redirect_url, CORE, "url",
        "answer GET / with a redirect to this URL rather than a 404"),
    Key("livesync.cluster.listen", "livesync_listen", "livesync", _livesync_endpoint, None, "ip[:port]",
        "live sync on: join the group on this IPv4 interface address, port 9696 unless given"),
    Key("livesync.cluster.group", "livesync_group", "token", _multicast_group, "224.0.23.5", "group",
        "the IPv4 multicast group of the live sync cluster"),
    Key("livesync.cluster.ttl", "livesync_ttl", "token", _whole("TTL", 0, 255), 1, "ttl",
        "the TTL of the live sync packets sent"),
    Key("livesync.cluster.send_interval", "livesync_send_interval", "token", _whole("interval", 1, 3600),
        CORE, "seconds", "the longest a peer record waits before a live sync packet takes it"),
    Key("livesync.cluster.key", "livesync_key", "string", None, None,
        "file", "sign live sync packets and take only signed ones: a secret of 32 hex digits shared by the "
        "nodes (openssl rand -hex 16); reread on SIGHUP, the old key taken one send interval more"),
    Key("livesync.cluster.accept_unsigned", "livesync_accept_unsigned", "token", _switch, False, "on|off",
        "with livesync.cluster.key, also take unsigned packets (C nodes, during a migration)"),
    Key(None, "load_state", "string", None, None, "file",
        "a state dump to load once at start-up"),
    Key("tracker.statefile", "statefile", "string", None, None, "file",
        "keep the torrents' downloaded counts here: loaded at start-up, written periodically and at the end"),
    Key("tracker.statefile_interval", "statefile_interval", "token", _whole("interval", 1), 600, "seconds",
        "the seconds between writes of tracker.statefile"),
    Key("tracker.fullscrape", "fullscrape", "token", _switch, CORE, "on|off",
        "answer GET /scrape without an info_hash with every torrent; serve mode=tpbs and mode=statedump"),
    Key("tracker.compression", "compression", "token", _compression, CORE, "gzip|off",
        "gzip full scrapes and big stats answers when the client's Accept-Encoding lists gzip"),
    Key("tracker.ip_from_query", "ip_from_query", "token", _switch, CORE, "on|off",
        "announce the address an announce's ip= parameter gives (for debugging)"),
    Key("tracker.modest_fullscrapes", "modest_fullscrapes", "token", _switch, CORE, "on|off",
        "one full scrape per client address per 5 minutes"),
    Key("tracker.syslog_completed", "syslog_completed", "token", _switch, False, "on|off",
        "log every completed download to syslog"),
    Key("tracker.memory_limit", "memory_limit", "token", parse_size, 0, "size",
        "the memory budget of torrents and peers (25165824, 512K, 24M, 1G); 0 is none", _small_budget),
    Key("tracker.rate_limit", "rate_limit", "token", _whole("rate"), CORE, "count",
        "announces and scrapes per client address per minute; 0 is no limit"),
    Key("tracker.udp_connid_window", "udp_connid_window", "token", _whole("window", 1), CORE, "seconds",
        "a UDP connection id is valid in the window it was issued in and the next", _short_connid_window),
    Key("tracker.http_max_connections", "http_max_connections", "token", _whole("connection limit", 1), CORE,
        "count", "the HTTP connections open at once"),
    Key("tracker.http_timeout", "http_timeout", "token", _whole("timeout", 1), CORE, "seconds",
        "the seconds a client has to send its request header"),
    Key("tracker.send_timeout", "send_timeout", "token", _whole("timeout", 1), CORE, "seconds",
        "the seconds an answer may go without the client taking a byte of it before the connection is closed"),
    # 10 s: indexers that poll a router at the same minute share one body
    # (the work and the memory done once), while a lone poll every few
    # minutes never keeps a multi-megabyte body around for long, and what
    # is served is at most 10 s older than the request.
    Key("tracker.fullscrape_cache", "fullscrape_cache", "token", _whole("seconds", 0, 3600), CORE, "seconds",
        "full scrapes asked for while one is made, or this long after, read that one (counted in the "
        "memory budget); 0 makes one for each request"),
    # docs/compatibility.md, "Adaptive announce intervals": the ceiling is
    # where a peer's timeout (1.5 times its interval) still fits the record's
    # age byte with room; the base may not exceed it.
    Key("tracker.announce_interval", "announce_interval", "token",
        _whole("interval", INTERVAL_MIN, INTERVAL_CEILING), CORE, "seconds",
        "the announce interval clients are told, a tenth either way drawn per answer (min interval half of it); "
        "peers are forgotten after 1.5 times it (45 minutes at least) without an announce"),
    Key("tracker.adaptive_interval", "adaptive_interval", "token", _switch, CORE, "on|off",
        "lengthen the interval by half of tracker.announce_interval for each doubling of a swarm past 50 peers "
        "and for the tracker's CPU and memory load, up to %d seconds" % INTERVAL_CEILING),
    # docs/shedding.md: on by default, since it changes nothing until the
    # UDP queue fills, and then turns a drop of any request into a quick
    # answer to the costly ones.
    Key("tracker.shedding", "shedding", "token", _switch, CORE, "on|off",
        "under overload (the UDP receive queue filling) answer full scrapes and heavy stats, then scrapes, then "
        "announces of new peers to swarms of 1000 peers or more with 503 (HTTP) or the error \"overloaded\" "
        "(UDP) instead of doing them"),
    # docs/architecture.md, "Worker loops": one loop is the default, as a
    # single-core router wants; auto is one per CPU the process may use.
    Key("tracker.workers", "workers", "token", _workers, 1, "count|auto",
        "event loops, each on a thread of its own with a copy of every listener; the kernel spreads clients "
        "over them (up to %d; auto: one per CPU this process may use)" % WORKERS_MAX),
    Key("listen.udp.workers", "udp_workers", "token", _whole("worker count", 0, 1024), 0, "count",
        "the C original's UDP threads: at least this many loops serve UDP (see tracker.workers)"),
    Key(None, "config_files", None, None, (), "file",
        "the config files read, in order"),
)

KEYS = frozenset(entry.key for entry in KEYS_TABLE if entry.key is not None)
_BY_KEY = {entry.key: entry for entry in KEYS_TABLE if entry.key is not None}

_DEFAULTS = {}
for _entry in KEYS_TABLE:
    _DEFAULTS.setdefault(_entry.field, _entry.default)
del _entry
Settings = namedtuple("Settings", _DEFAULTS, defaults=_DEFAULTS.values())
Settings.__doc__ = "Everything the command line and the config files said; Settings() is the default tracker."
del _DEFAULTS

# A tracker is closed except for a list or open except for one, not both.
_EXCLUSIVE = {"whitelist": "blacklist", "blacklist": "whitelist"}


def _split_token(value):
    """(first word, the rest after whitespace)."""
    for i, ch in enumerate(value):
        if ch in _SPACE:
            return value[:i], value[i:].lstrip(_SPACE)
    return value, ""


# ---------------------------------------------------------------- builder

class Builder:
    """Collects settings in the order options and config lines are given.

    Important: values are checked as they arrive (ConfigError names the line
    or option); checks that need the whole picture run in build().
    """

    def __init__(self):
        self._values = {}
        self._origins = {}          # Settings field -> _Origin of its last setting
        self._listens = []
        self._nets = {entry.field: [] for entry in KEYS_TABLE if entry.kind == "net"}
        self._files = []
        self._address = None        # the current -i address, None = DEFAULT_ADDRESS
        self._address_origin = None
        self._address_used = True
        self.warnings = []
        # --check-config: a list that collects every ConfigError of a line or
        # option and goes on, instead of stopping at the first (None).
        self.errors = None

    # -- command-line operations, in the order they are given

    def set_address(self, text, origin):
        """-i: the address for the following -p, -P and -s."""
        try:
            self._address = parse_address(text.strip(_SPACE))
        except ValueError as exc:
            raise ConfigError(str(exc), origin) from None
        self._address_origin = origin
        self._address_used = False

    def add_port(self, proto, text, origin):
        """-p (tcp) / -P (udp) on the current -i address."""
        try:
            port = parse_port(text.strip(_SPACE))
        except ValueError as exc:
            raise ConfigError(str(exc), origin) from None
        self._address_used = True
        self._add_listen(Listen(proto, self._current_address(), port), origin)

    def set_livesync_port(self, text, origin):
        """-s: live sync on the current -i address."""
        try:
            port = parse_port(text.strip(_SPACE))
        except ValueError as exc:
            raise ConfigError(str(exc), origin) from None
        self._address_used = True
        self._set_livesync(self._current_address(), port, origin)

    def add_admin(self, text, origin):
        """-A ip[/bits]: every permission (stats, proxy, live sync)."""
        try:
            self._nets["admin_nets"].append(parse_net(text.strip(_SPACE)))
        except ValueError as exc:
            raise ConfigError(str(exc), origin) from None

    def apply_option(self, key, text, origin):
        """-w -b -d -u -r: an option that sets the same thing as a key."""
        self.apply(key, text.strip(_SPACE), origin)

    def set_load_state(self, text, origin):
        """-l file: a state dump to load once at start-up."""
        self._set_string("load_state", text.strip(_SPACE), origin)

    def apply(self, key, value, origin):
        """One config key with its value (leading/trailing whitespace already
        stripped, as a config line gives it). Also serves -w -b -d -u -r."""
        if value == "":
            raise ConfigError("%s needs a value" % key, origin)
        entry = _BY_KEY.get(key)
        if entry is not None and entry.kind == "string":
            if any(space + "#" in value for space in _SPACE) and origin.line is not None:
                self._warn(origin, "the whole text %s is the value of %s (there are no inline comments)"
                           % (_quote(value), key))
            self._set_string(entry.field, value, origin, entry.parse)
            return
        token, rest = _split_token(value)
        if rest and origin.line is not None:
            self._warn(origin, "text after the value of %s is ignored: %s (there are no inline comments)"
                       % (key, _quote(rest)))
        if entry is None:
            raise ConfigError("unknown key %s" % key, origin)
        try:
            value = entry.parse(token)
        except ValueError as exc:
            raise ConfigError(str(exc), origin) from None
        if entry.kind == "listen":
            for listen in value:
                self._add_listen(listen, origin)
        elif entry.kind == "net":
            self._nets[entry.field].append(value)
        elif entry.kind == "livesync":
            self._set_livesync(*value, origin)
        else:
            self._values[entry.field] = value
            self._origins[entry.field] = origin
            warning = entry.warn and entry.warn(value, token)
            if warning:
                self._warn(origin, warning)

    def read_file(self, path):
        """-f: read a config file now; its listen lines take their place in
        the order. A file that cannot be opened is a warning, as in the
        original. Returns whether the file was read."""
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            if self.errors is not None:
                # Checking: a file the operator named and that is not there
                # is a problem, although start-up goes on without it.
                self.errors.append(ConfigError("cannot open config file %s: %s" % (printable(path), reason)))
                return False
            self.warnings.append("Warning: Can't open config file: %s. (%s)" % (printable(path), reason))
            return False
        if len(data) > MAX_FILE_BYTES:
            self.collect(ConfigError("%s: larger than %d bytes; is this a config file?"
                                     % (printable(path), MAX_FILE_BYTES)))
            return False
        self.read_text(data, path)
        self._files.append(path)
        return True

    def collect(self, error):
        """Keep a ConfigError (checking) or raise it (starting)."""
        if self.errors is None:
            raise error
        self.errors.append(error)

    def read_text(self, data, filename="<config>"):
        """Config text (bytes or str) as if read from filename."""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if data.startswith(b"\xef\xbb\xbf"):     # a UTF-8 BOM some editors write
            data = data[3:]
        unhandled = 0
        for lineno, raw in enumerate(data.split(b"\n"), 1):
            origin = _Origin(filename, lineno, None)
            if len(raw) > MAX_LINE_BYTES:
                origin.line = raw[:60].decode("utf-8", "surrogateescape") + "..."
                self.collect(ConfigError("line longer than %d bytes" % MAX_LINE_BYTES, origin))
                continue
            # surrogateescape keeps non-UTF-8 bytes of paths intact for open()
            text = raw.decode("utf-8", "surrogateescape")
            line = text.lstrip(_SPACE)
            if line == "" or line[0] == "#":
                continue
            line = line.rstrip(_SPACE)
            origin.line = line
            key, value = _split_token(line)
            if key not in KEYS:
                unhandled += 1
                if unhandled <= MAX_UNHANDLED_SHOWN:
                    # The raw line as the original prints it: leading
                    # whitespace kept, trailing whitespace gone.
                    self.warnings.append("%s: Unhandled line in config file: %s"
                                         % (origin.label, printable(text.rstrip(_SPACE))))
                continue
            try:
                self.apply(key, value, origin)
            except ConfigError as exc:
                self.collect(exc)
        if unhandled > MAX_UNHANDLED_SHOWN:
            self.warnings.append("%s: %d more unhandled lines not shown; is this a config file?"
                                 % (printable(filename), unhandled - MAX_UNHANDLED_SHOWN))

    # -- the result

    def build(self):
        """(Settings, warnings). Raises ConfigError for combinations that
        cannot work."""
        values = dict(self._values)
        for field in ("fifo_add", "fifo_delete"):
            if field in values and "whitelist" not in values and "blacklist" not in values:
                self.collect(ConfigError("access.%s changes an access list, so it needs access.whitelist (-w) "
                                  "or access.blacklist (-b)" % field, self._origins[field]))
        if self._livesync_given() is None and self._nets["livesync_nodes"]:
            self.warnings.append("livesync.cluster.node_ip has no effect without livesync.cluster.listen (or -s)")
        if self._address_origin is not None and not self._address_used and self._listens:
            self._warn(self._address_origin, "no -p, -P or -s follows this -i, so it has no effect")
        if self._listens:
            values["listens"] = tuple(self._listens)
        else:
            values["listens"] = _default_listens(self._current_address())
        for field, nets in self._nets.items():
            values[field] = tuple(nets)
        values["config_files"] = tuple(self._files)
        return Settings(**values), list(self.warnings)

    # -- helpers

    def _current_address(self):
        return self._address if self._address is not None else DEFAULT_ADDRESS

    def _warn(self, origin, message):
        self.warnings.append("%s: %s" % (origin.label, message))

    def _add_listen(self, listen, origin):
        if listen in self._listens:
            self._warn(origin, "%s is already listened on; given again, it is ignored" % (listen,))
            return
        self._listens.append(listen)

    def _livesync_given(self):
        return self._values.get("livesync_listen")

    def _set_livesync(self, host, port, origin):
        if self._livesync_given() is not None:
            raise ConfigError("Livesync listen ip specified twice (first at %s)"
                              % self._origins["livesync_listen"].label, origin)
        addr = ipaddress.ip_address(host.partition("%")[0])
        if addr.is_unspecified:
            # "any": join the group on the default interface.
            host = "0.0.0.0"
        elif addr.version == 6:
            raise ConfigError("live sync is IPv4 multicast: give an IPv4 interface address "
                              "(v6 mcast support not yet available.)", origin)
        self._values["livesync_listen"] = Listen("udp", host, port)
        self._origins["livesync_listen"] = origin

    def _set_string(self, field, value, origin, parse=None):
        if value == "":
            raise ConfigError("needs a value", origin)
        if "\0" in value:
            raise ConfigError("the value contains a NUL byte", origin)
        if parse is not None:
            try:
                value = parse(value)
            except ValueError as exc:
                raise ConfigError(str(exc), origin) from None
        other = _EXCLUSIVE.get(field)
        if other in self._values:
            raise ConfigError("access.whitelist (-w) and access.blacklist (-b) cannot both be set: the tracker is "
                              "either closed except for listed torrents or open except for them "
                              "(access.%s was set at %s)" % (other, self._origins[other].label), origin)
        self._values[field] = value
        self._origins[field] = origin


def load(*paths):
    """Settings from config files alone, as `opentracker -f a -f b` would
    give them: (Settings, warnings)."""
    builder = Builder()
    for path in paths:
        builder.read_file(path)
    return builder.build()
