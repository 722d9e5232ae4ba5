#!/usr/bin/env bash
# make_trace_corpus.sh BUILD_DIR OUT_DIR - makes the seed corpus of
# trace_fuzz: real traces written by libhandle-debug.so for the integration
# programs (leaks, each misuse kind, threads, a fork child, a kill -9), each
# made small: the WAL folded in, page size 512, vacuumed, and two
# `lifetimes` rows kept. Most seeds are left in rollback-journal mode, and
# some are turned back into WAL mode (without their -wal file: a cleanly
# closed trace), so both of the reader's ways of opening a file are seeded.
# The committed corpus (tests/fuzz/corpus/trace) was made with this script;
# run it again after a change of the trace format. The json-*.db seeds are
# of the layout before (batches-json-1), made by this script before that
# change: the reader still reads that layout, so they stay.
set -euo pipefail
build=$(realpath "$1")
out=$(realpath -m "$2")
progs=$build/tests/integration/progs
lib=$build/lib/debug/libhandle-debug.so
[ -x "$progs/misuse" ] && [ -f "$lib" ] || { echo "no debug build in $build" >&2; exit 2; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

run() { # NAME PROG ARGS...: a trace named NAME.db
    local name=$1
    shift
    (HANDLE_OPTIONS="trace=$tmp/$name.db:detect_leaks=1" LD_PRELOAD="$lib" "$@" >/dev/null 2>&1) 2>/dev/null || true
}
run leak "$progs/leak"
for k in double-delete double-delete-thread use-after-delete invalid zero tag-mismatch stale-reused ok; do
    run "misuse-$k" "$progs/misuse" "$k"
done
run threads "$progs/threads"
run forker "$progs/forker"
# A killed process: its trace has no ended_at and a -wal file.
HANDLE_OPTIONS="trace=$tmp/killed.db:flush_ms=20" LD_PRELOAD="$lib" "$progs/busy" >/dev/null 2>&1 &
pid=$!
sleep 2
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true

n=0
for db in "$tmp"/*.db*; do
    case $db in *-wal | *-shm) continue ;; esac
    name=$(basename "$db" | sed -E 's/\.db\.[0-9]+$/-child.db/')
    # Fold the WAL in, keep two lifetimes rows, shrink.
    sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null 2>&1 || true
    sqlite3 "$db" "DELETE FROM lifetimes WHERE id NOT IN (SELECT id FROM lifetimes ORDER BY id LIMIT 2);
                   DELETE FROM live WHERE rowid NOT IN (SELECT rowid FROM live LIMIT 20);
                   PRAGMA journal_mode=DELETE;" >/dev/null
    sqlite3 "$db" "PRAGMA page_size=512; VACUUM;" >/dev/null
    if [ $((n % 3)) -eq 2 ]; then
        sqlite3 "$db" "PRAGMA journal_mode=WAL;" >/dev/null
    fi
    rm -f "$db-wal" "$db-shm"
    [ "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok ] || { echo "$name: not intact" >&2; exit 1; }
    cp "$db" "$out/$name"
    n=$((n + 1))
done
ls -l "$out"
