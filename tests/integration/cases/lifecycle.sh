# cases/lifecycle.sh - the debug runtime's life inside the host: start-up,
# fork, exit, the last thread (issue 11). Sourced by run.sh; one function
# case_NAME per ctest case it_NAME. Each builds its program here.

# build NAME [CC-ARGS...]: NAME.c (in the work dir) linked to libhandle.so.
build() {
  local n=$1; shift
  $CC -std=gnu11 -O1 -g -I"$INCLUDE_DIR" "$n.c" "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -lpthread -ldl "$@" -o "$n" || fail "cannot build $n"
}
# drun [ENV=VAL...] PROG ARGS...: PROG under the debug library with a time
# limit (a hang is a failure, status 124); stdout->out, stderr->err.
drun() { timeout -k 5 30 env LD_PRELOAD="$DEBUG_LIB" "$@" >out 2>err; rc=$?; }

# Case 1: main() ends with pthread_exit() while the trace is on; another
# thread still makes (and leaks) a handle. The process must end when that
# thread ends, with the leak report and exitcode (it hung: the writer
# thread kept it alive, with every signal blocked).
case_pthread_exit_main() {
  cat >pe.c <<'C'
#include <handle/handle.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static int x;
static void *late(void *a) { (void)a; usleep(200000); handle_new_tagged(&x, "late"); puts("late done"); fflush(stdout); return NULL; }
static void bye(void) { puts("atexit ran"); } /* buffered: flushed by exit */
int main(void) {
  atexit(bye);
  handle_new_tagged(&x, "early");
  pthread_t t; pthread_create(&t, NULL, late, NULL);
  pthread_exit(NULL);
}
C
  build pe
  drun ./pe; [ "$rc" = 124 ] || [ "$rc" = 137 ] && fail "hangs after pthread_exit in main"
  expect_rc 23
  has '^late done$' out
  has '^atexit ran$' out   # exit() ran on a program thread: its stdout works
  has 'Leak of 1 handle\(s\) tagged "early"'
  has 'Leak of 1 handle\(s\) tagged "late"'
  t=$(one_trace)
  [ "$(sql "$t" "select count(*) from leaks")" = 2 ] || fail "leaks in the trace"
  [ "$(sql "$t" "select value from meta where key='exit_status'")" = 23 ] || fail "meta exit_status"
  # No leak: status 0, as glibc ends such a process.
  HANDLE_OPTIONS=detect_leaks=0 drun ./pe; expect_rc 0
  # main() the only program thread: pthread_exit() ends the process at once.
  cat >pe2.c <<'C'
#include <handle/handle.h>
#include <pthread.h>
int main(void) { static int x; handle_delete(handle_new(&x)); pthread_exit(NULL); }
C
  build pe2
  drun ./pe2; [ "$rc" = 124 ] || [ "$rc" = 137 ] && fail "main alone: hangs after pthread_exit"
  expect_rc 0
  hasnt 'HandleSanitizer'
}

