"""Generate the C once on the host, then compile it for every target.

    python build.py TARGET...      (run by build.sh with the crossbuild venv)

1. Copies the working tree's src/, setup.py and pyproject.toml to $OUT/tree
   and runs extmeta.py there: setup.py's own cythonize (with the venv's
   Cython, the version OpenWrt 24.10 ships) writes the C, and its Extension
   says which include dirs, macros, libraries and flags to use.
2. Per target, two builds of every extension module:
   gnu-<target>/site   Debian's cross gcc against the glibc sysroot; imported by
                       the target's Python under qemu (tests, memory); with
                       the tests' build of the core (opentracker_testcore).
   musl-<target>/site  zig cc for musl (soft-float on MIPS), stripped: what the
                       .ipk ships (the core alone).
   Each site/ also holds the packages' .py files, so it is an importable tree.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

XB = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(XB)
CACHE = os.environ.get("OT_XBUILD_CACHE", "/var/cache/opentracker-xbuild")
OUT = os.environ.get("OT_XBUILD_OUT", os.path.join(CACHE, "out"))
PYVER = "3.11"
JOBS = int(os.environ.get("OT_XBUILD_JOBS", "2"))
COMMON = ["-shared", "-fPIC", "-Os", "-g0", "-fwrapv", "-fno-strict-aliasing", "-DNDEBUG"]
# The shipped build only (docs/architecture.md, "Module size"): nothing in the
# core unwinds through C frames (no C++, no exceptions across them), so the
# unwind tables are 13 KB of flash for nothing on mips.
SHIPPED = ["-fno-asynchronous-unwind-tables", "-fno-unwind-tables"]
# Left by zig's -s: MIPS's .pdr (procedure descriptors for debuggers, about
# 25 KB on mips) and the compiler's .comment. OpenWrt's own strip removes them.
STRIP_SECTIONS = [".pdr", ".comment"]
# The tests' build of the core (tests/testbuild/): compiled for the glibc
# sites the tests run under qemu, never for the musl one that ships.
TESTCORE = "opentracker_testcore"


def targets():
    rows = {}
    with open(os.path.join(XB, "targets.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            c = line.rstrip("\n").split("\t")
            rows[c[0]] = dict(zip(["name", "deb", "gnu", "zig", "cpu", "qemu", "owrt", "bits", "endian",
                                   "machine"], c))
    return rows


def copy_tree():
    tree = os.path.join(OUT, "tree")
    shutil.rmtree(tree, ignore_errors=True)
    ignore = shutil.ignore_patterns("*.so", "*.c", "*.html", "__pycache__", "*.egg-info", "build")
    shutil.copytree(os.path.join(REPO, "src"), os.path.join(tree, "src"), ignore=ignore)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        if os.path.exists(os.path.join(REPO, name)):
            shutil.copy2(os.path.join(REPO, name), tree)
    # The tests' build of the core (extmeta.py asks for it): its sources only.
    shutil.copytree(os.path.join(REPO, "tests", "testbuild"), os.path.join(tree, "tests", "testbuild"),
                    ignore=shutil.ignore_patterns("*.c", "*.so", "__pycache__"))
    return tree


def metadata(tree):
    started = time.time()
    out = subprocess.run([sys.executable, os.path.join(XB, "extmeta.py")], cwd=tree, check=True,
                         stdout=subprocess.PIPE).stdout
    meta = json.loads(out)
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("cythonize (%s): %.1fs" % (cython_version(), time.time() - started))
    return meta


def cython_version():
    import Cython
    return "Cython " + Cython.__version__


def site_tree(tree, meta, site):
    """The packages' .py files under site/ (pure-Python part of the install)."""
    pkg_dir = meta["package_dir"]
    for pkg in meta["packages"]:
        parts = pkg.split(".")
        for i in range(len(parts), -1, -1):
            prefix = ".".join(parts[:i])
            if prefix in pkg_dir:
                base = os.path.join(pkg_dir[prefix], *parts[i:])
                break
        else:
            base = os.path.join(*parts)
        src = os.path.join(tree, base)
        dst = os.path.join(site, *parts)
        os.makedirs(dst, exist_ok=True)
        for name in sorted(os.listdir(src)):
            if name.endswith(".py") or name in ("py.typed",) or name.endswith(".pyi"):
                shutil.copy2(os.path.join(src, name), dst)


