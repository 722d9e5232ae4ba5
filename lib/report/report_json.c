/*
 * report_json.c - handle-report's machine-readable outputs, both written
 * with the JSON writer of json_out.h (never with printf):
 *
 *  - --format json: SPEC section 6's document, {"trace", "leaks",
 *    "errors", "summary"} (and "stats" with --stats). Several traces add
 *    "processes" and "example" to each leak and "trace" to each error, and
 *    "trace" lists every trace;
 *  - --format sarif: a SARIF 2.1.0 log that GitHub code scanning takes as
 *    it is (SPEC section 6): one result per leak site (rule handle-leak)
 *    and one per recorded error (rule = its kind), each placed at its
 *    first frame under the source root (a URI relative to %SRCROOT%),
 *    else its first frame with a source file, else the program, so that
 *    no result lacks a location; each with its stacks as SARIF stacks and
 *    a partial fingerprint from the baseline's matching key (no address,
 *    line or stack id), so that a site keeps its alert across rebuilds;
 *    rules with help text.
 * Formatting only; the model is built by report_model.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_out.h"
#include "report_model.h"

/* ---- shared pieces ------------------------------------------------------- */

static void j_frame(struct handle__json *j, const struct handle__sym_frame *f)
{
    handle__json_obj(j);
    handle__json_key(j, "pc");
    handle__json_hex(j, f->pc);
    handle__json_kstr(j, "function", f->function);
    handle__json_kstr(j, "file", f->file);
    handle__json_key(j, "line");
    if (f->file && f->line > 0)
        handle__json_int(j, f->line);
    else
        handle__json_null(j);
    handle__json_kstr(j, "module", f->module ? f->module : "");
    handle__json_obj_end(j);
}

static void j_stack(struct handle__json *j, const struct handle__sym_frame *f, size_t n)
{
    handle__json_arr(j);
    for (size_t i = 0; i < n; i++)
        j_frame(j, &f[i]);
    handle__json_arr_end(j);
}

static void j_thread(struct handle__json *j, int64_t t)
{
    char b[32];
    if (t < 0)
        handle__json_null(j);
    else {
        snprintf(b, sizeof b, "T%" PRId64, t);
        handle__json_str(j, b);
    }
}

/* The members describing one trace (inside an object the caller opens). */
static void j_trace_fields(struct handle__json *j, const struct handle__rm_trace *t)
{
    const struct handle__tr_meta *mt = &t->meta;
    handle__json_kstr(j, "path", t->path);
    handle__json_kint(j, "version", mt->version);
    handle__json_kstr(j, "exe", mt->exe);
    handle__json_kstr(j, "cmdline", mt->cmdline);
    handle__json_kint_or_null(j, "pid", mt->has_pid, mt->pid);
    handle__json_kint_or_null(j, "started_at", mt->has_started, mt->started_at);
    handle__json_kint_or_null(j, "ended_at", mt->has_ended, mt->ended_at);
    handle__json_kint_or_null(j, "exit_status", mt->has_ended && mt->has_exit, mt->exit_status);
    handle__json_key(j, "clean_exit");
    handle__json_bool(j, mt->has_ended);
    handle__json_kuint(j, "leaked_handles", t->leaked);
    handle__json_kuint(j, "errors", t->errors);
    /* still running: its handles live at the last commit, not leaks */
    handle__json_key(j, "running");
    handle__json_bool(j, t->running);
    handle__json_kuint(j, "live_handles", t->live);
    handle__json_kint_or_null(j, "last_commit_ns", mt->has_last_commit, mt->last_commit_ns);
    handle__json_kstr(j, "incomplete", t->incomplete);
}

/* A list of sites ("leaks", "live"): count, tag, stack, and the number
 * of processes it was found in (1 for a single trace) with, merged, one
 * of them. */
static void j_sites(struct handle__json *j, const struct handle__leak_site *sites, size_t n,
                    bool merged)
{
    handle__json_arr(j);
    for (size_t i = 0; i < n; i++) {
        const struct handle__leak_site *s = &sites[i];
        if (s->suppressed_by >= 0 || s->count == 0)
            continue;
        handle__json_obj(j);
        handle__json_kuint(j, "count", s->count);
        handle__json_kstr(j, "tag", s->tag);
        handle__json_key(j, "stack");
        j_stack(j, s->frames, s->nframes);
        handle__json_kuint(j, "processes", merged ? s->processes : 1);
        if (merged)
            handle__json_kstr(j, "example", s->example);
        handle__json_obj_end(j);
    }
    handle__json_arr_end(j);
}

