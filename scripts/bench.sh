#!/usr/bin/env bash
# scripts/bench.sh - builds the benchmarks under tests/bench in a Release
# (-O2) tree and runs them; prints a table of medians per section and
# writes every per-run figure to BUILD_DIR/results.txt.
#
#   scripts/bench.sh [--quick] [--runs N] [SECTION...]
#   scripts/bench.sh --anchors [--quick] [--runs N] [SECTION...]
#
#   --quick     fewer and shorter runs (about 30 s in all instead of 2 min)
#   --runs N    runs per figure (each figure is the median of the runs)
#   --anchors   the comparisons with other tools (Go's cgo.Handle,
#               heaptrack, gperftools' heap checker, valgrind,
#               heaptrack_print) and the scaling curves with their plots;
#               installs the Debian packages it needs; about 15 minutes
#   SECTION     run only these sections (default: release and debug, or
#               with --anchors the anchors_* ones); see SECTIONS below
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
SECTIONS=(release debug)
ANCHOR_SECTIONS=(anchors_go anchors_tools anchors_report anchors_scaling)

QUICK=0
ANCHORS=0
RUNS=
ONLY=()

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
        --quick) QUICK=1 ;;
        --anchors) ANCHORS=1 ;;
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
            echo "bench.sh: unknown section '$s' (sections: ${SECTIONS[*]} ${ANCHOR_SECTIONS[*]})" >&2
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

# ---- helpers of the process-level sections (debug, anchors_*) ---------

# median: the median of the numbers on stdin, one a line ("nan" if none).
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
        else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# raw SECTION METRIC SUBJECT RUN VALUE UNIT: one line of results.txt.
raw() { echo "$*" >>"$RESULTS"; }

# med SECTION METRIC SUBJECT: the median of that figure's runs so far.
med() {
    awk -v s="$1" -v m="$2" -v j="$3" '$1 == s && $2 == m && $3 == j { print $5 }' \
        "$RESULTS" | median
}

# calc EXPR: floating-point arithmetic (awk), "nan" if an operand is.
calc() { awk "BEGIN { x = $1; print x }" 2>/dev/null || echo nan; }

# fmt VALUE DECIMALS: VALUE rounded, or "-" when it is not a number.
fmt() {
    awk -v v="$1" -v d="$2" 'BEGIN { if (v == "nan" || v == "" || v == "-") print "-";
        else printf "%.*f\n", d, v }'
}

# verdict VALUE OP TARGET: "met" or "MISSED", OP is <= or >=.
verdict() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (v == "nan" || v == "-") { print "no figure"; exit }
        ok = (op == "<=") ? (v <= t) : (v >= t);
        print ok ? "met" : "MISSED" }'
}

# need_debs PKG...: installs the Debian packages that are missing (an
# apt-get update first, once per invocation). The tools compared against
# are not build dependencies, so the sections that use them install them.
APT_UPDATED=0
need_debs() {
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "bench.sh: installing ${missing[*]} from Debian" >&2
    if [ "$APT_UPDATED" = 0 ]; then
        apt-get update -qq >"$BUILD_DIR/apt.log" 2>&1 || true
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
        >>"$BUILD_DIR/apt.log" 2>&1 || {
        tail -20 "$BUILD_DIR/apt.log" >&2
        echo "bench.sh: apt-get install ${missing[*]} failed (root needed)" >&2
        exit 1
    }
}

# Programs of the process-level sections (set by life_build).
BB=
DEBUG_SO=
TCMALLOC=
life_build() {
    build_targets bench_life_handle bench_life_malloc bench_run handle_debug "$@"
    BB=$BUILD_DIR/tests/bench
    DEBUG_SO=$BUILD_DIR/lib/debug/libhandle-debug.so
}

