/*
 * unwind.c - a DWARF CFI stack walker for x86-64 Linux that gives exactly
 * the return addresses of libunwind 1.6's unw_backtrace() (its fast trace,
 * src/x86_64/Gtrace.c), at a fraction of its cost, or refuses.
 *
 * libunwind's fast trace reduces every frame to a "standard" rule: CFA =
 * RSP or RBP + offset, return address at CFA-8, RBP unchanged or saved at
 * CFA+k, RSP unchanged; a frame whose rule is anything else sends it down
 * its slow unw_step() path. This walker derives the same rule from the
 * same FDE (found, as libunwind does, through the module's
 * PT_GNU_EH_FRAME binary-search table via dl_iterate_phdr), caches it per
 * pc in a global, fixed-size, open-addressed table that readers probe
 * without a lock (seqlock-style: key, rule, key again), and walks with it.
 * Whatever libunwind would not trace the standard way (no FDE, signal
 * frames, expressions, the CFA in another register, RA not at CFA-8, RBP
 * in a register, an unknown CFA opcode or augmentation, register numbers
 * libunwind rejects) is cached as "unsupported" and makes the whole walk
 * refuse, so the caller asks libunwind; so does any read outside the
 * thread's stack or a CFA that does not grow. A rule whose return address
 * is undefined (_start, clone3's child) ends the stack, as in libunwind.
 *
 * Unloaded modules: a pc cached in a module that was later dlclose'd may
 * belong to another module afterwards. Modules loaded when the library
 * starts (its constructor: the program, LD_PRELOAD and DT_NEEDED libraries)
 * are never unloaded, so their rules are trusted forever. Every other rule
 * is tagged with an epoch that changes whenever dl_iterate_phdr's unload
 * counter (dlpi_subs) is seen to move; a walk that used such a rule reads
 * the counter once (a dl_iterate_phdr, ~20 ns) and redoes itself with
 * fresh rules if a module went away since the rules were computed. (Known
 * gap: a module dlopen'ed by another library's constructor before ours
 * ran, or before libhandle-debug.so itself was dlopen'ed, is taken for a
 * start-up module; if it is later unloaded and another module mapped over
 * its return addresses, stale rules could be used. glibc offers no way to
 * tell such a module from a DT_NEEDED one.)
 *
 * The walk itself avoids most rule lookups: see "memos" below.
 *
 * Not done here: symbolizing, storing or filtering frames (stack.c), signal
 * frames, frames without CFI, .debug_frame, JIT code (_U_dyn_register),
 * other architectures (every call refuses). Nothing allocates; the table
 * is in .bss (touched pages only).
 */
#include "unwind.h"
#include "loader.h"

#if defined(__x86_64__) && defined(__linux__)

#include <link.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

/* ---- rules ----------------------------------------------------------- */

/* A rule packed in 64 bits:
 *   bits 0-1   kind: STD, END (return address undefined), UNSUP
 *   bit 2      the CFA is RBP + off (else RSP + off)
 *   bit 3      RBP is saved at CFA + rbp_off (else unchanged)
 *   bit 4      from a start-up module: valid forever
 *   bits 8-19  rbp_off, signed
 *   bits 20-39 cfa_off, signed
 *   bits 40-63 epoch of the module list it was computed under */
#define K_MASK 3u
#define K_STD 1u
#define K_END 2u
#define K_UNSUP 3u
#define F_CFA_RBP 4u
#define F_RBP_SAVED 8u
#define F_BOOT 16u
#define RBP_OFF_MAX 2047
#define CFA_OFF_MAX 524287
#define EPOCH_BITS 24

static inline int64_t rule_cfa_off(uint64_t r)
{
    return (int64_t)(r << 24) >> 44;
}

static inline int64_t rule_rbp_off(uint64_t r)
{
    return (int64_t)(r << 44) >> 52;
}

static inline uint32_t rule_epoch(uint64_t r)
{
    return (uint32_t)(r >> 40);
}

static uint64_t rule_make(unsigned flags, int64_t cfa_off, int64_t rbp_off)
{
    return (uint64_t)flags | (((uint64_t)rbp_off & 0xfffu) << 8) |
           (((uint64_t)cfa_off & 0xfffffu) << 20);
}

/* ---- the module-list epoch ------------------------------------------- */

/* (epoch << 40) | dlpi_subs: the unload counter last seen and the epoch
 * that goes with it. Both change together, in one CAS. */
#define SUBS_MASK ((UINT64_C(1) << 40) - 1)
static _Alignas(64) _Atomic uint64_t dl_state;

/* On their own cache line: every walk reads dl_state. */
static _Alignas(64) struct {
    _Atomic uint64_t computed, unsupported, retried, checked;
} stats;

static inline uint32_t state_epoch(uint64_t s)
{
    return (uint32_t)(s >> 40);
}

/* Notes that dl_iterate_phdr reported `subs` unloads: a larger count than
 * the one recorded starts a new epoch. */
static void observe_subs(unsigned long long subs)
{
    uint64_t s = atomic_load_explicit(&dl_state, memory_order_acquire);
    for (;;) {
        if ((subs & SUBS_MASK) <= (s & SUBS_MASK))
            return;
        uint64_t e = (state_epoch(s) + 1u) & ((1u << EPOCH_BITS) - 1u);
        uint64_t n = (e << 40) | (subs & SUBS_MASK);
        if (atomic_compare_exchange_weak_explicit(&dl_state, &s, n, memory_order_acq_rel,
                                                  memory_order_acquire))
            return;
    }
}

static int subs_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(unsigned long long *)arg = info->dlpi_subs;
    return 1;
}

/* ---- start-up modules ------------------------------------------------ */

