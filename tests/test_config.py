"""Config files as an operator writes them -> the settings the server gets.

Each test writes real config text to a file and reads it back through
config.load, the way `opentracker -f file` does.
"""

import ipaddress
import os
import re
from pathlib import Path

import pytest

from opentracker import config
from opentracker.config import ConfigError, Listen, Settings

SAMPLE = Path(__file__).resolve().parent.parent / "opentracker.conf.sample"
DEFAULTS = Settings()


def load_text(tmp_path, text, name="opentracker.conf"):
    """Settings and warnings of config text written to tmp_path/name; the
    file is named by its relative name, as an operator would give it."""
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        return config.load(name)
    finally:
        os.chdir(cwd)


def settings_of(tmp_path, text):
    settings, warnings = load_text(tmp_path, text)
    assert warnings == []
    return settings


def error_of(tmp_path, text):
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    return info.value


def changed(settings):
    """The fields that differ from the defaults (config_files left out)."""
    return {name: value for name, value in settings._asdict().items()
            if name != "config_files" and value != getattr(DEFAULTS, name)}


# ---------------------------------------------------------------- the sample

def test_sample_gives_exactly_the_defaults():
    settings, warnings = config.load(str(SAMPLE))
    assert warnings == []
    assert settings._replace(config_files=()) == DEFAULTS
    assert settings.config_files == (str(SAMPLE),)


def test_defaults_are_an_open_dual_stack_tracker_on_6969():
    assert DEFAULTS.listens == (Listen("tcp", "::", 6969), Listen("udp", "::", 6969))
    assert DEFAULTS.whitelist is None and DEFAULTS.blacklist is None
    assert DEFAULTS.user == "nobody" and DEFAULTS.stats_path == "stats"
    assert DEFAULTS.fullscrape and DEFAULTS.compression == "gzip"
    assert DEFAULTS.livesync_listen is None


def _sample_settings_lines():
    lines = []
    for raw in SAMPLE.read_text().splitlines():
        match = re.match(r"# ((?:listen|access|tracker|livesync)\.\S+)\s+(\S.*)$", raw)
        if match:
            lines.append((match.group(1), match.group(1) + " " + match.group(2)))
    return lines


def test_sample_documents_every_key():
    assert {key for key, _ in _sample_settings_lines()} == config.KEYS


# The sample's examples that show a key at its default.
AT_DEFAULT = ["listen.tcp_udp ::", "listen.udp.workers 0", "tracker.workers 1", "access.stats_path stats",
              "tracker.user nobody", "tracker.statefile_interval 600", "tracker.fullscrape on",
              "tracker.compression gzip", "tracker.ip_from_query off", "tracker.modest_fullscrapes off",
              "tracker.syslog_completed off", "tracker.memory_limit 0", "tracker.rate_limit 0",
              "tracker.udp_connid_window 3600", "tracker.http_max_connections 4096",
              "tracker.http_timeout 30", "tracker.send_timeout 60", "tracker.fullscrape_cache 10",
              "tracker.announce_interval 1800", "tracker.adaptive_interval off", "tracker.shedding on",
              "livesync.cluster.group 224.0.23.5", "livesync.cluster.ttl 1",
              "livesync.cluster.send_interval 15"]


@pytest.mark.parametrize("key,line", _sample_settings_lines(), ids=lambda x: x)
def test_every_example_in_the_sample_works_when_uncommented(tmp_path, key, line):
    """Uncommented, each example is taken without a warning and does what it
    says: its key's setting takes the line's value (stays at the default
    for an example that shows the default), and nothing else changes but
    what the example needs beside it."""
    text = line + "\n"
    needed = set()
    if key.startswith("access.fifo"):
        text = "access.whitelist /etc/opentracker/whitelist.txt\n" + text
        needed.add("whitelist")
    if key == "livesync.cluster.node_ip":
        text = "livesync.cluster.listen 192.168.0.1\n" + text
        needed.add("livesync_listen")
    settings = settings_of(tmp_path, text)
    entry = next(e for e in config.KEYS_TABLE if e.key == key)
    value = getattr(settings, entry.field)
    arg = line.split(None, 1)[1]
    got = changed(settings)
    if line in AT_DEFAULT:
        assert set(got) == needed and value == entry.default
        return
    assert set(got) == needed | {entry.field}
    if entry.kind == "net":
        assert value == (config.parse_net(arg),)
    elif entry.kind in ("string", "token"):
        assert value == (entry.parse(arg) if entry.parse else arg)
    elif entry.kind == "listen":
        assert all(listen.port == (int(arg.rpartition(":")[2]) if "]:" in arg or arg.count(":") == 1 else 6969)
                   for listen in value)
        assert {listen.proto for listen in value} == set(key.split(".")[1].split("_"))


