/*
 * test_report_model.c - lib/report/report_model.c and leaks.c: merging
 * traces of one program (one site in many processes, two calls in one
 * function, a library at two addresses, another path for the same file),
 * baselines (traces and JSON reports, odd ones included), --stats with
 * unusual lifetimes, module notes, refusals, and allocation failures at
 * every allocation of a whole report. The traces are written by
 * reader_fixtures/tracegen.h with stacks in this program's own functions,
 * so that they symbolize to known names.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tracegen.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "report/report_model.h"

/* ---- the program whose stacks the traces hold ------------------------------ */

static volatile int sink;

#define BODY                                                                                       \
    for (int i = 0; i < 8; i++)                                                                    \
        sink += i * sink + 3;                                                                      \
    sink ^= 0x55;                                                                                  \
    sink += 7

__attribute__((noinline)) static void rm_open_conn(void) { BODY; }
__attribute__((noinline)) static void rm_open_file(void) { BODY; }
__attribute__((noinline)) static void rm_run_app(void) { BODY; }

/* A return address inside f. */
#define PC(f, off) ((uintptr_t)(f) + (off))

static struct tg_self self;
static char err[512];

#define SHIFT 0x10000000ULL /* the second mapping of this program */

/* The modules and stacks every trace here has:
 *  1: rm_open_conn < rm_run_app     2: rm_open_file < rm_run_app
 *  3: rm_open_conn (another call) < rm_run_app
 *  4: one frame in a library that is gone
 *  5: stack 1 in the second mapping (same offsets, other addresses)
 *  6: one frame in [vdso] */
static void add_program(const char *path, const char *module_path)
{
    tg_sql(path,
           "INSERT INTO tags VALUES (1, 'conn'), (2, 'file');"
           "INSERT INTO modules VALUES (1, %Q, '', %lld, %lld, %lld, 0, NULL),"
           "  (2, '/nonexistent/lib/libgone.so', 'abcdef', %lld, %lld, %lld, 0, NULL),"
           "  (3, %Q, '', %lld, %lld, %lld, 0, NULL),"
           "  (4, '[vdso]', '', 0, 4096, 8192, 0, NULL);"
           "INSERT INTO stacks VALUES (1, 0, %lld, 1), (1, 1, %lld, 1), (2, 0, %lld, 1),"
           "  (2, 1, %lld, 1), (3, 0, %lld, 1), (3, 1, %lld, 1), (4, 0, %lld, 2),"
           "  (5, 0, %lld, 3), (5, 1, %lld, 3), (6, 0, 5000, 4)",
           module_path, (long long)self.bias, (long long)self.lo, (long long)self.hi,
           0x7f0000000000LL, 0x7f0000000000LL, 0x7f0000100000LL, module_path,
           (long long)(self.bias + SHIFT), (long long)(self.lo + SHIFT),
           (long long)(self.hi + SHIFT), (long long)PC(rm_open_conn, 8),
           (long long)PC(rm_run_app, 8), (long long)PC(rm_open_file, 8),
           (long long)PC(rm_run_app, 12), (long long)PC(rm_open_conn, 24),
           (long long)PC(rm_run_app, 8), 0x7f0000001234LL,
           (long long)(PC(rm_open_conn, 8) + SHIFT), (long long)(PC(rm_run_app, 8) + SHIFT));
}

/* A trace of pid with the program and live handles (SQL VALUES rows of
 * live: handle, tag, created_ns, thread, stack). */
static void make_trace(const char *path, int pid, const char *live)
{
    tg_make(path, NULL);
    tg_sql(path, "UPDATE meta SET value = %d WHERE key = 'pid'", pid);
    add_program(path, self.path);
    if (live)
        tg_sql(path, "INSERT INTO live VALUES %s", live);
}

/* Symbolizers: one per model (module ids are the model's), freed by
 * teardown. */
static struct handle__symbolizer *syms[64];
static size_t nsyms;

static struct handle__symbolizer *new_sym(void)
{
    assert_true(nsyms < sizeof syms / sizeof syms[0]);
    struct handle__symbolizer *s = handle__sym_new_ex(HANDLE__SYM_NO_DEBUGINFOD);
    assert_non_null(s);
    return syms[nsyms++] = s;
}

static int teardown(void **state)
{
    (void)state;
    while (nsyms)
        handle__sym_free(syms[--nsyms]);
    return 0;
}

static struct handle__rm *model(bool stats)
{
    struct handle__rm *m = handle__rm_new(new_sym(), NULL, stats);
    assert_non_null(m);
    return m;
}

static void add(struct handle__rm *m, const char *path)
{
    if (!handle__rm_add_trace(m, path, err, sizeof err))
        fail_msg("%s: %s", path, err);
}

/* The site with this tag (NULL: untagged), frame #0 function (NULL: none)
 * and count; fails if there is none. */
static const struct handle__leak_site *site(const struct handle__rm *m, const char *tag,
                                            const char *fn, uint64_t count)
{
    for (size_t i = 0; i < m->nsites; i++) {
        const struct handle__leak_site *s = &m->sites[i];
        if ((tag == NULL) != (s->tag == NULL) || (tag && strcmp(tag, s->tag) != 0))
            continue;
        const char *f0 = s->nframes ? s->frames[0].function : NULL;
        if ((fn == NULL) != (f0 == NULL) || (fn && strcmp(fn, f0) != 0) || s->count != count)
            continue;
        return s;
    }
    fail_msg("no site tag %s, function %s, count %llu", tag ? tag : "-", fn ? fn : "-",
             (unsigned long long)count);
    return NULL;
}

