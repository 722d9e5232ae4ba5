/*
 * test_trace.c - unit tests of the trace writer (lib/debug/trace.c) over the
 * synthetic model of trace_stubs.c. Each test opens a trace in a temporary
 * directory, queues events through the API of trace.h and checks the
 * database with SQL: exact row counts in handles, leaks, errors, stacks,
 * modules, threads and tags; field values; meta; the file's mode; refusal
 * of symbolic links and unwritable directories; max_history; four
 * concurrent producers; fork; writer failures; and kill -9 consistency.
 * test_trace_measure prints (never asserts) the writer's cost per lifetime
 * and the trace's bytes per lifetime. It does not test the debug entry
 * points that call trace.h; the integration tests do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dlfcn.h>
#include <sqlite3.h>

#include "debug/model.h"
#include "debug/trace.h"

/* The test reads traces with its own SQLite, the system's libsqlite3.so.0
 * loaded with dlopen(RTLD_LOCAL), never the copy linked in for the writer:
 * as in a real host, whose SQLite is not the debug library's. (One SQLite
 * shares descriptors and POSIX locks between the connections of a process
 * to one file, and the writer's descriptors live in its own table.) */
static struct {
    int (*open_v2)(const char *, sqlite3 **, int, const char *);
    int (*busy_timeout)(sqlite3 *, int);
    int (*prepare_v2)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
    int (*step)(sqlite3_stmt *);
    int (*column_type)(sqlite3_stmt *, int);
    sqlite3_int64 (*column_int64)(sqlite3_stmt *, int);
    const unsigned char *(*column_text)(sqlite3_stmt *, int);
    int (*finalize)(sqlite3_stmt *);
    const char *(*errmsg)(sqlite3 *);
    int (*close)(sqlite3 *);
} tq;

static bool tq_load(void)
{
    void *lib = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return false;
#define TQ(f) (*(void **)&tq.f = dlsym(lib, "sqlite3_" #f)) != NULL
    return TQ(open_v2) && TQ(busy_timeout) && TQ(prepare_v2) && TQ(step) && TQ(column_type) &&
           TQ(column_int64) && TQ(column_text) && TQ(finalize) && TQ(errmsg) && TQ(close);
#undef TQ
}

#define sqlite3_open_v2 tq.open_v2
#define sqlite3_busy_timeout tq.busy_timeout
#define sqlite3_prepare_v2 tq.prepare_v2
#define sqlite3_step tq.step
#define sqlite3_column_type tq.column_type
#define sqlite3_column_int64 tq.column_int64
#define sqlite3_column_text tq.column_text
#define sqlite3_finalize tq.finalize
#define sqlite3_errmsg tq.errmsg
#define sqlite3_close tq.close

#if defined(__SANITIZE_THREAD__)
#define TRACE_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TRACE_TEST_TSAN 1
#endif
#endif
#ifndef TRACE_TEST_TSAN
#define TRACE_TEST_TSAN 0
#endif

#define H(gen, idx) (((handle_t)(gen) << 32) | (handle_t)(idx))

static char tmpdir[256];

