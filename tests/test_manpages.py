"""opentracker(1) and opentracker.conf(5) are written from cli.OPTIONS and
config.KEYS_TABLE (src/opentracker/manpages.py): the committed pages are
what the tables give today, mandoc finds nothing to say about them, and
man-db reads their NAME lines."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from opentracker import cli, config, manpages

MAN = Path(__file__).resolve().parent.parent / "man"


@pytest.mark.parametrize("name", sorted(manpages.PAGES))
def test_committed_page_is_the_generated_one(name):
    assert (MAN / name).read_text() == manpages.PAGES[name](), \
        "regenerate: python -m opentracker.manpages man"


def test_every_option_and_key_is_in_the_pages():
    page1 = manpages.PAGES["opentracker.1"]().replace("\\-", "-")
    for flag, _, _, _, doc in cli.OPTIONS:
        assert re.search(r"^\.BI? -%s\b" % flag, page1, re.M), flag
    assert "\n.B --check-config\n" in page1
    page5 = manpages.PAGES["opentracker.conf.5"]().replace("\\-", "-")
    keys = re.findall(r'^\.BI (\S+) " "', page5, re.M)
    assert keys == [entry.key for entry in config.KEYS_TABLE if entry.key is not None]
    assert sorted(keys) == sorted(config.KEYS)


@pytest.mark.skipif(shutil.which("mandoc") is None, reason="mandoc is not installed (apt-get install mandoc)")
def test_mandoc_lint_is_silent():
    proc = subprocess.run(["mandoc", "-T", "lint", "-W", "all"] + [str(MAN / n) for n in sorted(manpages.PAGES)],
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@pytest.mark.skipif(shutil.which("lexgrog") is None, reason="man-db is not installed")
def test_lexgrog_reads_the_names():
    proc = subprocess.run(["lexgrog", str(MAN / "opentracker.1"), str(MAN / "opentracker.conf.5")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [
        '%s: "opentracker - a BitTorrent tracker with a Cython core, compatible with Dirk Engling\'s opentracker"'
        % (MAN / "opentracker.1"),
        '%s: "opentracker.conf - configuration file of opentracker"' % (MAN / "opentracker.conf.5"),
    ]
