"""Check every shipped (musl) extension module of one target, and the glibc
test build's ELF identity.

    python check_so.py TARGET      (prints findings; exit 1 on any failure;
                                    writes $OUT/results/TARGET.so)

Checks on musl-<target>/site/**/*.so:
  * ELF class, byte order and machine match the target (targets.tsv);
  * MIPS: o32, MIPS32r2, soft-float FP ABI (OpenWrt's MIPS targets have no FPU
    ABI); ARM: EABI5 with the hard-float (VFP) calling convention;
  * NEEDED only musl (libc.so), zlib (libz.so.1) and libpython;
  * every imported symbol is exported by musl for this architecture (the
    export list of zig's musl stub for the target), by zlib (our musl build of
    it), or, for Py*/_Py*, by the target's CPython 3.11;
  * stripped (no .symtab), and its size and xz -9e size (squashfs compresses);
  * at most SO_MAX bytes (issue 26: a router's flash; docs/architecture.md,
    "Module size"), so that a regrowth fails the run. OT_XBUILD_SO_MAX sets
    another bound (crossbuild/README.md: one just below the size fails).
"""

import glob
import lzma
import os
import re
import subprocess
import sys

XB = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("OT_XBUILD_CACHE", "/var/cache/opentracker-xbuild")
OUT = os.environ.get("OT_XBUILD_OUT", os.path.join(CACHE, "out"))
SO_MAX = int(os.environ.get("OT_XBUILD_SO_MAX", "300000"))
ALLOWED_NEEDED = re.compile(r"^(libc\.so|libz\.so\.1|libpython3\.\d+\.so(\.1\.0)?)$")

sys.path.insert(0, XB)
from build import targets  # noqa: E402


def readelf(*args):
    return subprocess.run(["readelf", "-W", *args], check=True, stdout=subprocess.PIPE, text=True).stdout


def ident(path):
    with open(path, "rb") as f:
        head = f.read(64)
    if head[:4] != b"\x7fELF":
        return None
    bits = {1: 32, 2: 64}[head[4]]
    endian = {1: "little", 2: "big"}[head[5]]
    machine = int.from_bytes(head[18:20], endian)
    flags = int.from_bytes(head[36:40] if bits == 32 else head[48:52], endian)
    return bits, endian, machine, flags


def dynsyms(path, defined):
    names = set()
    for line in readelf("--dyn-syms", path).splitlines():
        f = line.split()
        if len(f) < 8 or not f[0].endswith(":"):
            continue
        if (f[6] == "UND") != (not defined):
            continue
        if defined and f[4] == "LOCAL":
            continue
        names.add(f[7].split("@")[0])
    names.discard("")
    return names


def musl_exports(t):
    """Exports of zig's musl libc.so stub for this ELF identity (zig made it
    while linking the module)."""
    want = (int(t["bits"]), t["endian"], int(t["machine"]))
    for stub in sorted(glob.glob(os.path.join(CACHE, "zig-cache", "o", "*", "libc.so"))):
        i = ident(stub)
        if i and i[:3] == want:
            return dynsyms(stub, defined=True)
    raise SystemExit("check_so: no zig musl libc.so stub for %s in the zig cache" % t["name"])


def python_exports(t):
    sr = os.path.join(CACHE, "sysroot-" + t["name"])
    names = set()
    cands = [os.path.join(sr, "usr/bin/python3.11")]
    cands += glob.glob(os.path.join(sr, "usr/lib/*/libpython3.11.so.1.0"))
    cands += glob.glob(os.path.join(sr, "usr/lib/libpython3.11.so.1.0"))
    for c in cands:
        if os.path.exists(c):
            names |= dynsyms(os.path.realpath(c), defined=True)
    if not names:
        raise SystemExit("check_so: no target python exports for %s" % t["name"])
    return names


