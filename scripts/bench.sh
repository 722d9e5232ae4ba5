#!/usr/bin/env bash
# scripts/bench.sh - builds the benchmarks under tests/bench in a Release
# (-O2) tree and runs them; prints a table of medians per section and
# writes every per-run figure to BUILD_DIR/results.txt.
#
#   scripts/bench.sh [--quick] [--runs N] [SECTION...]
#   scripts/bench.sh --anchors [--quick] [--runs N] [SECTION...]
#   scripts/bench.sh --baseline REV [--quick] [--runs N] [SECTION...]
#
#   --quick     fewer and shorter runs (about 30 s in all instead of 2 min)
#   --runs N    runs per figure (each figure is the median of the runs)
#   --anchors   the comparisons with other tools (Go's cgo.Handle,
#               heaptrack, gperftools' heap checker, valgrind,
#               heaptrack_print) and the scaling curves with their plots;
#               installs the Debian packages it needs; about 6 minutes
#   --baseline REV  adds section baseline: builds the libraries of REV (a
#               git revision of this repository) in their own Release tree
#               (a detached worktree under the build tree) and times this
#               tree's libhandle.so and libhandle-debug.so against REV's,
#               the two alternating run by run in the same invocation
#   SECTION     run only these sections (default: release and debug, or
#               with --anchors the anchors_* ones; baseline is added
#               whenever --baseline is given); see SECTIONS below
#
# Environment: HANDLE_BENCH_DIR overrides the build tree (default
# build/bench); CC chooses the compiler as usual for CMake.
#
# This is not a test: ctest never runs it, and no figure here fails a run.
# The plain run (sections release and debug) takes about two minutes on a
# 2-core machine plus the build; --anchors about six; section baseline
# under a minute plus building REV's libraries (once). --anchors writes its
# plots beside BENCHMARKS.md (bench-*.png; with --quick, into the build
# tree instead).
#
# Adding a section: write a function section_NAME that builds what it
# needs with `build_targets TARGET...`, runs it, appends its raw lines to
# "$RESULTS" (format: "SECTION METRIC SUBJECT RUN VALUE UNIT") and prints
# its table; then add NAME to SECTIONS (or ANCHOR_SECTIONS). Sections
# that time whole processes use run_life/measure_pair and bench_run.
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
BASELINE=     # --baseline REV, as given
BASE_COMMIT=  # and the commit it names

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
        --baseline)
            [ $# -ge 2 ] || { echo "bench.sh: --baseline needs a git revision" >&2; exit 2; }
            BASELINE=$2
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
            echo "bench.sh: unknown section '$s' (sections: ${SECTIONS[*]} ${ANCHOR_SECTIONS[*]} baseline)" >&2
            exit 2
        fi
        if [ "$s" = baseline ] && [ -z "$BASELINE" ]; then
            echo "bench.sh: section baseline needs --baseline REV" >&2
            exit 2
        fi
    done
    if [ -n "$RUNS" ] && ! [[ $RUNS =~ ^[1-9][0-9]*$ ]]; then
        echo "bench.sh: --runs needs a positive number, not '$RUNS'" >&2
        exit 2
    fi
    if [ -n "$BASELINE" ]; then
        BASE_COMMIT=$(git -C "$ROOT" rev-parse --verify --quiet "$BASELINE^{commit}") || {
            echo "bench.sh: --baseline $BASELINE: not a commit of the repository at $ROOT" >&2
            exit 2
        }
    fi
}

# Configures the Release tree once per invocation: -O2 (CMake's Release
# default is -O3; the figures are meant for the flags users build with).
# configure_tree SRC DIR: a Release -O2 tree of SRC in DIR (exits on failure).
configure_tree() {
    cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release \
        "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG" -DBUILD_TESTING=ON \
        -DHANDLE_SANITIZE= >"$2/configure.log" 2>&1 || {
        cat "$2/configure.log" >&2
        echo "bench.sh: configuring $2 (from $1) failed" >&2
        exit 1
    }
}
CONFIGURED=0
configure() {
    [ "$CONFIGURED" = 1 ] && return
    configure_tree "$ROOT" "$BUILD_DIR"
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
    [ -n "$BASELINE" ] &&
        echo "baseline: $BASELINE = $(git -C "$ROOT" log -1 --format='%h %s' "$BASE_COMMIT" | cut -c1-70)"
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
CUR_PRELOAD=   # section baseline: LD_PRELOAD of run_life's debug-current
BASE_PRELOAD=  # and of debug-base
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
#   debug-current, debug-base   the same, LD_PRELOAD=$CUR_PRELOAD or
#               $BASE_PRELOAD (section baseline: each tree's debug and
#               release libraries)
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
    debug)
        cmd=(env "LD_PRELOAD=$DEBUG_SO" ${LIFE_OPTS:+"HANDLE_OPTIONS=$LIFE_OPTS"}
            "$BB/bench_life_handle" "$@")
        ;;
    debug-current) cmd=(env "LD_PRELOAD=$CUR_PRELOAD" "$BB/bench_life_handle" "$@") ;;
    debug-base) cmd=(env "LD_PRELOAD=$BASE_PRELOAD" "$BB/bench_life_handle" "$@") ;;
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
    if [ "$subj" = heaptrack ]; then
        # heaptrack's file is zstd-compressed; its size before compression:
        local u1 un
        u1=$(zstd -dc "$d1"/ht.zst 2>/dev/null | wc -c); un=$(zstd -dc "$dn"/ht.zst 2>/dev/null | wc -c)
        raw "$sec" trace_uncompressed "$subj" "$run" "$(calc "($un - $u1) / ($n - 1)")" bytes
    fi
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
    need_debs heaptrack zstd sqlite3
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
    row "  heaptrack's trace before zstd" bytes "" "$(fmt "$(med $sec trace_uncompressed heaptrack)" 2)"
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

# ---- section baseline (--baseline REV) ---------------------------------

