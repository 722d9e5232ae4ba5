/*
 * debug.c - the seven public calls of libhandle-debug.so: the same core
 * table as the release build (lib/core), plus, for every handle, the
 * creation and deletion stack, thread and time in the side table (side.c),
 * the quarantine, the trace events, and the full diagnostics.
 *
 * handle_value/handle_lookup stay lock-free and async-signal-safe: they
 * capture a stack and record only on misuse. handle_new/handle_delete
 * capture the stack first, before any lock. A thread-local guard makes a
 * re-entrant call (from a signal handler interrupting the runtime, or from
 * the runtime's own dependencies) take the plain core path without
 * recording. errno is preserved by every entry point.
 */
#include <errno.h>
#include <string.h>

#include "forward.h"
#include "lifecycle.h"
#include "model.h"
#include "rt.h"
#include "runtime.h"
#include "side.h"
#include "stack.h"
#include "trace.h"

/* SPEC section 3: a weak undefined reference, as in the release build. */
extern const char *__handle_default_options(void) __attribute__((weak));
__attribute__((used)) static const char *(*const keep_default_options)(void) =
    __handle_default_options;

/* ---- misuse ---------------------------------------------------------- */

/* Every panic goes through here: the runtime and the trace are started
 * (the first error creates the trace), then the report. */
__attribute__((noinline, cold, noreturn)) static void panic(int kind, handle_t h, const char *tag,
                                                            const uintptr_t *pcs, uint32_t depth)
{
    struct handle__tls *t = handle__tls_get();
    int busy = t->busy;
    t->busy = 1; /* the trace's opening may reach the program's malloc */
    handle__life_init();
    handle__life_trace_start();
    handle__life_poll();
    t->busy = busy; /* the panic sets it itself */
    handle__diag_panic(kind, h, tag, pcs, depth);
}

__attribute__((noinline, cold, noreturn)) static void misuse(int kind, handle_t h,
                                                             const char *tag)
{
    uintptr_t pcs[HANDLE__MAX_FRAMES];
    handle__life_init();
    uint32_t depth = handle__stack_capture(pcs, (uint32_t)handle__opt.max_frames);
    panic(kind, h, tag, pcs, depth);
}

/* The side entry of a new handle; out of memory for it is an
 * out-of-handles panic (SPEC section 4), the handle given back first. */
static struct handle__side *side_of_new(handle_t h, uint32_t idx)
{
    struct handle__side *s = handle__side_get(idx, true);
    if (HANDLE__UNLIKELY(s == NULL)) {
        uint32_t i2 = 0;
        if (handle__core_delete(h, &i2, NULL) == HANDLE__OK)
            handle__core_release(i2);
        handle__tls_get()->busy = 0;
        misuse(HANDLE__OUT_OF_HANDLES, 0, NULL);
    }
    return s;
}

/* ---- forwarding ------------------------------------------------------ */

/* The calls of the library whose table serves the process when it is not
 * this one (SPEC section 1: a release table that issued handles before this
 * library arrived), or NULL; decided at start-up. Only for the slow paths:
 * new and delete check handle__forward directly after starting. */
static const struct handle__fwd *forwarding(void)
{
    int saved = errno;
    handle__life_init();
    errno = saved;
    return handle__forward;
}

/* Out of line, so that the entry points keep their frame layout. */
__attribute__((noinline, cold)) static handle_t forward_new(void *value, const char *tag,
                                                            int saved)
{
    errno = saved;
    return handle__forward->new_tagged(value, tag);
}

__attribute__((noinline, cold)) static void forward_delete(handle_t h, int saved)
{
    errno = saved;
    handle__forward->del(h);
}

/* ---- entry points ---------------------------------------------------- */

