/*
 * trace.c - the SQLite trace of SPEC section 5: the event queue, the writer
 * thread and the database schema.
 *
 * Calling threads only queue fixed-size 64-byte events into a bounded MPSC
 * ring (one fetch-add on the tail and per-slot sequence numbers, no lock;
 * a producer that finds its slot still full waits on a futex, so nothing is
 * ever dropped). One writer thread, started with every signal blocked,
 * drains the ring, and commits everything it drained at least every
 * 2/5 of flush_ms in one transaction with prepared statements.
 *
 * Storage (the layout is what makes the writer keep up; see SCHEMA below):
 * a completed lifetime is one element of a compact JSON array of arrays, and
 * ~1000 of them make one row of `batches` (times relative to a per-row base);
 * the view `handles` unpacks them with SQLite's built-in json_each. Handles
 * live at the last commit are real rows of `live`, so `leaks` is a plain
 * table scan. A lifetime that ends in the batch that saw it start becomes
 * one completed element and never touches `live` (no insert-then-update):
 * the writer keeps a per-batch map of handles created since the last commit
 * and a set of handles committed to `live`, both bounded by live handles.
 * Stacks, modules, threads and tags are read from the model (model.h) and
 * written the first time an event of this trace refers to them, in the
 * transaction of that event, so a committed trace is always self-contained.
 *
 * This file does not capture stacks, number threads, intern tags, decide
 * when the trace is opened or closed, or print anything but the one warning
 * when the writer has to give up: callers (the debug entry points and init)
 * do that. Only the writer thread calls SQLite (the caller of
 * handle__trace_open() waits for the writer to create the schema), and it
 * never calls handle_* functions. SQLite's global state is kept
 * consistent across fork() by a fork handler that waits until the writer is
 * between SQLite calls (db_enter/db_leave): a child then never inherits a
 * held SQLite mutex and can open its own trace.
 */
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../core/fmt.h"
#include "model.h"

/* ---- constants ------------------------------------------------------- */

#define RING_BITS 16
#define RING_CAP (UINT64_C(1) << RING_BITS)
#define RING_MASK (RING_CAP - 1)
/* A producer whose position is a multiple of this wakes an idle writer, so
 * a burst is drained long before the ring fills. */
#define NUDGE_EVERY (RING_CAP / 8)
/* Completed lifetimes per `batches` row. */
#define CHUNK_MAX 1024u
/* Longest encoded lifetime: 9 numbers of <= 20 characters, 9 separators,
 * 2 brackets. */
#define ELEM_MAX 200u
/* Events copied out of the ring at a time, and processed per db section. */
#define DRAIN_BATCH 256u
#define SECTION_MAX 4096u
/* handle__trace_sync()/handle__trace_error() give up after this long. */
#define SYNC_WAIT_NS UINT64_C(2000000000)
#define PEND_MIN_BITS 10u
#define LIVE_MIN_BITS 10u

/* ---- events and the ring --------------------------------------------- */

enum ev_type {
    EV_NEW = 1,
    EV_DELETE,
    EV_ERROR,      /* t0: malloc'd "kind\0message\0", freed by the writer */
    EV_ERROR_BARE, /* t0: the caller's kind string (no memory for a copy) */
    EV_SYNC,
    EV_CLOSE,      /* a[0]: exit status, t1: ended_at */
};

/* The payload of one ring slot: 56 bytes, so that a slot with its sequence
 * number is one cache line.
 *   NEW:    h, t0 = created_ns, a = tag, created_thread, created_stack
 *   DELETE: h, t0 = created_ns, t1 = deleted_ns,
 *           a = tag, created_thread, created_stack, deleted_thread,
 *               deleted_stack
 *   ERROR:  h, t0 = text, t1 = at_ns, a = tag, created_thread,
 *           created_stack, deleted_thread, deleted_stack, thread, stack */
struct trace_ev {
    uint64_t h;
    uint64_t t0, t1;
    uint32_t a[7];
    uint32_t type;
};

struct trace_cell {
    _Alignas(64) _Atomic uint64_t seq; /* pos: free for pos; pos+1: holds pos */
    struct trace_ev ev;
};

_Static_assert(sizeof(struct trace_cell) == 64, "a ring slot is one cache line");

/* The ring is static so that a producer racing with close (or running after
 * it) only ever touches memory that stays valid; its pages are committed
 * only when a trace is opened. */
static struct trace_cell ring[RING_CAP];

struct writer;

/* Shared state. Producers read accepting and bump tail; the rest is touched
 * on slow paths only. */
static struct {
    _Alignas(64) _Atomic uint64_t tail; /* next position handed out */
    _Alignas(64) _Atomic bool accepting; /* an open trace takes events */
    _Alignas(64) _Atomic uint32_t wake; /* futex: the writer sleeps here */
    _Atomic uint32_t writer_idle;       /* the writer is (about to be) asleep */
    _Atomic uint32_t space;             /* futex: producers wait for room */
    _Atomic uint32_t space_waiters;
    _Atomic uint32_t commit_seq;        /* futex: sync waiters */
    _Atomic uint64_t committed;         /* positions < committed are done */
    _Atomic uint32_t fork_waiting;      /* a fork handler wants dblock */
    pthread_mutex_t dblock;             /* held by the writer inside SQLite */
    pthread_mutex_t life;               /* serializes open/close */
    bool running;                       /* a writer thread exists (under life) */
    pthread_t thread;
    struct writer *w;
    pid_t owner;                        /* the process that started the writer */
} g = {
    .dblock = PTHREAD_MUTEX_INITIALIZER,
    .life = PTHREAD_MUTEX_INITIALIZER,
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* ---- small helpers --------------------------------------------------- */

/* Monotonic time in ns. */
static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps on *addr while it equals val, at most timeout_ns. Keeps errno. */
static void futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
    int saved = errno;
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
    errno = saved;
}

/* Wakes up to n threads sleeping on addr. Keeps errno. */
static void futex_wake(_Atomic uint32_t *addr, int n)
{
    int saved = errno;
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
    errno = saved;
}

/* A spin-wait hint to the CPU. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* ---- producers ------------------------------------------------------- */

/* Wakes the writer if it sleeps (or always, with force). */
static void wake_writer(bool force)
{
    if (force || atomic_load_explicit(&g.writer_idle, memory_order_relaxed)) {
        atomic_fetch_add(&g.wake, 1);
        futex_wake(&g.wake, 1);
    }
}

/* Slow path of enqueue(): the slot for pos still holds an event from the
 * previous lap. Waits until the writer frees it (true) or the trace stops
 * accepting events while the slot is still full (false: the event is
 * ignored, as every event after close is). */
static bool wait_room(struct trace_cell *c, uint64_t pos)
{
    for (int i = 0; i < 128; i++) {
        if (atomic_load_explicit(&c->seq, memory_order_acquire) == pos)
            return true;
        cpu_relax();
    }
    atomic_fetch_add(&g.space_waiters, 1);
    bool ok = true;
    for (;;) {
        uint32_t v = atomic_load(&g.space);
        if (atomic_load(&c->seq) == pos)
            break;
        if (!atomic_load(&g.accepting)) {
            /* Room made before close began is seen here (see close). */
            ok = atomic_load(&c->seq) == pos;
            break;
        }
        wake_writer(true);
        futex_wait(&g.space, v, 10000000u);
    }
    atomic_fetch_sub(&g.space_waiters, 1);
    return ok;
}