# baseline_build: REV's libhandle.so and libhandle-debug.so, built in their
# own Release (-O2) tree, configured as configure() configures this one,
# from a detached git worktree of REV under the build tree. A worktree
# left by an earlier run is reused when it holds REV unchanged, else
# removed and made again. Sets BASE_LIB and BASE_DEBUG_SO (real paths).
BASE_LIB=
BASE_DEBUG_SO=
baseline_build() {
    local src=$BUILD_DIR/baseline-src bld=$BUILD_DIR/baseline-build
    git -C "$ROOT" worktree prune
    if [ -e "$src" ] && { [ "$(git -C "$src" rev-parse --show-toplevel 2>/dev/null)" != "$src" ] ||
        [ "$(git -C "$src" rev-parse HEAD 2>/dev/null)" != "$BASE_COMMIT" ] ||
        [ -n "$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null)" ]; }; then
        echo "bench.sh: replacing the baseline worktree $src" >&2
        git -C "$ROOT" worktree remove --force "$src" >/dev/null 2>&1 || rm -rf "$src"
        git -C "$ROOT" worktree prune
        rm -rf "$bld"
    fi
    if [ ! -e "$src" ]; then
        rm -rf "$bld"
        git -C "$ROOT" worktree add --detach "$src" "$BASE_COMMIT" >"$BUILD_DIR/baseline-worktree.log" 2>&1 || {
            cat "$BUILD_DIR/baseline-worktree.log" >&2
            echo "bench.sh: git worktree add $src $BASE_COMMIT failed" >&2
            exit 1
        }
    fi
    mkdir -p "$bld"
    configure_tree "$src" "$bld"
    cmake --build "$bld" --parallel --target handle handle_debug >"$bld/build.log" 2>&1 || {
        cat "$bld/build.log" >&2
        echo "bench.sh: building $BASELINE's libraries in $bld failed" >&2
        exit 1
    }
    BASE_LIB=$(realpath "$bld/lib/libhandle.so.1")
    BASE_DEBUG_SO=$(realpath "$bld/lib/debug/libhandle-debug.so")
}

# loaded_handle_libs PRELOAD PROG ARGS...: the libhandle* files the dynamic
# loader maps for PROG ARGS under LD_PRELOAD=PRELOAD, as real paths, one a
# line, sorted (from LD_DEBUG=libs: "calling init: FILE" for every object
# it initialises). PROG runs in $WORK (a debug run leaves its trace there).
loaded_handle_libs() {
    local pre=$1 f
    shift
    (cd "$WORK" && env -u HANDLE_OPTIONS "LD_PRELOAD=$pre" LD_DEBUG=libs "$@" 2>&1 >/dev/null) |
        sed -n 's/^ *[0-9]*:[[:space:]]*calling init: //p' | grep '/libhandle[^/]*$' |
        while read -r f; do realpath "$f"; done | sort -u
}

# check_preload WHAT PRELOAD PROG ARGS...: fails the run unless the
# libhandle* files mapped under LD_PRELOAD=PRELOAD are exactly PRELOAD's
# (the program's own DT_NEEDED libhandle.so.1 is then satisfied by the
# preloaded file of the same soname, not loaded a second time).
check_preload() {
    local what=$1 pre=$2 got want
    shift 2
    got=$(loaded_handle_libs "$pre" "$@")
    want=$(for f in $pre; do realpath "$f"; done | sort -u)
    if [ "$got" != "$want" ]; then
        echo "bench.sh: baseline: $what: LD_PRELOAD=$pre maps" >&2
        echo "${got:-  (no libhandle file)}" | sed 's/^/  /' >&2
        echo "bench.sh: expected exactly the preloaded files" >&2
        exit 1
    fi
    echo "  $what: $(echo "$got" | tr '\n' ' ')"
}

# diff_runs SECTION METRIC A B: appends METRIC's A - B difference of every
# run as subject diff_A_B, run by run.
diff_runs() {
    local sec=$1 m=$2 a=$3 b=$4
    awk -v s="$sec" -v m="$m" -v a="$a" -v b="$b" '
        $1 == s && $2 == m && $3 == a { va[$4] = $5; u = $6 }
        $1 == s && $2 == m && $3 == b { vb[$4] = $5 }
        END { for (r in va) if (r in vb)
                  printf "%s %s diff_%s_%s %s %.4f %s\n", s, m, a, b, r, va[r] - vb[r], u }' \
        "$RESULTS" | sort -k4n >>"$RESULTS.tmp"
    cat "$RESULTS.tmp" >>"$RESULTS"
    rm -f "$RESULTS.tmp"
}

