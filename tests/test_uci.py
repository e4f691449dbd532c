"""The OpenWrt UCI translator, crossbuild/openwrt/files/opentracker-uciconf,
in the test suite: crossbuild/openwrt/test/run.sh with all its cases (under
BusyBox ash, the router's shell, as on the router; skipped without busybox),
--check-config on the cases' configs that name a cluster key file (.keyconf;
tests/test_check_config.py checks the .conf ones), and what fixed cases
cannot hold: the interval's range is the core's, every boolean spelling
OpenWrt's config_get_bool takes, and no message shows a cluster_key value."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.trackerproc import package_path
from opentracker import config
from opentracker_core import INTERVAL_CEILING, INTERVAL_MIN, WORKERS_MAX

ROOT = Path(__file__).resolve().parent.parent
OPENWRT = ROOT / "crossbuild/openwrt"
UCICONF = OPENWRT / "files/opentracker-uciconf"
KEYCONFS = sorted((OPENWRT / "test/cases").glob("*.keyconf"))
KEY = "00112233445566778899aabbccddeeff"
HEADER = "# Generated from /etc/config/opentracker by /etc/init.d/opentracker: edit that file.\n"

pytestmark = pytest.mark.skipif(not UCICONF.exists(), reason="no crossbuild/ in this tree (an sdist)")
needs_busybox = pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox (the router's shell) not here")


def translate(tmp_path, options):
    """The translator under BusyBox ash on a main section with these UCI
    options ({name: value}) -> CompletedProcess."""
    etc = tmp_path / "etc"
    etc.mkdir(exist_ok=True)
    lines = ["config opentracker 'main'"] + ["\toption %s '%s'" % item for item in options.items()]
    (etc / "opentracker").write_text("\n".join(lines) + "\n")
    env = dict(os.environ, FUNCTIONS_SH=str(OPENWRT / "test/functions.sh"), UCI_CONFIG_DIR=str(etc))
    return subprocess.run(["busybox", "sh", str(UCICONF), "main"], env=env, capture_output=True, text=True,
                          timeout=30)


@needs_busybox
def test_run_sh_passes_every_case():
    proc = subprocess.run(["bash", str(OPENWRT / "test/run.sh")], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OT_CONF_PYTHON=sys.executable, OT_CONF_PYTHONPATH=package_path()))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cases = sorted(p.stem for p in (OPENWRT / "test/cases").glob("*.uci"))
    assert sorted(line[4:] for line in proc.stdout.splitlines() if line[4:] in cases) == cases, proc.stdout


def test_there_is_a_keyconf_case():
    assert KEYCONFS


@pytest.mark.parametrize("keyconf", KEYCONFS, ids=lambda p: p.name)
def test_keyconf_cases_pass_check_config(tmp_path, keyconf):
    """With a key file where the config says (moved into a scratch root)."""
    lines = keyconf.read_text().splitlines(keepends=True)
    path = None
    for i, line in enumerate(lines):
        if line.startswith("livesync.cluster.key "):
            path = tmp_path / line.split(None, 1)[1].strip().lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(KEY + "\n")
            lines[i] = "livesync.cluster.key %s\n" % path
    assert path is not None, "no livesync.cluster.key line"
    conf = tmp_path / "opentracker.conf"
    conf.write_text("".join(lines))
    proc = subprocess.run([sys.executable, "-m", "opentracker", "-f", str(conf), "--check-config"],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=package_path()))
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout + proc.stderr
    assert proc.stdout == "opentracker: configuration OK (0 warning(s)) in %s\n" % conf
    # Without the key file the same config is refused: the .conf check
    # (tests/test_check_config.py) could not take these cases.
    path.unlink()
    proc = subprocess.run([sys.executable, "-m", "opentracker", "-f", str(conf), "--check-config"],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=package_path()))
    assert proc.returncode == 1 and "cannot be read" in proc.stderr, proc.stderr


def tracker_takes(value):
    """The interval the tracker's parser takes from this value, or None."""
    builder = config.Builder()
    try:
        builder.read_text("tracker.announce_interval %s\n" % value)
        return builder.build()[0].announce_interval
    except config.ConfigError:
        return None


INTERVALS = ["0", "1", str(INTERVAL_MIN - 1), str(INTERVAL_MIN), "0%d" % INTERVAL_MIN, "1800", "000900",
             str(INTERVAL_CEILING), str(INTERVAL_CEILING + 1), "9999", "10000", "99999999999999999999",
             "18446744073709551676", "30m", "1e3", "+600", "-600", "0x100", "6OO"]


