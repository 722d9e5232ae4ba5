#!/usr/bin/env bash
# run.sh CASE [SIZE] - one fault test of libhandle-debug.so: a real program
# (faultprog.c, linked against libhandle.so, run with LD_PRELOAD) is hurt
# while it traces, and the test checks that it lives on, that its checks go
# on, and that its trace is intact (fault_check.c). Exit 0 = pass.
#
# Environment (the integration tests' names, so ctest can pass the same):
#   DEBUG_LIB, RELEASE_LIB  the two libraries of a normal (unsanitized) build
#   INCLUDE_DIR             include/ of the source tree
#   CC                      a C compiler (default cc)
#   HANDLE_REPORT           handle-report, if built (then traces are also
#                           read with it: never a crash, exit 0/1/2)
#   FAULT_SEED              seed of the random kill moments (default: pid)
#   FAULT_KEEP              a directory to keep the work files in
#
# Cases (SIZE in brackets, default first):
#   kill9 [50]           SIGKILL at SIZE random moments (20 ms .. 2.5 s) of
#                        a program churning handles on 3 threads; every trace
#                        must pass integrity_check and hold every event older
#                        than flush_ms + 1 s at the kill (SPEC section 5)
#   disk_full_rlimit     RLIMIT_FSIZE (ulimit -f) of 0, 16, 64 and 512 KiB:
#                        one warning, checks go on (a misuse still gets its
#                        full diagnostic and abort), no death by SIGXFSZ,
#                        the trace left intact
#   disk_full_log_path   a misuse with log_path on a file over RLIMIT_FSIZE:
#                        must end by abort(), not by SIGXFSZ
#   disk_full_tmpfs      the trace on a 256 KiB tmpfs (root only; skipped
#                        otherwise): ENOSPC instead of SIGXFSZ
#   eintr [2]            SIZE seconds of SIGALRM every ms and SIGUSR1 storms
#                        to every thread while 3 threads trace; exact counts
#   forkstorm [100]      SIZE forks (exit, _exit, exec, grandchildren) while
#                        2 threads trace; every child trace intact, none for
#                        children that make no handle
#   threadstorm [2]      SIZE seconds of threads that start, make handles,
#                        hand some to the next thread, and exit
#   trace_dir_removed    the trace's directory removed (and once recreated
#                        empty) while the program traces
set -u
case_name=${1:?usage: run.sh CASE [SIZE]}
size=${2:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/handle-fault.XXXXXX")
cleanup() {
    [ -n "${mnt:-}" ] && umount "$mnt" 2>/dev/null
    if [ -n "${FAULT_KEEP:-}" ]; then mkdir -p "$FAULT_KEEP" && cp -a "$work"/. "$FAULT_KEEP"/; fi
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1
: "${DEBUG_LIB:?DEBUG_LIB (libhandle-debug.so) must be set}"
: "${RELEASE_LIB:?RELEASE_LIB (libhandle.so) must be set}"
INCLUDE_DIR=${INCLUDE_DIR:-$here/../../include}
CC=${CC:-cc}

fail() { echo "FAIL [$case_name]: $*" >&2; for f in out err; do [ -s $f ] && { echo "--- $f:" >&2; head -c 4000 $f >&2; }; done; exit 1; }
note() { echo "[$case_name] $*"; }

# The two programs, built for this run.
libdir=$(dirname "$RELEASE_LIB")
$CC -std=c11 -D_GNU_SOURCE -O1 -g -I"$INCLUDE_DIR" -I"$here" "$here/faultprog.c" \
    "$RELEASE_LIB" -Wl,-rpath,"$libdir" -lpthread -o faultprog || fail "cannot build faultprog"
$CC -std=c11 -D_GNU_SOURCE -O1 -g -I"$here" "$here/fault_check.c" -lsqlite3 -o fault_check \
    || fail "cannot build fault_check (needs libsqlite3-dev)"
P=$work/faultprog
C=$work/fault_check

# dbg [ENV=VAL...] -- CMD...: CMD under the debug library.
dbg() { env LD_PRELOAD="$DEBUG_LIB" "$@"; }
# report TRACE...: handle-report must read any trace without a crash.
report() {
    [ -n "${HANDLE_REPORT:-}" ] && [ -x "$HANDLE_REPORT" ] || return 0
    local rc=0
    timeout 60 "$HANDLE_REPORT" "$@" >report.out 2>report.err || rc=$?
    case $rc in 0 | 1 | 2) ;; *) fail "handle-report on $* exited with $rc: $(head -5 report.err)" ;; esac
}
intact() { # TRACE: integrity_check ok and a handle trace
    local r
    r=$($C integrity "$1") || fail "$1: $r"
}
warnings() { grep -c 'WARNING: HandleSanitizer' "${1:-err}"; }
# limited KIB CMD...: CMD with RLIMIT_FSIZE = KIB KiB; its stdout and stderr
# go through pipes (not subject to the limit) into out and err; sets rc.
limited() {
    local kib=$1
    shift
    rm -f o.fifo e.fifo
    mkfifo o.fifo e.fifo
    cat o.fifo >out &
    local c1=$!
    cat e.fifo >err &
    local c2=$!
    { (ulimit -f "$kib"; exec "$@") >o.fifo 2>e.fifo; } 2>/dev/null
    rc=$?
    wait $c1 $c2
    rm -f o.fifo e.fifo
}