# This tree's libraries against REV's (--baseline REV), in one invocation,
# the two alternating run by run (current first in even runs, REV first in
# odd ones) so that the machine's drift reaches both:
#   release  this tree's bench_release (--lib-only, the handle_value loops
#            and new+delete), run once with LD_PRELOAD of this tree's
#            libhandle.so.1 file and once with REV's; each process's figure
#            is the median of its own inner runs
#   debug    bench_life_handle making N lifetimes, as section debug does,
#            under LD_PRELOAD of each tree's libhandle-debug.so and
#            libhandle.so.1 (marginal wall and CPU per lifetime)
# The verdicts are the issue's: handle_value at most 0.3 ns and
# new+delete at most 1 ns slower than REV (the median of the per-run
# differences).
section_baseline() {
    need_debs sqlite3
    life_build bench_release
    baseline_build
    local sec=baseline runs druns inner ms n
    if [ "$QUICK" = 1 ]; then
        runs=${RUNS:-5} druns=${RUNS:-3} inner=3 ms=10 n=200000
    else
        runs=${RUNS:-11} druns=${RUNS:-5} inner=5 ms=40 n=1000000
    fi
    local cur_lib cur_debug
    cur_lib=$(realpath "$BUILD_DIR/lib/libhandle.so.1")
    cur_debug=$(realpath "$DEBUG_SO")
    CUR_PRELOAD="$cur_debug $cur_lib"
    BASE_PRELOAD="$BASE_DEBUG_SO $BASE_LIB"
    WORK=$BUILD_DIR/work-baseline
    rm -rf "$WORK"
    mkdir -p "$WORK"
    local short
    short=$(git -C "$ROOT" rev-parse --short "$BASE_COMMIT")
    echo
    echo "== baseline: this tree ($(source_version)) vs $BASELINE ($short), both built Release -O2 =="
    echo "libhandle* files mapped under each LD_PRELOAD (LD_DEBUG=libs):"
    check_preload "bench_release, current" "$cur_lib" "$BB/bench_release" --help
    check_preload "bench_release, $short" "$BASE_LIB" "$BB/bench_release" --help
    check_preload "bench_life_handle, current" "$CUR_PRELOAD" "$BB/bench_life_handle" -n 1
    check_preload "bench_life_handle, $short" "$BASE_PRELOAD" "$BB/bench_life_handle" -n 1

    # Release: one bench_release process per subject and run.
    local metrics=(value_x8 value_loop value_chain new_delete)
    local mlist
    mlist=$(IFS=,; echo "${metrics[*]}")
    echo "release: median of $runs runs; a run is one bench_release process per library"
    echo "(--lib-only --metrics $mlist, its figure the median of $inner inner runs of ~$ms ms)"
    local r subj order lib m
    for ((r = 0; r < runs; r++)); do
        if ((r % 2)); then order=(base current); else order=(current base); fi
        for subj in "${order[@]}"; do
            lib=$cur_lib
            [ "$subj" = base ] && lib=$BASE_LIB
            rm -f "$WORK/rel.raw"
            env -u HANDLE_OPTIONS "LD_PRELOAD=$lib" "$BB/bench_release" --lib-only \
                --metrics "$mlist" --runs "$inner" --ms "$ms" --section inner \
                --raw "$WORK/rel.raw" >"$WORK/rel-$subj.out" 2>&1 || {
                cat "$WORK/rel-$subj.out" >&2
                echo "bench.sh: baseline: bench_release under $lib failed" >&2
                exit 1
            }
            for m in "${metrics[@]}"; do
                raw "$sec" "$m" "$subj" "$r" \
                    "$(awk -v m="$m" '$2 == m && $3 == "lib" { print $5 }' "$WORK/rel.raw" | median)" ns
            done
        done
    done
    for m in "${metrics[@]}"; do
        diff_runs "$sec" "$m" current base
        ratio_runs "$sec" "$m" current base
    done

    # Debug: marginal cost per lifetime under each tree's debug library.
    echo "debug: median of $druns runs of $n lifetimes per library, bench_life_handle timed whole by"
    echo "bench_run; per lifetime = (whole(N) - whole(1)) / (N - 1); default options, trace on"
    for ((r = 0; r < druns; r++)); do
        if ((r % 2)); then order=(debug-base debug-current); else order=(debug-current debug-base); fi
        for subj in "${order[@]}"; do
            measure_pair "$sec" "$r" "$subj" "$n"
        done
    done
    for m in wall cpu wall_whole cpu_whole trace startup_wall; do
        diff_runs "$sec" "$m" debug-current debug-base
        ratio_runs "$sec" "$m" debug-current debug-base
    done

    echo
    row "metric" unit current "$short" "cur-$short" "cur/$short" target verdict
    local label d t c b
    for m in "${metrics[@]}"; do
        t=-
        case $m in
        value_x8) label="handle_value, unrolled x8 (throughput)" t=0.3 ;;
        value_loop) label="handle_value, simple loop" t=0.3 ;;
        value_chain) label="handle_value, dependent chain (latency)" ;;
        new_delete) label="handle_new+handle_delete" t=1 ;;
        esac
        d=$(med $sec "$m" diff_current_base)
        c=$(fmt "$(med $sec "$m" current)" 2); b=$(fmt "$(med $sec "$m" base)" 2)
        if [ "$t" = - ]; then
            row "$label" ns "$c" "$b" "$(fmt "$d" 2)" "$(fmt "$(med $sec "$m" ratio_current_base)" 3)"
        else
            row "$label" ns "$c" "$b" "$(fmt "$d" 2)" "$(fmt "$(med $sec "$m" ratio_current_base)" 3)" \
                "<= +$t" "$(verdict "$d" "<=" "$t")"
        fi
    done
    for m in wall cpu wall_whole cpu_whole trace startup_wall; do
        local u=ns dec=1
        case $m in
        wall) label="debug: wall per lifetime (marginal)" ;;
        cpu) label="debug: CPU per lifetime, all threads, marginal" ;;
        wall_whole) label="debug: wall per lifetime, whole process / N" ;;
        cpu_whole) label="debug: CPU per lifetime, whole process / N" ;;
        trace) label="debug: trace bytes per lifetime (marginal)" u=bytes dec=2 ;;
        startup_wall) label="debug: start-up and exit (1-lifetime run)" u=ms ;;
        esac
        row "$label" "$u" "$(fmt "$(med $sec "$m" debug-current)" $dec)" \
            "$(fmt "$(med $sec "$m" debug-base)" $dec)" \
            "$(fmt "$(med $sec "$m" diff_debug-current_debug-base)" $dec)" \
            "$(fmt "$(med $sec "$m" ratio_debug-current_debug-base)" 3)"
    done
    echo "(current, $short: medians of the runs; cur-$short and cur/$short: medians of the per-run"
    echo " differences and ratios, current minus or over $short; > 0 and > 1: current is slower)"
    local dx dl dn vx vl vn vv
    dx=$(med $sec value_x8 diff_current_base); dl=$(med $sec value_loop diff_current_base)
    dn=$(med $sec new_delete diff_current_base)
    vx=$(verdict "$dx" "<=" 0.3); vl=$(verdict "$dl" "<=" 0.3); vn=$(verdict "$dn" "<=" 1)
    vv=met
    [ "$vx" = met ] && [ "$vl" = met ] || vv=MISSED
    [ "$vx" = "no figure" ] || [ "$vl" = "no figure" ] && vv="no figure"
    echo
    echo "verdict: handle_value at most 0.3 ns slower than $short: $vv" \
        "(unrolled x8 $(fmt "$dx" 2) ns, simple loop $(fmt "$dl" 2) ns)"
    echo "verdict: handle_new+handle_delete at most 1 ns slower than $short: $vn ($(fmt "$dn" 2) ns)"
}

# ---- sections anchors_* (--anchors) -----------------------------------

# anchors_runs: runs per figure in the anchors sections.
anchors_runs() { if [ -n "$RUNS" ]; then echo "$RUNS"; elif [ "$QUICK" = 1 ]; then echo 3; else echo 7; fi; }