@needs_busybox
@pytest.mark.parametrize("value", INTERVALS)
def test_interval_is_taken_as_the_tracker_takes_it(tmp_path, value):
    """The translator's 60..7200 is the core's INTERVAL_MIN..INTERVAL_CEILING:
    it takes a value exactly when the tracker would, and writes the same
    number."""
    proc = translate(tmp_path, {"announce_interval": value})
    expected = tracker_takes(value)
    if expected is None:
        assert (proc.returncode, proc.stdout) == (1, ""), proc
        assert proc.stderr == ("opentracker-uciconf: bad announce_interval '%s' (whole seconds, %d..%d)\n"
                               % (value, INTERVAL_MIN, INTERVAL_CEILING))
    else:
        assert (proc.returncode, proc.stderr) == (0, "")
        assert proc.stdout == HEADER + "tracker.announce_interval %d\n" % expected


def tracker_takes_workers(value):
    """The worker count the tracker's parser takes from this value, or None."""
    builder = config.Builder()
    try:
        builder.read_text("tracker.workers %s\n" % value)
        return builder.build()[0].workers
    except config.ConfigError:
        return None


WORKER_COUNTS = ["auto", "1", "01", "2", "0", "00", str(WORKERS_MAX), str(WORKERS_MAX + 1), "100", "0064",
                 "AUTO", "-1", "+2", "2x", "1e1", "99999999999999999999"]


@needs_busybox
@pytest.mark.parametrize("value", WORKER_COUNTS)
def test_workers_taken_as_the_tracker_takes_them(tmp_path, value):
    """option workers: 'auto' or 1..WORKERS_MAX, exactly what tracker.workers
    takes (leading zeros as the tracker's parser reads them); the number
    written is the tracker's."""
    proc = translate(tmp_path, {"workers": value})
    expected = tracker_takes_workers(value)
    if expected is None or value == "AUTO":
        assert (proc.returncode, proc.stdout) == (1, ""), proc
        assert proc.stderr == "opentracker-uciconf: bad workers '%s' (auto, or 1..%d)\n" % (value, WORKERS_MAX)
    else:
        assert (proc.returncode, proc.stderr) == (0, "")
        assert proc.stdout == HEADER + "tracker.workers %s\n" % expected


SWITCHES = {"adaptive_interval": "tracker.adaptive_interval", "shedding": "tracker.shedding",
            "accept_unsigned": "livesync.cluster.accept_unsigned"}
# OpenWrt's config_get_bool (package/base-files/files/lib/functions.sh).
SPELLINGS = {"1": "on", "on": "on", "true": "on", "yes": "on", "enabled": "on",
             "0": "off", "off": "off", "false": "off", "no": "off", "disabled": "off"}


@needs_busybox
@pytest.mark.parametrize("option", SWITCHES)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_switches_take_config_get_bool_spellings(tmp_path, option, spelling):
    proc = translate(tmp_path, {option: spelling})
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == HEADER + "%s %s\n" % (SWITCHES[option], SPELLINGS[spelling])


@needs_busybox
@pytest.mark.parametrize("option", SWITCHES)
@pytest.mark.parametrize("spelling", ["On", "TRUE", "2", "y", "enable", "1 ", "-1"])
def test_switches_refuse_other_words(tmp_path, option, spelling):
    """config_get_bool would take the default for these, silently."""
    proc = translate(tmp_path, {option: spelling})
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == "opentracker-uciconf: bad %s '%s' (1 or 0)\n" % (option, spelling)


@needs_busybox
@pytest.mark.parametrize("value", [KEY, " " + KEY, "/etc/opentracker/" + KEY + " x", "/etc/key\n" + KEY,
                                   "/etc/key\t" + KEY, "/etc/key\x01" + KEY, "./" + KEY])
def test_a_refused_cluster_key_is_never_shown(tmp_path, value):
    proc = translate(tmp_path, {"cluster_key": value})
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.startswith("opentracker-uciconf: bad cluster_key: ") and KEY not in proc.stderr


@needs_busybox
def test_the_cluster_key_file_is_not_opened(tmp_path):
    """A named pipe as the key file: opening it to read would block until
    the timeout."""
    fifo = tmp_path / "cluster.key"
    os.mkfifo(fifo)
    proc = translate(tmp_path, {"cluster_key": str(fifo)})
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == HEADER + "livesync.cluster.key %s\n" % fifo
