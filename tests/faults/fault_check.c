/*
 * fault_check.c - the checking half of the fault tests (tests/faults/run.sh):
 *
 *   fault_check kill9 DELAY_MS CKPT TRACE FLUSH_MS SLACK_MS -- CMD [ARGS...]
 *       runs CMD (faultprog churn ... CKPT), sends it SIGKILL DELAY_MS
 *       later, and checks TRACE against the checkpoints CMD published:
 *        - the trace opens and passes PRAGMA integrity_check (and is a
 *          handle trace without ended_at, when it exists at all);
 *        - it holds every event older than FLUSH_MS + SLACK_MS at the
 *          kill (SPEC section 5): for each churn thread, the newest
 *          checkpoint whose counts the trace's rows for the thread's tag
 *          reach tells up to when the trace is complete; the first
 *          checkpoint it does not reach bounds the age of the oldest event
 *          missing from below;
 *        - the 100 "main" handles, created before any churn thread
 *          started, are all there as soon as any churn event is.
 *       Prints one line: "kill9 delay_ms=D rows=N missing_age_ms=A ok"
 *       (A: a lower bound of the age of the oldest missing event at the
 *       kill, -1 when nothing checkpointed is missing). Exit 0 if intact.
 *   fault_check integrity TRACE
 *       PRAGMA integrity_check and meta format; prints "ok". Exit 0/1.
 *   fault_check counts TRACE
 *       one line per tag: "TAG ROWS COMPLETED" (untagged: "-"), then
 *       "errors N" and "ended YES|NO".
 * Exit status 2 on bad usage or when CMD cannot be run.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Opens path read-write (a killed process's WAL is recovered, as any user
 * of sqlite3 would) and runs integrity_check; NULL with a reason printed. */
static sqlite3 *open_checked(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        printf("cannot open %s: %s\n", path, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    const char *res = NULL;
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        res = (const char *)sqlite3_column_text(st, 0);
    if (!res || strcmp(res, "ok") != 0) {
        printf("%s: integrity_check: %s\n", path, res ? res : sqlite3_errmsg(db));
        sqlite3_finalize(st);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_finalize(st);
    return db;
}

/* A one-value query as text ("" for NULL or no row, NULL on error). */
static char *query1(sqlite3 *db, const char *sql)
{
    static char buf[256];
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    buf[0] = '\0';
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? buf : NULL;
}

struct tagcount {
    char tag[32];
    long long rows, completed;
};

/* Rows of the handles view per tag; -1 on error. */
static int tag_counts(sqlite3 *db, struct tagcount *out, int cap)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT coalesce(tag, '-'), count(*), count(deleted_ns) FROM handles "
                           "GROUP BY tag",
                           -1, &st, NULL) != SQLITE_OK) {
        printf("handles view: %s\n", sqlite3_errmsg(db));
        return -1;
    }
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < cap) {
        snprintf(out[n].tag, sizeof out[n].tag, "%s", (const char *)sqlite3_column_text(st, 0));
        out[n].rows = sqlite3_column_int64(st, 1);
        out[n].completed = sqlite3_column_int64(st, 2);
        n++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        printf("handles view: %s\n", sqlite3_errmsg(db));
        n = -1;
    }
    sqlite3_finalize(st);
    return n;
}

static const struct tagcount *find_tag(const struct tagcount *c, int n, const char *tag)
{
    for (int i = 0; i < n; i++)
        if (strcmp(c[i].tag, tag) == 0)
            return &c[i];
    return NULL;
}

static int do_counts(const char *path)
{
    sqlite3 *db = open_checked(path);
    if (!db)
        return 1;
    struct tagcount c[64];
    int n = tag_counts(db, c, 64);
    for (int i = 0; i < n; i++)
        printf("%s %lld %lld\n", c[i].tag, c[i].rows, c[i].completed);
    const char *e = query1(db, "SELECT count(*) FROM errors");
    printf("errors %s\n", e ? e : "?");
    const char *ended = query1(db, "SELECT value FROM meta WHERE key = 'ended_at'");
    printf("ended %s\n", ended && ended[0] ? "YES" : "NO");
    sqlite3_close(db);
    return n < 0;
}

static int do_integrity(const char *path)
{
    sqlite3 *db = open_checked(path);
    if (!db)
        return 1;
    const char *f = query1(db, "SELECT value FROM meta WHERE key = 'format'");
    if (!f || strcmp(f, "handle-trace") != 0) {
        printf("%s: meta format is '%s'\n", path, f ? f : "?");
        sqlite3_close(db);
        return 1;
    }
    sqlite3_close(db);
    printf("ok\n");
    return 0;
}

