#!/usr/bin/env bash
# A long fuzz run of one harness with a core the fuzzer can see into.
#
#   tests/fuzz/run.sh http -max_total_time=600
#   tests/fuzz/run.sh udp -max_total_time=600 -jobs=1
#
# Builds a private copy of this working tree with clang and
# -fsanitize=address,undefined,fuzzer-no-link (libFuzzer's edge and compare
# coverage in the C core, ASan and UBSan on top), then runs
# tests/fuzz/fuzz_<target>.py under atheris with atheris' ASan + libFuzzer
# runtime preloaded. The seeds in tests/fuzz/corpus/<target> are read, new
# inputs are kept in $OT_FUZZ_WORK/<target> (default /tmp/ot-fuzz), a crash
# is written to the current directory as crash-<sha1>.
#
# Needs: clang (Debian: apt-get install clang) and atheris (pip install
# atheris). Environment: PYTHON (default python3), CC (default clang),
# OT_FUZZ_BUILD (default /tmp/ot-fuzz-build; kept, so a second run only
# rebuilds what changed).
set -euo pipefail

[ "$#" -ge 1 ] || { sed -n '2,20p' "$0"; exit 2; }
TARGET=$1
shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python3}
CC=${CC:-clang}
BUILD=${OT_FUZZ_BUILD:-/tmp/ot-fuzz-build}
HARNESS=$ROOT/tests/fuzz/fuzz_$TARGET.py
[ -f "$HARNESS" ] || { echo "no harness $HARNESS"; exit 2; }
ATHERIS=$("$PY" -c "import atheris; print(atheris.path())") || { echo "pip install atheris first"; exit 2; }
command -v "$CC" >/dev/null || { echo "$CC not found (apt-get install clang)"; exit 2; }

mkdir -p "$BUILD"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -) | tar -xf - -C "$BUILD"
(cd "$BUILD" && CC=$CC LDSHARED="$CC -shared" OT_SANITIZE=address,undefined,fuzzer-no-link \
    "$PY" setup.py -q build_ext --inplace >"$BUILD/build.log" 2>&1) || { tail -30 "$BUILD/build.log"; exit 1; }
SO=$(ls "$BUILD"/src/opentracker_core/_core*.so)
nm -D "$SO" | grep -c __sanitizer_cov >/dev/null || { echo "no libFuzzer coverage in $SO"; exit 1; }

export LD_PRELOAD="$ATHERIS/asan_with_fuzzer.so"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export PYTHONPATH="$BUILD/src${PYTHONPATH:+:$PYTHONPATH}"
# The copy's harness, so it imports the copy's tests/ helpers beside it.
exec "$PY" "$BUILD/tests/fuzz/fuzz_$TARGET.py" "$@"
