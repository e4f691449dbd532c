#!/usr/bin/env bash
# Build the core with AddressSanitizer + UndefinedBehaviorSanitizer into a
# private copy of this checkout and run the whole test suite against it.
#
#   tests/sanitize.sh                               # the whole suite
#   tests/sanitize.sh -x tests/test_bad_input.py    # arguments replace "tests"
#
# The copy is the checkout's HEAD (git archive; OT_SANITIZE_WORKTREE=1 takes
# the working tree as it is, edits and new files included), built apart so
# the shared in-place build is never touched. The ASan runtime
# is preloaded into the (uninstrumented) Python, which every process the
# tests start inherits, tracker subprocesses included; Python allocates with
# plain malloc (PYTHONMALLOC=malloc) so ASan sees every heap block. Leak
# checking is off (the interpreter keeps memory at exit by design; the
# core's own leak check is opentracker_core.allocation_counts()).
#
# Exit status: pytest's, or 1 when any process wrote a sanitizer report
# (reports go to files, so one from a child process whose output a test
# swallowed is still seen). With gcc, UBSan's runtime ignores
# UBSAN_OPTIONS' log_path once ASan's is preloaded and writes to stderr; a
# sitecustomize module on PYTHONPATH points it at the reports folder in
# every Python process, and a canary of each kind proves both are caught.
# Environment: PYTHON (default python3), CC (default gcc; clang works too), OT_SANITIZE (default address,undefined),
# OT_SANITIZE_DIR (default: a new temporary directory, removed afterwards).
# Tests see OT_SANITIZED (the sanitizer list) in their environment.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
CC=${CC:-gcc}
SANITIZERS=${OT_SANITIZE:-address,undefined}
if [ -n "${OT_SANITIZE_DIR:-}" ]; then
    WORK=$OT_SANITIZE_DIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d /tmp/ot-sanitize.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
fi
started=$(date +%s)

if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 && [ -z "${OT_SANITIZE_WORKTREE:-}" ]; then
    echo "== $(git -C "$ROOT" rev-parse --short HEAD) of $ROOT in $WORK"
    git -C "$ROOT" archive HEAD | tar -xf - -C "$WORK"
elif git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "== the working tree of $ROOT (edits included) in $WORK"
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$WORK"
else
    echo "== $ROOT in $WORK"
    tar -C "$ROOT" --exclude=./build --exclude=./.venv --exclude='*.so' -cf - . | tar -xf - -C "$WORK"
fi

echo "== build with -fsanitize=$SANITIZERS ($CC)"
# Always from scratch: a copied tree's timestamps say nothing about a build
# left in a reused OT_SANITIZE_DIR.
rm -rf "$WORK/build" "$WORK/src/opentracker_core/_core.c" "$WORK"/src/opentracker_core/_core*.so "$WORK"/src/opentracker_testcore*.so
BUILD_PATH=
if ! "$PY" -c "import Cython, setuptools" 2>/dev/null; then
    # A CI venv has the package installed but not its build requirements.
    "$PY" -m pip install -q --target "$WORK/.buildtools" "Cython>=3.1,<3.4" "setuptools>=61"
    BUILD_PATH=$WORK/.buildtools
fi
# -O1 whatever Python's own flags say (setuptools drops them when CC is
# set, from version 72 or so), -fno-wrapv so UBSan sees signed overflow even
# where Python builds with -fwrapv (a cross build with its own CC does not),
# -fno-builtin so memcmp, memcpy and friends stay calls into ASan's
# interceptors, which check the whole range (an inlined fixed-size memcmp
# that stops at the first difference hides a read past the end).
# OT_TESTCORE=1: the tests' own build of the core (tests/testbuild/) too, with
# the same instrumentation, beside it (OT_TESTCORE_PREBUILT below).
(cd "$WORK" && PYTHONPATH=$BUILD_PATH CC=$CC LDSHARED="$CC -shared" OT_SANITIZE=$SANITIZERS OT_TESTCORE=1 \
    CFLAGS="${CFLAGS:+$CFLAGS }-O1 -fno-wrapv -fno-builtin" \
    "$PY" setup.py -q build_ext --inplace --force >"$WORK/build.log" 2>&1) || { cat "$WORK/build.log"; exit 1; }
for SO in "$WORK"/src/opentracker_core/_core*.so "$WORK"/src/opentracker_testcore*.so; do
    nm -D "$SO" | grep -c __asan_init >/dev/null || { echo "the build has no ASan instrumentation: $SO"; exit 1; }
done

