/*
 * trace_store.c - the trace's SQLite side (trace_store.h): the file and
 * its schema, prepared statements, the written-ids bitmaps, the pending map
 * and live set, completed lifetimes packed by the codec into `lifetimes`,
 * max_history, errors and meta.
 *
 * Storage (the layout is what makes the writer keep up and the `handles`
 * view fast; see lib/format/trace_format.h): a completed lifetime is six
 * integers, a slot of a `lifetimes` row that holds eight (one INSERT per
 * eight lifetimes); the view `handles` is a UNION ALL of the slots. Handles
 * live at the last commit are real rows of `live`, so `leaks` is a plain
 * table scan. A lifetime that ends in the batch that saw it start becomes
 * one completed element and never touches `live` (no insert-then-update):
 * the store keeps a per-batch map of handles created since the last commit
 * and a set of handles committed to `live`, both bounded by live handles.
 * Stacks, modules, threads and tags are read from the model (model.h) and
 * written the first time an event of this trace refers to them, in the
 * transaction of that event, so a committed trace is always self-contained.
 */
#include "trace_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../core/fmt.h"
#include "../format/trace_format.h"
#include "trace.h"

#define PEND_MIN_BITS 10u

/* The Unix time in ns. */
static uint64_t unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#define LIVE_MIN_BITS 10u

static const char *const stmt_sql[HANDLE__ST_COUNT] = {
    [HANDLE__ST_BEGIN] = "BEGIN",
    [HANDLE__ST_COMMIT] = "COMMIT",
    [HANDLE__ST_ROW] = HANDLE__ROW_INSERT_SQL,
    [HANDLE__ST_LIVE_INS] = "INSERT OR REPLACE INTO live(handle, tag, created_ns, created_thread, "
                    "created_stack) VALUES (?1, ?2, ?3, ?4, ?5)",
    [HANDLE__ST_LIVE_DEL] = "DELETE FROM live WHERE handle = ?1",
    [HANDLE__ST_STACK] = "INSERT OR IGNORE INTO stacks(id, depth, pc, module) VALUES (?1, ?2, ?3, ?4)",
    [HANDLE__ST_MODULE] = "INSERT OR REPLACE INTO modules(id, path, build_id, bias, lo, hi, loaded_ns, "
                  "unloaded_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [HANDLE__ST_MODULE_UNLOAD] = "UPDATE modules SET unloaded_ns = ?2 WHERE id = ?1",
    [HANDLE__ST_THREAD] = "INSERT OR IGNORE INTO threads(id, tid, name, first_ns) VALUES (?1, ?2, ?3, ?4)",
    [HANDLE__ST_TAG] = "INSERT OR IGNORE INTO tags(id, name) VALUES (?1, ?2)",
    [HANDLE__ST_ERROR] = "INSERT INTO errors(kind, handle, at_ns, thread, stack, message, tag, "
                 "created_thread, created_stack, deleted_thread, deleted_stack) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [HANDLE__ST_META] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
    [HANDLE__ST_OLDEST] = HANDLE__ROW_OLDEST_SQL,
    [HANDLE__ST_ROW_DEL] = HANDLE__ROW_DELETE_SQL,
    [HANDLE__ST_ROW_DROP] = HANDLE__ROW_DROP_SQL,
    [HANDLE__ST_ERROR_TEXT] = "UPDATE errors SET message = ?2 WHERE id = ?1",
};

/* ---- failure --------------------------------------------------------- */

/* Frees the sets and bitmaps (not the configuration). */
static void free_state(struct handle__store *w)
{
    free(w->pkey);
    free(w->live);
    free(w->stacks.w);
    free(w->modules.w);
    free(w->threads.w);
    free(w->tags.w);
    free(w->mod_unloaded);
    w->row_n = 0;
    w->pkey = NULL;
    w->pend = NULL;
    w->live = NULL;
    w->stacks.w = w->modules.w = w->threads.w = w->tags.w = NULL;
    w->mod_unloaded = NULL;
}

/* Closes the connection without checking anything. */
static void db_close(struct handle__store *w)
{
    for (int i = 0; i < HANDLE__ST_COUNT; i++) {
        sqlite3_finalize(w->st[i]);
        w->st[i] = NULL;
    }
    if (w->db)
        sqlite3_close_v2(w->db);
    w->db = NULL;
}

/* Before giving up on a file that is still there (a full disk, a file
 * size limit): the open transaction rolled back, a checkpoint (a WAL that
 * cannot grow can then be reused), and meta `incomplete` = reason, if
 * the file takes it. Every step may fail; what was committed stays. */