static void j_notes(struct handle__json *j, const struct handle__rm *m)
{
    handle__json_key(j, "unsymbolized_modules");
    handle__json_arr(j);
    for (size_t i = 0; i < m->nnotes; i++) {
        handle__json_obj(j);
        handle__json_kstr(j, "path", m->notes[i].path);
        handle__json_kstr(j, "reason", m->notes[i].reason);
        handle__json_key(j, "changed");
        handle__json_bool(j, m->notes[i].changed);
        handle__json_obj_end(j);
    }
    handle__json_arr_end(j);
}

static bool done(struct handle__json *j, char *err, size_t errlen)
{
    bool ok = handle__json_finish(j);
    if (!ok)
        snprintf(err, errlen, "writing JSON: %s", j->errmsg[0] ? j->errmsg : "failed");
    handle__json_fini(j);
    return ok;
}

/* ---- JSON ---------------------------------------------------------------- */

bool handle__rm_json(struct handle__sb *b, const struct handle__rm *m, bool want_stats,
                     char *err, size_t errlen)
{
    struct handle__json j;
    if (!handle__json_init(&j, b, 2)) {
        snprintf(err, errlen, "JSON writer: %s", j.errmsg);
        handle__json_fini(&j);
        return false;
    }
    bool merged = m->ntraces > 1;
    handle__json_obj(&j);

    handle__json_key(&j, "trace");
    handle__json_obj(&j);
    /* "trace": the one trace, or for several what they share; "traces"
     * beside it: every trace (SPEC section 6). */
    if (!merged && m->ntraces == 1)
        j_trace_fields(&j, &m->traces[0]);
    else
        handle__json_kuint(&j, "processes", m->ntraces);
    j_notes(&j, m);
    handle__json_obj_end(&j);
    handle__json_key(&j, "traces");
    handle__json_arr(&j);
    for (size_t i = 0; i < m->ntraces; i++) {
        handle__json_obj(&j);
        j_trace_fields(&j, &m->traces[i]);
        handle__json_obj_end(&j);
    }
    handle__json_arr_end(&j);

    handle__json_key(&j, "leaks");
    j_sites(&j, m->sites, m->nsites, merged);
    /* processes still running: their handles live at the last commit */
    handle__json_key(&j, "live");
    j_sites(&j, m->live, m->nlive, merged);

    handle__json_key(&j, "errors");
    handle__json_arr(&j);
    for (size_t i = 0; i < m->nerrors; i++) {
        const struct handle__rm_error *e = &m->errors[i];
        handle__json_obj(&j);
        handle__json_kstr(&j, "kind", e->kind);
        handle__json_key(&j, "handle");
        handle__json_hex(&j, e->handle);
        handle__json_key(&j, "thread");
        j_thread(&j, e->thread);
        handle__json_key(&j, "stack");
        j_stack(&j, e->stack.f, e->stack.n);
        handle__json_key(&j, "created_stack");
        if (e->has_created)
            j_stack(&j, e->created.f, e->created.n);
        else
            handle__json_null(&j);
        handle__json_key(&j, "deleted_stack");
        if (e->has_deleted)
            j_stack(&j, e->deleted.f, e->deleted.n);
        else
            handle__json_null(&j);
        handle__json_kstr(&j, "tag", e->tag);
        handle__json_kstr(&j, "message", e->message);
        if (merged)
            handle__json_kstr(&j, "trace", m->traces[e->trace].path);
        handle__json_obj_end(&j);
    }
    handle__json_arr_end(&j);

    uint64_t nsites = 0;
    uint64_t leaked = handle__rm_leaked(m, &nsites);
    handle__json_key(&j, "summary");
    handle__json_obj(&j);
    handle__json_kuint(&j, "leaked_handles", leaked);
    handle__json_kuint(&j, "leak_sites", nsites);
    handle__json_kuint(&j, "errors", m->nerrors);
    handle__json_kuint(&j, "live_handles", handle__rm_live(m, NULL));
    handle__json_kuint(&j, "incomplete_traces", handle__rm_incomplete(m));
    if (m->nbaselines) {
        handle__json_kuint(&j, "baseline_sites", m->baseline_sites);
        handle__json_kuint(&j, "baseline_handles", m->baseline_handles);
    }
    handle__json_obj_end(&j);

    if (want_stats) {
        handle__json_key(&j, "stats");
        handle__json_arr(&j);
        for (size_t i = 0; i < m->nstats; i++) {
            const struct handle__rm_stat *s = &m->stats[i];
            handle__json_obj(&j);
            handle__json_kstr(&j, "tag", s->tag);
            handle__json_key(&j, "stack");
            j_stack(&j, s->frames.f, s->frames.n);
            handle__json_kuint(&j, "created", s->created);
            handle__json_kuint(&j, "deleted", s->deleted);
            handle__json_kuint(&j, "live", s->live);
            handle__json_kuint(&j, "peak_live", s->peak);
            handle__json_key(&j, "lifetime_ns");
            if (s->deleted) {
                handle__json_obj(&j);
                handle__json_kuint(&j, "p50", s->p50);
                handle__json_kuint(&j, "p99", s->p99);
                handle__json_kuint(&j, "max", s->max);
                handle__json_obj_end(&j);
            } else {
                handle__json_null(&j);
            }
            handle__json_kuint(&j, "processes", s->processes);
            handle__json_obj_end(&j);
        }
        handle__json_arr_end(&j);
    }
    handle__json_obj_end(&j);
    return done(&j, err, errlen);
}

