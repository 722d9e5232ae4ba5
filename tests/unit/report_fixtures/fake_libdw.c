/*
 * fake_libdw.c - a libdw.so.1 for the failure paths of lib/report/dw.c
 * (test_symbolize_dl --dw-sweep), put first on LD_LIBRARY_PATH:
 *
 *  - FAKE_DW_BROKEN: a library that cannot be loaded with RTLD_NOW (it
 *    needs a function nothing defines), so dlopen fails;
 *  - otherwise every function of dw.h's table is an ifunc whose resolver
 *    gives NULL for the one named by $FAKE_DW_MISSING, so dlsym finds
 *    every symbol before it and not that one. Nothing is ever called,
 *    except the one named by $FAKE_DW_CRASH, which faults (SIGSEGV), as
 *    libdw does when an allocation fails in the wrong place, and the one
 *    named by $FAKE_DW_EXIT, which calls exit(1), as libdw's own
 *    out-of-memory handler does, and the one named by $FAKE_DW_KILL,
 *    which kills the process (SIGKILL: a report cut short while
 *    symbolizing, tests/integration/cases/panic.sh), and the one named by
 *    $FAKE_DW_FOREIGN_CRASH, which first lets another thread fault on a
 *    page the program's own SIGSEGV handler makes accessible (a JVM's or
 *    Go's deliberate faults) and then faults itself.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "report/dw.h"

#ifdef FAKE_DW_BROKEN
void handle_fake_dw_nowhere(void);
void handle_fake_dw_needs(void);
void handle_fake_dw_needs(void)
{
    handle_fake_dw_nowhere();
}
#else
static void never_called(void)
{
    abort();
}

static int *volatile nowhere; /* NULL, hidden from the compiler */

static void crash(void)
{
    *nowhere = 1;
}

/* What libdw does when an allocation fails in some places:
 * error(EXIT_FAILURE, ENOMEM, ...). */
static void bail_out(void)
{
    exit(1);
}

static void killed(void)
{
    raise(SIGKILL);
}

static void *touch(void *page)
{
    *(volatile char *)page = 1; /* faults: the program's handler opens the page */
    return NULL;
}

static void foreign_then_crash(void)
{
    void *page = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_t t;
    if (page == MAP_FAILED || pthread_create(&t, NULL, touch, page) != 0)
        abort();
    pthread_join(t, NULL);
    crash();
}

#define FAKE(name)                                                            \
    static __attribute__((used)) __typeof__(&name) resolve_##name(void)      \
    {                                                                         \
        const char *m = getenv("FAKE_DW_MISSING");                            \
        const char *c = getenv("FAKE_DW_CRASH");                              \
        const char *x = getenv("FAKE_DW_EXIT");                               \
        const char *k = getenv("FAKE_DW_KILL");                               \
        const char *f = getenv("FAKE_DW_FOREIGN_CRASH");                      \
        const char *a = getenv("FAKE_DW_ABORT");                              \
        if (m && strcmp(m, #name) == 0)                                       \
            return NULL;                                                      \
        if (c && strcmp(c, #name) == 0)                                       \
            return (__typeof__(&name))crash;                                  \
        if (x && strcmp(x, #name) == 0)                                       \
            return (__typeof__(&name))bail_out;                               \
        if (k && strcmp(k, #name) == 0)                                       \
            return (__typeof__(&name))killed;                                 \
        if (f && strcmp(f, #name) == 0)                                       \
            return (__typeof__(&name))foreign_then_crash;                     \
        if (a && strcmp(a, #name) == 0)                                       \
            return (__typeof__(&name))abort;                                  \
        return (__typeof__(&name))never_called;                               \
    }                                                                         \
    __typeof__(name) name                                                     \
        __attribute__((visibility("default"), ifunc("resolve_" #name)));
HANDLE__DW_FUNCS(FAKE)
#endif
