#!/usr/bin/env bash
# The router's userland per target, built here from source packages, so that
# the shipped .ipk runs on what OpenWrt 24.10 runs (musl, its mallocng
# allocator, python3-light) and not on Debian's glibc and full Python:
#
#   musl 1.2.5  Debian trixie's source package (OpenWrt 24.10 ships 1.2.5;
#               bookworm has 1.2.3): /lib/libc.so and the dynamic loader under
#               the name OpenWrt's binaries ask for (/lib/ld-musl-mips-sf.so.1 ...)
#   zlib        Debian's source package: /usr/lib/libz.so.1
#   CPython     Debian bookworm's 3.11 source package, configured as OpenWrt's
#               lang/python/python3 does (--enable-shared, no test modules, no
#               ensurepip, IPv6), pruned to python3-base + python3-light
#               (python3-light.txt), stdlib as legacy .pyc only (no .py), as the
#               OpenWrt packages install it.
#
# Compiler: zig's clang and lld (the venv's ziglang) with this musl's own
# headers, crt files and libc.so, never zig's bundled libc; zig's compiler_rt
# stands in for libgcc (soft-float arithmetic and 64-bit division on 32-bit
# targets). Nothing of the host's headers or libraries leaks in (-nostdinc,
# -nostdlib).
#
# Result (cached, rebuilt only when missing):
#   $CACHE/muslroot-<t>/root     the router's files; `qemu-<arch>-static -L root`
#   $CACHE/muslroot-<t>/stage    headers and link files (musl, zlib, Python)
#   $CACHE/muslroot-<t>/tc/cc    the compiler wrapper
#   crossbuild/muslroot.sh TARGET...
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -gt 0 ] || set -- $ALL_TARGETS

MUSL_SUITE=${OT_XBUILD_MUSL_SUITE:-trixie}
ZIGDIR=$("$VENV/bin/python" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')
ZIG=$ZIGDIR/zig
# Debian's own python3.11 when there is one (a pyenv shim works, slowly).
BUILD_PY=$( [ -x /usr/bin/python$PYVER ] && echo /usr/bin/python$PYVER || command -v "python$PYVER")

musl_source() {
    local d=$CACHE/src/musl
    if [ ! -f "$d/.ok" ]; then
        rm -rf "$d"
        apt_source_download musl "$d" "$MUSL_SUITE"
        tar -C "$d" -xf "$(ls "$d"/musl_*.orig.tar.* | grep -v '\.asc$' | head -1)"
        mv "$d"/musl-*/ "$d/tree"
        touch "$d/.ok"
    fi
    MUSL_TREE=$d/tree
}

# The GNU-style host name configure scripts want for this target.
musl_host() {
    case $T_NAME in
        mips) echo mips-linux-musl ;;
        mipsel) echo mipsel-linux-musl ;;
        armhf) echo arm-linux-musleabihf ;;
        aarch64) echo aarch64-linux-musl ;;
        *) die "no musl host name for $T_NAME" ;;
    esac
}

write_wrappers() {
    local d=$1 loader=$2
    # zcc: bare zig clang for the target, used to build musl itself.
    cat > "$d/tc/zcc" <<EOF
#!/bin/sh
exec "$ZIG" cc -target $T_ZIG -mcpu=$T_CPU "\$@"
EOF
    # cc: against this musl. -lc/-lm/-lpthread/... are dropped because zig
    # would take them as a request for its own libc; musl has them all in
    # libc.so, which is always linked.
    cat > "$d/tc/cc" <<EOF
#!/bin/bash
S=$d/stage
link=1 shared=0 args=()
for a in "\$@"; do
    case "\$a" in -c|-E|-S|-M|-MM) link=0 ;; -shared) shared=1 ;; esac
    case "\$a" in -lc|-lm|-lpthread|-ldl|-lrt|-lutil|-lcrypt|-lresolv|-lxnet) continue ;; esac
    # zig's linker driver knows -soname, not its short form -h.
    case "\$a" in -Wl,-h*) a=-Wl,-soname,\${a#-Wl,-h} ;; esac
    args+=("\$a")
done
pre=(-target $T_ZIG -mcpu=$T_CPU -nostdinc -isystem \$S/usr/include -idirafter $ZIGDIR/lib/include)
[ \$link = 0 ] && exec "$ZIG" cc "\${pre[@]}" "\${args[@]}"
if [ \$shared = 1 ]; then
    exec "$ZIG" cc "\${pre[@]}" -nostdlib -Wl,--gc-sections \$S/lib/crti.o "\${args[@]}" \$S/lib/libc.so $d/tc/libcompiler_rt.a \$S/lib/crtn.o
fi
exec "$ZIG" cc "\${pre[@]}" -nostdlib -Wl,--gc-sections -Wl,-dynamic-linker,/lib/$loader \$S/lib/crt1.o \$S/lib/crti.o \\
    "\${args[@]}" \$S/lib/libc.so $d/tc/libcompiler_rt.a \$S/lib/crtn.o
EOF
    chmod +x "$d/tc/zcc" "$d/tc/cc"
}

