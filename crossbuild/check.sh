#!/usr/bin/env bash
# The cross-build check, from a clean checkout on Debian 12 (root):
#   bash crossbuild/check.sh [TARGET...]      (default: mips mipsel armhf aarch64)
#
# 1. host tools (apt, venv with Cython 3.1.5 and zig), target sysroots and
#    the router's musl userland (muslroot.sh), cached in $OT_XBUILD_CACHE
#    (default /var/cache/opentracker-xbuild);
# 2. the C generated once, compiled per target: glibc (tests) and musl (ships);
# 3. the endianness test proven to catch a byte-order bug (host, mutated build);
# 4. per target: pytest under qemu-user, checks of the shipped .so, the memory
#    budget (100,000 torrents / 500,000 peers), the .ipk assembled and checked
#    (and rebuilt to the same bytes), the .apk made from the same files by
#    apk mkpkg (pkgtools.sh builds apk-tools and opkg from ../shared/vendor-src),
#    then each on its emulated router (router.sh: installed by opkg on a
#    24.10-like root, by apk on a 25.12-like one, started by its init script,
#    network tests, e2e, memory with mallocng beside the C original; then
#    lifecycle.sh: upgrade, reinstall, remove, conflicts, signature), and
#    once a run broken packages proven to fail there (router_mutant,
#    lifecycle_mutants);
# 5. the OpenWrt files' own checks (ash syntax, UCI translation);
# then prints the tables and exits non-zero if anything failed.
# Environment: OT_XBUILD_CACHE, OT_XBUILD_OUT, HYPOTHESIS_PROFILE (default dev),
# OT_XBUILD_TESTS (test files), OT_XBUILD_MEM="TORRENTS PEERS",
# OT_XBUILD_ROUTER (targets for router.sh; default all, "" for none),
# OT_ROUTER_TESTS (network test files run against the emulated router).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
targets=${*:-$ALL_TARGETS}
for t in $targets; do target_load "$t"; done
export OT_XBUILD_QUIET=1
started=$(now)
failures=()
fail() { failures+=("$1"); }

mkdir -p "$CACHE"
step host-deps bash "$XB_DIR/host-deps.sh" $targets
step sysroots bash "$XB_DIR/sysroot.sh" $targets
# apk-tools 3 and opkg-lede from ../shared/vendor-src: apk makes the .apk of
# every target, and both install on the emulated routers.
step pkgtools bash "$XB_DIR/pkgtools.sh" || { tail -5 "$OUT/logs/pkgtools.log" 2> /dev/null; die "package tools failed"; }
# The emulated router (musl userland, .ipk installed, network tests, memory)
# for OT_XBUILD_ROUTER's targets (default: all the run's targets).
router_targets=${OT_XBUILD_ROUTER-$targets}
on_router() { case " $router_targets " in *" $1 "*) return 0 ;; esac; return 1; }
if [ -n "${router_targets// /}" ]; then
    step muslroot bash "$XB_DIR/muslroot.sh" $router_targets || die "musl userland failed"
fi
rm -rf "$OUT"
mkdir -p "$OUT/results" "$OUT/logs" "$OUT/ipk"
step build "$VENV/bin/python" "$XB_DIR/build.py" $targets || { cat "$OUT/logs/build.log"; die "build failed"; }
grep -E '^(cythonize|compile)' "$OUT/logs/build.log" || true

