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

SETUP = r"""
import os, sys
sys.path.insert(0, ROOT)
from setuptools import Extension, setup
from Cython.Build import cythonize
core = os.path.join(ROOT, "src", "opentracker_core")
ext = Extension("corebench", [os.path.join(HERE, "corebench.pyx")],
                include_dirs=[os.path.join(core, "includes")], libraries=["z"],
                extra_compile_args=["-fno-strict-aliasing", "-Wno-unused-function"])
setup(ext_modules=cythonize([ext], include_path=[os.path.join(ROOT, "src")], build_dir=OUT, quiet=True,
                            compiler_directives={"language_level": 3, "boundscheck": False,
                                                 "wraparound": False, "cdivision": True,
                                                 "initializedcheck": False}),
      script_args=["build_ext", "--build-lib", OUT, "--build-temp", os.path.join(OUT, "tmp")])
"""


def load():
    """The corebench module, built if its sources are newer than the build."""
    os.makedirs(OUT, exist_ok=True)
    sys.path.insert(0, OUT)
    sources = [os.path.join(HERE, "corebench.pyx")] + [
        os.path.join(ROOT, "src", "opentracker_core", n)
        for n in os.listdir(os.path.join(ROOT, "src", "opentracker_core")) if n.endswith((".pyx", ".pxd", ".pxi"))]
    built = [os.path.join(OUT, n) for n in os.listdir(OUT) if n.startswith("corebench") and n.endswith(".so")]
    if not built or max(map(os.path.getmtime, sources)) > min(map(os.path.getmtime, built)):
        code = "ROOT, HERE, OUT = %r, %r, %r\n" % (ROOT, HERE, OUT) + SETUP
        done = subprocess.run([sys.executable, "-c", code], cwd=OUT, capture_output=True, text=True)
        if done.returncode:
            sys.exit("building the benchmark's core failed:\n" + done.stdout[-3000:] + done.stderr[-5000:])
    return importlib.import_module("corebench")