build_musl() {
    local d=$1 b=$1/build-musl loader
    musl_source
    # zig's compiler_rt also defines memcpy, memset, memmove, memcmp, bcmp,
    # strlen and the stack-protector functions, weak and hidden: linked into
    # libc.so, ELF's visibility rule would hide musl's own (the library
    # would export no memset). Those are libc's job; a copy of compiler_rt's
    # source without them is built instead.
    rm -rf "$d/tc/crt"
    mkdir -p "$d/tc/crt"
    cp -r "$ZIGDIR/lib/compiler_rt" "$ZIGDIR/lib/compiler_rt.zig" "$d/tc/crt/"
    sed -i -e '/_ = @import("compiler_rt\/memcpy.zig");/d' -e '/symbol(&memset, "memset");/d' \
        -e '/_ = @import("compiler_rt\/memmove.zig");/d' -e '/symbol(&memcmp, "memcmp");/d' \
        -e '/symbol(&bcmp, "bcmp");/d' -e '/_ = @import("compiler_rt\/ssp.zig");/d' \
        -e '/symbol(&strlen, "strlen");/d' "$d/tc/crt/compiler_rt.zig"
    # One object file holds all of compiler_rt: with a section a function
    # and --gc-sections at link time, a module keeps only what it calls (as
    # libgcc.a's one-function objects give on OpenWrt), not 400 KB each.
    (cd "$d/tc" && "$ZIG" build-lib -target "$T_ZIG" -mcpu "$T_CPU" -O ReleaseSmall -fPIC \
        -ffunction-sections -fdata-sections --name compiler_rt "$d/tc/crt/compiler_rt.zig")
    if nm "$d/tc/libcompiler_rt.a" 2> /dev/null | grep -E ' [TW] (memcpy|memset|strlen|__stack_chk_fail)$' > /dev/null; then
        die "$T_NAME: compiler_rt still defines libc functions"
    fi
    write_wrappers "$d" "ld-musl-unknown.so.1"
    rm -rf "$b"
    cp -r "$MUSL_TREE" "$b"
    (cd "$b" && ./configure --target="$(musl_host)" --prefix=/usr --libdir=/lib --syslibdir=/lib \
        CC="$d/tc/zcc" AR="$ZIG ar" RANLIB="$ZIG ranlib" LIBCC="$d/tc/libcompiler_rt.a" > configure.log 2>&1) \
        || { tail -20 "$b/configure.log"; die "$T_NAME: musl configure failed"; }
    make -C "$b" -j2 > "$b/make.log" 2>&1 || { tail -30 "$b/make.log"; die "$T_NAME: musl make failed"; }
    make -C "$b" install DESTDIR="$d/stage" > "$b/install.log" 2>&1 || die "$T_NAME: musl install failed"
    # musl's install points the loader at /lib/libc.so by an absolute link,
    # which qemu -L would resolve on the host: make it relative.
    loader=$(cd "$d/stage/lib" && ls ld-musl-*.so.1)
    ln -sfn libc.so "$d/stage/lib/$loader"
    # What every other module imports from libc.so must be exported by it.
    local f
    for f in memcpy memset memmove memcmp strlen malloc free __stack_chk_fail; do
        readelf --dyn-syms -W "$d/stage/lib/libc.so" | grep -E '(GLOBAL|WEAK) +DEFAULT' | grep -vw UND \
            | awk '{print $NF}' | grep -x "$f" > /dev/null \
            || die "$T_NAME: musl libc.so does not export $f"
    done
    rm -rf "$b"
    write_wrappers "$d" "$loader"
    echo "$loader" > "$d/loader"
}

