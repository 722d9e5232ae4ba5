/*
 * test_trace_read.c - lib/report/trace_read.c on small traces written in
 * the writer's layout (reader_fixtures/tracegen.h) and damaged one defect
 * at a time: the refusals (exact one-line reasons), the lenient reading of
 * odd values, the fast lifetime decoder against the `handles` view it
 * replaces, stacks with and without an index, WAL traces that cannot be
 * read in place, and allocation failures.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tracegen.h"

#include <errno.h>
#include <setjmp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "report/trace_read.h"

/* Tags, two modules, four stacks, live handles, two batches, one error. */
static const char fill[] =
    "INSERT INTO tags VALUES (1, 'conn'), (2, 'file');"
    "INSERT INTO modules VALUES (1, '/usr/bin/app', '00ff', 4096, 4096, 65536, 0, NULL),"
    "  (2, '/lib/libx.so', '', 0x7f0000000000, 0x7f0000000000, 0x7f0000100000, 0, NULL);"
    "INSERT INTO stacks VALUES (1, 0, 4200, 1), (1, 1, 4300, 1), (2, 0, 0x7f0000001234, 2),"
    "  (3, 0, 5000, 0);"
    "INSERT INTO live VALUES (1, 1, 100, 1, 1), (2, 1, 50, 1, 1), (3, NULL, 200, 1, 2),"
    "  (4, 2, 300, 2, 0);"
    "INSERT INTO batches VALUES (1, 1000, 2, 0, '[[0,10,5,1,1,1,1,0],[5,20,6,1,0,1,2,3,2]]');"
    "INSERT INTO errors VALUES (1, 'double-delete', 7, 400, 1, 3, 'handle 7 deleted twice',"
    "  'conn', 1, 1, 2, 2);";

static char err[512];

/* The reason handle__tr_open gives for path (it must refuse it). */
static const char *refusal(const char *path)
{
    strcpy(err, "unset");
    struct handle__tr *t = handle__tr_open(path, err, sizeof err);
    if (t != NULL) {
        handle__tr_close(t);
        return "(opened)";
    }
    return err;
}

static struct handle__tr *must_open(const char *path)
{
    err[0] = '\0';
    struct handle__tr *t = handle__tr_open(path, err, sizeof err);
    if (t == NULL)
        fail_msg("cannot open %s: %s", path, err);
    return t;
}

static int teardown_all(void **state)
{
    (void)state;
    tg_cleanup();
    return 0;
}

/* ---- one_line ------------------------------------------------------------- */

static void test_one_line(void **state)
{
    (void)state;
    char s[64];
    strcpy(s, "  a\tb\n\n  c \x7f ");
    handle__one_line(s, 0);
    assert_string_equal(s, "a b c");
    strcpy(s, "abcdefghij");
    handle__one_line(s, 8);
    assert_string_equal(s, "abcde...");
    strcpy(s, "abcdefgh");
    handle__one_line(s, 8);
    assert_string_equal(s, "abcdefgh");
    strcpy(s, "abcdefghij");
    handle__one_line(s, 3); /* too small a limit: not cut */
    assert_string_equal(s, "abcdefghij");
    strcpy(s, "\n\n");
    handle__one_line(s, 0);
    assert_string_equal(s, "");
}

/* ---- the file itself -------------------------------------------------------- */

static void test_precheck(void **state)
{
    (void)state;
    assert_string_equal(refusal(tg_path("nothing-here.db")), "no such file");
    assert_string_equal(refusal(tg_dir()), "is a directory, not a trace");
    const char *fifo = tg_path("fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_string_equal(refusal(fifo), "not a regular file");
    char longname[PATH_MAX + 64];
    memset(longname, 'x', sizeof longname - 1);
    longname[0] = '/';
    longname[sizeof longname - 1] = '\0';
    assert_string_equal(refusal(longname), strerror(ENAMETOOLONG));

    const char *p = tg_path("f.db");
    tg_write(p, "", 0);
    assert_string_equal(refusal(p), "empty file");
    tg_write(p, "hello, this is not a database at all", 36);
    assert_string_equal(refusal(p), "not an SQLite database");
    tg_write(p, "SQLi", 4);
    assert_string_equal(refusal(p), "truncated SQLite database (4 bytes, shorter than its header)");
    unsigned char h[4096] = "SQLite format 3";
    h[16] = 3; /* page size 768 */
    tg_write(p, h, sizeof h);
    assert_string_equal(refusal(p), "corrupt SQLite header (page size 768)");
    h[16] = 1;
    h[17] = 0; /* page size 256 */
    tg_write(p, h, sizeof h);
    assert_string_equal(refusal(p), "corrupt SQLite header (page size 256)");
    /* 1 is 65536; no page count in the header (or one that is not valid,
     * being from another change counter): whole pages are all it checks */
    h[16] = 0;
    h[17] = 1;
    tg_write(p, h, sizeof h);
    assert_string_equal(refusal(p), "truncated SQLite database (4096 bytes, not a whole number of "
                                    "65536-byte pages)");
    h[31] = 2;
    h[92] = 1;
    tg_write(p, h, sizeof h);
    assert_string_equal(refusal(p), "truncated SQLite database (4096 bytes, not a whole number of "
                                    "65536-byte pages)");
    h[92] = 0; /* two pages by the header */
    h[31] = 2;
    memcpy(h + 92, h + 24, 4);
    tg_write(p, h, sizeof h);
    assert_string_equal(refusal(p), "truncated SQLite database (4096 of 131072 bytes)");

    /* A real trace cut short, or with bytes appended. */
    tg_make(p, fill);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(truncate(p, sb.st_size - 4096), 0);
    char want[128];
    snprintf(want, sizeof want, "truncated SQLite database (%lld of %lld bytes)",
             (long long)sb.st_size - 4096, (long long)sb.st_size);
    assert_string_equal(refusal(p), want);
    tg_make(p, fill);
    FILE *f = fopen(p, "ab");
    assert_non_null(f);
    fputs("junk", f);
    fclose(f);
    snprintf(want, sizeof want,
             "truncated SQLite database (%lld bytes, not a whole number of 4096-byte pages)",
             (long long)sb.st_size + 4);
    assert_string_equal(refusal(p), want);

    /* A header SQLite itself rejects (payload fractions must be 64/32/32). */
    tg_make(p, fill);
    f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, 21, SEEK_SET);
    fputc(0, f);
    fclose(f);
    assert_string_equal(refusal(p), "not an SQLite database");
    /* A regular file that cannot be read (EIO at offset 0). */
    assert_string_equal(refusal("/proc/self/mem"), "cannot read: Input/output error");

    /* No room for the reason: still refused, nothing written. */
    strcpy(err, "untouched");
    assert_null(handle__tr_open(tg_path("nothing-here.db"), err, 0));
    assert_string_equal(err, "untouched");
    handle__tr_close(NULL);
}

/* ---- meta and schema ------------------------------------------------------ */

static void expect_refusal(const char *damage, const char *want)
{
    const char *p = tg_path("m.db");
    tg_make(p, fill);
    tg_sql(p, "%s", damage);
    const char *got = refusal(p);
    if (strcmp(got, want) != 0)
        fail_msg("after %s:\n  got  '%s'\n  want '%s'", damage, got, want);
}

static void test_meta_refusals(void **state)
{
    (void)state;
    expect_refusal("DROP TABLE meta",
                   "an SQLite database but not a handle trace (no meta table)");
    expect_refusal("DELETE FROM meta WHERE key = 'format'",
                   "an SQLite database but not a handle trace (meta has no format)");
    expect_refusal("UPDATE meta SET value = 'sqlite-stats' WHERE key = 'format'",
                   "an SQLite database but not a handle trace (meta format is 'sqlite-stats')");
    expect_refusal("UPDATE meta SET value = X'68690a' WHERE key = 'format'",
                   "an SQLite database but not a handle trace (meta format is '68690a')");
    expect_refusal("UPDATE meta SET value = 'one' WHERE key = 'version'",
                   "bad trace: meta version 'one' is not a format version");
    expect_refusal("UPDATE meta SET value = '1x' WHERE key = 'version'",
                   "bad trace: meta version '1x' is not a format version");
    expect_refusal("UPDATE meta SET value = 0 WHERE key = 'version'",
                   "bad trace: meta version '0' is not a format version");
    expect_refusal("UPDATE meta SET value = NULL WHERE key = 'version'",
                   "bad trace: meta version '' is not a format version");
    expect_refusal("DELETE FROM meta WHERE key = 'version'",
                   "bad trace: meta version '' is not a format version");
    expect_refusal("UPDATE meta SET value = 2 WHERE key = 'version'",
                   "trace format version 2 is newer than this handle-report reads (1); use a "
                   "newer handle-report");
    expect_refusal("DROP TABLE errors", "not a handle trace (no such table: errors)");
    expect_refusal("DROP TABLE threads", "not a handle trace (no such table: threads)");
    expect_refusal("ALTER TABLE errors DROP COLUMN tag",
                   "not a handle trace (no such column: tag)");
    expect_refusal("DROP TABLE modules; CREATE TABLE modules(id INTEGER PRIMARY KEY, path TEXT)",
                   "not a handle trace (no such column: build_id)");
    expect_refusal("DROP TABLE meta; CREATE VIEW meta AS SELECT no_such_function(1) AS key, 2 AS value",
                   "bad trace: meta is a view, not a table");
    /* A view that compiles only when used: SQLite's own words. */
    expect_refusal("DROP VIEW leaks; CREATE VIEW leaks(created_stack, tag, created_ns) AS "
                   "SELECT no_such_function(1), 2, 3",
                   "no such function: no_such_function");
}

