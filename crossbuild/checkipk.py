"""Check an assembled .ipk for one target (no opkg needed).

    python checkipk.py TARGET FILE.ipk    (exit 1 on any problem; appends to
                                           $OUT/results/TARGET.ipk)

* outer file: gzip'd tar holding exactly ./debian-binary (2.0), ./data.tar.gz,
  ./control.tar.gz in that order (what opkg's ipkg-build writes and reads);
* control: the fields ipkg-build writes, Architecture = the target's OpenWrt
  arch, Installed-Size = the data tar's size, zlib in Depends iff a module
  links libz; conffiles present in the data; postinst/prerm executable;
* data: everything owned by root; the launcher, init script (rc.common),
  UCI config, UCI translator; the Python packages as 3.11 .pyc only (no .py),
  including the modules the launcher imports; every .so an ELF for the
  target (class, byte order, machine).
"""

import gzip
import importlib.util
import io
import os
import re
import sys
import tarfile

XB = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("OT_XBUILD_CACHE", "/var/cache/opentracker-xbuild")
OUT = os.environ.get("OT_XBUILD_OUT", os.path.join(CACHE, "out"))
sys.path.insert(0, XB)
from build import targets  # noqa: E402
from check_so import ident  # noqa: E402

FIELDS = ["Package", "Version", "Depends", "Source", "SourceName", "License", "Section", "SourceDateEpoch",
          "Maintainer", "Architecture", "Installed-Size", "Description"]
SITE = "./usr/lib/python3.11/site-packages/"
PYC_MAGIC_311 = bytes.fromhex("a70d0d0a")


def members(tf):
    return {m.name: m for m in tf.getmembers()}


def read(tf, name):
    return tf.extractfile(name).read()


def main():
    t = targets()[sys.argv[1]]
    path = sys.argv[2]
    problems = []
    raw = open(path, "rb").read()
    outer = tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw)), mode="r:")
    names = [m.name for m in outer.getmembers()]
    if names != ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]:
        problems.append("outer members %s" % names)
    if read(outer, "./debian-binary") != b"2.0\n":
        problems.append("debian-binary is not 2.0")
    data_gz = read(outer, "./data.tar.gz")
    data_tar = gzip.decompress(data_gz)
    data = tarfile.open(fileobj=io.BytesIO(data_tar), mode="r:")
    control = tarfile.open(fileobj=io.BytesIO(gzip.decompress(read(outer, "./control.tar.gz"))), mode="r:")
    dm, cm = members(data), members(control)

    ctl = read(control, "./control").decode()
    fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", ctl, re.M))
    for f in FIELDS:
        if f not in fields:
            problems.append("control: no %s" % f)
    if fields.get("Architecture") != t["owrt"]:
        problems.append("control: Architecture %s, want %s" % (fields.get("Architecture"), t["owrt"]))
    if fields.get("Installed-Size") != str(len(data_tar)):
        problems.append("control: Installed-Size %s, data tar is %d" % (fields.get("Installed-Size"), len(data_tar)))
    depends = [d.strip().split()[0] for d in fields.get("Depends", "").split(",") if d.strip()]
    if "python3-light" not in depends:
        problems.append("control: Depends lacks python3-light")
    for f in ("./conffiles", "./postinst", "./prerm"):
        if f not in cm:
            problems.append("control.tar.gz: no %s" % f)
    for f in ("./postinst", "./prerm"):
        if f in cm and not cm[f].mode & 0o111:
            problems.append("control.tar.gz: %s not executable" % f)
    for conf in read(control, "./conffiles").decode().split():
        if "." + conf not in dm:
            problems.append("conffile %s not in data" % conf)

    for m in dm.values():
        if m.uid or m.gid:
            problems.append("data: %s owned by %d:%d" % (m.name, m.uid, m.gid))
    required = {"./usr/bin/opentracker": b"#!/usr/bin/python3\n", "./etc/init.d/opentracker": b"#!/bin/sh /etc/rc.common\n",
                "./usr/libexec/opentracker-uciconf": b"#!/bin/sh\n", "./etc/config/opentracker": b""}
    for name, head in required.items():
        if name not in dm:
            problems.append("data: no %s" % name)
            continue
        body = read(data, name)
        if not body.startswith(head):
            problems.append("data: %s does not start with %r" % (name, head))
        if head.startswith(b"#!") and (dm[name].mode & 0o755) != 0o755:
            problems.append("data: %s mode %o" % (name, dm[name].mode))
    launcher = read(data, "./usr/bin/opentracker").decode() if "./usr/bin/opentracker" in dm else ""
    for mod in re.findall(r"^from ([\w.]+) import", launcher, re.M):
        pyc = SITE + mod.replace(".", "/") + ".pyc"
        if pyc not in dm:
            problems.append("data: the launcher imports %s but %s is missing" % (mod, pyc))

    needs_z = False
    pycs = 0
    for name, m in sorted(dm.items()):
        if name.endswith(".py"):
            problems.append("data: source file %s (ship .pyc)" % name)
        elif name.endswith(".pyc"):
            pycs += 1
            if "__pycache__" in name:
                problems.append("data: %s (legacy .pyc beside the module expected)" % name)
            if read(data, name)[:4] != PYC_MAGIC_311:
                problems.append("data: %s is not CPython 3.11 bytecode" % name)
        elif name.endswith(".so"):
            blob = read(data, name)
            tmp = os.path.join(OUT, "ipk", ".so-check")
            with open(tmp, "wb") as f:
                f.write(blob)
            i = ident(tmp)
            os.unlink(tmp)
            want = (int(t["bits"]), t["endian"], int(t["machine"]))
            if i is None or i[:3] != want:
                problems.append("data: %s is %s, want ELF %s" % (name, i and i[:3], want))
            if b"libz.so.1\0" in blob:
                needs_z = True
    if not pycs:
        problems.append("data: no .pyc")
    if needs_z != ("zlib" in depends):
        problems.append("control: Depends %s but a module %s libz" % (depends, "links" if needs_z else "does not link"))
    if importlib.util.MAGIC_NUMBER != PYC_MAGIC_311:
        problems.append("host Python %s compiles other bytecode" % sys.version.split()[0])

    size = len(raw)
    # (a build for the life-cycle tests, OT_PKG_DIR, is not the run's package)
    res = os.path.join(OUT, "results", t["name"] + ".ipk") if not os.environ.get("OT_PKG_DIR") else os.devnull
    with open(res, "w") as f:
        f.write("ipk=%s\nipk_bytes=%d\nipk_check=%s\n" % (os.path.basename(path), size,
                                                       "ok" if not problems else "FAIL"))
    for p in problems:
        print("FAIL %s: %s" % (os.path.basename(path), p))
    print("%s: %d bytes, %d files, %d .pyc, Depends: %s, %s" % (
        os.path.basename(path), size, len(dm), pycs, fields.get("Depends"), "ok" if not problems else "FAILED"))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
