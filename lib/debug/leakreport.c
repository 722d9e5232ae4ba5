/*
 * leakreport.c - the exit leak report (SPEC section 4) of the set of live
 * handles the exit check saw: grouped into sites by creation stack and
 * tag, then suppressed, symbolized, ordered and printed by the shared code
 * of lib/report (leaks.c), the same code handle-report uses.
 *
 * The heavy part runs on a private large stack (bigstack.c): the exit may
 * happen on a thread with a small stack, or with `ulimit -s 128`, and
 * libdw needs far more. Without that stack (no memory) the sites are
 * printed with module+offset frames (a symbolizer that never loads libdw)
 * and a Note saying why. Runs once, at exit: it may allocate.
 *
 * The suppressions file is read once, at start-up (SPEC section 3, as
 * LSan reads its own at init): a file that cannot be used ends the process
 * there, and the exit report applies what was read then, whatever became
 * of the file since.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/coverage.h"
#include "../report/leaks.h"
#include "../report/suppress.h"
#include "../report/symbolize.h"
#include "../report/text.h"
#include "bigstack.h"
#include "finding.h"
#include "runtime.h"
#include "trace.h"

/* The suppressions read at start-up (NULL: none); a fork child keeps the
 * parent's. */
static struct handle__supp *suppressions;

void handle__leak_suppressions_init(void)
{
    if (handle__opt.suppressions[0] == '\0')
        return;
    char err[1024];
    struct handle__supp *s = handle__supp_load(handle__opt.suppressions, err, sizeof err);
    if (s) {
        /* Start-up begun again (a fork child that found it cut short in
         * the parent): the new copy replaces the old. */
        if (suppressions)
            handle__supp_free(suppressions);
        suppressions = s;
        return;
    }
    char msg[1200];
    int len = snprintf(msg, sizeof msg, "==%ld==ERROR: HandleSanitizer: suppressions: %s\n",
                       (long)getpid(), err);
    fflush(NULL);
    handle__rt_write(msg, len > 0 && (size_t)len < sizeof msg ? (size_t)len : strlen(msg));
    HANDLE__COVERAGE_DUMP();
    _exit(1);
}

const char *handle__leak_suppressions_text(void)
{
    return suppressions ? handle__supp_text(suppressions) : NULL;
}

struct group {
    uint32_t stack, tag;
    uint64_t count, first_ns;
};

static uint32_t group_hash(uint32_t stack, uint32_t tag)
{
    return stack * 2654435761u ^ tag * 40503u;
}

/* Groups v[0..n) by (created_stack, tag) into *out; the number of groups,
 * or SIZE_MAX when out of memory. */
static size_t group(const struct handle__leak *v, size_t n, struct group **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    size_t hcap = 64;
    while (hcap < 2 * n)
        hcap *= 2;
    struct group *g = calloc(n, sizeof *g);
    uint32_t *hash = calloc(hcap, sizeof *hash); /* index + 1 into g */
    if (g == NULL || hash == NULL) {
        free(g);
        free(hash);
        return SIZE_MAX;
    }
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        const struct handle__leak *l = &v[i];
        size_t pos = group_hash(l->created_stack, l->tag) & (hcap - 1);
        while (hash[pos] && !(g[hash[pos] - 1].stack == l->created_stack &&
                              g[hash[pos] - 1].tag == l->tag))
            pos = (pos + 1) & (hcap - 1);
        if (hash[pos]) {
            struct group *x = &g[hash[pos] - 1];
            x->count++;
            if (l->created_ns < x->first_ns)
                x->first_ns = l->created_ns;
            continue;
        }
        g[ng] = (struct group){l->created_stack, l->tag, 1, l->created_ns};
        hash[pos] = (uint32_t)++ng;
    }
    free(hash);
    *out = g;
    return ng;
}

void handle__symbols_record(struct handle__symbolizer *sym, const uintptr_t *pcs,
                            const uint32_t *modules, uint32_t depth)
{
    if (sym == NULL || modules == NULL || !handle__trace_is_open())
        return;
    for (uint32_t d = 0; d < depth; d++) {
        const struct handle__module *m = handle__module_get(modules[d]);
        if (m == NULL)
            continue;
        struct handle__sym_frame f[HANDLE__SYM_MAX_INLINE];
        struct handle__trace_symbol row[HANDLE__SYM_MAX_INLINE];
        size_t k = handle__sym_pc(sym, modules[d], pcs[d], f, HANDLE__SYM_MAX_INLINE);
        if (k == 1 && f[0].function == NULL && f[0].file == NULL)
            continue; /* nothing known: the trace's module row says as much */
        for (size_t i = 0; i < k; i++)
            row[i] = (struct handle__trace_symbol){
                .module = modules[d],
                .idx = (uint32_t)i,
                .offset = pcs[d] - m->bias,
                .function = f[i].function,
                .file = f[i].file,
                .line = f[i].line,
                .column = f[i].column,
                .inlined = f[i].inlined,
            };
        handle__trace_symbols(row, k);
    }
}

