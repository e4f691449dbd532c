"""A deliberately broken copy of the .ipk, to prove that router.sh bites.

    python mutantipk.py IN.ipk OUT.ipk
    python mutantipk.py IN.ipk OUT.ipk --core-target ZIG_TARGET --cpu CPU --include PYINC --zlib DIR

The first mutant's launcher imports `logging`, which OpenWrt ships in
python3-logging, not in python3-light (the package's only Python
dependency). Debian's full Python has it, so the glibc tests would pass;
only a run on python3-light's module set, as the router has it, fails.

With --core-target, the launcher is left alone and the core extension is
rebuilt from this run's generated C ($OUT/tree, $OUT/meta.json) for another
zig target: the other float ABI (hard-float on soft-float MIPS). The rest of
the package is the real one, byte for byte.

With --control KIND, the data is left alone and control.tar.gz is broken
for one step of the life cycle under opkg (lifecycle.sh): conffiles (no
conffiles list: an upgrade overwrites the admin's change), arch (another
target's Architecture), conflicts (no Conflicts field: installs beside the
C opentracker), prerm (no prerm: a removal leaves the service running).
"""

import argparse
import gzip
import io
import json
import os
import subprocess
import tarfile

LAUNCHER = "./usr/bin/opentracker"
MUTATION = b"import logging  # mutant: in python3-logging, not python3-light\n"


def rebuild(members, mutate):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as t:
        for info, data in members:
            data = mutate(info, data)
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return gzip.compress(out.getvalue(), mtime=0)


def read(blob):
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as t:
        return [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]


def core_for(target, cpu, include, zlib):
    """{member name: .so bytes} of the extension modules built for target."""
    cache = os.environ.get("OT_XBUILD_CACHE", "/var/cache/opentracker-xbuild")
    out = os.environ.get("OT_XBUILD_OUT", os.path.join(cache, "out"))
    tree = os.path.join(out, "tree")
    built = {}
    for e in json.load(open(os.path.join(out, "meta.json")))["ext_modules"]:
        parts = e["name"].split(".")
        so = os.path.join(out, "mutant-core", *parts[:-1], parts[-1] + ".so")
        os.makedirs(os.path.dirname(so), exist_ok=True)
        cmd = ([os.path.join(cache, "venv/bin/python"), "-m", "ziglang", "cc", "-target", target, "-mcpu=" + cpu,
                "-shared", "-fPIC", "-Os", "-g0", "-s", "-fwrapv", "-fno-strict-aliasing", "-DNDEBUG", "-I" + include,
                "-I" + os.path.join(zlib, "include"), "-L" + os.path.join(zlib, "lib"), "-o", so]
               + ["-I" + os.path.join(tree, d) for d in e["include_dirs"]]
               + [os.path.join(tree, x) for x in e["sources"]] + ["-l" + lib for lib in e["libraries"]])
        subprocess.run(cmd, check=True)
        with open(so, "rb") as f:
            built["./usr/lib/python3.11/site-packages/" + "/".join(parts) + ".so"] = f.read()
    return built


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--core-target")
    ap.add_argument("--cpu")
    ap.add_argument("--include")
    ap.add_argument("--zlib")
    ap.add_argument("--control", choices=["conffiles", "arch", "conflicts", "prerm"])
    a = ap.parse_args()
    with open(a.src, "rb") as f:
        outer = read(f.read())
    hit = []
    cores = core_for(a.core_target, a.cpu, a.include, a.zlib) if a.core_target else {}

    def launcher(info, data):
        if cores:
            if info.name in cores:
                hit.append(1)
                return cores[info.name]
            return data
        if info.name == LAUNCHER:
            lines = data.splitlines(keepends=True)
            hit.append(1)
            return lines[0] + MUTATION + b"".join(lines[1:])
        return data

    def control(info, data):
        if info.name == "./control" and a.control in ("arch", "conflicts"):
            lines = data.decode().splitlines(keepends=True)
            if a.control == "arch":
                # the other byte order's MIPS, else a MIPS arch
                arch = next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Architecture:"))
                other = {"mips_24kc": "mipsel_24kc"}.get(arch, "mips_24kc")
                lines = ["Architecture: %s\n" % other if ln.startswith("Architecture:") else ln for ln in lines]
            else:
                lines = [ln for ln in lines if not ln.startswith("Conflicts:")]
            hit.append(1)
            return "".join(lines).encode()
        return data

    def package(info, data):
        if a.control and info.name == "./control.tar.gz":
            members = read(data)
            if a.control in ("conffiles", "prerm"):
                kept = [(m, d) for m, d in members if m.name != "./" + a.control]
                if len(kept) < len(members):
                    hit.append(1)
                members = kept
            return rebuild(members, control)
        if a.control:
            return data
        if info.name == "./data.tar.gz":
            return rebuild(read(data), launcher)
        return data

    blob = rebuild(outer, package)
    if not hit:
        raise SystemExit("mutantipk: nothing to mutate in %s" % a.src)
    with open(a.dst, "wb") as f:
        f.write(blob)


if __name__ == "__main__":
    main()
