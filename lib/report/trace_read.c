/*
 * trace_read.c - reads a trace database for handle-report (see
 * trace_read.h for the contract). Validation happens in two steps: a look
 * at the file itself (exists, readable, regular, SQLite magic, not
 * truncated) before SQLite sees it, so that the common bad inputs get a
 * precise reason; then the meta table and the preparation of every
 * statement this file runs, so that a database of another kind or a
 * missing column is refused before anything is reported.
 *
 * Values are read leniently (an integer column may hold text such as
 * "0x7f00..."), because users query and sometimes copy traces with other
 * tools; ids outside 1..2^32-1 count as "none". This file does not
 * symbolize, group across traces or print.
 */
#include "trace_read.h"
#include "text.h"
#include "../format/lifetimes.h"
#include "../format/trace_format.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    ST_LEAKS,
    ST_ERRORS,
    ST_MODULES,
    ST_STACK,
    ST_LIFE,
    ST_THREADS,
    ST_COUNT
};

/* Every statement this file runs, prepared at open so that a trace that
 * lacks a table or a column is refused up front. */
static const char *const sql_text[ST_COUNT] = {
    /* grouped here, not by SQLite: no sorter holding a tag's text per row */
    [ST_LEAKS] = "SELECT created_stack, tag, created_ns FROM leaks",
    [ST_ERRORS] = ("SELECT kind, handle, at_ns, thread, stack, message, tag, created_thread, "
                   "created_stack, deleted_thread, deleted_stack FROM errors ORDER BY at_ns"),
    [ST_MODULES] = "SELECT id, path, build_id, bias, lo, hi FROM modules ORDER BY id",
    [ST_STACK] = "SELECT depth, pc, module FROM stacks WHERE id = ?1 ORDER BY depth",
    [ST_LIFE] = "SELECT created_stack, tag, created_ns, deleted_ns FROM handles",
    [ST_THREADS] = "SELECT id, tid, name, first_ns FROM threads LIMIT 0",
};

struct stack_ent {
    uint32_t id;
    uint32_t depth;
    size_t off; /* into pcs/mods */
};

/* A tags row for the readers of the writer's tables (see load_tagmap). */
struct tagid {
    int64_t id;
    uint32_t tag; /* handle__tr_tag id of its name, 0: NULL name */
};

struct handle__tr {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    char *tmpdir;      /* a private copy lives here (read-only directory) */
    struct handle__tr_meta meta;

    /* The work budget of one reading call (see budget_start): SQLite's
     * virtual machine steps plus the bytes of text and blobs read. */
    uint64_t work, budget, size;
    bool over;

    /* meta.layout names one of the writer's layouts and its tables are
     * there: `handles` and `leaks` are read from the tables under the
     * views, the lifetimes decoded by the codec of lib/format (validate);
     * LAYOUT_VIEW: through the views alone. */
    enum { LAYOUT_VIEW, LAYOUT_WIDE, LAYOUT_JSON } layout;
    bool wide_tables, json_tables;
    bool has_symbols; /* symbols is a table (check_schema) */
    /* The tags table by id: 0 unread, 1 read (tm), -1 ids not unique
     * integers (then the views decide). */
    int tm_state;
    struct tagid *tm;
    size_t ntm;

    /* Strings owned by the trace (meta, modules, errors). */
    char **strs;
    size_t nstrs, capstrs;
    bool oom; /* a string could not be copied (read as "") */

    /* Tags interned by content: names[id - 1]; hash slots hold ids. */
    char **tags;
    size_t ntags, captags;
    uint32_t *tag_slot;
    size_t tag_cap; /* power of two */

    struct handle__tr_module *mods;
    size_t nmods;
    struct handle__tr_group *groups;
    size_t ngroups;
    struct handle__tr_error *errs;
    size_t nerrs;

    /* Loaded stacks: entries, an id index, and the frames. */
    struct stack_ent *sents;
    size_t nsents, capsents;
    uint32_t *sslot; /* index + 1 into sents */
    size_t scap;     /* power of two or 0 */
    uintptr_t *pcs;
    uint32_t *smods;
    size_t nframes, cap_pcs, cap_smods;
    int stack_indexed; /* -1 unknown, 0 scan, 1 indexed */
};

/* ---- small helpers ------------------------------------------------------- */

void handle__one_line(char *s, size_t max)
{
    /* Control characters (SQLite quotes whole CREATE statements, with
     * their newlines, in some messages) become spaces, runs of spaces one. */
    size_t w = 0;
    for (size_t r = 0; s[r]; r++) {
        unsigned char c = (unsigned char)s[r];
        if (c < 0x20 || c == 0x7f)
            c = ' ';
        if (c == ' ' && (w == 0 || s[w - 1] == ' '))
            continue;
        s[w++] = (char)c;
    }
    while (w > 0 && s[w - 1] == ' ')
        w--;
    s[w] = '\0';
    if (max >= 4 && w > max)
        strcpy(s + max - 3, "...");
}

