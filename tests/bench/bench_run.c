/*
 * bench_run.c - runs a command and prints what the whole process tree
 * cost: wall time, user and system CPU of every process it started (the
 * tool's helper processes included), the largest RSS among them, and the
 * exit status. The debug-build and anchor sections of scripts/bench.sh
 * time every subject through it, so that a tool that works in another
 * process (heaptrack_interpret, zstd) is charged for it.
 *
 *   bench_run OUT -- COMMAND [ARGS...]
 *
 * OUT gets one line: "wall_ns user_ns sys_ns maxrss_kb status" (status is
 * the exit status, or 128+signal). The command's own stdout and stderr are
 * left alone. bench_run makes itself a child subreaper, so a helper that
 * its parent left behind is reparented here, waited for and counted:
 * RUSAGE_CHILDREN covers every descendant that was waited for. The wall
 * time ends when the last descendant has ended. Exit status: 0, or 2 on
 * bad usage or if the command could not be started.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: bench_run OUT -- COMMAND [ARGS...]\n");
        return 2;
    }
    FILE *out = fopen(argv[1], "w");
    if (out == NULL) {
        fprintf(stderr, "bench_run: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    uint64_t t0 = bench_now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_run: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[3], argv + 3);
        fprintf(stderr, "bench_run: %s: %s\n", argv[3], strerror(errno));
        _exit(127);
    }
    int status = 0, wst;
    pid_t w;
    /* Wait for the command, then for any orphaned helper. */
    while ((w = wait(&wst)) > 0 || (w < 0 && errno == EINTR)) {
        if (w == pid)
            status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
    }
    uint64_t t1 = bench_now_ns();
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    fprintf(out, "%llu %llu %llu %ld %d\n", (unsigned long long)(t1 - t0),
            (unsigned long long)ru.ru_utime.tv_sec * 1000000000ull +
                (unsigned long long)ru.ru_utime.tv_usec * 1000ull,
            (unsigned long long)ru.ru_stime.tv_sec * 1000000000ull +
                (unsigned long long)ru.ru_stime.tv_usec * 1000ull,
            ru.ru_maxrss, status);
    fclose(out);
    return 0;
}
