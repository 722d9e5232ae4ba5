/*
 * lifecycle.h - the life of the debug runtime inside the host process
 * (lifecycle.c): start-up, the trace's opening, fork, and the end (exit
 * leak check, the last thread's exit, LeakSanitizer's death).
 */
#ifndef HANDLE_DEBUG_LIFECYCLE_H
#define HANDLE_DEBUG_LIFECYCLE_H

#include <stdbool.h>

#include "../core/core.h"

/* Starts the runtime once (options, unwinder, fork and exit hooks,
 * suppressions); one acquire load after the first call. Safe from
 * constructors, recursively (a nested call during start-up sees the default
 * options and records nothing) and across fork. */
HANDLE__HIDDEN void handle__life_init(void);

/* Opens this process's trace if it is not open yet (first handle_new or
 * error): true when it is open. One acquire load once decided; the opening
 * itself holds no lock (other threads wait for its outcome). */
HANDLE__HIDDEN bool handle__life_trace_start(void);

/* Prints a warning the trace layer left for a program thread, if any. */
HANDLE__HIDDEN void handle__life_poll(void);

#endif