/* ---- helpers --------------------------------------------------------- */

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* tmpdir/name */
static void path_in(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static struct handle__trace_config config(const char *path, uint32_t flush_ms,
                                          uint64_t max_history)
{
    struct handle__trace_config c = {
        .path = path,
        .flush_ms = flush_ms,
        .max_history = max_history,
        .pid = getpid(),
        .exe = "/usr/bin/test_trace",
        .cmdline = "test_trace --flag 'x y'",
        .started_at = handle__start_unix_ns(),
    };
    return c;
}

static void open_ok(const char *path, uint32_t flush_ms, uint64_t max_history)
{
    struct handle__trace_config c = config(path, flush_ms, max_history);
    char err[256] = "";
    bool ok = handle__trace_open(&c, err, sizeof err);
    if (!ok)
        fprintf(stderr, "open %s: %s\n", path, err);
    assert_true(ok);
    assert_true(handle__trace_is_open());
}

static sqlite3 *db_open(const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The first column of the first row of the query, as an integer (-1 for
 * no row, -2 for NULL). */
static int64_t q_int(sqlite3 *db, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    assert_int_equal(rc, SQLITE_OK);
    int64_t v = -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
    sqlite3_finalize(st);
    return v;
}

/* The first column of the first row as text (caller frees; NULL for no row
 * or NULL). */
static char *q_text(sqlite3 *db, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    char *v = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

static void assert_integrity(sqlite3 *db)
{
    char *s = q_text(db, "PRAGMA integrity_check");
    assert_non_null(s);
    assert_string_equal(s, "ok");
    free(s);
}

/* The ids a test referred to, to compute the reference rows it expects. */
struct refs {
    uint8_t stacks[4097];
    uint8_t threads[256];
    uint8_t tags[17];
};

static void ref_new(struct refs *r, uint32_t tag, uint32_t thr, uint32_t stk)
{
    r->tags[tag] = 1;
    r->threads[thr] = 1;
    r->stacks[stk] = 1;
}

/* Checks stacks/modules/threads/tags hold exactly the referenced rows. */
static void assert_refs(sqlite3 *db, const struct refs *r)
{
    int64_t frames = 0, stacks = 0, threads = 0, tags = 0, modules = 0;
    uint8_t mods[16] = {0};
    for (uint32_t id = 1; id <= 4096; id++) {
        struct handle__stack s;
        if (!r->stacks[id] || !handle__depot_get(id, &s))
            continue;
        stacks++;
        frames += s.depth;
        for (uint32_t k = 0; k < s.depth; k++)
            if (s.modules[k] && !mods[s.modules[k]]++)
                modules++;
    }
    for (uint32_t t = 0; t < 256; t++)
        threads += r->threads[t];
    for (uint32_t t = 1; t <= 16; t++)
        tags += r->tags[t];
    assert_int_equal(q_int(db, "SELECT count(*) FROM stacks"), frames);
    assert_int_equal(q_int(db, "SELECT count(DISTINCT id) FROM stacks"), stacks);
    assert_int_equal(q_int(db, "SELECT count(*) FROM modules"), modules);
    assert_int_equal(q_int(db, "SELECT count(*) FROM threads"), threads);
    assert_int_equal(q_int(db, "SELECT count(*) FROM tags"), tags);
    /* every frame's module is there, and can be symbolized */
    assert_int_equal(q_int(db, "SELECT count(*) FROM frames WHERE module IS NOT NULL AND path "
                               "IS NULL"),
                     0);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int group_setup(void **state)
{
    (void)state;
    if (!tq_load()) {
        fprintf(stderr, "cannot load libsqlite3.so.0: %s\n", dlerror());
        return -1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_trace.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    chmod(tmpdir, 0755);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (!getenv("TRACE_TEST_KEEP"))
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- tests ----------------------------------------------------------- */

/* The file is 0600 whatever the umask, holds the whole schema and meta,
 * and after a clean close the .db alone is complete (no -wal left). */
static void test_trace_schema_meta_and_mode(void **state)
{
    (void)state;
    char path[300], wal[310];
    path_in(path, sizeof path, "schema.db");
    snprintf(wal, sizeof wal, "%s-wal", path);
    mode_t old = umask(0);
    open_ok(path, 100, 0);
    umask(old);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    handle__trace_close(7, 1234567890123456789ull, NULL, 0);
    assert_false(handle__trace_is_open());
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_true(stat(wal, &st) != 0 || st.st_size == 0);

    sqlite3 *db = db_open(path);
    assert_integrity(db);
    char *s = q_text(db, "PRAGMA journal_mode");
    assert_string_equal(s, "wal");
    free(s);
    s = q_text(db, "SELECT value FROM meta WHERE key = 'format'");
    assert_string_equal(s, "handle-trace");
    free(s);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'version'"), 1);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'pid'"), getpid());
    s = q_text(db, "SELECT value FROM meta WHERE key = 'exe'");
    assert_string_equal(s, "/usr/bin/test_trace");
    free(s);
    s = q_text(db, "SELECT value FROM meta WHERE key = 'cmdline'");
    assert_string_equal(s, "test_trace --flag 'x y'");
    free(s);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'started_at'"),
                     (int64_t)handle__start_unix_ns());
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'ended_at'"),
                     1234567890123456789ll);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'exit_status'"), 7);
    for (const char *const *t = (const char *const[]){"meta", "handles", "leaks", "errors",
                                                      "stacks", "modules", "threads", "tags",
                                                      NULL};
         *t; t++)
        assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = '%s'", *t),
                         1);
    /* the columns of SPEC section 5 */
    assert_int_equal(q_int(db, "SELECT count(handle) + count(tag) + count(created_ns) + "
                               "count(created_thread) + count(created_stack) + count(deleted_ns) "
                               "+ count(deleted_thread) + count(deleted_stack) FROM handles"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 0);
    assert_int_equal(q_int(db, "SELECT count(kind) + count(handle) + count(at_ns) + count(thread) "
                               "+ count(stack) + count(message) + count(tag) + "
                               "count(created_thread) + count(created_stack) + "
                               "count(deleted_thread) + count(deleted_stack) FROM errors"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(id) + count(depth) + count(pc) + count(module) "
                               "FROM stacks"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(id) + count(path) + count(build_id) + count(bias) "
                               "+ count(lo) + count(hi) + count(loaded_ns) + count(unloaded_ns) "
                               "FROM modules"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(id) + count(tid) + count(name) + count(first_ns) "
                               "FROM threads"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(id) + count(name) FROM tags"), 0);
    /* counting leaks never reads the completed lifetimes, so it takes
     * milliseconds however many the trace holds (timed in measure) */
    sqlite3_stmt *plan = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT count(*) FROM leaks", -1,
                                        &plan, NULL),
                     SQLITE_OK);
    int plan_rows = 0;
    while (sqlite3_step(plan) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(plan, 3);
        assert_null(strstr(detail, "batches"));
        plan_rows++;
    }
    sqlite3_finalize(plan);
    assert_true(plan_rows > 0);
    sqlite3_close(db);
    /* close is idempotent; events after close are ignored */
    handle__trace_close(8, 1, NULL, 0);
    handle__trace_new(H(1, 1), 0, 1, 0, 1);
    handle__trace_sync();
}

/* Short lifetimes (one batch), long ones crossing commits, deletes of
 * handles committed as live, errors; exact rows and values. */
static void test_trace_lifetimes_and_errors(void **state)
{
    (void)state;
    char path[300];
    path_in(path, sizeof path, "lifetimes.db");
    struct refs r = {0};
    open_ok(path, 50, 0);

    /* A: 100 short lifetimes, each NEW and DELETE in the same batch */
    for (uint32_t i = 1; i <= 100; i++) {
        uint32_t tag = i % 3, cthr = i % 4, dthr = i % 5 == 0 ? 7 : cthr;
        handle__trace_new(H(1, i), tag, 1000u * i, cthr, i);
        handle__trace_delete(H(1, i), tag, 1000u * i, cthr, i, 1000u * i + 500 + i, dthr,
                             1000 + i);
        ref_new(&r, tag, cthr, i);
        ref_new(&r, tag, dthr, 1000 + i);
    }
    handle__trace_sync();
    /* B: 50 handles committed as live */
    for (uint32_t i = 0; i < 50; i++) {
        handle__trace_new(H(2, 1000 + i), 3, 1000000000u + i, 1, 2000 + i);
        ref_new(&r, 3, 1, 2000 + i);
    }
    handle__trace_sync();
    sqlite3 *db = db_open(path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 50);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), 150);
    sqlite3_close(db);
    /* what a user sees with the sqlite3 shell while the program runs */
    if (access("/usr/bin/sqlite3", X_OK) == 0) {
        char cmd[400], out[64] = "";
        snprintf(cmd, sizeof cmd, "/usr/bin/sqlite3 '%s' 'select count(*) from leaks' 2>&1", path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(out, sizeof out, p));
        pclose(p);
        assert_string_equal(out, "50\n");
    }
    /* C: 30 of them deleted; 10 new ones stay live; 5 short ones with
     * extreme generations */
    for (uint32_t i = 0; i < 30; i++) {
        handle__trace_delete(H(2, 1000 + i), 3, 1000000000u + i, 1, 2000 + i, 2000000000u + i, 2,
                             3000 + i);
        ref_new(&r, 3, 2, 3000 + i);
    }
    for (uint32_t i = 0; i < 10; i++) {
        handle__trace_new(H(3, 5000 + i), 0, 2100000000u + i, 5, 2500 + i);
        ref_new(&r, 0, 5, 2500 + i);
    }
    const handle_t odd[5] = {H(0x7fffffffu, 0xffffffffu), H(0xfffffffeu, 1), H(0xffffffffu, 2),
                             H(0x80000000u, 3), H(1, 0xffffffffu)};
    for (uint32_t i = 0; i < 5; i++) {
        handle__trace_new(odd[i], 16, 2200000000u, 5, 2600 + i);
        handle__trace_delete(odd[i], 16, 2200000000u, 5, 2600 + i, 2200000100u, 5, 2700 + i);
        ref_new(&r, 16, 5, 2600 + i);
        ref_new(&r, 16, 5, 2700 + i);
    }
    /* errors: one with its handle's history, one with none */
    struct handle__trace_error e1 = {
        .kind = "double-delete", .handle = H(2, 1000), .at_ns = 3000000000u,
        .thread = 2, .stack = 4000, .message = "==1==ERROR: boom\nline 2\n",
        .tag = 3, .created_thread = 1, .created_stack = 2000,
        .deleted_thread = 2, .deleted_stack = 3000,
    };
    handle__trace_error(&e1);
    ref_new(&r, 3, 2, 4000);
    /* handle__trace_error returned: the row is committed */
    db = db_open(path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM errors"), 1);
    sqlite3_close(db);
    struct handle__trace_error e2 = {
        .kind = "invalid-handle", .handle = 0, .at_ns = 3000000001u, .thread = 0,
        .stack = 4001, .message = "bad",
    };
    handle__trace_error(&e2);
    ref_new(&r, 0, 0, 4001);
    handle__trace_close(23, 99, NULL, 0);

    db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), 165);
    assert_int_equal(q_int(db, "SELECT count(DISTINCT handle) FROM handles"), 165);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 30);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE deleted_ns IS NULL"), 30);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE deleted_ns IS NOT NULL AND "
                               "(deleted_thread IS NULL OR deleted_stack IS NULL)"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE deleted_ns IS NULL AND "
                               "(deleted_thread IS NOT NULL OR deleted_stack IS NOT NULL)"),
                     0);
    /* one short lifetime, field by field */
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE handle = %lld AND tag = 'tag1' "
                               "AND created_ns = 7000 AND created_thread = 3 AND created_stack = 7 "
                               "AND deleted_ns = 7507 AND deleted_thread = 3 AND deleted_stack = "
                               "1007",
                               (long long)H(1, 7)),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE handle = %lld AND tag = 'tag1' "
                               "AND deleted_thread = 7 AND created_thread = 2",
                               (long long)H(1, 10)),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE handle = %lld AND tag IS NULL",
                               (long long)H(1, 3)),
                     1);
    /* a lifetime that crossed a commit */
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE handle = %lld AND tag = 'tag3' "
                               "AND created_ns = 1000000005 AND created_thread = 1 AND "
                               "created_stack = 2005 AND deleted_ns = 2000000005 AND "
                               "deleted_thread = 2 AND deleted_stack = 3005",
                               (long long)H(2, 1005)),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks WHERE handle = %lld AND tag = 'tag3' "
                               "AND created_ns = 1000000040 AND created_thread = 1 AND "
                               "created_stack = 2040 AND deleted_ns IS NULL",
                               (long long)H(2, 1040)),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks WHERE handle = %lld AND tag IS NULL "
                               "AND created_thread = 5 AND created_stack = 2509",
                               (long long)H(3, 5009)),
                     1);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE handle = %lld AND tag = "
                                   "'tag16' AND deleted_ns - created_ns = 100",
                                   (long long)odd[i]),
                         1);
    /* errors */
    assert_int_equal(q_int(db, "SELECT count(*) FROM errors"), 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM errors WHERE kind = 'double-delete' AND "
                               "handle = %lld AND at_ns = 3000000000 AND thread = 2 AND stack = "
                               "4000 AND message = '==1==ERROR: boom' || char(10) || 'line 2' || "
                               "char(10) AND tag = 'tag3' AND created_thread = 1 AND created_stack "
                               "= 2000 AND deleted_thread = 2 AND deleted_stack = 3000",
                               (long long)H(2, 1000)),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM errors WHERE kind = 'invalid-handle' AND "
                               "handle = 0 AND thread = 0 AND stack = 4001 AND message = 'bad' AND "
                               "tag IS NULL AND created_thread IS NULL AND created_stack IS NULL "
                               "AND deleted_thread IS NULL AND deleted_stack IS NULL"),
                     1);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'exit_status'"), 23);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'ended_at'"), 99);
    assert_refs(db, &r);
    /* frames carry what symbolizing needs */
    assert_int_equal(q_int(db, "SELECT count(*) FROM frames WHERE stack = 7 AND depth = 3 AND pc = "
                               "%lld AND module = 2 AND path = '/stub/libmod2.so' AND offset = "
                               "%lld",
                               (long long)(0x400000 + 7 * 0x100 + 24),
                               (long long)(0x400000 + 7 * 0x100 + 24 - (2ll << 28))),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM stacks WHERE id = 7 AND depth = 0 AND module "
                               "IS NULL"),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM threads WHERE id = 5 AND tid = 10005 AND "
                               "name = 'stub-5'"),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM modules WHERE id = 3 AND build_id = '' AND "
                               "bias = %lld",
                               (long long)(3ll << 28)),
                     1);
    sqlite3_close(db);
}