#define BOOT_MAX 1024
static const void *boot_phdr[BOOT_MAX];
static _Atomic uint32_t boot_count;
static _Atomic int boot_taken;

struct boot_scan {
    uint32_t n;
    unsigned long long subs;
};

static int boot_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct boot_scan *b = arg;
    b->subs = info->dlpi_subs;
    if (b->n < BOOT_MAX)
        boot_phdr[b->n++] = info->dlpi_phdr;
    return 0;
}

void handle__unwind_init(void)
{
    if (atomic_exchange(&boot_taken, 1))
        return;
    struct boot_scan b = {0, 0};
    handle__dl_iterate_phdr(boot_cb, &b);
    observe_subs(b.subs);
    atomic_store_explicit(&boot_count, b.n, memory_order_release);
}

__attribute__((constructor)) static void unwind_ctor(void)
{
    handle__unwind_init();
}

static bool is_boot(const void *phdr)
{
    uint32_t n = atomic_load_explicit(&boot_count, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++)
        if (boot_phdr[i] == phdr)
            return true;
    return false;
}

/* ---- the rule cache -------------------------------------------------- */

/* 16K slots of {key, rule}; key is the looked-up address (return address
 * - 1), 0 for a never-used slot, BUSY while a writer owns it. A slot never
 * goes back to 0, so a probe may stop at the first 0. Writers claim a slot
 * with a CAS and publish key last (release); readers load key (acquire),
 * rule, then key again. The only slots ever given to another key are
 * those holding an out-of-epoch rule, so a reader that raced such a
 * rewrite either sees the key change or holds a rule whose epoch fails the
 * walk's unload check. A full probe window is a miss, not an error. */
#define TABLE_BITS 14
#define TABLE_SIZE (1u << TABLE_BITS)
#define PROBES 8
#define BUSY 1u

struct slot {
    _Atomic uint64_t key;
    _Atomic uint64_t rule;
};
static struct slot table[TABLE_SIZE] __attribute__((aligned(64)));

static inline uint32_t slot_of(uint64_t key)
{
    return (uint32_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - TABLE_BITS));
}

/* The cached rule for key, or 0. */
static inline uint64_t cache_get(uint64_t key)
{
    uint32_t i = slot_of(key);
    for (int p = 0; p < PROBES; p++, i = (i + 1) & (TABLE_SIZE - 1)) {
        struct slot *s = &table[i];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == key) {
            uint64_t r = atomic_load_explicit(&s->rule, memory_order_relaxed);
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&s->key, memory_order_relaxed) != key)
                return 0;
            return r;
        }
        if (k == 0)
            return 0;
    }
    return 0;
}

/* Stores rule for key unless another writer holds the slot to use or the
 * window is full of current rules. `epoch` is the current epoch. */
static void cache_put(uint64_t key, uint64_t rule, uint32_t epoch)
{
    uint32_t i = slot_of(key), pick = UINT32_MAX;
    uint64_t seen = 0;
    for (int p = 0; p < PROBES; p++, i = (i + 1) & (TABLE_SIZE - 1)) {
        uint64_t k = atomic_load_explicit(&table[i].key, memory_order_acquire);
        if (k == key) {
            pick = i;
            seen = k;
            break;
        }
        if (k == 0) { /* the key is not further on */
            if (pick == UINT32_MAX) {
                pick = i;
                seen = 0;
            }
            break;
        }
        if (k == BUSY || pick != UINT32_MAX)
            continue;
        uint64_t r = atomic_load_explicit(&table[i].rule, memory_order_relaxed);
        if (!(r & F_BOOT) && rule_epoch(r) != epoch) {
            pick = i;
            seen = k;
        }
    }
    if (pick == UINT32_MAX)
        return;
    struct slot *s = &table[pick];
    if (!atomic_compare_exchange_strong_explicit(&s->key, &seen, BUSY, memory_order_relaxed,
                                                 memory_order_relaxed))
        return;
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->rule, rule, memory_order_relaxed);
    atomic_store_explicit(&s->key, key, memory_order_release);
}

/* ---- reading CFI ----------------------------------------------------- */

/* A bounded reader over mapped module memory; `bad` sticks. */
struct rd {
    const uint8_t *p, *end;
    bool bad;
};

static inline bool rd_need(struct rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint64_t rd_u(struct rd *r, size_t n)
{
    if (!rd_need(r, n))
        return 0;
    uint64_t v = 0;
    memcpy(&v, r->p, n); /* little-endian */
    r->p += n;
    return v;
}

static uint64_t rd_uleb(struct rd *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (!rd_need(r, 1) || shift > 63) {
            r->bad = true;
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
}

static int64_t rd_sleb(struct rd *r)
{
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        if (!rd_need(r, 1) || shift > 63) {
            r->bad = true;
            return 0;
        }
        b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40))
        v |= ~UINT64_C(0) << shift;
    return (int64_t)v;
}

#define PE_OMIT 0xff
#define PE_INDIRECT 0x80

/* Reads a pointer in DW_EH_PE encoding `enc`: absolute, pcrel or (with
 * `datarel` set) datarel; indirect only when `indirect_ok` (the value is
 * then the address, not dereferenced). False for anything else. */