# Runtimes to preload: the ASan one first (it must come before libc's malloc).
case "$("$CC" --version)" in
    *clang*) ASAN_RT=$("$CC" -print-file-name="libclang_rt.asan-$(uname -m).so") ;;
    *) ASAN_RT=$("$CC" -print-file-name=libasan.so) ;;
esac
[ -f "$ASAN_RT" ] || { echo "no ASan runtime found ($ASAN_RT)"; exit 1; }
REPORTS=$WORK/sanitizer-reports
rm -rf "$REPORTS" "$WORK"/canary.* "$WORK"/canary-ub.*
mkdir -p "$REPORTS"
# Trackers drop privileges (tracker.user nobody): they must still reach the
# copy and write their reports.
chmod 755 "$WORK"
chmod 1777 "$REPORTS"

# UBSan's own runtime (gcc links libubsan beside libasan; clang's ASan
# runtime carries UBSan and honours ASan's log_path already).
UBSAN_RT=
case "$SANITIZERS" in
    *undefined*) case "$("$CC" --version)" in *clang*) ;; *) UBSAN_RT=$("$CC" -print-file-name=libubsan.so) ;; esac ;;
esac
SITE=$WORK/.sanitize-site
mkdir -p "$SITE"
cat > "$SITE/sitecustomize.py" <<'EOF'
# tests/sanitize.sh: send UBSan's reports to a file in every Python process
# (its runtime ignores UBSAN_OPTIONS' log_path when ASan's is preloaded).
import os
if os.environ.get("OT_UBSAN_RT") and os.environ.get("OT_UBSAN_LOG"):
    import ctypes
    ctypes.CDLL(os.environ["OT_UBSAN_RT"]).__sanitizer_set_report_path(os.environ["OT_UBSAN_LOG"].encode())
EOF
export OT_UBSAN_RT=$UBSAN_RT OT_UBSAN_LOG=$REPORTS/ubsan

export LD_PRELOAD="$ASAN_RT${LD_PRELOAD:+ $LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:log_path=$REPORTS/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$REPORTS/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export PYTHONMALLOC=malloc
export PYTHONPATH="$WORK/src:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
# For tests whose figures the sanitizer changes (RSS: shadow memory and the
# quarantine of freed blocks), so they can skip those checks.
export OT_SANITIZED=$SANITIZERS
export OT_TESTCORE_PREBUILT=1

# The suite must import the sanitized copy, not an installed one.
"$PY" - "$WORK" <<'EOF'
import sys
import opentracker, opentracker_core._core as core, opentracker_testcore as testcore
for m in (opentracker, core, testcore):
    assert m.__file__.startswith(sys.argv[1]), "imported %s, not the sanitized copy" % m.__file__
print("== core under test:", core.__file__)
EOF

# A canary: a heap overflow must abort and leave a report, or a clean run
# below would prove nothing.
(ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$WORK/canary" "$PY" -c "
import ctypes
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
ctypes.memmove(ctypes.create_string_buffer(16), libc.malloc(8), 16)
" || true) 2>/dev/null
if ! compgen -G "$WORK/canary.*" >/dev/null; then
    echo "the sanitizer did not catch the canary overflow"; exit 1
fi

# The same for UBSan: undefined behaviour in instrumented code of a child
# whose stderr nobody reads must still leave a report.
case "$SANITIZERS" in *undefined*)
    printf 'int ot_canary_overflow(int x) { return x + 0x7fffffff; }\n' > "$WORK/ubsan-canary.c"
    "$CC" -shared -fPIC -O1 -fno-wrapv -fsanitize="$SANITIZERS" -o "$WORK/ubsan-canary.so" "$WORK/ubsan-canary.c"
    (OT_UBSAN_LOG=$WORK/canary-ub ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$WORK/canary-ub" "$PY" -c "
import ctypes
ctypes.CDLL('$WORK/ubsan-canary.so').ot_canary_overflow(5)
" || true) 2>/dev/null
    if ! compgen -G "$WORK/canary-ub.*" >/dev/null; then
        echo "the sanitizer did not report the canary's undefined behaviour to a file"; exit 1
    fi
    echo "== canaries: ASan and UBSan reports reach files" ;;
esac

echo "== pytest"
set +e
[ "$#" -gt 0 ] || set -- tests
(cd "$WORK" && "$PY" -m pytest -q -p no:cacheprovider "$@")
status=$?
set -e

if compgen -G "$REPORTS/*" >/dev/null; then
    echo "== sanitizer reports"
    for f in "$REPORTS"/*; do echo "--- $f"; cat "$f"; done
    [ "$status" -ne 0 ] || status=1
fi
echo "== sanitizer run: exit $status after $(( $(date +%s) - started )) s"
exit "$status"