build_python() {
    local d=$1 b=$1/build-python src full=$1/full
    python_source
    src=$(echo "$CACHE"/src/python/Python-*/)
    rm -rf "$b" "$full"
    mkdir -p "$b"
    # OpenWrt's configure line (lang/python/python3/Makefile, 24.10) less what
    # cannot apply here: --enable-optimizations (PGO needs the target to run
    # the profile; OpenWrt's patch skips it when cross-compiling too),
    # --with-lto (not on MIPS there either), --with-system-ffi (no libffi:
    # _ctypes is python3-ctypes, not python3-light). Modules whose libraries
    # are absent (bz2, lzma, sqlite, ssl, readline, curses, uuid, gdbm) are
    # not built; of python3-light's, only _bz2 is missing. zig's clang makes
    # __DATE__ an error (-Wdate-time); getbuildinfo.c uses it.
    (cd "$b" && "$src/configure" --host="$(musl_host)" --build=x86_64-linux-gnu --prefix=/usr \
        --enable-shared --enable-ipv6 --disable-test-modules --without-ensurepip --without-cxx-main \
        --with-build-python="$BUILD_PY" --with-pkg-config=no \
        ac_cv_file__dev_ptmx=yes ac_cv_file__dev_ptc=no ac_cv_buggy_getaddrinfo=no \
        py_cv_module__tkinter=n/a py_cv_module_nis=n/a py_cv_module__ctypes=n/a \
        CC="$d/tc/cc" AR="$ZIG ar" RANLIB="$ZIG ranlib" READELF="$T_GNU-readelf" \
        CFLAGS="-Os -g0 -Wno-date-time" LDFLAGS="-L$d/stage/usr/lib" > configure.log 2>&1) || { tail -30 "$b/configure.log"; die "$T_NAME: CPython configure failed"; }
    make -C "$b" -j2 > "$b/make.log" 2>&1 || { tail -40 "$b/make.log"; die "$T_NAME: CPython make failed"; }
    # The install's own compileall (three optimisation levels, __pycache__
    # layout) is replaced by OpenWrt's: one legacy .pyc beside each module.
    sed -i 's|\$(DESTDIR)\$(LIBDEST)/compileall.py|-c pass|' "$b/Makefile"
    make -C "$b" install DESTDIR="$full" > "$b/install.log" 2>&1 || { tail -30 "$b/install.log"; die "$T_NAME: CPython install failed"; }
    grep -E '^(Following modules|Failed to build|The necessary bits)' -A3 "$b/make.log" > "$d/python-modules.txt" || true
    # python3-light's C modules that this build must have (the tracker's
    # imports and what python3-light installs; _bz2 is the known gap).
    local m
    for m in zlib _socket select _struct binascii math _posixsubprocess fcntl grp _random _sha256 array; do
        ls "$full/usr/lib/python$PYVER/lib-dynload/$m".*so > /dev/null 2>&1 \
            || grep -q "^$m " "$src/Modules/Setup.bootstrap.in" \
            || die "$T_NAME: CPython built without $m"
    done
    rm -rf "$b"
}

