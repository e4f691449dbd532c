#!/usr/bin/env bash
# The shipped package on an emulated router (issue 14): the .ipk installed
# into the musl userland of muslroot.sh as opkg would, started as OpenWrt
# starts it, then the project's network tests and the memory figures against
# it from the host over loopback.
#   crossbuild/router.sh TARGET [--ipk FILE] [--smoke-only] [--name NAME]
#
# 1. A fresh copy of $CACHE/muslroot-TARGET/root (the "image"), plus the
#    base-files parts the package's scripts use: BusyBox (Debian's, x86-64:
#    the scripts are shell, run natively in a chroot of the root), and
#    stand-ins for /lib/functions.sh and /etc/rc.common with procd's shell
#    API (openwrt/standin/): procd is not here, so the stand-in records the
#    instance the init script asks for.
# 2. ipkinstall.py: the package's files into the root, opkg's database; then
#    the postinst, in the chroot, as opkg runs it on a live router: it adds
#    Require-User's account, enables the init script and starts it. The
#    init script runs the UCI translator on /etc/config/opentracker (loopback
#    listen addresses set first, as an admin would with uci) and asks procd
#    for the instance: the record.
# 3. routerrun.py starts the recorded command from the installed files under
#    qemu-<arch>-static -L ROOT (launcher, musl CPython, musl .so): the .so
#    must be the one mapped; then memory (loadgen over UDP), python3-light's
#    base, and the C original from the Debian sysroot where there is one.
# 4. The network tests (tests/trackerproc.py's OT_EMULATOR* variables):
#    conformance HTTP/UDP, dual stack, bad input, SIGHUP whitelist reload,
#    SIGTERM writing the state file, libtorrent end to end.
# Results: $OUT/results/NAME.router (key=value), logs in $OUT/router-NAME/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] || die "usage: router.sh TARGET [--ipk FILE] [--smoke-only] [--name NAME]"
target_load "$1"
shift
ipk= smoke=0 name=$T_NAME
while [ $# -gt 0 ]; do
    case $1 in
        --ipk) ipk=$2; shift ;;
        --smoke-only) smoke=1 ;;
        --name) name=$2; shift ;;
        *) die "router.sh: unknown option $1" ;;
    esac
    shift