/* Queues *ev; returns false (and queues nothing) when no trace accepts
 * events. Lock-free while the ring has room; waits otherwise. *posp gets
 * the event's position. */
static bool enqueue(const struct trace_ev *ev, uint64_t *posp)
{
    if (!atomic_load_explicit(&g.accepting, memory_order_acquire))
        return false;
    uint64_t pos = atomic_fetch_add_explicit(&g.tail, 1, memory_order_relaxed);
    struct trace_cell *c = &ring[pos & RING_MASK];
    if (HANDLE__UNLIKELY(atomic_load_explicit(&c->seq, memory_order_acquire) != pos) &&
        !wait_room(c, pos))
        return false;
    c->ev = *ev;
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
    if (HANDLE__UNLIKELY((pos & (NUDGE_EVERY - 1)) == 0))
        wake_writer(false);
    if (posp)
        *posp = pos;
    return true;
}

/* Waits until the event at pos is committed, at most SYNC_WAIT_NS. */
static void wait_committed(uint64_t pos)
{
    uint64_t deadline = mono_ns() + SYNC_WAIT_NS;
    for (;;) {
        uint32_t v = atomic_load(&g.commit_seq);
        if (atomic_load(&g.committed) > pos)
            return;
        uint64_t now = mono_ns();
        if (now >= deadline)
            return;
        futex_wait(&g.commit_seq, v, deadline - now < 50000000u ? deadline - now : 50000000u);
    }
}

/* The public calls below are documented in trace.h. Producers touch only
 * the ring and the shared state above; they never block but on a full ring
 * or in sync/error, and keep errno. */
void handle__trace_new(handle_t h, uint32_t tag, uint64_t created_ns, uint32_t created_thread,
                       uint32_t created_stack)
{
    struct trace_ev ev = {.h = h, .t0 = created_ns, .type = EV_NEW};
    ev.a[0] = tag;
    ev.a[1] = created_thread;
    ev.a[2] = created_stack;
    enqueue(&ev, NULL);
}

/* See trace.h; the DELETE event carries the creation too, so the writer
 * never needs the NEW event to write a completed lifetime. */
void handle__trace_delete(handle_t h, uint32_t tag, uint64_t created_ns, uint32_t created_thread,
                          uint32_t created_stack, uint64_t deleted_ns, uint32_t deleted_thread,
                          uint32_t deleted_stack)
{
    struct trace_ev ev = {.h = h, .t0 = created_ns, .t1 = deleted_ns, .type = EV_DELETE};
    ev.a[0] = tag;
    ev.a[1] = created_thread;
    ev.a[2] = created_stack;
    ev.a[3] = deleted_thread;
    ev.a[4] = deleted_stack;
    enqueue(&ev, NULL);
}

/* See trace.h. The strings are copied (the caller may longjmp away after
 * the bounded wait); without memory for the copy, the kind alone is kept. */
void handle__trace_error(const struct handle__trace_error *e)
{
    if (!atomic_load(&g.accepting))
        return;
    int saved = errno;
    const char *kind = e->kind ? e->kind : "?";
    const char *msg = e->message ? e->message : "";
    size_t kl = strlen(kind) + 1, ml = strlen(msg) + 1;
    char *text = malloc(kl + ml);
    struct trace_ev ev = {.h = e->handle, .t1 = e->at_ns};
    if (text) {
        memcpy(text, kind, kl);
        memcpy(text + kl, msg, ml);
        ev.t0 = (uint64_t)(uintptr_t)text;
        ev.type = EV_ERROR;
    } else {
        ev.t0 = (uint64_t)(uintptr_t)kind; /* kinds are static strings */
        ev.type = EV_ERROR_BARE;
    }
    ev.a[0] = e->tag;
    ev.a[1] = e->created_thread;
    ev.a[2] = e->created_stack;
    ev.a[3] = e->deleted_thread;
    ev.a[4] = e->deleted_stack;
    ev.a[5] = e->thread;
    ev.a[6] = e->stack;
    uint64_t pos;
    if (enqueue(&ev, &pos)) {
        wake_writer(true);
        wait_committed(pos);
    } else {
        free(text);
    }
    errno = saved;
}

/* See trace.h: a SYNC event makes the writer commit at once. */
void handle__trace_sync(void)
{
    int saved = errno;
    struct trace_ev ev = {.type = EV_SYNC};
    uint64_t pos;
    if (enqueue(&ev, &pos)) {
        wake_writer(true);
        wait_committed(pos);
    }
    errno = saved;
}

/* See trace.h: true between a successful open and close (or forget). */
bool handle__trace_is_open(void)
{
    return atomic_load(&g.accepting);
}

/* ---- the writer: state ----------------------------------------------- */

/* What a NEW event said about a handle created since the last commit and
 * not deleted yet. The keys are a separate array: probing touches 8 bytes
 * a slot, so the map of a batch stays in L1. */
struct pend {
    uint64_t created_ns;
    uint32_t tag, thread, stack;
};

/* A growable bitmap of ids already written to this trace. */
struct bits {
    uint64_t *w;
    uint32_t nwords;
};

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_BATCH,
    ST_LIVE_INS,
    ST_LIVE_DEL,
    ST_STACK,
    ST_MODULE,
    ST_MODULE_UNLOAD,
    ST_THREAD,
    ST_TAG,
    ST_ERROR,
    ST_META,
    ST_OLDEST,
    ST_BATCH_DEL,
    ST_BATCH_SKIP,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_BATCH] = "INSERT INTO batches(base_ns, n, skip, data) VALUES (?1, ?2, 0, ?3)",
    [ST_LIVE_INS] = "INSERT OR REPLACE INTO live(handle, tag, created_ns, created_thread, "
                    "created_stack) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_LIVE_DEL] = "DELETE FROM live WHERE handle = ?1",
    [ST_STACK] = "INSERT OR IGNORE INTO stacks(id, depth, pc, module) VALUES (?1, ?2, ?3, ?4)",
    [ST_MODULE] = "INSERT OR REPLACE INTO modules(id, path, build_id, bias, lo, hi, loaded_ns, "
                  "unloaded_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_MODULE_UNLOAD] = "UPDATE modules SET unloaded_ns = ?2 WHERE id = ?1",
    [ST_THREAD] = "INSERT OR IGNORE INTO threads(id, tid, name, first_ns) VALUES (?1, ?2, ?3, ?4)",
    [ST_TAG] = "INSERT OR IGNORE INTO tags(id, name) VALUES (?1, ?2)",
    [ST_ERROR] = "INSERT INTO errors(kind, handle, at_ns, thread, stack, message, tag, "
                 "created_thread, created_stack, deleted_thread, deleted_stack) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [ST_META] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
    [ST_OLDEST] = "SELECT id, n, skip FROM batches ORDER BY id LIMIT 1",
    [ST_BATCH_DEL] = "DELETE FROM batches WHERE id = ?1",
    [ST_BATCH_SKIP] = "UPDATE batches SET skip = ?2 WHERE id = ?1",
};