static bool rd_enc(struct rd *r, uint8_t enc, uintptr_t datarel, bool indirect_ok, uint64_t *out)
{
    const uint8_t *at = r->p;
    uint64_t v;
    if (enc == PE_OMIT)
        return false;
    if ((enc & PE_INDIRECT) && !indirect_ok)
        return false;
    switch (enc & 0x0f) {
    case 0x00: v = rd_u(r, 8); break;
    case 0x01: v = rd_uleb(r); break;
    case 0x02: v = rd_u(r, 2); break;
    case 0x03: v = rd_u(r, 4); break;
    case 0x04: v = rd_u(r, 8); break;
    case 0x09: v = (uint64_t)rd_sleb(r); break;
    case 0x0a: v = (uint64_t)(int64_t)(int16_t)rd_u(r, 2); break;
    case 0x0b: v = (uint64_t)(int64_t)(int32_t)rd_u(r, 4); break;
    case 0x0c: v = rd_u(r, 8); break;
    default: return false;
    }
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += (uintptr_t)at; break;
    case 0x30:
        if (datarel == 0)
            return false;
        v += datarel;
        break;
    default: return false;
    }
    *out = v;
    return !r->bad;
}

/* The readable PT_LOAD segments of the module being searched. */
#define MAX_SEGS 16
struct module_view {
    uintptr_t lo[MAX_SEGS], hi[MAX_SEGS];
    int n;
};

/* A reader over [p, p+len) if a readable segment holds it all. */
static bool view_rd(const struct module_view *m, uintptr_t p, uintptr_t len, struct rd *r)
{
    for (int i = 0; i < m->n; i++)
        if (p >= m->lo[i] && p <= m->hi[i] && len <= m->hi[i] - p) {
            r->p = (const uint8_t *)p;
            r->end = (const uint8_t *)(p + len);
            r->bad = false;
            return true;
        }
    return false;
}

/* A reader from p to the end of the readable segment holding p. */
static bool view_rd_open(const struct module_view *m, uintptr_t p, struct rd *r)
{
    for (int i = 0; i < m->n; i++)
        if (p >= m->lo[i] && p < m->hi[i])
            return view_rd(m, p, m->hi[i] - p, r);
    return false;
}

struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_enc, lsda_enc;
    bool z;
    const uint8_t *insn, *insn_end;
};

/* Parses the CIE at p the way libunwind 1.6's parse_cie would accept it
 * (versions 1 and 3, augmentations "", "z" with L, R, P) and refuses the
 * rest: 'S' (signal frames), unknown letters, strings longer than the four
 * letters libunwind keeps, RA not in column 16. */
static bool parse_cie(const struct module_view *m, uintptr_t p, struct cie *c)
{
    struct rd r;
    if (!view_rd_open(m, p, &r))
        return false;
    uint64_t len = rd_u(&r, 4);
    bool dw64 = len == 0xffffffffu;
    if (dw64)
        len = rd_u(&r, 8);
    if (r.bad || len == 0 || len > (uint64_t)(r.end - r.p))
        return false;
    r.end = r.p + len;
    if (rd_u(&r, dw64 ? 8 : 4) != 0) /* CIE id in .eh_frame */
        return false;
    uint8_t version = (uint8_t)rd_u(&r, 1);
    if (version != 1 && version != 3)
        return false;
    char aug[8];
    size_t na = 0;
    for (;;) {
        uint8_t ch = (uint8_t)rd_u(&r, 1);
        if (r.bad)
            return false;
        if (ch == 0)
            break;
        if (na >= 4)
            return false;
        aug[na++] = (char)ch;
    }
    c->code_align = rd_uleb(&r);
    c->data_align = rd_sleb(&r);
    uint64_t ra = version == 1 ? rd_u(&r, 1) : rd_uleb(&r);
    if (r.bad || ra != 16)
        return false;
    c->fde_enc = 0x04; /* udata8: libunwind's default for 8-byte addresses */
    c->lsda_enc = PE_OMIT;
    c->z = false;
    if (na > 0) {
        if (aug[0] != 'z')
            return false;
        c->z = true;
        uint64_t alen = rd_uleb(&r);
        if (r.bad || alen > (uint64_t)(r.end - r.p))
            return false;
        const uint8_t *aend = r.p + alen;
        for (size_t i = 1; i < na; i++) {
            uint64_t ignored;
            uint8_t e;
            switch (aug[i]) {
            case 'L':
                c->lsda_enc = (uint8_t)rd_u(&r, 1);
                break;
            case 'R':
                c->fde_enc = (uint8_t)rd_u(&r, 1);
                break;
            case 'P':
                e = (uint8_t)rd_u(&r, 1);
                if (!rd_enc(&r, e, 0, true, &ignored))
                    return false;
                break;
            default: /* 'S' and anything libunwind would not parse alike */
                return false;
            }
        }
        /* libunwind starts the instructions after the fields it parsed. */
        if (r.bad || r.p != aend)
            return false;
    }
    if (r.bad)
        return false;
    c->insn = r.p;
    c->insn_end = r.end;
    return true;
}

/* ---- running the CFA program ----------------------------------------- */

enum where { W_SAME = 0, W_UNDEF, W_CFAREL, W_REG, W_EXPR };

#define NREGS 17 /* libunwind's DWARF_NUM_PRESERVED_REGS on x86-64 */
#define REG_RBP 6
#define REG_RSP 7
#define REG_RA 16
#define MAX_REMEMBER 8

struct regstate {
    uint8_t where[NREGS];
    int64_t val[NREGS];
    uint64_t cfa_reg;
    int64_t cfa_off;
    bool cfa_expr;
};

struct cfa_run {
    struct regstate cur, initial;
    struct regstate stack[MAX_REMEMBER];
    int depth;
};

/* Runs instructions [p, end) of the CIE (target = UINT64_MAX, loc
 * ignored) or an FDE (loc from pc_begin; instructions run while loc <=
 * target, as libunwind's run_cfi_program does with ip - 1). Refuses what
 * libunwind would refuse or does not trace: register numbers >= 17, the
 * val_* and GNU window opcodes, unknown opcodes, a restore_state with
 * nothing remembered, remember_state deeper than MAX_REMEMBER. */
