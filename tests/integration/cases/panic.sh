# cases/panic.sh - the debug runtime's reports when the process is in
# trouble (issue 11, cases 4, 5 and 13; SPEC section 4): a misuse on a
# small stack, the exit report with a small stack, out of memory, and the
# program's own SIGABRT handler. Sourced by run.sh; one function case_NAME
# per ctest case it_NAME.

# build NAME: compiles NAME.c (written by the case) against the release
# library, with debug info.
build() {
  "$CC" -O1 -g -I"$INCLUDE_DIR" "$1.c" "$RELEASE_LIB" -Wl,-rpath,"$(dirname "$RELEASE_LIB")" \
    -lpthread -o "$1" || fail "cannot build $1"
}

# Case 4: a double delete on a thread with a 32-112 KiB stack prints the
# full, symbolized report (libdw needs far more stack than that), records
# it in the trace, and aborts.
case_small_stack_double_delete() {
  cat >small.c <<'C'
#include <handle/handle.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
static int x;
__attribute__((noinline)) static void twice(void)
{
    handle_t h = handle_new_tagged(&x, "small");
    handle_delete(h);
    handle_delete(h); /* LINE_SECOND */
}
static void *run(void *arg) { (void)arg; twice(); return NULL; }
int main(int argc, char **argv)
{
    pthread_attr_t a;
    pthread_attr_init(&a);
    if (pthread_attr_setstacksize(&a, (size_t)atoi(argv[1]) * 1024) != 0)
        return 2;
    pthread_t t;
    if (pthread_create(&t, &a, run, NULL) != 0)
        return 3;
    pthread_join(t, NULL);
    puts("not reached");
    return 0;
}
C
  build small
  line=$(grep -n LINE_SECOND small.c | cut -d: -f1)
  for kib in 32 64 112; do
    rm -f handle-trace.*
    LD_PRELOAD="$DEBUG_LIB" ./small $kib >out 2>err; rc=$?
    expect_rc 134
    has "==[0-9]+==ERROR: HandleSanitizer: double-delete on handle 0x[0-9a-f]+ in thread T1"
    has "^    #0 0x[0-9a-f]+ in twice .*small.c:$line$"
    has "^handle 0x[0-9a-f]+ \(tag \"small\"\) was deleted by thread T1 here:$"
    has "^previously created by thread T1 here:$"
    has "^SUMMARY: HandleSanitizer: double-delete .*small.c:$line in twice$"
    has "==[0-9]+==ABORTING"
    hasnt "^Note:"
    t=$(one_trace)
    [ "$(sql "$t" "select kind from errors")" = double-delete ] || fail "no errors row ($kib KiB)"
    [ "$(sql "$t" "select value from meta where key='exit_status'")" = 134 ] || fail "exit_status ($kib KiB)"
  done
}

# Case 4: at exit with `ulimit -s 128` a leaking program prints its leak
# report, symbolized, and exits with exitcode (the release build exits 0).
case_small_stack_exit_leaks() {
  ( ulimit -s 128 && LD_PRELOAD="$DEBUG_LIB" exec "$PROGS/leak" >out 2>err ); rc=$?
  expect_rc 23
  has "==[0-9]+==ERROR: HandleSanitizer: detected handle leaks"
  has "^    #0 0x[0-9a-f]+ in open_session .*leak.c:$L_SESSION$"
  has "^SUMMARY: HandleSanitizer: 3 handle\(s\) leaked in 2 site\(s\)\.$"
  hasnt "^Note:"
  has 'buffered output that must not be lost' out
  ( ulimit -s 128 && exec "$PROGS/leak" >out 2>err ); rc=$?
  expect_rc 0
}