#include "trace_schema.h"

struct writer {
    /* configuration (owned copies) */
    char *path, *exe, *cmdline;
    int64_t pid;
    uint64_t started_at, max_history, period_ns;
    uint32_t flush_ms;

    /* start-up handshake with handle__trace_open() */
    sem_t init_sem;
    bool init_ok;
    char init_err[256];

    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    bool failed, in_txn, urgent, closing;
    int exit_status;
    uint64_t ended_at;
    uint64_t head;      /* next ring position to read */
    uint64_t woke_at;   /* head when producers were last woken */
    uint64_t processed; /* positions < processed are processed */

    uint64_t *pkey;     /* handles created since the last commit (0: empty) */
    struct pend *pend;  /* ... and their NEW events, slot by slot */
    uint64_t pend_n;
    unsigned pend_bits;
    uint64_t *live;     /* handles in the `live` table */
    uint64_t live_n;
    unsigned live_bits;
    bool live_degraded; /* the set could not grow: ask SQL on a miss */

    struct bits stacks, modules, threads, tags; /* ids written */
    uint64_t *mod_unloaded;  /* unloaded_ns as written, by module id */
    uint32_t mod_unloaded_n;

    char *chunk;        /* the `batches` row being built */
    size_t chunk_len;
    uint32_t chunk_n;
    uint64_t chunk_base;
    uint64_t kept;      /* completed lifetimes visible in `batches` */

    /* statistics (kept for tests and the bench) */
    uint64_t n_lifetimes, n_live_rows, n_commits;
};

/* ---- the writer: fork safety ----------------------------------------- */

/* Enters a section that calls SQLite: a fork() is held back until the
 * section ends, so a child never inherits SQLite mid-call. */
static void db_enter(void)
{
    while (atomic_load(&g.fork_waiting)) {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&g.dblock);
}

/* Leaves a section entered with db_enter(). */
static void db_leave(void)
{
    pthread_mutex_unlock(&g.dblock);
}

/* pthread_atfork handlers. prepare waits for the writer to leave SQLite;
 * the child drops the parent's trace unless someone already opened a new
 * one in the child. */
static void fork_prepare(void)
{
    atomic_store(&g.fork_waiting, 1);
    pthread_mutex_lock(&g.dblock);
}

/* Lets the writer go on after fork() in the parent. */
static void fork_parent(void)
{
    pthread_mutex_unlock(&g.dblock);
    atomic_store(&g.fork_waiting, 0);
}

/* In the child: a fresh dblock; the parent's trace is forgotten unless init
 * already did so (it calls handle__trace_forget() from its own handler). */
static void fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&g.dblock, &fresh, sizeof fresh);
    atomic_store(&g.fork_waiting, 0);
    if (g.running && g.owner != getpid())
        handle__trace_forget();
}

/* Process-wide set-up, once: SQLite without its malloc statistics (a
 * global mutex on every allocation) and the fork handlers. */
static void global_init(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_initialize();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- the writer: failure --------------------------------------------- */

/* Writes "==PID==WARNING: HandleSanitizer: trace PATH: REASON; continuing
 * without trace" to stderr with write(2). */
static void warn_line(const char *path, const char *reason)
{
    char buf[1024];
    struct handle__fmt f = {buf, 0, sizeof buf - 1}; /* room for the newline */
    handle__fmt_str(&f, "==");
    handle__fmt_dec(&f, (uint64_t)getpid());
    handle__fmt_str(&f, "==WARNING: HandleSanitizer: trace ");
    handle__fmt_str(&f, path);
    handle__fmt_str(&f, ": ");
    handle__fmt_str(&f, reason);
    handle__fmt_str(&f, "; continuing without trace");
    buf[f.len++] = '\n';
    handle__fmt_flush(&f, 2);
}

/* Frees the writer's sets, bitmaps and chunk (not its configuration). */
static void free_state(struct writer *w)
{
    free(w->pkey);
    free(w->live);
    free(w->stacks.w);
    free(w->modules.w);
    free(w->threads.w);
    free(w->tags.w);
    free(w->mod_unloaded);
    free(w->chunk);
    w->pkey = NULL;
    w->pend = NULL;
    w->live = NULL;
    w->stacks.w = w->modules.w = w->threads.w = w->tags.w = NULL;
    w->mod_unloaded = NULL;
    w->chunk = NULL;
}

/* Closes the connection without checking anything. Needs dblock. */
static void db_close(struct writer *w)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(w->st[i]);
        w->st[i] = NULL;
    }
    if (w->db)
        sqlite3_close_v2(w->db);
    w->db = NULL;
}

/* The writer gives up: one warning, the connection closed (an open
 * transaction is rolled back), memory returned. It goes on draining
 * events so that producers never wait for it. Needs dblock. */
static void fail(struct writer *w, const char *reason)
{
    if (w->failed)
        return;
    w->failed = true;
    warn_line(w->path, reason);
    db_close(w);
    free_state(w);
    w->in_txn = false;
}

/* Fails with SQLite's message for the last error. */
static void fail_db(struct writer *w)
{
    char reason[256];
    snprintf(reason, sizeof reason, "%s", w->db ? sqlite3_errmsg(w->db) : "SQLite error");
    fail(w, reason);
}

/* Steps a bound statement to completion (or its first row, left to the
 * caller to read before the next run()). false after a failure. */
static bool run(struct writer *w, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return true;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return true;
    fail_db(w);
    return false;
}

/* Opens the batch's transaction if it is not open yet. */
static bool txn(struct writer *w)
{
    if (w->failed)
        return false;
    if (w->in_txn)
        return true;
    if (!run(w, w->st[ST_BEGIN]))
        return false;
    w->in_txn = true;
    return true;
}

/* ---- the writer: written ids ----------------------------------------- */

/* Slow path of bits_first(): grows the bitmap to hold id, then marks it. */
static bool bits_first_slow(struct bits *b, uint32_t id)
{
    uint32_t word = id / 64;
    if (word >= b->nwords) {
        uint32_t n = b->nwords ? b->nwords : 16;
        while (n <= word)
            n *= 2;
        uint64_t *nw = realloc(b->w, (size_t)n * sizeof *nw);
        if (!nw)
            return true;
        memset(nw + b->nwords, 0, (size_t)(n - b->nwords) * sizeof *nw);
        b->w = nw;
        b->nwords = n;
    }
    uint64_t bit = UINT64_C(1) << (id % 64);
    if (b->w[word] & bit)
        return false;
    b->w[word] |= bit;
    return true;
}

/* Marks id; true if it was not marked before (or the bitmap could not grow:
 * the row is then written again, which INSERT OR IGNORE absorbs). The
 * common case, an id already written, is one load and a test. */
static inline bool bits_first(struct bits *b, uint32_t id)
{
    if (HANDLE__LIKELY(id / 64 < b->nwords && (b->w[id / 64] >> (id % 64) & 1)))
        return false;
    return bits_first_slow(b, id);
}

/* Whether id is marked. */
static inline bool bits_has(const struct bits *b, uint32_t id)
{
    return id / 64 < b->nwords && (b->w[id / 64] >> (id % 64) & 1);
}

