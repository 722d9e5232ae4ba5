/*
 * runtime.h - the debug runtime's reports (panic.c, leakreport.c): the
 * misuse panic and the exit leak report. Callers: the entry points (debug.c) and the
 * lifecycle (lifecycle.c), which start the runtime and the trace first.
 */
#ifndef HANDLE_DEBUG_RUNTIME_H
#define HANDLE_DEBUG_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"
#include "model.h"
#include "rt.h"
#include "side.h"

/* Prints the full diagnostic for a misuse, records it in the trace,
 * commits, then aborts. `tag` is the tag the caller asked for (tag-mismatch). */
__attribute__((noreturn)) HANDLE__HIDDEN void handle__diag_panic(int kind, handle_t h,
                                                                 const char *tag,
                                                                 const uintptr_t *pcs,
                                                                 uint32_t depth);

/* Reads the suppressions file of the options (if any) for the exit
 * report, once, at start-up. A file that cannot be read, is over 1 MiB or
 * has a malformed line ends the process (SPEC section 3): the program's
 * buffered output is flushed, one line
 *   ==PID==ERROR: HandleSanitizer: suppressions: PATH[:LINE]: WHY
 * is written, and the process _exits with status 1. */
HANDLE__HIDDEN void handle__leak_suppressions_init(void);
/* The text of that file as read (the trace records it as meta
 * suppressions, so that handle-report applies it too); NULL: none. */
HANDLE__HIDDEN const char *handle__leak_suppressions_text(void);

/* The exit leak report of the set the exit check saw (v[0..n), the same
 * set the trace gets): groups it into sites, applies the suppressions read
 * at start-up, symbolizes and prints the report (nothing when no leak is
 * left but, with print_suppressions=1, the "Suppressions used:" table when
 * a suppression matched; print false: nothing printed, 0 returned, for
 * detect_leaks=0). Either way the sites' symbolized frames go to the
 * trace's `symbols` table.
 * Returns the number of leaked handles reported (after suppressions) and
 * sets *sites to their sites. */
HANDLE__HIDDEN uint64_t handle__leak_report(const struct handle__leak *v, size_t n,
                                            uint64_t *sites, bool print);

struct handle__symbolizer;
/* Queues the symbolized frames of pcs[0..depth) (modules[d]: the model's
 * module id of pcs[d]) for the trace's `symbols` table (trace.h:
 * handle__trace_symbols); nothing when no trace is open or sym is NULL. */
HANDLE__HIDDEN void handle__symbols_record(struct handle__symbolizer *sym, const uintptr_t *pcs,
                                           const uint32_t *modules, uint32_t depth);

#endif