# 1. The release build against Go 1.19's runtime/cgo.Handle: the Go
# benchmarks of tests/bench/go (standard library, cgo, no network) and
# their C twin bench_vs_go, run alternately; ratios Go/C run by run.
section_anchors_go() {
    need_debs golang-go
    build_targets bench_vs_go
    local sec=anchors-go runs ms gdir
    runs=$(anchors_runs)
    ms=300
    [ "$QUICK" = 1 ] && ms=100
    gdir=$BUILD_DIR/go
    mkdir -p "$gdir"
    (cd "$ROOT/tests/bench/go" && CGO_ENABLED=1 GOPROXY=off GOFLAGS=-mod=mod GOWORK=off \
        GOCACHE="$gdir/cache" GOPATH="$gdir/path" go test -c -o "$gdir/handlebench.test" .) \
        >"$gdir/build.log" 2>&1 || {
        cat "$gdir/build.log" >&2
        echo "bench.sh: building the Go benchmark failed" >&2
        exit 1
    }
    echo
    echo "== anchors-go: libhandle.so vs Go $(go env GOVERSION) runtime/cgo.Handle =="
    echo "anchors-go: median of $runs runs, each ~${ms} ms per loop; Go: -test.benchtime ${ms}ms -test.cpu 2"
    local r m
    for ((r = 0; r < runs; r++)); do
        "$BUILD_DIR/tests/bench/bench_vs_go" --ms "$ms" >"$gdir/c.out"
        "$gdir/handlebench.test" -test.run '^$' -test.bench . -test.benchtime "${ms}ms" \
            -test.cpu 2 >"$gdir/go.out"
        awk -v s="$sec" -v r="$r" 'NF == 2 { printf "%s %s c %s %s ns\n", s, $1, r, $2 }' \
            "$gdir/c.out" >>"$RESULTS"
        awk -v s="$sec" -v r="$r" '/ns\/op/ {
            n = $1; sub(/^Benchmark/, "", n); sub(/-[0-9]+$/, "", n);
            m = n;
            if (n == "Value") m = "value"; else if (n == "NewDelete") m = "new_delete";
            else if (n == "NewValueDelete") m = "nvd_1";
            else if (n == "NewValueDeleteParallel") m = "nvd_2";
            printf "%s %s go %s %s ns\n", s, m, r, $3 }' "$gdir/go.out" >>"$RESULTS"
    done
    for m in value new_delete nvd_1 nvd_2; do
        ratio_runs "$sec" "$m" go c
    done
    echo
    row "metric (ns per op)" unit libhandle "Go cgo" "Go/lib" target verdict
    local label t x
    for m in value new_delete nvd_1 nvd_2; do
        case $m in
        value) label="Value, 64 live handles in turn"; t=6.5 ;;
        new_delete) label="New+Delete"; t=30 ;;
        nvd_1) label="New+Value+Delete, 1 thread/goroutine"; t=- ;;
        nvd_2) label="New+Value+Delete, 2 threads/goroutines"; t=100 ;;
        esac
        x=$(med $sec $m ratio_go_c)
        if [ "$t" = - ]; then
            row "$label" ns "$(fmt "$(med $sec $m c)" 2)" "$(fmt "$(med $sec $m go)" 1)" "$(fmt "$x" 1)"
        else
            row "$label" ns "$(fmt "$(med $sec $m c)" 2)" "$(fmt "$(med $sec $m go)" 1)" \
                "$(fmt "$x" 1)" ">= $t" "$(verdict "$x" ">=" "$t")"
        fi
    done
    echo "(Go/lib: Go's time over libhandle's, run by run; how many times faster libhandle is)"
}

