/*
 * gen_trace.c - writes handle traces for handle-report's tests without the
 * debug runtime: the stable schema of SPEC section 5 (meta, handles as a
 * plain table, the leaks view, errors, stacks, modules, threads, tags) in
 * another physical layout than lib/debug/trace.c uses, which proves that
 * handle-report reads only the stable names.
 *
 * The stacks are real: return addresses taken in this program's own
 * functions (marked LINE_* for the tests), with this executable as the
 * module (its path, build-id, load bias and range), so handle-report
 * symbolizes them to known functions and lines. It is built -O0 -g.
 *
 *   gen_trace basic|unclean|changed|newer|noformat|notable|nostackindex|
 *             twosame|clean|weird|reload OUT.db
 *   gen_trace killed OUT.db        a child writes in WAL mode, commits and
 *                                  is SIGKILLed: OUT.db-wal stays
 *   gen_trace suite DIR N          N traces DIR/t.<pid>.db of a test suite,
 *                                  each at another load address
 *   gen_trace big OUT.db LIFETIMES LEAKED SITES
 *                                  for benchmarks: SITES distinct creation
 *                                  stacks of 12 frames
 */
#include <elf.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define RET() ((uintptr_t)__builtin_return_address(0))

/* ---- the program whose stacks the traces hold ------------------------------ */

NOINLINE static uintptr_t here(void)
{
    return RET();
}

NOINLINE static void open_session(uintptr_t *pcs)
{
    pcs[0] = here(); /* LINE_SESSION */
    pcs[1] = RET();
}

NOINLINE static void open_plain(uintptr_t *pcs)
{
    pcs[0] = here(); /* LINE_PLAIN */
    pcs[1] = RET();
}

static inline __attribute__((always_inline)) void pool_get(uintptr_t *pcs)
{
    pcs[0] = here(); /* LINE_POOL_GET */
}

NOINLINE static void open_pooled(uintptr_t *pcs)
{
    pool_get(pcs); /* LINE_POOLED */
    pcs[1] = pcs[0];
    pcs[2] = RET();
}

NOINLINE static void open_twice(uintptr_t *a, uintptr_t *b)
{
    a[0] = here(); /* LINE_TWICE_A */
    b[0] = here(); /* LINE_TWICE_B */
    a[1] = b[1] = RET();
}

NOINLINE static void drop_conn(uintptr_t *pcs)
{
    pcs[0] = here(); /* LINE_DROP */
    pcs[1] = RET();
}

/* Ten functions for the benchmark's distinct sites. */
#define GEN_FN(n)                                                                                  \
    NOINLINE static uintptr_t level##n(void)                                                       \
    {                                                                                              \
        return here();                                                                             \
    }
GEN_FN(0)
GEN_FN(1)
GEN_FN(2)
GEN_FN(3)
GEN_FN(4)
GEN_FN(5)
GEN_FN(6)
GEN_FN(7)
GEN_FN(8)
GEN_FN(9)

struct pcs {
    uintptr_t session[2], plain[2], pooled[3], twice_a[2], twice_b[2], drop[2];
    uintptr_t level[10];
};

/* Takes every stack of the fixtures (the callers' lines are LINE_APP_*). */
NOINLINE static void run_app(struct pcs *p)
{
    open_session(p->session); /* LINE_APP_SESSION */
    open_plain(p->plain);     /* LINE_APP_PLAIN */
    open_pooled(p->pooled);   /* LINE_APP_POOLED */
    open_twice(p->twice_a, p->twice_b);
    drop_conn(p->drop);       /* LINE_APP_DROP */
    uintptr_t (*lv[10])(void) = {level0, level1, level2, level3, level4,
                                 level5, level6, level7, level8, level9};
    for (int i = 0; i < 10; i++)
        p->level[i] = lv[i]();
}

/* ---- this module ----------------------------------------------------------- */