static bool run_cfa(struct cfa_run *s, const struct cie *c, const uint8_t *p, const uint8_t *end,
                    uint64_t loc, uint64_t target, uint8_t fde_enc)
{
    struct rd r = {p, end, false};
    struct regstate *st = &s->cur;
    while (r.p < r.end && loc <= target) {
        uint8_t op = (uint8_t)rd_u(&r, 1);
        uint8_t hi = op & 0xc0, low = op & 0x3f;
        uint64_t reg, v;
        int64_t sv;
        if (hi == 0x40) { /* advance_loc */
            loc += low * c->code_align;
            continue;
        }
        if (hi == 0x80) { /* offset */
            if (low >= NREGS)
                return false;
            v = rd_uleb(&r);
            st->where[low] = W_CFAREL;
            st->val[low] = (int64_t)(v * (uint64_t)c->data_align);
            continue;
        }
        if (hi == 0xc0) { /* restore */
            if (low >= NREGS)
                return false;
            st->where[low] = s->initial.where[low];
            st->val[low] = s->initial.val[low];
            continue;
        }
        switch (op) {
        case 0x00: /* nop */
            break;
        case 0x01: /* set_loc */
            if (!rd_enc(&r, fde_enc, 0, false, &v))
                return false;
            loc = v;
            break;
        case 0x02: loc += rd_u(&r, 1) * c->code_align; break;
        case 0x03: loc += rd_u(&r, 2) * c->code_align; break;
        case 0x04: loc += rd_u(&r, 4) * c->code_align; break;
        case 0x05: /* offset_extended */
            reg = rd_uleb(&r);
            v = rd_uleb(&r);
            if (reg >= NREGS)
                return false;
            st->where[reg] = W_CFAREL;
            st->val[reg] = (int64_t)(v * (uint64_t)c->data_align);
            break;
        case 0x06: /* restore_extended */
            reg = rd_uleb(&r);
            if (reg >= NREGS)
                return false;
            st->where[reg] = s->initial.where[reg];
            st->val[reg] = s->initial.val[reg];
            break;
        case 0x07: /* undefined */
        case 0x08: /* same_value */
            reg = rd_uleb(&r);
            if (reg >= NREGS)
                return false;
            st->where[reg] = op == 0x07 ? W_UNDEF : W_SAME;
            st->val[reg] = 0;
            break;
        case 0x09: /* register */
            reg = rd_uleb(&r);
            v = rd_uleb(&r);
            if (reg >= NREGS || v >= NREGS)
                return false;
            st->where[reg] = W_REG;
            st->val[reg] = (int64_t)v;
            break;
        case 0x0a: /* remember_state */
            if (s->depth >= MAX_REMEMBER)
                return false;
            s->stack[s->depth++] = *st;
            break;
        case 0x0b: /* restore_state */
            if (s->depth == 0)
                return false;
            *st = s->stack[--s->depth];
            break;
        case 0x0c: /* def_cfa */
            reg = rd_uleb(&r);
            v = rd_uleb(&r);
            if (reg >= NREGS)
                return false;
            st->cfa_reg = reg;
            st->cfa_off = (int64_t)v;
            st->cfa_expr = false;
            break;
        case 0x0d: /* def_cfa_register */
            reg = rd_uleb(&r);
            if (reg >= NREGS)
                return false;
            st->cfa_reg = reg;
            st->cfa_expr = false;
            break;
        case 0x0e: /* def_cfa_offset */
            st->cfa_off = (int64_t)rd_uleb(&r);
            break;
        case 0x0f: /* def_cfa_expression: kept, refused if still in force */
            v = rd_uleb(&r);
            if (!rd_need(&r, v))
                return false;
            r.p += v;
            st->cfa_expr = true;
            break;
        case 0x10: /* expression: kept, refused if still in force */
            reg = rd_uleb(&r);
            v = rd_uleb(&r);
            if (reg >= NREGS || !rd_need(&r, v))
                return false;
            r.p += v;
            st->where[reg] = W_EXPR;
            break;
        case 0x11: /* offset_extended_sf */
            reg = rd_uleb(&r);
            sv = rd_sleb(&r);
            if (reg >= NREGS)
                return false;
            st->where[reg] = W_CFAREL;
            st->val[reg] = (int64_t)((uint64_t)sv * (uint64_t)c->data_align);
            break;
        case 0x12: /* def_cfa_sf */
            reg = rd_uleb(&r);
            sv = rd_sleb(&r);
            if (reg >= NREGS)
                return false;
            st->cfa_reg = reg;
            st->cfa_off = (int64_t)((uint64_t)sv * (uint64_t)c->data_align);
            st->cfa_expr = false;
            break;
        case 0x13: /* def_cfa_offset_sf */
            sv = rd_sleb(&r);
            st->cfa_off = (int64_t)((uint64_t)sv * (uint64_t)c->data_align);
            break;
        case 0x2e: /* GNU_args_size */
            (void)rd_uleb(&r);
            break;
        case 0x2f: /* GNU_negative_offset_extended */
            reg = rd_uleb(&r);
            v = rd_uleb(&r);
            if (reg >= NREGS)
                return false;
            st->where[reg] = W_CFAREL;
            st->val[reg] = -(int64_t)(v * (uint64_t)c->data_align);
            break;
        default: /* val_offset(_sf), val_expression, window_save, user ops */
            return false;
        }
        if (r.bad)
            return false;
    }
    return !r.bad;
}

/* The packed rule for a final register state, following libunwind's
 * tdep_stash_frame (what counts as a standard frame) and unw_step (an
 * undefined return address ends the stack). */