static void setf(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void setf(char *err, size_t len, const char *fmt, ...)
{
    if (len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    handle__one_line(err, 300);
}

/* ---- the work budget ------------------------------------------------------ */

/* A reading call may do this much work: VM steps (counted by the progress
 * handler) plus bytes of strings and blobs handed to us. A real trace needs
 * far less than WORK_PER_BYTE per byte it holds (the writer's `handles`
 * view over its JSON batches, the costliest read, takes 1.6 steps a byte);
 * views that loop (a recursive CTE) or multiply rows (a cross join, a huge
 * tag joined onto every row) run into the limit, and the call fails with
 * one line instead of running for hours or filling memory and /tmp. At
 * SQLite's 15-40 million steps a second, the limit comes within seconds. */
#define WORK_BASE 20000000ULL
#define WORK_PER_BYTE 16ULL
#define PROGRESS_STEPS 1000

static int on_progress(void *ctx)
{
    struct handle__tr *t = ctx;
    t->work += PROGRESS_STEPS;
    if (t->work > t->budget)
        t->over = true;
    return t->over;
}

static void budget_start(struct handle__tr *t)
{
    t->work = 0;
    t->over = false;
}

/* n bytes read from a column. */
static void account(struct handle__tr *t, size_t n)
{
    t->work += n;
    if (t->work > t->budget && !t->over) {
        t->over = true;
        sqlite3_interrupt(t->db);
    }
}

/* ---- strings ----------------------------------------------------------- */

/* Strings read from a trace are cut to TEXT_MAX bytes (a recorded error's
 * message, the diagnostic with its stacks, to MESSAGE_MAX) followed by
 * CUT_FMT naming the full size, so that what a report holds and prints
 * grows with the rows of the trace, not with the length of its strings. */
#define TEXT_MAX 4096
#define MESSAGE_MAX (1 << 20)
#define CUT_FMT "...[cut: %zu bytes]"
#define CUT_ROOM 48
/* meta suppressions: what a suppression file may hold (suppress.h). */
#define SUPP_TEXT_MAX ((size_t)1 << 20)

/* The length to keep of s (n bytes) under max: max, backed off to the
 * start of a UTF-8 sequence. */
static size_t cut_len(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t k = max;
    for (int i = 0; i < 3 && k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80; i++)
        k--;
    return k;
}

/* A copy of s (n bytes) owned by t; NULL (and t->oom) when out of memory. */
static const char *own(struct handle__tr *t, const char *s, size_t n)
{
    char *c = NULL;
    if (!handle__grow(&t->strs, &t->capstrs, t->nstrs + 1, sizeof *t->strs) ||
        (c = malloc(n + 1)) == NULL) {
        t->oom = true;
        return NULL;
    }
    memcpy(c, s, n);
    c[n] = '\0';
    t->strs[t->nstrs++] = c;
    return c;
}

/* Column i as text in buf (at least max + CUT_ROOM bytes), cut to max
 * bytes with the marker (with hex, a blob hex-encoded, then cut; else its
 * bytes as text); its length in *len. NULL for NULL. */
static const char *col_text(struct handle__tr *t, sqlite3_stmt *s, int i, size_t max, bool hex,
                            char *buf, size_t *len)
{
    int type = sqlite3_column_type(s, i);
    if (type == SQLITE_NULL)
        return NULL;
    if (type == SQLITE_BLOB && hex) {
        const unsigned char *b = sqlite3_column_blob(s, i);
        size_t n = (size_t)sqlite3_column_bytes(s, i), k = 0;
        account(t, n);
        static const char digits[] = "0123456789abcdef";
        for (size_t j = 0; j < n && k + 2 <= max; j++) {
            buf[k++] = digits[b[j] >> 4];
            buf[k++] = digits[b[j] & 15];
        }
        if (n * 2 > max)
            k += (size_t)snprintf(buf + k, CUT_ROOM, CUT_FMT, n * 2);
        buf[k] = '\0';
        *len = k;
        return buf;
    }
    const char *v = (const char *)sqlite3_column_text(s, i);
    if (v == NULL) { /* out of memory in SQLite */
        t->oom = true;
        return NULL;
    }
    size_t n = (size_t)sqlite3_column_bytes(s, i);
    account(t, n);
    size_t k = cut_len(v, n, max);
    memcpy(buf, v, k);
    if (k < n)
        k += (size_t)snprintf(buf + k, CUT_ROOM, CUT_FMT, n);
    buf[k] = '\0';
    *len = k;
    return buf;
}

/* Column i as text owned by t, at most max bytes and the marker ("" for
 * NULL, or NULL with null_is_null; a blob is hex-encoded). */
static const char *col_str_max(struct handle__tr *t, sqlite3_stmt *s, int i, bool null_is_null,
                               size_t max)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return null_is_null ? NULL : "";
    char *buf = malloc(max + CUT_ROOM);
    if (buf == NULL) {
        t->oom = true;
        return "";
    }
    size_t n = 0;
    const char *v = col_text(t, s, i, max, true, buf, &n);
    const char *r = v ? own(t, v, n) : NULL;
    free(buf);
    return r ? r : "";
}

static const char *col_str(struct handle__tr *t, sqlite3_stmt *s, int i, bool null_is_null)
{
    return col_str_max(t, s, i, null_is_null, TEXT_MAX);
}

/* Column i as a signed integer; false for NULL or text that is no number.
 * Text may be decimal or 0x hex (copied traces, hand-made fixtures). */
static bool col_i64(sqlite3_stmt *s, int i, int64_t *out)
{
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_INTEGER:
        *out = sqlite3_column_int64(s, i);
        return true;
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(s, i);
        if (!(d > -9.2e18 && d < 9.2e18))
            return false;
        *out = (int64_t)d;
        return true;
    }
    case SQLITE_TEXT: {
        const char *v = (const char *)sqlite3_column_text(s, i);
        if (v == NULL || *v == '\0')
            return false;
        char *end;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 0);
        if (*v == '-') {
            long long l = strtoll(v, &end, 0);
            if (errno || *end)
                return false;
            *out = l;
            return true;
        }
        if (errno || *end)
            return false;
        *out = (int64_t)u;
        return true;
    }
    default:
        return false;
    }
}

static uint64_t col_u64(sqlite3_stmt *s, int i)
{
    int64_t v;
    return col_i64(s, i, &v) ? (uint64_t)v : 0;
}

/* An id column: 1..UINT32_MAX, else 0 (none). */
static uint32_t col_id(sqlite3_stmt *s, int i)
{
    int64_t v;
    if (!col_i64(s, i, &v) || v <= 0 || v > (int64_t)UINT32_MAX)
        return 0;
    return (uint32_t)v;
}

/* A thread column: >= 0, else -1 (unknown). */
static int64_t col_thread(sqlite3_stmt *s, int i)
{
    int64_t v;
    if (!col_i64(s, i, &v) || v < 0 || v > (int64_t)UINT32_MAX)
        return -1;
    return v;
}

/* The reason for an SQLite failure rc, in words a user acts on. */
static void db_reason(struct handle__tr *t, int rc, char *err, size_t len)
{
    sqlite3 *db = t->db;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (t->over && (rc & 0xff) == SQLITE_INTERRUPT) {
        setf(err, len, "bad trace: reading it takes far more work than its size explains "
                       "(a view that loops or multiplies rows?)");
        return;
    }
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        setf(err, len, "not an SQLite database");
        break;
    case SQLITE_CORRUPT:
        setf(err, len, "corrupt or truncated database (%s)", msg);
        break;
    case SQLITE_IOERR:
        setf(err, len, "read error (%s)", msg);
        break;
    case SQLITE_NOMEM:
        setf(err, len, "out of memory");
        break;
    case SQLITE_CANTOPEN:
        setf(err, len, "cannot open the database (%s)", msg);
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        setf(err, len, "the database is locked (%s)", msg);
        break;
    case SQLITE_ERROR:
        if (strncmp(msg, "no such table", 13) == 0 || strncmp(msg, "no such column", 14) == 0)
            setf(err, len, "not a handle trace (%s)", msg);
        else
            setf(err, len, "%s", msg);
        break;
    default:
        setf(err, len, "%s", msg);
        break;
    }
}

/* ---- tags ---------------------------------------------------------------- */

static uint64_t str_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

/* The id of tag text s (n bytes), interning it; 0 for NULL or when out of
 * memory (then the tag reads as untagged: a report loses a tag, not a
 * handle). */
static uint32_t tag_id(struct handle__tr *t, const char *s, size_t n)
{
    if (s == NULL)
        return 0;
    uint64_t h = str_hash(s, n);
    if (t->tag_cap) {
        size_t mask = t->tag_cap - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
            uint32_t id = t->tag_slot[i];
            if (id == 0)
                break;
            const char *c = t->tags[id - 1];
            if (strncmp(c, s, n) == 0 && c[n] == '\0')
                return id;
        }
    }
    if ((t->ntags + 1) * 2 > t->tag_cap) {
        size_t ncap = t->tag_cap ? t->tag_cap * 2 : 64;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return 0;
        for (size_t k = 0; k < t->ntags; k++) {
            const char *c = t->tags[k];
            size_t i = str_hash(c, strlen(c)) & (ncap - 1);
            while (ns[i])
                i = (i + 1) & (ncap - 1);
            ns[i] = (uint32_t)(k + 1);
        }
        free(t->tag_slot);
        t->tag_slot = ns;
        t->tag_cap = ncap;
    }
    if (!handle__grow(&t->tags, &t->captags, t->ntags + 1, sizeof *t->tags))
        return 0;
    char *c = malloc(n + 1);
    if (c == NULL)
        return 0;
    memcpy(c, s, n);
    c[n] = '\0';
    t->tags[t->ntags++] = c;
    size_t mask = t->tag_cap - 1;
    size_t i = h & mask;
    while (t->tag_slot[i])
        i = (i + 1) & mask;
    t->tag_slot[i] = (uint32_t)t->ntags;
    return (uint32_t)t->ntags;
}

/* Column i as a tag (its text cut to TEXT_MAX with the marker). */
static uint32_t col_tag(struct handle__tr *t, sqlite3_stmt *s, int i)
{
    char buf[TEXT_MAX + CUT_ROOM];
    size_t n = 0;
    const char *v = col_text(t, s, i, TEXT_MAX, false, buf, &n);
    return v ? tag_id(t, v, n) : 0;
}

const char *handle__tr_tag(const struct handle__tr *t, uint32_t tag)
{
    if (tag == 0 || tag > t->ntags)
        return NULL;
    return t->tags[tag - 1];
}

/* ---- opening ------------------------------------------------------------- */

