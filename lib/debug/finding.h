/*
 * finding.h - a misuse as the debug runtime sees it at the moment of the
 * panic, built once from the side table and the model (kind, handle,
 * thread, tag, the three stacks, the creating and deleting threads), and
 * turned into the text of SPEC section 4 by lib/report/finding.c with
 * symbolized or raw frames, and into the trace's errors row.
 */
#ifndef HANDLE_DEBUG_FINDING_H
#define HANDLE_DEBUG_FINDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../report/finding.h"
#include "../report/symbolize.h"
#include "../report/text.h"
#include "runtime.h"
#include "trace.h"

struct handle__misuse {
    int kind;
    handle_t h;
    uint64_t at_ns;
    uint32_t thread, stack;       /* stack: the depot's id of the current stack */
    const uintptr_t *pcs;         /* the current stack as captured (the caller's */
    uint32_t depth;               /* array): used when the depot has no room */
    bool known;                   /* the side table still describes h */
    uint32_t tag;                 /* interned, of the handle; 0: none or unknown */
    const char *want_tag;         /* the tag the caller asked for (tag-mismatch) */
    uint32_t created_thread, created_stack;   /* valid when known */
    bool deleted;                 /* known and deleted: deleted_* valid */
    uint32_t deleted_thread, deleted_stack;
    size_t live;                  /* handles live (out-of-handles) */
    uint64_t quarantine;          /* the option in force */
};

/* Builds the finding: stores the stack in the depot, reads the side
 * table. Takes no lock the fast path takes. */
HANDLE__HIDDEN void handle__misuse_build(struct handle__misuse *m, int kind, handle_t h,
                                        const char *want_tag, const uintptr_t *pcs,
                                        uint32_t depth);

/* The three stacks of m: the current one (from the captured pcs when the
 * depot had no room for it), where it was created and deleted (depth 0:
 * unknown). Valid while the caller's pcs are. */
HANDLE__HIDDEN void handle__misuse_stacks(const struct handle__misuse *m,
                                         struct handle__stack st[3]);

/* The frames of st into out[0..cap): symbolized with sym, or without it
 * raw ("#N 0xPC (MODULE+0xOFF)", from the module table: no libdw, no
 * allocation). Returns the count; cap = handle__misuse_frames_max(st,
 * sym != NULL) is always enough. */
HANDLE__HIDDEN size_t handle__misuse_frames(const struct handle__stack *st,
                                           struct handle__symbolizer *sym,
                                           struct handle__sym_frame *out, size_t cap);
HANDLE__HIDDEN size_t handle__misuse_frames_max(const struct handle__stack *st, bool symbolized);

/* Appends the text of m with the given frames of its three stacks
 * (stack, created, deleted) and note (NULL: none). */
HANDLE__HIDDEN void handle__misuse_text(struct handle__sb *b, const struct handle__misuse *m,
                                       const struct handle__finding_stack st[3],
                                       const char *note);

/* The trace's errors row of m, with message. */
HANDLE__HIDDEN struct handle__trace_error handle__misuse_trace(const struct handle__misuse *m,
                                                              const char *message);

/* Writes a finished report (a panic's, the exit leak report) to the
 * diagnostics destination, coloured as ASan's when handle__rt_color() says
 * so (lib/report/decorate.h); plain when there is no memory to colour it. */
HANDLE__HIDDEN void handle__report_write(const char *text, size_t len);

/* A symbolizer that knows every module loaded now (NULL when out of
 * memory); flags as for handle__sym_new_ex. */
HANDLE__HIDDEN struct handle__symbolizer *handle__report_symbolizer(unsigned flags);

#endif