/* ---- SARIF --------------------------------------------------------------- */

struct rule {
    const char *id, *name, *text, *help;
};

/* The rules: handle-leak, then the error kinds of SPEC section 4. The
 * help text is what a code scanning service shows beside an alert. */
static const struct rule rules[] = {
    {"handle-leak", "HandleLeak", "A handle was created and never deleted.",
     "A handle made by handle_new or handle_new_tagged was still live when the program "
     "ended (for a process that crashed or was killed: live at the last commit of its "
     "trace). A live handle keeps its value reachable and its slot in the handle table "
     "taken. The location is the first frame of the creation stack in your sources; the "
     "stack shows the whole path. Call handle_delete once the last user of the handle is "
     "done with it; a handle that is meant to live until exit can be suppressed with a "
     "leak:PATTERN line in a suppressions file (handle-report --suppressions, or "
     "HANDLE_OPTIONS=suppressions=FILE)."},
    {"invalid-handle", "InvalidHandle", "A handle that was never issued (or 0) was used.",
     "handle_value, handle_value_tagged or handle_delete was given a number that "
     "handle_new never returned in this process, or 0, which is never a valid handle: "
     "often an uninitialized variable, a handle from another process, or memory that was "
     "overwritten. The program was aborted at this call."},
    {"double-delete", "DoubleDelete", "A handle was deleted twice.",
     "handle_delete was called on a handle that had already been deleted. The stacks show "
     "where it was created and where it was deleted first. Give the handle one owner that "
     "deletes it, and clear the variable that held it after the delete. The program was "
     "aborted at this call."},
    {"use-after-delete", "UseAfterDelete", "A deleted handle was resolved to its value.",
     "handle_value or handle_value_tagged was called on a handle after handle_delete: the "
     "value it stood for may be freed already. The stacks show where it was created and "
     "where it was deleted. Delete a handle only after its last use (handle_lookup tests "
     "a handle without aborting). The program was aborted at this call."},
    {"tag-mismatch", "TagMismatch", "A handle was resolved with a tag other than its own.",
     "handle_value_tagged was called with a tag other than the one the handle was created "
     "with: the caller would have taken the value for another type. The stack of the "
     "creation shows which kind of value the handle stands for. The program was aborted "
     "at this call."},
    {"out-of-handles", "OutOfHandles", "No handle could be created: the table or memory is "
                                       "exhausted.",
     "handle_new could not create a handle: the handle table is full or memory ran out. "
     "This usually follows many leaked handles (see the handle-leak results) or a handle "
     "made in a loop and never deleted. The program was aborted at this call."},
};
#define NRULES (sizeof rules / sizeof rules[0])

static int rule_index(const char *kind)
{
    for (size_t i = 0; i < NRULES; i++)
        if (strcmp(rules[i].id, kind) == 0)
            return (int)i;
    return -1;
}

#define SRCROOT "%SRCROOT%"

/* Where results are placed: the source root (--source-root, default the
 * current directory) and, per file name of a frame, its path relative to
 * the root when it is under it. */
struct sarif_root {
    char *root;      /* absolute, lexically normalized, without a final '/' ("/": "") */
    char *real;      /* the root with symbolic links resolved; NULL if that failed */
    struct handle__rm_map *cache; /* a frame's file name -> index into rel */
    char **rel;      /* relative path, or NULL: not under the root */
    size_t nrel, caprel;
    bool oom;
};

/* Appends path (absolute) to b with "." and ".." segments and repeated
 * slashes resolved, without a final '/' ("/" itself: nothing). */
static void normalize_abs(struct handle__sb *b, const char *path)
{
    size_t start = b->len;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t n = (size_t)(e - p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* nothing */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (b->len > start && b->p[b->len - 1] != '/')
                b->len--;
            if (b->len > start)
                b->len--; /* the '/' */
            if (b->p)
                b->p[b->len] = '\0';
        } else {
            handle__sb_putc(b, '/');
            handle__sb_mem(b, p, n);
        }
        p = e;
    }
}

/* The part of path after root and a '/', or NULL when path is not a file
 * under root (root "" is "/"). */
static const char *after_root(const char *path, const char *root)
{
    size_t n = strlen(root);
    if (strncmp(path, root, n) != 0 || path[n] != '/' || path[n + 1] == '\0')
        return NULL;
    return path + n + 1;
}