static uint64_t rule_of(const struct regstate *st)
{
    if (st->cfa_expr)
        return K_UNSUP;
    for (int i = 0; i < NREGS; i++)
        if (st->where[i] == W_EXPR)
            return K_UNSUP;
    if (st->cfa_reg != REG_RSP && st->cfa_reg != REG_RBP)
        return K_UNSUP;
    if (st->where[REG_RA] == W_UNDEF)
        return K_END;
    if (st->where[REG_RA] != W_CFAREL || st->val[REG_RA] != -8)
        return K_UNSUP;
    if (st->cfa_off > CFA_OFF_MAX || st->cfa_off < -CFA_OFF_MAX)
        return K_UNSUP;
    unsigned flags = K_STD | (st->cfa_reg == REG_RBP ? F_CFA_RBP : 0u);
    int64_t rbp_off = 0;
    switch (st->where[REG_RBP]) {
    case W_SAME:
        break;
    case W_CFAREL:
        rbp_off = st->val[REG_RBP];
        if (rbp_off == -1 || rbp_off > RBP_OFF_MAX || rbp_off < -RBP_OFF_MAX)
            return K_UNSUP;
        flags |= F_RBP_SAVED;
        break;
    default: /* undefined (libunwind's result depends on the values), in a register */
        return K_UNSUP;
    }
    switch (st->where[REG_RSP]) {
    case W_SAME:
    case W_UNDEF:
        break;
    case W_CFAREL:
        if (st->val[REG_RSP] == -1 || st->val[REG_RSP] >= (1 << 14) ||
            st->val[REG_RSP] <= -(1 << 14))
            return K_UNSUP;
        break;
    default:
        return K_UNSUP;
    }
    return rule_make(flags, st->cfa_off, rbp_off);
}

/* ---- finding the FDE ------------------------------------------------- */

struct find {
    uintptr_t addr;          /* the address whose rule is wanted */
    unsigned long long subs; /* dlpi_subs during the search */
    bool found;              /* a module maps addr */
    uint64_t rule;
};

/* The rule for f->addr in this module, from its .eh_frame_hdr table. */
static uint64_t rule_in_module(struct dl_phdr_info *info, const struct module_view *m,
                               uintptr_t addr)
{
    const ElfW(Phdr) *eh = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
            eh = &info->dlpi_phdr[i];
    if (eh == NULL)
        return K_UNSUP;
    uintptr_t hdr = info->dlpi_addr + eh->p_vaddr;
    struct rd r;
    if (!view_rd(m, hdr, eh->p_memsz, &r))
        return K_UNSUP;
    uint8_t version = (uint8_t)rd_u(&r, 1), ptr_enc = (uint8_t)rd_u(&r, 1),
            count_enc = (uint8_t)rd_u(&r, 1), table_enc = (uint8_t)rd_u(&r, 1);
    uint64_t eh_frame, count;
    if (r.bad || version != 1 || table_enc != 0x3b /* datarel | sdata4 */ ||
        !rd_enc(&r, ptr_enc, hdr, false, &eh_frame) || !rd_enc(&r, count_enc, hdr, false, &count))
        return K_UNSUP;
    if (count == 0 || count > (uint64_t)(r.end - r.p) / 8)
        return K_UNSUP;
    const uint8_t *tab = r.p;
    int64_t rel = (int64_t)addr - (int64_t)hdr;
    if (rel < INT32_MIN || rel > INT32_MAX)
        return K_UNSUP;
    /* The last entry whose start is <= addr (libunwind's lookup()). */
    uint64_t lo = 0, hi = count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int32_t start;
        memcpy(&start, tab + mid * 8, 4);
        if (rel < start)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (hi == 0)
        return K_UNSUP;
    int32_t fde_off;
    memcpy(&fde_off, tab + (hi - 1) * 8 + 4, 4);
    uintptr_t fde = hdr + (uintptr_t)(intptr_t)fde_off;

    /* The FDE. */
    if (!view_rd_open(m, fde, &r))
        return K_UNSUP;
    uint64_t len = rd_u(&r, 4);
    bool dw64 = len == 0xffffffffu;
    if (dw64)
        len = rd_u(&r, 8);
    if (r.bad || len == 0 || len > (uint64_t)(r.end - r.p))
        return K_UNSUP;
    r.end = r.p + len;
    uintptr_t cie_field = (uintptr_t)r.p;
    uint64_t cie_off = rd_u(&r, dw64 ? 8 : 4);
    if (r.bad || cie_off == 0 || cie_off > cie_field)
        return K_UNSUP;
    struct cie c;
    if (!parse_cie(m, cie_field - cie_off, &c))
        return K_UNSUP;
    uint64_t begin, range;
    if (!rd_enc(&r, c.fde_enc, 0, false, &begin) ||
        !rd_enc(&r, (uint8_t)(c.fde_enc & 0x0f), 0, false, &range))
        return K_UNSUP;
    if (addr < begin || addr - begin >= range)
        return K_UNSUP;
    if (c.z) {
        uint64_t alen = rd_uleb(&r);
        if (r.bad || alen > (uint64_t)(r.end - r.p))
            return K_UNSUP;
        /* libunwind reads the LSDA pointer; refuse encodings it may not. */
        if (c.lsda_enc != PE_OMIT) {
            struct rd a = {r.p, r.p + alen, false};
            uint64_t ignored;
            if (!rd_enc(&a, c.lsda_enc, 0, true, &ignored))
                return K_UNSUP;
        }
        r.p += alen;
    }

    static const struct cfa_run zero;
    struct cfa_run s = zero;
    /* All registers start as "same value" (libunwind), the CFA undefined. */
    s.cur.cfa_reg = UINT64_MAX;
    if (!run_cfa(&s, &c, c.insn, c.insn_end, 0, UINT64_MAX, c.fde_enc))
        return K_UNSUP;
    s.initial = s.cur;
    s.depth = 0;
    if (!run_cfa(&s, &c, r.p, r.end, begin, addr, c.fde_enc))
        return K_UNSUP;
    return rule_of(&s.cur);
}

