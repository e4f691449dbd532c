"""The core as the tests build it: opentracker_testcore, the shipped core's
sources and compiler settings plus the in-process entry points
(opentracker_testcore.pyx). It is never installed; the router's module and
the wheel carry none of it (docs/architecture.md, "Test builds").

`from helpers.testcore import core` gives the module with its test classes under
the shipped names: core.Server is TestServer (answer_http, answer_udp, the
clocks), core.Store is TestStore (announce_http, scrape_udp, ...). Every
other name is the test build's own copy of the shipped module's.

With OT_TESTCORE_PREBUILT set it is imported from the path as it is (the
sanitizer run and the cross build put it beside the core they test);
otherwise it is built into build/testcore*/ with setup.py (OT_TESTCORE=only,
one build per combination of setup.py's switches) and rebuilt when a source
is newer than the build. That needs Cython, as building the core from a
checkout does.
"""

import importlib
import os
import subprocess
import sys

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "testbuild")
ROOT = os.path.dirname(os.path.dirname(HERE))
# setup.py's switches change what is compiled (a sanitized build, zstd, -O0):
# each combination has a build of its own, so a run never loads another's.
SWITCHES = ("OT_SANITIZE", "OT_ZSTD", "OT_DEBUG")
OUT = os.path.join(ROOT, "build", "testcore" + "".join(
    "-%s=%s" % (name[3:].lower(), os.environ[name].replace(",", "+")) for name in SWITCHES if os.environ.get(name)))
CORE = os.path.join(ROOT, "src", "opentracker_core")


def _sources():
    yield os.path.join(HERE, "opentracker_testcore.pyx")
    yield os.path.join(ROOT, "setup.py")
    for folder in (CORE, os.path.join(CORE, "includes")):
        for name in os.listdir(folder):
            if name.endswith((".pyx", ".pxd", ".pxi", ".h")) and name != "buildinfo.h":
                yield os.path.join(folder, name)


def _built():
    if not os.path.isdir(OUT):
        return None
    found = [os.path.join(OUT, n) for n in os.listdir(OUT)
             if n.startswith("opentracker_testcore.") and n.endswith(".so")]
    return found[0] if found else None


def _build():
    env = dict(os.environ, OT_TESTCORE="only")
    done = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", OUT,
                           "--build-temp", os.path.join(OUT, "tmp")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise RuntimeError("building the test core failed:\n" + done.stdout[-3000:] + done.stderr[-5000:])


def _load():
    if os.environ.get("OT_TESTCORE_PREBUILT"):
        # Built beside the core under test (tests/sanitize.sh, a cross
        # build): that one or none, never a build of another kind.
        return importlib.import_module("opentracker_testcore")
    so = _built()
    if so is None or max(os.path.getmtime(s) for s in _sources()) > os.path.getmtime(so):
        _build()
    sys.path.insert(0, OUT)
    try:
        return importlib.import_module("opentracker_testcore")
    finally:
        sys.path.remove(OUT)


core = _load()
core.Server = core.TestServer
core.Store = core.TestStore
