/*
 * release.c - the entry points of libhandle.so / libhandle.a: the seven
 * public calls over the core table, and the release build's short panic
 * (two lines, no stacks, then abort()). It has no options and records
 * nothing; libhandle-debug.so exports the same symbols with diagnostics.
 *
 * One table per process (SPEC section 1, lib/core/peer.h): at the first
 * call this library decides whether its own table serves the process or
 * it forwards every call to libhandle-debug.so (or to another copy whose
 * table already serves). The decision costs the fast paths nothing: until
 * it is made, and forever when forwarding, this table is empty, so
 * handle_value, handle_value_tagged, handle_lookup and handle_delete fail
 * their core call and learn the decision on their slow path; handle_new
 * finds its thread cache empty and does the same. Only handle_live_count
 * tests the decision first. The forwarding calls are tail calls, and
 * libhandle.so tells the debug library its code range, which the debug
 * library drops from the top of its stacks: frame #0 stays the program's
 * call at any optimisation level (libhandle.a, inside the program, relies
 * on the tail calls alone).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/core.h"
#include "../core/coverage.h"
#include "../core/fmt.h"
#include "../core/panic_hook.h"
#include "../core/peer.h"

/* SPEC section 3: both libraries hold a weak undefined reference to it so
 * that a program linked only against libhandle.so exports its definition
 * to a preloaded libhandle-debug.so. The release build never calls it. */
extern const char *__handle_default_options(void) __attribute__((weak));
__attribute__((used)) static const char *(*const keep_default_options)(void) =
    __handle_default_options;

__attribute__((noinline, cold, noreturn)) static void panic(int kind, handle_t h)
{
    char buf[512];
    struct handle__fmt f = {buf, 0, sizeof buf};
    handle__fmt_error_head(&f, handle__kind_name(kind), h);
    handle__fmt_str(&f, "\n==");
    handle__fmt_dec(&f, (uint64_t)getpid());
    handle__fmt_str(&f, "==HINT: run with LD_PRELOAD=libhandle-debug.so (or handle-run) "
                        "for creation and deletion stacks\n");
    if (handle__panic_hook)
        handle__panic_hook(kind, h, buf, f.len); /* test-only; may longjmp */
    handle__fmt_flush(&f, STDERR_FILENO);
    HANDLE__COVERAGE_DUMP();
    abort();
}

/* ---- one table per process (lib/core/peer.h) ------------------------- */

extern __typeof(handle_new) handle__r_new __attribute__((alias("handle_new"))) HANDLE__HIDDEN;
extern __typeof(handle_new_tagged) handle__r_new_tagged
    __attribute__((alias("handle_new_tagged"))) HANDLE__HIDDEN;
extern __typeof(handle_value) handle__r_value __attribute__((alias("handle_value"))) HANDLE__HIDDEN;
extern __typeof(handle_value_tagged) handle__r_value_tagged
    __attribute__((alias("handle_value_tagged"))) HANDLE__HIDDEN;
extern __typeof(handle_delete) handle__r_delete
    __attribute__((alias("handle_delete"))) HANDLE__HIDDEN;
extern __typeof(handle_lookup) handle__r_lookup
    __attribute__((alias("handle_lookup"))) HANDLE__HIDDEN;
extern __typeof(handle_live_count) handle__r_live_count
    __attribute__((alias("handle_live_count"))) HANDLE__HIDDEN;

/* This library's own calls (hidden aliases: never a symbol that the debug
 * library or the program interposes), for a library that forwards here. */
static const struct handle__fwd own_api = {
    handle__r_new,    handle__r_new_tagged, handle__r_value,      handle__r_value_tagged,
    handle__r_delete, handle__r_lookup,     handle__r_live_count,
};

HANDLE__HIDDEN struct handle__peer handle__peer_release;
struct handle__peer handle__peer_release = {
    .magic = HANDLE__PEER_MAGIC,
    .version = HANDLE__PEER_VERSION,
    .kind = HANDLE__PEER_RELEASE,
    .self = &handle__peer_release,
    .api = &own_api,
#ifdef HANDLE_RELEASE_SHARED /* libhandle.so, not libhandle.a */
    .own_object = 1,
#endif
};
HANDLE__PEER_NOTE(handle__peer_release);

/* The calls to forward to, or NULL while this table serves the process;
 * decides at the first call. */
__attribute__((noinline)) static const struct handle__fwd *target(void)
{
    int st = atomic_load_explicit(&handle__peer_release.state, memory_order_acquire);
    if (HANDLE__UNLIKELY(st == HANDLE__PEER_UNDECIDED)) {
        handle__peer_decide(&handle__peer_release, NULL); /* preserves errno */
        st = atomic_load_explicit(&handle__peer_release.state, memory_order_acquire);
    }
    if (st != HANDLE__PEER_FORWARD)
        return NULL;
    return atomic_load_explicit(&handle__peer_release.to, memory_order_relaxed)->api;
}