static void mark_incomplete(struct handle__store *w, const char *reason)
{
    if (!w->db)
        return;
    for (int i = 0; i < HANDLE__ST_COUNT; i++)
        if (w->st[i])
            sqlite3_reset(w->st[i]);
    if (!sqlite3_get_autocommit(w->db))
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    w->in_txn = false;
    sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_stmt *st = w->st[HANDLE__ST_META];
    if (!st)
        return;
    sqlite3_bind_text(st, 1, "incomplete", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_reset(st);
}

/* The writer gives up: one warning, the connection closed (an open
 * transaction is rolled back), memory returned. It goes on draining
 * events so that producers never wait for it. With mark, the file is
 * still ours and gets meta `incomplete` where it can. */
static void fail_as(struct handle__store *w, const char *reason, bool mark)
{
    if (w->failed)
        return;
    w->failed = true;
    if (mark)
        mark_incomplete(w, reason);
    /* The writer has no descriptor of the program's: the runtime prints
     * this from a program thread (handle__trace_take_warning). */
    char text[HANDLE__TR_WARN_LEN];
    struct handle__fmt f = {text, 0, sizeof text - 1};
    handle__fmt_str(&f, "trace ");
    handle__fmt_str(&f, w->path);
    handle__fmt_str(&f, ": ");
    handle__fmt_str(&f, reason);
    handle__fmt_str(&f, "; continuing without trace");
    text[f.len] = '\0';
    handle__tr_warn(text);
    db_close(w);
    free_state(w);
    w->in_txn = false;
}

/* Why a write failed, when SQLite does not keep the errno (it reads errno
 * later, after other calls): EFBIG when the trace or its WAL reached
 * RLIMIT_FSIZE (less than a page short of it), ENOSPC when its file system
 * has no free block; 0 if neither. */
static int write_errno(const struct handle__store *w)
{
    struct rlimit rl;
    struct stat st;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t len = strlen(w->real);
        char *wal = malloc(len + 5);
        bool big = stat(w->real, &st) == 0 && (uint64_t)st.st_size + 65536 >= rl.rlim_cur;
        if (wal) {
            memcpy(wal, w->real, len);
            memcpy(wal + len, "-wal", 5);
            big = big || (stat(wal, &st) == 0 && (uint64_t)st.st_size + 65536 >= rl.rlim_cur);
            free(wal);
        }
        if (big)
            return EFBIG;
    }
    struct statvfs vfs;
    if (statvfs(w->real, &vfs) == 0 && vfs.f_bavail == 0)
        return ENOSPC;
    return 0;
}

/* Fails without touching the file again. */
static void fail(struct handle__store *w, const char *reason)
{
    fail_as(w, reason, false);
}

/* Fails with SQLite's message for the last error, and the system's
 * (ENOSPC, EFBIG: "disk I/O error (File too large)"). A write error marks
 * the file incomplete. */
static void fail_db(struct handle__store *w)
{
    char reason[256], tmp[128];
    if (!w->db) {
        fail(w, "SQLite error");
        return;
    }
    int rc = sqlite3_errcode(w->db), e = w->sys_errno;
    if (!e && (rc == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR))
        e = write_errno(w);
    if (e)
        snprintf(reason, sizeof reason, "%s (%s)", sqlite3_errmsg(w->db),
                 strerror_r(e, tmp, sizeof tmp));
    else
        snprintf(reason, sizeof reason, "%s", sqlite3_errmsg(w->db));
    fail_as(w, reason, rc == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR);
}

/* Steps a bound statement to completion (or its first row, left to the
 * caller to read before the next run()). false after a failure. */
static bool run(struct handle__store *w, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return true;
    if (rc != SQLITE_DONE)
        w->sys_errno = sqlite3_system_errno(w->db); /* before reset */
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return true;
    fail_db(w);
    return false;
}

/* Opens the batch's transaction if it is not open yet. */
static bool txn(struct handle__store *w)
{
    if (w->failed)
        return false;
    if (w->in_txn)
        return true;
    if (!run(w, w->st[HANDLE__ST_BEGIN]))
        return false;
    w->in_txn = true;
    return true;
}

/* ---- written ids ----------------------------------------- */

/* Slow path of bits_first(): grows the bitmap to hold id, then marks it. */
static bool bits_first_slow(struct handle__bits *b, uint32_t id)
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
static inline bool bits_first(struct handle__bits *b, uint32_t id)
{
    if (HANDLE__LIKELY(id / 64 < b->nwords && (b->w[id / 64] >> (id % 64) & 1)))
        return false;
    return bits_first_slow(b, id);
}

/* Whether id is marked. */
static inline bool bits_has(const struct handle__bits *b, uint32_t id)
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
static bool need_module(struct handle__store *w, uint32_t id)
{
    if (id == 0 || !bits_first(&w->modules, id))
        return true;
    const struct handle__module *m = handle__module_get(id);
    if (!m || !txn(w))
        return !w->failed;
    uint64_t unl = atomic_load(&((struct handle__module *)m)->unloaded_ns);
    sqlite3_stmt *st = w->st[HANDLE__ST_MODULE];
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
static bool need_stack_slow(struct handle__store *w, uint32_t id)
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
    sqlite3_stmt *st = w->st[HANDLE__ST_STACK];
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
static bool need_thread_slow(struct handle__store *w, uint32_t id)
{
    if (!bits_first(&w->threads, id))
        return true;
    const struct handle__thread *t = handle__thread_get(id);
    if (!t)
        return true;
    if (!txn(w))
        return false;
    sqlite3_stmt *st = w->st[HANDLE__ST_THREAD];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, t->tid);
    sqlite3_bind_text(st, 3, t->name, (int)strnlen(t->name, sizeof t->name), SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)t->first_ns);
    return run(w, st);
}

/* Writes tag id's row the first time. */
static bool need_tag_slow(struct handle__store *w, uint32_t id)
{
    if (id == 0 || !bits_first(&w->tags, id))
        return true;
    const char *name = handle__tag_get(id);
    if (!name)
        return true;
    if (!txn(w))
        return false;
    sqlite3_stmt *st = w->st[HANDLE__ST_TAG];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return run(w, st);
}

/* The common case inline: an id already written costs one load and a
 * test; the first reference takes the slow path. */
static inline bool need_stack(struct handle__store *w, uint32_t id)
{
    return id == 0 || bits_has(&w->stacks, id) || need_stack_slow(w, id);
}

