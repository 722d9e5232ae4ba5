/*
 * model_fuzz.c - a model-based libFuzzer target: each input is a sequence
 * of the seven public calls (bad handles mixed in), run against the library
 * and against a plain reference model; the target traps as soon as the two
 * disagree. Built twice (tests/fuzz/CMakeLists.txt): against lib/release +
 * lib/core (model_release_fuzz) and against the whole debug runtime
 * (model_debug_fuzz, -DMODEL_DEBUG).
 *
 * What is checked, call by call:
 *  - a call panics exactly when the model says, with the kind the model
 *    says (invalid-handle for a number never issued, 0 included;
 *    use-after-delete / double-delete for an issued and deleted one;
 *    tag-mismatch when the tags differ by content, NULL only equal to NULL)
 *    and on the handle that was passed; the release panic's text is
 *    checked too;
 *  - handle_new never returns 0, a live handle or any handle issued
 *    before (a deleted handle stays invalid);
 *  - every value, lookup result and live count is the model's; lookup
 *    leaves *value alone for a handle that is not live;
 *  - errno is preserved by every call that returns;
 *  - debug build: a stale handle whose slot is still in quarantine (fewer
 *    than `quarantine` deletions since) still has its history in the side
 *    table (the precise diagnostics the quarantine exists for).
 * Runs of calls go to the fuzzer's thread or to one of two helper threads
 * (one thread at a time, so the model stays sequential), and a helper may
 * be restarted, which exercises the per-thread caches, their spill on
 * thread exit and cross-thread deletes.
 *
 * Panics are observed without losing the process: the release build calls
 * handle__panic_hook (lib/core/panic_hook.h) before abort(), and the hook
 * longjmps back to the call site. The debug build's entry points call
 * handle__diag_panic, which has no hook; the link redirects those calls to
 * __wrap_handle__diag_panic below (-Wl,--wrap), which does the same.
 *
 * The model. The library's table is process-wide and cannot be reset, so
 * the model persists across inputs: every input deletes the handles it
 * left live (through the library, checked). "Every handle ever issued"
 * would grow without bound, so it is kept as, per slot index, the highest
 * generation issued: the table issues a slot's generations in order
 * (core.h), so the issued handles of a slot are exactly generations
 * 1..max, and a new handle must have a generation above max.
 *
 * Input format: a sequence of operations, each one opcode byte followed by
 * its arguments (missing bytes read as 0):
 *   op % 10: 0 new, 1 new_tagged, 2 value, 3 value_tagged, 4 delete,
 *            5 lookup, 6 live_count, 7 go on on another thread, 8 restart
 *            a helper (from the fuzzer's thread only), 9 delete live handles
 *   handle selector (1 byte + sometimes 1-8 more): see pick_handle().
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handle/handle.h"
#include "core/core.h"
#include "core/panic_hook.h"
#ifdef MODEL_DEBUG
#include "debug/lifecycle.h"
#include "debug/runtime.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FAIL(...)                                                                              \
    do {                                                                                       \
        fprintf(stderr, "model_fuzz: " __VA_ARGS__);                                           \
        fputc('\n', stderr);                                                                   \
        __builtin_trap();                                                                      \
    } while (0)

/* ---- tags: equal contents at different addresses -------------------- */

static char tag_conn2[] = "struct conn"; /* same text as tags[1], another address */
static char tag_empty[] = "";
static const char *const tags[] = {
    NULL, "struct conn", tag_conn2, "session", tag_empty, "a tag that is somewhat longer than most",
    "struct con", "struct conn ",
};
#define NTAGS (sizeof tags / sizeof tags[0])