struct self {
    char path[PATH_MAX];
    char build_id[128];
    uintptr_t bias, lo, hi;
};

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct self *s = arg;
    /* The first object is the executable. */
    s->bias = info->dlpi_addr;
    s->lo = UINTPTR_MAX;
    s->hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t a = info->dlpi_addr + ph->p_vaddr;
            if (a < s->lo)
                s->lo = a;
            if (a + ph->p_memsz > s->hi)
                s->hi = a + ph->p_memsz;
        }
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof *nh;
            const unsigned char *desc = (const unsigned char *)name + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                for (unsigned k = 0; k < nh->n_descsz && 2 * k + 2 < sizeof s->build_id; k++)
                    snprintf(s->build_id + 2 * k, 3, "%02x", desc[k]);
            }
            p = (const char *)desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return 1; /* only the executable */
}

static void self_get(struct self *s)
{
    memset(s, 0, sizeof *s);
    if (!realpath("/proc/self/exe", s->path)) {
        perror("realpath /proc/self/exe");
        exit(1);
    }
    dl_iterate_phdr(phdr_cb, s);
}

/* ---- writing a trace ------------------------------------------------------- */

static sqlite3 *db;

static void ex(const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "gen_trace: %s: %s\n", sql, err);
        exit(1);
    }
}

static sqlite3_stmt *prep(const char *sql)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "gen_trace: %s: %s\n", sql, sqlite3_errmsg(db));
        exit(1);
    }
    return s;
}

static void run(sqlite3_stmt *s)
{
    if (sqlite3_step(s) != SQLITE_DONE) {
        fprintf(stderr, "gen_trace: step: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

enum { F_NO_STACK_INDEX = 1, F_NO_STACKS_TABLE = 2 };

static void create(const char *path, unsigned flags)
{
    unlink(path);
    char p2[PATH_MAX + 8];
    snprintf(p2, sizeof p2, "%s-wal", path);
    unlink(p2);
    snprintf(p2, sizeof p2, "%s-shm", path);
    unlink(p2);
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "gen_trace: cannot create %s\n", path);
        exit(1);
    }
    ex("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;");
    /* One transaction from the schema to the caller's COMMIT. */
    ex("BEGIN");
    ex("CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
       "CREATE TABLE handles(handle INTEGER, tag TEXT, created_ns INTEGER, created_thread INTEGER,"
       "  created_stack INTEGER, deleted_ns INTEGER, deleted_thread INTEGER, deleted_stack INTEGER);"
       "CREATE INDEX handles_live ON handles(created_stack) WHERE deleted_ns IS NULL;"
       "CREATE VIEW leaks AS SELECT * FROM handles WHERE deleted_ns IS NULL;"
       "CREATE TABLE errors(kind TEXT, handle INTEGER, at_ns INTEGER, thread INTEGER,"
       "  stack INTEGER, message TEXT, tag TEXT, created_thread INTEGER, created_stack INTEGER,"
       "  deleted_thread INTEGER, deleted_stack INTEGER);"
       "CREATE TABLE modules(id INTEGER PRIMARY KEY, path TEXT, build_id TEXT, bias INTEGER,"
       "  lo INTEGER, hi INTEGER, loaded_ns INTEGER, unloaded_ns INTEGER);"
       "CREATE TABLE threads(id INTEGER PRIMARY KEY, tid INTEGER, name TEXT, first_ns INTEGER);"
       "CREATE TABLE tags(id INTEGER PRIMARY KEY, name TEXT);");
    if (flags & F_NO_STACKS_TABLE)
        return;
    if (flags & F_NO_STACK_INDEX)
        ex("CREATE TABLE stacks(id INTEGER, depth INTEGER, pc INTEGER, module INTEGER);");
    else
        ex("CREATE TABLE stacks(id INTEGER, depth INTEGER, pc INTEGER, module INTEGER,"
           "  PRIMARY KEY (id, depth)) WITHOUT ROWID;");
}

static void meta_i(const char *k, int64_t v)
{
    sqlite3_stmt *s = prep("INSERT OR REPLACE INTO meta VALUES (?1, ?2)");
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, v);
    run(s);
    sqlite3_finalize(s);
}

