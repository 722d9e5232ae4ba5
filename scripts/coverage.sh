#!/usr/bin/env bash
# coverage.sh [--no-faults] - line and branch coverage of lib/ and tools/:
# builds with gcc --coverage -DHANDLE_COVERAGE (Debug: -O0, asserts on),
# runs ctest (unit and integration tests; the debug library is covered
# through the programs it is preloaded into), the committed fuzz corpora
# through the fuzz harnesses built as plain programs (tests/fuzz/*_replay)
# and the fast fault and security cases of tests/faults/run.sh (disk full,
# removed directory, storms, hostile and bad traces: error paths ctest does
# not reach), then measures with lcov.
#
# Branches on assert() lines are left out of the branch figures (lcov's
# lcov_excl_br_line), as are lines marked LCOV_EXCL_LINE / LCOV_EXCL_START..
# LCOV_EXCL_STOP. Processes that end by abort() or _exit() write their
# counters first (lib/core/coverage.h, HANDLE__COVERAGE_DUMP).
#
# Output in BUILD/coverage: summary.txt (the figures, per directory and per
# file), uncovered.txt (every line and branch not covered, by file), lcov
# data lib_tools.info, and an HTML report in html/ (genhtml).
# Needs lcov (Debian: apt-get install lcov; installed here when missing and
# root). Exit status: 0 when measured (whatever the figures), 1 on failure.
#
# Environment: HANDLE_COVERAGE_BUILD (default build/coverage), HANDLE_JOBS.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
BUILD=${HANDLE_COVERAGE_BUILD:-$ROOT/build/coverage}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=$BUILD/coverage
faults=1
[ "${1:-}" = --no-faults ] && faults=0

if ! command -v lcov >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends lcov >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends lcov >/dev/null; }
    fi
    command -v lcov >/dev/null || { echo "coverage.sh: needs lcov (apt-get install lcov)" >&2; exit 1; }
fi

mkdir -p "$OUT"
echo "coverage.sh: building in $BUILD"
FLAGS="--coverage -DHANDLE_COVERAGE -O0"
if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug \
        -DHANDLE_WERROR=ON -DHANDLE_FUZZ=ON \
        -DCMAKE_C_FLAGS="$FLAGS" -DCMAKE_CXX_FLAGS="$FLAGS" \
        -DCMAKE_EXE_LINKER_FLAGS=--coverage -DCMAKE_SHARED_LINKER_FLAGS=--coverage \
        -DCMAKE_MODULE_LINKER_FLAGS=--coverage \
        && cmake --build "$BUILD" -j"${HANDLE_JOBS:-2}"; } >"$OUT/build.log" 2>&1; then
    tail -30 "$OUT/build.log" >&2
    echo "coverage.sh: build failed" >&2
    exit 1
fi

# Processes that cannot write their counters (run as nobody by the
# security cases) say so here, not on the stderr that tests compare.
# /dev/null: a process run as nobody could not open a file of ours.
export GCOV_ERROR_FILE=/dev/null
# tests/faults/run.sh (also under ctest) then leaves out what would starve
# libgcov itself: RLIMIT_FSIZE (failmalloc.so stops failing when libgcov
# starts writing, so the OOM sweeps run whole).
export FAULT_UNDER_COVERAGE=1
LCOV=(lcov --quiet --rc lcov_branch_coverage=1
      --rc "lcov_excl_br_line=LCOV_EXCL_BR_LINE|assert\\(")
"${LCOV[@]}" --zerocounters --directory "$BUILD" >/dev/null 2>&1
find "$BUILD" -name '*.gcda' -delete

echo "coverage.sh: ctest"
ctest --test-dir "$BUILD" --timeout 900 >"$OUT/ctest.log" 2>&1
ctest_line=$(grep -E 'tests passed' "$OUT/ctest.log" | tail -1)
echo "coverage.sh: $ctest_line"

