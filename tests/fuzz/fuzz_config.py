"""Fuzz the config parser and the command line (docs/compatibility.md: the
command line and config, and bad input among our deliberate differences):
whatever the bytes, the only failure is a ConfigError (or the command line's
UsageError) that names where it comes from, and a success is a Settings
object whose every value is one the tracker can use.

Input: one selector byte, then
  bit 0 clear: a config file's bytes, read as "fuzz.conf";
  bit 0 set:   command-line arguments separated by NUL bytes (at most 16).
               A -f value is replaced by the path of the repository's
               sample config with its example lines switched on when it
               is "sample", by a file holding the rest of the input after
               the first "\\0\\0" when it is "input", and by a path that
               does not exist otherwise: the fuzzer never opens files of
               its choosing (/dev/stdin would block).

Both parse twice and must get the same result (no hidden state).

    python tests/fuzz/fuzz_config.py -max_total_time=600
"""

import atexit
import ipaddress
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

with common.instrumented(__name__):
    from opentracker import cli, config

ROOT = os.path.dirname(common.TESTS)
TMP = tempfile.mkdtemp(prefix="ot-fuzz-config-")
atexit.register(shutil.rmtree, TMP, True)
SAMPLE = os.path.join(TMP, "sample.conf")
INPUT = os.path.join(TMP, "input.conf")
MISSING = os.path.join(TMP, "missing", "nothing.conf")


def _write_sample():
    """The sample config with its example lines switched on (all but the
    blacklist, which cannot stand beside the whitelist)."""
    out = []
    with open(os.path.join(ROOT, "opentracker.conf.sample"), "rb") as f:
        for line in f:
            key = line[2:].split(b" ", 1)[0].decode("ascii", "replace")
            if line.startswith(b"# ") and key in config.KEYS and key != "access.blacklist":
                line = line[2:]
            out.append(line)
    with open(SAMPLE, "wb") as f:
        f.write(b"".join(out))


_write_sample()


def one_input(data):
    if not data:
        return
    if data[0] & 1:
        outcome = parse_argv(data[1:])
        assert parse_argv(data[1:]) == outcome, "parsing the same arguments twice differs"
    else:
        outcome = parse_text(data[1:])
        assert parse_text(data[1:]) == outcome, "parsing the same text twice differs"


def parse_text(text):
    builder = config.Builder()
    lines = text.count(b"\n") + 1
    try:
        builder.read_text(text, "fuzz.conf")
        settings, warnings = builder.build()
    except config.ConfigError as exc:
        check_error(exc, lines)
        return ("error", str(exc))
    check_settings(settings, warnings)
    return ("ok", settings, warnings)


def argv_of(data):
    head, _, rest = data.partition(b"\0\0")
    with open(INPUT, "wb") as f:
        f.write(rest)
    argv = [os.fsdecode(arg) for arg in head.split(b"\0")[:16]]
    i = 0
    # Walk the arguments as cli._parse does, to find each -f value.
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg.startswith("--") or arg == "-":
            continue
        j = 1
        while j < len(arg):
            flag = arg[j]
            j += 1
            if flag in "hv":
                break
            if flag == "f":
                value = arg[j:] if j < len(arg) else (argv[i] if i < len(argv) else None)
                path = {"sample": SAMPLE, "input": INPUT}.get(value, MISSING)
                if j < len(arg):
                    argv[i - 1] = arg[:j] + path
                elif i < len(argv):
                    argv[i] = path
                    i += 1
                break
            if j < len(arg) or i < len(argv):
                if j >= len(arg):
                    i += 1
                break
    return argv


def parse_argv(data):
    argv = argv_of(data)
    try:
        action, settings, warnings = cli.parse_args(argv)
    except cli.UsageError as exc:
        assert str(exc), exc
        return ("usage", str(exc))
    except config.ConfigError as exc:
        check_error(exc, None)
        return ("error", str(exc))
    assert action in ("run", "help", "version"), action
    if action == "run":
        check_settings(settings, warnings)
    else:
        assert settings is None
    return (action, settings, warnings)


def check_error(exc, lines):
    """A ConfigError says what is wrong and where: a line of the file (in
    range) or an option, or is a whole-file problem."""
    assert exc.reason and str(exc), exc
    if exc.filename == "fuzz.conf" and lines is not None:
        assert 1 <= exc.lineno <= lines, (exc.lineno, lines)
        assert str(exc).startswith("fuzz.conf:%d: " % exc.lineno), str(exc)
    if exc.option is not None:
        assert exc.option.startswith("-"), exc.option
    assert "\0" not in str(exc), str(exc)


