/*
 * bigstack.h - runs a report's heavy part (symbolizing with libdw,
 * formatting, opening the trace) on a large private stack, so that a
 * misuse on a thread with a small stack (32-112 KiB thread stacks,
 * `ulimit -s 128`) still gets its full report (SPEC section 4, issue 11
 * case 4).
 */
#ifndef HANDLE_DEBUG_BIGSTACK_H
#define HANDLE_DEBUG_BIGSTACK_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/core.h"

/* The private stack's size; libdw's dwarf_getsrclines alone wants far
 * more than the smallest thread stacks. */
#define HANDLE__BIGSTACK_SIZE (16u << 20)

/* Runs fn(arg) on the calling thread, on a private HANDLE__BIGSTACK_SIZE
 * stack below a guard region, with an alternate signal stack in place for
 * the thread (so that a fault handler can run when that stack is
 * exhausted), then puts everything back. False, with fn not run and a
 * reason in why ("no memory for ..."), when the stack cannot be mapped
 * (RLIMIT_AS, out of memory). */
HANDLE__HIDDEN bool handle__bigstack_run(void (*fn)(void *), void *arg, char *why, size_t len);

#endif