static void test_meta_lenient(void **state)
{
    (void)state;
    const char *p = tg_path("lenient.db");
    tg_make(p, fill);
    tg_sql(p, "DROP TABLE meta; CREATE TABLE meta(key TEXT, value);"
              "INSERT INTO meta VALUES ('format', 'handle-trace'), ('version', '1'),"
              "  (NULL, 'ignored'), ('pid', '0x10'), ('started_at', 1.5e18),"
              "  ('ended_at', 'soon'), ('exit_status', '-2'), ('exe', NULL),"
              "  ('cmdline', X'00ff'), ('other', 5)");
    struct handle__tr *t = must_open(p);
    const struct handle__tr_meta *m = handle__tr_meta(t);
    assert_int_equal(m->version, 1);
    assert_true(m->has_pid);
    assert_int_equal(m->pid, 16);
    assert_true(m->has_started);
    assert_int_equal(m->started_at, 1500000000000000000LL);
    assert_false(m->has_ended);
    assert_true(m->has_exit);
    assert_int_equal(m->exit_status, -2);
    assert_string_equal(m->exe, "");
    assert_string_equal(m->cmdline, "00ff");
    handle__tr_close(t);

    /* Out of range and not numbers: absent. */
    tg_sql(p, "UPDATE meta SET value = 1e30 WHERE key = 'pid';"
              "UPDATE meta SET value = '' WHERE key = 'started_at';"
              "UPDATE meta SET value = '-3z' WHERE key = 'exit_status';"
              "UPDATE meta SET value = '99999999999999999999' WHERE key = 'ended_at'");
    tg_sql(p, "INSERT INTO meta VALUES ('exit_status', -1e30), ('pid', '-99999999999999999999')");
    t = must_open(p);
    m = handle__tr_meta(t);
    assert_false(m->has_pid);
    assert_false(m->has_started);
    assert_false(m->has_exit);
    assert_false(m->has_ended);
    handle__tr_close(t);
}

/* ---- damaged pages (tg_smash) ------------------------------------------- */

static bool count_life(void *ctx, const struct handle__tr_life *l)
{
    (void)l;
    (*(int *)ctx)++;
    return true;
}

#define assert_corrupt(e) assert_string_equal(e, "corrupt or truncated database (database disk image is malformed)")

static void test_corrupt_pages(void **state)
{
    (void)state;
    const char *p = tg_path("corrupt.db");
    const struct handle__tr_module *mods;
    const struct handle__tr_group *g;
    const struct handle__tr_error *e;
    size_t n;
    int count = 0;

    tg_make(p, fill);
    tg_smash(p, "modules");
    struct handle__tr *t = must_open(p);
    assert_false(handle__tr_modules(t, &mods, &n, err, sizeof err));
    assert_corrupt(err);
    handle__tr_close(t);

    tg_make(p, fill);
    tg_smash(p, "live");
    t = must_open(p);
    assert_false(handle__tr_leak_groups(t, &g, &n, err, sizeof err));
    assert_corrupt(err);
    strcpy(err, "");
    assert_false(handle__tr_lifetimes(t, count_life, &count, err, sizeof err));
    assert_corrupt(err);
    handle__tr_close(t);

    tg_make(p, fill);
    tg_smash(p, "errors");
    t = must_open(p);
    assert_false(handle__tr_errors(t, &e, &n, err, sizeof err));
    assert_corrupt(err);
    handle__tr_close(t);

    tg_make(p, fill);
    tg_smash(p, "batches");
    t = must_open(p);
    assert_false(handle__tr_lifetimes(t, count_life, &count, err, sizeof err));
    assert_corrupt(err);
    handle__tr_close(t);

    /* Stacks: by index and by a scan of a table without one. */
    uint32_t ids[] = {1, 2};
    tg_make(p, fill);
    tg_smash(p, "stacks");
    t = must_open(p);
    assert_false(handle__tr_load_stacks(t, ids, 2, err, sizeof err));
    assert_corrupt(err);
    handle__tr_close(t);
    tg_make(p, fill);
    tg_sql(p, "PRAGMA legacy_alter_table=ON; /* the frames view names stacks */"
              "CREATE TABLE s2 AS SELECT * FROM stacks; DROP TABLE stacks;"
              "ALTER TABLE s2 RENAME TO stacks");
    tg_smash(p, "stacks");
    t = must_open(p);
    assert_false(handle__tr_load_stacks(t, ids, 2, err, sizeof err));
    assert_corrupt(err);
    handle__tr_close(t);

    tg_make(p, fill);
    tg_smash(p, "meta");
    assert_corrupt(refusal(p));

    /* tags: the fast decoder gives up, the view then fails. */
    tg_make(p, fill);
    tg_smash(p, "tags");
    t = must_open(p);
    assert_false(handle__tr_lifetimes(t, count_life, &count, err, sizeof err));
    assert_corrupt(err);
    handle__tr_close(t);

    /* The schema page itself. */
    tg_make(p, fill);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, 100, SEEK_SET);
    char junk[3000];
    memset(junk, 0x5a, sizeof junk);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    const char *r = refusal(p);
    assert_true(strncmp(r, "corrupt or truncated database (", 31) == 0);
}

/* A writer holding its lock (a -journal beside the file): busy, then
 * refused after the 2 s busy timeout. */
static void test_locked(void **state)
{
    (void)state;
    const char *p = tg_path("locked.db");
    tg_make(p, fill);
    sqlite3 *w = tg_open(p);
    tg_exec(w, "BEGIN EXCLUSIVE; INSERT INTO tags VALUES (9, 'x')");
    assert_string_equal(refusal(p), "the database is locked (database is locked)");
    tg_exec(w, "ROLLBACK");
    sqlite3_close(w);
}

/* ---- WAL traces ------------------------------------------------------------ */

/* dst and dst-wal as a killed writer leaves them: pid 777 only in the WAL. */
static void make_wal_trace(const char *dst)
{
    const char *src = tg_path("walsrc.db");
    tg_make(src, fill);
    sqlite3 *w = tg_open(src);
    tg_exec(w, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
               "UPDATE meta SET value = 777 WHERE key = 'pid'");
    char cmd[3 * PATH_MAX];
    tg_unlink_all(dst);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && cp '%s-wal' '%s-wal'", src, dst, src, dst);
    assert_int_equal(system(cmd), 0);
    sqlite3_close(w);
}

static int count_entries(const char *dir)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", dir);
    return system(cmd) == 0 ? 0 : 1;
}

static void test_wal(void **state)
{
    (void)state;
    char p[PATH_MAX], tmp[PATH_MAX]; /* tg_path's buffers are reused */
    snprintf(p, sizeof p, "%s", tg_path("wal.db"));
    snprintf(tmp, sizeof tmp, "%s", tg_path("tmp"));
    char shm[PATH_MAX + 8], wal[PATH_MAX + 8];
    snprintf(shm, sizeof shm, "%s-shm", p);
    snprintf(wal, sizeof wal, "%s-wal", p);

    /* In place: the WAL's transaction is read. */
    make_wal_trace(p);
    struct handle__tr *t = must_open(p);
    assert_int_equal(handle__tr_meta(t)->pid, 777);
    handle__tr_close(t);

    /* An empty -wal beside a complete file (a writer that just started,
     * or checkpointed): read through it. */
    tg_make(p, fill);
    tg_write(wal, "", 0);
    t = must_open(p);
    assert_int_equal(handle__tr_meta(t)->pid, 4242);
    handle__tr_close(t);
    unlink(wal);

    /* No -shm can be made beside it (a read-only directory for anyone but
     * root; here a -shm that is a dangling symlink into nowhere): read
     * from a private copy, which is gone after close. */
    mkdir(tmp, 0700);
    char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", tmp, 1);
    make_wal_trace(p);
    unlink(shm);
    assert_int_equal(symlink("/nonexistent-dir/x/shm", shm), 0);
    t = must_open(p);
    assert_int_equal(handle__tr_meta(t)->pid, 777);
    assert_int_equal(count_entries(tmp), 1);
    handle__tr_close(t);
    assert_int_equal(count_entries(tmp), 0);

    /* TMPDIR empty or unset: /tmp. */
    setenv("TMPDIR", "", 1);
    t = must_open(p);
    assert_int_equal(handle__tr_meta(t)->pid, 777);
    handle__tr_close(t);
    unsetenv("TMPDIR");
    t = must_open(p);
    assert_int_equal(handle__tr_meta(t)->pid, 777);
    handle__tr_close(t);
    /* longer than a path can be: no copy */
    char *longdir = __real_malloc(PATH_MAX + 100);
    assert_non_null(longdir);
    memset(longdir, 'd', PATH_MAX + 99);
    longdir[0] = '/';
    longdir[PATH_MAX + 99] = '\0';
    setenv("TMPDIR", longdir, 1);
    free(longdir);
    assert_string_equal(refusal(p), "cannot copy it and its -wal file to a temporary directory (TMPDIR) to read them "
                                    "without changing them");

    /* Allocations failing on the way: refused for want of memory (a copy
     * whose directory name cannot be kept cannot be made either). */
    setenv("TMPDIR", tmp, 1);
    for (long at = 0;; at++) {
        char why[256] = "";
        oom_arm(at, false);
        t = handle__tr_open(p, why, sizeof why);
        bool hit = oom_disarm();
        if (t == NULL && strcmp(why, "out of memory") != 0 &&
            strcmp(why, "cannot copy it and its -wal file to a temporary directory (TMPDIR) to "
                        "read them without changing them") != 0)
            fail_msg("allocation %ld failing: %s", at, why);
        if (t)
            assert_int_equal(handle__tr_meta(t)->pid, 777);
        handle__tr_close(t);
        assert_int_equal(count_entries(tmp), 0);
        if (!hit) {
            assert_non_null(t);
            break;
        }
    }

    /* Nor a copy. */
    setenv("TMPDIR", "/nonexistent-dir/tmp", 1);
    assert_string_equal(refusal(p), "cannot copy it and its -wal file to a temporary directory (TMPDIR) to read them "
                                    "without changing them");
    /* A -wal that is a symbolic link (dangling, or to a file SQLite
     * cannot read in place): refused, nothing copied. */
    setenv("TMPDIR", tmp, 1);
    static const char linked[] = "cannot read its -wal file: a symbolic link, not a regular file";
    unlink(wal);
    assert_int_equal(symlink("/nonexistent-dir/x/wal", wal), 0);
    assert_string_equal(refusal(p), linked);
    assert_int_equal(count_entries(tmp), 0);
    make_wal_trace(p);
    unlink(wal);
    assert_int_equal(symlink("/proc/self/mem", wal), 0);
    assert_string_equal(refusal(p), linked);
    assert_int_equal(count_entries(tmp), 0);
    unlink(shm);
    assert_int_equal(symlink("/nonexistent-dir/x/shm", shm), 0);
    assert_string_equal(refusal(p), linked);
    assert_int_equal(count_entries(tmp), 0);
    if (old) {
        setenv("TMPDIR", old, 1);
        free(old);
    } else {
        unsetenv("TMPDIR");
    }
    unlink(shm);
    unlink(wal);
}