def test_sample_examples_shown_at_their_default_change_nothing(tmp_path):
    """Lines of the sample that show a key at its default really are the default."""
    sample = SAMPLE.read_text()
    for line in AT_DEFAULT:
        assert "\n# %s\n" % line in sample
    assert changed(settings_of(tmp_path, "\n".join(AT_DEFAULT) + "\n")) == {}


# ---------------------------------------------------------------- syntax

def test_comments_blank_lines_and_whitespace(tmp_path):
    text = ("# a comment\n"
            "\n"
            "   \t\n"
            "    # an indented comment\n"
            "\t tracker.user \t  tracker  \t \n"
            "tracker.rootdir\t/srv/ot\n")
    assert changed(settings_of(tmp_path, text)) == {"user": "tracker", "rootdir": "/srv/ot"}


def test_no_inline_comments_in_string_values(tmp_path):
    settings, warnings = load_text(tmp_path, "tracker.user nobody # the default\n")
    assert settings.user == "nobody # the default"
    assert warnings == ["opentracker.conf:1: the whole text 'nobody # the default' is the value of "
                        "tracker.user (there are no inline comments)"]


def test_text_after_a_one_word_value_is_ignored_with_a_warning(tmp_path):
    # The original's address scanner stops at whitespace, so this line works there.
    settings, warnings = load_text(tmp_path, "listen.tcp 10.0.0.1:80 # http\naccess.stats 10.0.0.2 10.0.0.3\n")
    assert settings.listens == (Listen("tcp", "10.0.0.1", 80),)
    assert settings.stats_nets == (ipaddress.ip_network("10.0.0.2/32"),)
    assert warnings == [
        "opentracker.conf:1: text after the value of listen.tcp is ignored: '# http' "
        "(there are no inline comments)",
        "opentracker.conf:2: text after the value of access.stats is ignored: '10.0.0.3' "
        "(there are no inline comments)",
    ]


def test_a_key_counts_only_when_whitespace_follows_it(tmp_path):
    settings, warnings = load_text(tmp_path, "tracker.userfoo bar\ntracker.user\tbar\n")
    assert settings.user == "bar"
    assert warnings == ["opentracker.conf:1: Unhandled line in config file: tracker.userfoo bar"]


def test_keys_are_case_sensitive(tmp_path):
    settings, warnings = load_text(tmp_path, "Tracker.User bar\n")
    assert settings.user == "nobody"
    assert warnings == ["opentracker.conf:1: Unhandled line in config file: Tracker.User bar"]


def test_unknown_keys_warn_with_file_and_line_and_go_on(tmp_path):
    text = ("# opentracker.conf\n"
            "foo bar\n"
            "batchsync.cluster.admin_ip 10.1.1.1\n"
            "   indented unknown line   \n"
            "tracker.user tracker\n")
    settings, warnings = load_text(tmp_path, text)
    assert warnings == [
        "opentracker.conf:2: Unhandled line in config file: foo bar",
        "opentracker.conf:3: Unhandled line in config file: batchsync.cluster.admin_ip 10.1.1.1",
        # the line as the original prints it: leading whitespace kept, trailing gone
        "opentracker.conf:4: Unhandled line in config file:    indented unknown line",
    ]
    assert settings.user == "tracker"


def test_crlf_line_ends_read_like_lf(tmp_path):
    text = "listen.tcp 127.0.0.1:8080\ntracker.user tracker\naccess.stats 10.0.0.0/8\n"
    (tmp_path / "lf").mkdir()
    (tmp_path / "crlf").mkdir()
    assert settings_of(tmp_path / "lf", text) == settings_of(tmp_path / "crlf", text.replace("\n", "\r\n"))


def test_utf8_byte_order_mark_is_skipped(tmp_path):
    assert settings_of(tmp_path, b"\xef\xbb\xbftracker.user tracker\n").user == "tracker"


def test_last_line_without_newline(tmp_path):
    assert settings_of(tmp_path, "tracker.user tracker").user == "tracker"


