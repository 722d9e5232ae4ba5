/*
 * side.c - the per-slot side table and the quarantine (side.h).
 *
 * The side table is a directory of lazily mmap'd chunks, laid out like the
 * core table's, read without a lock (a mutex only while a chunk is mapped).
 * The quarantine is a lock-free ring of slot indices, mapped at its first
 * use.
 */
#include "side.h"

#include <pthread.h>
#include <sys/mman.h>

#include "model.h"

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

/* The quarantine: a ring of cap slot indices, without a lock. A push takes
 * the next position with one fetch-add and exchanges its index into that
 * cell; what comes out (pushed about cap pushes earlier) goes back to the
 * core. Every index pushed comes out exactly once. */
static _Atomic(_Atomic uint32_t *) q_ring;
static uint64_t q_cap;
static _Atomic uint64_t q_pos;

void handle__quarantine_init(uint64_t cap)
{
    q_cap = cap;
}

/* The ring, mapped at the first push (NULL: no memory, no quarantine). */
static _Atomic uint32_t *ring(void)
{
    _Atomic uint32_t *r = atomic_load_explicit(&q_ring, memory_order_acquire);
    if (HANDLE__LIKELY(r != NULL))
        return r;
    void *p = mmap(NULL, q_cap * sizeof *r, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL; /* slots go back at once: less precise diagnostics, nothing lost */
    _Atomic uint32_t *expect = NULL;
    if (atomic_compare_exchange_strong(&q_ring, &expect, p))
        return p;
    munmap(p, q_cap * sizeof *r); /* another thread's came first */
    return expect;
}

void handle__quarantine_push(uint32_t idx)
{
    uint32_t out = idx;
    _Atomic uint32_t *r;
    if (q_cap != 0 && (r = ring()) != NULL) {
        uint64_t pos = atomic_fetch_add_explicit(&q_pos, 1, memory_order_relaxed);
        out = atomic_exchange_explicit(&r[pos % q_cap], idx, memory_order_acq_rel);
    }
    if (out != 0)
        handle__core_release(out);
}

void handle__side_fork(int phase)
{
    if (phase == HANDLE__FORK_PREPARE)
        pthread_mutex_lock(&side_lock);
    else
        pthread_mutex_unlock(&side_lock);
}
