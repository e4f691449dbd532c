"""packaging/opentracker.service passes `systemd-analyze verify` (with the
command and the man pages it names in place), and keeps the choices its
comments make: no User= (the tracker drops privileges itself), only the
capabilities the start needs, a config check before start and reload."""

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "packaging" / "opentracker.service"


def unit_lines():
    return [line for line in UNIT.read_text().splitlines() if line and not line.startswith("#")]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed (apt-get install systemd)")
def test_systemd_analyze_verify(tmp_path):
    (tmp_path / "bin").mkdir()
    command = tmp_path / "bin" / "opentracker"
    command.write_text("#!/bin/sh\nexit 0\n")
    command.chmod(0o755)
    for section, name in (("man1", "opentracker.1"), ("man5", "opentracker.conf.5")):
        (tmp_path / "man" / section).mkdir(parents=True)
        shutil.copy(ROOT / "man" / name, tmp_path / "man" / section / name)
    unit = tmp_path / "opentracker.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/opentracker", str(command)))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "MANPATH": str(tmp_path / "man")})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_unit_choices():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string("\n".join(unit_lines()))
    service = parser["Service"]
    assert "User" not in service and "DynamicUser" not in service
    assert service["CapabilityBoundingSet"].split() == ["CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_SETUID",
                                                        "CAP_SETGID"]
    assert service["ExecStartPre"].endswith(" --check-config")
    assert service["ExecStart"] == "/usr/local/bin/opentracker -f /etc/opentracker/opentracker.conf"
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    reloads = [line.split("=", 1)[1] for line in unit_lines() if line.startswith("ExecReload=")]
    assert reloads == [service["ExecStartPre"], "/bin/kill -HUP $MAINPID"]
