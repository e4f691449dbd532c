"""The generated C of this run compiled for the host (x86-64), as an
importable tree: the extension modules plus the packages' .py files.

    python hostcore.py OUT_DIR [--include-first DIR]

check.sh builds it twice for the endianness mutant (once with
--include-first pointing at a native-order otbytes.h); router.sh puts it on
the host-side PYTHONPATH, because some network test files also hold
in-process tests of the core, which then run on the host beside the
emulated tracker. Reads $OUT/meta.json and $OUT/tree from build.py.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig

CACHE = os.environ.get("OT_XBUILD_CACHE", "/var/cache/opentracker-xbuild")
OUT = os.environ.get("OT_XBUILD_OUT", os.path.join(CACHE, "out"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dest")
    ap.add_argument("--include-first")
    a = ap.parse_args()
    tree = os.path.join(OUT, "tree")
    meta = json.load(open(os.path.join(OUT, "meta.json")))
    inc = sysconfig.get_paths()["include"]
    for e in meta["ext_modules"]:
        parts = e["name"].split(".")
        out = os.path.join(a.dest, *parts[:-1], parts[-1] + ".so")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        first = ["-I" + a.include_first] if a.include_first else []
        cmd = (["gcc", "-shared", "-fPIC", "-O0", "-w", "-fno-strict-aliasing"] + first
               + ["-I" + os.path.join(tree, d) for d in e["include_dirs"]] + ["-I" + inc, "-o", out]
               + [os.path.join(tree, s) for s in e["sources"]] + ["-l" + lib for lib in e["libraries"]])
        subprocess.run(cmd, check=True)
        with open(out, "rb") as f:
            if f.read(20)[18] != 62:   # EM_X86_64
                sys.exit("hostcore: %s is not an x86-64 build" % out)
    # The packages' .py files, from build.py's site tree of any target.
    sites = [os.path.join(OUT, d, "site") for d in sorted(os.listdir(OUT)) if d.startswith("gnu-")]
    if not sites:
        sys.exit("hostcore: no gnu-*/site in %s (run build.py first)" % OUT)
    for dirpath, _, files in os.walk(sites[0]):
        for name in files:
            if name.endswith(".py"):
                src = os.path.join(dirpath, name)
                dst = os.path.join(a.dest, os.path.relpath(src, sites[0]))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy2(src, dst)


if __name__ == "__main__":
    main()
