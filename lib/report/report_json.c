/*
 * report_json.c - handle-report's machine-readable outputs, both written
 * with the JSON writer of json_out.h (never with printf):
 *
 *  - --format json: SPEC section 6's document, {"trace", "leaks",
 *    "errors", "summary"} (and "stats" with --stats). Several traces add
 *    "processes" and "example" to each leak and "trace" to each error, and
 *    "trace" lists every trace;
 *  - --format sarif: a SARIF 2.1.0 log with one result per leak site (rule
 *    handle-leak) located at its first frame with a source line, and one
 *    per recorded error (rule = its kind), each with its stack as a SARIF
 *    stack and a partial fingerprint made from the site key, so that code
 *    scanning services track a site across runs.
 * Formatting only; the model is built by report_model.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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
    handle__json_key(j, "pid");
    if (mt->has_pid)
        handle__json_int(j, mt->pid);
    else
        handle__json_null(j);
    handle__json_key(j, "started_at");
    if (mt->has_started)
        handle__json_int(j, mt->started_at);
    else
        handle__json_null(j);
    handle__json_key(j, "ended_at");
    if (mt->has_ended)
        handle__json_int(j, mt->ended_at);
    else
        handle__json_null(j);
    handle__json_key(j, "exit_status");
    if (mt->has_ended && mt->has_exit)
        handle__json_int(j, mt->exit_status);
    else
        handle__json_null(j);
    handle__json_key(j, "clean_exit");
    handle__json_bool(j, mt->has_ended);
    handle__json_kuint(j, "leaked_handles", t->leaked);
    handle__json_kuint(j, "errors", t->errors);
    /* still running: its handles live at the last commit, not leaks */
    handle__json_key(j, "running");
    handle__json_bool(j, t->running);
    handle__json_kuint(j, "live_handles", t->live);
    handle__json_key(j, "last_commit_ns");
    if (mt->has_last_commit)
        handle__json_int(j, mt->last_commit_ns);
    else
        handle__json_null(j);
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
    const char *id, *name, *text;
};

/* The rules: handle-leak, then the error kinds of SPEC section 4. */
static const struct rule rules[] = {
    {"handle-leak", "HandleLeak", "A handle was created and never deleted."},
    {"invalid-handle", "InvalidHandle", "A handle that was never issued (or 0) was used."},
    {"double-delete", "DoubleDelete", "A handle was deleted twice."},
    {"use-after-delete", "UseAfterDelete", "A deleted handle was resolved to its value."},
    {"tag-mismatch", "TagMismatch", "A handle was resolved with a tag other than its own."},
    {"out-of-handles", "OutOfHandles", "No handle could be created: the table or memory is "
                                       "exhausted."},
};
#define NRULES (sizeof rules / sizeof rules[0])

static int rule_index(const char *kind)
{
    for (size_t i = 0; i < NRULES; i++)
        if (strcmp(rules[i].id, kind) == 0)
            return (int)i;
    return -1;
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

static void s_uri(struct handle__json *j, const char *path)
{
    struct handle__sb u = {0};
    uri(&u, path);
    if (u.oom) /* not a cut URI: the document fails */
        j->out->oom = true;
    handle__json_kstr(j, "uri", handle__sb_str(&u));
    handle__sb_free(&u);
}

/* A SARIF location for one frame: its source line, or its module and
 * offset; and the function as a logical location. */
static void s_location(struct handle__json *j, const struct handle__sym_frame *f)
{
    handle__json_obj(j);
    handle__json_key(j, "physicalLocation");
    handle__json_obj(j);
    if (f->file && f->file[0] && f->line > 0) {
        handle__json_key(j, "artifactLocation");
        handle__json_obj(j);
        s_uri(j, f->file);
        handle__json_obj_end(j);
        handle__json_key(j, "region");
        handle__json_obj(j);
        handle__json_kint(j, "startLine", f->line);
        handle__json_obj_end(j);
    } else {
        if (f->module && f->module[0]) {
            handle__json_key(j, "artifactLocation");
            handle__json_obj(j);
            s_uri(j, f->module);
            handle__json_obj_end(j);
        }
        handle__json_key(j, "address");
        handle__json_obj(j);
        handle__json_kuint(j, "absoluteAddress", f->pc);
        if (f->module && f->module[0])
            handle__json_kuint(j, "relativeAddress", f->module_offset);
        handle__json_obj_end(j);
    }
    handle__json_obj_end(j);
    if (f->function) {
        handle__json_key(j, "logicalLocations");
        handle__json_arr(j);
        handle__json_obj(j);
        handle__json_kstr(j, "name", f->function);
        handle__json_kstr(j, "kind", "function");
        handle__json_obj_end(j);
        handle__json_arr_end(j);
    }
    handle__json_obj_end(j);
}

/* "locations": the first frame with a source line, else frame #0. */
static void s_locations(struct handle__json *j, const struct handle__sym_frame *f, size_t n)
{
    if (n == 0)
        return;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        if (f[i].file && f[i].file[0] && f[i].line > 0) {
            at = i;
            break;
        }
    handle__json_key(j, "locations");
    handle__json_arr(j);
    s_location(j, &f[at]);
    handle__json_arr_end(j);
}

static void s_stack(struct handle__json *j, const char *what, const struct handle__sym_frame *f,
                    size_t n)
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
        s_location(j, &f[i]);
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

/* The fingerprint of a site: FNV-1a of its key, as 16 hex digits. */
static void s_fingerprint(struct handle__json *j, const char *tag,
                          const struct handle__sym_frame *f, size_t n)
{
    struct handle__sb k = {0};
    handle__rm_key(&k, tag, f, n);
    if (k.oom)
        j->out->oom = true;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < k.len; i++) {
        h ^= (unsigned char)k.p[i];
        h *= 0x100000001b3ULL;
    }
    handle__sb_free(&k);
    char hex[24];
    snprintf(hex, sizeof hex, "%016" PRIx64, h);
    handle__json_key(j, "partialFingerprints");
    handle__json_obj(j);
    handle__json_kstr(j, "handleSite/v1", hex);
    handle__json_obj_end(j);
}