static int find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct find *f = arg;
    f->subs = info->dlpi_subs;
    struct module_view m;
    m.n = 0;
    bool in = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (f->addr >= a && f->addr - a < ph->p_memsz)
            in = true;
        if ((ph->p_flags & PF_R) && m.n < MAX_SEGS) {
            m.lo[m.n] = a;
            m.hi[m.n] = a + ph->p_memsz;
            m.n++;
        }
    }
    if (!in)
        return 0;
    f->found = true;
    f->rule = rule_in_module(info, &m, f->addr);
    if (is_boot(info->dlpi_phdr))
        f->rule |= F_BOOT;
    return 1;
}

/* Computes the rule for addr (the FDE is parsed inside dl_iterate_phdr,
 * under the loader's lock, so the module cannot go away meanwhile) and
 * caches it. Returns false, without caching, if the unload counter moved
 * away from the one in `state` (the caller's walk must start over). */
__attribute__((noinline, cold)) static bool compute(uintptr_t addr, uint64_t state,
                                                   uint64_t *rule)
{
    struct find f = {addr, 0, false, K_UNSUP};
    handle__dl_iterate_phdr(find_cb, &f);
    atomic_fetch_add_explicit(&stats.computed, 1, memory_order_relaxed);
    if ((f.subs & SUBS_MASK) != (state & SUBS_MASK)) {
        observe_subs(f.subs);
        return false;
    }
    uint32_t epoch = state_epoch(state);
    uint64_t r = f.rule | ((uint64_t)epoch << 40);
    cache_put(addr, r, epoch);
    *rule = r;
    return true;
}

/* ---- memos: the thread's previous stacks ------------------------------ */

/* Walking is a chain of dependent loads (return address -> rule -> CFA ->
 * next return address), ~7 ns a frame. Most stacks repeat one of the last
 * two of the same thread (a handle's creation and deletion), at least in
 * their outer frames, so each thread keeps the last two stacks it walked:
 * per frame its pc, RBP, rule and CFA. When the walk reaches a state (pc,
 * RSP, RBP) that a memo has, it checks the memo's remaining frames against
 * memory instead of walking them: for each, the return address at CFA-8
 * and the saved RBP must be the ones the memo has for the next frame.
 * Those loads do not depend on each other, so the check runs at the CPU's
 * load throughput. It is exact: if frame i's state is the real one, its
 * (still valid) rule gives the memo's CFA, and the two loads give the real
 * state of frame i+1. The walk goes on from the first frame that does not
 * check out.
 *
 * Memos live in a global array of slots indexed by a hash of the thread's
 * stack top (no per-thread allocation, nothing to free at thread exit). A
 * walk owns its slot for its duration (one atomic exchange); when the slot
 * is busy (a signal handler interrupted a walk of the same thread, or two
 * threads hash alike) the walk goes without. A memo written by another
 * thread is only overwritten. */
#define MEMO_SLOTS 64
#define MEMO_WAYS 2
#define MEMO_FRAMES 64
enum { TAIL_MAX = 0, TAIL_END, TAIL_STOP };

struct memo_frame {
    uintptr_t pc, rbp; /* the frame's state (its RSP is the previous cfa) */
    uintptr_t cfa;     /* its CFA: the next frame's RSP (0: not known) */
    uintptr_t rbp_at;  /* where its rule restores RBP from (0: unchanged) */
};

/* Every rule a memo was made with was valid in the walk that wrote it, so
 * the memo as a whole is valid while `epoch` is current, or forever if
 * none of its rules came from a module loaded after start-up. */
struct memo {
    uint32_t n, tail;  /* frames; how the walk ended after f[n-1] */
    uintptr_t owner;   /* the stack top of the thread that wrote it */
    uintptr_t rsp0;    /* the RSP of f[0] */
    uint64_t used;     /* the slot's clock when last used */
    uint32_t epoch;    /* the epoch of the walk that wrote it */
    bool later;        /* it used rules of modules loaded after start-up */
    uint64_t pcs;      /* bit pc_bit(pc) set for every f[].pc */
    struct memo_frame f[MEMO_FRAMES];
};

struct memo_slot {
    _Atomic uint32_t busy;
    uint64_t clock;
    struct memo way[MEMO_WAYS];
};
static struct memo_slot memos[MEMO_SLOTS] __attribute__((aligned(64)));

/* A pc's bit in struct memo's pcs: a walk looks for its frame in a memo
 * only when the bit is set, which keeps mispredicted scans off the walk. */
static inline uint64_t pc_bit(uintptr_t pc)
{
    return UINT64_C(1) << ((pc * UINT64_C(0x9e3779b97f4a7c15)) >> 58);
}

static inline uintptr_t memo_rsp(const struct memo *m, uint32_t i)
{
    return i == 0 ? m->rsp0 : m->f[i - 1].cfa;
}

/* ---- the walk -------------------------------------------------------- */

#define WALK_RETRY (-2)

struct walk {
    uintptr_t *pcs;
    uint32_t max;
    uintptr_t lo, hi;     /* readable: [lo, hi) */
    uint64_t state;       /* dl_state when the walk started */
    uint32_t epoch;
    bool later_module;    /* a rule from a module loaded after start-up was used */
    bool subs_seen;       /* dlpi_subs was read (and matched) during the walk */
};