static char *text_of(const struct handle__rm *m, bool stats)
{
    struct handle__sb b = {0};
    handle__rm_text(&b, m, stats);
    char *r = __real_strdup(b.p ? b.p : "");
    handle__sb_free(&b);
    return r;
}

/* ---- merging --------------------------------------------------------------- */

static void test_merge(void **state)
{
    (void)state;
    const char *a = tg_path("a.db"), *b = tg_path("b.db"), *c = tg_path("c.db");
    /* a: two calls of rm_open_conn (stacks 1 and 3), the second mapping
     * (stack 5), a gone library, [vdso], an empty stack */
    make_trace(a, 100, "(1, 1, 500, 1, 1), (2, 1, 400, 1, 1), (3, 1, 300, 1, 3),"
                       "(4, NULL, 200, 1, 2), (5, NULL, 100, 1, 4), (6, 2, 50, 1, 0),"
                       "(7, 1, 20, 1, 5), (8, NULL, 10, 1, 6)");
    /* b: the same program under another path (a symlink), started 5 s
     * earlier, rm_open_conn's first call again */
    char link[PATH_MAX];
    assert_true(snprintf(link, sizeof link, "%s/app-link", tg_dir()) < (int)sizeof link);
    assert_int_equal(symlink(self.path, link), 0);
    tg_make(b, NULL);
    tg_sql(b, "UPDATE meta SET value = 200 WHERE key = 'pid';"
              "UPDATE meta SET value = value - 5000000000 WHERE key = 'started_at'");
    add_program(b, link);
    tg_sql(b, "INSERT INTO live VALUES (1, 1, 900, 1, 1), (2, 1, 950, 1, 1), (3, 1, 990, 1, 1)");
    /* c: no pid, no start time, only the gone library */
    make_trace(c, 0, "(1, NULL, 7, 1, 4)");
    tg_sql(c, "DELETE FROM meta WHERE key IN ('pid', 'started_at')");

    struct handle__rm *m = model(false);
    assert_int_equal(handle__rm_pid(m), 0);
    add(m, a);
    add(m, b);
    add(m, c);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->ntraces, 3);
    assert_int_equal(handle__rm_pid(m), 100);
    assert_int_equal(m->traces[0].leaked, 8);
    assert_int_equal(m->traces[0].leak_sites, 7);
    assert_int_equal(m->traces[1].leaked, 3);
    assert_false(m->traces[2].meta.has_pid);

    /* rm_open_conn's first call: 2 + 3 handles in two processes, first
     * created in b (5 s earlier) */
    const struct handle__leak_site *s = site(m, "conn", "rm_open_conn", 5);
    assert_int_equal(s->processes, 2);
    assert_string_equal(s->example, a);
    assert_int_equal(s->first_ns, (uint64_t)TG_T0 - 5000000000ULL + 900);
    assert_string_equal(s->frames[1].function, "rm_run_app");
    /* The same key twice in a: told apart by where the calls are (stack 3
     * at another offset, stack 5 at other addresses), never fused */
    size_t conn_sites = 0;
    for (size_t i = 0; i < m->nsites; i++)
        if (m->sites[i].tag && strcmp(m->sites[i].tag, "conn") == 0)
            conn_sites++;
    assert_int_equal(conn_sites, 3);
    /* the gone library in a and c: module+offset frames, one site */
    s = site(m, NULL, NULL, 2);
    assert_int_equal(s->processes, 2);
    assert_string_equal(s->frames[0].module, "/nonexistent/lib/libgone.so");
    assert_int_equal(s->frames[0].module_offset, 0x1234);
    site(m, "file", NULL, 1); /* the empty stack */
    site(m, NULL, "rm_open_file", 1);

    /* a note for the gone library in each of the two traces that use it
     * (printed under each one's header), none for [vdso] */
    assert_int_equal(m->nnotes, 2);
    assert_string_equal(m->notes[0].path, "/nonexistent/lib/libgone.so");
    assert_string_equal(m->notes[1].path, "/nonexistent/lib/libgone.so");
    assert_false(m->notes[0].changed);
    assert_true(m->notes[0].trace != m->notes[1].trace);
    assert_null(m->notes[0].baseline);

    uint64_t nsites = 0;
    assert_int_equal(handle__rm_leaked(m, &nsites), 12);
    assert_int_equal(nsites, 7);
    char *text = text_of(m, false);
    assert_non_null(strstr(text, "Leak of 5 handle(s) tagged \"conn\" in 2 processes (e.g. "));
    assert_non_null(strstr(text, "in 1 process ("));
    assert_non_null(strstr(text, "<empty stack>"));
    free(text);
    handle__rm_free(m);
    handle__rm_free(NULL);
    unlink(link);
}

/* One trace reads as its exit report: no process counts; the same trace
 * twice doubles every site and keeps them apart. */
static void test_one_trace_twice(void **state)
{
    (void)state;
    const char *a = tg_path("one.db");
    make_trace(a, 7, "(1, 1, 500, 1, 1), (2, 1, 300, 1, 3), (3, 1, 20, 1, 5)");
    struct handle__rm *m = model(false);
    add(m, a);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->nsites, 3);
    for (size_t i = 0; i < m->nsites; i++) {
        assert_int_equal(m->sites[i].processes, 0);
        assert_null(m->sites[i].example);
    }
    handle__rm_free(m);

    m = model(false);
    add(m, a);
    add(m, a);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->nsites, 3);
    for (size_t i = 0; i < m->nsites; i++) {
        assert_int_equal(m->sites[i].count, 2);
        assert_int_equal(m->sites[i].processes, 2);
    }
    handle__rm_free(m);
}

