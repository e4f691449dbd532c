#!/usr/bin/env bash
# The package's life cycle on the emulated router, with the router's own
# tool: opkg for the .ipk (24.10), apk for the .apk (25.12). Each step is
# checked by what a router owner would see: the tool's exit status and
# message, files present or gone, the account, the init script's rc.d link,
# and procd's instance (the stand-in records what the init script asks for:
# /var/run/procd/opentracker.main, and start/stop events).
#   crossbuild/lifecycle.sh TARGET ipk|apk [--mutant KIND]
#
#   install    the package installs; files, user, service enabled and started;
#              (apk) /etc/config/opentracker in the package's conffile list,
#              with its checksum, which sysupgrade reads on 25.12
#   upgrade    to a newer build of the same files (release + 1): with a local
#              change in /etc/config/opentracker, the change is kept (the
#              package's copy beside it, as the tool names it); the service
#              is restarted (stopped, then started) and stays enabled
#   reinstall  the same version again after /usr/bin/opentracker was
#              deleted: the file is back, the local change kept, enabled
#   remove     the service stopped and disabled, the package's files gone,
#              the locally changed conffile kept (both tools keep a modified
#              conffile on removal)
#   conflicts  refused on a root with the feed's C opentracker or
#              opentracker6 installed (a stand-in sharing no path with ours:
#              only the declared conflict can refuse it), and they are
#              refused beside ours (stand-ins with the C package's paths:
#              opkg reads only the new package's Conflicts, so on 24.10 the
#              shared /usr/bin/opentracker refuses it; apk refuses it for
#              the versioned provides)
#   signature  (apk) `apk verify` accepts the package with the test key and
#              refuses it without; unsigned, `apk add` refuses it unless
#              --allow-untrusted
#   python     (apk) refused on a root whose python3-light is 25.12's 3.13
#              (the package's files are CPython 3.11's)
# --mutant KIND: the same run with a broken package (check.sh requires it to
# fail, at the step that catches KIND); ipk mutants by mutantipk.py
# --control, apk mutants by mkapk.sh --mutant.
# Output: "lifecycle FORMAT STEP: ok ..." lines; the first failure prints
# "lifecycle FORMAT STEP: FAILED: reason" and exits 1. Results in
# $OUT/results/TARGET-FORMAT.lifecycle (unless --mutant).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 2 ] || die "usage: lifecycle.sh TARGET ipk|apk [--mutant KIND]"
target_load "$1"
fmt=$2
mutant=
[ "${3:-}" = --mutant ] && mutant=$4
. "$XB_DIR/routerpkg.sh"
name=$T_NAME-$fmt${mutant:+-mutant-$mutant}
W=$OUT/lifecycle-$name
rm -rf "$W"
mkdir -p "$W"
res=$OUT/results/$T_NAME-$fmt.lifecycle
[ -n "$mutant" ] && res=/dev/null
: > "$res"
step=setup
ok() { echo "lifecycle $fmt $step: ok${1:+ ($1)}" | tee -a "$res"; }
bad() { echo "lifecycle $fmt $step: FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- packages
PKG=$(sed -n 's/^PKG_NAME:=//p' "$XB_DIR/openwrt/Makefile")
REL=$(sed -n 's/^PKG_RELEASE:=//p' "$XB_DIR/openwrt/Makefile")
newdir=$OUT/newer-$T_NAME
if [ ! -f "$newdir/tree-$T_NAME/CONTROL/control" ]; then
    # The newer build: the same files, the next release.
    OT_PKG_DIR=$newdir OT_PKG_RELEASE=$((REL + 1)) bash "$XB_DIR/mkipk.sh" "$T_NAME" > "$W/newer.log" 2>&1 \
        || { cat "$W/newer.log"; die "newer build failed"; }
fi
case $fmt in
    ipk)
        pkg=$(ls "$OUT"/ipk/*_"$T_OWRT".ipk)
        new=$(ls "$newdir"/*_"$T_OWRT".ipk)
        if [ -n "$mutant" ]; then
            "$VENV/bin/python" "$XB_DIR/mutantipk.py" "$pkg" "$W/$(basename "$pkg")" --control "$mutant"
            "$VENV/bin/python" "$XB_DIR/mutantipk.py" "$new" "$W/new-$(basename "$new")" --control "$mutant"
            pkg=$W/$(basename "$pkg") new=$W/new-$(basename "$new")
        fi ;;
    apk)
        if [ -n "$mutant" ]; then
            pkg=$(bash "$XB_DIR/mkapk.sh" "$T_NAME" --mutant "$mutant" | tail -1)
            new=$(OT_PKG_DIR=$newdir bash "$XB_DIR/mkapk.sh" "$T_NAME" --mutant "$mutant" | tail -1)
        else
            pkg=$(ls "$OUT/ipk/apk-$T_NAME"/*.apk)
            [ -f "$newdir/apk-$T_NAME/.ok" ] || { OT_PKG_DIR=$newdir bash "$XB_DIR/mkapk.sh" "$T_NAME" > "$W/newer-apk.log" 2>&1 \
                && touch "$newdir/apk-$T_NAME/.ok"; } || { cat "$W/newer-apk.log"; die "newer .apk failed"; }
            new=$(ls "$newdir/apk-$T_NAME"/*.apk)
        fi ;;
    *) die "format ipk or apk, not $fmt" ;;
esac
echo "packages: $(basename "$pkg"), newer $(basename "$new")"

R=$W/root
conf=$R/etc/config/opentracker
rec=$R/var/run/procd/opentracker.main
events=$R/var/run/procd/events
run() {   # run LOG CMD...: the tool's output to LOG, the exit status kept
    local log=$1 rc=0
    shift
    "$@" > "$log" 2>&1 || rc=$?
    sed 's/^/    | /' "$log"
    return $rc
}
enabled() { [ -L "$R/etc/rc.d/S95opentracker" ]; }
# The tool's first complaint in LOG (opkg: " * function: text", apk: "ERROR: text"
# and the solver's reasons after it).
first_error() {
    grep -E '^ \* [a-z_]+: |^ERROR: | (error|arch|conflicts|breaks): ' "$1" | grep -v pkg_get_installed_files | head -3 \
        | sed -E 's/^ \* [a-z_]+: //; s/^ERROR: //; s/^ +//' | tr '\n' ' ' | sed 's/ *$//'
}

# ---------------------------------------------------------------- install
step=install
router_root "$R" "$fmt"
run "$W/install.log" pm "$fmt" "$R" install "$pkg" || bad "$(tool_label "$fmt") refused the package: $(first_error "$W/install.log")"
v1=$(pm "$fmt" "$R" version "$PKG")
[ -n "$v1" ] || bad "not in the package database after the install"
[ -x "$R/usr/bin/opentracker" ] && [ -x "$R/etc/init.d/opentracker" ] && [ -f "$conf" ] || bad "files missing"
grep -q '^opentracker:' "$R/etc/passwd" || bad "no opentracker user"
enabled || bad "the init script is not enabled (no /etc/rc.d/S95opentracker)"
[ -f "$rec" ] && [ "$(tail -1 "$events")" = "start opentracker main" ] || bad "the service was not started"
if [ "$fmt" = apk ]; then
    # What sysupgrade keeps on 25.12: the conffiles listed by the packages,
    # with the checksum of the file as installed.
    grep -qx /etc/config/opentracker "$R/lib/apk/packages/$PKG.conffiles" 2> /dev/null \
        || bad "/etc/config/opentracker is not in /lib/apk/packages/$PKG.conffiles (sysupgrade would not keep it)"
    grep -q "^/etc/config/opentracker $(sha256sum < "$conf" | cut -d' ' -f1)\$" "$R/lib/apk/packages/$PKG.conffiles_static" \
        || bad "no checksum of /etc/config/opentracker in $PKG.conffiles_static"
fi
ok "$v1; enabled; started"

# ---------------------------------------------------------------- upgrade
step=upgrade
if [ "$fmt" = apk ]; then
    # From here on from a feed (routerpkg.sh's pm says why): installed again
    # from one, on a fresh root, then upgraded from the next build's.
    router_root "$R" "$fmt"
    run "$W/feed-install.log" pm "$fmt" "$R" feed-install "$pkg" || bad "not installed from a feed: $(first_error "$W/feed-install.log")"
    [ "$(pm "$fmt" "$R" version "$PKG")" = "$v1" ] || bad "the feed's install is not $v1"
fi
echo "# local change (lifecycle test)" >> "$conf"
n0=$(wc -l < "$events")
run "$W/upgrade.log" pm "$fmt" "$R" upgrade "$new" || bad "$(tail -3 "$W/upgrade.log" | tr '\n' ' ')"
v2=$(pm "$fmt" "$R" version "$PKG")
[ -n "$v2" ] && [ "$v2" != "$v1" ] || bad "version $v2 after the upgrade from $v1"
grep -q '^# local change (lifecycle test)$' "$conf" || bad "the local change to /etc/config/opentracker was overwritten"
kept=$(cd "$R/etc/config" && ls opentracker?* 2> /dev/null | tr '\n' ' ')
after=$(tail -n +"$((n0 + 1))" "$events" | tr '\n' ';')
case $after in
    *"stop opentracker;"*"start opentracker main;") ;;
    *) bad "the service was not restarted (procd events after the upgrade: '${after:-none}')" ;;
esac
enabled || bad "the init script was disabled by the upgrade"
ok "$v1 -> $v2; local change kept, package's copy: ${kept:-none}; restarted"

# ---------------------------------------------------------------- reinstall
step=reinstall
rm -f "$R/usr/bin/opentracker"
run "$W/reinstall.log" pm "$fmt" "$R" reinstall "$new" || bad "$(tail -3 "$W/reinstall.log" | tr '\n' ' ')"
[ -x "$R/usr/bin/opentracker" ] || bad "/usr/bin/opentracker not restored"
[ "$(pm "$fmt" "$R" version "$PKG")" = "$v2" ] || bad "version changed"
grep -q '^# local change (lifecycle test)$' "$conf" || bad "the local change was overwritten"
enabled && [ -f "$rec" ] || bad "the service is not enabled and running after the reinstall"
ok "files restored; local change kept; enabled, running"

# ---------------------------------------------------------------- remove
step=remove
run "$W/remove.log" pm "$fmt" "$R" remove "$PKG" || bad "$(tail -3 "$W/remove.log" | tr '\n' ' ')"
[ -z "$(pm "$fmt" "$R" version "$PKG")" ] || bad "still in the package database"
[ ! -e "$R/usr/bin/opentracker" ] && [ ! -e "$R/etc/init.d/opentracker" ] || bad "files left behind"
[ ! -f "$rec" ] && [ "$(tail -1 "$events")" = "stop opentracker" ] || bad "the service was not stopped"
enabled && bad "the init script is still enabled (/etc/rc.d/S95opentracker left)"
[ -f "$conf" ] && grep -q '^# local change' "$conf" || bad "the locally changed /etc/config/opentracker was deleted"
ok "stopped, disabled, files gone, changed conffile kept"

# ---------------------------------------------------------------- conflicts
step=conflicts
why=
for c in opentracker opentracker6; do
    cpkg=$(cstandin "$fmt" "$W" "$c")
    router_root "$R" "$fmt"
    run "$W/c-$c.log" pm "$fmt" "$R" install "$cpkg" || bad "the stand-in $c does not install"
    if run "$W/with-$c.log" pm "$fmt" "$R" install "$pkg"; then
        bad "installed beside the C $c"
    fi
    grep -q "$c" "$W/with-$c.log" || bad "refused beside $c, but the message does not name it"
    [ -z "$(pm "$fmt" "$R" version "$PKG")" ] || bad "refused, yet in the database"
    router_root "$R" "$fmt"
    run "$W/ours.log" pm "$fmt" "$R" install "$pkg" || bad "does not install"
    cpkg=$(cstandin "$fmt" "$W" "$c" paths)
    if run "$W/then-$c.log" pm "$fmt" "$R" install "$cpkg"; then
        bad "the C $c installs beside it"
    fi
    why+="; $c after ours: $(first_error "$W/then-$c.log")"
    [ -z "$(pm "$fmt" "$R" version "$c")" ] || bad "$c refused, yet in the database"
done
ok "refused beside opentracker, opentracker6, and they beside it$why"

# ---------------------------------------------------------------- signature
if [ "$fmt" = apk ]; then
    step=signature
    run "$W/verify.log" "$APK" --root "$R" verify "$pkg" || bad "apk verify refuses it with the test key"
    if run "$W/verify-nokey.log" "$APK" --keys-dir "$W/nokeys" verify "$pkg"; then
        bad "apk verify accepts it without the key"
    fi
    grep -q UNTRUSTED "$W/verify-nokey.log" || bad "refused without the key, but not as untrusted"
    unsigned=$(bash "$XB_DIR/mkapk.sh" "$T_NAME" --mutant unsigned | tail -1)
    router_root "$R" "$fmt"
    if run "$W/unsigned.log" pm apk "$R" install "$unsigned"; then
        bad "an unsigned package installs without --allow-untrusted"
    fi
    grep -qi 'untrusted' "$W/unsigned.log" || bad "unsigned refused, but not as untrusted"
    run "$W/untrusted.log" "$APK" --root "$R" --no-network --no-cache --allow-untrusted add "$unsigned" \
        || bad "an unsigned package is refused even with --allow-untrusted"
    ok "verify: accepted with the key, refused without; unsigned: refused, installs with --allow-untrusted"
    step=python
    router_root "$R" "$fmt" 3.13.9-r1
    if run "$W/py313.log" pm apk "$R" install "$pkg"; then
        bad "installs on a root with python3-light 3.13"
    fi
    grep -q 'python3-light' "$W/py313.log" || bad "refused beside python3-light 3.13, but not for it"
    ok "refused beside python3-light 3.13.9: $(first_error "$W/py313.log")"
fi
echo "lifecycle $fmt: all steps passed ($(tool_label "$fmt"))"