/* Thread 0 is T0, a real thread: no "none" shortcut. */
static inline bool need_thread(struct handle__store *w, uint32_t id)
{
    return bits_has(&w->threads, id) || need_thread_slow(w, id);
}

/* Tag 0 is "untagged": nothing to write. */
static inline bool need_tag(struct handle__store *w, uint32_t id)
{
    return id == 0 || bits_has(&w->tags, id) || need_tag_slow(w, id);
}

/* Re-checks the unload time of every module written so far; cheap (a few
 * hundred atomic loads at most) and done at each commit. */
static bool update_modules(struct handle__store *w)
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
        sqlite3_stmt *st = w->st[HANDLE__ST_MODULE_UNLOAD];
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, (int64_t)unl);
        if (!run(w, st))
            return false;
        w->mod_unloaded[id] = unl;
    }
    return true;
}

/* ---- handle sets ----------------------------------------- */

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

/* The two sets below (the pending map, keys with a value each, and the
 * live set, keys alone) are open-addressing tables of handles, 0 for an
 * empty slot, that share these two routines; vals may be NULL. */

/* Moves the entries of a table of old_n slots into an empty one of
 * 2^bits slots. */
static void set_rehash(const uint64_t *ok, const struct handle__pend *ov, uint64_t old_n,
                       uint64_t *nk, struct handle__pend *nv, unsigned bits)
{
    uint64_t mask = (UINT64_C(1) << bits) - 1;
    for (uint64_t i = 0; i < old_n; i++) {
        if (!ok[i])
            continue;
        uint64_t j = hash_slot(ok[i], bits);
        while (nk[j])
            j = (j + 1) & mask;
        nk[j] = ok[i];
        if (nv)
            nv[j] = ov[i];
    }
}

/* Removes h from a table of 2^bits slots; true if it was there. */
static bool set_take(uint64_t *k, struct handle__pend *vals, unsigned bits, uint64_t h)
{
    uint64_t mask = (UINT64_C(1) << bits) - 1;
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
            if (vals)
                vals[i] = vals[j];
            i = j;
        }
    }
    k[i] = 0;
    return true;
}

/* Grows the pending map to 2^bits slots; false if out of memory. */
static bool pend_resize(struct handle__store *w, unsigned bits)
{
    size_t n = (size_t)1 << bits;
    uint64_t *k = calloc(n, sizeof *k + sizeof(struct handle__pend));
    if (!k)
        return false;
    struct handle__pend *d = (struct handle__pend *)(k + n);
    if (w->pkey) {
        set_rehash(w->pkey, w->pend, UINT64_C(1) << w->pend_bits, k, d, bits);
        free(w->pkey);
    }
    w->pkey = k;
    w->pend = d;
    w->pend_bits = bits;
    return true;
}

/* Removes h from the pending map; true if it was there. */
static bool pend_take(struct handle__store *w, uint64_t h)
{
    if (!set_take(w->pkey, w->pend, w->pend_bits, h))
        return false;
    w->pend_n--;
    return true;
}

/* Grows the live set to 2^bits slots; false if out of memory. */
static bool live_resize(struct handle__store *w, unsigned bits)
{
    uint64_t *t = calloc((size_t)1 << bits, sizeof *t);
    if (!t)
        return false;
    if (w->live) {
        set_rehash(w->live, NULL, UINT64_C(1) << w->live_bits, t, NULL, bits);
        free(w->live);
    }
    w->live = t;
    w->live_bits = bits;
    return true;
}

/* Adds h to the live set; a set that cannot grow is degraded instead (a
 * miss then asks SQL), never an error. */
static void live_add(struct handle__store *w, uint64_t h)
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
static bool live_take(struct handle__store *w, uint64_t h)
{
    if (!set_take(w->live, NULL, w->live_bits, h))
        return false;
    w->live_n--;
    return true;
}


/* Whether max_history asks for trimming; removes the oldest completed
 * lifetimes (whole rows, or the first slots of the oldest row) until at
 * most max_history are visible. */
static bool trim_history(struct handle__store *w)
{
    if (!w->max_history)
        return true;
    while (w->kept > w->max_history) {
        uint64_t excess = w->kept - w->max_history;
        sqlite3_stmt *st = w->st[HANDLE__ST_OLDEST];
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
        uint64_t avail = (uint64_t)sqlite3_column_int64(st, 1);
        uint64_t first = (uint64_t)sqlite3_column_int64(st, 2);
        sqlite3_reset(st);
        if (avail <= excess) {
            st = w->st[HANDLE__ST_ROW_DEL];
            sqlite3_bind_int64(st, 1, id);
            w->kept -= avail;
        } else { /* the visible slots are first .. first + avail - 1 */
            st = w->st[HANDLE__ST_ROW_DROP];
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, (int64_t)(first + excess));
            w->kept -= excess;
        }
        if (!run(w, st))
            return false;
    }
    return true;
}

/* Writes the row being built (its empty slots NULL) as one `lifetimes`
 * row. */
static bool row_flush(struct handle__store *w)
{
    if (!w->row_n)
        return true;
    if (!txn(w))
        return false;
    sqlite3_stmt *st = w->st[HANDLE__ST_ROW];
    for (unsigned k = 0; k < HANDLE__ROW_WIDTH; k++) {
        int col = (int)k * HANDLE__ROW_FIELDS + 1;
        if (k >= w->row_n) {
            for (int f = 0; f < HANDLE__ROW_FIELDS; f++)
                sqlite3_bind_null(st, col + f);
            continue;
        }
        struct handle__wslot slot;
        handle__wslot_encode(&w->row[k], &slot);
        for (int f = 0; f < HANDLE__ROW_FIELDS; f++) {
            if (slot.null[f])
                sqlite3_bind_null(st, col + f);
            else
                sqlite3_bind_int64(st, col + f, slot.v[f]);
        }
    }
    if (!run(w, st))
        return false;
    w->kept += w->row_n;
    w->row_n = 0;
    return trim_history(w);
}

