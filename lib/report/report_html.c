/*
 * report_html.c - handle-report's --format html: one self-contained page
 * (inline CSS and JavaScript, no network, works from file://) made of the
 * page template lib/report/report.html (embedded at build time) and the
 * report's data as one JSON document in a <script type="application/json">
 * element, which the page's script draws as SVG.
 *
 * Everything is aggregated here, so that the page stays small (well under
 * 2 MB for a million lifetimes) and draws at once whatever the trace holds:
 *  - the timeline of live handles: at most 4000 change points on the
 *    finest grid that allows (down to a millionth of the run); per point
 *    the live count at its end (in total, for the top sites and the top
 *    tags, and "other") and the exact most live at any moment inside it;
 *  - per creation site, completed lifetimes in log2 buckets and the most
 *    live at once (from the model's statistics);
 *  - two icicle graphs (creation stacks of the leaked handles, and of
 *    every creation), frames merged by name along each path as
 *    flamegraph.pl does, nodes under 0.1% of the total folded into one
 *    "other" node per parent, sent as a flat pre-order list;
 *  - frames, stacks and strings are sent once each and referred to by
 *    index.
 * The leak sites, errors and frames are the model's, as the text report
 * prints them. Formatting only; the model is built by report_model.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "text.h"
#include "report_model.h"

/* The page template (report.html, embedded by lib/report/CMakeLists.txt). */
extern const char handle__html_page[] __attribute__((visibility("hidden")));

/* Leak sites, creation sites and errors sent with their details; the rest
 * are counted (the timeline and the flame graphs still include them). */
#define MAX_LISTED 2000
/* The timeline: at most this many points (buckets that hold events), on
 * a grid of at most FINE_BUCKETS buckets over the run. */
#define TIMELINE_POINTS 4000
#define FINE_BUCKETS (UINT64_C(1) << 20)
/* Sites and tags the timeline draws on their own. */
#define TIMELINE_SERIES 8
/* Distinct tags ranked for the timeline. */
#define MAX_TAGS_RANKED 64
/* A flame graph node below total / PRUNE_DIV is folded into "other". */
#define PRUNE_DIV 1000

/* ---- tables of strings, frames and stacks ----------------------------------- */

struct tables {
    struct handle__rm_map *str_map, *frame_map, *stack_map;
    char **strs;
    size_t nstrs, capstrs;
    struct handle__sym_frame *frames;
    size_t nframes, capframes;
    size_t *stack_idx;     /* every stack's frame indices, one after another */
    size_t nstack_idx, capstack_idx;
    size_t *stack_off;     /* stack k is stack_idx[stack_off[k] .. stack_off[k + 1]) */
    size_t nstacks, capstack_off;
    bool oom;
};

/* The index of string s (NULL: -1). */
static int64_t str_id(struct tables *t, const char *s)
{
    if (s == NULL)
        return -1;
    size_t len = strlen(s), v;
    bool added;
    if (!handle__rm_map_get(t->str_map, s, len, t->nstrs, &v, &added) ||
        (added && !handle__grow(&t->strs, &t->capstrs, t->nstrs + 1, sizeof *t->strs))) {
        t->oom = true;
        return -1;
    }
    if (added) {
        t->strs[t->nstrs] = strdup(s);
        if (t->strs[t->nstrs] == NULL) {
            t->oom = true;
            return -1;
        }
        t->nstrs++;
    }
    return (int64_t)v;
}

/* The index of frame f. Frames come from the symbolizer, whose strings are
 * unique per content, so a frame is known by its pc and its pointers. */
static size_t frame_id(struct tables *t, const struct handle__sym_frame *f)
{
    struct {
        uintptr_t pc;
        const void *fn, *file, *mod;
        int line;
        int inl;
    } k;
    memset(&k, 0, sizeof k);
    k.pc = f->pc;
    k.fn = f->function;
    k.file = f->file;
    k.mod = f->module;
    k.line = f->line;
    k.inl = f->inlined;
    size_t v;
    bool added;
    if (!handle__rm_map_get(t->frame_map, &k, sizeof k, t->nframes, &v, &added) ||
        (added && !handle__grow(&t->frames, &t->capframes, t->nframes + 1, sizeof *t->frames))) {
        t->oom = true;
        return 0;
    }
    if (added)
        t->frames[t->nframes++] = *f;
    return v;
}

