/*
 * report_model.c - builds handle-report's model (report_model.h) from
 * traces: per trace, the live handles are grouped by creation stack and
 * tag (SQL on the leaks view), made into leak sites and resolved by
 * lib/report/leaks.c exactly as the exit report resolves them (symbolize,
 * suppress, order); then each unsuppressed site is merged by its key into
 * the model's sites, and the trace is closed before the next is opened, so
 * a thousand traces cost what their distinct sites cost.
 *
 * Module ids: every trace numbers its modules from 1; the symbolizer gets
 * them as base + id with a base per trace, so each (trace, module) is its
 * own registration (a library loaded at two addresses in one run stays
 * two) while the symbolizer still opens and caches each ELF file once.
 *
 * This file reads and merges; the renderers are report_text.c and
 * report_json.c.
 */
#include "report_model.h"
#include "demangle.h"
#include "sort.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* No module: an id never registered, so the symbolizer gives a frame
 * without a module instead of searching every trace's modules by address. */
#define NO_MODULE UINT32_MAX

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

/* memcpy that accepts NULL pointers for an empty copy (memcpy does not). */
static void copy(void *dst, const void *src, size_t n)
{
    if (n)
        memcpy(dst, src, n);
}

/* ---- a string-keyed hash table ------------------------------------------- */

struct ment {
    char *key;
    size_t len;
    uint64_t hash;
    size_t val;
};

struct handle__rm_map {
    struct ment *e;
    size_t n, cap_e;
    uint32_t *slot; /* entry index + 1; 0 empty */
    size_t cap;     /* power of two */
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 31;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 29);
}

static struct handle__rm_map *map_new(void)
{
    return calloc(1, sizeof(struct handle__rm_map));
}

static void map_free(struct handle__rm_map *mp)
{
    if (mp == NULL)
        return;
    for (size_t i = 0; i < mp->n; i++)
        free(mp->e[i].key);
    free(mp->e);
    free(mp->slot);
    free(mp);
}

static struct ment *map_find(const struct handle__rm_map *mp, const char *k, size_t len)
{
    if (mp->cap == 0)
        return NULL;
    uint64_t h = hash_bytes(k, len);
    size_t mask = mp->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t v = mp->slot[i];
        if (v == 0)
            return NULL;
        struct ment *e = &mp->e[v - 1];
        if (e->hash == h && e->len == len && memcmp(e->key, k, len) == 0)
            return e;
    }
}

/* Adds k (not present) with val; NULL when out of memory. */
static struct ment *map_put(struct handle__rm_map *mp, const char *k, size_t len, size_t val)
{
    if ((mp->n + 1) * 2 > mp->cap) {
        size_t ncap = mp->cap ? mp->cap * 2 : 64;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return NULL;
        for (size_t k2 = 0; k2 < mp->n; k2++) {
            size_t i = mp->e[k2].hash & (ncap - 1);
            while (ns[i])
                i = (i + 1) & (ncap - 1);
            ns[i] = (uint32_t)(k2 + 1);
        }
        free(mp->slot);
        mp->slot = ns;
        mp->cap = ncap;
    }
    if (!handle__grow(&mp->e, &mp->cap_e, mp->n + 1, sizeof *mp->e))
        return NULL;
    char *c = malloc(len + 1);
    if (c == NULL)
        return NULL;
    memcpy(c, k, len);
    c[len] = '\0';
    uint64_t h = hash_bytes(k, len);
    mp->e[mp->n] = (struct ment){c, len, h, val};
    size_t i = h & (mp->cap - 1);
    while (mp->slot[i])
        i = (i + 1) & (mp->cap - 1);
    mp->slot[i] = (uint32_t)++mp->n;
    return &mp->e[mp->n - 1];
}

struct handle__rm_map *handle__rm_map_new(void)
{
    return map_new();
}

void handle__rm_map_free(struct handle__rm_map *mp)
{
    map_free(mp);
}

bool handle__rm_map_get(struct handle__rm_map *mp, const void *k, size_t len, size_t val_if_new,
                        size_t *val, bool *added)
{
    const char *key = len ? k : "";
    struct ment *e = map_find(mp, key, len);
    *added = e == NULL;
    if (e == NULL)
        e = map_put(mp, key, len, val_if_new);
    if (e == NULL)
        return false;
    *val = e->val;
    return true;
}

/* The model's copy of s (equal strings share it); NULL for NULL. Out of
 * memory: NULL, and oom is set. */
static const char *intern(struct handle__rm *m, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t len = strlen(s);
    struct ment *e = map_find(m->strings, s, len);
    if (e == NULL)
        e = map_put(m->strings, s, len, 0);
    if (e == NULL) {
        m->oom = true;
        return NULL;
    }
    return e->key;
}

/* ---- life cycle ---------------------------------------------------------- */

struct handle__rm *handle__rm_new(struct handle__symbolizer *sym, struct handle__supp *supp,
                                  bool want_stats)
{
    struct handle__rm *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->sym = sym;
    m->supp = supp;
    m->want_stats = want_stats;
    m->next_module = 1;
    m->strings = map_new();
    m->site_keys = map_new();
    m->stat_keys = map_new();
    m->baseline_keys = map_new();
    if (!m->strings || !m->site_keys || !m->stat_keys || !m->baseline_keys) {
        handle__rm_free(m);
        return NULL;
    }
    return m;
}

void handle__rm_free(struct handle__rm *m)
{
    if (m == NULL)
        return;
    handle__leaks_release(m->sites, m->nsites);
    for (size_t i = 0; i < m->nsites; i++) {
        free((void *)m->sites[i].pcs);
        free((void *)m->sites[i].modules);
    }
    free(m->sites);
    handle__leaks_release(m->live, m->nlive);
    for (size_t i = 0; i < m->nlive; i++) {
        free((void *)m->live[i].pcs);
        free((void *)m->live[i].modules);
    }
    free(m->live);
    for (size_t i = 0; i < m->ntsupp; i++)
        handle__supp_free(m->tsupp[i].supp);
    free(m->tsupp);
    for (size_t i = 0; i < m->nerrors; i++) {
        free(m->errors[i].stack.f);
        free(m->errors[i].created.f);
        free(m->errors[i].deleted.f);
    }
    free(m->errors);
    for (size_t i = 0; i < m->nstats; i++) {
        free(m->stats[i].frames.f);
        free(m->stats[i].life);
        free(m->stats[i].born);
        free(m->stats[i].died);
    }
    free(m->site_stat);
    free(m->stat_of_serial);
    free(m->stats);
    free(m->traces);
    free(m->notes);
    free(m->gmod_path);
    free(m->gmod_used);
    free(m->gmod_trace);
    free(m->gmod_tpath);
    free(m->side);
    map_free(m->strings);
    map_free(m->site_keys);
    map_free(m->stat_keys);
    map_free(m->baseline_keys);
    free(m);
}

/* ---- one trace's modules --------------------------------------------------- */