def test_a_later_line_overrides_an_earlier_one(tmp_path):
    text = "tracker.user a\ntracker.user b\ntracker.fullscrape off\ntracker.fullscrape on\n"
    assert changed(settings_of(tmp_path, text)) == {"user": "b"}


def test_a_600_byte_line_is_read_whole(tmp_path):
    # The original cut lines after 511 bytes; a long URL stays one value here.
    url = "https://tracker.example/" + "x" * 576
    line = "tracker.redirect_url " + url
    assert len(line) == 621
    assert settings_of(tmp_path, line + "\n").redirect_url == url
    settings, warnings = load_text(tmp_path, "y" * 600 + "\n")
    assert warnings == ["opentracker.conf:1: Unhandled line in config file: " + "y" * 600]


def test_a_line_beyond_8192_bytes_is_an_error(tmp_path):
    err = error_of(tmp_path, "tracker.user ok\n" + "z" * 9000 + "\n")
    assert (err.filename, err.lineno) == ("opentracker.conf", 2)
    assert "line longer than 8192 bytes" in str(err)


def test_a_huge_file_is_refused_not_read(tmp_path):
    err = error_of(tmp_path, b"# padding\n" * 200000)
    assert "is this a config file?" in str(err)


def test_binary_garbage_gives_warnings_not_a_crash(tmp_path):
    data = bytes(range(256)) * 3 + b"\n\x00\x00\x00\n\xff\xfe tracker.user\x00 x\n"
    settings, warnings = load_text(tmp_path, data)
    assert settings == DEFAULTS._replace(config_files=("opentracker.conf",))
    assert warnings
    for warning in warnings:
        assert warning.startswith("opentracker.conf:")
        assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f]", warning)


def test_nul_bytes_in_a_value_are_refused(tmp_path):
    err = error_of(tmp_path, b"access.whitelist /etc/ot/white\x00list\n")
    assert str(err) == ("opentracker.conf:1: Parse error in config file: access.whitelist /etc/ot/white\\x00list: "
                        "the value contains a NUL byte")


def test_many_unhandled_lines_are_summed_up(tmp_path):
    settings, warnings = load_text(tmp_path, "".join("junk%d x\n" % i for i in range(100)))
    assert len(warnings) == config.MAX_UNHANDLED_SHOWN + 1
    assert warnings[-1] == "opentracker.conf: 80 more unhandled lines not shown; is this a config file?"


def test_non_utf8_path_bytes_survive(tmp_path):
    settings = settings_of(tmp_path, b"access.whitelist /srv/ot/white\xe9.txt\n")
    assert os.fsencode(settings.whitelist) == b"/srv/ot/white\xe9.txt"


def test_missing_file_warns_like_the_original_and_gives_defaults(tmp_path):
    missing = str(tmp_path / "nope.conf")
    settings, warnings = config.load(missing)
    assert warnings == ["Warning: Can't open config file: %s. (No such file or directory)" % missing]
    assert settings == DEFAULTS


def test_several_files_in_order(tmp_path):
    (tmp_path / "a.conf").write_text("listen.tcp 10.0.0.1\ntracker.user a\n")
    (tmp_path / "b.conf").write_text("listen.udp 10.0.0.2\ntracker.user b\n")
    settings, warnings = config.load(str(tmp_path / "a.conf"), str(tmp_path / "b.conf"))
    assert settings.listens == (Listen("tcp", "10.0.0.1", 6969), Listen("udp", "10.0.0.2", 6969))
    assert settings.user == "b"
    assert settings.config_files == (str(tmp_path / "a.conf"), str(tmp_path / "b.conf"))


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        DEFAULTS.user = "root"


# ---------------------------------------------------------------- listening