void handle__tr_global_init(void)
{
    /* Both must come before SQLite initializes; they fail harmlessly (and
     * are skipped) if it already has. */
    sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* Whether path+suffix exists (with nonempty: and is not empty). */
static bool sidecar(const char *path, const char *suffix, bool nonempty)
{
    char p[PATH_MAX + 16];
    if ((size_t)snprintf(p, sizeof p, "%s%s", path, suffix) >= sizeof p)
        return false;
    struct stat sb;
    return lstat(p, &sb) == 0 && (!nonempty || sb.st_size > 0);
}

static const char *file_kind(mode_t m)
{
    return S_ISLNK(m)    ? "a symbolic link"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISDIR(m)  ? "a directory"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

/* SQLite opens a -wal or -journal beside the database itself, following
 * no symbolic link but blocking on a FIFO (and a copy would read a device
 * forever): each must be a regular file if it is there at all. (A -shm is
 * opened read-write, which never blocks, and mapped: SQLite refuses
 * anything odd there itself.) */
static bool sidecars_regular(const char *path, char *err, size_t len)
{
    static const char *const names[] = {"-wal", "-journal"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[PATH_MAX + 16];
        struct stat sb;
        if ((size_t)snprintf(p, sizeof p, "%s%s", path, names[i]) >= sizeof p ||
            lstat(p, &sb) != 0 || S_ISREG(sb.st_mode))
            continue;
        setf(err, len, "cannot read its %s file: %s, not a regular file", names[i],
             file_kind(sb.st_mode));
        return false;
    }
    return true;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Whether a connection (another process: the trace's writer, still
 * running) has the database at path open in WAL mode: SQLite holds a
 * shared lock on the "DMS" byte of the -shm file (offset 128, after the
 * eight locks at 120) for as long as a connection has it mapped. Then the
 * -shm is the writer's, and a reader uses it like any SQLite reader; else
 * nothing may be created or changed beside the trace (SPEC section 6). */
static bool writer_alive(const char *path)
{
    char p[PATH_MAX + 16];
    if ((size_t)snprintf(p, sizeof p, "%s-shm", path) >= sizeof p)
        return false;
    int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat sb;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 128, .l_len = 1};
    bool held = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && fcntl(fd, F_GETLK, &fl) == 0 &&
                fl.l_type != F_UNLCK;
    close(fd);
    return held;
}

/* The checks SQLite would make vaguely or not at all: the file exists, is
 * a readable regular file, starts with the SQLite magic, and (when no -wal
 * content extends it) is as long as its header says. *wal: a -wal file
 * (maybe empty) is beside it; *sidecar_free: neither -wal nor -journal, so
 * the main file is all there is. */
static bool precheck(const char *path, bool *wal, bool *sidecar_free, uint64_t *size,
                     char *err, size_t len)
{
    struct stat sb;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENAMETOOLONG || e == ENOTDIR || e == ELOOP)
            setf(err, len, "%s", e == ENOENT ? "no such file" : strerror(e));
        else if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
            setf(err, len, "not a regular file");
        else
            setf(err, len, "cannot read: %s", strerror(e));
        return false;
    }
    if (fstat(fd, &sb) != 0) {
        setf(err, len, "cannot read: %s", strerror(errno));
        close(fd);
        return false;
    }
    if (S_ISDIR(sb.st_mode) || !S_ISREG(sb.st_mode)) {
        setf(err, len, "%s", S_ISDIR(sb.st_mode) ? "is a directory, not a trace" : "not a regular file");
        close(fd);
        return false;
    }
    unsigned char h[100];
    size_t got = 0;
    while (got < sizeof h) {
        ssize_t r = read(fd, h + got, sizeof h - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0) {
                int e = errno;
                close(fd);
                setf(err, len, "cannot read: %s", strerror(e));
                return false;
            }
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    static const char magic[16] = "SQLite format 3";
    if (got == 0) {
        setf(err, len, "empty file");
        return false;
    }
    if (memcmp(h, magic, got < 16 ? got : 16) != 0) {
        setf(err, len, "not an SQLite database");
        return false;
    }
    if (got < sizeof h) {
        setf(err, len, "truncated SQLite database (%zu bytes, shorter than its header)", got);
        return false;
    }
    uint32_t page = (uint32_t)h[16] << 8 | h[17];
    if (page == 1)
        page = 65536;
    if (page < 512 || (page & (page - 1)) != 0) {
        setf(err, len, "corrupt SQLite header (page size %u)", page);
        return false;
    }
    if (!sidecars_regular(path, err, len))
        return false;
    /* Any -wal file, even an empty one, may belong to a writer that is
     * still running: then the main file alone is not the database. */
    *wal = sidecar(path, "-wal", false);
    *size = (uint64_t)sb.st_size;
    char wp[PATH_MAX + 16];
    struct stat wb;
    if ((size_t)snprintf(wp, sizeof wp, "%s-wal", path) < sizeof wp && lstat(wp, &wb) == 0)
        *size += (uint64_t)wb.st_size;
    *sidecar_free = !*wal && !sidecar(path, "-journal", false);
    bool wal_data = sidecar(path, "-wal", true);
    /* The in-header page count is valid when the change counter matches
     * version-valid-for (SQLite's file format, section 1.3.7). With WAL
     * content the main file may be mid-checkpoint, and shorter. */
    uint32_t pages = be32(h + 28);
    if (!wal_data && pages != 0 && memcmp(h + 24, h + 92, 4) == 0) {
        uint64_t want = (uint64_t)pages * page;
        if ((uint64_t)sb.st_size < want) {
            setf(err, len, "truncated SQLite database (%lld of %llu bytes)",
                 (long long)sb.st_size, (unsigned long long)want);
            return false;
        }
    }
    if (!wal_data && sb.st_size % page != 0) {
        setf(err, len, "truncated SQLite database (%lld bytes, not a whole number of %u-byte pages)",
             (long long)sb.st_size, page);
        return false;
    }
    return true;
}

/* path as an SQLite URI ("file:" + percent-encoded path + query). */
static char *uri_of(const char *path, const char *query)
{
    size_t n = strlen(path);
    char *u = malloc(16 + 3 * n + strlen(query) + 1);
    if (u == NULL)
        return NULL;
    char *o = u;
    o += sprintf(o, "%s", path[0] == '/' ? "file://" : "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/._-~", *p))
            *o++ = (char)*p;
        else
            o += sprintf(o, "%%%02X", *p);
    }
    strcpy(o, query);
    return u;
}

/* Copies src to dst (a new file, mode 0600): src must be a regular file
 * (not through a symbolic link), and at most the size it has when opened
 * is copied (a file that grows meanwhile is a writer's, read in place). */
static bool copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (in < 0)
        return false;
    struct stat sb;
    if (fstat(in, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(in);
        return false;
    }
    uint64_t left = (uint64_t)sb.st_size;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return false;
    }
    char buf[1 << 16];
    bool ok = true;
    while (left > 0) {
        ssize_t r = read(in, buf, left < sizeof buf ? (size_t)left : sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ok = false;
            break;
        }
        if (r == 0)
            break;
        left -= (uint64_t)r;
        for (ssize_t w = 0; w < r;) {
            ssize_t k = write(out, buf + w, (size_t)(r - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                ok = false;
                break;
            }
            w += k;
        }
        if (!ok)
            break;
    }
    close(in);
    if (close(out) != 0)
        ok = false;
    return ok;
}

static void remove_tmpdir(struct handle__tr *t)
{
    if (t->tmpdir == NULL)
        return;
    static const char *const names[] = {"trace.db", "trace.db-wal", "trace.db-shm"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int n = snprintf(p, sizeof p, "%s/%s", t->tmpdir, names[i]);
        if (n > 0 && (size_t)n < sizeof p)
            unlink(p);
    }
    rmdir(t->tmpdir);
    free(t->tmpdir);
    t->tmpdir = NULL;
}

