/*
 * tracegen.h - small traces for test_trace_read and test_report_model,
 * written with SQLite directly in the layout lib/debug/trace.c writes
 * (its schema_sql, copied: batches of JSON lifetimes, live, the views
 * handles/leaks), then damaged with SQL one defect at a time.
 *
 * Also an allocation-failure injector: the tests are linked with
 * -Wl,--wrap=malloc,calloc,realloc,strdup, so every allocation of lib/report
 * (a static archive linked into the test) goes through oom_* below, while
 * SQLite, libdw and libc (shared libraries) allocate as usual.
 */
#ifndef TRACEGEN_H
#define TRACEGEN_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <link.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- allocation failures ---------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);

static long oom_at = -1;     /* the allocation (from 0) that fails; -1: none */
static bool oom_sticky;      /* and every one after it */
static long oom_count;       /* allocations seen since oom_arm */

static __attribute__((unused)) void oom_arm(long at, bool sticky)
{
    oom_count = 0;
    oom_sticky = sticky;
    oom_at = at;
}

/* Disarms; true when the armed failure happened. */
static __attribute__((unused)) bool oom_disarm(void)
{
    bool hit = oom_at >= 0 && oom_count > oom_at;
    oom_at = -1;
    return hit;
}

static __attribute__((unused)) bool oom_fail(void)
{
    if (oom_at < 0)
        return false;
    long c = oom_count++;
    return c == oom_at || (oom_sticky && c > oom_at);
}

void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
    return oom_fail() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_calloc(size_t n, size_t m)
{
    return oom_fail() ? NULL : __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n)
{
    return oom_fail() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s);
char *__wrap_strdup(const char *s)
{
    return oom_fail() ? NULL : __real_strdup(s);
}

/* ---- files ---------------------------------------------------------------- */

static char tg_dirbuf[PATH_MAX];

/* A private directory for this process's files (removed by tg_cleanup). */
static __attribute__((unused)) const char *tg_dir(void)
{
    if (tg_dirbuf[0] == '\0') {
        const char *t = getenv("TMPDIR");
        snprintf(tg_dirbuf, sizeof tg_dirbuf, "%s/reader-test.XXXXXX", t && *t ? t : "/tmp");
        if (mkdtemp(tg_dirbuf) == NULL) {
            perror("mkdtemp");
            abort();
        }
    }
    return tg_dirbuf;
}

/* DIR/name in a static buffer (one of four, used in turn). */
static __attribute__((unused)) const char *tg_path(const char *name)
{
    static char bufs[4][PATH_MAX];
    static int next;
    char *b = bufs[next++ & 3];
    int n = snprintf(b, PATH_MAX, "%s/%s", tg_dir(), name);
    if (n <= 0 || n >= PATH_MAX)
        abort(); /* the test directory is short: never */
    return b;
}

static __attribute__((unused)) void tg_cleanup(void)
{
    if (tg_dirbuf[0] == '\0')
        return;
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tg_dirbuf);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tg_dirbuf);
    tg_dirbuf[0] = '\0';
}

static __attribute__((unused)) void tg_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

static __attribute__((unused)) void tg_unlink_all(const char *path)
{
    char p[PATH_MAX + 16];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-journal", path);
    unlink(p);
}

/* ---- SQL ------------------------------------------------------------------ */

static __attribute__((unused)) void tg_exec(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "tracegen: %s\n  in: %s\n", msg ? msg : "?", sql);
        abort();
    }
    sqlite3_free(sql);
}

static __attribute__((unused)) sqlite3 *tg_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "tracegen: cannot open %s\n", path);
        abort();
    }
    return db;
}

