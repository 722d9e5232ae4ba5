#!/usr/bin/env bash
# bench_report.sh - handle-report's figures against the issue's targets:
#
#   A trace of 1M lifetimes with 100k leaked from 1,000 sites:
#     handle-report in <= 2 s and <= 200 MB, --stats in <= 3 s,
#     --format html in <= 3 s with a page under 2 MB;
#   1,000 traces of a small test suite merged in a few seconds.
#
# --stats, html and folded --all read every lifetime. On a real trace they
# decode the writer's `lifetimes` rows themselves; "through the view" rows read the
# same trace through its `handles` view (as handle-report did before, and
# still does for traces of another layout): a copy whose handles is a view
# of the writer's view, which the fast path does not recognize.
#
#   bench_report.sh BUILD_DIR [RUNS]
#
# BUILD_DIR is a configured and built tree (handle-report, gen_trace and,
# when built, libhandle-debug.so and the sites program). The 1M trace is
# real when the debug library exists (sites.c run under LD_PRELOAD: the
# writer's own layout), else made by gen_trace. Each figure is the median of
# RUNS runs (default 3) of /usr/bin/time (wall seconds, max RSS). Raw lines
# "report METRIC SUBJECT RUN VALUE UNIT" go to $RESULTS when it is set
# (scripts/bench.sh's format). Not a test: no figure fails it.
set -euo pipefail

B=$(realpath "${1:?usage: bench_report.sh BUILD_DIR [RUNS]}")
RUNS=${2:-3}
R=$B/tools/handle-report
GEN=$B/tests/integration/report/gen_trace
SITES=$B/tests/integration/report/sites
DEBUG_LIB=$B/lib/debug/libhandle-debug.so
[ -x "$R" ] && [ -x "$GEN" ] || { echo "bench_report.sh: build handle-report and gen_trace in $B first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench_report.sh: needs /usr/bin/time (Debian package time)" >&2; exit 2; }
W=$(mktemp -d "${TMPDIR:-/tmp}/handle-report-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# measure NAME CMD...: RUNS runs; prints "NAME  wall s  max RSS MB".
measure() {
    local name=$1; shift
    local walls=() rsss=()
    for i in $(seq "$RUNS"); do
        /usr/bin/time -f '%e %M' -o t.txt "$@" >/dev/null 2>err.txt || [ $? -le 1 ] || {
            echo "bench_report.sh: $name failed: $(cat err.txt)" >&2; exit 1; }
        read -r wall rss < <(tail -n 1 t.txt)
        walls+=("$wall"); rsss+=("$rss")
        [ -n "${RESULTS:-}" ] && {
            echo "report wall $name $i $wall s"
            echo "report maxrss $name $i $rss KB"
        } >>"$RESULTS"
    done
    local w m
    w=$(printf '%s\n' "${walls[@]}" | median)
    m=$(printf '%s\n' "${rsss[@]}" | median)
    printf '%-40s %8.2f s %8.1f MB\n' "$name" "$w" "$(echo "$m" | awk '{print $1 / 1024}')"
}

echo "== making the 1M-lifetime trace (100k leaked, 1000 sites)"
if [ -f "$DEBUG_LIB" ] && [ -x "$SITES" ]; then
    HANDLE_OPTIONS=trace=$W/big.db LD_PRELOAD=$DEBUG_LIB "$SITES" 1000000 100000 1000 >/dev/null 2>&1 || true
    kind="real trace (libhandle-debug.so, sites.c)"
else
    "$GEN" big big.db 1000000 100000 1000
    kind="gen_trace big (no debug library built)"
fi
echo "   $kind: $(du -h big.db | cut -f1), $(sqlite3 big.db 'SELECT count(*) FROM leaks') live"

if [ "$(sqlite3 big.db "SELECT count(*) FROM sqlite_schema WHERE name = 'lifetimes'")" = 1 ]; then
    cp big.db view.db
    # handles becomes a view of the writer's view (made again as
    # handles_w), which the fast path does not take for the writer's.
    # leaks stays the writer's (on the live table).
    sql=$(sqlite3 view.db "SELECT sql FROM sqlite_schema WHERE name = 'handles'" | sed 's/CREATE VIEW handles(/CREATE VIEW handles_w(/')
    leaks=$(sqlite3 view.db "SELECT sql FROM sqlite_schema WHERE name = 'leaks'")
    sqlite3 view.db "DROP VIEW leaks; DROP VIEW handles; $sql;
        CREATE VIEW handles AS SELECT * FROM handles_w; $leaks;"
fi

echo "== handle-report, median of $RUNS (targets: 2 s and 200 MB; --stats 3 s; html 3 s)"
measure "1M: text" "$R" big.db
measure "1M: --stats" "$R" --stats big.db
[ -f view.db ] && measure "1M: --stats, through the view" "$R" --stats view.db
measure "1M: --format json" "$R" -f json big.db
measure "1M: --format sarif" "$R" -f sarif big.db
measure "1M: --stats --format json" "$R" --stats -f json big.db
measure "1M: --format html" "$R" -f html -o big.html big.db
[ -f view.db ] && measure "1M: --format html, through the view" "$R" -f html -o view.html view.db
echo "   the page: $(stat -c %s big.html) bytes"
measure "1M: --format folded" "$R" -f folded big.db
measure "1M: --format folded --all" "$R" -f folded --all big.db

echo "== 1000 traces of a small test suite (target: a few seconds)"
mkdir suite
"$GEN" suite suite 1000
measure "1000 gen_trace traces: text" "$R" suite/t.*.db
measure "1000 gen_trace traces: --stats" "$R" --stats suite/t.*.db
if [ -f "$DEBUG_LIB" ] && [ -x "$SITES" ]; then
    # 20 real processes, each trace copied 50 times: the writer's layout.
    mkdir real
    for i in $(seq 20); do
        HANDLE_OPTIONS="trace=$W/real/p.%p.db" LD_PRELOAD=$DEBUG_LIB "$SITES" 2000 20 50 >/dev/null 2>&1 || true
    done
    for f in real/p.*.db; do for k in $(seq 50); do cp "$f" "${f%.db}.$k.db"; done; rm "$f"; done
    measure "1000 real traces: text" "$R" real/*.db
    measure "1000 real traces: --stats" "$R" --stats real/*.db
fi