/* Paths SQLite takes as URIs: relative, and with characters a URI
 * escapes. */
static void test_paths(void **state)
{
    (void)state;
    const char *dir = tg_path("odd dir?#%");
    assert_int_equal(mkdir(dir, 0700), 0);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/tr ace&=%%41+\xc3\xa9.db", dir);
    tg_make(p, fill);
    struct handle__tr *t = must_open(p);
    assert_int_equal(handle__tr_meta(t)->pid, 4242);
    handle__tr_close(t);
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    t = handle__tr_open("tr ace&=%41+\xc3\xa9.db", err, sizeof err);
    assert_int_equal(chdir(cwd), 0);
    assert_non_null(t);
    assert_int_equal(handle__tr_meta(t)->pid, 4242);
    handle__tr_close(t);
}

/* ---- tables read leniently ------------------------------------------------- */

static void test_modules(void **state)
{
    (void)state;
    const char *p = tg_path("mods.db");
    tg_make(p, "INSERT INTO modules VALUES (0, '/zero', '', 0, 0, 0, 0, NULL),"
               "  (-4, '/neg', '', 0, 0, 0, 0, NULL), (4294967296, '/big', '', 0, 0, 0, 0, NULL),"
               "  (4294967295, NULL, X'00abff', '0x1000', 8192.0, 'junk', 0, NULL),"
               "  (3, '/lib/odd path/%41.so', NULL, -1, '-0x10', NULL, 0, NULL)");
    struct handle__tr *t = must_open(p);
    const struct handle__tr_module *m;
    size_t n;
    assert_true(handle__tr_modules(t, &m, &n, err, sizeof err));
    assert_int_equal(n, 2);
    assert_int_equal(m[0].id, 3);
    assert_string_equal(m[0].path, "/lib/odd path/%41.so");
    assert_string_equal(m[0].build_id, "");
    assert_int_equal(m[0].bias, UINT64_MAX);
    assert_int_equal(m[0].lo, (uint64_t)-16);
    assert_int_equal(m[0].hi, 0);
    assert_int_equal(m[1].id, 4294967295u);
    assert_string_equal(m[1].path, "");
    assert_string_equal(m[1].build_id, "00abff");
    assert_int_equal(m[1].bias, 0x1000);
    assert_int_equal(m[1].lo, 8192);
    assert_int_equal(m[1].hi, 0);
    /* A second call reads the table again. */
    assert_true(handle__tr_modules(t, &m, &n, err, sizeof err));
    assert_int_equal(n, 2);
    handle__tr_close(t);
}

static void test_groups_and_tags(void **state)
{
    (void)state;
    const char *p = tg_path("groups.db");
    /* 100 distinct tags (the intern table grows), odd stacks and times. */
    tg_make(p, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 100)"
               "  INSERT INTO tags SELECT i, 'tag' || i FROM k;"
               "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 200)"
               "  INSERT INTO live SELECT i, (i % 100) + 1, i * 10, 1, 5 FROM k;"
               "INSERT INTO live VALUES (1000, NULL, NULL, 1, 'junk'), (1001, 555, 'x', 1, -7),"
               "  (1002, NULL, 5, 1, 4294967296)");
    struct handle__tr *t = must_open(p);
    const struct handle__tr_group *g;
    size_t n;
    assert_true(handle__tr_leak_groups(t, &g, &n, err, sizeof err));
    assert_int_equal(n, 100 + 1); /* three odd stacks, all "none": one group */
    size_t untagged = 0, tagged = 0;
    for (size_t i = 0; i < n; i++) {
        if (g[i].tag == 0) {
            /* 'junk', -7 and 2^32 are no stack ids; NULL and 'x' no time */
            assert_int_equal(g[i].stack, 0);
            untagged += g[i].count;
            continue;
        }
        const char *name = handle__tr_tag(t, g[i].tag);
        assert_non_null(name);
        int k = atoi(name + 3);
        assert_int_equal(g[i].stack, 5);
        assert_int_equal(g[i].count, 2);
        /* handles k-1 and k+99 (k-1 = 0 is handle 100) */
        assert_int_equal(g[i].first_ns, (k == 1 ? 100 : k - 1) * 10);
        tagged += g[i].count;
    }
    assert_int_equal(tagged, 200);
    assert_int_equal(untagged, 3);
    assert_null(handle__tr_tag(t, 0));
    assert_null(handle__tr_tag(t, 100000));
    handle__tr_close(t);
}

static void test_errors(void **state)
{
    (void)state;
    const char *p = tg_path("errors.db");
    tg_make(p, "INSERT INTO errors VALUES (1, '', '0x10', 5, -5, 0, NULL, NULL, 8589934592, -1,"
               "  'x', 'y'),"
               "  (2, 'use-after-delete', 3, 'late', 2, 1, 'gone', 'conn', 1, 2, 3, 4)");
    struct handle__tr *t = must_open(p);
    const struct handle__tr_error *e;
    size_t n;
    assert_true(handle__tr_errors(t, &e, &n, err, sizeof err));
    assert_int_equal(n, 2);
    /* ORDER BY at_ns: text sorts after numbers */
    assert_string_equal(e[0].kind, "unknown");
    assert_int_equal(e[0].handle, 16);
    assert_int_equal(e[0].at_ns, 5);
    assert_int_equal(e[0].thread, -1);
    assert_int_equal(e[0].stack, 0);
    assert_string_equal(e[0].message, "");
    assert_null(e[0].tag);
    assert_int_equal(e[0].created_thread, -1);
    assert_int_equal(e[0].created_stack, 0);
    assert_int_equal(e[0].deleted_thread, -1);
    assert_int_equal(e[0].deleted_stack, 0);
    assert_string_equal(e[1].kind, "use-after-delete");
    assert_int_equal(e[1].at_ns, 0); /* 'late' is no time */
    assert_int_equal(e[1].thread, 2);
    assert_string_equal(e[1].message, "gone");
    assert_string_equal(e[1].tag, "conn");
    assert_int_equal(e[1].created_thread, 1);
    assert_int_equal(e[1].created_stack, 2);
    assert_int_equal(e[1].deleted_thread, 3);
    assert_int_equal(e[1].deleted_stack, 4);
    handle__tr_close(t);
}

/* ---- stacks ---------------------------------------------------------------- */