/* Whether a cached or remembered rule may be used in this walk. */
static inline bool rule_current(struct walk *w, uint64_t rule)
{
    if (rule & F_BOOT)
        return true;
    w->later_module = true;
    return rule_epoch(rule) == w->epoch;
}

/* Checks the steps from memo frames f[0..steps) against memory (f[0]'s
 * state is known to be right, and the memo's rules valid): step s is
 * right if the return address at f[s]'s CFA-8 and the RBP its rule
 * restores are f[s+1]'s. Writes f[1..k].pc to out[1..k] and returns k, the
 * number of steps that checked out. The loads of one step do not depend on
 * those of the previous one. */
static inline uint32_t memo_check(const struct memo_frame *f, uint32_t steps, uintptr_t *out,
                                  uintptr_t lo)
{
    uint32_t s = 0;
    for (; s < steps; s++) {
        if (*(const uintptr_t *)(f[s].cfa - 8) != f[s + 1].pc)
            break;
        uintptr_t at = f[s].rbp_at;
        if (at != 0 && (at < lo || *(const uintptr_t *)at != f[s + 1].rbp))
            break;
        out[s + 1] = f[s + 1].pc;
    }
    return s;
}

/* Walks from (rip, rsp, rbp), the state of handle__unwind's caller, using
 * and updating the memos of slot ms (may be NULL). Returns the depth, -1 to
 * refuse, WALK_RETRY if the unload counter moved. */
static int walk(struct walk *w, struct memo_slot *ms, uintptr_t rip, uintptr_t rsp, uintptr_t rbp)
{
    uintptr_t *pcs = w->pcs;
    const uintptr_t rsp0 = rsp;
    struct memo_frame fresh[MEMO_FRAMES], scratch;
    uint32_t nfresh = 0;
    /* Output frames [join_out, join_out + join_len) are frames [join_mi,
     * join_mi + join_len) of memo `src`; the others are fresh[], in order. */
    uint32_t join_out = UINT32_MAX, join_mi = 0, join_len = 0;
    struct memo *src = NULL;
    uint32_t mn[MEMO_WAYS] = {0}, mi[MEMO_WAYS] = {0};
    uint32_t o = 0, tail;
    bool may_join = false;

    if (w->max == 0)
        return 0;
    for (int x = 0; ms != NULL && x < MEMO_WAYS; x++) {
        const struct memo *m = &ms->way[x];
        if (m->owner == w->hi && m->n > 0 && (!m->later || m->epoch == w->epoch)) {
            mn[x] = m->n;
            may_join = true;
        }
    }
    for (;;) {
        pcs[o] = rip;
        for (int x = 0; may_join && x < MEMO_WAYS; x++) {
            const struct memo *m = &ms->way[x];
            if (!(m->pcs & pc_bit(rip)))
                continue;
            while (mi[x] < mn[x] && memo_rsp(m, mi[x]) < rsp)
                mi[x]++;
            if (mi[x] < mn[x] && memo_rsp(m, mi[x]) == rsp && m->f[mi[x]].pc == rip &&
                m->f[mi[x]].rbp == rbp) {
                uint32_t i = mi[x], steps = mn[x] - 1 - i;
                may_join = false;
                src = &ms->way[x];
                if (m->later)
                    w->later_module = true;
                if (steps > w->max - 1 - o)
                    steps = w->max - 1 - o;
                uint32_t k = memo_check(&m->f[i], steps, &pcs[o], w->lo);
                join_out = o;
                join_mi = i;
                i += k;
                o += k;
                if (o + 1 >= w->max) {
                    tail = TAIL_MAX;
                    join_len = k + 1;
                    goto done;
                }
                const struct memo_frame *last = &m->f[i];
                if (i + 1 >= mn[x] &&
                    (m->tail == TAIL_END ||
                     (m->tail == TAIL_STOP && *(const uintptr_t *)(last->cfa - 8) < 0x4000))) {
                    tail = m->tail;
                    join_len = k + 1;
                    goto done;
                }
                /* Frame i is right; its step was not checked: walk on from it. */
                join_len = k;
                rip = last->pc;
                rsp = memo_rsp(m, i);
                rbp = last->rbp;
            }
        }
        /* Frames past the memo's capacity are not remembered (a memo
         * frame must always be the one at its position). */
        struct memo_frame *f = nfresh < MEMO_FRAMES ? &fresh[nfresh++] : &scratch;
        f->pc = rip;
        f->rbp = rbp;
        f->cfa = 0;
        f->rbp_at = 0;
        if (o + 1 >= w->max) {
            tail = TAIL_MAX;
            break;
        }
        uintptr_t key = rip - 1;
        uint64_t rule = cache_get(key);
        if (HANDLE__UNLIKELY(rule == 0 || !rule_current(w, rule))) {
            if (!compute(key, w->state, &rule))
                return WALK_RETRY;
            w->subs_seen = true;
            if (!(rule & F_BOOT))
                w->later_module = true;
        }
        unsigned kind = rule & K_MASK;
        if (HANDLE__UNLIKELY(kind != K_STD)) {
            if (kind == K_END) {
                tail = TAIL_END;
                break;
            }
            return -1;
        }
        uintptr_t cfa = ((rule & F_CFA_RBP) ? rbp : rsp) + (uintptr_t)rule_cfa_off(rule);
        if (HANDLE__UNLIKELY(cfa <= rsp || cfa > w->hi))
            return -1;
        uintptr_t ra = *(const uintptr_t *)(cfa - 8);
        if (rule & F_RBP_SAVED) {
            uintptr_t at = cfa + (uintptr_t)rule_rbp_off(rule);
            if (HANDLE__UNLIKELY(at < w->lo || at > w->hi - 8))
                return -1;
            rbp = *(const uintptr_t *)at;
            f->rbp_at = at;
        }
        f->cfa = cfa;
        rsp = cfa;
        if (HANDLE__UNLIKELY(ra < 0x4000)) {
            tail = TAIL_STOP;
            break;
        }
        rip = ra;
        o++;
    }
done:;
    uint32_t n = o + 1;
    if (w->later_module && !w->subs_seen) {
        unsigned long long subs = 0;
        handle__dl_iterate_phdr(subs_cb, &subs);
        atomic_fetch_add_explicit(&stats.checked, 1, memory_order_relaxed);
        if ((subs & SUBS_MASK) != (w->state & SUBS_MASK)) {
            observe_subs(subs);
            return WALK_RETRY;
        }
    }
    if (ms == NULL)
        return (int)n;
    ms->clock++;
    if (nfresh == 0 && join_out == 0 && join_mi == 0) {
        src->used = ms->clock; /* this very stack, from its frame 0 */
        return (int)n;
    }
    /* Remember this stack in the least recently used memo. */
    struct memo *dst = ms->way[0].used <= ms->way[1].used ? &ms->way[0] : &ms->way[1];
    uint32_t keep = n < MEMO_FRAMES ? n : MEMO_FRAMES;
    if (join_out >= keep)
        join_len = 0;
    else if (join_len > keep - join_out)
        join_len = keep - join_out;
    if (join_len > 0)
        memmove(&dst->f[join_out], &src->f[join_mi], join_len * sizeof dst->f[0]);
    uint32_t a = join_len > 0 ? join_out : keep;
    memcpy(dst->f, fresh, a * sizeof dst->f[0]);
    if (a + join_len < keep)
        memcpy(&dst->f[a + join_len], &fresh[a], (keep - a - join_len) * sizeof dst->f[0]);
    dst->n = keep;
    dst->tail = keep == n ? tail : (uint32_t)TAIL_MAX;
    dst->rsp0 = rsp0;
    dst->owner = w->hi;
    dst->used = ms->clock;
    dst->epoch = w->epoch;
    dst->later = w->later_module;
    uint64_t bits = 0;
    for (uint32_t i = 0; i < keep; i++)
        bits |= pc_bit(dst->f[i].pc);
    dst->pcs = bits;
    return (int)n;
}

