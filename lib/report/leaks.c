/*
 * leaks.c - see leaks.h. Runs at exit inside the host process (the debug
 * runtime) and in handle-report: plain malloc, no global state.
 */
#include "leaks.h"

#include <stdlib.h>
#include <string.h>

static int site_cmp(const void *a, const void *b)
{
    const struct handle__leak_site *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->first_ns != y->first_ns)
        return x->first_ns < y->first_ns ? -1 : 1;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return 0;
}

bool handle__leaks_resolve(struct handle__symbolizer *sym, struct handle__supp *supp,
                           struct handle__leak_site *sites, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        struct handle__leak_site *s = &sites[i];
        s->suppressed_by = -1;
        s->frames = NULL;
        s->nframes = 0;
        if (sym == NULL || s->depth == 0)
            continue;
        /* Inline frames can multiply the count: leave room, grow if needed. */
        size_t cap = (size_t)s->depth * 4 + 4;
        s->frames = calloc(cap, sizeof *s->frames);
        if (s->frames == NULL) {
            ok = false;
            continue;
        }
        for (uint32_t d = 0; d < s->depth; d++) {
            struct handle__sym_frame tmp[HANDLE__SYM_MAX_INLINE];
            size_t k = handle__sym_pc(sym, s->modules ? s->modules[d] : 0, s->pcs[d], tmp,
                                      HANDLE__SYM_MAX_INLINE);
            if (s->nframes + k > cap) {
                size_t ncap = (s->nframes + k) * 2;
                struct handle__sym_frame *f = realloc(s->frames, ncap * sizeof *f);
                if (f == NULL) {
                    ok = false;
                    break;
                }
                s->frames = f;
                cap = ncap;
            }
            memcpy(s->frames + s->nframes, tmp, k * sizeof *tmp);
            s->nframes += k;
        }
        if (supp) {
            s->suppressed_by = handle__supp_match(supp, s->frames, s->nframes);
            if (s->suppressed_by >= 0)
                handle__supp_add_hits(supp, (size_t)s->suppressed_by, s->count);
        }
    }
    if (n > 1)
        qsort(sites, n, sizeof *sites, site_cmp);
    return ok;
}

uint64_t handle__leaks_total(const struct handle__leak_site *sites, size_t n, uint64_t *nsites)
{
    uint64_t total = 0, ns = 0;
    for (size_t i = 0; i < n; i++) {
        if (sites[i].suppressed_by >= 0 || sites[i].count == 0)
            continue;
        total += sites[i].count;
        ns++;
    }
    if (nsites)
        *nsites = ns;
    return total;
}

static void raw_frames(struct handle__sb *b, const struct handle__leak_site *s)
{
    for (uint32_t d = 0; d < s->depth; d++)
        handle__sb_printf(b, "    #%u 0x%lx\n", d, (unsigned long)s->pcs[d]);
}

void handle__leaks_text(struct handle__sb *b, long pid, const struct handle__leak_site *sites,
                        size_t n, uint64_t max_sites, const struct handle__supp *supp)
{
    uint64_t nsites = 0;
    uint64_t total = handle__leaks_total(sites, n, &nsites);
    if (total == 0)
        return;
    handle__sb_printf(b, "=================================================================\n");
    handle__sb_printf(b, "==%ld==ERROR: HandleSanitizer: detected handle leaks\n", pid);
    uint64_t printed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct handle__leak_site *s = &sites[i];
        if (s->suppressed_by >= 0 || s->count == 0)
            continue;
        if (max_sites != 0 && printed == max_sites)
            break;
        printed++;
        handle__sb_printf(b, "\nLeak of %llu handle(s)", (unsigned long long)s->count);
        if (s->tag) {
            handle__sb_puts(b, " tagged \"");
            handle__sb_escaped(b, s->tag);
            handle__sb_putc(b, '"');
        }
        if (s->processes > 1 || s->example) {
            if (s->processes > 1)
                handle__sb_printf(b, " in %u processes (e.g. ", s->processes);
            else
                handle__sb_puts(b, " in 1 process (");
            handle__sb_escaped(b, s->example ? s->example : "?");
            handle__sb_putc(b, ')');
        }
        handle__sb_printf(b, " created from:\n");
        if (s->nframes) {
            unsigned num = 0;
            handle__sb_frames(b, s->frames, s->nframes, &num);
        } else if (s->depth) {
            raw_frames(b, s);
        } else {
            handle__sb_printf(b, "    <empty stack>\n");
        }
    }
    if (printed < nsites)
        handle__sb_printf(b, "\nOmitting %llu more leak site(s).\n",
                          (unsigned long long)(nsites - printed));
    for (size_t i = 0; supp && i < handle__supp_count(supp); i++)
        if (handle__supp_hits(supp, i) > 0) {
            handle__sb_printf(b, "\n");
            handle__supp_print_used(b, supp);
            break;
        }
    handle__sb_printf(b, "\nSUMMARY: HandleSanitizer: %llu handle(s) leaked in %llu site(s).\n",
                      (unsigned long long)total, (unsigned long long)nsites);
}

void handle__leaks_release(struct handle__leak_site *sites, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(sites[i].frames);
        sites[i].frames = NULL;
        sites[i].nframes = 0;
    }
}