static void check_stacks(struct handle__tr *t)
{
    struct handle__tr_stack s;
    uint32_t ids[] = {1, 0, 99, 1, 2};
    assert_true(handle__tr_load_stacks(t, ids, 5, err, sizeof err));
    assert_true(handle__tr_stack(t, 1, &s));
    assert_int_equal(s.depth, 2);
    assert_int_equal(s.pcs[0], 4200);
    assert_int_equal(s.pcs[1], 4300);
    assert_int_equal(s.modules[0], 1);
    assert_false(handle__tr_stack(t, 99, &s)); /* no rows */
    assert_int_equal(s.depth, 0);
    assert_false(handle__tr_stack(t, 0, &s));
    assert_false(handle__tr_stack(t, 3, &s)); /* not loaded */
    /* Loaded before, new ones, odd values, a stack too deep to keep. */
    uint32_t more[] = {1, 3, 6, 7};
    assert_true(handle__tr_load_stacks(t, more, 4, err, sizeof err));
    assert_true(handle__tr_stack(t, 1, &s));
    assert_int_equal(s.depth, 2);
    assert_int_equal(s.pcs[1], 4300);
    assert_true(handle__tr_stack(t, 3, &s));
    assert_int_equal(s.depth, 1);
    assert_int_equal(s.modules[0], 0);
    assert_true(handle__tr_stack(t, 6, &s));
    assert_int_equal(s.depth, 3);
    assert_int_equal(s.pcs[0], 0x7f00);
    assert_int_equal(s.modules[0], 2);
    assert_int_equal(s.pcs[1], 0);
    assert_int_equal(s.modules[1], 0);
    assert_int_equal(s.pcs[2], 12);
    assert_true(handle__tr_stack(t, 7, &s));
    assert_int_equal(s.depth, 1024);
    assert_int_equal(s.pcs[1023], 1023);
    /* Nothing new: no query. */
    uint32_t old[] = {0, 1, 3};
    assert_true(handle__tr_load_stacks(t, old, 3, err, sizeof err));
    assert_true(handle__tr_load_stacks(t, NULL, 0, err, sizeof err));
    /* Many ids at once (the index grows), most of them unknown. */
    uint32_t many[600];
    for (uint32_t i = 0; i < 600; i++)
        many[i] = 1000 + i;
    assert_true(handle__tr_load_stacks(t, many, 600, err, sizeof err));
    assert_true(handle__tr_stack(t, 1001, &s));
    assert_int_equal(s.pcs[0], 77);
    assert_false(handle__tr_stack(t, 1002, &s));
    assert_true(handle__tr_stack(t, 6, &s));
    assert_int_equal(s.depth, 3);
}

static const char stack_rows[] =
    "INSERT INTO stacks VALUES (6, 0, '0x7f00', '2'), (6, 1, 'zz', -1), (6, 2, 12.0, 4294967296);"
    "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 1099)"
    "  INSERT INTO stacks SELECT 7, i, i, 1 FROM k;"
    "INSERT INTO stacks VALUES (1001, 0, 77, 1);";

static void test_stacks(void **state)
{
    (void)state;
    const char *p = tg_path("stacks.db");
    tg_make(p, fill);
    tg_sql(p, "%s", stack_rows);
    struct handle__tr *t = must_open(p);
    check_stacks(t);
    handle__tr_close(t);
    /* The same without an index on id: one ordered pass per load. */
    tg_sql(p, "PRAGMA legacy_alter_table=ON; /* the frames view names stacks */"
              "CREATE TABLE s2 AS SELECT * FROM stacks; DROP TABLE stacks;"
              "ALTER TABLE s2 RENAME TO stacks");
    t = must_open(p);
    check_stacks(t);
    handle__tr_close(t);
}

/* ---- lifetimes ------------------------------------------------------------- */

struct lives {
    struct handle__tr *t;
    char **row;
    size_t n, cap;
    size_t stop_after; /* 0: never */
};

static void add_row(struct lives *L, uint32_t stack, const char *tag, int64_t c, bool deleted,
                    int64_t d)
{
    if (L->n == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 16;
        L->row = __real_realloc(L->row, L->cap * sizeof *L->row);
        assert_non_null(L->row);
    }
    char buf[256];
    if (deleted)
        snprintf(buf, sizeof buf, "%u|%s|%lld|%lld", stack, tag ? tag : "-", (long long)c,
                 (long long)d);
    else
        snprintf(buf, sizeof buf, "%u|%s|%lld|live", stack, tag ? tag : "-", (long long)c);
    L->row[L->n++] = __real_strdup(buf); /* not failed by oom_arm */
}

static bool on_life(void *ctx, const struct handle__tr_life *l)
{
    struct lives *L = ctx;
    add_row(L, l->stack, handle__tr_tag(L->t, l->tag), l->created_ns, l->deleted, l->deleted_ns);
    return L->stop_after == 0 || L->n < L->stop_after;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void lives_free(struct lives *L)
{
    for (size_t i = 0; i < L->n; i++)
        free(L->row[i]);
    free(L->row);
    memset(L, 0, sizeof *L);
}

/* A column as the reader takes numbers (trace_read.h): integers, floats
 * within int64's range, decimal or 0x text; anything else is absent. */
static bool num(sqlite3_stmt *s, int i, int64_t *v)
{
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_INTEGER:
        *v = sqlite3_column_int64(s, i);
        return true;
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(s, i);
        *v = (int64_t)d;
        return d > -9.2e18 && d < 9.2e18;
    }
    case SQLITE_TEXT: {
        char *end;
        const char *t = (const char *)sqlite3_column_text(s, i);
        *v = strtoll(t, &end, 0);
        return *t && !*end;
    }
    default:
        return false;
    }
}

/* What the handles view itself says, with the reader's rules for odd
 * values (ids outside 1..2^32-1 are none, non-numbers 0 or absent). */
static void view_rows(const char *path, struct lives *L)
{
    sqlite3 *db = tg_open(path);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT created_stack, tag, created_ns, deleted_ns "
                                            "FROM handles", -1, &s, NULL),
                     SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        int64_t st = 0, c = 0, d = 0;
        bool has_st = num(s, 0, &st);
        uint32_t stack = has_st && st > 0 && st <= (int64_t)UINT32_MAX ? (uint32_t)st : 0;
        const char *tag = (const char *)sqlite3_column_text(s, 1);
        char *tagc = tag ? __real_strdup(tag) : NULL;
        if (!num(s, 2, &c))
            c = 0;
        bool deleted = num(s, 3, &d);
        add_row(L, stack, tagc, c, deleted, d);
        free(tagc);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* The reader's lifetimes of path equal the view's. */
static void expect_like_view(const char *path, size_t want_rows)
{
    struct lives a = {0}, b = {0};
    a.t = must_open(path);
    if (!handle__tr_lifetimes(a.t, on_life, &a, err, sizeof err))
        fail_msg("lifetimes: %s", err);
    view_rows(path, &b);
    qsort(a.row, a.n, sizeof *a.row, str_cmp);
    qsort(b.row, b.n, sizeof *b.row, str_cmp);
    if (a.n != want_rows || a.n != b.n) {
        for (size_t i = 0; i < a.n || i < b.n; i++)
            print_message("%-40s %s\n", i < a.n ? a.row[i] : "", i < b.n ? b.row[i] : "");
        fail_msg("%zu rows from the reader, %zu from the view, %zu expected", a.n, b.n, want_rows);
    }
    for (size_t i = 0; i < a.n; i++)
        if (strcmp(a.row[i], b.row[i]) != 0)
            fail_msg("row %zu: reader '%s', view '%s'", i, a.row[i], b.row[i]);
    handle__tr_close(a.t);
    lives_free(&a);
    lives_free(&b);
}

/* Batches of every shape. A trace whose meta.layout names the writer's
 * layout is decoded by the writer's codec, which takes exactly what it
 * writes: any other row is damage, and reading stops with one line naming
 * it. A trace without the key (or of another layout) is read through its
 * `handles` view, as SQLite unpacks it. */
static const char odd_batches[] =
    "INSERT INTO batches(base_ns, n, skip, data) VALUES"
    "  (2000, 2, 1, '[[1,2,3,4,1,1,1,0],[7,3,5,1,2,1,2,0,3]]'),"   /* skip 1 */
    "  (3000, 0, 0, '[]'),"
    "  (3000, 0, 0, '[] '),"                                     /* white space: SQLite */
    "  (4000, 1, 0, '[[0.5,10,5,1,1,1,1,0]]'),"                    /* a fraction */
    "  (4000, 1, 0, '[[1,2,3,4,1,1,1,0,2,9]]'),"                   /* ten values */
    "  (4000, 1, 0, '[[1,2,3,4,1,1,1]]'),"                         /* seven */
    "  (4000, 1, 0, '[[12345678901234567890,1,1,1,1,1,1,0]]'),"    /* 20 digits */
    "  (4000, 1, 0, '[[9999999999999999999,1,1,1,1,1,1,0]]'),"     /* > INT64_MAX */
    "  (4000, 1, 0, '[[-5,-2,1,1,1,1,-3,0]]'),"                    /* negatives */
    "  ('4000', 1, 0, '[[1,2,3,4,1,1,1,0]]'),"                     /* text base */
    "  (4000, '0', 0, '[[1,2,3,4,1,1,1,0]]'),"                     /* text n: ignored */
    "  (4000, 1, '0', '[[1,2,3,4,1,1,1,0]]'),"                     /* text skip */
    "  (4000, 1, 0, '[[1,2,3,4,1,1,4294967296,0]]'),"              /* stack id too big */
    "  (4000, 1, 0, '[[1,2,3,4,77,1,1,0]]'),"                      /* unknown tag id */
    "  (4000, 1, 0, '[[1,2,3,4,1,1,1,0] ,[1,2,3,4,1,1,1,0]]'),"    /* white space */
    "  (4000, 2, 0, '[[1,2,3,4,1,1,1,0],[1,2,3,4,1,1,1,0]]'),"
    "  (4000, 1, 0, '[1,2]'),"                                     /* not nested */
    "  (4000, 1, 0, '[[ 1,2,3,4,1,1,1,0]]'),"                     /* white space */
    "  (4000, 1, 0, X'5b5b312c322c332c342c312c312c312c305d5d')";   /* a blob */

/* The lifetimes each row of odd_batches gives the codec, in order; -1:
 * the codec refuses the row. */
static const int odd_taken[] = {1, 0, -1, -1, -1, -1, -1, -1, -1, 1, 1, 1, -1, 1, -1, 2, -1, -1, -1};