/* ---- suppressions and refusals ------------------------------------------------ */

static void test_suppressed_and_refused(void **state)
{
    (void)state;
    const char *a = tg_path("supp.db");
    make_trace(a, 7, "(1, 1, 500, 1, 1), (2, NULL, 300, 1, 2), (3, NULL, 5, 1, 2)");
    struct handle__supp *supp = handle__supp_parse("leak:^rm_open_file$\n", NULL, err, sizeof err);
    assert_non_null(supp);
    struct handle__rm *m = handle__rm_new(new_sym(), supp, false);
    assert_non_null(m);
    /* refused traces leave the model as it was */
    const char *bad = tg_path("bad.db");
    tg_write(bad, "not a trace at all, not at all, no", 34);
    assert_false(handle__rm_add_trace(m, bad, err, sizeof err));
    assert_string_equal(err, "not an SQLite database");
    make_trace(bad, 8, "(1, 1, 500, 1, 1)");
    tg_sql(bad, "DROP TABLE modules; CREATE TABLE modules(id, path, build_id, bias, lo, hi);"
                "INSERT INTO modules VALUES (1, X'2f78', 'ab', 0, 0, 0)");
    assert_true(handle__rm_add_trace(m, bad, err, sizeof err)); /* a blob path: '/x' in hex */
    handle__rm_free(m);
    m = handle__rm_new(new_sym(), supp, false);
    make_trace(bad, 8, "(1, 1, 500, 1, 1)");
    tg_sql(bad, "UPDATE meta SET value = 9 WHERE key = 'version'");
    assert_false(handle__rm_add_trace(m, bad, err, sizeof err));
    assert_string_equal(err, "trace format version 9 is newer than this handle-report reads (1); "
                             "use a newer handle-report");
    assert_int_equal(m->ntraces, 0);
    add(m, a);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->nsites, 1);
    assert_int_equal(handle__supp_hits(supp, 0), 2);
    char *text = text_of(m, false);
    assert_non_null(strstr(text, "Suppressions used:"));
    free(text);
    handle__rm_free(m);
    handle__supp_free(supp);
}

/* Damaged tables: the reason, and the model without the trace. */
static void test_damaged(void **state)
{
    (void)state;
    static const char *const tables[] = {"modules", "live", "errors", "stacks", "batches"};
    const char *p = tg_path("damaged.db");
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        for (int baseline = 0; baseline <= 1; baseline++) {
            make_trace(p, 7, "(1, 1, 500, 1, 1)");
            tg_sql(p, "INSERT INTO errors VALUES (1, 'double-delete', 7, 400, 1, 1, 'm', 'conn',"
                      "  1, 1, 2, 2);"
                      "INSERT INTO batches VALUES (1, 1000, 1, 0, '[[0,10,5,1,1,1,1,0]]')");
            tg_smash(p, tables[i]);
            struct handle__rm *m = model(true);
            bool ok = baseline ? handle__rm_add_baseline(m, p, err, sizeof err)
                               : handle__rm_add_trace(m, p, err, sizeof err);
            /* A baseline reads no errors and no lifetimes. */
            bool read = !baseline || i == 0 || i == 1 || i == 3;
            if (read) {
                assert_false(ok);
                assert_string_equal(err, "corrupt or truncated database (database disk image is "
                                         "malformed)");
                assert_int_equal(m->nbaselines, 0);
            } else {
                assert_true(ok);
            }
            handle__rm_free(m);
        }
    }
}

/* ---- errors ------------------------------------------------------------------ */

static void test_errors(void **state)
{
    (void)state;
    const char *p = tg_path("errors.db");
    make_trace(p, 7, NULL);
    tg_sql(p, "INSERT INTO errors VALUES"
              "  (1, 'use-after-delete', 7, 400, 1, 1, 'handle 7 used', 'conn', 1, 1, 2, 2),"
              "  (2, '', NULL, 300, -1, 0, NULL, NULL, NULL, 0, NULL, 77)");
    struct handle__rm *m = model(false);
    add(m, p);
    add(m, p);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->nerrors, 4);
    assert_int_equal(m->traces[0].errors, 2);
    const struct handle__rm_error *e = &m->errors[0];
    assert_string_equal(e->kind, "unknown");
    assert_int_equal(e->at_ns, 300);
    assert_int_equal(e->thread, -1);
    assert_int_equal(e->stack.n, 0);
    assert_false(e->has_created);
    assert_true(e->has_deleted); /* stack 77 recorded, but no rows */
    assert_int_equal(e->deleted.n, 0);
    e = &m->errors[1];
    assert_string_equal(e->kind, "use-after-delete");
    assert_string_equal(e->message, "handle 7 used");
    assert_string_equal(e->tag, "conn");
    assert_string_equal(e->stack.f[0].function, "rm_open_conn");
    assert_string_equal(e->created.f[0].function, "rm_open_conn");
    assert_string_equal(e->deleted.f[0].function, "rm_open_file");
    assert_int_equal(m->errors[2].trace, 1);
    handle__rm_free(m);
}

