#!/usr/bin/env bash
# demo.sh - the main job in one command: on a fresh Debian machine (as
# root) it installs what is missing, builds libhandle, compiles the demo
# program tests/demo/eventloop.c (an event loop passing handles through
# void *user_data, with one real leak), runs it under handle-run (the debug
# build: stacks, a trace, the leak report at exit), then reads the trace
# after the fact with handle-report in text, JSON and --stats, writes the
# HTML report (report.html, one self-contained page; with chromium, report.png
# is its screenshot) and the collapsed stacks for flame graph tools.
# Exits 0 when everything worked (the demo's own exit status 23 is the
# expected leak verdict).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${HANDLE_DEMO_BUILD:-$ROOT/build/demo}
OUT=${HANDLE_DEMO_OUT:-$ROOT/build/demo-out}

# headings: begin
# Bold only on a terminal, and not when NO_COLOR is set and not empty
# (https://no-color.org): never escape codes in a file or a pipe.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    say() { printf '\n== %s\n' "$*"; }
fi
# headings: end

bash "$ROOT/scripts/deps.sh"
say "Building (cmake -S . -B ${BUILD#$ROOT/})"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target handle handle_debug handle-run handle-report eventloop >/dev/null

rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"
RUN="$BUILD/tools/handle-run"
REPORT="$BUILD/tools/handle-report"
DEMO="$BUILD/tests/demo/eventloop"

say "The demo without the debug build (libhandle.so): fast, silent"
"$DEMO"

say "The same binary under the debug build: handle-run --trace demo.db ./eventloop"
set +e
"$RUN" --trace demo.db "$DEMO"
status=$?
set -e
echo "(exit status $status: 23 means handle leaks were found)"
if [ "$status" -ne 23 ]; then
    echo "demo.sh: expected exit status 23 from the leak check, got $status" >&2
    exit 1
fi

say "After the fact: handle-report demo.db"
set +e
"$REPORT" demo.db
rs=$?
say "handle-report --format json demo.db"
"$REPORT" --format json demo.db
say "handle-report --stats demo.db"
"$REPORT" --stats demo.db
set -e
echo
echo "(handle-report exits 1 when it finds leaks or errors: got $rs)"
[ "$rs" -eq 1 ] || { echo "demo.sh: handle-report exit status $rs, expected 1" >&2; exit 1; }
say "handle-report --format folded demo.db (for flamegraph.pl, inferno or speedscope)"
"$REPORT" --format folded demo.db || [ $? -eq 1 ]

say "handle-report --format html -o report.html demo.db"
"$REPORT" --format html -o report.html demo.db || [ $? -eq 1 ]
echo "The HTML report: $OUT/report.html ($(stat -c %s report.html) bytes, self-contained)"
echo "Open it in a browser: file://$OUT/report.html"
if command -v chromium >/dev/null; then
    # What a browser shows first (the same command made docs/report.png).
    prof=$(mktemp -d)
    chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$prof" \
        --window-size=1400,1250 --screenshot="$OUT/report.png" "file://$OUT/report.html" >/dev/null 2>&1 &&
        echo "Its screenshot: $OUT/report.png"
    rm -rf "$prof"
fi

say "The trace is plain SQLite: sqlite3 demo.db 'select tag, count(*) from leaks group by tag'"
if command -v sqlite3 >/dev/null; then
    sqlite3 demo.db 'select tag, count(*) from leaks group by tag'
fi
echo
echo "Files are in ${OUT}"
