# cases/reader.sh - handle-report on traces that are not simply finished:
# incomplete, still running, killed, read in place, merged (issue 12 items
# 6, 7, 8, 15, 16). Sourced by run.sh; one function case_NAME per ctest
# case it_NAME. Each builds its program here.

# rd_build: rd.c, a program that leaks N handles (tag "kept") in
# leak_here, then ("sleep") waits to be killed, or ("fail-trace") makes its
# trace fail with a file size limit, or returns.
rd_build() {
  cat >rd.c <<'C'
#include <handle/handle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static int x;
static void leak_here(void) { handle_new_tagged(&x, "kept"); }
static void churn(void) { handle_delete(handle_new_tagged(&x, "churn")); }
int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "exit";
  int n = argc > 2 ? atoi(argv[2]) : 1;
  for (int i = 0; i < n; i++) leak_here();
  if (strcmp(mode, "sleep") == 0) {
    puts("ready"); fflush(stdout);
    for (;;) sleep(1);
  }
  if (strcmp(mode, "churn") == 0) /* until the trace fails */
    for (int i = 0; i < 2000000; i++) churn();
  return 0;
}
C
  $CC -std=gnu11 -O0 -g -I"$INCLUDE_DIR" rd.c "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o rd || fail "cannot build rd"
}

# rd_start TRACE ARGS...: runs ./rd sleep ARGS in the background with its
# trace at TRACE, waits until it has committed its handles; sets $rd_pid.
rd_start() {
  local t=$1; shift
  HANDLE_OPTIONS="trace=$PWD/$t:flush_ms=20" LD_PRELOAD="$DEBUG_LIB" ./rd sleep "$@" >rd.out 2>rd.err &
  rd_pid=$!
  local i
  for i in $(seq 1 200); do
    [ -s rd.out ] && [ "$(sqlite3 "$t" "select count(*) from leaks" 2>/dev/null)" = "${1:-1}" ] && return 0
    sleep 0.05
  done
  fail "rd did not start or commit: $(cat rd.err)"
}
rd_kill() { kill -9 "$rd_pid" 2>/dev/null; wait "$rd_pid" 2>/dev/null; }

# listing DIR: every file's name, mode, size and modification time.
listing() { (cd "$1" && stat -c '%n %a %s %y' $(ls -A) 2>/dev/null); }

# report_leaves_no_trace: handle-report creates or changes no file beside
# its input: for a finished trace, a killed process's (non-empty -wal, a
# -shm left or removed), one whose -wal is empty, in a read-only directory.
case_report_creates_nothing() {
  rd_build
  # finished
  HANDLE_OPTIONS="trace=$PWD/fin.db" LD_PRELOAD="$DEBUG_LIB" ./rd exit 2 >out 2>err
  mkdir d1 && mv fin.db* d1/
  # killed, its -shm left
  rd_start k.db 2; rd_kill
  mkdir d2 && mv k.db* d2/
  [ -s d2/k.db-wal ] || fail "killed: no -wal content"
  # killed, its -shm gone (copied elsewhere, or removed)
  mkdir d3 && cp d2/k.db d2/k.db-wal d3/
  # an empty -wal beside a complete file, mode 0644
  mkdir d4 && cp d1/fin.db d4/ && : >d4/fin.db-wal && chmod 644 d4/fin.db-wal
  # read-only directory (killed trace)
  mkdir d5 && cp d2/k.db d2/k.db-wal d5/ && chmod 555 d5
  mkdir tmp
  for d in d1 d2 d3 d4 d5; do
    db=$(cd $d && ls *.db)
    before=$(listing $d)
    TMPDIR=$PWD/tmp "$HANDLE_REPORT" $d/$db >out 2>err; rc=$?
    [ "$rc" = 1 ] || fail "$d: exit status $rc, expected 1 (leaks)"
    has 'Leak of 2 handle\(s\) tagged "kept"' out
    after=$(listing $d)
    [ "$before" = "$after" ] || fail "$d changed: before [$before] after [$after]"
    [ -z "$(ls -A tmp)" ] || fail "$d: left in TMPDIR: $(ls -A tmp)"
  done
  chmod 755 d5
  # A running writer: its -shm is used, nothing else is created.
  rd_start live.db 1
  before=$(ls -A | grep '^live' | tr '\n' ' ')
  "$HANDLE_REPORT" live.db >out 2>err; rc=$?
  after=$(ls -A | grep '^live' | tr '\n' ' ')
  rd_kill
  [ "$before" = "$after" ] || fail "running writer: before [$before] after [$after]"
}
