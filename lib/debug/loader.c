/*
 * loader.c - the gate between the runtime's loader calls and fork()
 * (loader.h). Threads count themselves in and out with one atomic each;
 * only the slow paths that walk the loader's lists use it (a new pc, a new
 * module, libunwind), never a cached stack walk.
 */
#include "loader.h"

#include "fork_phase.h"

#include <sched.h>
#include <stdatomic.h>
#include <time.h>

static _Atomic int inside;   /* threads between enter and leave */
static _Atomic int pending;  /* a fork is being prepared */

void handle__loader_enter(void)
{
    for (;;) {
        while (atomic_load(&pending))
            sched_yield();
        atomic_fetch_add(&inside, 1);
        if (!atomic_load(&pending))
            return;
        atomic_fetch_sub(&inside, 1); /* the fork came first: after it */
    }
}

void handle__loader_leave(void)
{
    atomic_fetch_sub(&inside, 1);
}

int handle__dl_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data)
{
    handle__loader_enter();
    int r = dl_iterate_phdr(cb, data);
    handle__loader_leave();
    return r;
}

void handle__loader_fork(int phase)
{
    if (phase == HANDLE__FORK_PREPARE) {
        atomic_store(&pending, 1);
        /* Bounded: a thread that stays inside (a callback blocked on the
         * program's own lock) must not stop the fork for ever. */
        for (int i = 0; i < 2000 && atomic_load(&inside) != 0; i++) {
            struct timespec ts = {0, 500000};
            nanosleep(&ts, NULL);
        }
        return;
    }
    if (phase == HANDLE__FORK_CHILD)
        atomic_store(&inside, 0); /* the child has none of the other threads */
    atomic_store(&pending, 0);
}
