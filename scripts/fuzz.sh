#!/usr/bin/env bash
# fuzz.sh [SECONDS] [TARGET...] - builds the libFuzzer targets of tests/fuzz
# with clang (-DHANDLE_FUZZ=ON, in its own build directory) and runs each
# for SECONDS (default 60), HANDLE_FUZZ_JOBS of them at a time.
#
# Targets (default: all): options_fuzz fmt_fuzz suppress_fuzz trace_fuzz
# model_release_fuzz model_debug_fuzz. Each keeps a working corpus in
# BUILD/corpus/TARGET, which grows from run to run and starts from the
# committed corpora in tests/fuzz/corpus (NAME.tar.xz, and the real traces
# of trace/; read-only); findings go to BUILD/artifacts/. Every run appends a line to BUILD/runs.tsv (date,
# target, seconds, executions, exec/s, coverage, corpus size, result), the
# record of how much fuzzing was done.
#
# Exit status: 0 when every target ran its time without a finding; 1 on any
# crash, leak, timeout, out-of-memory or model disagreement (the artifact
# and the last lines of the log are printed); 2 when the build fails.
#
# Environment:
#   HANDLE_FUZZ_BUILD  build directory (default build/fuzz)
#   HANDLE_FUZZ_JOBS   targets run at once (default: the number of CPUs)
#   HANDLE_FUZZ_ARGS   extra libFuzzer arguments for every target
#   CC                 the clang to build with (default clang)
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
SECONDS_EACH=${1:-60}
shift || true
ALL_TARGETS=(options_fuzz fmt_fuzz suppress_fuzz trace_fuzz model_release_fuzz model_debug_fuzz)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")
BUILD=${HANDLE_FUZZ_BUILD:-$ROOT/build/fuzz}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
JOBS=${HANDLE_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
CLANG=${CC:-clang}
case $SECONDS_EACH in '' | *[!0-9]*) echo "usage: fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;; esac

echo "fuzz.sh: building in $BUILD with $CLANG"
mkdir -p "$(dirname "$BUILD")"
if ! cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER="$CLANG" -DHANDLE_FUZZ=ON \
        -DHANDLE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD.configure.log" 2>&1; then
    cat "$BUILD.configure.log" >&2
    echo "fuzz.sh: configure failed" >&2
    exit 2
fi
rm -f "$BUILD.configure.log"
if ! cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}" >"$BUILD/build.log" 2>&1; then
    tail -40 "$BUILD/build.log" >&2
    echo "fuzz.sh: build failed (clang with libFuzzer: Debian's clang and libclang-rt-dev)" >&2
    exit 2
fi

mkdir -p "$BUILD/artifacts" "$BUILD/logs"
bin=$BUILD/tests/fuzz
src=$ROOT/tests/fuzz

# Per-target libFuzzer arguments and seed corpus.
args_of() {
    case $1 in
    options_fuzz) echo "-max_len=4096 -dict=$src/options.dict" ;;
    fmt_fuzz) echo "-max_len=2048" ;;
    suppress_fuzz) echo "-max_len=4096 -dict=$src/suppress.dict" ;;
    trace_fuzz) echo "-max_len=65536 -dict=$src/trace.dict -timeout=20" ;;
    model_*) echo "-max_len=4096" ;;
    esac
}
# The seeds: the committed corpus of the target, tests/fuzz/corpus/NAME.tar.xz
# (minimized with -merge=1 after the long runs), unpacked into BUILD/seeds,
# and for trace_fuzz the real traces of tests/fuzz/corpus/trace.
seeds_of() {
    local name=${1%_fuzz} dirs=""
    if [ -f "$src/corpus/$name.tar.xz" ]; then
        rm -rf "$BUILD/seeds/$name"
        mkdir -p "$BUILD/seeds/$name"
        tar -C "$BUILD/seeds/$name" -xJf "$src/corpus/$name.tar.xz" && dirs="$BUILD/seeds/$name"
    fi
    [ "$1" = trace_fuzz ] && dirs="$dirs $src/corpus/trace"
    echo "$dirs"
}

# run_target NAME: runs one target for SECONDS_EACH; writes its log and a
# result line to $BUILD/logs/NAME.result.
run_target() {
    local t=$1 log=$BUILD/logs/$1.log corpus=$BUILD/corpus/$1 rc=0
    mkdir -p "$corpus"
    # shellcheck disable=SC2046
    (cd "$BUILD" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$bin/$t" \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=10 -rss_limit_mb=2560 \
        -artifact_prefix="$BUILD/artifacts/$t-" $(args_of "$t") ${HANDLE_FUZZ_ARGS:-} \
        "$corpus" $(seeds_of "$t")) >"$log" 2>&1 || rc=$?
    local execs rate cov corp
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 | sed 's/cov: //; s/ ft: /\//')
    corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | sed 's/corp: //')
    local result=ok
    if [ "$rc" -ne 0 ] || grep -qE '^==[0-9]+== ?ERROR: libFuzzer|^SUMMARY: |deadly signal' "$log"; then
        result="FINDING(rc=$rc)"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$t" "$SECONDS_EACH" \
        "${execs:-0}" "${rate:-0}" "${cov:-?}" "${corp:-?}" "$result" >"$BUILD/logs/$t.result"
}

echo "fuzz.sh: ${#TARGETS[@]} target(s), ${SECONDS_EACH}s each, $JOBS at a time"
running=0
for t in "${TARGETS[@]}"; do
    [ -x "$bin/$t" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
    rm -f "$BUILD/logs/$t.result"
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

status=0
[ -f "$BUILD/runs.tsv" ] || printf 'date\ttarget\tseconds\texecutions\texec/s\tcov/ft\tcorpus\tresult\n' >"$BUILD/runs.tsv"
printf '\n%-20s %12s %8s %12s %12s  %s\n' target executions exec/s cov/ft corpus result
for t in "${TARGETS[@]}"; do
    f=$BUILD/logs/$t.result
    if [ ! -f "$f" ]; then
        echo "fuzz.sh: $t left no result" >&2
        status=1
        continue
    fi
    cat "$f" >>"$BUILD/runs.tsv"
    IFS=$'\t' read -r _ name _ execs rate cov corp result <"$f"
    printf '%-20s %12s %8s %12s %12s  %s\n' "$name" "$execs" "$rate" "$cov" "$corp" "$result"
    if [ "$result" != ok ]; then
        status=1
        echo "---- $name: last lines of $BUILD/logs/$name.log" >&2
        grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse|INITED)' "$BUILD/logs/$name.log" | tail -30 >&2
        ls -1 "$BUILD/artifacts/$name-"* 2>/dev/null | sed 's/^/artifact: /' >&2
    fi
done
echo "fuzz.sh: record of all runs: $BUILD/runs.tsv"
exit "$status"
