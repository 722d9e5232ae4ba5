/*
 * core.c - slow paths of the handle table: thread caches, the shared stack
 * of free chains, the bump allocator that maps new chunks, the live count
 * and the classification of refused handles.
 *
 * Everything here that touches shared state holds `lock`, a plain mutex
 * taken only when a thread cache runs empty or full (once per
 * HANDLE__BATCH operations), when a thread is born or exits, and by
 * handle__core_live_count(). No function here calls back into the program,
 * allocates under the lock, or prints; pthread_atfork handlers keep the lock
 * consistent across fork. The fast paths are inline in core.h.
 */
#include "core.h"
#include "panic_hook.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

_Atomic(struct handle__slot *) handle__dir[HANDLE__DIR_SIZE];
_Thread_local struct handle__tcache *handle__tc __attribute__((tls_model("initial-exec")));

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t tc_key;
static bool tc_key_ok;
static uint32_t chains;                /* head slot of the first free chain, 0: none; lock */
static uint32_t high_water = 1;        /* next never-issued index; slot 0 is never issued; lock */
static struct handle__tcache *registry; /* caches of live threads; lock */
static struct handle__tcache *spare;    /* caches of exited threads, for reuse; lock */
static _Atomic int64_t retired_live;    /* live count of exited or cacheless threads */

void (*handle__panic_hook)(int kind, handle_t h, const char *text, size_t len);

static const char *const kind_names[] = {
    "ok",
#define HANDLE_ERROR(e, name, summary) name,
#include "errors.inc"
#undef HANDLE_ERROR
};
static const char *const kind_summaries[] = {
    "no error",
#define HANDLE_ERROR(e, name, summary) summary,
#include "errors.inc"
#undef HANDLE_ERROR
};

const char *handle__kind_name(int kind)
{
    return kind >= 0 && kind < HANDLE__KIND_COUNT ? kind_names[kind] : "?";
}

const char *handle__kind_summary(int kind)
{
    return kind >= 0 && kind < HANDLE__KIND_COUNT ? kind_summaries[kind] : "?";
}

static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_parent(void) { pthread_mutex_unlock(&lock); }
static void fork_child(void) { pthread_mutex_unlock(&lock); }

/* The slot of an index known to be issued (a free slot on a chain or in a
 * cache): its chunk exists, so unlike handle__core_slot() there is no NULL
 * case (which gcc -O3 would otherwise follow into -Wstringop-overflow). */
static inline struct handle__slot *issued_slot(uint32_t idx)
{
    struct handle__slot *c =
        atomic_load_explicit(&handle__dir[idx >> HANDLE__CHUNK_BITS], memory_order_acquire);
    return &c[idx & (HANDLE__CHUNK_SLOTS - 1u)];
}

static void push_chain_locked(uint32_t head)
{
    atomic_store_explicit(&issued_slot(head)->tag, (uintptr_t)chains, memory_order_relaxed);
    chains = head;
}

/* Links idx[0..n) into one chain (through the free slots' value field,
 * which nobody else writes while they are free) and pushes it. */
static void spill(const uint32_t *idx, uint32_t n)
{
    if (n == 0)
        return;
    for (uint32_t j = 0; j < n; j++)
        atomic_store_explicit(&issued_slot(idx[j])->value,
                              (uintptr_t)(j + 1 < n ? idx[j + 1] : 0), memory_order_relaxed);
    pthread_mutex_lock(&lock);
    push_chain_locked(idx[0]);
    pthread_mutex_unlock(&lock);
}

/* pthread key destructor: returns an exiting thread's free slots and folds
 * its live count into retired_live. */
static void tcache_exit(void *p)
{
    struct handle__tcache *c = p;
    for (uint32_t off = 0; off < c->n; off += HANDLE__BATCH)
        spill(c->idx + off, c->n - off < HANDLE__BATCH ? c->n - off : HANDLE__BATCH);
    c->n = 0;
    pthread_mutex_lock(&lock);
    atomic_fetch_add_explicit(&retired_live, atomic_load_explicit(&c->live, memory_order_relaxed),
                              memory_order_relaxed);
    atomic_store_explicit(&c->live, 0, memory_order_relaxed);
    if (c->prev)
        c->prev->next = c->next;
    else
        registry = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = spare;
    spare = c;
    pthread_mutex_unlock(&lock);
    if (handle__tc == c)
        handle__tc = NULL;
}

static void init_once(void)
{
    tc_key_ok = pthread_key_create(&tc_key, tcache_exit) == 0;
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* The fork handlers exist from the library's load on: registered at a
 * thread's first call, they could come while another thread's fork() ran
 * its prepare handlers, and that fork's child would inherit `lock` held. */
__attribute__((constructor)) static void at_load(void)
{
    pthread_once(&once, init_once);
}

/* Gives the calling thread a cache; NULL if out of memory. */
static struct handle__tcache *tcache_create(void)
{
    pthread_once(&once, init_once);
    pthread_mutex_lock(&lock);
    struct handle__tcache *c = spare;
    if (c)
        spare = c->next;
    pthread_mutex_unlock(&lock);
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL)
            return NULL;
    }
    memset(c, 0, sizeof *c);
    pthread_mutex_lock(&lock);
    c->next = registry;
    if (registry)
        registry->prev = c;
    registry = c;
    pthread_mutex_unlock(&lock);
    handle__tc = c;
    if (tc_key_ok)
        pthread_setspecific(tc_key, c);
    return c;
}

/* Maps the chunk holding index idx if needed; false when out of memory.
 * Called with the lock held. */