static void close_db(struct handle__tr *t)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(t->st[i]);
        t->st[i] = NULL;
    }
    if (t->db)
        sqlite3_close_v2(t->db);
    t->db = NULL;
}

static bool open_uri(struct handle__tr *t, const char *path, const char *query, char *err,
                     size_t len)
{
    char *uri = uri_of(path, query);
    if (uri == NULL) {
        setf(err, len, "out of memory");
        return false;
    }
    int rc = sqlite3_open_v2(uri, &t->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        db_reason(t, rc, err, len);
        close_db(t);
        return false;
    }
    sqlite3_extended_result_codes(t->db, 1);
    sqlite3_busy_timeout(t->db, 2000); /* a writer still running may hold a lock briefly */
    sqlite3_progress_handler(t->db, PROGRESS_STEPS, on_progress, t);
    return true;
}

/* The objects this file reads and what the format says they are: a plain
 * table, or (handles, leaks) a table or a view. A view in place of a table
 * (an endless recursive one hangs every reader) or a virtual table is
 * refused (check_schema). */
static const struct {
    const char *name;
    bool view_ok;
} schema_objects[] = {
    {"meta", false},    {"errors", false},  {"stacks", false}, {"modules", false},
    {"threads", false}, {"live", false},    {"batches", false}, {"tags", false},
    {"handles", true},  {"leaks", true},   {"symbols", false}, {"lifetimes", false},
};

static const char *const schema_sql =
    "SELECT lower(name), type, sql LIKE 'CREATE VIRTUAL%' "
    "FROM sqlite_schema WHERE lower(name) IN ('meta', 'errors', 'stacks', 'modules', 'threads', "
    "'live', 'batches', 'tags', 'handles', 'leaks', 'symbols', 'lifetimes')";

/* Checks the kind of every object read here; false with the reason. */
static int check_schema(struct handle__tr *t, char *err, size_t len)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(t->db, schema_sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        db_reason(t, rc, err, len);
        return rc;
    }
    bool live_table = false, tags_table = false, batches_table = false, lifetimes_table = false;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        const char *type = (const char *)sqlite3_column_text(s, 1);
        if (name == NULL || type == NULL)
            continue;
        bool table = strcmp(type, "table") == 0 && !sqlite3_column_int(s, 2);
        for (size_t i = 0; i < sizeof schema_objects / sizeof schema_objects[0]; i++) {
            if (strcmp(name, schema_objects[i].name) != 0)
                continue;
            bool view = strcmp(type, "view") == 0;
            if (!table && !(view && schema_objects[i].view_ok)) {
                setf(err, len, "bad trace: %s is %s, not a table", name,
                     view                             ? "a view"
                     : sqlite3_column_int(s, 2) != 0 ? "a virtual table"
                                                      : "an index or trigger");
                sqlite3_finalize(s);
                return -1;
            }
        }
        if (strcmp(name, "live") == 0)
            live_table = table;
        else if (strcmp(name, "tags") == 0)
            tags_table = table;
        else if (strcmp(name, "batches") == 0)
            batches_table = table;
        else if (strcmp(name, "lifetimes") == 0)
            lifetimes_table = table;
        else if (strcmp(name, "symbols") == 0)
            t->has_symbols = table;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        db_reason(t, rc, err, len);
        return rc;
    }
    t->json_tables = live_table && tags_table && batches_table;
    t->wide_tables = live_table && tags_table && lifetimes_table;
    return SQLITE_OK;
}

/* Reads meta and prepares every statement. Returns the SQLite code of a
 * failure (reason in err), SQLITE_OK on success, or -1 for a database
 * that is readable but not a trace this reader takes. */
static int validate(struct handle__tr *t, char *err, size_t len)
{
    int rc = check_schema(t, err, len);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_stmt *s = NULL;
    rc = sqlite3_prepare_v2(t->db, "SELECT key, value FROM meta", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_ERROR && strstr(sqlite3_errmsg(t->db), "no such table")) {
            setf(err, len, "an SQLite database but not a handle trace (no meta table)");
            return -1;
        }
        db_reason(t, rc, err, len);
        return rc;
    }
    const char *format = NULL, *version = NULL, *layout = NULL;
    t->meta.exe = t->meta.cmdline = t->meta.boot_id = "";
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        if (k == NULL)
            continue;
        int64_t v;
        if (strcmp(k, "format") == 0)
            format = col_str(t, s, 1, false);
        else if (strcmp(k, "version") == 0)
            version = col_str(t, s, 1, false);
        else if (strcmp(k, "layout") == 0)
            layout = col_str(t, s, 1, false);
        else if (strcmp(k, "pid") == 0)
            t->meta.has_pid = col_i64(s, 1, &t->meta.pid);
        else if (strcmp(k, "exe") == 0)
            t->meta.exe = col_str(t, s, 1, false);
        else if (strcmp(k, "cmdline") == 0)
            t->meta.cmdline = col_str(t, s, 1, false);
        else if (strcmp(k, "started_at") == 0)
            t->meta.has_started = col_i64(s, 1, &t->meta.started_at);
        else if (strcmp(k, "ended_at") == 0)
            t->meta.has_ended = col_i64(s, 1, &t->meta.ended_at);
        else if (strcmp(k, "exit_status") == 0 && col_i64(s, 1, &v)) {
            t->meta.has_exit = true;
            t->meta.exit_status = v;
        } else if (strcmp(k, "incomplete") == 0) {
            const char *r = col_str(t, s, 1, false);
            t->meta.incomplete = r[0] ? r : "reason not recorded";
        } else if (strcmp(k, "boot_id") == 0)
            t->meta.boot_id = col_str(t, s, 1, false);
        else if (strcmp(k, "start_ticks") == 0)
            t->meta.has_start_ticks = col_i64(s, 1, &t->meta.start_ticks);
        else if (strcmp(k, "last_commit_ns") == 0)
            t->meta.has_last_commit = col_i64(s, 1, &t->meta.last_commit_ns);
        else if (strcmp(k, "suppressions") == 0)
            t->meta.suppressions = col_str_max(t, s, 1, true, SUPP_TEXT_MAX);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        db_reason(t, rc, err, len);
        return rc;
    }
    if (t->oom) { /* not "meta format is ''" for a trace */
        setf(err, len, "out of memory");
        return SQLITE_NOMEM;
    }
    if (format == NULL) {
        setf(err, len, "an SQLite database but not a handle trace (meta has no format)");
        return -1;
    }
    if (strcmp(format, "handle-trace") != 0) {
        setf(err, len, "an SQLite database but not a handle trace (meta format is '%.64s')",
             format);
        return -1;
    }
    char *end = NULL;
    long long ver = version && *version ? strtoll(version, &end, 10) : 0;
    if (version == NULL || *version == '\0' || *end != '\0' || ver < 1) {
        setf(err, len, "bad trace: meta version '%.32s' is not a format version",
             version ? version : "");
        return -1;
    }
    if (ver > HANDLE__TRACE_VERSION) {
        setf(err, len,
             "trace format version %lld is newer than this handle-report reads (%d); use a "
             "newer handle-report",
             ver, HANDLE__TRACE_VERSION);
        return -1;
    }
    t->meta.version = ver;
    /* meta.layout decides how lifetimes are read: the writer's layout
     * from its tables, with its codec; any other, or a trace from before
     * the key, through the `handles` and `leaks` views alone. */
    t->layout = LAYOUT_VIEW;
    if (layout != NULL && strcmp(layout, HANDLE__TRACE_LAYOUT) == 0 && t->wide_tables)
        t->layout = LAYOUT_WIDE;
    else if (layout != NULL && strcmp(layout, HANDLE__LAYOUT_JSON) == 0 && t->json_tables)
        t->layout = LAYOUT_JSON;
    for (int i = 0; i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v2(t->db, sql_text[i], -1, &t->st[i], NULL);
        if (rc != SQLITE_OK) {
            db_reason(t, rc, err, len);
            return rc;
        }
    }
    return SQLITE_OK;
}