@pytest.mark.parametrize("value,host,port", [
    ("0.0.0.0", "0.0.0.0", 6969),
    ("192.168.0.1:80", "192.168.0.1", 80),
    ("127.0.0.1:0", "127.0.0.1", 0),
    ("10.0.0.1:65535", "10.0.0.1", 65535),
    ("::", "::", 6969),
    ("::1", "::1", 6969),
    ("[::1]", "::1", 6969),
    ("[::1]:2710", "::1", 2710),
    ("[2001:DB8:0:0::1]:80", "2001:db8::1", 80),
    ("2001:db8::1.80", "2001:db8::1", 80),       # the original's addr.port form
    ("[::1].81", "::1", 81),
    ("::1:6969", "::1:6969", 6969),              # a whole IPv6 address, no port
    ("::ffff:10.1.2.3", "10.1.2.3", 6969),       # IPv4-mapped is IPv4
    ("[::ffff:10.1.2.3]:80", "10.1.2.3", 80),
    ("[1.2.3.4]:80", "1.2.3.4", 80),
    ("fe80::1%eth0", "fe80::1%eth0", 6969),
    ("[fe80::1%eth0]:80", "fe80::1%eth0", 80),
])
def test_listen_addresses(tmp_path, value, host, port):
    assert settings_of(tmp_path, "listen.tcp %s\n" % value).listens == (Listen("tcp", host, port),)


def test_listen_lines_in_order(tmp_path):
    text = ("listen.udp 10.0.0.1:6881\n"
            "listen.tcp_udp [::1]:6969\n"
            "listen.tcp 10.0.0.1\n")
    assert settings_of(tmp_path, text).listens == (
        Listen("udp", "10.0.0.1", 6881),
        Listen("tcp", "::1", 6969), Listen("udp", "::1", 6969),
        Listen("tcp", "10.0.0.1", 6969),
    )


def test_a_listen_given_twice_is_ignored_with_a_warning(tmp_path):
    settings, warnings = load_text(tmp_path, "listen.tcp_udp 10.0.0.1\nlisten.tcp 10.0.0.1:6969\n")
    assert settings.listens == (Listen("tcp", "10.0.0.1", 6969), Listen("udp", "10.0.0.1", 6969))
    assert warnings == ["opentracker.conf:2: tcp 10.0.0.1:6969 is already listened on; given again, it is ignored"]


def test_udp_workers_taken(tmp_path):
    assert changed(settings_of(tmp_path, "listen.udp.workers 4\n")) == {"udp_workers": 4}


# ---------------------------------------------------------------- every other key

@pytest.mark.parametrize("line,expected", [
    ("access.whitelist /etc/ot/white list.txt", {"whitelist": "/etc/ot/white list.txt"}),
    ("access.blacklist ./black", {"blacklist": "./black"}),
    ("access.stats_path secret", {"stats_path": "secret"}),
    ("access.stats_path /secret/stats", {"stats_path": "secret/stats"}),
    ("tracker.rootdir /var/lib/opentracker", {"rootdir": "/var/lib/opentracker"}),
    ("tracker.user _opentracker", {"user": "_opentracker"}),
    ("tracker.redirect_url https://tracker.example/?a=b#c", {"redirect_url": "https://tracker.example/?a=b#c"}),
    ("tracker.statefile /tmp/opentracker.state", {"statefile": "/tmp/opentracker.state"}),
    ("tracker.statefile_interval 60", {"statefile_interval": 60}),
    ("tracker.fullscrape off", {"fullscrape": False}),
    ("tracker.fullscrape NO", {"fullscrape": False}),
    ("tracker.compression off", {"compression": "off"}),
    ("tracker.ip_from_query on", {"ip_from_query": True}),
    ("tracker.modest_fullscrapes yes", {"modest_fullscrapes": True}),
    ("tracker.syslog_completed 1", {"syslog_completed": True}),
    ("tracker.memory_limit 24M", {"memory_limit": 24 << 20}),
    ("tracker.memory_limit 512K", {"memory_limit": 512 << 10}),
    ("tracker.memory_limit 1G", {"memory_limit": 1 << 30}),
    ("tracker.memory_limit 2gib", {"memory_limit": 2 << 30}),
    ("tracker.memory_limit 25165824", {"memory_limit": 25165824}),
    ("tracker.rate_limit 120", {"rate_limit": 120}),
    ("tracker.udp_connid_window 7200", {"udp_connid_window": 7200}),
    ("tracker.http_max_connections 64", {"http_max_connections": 64}),
    ("tracker.http_timeout 10", {"http_timeout": 10}),
    ("livesync.cluster.listen 192.168.0.1", {"livesync_listen": Listen("udp", "192.168.0.1", 9696)}),
    ("livesync.cluster.listen 192.168.0.1:9000", {"livesync_listen": Listen("udp", "192.168.0.1", 9000)}),
    ("livesync.cluster.listen 0.0.0.0", {"livesync_listen": Listen("udp", "0.0.0.0", 9696)}),
    ("livesync.cluster.listen [::]:9696", {"livesync_listen": Listen("udp", "0.0.0.0", 9696)}),
    ("livesync.cluster.group 239.1.2.3", {"livesync_group": "239.1.2.3"}),
    ("livesync.cluster.ttl 4", {"livesync_ttl": 4}),
])
def test_each_key(tmp_path, line, expected):
    assert changed(settings_of(tmp_path, line + "\n")) == expected