/* A symbolic link at the path is refused and left alone, as is its
 * target. */
static void test_trace_symlink_refused(void **state)
{
    (void)state;
    char path[300], target[300];
    path_in(path, sizeof path, "link.db");
    path_in(target, sizeof target, "target.txt");
    FILE *f = fopen(target, "w");
    assert_non_null(f);
    fputs("precious", f);
    fclose(f);
    assert_int_equal(symlink(target, path), 0);
    struct handle__trace_config c = config(path, 100, 0);
    char err[256] = "";
    assert_false(handle__trace_open(&c, err, sizeof err));
    assert_false(handle__trace_is_open());
    assert_string_equal(err, "is a symbolic link");
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_size, 8);
    /* a dangling link too */
    unlink(target);
    assert_false(handle__trace_open(&c, err, sizeof err));
    assert_int_equal(access(target, F_OK), -1);
    /* events while no trace is open are ignored, never block */
    for (int i = 0; i < 200000; i++)
        handle__trace_new(H(1, i + 1), 0, 0, 0, 1);
    handle__trace_sync();
}

/* Case 14 (issue 11): a symbolic link in a directory above the file (as
 * /var/run -> /run) is followed; only a link at the path itself is
 * refused. The trace's files land in the link's target directory. */
static void test_trace_symlinked_directory(void **state)
{
    (void)state;
    char real[300], link[300], path[320], inreal[320];
    path_in(real, sizeof real, "realdir");
    path_in(link, sizeof link, "linkdir");
    assert_int_equal(mkdir(real, 0755), 0);
    assert_int_equal(symlink("realdir", link), 0);
    snprintf(path, sizeof path, "%s/x.db", link);
    snprintf(inreal, sizeof inreal, "%s/x.db", real);
    open_ok(path, 10, 0);
    assert_string_equal(handle__trace_path(), path);
    handle__trace_new(H(1, 1), 0, 1, 0, 1);
    handle__trace_close(0, 1, NULL, 0);
    struct stat st;
    assert_int_equal(lstat(inreal, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 1);
    sqlite3_close(db);
    /* a link at the path itself, below a linked directory: refused */
    char target[320], atpath[320];
    snprintf(target, sizeof target, "%s/target.txt", real);
    snprintf(atpath, sizeof atpath, "%s/y.db", link);
    FILE *f = fopen(target, "w");
    fputs("keep", f);
    fclose(f);
    assert_int_equal(symlink("target.txt", atpath), 0);
    struct handle__trace_config c = config(atpath, 10, 0);
    char err[256] = "";
    assert_false(handle__trace_open(&c, err, sizeof err));
    assert_string_equal(err, "is a symbolic link");
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_size, 4);
}

/* A regular file at the path is replaced, and stale -wal/-shm files of the
 * old database are removed, not replayed. */
static void test_trace_replaces_file_and_stale_wal(void **state)
{
    (void)state;
    char path[300], side[310];
    path_in(path, sizeof path, "replace.db");
    /* a real old trace, killed before it could checkpoint: its WAL must not
     * be applied to the new file */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        handle__trace_forget();
        struct handle__trace_config c = config(path, 10, 0);
        char err[256];
        if (!handle__trace_open(&c, err, sizeof err))
            _exit(1);
        for (uint32_t i = 1; i <= 5000; i++)
            handle__trace_new(H(9, i), 1, i, 0, 1);
        handle__trace_sync();
        kill(getpid(), SIGKILL);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    snprintf(side, sizeof side, "%s-wal", path);
    assert_int_equal(access(side, F_OK), 0);
    chmod(path, 0644);
    open_ok(path, 100, 0);
    handle__trace_new(H(1, 1), 0, 1, 0, 1);
    handle__trace_close(0, 1, NULL, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 1);
    sqlite3_close(db);
    /* junk side files */
    FILE *f = fopen(side, "w");
    fputs("junk junk junk", f);
    fclose(f);
    snprintf(side, sizeof side, "%s-shm", path);
    f = fopen(side, "w");
    fputs("junk", f);
    fclose(f);
    open_ok(path, 100, 0);
    handle__trace_close(0, 1, NULL, 0);
    db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), 0);
    sqlite3_close(db);
}

/* An unwritable directory (or a missing one) gives false and a reason;
 * nothing is left behind. Run as an unprivileged user when we are root. */
static void test_trace_unwritable_directory(void **state)
{
    (void)state;
    char dir[300], path[320];
    path_in(dir, sizeof dir, "ro");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/t.db", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        handle__trace_forget();
        if (getuid() == 0 && setresuid(65534, 65534, 65534) != 0)
            _exit(3);
        if (getuid() != 0)
            chmod(dir, 0555); /* as its owner; root already lost access */
        struct handle__trace_config c = config(path, 100, 0);
        char err[256] = "";
        if (handle__trace_open(&c, err, sizeof err))
            _exit(1);
        if (strcmp(err, "Permission denied") != 0 || handle__trace_is_open())
            _exit(2);
        handle__trace_new(H(1, 1), 0, 1, 0, 1); /* the checks go on */
        handle__trace_sync();
        _exit(access(path, F_OK) == 0 ? 4 : 0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    chmod(dir, 0755);
    /* a directory that does not exist */
    snprintf(path, sizeof path, "%s/missing/t.db", tmpdir);
    struct handle__trace_config c = config(path, 100, 0);
    char err[256] = "";
    assert_false(handle__trace_open(&c, err, sizeof err));
    assert_string_equal(err, "No such file or directory");
    assert_false(handle__trace_is_open());
}

/* max_history keeps exactly the newest N completed lifetimes, all live
 * handles and all errors; storage stays bounded. */
static void test_trace_max_history(void **state)
{
    (void)state;
    char path[300];
    path_in(path, sizeof path, "history.db");
    open_ok(path, 20, 1000);
    for (uint32_t i = 1; i <= 5; i++)
        handle__trace_new(H(9, i), 1, i, 0, 1);
    struct handle__trace_error e = {.kind = "use-after-delete", .handle = H(8, 1), .stack = 2,
                                    .message = "m"};
    handle__trace_error(&e);
    for (uint32_t i = 1; i <= 10000; i++) {
        handle__trace_new(H(1, i), 2, 1000u * i, 1, 3);
        handle__trace_delete(H(1, i), 2, 1000u * i, 1, 3, 1000u * i + 10, 1, 4);
        if (i % 700 == 0)
            handle__trace_sync();
        if (i == 5000) {
            sqlite3 *db = db_open(path);
            assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE deleted_ns IS NOT "
                                       "NULL"),
                             1000);
            sqlite3_close(db);
        }
    }
    handle__trace_close(0, 1, NULL, 0);
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), 1005);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 5);
    assert_int_equal(q_int(db, "SELECT count(*) FROM errors"), 1);
    assert_int_equal(q_int(db, "SELECT min(handle & 4294967295) FROM handles WHERE deleted_ns IS "
                               "NOT NULL"),
                     9001);
    assert_int_equal(q_int(db, "SELECT max(handle & 4294967295) FROM handles WHERE deleted_ns IS "
                               "NOT NULL"),
                     10000);
    assert_int_equal(q_int(db, "SELECT count(DISTINCT handle) FROM handles"), 1005);
    /* whole rows dropped, the oldest row's first slots emptied: no row
     * without a lifetime, and few more rows than 1000 / 8 (a commit ends
     * a row early) */
    assert_int_equal(q_int(db, "SELECT count(*) FROM lifetimes WHERE "
                               "coalesce(h0, h1, h2, h3, h4, h5, h6, h7) IS NULL"),
                     0);
    assert_true(q_int(db, "SELECT count(*) FROM lifetimes") <= 1000 / 8 + 40);
    sqlite3_close(db);
}

struct producer {
    uint32_t t;
    uint32_t n, window, keep;
};