struct tctx {
    struct handle__rm *m;
    struct handle__tr *t;
    size_t index;                 /* in m->traces */
    const char *path;             /* interned */
    int64_t abs0;                 /* started_at, or 0 */
    const struct handle__tr_module *mods; /* ordered by id */
    size_t nmods;
    uint32_t base;                /* mods[i] has global id base + 1 + i */
    /* With detail: the leak groups and, per group, the merged site its
     * handles went to (SIZE_MAX: suppressed), for handle__rm_site_stat. */
    const struct handle__tr_group *lg;
    size_t nlg;
    size_t *lg_site;
    bool live;                    /* the process still runs: live, not leaks */
};

/* A time of trace c (ns since its start) as Unix ns; it wraps instead of
 * overflowing for a damaged trace's times. */
static int64_t abs_ns(const struct tctx *c, int64_t ns)
{
    return (int64_t)((uint64_t)c->abs0 + (uint64_t)ns);
}

/* Registers the trace's modules with the symbolizer under fresh global
 * ids, dense whatever the trace's ids are. */
/* A row group of the trace's symbols table into the symbolizer, for the
 * modules whose file is gone or changed. */
static void stored_frames(void *ctx, uint32_t module, uint64_t offset,
                          const struct handle__tr_symbol *f, size_t n)
{
    struct tctx *c = ctx;
    /* the global id, as gmod() maps it (the first row with that id) */
    size_t lo = 0, hi = c->nmods;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->mods[mid].id < module)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == c->nmods || c->mods[lo].id != module)
        return;
    uint32_t g = c->base + 1 + (uint32_t)lo;
    struct handle__sym_frame fr[HANDLE__TR_SYMBOL_MAX];
    for (size_t i = 0; i < n; i++)
        fr[i] = (struct handle__sym_frame){
            .function = f[i].function,
            .file = f[i].file,
            .line = f[i].line,
            .column = f[i].column,
            .module = "",
            .inlined = f[i].inlined,
        };
    handle__sym_add_stored(c->m->sym, g, offset, fr, n);
}

static bool register_modules(struct tctx *c, char *err, size_t errlen)
{
    struct handle__rm *m = c->m;
    if (!handle__tr_modules(c->t, &c->mods, &c->nmods, err, errlen))
        return false;
    if ((uint64_t)m->next_module + c->nmods + 1 >= NO_MODULE) {
        setf(err, errlen, "too many modules in all traces together");
        return false;
    }
    c->base = m->next_module - 1;
    m->next_module += (uint32_t)c->nmods;
    if (!handle__grow(&m->gmod_path, &m->capgmod, m->next_module, sizeof *m->gmod_path)) {
        setf(err, errlen, "out of memory");
        return false;
    }
    bool *nu = realloc(m->gmod_used, m->capgmod * sizeof *nu);
    if (nu == NULL) {
        setf(err, errlen, "out of memory");
        return false;
    }
    m->gmod_used = nu;
    size_t *nt = realloc(m->gmod_trace, m->capgmod * sizeof *nt);
    if (nt)
        m->gmod_trace = nt;
    const char **np = nt ? realloc(m->gmod_tpath, m->capgmod * sizeof *np) : NULL;
    if (np == NULL) {
        setf(err, errlen, "out of memory");
        return false;
    }
    m->gmod_tpath = np;
    for (size_t i = 0; i < c->nmods; i++) {
        const struct handle__tr_module *md = &c->mods[i];
        uint32_t g = c->base + 1 + (uint32_t)i;
        m->gmod_path[g] = intern(m, md->path);
        m->gmod_used[g] = false;
        m->gmod_trace[g] = c->index;
        m->gmod_tpath[g] = c->path;
        handle__sym_add_module(m->sym, g, md->path, md->build_id, (uintptr_t)md->bias,
                               (uintptr_t)md->lo, (uintptr_t)md->hi);
    }
    return handle__tr_symbols(c->t, stored_frames, c, err, errlen);
}

/* The global module id of a frame: its recorded module (the first of the
 * trace's rows with that id), or for an unknown one (0: the runtime did
 * not know it at capture time) the newest module of this trace whose
 * range holds pc, as the runtime's own report does. */
