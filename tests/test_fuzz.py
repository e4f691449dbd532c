"""The fuzz harnesses of tests/fuzz/ as part of the normal suite: each
harness for a few hundred hypothesis inputs (grammar, raw bytes, mutated
seed files), every seed file as it is, and the atheris entry point for a
few hundred runs when atheris is installed. Long runs are by hand:

    python tests/fuzz/fuzz_http.py -max_total_time=600      # or tests/fuzz/run.sh http

OT_FUZZ_EXAMPLES sets the hypothesis inputs per harness (default 600, or the
profile's max_examples when that is larger).
"""

import importlib
import os
import subprocess
import sys

import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ = os.path.join(HERE, "fuzz")
sys.path.insert(0, FUZZ)

import common  # noqa: E402

TARGETS = ["http", "udp", "query", "config", "accesslist", "state", "livesync"]
EXAMPLES = int(os.environ.get("OT_FUZZ_EXAMPLES", max(600, settings().max_examples)))

pytestmark = pytest.mark.hypothesis


def harness(target):
    return importlib.import_module("fuzz_" + target)


@pytest.mark.parametrize("target", TARGETS)
def test_harness_with_hypothesis(target):
    module = harness(target)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(module.inputs())
    def run(data):
        module.one_input(data)

    run()


@pytest.mark.parametrize("target", TARGETS)
def test_every_seed_file(target):
    """The seeds are real inputs of their target (and the crashes atheris
    found, once saved there): each one passes as it is."""
    module = harness(target)
    files = common.seeds(target)
    assert len(files) >= 3, "the %s corpus is missing" % target
    for data in files:
        module.one_input(data)


def test_harness_checks_bite():
    """A harness that cannot fail is no harness: the HTTP checks reject a
    wrong Content-Length, an unknown error page and a 302 nobody asked for,
    and the leak check notices a block that is not given back."""
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nd5:filesdee"
    common.check_http(ok)
    for bad in (ok.replace(b"11", b"12"), ok.replace(b"Content-Type", b"Content-type"),
                common.ERR_404.replace(b"Not Found</", b"Not found</"), common.REDIRECT_PAGE,
                b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", ok[:-1] + b"x"):
        with pytest.raises(AssertionError):
            common.check_http(bad)
    common.check_http(common.REDIRECT_PAGE, redirect=True)
    with pytest.raises(AssertionError, match="not given back"):
        with common.no_leaks():
            kept = common.core.Server(seed=1)   # still alive at the end of the block
    del kept


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_atheris_entry_point(target, tmp_path):
    """`python tests/fuzz/fuzz_<target>.py` runs under atheris (uninstrumented
    core here: tests/fuzz/run.sh builds the instrumented one)."""
    pytest.importorskip("atheris")
    env = dict(os.environ, OT_FUZZ_WORK=str(tmp_path))
    proc = subprocess.run([sys.executable, os.path.join(FUZZ, "fuzz_%s.py" % target), "-runs=300", "-seed=1"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 300 runs" in proc.stderr, proc.stderr[-3000:]