/* One producer thread of test_trace_four_threads: n lifetimes, at most
 * window outstanding, the last keep left live. */
static void *produce(void *arg)
{
    struct producer *p = arg;
    uint32_t gen = p->t + 1, thr = p->t + 1;
    for (uint32_t i = 0; i < p->n; i++) {
        handle__trace_new(H(gen, i + 1), gen, 10ull * i, thr, 1 + i % 50 + p->t * 50);
        if (i >= p->window) {
            uint32_t j = i - p->window;
            handle__trace_delete(H(gen, j + 1), gen, 10ull * j, thr, 1 + j % 50 + p->t * 50,
                                 10ull * i + 5, (thr + j) % 8, 1000 + j % 30);
        }
        if (i % 10000 == 9999)
            handle__trace_sync();
    }
    for (uint32_t j = p->n - p->window; j < p->n - p->keep; j++)
        handle__trace_delete(H(gen, j + 1), gen, 10ull * j, thr, 1 + j % 50 + p->t * 50,
                             10ull * p->n + j, (thr + j) % 8, 1000 + j % 30);
    return NULL;
}

/* 200k lifetimes from 4 threads, with commits in between and a full ring:
 * exact rows. */
static void test_trace_four_threads(void **state)
{
    (void)state;
    char path[300];
    path_in(path, sizeof path, "threads.db");
    open_ok(path, 5, 0);
    pthread_t th[4];
    struct producer p[4];
    for (uint32_t t = 0; t < 4; t++) {
        p[t] = (struct producer){t, 50000, 100, 16};
        assert_int_equal(pthread_create(&th[t], NULL, produce, &p[t]), 0);
    }
    for (uint32_t t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    handle__trace_close(0, 1, NULL, 0);
    struct refs r = {0};
    for (uint32_t t = 0; t < 4; t++) {
        r.tags[t + 1] = r.threads[t + 1] = 1;
        for (uint32_t s = 1; s <= 50; s++)
            r.stacks[s + t * 50] = 1;
    }
    for (uint32_t s = 0; s < 30; s++)
        r.stacks[1000 + s] = 1;
    for (uint32_t i = 0; i < 8; i++)
        r.threads[i] = 1;
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), 200000);
    assert_int_equal(q_int(db, "SELECT count(DISTINCT handle) FROM handles"), 200000);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 64);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE deleted_ns < created_ns"), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks WHERE (handle & 4294967295) <= 49984"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE tag <> 'tag' || (handle >> "
                               "32)"),
                     0);
    assert_refs(db, &r);
    sqlite3_close(db);
}

/* Module rows gain their unload time when the model notices it. */
static void test_trace_module_unload_updated(void **state)
{
    (void)state;
    char path[300];
    path_in(path, sizeof path, "modules.db");
    struct handle__module *m = (struct handle__module *)handle__module_get(2);
    assert_non_null(m);
    open_ok(path, 100, 0);
    handle__trace_new(H(1, 1), 0, 1, 0, 1); /* stack 1: modules 2, 3 */
    handle__trace_sync();
    atomic_store(&m->unloaded_ns, 4242);
    handle__trace_sync();
    handle__trace_close(0, 1, NULL, 0);
    atomic_store(&m->unloaded_ns, 0);
    sqlite3 *db = db_open(path);
    assert_int_equal(q_int(db, "SELECT unloaded_ns FROM modules WHERE id = 2"), 4242);
    assert_int_equal(q_int(db, "SELECT unloaded_ns FROM modules WHERE id = 3"), -2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM modules"), 2);
    sqlite3_close(db);
}

static atomic_bool hammer_stop;

static void *hammer(void *arg)
{
    uint32_t gen = (uint32_t)(uintptr_t)arg, i = 0;
    while (!atomic_load(&hammer_stop)) {
        i++;
        handle__trace_new(H(gen, i), 0, i, 0, 1);
        handle__trace_delete(H(gen, i), 0, i, 0, 1, i + 1, 0, 2);
        if (i % 50000 == 0)
            handle__trace_sync();
    }
    return NULL;
}

/* close() from one thread while others keep queueing: it returns, they
 * never block, the file is complete. */
static void test_trace_close_while_producing(void **state)
{
    (void)state;
    char path[300];
    path_in(path, sizeof path, "busyclose.db");
    open_ok(path, 100, 0);
    atomic_store(&hammer_stop, false);
    pthread_t th[2];
    for (uintptr_t t = 0; t < 2; t++)
        pthread_create(&th[t], NULL, hammer, (void *)(t + 1));
    sleep_ms(150);
    uint64_t t0 = mono();
    handle__trace_close(5, 55, NULL, 0);
    uint64_t took = mono() - t0;
    sleep_ms(50); /* producers run on after close */
    atomic_store(&hammer_stop, true);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    fprintf(stderr, "# close under load took %.1f ms\n", (double)took / 1e6);
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'exit_status'"), 5);
    assert_true(q_int(db, "SELECT count(*) FROM handles") > 0);
    /* a producer's NEW may precede the CLOSE event and its DELETE follow
     * it: at most one handle per producer is live at close */
    assert_true(q_int(db, "SELECT count(*) FROM leaks") <= 2);
    sqlite3_close(db);
}

/* A fork child forgets the parent's trace (never touching its connection),
 * even while the parent's writer is busy, and writes its own. */
static void test_trace_fork_child_gets_own_trace(void **state)
{
    (void)state;
#if TRACE_TEST_TSAN
    /* TSan keeps the parent's running writer in its thread registry after
     * fork; glibc gives the child's new writer the same stack and id, and
     * TSan aborts ("dup thread with used id"). The normal and ASan builds
     * run this test; TSan sees fork children through the other tests,
     * whose writers have ended before they fork. */
    skip();
#endif
    char path[300];
    path_in(path, sizeof path, "parent.db");
    open_ok(path, 10, 0);
    atomic_store(&hammer_stop, false);
    pthread_t th;
    pthread_create(&th, NULL, hammer, (void *)(uintptr_t)1);
    for (int k = 0; k < 5; k++) {
        sleep_ms(20);
        char cpath[300];
        snprintf(cpath, sizeof cpath, "%s/child%d.db", tmpdir, k);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            handle__trace_forget(); /* what init's fork handler does */
            if (handle__trace_is_open())
                _exit(1);
            handle__trace_new(H(7, 7), 0, 1, 0, 1); /* ignored: no trace yet */
            struct handle__trace_config c = config(cpath, 10, 0);
            c.pid = getpid();
            char err[256];
            if (!handle__trace_open(&c, err, sizeof err))
                _exit(2);
            for (uint32_t i = 1; i <= 105; i++) {
                handle__trace_new(H(5, i), 1, i, 0, 1);
                if (i <= 100)
                    handle__trace_delete(H(5, i), 1, i, 0, 1, i + 1, 0, 2);
            }
            handle__trace_close(0, 1, NULL, 0);
            _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        sqlite3 *db = db_open(cpath);
        assert_integrity(db);
        assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), 105);
        assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 5);
        assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'pid'"), pid);
        sqlite3_close(db);
    }
    atomic_store(&hammer_stop, true);
    pthread_join(th, NULL);
    handle__trace_close(0, 1, NULL, 0);
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_true(q_int(db, "SELECT count(*) FROM handles") > 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 0);
    sqlite3_close(db);
}

/* Redirects fd 2 to a file; returns the saved fd. */
static int capture_stderr(const char *file)
{
    fflush(stderr);
    int saved = dup(2);
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    return saved;
}

static void restore_stderr(int saved)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