# 2. The debug build against heaptrack, gperftools' heap checker and
# valgrind memcheck: per event (a handle lifetime, or a malloc+free pair
# from the twin) wall, CPU of all the tool's processes, trace bytes; then
# what each reports for 3 deliberate leaks.
section_anchors_tools() {
    need_debs heaptrack zstd google-perftools valgrind sqlite3
    life_build
    TCMALLOC=$(ls /usr/lib/*/libtcmalloc.so.4 2>/dev/null | head -1)
    [ -n "$TCMALLOC" ] || { echo "bench.sh: libtcmalloc.so.4 not found" >&2; exit 1; }
    local sec=anchors-tools runs n_fast n_slow
    runs=$(anchors_runs)
    if [ "$QUICK" = 1 ]; then n_fast=200000 n_slow=20000; else n_fast=1000000 n_slow=100000; fi
    WORK=$BUILD_DIR/work-anchors-tools
    mkdir -p "$WORK"
    echo
    echo "== anchors-tools: libhandle-debug.so vs heaptrack, gperftools heap checker, valgrind memcheck =="
    echo "anchors-tools: median of $runs runs; $n_fast events (debug, heaptrack) or $n_slow (heapcheck,"
    echo "memcheck) per run from a 20-frame stack; per event = (whole(N) - whole(1)) / (N - 1)"
    local r subj n order
    for ((r = 0; r < runs; r++)); do
        order=(debug heaptrack heapcheck memcheck)
        ((r % 2)) && order=(memcheck heapcheck heaptrack debug)
        for subj in "${order[@]}"; do
            n=$n_fast
            case $subj in heapcheck | memcheck) n=$n_slow ;; esac
            measure_pair "$sec" "$r" "$subj" "$n"
        done
    done
    local m
    for subj in heaptrack heapcheck memcheck; do
        for m in wall cpu; do ratio_runs "$sec" "$m" "$subj" debug; done
    done
    echo
    row "per event" unit debug heaptrack heapcheck memcheck
    for m in wall cpu trace startup_wall maxrss; do
        local u=ns d=1
        case $m in trace) u=bytes d=2 ;; startup_wall) u=ms ;; maxrss) u=KiB d=0 ;; esac
        row "$m" "$u" "$(fmt "$(med $sec $m debug)" $d)" "$(fmt "$(med $sec $m heaptrack)" $d)" \
            "$(fmt "$(med $sec $m heapcheck)" $d)" "$(fmt "$(med $sec $m memcheck)" $d)"
    done
    row "trace before zstd" bytes "" "$(fmt "$(med $sec trace_uncompressed heaptrack)" 2)"
    echo "(trace: heaptrack's zstd-compressed file; heapcheck and memcheck write no trace of"
    echo " lifetimes. startup_wall: the 1-event run, start-up and exit alone)"
    echo
    row "tool's cost / debug build's, run by run" unit heaptrack heapcheck memcheck target verdict
    local hw hc
    hw=$(med $sec wall ratio_heaptrack_debug)
    row "wall per event" x "$(fmt "$hw" 2)" "$(fmt "$(med $sec wall ratio_heapcheck_debug)" 1)" \
        "$(fmt "$(med $sec wall ratio_memcheck_debug)" 1)"
    hc=$(med $sec cpu ratio_heaptrack_debug)
    row "CPU per event" x "$(fmt "$hc" 2)" "$(fmt "$(med $sec cpu ratio_heapcheck_debug)" 1)" \
        "$(fmt "$(med $sec cpu ratio_memcheck_debug)" 1)"
    row "target: heaptrack/debug >= 1 (wall)" "" "" "" "" ">= 1" "$(verdict "$hw" ">=" 1)"
    row "target: heaptrack/debug >= 1 (CPU)" "" "" "" "" ">= 1" "$(verdict "$hc" ">=" 1)"
    local gw gc
    gw=$(med $sec wall ratio_heapcheck_debug)
    gc=$(med $sec cpu ratio_heapcheck_debug)
    row "target: heapcheck/debug >= 20 (wall)" "" "" "" "" ">= 20" "$(verdict "$gw" ">=" 20)"
    row "target: heapcheck/debug >= 20 (CPU)" "" "" "" "" ">= 20" "$(verdict "$gc" ">=" 20)"

    # 3 deliberate leaks: 1000 lifetimes, then 3 made from the same
    # 20-frame stack and lost.
    echo
    echo "3 deliberate leaks (-n 1000 -l 3); full reports in $WORK/leaks-*.txt:"
    run_life debug "$WORK/leak-debug" -n 1000 -l 3
    cp "$WORK/leak-debug/err" "$WORK/leaks-debug.txt"
    run_life heaptrack "$WORK/leak-heaptrack" -n 1000 -l 3
    heaptrack_print --print-leaks 1 --print-peaks 0 --print-allocators 0 --print-temporary 0 \
        "$WORK"/leak-heaptrack/ht.* >"$WORK/leaks-heaptrack.txt" 2>&1 || true
    run_life heapcheck "$WORK/leak-heapcheck" -n 1000 -l 3
    cp "$WORK/leak-heapcheck/err" "$WORK/leaks-heapcheck.txt"
    run_life memcheck "$WORK/leak-memcheck" -n 1000 -l 3
    cp "$WORK/leak-memcheck/valgrind.log" "$WORK/leaks-memcheck.txt"
    echo "  debug:     exit $(field "$WORK/leak-debug" 5); $(grep -m1 'SUMMARY' "$WORK/leaks-debug.txt")"
    echo "             $(grep -m1 '#0 ' "$WORK/leaks-debug.txt" | sed 's/^ *//')"
    echo "  heaptrack: exit $(field "$WORK/leak-heaptrack" 5); $(grep -m1 'leaked over 3 calls' "$WORK/leaks-heaptrack.txt"); $(grep -m1 '^total memory leaked' "$WORK/leaks-heaptrack.txt")"
    echo "  heapcheck: exit $(field "$WORK/leak-heapcheck" 5); $(grep -m1 'Leak check _main_' "$WORK/leaks-heapcheck.txt")"
    echo "             $(grep -m1 -A1 'Leak of' "$WORK/leaks-heapcheck.txt" | tail -1 | sed 's/^[[:space:]]*//')"
    echo "  memcheck:  exit $(field "$WORK/leak-memcheck" 5); $(grep -m1 'definitely lost:' "$WORK/leaks-memcheck.txt" | sed 's/^==[0-9]*== *//')"
    echo "             $(grep -m1 'by 0x.*leaf\|at 0x.*leaf' "$WORK/leaks-memcheck.txt" | sed 's/^==[0-9]*== *//')"
}

# 3. Report time: handle-report on a 1M-lifetime trace against
# heaptrack_print on a heaptrack trace of 1M malloc+free pairs (3 leaked
# in each), both from the 20-frame stack.
section_anchors_report() {
    need_debs heaptrack zstd hyperfine
    life_build
    local sec=anchors-report runs n rep
    runs=$(anchors_runs)
    n=1000000
    [ "$QUICK" = 1 ] && n=200000
    WORK=$BUILD_DIR/work-anchors-report
    mkdir -p "$WORK"
    echo
    echo "== anchors-report: handle-report vs heaptrack_print, traces of $n events (3 leaked) =="
    rep=
    if [ -f "$ROOT/tools/handle-report.c" ]; then
        cmake --build "$BUILD_DIR" --parallel --target handle-report >"$BUILD_DIR/build.log" 2>&1 &&
            rep=$BUILD_DIR/tools/handle-report
    fi
    run_life debug "$WORK/trace-debug" -n $((n - 3)) -l 3
    run_life heaptrack "$WORK/trace-heaptrack" -n $((n - 3)) -l 3
    local db ht
    db=$(ls "$WORK"/trace-debug/handle-trace.*.db | head -1)
    ht=$(ls "$WORK"/trace-heaptrack/ht.* | head -1)
    raw "$sec" trace_bytes debug 0 "$(stat -c %s "$db")" bytes
    raw "$sec" trace_bytes heaptrack 0 "$(stat -c %s "$ht")" bytes
    local r
    for ((r = 0; r < runs; r++)); do
        "$BB/bench_run" "$WORK/hp.time" -- heaptrack_print "$ht" >"$WORK/heaptrack_print.out" 2>&1
        raw "$sec" wall heaptrack_print "$r" "$(awk '{ print $1 / 1e6 }' "$WORK/hp.time")" ms
        raw "$sec" cpu heaptrack_print "$r" "$(awk '{ print ($2 + $3) / 1e6 }' "$WORK/hp.time")" ms
        if [ -n "$rep" ]; then
            "$BB/bench_run" "$WORK/hr.time" -- "$rep" "$db" >"$WORK/handle-report.out" 2>&1
            raw "$sec" wall handle-report "$r" "$(awk '{ print $1 / 1e6 }' "$WORK/hr.time")" ms
            raw "$sec" cpu handle-report "$r" "$(awk '{ print ($2 + $3) / 1e6 }' "$WORK/hr.time")" ms
            raw "$sec" status handle-report "$r" "$(awk '{ print $5 }' "$WORK/hr.time")" code
            # --stats reads every lifetime (per-site counts and lifetimes),
            # as heaptrack_print reads every event.
            "$BB/bench_run" "$WORK/hs.time" -- "$rep" --stats "$db" >"$WORK/handle-report-stats.out" 2>&1
            raw "$sec" wall handle-report-stats "$r" "$(awk '{ print $1 / 1e6 }' "$WORK/hs.time")" ms
            raw "$sec" cpu handle-report-stats "$r" "$(awk '{ print ($2 + $3) / 1e6 }' "$WORK/hs.time")" ms
        fi
    done
    echo
    row "report of $n events" unit handle-report heaptrack_print "hp/hr" target verdict
    if [ -n "$rep" ]; then
        ratio_runs "$sec" wall heaptrack_print handle-report
        ratio_runs "$sec" wall heaptrack_print handle-report-stats
        local x
        x=$(med $sec wall ratio_heaptrack_print_handle-report)
        row "wall" ms "$(fmt "$(med $sec wall handle-report)" 1)" \
            "$(fmt "$(med $sec wall heaptrack_print)" 1)" "$(fmt "$x" 2)" "> 1" \
            "$(awk -v x="$x" 'BEGIN { print (x > 1) ? "met" : "MISSED" }')"
        row "CPU" ms "$(fmt "$(med $sec cpu handle-report)" 1)" "$(fmt "$(med $sec cpu heaptrack_print)" 1)"
        x=$(med $sec wall ratio_heaptrack_print_handle-report-stats)
        row "wall, handle-report --stats (reads every lifetime)" ms \
            "$(fmt "$(med $sec wall handle-report-stats)" 1)" "$(fmt "$(med $sec wall heaptrack_print)" 1)" \
            "$(fmt "$x" 2)" "> 1" "$(awk -v x="$x" 'BEGIN { print (x > 1) ? "met" : "MISSED" }')"
        row "CPU, handle-report --stats" ms "$(fmt "$(med $sec cpu handle-report-stats)" 1)" \
            "$(fmt "$(med $sec cpu heaptrack_print)" 1)"
        row "exit status of handle-report (1: leaks found)" "" "$(med $sec status handle-report)"
        hyperfine --style basic --runs "$runs" -i --export-markdown "$WORK/hyperfine.md" \
            "$rep $db" "$rep --stats $db" "heaptrack_print $ht" >"$WORK/hyperfine.txt" 2>&1 || true
    else
        row "wall" ms "PENDING" "$(fmt "$(med $sec wall heaptrack_print)" 1)" - "> 1" "pending"
        row "CPU" ms "PENDING" "$(fmt "$(med $sec cpu heaptrack_print)" 1)"
        echo "handle-report is PENDING: tools/handle-report.c is not in this tree (or did not build),"
        echo "so only heaptrack_print was timed."
        hyperfine --style basic --runs "$runs" --export-markdown "$WORK/hyperfine.md" \
            "heaptrack_print $ht" >"$WORK/hyperfine.txt" 2>&1 || true
    fi
    row "trace size" MB "$(fmt "$(calc "$(med $sec trace_bytes debug) / 1e6")" 1)" \
        "$(fmt "$(calc "$(med $sec trace_bytes heaptrack) / 1e6")" 3)"
    echo "hyperfine's view of the same commands ($WORK/hyperfine.md):"
    sed 's/^/  /' "$WORK/hyperfine.md" 2>/dev/null || true
}

# Issue 12 item 14: the candidate layouts of completed lifetimes
# (tests/bench/bench_layout.c), written and queried with the SQLite the
# debug build links: per layout, the writer's CPU and trace bytes per
# lifetime and the CPU of the issue's four queries per million rows.
# Layouts alternate within each run, so drift reaches all of them; the
# table gives medians over runs and each layout's write cost as the
# median of its per-run ratio to json (the layout the writer uses today).
# Named explicitly: `scripts/bench.sh layouts`.
section_layouts() {
    build_targets bench_layout
    local sec=layouts runs n r l
    runs=${RUNS:-5}
    n=1000000
    [ "$QUICK" = 1 ] && { runs=3; n=200000; }
    WORK=$BUILD_DIR/work-layouts
    mkdir -p "$WORK"
    local layouts=(json wide wide4 plain single)
    echo
    echo "== layouts: completed lifetimes in the trace, $n lifetimes, $runs runs =="
    for ((r = 0; r < runs; r++)); do
        for l in "${layouts[@]}"; do
            "$BUILD_DIR/tests/bench/bench_layout" "$l" "$n" "$WORK/l.db" >"$WORK/$l.out" ||
                { echo "bench.sh: bench_layout $l failed" >&2; return 1; }
            local k
            for k in write_cpu_ns bytes q_count q_tag q_thread q_group; do
                raw "$sec" "$k" "$l" "$r" "$(awk -v k="$k" '$1 == k { print $2 }' "$WORK/$l.out")" x
            done
        done
        rm -f "$WORK"/l.db*
    done
    for l in "${layouts[@]}"; do ratio_runs "$sec" write_cpu_ns "$l" json; done
    echo
    row "layout" "" "write ns" "vs json" "B/life" "count ms/M" "tag ms/M" "thread ms/M" "group ms/M"
    for l in "${layouts[@]}"; do
        row "$l" "" "$(fmt "$(med $sec write_cpu_ns "$l")" 1)" \
            "$(fmt "$(med $sec write_cpu_ns "ratio_${l}_json")" 2)" \
            "$(fmt "$(med $sec bytes "$l")" 1)" "$(fmt "$(med $sec q_count "$l")" 1)" \
            "$(fmt "$(med $sec q_tag "$l")" 1)" "$(fmt "$(med $sec q_thread "$l")" 1)" \
            "$(fmt "$(med $sec q_group "$l")" 1)"
    done
    echo "goal (issue 12 item 14): each query under 500 ms per million lifetimes; at most 48 B per lifetime"
}

# 4. Scaling curves, each drawn with gnuplot into bench-*.png beside
# BENCHMARKS.md: the debug build's cost per lifetime against stack depth,
# distinct creation sites and live handles; the release build's against
# live handles and threads.
section_anchors_scaling() {
    need_debs gnuplot-nox
    life_build bench_scale
    local sec=anchors-scaling runs n
    runs=5
    [ "$QUICK" = 1 ] && runs=3
    [ -n "$RUNS" ] && runs=$RUNS
    n=500000
    [ "$QUICK" = 1 ] && n=100000
    WORK=$BUILD_DIR/work-anchors-scaling
    PLOTS=$ROOT
    [ "$QUICK" = 1 ] && PLOTS=$BUILD_DIR/plots
    mkdir -p "$WORK" "$PLOTS"
    echo
    echo "== anchors-scaling: cost per lifetime against depth, sites, live handles, threads =="
    echo "anchors-scaling: median of $runs runs; debug: $n lifetimes per run, per lifetime ="
    echo "(whole(N) - whole(1)) / (N - 1), all processes (live: see below); plots in $PLOTS/bench-*.png"
    local r d s l t x
    local depths=(5 20 50 100) sites=(1 10 100 1000 10000 100000)
    local lives=(1 1000 100000 1000000 10000000) rlives=(1 1000 1000000 10000000 100000000)
    local threads=(1 2 4)
    if [ "$QUICK" = 1 ]; then lives=(1 1000 100000 1000000) rlives=(1 1000 1000000 10000000); fi
    for ((r = 0; r < runs; r++)); do
        for d in "${depths[@]}"; do
            scale_point "$r" depth "$d" debug -d "$d"
            LIFE_OPTS=max_frames=256 scale_point "$r" depth "$d" debug-mf256 -d "$d"
        done
        for s in "${sites[@]}"; do
            scale_point "$r" sites "$s" debug -s "$s"
        done
        for l in "${lives[@]}"; do
            scale_point "$r" live "$l" debug -l "$l"
        done
        for l in "${rlives[@]}"; do
            "$BB/bench_scale" -l "$l" >"$WORK/scale.out"
            awk -v s="$sec" -v r="$r" -v l="$l" '$1 ~ /_ns$|rss_per_live/ {
                u = ($1 ~ /ns$/) ? "ns" : "bytes";
                printf "%s release_live_%s_%s lib %s %s %s\n", s, $1, l, r, $2, u }' \
                "$WORK/scale.out" >>"$RESULTS"
        done
        for t in "${threads[@]}"; do
            "$BB/bench_scale" -t "$t" >"$WORK/scale.out"
            raw "$sec" "release_threads_nvd_$t" lib "$r" \
                "$(awk '$1 == "nvd_ns" { print $2 }' "$WORK/scale.out")" ns
        done
    done
    scale_tables
}

