/*
 * bench_layout.c - issue 12 item 14: candidate layouts of completed
 * lifetimes in the trace, measured with the SQLite the debug build links.
 *
 *   bench_layout LAYOUT N DB
 *
 * writes N synthetic lifetimes (the shape of a busy program: handles
 * reused after a quarantine, a tag on one in ten, four threads, 200
 * creation and 50 deletion stacks) into DB in LAYOUT, as the writer does
 * (WAL, the writer's pragmas, one transaction per 4096 lifetimes), and
 * prints, one "KEY VALUE" per line:
 *
 *   write_cpu_ns   thread CPU per lifetime for the inserts (encoding,
 *                  SQLite, WAL writes)
 *   bytes          file and -wal bytes per lifetime after the close
 *   q_count, q_tag, q_thread, q_group   process CPU ms per million rows
 *                  (best of 3) of the four queries of the issue through
 *                  the `handles` view: count(*), a filter on tag, a filter
 *                  on created_thread, GROUP BY created_stack
 *
 * Layouts (each with the trace's `tags` and `live` tables, and `handles`
 * a view with the columns of SPEC section 5):
 *   wide     the writer's today (HANDLE__TRACE_LAYOUT), its own schema
 *            and codec (lib/format): eight lifetimes a `lifetimes` row,
 *            six integers each, the view a UNION ALL of the eight slots
 *            and live
 *   json     the writer's before it (HANDLE__LAYOUT_JSON): JSON arrays of
 *            1024 lifetimes in `batches` (lib/format/lifetimes.c encodes
 *            them), the view unpacks them with json_each and
 *            json_extract, UNION ALL live
 *   plain    one integer row per lifetime, the view UNION ALL live
 *   single   one integer row per lifetime, live handles rows of the same
 *            table (deleted_ns NULL): the view is over one table, which
 *            SQLite flattens into the query
 *   wideK    K lifetimes per row (K = 2..16; wide4: four), six integer
 *            columns each as `wide` has them, the view a UNION ALL of K
 *            selects and live
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format/lifetimes.h"
#include "format/trace_format.h"

#define TX 4096
/* lifetimes per row of the wideK layouts (K = 2..16) */
static int WIDE = HANDLE__ROW_WIDTH;

static double cpu_ns(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void ex(sqlite3 *db, const char *sql)
{
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) {
        fprintf(stderr, "bench_layout: %s\n  in: %.200s\n", e ? e : "?", sql);
        exit(1);
    }
}

/* Lifetime i of the synthetic program. */
static struct handle__lifetime gen(uint64_t i)
{
    static uint64_t t = 1000000;
    struct handle__lifetime l;
    uint32_t idx = (uint32_t)(i % 70000) + 1, g = (uint32_t)(i / 70000) + 1;
    l.h = (uint64_t)g << 32 | idx;
    t += 250 + i * 7919 % 300;
    l.created_ns = t;
    l.deleted_ns = t + 80 + i * 104729 % 5000;
    l.tag = i % 10 == 0 ? (uint32_t)(1 + i % 5) : 0;
    l.created_thread = (uint32_t)(i % 4);
    l.deleted_thread = i % 17 == 0 ? (l.created_thread + 1) % 4 : l.created_thread;
    l.created_stack = (uint32_t)(1 + i * 31 % 200);
    l.deleted_stack = (uint32_t)(201 + i * 17 % 50);
    return l;
}

static const char *const pragmas_sql =
    "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    "PRAGMA cache_size=-8192; PRAGMA wal_autocheckpoint=1024;";
/* The trace's tags and live tables, for the candidate layouts (json has
 * them from the writer's own schema). */
static const char *const tables_sql =
    "CREATE TABLE tags(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
    "CREATE TABLE live(handle INTEGER PRIMARY KEY, tag INTEGER, created_ns INTEGER,"
    "  created_thread INTEGER, created_stack INTEGER);";
static const char *const tags_sql =
    "INSERT INTO tags VALUES (1, 'conn'), (2, 'req'), (3, 'timer'), (4, 'file'), (5, 'sock');";

#define LIVE_ARM                                                                              \
    " SELECT handle, (SELECT name FROM tags WHERE id = l.tag), created_ns, created_thread,"  \
    " nullif(created_stack, 0), NULL, NULL, NULL FROM live AS l"
#define HANDLES_COLS                                                                          \
    "CREATE VIEW handles(handle, tag, created_ns, created_thread, created_stack, deleted_ns," \
    " deleted_thread, deleted_stack) AS "

