/*
 * report_flame.c - handle-report's --format folded: the collapsed stacks
 * that flamegraph.pl, inferno and speedscope read ("main;run;open 3", the
 * outermost frame first, one line per distinct stack), of the leaked
 * handles or, with --all, of every creation; and the frame names that the
 * HTML page's flame graphs use too, so both show the same frames.
 *
 * A frame is named by its function, as perf's stackcollapse does: two
 * sites in one function fold into one line, and the line numbers are in
 * the text and HTML reports. Inlined frames are frames of their own,
 * marked "_[i]". Tags are not frames and are left out. Formatting only;
 * the model is built by report_model.c.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report_model.h"

static const char *base_name(const char *p)
{
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p ? p : "";
}

/* Appends s with the characters a collapsed stack cannot hold replaced. */
static void put_clean(struct handle__sb *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        handle__sb_putc(b, c == ';' ? ':' : c < 0x20 || c == 0x7f ? ' ' : (char)c);
    }
}

void handle__rm_frame_name(struct handle__sb *b, const struct handle__sym_frame *f,
                           bool mark_inline)
{
    if (f->function)
        put_clean(b, f->function);
    else if (f->module && f->module[0]) {
        /* A file name may hold ';' or a newline too. */
        put_clean(b, base_name(f->module));
        handle__sb_printf(b, "+0x%" PRIxPTR, f->module_offset);
    }
    else
        handle__sb_printf(b, "0x%" PRIxPTR, f->pc);
    if (mark_inline && f->inlined)
        handle__sb_puts(b, "_[i]");
}

/* One stack and its count, while lines are collected. */
struct line {
    size_t off, len; /* the stack text in the buffer */
    uint64_t count;
};

/* Appends the collapsed stack of frames f[0..n) (frame #0 first), or of
 * the raw pcs when there are no symbolized frames. */
static void stack_text(struct handle__sb *b, const struct handle__sym_frame *f, size_t n,
                       const uintptr_t *pcs, uint32_t depth)
{
    if (n == 0 && depth == 0) {
        handle__sb_puts(b, "[no stack recorded]");
        return;
    }
    if (n == 0) {
        for (uint32_t d = depth; d-- > 0;)
            handle__sb_printf(b, "0x%" PRIxPTR "%s", pcs[d], d ? ";" : "");
        return;
    }
    for (size_t i = n; i-- > 0;) {
        handle__rm_frame_name(b, &f[i], true);
        if (i)
            handle__sb_putc(b, ';');
    }
}

static int line_cmp(const void *a, const void *b, void *ctx)
{
    const struct line *x = a, *y = b;
    const char *buf = ctx;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(buf + x->off, buf + y->off, n);
    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

bool handle__rm_folded(struct handle__sb *b, const struct handle__rm *m, bool all)
{
    size_t n = all ? m->nstats : m->nsites;
    struct line *l = malloc((n ? n : 1) * sizeof *l);
    struct handle__sb t = {0};
    if (l == NULL)
        return false;
    size_t nl = 0;
    for (size_t i = 0; i < n; i++) {
        size_t off = t.len;
        if (all) {
            const struct handle__rm_stat *s = &m->stats[i];
            if (s->created == 0)
                continue;
            stack_text(&t, s->frames.f, s->frames.n, NULL, 0);
            l[nl++] = (struct line){off, t.len - off, s->created};
        } else {
            const struct handle__leak_site *s = &m->sites[i];
            if (s->suppressed_by >= 0 || s->count == 0)
                continue;
            stack_text(&t, s->frames, s->nframes, s->pcs, s->depth);
            l[nl++] = (struct line){off, t.len - off, s->count};
        }
    }
    bool ok = !t.oom;
    if (ok && nl > 1)
        qsort_r(l, nl, sizeof *l, line_cmp, t.p);
    for (size_t i = 0; ok && i < nl;) {
        uint64_t count = 0;
        size_t j = i;
        while (j < nl && line_cmp(&l[i], &l[j], t.p) == 0)
            count += l[j++].count;
        handle__sb_mem(b, t.p + l[i].off, l[i].len);
        handle__sb_printf(b, " %" PRIu64 "\n", count);
        i = j;
    }
    free(l);
    handle__sb_free(&t);
    return ok && !b->oom;
}
