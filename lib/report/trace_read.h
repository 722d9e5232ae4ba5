/*
 * trace_read.h - reads one trace of SPEC section 5 (an SQLite database
 * written by libhandle-debug.so) for handle-report: validation, meta, the
 * module table, the leak groups, stacks, recorded errors and the lifetimes
 * of every handle.
 *
 * It reads the stable names of the schema (meta, handles, leaks, errors,
 * stacks, modules, threads) with prepared statements, and opens the
 * database read-only. The one exception: handle__tr_lifetimes decodes the
 * writer's own tables (lifetimes or batches, live, tags) when meta.layout
 * names one of the writer's layouts, because that is several times faster
 * than the view (the JSON view costs ~2 us per lifetime); what it
 * delivers is what the view would. Opening:
 *  - a WAL-mode trace with no -wal file beside it is complete in the main
 *    file and is opened with immutable=1, so that reading leaves no -shm
 *    or -wal file behind and works in a read-only directory;
 *  - a trace with a -wal file and a writer still running (it holds its
 *    lock on the -shm) is opened read-only through the WAL, using the
 *    writer's -shm as any SQLite reader does;
 *  - one with a -wal and no running writer (a killed process) is read from
 *    a private copy of the database and its -wal in TMPDIR, removed at
 *    close (an empty -wal: the main file alone, immutable), so that no
 *    -shm is created and no -wal's mode changed beside the trace (SPEC
 *    section 6); a read-only directory changes nothing to this.
 * Hostile traces (SPEC section 6): only regular files are read (the trace
 * opened without blocking; a -wal or -journal that is a FIFO, a device or
 * a symbolic link is refused; the private copy follows no link and copies
 * at most the size the file had); every table the format has must be a
 * plain table (a view in its place is refused), and `leaks` and `handles`,
 * views by format, are read from the writer's tables when they are the
 * writer's views; every reading call has a work budget proportional to
 * the trace's size (SQLite steps plus bytes read), so a view that loops
 * or multiplies rows ends in a one-line reason within seconds. Strings
 * are cut to 4096 bytes (an error's message to 1 MiB) followed by
 * "...[cut: N bytes]"; tags are read once per trace, never once per row.
 * Every failure is a one-line reason ("not an SQLite database", "trace
 * format version 2 is newer than this handle-report reads (1)", ...); the
 * caller prefixes it with the file name. Nothing here prints or exits.
 *
 * Not thread-safe: one thread uses one trace. Strings returned live until
 * handle__tr_close.
 */
#ifndef HANDLE_REPORT_TRACE_READ_H
#define HANDLE_REPORT_TRACE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef HANDLE__HIDDEN
#define HANDLE__HIDDEN __attribute__((visibility("hidden")))
#endif

/* The trace format version this reader understands (meta version). */
#define HANDLE__TRACE_VERSION 1

struct handle__tr;

/* meta: absent keys leave has_* false (and strings ""). */
struct handle__tr_meta {
    int64_t version;
    bool has_pid, has_started, has_ended, has_exit;
    int64_t pid;
    int64_t started_at;  /* Unix ns */
    int64_t ended_at;    /* Unix ns; absent: no clean exit */
    int64_t exit_status;
    const char *exe;     /* never NULL */
    const char *cmdline; /* never NULL */
    /* What tells a trace whose writer stopped early, and a process still
     * running (SPEC section 5). */
    const char *incomplete;   /* meta incomplete: the reason; NULL: absent */
    const char *boot_id;      /* never NULL ("" absent) */
    bool has_start_ticks, has_last_commit;
    int64_t start_ticks;      /* /proc/PID/stat field 22 of the traced process */
    int64_t last_commit_ns;   /* Unix ns of the writer's last commit */
    const char *suppressions; /* the suppression file in force, as text; NULL: none */
    /* No -wal file was beside the trace: its writer closed it (a killed
     * writer leaves its -wal). Without ended_at, the writer stopped before
     * the process ended. */
    bool closed;
};

struct handle__tr_module {
    uint32_t id;          /* > 0 */
    const char *path;     /* never NULL */
    const char *build_id; /* lowercase hex or "", never NULL */
    uint64_t bias, lo, hi;
};

/* Live handles that share a creation stack and a tag. */
struct handle__tr_group {
    uint32_t stack;       /* stack id, 0: none recorded */
    uint32_t tag;         /* handle__tr_tag id, 0: untagged */
    uint64_t count;
    int64_t first_ns;     /* creation time of the first, ns since start */
};

struct handle__tr_error {
    const char *kind;     /* never NULL */
    uint64_t handle;
    int64_t at_ns;
    int64_t thread;       /* -1: unknown */
    uint32_t stack;       /* 0: none */
    const char *message;  /* the diagnostic as printed; "" if none */
    const char *tag;      /* NULL: untagged or unknown */
    int64_t created_thread, deleted_thread; /* -1: unknown */
    uint32_t created_stack, deleted_stack;  /* 0: none */
};

struct handle__tr_stack {
    uint32_t depth;
    const uintptr_t *pcs;     /* frame #0 first */
    const uint32_t *modules;  /* the trace's module ids, 0: unknown */
};