static void test_lifetimes_shapes(void **state)
{
    (void)state;
    const char *p = tg_path("life.db");
    tg_make(p, fill);
    expect_like_view(p, 6);
    /* every shape through the view: a trace without meta.layout */
    tg_sql(p, "DELETE FROM meta WHERE key = 'layout'");
    tg_sql(p, "%s", odd_batches);
    expect_like_view(p, 26);
}

/* Each odd row alone in a trace of the writer's layout: the codec takes
 * it and gives what the view gives, or the reading stops naming the row. */
static void test_lifetimes_layout_rows(void **state)
{
    (void)state;
    const char *p = tg_path("rows.db");
    const char *q = odd_batches + strlen("INSERT INTO batches(base_ns, n, skip, data) VALUES");
    for (size_t i = 0; i < sizeof odd_taken / sizeof odd_taken[0]; i++) {
        /* the i-th "(...)" of the VALUES list */
        const char *a = strchr(q, '(');
        assert_non_null(a);
        const char *b = strstr(a, "),");
        size_t len = b ? (size_t)(b - a) + 1 : strlen(a);
        tg_make(p, fill);
        tg_sql(p, "INSERT INTO batches(base_ns, n, skip, data) VALUES %.*s", (int)len, a);
        if (odd_taken[i] >= 0) {
            expect_like_view(p, 6 + (size_t)odd_taken[i]);
        } else {
            struct handle__tr *t = must_open(p);
            struct lives L = {.t = t};
            strcpy(err, "");
            if (handle__tr_lifetimes(t, on_life, &L, err, sizeof err))
                fail_msg("row %zu of odd_batches taken: %.*s", i, (int)len, a);
            assert_string_equal(err, "bad trace: batches row 2 is not of layout " HANDLE__LAYOUT_JSON);
            lives_free(&L);
            handle__tr_close(t);
        }
        q = a + len;
    }
}

/* The writer's codec (lib/format/lifetimes.c), which the writer, this
 * reader and these tests share: what it encodes decodes to the same
 * lifetimes, the handles view unpacks the same values, and the reader
 * gives what the view gives. Edge values: the largest ids, a lifetime the
 * exit check completed (no deleting thread), one deleted by another
 * thread, a created_ns before the batch's base. */
static const struct handle__lifetime codec_cases[] = {
    {(5ULL << 32) | 7, 100, 150, 1, 0, 3, 0, 4},
    {((uint64_t)UINT32_MAX << 32) | UINT32_MAX, 0, 1ULL << 62, 0, UINT32_MAX - 1, UINT32_MAX,
     HANDLE__CODEC_NO_THREAD, 0},
    {1, 200, 200, 2, 1, 1, 2, 2},
    {(1ULL << 32) | 9, 10, 160, 0, 3, 0, 3, 0},
};

/* a is b, field by field (the struct's padding is not a value). */
static void expect_same_lifetime(const struct handle__lifetime *a, const struct handle__lifetime *b)
{
    assert_int_equal(a->h, b->h);
    assert_int_equal(a->created_ns, b->created_ns);
    assert_int_equal(a->deleted_ns, b->deleted_ns);
    assert_int_equal(a->tag, b->tag);
    assert_int_equal(a->created_thread, b->created_thread);
    assert_int_equal(a->created_stack, b->created_stack);
    assert_int_equal(a->deleted_thread, b->deleted_thread);
    assert_int_equal(a->deleted_stack, b->deleted_stack);
}

/* The row of handles at s (handle, tag, created_ns, created_thread,
 * created_stack, deleted_ns, deleted_thread, deleted_stack) is l, with
 * tags 1 'conn' and 2 'file', NULL for a 0 id or no deleting thread. */
static void expect_view_row(sqlite3_stmt *s, const struct handle__lifetime *l)
{
    assert_int_equal((uint64_t)sqlite3_column_int64(s, 0), l->h);
    if (l->tag == 0)
        assert_int_equal(sqlite3_column_type(s, 1), SQLITE_NULL);
    else
        assert_string_equal(sqlite3_column_text(s, 1), l->tag == 1 ? "conn" : "file");
    assert_int_equal(sqlite3_column_int64(s, 2), (int64_t)l->created_ns);
    assert_int_equal(sqlite3_column_int64(s, 3), l->created_thread);
    if (l->created_stack == 0)
        assert_int_equal(sqlite3_column_type(s, 4), SQLITE_NULL);
    else
        assert_int_equal(sqlite3_column_int64(s, 4), l->created_stack);
    assert_int_equal(sqlite3_column_int64(s, 5), (int64_t)l->deleted_ns);
    if (l->deleted_thread == HANDLE__CODEC_NO_THREAD)
        assert_int_equal(sqlite3_column_type(s, 6), SQLITE_NULL);
    else
        assert_int_equal(sqlite3_column_int64(s, 6), l->deleted_thread);
    if (l->deleted_stack == 0)
        assert_int_equal(sqlite3_column_type(s, 7), SQLITE_NULL);
    else
        assert_int_equal(sqlite3_column_int64(s, 7), l->deleted_stack);
}

static bool collect(void *ctx, const struct handle__lifetime *l)
{
    struct handle__lifetime **out = ctx;
    *(*out)++ = *l;
    return true;
}

static void test_codec_round_trip(void **state)
{
    (void)state;
    const size_t n = sizeof codec_cases / sizeof codec_cases[0];
    struct handle__chunk c;
    assert_true(handle__chunk_init(&c));
    for (size_t i = 0; i < n; i++)
        assert_false(handle__chunk_add(&c, &codec_cases[i]));
    size_t len;
    const char *text = handle__chunk_text(&c, &len);
    for (int64_t skip = 0; skip <= (int64_t)n; skip++) {
        struct handle__lifetime got[8], *w = got;
        assert_int_equal(handle__chunk_decode(text, len, (int64_t)c.base, skip, collect, &w), n);
        assert_int_equal(w - got, (long)n - skip);
        for (size_t i = (size_t)skip; i < n; i++) {
            expect_same_lifetime(&got[i - (size_t)skip], &codec_cases[i]);
        }
    }
    /* one byte less, or one more, is not a chunk */
    assert_int_equal(handle__chunk_decode(text, len - 1, 0, 0, NULL, NULL), -1);
    char *more = malloc(len + 2);
    memcpy(more, text, len);
    more[len] = ' ';
    assert_int_equal(handle__chunk_decode(more, len + 1, 0, 0, NULL, NULL), -1);
    free(more);
    handle__chunk_free(&c);

    const char *p = tg_path("codec.db");
    tg_make(p, "INSERT INTO tags VALUES (1, 'conn'), (2, 'file')");
    tg_batch(p, 0, codec_cases, n);
    tg_batch(p, 2, codec_cases, n);
    expect_like_view(p, n + n - 2);
    sqlite3 *db = tg_open(p);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT handle, tag, created_ns, created_thread, "
                                            "created_stack, deleted_ns, deleted_thread, "
                                            "deleted_stack FROM handles LIMIT 4", -1, &s, NULL),
                     SQLITE_OK);
    for (size_t i = 0; i < n; i++) {
        const struct handle__lifetime *l = &codec_cases[i];
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        expect_view_row(s, l);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* ---- the wide rows of HANDLE__TRACE_LAYOUT ------------------------------- */

/* fill without its batches row: for traces of the writer's layout today. */
static const char *fill_wide(void)
{
    static char buf[sizeof fill];
    const char *b = strstr(fill, "INSERT INTO batches");
    const char *e = strstr(b, "INSERT INTO errors");
    snprintf(buf, sizeof buf, "%.*s%s", (int)(b - fill), fill, e);
    return buf;
}

/* The codec of the rows (lib/format/lifetimes.c): each of codec_cases
 * survives encoding and decoding; in a trace, rows of them (whole, their
 * first slots dropped as max_history drops them, a row ended early by a
 * commit) read as the view gives them, and the view gives every column of
 * SPEC section 5 as the lifetime had it. */
static void test_wide_codec_round_trip(void **state)
{
    (void)state;
    const size_t n = sizeof codec_cases / sizeof codec_cases[0];
    for (size_t i = 0; i < n; i++) {
        struct handle__wslot ws;
        struct handle__lifetime a;
        const struct handle__lifetime *b = &codec_cases[i];
        handle__wslot_encode(b, &ws);
        assert_false(ws.null[HANDLE__RF_H] || ws.null[HANDLE__RF_C] || ws.null[HANDLE__RF_D] ||
                     ws.null[HANDLE__RF_S]);
        assert_true(handle__wslot_decode(&ws, &a));
        expect_same_lifetime(&a, b);
    }

    const char *p = tg_path("wide.db");
    tg_make_wide(p, fill_wide());
    tg_row(p, 0, codec_cases, n);      /* slots 0-3 */
    tg_row(p, 2, codec_cases, n);      /* slots 2-5 */
    tg_row(p, 6, codec_cases, n);      /* slots 6, 7 and a second row */
    tg_row(p, 7, codec_cases + 3, 1);  /* slot 7 alone */
    expect_like_view(p, 4 + 3 * n + 1);
    sqlite3 *db = tg_open(p);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT handle, tag, created_ns, created_thread, "
                                            "created_stack, deleted_ns, deleted_thread, "
                                            "deleted_stack FROM handles WHERE handle = ? AND "
                                            "deleted_ns IS NOT NULL", -1, &s,
                                        NULL),
                     SQLITE_OK);
    for (size_t i = 0; i < n; i++) {
        const struct handle__lifetime *l = &codec_cases[i];
        sqlite3_bind_int64(s, 1, (int64_t)l->h);
        /* three copies (the fourth row has only the last case) */
        for (int copy = 0; copy < 3 + (i == 3); copy++) {
            assert_int_equal(sqlite3_step(s), SQLITE_ROW);
            expect_view_row(s, l);
        }
        assert_int_equal(sqlite3_step(s), SQLITE_DONE);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    /* 4 + 2 + 2 + 2 + 1 slots used in 5 rows */
    sqlite3_stmt *c;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM lifetimes", -1, &c, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(c), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(c, 0), 5);
    sqlite3_finalize(c);
    sqlite3_close(db);
}