bool handle__rm_sarif(struct handle__sb *b, const struct handle__rm *m, const char *tool_version,
                      char *err, size_t errlen)
{
    struct handle__json j;
    if (!handle__json_init(&j, b, 2)) {
        snprintf(err, errlen, "JSON writer: %s", j.errmsg);
        handle__json_fini(&j);
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
    handle__json_key(&j, "rules");
    handle__json_arr(&j);
    for (size_t i = 0; i < NRULES; i++) {
        handle__json_obj(&j);
        handle__json_kstr(&j, "id", rules[i].id);
        handle__json_kstr(&j, "name", rules[i].name);
        handle__json_key(&j, "shortDescription");
        handle__json_obj(&j);
        handle__json_kstr(&j, "text", rules[i].text);
        handle__json_obj_end(&j);
        handle__json_key(&j, "defaultConfiguration");
        handle__json_obj(&j);
        handle__json_kstr(&j, "level", "error");
        handle__json_obj_end(&j);
        handle__json_obj_end(&j);
    }
    handle__json_arr_end(&j);
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
    struct handle__sb t = {0};
    for (size_t i = 0; i < m->nsites; i++) {
        const struct handle__leak_site *s = &m->sites[i];
        if (s->suppressed_by >= 0 || s->count == 0)
            continue;
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
        handle__sb_location(&t, s->frames, s->nframes);
        handle__sb_puts(&t, ", never deleted.");
        if (t.oom)
            b->oom = true;
        s_message(&j, handle__sb_str(&t));
        s_locations(&j, s->frames, s->nframes);
        handle__json_key(&j, "stacks");
        handle__json_arr(&j);
        s_stack(&j, "created from", s->frames, s->nframes);
        handle__json_arr_end(&j);
        s_fingerprint(&j, s->tag, s->frames, s->nframes);
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
        handle__sb_location(&t, e->stack.f, e->stack.n);
        handle__sb_putc(&t, '.');
        if (t.oom)
            b->oom = true;
        s_message(&j, handle__sb_str(&t));
        s_locations(&j, e->stack.f, e->stack.n);
        handle__json_key(&j, "stacks");
        handle__json_arr(&j);
        s_stack(&j, "the call", e->stack.f, e->stack.n);
        if (e->has_deleted)
            s_stack(&j, "deleted from", e->deleted.f, e->deleted.n);
        if (e->has_created)
            s_stack(&j, "created from", e->created.f, e->created.n);
        handle__json_arr_end(&j);
        handle__json_key(&j, "properties");
        handle__json_obj(&j);
        handle__json_key(&j, "handle");
        handle__json_hex(&j, e->handle);
        handle__json_kstr(&j, "trace", m->traces[e->trace].path);
        handle__json_obj_end(&j);
        handle__json_obj_end(&j);
    }
    handle__sb_free(&t);
    handle__json_arr_end(&j);

    handle__json_obj_end(&j);
    handle__json_arr_end(&j);
    handle__json_obj_end(&j);
    return done(&j, err, errlen);
}