/* A private copy of path and its -wal in a new temporary directory, for a
 * trace whose WAL cannot be read in place (read-only directory, no -shm).
 * Returns the copy's path (in t->tmpdir) or NULL. */
static const char *make_copy(struct handle__tr *t, const char *path, char *buf, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    char tmpl[PATH_MAX];
    int n = snprintf(tmpl, sizeof tmpl, "%s/handle-report.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof tmpl || mkdtemp(tmpl) == NULL)
        return NULL;
    t->tmpdir = strdup(tmpl);
    if (t->tmpdir == NULL) {
        rmdir(tmpl);
        return NULL;
    }
    char src[PATH_MAX + 8], dst[PATH_MAX + 16];
    int n1 = snprintf(buf, len, "%s/trace.db", t->tmpdir);
    int n2 = snprintf(src, sizeof src, "%s-wal", path);
    int n3 = snprintf(dst, sizeof dst, "%s-wal", buf);
    if (n1 < 0 || (size_t)n1 >= len || n2 < 0 || (size_t)n2 >= sizeof src || n3 < 0 ||
        (size_t)n3 >= sizeof dst || !copy_file(path, buf) || !copy_file(src, dst)) {
        remove_tmpdir(t);
        return NULL;
    }
    return buf;
}

/* Opens a private copy of path and its -wal (make_copy) read-only and
 * validates it: validate()'s code, or -1 with err set (why_not when no
 * copy can be made). */
static int open_copy(struct handle__tr *t, const char *path, const char *why_not, char *err,
                     size_t errlen)
{
    char copy[PATH_MAX + 16];
    const char *c = make_copy(t, path, copy, sizeof copy);
    if (c == NULL) {
        setf(err, errlen, "%s", why_not);
        return -1;
    }
    if (!open_uri(t, c, "?mode=ro", err, errlen))
        return -1;
    return validate(t, err, errlen);
}

struct handle__tr *handle__tr_open(const char *path, char *err, size_t errlen)
{
    bool wal = false, sidecar_free = false;
    uint64_t size = 0;
    /* SQLite resolves symbolic links to the database and looks for its
     * -wal and -journal beside the file they lead to: so do the checks. */
    char real[PATH_MAX];
    if (realpath(path, real) != NULL)
        path = real;
    if (!precheck(path, &wal, &sidecar_free, &size, err, errlen))
        return NULL;
    struct handle__tr *t = calloc(1, sizeof *t);
    if (t == NULL) {
        setf(err, errlen, "out of memory");
        return NULL;
    }
    t->stack_indexed = -1;
    t->size = size;
    t->budget = WORK_BASE + WORK_PER_BYTE * size;
    budget_start(t);
    /* Nothing beside the main file: it holds every committed transaction,
     * and immutable=1 reads it without creating -shm/-wal files (and in a
     * read-only directory). A running writer in WAL mode always has its
     * -wal file, so this never skips a live writer's data. */
    int rc = -2;
    /* A -wal without a running writer (a killed process): reading it in
     * place would create a -shm beside it (and SQLite sets an empty -wal's
     * mode): empty, the main file is all there is; else a private copy. */
    bool in_place = sidecar_free || !wal || writer_alive(path);
    bool wal_empty = wal && !sidecar(path, "-wal", true) && !sidecar(path, "-journal", false);
    if (sidecar_free || (!in_place && wal_empty)) {
        if (!open_uri(t, path, "?immutable=1", err, errlen))
            goto fail;
        rc = validate(t, err, errlen);
    } else if (!in_place) {
        rc = open_copy(t, path,
                       "cannot copy it and its -wal file to a temporary directory (TMPDIR) "
                       "to read them without changing them",
                       err, errlen);
    } else {
        if (!open_uri(t, path, "?mode=ro", err, errlen))
            goto fail;
        rc = validate(t, err, errlen);
        int base = rc & 0xff;
        if (rc > 0 && wal && (base == SQLITE_CANTOPEN || base == SQLITE_READONLY)) {
            /* The WAL needs a -shm file that cannot be made here. */
            close_db(t);
            rc = open_copy(t, path,
                           "cannot read its -wal file in place (read-only directory?) nor "
                           "copy it to a temporary directory",
                           err, errlen);
        }
    }
    if (rc != SQLITE_OK)
        goto fail;
    t->meta.closed = !wal;
    return t;
fail:
    handle__tr_close(t);
    return NULL;
}

void handle__tr_close(struct handle__tr *t)
{
    if (t == NULL)
        return;
    close_db(t);
    remove_tmpdir(t);
    for (size_t i = 0; i < t->nstrs; i++)
        free(t->strs[i]);
    free(t->strs);
    for (size_t i = 0; i < t->ntags; i++)
        free(t->tags[i]);
    free(t->tags);
    free(t->tag_slot);
    free(t->tm);
    free(t->mods);
    free(t->groups);
    free(t->errs);
    free(t->sents);
    free(t->sslot);
    free(t->pcs);
    free(t->smods);
    free(t);
}

const struct handle__tr_meta *handle__tr_meta(const struct handle__tr *t)
{
    return &t->meta;
}

/* ---- tables -------------------------------------------------------------- */

/* Steps s to the end; the common tail of the readers. */
static bool finish(struct handle__tr *t, sqlite3_stmt *s, int rc, char *err, size_t len)
{
    if (rc != SQLITE_DONE) {
        db_reason(t, rc, err, len);
        sqlite3_reset(s);
        return false;
    }
    sqlite3_reset(s);
    return true;
}

bool handle__tr_symbols(struct handle__tr *t,
                        void (*fn)(void *ctx, uint32_t module, uint64_t offset,
                                   const struct handle__tr_symbol *f, size_t n),
                        void *ctx, char *err, size_t errlen)
{
    if (!t->has_symbols)
        return true; /* a trace of a killed process, or from before the table */
    budget_start(t);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(t->db,
                                "SELECT module, offset, idx, function, file, line, col, inlined "
                                "FROM symbols ORDER BY module, offset, idx",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) {
        db_reason(t, rc, err, errlen);
        return false;
    }
    struct handle__tr_symbol f[HANDLE__TR_SYMBOL_MAX];
    size_t n = 0;
    uint32_t mod = 0;
    uint64_t off = 0;
    t->oom = false;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        uint32_t m = col_id(s, 0);
        int64_t o, line = 0, col = 0, inl = 0;
        if (m == 0 || !col_i64(s, 1, &o))
            continue;
        if (n && (m != mod || (uint64_t)o != off)) {
            fn(ctx, mod, off, f, n);
            n = 0;
        }
        mod = m;
        off = (uint64_t)o;
        if (n == HANDLE__TR_SYMBOL_MAX)
            continue; /* a longer chain than any writer makes: cut */
        col_i64(s, 5, &line);
        col_i64(s, 6, &col);
        col_i64(s, 7, &inl);
        f[n++] = (struct handle__tr_symbol){
            .function = col_str(t, s, 3, true),
            .file = col_str(t, s, 4, true),
            .line = line > 0 && line <= INT32_MAX ? (int)line : 0,
            .column = col > 0 && col <= INT32_MAX ? (int)col : 0,
            .inlined = inl != 0,
        };
    }
    if (n && rc == SQLITE_DONE)
        fn(ctx, mod, off, f, n);
    if (rc != SQLITE_DONE)
        db_reason(t, rc, err, errlen);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE && t->oom) {
        setf(err, errlen, "out of memory");
        return false;
    }
    return rc == SQLITE_DONE;
}