def check_identity(t, path, problems):
    i = ident(path)
    if i is None:
        problems.append("%s: not ELF" % path)
        return
    bits, endian, machine, flags = i
    want = (int(t["bits"]), t["endian"], int(t["machine"]))
    if (bits, endian, machine) != want:
        problems.append("%s: ELF %s/%s/machine %d, want %s/%s/%d" % ((path, bits, endian, machine) + want))
    return flags


def main():
    t = targets()[sys.argv[1]]
    problems = []
    results = {}
    for path in sorted(glob.glob(os.path.join(OUT, "gnu-" + t["name"], "site", "**", "*.so"), recursive=True)):
        check_identity(t, path, problems)
    shipped = sorted(glob.glob(os.path.join(OUT, "musl-" + t["name"], "site", "**", "*.so"), recursive=True))
    if not shipped:
        problems.append("no musl .so for %s" % t["name"])
    musl = musl_exports(t)
    zlib = dynsyms(os.path.join(CACHE, "zlib-musl-" + t["name"], "lib", "libz.so.1"), defined=True)
    py = python_exports(t)
    size = xz = 0
    for path in shipped:
        rel = os.path.relpath(path, OUT)
        flags = check_identity(t, path, problems)
        attrs = readelf("-A", path)
        if int(t["machine"]) == 8:   # MIPS
            if (flags >> 28) != 7:
                problems.append("%s: not MIPS32r2 (e_flags %#x)" % (rel, flags))
            if (flags & 0x0000F000) != 0x1000:
                problems.append("%s: not o32 (e_flags %#x)" % (rel, flags))
            if "FP ABI: Soft float" not in attrs:
                problems.append("%s: FP ABI is not soft-float: %s" % (rel, re.findall(r"FP ABI: .*", attrs)))
        elif int(t["machine"]) == 40:   # ARM
            if (flags & 0xFF000000) != 0x05000000 or not flags & 0x400:
                problems.append("%s: not EABI5 hard-float (e_flags %#x)" % (rel, flags))
            if "Tag_ABI_VFP_args: VFP registers" not in attrs:
                problems.append("%s: arguments not passed in VFP registers" % rel)
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf("-d", path))
        bad = [n for n in needed if not ALLOWED_NEEDED.match(n)]
        if bad or "libc.so" not in needed:
            problems.append("%s: NEEDED %s (musl libc.so, libz.so.1, libpython only)" % (rel, needed))
        undefined = dynsyms(path, defined=False)
        for name in sorted(undefined):
            if name.startswith(("Py", "_Py")):
                if name not in py:
                    problems.append("%s: %s is not exported by the target's CPython" % (rel, name))
            elif name not in musl and name not in zlib:
                problems.append("%s: %s is in neither musl nor zlib" % (rel, name))
        if ".symtab" in readelf("-S", path):
            problems.append("%s: not stripped" % rel)
        with open(path, "rb") as f:
            data = f.read()
        if len(data) > SO_MAX:
            problems.append("%s: %d bytes, over the %d-byte bound (docs/architecture.md, \"Module size\")"
                            % (rel, len(data), SO_MAX))
        size += len(data)
        xz += len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
        others = sorted(n for n in undefined if not n.startswith(("Py", "_Py")))
        print("%s: %d bytes, needs %s, imports %d Python symbols and %s" % (
            rel, len(data), ",".join(needed), len(undefined) - len(others), " ".join(others) or "nothing else"))
        if int(t["machine"]) in (8, 40):
            print("  " + "; ".join(re.findall(r"FP ABI: .*|Tag_ABI_VFP_args: .*|Tag_CPU_name: .*", attrs)))
    results["so_bytes"] = size
    results["so_xz_bytes"] = xz
    results["so_check"] = "ok" if not problems else "FAIL"
    os.makedirs(os.path.join(OUT, "results"), exist_ok=True)
    with open(os.path.join(OUT, "results", t["name"] + ".so"), "w") as f:
        for k, v in results.items():
            f.write("%s=%s\n" % (k, v))
    for p in problems:
        print("FAIL " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