/* ---- baselines --------------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    tg_write(path, text, strlen(text));
}

static bool baseline(struct handle__rm *m, const char *path)
{
    strcpy(err, "");
    return handle__rm_add_baseline(m, path, err, sizeof err);
}

static void test_baselines(void **state)
{
    (void)state;
    const char *a = tg_path("base-a.db"), *b = tg_path("base-b.db");
    make_trace(a, 1, "(1, 1, 500, 1, 1), (2, NULL, 300, 1, 4)");
    make_trace(b, 2, "(1, 1, 500, 1, 1), (2, NULL, 300, 1, 2), (3, 2, 7, 1, 0),"
                     "(4, NULL, 300, 1, 4), (5, NULL, 9, 1, 4)");

    /* a trace as the baseline */
    struct handle__rm *m = model(false);
    assert_true(baseline(m, a));
    add(m, b);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->nbaselines, 1);
    assert_int_equal(m->baseline_sites, 2);
    assert_int_equal(m->baseline_handles, 3);
    assert_int_equal(m->nsites, 2);
    site(m, NULL, "rm_open_file", 1);
    site(m, "file", NULL, 1);

    /* its JSON report as the baseline of the next run */
    struct handle__sb js = {0};
    assert_true(handle__rm_json(&js, m, false, err, sizeof err));
    const char *json = tg_path("base.json");
    tg_write(json, js.p, js.len);
    handle__sb_free(&js);
    handle__rm_free(m);
    m = model(false);
    if (!baseline(m, json))
        fail_msg("%s: %s", json, err);
    assert_true(baseline(m, a));
    add(m, b);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->nbaselines, 2);
    assert_int_equal(m->nsites, 0);
    assert_int_equal(m->baseline_sites, 4);
    handle__rm_free(m);

    /* hand-written JSON: frames found by function and file name, or by
     * the module's name alone; odd fields are no match */
    write_text(json, "\r\n\t {\"leaks\": [ \"just a string\", 7,"
                     " {\"tag\": 5, \"stack\": [{\"module\": \"/elsewhere/libgone.so\"}]},"
                     " {\"tag\": \"file\", \"stack\": []},"
                     " {\"stack\": \"not an array\"},"
                     " {\"tag\": \"conn\", \"stack\": [{\"function\": 12, \"file\": null}]},"
                     " {\"tag\": \"conn\", \"stack\": [{\"file\": \"/src/only.c\"}, \"frame\"]},"
                     " {}]}");
    m = model(false);
    if (!baseline(m, json))
        fail_msg("hand-written: %s", err);
    add(m, b);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->baseline_sites, 2); /* libgone.so (2 handles), "file" */
    assert_int_equal(m->baseline_handles, 3);
    site(m, "conn", "rm_open_conn", 1);
    site(m, NULL, "rm_open_file", 1);
    handle__rm_free(m);

    /* a JSON report bigger than the first read */
    size_t big = 200000;
    char *text = __real_malloc(big + 64);
    assert_non_null(text);
    text[0] = '{';
    memset(text + 1, ' ', big);
    strcpy(text + 1 + big, "\"leaks\": [{\"tag\": \"file\", \"stack\": []}]}");
    write_text(json, text);
    free(text);
    m = model(false);
    assert_true(baseline(m, json));
    add(m, b);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->baseline_sites, 1);
    handle__rm_free(m);

    /* not baselines */
    m = model(false);
    write_text(json, "{ \"leaks\": [1, 2");
    assert_false(baseline(m, json));
    assert_string_equal(err, "neither a trace nor valid JSON");
    write_text(json, "  {\"leaks\": {}}");
    strcpy(err, "untouched");
    assert_false(handle__rm_add_baseline(m, json, err, 0)); /* no room for the reason */
    assert_string_equal(err, "untouched");
    assert_false(baseline(m, json));
    assert_string_equal(err, "a JSON file but not a handle-report JSON report (no \"leaks\" array)");
    write_text(json, "");
    assert_false(baseline(m, json));
    assert_string_equal(err, "empty file");
    write_text(json, "  \n");
    assert_false(baseline(m, json));
    assert_string_equal(err, "not an SQLite database");
    assert_false(baseline(m, tg_path("no-such-baseline.json")));
    assert_string_equal(err, "no such file");
    assert_false(baseline(m, tg_dir()));
    assert_string_equal(err, "is a directory, not a trace");
    assert_int_equal(m->nbaselines, 0);
    handle__rm_free(m);
}

/* ---- statistics -------------------------------------------------------------- */

/* 100 completed lifetimes of 10, 20, ... 1000 ns (each deleted before the
 * next is created, the last ones in the same ns) at stack 1 "conn", two
 * live there from the start; at stack 2: a lifetime of 0 ns and one that
 * ends before it starts (a damaged clock: 0); stack 1 "file": one. */
static void make_stats_trace(const char *path, int pid)
{
    make_trace(path, pid, "(1, 1, 50, 1, 1), (2, 1, 60, 1, 1), (3, 2, 70, 1, 1)");
    tg_sql(path,
           "INSERT INTO batches(base_ns, n, skip, data) SELECT 100000, 100, 0,"
           "  json_group_array(json_array(i * 1000, (i + 1) * 10, i, 1, 1, 1, 1, 0)) FROM"
           "  (WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 99)"
           "   SELECT i FROM k);"
           "INSERT INTO batches(base_ns, n, skip, data) VALUES"
           "  (500000, 3, 0, '[[0,0,1,1,0,1,2,0],[10,-5,2,1,0,1,2,0],[20,5,3,1,2,1,1,0]]')");
}