bool handle__tr_modules(struct handle__tr *t, const struct handle__tr_module **out, size_t *n,
                        char *err, size_t errlen)
{
    budget_start(t);
    sqlite3_stmt *s = t->st[ST_MODULES];
    size_t cap = 0;
    t->nmods = 0;
    t->oom = false;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        uint32_t id = col_id(s, 0);
        if (id == 0)
            continue;
        if (!handle__grow(&t->mods, &cap, t->nmods + 1, sizeof *t->mods)) {
            sqlite3_reset(s);
            setf(err, errlen, "out of memory");
            return false;
        }
        struct handle__tr_module *m = &t->mods[t->nmods++];
        m->id = id;
        m->path = col_str(t, s, 1, false);
        m->build_id = col_str(t, s, 2, false);
        m->bias = col_u64(s, 3);
        m->lo = col_u64(s, 4);
        m->hi = col_u64(s, 5);
    }
    if (!finish(t, s, rc, err, errlen))
        return false;
    if (t->oom) { /* a path or build-id read as "" */
        setf(err, errlen, "out of memory");
        return false;
    }
    *out = t->mods;
    *n = t->nmods;
    return true;
}

/* The tag id for the view's (SELECT name FROM tags WHERE id = v). */
static uint32_t tag_of(const struct tagid *tm, size_t n, int64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tm[mid].id < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && tm[lo].id == v ? tm[lo].tag : 0;
}

/* Reads the tags table once into t->tm (ordered by id, each name read and
 * cut once), for the readers of live and batches, which then take tag ids
 * instead of a tag's text per row. tm_state -1 when the ids are not
 * unique integers (the views then decide which row a tag is). False with
 * the reason on a read error or out of memory. */
static bool load_tagmap(struct handle__tr *t, char *err, size_t errlen)
{
    if (t->tm_state != 0)
        return true;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(t->db, "SELECT id, name, typeof(id) = 'integer' FROM tags ORDER BY id",
                                -1, &q, NULL);
    if (rc != SQLITE_OK) {
        t->tm_state = -1; /* no such table or column: the views */
        return true;
    }
    size_t cap = 0;
    t->tm_state = 1;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        if (!sqlite3_column_int(q, 2) || (t->ntm && t->tm[t->ntm - 1].id == id)) {
            t->tm_state = -1; /* which row would the view take? SQLite decides */
            break;
        }
        if (!handle__grow(&t->tm, &cap, t->ntm + 1, sizeof *t->tm)) {
            sqlite3_finalize(q);
            t->tm_state = 0;
            t->ntm = 0;
            setf(err, errlen, "out of memory");
            return false;
        }
        t->tm[t->ntm++] = (struct tagid){id, col_tag(t, q, 1)};
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        t->tm_state = 0;
        t->ntm = 0;
        db_reason(t, rc, err, errlen);
        return false;
    }
    if (t->tm_state < 0)
        t->ntm = 0;
    return true;
}

/* The live handles of the writer's layout: live itself, with tag ids
 * (what its leaks view gives, without a tag's text on every row). */
static const char *const live_groups_sql =
    "SELECT nullif(l.created_stack, 0), (SELECT id FROM tags WHERE id = l.tag), l.created_ns "
    "FROM live AS l";

struct group_ix {
    uint32_t *slot; /* group index + 1 */
    size_t cap;     /* power of two or 0 */
};

static uint64_t group_hash(uint32_t stack, uint32_t tag)
{
    uint64_t x = ((uint64_t)stack << 32 | tag) * 0x9e3779b97f4a7c15ULL;
    return x ^ (x >> 29);
}

/* Adds one live handle to its group (created_ns: has_ns, ns). */
static bool group_add(struct handle__tr *t, struct group_ix *ix, size_t *cap, uint32_t stack,
                      uint32_t tag, bool has_ns, int64_t ns)
{
    if ((t->ngroups + 1) * 2 > ix->cap) {
        size_t ncap = ix->cap ? ix->cap * 2 : 64;
        uint32_t *ns_ = calloc(ncap, sizeof *ns_);
        if (ns_ == NULL)
            return false;
        for (size_t k = 0; k < t->ngroups; k++) {
            size_t i = group_hash(t->groups[k].stack, t->groups[k].tag) & (ncap - 1);
            while (ns_[i])
                i = (i + 1) & (ncap - 1);
            ns_[i] = (uint32_t)(k + 1);
        }
        free(ix->slot);
        ix->slot = ns_;
        ix->cap = ncap;
    }
    size_t mask = ix->cap - 1, i = group_hash(stack, tag) & mask;
    for (; ix->slot[i]; i = (i + 1) & mask) {
        struct handle__tr_group *g = &t->groups[ix->slot[i] - 1];
        if (g->stack == stack && g->tag == tag) {
            g->count++;
            if (has_ns && (g->first_ns == INT64_MAX || ns < g->first_ns))
                g->first_ns = ns;
            return true;
        }
    }
    if (t->ngroups >= UINT32_MAX - 1 ||
        !handle__grow(&t->groups, cap, t->ngroups + 1, sizeof *t->groups))
        return false;
    t->groups[t->ngroups] = (struct handle__tr_group){stack, tag, 1, has_ns ? ns : INT64_MAX};
    ix->slot[i] = (uint32_t)++t->ngroups;
    return true;
}

static int group_cmp(const void *a, const void *b)
{
    const struct handle__tr_group *x = a, *y = b;
    if (x->stack != y->stack)
        return x->stack < y->stack ? -1 : 1;
    return x->tag < y->tag ? -1 : x->tag > y->tag;
}

bool handle__tr_leak_groups(struct handle__tr *t, const struct handle__tr_group **out, size_t *n,
                            char *err, size_t errlen)
{
    budget_start(t);
    free(t->groups);
    t->groups = NULL;
    t->ngroups = 0;
    if (t->layout != LAYOUT_VIEW && !load_tagmap(t, err, errlen))
        return false;
    sqlite3_stmt *s = t->st[ST_LEAKS], *own_st = NULL;
    bool by_id = t->layout != LAYOUT_VIEW && t->tm_state > 0;
    if (by_id) {
        int rc = sqlite3_prepare_v2(t->db, live_groups_sql, -1, &own_st, NULL);
        if (rc != SQLITE_OK) {
            db_reason(t, rc, err, errlen);
            return false;
        }
        s = own_st;
    }
    struct group_ix ix = {0};
    size_t cap = 0;
    int rc;
    bool ok = true;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        uint32_t tag;
        if (by_id) {
            int64_t id;
            tag = col_i64(s, 1, &id) ? tag_of(t->tm, t->ntm, id) : 0;
        } else {
            tag = col_tag(t, s, 1);
        }
        int64_t ns = 0;
        bool has_ns = col_i64(s, 2, &ns);
        if (!group_add(t, &ix, &cap, col_id(s, 0), tag, has_ns, ns)) {
            setf(err, errlen, "out of memory");
            ok = false;
            break;
        }
    }
    free(ix.slot);
    if (ok && rc != SQLITE_DONE) {
        db_reason(t, rc, err, errlen);
        ok = false;
    }
    if (own_st)
        sqlite3_finalize(own_st);
    else
        sqlite3_reset(s);
    if (!ok)
        return false;
    for (size_t i = 0; i < t->ngroups; i++)
        if (t->groups[i].first_ns == INT64_MAX)
            t->groups[i].first_ns = 0;
    if (t->ngroups > 1)
        qsort(t->groups, t->ngroups, sizeof *t->groups, group_cmp);
    *out = t->groups;
    *n = t->ngroups;
    return true;
}