__attribute__((noinline)) int handle__unwind(uintptr_t *pcs, uint32_t max, uintptr_t stack_lo,
                                             uintptr_t stack_hi)
{
    /* Our own frame (the library is built with frame pointers, and
     * __builtin_frame_address forces one): [fp] is the caller's RBP,
     * [fp+8] the return address, fp+16 the caller's RSP. */
    const uintptr_t *fp = __builtin_frame_address(0);
    uintptr_t sp = (uintptr_t)fp;
    if (sp < stack_lo || stack_hi < 16 || sp > stack_hi - 16) {
        atomic_fetch_add_explicit(&stats.unsupported, 1, memory_order_relaxed);
        return -1;
    }
    struct memo_slot *m =
        &memos[(uint32_t)((stack_hi * UINT64_C(0x9e3779b97f4a7c15)) >> 58) % MEMO_SLOTS];
    if (atomic_exchange_explicit(&m->busy, 1, memory_order_acquire) != 0)
        m = NULL;
    int n = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        struct walk w = {pcs, max, sp, stack_hi, 0, 0, false, false};
        w.state = atomic_load_explicit(&dl_state, memory_order_acquire);
        w.epoch = state_epoch(w.state);
        n = walk(&w, m, fp[1], sp + 16, fp[0]);
        if (n != WALK_RETRY)
            break;
        atomic_fetch_add_explicit(&stats.retried, 1, memory_order_relaxed);
        n = -1;
    }
    if (m != NULL)
        atomic_store_explicit(&m->busy, 0, memory_order_release);
    if (n < 0)
        atomic_fetch_add_explicit(&stats.unsupported, 1, memory_order_relaxed);
    return n;
}

uint64_t handle__unwind_subs(void)
{
    return atomic_load_explicit(&dl_state, memory_order_acquire) & SUBS_MASK;
}

void handle__unwind_observe(void)
{
    unsigned long long subs = 0;
    handle__dl_iterate_phdr(subs_cb, &subs);
    observe_subs(subs);
}

void handle__unwind_stats(struct handle__unwind_stats *out)
{
    out->computed = atomic_load_explicit(&stats.computed, memory_order_relaxed);
    out->unsupported = atomic_load_explicit(&stats.unsupported, memory_order_relaxed);
    out->retried = atomic_load_explicit(&stats.retried, memory_order_relaxed);
    out->checked = atomic_load_explicit(&stats.checked, memory_order_relaxed);
}

#else /* not x86-64 Linux: always refuse */

#include <stdatomic.h>

int handle__unwind(uintptr_t *pcs, uint32_t max, uintptr_t stack_lo, uintptr_t stack_hi)
{
    (void)pcs;
    (void)max;
    (void)stack_lo;
    (void)stack_hi;
    return -1;
}

void handle__unwind_init(void)
{
}

void handle__unwind_observe(void)
{
}

uint64_t handle__unwind_subs(void)
{
    /* no walker to watch the unloads: a value that changes on every call
     * makes the depot check its stack's modules each time */
    static _Atomic uint64_t n;
    return atomic_fetch_add_explicit(&n, 1, memory_order_relaxed);
}

void handle__unwind_stats(struct handle__unwind_stats *out)
{
    *out = (struct handle__unwind_stats){0, 0, 0, 0};
}

#endif
