"""Run the project's setup.py without building anything and print, as JSON,
what it would build: the extension (after cythonize wrote its C file, with the
project's own compiler directives), its include dirs, macros, libraries and
extra flags, and the Python packages. Keeps the cross build in step with
setup.py as the project grows.

    cd COPY_OF_REPO && python extmeta.py > meta.json
"""

import contextlib
import json
import os
import sys

import setuptools

captured = {}


def _capture(**kwargs):
    captured.update(kwargs)


setuptools.setup = _capture
sys.argv = ["setup.py", "--name"]
for var in ("OT_DEBUG", "OT_SANITIZE", "OT_ANNOTATE"):
    os.environ.pop(var, None)
# The tests' build of the core too (tests/testbuild/): the in-process tests
# under qemu need it; build.py leaves it out of what ships.
os.environ["OT_TESTCORE"] = "1"
with open("setup.py") as f:
    code = compile(f.read(), "setup.py", "exec")
# cythonize reports on stdout: keep stdout for the JSON.
with contextlib.redirect_stdout(sys.stderr):
    exec(code, {"__name__": "__main__", "__file__": os.path.abspath("setup.py")})

exts = []
for ext in captured.get("ext_modules") or []:
    exts.append({
        "name": ext.name,
        "sources": ext.sources,
        "include_dirs": ext.include_dirs,
        "define_macros": [list(m) for m in ext.define_macros],
        "undef_macros": ext.undef_macros,
        "libraries": ext.libraries,
        "library_dirs": ext.library_dirs,
        "extra_compile_args": ext.extra_compile_args,
        "extra_link_args": ext.extra_link_args,
    })
for e in exts:
    for s in e["sources"]:
        if not s.endswith(".c"):
            sys.exit("extmeta: %s: source %s is not C (cythonize did not run?)" % (e["name"], s))
json.dump({
    "package_dir": captured.get("package_dir", {}),
    "packages": captured.get("packages", []),
    "ext_modules": exts,
}, sys.stdout, indent=1)
print()
