# cases/reader.sh - handle-report on traces that are not simply finished:
# incomplete, still running, killed, read in place, merged (issue 12 items
# 6, 7, 8, 15, 16). Sourced by run.sh; one function case_NAME per ctest
# case it_NAME. Each builds its program here.

# rd_build: rd.c, a program that leaks N handles (tag "kept") in
# leak_here, then ("clean") makes and deletes one handle, or ("sleep")
# waits to be killed, or ("grow") waits for a
# commit and then makes 100000 more (tag "more"), or returns.
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
  if (strcmp(mode, "clean") == 0) /* a trace without leaks */
    churn();
  if (strcmp(mode, "grow") == 0) { /* committed, then so many the trace fails */
    usleep(400000);
    for (int i = 0; i < 100000; i++) churn(), handle_new_tagged(&x, "more");
  }
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

# fsize_run KB ARGS...: ./rd ARGS with its trace t.db limited to KB KiB
# (RLIMIT_FSIZE, SIGXFSZ ignored: writes fail with EFBIG, as on a full
# disk); stderr->err.
fsize_run() {
  local kb=$1; shift
  (trap '' XFSZ; ulimit -f "$kb"; HANDLE_OPTIONS="trace=$PWD/t.db:flush_ms=20" \
    LD_PRELOAD="$DEBUG_LIB" exec ./rd "$@") >out 2>err; rc=$?
}

# Item 6: a trace whose writer stopped (a file size limit: "continuing
# without trace") is never reported clean: one line naming the reason;
# exit 1 with leaks found, else 2. Also when meta.incomplete could not be
# written: a trace its writer closed without ended_at.
case_incomplete_never_clean() {
  rd_build
  # what it committed before its writer stopped: the leaks it holds
  fsize_run 400 exit 100000; expect_rc 23
  has 'continuing without trace'
  [ -n "$(sql t.db "select value from meta where key='incomplete'")" ] || fail "no meta incomplete"
  want=2; [ "$(sql t.db "select count(*) from leaks")" = 0 ] || want=1
  "$HANDLE_REPORT" t.db >out 2>err; rc=$?
  expect_rc $want
  has '^The trace is incomplete \(.*File too large.*\)' out
  hasnt '^No handle leaks found\.$' out
  "$HANDLE_REPORT" -f json t.db >j.json 2>err
  [ "$(sqlite3 :memory: "select json_extract(readfile('j.json'), '\$.traces[0].incomplete') like '%File too large%'")" = 1 ] ||
    fail "json: no incomplete reason"
  # leaks committed before the writer stopped: exit 1, and still said
  rm -f t.db*
  fsize_run 400 grow 3; expect_rc 23
  has 'continuing without trace'
  "$HANDLE_REPORT" t.db >out 2>err; rc=$?
  expect_rc 1
  has '^The trace is incomplete \(' out
  has 'Leak of 3 handle\(s\) tagged "kept"' out
  # no leak in it: exit 2, never "No handle leaks found."
  cp t.db e.db; sql e.db "delete from live"
  "$HANDLE_REPORT" e.db >out 2>err; rc=$?
  expect_rc 2
  has '^The trace is incomplete \(.*File too large.*\)' out
  hasnt '^No handle leaks found\.$' out
  # meta.incomplete could not be written: told from what is missing
  # (closed by its writer, no ended_at)
  sql t.db "delete from meta where key='incomplete'"
  "$HANDLE_REPORT" t.db >out 2>err; rc=$?
  expect_rc 1
  has '^The trace is incomplete \(its writer closed it before the process ended' out
  has 'Leak of 3 handle\(s\) tagged "kept"' out
  sql t.db "delete from live"
  "$HANDLE_REPORT" t.db >out 2>err; rc=$?
  expect_rc 2
  has '^The trace is incomplete' out
  # merged with a clean trace: still not clean
  HANDLE_OPTIONS="trace=$PWD/c.db" LD_PRELOAD="$DEBUG_LIB" ./rd clean 0 >/dev/null 2>&1
  "$HANDLE_REPORT" c.db >out 2>err; rc=$?; expect_rc 0
  "$HANDLE_REPORT" c.db t.db >out 2>err; rc=$?; expect_rc 2
  has '1 incomplete' out
  # a killed process is not incomplete: "did not exit cleanly", its live
  # handles are its leaks
  rd_start k.db 2; rd_kill
  "$HANDLE_REPORT" k.db >out 2>err; rc=$?; expect_rc 1
  has '^The process did not exit cleanly \(crashed or killed\)' out
  hasnt 'incomplete' out
  has 'Leak of 2 handle\(s\) tagged "kept"' out
}