# The committed fuzz corpora (tests/fuzz/corpus/NAME.tar.xz, minimized
# with libFuzzer's -merge=1) through the harnesses built as plain programs
# (tests/fuzz/NAME_replay): every input is checked as under the fuzzer.
rm -rf "$OUT/corpus"
mkdir -p "$OUT/corpus"
for r in options fmt suppress model_release model_debug trace; do
    tarball=$ROOT/tests/fuzz/corpus/$r.tar.xz
    [ -f "$tarball" ] || continue
    mkdir -p "$OUT/corpus/$r" && tar -C "$OUT/corpus/$r" -xJf "$tarball"
    if [ $r = trace ]; then
        bin=$BUILD/tests/fuzz/trace_replay
        [ -x "$bin" ] || continue
        # trace_replay reads each file where it is: work on copies.
        (cd "$OUT/corpus/trace" && "$bin" ./* >"$OUT/replay.trace.log" 2>&1 \
            && "$bin" "$ROOT"/tests/fuzz/corpus/trace/* >>"$OUT/replay.trace.log" 2>&1) \
            && res=ok || res=FAILED
        echo "coverage.sh: corpus trace: $(grep -c '^read:' "$OUT/replay.trace.log") trace(s) $res"
        continue
    fi
    bin=$BUILD/tests/fuzz/${r}_replay
    [ -x "$bin" ] || continue
    if "$bin" "$OUT/corpus/$r" >"$OUT/replay.$r.log" 2>&1; then res=ok; else res=FAILED; fi
    echo "coverage.sh: corpus $r: $(tail -1 "$OUT/replay.$r.log") $res"
done

if [ $faults -eq 1 ]; then
    export DEBUG_LIB=$BUILD/lib/debug/libhandle-debug.so RELEASE_LIB=$BUILD/lib/libhandle.so
    export INCLUDE_DIR=$ROOT/include CC=gcc
    [ -x "$BUILD/tools/handle-report" ] && export HANDLE_REPORT=$BUILD/tools/handle-report
    [ -x "$BUILD/tests/fuzz/trace_replay" ] && export TRACE_REPLAY=$BUILD/tests/fuzz/trace_replay
    # Not the RLIMIT_FSIZE cases: the counters written at exit would hit the
    # limit too (SIGXFSZ). disk_full_tmpfs reaches the same error paths.
    for c in disk_full_tmpfs trace_dir_removed "eintr 1" \
             "forkstorm 20" "threadstorm 1" "kill9 3" trace_file_security setuid_ignores_options \
             hostile_traces report_inputs report_variants max_history "oom_runtime 80" "oom_report 80"; do
        # shellcheck disable=SC2086
        bash "$ROOT/tests/faults/run.sh" $c >"$OUT/fault.${c%% *}.log" 2>&1
        case $? in 0) r=ok ;; 77) r=skipped ;; *) r=FAILED ;; esac
        echo "coverage.sh: fault case $c: $r"
    done
fi

echo "coverage.sh: lcov"
"${LCOV[@]}" --capture --directory "$BUILD" --output-file "$OUT/all.info" >"$OUT/lcov.log" 2>&1 \
    || { tail "$OUT/lcov.log" >&2; exit 1; }
"${LCOV[@]}" --extract "$OUT/all.info" "$ROOT/lib/*" "$ROOT/tools/*" \
    --output-file "$OUT/lib_tools.info" >>"$OUT/lcov.log" 2>&1 || exit 1
"${LCOV[@]}" --extract "$OUT/all.info" "$ROOT/lib/*" --output-file "$OUT/lib.info" >>"$OUT/lcov.log" 2>&1
"${LCOV[@]}" --extract "$OUT/all.info" "$ROOT/tools/*" --output-file "$OUT/tools.info" >>"$OUT/lcov.log" 2>&1

figures() { # INFO: "lines L/LT (P%), branches B/BT (Q%)"
    awk -F: '
        $1 == "LF" { lf += $2 } $1 == "LH" { lh += $2 }
        $1 == "BRF" { bf += $2 } $1 == "BRH" { bh += $2 }
        END { printf "lines %d/%d (%.1f%%), branches %d/%d (%.1f%%)", lh, lf, lf ? 100 * lh / lf : 0,
              bh, bf, bf ? 100 * bh / bf : 0 }' "$1"
}

{
    echo "coverage of lib/ and tools/ ($(date -u +%Y-%m-%d), gcc $(gcc -dumpversion), lcov, assert() branches excluded)"
    echo "tests: ctest ($ctest_line)$( [ $faults -eq 1 ] && echo ' + tests/faults quick cases')"
    echo "lib/ and tools/: $(figures "$OUT/lib_tools.info")"
    echo "lib/:            $(figures "$OUT/lib.info")"
    echo "tools/:          $(figures "$OUT/tools.info")"
    echo
    echo "per file (lines hit/found, branches hit/found):"
    awk -F: -v root="$ROOT/" '
        $1 == "SF" { f = substr($2, length(root) + 1) }
        $1 == "LF" { lf = $2 } $1 == "LH" { lh = $2 } $1 == "BRF" { bf = $2 } $1 == "BRH" { bh = $2 }
        $0 == "end_of_record" { printf "  %-32s %5d/%-5d %5.1f%%   %5d/%-5d %5.1f%%\n", f, lh, lf,
                                lf ? 100 * lh / lf : 100, bh, bf, bf ? 100 * bh / bf : 100; lf = lh = bf = bh = 0 }
    ' "$OUT/lib_tools.info" | sort
} | tee "$OUT/summary.txt"

# Every line and branch not covered, with its source text.
awk -F'[:,]' -v root="$ROOT/" '
    $1 == "SF" { f = substr($0, 4); short = substr(f, length(root) + 1); print "== " short; n = 0; delete src
                 while ((getline line < f) > 0) src[++n] = line; close(f) }
    $1 == "DA" && $3 == 0 { printf "  %5d  line    %s\n", $2, src[$2] }
    $1 == "BRDA" && ($5 == "-" || $5 == 0) { if (!(($2) in seen)) printf "  %5d  branch  %s\n", $2, src[$2]; seen[$2] = 1 }
    $0 == "end_of_record" { delete seen }
' "$OUT/lib_tools.info" >"$OUT/uncovered.txt"
echo "coverage.sh: uncovered lines and branches: $OUT/uncovered.txt"

if command -v genhtml >/dev/null; then
    genhtml --quiet --branch-coverage --rc lcov_branch_coverage=1 --legend \
        --output-directory "$OUT/html" "$OUT/lib_tools.info" >"$OUT/genhtml.log" 2>&1 \
        && echo "coverage.sh: HTML report: $OUT/html/index.html"
fi
exit 0
