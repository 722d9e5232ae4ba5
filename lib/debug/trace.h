/*
 * trace.h - the SQLite trace of SPEC section 5: one database per process,
 * written by one writer thread; calling threads only queue fixed-size
 * events. Only the writer thread touches SQLite.
 *
 * Lifecycle: handle__trace_open() at the first handle_new or error (lazily;
 * a process that makes no handle leaves no file), events while the program
 * runs, handle__trace_freeze() and handle__trace_close() once at exit.
 * The writer never prints: its warnings wait in handle__trace_take_warning(). After fork the child calls
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
#include "model.h"

struct handle__trace_config {
    const char *path;      /* final path, %p already expanded */
    uint32_t flush_ms;     /* commit at least this often */
    uint64_t max_history;  /* 0: keep every completed lifetime */
    int64_t pid;
    const char *exe;       /* /proc/self/exe target */
    const char *cmdline;   /* arguments joined by spaces */
    uint64_t started_at;   /* Unix ns */
    uint64_t start_ticks;  /* /proc/self/stat field 22 (0: the writer reads it) */
    const char *boot_id;   /* /proc/sys/kernel/random/boot_id (NULL or "": the writer reads it) */
    const char *suppressions; /* the suppression file in force, as text (NULL: none) */
};

/* Starts the writer thread with all signals blocked; it first takes a
 * descriptor table of its own (unshare(CLONE_FILES)) and closes every
 * descriptor it inherited, then creates the file (mode 0600, replacing a
 * regular file at path, never through a symlink at the path itself),
 * writes the schema and meta. No descriptor is ever opened in the
 * program's table. Returns true on success; on failure writes a reason
 * into err (NUL-terminated) and nothing is recorded. */
HANDLE__HIDDEN bool handle__trace_open(const struct handle__trace_config *cfg, char *err,
                                       size_t errlen);
HANDLE__HIDDEN bool handle__trace_is_open(void);
/* The path of the open trace (cfg->path, or cfg->path with ".<n>" when an
 * earlier image of this process, same pid and start, holds cfg->path:
 * SPEC section 4); "" when none is open. */
HANDLE__HIDDEN const char *handle__trace_path(void);

/* Queue events. Never drop: when the queue is full, the caller waits (in a
 * clone() child without the parent's memory, the first wait stops tracing
 * instead, with one warning). The fast path: one load, one fetch-add and a
 * 64-byte store; no system call. */
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

/* Replaces the message of the last error recorded by handle__trace_error()
 * (recorded first with the raw text, SPEC section 4) and commits it, with
 * the same bounded wait. */
HANDLE__HIDDEN void handle__trace_error_text(const char *message);

/* Waits until everything queued so far is committed (same bound). */
HANDLE__HIDDEN void handle__trace_sync(void);

/* The exit check's first step: events queued after this returns are
 * dropped (those already queued are still written). */
HANDLE__HIDDEN void handle__trace_freeze(void);

/* One symbolized frame for the trace's `symbols` table (SPEC section 5):
 * the frames of the return address at module's ELF address offset (pc -
 * bias), idx 0 the innermost inlined call, the real function last. */
struct handle__trace_symbol {
    uint32_t module;       /* the model's module id (> 0) */
    uint32_t idx;
    uint64_t offset;
    const char *function;  /* NULL if unknown */
    const char *file;      /* NULL if unknown */
    int line, column;      /* 0 if unknown */
    bool inlined;
};
/* Queues symbolized frames (copied) for the `symbols` table; they are
 * written by handle__trace_close, in a transaction of their own after the
 * final commit (after a panic: after the error's own commit). Called by
 * the reports at exit and in the panic, from one thread at a time; a row
 * already queued (same module, offset, idx) is ignored. Bounded: past
 * 1M rows or 64 MiB of text the rest is dropped. */
HANDLE__HIDDEN void handle__trace_symbols(const struct handle__trace_symbol *v, size_t n);

/* Final commit: writes ended_at (Unix ns) and exit_status into meta, stops
 * the writer and closes the database. Idempotent. With live != NULL the
 * trace's live handles become exactly live[0..n) (the set the exit check
 * saw): a handle live in the trace but not there is completed at ended_at
 * with no deletion stack or thread (deleted_ns = ended_at, relative), and
 * one there but not yet in the trace is added. The live set is copied.
 * Bounded: the final commit within ~2 s, the checkpoint after it within
 * ~2 s more (then the writer is left to finish alone). In a clone() child
 * without the parent's memory it neither waits nor joins. */
HANDLE__HIDDEN void handle__trace_close(int exit_status, uint64_t ended_at,
                                        const struct handle__leak *live, size_t n);

/* A warning the trace layer could not print itself (the writer thread has
 * no descriptor of the program's): copies it into buf, NUL-terminated, and
 * forgets it; false when none is pending (one relaxed load). The text has
 * no "==PID==WARNING: HandleSanitizer: " prefix and no newline, e.g.
 * "trace PATH: REASON; continuing without trace". Up to 4 are queued (more
 * are dropped). The runtime prints them from a program thread (after
 * handle__trace_sync/close, and on its slow paths). */
HANDLE__HIDDEN bool handle__trace_take_warning(char *buf, size_t cap);

/* Whether the writer thread is left out of glibc's thread count (so that
 * the process ends with its last program thread, SPEC section 4); when
 * not (a libc without that count), the runtime asks for the orphan watch
 * below. */
HANDLE__HIDDEN bool handle__trace_writer_uncounted(void);

/* The main thread left with pthread_exit(): from now on a watcher thread
 * of the trace (started here, signals blocked) checks at once and every
 * 20 ms whether every other thread of the process but the writer is gone
 * (a zombie main thread counts as gone), and then calls on_orphan() on
 * itself; on_orphan is expected to run the exit sequence (exit()) and not
 * return. Not the writer thread: the writer has a descriptor table of its
 * own holding only the trace's files (see handle__trace_open), while the
 * watcher shares the program's, so the program's stdio flushed by exit()
 * and the report reach the program's descriptors (which the watcher keeps
 * open after the other threads left). Once per process. */
HANDLE__HIDDEN void handle__trace_watch_orphan(void (*on_orphan)(void));

/* pthread_atfork phases (fork_phase.h), called by the runtime's one fork
 * handler: prepare waits for an open or close in progress and for the
 * writer to leave SQLite; the child forgets the parent's trace. */
HANDLE__HIDDEN void handle__trace_fork(int phase);

/* In a fork child: drop every reference to the parent's writer, queue and
 * connection without touching them (no SQLite call, no join). */
HANDLE__HIDDEN void handle__trace_forget(void);

#endif