bool handle__tr_errors(struct handle__tr *t, const struct handle__tr_error **out, size_t *n,
                       char *err, size_t errlen)
{
    budget_start(t);
    sqlite3_stmt *s = t->st[ST_ERRORS];
    size_t cap = 0;
    free(t->errs);
    t->errs = NULL;
    t->nerrs = 0;
    t->oom = false;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!handle__grow(&t->errs, &cap, t->nerrs + 1, sizeof *t->errs)) {
            sqlite3_reset(s);
            setf(err, errlen, "out of memory");
            return false;
        }
        struct handle__tr_error *e = &t->errs[t->nerrs++];
        e->kind = col_str(t, s, 0, false);
        if (e->kind[0] == '\0')
            e->kind = "unknown";
        e->handle = col_u64(s, 1);
        e->at_ns = 0;
        col_i64(s, 2, &e->at_ns);
        e->thread = col_thread(s, 3);
        e->stack = col_id(s, 4);
        e->message = col_str_max(t, s, 5, false, MESSAGE_MAX);
        e->tag = col_str(t, s, 6, true);
        e->created_thread = col_thread(s, 7);
        e->created_stack = col_id(s, 8);
        e->deleted_thread = col_thread(s, 9);
        e->deleted_stack = col_id(s, 10);
    }
    if (!finish(t, s, rc, err, errlen))
        return false;
    if (t->oom) { /* a kind, message or tag read as "" */
        setf(err, errlen, "out of memory");
        return false;
    }
    *out = t->errs;
    *n = t->nerrs;
    return true;
}

/* ---- lifetimes --------------------------------------------------------- */

/* Rows of handles through the view (or table) itself: any trace. */
static bool lifetimes_sql(struct handle__tr *t, bool (*fn)(void *ctx, const struct handle__tr_life *l),
                          void *ctx, char *err, size_t errlen)
{
    sqlite3_stmt *s = t->st[ST_LIFE];
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct handle__tr_life l;
        l.stack = col_id(s, 0);
        l.tag = col_tag(t, s, 1);
        l.created_ns = 0;
        col_i64(s, 2, &l.created_ns);
        l.deleted = col_i64(s, 3, &l.deleted_ns);
        if (!fn(ctx, &l)) {
            sqlite3_reset(s);
            return false;
        }
    }
    return finish(t, s, rc, err, errlen);
}

/*
 * The writer's layouts (lib/format/trace_format.h). HANDLE__TRACE_LAYOUT:
 * completed lifetimes are slots of `lifetimes` rows, eight to a row;
 * HANDLE__LAYOUT_JSON: elements of a JSON array per `batches` row, which
 * the `handles` view unpacks with json_extract, about 2 us a lifetime.
 * Live handles are rows of `live`. The codec the writer encodes them with
 * (lib/format/lifetimes.c) decodes them here, the JSON some 50 times
 * faster than the view. A row it does not take is not of the layout: the
 * trace is damaged, and reading it stops with one line naming the row.
 */
static const char *const fast_sql[] = {
    /* 0: the completed lifetimes, by layout */
    HANDLE__ROW_SELECT_SQL,
    "SELECT rowid, base_ns, skip, data FROM batches ORDER BY rowid",
    /* 1: the live handles as the view gives them (the tag as the id of
     * the row the view would take its name from: t->tm has the names) */
    ("SELECT nullif(l.created_stack, 0), (SELECT id FROM tags WHERE id = l.tag), l.created_ns "
     "FROM live AS l"),
};

/* A tag column of fast_sql: the id of a tags row, or NULL. */
static uint32_t col_tagid(const struct handle__tr *t, sqlite3_stmt *s, int i)
{
    int64_t id;
    return col_i64(s, i, &id) ? tag_of(t->tm, t->ntm, id) : 0;
}

/* The codec's callback: one completed lifetime to the caller's. */
struct decode_ctx {
    struct handle__tr *t;
    bool (*fn)(void *ctx, const struct handle__tr_life *l);
    void *ctx;
};

static bool decoded(void *ctx, const struct handle__lifetime *lt)
{
    struct decode_ctx *d = ctx;
    struct handle__tr_life l;
    l.stack = lt->created_stack;
    l.tag = tag_of(d->t->tm, d->t->ntm, lt->tag);
    l.deleted = true;
    l.deleted_ns = (int64_t)lt->deleted_ns;
    l.created_ns = (int64_t)lt->created_ns;
    return d->fn(d->ctx, &l);
}

/* The slots of one `lifetimes` row (HANDLE__ROW_SELECT_SQL): the number
 * delivered, -1 when the row is not of the layout, -2 when the caller
 * stopped. */
static long wide_row(sqlite3_stmt *b, struct decode_ctx *dc)
{
    long n = 0;
    for (int k = 0; k < HANDLE__ROW_WIDTH; k++) {
        int col = 1 + k * HANDLE__ROW_FIELDS;
        if (sqlite3_column_type(b, col) == SQLITE_NULL)
            continue; /* empty, or dropped by max_history */
        struct handle__wslot ws;
        for (int f = 0; f < HANDLE__ROW_FIELDS; f++) {
            int type = sqlite3_column_type(b, col + f);
            if (type != SQLITE_INTEGER && type != SQLITE_NULL)
                return -1;
            ws.null[f] = type == SQLITE_NULL;
            ws.v[f] = ws.null[f] ? 0 : sqlite3_column_int64(b, col + f);
        }
        struct handle__lifetime lt;
        if (!handle__wslot_decode(&ws, &lt))
            return -1;
        if (!decoded(dc, &lt))
            return -2;
        n++;
    }
    return n;
}

/* 1 when the trace has one of the writer's layouts and the fast path ran
 * (result in *ok), 0 when it has not (nothing was delivered: use the
 * view). */