# Case 2: fork() while another thread is inside the runtime's first-call
# start-up: the child must not hang. The start-up is held open on purpose
# (the program's __handle_default_options, which start-up calls, waits
# until the fork happened), so the race is hit every time.
case_fork_during_startup() {
  cat >fs.c <<'C'
#include <handle/handle.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static atomic_int in_startup, forked;
const char *__handle_default_options(void) {
  atomic_store(&in_startup, 1);
  for (int i = 0; i < 200 && !atomic_load(&forked); i++) usleep(1000);
  return "";
}
static void *first(void *a) { (void)a; static int x; handle_delete(handle_new(&x)); return NULL; }
int main(void) {
  pthread_t t; pthread_create(&t, NULL, first, NULL);
  while (!atomic_load(&in_startup)) usleep(100);
  pid_t c = fork();
  if (c == 0) { static int y; handle_delete(handle_new(&y)); puts("child ok"); fflush(stdout); _exit(0); }
  atomic_store(&forked, 1);
  pthread_join(t, NULL);
  int st; waitpid(c, &st, 0);
  printf("child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  return 0;
}
C
  build fs
  for i in 1 2 3; do
    HANDLE_OPTIONS=trace= drun ./fs; [ "$rc" = 124 ] && fail "hang (run $i)"
    expect_rc 0; has '^child ok$' out; has '^child status 0$' out
    drun ./fs; [ "$rc" = 124 ] && fail "hang with a trace (run $i)"
    expect_rc 0; has '^child status 0$' out
  done
}

# Case 8: out of memory for the side table is an out-of-handles panic,
# never leaks silently skipped (exit 0).
case_oom_side_table() {
  cat >om.c <<'C'
#include <handle/handle.h>
#include <stdio.h>
#include <sys/resource.h>
/* The core table's second chunk (1.5 MiB) fits under the limit, the side
 * table's (3 MiB) does not. */
int main(void) {
  static int x; static handle_t first[65535];
  for (int i = 0; i < 65535; i++) first[i] = handle_new(&x);
  for (int i = 0; i < 65535; i++) handle_delete(first[i]); /* quarantined */
  FILE *f = fopen("/proc/self/statm", "r"); unsigned long pages = 0;
  if (!f || fscanf(f, "%lu", &pages) != 1) return 2; fclose(f);
  struct rlimit r = {pages * 4096 + (2u << 20), RLIM_INFINITY}; setrlimit(RLIMIT_AS, &r);
  for (int i = 0; i < 100; i++) handle_new(&x);
  puts("not reached"); return 0;
}
C
  build om
  HANDLE_OPTIONS=trace= drun ./om
  [ "$rc" = 0 ] && fail "exit 0: leaks silently skipped"
  expect_rc 134
  has "ERROR: HandleSanitizer: out-of-handles"
  hasnt 'not reached' out
}

# Case 9: preloaded, the leak check runs after every shared library's
# destructors: a C destructor and a C++ static object in a linked .so, and
# a C destructor in a dlopen'ed .so, delete their handles; none is a leak,
# and every destructor runs.
case_exit_after_library_destructors() {
  command -v c++ >/dev/null || fail "no C++ compiler"
  cat >cdtor.c <<'C'
#include <handle/handle.h>
#include <stdio.h>
static handle_t h; static int x;
__attribute__((constructor)) static void make(void) { h = handle_new_tagged(&x, "c-dtor"); }
__attribute__((destructor)) static void drop(void) { handle_delete(h); puts("c destructor ran"); fflush(stdout); }
void cdtor_touch(void) {}
C
  cat >cxx.cpp <<'C'
#include <handle/handle.h>
#include <cstdio>
struct Holder { handle_t h; int x; Holder() { h = handle_new_tagged(&x, "cxx-static"); }
  ~Holder() { handle_delete(h); std::puts("c++ destructor ran"); std::fflush(stdout); } };
static Holder holder;
extern "C" void cxx_touch(void) {}
C
  cat >plug.c <<'C'
#include <handle/handle.h>
#include <stdio.h>
static handle_t h; static int x;
__attribute__((constructor)) static void make(void) { h = handle_new_tagged(&x, "plugin-dtor"); }
__attribute__((destructor)) static void drop(void) { handle_delete(h); puts("plugin destructor ran"); fflush(stdout); }
C
  cat >host.c <<'C'
#include <dlfcn.h>
#include <stdio.h>
void cdtor_touch(void); void cxx_touch(void);
int main(int argc, char **argv) { (void)argc; cdtor_touch(); cxx_touch();
  if (!dlopen(argv[1], RTLD_NOW)) { puts(dlerror()); return 2; } puts("main done"); return 0; }
C
  local rp="-Wl,-rpath,$(dirname "$RELEASE_LIB"):$PWD"
  $CC -shared -fPIC -g -I"$INCLUDE_DIR" cdtor.c "$RELEASE_LIB" $rp -o libcdtor.so || fail build
  c++ -shared -fPIC -g -I"$INCLUDE_DIR" cxx.cpp "$RELEASE_LIB" $rp -o libcxx.so || fail build
  $CC -shared -fPIC -g -I"$INCLUDE_DIR" plug.c "$RELEASE_LIB" $rp -o plug.so || fail build
  $CC -g host.c -L. -lcdtor -lcxx -ldl $rp -o host || fail build
  drun ./host "$PWD/plug.so"
  expect_rc 0
  has '^main done$' out
  has '^c destructor ran$' out
  has '^c\+\+ destructor ran$' out
  has '^plugin destructor ran$' out
  hasnt 'HandleSanitizer'
  t=$(one_trace)
  [ "$(sql "$t" "select count(*) from leaks")" = 0 ] || fail "leaks in the trace"
  [ "$(sql "$t" "select count(*) from handles")" = 3 ] || fail "handles in the trace"
  [ "$(sql "$t" "select value from meta where key='exit_status'")" = 0 ] || fail "meta exit_status"
}

# Case 10: exit() from one thread while others still make handles: the
# report and the trace hold the same leaks.
case_exit_report_equals_trace() {
  cat >ex.c <<'C'
#include <handle/handle.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdatomic.h>
static int x;
static _Atomic int made; /* threads whose first handle exists */
static void *churn(void *a) { (void)a; for (int first = 1;; first = 0) { handle_t h = handle_new_tagged(&x, "churn"); handle_t k = handle_new_tagged(&x, "kept"); if (first) atomic_fetch_add(&made, 1); handle_delete(h); (void)k; if (rand() % 64 == 0) usleep(1); } return NULL; }
int main(void) {
  pthread_t t[3]; for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, churn, NULL);
  usleep(150000);
  while (atomic_load(&made) < 3) usleep(1000); /* leaks exist, however slow the trace's opening */
  exit(0);
}
C
  build ex
  for i in 1 2 3 4 5; do
    rm -f handle-trace.*
    HANDLE_OPTIONS=max_leaks=0 drun ./ex; [ "$rc" = 124 ] && fail "hang (run $i)"
    expect_rc 23
    n=$(sed -n 's/^SUMMARY: HandleSanitizer: \([0-9]*\) handle(s) leaked.*/\1/p' err)
    [ -n "$n" ] || fail "no summary (run $i)"
    t=$(one_trace)
    m=$(sql "$t" "select count(*) from leaks")
    [ "$n" = "$m" ] || fail "run $i: report $n leaks, trace $m"
    [ "$(sql "$t" "select count(*) from leaks where tag='churn'")" = \
      "$(c=$(grep -o 'Leak of [0-9]* handle(s) tagged "churn"' err | grep -o '[0-9]*' | head -1); echo ${c:-0})" ] \
      || fail "run $i: churn leaks differ"
  done
}

