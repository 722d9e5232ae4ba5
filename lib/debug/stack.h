/*
 * stack.h - stack capture for the debug runtime (stack.c): our DWARF
 * walker (unwind.c), libunwind's unw_backtrace, or frame pointers.
 */
#ifndef HANDLE_DEBUG_STACK_H
#define HANDLE_DEBUG_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"

/* Captures the caller's stack: up to max return addresses, the library's
 * own frames dropped (pcs[0] is the program's call into the library).
 * Takes no lock. Returns the depth. */
HANDLE__HIDDEN uint32_t handle__stack_capture(uintptr_t *pcs, uint32_t max);
/* Learns the library's own address range (no allocation): first thing at
 * start-up, so that frames of a re-entered call are dropped. */
HANDLE__HIDDEN void handle__stack_self_init(void);
/* Loads libunwind; false if it cannot be loaded. */
HANDLE__HIDDEN bool handle__stack_init(void);
/* Whether pc is inside libhandle-debug.so itself (or libunwind). */
HANDLE__HIDDEN bool handle__self_pc(uintptr_t pc);

#endif