done
[ -n "$ipk" ] || ipk=$(ls "$OUT"/ipk/*_"$T_OWRT".ipk)
[ -f "$ipk" ] || die "$T_NAME: no package $ipk"
image=$CACHE/muslroot-$T_NAME/root
[ -f "$CACHE/muslroot-$T_NAME/.ok" ] || die "$T_NAME: no musl userland (run muslroot.sh)"

W=$OUT/router-$name
R=$W/root
res=$OUT/results/$name.router
mkdir -p "$OUT/results"
rm -rf "$W"
mkdir -p "$W"
: > "$res"
put() { echo "$1=$2" >> "$res"; echo "$1=$2"; }

# ---------------------------------------------------------------- 1. image
cp -a "$image" "$R"
install -D -m 0755 "$(readlink -f /bin/busybox)" "$R/bin/busybox"
for lib in $(ldd /bin/busybox | grep -oE '/[^ ]+'); do install -D -m 0755 "$lib" "$R$lib"; done
mkdir -p "$R/sbin" "$R/usr/sbin" "$R/usr/bin"
chroot "$R" /bin/busybox --install -s
cat "$XB_DIR/openwrt/test/functions.sh" "$XB_DIR/openwrt/standin/functions-pkg.sh" > "$R/lib/functions.sh"
install -m 0755 "$XB_DIR/openwrt/standin/rc.common" "$R/etc/rc.common"
mkdir -p "$R/var/run" "$R/tmp" "$R/dev"
mknod -m 0666 "$R/dev/null" c 1 3
chmod 1777 "$R/tmp"

# ---------------------------------------------------------------- 2. install, start
# Never beside the feed's C build: on a root that has the C `opentracker`
# (or `opentracker6`) installed, the install must be refused.
for c in opentracker opentracker6; do
    mkdir -p "$W/with-$c/usr/lib/opkg"
    cp "$R/usr/lib/opkg/status" "$W/with-$c/usr/lib/opkg/status"
    printf 'Package: %s\nVersion: 2021-08-23-1\nDepends: libc, zlib, libpthread\nStatus: install user installed\nArchitecture: %s\n\n' \
        "$c" "$T_OWRT" >> "$W/with-$c/usr/lib/opkg/status"
    if "$VENV/bin/python" "$XB_DIR/ipkinstall.py" "$W/with-$c" "$ipk" --arch "$T_OWRT" > /dev/null 2> "$W/with-$c.err"; then
        die "$T_NAME: the package installs beside the C $c"
    fi
    grep -q "conflicts with the installed $c" "$W/with-$c.err" || { cat "$W/with-$c.err"; die "$T_NAME: refused beside $c, but not for the conflict"; }
    rm -rf "$W/with-$c"
done
put conflicts "refused beside opentracker, opentracker6"
pkg=$("$VENV/bin/python" "$XB_DIR/ipkinstall.py" "$R" "$ipk" --arch "$T_OWRT")
put package "$pkg $(basename "$ipk")"
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
done < "$R/usr/lib/opkg/info/$pkg.list"
put float_abi "${want:-none (same for all)}"
# The admin's settings, as `uci set` would write them: loopback only (this
# machine's traffic stays on loopback), both families, a free port.
port=$("$VENV/bin/python" -c 'import sys; sys.path.insert(0, sys.argv[1]); from trackerproc import free_port; print(free_port())' "$REPO/tests")
conf=$R/etc/config/opentracker
grep -q "^	list listen_tcp_udp '0.0.0.0:6969'" "$conf" || die "$T_NAME: the package's UCI file has no default listen line"
sed -i "s|^	list listen_tcp_udp '0.0.0.0:6969'|	list listen_tcp_udp '127.0.0.1:$port'\n	list listen_tcp_udp '[::1]:$port'|" "$conf"
# opkg on a running router: postinst configure (default_postinst: account,
# enable, start).
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$R" /bin/sh "/usr/lib/opkg/info/$pkg.postinst" configure \
    > "$W/postinst.log" 2>&1 || { cat "$W/postinst.log"; die "$T_NAME: postinst failed"; }
grep -q "^opentracker:\*:6969:6969:" "$R/etc/passwd" || die "$T_NAME: postinst did not add the opentracker user"
[ -L "$R/etc/rc.d/S95opentracker" ] || die "$T_NAME: postinst did not enable the init script"
rec=$R/var/run/procd/opentracker.main
[ -f "$rec" ] || { cat "$W/postinst.log"; die "$T_NAME: the init script asked procd for no instance"; }
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
[ "$T_DEB" != "-" ] && [ -x "$CACHE/csysroot-$T_NAME/usr/bin/opentracker" ] && copt=(--csysroot "$CACHE/csysroot-$T_NAME")
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
emu=(env PYTHONPATH="$CACHE/pylib-target:$W/hostcore" PYTHONDONTWRITEBYTECODE=1
    OT_EMULATOR="qemu-$T_QEMU-static -U PYTHONPATH -L $R" OT_EMULATOR_ROOT="$R" OT_EMULATOR_COMMAND="$cmd0")
# (-U: the host side's PYTHONPATH is not the router's; the guest gets none.)
# The tests' Tracker must be the installed package under qemu: its argv, and
# the .ipk's .so mapped in the process it starts.
(cd "$OUT/testtree/tests" && "${emu[@]}" "$VENV/bin/python" -c '
import sys, trackerproc
t = trackerproc.Tracker()
assert t.argv[0].startswith("qemu-"), t.argv
t.start()
try:
    maps = open("/proc/%d/maps" % t.proc.pid).read()
    assert sys.argv[1] + "/usr/lib/python3.11/site-packages/opentracker_core/" in maps, "the .ipk .so is not mapped"
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
