/*
 * core.h - the slot+generation handle table shared by both builds.
 *
 * A handle packs a slot index (low 32 bits, never 0) and the slot's
 * generation (high 32 bits): the generation is incremented every time the
 * slot is issued, so a deleted handle stays detectably invalid until its
 * slot has been issued 2^32 more times. Slots live in fixed-size chunks
 * found through a directory, so the table grows without moving a live slot:
 * handle__core_get() is two dependent loads and a compare, takes no lock,
 * and is safe against a concurrent grow (and async-signal-safe).
 *
 * handle__core_new()/handle__core_release() take free slots from and give
 * them back to a per-thread cache (one initial-exec TLS pointer) that is
 * refilled from and spilled to a shared stack of chains of free slots in
 * batches, under the only lock, which the fast paths never take.
 *
 * Deleting is two steps so that the debug build can hold slots in
 * quarantine: handle__core_delete() retires the handle (one CAS, which also
 * makes concurrent double deletes race-free), handle__core_release() makes
 * the slot reusable. This file does not print, panic or record anything:
 * every function returns a kind from errors.inc and the callers (lib/release,
 * lib/debug) decide what to do with it.
 */
#ifndef HANDLE_CORE_H
#define HANDLE_CORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "handle/handle.h"

#if UINTPTR_MAX < UINT64_MAX
#error "libhandle needs 64-bit handles (uintptr_t of 64 bits)"
#endif

#define HANDLE__HIDDEN __attribute__((visibility("hidden")))
#define HANDLE__LIKELY(x) __builtin_expect(!!(x), 1)
#define HANDLE__UNLIKELY(x) __builtin_expect(!!(x), 0)

enum handle__kind {
    HANDLE__OK = 0,
#define HANDLE_ERROR(e, name, summary) HANDLE__##e,
#include "errors.inc"
#undef HANDLE_ERROR
    HANDLE__KIND_COUNT
};

/* The kind's name as printed ("double-delete"); "?" for an unknown kind. */
HANDLE__HIDDEN const char *handle__kind_name(int kind);
/* The kind's one-line explanation. */
HANDLE__HIDDEN const char *handle__kind_summary(int kind);

#define HANDLE__CHUNK_BITS 16u
#define HANDLE__CHUNK_SLOTS (1u << HANDLE__CHUNK_BITS)
#define HANDLE__DIR_SIZE (1u << (32u - HANDLE__CHUNK_BITS))
#define HANDLE__MAX_INDEX 0xffffffffu

/*
 * One slot, 24 bytes. key is the live handle's number while the slot is
 * live, and (last generation << 32) with a zero index while it is free or
 * retired, so no handle ever compares equal to a free slot's key (slot 0,
 * never issued, holds a key with a non-zero index, so that handle 0, whose
 * index selects it, never matches either). value and
 * tag are atomics only so that lock-free readers racing with a writer are
 * well-defined (they validate with a second read of key, as a seqlock
 * does); all accesses to them are relaxed. While the slot is free, value
 * links the slots of one chain and tag links chain heads.
 */
struct handle__slot {
    _Atomic uint64_t key;
    _Atomic uintptr_t value;
    _Atomic uintptr_t tag;
};

HANDLE__HIDDEN extern _Atomic(struct handle__slot *) handle__dir[HANDLE__DIR_SIZE];

/*
 * Thread cache: a small stack of free slot indexes owned by one thread,
 * plus that thread's contribution to the live count (written only by the
 * owner, read by handle__core_live_count under the lock).
 */
#define HANDLE__BATCH 32u
#define HANDLE__CACHE_MAX (2u * HANDLE__BATCH)
struct handle__tcache {
    uint32_t n;
    _Atomic int64_t live;
    struct handle__tcache *next, *prev; /* registry, under the lock */
    uint32_t idx[HANDLE__CACHE_MAX];
};

HANDLE__HIDDEN extern _Thread_local struct handle__tcache *handle__tc
    __attribute__((tls_model("initial-exec")));

/* Slow paths (core.c). */
HANDLE__HIDDEN struct handle__tcache *handle__core_refill(void);
HANDLE__HIDDEN void handle__core_release_slow(uint32_t idx);
HANDLE__HIDDEN void handle__core_live_adjust(int64_t delta);
HANDLE__HIDDEN int handle__core_classify(handle_t h, uint64_t key);
HANDLE__HIDDEN size_t handle__core_live_count(void);
/* Number of slots ever handed out by the bump allocator (tests, reports). */
HANDLE__HIDDEN uint32_t handle__core_high_water(void);

static inline struct handle__slot *handle__core_slot(uint32_t idx)
{
    struct handle__slot *c =
        atomic_load_explicit(&handle__dir[idx >> HANDLE__CHUNK_BITS], memory_order_acquire);
    if (HANDLE__UNLIKELY(c == NULL))
        return NULL;
    return &c[idx & (HANDLE__CHUNK_SLOTS - 1u)];
}

/*
 * Issues a new handle for value and tag. Returns 0 when out of slots or
 * memory (the caller panics with out-of-handles); *idx receives the slot.
 * Lock-free unless the thread cache is empty.
 */
