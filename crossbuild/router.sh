#!/usr/bin/env bash
# The shipped package on an emulated router (issue 14), installed by the
# router's own package manager (issue 24): the .ipk by opkg on a 24.10-like
# root, the .apk by apk on a 25.12-like root; started as OpenWrt starts it,
# then the project's network tests and the memory figures against it from
# the host over loopback.
#   crossbuild/router.sh TARGET [--format ipk|apk] [--pkg FILE] [--smoke-only] [--no-c] [--name NAME]
# (--no-c: leave out the C original's figures, which do not depend on the
# package format; check.sh measures them on the .ipk's run only.)
#
# 1. routerpkg.sh's router_root: a fresh copy of $CACHE/muslroot-TARGET/root
#    (the "image") with BusyBox (Debian's, x86-64: the scripts are shell,
#    run natively in a chroot of the root), stand-ins for /lib/functions.sh
#    and /etc/rc.common with procd's shell API (openwrt/standin/: procd is
#    not here, so the stand-in records the instance the init script asks
#    for), and the package database of the format's tool (opkg's status and
#    /etc/opkg.conf; apk's /lib/apk/db, /etc/apk/keys with the run's key).
# 2. The tool installs the package (`opkg install` in the root, `apk --root
#    ROOT add`) and runs its scripts as on a live router: the account from
#    Require-User / .rusers, the init script enabled and started. The admin
#    then sets loopback listen addresses in /etc/config/opentracker (as `uci
#    set` would) and restarts the service: the init script runs the UCI
#    translator and asks procd for the instance: the record.
# 3. routerrun.py starts the recorded command from the installed files under
#    qemu-<arch>-static -L ROOT (launcher, musl CPython, musl .so): the .so
#    must be the one mapped; then memory (loadgen over UDP), python3-light's
#    base, and the C original from the Debian sysroot where there is one.
# 4. The network tests (tests/helpers/trackerproc.py's OT_EMULATOR* variables):
#    conformance HTTP/UDP, dual stack, bad input, SIGHUP whitelist reload,
#    SIGTERM writing the state file, libtorrent end to end.
# The life cycle (upgrade, reinstall, remove, conflicts) is lifecycle.sh's.
# Results: $OUT/results/NAME.router (key=value; NAME defaults to
# TARGET-FORMAT), logs in $OUT/router-NAME/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] || die "usage: router.sh TARGET [--format ipk|apk] [--pkg FILE] [--smoke-only] [--name NAME]"
target_load "$1"
shift
pkgfile= smoke=0 name= fmt=ipk noc=0
while [ $# -gt 0 ]; do
    case $1 in
        --format) fmt=$2; shift ;;
        --pkg|--ipk) pkgfile=$2; shift ;;
        --smoke-only) smoke=1 ;;
        --no-c) noc=1 ;;
        --name) name=$2; shift ;;
        *) die "router.sh: unknown option $1" ;;
    esac
    shift