static char *slurp(const char *file)
{
    static char buf[8192];
    FILE *f = fopen(file, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The file removed under the writer: one warning (queued for the runtime
 * to print: handle__trace_take_warning), the writer stops writing and
 * keeps draining, so producers (far more events than the ring holds) and
 * close never block. */
static void test_trace_file_removed_warns_once(void **state)
{
    (void)state;
    char path[300], errfile[300], want[700];
    path_in(path, sizeof path, "removed.db");
    path_in(errfile, sizeof errfile, "removed.stderr");
    int saved = capture_stderr(errfile);
    open_ok(path, 10, 0);
    handle__trace_new(H(1, 1), 0, 1, 0, 1);
    handle__trace_sync();
    unlink(path);
    handle__trace_new(H(1, 2), 0, 1, 0, 1);
    handle__trace_sync();
    for (uint32_t i = 0; i < 300000; i++) {
        handle__trace_new(H(2, i + 1), 0, 1, 0, 1);
        handle__trace_delete(H(2, i + 1), 0, 1, 0, 1, 2, 0, 1);
    }
    struct handle__trace_error e = {.kind = "double-delete", .handle = 1, .message = "x"};
    uint64_t t0 = mono();
    handle__trace_error(&e);
    assert_true(mono() - t0 < 1000000000u);
    handle__trace_close(0, 1, NULL, 0);
    restore_stderr(saved);
    /* the writer printed nothing itself (it has no descriptor of ours) */
    assert_string_equal(slurp(errfile), "");
    char got[1100];
    assert_true(handle__trace_take_warning(got, sizeof got));
    snprintf(want, sizeof want,
             "trace %s: the file was removed or renamed; continuing without trace", path);
    assert_string_equal(got, want);
    assert_false(handle__trace_take_warning(got, sizeof got));
}

/* Case 6 (issue 11), the trace's part: a file size limit (RLIMIT_FSIZE,
 * EFBIG) is one warning, never a crash (SIGXFSZ) or a hang; the trace is
 * left intact and marked incomplete with the reason. */
static void test_trace_disk_full_warns(void **state)
{
    (void)state;
    char path[300], errfile[300];
    path_in(path, sizeof path, "full.db");
    path_in(errfile, sizeof errfile, "full.stderr");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        handle__trace_forget();
        /* SIGXFSZ left at its default (end the process): the writer blocks
         * every signal, so the one the kernel sends it stays pending */
        signal(SIGXFSZ, SIG_DFL);
        struct rlimit rl = {1024 * 1024, 1024 * 1024}; /* room for the schema */
        setrlimit(RLIMIT_FSIZE, &rl);
        int saved = capture_stderr(errfile);
        (void)saved;
        struct handle__trace_config c = config(path, 10, 0);
        char err[256];
        if (!handle__trace_open(&c, err, sizeof err))
            _exit(2);
        for (uint32_t i = 1; i <= 400000; i++) {
            handle__trace_new(H(1, i), 1, i, 0, 1 + i % 100);
            handle__trace_delete(H(1, i), 1, i, 0, 1 + i % 100, i + 7, 0, 200 + i % 100);
            /* a first small commit that fits, whatever the machine's
             * speed (a slow writer batches the first 400000 into one
             * transaction over the limit, and nothing is committed) */
            if (i == 1000 || i % 50000 == 0)
                handle__trace_sync();
        }
        handle__trace_close(0, 1, NULL, 0);
        char w[1100];
        while (handle__trace_take_warning(w, sizeof w))
            fprintf(stderr, "WARNING: %s\n", w);
        _exit(0);
    }
    int status = 0;
    uint64_t deadline = mono() + 60000000000ull;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (mono() > deadline) {
            kill(pid, SIGKILL);
            fail_msg("the writer hung on a full disk");
        }
        sleep_ms(10);
    }
    if (WIFSIGNALED(status))
        fail_msg("killed by signal %d", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char *text = slurp(errfile);
    fprintf(stderr, "# disk full: %s", text);
    assert_non_null(strstr(text, "WARNING: trace "));
    assert_non_null(strstr(text, "(File too large); continuing without trace\n"));
    assert_null(strstr(strstr(text, "WARNING") + 1, "WARNING")); /* once */
    /* intact, with what was committed, and marked */
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_true(q_int(db, "SELECT count(*) FROM handles") > 0);
    char *why = q_text(db, "SELECT value FROM meta WHERE key = 'incomplete'");
    assert_non_null(why);
    assert_non_null(strstr(why, "File too large"));
    free(why);
    sqlite3_close(db);
}

/* Case 7 (issue 11): the writer has a descriptor table of its own. None of
 * the trace's files is open in the program's table (closefrom() cannot
 * hit them), and the writer holds none of the program's descriptors: a
 * pipe the program closes really closes (its reader sees EOF). */
static void test_trace_private_fd_table(void **state)
{
    (void)state;
    char path[300];
    path_in(path, sizeof path, "fds.db");
    int p[2];
    assert_int_equal(pipe(p), 0);
    open_ok(path, 10, 0);
    for (uint32_t i = 1; i <= 1000; i++)
        handle__trace_new(H(1, i), 0, i, 0, 1);
    handle__trace_sync();
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char link[400], target[400] = "";
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0)
            target[n] = '\0';
        assert_null(strstr(target, "fds.db"));
    }
    closedir(d);
    close(p[1]);
    struct pollfd pfd = {p[0], POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    char c;
    assert_int_equal(read(p[0], &c, 1), 0); /* EOF: no copy of p[1] is left */
    close(p[0]);
    handle__trace_close(0, 1, NULL, 0);
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 1000);
    sqlite3_close(db);
}

/* Whether a thread of this process is named name (/proc/self/task). */
static bool thread_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        char p[300], comm[64] = "";
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, comm, sizeof comm - 1);
        close(fd);
        if (n > 0 && comm[n - 1] == '\n')
            comm[n - 1] = '\0';
        found = strcmp(comm, name) == 0;
    }
    closedir(d);
    return found;
}

/* Checkpoints off the writer's path (issue 11's wall time against
 * heaptrack): an open trace has a checkpointer thread beside the writer,
 * gone after the close; enough lifetimes for several checkpoints (16 MiB
 * of WAL each) all arrive, and the file is whole. */
static void test_trace_checkpointer(void **state)
{
    (void)state;
    char path[300];
    path_in(path, sizeof path, "ckpt.db");
    open_ok(path, 10, 0);
    bool seen = false;
    for (int i = 0; i < 200 && !(seen = thread_named("handle-ckpt")); i++)
        sleep_ms(10);
    assert_true(seen);
    const char *env = getenv("TRACE_BENCH_N");
    uint32_t n = env && atoi(env) > 0 ? (uint32_t)atoi(env) * 6 : 1200000u;
    for (uint32_t i = 1; i <= n; i++) {
        handle__trace_new(H(1 + i / 60000, i % 60000 + 1), 0, 1000u * i, 0, 1 + i % 50);
        handle__trace_delete(H(1 + i / 60000, i % 60000 + 1), 0, 1000u * i, 0, 1 + i % 50,
                             1000u * i + 500, 0, 60);
    }
    handle__trace_close(0, 1, NULL, 0);
    assert_false(thread_named("handle-ckpt"));
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), n);
    sqlite3_close(db);
    struct stat sb;
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_true(stat(wal, &sb) != 0 || sb.st_size == 0); /* checkpointed at the close */
}

/* Case 3 (issue 11): a clone() child without CLONE_VM (no fork handler
 * runs; the writer is the parent's) makes far more events than the ring
 * holds: it stops tracing with one warning instead of waiting forever for
 * room, and its sync, error and close return at once (none waits for or
 * joins the parent's writer). The parent's trace goes on. */
static void test_trace_clone_child_stops_tracing(void **state)
{
    (void)state;
    char path[300];
    path_in(path, sizeof path, "clone.db");
    open_ok(path, 10, 0);
    for (uint32_t i = 1; i <= 10; i++)
        handle__trace_new(H(1, i), 0, i, 0, 1);
    handle__trace_sync();
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    assert_true(pid >= 0);
    if (pid == 0) {
        for (uint32_t i = 1; i <= 1200000; i++) {
            handle__trace_new(H(2, i), 0, i, 0, 1);
            handle__trace_delete(H(2, i), 0, i, 0, 1, i + 1, 0, 1);
        }
        uint64_t t0 = mono();
        handle__trace_sync();
        struct handle__trace_error e = {.kind = "double-delete", .handle = 1, .message = "x"};
        handle__trace_error(&e);
        handle__trace_close(0, 1, NULL, 0);
        if (mono() - t0 > 1000000000u)
            _exit(3); /* waited for a writer that is not ours */
        if (handle__trace_is_open())
            _exit(4);
        char w[1100];
        int n = 0;
        while (handle__trace_take_warning(w, sizeof w)) {
            if (!strstr(w, "cloned without its parent's memory"))
                _exit(5);
            n++;
        }
        _exit(n == 1 ? 0 : 6);
    }
    int status = 0;
    uint64_t deadline = mono() + 60000000000ull;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (mono() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("the clone() child hung waiting for ring room");
        }
        sleep_ms(10);
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    for (uint32_t i = 11; i <= 20; i++)
        handle__trace_new(H(1, i), 0, i, 0, 1);
    assert_false(handle__trace_take_warning(NULL, 0));
    handle__trace_close(0, 1, NULL, 0);
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 20);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), 20);
    sqlite3_close(db);
}