static uint32_t gmod(struct tctx *c, uint32_t local, uintptr_t pc)
{
    uint32_t g = NO_MODULE;
    size_t lo = 0, hi = c->nmods;
    while (lo < hi) { /* the first module with id >= local */
        size_t mid = lo + (hi - lo) / 2;
        if (c->mods[mid].id < local)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (local != 0 && lo < c->nmods && c->mods[lo].id == local) {
        g = c->base + 1 + (uint32_t)lo;
    } else {
        for (size_t i = c->nmods; i-- > 0;)
            if (pc >= c->mods[i].lo && pc < c->mods[i].hi) {
                g = c->base + 1 + (uint32_t)i;
                break;
            }
    }
    if (g != NO_MODULE)
        c->m->gmod_used[g] = true;
    return g;
}

/* Symbolizes stack id into out (frames malloc'ed; none for no stack). */
static bool resolve_stack(struct tctx *c, uint32_t id, struct handle__rm_frames *out)
{
    *out = (struct handle__rm_frames){0};
    struct handle__tr_stack st;
    if (!handle__tr_stack(c->t, id, &st))
        return true;
    size_t cap = (size_t)st.depth * 2 + 4;
    out->f = malloc(cap * sizeof *out->f);
    if (out->f == NULL)
        return false;
    for (uint32_t d = 0; d < st.depth; d++) {
        struct handle__sym_frame tmp[HANDLE__SYM_MAX_INLINE];
        size_t k = handle__sym_pc(c->m->sym, gmod(c, st.modules[d], st.pcs[d]), st.pcs[d], tmp,
                                  HANDLE__SYM_MAX_INLINE);
        if (!handle__grow(&out->f, &cap, out->n + k, sizeof *out->f))
            return false;
        memcpy(out->f + out->n, tmp, k * sizeof *tmp);
        out->n += k;
    }
    return true;
}

/* ---- site keys ----------------------------------------------------------- */

static const char *base_name(const char *p)
{
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p ? p : "";
}

/* Appends the base key of a site: its tag and, for each frame that has
 * both, its function without parameters and its source file's base name
 * (none has both: each frame's function, if known, and module name).
 * The separators are control characters no symbol or path holds. */
void handle__rm_key(struct handle__sb *b, const char *tag, const struct handle__sym_frame *f,
                    size_t n)
{
    if (tag) {
        handle__sb_putc(b, 'T');
        handle__sb_puts(b, tag);
    } else {
        handle__sb_putc(b, 'N');
    }
    /* SPEC section 6: over the frames that have both a function and a
     * source file, the function without its parameter list (C++ names
     * are demangled with them) and the file's base name; never an
     * address, a line or a module, which a rebuild or another machine
     * changes. */
    size_t both = 0;
    for (size_t i = 0; i < n; i++) {
        if (!f[i].function || !f[i].file)
            continue;
        handle__sb_putc(b, '\x1e');
        handle__sb_mem(b, f[i].function, handle__fn_base_len(f[i].function));
        handle__sb_putc(b, '\x1f');
        handle__sb_puts(b, base_name(f[i].file));
        both++;
    }
    if (both)
        return;
    /* No frame has both (nothing symbolized): the functions known and
     * the modules' file names, so that unsymbolized sites do not all
     * match each other. */
    for (size_t i = 0; i < n; i++) {
        handle__sb_putc(b, '\x1d');
        if (f[i].function)
            handle__sb_mem(b, f[i].function, handle__fn_base_len(f[i].function));
        handle__sb_putc(b, '\x1f');
        handle__sb_puts(b, base_name(f[i].module));
    }
}

struct keyed {
    const struct handle__leak_site *site;
    size_t off, len; /* the base key in the key buffer */
    uint32_t ordinal;
};

/* Orders keyed sites by base key, then by where their frames are in the
 * code (module offsets, frame #0 first), so that the n-th call in one
 * function gets the same ordinal in every process of one build. */
static int keyed_cmp(const void *a, const void *b, void *ctx)
{
    const struct keyed *x = a, *y = b;
    const char *buf = ctx;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(buf + x->off, buf + y->off, n);
    if (c != 0)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    const struct handle__sym_frame *fx = x->site->frames, *fy = y->site->frames;
    size_t nx = x->site->nframes, ny = y->site->nframes;
    for (size_t i = 0; i < nx && i < ny; i++)
        if (fx[i].module_offset != fy[i].module_offset)
            return fx[i].module_offset < fy[i].module_offset ? -1 : 1;
    if (nx != ny)
        return nx < ny ? -1 : 1;
    for (uint32_t i = 0; i < x->site->depth && i < y->site->depth; i++)
        if (x->site->pcs[i] != y->site->pcs[i])
            return x->site->pcs[i] < y->site->pcs[i] ? -1 : 1;
    return 0;
}

/* Keys for the unsuppressed sites among s[0..n): base keys in kb, sorted,
 * with ordinals. *out is malloc'ed. */
static bool make_keys(const struct handle__leak_site *s, size_t n, struct handle__sb *kb,
                      struct keyed **out, size_t *nout)
{
    struct keyed *k = malloc((n ? n : 1) * sizeof *k);
    if (k == NULL)
        return false;
    size_t nk = 0;
    handle__sb_reset(kb);
    for (size_t i = 0; i < n; i++) {
        if (s[i].suppressed_by >= 0 || s[i].count == 0)
            continue;
        size_t off = kb->len;
        handle__rm_key(kb, s[i].tag, s[i].frames, s[i].nframes);
        k[nk++] = (struct keyed){&s[i], off, kb->len - off, 0};
    }
    if (kb->oom) {
        free(k);
        return false;
    }
    qsort_r(k, nk, sizeof *k, keyed_cmp, kb->p);
    for (size_t i = 1; i < nk; i++)
        if (k[i].len == k[i - 1].len && memcmp(kb->p + k[i].off, kb->p + k[i - 1].off, k[i].len) == 0)
            k[i].ordinal = k[i - 1].ordinal + 1;
    *out = k;
    *nout = nk;
    return true;
}

/* The full key of k in fb: the base key and the ordinal. */
static void full_key(struct handle__sb *fb, const struct handle__sb *kb, const struct keyed *k)
{
    handle__sb_reset(fb);
    handle__sb_mem(fb, kb->p + k->off, k->len);
    handle__sb_printf(fb, "\x1c%u", k->ordinal);
}

/* ---- leak sites ---------------------------------------------------------- */

/* Builds sites for groups g[0..n) of trace c (stacks loaded); the module
 * ids go into *mods (malloc'ed, one run per site). */
static bool raw_sites(struct tctx *c, const struct handle__tr_group *g, size_t n,
                      struct handle__leak_site **out, uint32_t **mods)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        struct handle__tr_stack st;
        handle__tr_stack(c->t, g[i].stack, &st);
        total += st.depth;
    }
    struct handle__leak_site *s = calloc(n ? n : 1, sizeof *s);
    uint32_t *mm = malloc((total ? total : 1) * sizeof *mm);
    if (s == NULL || mm == NULL) {
        free(s);
        free(mm);
        return false;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct handle__tr_stack st;
        handle__tr_stack(c->t, g[i].stack, &st);
        for (uint32_t d = 0; d < st.depth; d++)
            mm[off + d] = gmod(c, st.modules[d], st.pcs[d]);
        s[i] = (struct handle__leak_site){
            .count = g[i].count,
            .tag = handle__tr_tag(c->t, g[i].tag),
            .first_ns = (uint64_t)g[i].first_ns,
            .order = i,
            .depth = st.depth,
            .pcs = st.pcs,
            .modules = mm + off,
            .suppressed_by = -1,
        };
        off += st.depth;
    }
    *out = s;
    *mods = mm;
    return true;
}

/* Merges the resolved sites of one trace into the model. */
static bool merge_sites(struct tctx *c, struct handle__leak_site *s, size_t n)
{
    struct handle__rm *m = c->m;
    struct handle__rm_trace *tr = &m->traces[c->index];
    struct handle__sb kb = {0}, fb = {0};
    struct keyed *k = NULL;
    size_t nk = 0;
    bool ok = make_keys(s, n, &kb, &k, &nk);
    for (size_t i = 0; ok && i < nk; i++) {
        const struct handle__leak_site *r = k[i].site;
        if (c->live) {
            tr->live += r->count;
        } else {
            tr->leaked += r->count;
            tr->leak_sites++;
        }
        full_key(&fb, &kb, &k[i]);
        if (c->live) /* never merged with leaks */
            handle__sb_puts(&fb, "\x1dlive");
        if (fb.oom) {
            ok = false;
            break;
        }
        uint64_t abs = (uint64_t)c->abs0 + r->first_ns;
        struct ment *e = map_find(m->site_keys, fb.p, fb.len);
        if (c->lg_site && r->order < c->nlg)
            c->lg_site[r->order] = e ? e->val : m->nsites;
        if (e != NULL) {
            struct handle__leak_site *d = &m->sites[e->val];
            d->count += r->count;
            if (abs < d->first_ns)
                d->first_ns = abs;
            if (m->side[e->val].last != c->index) {
                m->side[e->val].last = c->index;
                d->processes++;
            }
            continue;
        }
        size_t idx = m->nsites;
        if (!handle__grow(&m->sites, &m->capsites, idx + 1, sizeof *m->sites) ||
            !handle__grow(&m->side, &m->capside, idx + 1, sizeof *m->side)) {
            ok = false;
            break;
        }
        uintptr_t *pcs = malloc((r->depth ? r->depth : 1) * sizeof *pcs);
        uint32_t *mods = malloc((r->depth ? r->depth : 1) * sizeof *mods);
        char *base = malloc(k[i].len + 1);
        if (pcs == NULL || mods == NULL || base == NULL) {
            free(pcs);
            free(mods);
            free(base);
            ok = false;
            break;
        }
        copy(pcs, r->pcs, r->depth * sizeof *pcs);
        copy(mods, r->modules, r->depth * sizeof *mods);
        memcpy(base, kb.p + k[i].off, k[i].len);
        base[k[i].len] = '\0';
        const char *ib = intern(m, base);
        free(base);
        if (map_put(m->site_keys, fb.p, fb.len, idx) == NULL || ib == NULL) {
            free(pcs);
            free(mods);
            ok = false;
            break;
        }
        m->sites[idx] = (struct handle__leak_site){
            .count = r->count,
            .tag = intern(m, r->tag),
            .first_ns = abs,
            .order = idx,
            .depth = r->depth,
            .pcs = pcs,
            .modules = mods,
            .processes = 1,
            .example = c->path,
            .suppressed_by = -1,
        };
        m->side[idx] = (struct handle__rm_side){ib, c->index, c->live};
        m->nsites++;
    }
    free(k);
    handle__sb_free(&kb);
    handle__sb_free(&fb);
    return ok;
}