static bool root_init(struct sarif_root *r, const char *dir, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    struct handle__sb b = {0};
    if (dir == NULL || dir[0] != '/') {
        char *cwd = getcwd(NULL, 0);
        if (cwd == NULL) {
            if (errno == ENOMEM)
                snprintf(err, errlen, "out of memory");
            else
                snprintf(err, errlen, "the current directory: %s", strerror(errno));
            return false;
        }
        handle__sb_puts(&b, cwd);
        free(cwd);
        handle__sb_putc(&b, '/');
    }
    if (dir)
        handle__sb_puts(&b, dir);
    struct handle__sb n = {0};
    normalize_abs(&n, handle__sb_str(&b));
    r->root = strdup(handle__sb_str(&n));
    errno = 0;
    r->real = realpath(handle__sb_str(&b), NULL);
    bool oom = b.oom || n.oom || (r->real == NULL && errno == ENOMEM);
    handle__sb_free(&b);
    handle__sb_free(&n);
    if (r->real && strcmp(r->real, "/") == 0)
        r->real[0] = '\0';
    r->cache = handle__rm_map_new();
    if (oom || r->root == NULL || r->cache == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    return true;
}

static void root_fini(struct sarif_root *r)
{
    for (size_t i = 0; i < r->nrel; i++)
        free(r->rel[i]);
    free(r->rel);
    free(r->root);
    free(r->real);
    if (r->cache)
        handle__rm_map_free(r->cache);
}

/* The relative path of a file name under the root, or NULL. An absolute
 * name is under the root as written or with symbolic links resolved; a
 * relative one (DWARF without its compilation directory) only when the
 * root has a regular file by that name. Names nothing on disk except
 * through stat() and realpath(). */
static const char *rel_path(struct sarif_root *r, const char *file)
{
    if (file == NULL || file[0] == '\0')
        return NULL;
    size_t v;
    bool added;
    if (!handle__grow(&r->rel, &r->caprel, r->nrel + 1, sizeof *r->rel) ||
        !handle__rm_map_get(r->cache, file, strlen(file), r->nrel, &v, &added)) {
        r->oom = true;
        return NULL;
    }
    if (!added)
        return r->rel[v];
    struct handle__sb n = {0};
    const char *rel = NULL;
    char *real = NULL;
    if (file[0] == '/') {
        normalize_abs(&n, file);
        const char *p = handle__sb_str(&n);
        rel = after_root(p, r->root);
        if (rel == NULL && r->real)
            rel = after_root(p, r->real);
        if (rel == NULL && r->real) {
            errno = 0;
            if ((real = realpath(file, NULL)) != NULL)
                rel = after_root(real, r->real);
            else if (errno == ENOMEM)
                r->oom = true; /* not a result placed elsewhere without a word */
        }
    } else {
        handle__sb_puts(&n, r->root);
        handle__sb_putc(&n, '/');
        handle__sb_puts(&n, file);
        struct handle__sb j = {0};
        normalize_abs(&j, handle__sb_str(&n));
        struct stat st;
        if (stat(handle__sb_str(&j), &st) == 0 && S_ISREG(st.st_mode))
            rel = after_root(handle__sb_str(&j), r->root);
        handle__sb_reset(&n);
        if (rel)
            handle__sb_puts(&n, rel);
        rel = rel ? handle__sb_str(&n) : NULL;
        if (j.oom)
            r->oom = true;
        handle__sb_free(&j);
    }
    if (n.oom)
        r->oom = true;
    char *copy = rel ? strdup(rel) : NULL;
    if (rel && copy == NULL)
        r->oom = true;
    free(real);
    handle__sb_free(&n);
    r->rel[r->nrel++] = copy;
    return copy;
}

/* A file name as a URI reference: file:// for an absolute path, a
 * relative reference otherwise; bytes outside RFC 3986's unreserved set
 * and '/' are percent-encoded. */
static void uri(struct handle__sb *b, const char *path)
{
    if (path[0] == '/')
        handle__sb_puts(b, "file://");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-._~", *p))
            handle__sb_putc(b, (char)*p);
        else
            handle__sb_printf(b, "%%%02X", *p);
    }
}

static void s_uri_value(struct handle__json *j, const char *path)
{
    struct handle__sb u = {0};
    uri(&u, path);
    if (u.oom) /* not a cut URI: the document fails */
        j->out->oom = true;
    handle__json_str(j, handle__sb_str(&u));
    handle__sb_free(&u);
}

/* "artifactLocation": relative to %SRCROOT% for a file under the root,
 * else the name as a URI (file:// when absolute). */