/* Adds a completed lifetime to the row (its tag, threads and stacks
 * first). */
static bool row_add(struct handle__store *w, const struct handle__lifetime *l)
{
    if (!need_tag(w, l->tag) || !need_thread(w, l->created_thread) ||
        (l->deleted_thread != HANDLE__CODEC_NO_THREAD && !need_thread(w, l->deleted_thread)) ||
        !need_stack(w, l->created_stack) || !need_stack(w, l->deleted_stack))
        return false;
    w->n_lifetimes++;
    w->row[w->row_n++] = *l;
    if (w->row_n == HANDLE__ROW_WIDTH)
        return row_flush(w);
    return true;
}

/* ---- events ---------------------------------------------- */

/* Defined below: meta rows; on_new() commits early when the pending map
 * cannot grow. */
static bool meta_int(struct handle__store *w, const char *key, int64_t value);
static bool commit(struct handle__store *w);

/* A NEW event: remembered until it is deleted or the batch is committed. */
static void on_new(struct handle__store *w, const struct handle__tr_ev *ev)
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
    w->pend[i] = (struct handle__pend){ev->t0, ev->a[0], ev->a[1], ev->a[2]};
}

/* A DELETE event: the lifetime is complete. If its NEW is still in this
 * batch the pair never reaches `live`; if it was committed, its `live` row
 * goes in the same transaction as the completed element. */
static void on_delete(struct handle__store *w, const struct handle__tr_ev *ev)
{
    if (!pend_take(w, ev->h)) {
        bool committed = live_take(w, ev->h);
        if (committed || w->live_degraded) {
            if (!txn(w))
                return;
            sqlite3_stmt *st = w->st[HANDLE__ST_LIVE_DEL];
            sqlite3_bind_int64(st, 1, (int64_t)ev->h);
            if (!run(w, st))
                return;
        }
    }
    struct handle__lifetime l = {ev->h, ev->t0, ev->t1, ev->a[0], ev->a[1], ev->a[2], ev->a[3],
                                 ev->a[4]};
    row_add(w, &l);
}