/* handle_new with an empty thread cache: the first call of the thread (or
 * of the process), a forwarded call, or a refill. */
__attribute__((noinline)) static handle_t new_slow(void *value, const char *tag,
                                                         bool tagged)
{
    const struct handle__fwd *f = target();
    if (f != NULL)
        return tagged ? f->new_tagged(value, tag) : f->new_(value);
    uint32_t idx = 0;
    handle_t h = handle__core_new(value, tag, &idx);
    if (HANDLE__UNLIKELY(h == 0))
        panic(HANDLE__OUT_OF_HANDLES, 0);
    return h;
}

/* ---- entry points ---------------------------------------------------- */

HANDLE_API handle_t handle_new(void *value)
{
    struct handle__tcache *c = handle__tc;
    if (HANDLE__UNLIKELY(c == NULL || c->n == 0))
        return new_slow(value, NULL, false);
    uint32_t idx = 0;
    handle_t h = handle__core_new(value, NULL, &idx);
    if (HANDLE__UNLIKELY(h == 0))
        panic(HANDLE__OUT_OF_HANDLES, 0);
    return h;
}

HANDLE_API handle_t handle_new_tagged(void *value, const char *tag)
{
    struct handle__tcache *c = handle__tc;
    if (HANDLE__UNLIKELY(c == NULL || c->n == 0))
        return new_slow(value, tag, true);
    uint32_t idx = 0;
    handle_t h = handle__core_new(value, tag, &idx);
    if (HANDLE__UNLIKELY(h == 0))
        panic(HANDLE__OUT_OF_HANDLES, 0);
    return h;
}

/* Why a resolve failed, as a panic; cold and out of line so that the fast
 * paths stay leaf functions without a stack frame. */
__attribute__((noinline, cold, noreturn)) static void refused(handle_t h)
{
    int kind = handle__core_check(h);
    /* Live again is impossible; a racing delete makes it use-after-delete. */
    panic(kind == HANDLE__OK ? HANDLE__USE_AFTER_DELETE : kind, h);
}

/* The slow paths of the resolving calls: forwarded, or refused. Out of
 * line so that the fast paths stay leaf functions; reached by tail calls. */
__attribute__((noinline)) static void *value_slow(handle_t h)
{
    const struct handle__fwd *f = target();
    if (f != NULL)
        return f->value(h);
    refused(h);
}

__attribute__((noinline)) static void *value_tagged_slow(handle_t h, const char *tag)
{
    const struct handle__fwd *f = target();
    if (f != NULL)
        return f->value_tagged(h, tag);
    refused(h);
}

__attribute__((noinline)) static void delete_slow(handle_t h, int kind)
{
    const struct handle__fwd *f = target();
    if (f != NULL) {
        f->del(h);
        return;
    }
    panic(kind, h);
}

__attribute__((noinline)) static bool lookup_slow(handle_t h, void **value)
{
    const struct handle__fwd *f = target();
    if (f != NULL)
        return f->lookup(h, value);
    return false;
}

__attribute__((noinline)) static size_t live_count_slow(void)
{
    const struct handle__fwd *f = target();
    if (f != NULL)
        return f->live_count();
    return handle__core_live_count();
}

HANDLE_API void *handle_value(handle_t h)
{
    void *v;
    if (HANDLE__UNLIKELY(!handle__core_get(h, &v, NULL)))
        return value_slow(h);
    return v;
}

HANDLE_API void *handle_value_tagged(handle_t h, const char *tag)
{
    void *v;
    const char *t;
    if (HANDLE__UNLIKELY(!handle__core_get(h, &v, &t)))
        return value_tagged_slow(h, tag);
    if (HANDLE__UNLIKELY(!handle__tags_equal(t, tag)))
        panic(HANDLE__TAG_MISMATCH, h);
    return v;
}

HANDLE_API void handle_delete(handle_t h)
{
    uint32_t idx = 0;
    int kind = handle__core_delete(h, &idx, NULL);
    if (HANDLE__UNLIKELY(kind != HANDLE__OK)) {
        delete_slow(h, kind);
        return;
    }
    handle__core_release(idx);
}

HANDLE_API bool handle_lookup(handle_t h, void **value)
{
    void *v;
    if (HANDLE__UNLIKELY(!handle__core_get(h, &v, NULL)))
        return lookup_slow(h, value);
    if (value)
        *value = v;
    return true;
}

HANDLE_API size_t handle_live_count(void)
{
    if (HANDLE__UNLIKELY(atomic_load_explicit(&handle__peer_release.state,
                                              memory_order_relaxed) != HANDLE__PEER_OWNER))
        return live_count_slow();
    return handle__core_live_count(); /* preserves errno */
}