static void s_artifact(struct handle__json *j, struct sarif_root *r, const char *path)
{
    const char *rel = rel_path(r, path);
    handle__json_key(j, "artifactLocation");
    handle__json_obj(j);
    handle__json_key(j, "uri");
    s_uri_value(j, rel ? rel : path);
    if (rel)
        handle__json_kstr(j, "uriBaseId", SRCROOT);
    handle__json_obj_end(j);
}

static void s_logical(struct handle__json *j, const char *function)
{
    if (function == NULL)
        return;
    handle__json_key(j, "logicalLocations");
    handle__json_arr(j);
    handle__json_obj(j);
    handle__json_kstr(j, "name", function);
    handle__json_kstr(j, "kind", "function");
    handle__json_obj_end(j);
    handle__json_arr_end(j);
}

static bool has_file(const struct handle__sym_frame *f)
{
    return f->file && f->file[0];
}

/* A SARIF location for one frame of a stack: its source file (and line),
 * or its module and offset; and the function as a logical location. */
static void s_location(struct handle__json *j, struct sarif_root *r,
                       const struct handle__sym_frame *f)
{
    handle__json_obj(j);
    handle__json_key(j, "physicalLocation");
    handle__json_obj(j);
    if (has_file(f)) {
        s_artifact(j, r, f->file);
        if (f->line > 0) {
            handle__json_key(j, "region");
            handle__json_obj(j);
            handle__json_kint(j, "startLine", f->line);
            handle__json_obj_end(j);
        }
    } else {
        if (f->module && f->module[0])
            s_artifact(j, r, f->module);
        handle__json_key(j, "address");
        handle__json_obj(j);
        handle__json_kuint(j, "absoluteAddress", f->pc);
        if (f->module && f->module[0])
            handle__json_kuint(j, "relativeAddress", f->module_offset);
        handle__json_obj_end(j);
    }
    handle__json_obj_end(j);
    s_logical(j, f->function);
    handle__json_obj_end(j);
}

/* Where a result is placed (SPEC section 6): its first frame whose source
 * file is under the source root, else its first frame with a source file
 * that names one (an absolute path: a relative DWARF name without its
 * compilation directory, such as glibc's, names none), else the program. */
enum placed { AT_ROOT, AT_SOURCE, AT_PROGRAM };

static enum placed place(struct sarif_root *r, const struct handle__sym_frame *f, size_t n,
                         const char *program, size_t *at)
{
    for (size_t i = 0; i < n; i++)
        if (has_file(&f[i]) && rel_path(r, f[i].file)) {
            *at = i;
            return AT_ROOT;
        }
    for (size_t i = 0; i < n; i++)
        if (has_file(&f[i]) && f[i].file[0] == '/') {
            *at = i;
            return AT_SOURCE;
        }
    /* The program: at its first frame in the program, if any. */
    *at = 0;
    for (size_t i = 0; i < n; i++)
        if (f[i].module && strcmp(f[i].module, program) == 0) {
            *at = i;
            break;
        }
    return AT_PROGRAM;
}

/* The program's path for a result of trace t: its executable, else the
 * module of the first frame, else the trace itself. */
static const char *program_of(const struct handle__rm_trace *t, const struct handle__sym_frame *f,
                              size_t n)
{
    if (t && t->meta.exe && t->meta.exe[0])
        return t->meta.exe;
    if (n && f[0].module && f[0].module[0])
        return f[0].module;
    return t && t->path && t->path[0] ? t->path : "unknown-program";
}

/* "locations": the one location of a result, never absent. The
 * program's location carries the address of frame at when that is in the
 * program. */
static void s_locations(struct handle__json *j, struct sarif_root *r,
                        const struct handle__sym_frame *f, size_t n, const char *program,
                        enum placed how, size_t at)
{
    handle__json_key(j, "locations");
    handle__json_arr(j);
    if (how != AT_PROGRAM) {
        s_location(j, r, &f[at]);
    } else {
        handle__json_obj(j);
        handle__json_key(j, "physicalLocation");
        handle__json_obj(j);
        s_artifact(j, r, program);
        if (at < n && f[at].module && strcmp(f[at].module, program) == 0) {
            handle__json_key(j, "address");
            handle__json_obj(j);
            handle__json_kuint(j, "absoluteAddress", f[at].pc);
            handle__json_kuint(j, "relativeAddress", f[at].module_offset);
            handle__json_obj_end(j);
        }
        handle__json_obj_end(j);
        s_logical(j, at < n ? f[at].function : NULL);
        handle__json_obj_end(j);
    }
    handle__json_arr_end(j);
}

/* The place of a result in its message: "FILE:LINE in FUNCTION" (FILE
 * relative to the source root when under it), or for the program
 * "FUNCTION in MODULE+0xOFF". */