static int lifetimes_fast(struct handle__tr *t,
                          bool (*fn)(void *ctx, const struct handle__tr_life *l), void *ctx,
                          bool *ok, char *err, size_t errlen)
{
    sqlite3_stmt *b = NULL, *lv = NULL;
    int used = 0;
    int rc;
    bool wide = t->layout == LAYOUT_WIDE;
    if (t->layout == LAYOUT_VIEW)
        return 0;
    if (!load_tagmap(t, err, errlen)) {
        *ok = false;
        return 1;
    }
    if (t->tm_state < 0)
        return 0;
    if (sqlite3_prepare_v2(t->db, fast_sql[wide ? 0 : 1], -1, &b, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(t->db, fast_sql[2], -1, &lv, NULL) != SQLITE_OK)
        goto out; /* not the writer's schema */
    used = 1;
    *ok = false;
    struct decode_ctx dc = {t, fn, ctx};
    while ((rc = sqlite3_step(b)) == SQLITE_ROW) {
        long n = -1;
        if (wide) {
            n = wide_row(b, &dc);
        } else if (sqlite3_column_type(b, 1) == SQLITE_INTEGER &&
                   sqlite3_column_type(b, 2) == SQLITE_INTEGER &&
                   sqlite3_column_type(b, 3) == SQLITE_TEXT) {
            /* the types first: reading a column as text converts it */
            const char *data = (const char *)sqlite3_column_text(b, 3);
            size_t len = (size_t)sqlite3_column_bytes(b, 3);
            account(t, len);
            n = handle__chunk_decode(data, len, sqlite3_column_int64(b, 1),
                                     sqlite3_column_int64(b, 2), decoded, &dc);
        }
        if (n == -2)
            goto out; /* the caller stopped */
        if (n < 0) {
            setf(err, errlen, "bad trace: %s row %lld is not of layout %s",
                 wide ? "lifetimes" : "batches", (long long)sqlite3_column_int64(b, 0),
                 wide ? HANDLE__TRACE_LAYOUT : HANDLE__LAYOUT_JSON);
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        db_reason(t, rc, err, errlen);
        goto out;
    }
    while ((rc = sqlite3_step(lv)) == SQLITE_ROW) {
        struct handle__tr_life l;
        l.stack = col_id(lv, 0);
        l.tag = col_tagid(t, lv, 1);
        l.created_ns = 0;
        col_i64(lv, 2, &l.created_ns);
        l.deleted = false;
        l.deleted_ns = 0;
        if (!fn(ctx, &l))
            goto out;
    }
    if (rc != SQLITE_DONE) {
        db_reason(t, rc, err, errlen);
        goto out;
    }
    *ok = true;
out:
    sqlite3_finalize(b);
    sqlite3_finalize(lv);
    return used;
}

bool handle__tr_lifetimes(struct handle__tr *t,
                          bool (*fn)(void *ctx, const struct handle__tr_life *l), void *ctx,
                          char *err, size_t errlen)
{
    bool ok = false;
    budget_start(t);
    if (lifetimes_fast(t, fn, ctx, &ok, err, errlen))
        return ok;
    return lifetimes_sql(t, fn, ctx, err, errlen);
}

/* ---- stacks -------------------------------------------------------------- */

static uint64_t id_hash(uint32_t id)
{
    uint64_t x = id * 0x9e3779b97f4a7c15ULL;
    return x ^ (x >> 32);
}

static struct stack_ent *stack_find(const struct handle__tr *t, uint32_t id)
{
    if (t->scap == 0)
        return NULL;
    size_t mask = t->scap - 1;
    for (size_t i = id_hash(id) & mask;; i = (i + 1) & mask) {
        uint32_t v = t->sslot[i];
        if (v == 0)
            return NULL;
        if (t->sents[v - 1].id == id)
            return &t->sents[v - 1];
    }
}

/* Adds an (empty) entry for id; false when out of memory. */
static bool stack_add(struct handle__tr *t, uint32_t id)
{
    if ((t->nsents + 1) * 2 > t->scap) {
        size_t ncap = t->scap ? t->scap * 2 : 256;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return false;
        for (size_t k = 0; k < t->nsents; k++) {
            size_t i = id_hash(t->sents[k].id) & (ncap - 1);
            while (ns[i])
                i = (i + 1) & (ncap - 1);
            ns[i] = (uint32_t)(k + 1);
        }
        free(t->sslot);
        t->sslot = ns;
        t->scap = ncap;
    }
    if (!handle__grow(&t->sents, &t->capsents, t->nsents + 1, sizeof *t->sents))
        return false;
    t->sents[t->nsents] = (struct stack_ent){.id = id, .off = t->nframes};
    size_t mask = t->scap - 1;
    size_t i = id_hash(id) & mask;
    while (t->sslot[i])
        i = (i + 1) & mask;
    t->sslot[i] = (uint32_t)++t->nsents;
    return true;
}

/* More frames than any capture keeps (max_frames is at most 256): the
 * rest of a longer (damaged) stack is ignored. */
#define MAX_DEPTH 1024

static bool frame_add(struct handle__tr *t, struct stack_ent *e, sqlite3_stmt *s, int col)
{
    if (e->depth >= MAX_DEPTH)
        return true;
    if (!handle__grow(&t->pcs, &t->cap_pcs, t->nframes + 1, sizeof *t->pcs) ||
        !handle__grow(&t->smods, &t->cap_smods, t->nframes + 1, sizeof *t->smods))
        return false;
    t->pcs[t->nframes] = (uintptr_t)col_u64(s, col);
    t->smods[t->nframes] = col_id(s, col + 1);
    t->nframes++;
    e->depth++;
    return true;
}

/* Whether "stacks WHERE id = ?" is an index lookup (EXPLAIN QUERY PLAN
 * says SEARCH) rather than a scan of the whole table. */
static bool stacks_indexed(struct handle__tr *t)
{
    sqlite3_stmt *s = NULL;
    char q[256];
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql_text[ST_STACK]);
    if (sqlite3_prepare_v2(t->db, q, -1, &s, NULL) != SQLITE_OK)
        return true;
    bool indexed = true;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(s, 3);
        if (d && strncmp(d, "SCAN", 4) == 0 && strstr(d, "stacks"))
            indexed = false;
    }
    sqlite3_finalize(s);
    return indexed;
}

bool handle__tr_load_stacks(struct handle__tr *t, const uint32_t *ids, size_t n, char *err,
                            size_t errlen)
{
    budget_start(t);
    if (t->stack_indexed < 0)
        t->stack_indexed = stacks_indexed(t);
    /* The ids not loaded yet get empty entries, filled below. */
    size_t first_new = t->nsents;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == 0 || stack_find(t, ids[i]))
            continue;
        if (!stack_add(t, ids[i])) {
            setf(err, errlen, "out of memory");
            return false;
        }
    }
    if (t->nsents == first_new)
        return true;
    int rc = SQLITE_DONE;
    if (t->stack_indexed) {
        sqlite3_stmt *s = t->st[ST_STACK];
        for (size_t k = first_new; k < t->nsents; k++) {
            struct stack_ent *e = &t->sents[k];
            e->off = t->nframes;
            sqlite3_bind_int64(s, 1, e->id);
            while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                if (!frame_add(t, e, s, 1)) {
                    sqlite3_reset(s);
                    setf(err, errlen, "out of memory");
                    return false;
                }
            }
            if (!finish(t, s, rc, err, errlen))
                return false;
        }
        return true;
    }
    /* No index on id: one ordered pass, keeping the wanted stacks. */
    sqlite3_stmt *s = NULL;
    rc = sqlite3_prepare_v2(t->db, "SELECT id, depth, pc, module FROM stacks ORDER BY id, depth",
                            -1, &s, NULL);
    if (rc != SQLITE_OK) {
        db_reason(t, rc, err, errlen);
        return false;
    }
    struct stack_ent *cur = NULL;
    uint32_t cur_id = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        uint32_t id = col_id(s, 0);
        if (id != cur_id) {
            cur_id = id;
            cur = stack_find(t, id);
            if (cur && (size_t)(cur - t->sents) < first_new)
                cur = NULL; /* loaded before */
            if (cur)
                cur->off = t->nframes;
        }
        if (cur && !frame_add(t, cur, s, 2)) {
            sqlite3_finalize(s);
            setf(err, errlen, "out of memory");
            return false;
        }
    }
    if (rc != SQLITE_DONE) {
        db_reason(t, rc, err, errlen);
        sqlite3_finalize(s);
        return false;
    }
    sqlite3_finalize(s);
    return true;
}

bool handle__tr_stack(const struct handle__tr *t, uint32_t id, struct handle__tr_stack *out)
{
    const struct stack_ent *e = id ? stack_find(t, id) : NULL;
    if (e == NULL || e->depth == 0) {
        *out = (struct handle__tr_stack){0};
        return false;
    }
    out->depth = e->depth;
    out->pcs = t->pcs + e->off;
    out->modules = t->smods + e->off;
    return true;
}

/* ---- the writer's process ------------------------------------------------ */

/* Reads up to cap - 1 bytes of a small /proc file into buf; false if it
 * cannot be read. */
static bool read_proc(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return true;
}

bool handle__tr_running(const struct handle__tr_meta *mt)
{
    if (!mt->has_pid || mt->pid <= 0 || mt->pid > INT_MAX || !mt->has_start_ticks ||
        mt->boot_id == NULL || mt->boot_id[0] == '\0')
        return false;
    char buf[1024], path[64];
    if (!read_proc("/proc/sys/kernel/random/boot_id", buf, sizeof buf))
        return false;
    buf[strcspn(buf, "\n")] = '\0';
    if (strcmp(buf, mt->boot_id) != 0)
        return false;
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)mt->pid);
    if (!read_proc(path, buf, sizeof buf))
        return false;
    /* Field 22, counted after the parenthesized name (which may hold
     * spaces and parentheses itself). */
    const char *p = strrchr(buf, ')');
    for (int field = 2; p && *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (p == NULL || *p < '0' || *p > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long ticks = strtoull(p, &end, 10);
    if (errno != 0 || end == p)
        return false;
    /* A zombie has its start time too, but it is not running. */
    const char *st = strrchr(buf, ')');
    if (st && st[1] == ' ' && (st[2] == 'Z' || st[2] == 'X'))
        return false;
    return (int64_t)ticks == mt->start_ticks;
}