# The endianness test must fail on a core whose big-endian stores and loads
# are native-order (what a forgotten conversion looks like on this x86 host),
# and pass on the real one. Host build of the same generated C.
mutation_check() {
    local m=$OUT/mutant py
    rm -rf "$m"
    mkdir -p "$m/include-bad" "$m/good" "$m/bad"
    py=$VENV/bin/python
    cat > "$m/include-bad/otbytes.h" <<'EOF'
/* Mutant for crossbuild/check.sh: byte order left native (the bug to catch). */
#ifndef OT_BYTES_H
#define OT_BYTES_H
#include <stdint.h>
#include <string.h>
static inline uint16_t ot_load_be16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t ot_load_be32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t ot_load_be64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void ot_store_be16(unsigned char *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void ot_store_be32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void ot_store_be64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
#endif
EOF
    "$py" "$XB_DIR/hostcore.py" "$m/good"
    "$py" "$XB_DIR/hostcore.py" "$m/bad" --include-first "$m/include-bad"
    make_testtree
    # OT_TESTCORE_PREBUILT: the tests' core is hostcore's, built with the
    # same (good or native-order) header as the core beside it.
    (cd "$OUT/testtree" && PYTHONPATH="$CACHE/pylib-target:$m/good" PYTHONDONTWRITEBYTECODE=1 OT_TESTCORE_PREBUILT=1 "$py" -m pytest -q -p no:cacheprovider \
        tests/test_endianness.py > "$m/good.txt" 2>&1) || { cat "$m/good.txt"; echo "endianness test fails on the real core (host)"; return 1; }
    if (cd "$OUT/testtree" && PYTHONPATH="$CACHE/pylib-target:$m/bad" PYTHONDONTWRITEBYTECODE=1 OT_TESTCORE_PREBUILT=1 \
        "$py" -m pytest -q -p no:cacheprovider tests/test_endianness.py > "$m/bad.txt" 2>&1); then
        cat "$m/bad.txt"
        echo "endianness test PASSES on a core with native byte order: it catches nothing"
        return 1
    fi
    echo "real core: $(tail -1 "$m/good.txt")"
    echo "native-order mutant: $(tail -1 "$m/bad.txt")"
}

# The package must fail on the emulated router when it is broken in a way
# only the router's userland shows: a launcher importing a module that
# python3-light lacks (Debian's full Python has it, so the glibc tests pass).
router_mutant() {
    local t=$1 ipk mut
    target_load "$t"
    ipk=$(ls "$OUT"/ipk/*_"$T_OWRT".ipk)
    mkdir -p "$OUT/mutant-ipk"
    mut=$OUT/mutant-ipk/$(basename "$ipk")
    "$VENV/bin/python" "$XB_DIR/mutantipk.py" "$ipk" "$mut"
    if bash "$XB_DIR/router.sh" "$t" --format ipk --pkg "$mut" --smoke-only --no-c --name "$t-mutant"; then
        echo "router.sh PASSES a package whose launcher imports logging (not in python3-light): it catches nothing"
        return 1
    fi
    grep -q "No module named 'logging'" "$OUT/router-$t-mutant/ours.stderr" \
        || { echo "the mutant failed, but not for its missing module"; return 1; }
    echo "mutant (launcher imports logging): refused on the emulated router: No module named 'logging'"
    # Second mutant: the same package with the core built for the other
    # float ABI (hard-float on soft-float MIPS, soft-float on armhf).
    local other
    case $T_NAME in
        mips|mipsel) other=${T_ZIG}hf ;;
        armhf) other=${T_ZIG%hf} ;;
        *) return 0 ;;
    esac
    "$VENV/bin/python" "$XB_DIR/mutantipk.py" "$ipk" "$mut" --core-target "$other" --cpu "$T_CPU" \
        --include "$CACHE/pyinc-musl-$T_NAME/python$PYVER" --zlib "$CACHE/zlib-musl-$T_NAME"
    if bash "$XB_DIR/router.sh" "$t" --format ipk --pkg "$mut" --smoke-only --no-c --name "$t-mutant-fp" > "$OUT/results/$t-mutant-fp.out" 2>&1; then
        cat "$OUT/results/$t-mutant-fp.out"
        echo "router.sh PASSES a package whose .so is built for $other: it catches nothing"
        return 1
    fi
    grep -q "float ABI" "$OUT/results/$t-mutant-fp.out" \
        || { cat "$OUT/results/$t-mutant-fp.out"; echo "the float-ABI mutant failed, but not for its float ABI"; return 1; }
    echo "mutant (.so built for $other): refused on the emulated router: $(grep -o 'float ABI.*' "$OUT/results/$t-mutant-fp.out" | head -1)"
}

# Each life-cycle step must catch a package broken for it: FORMAT:MUTANT:STEP
# (mutantipk.py --control for the .ipk, mkapk.sh --mutant for the .apk).
LIFECYCLE_MUTANTS="ipk:conffiles:upgrade ipk:arch:install ipk:conflicts:conflicts ipk:prerm:remove
    apk:conffiles:install apk:arch:install apk:provides:conflicts apk:prerm:remove apk:restart:upgrade
    apk:unsigned:install"
lifecycle_mutants() {
    local t=$1 spec fmt kind want out
    for spec in $LIFECYCLE_MUTANTS; do
        IFS=: read -r fmt kind want <<< "$spec"
        out=$OUT/results/$t-$fmt-mutant-$kind.out
        if bash "$XB_DIR/lifecycle.sh" "$t" "$fmt" --mutant "$kind" > "$out" 2>&1; then
            cat "$out"
            echo "lifecycle.sh PASSES the $fmt package broken by '$kind': it catches nothing"
            return 1
        fi
        grep -q "^lifecycle $fmt $want: FAILED" "$out" \
            || { tail -8 "$out"; echo "the $fmt mutant '$kind' failed, but not at its step ($want)"; return 1; }
        echo "mutant $fmt/$kind: caught at $want: $(sed -n "s/^lifecycle $fmt $want: FAILED: //p" "$out" | head -1)"
    done
}

for t in $targets; do
    step "tests-$t" bash "$XB_DIR/test-qemu.sh" "$t" || fail "tests-$t"
    if [ "$t" = "${targets%% *}" ]; then
        step endianness-mutant mutation_check || fail endianness-mutant
        cat "$OUT/logs/endianness-mutant.log" | grep -E '^(real core|native-order)' || true
    fi
    step "so-$t" "$VENV/bin/python" "$XB_DIR/check_so.py" "$t" || fail "so-$t"
    # shellcheck disable=SC2086
    step "memory-$t" "$VENV/bin/python" "$XB_DIR/memory.py" "$t" \
        --torrents "$(echo ${OT_XBUILD_MEM:-100000 500000} | cut -d' ' -f1)" \
        --peers "$(echo ${OT_XBUILD_MEM:-100000 500000} | cut -d' ' -f2)" || fail "memory-$t"
    grep -E "^$t: " "$OUT/logs/memory-$t.log" || true
    if step "ipk-$t" bash "$XB_DIR/mkipk.sh" "$t"; then
        ipk=$(ls "$OUT"/ipk/*_"$(target_load "$t"; echo "$T_OWRT")".ipk)
        sum=$(sha256sum < "$ipk")
        OT_XBUILD_QUIET=0 bash "$XB_DIR/mkipk.sh" "$t" > /dev/null
        [ "$sum" = "$(sha256sum < "$ipk")" ] || { echo "ipk-$t: rebuild gave other bytes"; fail "ipk-$t-reproducible"; }
        if step "apk-$t" bash "$XB_DIR/mkapk.sh" "$t"; then
            tail -1 "$OUT/logs/apk-$t.log"
        else
            fail "apk-$t"
        fi
        if on_router "$t"; then
            for fmt in ipk apk; do
                [ -f "$OUT/results/$t.$fmt" ] || continue
                # The C original's figures do not depend on the format: measured once.
                step "router-$t-$fmt" bash "$XB_DIR/router.sh" "$t" --format "$fmt" $([ $fmt = apk ] && echo --no-c) \
                    || fail "router-$t-$fmt"
                grep -E '^(tool|so_imported|ours_|c_|py_base|net_|router_budget)' "$OUT/logs/router-$t-$fmt.log" || true
                step "lifecycle-$t-$fmt" bash "$XB_DIR/lifecycle.sh" "$t" "$fmt" || fail "lifecycle-$t-$fmt"
                grep -E '^lifecycle' "$OUT/logs/lifecycle-$t-$fmt.log" || true
            done
        fi
        if on_router "$t" && [ "$t" = "${router_targets%% *}" ]; then
            step router-mutant router_mutant "$t" || fail router-mutant
            grep -E '^mutant' "$OUT/logs/router-mutant.log" || true
            step lifecycle-mutants lifecycle_mutants "$t" || fail lifecycle-mutants
            grep -E '^mutant' "$OUT/logs/lifecycle-mutants.log" || true
        fi
    else
        fail "ipk-$t"
    fi
done
OT_CONF_PYTHON=$VENV/bin/python OT_CONF_PYTHONPATH=$OUT/mutant/good \
    step openwrt-files bash "$XB_DIR/openwrt/test/run.sh" || fail openwrt-files

# ---------------------------------------------------------------- the table
val() { sed -n "s/^$2=//p" "$OUT/results/$1.$3" 2> /dev/null | head -1; }
mib() { [ -n "$1" ] && echo "scale=1; $1 / 1048576" | bc || echo "-"; }
table=$OUT/results/table.md
{
    echo "| target | tests (qemu) | shipped .so (musl, stripped) | xz | .so checks | ipk | apk | core MiB | B/peer | B/torrent | RSS base | RSS full | RSS peak | budget |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for t in $targets; do
        printf '| %s | %s passed, %s failed (%ss) | %s B | %s B | %s | %s B %s | %s B %s | %s | %s | %s | %s MiB | %s MiB | %s MiB | %s |\n' \
            "$t" "$(val "$t" tests_passed tests)" "$(val "$t" tests_failed tests)" "$(val "$t" tests_seconds tests)" \
            "$(val "$t" so_bytes so)" "$(val "$t" so_xz_bytes so)" "$(val "$t" so_check so)" \
            "$(val "$t" ipk_bytes ipk)" "$(val "$t" ipk_check ipk)" \
            "$(val "$t" apk_bytes apk)" "$(val "$t" apk_version apk), $(val "$t" apk_check apk)" \
            "$(mib "$(val "$t" core_bytes mem)")" "$(val "$t" bytes_per_peer mem)" "$(val "$t" bytes_per_torrent mem)" \
            "$(mib "$(val "$t" base_rss mem)")" "$(mib "$(val "$t" full_rss mem)")" "$(mib "$(val "$t" peak_rss mem)")" \
            "$(val "$t" mem_budget mem)"
    done
    echo
    echo "On the emulated router (musl 1.2.5 + mallocng, CPython 3.11 python3-light; the package installed by the router's own tool and started by its init script; RSS = guest only, qemu excluded):"
    echo
    echo "| target | package | installed by | life cycle | network tests (qemu, e2e incl.) | package's .so imported | ours RSS base / full / peak | C original base / full / peak | B/peer (RSS) | B/peer (core) | python3-light base | budget | two loops (option workers '2'): RSS base / full / peak, network tests |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for t in $router_targets; do
      for fmt in ipk apk; do
        r=router
        tf=$t-$fmt
        peers=$(val "$tf" ours_peers $r)
        if [ -n "$(val "$tf" c_full_rss $r)" ]; then
            cc="$(mib "$(val "$tf" c_base_rss $r)") / $(mib "$(val "$tf" c_full_rss $r)") / $(mib "$(val "$tf" c_peak_rss $r)") MiB"
        elif [ $fmt = apk ] && [ -n "$(val "$t-ipk" c_full_rss $r)" ]; then
            cc="(the .ipk row's)"
        else
            cc="none (no Debian $t)"
        fi
        lc=$(grep -c ': ok' "$OUT/results/$tf.lifecycle" 2> /dev/null || true)
        printf '| %s | .%s | %s | %s | %s passed, %s failed (%s, %ss) | %s | %s / %s / %s MiB | %s | %s | %s | %s MiB | %s | %s / %s / %s MiB, %s passed, %s failed |\n' "$t" "$fmt" \
            "$(val "$tf" tool $r)" "${lc:-0} steps ok" \
            "$(val "$tf" net_passed $r)" "$(val "$tf" net_failed $r)" "e2e $(val "$tf" net_e2e $r)" "$(val "$tf" net_seconds $r)" \
            "$(val "$tf" so_imported $r)" \
            "$(mib "$(val "$tf" ours_base_rss $r)")" "$(mib "$(val "$tf" ours_full_rss $r)")" "$(mib "$(val "$tf" ours_peak_rss $r)")" \
            "$cc" \
            "$( [ -n "$peers" ] && [ "$peers" -gt 0 ] && echo "scale=1; ($(val "$tf" ours_full_rss $r) - $(val "$tf" ours_base_rss $r)) / $peers" | bc || echo -)" \
            "$( [ -n "$peers" ] && [ "$peers" -gt 0 ] && echo "scale=1; $(val "$tf" core_peer_bytes $r) / $peers" | bc || echo -)" \
            "$(mib "$(val "$tf" py_base_rss $r)")" "$(val "$tf" router_budget $r)" \
            "$(mib "$(val "$tf" w2_base_rss $r)")" "$(mib "$(val "$tf" w2_full_rss $r)")" "$(mib "$(val "$tf" w2_peak_rss $r)")" \
            "$(val "$tf" w2_net_passed $r)" "$(val "$tf" w2_net_failed $r)"
      done
    done
} > "$table"
echo
cat "$table"
echo
printf 'crossbuild: %s in %.0fs; artifacts in %s (ipk/, results/, logs/)\n' "$targets" "$(echo "$(now) - $started" | bc)" "$OUT"
if [ ${#failures[@]} -gt 0 ]; then
    echo "crossbuild: FAILED: ${failures[*]}"
    exit 1
fi
echo "crossbuild: all checks passed"
