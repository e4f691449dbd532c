# Shared by the crossbuild scripts (sourced, not run).
#
# Layout outside the checkout:
#   $CACHE  (OT_XBUILD_CACHE, default /var/cache/opentracker-xbuild): kept between runs
#           venv/ pylib-target/ zig-cache/ src/ sysroot-<target>/ zlib-musl-<target>/ pyinc-*/
#   $OUT    (OT_XBUILD_OUT, default $CACHE/out): this run's products, wiped by check.sh
#           gen/ (generated C) gnu-<target>/site/ musl-<target>/site/ ipk/ logs/ results/

XB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$XB_DIR/.." && pwd)
CACHE=${OT_XBUILD_CACHE:-/var/cache/opentracker-xbuild}
OUT=${OT_XBUILD_OUT:-$CACHE/out}
PYVER=3.11
VENV=$CACHE/venv
export ZIG_GLOBAL_CACHE_DIR=$CACHE/zig-cache ZIG_LOCAL_CACHE_DIR=$CACHE/zig-cache
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
ALL_TARGETS="mips mipsel armhf aarch64"

die() { echo "crossbuild: $*" >&2; exit 1; }
log() { echo "crossbuild: $*" >&2; }

# target_load NAME: set T_NAME T_DEB T_GNU T_ZIG T_CPU T_QEMU T_OWRT T_BITS T_ENDIAN T_MACHINE
# and the derived paths T_SYSROOT (qemu -L prefix), T_PY (target interpreter).
target_load() {
    local row
    row=$(awk -F'\t' -v n="$1" '$1 == n' "$XB_DIR/targets.tsv")
    [ -n "$row" ] || die "unknown target '$1' (known: $ALL_TARGETS)"
    IFS=$'\t' read -r T_NAME T_DEB T_GNU T_ZIG T_CPU T_QEMU T_OWRT T_BITS T_ENDIAN T_MACHINE <<< "$row"
    T_SYSROOT=$CACHE/sysroot-$T_NAME
    T_PY=$T_SYSROOT/usr/bin/python$PYVER
}

# The Debian mirror the host's apt already uses for its own release (never a
# hard-coded host): DEBIAN_MIRROR overrides.
debian_suite() { . /etc/os-release && echo "$VERSION_CODENAME"; }
debian_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local suite m
    suite=$(debian_suite)
    m=$(apt-get indextargets --format '$(SITE) $(RELEASE) $(COMPONENT)' 2>/dev/null |
        awk -v s="$suite" '$2 == s && $3 == "main" {print $1; exit}')
    [ -n "$m" ] || die "no '$suite main' source in the host's apt configuration; set DEBIAN_MIRROR"
    echo "$m"
}

# apt_source_download PKG DIR [SUITE]: Debian source package files into DIR
# with a private apt state per suite (the host's sources and lists stay
# untouched). SUITE defaults to the host's release; musl comes from the next
# one (trixie: 1.2.5, the musl OpenWrt 24.10 ships; bookworm has 1.2.3).
apt_source_download() {
    local pkg=$1 dir=$2 suite=${3:-$(debian_suite)} st
    st=$CACHE/src/aptstate-$suite
    mkdir -p "$st/lists/partial" "$st/archives/partial" "$dir"
    if [ ! -f "$st/sources.list" ]; then
        echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $suite main" \
            > "$st/sources.list.new"
        apt-get -o APT::Sandbox::User=root -o Dir::Etc::SourceList="$st/sources.list.new" -o Dir::Etc::SourceParts=/dev/null \
            -o Dir::State::Lists="$st/lists" -o Dir::Cache::Archives="$st/archives" update -qq
        mv "$st/sources.list.new" "$st/sources.list"
    fi
    (cd "$dir" && apt-get -o APT::Sandbox::User=root -o Dir::Etc::SourceList="$st/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$st/lists" -o Dir::Cache::Archives="$st/archives" \
        source --download-only -qq "$pkg")
}

# step NAME CMD...: run and print its wall time; the output goes to $OUT/logs/NAME.log
# when OT_XBUILD_QUIET=1 (check.sh), and the log's tail is shown on failure.
now() { date +%s.%N; }
step() {
    local name=$1 t0 rc=0 logf
    shift
    t0=$(now)
    if [ "${OT_XBUILD_QUIET:-0}" = 1 ]; then
        mkdir -p "$OUT/logs"
        logf=$OUT/logs/$name.log
        "$@" > "$logf" 2>&1 || rc=$?
        if [ $rc -ne 0 ]; then
            echo "---- last lines of $logf" >&2
            tail -n 40 "$logf" >&2
        fi
    else
        "$@" || rc=$?
    fi
    printf 'STEP %-28s %7.1fs%s\n' "$name" "$(echo "$(now) - $t0" | bc)" "$([ $rc -eq 0 ] || echo "  FAILED ($rc)")"
    return $rc
}