/* Rows of every shape, each alone in a trace of the writer's layout: the
 * codec takes the slots the writer could have written (and gives what the
 * view gives), or reading stops naming the row. Columns: h0, c0, d0, s0,
 * e0, t0, h1. */
static const struct {
    const char *values;
    int taken; /* -1: refused */
} odd_rows[] = {
    {"5, 100, 50, (1 << 32) | 3, NULL, NULL, NULL", 1},         /* no deleting thread */
    {"NULL, 'x', 1.5, NULL, x'00', 'y', NULL", 0},              /* empty slot: ignored */
    {"NULL, NULL, NULL, NULL, NULL, NULL, 7", -1},              /* h1 alone: c1 NULL */
    {"5, 'x', 1, 1, NULL, NULL, NULL", -1},                     /* text */
    {"5, 1.5, 1, 1, NULL, NULL, NULL", -1},                     /* a fraction */
    {"5, 1, 2, NULL, 1, NULL, NULL", -1},                       /* s NULL */
    {"5, 1, 2, 3, 4, 4294967296, NULL", -1},                    /* tag id too big */
    {"5, 1, 2, 3, 4, -1, NULL", -1},                            /* negative tag id */
    {"5, -9, -5, -1, -1, 0, NULL", 1},                          /* negatives, tag 0 */
    {"5, 1, 2, 3, (7 << 32) | 2, 77, NULL", 1},                 /* unknown tag id */
    {"5, 1, 2, 3, 'e', NULL, NULL", -1},                        /* text e */
    {"x'05', 1, 2, 3, NULL, NULL, NULL", -1},                   /* a blob handle */
    {"'5', 1, 2, 3, NULL, NULL, NULL", -1},                     /* a text handle */
    {"-1, 9223372036854775806, 1, 3, 0, 2, NULL", 1},           /* the latest deletion */
    {"5, 9223372036854775807, 1, 3, 0, 2, NULL", -1},           /* deleted beyond int64 */
    {"5, -9223372036854775808, -1, 3, 0, 2, NULL", -1},
};

static void test_wide_layout_rows(void **state)
{
    (void)state;
    const char *p = tg_path("wrows.db");
    for (size_t i = 0; i < sizeof odd_rows / sizeof odd_rows[0]; i++) {
        tg_make_wide(p, fill_wide());
        tg_sql(p, "INSERT INTO lifetimes(id, h0, c0, d0, s0, e0, t0, h1) VALUES (1, %s)",
               odd_rows[i].values);
        if (odd_rows[i].taken >= 0) {
            expect_like_view(p, 4 + (size_t)odd_rows[i].taken);
            continue;
        }
        struct handle__tr *t = must_open(p);
        struct lives L = {.t = t};
        strcpy(err, "");
        if (handle__tr_lifetimes(t, on_life, &L, err, sizeof err))
            fail_msg("row %zu of odd_rows taken: %s", i, odd_rows[i].values);
        assert_string_equal(err, "bad trace: lifetimes row 1 is not of layout " HANDLE__TRACE_LAYOUT);
        lives_free(&L);
        handle__tr_close(t);
    }
    /* another layout name, or none: the view, whatever the rows hold */
    tg_make_wide(p, fill_wide());
    tg_sql(p, "INSERT INTO lifetimes(id, h0, c0, d0, s0) VALUES (1, 5, 'x', 1, 1);"
              "UPDATE meta SET value = 'rows-of-something' WHERE key = 'layout'");
    expect_like_view(p, 5);
    tg_sql(p, "DELETE FROM meta WHERE key = 'layout'");
    expect_like_view(p, 5);
    /* the key of the writer's layout without its tables: the view */
    tg_make_wide(p, fill_wide());
    tg_sql(p, "DROP VIEW handles; ALTER TABLE lifetimes RENAME TO rows;"
              "CREATE VIEW handles AS SELECT * FROM leaks");
    expect_like_view(p, 4);
}

/* Tags the fast decoder cannot map (a text id, an id twice): the view. */
static void test_lifetimes_odd_tags(void **state)
{
    (void)state;
    const char *p = tg_path("tags.db");
    tg_make(p, fill);
    tg_sql(p, "DROP TABLE tags; CREATE TABLE tags(id, name);"
              "INSERT INTO tags VALUES ('1', 'conn'), (2, 'file')");
    expect_like_view(p, 6);
    tg_sql(p, "DELETE FROM tags; INSERT INTO tags VALUES (1, 'conn'), (1, 'again'), (2, 'file')");
    expect_like_view(p, 6);
    /* handles as a plain table (another writer): read as it is. */
    tg_sql(p, "DROP VIEW leaks; DROP VIEW handles;"
              "CREATE TABLE handles(handle, tag, created_ns, created_thread, created_stack,"
              "  deleted_ns, deleted_thread, deleted_stack);"
              "INSERT INTO handles VALUES (1, 'a', 5, 1, 3, 9, 1, 0), (2, NULL, 7, 1, 0, NULL, 0, 0);"
              "CREATE VIEW leaks AS SELECT * FROM handles WHERE deleted_ns IS NULL");
    expect_like_view(p, 2);
    /* and without the writer's tables at all */
    tg_sql(p, "DROP TABLE batches; DROP TABLE live");
    expect_like_view(p, 2);
}

/* Malformed JSON: the codec refuses it in a trace of the writer's layout
 * (the row named); without meta.layout the view fails, and so does the
 * reader, with SQLite's reason. */
static void test_lifetimes_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {"[[1,2,3,4,1,1,1,0]", "[[1,2,3,4,1,1,1,0]x", "x", "",
                                      "[[1,2,3,4,1,1,1,0],", "[[-,1,1,1,1,1,1,0]]",
                                      "[", "[[", "[[1", "[[-", "[[1,2,3,4,1,1,1,0",
                                      "[[1,2,3,4,1,1,1,0]]]", "[[a]]"};
    const char *p = tg_path("bad.db");
    for (int legacy = 0; legacy < 2; legacy++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            tg_make(p, fill);
            if (legacy)
                tg_sql(p, "DELETE FROM meta WHERE key = 'layout'");
            tg_sql(p, "INSERT INTO batches(base_ns, n, skip, data) VALUES (1, 1, 0, %Q)", bad[i]);
            struct handle__tr *t = must_open(p);
            struct lives L = {.t = t};
            strcpy(err, "");
            assert_false(handle__tr_lifetimes(t, on_life, &L, err, sizeof err));
            assert_string_equal(err, legacy ? "malformed JSON"
                                            : "bad trace: batches row 2 is not of layout " HANDLE__LAYOUT_JSON);
            lives_free(&L);
            handle__tr_close(t);
        }
    }
}

/* The callback stops the reading: false, err untouched, no more rows. */
static void test_lifetimes_stop(void **state)
{
    (void)state;
    const char *p = tg_path("stop.db");
    tg_make(p, fill);
    tg_sql(p, "DELETE FROM meta WHERE key = 'layout';"
              "INSERT INTO batches(base_ns, n, skip, data) VALUES (1, 1, 0, '[[0.5,1,1,1,1,1,1,0]]')");
    /* rows, all through the view: 2 + 1 completed, 4 live */
    for (size_t stop = 1; stop <= 8; stop++) {
        struct handle__tr *t = must_open(p);
        struct lives L = {.t = t, .stop_after = stop};
        strcpy(err, "untouched");
        bool ok = handle__tr_lifetimes(t, on_life, &L, err, sizeof err);
        assert_string_equal(err, "untouched");
        assert_int_equal(ok, stop > 7);
        assert_int_equal(L.n, stop > 7 ? 7 : stop);
        lives_free(&L);
        handle__tr_close(t);
    }
    /* The same through a plain handles table. */
    tg_sql(p, "DROP VIEW leaks; DROP VIEW handles;"
              "CREATE TABLE handles(handle, tag, created_ns, created_thread, created_stack,"
              "  deleted_ns, deleted_thread, deleted_stack);"
              "INSERT INTO handles VALUES (1, 'a', 5, 1, 3, 9, 1, 0), (2, NULL, 7, 1, 0, NULL, 0, 0);"
              "CREATE VIEW leaks AS SELECT * FROM handles WHERE deleted_ns IS NULL");
    struct handle__tr *t = must_open(p);
    struct lives L = {.t = t, .stop_after = 1};
    strcpy(err, "untouched");
    assert_false(handle__tr_lifetimes(t, on_life, &L, err, sizeof err));
    assert_string_equal(err, "untouched");
    assert_int_equal(L.n, 1);
    lives_free(&L);
    handle__tr_close(t);
}


