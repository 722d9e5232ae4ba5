/*
 * threads.c - the report's thread numbers and interned tags.
 *
 * Threads: T0 is the main thread (tid == pid); every other thread gets the
 * next number on its first call into the library. The number is cached in
 * the thread's handle__tls; a fork child starts numbering afresh (its
 * forking thread is its T0), detected by the fork epoch.
 *
 * Tags: the library keeps its own copy of every distinct tag text, so a
 * tag string inside an unloaded plugin can still be reported. A small
 * lock-free cache maps the caller's pointer to the id, so the common case
 * (a string literal) costs one hash probe and no strcmp.
 *
 * Both tables are append-only and read without a lock. (The clock is in
 * clock.c.)
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "model.h"
#include "rt.h"

/* ---- threads --------------------------------------------------------- */

#define TPAGE 1024u
#define TPAGES 65536u

static pthread_mutex_t taglock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct handle__thread *) tpages[TPAGES];
static _Atomic uint32_t tcount;   /* entries filled, ids 0..tcount-1 valid */
static uint32_t next_number = 1;  /* lock */
static pthread_mutex_t tlock = PTHREAD_MUTEX_INITIALIZER;

const struct handle__thread *handle__thread_get(uint32_t id)
{
    if (id / TPAGE >= TPAGES)
        return NULL;
    struct handle__thread *p = atomic_load_explicit(&tpages[id / TPAGE], memory_order_acquire);
    if (p == NULL || p[id % TPAGE].first_ns == 0)
        return NULL;
    return &p[id % TPAGE];
}

uint32_t handle__thread_count(void)
{
    return atomic_load_explicit(&tcount, memory_order_acquire);
}

static uint32_t thread_register(void)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
    pthread_mutex_lock(&tlock);
    uint32_t id = tid == getpid() ? 0 : next_number++;
    struct handle__thread *p = NULL;
    if (id / TPAGE < TPAGES) {
        p = atomic_load_explicit(&tpages[id / TPAGE], memory_order_relaxed);
        if (p == NULL) {
            p = calloc(TPAGE, sizeof *p);
            if (p)
                atomic_store_explicit(&tpages[id / TPAGE], p, memory_order_release);
        }
    }
    if (p) {
        struct handle__thread *t = &p[id % TPAGE];
        t->id = id;
        t->tid = tid;
        memset(t->name, 0, sizeof t->name);
        pthread_getname_np(pthread_self(), t->name, sizeof t->name);
        uint64_t now = handle__now_ns();
        t->first_ns = now ? now : 1;
        if (id + 1 > atomic_load_explicit(&tcount, memory_order_relaxed))
            atomic_store_explicit(&tcount, id + 1, memory_order_release);
    }
    pthread_mutex_unlock(&tlock);
    return id;
}

uint32_t handle__thread_self(void)
{
    struct handle__tls *t = handle__tls_get();
    uint32_t epoch = atomic_load_explicit(&handle__fork_epoch, memory_order_relaxed);
    if (t == NULL)
        return thread_register();
    if (HANDLE__UNLIKELY(t->epoch != epoch || t->thread == UINT32_MAX)) {
        t->thread = thread_register();
        t->epoch = epoch;
    }
    return t->thread;
}

void handle__threads_fork(int phase)
{
    if (phase == HANDLE__FORK_PREPARE) {
        pthread_mutex_lock(&taglock);
        pthread_mutex_lock(&tlock);
        return;
    }
    if (phase == HANDLE__FORK_CHILD) {
        /* The child numbers its threads afresh; the old entries are the
         * parent's and are overwritten as the child's threads appear. */
        for (uint32_t p = 0; p < TPAGES; p++) {
            struct handle__thread *pg = atomic_load_explicit(&tpages[p], memory_order_relaxed);
            if (pg == NULL)
                break;
            memset(pg, 0, TPAGE * sizeof *pg);
        }
        atomic_store_explicit(&tcount, 0, memory_order_relaxed);
        next_number = 1;
    }
    pthread_mutex_unlock(&tlock);
    pthread_mutex_unlock(&taglock);
}

/* ---- tags ------------------------------------------------------------ */

#define TAG_MAX 65536u
#define TAG_CACHE 4096u
#define TAG_LEN 256u

struct tag_cache_entry {
    _Atomic uintptr_t ptr;
    _Atomic uint32_t id;
};

static char *_Atomic tag_text[TAG_MAX + 1];
static _Atomic uint32_t tag_n;
static struct tag_cache_entry tag_cache[TAG_CACHE];

const char *handle__tag_get(uint32_t id)
{
    if (id == 0 || id > atomic_load_explicit(&tag_n, memory_order_acquire))
        return NULL;
    return atomic_load_explicit(&tag_text[id], memory_order_acquire);
}

uint32_t handle__tag_count(void)
{
    return atomic_load_explicit(&tag_n, memory_order_acquire);
}

uint32_t handle__tag_intern(const char *tag)
{
    if (tag == NULL)
        return 0;
    size_t slot = ((uintptr_t)tag >> 3) * 0x9e3779b97f4a7c15ull >> 52; /* 12 bits */
    struct tag_cache_entry *c = &tag_cache[slot % TAG_CACHE];
    /* The pointer and the id are published id-first: a matching pointer
     * with a stale id is harmless because the id names the same text only
     * if the text at tag did not change; literals don't. */
    if (atomic_load_explicit(&c->ptr, memory_order_acquire) == (uintptr_t)tag) {
        uint32_t id = atomic_load_explicit(&c->id, memory_order_relaxed);
        const char *t = handle__tag_get(id);
        if (t && strncmp(t, tag, TAG_LEN) == 0)
            return id;
    }
    size_t len = strnlen(tag, TAG_LEN - 1);
    uint32_t id = 0;
    pthread_mutex_lock(&taglock);
    uint32_t n = atomic_load_explicit(&tag_n, memory_order_relaxed);
    for (uint32_t i = 1; i <= n; i++) {
        const char *t = tag_text[i];
        if (strncmp(t, tag, len) == 0 && t[len] == '\0') {
            id = i;
            break;
        }
    }
    if (id == 0 && n < TAG_MAX) {
        char *copy = malloc(len + 1);
        if (copy) {
            memcpy(copy, tag, len);
            copy[len] = '\0';
            id = n + 1;
            atomic_store_explicit(&tag_text[id], copy, memory_order_release);
            atomic_store_explicit(&tag_n, id, memory_order_release);
        }
    }
    if (id != 0) {
        atomic_store_explicit(&c->ptr, 0, memory_order_relaxed);
        atomic_store_explicit(&c->id, id, memory_order_relaxed);
        atomic_store_explicit(&c->ptr, (uintptr_t)tag, memory_order_release);
    }
    pthread_mutex_unlock(&taglock);
    return id;
}