/* Case 10 (issue 11): freeze, then close with the set the exit check saw.
 * Events queued before freeze are written, those after it dropped; after
 * close `leaks` is exactly the given set: a handle the trace has live but
 * the set has not is completed at ended_at (relative) with no deleting
 * thread or stack, one the set has but the trace lacks (its NEW dropped,
 * or never queued) is added with the set's data. */
static void test_trace_freeze_close_reconciles(void **state)
{
    (void)state;
    char path[300];
    path_in(path, sizeof path, "reconcile.db");
    open_ok(path, 1000, 0); /* long flush: events are still in flight at close */
    for (uint32_t i = 1; i <= 10; i++)
        handle__trace_new(H(1, i), 1, 100 * i, 1, 10 + i);
    handle__trace_sync(); /* 1..10 are `live` rows */
    for (uint32_t i = 11; i <= 15; i++)
        handle__trace_new(H(1, i), 2, 100 * i, 2, 10 + i); /* in flight */
    handle__trace_delete(H(1, 1), 1, 100, 1, 11, 5000, 3, 99);
    handle__trace_delete(H(1, 2), 1, 200, 1, 12, 5000, 3, 99);
    handle__trace_freeze();
    assert_true(handle__trace_is_open());
    /* after freeze: dropped */
    handle__trace_delete(H(1, 3), 1, 300, 1, 13, 6000, 3, 99);
    handle__trace_new(H(1, 16), 3, 1600, 4, 26);
    handle__trace_new(H(1, 17), 3, 1700, 4, 27);
    struct handle__leak set[32];
    size_t n = 0;
    for (uint32_t i = 3; i <= 15; i++) {
        if (i == 4)
            continue; /* live in the trace, not in the set */
        set[n++] = (struct handle__leak){H(1, i), 100 * i, i <= 10 ? 1 : 2, 10 + i,
                                         i <= 10 ? 1 : 2};
    }
    set[n++] = (struct handle__leak){H(1, 16), 1600, 3, 26, 4}; /* NEW dropped */
    set[n++] = (struct handle__leak){H(7, 20), 2000, 4, 30, 5}; /* never queued */
    uint64_t ended_at = handle__start_unix_ns() + 5000000000ull;
    handle__trace_close(23, ended_at, set, n);
    assert_false(handle__trace_is_open());

    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), (int64_t)n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(q_int(db, "SELECT count(*) FROM leaks WHERE handle = %lld AND "
                                   "created_ns = %lld AND created_thread = %u AND "
                                   "created_stack = %u AND tag = 'tag%u'",
                               (long long)set[i].h, (long long)set[i].created_ns,
                               set[i].created_thread, set[i].created_stack, set[i].tag),
                         1);
    /* completed by reconciliation */
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE handle = %lld AND "
                               "created_ns = 400 AND deleted_ns = 5000000000 AND deleted_thread "
                               "IS NULL AND deleted_stack IS NULL AND created_thread = 1 AND "
                               "created_stack = 14 AND tag = 'tag1'",
                               (long long)H(1, 4)),
                     1);
    /* deleted before freeze: completed normally */
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE deleted_ns = 5000 AND "
                               "deleted_thread = 3 AND deleted_stack = 99"),
                     2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), (int64_t)n + 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE handle = %lld",
                           (long long)H(1, 17)),
                     0);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'exit_status'"), 23);
    struct refs r = {0};
    for (size_t i = 0; i < n; i++)
        ref_new(&r, set[i].tag, set[i].created_thread, set[i].created_stack);
    ref_new(&r, 1, 1, 14);
    ref_new(&r, 1, 1, 11);
    ref_new(&r, 1, 1, 12);
    ref_new(&r, 1, 3, 99);
    assert_refs(db, &r);
    sqlite3_close(db);
}

/* Case 1 (issue 11), the trace's part: after handle__trace_watch_orphan(),
 * once every other thread is gone (the main thread left with pthread_exit
 * and is a zombie), on_orphan runs, and can close the trace and exit; what
 * it writes reaches the program's own stderr. */
static void *orphan_worker(void *arg)
{
    uint32_t t = (uint32_t)(uintptr_t)arg;
    sleep_ms(100 + 50 * t);
    for (uint32_t i = 1; i <= 100; i++)
        handle__trace_new(H(10 + t, i), 0, i, t, 1);
    return NULL;
}

static void on_orphan_exit(void)
{
    handle__trace_close(7, 42, NULL, 0);
    static const char msg[] = "on_orphan ran\n";
    if (write(2, msg, sizeof msg - 1) < 0)
        _exit(9);
#if defined(__SANITIZE_ADDRESS__)
    /* LeakSanitizer's check at exit would report cmocka's state of the
     * running test, never freed since main left with pthread_exit. */
    _exit(7);
#else
    exit(7); /* atexit handlers run on the watcher */
#endif
}

static void test_trace_orphan_last_thread(void **state)
{
    (void)state;
#if TRACE_TEST_TSAN
    /* TSan runs a background thread of its own in the process (and starts
     * one in a fork child at its first pthread_create): the process is
     * never down to the writer and the watcher. */
    skip();
#endif
    char path[300], errfile[300];
    path_in(path, sizeof path, "orphan.db");
    path_in(errfile, sizeof errfile, "orphan.stderr");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        handle__trace_forget();
        capture_stderr(errfile);
        struct handle__trace_config c = config(path, 10, 0);
        char err[256];
        if (!handle__trace_open(&c, err, sizeof err))
            _exit(2);
        pthread_t th;
        for (uintptr_t t = 1; t <= 2; t++)
            if (pthread_create(&th, NULL, orphan_worker, (void *)t) != 0)
                _exit(3);
        handle__trace_watch_orphan(on_orphan_exit);
        pthread_exit(NULL);
    }
    int status = 0;
    uint64_t deadline = mono() + 30000000000ull;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (mono() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("the process outlived its last thread");
        }
        sleep_ms(10);
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
    assert_string_equal(slurp(errfile), "on_orphan ran\n");
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'exit_status'"), 7);
    assert_int_equal(q_int(db, "SELECT count(*) FROM leaks"), 200);
    sqlite3_close(db);
}

/* Case 4's rule (issue 11), the trace's part: the panic records its error
 * with raw frames first, then replaces the text once symbolized; each step
 * is committed when the call returns. */
static void test_trace_error_text_replaced(void **state)
{
    (void)state;
    char path[300];
    path_in(path, sizeof path, "errtext.db");
    open_ok(path, 10000, 0); /* no periodic commit: only the calls commit */
    handle__trace_error_text("nothing to replace yet"); /* no error: ignored */
    struct handle__trace_error e1 = {.kind = "double-delete", .handle = 5, .message = "first"};
    handle__trace_error(&e1);
    struct handle__trace_error e2 = {.kind = "use-after-delete", .handle = 6,
                                     .message = "#0 0x401000 (prog+0x1000)"};
    handle__trace_error(&e2);
    sqlite3 *db = db_open(path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM errors WHERE message = '#0 0x401000 "
                               "(prog+0x1000)'"),
                     1);
    sqlite3_close(db);
    handle__trace_error_text("#0 0x401000 in main /src/prog.c:12");
    db = db_open(path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM errors WHERE handle = 6 AND message = '#0 "
                               "0x401000 in main /src/prog.c:12'"),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM errors WHERE handle = 5 AND message = "
                               "'first'"),
                     1);
    sqlite3_close(db);
    handle__trace_close(134, 1, NULL, 0);
    db = db_open(path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM errors"), 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM errors WHERE message LIKE '%%prog.c:12'"), 1);
    sqlite3_close(db);
}

/* SPEC section 5: meta holds boot_id and start_ticks (read by the trace
 * when the caller does not give them), and last_commit_ns (Unix ns) moves
 * with every commit. */