# Case 10, the exit during the trace's opening: the first handle call of
# the process opens the trace (the writer thread creates the file and the
# schema) while every other thread's first call waits for it. exit() in
# that window (under load the opening took over 150 ms) ran the check as
# if there were no trace: no handle made yet, so no report, status 0, and
# the trace never finished (no file, or one without meta). The program
# holds the writer's first call (unshare, interposed here) for 400 ms and
# calls exit() inside it: from main, by returning from main, and from a
# churn thread. The check must wait for the opening and then give a
# complete trace whose status and leaks are the report's.
case_exit_while_trace_opens() {
  cat >eo.c <<'C'
#define _GNU_SOURCE
#include <handle/handle.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static _Atomic int in_open;
/* The trace writer's first call: held, so that exit() comes mid-opening. */
int unshare(int flags) { atomic_store(&in_open, 1); usleep(400000); return (int)syscall(SYS_unshare, flags); }
static int x;
static int wait_open(void) { for (int i = 0; i < 10000 && !atomic_load(&in_open); i++) usleep(1000); return atomic_load(&in_open); }
static void *churn(void *a) { (void)a; for (;;) { handle_t h = handle_new_tagged(&x, "churn"); handle_t k = handle_new_tagged(&x, "kept"); handle_delete(h); (void)k; } return NULL; }
static void *exiter(void *a) { (void)a; if (!wait_open()) _exit(99); exit(0); }
int main(int argc, char **argv) {
  const char *how = argc > 1 ? argv[1] : "exit";
  pthread_t t[4]; for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, churn, NULL);
  if (strcmp(how, "thread") == 0) { pthread_create(&t[3], NULL, exiter, NULL); pthread_join(t[3], NULL); return 98; }
  if (!wait_open()) _exit(99); /* the hook was not reached: the test is void */
  if (strcmp(how, "return") == 0) return 0;
  exit(0);
}
C
  build eo -rdynamic
  for how in exit return thread; do
    rm -f handle-trace.*
    HANDLE_OPTIONS=max_leaks=0 drun ./eo $how; [ "$rc" = 124 ] && fail "$how: hang"
    [ "$rc" = 99 ] && fail "$how: the writer's unshare was not reached"
    t=$(ls handle-trace.*.db 2>/dev/null)
    [ "$(echo "$t" | wc -w)" = 1 ] || fail "$how: expected one trace, found: '$t' (status $rc)"
    s=$(sql "$t" "select value from meta where key='exit_status'")
    [ "$s" = "$rc" ] || fail "$how: meta.exit_status '$s', the process exited $rc"
    [ -n "$(sql "$t" "select value from meta where key='ended_at'")" ] || fail "$how: no ended_at"
    m=$(sql "$t" "select count(*) from leaks")
    n=$(sed -n 's/^SUMMARY: HandleSanitizer: \([0-9]*\) handle(s) leaked.*/\1/p' err)
    [ "${n:-0}" = "$m" ] || fail "$how: report ${n:-none} leaks, trace $m"
    if [ "$m" = 0 ]; then expect_rc 0; else expect_rc 23; fi
  done
}