static const struct handle__rm_stat *stat_of(const struct handle__rm *m, const char *tag,
                                             const char *fn)
{
    for (size_t i = 0; i < m->nstats; i++) {
        const struct handle__rm_stat *st = &m->stats[i];
        if ((tag == NULL) != (st->tag == NULL) || (tag && strcmp(tag, st->tag) != 0))
            continue;
        if (st->frames.n && strcmp(st->frames.f[0].function, fn) == 0)
            return st;
    }
    fail_msg("no stats for %s %s", tag ? tag : "-", fn);
    return NULL;
}

static void test_stats(void **state)
{
    (void)state;
    const char *a = tg_path("stats-a.db"), *b = tg_path("stats-b.db");
    make_stats_trace(a, 1);
    make_stats_trace(b, 2);
    tg_sql(b, "UPDATE meta SET value = value + 1000000 WHERE key = 'started_at'");
    for (int detail = 0; detail <= 1; detail++) {
        struct handle__rm *m = model(true);
        if (detail)
            handle__rm_want_detail(m);
        add(m, a);
        assert_true(handle__rm_finish(m));
        assert_int_equal(m->nstats, 3);
        const struct handle__rm_stat *st = &m->stats[0]; /* most created first */
        assert_string_equal(st->tag, "conn");
        assert_int_equal(st->created, 102);
        assert_int_equal(st->deleted, 100);
        assert_int_equal(st->live, 2);
        assert_int_equal(st->peak, 3);
        assert_int_equal(st->p50, 500);
        assert_int_equal(st->p99, 990);
        assert_int_equal(st->max, 1000);
        assert_int_equal(st->processes, 1);
        assert_int_equal(st->first_abs, TG_T0 + 50);
        st = stat_of(m, NULL, "rm_open_file");
        assert_int_equal(st->created, 2);
        assert_int_equal(st->peak, 1);
        assert_int_equal(st->p50, 0);
        assert_int_equal(st->max, 0);
        st = stat_of(m, "file", "rm_open_conn");
        assert_int_equal(st->created, 2);
        assert_int_equal(st->live, 1);
        assert_int_equal(st->p50, 5);
        assert_int_equal(st->max, 5);
        if (detail) {
            uint64_t sum = 0;
            for (int k = 0; k < 64; k++)
                sum += st->hist[k];
            assert_int_equal(sum, 1);
            assert_int_equal(st->hist[2], 1); /* 5 ns: floor(log2) = 2 */
            assert_int_equal(st->nborn, 2);
            assert_int_equal(st->ndied, 1);
            st = stat_of(m, NULL, "rm_open_file");
            assert_int_equal(st->hist[0], 2); /* 0 ns and the negative one */
            /* the leak sites know their statistics */
            const struct handle__leak_site *s = site(m, "conn", "rm_open_conn", 2);
            const struct handle__rm_stat *ss = handle__rm_site_stat(m, s);
            assert_non_null(ss);
            assert_int_equal(ss->created, 102);
            s = site(m, "file", "rm_open_conn", 1);
            ss = handle__rm_site_stat(m, s);
            assert_non_null(ss);
            assert_int_equal(ss->created, 2);
        } else {
            assert_null(handle__rm_site_stat(m, &m->sites[0]));
        }
        char *text = text_of(m, true);
        assert_non_null(strstr(text, "rm_open_conn"));
        free(text);
        handle__rm_free(m);

        /* two processes: counts add up, peaks do not */
        m = model(true);
        if (detail)
            handle__rm_want_detail(m);
        add(m, a);
        add(m, b);
        assert_true(handle__rm_finish(m));
        assert_int_equal(m->nstats, 3);
        st = &m->stats[0];
        assert_int_equal(st->created, 204);
        assert_int_equal(st->peak, 3);
        assert_int_equal(st->processes, 2);
        assert_int_equal(st->p50, 500);
        assert_int_equal(st->first_abs, TG_T0 + 50);
        if (detail) {
            assert_int_equal(st->nborn, 204);
            assert_int_equal(st->ndied, 200);
        }
        handle__rm_free(m);
    }
}

/* Stats of a trace whose handles are all gone, and of none at all. */
static void test_stats_edges(void **state)
{
    (void)state;
    const char *a = tg_path("stats-none.db");
    make_trace(a, 1, NULL);
    struct handle__rm *m = model(true);
    handle__rm_want_detail(m);
    add(m, a);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->nstats, 0);
    assert_int_equal(m->nsites, 0);
    handle__rm_free(m);
    /* one lifetime, no leak; a leak whose site is suppressed */
    tg_sql(a, "INSERT INTO batches VALUES (1, 1000, 1, 0, '[[0,10,5,1,0,1,2,0]]');"
              "INSERT INTO live VALUES (9, NULL, 5, 1, 2), (10, 1, 6, 1, 1), (11, 2, 7, 1, 1)");
    struct handle__supp *supp = handle__supp_parse("leak:rm_open_file\n", NULL, err, sizeof err);
    m = handle__rm_new(new_sym(), supp, true);
    handle__rm_want_detail(m);
    add(m, a);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->nstats, 3);
    const struct handle__rm_stat *st = stat_of(m, NULL, "rm_open_file");
    assert_int_equal(st->created, 2);
    assert_int_equal(st->p50, 10);
    assert_int_equal(st->p99, 10);
    assert_int_equal(m->nsites, 2);
    handle__rm_free(m);
    handle__supp_free(supp);
}

/* ---- notes --------------------------------------------------------------------- */

