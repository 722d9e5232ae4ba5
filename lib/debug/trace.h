/*
 * trace.h - the SQLite trace of SPEC section 5: one database per process,
 * written by one writer thread; calling threads only queue fixed-size
 * events. Only the writer thread touches SQLite.
 *
 * Lifecycle: handle__trace_open() at the first handle_new or error (lazily;
 * a process that makes no handle leaves no file), events while the program
 * runs, handle__trace_close() once at exit. After fork the child calls
 * handle__trace_forget() (never touching the parent's connection) and opens
 * its own trace lazily. Stacks, modules, threads and tags referenced by
 * events are written by the writer from the in-memory model (model.h) the
 * first time an event of this trace refers to them.
 */
#ifndef HANDLE_DEBUG_TRACE_H
#define HANDLE_DEBUG_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"

struct handle__trace_config {
    const char *path;      /* final path, %p already expanded */
    uint32_t flush_ms;     /* commit at least this often */
    uint64_t max_history;  /* 0: keep every completed lifetime */
    int64_t pid;
    const char *exe;       /* /proc/self/exe target */
    const char *cmdline;   /* arguments joined by spaces */
    uint64_t started_at;   /* Unix ns */
};

/* Creates the file (mode 0600, replacing a regular file at path, never
 * following a symlink), writes the schema and meta, starts the writer
 * thread with all signals blocked. Returns true on success; on failure
 * writes a reason into err (NUL-terminated) and nothing is recorded. */
HANDLE__HIDDEN bool handle__trace_open(const struct handle__trace_config *cfg, char *err,
                                       size_t errlen);
HANDLE__HIDDEN bool handle__trace_is_open(void);

/* Queue events. Never drop: when the queue is full, the caller waits. */
HANDLE__HIDDEN void handle__trace_new(handle_t h, uint32_t tag, uint64_t created_ns,
                                      uint32_t created_thread, uint32_t created_stack);
HANDLE__HIDDEN void handle__trace_delete(handle_t h, uint32_t tag, uint64_t created_ns,
                                         uint32_t created_thread, uint32_t created_stack,
                                         uint64_t deleted_ns, uint32_t deleted_thread,
                                         uint32_t deleted_stack);

struct handle__trace_error {
    const char *kind;      /* "double-delete" ... */
    handle_t handle;
    uint64_t at_ns;
    uint32_t thread, stack;
    const char *message;   /* the whole diagnostic text as printed */
    uint32_t tag;          /* of the handle, 0 if none or unknown */
    uint32_t created_thread, created_stack;   /* 0 if unknown */
    uint32_t deleted_thread, deleted_stack;   /* 0 if unknown */
};
/* Records an error and returns once it and everything queued before it is
 * committed (bounded wait: gives up after ~2 s so a panic always ends). */
HANDLE__HIDDEN void handle__trace_error(const struct handle__trace_error *e);

/* Waits until everything queued so far is committed (same bound). */
HANDLE__HIDDEN void handle__trace_sync(void);

/* Final commit: writes ended_at (Unix ns) and exit_status into meta, stops
 * the writer and closes the database. Idempotent. */
HANDLE__HIDDEN void handle__trace_close(int exit_status, uint64_t ended_at);

/* In a fork child: drop every reference to the parent's writer, queue and
 * connection without touching them (no SQLite call, no join). */
HANDLE__HIDDEN void handle__trace_forget(void);

#endif