def test_fifos_with_an_access_list(tmp_path):
    text = "access.blacklist /b\naccess.fifo_add /run/add.fifo\naccess.fifo_delete /run/del.fifo\n"
    assert changed(settings_of(tmp_path, text)) == {
        "blacklist": "/b", "fifo_add": "/run/add.fifo", "fifo_delete": "/run/del.fifo"}


def test_networks(tmp_path):
    text = ("access.stats 192.168.0.23\n"
            "access.stats 10.1.2.3/8\n"
            "access.stats 2001:db8::/32\n"
            "access.stats ::ffff:172.16.0.0/12\n"
            "access.proxy ::1\n"
            "access.proxy 0.0.0.0/0\n"
            "livesync.cluster.listen 192.168.0.1\n"
            "livesync.cluster.node_ip 192.168.0.4\n"
            "livesync.cluster.node_ip 192.168.0.0/24\n")
    settings = settings_of(tmp_path, text)
    net = ipaddress.ip_network
    assert settings.stats_nets == (net("192.168.0.23/32"), net("10.0.0.0/8"), net("2001:db8::/32"),
                                   net("172.16.0.0/12"))
    assert settings.proxy_nets == (net("::1/128"), net("0.0.0.0/0"))
    assert settings.livesync_nodes == (net("192.168.0.4/32"), net("192.168.0.0/24"))
    assert settings.admin_nets == ()


def test_node_ip_without_livesync_listen_warns(tmp_path):
    settings, warnings = load_text(tmp_path, "livesync.cluster.node_ip 10.0.0.1\n")
    assert warnings == ["livesync.cluster.node_ip has no effect without livesync.cluster.listen (or -s)"]


def test_memory_budget_without_unit_below_a_megabyte_warns(tmp_path):
    settings, warnings = load_text(tmp_path, "tracker.memory_limit 24\n")
    assert settings.memory_limit == 24
    assert warnings == ["opentracker.conf:1: tracker.memory_limit 24 means 24 bytes, a very small "
                        "budget; did you mean 24M?"]


def test_short_udp_connid_window_warns(tmp_path):
    settings, warnings = load_text(tmp_path, "tracker.udp_connid_window 30\n")
    assert settings.udp_connid_window == 30
    assert warnings and "BEP 15" in warnings[0] and warnings[0].startswith("opentracker.conf:1: ")


# ---------------------------------------------------------------- invalid values stop start-up