/* Binds v as SQL NULL when it is 0. */
static void bind_id(sqlite3_stmt *st, int i, uint32_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* Writes module id's row the first time. */
static bool need_module(struct writer *w, uint32_t id)
{
    if (id == 0 || !bits_first(&w->modules, id))
        return true;
    const struct handle__module *m = handle__module_get(id);
    if (!m || !txn(w))
        return !w->failed;
    uint64_t unl = atomic_load(&((struct handle__module *)m)->unloaded_ns);
    sqlite3_stmt *st = w->st[ST_MODULE];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, m->path ? m->path : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->build_id ? m->build_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)m->bias);
    sqlite3_bind_int64(st, 5, (int64_t)m->lo);
    sqlite3_bind_int64(st, 6, (int64_t)m->hi);
    sqlite3_bind_int64(st, 7, (int64_t)m->loaded_ns);
    if (unl)
        sqlite3_bind_int64(st, 8, (int64_t)unl);
    else
        sqlite3_bind_null(st, 8);
    if (!run(w, st))
        return false;
    if (id >= w->mod_unloaded_n) {
        uint32_t n = w->mod_unloaded_n ? w->mod_unloaded_n : 64;
        while (n <= id)
            n *= 2;
        uint64_t *nu = realloc(w->mod_unloaded, (size_t)n * sizeof *nu);
        if (!nu)
            return true; /* its unload time is then never updated */
        memset(nu + w->mod_unloaded_n, 0, (size_t)(n - w->mod_unloaded_n) * sizeof *nu);
        w->mod_unloaded = nu;
        w->mod_unloaded_n = n;
    }
    w->mod_unloaded[id] = unl;
    return true;
}

/* Writes stack id's frames (and their modules, first) the first time. */
static bool need_stack_slow(struct writer *w, uint32_t id)
{
    if (id == 0 || !bits_first(&w->stacks, id))
        return true;
    struct handle__stack s;
    if (!handle__depot_get(id, &s))
        return true;
    for (uint32_t k = 0; k < s.depth; k++)
        if (!need_module(w, s.modules ? s.modules[k] : 0))
            return false;
    if (!txn(w))
        return false;
    sqlite3_stmt *st = w->st[ST_STACK];
    for (uint32_t k = 0; k < s.depth; k++) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, k);
        sqlite3_bind_int64(st, 3, (int64_t)s.pcs[k]);
        bind_id(st, 4, s.modules ? s.modules[k] : 0);
        if (!run(w, st))
            return false;
    }
    return true;
}

/* Writes thread id's row the first time (0 is T0, a real thread). */
static bool need_thread_slow(struct writer *w, uint32_t id)
{
    if (!bits_first(&w->threads, id))
        return true;
    const struct handle__thread *t = handle__thread_get(id);
    if (!t)
        return true;
    if (!txn(w))
        return false;
    sqlite3_stmt *st = w->st[ST_THREAD];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, t->tid);
    sqlite3_bind_text(st, 3, t->name, (int)strnlen(t->name, sizeof t->name), SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)t->first_ns);
    return run(w, st);
}

/* Writes tag id's row the first time. */
static bool need_tag_slow(struct writer *w, uint32_t id)
{
    if (id == 0 || !bits_first(&w->tags, id))
        return true;
    const char *name = handle__tag_get(id);
    if (!name)
        return true;
    if (!txn(w))
        return false;
    sqlite3_stmt *st = w->st[ST_TAG];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return run(w, st);
}

/* The common case inline: an id already written costs one load and a
 * test; the first reference takes the slow path. */
static inline bool need_stack(struct writer *w, uint32_t id)
{
    return id == 0 || bits_has(&w->stacks, id) || need_stack_slow(w, id);
}

/* Thread 0 is T0, a real thread: no "none" shortcut. */
static inline bool need_thread(struct writer *w, uint32_t id)
{
    return bits_has(&w->threads, id) || need_thread_slow(w, id);
}

/* Tag 0 is "untagged": nothing to write. */
static inline bool need_tag(struct writer *w, uint32_t id)
{
    return id == 0 || bits_has(&w->tags, id) || need_tag_slow(w, id);
}

/* Re-checks the unload time of every module written so far; cheap (a few
 * hundred atomic loads at most) and done at each commit. */
static bool update_modules(struct writer *w)
{
    uint32_t n = w->mod_unloaded_n;
    for (uint32_t id = 1; id < n; id++) {
        if (!bits_has(&w->modules, id))
            continue;
        const struct handle__module *m = handle__module_get(id);
        if (!m)
            continue;
        uint64_t unl = atomic_load(&((struct handle__module *)m)->unloaded_ns);
        if (unl == w->mod_unloaded[id])
            continue;
        if (!txn(w))
            return false;
        sqlite3_stmt *st = w->st[ST_MODULE_UNLOAD];
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, (int64_t)unl);
        if (!run(w, st))
            return false;
        w->mod_unloaded[id] = unl;
    }
    return true;
}

/* ---- the writer: handle sets ----------------------------------------- */

/* The home slot of handle h in a table of 2^bits slots (Fibonacci hashing:
 * handles differ mostly in low index bits and high generation bits). */
static inline uint64_t hash_slot(uint64_t h, unsigned bits)
{
    return (h * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - bits);
}

/* Whether slot k (the home of an entry now at j) lies cyclically outside
 * (i, j]: then the entry may move back to the hole at i. */
static inline bool may_fill(uint64_t i, uint64_t j, uint64_t k)
{
    return i <= j ? (k <= i || k > j) : (k <= i && k > j);
}

/* Grows the pending map to 2^bits slots; false if out of memory. */
static bool pend_resize(struct writer *w, unsigned bits)
{
    size_t n = (size_t)1 << bits;
    uint64_t *k = calloc(n, sizeof *k + sizeof(struct pend));
    if (!k)
        return false;
    struct pend *d = (struct pend *)(k + n);
    uint64_t mask = n - 1;
    if (w->pkey) {
        uint64_t old = UINT64_C(1) << w->pend_bits;
        for (uint64_t i = 0; i < old; i++) {
            if (!w->pkey[i])
                continue;
            uint64_t j = hash_slot(w->pkey[i], bits);
            while (k[j])
                j = (j + 1) & mask;
            k[j] = w->pkey[i];
            d[j] = w->pend[i];
        }
        free(w->pkey);
    }
    w->pkey = k;
    w->pend = d;
    w->pend_bits = bits;
    return true;
}

/* Removes h from the pending map; true if it was there. */
static bool pend_take(struct writer *w, uint64_t h)
{
    unsigned bits = w->pend_bits;
    uint64_t mask = (UINT64_C(1) << bits) - 1;
    uint64_t *k = w->pkey;
    uint64_t i = hash_slot(h, bits);
    while (k[i] != h) {
        if (!k[i])
            return false;
        i = (i + 1) & mask;
    }
    /* backward-shift deletion: no tombstones, probes stay short */
    for (uint64_t j = i;;) {
        j = (j + 1) & mask;
        if (!k[j])
            break;
        if (may_fill(i, j, hash_slot(k[j], bits))) {
            k[i] = k[j];
            w->pend[i] = w->pend[j];
            i = j;
        }
    }
    k[i] = 0;
    w->pend_n--;
    return true;
}