/* ---- hostile traces (issue 12, items 2-4) ----------------------------------- */

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A -wal or -journal that is a FIFO, or a -wal that is a symbolic link to a
 * FIFO or to /dev/zero: refused at once with one line, nothing copied to
 * TMPDIR (SQLite would block opening the FIFO; the copy fallback followed
 * the link and read /dev/zero until /tmp was full). */
static void test_sidecars_not_regular(void **state)
{
    (void)state;
    char p[PATH_MAX], tmp[PATH_MAX], wal[PATH_MAX + 8], jnl[PATH_MAX + 16], fifo[PATH_MAX];
    snprintf(p, sizeof p, "%s", tg_path("side.db"));
    snprintf(tmp, sizeof tmp, "%s", tg_path("side-tmp"));
    snprintf(fifo, sizeof fifo, "%s", tg_path("side-fifo"));
    snprintf(wal, sizeof wal, "%s-wal", p);
    snprintf(jnl, sizeof jnl, "%s-journal", p);
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", tmp, 1);

    make_wal_trace(p);
    unlink(wal);
    assert_int_equal(mkfifo(wal, 0600), 0);
    assert_string_equal(refusal(p), "cannot read its -wal file: a FIFO, not a regular file");
    unlink(wal);
    assert_int_equal(symlink(fifo, wal), 0);
    assert_string_equal(refusal(p), "cannot read its -wal file: a symbolic link, not a regular file");
    unlink(wal);
    assert_int_equal(symlink("/dev/zero", wal), 0);
    assert_string_equal(refusal(p), "cannot read its -wal file: a symbolic link, not a regular file");
    assert_int_equal(count_entries(tmp), 0);
    unlink(wal);

    tg_make(p, fill);
    assert_int_equal(mkfifo(jnl, 0600), 0);
    assert_string_equal(refusal(p), "cannot read its -journal file: a FIFO, not a regular file");
    unlink(jnl);
    assert_int_equal(symlink("/dev/zero", jnl), 0);
    assert_string_equal(refusal(p),
                        "cannot read its -journal file: a symbolic link, not a regular file");
    unlink(jnl);

    /* Through a symbolic link to the trace: the sidecars beside the file it
     * leads to are the ones checked (and read: pid 777 is in the WAL). */
    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s", tg_path("side-link.db"));
    make_wal_trace(p);
    assert_int_equal(symlink(p, link), 0);
    struct handle__tr *t = must_open(link);
    assert_int_equal(handle__tr_meta(t)->pid, 777);
    handle__tr_close(t);
    unlink(wal);
    assert_int_equal(mkfifo(wal, 0600), 0);
    assert_string_equal(refusal(link), "cannot read its -wal file: a FIFO, not a regular file");
    unlink(wal);
    unlink(link);
    tg_unlink_all(p);
    assert_int_equal(count_entries(tmp), 0);
    if (old) {
        setenv("TMPDIR", old, 1);
        free(old);
    } else {
        unsetenv("TMPDIR");
    }
}

/* The tables the format has, replaced by views (endless recursive ones
 * here: any reader of them would hang): refused at open. */
static void test_views_refused(void **state)
{
    (void)state;
    static const char endless[] =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT ";
    char sql[1024];
    snprintf(sql, sizeof sql, "DROP TABLE meta; CREATE VIEW meta(key, value) AS %s 'format', x FROM c",
             endless);
    expect_refusal(sql, "bad trace: meta is a view, not a table");
    snprintf(sql, sizeof sql,
             "DROP VIEW leaks; DROP VIEW handles; DROP TABLE live; CREATE VIEW live(handle, tag, "
             "created_ns, created_thread, created_stack) AS %s x, 1, x, 0, 1 FROM c",
             endless);
    expect_refusal(sql, "bad trace: live is a view, not a table");
    snprintf(sql, sizeof sql,
             "DROP VIEW frames; DROP TABLE stacks; CREATE VIEW stacks(id, depth, pc, module) AS "
             "%s 1, x, x, 1 FROM c",
             endless);
    expect_refusal(sql, "bad trace: stacks is a view, not a table");
    expect_refusal("DROP TABLE errors; CREATE VIEW errors AS SELECT * FROM modules",
                   "bad trace: errors is a view, not a table");
    expect_refusal("DROP TABLE threads; CREATE VIEW Threads(id, tid, name, first_ns) AS SELECT 1, 2, 3, 4",
                   "bad trace: threads is a view, not a table");
}

/* `leaks` and `handles` may be views; in a trace of the writer's layout
 * its tables are read instead. Views that loop or multiply rows stop at
 * the work budget with one line, in seconds. */
static void test_endless_views(void **state)
{
    (void)state;
    const char *p = tg_path("endless.db");
    /* The leaks view redefined as a loop: in the writer's layout live is
     * read; without meta.layout the view is, up to the budget. */
    tg_make(p, fill);
    tg_sql(p, "DROP VIEW leaks; CREATE VIEW leaks(handle, tag, created_ns, created_thread, "
              "created_stack, deleted_ns, deleted_thread, deleted_stack) AS "
              "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
              "SELECT x, NULL, x, 0, 1, NULL, NULL, NULL FROM c");
    double t0 = cpu_seconds();
    struct handle__tr *t = must_open(p);
    const struct handle__tr_group *g;
    size_t n;
    assert_true(handle__tr_leak_groups(t, &g, &n, err, sizeof err));
    assert_int_equal(n, 3);
    handle__tr_close(t);
    tg_sql(p, "DELETE FROM meta WHERE key = 'layout'");
    t = must_open(p);
    strcpy(err, "");
    assert_false(handle__tr_leak_groups(t, &g, &n, err, sizeof err));
    assert_string_equal(err, "bad trace: reading it takes far more work than its size explains "
                             "(a view that loops or multiplies rows?)");
    /* The writer's handles view, read through SQLite. */
    struct lives L = {.t = t};
    assert_true(handle__tr_lifetimes(t, on_life, &L, err, sizeof err));
    assert_int_equal(L.n, 6);
    lives_free(&L);
    handle__tr_close(t);
    /* handles as an endless view, and as a cross join that multiplies a
     * small table into 10^15 rows: the budget. */
    static const char *const views[] = {
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT x, NULL, x, 0, 1, NULL, NULL, NULL FROM c",
        "SELECT 1, NULL, 1, 0, 1, NULL, NULL, NULL FROM stacks a, stacks b, stacks c, stacks d, "
        "stacks e, stacks f, stacks g, stacks h, stacks i, stacks j, stacks k, stacks l, stacks m",
    };
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        tg_make(p, fill);
        tg_sql(p, "WITH RECURSIVE k(i) AS (SELECT 10 UNION ALL SELECT i + 1 FROM k WHERE i < 20)"
                  "  INSERT INTO stacks SELECT i, 0, 1, 1 FROM k;"
                  "DROP VIEW handles; CREATE VIEW handles(handle, tag, created_ns, created_thread, "
                  "created_stack, deleted_ns, deleted_thread, deleted_stack) AS %s", views[i]);
        /* the writer's layout: its tables, not the view */
        t = must_open(p);
        L = (struct lives){.t = t};
        assert_true(handle__tr_lifetimes(t, on_life, &L, err, sizeof err));
        assert_int_equal(L.n, 6);
        lives_free(&L);
        handle__tr_close(t);
        tg_sql(p, "DELETE FROM meta WHERE key = 'layout'");
        t = must_open(p);
        L = (struct lives){.t = t};
        assert_false(handle__tr_lifetimes(t, on_life, &L, err, sizeof err));
        assert_string_equal(err, "bad trace: reading it takes far more work than its size explains "
                                 "(a view that loops or multiplies rows?)");
        lives_free(&L);
        /* the tables are still read */
        assert_true(handle__tr_leak_groups(t, &g, &n, err, sizeof err));
        assert_int_equal(n, 3);
        handle__tr_close(t);
    }
    /* Budgets of a few hundred million steps: seconds, not hours. */
    double used = cpu_seconds() - t0;
    if (used > 20)
        fail_msg("%.1f s of CPU for three endless views", used);
}

/* Every string is cut to 4 KiB with a marker (a recorded error's message,
 * the diagnostic, to 1 MiB): a 2 MB tag on 1000 live handles (a 2 MB
 * trace) is read in well under a second and in little memory; so is a
 * 10 MB module path and a 2 MB exe. */