# run_life SUBJECT DIR ARGS...: runs bench_life (ARGS are its options)
# under SUBJECT in a fresh DIR, its working directory, timed by bench_run.
# Leaves DIR/time ("wall_ns user_ns sys_ns maxrss_kb status"), DIR/out
# and DIR/err. Every tool runs with its default options.
#   none-handle, none-malloc   the twins without any tool (release libhandle.so)
#   debug       bench_life_handle, LD_PRELOAD=libhandle-debug.so: trace
#               handle-trace.PID.db in DIR
#   heaptrack   bench_life_malloc under `heaptrack -o DIR/ht` (DIR/ht.zst)
#   heapcheck   bench_life_malloc, LD_PRELOAD=libtcmalloc.so.4 HEAPCHECK=normal
#   memcheck    bench_life_malloc under valgrind --leak-check=full
run_life() {
    local subj=$1 dir=$2
    shift 2
    rm -rf "$dir"
    mkdir -p "$dir"
    local cmd=()
    case $subj in
    none-handle) cmd=("$BB/bench_life_handle" "$@") ;;
    none-malloc) cmd=("$BB/bench_life_malloc" "$@") ;;
    debug) cmd=(env "LD_PRELOAD=$DEBUG_SO" "$BB/bench_life_handle" "$@") ;;
    heaptrack) cmd=(heaptrack -o "$dir/ht" "$BB/bench_life_malloc" "$@") ;;
    heapcheck)
        cmd=(env "LD_PRELOAD=$TCMALLOC" HEAPCHECK=normal "HEAP_CHECK_DUMP_DIRECTORY=$dir"
            PPROF_PATH=/usr/bin/google-pprof
            "$BB/bench_life_malloc" "$@")
        ;;
    memcheck)
        cmd=(valgrind --tool=memcheck --leak-check=full "--log-file=$dir/valgrind.log"
            "$BB/bench_life_malloc" "$@")
        ;;
    *) echo "bench.sh: run_life: unknown subject $subj" >&2; exit 1 ;;
    esac
    (cd "$dir" && env -u HANDLE_OPTIONS "$BB/bench_run" "$dir/time" -- "${cmd[@]}" \
        >"$dir/out" 2>"$dir/err")
}

# field DIR N: field N of DIR/time (1 wall ns, 2 user ns, 3 sys ns,
# 4 max RSS KiB, 5 status).
field() { awk -v n="$2" '{ print $n }' "$1/time"; }
cpu_of() { awk '{ print $2 + $3 }' "$1/time"; }
# outval DIR KEY: the value the program printed on its "KEY VALUE" line.
outval() { awk -v k="$2" '$1 == k { print $2; exit }' "$1/out"; }
# trace_size DIR: bytes of the trace the subject left in DIR (0 if none).
trace_size() {
    local f s=0
    for f in "$1"/handle-trace.*.db* "$1"/ht.*; do
        [ -e "$f" ] && s=$((s + $(stat -c %s "$f")))
    done
    echo "$s"
}
# status_ok DIR WANT: warns when the subject did not exit with WANT.
status_ok() {
    local st
    st=$(field "$1" 5)
    [ "$st" = "$2" ] && return 0
    echo "bench.sh: warning: $(basename "$1") exited with $st (expected $2); see $1/err" >&2
    return 1
}

# row LABEL UNIT VALUE...: one line of a section's table.
row() {
    local label=$1 unit=$2
    shift 2
    printf '%-46s %-6s' "$label" "$unit"
    local v
    for v in "$@"; do printf ' %12s' "$v"; done
    printf '\n'
}