# light_prune LIBDIR: delete what python3-base + python3-light do not install.
light_prune() {
    local lib=$1 pkg paths p f
    while read -r pkg paths; do
        paths=${paths%%#*}
        for p in $paths; do
            case $p in
                lib-dynload/*) rm -f "$lib/$p".*so ;;
                \*/*) find "$lib" -mindepth 2 -type d -name "${p#*/}" -prune -exec rm -rf {} + ;;
                *) rm -rf "${lib:?}/$p" ;;
            esac
        done
    done < <(grep -vE '^\s*(#|$)' "$XB_DIR/python3-light.txt")
    find "$lib" -name __pycache__ -prune -exec rm -rf {} +
    # config-3.11*/ (libpython3.11.a, Makefile) is python3-dev's.
    rm -rf "$lib"/config-"$PYVER"* "$lib/site-packages"/*
    # python3-base/-light ship bytecode only (Python3/CompileAll, then the
    # sources go to the -src packages).
    PYTHONHASHSEED=0 "$BUILD_PY" -m compileall -q -b -j2 -d "/usr/lib/python$PYVER" "$lib" > /dev/null || true
    find "$lib" -name '*.py' -delete
    for f in "$lib"/*.pyc; do [ -f "$f" ] || die "$T_NAME: no bytecode in $lib"; break; done
}

make_root() {
    local d=$1 r=$1/root loader
    loader=$(cat "$d/loader")
    rm -rf "$r"
    mkdir -p "$r/lib" "$r/usr/lib" "$r/usr/bin" "$r/etc" "$r/var" "$r/usr/lib/opkg"
    # libc (musl): the library and the loader's name for it.
    cp -a "$d/stage/lib/libc.so" "$r/lib/"
    ln -s libc.so "$r/lib/$loader"
    # zlib, libpython3, python3-base (interpreter), python3-light (stdlib).
    cp -a "$d/stage/usr/lib/libz.so.1" "$r/usr/lib/"
    cp -a "$d/full/usr/lib/libpython$PYVER.so"* "$r/usr/lib/"
    cp -a "$d/full/usr/bin/python$PYVER" "$r/usr/bin/"
    ln -s "python$PYVER" "$r/usr/bin/python3"
    ln -s "python$PYVER" "$r/usr/bin/python"
    cp -a "$d/full/usr/lib/python$PYVER" "$r/usr/lib/"
    light_prune "$r/usr/lib/python$PYVER"
    find "$r" -type f \( -name '*.so*' -o -path '*/bin/*' \) -exec "$T_GNU-strip" --strip-unneeded {} + 2> /dev/null
    # base-files' accounts (OpenWrt: root, daemon, ftp, network, nobody).
    printf '%s\n' 'root:x:0:0:root:/root:/bin/ash' 'daemon:*:1:1:daemon:/var:/bin/false' \
        'ftp:*:55:55:ftp:/home/ftp:/bin/false' 'network:*:101:101:network:/var:/bin/false' \
        'nobody:*:65534:65534:nobody:/var:/bin/false' > "$r/etc/passwd"
    printf '%s\n' 'root:x:0:' 'daemon:x:1:' 'adm:x:4:' 'mail:x:8:' 'dialout:x:20:' 'audio:x:29:' \
        'www-data:x:33:' 'ftp:x:55:' 'users:x:100:' 'network:x:101:' 'nogroup:x:65534:' > "$r/etc/group"
    # opkg's record of what this image holds (what the .ipk's Depends name).
    local p
    for p in "libc:1.2.5" "zlib:1.2.13" "libpython3:3.11.2" "python3-base:3.11.2" "python3-light:3.11.2"; do
        printf 'Package: %s\nVersion: %s\nStatus: install ok installed\nArchitecture: %s\n\n' \
            "${p%%:*}" "${p#*:}" "$T_OWRT" >> "$r/usr/lib/opkg/status"
    done
    # Headers for building against this Python (pyconfig.h is the musl one).
    rm -rf "$d/stage/usr/include/python$PYVER"
    cp -a "$d/full/usr/include/python$PYVER" "$d/stage/usr/include/"
    rm -rf "$d/full"
}

for t in "$@"; do
    target_load "$t"
    d=$CACHE/muslroot-$T_NAME
    if [ ! -f "$d/.ok" ]; then
        t0=$(now)
        # One stamp a stage, so that an interrupted build resumes.
        if [ ! -f "$d/.musl-ok" ]; then
            rm -rf "$d"
            mkdir -p "$d/tc" "$d/stage"
            build_musl "$d"
            touch "$d/.musl-ok"
        fi
        if [ ! -f "$d/.zlib-ok" ]; then
            # zlib into the stage (headers for CPython's zlib module); lld
            # refuses zlib.map's names of symbols it does not build without
            # --undefined-version.
            ZLIB_LDFLAGS=-Wl,--undefined-version zlib_build "$d/stage/usr" "$d/tc/cc" -Os -g0
            touch "$d/.zlib-ok"
        fi
        if [ ! -f "$d/.python-ok" ]; then
            build_python "$d"
            touch "$d/.python-ok"
        fi
        make_root "$d"
        touch "$d/.ok"
        log "$T_NAME: musl userland built in $(printf '%.0f' "$(echo "$(now) - $t0" | bc)")s"
    fi
    r=$d/root
    log "$T_NAME: musl root $(du -sh "$r" | cut -f1), loader /lib/$(cat "$d/loader"), python: $(
        QEMU_LD_PREFIX=$r "qemu-$T_QEMU-static" -L "$r" "$r/usr/bin/python$PYVER" -c \
            'import sys, struct, zlib, socket, select; print(sys.version.split()[0], sys.byteorder, 8 * struct.calcsize("P"), "zlib", zlib.ZLIB_VERSION)')"
done