/* Overwrites the root page of table (or index) name with garbage. */
static __attribute__((unused)) void tg_smash(const char *path, const char *name)
{
    sqlite3 *db = tg_open(path);
    sqlite3_stmt *s = NULL;
    long page = 0;
    if (sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE name = ?1", -1, &s,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW)
            page = sqlite3_column_int(s, 0);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    char junk[4096];
    memset(junk, 0xa5, sizeof junk);
    FILE *f = page > 1 ? fopen(path, "r+b") : NULL;
    if (f == NULL || fseek(f, (page - 1) * 4096, SEEK_SET) != 0 ||
        fwrite(junk, 1, sizeof junk, f) != sizeof junk || fclose(f) != 0) {
        fprintf(stderr, "tracegen: cannot smash %s in %s (root page %ld)\n", name, path, page);
        abort();
    }
}

/* The writer's own format (lib/format/trace_format.h) and codec
 * (lib/format/lifetimes.h): the tests build traces of exactly the layouts
 * the writer makes, with the encoder it uses. tg_make builds the JSON
 * layout (HANDLE__LAYOUT_JSON, which the reader still reads: most tests
 * insert `batches` rows themselves), tg_make_wide today's
 * (HANDLE__TRACE_LAYOUT, rows added with tg_row). */
#include "format/lifetimes.h"
#include "format/trace_format.h"

#define TG_T0 1764039600000000000LL

/* An empty trace of the writer's layout with the standard meta (a clean
 * run of /usr/bin/app, pid 4242), then extra SQL (may be NULL), in
 * rollback-journal mode: nothing beside the file once closed. */
static __attribute__((unused)) void tg_make_layout(const char *path, const char *extra,
                                                   bool wide)
{
    tg_unlink_all(path);
    sqlite3 *db = tg_open(path);
    tg_exec(db, "BEGIN");
    tg_exec(db, "%s", wide ? handle__trace_schema_sql : handle__trace_schema_json_sql);
    tg_exec(db, "INSERT INTO meta VALUES ('format', 'handle-trace'), ('version', 1), "
                "('layout', '%s'), ('pid', 4242), ('exe', '/usr/bin/app'), ('cmdline', 'app --serve'), "
                "('started_at', %lld), ('ended_at', %lld), ('exit_status', 3)",
            wide ? HANDLE__TRACE_LAYOUT : HANDLE__LAYOUT_JSON, TG_T0, TG_T0 + 1500000000LL);
    if (extra)
        tg_exec(db, "%s", extra);
    tg_exec(db, "COMMIT");
    sqlite3_close(db);
}

static __attribute__((unused)) void tg_make(const char *path, const char *extra)
{
    tg_make_layout(path, extra, false);
}

static __attribute__((unused)) void tg_make_wide(const char *path, const char *extra)
{
    tg_make_layout(path, extra, true);
}

/* `lifetimes` rows holding lifetimes l[0..n) in slots first, first + 1,
 * ... (HANDLE__ROW_WIDTH a row; the slots before first NULL, as
 * max_history leaves them), encoded by the writer's codec. */
static __attribute__((unused)) void tg_row(const char *path, unsigned first,
                                           const struct handle__lifetime *l, size_t n)
{
    sqlite3 *db = tg_open(path);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, HANDLE__ROW_INSERT_SQL, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "tracegen: tg_row: %s\n", sqlite3_errmsg(db));
        abort();
    }
    size_t i = 0;
    while (i < n) {
        for (unsigned k = 0; k < HANDLE__ROW_WIDTH; k++) {
            int col = (int)k * HANDLE__ROW_FIELDS + 1;
            struct handle__wslot ws;
            bool used = k >= first && i < n;
            if (used)
                handle__wslot_encode(&l[i++], &ws);
            for (int f = 0; f < HANDLE__ROW_FIELDS; f++) {
                if (!used || ws.null[f])
                    sqlite3_bind_null(st, col + f);
                else
                    sqlite3_bind_int64(st, col + f, ws.v[f]);
            }
        }
        first = 0;
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "tracegen: tg_row: %s\n", sqlite3_errmsg(db));
            abort();
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* One `batches` row holding lifetimes l[0..n), encoded by the writer's
 * codec, its first `skip` elements dropped as max_history drops them. */
static __attribute__((unused)) void tg_batch(const char *path, int64_t skip,
                                             const struct handle__lifetime *l, size_t n)
{
    struct handle__chunk c;
    if (n == 0 || n > HANDLE__CODEC_CHUNK_MAX || !handle__chunk_init(&c)) {
        fprintf(stderr, "tracegen: tg_batch: %zu lifetimes\n", n);
        abort();
    }
    for (size_t i = 0; i < n; i++)
        handle__chunk_add(&c, &l[i]);
    size_t len;
    const char *text = handle__chunk_text(&c, &len);
    sqlite3 *db = tg_open(path);
    /* sqlite3_mprintf: %lld, never %zu (%z is its own) */
    tg_exec(db, "INSERT INTO batches(base_ns, n, skip, data) VALUES (%lld, %lld, %lld, '%.*s')",
            (long long)c.base, (long long)n, (long long)skip, (int)len, text);
    sqlite3_close(db);
    handle__chunk_free(&c);
}

/* SQL on an existing trace (the damage). */
static __attribute__((unused)) void tg_sql(const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3 *db = tg_open(path);
    tg_exec(db, "%s", sql);
    sqlite3_close(db);
    sqlite3_free(sql);
}

/* ---- this program as a traced module -------------------------------------- */

struct tg_self {
    char path[PATH_MAX];
    uintptr_t bias, lo, hi;
};

static __attribute__((unused)) int tg_phdr_cb(struct dl_phdr_info *info, size_t size, void *ctx)
{
    (void)size;
    struct tg_self *s = ctx;
    s->bias = info->dlpi_addr;
    s->lo = UINTPTR_MAX;
    s->hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < s->lo)
            s->lo = a;
        if (a + ph->p_memsz > s->hi)
            s->hi = a + ph->p_memsz;
    }
    return 1; /* the first object is the program */
}

static __attribute__((unused)) void tg_self(struct tg_self *s)
{
    memset(s, 0, sizeof *s);
    ssize_t n = readlink("/proc/self/exe", s->path, sizeof s->path - 1);
    if (n <= 0)
        abort();
    s->path[n] = '\0';
    dl_iterate_phdr(tg_phdr_cb, s);
}

#endif
