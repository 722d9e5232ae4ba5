/*
 * trace_fuzz.c - a libFuzzer target for handle-report's reading of traces:
 * each input is the bytes of a trace file (seed corpus: real traces made by
 * the debug build, tests/fuzz/corpus/trace). It is written to a private
 * file and read
 *
 *  1. through every call of lib/report/trace_read.c (meta, modules, leak
 *     groups, errors, every stack they name, every lifetime), touching
 *     every string and array returned, so ASan sees any bad pointer; and
 *  2. (FUZZ_REPORT_MODEL, when lib/report has handle-report's model) the
 *     way handle-report reads it: handle__rm_add_trace, handle__rm_finish
 *     and the text, JSON and SARIF renderings, with --stats. The JSON and
 *     SARIF outputs must be well-formed JSON in valid UTF-8 whatever the
 *     trace holds.
 *
 * A rejected trace must come with a one-line reason. Symbolization is
 * module+offset only (HANDLE__SYM_NO_DW): a trace's module paths are the
 * fuzzer's bytes, and opening them with libdw would make the target read
 * random files. tests/faults/hostile_traces.sh runs the same code
 * (trace_replay, with TRACE_REPLAY_DW=1 to let libdw open the paths) on
 * hand-made hostile traces.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/symbolize.h"
#include "report/text.h"
#include "report/trace_read.h"
#ifdef FUZZ_REPORT_MODEL
#include "report/report_model.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* For trace_replay (replay_main.c): read the trace at path. */
void trace_fuzz_file(const char *path);

#define FAIL(...)                                                                              \
    do {                                                                                       \
        fprintf(stderr, "trace_fuzz: " __VA_ARGS__);                                           \
        fputc('\n', stderr);                                                                   \
        __builtin_trap();                                                                      \
    } while (0)

static volatile size_t sink; /* keeps the reads of returned data */

static void touch_str(const char *s, const char *what)
{
    if (s == NULL)
        FAIL("%s is NULL", what);
    sink += strlen(s);
}

static void check_err(const char *err, const char *what)
{
    if (err[0] == '\0')
        FAIL("%s failed without a reason", what);
    if (strchr(err, '\n'))
        FAIL("%s: the reason is not one line: %s", what, err);
}

/* ---- a small JSON checker: syntax and UTF-8 -------------------------- */

struct js {
    const unsigned char *p, *e;
    int depth;
};

