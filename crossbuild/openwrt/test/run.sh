#!/usr/bin/env bash
# Checks of the OpenWrt files that run here: syntax under BusyBox ash (the
# router's shell), and the UCI -> opentracker config translation against
# expected outputs (with functions.sh standing in for OpenWrt's).
set -euo pipefail
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
translate() {   # translate CONFIG-FILE -> stdout
    mkdir -p "$work/etc"
    cp "$1" "$work/etc/opentracker"
    FUNCTIONS_SH=$here/functions.sh UCI_CONFIG_DIR=$work/etc busybox sh "$files/opentracker-uciconf" main
}
for case in "$here"/cases/*.uci; do
    name=$(basename "$case" .uci)
    if [ -f "${case%.uci}.conf" ]; then
        if ! out=$(translate "$case" 2>&1); then
            echo "FAIL: $name: translation failed: $out"; fails=$((fails + 1)); continue
        fi
        if ! diff -u "${case%.uci}.conf" <(printf '%s\n' "$out"); then
            echo "FAIL: $name: unexpected config"; fails=$((fails + 1)); continue
        fi
    else
        if out=$(translate "$case" 2>&1); then
            echo "FAIL: $name: accepted, should be refused"; fails=$((fails + 1)); continue
        fi
        grep -qF "$(cat "${case%.uci}.err")" <<< "$out" || { echo "FAIL: $name: message '$out'"; fails=$((fails + 1)); continue; }
    fi
    echo "ok: $name"
done
# The expected configs are accepted, without a warning, by the tracker's own
# parser (OT_CONF_PYTHON + OT_CONF_PYTHONPATH: a host Python and a tree with
# the opentracker package; skipped when not given).
if [ -n "${OT_CONF_PYTHONPATH:-}" ]; then
    for conf in "$here"/cases/*.conf; do
        if PYTHONPATH=$OT_CONF_PYTHONPATH "${OT_CONF_PYTHON:-python3}" -c '
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
[ $fails -eq 0 ] || { echo "$fails failed"; exit 1; }