static void schema(sqlite3 *db, const char *layout)
{
    ex(db, pragmas_sql);
    if (strcmp(layout, "json") == 0 || strcmp(layout, "wide") == 0) {
        /* the writer's own schemas (lib/format/trace_format.h) */
        ex(db, layout[0] == 'j' ? handle__trace_schema_json_sql : handle__trace_schema_sql);
        ex(db, tags_sql);
        return;
    }
    ex(db, tables_sql);
    ex(db, tags_sql);
    if (strcmp(layout, "plain") == 0) {
        ex(db, "CREATE TABLE lifetimes(idx, gen, tag, created_ns, created_thread,"
               " created_stack, dur, deleted_thread, deleted_stack);" HANDLES_COLS
               " SELECT gen << 32 | idx, (SELECT name FROM tags WHERE id = l.tag), created_ns,"
               " created_thread, nullif(created_stack, 0), created_ns + dur,"
               " coalesce(deleted_thread, created_thread), nullif(deleted_stack, 0)"
               " FROM lifetimes AS l UNION ALL" LIVE_ARM);
    } else if (strcmp(layout, "single") == 0) {
        ex(db, "CREATE TABLE lifetimes(handle, tag, created_ns, created_thread,"
               " created_stack, deleted_ns, deleted_thread, deleted_stack);" HANDLES_COLS
               " SELECT handle, (SELECT name FROM tags WHERE id = l.tag), created_ns,"
               " created_thread, nullif(created_stack, 0), deleted_ns,"
               " CASE WHEN deleted_ns IS NOT NULL THEN coalesce(deleted_thread, created_thread) END,"
               " nullif(deleted_stack, 0) FROM lifetimes AS l");
    } else if (strncmp(layout, "wide", 4) == 0) {
        char sql[16384];
        int n = snprintf(sql, sizeof sql, "CREATE TABLE wide(");
        for (int k = 0; k < WIDE; k++)
            n += snprintf(sql + n, sizeof sql - (size_t)n, "%sh%d, c%d, d%d, s%d, e%d, t%d",
                          k ? ", " : "", k, k, k, k, k, k);
        n += snprintf(sql + n, sizeof sql - (size_t)n, ");" HANDLES_COLS);
        for (int k = 0; k < WIDE; k++)
            n += snprintf(sql + n, sizeof sql - (size_t)n,
                          " SELECT h%d, (SELECT name FROM tags WHERE id = t%d), c%d,"
                          " (s%d >> 32) & 4294967295, nullif(s%d & 4294967295, 0), c%d + d%d,"
                          " CASE WHEN e%d >> 32 = 0 THEN (s%d >> 32) & 4294967295"
                          " ELSE ((e%d >> 32) & 4294967295) - 1 END,"
                          " nullif(e%d & 4294967295, 0) FROM wide WHERE h%d IS NOT NULL UNION ALL",
                          k, k, k, k, k, k, k, k, k, k, k, k);
        snprintf(sql + n, sizeof sql - (size_t)n, "%s", LIVE_ARM);
        ex(db, sql);
    } else {
        fprintf(stderr, "bench_layout: unknown layout %s\n", layout);
        exit(2);
    }
}

static void bind_or_null(sqlite3_stmt *s, int i, int64_t v, bool null)
{
    if (null)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_int64(s, i, v);
}