static void js_ws(struct js *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static bool js_value(struct js *j);

static bool js_string(struct js *j)
{
    if (j->p >= j->e || *j->p != '"')
        return false;
    j->p++;
    while (j->p < j->e && *j->p != '"') {
        unsigned c = *j->p;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            j->p++;
            if (j->p >= j->e)
                return false;
            if (*j->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (j->p + i >= j->e || !strchr("0123456789abcdefABCDEF", j->p[i]) || !j->p[i])
                        return false;
                j->p += 5;
                continue;
            }
            if (!strchr("\"\\/bfnrt", *j->p) || !*j->p)
                return false;
            j->p++;
            continue;
        }
        if (c < 0x80) {
            j->p++;
            continue;
        }
        /* UTF-8: a lead byte and its continuation bytes, no overlong forms,
         * no surrogates, nothing above U+10FFFF. */
        int n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : -1;
        if (n < 0 || c > 0xf4 || j->p + n >= j->e)
            return false;
        uint32_t cp = c & (0x3f >> n);
        for (int i = 1; i <= n; i++) {
            if ((j->p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (j->p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        j->p += n + 1;
    }
    if (j->p >= j->e)
        return false;
    j->p++;
    return true;
}

static bool js_number(struct js *j)
{
    const unsigned char *s = j->p;
    if (j->p < j->e && *j->p == '-')
        j->p++;
    if (j->p >= j->e || *j->p < '0' || *j->p > '9')
        return false;
    if (*j->p == '0')
        j->p++;
    else
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    if (j->p < j->e && *j->p == '.') {
        j->p++;
        if (j->p >= j->e || *j->p < '0' || *j->p > '9')
            return false;
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->e && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->e && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->e || *j->p < '0' || *j->p > '9')
            return false;
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    return j->p > s;
}

static bool js_lit(struct js *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->e - j->p) < n || memcmp(j->p, w, n) != 0)
        return false;
    j->p += n;
    return true;
}

static bool js_value(struct js *j)
{
    js_ws(j);
    if (j->p >= j->e || ++j->depth > 200)
        return false;
    bool ok;
    switch (*j->p) {
    case '{':
        j->p++;
        js_ws(j);
        if (j->p < j->e && *j->p == '}') {
            j->p++;
            ok = true;
            break;
        }
        for (;;) {
            js_ws(j);
            if (!js_string(j))
                return false;
            js_ws(j);
            if (j->p >= j->e || *j->p++ != ':' || !js_value(j))
                return false;
            js_ws(j);
            if (j->p < j->e && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->e && *j->p == '}') {
                j->p++;
                break;
            }
            return false;
        }
        ok = true;
        break;
    case '[':
        j->p++;
        js_ws(j);
        if (j->p < j->e && *j->p == ']') {
            j->p++;
            ok = true;
            break;
        }
        for (;;) {
            if (!js_value(j))
                return false;
            js_ws(j);
            if (j->p < j->e && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->e && *j->p == ']') {
                j->p++;
                break;
            }
            return false;
        }
        ok = true;
        break;
    case '"':
        ok = js_string(j);
        break;
    case 't':
        ok = js_lit(j, "true");
        break;
    case 'f':
        ok = js_lit(j, "false");
        break;
    case 'n':
        ok = js_lit(j, "null");
        break;
    default:
        ok = js_number(j);
        break;
    }
    j->depth--;
    return ok;
}

static void check_json(const char *text, size_t len, const char *what)
{
    struct js j = {(const unsigned char *)text, (const unsigned char *)text + len, 0};
    bool ok = js_value(&j);
    js_ws(&j);
    if (!ok || j.p != j.e) {
        size_t at = (size_t)((const char *)j.p - text);
        FAIL("%s output is not valid JSON at byte %zu of %zu: ...%.60s", what, at, len,
             text + (at > 30 ? at - 30 : 0));
    }
}

/* ---- 1. the reader's calls -------------------------------------------- */

struct life_ctx {
    uint64_t n, stop_at;
};

static bool on_life(void *ctx, const struct handle__tr_life *l)
{
    struct life_ctx *c = ctx;
    sink += l->stack + l->tag + (uint64_t)l->created_ns + (l->deleted ? (uint64_t)l->deleted_ns : 0);
    return ++c->n != c->stop_at;
}

/* Whether the trace opened (handle-report's model reads it only then). */
static bool read_raw(const char *path, uint64_t stop_at)
{
    char err[512] = "";
    struct handle__tr *t = handle__tr_open(path, err, sizeof err);
    if (!t) {
        check_err(err, "open");
        return false;
    }
    const struct handle__tr_meta *m = handle__tr_meta(t);
    touch_str(m->exe, "meta exe");
    touch_str(m->cmdline, "meta cmdline");

    const struct handle__tr_module *mods;
    size_t nmods;
    err[0] = '\0';
    if (handle__tr_modules(t, &mods, &nmods, err, sizeof err)) {
        for (size_t i = 0; i < nmods; i++) {
            if (mods[i].id == 0)
                FAIL("module id 0 returned");
            touch_str(mods[i].path, "module path");
            touch_str(mods[i].build_id, "module build_id");
        }
    } else {
        check_err(err, "modules");
    }

    uint32_t ids[4096];
    size_t nids = 0;
    const struct handle__tr_group *g;
    size_t ng;
    err[0] = '\0';
    if (handle__tr_leak_groups(t, &g, &ng, err, sizeof err)) {
        for (size_t i = 0; i < ng; i++) {
            const char *tag = handle__tr_tag(t, g[i].tag);
            if (tag)
                sink += strlen(tag);
            if (nids < 4096)
                ids[nids++] = g[i].stack;
        }
    } else {
        check_err(err, "leak groups");
    }

    const struct handle__tr_error *e;
    size_t ne;
    err[0] = '\0';
    if (handle__tr_errors(t, &e, &ne, err, sizeof err)) {
        for (size_t i = 0; i < ne; i++) {
            touch_str(e[i].kind, "error kind");
            touch_str(e[i].message, "error message");
            if (e[i].tag)
                sink += strlen(e[i].tag);
            if (nids + 3 <= 4096) {
                ids[nids++] = e[i].stack;
                ids[nids++] = e[i].created_stack;
                ids[nids++] = e[i].deleted_stack;
            }
        }
    } else {
        check_err(err, "errors");
    }

    err[0] = '\0';
    if (handle__tr_load_stacks(t, ids, nids, err, sizeof err)) {
        for (size_t i = 0; i < nids; i++) {
            struct handle__tr_stack st;
            if (!handle__tr_stack(t, ids[i], &st))
                continue;
            for (uint32_t d = 0; d < st.depth; d++)
                sink += st.pcs[d] + st.modules[d];
        }
    } else {
        check_err(err, "load stacks");
    }

    struct life_ctx lc = {0, stop_at};
    err[0] = '\0';
    if (!handle__tr_lifetimes(t, on_life, &lc, err, sizeof err) && lc.n != stop_at)
        check_err(err, "lifetimes");
    handle__tr_close(t);
    return true;
}

/* ---- 2. handle-report's model and renderings ------------------------- */

#ifdef FUZZ_REPORT_MODEL
static void read_model(const char *path, bool dw)
{
    struct handle__symbolizer *sym =
        handle__sym_new_ex(HANDLE__SYM_NO_DEBUGINFOD | (dw ? 0 : HANDLE__SYM_NO_DW));
    if (!sym)
        return;
    struct handle__rm *m = handle__rm_new(sym, NULL, true);
    if (!m) {
        handle__sym_free(sym);
        return;
    }
    char err[512] = "";
    if (!handle__rm_add_trace(m, path, err, sizeof err)) {
        check_err(err, "report model");
    } else {
        handle__rm_finish(m);
        uint64_t sites;
        sink += handle__rm_leaked(m, &sites) + sites;
        struct handle__sb b = {0};
        handle__rm_text(&b, m, true);
        sink += b.len;
        handle__sb_reset(&b);
        err[0] = '\0';
        if (handle__rm_json(&b, m, true, err, sizeof err))
            check_json(b.p ? b.p : "", b.len, "json");
        else
            check_err(err, "json");
        handle__sb_reset(&b);
        err[0] = '\0';
        if (handle__rm_sarif(&b, m, "fuzz", NULL, err, sizeof err))
            check_json(b.p ? b.p : "", b.len, "sarif");
        else
            check_err(err, "sarif");
        handle__sb_free(&b);
    }
    handle__rm_free(m);
    handle__sym_free(sym);
}
#endif

void trace_fuzz_file(const char *path)
{
    bool opened = read_raw(path, 0);
#ifdef FUZZ_REPORT_MODEL
    read_model(path, getenv("TRACE_REPLAY_DW") != NULL);
#endif
    (void)opened;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/trace_fuzz.%ld.db", dir, (long)getpid());
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    /* The last byte picks where the lifetime walk stops (0: never). */
    bool opened = read_raw(path, size ? data[size - 1] % 8 : 0);
#ifdef FUZZ_REPORT_MODEL
    /* A trace the reader refuses is refused by the model too (it opens it
     * with handle__tr_open): not read twice, for speed. */
    if (opened)
        read_model(path, false);
#endif
    (void)opened;
    unlink(path);
    return 0;
}