case $case_name in
kill9)
    n=${size:-50}
    seed=${FAULT_SEED:-$$}
    RANDOM=$seed
    note "$n kills, seed $seed (FAULT_SEED=$seed to repeat)"
    ok=0 worst=-1 rows_total=0 results=()
    for i in $(seq "$n"); do
        delay=$((20 + RANDOM % 2480))
        rm -f t.db t.db-wal t.db-shm ck
        line=$($C kill9 "$delay" ck t.db 100 1000 -- env LD_PRELOAD="$DEBUG_LIB" \
            HANDLE_OPTIONS="trace=$work/t.db:flush_ms=100" "$P" churn 0 ck 3 1000) ; rc=$?
        echo "  $i/$n $line"
        [ "$rc" -eq 0 ] || fail "kill $i (delay ${delay} ms): $line"
        [ -f t.db ] && report t.db
        ok=$((ok + 1))
        age=$(sed -nE 's/.*missing_age_ms=(-?[0-9.]+).*/\1/p' <<<"$line")
        rows=$(sed -nE 's/.*rows=([0-9]+).*/\1/p' <<<"$line")
        rows_total=$((rows_total + ${rows:-0}))
        worst=$(awk -v a="${age:--1}" -v w="$worst" 'BEGIN { print (a > w ? a : w) }')
    done
    note "$ok/$n traces intact; oldest missing event at a kill: ${worst} ms (flush_ms=100, slack 1000 ms); $rows_total rows checked"
    ;;
disk_full_rlimit)
    for kib in 0 16 64 512; do
        rm -f t.db t.db-wal t.db-shm
        # -f counts 1024-byte blocks in bash.
        limited "$kib" env LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS="trace=$work/t.db" "$P" churn 1 - 3 500
        [ "$rc" -eq 153 ] && fail "limit ${kib} KiB: the process died of SIGXFSZ"
        [ "$rc" -eq 23 ] || fail "limit ${kib} KiB: exit status $rc, want 23 (the leak report of the 100 'main' handles)"
        grep -q 'churn done' out || fail "limit ${kib} KiB: the program did not finish"
        grep -q 'detected handle leaks' err || fail "limit ${kib} KiB: no leak report"
        w=$(warnings)
        [ "$w" -ge 1 ] || fail "limit ${kib} KiB: no warning about the trace"
        [ "$w" -le 2 ] || fail "limit ${kib} KiB: $w warnings, want one (or one per failing step)"
        if [ -s t.db ]; then
            intact t.db
            report t.db
        fi
        note "limit ${kib} KiB: exit 23, $w warning(s): $(grep -m1 'WARNING' err | cut -c1-150); trace $( [ -f t.db ] && echo "$(stat -c %s t.db) bytes, intact" || echo none)"
        # A misuse under the same limit: the full diagnostic and abort().
        rm -f t.db t.db-wal t.db-shm
        limited "$kib" env LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS="trace=$work/t.db" "$P" misuse
        [ "$rc" -eq 134 ] || fail "limit ${kib} KiB, misuse: exit status $rc, want 134 (abort)"
        grep -q 'ERROR: HandleSanitizer: double-delete' err || fail "limit ${kib} KiB: no diagnostic"
        grep -q 'ABORTING' err || fail "limit ${kib} KiB: no ABORTING line"
        [ -s t.db ] && intact t.db
    done
    ;;
disk_full_log_path)
    # log_path on a full disk: the diagnostic cannot be written there; the
    # process must still end by abort() (134), not be killed by SIGXFSZ
    # (153) in the middle of its report.
    limited 1 env LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS="trace=:log_path=$work/log" "$P" misuse
    [ "$rc" -eq 153 ] && fail "log_path over RLIMIT_FSIZE: the process died of SIGXFSZ (not by abort) writing its diagnostic"
    [ "$rc" -eq 134 ] || fail "log_path over RLIMIT_FSIZE: exit status $rc, want 134"
    note "log_path over the limit: abort as expected (exit 134)"
    ;;
