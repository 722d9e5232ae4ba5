#!/usr/bin/env bash
# scripts/bench.sh - builds the benchmarks under tests/bench in a Release
# (-O2) tree and runs them; prints a table of medians per section and
# writes every per-run figure to BUILD_DIR/results.txt.
#
#   scripts/bench.sh [--quick] [--runs N] [SECTION...]
#
#   --quick     5 runs of ~10 ms measurements (about 5 s) instead of 11 of ~40 ms (about 20 s)
#   --runs N    runs per figure (each figure is the median of the runs)
#   SECTION     run only these sections (default: all); see SECTIONS below
#
# Environment: HANDLE_BENCH_DIR overrides the build tree (default
# build/bench); CC chooses the compiler as usual for CMake.
#
# This is not a test: ctest never runs it, and no figure here fails a run.
# It takes no more than about two minutes on a 2-core machine.
#
# Adding a section (the debug build, the report tool, ...): write a
# function section_NAME that builds what it needs with `build_targets
# TARGET...`, runs it, appends its raw lines to "$RESULTS" (format:
# "SECTION METRIC SUBJECT RUN VALUE UNIT") and prints its table; then add
# NAME to SECTIONS. Options for a section go in parse_args (e.g. the coming
# --anchors) and reach it through variables.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$(realpath -m "${HANDLE_BENCH_DIR:-$ROOT/build/bench}")
RESULTS=$BUILD_DIR/results.txt
SECTIONS=(release)

QUICK=0
RUNS=
ONLY=()

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
        --quick) QUICK=1 ;;
        --runs)
            [ $# -ge 2 ] || { echo "bench.sh: --runs needs a number" >&2; exit 2; }
            RUNS=$2
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) ONLY+=("$1") ;;
        esac
        shift
    done
    for s in "${ONLY[@]}"; do
        if ! declare -F "section_$s" >/dev/null; then
            echo "bench.sh: unknown section '$s' (sections: ${SECTIONS[*]})" >&2
            exit 2
        fi
    done
}

# Configures the Release tree once per invocation: -O2 (CMake's Release
# default is -O3; the figures are meant for the flags users build with).
CONFIGURED=0
configure() {
    [ "$CONFIGURED" = 1 ] && return
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
        "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG" -DBUILD_TESTING=ON \
        -DHANDLE_SANITIZE= >"$BUILD_DIR/configure.log" 2>&1 || {
        cat "$BUILD_DIR/configure.log" >&2
        echo "bench.sh: configuring $BUILD_DIR failed" >&2
        exit 1
    }
    CONFIGURED=1
}

# build_targets TARGET...: builds only what the section runs.
build_targets() {
    configure
    cmake --build "$BUILD_DIR" --parallel --target "$@" >"$BUILD_DIR/build.log" 2>&1 || {
        cat "$BUILD_DIR/build.log" >&2
        echo "bench.sh: building $* failed" >&2
        exit 1
    }
}

machine_info() {
    local model cores
    model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
    cores=$(nproc)
    echo "machine: ${model:-unknown CPU}, $cores CPUs, Linux $(uname -r)"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
    echo "command: scripts/bench.sh ${ARGS[*]}"
    echo "source:  $(source_version)"
    echo "build:   $BUILD_DIR (Release, -O2), $(cc_version)"
}

# The commit of ROOT, when ROOT is itself a git work tree (not merely a
# directory inside one).
source_version() {
    local top
    top=$(git -C "$ROOT" rev-parse --show-toplevel 2>/dev/null) || top=
    if [ "$top" = "$ROOT" ]; then
        git -C "$ROOT" describe --always --dirty
    else
        echo "not a git checkout"
    fi
}

cc_version() {
    local cc
    cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null)
    "${cc:-cc}" --version 2>/dev/null | head -1
}

# ---- sections ----------------------------------------------------------

# The release library against a mutex-protected slot table (the
# yardstick) and an empty shared-library call (the floor); then the
# handle_value metrics again from the same program built with -fno-plt.
section_release() {
    build_targets bench_release bench_release_noplt
    local args=(--raw "$RESULTS")
    [ "$QUICK" = 1 ] && args+=(--quick)
    [ -n "$RUNS" ] && args+=(--runs "$RUNS")
    echo
    echo "== release: libhandle.so vs yardstick (calls through the PLT, as users link) =="
    "$BUILD_DIR/tests/bench/bench_release" "${args[@]}"
    echo
    echo "== release-noplt: handle_value from a program built with -fno-plt =="
    "$BUILD_DIR/tests/bench/bench_release_noplt" "${args[@]}" --value-only --section release-noplt
}

# ---- main --------------------------------------------------------------

ARGS=("$@")
parse_args "$@"
[ ${#ONLY[@]} -gt 0 ] && SECTIONS=("${ONLY[@]}")
mkdir -p "$BUILD_DIR"
: >"$RESULTS"
configure
{
    machine_info | sed 's/^/# /'
    echo "# SECTION METRIC SUBJECT RUN VALUE UNIT"
} >>"$RESULTS"
machine_info
for s in "${SECTIONS[@]}"; do
    "section_$s"
done
echo
echo "raw results: $RESULTS"
