/*
 * loader.h - the debug runtime's calls into the dynamic loader's lists
 * (dl_iterate_phdr, and libunwind, which walks them), kept out of fork():
 * glibc's fork() does not take the loader's locks, so a child forked while
 * one of our threads is inside dl_iterate_phdr would inherit the lock held
 * and hang at its first stack. The fork handler's prepare phase waits for
 * our threads to leave and holds new ones back until the fork is done.
 * A leaf: calls nothing of lib/debug.
 */
#ifndef HANDLE_DEBUG_LOADER_H
#define HANDLE_DEBUG_LOADER_H

#include <link.h>

#include "../core/core.h"

/* dl_iterate_phdr, inside the gate. */
HANDLE__HIDDEN int handle__dl_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *),
                                           void *data);
/* Around any other call that may take the loader's locks. */
HANDLE__HIDDEN void handle__loader_enter(void);
HANDLE__HIDDEN void handle__loader_leave(void);
/* pthread_atfork phases (model.h's HANDLE__FORK_*). */
HANDLE__HIDDEN void handle__loader_fork(int phase);

#endif