static void meta_s(const char *k, const char *v)
{
    sqlite3_stmt *s = prep("INSERT OR REPLACE INTO meta VALUES (?1, ?2)");
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, v, -1, SQLITE_STATIC);
    run(s);
    sqlite3_finalize(s);
}

/* The standard meta: a run of /usr/bin/app (pid) from 2025-11-25
 * 03:00:00 UTC for 1.5 s; clean: ended_at and exit_status. */
#define T0_NS 1764039600000000000LL
static void meta_std(int64_t pid, const char *exe, bool clean, int status)
{
    meta_s("format", "handle-trace");
    meta_i("version", 1);
    meta_i("pid", pid);
    meta_s("exe", exe);
    meta_s("cmdline", "app --serve");
    meta_i("started_at", T0_NS);
    if (clean) {
        meta_i("ended_at", T0_NS + 1500000000LL);
        meta_i("exit_status", status);
    }
}

static void module(int id, const struct self *me, const char *build_id, uintptr_t shift)
{
    sqlite3_stmt *s = prep("INSERT INTO modules VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0,"
                           " CASE WHEN ?1 = 1 AND ?4 <> ?7 THEN 500 END)");
    sqlite3_bind_int64(s, 7, (int64_t)me->bias);
    sqlite3_bind_int(s, 1, id);
    sqlite3_bind_text(s, 2, me->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, build_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (int64_t)(me->bias + shift));
    sqlite3_bind_int64(s, 5, (int64_t)(me->lo + shift));
    sqlite3_bind_int64(s, 6, (int64_t)(me->hi + shift));
    run(s);
    sqlite3_finalize(s);
}

static sqlite3_stmt *st_stack, *st_handle;

/* Stack id of pcs[0..n) in module mod; pcs are shifted by shift. */
static void stack(int id, const uintptr_t *pcs, int n, int mod, uintptr_t shift)
{
    if (!st_stack)
        st_stack = prep("INSERT INTO stacks VALUES (?1, ?2, ?3, ?4)");
    for (int d = 0; d < n; d++) {
        sqlite3_bind_int(st_stack, 1, id);
        sqlite3_bind_int(st_stack, 2, d);
        sqlite3_bind_int64(st_stack, 3, (int64_t)(pcs[d] + shift));
        if (mod)
            sqlite3_bind_int(st_stack, 4, mod);
        run(st_stack);
    }
}

/* A lifetime; deleted_ns < 0: live. */
static void handle(uint64_t h, const char *tag, int64_t created, int cstack, int64_t deleted,
                   int dstack)
{
    if (!st_handle)
        st_handle = prep("INSERT INTO handles VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?7)");
    sqlite3_bind_int64(st_handle, 1, (int64_t)h);
    if (tag)
        sqlite3_bind_text(st_handle, 2, tag, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st_handle, 3, created);
    if (cstack)
        sqlite3_bind_int(st_handle, 4, cstack);
    if (deleted >= 0) {
        sqlite3_bind_int64(st_handle, 5, deleted);
        sqlite3_bind_int(st_handle, 6, 0);
        if (dstack)
            sqlite3_bind_int(st_handle, 7, dstack);
    }
    run(st_handle);
}

static void error(const char *kind, uint64_t h, int stack_id, const char *message, const char *tag,
                  int cstack, int dstack)
{
    sqlite3_stmt *s = prep("INSERT INTO errors VALUES (?1, ?2, 900000000, 1, ?3, ?4, ?5, 0, ?6,"
                           " 1, ?7)");
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)h);
    sqlite3_bind_int(s, 3, stack_id);
    sqlite3_bind_text(s, 4, message, -1, SQLITE_STATIC);
    if (tag)
        sqlite3_bind_text(s, 5, tag, -1, SQLITE_STATIC);
    if (cstack)
        sqlite3_bind_int(s, 6, cstack);
    if (dstack)
        sqlite3_bind_int(s, 7, dstack);
    run(s);
    sqlite3_finalize(s);
}

