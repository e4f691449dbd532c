#!/usr/bin/env bash
# Checks of the OpenWrt files that run here: syntax under BusyBox ash (the
# router's shell), and the UCI -> opentracker config translation against
# expected outputs (with functions.sh standing in for OpenWrt's).
set -euo pipefail
# A sanitizer run (tests/sanitize.sh) preloads its runtime for the Python
# that loads the core; the shell tools here get none (logger hangs in it).
py_preload=${LD_PRELOAD:-}
unset LD_PRELOAD
here=$(cd "$(dirname "$0")" && pwd)
files=$here/../files
fails=0
for f in "$files/opentracker.init" "$files/opentracker-uciconf"; do
    busybox sh -n "$f" || { echo "FAIL: $f: syntax"; fails=$((fails + 1)); }
done
if command -v shellcheck > /dev/null; then
    # local (SC3043) is in BusyBox ash; config_* set variables indirectly.
    for f in "$files/opentracker-uciconf" "$files/opentracker.init"; do
        shellcheck -s sh -e SC2034,SC1090,SC1091,SC2154,SC2317,SC3043 "$f" \
            || { echo "FAIL: shellcheck $f"; fails=$((fails + 1)); }
    done
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
translate() {   # translate CONFIG-FILE -> stdout, stderr
    mkdir -p "$work/etc"
    cp "$1" "$work/etc/opentracker"
    FUNCTIONS_SH=$here/functions.sh UCI_CONFIG_DIR=$work/etc busybox sh "$files/opentracker-uciconf" main
}
# Each cases/NAME.uci is translated. Its expected result:
#   NAME.conf     the config, exactly, and nothing on stderr;
#   NAME.keyconf  the same, for a config naming a cluster key file, which
#                 `--check-config` opens (tests/test_check_config.py checks
#                 every .conf as it is; tests/test_uci.py checks these with
#                 a key file made where they say);
#   NAME.err      refused: exit status not 0, stderr exactly this.
# The shipped /etc/config/opentracker is cases/default.uci.
cmp -s "$files/opentracker.config" "$here/cases/default.uci" \
    || { echo "FAIL: cases/default.uci is not files/opentracker.config"; fails=$((fails + 1)); }