# measure_pair SECTION RUN SUBJECT N [ARGS...]: one run of SUBJECT making
# N lifetimes (ARGS: more bench_life options), and one making a single
# lifetime (start-up and exit alone). Appends, for SUBJECT:
#   wall, cpu          per lifetime, marginal: (whole(N) - whole(1)) / (N - 1)
#   wall_whole, cpu_whole   whole(N) / N
#   startup_wall, startup_cpu   whole(1), ms
#   trace              trace bytes per lifetime, marginal
#   trace_whole        trace bytes / N
#   loop, caller_cpu   the calling thread alone: its loop's wall and CPU per lifetime
measure_pair() {
    local sec=$1 run=$2 subj=$3 n=$4
    shift 4
    local d1=$WORK/$subj-1 dn=$WORK/$subj-n
    run_life "$subj" "$d1" -n 1 "$@"
    run_life "$subj" "$dn" -n "$n" "$@"
    status_ok "$d1" 0 || true
    status_ok "$dn" 0 || true
    local w1 wn c1 cn t1 tn
    w1=$(field "$d1" 1); wn=$(field "$dn" 1)
    c1=$(cpu_of "$d1"); cn=$(cpu_of "$dn")
    t1=$(trace_size "$d1"); tn=$(trace_size "$dn")
    raw "$sec" wall "$subj" "$run" "$(calc "($wn - $w1) / ($n - 1)")" ns
    raw "$sec" cpu "$subj" "$run" "$(calc "($cn - $c1) / ($n - 1)")" ns
    raw "$sec" wall_whole "$subj" "$run" "$(calc "$wn / $n")" ns
    raw "$sec" cpu_whole "$subj" "$run" "$(calc "$cn / $n")" ns
    raw "$sec" startup_wall "$subj" "$run" "$(calc "$w1 / 1e6")" ms
    raw "$sec" startup_cpu "$subj" "$run" "$(calc "$c1 / 1e6")" ms
    raw "$sec" trace "$subj" "$run" "$(calc "($tn - $t1) / ($n - 1)")" bytes
    raw "$sec" trace_whole "$subj" "$run" "$(calc "$tn / $n")" bytes
    raw "$sec" loop "$subj" "$run" "$(outval "$dn" loop_ns_per_life)" ns
    raw "$sec" caller_cpu "$subj" "$run" "$(calc "$(outval "$dn" caller_cpu_ns) / $n")" ns
    raw "$sec" maxrss "$subj" "$run" "$(field "$dn" 4)" KiB
}

# ratio_runs SECTION METRIC A B: appends METRIC's A/B ratio of every run
# as subject ratio_A_B, run by run.
ratio_runs() {
    local sec=$1 m=$2 a=$3 b=$4
    awk -v s="$sec" -v m="$m" -v a="$a" -v b="$b" '
        $1 == s && $2 == m && $3 == a { va[$4] = $5 }
        $1 == s && $2 == m && $3 == b { vb[$4] = $5 }
        END { for (r in va) if (r in vb && vb[r] != 0)
                  printf "%s %s ratio_%s_%s %s %.4f x\n", s, m, a, b, r, va[r] / vb[r] }' \
        "$RESULTS" | sort -k4n >>"$RESULTS.tmp"
    cat "$RESULTS.tmp" >>"$RESULTS"
    rm -f "$RESULTS.tmp"
}

# ---- section debug -----------------------------------------------------

