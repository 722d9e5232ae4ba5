#!/usr/bin/env bash
# run.sh CASE - one integration test of libhandle-debug.so, run by ctest.
# Programs in $PROGS are linked against libhandle.so and run with
# LD_PRELOAD=$DEBUG_LIB in a private temp dir; each case checks stderr,
# the exit status and the trace (with the sqlite3 shell). Exit 0 = pass.
set -u
case_name=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL [$case_name]: $*" >&2; for f in out err; do [ -f $f ] && { echo "--- $f:" >&2; head -c 6000 $f >&2; }; done; exit 1; }
line_of() { grep -n "$2" "$SRC/progs/$1" | head -1 | cut -d: -f1; }
# run PROG ARGS...: under the debug library; sets $rc; stdout->out, stderr->err
run() { LD_PRELOAD="$DEBUG_LIB" "$PROGS/$@" >out 2>err; rc=$?; }
expect_rc() { [ "$rc" = "$1" ] || fail "exit status $rc, expected $1"; }
has() { grep -qE -- "$1" "${2:-err}" || fail "missing /$1/ in ${2:-err}"; }
hasnt() { ! grep -qE -- "$1" "${2:-err}" || fail "unexpected /$1/ in ${2:-err}"; }
sql() { sqlite3 "$1" "$2"; }
one_trace() { local t; t=$(ls handle-trace.*.db 2>/dev/null); [ "$(echo "$t" | wc -w)" = 1 ] || fail "expected one trace, found: $t"; echo "$t"; }

M=misuse.c
L_CREATE=$(line_of $M LINE_CREATE); L_DELETE=$(line_of $M LINE_DELETE)
L_USE=$(line_of $M 'LINE_USE \*/'); L_USE_TAGGED=$(line_of $M LINE_USE_TAGGED)
L_SESSION=$(line_of leak.c LINE_SESSION); L_PLAIN=$(line_of leak.c LINE_PLAIN)
FRAME='    #[0-9]+ 0x[0-9a-f]+ in'