for case in "$here"/cases/*.uci; do
    name=$(basename "$case" .uci)
    expected=
    for ext in conf keyconf; do
        [ -f "${case%.uci}.$ext" ] && expected=${case%.uci}.$ext
    done
    if [ -n "$expected" ]; then
        if ! translate "$case" > "$work/out" 2> "$work/err"; then
            echo "FAIL: $name: translation failed: $(cat "$work/err")"; fails=$((fails + 1)); continue
        fi
        if ! diff -u "$expected" "$work/out"; then
            echo "FAIL: $name: unexpected config"; fails=$((fails + 1)); continue
        fi
        if [ -s "$work/err" ]; then
            echo "FAIL: $name: stderr: $(cat "$work/err")"; fails=$((fails + 1)); continue
        fi
    elif [ -f "${case%.uci}.err" ]; then
        if translate "$case" > "$work/out" 2> "$work/err"; then
            echo "FAIL: $name: accepted, should be refused"; fails=$((fails + 1)); continue
        fi
        if ! diff -u "${case%.uci}.err" "$work/err"; then
            echo "FAIL: $name: unexpected message"; fails=$((fails + 1)); continue
        fi
    else
        echo "FAIL: $name: no $name.conf, $name.keyconf or $name.err"; fails=$((fails + 1)); continue
    fi
    echo "ok: $name"
done
# The expected configs are accepted, without a warning, by the tracker's own
# parser (OT_CONF_PYTHON + OT_CONF_PYTHONPATH: a host Python and a tree with
# the opentracker package; skipped when not given).
if [ -n "${OT_CONF_PYTHONPATH:-}" ]; then
    for conf in "$here"/cases/*.conf "$here"/cases/*.keyconf; do
        [ -f "$conf" ] || continue
        if PYTHONPATH=$OT_CONF_PYTHONPATH LD_PRELOAD=$py_preload "${OT_CONF_PYTHON:-python3}" -c '
import sys
from opentracker.config import load
settings, warnings = load(sys.argv[1])
sys.exit("warnings: %s" % (warnings,) if warnings else 0)' "$conf"; then
            echo "ok: $(basename "$conf") parses with opentracker.config"
        else
            echo "FAIL: $(basename "$conf") is refused by opentracker.config"; fails=$((fails + 1))
        fi
    done
fi
# reload with a UCI change the tracker refuses keeps the running tracker:
# the init script under the procd stand-in (standin/rc.common), its paths
# moved into a scratch root, the tracker run by the host Python.
if [ -n "${OT_CONF_PYTHONPATH:-}" ]; then
    r=$work/root
    mkdir -p "$r/etc/config" "$r/bin" "$r/procd"
    printf '#!/bin/sh\nPYTHONPATH=%s LD_PRELOAD='"'"'%s'"'"' exec %s -m opentracker "$@"\n' "$OT_CONF_PYTHONPATH" \
        "$py_preload" "${OT_CONF_PYTHON:-python3}" > "$r/bin/opentracker"
    printf '#!/bin/sh\nFUNCTIONS_SH=%s UCI_CONFIG_DIR=%s exec busybox sh %s "$@"\n' "$here/functions.sh" \
        "$r/etc/config" "$files/opentracker-uciconf" > "$r/bin/uciconf"
    chmod +x "$r/bin/opentracker" "$r/bin/uciconf"
    sed -e "s|/usr/bin/opentracker|$r/bin/opentracker|; s|/usr/libexec/opentracker-uciconf|$r/bin/uciconf|" \
        -e "s|/var/etc|$r/var/etc|g" "$files/opentracker.init" > "$r/opentracker"
    sed -e "s|^\. /lib/functions.sh|. $here/functions.sh|" "$here/../standin/rc.common" > "$r/rc.common"
    service() { PROCD_DIR=$r/procd UCI_CONFIG_DIR=$r/etc/config busybox sh "$r/rc.common" "$r/opentracker" "$1" 2>&1; }
    uci() {
        printf "config opentracker 'main'\n\toption enabled '1'\n\tlist listen_tcp_udp '127.0.0.1:6969'\n" \
            > "$r/etc/config/opentracker"
        printf "\toption user 'nobody'\n\toption memory_limit '%s'\n" "$1" >> "$r/etc/config/opentracker"
        [ -z "${2:-}" ] || printf "\tlist option '%s'\n" "$2" >> "$r/etc/config/opentracker"
    }
    reload_fail() { echo "FAIL: reload: $1"; fails=$((fails + 1)); }
    before=$fails
    uci 24M
    service start > /dev/null || reload_fail "start"
    cp "$r/procd/opentracker.main" "$work/record" && cp "$r/var/etc/opentracker.conf" "$work/conf"
    # A value the translation passes on and the tracker refuses.
    uci 24M "tracker.rate_limit sixty"
    if out=$(service reload); then reload_fail "a refused change was reloaded"; fi
    cmp -s "$r/procd/opentracker.main" "$work/record" || reload_fail "the running instance was touched: $out"
    cmp -s "$r/var/etc/opentracker.conf" "$work/conf" || reload_fail "the running settings were replaced"
    grep -qF "tracker.rate_limit sixty: rate must be a whole number, not 'sixty'" <<< "$out" \
        || reload_fail "no reason given: $out"
    grep -qF "reload refused: the running tracker keeps its settings" <<< "$out" || reload_fail "message: $out"
    if ls "$r/var/etc" | grep -q check; then reload_fail "the checked copy was left behind"; fi
    # Unchanged settings: a SIGHUP to the same instance.
    uci 24M
    service reload > /dev/null || reload_fail "unchanged settings refused"
    [ "$(tail -n 1 "$r/procd/opentracker.main")" = "signal HUP" ] || reload_fail "no SIGHUP for unchanged settings"
    # A good change is taken: new settings, the instance handed to procd anew.
    uci 16M
    service reload > /dev/null || reload_fail "a good change was refused"
    grep -qx "tracker.memory_limit 16M" "$r/var/etc/opentracker.conf" || reload_fail "new settings not written"
    if grep -q "^signal" "$r/procd/opentracker.main"; then reload_fail "a changed instance was only signalled"; fi
    [ $fails -ne $before ] || echo "ok: reload keeps the running tracker on a refused change, takes a good one"
fi
[ $fails -eq 0 ] || { echo "$fails failed"; exit 1; }