def check_settings(settings, warnings):
    """Every value is one the tracker can use as it is."""
    assert isinstance(warnings, list) and all(isinstance(w, str) and w for w in warnings), warnings
    assert all("\0" not in w for w in warnings), warnings
    assert settings.listens, "nothing to listen on"
    for listen in settings.listens:
        assert listen.proto in ("tcp", "udp"), listen
        assert 0 <= listen.port <= 65535, listen
        ipaddress.ip_address(listen.host.partition("%")[0])
    assert len(set(settings.listens)) == len(settings.listens), settings.listens
    if settings.livesync_listen is not None:
        assert ipaddress.ip_address(settings.livesync_listen.host).version == 4, settings.livesync_listen
        assert 0 <= settings.livesync_listen.port <= 65535
    assert ipaddress.ip_address(settings.livesync_group).is_multicast, settings.livesync_group
    for field in ("stats_nets", "proxy_nets", "admin_nets", "livesync_nodes"):
        for net in getattr(settings, field):
            assert isinstance(net, (ipaddress.IPv4Network, ipaddress.IPv6Network)), (field, net)
    for field in ("whitelist", "blacklist", "fifo_add", "fifo_delete", "rootdir", "user", "redirect_url",
                  "statefile", "load_state", "stats_path"):
        value = getattr(settings, field)
        assert value is None or (isinstance(value, str) and value and "\0" not in value), (field, value)
    assert not (settings.whitelist and settings.blacklist)
    assert (settings.fifo_add is None and settings.fifo_delete is None) or settings.whitelist or settings.blacklist
    assert settings.stats_path and not settings.stats_path.startswith("/"), settings.stats_path
    # The core refuses longer ones with a ValueError at start-up (Server.configure).
    assert len(settings.stats_path.encode("utf-8", "surrogateescape")) < 256, settings.stats_path
    if settings.redirect_url is not None:
        assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in settings.redirect_url), settings.redirect_url
        assert len(settings.redirect_url.encode("utf-8", "surrogateescape")) <= 2048, settings.redirect_url
    assert settings.compression in ("gzip", "off")
    for field in ("fullscrape", "ip_from_query", "modest_fullscrapes", "syslog_completed"):
        assert isinstance(getattr(settings, field), bool), field
    assert 0 <= settings.livesync_ttl <= 255
    assert 1 <= settings.livesync_send_interval <= 3600
    for field in ("statefile_interval", "udp_connid_window", "http_max_connections", "http_timeout"):
        assert isinstance(getattr(settings, field), int) and getattr(settings, field) >= 1, field
    assert settings.memory_limit >= 0 and settings.rate_limit >= 0 and 0 <= settings.udp_workers <= 1024


# ---------------------------------------------------------------- grammar (hypothesis)

VALUES = ["::", "0.0.0.0", "127.0.0.1:6969", "[::1]:80", "2001:db8::1.80", "::1:6969", "[::1]", "[::1]x",
          "1.2.3.4:65536", "1.2.3.4:-1", "fe80::1%eth0", "10.0.0.0/8", "fd00::/8", "1.2.3.4/33", "::/0",
          "on", "off", "of", "gzip", "none", "0", "1", "24M", "512K", "1G", "99999999999G", "3600", "-5",
          "224.0.23.5", "239.1.1.1", "10.1.1.1", "/etc/opentracker/whitelist.txt", "stats", "/stats", "///",
          "https://tracker.example/", "http://x/\x07", "nobody # me", "", " ", "\t", "a\0b", "\udcff",
          "s" * 300, "http://x/" + "y" * 2100]


def inputs():
    """Hypothesis strategy: config files of known keys with values good and
    bad, command lines of every option, raw bytes, mutated seed files."""
    from hypothesis import strategies as st

    keys = sorted(config.KEYS) + ["listen.tcp_udp", "unknown.key", "#", "tracker.user\t", ""]
    line = st.builds(lambda lead, key, gap, value, end: (lead + key + gap + value + end),
                     st.sampled_from(["", "", " ", "\t", "# "]), st.sampled_from(keys),
                     st.sampled_from([" ", " ", "\t", "", "  \t"]),
                     st.one_of(st.sampled_from(VALUES), st.text(max_size=12)),
                     st.sampled_from(["", "", " ", "\r", " # comment"]))
    text = st.builds(lambda lines, bom: (b"\xef\xbb\xbf" if bom else b"")
                     + "\n".join(lines).encode("utf-8", "surrogateescape"),
                     st.lists(line, max_size=10), st.booleans())
    option = st.one_of(
        st.builds(lambda flag, value, joined: ["-" + flag + value] if joined else ["-" + flag, value],
                  st.sampled_from(list("ipPsAlfrduwb")),
                  st.one_of(st.sampled_from(VALUES + ["sample", "input", "6969", "0", "65535"]),
                            st.text(max_size=8)),
                  st.booleans()),
        st.sampled_from([["-h"], ["-v"], ["--"], ["--help"], ["--version"], ["--x"], ["-"], ["-x"], ["stray"],
                         ["-f"], ["-ivh"]]))
    argv = st.builds(lambda opts, rest: b"\0".join(os.fsencode(a) for opt in opts for a in opt) + b"\0\0" + rest,
                     st.lists(option, max_size=6), text)
    return st.one_of(st.builds(lambda t: b"\0" + t, text), st.builds(lambda t: b"\0" + t, text),
                     st.builds(lambda a: b"\1" + a, argv), st.binary(max_size=200),
                     common.mutated(common.seeds("config")))


if __name__ == "__main__":
    common.main(one_input, "config")
