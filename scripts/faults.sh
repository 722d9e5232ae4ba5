#!/usr/bin/env bash
# faults.sh [--quick] [CASE...] - builds libhandle (normal build, gcc) and
# runs the fault and security tests of tests/faults/run.sh against the
# debug library: kill -9 at 50 random moments, disk full (RLIMIT_FSIZE, a
# tiny tmpfs as root, log_path), EINTR storms, fork storms, thread storms,
# the trace directory removed, out-of-memory sweeps, and the security cases
# (trace and log_path mode and symlinks, secure_getenv under setuid,
# constant SQL, hostile and bad traces given to handle-report).
#
# Not run by test.sh (a full run takes a few minutes); --quick runs the
# small sizes that ctest can afford (see tests/faults/run.sh for the cases).
# Exit status: 0 when every case passed or was skipped (run.sh exit 77: it
# cannot run here, and says why), 1 otherwise.
#
# Environment: HANDLE_FAULTS_BUILD (build directory, default
# build/faults), HANDLE_JOBS (build parallelism, default 2), FAULT_SEED
# (the kill moments), FAULT_KEEP (keep the work files of the cases).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
BUILD=${HANDLE_FAULTS_BUILD:-$ROOT/build/faults}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
quick=0
if [ "${1:-}" = --quick ]; then quick=1; shift; fi

if [ $quick -eq 1 ]; then
    ALL=("kill9 5" disk_full_rlimit disk_full_log_path disk_full_tmpfs "eintr 1" "forkstorm 30"
         "threadstorm 1" trace_dir_removed trace_file_security setuid_ignores_options
         sql_prepared_only hostile_traces hostile_traces_dos report_inputs report_variants
         max_history "oom_runtime 20" "oom_report 20")
else
    ALL=("kill9 50" disk_full_rlimit disk_full_log_path disk_full_tmpfs "eintr 3" "forkstorm 200"
         "threadstorm 3" trace_dir_removed trace_file_security setuid_ignores_options
         sql_prepared_only hostile_traces hostile_traces_dos report_inputs report_variants max_history
         "oom_runtime 150" "oom_report 150")
fi
CASES=("$@")
[ ${#CASES[@]} -eq 0 ] && CASES=("${ALL[@]}")

echo "faults.sh: building in $BUILD"
# -DHANDLE_FUZZ=ON with gcc builds tests/fuzz's trace_replay (ASan+UBSan)
# only, for the hostile-trace cases.
if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER=gcc -DHANDLE_WERROR=ON -DHANDLE_FUZZ=ON \
        && cmake --build "$BUILD" -j"${HANDLE_JOBS:-2}"; } >"$BUILD.log" 2>&1; then
    tail -30 "$BUILD.log" >&2
    echo "faults.sh: build failed" >&2
    exit 1
fi
rm -f "$BUILD.log"
export DEBUG_LIB=$BUILD/lib/debug/libhandle-debug.so
export RELEASE_LIB=$BUILD/lib/libhandle.so
export INCLUDE_DIR=$ROOT/include
export CC=${CC:-gcc}
[ -x "$BUILD/tools/handle-report" ] && export HANDLE_REPORT=$BUILD/tools/handle-report
[ -x "$BUILD/tests/fuzz/trace_replay" ] && export TRACE_REPLAY=$BUILD/tests/fuzz/trace_replay
[ -f "$DEBUG_LIB" ] || { echo "faults.sh: no debug library in $BUILD" >&2; exit 1; }

names=() results=() times=()
for c in "${CASES[@]}"; do
    printf '\n======== faults: %s ========\n' "$c"
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    bash "$ROOT/tests/faults/run.sh" $c
    case $? in 0) r=ok ;; 77) r=skipped ;; *) r=FAILED ;; esac
    names+=("$c") results+=("$r") times+=("$(( ($(date +%s%N) - t0) / 1000000 ))")
done

printf '\n======== faults: summary ========\n'
status=0
for i in "${!names[@]}"; do
    printf '%-26s %-7s %7.1fs\n' "${names[$i]}" "${results[$i]}" "$(awk -v m="${times[$i]}" 'BEGIN{print m/1000}')"
    # skipped (exit 77): the case cannot run here and said why; not a failure
    [ "${results[$i]}" = FAILED ] && status=1
done
exit $status