static void place_text(struct handle__sb *t, struct sarif_root *r,
                       const struct handle__sym_frame *f, size_t n, const char *program,
                       enum placed how, size_t at)
{
    if (how != AT_PROGRAM) {
        const char *rel = rel_path(r, f[at].file);
        handle__sb_puts(t, rel ? rel : f[at].file);
        if (f[at].line > 0)
            handle__sb_printf(t, ":%d", f[at].line);
        if (f[at].function)
            handle__sb_printf(t, " in %s", f[at].function);
        return;
    }
    if (n == 0) {
        handle__sb_printf(t, "an unknown place in %s (no stack recorded)", program);
        return;
    }
    if (f[at].function)
        handle__sb_printf(t, "%s in ", f[at].function);
    if (f[at].module && f[at].module[0])
        handle__sb_printf(t, "%s+0x%" PRIxPTR, f[at].module, f[at].module_offset);
    else
        handle__sb_printf(t, "0x%" PRIxPTR, f[at].pc);
}

static void s_stack(struct handle__json *j, struct sarif_root *r, const char *what,
                    const struct handle__sym_frame *f, size_t n)
{
    handle__json_obj(j);
    handle__json_key(j, "message");
    handle__json_obj(j);
    handle__json_kstr(j, "text", what);
    handle__json_obj_end(j);
    handle__json_key(j, "frames");
    handle__json_arr(j);
    for (size_t i = 0; i < n; i++) {
        handle__json_obj(j);
        handle__json_key(j, "location");
        s_location(j, r, &f[i]);
        if (f[i].module && f[i].module[0])
            handle__json_kstr(j, "module", f[i].module);
        handle__json_obj_end(j);
    }
    handle__json_arr_end(j);
    handle__json_obj_end(j);
}

static void s_message(struct handle__json *j, const char *text)
{
    handle__json_key(j, "message");
    handle__json_obj(j);
    handle__json_kstr(j, "text", text);
    handle__json_obj_end(j);
}

/* FNV-1a of k[0..n), as 16 hex digits. */
static void fnv_hex(char hex[24], const char *k, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 0x100000001b3ULL;
    }
    snprintf(hex, 24, "%016" PRIx64, h);
}

static void s_fingerprint(struct handle__json *j, const char *name, const char *hex)
{
    handle__json_key(j, "partialFingerprints");
    handle__json_obj(j);
    handle__json_kstr(j, name, hex);
    handle__json_obj_end(j);
}

/* Leak sites' fingerprints: the hash of the site's key (handle__rm_key:
 * the baseline's matching rule, so no address, line or stack id), and
 * for the second and later sites with one key (two calls in one
 * function) their ordinal, by where their frames are in the code, as
 * report_model.c tells them apart. */
struct fp_site {
    size_t site, off, len;
};

static int fp_cmp(const void *a, const void *b, void *ctx)
{
    const struct fp_site *x = a, *y = b;
    const void *const *c = ctx;
    const char *buf = c[0];
    const struct handle__leak_site *sites = c[1];
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    int d = memcmp(buf + x->off, buf + y->off, x->len);
    if (d != 0)
        return d;
    const struct handle__leak_site *sx = &sites[x->site], *sy = &sites[y->site];
    for (size_t i = 0; i < sx->nframes && i < sy->nframes; i++)
        if (sx->frames[i].module_offset != sy->frames[i].module_offset)
            return sx->frames[i].module_offset < sy->frames[i].module_offset ? -1 : 1;
    if (sx->nframes != sy->nframes)
        return sx->nframes < sy->nframes ? -1 : 1;
    return x->site < y->site ? -1 : x->site > y->site;
}

/* fps[i]: the fingerprint of site i (reported sites only). False when
 * out of memory. */
static bool leak_fingerprints(const struct handle__rm *m, char (*fps)[24])
{
    struct handle__sb kb = {0}, fb = {0};
    struct fp_site *k = malloc((m->nsites ? m->nsites : 1) * sizeof *k);
    size_t nk = 0;
    if (k == NULL)
        return false;
    for (size_t i = 0; i < m->nsites; i++) {
        const struct handle__leak_site *s = &m->sites[i];
        if (s->suppressed_by >= 0 || s->count == 0)
            continue;
        size_t off = kb.len;
        handle__rm_key(&kb, s->tag, s->frames, s->nframes);
        k[nk++] = (struct fp_site){i, off, kb.len - off};
    }
    bool ok = !kb.oom;
    if (ok) {
        const void *ctx[2] = {kb.p, m->sites};
        qsort_r(k, nk, sizeof *k, fp_cmp, (void *)ctx);
        unsigned ordinal = 0;
        for (size_t i = 0; i < nk; i++) {
            bool same = i > 0 && k[i].len == k[i - 1].len &&
                        memcmp(kb.p + k[i].off, kb.p + k[i - 1].off, k[i].len) == 0;
            ordinal = same ? ordinal + 1 : 0;
            handle__sb_reset(&fb);
            handle__sb_mem(&fb, kb.p + k[i].off, k[i].len);
            if (ordinal)
                handle__sb_printf(&fb, "\x1c%u", ordinal);
            if (fb.oom) /* reset clears it */
                ok = false;
            fnv_hex(fps[k[i].site], fb.p ? fb.p : "", fb.len);
        }
    }
    handle__sb_free(&kb);
    handle__sb_free(&fb);
    free(k);
    return ok;
}

