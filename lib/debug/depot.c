/*
 * depot.c - the stack depot: every distinct stack stored once and known by
 * a 32-bit id, as in LLVM's sanitizer_common.
 *
 * Lookups are lock-free (chained hash buckets published with release
 * stores); inserting a stack never seen before takes `lock`, which is held
 * only for the copy into the arena: the modules of the frames are found
 * before the lock is taken (that may call dl_iterate_phdr). Entries are
 * never freed or moved, so readers (the trace writer, reports) need no
 * lock. The bucket array does not grow: with many more stacks than buckets
 * chains get longer, a slowdown and not an error. Memory comes from mmap,
 * never malloc, so the depot works from any context malloc does.
 */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "model.h"
#include "unwind.h"

#define BUCKETS (1u << 18)
#define ARENA_CHUNK (4u << 20)
#define DIR_CHUNK 65536u /* ids per directory page */
#define DIR_PAGES 4096u

struct entry {
    _Atomic uint32_t next; /* next id in the bucket chain */
    uint32_t hash;
    uint32_t depth;
    /* dl_iterate_phdr's unload counter (handle__unwind_subs, truncated)
     * when its modules were last known to be loaded */
    _Atomic uint32_t subs;
    /* uintptr_t pcs[depth]; uint32_t modules[depth]; */
};

static _Atomic(_Atomic uint32_t *) buckets;       /* BUCKETS ids, mmap'ed once */
static _Atomic(struct entry **) dir[DIR_PAGES];    /* id -> entry */
static _Atomic uint32_t count;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *arena;
static size_t arena_left;

/* Four independent lanes, so the multiplies of neighbouring frames
 * overlap instead of forming one long dependency chain (this hash is on
 * the path of every handle_new and handle_delete). */
static uint32_t hash_pcs(const uintptr_t *pcs, uint32_t depth)
{
    const uint64_t m = 0xff51afd7ed558ccdull;
    uint64_t a = 0x9e3779b97f4a7c15ull ^ depth, b = 0xc2b2ae3d27d4eb4full,
             c = 0x165667b19e3779f9ull, d = 0x27d4eb2f165667c5ull;
    uint32_t i = 0;
    for (; i + 4 <= depth; i += 4) {
        a = (a ^ (uint64_t)pcs[i]) * m;
        b = (b ^ (uint64_t)pcs[i + 1]) * m;
        c = (c ^ (uint64_t)pcs[i + 2]) * m;
        d = (d ^ (uint64_t)pcs[i + 3]) * m;
    }
    for (; i < depth; i++)
        a = (a ^ (uint64_t)pcs[i]) * 0xc4ceb9fe1a85ec53ull;
    uint64_t x = a ^ (b >> 17) ^ (c << 13) ^ (d >> 29) ^ d;
    x ^= x >> 33;
    x *= m;
    x ^= x >> 33;
    return (uint32_t)x;
}

static struct entry *entry_of(uint32_t id)
{
    if (id == 0 || id > atomic_load_explicit(&count, memory_order_acquire))
        return NULL;
    struct entry **page = atomic_load_explicit(&dir[(id - 1) / DIR_CHUNK], memory_order_acquire);
    return page ? page[(id - 1) % DIR_CHUNK] : NULL;
}

static const uintptr_t *pcs_of(const struct entry *e)
{
    return (const uintptr_t *)(const void *)(e + 1);
}

static uint32_t find(uint32_t hash, const uintptr_t *pcs, uint32_t depth)
{
    _Atomic uint32_t *b = atomic_load_explicit(&buckets, memory_order_acquire);
    if (b == NULL)
        return 0;
    for (uint32_t id = atomic_load_explicit(&b[hash % BUCKETS], memory_order_acquire); id != 0;) {
        struct entry *e = entry_of(id);
        if (e == NULL)
            return 0;
        if (e->hash == hash && e->depth == depth &&
            memcmp(pcs_of(e), pcs, depth * sizeof *pcs) == 0)
            return id;
        id = atomic_load_explicit(&e->next, memory_order_acquire);
    }
    return 0;
}

static void *map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static const uint32_t *mods_of(const struct entry *e)
{
    return (const uint32_t *)(const void *)((const char *)(e + 1) + e->depth * sizeof(uintptr_t));
}

/* Whether every module of e's frames is still loaded (after a module was
 * unloaded; modules synced by the caller). Then e is current for subs. */