static void test_notes_without_libdw(void **state)
{
    (void)state;
    const char *a = tg_path("nodw.db");
    make_trace(a, 1, "(1, 1, 500, 1, 1)");
    struct handle__symbolizer *s = handle__sym_new_ex(HANDLE__SYM_NO_DW);
    struct handle__rm *m = handle__rm_new(s, NULL, false);
    add(m, a);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->nnotes, 1);
    assert_string_equal(m->notes[0].path, "");
    assert_non_null(m->notes[0].reason);
    assert_int_equal(m->nsites, 1);
    assert_null(m->sites[0].frames[0].function);
    handle__rm_free(m);
    handle__sym_free(s);
}

/* Frames without a recorded module (0, or an id the trace does not have)
 * are found by address, as the runtime's own report does; a stack stored
 * twice under two ids is two sites with one key. */
static void test_modules_by_address(void **state)
{
    (void)state;
    const char *a = tg_path("byaddr.db");
    make_trace(a, 0, "(1, NULL, 5, 1, 7), (2, NULL, 6, 1, 8), (3, NULL, 7, 1, 9),"
                     "(4, 1, 8, 1, 1), (5, 1, 9, 1, 10)");
    tg_sql(a, "DELETE FROM meta WHERE key = 'pid';"
              "INSERT INTO stacks VALUES (7, 0, %lld, 0), (8, 0, %lld, 9), (9, 0, 16, 0);"
              "INSERT INTO stacks SELECT 10, depth, pc, module FROM stacks WHERE id = 1",
           (long long)PC(rm_open_file, 8), (long long)PC(rm_run_app, 8));
    struct handle__rm *m = model(false);
    add(m, a);
    assert_true(handle__rm_finish(m));
    assert_int_equal(handle__rm_pid(m), 0);
    site(m, NULL, "rm_open_file", 1);
    site(m, NULL, "rm_run_app", 1);
    const struct handle__leak_site *s = site(m, NULL, NULL, 1); /* 16: in no module */
    assert_string_equal(s->frames[0].module, "");
    /* stacks 1 and 10: the same frames, two sites of one handle each */
    site(m, "conn", "rm_open_conn", 1);
    size_t n = 0;
    for (size_t i = 0; i < m->nsites; i++)
        n += m->sites[i].tag != NULL;
    assert_int_equal(n, 2);
    handle__rm_free(m);
}

/* Many distinct sites and tags: the model's tables grow. */
static void test_many_sites(void **state)
{
    (void)state;
    const char *a = tg_path("many.db");
    make_trace(a, 1, NULL);
    tg_sql(a, "WITH RECURSIVE k(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM k WHERE i < 302)"
              "  INSERT INTO tags SELECT i, 'tag-' || i FROM k;"
              "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 600)"
              "  INSERT INTO live SELECT i, 3 + i %% 300, i, 1, 1 + (i + i / 300) %% 3 FROM k;"
              "INSERT INTO batches VALUES (1, 1000, 2, 0, '[[0,10,5,1,3,1,2,0],[1,10,6,1,4,1,1,0]]')");
    struct handle__rm *m = model(true);
    handle__rm_want_detail(m);
    add(m, a);
    assert_true(handle__rm_finish(m));
    /* 300 tags, each at two of stacks 1..3 */
    assert_int_equal(m->nsites, 600);
    assert_int_equal(m->nstats, 601); /* and a lifetime of tag 4 at stack 1 */
    for (size_t i = 0; i < m->nsites; i++) {
        const struct handle__rm_stat *st = handle__rm_site_stat(m, &m->sites[i]);
        assert_non_null(st);
        assert_string_equal(st->tag, m->sites[i].tag);
        assert_true(st->created >= 1 && st->created <= 2);
    }
    handle__rm_free(m);
}

/* A trace whose handles view does not show the live handles: leak sites
 * without statistics. */
static void test_sites_without_stats(void **state)
{
    (void)state;
    const char *a = tg_path("nostats.db");
    make_trace(a, 1, "(1, 1, 5, 1, 1), (2, NULL, 6, 1, 2)");
    /* without meta.layout the reader takes the views as they are */
    tg_sql(a, "DELETE FROM meta WHERE key = 'layout';"
              "DROP VIEW handles; CREATE VIEW handles AS SELECT NULL AS created_stack, "
              "NULL AS tag, NULL AS created_ns, NULL AS deleted_ns WHERE 0");
    struct handle__rm *m = model(true);
    handle__rm_want_detail(m);
    add(m, a);
    assert_true(handle__rm_finish(m));
    assert_int_equal(m->nsites, 2);
    assert_int_equal(m->nstats, 0);
    assert_null(handle__rm_site_stat(m, &m->sites[0]));
    assert_null(handle__rm_site_stat(m, &m->sites[1]));
    handle__rm_free(m);
}