@pytest.mark.parametrize("line,reason", [
    ("listen.tcp 1.2.3.4:99999", "port 99999 is out of range (0..65535)"),
    ("listen.tcp_udp 1.2.3.4:", "missing port number"),
    ("listen.udp 1.2.3.4:http", "port must be a whole number, not 'http'"),
    ("listen.tcp fe80::1:99999", "an IPv6 address with a port needs brackets: [fe80::1]:99999"),
    ("listen.tcp [::1", "missing ']' after the IPv6 address"),
    ("listen.tcp [::1]x", "expected ':port' after ']', not 'x'"),
    ("listen.tcp localhost:80", "'localhost:80' is not ip[:port] (forms: 1.2.3.4, 1.2.3.4:6969, ::1, [::1]:6969)"),
    ("listen.tcp 256.1.1.1", "'256.1.1.1' is not ip[:port] (forms: 1.2.3.4, 1.2.3.4:6969, ::1, [::1]:6969)"),
    ("listen.udp.workers -1", "worker count must be a whole number, not '-1'"),
    ("access.stats 10.0.0.0/33", "prefix length 33 is out of range (0..32)"),
    ("access.stats 10.0.0.0/", "prefix length must be a whole number, not ''"),
    ("access.proxy proxy.example", "'proxy.example' is not a numeric IPv4 or IPv6 address"),
    ("access.stats fe80::1%eth0", "a network cannot carry a zone index ('fe80::1%eth0')"),
    ("access.stats_path /", "the stats path needs at least one character besides '/'"),
    ("tracker.fullscrape of", "expected on or off, not 'of'"),
    ("tracker.compression zstd", "expected gzip or off, not 'zstd'"),
    ("tracker.memory_limit 24X", "'24X' is not a size (forms: 25165824, 512K, 24M, 1G)"),
    ("tracker.memory_limit 9999999999G", "size 9999999999G is too large"),
    ("tracker.rate_limit 1.5", "rate must be a whole number, not '1.5'"),
    ("tracker.http_timeout 0", "timeout 0 is out of range (1..2147483647)"),
    ("tracker.statefile_interval 99999999999999999999999", "interval 99999999999999999999999 is out of range "
                                                            "(1..2147483647)"),
    ("livesync.cluster.ttl 256", "TTL 256 is out of range (0..255)"),
    ("livesync.cluster.group 10.0.0.1", "10.0.0.1 is not an IPv4 multicast group (224.0.0.0/4)"),
    ("livesync.cluster.listen [2001:db8::1]:9696", "live sync is IPv4 multicast: give an IPv4 interface address "
                                                   "(v6 mcast support not yet available.)"),
    ("tracker.user", "tracker.user needs a value"),
])
def test_invalid_values(tmp_path, line, reason):
    err = error_of(tmp_path, "# first line\n" + line + "\n")
    assert (err.filename, err.lineno, err.reason) == ("opentracker.conf", 2, reason)
    assert str(err) == "opentracker.conf:2: Parse error in config file: %s: %s" % (line, reason)


def test_whitelist_and_blacklist_together(tmp_path):
    err = error_of(tmp_path, "access.whitelist /w\n\naccess.blacklist /b\n")
    assert err.lineno == 3
    assert str(err).startswith("opentracker.conf:3: Parse error in config file: access.blacklist /b: "
                               "access.whitelist (-w) and access.blacklist (-b) cannot both be set")
    assert str(err).endswith("(access.whitelist was set at opentracker.conf:1)")


def test_second_livesync_listen(tmp_path):
    err = error_of(tmp_path, "livesync.cluster.listen 10.0.0.1\nlivesync.cluster.listen 10.0.0.2\n")
    assert err.lineno == 2
    assert err.reason == "Livesync listen ip specified twice (first at opentracker.conf:1)"


def test_fifo_needs_an_access_list(tmp_path):
    err = error_of(tmp_path, "tracker.user x\naccess.fifo_add /run/add.fifo\n")
    assert err.lineno == 2
    assert "needs access.whitelist (-w) or access.blacklist (-b)" in str(err)


def test_control_characters_in_the_redirect_url(tmp_path):
    err = error_of(tmp_path, "tracker.redirect_url http://x/\x1b[31m\n")
    assert err.reason == "the URL contains control characters"
    assert "\x1b" not in str(err)


# ---------------------------------------------------------------- fuzzing

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

_KEYS = sorted(config.KEYS) + ["batchsync.cluster.admin_ip", "listen", "tracker.", "#"]
_VALUE_CHARS = "0123456789abcdefKMGx:.[]/%- \t#\x00\xff\r"

_line = st.one_of(
    st.binary(max_size=60),
    st.builds(lambda key, sep, value: key.encode() + sep + value,
              st.sampled_from(_KEYS),
              st.sampled_from([b" ", b"\t", b"", b"  \t", b"\x0b"]),
              st.one_of(st.binary(max_size=40),
                        st.text(alphabet=_VALUE_CHARS, max_size=40).map(
                            lambda t: t.encode("utf-8", "surrogateescape")))),
)


@pytest.mark.hypothesis
@hypothesis.given(lines=st.lists(_line, max_size=30), newline=st.sampled_from([b"\n", b"\r\n"]))
def test_random_config_text_raises_nothing_but_config_error(lines, newline):
    builder = config.Builder()
    try:
        builder.read_text(newline.join(lines), "fuzz.conf")
        settings, warnings = builder.build()
    except ConfigError as exc:
        messages = [str(exc)]
    else:
        assert isinstance(settings, Settings)
        assert all(isinstance(listen, Listen) and 0 <= listen.port <= 65535 for listen in settings.listens)
        messages = warnings
    for message in messages:
        # one printable line each, whatever bytes the file held
        assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]", message), message