disk_full_tmpfs)
    if [ "$(id -u)" -ne 0 ]; then note "SKIPPED: mounting a tmpfs needs root"; exit 0; fi
    mkdir -p small
    mount -t tmpfs -o size=256k tmpfs small 2>err || { note "SKIPPED: cannot mount tmpfs: $(cat err)"; exit 0; }
    mnt=$work/small
    dbg HANDLE_OPTIONS="trace=$mnt/t.db" "$P" churn 1.5 - 3 500 >out 2>err
    rc=$?
    [ "$rc" -eq 23 ] || fail "tmpfs full: exit status $rc, want 23"
    grep -q 'churn done' out || fail "tmpfs full: the program did not finish"
    w=$(warnings)
    [ "$w" -ge 1 ] && [ "$w" -le 2 ] || fail "tmpfs full: $w warnings"
    df -k "$mnt" | tail -1 | awk '{print "[disk_full_tmpfs] tmpfs use: " $3 " KiB of " $2}'
    [ -s "$mnt/t.db" ] && { intact "$mnt/t.db"; report "$mnt/t.db"; }
    note "tmpfs full: exit 23, warning: $(grep -m1 WARNING err | cut -c1-150)"
    dbg HANDLE_OPTIONS="trace=$mnt/t2.db" "$P" misuse >out 2>err
    rc=$?
    [ "$rc" -eq 134 ] && grep -q 'ERROR: HandleSanitizer: double-delete' err \
        || fail "tmpfs full, misuse: exit $rc"
    umount "$mnt" && mnt=
    ;;
eintr)
    secs=${size:-2}
    timeout 120 env LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS="trace=$work/t.db" "$P" eintr "$secs" >out 2>err
    rc=$?
    [ "$rc" -eq 0 ] || fail "exit status $rc"
    grep -q 'HandleSanitizer' err && fail "unexpected diagnostics"
    read -r created deleted signals < <(sed -nE 's/.*signals=([0-9]+) created=([0-9]+) deleted=([0-9]+).*/\2 \3 \1/p' out)
    [ -n "${created:-}" ] || fail "no summary line"
    intact t.db
    $C counts t.db >counts || fail "counts: $(cat counts)"
    rows=$(awk '$1 ~ /^(t[0-9]|signal)$/ {s += $2} END {print s+0}' counts)
    done_=$(awk '$1 ~ /^(t[0-9]|signal)$/ {s += $3} END {print s+0}' counts)
    [ "$rows" = "$created" ] && [ "$done_" = "$deleted" ] \
        || fail "trace has $rows rows / $done_ completed; the program made $created / deleted $deleted"
    grep -q 'ended YES' counts || fail "no ended_at"
    report t.db
    note "$signals signals handled; $created lifetimes, all in the trace"
    ;;
forkstorm)
    n=${size:-100}
    timeout 300 env LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS="trace=$work/t.%p.db:exitcode=0" \
        "$P" forkstorm "$n" >out 2>err
    rc=$?
    [ "$rc" -eq 124 ] && fail "timed out (a deadlock after fork?)"
    [ "$rc" -eq 0 ] || fail "exit status $rc"
    traced=$(sed -nE 's/.*traced=([0-9]+).*/\1/p' out)
    files=$(ls t.*.db 2>/dev/null | wc -l)
    [ "$files" -eq $((traced + 1)) ] || fail "$files trace files, want $((traced + 1)) (the parent and each child that made a handle)"
    for t in t.*.db; do intact "$t"; done
    leaks=$(grep -c 'detected handle leaks' err)
    [ "$leaks" -eq $(( (n + 4) / 5 )) ] || fail "$leaks leak reports, want $(( (n + 4) / 5 )) (one per leaking child)"
    report t.*.db
    note "$n forks: $files traces, all intact; $leaks child leak reports"
    ;;
threadstorm)
    secs=${size:-2}
    timeout 120 env LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS="trace=$work/t.db" "$P" threadstorm "$secs" >out 2>err
    rc=$?
    [ "$rc" -eq 0 ] || fail "exit status $rc"
    grep -q 'HandleSanitizer' err && fail "unexpected diagnostics"
    created=$(sed -nE 's/.*created=([0-9]+).*/\1/p' out)
    threads=$(sed -nE 's/.*threads=([0-9]+).*/\1/p' out)
    intact t.db
    $C counts t.db >counts || fail "counts"
    grep -q "^storm $created $created\$" counts || fail "trace counts: $(cat counts); want storm $created $created"
    nthr=$(sqlite3 t.db 'select count(*) from threads' 2>/dev/null || echo '?')
    report t.db
    note "$threads threads, $created lifetimes, all in the trace ($nthr thread rows)"
    ;;
trace_dir_removed)
    for variant in removed recreated; do
        rm -rf d && mkdir d
        env LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS="trace=$work/d/t.db" "$P" churn 2 - 3 500 >out 2>err &
        pid=$!
        sleep 0.5
        [ -f d/t.db ] || { kill -9 $pid; fail "$variant: no trace after 0.5 s"; }
        rm -rf d
        [ $variant = recreated ] && mkdir d
        wait $pid
        rc=$?
        [ "$rc" -eq 23 ] || fail "$variant: exit status $rc, want 23"
        grep -q 'churn done' out || fail "$variant: the program did not finish"
        grep -q 'detected handle leaks' err || fail "$variant: no leak report"
        left=$( [ -d d ] && ls -A d | tr '\n' ' ')
        note "$variant: exit 23, $(warnings) warning(s)${left:+, files left in the new directory: $left}"
    done
    ;;
*)
    echo "run.sh: unknown case $case_name" >&2
    exit 2
    ;;
esac
exit 0