/* The renderers' string-keyed table. */
static void test_map(void **state)
{
    (void)state;
    struct handle__rm_map *mp = handle__rm_map_new();
    assert_non_null(mp);
    size_t v = 99;
    bool added = false;
    assert_true(handle__rm_map_get(mp, NULL, 0, 7, &v, &added));
    assert_true(added);
    assert_int_equal(v, 7);
    assert_true(handle__rm_map_get(mp, "", 0, 8, &v, &added));
    assert_false(added);
    assert_int_equal(v, 7);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(k, sizeof k, "key %d", i);
        assert_true(handle__rm_map_get(mp, k, (size_t)n, (size_t)i + 100, &v, &added));
        assert_true(added);
    }
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(k, sizeof k, "key %d", i);
        assert_true(handle__rm_map_get(mp, k, (size_t)n, 0, &v, &added));
        assert_false(added);
        assert_int_equal(v, (size_t)i + 100);
    }
    /* keys are bytes: an embedded NUL, a prefix */
    assert_true(handle__rm_map_get(mp, "key 1\0x", 7, 5, &v, &added));
    assert_true(added);
    assert_true(handle__rm_map_get(mp, "key", 3, 6, &v, &added));
    assert_true(added);
    /* out of memory: false, nothing added */
    oom_arm(0, true);
    bool ok = handle__rm_map_get(mp, "new", 3, 1, &v, &added);
    oom_disarm();
    assert_false(ok);
    assert_true(handle__rm_map_get(mp, "new", 3, 1, &v, &added));
    assert_true(added);
    handle__rm_map_free(mp);
    handle__rm_map_free(NULL);
}

/* ---- leaks.c ------------------------------------------------------------------- */

static void test_leaks_text(void **state)
{
    (void)state;
    static const uintptr_t pcs[] = {0x1234, 0x5678};
    struct handle__leak_site s[] = {
        {.count = 2, .first_ns = 5, .order = 1, .depth = 2, .pcs = pcs},
        {.count = 2, .first_ns = 5, .order = 0, .depth = 1, .pcs = pcs, .tag = "t",
         .processes = 3},
        {.count = 2, .first_ns = 4, .order = 9, .depth = 0},
        {.count = 0, .first_ns = 1, .order = 3, .depth = 1, .pcs = pcs},
        {.count = 7, .first_ns = 9, .order = 4, .depth = 0, .example = "x.db"},
    };
    /* no symbolizer: no frames, ordered by count, time, order */
    assert_true(handle__leaks_resolve(NULL, NULL, s, 5));
    assert_int_equal(s[0].count, 7);
    assert_int_equal(s[1].first_ns, 4);
    assert_int_equal(s[2].order, 0);
    assert_int_equal(s[3].order, 1);
    assert_int_equal(s[4].count, 0);
    uint64_t n = 0;
    assert_int_equal(handle__leaks_total(s, 5, &n), 13);
    assert_int_equal(n, 4);
    assert_int_equal(handle__leaks_total(s, 5, NULL), 13);
    struct handle__sb b = {0};
    handle__leaks_text(&b, 42, s, 5, 3, NULL);
    assert_string_equal(b.p,
        "=================================================================\n"
        "==42==ERROR: HandleSanitizer: detected handle leaks\n"
        "\nLeak of 7 handle(s) in 1 process (x.db) created from:\n"
        "    <empty stack>\n"
        "\nLeak of 2 handle(s) created from:\n"
        "    <empty stack>\n"
        "\nLeak of 2 handle(s) tagged \"t\" in 3 processes (e.g. ?) created from:\n"
        "    #0 0x1234\n"
        "\nOmitting 1 more leak site(s).\n"
        "\nSUMMARY: HandleSanitizer: 13 handle(s) leaked in 4 site(s).\n");
    handle__sb_reset(&b);
    /* nothing leaked: nothing printed */
    handle__leaks_text(&b, 42, s + 4, 1, 0, NULL);
    assert_int_equal(b.len, 0);
    handle__sb_free(&b);
    handle__leaks_release(s, 5);

    /* ties everywhere keep both; a symbolizer without modules gives
     * frames with no module; suppressed sites are not printed */
    struct handle__leak_site t[] = {
        {.count = 1, .first_ns = 1, .order = 1, .depth = 2, .pcs = pcs},
        {.count = 1, .first_ns = 1, .order = 1, .depth = 1, .pcs = pcs + 1},
        {.count = 3, .first_ns = 1, .order = 1, .depth = 1, .pcs = pcs},
        {.count = 0, .first_ns = 0, .order = 0, .depth = 1, .pcs = pcs},
    };
    struct handle__symbolizer *sy = handle__sym_new_ex(HANDLE__SYM_NO_DW);
    assert_true(handle__leaks_resolve(sy, NULL, t, 4));
    assert_int_equal(t[3].count, 0);
    assert_int_equal(t[0].count, 3);
    assert_int_equal(t[0].nframes, 1);
    assert_string_equal(t[0].frames[0].module, "");
    assert_int_equal(t[0].frames[0].module_offset, 0x1234);
    assert_int_equal(t[1].nframes + t[2].nframes, 3);
    t[0].suppressed_by = 0;
    handle__leaks_text(&b, 1, t, 4, 0, NULL);
    assert_null(strstr(b.p, "Leak of 3"));
    assert_non_null(strstr(b.p, "SUMMARY: HandleSanitizer: 2 handle(s) leaked in 2 site(s)."));
    assert_non_null(strstr(b.p, "    #0 0x1234 (<unknown module>)\n"));
    handle__sb_free(&b);
    handle__leaks_release(t, 4);
    handle__sym_free(sy);
}

/* ---- allocation failures --------------------------------------------------------- */

/* A whole report: baselines (JSON, trace), two traces with errors and
 * statistics, finish and text. NULL when something failed (with why). */
