"""opentracker config files and option values -> one frozen Settings object.

The syntax is the C original's (SPEC.md 2.2): one `key value` per line, leading
whitespace skipped, `#` lines and empty lines ignored, no inline comments,
trailing whitespace stripped, and a key counts only when whitespace follows it.
Where we differ (DESIGN.md): every WANT_* key is always accepted, an invalid
value stops start-up with file, line and reason instead of being skipped, out
of range ports are refused, and long lines are read whole instead of being cut
into 511-byte pieces.

`Builder` collects settings in command-line order; cli.py feeds it options and
`-f` files, `load()` is the shortcut for config files alone. Both give back
`(settings, warnings)`: warnings are finished lines for stderr.
"""

from __future__ import annotations

import ipaddress
import re
from collections import namedtuple

__all__ = [
    "DEFAULT_ADDRESS", "DEFAULT_PORT", "LIVESYNC_PORT", "KEYS",
    "Listen", "Settings", "ConfigError", "Builder", "load",
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
_DIGITS = re.compile(r"[0-9]+")


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


_SETTINGS_FIELDS = (
    ("listens", _default_listens()),  # Listen, in the order given
    ("whitelist", None),  # access.whitelist / -w
    ("blacklist", None),  # access.blacklist / -b
    ("fifo_add", None),  # access.fifo_add
    ("fifo_delete", None),  # access.fifo_delete
    ("stats_nets", ()),  # access.stats: IPv4Network / IPv6Network
    ("proxy_nets", ()),  # access.proxy
    ("admin_nets", ()),  # -A: every permission
    ("livesync_nodes", ()),  # livesync.cluster.node_ip
    ("stats_path", "stats"),  # access.stats_path, without leading slashes
    ("rootdir", None),  # tracker.rootdir / -d
    ("user", "nobody"),  # tracker.user / -u
    ("redirect_url", None),  # tracker.redirect_url / -r
    ("livesync_listen", None),  # livesync.cluster.listen / -s; live sync is on when set
    ("livesync_group", "224.0.23.5"),  # livesync.cluster.group
    ("livesync_ttl", 1),  # livesync.cluster.ttl
    ("livesync_send_interval", 15),  # livesync.cluster.send_interval: longest wait of a queued record, s
    ("load_state", None),  # -l
    ("statefile", None),  # tracker.statefile
    ("statefile_interval", 600),  # tracker.statefile_interval, seconds
    ("fullscrape", True),  # tracker.fullscrape
    ("compression", "gzip"),  # tracker.compression: "gzip" or "off"
    ("ip_from_query", False),  # tracker.ip_from_query
    ("modest_fullscrapes", False),  # tracker.modest_fullscrapes
    ("syslog_completed", False),  # tracker.syslog_completed
    ("memory_limit", 0),  # tracker.memory_limit, bytes; 0 = no budget
    ("rate_limit", 0),  # tracker.rate_limit, requests per address per minute; 0 = off
    ("udp_connid_window", 3600),  # tracker.udp_connid_window, seconds
    ("http_max_connections", 4096),  # tracker.http_max_connections
    ("http_timeout", 30),  # tracker.http_timeout, seconds to send the header
    ("udp_workers", 0),  # listen.udp.workers: accepted, no effect
    ("config_files", ()),  # the -f files read, in order
)

Settings = namedtuple("Settings", [name for name, _ in _SETTINGS_FIELDS],
                      defaults=[default for _, default in _SETTINGS_FIELDS])
Settings.__doc__ = "Everything the command line and the config files said; Settings() is the default tracker."


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
    if not _DIGITS.fullmatch(text):
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
    address becomes IPv4, since it names the same peers (DESIGN.md point 3)."""
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
        if addr is not None and _DIGITS.fullmatch(tail):
            raise ValueError("an IPv6 address with a port needs brackets: [%s]:%s" % (head, tail))
    head, dot, tail = text.rpartition(".")
    if dot and "." not in head and _DIGITS.fullmatch(tail):
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


_SIZE = re.compile(r"([0-9]+)(?:([kmgt])(?:i?b)?|b)?", re.IGNORECASE)
_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text):
    """Bytes: `24M`, `512K`, `1G`, `24MB`, `24MiB` or plain `25165824`
    (binary multiples)."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError("%s is not a size (forms: 25165824, 512K, 24M, 1G)" % _quote(text))
    number, unit = match.group(1), match.group(2)
    if len(number.lstrip("0")) > 19:
        raise ValueError("size %s is too large" % text)
    size = int(number) * _UNITS[unit.lower() if unit else None]
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


# ---------------------------------------------------------------- keys
# kind decides how the value is read:
#   "string"  the whole rest of the line (spaces and # included)
#   "token"   one word; text after it is ignored with a warning, as the
#             original's scanners stop at whitespace
_STRING_KEYS = {
    # key: Settings field
    "access.whitelist": "whitelist",
    "access.blacklist": "blacklist",
    "access.fifo_add": "fifo_add",
    "access.fifo_delete": "fifo_delete",
    "access.stats_path": "stats_path",
    "tracker.rootdir": "rootdir",
    "tracker.user": "user",
    "tracker.redirect_url": "redirect_url",
    "tracker.statefile": "statefile",
}

_NET_KEYS = {
    "access.stats": "stats_nets",
    "access.proxy": "proxy_nets",
    "livesync.cluster.node_ip": "livesync_nodes",
}

_LISTEN_KEYS = {
    "listen.tcp_udp": ("tcp", "udp"),
    "listen.tcp": ("tcp",),
    "listen.udp": ("udp",),
}

_TOKEN_KEYS = {
    # key: (Settings field, parser)
    "listen.udp.workers": ("udp_workers", lambda t: _uint(t, "worker count", 0, 1024)),
    "livesync.cluster.group": ("livesync_group", _multicast_group),
    "livesync.cluster.ttl": ("livesync_ttl", lambda t: _uint(t, "TTL", 0, 255)),
    "livesync.cluster.send_interval": ("livesync_send_interval", lambda t: _uint(t, "interval", 1, 3600)),
    "tracker.statefile_interval": ("statefile_interval", lambda t: _uint(t, "interval", 1)),
    "tracker.fullscrape": ("fullscrape", _switch),
    "tracker.compression": ("compression", _compression),
    "tracker.ip_from_query": ("ip_from_query", _switch),
    "tracker.modest_fullscrapes": ("modest_fullscrapes", _switch),
    "tracker.syslog_completed": ("syslog_completed", _switch),
    "tracker.memory_limit": ("memory_limit", parse_size),
    "tracker.rate_limit": ("rate_limit", lambda t: _uint(t, "rate")),
    "tracker.udp_connid_window": ("udp_connid_window", lambda t: _uint(t, "window", 1)),
    "tracker.http_max_connections": ("http_max_connections", lambda t: _uint(t, "connection limit", 1)),
    "tracker.http_timeout": ("http_timeout", lambda t: _uint(t, "timeout", 1)),
}

KEYS = frozenset(_STRING_KEYS) | frozenset(_NET_KEYS) | frozenset(_LISTEN_KEYS) \
    | frozenset(_TOKEN_KEYS) | {"livesync.cluster.listen"}

# What the core can hold (Server.configure): the stats path is compared in a
# fixed buffer, the redirect URL goes into one answer buffer.
MAX_STATS_PATH = 255
MAX_REDIRECT_URL = 2048

# A budget this small given without a unit is most likely a missing "M".
_SMALL_MEMORY = 1 << 20
# BEP 15: a tracker should accept a connection id for two minutes.
_BEP15_CONNID_SECONDS = 120


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
        self._nets = {"stats_nets": [], "proxy_nets": [], "admin_nets": [], "livesync_nodes": []}
        self._files = []
        self._address = None        # the current -i address, None = DEFAULT_ADDRESS
        self._address_origin = None
        self._address_used = True
        self.warnings = []

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
        if key in _STRING_KEYS:
            if re.search("[%s]#" % _SPACE, value) and origin.line is not None:
                self._warn(origin, "the whole text %s is the value of %s (there are no inline comments)"
                           % (_quote(value), key))
            self._set_string(_STRING_KEYS[key], value, origin)
            return
        token, rest = _split_token(value)
        if rest and origin.line is not None:
            self._warn(origin, "text after the value of %s is ignored: %s (there are no inline comments)"
                       % (key, _quote(rest)))
        try:
            if key in _LISTEN_KEYS:
                host, port = parse_endpoint(token, DEFAULT_PORT)
                for proto in _LISTEN_KEYS[key]:
                    self._add_listen(Listen(proto, host, port), origin)
            elif key in _NET_KEYS:
                self._nets[_NET_KEYS[key]].append(parse_net(token))
            elif key == "livesync.cluster.listen":
                host, port = parse_endpoint(token, LIVESYNC_PORT)
                self._set_livesync(host, port, origin)
            elif key in _TOKEN_KEYS:
                field, parse = _TOKEN_KEYS[key]
                self._values[field] = parse(token)
                self._origins[field] = origin
                self._check_value(field, token, origin)
            else:
                raise ConfigError("unknown key %s" % key, origin)
        except ValueError as exc:
            raise ConfigError(str(exc), origin) from None

    def read_file(self, path):
        """-f: read a config file now; its listen lines take their place in
        the order. A file that cannot be opened is a warning, as in the
        original. Returns whether the file was read."""
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.warnings.append("Warning: Can't open config file: %s. (%s)" % (printable(path), reason))
            return False
        if len(data) > MAX_FILE_BYTES:
            raise ConfigError("%s: larger than %d bytes; is this a config file?" % (printable(path), MAX_FILE_BYTES))
        self.read_text(data, path)
        self._files.append(path)
        return True

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
                raise ConfigError("line longer than %d bytes" % MAX_LINE_BYTES, origin)
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
            self.apply(key, value, origin)
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
                raise ConfigError("access.%s changes an access list, so it needs access.whitelist (-w) "
                                  "or access.blacklist (-b)" % field, self._origins[field])
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

    def _set_string(self, field, value, origin):
        if value == "":
            raise ConfigError("needs a value", origin)
        if "\0" in value:
            raise ConfigError("the value contains a NUL byte", origin)
        if field == "redirect_url" and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            # It goes into a Location: header line.
            raise ConfigError("the URL contains control characters", origin)
        if field == "redirect_url" and len(value.encode("utf-8", "surrogateescape")) > MAX_REDIRECT_URL:
            raise ConfigError("the URL is longer than %d bytes" % MAX_REDIRECT_URL, origin)
        if field == "stats_path":
            # Requests are matched after their leading slashes are skipped, so
            # "/stats" could never match; it clearly means "stats".
            value = value.lstrip("/")
            if value == "":
                raise ConfigError("the stats path needs at least one character besides '/'", origin)
            if len(value.encode("utf-8", "surrogateescape")) > MAX_STATS_PATH:
                raise ConfigError("the stats path is longer than %d bytes" % MAX_STATS_PATH, origin)
        other = {"whitelist": "blacklist", "blacklist": "whitelist"}.get(field)
        if other in self._values:
            raise ConfigError("access.whitelist (-w) and access.blacklist (-b) cannot both be set: the tracker is "
                              "either closed except for listed torrents or open except for them "
                              "(access.%s was set at %s)" % (other, self._origins[other].label), origin)
        self._values[field] = value
        self._origins[field] = origin

    def _check_value(self, field, token, origin):
        value = self._values[field]
        if field == "memory_limit" and 0 < value < _SMALL_MEMORY and _DIGITS.fullmatch(token):
            self._warn(origin, "tracker.memory_limit %s means %d bytes, a very small budget; "
                               "did you mean %sM?" % (token, value, token))
        elif field == "udp_connid_window" and value < _BEP15_CONNID_SECONDS:
            self._warn(origin, "UDP connection ids then live only %d-%d seconds; BEP 15 clients may use "
                               "one for 2 minutes and would get 'Connection ID missmatch'"
                               % (value, 2 * value))


def load(*paths):
    """Settings from config files alone, as `opentracker -f a -f b` would
    give them: (Settings, warnings)."""
    builder = Builder()
    for path in paths:
        builder.read_file(path)
    return builder.build()