/* ---- errors -------------------------------------------------------------- */

static bool add_errors(struct tctx *c, const struct handle__tr_error *e, size_t n)
{
    struct handle__rm *m = c->m;
    for (size_t i = 0; i < n; i++) {
        if (!handle__grow(&m->errors, &m->caperrors, m->nerrors + 1, sizeof *m->errors))
            return false;
        struct handle__rm_error *o = &m->errors[m->nerrors];
        *o = (struct handle__rm_error){
            .trace = c->index,
            .kind = intern(m, e[i].kind),
            .message = intern(m, e[i].message),
            .tag = intern(m, e[i].tag),
            .handle = e[i].handle,
            .at_ns = e[i].at_ns,
            .thread = e[i].thread,
            .created_thread = e[i].created_thread,
            .deleted_thread = e[i].deleted_thread,
            .has_created = e[i].created_stack != 0,
            .has_deleted = e[i].deleted_stack != 0,
        };
        m->nerrors++; /* counted now, so that handle__rm_free frees what follows */
        if (!resolve_stack(c, e[i].stack, &o->stack) ||
            !resolve_stack(c, e[i].created_stack, &o->created) ||
            !resolve_stack(c, e[i].deleted_stack, &o->deleted))
            return false;
        if (o->kind == NULL || o->message == NULL)
            return false;
    }
    m->traces[c->index].errors = n;
    return true;
}

/* ---- statistics ---------------------------------------------------------- */

struct sgrp {
    uint32_t stack, tag;
    uint64_t created, deleted;
    int64_t first_ns;
    int64_t *c, *d;        /* creation and deletion times */
    size_t capc, capd;
    uint64_t *life;
    size_t nlife, caplife;
    uint64_t peak;
};

struct sgroups {
    struct sgrp *g;
    size_t n, cap;
    uint32_t *slot;        /* index + 1 */
    size_t scap;
    bool oom;
};

static uint64_t sg_hash(uint32_t stack, uint32_t tag)
{
    uint64_t x = ((uint64_t)stack << 32 | tag) * 0x9e3779b97f4a7c15ULL;
    return x ^ (x >> 29);
}

static struct sgrp *sg_get(struct sgroups *s, uint32_t stack, uint32_t tag)
{
    uint64_t h = sg_hash(stack, tag);
    if (s->scap) {
        size_t mask = s->scap - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
            uint32_t v = s->slot[i];
            if (v == 0)
                break;
            if (s->g[v - 1].stack == stack && s->g[v - 1].tag == tag)
                return &s->g[v - 1];
        }
    }
    if ((s->n + 1) * 2 > s->scap) {
        size_t ncap = s->scap ? s->scap * 2 : 256;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return NULL;
        for (size_t k = 0; k < s->n; k++) {
            size_t i = sg_hash(s->g[k].stack, s->g[k].tag) & (ncap - 1);
            while (ns[i])
                i = (i + 1) & (ncap - 1);
            ns[i] = (uint32_t)(k + 1);
        }
        free(s->slot);
        s->slot = ns;
        s->scap = ncap;
    }
    if (!handle__grow(&s->g, &s->cap, s->n + 1, sizeof *s->g))
        return NULL;
    s->g[s->n] = (struct sgrp){.stack = stack, .tag = tag, .first_ns = INT64_MAX};
    size_t i = h & (s->scap - 1);
    while (s->slot[i])
        i = (i + 1) & (s->scap - 1);
    s->slot[i] = (uint32_t)++s->n;
    return &s->g[s->n - 1];
}

static bool on_life(void *ctx, const struct handle__tr_life *l)
{
    struct sgroups *s = ctx;
    struct sgrp *g = sg_get(s, l->stack, l->tag);
    size_t capc = g ? g->capc : 0;
    if (g == NULL || !handle__grow(&g->c, &capc, g->created + 1, sizeof *g->c)) {
        s->oom = true;
        return false;
    }
    g->capc = capc;
    g->c[g->created++] = l->created_ns;
    if (l->created_ns < g->first_ns)
        g->first_ns = l->created_ns;
    if (l->deleted) {
        if (!handle__grow(&g->d, &g->capd, g->deleted + 1, sizeof *g->d) ||
            !handle__grow(&g->life, &g->caplife, g->nlife + 1, sizeof *g->life)) {
            s->oom = true;
            return false;
        }
        g->d[g->deleted++] = l->deleted_ns;
        g->life[g->nlife++] =
            l->deleted_ns > l->created_ns ? (uint64_t)(l->deleted_ns - l->created_ns) : 0;
    }
    return true;
}

/* The most handles of g live at once: creations and deletions in time
 * order, a deletion first when both happen in the same nanosecond. */
static uint64_t peak_live(struct sgrp *g)
{
    handle__sort_i64(g->c, g->created);
    handle__sort_i64(g->d, g->deleted);
    uint64_t live = 0, peak = 0;
    size_t i = 0, j = 0;
    while (i < g->created) {
        if (j < g->deleted && g->d[j] <= g->c[i]) {
            if (live)
                live--;
            j++;
        } else {
            live++;
            i++;
            if (live > peak)
                peak = live;
        }
    }
    return peak;
}

static void sgroups_free(struct sgroups *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->g[i].c);
        free(s->g[i].d);
        free(s->g[i].life);
    }
    free(s->g);
    free(s->slot);
    *s = (struct sgroups){0};
}

/* Orders leak group indices by (stack, tag). */
static int lg_cmp(const void *a, const void *b, void *ctx)
{
    const struct handle__tr_group *g = ctx;
    const struct handle__tr_group *x = &g[*(const size_t *)a], *y = &g[*(const size_t *)b];
    if (x->stack != y->stack)
        return x->stack < y->stack ? -1 : 1;
    return x->tag < y->tag ? -1 : x->tag > y->tag;
}

/* With detail: adds group sg's times (made absolute) and lifetimes to st,
 * and links the leak site of the same stack and tag to st. lg_order: the
 * leak groups' indices ordered by lg_cmp (NULL: none). */
