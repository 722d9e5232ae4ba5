/*
 * debug.c - the seven public calls of libhandle-debug.so: the same core
 * table as the release build (lib/core), plus, for every handle, the
 * creation and deletion stack, thread and time in a side table indexed like
 * the core's slots, a quarantine that holds deleted slots back before reuse
 * (so a stale handle gets its full history), the trace events, and the full
 * diagnostics.
 *
 * handle_value/handle_lookup stay lock-free and async-signal-safe: they
 * capture a stack and record only on misuse. handle_new/handle_delete
 * capture the stack first, before any lock. A thread-local guard makes a
 * re-entrant call (from a signal handler interrupting the runtime, or from
 * the runtime's own dependencies) take the plain core path without
 * recording. errno is preserved by every entry point.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "forward.h" /* forward (issue 11 case 12) */
#include "runtime.h"
#include "trace.h"

/* SPEC section 3: a weak undefined reference, as in the release build. */
extern const char *__handle_default_options(void) __attribute__((weak));
__attribute__((used)) static const char *(*const keep_default_options)(void) =
    __handle_default_options;

static _Thread_local struct handle__tls tls_state __attribute__((tls_model("initial-exec")));

struct handle__tls *handle__tls_get(void)
{
    return &tls_state;
}

/* ---- side table ------------------------------------------------------ */

static _Atomic(struct handle__side *) side_dir[HANDLE__DIR_SIZE];
static pthread_mutex_t side_lock = PTHREAD_MUTEX_INITIALIZER;

struct handle__side *handle__side_get(uint32_t idx, bool create)
{
    _Atomic(struct handle__side *) *d = &side_dir[idx >> HANDLE__CHUNK_BITS];
    struct handle__side *c = atomic_load_explicit(d, memory_order_acquire);
    if (HANDLE__UNLIKELY(c == NULL)) {
        if (!create)
            return NULL;
        pthread_mutex_lock(&side_lock);
        c = atomic_load_explicit(d, memory_order_relaxed);
        if (c == NULL) {
            void *p = mmap(NULL, (size_t)HANDLE__CHUNK_SLOTS * sizeof *c, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p != MAP_FAILED) {
                c = p;
                atomic_store_explicit(d, c, memory_order_release);
            }
        }
        pthread_mutex_unlock(&side_lock);
        if (c == NULL)
            return NULL;
    }
    return &c[idx & (HANDLE__CHUNK_SLOTS - 1u)];
}

/* ---- quarantine ------------------------------------------------------ */

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *q_ring;
static uint64_t q_cap, q_head, q_len;