/* An ERROR event: one `errors` row. */
static void on_error(struct handle__store *w, const struct handle__tr_ev *ev)
{
    const char *kind, *msg = NULL;
    if (ev->type == HANDLE__EV_ERROR) {
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
    sqlite3_stmt *st = w->st[HANDLE__ST_ERROR];
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
    if (run(w, st))
        w->last_error = sqlite3_last_insert_rowid(w->db);
}

/* An ERROR_TEXT event: the last error's message replaced. */
static void on_error_text(struct handle__store *w, const struct handle__tr_ev *ev)
{
    if (!w->last_error || !txn(w))
        return;
    sqlite3_stmt *st = w->st[HANDLE__ST_ERROR_TEXT];
    sqlite3_bind_int64(st, 1, w->last_error);
    sqlite3_bind_text(st, 2, (const char *)(uintptr_t)ev->t0, -1, SQLITE_STATIC);
    run(w, st);
}

/* See trace_store.h. */
bool handle__store_event(struct handle__store *w, const struct handle__tr_ev *ev)
{
    switch (ev->type) {
    case HANDLE__EV_NEW:
        if (!w->failed && !w->frozen)
            on_new(w, ev);
        break;
    case HANDLE__EV_DELETE:
        if (!w->failed && !w->frozen)
            on_delete(w, ev);
        break;
    case HANDLE__EV_ERROR:
    case HANDLE__EV_ERROR_BARE:
        if (!w->failed)
            on_error(w, ev);
        handle__store_discard(ev);
        return true;
    case HANDLE__EV_ERROR_TEXT:
        if (!w->failed)
            on_error_text(w, ev);
        handle__store_discard(ev);
        return true;
    case HANDLE__EV_SYNC:
        return true;
    default:
        break;
    }
    return false;
}

/* See trace_store.h. */
void handle__store_discard(const struct handle__tr_ev *ev)
{
    if (ev->type == HANDLE__EV_ERROR || ev->type == HANDLE__EV_ERROR_TEXT)
        free((void *)(uintptr_t)ev->t0);
}

/* Commits the batch: handles still pending become `live` rows, the last
 * row is written, max_history applied, module unload times refreshed. */
static bool commit(struct handle__store *w)
{
    if (!w->failed && w->pend_n) {
        uint64_t n = UINT64_C(1) << w->pend_bits;
        sqlite3_stmt *st = w->st[HANDLE__ST_LIVE_INS];
        for (uint64_t i = 0; i < n && !w->failed; i++) {
            uint64_t h = w->pkey[i];
            struct handle__pend *p = &w->pend[i];
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
        row_flush(w);
    if (!w->failed)
        update_modules(w);
    if (!w->failed && w->in_txn && !meta_int(w, "last_commit_ns", (int64_t)unix_ns()))
        fail_db(w);
    if (!w->failed && w->in_txn) {
        if (run(w, w->st[HANDLE__ST_COMMIT]))
            w->in_txn = false;
    }
    if (!w->failed) {
        int moved = 0;
        if (sqlite3_file_control(w->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
            moved)
            fail(w, "the file was removed or renamed");
    }
    w->n_commits++;
    return !w->failed;
}

/* See trace_store.h. */
bool handle__store_commit(struct handle__store *w)
{
    return commit(w);
}

/* ---- set-up and end ----------------------------- */

/* Runs sql (several statements) or fails the start-up with its message. */
static bool exec_init(struct handle__store *w, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(w->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return true;
    snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(w->db));
    sqlite3_free(msg);
    return false;
}

/* Sets meta key to text value (NULL: SQL NULL) in the open transaction;
 * false on an SQLite error, reported by the caller. */
static bool meta_text(struct handle__store *w, const char *key, const char *value)
{
    sqlite3_stmt *st = w->st[HANDLE__ST_META];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (value)
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    return sqlite3_step(st) == SQLITE_DONE && sqlite3_reset(st) == SQLITE_OK;
}

/* Sets meta key to an integer, as meta_text(). */
static bool meta_int(struct handle__store *w, const char *key, int64_t value)
{
    sqlite3_stmt *st = w->st[HANDLE__ST_META];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value);
    return sqlite3_step(st) == SQLITE_DONE && sqlite3_reset(st) == SQLITE_OK;
}

/* Opens the file made by create_file(), switches it to WAL and writes the
 * schema and meta in one transaction. On failure the reason is in err and
 * the connection is closed. */
static bool db_init(struct handle__store *w, char *err, size_t errlen)
{
    int rc = sqlite3_open_v2(w->real, &w->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s",
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
                      "PRAGMA cache_size=-8192; PRAGMA wal_autocheckpoint=1024;", err, errlen))
        goto fail;
    if (!exec_init(w, "BEGIN", err, errlen) || !exec_init(w, handle__trace_schema_sql, err, errlen))
        goto fail;
    for (int i = 0; i < HANDLE__ST_COUNT; i++) {
        if (sqlite3_prepare_v3(w->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &w->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s", sqlite3_errmsg(w->db));
            goto fail;
        }
    }
    if (!meta_text(w, "format", "handle-trace") || !meta_int(w, "version", 1) ||
        !meta_text(w, "layout", HANDLE__TRACE_LAYOUT) || !meta_int(w, "pid", w->pid) || !meta_text(w, "exe", w->exe) ||
        !meta_text(w, "cmdline", w->cmdline) || !meta_int(w, "started_at", (int64_t)w->started_at) ||
        !meta_int(w, "flush_ms", w->flush_ms) ||
        !meta_int(w, "max_history", (int64_t)w->max_history) ||
        !meta_text(w, "boot_id", w->boot_id ? w->boot_id : "") ||
        !meta_int(w, "start_ticks", (int64_t)w->start_ticks) ||
        !meta_int(w, "last_commit_ns", (int64_t)unix_ns()) ||
        (w->suppressions && !meta_text(w, "suppressions", w->suppressions))) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(w->db));
        goto fail;
    }
    if (!exec_init(w, "COMMIT", err, errlen))
        goto fail;
    w->row_n = 0;
    if (!pend_resize(w, PEND_MIN_BITS) || !live_resize(w, LIVE_MIN_BITS)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return true;
fail:
    db_close(w);
    free_state(w);
    return false;
}

/* See trace_store.h: a checkpoint at the end, so that the .db alone is
 * complete. */
/* A set of the exit check's handles: open addressing over indexes into
 * live[] (0: empty, i + 1: live[i]). */
struct leakset {
    uint32_t *slot;
    unsigned bits;
    bool *seen; /* by index into live[] */
};

static bool leakset_build(struct leakset *ls, const struct handle__leak *live, size_t n)
{
    unsigned bits = 4;
    while (((size_t)1 << bits) < 2 * n)
        bits++;
    ls->bits = bits;
    ls->slot = calloc((size_t)1 << bits, sizeof *ls->slot);
    ls->seen = calloc(n ? n : 1, sizeof *ls->seen);
    if (!ls->slot || !ls->seen || n >= UINT32_MAX) {
        free(ls->slot);
        free(ls->seen);
        return false;
    }
    uint64_t mask = ((uint64_t)1 << bits) - 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t j = hash_slot(live[i].h, bits);
        while (ls->slot[j] && live[ls->slot[j] - 1].h != live[i].h)
            j = (j + 1) & mask;
        if (!ls->slot[j])
            ls->slot[j] = (uint32_t)i + 1;
        else
            ls->seen[i] = true; /* a duplicate: added once */
    }
    return true;
}

/* The index of h in live[], or -1. */
static int64_t leakset_find(const struct leakset *ls, const struct handle__leak *live, uint64_t h)
{
    uint64_t mask = ((uint64_t)1 << ls->bits) - 1;
    for (uint64_t j = hash_slot(h, ls->bits); ls->slot[j]; j = (j + 1) & mask)
        if (live[ls->slot[j] - 1].h == h)
            return ls->slot[j] - 1;
    return -1;
}

/* A `live` row the exit check did not see. */
struct gone {
    uint64_t h, created_ns;
    uint32_t tag, thread, stack;
};

/* Makes the `live` table exactly live[0..n): rows not in the set are
 * completed at ended_ns (no deleting thread or stack), handles of the set
 * not in the table are added. In the open transaction. */
static bool reconcile(struct handle__store *w, const struct handle__leak *live, size_t n,
                      uint64_t ended_ns)
{
    struct leakset ls;
    if (!leakset_build(&ls, live, n)) {
        fail(w, "out of memory");
        return false;
    }
    struct gone *g = NULL;
    size_t ng = 0, capg = 0;
    bool ok = false;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(w->db,
                           "SELECT handle, tag, created_ns, created_thread, created_stack "
                           "FROM live",
                           -1, &q, NULL) != SQLITE_OK) {
        fail_db(w);
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        uint64_t h = (uint64_t)sqlite3_column_int64(q, 0);
        int64_t i = leakset_find(&ls, live, h);
        if (i >= 0) {
            ls.seen[i] = true;
            continue;
        }
        if (ng == capg) {
            size_t nc = capg ? 2 * capg : 256;
            struct gone *ngp = realloc(g, nc * sizeof *ngp);
            if (!ngp) {
                fail(w, "out of memory");
                goto out;
            }
            g = ngp;
            capg = nc;
        }
        g[ng++] = (struct gone){h, (uint64_t)sqlite3_column_int64(q, 2),
                                (uint32_t)sqlite3_column_int64(q, 1),
                                (uint32_t)sqlite3_column_int64(q, 3),
                                (uint32_t)sqlite3_column_int64(q, 4)};
    }
    if (rc != SQLITE_DONE) {
        fail_db(w);
        goto out;
    }
    sqlite3_finalize(q);
    q = NULL;
    for (size_t k = 0; k < ng; k++) {
        sqlite3_stmt *st = w->st[HANDLE__ST_LIVE_DEL];
        sqlite3_bind_int64(st, 1, (int64_t)g[k].h);
        if (!run(w, st))
            goto out;
        struct handle__lifetime l = {g[k].h, g[k].created_ns,
                                     ended_ns > g[k].created_ns ? ended_ns : g[k].created_ns,
                                     g[k].tag, g[k].thread, g[k].stack,
                                     HANDLE__CODEC_NO_THREAD, 0};
        if (!row_add(w, &l))
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (ls.seen[i])
            continue;
        const struct handle__leak *e = &live[i];
        if (!need_tag(w, e->tag) || !need_thread(w, e->created_thread) ||
            !need_stack(w, e->created_stack) || !txn(w))
            goto out;
        sqlite3_stmt *st = w->st[HANDLE__ST_LIVE_INS];
        sqlite3_bind_int64(st, 1, (int64_t)e->h);
        bind_id(st, 2, e->tag);
        sqlite3_bind_int64(st, 3, (int64_t)e->created_ns);
        sqlite3_bind_int64(st, 4, e->created_thread);
        bind_id(st, 5, e->created_stack);
        if (!run(w, st))
            goto out;
    }
    ok = row_flush(w);
out:
    sqlite3_finalize(q);
    free(g);
    free(ls.slot);
    free(ls.seen);
    return ok;
}