struct report {
    struct handle__leak_site *sites;
    size_t n;
    bool print;       /* false: only the trace's symbols (detect_leaks=0) */
    const char *no_stack; /* why not symbolized: no private stack */
    uint64_t total, nsites;
};

static void report_body(void *arg)
{
    struct report *r = arg;
    struct handle__supp *supp = suppressions;
    /* print_suppressions=0, or nothing printed: the table is left out, as in LSan. */
    const struct handle__supp *shown = r->print && handle__opt.print_suppressions ? supp : NULL;
    struct handle__symbolizer *sym =
        handle__report_symbolizer(r->no_stack ? HANDLE__SYM_NO_DW : HANDLE__SYM_NO_DEBUGINFOD);
    handle__leaks_resolve(sym, supp, r->sites, r->n);
    /* Every site's frames go into the trace, suppressed or cut by
     * max_leaks too (SPEC section 5). */
    if (!r->no_stack)
        for (size_t i = 0; i < r->n; i++)
            handle__symbols_record(sym, r->sites[i].pcs, r->sites[i].modules, r->sites[i].depth);
    r->total = r->print ? handle__leaks_total(r->sites, r->n, &r->nsites) : 0;
    if (r->total) {
        struct handle__sb b = {0};
        handle__leaks_text(&b, (long)getpid(), r->sites, r->n, (uint64_t)handle__opt.max_leaks,
                           shown);
        if (r->no_stack)
            handle__sb_printf(&b, "Note: %s: frames show module+offset.\n", r->no_stack);
        else if (sym == NULL)
            handle__sb_printf(&b, "Note: out of memory while symbolizing: frames are not "
                                  "symbolized.\n");
        else if (handle__sym_faulted(sym)) {
            handle__sb_puts(&b, "Note: ");
            handle__sb_escaped(&b, handle__sym_error(sym)); /* may name a module */
            handle__sb_puts(&b, ".\n");
        }
        const char *tp = handle__trace_path();
        if (tp[0]) {
            /* The path as a shell needs it, both times (issue 12 item 1). */
            handle__sb_puts(&b, "Trace: ");
            handle__sb_shell_quoted(&b, tp);
            handle__sb_puts(&b, " (read it with: handle-report ");
            handle__sb_shell_quoted(&b, tp);
            handle__sb_puts(&b, ")\n");
        }
        if (b.p)
            handle__report_write(b.p, b.len);
        if (b.oom || b.p == NULL) {
            /* Never a silent cut: the count at least, with no allocation. */
            if (b.p && b.len && b.p[b.len - 1] != '\n')
                handle__rt_write("\n", 1);
            char msg[200];
            snprintf(msg, sizeof msg,
                     "out of memory while printing the leak report: %llu handle(s) leaked in "
                     "%llu site(s); the report above is incomplete",
                     (unsigned long long)r->total, (unsigned long long)r->nsites);
            handle__rt_warn(msg);
        }
        handle__sb_free(&b);
    }
    /* Every leak suppressed: nothing at all is printed (SPEC section 4: the
     * report, and with it the table of suppressions used, only when leaks
     * are reported). */
    handle__leaks_release(r->sites, r->n);
    if (sym)
        handle__sym_free(sym);
}

uint64_t handle__leak_report(const struct handle__leak *v, size_t n, uint64_t *nsites,
                             bool print)
{
    *nsites = 0;
    struct group *g;
    size_t ng = group(v, n, &g);
    struct handle__leak_site *sites = ng && ng != SIZE_MAX ? calloc(ng, sizeof *sites) : NULL;
    if (ng == SIZE_MAX || (ng && sites == NULL)) {
        free(g);
        /* Never a silent skip: the handles are leaks all the same. */
        char msg[160];
        snprintf(msg, sizeof msg,
                 "out of memory in the leak check: %zu handle(s) leaked, not listed", n);
        handle__rt_warn(msg);
        return n;
    }
    if (ng == 0)
        return 0;
    for (size_t i = 0; i < ng; i++) {
        struct handle__stack st = {0};
        handle__depot_get(g[i].stack, &st);
        sites[i] = (struct handle__leak_site){
            .count = g[i].count,
            .tag = handle__tag_get(g[i].tag),
            .first_ns = g[i].first_ns,
            .order = i,
            .depth = st.depth,
            .pcs = st.pcs,
            .modules = st.modules,
        };
    }
    free(g);
    struct report r = {.sites = sites, .n = ng, .print = print};
    char why[256];
    if (!handle__bigstack_run(report_body, &r, why, sizeof why)) {
        if (!print) { /* no symbols without the private stack: nothing to do */
            free(sites);
            return 0;
        }
        r.no_stack = why;
        report_body(&r);
    }
    free(sites);
    *nsites = r.nsites;
    return r.total;
}