static bool add_detail(struct tctx *c, struct handle__rm_stat *st, const struct sgrp *sg,
                       const size_t *lg_order)
{
    struct handle__rm *m = c->m;
    if (!handle__grow(&st->born, &st->capborn, st->nborn + sg->created, sizeof *st->born) ||
        !handle__grow(&st->died, &st->capdied, st->ndied + sg->deleted, sizeof *st->died))
        return false;
    for (uint64_t i = 0; i < sg->created; i++)
        st->born[st->nborn++] = abs_ns(c, sg->c[i]);
    for (uint64_t i = 0; i < sg->deleted; i++)
        st->died[st->ndied++] = abs_ns(c, sg->d[i]);
    for (size_t i = 0; i < sg->nlife; i++) {
        uint64_t v = sg->life[i];
        st->hist[v ? 63 - __builtin_clzll(v) : 0]++;
    }
    if (lg_order == NULL)
        return true;
    size_t lo = 0, hi = c->nlg;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct handle__tr_group *g = &c->lg[lg_order[mid]];
        if (g->stack < sg->stack || (g->stack == sg->stack && g->tag < sg->tag))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == c->nlg)
        return true;
    size_t gi = lg_order[lo];
    if (c->lg[gi].stack != sg->stack || c->lg[gi].tag != sg->tag || c->lg_site[gi] == SIZE_MAX)
        return true;
    size_t site = c->lg_site[gi];
    if (!handle__grow(&m->site_stat, &m->capsite_stat, site + 1, sizeof *m->site_stat))
        return false;
    for (size_t k = m->nsite_stat; k <= site; k++)
        m->site_stat[k] = 0;
    if (site + 1 > m->nsite_stat)
        m->nsite_stat = site + 1;
    if (m->site_stat[site] == 0)
        m->site_stat[site] = st->serial + 1;
    return true;
}

/* Reads every lifetime of the trace and merges per-site statistics. */
static bool add_stats(struct tctx *c, char *err, size_t errlen)
{
    struct handle__rm *m = c->m;
    struct sgroups s = {0};
    bool ok = handle__tr_lifetimes(c->t, on_life, &s, err, errlen);
    if (!ok && s.oom)
        setf(err, errlen, "out of memory");
    uint32_t *ids = NULL;
    struct handle__leak_site *raw = NULL;
    uint32_t *mods = NULL;
    struct handle__tr_group *g = NULL;
    if (ok) {
        ids = malloc((s.n ? s.n : 1) * sizeof *ids);
        g = malloc((s.n ? s.n : 1) * sizeof *g);
        ok = ids && g;
        if (!ok)
            setf(err, errlen, "out of memory");
    }
    if (ok) {
        for (size_t i = 0; i < s.n; i++) {
            ids[i] = s.g[i].stack;
            s.g[i].peak = peak_live(&s.g[i]);
            g[i] = (struct handle__tr_group){s.g[i].stack, s.g[i].tag, s.g[i].created,
                                             s.g[i].first_ns};
        }
        ok = handle__tr_load_stacks(c->t, ids, s.n, err, errlen);
    }
    if (ok && !(ok = raw_sites(c, g, s.n, &raw, &mods)))
        setf(err, errlen, "out of memory");
    if (ok) {
        /* Out of memory there leaves a site without frames: a stats line
         * saying "no stack recorded" would be wrong. */
        ok = handle__leaks_resolve(m->sym, NULL, raw, s.n);
        struct handle__sb kb = {0}, fb = {0};
        struct keyed *k = NULL;
        size_t nk = 0;
        ok = ok && make_keys(raw, s.n, &kb, &k, &nk);
        size_t *lg_order = NULL;
        if (ok && m->want_detail && c->lg_site) {
            lg_order = malloc((c->nlg ? c->nlg : 1) * sizeof *lg_order);
            ok = lg_order != NULL;
            for (size_t i = 0; ok && i < c->nlg; i++)
                lg_order[i] = i;
            if (ok && c->nlg > 1)
                qsort_r(lg_order, c->nlg, sizeof *lg_order, lg_cmp, (void *)c->lg);
        }
        for (size_t i = 0; ok && i < nk; i++) {
            const struct handle__leak_site *r = k[i].site;
            struct sgrp *sg = &s.g[r->order];
            full_key(&fb, &kb, &k[i]);
            struct ment *e = fb.oom ? NULL : map_find(m->stat_keys, fb.p, fb.len);
            struct handle__rm_stat *st;
            if (e != NULL) {
                st = &m->stats[e->val];
            } else {
                if (fb.oom || !handle__grow(&m->stats, &m->capstats, m->nstats + 1, sizeof *m->stats) ||
                    map_put(m->stat_keys, fb.p, fb.len, m->nstats) == NULL) {
                    ok = false;
                    break;
                }
                st = &m->stats[m->nstats++];
                *st = (struct handle__rm_stat){.tag = intern(m, r->tag), .first_abs = INT64_MAX,
                                               .serial = m->nstats - 1};
                st->frames.f = malloc((r->nframes ? r->nframes : 1) * sizeof *st->frames.f);
                if (st->frames.f == NULL) {
                    ok = false;
                    break;
                }
                copy(st->frames.f, r->frames, r->nframes * sizeof *r->frames);
                st->frames.n = r->nframes;
            }
            st->created += sg->created;
            st->deleted += sg->deleted;
            st->live += sg->created - sg->deleted;
            if (sg->peak > st->peak)
                st->peak = sg->peak;
            st->processes++;
            int64_t first = abs_ns(c, sg->first_ns);
            if (first < st->first_abs)
                st->first_abs = first;
            if (!handle__grow(&st->life, &st->caplife, st->nlife + sg->nlife, sizeof *st->life)) {
                ok = false;
                break;
            }
            if (sg->nlife > 0) /* st->life may be NULL: no offset on it */
                copy(st->life + st->nlife, sg->life, sg->nlife * sizeof *sg->life);
            st->nlife += sg->nlife;
            if (m->want_detail && !(ok = add_detail(c, st, sg, lg_order)))
                break;
        }
        if (!ok)
            setf(err, errlen, "out of memory");
        free(lg_order);
        free(k);
        handle__sb_free(&kb);
        handle__sb_free(&fb);
        handle__leaks_release(raw, s.n);
    }
    free(raw);
    free(mods);
    free(ids);
    free(g);
    sgroups_free(&s);
    return ok;
}

/* ---- traces -------------------------------------------------------------- */

static void copy_meta(struct handle__rm *m, struct handle__tr_meta *d,
                      const struct handle__tr_meta *s)
{
    *d = *s;
    d->exe = intern(m, s->exe);
    d->cmdline = intern(m, s->cmdline);
    d->boot_id = intern(m, s->boot_id);
    d->incomplete = s->incomplete ? intern(m, s->incomplete) : NULL;
    if (s->incomplete && d->incomplete == NULL)
        d->incomplete = "reason not recorded";
    d->suppressions = NULL; /* parsed into m->tsupp; not kept twice */
    if (d->exe == NULL)
        d->exe = "";
    if (d->cmdline == NULL)
        d->cmdline = "";
    if (d->boot_id == NULL)
        d->boot_id = "";
}

/* The parsed suppressions the trace recorded (meta suppressions) in *out,
 * NULL for none; one parse per distinct text. False with a reason. */