# scale_point RUN CURVE X SUBJECT ARGS...: one debug-build point: N
# lifetimes, and 1 for the start-up and exit; per lifetime is the
# difference over N - 1. The live curve instead makes its live handles,
# lets the writer drain them (-w), and takes wall and CPU (all threads)
# from the loop's start until the writer is idle again (bench_life -w):
# the whole-process difference there drowns in the seconds that making
# millions of live handles takes.
scale_point() {
    local r=$1 curve=$2 x=$3 subj=$4
    shift 4
    local w c more=() np=$n
    [ "$curve" = sites ] && more=(-D)
    if [ "$curve" = live ]; then
        [ "$x" -gt $((n * 10)) ] && np=$((x / 10))
        run_life debug "$WORK/pn" -n "$np" -w "$@"
        w=$(outval "$WORK/pn" drain_ns_per_life)
        c=$(outval "$WORK/pn" drain_cpu_ns_per_life)
    else
        run_life debug "$WORK/p0" -n 1 "${more[@]}" "$@"
        run_life debug "$WORK/pn" -n "$np" "${more[@]}" "$@"
        w=$(calc "($(field "$WORK/pn" 1) - $(field "$WORK/p0" 1)) / ($np - 1)")
        c=$(calc "($(cpu_of "$WORK/pn") - $(cpu_of "$WORK/p0")) / ($np - 1)")
    fi
    raw "$sec" "${curve}_wall_$x" "$subj" "$r" "$w" ns
    raw "$sec" "${curve}_cpu_$x" "$subj" "$r" "$c" ns
    raw "$sec" "${curve}_loop_$x" "$subj" "$r" "$(outval "$WORK/pn" loop_ns_per_life)" ns
    raw "$sec" "${curve}_peakrss_$x" "$subj" "$r" "$(field "$WORK/pn" 4)" KiB
}