static bool ensure_chunk_locked(uint32_t idx)
{
    _Atomic(struct handle__slot *) *d = &handle__dir[idx >> HANDLE__CHUNK_BITS];
    if (atomic_load_explicit(d, memory_order_relaxed) != NULL)
        return true;
    void *p = mmap(NULL, (size_t)HANDLE__CHUNK_SLOTS * sizeof(struct handle__slot),
                   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    /* Slot 0 is never issued, and handle 0 (like any handle of index 0)
     * selects it: give it a key with a non-zero index, which no handle of
     * index 0 can equal, so that handle__core_get/delete refuse 0 with no
     * extra test on their fast paths (a zeroed key would match handle 0). */
    if (idx >> HANDLE__CHUNK_BITS == 0)
        atomic_store_explicit(&((struct handle__slot *)p)->key, (uint64_t)HANDLE__MAX_INDEX,
                              memory_order_relaxed);
    /* Release: a reader that finds the chunk finds it zeroed (free, gen 0). */
    atomic_store_explicit(d, (struct handle__slot *)p, memory_order_release);
    return true;
}

static struct handle__tcache *refill(void);

/* errno is preserved here, once, for everything the slow paths call. */
struct handle__tcache *handle__core_refill(void)
{
    int saved = errno;
    struct handle__tcache *c = refill();
    errno = saved;
    return c;
}

static struct handle__tcache *refill(void)
{
    struct handle__tcache *c = handle__tc;
    if (c == NULL && (c = tcache_create()) == NULL)
        return NULL;
    if (c->n > 0)
        return c;
    pthread_mutex_lock(&lock);
    uint32_t head = chains;
    if (head != 0) {
        chains = (uint32_t)atomic_load_explicit(&issued_slot(head)->tag, memory_order_relaxed);
        pthread_mutex_unlock(&lock);
        /* The chain is ours alone now. Reverse it onto the stack so the
         * first slot of the chain is issued first. */
        uint32_t tmp[HANDLE__CACHE_MAX], n = 0;
        for (uint32_t i = head; i != 0 && n < HANDLE__CACHE_MAX;
             i = (uint32_t)atomic_load_explicit(&issued_slot(i)->value, memory_order_relaxed))
            tmp[n++] = i;
        for (uint32_t j = 0; j < n; j++)
            c->idx[j] = tmp[n - 1 - j];
        c->n = n;
        return c;
    }
    uint32_t n = 0;
    while (n < HANDLE__BATCH && high_water != 0 && high_water <= HANDLE__MAX_INDEX) {
        if (!ensure_chunk_locked(high_water))
            break;
        c->idx[HANDLE__BATCH - 1 - n] = high_water;
        n++;
        high_water = high_water == HANDLE__MAX_INDEX ? 0 : high_water + 1; /* 0: table full */
    }
    pthread_mutex_unlock(&lock);
    if (n == 0)
        return NULL;
    if (n < HANDLE__BATCH)
        memmove(c->idx, c->idx + (HANDLE__BATCH - n), n * sizeof c->idx[0]);
    c->n = n;
    return c;
}

void handle__core_release_slow(uint32_t idx)
{
    int saved = errno;
    struct handle__tcache *c = handle__tc;
    if (c == NULL && (c = tcache_create()) == NULL) {
        spill(&idx, 1);
        errno = saved;
        return;
    }
    if (c->n == HANDLE__CACHE_MAX) {
        /* Keep the most recently freed half (hot in the CPU cache). */
        spill(c->idx, HANDLE__BATCH);
        memmove(c->idx, c->idx + HANDLE__BATCH, (c->n - HANDLE__BATCH) * sizeof c->idx[0]);
        c->n -= HANDLE__BATCH;
    }
    c->idx[c->n++] = idx;
    errno = saved;
}

void handle__core_live_adjust(int64_t delta)
{
    atomic_fetch_add_explicit(&retired_live, delta, memory_order_relaxed);
}

size_t handle__core_live_count(void)
{
    int saved = errno;
    pthread_once(&once, init_once);
    pthread_mutex_lock(&lock);
    int64_t sum = atomic_load_explicit(&retired_live, memory_order_relaxed);
    for (struct handle__tcache *c = registry; c; c = c->next)
        sum += atomic_load_explicit(&c->live, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return sum < 0 ? 0 : (size_t)sum;
}

uint32_t handle__core_high_water(void)
{
    pthread_mutex_lock(&lock);
    uint32_t hw = high_water == 0 ? HANDLE__MAX_INDEX : high_water - 1;
    pthread_mutex_unlock(&lock);
    return hw;
}

int handle__core_check(handle_t h)
{
    struct handle__slot *s = handle__core_slot((uint32_t)h);
    if (s == NULL)
        return HANDLE__INVALID_HANDLE;
    uint64_t key = atomic_load_explicit(&s->key, memory_order_acquire);
    return key == (uint64_t)h ? HANDLE__OK : handle__core_classify(h, key);
}

int handle__core_classify(handle_t h, uint64_t key)
{
    uint32_t idx = (uint32_t)h;
    uint32_t gen = (uint32_t)((uint64_t)h >> 32);
    uint32_t last = (uint32_t)(key >> 32); /* generation last issued from this slot */
    if (idx == 0 || key == 0)
        return HANDLE__INVALID_HANDLE;
    /* Generations are issued 1, 2, ..., last: anything in that range was
     * issued and is not live now, so it was deleted. */
    if (gen != 0 && gen <= last)
        return HANDLE__USE_AFTER_DELETE;
    return HANDLE__INVALID_HANDLE;
}