# Item 7: a process still running (its pid with the trace's start_ticks
# and boot_id): "still running; handles live at the last commit, N ms
# ago", its handles listed as live, not leaks, exit 0; once killed, the
# same trace is a killed process's: its handles are leaks.
case_running_not_leaks() {
  rd_build
  rd_start r.db 2
  "$HANDLE_REPORT" r.db >out 2>err; rc=$?
  "$HANDLE_REPORT" -f json r.db >j.json 2>>err; rcj=$?
  rd_kill
  expect_rc 0; [ "$rcj" = 0 ] || fail "json: exit status $rcj"
  has '^The process is still running; handles live at the last commit, [0-9]+ ms ago' out
  has '^Live: 2 handle\(s\) tagged "kept" created from:' out
  hasnt 'did not exit cleanly' out
  hasnt 'ERROR: HandleSanitizer: detected handle leaks' out
  [ "$(sqlite3 :memory: "select json_extract(j,'\$.traces[0].running') = 1 and json_extract(j,'\$.summary.leaked_handles') = 0
        and json_extract(j,'\$.live[0].count') = 2 from (select readfile('j.json') as j)")" = 1 ] || fail "json: $(cat j.json)"
  "$HANDLE_REPORT" r.db >out 2>err; rc=$?
  expect_rc 1
  has '^The process did not exit cleanly' out
  has 'Leak of 2 handle\(s\) tagged "kept"' out
  # another process with the same pid but another start: not running
  rd_start r2.db 1
  sql r2.db "update meta set value = value + 1 where key = 'start_ticks'"
  "$HANDLE_REPORT" r2.db >out 2>err; rc=$?
  sql r2.db "update meta set value = value - 1 where key = 'start_ticks'"
  sql r2.db "update meta set value = 'x' || value where key = 'boot_id'"
  "$HANDLE_REPORT" r2.db >out2 2>err; rc2=$?
  rd_kill
  expect_rc 1; has '^The process did not exit cleanly' out
  [ "$rc2" = 1 ] || fail "another boot: exit status $rc2"; has '^The process did not exit cleanly' out2
}

# Item 15: the suppressions in force during the run are recorded in the
# trace (meta.suppressions) and applied by handle-report: the run and the
# report of its trace agree (exit 0 both), also with --suppressions added.
case_recorded_suppressions() {
  rd_build
  printf '# ours\nleak:leak_here\n' >supp.txt
  HANDLE_OPTIONS="trace=$PWD/s.db:suppressions=$PWD/supp.txt" LD_PRELOAD="$DEBUG_LIB" ./rd exit 2 >out 2>err; rc=$?
  expect_rc 0
  [ "$(sql s.db "select value from meta where key='suppressions'")" = "$(cat supp.txt)" ] || fail "meta.suppressions"
  "$HANDLE_REPORT" s.db >out 2>err; rc=$?; expect_rc 0
  has '^No handle leaks found\.$' out
  has '^ +2 leak_here$' out
  printf 'leak:unrelated_function\n' >other.txt
  "$HANDLE_REPORT" --suppressions other.txt s.db >out 2>err; rc=$?; expect_rc 0
  "$HANDLE_REPORT" -f json s.db >out 2>err; rc=$?; expect_rc 0
  # without suppressions: the run and the report both find the leak
  HANDLE_OPTIONS="trace=$PWD/n.db" LD_PRELOAD="$DEBUG_LIB" ./rd exit 2 >out 2>err; rc=$?
  expect_rc 23
  [ -z "$(sql n.db "select value from meta where key='suppressions'")" ] || fail "meta.suppressions without suppressions="
  "$HANDLE_REPORT" n.db >out 2>err; rc=$?; expect_rc 1
  # a trace's suppressions apply to that trace only
  "$HANDLE_REPORT" s.db n.db >out 2>err; rc=$?; expect_rc 1
  has 'Leak of 2 handle\(s\) tagged "kept" in 1 process \(n.db\)' out
}