static bool tags_equal(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* ---- the reference model -------------------------------------------- */

struct mslot {
    uint32_t maxgen;    /* highest generation ever issued from this index */
    bool live;          /* the handle (idx, maxgen) is live */
    void *value;
    const char *tag;
    uint64_t deleted_at; /* model deletion counter when it was deleted */
};

static struct mslot *mslots;
static size_t nmslots;
static size_t model_live;
static uint64_t deletions; /* successful deletes, ever (quarantine check) */

static struct mslot *mslot(uint32_t idx)
{
    return idx < nmslots ? &mslots[idx] : NULL;
}

static struct mslot *mslot_grow(uint32_t idx)
{
    if (idx >= nmslots) {
        size_t n = nmslots ? nmslots : 1024;
        while (n <= idx)
            n *= 2;
        struct mslot *p = realloc(mslots, n * sizeof *p);
        if (!p)
            FAIL("out of memory");
        memset(p + nmslots, 0, (n - nmslots) * sizeof *p);
        mslots = p;
        nmslots = n;
    }
    return &mslots[idx];
}

static uint32_t idx_of(handle_t h) { return (uint32_t)h; }
static uint32_t gen_of(handle_t h) { return (uint32_t)((uint64_t)h >> 32); }

static bool model_is_live(handle_t h)
{
    struct mslot *s = mslot(idx_of(h));
    return s && s->live && s->maxgen == gen_of(h) && idx_of(h) != 0;
}

static bool model_issued(handle_t h)
{
    struct mslot *s = mslot(idx_of(h));
    return idx_of(h) != 0 && s && gen_of(h) >= 1 && gen_of(h) <= s->maxgen;
}

/* ---- calls, possibly on a helper thread ----------------------------- */

enum { C_NEW, C_NEW_TAGGED, C_VALUE, C_VALUE_TAGGED, C_DELETE, C_LOOKUP, C_COUNT };

struct call {
    int op;
    handle_t h;
    void *value;
    const char *tag;
    bool lookup_null;  /* lookup with a NULL value pointer */
    int errno_in;
    /* results */
    handle_t ret_h;
    void *ret_v;
    bool ret_b;
    size_t ret_n;
    int errno_out;
    bool panicked;
    int kind;
    handle_t panic_h;
    char text[512];
    size_t text_len;
};

static _Thread_local jmp_buf *call_jmp;
static _Thread_local struct call *call_cur;

static void observe_panic(int kind, handle_t h, const char *text, size_t len)
{
    struct call *c = call_cur;
    if (c == NULL || call_jmp == NULL)
        FAIL("panic outside a checked call: kind %d handle 0x%lx", kind, (unsigned long)h);
    c->panicked = true;
    c->kind = kind;
    c->panic_h = h;
    c->text_len = len < sizeof c->text ? len : sizeof c->text - 1;
    if (text)
        memcpy(c->text, text, c->text_len);
    c->text[c->text_len] = '\0';
    jmp_buf *j = call_jmp;
    call_jmp = NULL;
    longjmp(*j, 1);
}

static void panic_hook(int kind, handle_t h, const char *text, size_t len)
{
    observe_panic(kind, h, text, len);
}

#ifdef MODEL_DEBUG
/* The debug entry points' calls to handle__diag_panic land here. */
void __wrap_handle__diag_panic(int kind, handle_t h, const char *tag, const uintptr_t *pcs,
                               uint32_t depth);
static void check_debug_history(int kind, handle_t h, const char *tag);
void __wrap_handle__diag_panic(int kind, handle_t h, const char *tag, const uintptr_t *pcs,
                               uint32_t depth)
{
    (void)pcs;
    if (depth > HANDLE__MAX_FRAMES)
        FAIL("diag_panic with depth %u", depth);
    if (handle__tls_get()->busy)
        FAIL("diag_panic entered with the re-entry guard set");
    check_debug_history(kind, h, tag);
    observe_panic(kind, h, NULL, 0);
}
#endif

static void run_call(struct call *c)
{
    jmp_buf jb;
    c->panicked = false;
    call_cur = c;
    call_jmp = &jb;
    if (setjmp(jb) != 0) {
        call_cur = NULL;
        return;
    }
    errno = c->errno_in;
    switch (c->op) {
    case C_NEW:
        c->ret_h = handle_new(c->value);
        break;
    case C_NEW_TAGGED:
        c->ret_h = handle_new_tagged(c->value, c->tag);
        break;
    case C_VALUE:
        c->ret_v = handle_value(c->h);
        break;
    case C_VALUE_TAGGED:
        c->ret_v = handle_value_tagged(c->h, c->tag);
        break;
    case C_DELETE:
        handle_delete(c->h);
        break;
    case C_LOOKUP:
        c->ret_v = (void *)(uintptr_t)0x5e57;
        c->ret_b = handle_lookup(c->h, c->lookup_null ? NULL : &c->ret_v);
        break;
    case C_COUNT:
        c->ret_n = handle_live_count();
        break;
    }
    c->errno_out = errno;
    call_jmp = NULL;
    call_cur = NULL;
}

struct helper {
    pthread_t thread;
    sem_t go, done;
    void (*fn)(void *);
    void *arg;
    bool running, stop;
};
static struct helper helpers[2];

static void *helper_main(void *arg)
{
    struct helper *hp = arg;
    for (;;) {
        while (sem_wait(&hp->go) != 0)
            ;
        if (hp->stop)
            break;
        hp->fn(hp->arg);
        sem_post(&hp->done);
    }
    return NULL;
}

static void helper_start(struct helper *hp)
{
    hp->stop = false;
    if (pthread_create(&hp->thread, NULL, helper_main, hp) != 0)
        FAIL("pthread_create");
    hp->running = true;
}

static void helper_stop(struct helper *hp)
{
    if (!hp->running)
        return;
    hp->stop = true;
    sem_post(&hp->go);
    pthread_join(hp->thread, NULL);
    hp->running = false;
}

/* Runs fn(arg) on helper `where` (1 or 2) and waits for it. */
static void on_helper(int where, void (*fn)(void *), void *arg)
{
    struct helper *hp = &helpers[where - 1];
    if (!hp->running)
        helper_start(hp);
    hp->fn = fn;
    hp->arg = arg;
    sem_post(&hp->go);
    while (sem_wait(&hp->done) != 0)
        ;
}

static void run_call_v(void *c)
{
    run_call(c);
}

/* Runs c on executor `where`: 0 the calling thread, 1-2 a helper. */
static void exec_call(struct call *c, int where)
{
    if (where == 0)
        run_call(c);
    else
        on_helper(where, run_call_v, c);
}

/* ---- checking one call against the model ---------------------------- */

static const char *kind_name(int k)
{
    return handle__kind_name(k);
}

static void expect_panic(const struct call *c, int kind)
{
    if (!c->panicked)
        FAIL("op %d on 0x%lx: no panic, model says %s", c->op, (unsigned long)c->h,
             kind_name(kind));
    if (c->kind != kind)
        FAIL("op %d on 0x%lx: panic %s, model says %s", c->op, (unsigned long)c->h,
             kind_name(c->kind), kind_name(kind));
    if (c->panic_h != c->h)
        FAIL("op %d on 0x%lx: panic names handle 0x%lx", c->op, (unsigned long)c->h,
             (unsigned long)c->panic_h);
#ifndef MODEL_DEBUG
    /* Release: "==PID==ERROR: HandleSanitizer: KIND on handle 0xH\n==PID==HINT: ..." */
    char want[256];
    int n = snprintf(want, sizeof want, "==%ld==ERROR: HandleSanitizer: %s on handle 0x%lx\n==%ld==HINT: ",
                     (long)getpid(), kind_name(kind), (unsigned long)c->h, (long)getpid());
    if (c->text_len < (size_t)n || memcmp(c->text, want, (size_t)n) != 0 ||
        c->text[c->text_len - 1] != '\n' || memchr(c->text + n, '\n', c->text_len - (size_t)n - 1))
        FAIL("panic text:\n%s\nwanted it to start with:\n%s", c->text, want);
#endif
}

static void expect_return(const struct call *c)
{
    if (c->panicked)
        FAIL("op %d on 0x%lx: panic %s, model says none", c->op, (unsigned long)c->h,
             kind_name(c->kind));
    if (c->errno_out != c->errno_in)
        FAIL("op %d: errno %d became %d", c->op, c->errno_in, c->errno_out);
}

/* The kind the model expects when h is not live. */
static int stale_kind(handle_t h, bool deleting)
{
    if (!model_issued(h))
        return HANDLE__INVALID_HANDLE;
    return deleting ? HANDLE__DOUBLE_DELETE : HANDLE__USE_AFTER_DELETE;
}

#ifdef MODEL_DEBUG
static uint64_t quarantine_cap;

/* A stale handle deleted fewer than `quarantine` deletions ago still has
 * its slot in quarantine: its side entry must still describe it. */
static void check_debug_history(int kind, handle_t h, const char *tag)
{
    (void)tag;
    if (kind != HANDLE__USE_AFTER_DELETE && kind != HANDLE__DOUBLE_DELETE)
        return;
    struct mslot *m = mslot(idx_of(h));
    if (!m || m->live || m->maxgen != gen_of(h) || deletions - m->deleted_at >= quarantine_cap)
        return;
    struct handle__side *s = handle__side_get(idx_of(h), false);
    if (!s || atomic_load(&s->h) != h || s->deleted_ns == 0)
        FAIL("0x%lx deleted %llu deletions ago (quarantine %llu) lost its history",
             (unsigned long)h, (unsigned long long)(deletions - m->deleted_at),
             (unsigned long long)quarantine_cap);
    if (!tags_equal(handle__tag_get(s->tag), m->tag))
        FAIL("0x%lx: side table tag '%s', model '%s'", (unsigned long)h,
             handle__tag_get(s->tag) ? handle__tag_get(s->tag) : "(null)",
             m->tag ? m->tag : "(null)");
}
#endif

/* ---- the input ------------------------------------------------------ */

struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t u8(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static uint64_t u64n(struct input *in, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)u8(in) << (8 * i);
    return v;
}

/* Handles this input has seen (live or not), for the selectors. */
#define POOL_MAX 1024
static handle_t pool[POOL_MAX];
static size_t npool;
static handle_t live_list[POOL_MAX * 4];
static size_t nlive_list;

static void pool_add(handle_t h)
{
    if (npool < POOL_MAX)
        pool[npool++] = h;
    else
        pool[h % POOL_MAX] = h;
}

static handle_t any_pool(uint8_t k)
{
    return npool ? pool[k % npool] : 0;
}

/* A live handle of this input (0 if none), compacting the list. */
static handle_t any_live(uint8_t k)
{
    while (nlive_list) {
        size_t i = k % nlive_list;
        if (model_is_live(live_list[i]))
            return live_list[i];
        live_list[i] = live_list[--nlive_list];
    }
    return 0;
}

static handle_t pick_handle(struct input *in)
{
    uint8_t sel = u8(in), k = u8(in);
    handle_t base = any_pool(k);
    switch (sel % 12) {
    case 0:
    case 1:
        return any_live(k);
    case 2:
        return base;
    case 3:
        return 0;
    case 4:
        return (handle_t)u64n(in, 8);
    case 5: /* the next generation of a known slot: not issued yet */
        return base + ((handle_t)1 << 32);
    case 6: /* the previous generation: issued (if > 0), now dead */
        return base - ((handle_t)1 << 32);
    case 7: /* a neighbouring slot, same generation */
        return (k & 1) ? base + 1 : base - 1;
    case 8: /* generation 0 of a known slot: never issued */
        return base & 0xffffffffu;
    case 9: /* index 0 with a generation */
        return base & ~(handle_t)0xffffffffu;
    case 10: /* small index, generation from the input */
        return (handle_t)(u8(in) % 200) | (handle_t)(u8(in) % 4) << 32;
    default: /* a flipped bit */
        return base ^ ((handle_t)1 << (u8(in) % 64));
    }
}

static void *pick_value(struct input *in)
{
    uint8_t s = u8(in);
    switch (s % 4) {
    case 0:
        return NULL;
    case 1:
        return (void *)(uintptr_t)u64n(in, 8);
    default:
        return (void *)(uintptr_t)(0x1000 + s);
    }
}

static const char *pick_tag(struct input *in)
{
    return tags[u8(in) % NTAGS];
}

/* ---- one operation --------------------------------------------------- */

static void do_new(struct call *c, int where)
{
    exec_call(c, where);
    expect_return(c);
    handle_t h = c->ret_h;
    if (h == 0 || idx_of(h) == 0)
        FAIL("handle_new returned 0x%lx", (unsigned long)h);
    struct mslot *m = mslot_grow(idx_of(h));
    if (m->live)
        FAIL("handle_new returned 0x%lx while slot %u holds live gen %u", (unsigned long)h,
             idx_of(h), m->maxgen);
    if (gen_of(h) <= m->maxgen)
        FAIL("handle_new returned 0x%lx, which was issued before (max gen %u)",
             (unsigned long)h, m->maxgen);
    m->maxgen = gen_of(h);
    m->live = true;
    m->value = c->value;
    m->tag = c->op == C_NEW_TAGGED ? c->tag : NULL;
    model_live++;
    pool_add(h);
    if (nlive_list < sizeof live_list / sizeof live_list[0])
        live_list[nlive_list++] = h;
}

static void do_delete(struct call *c, int where)
{
    bool live = model_is_live(c->h);
    int want = live ? 0 : stale_kind(c->h, true);
    exec_call(c, where);
    if (!live) {
        expect_panic(c, want);
        return;
    }
    expect_return(c);
    struct mslot *m = mslot(idx_of(c->h));
    m->live = false;
    m->deleted_at = deletions++;
    model_live--;
}

static void do_value(struct call *c, int where)
{
    bool live = model_is_live(c->h);
    exec_call(c, where);
    if (!live) {
        expect_panic(c, stale_kind(c->h, false));
        return;
    }
    struct mslot *m = mslot(idx_of(c->h));
    if (c->op == C_VALUE_TAGGED && !tags_equal(m->tag, c->tag)) {
        expect_panic(c, HANDLE__TAG_MISMATCH);
        return;
    }
    expect_return(c);
    if (c->ret_v != m->value)
        FAIL("value of 0x%lx: %p, model %p", (unsigned long)c->h, c->ret_v, m->value);
}

static void do_lookup(struct call *c, int where)
{
    bool live = model_is_live(c->h);
    exec_call(c, where);
    expect_return(c);
    if (c->ret_b != live)
        FAIL("lookup of 0x%lx: %d, model %d", (unsigned long)c->h, c->ret_b, live);
    void *want = live && !c->lookup_null ? mslot(idx_of(c->h))->value : (void *)(uintptr_t)0x5e57;
    if (c->ret_v != want)
        FAIL("lookup of 0x%lx stored %p, model %p", (unsigned long)c->h, c->ret_v, want);
}

static void do_count(struct call *c, int where)
{
    exec_call(c, where);
    expect_return(c);
    if (c->ret_n != model_live)
        FAIL("live count %zu, model %zu", c->ret_n, model_live);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    handle__panic_hook = panic_hook;
#ifdef MODEL_DEBUG
    handle__life_init();
    quarantine_cap = handle__opt.quarantine;
    if (handle__opt.detect_leaks)
        FAIL("the debug model target wants detect_leaks=0 (its defaults say so)");
#endif
    return 0;
}

#ifdef MODEL_DEBUG
/* The debug runtime's options for this process: no trace file unless
 * MODEL_TRACE names one (then with bounded history), no exit leak report
 * (the model deletes what it makes, but a finding mid-input would leave
 * handles), frame-pointer stacks (fast), and a small quarantine so that
 * slots are reused within one input. HANDLE_OPTIONS still overrides. */
const char *__handle_default_options(void);
const char *__handle_default_options(void)
{
    static char opts[1024];
    const char *trace = getenv("MODEL_TRACE");
    snprintf(opts, sizeof opts,
             "detect_leaks=0:fast_unwind=1:max_frames=8:quarantine=64:trace='%s':max_history=4096",
             trace ? trace : "");
    return opts;
}
#endif

/* The operations of one input, run on one thread (the fuzzer's or a
 * helper) until an operation switches threads (then `where` says to which)
 * or the input ends. Helpers get whole runs of operations, not single calls:
 * one handoff per switch keeps the target on the CPU. */
struct opctx {
    struct input *in;
    int where;        /* the thread running now: 0 the fuzzer's, 1-2 a helper */
    unsigned restarts;
};

static void run_ops(struct opctx *x)
{
    static int errno_seed;
    struct input *in = x->in;
    while (in->n > 0) {
        uint8_t op = u8(in);
        struct call c;
        memset(&c, 0, sizeof c);
        c.errno_in = ++errno_seed % 200;
        if (op % 10 <= 1 && nlive_list == sizeof live_list / sizeof live_list[0])
            op = 6; /* the list of this input's handles is full: no more */
        switch (op % 10) {
        case 0:
            c.op = C_NEW;
            c.value = pick_value(in);
            do_new(&c, 0);
            break;
        case 1:
            c.op = C_NEW_TAGGED;
            c.value = pick_value(in);
            c.tag = pick_tag(in);
            do_new(&c, 0);
            break;
        case 2:
            c.op = C_VALUE;
            c.h = pick_handle(in);
            do_value(&c, 0);
            break;
        case 3:
            c.op = C_VALUE_TAGGED;
            c.h = pick_handle(in);
            c.tag = pick_tag(in);
            do_value(&c, 0);
            break;
        case 4:
            c.op = C_DELETE;
            c.h = pick_handle(in);
            do_delete(&c, 0);
            break;
        case 5:
            c.op = C_LOOKUP;
            c.h = pick_handle(in);
            c.lookup_null = u8(in) & 1;
            do_lookup(&c, 0);
            break;
        case 6:
            c.op = C_COUNT;
            do_count(&c, 0);
            break;
        case 7: {
            int to = u8(in) % 3;
            if (to != x->where) {
                x->where = to;
                return;
            }
            break;
        }
        case 8: /* a helper thread exits (its cache is spilled) and comes back */
        {
            uint8_t which = u8(in) & 1;
            if (x->where == 0 && x->restarts++ < 2)
                helper_stop(&helpers[which]);
            break;
        }
        case 9: /* bulk: delete the oldest live handles, to keep the count bounded */
            for (unsigned n = u8(in) % 16 + 1; n > 0; n--) {
                handle_t h = any_live(0);
                if (h == 0)
                    break;
                c.op = C_DELETE;
                c.h = h;
                do_delete(&c, 0);
            }
            break;
        }
    }
}

static void run_ops_v(void *x)
{
    run_ops(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct opctx x = {&in, 0, 0};
    npool = 0;
    nlive_list = 0;
    while (in.n > 0) {
        if (x.where == 0)
            run_ops(&x);
        else
            on_helper(x.where, run_ops_v, &x);
    }
    /* Leave nothing live for the next input, and check the count. */
    for (size_t i = 0; i < nlive_list; i++) {
        if (!model_is_live(live_list[i]))
            continue;
        struct call c;
        memset(&c, 0, sizeof c);
        c.op = C_DELETE;
        c.h = live_list[i];
        do_delete(&c, 0);
    }
    struct call c;
    memset(&c, 0, sizeof c);
    c.op = C_COUNT;
    do_count(&c, 0);
    if (model_live != 0)
        FAIL("model still holds %zu live handles", model_live);
    return 0;
}