/* Grows the live set to 2^bits slots; false if out of memory. */
static bool live_resize(struct writer *w, unsigned bits)
{
    uint64_t *t = calloc((size_t)1 << bits, sizeof *t);
    if (!t)
        return false;
    uint64_t mask = (UINT64_C(1) << bits) - 1;
    if (w->live) {
        uint64_t old = UINT64_C(1) << w->live_bits;
        for (uint64_t i = 0; i < old; i++) {
            if (!w->live[i])
                continue;
            uint64_t j = hash_slot(w->live[i], bits);
            while (t[j])
                j = (j + 1) & mask;
            t[j] = w->live[i];
        }
        free(w->live);
    }
    w->live = t;
    w->live_bits = bits;
    return true;
}

/* Adds h to the live set; a set that cannot grow is degraded instead (a
 * miss then asks SQL), never an error. */
static void live_add(struct writer *w, uint64_t h)
{
    if ((w->live_n + 1) * 2 > (UINT64_C(1) << w->live_bits) &&
        !live_resize(w, w->live_bits + 1)) {
        w->live_degraded = true;
        return;
    }
    uint64_t mask = (UINT64_C(1) << w->live_bits) - 1;
    uint64_t i = hash_slot(h, w->live_bits);
    while (w->live[i] && w->live[i] != h)
        i = (i + 1) & mask;
    if (!w->live[i]) {
        w->live[i] = h;
        w->live_n++;
    }
}

/* Removes h from the live set; true if it was there. */
static bool live_take(struct writer *w, uint64_t h)
{
    unsigned bits = w->live_bits;
    uint64_t mask = (UINT64_C(1) << bits) - 1;
    uint64_t *t = w->live;
    uint64_t i = hash_slot(h, bits);
    while (t[i] != h) {
        if (!t[i])
            return false;
        i = (i + 1) & mask;
    }
    for (uint64_t j = i;;) {
        j = (j + 1) & mask;
        if (!t[j])
            break;
        if (may_fill(i, j, hash_slot(t[j], bits))) {
            t[i] = t[j];
            i = j;
        }
    }
    t[i] = 0;
    w->live_n--;
    return true;
}

/* ---- the writer: completed lifetimes --------------------------------- */

static const char digits2[201] = "00010203040506070809101112131415161718192021222324"
                                 "25262728293031323334353637383940414243444546474849"
                                 "50515253545556575859606162636465666768697071727374"
                                 "75767778798081828384858687888990919293949596979899";

/* Writes v in decimal at p; returns the end. */
static inline char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    char *e = tmp + sizeof tmp, *q = e;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        q -= 2;
        memcpy(q, digits2 + 2 * r, 2);
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, digits2 + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    memcpy(p, q, (size_t)(e - q));
    return p + (e - q);
}

/* Writes signed v in decimal at p; returns the end. */
static inline char *put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(p, (uint64_t)v);
}

/* Whether max_history asks for trimming; removes the oldest completed
 * lifetimes (whole rows, or the head of the oldest row through `skip`)
 * until at most max_history are visible. */
static bool trim_history(struct writer *w)
{
    if (!w->max_history)
        return true;
    while (w->kept > w->max_history) {
        uint64_t excess = w->kept - w->max_history;
        sqlite3_stmt *st = w->st[ST_OLDEST];
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            sqlite3_reset(st);
            if (rc == SQLITE_DONE) { /* nothing left: the count was off */
                w->kept = 0;
                return true;
            }
            fail_db(w);
            return false;
        }
        int64_t id = sqlite3_column_int64(st, 0);
        uint64_t n = (uint64_t)sqlite3_column_int64(st, 1);
        uint64_t skip = (uint64_t)sqlite3_column_int64(st, 2);
        sqlite3_reset(st);
        uint64_t avail = n > skip ? n - skip : 0;
        if (avail <= excess) {
            st = w->st[ST_BATCH_DEL];
            sqlite3_bind_int64(st, 1, id);
            w->kept -= avail;
        } else {
            st = w->st[ST_BATCH_SKIP];
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, (int64_t)(skip + excess));
            w->kept -= excess;
        }
        if (!run(w, st))
            return false;
    }
    return true;
}

/* Writes the chunk being built as one `batches` row. */
static bool chunk_flush(struct writer *w)
{
    if (!w->chunk_n)
        return true;
    if (!txn(w))
        return false;
    w->chunk[w->chunk_len++] = ']';
    sqlite3_stmt *st = w->st[ST_BATCH];
    sqlite3_bind_int64(st, 1, (int64_t)w->chunk_base);
    sqlite3_bind_int64(st, 2, w->chunk_n);
    sqlite3_bind_text(st, 3, w->chunk, (int)w->chunk_len, SQLITE_STATIC);
    bool ok = run(w, st);
    if (!ok)
        return false;
    w->kept += w->chunk_n;
    w->chunk_n = 0;
    w->chunk_len = 0;
    return trim_history(w);
}

/* Adds the completed lifetime of a DELETE event to the chunk. */
static bool chunk_add(struct writer *w, const struct trace_ev *ev)
{
    uint32_t tag = ev->a[0], cthr = ev->a[1], cstk = ev->a[2], dthr = ev->a[3],
             dstk = ev->a[4];
    if (!need_tag(w, tag) || !need_thread(w, cthr) || !need_thread(w, dthr) ||
        !need_stack(w, cstk) || !need_stack(w, dstk))
        return false;
    char *p = w->chunk + w->chunk_len;
    if (w->chunk_n == 0) {
        w->chunk_base = ev->t1;
        *p++ = '[';
    } else {
        *p++ = ',';
    }
    *p++ = '[';
    p = put_i64(p, (int64_t)(ev->t1 - w->chunk_base));
    *p++ = ',';
    p = put_i64(p, (int64_t)(ev->t1 - ev->t0));
    *p++ = ',';
    p = put_u64(p, (uint32_t)ev->h);
    *p++ = ',';
    p = put_u64(p, ev->h >> 32);
    *p++ = ',';
    p = put_u64(p, tag);
    *p++ = ',';
    p = put_u64(p, cthr);
    *p++ = ',';
    p = put_u64(p, cstk);
    *p++ = ',';
    p = put_u64(p, dstk);
    if (dthr != cthr) {
        *p++ = ',';
        p = put_u64(p, dthr);
    }
    *p++ = ']';
    w->chunk_len = (size_t)(p - w->chunk);
    w->n_lifetimes++;
    if (++w->chunk_n == CHUNK_MAX)
        return chunk_flush(w);
    return true;
}

/* ---- the writer: events ---------------------------------------------- */

/* Defined below; on_new() commits early when the pending map cannot grow. */
static bool commit(struct writer *w);

/* A NEW event: remembered until it is deleted or the batch is committed. */
static void on_new(struct writer *w, const struct trace_ev *ev)
{
    if ((w->pend_n + 1) * 2 > (UINT64_C(1) << w->pend_bits) &&
        !pend_resize(w, w->pend_bits + 1)) {
        /* Cannot grow: commit now, which empties the map. */
        if (!commit(w))
            return;
    }
    uint64_t mask = (UINT64_C(1) << w->pend_bits) - 1;
    uint64_t i = hash_slot(ev->h, w->pend_bits);
    while (w->pkey[i] && w->pkey[i] != ev->h)
        i = (i + 1) & mask;
    if (!w->pkey[i])
        w->pend_n++;
    w->pkey[i] = ev->h;
    w->pend[i] = (struct pend){ev->t0, ev->a[0], ev->a[1], ev->a[2]};
}

