/*
 * failmalloc.c - an LD_PRELOAD shim that makes allocations fail, for the
 * out-of-memory sweeps of tests/faults/run.sh (oom_runtime, oom_report),
 * in the manner of SQLite's OOM tests: run a program once per N, with the
 * Nth allocation failing (FAILMALLOC_MODE=one) or every allocation from
 * the Nth on (FAILMALLOC_MODE=all, the default), and check that it never
 * crashes.
 *
 *   FAILMALLOC_NTH=N     the first allocation to fail (1-based); unset or 0:
 *                        never fail, only count
 *   FAILMALLOC_MODE      one | all
 *   FAILMALLOC_COUNT=F   at exit, _exit or abort, write the number of
 *                        allocations made to the file F (how far a sweep
 *                        must go)
 *
 * malloc, calloc, realloc (with a size), posix_memalign, aligned_alloc,
 * memalign and valloc are counted; free is not. Allocations made by glibc
 * internally (strdup, fopen ...) call its own allocator directly and are
 * not counted. The real allocator is glibc's __libc_* entry points, so no
 * dlsym (which allocates) is needed.
 *
 * Coverage builds (scripts/coverage.sh): libgcov, linked into each library,
 * needs memory to write its counters when the process ends, and crashes
 * when it gets none. Its dump starts with getenv("GCOV_PREFIX_STRIP"),
 * which this shim interposes: from then on nothing fails, nor is counted,
 * any more, so an `all` sweep can run under coverage too, over the same
 * allocations as elsewhere. Nothing else asks for that name.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);

void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);
int posix_memalign(void **out, size_t a, size_t n);
void *aligned_alloc(size_t a, size_t n);
void *memalign(size_t a, size_t n);
void *valloc(size_t n);

static long nth;       /* 0: never fail */
static bool fail_all = true;
static _Atomic long count;
static const char *count_file;

__attribute__((constructor(101))) static void init(void)
{
    const char *s = getenv("FAILMALLOC_NTH");
    nth = s ? atol(s) : 0;
    s = getenv("FAILMALLOC_MODE");
    fail_all = !(s && strcmp(s, "one") == 0);
    count_file = getenv("FAILMALLOC_COUNT");
}

static void write_count(void)
{
    if (!count_file)
        return;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", atomic_load(&count));
    int fd = open(count_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (write(fd, buf, (size_t)n) < 0)
            n = 0;
        close(fd);
    }
}

/* The count is written at every end of the process: a normal exit (this
 * destructor, which may run before the debug runtime's exit leak check),
 * and the _exit() and abort() by which the runtime ends after its leak
 * report or a panic (both interposed here), so that a sweep reaches the
 * allocations of the leak report and of the diagnostics too. */
__attribute__((destructor(101))) static void fini(void)
{
    write_count();
}

void _exit(int status)
{
    write_count();
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

void abort(void)
{
    write_count();
    signal(SIGABRT, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGABRT);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    raise(SIGABRT);
    syscall(SYS_exit_group, 128 + SIGABRT);
    __builtin_unreachable();
}

static _Atomic bool gcov_dumping;

extern char **environ;

/* getenv without the libc symbol we replace (glibc has no __libc_getenv
 * export; a plain scan of environ is enough for the shim). */
char *getenv(const char *name)
{
    if (strcmp(name, "GCOV_PREFIX_STRIP") == 0)
        atomic_store(&gcov_dumping, true);
    size_t n = strlen(name);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static bool fail_now(void)
{
    /* libgcov's own allocations are neither counted nor failed. */
    if (atomic_load_explicit(&gcov_dumping, memory_order_relaxed))
        return false;
    long c = atomic_fetch_add_explicit(&count, 1, memory_order_relaxed) + 1;
    if (nth <= 0)
        return false;
    return fail_all ? c >= nth : c == nth;
}

void *malloc(size_t n)
{
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    if (n != 0 && fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, n);
}

void *memalign(size_t a, size_t n)
{
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_memalign(a, n);
}

int posix_memalign(void **out, size_t a, size_t n)
{
    void *p = memalign(a, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t a, size_t n)
{
    return memalign(a, n);
}

void *valloc(size_t n)
{
    return memalign((size_t)sysconf(_SC_PAGESIZE), n);
}