# The debug build against heaptrack, the nearest existing tool: the same
# program makes N handle lifetimes (handle_new + handle_delete, both stacks
# recorded, trace on, default options) or N malloc+free pairs (heaptrack
# records one stack per pair) from a 20-frame stack. Then the debug
# build's memory over 10M lifetimes, `select count(*) from leaks` on a
# 1M-lifetime trace with 100k live, and the first capture in new threads.
section_debug() {
    need_debs heaptrack sqlite3
    life_build
    local sec=debug runs n rss_n rss_every threads
    if [ "$QUICK" = 1 ]; then
        runs=${RUNS:-3} n=200000 rss_n=2000000 rss_every=200000 threads=30
    else
        runs=${RUNS:-5} n=1000000 rss_n=10000000 rss_every=1000000 threads=100
    fi
    WORK=$BUILD_DIR/work-debug
    mkdir -p "$WORK"
    echo
    echo "== debug: libhandle-debug.so vs heaptrack; handle_new+handle_delete vs malloc+free, 20-frame stack =="
    echo "debug: median of $runs runs of $n lifetimes per subject, each process timed whole by bench_run"
    echo "(all its processes: heaptrack's interpreter and compressor included); default options"
    local r subj order
    for ((r = 0; r < runs; r++)); do
        if ((r % 2)); then order=(heaptrack debug); else order=(debug heaptrack); fi
        for subj in "${order[@]}"; do
            measure_pair "$sec" "$r" "$subj" "$n"
        done
        for subj in none-handle none-malloc; do
            run_life "$subj" "$WORK/$subj" -n "$n"
            raw "$sec" wall_whole "$subj" "$r" "$(calc "$(field "$WORK/$subj" 1) / $n")" ns
            raw "$sec" loop "$subj" "$r" "$(outval "$WORK/$subj" loop_ns_per_life)" ns
        done
    done
    local m
    for m in wall cpu wall_whole cpu_whole trace; do
        ratio_runs "$sec" "$m" debug heaptrack
    done

    # Memory over rss_n lifetimes, few live (none but the one being made).
    for ((r = 0; r < 3; r++)); do
        run_life debug "$WORK/rss" -n "$rss_n" -r "$rss_every"
        awk -v r="$r" '$1 == "rss" { printf "debug rss_at_%s debug %s %s KiB\n", $2, r, $3 }' \
            "$WORK/rss/out" >>"$RESULTS"
        local first last
        first=$(awk '$1 == "rss" { print $3; exit }' "$WORK/rss/out")
        last=$(awk '$1 == "rss" { v = $3 } END { print v }' "$WORK/rss/out")
        raw "$sec" rss_first debug "$r" "$first" KiB
        raw "$sec" rss_last debug "$r" "$last" KiB
        raw "$sec" rss_growth debug "$r" "$((last - first))" KiB
        raw "$sec" rss_peak debug "$r" "$(field "$WORK/rss" 4)" KiB
    done

    # count(*) from leaks on a 1M-lifetime trace, 100k of them live.
    local db cnt=
    for ((r = 0; r < 3; r++)); do
        run_life debug "$WORK/leaks" -n 900000 -l 100000
        status_ok "$WORK/leaks" 23 || true
        db=$(ls "$WORK"/leaks/handle-trace.*.db | head -1)
        "$BB/bench_run" "$WORK/q.time" -- sqlite3 "$db" 'select count(*) from leaks' >"$WORK/q.out"
        cnt=$(cat "$WORK/q.out")
        raw "$sec" leaks_count_query sqlite3 "$r" "$(awk '{ print $1 / 1e6 }' "$WORK/q.time")" ms
        "$BB/bench_run" "$WORK/q.time" -- sqlite3 "$db" 'select 1' >/dev/null
        raw "$sec" select_1_query sqlite3 "$r" "$(awk '{ print $1 / 1e6 }' "$WORK/q.time")" ms
        raw "$sec" leaks_trace_bytes debug "$r" "$(stat -c %s "$db")" bytes
    done

    # The first call in each new thread (threads started one at a time).
    for ((r = 0; r < 3; r++)); do
        run_life debug "$WORK/thr-debug" -T "$threads"
        run_life heaptrack "$WORK/thr-heaptrack" -T "$threads"
        run_life none-handle "$WORK/thr-unw" -T "$threads" -U
        for subj in debug heaptrack unw; do
            raw "$sec" thread_first "$subj" "$r" "$(outval "$WORK/thr-$subj" first_ns)" ns
            raw "$sec" thread_steady "$subj" "$r" "$(outval "$WORK/thr-$subj" steady_ns)" ns
            raw "$sec" thread_first_extra "$subj" "$r" "$(outval "$WORK/thr-$subj" first_extra_ns)" ns
        done
    done

    local R=ratio_debug_heaptrack
    echo
    row metric unit debug heaptrack debug/heapt target verdict
    local w c t
    w=$(med $sec wall $R); c=$(med $sec cpu $R); t=$(med $sec trace debug)
    row "wall per lifetime (marginal)" ns "$(fmt "$(med $sec wall debug)" 1)" \
        "$(fmt "$(med $sec wall heaptrack)" 1)" "$(fmt "$w" 3)" "<= 1" "$(verdict "$w" "<=" 1)"
    row "CPU per lifetime, all processes (marginal)" ns "$(fmt "$(med $sec cpu debug)" 1)" \
        "$(fmt "$(med $sec cpu heaptrack)" 1)" "$(fmt "$c" 3)" "<= 1" "$(verdict "$c" "<=" 1)"
    row "trace bytes per lifetime (marginal)" bytes "$(fmt "$t" 1)" \
        "$(fmt "$(med $sec trace heaptrack)" 2)" "-" "<= 48" "$(verdict "$t" "<=" 48)"
    row "wall per lifetime, whole process / N" ns "$(fmt "$(med $sec wall_whole debug)" 1)" \
        "$(fmt "$(med $sec wall_whole heaptrack)" 1)" "$(fmt "$(med $sec wall_whole $R)" 3)"
    row "CPU per lifetime, whole process / N" ns "$(fmt "$(med $sec cpu_whole debug)" 1)" \
        "$(fmt "$(med $sec cpu_whole heaptrack)" 1)" "$(fmt "$(med $sec cpu_whole $R)" 3)"
    row "start-up and exit (1-lifetime run): wall" ms "$(fmt "$(med $sec startup_wall debug)" 1)" \
        "$(fmt "$(med $sec startup_wall heaptrack)" 1)"
    row "start-up and exit (1-lifetime run): CPU" ms "$(fmt "$(med $sec startup_cpu debug)" 1)" \
        "$(fmt "$(med $sec startup_cpu heaptrack)" 1)"
    row "calling thread: loop wall per lifetime" ns "$(fmt "$(med $sec loop debug)" 1)" \
        "$(fmt "$(med $sec loop heaptrack)" 1)"
    row "calling thread: CPU per lifetime" ns "$(fmt "$(med $sec caller_cpu debug)" 1)" \
        "$(fmt "$(med $sec caller_cpu heaptrack)" 1)"
    row "no tool (twin alone): wall per lifetime" ns "$(fmt "$(med $sec wall_whole none-handle)" 1)" \
        "$(fmt "$(med $sec wall_whole none-malloc)" 1)"
    row "peak RSS of the $n-lifetime run" KiB "$(med $sec maxrss debug)" "$(med $sec maxrss heaptrack)"
    echo
    row "debug build, memory over $rss_n lifetimes" unit value target verdict
    local g
    g=$(med $sec rss_growth debug)
    row "RSS after first $rss_every lifetimes" KiB "$(med $sec rss_first debug)"
    row "RSS after $rss_n lifetimes" KiB "$(med $sec rss_last debug)"
    row "growth between the two (flat = bounded)" KiB "$g" "<= 1024" "$(verdict "$g" "<=" 1024)"
    row "peak RSS of the process" KiB "$(med $sec rss_peak debug)"
    echo
    row "count(*) from leaks, 1M lifetimes, 100k live" unit value target verdict
    local q
    q=$(med $sec leaks_count_query sqlite3)
    row "sqlite3 TRACE 'select count(*) from leaks'" ms "$(fmt "$q" 1)" "<= 10" "$(verdict "$q" "<=" 10)"
    row "  (sqlite3 TRACE 'select 1': start-up alone)" ms "$(fmt "$(med $sec select_1_query sqlite3)" 1)"
    row "  count printed" "" "$cnt"
    row "  trace size" MB "$(fmt "$(calc "$(med $sec leaks_trace_bytes debug) / 1e6")" 1)"
    echo
    row "first call in a new thread ($threads threads)" unit debug heaptrack unw_bt
    for m in thread_first thread_steady thread_first_extra; do
        row "$m" ns "$(fmt "$(med $sec $m debug)" 0)" "$(fmt "$(med $sec $m heaptrack)" 0)" \
            "$(fmt "$(med $sec $m unw)" 0)"
    done
    echo "(thread_first: the thread's first lifetime (debug, heaptrack) or unw_backtrace (unw_bt,"
    echo " libunwind alone); thread_steady: the mean of its next 100; extra: first - steady)"
}

# ---- main --------------------------------------------------------------

ARGS=("$@")
parse_args "$@"
[ "$ANCHORS" = 1 ] && SECTIONS=("${ANCHOR_SECTIONS[@]}")
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