/* A DELETE event: the lifetime is complete. If its NEW is still in this
 * batch the pair never reaches `live`; if it was committed, its `live` row
 * goes in the same transaction as the completed element. */
static void on_delete(struct writer *w, const struct trace_ev *ev)
{
    if (!pend_take(w, ev->h)) {
        bool committed = live_take(w, ev->h);
        if (committed || w->live_degraded) {
            if (!txn(w))
                return;
            sqlite3_stmt *st = w->st[ST_LIVE_DEL];
            sqlite3_bind_int64(st, 1, (int64_t)ev->h);
            if (!run(w, st))
                return;
        }
    }
    chunk_add(w, ev);
}

/* An ERROR event: one `errors` row. */
static void on_error(struct writer *w, const struct trace_ev *ev)
{
    const char *kind, *msg = NULL;
    if (ev->type == EV_ERROR) {
        kind = (const char *)(uintptr_t)ev->t0;
        msg = kind + strlen(kind) + 1;
    } else {
        kind = (const char *)(uintptr_t)ev->t0;
    }
    uint32_t tag = ev->a[0], cthr = ev->a[1], cstk = ev->a[2], dthr = ev->a[3],
             dstk = ev->a[4], thr = ev->a[5], stk = ev->a[6];
    bool cknown = cthr || cstk, dknown = dthr || dstk;
    if (!need_tag(w, tag) || !need_thread(w, thr) || !need_stack(w, stk) ||
        (cknown && (!need_thread(w, cthr) || !need_stack(w, cstk))) ||
        (dknown && (!need_thread(w, dthr) || !need_stack(w, dstk))) || !txn(w))
        return;
    sqlite3_stmt *st = w->st[ST_ERROR];
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)ev->h);
    sqlite3_bind_int64(st, 3, (int64_t)ev->t1);
    sqlite3_bind_int64(st, 4, thr);
    bind_id(st, 5, stk);
    if (msg)
        sqlite3_bind_text(st, 6, msg, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 6);
    const char *tagname = tag ? handle__tag_get(tag) : NULL;
    if (tagname)
        sqlite3_bind_text(st, 7, tagname, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 7);
    if (cknown)
        sqlite3_bind_int64(st, 8, cthr);
    else
        sqlite3_bind_null(st, 8);
    bind_id(st, 9, cstk);
    if (dknown)
        sqlite3_bind_int64(st, 10, dthr);
    else
        sqlite3_bind_null(st, 10);
    bind_id(st, 11, dstk);
    run(w, st);
}

/* Processes one event taken from the ring. */
static void process(struct writer *w, const struct trace_ev *ev)
{
    switch (ev->type) {
    case EV_NEW:
        if (!w->failed)
            on_new(w, ev);
        break;
    case EV_DELETE:
        if (!w->failed)
            on_delete(w, ev);
        break;
    case EV_ERROR:
    case EV_ERROR_BARE:
        if (!w->failed)
            on_error(w, ev);
        if (ev->type == EV_ERROR)
            free((void *)(uintptr_t)ev->t0);
        w->urgent = true;
        break;
    case EV_SYNC:
        w->urgent = true;
        break;
    case EV_CLOSE:
        w->closing = true;
        w->exit_status = (int)ev->a[0];
        w->ended_at = ev->t1;
        break;
    default:
        break;
    }
}

/* Tells waiters that every position below pos is done. */
static void publish(uint64_t pos)
{
    atomic_store(&g.committed, pos);
    atomic_fetch_add(&g.commit_seq, 1);
    futex_wake(&g.commit_seq, INT_MAX);
}

/* Commits the batch: handles still pending become `live` rows, the last
 * chunk is written, max_history applied, module unload times refreshed;
 * then waiters are told. After a failure it only tells waiters. Needs
 * dblock. */