static void finish(void)
{
    sqlite3_finalize(st_stack);
    sqlite3_finalize(st_handle);
    st_stack = st_handle = NULL;
    if (sqlite3_close(db) != SQLITE_OK) {
        fprintf(stderr, "gen_trace: close: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    db = NULL;
}

/* Stack ids of the standard trace. */
enum { S_SESSION = 1, S_PLAIN, S_POOLED, S_DROP, S_TWICE_A, S_TWICE_B, S_UNKNOWN };

static void std_stacks(const struct pcs *p, uintptr_t shift)
{
    stack(S_SESSION, p->session, 2, 1, shift);
    stack(S_PLAIN, p->plain, 2, 1, shift);
    stack(S_POOLED, p->pooled + 1, 2, 1, shift); /* the inlined pc and run_app */
    stack(S_DROP, p->drop, 2, 1, shift);
    stack(S_TWICE_A, p->twice_a, 2, 1, shift);
    stack(S_TWICE_B, p->twice_b, 2, 1, shift);
    uintptr_t nowhere[2] = {0x1234, p->plain[1]};
    stack(S_UNKNOWN, nowhere, 2, 0, shift);
}

/* The standard content: 3 "session" handles leaked and 5 completed from
 * open_session, 1 untagged from open_plain, 1 "pool" from the inlined
 * pool_get, a double-delete with its message, a use-after-delete without
 * one. */
static void std_content(int64_t pid, const struct pcs *p, uintptr_t shift)
{
    std_stacks(p, shift);
    ex("INSERT INTO threads VALUES (0, 0, 'app', 0), (1, 0, 'worker', 1000)");
    ex("INSERT INTO tags VALUES (1, 'session'), (2, 'pool')");
    for (int i = 0; i < 5; i++)
        handle(0x100000001ull + (uint64_t)i, "session", 1000 + i * 1000, S_SESSION,
               1000 + i * 1000 + (i + 1) * 1000000, S_DROP);
    for (int i = 0; i < 3; i++)
        handle(0x100000010ull + (uint64_t)i, "session", 10000000 + i, S_SESSION, -1, 0);
    handle(0x100000020ull, NULL, 20000000, S_PLAIN, -1, 0);
    handle(0x100000021ull, "pool", 30000000, S_POOLED, -1, 0);
    char msg[512];
    snprintf(msg, sizeof msg,
             "=================================================================\n"
             "==%" PRId64 "==ERROR: HandleSanitizer: double-delete on handle 0x100000001 in "
             "thread T1\n"
             "    #0 0x%" PRIxPTR " in drop_conn (recorded message)\n"
             "\n"
             "SUMMARY: HandleSanitizer: double-delete (recorded message)\n",
             pid, p->drop[0] + shift);
    error("double-delete", 0x100000001ull, S_DROP, msg, "session", S_SESSION, S_DROP);
    error("use-after-delete", 0x100000002ull, S_DROP, NULL, "session", S_SESSION, S_DROP);
}

static void gen_std(const char *out, const char *kind, const struct pcs *p, const struct self *me)
{
    bool clean = strcmp(kind, "unclean") != 0;
    create(out, strcmp(kind, "nostackindex") == 0 ? F_NO_STACK_INDEX : 0);
    meta_std(4242, "/usr/bin/app", clean, 23);
    module(1, me, strcmp(kind, "changed") == 0 ? "00112233445566778899aabbccddeeff00112233"
                                               : me->build_id, 0);
    std_content(4242, p, 0);
    if (strcmp(kind, "newer") == 0)
        meta_i("version", 2);
    ex("COMMIT");
    finish();
}

/* ---- scenarios ----------------------------------------------------------- */

static int gen_twosame(const char *out, const struct pcs *p, const struct self *me)
{
    create(out, 0);
    meta_std(4343, "/usr/bin/app", true, 23);
    module(1, me, me->build_id, 0);
    std_stacks(p, 0);
    handle(0x1, "twice", 100, S_TWICE_A, -1, 0);
    handle(0x2, "twice", 200, S_TWICE_B, -1, 0);
    handle(0x3, "twice", 300, S_TWICE_B, -1, 0);
    ex("COMMIT");
    finish();
    return 0;
}

/* A process that deleted every handle and made no error. */
static int gen_clean(const char *out, const struct pcs *p, const struct self *me)
{
    create(out, 0);
    meta_std(4444, "/usr/bin/app", true, 0);
    module(1, me, me->build_id, 0);
    std_stacks(p, 0);
    for (int i = 0; i < 4; i++)
        handle(0x1000 + (uint64_t)i, NULL, 100 * i, S_PLAIN, 100 * i + 50, S_DROP);
    ex("COMMIT");
    finish();
    return 0;
}

/* Strings that JSON must escape: a tag with a quote, a backslash, a
 * newline, a tab, a control character, UTF-8 and an invalid byte; an exe
 * path with a quote. */
static int gen_weird(const char *out, const struct pcs *p, const struct self *me)
{
    create(out, 0);
    meta_std(4545, "/usr/bin/we\"ird app", true, 23);
    module(1, me, me->build_id, 0);
    std_stacks(p, 0);
    handle(0x1, "q\"b\\n\n\t\x01\xc3\xa9\xff", 100, S_SESSION, -1, 0);
    ex("COMMIT");
    finish();
    return 0;
}

/* One file mapped twice at different addresses (dlclose, then dlopen
 * again): modules 1 and 2 are the same path; stack 20 is in module 2. And
 * a stack whose frames have no module id: the first pc is in no module,
 * the second is found by its address. */
static int gen_reload(const char *out, const struct pcs *p, const struct self *me)
{
    uintptr_t shift = 0x40000000;
    create(out, 0);
    meta_std(4646, "/usr/bin/app", true, 23);
    module(1, me, me->build_id, 0);
    module(2, me, me->build_id, shift);
    std_stacks(p, 0);
    stack(20, p->session, 2, 2, shift);
    handle(0x1, "first", 100, S_SESSION, -1, 0);
    handle(0x2, "second", 200, 20, -1, 0);
    handle(0x3, "nomodule", 300, S_UNKNOWN, -1, 0);
    ex("COMMIT");
    finish();
    return 0;
}

static int gen_killed(const char *out, const struct pcs *p, const struct self *me)
{
    pid_t c = fork();
    if (c == 0) {
        create(out, 0);
        ex("PRAGMA wal_autocheckpoint=0");
        meta_std(getpid(), "/usr/bin/app", false, 0);
        module(1, me, me->build_id, 0);
        std_stacks(p, 0);
        ex("COMMIT");
        ex("BEGIN");
        handle(0x100000030ull, "session", 5000, S_SESSION, -1, 0);
        handle(0x100000031ull, "session", 6000, S_SESSION, -1, 0);
        handle(0x100000032ull, NULL, 7000, S_PLAIN, 9000, S_DROP);
        ex("COMMIT");
        raise(SIGKILL);
        _exit(1);
    }
    int st;
    waitpid(c, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 1;
}

/* N traces of a test suite: every process leaks the "session" site; every
 * third also the untagged one; process 0 also one only it has; each is
 * loaded at another address (ASLR). */
static int gen_suite(const char *dir, int n, const struct pcs *p, const struct self *me)
{
    for (int i = 0; i < n; i++) {
        char out[PATH_MAX];
        int pid = 10000 + i;
        snprintf(out, sizeof out, "%s/t.%d.db", dir, pid);
        uintptr_t shift = (uintptr_t)(i % 64) * 0x1000000;
        create(out, 0);
        meta_std(pid, "/usr/bin/suite-test", true, 23);
        module(1, me, me->build_id, shift);
        std_stacks(p, shift);
        ex("INSERT INTO tags VALUES (1, 'session')");
        for (int k = 0; k < 20; k++)
            handle(0x200000000ull + (uint64_t)k, "session", 1000 * k, S_SESSION, 1000 * k + 500,
                   S_DROP);
        handle(0x300000001ull, "session", 50000, S_SESSION, -1, 0);
        if (i % 3 == 0)
            handle(0x300000002ull, NULL, 60000, S_PLAIN, -1, 0);
        if (i == 0)
            handle(0x300000003ull, "pool", 70000, S_POOLED, -1, 0);
        ex("COMMIT");
        finish();
    }
    return 0;
}

/* LIFETIMES lifetimes from SITES sites of 12 frames (three varying
 * levels, then a fixed chain), the last LEAKED of them live. */
static int gen_big(const char *out, long lifetimes, long leaked, long sites, const struct pcs *p,
                   const struct self *me)
{
    create(out, 0);
    meta_std(5555, "/usr/bin/big", true, 23);
    module(1, me, me->build_id, 0);
    for (long s = 0; s < sites; s++) {
        uintptr_t pcs[12];
        pcs[0] = p->level[s % 10];
        pcs[1] = p->level[(s / 10) % 10];
        pcs[2] = p->level[(s / 100) % 10];
        pcs[3] = p->level[(s / 1000) % 10];
        for (int k = 4; k < 12; k++)
            pcs[k] = k % 2 ? p->session[1] : p->plain[1];
        stack((int)s + 1, pcs, 12, 1, 0);
    }
    ex("INSERT INTO tags VALUES (1, 'big')");
    for (long i = 0; i < lifetimes; i++) {
        int st = (int)(i % sites) + 1;
        int64_t c = i * 1000;
        bool live = i >= lifetimes - leaked;
        handle(0x100000000ull + (uint64_t)i, i % 2 ? "big" : NULL, c, st,
               live ? -1 : c + 1000 + (i * 7919) % 1000000, 0);
    }
    ex("COMMIT");
    finish();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gen_trace SCENARIO OUT [ARGS]\n");
        return 2;
    }
    struct pcs p;
    run_app(&p);
    struct self me;
    self_get(&me);
    const char *k = argv[1];
    if (strcmp(k, "killed") == 0)
        return gen_killed(argv[2], &p, &me);
    if (strcmp(k, "twosame") == 0)
        return gen_twosame(argv[2], &p, &me);
    if (strcmp(k, "clean") == 0)
        return gen_clean(argv[2], &p, &me);
    if (strcmp(k, "weird") == 0)
        return gen_weird(argv[2], &p, &me);
    if (strcmp(k, "reload") == 0)
        return gen_reload(argv[2], &p, &me);
    if (strcmp(k, "suite") == 0 && argc == 4)
        return gen_suite(argv[2], atoi(argv[3]), &p, &me);
    if (strcmp(k, "big") == 0 && argc == 6)
        return gen_big(argv[2], atol(argv[3]), atol(argv[4]), atol(argv[5]), &p, &me);
    if (strcmp(k, "noformat") == 0 || strcmp(k, "notable") == 0) {
        create(argv[2], strcmp(k, "notable") == 0 ? F_NO_STACKS_TABLE : 0);
        if (strcmp(k, "notable") == 0)
            meta_std(1, "/x", true, 0);
        else
            meta_i("version", 1);
        ex("COMMIT");
        finish();
        return 0;
    }
    if (strcmp(k, "basic") == 0 || strcmp(k, "unclean") == 0 || strcmp(k, "changed") == 0 ||
        strcmp(k, "newer") == 0 || strcmp(k, "nostackindex") == 0) {
        gen_std(argv[2], k, &p, &me);
        return 0;
    }
    fprintf(stderr, "gen_trace: unknown scenario %s\n", k);
    return 2;
}