done
. "$XB_DIR/routerpkg.sh"
name=${name:-$T_NAME-$fmt}
case $fmt in
    ipk) [ -n "$pkgfile" ] || pkgfile=$(ls "$OUT"/ipk/*_"$T_OWRT".ipk) ;;
    apk) [ -n "$pkgfile" ] || pkgfile=$(ls "$OUT/ipk/apk-$T_NAME"/*.apk) ;;
    *) die "router.sh: format ipk or apk, not $fmt" ;;
esac
[ -f "$pkgfile" ] || die "$T_NAME: no package $pkgfile"
PKG=$(sed -n 's/^PKG_NAME:=//p' "$XB_DIR/openwrt/Makefile")

W=$OUT/router-$name
R=$W/root
res=$OUT/results/$name.router
mkdir -p "$OUT/results"
rm -rf "$W"
mkdir -p "$W"
: > "$res"
put() { echo "$1=$2" >> "$res"; echo "$1=$2"; }

# ---------------------------------------------------------------- 1. image
router_root "$R" "$fmt"
put tool "$(tool_label "$fmt")"

# ---------------------------------------------------------------- 2. install, start
rc=0
pm "$fmt" "$R" install "$pkgfile" > "$W/install.log" 2>&1 || rc=$?
sed 's/^/    | /' "$W/install.log"
[ $rc -eq 0 ] || die "$T_NAME: $(tool_label "$fmt") refused $(basename "$pkgfile") (exit $rc)"
put package "$PKG $(pm "$fmt" "$R" version "$PKG") $(basename "$pkgfile")"
case $fmt in
    ipk) filelist=$R/usr/lib/opkg/info/$PKG.list ;;
    apk) filelist=$R/lib/apk/packages/$PKG.list ;;
esac
[ -f "$filelist" ] || die "$T_NAME: no file list $filelist after the install"
# The float ABI of every installed ELF file must be the image's (libc.so's).
# At run time nothing checks it: musl's loader does not, and qemu's CPU has
# an FPU, so a hard-float .so in a soft-float package runs here (and breaks
# on the router wherever a double crosses the call boundary).
# (aarch64 has no such attribute: empty for every file.)
fpabi() { { readelf -A "$1" 2> /dev/null | grep -E 'FP ABI:|Tag_ABI_VFP_args:' || true; } | sed 's/^ *//' | sort | tr '\n' ';'; }
want=$(fpabi "$R/lib/libc.so")
while read -r f; do
    [ -f "$R$f" ] && head -c 4 "$R$f" | grep -q "ELF" || continue
    [ "$(fpabi "$R$f")" = "$want" ] || die "$T_NAME: $f: float ABI '$(fpabi "$R$f")', the image's is '$want'"
done < "$filelist"
put float_abi "${want:-none (same for all)}"
# The package's scripts, run by the tool: account, enabled, started.
grep -q "^opentracker:\*:6969:6969:" "$R/etc/passwd" || die "$T_NAME: the install did not add the opentracker user"
[ -L "$R/etc/rc.d/S95opentracker" ] || die "$T_NAME: the install did not enable the init script"
rec=$R/var/run/procd/opentracker.main
[ -f "$rec" ] || die "$T_NAME: the install did not start the service (no procd instance)"
# The admin's settings, as `uci set` would write them: loopback only (this
# machine's traffic stays on loopback), both families, a free port; then
# the service restarted with them.
port=$("$VENV/bin/python" -c 'import sys; sys.path.insert(0, sys.argv[1]); from helpers.trackerproc import free_port; print(free_port())' "$REPO/tests")
conf=$R/etc/config/opentracker
grep -q "^	list listen_tcp_udp '0.0.0.0:6969'" "$conf" || die "$T_NAME: the package's UCI file has no default listen line"
sed -i "s|^	list listen_tcp_udp '0.0.0.0:6969'|	list listen_tcp_udp '127.0.0.1:$port'\n	list listen_tcp_udp '[::1]:$port'|" "$conf"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$R" /etc/init.d/opentracker restart \
    > "$W/restart.log" 2>&1 || { cat "$W/restart.log"; die "$T_NAME: /etc/init.d/opentracker restart failed"; }
[ -f "$rec" ] || { cat "$W/restart.log"; die "$T_NAME: the init script asked procd for no instance"; }
grep -q "$port" "$R/var/etc/opentracker.conf" || die "$T_NAME: the restart did not write the admin's listen addresses"
# The UCI translator on its own gives what the init script wrote.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$R" /usr/libexec/opentracker-uciconf main > "$W/uciconf.out"
cmp -s "$W/uciconf.out" "$R/var/etc/opentracker.conf" || die "$T_NAME: /var/etc/opentracker.conf is not the translator's output"
echo "procd instance (stand-in's record):"
sed 's/^/    /' "$rec"
grep -q "^arg /usr/bin/opentracker$" "$rec" || die "$T_NAME: the recorded command is not /usr/bin/opentracker"
grep -q "^respawn " "$rec" || die "$T_NAME: no respawn in the instance"
grep -q '^limits nofile=' "$rec" || die "$T_NAME: no nofile limit in the instance"
put procd_instance "$(grep '^arg ' "$rec" | cut -d' ' -f2- | tr '\n' ' ' | sed 's/ $//'); $(grep -vE '^(arg|command)' "$rec" | tr '\n' ';' | sed 's/;$//')"

# ---------------------------------------------------------------- 3. run, memory
loadgen=$CACHE/loadgen
if [ ! -x "$loadgen" ] || [ "$REPO/bench/loadgen.c" -nt "$loadgen" ]; then
    gcc -O2 -o "$loadgen.tmp" "$REPO/bench/loadgen.c" && mv "$loadgen.tmp" "$loadgen"
fi
copt=()
[ $noc = 0 ] && [ "$T_DEB" != "-" ] && [ -x "$CACHE/csysroot-$T_NAME/usr/bin/opentracker" ] && copt=(--csysroot "$CACHE/csysroot-$T_NAME")
mem=(--torrents "$(echo ${OT_XBUILD_MEM:-100000 500000} | cut -d' ' -f1)" --peers "$(echo ${OT_XBUILD_MEM:-100000 500000} | cut -d' ' -f2)")
runopt=(--loadgen "$loadgen" --work "$W" "${mem[@]}" "${copt[@]}")
[ $smoke = 1 ] && runopt+=(--smoke-only)
rc=0
"$VENV/bin/python" "$XB_DIR/routerrun.py" "$T_NAME" "$R" "$rec" "$port" "${runopt[@]}" > "$W/run.out" 2> "$W/run.err" || rc=$?
cat "$W/run.out" >> "$res"
cat "$W/run.out"
if [ $rc -ne 0 ]; then
    tail -20 "$W/run.err"
    tail -20 "$W/ours.stderr" 2> /dev/null || true
    put router_run "FAILED"
    die "$T_NAME: the installed package did not run as it must (see $W)"
fi
put router_run ok
[ $smoke = 1 ] && exit 0

# ---------------------------------------------------------------- 4. network tests
make_testtree
tests=${OT_ROUTER_TESTS:-"tests/test_conformance_http.py tests/test_conformance_udp.py tests/test_dualstack.py
    tests/test_bad_input.py tests/test_operations.py::test_whitelist_reload_on_sighup
    tests/test_operations.py::test_statefile_survives_restart tests/test_e2e_clients.py"}
cmd0=$(sed -n 's/^arg //p' "$rec" | head -1)
# Some network test files also hold in-process tests of the core: those run
# on the host, against a host build of the same generated C.
"$VENV/bin/python" "$XB_DIR/hostcore.py" "$W/hostcore"
# OT_TESTCORE_PREBUILT: in-process tests in these files use hostcore's build
# of the tests' core (hostcore.py builds it beside the core).
emu=(env PYTHONPATH="$CACHE/pylib-target:$W/hostcore" PYTHONDONTWRITEBYTECODE=1 OT_TESTCORE_PREBUILT=1
    OT_EMULATOR="qemu-$T_QEMU-static -U PYTHONPATH -L $R" OT_EMULATOR_ROOT="$R" OT_EMULATOR_COMMAND="$cmd0")
# (-U: the host side's PYTHONPATH is not the router's; the guest gets none.)
# The tests' Tracker must be the installed package under qemu: its argv, and
# the package's .so mapped in the process it starts.
(cd "$OUT/testtree/tests" && "${emu[@]}" "$VENV/bin/python" -c '
import sys
from helpers import trackerproc
t = trackerproc.Tracker()
assert t.argv[0].startswith("qemu-"), t.argv
t.start()
try:
    maps = open("/proc/%d/maps" % t.proc.pid).read()
    assert sys.argv[1] + "/usr/lib/python3.11/site-packages/opentracker_core/" in maps, "the installed .so is not mapped"
    assert t.get("/stats?mode=version")[0].endswith("200 OK")
finally:
    t.close()
print("tests run: " + " ".join(t.argv[:5]) + " ...")' "$R") || die "$T_NAME: trackerproc does not start the installed package under qemu"
t0=$(now)
rc=0
(cd "$OUT/testtree" && "${emu[@]}" "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rs $tests) \
    > "$W/pytest.txt" 2>&1 || rc=$?
tail -15 "$W/pytest.txt"
summary=$(grep -E '^[=]* ?[0-9]+ (passed|failed|error)' "$W/pytest.txt" | tail -1 || true)
count() { echo "$summary" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
put net_passed "$(count passed)"
put net_failed "$(( $(count failed) + $(count error) ))"
put net_skipped "$(count skipped)"
put net_seconds "$(printf '%.0f' "$(echo "$(now) - $t0" | bc)")"
[ "$rc" -eq 0 ] || die "$T_NAME: network tests under emulation failed (rc $rc, $W/pytest.txt)"
# The end-to-end test skips itself without python3-libtorrent: here that
# is a failure, the transfer between real clients is part of the check.
if grep -qE "SKIPPED.*test_e2e_clients" "$W/pytest.txt"; then
    put net_e2e skipped
    die "$T_NAME: the end-to-end test was skipped (python3-libtorrent missing?)"
fi
case " $tests " in *test_e2e_clients*) put net_e2e passed ;; *) put net_e2e "not run" ;; esac

# ---------------------------------------------------------------- 5. two worker loops
# The admin asks for two loops (option workers '2', as a dual-core MT7621
# owner would): the service restarted with them, its memory measured at the
# same load, and the UDP network tests run against trackers with two loops
# (OT_WORKERS=2 adds tracker.workers 2 to each test's config).
sed -i "/^config opentracker 'main'/a\\	option workers '2'" "$conf"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$R" /etc/init.d/opentracker restart \
    > "$W/restart-w2.log" 2>&1 || { cat "$W/restart-w2.log"; die "$T_NAME: restart with option workers '2' failed"; }
grep -q "^tracker.workers 2$" "$R/var/etc/opentracker.conf" || die "$T_NAME: option workers '2' did not reach the config"
rc=0
"$VENV/bin/python" "$XB_DIR/routerrun.py" "$T_NAME" "$R" "$rec" "$port" --tag w2 "${runopt[@]}" \
    > "$W/run-w2.out" 2> "$W/run-w2.err" || rc=$?
grep '^w2_' "$W/run-w2.out" >> "$res" || true
grep '^w2_' "$W/run-w2.out" || true
[ $rc -eq 0 ] || { tail -20 "$W/run-w2.err"; die "$T_NAME: the service with two loops did not run as it must (see $W)"; }
grep -q '^w2_loops=2$' "$W/run-w2.out" || die "$T_NAME: the service with option workers '2' does not run two loops"
tests2=${OT_ROUTER_TESTS_W2:-"tests/test_conformance_udp.py tests/test_dualstack.py tests/test_bad_input.py
    tests/test_workers.py::test_scrape_and_stop_from_any_loop tests/test_workers.py::test_clients_spread_over_two_loops_and_every_count_adds_up"}
t0=$(now)
rc=0
(cd "$OUT/testtree" && OT_WORKERS=2 "${emu[@]}" "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rs $tests2) \
    > "$W/pytest-w2.txt" 2>&1 || rc=$?
tail -5 "$W/pytest-w2.txt"
summary=$(grep -E '^[=]* ?[0-9]+ (passed|failed|error)' "$W/pytest-w2.txt" | tail -1 || true)
put w2_net_passed "$(count passed)"
put w2_net_failed "$(( $(count failed) + $(count error) ))"
put w2_net_seconds "$(printf '%.0f' "$(echo "$(now) - $t0" | bc)")"
[ "$rc" -eq 0 ] || die "$T_NAME: network tests with two loops under emulation failed (rc $rc, $W/pytest-w2.txt)"
