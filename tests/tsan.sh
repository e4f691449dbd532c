#!/usr/bin/env bash
# Build the tests' core (tests/testbuild/) with ThreadSanitizer and run the
# store's concurrency stress test under it (tests/test_store_threads.py:
# four workers on threads of their own sharing one store, a fifth walking
# it; docs/architecture.md, "The store with several workers"); then build
# the shipped core so too and run whole trackers with worker loops under it
# (tests/test_workers_stress.py, tests/test_workers.py).
#
#   tests/tsan.sh                                  # the stress test
#   tests/tsan.sh tests/test_store_threads.py -k budget   # arguments replace the test file
#
# The build goes to build/testcore-sanitize=thread/, where
# tests/helpers/testcore.py looks for an OT_SANITIZE=thread build; the
# in-place build of the core is made only when there is none. The TSan runtime is preloaded
# into the (uninstrumented) interpreter, which is found first: a pyenv shim
# is a shell script, and a shell with libtsan preloaded crashes. No
# suppressions are needed: the threads are the core's own (pthreads started
# by the test build's StoreThreads), CPython runs only in the main thread
# before and after them, and uninstrumented code is not watched.
#
# Exit status: pytest's, or 1 when ThreadSanitizer wrote a report (reports go
# to files, so those of the test's child processes are seen too); a canary
# race proves first that reports reach them.
# Environment: PYTHON (default python3), CC (default gcc), OT_STRESS_OPS
# (requests per worker, default 200000), OT_TSAN_DIR (reports; default a new
# temporary directory, removed afterwards).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')
CC=${CC:-gcc}
export OT_STRESS_OPS=${OT_STRESS_OPS:-200000}
if [ -n "${OT_TSAN_DIR:-}" ]; then
    WORK=$OT_TSAN_DIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d /tmp/ot-tsan.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
fi
started=$(date +%s)

case "$("$CC" --version)" in
    *clang*) TSAN_RT=$("$CC" -print-file-name="libclang_rt.tsan-$(uname -m).so") ;;
    *) TSAN_RT=$("$CC" -print-file-name=libtsan.so) ;;
esac
[ -f "$TSAN_RT" ] || { echo "no ThreadSanitizer runtime found ($TSAN_RT)"; exit 1; }

# The test core takes one class from the shipped core (StoreFullError):
# a checkout without the in-place build gets it, uninstrumented, as the
# suite's own instructions make it.
if ! compgen -G "$ROOT/src/opentracker_core/_core*.so" >/dev/null; then
    echo "== no in-place build of the core: python setup.py build_ext --inplace"
    (cd "$ROOT" && "$PY" setup.py -q build_ext --inplace >"$WORK/build-core.log" 2>&1) \
        || { cat "$WORK/build-core.log"; exit 1; }
fi

echo "== build the test core with -fsanitize=thread ($CC)"
OUT="$ROOT/build/testcore-sanitize=thread"
(cd "$ROOT" && CC=$CC LDSHARED="$CC -shared" OT_SANITIZE=thread OT_TESTCORE=only \
    "$PY" setup.py -q build_ext --force --build-lib "$OUT" --build-temp "$OUT/tmp" >"$WORK/build.log" 2>&1) \
    || { cat "$WORK/build.log"; exit 1; }
SO=$(ls "$OUT"/opentracker_testcore*.so)
nm -D "$SO" | grep -c __tsan_init >/dev/null || { echo "the build has no TSan instrumentation: $SO"; exit 1; }
echo "== built in $(( $(date +%s) - started )) s: $SO"

# The shipped core too, in a copy of the tree (the checkout's files, edits
# included), for the whole-tracker stress test with four worker loops
# (tests/test_workers_stress.py): its tracker processes import this copy.
TREE=$WORK/tree
rm -rf "$TREE"
mkdir -p "$TREE"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$TREE"
else
    tar -C "$ROOT" --exclude=./build --exclude=./.venv --exclude='*.so' -cf - . | tar -xf - -C "$TREE"
fi
rm -f "$TREE"/src/opentracker_core/_core.c "$TREE"/src/opentracker_core/_core*.so
(cd "$TREE" && CC=$CC LDSHARED="$CC -shared" OT_SANITIZE=thread \
    "$PY" setup.py -q build_ext --inplace --force >"$WORK/build-tree.log" 2>&1) \
    || { cat "$WORK/build-tree.log"; exit 1; }
CORE_SO=$(ls "$TREE"/src/opentracker_core/_core*.so)
nm -D "$CORE_SO" | grep -c __tsan_init >/dev/null || { echo "the build has no TSan instrumentation: $CORE_SO"; exit 1; }
echo "== built in $(( $(date +%s) - started )) s: $CORE_SO"

REPORTS=$WORK/reports
rm -rf "$REPORTS" "$WORK"/canary*
mkdir -p "$REPORTS"
TSAN_BASE="halt_on_error=0:exitcode=66:second_deadlock_stack=1"

# A canary: two threads incrementing one int, in instrumented code, must
# leave a report in a file.
printf '%s\n' '#include <pthread.h>' 'static int shared;' \
    'static void *bump(void *a) { for (int i = 0; i < 1000; i++) shared++; return a; }' \
    'void ot_canary_race(void) { pthread_t t; pthread_create(&t, 0, bump, 0); bump(0); pthread_join(t, 0); }' \
    > "$WORK/canary.c"
"$CC" -shared -fPIC -O1 -fsanitize=thread -o "$WORK/canary.so" "$WORK/canary.c"
(LD_PRELOAD=$TSAN_RT TSAN_OPTIONS="$TSAN_BASE:log_path=$WORK/canary-report" "$PY" -c "
import ctypes
ctypes.CDLL('$WORK/canary.so').ot_canary_race()
" || true) 2>/dev/null
if ! compgen -G "$WORK/canary-report.*" >/dev/null; then
    echo "ThreadSanitizer did not report the canary race to a file"; exit 1
fi
echo "== canary: a race reaches a report file"

echo "== pytest, $OT_STRESS_OPS requests per worker"
export OT_SANITIZE=thread
export LD_PRELOAD="$TSAN_RT${LD_PRELOAD:+ $LD_PRELOAD}"
export TSAN_OPTIONS="$TSAN_BASE:log_path=$REPORTS/tsan${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
set +e
if [ "$#" -gt 0 ]; then
    (cd "$ROOT" && "$PY" -m pytest -q -p no:cacheprovider "$@")
    status=$?
else
    (cd "$ROOT" && "$PY" -m pytest -q -p no:cacheprovider tests/test_store_threads.py)
    status=$?
    echo "== the whole tracker with worker loops, its core built with -fsanitize=thread"
    # chmod: the trackers run as root here and write their reports as themselves
    chmod 755 "$WORK"
    chmod 1777 "$REPORTS"
    (cd "$ROOT" && PYTHONPATH="$TREE/src" "$PY" -m pytest -q -p no:cacheprovider \
        tests/test_workers_stress.py tests/test_workers.py)
    [ "$?" -eq 0 ] || status=1
fi
set -e

if compgen -G "$REPORTS/*" >/dev/null; then
    echo "== ThreadSanitizer reports"
    for f in "$REPORTS"/*; do echo "--- $f"; cat "$f"; done
    [ "$status" -ne 0 ] || status=1
fi
echo "== ThreadSanitizer run: exit $status after $(( $(date +%s) - started )) s"
exit "$status"
