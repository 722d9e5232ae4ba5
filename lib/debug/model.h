/*
 * model.h - what the debug runtime keeps in memory about the process and
 * shares between its parts: stacks (the depot), loaded modules, threads and
 * interned tags. All four are append-only: an id, once returned, stays valid
 * and its data never changes or moves (modules only gain an unload time),
 * so the trace writer thread and the reports read them without a lock.
 *
 * Ids are 32-bit and start at 1; 0 means "none". Implemented in depot.c,
 * modules.c, threads.c and tags.c; the trace writer (trace.c) and the
 * reports only read them.
 */
#ifndef HANDLE_DEBUG_MODEL_H
#define HANDLE_DEBUG_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"
#include "fork_phase.h"

/* ---- stacks ---------------------------------------------------------- */

/* A stack: depth return addresses, outermost last (pcs[0] is the program's
 * call into the library), and for each the id of the module it was in when
 * the stack was first seen (0: no known module). The same addresses after
 * one of those modules was unloaded (another mapped there) are another
 * stack, with the new modules. */
struct handle__stack {
    uint32_t depth;
    const uintptr_t *pcs;
    const uint32_t *modules;
};

/* Stores pcs[0..depth) once and returns its id (identical stacks share an
 * id). Lock-free lookup; 0 only when out of memory. */
HANDLE__HIDDEN uint32_t handle__depot_put(const uintptr_t *pcs, uint32_t depth);
/* The stack with this id; false for 0 or an unknown id. */
HANDLE__HIDDEN bool handle__depot_get(uint32_t id, struct handle__stack *out);
/* The number of stacks stored so far (ids are 1..count). */
HANDLE__HIDDEN uint32_t handle__depot_count(void);

/* ---- modules --------------------------------------------------------- */

struct handle__module {
    uint32_t id;
    uintptr_t bias;        /* dl_iterate_phdr's dlpi_addr: pc - bias is the ELF address */
    uintptr_t lo, hi;      /* the mapped range [lo, hi) of its PT_LOAD segments */
    const char *path;      /* absolute path, or the name the loader knows it by */
    const char *build_id;  /* lowercase hex, "" if the module has none */
    uint64_t loaded_ns;    /* first seen, ns since process start */
    _Atomic uint64_t unloaded_ns; /* 0 while loaded */
};

/* The id of the module containing pc, rescanning the loaded modules with
 * dl_iterate_phdr when pc is unknown (new dlopen); 0 if none. */
HANDLE__HIDDEN uint32_t handle__module_of(uintptr_t pc);
HANDLE__HIDDEN const struct handle__module *handle__module_get(uint32_t id);
HANDLE__HIDDEN uint32_t handle__module_count(void);
/* Rescans the loaded modules if dl_iterate_phdr's load/unload counters
 * moved since the last scan (one dl_iterate_phdr otherwise): after it, a
 * module unloaded since has its unload time and a module mapped at its
 * address has its own row. */
HANDLE__HIDDEN void handle__modules_sync(void);
/* Rescans the loaded modules now (start-up, reports: notices unloads). */
HANDLE__HIDDEN void handle__modules_refresh(void);

/* ---- threads --------------------------------------------------------- */

struct handle__thread {
    uint32_t id;           /* the report's number: 0 is T0, the main thread */
    int32_t tid;           /* OS thread id */
    char name[16];         /* pthread name when first seen */
    uint64_t first_ns;
};

/* The calling thread's number, registering it on first use. */
HANDLE__HIDDEN uint32_t handle__thread_self(void);
HANDLE__HIDDEN const struct handle__thread *handle__thread_get(uint32_t id);
HANDLE__HIDDEN uint32_t handle__thread_count(void);

/* ---- tags ------------------------------------------------------------ */

/* Interns the text of tag (compared by content; the copy is the library's,
 * so the caller's string may go away with an unloaded plugin). NULL -> 0. */
HANDLE__HIDDEN uint32_t handle__tag_intern(const char *tag);
/* The text of an interned tag; NULL for 0 or an unknown id. */
HANDLE__HIDDEN const char *handle__tag_get(uint32_t id);
HANDLE__HIDDEN uint32_t handle__tag_count(void);

/* ---- time ------------------------------------------------------------ */

/* ns since process start (CLOCK_MONOTONIC based), and the Unix time in ns
 * of the process start. */
HANDLE__HIDDEN uint64_t handle__now_ns(void);
HANDLE__HIDDEN uint64_t handle__start_unix_ns(void);
/* Whether handle__now_ns reads the TSC (clock.c); for tests. */
HANDLE__HIDDEN bool handle__clock_uses_tsc(void);
/* In a fork child: a re-anchoring cut short by the fork is finished. */
HANDLE__HIDDEN void handle__clock_fork_child(void);
/* In a fork child, after handle__clock_fork_child: the child's own start
 * becomes the process start (SPEC section 5: a forked child's started_at
 * is its own, its times are ns since it); handle__now_ns is then 0 here
 * and handle__start_unix_ns the Unix time of the fork. Times taken
 * before are the parent's: the caller clamps those it keeps. */
HANDLE__HIDDEN void handle__clock_rebase_child(void);

/* ---- the leak set ---------------------------------------------------- */

/* One handle the exit check found live: the set it saw is both printed and
 * written to the trace (SPEC section 4: the report and the trace hold the
 * same leaks), so the check hands the same array to both. */
struct handle__leak {
    handle_t h;
    uint64_t created_ns;
    uint32_t tag, created_stack, created_thread;
};

/* ---- fork ------------------------------------------------------------ */

/* pthread_atfork phases: fork_phase.h. */
HANDLE__HIDDEN void handle__depot_fork(int phase);
HANDLE__HIDDEN void handle__modules_fork(int phase);
HANDLE__HIDDEN void handle__threads_fork(int phase);

#endif