static int do_kill9(int argc, char **argv)
{
    if (argc < 9 || strcmp(argv[7], "--") != 0) {
        fprintf(stderr, "usage: fault_check kill9 DELAY_MS CKPT TRACE FLUSH_MS SLACK_MS -- CMD...\n");
        return 2;
    }
    long delay_ms = atol(argv[2]);
    const char *ckpath = argv[3], *trace = argv[4];
    uint64_t flush_ns = (uint64_t)atol(argv[5]) * 1000000u;
    uint64_t slack_ns = (uint64_t)atol(argv[6]) * 1000000u;
    unlink(ckpath);

    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        execvp(argv[8], argv + 8);
        _exit(127);
    }
    struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    uint64_t t_kill = now_ns();
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st)) {
        printf("kill9 delay_ms=%ld: the program ended by itself (status %d) before the kill\n",
               delay_ms, WEXITSTATUS(st));
        return WEXITSTATUS(st) == 127 ? 2 : 1;
    }

    /* The checkpoints. */
    struct ckpt_file *ck = NULL;
    int fd = open(ckpath, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd >= 0 && fstat(fd, &sb) == 0 && (size_t)sb.st_size >= sizeof *ck) {
        ck = mmap(NULL, sizeof *ck, PROT_READ, MAP_SHARED, fd, 0);
        if (ck == MAP_FAILED || ck->magic != CKPT_MAGIC)
            ck = NULL;
    }
    if (fd >= 0)
        close(fd);
    uint64_t bound = t_kill - flush_ns - slack_ns; /* every event before this must be there */
    bool must_exist = false;
    if (ck)
        for (uint32_t i = 0; i < ck->threads && i < CKPT_THREADS; i++) {
            uint64_t n = atomic_load(&ck->th[i].n);
            if (n && ck->th[i].e[(n - 1) % CKPT_RING].t_ns < bound)
                must_exist = true;
            for (uint64_t k = n > CKPT_RING ? n - CKPT_RING : 0; k < n && !must_exist; k++)
                if (ck->th[i].e[k % CKPT_RING].t_ns < bound)
                    must_exist = true;
        }

    if (access(trace, F_OK) != 0) {
        if (must_exist) {
            printf("kill9 delay_ms=%ld: no trace %s, though events are older than flush_ms + "
                   "slack\n",
                   delay_ms, trace);
            return 1;
        }
        printf("kill9 delay_ms=%ld rows=0 missing_age_ms=-1 ok (killed before the trace was "
               "made)\n",
               delay_ms);
        return 0;
    }
    sqlite3 *db = open_checked(trace);
    if (!db) {
        printf("kill9 delay_ms=%ld: trace not intact\n", delay_ms);
        return 1;
    }
    const char *fmt = query1(db, "SELECT value FROM meta WHERE key = 'format'");
    if (!fmt) {
        /* No meta table: the kill came while the schema was being
         * created (its transaction never committed). */
        const char *tables = query1(db, "SELECT count(*) FROM sqlite_master");
        if (tables && strcmp(tables, "0") == 0)
            fmt = "";
    }
    if (!fmt || (strcmp(fmt, "handle-trace") != 0 && (must_exist || fmt[0]))) {
        /* An empty database is what a kill during the schema's creation
         * leaves (the transaction never committed): intact, and allowed
         * only when no event is old enough to be owed. */
        printf("kill9 delay_ms=%ld: meta format '%s'\n", delay_ms, fmt ? fmt : "?");
        sqlite3_close(db);
        return 1;
    }
    if (!fmt[0]) {
        printf("kill9 delay_ms=%ld rows=0 missing_age_ms=-1 ok (killed while the trace was "
               "being created)\n",
               delay_ms);
        sqlite3_close(db);
        return 0;
    }
    const char *ended = query1(db, "SELECT value FROM meta WHERE key = 'ended_at'");
    if (ended && ended[0]) {
        printf("kill9 delay_ms=%ld: ended_at is set after a kill -9\n", delay_ms);
        sqlite3_close(db);
        return 1;
    }
    struct tagcount c[64];
    int nc = tag_counts(db, c, 64);
    sqlite3_close(db);
    if (nc < 0)
        return 1;
    long long rows = 0, churn_rows = 0;
    for (int i = 0; i < nc; i++)
        rows += c[i].rows;

    double missing_age_ms = -1;
    int bad = 0;
    for (uint32_t i = 0; ck && i < ck->threads && i < CKPT_THREADS; i++) {
        char tag[8];
        snprintf(tag, sizeof tag, "t%u", i);
        const struct tagcount *tc = find_tag(c, nc, tag);
        long long got_rows = tc ? tc->rows : 0, got_done = tc ? tc->completed : 0;
        churn_rows += got_rows;
        const struct ckpt_thread *th = &ck->th[i];
        uint64_t n = atomic_load(&th->n);
        uint64_t first = n > CKPT_RING ? n - CKPT_RING : 0;
        /* The first checkpoint (oldest first) whose counts the trace does
         * not reach: some event before it is missing. */
        for (uint64_t k = first; k < n; k++) {
            const struct ckpt_entry *e = &th->e[k % CKPT_RING];
            if ((long long)e->created <= got_rows && (long long)e->deleted <= got_done)
                continue;
            double age = (double)(t_kill - e->t_ns) / 1e6;
            if (age > missing_age_ms)
                missing_age_ms = age;
            if (e->t_ns < bound) {
                printf("kill9 delay_ms=%ld: thread %s: the trace has %lld rows (%lld completed) "
                       "but %llu/%llu were made/deleted %.1f ms before the kill\n",
                       delay_ms, tag, got_rows, got_done, (unsigned long long)e->created,
                       (unsigned long long)e->deleted, age);
                bad = 1;
            }
            break;
        }
    }
    const struct tagcount *mc = find_tag(c, nc, "main");
    if (churn_rows > 0 && (!mc || mc->rows != 100)) {
        printf("kill9 delay_ms=%ld: %lld 'main' rows, want 100 once churn events are in\n",
               delay_ms, mc ? mc->rows : 0);
        bad = 1;
    }
    printf("kill9 delay_ms=%ld rows=%lld missing_age_ms=%.1f %s\n", delay_ms, rows,
           missing_age_ms, bad ? "FAILED" : "ok");
    return bad;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "integrity") == 0)
        return do_integrity(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "counts") == 0)
        return do_counts(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "kill9") == 0)
        return do_kill9(argc, argv);
    fprintf(stderr, "usage: fault_check kill9|integrity|counts ...\n");
    return 2;
}