/* Holds the retired slot idx back; releases the oldest one when full. */
static void quarantine_push(uint32_t idx)
{
    uint32_t out = idx;
    if (q_cap != 0) {
        pthread_mutex_lock(&q_lock);
        if (q_ring == NULL) {
            q_ring = mmap(NULL, q_cap * sizeof *q_ring, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (q_ring == MAP_FAILED) {
                q_ring = NULL;
                q_cap = 0;
            }
        }
        if (q_cap == 0) {
            out = idx;
        } else if (q_len < q_cap) {
            q_ring[(q_head + q_len) % q_cap] = idx;
            q_len++;
            out = 0;
        } else {
            out = q_ring[q_head];
            q_ring[q_head] = idx;
            q_head = (q_head + 1) % q_cap;
        }
        pthread_mutex_unlock(&q_lock);
    }
    if (out != 0)
        handle__core_release(out);
}

HANDLE__HIDDEN void handle__quarantine_init(uint64_t cap);
void handle__quarantine_init(uint64_t cap)
{
    q_cap = cap;
}

HANDLE__HIDDEN void handle__debug_fork(int phase);
void handle__debug_fork(int phase)
{
    if (phase == HANDLE__FORK_PREPARE) {
        pthread_mutex_lock(&q_lock);
        pthread_mutex_lock(&side_lock);
    } else {
        pthread_mutex_unlock(&side_lock);
        pthread_mutex_unlock(&q_lock);
    }
}

/* ---- entry points ---------------------------------------------------- */

/* >>> forward (issue 11 case 12): the calls of the library whose table
 * serves the process when it is not this one (started first if need be:
 * the decision is made at start-up); NULL otherwise. Preserves errno. */
static const struct handle__fwd *forwarding(void)
{
    int saved = errno;
    handle__rt_init();
    errno = saved;
    return handle__forward;
}
/* <<< forward */

__attribute__((noinline, cold, noreturn)) static void misuse(int kind, handle_t h,
                                                             const char *tag)
{
    uintptr_t pcs[HANDLE__MAX_FRAMES];
    handle__rt_init();
    uint32_t depth = handle__stack_capture(pcs, (uint32_t)handle__opt.max_frames);
    handle__diag_panic(kind, h, tag, pcs, depth);
}

static handle_t new_handle(void *value, const char *tag)
{
    int saved = errno;
    handle__rt_init();
    /* >>> forward (issue 11 case 12) */
    if (HANDLE__UNLIKELY(handle__forward != NULL)) {
        errno = saved;
        return handle__forward->new_tagged(value, tag);
    }
    /* <<< forward */
    struct handle__tls *t = &tls_state;
    uint32_t idx = 0;
    if (HANDLE__UNLIKELY(t->busy)) {
        /* Re-entered (signal handler, our own dependencies): no recording. */
        handle_t h = handle__core_new(value, tag, &idx);
        if (h == 0)
            misuse(HANDLE__OUT_OF_HANDLES, 0, NULL);
        struct handle__side *s = handle__side_get(idx, true);
        if (s) {
            memset(s, 0, sizeof *s);
            atomic_store_explicit(&s->h, h, memory_order_release);
            s->epoch = atomic_load_explicit(&handle__fork_epoch, memory_order_relaxed);
        }
        errno = saved;
        return h;
    }
    t->busy = 1;
    uintptr_t pcs[HANDLE__MAX_FRAMES];
    uint32_t depth = handle__stack_capture(pcs, (uint32_t)handle__opt.max_frames);
    uint32_t stack = handle__depot_put(pcs, depth);
    uint32_t tagid = handle__tag_intern(tag);
    uint32_t thread = handle__thread_self();
    uint64_t now = handle__now_ns();
    handle__rt_trace_start();
    handle_t h = handle__core_new(value, tag, &idx);
    if (HANDLE__UNLIKELY(h == 0)) {
        t->busy = 0;
        misuse(HANDLE__OUT_OF_HANDLES, 0, NULL);
    }
    struct handle__side *s = handle__side_get(idx, true);
    if (s) {
        s->created_ns = now;
        s->created_stack = stack;
        s->created_thread = thread;
        s->deleted_ns = 0;
        s->deleted_stack = 0;
        s->deleted_thread = 0;
        s->tag = tagid;
        s->epoch = atomic_load_explicit(&handle__fork_epoch, memory_order_relaxed);
        atomic_store_explicit(&s->h, h, memory_order_release);
    }
    handle__trace_new(h, tagid, now, thread, stack);
    t->busy = 0;
    errno = saved;
    return h;
}

HANDLE_API handle_t handle_new(void *value)
{
    return new_handle(value, NULL);
}

HANDLE_API handle_t handle_new_tagged(void *value, const char *tag)
{
    return new_handle(value, tag);
}

__attribute__((noinline, cold, noreturn)) static void refused(handle_t h, bool deleting)
{
    int kind = handle__core_check(h);
    if (kind == HANDLE__OK)
        kind = HANDLE__USE_AFTER_DELETE;
    if (deleting && kind == HANDLE__USE_AFTER_DELETE)
        kind = HANDLE__DOUBLE_DELETE;
    misuse(kind, h, NULL);
}

HANDLE_API void *handle_value(handle_t h)
{
    void *v;
    if (HANDLE__UNLIKELY(!handle__core_get(h, &v, NULL))) {
        /* >>> forward (issue 11 case 12) */
        const struct handle__fwd *f = forwarding();
        if (f != NULL)
            return f->value(h);
        /* <<< forward */
        refused(h, false);
    }
    return v;
}

HANDLE_API void *handle_value_tagged(handle_t h, const char *tag)
{
    void *v;
    const char *t;
    if (HANDLE__UNLIKELY(!handle__core_get(h, &v, &t))) {
        /* >>> forward (issue 11 case 12) */
        const struct handle__fwd *f = forwarding();
        if (f != NULL)
            return f->value_tagged(h, tag);
        /* <<< forward */
        refused(h, false);
    }
    if (HANDLE__UNLIKELY(!handle__tags_equal(t, tag)))
        misuse(HANDLE__TAG_MISMATCH, h, tag);
    return v;
}

HANDLE_API void handle_delete(handle_t h)
{
    int saved = errno;
    handle__rt_init();
    /* >>> forward (issue 11 case 12) */
    if (HANDLE__UNLIKELY(handle__forward != NULL)) {
        errno = saved;
        handle__forward->del(h);
        return;
    }
    /* <<< forward */
    struct handle__tls *t = &tls_state;
    uint32_t idx = 0;
    if (HANDLE__UNLIKELY(t->busy)) {
        if (handle__core_delete(h, &idx, NULL) != HANDLE__OK)
            refused(h, true);
        struct handle__side *s = handle__side_get(idx, false);
        if (s && atomic_load_explicit(&s->h, memory_order_acquire) == h)
            s->deleted_ns = handle__now_ns();
        quarantine_push(idx);
        errno = saved;
        return;
    }
    t->busy = 1;
    uintptr_t pcs[HANDLE__MAX_FRAMES];
    uint32_t depth = handle__stack_capture(pcs, (uint32_t)handle__opt.max_frames);
    int kind = handle__core_delete(h, &idx, NULL);
    if (HANDLE__UNLIKELY(kind != HANDLE__OK)) {
        t->busy = 0;
        if (kind == HANDLE__USE_AFTER_DELETE)
            kind = HANDLE__DOUBLE_DELETE;
        handle__diag_panic(kind, h, NULL, pcs, depth);
    }
    uint32_t stack = handle__depot_put(pcs, depth);
    uint32_t thread = handle__thread_self();
    uint64_t now = handle__now_ns();
    struct handle__side *s = handle__side_get(idx, false);
    if (s && atomic_load_explicit(&s->h, memory_order_acquire) == h) {
        if (HANDLE__UNLIKELY(now < s->created_ns))
            now = s->created_ns; /* TSC reads of two CPUs a few ns apart (clock.c) */
        s->deleted_ns = now ? now : 1;
        s->deleted_stack = stack;
        s->deleted_thread = thread;
        /* Handles inherited from a fork parent are the parent's to report;
         * the child's trace records their deletion all the same. */
        handle__trace_delete(h, s->tag, s->created_ns, s->created_thread, s->created_stack, now,
                             thread, stack);
    }
    quarantine_push(idx);
    t->busy = 0;
    errno = saved;
}

HANDLE_API bool handle_lookup(handle_t h, void **value)
{
    /* >>> forward (issue 11 case 12) */
    if (HANDLE__UNLIKELY(!handle__core_lookup(h, value))) {
        const struct handle__fwd *f = forwarding();
        return f != NULL ? f->lookup(h, value) : false;
    }
    return true;
    /* <<< forward */
}

HANDLE_API size_t handle_live_count(void)
{
    /* >>> forward (issue 11 case 12) */
    const struct handle__fwd *f = forwarding();
    if (f != NULL)
        return f->live_count();
    /* <<< forward */
    return handle__core_live_count(); /* preserves errno */
}