/* One row of handles for handle__tr_lifetimes. */
struct handle__tr_life {
    uint32_t stack, tag;      /* as in handle__tr_group */
    int64_t created_ns;
    bool deleted;
    int64_t deleted_ns;       /* only when deleted */
};

/* Makes s one line: control characters become spaces, runs of spaces one;
 * longer than max bytes (0: no limit), it is cut to max with "...". Every
 * reason this file and report_model.c give has been through it (max 300);
 * callers may apply it to reasons from elsewhere. */
HANDLE__HIDDEN void handle__one_line(char *s, size_t max);

/* Optional, once, before any other SQLite use in the process (handle-report
 * calls it first thing): SQLite without mutexes and without memory
 * statistics, which cost a lock per allocation. Only for a program that
 * uses SQLite from one thread at a time. */
HANDLE__HIDDEN void handle__tr_global_init(void);

/* Opens and validates the trace at path: a readable regular file, an
 * SQLite database that is not truncated, meta format 'handle-trace' with a
 * version this reader knows, and every table and column read here. NULL
 * with a one-line reason in err (without the path) on failure. */
HANDLE__HIDDEN struct handle__tr *handle__tr_open(const char *path, char *err, size_t errlen);

/* Closes the database and removes a temporary copy, if one was made. NULL
 * is a no-op. */
HANDLE__HIDDEN void handle__tr_close(struct handle__tr *t);

/* The meta table, read by handle__tr_open. */
HANDLE__HIDDEN const struct handle__tr_meta *handle__tr_meta(const struct handle__tr *t);

/* The text of a tag id returned by the group and lifetime readers; NULL
 * for 0 or an unknown id. */
HANDLE__HIDDEN const char *handle__tr_tag(const struct handle__tr *t, uint32_t tag);

/* Whether the process that wrote meta is still running: its pid exists
 * with the trace's start_ticks (/proc/PID/stat field 22) and this boot's
 * boot_id (/proc/sys/kernel/random/boot_id) is the trace's. False when
 * any of the three is absent from meta. */
HANDLE__HIDDEN bool handle__tr_running(const struct handle__tr_meta *mt);

/* The module table, ordered by id, in *out (owned by t, valid until
 * close); rows with an id outside 1..2^32-1 are skipped. False with a
 * reason in err on a read error. */
HANDLE__HIDDEN bool handle__tr_modules(struct handle__tr *t, const struct handle__tr_module **out,
                                       size_t *n, char *err, size_t errlen);

/* One frame of the trace's `symbols` table (SPEC section 5). */
struct handle__tr_symbol {
    const char *function, *file; /* NULL if unknown; owned by t */
    int line, column;            /* 0 if unknown */
    bool inlined;
};
#define HANDLE__TR_SYMBOL_MAX 32
/* Calls fn once per (module, offset) of the `symbols` table with its
 * frames in idx order (at most HANDLE__TR_SYMBOL_MAX; the strings live
 * until close). A trace without the table (a killed process, an older
 * writer) calls nothing and succeeds; a view in its place is refused by
 * handle__tr_open. False with a reason in err on a read error. */
HANDLE__HIDDEN bool handle__tr_symbols(struct handle__tr *t,
                                       void (*fn)(void *ctx, uint32_t module, uint64_t offset,
                                                  const struct handle__tr_symbol *f, size_t n),
                                       void *ctx, char *err, size_t errlen);

/* The live handles (view leaks) grouped by creation stack and tag, in
 * *out (owned by t, valid until close or the next call). */
HANDLE__HIDDEN bool handle__tr_leak_groups(struct handle__tr *t, const struct handle__tr_group **out,
                                           size_t *n, char *err, size_t errlen);

/* Loads the stacks with these ids (duplicates and 0 allowed) so that
 * handle__tr_stack finds them: one indexed lookup per id, or one pass over
 * the stacks table when it has no index on id. */
HANDLE__HIDDEN bool handle__tr_load_stacks(struct handle__tr *t, const uint32_t *ids, size_t n,
                                           char *err, size_t errlen);

/* A loaded stack; depth 0 (and false) for 0, an unknown or an unloaded id.
 * The arrays live until the next handle__tr_load_stacks or close. */
HANDLE__HIDDEN bool handle__tr_stack(const struct handle__tr *t, uint32_t id,
                                     struct handle__tr_stack *out);

/* The errors table ordered by time, in *out (owned by t). */
HANDLE__HIDDEN bool handle__tr_errors(struct handle__tr *t, const struct handle__tr_error **out,
                                      size_t *n, char *err, size_t errlen);

/* Calls fn for every row of handles (every lifetime, live or completed),
 * in no particular order; fn returns false to stop (then this returns
 * false with err untouched). A trace of one of the writer's layouts is
 * read from its lifetimes (or batches) and live tables directly, decoded
 * by lib/format/lifetimes.c; any other goes through the view. */
HANDLE__HIDDEN bool handle__tr_lifetimes(struct handle__tr *t,
                                         bool (*fn)(void *ctx, const struct handle__tr_life *l),
                                         void *ctx, char *err, size_t errlen);

#endif