/* An error's fingerprint: its kind and the key of its stack. */
static void error_fingerprint(char hex[24], const struct handle__rm_error *e, bool *oom)
{
    struct handle__sb k = {0};
    handle__sb_puts(&k, e->kind);
    handle__sb_putc(&k, '\x1c');
    handle__rm_key(&k, e->tag, e->stack.f, e->stack.n);
    if (k.oom)
        *oom = true;
    fnv_hex(hex, k.p ? k.p : "", k.len);
    handle__sb_free(&k);
}

static void s_rules(struct handle__json *j)
{
    handle__json_key(j, "rules");
    handle__json_arr(j);
    for (size_t i = 0; i < NRULES; i++) {
        handle__json_obj(j);
        handle__json_kstr(j, "id", rules[i].id);
        handle__json_kstr(j, "name", rules[i].name);
        handle__json_key(j, "shortDescription");
        handle__json_obj(j);
        handle__json_kstr(j, "text", rules[i].text);
        handle__json_obj_end(j);
        handle__json_key(j, "fullDescription");
        handle__json_obj(j);
        handle__json_kstr(j, "text", rules[i].help);
        handle__json_obj_end(j);
        handle__json_key(j, "help");
        handle__json_obj(j);
        handle__json_kstr(j, "text", rules[i].help);
        handle__json_obj_end(j);
        handle__json_key(j, "defaultConfiguration");
        handle__json_obj(j);
        handle__json_kstr(j, "level", "error");
        handle__json_obj_end(j);
        handle__json_key(j, "properties");
        handle__json_obj(j);
        handle__json_key(j, "tags");
        handle__json_arr(j);
        handle__json_str(j, "reliability");
        handle__json_str(j, "correctness");
        handle__json_arr_end(j);
        handle__json_obj_end(j);
        handle__json_obj_end(j);
    }
    handle__json_arr_end(j);
}

/* The trace a leak site is reported from: the only one, or the one its
 * example names. */
static const struct handle__rm_trace *site_trace(const struct handle__rm *m,
                                                 const struct handle__leak_site *s)
{
    if (m->ntraces == 0)
        return NULL;
    for (size_t i = 0; s->example && i < m->ntraces; i++)
        if (m->traces[i].path == s->example || strcmp(m->traces[i].path, s->example) == 0)
            return &m->traces[i];
    return &m->traces[0];
}