# Case 13: the program's own SIGABRT handler runs after the report (as it
# does with the release build), and the process still ends with SIGABRT.
case_sigabrt_handler_kept() {
  cat >abrt.c <<'C'
#include <handle/handle.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
static void on_abort(int sig)
{
    (void)sig;
    static const char msg[] = "program's SIGABRT handler ran\n";
    if (write(2, msg, sizeof msg - 1) < 0)
        _exit(9);
}
int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_abort;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGABRT, &sa, NULL);
    static int x;
    handle_t h = handle_new(&x);
    handle_delete(h);
    handle_delete(h);
    return 0;
}
C
  build abrt
  ./abrt >out 2>err; rc=$?
  expect_rc 134; has "^program's SIGABRT handler ran$"   # the release build
  LD_PRELOAD="$DEBUG_LIB" ./abrt >out 2>err; rc=$?
  expect_rc 134
  has "ERROR: HandleSanitizer: double-delete"
  has "^program's SIGABRT handler ran$"
  [ "$(line_of_err '==ABORTING')" -lt "$(line_of_err "SIGABRT handler ran")" ] || fail "the handler ran before the report ended"
}

# Case 13: Python's faulthandler reports the abort (its SIGABRT handler is
# kept), from a misuse through ctypes.
case_sigabrt_python_faulthandler() {
  command -v python3 >/dev/null || exit 77
  cat >misuse.py <<'P'
import ctypes
lib = ctypes.CDLL(None)
lib.handle_new.restype = ctypes.c_uint64
lib.handle_new.argtypes = [ctypes.c_void_p]
lib.handle_delete.argtypes = [ctypes.c_uint64]
h = lib.handle_new(ctypes.c_void_p(1))
lib.handle_delete(h)
lib.handle_delete(h)
print("not reached")
P
  LD_PRELOAD="$DEBUG_LIB" python3 -X faulthandler misuse.py >out 2>err; rc=$?
  expect_rc 134
  has "ERROR: HandleSanitizer: double-delete"
  has "==ABORTING"
  has "^Fatal Python error: Aborted"
  has 'File ".*misuse.py", line 8'
  hasnt "not reached" out
}

# line_of_err PATTERN: the first line of err matching PATTERN.
line_of_err() { grep -n -- "$1" err | head -1 | cut -d: -f1; }

# Case 4 (and the Rule after case 6): the error is in the trace, committed,
# before symbolizing starts: a process killed while symbolizing (a fake
# libdw.so.1 whose dwfl_begin sends SIGKILL) leaves the errors row, with
# raw "#N 0xPC (MODULE+0xOFF)" frames and a Note saying so.
case_trace_first_when_symbolizing_dies() {
  fx="$SRC/../unit/report_fixtures/fake_libdw.c"
  "$CC" -shared -fPIC -O1 -I"$SRC/../../lib" $(pkg-config --cflags libdw 2>/dev/null) "$fx" \
    -pthread -Wl,-soname,libdw.so.1 -o libdw.so.1 || fail "cannot build the fake libdw"
  LD_LIBRARY_PATH="$PWD" FAKE_DW_KILL=dwfl_begin run misuse double-delete
  expect_rc 137
  t=$(one_trace)
  [ "$(sql "$t" "select kind from errors")" = double-delete ] || fail "no errors row"
  sql "$t" "select message from errors" >msg
  has "^==[0-9]+==ERROR: HandleSanitizer: double-delete on handle 0x[0-9a-f]+ in thread T0$" msg
  has "^    #0 0x[0-9a-f]+ \(.*/misuse\+0x[0-9a-f]+\)$" msg
  has "^Note: the process ended while this report was being symbolized: frames show module\+offset\.$" msg
  has "^SUMMARY: HandleSanitizer: double-delete \(.*/misuse\+0x[0-9a-f]+\)$" msg
  [ "$(sql "$t" "select count(*) from errors where stack is not null and created_stack is not null and deleted_stack is not null")" = 1 ] || fail "error stacks"
}

# Case 5: out-of-handles under RLIMIT_AS: no memory for the stack to
# symbolize on, so the frames print raw with a Note, the error is in the
# trace, and the process aborts (it died of SIGSEGV inside libdw).
case_out_of_handles_raw_frames() {
  run rt ooh; expect_rc 134
  has "==[0-9]+==ERROR: HandleSanitizer: out-of-handles on handle 0x0 in thread T0"
  has "^    #0 0x[0-9a-f]+ \(.*/rt\+0x[0-9a-f]+\)$"
  has "^Note: .*: frames show module\+offset\.$"
  has "^SUMMARY: HandleSanitizer: out-of-handles \(.*/rt\+0x[0-9a-f]+\)$"
  has "==[0-9]+==ABORTING"
  t=$(one_trace)
  [ "$(sql "$t" "select kind from errors")" = out-of-handles ] || fail "no errors row"
}

