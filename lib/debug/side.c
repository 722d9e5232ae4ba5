/*
 * side.c - the per-slot side table and the quarantine (side.h).
 *
 * The side table is a directory of lazily mmap'd chunks, laid out like the
 * core table's, read without a lock. The quarantine is a ring of slot
 * indices under a mutex, mapped at its first use.
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

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *q_ring;
static uint64_t q_cap, q_head, q_len;

void handle__quarantine_init(uint64_t cap)
{
    q_cap = cap;
}

void handle__quarantine_push(uint32_t idx)
{
    uint32_t out = idx;
    if (q_cap != 0) {
        pthread_mutex_lock(&q_lock);
        if (q_ring == NULL) {
            q_ring = mmap(NULL, q_cap * sizeof *q_ring, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (q_ring == MAP_FAILED) {
                /* No memory for it: slots go back at once (diagnostics of
                 * stale handles get less precise; nothing is lost). */
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

void handle__side_fork(int phase)
{
    if (phase == HANDLE__FORK_PREPARE) {
        pthread_mutex_lock(&q_lock);
        pthread_mutex_lock(&side_lock);
    } else {
        pthread_mutex_unlock(&side_lock);
        pthread_mutex_unlock(&q_lock);
    }
}