static void write_all(sqlite3 *db, const char *layout, uint64_t n)
{
    sqlite3_stmt *st = NULL;
    char sql[4096];
    int json = strcmp(layout, "json") == 0, wide = strncmp(layout, "wide", 4) == 0;
    if (strcmp(layout, "wide") == 0) {
        snprintf(sql, sizeof sql, "%s", HANDLE__ROW_INSERT_SQL);
    } else if (json) {
        snprintf(sql, sizeof sql, "INSERT INTO batches(base_ns, n, skip, data) VALUES (?, ?, 0, ?)");
    } else if (wide) {
        int k = snprintf(sql, sizeof sql, "INSERT INTO wide VALUES (");
        for (int i = 0; i < 6 * WIDE; i++)
            k += snprintf(sql + k, sizeof sql - (size_t)k, "%s?", i ? ", " : "");
        snprintf(sql + k, sizeof sql - (size_t)k, ")");
    } else {
        snprintf(sql, sizeof sql, "INSERT INTO lifetimes VALUES (?, ?, ?, ?, ?, ?, ?, ?%s)",
                 strcmp(layout, "plain") == 0 ? ", ?" : "");
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_layout: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    struct handle__chunk c;
    if (json && !handle__chunk_init(&c))
        exit(1);
    ex(db, "BEGIN");
    for (uint64_t i = 0; i < n; i++) {
        struct handle__lifetime l = gen(i);
        if (i && i % TX == 0) {
            ex(db, "COMMIT");
            ex(db, "BEGIN");
        }
        bool same = l.deleted_thread == l.created_thread;
        if (json) {
            if (handle__chunk_add(&c, &l) || i == n - 1) {
                size_t len;
                const char *text = handle__chunk_text(&c, &len);
                sqlite3_bind_int64(st, 1, (int64_t)c.base);
                sqlite3_bind_int64(st, 2, c.n);
                sqlite3_bind_text(st, 3, text, (int)len, SQLITE_STATIC);
                sqlite3_step(st);
                sqlite3_reset(st);
                handle__chunk_clear(&c);
            }
        } else if (wide) {
            /* the writer's codec (lib/format/lifetimes.c), as its row_flush */
            int k = (int)(i % WIDE), b = HANDLE__ROW_FIELDS * k;
            struct handle__wslot ws;
            handle__wslot_encode(&l, &ws);
            for (int f = 0; f < HANDLE__ROW_FIELDS; f++)
                bind_or_null(st, b + f + 1, ws.v[f], ws.null[f]);
            if (k == WIDE - 1 || i == n - 1) {
                for (int j = 6 * (k + 1) + 1; j <= 6 * WIDE; j++)
                    sqlite3_bind_null(st, j);
                sqlite3_step(st);
                sqlite3_reset(st);
            }
        } else if (strcmp(layout, "plain") == 0) {
            sqlite3_bind_int64(st, 1, (uint32_t)l.h);
            sqlite3_bind_int64(st, 2, (int64_t)(l.h >> 32));
            bind_or_null(st, 3, l.tag, l.tag == 0);
            sqlite3_bind_int64(st, 4, (int64_t)l.created_ns);
            sqlite3_bind_int64(st, 5, l.created_thread);
            sqlite3_bind_int64(st, 6, l.created_stack);
            sqlite3_bind_int64(st, 7, (int64_t)(l.deleted_ns - l.created_ns));
            bind_or_null(st, 8, l.deleted_thread, same);
            sqlite3_bind_int64(st, 9, l.deleted_stack);
            sqlite3_step(st);
            sqlite3_reset(st);
        } else {
            sqlite3_bind_int64(st, 1, (int64_t)l.h);
            bind_or_null(st, 2, l.tag, l.tag == 0);
            sqlite3_bind_int64(st, 3, (int64_t)l.created_ns);
            sqlite3_bind_int64(st, 4, l.created_thread);
            sqlite3_bind_int64(st, 5, l.created_stack);
            sqlite3_bind_int64(st, 6, (int64_t)l.deleted_ns);
            bind_or_null(st, 7, l.deleted_thread, same);
            sqlite3_bind_int64(st, 8, l.deleted_stack);
            sqlite3_step(st);
            sqlite3_reset(st);
        }
    }
    ex(db, "COMMIT");
    sqlite3_finalize(st);
    if (json)
        handle__chunk_free(&c);
}

static long long file_bytes(const char *path)
{
    struct stat sb;
    char p[4096];
    long long b = stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
    snprintf(p, sizeof p, "%s-wal", path);
    if (stat(p, &sb) == 0)
        b += (long long)sb.st_size;
    return b;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_layout wide|json|plain|single|wideK N DB\n");
        return 2;
    }
    const char *layout = argv[1], *path = argv[3];
    if (strncmp(layout, "wide", 4) == 0 && layout[4]) {
        WIDE = atoi(layout + 4);
        if (WIDE < 2 || WIDE > 16) {
            fprintf(stderr, "bench_layout: wideK takes K from 2 to 16\n");
            return 2;
        }
    }
    uint64_t n = strtoull(argv[2], NULL, 10);
    char p[4096];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    sqlite3 *db;
    if (n == 0 || sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        return 1;
    schema(db, layout);
    double c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    write_all(db, layout, n);
    double c1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    sqlite3_close(db);
    printf("layout %s\nlifetimes %llu\n", layout, (unsigned long long)n);
    printf("write_cpu_ns %.1f\n", (c1 - c0) / (double)n);
    printf("bytes %.1f\n", (double)file_bytes(path) / (double)n);
    static const char *const q[][2] = {
        {"q_count", "SELECT count(*) FROM handles"},
        {"q_tag", "SELECT count(*) FROM handles WHERE tag = 'req'"},
        {"q_thread", "SELECT count(*) FROM handles WHERE created_thread = 2"},
        {"q_group", "SELECT created_stack, count(*) FROM handles GROUP BY created_stack"},
    };
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return 1;
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        double best = 1e300;
        for (int r = 0; r < 3; r++) {
            double t0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
            sqlite3_stmt *s;
            if (sqlite3_prepare_v2(db, q[i][1], -1, &s, NULL) != SQLITE_OK)
                return 1;
            while (sqlite3_step(s) == SQLITE_ROW) {
            }
            sqlite3_finalize(s);
            double t = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - t0;
            if (t < best)
                best = t;
        }
        printf("%s %.1f\n", q[i][0], best / 1e6 * 1e6 / (double)n);
    }
    sqlite3_close(db);
    return 0;
}
