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

# apt_source_download PKG DIR: Debian source package files into DIR with a
# private apt state (the host's sources and lists stay untouched).
apt_source_download() {
    local pkg=$1 dir=$2 st=$CACHE/src/aptstate
    mkdir -p "$st/lists/partial" "$st/archives/partial" "$dir"
    if [ ! -f "$st/sources.list" ]; then
        echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $(debian_suite) main" \
            > "$st/sources.list"
        apt-get -o APT::Sandbox::User=root -o Dir::Etc::SourceList="$st/sources.list" -o Dir::Etc::SourceParts=/dev/null \
            -o Dir::State::Lists="$st/lists" -o Dir::Cache::Archives="$st/archives" update -qq
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