static bool commit(struct writer *w)
{
    if (!w->failed && w->pend_n) {
        uint64_t n = UINT64_C(1) << w->pend_bits;
        sqlite3_stmt *st = w->st[ST_LIVE_INS];
        for (uint64_t i = 0; i < n && !w->failed; i++) {
            uint64_t h = w->pkey[i];
            struct pend *p = &w->pend[i];
            if (!h)
                continue;
            if (!need_tag(w, p->tag) || !need_thread(w, p->thread) || !need_stack(w, p->stack) ||
                !txn(w))
                break;
            sqlite3_bind_int64(st, 1, (int64_t)h);
            bind_id(st, 2, p->tag);
            sqlite3_bind_int64(st, 3, (int64_t)p->created_ns);
            sqlite3_bind_int64(st, 4, p->thread);
            bind_id(st, 5, p->stack);
            if (!run(w, st))
                break;
            live_add(w, h);
            w->n_live_rows++;
            w->pkey[i] = 0;
        }
        w->pend_n = 0;
    }
    if (!w->failed)
        chunk_flush(w);
    if (!w->failed)
        update_modules(w);
    if (!w->failed && w->in_txn) {
        if (run(w, w->st[ST_COMMIT]))
            w->in_txn = false;
    }
    if (!w->failed) {
        int moved = 0;
        if (sqlite3_file_control(w->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
            moved)
            fail(w, "the file was removed or renamed");
    }
    w->n_commits++;
    publish(w->processed);
    return !w->failed;
}

/* ---- the writer: database set-up and end ----------------------------- */

/* Runs sql (several statements) or fails the start-up with its message. */
static bool exec_init(struct writer *w, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(w->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return true;
    snprintf(w->init_err, sizeof w->init_err, "%s", msg ? msg : sqlite3_errmsg(w->db));
    sqlite3_free(msg);
    return false;
}

/* Sets meta key to text value (NULL: SQL NULL) in the open transaction;
 * false on an SQLite error, reported by the caller. */
static bool meta_text(struct writer *w, const char *key, const char *value)
{
    sqlite3_stmt *st = w->st[ST_META];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (value)
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    return sqlite3_step(st) == SQLITE_DONE && sqlite3_reset(st) == SQLITE_OK;
}

/* Sets meta key to an integer, as meta_text(). */
static bool meta_int(struct writer *w, const char *key, int64_t value)
{
    sqlite3_stmt *st = w->st[ST_META];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value);
    return sqlite3_step(st) == SQLITE_DONE && sqlite3_reset(st) == SQLITE_OK;
}

/* Opens the file created by handle__trace_open(), switches it to WAL and
 * writes the schema and meta in one transaction. On failure the reason is
 * in init_err and the connection is closed. Needs dblock. */
static bool db_init(struct writer *w)
{
    int rc = sqlite3_open_v2(w->path, &w->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(w->init_err, sizeof w->init_err, "%s",
                 w->db ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(w->db, 2000);
    /* WAL with synchronous=NORMAL: a commit is write(2)s, no fsync; a
     * killed process loses nothing it committed (fsync only at
     * checkpoints, for power loss). Pages of 32 KiB: the writer's cost is
     * mostly syscalls and copies per WAL frame and per checkpointed page,
     * so fewer, larger pages cut it (measured, writer CPU per lifetime:
     * 4 KiB 171 ns, 16 KiB 129 ns, 32 KiB 106 ns, 64 KiB 99 ns) at the
     * price of a larger empty trace (about nine pages). 16 KiB: a test
     * suite leaves one trace per process, and 32 KiB pages made each
     * empty one 288 KB; the writer runs on its own thread and stays well
     * below the calling thread's cost per lifetime. secure_delete (on
     * in Debian's build) would zero every deleted `live` row for nothing.
     * A checkpoint every 1024 pages bounds the WAL at 16 MiB. */
    if (!exec_init(w, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL;"
                      "PRAGMA synchronous=NORMAL; PRAGMA secure_delete=OFF;"
                      "PRAGMA cache_size=-8192; PRAGMA wal_autocheckpoint=1024;"))
        goto fail;
    if (!exec_init(w, "BEGIN") || !exec_init(w, handle__trace_schema_sql))
        goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(w->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &w->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(w->init_err, sizeof w->init_err, "%s", sqlite3_errmsg(w->db));
            goto fail;
        }
    }
    if (!meta_text(w, "format", "handle-trace") || !meta_int(w, "version", 1) ||
        !meta_int(w, "pid", w->pid) || !meta_text(w, "exe", w->exe) ||
        !meta_text(w, "cmdline", w->cmdline) || !meta_int(w, "started_at", (int64_t)w->started_at) ||
        !meta_int(w, "flush_ms", w->flush_ms) ||
        !meta_int(w, "max_history", (int64_t)w->max_history)) {
        snprintf(w->init_err, sizeof w->init_err, "%s", sqlite3_errmsg(w->db));
        goto fail;
    }
    if (!exec_init(w, "COMMIT"))
        goto fail;
    w->chunk = malloc((size_t)CHUNK_MAX * ELEM_MAX + 2);
    if (!w->chunk || !pend_resize(w, PEND_MIN_BITS) || !live_resize(w, LIVE_MIN_BITS)) {
        snprintf(w->init_err, sizeof w->init_err, "out of memory");
        goto fail;
    }
    return true;
fail:
    db_close(w);
    free_state(w);
    return false;
}

/* The CLOSE event: final commit, ended_at and exit_status, a checkpoint so
 * that the .db alone is complete, and the connection closed. Needs dblock. */
static void db_finish(struct writer *w)
{
    commit(w);
    if (!w->failed) {
        if (!txn(w) || !meta_int(w, "ended_at", (int64_t)w->ended_at) ||
            !meta_int(w, "exit_status", w->exit_status)) {
            if (!w->failed)
                fail_db(w);
        } else if (run(w, w->st[ST_COMMIT])) {
            w->in_txn = false;
            sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        }
    }
    db_close(w);
    free_state(w);
}

/* ---- the writer thread ----------------------------------------------- */

/* Copies up to max published events out of the ring and frees their
 * slots; returns how many. */
static size_t drain(struct writer *w, struct trace_ev *buf, size_t max)
{
    size_t n = 0;
    while (n < max) {
        struct trace_cell *c = &ring[w->head & RING_MASK];
        if (atomic_load_explicit(&c->seq, memory_order_acquire) != w->head + 1)
            break;
        buf[n++] = c->ev;
        atomic_store_explicit(&c->seq, w->head + RING_CAP, memory_order_release);
        w->head++;
    }
    /* Producers waiting for room are woken once a quarter of the ring is
     * free again, or when it is empty: one wake per many slots, not one per
     * drain. */
    if (n && (w->head - w->woke_at >= RING_CAP / 4 || n < max)) {
        /* pairs with the fetch_add on space_waiters in wait_room() */
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&g.space_waiters, memory_order_relaxed)) {
            w->woke_at = w->head;
            atomic_fetch_add(&g.space, 1);
            futex_wake(&g.space, INT_MAX);
        }
    }
    return n;
}

/* Whether the next slot holds an event. */
static bool ring_ready(const struct writer *w)
{
    return atomic_load_explicit(&ring[w->head & RING_MASK].seq, memory_order_acquire) ==
           w->head + 1;
}

/* Frees what events after the CLOSE event own. */
static void discard(const struct trace_ev *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i].type == EV_ERROR)
            free((void *)(uintptr_t)buf[i].t0);
}

/* The writer thread: sets up the database (reporting to the opener), then
 * drains the ring in sections of at most SECTION_MAX events under dblock,
 * commits when the batch is due (period_ns after its first event) or an
 * event asks for it (SYNC, ERROR), sleeps on g.wake when the ring is
 * empty, and finishes at the CLOSE event. Once set up it never returns
 * before CLOSE: after a failure it keeps draining so that no producer waits
 * forever. If set-up fails it returns at once (the opener joins it). */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    pthread_setname_np(pthread_self(), "handle-trace");
    db_enter();
    w->init_ok = db_init(w);
    db_leave();
    bool ok = w->init_ok;
    sem_post(&w->init_sem); /* w belongs to the opener from here if !ok */
    if (!ok)
        return NULL;

    struct trace_ev buf[DRAIN_BATCH];
    bool batch_open = false;
    uint64_t batch_start = 0;
    for (;;) {
        size_t total = 0;
        size_t n;
        while (total < SECTION_MAX && (n = drain(w, buf, DRAIN_BATCH)) > 0) {
            if (!batch_open) {
                batch_open = true;
                batch_start = mono_ns();
            }
            if (total == 0)
                db_enter();
            total += n;
            size_t i = 0;
            for (; i < n && !w->closing; i++) {
                process(w, &buf[i]);
                w->processed = w->head - n + i + 1;
            }
            if (w->closing) {
                discard(buf + i, n - i);
                break;
            }
        }
        if (total)
            db_leave();
        if (w->closing) {
            db_enter();
            db_finish(w);
            db_leave();
            break;
        }
        uint64_t now = mono_ns();
        if (batch_open && (w->urgent || now - batch_start >= w->period_ns)) {
            db_enter();
            commit(w);
            db_leave();
            batch_open = false;
            w->urgent = false;
            continue;
        }
        if (total)
            continue;
        /* Nothing to read: sleep until the batch is due, or for one period
         * when it is empty; producers wake us on bursts and syncs. */
        uint64_t timeout = batch_open ? batch_start + w->period_ns - now : w->period_ns;
        atomic_store(&g.writer_idle, 1);
        uint32_t v = atomic_load(&g.wake);
        if (!ring_ready(w))
            futex_wait(&g.wake, v, timeout);
        atomic_store(&g.writer_idle, 0);
    }
    return NULL;
}

/* ---- open, close, fork ----------------------------------------------- */

/* Writes "what: strerror(e)" into err, or only strerror(e) when what is
 * NULL (the caller already says "cannot create trace PATH"). */
static void set_err(char *err, size_t errlen, const char *what, int e)
{
    char tmp[128];
    const char *s = strerror_r(e, tmp, sizeof tmp);
    if (what)
        snprintf(err, errlen, "%s: %s", what, s);
    else
        snprintf(err, errlen, "%s", s);
}