# plot OUT TITLE XLABEL YLABEL LOGX DATA SPEC...: a PNG of DATA's columns
# against column 1 (SPEC: "COLUMN:TITLE"), log x when LOGX is 1.
plot() {
    local out=$1 title=$2 xl=$3 yl=$4 logx=$5 data=$6
    shift 6
    local p= sep= spec
    for spec in "$@"; do
        p+="$sep'$data' using 1:${spec%%:*} with linespoints lw 2 pt 7 title '${spec#*:}'"
        sep=", "
    done
    gnuplot <<GP >>"$WORK/gnuplot.log" 2>&1 || echo "bench.sh: gnuplot failed for $out" >&2
set terminal pngcairo size 800,480 font ",11" noenhanced
set output '$out'
set title "$title"
set xlabel '$xl'
set ylabel '$yl'
set grid
set key top left
set rmargin 6
set yrange [0:*]
$([ "$logx" = 1 ] && echo "set logscale x 10")
plot $p
GP
}

# The tables and plots of section anchors_scaling (its locals in scope).
scale_tables() {
    local stamp x a b c e f
    stamp="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(date -u '+%Y-%m-%d')"
    echo
    row "debug: per lifetime vs stack depth" unit wall CPU "caller loop" "wall mf=256" "CPU mf=256"
    : >"$WORK/depth.dat"
    for x in "${depths[@]}"; do
        a=$(med $sec "depth_wall_$x" debug); b=$(med $sec "depth_cpu_$x" debug)
        c=$(med $sec "depth_loop_$x" debug)
        e=$(med $sec "depth_wall_$x" debug-mf256); f=$(med $sec "depth_cpu_$x" debug-mf256)
        row "  $x frames" ns "$(fmt "$a" 0)" "$(fmt "$b" 0)" "$(fmt "$c" 0)" "$(fmt "$e" 0)" "$(fmt "$f" 0)"
        echo "$x $a $b $e $f" >>"$WORK/depth.dat"
    done
    echo "(default options keep max_frames=32 frames; mf=256: HANDLE_OPTIONS=max_frames=256)"
    plot "$PLOTS/bench-debug-depth.png" "libhandle-debug.so: cost per lifetime vs stack depth ($stamp)" \
        "frames on the stack at handle_new/handle_delete" "ns per lifetime" 0 "$WORK/depth.dat" \
        "2:wall, default (max_frames=32)" "3:CPU, default (max_frames=32)" \
        "4:wall, max_frames=256" "5:CPU, max_frames=256"

    echo
    row "debug: per lifetime vs creation sites" unit wall CPU "caller loop" "peak RSS KiB"
    : >"$WORK/sites.dat"
    for x in "${sites[@]}"; do
        a=$(med $sec "sites_wall_$x" debug); b=$(med $sec "sites_cpu_$x" debug)
        c=$(med $sec "sites_loop_$x" debug)
        row "  $x sites" ns "$(fmt "$a" 0)" "$(fmt "$b" 0)" "$(fmt "$c" 0)" "$(med $sec "sites_peakrss_$x" debug)"
        echo "$x $a $b $c" >>"$WORK/sites.dat"
    done
    echo "(20-frame stacks; lifetime i is made from site i % SITES, descending the 20 frames each time)"
    plot "$PLOTS/bench-debug-sites.png" "libhandle-debug.so: cost per lifetime vs distinct creation stacks ($stamp)" \
        "distinct creation stacks (sites)" "ns per lifetime" 1 "$WORK/sites.dat" \
        "2:wall" "3:CPU, all threads" "4:calling thread, loop only"

    echo
    row "debug: per lifetime vs live handles" unit wall CPU "caller loop" "peak RSS KiB"
    : >"$WORK/live.dat"
    for x in "${lives[@]}"; do
        a=$(med $sec "live_wall_$x" debug); b=$(med $sec "live_cpu_$x" debug)
        c=$(med $sec "live_loop_$x" debug)
        row "  $x live" ns "$(fmt "$a" 0)" "$(fmt "$b" 0)" "$(fmt "$c" 0)" "$(med $sec "live_peakrss_$x" debug)"
        echo "$x $a $b $c" >>"$WORK/live.dat"
    done
    echo "(the live handles are made first and leaked, and the writer drains them before the loop;"
    echo " wall and CPU (all threads) from the loop's start until the writer is idle, over N ="
    echo " max($n, live / 10) lifetimes)"
    plot "$PLOTS/bench-debug-live.png" "libhandle-debug.so: cost per lifetime vs live handles ($stamp)" \
        "live handles" "ns per lifetime" 1 "$WORK/live.dat" \
        "2:wall" "3:CPU, all threads" "4:calling thread, loop only"

    echo
    row "release: vs live handles" unit "n+v+d" "value rand" "pick only" "value-pick" "bytes/live"
    : >"$WORK/rlive.dat"
    for x in "${rlives[@]}"; do
        a=$(med $sec "release_live_nvd_ns_$x" lib); b=$(med $sec "release_live_value_rand_ns_$x" lib)
        c=$(med $sec "release_live_pick_rand_ns_$x" lib); e=$(med $sec "release_live_value_only_ns_$x" lib)
        f=$(med $sec "release_live_rss_per_live_$x" lib)
        [ "$x" -lt 1000000 ] && f=-
        row "  $x live" ns "$(fmt "$a" 2)" "$(fmt "$b" 2)" "$(fmt "$c" 2)" "$(fmt "$e" 2)" "$(fmt "$f" 1)"
        echo "$x $a $b $e" >>"$WORK/rlive.dat"
    done
    echo "(n+v+d: new+value+delete, 1 thread; value rand: handle_value of a random live handle,"
    echo " picking it from the array included; pick only: the loop without handle_value)"
    plot "$PLOTS/bench-release-live.png" "libhandle.so: cost per op vs live handles ($stamp)" \
        "live handles" "ns per op" 1 "$WORK/rlive.dat" \
        "2:new+value+delete" "3:handle_value of a random live handle" "4:the same minus picking it"

    echo
    row "release: vs threads (2 cores)" unit "n+v+d aggr" "Mops/s" "vs 1 thread"
    : >"$WORK/threads.dat"
    local one
    one=$(med $sec release_threads_nvd_1 lib)
    for x in "${threads[@]}"; do
        a=$(med $sec "release_threads_nvd_$x" lib)
        row "  $x threads" ns "$(fmt "$a" 2)" "$(fmt "$(calc "1000 / $a")" 1)" "$(fmt "$(calc "$one / $a")" 2)"
        echo "$x $a $(calc "1000 / $a")" >>"$WORK/threads.dat"
    done
    echo "(aggregate: wall time over the operations of all threads; 4 threads share 2 cores)"
    plot "$PLOTS/bench-release-threads.png" "libhandle.so: new+value+delete vs threads ($stamp)" \
        "threads" "ns per op (aggregate) / Mops per s" 0 "$WORK/threads.dat" \
        "2:ns per op, aggregate" "3:million ops per second"
}

# ---- main --------------------------------------------------------------

ARGS=("$@")
parse_args "$@"
[ "$ANCHORS" = 1 ] && SECTIONS=("${ANCHOR_SECTIONS[@]}")
[ ${#ONLY[@]} -gt 0 ] && SECTIONS=("${ONLY[@]}")
if [ -n "$BASELINE" ] && [[ " ${SECTIONS[*]} " != *" baseline "* ]]; then
    SECTIONS+=(baseline)
fi
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
