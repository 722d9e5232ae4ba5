/*
 * runtime.h - internal interface between the files of the debug runtime
 * (libhandle-debug.so): lazy start-up, per-thread state, stack capture, the
 * per-slot side table, the quarantine, and the reports. The public entry
 * points are in debug.c; nothing here is exported.
 */
#ifndef HANDLE_DEBUG_RUNTIME_H
#define HANDLE_DEBUG_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"
#include "model.h"
#include "options.h"

#define HANDLE__MAX_FRAMES 256

/* Per-thread state: one initial-exec TLS pointer to it. */
struct handle__tls {
    uint32_t thread;       /* the report's thread number */
    uint32_t epoch;        /* fork epoch when `thread` was assigned */
    int busy;              /* re-entry guard: inside the runtime already */
    uintptr_t stack_lo, stack_hi; /* for the frame-pointer walker */
};

/* The options in force (valid after handle__rt_init()). */
HANDLE__HIDDEN extern struct handle__options handle__opt;
/* Incremented in every fork child. */
HANDLE__HIDDEN extern _Atomic uint32_t handle__fork_epoch;

/* Starts the runtime once (options, unwinder, exit hooks); cheap after the
 * first call. Safe to call from constructors and recursively. */
HANDLE__HIDDEN void handle__rt_init(void);
/* Opens this process's trace if it is not open yet (first handle_new or
 * error); false (with one warning printed, once) if it cannot be created. */
HANDLE__HIDDEN bool handle__rt_trace_start(void);
/* The trace path of this process ("" when there is none). */
HANDLE__HIDDEN const char *handle__rt_trace_path(void);
HANDLE__HIDDEN struct handle__tls *handle__tls_get(void);

/* Captures the caller's stack: up to handle__opt.max_frames return
 * addresses, the library's own frames dropped (pcs[0] is the program's
 * call into the library). Takes no lock. Returns the depth. */
HANDLE__HIDDEN uint32_t handle__stack_capture(uintptr_t *pcs, uint32_t max);
HANDLE__HIDDEN bool handle__stack_init(void);
/* Whether pc is inside libhandle-debug.so itself. */
HANDLE__HIDDEN bool handle__self_pc(uintptr_t pc);

/* Per-slot debug information, indexed like the core table. Written by the
 * thread that owns the slot (the creator, then the deleter that won the
 * retire CAS); read by diagnostics and the leak check, which check `h`. */
struct handle__side {
    _Atomic uint64_t h;    /* the handle this information is about */
    uint64_t created_ns, deleted_ns;
    uint32_t created_stack, deleted_stack;
    uint32_t created_thread, deleted_thread;
    uint32_t tag;          /* interned tag id */
    uint32_t epoch;        /* fork epoch of the creating process */
};
HANDLE__HIDDEN struct handle__side *handle__side_get(uint32_t idx, bool create);

/* Writes text to the diagnostics destination (stderr or log_path). */
HANDLE__HIDDEN void handle__rt_write(const char *text, size_t len);
/* Prints a warning line "==PID==WARNING: HandleSanitizer: MSG\n". */
HANDLE__HIDDEN void handle__rt_warn(const char *msg);

/* Prints the full diagnostic for a misuse, records it in the trace,
 * commits, then aborts. `tag` is the tag the caller asked for (tag-mismatch). */
__attribute__((noreturn)) HANDLE__HIDDEN void handle__diag_panic(int kind, handle_t h,
                                                                 const char *tag,
                                                                 const uintptr_t *pcs,
                                                                 uint32_t depth);

/* The exit leak report of the set the exit check saw (v[0..n), the same
 * set the trace gets): groups it into sites, applies suppressions,
 * symbolizes and prints the report (nothing when no leak is left).
 * Returns the number of leaked handles reported (after suppressions) and
 * sets *sites to their sites. */
HANDLE__HIDDEN uint64_t handle__leak_report(const struct handle__leak *v, size_t n,
                                            uint64_t *sites);

#endif
