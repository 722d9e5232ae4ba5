/*
 * finding.h - one misuse finding of SPEC section 4 (kind, handle, thread,
 * its stacks and what is known about the handle) and the routine that
 * formats it. The debug runtime's panic prints its findings with it, and
 * handle-report renders a recorded error with it, so the two texts cannot
 * drift apart.
 *
 * The caller resolves the stacks into frames first (symbolized, or raw
 * module+offset frames when symbolizing cannot be done safely, with a note
 * saying why). A finding read back from a trace lacks what only the
 * panic knew (the tag asked for, the live count, the quarantine): those
 * parts of the text are then left out, never guessed.
 */
#ifndef HANDLE_REPORT_FINDING_H
#define HANDLE_REPORT_FINDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbolize.h"
#include "text.h"

struct handle__finding_stack {
    const struct handle__sym_frame *f;
    size_t n;                       /* 0: "<empty stack>" */
};

struct handle__finding {
    long pid;                       /* for ==PID== */
    const char *kind;               /* "double-delete" ... */
    uint64_t handle;
    int64_t thread;                 /* T<n>; -1: unknown (T?) */
    const char *tag;                /* the handle's tag; NULL: none or unknown */
    struct handle__finding_stack stack;
    bool has_created, has_deleted;
    int64_t created_thread, deleted_thread; /* -1: unknown */
    struct handle__finding_stack created, deleted;
    /* Known at the time only (the panic fills them; a trace does not
     * hold them): */
    bool has_want_tag;
    const char *want_tag;           /* tag-mismatch: the tag asked for, NULL: none */
    int64_t live;                   /* out-of-handles: handles live; -1: unknown */
    int64_t quarantine;             /* the quarantine option, -1: unknown */
    /* Why frames are not symbolized, one sentence (printed as "Note:
     * ..."), or NULL. */
    const char *note;
};

/* A finding with nothing known but pid, kind and handle (the rest as
 * "unknown"); the caller fills what it has. */
HANDLE__HIDDEN struct handle__finding handle__finding_init(long pid, const char *kind,
                                                          uint64_t handle);

/* Appends the report, from the ===== line to the SUMMARY line (the
 * "==PID==ABORTING" line is the panic's own):
 *
 *   =================================================================
 *   ==PID==ERROR: HandleSanitizer: KIND on handle 0xH in thread TN
 *       #0 ...
 *
 *   (what is known: where it was deleted and created, the tags, why)
 *
 *   Note: ...                                 (only with a note)
 *
 *   SUMMARY: HandleSanitizer: KIND LOCATION   (handle__sb_location)
 */
HANDLE__HIDDEN void handle__finding_text(struct handle__sb *b, const struct handle__finding *f);

#endif