# Case 11: beside LeakSanitizer, meta.exit_status is the status the process
# really ends with (LSan's report ends it first).
case_lsan_exit_status() {
  ACC=gcc; command -v gcc >/dev/null || ACC=$CC
  asan=$("$ACC" -print-file-name=libasan.so); [ -f "$asan" ] || fail "no libasan"
  cat >both.c <<'C'
#include <handle/handle.h>
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) static void leak_both(void) { static int x; handle_new(&x); char *p = malloc(77); memset(p, 1, 77); p = 0; }
int main(void) { leak_both(); return 0; }
C
  "$ACC" -g -O0 -fsanitize=address -I"$INCLUDE_DIR" both.c "$RELEASE_LIB" -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o both || fail "cannot build"
  for opts in "" "exitcode=7" ; do
    ASAN_OPTIONS="$opts" LD_PRELOAD="$asan:$DEBUG_LIB" ./both >out 2>err; rc=$?
    has "ERROR: LeakSanitizer: detected memory leaks"
    has "ERROR: HandleSanitizer: detected handle leaks"
    t=$(one_trace)
    s=$(sql "$t" "select value from meta where key='exit_status'")
    [ "$s" = "$rc" ] || fail "ASAN_OPTIONS=$opts: meta.exit_status $s, the process exited $rc"
    rm -f handle-trace.*
  done
  LSAN_OPTIONS=exitcode=9 LD_PRELOAD="$asan:$DEBUG_LIB" ./both >out 2>err; rc=$?
  t=$(one_trace)
  s=$(sql "$t" "select value from meta where key='exit_status'")
  [ "$s" = "$rc" ] || fail "LSAN_OPTIONS=exitcode=9: meta.exit_status $s, the process exited $rc"
}

# Case 14: a path over PATH_MAX after %p expansion is an error with a
# warning, never cut short; a long path's warning keeps its newline.
case_trace_path_limits() {
  long=$(head -c 4080 /dev/zero | tr '\0' a)
  HANDLE_OPTIONS="trace=$PWD/${long:0:$((4089 - ${#PWD}))}%p.db" drun "$PROGS/leak"
  expect_rc 23
  has "WARNING: HandleSanitizer: cannot create the trace: its path is longer than PATH_MAX"
  [ -z "$(ls | grep aaaa)" ] || fail "a trace was made under a cut path: $(ls | grep -c aaaa)"
  d=$(head -c 1000 /dev/zero | tr '\0' b)
  HANDLE_OPTIONS="trace=/nonexistent/$d.db" drun "$PROGS/leak"; expect_rc 23
  has "cannot create trace /nonexistent/$d.db: .*; checks go on without a trace$"
  has "^==[0-9]+==ERROR: HandleSanitizer: detected handle leaks"
}