# Item 16: merged JSON has "processes" on each leak and "traces" beside
# "trace"; a bad file among good ones: the report of the good ones, one
# line for the bad one, exit 2.
case_merged_bad_file() {
  rd_build
  for i in 1 2 3; do
    HANDLE_OPTIONS="trace=$PWD/m$i.db" LD_PRELOAD="$DEBUG_LIB" ./rd exit $i >/dev/null 2>&1
  done
  "$HANDLE_REPORT" -f json m1.db m2.db m3.db >j.json 2>err; rc=$?; expect_rc 1
  [ "$(sqlite3 :memory: "select json_array_length(j,'\$.traces') = 3 and json_extract(j,'\$.leaks[0].processes') = 3
        and json_extract(j,'\$.leaks[0].count') = 6 and json_type(j,'\$.trace') = 'object'
        and json_extract(j,'\$.traces[1].path') = 'm2.db' from (select readfile('j.json') as j)")" = 1 ] ||
    fail "merged json: $(head -c 3000 j.json)"
  "$HANDLE_REPORT" -f json m1.db >j1.json 2>err; rc=$?; expect_rc 1
  [ "$(sqlite3 :memory: "select json_array_length(j,'\$.traces') = 1 and json_extract(j,'\$.leaks[0].processes') = 1
        and json_extract(j,'\$.trace.path') = 'm1.db' from (select readfile('j1.json') as j)")" = 1 ] ||
    fail "single json: $(head -c 3000 j1.json)"
  head -c 5000 /dev/urandom >bad.db
  for fmt in text json; do
    "$HANDLE_REPORT" -f $fmt m1.db bad.db m3.db >out 2>err; rc=$?
    expect_rc 2
    [ "$(wc -l <err)" = 1 ] || fail "$fmt: not one line on stderr"
    has '^handle-report: bad.db: not an SQLite database' err
  done
  [ "$(sqlite3 :memory: "select json_array_length(j,'\$.traces') = 2 and json_extract(j,'\$.leaks[0].processes') = 2
        and json_extract(j,'\$.leaks[0].count') = 4 from (select readfile('out') as j)")" = 1 ] ||
    fail "json of the good ones: $(head -c 3000 out)"
  "$HANDLE_REPORT" m1.db bad.db m3.db >out 2>err; rc=$?; expect_rc 2
  has '^Merged report of 2 traces' out
  has 'Leak of 4 handle\(s\) tagged "kept" in 2 processes' out
  # only bad files: no report
  "$HANDLE_REPORT" bad.db missing.db >out 2>err; rc=$?; expect_rc 2
  [ ! -s out ] || fail "a report without a good trace"
  [ "$(wc -l <err)" = 2 ] || fail "not one line per bad file"
}

# Item 7 (the runtime's side): a forked child's started_at is its own start
# (it was its parent's: "ran 0.742 s" for a child of a few ms), and its
# times are ns since that start: its handles' times fall within its run.
case_fork_child_started_at() {
  cat >fk.c <<'C'
#include <handle/handle.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static int x;
int main(void) {
  handle_t kept = handle_new_tagged(&x, "parent");
  usleep(600000);
  pid_t p = fork();
  if (p == 0) {
    handle_new_tagged(&x, "child");   /* leaked */
    handle_delete(kept);               /* inherited: the parent's to report */
    exit(0);
  }
  int st; waitpid(p, &st, 0);
  handle_delete(kept);
  return WIFEXITED(st) ? 0 : 1;
}
C
  $CC -std=gnu11 -O0 -g -I"$INCLUDE_DIR" fk.c "$RELEASE_LIB" -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o fk ||
    fail "cannot build fk"
  HANDLE_OPTIONS="trace=$PWD/f.db" LD_PRELOAD="$DEBUG_LIB" ./fk >out 2>err; rc=$?
  expect_rc 0
  c=$(ls f.db.* | grep -v -- '-wal$\|-shm$') || fail "no child trace: $(ls)"
  m() { sql "$1" "select value from meta where key='$2'"; }
  ps=$(m f.db started_at); cs=$(m "$c" started_at); ce=$(m "$c" ended_at)
  [ -n "$ps" ] && [ -n "$cs" ] && [ -n "$ce" ] || fail "meta: parent started $ps, child started $cs ended $ce"
  # the child started after the parent's 600 ms sleep
  [ $((cs - ps)) -ge 500000000 ] || fail "child started_at is $(( (cs - ps) / 1000000 )) ms after the parent's"
  # its handle's creation is within its own run
  cn=$(sql "$c" "select created_ns from handles where tag='child'")
  [ -n "$cn" ] && [ "$cn" -ge 0 ] && [ $((cs + cn)) -le "$ce" ] || fail "child's handle created at $cn ns"
  # the inherited handle's deletion is within the child's run too
  for v in $(sql "$c" "select created_ns, deleted_ns from handles where tag='parent'" | tr '|' ' '); do
    [ "$v" -ge 0 ] && [ $((cs + v)) -le "$ce" ] || fail "inherited handle's time $v ns"
  done
  "$HANDLE_REPORT" "$c" >out 2>err; rc=$?
  expect_rc 1
  # "ran" is the child's own run, without the parent's 600 ms before it
  ran=$(sed -n 's/.*, ran \([0-9.]*\) s, exit status 23$/\1/p' out | head -1)
  [ -n "$ran" ] || fail "no 'ran ... s' in the report"
  awk -v r="$ran" -v ms=$(( (ce - ps) / 1000000 )) 'BEGIN { exit !(r * 1000 <= ms - 500) }' ||
    fail "child ran $ran s; $(( (ce - ps) / 1000000 )) ms from the parent's start to the child's end"
  [ "$(sql "$c" "pragma integrity_check")" = ok ] || fail "integrity"
}

