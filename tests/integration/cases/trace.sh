# cases/trace.sh - the trace writer inside a host program (issue 11): its
# descriptors, clone children, exec, paths, full disks. Sourced by run.sh;
# one function case_NAME per ctest case it_NAME.

# trace_cc NAME: builds NAME.c (written by the case into the cwd) against
# the release library.
trace_cc() {
  $CC -O1 -g -std=gnu11 -I"$INCLUDE_DIR" "$1.c" -o "$1" "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -lpthread || fail "cannot build $1"
}

# Case 7: the program closes every descriptor (closefrom(3)) while tracing,
# then opens its own files and writes and reads them while it makes
# handles: its files stay byte-exact (the writer never writes into a
# descriptor that is no longer the trace's), and the trace is intact and
# complete.
case_trace_closefrom() {
  cat >cf.c <<'C'
#include <handle/handle.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
enum { FILES = 4, ROUNDS = 40, PER = 5000 };
int main(void)
{
    long made = 0;
    for (int i = 0; i < 1000; i++, made++)
        handle_delete(handle_new((void *)1));
    struct timespec ts = {0, 150 * 1000000};
    nanosleep(&ts, NULL); /* the writer has committed: its descriptors exist */
    closefrom(3);
    int fd[FILES];
    char name[32], line[64];
    for (int f = 0; f < FILES; f++) {
        snprintf(name, sizeof name, "data%d.txt", f);
        fd[f] = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd[f] < 0) { perror(name); return 2; }
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < PER; i++, made++)
            handle_delete(handle_new((void *)2));
        handle_t keep = handle_new((void *)3);
        made++;
        (void)keep;
        for (int f = 0; f < FILES; f++) {
            int n = snprintf(line, sizeof line, "file %d round %02d\n", f, r);
            if (write(fd[f], line, (size_t)n) != n) { perror("write"); return 2; }
        }
        nanosleep(&(struct timespec){0, 5 * 1000000}, NULL);
    }
    for (int f = 0; f < FILES; f++) {
        char buf[4096];
        ssize_t n = pread(fd[f], buf, sizeof buf, 0);
        if (n != ROUNDS * 16) { fprintf(stderr, "file %d: read %zd bytes\n", f, n); return 3; }
        close(fd[f]);
    }
    printf("made=%ld\n", made);
    return 0;
}
C
  trace_cc cf
  LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS="trace=t.db:exitcode=0:flush_ms=20" ./cf >out 2>err; rc=$?
  expect_rc 0
  made=$(sed -n 's/^made=//p' out)
  [ -n "$made" ] || fail "no made= line"
  for f in 0 1 2 3; do
    for r in $(seq -w 0 39); do printf 'file %d round %s\n' $f $r; done >want$f
    cmp -s want$f data$f.txt || fail "data$f.txt changed: $(stat -c %s data$f.txt) bytes, want $(stat -c %s want$f)"
  done
  [ "$(sql t.db "pragma integrity_check")" = ok ] || fail "trace not intact"
  [ "$(sql t.db "select count(*) from handles")" = "$made" ] || fail "trace has $(sql t.db "select count(*) from handles") lifetimes, the program made $made"
  [ "$(sql t.db "select value from meta where key = 'exit_status'")" = 0 ] || fail "no exit_status in meta"
}

# Case 3: a clone() child without CLONE_VM (raw clone(2) with SIGCHLD: no
# atfork handler runs, the writer thread is the parent's) making over a
# million handle calls does not hang waiting for ring room; it stops
# tracing and its checks go on (a double delete is still caught).
case_trace_clone_child() {
  cat >cl.c <<'C'
#define _GNU_SOURCE
#include <handle/handle.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void)
{
    handle_t keep = handle_new((void *)1);
    (void)keep;
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    if (pid < 0) { perror("clone"); return 2; }
    if (pid == 0) {
        for (long i = 0; i < 1200000; i++)
            handle_delete(handle_new((void *)2));
        handle_t h = handle_new((void *)3);
        handle_delete(h);
        handle_delete(h); /* the checks go on: a double-delete panic */
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    handle_delete(keep);
    return 0;
}
C
  trace_cc cl
  LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS="trace=t.%p.db" timeout 60 ./cl >out 2>err; rc=$?
  [ "$rc" = 124 ] && fail "the clone() child hung"
  expect_rc 0
  has '^child signal 6$' out
  has 'ERROR: HandleSanitizer: double-delete'
  t=$(ls t.*.db | head -1)
  [ "$(sql "$t" "pragma integrity_check")" = ok ] || fail "parent trace not intact"
  [ "$(sql "$t" "select count(*) from handles")" = 1 ] || fail "parent trace: $(sql "$t" "select count(*) from handles") lifetimes, want 1"
}

# Case 16: exec keeps the pid. With trace=t.%p.db the image after exec
# does not replace the trace of the image before it (same pid, boot_id
# and start_ticks in its meta): it writes t.PID.db.2.
case_trace_exec_same_pid() {
  cat >ex.c <<'C'
#include <handle/handle.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    handle_t h = handle_new((void *)1);
    (void)h;
    if (argc > 1 && strcmp(argv[1], "again") == 0) {
        printf("second image %d\n", (int)getpid());
        return 0;
    }
    printf("first image %d\n", (int)getpid());
    fflush(stdout);
    nanosleep(&(struct timespec){0, 300 * 1000000}, NULL); /* committed */
    execl("/proc/self/exe", argv[0], "again", (char *)NULL);
    perror("exec");
    return 2;
}
C
  trace_cc ex
  LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS="trace=t.%p.db:exitcode=0" ./ex >out 2>err; rc=$?
  expect_rc 0
  pid=$(sed -n 's/^first image //p' out)
  has "^second image $pid\$" out
  [ -f "t.$pid.db" ] || fail "no t.$pid.db: $(ls)"
  [ -f "t.$pid.db.2" ] || fail "no t.$pid.db.2 (the second image replaced the first's trace?): $(ls)"
  for t in "t.$pid.db" "t.$pid.db.2"; do
    [ "$(sql "$t" "pragma integrity_check")" = ok ] || fail "$t not intact"
    [ "$(sql "$t" "select value from meta where key = 'pid'")" = "$pid" ] || fail "$t: pid"
    [ "$(sql "$t" "select count(*) from handles")" = 1 ] || fail "$t: $(sql "$t" "select count(*) from handles") lifetimes, want 1"
  done
  [ "$(ls t.*.db* | grep -cv -- '-wal$\|-shm$')" = 2 ] || fail "traces: $(ls)"
}

# Case 14: trace=/var/run/x.db, where /var/run is a symbolic link to /run:
# a link in a directory above the file is followed (only a link at the
# path itself is refused). Here with a linked directory of our own.
case_trace_symlinked_dir() {
  mkdir real && ln -s real link || fail "cannot make the link"
  LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS="trace=link/x.db" "$PROGS/misuse" ok >out 2>err; rc=$?
  expect_rc 0
  hasnt 'cannot create trace'
  [ -f real/x.db ] && [ ! -L real/x.db ] || fail "no trace in real/: $(ls -l real)"
  [ "$(sql link/x.db "pragma integrity_check")" = ok ] || fail "trace not intact"
  [ "$(sql link/x.db "select count(*) from handles")" = 1 ] || fail "handles rows"
}
