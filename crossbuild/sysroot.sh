#!/usr/bin/env bash
# Target sysroots in $CACHE, each usable as `qemu-<arch>-static -L SYSROOT`:
#   mipsel, armhf, aarch64: Debian's own target packages (python3.11,
#     libpython3.11-dev, zlib1g-dev) unpacked by `mmdebstrap --variant=extract`;
#     the host's dpkg is never touched, no target code runs.
#   mips (big-endian, not a Debian architecture): zlib and a minimal CPython
#     cross-built from Debian's source packages with Debian's mips-linux-gnu gcc,
#     plus that toolchain's glibc runtime.
# Also, per target, the headers the musl build compiles against (pyinc-musl-*)
# and a musl zlib built with zig (zlib-musl-*).
#   crossbuild/sysroot.sh TARGET...
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -gt 0 ] || set -- $ALL_TARGETS

debian_sysroot() {
    local sr=$T_SYSROOT
    [ -f "$sr/.ok" ] && return 0
    rm -rf "$sr"
    mmdebstrap --quiet --variant=extract --arch="$T_DEB" \
        --include="python$PYVER,libpython$PYVER-dev,zlib1g-dev" \
        "$(debian_suite)" "$sr" "$(debian_mirror)"
    [ -x "$T_PY" ] || die "$T_NAME: no $T_PY after mmdebstrap"
    touch "$sr/.ok"
}

# The C original for router.sh's memory anchor: Debian's opentracker binary
# package (glibc, whitelist-only, IPv4) for the target, with its libraries.
# Debian has no big-endian mips, so mips has none.
c_sysroot() {
    local sr=$CACHE/csysroot-$T_NAME
    [ -f "$sr/.ok" ] && return 0
    rm -rf "$sr"
    mmdebstrap --quiet --variant=extract --arch="$T_DEB" --include=opentracker \
        "$(debian_suite)" "$sr" "$(debian_mirror)"
    [ -x "$sr/usr/bin/opentracker" ] || die "$T_NAME: no opentracker after mmdebstrap"
    touch "$sr/.ok"
}

mips_sysroot() {
    local sr=$T_SYSROOT src=$CACHE/src/python b
    [ -f "$sr/.ok" ] && return 0
    rm -rf "$sr"
    mkdir -p "$sr/lib" "$sr/usr"
    # The toolchain's glibc runtime, so that `-L SYSROOT` alone serves qemu.
    cp -a /usr/mips-linux-gnu/lib/. "$sr/lib/"
    zlib_build "$sr/usr" "$T_GNU-gcc"
    python_source
    b=$(echo "$src"/Python-*/)build-mips
    rm -rf "$b"
    mkdir -p "$b"
    # Host headers and libraries must not leak in: no pkg-config, and the
    # optional modules the tests do not need are switched off. zlib is ours.
    (cd "$b" && ../configure --host=mips-linux-gnu --build=x86_64-linux-gnu --prefix=/usr \
        --with-build-python="$(command -v "python$PYVER")" --without-ensurepip --disable-test-modules \
        --with-pkg-config=no \
        ac_cv_file__dev_ptmx=yes ac_cv_file__dev_ptc=no ac_cv_buggy_getaddrinfo=no \
        ac_cv_header_lzma_h=no ac_cv_header_bzlib_h=no ac_cv_header_uuid_h=no \
        ac_cv_header_uuid_uuid_h=no ac_cv_header_ffi_h=no ac_cv_header_sqlite3_h=no \
        ac_cv_header_gdbm_h=no ac_cv_header_readline_readline_h=no ac_cv_header_ncurses_h=no \
        ac_cv_header_curses_h=no ac_cv_lib_readline_readline=no \
        CC="$T_GNU-gcc" CFLAGS=-O2 CPPFLAGS="-I$sr/usr/include" LDFLAGS="-L$sr/usr/lib" \
        > configure.log 2>&1) || { tail -30 "$b/configure.log"; die "mips: CPython configure failed"; }
    make -C "$b" -j2 > "$b/make.log" 2>&1 || { tail -30 "$b/make.log"; die "mips: CPython make failed"; }
    make -C "$b" install DESTDIR="$sr" > "$b/install.log" 2>&1 || { tail -30 "$b/install.log"; die "mips: CPython install failed"; }
    # The stdlib's test suite and bytecode for optimisation levels are not needed.
    rm -rf "$sr/usr/lib/python$PYVER/test" "$sr/usr/lib/python$PYVER/idlelib/idle_test"
    rm -rf "$b"
    touch "$sr/.ok"
}

# Headers for the musl build: the target's real pyconfig.h over Debian's
# multiarch wrapper (which #errors for soft-float MIPS), with time_t made 64-bit
# as it is in musl >= 1.2 on every architecture (Debian's 32-bit glibc says 4).
musl_pyinc() {
    local d=$CACHE/pyinc-musl-$T_NAME/python$PYVER inc=$T_SYSROOT/usr/include
    rm -rf "$d"
    mkdir -p "$d"
    cp -r "$inc/python$PYVER/." "$d/"
    if [ -f "$inc/$T_GNU/python$PYVER/pyconfig.h" ]; then
        cp "$inc/$T_GNU/python$PYVER/pyconfig.h" "$d/pyconfig.h"
    fi
    grep -q '^#define SIZEOF_TIME_T' "$d/pyconfig.h" || die "$T_NAME: no SIZEOF_TIME_T in pyconfig.h"
    sed -i 's/^#define SIZEOF_TIME_T .*/#define SIZEOF_TIME_T 8/' "$d/pyconfig.h"
    grep -q '^#error' "$d/pyconfig.h" && die "$T_NAME: pyconfig.h is still the multiarch wrapper"
    return 0
}

musl_zlib() {
    local d=$CACHE/zlib-musl-$T_NAME
    [ -f "$d/.ok" ] && return 0
    rm -rf "$d"
    # lld (zig) refuses zlib.map's names of symbols it does not build without this
    ZLIB_LDFLAGS=-Wl,--undefined-version zlib_build "$d" "$VENV/bin/python" -m ziglang cc -target "$T_ZIG" -mcpu="$T_CPU" -Os
    touch "$d/.ok"
}

for t in "$@"; do
    target_load "$t"
    if [ "$T_NAME" = mips ]; then mips_sysroot; else debian_sysroot; c_sysroot; fi
    musl_pyinc
    musl_zlib
    log "$T_NAME: sysroot $(du -sh "$T_SYSROOT" | cut -f1), python $(qrun "$t" -c 'import sys, struct, zlib; print(sys.version.split()[0], sys.byteorder, 8 * struct.calcsize("P"))')"
done