# Issue 12 item 2: a baseline that is a FIFO or a device is refused at
# once with one line (a FIFO without a writer hung the JSON baseline's
# read; /dev/zero never ends), exit 2; a regular JSON baseline still works.
case_baseline_not_regular() {
  rd_build
  HANDLE_OPTIONS="trace=$PWD/t.db" LD_PRELOAD="$DEBUG_LIB" ./rd exit 2 >/dev/null 2>&1
  [ -f t.db ] || fail "no trace"
  mkfifo fifo.json
  for b in fifo.json /dev/zero; do
    timeout 20 "$HANDLE_REPORT" --baseline "$b" t.db >out 2>err; rc=$?
    [ "$rc" = 124 ] && fail "handle-report hung on the baseline $b"
    expect_rc 2
    has "^handle-report: $b: (not a regular file|.*a FIFO|.*a character device)" err
    [ "$(wc -l <err)" = 1 ] || fail "more than one line for $b"
  done
  "$HANDLE_REPORT" -f json -o base.json t.db; [ $? = 1 ] || fail "no JSON report"
  "$HANDLE_REPORT" --baseline base.json t.db >out 2>err; rc=$?
  expect_rc 0
}

# Issue 12 item 2: libdwfl's search for a separate debug file looks beside
# the module (DIR/LINK, DIR/.debug/LINK), in a directory the trace names:
# a FIFO there blocked handle-report in open() forever. It is skipped; the
# module's own symbol table still names the function.
case_debuglink_fifo() {
  mkdir lib
  cat >lib/plug.c <<'C'
#include <handle/handle.h>
static int x;
__attribute__((noinline)) void plug_leak(void) { handle_new(&x); }
C
  cat >main.c <<'C'
void plug_leak(void);
int main(void) { plug_leak(); return 0; }
C
  $CC -g -O1 -fPIC -shared -I"$INCLUDE_DIR" lib/plug.c "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o lib/libplug.so || fail "cannot build the plugin"
  objcopy --only-keep-debug lib/libplug.so lib/libplug.debug &&
    objcopy --strip-debug --add-gnu-debuglink=lib/libplug.debug lib/libplug.so ||
    fail "objcopy"
  $CC -g main.c -Llib -lplug -Wl,-rpath,"$PWD/lib" -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o main ||
    fail "cannot build main"
  HANDLE_OPTIONS="trace=$PWD/t.db" LD_PRELOAD="$DEBUG_LIB" ./main >/dev/null 2>&1
  [ -f t.db ] || fail "no trace"
  rm lib/libplug.debug && mkfifo lib/libplug.debug && mkdir -p lib/.debug && mkfifo lib/.debug/libplug.debug
  timeout 20 "$HANDLE_REPORT" t.db >out 2>err; rc=$?
  [ "$rc" = 124 ] && fail "handle-report hung on a FIFO beside the module"
  expect_rc 1
  has ' in plug_leak ' out
}