/* ---- symbols ---------------------------------------------------------- */

/* The rows handle__trace_symbols queued (strings are offsets + 1 into
 * sym_text, 0 for NULL), written by handle__store_finish. */
struct sym_row {
    uint32_t module, idx;
    uint64_t offset;
    size_t function, file;
    int line, column;
    bool inlined;
};
#define SYM_MAX_ROWS (1u << 20)
#define SYM_MAX_TEXT ((size_t)64 << 20)
static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sym_row *sym_rows;
static size_t sym_n, sym_cap;
static char *sym_text;
static size_t sym_tlen, sym_tcap;

/* s copied into sym_text: its offset + 1, 0 for NULL or when full. */
static size_t sym_str(const char *s)
{
    if (s == NULL)
        return 0;
    size_t len = strlen(s) + 1;
    if (sym_tlen + len > SYM_MAX_TEXT)
        return 0;
    if (sym_tlen + len > sym_tcap) {
        size_t cap = sym_tcap ? sym_tcap : 65536;
        while (cap < sym_tlen + len)
            cap *= 2;
        char *t = realloc(sym_text, cap);
        if (t == NULL)
            return 0;
        sym_text = t;
        sym_tcap = cap;
    }
    memcpy(sym_text + sym_tlen, s, len);
    sym_tlen += len;
    return sym_tlen - len + 1;
}

void handle__trace_symbols(const struct handle__trace_symbol *v, size_t n)
{
    pthread_mutex_lock(&sym_lock);
    for (size_t i = 0; i < n && sym_n < SYM_MAX_ROWS; i++) {
        if (v[i].module == 0)
            continue;
        if (sym_n == sym_cap) {
            size_t cap = sym_cap ? 2 * sym_cap : 256;
            struct sym_row *r = realloc(sym_rows, cap * sizeof *r);
            if (r == NULL)
                break;
            sym_rows = r;
            sym_cap = cap;
        }
        sym_rows[sym_n++] = (struct sym_row){
            .module = v[i].module,
            .idx = v[i].idx,
            .offset = v[i].offset,
            .function = sym_str(v[i].function),
            .file = sym_str(v[i].file),
            .line = v[i].line,
            .column = v[i].column,
            .inlined = v[i].inlined,
        };
    }
    pthread_mutex_unlock(&sym_lock);
}