/* Creates path as a new, empty regular file of mode 0600: a regular file
 * there is replaced (with the -wal and -shm files of the old database, so
 * SQLite never replays a stale log into the new one); a symbolic link is
 * refused and left alone. */
static bool create_file(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
            snprintf(err, errlen, "is a symbolic link");
            return false;
        }
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "exists and is not a regular file");
            return false;
        }
        if (unlink(path) != 0) {
            set_err(err, errlen, "cannot replace the existing file", errno);
            return false;
        }
    } else if (errno != ENOENT) {
        set_err(err, errlen, NULL, errno);
        return false;
    }
    size_t len = strlen(path);
    char *side = malloc(len + 5);
    if (side) {
        memcpy(side, path, len);
        memcpy(side + len, "-wal", 5);
        unlink(side);
        memcpy(side + len, "-shm", 5);
        unlink(side);
        free(side);
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        set_err(err, errlen, NULL, errno);
        return false;
    }
    if (fchmod(fd, 0600) != 0) { /* the umask may have taken bits away */
        set_err(err, errlen, "cannot set mode 0600", errno);
        close(fd);
        unlink(path);
        return false;
    }
    close(fd);
    return true;
}

/* Removes a half-made trace (after the writer could not set it up). */
static void remove_files(const char *path)
{
    size_t len = strlen(path);
    char *side = malloc(len + 5);
    unlink(path);
    if (side) {
        memcpy(side, path, len);
        memcpy(side + len, "-wal", 5);
        unlink(side);
        memcpy(side + len, "-shm", 5);
        unlink(side);
        free(side);
    }
}

/* Frees the writer's configuration copies and the writer itself. */
static void writer_free(struct writer *w)
{
    if (!w)
        return;
    free(w->path);
    free(w->exe);
    free(w->cmdline);
    free(w);
}

/* Resets the ring for a new trace: no producer may be using it. */
static void ring_reset(void)
{
    for (uint64_t i = 0; i < RING_CAP; i++)
        atomic_store_explicit(&ring[i].seq, i, memory_order_relaxed);
    atomic_store(&g.tail, 0);
    atomic_store(&g.committed, 0);
    atomic_store(&g.writer_idle, 0);
    atomic_store(&g.space_waiters, 0);
}

/* See trace.h. The file is created here (so that its errors are the
 * caller's to print); the writer creates the schema while we wait. A second
 * open while a trace is open returns true and changes nothing. */
bool handle__trace_open(const struct handle__trace_config *cfg, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!cfg || !cfg->path || !cfg->path[0]) {
        snprintf(err, errlen, "no trace path");
        return false;
    }
    int saved = errno;
    pthread_once(&global_once, global_init);
    pthread_mutex_lock(&g.life);
    bool ok = false;
    struct writer *w = NULL;
    if (g.running) {
        ok = true;
        goto out;
    }
    if (!create_file(cfg->path, err, errlen))
        goto out;
    w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(cfg->path)) || (cfg->exe && !(w->exe = strdup(cfg->exe))) ||
        (cfg->cmdline && !(w->cmdline = strdup(cfg->cmdline))) ||
        sem_init(&w->init_sem, 0, 0) != 0) {
        snprintf(err, errlen, "out of memory");
        remove_files(cfg->path);
        writer_free(w);
        goto out;
    }
    w->pid = cfg->pid;
    w->started_at = cfg->started_at;
    w->max_history = cfg->max_history;
    w->flush_ms = cfg->flush_ms ? cfg->flush_ms : 1;
    /* Commit every 2/5 flush_ms: an event waits at most one period in the
     * ring (the writer wakes at least that often) and one in the batch. */
    w->period_ns = (uint64_t)w->flush_ms * 400000u;
    ring_reset();

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int rc = pthread_create(&th, NULL, writer_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        set_err(err, errlen, "cannot start the writer thread", rc);
        remove_files(cfg->path);
        sem_destroy(&w->init_sem);
        writer_free(w);
        goto out;
    }
    while (sem_wait(&w->init_sem) != 0 && errno == EINTR)
        ;
    if (!w->init_ok) {
        pthread_join(th, NULL);
        snprintf(err, errlen, "%s", w->init_err[0] ? w->init_err : "cannot set up the database");
        remove_files(cfg->path);
        sem_destroy(&w->init_sem);
        writer_free(w);
        goto out;
    }
    g.thread = th;
    g.w = w;
    g.owner = getpid();
    g.running = true;
    atomic_store(&g.accepting, true);
    ok = true;
out:
    pthread_mutex_unlock(&g.life);
    errno = saved;
    return ok;
}

/* See trace.h. Only the process that opened the trace closes it (a fork
 * child that was not told to forget must not join a thread it lacks). */
void handle__trace_close(int exit_status, uint64_t ended_at, const struct handle__leak *live,
                         size_t n)
{
    (void)live; /* TODO(issue 11, case 10): reconcile */
    (void)n;
    int saved = errno;
    pthread_mutex_lock(&g.life);
    if (!g.running || g.owner != getpid()) {
        pthread_mutex_unlock(&g.life);
        errno = saved;
        return;
    }
    struct trace_ev ev = {.t1 = ended_at, .type = EV_CLOSE};
    ev.a[0] = (uint32_t)exit_status;
    /* The CLOSE event is queued while events are still accepted, so it
     * follows everything queued before this call; only then do producers
     * stop (a producer waiting for room re-checks its slot after seeing
     * accepting == false, so none can hold a position before CLOSE). */
    bool queued = enqueue(&ev, NULL);
    atomic_store(&g.accepting, false);
    (void)queued;
    wake_writer(true);
    pthread_join(g.thread, NULL);
    sem_destroy(&g.w->init_sem);
    writer_free(g.w);
    g.w = NULL;
    g.running = false;
    publish(UINT64_MAX); /* nobody waits for a trace that is gone */
    atomic_fetch_add(&g.space, 1);
    futex_wake(&g.space, INT_MAX);
    pthread_mutex_unlock(&g.life);
    errno = saved;
}

/* See trace.h. */
void handle__trace_forget(void)
{
    /* The only thread of a fork child: the writer, its connection and any
     * lock holder are in the parent. Leak them; reset what a new trace
     * needs. The ring is reset by the next open. */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&g.life, &fresh, sizeof fresh);
    memcpy(&g.dblock, &fresh, sizeof fresh);
    atomic_store(&g.fork_waiting, 0);
    atomic_store(&g.accepting, false);
    g.running = false;
    g.w = NULL;
    g.owner = 0;
    atomic_store(&g.tail, 0);
    atomic_store(&g.committed, 0);
    atomic_store(&g.space_waiters, 0);
    atomic_store(&g.writer_idle, 0);
}

/* ---- interim stubs (issue 11: the writer rebuild replaces them) ------- */

const char *handle__trace_path(void)
{
    return g.running && g.w ? g.w->path : "";
}

void handle__trace_error_text(const char *message)
{
    (void)message;
}

void handle__trace_freeze(void)
{
}

bool handle__trace_take_warning(char *buf, size_t cap)
{
    (void)buf;
    (void)cap;
    return false;
}

void handle__trace_watch_orphan(void (*on_orphan)(void))
{
    (void)on_orphan;
}
