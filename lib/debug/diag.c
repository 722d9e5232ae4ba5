/*
 * diag.c - the debug build's reports: the full misuse diagnostic (SPEC
 * section 4: current stack, and for a deleted handle where it was deleted
 * and created, with threads), recorded in the trace before abort(); and
 * the exit leak report, built from the side table and printed with the
 * shared code of lib/report (symbolizer, suppressions, grouping, text).
 *
 * Both run rarely and at the end of the process, so they may allocate;
 * they symbolize only here, never on the hot path. libdw is loaded with
 * dlopen(RTLD_LOCAL) by lib/report/dw.c.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/coverage.h"
#include "../report/leaks.h"
#include "../report/suppress.h"
#include "../report/symbolize.h"
#include "../report/text.h"
#include "runtime.h"
#include "trace.h"

/* A symbolizer that knows every module seen so far. */
static struct handle__symbolizer *symbolizer(void)
{
    handle__modules_refresh();
    struct handle__symbolizer *s = handle__sym_new_ex(HANDLE__SYM_NO_DEBUGINFOD);
    if (s == NULL)
        return NULL;
    uint32_t n = handle__module_count();
    for (uint32_t id = 1; id <= n; id++) {
        const struct handle__module *m = handle__module_get(id);
        if (m)
            handle__sym_add_module(s, id, m->path, m->build_id, m->bias, m->lo, m->hi);
    }
    return s;
}

/* Appends the symbolized stack `id` (or "<no stack>"). */
static void stack_text(struct handle__sb *b, struct handle__symbolizer *sym, uint32_t id,
                       struct handle__sym_frame *first, bool *have_first)
{
    struct handle__stack st;
    if (!handle__depot_get(id, &st) || st.depth == 0) {
        handle__sb_printf(b, "    <empty stack>\n");
        return;
    }
    unsigned num = 0;
    for (uint32_t d = 0; d < st.depth; d++) {
        struct handle__sym_frame f[16];
        size_t k = 0;
        if (sym)
            k = handle__sym_pc(sym, st.modules[d], st.pcs[d], f, 16);
        if (k == 0) {
            handle__sb_printf(b, "    #%u 0x%lx\n", num++, (unsigned long)st.pcs[d]);
            continue;
        }
        handle__sb_frames(b, f, k, &num);
        if (first && !*have_first) {
            for (size_t i = 0; i < k; i++)
                if (f[i].file && f[i].line > 0) {
                    *first = f[i];
                    *have_first = true;
                    break;
                }
            if (!*have_first && d == 0)
                *first = f[k - 1];
        }
    }
}

static const char *thread_label(uint32_t t, char *buf, size_t len)
{
    snprintf(buf, len, "T%u", t);
    return buf;
}

