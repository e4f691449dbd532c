"""Install an .ipk into an emulated OpenWrt root the way opkg does.

    python ipkinstall.py ROOT PACKAGE.ipk [--arch ARCH]

opkg itself is not available here (Debian has no opkg package, and the
OpenWrt SDK is not reachable), so this does opkg's part of `opkg install`
by hand, from the package alone:

- the outer archive (gzip'd tar: debian-binary 2.0, control.tar.gz,
  data.tar.gz) and the control fields;
- Architecture must be ARCH or `all`; every Depends must be installed (the
  root's /usr/lib/opkg/status lists what the emulated userland provides:
  libc, zlib, libpython3, python3-base, python3-light); a package the new one
  Conflicts with, or that conflicts with it or Provides a name it conflicts
  with, refuses the install, as opkg does;
- data.tar.gz unpacked into ROOT (paths checked to stay inside it), except
  that a conffile already present with other contents is kept and the
  package's version is written beside it as FILE-opkg (opkg's rule);
- /usr/lib/opkg/info/PKG.{control,list,conffiles,postinst,prerm} and a
  status entry, as opkg writes them.

The maintainer scripts are not run here: opkg runs postinst with /bin/sh on
the router, so router.sh runs it inside the root (chroot, BusyBox ash).
Prints the package name. Exit 1 with the reason on any refusal.
"""

import argparse
import io
import os
import sys
import tarfile


def fields(text):
    out = {}
    key = None
    for line in text.splitlines():
        if line.startswith((" ", "\t")) and key:
            out[key] += "\n" + line
        elif ":" in line:
            key, _, value = line.partition(":")
            out[key.strip()] = value.strip()
    return out


def names(value):
    """Package names of a Depends/Conflicts/Provides field (versions dropped)."""
    out = []
    for part in (value or "").split(","):
        part = part.strip()
        if part:
            out.append(part.split()[0].split("(")[0])
    return out


def read_status(root):
    path = os.path.join(root, "usr/lib/opkg/status")
    pkgs = {}
    if os.path.exists(path):
        with open(path) as f:
            for block in f.read().split("\n\n"):
                if block.strip():
                    fl = fields(block)
                    pkgs[fl["Package"]] = fl
    return pkgs


def member(tar, name):
    for m in tar.getmembers():
        if m.name in (name, "./" + name):
            return tar.extractfile(m).read()
    sys.exit("ipkinstall: %s missing from the package" % name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("ipk")
    ap.add_argument("--arch", required=True)
    a = ap.parse_args()
    root = os.path.realpath(a.root)

    with tarfile.open(a.ipk, "r:gz") as outer:
        if member(outer, "debian-binary") != b"2.0\n":
            sys.exit("ipkinstall: debian-binary is not 2.0")
        control_tgz = member(outer, "control.tar.gz")
        data_tgz = member(outer, "data.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(control_tgz), mode="r:gz") as ctl:
        control_files = {m.name.lstrip("./"): ctl.extractfile(m).read() for m in ctl.getmembers() if m.isfile()}
    control = fields(control_files["control"].decode())
    pkg = control["Package"]

    if control.get("Architecture") not in (a.arch, "all"):
        sys.exit("ipkinstall: %s is for %s, this root is %s" % (pkg, control.get("Architecture"), a.arch))
    installed = read_status(root)
    provided = set(installed)
    for fl in installed.values():
        provided.update(names(fl.get("Provides")))
    missing = [d for d in names(control.get("Depends")) if d not in provided]
    if missing:
        sys.exit("ipkinstall: %s depends on %s, not installed" % (pkg, ", ".join(missing)))
    mine = {pkg} | set(names(control.get("Provides")))
    for other, fl in installed.items():
        if other == pkg:
            continue
        theirs = {other} | set(names(fl.get("Provides")))
        if set(names(control.get("Conflicts"))) & theirs or set(names(fl.get("Conflicts"))) & mine:
            sys.exit("ipkinstall: %s conflicts with the installed %s" % (pkg, other))

    conffiles = [c.strip() for c in control_files.get("conffiles", b"").decode().splitlines() if c.strip()]
    listed = []
    kept = []
    with tarfile.open(fileobj=io.BytesIO(data_tgz), mode="r:gz") as data:
        for m in data.getmembers():
            rel = os.path.normpath(m.name.lstrip("./")) if m.name not in (".", "./") else ""
            if not rel:
                continue
            dest = os.path.realpath(os.path.join(root, rel))
            if not dest.startswith(root + os.sep):
                sys.exit("ipkinstall: %s leaves the root" % m.name)
            path = "/" + rel
            if m.isdir():
                os.makedirs(dest, exist_ok=True)
                os.chmod(dest, m.mode)
                continue
            content = data.extractfile(m).read() if m.isfile() else None
            if path in conffiles and os.path.exists(dest) and content is not None:
                with open(dest, "rb") as f:
                    if f.read() != content:
                        dest += "-opkg"     # the admin's file stays
                        kept.append(path)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if m.issym():
                if os.path.lexists(dest):
                    os.unlink(dest)
                os.symlink(m.linkname, dest)
            elif m.isfile():
                tmp = dest + ".ipk-new"
                with open(tmp, "wb") as f:
                    f.write(content)
                os.chmod(tmp, m.mode)
                os.chown(tmp, m.uid, m.gid)
                os.replace(tmp, dest)
            else:
                sys.exit("ipkinstall: %s: unsupported member type" % m.name)
            listed.append(path)

    info = os.path.join(root, "usr/lib/opkg/info")
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, pkg + ".list"), "w") as f:
        f.write("".join(p + "\n" for p in listed))
    for name, content in control_files.items():
        if name in ("control", "conffiles", "postinst", "prerm", "preinst", "postrm"):
            target = os.path.join(info, pkg + "." + name)
            with open(target, "wb") as f:
                f.write(content)
            os.chmod(target, 0o755 if name.endswith(("inst", "rm")) else 0o644)
    installed[pkg] = dict(control, Status="install user installed")
    with open(os.path.join(root, "usr/lib/opkg/status"), "w") as f:
        for fl in installed.values():
            for k in ("Package", "Version", "Depends", "Provides", "Conflicts", "Status", "Architecture"):
                if fl.get(k):
                    f.write("%s: %s\n" % (k, fl[k]))
            f.write("\n")
    for path in kept:
        print("ipkinstall: kept the existing %s, the package's is %s-opkg" % (path, path), file=sys.stderr)
    print(pkg)


if __name__ == "__main__":
    main()
