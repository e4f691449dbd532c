"""A deliberately broken copy of the .ipk, to prove that router.sh bites.

    python mutantipk.py IN.ipk OUT.ipk

The mutant's launcher imports `logging`, which OpenWrt ships in
python3-logging, not in python3-light (the package's only Python
dependency). Debian's full Python has it, so the glibc tests would pass;
only a run on python3-light's module set, as the router has it, fails. The
rest of the package is the real one, byte for byte.
"""

import gzip
import io
import sys
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


def main():
    src, dst = sys.argv[1:]
    with open(src, "rb") as f:
        outer = read(f.read())
    hit = []

    def launcher(info, data):
        if info.name == LAUNCHER:
            lines = data.splitlines(keepends=True)
            hit.append(1)
            return lines[0] + MUTATION + b"".join(lines[1:])
        return data

    def package(info, data):
        if info.name == "./data.tar.gz":
            return rebuild(read(data), launcher)
        return data

    blob = rebuild(outer, package)
    if not hit:
        sys.exit("mutantipk: no %s in %s" % (LAUNCHER, src))
    with open(dst, "wb") as f:
        f.write(blob)


if __name__ == "__main__":
    main()
