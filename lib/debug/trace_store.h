/*
 * trace_store.h - the trace's SQLite side (internal to the trace writer):
 * the file, the schema and meta, prepared statements, the per-batch map of
 * handles created since the last commit and the set of handles committed to
 * `live`, completed lifetimes packed by the codec into `batches`, and
 * max_history. Only the writer thread calls it; it knows nothing of the
 * ring's synchronization or of threads (it reads the model, model.h, and
 * queues its one warning with handle__tr_warn()).
 */
#ifndef HANDLE_DEBUG_TRACE_STORE_H
#define HANDLE_DEBUG_TRACE_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "../format/lifetimes.h"
#include "trace_ring.h"

struct sqlite3;
struct sqlite3_stmt;

enum {
    HANDLE__ST_BEGIN,
    HANDLE__ST_COMMIT,
    HANDLE__ST_ROW,
    HANDLE__ST_LIVE_INS,
    HANDLE__ST_LIVE_DEL,
    HANDLE__ST_STACK,
    HANDLE__ST_MODULE,
    HANDLE__ST_MODULE_UNLOAD,
    HANDLE__ST_THREAD,
    HANDLE__ST_TAG,
    HANDLE__ST_ERROR,
    HANDLE__ST_META,
    HANDLE__ST_OLDEST,
    HANDLE__ST_ROW_DEL,
    HANDLE__ST_ROW_DROP,
    HANDLE__ST_ERROR_TEXT,
    HANDLE__ST_COUNT
};

/* What a NEW event said about a handle created since the last commit and
 * not deleted yet. */
struct handle__pend {
    uint64_t created_ns;
    uint32_t tag, thread, stack;
};

/* A growable bitmap of ids already written to this trace. */
struct handle__bits {
    uint64_t *w;
    uint32_t nwords;
};

struct handle__store {
    /* configuration (owned copies) */
    char *path, *exe, *cmdline, *boot_id;
    char *real;              /* path with its directory resolved (what is opened) */
    char *suppressions;      /* meta suppressions: the file in force, as text (NULL: none) */
    int64_t pid;
    uint64_t started_at, max_history, start_ticks;
    uint32_t flush_ms;

    struct sqlite3 *db;
    struct sqlite3_stmt *st[HANDLE__ST_COUNT];
    bool failed, in_txn;
    bool frozen;             /* NEW and DELETE events are dropped (the exit check) */
    int64_t last_error;      /* rowid of the last `errors` row, 0: none */
    int sys_errno;           /* errno of the last failed step */

    uint64_t *pkey;          /* handles created since the last commit (0: empty) */
    struct handle__pend *pend; /* ... and their NEW events, slot by slot */
    uint64_t pend_n;
    unsigned pend_bits;
    uint64_t *live;          /* handles in the `live` table */
    uint64_t live_n;
    unsigned live_bits;
    bool live_degraded;      /* the set could not grow: ask SQL on a miss */

    struct handle__bits stacks, modules, threads, tags; /* ids written */
    uint64_t *mod_unloaded;  /* unloaded_ns as written, by module id */
    uint32_t mod_unloaded_n;

    struct handle__lifetime row[HANDLE__ROW_WIDTH]; /* the `lifetimes` row being built */
    unsigned row_n;
    uint64_t kept; /* completed lifetimes visible in `lifetimes` */

    /* The checkpointer's own connection to the same file (NULL: none; the
     * writer's connection then checkpoints itself every 1024 pages, as
     * SQLite does by default), and the WAL's size after the writer's last
     * commit (the WAL hook), in frames. */
    struct sqlite3 *ckdb;
    _Atomic uint32_t wal_frames;

    /* statistics (kept for tests and the bench) */
    uint64_t n_lifetimes, n_live_rows, n_commits, n_ckpt_self;
};

/* Copies the configuration into s (zeroed by the caller); false if out of
 * memory. */
HANDLE__HIDDEN bool handle__store_config(struct handle__store *s, const char *path,
                                         const char *exe, const char *cmdline,
                                         const char *boot_id);
/* Creates the file (mode 0600, replacing a regular file and its -wal/-shm,
 * never through a symbolic link at the path), opens it, writes the schema
 * and meta. On failure: false, a reason in err, nothing left behind. */
HANDLE__HIDDEN bool handle__store_open(struct handle__store *s, char *err, size_t errlen);
/* Processes one event (NEW, DELETE, ERROR...). Returns true when the event
 * asks for a commit at once. */
HANDLE__HIDDEN bool handle__store_event(struct handle__store *s, const struct handle__tr_ev *ev);
/* Commits the batch: pending handles become `live` rows, the row is
 * written, max_history applied. False once the store has failed. */
HANDLE__HIDDEN bool handle__store_commit(struct handle__store *s);
/* Final commit: with live != NULL the `live` table becomes exactly
 * live[0..n) (rows not in it completed at ended_at, without a deleting
 * thread or stack; handles missing added), then ended_at and exit_status
 * in meta. */
HANDLE__HIDDEN void handle__store_finish(struct handle__store *s, int exit_status,
                                         uint64_t ended_at, const struct handle__leak *live,
                                         size_t n);
/* A checkpoint (so that the .db alone is complete) and the connection
 * closed. */
HANDLE__HIDDEN void handle__store_checkpoint_close(struct handle__store *s);

/*
 * Checkpoints off the writer's path. With synchronous=NORMAL a checkpoint
 * fsyncs the WAL and the database; done by the writer after a commit (as
 * SQLite's automatic checkpoint does) it blocked the writer for tens of ms
 * while producers waited for room in the ring. Instead a checkpointer
 * thread (trace_writer.c) runs PASSIVE checkpoints on a second connection,
 * which do not block the writer's appends.
 *
 * handle__store_ckpt_open() opens that connection (in the writer's thread,
 * so in its descriptor table) and checks that it is this trace; then the
 * writer's automatic checkpoint gives way to a WAL hook that only counts
 * frames (s->wal_frames), checkpointing on the writer's connection only
 * when the WAL reaches HANDLE__CKPT_HARD frames (a checkpointer that cannot
 * keep up or fails: the WAL stays bounded). False (reason in err): no
 * checkpointer, the writer checkpoints as before.
 * handle__store_ckpt_run() runs one PASSIVE checkpoint (checkpointer's
 * thread). handle__store_ckpt_close() closes the connection (writer's
 * thread, the checkpointer joined).
 */
#define HANDLE__CKPT_EVERY 1024u /* frames (16 KiB pages): a checkpoint is due */
#define HANDLE__CKPT_HARD 4096u  /* frames (64 MiB): the writer checkpoints itself */
HANDLE__HIDDEN bool handle__store_ckpt_open(struct handle__store *s, char *err, size_t errlen);
HANDLE__HIDDEN void handle__store_ckpt_run(struct handle__store *s);
HANDLE__HIDDEN void handle__store_ckpt_close(struct handle__store *s);
/* Frees what an event owns without processing it. */
HANDLE__HIDDEN void handle__store_discard(const struct handle__tr_ev *ev);
/* Closes the connection (if any) and frees everything s holds. */
HANDLE__HIDDEN void handle__store_free(struct handle__store *s);

#endif