static void test_trace_meta_identity_and_last_commit(void **state)
{
    (void)state;
    char path[300], boot[64] = "", stat[1024] = "";
    path_in(path, sizeof path, "identity.db");
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    assert_non_null(f);
    assert_non_null(fgets(boot, sizeof boot, f));
    fclose(f);
    boot[strcspn(boot, "\n")] = '\0';
    f = fopen("/proc/self/stat", "r");
    assert_non_null(fgets(stat, sizeof stat, f));
    fclose(f);
    unsigned long long ticks = 0;
    const char *p = strrchr(stat, ')');
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                                   "%*d %*d %*d %*d %llu",
                            &ticks),
                     1);
    uint64_t t0 = (uint64_t)time(NULL) * 1000000000u;
    open_ok(path, 10, 0);
    handle__trace_new(H(1, 1), 0, 1, 0, 1);
    handle__trace_sync();
    sqlite3 *db = db_open(path);
    char *s1 = q_text(db, "SELECT value FROM meta WHERE key = 'boot_id'");
    assert_non_null(s1);
    assert_string_equal(s1, boot);
    free(s1);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'start_ticks'"),
                     (int64_t)ticks);
    int64_t c1 = q_int(db, "SELECT value FROM meta WHERE key = 'last_commit_ns'");
    assert_true(c1 >= (int64_t)t0 - 1000000000);
    sqlite3_close(db);
    sleep_ms(20);
    handle__trace_new(H(1, 2), 0, 1, 0, 1);
    handle__trace_sync();
    db = db_open(path);
    int64_t c2 = q_int(db, "SELECT value FROM meta WHERE key = 'last_commit_ns'");
    assert_true(c2 >= c1 + 15000000);
    sqlite3_close(db);
    /* given by the caller: written as given */
    handle__trace_close(0, 1, NULL, 0);
    struct handle__trace_config c = config(path, 10, 0);
    c.boot_id = "11111111-2222-3333-4444-555555555555";
    c.start_ticks = 4242;
    char err[256];
    assert_true(handle__trace_open(&c, err, sizeof err));
    assert_string_equal(handle__trace_path(), path);
    handle__trace_close(0, 1, NULL, 0);
    assert_string_equal(handle__trace_path(), "");
    db = db_open(path);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'start_ticks'"), 4242);
    assert_int_equal(q_int(db, "SELECT count(*) FROM meta WHERE key = 'boot_id' AND value = "
                               "'11111111-2222-3333-4444-555555555555'"),
                     1);
    sqlite3_close(db);
}

/* The second image of an exec'd process (test_trace --exec-image PATH):
 * opens PATH again with the same pid; its path is PATH.2. */
static int exec_image(const char *path)
{
    struct handle__trace_config c = config(path, 10, 0);
    char err[256];
    if (!handle__trace_open(&c, err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        return 2;
    }
    char want[320];
    snprintf(want, sizeof want, "%s.2", path);
    if (strcmp(handle__trace_path(), want) != 0) {
        fprintf(stderr, "path %s, want %s\n", handle__trace_path(), want);
        return 3;
    }
    handle__trace_new(H(2, 1), 0, 1, 0, 1);
    handle__trace_new(H(2, 2), 0, 1, 0, 1);
    handle__trace_close(0, 1, NULL, 0);
    return 0;
}

/* Case 16 (issue 11): exec keeps the pid; the new image's trace never
 * replaces the earlier image's (same pid, boot_id, start_ticks): it goes
 * to PATH.2. */
static void test_trace_exec_keeps_earlier_image(void **state)
{
    (void)state;
    char path[300], p2[320];
    path_in(path, sizeof path, "image.db");
    snprintf(p2, sizeof p2, "%s.2", path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        handle__trace_forget();
        struct handle__trace_config c = config(path, 10, 0);
        c.pid = getpid();
        char err[256];
        if (!handle__trace_open(&c, err, sizeof err))
            _exit(2);
        handle__trace_new(H(1, 1), 0, 1, 0, 1);
        handle__trace_sync();
        /* exec: no close, as a real exec */
        execl("/proc/self/exe", "test_trace", "--exec-image", path, (char *)NULL);
        _exit(5);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    sqlite3 *db = db_open(path);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), 1);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'pid'"), pid);
    sqlite3_close(db);
    db = db_open(p2);
    assert_integrity(db);
    assert_int_equal(q_int(db, "SELECT count(*) FROM handles"), 2);
    assert_int_equal(q_int(db, "SELECT value FROM meta WHERE key = 'pid'"), pid);
    sqlite3_close(db);
}

/* Case 6 (issue 11), the trace's part, on a real full disk: the trace on a
 * 256 KiB tmpfs (mounted in a private mount namespace: root only; 77 when
 * that cannot be done). The producer goes on, one warning ("No space left
 * on device"), the trace is intact, and marked incomplete where it can
 * still be written. Run as test_trace --tmpfs-full (ctest
 * test_trace_tmpfs_full). */
static int tmpfs_full(void)
{
    if (!tq_load())
        return 1;
    char dir[] = "/tmp/test_trace_tmpfs.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", dir, "tmpfs", 0, "size=256k") != 0) {
            fprintf(stderr, "tmpfs_full: cannot mount a tmpfs (%s): skipped\n", strerror(errno));
            _exit(77);
        }
        char path[100];
        snprintf(path, sizeof path, "%s/t.db", dir);
        struct handle__trace_config c = config(path, 10, 0);
        char err[256];
        if (!handle__trace_open(&c, err, sizeof err)) {
            fprintf(stderr, "open: %s\n", err);
            _exit(2);
        }
        for (uint32_t i = 1; i <= 400000; i++) {
            handle__trace_new(H(1, i), 1, i, 0, 1 + i % 100);
            handle__trace_delete(H(1, i), 1, i, 0, 1 + i % 100, i + 7, 0, 200 + i % 100);
            if (i % 20000 == 0)
                handle__trace_sync();
        }
        handle__trace_close(0, 1, NULL, 0);
        char w[1100];
        int n = 0;
        while (handle__trace_take_warning(w, sizeof w)) {
            fprintf(stderr, "# tmpfs full: %s\n", w);
            if (!strstr(w, "; continuing without trace"))
                _exit(3);
            n++;
        }
        if (n != 1)
            _exit(4);
        sqlite3 *db = NULL;
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
            _exit(5);
        sqlite3_stmt *st = NULL;
        const char *ok = NULL;
        if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            ok = (const char *)sqlite3_column_text(st, 0);
        if (!ok || strcmp(ok, "ok") != 0)
            _exit(6);
        sqlite3_finalize(st);
        if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'incomplete'", -1, &st,
                               NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            fprintf(stderr, "# meta incomplete: %s\n", sqlite3_column_text(st, 0));
        else
            fprintf(stderr, "# no room left for meta incomplete\n");
        sqlite3_finalize(st);
        sqlite3_close(db);
        _exit(0);
    }
    int status = 0;
    uint64_t deadline = mono() + 120000000000ull;
    while (pid > 0 && waitpid(pid, &status, WNOHANG) == 0) {
        if (mono() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "tmpfs_full: hung\n");
            rmdir(dir);
            return 1;
        }
        sleep_ms(10);
    }
    rmdir(dir);
    if (pid < 0 || !WIFEXITED(status)) {
        fprintf(stderr, "tmpfs_full: child ended by signal %d\n", WTERMSIG(status));
        return 1;
    }
    if (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 77)
        fprintf(stderr, "tmpfs_full: child status %d\n", WEXITSTATUS(status));
    return WEXITSTATUS(status);
}

/* What a killed child published: at time t, news NEW and dels DELETE
 * events had been queued. */
struct kill_log {
    _Atomic uint32_t n;
    struct {
        uint64_t t, news, dels;
    } e[100000];
};

/* kill -9 at a random moment: the file passes integrity_check and holds
 * every event older than flush_ms + 1 s. */
