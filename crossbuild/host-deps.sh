#!/usr/bin/env bash
# Host tools for the cross build: Debian's cross compilers, qemu-user, mmdebstrap
# and musl (its export list), then a venv with the Cython that OpenWrt 24.10
# ships and zig (musl cross compiler, from PyPI), and the guests' pure-Python
# pytest and hypothesis.
#   crossbuild/host-deps.sh [TARGET...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
targets=${*:-$ALL_TARGETS}

# Cython 3.1.5 is OpenWrt 24.10's python-cython: generate the C with it, so
# the SDK build and ours compile the same file.
CYTHON_PIN=${OT_XBUILD_CYTHON:-Cython==3.1.5}
ZIG_PIN=${OT_XBUILD_ZIG:-ziglang==0.17.1}

# python3-libtorrent: the end-to-end test's clients (router.sh).
pkgs="qemu-user-static mmdebstrap binutils bc xz-utils busybox shellcheck gcc zlib1g-dev python3-libtorrent"
# pkgtools.sh: apk-tools (meson, libssl), opkg-lede and libubox (cmake, json-c
# for libubox's configure), openssl for the test signing key.
pkgs+=" meson ninja-build pkg-config libssl-dev cmake libjson-c-dev openssl"
for t in $targets; do
    target_load "$t"
    pkgs+=" gcc-$T_GNU"
    case $T_NAME in
        mips) pkgs+=" libc6-dev-mips-cross" ;;
        *) pkgs+=" libc6-dev-$T_DEB-cross" ;;
    esac
done
missing=
for p in $pkgs; do dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=" $p"; done
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
    log "apt-get install $missing"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
fi
# The mips CPython cross build needs a build Python of the same minor version.
command -v "python$PYVER" > /dev/null || { apt-get update -qq && apt-get install -y -qq "python$PYVER"; }

mkdir -p "$CACHE"
stamp=$VENV/.ot-pins
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$CYTHON_PIN $ZIG_PIN" ]; then
    rm -rf "$VENV"
    "python$PYVER" -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-cache-dir "$CYTHON_PIN" setuptools wheel "$ZIG_PIN"
    echo "$CYTHON_PIN $ZIG_PIN" > "$stamp"
fi

# pytest and hypothesis for the guests: pure-Python wheels, installed for the
# target's Python version whatever the host's is.
if [ ! -f "$CACHE/pylib-target/.ok" ]; then
    rm -rf "$CACHE/pylib-target"
    "$VENV/bin/pip" install -q --no-cache-dir --target "$CACHE/pylib-target" --only-binary=:all: \
        --platform any --python-version "$PYVER" --implementation py pytest hypothesis
    touch "$CACHE/pylib-target/.ok"
fi
"$VENV/bin/python" -c 'import Cython, ziglang; print("cython", Cython.__version__)'