/* The index of the stack of frames f[0..n) (frame #0 first). */
static int64_t stack_id(struct tables *t, const struct handle__sym_frame *f, size_t n)
{
    size_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (ids == NULL) {
        t->oom = true;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = frame_id(t, &f[i]);
    size_t v;
    bool added;
    bool ok = handle__rm_map_get(t->stack_map, ids, n * sizeof *ids, t->nstacks, &v, &added);
    if (ok && added) {
        ok = handle__grow(&t->stack_idx, &t->capstack_idx, t->nstack_idx + n, sizeof *t->stack_idx) &&
             handle__grow(&t->stack_off, &t->capstack_off, t->nstacks + 2, sizeof *t->stack_off);
        if (ok) {
            if (t->nstacks == 0)
                t->stack_off[0] = 0;
            if (n)
                memcpy(t->stack_idx + t->nstack_idx, ids, n * sizeof *ids);
            t->nstack_idx += n;
            t->stack_off[++t->nstacks] = t->nstack_idx;
        }
    }
    free(ids);
    if (!ok) {
        t->oom = true;
        return -1;
    }
    return (int64_t)v;
}

static void tables_free(struct tables *t)
{
    handle__rm_map_free(t->str_map);
    handle__rm_map_free(t->frame_map);
    handle__rm_map_free(t->stack_map);
    for (size_t i = 0; i < t->nstrs; i++)
        free(t->strs[i]);
    free(t->strs);
    free(t->frames);
    free(t->stack_idx);
    free(t->stack_off);
}

/* ---- flame graphs ------------------------------------------------------------ */

struct fnode {
    int64_t name;          /* string index */
    int64_t frame;         /* frame index of the first frame merged here; -1 none */
    bool inl, lines;       /* inlined; frames of several lines merged here */
    uint64_t value;
    size_t child, next;    /* first child, next sibling (0: none; node 0 is the root) */
};

struct flame {
    struct fnode *n;
    size_t nn, cap;
    struct handle__rm_map *kids; /* (parent, name, inlined) -> node */
};

static size_t flame_child(struct flame *fl, struct tables *t, size_t parent, int64_t name, bool inl,
                          size_t frame)
{
    struct {
        size_t parent;
        int64_t name;
        int inl;
    } k;
    memset(&k, 0, sizeof k);
    k.parent = parent;
    k.name = name;
    k.inl = inl;
    size_t v;
    bool added;
    if (!handle__rm_map_get(fl->kids, &k, sizeof k, fl->nn, &v, &added) ||
        (added && !handle__grow(&fl->n, &fl->cap, fl->nn + 1, sizeof *fl->n))) {
        t->oom = true;
        return SIZE_MAX;
    }
    if (added) {
        fl->n[fl->nn] = (struct fnode){name, (int64_t)frame, inl, false, 0, 0, fl->n[parent].child};
        fl->n[parent].child = fl->nn++;
    } else if (fl->n[v].frame >= 0 && !fl->n[v].lines) {
        const struct handle__sym_frame *a = &t->frames[fl->n[v].frame], *b = &t->frames[frame];
        if (a->line != b->line || a->file != b->file)
            fl->n[v].lines = true;
    }
    return v;
}

/* Adds count handles created from frames f[0..n) (frame #0 first). */
static void flame_add(struct flame *fl, struct tables *t, const struct handle__sym_frame *f,
                      size_t n, uint64_t count)
{
    struct handle__sb nb = {0};
    size_t cur = 0;
    fl->n[0].value += count;
    if (n == 0) {
        int64_t name = str_id(t, "[no stack recorded]");
        cur = flame_child(fl, t, cur, name, false, 0);
        if (cur != SIZE_MAX) {
            fl->n[cur].frame = -1;
            fl->n[cur].value += count;
        }
        return;
    }
    for (size_t i = n; i-- > 0 && cur != SIZE_MAX;) {
        handle__sb_reset(&nb);
        handle__rm_frame_name(&nb, &f[i], false);
        if (nb.oom) {
            t->oom = true;
            break;
        }
        int64_t name = str_id(t, handle__sb_str(&nb));
        size_t fr = frame_id(t, &f[i]);
        if (t->oom)
            break;
        cur = flame_child(fl, t, cur, name, f[i].inlined, fr);
        if (cur != SIZE_MAX)
            fl->n[cur].value += count;
    }
    handle__sb_free(&nb);
}

static bool flame_init(struct flame *fl, struct tables *t)
{
    fl->kids = handle__rm_map_new();
    if (fl->kids == NULL || !handle__grow(&fl->n, &fl->cap, 1, sizeof *fl->n))
        return false;
    fl->n[0] = (struct fnode){str_id(t, "all"), -1, false, false, 0, 0, 0};
    fl->nn = 1;
    return true;
}

static void flame_free(struct flame *fl)
{
    free(fl->n);
    handle__rm_map_free(fl->kids);
}

static int node_cmp(const void *a, const void *b, void *ctx)
{
    const struct fnode *n = ctx;
    uint64_t x = n[*(const size_t *)a].value, y = n[*(const size_t *)b].value;
    if (x != y)
        return x > y ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* The tree as a flat pre-order list of [name, value, frame, depth,
 * inlined, several lines], children largest first; small children
 * folded into one "other" node ([name, value, -1, depth, 0, 0]). */
static void flame_json(struct handle__json *j, struct flame *fl, struct tables *t)
{
    uint64_t min = (fl->n[0].value + PRUNE_DIV - 1) / PRUNE_DIV;
    int64_t other = str_id(t, "other");
    /* An explicit stack of (node, depth); "other" entries have node
     * SIZE_MAX and carry their value. */
    struct item {
        size_t node;
        uint32_t depth;
        uint64_t value;
    } *st = NULL;
    size_t nst = 0, capst = 0;
    size_t *kids = NULL, capkids = 0;
    handle__json_arr(j);
    if (!handle__grow(&st, &capst, 1, sizeof *st)) {
        t->oom = true;
        goto out;
    }
    st[nst++] = (struct item){0, 0, 0};
    while (nst) {
        struct item it = st[--nst];
        handle__json_arr(j);
        if (it.node == SIZE_MAX) {
            handle__json_int(j, other);
            handle__json_uint(j, it.value);
            handle__json_int(j, -1);
            handle__json_uint(j, it.depth);
            handle__json_int(j, 0);
            handle__json_int(j, 0);
            handle__json_arr_end(j);
            continue;
        }
        const struct fnode *n = &fl->n[it.node];
        handle__json_int(j, n->name);
        handle__json_uint(j, n->value);
        handle__json_int(j, n->frame);
        handle__json_uint(j, it.depth);
        handle__json_int(j, n->inl);
        handle__json_int(j, n->lines);
        handle__json_arr_end(j);
        size_t nk = 0;
        for (size_t c = n->child; c; c = fl->n[c].next) {
            if (!handle__grow(&kids, &capkids, nk + 1, sizeof *kids)) {
                t->oom = true;
                goto out;
            }
            kids[nk++] = c;
        }
        if (nk > 1)
            qsort_r(kids, nk, sizeof *kids, node_cmp, fl->n);
        uint64_t rest = 0;
        size_t keep = 0;
        for (size_t k = 0; k < nk; k++) {
            if (fl->n[kids[k]].value >= min)
                keep++;
            else
                rest += fl->n[kids[k]].value;
        }
        /* Pushed in reverse, so that they come out largest first. */
        if (!handle__grow(&st, &capst, nst + keep + 1, sizeof *st)) {
            t->oom = true;
            goto out;
        }
        if (rest)
            st[nst++] = (struct item){SIZE_MAX, it.depth + 1, rest};
        for (size_t k = keep; k-- > 0;)
            st[nst++] = (struct item){kids[k], it.depth + 1, 0};
    }
out:
    handle__json_arr_end(j);
    free(st);
    free(kids);
}

/* ---- the timeline ------------------------------------------------------------- */

/*
 * The timeline is a step function sent as change points: the run is cut
 * into buckets as fine as the page can afford (the finest width, doubling
 * from span / FINE_BUCKETS, for which the buckets that hold any event are
 * at most TIMELINE_POINTS), and only those buckets are sent, each with the
 * live count at its end and the most live at any moment inside it. The
 * page aggregates them into pixel columns for whatever range is zoomed to,
 * so a short burst in a long run (the demo's) can be zoomed into, and a
 * million lifetimes still make a few thousand points.
 */
struct timeline {
    int64_t t0, t1;        /* the run: earliest start to latest end or event */
    uint64_t dt;           /* ns per bucket */
    uint64_t nb;           /* buckets over the run */
    size_t np;             /* buckets with events (points) */
    uint64_t *idx;         /* their bucket numbers, ascending */
    uint32_t *point_of;    /* bucket -> point */
};

static void timeline_free(struct timeline *tl)
{
    free(tl->idx);
    free(tl->point_of);
}

static uint64_t bucket_of(const struct timeline *tl, int64_t t)
{
    if (t <= tl->t0)
        return 0;
    uint64_t b = ((uint64_t)t - (uint64_t)tl->t0) / tl->dt;
    return b >= tl->nb ? tl->nb - 1 : b;
}

static void timeline_range(const struct handle__rm *m, struct timeline *tl)
{
    bool any = false;
    int64_t lo = 0, hi = 0;
#define SEE(v)                                                                                     \
    do {                                                                                           \
        int64_t v_ = (v);                                                                          \
        if (!any || v_ < lo)                                                                       \
            lo = v_;                                                                               \
        if (!any || v_ > hi)                                                                       \
            hi = v_;                                                                               \
        any = true;                                                                                \
    } while (0)
    for (size_t i = 0; i < m->ntraces; i++) {
        const struct handle__tr_meta *mt = &m->traces[i].meta;
        if (mt->has_started)
            SEE(mt->started_at);
        if (mt->has_started && mt->has_ended && mt->ended_at >= mt->started_at)
            SEE(mt->ended_at);
    }
    for (size_t i = 0; i < m->nstats; i++) {
        const struct handle__rm_stat *s = &m->stats[i];
        for (size_t k = 0; k < s->nborn; k++)
            SEE(s->born[k]);
        for (size_t k = 0; k < s->ndied; k++)
            SEE(s->died[k]);
    }
#undef SEE
    tl->t0 = lo;
    tl->t1 = hi > lo ? hi : lo + 1;
}

/* Chooses the bucket width and the points (see above). */
static bool timeline_points(const struct handle__rm *m, struct timeline *tl)
{
    uint64_t span = (uint64_t)tl->t1 - (uint64_t)tl->t0;
    /* The finest grid: bits of its nonempty buckets. */
    tl->nb = span < FINE_BUCKETS ? span : FINE_BUCKETS;
    tl->dt = (span + tl->nb - 1) / tl->nb;
    tl->nb = (span + tl->dt - 1) / tl->dt;
    uint64_t *bits = calloc((size_t)(tl->nb + 63) / 64, sizeof *bits);
    if (bits == NULL)
        return false;
    for (size_t i = 0; i < m->nstats; i++) {
        const struct handle__rm_stat *s = &m->stats[i];
        for (size_t k = 0; k < s->nborn; k++) {
            uint64_t b = bucket_of(tl, s->born[k]);
            bits[b / 64] |= UINT64_C(1) << (b % 64);
        }
        for (size_t k = 0; k < s->ndied; k++) {
            uint64_t b = bucket_of(tl, s->died[k]);
            bits[b / 64] |= UINT64_C(1) << (b % 64);
        }
    }
    /* Coarser by doubling until few enough buckets hold events: the
     * distinct values of (fine bucket >> shift), in ascending order. */
    unsigned shift = 0;
    for (;; shift++) {
        size_t n = 0;
        uint64_t last = UINT64_MAX;
        for (uint64_t w = 0; w < (tl->nb + 63) / 64 && n <= TIMELINE_POINTS; w++)
            for (uint64_t x = bits[w]; x; x &= x - 1) {
                uint64_t c = (w * 64 + (uint64_t)__builtin_ctzll(x)) >> shift;
                if (c != last) {
                    n++;
                    last = c;
                }
            }
        if (n <= TIMELINE_POINTS || (tl->nb >> shift) <= TIMELINE_POINTS)
            break;
    }
    free(bits);
    /* The chosen grid; its points from the events themselves, with the
     * bucket_of that the events will be counted with. */
    tl->dt <<= shift;
    tl->nb = (span + tl->dt - 1) / tl->dt;
    if (tl->nb == 0)
        tl->nb = 1;
    bits = calloc((size_t)(tl->nb + 63) / 64, sizeof *bits);
    tl->point_of = malloc((size_t)tl->nb * sizeof *tl->point_of);
    if (bits == NULL || tl->point_of == NULL) {
        free(bits);
        return false;
    }
    for (size_t i = 0; i < m->nstats; i++) {
        const struct handle__rm_stat *s = &m->stats[i];
        for (size_t k = 0; k < s->nborn; k++) {
            uint64_t b = bucket_of(tl, s->born[k]);
            bits[b / 64] |= UINT64_C(1) << (b % 64);
        }
        for (size_t k = 0; k < s->ndied; k++) {
            uint64_t b = bucket_of(tl, s->died[k]);
            bits[b / 64] |= UINT64_C(1) << (b % 64);
        }
    }
    size_t np = 0;
    for (uint64_t w = 0; w < (tl->nb + 63) / 64; w++)
        np += (size_t)__builtin_popcountll(bits[w]);
    tl->idx = malloc((np ? np : 1) * sizeof *tl->idx);
    if (tl->idx == NULL) {
        free(bits);
        return false;
    }
    tl->np = 0;
    for (uint64_t w = 0; w < (tl->nb + 63) / 64; w++)
        for (uint64_t x = bits[w]; x; x &= x - 1) {
            uint64_t c = w * 64 + (uint64_t)__builtin_ctzll(x);
            tl->point_of[c] = (uint32_t)tl->np;
            tl->idx[tl->np++] = c;
        }
    free(bits);
    return true;
}

/* The point of time t (its bucket holds an event, so it has one). */
static size_t point_of(const struct timeline *tl, int64_t t)
{
    return tl->point_of[bucket_of(tl, t)];
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Per point, the live count at the end of its bucket (end) and the most
 * live at any moment in it (peak), over every site: events sorted by time
 * within their point (a counting sort by point first), a deletion before
 * a creation at the same nanosecond, as for --stats' peak. */
static bool timeline_total(const struct handle__rm *m, const struct timeline *tl, int64_t *end,
                           int64_t *peak, uint64_t *nev_at)
{
    size_t nev = 0;
    for (size_t i = 0; i < m->nstats; i++)
        nev += m->stats[i].nborn + m->stats[i].ndied;
    size_t *start = calloc(tl->np + 1, sizeof *start);
    uint64_t *ev = malloc((nev ? nev : 1) * sizeof *ev);
    if (start == NULL || ev == NULL) {
        free(start);
        free(ev);
        return false;
    }
    for (size_t i = 0; i < m->nstats; i++) {
        const struct handle__rm_stat *s = &m->stats[i];
        for (size_t k = 0; k < s->nborn; k++)
            start[point_of(tl, s->born[k]) + 1]++;
        for (size_t k = 0; k < s->ndied; k++)
            start[point_of(tl, s->died[k]) + 1]++;
    }
    for (size_t p = 0; p < tl->np; p++)
        start[p + 1] += start[p];
    /* Key: time since t0, doubled, + 1 for a creation. */
    for (size_t i = 0; i < m->nstats; i++) {
        const struct handle__rm_stat *s = &m->stats[i];
        for (size_t k = 0; k < s->nborn; k++) {
            int64_t t = s->born[k];
            ev[start[point_of(tl, t)]++] = ((uint64_t)t - (uint64_t)tl->t0) << 1 | 1;
        }
        for (size_t k = 0; k < s->ndied; k++) {
            int64_t t = s->died[k];
            ev[start[point_of(tl, t)]++] = ((uint64_t)t - (uint64_t)tl->t0) << 1;
        }
    }
    /* start[p] is now where point p + 1 begins. */
    int64_t live = 0;
    size_t from = 0;
    for (size_t p = 0; p < tl->np; p++) {
        size_t to = start[p];
        if (to - from > 1)
            qsort(ev + from, to - from, sizeof *ev, u64_cmp);
        int64_t top = live;
        for (size_t k = from; k < to; k++) {
            live += ev[k] & 1 ? 1 : -1;
            if (live > top)
                top = live;
        }
        end[p] = live;
        peak[p] = top;
        nev_at[p] = to - from;
        from = to;
    }
    free(start);
    free(ev);
    return true;
}

/* Adds site s's creations and deletions to the per-point deltas d. */
static void deltas_add(const struct timeline *tl, const struct handle__rm_stat *s, int64_t *d)
{
    for (size_t k = 0; k < s->nborn; k++)
        d[point_of(tl, s->born[k])]++;
    for (size_t k = 0; k < s->ndied; k++)
        d[point_of(tl, s->died[k])]--;
}

/* The running sum of d: the series' live count at each point. */
static void j_series(struct handle__json *j, const int64_t *d, size_t np)
{
    int64_t v = 0;
    handle__json_arr(j);
    for (size_t p = 0; p < np; p++) {
        v += d[p];
        handle__json_int(j, v);
    }
    handle__json_arr_end(j);
}

struct rank {
    size_t idx;
    uint64_t live, peak, created;
};

static int rank_cmp(const void *a, const void *b)
{
    const struct rank *x = a, *y = b;
    if (x->live != y->live)
        return x->live > y->live ? -1 : 1;
    if (x->peak != y->peak)
        return x->peak > y->peak ? -1 : 1;
    if (x->created != y->created)
        return x->created > y->created ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* "timeline": the run (t0, span), the bucket width dt, the points (idx:
 * bucket numbers, delta-encoded), total, peak and events (creations and
 * deletions) per point, and the series
 * by site and by tag (the top TIMELINE_SERIES by handles live at the end,
 * then by the most live at once; "other" is the rest). */
static bool j_timeline(struct handle__json *j, const struct handle__rm *m, struct tables *t)
{
    struct timeline tl = {0};
    timeline_range(m, &tl);
    bool ok = timeline_points(m, &tl);
    size_t np = tl.np ? tl.np : 1;
    int64_t *end = calloc(np, sizeof *end), *peak = calloc(np, sizeof *peak);
    int64_t *d = calloc(np, sizeof *d), *other = calloc(np, sizeof *other);
    uint64_t *nev = calloc(np, sizeof *nev);
    struct rank *r = malloc((m->nstats ? m->nstats : 1) * sizeof *r);
    const char **tags = malloc((m->nstats ? m->nstats : 1) * sizeof *tags);
    struct rank *tr = malloc((m->nstats ? m->nstats : 1) * sizeof *tr);
    ok = ok && end && peak && d && other && nev && r && tags && tr &&
         timeline_total(m, &tl, end, peak, nev);
    if (!ok)
        goto out;
    handle__json_key(j, "timeline");
    handle__json_obj(j);
    handle__json_kint(j, "t0", tl.t0);
    handle__json_kuint(j, "dt", tl.dt);
    handle__json_kuint(j, "span", (uint64_t)tl.t1 - (uint64_t)tl.t0);
    handle__json_key(j, "idx");
    handle__json_arr(j);
    for (size_t p = 0; p < tl.np; p++)
        handle__json_uint(j, tl.idx[p] - (p ? tl.idx[p - 1] : 0));
    handle__json_arr_end(j);
    handle__json_key(j, "total");
    handle__json_arr(j);
    for (size_t p = 0; p < tl.np; p++)
        handle__json_int(j, end[p]);
    handle__json_arr_end(j);
    handle__json_key(j, "peak");
    handle__json_arr(j);
    for (size_t p = 0; p < tl.np; p++)
        handle__json_int(j, peak[p]);
    handle__json_arr_end(j);
    handle__json_key(j, "events");
    handle__json_arr(j);
    for (size_t p = 0; p < tl.np; p++)
        handle__json_uint(j, nev[p]);
    handle__json_arr_end(j);

    /* By site: "sites": [[stat index, tag, stack, [values]], ...], "sitesOther". */
    for (size_t i = 0; i < m->nstats; i++)
        r[i] = (struct rank){i, m->stats[i].live, m->stats[i].peak, m->stats[i].created};
    if (m->nstats > 1)
        qsort(r, m->nstats, sizeof *r, rank_cmp);
    size_t ns = m->nstats < TIMELINE_SERIES ? m->nstats : TIMELINE_SERIES;
    handle__json_key(j, "sites");
    handle__json_arr(j);
    for (size_t k = 0; k < m->nstats; k++) {
        if (k >= ns) {
            deltas_add(&tl, &m->stats[r[k].idx], other);
            continue;
        }
        const struct handle__rm_stat *s = &m->stats[r[k].idx];
        memset(d, 0, np * sizeof *d);
        deltas_add(&tl, s, d);
        handle__json_arr(j);
        handle__json_uint(j, r[k].idx);
        handle__json_int(j, str_id(t, s->tag));
        handle__json_int(j, stack_id(t, s->frames.f, s->frames.n));
        j_series(j, d, tl.np);
        handle__json_arr_end(j);
    }
    handle__json_arr_end(j);
    handle__json_key(j, "sitesOther");
    if (m->nstats > ns)
        j_series(j, other, tl.np);
    else
        handle__json_null(j);

    /* By tag: tags are interned by the model, so equal tags are one
     * pointer. */
    size_t ntags = 0;
    for (size_t i = 0; i < m->nstats; i++) {
        const struct handle__rm_stat *s = &m->stats[i];
        size_t k = 0;
        while (k < ntags && tags[k] != s->tag)
            k++;
        if (k == ntags) {
            if (ntags == MAX_TAGS_RANKED)
                continue; /* that many tags: the top ones are among the first */
            tags[ntags] = s->tag;
            tr[ntags] = (struct rank){k, 0, 0, 0};
            ntags++;
        }
        tr[k].live += s->live;
        tr[k].peak += s->peak;
        tr[k].created += s->created;
    }
    if (ntags > 1)
        qsort(tr, ntags, sizeof *tr, rank_cmp);
    size_t nt = ntags < TIMELINE_SERIES ? ntags : TIMELINE_SERIES;
    handle__json_key(j, "tags");
    handle__json_arr(j);
    for (size_t k = 0; k < nt; k++) {
        memset(d, 0, np * sizeof *d);
        for (size_t i = 0; i < m->nstats; i++)
            if (m->stats[i].tag == tags[tr[k].idx])
                deltas_add(&tl, &m->stats[i], d);
        handle__json_arr(j);
        handle__json_int(j, str_id(t, tags[tr[k].idx]));
        j_series(j, d, tl.np);
        handle__json_arr_end(j);
    }
    handle__json_arr_end(j);
    handle__json_key(j, "tagsOther");
    memset(other, 0, np * sizeof *other);
    bool rest = false;
    for (size_t i = 0; i < m->nstats; i++) {
        bool listed = false;
        for (size_t k = 0; k < nt; k++)
            listed = listed || m->stats[i].tag == tags[tr[k].idx];
        if (!listed) {
            deltas_add(&tl, &m->stats[i], other);
            rest = true;
        }
    }
    if (rest)
        j_series(j, other, tl.np);
    else
        handle__json_null(j);
    handle__json_obj_end(j);
out:
    timeline_free(&tl);
    free(end);
    free(peak);
    free(d);
    free(other);
    free(nev);
    free(r);
    free(tags);
    free(tr);
    return ok;
}

/* ---- the document ---------------------------------------------------------------- */

static void j_hist(struct handle__json *j, const uint64_t h[64])
{
    int lo = 0, hi = 63;
    while (lo < 64 && h[lo] == 0)
        lo++;
    while (hi >= lo && h[hi] == 0)
        hi--;
    handle__json_arr(j);
    if (lo <= hi) {
        handle__json_int(j, lo);
        for (int k = lo; k <= hi; k++)
            handle__json_uint(j, h[k]);
    }
    handle__json_arr_end(j);
}

static void j_traces(struct handle__json *j, const struct handle__rm *m)
{
    handle__json_key(j, "traces");
    handle__json_arr(j);
    for (size_t i = 0; i < m->ntraces && i < MAX_LISTED; i++) {
        const struct handle__rm_trace *t = &m->traces[i];
        const struct handle__tr_meta *mt = &t->meta;
        handle__json_obj(j);
        handle__json_kstr(j, "path", t->path);
        handle__json_kstr(j, "exe", mt->exe);
        handle__json_kstr(j, "cmdline", mt->cmdline);
        handle__json_kint_or_null(j, "pid", mt->has_pid, mt->pid);
        handle__json_kint_or_null(j, "started", mt->has_started, mt->started_at);
        bool ran = mt->has_started && mt->has_ended && mt->ended_at >= mt->started_at;
        /* ended_at >= started_at: the difference fits unsigned (a hostile
         * trace's does not fit signed). */
        handle__json_key(j, "ran_ns");
        if (ran)
            handle__json_uint(j, (uint64_t)mt->ended_at - (uint64_t)mt->started_at);
        else
            handle__json_null(j);
        handle__json_kint_or_null(j, "exit_status", mt->has_ended && mt->has_exit, mt->exit_status);
        handle__json_key(j, "clean_exit");
        handle__json_bool(j, mt->has_ended);
        handle__json_kuint(j, "leaked", t->leaked);
        handle__json_kuint(j, "leak_sites", t->leak_sites);
        handle__json_kuint(j, "errors", t->errors);
        handle__json_obj_end(j);
    }
    handle__json_arr_end(j);
}

static void j_stack_ref(struct handle__json *j, struct tables *t, const struct handle__sym_frame *f,
                        size_t n, bool has)
{
    if (has)
        handle__json_int(j, stack_id(t, f, n));
    else
        handle__json_null(j);
}

static void j_errors(struct handle__json *j, const struct handle__rm *m, struct tables *t)
{
    handle__json_key(j, "errors");
    handle__json_arr(j);
    for (size_t i = 0; i < m->nerrors && i < MAX_LISTED; i++) {
        const struct handle__rm_error *e = &m->errors[i];
        char th[32];
        handle__json_obj(j);
        handle__json_kstr(j, "kind", e->kind);
        handle__json_key(j, "handle");
        handle__json_hex(j, e->handle);
        snprintf(th, sizeof th, "T%" PRId64, e->thread);
        handle__json_kstr(j, "thread", e->thread >= 0 ? th : NULL);
        handle__json_kstr(j, "tag", e->tag);
        handle__json_kint(j, "at_ns", e->at_ns);
        handle__json_kuint(j, "trace", e->trace);
        handle__json_kstr(j, "message", e->message);
        handle__json_key(j, "stack");
        j_stack_ref(j, t, e->stack.f, e->stack.n, true);
        handle__json_key(j, "created");
        j_stack_ref(j, t, e->created.f, e->created.n, e->has_created);
        snprintf(th, sizeof th, "T%" PRId64, e->created_thread);
        handle__json_kstr(j, "created_thread", e->created_thread >= 0 ? th : NULL);
        handle__json_key(j, "deleted");
        j_stack_ref(j, t, e->deleted.f, e->deleted.n, e->has_deleted);
        snprintf(th, sizeof th, "T%" PRId64, e->deleted_thread);
        handle__json_kstr(j, "deleted_thread", e->deleted_thread >= 0 ? th : NULL);
        handle__json_obj_end(j);
    }
    handle__json_arr_end(j);
}

/* The page's data: see report.html's script for how each part is drawn. */
static bool j_document(struct handle__json *j, const struct handle__rm *m, struct tables *t,
                       const char *tool_version)
{
    uint64_t nsites = 0, leaked = handle__rm_leaked(m, &nsites);
    uint64_t created = 0, deleted = 0;
    for (size_t i = 0; i < m->nstats; i++) {
        created += m->stats[i].created;
        deleted += m->stats[i].deleted;
    }
    handle__json_obj(j);
    handle__json_kint(j, "version", 1);
    handle__json_kstr(j, "tool", tool_version);
    j_traces(j, m);
    handle__json_key(j, "summary");
    handle__json_obj(j);
    handle__json_kuint(j, "traces", m->ntraces);
    handle__json_kuint(j, "leaked_handles", leaked);
    handle__json_kuint(j, "leak_sites", nsites);
    handle__json_kuint(j, "errors", m->nerrors);
    handle__json_kuint(j, "created", created);
    handle__json_kuint(j, "deleted", deleted);
    handle__json_kuint(j, "creation_sites", m->nstats);
    handle__json_kuint(j, "baselines", m->nbaselines);
    handle__json_kuint(j, "baseline_sites", m->baseline_sites);
    handle__json_kuint(j, "baseline_handles", m->baseline_handles);
    uint64_t suppressed = 0;
    for (size_t i = 0; m->supp && i < handle__supp_count(m->supp); i++)
        suppressed += handle__supp_hits(m->supp, i);
    handle__json_kuint(j, "suppressed_handles", suppressed);
    handle__json_obj_end(j);

    handle__json_key(j, "notes");
    handle__json_arr(j);
    for (size_t i = 0; i < m->nnotes; i++) {
        struct handle__sb nb = {0};
        if (m->notes[i].changed)
            handle__sb_printf(&nb, "%s changed since the run (%s): its frames show module+offset.",
                              m->notes[i].path, m->notes[i].reason);
        else if (m->notes[i].path[0])
            handle__sb_printf(&nb, "No symbols for %s (%s): its frames show module+offset.",
                              m->notes[i].path, m->notes[i].reason);
        else
            handle__sb_printf(&nb, "No symbols (%s): frames show module+offset.",
                              m->notes[i].reason);
        if (nb.oom)
            t->oom = true;
        handle__json_str(j, handle__sb_str(&nb));
        handle__sb_free(&nb);
    }
    handle__json_arr_end(j);

    /* Leak sites: [count, tag, stack, stat index, processes, example]. */
    handle__json_key(j, "leaks");
    handle__json_arr(j);
    size_t listed = 0;
    for (size_t i = 0; i < m->nsites; i++) {
        const struct handle__leak_site *s = &m->sites[i];
        if (s->suppressed_by >= 0 || s->count == 0)
            continue;
        if (listed++ == MAX_LISTED)
            break;
        const struct handle__rm_stat *st = handle__rm_site_stat(m, s);
        handle__json_arr(j);
        handle__json_uint(j, s->count);
        handle__json_int(j, str_id(t, s->tag));
        handle__json_int(j, stack_id(t, s->frames, s->nframes));
        handle__json_int(j, st ? (int64_t)(st - m->stats) : -1);
        handle__json_uint(j, s->processes);
        handle__json_int(j, str_id(t, s->example));
        handle__json_arr_end(j);
    }
    handle__json_arr_end(j);

    /* Creation sites: [tag, stack, created, deleted, live, peak, p50,
     * p99, max, processes, histogram [first log2 bucket, counts...]]. */
    handle__json_key(j, "sites");
    handle__json_arr(j);
    for (size_t i = 0; i < m->nstats && i < MAX_LISTED; i++) {
        const struct handle__rm_stat *s = &m->stats[i];
        handle__json_arr(j);
        handle__json_int(j, str_id(t, s->tag));
        handle__json_int(j, stack_id(t, s->frames.f, s->frames.n));
        handle__json_uint(j, s->created);
        handle__json_uint(j, s->deleted);
        handle__json_uint(j, s->live);
        handle__json_uint(j, s->peak);
        handle__json_uint(j, s->p50);
        handle__json_uint(j, s->p99);
        handle__json_uint(j, s->max);
        handle__json_uint(j, s->processes);
        j_hist(j, s->hist);
        handle__json_arr_end(j);
    }
    handle__json_arr_end(j);

    j_errors(j, m, t);
    if (!j_timeline(j, m, t))
        return false;

    struct flame leak = {0}, all = {0};
    bool ok = flame_init(&leak, t) && flame_init(&all, t);
    for (size_t i = 0; ok && i < m->nsites; i++) {
        const struct handle__leak_site *s = &m->sites[i];
        if (s->suppressed_by < 0 && s->count)
            flame_add(&leak, t, s->frames, s->nframes, s->count);
    }
    for (size_t i = 0; ok && i < m->nstats; i++)
        flame_add(&all, t, m->stats[i].frames.f, m->stats[i].frames.n, m->stats[i].created);
    if (ok) {
        handle__json_key(j, "flame_leaked");
        flame_json(j, &leak, t);
        handle__json_key(j, "flame_all");
        flame_json(j, &all, t);
    }
    flame_free(&leak);
    flame_free(&all);
    if (!ok)
        return false;

    /* The tables last: everything above has added to them. */
    handle__json_key(j, "frames");
    handle__json_arr(j);
    for (size_t i = 0; i < t->nframes; i++) {
        const struct handle__sym_frame *f = &t->frames[i];
        handle__json_arr(j);
        handle__json_hex(j, f->pc);
        handle__json_int(j, str_id(t, f->function));
        handle__json_int(j, str_id(t, f->file));
        handle__json_int(j, f->file && f->line > 0 ? f->line : 0);
        handle__json_int(j, str_id(t, f->module ? f->module : ""));
        handle__json_hex(j, f->module_offset);
        handle__json_int(j, f->inlined);
        handle__json_arr_end(j);
    }
    handle__json_arr_end(j);
    handle__json_key(j, "stacks");
    handle__json_arr(j);
    for (size_t k = 0; k < t->nstacks; k++) {
        handle__json_arr(j);
        for (size_t i = t->stack_off[k]; i < t->stack_off[k + 1]; i++)
            handle__json_uint(j, t->stack_idx[i]);
        handle__json_arr_end(j);
    }
    handle__json_arr_end(j);
    /* Strings added above (by frames) are still listed: str_id only
     * appends. */
    handle__json_key(j, "strings");
    handle__json_arr(j);
    for (size_t i = 0; i < t->nstrs; i++)
        handle__json_str(j, t->strs[i]);
    handle__json_arr_end(j);
    handle__json_obj_end(j);
    return !t->oom;
}

/* Appends s with the characters that mean something in HTML escaped. */
static void html_text(struct handle__sb *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            handle__sb_puts(b, "&amp;");
            break;
        case '<':
            handle__sb_puts(b, "&lt;");
            break;
        case '>':
            handle__sb_puts(b, "&gt;");
            break;
        case '"':
            handle__sb_puts(b, "&quot;");
            break;
        default:
            handle__sb_putc(b, (unsigned char)*s < 0x20 ? ' ' : *s);
        }
    }
}

bool handle__rm_html(struct handle__sb *b, const struct handle__rm *m, const char *tool_version,
                     char *err, size_t errlen)
{
    struct tables t = {0};
    struct handle__sb data = {0};
    struct handle__json j;
    bool ok = false;
    t.str_map = handle__rm_map_new();
    t.frame_map = handle__rm_map_new();
    t.stack_map = handle__rm_map_new();
    if (!t.str_map || !t.frame_map || !t.stack_map) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!handle__json_init(&j, &data, 0)) {
        snprintf(err, errlen, "%s", j.errmsg);
        goto out;
    }
    char version[128];
    snprintf(version, sizeof version, "handle-report %s", tool_version);
    ok = j_document(&j, m, &t, version);
    ok = handle__json_finish(&j) && ok;
    handle__json_fini(&j);
    if (!ok) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* The template with its two holes filled: the title, and the data,
     * where "<" is written as \u003c so that nothing in a string (a tag
     * "</script>", a path "<!--") can end the script element. */
    const char *page = handle__html_page;
    const char *title = strstr(page, "@HANDLE_TITLE@");
    const char *hole = strstr(page, "@HANDLE_DATA@");
    if (title == NULL || hole == NULL || hole < title) {
        snprintf(err, errlen, "the embedded page template has no data hole");
        ok = false;
        goto out;
    }
    handle__sb_mem(b, page, (size_t)(title - page));
    const struct handle__tr_meta *mt = m->ntraces ? &m->traces[0].meta : NULL;
    const char *exe = mt && mt->exe[0] ? mt->exe : "(unknown program)";
    const char *base = strrchr(exe, '/');
    html_text(b, base && base[1] ? base + 1 : exe);
    if (m->ntraces > 1)
        handle__sb_printf(b, " and %zu more processes", m->ntraces - 1);
    else if (mt && mt->has_pid)
        handle__sb_printf(b, " (pid %" PRId64 ")", mt->pid);
    handle__sb_puts(b, " - handle-report");
    const char *after = title + strlen("@HANDLE_TITLE@");
    handle__sb_mem(b, after, (size_t)(hole - after));
    for (size_t i = 0; i < data.len; i++) {
        if (data.p[i] == '<')
            handle__sb_puts(b, "\\u003c");
        else if (data.p[i] != '\n' || i + 1 < data.len)
            handle__sb_putc(b, data.p[i]);
    }
    handle__sb_puts(b, hole + strlen("@HANDLE_DATA@"));
    ok = !b->oom;
    if (!ok)
        snprintf(err, errlen, "out of memory");
out:
    handle__sb_free(&data);
    tables_free(&t);
    return ok;
}