static char *whole_report(const char *json, const char *a, const char *b, char *why, size_t len)
{
    struct handle__symbolizer *s = handle__sym_new_ex(HANDLE__SYM_NO_DW);
    if (s == NULL) {
        snprintf(why, len, "out of memory");
        return NULL;
    }
    struct handle__supp *supp = handle__supp_parse("leak:libgone\n", NULL, why, len);
    struct handle__rm *m = supp ? handle__rm_new(s, supp, true) : NULL;
    char *text = NULL;
    if (m == NULL) {
        snprintf(why, len, "out of memory");
    } else {
        handle__rm_want_detail(m);
        if (handle__rm_add_baseline(m, json, why, len) && handle__rm_add_baseline(m, a, why, len) &&
            handle__rm_add_trace(m, a, why, len) && handle__rm_add_trace(m, b, why, len)) {
            if (handle__rm_finish(m)) {
                struct handle__sb t = {0};
                handle__rm_text(&t, m, true);
                if (!t.oom)
                    text = __real_strdup(t.p);
                else
                    snprintf(why, len, "out of memory");
                handle__sb_free(&t);
            } else {
                snprintf(why, len, "out of memory");
            }
        }
    }
    handle__rm_free(m);
    handle__supp_free(supp);
    handle__sym_free(s);
    return text;
}

static void test_oom(void **state)
{
    (void)state;
    const char *a = tg_path("oom-a.db"), *b = tg_path("oom-b.db"), *json = tg_path("oom.json");
    make_stats_trace(a, 1);
    make_stats_trace(b, 2);
    tg_sql(b, "INSERT INTO live VALUES (100, 2, 5, 1, 2), (101, NULL, 6, 1, 4), (102, NULL, 7, 1, 3);"
              "INSERT INTO errors VALUES (1, 'double-delete', 7, 400, 1, 1, 'twice', 'conn', 1, 1,"
              "  2, 2), (2, 'use-after-delete', 8, 500, 1, 2, 'late', NULL, 1, 1, 2, 3)");
    /* > 64 KiB (read in more than one piece), leaks of two frames */
    static char js[70000];
    int n = snprintf(js, sizeof js, "{\"leaks\": [{\"tag\": \"conn\", \"stack\": [{\"module\": "
                     "\"app\"}, {\"function\": \"x\"}]}, {\"tag\": \"zzz\", \"stack\": "
                     "[{\"function\": \"f\", \"file\": \"g.c\"}, {\"module\": \"m\"}]}], \"pad\": \"");
    memset(js + n, 'p', sizeof js - (size_t)n - 3);
    strcpy(js + sizeof js - 3, "\"}");
    write_text(json, js);
    char why[300];
    char *ref = whole_report(json, a, b, why, sizeof why);
    if (ref == NULL)
        fail_msg("reference report: %s", why);
    int failed = 0;
    long at;
    for (at = 0;; at++) {
        strcpy(why, "");
        oom_arm(at, false);
        char *text = whole_report(json, a, b, why, sizeof why);
        bool hit = oom_disarm();
        if (text == NULL) {
            failed++;
            if (strcmp(why, "out of memory") != 0)
                fail_msg("allocation %ld failing: '%s'", at, why);
        }
        if (!hit) {
            assert_non_null(text);
            assert_string_equal(text, ref); /* past the last allocation */
            free(text);
            break;
        }
        free(text);
    }
    assert_true(failed > 100);
    /* and from some allocation on, every one fails */
    for (long k = 0; k < at; k += 1 + k / 16) {
        strcpy(why, "");
        oom_arm(k, true);
        char *text = whole_report(json, a, b, why, sizeof why);
        oom_disarm();
        assert_null(text);
        assert_string_equal(why, "out of memory");
    }
    free(ref);
}

/* handle__rm_finish alone (with libdw: module notes) under allocation
 * failures: false, or the whole report. */
static void test_oom_finish(void **state)
{
    (void)state;
    const char *a = tg_path("oom-fin.db"), *b = tg_path("oom-fin-b.db");
    make_trace(a, 1, "(1, 1, 500, 1, 1), (2, NULL, 300, 1, 4), (3, 2, 7, 1, 6)");
    make_trace(b, 2, "(1, 1, 500, 1, 3), (2, NULL, 300, 1, 4)");
    tg_sql(b, "UPDATE modules SET path = '/nonexistent/lib/libother.so' WHERE id = 2;"
              "INSERT INTO batches VALUES (1, 1000, 1, 0, '[[0,10,5,1,1,1,1,0]]')");
    for (int sticky = 0; sticky <= 1; sticky++) {
        for (long at = 0;; at++) {
            struct handle__rm *m = model(true);
            handle__rm_want_detail(m);
            add(m, a);
            add(m, b);
            oom_arm(at, sticky);
            bool ok = handle__rm_finish(m);
            bool hit = oom_disarm();
            if (!hit) {
                assert_true(ok);
                assert_int_equal(m->nnotes, 2);
                assert_int_equal(m->nsites, 4);
                handle__rm_free(m);
                break;
            }
            handle__rm_free(m);
            teardown(NULL);
        }
    }
}

static int teardown_all(void **state)
{
    (void)state;
    tg_cleanup();
    return 0;
}

int main(void)
{
    handle__tr_global_init();
    tg_self(&self);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_one_trace_twice, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_suppressed_and_refused, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_damaged, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_errors, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_baselines, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_stats, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_stats_edges, NULL, teardown),
        cmocka_unit_test(test_notes_without_libdw),
        cmocka_unit_test_setup_teardown(test_modules_by_address, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_many_sites, NULL, teardown),
        cmocka_unit_test_setup_teardown(test_sites_without_stats, NULL, teardown),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_leaks_text),
        cmocka_unit_test(test_oom),
        cmocka_unit_test_setup_teardown(test_oom_finish, NULL, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
