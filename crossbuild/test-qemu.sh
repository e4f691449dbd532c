#!/usr/bin/env bash
# Run the test suite under qemu-user with the target's Python and the glibc
# build of the core ($OUT/gnu-<target>/site).
#   crossbuild/test-qemu.sh TARGET [PYTEST ARGS...]
#
# Which tests: every tests/test_*.py that runs in-process, i.e. does not start
# a tracker subprocess (trackerproc, subprocess: a target binary cannot be
# exec'd under plain qemu-user without binfmt_misc), and not test_readme.py
# (it checks this repository's README, nothing of the target).
# OT_XBUILD_TESTS="tests/test_a.py tests/test_b.py" picks files by hand.
# Hypothesis uses HYPOTHESIS_PROFILE (default dev: 50 examples a property).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] || die "usage: test-qemu.sh TARGET [PYTEST ARGS...]"
target_load "$1"
shift
site=$OUT/gnu-$T_NAME/site
[ -d "$site" ] || die "$T_NAME: no $site (run build.sh first)"

make_testtree
tt=$OUT/testtree
cd "$tt"
if [ -n "${OT_XBUILD_TESTS:-}" ]; then
    files=$OT_XBUILD_TESTS
else
    files=$(for f in tests/test_*.py; do
        [ "$(basename "$f")" = test_readme.py ] && continue
        grep -qE '^\s*(import|from)\s+(helpers\.)?(trackerproc|subprocess)\b' "$f" && continue
        echo "$f"
    done | tr '\n' ' ')
fi
[ -n "$files" ] || die "no test files selected"

mkdir -p "$OUT/results"
res=$OUT/results/$T_NAME.tests
log "$T_NAME: pytest under qemu-$T_QEMU-static: $files"
t0=$(now)
rc=0
# OT_TESTCORE_PREBUILT: the tests' build of the core is the one in $site
# (build.py), never built under emulation.
env PYTHONPATH="$CACHE/pylib-target:$site" PYTHONDONTWRITEBYTECODE=1 OT_TESTCORE_PREBUILT=1 \
    HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-dev}" \
    OT_EXPECT_BYTEORDER="$T_ENDIAN" OT_EXPECT_BITS="$T_BITS" \
    QEMU_LD_PREFIX="$T_SYSROOT" \
    "qemu-$T_QEMU-static" -L "$T_SYSROOT" "$T_PY" -m pytest -q -p no:cacheprovider $files "$@" \
    2>&1 | tee "$OUT/results/$T_NAME.pytest.txt" || rc=$?
took=$(echo "$(now) - $t0" | bc)
summary=$(grep -E '^[=]* ?[0-9]+ (passed|failed|error)' "$OUT/results/$T_NAME.pytest.txt" | tail -1 || true)
count() { echo "$summary" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
{
    echo "tests_passed=$(count passed)"
    echo "tests_failed=$(( $(count failed) + $(count error) ))"
    echo "tests_skipped=$(count skipped)"
    printf 'tests_seconds=%.0f\n' "$took"
    echo "tests_rc=$rc"
} > "$res"
[ "$rc" -eq 0 ] || die "$T_NAME: pytest failed (rc $rc)"