# Case 6 (diagnostics side): a misuse with log_path on a file over
# RLIMIT_FSIZE ends by abort() (not SIGXFSZ, 153), and the report is not
# lost: what the log cannot take goes to stderr. Also on stderr itself.
case_log_path_file_size_limit() {
  cat >lp.c <<'C'
#include <handle/handle.h>
int main(void) { static int x; handle_t h = handle_new(&x); handle_delete(h); handle_delete(h); return 0; }
C
  build lp
  # stderr through a pipe (not subject to the limit), the log a file
  ( ulimit -f 1; HANDLE_OPTIONS="trace=:log_path=$PWD/log" LD_PRELOAD="$DEBUG_LIB" exec ./lp ) 2>&1 >/dev/null | cat >err
  rc=${PIPESTATUS[0]}
  [ "$rc" = 153 ] && fail "died of SIGXFSZ writing to log_path"
  expect_rc 134
  has "SUMMARY: HandleSanitizer: double-delete"
  has "==[0-9]+==ABORTING"
  [ "$(stat -c %s log.* | head -1)" -le 1024 ] || fail "log over the limit"
  # stderr itself a file over the limit: still abort, not SIGXFSZ
  ( ulimit -f 1; HANDLE_OPTIONS="trace=" LD_PRELOAD="$DEBUG_LIB" exec ./lp ) >out 2>big.err; rc=$?
  [ "$rc" = 153 ] && fail "died of SIGXFSZ writing to stderr"
  expect_rc 134
}

# Case 17: the writer thread makes unshare(CLONE_NEWUSER) fail with EINVAL
# in a program that was single-threaded; the README's way around it
# (trace=) works. Skipped (77) where user namespaces are not allowed at all.
case_unshare_newuser() {
  cat >un.c <<'C'
#define _GNU_SOURCE
#include <errno.h>
#include <handle/handle.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
int main(void) { static int x; handle_delete(handle_new(&x));
  if (unshare(CLONE_NEWUSER) != 0) { printf("unshare: %s\n", strerror(errno)); return 1; }
  puts("unshare ok"); return 0; }
C
  build un
  ./un >out 2>err || { grep -q 'unshare: Invalid argument' out && fail "fails without the debug build"; exit 77; }
  drun ./un; expect_rc 1; has '^unshare: Invalid argument$' out
  HANDLE_OPTIONS=trace= drun ./un; expect_rc 0; has '^unshare ok$' out
}

# Case 15: a suppressions file that cannot be used is an error, read at the
# runtime's first call: /dev/zero (it read until the OOM killer came), a
# file over 1 MiB, a malformed line: one line naming the file, status 1,
# the program's stdout flushed first.
case_suppressions_bad_file() {
  cat >sp.c <<'C'
#include <handle/handle.h>
#include <stdio.h>
int main(void) { static int x; printf("before the first handle\n"); handle_new(&x); puts("not reached"); return 0; }
C
  build sp
  HANDLE_OPTIONS="trace=:suppressions=/dev/zero" drun ./sp
  expect_rc 1
  has '^==[0-9]+==ERROR: HandleSanitizer: suppressions: /dev/zero: .*1 MiB'
  [ "$(wc -l <err)" = 1 ] || fail "more than one line"
  has '^before the first handle$' out; hasnt 'not reached' out
  head -c 1100000 /dev/zero | tr '\0' '#' >big.supp
  HANDLE_OPTIONS="trace=:suppressions=$PWD/big.supp" drun ./sp; expect_rc 1
  has "suppressions: $PWD/big.supp: .*1 MiB"
  printf 'leak:ok\nnot a suppression\n' >bad.supp
  HANDLE_OPTIONS="trace=:suppressions=$PWD/bad.supp" drun ./sp; expect_rc 1
  has "suppressions: $PWD/bad.supp:2"
  printf 'leak:main\n' >good.supp
  HANDLE_OPTIONS="trace=:suppressions=$PWD/good.supp" drun ./sp; expect_rc 0
  has '^not reached$' out
}
