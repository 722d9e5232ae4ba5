/*
 * rt.h - the debug runtime's process-wide state, in one leaf: the options in
 * force, the per-thread state, the fork epoch, and the diagnostics
 * destination (stderr, stdout or log_path). Every other file of lib/debug
 * may include this; rt.c calls nothing of lib/debug but the options parser.
 */
#ifndef HANDLE_DEBUG_RT_H
#define HANDLE_DEBUG_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"
#include "options.h"

#define HANDLE__MAX_FRAMES 256

/* Per-thread state: one initial-exec TLS block per thread. */
struct handle__tls {
    uint32_t thread;       /* the report's thread number */
    uint32_t epoch;        /* fork epoch when `thread` was assigned */
    int busy;              /* re-entry guard: inside the runtime already */
    uintptr_t stack_lo, stack_hi; /* for the frame-pointer walker */
};

/* The options in force (the defaults until start-up has read them). */
HANDLE__HIDDEN extern struct handle__options handle__opt;
/* Incremented in every fork child (handle__rt_fork_child). */
HANDLE__HIDDEN extern _Atomic uint32_t handle__fork_epoch;

HANDLE__HIDDEN struct handle__tls *handle__tls_get(void);

/* Writes text to the diagnostics destination: stderr, or log_path
 * ("stdout", "stderr", or the file PATH.<pid>, created 0600). Never dies of
 * SIGXFSZ and never loses the text: a log file that cannot take it (full
 * disk, RLIMIT_FSIZE, closed) gets the rest written to stderr. errno kept. */
HANDLE__HIDDEN void handle__rt_write(const char *text, size_t len);
/* Whether a report written now gets colours (SPEC section 3, color=):
 * always; never; auto: the destination (stderr, or log_path stdout or
 * stderr; never a log file) is a terminal and NO_COLOR is unset or empty.
 * The colours themselves are lib/report/decorate.h's. errno kept. */
HANDLE__HIDDEN bool handle__rt_color(void);
/* One line "==PID==WARNING: HandleSanitizer: MSG\n" (a long MSG is cut
 * with "..." but the line always ends with its newline). */
HANDLE__HIDDEN void handle__rt_warn(const char *msg);
/* One line "==PID==HandleSanitizer: MSG\n" (information: verbosity=1). */
HANDLE__HIDDEN void handle__rt_info(const char *msg);
/* Writes to fd as handle__rt_write does (SIGXFSZ held off); false when not
 * all of it could be written. */
HANDLE__HIDDEN bool handle__rt_write_fd(int fd, const char *text, size_t len);

/* In a fork child: the epoch moves on, the parent's log file is not ours. */
HANDLE__HIDDEN void handle__rt_fork_child(void);

#endif