static bool still_loaded(struct entry *e, uint32_t subs)
{
    const uint32_t *m = mods_of(e);
    for (uint32_t i = 0; i < e->depth; i++) {
        const struct handle__module *md = handle__module_get(m[i]);
        if (md && atomic_load_explicit(&((struct handle__module *)md)->unloaded_ns,
                                       memory_order_acquire) != 0)
            return false;
    }
    atomic_store_explicit(&e->subs, subs, memory_order_relaxed);
    return true;
}

uint32_t handle__depot_put(const uintptr_t *pcs, uint32_t depth)
{
    uint32_t hash = hash_pcs(pcs, depth);
    uint32_t subs = (uint32_t)handle__unwind_subs();
    uint32_t id = find(hash, pcs, depth);
    if (id != 0) {
        struct entry *e = entry_of(id);
        if (HANDLE__LIKELY(atomic_load_explicit(&e->subs, memory_order_relaxed) == subs))
            return id;
        /* A module was unloaded since this stack was stored: the same
         * addresses may be another module's now (issue 12 item 10). */
        handle__modules_sync();
        if (still_loaded(e, subs))
            return id;
    } else {
        /* A module unloaded and another loaded since the last scan is
         * seen before the frames are placed in modules. */
        handle__modules_sync();
    }

    /* New stack: find each frame's module before taking the lock. */
    uint32_t mods[depth ? depth : 1];
    for (uint32_t i = 0; i < depth; i++)
        mods[i] = handle__module_of(pcs[i]);

    size_t size = sizeof(struct entry) + depth * (sizeof(uintptr_t) + sizeof(uint32_t));
    size = (size + 15u) & ~(size_t)15u;
    pthread_mutex_lock(&lock);
    id = find(hash, pcs, depth); /* the newest entry of these addresses */
    if (id != 0 && still_loaded(entry_of(id), subs))
        goto out;
    id = 0;
    _Atomic uint32_t *bk = atomic_load_explicit(&buckets, memory_order_relaxed);
    if (bk == NULL) {
        /* published with release: lock-free readers (find) see it zeroed */
        if ((bk = map(BUCKETS * sizeof(uint32_t))) == NULL)
            goto out;
        atomic_store_explicit(&buckets, bk, memory_order_release);
    }
    if (arena_left < size) {
        size_t chunk = size > ARENA_CHUNK ? size : ARENA_CHUNK;
        char *a = map(chunk);
        if (a == NULL)
            goto out;
        arena = a;
        arena_left = chunk;
    }
    uint32_t n = atomic_load_explicit(&count, memory_order_relaxed) + 1;
    if ((n - 1) / DIR_CHUNK >= DIR_PAGES)
        goto out;
    struct entry **page = atomic_load_explicit(&dir[(n - 1) / DIR_CHUNK], memory_order_relaxed);
    if (page == NULL) {
        if ((page = map(DIR_CHUNK * sizeof *page)) == NULL)
            goto out;
        atomic_store_explicit(&dir[(n - 1) / DIR_CHUNK], page, memory_order_release);
    }
    struct entry *e = (struct entry *)(void *)arena;
    arena += size;
    arena_left -= size;
    e->hash = hash;
    e->depth = depth;
    atomic_store_explicit(&e->subs, subs, memory_order_relaxed);
    memcpy(e + 1, pcs, depth * sizeof *pcs);
    memcpy((char *)(e + 1) + depth * sizeof *pcs, mods, depth * sizeof *mods);
    page[(n - 1) % DIR_CHUNK] = e;
    _Atomic uint32_t *b = &bk[hash % BUCKETS];
    atomic_store_explicit(&e->next, atomic_load_explicit(b, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&count, n, memory_order_release);
    atomic_store_explicit(b, n, memory_order_release);
    id = n;
out:
    pthread_mutex_unlock(&lock);
    return id;
}

bool handle__depot_get(uint32_t id, struct handle__stack *out)
{
    struct entry *e = entry_of(id);
    if (e == NULL)
        return false;
    out->depth = e->depth;
    out->pcs = pcs_of(e);
    out->modules = mods_of(e);
    return true;
}

uint32_t handle__depot_count(void)
{
    return atomic_load_explicit(&count, memory_order_acquire);
}

void handle__depot_fork(int phase)
{
    if (phase == HANDLE__FORK_PREPARE)
        pthread_mutex_lock(&lock);
    else
        pthread_mutex_unlock(&lock);
}