static void bind_sym_text(sqlite3_stmt *st, int i, size_t off)
{
    if (off)
        sqlite3_bind_text(st, i, sym_text + off - 1, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Writes the queued symbols in a transaction of their own (the trace is
 * complete without them: a failure here loses only them). */
static void write_symbols(struct handle__store *w)
{
    pthread_mutex_lock(&sym_lock);
    sqlite3_stmt *st = NULL;
    if (sym_n == 0 || w->failed || w->in_txn ||
        sqlite3_prepare_v2(w->db,
                           "INSERT OR IGNORE INTO symbols(module, offset, idx, function, file, "
                           "line, col, inlined) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (!txn(w))
        goto out;
    for (size_t i = 0; i < sym_n; i++) {
        const struct sym_row *r = &sym_rows[i];
        if (!need_module(w, r->module))
            goto out;
        sqlite3_bind_int64(st, 1, r->module);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)r->offset);
        sqlite3_bind_int64(st, 3, r->idx);
        bind_sym_text(st, 4, r->function);
        bind_sym_text(st, 5, r->file);
        bind_id(st, 6, (uint32_t)(r->line > 0 ? r->line : 0));
        bind_id(st, 7, (uint32_t)(r->column > 0 ? r->column : 0));
        sqlite3_bind_int(st, 8, r->inlined);
        if (!run(w, st))
            goto out;
    }
    if (run(w, w->st[HANDLE__ST_COMMIT]))
        w->in_txn = false;
out:
    if (st)
        sqlite3_finalize(st);
    /* Written (or not): forgotten, so that a fork child's trace does not
     * get its parent's. */
    free(sym_rows);
    free(sym_text);
    sym_rows = NULL;
    sym_text = NULL;
    sym_n = sym_cap = sym_tlen = sym_tcap = 0;
    pthread_mutex_unlock(&sym_lock);
}

void handle__store_finish(struct handle__store *w, int exit_status, uint64_t ended_at,
                          const struct handle__leak *live, size_t n)
{
    commit(w);
    if (w->failed)
        return;
    uint64_t ended_ns = ended_at > w->started_at ? ended_at - w->started_at : 0;
    if (!txn(w) || (live && !reconcile(w, live, n, ended_ns)) ||
        !meta_int(w, "ended_at", (int64_t)ended_at) ||
        !meta_int(w, "exit_status", exit_status)) {
        if (!w->failed)
            fail_db(w);
        return;
    }
    if (run(w, w->st[HANDLE__ST_COMMIT]))
        w->in_txn = false;
    write_symbols(w);
}

/* The writer's WAL hook once a checkpointer runs: counts the frames;
 * checkpoints on the writer's own connection only at HANDLE__CKPT_HARD. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct handle__store *w = arg;
    atomic_store_explicit(&w->wal_frames, (uint32_t)frames, memory_order_relaxed);
    if ((unsigned)frames >= HANDLE__CKPT_HARD) {
        w->n_ckpt_self++;
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    return SQLITE_OK;
}

bool handle__store_ckpt_open(struct handle__store *w, char *err, size_t errlen)
{
    if (w->failed || w->db == NULL) {
        snprintf(err, errlen, "the trace has failed");
        return false;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(w->real, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
                             NULL);
    /* The same file: the path could name another one by now (the
     * program renamed or replaced it); this trace's pid and start are in
     * its meta, committed by the writer's first transaction. */
    sqlite3_stmt *q = NULL;
    bool same = rc == SQLITE_OK &&
                sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) == SQLITE_OK &&
                sqlite3_prepare_v2(db,
                                   "SELECT (SELECT value FROM meta WHERE key = 'pid') = ?1 AND "
                                   "(SELECT value FROM meta WHERE key = 'started_at') = ?2",
                                   -1, &q, NULL) == SQLITE_OK;
    if (same) {
        sqlite3_bind_int64(q, 1, w->pid);
        sqlite3_bind_int64(q, 2, (int64_t)w->started_at);
        same = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 1;
    }
    sqlite3_finalize(q);
    if (!same) {
        snprintf(err, errlen, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return false;
    }
    w->ckdb = db;
    atomic_store(&w->wal_frames, 0);
    sqlite3_wal_hook(w->db, wal_hook, w); /* replaces the automatic checkpoint */
    return true;
}

void handle__store_ckpt_run(struct handle__store *w)
{
    if (w->ckdb)
        sqlite3_wal_checkpoint_v2(w->ckdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

void handle__store_ckpt_close(struct handle__store *w)
{
    if (w->ckdb == NULL)
        return;
    sqlite3_close(w->ckdb);
    w->ckdb = NULL;
    if (w->db)
        sqlite3_wal_autocheckpoint(w->db, (int)HANDLE__CKPT_EVERY);
}

void handle__store_checkpoint_close(struct handle__store *w)
{
    if (!w->failed && w->db)
        sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    db_close(w);
    free_state(w);
}

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

/* ---- life ------------------------------------------------------------ */

/* A copy of s, or NULL for NULL; *ok cleared when out of memory. */
static char *dup_or_null(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

bool handle__store_config(struct handle__store *s, const char *path, const char *exe,
                          const char *cmdline, const char *boot_id)
{
    bool ok = true;
    s->path = dup_or_null(path, &ok);
    s->exe = dup_or_null(exe, &ok);
    s->cmdline = dup_or_null(cmdline, &ok);
    s->boot_id = dup_or_null(boot_id, &ok);
    return ok && s->path;
}

/* Reads up to cap - 1 bytes of a small file (in /proc); "" on error. */
static void read_small(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
}

/* What identifies this process image beside its pid, when the caller did
 * not say: the boot and the process's start time (/proc/self/stat field
 * 22, after the parenthesized name). */
static void fill_identity(struct handle__store *s)
{
    char buf[1024];
    if (!s->boot_id || !s->boot_id[0]) {
        read_small("/proc/sys/kernel/random/boot_id", buf, 64);
        buf[strcspn(buf, "\n")] = '\0';
        free(s->boot_id);
        s->boot_id = strdup(buf);
    }
    if (!s->start_ticks) {
        read_small("/proc/self/stat", buf, sizeof buf);
        const char *p = strrchr(buf, ')');
        for (int field = 2; p && *p && field < 22; p++)
            if (*p == ' ')
                field++;
        if (p && *p)
            s->start_ticks = strtoull(p, NULL, 10);
    }
}

/* Whether the file at path is a trace of an earlier image of this process
 * (exec keeps the pid): same pid, boot_id and start_ticks in its meta. */
static bool earlier_image(const struct handle__store *s, const char *path)
{
    if (!s->start_ticks || !s->boot_id || !s->boot_id[0])
        return false;
    sqlite3 *db = NULL;
    bool same = false;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) ==
        SQLITE_OK) {
        sqlite3_busy_timeout(db, 500);
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(db,
                               "SELECT (SELECT value FROM meta WHERE key = 'pid') = ?1 AND "
                               "(SELECT value FROM meta WHERE key = 'boot_id') = ?2 AND "
                               "(SELECT value FROM meta WHERE key = 'start_ticks') = ?3",
                               -1, &q, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(q, 1, s->pid);
            sqlite3_bind_text(q, 2, s->boot_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 3, (int64_t)s->start_ticks);
            same = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 1;
        }
        sqlite3_finalize(q);
    }
    sqlite3_close_v2(db);
    return same;
}

/* SPEC section 5: no symbolic link at the path itself, but the directory
 * part may hold links (/var/run -> /run). SQLite's NOFOLLOW refuses a link
 * anywhere, so it is given the directory resolved with realpath() and the
 * last component as it is (which create_file() and NOFOLLOW still refuse
 * to follow). Sets s->real; false with a reason in err. */
static bool resolve_dir(struct handle__store *s, char *err, size_t errlen)
{
    const char *slash = strrchr(s->path, '/');
    const char *base = slash ? slash + 1 : s->path;
    size_t dlen = slash ? (size_t)(slash - s->path) : 0;
    char dir[PATH_MAX + 1], real[PATH_MAX];
    if (!*base) {
        snprintf(err, errlen, "is a directory");
        return false;
    }
    if (dlen >= sizeof dir) {
        snprintf(err, errlen, "File name too long");
        return false;
    }
    if (slash && dlen == 0) {
        dir[0] = '/';
        dir[1] = '\0';
    } else if (slash) {
        memcpy(dir, s->path, dlen);
        dir[dlen] = '\0';
    } else {
        dir[0] = '.';
        dir[1] = '\0';
    }
    if (!realpath(dir, real)) {
        char tmp[128];
        snprintf(err, errlen, "%s", strerror_r(errno, tmp, sizeof tmp));
        return false;
    }
    size_t rl = strlen(real), bl = strlen(base);
    if (rl + 1 + bl + 16 > PATH_MAX) {
        snprintf(err, errlen, "File name too long");
        return false;
    }
    free(s->real);
    s->real = malloc(rl + 1 + bl + 1);
    if (!s->real) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    memcpy(s->real, real, rl);
    if (!rl || real[rl - 1] != '/')
        s->real[rl++] = '/';
    memcpy(s->real + rl, base, bl + 1);
    return true;
}

/* path with ".n" appended (n > 1), malloc'd; NULL if out of memory. */
static char *numbered(const char *path, unsigned n)
{
    size_t len = strlen(path) + 16;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s.%u", path, n);
    return p;
}

/* The last trace file this image created: a trace of this image, not of an
 * earlier one (a process that opens a trace again at the same path replaces
 * its own). Touched by the writer thread only, one at a time (open). */
static struct {
    bool set;
    dev_t dev;
    ino_t ino;
} made;

/* SPEC section 4: the trace never replaces the trace of an earlier image
 * of this process: the path gets ".<n>" (2, 3, ...), the first that is
 * free or not ours. Updates s->path and s->real. */
static bool choose_path(struct handle__store *s, char *err, size_t errlen)
{
    struct stat st;
    for (unsigned n = 1; n <= 1000; n++) {
        char *real = n > 1 ? numbered(s->real, n) : s->real;
        if (!real) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        if (lstat(real, &st) != 0 || !S_ISREG(st.st_mode) ||
            (made.set && st.st_dev == made.dev && st.st_ino == made.ino) ||
            !earlier_image(s, real)) {
            if (n > 1) {
                char *disp = numbered(s->path, n);
                if (!disp) {
                    free(real);
                    snprintf(err, errlen, "out of memory");
                    return false;
                }
                free(s->path);
                free(s->real);
                s->path = disp;
                s->real = real;
            }
            return true;
        }
        if (n > 1)
            free(real);
    }
    snprintf(err, errlen, "too many traces of earlier images of this process");
    return false;
}

bool handle__store_open(struct handle__store *s, char *err, size_t errlen)
{
    fill_identity(s);
    if (!resolve_dir(s, err, errlen) || !choose_path(s, err, errlen))
        return false;
    if (!create_file(s->real, err, errlen))
        return false;
    struct stat st;
    if (stat(s->real, &st) == 0) {
        made.set = true;
        made.dev = st.st_dev;
        made.ino = st.st_ino;
    }
    if (!db_init(s, err, errlen)) {
        remove_files(s->real);
        return false;
    }
    return true;
}

void handle__store_free(struct handle__store *s)
{
    db_close(s);
    free_state(s);
    free(s->path);
    free(s->real);
    free(s->exe);
    free(s->cmdline);
    free(s->boot_id);
    free(s->suppressions);
    s->path = s->real = s->exe = s->cmdline = s->boot_id = s->suppressions = NULL;
}
