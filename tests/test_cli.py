"""The command line as a user types it: options left to right, -h, -v, usage
errors and exit codes.

Everything here ends before the server is imported (help, version, errors),
or calls parse_args directly, or replaces the server module with a stand-in.
"""

import ipaddress
import subprocess
import sys
import types

import pytest

from opentracker import __version__, cli
from opentracker.config import ConfigError, Listen, Settings

USAGE = cli.USAGE


def run(*args, cwd=None):
    """`python -m opentracker args` -> (exit status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "opentracker", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def parse(*args):
    action, settings, warnings = cli.parse_args(args)
    assert action == "run"
    return settings, warnings


def listens(*args):
    settings, warnings = parse(*args)
    assert warnings == []
    return settings.listens


# ---------------------------------------------------------------- -h, -v, bad options (subprocess)

def test_help_lists_every_option_and_exits_0():
    status, out, err = run("-h")
    assert status == 0 and out == ""
    lines = err.splitlines()
    assert lines[0] == USAGE
    helped = {line.split()[0] for line in lines[1:] if line.startswith("\t")}
    assert helped == {"-f", "-i", "-p", "-P", "-r", "-d", "-u", "-A", "-w", "-b", "-s", "-l", "-v", "-h", "--check-config"}
    assert "Example:" in err


def test_version_report_exits_0():
    status, out, err = run("-v")
    assert status == 0 and out == ""
    assert err.startswith("opentracker %s" % __version__)
    assert "core:" in err and "python:" in err


@pytest.mark.parametrize("args", [["--help"], ["-vh"], ["-hv"]])
def test_help_and_version_spellings(args):
    status, out, err = run(*args)
    assert status == 0
    assert err.startswith(USAGE if args[0][1] == "h" or args == ["--help"] else "opentracker ")


def test_long_version():
    status, out, err = run("--version")
    assert status == 0 and err.startswith("opentracker %s" % __version__)


@pytest.mark.parametrize("args,message", [
    (["-x"], "opentracker: unknown option -x"),
    (["--verbose"], "opentracker: unknown option --verbose"),
    (["-p"], "opentracker: option -p needs an argument"),
    (["-i", "::1", "-f"], "opentracker: option -f needs an argument"),
    (["opentracker.conf"], "opentracker: unexpected argument 'opentracker.conf' (a config file is given with -f)"),
    (["--", "x"], "opentracker: unexpected argument 'x' (a config file is given with -f)"),
])
def test_usage_errors_exit_1_with_the_usage_line(args, message):
    status, out, err = run(*args)
    assert status == 1 and out == ""
    assert err.splitlines() == [message, USAGE]


@pytest.mark.parametrize("args,message", [
    (["-p", "99999"], "opentracker: option -p 99999: port 99999 is out of range (0..65535)"),
    (["-P65536"], "opentracker: option -P 65536: port 65536 is out of range (0..65535)"),
    (["-p", "http"], "opentracker: option -p http: port must be a whole number, not 'http'"),
    (["-i", "tracker.example", "-p", "80"],
     "opentracker: option -i tracker.example: 'tracker.example' is not a numeric IPv4 or IPv6 address"),
    (["-A", "10.0.0.0/40"], "opentracker: option -A 10.0.0.0/40: prefix length 40 is out of range (0..32)"),
    (["-i", "::1", "-s", "9696"], "opentracker: option -s 9696: live sync is IPv4 multicast: give an IPv4 "
                                  "interface address (v6 mcast support not yet available.)"),
])
def test_bad_option_values_exit_1_with_a_clear_message(args, message):
    status, out, err = run(*args)
    assert status == 1 and out == ""
    assert err.splitlines() == [message, USAGE]


def test_bad_config_file_exits_1_naming_file_line_and_reason(tmp_path):
    (tmp_path / "bad.conf").write_text("# my tracker\nlisten.tcp 1.2.3.4:99999\n")
    status, out, err = run("-f", "bad.conf", cwd=tmp_path)
    assert status == 1 and out == ""
    assert err == ("bad.conf:2: Parse error in config file: listen.tcp 1.2.3.4:99999: "
                   "port 99999 is out of range (0..65535)\n")


def test_warnings_come_before_help(tmp_path):
    (tmp_path / "old.conf").write_text("tracker.user nobody\nbatchsync.cluster.admin_ip 10.1.1.1\n")
    status, out, err = run("-f", "old.conf", "-f", "missing.conf", "-h", cwd=tmp_path)
    assert status == 0
    lines = err.splitlines()
    assert lines[:3] == [
        "old.conf:2: Unhandled line in config file: batchsync.cluster.admin_ip 10.1.1.1",
        "Warning: Can't open config file: missing.conf. (No such file or directory)",
        USAGE,
    ]


def test_options_after_help_are_not_looked_at():
    status, out, err = run("-h", "-p", "99999")
    assert status == 0


def test_options_before_help_are_checked():
    status, out, err = run("-p", "99999", "-h")
    assert status == 1


def test_no_traceback_on_binary_garbage(tmp_path):
    # 8 copies of every byte value hold 8 newlines: lines 1-9 are unknown
    # keys (warned about first), line 10 is a known key with a bad value.
    (tmp_path / "garbage.conf").write_bytes(bytes(range(256)) * 8 + b"\nlisten.tcp \xff\xfe\x00\n")
    status, out, err = run("-f", "garbage.conf", cwd=tmp_path)
    assert status == 1
    lines = err.splitlines()
    assert [line.split(":", 2)[:2] for line in lines] == [["garbage.conf", str(n)] for n in range(1, 11)]
    assert lines[-1] == ("garbage.conf:10: Parse error in config file: listen.tcp \\xff\\xfe\\x00: "
                         "'\\xff\\xfe\\x00' is not ip[:port] (forms: 1.2.3.4, 1.2.3.4:6969, ::1, [::1]:6969)")


def test_warnings_found_before_an_error_are_shown(tmp_path):
    status, out, err = run("-f", "missing.conf", "-p", "70000", cwd=tmp_path)
    assert status == 1
    assert err.splitlines() == [
        "Warning: Can't open config file: missing.conf. (No such file or directory)",
        "opentracker: option -p 70000: port 70000 is out of range (0..65535)",
        USAGE,
    ]


# ---------------------------------------------------------------- main() with a stand-in server

@pytest.fixture
def fake_server(monkeypatch):
    calls = []
    module = types.ModuleType("opentracker.server")

    def run_server(settings):
        calls.append(settings)
        return 7

    module.run = run_server
    monkeypatch.setitem(sys.modules, "opentracker.server", module)
    return calls


def test_main_prints_warnings_and_runs_the_server(fake_server, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ot.conf").write_text("frobnicate on\nlisten.udp 127.0.0.1:6881\n")
    with pytest.raises(SystemExit) as info:
        cli.main(["-f", "ot.conf", "-u", "tracker"])
    assert info.value.code == 7
    assert capsys.readouterr().err == "ot.conf:1: Unhandled line in config file: frobnicate on\n"
    (settings,) = fake_server
    assert settings.listens == (Listen("udp", "127.0.0.1", 6881),)
    assert settings.user == "tracker"
    assert settings.config_files == ("ot.conf",)


def test_main_reads_sys_argv(fake_server, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["opentracker", "-p", "6881"])
    with pytest.raises(SystemExit):
        cli.main()
    assert fake_server[0].listens == (Listen("tcp", "::", 6881),)


def test_main_without_a_loadable_server_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "opentracker.server", None)
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 111
    assert capsys.readouterr().err.startswith("opentracker: cannot load the server: ")


# ---------------------------------------------------------------- left to right (parse_args)

def test_nothing_given_means_tcp_and_udp_6969_on_every_address():
    settings, warnings = parse()
    assert settings == Settings()
    assert warnings == []


def test_default_listens_use_the_last_i_address():
    assert listens("-i", "10.0.0.1", "-i", "127.0.0.1") == (Listen("tcp", "127.0.0.1", 6969),
                                                            Listen("udp", "127.0.0.1", 6969))


def test_i_applies_to_the_following_ports_only():
    assert listens("-p", "80", "-i", "127.0.0.1", "-p", "6969", "-P", "6969", "-i", "::1", "-P", "2710") == (
        Listen("tcp", "::", 80),
        Listen("tcp", "127.0.0.1", 6969), Listen("udp", "127.0.0.1", 6969),
        Listen("udp", "::1", 2710),
    )


def test_config_file_listens_take_their_place_in_the_order(tmp_path):
    conf = tmp_path / "ot.conf"
    conf.write_text("listen.tcp_udp 10.0.0.5:6969\nlisten.udp [::1]:7000\n")
    assert listens("-i", "127.0.0.1", "-p", "80", "-f", str(conf), "-P", "81") == (
        Listen("tcp", "127.0.0.1", 80),
        Listen("tcp", "10.0.0.5", 6969), Listen("udp", "10.0.0.5", 6969), Listen("udp", "::1", 7000),
        Listen("udp", "127.0.0.1", 81),
    )


def test_config_listens_alone_replace_the_default(tmp_path):
    conf = tmp_path / "ot.conf"
    conf.write_text("listen.udp 0.0.0.0\n")
    assert listens("-f", str(conf)) == (Listen("udp", "0.0.0.0", 6969),)


def test_a_missing_config_file_leaves_the_default(tmp_path):
    settings, warnings = parse("-f", str(tmp_path / "none.conf"))
    assert settings.listens == Settings().listens
    assert settings.config_files == ()
    assert warnings == ["Warning: Can't open config file: %s. (No such file or directory)" % (tmp_path / "none.conf")]


@pytest.mark.parametrize("address,host", [
    ("0.0.0.0", "0.0.0.0"), ("::", "::"), ("::1", "::1"), ("[::1]", "::1"),
    ("2001:DB8::1", "2001:db8::1"), ("::ffff:127.0.0.1", "127.0.0.1"),
])
def test_i_addresses(address, host):
    assert listens("-i", address, "-p", "1") == (Listen("tcp", host, 1),)


def test_attached_and_clustered_forms():
    assert listens("-i127.0.0.1", "-p6969", "-P", "6970") == (Listen("tcp", "127.0.0.1", 6969),
                                                            Listen("udp", "127.0.0.1", 6970))
    # getopt takes the next word as the value, even when it starts with "-"
    with pytest.raises(ConfigError, match="port must be a whole number, not '-P'"):
        cli.parse_args(["-p", "-P", "80"])


def test_double_dash_ends_the_options():
    assert listens("-p", "1", "--") == (Listen("tcp", "::", 1),)


def test_i_without_a_following_port_warns_when_listens_exist(tmp_path):
    settings, warnings = parse("-p", "80", "-i", "10.0.0.1")
    assert settings.listens == (Listen("tcp", "::", 80),)
    assert warnings == ["option -i 10.0.0.1: no -p, -P or -s follows this -i, so it has no effect"]


def test_options_override_config_and_the_other_way_round(tmp_path):
    conf = tmp_path / "ot.conf"
    conf.write_text("tracker.user fromfile\ntracker.rootdir /file\ntracker.redirect_url http://file/\n")
    settings, _ = parse("-u", "early", "-f", str(conf), "-d", "/late")
    assert (settings.user, settings.rootdir, settings.redirect_url) == ("fromfile", "/late", "http://file/")


def test_value_options():
    settings, warnings = parse("-r", "https://tracker.example/", "-d", "/var/lib/ot", "-u", "tracker",
                               "-w", "/etc/ot/white.txt", "-l", "/var/lib/ot/state", "-A", "10.0.0.0/8",
                               "-A", "::1", "-A", "192.168.1.1")
    assert warnings == []
    assert settings.redirect_url == "https://tracker.example/"
    assert settings.rootdir == "/var/lib/ot" and settings.user == "tracker"
    assert settings.whitelist == "/etc/ot/white.txt" and settings.blacklist is None
    assert settings.load_state == "/var/lib/ot/state"
    assert settings.admin_nets == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"),
                                   ipaddress.ip_network("192.168.1.1/32"))
    assert parse("-b", "/etc/ot/black.txt")[0].blacklist == "/etc/ot/black.txt"


def test_livesync_port_on_the_current_address():
    settings, _ = parse("-i", "192.168.0.1", "-s", "9696", "-i", "127.0.0.1", "-p", "6969")
    assert settings.livesync_listen == Listen("udp", "192.168.0.1", 9696)
    assert settings.listens == (Listen("tcp", "127.0.0.1", 6969),)
    # without -i, the group is joined on the default interface
    assert parse("-s", "9000")[0].livesync_listen == Listen("udp", "0.0.0.0", 9000)


def test_livesync_twice_is_refused(tmp_path):
    conf = tmp_path / "ot.conf"
    conf.write_text("livesync.cluster.listen 10.0.0.1\n")
    with pytest.raises(ConfigError) as info:
        cli.parse_args(["-f", str(conf), "-i", "10.0.0.2", "-s", "9696"])
    assert str(info.value) == ("option -s 9696: Livesync listen ip specified twice (first at %s:1)" % conf)


def test_whitelist_option_against_blacklist_in_config(tmp_path):
    conf = tmp_path / "ot.conf"
    conf.write_text("access.blacklist /b\n")
    with pytest.raises(ConfigError) as info:
        cli.parse_args(["-f", str(conf), "-w", "/w"])
    assert info.value.option == "-w"
    assert "cannot both be set" in str(info.value)


def test_empty_option_values_are_refused():
    with pytest.raises(ConfigError, match="needs a value"):
        cli.parse_args(["-u", ""])


def test_redirect_url_with_a_newline_is_refused():
    with pytest.raises(ConfigError, match="control characters"):
        cli.parse_args(["-r", "http://x/\r\nSet-Cookie: a=b"])


def test_help_and_version_actions():
    assert cli.parse_args(["-p", "1", "-h", "-x"])[:2] == ("help", None)
    assert cli.parse_args(["-v"])[:2] == ("version", None)


# ---------------------------------------------------------------- fuzzing

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

_word = st.one_of(
    st.sampled_from(["-i", "-p", "-P", "-f", "-r", "-d", "-u", "-A", "-w", "-b", "-s", "-l", "-x", "--", "-",
                     "--help", "-pP", "::1", "[::1]", "0.0.0.0", "6969", "99999", "10.0.0.0/8", "/nonexistent"]),
    st.text(max_size=12),
)


@pytest.mark.hypothesis
@hypothesis.given(argv=st.lists(_word, max_size=8))
def test_random_command_lines_raise_only_usage_or_config_errors(argv):
    try:
        action, settings, warnings = cli.parse_args(argv)
    except (cli.UsageError, ConfigError):
        return
    assert action in ("run", "help", "version")
    if action == "run":
        assert settings.listens and all(0 <= listen.port <= 65535 for listen in settings.listens)