# The Rule's hosts: a misuse inside a constructor of a dlopen'ed library
# (the loader lock is held by this thread) still gets its full report:
# symbolizing (which dlopens libdw) stays on the misusing thread, so it
# cannot wait on that lock.
case_panic_in_dlopen_constructor() {
  cat >ctor.c <<'C'
#include <handle/handle.h>
static int x;
__attribute__((noinline)) static void ctor_misuse(void)
{
    handle_t h = handle_new(&x);
    handle_delete(h);
    handle_delete(h); /* LINE_CTOR */
}
__attribute__((constructor)) static void at_load(void) { ctor_misuse(); }
C
  cat >host.c <<'C'
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    (void)argc;
    void *p = dlopen(argv[1], RTLD_NOW);
    puts(p ? "loaded" : dlerror());
    return 0;
}
C
  "$CC" -O1 -g -shared -fPIC -I"$INCLUDE_DIR" ctor.c "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o libctor.so || fail "cannot build libctor.so"
  "$CC" -O1 -g host.c -ldl -o host || fail "cannot build host"
  line=$(grep -n LINE_CTOR ctor.c | cut -d: -f1)
  timeout 60 env LD_PRELOAD="$DEBUG_LIB" ./host "$PWD/libctor.so" >out 2>err; rc=$?
  [ "$rc" = 124 ] && fail "deadlock in the panic"
  expect_rc 134
  has "^    #0 0x[0-9a-f]+ in ctor_misuse .*ctor.c:$line$"
  has "^SUMMARY: HandleSanitizer: double-delete .*ctor.c:$line in ctor_misuse$"
  hasnt "^Note:"
  hasnt "loaded" out
}

# A misuse in a signal handler that runs on the thread's own small
# alternate stack (SA_ONSTACK): the full report, and the program's
# alternate stack is not reused under its handler's frames.
case_panic_in_signal_handler_on_altstack() {
  cat >sig.c <<'C'
#include <handle/handle.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
static int x;
static handle_t h;
__attribute__((noinline)) static void in_handler(int sig)
{
    (void)sig;
    handle_delete(h); /* LINE_SIG */
}
int main(void)
{
    static char alt[16384];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = in_handler;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    h = handle_new(&x);
    handle_delete(h);
    raise(SIGUSR1);
    return 0;
}
C
  build sig
  line=$(grep -n LINE_SIG sig.c | cut -d: -f1)
  timeout 60 env LD_PRELOAD="$DEBUG_LIB" ./sig >out 2>err; rc=$?
  expect_rc 134
  has "^    #0 0x[0-9a-f]+ in in_handler .*sig.c:$line$"
  has "^SUMMARY: HandleSanitizer: double-delete .*sig.c:$line in in_handler$"
  hasnt "^Note:"
}

# Two threads misuse handles at the same moment: one report, one abort,
# no hang.
case_two_threads_panic() {
  cat >two.c <<'C'
#include <handle/handle.h>
#include <pthread.h>
static pthread_barrier_t go;
static void *run(void *arg)
{
    (void)arg;
    static int x;
    handle_t h = handle_new(&x);
    handle_delete(h);
    pthread_barrier_wait(&go);
    handle_delete(h);
    return NULL;
}
int main(void)
{
    pthread_barrier_init(&go, NULL, 4);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    return 0;
}
C
  build two
  for i in 1 2 3; do
    rm -f handle-trace.*
    timeout 60 env LD_PRELOAD="$DEBUG_LIB" ./two >out 2>err; rc=$?
    [ "$rc" = 124 ] && fail "hang (run $i)"
    expect_rc 134
    [ "$(grep -c 'ERROR: HandleSanitizer: double-delete' err)" = 1 ] || fail "not one report (run $i)"
    [ "$(grep -c '==ABORTING' err)" = 1 ] || fail "not one ABORTING (run $i)"
    t=$(one_trace)
    [ "$(sql "$t" "select count(*) from errors")" = 1 ] || fail "errors rows (run $i)"
  done
}