static handle_t new_handle(void *value, const char *tag)
{
    int saved = errno;
    handle__life_init();
    if (HANDLE__UNLIKELY(handle__forward != NULL))
        return forward_new(value, tag, saved);
    struct handle__tls *t = handle__tls_get();
    uint32_t idx = 0;
    if (HANDLE__UNLIKELY(t->busy)) {
        /* Re-entered (signal handler, our own dependencies): no recording. */
        handle_t h = handle__core_new(value, tag, &idx);
        if (h == 0)
            misuse(HANDLE__OUT_OF_HANDLES, 0, NULL);
        struct handle__side *s = side_of_new(h, idx);
        memset(s, 0, sizeof *s);
        atomic_store_explicit(&s->h, h, memory_order_release);
        s->epoch = atomic_load_explicit(&handle__fork_epoch, memory_order_relaxed);
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
    handle__life_trace_start();
    handle_t h = handle__core_new(value, tag, &idx);
    if (HANDLE__UNLIKELY(h == 0)) {
        t->busy = 0;
        misuse(HANDLE__OUT_OF_HANDLES, 0, NULL);
    }
    struct handle__side *s = side_of_new(h, idx);
    s->created_ns = now;
    s->created_stack = stack;
    s->created_thread = thread;
    s->deleted_ns = 0;
    s->deleted_stack = 0;
    s->deleted_thread = 0;
    s->tag = tagid;
    s->epoch = atomic_load_explicit(&handle__fork_epoch, memory_order_relaxed);
    atomic_store_explicit(&s->h, h, memory_order_release);
    handle__trace_new(h, tagid, now, thread, stack);
    handle__life_poll();
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
        const struct handle__fwd *f = forwarding();
        if (f != NULL)
            return f->value(h);
        refused(h, false);
    }
    return v;
}

HANDLE_API void *handle_value_tagged(handle_t h, const char *tag)
{
    void *v;
    const char *t;
    if (HANDLE__UNLIKELY(!handle__core_get(h, &v, &t))) {
        const struct handle__fwd *f = forwarding();
        if (f != NULL)
            return f->value_tagged(h, tag);
        refused(h, false);
    }
    if (HANDLE__UNLIKELY(!handle__tags_equal(t, tag)))
        misuse(HANDLE__TAG_MISMATCH, h, tag);
    return v;
}

HANDLE_API void handle_delete(handle_t h)
{
    int saved = errno;
    handle__life_init();
    if (HANDLE__UNLIKELY(handle__forward != NULL)) {
        forward_delete(h, saved);
        return;
    }
    struct handle__tls *t = handle__tls_get();
    uint32_t idx = 0;
    if (HANDLE__UNLIKELY(t->busy)) {
        if (handle__core_delete(h, &idx, NULL) != HANDLE__OK)
            refused(h, true);
        struct handle__side *s = handle__side_get(idx, false);
        if (s && atomic_load_explicit(&s->h, memory_order_acquire) == h)
            s->deleted_ns = handle__now_ns();
        handle__quarantine_push(idx);
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
        panic(kind, h, NULL, pcs, depth);
    }
    uint32_t stack = handle__depot_put(pcs, depth);
    uint32_t thread = handle__thread_self();
    uint64_t now = handle__now_ns();
    struct handle__side *s = handle__side_get(idx, false);
    if (s && atomic_load_explicit(&s->h, memory_order_acquire) == h) {
        /* A handle inherited from a fork parent was created on the
         * parent's clock, before this process's start (clock.c rebases a
         * child's clock): at 0 on this one. */
        uint64_t created = s->epoch == atomic_load_explicit(&handle__fork_epoch,
                                                            memory_order_relaxed)
                               ? s->created_ns
                               : 0;
        if (HANDLE__UNLIKELY(now < created))
            now = created; /* TSC reads of two CPUs a few ns apart (clock.c) */
        s->deleted_ns = now ? now : 1;
        s->deleted_stack = stack;
        s->deleted_thread = thread;
        /* Handles inherited from a fork parent are the parent's to report;
         * the child's trace records their deletion all the same. */
        handle__trace_delete(h, s->tag, created, s->created_thread, s->created_stack, now,
                             thread, stack);
    }
    handle__quarantine_push(idx);
    t->busy = 0;
    errno = saved;
}

HANDLE_API bool handle_lookup(handle_t h, void **value)
{
    if (HANDLE__UNLIKELY(!handle__core_lookup(h, value))) {
        const struct handle__fwd *f = forwarding();
        return f != NULL ? f->lookup(h, value) : false;
    }
    return true;
}

HANDLE_API size_t handle_live_count(void)
{
    const struct handle__fwd *f = forwarding();
    if (f != NULL)
        return f->live_count();
    return handle__core_live_count(); /* preserves errno */
}