# qrun TARGET ARGS...: the target's Python under qemu-user (glibc sysroot).
qrun() {
    target_load "$1"
    shift
    QEMU_LD_PREFIX=$T_SYSROOT "qemu-$T_QEMU-static" -L "$T_SYSROOT" "$T_PY" "$@"
}

# make_testtree: $OUT/testtree, a copy of the checkout that tests run from
# (they read files such as the sample config from it), so nothing is written
# into the checkout (.hypothesis, caches) while others work in it. No host
# build products come along.
make_testtree() {
    local tt=$OUT/testtree
    [ -d "$tt" ] && return 0
    mkdir -p "$tt"
    tar -C "$REPO" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
        --exclude='*.so' --exclude=__pycache__ --exclude=.hypothesis --exclude=.pytest_cache \
        --exclude='*.egg-info' -cf - . | tar -C "$tt" -xf -
}

# ---------------------------------------------------------------- sources

ZLIB_SRCS="adler32 crc32 deflate infback inffast inflate inftrees trees zutil compress uncompr gzclose gzlib gzread gzwrite"

zlib_source() {
    local d=$CACHE/src/zlib
    if [ ! -f "$d/.ok" ]; then
        rm -rf "$d"
        apt_source_download zlib "$d"
        tar -C "$d" -xf "$d"/zlib_*.orig.tar.*
        mv "$d"/zlib-*/ "$d/tree"
        touch "$d/.ok"
    fi
    ZLIB_TREE=$d/tree
}

# zlib_build DEST CC...: libz.a, libz.so.1 (soname and symbol versions as
# zlib's own configure makes them) and the headers into DEST/{lib,include}.
zlib_build() {
    local dest=$1 obj f
    shift
    zlib_source
    obj=$(mktemp -d)
    for f in $ZLIB_SRCS; do
        "$@" -c -w -O2 -fPIC -D_LARGEFILE64_SOURCE=1 -DHAVE_HIDDEN -I"$ZLIB_TREE" \
            -o "$obj/$f.o" "$ZLIB_TREE/$f.c" &
        # two compiles at a time: the machine has 2 cores shared with others
        [ "$(jobs -rp | wc -l)" -lt 2 ] || wait -n
    done
    wait
    mkdir -p "$dest/lib" "$dest/include"
    "$@" -shared -Wl,-soname,libz.so.1 -Wl,--version-script,"$ZLIB_TREE/zlib.map" ${ZLIB_LDFLAGS:-} \
        -o "$dest/lib/libz.so.1" "$obj"/*.o
    ln -sf libz.so.1 "$dest/lib/libz.so"
    rm -f "$dest/lib/libz.a"
    ar rcs "$dest/lib/libz.a" "$obj"/*.o 2> /dev/null || true
    cp "$ZLIB_TREE/zlib.h" "$ZLIB_TREE/zconf.h" "$dest/include/"
    rm -rf "$obj"
}

# python_source: CPython 3.11 from Debian's source package, unpacked once
# into $CACHE/src/python (the glibc mips build and the musl builds share it).
python_source() {
    local src=$CACHE/src/python
    if [ ! -f "$src/.ok" ]; then
        rm -rf "$src"
        apt_source_download "python$PYVER" "$src"
        tar -C "$src" -xf "$src"/python"$PYVER"_*.orig.tar.*
        touch "$src/.ok"
    fi
}

# vendor_src: the directory of the pinned package-manager sources
# (apk-tools, opkg-lede, libubox; pkgtools.sh). OT_VENDOR_SRC overrides; the
# default is shared/vendor-src beside the checkout, as CI lays it out. Never
# downloaded: without it, say so and fail.
vendor_src() {
    local d=${OT_VENDOR_SRC:-$(dirname "$REPO")/shared/vendor-src}
    if [ ! -f "$d/SHA256SUMS" ]; then
        echo "crossbuild: no vendor sources at $d (expected apk-tools, opkg-lede and libubox tarballs with SHA256SUMS," \
            "the shared/ directory beside the checkout); set OT_VENDOR_SRC. Nothing is downloaded." >&2
        return 1
    fi
    (cd "$d" && pwd)
}