void handle__diag_panic(int kind, handle_t h, const char *want_tag, const uintptr_t *pcs,
                        uint32_t depth)
{
    struct handle__tls *t = handle__tls_get();
    t->busy = 1;
    uint32_t stack = handle__depot_put(pcs, depth);
    uint32_t thread = handle__thread_self();
    uint64_t now = handle__now_ns();
    long pid = (long)getpid();

    struct handle__side side = {0};
    bool known = false;
    if ((uint32_t)h != 0) {
        struct handle__side *s = handle__side_get((uint32_t)h, false);
        if (s && atomic_load_explicit(&s->h, memory_order_acquire) == h) {
            side = *s;
            known = true;
        }
    }
    const char *tag = known ? handle__tag_get(side.tag) : NULL;

    struct handle__symbolizer *sym = symbolizer();
    struct handle__sb b = {0};
    char tb[32], tb2[32];
    struct handle__sym_frame first = {0};
    bool have_first = false;
    handle__sb_printf(&b, "=================================================================\n");
    handle__sb_printf(&b, "==%ld==ERROR: HandleSanitizer: %s on handle 0x%lx in thread %s\n", pid,
                      handle__kind_name(kind), (unsigned long)h, thread_label(thread, tb, sizeof tb));
    stack_text(&b, sym, stack, &first, &have_first);

    char tagtext[300] = "";
    if (tag)
        snprintf(tagtext, sizeof tagtext, " (tag \"%s\")", tag);
    switch (kind) {
    case HANDLE__INVALID_HANDLE:
        if (h == 0)
            handle__sb_printf(&b, "\n0 is never a valid handle.\n");
        else
            handle__sb_printf(&b, "\nhandle 0x%lx was never issued by this process.\n",
                              (unsigned long)h);
        break;
    case HANDLE__DOUBLE_DELETE:
    case HANDLE__USE_AFTER_DELETE:
        if (known && side.deleted_ns) {
            handle__sb_printf(&b, "\nhandle 0x%lx%s was deleted by thread %s here:\n",
                              (unsigned long)h, tagtext,
                              thread_label(side.deleted_thread, tb, sizeof tb));
            stack_text(&b, sym, side.deleted_stack, NULL, NULL);
            handle__sb_printf(&b, "\npreviously created by thread %s here:\n",
                              thread_label(side.created_thread, tb2, sizeof tb2));
            stack_text(&b, sym, side.created_stack, NULL, NULL);
        } else {
            handle__sb_printf(&b,
                              "\nhandle 0x%lx was deleted, and its slot has been reused since, so "
                              "its history is gone (raise HANDLE_OPTIONS=quarantine=N, now "
                              "%llu).\n",
                              (unsigned long)h, (unsigned long long)handle__opt.quarantine);
        }
        break;
    case HANDLE__TAG_MISMATCH:
        handle__sb_printf(&b, "\nhandle 0x%lx has tag %s%s%s but was resolved with tag %s%s%s; ",
                          (unsigned long)h, tag ? "\"" : "", tag ? tag : "(none)", tag ? "\"" : "",
                          want_tag ? "\"" : "", want_tag ? want_tag : "(none)",
                          want_tag ? "\"" : "");
        if (known) {
            handle__sb_printf(&b, "it was created by thread %s here:\n",
                              thread_label(side.created_thread, tb, sizeof tb));
            stack_text(&b, sym, side.created_stack, NULL, NULL);
        } else {
            handle__sb_printf(&b, "its creation is unknown.\n");
        }
        break;
    default:
        handle__sb_printf(&b, "\nno handle could be created: the table or memory is exhausted "
                              "(%zu handles live).\n",
                          handle__core_live_count());
        break;
    }
    if (handle__sym_faulted(sym))
        handle__sb_printf(&b, "\nNote: %s.\n", handle__sym_error(sym));
    handle__sb_printf(&b, "\nSUMMARY: HandleSanitizer: %s ", handle__kind_name(kind));
    if (have_first && first.file && first.line > 0)
        handle__sb_printf(&b, "%s:%d in %s\n", first.file, first.line,
                          first.function ? first.function : "??");
    else if (have_first)
        handle__sb_printf(&b, "(%s+0x%lx)\n", first.module, (unsigned long)first.module_offset);
    else
        handle__sb_printf(&b, "on handle 0x%lx\n", (unsigned long)h);

    if (b.p)
        handle__rt_write(b.p, b.len);
    else
        handle__rt_write("==HandleSanitizer: out of memory while reporting\n", 49);

    if (handle__trace_is_open()) {
        struct handle__trace_error e = {
            .kind = handle__kind_name(kind),
            .handle = h,
            .at_ns = now,
            .thread = thread,
            .stack = stack,
            .message = b.p ? b.p : "",
            .tag = known ? side.tag : 0,
            .created_thread = known ? side.created_thread : 0,
            .created_stack = known ? side.created_stack : 0,
            .deleted_thread = known && side.deleted_ns ? side.deleted_thread : 0,
            .deleted_stack = known && side.deleted_ns ? side.deleted_stack : 0,
        };
        handle__trace_error(&e);
    }
    char tail[64];
    int n = snprintf(tail, sizeof tail, "==%ld==ABORTING\n", pid);
    handle__rt_write(tail, (size_t)n);
    signal(SIGABRT, SIG_DFL);
    HANDLE__COVERAGE_DUMP();
    abort();
}

/* ---- exit leak report ------------------------------------------------ */