bool handle__rm_sarif(struct handle__sb *b, const struct handle__rm *m, const char *tool_version,
                      const char *source_root, char *err, size_t errlen)
{
    struct sarif_root r;
    if (!root_init(&r, source_root, err, errlen)) {
        root_fini(&r);
        return false;
    }
    char(*fps)[24] = calloc(m->nsites ? m->nsites : 1, sizeof *fps);
    if (fps == NULL || !leak_fingerprints(m, fps)) {
        free(fps);
        root_fini(&r);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    struct handle__json j;
    if (!handle__json_init(&j, b, 2)) {
        snprintf(err, errlen, "JSON writer: %s", j.errmsg);
        handle__json_fini(&j);
        free(fps);
        root_fini(&r);
        return false;
    }
    handle__json_obj(&j);
    handle__json_kstr(&j, "$schema", "https://json.schemastore.org/sarif-2.1.0.json");
    handle__json_kstr(&j, "version", "2.1.0");
    handle__json_key(&j, "runs");
    handle__json_arr(&j);
    handle__json_obj(&j);

    handle__json_key(&j, "tool");
    handle__json_obj(&j);
    handle__json_key(&j, "driver");
    handle__json_obj(&j);
    handle__json_kstr(&j, "name", "handle-report");
    handle__json_kstr(&j, "version", tool_version);
    s_rules(&j);
    handle__json_obj_end(&j);
    handle__json_obj_end(&j);

    /* %SRCROOT%: the root as an absolute file URI ending in '/'. */
    handle__json_key(&j, "originalUriBaseIds");
    handle__json_obj(&j);
    handle__json_key(&j, SRCROOT);
    handle__json_obj(&j);
    struct handle__sb t = {0};
    handle__sb_puts(&t, r.root);
    handle__sb_putc(&t, '/');
    handle__json_key(&j, "uri");
    s_uri_value(&j, handle__sb_str(&t));
    handle__json_obj_end(&j);
    handle__json_obj_end(&j);

    handle__json_key(&j, "invocations");
    handle__json_arr(&j);
    handle__json_obj(&j);
    handle__json_key(&j, "executionSuccessful");
    handle__json_bool(&j, true);
    handle__json_obj_end(&j);
    handle__json_arr_end(&j);

    handle__json_key(&j, "results");
    handle__json_arr(&j);
    for (size_t i = 0; i < m->nsites; i++) {
        const struct handle__leak_site *s = &m->sites[i];
        if (s->suppressed_by >= 0 || s->count == 0)
            continue;
        const char *program = program_of(site_trace(m, s), s->frames, s->nframes);
        size_t at;
        enum placed how = place(&r, s->frames, s->nframes, program, &at);
        handle__json_obj(&j);
        handle__json_kstr(&j, "ruleId", "handle-leak");
        handle__json_kint(&j, "ruleIndex", 0);
        handle__json_kstr(&j, "level", "error");
        handle__sb_reset(&t);
        handle__sb_printf(&t, "Leak of %" PRIu64 " handle(s)", s->count);
        if (s->tag)
            handle__sb_printf(&t, " tagged \"%s\"", s->tag);
        if (m->ntraces > 1)
            handle__sb_printf(&t, " in %u process(es)", s->processes);
        handle__sb_puts(&t, " created at ");
        place_text(&t, &r, s->frames, s->nframes, program, how, at);
        handle__sb_puts(&t, ", never deleted.");
        if (t.oom)
            b->oom = true;
        s_message(&j, handle__sb_str(&t));
        s_locations(&j, &r, s->frames, s->nframes, program, how, at);
        handle__json_key(&j, "stacks");
        handle__json_arr(&j);
        s_stack(&j, &r, "created from", s->frames, s->nframes);
        handle__json_arr_end(&j);
        s_fingerprint(&j, "handleSite/v1", fps[i]);
        handle__json_key(&j, "properties");
        handle__json_obj(&j);
        handle__json_kuint(&j, "count", s->count);
        handle__json_kstr(&j, "tag", s->tag);
        if (m->ntraces > 1)
            handle__json_kuint(&j, "processes", s->processes);
        handle__json_obj_end(&j);
        handle__json_obj_end(&j);
    }
    for (size_t i = 0; i < m->nerrors; i++) {
        const struct handle__rm_error *e = &m->errors[i];
        const struct handle__rm_trace *tr = &m->traces[e->trace];
        const char *program = program_of(tr, e->stack.f, e->stack.n);
        size_t at;
        enum placed how = place(&r, e->stack.f, e->stack.n, program, &at);
        handle__json_obj(&j);
        handle__json_kstr(&j, "ruleId", e->kind);
        int ri = rule_index(e->kind);
        if (ri >= 0)
            handle__json_kint(&j, "ruleIndex", ri);
        handle__json_kstr(&j, "level", "error");
        handle__sb_reset(&t);
        handle__sb_printf(&t, "%s on handle 0x%" PRIx64, e->kind, e->handle);
        if (e->thread >= 0)
            handle__sb_printf(&t, " in thread T%" PRId64, e->thread);
        if (e->tag)
            handle__sb_printf(&t, " (tag \"%s\")", e->tag);
        handle__sb_puts(&t, " at ");
        place_text(&t, &r, e->stack.f, e->stack.n, program, how, at);
        handle__sb_puts(&t, "; the program was aborted.");
        if (t.oom)
            b->oom = true;
        s_message(&j, handle__sb_str(&t));
        s_locations(&j, &r, e->stack.f, e->stack.n, program, how, at);
        handle__json_key(&j, "stacks");
        handle__json_arr(&j);
        s_stack(&j, &r, "the call", e->stack.f, e->stack.n);
        if (e->has_deleted)
            s_stack(&j, &r, "deleted from", e->deleted.f, e->deleted.n);
        if (e->has_created)
            s_stack(&j, &r, "created from", e->created.f, e->created.n);
        handle__json_arr_end(&j);
        char hex[24];
        bool oom = false;
        error_fingerprint(hex, e, &oom);
        if (oom)
            b->oom = true;
        s_fingerprint(&j, "handleError/v1", hex);
        handle__json_key(&j, "properties");
        handle__json_obj(&j);
        handle__json_key(&j, "handle");
        handle__json_hex(&j, e->handle);
        handle__json_kstr(&j, "trace", tr->path);
        handle__json_obj_end(&j);
        handle__json_obj_end(&j);
    }
    handle__sb_free(&t);
    handle__json_arr_end(&j);

    handle__json_obj_end(&j);
    handle__json_arr_end(&j);
    handle__json_obj_end(&j);
    if (r.oom)
        b->oom = true;
    free(fps);
    root_fini(&r);
    return done(&j, err, errlen);
}
