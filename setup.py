"""Build the one extension module, opentracker_core._core.

The generated C file is used when Cython is not installed (the OpenWrt SDK and
sdists carry it), and regenerated from the .pyx sources when Cython is present.
Environment switches:
  OT_DEBUG=1       -O0 -g, for a debugger (the allocation counters are in every build)
  OT_ANNOTATE=1    write the cython -a HTML next to the sources
  OT_SANITIZE=...  add -fsanitize=... (e.g. address,undefined) to compile and link
"""
import os
import sys

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
CORE = os.path.join("src", "opentracker_core")

define_macros = []
extra_compile_args = ["-fno-strict-aliasing", "-Wno-unused-function"]
extra_link_args = []
if os.environ.get("OT_DEBUG"):
    extra_compile_args += ["-O0", "-g"]
sanitize = os.environ.get("OT_SANITIZE")
if sanitize:
    extra_compile_args += ["-fsanitize=" + sanitize, "-fno-omit-frame-pointer", "-g"]
    extra_link_args += ["-fsanitize=" + sanitize]


def core_extension():
    pyx = os.path.join(CORE, "_core.pyx")
    c_file = os.path.join(CORE, "_core.c")
    try:
        from Cython.Build import cythonize
    except ImportError:
        cythonize = None
    if cythonize is None:
        if not os.path.exists(os.path.join(HERE, c_file)):
            sys.exit("Cython is needed to build from a git checkout (pip install Cython)")
        sources = [c_file]
    else:
        sources = [pyx]
    ext = Extension(
        "opentracker_core._core",
        sources,
        include_dirs=[os.path.join(CORE, "includes")],
        define_macros=define_macros,
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
        libraries=["z"],
    )
    if cythonize is None:
        return [ext]
    return cythonize(
        [ext],
        include_path=["src"],
        annotate=bool(os.environ.get("OT_ANNOTATE")),
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        },
    )


setup(
    package_dir={"": "src"},
    packages=["opentracker", "opentracker_core"],
    ext_modules=core_extension(),
)
