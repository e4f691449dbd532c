"""`opentracker --check-config`: every sample passes, every bad value of the
config tests and of the command line fails with its file:line (or option)
and reason, every problem of one run is reported, and nothing is bound."""

import os
import pwd
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import test_cli
import test_config
from opentracker import cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [ROOT / "opentracker.conf.sample"] + sorted((ROOT / "crossbuild/openwrt/test/cases").glob("*.conf"))


def check(*args, cwd=None):
    """`python -m opentracker --check-config args` -> (status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "opentracker", *args, "--check-config"], cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def check_inprocess(capsys, *args):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*args, "--check-config"])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_samples_pass(tmp_path, sample):
    text = sample.read_text()
    # Paths the OpenWrt example names, moved into a scratch root.
    for path in ("/etc/opentracker/whitelist.txt", "/var/lib/opentracker", "/tmp/opentracker.state", "/tmp/ot-add"):
        text = text.replace(path, str(tmp_path) + path)
    (tmp_path / "etc/opentracker").mkdir(parents=True)
    (tmp_path / "etc/opentracker/whitelist.txt").write_text("# none yet\n")
    (tmp_path / "var/lib/opentracker").mkdir(parents=True)
    (tmp_path / "tmp").mkdir()
    conf = tmp_path / "opentracker.conf"
    conf.write_text(text)
    status, out, err = check("-f", str(conf))
    user = next((line.split()[1] for line in text.splitlines() if line.startswith("tracker.user ")), "nobody")
    if user_exists(user) or os.geteuid() != 0:
        assert (status, err) == (0, "" if user_exists(user) else
                                 "warning: tracker.user %s does not exist (started as root, the tracker would stop)\n"
                                 % user)
        assert out == "opentracker: configuration OK (%d warning(s)) in %s\n" % (0 if user_exists(user) else 1, conf)
    else:   # the router's account is not on this machine, and we are root
        assert (status, err) == (1, "error: tracker.user %s does not exist (started as root, the tracker would stop)\n"
                                 % user)


BAD_LINES = test_config.test_invalid_values.pytestmark[0].args[1]


@pytest.mark.parametrize("line,reason", BAD_LINES, ids=[line for line, _ in BAD_LINES])
def test_every_bad_config_case_fails_with_its_line(tmp_path, monkeypatch, capsys, line, reason):
    (tmp_path / "opentracker.conf").write_text("# first line\n" + line + "\n")
    monkeypatch.chdir(tmp_path)
    status, out, err = check_inprocess(capsys, "-f", "opentracker.conf")
    assert status == 1
    assert err == "error: opentracker.conf:2: Parse error in config file: %s: %s\n" % (line, reason)
    assert out == "opentracker: configuration refused (1 error(s), 0 warning(s)) in opentracker.conf\n"


BAD_OPTIONS = test_cli.test_bad_option_values_exit_1_with_a_clear_message.pytestmark[0].args[1]


@pytest.mark.parametrize("args,message", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_every_bad_option_case_fails_with_its_option(capsys, args, message):
    status, out, err = check_inprocess(capsys, *args)
    assert status == 1
    assert err == "error: %s\n" % message[len("opentracker: "):]
    assert out == "opentracker: configuration refused (1 error(s), 0 warning(s))\n"


def test_every_problem_of_one_run_is_reported(tmp_path):
    (tmp_path / "add").write_text("not a fifo")
    (tmp_path / "white.txt").write_text("# comment\n%s\nnot a hash\n%s trailing words\n" % ("ab" * 20, "CD" * 20))
    (tmp_path / "state").write_text("%s:1000:7\nbroken line\n" % ("ef" * 20))
    (tmp_path / "a.conf").write_text("listen.tcp 127.0.0.1:99999\ntracker.memory_limit lots\n"
                                     "access.whitelist white.txt\naccess.fifo_add add\nsomething else\n"
                                     "access.blacklist black.txt\n")
    (tmp_path / "b.conf").write_text("tracker.statefile state\ntracker.rootdir %s\n" % (tmp_path / "no-such-dir"))
    status, out, err = check("-f", "a.conf", "-p", "http", "-f", "missing.conf", "-f", "b.conf", "-l", "gone",
                             cwd=tmp_path)
    assert status == 1
    assert err.splitlines() == [
        "error: a.conf:1: Parse error in config file: listen.tcp 127.0.0.1:99999: port 99999 is out of range (0..65535)",
        "error: a.conf:2: Parse error in config file: tracker.memory_limit lots: "
        "'lots' is not a size (forms: 25165824, 512K, 24M, 1G)",
        "error: a.conf:6: Parse error in config file: access.blacklist black.txt: access.whitelist (-w) and "
        "access.blacklist (-b) cannot both be set: the tracker is either closed except for listed torrents or open "
        "except for them (access.whitelist was set at a.conf:3)",
        "error: option -p http: port must be a whole number, not 'http'",
        "error: cannot open config file missing.conf: No such file or directory",
        "error: tracker.rootdir %s is not a directory" % (tmp_path / "no-such-dir"),
        "error: access.fifo_add add exists and is not a named pipe (fifo)",
        "error: -l gone does not exist",
        "warning: a.conf:5: Unhandled line in config file: something else",
        "warning: white.txt:3: skipped: not 40 hex digits at the start of the line: not a hash",
        "warning: state:2: not a state line (<40 hex>:<minutes>:<downloaded>), skipped: broken line",
        "warning: state: 0 torrent(s) restored, 1 refused by the access list, 1 bad line(s) skipped",
    ]
    assert out == "opentracker: configuration refused (8 error(s), 4 warning(s)) in a.conf, b.conf\n"


def test_state_refused_by_the_whitelist_and_over_budget_are_warnings(tmp_path):
    listed = "ab" * 20
    (tmp_path / "white.txt").write_text(listed + "\n")
    (tmp_path / "state").write_text("%s:1:1\n%s:1:2\n" % (listed, "cd" * 20))
    (tmp_path / "c.conf").write_text("access.whitelist white.txt\ntracker.statefile state\ntracker.user nobody\n")
    status, out, err = check("-f", "c.conf", cwd=tmp_path)
    assert (status, err) == (0, "warning: state: 1 torrent(s) restored, 1 refused by the access list\n")
    assert out == "opentracker: configuration OK (1 warning(s)) in c.conf\n"


def test_binds_nothing(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        (tmp_path / "d.conf").write_text("listen.tcp_udp 127.0.0.1:%d\ntracker.user nobody\n" % port)
        # The port is taken: start-up would fail with 111, the check does not bind it.
        assert check("-f", "d.conf", cwd=tmp_path)[0] == 0
    finally:
        busy.close()
    # And leaves it free.
    again = socket.socket()
    again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    again.bind(("127.0.0.1", port))
    again.close()


def test_check_config_is_in_the_help():
    assert "--check-config" in cli.help_text()
    assert cli.parse_args(["-p", "1", "--check-config"])[0] == "check"
    assert cli.parse_args(["-p", "1", "--", "--check-config"][:2])[0] == "run"