static void test_long_strings(void **state)
{
    (void)state;
    const char *p = tg_path("long.db");
    tg_make(p, "INSERT INTO tags VALUES (1, replace(hex(zeroblob(1048576)), '00', 'ab')),"
               "  (2, 'short');"
               "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 1000)"
               "  INSERT INTO live SELECT i, 1 + (i % 500 = 0), i, 1, 1 + i % 3 FROM k;"
               "INSERT INTO batches VALUES (1, 1000, 2, 0, '[[0,10,5,1,1,1,1,0],[5,20,6,1,2,1,2,3,2]]');"
               "INSERT INTO modules VALUES (1, '/' || replace(hex(zeroblob(5000000)), '00', 'xy'),"
               "  replace(hex(zeroblob(5000)), '00', 'f'), 0, 0, 65536, 0, NULL);"
               "UPDATE meta SET value = replace(hex(zeroblob(1000000)), '00', 'C')"
               "  WHERE key IN ('exe', 'cmdline');"
               "INSERT INTO errors VALUES (1, 'double-delete', 7, 400, 1, 3,"
               "  replace(hex(zeroblob(1048576)), '00', 'mm'), replace(hex(zeroblob(5000)), '00', 't'),"
               "  1, 1, 2, 2);");
    long rss0 = max_rss_kib();
    double t0 = cpu_seconds();
    struct handle__tr *t = must_open(p);
    const struct handle__tr_meta *m = handle__tr_meta(t);
    char want[64];
    assert_int_equal(strlen(m->exe), 4096 + strlen("...[cut: 1000000 bytes]"));
    assert_string_equal(m->exe + 4096, "...[cut: 1000000 bytes]");
    assert_string_equal(m->cmdline + 4096, "...[cut: 1000000 bytes]");

    const struct handle__tr_group *g;
    size_t n;
    assert_true(handle__tr_leak_groups(t, &g, &n, err, sizeof err));
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += g[i].count;
        const char *tag = handle__tr_tag(t, g[i].tag);
        assert_non_null(tag);
        if (strcmp(tag, "short") == 0)
            continue;
        assert_int_equal(strlen(tag), 4096 + strlen("...[cut: 2097152 bytes]"));
        assert_string_equal(tag + 4096, "...[cut: 2097152 bytes]");
        assert_int_equal(tag[4095], 'b');
    }
    assert_int_equal(total, 1000);
    struct lives L = {.t = t};
    assert_true(handle__tr_lifetimes(t, on_life, &L, err, sizeof err));
    assert_int_equal(L.n, 1002);
    lives_free(&L);

    const struct handle__tr_module *mods;
    assert_true(handle__tr_modules(t, &mods, &n, err, sizeof err));
    assert_int_equal(n, 1);
    assert_string_equal(mods[0].path + 4096, "...[cut: 10000001 bytes]");
    assert_string_equal(mods[0].build_id + 4096, "...[cut: 5000 bytes]");
    const struct handle__tr_error *e;
    assert_true(handle__tr_errors(t, &e, &n, err, sizeof err));
    assert_int_equal(n, 1);
    snprintf(want, sizeof want, "...[cut: %d bytes]", 2 * 1048576);
    assert_int_equal(strlen(e[0].message), 1048576 + strlen(want));
    assert_string_equal(e[0].message + 1048576, want);
    assert_string_equal(e[0].tag + 4096, "...[cut: 5000 bytes]");
    handle__tr_close(t);
    double used = cpu_seconds() - t0;
    long grew = max_rss_kib() - rss0;
    if (used > 1.0)
        fail_msg("%.2f s of CPU to read a 2 MB tag on 1000 live handles", used);
    if (grew > 200 * 1024)
        fail_msg("the peak memory grew by %ld MiB reading it", grew / 1024);
}

/* ---- allocation failures --------------------------------------------------- */

/* Everything read from one trace; false with the reason of the first
 * failure. */
static bool read_all(const char *path, struct lives *L, char *why, size_t len)
{
    struct handle__tr *t = handle__tr_open(path, why, len);
    if (t == NULL)
        return false;
    const struct handle__tr_module *m;
    const struct handle__tr_group *g;
    const struct handle__tr_error *e;
    size_t nm, ng, ne;
    uint32_t ids[] = {1, 2, 3, 7, 1001};
    L->t = t;
    bool ok = handle__tr_modules(t, &m, &nm, why, len) &&
              handle__tr_leak_groups(t, &g, &ng, why, len) &&
              handle__tr_errors(t, &e, &ne, why, len) &&
              handle__tr_load_stacks(t, ids, 5, why, len) &&
              handle__tr_lifetimes(t, on_life, L, why, len);
    if (ok) {
        struct handle__tr_stack s;
        add_row(L, (uint32_t)nm, "modules", (int64_t)ng, true, (int64_t)ne);
        for (size_t i = 0; i < 5; i++) {
            handle__tr_stack(t, ids[i], &s);
            add_row(L, ids[i], "stack", s.depth, false, 0);
        }
        qsort(L->row, L->n, sizeof *L->row, str_cmp);
    }
    handle__tr_close(t);
    return ok;
}

static void test_oom(void **state)
{
    (void)state;
    const char *p = tg_path("oom.db");
    tg_make(p, fill);
    tg_sql(p, "%s", stack_rows);
    tg_sql(p, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 40)"
              "  INSERT INTO tags SELECT i + 10, 'more' || i FROM k;"
              "INSERT INTO live SELECT 100 + id, id, 1, 1, 1 FROM tags WHERE id > 10;"
              "INSERT INTO modules VALUES (3, '/lib/liby.so', X'0badf00d', 0, 0, 0, 0, NULL)");
    const char *q = tg_path("oom-scan.db");
    char cmd[2 * PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", p, q);
    assert_int_equal(system(cmd), 0);
    tg_sql(q, "PRAGMA legacy_alter_table=ON; /* the frames view names stacks */"
              "CREATE TABLE s2 AS SELECT * FROM stacks; DROP TABLE stacks;"
              "ALTER TABLE s2 RENAME TO stacks");
    for (int scan = 0; scan <= 1; scan++, p = q) {
        struct lives ref = {0};
        assert_true(read_all(p, &ref, err, sizeof err));
        for (int sticky = 0; sticky <= 1; sticky++) {
            int failures = 0;
            for (long at = 0;; at++) {
                struct lives L = {0};
                char why[256] = "";
                oom_arm(at, sticky);
                bool ok = read_all(p, &L, why, sizeof why);
                bool hit = oom_disarm();
                if (!ok) {
                    failures++;
                    if (strcmp(why, "out of memory") != 0)
                        fail_msg("allocation %ld failing: '%s'", at, why);
                }
                if (!hit) {
                    /* Past the last allocation: the whole trace, as without. */
                    assert_true(ok);
                    assert_int_equal(L.n, ref.n);
                    for (size_t i = 0; i < L.n; i++)
                        assert_string_equal(L.row[i], ref.row[i]);
                    lives_free(&L);
                    break;
                }
                lives_free(&L);
            }
            assert_true(failures > 10);
        }
        lives_free(&ref);
    }
}

/* Item 7 of issue 12: a process is running when its pid exists with the
 * trace's start_ticks and this boot's boot_id; any of them different or
 * absent: not running. */
static void read_small_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
}

static void test_running(void **state)
{
    (void)state;
    char boot[128], stat[1024];
    read_small_file("/proc/sys/kernel/random/boot_id", boot, sizeof boot);
    boot[strcspn(boot, "\n")] = '\0';
    read_small_file("/proc/self/stat", stat, sizeof stat);
    const char *p = strrchr(stat, ')');
    for (int field = 2; p && *p && field < 22; p++)
        if (*p == ' ')
            field++;
    assert_non_null(p);
    struct handle__tr_meta mt = {.has_pid = true, .pid = getpid(), .has_start_ticks = true,
                                 .start_ticks = strtoll(p, NULL, 10), .boot_id = boot,
                                 .exe = "", .cmdline = ""};
    assert_true(handle__tr_running(&mt));
    mt.start_ticks++;
    assert_false(handle__tr_running(&mt)); /* the pid reused by another process */
    mt.start_ticks--;
    mt.boot_id = "00000000-0000-0000-0000-000000000000";
    assert_false(handle__tr_running(&mt)); /* another boot */
    mt.boot_id = "";
    assert_false(handle__tr_running(&mt)); /* not recorded */
    mt.boot_id = boot;
    mt.has_start_ticks = false;
    assert_false(handle__tr_running(&mt));
    mt.has_start_ticks = true;
    mt.pid = 0;
    assert_false(handle__tr_running(&mt));
    mt.pid = (int64_t)1 << 40;
    assert_false(handle__tr_running(&mt));
    /* a child that has exited (a zombie until reaped) is not running */
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0)
        _exit(0);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)c);
    for (int i = 0; i < 1000; i++) { /* until it is a zombie */
        read_small_file(path, stat, sizeof stat);
        const char *q = strrchr(stat, ')');
        if (q && q[2] == 'Z')
            break;
        usleep(2000);
    }
    p = strrchr(stat, ')');
    for (int field = 2; p && *p && field < 22; p++)
        if (*p == ' ')
            field++;
    mt.pid = c;
    mt.start_ticks = strtoll(p, NULL, 10);
    assert_false(handle__tr_running(&mt));
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
}

int main(void)
{
    handle__tr_global_init(); /* as handle-report does */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_line),
        cmocka_unit_test(test_precheck),
        cmocka_unit_test(test_meta_refusals),
        cmocka_unit_test(test_meta_lenient),
        cmocka_unit_test(test_corrupt_pages),
        cmocka_unit_test(test_locked),
        cmocka_unit_test(test_wal),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_modules),
        cmocka_unit_test(test_groups_and_tags),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_stacks),
        cmocka_unit_test(test_lifetimes_shapes),
        cmocka_unit_test(test_lifetimes_layout_rows),
        cmocka_unit_test(test_codec_round_trip),
        cmocka_unit_test(test_wide_codec_round_trip),
        cmocka_unit_test(test_wide_layout_rows),
        cmocka_unit_test(test_lifetimes_odd_tags),
        cmocka_unit_test(test_lifetimes_malformed),
        cmocka_unit_test(test_lifetimes_stop),
        cmocka_unit_test(test_sidecars_not_regular),
        cmocka_unit_test(test_views_refused),
        cmocka_unit_test(test_endless_views),
        cmocka_unit_test(test_long_strings),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_running),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
