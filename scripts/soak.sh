#!/usr/bin/env bash
# soak.sh [LIFETIMES] [MAX_HISTORY] [EVERY] - the long-run test of bounded
# traces (option max_history, SPEC section 3): a program (tests/faults/
# soak.c) makes LIFETIMES handle lifetimes (default 100,000,000) under
# LD_PRELOAD=libhandle-debug.so with max_history=MAX_HISTORY (default
# 1,000,000), holding 1000 handles live, and every EVERY lifetimes
# (default 1,000,000) samples its RSS and the size of its trace (the
# database and its -wal).
#
# It checks that both stay flat after warm-up (the first sample past
# 3 x MAX_HISTORY lifetimes: history full, WAL recycled): the largest
# sample after warm-up is at most 10% (and 8 MiB) above the warm-up sample.
# At the end the trace must pass integrity_check and hold exactly
# MAX_HISTORY completed lifetimes and no live handle.
#
# Output in BUILD/soak/: samples.tsv (lifetimes, seconds, RSS KiB, trace
# KiB, WAL KiB), soak.png (gnuplot, if installed), summary.txt. Exit
# status 0 when flat and intact, 1 otherwise.
#
# Environment: HANDLE_SOAK_BUILD (build directory, default build/soak),
# HANDLE_SOAK_DIR (where the trace is written, default a temporary
# directory under TMPDIR), HANDLE_SOAK_THREADS (default 1).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
LIFETIMES=${1:-100000000}
MAXH=${2:-1000000}
EVERY=${3:-1000000}
THREADS=${HANDLE_SOAK_THREADS:-1}
BUILD=${HANDLE_SOAK_BUILD:-$ROOT/build/soak}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=$BUILD/soak
mkdir -p "$OUT"

echo "soak.sh: building in $BUILD"
if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER=gcc -DHANDLE_WERROR=ON \
        && cmake --build "$BUILD" -j"${HANDLE_JOBS:-2}" --target handle handle_debug; } >"$OUT/build.log" 2>&1; then
    tail -30 "$OUT/build.log" >&2
    exit 1
fi
gcc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -I"$ROOT/include" "$ROOT/tests/faults/soak.c" \
    "$BUILD/lib/libhandle.so" -Wl,-rpath,"$BUILD/lib" -lpthread -o "$OUT/soak" || exit 1

dir=${HANDLE_SOAK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/handle-soak.XXXXXX")}
trace=$dir/soak.db
rm -f "$trace" "$trace-wal" "$trace-shm"
echo "soak.sh: $LIFETIMES lifetimes, max_history=$MAXH, a sample every $EVERY; trace $trace"
start=$(date +%s)
LD_PRELOAD=$BUILD/lib/debug/libhandle-debug.so HANDLE_OPTIONS="trace=$trace:max_history=$MAXH" \
    "$OUT/soak" "$LIFETIMES" "$EVERY" "$trace" "$THREADS" >"$OUT/soak.out" 2>"$OUT/soak.err"
rc=$?
[ "$rc" -eq 0 ] || { echo "soak.sh: the program exited with $rc" >&2; cat "$OUT/soak.err" >&2; exit 1; }
grep -q WARNING "$OUT/soak.err" && { echo "soak.sh: warnings:" >&2; cat "$OUT/soak.err" >&2; }
{
    printf 'lifetimes\tseconds\trss_kib\ttrace_kib\twal_kib\n'
    awk '$1 == "sample" { printf "%s\t%s\t%s\t%s\t%s\n", $2, $3, $4, $5, $6 }' "$OUT/soak.out"
} >"$OUT/samples.tsv"
secs=$(sed -nE 's/.*seconds=([0-9.]+).*/\1/p' "$OUT/soak.out")

# Flat after warm-up?
read -r verdict summary < <(awk -v warm=$((3 * MAXH)) -F'\t' '
    NR == 1 { next }
    $1 >= warm && !w { w = 1; r0 = $3; t0 = $4 + $5; wl = $1 }
    w { if ($3 > rmax) rmax = $3; if ($4 + $5 > tmax) tmax = $4 + $5; n++ }
    END {
        if (!w) { print "FAILED no sample after warm-up"; exit }
        rok = rmax <= r0 * 1.10 || rmax - r0 <= 8192
        tok = tmax <= t0 * 1.10 || tmax - t0 <= 8192
        printf "%s warm-up at %d lifetimes: RSS %d KiB -> max %d KiB (%+.1f%%); trace+wal %d KiB -> max %d KiB (%+.1f%%); %d samples after warm-up\n",
            (rok && tok) ? "ok" : "FAILED", wl, r0, rmax, 100.0 * (rmax - r0) / r0, t0, tmax,
            100.0 * (tmax - t0) / (t0 ? t0 : 1), n
    }' "$OUT/samples.tsv")

# The trace at the end.
integrity=$(sqlite3 "$trace" 'PRAGMA integrity_check' 2>&1 | head -3)
counts=$(sqlite3 "$trace" 'SELECT count(*), count(deleted_ns) FROM handles; SELECT count(*) FROM leaks;' 2>&1 | tr '\n' ' ')
read -r rows_done leaks <<<"$(tr '|' ' ' <<<"$counts" | awk '{print $2, $3}')"
size_mib=$(du -m "$trace" | cut -f1)
ok=1
[ "$verdict" = ok ] || ok=0
[ "$integrity" = ok ] || { ok=0; echo "soak.sh: integrity_check: $integrity" >&2; }
[ "${rows_done:-x}" = "$MAXH" ] && [ "${leaks:-x}" = 0 ] \
    || { ok=0; echo "soak.sh: the trace holds $rows_done completed lifetimes and $leaks live; want $MAXH and 0" >&2; }

if command -v gnuplot >/dev/null 2>&1; then
    gnuplot <<EOF 2>"$OUT/gnuplot.err" || echo "soak.sh: gnuplot failed: $(cat "$OUT/gnuplot.err")" >&2
set terminal png size 900,600 noenhanced
set output "$OUT/soak.png"
set datafile separator "\t"
set multiplot layout 2,1 title "libhandle-debug soak: $LIFETIMES lifetimes, max_history=$MAXH"
set xlabel "lifetimes (millions)"
set ylabel "RSS (MiB)"
set yrange [0:*]
plot "$OUT/samples.tsv" using (\$1/1e6):(\$3/1024) skip 1 with lines lw 2 title "RSS"
set ylabel "trace on disk (MiB)"
plot "$OUT/samples.tsv" using (\$1/1e6):(\$4/1024) skip 1 with lines lw 2 title "database", \
     "" using (\$1/1e6):(\$5/1024) skip 1 with lines lw 2 title "-wal", \
     "" using (\$1/1e6):((\$4+\$5)/1024) skip 1 with lines lw 2 title "total"
unset multiplot
EOF
fi

{
    echo "soak: $LIFETIMES lifetimes in ${secs:-?} s ($(awk -v n="$LIFETIMES" -v s="${secs:-0}" 'BEGIN { if (s > 0) printf "%.2f M/s", n / s / 1e6; else print "?" }')), $THREADS thread(s), 1000 live per thread, max_history=$MAXH"
    echo "flat: $verdict $summary"
    echo "end: integrity_check $integrity; $rows_done completed lifetimes kept, $leaks live; database ${size_mib} MiB"
    echo "samples: $OUT/samples.tsv$( [ -f "$OUT/soak.png" ] && echo "; plot: $OUT/soak.png")"
} | tee "$OUT/summary.txt"
[ -z "${HANDLE_SOAK_DIR:-}" ] && rm -rf "$dir"
[ $ok -eq 1 ]