static void test_trace_kill9(void **state)
{
    (void)state;
    const uint32_t flush_ms = 100, window = 50;
    struct kill_log *log = mmap(NULL, sizeof *log, PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(log != MAP_FAILED);
    srand((unsigned)mono());
    for (int round = 0; round < 3; round++) {
        char path[300];
        snprintf(path, sizeof path, "%s/kill%d.db", tmpdir, round);
        atomic_store(&log->n, 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            handle__trace_forget();
            struct handle__trace_config c = config(path, flush_ms, 0);
            char err[256];
            if (!handle__trace_open(&c, err, sizeof err))
                _exit(2);
            uint64_t news = 0, dels = 0, last = 0;
            for (uint32_t i = 1;; i++) {
                handle__trace_new(H(1, i), 1 + i % 3, i, 0, 1 + i % 64);
                news++;
                if (i > window) {
                    uint32_t j = i - window;
                    handle__trace_delete(H(1, j), 1 + j % 3, j, 0, 1 + j % 64, i, 0, 100);
                    dels++;
                }
                if (i % 128 == 0) {
                    uint64_t now = mono();
                    if (now - last >= 1000000u) {
                        uint32_t k = atomic_load(&log->n);
                        if (k < 100000) {
                            log->e[k].t = now;
                            log->e[k].news = news;
                            log->e[k].dels = dels;
                            atomic_store(&log->n, k + 1);
                        }
                        last = now;
                    }
                }
                if (i % 200 == 0)
                    sleep_ms(1); /* < 200k lifetimes/s: keeps the checks short */
            }
        }
        /* From the child's first published record on (its start-up, slow
         * under a sanitizer on a loaded machine, is not what is tested). */
        uint64_t wait_start = mono();
        while (atomic_load(&log->n) == 0 && mono() - wait_start < 60000000000ull)
            sleep_ms(1);
        uint32_t ms = 1300 + (uint32_t)(rand() % 1000);
        sleep_ms(ms);
        kill(pid, SIGKILL);
        uint64_t t_kill = mono();
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status));
        uint64_t cutoff = t_kill - (flush_ms + 1000) * 1000000ull;
        uint32_t n = atomic_load(&log->n), k = 0;
        assert_true(n > 0);
        while (k + 1 < n && log->e[k + 1].t <= cutoff)
            k++;
        assert_true(log->e[k].t <= cutoff);
        sqlite3 *db = db_open(path);
        assert_integrity(db);
        int64_t total = q_int(db, "SELECT count(*) FROM handles");
        int64_t done = q_int(db, "SELECT count(*) FROM handles WHERE deleted_ns IS NOT NULL");
        /* what must be there: every event older than the cutoff */
        assert_true(log->e[k].news > 0);
        assert_true(total >= (int64_t)log->e[k].news);
        assert_true(done >= (int64_t)log->e[k].dels);
        assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE (handle & 4294967295) <= "
                                   "%llu",
                               (unsigned long long)log->e[k].news),
                         (int64_t)log->e[k].news);
        assert_int_equal(q_int(db, "SELECT count(*) FROM handles WHERE deleted_ns IS NOT NULL AND "
                                   "(handle & 4294967295) <= %llu",
                               (unsigned long long)log->e[k].dels),
                         (int64_t)log->e[k].dels);
        /* and nothing invented: the trace is a prefix of what was queued */
        assert_true(total <= (int64_t)log->e[n - 1].news + 70000);
        /* how far behind the kill the trace actually was (informative) */
        uint32_t m = k;
        while (m + 1 < n && (int64_t)log->e[m + 1].news <= total &&
               (int64_t)log->e[m + 1].dels <= done)
            m++;
        fprintf(stderr,
                "# kill -9 after %u ms: %lld lifetimes, integrity ok, every event older than "
                "%.0f ms before the kill present\n",
                ms, (long long)total, (double)(t_kill - log->e[m].t) / 1e6);
        sqlite3_close(db);
    }
    munmap(log, sizeof *log);
}

/* Process CPU time (all threads), ns. */
static uint64_t process_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One measured run: n lifetimes queued by this thread as fast as it can
 * (the writer is the bottleneck), long_every-th of them kept live across
 * commits; prints writer CPU per lifetime and bytes per lifetime. */
static void measure(const char *name, uint32_t n, uint32_t long_every)
{
    char path[300];
    snprintf(path, sizeof path, "%s/measure-%s.db", tmpdir, name);
    open_ok(path, 100, 0);
    uint64_t cpu0 = process_cpu_ns(), me0 = thread_cpu_ns(), t0 = mono();
    uint64_t now = 5000000;
    uint32_t gen[1024] = {0};
    handle_t held[64] = {0};
    uint32_t nheld = 0;
    for (uint32_t i = 0; i < n; i++) {
        /* a slot allocator's handles: recycled indexes, growing generations */
        uint32_t idx = 1 + (i * 7) % 1000;
        handle_t h = H(++gen[idx], idx + (i % long_every == 0 ? 100000 : 0));
        uint32_t stk = 1 + (i % 37), tag = i % 3;
        now += 430; /* 2.3M lifetimes/s */
        handle__trace_new(h, tag, now, 0, stk);
        if (long_every && i % long_every == 0) {
            /* lives a while: deleted 64 long-lived handles later */
            if (nheld == 64) {
                handle_t old = held[i / long_every % 64];
                handle__trace_delete(old, 0, now - 1000000, 0, 99, now, 0, 100);
                held[i / long_every % 64] = h;
            } else {
                held[nheld++] = h;
            }
            continue;
        }
        handle__trace_delete(h, tag, now, 0, stk, now + 180 + i % 300, 0, 40 + stk);
    }
    uint64_t queued = mono();
    handle__trace_close(0, 1, NULL, 0);
    uint64_t t1 = mono(), cpu1 = process_cpu_ns(), me1 = thread_cpu_ns();
    struct stat st;
    stat(path, &st);
    double writer_ns = (double)((cpu1 - cpu0) - (me1 - me0)) / n;
    sqlite3 *db = db_open(path);
    uint64_t q0 = mono();
    int64_t live = q_int(db, "SELECT count(*) FROM leaks");
    uint64_t q1 = mono();
    int64_t all = q_int(db, "SELECT count(*) FROM handles");
    uint64_t q2 = mono();
    int64_t sum = 0;
    if (long_every == 0xffffffffu) /* one timing of a full scan is enough */
        sum = q_int(db, "SELECT sum(deleted_ns - created_ns) FROM handles");
    uint64_t q3 = mono();
    (void)sum;
    sqlite3_close(db);
    fprintf(stderr,
            "# measure %s: %u lifetimes (every %u-th long-lived): wall %.0f ns/lifetime "
            "(queueing %.0f ms, close %.0f ms), writer CPU %.0f ns/lifetime, producer CPU %.0f "
            "ns/lifetime, file %.1f bytes/lifetime (%lld bytes); count(*) leaks %lld in %.2f ms, "
            "count(*) handles %lld in %.0f ms, sum over handles in %.0f ms\n",
            name, n, long_every, (double)(t1 - t0) / n, (double)(queued - t0) / 1e6,
            (double)(t1 - queued) / 1e6, writer_ns, (double)(me1 - me0) / n,
            (double)st.st_size / n, (long long)st.st_size, (long long)live,
            (double)(q1 - q0) / 1e6, (long long)all, (double)(q2 - q1) / 1e6,
            (double)(q3 - q2) / 1e6);
    assert_int_equal(all, n);
}

/* Prints the writer's cost and the trace's size per lifetime. */
static void test_trace_measure(void **state)
{
    (void)state;
    const char *env = getenv("TRACE_BENCH_N");
    uint32_t n = env ? (uint32_t)strtoul(env, NULL, 10) : 1000000;
    measure("short", n, 0xffffffffu);
    measure("mixed", n, 100);
}

/* The runtime's one fork handler (lifecycle.c) calls the trace's phases. */
static void fork_prepare(void)
{
    handle__trace_fork(HANDLE__FORK_PREPARE);
}
static void fork_parent(void)
{
    handle__trace_fork(HANDLE__FORK_PARENT);
}
static void fork_child(void)
{
    handle__trace_fork(HANDLE__FORK_CHILD);
}

int main(int argc, char **argv)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    if (argc == 3 && strcmp(argv[1], "--exec-image") == 0)
        return exec_image(argv[2]);
    if (argc == 2 && strcmp(argv[1], "--tmpfs-full") == 0)
        return tmpfs_full();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_schema_meta_and_mode),
        cmocka_unit_test(test_trace_lifetimes_and_errors),
        cmocka_unit_test(test_trace_symlink_refused),
        cmocka_unit_test(test_trace_symlinked_directory),
        cmocka_unit_test(test_trace_replaces_file_and_stale_wal),
        cmocka_unit_test(test_trace_unwritable_directory),
        cmocka_unit_test(test_trace_max_history),
        cmocka_unit_test(test_trace_four_threads),
        cmocka_unit_test(test_trace_module_unload_updated),
        cmocka_unit_test(test_trace_close_while_producing),
        cmocka_unit_test(test_trace_fork_child_gets_own_trace),
        cmocka_unit_test(test_trace_file_removed_warns_once),
        cmocka_unit_test(test_trace_disk_full_warns),
        cmocka_unit_test(test_trace_private_fd_table),
        cmocka_unit_test(test_trace_checkpointer),
        cmocka_unit_test(test_trace_clone_child_stops_tracing),
        cmocka_unit_test(test_trace_freeze_close_reconciles),
        cmocka_unit_test(test_trace_orphan_last_thread),
        cmocka_unit_test(test_trace_error_text_replaced),
        cmocka_unit_test(test_trace_meta_identity_and_last_commit),
        cmocka_unit_test(test_trace_exec_keeps_earlier_image),
        cmocka_unit_test(test_trace_kill9),
        cmocka_unit_test(test_trace_measure),
    };
    /* TRACE_TEST_ONLY=test_trace_measure runs one test (cmocka's filter) */
    if (getenv("TRACE_TEST_ONLY"))
        cmocka_set_test_filter(getenv("TRACE_TEST_ONLY"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