# Cases in cases/*.sh: one function case_NAME per case (registered by
# CMakeLists.txt from those files), grouped by topic.
for f in "$SRC"/cases/*.sh; do [ -f "$f" ] && . "$f"; done
if declare -F "case_$case_name" >/dev/null; then
  "case_$case_name"
  echo "PASS [$case_name]"
  exit 0
fi

case $case_name in
abi_exports)
  # Under scripts/coverage.sh (FAULT_UNDER_COVERAGE set) gcc's --coverage
  # links libgcov into the libraries, which then export its __gcov_* data
  # and mangle_path; those alone are left out there.
  gcov='^$'
  [ -n "${FAULT_UNDER_COVERAGE:-}" ] && gcov='^(__gcov_.*|mangle_path)$'
  a=$(nm -D --defined-only "$RELEASE_LIB" | awk '{print $3}' | grep -Ev "$gcov" | sort)
  b=$(nm -D --defined-only "$DEBUG_LIB" | awk '{print $3}' | grep -Ev "$gcov" | sort)
  [ "$a" = "$b" ] || fail "exports differ: release [$a] debug [$b]"
  [ "$(echo "$a" | wc -l)" = 7 ] || fail "expected 7 exports: $a"
  nm -D "$DEBUG_LIB" | grep -qE ' w __handle_default_options' || fail "no weak __handle_default_options"
  needed=$(readelf -d "$DEBUG_LIB" | awk '/NEEDED/{print $5}' | tr -d '[]' | sort | tr '\n' ' ')
  for n in $needed; do case $n in libc.so.6|libm.so.6|libpthread.so.0|libdl.so.2|ld-linux-x86-64.so.2) ;; *) fail "unexpected NEEDED $n";; esac; done
  ;;
abi_symbols_unchanged)
  "$PROGS/symbols" >plain 2>&1 || fail "plain run failed"
  HANDLE_OPTIONS=trace= LD_PRELOAD="$DEBUG_LIB" "$PROGS/symbols" >debug 2>&1 || fail "debug run failed: $(cat debug)"
  diff plain debug >&2 || fail "symbol resolution changes under LD_PRELOAD"
  ;;
cxx_exceptions)
  command -v c++ >/dev/null || fail "no C++ compiler"
  c++ -O1 -g -I"$INCLUDE_DIR" "$SRC/progs/exceptions.cpp" "$RELEASE_LIB" -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o exc || fail "cannot build"
  LD_PRELOAD="$DEBUG_LIB" ./exc >out 2>err; rc=$?
  expect_rc 0; has 'caught=1000' out
  ;;
ok_program)
  run misuse ok; expect_rc 0; has '^ok$' out; hasnt 'HandleSanitizer' err
  t=$(one_trace)
  [ "$(stat -c %a "$t")" = 600 ] || fail "trace mode $(stat -c %a "$t")"
  [ "$(sql "$t" "select count(*) from handles")" = 1 ] || fail "handles rows"
  [ "$(sql "$t" "select count(*) from leaks")" = 0 ] || fail "leaks rows"
  [ "$(sql "$t" "select value from meta where key='format'")" = handle-trace ] || fail "meta format"
  [ "$(sql "$t" "select value from meta where key='exit_status'")" = 0 ] || fail "meta exit_status"
  [ "$(sql "$t" "select tag from handles")" = "struct conn" ] || fail "tag"
  [ "$(sql "$t" "pragma integrity_check")" = ok ] || fail "integrity"
  # plain run, release library: same program, no output
  "$PROGS/misuse" ok >out 2>err; rc=$?; expect_rc 0
  ;;
no_handle_no_file)
  run noop; expect_rc 0; has 'live=0' out
  [ -z "$(ls)" ] || [ "$(ls | tr '\n' ' ')" = "err out " ] || fail "files left: $(ls)"
  ;;
double_delete)
  run misuse double-delete; expect_rc 134
  has "==[0-9]+==ERROR: HandleSanitizer: double-delete on handle 0x[0-9a-f]+ in thread T0"
  has "^    #0 0x[0-9a-f]+ in drop_conn .*misuse.c:$L_DELETE"
  has "was deleted by thread T0 here:"
  has "previously created by thread T0 here:"
  has "^    #0 0x[0-9a-f]+ in make_conn .*misuse.c:$L_CREATE"
  has 'tag "struct conn"'
  has "SUMMARY: HandleSanitizer: double-delete .*misuse.c:$L_DELETE in drop_conn"
  has "==[0-9]+==ABORTING"
  hasnt 'not reached' out
  t=$(one_trace)
  [ "$(sql "$t" "select kind from errors")" = double-delete ] || fail "errors row"
  [ "$(sql "$t" "select count(*) from errors where created_stack is not null and deleted_stack is not null and stack is not null")" = 1 ] || fail "error stacks"
  [ "$(sql "$t" "pragma integrity_check")" = ok ] || fail "integrity"
  # the release build: two lines, the hint, abort
  "$PROGS/misuse" double-delete >out 2>err; rc=$?; expect_rc 134
  has "^==[0-9]+==ERROR: HandleSanitizer: double-delete on handle 0x[0-9a-f]+$"
  has "libhandle-debug.so"
  [ "$(wc -l <err)" = 2 ] || fail "release panic is not two lines"
  ;;
double_delete_cross_thread)
  run misuse double-delete-thread; expect_rc 134
  has "double-delete on handle 0x[0-9a-f]+ in thread T0"
  has "was deleted by thread T1 here:"
  has "previously created by thread T0 here:"
  ;;
use_after_delete)
  run misuse use-after-delete; expect_rc 134
  has "use-after-delete on handle 0x[0-9a-f]+ in thread T0"
  has "^    #0 0x[0-9a-f]+ in use_conn .*misuse.c:$L_USE"
  has "was deleted by thread T0 here:"
  has "in drop_conn .*misuse.c:$L_DELETE"
  has "in make_conn .*misuse.c:$L_CREATE"
  has "SUMMARY: HandleSanitizer: use-after-delete .*misuse.c:$L_USE in use_conn"
  ;;
invalid_handle)
  run misuse invalid; expect_rc 134
  has "invalid-handle on handle 0x7777700000001234 in thread T0"
  has "in use_conn .*misuse.c:$L_USE"
  has "never issued"
  ;;
zero_handle)
  run misuse zero; expect_rc 134
  has "invalid-handle on handle 0x0 in thread T0"
  has "in drop_conn .*misuse.c:$L_DELETE"
  has "0 is never a valid handle"
  t=$(one_trace)   # the first error creates the trace
  [ "$(sql "$t" "select kind from errors")" = invalid-handle ] || fail "errors row"
  ;;
tag_mismatch)
  run misuse tag-mismatch; expect_rc 134
  has "tag-mismatch on handle 0x[0-9a-f]+ in thread T0"
  has "in use_conn_as .*misuse.c:$L_USE_TAGGED"
  has 'has tag "struct conn" but was resolved with tag "struct session"'
  has "in make_conn .*misuse.c:$L_CREATE"
  ;;
stale_after_reuse)
  HANDLE_OPTIONS=quarantine=0 run misuse stale-reused; expect_rc 134
  has "use-after-delete on handle 0x[0-9a-f]+"
  has "history is gone"
  # with the default quarantine the same program gets both stacks
  run misuse stale-reused; expect_rc 134
  has "was deleted by thread T0 here:"
  ;;
leak_report)
  run leak; expect_rc 23
  has "==[0-9]+==ERROR: HandleSanitizer: detected handle leaks"
  has '^Leak of 2 handle\(s\) tagged "session" created from:'
  has "^    #0 0x[0-9a-f]+ in open_session .*leak.c:$L_SESSION"
  has '^Leak of 1 handle\(s\) created from:'
  has "in open_plain .*leak.c:$L_PLAIN"
  has "in main .*leak.c"
  has "^SUMMARY: HandleSanitizer: 3 handle\(s\) leaked in 2 site\(s\)\.$"
  has "handle-report handle-trace\.[0-9]+\.db"
  # sites largest first
  [ "$(grep -n '^Leak of 2' err | cut -d: -f1)" -lt "$(grep -n '^Leak of 1' err | cut -d: -f1)" ] || fail "order"
  has 'buffered output that must not be lost' out
  t=$(one_trace)
  [ "$(sql "$t" "select count(*) from leaks")" = 3 ] || fail "leaks rows: $(sql "$t" "select count(*) from leaks")"
  [ "$(sql "$t" "select count(*) from handles")" = 5 ] || fail "handles rows"
  [ "$(sql "$t" "select value from meta where key='exit_status'")" = 23 ] || fail "meta exit_status"
  [ -n "$(sql "$t" "select value from meta where key='ended_at'")" ] || fail "ended_at"
  ;;
leak_clean)
  run leak clean; expect_rc 0; [ ! -s err ] || fail "stderr not empty"
  has 'buffered output' out
  ;;
leak_exitcode)
  HANDLE_OPTIONS=exitcode=0 run leak; expect_rc 0; has "detected handle leaks"
  HANDLE_OPTIONS=exitcode=5 run leak; expect_rc 5
  run leak exit7; expect_rc 23
  HANDLE_OPTIONS=detect_leaks=0 run leak; expect_rc 0; hasnt "detected handle leaks"
  HANDLE_OPTIONS=abort_on_error=1 run leak; expect_rc 134; has "detected handle leaks"
  HANDLE_OPTIONS=detect_leaks=0 run leak exit7; expect_rc 7
  ;;
leak_options)
  HANDLE_OPTIONS=max_leaks=1 run leak; expect_rc 23
  has "^Omitting 1 more leak site\(s\)\.$"; hasnt "^Leak of 1 handle"
  has "^SUMMARY: HandleSanitizer: 3 handle\(s\) leaked in 2 site\(s\)\.$"
  rm -f handle-trace.*
  HANDLE_OPTIONS=trace= run leak; expect_rc 23; has "detected handle leaks"
  [ -z "$(ls handle-trace.* 2>/dev/null)" ] || fail "trace= still wrote a file"
  HANDLE_OPTIONS="trace=$work/custom-%p.db:verbosity=1" run leak; expect_rc 23
  ls custom-*.db >/dev/null 2>&1 || fail "no custom trace"
  has "custom-[0-9]+\.db"
  ;;
leak_suppressions)
  printf '# comment\nleak:open_plain\n' >supp.txt
  HANDLE_OPTIONS="suppressions=$work/supp.txt" run leak; expect_rc 23
  hasnt "in open_plain"; has '^Leak of 2 handle\(s\) tagged "session"'
  has "^SUMMARY: HandleSanitizer: 2 handle\(s\) leaked in 1 site\(s\)\.$"
  printf 'leak:leak.c\n' >all.txt
  HANDLE_OPTIONS="suppressions=$work/all.txt" run leak; expect_rc 0; hasnt "detected handle leaks"
  ;;
leak_log_path)
  HANDLE_OPTIONS="log_path=$work/log" run leak; expect_rc 23
  hasnt "detected handle leaks"
  f=$(ls log.* 2>/dev/null | head -1); [ -n "$f" ] || fail "no log file"
  has "detected handle leaks" "$f"
  [ "$(stat -c %a "$f")" = 600 ] || fail "log mode"
  ;;
options_warnings)
  HANDLE_OPTIONS="bogus=1:max_frames=9999:exitcode=7" run leak; expect_rc 7
  has "WARNING: HandleSanitizer: .*bogus"
  has "WARNING: HandleSanitizer: .*max_frames"
  ;;
options_help)
  HANDLE_OPTIONS=help=1 run leak clean; expect_rc 0
  for o in trace detect_leaks exitcode max_frames quarantine flush_ms max_history fast_unwind suppressions log_path abort_on_error max_leaks verbosity help; do has "$o"; done
  ;;
default_options)
  cat >dopt.c <<'C'
#include <handle/handle.h>
const char *__handle_default_options(void) { return "exitcode=9:max_leaks=1"; }
int main(void) { static int x; handle_new(&x); return 0; }
C
  "$CC" -g -I"$INCLUDE_DIR" dopt.c "$RELEASE_LIB" -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o dopt || fail "cannot build"
  LD_PRELOAD="$DEBUG_LIB" ./dopt >out 2>err; rc=$?; expect_rc 9
  HANDLE_OPTIONS=exitcode=4 LD_PRELOAD="$DEBUG_LIB" ./dopt >out 2>err; rc=$?; expect_rc 4
  ;;
threads_trace)
  run threads 7; expect_rc 23; has 'live=7' out
  t=$(one_trace)
  [ "$(sql "$t" "select count(*) from handles")" = 200007 ] || fail "handles: $(sql "$t" "select count(*) from handles")"
  [ "$(sql "$t" "select count(*) from leaks")" = 7 ] || fail "leaks"
  [ "$(sql "$t" "select count(*) from handles where deleted_ns is not null and deleted_thread = created_thread")" = 0 ] || fail "a delete recorded on the creating thread"
  [ "$(sql "$t" "select count(distinct deleted_thread) from handles")" = 4 ] || fail "deleting threads"
  [ "$(sql "$t" "select count(distinct created_thread) from handles")" -ge 4 ] || fail "threads"
  [ "$(sql "$t" "select count(*) from threads")" -ge 5 ] || fail "threads table"
  has "^Leak of 7 handle\(s\) created from:"
  ;;
fork)
  run forker; expect_rc 23
  c1=$(awk '/^child1/{print $2}' out); p=$(awk '/^parent/{print $2}' out)
  [ -n "$c1" ] && [ -n "$p" ] || fail "no pids"
  has "status1=23 status2=0 status3=0" out
  [ "$(ls handle-trace.*.db | wc -l)" = 2 ] || fail "traces: $(ls)"
  [ "$(sql handle-trace.$c1.db "select tag from leaks")" = child ] || fail "child leaks"
  [ "$(sql handle-trace.$p.db "select tag from leaks")" = parent ] || fail "parent leaks"
  [ "$(grep -c 'detected handle leaks' err)" = 2 ] || fail "expected two reports"
  has 'tagged "child" created from:'
  has 'tagged "parent" created from:'
  ;;
kill9)
  LD_PRELOAD="$DEBUG_LIB" "$PROGS/busy" >out 2>err &
  pid=$!
  for i in $(seq 100); do grep -q phase1 out 2>/dev/null && break; sleep 0.05; done
  sleep 1.2
  kill -9 $pid; wait $pid 2>/dev/null
  t=handle-trace.$pid.db
  [ -f "$t" ] || fail "no trace"
  [ "$(sql "$t" "pragma integrity_check")" = ok ] || fail "integrity"
  n=$(sql "$t" "select count(*) from handles"); [ "$n" -ge 50100 ] || fail "only $n lifetimes"
  l=$(sql "$t" "select count(*) from leaks"); [ "$l" -ge 100 ] || fail "only $l live"
  [ -z "$(sql "$t" "select value from meta where key='ended_at'")" ] || fail "ended_at after kill"
  ;;
plugin_unloaded)
  run plugin_host "$PROGS/libplugin.so"; expect_rc 23; has unloaded out
  has 'tagged "plugin object" created from:'
  has "in plugin_leak .*plugin.c:$(line_of plugin.c LINE_PLUGIN)"
  ;;
unwritable_trace)
  HANDLE_OPTIONS="trace=/nonexistent-dir/t.db" run leak; expect_rc 23
  [ "$(grep -c 'WARNING: HandleSanitizer: cannot create trace' err)" = 1 ] || fail "one warning"
  has "detected handle leaks"
  HANDLE_OPTIONS="trace=/nonexistent-dir/t.db" run misuse double-delete; expect_rc 134; has "double-delete"
  ;;
symlink_trace)
  echo precious >target
  ln -s target link.db
  HANDLE_OPTIONS="trace=$work/link.db" run leak; expect_rc 23
  has "WARNING: HandleSanitizer: cannot create trace"
  [ "$(cat target)" = precious ] || fail "symlink target modified"
  [ -L link.db ] || fail "symlink replaced"
  ;;
asan_side_by_side)
  # gcc's ASan runtime (a clang-built program would need clang's instead)
  ACC=gcc; command -v gcc >/dev/null || ACC=$CC
  asan=$("$ACC" -print-file-name=libasan.so)
  [ -f "$asan" ] || fail "no libasan"
  cat >both.c <<'C'
#include <handle/handle.h>
#include <stdlib.h>
#include <string.h>
void *keep;
__attribute__((noinline)) static void leak_both(void) { static int x; handle_new(&x); char *p = malloc(77); memset(p, 1, 77); keep = 0; p = 0; }
int main(void) { leak_both(); return 0; }
C
  "$ACC" -g -O0 -fsanitize=address -I"$INCLUDE_DIR" both.c "$RELEASE_LIB" -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o both || fail "cannot build"
  LD_PRELOAD="$asan:$DEBUG_LIB" ./both >out 2>err; rc=$?
  has "ERROR: HandleSanitizer: detected handle leaks"
  has "ERROR: LeakSanitizer: detected memory leaks"
  has "77 byte"
  [ "$rc" != 0 ] || fail "exit status 0"
  hasnt "libhandle-debug"
  ;;
exit_while_threads_run)
  for i in 1 2 3; do
    timeout 60 env LD_PRELOAD="$DEBUG_LIB" "$PROGS/exit_threads" >out 2>err; rc=$?
    [ "$rc" = 124 ] && fail "deadlock at exit (run $i)"
    expect_rc 23   # the signal handle is leaked on purpose
    has 'signals=1 bad=0' out
    has 'tagged "signal"'
    t=$(one_trace)
    [ "$(sql "$t" "pragma integrity_check")" = ok ] || fail "integrity"
    [ -n "$(sql "$t" "select value from meta where key='ended_at'")" ] || fail "no ended_at"
    rm -f handle-trace.*
  done
  ;;
max_frames)
  HANDLE_OPTIONS=max_frames=2 run leak; expect_rc 23
  has "^    #1 0x"; hasnt "^    #2 0x"
  has "in open_session .*leak.c:$L_SESSION"
  ;;
fast_unwind)
  HANDLE_OPTIONS=fast_unwind=1 run leak; expect_rc 23
  has "^    #0 0x[0-9a-f]+ in open_session .*leak.c:$L_SESSION"
  has "in main .*leak.c"
  HANDLE_OPTIONS=fast_unwind=1 run misuse double-delete; expect_rc 134
  has "in drop_conn .*misuse.c:$L_DELETE"; has "in make_conn .*misuse.c:$L_CREATE"
  ;;
dlopen_by_ffi_host)
  "$PROGS/ffi_host" "$RELEASE_LIB" >out 2>err; rc=$?; expect_rc 0; has 'ffi ok=1' out
  HANDLE_OPTIONS=trace= "$PROGS/ffi_host" "$DEBUG_LIB" >out 2>err; rc=$?; expect_rc 0; has 'ffi ok=1' out
  ;;
demo_eventloop)
  LD_PRELOAD="$DEBUG_LIB" "$DEMO" >out 2>err; rc=$?
  expect_rc 23
  has 'served 12 requests, rejected 6, 6 handle\(s\) still live' out
  has '^Leak of 6 handle\(s\) tagged "struct conn" created from:'
  has "in accept_conn .*eventloop.c"
  has "^SUMMARY: HandleSanitizer: 6 handle\(s\) leaked in 1 site\(s\)\.$"
  hasnt "struct timer"
  "$DEMO" >out 2>err; rc=$?; expect_rc 0   # the release build says nothing
  [ ! -s err ] || fail "release build printed something"
  ;;
rt_reentrant)
  # The program's own malloc makes handles while the runtime allocates
  # (start-up, trace set-up): served, never recorded, never a deadlock.
  timeout 60 env LD_PRELOAD="$DEBUG_LIB" "$PROGS/rt" reentrant >out 2>err; rc=$?
  expect_rc 23   # the one handle kept from malloc is a leak
  n=$(sed -nE 's/^reentrant=([0-9]+) value_ok=1 live=1$/\1/p' out)
  [ -n "$n" ] && [ "$n" -ge 1 ] || fail "no re-entered handle: $(cat out)"
  has '^Leak of 1 handle\(s\) created from:$'
  grep -A1 '^Leak of 1 handle' err | grep -qx '    <empty stack>' || fail "the unrecorded handle's site is not <empty stack>"
  has "^SUMMARY: HandleSanitizer: 1 handle\(s\) leaked in 1 site\(s\)\.$"
  t=$(one_trace)
  [ "$(sql "$t" "select group_concat(tag) from handles")" = outer ] || fail "re-entered handles were recorded: $(sql "$t" "select tag, count(*) from handles group by tag")"
  # A misuse inside the re-entered call: the full diagnostic, then abort.
  rm -f handle-trace.*
  timeout 60 env LD_PRELOAD="$DEBUG_LIB" "$PROGS/rt" reentrant misuse >out 2>err; rc=$?
  expect_rc 134
  has "ERROR: HandleSanitizer: invalid-handle on handle 0x5555000000000077 in thread T0"
  has "^    #0 0x[0-9a-f]+ in hook .*rt.c:$(line_of rt.c LINE_HOOK_MISUSE)"
  has "never issued"
  has "SUMMARY: HandleSanitizer: invalid-handle .*rt.c:$(line_of rt.c LINE_HOOK_MISUSE) in hook"
  has "==[0-9]+==ABORTING"
  ;;
rt_jit_frames)
  # Handles made and misused from code in an anonymous executable mapping
  # (JIT code): that frame is printed as in no module, the rest symbolized.
  run rt jit; expect_rc 23
  jit=$(sed -n 's/^jit=0x//p' out); [ -n "$jit" ] || fail "no jit address"
  pfx=${jit%???}
  has '^Leak of 1 handle\(s\) tagged "jit" created from:'
  has "^    #0 0x[0-9a-f]+ in from_jit .*rt.c"
  has "^    #1 0x${pfx}[0-9a-f]{3} \(<unknown module>\)$"
  has "^    #2 0x[0-9a-f]+ in jit_main .*rt.c"
  rm -f handle-trace.*
  for fu in 0 1; do
    HANDLE_OPTIONS=fast_unwind=$fu run rt jit misuse; expect_rc 134
    jit=$(sed -n 's/^jit=0x//p' out); pfx=${jit%???}
    has "invalid-handle on handle 0x6666000000000042 in thread T0"
    has "^    #1 0x${pfx}[0-9a-f]{3} \(<unknown module>\)$"
    has "in jit_main .*rt.c"
    has "SUMMARY: HandleSanitizer: invalid-handle .*rt.c:[0-9]+ in from_jit"
    t=$(one_trace)
    [ "$(sql "$t" "select kind from errors")" = invalid-handle ] || fail "errors row"
    rm -f handle-trace.*
  done
  ;;
rt_out_of_handles)
  # RLIMIT_AS leaves no room for the handle table's second chunk: the
  # out-of-handles panic (SPEC section 2), in both builds.
  run rt ooh; expect_rc 134
  made=$(tail -1 out | sed -n 's/^made=//p'); [ "${made:-0}" -ge 65530 ] || fail "made ${made:-?} handles"
  has "==[0-9]+==ERROR: HandleSanitizer: out-of-handles on handle 0x0 in thread T0"
  has "no handle could be created: the table or memory is exhausted \([0-9]+ handles live\)"
  has "SUMMARY: HandleSanitizer: out-of-handles"
  has "==[0-9]+==ABORTING"
  "$PROGS/rt" ooh >out 2>err; rc=$?; expect_rc 134
  has "^==[0-9]+==ERROR: HandleSanitizer: out-of-handles on handle 0x0$"
  [ "$(wc -l <err)" = 2 ] || fail "release panic is not two lines"
  ;;
rt_many_modules)
  # 300 plugins loaded at once, a handle leaked from each, half of them
  # unloaded before exit: every site symbolized, unloads in the trace.
  mkdir pl; for i in $(seq 0 299); do cp "$PROGS/libplugin.so" "pl/p$i.so"; done
  HANDLE_OPTIONS=max_leaks=1000 run rt dlmany "$work/pl" 300; expect_rc 23
  has '^plugins=300 live=300$' out
  [ "$(grep -c "^    #0 0x[0-9a-f]* in plugin_leak .*plugin.c:$(line_of plugin.c LINE_PLUGIN)$" err)" = 300 ] || fail "not 300 symbolized plugin sites"
  has "^SUMMARY: HandleSanitizer: 300 handle\(s\) leaked in 300 site\(s\)\.$"
  t=$(one_trace)
  [ "$(sql "$t" "select count(*) from modules where path like '%/pl/p%.so'")" = 300 ] || fail "plugin modules in the trace: $(sql "$t" "select count(*) from modules")"
  [ "$(sql "$t" "select count(*) from modules where path like '%/pl/p%.so' and unloaded_ns is not null")" = 150 ] || fail "unloaded plugins"
  ;;
rt_paths_and_log)
  # %% and %p in trace=; verbosity=1 names the trace at start and exit;
  # log_path gets every line (several writes, one file), a child its own.
  HANDLE_OPTIONS="trace=$work/a%%b-%p.db:verbosity=1" run leak; expect_rc 23
  f=$(ls a%b-*.db 2>/dev/null); [ -n "$f" ] || fail "no a%b-PID.db: $(ls)"
  [[ $f =~ ^a%b-[0-9]+\.db$ ]] || fail "trace name $f"
  has "==[0-9]+==HandleSanitizer: tracing to $work/$f"
  has "==[0-9]+==HandleSanitizer: exiting with status 23; trace $work/$f"
  HANDLE_OPTIONS="trace=$work/x.db:verbosity=1:log_path=$work/log" run forker; expect_rc 23
  [ ! -s err ] || fail "stderr not empty with log_path: $(head -3 err)"
  [ "$(ls log.* | wc -l)" = 2 ] || fail "log files: $(ls log.*)"
  for l in log.*; do
    grep -q 'tracing to' "$l" && grep -q 'exiting with status' "$l" && grep -q 'detected handle leaks' "$l" \
      || fail "$l lacks a line: $(cat "$l")"
  done
  HANDLE_OPTIONS="trace=:log_path=/nonexistent-dir/log" run leak; expect_rc 23
  has "detected handle leaks"   # no log file: stderr
  ;;
rt_trace_path_errors)
  # A directory at the trace path, a missing suppressions file.
  mkdir adir
  HANDLE_OPTIONS="trace=$work/adir" run leak; expect_rc 23
  has "WARNING: HandleSanitizer: cannot create trace $work/adir: exists and is not a regular file; checks go on without a trace"
  has "detected handle leaks"
  [ -d adir ] && [ -z "$(ls -A adir)" ] || fail "the directory was touched"
  # A suppressions file that cannot be read ends the process with status 1
  # and one line naming it, as in LSan (SPEC section 3).
  HANDLE_OPTIONS="trace=:suppressions=$work/missing.supp" run leak; expect_rc 1
  has "^==[0-9]+==ERROR: HandleSanitizer: suppressions: .*missing.supp"
  [ "$(wc -l <err)" = 1 ] || fail "more than one line"
  ;;
*) fail "unknown case";;
esac
echo "PASS [$case_name]"