static bool trace_supp(struct handle__rm *m, const struct handle__tr_meta *mt,
                       struct handle__supp **out, char *err, size_t errlen)
{
    *out = NULL;
    if (mt->suppressions == NULL || mt->suppressions[0] == '\0')
        return true;
    for (size_t i = 0; i < m->ntsupp; i++)
        if (strcmp(m->tsupp[i].text, mt->suppressions) == 0) {
            *out = m->tsupp[i].supp;
            return true;
        }
    char why[512];
    struct handle__supp *sp =
        handle__supp_parse(mt->suppressions, "its recorded suppressions", why, sizeof why);
    if (sp == NULL) {
        handle__one_line(why, 300);
        setf(err, errlen, "bad trace: %s", why);
        return false;
    }
    const char *text = intern(m, mt->suppressions);
    if (text == NULL ||
        !handle__grow(&m->tsupp, &m->captsupp, m->ntsupp + 1, sizeof *m->tsupp)) {
        handle__supp_free(sp);
        setf(err, errlen, "out of memory");
        return false;
    }
    m->tsupp[m->ntsupp++] = (struct handle__rm_tsupp){text, sp};
    *out = sp;
    return true;
}

/* What the report says of the trace's end: still running (and since when
 * its last commit), or incomplete - from meta incomplete, or told from
 * what is missing: no ended_at although the writer closed the file (a
 * killed writer leaves its -wal; a finished one writes ended_at). Only
 * for traces of a runtime that records last_commit_ns: that runtime closes
 * its file before the end only when its writer gives up; traces without
 * it (older runtimes, hand-made ones) are read as before, a missing
 * ended_at being a crash or a kill. */
static void trace_state(struct handle__rm *m, struct handle__rm_trace *tr)
{
    const struct handle__tr_meta *mt = &tr->meta;
    if (mt->has_last_commit) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        tr->commit_age_ns = now > mt->last_commit_ns ? now - mt->last_commit_ns : 0;
    }
    if (mt->incomplete)
        tr->incomplete = mt->incomplete;
    else if (!mt->has_ended && mt->closed && mt->has_last_commit)
        tr->incomplete = intern(m, tr->running
                                       ? "its writer closed it while the process runs on"
                                       : "its writer closed it before the process ended, "
                                         "without ended_at");
}

bool handle__rm_add_trace(struct handle__rm *m, const char *path, char *err, size_t errlen)
{
    struct tctx c = {.m = m, .index = m->ntraces};
    c.t = handle__tr_open(path, err, errlen);
    if (c.t == NULL)
        return false;
    bool ok = false;
    struct handle__leak_site *raw = NULL;
    uint32_t *mods = NULL, *ids = NULL;
    const struct handle__tr_group *g;
    const struct handle__tr_error *e;
    size_t ng = 0, ne = 0;
    c.path = intern(m, path);
    if (c.path == NULL || !handle__grow(&m->traces, &m->captraces, m->ntraces + 1, sizeof *m->traces)) {
        setf(err, errlen, "out of memory");
        goto out;
    }
    const struct handle__tr_meta *meta = handle__tr_meta(c.t);
    c.abs0 = meta->has_started ? meta->started_at : 0;
    c.live = handle__tr_running(meta);
    struct handle__supp *tsupp = NULL;
    if (!trace_supp(m, meta, &tsupp, err, errlen))
        goto out;
    if (!register_modules(&c, err, errlen) || !handle__tr_leak_groups(c.t, &g, &ng, err, errlen) ||
        !handle__tr_errors(c.t, &e, &ne, err, errlen))
        goto out;
    if (m->want_detail) {
        c.lg = g;
        c.nlg = ng;
        c.lg_site = malloc((ng ? ng : 1) * sizeof *c.lg_site);
        if (c.lg_site == NULL) {
            setf(err, errlen, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < ng; i++)
            c.lg_site[i] = SIZE_MAX;
    }
    ids = malloc((ng + 3 * ne + 1) * sizeof *ids);
    if (ids == NULL) {
        setf(err, errlen, "out of memory");
        goto out;
    }
    size_t nids = 0;
    for (size_t i = 0; i < ng; i++)
        ids[nids++] = g[i].stack;
    for (size_t i = 0; i < ne; i++) {
        ids[nids++] = e[i].stack;
        ids[nids++] = e[i].created_stack;
        ids[nids++] = e[i].deleted_stack;
    }
    if (!handle__tr_load_stacks(c.t, ids, nids, err, errlen))
        goto out;
    if (!raw_sites(&c, g, ng, &raw, &mods)) {
        setf(err, errlen, "out of memory");
        goto out;
    }
    /* From here on the trace is part of the model. */
    struct handle__rm_trace *tr = &m->traces[m->ntraces++];
    *tr = (struct handle__rm_trace){.path = c.path, .running = c.live, .commit_age_ns = -1};
    copy_meta(m, &tr->meta, meta);
    trace_state(m, tr);
    bool merged = handle__leaks_resolve(m->sym, m->supp, raw, ng);
    /* The suppressions in force during the run apply to its own sites. */
    for (size_t i = 0; merged && tsupp && i < ng; i++) {
        if (raw[i].suppressed_by >= 0)
            continue;
        int k = handle__supp_match(tsupp, raw[i].frames, raw[i].nframes);
        if (k >= 0) {
            raw[i].suppressed_by = k;
            handle__supp_add_hits(tsupp, (size_t)k, raw[i].count);
        }
    }
    merged = merged && merge_sites(&c, raw, ng);
    handle__leaks_release(raw, ng);
    if (!merged || !add_errors(&c, e, ne)) {
        setf(err, errlen, "out of memory");
        goto out;
    }
    if (m->want_stats && !add_stats(&c, err, errlen))
        goto out;
    ok = !m->oom;
    if (!ok)
        setf(err, errlen, "out of memory");
out:
    free(raw);
    free(mods);
    free(ids);
    free(c.lg_site);
    handle__tr_close(c.t);
    return ok;
}

/* ---- baselines ----------------------------------------------------------- */

static bool baseline_put(struct handle__rm *m, const struct handle__sb *kb)
{
    const char *k = kb->p ? kb->p : "";
    if (map_find(m->baseline_keys, k, kb->len))
        return true;
    return map_put(m->baseline_keys, k, kb->len, 0) != NULL;
}

static bool baseline_trace(struct handle__rm *m, const char *path, char *err, size_t errlen)
{
    struct tctx c = {.m = m, .index = SIZE_MAX, .path = intern(m, path)};
    c.t = handle__tr_open(path, err, errlen);
    if (c.t == NULL)
        return false;
    bool ok = false;
    struct handle__leak_site *raw = NULL;
    uint32_t *mods = NULL, *ids = NULL;
    const struct handle__tr_group *g;
    size_t ng = 0;
    if (!register_modules(&c, err, errlen) || !handle__tr_leak_groups(c.t, &g, &ng, err, errlen))
        goto out;
    ids = malloc((ng + 1) * sizeof *ids);
    if (ids == NULL) {
        setf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ng; i++)
        ids[i] = g[i].stack;
    if (!handle__tr_load_stacks(c.t, ids, ng, err, errlen))
        goto out;
    if (!raw_sites(&c, g, ng, &raw, &mods)) {
        setf(err, errlen, "out of memory");
        goto out;
    }
    struct handle__sb kb = {0};
    ok = handle__leaks_resolve(m->sym, NULL, raw, ng);
    for (size_t i = 0; ok && i < ng; i++) {
        handle__sb_reset(&kb);
        handle__rm_key(&kb, raw[i].tag, raw[i].frames, raw[i].nframes);
        ok = !kb.oom && baseline_put(m, &kb);
    }
    handle__sb_free(&kb);
    handle__leaks_release(raw, ng);
    if (!ok)
        setf(err, errlen, "out of memory");
out:
    free(raw);
    free(mods);
    free(ids);
    handle__tr_close(c.t);
    return ok;
}

/* Reads the whole file (at most 1 GiB) into a NUL-terminated buffer. */
static char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO must not wait for a writer; only a regular file
     * is read (a device or FIFO never ends). */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        setf(err, errlen, "cannot read: %s", strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        setf(err, errlen, "cannot read: not a regular file");
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n + 1 >= cap) {
            if (cap >= (size_t)1 << 30) {
                free(b);
                close(fd);
                setf(err, errlen, "too large for a JSON report");
                return NULL;
            }
            char *nb = realloc(b, cap * 2);
            if (nb == NULL)
                break;
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            setf(err, errlen, "cannot read: %s", strerror(errno));
            free(b);
            close(fd);
            return NULL;
        }
        if (r == 0) {
            close(fd);
            b[n] = '\0';
            *len = n;
            return b;
        }
        n += (size_t)r;
    }
    free(b);
    close(fd);
    setf(err, errlen, "out of memory");
    return NULL;
}