struct group {
    uint32_t stack, tag;
    uint64_t count, first_ns;
};

uint64_t handle__leak_report(const struct handle__leak *v, size_t nv, uint64_t *nsites)
{
    size_t cap = 1024, n = 0;
    struct group *g = calloc(cap, sizeof *g);
    size_t hcap = 4096;
    uint32_t *hash = calloc(hcap, sizeof *hash); /* index+1 into g */
    if (g == NULL || hash == NULL)
        goto oom;
    for (size_t i = 0; i < nv; i++) {
        const struct handle__leak *s = &v[i];
        uint32_t key = s->created_stack * 2654435761u ^ s->tag * 40503u;
        size_t pos = key & (hcap - 1);
        while (hash[pos] && !(g[hash[pos] - 1].stack == s->created_stack &&
                              g[hash[pos] - 1].tag == s->tag))
            pos = (pos + 1) & (hcap - 1);
        if (hash[pos]) {
            struct group *x = &g[hash[pos] - 1];
            x->count++;
            if (s->created_ns < x->first_ns)
                x->first_ns = s->created_ns;
            continue;
        }
        if (n == cap) {
            struct group *ng = realloc(g, 2 * cap * sizeof *g);
            if (ng == NULL)
                goto oom;
            g = ng;
            cap *= 2;
        }
        g[n] = (struct group){s->created_stack, s->tag, 1, s->created_ns};
        hash[pos] = (uint32_t)++n;
        if (n * 2 > hcap) { /* rehash */
            size_t ncap = hcap * 2;
            uint32_t *nh = calloc(ncap, sizeof *nh);
            if (nh == NULL)
                goto oom;
            for (size_t k = 0; k < n; k++) {
                uint32_t kk = g[k].stack * 2654435761u ^ g[k].tag * 40503u;
                size_t p = kk & (ncap - 1);
                while (nh[p])
                    p = (p + 1) & (ncap - 1);
                nh[p] = (uint32_t)(k + 1);
            }
            free(hash);
            hash = nh;
            hcap = ncap;
        }
    }
    free(hash);
    hash = NULL;
    if (n == 0) {
        free(g);
        *nsites = 0;
        return 0;
    }

    struct handle__leak_site *sites = calloc(n, sizeof *sites);
    if (sites == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        struct handle__stack st = {0};
        handle__depot_get(g[i].stack, &st);
        sites[i].count = g[i].count;
        sites[i].tag = handle__tag_get(g[i].tag);
        sites[i].first_ns = g[i].first_ns;
        sites[i].order = i;
        sites[i].depth = st.depth;
        sites[i].pcs = st.pcs;
        sites[i].modules = st.modules;
    }
    struct handle__supp *supp = NULL;
    if (handle__opt.suppressions[0]) {
        char err[512];
        supp = handle__supp_load(handle__opt.suppressions, err, sizeof err);
        if (supp == NULL) {
            char msg[700];
            snprintf(msg, sizeof msg, "suppressions: %s", err);
            handle__rt_warn(msg);
        }
    }
    struct handle__symbolizer *sym = symbolizer();
    handle__leaks_resolve(sym, supp, sites, n);
    uint64_t total = handle__leaks_total(sites, n, nsites);
    if (total) {
        struct handle__sb b = {0};
        handle__leaks_text(&b, (long)getpid(), sites, n, (uint64_t)handle__opt.max_leaks, supp);
        if (handle__sym_faulted(sym))
            handle__sb_printf(&b, "Note: %s.\n", handle__sym_error(sym));
        const char *tp = handle__trace_path();
        if (tp[0])
            handle__sb_printf(&b, "Trace: %s (read it with: handle-report %s)\n", tp, tp);
        if (b.p)
            handle__rt_write(b.p, b.len);
        handle__sb_free(&b);
    }
    handle__leaks_release(sites, n);
    free(sites);
    free(g);
    if (sym)
        handle__sym_free(sym);
    if (supp)
        handle__supp_free(supp);
    return total;
oom:
    free(g);
    free(hash);
    handle__rt_warn("out of memory in the leak check: the leaked handles are not listed");
    *nsites = 0;
    return nv;
}