static inline handle_t handle__core_new(void *value, const char *tag, uint32_t *idx_out)
{
    struct handle__tcache *c = handle__tc;
    if (HANDLE__UNLIKELY(c == NULL || c->n == 0)) {
        c = handle__core_refill();
        if (c == NULL)
            return 0;
    }
    uint32_t idx = c->idx[--c->n];
    struct handle__slot *s = handle__core_slot(idx);
    uint64_t old = atomic_load_explicit(&s->key, memory_order_relaxed);
    uint64_t gen = ((old >> 32) + 1u) & 0xffffffffu;
    handle_t h = (handle_t)((gen << 32) | idx);
    /* Seqlock writer side: the retiring of the slot's previous handle (the
     * CAS in handle__core_delete, ordered before this point by program
     * order or by the lock the slot came through) must be visible to a
     * reader that sees the new value or tag, so that handle__core_get's
     * second key read refuses the stale handle. The CAS is a release, but
     * only of what precedes it; this fence orders the relaxed stores that
     * follow (free on x86, a barrier on weakly ordered CPUs). */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->value, (uintptr_t)value, memory_order_relaxed);
    atomic_store_explicit(&s->tag, (uintptr_t)tag, memory_order_relaxed);
    atomic_store_explicit(&s->key, (uint64_t)h, memory_order_release);
    atomic_store_explicit(&c->live, atomic_load_explicit(&c->live, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    *idx_out = idx;
    return h;
}

/*
 * Resolves h: true, with *value and *tag filled (tag may be NULL), when h is
 * live; false otherwise, and the caller asks handle__core_check() why.
 * Lock-free, async-signal-safe; never reads freed memory and never returns
 * a value that belonged to another handle, even when h is deleted and its
 * slot reused concurrently (key is read again after the value, seqlock
 * style, and generations never repeat within 2^32 reuses).
 */
static inline bool handle__core_get(handle_t h, void **value, const char **tag)
{
    struct handle__slot *s = handle__core_slot((uint32_t)h);
    if (HANDLE__UNLIKELY(s == NULL))
        return false;
    if (HANDLE__UNLIKELY(atomic_load_explicit(&s->key, memory_order_acquire) != (uint64_t)h))
        return false;
    uintptr_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    uintptr_t t = tag ? atomic_load_explicit(&s->tag, memory_order_relaxed) : 0;
    atomic_thread_fence(memory_order_acquire);
    if (HANDLE__UNLIKELY(atomic_load_explicit(&s->key, memory_order_relaxed) != (uint64_t)h))
        return false;
    *value = (void *)v;
    if (tag)
        *tag = (const char *)t;
    return true;
}

/* Why h is not live now: INVALID_HANDLE or USE_AFTER_DELETE (HANDLE__OK if
 * it is live after all). A handle that stopped being live never becomes
 * live again, so a caller may ask after handle__core_get() failed. */
HANDLE__HIDDEN int handle__core_check(handle_t h);

/*
 * Retires live handle h: from now on h is refused, but the slot is not
 * reused until handle__core_release(). Returns HANDLE__OK (with *idx_out,
 * *tag_out filled) or INVALID_HANDLE / DOUBLE_DELETE. Of two threads
 * deleting the same handle at once exactly one succeeds.
 */
static inline int handle__core_delete(handle_t h, uint32_t *idx_out, const char **tag_out)
{
    struct handle__slot *s = handle__core_slot((uint32_t)h);
    if (HANDLE__UNLIKELY(s == NULL))
        return HANDLE__INVALID_HANDLE;
    uint64_t expect = (uint64_t)h;
    if (HANDLE__UNLIKELY(!atomic_compare_exchange_strong_explicit(
            &s->key, &expect, (uint64_t)h & ~(uint64_t)0xffffffffu, memory_order_acq_rel,
            memory_order_acquire))) {
        int kind = handle__core_classify(h, expect);
        return kind == HANDLE__USE_AFTER_DELETE ? HANDLE__DOUBLE_DELETE : kind;
    }
    /* The slot is ours now: nobody can reissue it before we release it. */
    if (tag_out)
        *tag_out = (const char *)atomic_load_explicit(&s->tag, memory_order_relaxed);
    if (idx_out)
        *idx_out = (uint32_t)h;
    struct handle__tcache *c = handle__tc;
    if (HANDLE__LIKELY(c != NULL))
        atomic_store_explicit(&c->live, atomic_load_explicit(&c->live, memory_order_relaxed) - 1,
                              memory_order_relaxed);
    else
        handle__core_live_adjust(-1);
    return HANDLE__OK;
}

/*
 * Makes the slot of a handle retired by handle__core_delete reusable, by
 * pushing it on this thread's cache (spilling a batch to the shared stack
 * when the cache is full). Never fails.
 */
static inline void handle__core_release(uint32_t idx)
{
    struct handle__tcache *c = handle__tc;
    if (HANDLE__UNLIKELY(c == NULL || c->n == HANDLE__CACHE_MAX)) {
        handle__core_release_slow(idx);
        return;
    }
    c->idx[c->n++] = idx;
}

/* The body of handle_lookup in both builds: never panics. */
static inline bool handle__core_lookup(handle_t h, void **value)
{
    void *v;
    if (!handle__core_get(h, &v, NULL))
        return false;
    if (value)
        *value = v;
    return true;
}

/* Tags are compared by content, with a pointer-equality fast path; two
 * NULL tags are equal. */
static inline bool handle__tags_equal(const char *a, const char *b)
{
    if (a == b)
        return true;
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

#endif /* HANDLE_CORE_H */
