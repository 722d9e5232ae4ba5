/*
 * forward.h - the debug library's side of "one handle table per process"
 * (SPEC section 1, lib/core/peer.h): its note and peer, the check made once
 * at the runtime's start-up, and the frames of a release library that
 * forwards here (dropped from stacks so that frame #0 stays the program's).
 */
#ifndef HANDLE_DEBUG_FORWARD_H
#define HANDLE_DEBUG_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/peer.h"

/* The calls to forward to when another library's table serves the process
 * (set by handle__forward_check at start-up, then never changed); NULL
 * while this library's own table serves it. */
HANDLE__HIDDEN extern const struct handle__fwd *handle__forward;

/*
 * Called once, at the debug runtime's start-up (after the options are read,
 * so that the warning goes where diagnostics go): decides which table
 * serves the process. Returns NULL when it is this library's; otherwise
 * the calls of the library in charge (a libhandle.so that issued handles
 * before this library started, or that cannot find it; or another copy of
 * libhandle-debug.so), after one warning line through warn(), and sets
 * handle__forward to them. Preserves errno.
 */
HANDLE__HIDDEN const struct handle__fwd *handle__forward_check(void (*warn)(const char *msg));

/* Whether pc is in the code of a library that forwards to this one (its
 * frames sit between the program's call and ours). Lock-free. */
HANDLE__HIDDEN bool handle__forward_pc(uintptr_t pc);

#endif