def compile_cmds(t, kind, tree, meta, site):
    """(output .so, argv, argv after) per extension for target t and kind gnu|musl."""
    sr = os.path.join(CACHE, "sysroot-" + t["name"])
    jobs = []
    for ext in meta["ext_modules"]:
        if kind == "musl" and ext["name"] == TESTCORE:
            continue                  # the router's build ships no test entry points
        parts = ext["name"].split(".")
        out = os.path.join(site, *parts[:-1], parts[-1] + ".so")
        flags = list(COMMON)
        after = None
        flags += ["-D%s=%s" % (k, v) if v is not None else "-D" + k for k, v in ext["define_macros"]]
        flags += ext["extra_compile_args"]
        flags += ["-I" + os.path.join(tree, d) for d in ext["include_dirs"]]
        if kind == "gnu":
            cc = [t["gnu"] + "-gcc"]
            if t["deb"] != "-":
                cc.append("--sysroot=" + sr)
            else:
                flags += ["-I" + os.path.join(sr, "usr/include"), "-L" + os.path.join(sr, "usr/lib")]
            flags.append("-I" + os.path.join(sr, "usr/include/python" + PYVER))
        else:
            zlib = os.path.join(CACHE, "zlib-musl-" + t["name"])
            cc = [os.path.join(CACHE, "venv/bin/python"), "-m", "ziglang", "cc", "-target", t["zig"],
                  "-mcpu=" + t["cpu"]]
            flags += ["-I" + os.path.join(CACHE, "pyinc-musl-" + t["name"], "python" + PYVER),
                      "-I" + os.path.join(zlib, "include"), "-L" + os.path.join(zlib, "lib"), "-s"]
            flags += SHIPPED
            after = [t["gnu"] + "-strip", "--strip-all"] + ["--remove-section=" + s for s in STRIP_SECTIONS] + [out]
        srcs = [os.path.join(tree, s) for s in ext["sources"]]
        libs = ["-l" + lib for lib in ext["libraries"]] + ["-L" + os.path.join(tree, d) for d in ext["library_dirs"]]
        jobs.append((out, cc + flags + ["-o", out] + srcs + libs + ext["extra_link_args"], after))
    return jobs


def run(job):
    out, argv, after = job
    os.makedirs(os.path.dirname(out), exist_ok=True)
    started = time.time()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode == 0 and after:
        argv = after
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    took = time.time() - started
    rel = os.path.relpath(out, OUT)
    if p.returncode != 0:
        return rel, took, "FAILED\n$ %s\n%s" % (" ".join(argv), p.stdout[-4000:])
    return rel, took, p.stdout.strip()


def main():
    names = sys.argv[1:]
    rows = targets()
    for n in names:
        if n not in rows:
            sys.exit("build: unknown target %s" % n)
    tree = copy_tree()
    meta = metadata(tree)
    jobs = []
    for n in names:
        for kind in ("gnu", "musl"):
            site = os.path.join(OUT, "%s-%s" % (kind, n), "site")
            shutil.rmtree(os.path.dirname(site), ignore_errors=True)
            site_tree(tree, meta, site)
            jobs += compile_cmds(rows[n], kind, tree, meta, site)
    failed = False
    with ThreadPoolExecutor(JOBS) as pool:
        for rel, took, msg in pool.map(run, jobs):
            print("compile %-44s %5.1fs %s" % (rel, took, msg if msg.startswith("FAILED") else ""))
            if msg.startswith("FAILED"):
                failed = True
            elif msg:
                print("  " + msg.replace("\n", "\n  ")[:2000])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