/* A JSON report of handle-report as a baseline: its leaks' tags and
 * frames, read with SQLite's JSON functions. */
#define OBJ(e) "CASE " e ".type WHEN 'object' THEN " e ".value END"
static bool baseline_json(struct handle__rm *m, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = slurp(path, &len, err, errlen);
    if (text == NULL)
        return false;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    bool ok = false;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, NULL) !=
        SQLITE_OK) {
        setf(err, errlen, "cannot open an in-memory database");
        goto out;
    }
    /* json_type fails on invalid JSON: only on valid */
    if (sqlite3_prepare_v2(db,
                           "SELECT json_valid(?1), CASE WHEN json_valid(?1) THEN "
                           "json_type(?1, '$.leaks') = 'array' END", -1, &s,
                           NULL) != SQLITE_OK)
        goto sqlfail;
    sqlite3_bind_text(s, 1, text, (int)len, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto sqlfail;
    if (!sqlite3_column_int(s, 0)) {
        setf(err, errlen, "neither a trace nor valid JSON");
        goto out;
    }
    if (!sqlite3_column_int(s, 1)) {
        setf(err, errlen, "a JSON file but not a handle-report JSON report (no \"leaks\" array)");
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    /* Only objects are looked into: the value of a string element is no
     * JSON text, and json_extract would fail ("malformed JSON"). */
    if (sqlite3_prepare_v2(db,
                           "SELECT l.key, json_extract(" OBJ("l") ", '$.tag'), f.key, "
                           "json_extract(" OBJ("f") ", '$.function'), "
                           "json_extract(" OBJ("f") ", '$.file'), "
                           "json_extract(" OBJ("f") ", '$.module') "
                           "FROM json_each(?1, '$.leaks') AS l "
                           "LEFT JOIN json_each(" OBJ("l") ", '$.stack') AS f "
                           "ORDER BY l.key, f.key",
                           -1, &s, NULL) != SQLITE_OK)
        goto sqlfail;
    sqlite3_bind_text(s, 1, text, (int)len, SQLITE_STATIC);
    struct handle__sb kb = {0};
    struct handle__sym_frame *f = NULL;
    size_t nf = 0, capf = 0;
    int64_t cur = -1;
    char *tag = NULL;
    bool have_tag = false;
    int rc;
    ok = true;
    /* Frame strings are copied: SQLite's column text lives only until the
     * next step. */
    char **owned = NULL;
    size_t nowned = 0, capowned = 0;
    for (;;) {
        rc = sqlite3_step(s);
        int64_t leak = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -2;
        if (leak != cur && cur >= 0) {
            handle__sb_reset(&kb);
            handle__rm_key(&kb, have_tag ? tag : NULL, f, nf);
            if (kb.oom || !baseline_put(m, &kb))
                ok = false;
            nf = 0;
            for (size_t i = 0; i < nowned; i++)
                free(owned[i]);
            nowned = 0;
            free(tag);
            tag = NULL;
        }
        if (rc != SQLITE_ROW || !ok)
            break;
        if (leak != cur) {
            cur = leak;
            have_tag = sqlite3_column_type(s, 1) == SQLITE_TEXT;
            tag = have_tag ? strdup((const char *)sqlite3_column_text(s, 1)) : NULL;
            if (have_tag && tag == NULL)
                ok = false;
        }
        if (sqlite3_column_type(s, 2) == SQLITE_NULL)
            continue; /* an empty stack */
        if (!handle__grow(&f, &capf, nf + 1, sizeof *f) ||
            !handle__grow(&owned, &capowned, nowned + 3, sizeof *owned)) {
            ok = false;
            continue;
        }
        struct handle__sym_frame fr = {0};
        const char **dst[3] = {&fr.function, &fr.file, &fr.module};
        for (int k = 0; k < 3; k++) {
            if (sqlite3_column_type(s, 3 + k) != SQLITE_TEXT)
                continue;
            char *v = strdup((const char *)sqlite3_column_text(s, 3 + k));
            if (v == NULL) {
                ok = false;
                continue;
            }
            owned[nowned++] = v;
            *dst[k] = v;
        }
        f[nf++] = fr;
    }
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(tag);
    free(f);
    handle__sb_free(&kb);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        goto sqlfail;
    if (!ok)
        setf(err, errlen, "out of memory");
    goto out;
sqlfail:
    ok = false;
    setf(err, errlen, "reading JSON: %s", db ? sqlite3_errmsg(db) : "no database");
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    free(text);
    return ok;
}

bool handle__rm_add_baseline(struct handle__rm *m, const char *path, char *err, size_t errlen)
{
    /* A JSON report starts with '{' (after white space); a trace with
     * SQLite's magic. Anything else goes to the trace reader, which says
     * what is wrong with it. */
    /* Only a regular file is looked into (O_NONBLOCK: a FIFO does not
     * wait for a writer); anything else goes to the trace reader, which
     * refuses it naming its kind. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    if (fd >= 0 && (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))) {
        close(fd);
        fd = -1;
    }
    char head[64];
    ssize_t n = fd >= 0 ? read(fd, head, sizeof head) : -1;
    if (fd >= 0)
        close(fd);
    ssize_t i = 0;
    while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r'))
        i++;
    bool ok = i < n && head[i] == '{' ? baseline_json(m, path, err, errlen)
                                       : baseline_trace(m, path, err, errlen);
    if (ok)
        m->nbaselines++;
    return ok;
}

/* ---- finishing ----------------------------------------------------------- */

static int stat_cmp(const void *a, const void *b)
{
    const struct handle__rm_stat *x = a, *y = b;
    if (x->created != y->created)
        return x->created > y->created ? -1 : 1;
    if (x->first_abs != y->first_abs)
        return x->first_abs < y->first_abs ? -1 : 1;
    return 0;
}

/* The nearest-rank percentile p (0 < p <= 100) of sorted v[0..n), n > 0. */
static uint64_t percentile(const uint64_t *v, size_t n, unsigned p)
{
    size_t rank = (size_t)(((uint64_t)n * p + 99) / 100);
    if (rank == 0)
        rank = 1;
    return v[rank - 1];
}

static void finish_notes(struct handle__rm *m)
{
    if (handle__sym_error(m->sym)) {
        if (handle__grow(&m->notes, &m->capnotes, m->nnotes + 1, sizeof *m->notes))
            m->notes[m->nnotes++] =
                (struct handle__rm_note){"", intern(m, handle__sym_error(m->sym)), false,
                                         SIZE_MAX, NULL};
        else
            m->oom = true; /* a report without its note would mislead */
        return;
    }
    struct handle__rm_map *seen = map_new();
    if (seen == NULL) {
        m->oom = true;
        return;
    }
    for (uint32_t g = 1; g < m->next_module; g++) {
        if (!m->gmod_used[g] || m->gmod_path[g] == NULL || m->gmod_path[g][0] != '/')
            continue; /* "[vdso]", "": nothing to open, nothing to say */
        const char *why = handle__sym_module_problem(m->sym, g);
        if (why == NULL)
            continue;
        struct handle__sb k = {0};
        size_t tr = m->gmod_trace[g];
        const char *tp = m->gmod_tpath[g] ? m->gmod_tpath[g] : "";
        handle__sb_printf(&k, "%s%c%s%c%s", m->gmod_path[g], 0, why, 0, tp);
        if (k.oom) {
            m->oom = true;
        } else if (map_find(seen, k.p, k.len) == NULL) {
            if (map_put(seen, k.p, k.len, 0) &&
                handle__grow(&m->notes, &m->capnotes, m->nnotes + 1, sizeof *m->notes))
                m->notes[m->nnotes++] = (struct handle__rm_note){
                    m->gmod_path[g], intern(m, why), handle__sym_module_changed(m->sym, g),
                    tr, tr == SIZE_MAX ? tp : NULL};
            else
                m->oom = true;
        }
        handle__sb_free(&k);
    }
    map_free(seen);
}

bool handle__rm_finish(struct handle__rm *m)
{
    /* The baselines' sites go. */
    size_t w = 0;
    for (size_t i = 0; i < m->nsites; i++) {
        struct handle__leak_site *s = &m->sites[i];
        const char *b = m->side[i].base;
        if (m->side[i].live) {
            if (!handle__grow(&m->live, &m->caplive, m->nlive + 1, sizeof *m->live)) {
                m->oom = true;
                handle__leaks_release(s, 1);
                free((void *)s->pcs);
                free((void *)s->modules);
                continue;
            }
            m->live[m->nlive++] = *s;
            continue;
        }
        if (m->nbaselines && map_find(m->baseline_keys, b, strlen(b))) {
            m->baseline_sites++;
            m->baseline_handles += s->count;
            free((void *)s->pcs);
            free((void *)s->modules);
            continue;
        }
        m->side[w] = m->side[i];
        m->sites[w++] = *s;
    }
    m->nsites = w;
    /* One trace reads as its exit report did: no process counts. */
    for (size_t i = 0; i < m->nsites; i++) {
        if (m->ntraces <= 1) {
            m->sites[i].processes = 0;
            m->sites[i].example = NULL;
        }
    }
    for (size_t i = 0; i < m->nlive; i++) {
        if (m->ntraces <= 1) {
            m->live[i].processes = 0;
            m->live[i].example = NULL;
        }
    }
    bool ok = m->nsites == 0 || handle__leaks_resolve(m->sym, NULL, m->sites, m->nsites);
    ok = (m->nlive == 0 || handle__leaks_resolve(m->sym, NULL, m->live, m->nlive)) && ok;
    for (size_t i = 0; i < m->nstats; i++) {
        struct handle__rm_stat *st = &m->stats[i];
        if (st->nlife) {
            handle__sort_u64(st->life, st->nlife);
            st->p50 = percentile(st->life, st->nlife, 50);
            st->p99 = percentile(st->life, st->nlife, 99);
            st->max = st->life[st->nlife - 1];
        }
        free(st->life);
        st->life = NULL;
        st->nlife = st->caplife = 0;
    }
    if (m->nstats > 1)
        qsort(m->stats, m->nstats, sizeof *m->stats, stat_cmp);
    if (m->want_detail) {
        free(m->stat_of_serial);
        m->stat_of_serial = malloc((m->nstats ? m->nstats : 1) * sizeof *m->stat_of_serial);
        if (m->stat_of_serial == NULL)
            ok = false;
        for (size_t i = 0; ok && i < m->nstats; i++)
            if (m->stats[i].serial < m->nstats)
                m->stat_of_serial[m->stats[i].serial] = i;
    }
    finish_notes(m);
    return ok && !m->oom;
}

void handle__rm_want_detail(struct handle__rm *m)
{
    m->want_detail = true;
    m->want_stats = true;
}

const struct handle__rm_stat *handle__rm_site_stat(const struct handle__rm *m,
                                                   const struct handle__leak_site *s)
{
    if (m->stat_of_serial == NULL || s->order >= m->nsite_stat || m->site_stat[s->order] == 0)
        return NULL;
    size_t serial = m->site_stat[s->order] - 1;
    return serial < m->nstats ? &m->stats[m->stat_of_serial[serial]] : NULL;
}

uint64_t handle__rm_leaked(const struct handle__rm *m, uint64_t *nsites)
{
    return handle__leaks_total(m->sites, m->nsites, nsites);
}

size_t handle__rm_incomplete(const struct handle__rm *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ntraces; i++)
        n += m->traces[i].incomplete != NULL;
    return n;
}

uint64_t handle__rm_live(const struct handle__rm *m, uint64_t *nsites)
{
    return handle__leaks_total(m->live, m->nlive, nsites);
}

static bool supp_hit(const struct handle__supp *sp)
{
    for (size_t i = 0; sp && i < handle__supp_count(sp); i++)
        if (handle__supp_hits(sp, i) > 0)
            return true;
    return false;
}

const struct handle__supp *handle__rm_used_supp(const struct handle__rm *m)
{
    if (supp_hit(m->supp))
        return m->supp;
    for (size_t i = 0; i < m->ntsupp; i++)
        if (supp_hit(m->tsupp[i].supp))
            return m->tsupp[i].supp;
    return m->supp;
}

long handle__rm_pid(const struct handle__rm *m)
{
    if (m->ntraces == 0 || !m->traces[0].meta.has_pid)
        return 0;
    return (long)m->traces[0].meta.pid;
}
