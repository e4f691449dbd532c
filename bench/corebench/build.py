"""Build bench/corebench/corebench.pyx (the core plus its benchmark loop) into
build/corebench/ and return the module. The extension's settings come from
the project's own setup.py, so the benchmark measures what ships."""

import importlib
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "build", "corebench")

# Step 1: the project's own setup.py with setup() captured. It writes the
# build header and says how the core is compiled (include dirs, flags).
CAPTURE = r"""
import json, os, runpy, sys
import setuptools
captured = {}
setuptools.setup = lambda **kw: captured.update(kw)
os.chdir(ROOT)
runpy.run_path(os.path.join(ROOT, "setup.py"), run_name="__main__")
core = captured["ext_modules"][0]
print(json.dumps({k: getattr(core, k) for k in ("include_dirs", "define_macros", "libraries",
                                                "extra_compile_args", "extra_link_args")}))
"""

# Step 2: the benchmark module, compiled like the core.
SETUP = r"""
import json, os, sys
from setuptools import Extension, setup
from Cython.Build import cythonize
core = json.loads(CORE_EXT)
ext = Extension("corebench", [os.path.join(HERE, "corebench.pyx")],
                include_dirs=[os.path.join(ROOT, d) for d in core["include_dirs"]],
                define_macros=[tuple(m) for m in core["define_macros"]], libraries=core["libraries"],
                extra_compile_args=core["extra_compile_args"], extra_link_args=core["extra_link_args"])
setup(ext_modules=cythonize([ext], include_path=[os.path.join(ROOT, "src")], build_dir=OUT, quiet=True,
                            compiler_directives={"language_level": 3, "boundscheck": False,
                                                 "wraparound": False, "cdivision": True,
                                                 "initializedcheck": False}),
      script_args=["build_ext", "--build-lib", OUT, "--build-temp", os.path.join(OUT, "tmp")])
"""


def _run(code):
    done = subprocess.run([sys.executable, "-c", code], cwd=OUT, capture_output=True, text=True)
    if done.returncode:
        sys.exit("building the benchmark's core failed:\n" + done.stdout[-3000:] + done.stderr[-5000:])
    return done.stdout


def load():
    """The corebench module, built if its sources are newer than the build."""
    os.makedirs(OUT, exist_ok=True)
    sys.path.insert(0, OUT)
    sources = [os.path.join(HERE, "corebench.pyx")] + [
        os.path.join(ROOT, "src", "opentracker_core", n)
        for n in os.listdir(os.path.join(ROOT, "src", "opentracker_core")) if n.endswith((".pyx", ".pxd", ".pxi"))]
    built = [os.path.join(OUT, n) for n in os.listdir(OUT) if n.startswith("corebench") and n.endswith(".so")]
    if not built or max(map(os.path.getmtime, sources)) > min(map(os.path.getmtime, built)):
        where = "ROOT, HERE, OUT = %r, %r, %r\n" % (ROOT, HERE, OUT)
        core_ext = _run(where + CAPTURE).strip().splitlines()[-1]
        _run(where + "CORE_EXT = %r\n" % core_ext + SETUP)
    return importlib.import_module("corebench")
